//! `switchyard gateway`: runs the gateway until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::gateway::auth::{Verifier, read_secret_file};
use crate::gateway::proxy::ProxySettings;
use crate::gateway::proxy::health::HealthConfig;
use crate::gateway::{Config, run as run_gateway};

/// Arguments of `gateway`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite database file (created if missing), or `:memory:`.
    #[arg(long, env = "SWITCHYARD_DB", default_value = ".switchyard/gateway.db")]
    pub db: String,
    /// File holding the HS256 secret that admin JWTs are signed with.
    #[arg(long, env = "SWITCHYARD_JWT_SECRET_FILE", value_name = "FILE", conflicts_with = "jwt_public_key_file")]
    pub jwt_secret_file: Option<PathBuf>,
    /// PEM RSA public key that admin JWTs are signed for (RS256).
    #[arg(long, env = "SWITCHYARD_JWT_PUBLIC_KEY_FILE", value_name = "FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub data_plane: DataPlaneArgs,
}

/// Whether runtime (`/v1`) requests need an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeAuth {
    /// `Authorization: Bearer bd-...` or `x-api-key: bd-...` (the default).
    Key,
    /// No key needed: for a sidecar reachable only on localhost. Requests act for
    /// `--runtime-org`.
    None,
}

/// Data-plane flags (shared by `gateway` and `up`).
#[derive(Debug, Clone, clap::Args)]
pub struct DataPlaneArgs {
    /// Runtime API authentication.
    #[arg(long, env = "SWITCHYARD_RUNTIME_AUTH", value_enum, default_value = "key")]
    pub runtime_auth: RuntimeAuth,
    /// The org keyless runtime requests act for (with `--runtime-auth none`).
    #[arg(long, env = "SWITCHYARD_RUNTIME_ORG", default_value = DEFAULT_ORG)]
    pub runtime_org: Uuid,
    /// Upstream request timeout when neither the route nor its provider sets one.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub default_request_timeout_secs: u64,
    /// Upstream stream idle timeout when neither the route nor its provider sets one.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=1800))]
    pub default_stream_idle_timeout_secs: u64,
    /// Upstream connect timeout per attempt, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub upstream_connect_timeout_ms: u64,
    /// Overall deadline of one request's failover chain, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_request_secs: u64,
    /// Timeout of a smart model's determiner call, in milliseconds.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub determiner_timeout_ms: u64,
    /// Largest runtime request body, in bytes.
    #[arg(long, default_value_t = 32 << 20)]
    pub max_body_bytes: usize,
    /// File of runtime keys (one `bd-...` per line) acting for `--runtime-org`, re-read
    /// when it changes: keys shared by replicas that each have their own database.
    #[arg(long, env = "SWITCHYARD_RUNTIME_KEYS_FILE", value_name = "FILE")]
    pub runtime_keys_file: Option<PathBuf>,
    /// Failures within the window that eject a route (0 = never eject).
    #[arg(long, default_value_t = 10)]
    pub health_failure_threshold: u32,
    /// Rolling failure window, in seconds (fractions allowed).
    #[arg(long, default_value_t = 60.0)]
    pub health_window_secs: f64,
    /// First ejection cooldown, in seconds (doubles on each re-ejection).
    #[arg(long, default_value_t = 30.0)]
    pub health_cooldown_secs: f64,
    /// Longest ejection cooldown, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub health_max_cooldown_secs: f64,
}

/// The org `switchyard up` and keyless sidecars use unless told otherwise.
pub const DEFAULT_ORG: &str = "00000000-0000-4000-8000-000000000001";

impl DataPlaneArgs {
    /// The proxy settings these flags describe.
    ///
    /// # Errors
    /// A negative or non-finite duration.
    pub fn settings(&self) -> anyhow::Result<ProxySettings> {
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
        };
        Ok(ProxySettings {
            default_request_timeout: Duration::from_secs(self.default_request_timeout_secs),
            default_stream_idle_timeout: Duration::from_secs(self.default_stream_idle_timeout_secs),
            connect_timeout: Duration::from_millis(self.upstream_connect_timeout_ms),
            max_request: Duration::from_secs(self.max_request_secs),
            determiner_timeout: Duration::from_millis(self.determiner_timeout_ms),
            max_body_bytes: self.max_body_bytes,
            open_org: (self.runtime_auth == RuntimeAuth::None).then_some(self.runtime_org),
            keys_file: self.runtime_keys_file.clone().map(|p| (p, self.runtime_org)),
            health: HealthConfig {
                failure_threshold: self.health_failure_threshold,
                window: secs("health-window-secs", self.health_window_secs)?,
                base_cooldown: secs("health-cooldown-secs", self.health_cooldown_secs)?,
                max_cooldown: secs("health-max-cooldown-secs", self.health_max_cooldown_secs)?,
            },
        })
    }
}

/// Builds the token verifier from the arguments or `SWITCHYARD_JWT_SECRET`.
///
/// # Errors
/// When no key is configured or it cannot be read.
pub fn verifier(secret_file: Option<&PathBuf>, public_key_file: Option<&PathBuf>) -> anyhow::Result<Verifier> {
    if let Some(path) = public_key_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Verifier::rs256_pem(&pem).map_err(anyhow::Error::msg);
    }
    if let Some(path) = secret_file {
        let secret = read_secret_file(path).map_err(anyhow::Error::msg)?;
        return Verifier::hs256(&secret).map_err(anyhow::Error::msg);
    }
    if let Ok(secret) = std::env::var("SWITCHYARD_JWT_SECRET")
        && !secret.is_empty()
    {
        return Verifier::hs256(secret.as_bytes()).map_err(anyhow::Error::msg);
    }
    anyhow::bail!(
        "no JWT key configured\nhint: pass --jwt-secret-file FILE (HS256) or --jwt-public-key-file FILE (RS256), or set SWITCHYARD_JWT_SECRET"
    )
}

/// Runs `gateway`.
///
/// # Errors
/// Start-up failures (key, database, address).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let verifier = verifier(args.jwt_secret_file.as_ref(), args.jwt_public_key_file.as_ref())?;
    let config = Config { listen: args.listen, db: args.db.clone(), verifier, proxy: args.data_plane.settings()? };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let signals = tokio::spawn(shutdown_on_signal(cancel.clone()));
        let result = run_gateway(config, cancel.clone()).await;
        cancel.cancel();
        signals.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Cancels `cancel` on SIGTERM or SIGINT.
pub async fn shutdown_on_signal(cancel: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else { return };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
            () = cancel.cancelled() => {}
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = cancel.cancelled() => {}
        }
    }
    cancel.cancel();
}
