//! Shared by the whole-process benchmarks: a `switchyard gateway` child process.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `switchyard gateway` on `127.0.0.1:0` with its database and JWT secret in
/// `dir`; returns the process and its base URL (`http://127.0.0.1:PORT`).
pub fn start_gateway(dir: &Path) -> (Child, String) {
    let secret = dir.join("secret");
    std::fs::write(&secret, "bench-secret-bench-secret").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("g.db"))
        .arg("--jwt-secret-file")
        .arg(&secret)
        .env("SWITCHYARD_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    (child, base)
}

/// An admin JWT for `org` on the gateway started in `dir`.
pub fn admin_token(dir: &Path, org: uuid::Uuid) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["token", "--org", &org.to_string(), "--jwt-secret-file"])
        .arg(dir.join("secret"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
