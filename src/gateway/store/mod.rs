//! Storage behind the gateway: [`Store`] runs org-scoped transactions over a [`Tx`]
//! of row primitives; the admin rules (`gateway::admin::rules`) are written once
//! against `Tx` and run unchanged on SQLite ([`sqlite`]) and in memory ([`memory`]).
//!
//! Guarantees: a write closure runs inside one transaction; it commits and bumps the
//! org's config generation only when the closure returns `Ok`, otherwise nothing it
//! did is kept. Writes are serialised, so read-check-insert sequences are race-free.

pub mod memory;
pub mod sqlite;

use std::fmt;

use uuid::Uuid;

use super::error::ApiError;

/// A secret value: redacted in `Debug` and never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A stored provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub model_provider: String,
    pub auth_type: String,
    pub base_url: Option<String>,
    pub enabled: bool,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub catalog_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
    pub request_timeout_secs: Option<u32>,
    pub stream_idle_timeout_secs: Option<u32>,
    pub api_key: Option<Secret>,
    pub created_at: String,
    pub updated_at: String,
}

/// A stored route row.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRow {
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
    pub stream_idle_timeout_secs: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub request_timeout_secs: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
}

impl RouteRow {
    /// Whether this row is a 1:1 enablement (alias == upstream model).
    #[must_use]
    pub fn is_one_to_one(&self) -> bool {
        self.model_alias == self.upstream_model
    }
}

/// A stored smart model.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub model_alias: String,
    pub enabled: bool,
    pub determiner_model_alias: String,
    pub slots: Vec<(String, String)>,
    pub context_breakpoints: Vec<u64>,
    pub determiner_input_max_chars: u32,
    pub default_slot_on_failure: u32,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A runtime API key (`bd-...`). Only a SHA-256 of the key is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// First 8 characters of the raw key (`bd-abcde`).
    pub key_prefix: String,
    /// Hex SHA-256 of the raw key.
    pub key_hash: String,
    pub scopes: Vec<String>,
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub group_name: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Row primitives of one org, inside one transaction.
pub trait Tx {
    /// Every provider, ordered by name.
    fn providers(&self) -> Result<Vec<ProviderRow>, ApiError>;
    /// One provider.
    fn provider(&self, id: Uuid) -> Result<Option<ProviderRow>, ApiError>;
    /// One provider by exact name.
    fn provider_by_name(&self, name: &str) -> Result<Option<ProviderRow>, ApiError>;
    /// Inserts or replaces a provider (by id).
    fn put_provider(&mut self, row: &ProviderRow) -> Result<(), ApiError>;
    /// Deletes a provider.
    fn delete_provider(&mut self, id: Uuid) -> Result<(), ApiError>;

    /// Every route, ordered by alias, priority, id.
    fn routes(&self) -> Result<Vec<RouteRow>, ApiError>;
    /// Calls `f` for every route in list order without collecting them first (the
    /// list endpoint streams 30,000 rows into JSON this way).
    fn each_route(&self, f: &mut dyn FnMut(RouteRow) -> Result<(), ApiError>) -> Result<(), ApiError> {
        for r in self.routes()? {
            f(r)?;
        }
        Ok(())
    }
    /// One route.
    fn route(&self, id: Uuid) -> Result<Option<RouteRow>, ApiError>;
    /// Routes of one provider for one upstream model (the anchor and its aliases).
    fn routes_for_model(&self, provider_id: Uuid, upstream_model: &str) -> Result<Vec<RouteRow>, ApiError>;
    /// Routes of one provider.
    fn routes_of_provider(&self, provider_id: Uuid) -> Result<Vec<RouteRow>, ApiError>;
    /// Whether any route has this alias (case-insensitive).
    fn route_alias_exists(&self, alias: &str) -> Result<bool, ApiError>;
    /// Inserts or replaces a route (by id).
    fn put_route(&mut self, row: &RouteRow) -> Result<(), ApiError>;
    /// Deletes a route.
    fn delete_route(&mut self, id: Uuid) -> Result<(), ApiError>;

