//! Faults between the reconciler and a real gateway, injected by a small HTTP proxy
//! in front of it (the one place a mock is used: a real gateway does not fail on
//! demand), and a randomized convergence test against the real gateway.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use uuid::Uuid;

#[derive(Clone)]
struct Faults {
    upstream: String,
    writes: Arc<AtomicUsize>,
    fail_write: usize,
    bad_list: bool,
}

async fn proxy(
    axum::extract::State(f): axum::extract::State<Faults>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if method != Method::GET {
        let n = f.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == f.fail_write {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":{"message":"injected failure","type":"api_error"}}"#,
            )
                .into_response();
        }
    } else if f.bad_list && path.ends_with("/admin/providers") {
        return (StatusCode::OK, r#"{"unexpected": true}"#).into_response();
    }
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{}{path}", f.upstream)).body(body);
    for (k, v) in &headers {
        if k != "host" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k == "x-switchyard-generation" || k == "content-type" {
            out.insert(k, v.clone());
        }
    }
    (status, out, resp.bytes().await.unwrap()).into_response()
}

/// Starts the proxy on its own thread and runtime; returns its base URL.
fn start_proxy(g: &Gateway, fail_write: usize, bad_list: bool) -> (String, Arc<AtomicUsize>) {
    let faults = Faults { upstream: g.base.clone(), writes: Arc::new(AtomicUsize::new(0)), fail_write, bad_list };
    let writes = faults.writes.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(proxy).with_state(faults);
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}/api/llm-gateway"), writes)
}

const MANIFESTS: &str = "apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata: {name: p1}
spec: {modelProvider: openai, models: [m1, m2, m3]}
---
apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata: {name: p2}
spec: {modelProvider: groq, models: [m1, m4]}
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: {name: chat}
spec:
  targets: [{provider: p1, model: m1}, {provider: p2, model: m4}, {provider: p1, model: m2}]
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: {name: fast}
spec:
  targets: [{provider: p2, model: m1}, {provider: p1, model: m3}]
---
apiVersion: switchyard.dev/v1alpha1
kind: SmartModel
metadata: {name: smart}
spec:
  determiner: fast
  slots: [{alias: fast, label: easy}, {alias: chat, label: hard}]
";

