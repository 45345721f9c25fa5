//! `switchyard mock-upstream`: an OpenAI-compatible fake upstream for tests, benchmarks
//! and demos. Behaviour is scripted per model name; every call is counted.
//!
//! * `POST /v1/chat/completions` (and without `/v1`): JSON or SSE (`stream: true`).
//! * `GET /v1/models`: the scripted model names.
//! * `PUT /_mock/script`: replace the script (`{"<model>": [Step, ...]}`); each call to
//!   a model takes the next step, the last step repeats. Models without a script answer
//!   200 with a short completion.
//! * `GET /_mock/stats`: calls per model; `POST /_mock/reset`: clear script and counts.
//!
//! Must not: be used as a real upstream; it only exists to exercise the gateway.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One scripted answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Step {
    /// HTTP status (default 200).
    pub status: Option<u16>,
    /// `Retry-After` header value, verbatim (delta-seconds or an HTTP-date).
    pub retry_after: Option<String>,
    /// `retry-after-ms` header value.
    pub retry_after_ms: Option<u64>,
    /// Delay before the response starts.
    pub latency_ms: u64,
    /// Never answer (the connection stays open until the client gives up).
    pub hang: bool,
    /// Body to answer with instead of a generated completion.
    pub body: Option<Value>,
    /// Answer with this raw text (e.g. not JSON).
    pub raw_body: Option<String>,
    /// Content of the completion (default `Hello from <model>`), split into words for SSE.
    pub content: Option<String>,
    /// SSE: delay before the first content chunk.
    pub first_token_delay_ms: u64,
    /// SSE: delay between chunks.
    pub chunk_delay_ms: u64,
    /// SSE: close the connection after this many content chunks.
    pub cut_after: Option<usize>,
    /// SSE: stop sending (but keep the connection open) after this many content chunks.
    pub stall_after: Option<usize>,
    /// SSE: send a malformed chunk in place of content chunk number N.
    pub malformed_at: Option<usize>,
    /// SSE: end without `data: [DONE]`.
    pub omit_done: bool,
}

#[derive(Debug, Default)]
struct Shared {
    script: BTreeMap<String, Vec<Step>>,
    calls: BTreeMap<String, u64>,
}

/// Mock state.
#[derive(Debug, Clone, Default)]
pub struct Mock {
    shared: Arc<Mutex<Shared>>,
}

impl Mock {
    /// Records a call for `model` and returns the step to play.
    fn next_step(&self, model: &str) -> Step {
        let Ok(mut s) = self.shared.lock() else { return Step::default() };
        let n = {
            let c = s.calls.entry(model.to_owned()).or_insert(0);
            *c += 1;
            *c
        };
        s.script
            .get(model)
            .and_then(|steps| {
                let i = usize::try_from(n - 1).unwrap_or(usize::MAX).min(steps.len().saturating_sub(1));
                steps.get(i).cloned()
            })
            .unwrap_or_default()
    }
}

/// The mock's HTTP surface.
pub fn router(mock: Mock) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/_mock/script", put(set_script))
        .route("/_mock/stats", get(stats))
        .route("/stats", get(stats))
        .route("/_mock/reset", post(reset))
        .with_state(mock)
}

async fn set_script(State(m): State<Mock>, axum::Json(script): axum::Json<BTreeMap<String, Vec<Step>>>) -> StatusCode {
    if let Ok(mut s) = m.shared.lock() {
        s.script = script;
    }
    StatusCode::NO_CONTENT
}

async fn stats(State(m): State<Mock>) -> axum::Json<Value> {
    let calls = m.shared.lock().map(|s| s.calls.clone()).unwrap_or_default();
    axum::Json(json!({ "calls": calls }))
}

async fn reset(State(m): State<Mock>) -> StatusCode {
    if let Ok(mut s) = m.shared.lock() {
        *s = Shared::default();
    }
    StatusCode::NO_CONTENT
}

async fn models(State(m): State<Mock>) -> axum::Json<Value> {
    let names: Vec<String> = m.shared.lock().map(|s| s.script.keys().cloned().collect()).unwrap_or_default();
    axum::Json(
        json!({"object": "list", "data": names.iter().map(|n| json!({"id": n, "object": "model", "owned_by": "mock"})).collect::<Vec<_>>()}),
    )
}

