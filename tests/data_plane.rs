//! The runtime data plane end to end: a real gateway process in front of a real
//! scripted `switchyard mock-upstream` (and, where the mock cannot misbehave the
//! right way, tiny raw TCP upstreams written here). Every test asserts the client's
//! status, body and `x-switchyard-*` headers and exactly how often each upstream
//! model was called.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use uuid::Uuid;

// ---------------------------------------------------------------- harness

/// A gateway with an admin client, one runtime key and a mock upstream.
struct Env {
    g: Gateway,
    c: Client,
    m: Mock,
    key: String,
    http: reqwest::Client,
}

/// What the client got back.
#[derive(Debug)]
struct Reply {
    status: u16,
    route: Option<String>,
    attempts: Option<u32>,
    slot: Option<String>,
    retry_after: Option<String>,
    content_type: Option<String>,
    text: String,
    elapsed: Duration,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {}", self.text))
    }
    /// `error.code` of an error envelope.
    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    }
    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or("").to_owned()
    }
    /// `choices[0].message.content` of a completion.
    fn content(&self) -> String {
        self.json()["choices"][0]["message"]["content"].as_str().unwrap_or("").to_owned()
    }
    /// Asserts status, serving route and attempts in one go.
    fn served(&self, status: u16, route: &str, attempts: u32) {
        assert_eq!(self.status, status, "status; body {}", self.text);
        assert_eq!(self.route.as_deref(), Some(route), "x-switchyard-route; body {}", self.text);
        assert_eq!(self.attempts, Some(attempts), "x-switchyard-attempts; body {}", self.text);
    }
    /// Asserts an error envelope with `status` and `code` (and the OpenAI shape).
    fn failed(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body {}", self.text);
        let v = self.json();
        let inner = v["error"].as_object().unwrap_or_else(|| panic!("no error envelope: {}", self.text));
        for k in ["message", "type", "param", "code"] {
            assert!(inner.contains_key(k), "envelope lacks `{k}`: {}", self.text);
        }
        assert_eq!(self.code(), code, "error code; body {}", self.text);
        assert_eq!(self.route, None, "an unserved request names no route");
    }
}

async fn reply(resp: reqwest::Response, start: Instant) -> Reply {
    let status = resp.status().as_u16();
    let h = resp.headers();
    let hdr = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let route = hdr("x-switchyard-route");
    let attempts = hdr("x-switchyard-attempts").map(|v| v.parse().expect("numeric attempts"));
    let slot = hdr("x-switchyard-slot");
    let retry_after = hdr("retry-after");
    let content_type = hdr("content-type");
    let text = resp.text().await.expect("the reply body ends cleanly");
    Reply { status, route, attempts, slot, retry_after, content_type, text, elapsed: start.elapsed() }
}

fn merge(mut base: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

impl Env {
    async fn new() -> Self {
        Self::with(&[]).await
    }

    async fn with(args: &[&str]) -> Self {
        let g = Gateway::start_with(args);
        let c = Client::new(&g, Uuid::new_v4(), "admin");
        Self::finish(g, c).await
    }

    async fn finish(g: Gateway, c: Client) -> Self {
        let m = Mock::start();
        let k = c.post("/admin/api-keys", json!({"name": "t"})).await;
        assert_eq!(k.status, 200, "{}", k.body);
        let key = k.body["key"].as_str().expect("key").to_owned();
        Self { g, c, m, key, http: reqwest::Client::new() }
    }

    /// A `custom` provider on the mock with 1:1 `models`; returns its id.
    async fn provider(&self, name: &str, models: &[&str]) -> String {
        self.provider_at(name, "custom", &self.m.v1(), models).await
    }

    async fn provider_at(&self, name: &str, family: &str, base_url: &str, models: &[&str]) -> String {
        let r = self
            .c
            .post(
                "/admin/providers",
                json!({"name": name, "model_provider": family, "base_url": base_url, "api_key": "x", "models": models}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// A route `alias` -> `upstream` on `provider` with `priority` and `extra` fields.
    async fn route(&self, provider: &str, alias: &str, upstream: &str, priority: u32, extra: &Value) -> String {
        let body = merge(
            json!({"provider_id": provider, "model_alias": alias, "upstream_model": upstream, "priority": priority}),
            extra,
        );
        let r = self.c.post("/admin/model-mappings", body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Providers `A` (model `prim`) and `B` (model `back`) and alias `chat` routing
    /// to `A/prim` (priority 1, with `primary`) then `B/back` (priority 2).
    async fn failover(&self, primary: &Value) -> (String, String) {
        let a = self.provider("A", &["prim"]).await;
        let b = self.provider("B", &["back"]).await;
        self.route(&a, "chat", "prim", 1, primary).await;
        self.route(&b, "chat", "back", 2, &json!({})).await;
        (a, b)
    }

    async fn post_raw(&self, path: &str, body: String, key: Option<&str>) -> Reply {
        let start = Instant::now();
        let mut req = self.http.post(format!("{}{path}", self.g.base)).header("content-type", "application/json");
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        reply(req.body(body).send().await.expect("send"), start).await
    }

    async fn post(&self, body: &Value) -> Reply {
        self.post_raw("/v1/chat/completions", body.to_string(), Some(&self.key)).await
    }

    async fn chat(&self, model: &str) -> Reply {
        self.post(&chat_body(model, false)).await
    }

    async fn stream(&self, model: &str) -> Reply {
        self.post(&chat_body(model, true)).await
    }

    async fn calls(&self, model: &str) -> u64 {
        self.m.calls(model).await
    }

    /// Asserts the exact call count of every named mock model.
    async fn assert_calls(&self, expected: &[(&str, u64)]) {
        for (model, n) in expected {
            assert_eq!(self.calls(model).await, *n, "calls to mock model `{model}`");
        }
    }

    /// The route-health row of `provider/model`.
    async fn health(&self, provider: &str, model: &str) -> Value {
        let r = self.c.get("/admin/llm-gw/route-health").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .find(|h| h["provider_name"] == provider && h["upstream_model"] == model)
            .unwrap_or_else(|| panic!("no route-health row for {provider}/{model}: {}", r.body))
            .clone()
    }
}

/// The SSE events of a stream body, without their blank lines.
fn events(text: &str) -> Vec<&str> {
    text.split("\n\n").filter(|e| !e.trim().is_empty()).collect()
}

/// A relayed stream that broke after content: the last event is the gateway's
/// `stream_interrupted` error and no `[DONE]` was sent.
fn assert_interrupted(r: &Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    let events = events(&r.text);
    assert!(!events.contains(&"data: [DONE]"), "a broken stream must not end with [DONE]: {}", r.text);
    let last = *events.last().expect("at least one event");
    let v: Value = serde_json::from_str(last.strip_prefix("data: ").expect("a data event")).expect("JSON event");
    assert_eq!(v["error"]["code"], "stream_interrupted", "{}", r.text);
    assert_eq!(v["error"]["type"], "upstream_error", "{}", r.text);
    v
}

/// A complete relayed stream ending with `[DONE]`.
fn assert_complete_stream(r: &Reply) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("text/event-stream"));
    assert!(r.text.ends_with("data: [DONE]\n\n"), "{}", r.text);
    assert!(!r.text.contains("stream_interrupted"), "{}", r.text);
}

/// A base URL whose port has nothing listening (connection refused).
fn dead_base_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}

/// An upstream that accepts each connection and resets it at once (SO_LINGER 0).
/// Returns its base URL and the number of connections it accepted.
async fn resetting_upstream() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            n.fetch_add(1, Ordering::SeqCst);
            let _ = s.set_zero_linger();
            drop(s);
        }
    });
    (format!("http://{addr}/v1"), accepted)
}

