//! `switchyard mock-upstream` as a process: scripted statuses, headers, streams and
//! per-model call counts (it is the upstream the data-plane tests will script).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::Mock;
use serde_json::json;

async fn chat(m: &Mock, model: &str, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", m.base))
        .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn scripted_steps_play_in_order_and_calls_are_counted() {
    let m = Mock::start();
    let http = reqwest::Client::new();
    let script = json!({
        "flaky": [{"status": 503}, {"status": 429, "retry_after": "2", "retry_after_ms": 1500}, {"content": "finally"}],
    });
    assert_eq!(http.put(format!("{}/_mock/script", m.base)).json(&script).send().await.unwrap().status(), 204);
    assert_eq!(chat(&m, "flaky", false).await.status(), 503);
    let r = chat(&m, "flaky", false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["retry-after-ms"], "1500");
    let ok: serde_json::Value = chat(&m, "flaky", false).await.json().await.unwrap();
    assert_eq!(ok["choices"][0]["message"]["content"], "finally");
    // The last step repeats.
    let again: serde_json::Value = chat(&m, "flaky", false).await.json().await.unwrap();
    assert_eq!(again["choices"][0]["message"]["content"], "finally");
    // Unscripted models answer 200.
    let plain: serde_json::Value = chat(&m, "gpt-x", false).await.json().await.unwrap();
    assert_eq!(plain["choices"][0]["message"]["content"], "Hello from gpt-x");
    let stats: serde_json::Value =
        http.get(format!("{}/_mock/stats", m.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["calls"], json!({"flaky": 4, "gpt-x": 1}));
}

#[tokio::test]
async fn streams_end_with_done_or_fail_as_scripted() {
    let m = Mock::start();
    let http = reqwest::Client::new();
    let script = json!({
        "cut": [{"content": "one two three", "cut_after": 1}],
        "nodone": [{"content": "a b", "omit_done": true}],
        "bad": [{"content": "a b", "malformed_at": 1}],
    });
    http.put(format!("{}/_mock/script", m.base)).json(&script).send().await.unwrap();

    let r = chat(&m, "ok-model", true).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.starts_with("data: {"), "{text}");
    assert!(text.contains("\"content\":\"Hello \""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let body = chat(&m, "cut", true).await.text().await;
    assert!(body.is_err(), "a cut stream is an aborted body, not a clean end: {body:?}");

    let text = chat(&m, "nodone", true).await.text().await.unwrap();
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");

    let text = chat(&m, "bad", true).await.text().await.unwrap();
    assert!(text.contains("data: {\"choices\": [\n\n"), "{text}");
}
