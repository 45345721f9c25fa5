//! The Barndoor-compatible admin API's wire types (snake_case JSON), shared by the
//! gateway (which serves them) and the admin client (which calls them).
//!
//! Request bodies reject unknown fields (the gateway answers 400 naming them);
//! response bodies accept unknown fields so that the client also works against a
//! hosted gateway that returns more than we know about.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::model::limits::*;

// Single-field constraints are part of the schema (and so of the OpenAPI document);
// rules across fields or rows (ascending breakpoints, a custom alias needing its
// enablement, ...) are enforced by the gateway and described in the docs.
const NAME: &str = r"^[^\s\x00-\x1f\x7f-\x9f]+$";
const NAME_NO_SLASH: &str = r"^[^\s\x00-\x1f\x7f-\x9f/]+$";
const URL: &str = crate::model::names::BASE_URL_PATTERN;
const LABEL: &str = r"\S";

/// `absent` vs `null` vs a value, for partial updates of nullable fields.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A provider as returned by the gateway. `api_key` is write-only and never appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Provider {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub model_provider: String,
    pub auth_type: String,
    #[serde(default)]
    pub base_url: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub catalog_id: Option<Uuid>,
    #[serde(default)]
    pub connection_id: Option<Uuid>,
    #[serde(default)]
    pub request_timeout_secs: Option<u32>,
    #[serde(default)]
    pub stream_idle_timeout_secs: Option<u32>,
    /// Whether an API key is stored (the key itself is never returned).
    #[serde(default)]
    pub has_api_key: bool,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// `POST /admin/providers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCreate {
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME_NO_SLASH))]
    pub name: String,
    pub model_provider: crate::model::ModelProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL))]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub auth_type: Option<String>,
    /// Write-only secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<Uuid>,
    /// Upstream models to enable 1:1 in the same call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 256), regex(pattern = NAME)), extend("uniqueItems" = true))]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<i64>,
}

/// `PUT /admin/providers/{id}`: every field optional; `null` clears nullable fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME_NO_SLASH))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = URL))]
    pub base_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub auth_type: Option<String>,
    /// Write-only; rotates the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<Option<i64>>,
}

/// A model route (one row of an alias's failover chain, or a 1:1 enablement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    pub id: Uuid,
    pub org_id: Uuid,
    pub provider_id: Uuid,
    pub model_alias: String,
    pub upstream_model: String,
    pub enabled: bool,
    pub priority: i64,
    pub retry_on_429_count: u32,
    pub retry_on_429_max_wait_secs: u32,
    pub bare_alias: bool,
    #[serde(default)]
    pub stream_idle_timeout_secs: Option<u32>,
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub request_timeout_secs: Option<u32>,
    /// List rows only: the provider's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// List rows only: budget annotation (always null until budgets exist).
    #[serde(default)]
    pub budget_status: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// `POST /admin/model-mappings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCreate {
    pub provider_id: Uuid,
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub model_alias: String,
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub upstream_model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = PRIORITY_MIN, max = PRIORITY_MAX))]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_COUNT_MIN, max = RETRY_ON_429_COUNT_MAX))]
    pub retry_on_429_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_MAX_WAIT_MIN, max = RETRY_ON_429_MAX_WAIT_MAX))]
    pub retry_on_429_max_wait_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_alias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MAX_IN_FLIGHT_MIN, max = MAX_IN_FLIGHT_MAX))]
    pub max_in_flight: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<i64>,
}

/// `PUT /admin/model-mappings/{id}`: partial; `null` clears the nullable limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteUpdate {
    /// Immutable: accepted only when equal to the stored value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub model_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub upstream_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = PRIORITY_MIN, max = PRIORITY_MAX))]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_COUNT_MIN, max = RETRY_ON_429_COUNT_MAX))]
    pub retry_on_429_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = RETRY_ON_429_MAX_WAIT_MIN, max = RETRY_ON_429_MAX_WAIT_MAX))]
    pub retry_on_429_max_wait_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_alias: Option<bool>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = STREAM_IDLE_TIMEOUT_MIN, max = STREAM_IDLE_TIMEOUT_MAX))]
    pub stream_idle_timeout_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MAX_IN_FLIGHT_MIN, max = MAX_IN_FLIGHT_MAX))]
    pub max_in_flight: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = REQUEST_TIMEOUT_MIN, max = REQUEST_TIMEOUT_MAX))]
    pub request_timeout_secs: Option<Option<i64>>,
}

