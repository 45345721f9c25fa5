//! The reconciler's view of a gateway: [`AdminApi`], plus [`http::HttpAdminClient`],
//! a reqwest (rustls) client of the Barndoor-compatible admin API that works against
//! `switchyard gateway` and a hosted Barndoor gateway alike.
//!
//! Only `apply` calls the mutating methods; `plan` and `export` only list.

pub mod http;

use async_trait::async_trait;
use uuid::Uuid;

use crate::api;

/// An admin API failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The gateway could not be reached (connect error, timeout).
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with an error status.
    #[error("{method} {path}: {status} {message}")]
    Status {
        /// HTTP method.
        method: String,
        /// Path below the base URL.
        path: String,
        /// HTTP status.
        status: u16,
        /// The error envelope's message (or the body text).
        message: String,
    },
    /// The gateway answered 2xx with a body we cannot read.
    #[error("{method} {path}: unexpected response: {detail}")]
    BadResponse {
        /// HTTP method.
        method: String,
        /// Path below the base URL.
        path: String,
        /// What was wrong.
        detail: String,
    },
}

impl AdminError {
    /// The HTTP status, if the gateway answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A hint for the common cases (bad token, wrong role, wrong URL).
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self.status() {
            Some(401) => {
                Some("the token was refused: check --token / SWITCHYARD_TOKEN (expired or signed with another key?)")
            }
            Some(403) => Some("the token's role may not use the admin API: an `admin` role is needed"),
            Some(404) if matches!(self, Self::Status { path, .. } if !path.contains('/') || path.matches('/').count() <= 2) => {
                Some("check --gateway: it must be the base URL ending in /api/llm-gateway")
            }
            None if matches!(self, Self::Unreachable(_)) => {
                Some("is the gateway running, and is --gateway / SWITCHYARD_GATEWAY right?")
            }
            _ => None,
        }
    }
}

/// The whole live configuration of one org, read with list calls only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// Providers.
    pub providers: Vec<api::Provider>,
    /// Route rows.
    pub routes: Vec<api::Route>,
    /// Smart models.
    pub smart_models: Vec<api::SmartModel>,
    /// The org's config generation, when the gateway reports one.
    pub generation: Option<u64>,
}

/// The admin operations the reconciler needs.
#[async_trait]
pub trait AdminApi: Send + Sync {
    /// Lists everything (three list calls).
    async fn live_state(&self) -> Result<LiveState, AdminError>;
    /// `POST /admin/providers`.
    async fn create_provider(&self, body: &api::ProviderCreate) -> Result<api::Provider, AdminError>;
    /// `PUT /admin/providers/{id}`.
    async fn update_provider(&self, id: Uuid, body: &api::ProviderUpdate) -> Result<api::Provider, AdminError>;
    /// `DELETE /admin/providers/{id}`.
    async fn delete_provider(&self, id: Uuid) -> Result<(), AdminError>;
    /// `POST /admin/model-mappings`.
    async fn create_route(&self, body: &api::RouteCreate) -> Result<api::Route, AdminError>;
    /// `PUT /admin/model-mappings/{id}`.
    async fn update_route(&self, id: Uuid, body: &api::RouteUpdate) -> Result<api::Route, AdminError>;
    /// `DELETE /admin/model-mappings/{id}`.
    async fn delete_route(&self, id: Uuid) -> Result<(), AdminError>;
    /// `PUT /admin/model-mappings/reorder`.
    async fn reorder(&self, body: &api::Reorder) -> Result<(), AdminError>;
    /// `POST /admin/smart-models`.
    async fn create_smart_model(&self, body: &api::SmartModelCreate) -> Result<api::SmartModel, AdminError>;
    /// `PUT /admin/smart-models/{id}`.
    async fn update_smart_model(&self, id: Uuid, body: &api::SmartModelUpdate) -> Result<api::SmartModel, AdminError>;
    /// `DELETE /admin/smart-models/{id}`.
    async fn delete_smart_model(&self, id: Uuid) -> Result<(), AdminError>;
}