/// A captured upstream request: head (request line and headers) and body.
#[derive(Debug, Clone)]
struct Captured {
    head: String,
    body: Vec<u8>,
}

/// An HTTP/1.1 upstream that reads each request whole, records it, writes
/// `response` verbatim and closes the connection.
async fn raw_upstream(response: Vec<u8>) -> (String, Arc<Mutex<Vec<Captured>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let response = Arc::new(response);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let log = log.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                log.lock().unwrap().push(Captured { head, body: buf[head_end..head_end + len].to_vec() });
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/v1"), seen)
}

/// A close-delimited `200 text/event-stream` response with `body`.
fn sse_response(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}").into_bytes()
}

/// Polls `f` every 50 ms until it holds or `within` passes.
async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- 429 retries

#[tokio::test]
async fn a_429_without_retry_after_is_retried_on_the_same_route_after_the_builtin_second() {
    let e = Env::new().await;
    e.failover(&json!({"retry_on_429_count": 1, "retry_on_429_max_wait_secs": 5})).await;
    e.m.script(json!({"prim": [{"status": 429}, {}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "A/prim", 2);
    assert_eq!(r.content(), "Hello from prim");
    assert!(r.elapsed >= Duration::from_millis(950), "waited the built-in 1 s: {:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(4), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 2), ("back", 0)]).await;
}

#[tokio::test]
async fn retry_after_and_retry_after_ms_set_the_wait_and_max_wait_zero_ignores_them() {
    let e = Env::new().await;
    let a = e.provider("A", &["secs", "millis", "capzero", "date"]).await;
    e.route(&a, "date", "date", 1, &json!({"retry_on_429_count": 1, "retry_on_429_max_wait_secs": 5})).await;
    e.route(&a, "secs", "secs", 1, &json!({"retry_on_429_count": 2, "retry_on_429_max_wait_secs": 5})).await;
    e.route(&a, "millis", "millis", 1, &json!({"retry_on_429_count": 1, "retry_on_429_max_wait_secs": 1})).await;
    e.route(&a, "capzero", "capzero", 1, &json!({"retry_on_429_count": 1, "retry_on_429_max_wait_secs": 0})).await;
    e.m.script(json!({
        "secs": [{"status": 429, "retry_after": "1"}, {"status": 429, "retry_after": "1"}, {"content": "third time"}],
        "millis": [{"status": 429, "retry_after_ms": 200}, {"content": "soon"}],
        // Cap 0: the built-in 1 s, the 30 s hint ignored.
        "capzero": [{"status": 429, "retry_after": "30"}, {"content": "built-in"}],
        // An HTTP-date in the past: retry at once.
        "date": [{"status": 429, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"content": "dated"}],
    }))
    .await;

    // Routes on 1:1 rows (alias == model) are called as `<provider>/<model>`.
    let r = e.chat("A/secs").await;
    r.served(200, "A/secs", 3);
    assert_eq!(r.content(), "third time");
    assert!(r.elapsed >= Duration::from_millis(1950), "two waits of Retry-After 1: {:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);

    let r = e.chat("A/millis").await;
    r.served(200, "A/millis", 2);
    assert_eq!(r.content(), "soon");
    assert!(r.elapsed >= Duration::from_millis(190), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_millis(950), "retry-after-ms 200 honoured, not 1 s: {:?}", r.elapsed);

    let r = e.chat("A/capzero").await;
    r.served(200, "A/capzero", 2);
    assert_eq!(r.content(), "built-in");
    assert!(r.elapsed >= Duration::from_millis(950), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(5), "the 30 s hint is ignored: {:?}", r.elapsed);

    let r = e.chat("A/date").await;
    r.served(200, "A/date", 2);
    assert_eq!(r.content(), "dated");
    assert!(r.elapsed < Duration::from_millis(950), "a past date means no wait: {:?}", r.elapsed);

    e.assert_calls(&[("secs", 3), ("millis", 2), ("capzero", 2), ("date", 2)]).await;
}

#[tokio::test]
async fn retry_after_above_the_cap_fails_over_at_once() {
    let e = Env::new().await;
    e.failover(&json!({"retry_on_429_count": 3, "retry_on_429_max_wait_secs": 2})).await;
    e.m.script(json!({"prim": [{"status": 429, "retry_after": "30"}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert_eq!(r.content(), "Hello from back");
    assert!(r.elapsed < Duration::from_secs(3), "no wait at all: {:?}", r.elapsed);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;
}

// ---------------------------------------------------------------- failover

#[tokio::test]
async fn a_500_fails_over_once_and_the_next_request_goes_back_to_the_primary() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 500}, {}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert_eq!(r.content(), "Hello from back");
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;

    let r = e.chat("chat").await;
    r.served(200, "A/prim", 1);
    assert_eq!(r.content(), "Hello from prim");
    e.assert_calls(&[("prim", 2), ("back", 1)]).await;
    // One failure is far below the default threshold.
    assert_eq!(e.health("A", "prim").await["state"], "healthy");
}

#[tokio::test]
async fn persistent_503_everywhere_is_502_all_routes_failed_naming_both() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 503}], "back": [{"status": 503}]})).await;
    let r = e.chat("chat").await;
    r.failed(502, "all_routes_failed");
    assert_eq!(r.attempts, Some(2));
    let msg = r.message();
    assert!(msg.contains("A/prim: HTTP 503") && msg.contains("B/back: HTTP 503"), "{msg}");
    assert_eq!(r.json()["error"]["type"], "api_error");
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;

    // 529 (overloaded) fails over like a 5xx.
    e.m.script(json!({"prim": [{"status": 529}], "back": [{"content": "spare"}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert_eq!(r.content(), "spare");
    e.assert_calls(&[("prim", 2), ("back", 2)]).await;
}

#[tokio::test]
async fn a_connection_reset_fails_over_to_the_backup() {
    let e = Env::new().await;
    let (url, accepted) = resetting_upstream().await;
    let a = e.provider_at("A", "custom", &url, &["prim"]).await;
    let b = e.provider("B", &["back"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    e.route(&b, "chat", "back", 2, &json!({})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert_eq!(r.content(), "Hello from back");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "the reset upstream was tried once, not retried");
    e.assert_calls(&[("prim", 0), ("back", 1)]).await;
}

#[tokio::test]
async fn a_silent_upstream_times_out_and_fails_over() {
    let e = Env::new().await;
    e.failover(&json!({"request_timeout_secs": 1})).await;
    e.m.script(json!({"prim": [{"hang": true}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert!(r.elapsed >= Duration::from_millis(950), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;
}

#[tokio::test]
async fn only_timeouts_is_504_upstream_timeout() {
    let e = Env::new().await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({"request_timeout_secs": 1})).await;
    e.m.script(json!({"prim": [{"hang": true}]})).await;
    let r = e.chat("chat").await;
    r.failed(504, "upstream_timeout");
    assert_eq!(r.attempts, Some(1));
    assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 1)]).await;
}

#[tokio::test]
async fn the_overall_deadline_stops_the_failover_chain() {
    let e = Env::with(&["--max-request-secs", "1"]).await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"hang": true}]})).await;
    let r = e.chat("chat").await;
    r.failed(504, "deadline_exceeded");
    assert_eq!(r.attempts, Some(1));
    assert!(r.message().contains("A/prim"), "{}", r.message());
    assert!(r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn gateway_default_timeouts_apply_when_routes_set_none() {
    let e = Env::with(&["--default-request-timeout-secs", "1", "--default-stream-idle-timeout-secs", "1"]).await;
    e.failover(&json!({})).await;
    e.m.script(
        json!({"prim": [{"hang": true}, {"first_token_delay_ms": 3000}, {"content": "one two", "stall_after": 1}]}),
    )
    .await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert!(r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    let r = e.stream("chat").await;
    r.served(200, "B/back", 2);
    assert_complete_stream(&r);
    assert!(r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert_interrupted(&r);
    e.assert_calls(&[("prim", 3), ("back", 2)]).await;
}

#[tokio::test]
async fn every_route_refusing_connections_is_502() {
    let e = Env::new().await;
    let a = e.provider_at("A", "custom", &dead_base_url(), &["prim"]).await;
    let b = e.provider_at("B", "custom", &dead_base_url(), &["back"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    e.route(&b, "chat", "back", 2, &json!({})).await;
    let r = e.chat("chat").await;
    r.failed(502, "all_routes_failed");
    assert_eq!(r.attempts, Some(2));
    let msg = r.message();
    assert!(msg.contains("A/prim: connect error") && msg.contains("B/back: connect error"), "{msg}");
    assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
}

#[tokio::test]
async fn a_context_length_400_is_relayed_as_is_without_failover() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    let err = json!({"error": {"message": "maximum context length", "type": "invalid_request_error", "code": "context_length_exceeded"}});
    e.m.script(json!({"prim": [{"status": 400, "body": err}]})).await;
    let r = e.chat("chat").await;
    r.served(400, "A/prim", 1);
    assert_eq!(r.json(), err, "the upstream's body, unchanged");
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
    // A relayed client error does not count against the route.
    assert_eq!(e.health("A", "prim").await["consecutive_failures"], 0);
}

#[tokio::test]
async fn a_3xx_from_an_upstream_is_a_route_failure() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 307, "body": {"moved": true}}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;
}

// ---------------------------------------------------------------- streaming

#[tokio::test]
async fn a_slow_first_token_fails_over_and_the_client_sees_only_the_backup() {
    let e = Env::new().await;
    e.failover(&json!({"stream_idle_timeout_secs": 1})).await;
    e.m.script(json!({"prim": [{"first_token_delay_ms": 3000}]})).await;
    let r = e.stream("chat").await;
    r.served(200, "B/back", 2);
    assert_complete_stream(&r);
    assert!(r.text.contains("\"model\":\"back\""), "{}", r.text);
    assert!(!r.text.contains("\"model\":\"prim\""), "the primary's role chunk was held back: {}", r.text);
    assert!(r.text.contains("\"content\":\"Hello \""), "{}", r.text);
    assert!(r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;
}

#[tokio::test]
async fn a_stream_cut_after_content_ends_with_an_error_event_and_no_failover() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    // `chunk_delay_ms` lets the mock's server flush "one " and "two " before the cut
    // (see the ignored `..._cut_after_1_...` test for why).
    e.m.script(json!({"prim": [{"content": "one two three", "cut_after": 2, "chunk_delay_ms": 200}]})).await;
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert!(r.text.contains("\"content\":\"one \""), "{}", r.text);
    assert!(!r.text.contains("three"), "{}", r.text);
    let ev = assert_interrupted(&r);
    assert!(ev["error"]["message"].as_str().unwrap_or("").contains("stream broke"), "{ev}");
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn a_stream_cut_after_1_content_chunk_ends_with_an_error_event_and_no_failover() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"content": "one two three", "cut_after": 1}]})).await;
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert!(r.text.contains("\"content\":\"one \""), "{}", r.text);
    assert!(!r.text.contains("two"), "{}", r.text);
    assert_interrupted(&r);
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn a_stream_stalled_after_content_ends_with_an_error_event_after_the_idle_timeout() {
    let e = Env::new().await;
    e.failover(&json!({"stream_idle_timeout_secs": 1})).await;
    e.m.script(json!({"prim": [{"content": "one two three", "stall_after": 1}]})).await;
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert!(r.text.contains("\"content\":\"one \""), "{}", r.text);
    let ev = assert_interrupted(&r);
    assert!(ev["error"]["message"].as_str().unwrap_or("").contains("idle"), "{ev}");
    assert!(r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn a_malformed_chunk_fails_over_before_content_and_breaks_the_stream_after() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"content": "one two", "malformed_at": 0}, {"content": "one two", "malformed_at": 1}]}))
        .await;
    let r = e.stream("chat").await;
    r.served(200, "B/back", 2);
    assert_complete_stream(&r);
    assert!(!r.text.contains("\"model\":\"prim\""), "{}", r.text);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;

    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert!(r.text.contains("\"content\":\"one \""), "{}", r.text);
    assert!(!r.text.contains("{\"choices\": [\n"), "the malformed event is not relayed: {}", r.text);
    let ev = assert_interrupted(&r);
    assert!(ev["error"]["message"].as_str().unwrap_or("").contains("malformed"), "{ev}");
    e.assert_calls(&[("prim", 2), ("back", 1)]).await;
}

