//! Load + validate a large desired state: 10,000 aliases x 3 targets, 200 providers
//! (50 enablements each) and 1,000 smart models spread over 200 files.
//!
//! Criterion measures both `load_validate` (our loader: YAML tree with positions,
//! schema check, typed conversion, set-level rules) and `bare_yaml_parse` (the
//! YAML parser's event stream over the same bytes, no tree). After the criterion
//! run the bench prints both medians from interleaved rounds and their ratio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, reason = "benchmark code")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use switchyard::manifest::{Source, load_sources};

const PROVIDERS: usize = 200;
const MODELS_PER_PROVIDER: usize = 50;
const ALIASES: usize = 10_000;
const SMART: usize = 1_000;

fn corpus() -> Vec<Source> {
    let mut files = Vec::new();
    let aliases_per_file = ALIASES / PROVIDERS;
    let smart_per_file = SMART / PROVIDERS;
    for f in 0..PROVIDERS {
        let mut text = String::new();
        text.push_str(&format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: provider-{f}\nspec:\n  modelProvider: openai\n  baseUrl: https://api{f}.example.com/v1\n  apiKey: {{ fromEnv: KEY_{f} }}\n  models:\n"
        ));
        for m in 0..MODELS_PER_PROVIDER {
            if m % 5 == 0 {
                text.push_str(&format!(
                    "    - name: model-{m}\n      maxInFlight: 100\n      requestTimeoutSecs: 60\n"
                ));
            } else {
                text.push_str(&format!("    - model-{m}\n"));
            }
        }
        for a in 0..aliases_per_file {
            let i = f * aliases_per_file + a;
            text.push_str(&format!(
                "---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata:\n  name: alias-{i}\nspec:\n  targets:\n"
            ));
            for t in 0..3 {
                let p = (f + t * 7) % PROVIDERS;
                let m = (a + t) % MODELS_PER_PROVIDER;
                text.push_str(&format!(
                    "    - provider: provider-{p}\n      model: model-{m}\n      retryOn429: {{ count: 2, maxWaitSecs: 30 }}\n      requestTimeoutSecs: 120\n"
                ));
            }
        }
        for s in 0..smart_per_file {
            let i = f * smart_per_file + s;
            text.push_str(&format!(
                "---\napiVersion: switchyard.dev/v1alpha1\nkind: SmartModel\nmetadata:\n  name: smart-{i}\nspec:\n  determiner: alias-{i}\n  slots:\n    - {{ alias: alias-{i}, label: simple }}\n    - {{ alias: alias-{}, label: complex }}\n  contextBreakpoints: [4000]\n  defaultSlotOnFailure: 1\n",
                (i + 1) % ALIASES
            ));
        }
        files.push(Source { name: format!("f{f:03}.yaml"), bytes: text.into_bytes() });
    }
    files
}

fn load(files: &[Source]) -> usize {
    let loaded = load_sources(files.to_vec()).expect("corpus is valid");
    loaded.documents.len()
}

/// The YAML parser alone, over the same files, split over the same number of
/// threads as the loader uses (so the ratio compares like with like).
fn bare_parse(files: &[Source]) -> usize {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(chunk).map(|c| s.spawn(move || bare_parse_serial(c))).collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    })
}

fn bare_parse_serial(files: &[Source]) -> usize {
    let mut events = 0;
    for f in files {
        let text = std::str::from_utf8(&f.bytes).expect("utf8");
        let mut parser = saphyr_parser::Parser::new_from_str(text);
        while let Some(ev) = parser.next_event() {
            black_box(ev.expect("valid yaml"));
            events += 1;
        }
    }
    events
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let files = corpus();
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    assert_eq!(load(&files), PROVIDERS + ALIASES + SMART);

    let mut c = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(8)).configure_from_args();
    c.bench_function("load_validate_10k_aliases", |b| b.iter(|| load(black_box(&files))));
    c.bench_function("bare_yaml_parse_same_bytes", |b| b.iter(|| bare_parse(black_box(&files))));
    c.final_summary();

    // Side by side, interleaved, for the ratio.
    let (mut ours, mut bare, mut serial) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        black_box(load(&files));
        ours.push(t.elapsed());
        let t = Instant::now();
        black_box(bare_parse(&files));
        bare.push(t.elapsed());
        let t = Instant::now();
        black_box(bare_parse_serial(&files));
        serial.push(t.elapsed());
    }
    let (o, b, s1) = (median(ours), median(bare), median(serial));
    println!(
        "\ncorpus: {} files, {:.1} MiB, {} documents, {} threads\nload+validate median: {:.1} ms\nbare YAML parse median (same threads): {:.1} ms\nbare YAML parse median (1 thread): {:.1} ms\nratio (load+validate / bare parse, same threads): {:.2}x",
        files.len(),
        bytes as f64 / 1_048_576.0,
        PROVIDERS + ALIASES + SMART,
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8),
        o.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        s1.as_secs_f64() * 1e3,
        o.as_secs_f64() / b.as_secs_f64()
    );
}
