//! Test harness: a real `switchyard gateway` child process on `127.0.0.1:0` with a
//! real SQLite file in a temp dir, and an HTTP client that speaks to it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use uuid::Uuid;

pub const SECRET: &str = "test-secret-0123456789abcdef";

/// A running gateway process. Killed on drop.
pub struct Gateway {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub db: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Starts a gateway on a fresh database.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut g = Self::start_in(&dir);
        g._tmp = Some(tmp);
        g
    }

    /// Starts a gateway on a fresh database with extra `gateway` flags (data-plane
    /// timeouts, health thresholds, `--runtime-auth none`...).
    pub fn start_with(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut g = Self::start_in_with(&dir, args);
        g._tmp = Some(tmp);
        g
    }

    /// Starts a gateway on the database in `dir` (kept across restarts).
    pub fn start_in(dir: &Path) -> Self {
        Self::start_in_with(dir, &[])
    }

    /// [`Gateway::start_in`] with extra flags.
    pub fn start_in_with(dir: &Path, args: &[&str]) -> Self {
        Self::start_in_listening(dir, "127.0.0.1:0", args)
    }

    /// [`Gateway::start_in_with`] on a given address.
    pub fn start_in_listening(dir: &Path, listen: &str, args: &[&str]) -> Self {
        let secret = dir.join("jwt.secret");
        if !secret.exists() {
            std::fs::write(&secret, SECRET).expect("write secret");
        }
        let db = dir.join("gateway.db");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(["gateway", "--listen", listen, "--db"])
            .arg(&db)
            .arg("--jwt-secret-file")
            .arg(&secret)
            .args(args)
            .env("SWITCHYARD_LOG", "warn")
            .stderr(Stdio::inherit());
        let (child, base) = spawn_announcing(cmd, "listening on ");
        Self { child, base, dir: dir.to_path_buf(), db, _tmp: None }
    }

    /// `http://127.0.0.1:PORT/api/llm-gateway`
    pub fn api(&self) -> String {
        format!("{}/api/llm-gateway", self.base)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        #[cfg(unix)]
        {
            let pid = self.child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        }
        let status = self.child.wait().expect("wait");
        std::mem::forget(self._tmp.take());
        status
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mints a token with the switchyard binary (the same path a user takes).
pub fn token(org: Uuid, role: &str) -> String {
    token_ttl(org, role, 3600)
}

pub fn token_ttl(org: Uuid, role: &str, ttl: i64) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("s");
    std::fs::write(&secret, SECRET).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["token", "--org", &org.to_string(), "--role", role, "--ttl", &ttl.to_string(), "--jwt-secret-file"])
        .arg(&secret)
        .output()
        .expect("token");
    assert!(out.status.success(), "token failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8").trim().to_owned()
}

/// An admin client for one org.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub api: String,
    pub token: String,
    pub org: Uuid,
}

/// A response: status, generation header, JSON body (or `Value::Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub generation: Option<u64>,
    pub body: Value,
}

impl Resp {
    /// The error message of an error envelope.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or("")
    }
}

/// Status, generation header and JSON body (text when not JSON) of a response.
pub async fn into_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let generation =
        resp.headers().get("x-switchyard-generation").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, generation, body }
}

impl Client {
    pub fn new(g: &Gateway, org: Uuid, role: &str) -> Self {
        Self { http: reqwest::Client::new(), api: g.api(), token: token(org, role), org }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.raw(method, path, body.map(|b| b.to_string()), Some(&self.token)).await
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<String>, token: Option<&str>) -> Resp {
        let url = format!("{}{}", self.api, path);
        let mut req = self.http.request(method.parse().expect("method"), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        into_resp(req.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }

    /// Creates a provider with 1:1 models; returns its id.
    pub async fn provider(&self, name: &str, models: &[&str]) -> String {
        let r = self
            .post(
                "/admin/providers",
                serde_json::json!({"name": name, "model_provider": "openai", "api_key": "sk-test", "models": models}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a route; returns the response.
    pub async fn route(&self, provider_id: &str, alias: &str, upstream: &str) -> Resp {
        self.post(
            "/admin/model-mappings",
            serde_json::json!({"provider_id": provider_id, "model_alias": alias, "upstream_model": upstream}),
        )
        .await
    }

    /// The full state as one JSON value (for "nothing changed" assertions).
    pub async fn snapshot(&self) -> Value {
        let p = self.get("/admin/providers").await.body;
        let r = self.get("/admin/model-mappings").await.body;
        let s = self.get("/admin/smart-models").await.body;
        serde_json::json!({"providers": p, "routes": r, "smart": s})
    }
}

/// Runs the switchyard CLI against `g` with an admin token for `org`.
pub fn cli(g: &Gateway, org: Uuid, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args)
        .env("SWITCHYARD_GATEWAY", g.api())
        .env("SWITCHYARD_TOKEN", token(org, "admin"))
        .env("SWITCHYARD_LOG", "warn")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run switchyard")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Gateway {
    /// `switchyard_admin_writes_total` from `/metrics`.
    pub fn writes(&self) -> u64 {
        self.metric("switchyard_admin_writes_total")
    }

    /// Sum of every `switchyard_http_requests_total` series whose labels contain `filter`.
    pub fn requests(&self, filter: &str) -> u64 {
        let text = blocking_get(&format!("{}/metrics", self.base));
        text.lines()
            .filter(|l| l.starts_with("switchyard_http_requests_total{") && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    }

    pub fn metric(&self, name: &str) -> u64 {
        let text = blocking_get(&format!("{}/metrics", self.base));
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }
}

/// A blocking GET (on its own thread and runtime, so it also works inside async tests).
pub fn blocking_get(url: &str) -> String {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async { reqwest::get(&url).await.expect("get").text().await.expect("text") })
    })
    .join()
    .expect("join")
}

/// Spawns `cmd` with stdout piped and returns it with the rest of its first stdout
/// line after `prefix` (the processes announce their address that way).
pub fn spawn_announcing(mut cmd: Command, prefix: &str) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn switchyard");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the first line");
    let rest = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected a first line starting with {prefix:?}, got {line:?}"))
        .to_owned();
    (child, rest)
}

/// A running `switchyard mock-upstream` process. Killed on drop.
pub struct Mock {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mock {
    /// Starts a mock upstream on a free port.
    pub fn start() -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(["mock-upstream", "--listen", "127.0.0.1:0"]);
        let (child, base) = spawn_announcing(cmd, "listening on ");
        Self { child, base }
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to give a provider.
    pub fn v1(&self) -> String {
        format!("{}/v1", self.base)
    }

    /// Replaces the script (`{"<model>": [Step, ...]}`).
    pub async fn script(&self, script: Value) {
        let r = reqwest::Client::new().put(format!("{}/_mock/script", self.base)).json(&script).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }

    /// Calls received per model name.
    pub async fn calls(&self, model: &str) -> u64 {
        let v: Value = reqwest::get(format!("{}/_mock/stats", self.base)).await.unwrap().json().await.unwrap();
        v["calls"][model].as_u64().unwrap_or(0)
    }
}