#[tokio::test]
async fn a_stream_without_done_ends_with_an_error_event() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"content": "all of it", "omit_done": true}]})).await;
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert!(r.text.contains("\"finish_reason\":\"stop\""), "everything the upstream sent is relayed: {}", r.text);
    let ev = assert_interrupted(&r);
    assert!(ev["error"]["message"].as_str().unwrap_or("").contains("[DONE]"), "{ev}");
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn garbage_sse_before_content_fails_over() {
    let e = Env::new().await;
    // A `data:` line that is not JSON, and an event stream with no `data:` at all.
    let (bad_data, seen_a) = raw_upstream(sse_response("data: <html>oops</html>\n\n")).await;
    let (no_data, seen_b) = raw_upstream(sse_response("<html>\n<body>oops</body>\n\n</html>\n\n")).await;
    // An error event before any content is a failure too.
    let (err_event, seen_c) = raw_upstream(sse_response(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"error\":{\"message\":\"oops, overloaded\"}}\n\n",
    ))
    .await;
    let a = e.provider_at("A", "custom", &bad_data, &["prim"]).await;
    let n = e.provider_at("N", "custom", &no_data, &["prim"]).await;
    let x = e.provider_at("X", "custom", &err_event, &["prim"]).await;
    let b = e.provider("B", &["back"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    e.route(&n, "chat", "prim", 2, &json!({})).await;
    e.route(&x, "chat", "prim", 3, &json!({})).await;
    e.route(&b, "chat", "back", 4, &json!({})).await;
    let r = e.stream("chat").await;
    r.served(200, "B/back", 4);
    assert_complete_stream(&r);
    assert!(!r.text.contains("oops"), "{}", r.text);
    assert_eq!(seen_a.lock().unwrap().len(), 1);
    assert_eq!(seen_b.lock().unwrap().len(), 1);
    assert_eq!(seen_c.lock().unwrap().len(), 1);
    e.assert_calls(&[("back", 1)]).await;
}

#[tokio::test]
async fn a_client_disconnect_mid_stream_frees_the_upstream() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    let words = (0..30).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    e.m.script(json!({"prim": [{"content": words, "chunk_delay_ms": 300}]})).await;
    let mut resp = e
        .http
        .post(format!("{}/v1/chat/completions", e.g.base))
        .bearer_auth(&e.key)
        .json(&chat_body("chat", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-route"], "A/prim");
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    assert!(String::from_utf8_lossy(&first).contains("\"content\":\"w0 \""), "{first:?}");
    assert_eq!(e.g.metric("switchyard_streams_open"), 1);
    assert_eq!(e.g.metric("switchyard_upstream_in_flight"), 1);
    assert_eq!(e.health("A", "prim").await["in_flight"], 1);
    drop(resp);
    let freed = eventually(Duration::from_secs(3), || async {
        e.g.metric("switchyard_streams_open") == 0 && e.g.metric("switchyard_upstream_in_flight") == 0
    })
    .await;
    assert!(
        freed,
        "streams_open {} upstream_in_flight {}",
        e.g.metric("switchyard_streams_open"),
        e.g.metric("switchyard_upstream_in_flight")
    );
    let h = e.health("A", "prim").await;
    assert_eq!(h["in_flight"], 0, "{h}");
    assert_eq!(h["consecutive_failures"], 0, "a client leaving does not judge the route: {h}");
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn a_client_leaving_before_the_answer_cancels_the_attempt_without_failover() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"hang": true}]})).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let sent = impatient
        .post(format!("{}/v1/chat/completions", e.g.base))
        .bearer_auth(&e.key)
        .json(&chat_body("chat", false))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up: {sent:?}");
    let freed = eventually(Duration::from_secs(2), || async { e.g.metric("switchyard_upstream_in_flight") == 0 }).await;
    assert!(freed, "in flight {}", e.g.metric("switchyard_upstream_in_flight"));
    // Nobody is waiting any more: no failover, and the route is not judged.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(e.g.metric("switchyard_upstream_attempts_total"), 1);
    let h = e.health("A", "prim").await;
    assert_eq!((h["in_flight"].as_u64(), h["consecutive_failures"].as_u64()), (Some(0), Some(0)), "{h}");
    e.assert_calls(&[("prim", 1), ("back", 0)]).await;
}

