//! Errors of the runtime API, in the OpenAI envelope
//! `{"error": {"message", "type", "param", "code"}}` that OpenAI SDKs parse.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::gateway::error::ApiError;

/// A runtime failure answered by the gateway itself (not relayed from an upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    /// HTTP status.
    pub status: StatusCode,
    /// Envelope `type`.
    pub kind: &'static str,
    /// Envelope `code`.
    pub code: &'static str,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// `Retry-After` seconds, when the caller should come back later.
    pub retry_after_secs: Option<u64>,
}

impl ProxyError {
    /// A new error.
    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, code, message: message.into(), retry_after_secs: None }
    }
    /// 400 `invalid_request_error`.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
    }
    /// 404 `model_not_found`.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("the model `{model}` does not exist or is not enabled; GET /v1/models lists the callable names"),
        )
    }
    /// The envelope as JSON text.
    #[must_use]
    pub fn body(&self) -> String {
        json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}}).to_string()
    }
}

impl From<ApiError> for ProxyError {
    fn from(e: ApiError) -> Self {
        let code = match e.status {
            StatusCode::UNAUTHORIZED => "invalid_api_key",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
            _ => "invalid_request",
        };
        Self::new(e.status, e.kind, code, e.message)
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let mut resp =
            (self.status, [(axum::http::header::CONTENT_TYPE, "application/json")], self.body()).into_response();
        if let Some(s) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}