/// `PUT /admin/model-mappings/reorder`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    #[schemars(length(min = 1))]
    pub entries: Vec<ReorderEntry>,
}

/// One new priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderEntry {
    pub id: Uuid,
    #[schemars(range(min = PRIORITY_MIN, max = PRIORITY_MAX))]
    pub priority: i64,
}

/// One smart-model slot on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub model_alias: String,
    #[schemars(length(min = 1, max = 256), regex(pattern = LABEL))]
    pub label: String,
}

/// A smart model as returned by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SmartModel {
    pub id: Uuid,
    pub org_id: Uuid,
    pub model_alias: String,
    pub enabled: bool,
    pub determiner_model_alias: String,
    pub slots: Vec<SlotOut>,
    #[serde(default)]
    pub context_breakpoints: Vec<u64>,
    pub determiner_input_max_chars: u32,
    pub default_slot_on_failure: u32,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// A slot in a response (tolerant of extra fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlotOut {
    pub model_alias: String,
    pub label: String,
}

/// `POST /admin/smart-models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartModelCreate {
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME_NO_SLASH))]
    pub model_alias: String,
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub determiner_model_alias: String,
    #[schemars(length(min = 1))]
    pub slots: Vec<Slot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(range(min = CONTEXT_BREAKPOINT_MIN, max = CONTEXT_BREAKPOINT_MAX)), extend("uniqueItems" = true))]
    pub context_breakpoints: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DETERMINER_INPUT_MAX_CHARS_MIN, max = DETERMINER_INPUT_MAX_CHARS_MAX))]
    pub determiner_input_max_chars: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_slot_on_failure: Option<i64>,
}

/// `PUT /admin/smart-models/{id}`: partial; `description: null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartModelUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME_NO_SLASH))]
    pub model_alias: Option<String>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub determiner_model_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub slots: Option<Vec<Slot>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(range(min = CONTEXT_BREAKPOINT_MIN, max = CONTEXT_BREAKPOINT_MAX)), extend("uniqueItems" = true))]
    pub context_breakpoints: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DETERMINER_INPUT_MAX_CHARS_MIN, max = DETERMINER_INPUT_MAX_CHARS_MAX))]
    pub determiner_input_max_chars: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_slot_on_failure: Option<i64>,
}

/// `{"deleted": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    pub deleted: bool,
}

/// `{"ok": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ok {
    pub ok: bool,
}

/// The error envelope: `{"error": {"message", "type"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Inside the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Header carrying the org's config generation on every admin response.
pub const GENERATION_HEADER: &str = "x-switchyard-generation";

/// `POST /admin/api-keys`: a runtime (`bd-`) key. `user_id` and `group_name` are
/// mutually exclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 320))]
    pub user_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub group_name: Option<String>,
    /// RFC 3339 time after which the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
}

/// The create response: the only response that ever contains the raw key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    pub id: Uuid,
    pub name: String,
    pub key_prefix: String,
    /// The raw key (`bd-...`), shown once.
    pub key: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    #[serde(default)]
    pub group_name: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A stored runtime key (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub org_id: Uuid,
    #[serde(default)]
    pub created_by_user_id: Option<Uuid>,
    pub name: String,
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub group_name: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

/// `{"revoked": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Revoked {
    pub revoked: bool,
}