fn completion(model: &str, content: &str) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": jiff::Timestamp::now().as_second(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": content.split_whitespace().count(), "total_tokens": 1 + content.split_whitespace().count()}
    })
}

fn chunk(model: &str, delta: &Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": jiff::Timestamp::now().as_second(),
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {c}\n\n")
}

async fn chat(State(m): State<Mock>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "mock: body is not JSON", "type": "invalid_request_error"}})),
        )
            .into_response();
    };
    let model = req["model"].as_str().unwrap_or("").to_owned();
    let stream = req["stream"].as_bool().unwrap_or(false);
    let step = m.next_step(&model);
    if step.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(step.latency_ms)).await;
    }
    if step.hang {
        std::future::pending::<()>().await;
    }
    let status = StatusCode::from_u16(step.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    let mut resp = if let Some(raw) = &step.raw_body {
        (status, raw.clone()).into_response()
    } else if let Some(b) = &step.body {
        (status, axum::Json(b.clone())).into_response()
    } else if !status.is_success() {
        let err = json!({"error": {"message": format!("mock: scripted {}", status.as_u16()), "type": "mock_error"}});
        (status, axum::Json(err)).into_response()
    } else if stream {
        sse(model, step.clone())
    } else {
        let content = step.content.clone().unwrap_or_else(|| format!("Hello from {model}"));
        (status, axum::Json(completion(&model, &content))).into_response()
    };
    if let Some(ra) = &step.retry_after
        && let Ok(v) = HeaderValue::from_str(ra)
    {
        resp.headers_mut().insert("retry-after", v);
    }
    if let Some(ms) = step.retry_after_ms
        && let Ok(v) = HeaderValue::from_str(&ms.to_string())
    {
        resp.headers_mut().insert("retry-after-ms", v);
    }
    resp
}

fn sse(model: String, step: Step) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let send = |s: String| {
            let tx = tx.clone();
            async move { tx.send(Ok(Bytes::from(s))).await.is_ok() }
        };
        if !send(chunk(&model, &json!({"role": "assistant"}), None)).await {
            return;
        }
        if step.first_token_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(step.first_token_delay_ms)).await;
        }
        let content = step.content.clone().unwrap_or_else(|| format!("Hello from {model}"));
        let words: Vec<String> = content.split_inclusive(' ').map(str::to_owned).collect();
        for (i, w) in words.iter().enumerate() {
            if step.cut_after == Some(i) {
                // Let what was sent reach the wire first: an error frame makes the
                // server abort the connection, dropping anything still buffered.
                while tx.capacity() < tx.max_capacity() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx.send(Err(std::io::Error::other("mock: stream cut"))).await;
                return;
            }
            if step.stall_after == Some(i) {
                std::future::pending::<()>().await;
            }
            if i > 0 && step.chunk_delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(step.chunk_delay_ms)).await;
            }
            let text = if step.malformed_at == Some(i) {
                "data: {\"choices\": [\n\n".to_owned()
            } else {
                chunk(&model, &json!({"content": w}), None)
            };
            if !send(text).await {
                return; // the client went away
            }
        }
        if !send(chunk(&model, &json!({}), Some("stop"))).await {
            return;
        }
        if !step.omit_done {
            let _ = send("data: [DONE]\n\n".to_owned()).await;
        }
    });
    let mut resp = Response::new(Body::new(ChannelBody { rx }));
    resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A response body fed by a channel: each message is sent as its own frame.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|r| r.map(http_body::Frame::data)))
    }
}

/// Serves a mock with `script` on `listener` until `cancel`.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    script: Option<BTreeMap<String, Vec<Step>>>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mock = Mock::default();
    if let Some(s) = script
        && let Ok(mut shared) = mock.shared.lock()
    {
        shared.script = s;
    }
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(mock)).with_graceful_shutdown(cancel.cancelled_owned()).await?;
    Ok(())
}

/// Binds, prints `listening on http://ADDR` on stdout, and serves until `cancel`.
///
/// # Errors
/// When the address cannot be bound or the script file read.
pub async fn run(
    listen: SocketAddr,
    script: Option<BTreeMap<String, Vec<Step>>>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    serve(listener, script, cancel).await
}
