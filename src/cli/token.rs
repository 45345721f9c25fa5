//! `switchyard token`: mints an admin JWT for a local gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use uuid::Uuid;

use crate::gateway::auth::{MintKey, mint, read_secret_file};

/// Arguments of `token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The HS256 secret file the gateway was started with.
    #[arg(
        long,
        env = "SWITCHYARD_JWT_SECRET_FILE",
        value_name = "FILE",
        required_unless_present = "jwt_private_key_file"
    )]
    pub jwt_secret_file: Option<PathBuf>,
    /// A PEM RSA private key, to mint an RS256 token instead.
    #[arg(long, value_name = "FILE", conflicts_with = "jwt_secret_file")]
    pub jwt_private_key_file: Option<PathBuf>,
    /// Organization id (UUID) the token is for.
    #[arg(long)]
    pub org: Uuid,
    /// Role claim.
    #[arg(long, default_value = "admin", value_parser = ["admin", "member"])]
    pub role: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    pub ttl: i64,
}

/// Runs `token`: prints the token on stdout.
///
/// # Errors
/// When the key cannot be read.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let key = if let Some(path) = &args.jwt_private_key_file {
        MintKey::Rs256Pem(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
    } else if let Some(path) = &args.jwt_secret_file {
        MintKey::Hs256(read_secret_file(path).map_err(anyhow::Error::msg)?)
    } else {
        anyhow::bail!("pass --jwt-secret-file or --jwt-private-key-file");
    };
    let token = mint(&key, args.org, &args.role, args.ttl).map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
