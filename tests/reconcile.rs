//! The reconciler end to end: the `switchyard` CLI against a real `switchyard
//! gateway` process on 127.0.0.1:0 with SQLite. Write counts come from the gateway's
//! own `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use uuid::Uuid;

const PROVIDERS: &str = "apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata: {name: openai-prod}
spec:
  modelProvider: openai
  baseUrl: https://api.openai.com/v1
  apiKey: {fromEnv: T_OPENAI_KEY}
  models:
    - gpt-4o-mini
    - name: gpt-4o
      maxInFlight: 500
---
apiVersion: switchyard.dev/v1alpha1
kind: Provider
metadata: {name: anthropic-prod}
spec:
  modelProvider: anthropic
  apiKey: {fromEnv: T_ANTHROPIC_KEY}
  models: [claude-sonnet-4-5, claude-haiku-4-5]
";

const ROUTES: &str = "apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: {name: team-coding-model}
spec:
  targets:
    - {provider: openai-prod, model: gpt-4o, retryOn429: {count: 2, maxWaitSecs: 30}}
    - {provider: anthropic-prod, model: claude-sonnet-4-5}
    - {provider: openai-prod, model: gpt-4o-mini}
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelRoute
metadata: {name: fast}
spec:
  targets:
    - {provider: openai-prod, model: gpt-4o-mini}
    - {provider: anthropic-prod, model: claude-haiku-4-5}
";

const SMART: &str = "apiVersion: switchyard.dev/v1alpha1
kind: SmartModel
metadata: {name: smart-coder}
spec:
  determiner: fast
  slots:
    - {alias: fast, label: simple}
    - {alias: team-coding-model, label: complex}
  contextBreakpoints: [4000]
  defaultSlotOnFailure: 1
";

const KEYS: &[(&str, &str)] = &[("T_OPENAI_KEY", "sk-openai-1"), ("T_ANTHROPIC_KEY", "sk-anthropic-1")];

struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Repo {
    fn new(files: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config");
        std::fs::create_dir_all(&dir).unwrap();
        let r = Self { _tmp: tmp, dir };
        for (name, text) in files {
            r.write(name, text);
        }
        r
    }
    fn quickstart() -> Self {
        Self::new(&[("providers.yaml", PROVIDERS), ("routes.yaml", ROUTES), ("smart.yaml", SMART)])
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }
    fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.join(name)).unwrap();
    }
    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

fn plan(g: &Gateway, org: Uuid, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["plan", "-f", repo.path(), "--detailed-exitcode"];
    args.extend_from_slice(extra);
    cli(g, org, &args, KEYS)
}

fn apply(g: &Gateway, org: Uuid, repo: &Repo, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "-f", repo.path(), "--auto-approve"];
    args.extend_from_slice(extra);
    cli(g, org, &args, KEYS)
}

fn assert_converged(g: &Gateway, org: Uuid, repo: &Repo, extra: &[&str]) {
    let before = g.writes();
    let out = plan(g, org, repo, extra);
    assert_eq!(out.status.code(), Some(0), "plan after apply must be empty:\n{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));
    assert_eq!(g.writes(), before, "planning must not write");
}

#[test]
fn create_from_empty_converges_and_writes_exactly_the_planned_calls() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    let out = plan(&g, org, &repo, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["summary"], serde_json::json!({"create": 9, "update": 0, "delete": 0}));
    let planned_writes: u64 = json["changes"].as_array().unwrap().iter().map(|c| c["writes"].as_u64().unwrap()).sum();
    // 2 providers + 4 enablements + 3 + 2 alias rows + 1 smart model.
    assert_eq!(planned_writes, 12);
    assert_eq!(g.writes(), 0);

    let out = apply(&g, org, &repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Apply complete: 9 applied, 0 failed, 0 skipped (12 writes)."), "{}", stdout(&out));
    assert_eq!(g.writes(), 12);
    assert_converged(&g, org, &repo, &[]);

    // A second apply is a no-op: zero writes.
    let out = apply(&g, org, &repo, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));
    assert_eq!(g.writes(), 12);
}

