//! `switchyard validate` end to end: the real binary on fixture files, with the exact
//! text a user sees. Each bad input in `tests/fixtures/invalid/` has a `.expected`
//! file next to it (regenerate with `SWITCHYARD_BLESS=1 cargo test --test validate_cli`,
//! then review the diff).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run switchyard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "expected"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_invalid_fixture_fails_with_its_exact_expected_output() {
    let bless = std::env::var_os("SWITCHYARD_BLESS").is_some();
    let mut failures = Vec::new();
    let all = fixtures();
    assert!(all.len() >= 24, "fixtures missing: found {}", all.len());
    for path in all {
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).expect("relative").to_str().expect("utf8").to_owned();
        let out = switchyard(&["validate", "-f", &rel]);
        let expected_path = PathBuf::from(format!("{}.expected", path.display()));
        let got = stdout(&out);
        if bless {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if out.status.code() != Some(1) {
            failures.push(format!("{rel}: exit code {:?}, expected 1", out.status.code()));
        }
        if got != expected {
            failures.push(format!("{rel}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inline_secret_is_never_echoed() {
    let out = switchyard(&["validate", "-f", "tests/fixtures/invalid/inline_api_key.yaml", "-o", "json"]);
    let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("THIS-MUST-NEVER-BE-PRINTED"), "{all}");
    assert!(!all.contains("sk-proj"), "{all}");
}

#[test]
fn json_output_lists_every_diagnostic_with_position_path_and_hint() {
    let out = switchyard(&["validate", "-f", "tests/fixtures/invalid/unknown_field.yaml", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);
    let diags = v["diagnostics"].as_array().expect("array");
    assert_eq!(diags.len(), 2, "{v:#}");
    assert_eq!(diags[0]["file"], "tests/fixtures/invalid/unknown_field.yaml");
    assert_eq!(diags[0]["line"], 15);
    assert_eq!(diags[0]["column"], 3);
    assert_eq!(diags[0]["path"], "spec.bareAlais");
    assert_eq!(diags[0]["message"], "unknown field `bareAlais`");
    assert_eq!(diags[0]["hint"], "did you mean `bareAlias`?");
    assert_eq!(diags[1]["path"], "spec.targets[0].retryOn429.maxWait");
    assert_eq!(diags[1]["hint"], "did you mean `maxWaitSecs`?");
}

#[test]
fn every_example_validates_alone_and_together() {
    let out = switchyard(&["validate", "-f", "examples/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("valid: "), "{}", stdout(&out));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    for dir in dirs {
        let has_yaml = walk_has_yaml(&dir);
        if !has_yaml {
            continue;
        }
        let out = switchyard(&["validate", "-f", dir.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", dir.display(), stdout(&out));
    }
}

fn walk_has_yaml(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("dir").any(|e| {
        let p = e.expect("entry").path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            return false; // hidden entries (examples/ci/.github) are not manifests
        }
        if p.is_dir() { walk_has_yaml(&p) } else { p.extension().is_some_and(|x| x == "yaml" || x == "yml") }
    })
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"apiVersion: switchyard.dev/v1alpha1\nkind: ModelRoute\nmetadata: {name: x}\nspec: {targets: []}\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "<stdin>:4:17: spec.targets: must not be empty (expected a list with at least 1 item(s))\n\
         error: 1 problem in 1 file; nothing was changed\n"
    );
}

#[test]
fn a_50_mb_file_is_refused_quickly_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    let mut text = String::with_capacity(50 * 1024 * 1024 + line.len());
    while text.len() < 50 * 1024 * 1024 {
        text.push_str(line);
    }
    std::fs::write(&path, text).expect("write");
    let out = switchyard(&["validate", "-f", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "{}: file is 50.0 MiB, larger than the 16 MiB limit for one manifest file\n\
             error: 1 problem in 1 file; nothing was changed\n",
            path.display()
        )
    );
}

#[test]
fn a_10000_level_nested_document_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deep.yaml");
    let mut text = String::from(
        "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {name: p}\nspec:\n  settings:\n    x: ",
    );
    text.push_str(&"[".repeat(10_000));
    text.push_str(&"]".repeat(10_000));
    text.push('\n');
    std::fs::write(&path, text).expect("write");
    let out = switchyard(&["validate", "-f", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let got = stdout(&out);
    assert!(got.contains(": document nests deeper than 128 levels\n"), "{got}");
    assert!(got.starts_with(&format!("{}:6:", path.display())), "{got}");

    let mut flow = String::from("apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {name: p}\nspec: ");
    flow.push_str(&"{a: ".repeat(10_000));
    flow.push_str(&"}".repeat(10_000));
    flow.push('\n');
    std::fs::write(&path, flow).expect("write");
    let out = switchyard(&["validate", "-f", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("document nests deeper than 128 levels"), "{}", stdout(&out));
}

#[cfg(unix)]
#[test]
fn a_directory_symlink_loop_is_reported_not_followed_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("configs");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(
        sub.join("p.yaml"),
        "apiVersion: switchyard.dev/v1alpha1\nkind: Provider\nmetadata: {name: p}\nspec: {modelProvider: openai}\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(&sub, sub.join("loop")).expect("symlink");
    let out = switchyard(&["validate", "-f", dir.path().to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let loop_path = sub.join("loop");
    assert_eq!(
        stdout(&out),
        format!(
            "{}: symlink loop: this directory leads back to {}\nerror: 1 problem in 1 file; nothing was changed\n",
            loop_path.display(),
            std::fs::canonicalize(&sub).expect("canon").display()
        )
    );
}

#[test]
fn a_missing_path_is_an_error() {
    let out = switchyard(&["validate", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "does/not/exist.yaml: no such file or directory\nerror: 1 problem in 1 file; nothing was changed\n"
    );
}
