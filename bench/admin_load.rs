//! Whole-process benchmark of `switchyard gateway`'s admin API (release build):
//! route-create throughput with 1 and 8 concurrent clients, list latency at 30,000
//! routes, and RSS idle and after 30,000 routes. Run with
//! `cargo bench --bench admin_load`; figures are printed, nothing is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, reason = "benchmark code")]

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, gateway_base) = common::start_gateway(tmp.path());
    let base = format!("{gateway_base}/api/llm-gateway");
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(pid);

    let org = uuid::Uuid::new_v4();
    let token = common::admin_token(tmp.path(), org);
    let http = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
    let provider: serde_json::Value = http
        .post(format!("{base}/admin/providers"))
        .bearer_auth(&token)
        .json(&json!({"name": "bench", "model_provider": "openai"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid_str = provider["id"].as_str().unwrap().to_owned();

    // Creates of 1:1 enablements: `n` requests spread over `clients` tasks.
    async fn creates(
        http: &reqwest::Client,
        base: &str,
        token: &str,
        provider: &str,
        prefix: &str,
        n: usize,
        clients: usize,
    ) -> Duration {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (http, base, token, provider, prefix) =
                (http.clone(), base.to_owned(), token.to_owned(), provider.to_owned(), prefix.to_owned());
            tasks.push(tokio::spawn(async move {
                for i in (c..n).step_by(clients) {
                    let m = format!("{prefix}-{i}");
                    let r = http
                        .post(format!("{base}/admin/model-mappings"))
                        .bearer_auth(&token)
                        .json(&json!({"provider_id": provider, "model_alias": m, "upstream_model": m}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    }

    let one = creates(&http, &base, &token, &pid_str, "one", 2_000, 1).await;
    let eight = creates(&http, &base, &token, &pid_str, "eight", 10_000, 8).await;
    let rest = creates(&http, &base, &token, &pid_str, "fill", 18_000, 8).await;
    let total_routes = 30_000;
    let after_creates = rss_kib(pid);

    let mut lat = Vec::new();
    let mut bytes = 0;
    for _ in 0..15 {
        let t = Instant::now();
        let body = http
            .get(format!("{base}/admin/model-mappings"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        lat.push(t.elapsed());
        bytes = body.len();
    }
    lat.sort();
    let after = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();

    println!("gateway admin API, release build, SQLite (WAL) in a temp dir, loopback HTTP/1.1");
    println!("RSS idle:                         {:.1} MiB", idle as f64 / 1024.0);
    println!(
        "creates, 1 client:               {} in {:.2} s = {:.0}/s",
        2_000,
        one.as_secs_f64(),
        2_000.0 / one.as_secs_f64()
    );
    println!(
        "creates, 8 clients:              {} in {:.2} s = {:.0}/s",
        10_000,
        eight.as_secs_f64(),
        10_000.0 / eight.as_secs_f64()
    );
    println!("(fill to {total_routes} routes took {:.2} s)", rest.as_secs_f64());
    println!(
        "list {total_routes} routes ({:.1} MiB JSON): p50 {:.1} ms, p95 {:.1} ms (15 requests)",
        bytes as f64 / 1_048_576.0,
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.95).as_secs_f64() * 1e3
    );
    println!("RSS after {total_routes} creates:         {:.1} MiB", after_creates as f64 / 1024.0);
    println!("RSS after 15 lists of {total_routes}:    {:.1} MiB", after as f64 / 1024.0);
}
