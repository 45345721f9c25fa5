//! Dispatch of one request over its candidate routes: priority failover, 429 retries,
//! per-attempt timeouts inside one overall deadline, in-flight caps and passive
//! health; streaming with hold-back of role-only chunks before the first content so a
//! failure there can still fail over, and an in-band error event (never `[DONE]`) when
//! the upstream fails after content went out.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::Proxy;
use super::error::ProxyError;
use super::health::{Admission, FailureKind, Permit};
use super::snapshot::{Candidate, Prepared};
use super::upstream::ChatBody;
use crate::api::retry_after;

/// `x-switchyard-route`: provider name / upstream model that served the response.
pub const ROUTE_HEADER: &str = "x-switchyard-route";
/// `x-switchyard-attempts`: upstream calls made (429 retries included).
pub const ATTEMPTS_HEADER: &str = "x-switchyard-attempts";
/// `x-switchyard-slot`: the smart-model slot index that served the request.
pub const SLOT_HEADER: &str = "x-switchyard-slot";

/// Wait used for a 429 when the route's `retry_on_429_max_wait_secs` is 0, and for a
/// 429 without any `Retry-After`.
pub const BUILTIN_429_WAIT: Duration = Duration::from_secs(1);

/// Most SSE events / bytes held back before the first content chunk.
const HOLD_BACK_EVENTS: usize = 32;
const HOLD_BACK_BYTES: usize = 64 * 1024;

/// Why one attempt failed.
#[derive(Debug)]
struct Failure {
    /// Upstream status, if it answered.
    status: Option<u16>,
    timeout: bool,
    detail: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(detail: impl Into<String>) -> Self {
        Self { status: None, timeout: false, detail: detail.into(), retry_after: None }
    }
    fn timeout(detail: impl Into<String>) -> Self {
        Self { timeout: true, ..Self::new(detail) }
    }
}

/// A response that went (or is going) to the client, with what served it.
#[derive(Debug)]
pub struct Served {
    /// The response (headers added by [`Served::into_response`]).
    pub response: Response,
    /// `provider/model` that served it.
    pub route: String,
    /// Upstream calls made.
    pub attempts: u32,
}

impl Served {
    /// The response with `x-switchyard-route` and `x-switchyard-attempts`.
    #[must_use]
    pub fn into_response(self) -> Response {
        let mut resp = self.response;
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.route) {
            h.insert(HeaderName::from_static(ROUTE_HEADER), v);
        }
        h.insert(HeaderName::from_static(ATTEMPTS_HEADER), HeaderValue::from(self.attempts));
        resp
    }
}

/// A chain that produced no response, with the attempts made so far.
#[derive(Debug)]
pub struct Unserved {
    /// What the client gets.
    pub error: ProxyError,
    /// Upstream calls made.
    pub attempts: u32,
}

impl Unserved {
    /// The error response with `x-switchyard-attempts`.
    #[must_use]
    pub fn into_response(self) -> Response {
        let mut resp = axum::response::IntoResponse::into_response(self.error);
        resp.headers_mut().insert(HeaderName::from_static(ATTEMPTS_HEADER), HeaderValue::from(self.attempts));
        resp
    }
}

struct Timeouts {
    request: Duration,
    idle: Duration,
}

fn timeouts(p: &Proxy, c: &Candidate) -> Timeouts {
    let secs = |route: Option<u32>, anchor: Option<u32>, provider: Option<u32>, default: Duration| {
        route.or(anchor).or(provider).map_or(default, |s| Duration::from_secs(u64::from(s)))
    };
    Timeouts {
        request: secs(
            c.route.request_timeout_secs,
            c.anchor.request_timeout_secs,
            c.provider.request_timeout_secs,
            p.settings.default_request_timeout,
        ),
        idle: secs(
            c.route.stream_idle_timeout_secs,
            c.anchor.stream_idle_timeout_secs,
            c.provider.stream_idle_timeout_secs,
            p.settings.default_stream_idle_timeout,
        ),
    }
}

