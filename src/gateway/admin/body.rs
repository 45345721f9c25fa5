//! Request bodies: at most 1 MiB (413 beyond), JSON syntax errors 400, unknown fields
//! 400 naming every one of them, anything else that does not deserialize 422.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::gateway::error::ApiError;

/// Largest accepted admin request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body of type `T`, checked as described in the module docs.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn known_fields<T: schemars::JsonSchema + 'static>() -> Vec<String> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Vec<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(map) = cache.lock() {
        if let Some(v) = map.get(&TypeId::of::<T>()) {
            return v.clone();
        }
    }
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    let fields: Vec<String> =
        schema.get("properties").and_then(|p| p.as_object()).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    if let Ok(mut map) = cache.lock() {
        map.insert(TypeId::of::<T>(), fields.clone());
    }
    fields
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + schemars::JsonSchema + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let too_large = || ApiError::too_large(format!("request body is larger than {MAX_BODY_BYTES} bytes"));
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::invalid(format!("cannot read body: {e}"))
            }
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(format!("malformed JSON body: {e}")))?;
        let Some(object) = value.as_object() else {
            return Err(ApiError::unprocessable("request body must be a JSON object"));
        };
        let known = known_fields::<T>();
        let unknown: Vec<&String> = object.keys().filter(|k| !known.contains(k)).collect();
        if !unknown.is_empty() {
            let list = |v: &[&String]| v.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let mut known_sorted: Vec<&String> = known.iter().collect();
            known_sorted.sort();
            return Err(ApiError::invalid(format!(
                "unknown field{} {} (expected one of {})",
                if unknown.len() == 1 { "" } else { "s" },
                list(&unknown),
                list(&known_sorted)
            )));
        }
        serde_json::from_value::<T>(value).map(JsonBody).map_err(|e| {
            let msg = e.to_string();
            if msg.starts_with("unknown field") {
                ApiError::invalid(msg)
            } else {
                ApiError::unprocessable(format!("request body does not match the expected shape: {msg}"))
            }
        })
    }
}
