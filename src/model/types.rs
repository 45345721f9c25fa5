//! Validated domain types. They are only built by the loader after every field
//! check passed, so code downstream (plan, apply, controller) can trust them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Upstream API family of a provider (the Barndoor `model_provider` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelProvider {
    #[default]
    Openai,
    Anthropic,
    AzureOpenai,
    GoogleAi,
    Bedrock,
    Vertex,
    Groq,
    Together,
    Mistral,
    Cohere,
    Xai,
    Fireworks,
    Perplexity,
    Openrouter,
    Deepseek,
    Custom,
    AzureFoundry,
}

impl ModelProvider {
    /// Every value, in the reference's order.
    pub const ALL: [ModelProvider; 17] = [
        Self::Openai,
        Self::Anthropic,
        Self::AzureOpenai,
        Self::GoogleAi,
        Self::Bedrock,
        Self::Vertex,
        Self::Groq,
        Self::Together,
        Self::Mistral,
        Self::Cohere,
        Self::Xai,
        Self::Fireworks,
        Self::Perplexity,
        Self::Openrouter,
        Self::Deepseek,
        Self::Custom,
        Self::AzureFoundry,
    ];

    /// The wire spelling (`azure_openai`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::AzureOpenai => "azure_openai",
            Self::GoogleAi => "google_ai",
            Self::Bedrock => "bedrock",
            Self::Vertex => "vertex",
            Self::Groq => "groq",
            Self::Together => "together",
            Self::Mistral => "mistral",
            Self::Cohere => "cohere",
            Self::Xai => "xai",
            Self::Fireworks => "fireworks",
            Self::Perplexity => "perplexity",
            Self::Openrouter => "openrouter",
            Self::Deepseek => "deepseek",
            Self::Custom => "custom",
            Self::AzureFoundry => "azure_foundry",
        }
    }

    /// Parses the wire spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for ModelProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a provider's API key comes from. The value itself never lives in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// An environment variable of the process running the reconciler.
    FromEnv(String),
    /// A key of a Kubernetes Secret in the resource's namespace.
    SecretKeyRef {
        /// Secret name.
        name: String,
        /// Key inside the Secret's data.
        key: String,
    },
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FromEnv(v) => write!(f, "env:{v}"),
            Self::SecretKeyRef { name, key } => write!(f, "secret:{name}/{key}"),
        }
    }
}

/// Where an object was declared: an opaque document id the loader maps back to a
/// file and line, plus the field that carries the object's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// Index of the document in the loaded set.
    pub doc: usize,
    /// Dotted path of the identity field (`metadata.name`, `spec.alias`, ...).
    pub identity_field: &'static str,
}

/// Per-route options shared by 1:1 enablements and custom-alias targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteOptions {
    /// Retries of the same route after a 429 (0..=10, default 0).
    pub retry_on_429_count: u32,
    /// Cap on the wait between 429 retries (0..=180, 0 = built-in wait).
    pub retry_on_429_max_wait_secs: u32,
    /// Total timeout for a non-streaming call (1..=3600); `None` inherits.
    pub request_timeout_secs: Option<u32>,
    /// Longest gap between streamed chunks (1..=1800); `None` inherits.
    pub stream_idle_timeout_secs: Option<u32>,
    /// Per-pod in-flight cap (1..=10000); `None` = no cap.
    pub max_in_flight: Option<u32>,
    /// Whether the row takes traffic (default true).
    pub enabled: bool,
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self {
            retry_on_429_count: 0,
            retry_on_429_max_wait_secs: 0,
            request_timeout_secs: None,
            stream_idle_timeout_secs: None,
            max_in_flight: None,
            enabled: true,
        }
    }
}

/// A 1:1 enablement: the provider serves `model` under its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Enablement {
    /// Upstream model name (also the alias).
    pub model: String,
    /// Whether the bare model name resolves to this row (default false).
    pub bare_alias: bool,
    /// Route options of the row.
    pub options: RouteOptions,
    /// Path of this entry inside its document (`spec.models[2]`).
    pub path_index: usize,
}

/// A provider and its 1:1 enablements.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Provider name on the gateway (identity).
    pub name: String,
    /// API family.
    pub model_provider: ModelProvider,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Auth type override (free string, see the reference §1.6).
    pub auth_type: Option<String>,
    /// Where the API key comes from.
    pub api_key: Option<SecretRef>,
    /// Non-secret provider settings.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Provider-level request timeout (1..=3600).
    pub request_timeout_secs: Option<u32>,
    /// Provider-level stream idle timeout (1..=1800).
    pub stream_idle_timeout_secs: Option<u32>,
    /// Whether the provider takes traffic (default true).
    pub enabled: bool,
    /// 1:1 enablements.
    pub models: Vec<Enablement>,
    /// `switchyard.dev/protected: "true"`: never pruned.
    pub protected: bool,
    /// Where it was declared.
    pub origin: Origin,
}

/// One step of a failover chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Provider name.
    pub provider: String,
    /// Upstream model on that provider (must be enabled there).
    pub model: String,
    /// Route options of this row.
    pub options: RouteOptions,
}

/// A custom alias and its ordered failover chain (priority = position).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRoute {
    /// Client-facing alias (identity).
    pub alias: String,
    /// Whether the alias resolves without a `<provider>/` prefix (default true).
    pub bare_alias: bool,
    /// Ordered targets, at least one.
    pub targets: Vec<Target>,
    /// Never pruned.
    pub protected: bool,
    /// Where it was declared.
    pub origin: Origin,
}

/// One choice of a smart model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Alias the slot dispatches to.
    pub alias: String,
    /// Label shown to the determiner.
    pub label: String,
}

/// An alias that picks one of several aliases per request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmartModel {
    /// Client-facing alias (identity).
    pub alias: String,
    /// Alias used to classify each request.
    pub determiner: String,
    /// Choices, at least one.
    pub slots: Vec<Slot>,
    /// Strictly ascending positive token counts, at most `slots.len() - 1`.
    pub context_breakpoints: Vec<u64>,
    /// How much of the request the determiner sees.
    pub determiner_input_max_chars: Option<u32>,
    /// Slot used when the determiner fails.
    pub default_slot_on_failure: u32,
    /// Whether the alias takes traffic (default true).
    pub enabled: bool,
    /// Free text.
    pub description: Option<String>,
    /// Never pruned.
    pub protected: bool,
    /// Where it was declared.
    pub origin: Origin,
}

/// The whole desired state, as declared by a set of manifests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    /// Providers with their enablements.
    pub providers: Vec<Provider>,
    /// Custom aliases.
    pub routes: Vec<ModelRoute>,
    /// Smart models.
    pub smart_models: Vec<SmartModel>,
}
