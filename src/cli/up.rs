//! `switchyard up -f DIR`: flags for [`crate::up`], the newcomer's one command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::gateway::DataPlaneArgs;
use crate::up::{Config, run as run_up};

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest directory (or files) to apply and watch.
    #[arg(short = 'f', long = "filename", num_args = 1.., required = true)]
    pub files: Vec<PathBuf>,
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Mock upstream address (the quickstart's providers point at 127.0.0.1:8787).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub mock_listen: SocketAddr,
    /// Do not start the mock upstream.
    #[arg(long)]
    pub no_mock: bool,
    /// Mock script (`{"<model>": [step, ...]}`); default: `mock-upstream.json` in the
    /// first manifest directory, if present.
    #[arg(long, value_name = "FILE")]
    pub mock_script: Option<PathBuf>,
    /// Where the database, the JWT secret and the API key live.
    #[arg(long, default_value = ".switchyard")]
    pub state_dir: PathBuf,
    /// Org the configuration is applied to (and keyless requests act for).
    #[arg(long, default_value = super::gateway::DEFAULT_ORG)]
    pub org: Uuid,
    /// Delete gateway objects DIR no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Re-plan at least this often (seconds) to repair drift.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
    /// Exit after the first apply (and the printed curl line) instead of watching.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub data_plane: DataPlaneArgs,
}

/// Runs `up` until SIGINT/SIGTERM.
///
/// # Errors
/// Set-up failures: ports in use, unreadable state directory, bad script.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = Config {
        files: args.files.clone(),
        listen: args.listen,
        mock_listen: (!args.no_mock).then_some(args.mock_listen),
        mock_script: args.mock_script.clone(),
        state_dir: args.state_dir.clone(),
        org: args.org,
        prune: args.prune,
        interval: Duration::from_secs(args.interval.max(1)),
        once: args.once,
        proxy: args.data_plane.settings()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ok = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let signals = tokio::spawn(super::gateway::shutdown_on_signal(cancel.clone()));
        let result = run_up(&cfg, cancel.clone()).await;
        cancel.cancel();
        signals.abort();
        result
    })?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