#[tokio::test]
async fn the_client_stream_ends_at_done_even_if_the_upstream_lingers() {
    let e = Env::new().await;
    // Sends one content event and [DONE] in a chunked body it never terminates.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf).await;
                let ev = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{ev}\r\n",
                    ev.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let a = e.provider_at("A", "custom", &format!("http://{addr}/v1"), &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({"stream_idle_timeout_secs": 5})).await;
    let r = e.stream("chat").await;
    r.served(200, "A/prim", 1);
    assert_complete_stream(&r);
    assert!(r.elapsed < Duration::from_secs(2), "the client waited {:?} after [DONE]", r.elapsed);
}

// ---------------------------------------------------------------- health and caps

#[tokio::test]
async fn a_flapping_primary_is_ejected_then_probed_back_to_healthy() {
    let e = Env::with(&[
        "--health-failure-threshold",
        "2",
        // 2 s rather than 1 s: room for the checks below on a loaded machine.
        "--health-cooldown-secs",
        "2",
        "--health-max-cooldown-secs",
        "4",
    ])
    .await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 503}, {"status": 503}, {"content": "recovered"}]})).await;

    for n in 1..=2 {
        let r = e.chat("chat").await;
        r.served(200, "B/back", 2);
        e.assert_calls(&[("prim", n), ("back", n)]).await;
    }
    // Ejected: straight to the backup, the primary is not called.
    let r = e.chat("chat").await;
    r.served(200, "B/back", 1);
    e.assert_calls(&[("prim", 2), ("back", 3)]).await;
    let h = e.health("A", "prim").await;
    assert_eq!(h["state"], "ejected", "{h}");
    assert_eq!(h["cooldown_reason"], "rolling_failures", "{h}");
    assert_eq!(h["consecutive_failures"], 2, "{h}");
    assert!((1..=2).contains(&h["eject_remaining_secs"].as_u64().unwrap()), "{h}");
    assert_eq!(e.health("B", "back").await["state"], "healthy");

    // After the cooldown one probe reaches the primary and makes it healthy.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = e.chat("chat").await;
    r.served(200, "A/prim", 1);
    assert_eq!(r.content(), "recovered");
    e.assert_calls(&[("prim", 3), ("back", 3)]).await;
    let h = e.health("A", "prim").await;
    assert_eq!(h["state"], "healthy", "{h}");
    assert_eq!(h["cooldown_reason"], Value::Null, "{h}");
    let moves: Vec<(String, String, String)> = h["recent_transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["from"].as_str().unwrap().into(), t["to"].as_str().unwrap().into(), t["reason"].as_str().unwrap().into())
        })
        .collect();
    let want = [
        ("healthy", "ejected", "rolling_failures"),
        ("ejected", "half_open", "cooldown_elapsed"),
        ("half_open", "healthy", "probe_succeeded"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(moves, want, "{h}");
}

#[tokio::test]
async fn a_failed_probe_re_ejects_with_a_doubled_cooldown_up_to_the_max() {
    let e = Env::with(&[
        "--health-failure-threshold",
        "1",
        "--health-cooldown-secs",
        "1.5",
        "--health-max-cooldown-secs",
        "2",
    ])
    .await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 503}, {"status": 503}, {"content": "finally"}]})).await;
    e.chat("chat").await.served(200, "B/back", 2);
    let h = e.health("A", "prim").await;
    assert_eq!((h["state"].as_str(), h["multiplier"].as_f64()), (Some("ejected"), Some(1.0)), "{h}");

    tokio::time::sleep(Duration::from_millis(1600)).await;
    // The probe fails: ejected again for min(1.5 s x 2, 2 s).
    e.chat("chat").await.served(200, "B/back", 2);
    let h = e.health("A", "prim").await;
    assert_eq!((h["state"].as_str(), h["multiplier"].as_f64()), (Some("ejected"), Some(2.0)), "{h}");
    assert_eq!(h["recent_transitions"].as_array().unwrap().last().unwrap()["from"], "half_open", "{h}");
    e.assert_calls(&[("prim", 2), ("back", 2)]).await;

    tokio::time::sleep(Duration::from_millis(800)).await;
    e.chat("chat").await.served(200, "B/back", 1);
    e.assert_calls(&[("prim", 2), ("back", 3)]).await;

    // 2.1 s after the re-ejection: past the capped cooldown (not the doubled 3 s).
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = e.chat("chat").await;
    r.served(200, "A/prim", 1);
    assert_eq!(r.content(), "finally");
    assert_eq!(e.health("A", "prim").await["state"], "healthy");
    e.assert_calls(&[("prim", 3), ("back", 3)]).await;
}

