//! `switchyard controller`: reconcile the cluster's Provider, ModelRoute and SmartModel
//! resources into a gateway (normally the pod's sidecar).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::admin_client::AdminApi;
use crate::admin_client::http::{HttpAdminClient, Options};
use crate::controller::lease::LeaseConfig;
use crate::controller::{Config, Controller, serve_health};
use crate::gateway::auth::{MintKey, mint, read_secret_file};

/// Arguments of `controller`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gateway admin API base URL, ending in /api/llm-gateway.
    #[arg(
        long,
        env = "SWITCHYARD_GATEWAY",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080/api/llm-gateway"
    )]
    pub gateway: String,
    /// Admin token for the gateway (else one is minted from --jwt-secret-file).
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The gateway's HS256 secret, to mint the controller's own admin token.
    #[arg(long, env = "SWITCHYARD_JWT_SECRET_FILE", value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Org the minted token is for.
    #[arg(long, env = "SWITCHYARD_ORG", default_value = super::gateway::DEFAULT_ORG)]
    pub org: Uuid,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "SWITCHYARD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Full reconcile at least this often, seconds (repairs drift made on the gateway).
    #[arg(long, default_value_t = 60)]
    pub resync_secs: u64,
    /// Quiet time after a change before reconciling, milliseconds.
    #[arg(long, default_value_t = 200)]
    pub debounce_ms: u64,
    /// Gateway writes in flight at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
    /// This replica's name (for the Lease and events).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "switchyard-controller")]
    pub lease_name: String,
    /// Lease duration, seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:9091")]
    pub metrics_listen: SocketAddr,
}

/// Runs the controller until SIGTERM/SIGINT.
///
/// # Errors
/// No Kubernetes client configuration, no gateway token.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let token = match (&args.token, &args.jwt_secret_file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => {
            let secret = read_secret_file(path).map_err(anyhow::Error::msg)?;
            mint(&MintKey::Hs256(secret), args.org, "admin", 10 * 365 * 24 * 3600).map_err(anyhow::Error::msg)?
        }
        (None, None) => anyhow::bail!("no gateway credentials\nhint: pass --token or --jwt-secret-file"),
    };
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "switchyard".into());
        format!("{}-{}", host.trim(), std::process::id())
    });
    let api = Arc::new(
        HttpAdminClient::new(
            &args.gateway,
            &token,
            Options { concurrency: args.parallelism.max(1), ..Options::default() },
        )
        .map_err(anyhow::Error::msg)?,
    );
    let cfg = Config {
        gateway: args.gateway.clone(),
        namespace: args.namespace.clone(),
        resync: Duration::from_secs(args.resync_secs.max(1)),
        debounce: Duration::from_millis(args.debounce_ms),
        parallelism: args.parallelism.max(1),
        lease: LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity,
            duration: Duration::from_secs(args.lease_duration_secs.max(1)),
        },
        metrics_listen: Some(args.metrics_listen),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client =
            kube::Client::try_default().await.context("connecting to Kubernetes (KUBECONFIG or in-cluster config)")?;
        let cancel = CancellationToken::new();
        let signals = tokio::spawn(super::gateway::shutdown_on_signal(cancel.clone()));
        let controller = Controller::new(cfg, client, api as Arc<dyn AdminApi>);
        let listener = tokio::net::TcpListener::bind(args.metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.metrics_listen))?;
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "metrics on http://{}", listener.local_addr()?)?;
            out.flush()?;
        }
        let health = tokio::spawn(serve_health(listener, controller.clone(), cancel.clone()));
        let result = controller.run(cancel.clone()).await;
        cancel.cancel();
        signals.abort();
        let _ = health.await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
