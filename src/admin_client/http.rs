//! reqwest implementation of [`AdminApi`]: timeouts, a bound on concurrent requests,
//! and retries with exponential backoff that honours `Retry-After`.
//!
//! Retry policy: GET, PUT and DELETE (idempotent) are retried on connect errors,
//! timeouts, 429 and 5xx. POST is retried on connect errors, 429 and 503 only, where
//! the request is known not to have been processed; other ambiguous failures are
//! reported and the next plan/apply converges.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{AdminApi, AdminError, LiveState};
use crate::api;

/// Tuning of [`HttpAdminClient`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles per attempt.
    pub backoff: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            attempts: 5,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            concurrency: 8,
        }
    }
}

/// The HTTP admin client.
#[derive(Clone)]
pub struct HttpAdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
    options: Options,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for HttpAdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAdminClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl HttpAdminClient {
    /// A client for `base` (ending in `/api/llm-gateway`) with a bearer `token`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built or the URL is not http(s).
    pub fn new(base: &str, token: &str, options: Options) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("--gateway {base:?} must be an http:// or https:// URL ending in /api/llm-gateway"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
        Ok(Self { http, base, token: token.to_owned(), options, permits })
    }

    async fn call<B: Serialize + Sync, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(R, Option<u64>), AdminError> {
        let _permit = self.permits.acquire().await.map_err(|e| AdminError::Unreachable(e.to_string()))?;
        let idempotent = method != Method::POST;
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let hinted = match req.send().await {
                Err(e) => {
                    let retry = e.is_connect() || (idempotent && e.is_timeout());
                    if !retry || attempt >= self.options.attempts {
                        return Err(AdminError::Unreachable(format!("{method} {}{path}: {e}", self.base)));
                    }
                    None
                }
                Ok(resp) => {
                    let s = resp.status();
                    let retry = s == StatusCode::TOO_MANY_REQUESTS
                        || s == StatusCode::SERVICE_UNAVAILABLE
                        || (idempotent && s.is_server_error());
                    if !retry || attempt >= self.options.attempts {
                        break resp;
                    }
                    retry_after(resp.headers())
                }
            };
            let backoff = self.options.backoff.saturating_mul(1 << (attempt - 1).min(16));
            let delay = hinted.unwrap_or(backoff).min(self.options.max_backoff);
            tracing::debug!(%method, path, attempt, ?delay, "retrying admin call");
            tokio::time::sleep(delay).await;
        };
        let status = resp.status();
        let generation =
            resp.headers().get(api::GENERATION_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body = resp.bytes().await.map_err(|e| AdminError::Unreachable(format!("{method} {path}: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let message = serde_json::from_str::<api::ErrorEnvelope>(&text)
                .map(|e| e.error.message)
                .unwrap_or_else(|_| text.chars().take(500).collect());
            return Err(AdminError::Status {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        let value = serde_json::from_slice::<R>(&body).map_err(|e| AdminError::BadResponse {
            method: method.to_string(),
            path: path.to_owned(),
            detail: format!("{e} (body starts with {:?})", String::from_utf8_lossy(&body[..body.len().min(120)])),
        })?;
        Ok((value, generation))
    }
}

#[async_trait]
impl AdminApi for HttpAdminClient {
    async fn live_state(&self) -> Result<LiveState, AdminError> {
        let none: Option<&()> = None;
        let (providers, g1) = self.call::<(), Vec<api::Provider>>(Method::GET, "/admin/providers", none).await?;
        let (routes, g2) = self.call::<(), Vec<api::Route>>(Method::GET, "/admin/model-mappings", none).await?;
        let (smart_models, g3) =
            self.call::<(), Vec<api::SmartModel>>(Method::GET, "/admin/smart-models", none).await?;
        // The three reads run concurrently; a write between them shows as differing
        // generations: take the oldest so a saved plan made from this read is refused
        // rather than trusted.
        let generation = [g1, g2, g3].into_iter().flatten().min();
        if [g1, g2, g3].into_iter().flatten().collect::<std::collections::BTreeSet<_>>().len() > 1 {
            tracing::warn!(?g1, ?g2, ?g3, "the gateway changed while its state was being read");
        }
        Ok(LiveState { providers, routes, smart_models, generation })
    }

    async fn create_provider(&self, body: &api::ProviderCreate) -> Result<api::Provider, AdminError> {
        Ok(self.call(Method::POST, "/admin/providers", Some(body)).await?.0)
    }

    async fn update_provider(&self, id: Uuid, body: &api::ProviderUpdate) -> Result<api::Provider, AdminError> {
        Ok(self.call(Method::PUT, &format!("/admin/providers/{id}"), Some(body)).await?.0)
    }

    async fn delete_provider(&self, id: Uuid) -> Result<(), AdminError> {
        let none: Option<&()> = None;
        self.call::<(), serde_json::Value>(Method::DELETE, &format!("/admin/providers/{id}"), none).await.map(|_| ())
    }

    async fn create_route(&self, body: &api::RouteCreate) -> Result<api::Route, AdminError> {
        Ok(self.call(Method::POST, "/admin/model-mappings", Some(body)).await?.0)
    }

    async fn update_route(&self, id: Uuid, body: &api::RouteUpdate) -> Result<api::Route, AdminError> {
        Ok(self.call(Method::PUT, &format!("/admin/model-mappings/{id}"), Some(body)).await?.0)
    }

    async fn delete_route(&self, id: Uuid) -> Result<(), AdminError> {
        let none: Option<&()> = None;
        self.call::<(), serde_json::Value>(Method::DELETE, &format!("/admin/model-mappings/{id}"), none)
            .await
            .map(|_| ())
    }

    async fn reorder(&self, body: &api::Reorder) -> Result<(), AdminError> {
        self.call::<_, serde_json::Value>(Method::PUT, "/admin/model-mappings/reorder", Some(body)).await.map(|_| ())
    }

    async fn create_smart_model(&self, body: &api::SmartModelCreate) -> Result<api::SmartModel, AdminError> {
        Ok(self.call(Method::POST, "/admin/smart-models", Some(body)).await?.0)
    }

    async fn update_smart_model(&self, id: Uuid, body: &api::SmartModelUpdate) -> Result<api::SmartModel, AdminError> {
        Ok(self.call(Method::PUT, &format!("/admin/smart-models/{id}"), Some(body)).await?.0)
    }

    async fn delete_smart_model(&self, id: Uuid) -> Result<(), AdminError> {
        let none: Option<&()> = None;
        self.call::<(), serde_json::Value>(Method::DELETE, &format!("/admin/smart-models/{id}"), none).await.map(|_| ())
    }
}

pub use crate::api::retry_after;
