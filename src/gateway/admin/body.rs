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

/// How much of an oversized body is read and discarded before answering 413.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// The next data chunk of `body` (trailers are skipped).
async fn next_chunk(body: &mut axum::body::Body) -> Option<Result<axum::body::Bytes, axum::Error>> {
    use http_body::Body as _;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Err(e) => return Some(Err(e)),
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    return Some(Ok(data));
                }
            }
        }
    }
}

/// A JSON body of type `T`, checked as described in the module docs.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn known_fields<T: schemars::JsonSchema + 'static>() -> Vec<String> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Vec<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(map) = cache.lock()
        && let Some(v) = map.get(&TypeId::of::<T>())
    {
        return v.clone();
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
        let mut body = req.into_body();
        let mut bytes: Vec<u8> = Vec::new();
        let mut over = false;
        let mut drained = 0usize;
        // Past the limit, keep reading and discard (up to DRAIN_LIMIT), so that the
        // client gets to read the 413 instead of a broken pipe.
        while let Some(chunk) = next_chunk(&mut body).await {
            let chunk = chunk.map_err(|e| ApiError::invalid(format!("cannot read body: {e}")))?;
            if over {
                drained += chunk.len();
                if drained > DRAIN_LIMIT {
                    break;
                }
            } else if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                over = true;
                drained = bytes.len() + chunk.len();
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        if over {
            return Err(too_large());
        }
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
