//! Whole-process benchmark of the reconciler (release build) against a real local
//! gateway: 200 providers x 50 enablements, 10,000 aliases x 3 targets and 1,000 smart
//! models. Measures the initial apply, a no-op plan, and plan+apply after changing 1%
//! of the objects; counts the gateway's admin writes and the CLI's peak RSS.
//! Run with `cargo bench --bench reconcile_load`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, reason = "benchmark code")]

#[path = "common.rs"]
mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROVIDERS: usize = 200;
const MODELS: usize = 50;
const ALIASES: usize = 10_000;
const SMART: usize = 1_000;

fn corpus(dir: &Path, changed: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let per_file = ALIASES / PROVIDERS;
    let smart_per_file = SMART / PROVIDERS;
    for f in 0..PROVIDERS {
        let mut t = String::new();
        let timeout = if changed && f < 2 { 700 } else { 600 };
        let _ = write!(
            t,
            "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {{name: provider-{f}}}\nspec:\n  modelProvider: openai\n  baseUrl: https://api{f}.example.com/v1\n  requestTimeoutSecs: {timeout}\n  models:\n"
        );
        for m in 0..MODELS {
            let cap = if changed && f < 2 { 99 } else { 100 };
            if m == 0 && changed && f < 100 {
                let _ = writeln!(t, "    - {{name: model-{m}, maxInFlight: {}}}", cap + 1);
            } else {
                let _ = writeln!(t, "    - {{name: model-{m}, maxInFlight: 100}}");
            }
        }
        for a in 0..per_file {
            let i = f * per_file + a;
            let wait = if changed && i.is_multiple_of(100) { 31 } else { 30 };
            let _ = write!(
                t,
                "---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {{name: alias-{i}}}\nspec:\n  targets:\n"
            );
            for k in 0..3 {
                let p = (f + k * 7) % PROVIDERS;
                let m = (a + k) % MODELS;
                if k == 0 {
                    let _ = writeln!(
                        t,
                        "    - {{provider: provider-{p}, model: model-{m}, retryOn429: {{count: 2, maxWaitSecs: {wait}}}}}"
                    );
                } else {
                    let _ = writeln!(t, "    - {{provider: provider-{p}, model: model-{m}}}");
                }
            }
        }
        for s in 0..smart_per_file {
            let i = f * smart_per_file + s;
            let desc = if changed && i.is_multiple_of(100) { "changed" } else { "smart" };
            let _ = write!(
                t,
                "---\napiVersion: switchyard.dev/v1alpha1\nkind: SmartModel\nmetadata: {{name: smart-{i}}}\nspec:\n  determiner: alias-{i}\n  slots:\n    - {{alias: alias-{i}, label: simple}}\n    - {{alias: alias-{}, label: complex}}\n  contextBreakpoints: [4000]\n  description: {desc}\n",
                (i + 1) % ALIASES
            );
        }
        std::fs::write(dir.join(format!("f{f:03}.yaml")), t).unwrap();
    }
}

/// Runs the CLI, returning (exit code, wall time, peak RSS in KiB, stdout).
fn timed(bin: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Duration, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut s).unwrap();
        (child, s)
    });
    while !out.is_finished() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(v) = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))
        {
            peak = peak.max(v.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut child, stdout) = out.join().unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, start.elapsed(), peak, stdout)
}

fn writes(base: &str) -> u64 {
    let text = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap() })
        })
        .join()
        .unwrap()
    });
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_admin_writes_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_switchyard");
    let tmp = tempfile::tempdir().unwrap();
    let (mut gw, gateway_base) = common::start_gateway(tmp.path());
    let base = gateway_base;
    let api = format!("{base}/api/llm-gateway");
    let token = common::admin_token(tmp.path(), uuid::Uuid::new_v4());
    let env = [("SWITCHYARD_GATEWAY", api.as_str()), ("SWITCHYARD_TOKEN", token.as_str()), ("SWITCHYARD_LOG", "warn")];
    let v1 = tmp.path().join("v1");
    let v2 = tmp.path().join("v2");
    corpus(&v1, false);
    corpus(&v2, true);
    let (v1s, v2s) = (v1.to_str().unwrap(), v2.to_str().unwrap());

    let (code, initial, rss_initial, _) = timed(bin, &["apply", "-f", v1s, "--auto-approve", "-o", "json"], &env);
    assert_eq!(code, 0, "initial apply failed");
    let w_initial = writes(&base);
    let (code, noop, rss_noop, _) = timed(bin, &["plan", "-f", v1s, "--detailed-exitcode"], &env);
    assert_eq!(code, 0, "no-op plan must be empty");
    let w_noop = writes(&base) - w_initial;
    let (code, plan_change, _, plan_out) = timed(bin, &["plan", "-f", v2s, "--detailed-exitcode", "-o", "json"], &env);
    assert_eq!(code, 2);
    let plan: serde_json::Value = serde_json::from_str(&plan_out).unwrap();
    let planned: u64 = plan["changes"].as_array().unwrap().iter().map(|c| c["writes"].as_u64().unwrap()).sum();
    let before = writes(&base);
    let (code, change, rss_change, _) = timed(bin, &["apply", "-f", v2s, "--auto-approve", "-o", "json"], &env);
    assert_eq!(code, 0);
    let w_change = writes(&base) - before;
    let (code, _, _, _) = timed(bin, &["plan", "-f", v2s, "--detailed-exitcode"], &env);
    assert_eq!(code, 0, "after the change, a fresh plan is empty");
    let _ = gw.kill();
    let _ = gw.wait();

    let objects = PROVIDERS + PROVIDERS * MODELS + ALIASES + SMART;
    println!("reconciler, release build, against a local gateway (SQLite WAL), loopback");
    println!(
        "desired state: {PROVIDERS} providers, {} enablements, {ALIASES} aliases x 3 targets, {SMART} smart models = {objects} objects",
        PROVIDERS * MODELS
    );
    println!(
        "initial apply:          {:>8.2} s, {w_initial} writes, CLI peak RSS {:.0} MiB",
        initial.as_secs_f64(),
        rss_initial as f64 / 1024.0
    );
    println!(
        "no-op plan:             {:>8.3} s, {w_noop} writes, CLI peak RSS {:.0} MiB",
        noop.as_secs_f64(),
        rss_noop as f64 / 1024.0
    );
    println!(
        "1% change, plan only:   {:>8.3} s, {} objects changed, {planned} writes planned",
        plan_change.as_secs_f64(),
        plan["changes"].as_array().unwrap().len()
    );
    println!(
        "1% change, plan+apply:  {:>8.3} s, {w_change} writes made (planned {planned}), CLI peak RSS {:.0} MiB",
        change.as_secs_f64(),
        rss_change as f64 / 1024.0
    );
}
