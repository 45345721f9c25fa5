//! `switchyard gateway`: runs the gateway until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::gateway::auth::{Verifier, read_secret_file};
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
    let config = Config { listen: args.listen, db: args.db.clone(), verifier };
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