#[test]
fn an_option_change_is_one_update_with_one_write() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert!(apply(&g, org, &repo, &[]).status.success());
    repo.write("routes.yaml", &ROUTES.replace("maxWaitSecs: 30", "maxWaitSecs: 45"));
    let out = plan(&g, org, &repo, &[]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("~ alias team-coding-model (update)"), "{text}");
    assert!(text.contains("    -     maxWaitSecs: 30") && text.contains("    +     maxWaitSecs: 45"), "{text}");
    assert!(text.contains("Plan: 0 to create, 1 to update, 0 to delete."), "{text}");
    let before = g.writes();
    assert!(apply(&g, org, &repo, &[]).status.success());
    assert_eq!(g.writes() - before, 1);
    assert_converged(&g, org, &repo, &[]);
}

#[test]
fn reordering_targets_is_a_single_reorder_call() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert!(apply(&g, org, &repo, &[]).status.success());
    let swapped = ROUTES.replace(
        "    - {provider: openai-prod, model: gpt-4o-mini}\n    - {provider: anthropic-prod, model: claude-haiku-4-5}",
        "    - {provider: anthropic-prod, model: claude-haiku-4-5}\n    - {provider: openai-prod, model: gpt-4o-mini}",
    );
    assert_ne!(swapped, ROUTES);
    repo.write("routes.yaml", &swapped);
    let before = g.writes();
    let reorders_before = g.requests("route=\"/api/llm-gateway/admin/model-mappings/reorder\"");
    let out = apply(&g, org, &repo, &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(g.writes() - before, 1, "one write for the swap");
    assert_eq!(g.requests("route=\"/api/llm-gateway/admin/model-mappings/reorder\"") - reorders_before, 1);
    assert_converged(&g, org, &repo, &[]);
}

