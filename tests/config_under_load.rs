//! Config changes under load lose no request: while clients keep calling an alias
//! (JSON and SSE, each request in flight for ~40 ms), an admin loop keeps disabling,
//! re-enabling, reordering, deleting and re-creating its routes. Every request must
//! succeed with a complete answer, and the final config must be what the data plane
//! serves.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Client, Gateway, Mock};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_writes_during_traffic_lose_no_request() {
    let mock = Mock::start();
    let slow = json!([{"latency_ms": 40, "chunk_delay_ms": 10}]);
    mock.script(json!({"m1": slow, "m2": slow, "m3": slow})).await;
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let c = Client::new(&g, org, "admin");
    let mut pids = Vec::new();
    for (name, model) in [("p1", "m1"), ("p2", "m2"), ("p3", "m3")] {
        let r = c
            .post(
                "/admin/providers",
                json!({"name": name, "model_provider": "custom", "base_url": mock.v1(), "api_key": "k", "models": [model]}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        pids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let route = |pid: &str, model: &str, priority: i64| json!({"provider_id": pid, "model_alias": "chat", "upstream_model": model, "priority": priority});
    let r1 = c.post("/admin/model-mappings", route(&pids[0], "m1", 1)).await.body["id"].as_str().unwrap().to_owned();
    let r2 = c.post("/admin/model-mappings", route(&pids[1], "m2", 2)).await.body["id"].as_str().unwrap().to_owned();
    let key = c.post("/admin/api-keys", json!({"name": "load"})).await.body["key"].as_str().unwrap().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for i in 0..8 {
        let (base, key, stop, ok) = (g.base.clone(), key.clone(), stop.clone(), ok.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let stream = i % 2 == 0;
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(&key)
                    .json(&json!({"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let route = r.headers().get("x-switchyard-route").map(|v| v.to_str().unwrap().to_owned());
                let text = r.text().await.unwrap();
                let model = route.as_deref().and_then(|r| r.split('/').nth(1)).unwrap_or("?").to_owned();
                let complete = if stream {
                    text.ends_with("data: [DONE]\n\n") && text.contains(&model)
                } else {
                    serde_json::from_str::<Value>(&text)
                        .is_ok_and(|v| v["choices"][0]["message"]["content"] == format!("Hello from {model}"))
                };
                if status == 200 && complete {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("{status} {route:?}: {text}"));
                }
            }
            failures
        }));
    }

    // The admin loop: every change keeps at least one enabled route for `chat`.
    let mut writes = 0;
    for round in 0..12 {
        let r = c.put(&format!("/admin/model-mappings/{r1}"), json!({"enabled": false})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r3 = c.post("/admin/model-mappings", route(&pids[2], "m3", 0)).await;
        assert_eq!(r3.status, 200, "{:?}", r3.body);
        let r3 = r3.body["id"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let order = if round % 2 == 0 { [(&r2, 1), (&r1, 2), (&r3, 3)] } else { [(&r3, 1), (&r1, 2), (&r2, 3)] };
        let r = c
            .put(
                "/admin/model-mappings/reorder",
                json!({"entries": order.iter().map(|(id, p)| json!({"id": id, "priority": p})).collect::<Vec<_>>()}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = c.put(&format!("/admin/model-mappings/{r1}"), json!({"enabled": true})).await;
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Delete the route some requests are being served by right now.
        let r = c.delete(&format!("/admin/model-mappings/{r3}")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        writes += 5;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for t in clients {
        failures.extend(t.await.unwrap());
    }
    let served = ok.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, e.g. {:?}",
        failures.len(),
        served,
        &failures[..failures.len().min(3)]
    );
    assert!(served >= 50, "only {served} requests ran during {writes} writes");
    assert!(mock.calls("m3").await > 0, "the short-lived route never served: the swaps were not exercised");

    // The last config is what the data plane serves: r1 (enabled) is ahead of r2 only
    // after an odd round's reorder; the last round (11) put r3, r1, r2 and r3 is gone.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", g.base))
        .bearer_auth(&key)
        .json(&json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-switchyard-route"], "p1/m1");
    eprintln!("{served} requests served during {writes} admin writes, none lost");
}
