//! Every numeric range boundary: both edges accepted, one below and one above
//! rejected with the field path, the position and the allowed range.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use switchyard::manifest::{Source, load_sources};

const PROVIDER: &str = "apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata: {name: p}
spec:
  modelProvider: openai
  models: [m]
";

fn load(doc: &str) -> Result<(), Vec<String>> {
    let text = format!("{PROVIDER}---\n{doc}");
    load_sources(vec![Source { name: "t.yaml".into(), bytes: text.into_bytes() }])
        .map(|_| ())
        .map_err(|d| d.iter().map(|x| x.render()).collect())
}

/// (document template with `{}` for the value, reported path, min, max)
fn cases() -> Vec<(String, &'static str, i64, i64)> {
    let route = |field: &str| {
        format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {{name: r}}\nspec:\n  targets:\n    - provider: p\n      model: m\n      {field}\n"
        )
    };
    let enablement = |field: &str| {
        format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {{name: q}}\nspec:\n  modelProvider: openai\n  models:\n    - name: m\n      {field}\n"
        )
    };
    let provider = |field: &str| {
        format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {{name: q}}\nspec:\n  modelProvider: openai\n  {field}\n"
        )
    };
    let smart = |field: &str| {
        format!(
            "apiVersion: switchyard.dev/v1alpha1\nkind: SmartModel\nmetadata: {{name: s}}\nspec:\n  determiner: p/m\n  slots:\n    - {{alias: p/m, label: a}}\n    - {{alias: p/m, label: b}}\n  {field}\n"
        )
    };
    vec![
        (route("retryOn429: {count: VALUE}"), "spec.targets[0].retryOn429.count", 0, 10),
        (route("retryOn429: {maxWaitSecs: VALUE}"), "spec.targets[0].retryOn429.maxWaitSecs", 0, 180),
        (route("requestTimeoutSecs: VALUE"), "spec.targets[0].requestTimeoutSecs", 1, 3600),
        (route("streamIdleTimeoutSecs: VALUE"), "spec.targets[0].streamIdleTimeoutSecs", 1, 1800),
        (route("maxInFlight: VALUE"), "spec.targets[0].maxInFlight", 1, 10000),
        (enablement("retryOn429: {count: VALUE}"), "spec.models[0].retryOn429.count", 0, 10),
        (enablement("retryOn429: {maxWaitSecs: VALUE}"), "spec.models[0].retryOn429.maxWaitSecs", 0, 180),
        (enablement("requestTimeoutSecs: VALUE"), "spec.models[0].requestTimeoutSecs", 1, 3600),
        (enablement("streamIdleTimeoutSecs: VALUE"), "spec.models[0].streamIdleTimeoutSecs", 1, 1800),
        (enablement("maxInFlight: VALUE"), "spec.models[0].maxInFlight", 1, 10000),
        (provider("requestTimeoutSecs: VALUE"), "spec.requestTimeoutSecs", 1, 3600),
        (provider("streamIdleTimeoutSecs: VALUE"), "spec.streamIdleTimeoutSecs", 1, 1800),
        (smart("determinerInputMaxChars: VALUE"), "spec.determinerInputMaxChars", 1, 100_000),
        (smart("defaultSlotOnFailure: VALUE"), "spec.defaultSlotOnFailure", 0, 1),
        (smart("contextBreakpoints: [VALUE]"), "spec.contextBreakpoints[0]", 1, 100_000_000),
    ]
}

#[test]
fn both_edges_of_every_range_are_accepted() {
    for (template, path, min, max) in cases() {
        for v in [min, max] {
            let doc = template.replace("VALUE", &v.to_string());
            assert_eq!(load(&doc), Ok(()), "{path} = {v} should be accepted:\n{doc}");
        }
    }
}

#[test]
fn one_past_either_edge_is_rejected_with_path_and_range() {
    for (template, path, min, max) in cases() {
        for v in [min - 1, max + 1] {
            let doc = template.replace("VALUE", &v.to_string());
            let errs = load(&doc).expect_err(&format!("{path} = {v} should be rejected"));
            assert_eq!(errs.len(), 1, "{errs:?}");
            let e = &errs[0];
            assert!(e.starts_with("t.yaml:"), "{e}");
            assert!(e.contains(&format!(" {path}: ")), "path {path} missing in: {e}");
            let mentions_range = e.contains(&format!("between {min} and {max}"))
                || e.contains(&format!("between 0 and {max}"))
                || e.contains("positive")
                || e.contains(&format!("at least {min}"));
            assert!(mentions_range, "range missing in: {e}");
            assert!(e.contains(&format!("{v}")), "value missing in: {e}");
        }
    }
}

#[test]
fn defaults_follow_the_spec() {
    let text = format!(
        "{PROVIDER}---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {{name: r}}\nspec:\n  targets: [{{provider: p, model: m}}]\n---\napiVersion: switchyard.dev/v1alpha1\nkind: SmartModel\nmetadata: {{name: s}}\nspec:\n  determiner: r\n  slots: [{{alias: r, label: a}}]\n"
    );
    let loaded = load_sources(vec![Source { name: "t.yaml".into(), bytes: text.into_bytes() }]).expect("valid");
    let s = &loaded.state;
    let e = &s.providers[0].models[0];
    assert!(!e.bare_alias, "1:1 enablements default to bareAlias false");
    assert!(e.options.enabled);
    assert_eq!(e.options.retry_on_429_count, 0);
    assert_eq!(e.options.retry_on_429_max_wait_secs, 0);
    assert_eq!(e.options.max_in_flight, None);
    let r = &s.routes[0];
    assert_eq!(r.alias, "r", "alias defaults to metadata.name");
    assert!(r.bare_alias, "custom aliases default to bareAlias true");
    assert!(s.providers[0].enabled);
    let sm = &s.smart_models[0];
    assert_eq!(sm.alias, "s");
    assert_eq!(sm.default_slot_on_failure, 0);
    assert!(sm.enabled);
    assert!(sm.context_breakpoints.is_empty());
}
