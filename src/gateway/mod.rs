//! `switchyard gateway`: the Barndoor-compatible admin API over a [`store::Store`],
//! the OpenAI-compatible data plane ([`proxy`]) that routes by it, plus health,
//! readiness and Prometheus metrics.
//!
//! Must not: talk to Kubernetes, or read manifests; it only serves HTTP.

pub mod admin;
pub mod auth;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod mock;
pub mod proxy;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::auth::Verifier;
use self::error::ApiError;
use self::metrics::Metrics;
use self::proxy::{Proxy, ProxySettings};
use self::store::Store;
use crate::api::GENERATION_HEADER;

/// Path prefix of the admin and runtime APIs.
pub const API_PREFIX: &str = "/api/llm-gateway";

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// JWT verification for `/admin` (shared: the state is cloned per request).
    pub verifier: Arc<Verifier>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Latest config generation per org, for watchers to follow.
    pub generations: tokio::sync::watch::Sender<(Uuid, u64)>,
    /// The data plane.
    pub proxy: Arc<Proxy>,
}

impl AppState {
    /// A state over `store` with `verifier` and data-plane `settings`.
    ///
    /// # Errors
    /// When the upstream HTTP client cannot be built.
    pub fn new(store: Arc<dyn Store>, verifier: Verifier, settings: ProxySettings) -> anyhow::Result<Self> {
        let (generations, _) = tokio::sync::watch::channel((Uuid::nil(), 0));
        let proxy = Arc::new(Proxy::new(store.clone(), settings)?);
        Ok(Self { store, verifier: Arc::new(verifier), metrics: Arc::new(Metrics::default()), generations, proxy })
    }

    /// Called after every committed admin write: the data plane's next request for
    /// `org` runs on a snapshot that includes it.
    pub fn config_changed(&self, org: Uuid, generation: u64) {
        self.proxy.config_changed(org, generation);
        self.generations.send_replace((org, generation));
    }
}

/// The whole HTTP surface: `/healthz`, `/readyz`, `/metrics`,
/// `/api/llm-gateway/openapi.json`, the authenticated `/api/llm-gateway/admin/...`, and
/// the runtime API under `/v1` and `/api/llm-gateway/v1`.
pub fn router(state: AppState) -> Router {
    let admin = admin::router().route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let api = Router::new().merge(admin).route("/openapi.json", get(openapi)).nest("/v1", proxy::router());
    Router::new()
        .nest(API_PREFIX, api)
        .nest("/v1", proxy::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], admin::openapi::document_text()).into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || store.generation(Uuid::nil())).await {
        Ok(Ok(_)) => "ok".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response(),
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let mut text = s.metrics.render();
    s.proxy.render_metrics(&mut text);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    s.metrics.observe(&method, &route, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let claims = match s.verifier.verify(header) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !claims.is_admin() {
        return ApiError::forbidden(format!("role `{}` may not use the admin API (needs `admin`)", claims.role))
            .into_response();
    }
    let org = claims.org_id;
    req.extensions_mut().insert(claims);
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key(GENERATION_HEADER) {
        let store = s.store.clone();
        if let Ok(Ok(g)) = tokio::task::spawn_blocking(move || store.generation(org)).await
            && let Ok(v) = HeaderValue::from_str(&g.to_string())
        {
            resp.headers_mut().insert(GENERATION_HEADER, v);
        }
    }
    resp
}

/// How to run the gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// SQLite path, or `:memory:`.
    pub db: String,
    /// JWT verification.
    pub verifier: Verifier,
    /// Data plane.
    pub proxy: ProxySettings,
}

/// Opens the SQLite store at `db` (`:memory:` for none).
///
/// # Errors
/// When the file cannot be opened or migrated.
pub fn open_store(db: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(store::sqlite::SqliteStore::open(db).map_err(|e| anyhow::anyhow!("opening {db}: {}", e.message))?))
}

/// Serves `state` on `listener` (TCP_NODELAY on every connection) until `cancel`
/// fires, lets in-flight requests finish, then closes the store.
///
/// # Errors
/// When serving fails or the store does not close cleanly.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let store = state.store.clone();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(cancel.cancelled_owned()).await?;
    tracing::info!("gateway stopped; closing the store");
    tokio::task::spawn_blocking(move || store.close()).await?.map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(())
}

/// Binds, prints `listening on http://ADDR` on stdout, serves until `cancel` fires,
/// lets in-flight requests finish, then closes the store.
///
/// # Errors
/// When the store cannot be opened or the address cannot be bound.
pub async fn run(config: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&config.db)?;
    let state = AppState::new(store, config.verifier, config.proxy)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, db = %config.db, "gateway started");
    serve(listener, state, cancel).await
}
