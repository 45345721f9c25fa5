//! The runtime data plane: OpenAI-compatible `POST /chat/completions` and
//! `GET /models` under `/v1` and `/api/llm-gateway/v1`, routed by the stored routes
//! (resolution in [`snapshot`], failover and streaming in [`dispatch`], health in
//! [`health`], smart models in [`smart`]).
//!
//! Must not: write to the store. The admin API owns configuration; this module
//! reads immutable snapshots of it.

pub mod dispatch;
pub mod error;
pub mod health;
pub mod smart;
pub mod snapshot;
pub mod upstream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use self::dispatch::SLOT_HEADER;
use self::error::ProxyError;
use self::health::{HealthConfig, Registry};
use self::snapshot::Snapshots;
use self::upstream::ChatBody;
use super::AppState;
use super::keys;
use super::store::Store;
use crate::model::digest::sha256_hex;

/// Data-plane settings (gateway flags).
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// `request_timeout_secs` when neither route nor provider sets one.
    pub default_request_timeout: Duration,
    /// `stream_idle_timeout_secs` when neither route nor provider sets one.
    pub default_stream_idle_timeout: Duration,
    /// TCP/TLS connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Overall deadline of one request's whole failover chain (until the first byte
    /// of a stream goes out).
    pub max_request: Duration,
    /// Timeout of a smart model's determiner call.
    pub determiner_timeout: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// `None`: runtime requests need a `bd-` key. `Some(org)`: requests without a
    /// key act for `org` (a sidecar bound to localhost).
    pub open_org: Option<Uuid>,
    /// Passive health thresholds.
    pub health: HealthConfig,
    /// A file of runtime keys (one `bd-...` per line, `#` comments) that act for the
    /// given org, re-read when it changes: shared keys for replicas that each have
    /// their own database (e.g. mounted from a Kubernetes Secret).
    pub keys_file: Option<(std::path::PathBuf, Uuid)>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            default_request_timeout: Duration::from_secs(600),
            default_stream_idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_request: Duration::from_secs(900),
            determiner_timeout: Duration::from_secs(5),
            max_body_bytes: 32 << 20,
            open_org: None,
            health: HealthConfig::default(),
            keys_file: None,
        }
    }
}

/// Data-plane counters.
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    attempts: AtomicU64,
    streams_open: AtomicU64,
}

impl ProxyMetrics {
    fn attempt_started(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }
    fn stream_opened(&self) {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
    }
    fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
    /// Upstream calls made so far.
    #[must_use]
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
    /// Streams currently relayed.
    #[must_use]
    pub fn streams_open(&self) -> u64 {
        self.streams_open.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
struct CachedKey {
    org: Uuid,
    prefix: String,
    expires_at: Option<jiff::Timestamp>,
}

/// The data plane.
pub struct Proxy {
    /// Upstream HTTP client (pooled, keep-alive, TCP_NODELAY).
    pub client: reqwest::Client,
    /// Route health and in-flight counts on this pod.
    pub health: Registry,
    /// Config snapshots per org.
    pub snapshots: Snapshots,
    /// Settings.
    pub settings: ProxySettings,
    /// Counters.
    pub metrics: Arc<ProxyMetrics>,
    store: Arc<dyn Store>,
    keys: RwLock<HashMap<String, CachedKey>>,
    /// Bumped on every admin write: a key verdict read before a write is not cached
    /// after it (a revoke racing a first use must not leave the key working).
    key_epoch: AtomicU64,
    file_keys: std::sync::Mutex<FileKeys>,
}

/// The keys file as last read.
#[derive(Debug, Default)]
struct FileKeys {
    checked: Option<std::time::Instant>,
    modified: Option<std::time::SystemTime>,
    hashes: std::collections::HashSet<String>,
}

impl FileKeys {
    /// Re-reads `path` if it changed (checked at most once a second).
    fn refresh(&mut self, path: &std::path::Path) {
        if self.checked.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.checked = Some(std::time::Instant::now());
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified.is_some() && modified == self.modified {
            return;
        }
        self.modified = modified;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                self.hashes = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("bd-"))
                    .map(|l| sha256_hex(l.as_bytes()))
                    .collect();
                tracing::info!(file = %path.display(), keys = self.hashes.len(), "runtime keys file loaded");
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "runtime keys file unreadable; its keys are refused");
                self.hashes.clear();
            }
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Proxy {
    /// A data plane over `store`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(store: Arc<dyn Store>, settings: ProxySettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            // Retries are the dispatcher's business (per route, with health).
            .retry(reqwest::retry::never())
            .build()?;
        Ok(Self {
            client,
            health: Registry::new(settings.health),
            snapshots: Snapshots::new(store.clone()),
            settings,
            metrics: Arc::new(ProxyMetrics::default()),
            store,
            keys: RwLock::new(HashMap::new()),
            key_epoch: AtomicU64::new(0),
            file_keys: std::sync::Mutex::new(FileKeys::default()),
        })
    }

    /// Appends the data plane's metrics to `out` (Prometheus text).
    pub fn render_metrics(&self, out: &mut String) {
        use crate::gateway::metrics::write_scalar;
        let attempts = self.metrics.attempts();
        write_scalar(
            out,
            "switchyard_upstream_attempts_total",
            "counter",
            "Upstream calls made by the data plane.",
            attempts,
        );
        write_scalar(
            out,
            "switchyard_streams_open",
            "gauge",
            "Streams being relayed now.",
            self.metrics.streams_open(),
        );
        let in_flight = self.health.total_in_flight();
        write_scalar(
            out,
            "switchyard_upstream_in_flight",
            "gauge",
            "Upstream requests in flight on this pod.",
            in_flight,
        );
    }

