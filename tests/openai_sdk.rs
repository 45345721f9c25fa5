//! The real `openai` Python SDK (PyPI) against a real gateway and mock upstream:
//! non-streaming, streaming, model list and typed errors.
//!
//! Needs a Python with `openai` installed: set `SWITCHYARD_PYTHON` to it. Without it
//! the test is skipped locally, and fails when `SWITCHYARD_REQUIRE_PYTHON_SDK=1`
//! (`.ci/run` sets both, so CI cannot pass by skipping).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::{Client, Gateway, Mock};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn openai_python_sdk_streams_and_fails_over_through_the_gateway() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        assert!(
            std::env::var("SWITCHYARD_REQUIRE_PYTHON_SDK").as_deref() != Ok("1"),
            "SWITCHYARD_REQUIRE_PYTHON_SDK=1 but SWITCHYARD_PYTHON is not set"
        );
        eprintln!("skipped: set SWITCHYARD_PYTHON to a python with the openai package");
        return;
    };
    let mock = Mock::start();
    mock.script(json!({"primary-model": [{"status": 503}]})).await;
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let c = Client::new(&g, org, "admin");
    let mut ids = Vec::new();
    for (name, model) in [("primary", "primary-model"), ("backup", "backup-model")] {
        let r = c
            .post(
                "/admin/providers",
                json!({"name": name, "model_provider": "custom", "base_url": mock.v1(), "api_key": "sk-x", "models": [model]}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    for (i, (id, model)) in ids.iter().zip(["primary-model", "backup-model"]).enumerate() {
        let r = c
            .post(
                "/admin/model-mappings",
                json!({"provider_id": id, "model_alias": "chat", "upstream_model": model, "priority": i + 1}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let key = c.post("/admin/api-keys", json!({"name": "sdk"})).await.body["key"].as_str().unwrap().to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/v1", g.base))
        .arg(&key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK script failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
    // Non-streaming + streaming + direct = 3 served by backup; the primary was tried
    // for the two alias calls only.
    assert_eq!(mock.calls("primary-model").await, 2);
    assert_eq!(mock.calls("backup-model").await, 3);
}