#[tokio::test]
async fn the_reset_endpoint_readmits_a_freshly_ejected_route() {
    let e = Env::with(&["--health-failure-threshold", "2", "--health-cooldown-secs", "30"]).await;
    let (a, _) = e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"status": 503}, {"status": 503}, {"content": "after reset"}]})).await;
    for _ in 0..2 {
        e.chat("chat").await.served(200, "B/back", 2);
    }
    let h = e.health("A", "prim").await;
    assert_eq!(h["state"], "ejected", "{h}");
    assert!(h["eject_remaining_secs"].as_u64().unwrap() > 20, "{h}");
    // Called alone, the ejected route is 503 with the rest of its cooldown.
    let r = e.chat("A/prim").await;
    r.failed(503, "no_route_available");
    assert_eq!(r.attempts, Some(0));
    let wait: u64 = r.retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!((20..=30).contains(&wait), "{r:?}");
    assert!(r.message().contains("A/prim: ejected for"), "{}", r.message());
    e.assert_calls(&[("prim", 2), ("back", 2)]).await;

    let r = e.c.post(&format!("/admin/llm-gw/route-health/{a}/reset"), json!({"upstream_model": "prim"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"provider_id": a, "upstream_model": "prim", "was_ejected": true, "shared_state_cleared": false})
    );
    let h = e.health("A", "prim").await;
    assert_eq!((h["state"].as_str(), h["consecutive_failures"].as_u64()), (Some("healthy"), Some(0)), "{h}");

    let r = e.chat("chat").await;
    r.served(200, "A/prim", 1);
    assert_eq!(r.content(), "after reset");
    e.assert_calls(&[("prim", 3), ("back", 2)]).await;

    let again = e.c.post(&format!("/admin/llm-gw/route-health/{a}/reset"), json!({"upstream_model": "prim"})).await;
    assert_eq!(again.body["was_ejected"], false, "{}", again.body);
    let unknown = e.c.post(&format!("/admin/llm-gw/route-health/{a}/reset"), json!({"upstream_model": "nope"})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[tokio::test]
async fn a_saturated_route_is_skipped_and_alone_it_is_503_with_retry_after() {
    let e = Env::new().await;
    e.failover(&json!({"max_in_flight": 1})).await;
    let s = e.provider("S", &["only"]).await;
    e.route(&s, "solo", "only", 1, &json!({"max_in_flight": 1})).await;
    e.m.script(json!({"prim": [{"latency_ms": 2000}], "only": [{"latency_ms": 2000}]})).await;
    assert_eq!(e.health("A", "prim").await["concurrency_cap"], 1);

    let e = Arc::new(e);
    let slow = {
        let e = e.clone();
        tokio::spawn(async move { e.chat("chat").await })
    };
    assert!(eventually(Duration::from_millis(1500), || async { e.health("A", "prim").await["in_flight"] == 1 }).await);
    let r = e.chat("chat").await;
    r.served(200, "B/back", 1);
    assert!(r.elapsed < Duration::from_millis(1500), "the backup did not wait for the primary: {:?}", r.elapsed);
    let r = slow.await.unwrap();
    r.served(200, "A/prim", 1);
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;

    let slow = {
        let e = e.clone();
        tokio::spawn(async move { e.chat("solo").await })
    };
    assert!(eventually(Duration::from_millis(1500), || async { e.health("S", "only").await["in_flight"] == 1 }).await);
    let r = e.chat("solo").await;
    r.failed(503, "no_route_available");
    assert_eq!(r.retry_after.as_deref(), Some("1"), "{r:?}");
    assert_eq!(r.attempts, Some(0));
    assert!(r.message().contains("S/only: at its in-flight cap (1)"), "{}", r.message());
    slow.await.unwrap().served(200, "S/only", 1);
    e.assert_calls(&[("only", 1)]).await;
    assert_eq!(e.health("S", "only").await["in_flight"], 0);
}

// ---------------------------------------------------------------- smart models

#[tokio::test]
async fn smart_model_follows_the_determiner_and_falls_back_on_nonsense_or_timeout() {
    let e = Env::with(&["--determiner-timeout-ms", "500"]).await;
    let a = e.provider("A", &["det", "small", "large"]).await;
    e.route(&a, "router", "det", 1, &json!({})).await;
    e.route(&a, "fast", "small", 1, &json!({})).await;
    e.route(&a, "strong", "large", 1, &json!({})).await;
    let smart = json!({
        "model_alias": "smart",
        "determiner_model_alias": "router",
        "slots": [{"model_alias": "fast", "label": "simple"}, {"model_alias": "strong", "label": "complex"}],
        "context_breakpoints": [4000],
        "default_slot_on_failure": 0,
    });
    let r = e.c.post("/admin/smart-models", smart.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Each chat and each preview asks the determiner once, in this order.
    e.m.script(json!({"det": [
        {"content": "1"}, {"content": "1"},
        {"content": "banana"}, {"content": "banana"},
        {"content": "0"},
        {"hang": true},
    ]}))
    .await;
    let preview = |text: &str, token_count: Option<u64>| {
        let mut body = merge(smart.clone(), &json!({"text": text}));
        if let Some(t) = token_count {
            body["token_count"] = json!(t);
        }
        let c = e.c.clone();
        async move {
            let r = c.post("/admin/smart-models/preview", body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        }
    };

    // The determiner answers "1".
    let r = e.chat("smart").await;
    r.served(200, "A/large", 1);
    assert_eq!(r.slot.as_deref(), Some("1"));
    e.assert_calls(&[("det", 1), ("large", 1), ("small", 0)]).await;
    let p = preview("hi", None).await;
    assert_eq!(p["target_model_alias"], "strong", "{p}");
    let d = &p["decision"];
    assert_eq!(
        (&d["slot_index"], &d["slot_label"], &d["reason"], &d["floor_slot"]),
        (&json!(1), &json!("complex"), &json!("determiner"), &json!(0)),
        "{p}"
    );
    assert_eq!((&d["determiner_output"], &d["determiner_route"]), (&json!("1"), &json!("A/det")), "{p}");
    assert_eq!(d["determiner_error"], Value::Null, "{p}");
    e.assert_calls(&[("det", 2)]).await;

    // Nonsense: default_slot_on_failure.
    let r = e.chat("smart").await;
    r.served(200, "A/small", 1);
    assert_eq!(r.slot.as_deref(), Some("0"));
    e.assert_calls(&[("det", 3), ("large", 1), ("small", 1)]).await;
    let p = preview("hi", None).await;
    let d = &p["decision"];
    assert_eq!((&d["slot_index"], &d["reason"]), (&json!(0), &json!("determiner_failed")), "{p}");
    assert_eq!(d["determiner_output"], "banana", "{p}");
    assert!(d["determiner_error"].is_string(), "{p}");
    assert_eq!(p["target_model_alias"], "fast", "{p}");
    e.assert_calls(&[("det", 4)]).await;

    // A choice below the token floor is raised to the floor (three slots, the
    // estimate above the first breakpoint, the determiner says 0).
    let three = json!({
        "model_alias": "smart3", "determiner_model_alias": "router", "text": "hi", "token_count": 5000,
        "slots": [{"model_alias": "fast", "label": "simple"}, {"model_alias": "strong", "label": "complex"},
                  {"model_alias": "strong", "label": "huge"}],
        "context_breakpoints": [4000, 100_000],
    });
    let r = e.c.post("/admin/smart-models/preview", three).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["decision"];
    assert_eq!(
        (&d["slot_index"], &d["reason"], &d["floor_slot"], &d["determiner_output"]),
        (&json!(1), &json!("determiner_clamped"), &json!(1), &json!("0")),
        "{}",
        r.body
    );
    e.assert_calls(&[("det", 5)]).await;

    // Timeout: default slot, quickly.
    let r = e.chat("smart").await;
    r.served(200, "A/small", 1);
    assert_eq!(r.slot.as_deref(), Some("0"));
    assert!(r.elapsed >= Duration::from_millis(450) && r.elapsed < Duration::from_millis(2000), "{:?}", r.elapsed);
    e.assert_calls(&[("det", 6), ("large", 1), ("small", 2)]).await;
    let p = preview("hi", None).await;
    let d = &p["decision"];
    assert_eq!((&d["slot_index"], &d["reason"]), (&json!(0), &json!("determiner_failed")), "{p}");
    assert_eq!(d["determiner_output"], Value::Null, "{p}");
    assert!(d["determiner_error"].as_str().unwrap_or("").contains("timed out"), "{p}");
    e.assert_calls(&[("det", 7)]).await;

    // Above the breakpoint only the last slot is allowed: no determiner call.
    let p = preview("hi", Some(5000)).await;
    let d = &p["decision"];
    assert_eq!(
        (&d["slot_index"], &d["reason"], &d["floor_slot"], &d["token_estimate"], &d["token_estimate_method"]),
        (&json!(1), &json!("breakpoint_floor"), &json!(1), &json!(5000), &json!("supplied")),
        "{p}"
    );
    assert_eq!(d["determiner_output"], Value::Null, "{p}");
    let huge = json!({"model": "smart", "messages": [{"role": "user", "content": "word ".repeat(100_000)}]});
    let r = e.post(&huge).await;
    r.served(200, "A/large", 1);
    assert_eq!(r.slot.as_deref(), Some("1"));
    e.assert_calls(&[("det", 7), ("large", 2), ("small", 2)]).await;
}

// ---------------------------------------------------------------- bad input and auth

#[tokio::test]
async fn bad_request_bodies_and_unknown_models() {
    let e = Env::new().await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    let key = Some(e.key.as_str());
    for (body, status, code) in [
        ("{\"model\": ", 400, "invalid_json"),
        ("[1, 2]", 400, "invalid_json"),
        ("{\"messages\": []}", 400, "missing_model"),
        ("{\"model\": 5}", 400, "invalid_model"),
        ("{\"model\": \"\"}", 400, "invalid_model"),
        ("{\"model\": \"nope\"}", 404, "model_not_found"),
        ("{\"model\": \"A/nope\"}", 404, "model_not_found"),
        ("{\"model\": \"Z/prim\"}", 404, "model_not_found"),
    ] {
        let r = e.post_raw("/v1/chat/completions", body.to_owned(), key).await;
        r.failed(status, code);
        assert_eq!(r.attempts, None, "{body}: no dispatch happened");
    }
    let r = e.chat("nope").await;
    assert!(r.message().contains("`nope`"), "{}", r.message());
    e.assert_calls(&[("prim", 0)]).await;
    // Wrong method on a runtime path.
    let r = reply(
        e.http.get(format!("{}/v1/chat/completions", e.g.base)).bearer_auth(&e.key).send().await.unwrap(),
        Instant::now(),
    )
    .await;
    r.failed(405, "method_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let e = Env::with(&["--max-body-bytes", "1024"]).await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    let small = e.chat("chat").await;
    small.served(200, "A/prim", 1);
    let big = json!({"model": "chat", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let r = e.post(&big).await;
    r.failed(413, "request_too_large");
    assert!(r.message().contains("1024"), "{}", r.message());
    e.assert_calls(&[("prim", 1)]).await;
}

#[tokio::test]
async fn runtime_keys_missing_unknown_and_revoked_are_401() {
    let e = Env::new().await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    let body = chat_body("chat", false).to_string();

    let r = e.post_raw("/v1/chat/completions", body.clone(), None).await;
    r.failed(401, "invalid_api_key");
    assert!(r.message().contains("missing API key"), "{}", r.message());
    let r = e.post_raw("/v1/chat/completions", body.clone(), Some("bd-0123456789abcdef0123456789abcdef")).await;
    r.failed(401, "invalid_api_key");
    assert!(r.message().contains("unknown API key"), "{}", r.message());
    let r = e.post_raw("/v1/chat/completions", body.clone(), Some("sk-not-ours")).await;
    r.failed(401, "invalid_api_key");
    // An admin JWT is no runtime key either.
    let r = e.post_raw("/v1/chat/completions", body.clone(), Some(e.c.token.as_str())).await;
    r.failed(401, "invalid_api_key");
    let r = reply(e.http.get(format!("{}/v1/models", e.g.base)).send().await.unwrap(), Instant::now()).await;
    r.failed(401, "invalid_api_key");

    // x-api-key works like the bearer header.
    let k = e.c.post("/admin/api-keys", json!({"name": "doomed"})).await;
    let (raw, id) = (k.body["key"].as_str().unwrap().to_owned(), k.body["id"].as_str().unwrap().to_owned());
    let start = Instant::now();
    let resp = e
        .http
        .post(format!("{}/v1/chat/completions", e.g.base))
        .header("x-api-key", &raw)
        .json(&chat_body("chat", false))
        .send()
        .await
        .unwrap();
    reply(resp, start).await.served(200, "A/prim", 1);

    // Revoked: refused at once (the key's cached verdict is dropped).
    let d = e.c.delete(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let r = e.post_raw("/v1/chat/completions", body.clone(), Some(&raw)).await;
    r.failed(401, "invalid_api_key");
    assert!(r.message().contains("revoked"), "{}", r.message());
    // The other key still works.
    e.chat("chat").await.served(200, "A/prim", 1);
    e.assert_calls(&[("prim", 2)]).await;
}

#[tokio::test]
async fn an_expired_key_is_401() {
    let e = Env::new().await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let k = e.c.post("/admin/api-keys", json!({"name": "brief", "expires_at": expires.to_string()})).await;
    assert_eq!(k.status, 200, "{}", k.body);
    let raw = k.body["key"].as_str().unwrap().to_owned();
    let body = chat_body("chat", false).to_string();
    e.post_raw("/v1/chat/completions", body.clone(), Some(&raw)).await.served(200, "A/prim", 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = e.post_raw("/v1/chat/completions", body, Some(&raw)).await;
    r.failed(401, "invalid_api_key");
    assert!(r.message().contains("expired"), "{}", r.message());
    e.assert_calls(&[("prim", 1)]).await;
}

#[tokio::test]
async fn runtime_auth_none_serves_without_a_key() {
    let g = Gateway::start_with(&["--runtime-auth", "none"]);
    let org: Uuid = "00000000-0000-4000-8000-000000000001".parse().unwrap();
    let c = Client::new(&g, org, "admin");
    let e = Env::finish(g, c).await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    let r = e.post_raw("/v1/chat/completions", chat_body("chat", false).to_string(), None).await;
    r.served(200, "A/prim", 1);
    let r = e.post_raw("/api/llm-gateway/v1/chat/completions", chat_body("chat", true).to_string(), None).await;
    r.served(200, "A/prim", 1);
    assert_complete_stream(&r);
    let models: Value = e.http.get(format!("{}/v1/models", e.g.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "A/prim", "{models}");
    // SDKs insist on sending some key: a non-`bd-` one is ignored in this mode...
    let r = e
        .http
        .post(format!("{}/v1/chat/completions", e.g.base))
        .bearer_auth("sk-dummy")
        .json(&chat_body("chat", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // ...but a `bd-` key is still checked.
    let r = e
        .http
        .post(format!("{}/v1/chat/completions", e.g.base))
        .bearer_auth("bd-0000000000000000000000000000000000000000")
        .json(&chat_body("chat", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    e.assert_calls(&[("prim", 3)]).await;
}

#[tokio::test]
async fn a_200_with_a_non_json_body_fails_over_or_is_502_alone() {
    let e = Env::new().await;
    e.failover(&json!({})).await;
    e.m.script(json!({"prim": [{"raw_body": "<html>"}]})).await;
    let r = e.chat("chat").await;
    r.served(200, "B/back", 2);
    assert_eq!(r.content(), "Hello from back");
    e.assert_calls(&[("prim", 1), ("back", 1)]).await;

    let r = e.chat("A/prim").await;
    r.failed(502, "all_routes_failed");
    assert_eq!(r.attempts, Some(1));
    assert!(r.message().contains("not JSON"), "{}", r.message());
    // The same for a stream request (a non-SSE answer is read whole).
    let r = e.stream("A/prim").await;
    r.failed(502, "all_routes_failed");
    e.assert_calls(&[("prim", 3), ("back", 1)]).await;
}

// ---------------------------------------------------------------- listing, paths, families

#[tokio::test]
async fn models_lists_callable_names_and_a_disabled_provider_drops_its_own() {
    let e = Env::new().await;
    let a = e.provider("alpha", &["m1", "m2"]).await;
    let b = e.provider("beta", &["m3"]).await;
    e.route(&a, "chat", "m1", 1, &json!({})).await;
    e.route(&b, "chat", "m3", 2, &json!({})).await;
    e.route(&b, "only-b", "m3", 1, &json!({})).await;
    let smart = json!({
        "model_alias": "smart", "determiner_model_alias": "chat",
        "slots": [{"model_alias": "chat", "label": "simple"}, {"model_alias": "only-b", "label": "complex"}],
    });
    assert_eq!(e.c.post("/admin/smart-models", smart).await.status, 200);
    let list = |path: &'static str| {
        let (http, key, base) = (e.http.clone(), e.key.clone(), e.g.base.clone());
        async move {
            let v: Value =
                http.get(format!("{base}{path}")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
            assert_eq!(v["object"], "list", "{v}");
            v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    let all = ["alpha/m1", "alpha/m2", "beta/m3", "chat", "only-b", "smart"];
    assert_eq!(list("/v1/models").await, all);
    assert_eq!(list("/api/llm-gateway/v1/models").await, all);

    let r = e.c.put(&format!("/admin/providers/{b}"), json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(list("/v1/models").await, ["alpha/m1", "alpha/m2", "chat", "smart"]);
    e.chat("beta/m3").await.failed(404, "model_not_found");
    e.chat("only-b").await.failed(404, "model_not_found");
    e.chat("chat").await.served(200, "alpha/m1", 1);

    // The prefixed runtime path behaves like /v1.
    let r = e
        .post_raw("/api/llm-gateway/v1/chat/completions", chat_body("alpha/m2", false).to_string(), Some(&e.key))
        .await;
    r.served(200, "alpha/m2", 1);
    assert_eq!(r.content(), "Hello from m2");
    let r = e.post_raw("/api/llm-gateway/v1/chat/completions", chat_body("chat", true).to_string(), Some(&e.key)).await;
    r.served(200, "alpha/m1", 1);
    assert_complete_stream(&r);
    e.assert_calls(&[("m1", 2), ("m2", 1), ("m3", 0)]).await;
}

#[tokio::test]
async fn body_members_other_than_model_reach_the_upstream_byte_for_byte() {
    let e = Env::new().await;
    let completion = json!({"id": "x", "object": "chat.completion", "model": "cap",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "captured"}, "finish_reason": "stop"}]})
    .to_string();
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{completion}",
        completion.len()
    );
    let (url, seen) = raw_upstream(resp.into_bytes()).await;
    let a = e.provider_at("A", "custom", &url, &["cap"]).await;
    e.route(&a, "echo", "cap", 1, &json!({})).await;
    let sent = r#"{"model" : "echo","temperature":0.70,"messages":[{"role":"user","content":"hi \u00e9"}],"n":1e2,"x_custom":{"a":[1, 2]}}"#;
    let r = e.post_raw("/v1/chat/completions", sent.to_owned(), Some(&e.key)).await;
    r.served(200, "A/cap", 1);
    assert_eq!(r.content(), "captured");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&seen[0].body),
        r#"{"model":"cap","temperature":0.70,"messages":[{"role":"user","content":"hi \u00e9"}],"n":1e2,"x_custom":{"a":[1, 2]}}"#
    );
    let head = seen[0].head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/chat/completions http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nauthorization: bearer x\r\n"), "the provider's key is sent: {head}");
    assert!(!head.contains(&e.key.to_ascii_lowercase()), "the runtime key is never forwarded: {head}");
}

#[tokio::test]
async fn an_anthropic_only_alias_is_501_naming_the_family() {
    let e = Env::new().await;
    let a = e.provider_at("claude", "anthropic", "https://api.anthropic.com/v1", &["claude-x"]).await;
    e.route(&a, "chat", "claude-x", 1, &json!({})).await;
    for model in ["chat", "claude/claude-x"] {
        let r = e.chat(model).await;
        r.failed(501, "unsupported_provider_family");
        assert_eq!(r.attempts, Some(0));
        assert!(r.message().contains("family `anthropic`"), "{}", r.message());
    }
}

#[tokio::test]
async fn a_runtime_keys_file_is_shared_and_reread_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    let (k1, k2) = ("bd-file-key-one-0000000000000000000000000", "bd-file-key-two-0000000000000000000000000");
    std::fs::write(&file, format!("# runtime keys\n{k1}\n")).unwrap();
    let org: Uuid = "00000000-0000-4000-8000-000000000001".parse().unwrap();
    let g = Gateway::start_with(&["--runtime-keys-file", file.to_str().unwrap(), "--runtime-org", &org.to_string()]);
    let c = Client::new(&g, org, "admin");
    let e = Env::finish(g, c).await;
    let a = e.provider("A", &["prim"]).await;
    e.route(&a, "chat", "prim", 1, &json!({})).await;
    e.post_raw("/v1/chat/completions", chat_body("chat", false).to_string(), Some(k1)).await.served(200, "A/prim", 1);
    let r = e.post_raw("/v1/chat/completions", chat_body("chat", false).to_string(), Some(k2)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Rotate: k2 replaces k1 (the file is re-read within about a second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&file, format!("{k2}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = e.post_raw("/v1/chat/completions", chat_body("chat", false).to_string(), Some(k2)).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the rotated key never worked: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = e.post_raw("/v1/chat/completions", chat_body("chat", false).to_string(), Some(k1)).await;
    assert_eq!(r.status, 401, "the removed key must stop working: {}", r.text);
    // Keys minted through the admin API keep working next to the file.
    let r = e.chat("chat").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn bad_bodies_say_what_is_wrong_and_where() {
    let e = Env::new().await;
    let key = Some(e.key.as_str());
    for (body, code, says) in [
        ("{\"model\": ", "invalid_json", "at line 1 column 10"),
        ("{\"model\": \"a\",\n \"n\": tru}", "invalid_json", "at line 2 column"),
        ("[1, 2]", "invalid_json", "expected a JSON object"),
        ("{\"messages\": []}", "missing_model", "request body lacks `model` (a string)"),
        ("{\"model\": 5}", "invalid_model", "`model` must be a string (got 5)"),
        ("{\"model\": \"\"}", "invalid_model", "`model` must not be empty"),
    ] {
        let r = e.post_raw("/v1/chat/completions", body.to_owned(), key).await;
        r.failed(400, code);
        assert!(r.message().contains(says), "{body:?}: {}", r.message());
    }
}
