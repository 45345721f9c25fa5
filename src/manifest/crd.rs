//! The custom resources `Provider`, `ModelRoute` and `SmartModel`.
//!
//! These spec structs are the single definition of the file format: the loader
//! deserializes YAML into them, kube-derive turns them into CRDs (with CEL rules for
//! what the API server can check), and the editor JSON Schemas are derived from the
//! same generated schema. Defaults are applied when converting to `model` types.

// kube-derive's `printcolumn(name = .., type_ = ..)` repeats keys across columns, which
// clippy mistakes for duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::ModelProvider;
use crate::model::limits::*;

/// API group of every switchyard kind.
pub const GROUP: &str = "switchyard.dev";
/// The one served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every switchyard document.
pub const API_VERSION: &str = "switchyard.dev/v1alpha1";
/// Annotation that protects an object from `--prune`.
pub const PROTECTED_ANNOTATION: &str = "switchyard.dev/protected";

fn preserve_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Non-secret provider settings passed to the gateway as they are.",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// A provider: one upstream API with its credentials reference and its 1:1 enablements.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchyard.dev",
    version = "v1alpha1",
    kind = "Provider",
    namespaced,
    status = "ResourceStatus",
    shortname = "syprovider",
    category = "switchyard",
    doc = "An LLM provider on the gateway, with the models it serves 1:1.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.modelProvider"),
    printcolumn(name = "Base URL", type_ = "string", json_path = ".spec.baseUrl"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSpec {
    /// Provider name on the gateway; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// Upstream API family.
    pub model_provider: ModelProvider,
    /// Base URL of the upstream API (defaults to the vendor's public URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Authentication type (free string; the gateway picks a default per family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// Reference to the API key. Inline values are not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeyRef>,
    /// Non-secret settings (region, API version, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub settings: Option<BTreeMap<String, serde_json::Value>>,
    /// Default total timeout for non-streaming calls, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<i64>,
    /// Default longest gap between streamed chunks, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<i64>,
    /// Whether the provider takes traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Models served 1:1 (alias = upstream name): a name, or an object with options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
}

/// Where an API key comes from: exactly one of `fromEnv` or `secretKeyRef`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("has(self.fromEnv) != has(self.secretKeyRef)").message("set exactly one of fromEnv or secretKeyRef"))]
pub struct ApiKeyRef {
    /// Environment variable read by the CLI (`switchyard plan/apply/watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// Key of a Secret in the resource's namespace (used by the controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// A key inside a Secret.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeySelector {
    /// Secret name.
    pub name: String,
    /// Key in the Secret's data.
    pub key: String,
}

/// One `models` entry: a bare model name or an object with options.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum ModelEntry {
    /// `- gpt-4o-mini`
    Name(String),
    /// `- name: gpt-4o` with options.
    Options(ModelOptions),
}

impl ModelEntry {
    /// The upstream model name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Name(n) => n,
            Self::Options(o) => &o.name,
        }
    }
}

impl<'de> Deserialize<'de> for ModelEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ModelEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a model name or a mapping with `name` and options")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ModelEntry, E> {
                Ok(ModelEntry::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ModelEntry, A::Error> {
                ModelOptions::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ModelEntry::Options)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ModelEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ModelEntry".into()
    }

    // Kubernetes structural schemas cannot say "string or object", so the CRD keeps
    // the entry open and the loader validates it (see `editor_schema` for the precise form).
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A model name (string), or an object with `name` and route options.",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// Options of a 1:1 enablement.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelOptions {
    /// Upstream model name (also its alias).
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Whether the bare model name resolves to this row (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_alias: Option<bool>,
    /// 429 handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_429: Option<RetryOn429>,
    /// Total timeout for non-streaming calls, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<i64>,
    /// Longest gap between streamed chunks, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<i64>,
    /// Per-gateway-pod in-flight cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MAX_IN_FLIGHT_MIN, max = MAX_IN_FLIGHT_MAX))]
    pub max_in_flight: Option<i64>,
    /// Whether the row takes traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Retries of the same route after an upstream 429.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryOn429 {
    /// Retries before failing over (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_COUNT_MIN, max = RETRY_ON_429_COUNT_MAX))]
    pub count: Option<i64>,
    /// Cap on each wait, in seconds; 0 uses the gateway's built-in wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_MAX_WAIT_MIN, max = RETRY_ON_429_MAX_WAIT_MAX))]
    pub max_wait_secs: Option<i64>,
}

