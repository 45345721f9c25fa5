//! `switchyard up -f examples/quickstart` as a newcomer runs it: one process with a
//! gateway, a mock upstream, the apply and the watcher; the printed key and curl line
//! work offline, failover is visible, and an edit to the directory goes live.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Up {
    child: Child,
    base: String,
    key: String,
    printed: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Copies the quickstart into `dir`, moving the mock to `port`.
fn quickstart_copy(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(dir.join(entry.file_name()), text.replace("127.0.0.1:8787", &format!("127.0.0.1:{port}")))
            .unwrap();
    }
}

fn start(config: &Path, state: &Path, mock_port: u16, extra: &[&str]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["up", "-f"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--mock-listen", &format!("127.0.0.1:{mock_port}"), "--state-dir"])
        .arg(state)
        .args(extra)
        .env("SWITCHYARD_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    // Everything up to the curl line (or EOF for --once).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
        if line.contains("\"messages\"") {
            break;
        }
    }
    if extra.contains(&"--once") {
        reader.read_to_string(&mut printed).unwrap();
    }
    let base = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("gateway"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no gateway line in:\n{printed}"))
        .to_owned();
    let key = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("API key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no key line in:\n{printed}"));
    Up { child, base, key, printed }
}

async fn chat(up: &Up, model: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", up.base))
        .bearer_auth(&up.key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hello!"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn quickstart_serves_through_an_alias_with_failover_and_follows_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("quickstart");
    let state = tmp.path().join(".switchyard");
    let mock_port = free_port();
    quickstart_copy(&config, mock_port);
    let up = start(&config, &state, mock_port, &[]);
    assert!(up.printed.contains("applied: Plan: 9 to create"), "{}", up.printed);
    assert!(up.key.starts_with("bd-"), "{}", up.printed);
    assert!(up.printed.contains("curl -si"), "{}", up.printed);
    assert!(up.printed.contains("\"model\": \"team-coding-model\""), "{}", up.printed);

    // The printed curl line, as reqwest: gpt-4o is scripted down, so the second target serves.
    let r = chat(&up, "team-coding-model").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-route"], "backup/llama-3.3-70b");
    assert_eq!(r.headers()["x-switchyard-attempts"], "2");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from llama-3.3-70b");
    assert_eq!(body["model"], "llama-3.3-70b");

    // The smart model answers too (the determiner's answer is not a slot number, so
    // the default slot is used and said so in the header).
    let r = chat(&up, "smart-coder").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-slot"], "1");

    // An edit to the directory goes live: make `fast` start with the backup model.
    let routes = std::fs::read_to_string(config.join("routes.yaml")).unwrap();
    let edited = routes.replace(
        "  name: fast\nspec:\n  targets:\n    - provider: openai-prod\n      model: gpt-4o-mini\n    - provider: backup\n      model: llama-3.1-8b",
        "  name: fast\nspec:\n  targets:\n    - provider: backup\n      model: llama-3.1-8b\n    - provider: openai-prod\n      model: gpt-4o-mini",
    );
    assert_ne!(routes, edited);
    std::fs::write(config.join("routes.yaml"), edited).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = chat(&up, "fast").await;
        if r.headers()["x-switchyard-route"] == "backup/llama-3.1-8b" {
            break;
        }
        assert!(Instant::now() < deadline, "the edit never reached the data plane");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(up);

    // A second `up` on the same state reuses the database and the key: nothing to apply.
    let again = start(&config, &state, mock_port, &["--once"]);
    assert!(again.printed.contains("already in sync"), "{}", again.printed);
    let saved = std::fs::read_to_string(state.join("api-key")).unwrap();
    assert_eq!(again.key, saved.trim());
}
