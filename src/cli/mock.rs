//! `switchyard mock-upstream`: the scriptable OpenAI-compatible fake upstream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::gateway::mock::{Step, run as run_mock};

/// Arguments of `mock-upstream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// JSON file `{"<model>": [step, ...]}` to start with (see `PUT /_mock/script`).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
}

/// Runs the mock until SIGINT/SIGTERM.
///
/// # Errors
/// A bad script file or address.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let script: Option<BTreeMap<String, Vec<Step>>> = match &args.script {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(serde_json::from_str(&text).with_context(|| format!("{} is not a mock script", path.display()))?)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let signals = tokio::spawn(super::gateway::shutdown_on_signal(cancel.clone()));
        let result = run_mock(args.listen, script, cancel.clone()).await;
        cancel.cancel();
        signals.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
