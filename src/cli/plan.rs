//! `switchyard plan`: what `apply` would change, as text, JSON or Markdown; `--out`
//! saves it for `switchyard apply plan.json`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use super::reconcile::{GatewayArgs, PlanArgs, PlanRequest, client, make_plan};
use crate::plan::render::{Color, json, markdown, text};
use crate::plan::seal;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum PlanOutput {
    /// Human-readable, coloured on a terminal.
    #[default]
    Text,
    /// `format_version` 1 JSON.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan for `switchyard apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
}

/// Runs `plan`.
///
/// # Errors
/// Output failures.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.plan.files.is_empty() {
        anyhow::bail!("no manifests given\nhint: switchyard plan -f DIR");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let api = client(&args.gateway, 8)?;
    let planned = match runtime.block_on(make_plan(
        &PlanRequest { fingerprints: args.out.is_some(), ..args.plan.request() },
        &args.gateway.gateway,
        api.as_ref(),
    )) {
        Ok(p) => p,
        Err(f) => {
            eprintln!("{f}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let plan = planned.plan;
    let mut out = std::io::stdout().lock();
    match args.output {
        PlanOutput::Text => out.write_all(text(&plan, Color::detect(std::io::stdout().is_terminal())).as_bytes())?,
        PlanOutput::Json => {
            serde_json::to_writer_pretty(&mut out, &json(&plan))?;
            writeln!(out)?;
        }
        PlanOutput::Markdown => out.write_all(markdown(&plan).as_bytes())?,
    }
    if let Some(path) = &args.out {
        let saved = serde_json::to_string_pretty(&seal(plan.clone()))?;
        std::fs::write(path, saved + "\n").map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        eprintln!("Saved the plan to {}; apply it with `switchyard apply {}`.", path.display(), path.display());
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
