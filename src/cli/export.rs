//! `switchyard export`: the live configuration as switchyard YAML, to adopt an
//! existing gateway (export, commit, and the next plan is empty).

use std::path::PathBuf;
use std::process::ExitCode;

use super::reconcile::{GatewayArgs, client};
use crate::admin_client::AdminApi as _;
use crate::plan::export::export;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Write one file per provider (and smart-models.yaml) into this directory;
    /// without it, print one YAML stream.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Runs `export`.
///
/// # Errors
/// Output failures.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let api = client(&args.gateway, 4)?;
    let live = match runtime.block_on(api.live_state()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", super::reconcile::Failure::Gateway(e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let (files, warnings) = export(&live);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    match &args.out_dir {
        None => {
            for (_, text) in &files {
                print!("{text}");
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            for (name, text) in &files {
                let path = dir.join(name);
                std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                println!("{}", path.display());
            }
            let vars: Vec<String> = live
                .providers
                .iter()
                .filter(|p| p.has_api_key)
                .map(|p| crate::plan::export::env_var_for(&p.name))
                .collect();
            if !vars.is_empty() {
                eprintln!("API keys are exported as fromEnv placeholders: set {} before planning.", vars.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
