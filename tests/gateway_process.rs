//! The gateway as a process: restart persistence, crash safety under SIGKILL,
//! graceful SIGTERM, health, metrics, and the committed OpenAPI document.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn state_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let org = Uuid::new_v4();
    let g = Gateway::start_in(tmp.path());
    let c = Client::new(&g, org, "admin");
    let pid = c.provider("openai-prod", &["gpt-4o", "gpt-4o-mini"]).await;
    let alias = c.route(&pid, "fast", "gpt-4o-mini").await;
    assert_eq!(alias.status, 200);
    let smart = c
        .post(
            "/admin/smart-models",
            json!({"model_alias": "smart", "determiner_model_alias": "fast", "slots": [{"model_alias": "fast", "label": "simple"}], "description": "d"}),
        )
        .await;
    assert_eq!(smart.status, 200);
    let before = c.snapshot().await;
    let generation = c.get("/admin/providers").await.generation;
    assert_eq!(generation, Some(3), "one write each: provider (with its models), alias, smart model");
    assert!(g.stop().success(), "SIGTERM must exit 0");

    let g = Gateway::start_in(tmp.path());
    let c = Client { api: g.api(), ..c };
    assert_eq!(c.snapshot().await, before);
    assert_eq!(c.get("/admin/providers").await.generation, generation);
    g.stop();
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill_and_the_database_stays_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let org = Uuid::new_v4();
    let g = Gateway::start_in(tmp.path());
    let c = Client::new(&g, org, "admin");
    let pid = c.provider("p", &[]).await;

    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (c, acked, stop, pid) = (c.clone(), acknowledged.clone(), stop.clone(), pid.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let model = format!("m-{w}-{i}");
                let url = format!("{}/admin/model-mappings", c.api);
                let body = json!({"provider_id": pid, "model_alias": model, "upstream_model": model});
                match c.http.post(url).bearer_auth(&c.token).json(&body).send().await {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(model),
                    _ => {}
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    g.kill();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(acked.len() > 20, "the writers should have landed writes before the kill, got {}", acked.len());

    let store =
        switchyard::gateway::store::sqlite::SqliteStore::open(tmp.path().join("gateway.db").to_str().unwrap()).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);

    let g = Gateway::start_in(tmp.path());
    let c = Client { api: g.api(), ..c };
    let rows = c.get("/admin/model-mappings").await.body;
    let present: std::collections::HashSet<String> =
        rows.as_array().unwrap().iter().map(|r| r["model_alias"].as_str().unwrap().to_owned()).collect();
    let lost: Vec<&String> = acked.iter().filter(|m| !present.contains(*m)).collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost after SIGKILL: {:?}", lost.len(), &lost[..lost.len().min(5)]);
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_without_auth() {
    let g = Gateway::start();
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/healthz", g.base)).send().await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(http.get(format!("{}/readyz", g.base)).send().await.unwrap().status(), 200);
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["m"]).await;
    c.get("/admin/providers").await;
    c.raw("GET", "/admin/providers", None, None).await;
    let text = http.get(format!("{}/metrics", g.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            r#"switchyard_http_requests_total{method="POST",route="/api/llm-gateway/admin/providers",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchyard_http_requests_total{method="GET",route="/api/llm-gateway/admin/providers",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "switchyard_http_request_duration_seconds_bucket{route=\"/api/llm-gateway/admin/providers\",le=\"+Inf\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("switchyard_store_errors_total 0"), "{text}");
    assert!(text.contains("switchyard_admin_writes_total 1"), "{text}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let token = common::token(org, "admin");
    let body = json!({"name": "late", "model_provider": "openai", "models": ["m"]}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let addr = g.base.strip_prefix("http://").unwrap().to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /api/llm-gateway/admin/providers HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    sock.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The request is half-received: signal now, then send the rest.
    let pid = g.child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sock.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"name\":\"late\""), "{response}");
    let status = g.stop();
    assert!(status.success(), "gateway exit status {status:?}");
}

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_committed_copy() {
    let g = Gateway::start();
    let served = reqwest::get(format!("{}/openapi.json", g.api())).await.unwrap().text().await.unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.json")).unwrap();
    assert!(served == committed, "api/openapi.json is out of date: run `cargo run -- openapi > api/openapi.json`");
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/admin/providers",
        "/admin/providers/{id}",
        "/admin/model-mappings",
        "/admin/model-mappings/reorder",
        "/admin/smart-models/{id}",
        "/admin/api-keys",
        "/admin/api-keys/{id}",
        "/admin/smart-models/preview",
        "/admin/llm-gw/route-health",
        "/admin/llm-gw/route-health/{provider_id}/reset",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    // Every operation the admin router serves is documented.
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, 23, "16 for providers, routes and smart models + 4 for api keys + preview + 2 route health");
}

#[tokio::test]
async fn rs256_tokens_work_with_a_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.pem");
    let pubkey = tmp.path().join("pub.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "openssl is needed to make an RSA key for this test");
    let ok = std::process::Command::new("openssl")
        .args(["rsa", "-in"])
        .arg(&key)
        .args(["-pubout", "-out"])
        .arg(&pubkey)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--listen", "127.0.0.1:0", "--db", ":memory:", "--jwt-public-key-file"])
        .arg(&pubkey)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let org = Uuid::new_v4();
    let token = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["token", "--org", &org.to_string(), "--jwt-private-key-file"])
        .arg(&key)
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let http = reqwest::Client::new();
    let ok = http.get(format!("{base}/api/llm-gateway/admin/providers")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let hs = common::token(org, "admin");
    let bad = http.get(format!("{base}/api/llm-gateway/admin/providers")).bearer_auth(&hs).send().await.unwrap();
    assert_eq!(bad.status(), 401, "an HS256 token must not pass an RS256 gateway");
    let _ = child.kill();
    let _ = child.wait();
}