/// Parses `Retry-After` (delta-seconds or HTTP-date) and `retry-after-ms`.
#[must_use]
pub fn retry_after(headers: &axum::http::HeaderMap) -> Option<std::time::Duration> {
    if let Some(ms) =
        headers.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        // A huge hint is still a (very long) wait, not a panic.
        return Some(std::time::Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(std::time::Duration::MAX));
    }
    let v = headers.get(axum::http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    let delta = when.as_second() - now.as_second();
    Some(std::time::Duration::from_secs(u64::try_from(delta).unwrap_or(0)))
}

/// `GET /admin/llm-gw/route-health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteHealthList {
    pub routes: Vec<RouteHealth>,
}

/// Health of one `(provider, upstream_model)` on the answering gateway pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteHealth {
    pub provider_id: Uuid,
    pub provider_name: String,
    pub model_provider: String,
    pub upstream_model: String,
    /// `healthy`, `ejected` or `half_open`.
    pub state: String,
    /// `rolling_failures` or `rate_limited` while not healthy.
    #[serde(default)]
    pub cooldown_reason: Option<String>,
    pub consecutive_failures: u32,
    pub multiplier: f64,
    pub eject_remaining_secs: u64,
    pub in_flight: u32,
    /// The smallest `max_in_flight` of the rows reaching this upstream; null = no cap.
    #[serde(default)]
    pub concurrency_cap: Option<u32>,
    #[serde(default)]
    pub recent_transitions: Vec<HealthTransition>,
}

/// One state change of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthTransition {
    pub from: String,
    pub to: String,
    pub reason: String,
    pub window_secs: u64,
    pub age_secs: u64,
}

/// `POST /admin/llm-gw/route-health/{provider_id}/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteHealthReset {
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub upstream_model: String,
}

/// The answer to a route-health reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RouteHealthResetResult {
    pub provider_id: Uuid,
    pub upstream_model: String,
    /// Whether this pod had the route ejected (or half-open) before the reset.
    pub was_ejected: bool,
    /// Whether a cross-pod cooldown record was cleared (this gateway keeps health
    /// per pod only, so always false).
    pub shared_state_cleared: bool,
}

/// `POST /admin/smart-models/preview`: a (possibly unsaved) smart model and a sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartPreview {
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME_NO_SLASH))]
    pub model_alias: String,
    #[schemars(length(min = 1, max = 256), regex(pattern = NAME))]
    pub determiner_model_alias: String,
    #[schemars(length(min = 1))]
    pub slots: Vec<Slot>,
    /// The sample request text the determiner classifies.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(range(min = CONTEXT_BREAKPOINT_MIN, max = CONTEXT_BREAKPOINT_MAX)), extend("uniqueItems" = true))]
    pub context_breakpoints: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = DETERMINER_INPUT_MAX_CHARS_MIN, max = DETERMINER_INPUT_MAX_CHARS_MAX))]
    pub determiner_input_max_chars: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_slot_on_failure: Option<i64>,
    /// Runtime surface simulated (only `/v1/chat/completions` exists today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_vision: Option<bool>,
    /// Overrides the estimated token count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub token_count: Option<i64>,
}

/// The answer to a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SmartPreviewResult {
    /// The chosen slot's alias.
    pub target_model_alias: String,
    pub decision: Decision,
}

/// Why a smart model chose a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// Chosen slot index.
    pub slot_index: usize,
    /// Chosen slot's label.
    pub slot_label: String,
    /// `determiner`, `breakpoint_floor` (only one slot allowed, no call made),
    /// `determiner_clamped` (its choice was below the floor) or `determiner_failed`.
    pub reason: String,
    /// Lowest slot the token estimate allows.
    pub floor_slot: usize,
    /// Estimated prompt tokens.
    pub token_estimate: u64,
    /// How the estimate was made: `supplied`, `byte_bound` or `pretokenized`.
    pub token_estimate_method: String,
    /// The determiner's raw answer, if it answered.
    #[serde(default)]
    pub determiner_output: Option<String>,
    /// Why the determiner's answer was not used, if it was not.
    #[serde(default)]
    pub determiner_error: Option<String>,
    /// `provider/model` that served the determiner call.
    #[serde(default)]
    pub determiner_route: Option<String>,
}