/// An alias and its failover chain.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchyard.dev",
    version = "v1alpha1",
    kind = "ModelRoute",
    namespaced,
    status = "ResourceStatus",
    shortname = "syroute",
    category = "switchyard",
    doc = "A model alias and the ordered failover chain behind it.",
    printcolumn(name = "Alias", type_ = "string", json_path = ".spec.alias"),
    printcolumn(name = "Targets", type_ = "string", json_path = ".spec.targets[*].model"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelRouteSpec {
    /// Client-facing alias; defaults to `metadata.name`. Must not contain `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("!self.contains('/')").message("alias must not contain '/'"))]
    pub alias: Option<String>,
    /// Whether the alias resolves without a `<provider>/` prefix (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_alias: Option<bool>,
    /// Tried in this order; priority = position.
    #[schemars(length(min = 1))]
    #[x_kube(validation = Rule::new("size(self) > 0").message("targets must not be empty"))]
    pub targets: Vec<RouteTarget>,
}

/// One step of a failover chain.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTarget {
    /// Provider name.
    #[schemars(length(min = 1, max = 256))]
    pub provider: String,
    /// Upstream model (must be enabled on the provider).
    #[schemars(length(min = 1, max = 256))]
    pub model: String,
    /// 429 handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_429: Option<RetryOn429>,
    /// Total timeout for non-streaming calls, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<i64>,
    /// Longest gap between streamed chunks, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<i64>,
    /// Per-gateway-pod in-flight cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MAX_IN_FLIGHT_MIN, max = MAX_IN_FLIGHT_MAX))]
    pub max_in_flight: Option<i64>,
    /// Whether this step takes traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// An alias that picks one of several aliases per request.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchyard.dev",
    version = "v1alpha1",
    kind = "SmartModel",
    namespaced,
    status = "ResourceStatus",
    shortname = "sysmart",
    category = "switchyard",
    doc = "A smart model: a determiner picks one slot alias per request.",
    printcolumn(name = "Alias", type_ = "string", json_path = ".spec.alias"),
    printcolumn(name = "Determiner", type_ = "string", json_path = ".spec.determiner"),
    printcolumn(name = "Slots", type_ = "string", json_path = ".spec.slots[*].alias"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("!has(self.defaultSlotOnFailure) || self.defaultSlotOnFailure < size(self.slots)").message("defaultSlotOnFailure must be a valid index into slots"))]
#[x_kube(validation = Rule::new("!has(self.contextBreakpoints) || size(self.contextBreakpoints) < size(self.slots)").message("at most len(slots)-1 contextBreakpoints"))]
pub struct SmartModelSpec {
    /// Client-facing alias; defaults to `metadata.name`. Must not contain `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("!self.contains('/')").message("alias must not contain '/'"))]
    pub alias: Option<String>,
    /// Alias used to classify each request.
    #[schemars(length(min = 1, max = 256))]
    pub determiner: String,
    /// Choices, at least one.
    #[schemars(length(min = 1))]
    #[x_kube(validation = Rule::new("size(self) > 0").message("slots must not be empty"))]
    pub slots: Vec<SmartSlot>,
    /// Token counts at which the slot floor rises; strictly ascending, positive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = CONTEXT_BREAKPOINT_MIN, max = CONTEXT_BREAKPOINT_MAX)))]
    #[x_kube(validation = Rule::new("self.all(x, x > 0) && self.isSorted() && self.all(x, self.exists_one(y, y == x))").message("contextBreakpoints must be strictly ascending positive integers"))]
    pub context_breakpoints: Vec<i64>,
    /// How many characters of the request the determiner sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DETERMINER_INPUT_MAX_CHARS_MIN, max = DETERMINER_INPUT_MAX_CHARS_MAX))]
    pub determiner_input_max_chars: Option<i64>,
    /// Slot index used when the determiner fails (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_slot_on_failure: Option<i64>,
    /// Whether the alias takes traffic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One slot of a smart model.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmartSlot {
    /// Alias the slot dispatches to.
    #[schemars(length(min = 1, max = 256))]
    pub alias: String,
    /// Label the determiner sees.
    #[schemars(length(min = 1, max = 256))]
    pub label: String,
}