#[test]
fn prune_deletes_undeclared_objects_only_when_asked_and_never_protected_ones() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert!(apply(&g, org, &repo, &[]).status.success());
    // Drop the `fast` alias and the smart model that uses it.
    repo.write("routes.yaml", ROUTES.split("---").next().unwrap());
    repo.remove("smart.yaml");
    // Without --prune nothing is deleted.
    assert_converged(&g, org, &repo, &[]);
    // With --prune, the alias goes, and the smart model stays: SmartModel is not a kind in the input.
    let out = plan(&g, org, &repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.starts_with("switchyard will make these changes"), "{text}");
    let first_change = text.lines().nth(2).unwrap();
    assert_eq!(first_change, "- alias fast (delete)", "deletions are listed first:\n{text}");
    assert!(text.contains("Plan: 0 to create, 0 to update, 1 to delete."), "{text}");
    // The smart model still refers to `fast`: the gateway does not forbid that, so
    // pruning goes ahead; protect it instead and it is kept.
    let out = plan(&g, org, &repo, &["--prune", "--protect", "fast"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("alias fast is protected: not deleted"), "{}", stdout(&out));
    let before = g.writes();
    let out = apply(&g, org, &repo, &["--prune", "--protect", "fast"]);
    assert!(out.status.success());
    assert_eq!(g.writes(), before, "a protected object is never deleted");
    let out = apply(&g, org, &repo, &["--prune"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(g.writes() - before, 2, "two rows of `fast`");
    assert_converged(&g, org, &repo, &["--prune"]);
}

#[test]
fn the_protected_annotation_keeps_a_provider_and_its_enablements_from_prune() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::new(&[("providers.yaml", PROVIDERS)]);
    assert!(apply(&g, org, &repo, &[]).status.success());
    let protected = PROVIDERS.replace(
        "metadata: {name: anthropic-prod}",
        "metadata:\n  name: anthropic-prod\n  annotations: {switchyard.dev/protected: \"true\"}",
    );
    repo.write(
        "providers.yaml",
        &protected.replace("models: [claude-sonnet-4-5, claude-haiku-4-5]", "models: [claude-sonnet-4-5]"),
    );
    let out = plan(&g, org, &repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("enablement anthropic-prod/claude-haiku-4-5 is protected: not deleted"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn export_then_plan_is_empty() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert!(apply(&g, org, &repo, &[]).status.success());
    let out_dir = repo.dir.parent().unwrap().join("exported");
    let out = cli(&g, org, &["export", "-o", out_dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(listed.contains("openai-prod.yaml") && listed.contains("smart-models.yaml"), "{listed}");
    let exported = std::fs::read_to_string(out_dir.join("openai-prod.yaml")).unwrap();
    assert!(exported.contains("fromEnv: OPENAI_PROD_API_KEY"), "{exported}");
    assert!(!exported.contains("sk-openai"), "secrets never exported");
    let before = g.writes();
    let out = cli(
        &g,
        org,
        &["plan", "-f", out_dir.to_str().unwrap(), "--detailed-exitcode"],
        &[("OPENAI_PROD_API_KEY", "sk-openai-1"), ("ANTHROPIC_PROD_API_KEY", "sk-anthropic-1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(g.writes(), before);
}

#[test]
fn a_saved_plan_applies_and_a_stale_edited_or_corrupt_one_is_refused() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    let plan_file = repo.dir.parent().unwrap().join("plan.json");
    let pf = plan_file.to_str().unwrap();
    let out = plan(&g, org, &repo, &["--out", pf]);
    assert_eq!(out.status.code(), Some(2));
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!saved.contains("sk-openai-1"), "no secret values in a saved plan");

    // Hand-edited: refused, nothing written.
    let edited = plan_file.with_file_name("edited.json");
    std::fs::write(&edited, saved.replace("gpt-4o-mini", "gpt-4o-nano")).unwrap();
    let out = cli(&g, org, &["apply", edited.to_str().unwrap()], KEYS);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("was modified after it was written"), "{}", stderr(&out));
    // Corrupt: refused.
    std::fs::write(&edited, &saved[..saved.len() / 2]).unwrap();
    let out = cli(&g, org, &["apply", edited.to_str().unwrap()], KEYS);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a switchyard saved plan"), "{}", stderr(&out));
    assert_eq!(g.writes(), 0);

    // Accepted while nothing changed.
    let out = cli(&g, org, &["apply", pf], KEYS);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(g.writes(), 12);
    assert_converged(&g, org, &repo, &[]);

    // Stale: the gateway changed after the plan was made.
    repo.write("routes.yaml", &ROUTES.replace("maxWaitSecs: 30", "maxWaitSecs: 31"));
    assert_eq!(plan(&g, org, &repo, &["--out", pf]).status.code(), Some(2));
    repo.write("routes.yaml", &ROUTES.replace("maxWaitSecs: 30", "maxWaitSecs: 32"));
    assert!(apply(&g, org, &repo, &[]).status.success());
    let writes = g.writes();
    let out = cli(&g, org, &["apply", pf], KEYS);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the saved plan is stale: the gateway's config generation was"), "{}", stderr(&out));
    assert_eq!(g.writes(), writes, "a stale plan writes nothing");
}

#[test]
fn detailed_exit_codes_are_0_2_and_1() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert_eq!(plan(&g, org, &repo, &[]).status.code(), Some(2));
    assert!(apply(&g, org, &repo, &[]).status.success());
    assert_eq!(plan(&g, org, &repo, &[]).status.code(), Some(0));
    repo.write("bad.yaml", "kind: Nope\n");
    assert_eq!(plan(&g, org, &repo, &[]).status.code(), Some(1));
}

#[test]
fn invalid_manifests_make_no_gateway_call() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    repo.write("routes.yaml", &ROUTES.replace("count: 2", "count: 11"));
    let out = apply(&g, org, &repo, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("spec.targets[0].retryOn429.count: must be between 0 and 10 (got 11)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(g.requests("/admin/"), 0, "no admin call was made");
}

#[test]
fn a_missing_api_key_variable_is_reported_at_its_field() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    let out = cli(&g, org, &["apply", "-f", repo.path(), "--auto-approve"], &[("T_OPENAI_KEY", "x")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("providers.yaml:18:12: spec.apiKey.fromEnv: environment variable T_ANTHROPIC_KEY is not set (provider `anthropic-prod`)"), "{err}");
    assert!(err.contains("hint: export T_ANTHROPIC_KEY=..."), "{err}");
    assert_eq!(g.requests("/admin/"), 0);
}

#[test]
fn an_unreachable_gateway_a_bad_token_and_a_member_token_fail_clearly() {
    let repo = Repo::quickstart();
    let dead = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["plan", "-f", repo.path()])
        .env("SWITCHYARD_GATEWAY", "http://127.0.0.1:9/api/llm-gateway")
        .env("SWITCHYARD_TOKEN", "x")
        .envs(KEYS.iter().copied())
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(1));
    assert!(stderr(&dead).contains("gateway unreachable"), "{}", stderr(&dead));
    assert!(stderr(&dead).contains("hint: is the gateway running"), "{}", stderr(&dead));

    let g = Gateway::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["plan", "-f", repo.path()])
        .env("SWITCHYARD_GATEWAY", g.api())
        .env("SWITCHYARD_TOKEN", token_ttl(Uuid::new_v4(), "admin", -300))
        .envs(KEYS.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401 token has expired"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: the token was refused"), "{}", stderr(&out));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["apply", "-f", repo.path(), "--auto-approve"])
        .env("SWITCHYARD_GATEWAY", g.api())
        .env("SWITCHYARD_TOKEN", token(Uuid::new_v4(), "member"))
        .envs(KEYS.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    assert!(stderr(&out).contains("an `admin` role is needed"), "{}", stderr(&out));
    assert_eq!(g.writes(), 0);
}

#[test]
fn an_apply_cut_off_by_a_gateway_crash_converges_on_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let org = Uuid::new_v4();
    let repo = Repo::new(&[("providers.yaml", PROVIDERS)]);
    let mut aliases = String::new();
    for i in 0..150 {
        aliases.push_str(&format!(
            "---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {{name: alias-{i}}}\nspec:\n  targets:\n    - {{provider: openai-prod, model: gpt-4o}}\n    - {{provider: anthropic-prod, model: claude-sonnet-4-5}}\n"
        ));
    }
    repo.write("aliases.yaml", &aliases);
    let g = Gateway::start_in(tmp.path());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["apply", "-f", repo.path(), "--auto-approve", "--parallelism", "1"])
        .env("SWITCHYARD_GATEWAY", g.api())
        .env("SWITCHYARD_TOKEN", token(org, "admin"))
        .envs(KEYS.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let some writes land, then kill the gateway.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while g.writes() < 40 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    g.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    assert!(report.contains("Apply incomplete:"), "{report}");
    assert!(report.contains("gateway unreachable"), "{report}");

    let g = Gateway::start_in(tmp.path());
    let out = cli(&g, org, &["apply", "-f", repo.path(), "--auto-approve"], KEYS);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_converged(&g, org, &repo, &[]);
    let rows = blocking_get_json(&g, org, "/admin/model-mappings");
    assert_eq!(rows.as_array().unwrap().len(), 4 + 300, "4 enablements and 150 x 2 alias rows, no duplicates");
}