fn run(api: &str, org: Uuid, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("SWITCHYARD_GATEWAY", api)
        .env("SWITCHYARD_TOKEN", token(org, "admin"))
        .env("SWITCHYARD_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn a_500_in_the_middle_of_an_apply_stops_only_dependents_and_a_rerun_converges() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yaml"), MANIFESTS).unwrap();
    let d = dir.path().to_str().unwrap();
    // The 2nd write fails with a 500 (the client does not retry a POST on 500).
    let (proxy, _) = start_proxy(&g, 2, false);
    let out = run(&proxy, org, &["apply", "-f", d, "--auto-approve", "--parallelism", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("failed:")).collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0].ends_with(": 500 injected failure"), "{report}");
    // "failed:  <kind> <identity> (Create): ..." -> "<kind> <identity> failed"
    let what = failed[0].trim_start_matches("failed:").trim().split(" (").next().unwrap();
    let skipped: Vec<&str> = report.lines().filter(|l| l.starts_with("skipped:")).collect();
    for line in &skipped {
        assert!(line.ends_with(&format!("{what} failed")), "only dependents of `{what}` are skipped:\n{report}");
    }
    let summary = report.lines().find(|l| l.starts_with("Apply incomplete:")).unwrap();
    let applied: usize = summary.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(applied + 1 + skipped.len(), 10, "2 providers + 5 enablements + 2 aliases + 1 smart model: {summary}");
    assert!(applied >= 5, "independent changes still ran: {summary}");

    // The rerun, straight to the gateway, converges and the next plan is empty.
    let out = run(&g.api(), org, &["apply", "-f", d, "--auto-approve"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = run(&g.api(), org, &["plan", "-f", d, "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn an_unexpected_response_shape_is_a_clear_error_and_nothing_is_written() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yaml"), MANIFESTS).unwrap();
    let (proxy, writes) = start_proxy(&g, 0, true);
    let out = run(&proxy, org, &["apply", "-f", dir.path().to_str().unwrap(), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("GET /admin/providers: unexpected response: invalid type: map, expected a sequence"), "{err}");
    assert_eq!(writes.load(Ordering::SeqCst), 0);
    assert_eq!(g.writes(), 0);
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random valid desired state.
fn random_state(rng: &mut Rng) -> String {
    let mut out = String::new();
    let providers = 1 + rng.below(3) as usize;
    let mut enabled: Vec<(String, String)> = Vec::new();
    for p in 0..providers {
        let models = 1 + rng.below(4) as usize;
        out.push_str(&format!(
            "---\napiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {{name: p{p}}}\nspec:\n  modelProvider: openai\n"
        ));
        if rng.chance(50) {
            out.push_str(&format!("  requestTimeoutSecs: {}\n", 1 + rng.below(3600)));
        }
        out.push_str("  models:\n");
        let mut used = std::collections::BTreeSet::new();
        for _ in 0..models {
            let m = rng.below(6);
            if !used.insert(m) {
                continue;
            }
            enabled.push((format!("p{p}"), format!("m{m}")));
            if rng.chance(40) {
                out.push_str(&format!(
                    "    - {{name: m{m}, maxInFlight: {}, bareAlias: {}}}\n",
                    1 + rng.below(10000),
                    rng.chance(30)
                ));
            } else {
                out.push_str(&format!("    - m{m}\n"));
            }
        }
    }
    // Every kind is present in every state, so `--prune` covers all of them (a kind
    // missing from the input is out of prune's scope by design).
    let aliases = 1 + rng.below(4) as usize;
    let mut names = Vec::new();
    for a in 0..aliases {
        let mut targets = enabled.clone();
        // shuffle and take 1..=3 distinct targets
        for i in (1..targets.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            targets.swap(i, j);
        }
        let n = 1 + rng.below(targets.len().min(3) as u64) as usize;
        out.push_str(&format!("---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {{name: alias-{a}}}\nspec:\n  targets:\n"));
        for (p, m) in targets.iter().take(n) {
            out.push_str(&format!("    - {{provider: {p}, model: {m}"));
            if rng.chance(40) {
                out.push_str(&format!(", retryOn429: {{count: {}, maxWaitSecs: {}}}", rng.below(11), rng.below(181)));
            }
            if rng.chance(30) {
                out.push_str(&format!(", streamIdleTimeoutSecs: {}", 1 + rng.below(1800)));
            }
            if rng.chance(20) {
                out.push_str(", enabled: false");
            }
            out.push_str("}\n");
        }
        names.push(format!("alias-{a}"));
    }
    {
        let slot = &names[rng.below(names.len() as u64) as usize];
        out.push_str(&format!(
            "---\napiVersion: switchyard.dev/v1alpha1\nkind: SmartModel\nmetadata: {{name: smart}}\nspec:\n  determiner: {slot}\n  slots: [{{alias: {slot}, label: only}}]\n  description: d{}\n",
            rng.below(3)
        ));
    }
    out
}

#[test]
fn random_states_applied_in_sequence_always_converge_and_out_of_band_edits_are_repaired() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.yaml");
    let d = dir.path().to_str().unwrap();
    let api = g.api();
    let seeds: Vec<u64> = match std::env::var("SWITCHYARD_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => vec![0x5eed_1234, 1, 42],
    };
    let admin = Client::new(&g, org, "admin");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (seed, round) in seeds.iter().flat_map(|s| (0..8).map(move |r| (*s, r))) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(round + 1));
        let state = random_state(&mut rng);
        std::fs::write(&file, &state).unwrap();
        let out = run(&api, org, &["apply", "-f", d, "--auto-approve", "--prune"]);
        assert!(
            out.status.success(),
            "seed {seed:#x} round {round}: apply failed:\n{state}\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        let out = run(&api, org, &["plan", "-f", d, "--prune", "--detailed-exitcode"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed:#x} round {round}: phantom diff after apply:\n{state}\n{}",
            stdout(&out)
        );

        // An out-of-band edit on the live gateway.
        let routes = rt.block_on(admin.get("/admin/model-mappings")).body;
        let rows = routes.as_array().unwrap().clone();
        if rows.is_empty() {
            continue;
        }
        let row = &rows[rng.below(rows.len() as u64) as usize];
        let id = row["id"].as_str().unwrap();
        let edit = match rng.below(3) {
            0 => serde_json::json!({"max_in_flight": 7}),
            1 => serde_json::json!({"enabled": !row["enabled"].as_bool().unwrap()}),
            _ => serde_json::json!({"retry_on_429_count": (row["retry_on_429_count"].as_u64().unwrap() + 1) % 11}),
        };
        let r = rt.block_on(admin.put(&format!("/admin/model-mappings/{id}"), edit.clone()));
        assert_eq!(r.status, 200, "{:?}", r.body);
        let out = run(&api, org, &["plan", "-f", d, "--prune", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(2), "seed {seed:#x} round {round}: edit {edit} on {id} not detected");
        let out = run(&api, org, &["apply", "-f", d, "--auto-approve", "--prune"]);
        assert!(out.status.success(), "{}", stdout(&out));
        let out = run(&api, org, &["plan", "-f", d, "--prune", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "seed {seed:#x} round {round}: not repaired:\n{}", stdout(&out));
    }
}
