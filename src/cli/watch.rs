//! `switchyard watch`: keep a gateway in sync with manifests on disk.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::reconcile::{GatewayArgs, PlanArgs, client};
use crate::admin_client::AdminApi;
use crate::apply::EnvSecrets;
use crate::watch::{WatchConfig, run as run_watch};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Re-plan at least this often (seconds) to repair drift.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
    /// Quiet time after a file change before reconciling (milliseconds).
    #[arg(long, default_value_t = 300)]
    pub debounce_ms: u64,
    /// Changes applied at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
}

/// Runs `watch` until SIGINT/SIGTERM.
///
/// # Errors
/// Set-up failures.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.plan.files.is_empty() {
        anyhow::bail!("no manifests given\nhint: switchyard watch -f DIR");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let api = client(&args.gateway, args.parallelism)?;
    let cfg = WatchConfig {
        request: args.plan.request(),
        gateway: args.gateway.gateway.clone(),
        interval: Duration::from_secs(args.interval.max(1)),
        debounce: Duration::from_millis(args.debounce_ms),
        parallelism: args.parallelism,
    };
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let signals = tokio::spawn(super::gateway::shutdown_on_signal(cancel.clone()));
        let result = run_watch(cfg, api as Arc<dyn AdminApi>, Arc::new(EnvSecrets), cancel.clone()).await;
        cancel.cancel();
        signals.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