fn blocking_get_json(g: &Gateway, org: Uuid, path: &str) -> serde_json::Value {
    let url = format!("{}{path}", g.api());
    let token = token(org, "admin");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
        })
    })
    .join()
    .unwrap()
}

#[test]
fn two_racing_applies_end_converged_without_duplicates() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["apply", "-f", repo.path(), "--auto-approve"])
            .env("SWITCHYARD_GATEWAY", g.api())
            .env("SWITCHYARD_TOKEN", token(org, "admin"))
            .envs(KEYS.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    // One of them may lose races (409 on a duplicate name); a rerun converges.
    if !(a.status.success() && b.status.success()) {
        let out = apply(&g, org, &repo, &[]);
        assert!(out.status.success(), "{}", stdout(&out));
    }
    assert_converged(&g, org, &repo, &[]);
    let rows = blocking_get_json(&g, org, "/admin/model-mappings");
    assert_eq!(rows.as_array().unwrap().len(), 9, "4 enablements + 5 alias rows, no duplicates");
    let providers = blocking_get_json(&g, org, "/admin/providers");
    assert_eq!(providers.as_array().unwrap().len(), 2);
}

fn normalize(text: &str, g: &Gateway) -> String {
    text.replace(&g.api(), "http://GATEWAY/api/llm-gateway")
}

fn check_snapshot(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == got,
        "snapshot {name} differs (SWITCHYARD_BLESS=1 to update, then review):\n--- want\n{want}\n--- got\n{got}"
    );
}