    /// Every smart model, ordered by alias.
    fn smart_models(&self) -> Result<Vec<SmartRow>, ApiError>;
    /// One smart model.
    fn smart_model(&self, id: Uuid) -> Result<Option<SmartRow>, ApiError>;
    /// One smart model by alias (case-insensitive).
    fn smart_by_alias(&self, alias: &str) -> Result<Option<SmartRow>, ApiError>;
    /// Inserts or replaces a smart model (by id).
    fn put_smart(&mut self, row: &SmartRow) -> Result<(), ApiError>;
    /// Deletes a smart model.
    fn delete_smart(&mut self, id: Uuid) -> Result<(), ApiError>;

    /// Every runtime API key (revoked ones included), newest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyRow>, ApiError>;
    /// One runtime API key.
    fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>, ApiError>;
    /// Inserts or replaces a runtime API key (by id).
    fn put_api_key(&mut self, row: &ApiKeyRow) -> Result<(), ApiError>;
}

/// A read-only transaction body.
pub type ReadFn<'a> = dyn FnMut(&dyn Tx) -> Result<(), ApiError> + 'a;
/// A read-write transaction body.
pub type WriteFn<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), ApiError> + 'a;

/// Durable (or in-memory) storage for every org.
pub trait Store: Send + Sync {
    /// Runs `f` in a consistent read transaction; returns the org's generation.
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage failure.
    fn read(&self, org: Uuid, f: &mut ReadFn<'_>) -> Result<u64, ApiError>;

    /// Runs `f` in a write transaction. On `Ok` commits and increments the org's
    /// generation, returning the new value; on `Err` rolls back.
    ///
    /// # Errors
    /// Whatever `f` returns, or a storage failure.
    fn write(&self, org: Uuid, f: &mut WriteFn<'_>) -> Result<u64, ApiError>;

    /// The org's current generation (0 for an org that never wrote).
    ///
    /// # Errors
    /// A storage failure.
    fn generation(&self, org: Uuid) -> Result<u64, ApiError>;

    /// The runtime key whose hash is `key_hash`, in any org (runtime requests carry
    /// only the key; the key decides the org).
    ///
    /// # Errors
    /// A storage failure.
    fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, ApiError>;

    /// Orgs that have any state, for the data plane's snapshot.
    ///
    /// # Errors
    /// A storage failure.
    fn orgs(&self) -> Result<Vec<Uuid>, ApiError>;

    /// Flushes and closes (WAL checkpoint for SQLite). Further calls fail.
    ///
    /// # Errors
    /// A storage failure.
    fn close(&self) -> Result<(), ApiError>;
}

/// Runs a read returning a value.
///
/// # Errors
/// Whatever `f` returns.
pub fn read<R>(
    store: &dyn Store,
    org: Uuid,
    f: impl FnOnce(&dyn Tx) -> Result<R, ApiError>,
) -> Result<(R, u64), ApiError> {
    let mut f = Some(f);
    let mut out = None;
    let generation = store.read(org, &mut |tx| {
        if let Some(f) = f.take() {
            out = Some(f(tx)?);
        }
        Ok(())
    })?;
    out.map(|r| (r, generation)).ok_or_else(|| ApiError::internal("read closure did not run"))
}

/// Runs a write returning a value.
///
/// # Errors
/// Whatever `f` returns.
pub fn write<R>(
    store: &dyn Store,
    org: Uuid,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
) -> Result<(R, u64), ApiError> {
    let mut f = Some(f);
    let mut out = None;
    let generation = store.write(org, &mut |tx| {
        if let Some(f) = f.take() {
            out = Some(f(tx)?);
        }
        Ok(())
    })?;
    out.map(|r| (r, generation)).ok_or_else(|| ApiError::internal("write closure did not run"))
}

/// Current time, RFC 3339 with millisecond precision.
#[must_use]
pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).map(|t| t.to_string()).unwrap_or_default()
}