    /// A committed admin write: the next request of `org` sees it; cached key
    /// verdicts are dropped (a revoked key stops working at once).
    pub fn config_changed(&self, org: Uuid, generation: u64) {
        self.snapshots.changed(org, generation);
        if let Ok(mut k) = self.keys.write() {
            self.key_epoch.fetch_add(1, Ordering::AcqRel);
            k.retain(|_, v| v.org != org);
        }
    }

    /// The org a runtime request acts for.
    ///
    /// # Errors
    /// 401 for a missing, unknown, revoked or expired key.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Uuid, ProxyError> {
        let raw = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        // Keyless mode: SDKs insist on sending some key; only `bd-` keys are checked.
        let raw = raw.filter(|k| self.settings.open_org.is_none() || k.starts_with("bd-"));
        let Some(raw) = raw else {
            return self.settings.open_org.ok_or_else(|| {
                ProxyError::from(super::error::ApiError::unauthenticated(
                    "missing API key: send `Authorization: Bearer bd-...` or `x-api-key: bd-...`",
                ))
            });
        };
        let hash = sha256_hex(raw.as_bytes());
        if let Some((path, org)) = &self.settings.keys_file
            && let Ok(mut f) = self.file_keys.lock()
        {
            f.refresh(path);
            if f.hashes.contains(&hash) {
                return Ok(*org);
            }
        }
        let cached = self.keys.read().ok().and_then(|k| k.get(&hash).cloned());
        if let Some(k) = cached {
            if k.expires_at.is_some_and(|e| e <= jiff::Timestamp::now()) {
                return Err(ProxyError::from(super::error::ApiError::unauthenticated(format!(
                    "API key {} has expired",
                    k.prefix
                ))));
            }
            return Ok(k.org);
        }
        let store = self.store.clone();
        let raw = raw.to_owned();
        let epoch = self.key_epoch.load(Ordering::Acquire);
        let row = tokio::task::spawn_blocking(move || keys::verify(store.as_ref(), &raw))
            .await
            .map_err(|e| ProxyError::from(super::error::ApiError::internal(e)))??;
        let entry = CachedKey {
            org: row.org_id,
            prefix: row.key_prefix.clone(),
            expires_at: row.expires_at.as_deref().and_then(|e| e.parse().ok()),
        };
        if let Ok(mut k) = self.keys.write()
            && self.key_epoch.load(Ordering::Acquire) == epoch
        {
            if k.len() > 100_000 {
                k.clear();
            }
            k.insert(hash, entry);
        }
        Ok(row.org_id)
    }
}

/// `/chat/completions` and `/models`, to be nested under `/v1` and
/// `/api/llm-gateway/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/chat/completions", post(chat)).route("/models", get(models)).method_not_allowed_fallback(
        || async {
            ProxyError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
                "method not allowed on this path",
            )
        },
    )
}

async fn chat(State(s): State<AppState>, req: Request) -> Response {
    match chat_inner(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn chat_inner(s: &AppState, req: Request) -> Result<Response, ProxyError> {
    let proxy = &s.proxy;
    let (parts, body) = req.into_parts();
    let org = proxy.authenticate(&parts.headers).await?;
    let limit = proxy.settings.max_body_bytes;
    let bytes = axum::body::to_bytes(Body::new(body), limit).await.map_err(|_| {
        ProxyError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    })?;
    let chat = ChatBody::parse(&bytes)?;
    let cfg = proxy.snapshots.get(org).await?;
    if let Some(smart) = cfg.smart(&chat.model).cloned() {
        if !smart.enabled {
            return Err(ProxyError::invalid(
                "model_disabled",
                format!("smart model `{}` is disabled", smart.model_alias),
            ));
        }
        let decision = proxy.decide(&cfg, &smart, &chat.messages_text(), None).await;
        let slot_alias = smart.slots.get(decision.slot_index).map(|s| s.0.clone()).unwrap_or_default();
        let candidates = cfg.resolve(&slot_alias);
        if candidates.is_empty() {
            return Err(ProxyError::new(
                axum::http::StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!(
                    "smart model `{}` chose slot {} (`{slot_alias}`), which has no enabled routes",
                    smart.model_alias, decision.slot_index
                ),
            ));
        }
        tracing::debug!(smart = %smart.model_alias, slot = decision.slot_index, reason = %decision.reason, "smart model decision");
        let mut resp = match proxy.dispatch(&candidates, &chat).await {
            Ok(served) => served.into_response(),
            Err(unserved) => unserved.into_response(),
        };
        resp.headers_mut().insert(HeaderName::from_static(SLOT_HEADER), HeaderValue::from(decision.slot_index));
        return Ok(resp);
    }
    let candidates = cfg.resolve(&chat.model);
    if candidates.is_empty() {
        return Err(ProxyError::model_not_found(&chat.model));
    }
    Ok(match proxy.dispatch(&candidates, &chat).await {
        Ok(served) => served.into_response(),
        Err(unserved) => unserved.into_response(),
    })
}

async fn models(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let org = match s.proxy.authenticate(&headers).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let cfg = match s.proxy.snapshots.get(org).await {
        Ok(c) => c,
        Err(e) => return ProxyError::from(e).into_response(),
    };
    let data: Vec<_> = cfg
        .model_names()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "switchyard"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