/// Status shared by the three kinds.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `Synced` conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Ids of the gateway rows this resource owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_ids: Vec<String>,
    /// ModelRoute only: the failover chain the gateway serves for the alias now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainEntry>,
}

/// One step of a served failover chain.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChainEntry {
    /// Priority on the gateway (ascending = tried first).
    pub priority: i64,
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// Whether the row takes traffic.
    pub enabled: bool,
}

/// A condition in the Kubernetes convention.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` or `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// RFC 3339 time of the last status change.
    pub last_transition_time: String,
    /// Generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The three kinds a document may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `Provider`
    Provider,
    /// `ModelRoute`
    ModelRoute,
    /// `SmartModel`
    SmartModel,
}

impl Kind {
    /// All kinds, in apply order.
    pub const ALL: [Kind; 3] = [Kind::Provider, Kind::ModelRoute, Kind::SmartModel];

    /// The `kind:` spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "Provider",
            Self::ModelRoute => "ModelRoute",
            Self::SmartModel => "SmartModel",
        }
    }

    /// Parses the `kind:` spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Lower-case plural used in file names and URLs.
    #[must_use]
    pub fn plural(self) -> &'static str {
        match self {
            Self::Provider => "providers",
            Self::ModelRoute => "modelroutes",
            Self::SmartModel => "smartmodels",
        }
    }

    /// The generated CRD.
    #[must_use]
    pub fn crd(self) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
        match self {
            Self::Provider => Provider::crd(),
            Self::ModelRoute => ModelRoute::crd(),
            Self::SmartModel => SmartModel::crd(),
        }
    }

    /// The `spec` schema (OpenAPI v3, as in the CRD).
    #[must_use]
    pub fn spec_schema(self) -> serde_json::Value {
        let crd = serde_json::to_value(self.crd()).unwrap_or_default();
        crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec").cloned().unwrap_or_default()
    }
}

/// The JSON Schema (draft 2020-12) for a whole document of `kind`, for editors'
/// YAML language servers. Built from the CRD schema, with the shapes Kubernetes
/// structural schemas cannot express (string-or-object model entries) made precise.
#[must_use]
pub fn editor_schema(kind: Kind) -> serde_json::Value {
    let mut spec = kind.spec_schema();
    if kind == Kind::Provider {
        let generator =
            schemars::generate::SchemaSettings::openapi3().with(|s| s.inline_subschemas = true).into_generator();
        let mut options = serde_json::to_value(generator.into_root_schema_for::<ModelOptions>()).unwrap_or_default();
        if let Some(obj) = options.as_object_mut() {
            for k in ["$schema", "title", "definitions", "$defs", "components"] {
                obj.remove(k);
            }
        }
        if let Some(items) = spec.pointer_mut("/properties/models/items") {
            *items = serde_json::json!({
                "description": "A model name, or an object with `name` and route options.",
                "anyOf": [ {"type": "string", "minLength": 1}, options ]
            });
        }
    }
    strip_k8s_extensions(&mut spec);
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://switchyard.dev/schemas/{}.json", kind.as_str().to_ascii_lowercase()),
        "title": format!("switchyard {}", kind.as_str()),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": kind.as_str()},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            },
            "spec": spec,
            "status": {"type": "object"}
        }
    })
}

/// The `spec` part of [`editor_schema`], computed once per kind (the loader checks
/// every document against it).
#[must_use]
pub fn spec_schema(kind: Kind) -> &'static serde_json::Value {
    static CACHE: std::sync::OnceLock<[serde_json::Value; 3]> = std::sync::OnceLock::new();
    let all = CACHE
        .get_or_init(|| Kind::ALL.map(|k| editor_schema(k).pointer("/properties/spec").cloned().unwrap_or_default()));
    &all[kind as usize]
}

fn strip_k8s_extensions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("x-kubernetes-validations");
            if map.get("nullable") == Some(&serde_json::Value::Bool(true)) {
                map.remove("nullable");
                if let Some(serde_json::Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            for child in map.values_mut() {
                strip_k8s_extensions(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_k8s_extensions),
        _ => {}
    }
}