impl Proxy {
    /// Sends `body` (with `model` rewritten per route) through `candidates` in order.
    ///
    /// # Errors
    /// When no route produced a response: 501 (no supported family), 503 (all
    /// saturated or ejected, with `Retry-After`), 502/504 (every attempt failed).
    pub async fn dispatch(&self, candidates: &[Candidate], body: &ChatBody) -> Result<Served, Unserved> {
        let deadline = Instant::now() + self.settings.max_request;
        let cfg = self.health.config;
        let mut attempts: u32 = 0;
        let mut failures: Vec<String> = Vec::new();
        let mut all_timeouts = true;
        let mut unsupported: Vec<String> = Vec::new();
        let mut unavailable: Vec<String> = Vec::new();
        let mut soonest: Option<Duration> = None;
        for cand in candidates {
            let ep = match &cand.upstream.endpoint {
                Ok(ep) => ep,
                Err(why) => {
                    unsupported.push(why.clone());
                    continue;
                }
            };
            let state = self.health.route(cand.provider.id, &cand.route.upstream_model);
            let cap = cand.route.max_in_flight.or(cand.anchor.max_in_flight);
            let t = timeouts(self, cand);
            let payload = Bytes::from(body.with_model(&cand.route.upstream_model));
            let mut retries_left = cand.route.retry_on_429_count;
            loop {
                let permit = match state.admit(cap, &cfg) {
                    Ok(p) => p,
                    Err(Admission::Saturated) => {
                        unavailable.push(format!("{}: at its in-flight cap ({})", cand.label(), cap.unwrap_or(0)));
                        soonest = Some(soonest.map_or(Duration::from_secs(1), |s| s.min(Duration::from_secs(1))));
                        break;
                    }
                    Err(Admission::Ejected(left)) => {
                        unavailable.push(format!("{}: ejected for {}s more", cand.label(), left.as_secs()));
                        soonest = Some(soonest.map_or(left, |s| s.min(left)));
                        break;
                    }
                    Err(Admission::Open | Admission::Probe) => break,
                };
                if Instant::now() >= deadline {
                    return Err(self.deadline_error(attempts, &failures));
                }
                attempts += 1;
                self.metrics.attempt_started();
                match self.attempt(ep, payload.clone(), body.stream, &t, deadline, permit).await {
                    Ok(response) => return Ok(Served { response, route: cand.label().to_owned(), attempts }),
                    Err((f, mut permit)) if f.status == Some(429) => {
                        let cap_wait = match cand.route.retry_on_429_max_wait_secs {
                            0 => None,
                            s => Some(Duration::from_secs(u64::from(s))),
                        };
                        // Cap 0: the built-in wait, header ignored. Otherwise the hint
                        // (1 s without one) if it fits under the cap.
                        let wait = match cap_wait {
                            None => Some(BUILTIN_429_WAIT),
                            Some(cap) => {
                                let hint = f.retry_after.unwrap_or(BUILTIN_429_WAIT.min(cap));
                                (hint <= cap).then_some(hint)
                            }
                        };
                        all_timeouts = false;
                        match wait {
                            Some(w) if retries_left > 0 && Instant::now() + w < deadline => {
                                retries_left -= 1;
                                drop(permit); // a retried 429 judges nothing yet
                                tokio::time::sleep(w).await;
                            }
                            _ => {
                                permit.failure(FailureKind::RateLimited);
                                let why = match (wait, f.retry_after) {
                                    (None, Some(h)) => format!(
                                        "429, Retry-After {}s exceeds retry_on_429_max_wait_secs {}",
                                        h.as_secs(),
                                        cand.route.retry_on_429_max_wait_secs
                                    ),
                                    _ => format!("429 after {} retries", cand.route.retry_on_429_count - retries_left),
                                };
                                failures.push(format!("{}: {why}", cand.label()));
                                break;
                            }
                        }
                    }
                    Err((f, mut permit)) => {
                        permit.failure(FailureKind::Upstream);
                        all_timeouts &= f.timeout;
                        failures.push(format!("{}: {}", cand.label(), f.detail));
                        break;
                    }
                }
            }
        }
        let error = if attempts == 0 && unavailable.is_empty() && !unsupported.is_empty() {
            ProxyError::new(
                StatusCode::NOT_IMPLEMENTED,
                "api_error",
                "unsupported_provider_family",
                unsupported.join("; "),
            )
        } else if attempts == 0 && !unavailable.is_empty() {
            let mut e = ProxyError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "no_route_available",
                format!("every route is saturated or ejected: {}", unavailable.join("; ")),
            );
            e.retry_after_secs = Some(soonest.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64));
            e
        } else {
            let mut all: Vec<String> = failures;
            all.extend(unavailable);
            all.extend(unsupported);
            let (status, code) = if all_timeouts {
                (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
            } else {
                (StatusCode::BAD_GATEWAY, "all_routes_failed")
            };
            ProxyError::new(status, "api_error", code, format!("every route failed: {}", all.join("; ")))
        };
        Err(Unserved { error, attempts })
    }

    fn deadline_error(&self, attempts: u32, failures: &[String]) -> Unserved {
        Unserved {
            error: ProxyError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                "deadline_exceeded",
                format!(
                    "the request's overall deadline ({}s) passed; tried: {}",
                    self.settings.max_request.as_secs(),
                    failures.join("; ")
                ),
            ),
            attempts,
        }
    }

    /// One upstream call. `Ok` is a response for the client (success or a client
    /// error relayed as is); `Err` means try elsewhere (or retry, for a 429).
    async fn attempt(
        &self,
        ep: &Prepared,
        payload: Bytes,
        stream: bool,
        t: &Timeouts,
        deadline: Instant,
        mut permit: Permit,
    ) -> Result<Response, (Failure, Permit)> {
        let start = Instant::now();
        let attempt_end = deadline.min(start + t.request);
        let mut req = self
            .client
            .post(ep.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, if stream { "text/event-stream" } else { "application/json" })
            .body(payload);
        if let Some((name, value)) = &ep.auth {
            req = req.header(name.clone(), value.clone());
        }
        // Time to the response head: the idle timeout for streams, the request
        // timeout otherwise; never past the overall deadline.
        let head_end = if stream { attempt_end.min(start + t.idle) } else { attempt_end };
        let resp = match tokio::time::timeout_at(head_end.into(), req.send()).await {
            Err(_) => {
                let f = Failure::timeout(format!(
                    "no response within {}ms",
                    head_end.saturating_duration_since(start).as_millis()
                ));
                return Err((f, permit));
            }
            Ok(Err(e)) => return Err((Failure::new(describe(&e)), permit)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if status.is_redirection() || status.is_informational() {
            let f = Failure::new(format!(
                "HTTP {} (redirects are not followed; check the provider's base_url)",
                status.as_u16()
            ));
            return Err((f, permit));
        }
        if status.as_u16() == 429 || status.is_server_error() {
            let hint = retry_after(resp.headers());
            let f = Failure {
                status: Some(status.as_u16()),
                timeout: false,
                detail: format!("HTTP {}", status.as_u16()),
                retry_after: hint,
            };
            return Err((f, permit));
        }
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status.is_success() && stream && is_sse {
            return self.start_stream(resp, t.idle, attempt_end, permit).await;
        }
        // A whole body: a completion, or a client error relayed as it is.
        let headers = relay_headers(resp.headers());
        let body_end = if stream { attempt_end.min(Instant::now() + t.idle) } else { attempt_end };
        let bytes = match tokio::time::timeout_at(body_end.into(), resp.bytes()).await {
            Err(_) => return Err((Failure::timeout("response body did not complete in time"), permit)),
            Ok(Err(e)) => return Err((Failure::new(format!("response body failed: {}", describe(&e))), permit)),
            Ok(Ok(b)) => b,
        };
        if status.is_success() && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err((Failure::new(format!("HTTP {} with a body that is not JSON", status.as_u16())), permit));
        }
        // The upstream answered; a relayed 4xx is the caller's problem, not the route's.
        permit.success();
        let mut out = Response::new(Body::from(bytes));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// Reads SSE events until the first one with content (holding back role-only
    /// and empty ones), then commits: the held events and everything after go to
    /// the client as they arrive.
    async fn start_stream(
        &self,
        resp: reqwest::Response,
        idle: Duration,
        attempt_end: Instant,
        mut permit: Permit,
    ) -> Result<Response, (Failure, Permit)> {
        let mut reader = SseReader { resp, buf: Vec::new(), idle };
        let mut held: Vec<u8> = Vec::new();
        let mut events = 0usize;
        let done_early;
        loop {
            let ev = match tokio::time::timeout_at(attempt_end.into(), reader.next_event()).await {
                Err(_) => return Err((Failure::timeout("no content before the request timeout"), permit)),
                Ok(Err(f)) => return Err((f, permit)),
                Ok(Ok(None)) => return Err((Failure::new("stream ended before any content (no [DONE])"), permit)),
                Ok(Ok(Some(ev))) => ev,
            };
            events += 1;
            held.extend_from_slice(&ev.raw);
            match ev.kind {
                EventKind::Done => {
                    done_early = true;
                    break;
                }
                EventKind::Malformed(why) => {
                    return Err((Failure::new(format!("malformed stream event: {why}")), permit));
                }
                EventKind::Error => {
                    return Err((Failure::new("upstream sent an error event before any content"), permit));
                }
                EventKind::Content => {
                    done_early = false;
                    break;
                }
                EventKind::Empty if events >= HOLD_BACK_EVENTS || held.len() >= HOLD_BACK_BYTES => {
                    done_early = false;
                    break;
                }
                EventKind::Empty => {}
            }
        }
        if done_early {
            permit.success();
        }
        let state = StreamState {
            reader,
            first: Some(Bytes::from(held)),
            done: done_early,
            finished: false,
            permit: Some(permit),
            _open: OpenStream::new(self.metrics.clone()),
        };
        let mut out = Response::new(Body::from_stream(futures_util::stream::unfold(state, StreamState::step)));
        let h = out.headers_mut();
        h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
        Ok(out)
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = if e.is_connect() {
        "connect error".to_owned()
    } else if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_body() || e.is_decode() {
        "broken response body".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Upstream headers worth passing to the client (content headers and request ids;
/// never hop-by-hop, length or cookies).
fn relay_headers(from: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in from {
        let n = k.as_str();
        if n == "content-type" || n == "x-request-id" || n.starts_with("openai-") || n.starts_with("x-ratelimit-") {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
enum EventKind {
    /// No content yet (role-only delta, empty content, comment, keep-alive).
    Empty,
    /// Carries content (or a finish reason, or anything we cannot call empty).
    Content,
    /// `data: [DONE]`.
    Done,
    /// An `{"error": ...}` event.
    Error,
    /// `data:` that is not JSON.
    Malformed(String),
}

struct Event {
    raw: Vec<u8>,
    kind: EventKind,
}

struct SseReader {
    resp: reqwest::Response,
    buf: Vec<u8>,
    idle: Duration,
}

/// End of the first event in `buf` (after its blank line), if complete.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn classify(raw: &[u8], inspect: bool) -> EventKind {
    let mut data: Vec<u8> = Vec::new();
    let mut any = false;
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            if any {
                data.push(b'\n');
            }
            any = true;
            data.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    if !any {
        return EventKind::Empty;
    }
    if data.as_slice() == b"[DONE]" {
        return EventKind::Done;
    }
    if !inspect {
        // After content went out only well-formedness matters.
        return match serde_json::from_slice::<ErrorProbe>(&data) {
            Ok(p) if p.error.is_some() => EventKind::Error,
            Ok(_) => EventKind::Content,
            Err(e) => EventKind::Malformed(e.to_string()),
        };
    }
    let v: Value = match serde_json::from_slice(&data) {
        Ok(v) => v,
        Err(e) => return EventKind::Malformed(e.to_string()),
    };
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return EventKind::Error;
    }
    let Some(choices) = v.get("choices").and_then(Value::as_array) else { return EventKind::Content };
    if choices.is_empty() {
        return EventKind::Empty;
    }
    for c in choices {
        if c.get("finish_reason").is_some_and(|f| !f.is_null()) {
            return EventKind::Content;
        }
        if let Some(delta) = c.get("delta").and_then(Value::as_object) {
            for (k, val) in delta {
                let empty = val.is_null() || val.as_str() == Some("") || (k == "role");
                if !empty {
                    return EventKind::Content;
                }
            }
        } else {
            return EventKind::Content;
        }
    }
    EventKind::Empty
}

/// Only the `error` member of an event, everything else skipped unparsed.
#[derive(serde::Deserialize)]
struct ErrorProbe {
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

impl SseReader {
    /// The next complete event. `Ok(None)` at the end of the body.
    async fn next_event_with(&mut self, inspect: bool) -> Result<Option<Event>, Failure> {
        loop {
            if let Some(end) = event_end(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..end).collect();
                let kind = classify(&raw, inspect);
                return Ok(Some(Event { raw, kind }));
            }
            match tokio::time::timeout(self.idle, self.resp.chunk()).await {
                Err(_) => return Err(Failure::timeout(format!("stream idle for {}s", self.idle.as_secs()))),
                Ok(Err(e)) => return Err(Failure::new(format!("stream broke: {}", describe(&e)))),
                Ok(Ok(None)) => {
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        return Ok(None);
                    }
                    // A last event without its blank line.
                    let raw = std::mem::take(&mut self.buf);
                    let kind = classify(&raw, inspect);
                    return Ok(Some(Event { raw, kind }));
                }
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
            }
        }
    }

    async fn next_event(&mut self) -> Result<Option<Event>, Failure> {
        self.next_event_with(true).await
    }

    /// Every complete event now buffered or in the next chunk, as one frame.
    async fn next_frame(&mut self) -> Result<Option<(Vec<u8>, bool)>, (Vec<u8>, Failure)> {
        let mut out = Vec::new();
        let mut done = false;
        loop {
            let have_complete = event_end(&self.buf).is_some();
            if !have_complete && !out.is_empty() {
                return Ok(Some((out, done)));
            }
            match self.next_event_with(false).await {
                Err(f) => return Err((out, f)),
                Ok(None) => return if out.is_empty() { Ok(None) } else { Ok(Some((out, done))) },
                Ok(Some(ev)) => match ev.kind {
                    EventKind::Malformed(why) => {
                        return Err((out, Failure::new(format!("malformed stream event: {why}"))));
                    }
                    EventKind::Done => {
                        out.extend_from_slice(&ev.raw);
                        done = true;
                        return Ok(Some((out, done)));
                    }
                    EventKind::Error => {
                        // Relay the upstream's own error event, then end.
                        out.extend_from_slice(&ev.raw);
                        return Err((out, Failure::new("upstream sent an error event")));
                    }
                    _ => out.extend_from_slice(&ev.raw),
                },
            }
        }
    }
}

struct StreamState {
    reader: SseReader,
    first: Option<Bytes>,
    done: bool,
    finished: bool,
    permit: Option<Permit>,
    _open: OpenStream,
}

/// Counts a relayed stream in `switchyard_streams_open` for as long as it lives.
struct OpenStream(std::sync::Arc<super::ProxyMetrics>);

impl OpenStream {
    fn new(metrics: std::sync::Arc<super::ProxyMetrics>) -> Self {
        metrics.stream_opened();
        Self(metrics)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

impl StreamState {
    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if let Some(first) = self.first.take() {
            return Some((Ok(first), self));
        }
        if self.finished {
            return None;
        }
        if self.done {
            // The client's answer is complete: end it now. Draining the rest of the
            // upstream body (so its connection can be reused) happens off the
            // client's path, bounded by the idle timeout.
            let SseReader { mut resp, idle, .. } = self.reader;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(idle, async { while let Ok(Some(_)) = resp.chunk().await {} }).await;
            });
            return None;
        }
        match self.reader.next_frame().await {
            Ok(Some((bytes, done))) => {
                if done {
                    self.done = true;
                    if let Some(p) = self.permit.as_mut() {
                        p.success();
                    }
                }
                Some((Ok(Bytes::from(bytes)), self))
            }
            Ok(None) => {
                self.finished = true;
                if let Some(p) = self.permit.as_mut() {
                    p.failure(FailureKind::Upstream);
                }
                let ev = error_event("upstream ended the stream without [DONE]; the answer may be incomplete");
                Some((Ok(ev), self))
            }
            Err((mut partial, f)) => {
                self.finished = true;
                if let Some(p) = self.permit.as_mut() {
                    p.failure(FailureKind::Upstream);
                }
                partial.extend_from_slice(&error_event(&format!("upstream stream failed: {}", f.detail)));
                Some((Ok(Bytes::from(partial)), self))
            }
        }
    }
}

/// The in-band error event that ends a broken stream (no `[DONE]` follows).
fn error_event(message: &str) -> Bytes {
    let v = serde_json::json!({"error": {"message": message, "type": "upstream_error", "code": "stream_interrupted"}});
    Bytes::from(format!("data: {v}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_of_either_style() {
        assert_eq!(event_end(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(event_end(b"data: a\r\n\r\n"), Some(11));
        assert_eq!(event_end(b"data: a\n"), None);
    }

    #[test]
    fn role_only_and_empty_chunks_are_not_content() {
        let role = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(classify(role, true), EventKind::Empty);
        assert_eq!(classify(b": keep-alive\n\n", true), EventKind::Empty);
        let content = br#"data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;
        assert_eq!(classify(content, true), EventKind::Content);
        let tool = br#"data: {"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#;
        assert_eq!(classify(tool, true), EventKind::Content);
        assert_eq!(classify(b"data: [DONE]\n\n", true), EventKind::Done);
        assert!(matches!(classify(b"data: {\"choices\": [\n\n", true), EventKind::Malformed(_)));
        assert!(matches!(classify(b"data: {\"choices\": [\n\n", false), EventKind::Malformed(_)));
        assert_eq!(classify(br#"data: {"error":{"message":"x"}}"#, false), EventKind::Error);
        assert_eq!(classify(content, false), EventKind::Content);
    }
}
