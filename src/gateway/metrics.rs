//! Prometheus text metrics for the gateway: requests by route, method and status; a
//! latency histogram per route; store errors; successful admin writes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counts per (method, status) of one route.
type Series = HashMap<(&'static str, u16), u64>;

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// route -> (method, status) -> count; looked up by `&str` so a request that
    /// hits known series allocates nothing.
    requests: Mutex<HashMap<String, Series>>,
    latency: Mutex<HashMap<String, Histogram>>,
    store_errors: AtomicU64,
    admin_writes: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method: &'static str = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "OTHER",
        };
        if let Ok(mut m) = self.requests.lock() {
            if let Some(series) = m.get_mut(route) {
                *series.entry((method, status)).or_default() += 1;
            } else {
                m.entry(route.to_owned()).or_default().insert((method, status), 1);
            }
        }
        if let Ok(mut m) = self.latency.lock() {
            if !m.contains_key(route) {
                m.insert(route.to_owned(), Histogram::default());
            }
            let Some(h) = m.get_mut(route) else { return };
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
        if status == 500 {
            self.store_errors.fetch_add(1, Ordering::Relaxed);
        }
        let mutating = matches!(method, "POST" | "PUT" | "DELETE");
        if mutating
            && (200..300).contains(&status)
            && route.contains("/admin/")
            && !route.ends_with("/preview")
            && !route.ends_with("/reset")
        {
            self.admin_writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Successful admin writes so far.
    #[must_use]
    pub fn admin_writes(&self) -> u64 {
        self.admin_writes.load(Ordering::Relaxed)
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP switchyard_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE switchyard_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            let sorted: BTreeMap<(&str, &str, u16), u64> = m
                .iter()
                .flat_map(|(route, series)| {
                    series.iter().map(move |((method, status), n)| ((*method, route.as_str(), *status), *n))
                })
                .collect();
            for ((method, route, status), n) in &sorted {
                let _ = writeln!(
                    out,
                    "switchyard_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP switchyard_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE switchyard_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            let sorted: BTreeMap<&String, &Histogram> = m.iter().collect();
            for (route, h) in sorted {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "switchyard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "switchyard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "switchyard_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ =
                    writeln!(out, "switchyard_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        write_scalar(
            &mut out,
            "switchyard_store_errors_total",
            "counter",
            "Requests that failed with a storage error.",
            self.store_errors.load(Ordering::Relaxed),
        );
        write_scalar(
            &mut out,
            "switchyard_admin_writes_total",
            "counter",
            "Successful admin API writes (POST, PUT, DELETE).",
            self.admin_writes(),
        );
        out
    }
}

/// Appends one unlabelled metric (`# HELP`, `# TYPE` and the sample) to `out`.
pub fn write_scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}