#[test]
fn plan_text_and_markdown_match_their_snapshots() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    assert!(apply(&g, org, &repo, &[]).status.success());
    // One of each: updates, a target removed, an alias and a smart model created,
    // another alias and smart model deleted (with --prune).
    let changed = ROUTES
        .replace("maxWaitSecs: 30", "maxWaitSecs: 45")
        .replace("    - {provider: openai-prod, model: gpt-4o-mini}\n---", "---")
        .replace("metadata: {name: fast}", "metadata: {name: cheap}");
    repo.write("routes.yaml", &changed);
    repo.write("providers.yaml", &PROVIDERS.replace("maxInFlight: 500", "maxInFlight: 250"));
    repo.write(
        "smart.yaml",
        &SMART
            .replace("name: smart-coder", "name: smart-writer")
            .replace("determiner: fast", "determiner: cheap")
            .replace("alias: fast,", "alias: cheap,"),
    );
    let text = plan(&g, org, &repo, &["--prune"]);
    assert_eq!(text.status.code(), Some(2), "{}", stderr(&text));
    check_snapshot("plan.txt", &normalize(&stdout(&text), &g));
    let md = plan(&g, org, &repo, &["--prune", "-o", "markdown"]);
    check_snapshot("plan.md", &normalize(&stdout(&md), &g));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn watch_applies_edits_ignores_bad_ones_repairs_drift_and_outlives_a_gateway_outage() {
    let org = Uuid::new_v4();
    let repo = Repo::quickstart();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}/api/llm-gateway");
    // The watcher starts before any gateway listens on that port.
    let log = tmp.path().join("watch.log");
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["watch", "-f", repo.path(), "--interval", "2", "--debounce-ms", "100"])
        .env("SWITCHYARD_GATEWAY", &api)
        .env("SWITCHYARD_TOKEN", token(org, "admin"))
        .env("SWITCHYARD_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(KEYS.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let secret = tmp.path().join("jwt.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let mut gw = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(tmp.path().join("g.db"))
        .arg("--jwt-secret-file")
        .arg(&secret)
        .env("SWITCHYARD_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let routes = || blocking_get_json_at(&api, org, "/admin/model-mappings");
    wait_until("the first apply after the gateway came up", 20, || routes().as_array().is_some_and(|r| r.len() == 9));

    // An edit is applied.
    repo.write("routes.yaml", &ROUTES.replace("maxWaitSecs: 30", "maxWaitSecs: 44"));
    wait_until("the edit to be applied", 10, || {
        routes().as_array().unwrap().iter().any(|r| r["retry_on_429_max_wait_secs"] == 44)
    });

    // A bad edit is reported and nothing is applied until it is fixed.
    repo.write("routes.yaml", &ROUTES.replace("maxWaitSecs: 30", "maxWaitSecs: 999"));
    wait_until("the validation error in the log", 10, || {
        std::fs::read_to_string(&log).unwrap().contains("must be between 0 and 180 (got 999)")
    });
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(routes().as_array().unwrap().iter().any(|r| r["retry_on_429_max_wait_secs"] == 44), "nothing applied");
    repo.write("routes.yaml", ROUTES);
    wait_until("the fix to be applied", 10, || {
        routes().as_array().unwrap().iter().any(|r| r["retry_on_429_max_wait_secs"] == 30)
    });

    // Drift made directly on the gateway is repaired on the next interval.
    let victim = routes().as_array().unwrap().iter().find(|r| r["model_alias"] == "fast").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    delete_at(&api, org, &format!("/admin/model-mappings/{victim}"));
    assert_eq!(routes().as_array().unwrap().len(), 8);
    wait_until("the drift to be repaired", 10, || routes().as_array().unwrap().len() == 9);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("applied: Plan: 9 to create, 0 to update, 0 to delete."), "{text}");
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = gw.kill();
    let _ = gw.wait();
}

fn blocking_get_json_at(api: &str, org: Uuid, path: &str) -> serde_json::Value {
    let (url, token) = (format!("{api}{path}"), token(org, "admin"));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            match reqwest::Client::new().get(url).bearer_auth(token).send().await {
                Ok(r) => r.json().await.unwrap_or(serde_json::Value::Null),
                Err(_) => serde_json::Value::Null,
            }
        })
    })
    .join()
    .unwrap()
}

fn delete_at(api: &str, org: Uuid, path: &str) {
    let (url, token) = (format!("{api}{path}"), token(org, "admin"));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async { reqwest::Client::new().delete(url).bearer_auth(token).send().await.unwrap() })
    })
    .join()
    .unwrap();
}
