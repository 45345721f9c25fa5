//! `switchyard apply`: plans (or reads a saved plan), asks on a terminal, and runs the
//! changes through the apply executor.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::reconcile::{GatewayArgs, PlanArgs, client, make_plan, provider_ids};
use crate::admin_client::AdminApi;
use crate::apply::{ApplyOptions, EnvSecrets, Outcome, Report, execute};
use crate::plan::engine::live_fingerprint;
use crate::plan::render::{Color, summary_line, text};
use crate::plan::{Plan, unseal};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// A plan saved by `switchyard plan --out FILE` (instead of -f).
    #[arg(value_name = "PLAN_FILE", conflicts_with = "files")]
    pub saved: Option<PathBuf>,
    /// Do not ask for confirmation on a terminal.
    #[arg(long)]
    pub auto_approve: bool,
    /// Changes applied at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
    /// Report format.
    #[arg(short, long, value_enum, default_value_t = super::Output::Text)]
    pub output: super::Output,
}

/// Runs `apply`.
///
/// # Errors
/// Output failures.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &Args) -> anyhow::Result<ExitCode> {
    let api = client(&args.gateway, args.parallelism)?;
    let (plan, live) = match &args.saved {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            let plan = match unseal(&text) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            if plan.gateway.trim_end_matches('/') != args.gateway.gateway.trim_end_matches('/') {
                eprintln!(
                    "error: the saved plan was made for {} but --gateway is {}; nothing was changed",
                    plan.gateway, args.gateway.gateway
                );
                return Ok(ExitCode::FAILURE);
            }
            let live = match api.live_state().await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{}", super::reconcile::Failure::Gateway(e));
                    return Ok(ExitCode::FAILURE);
                }
            };
            if let Some(msg) = stale(&plan, &live) {
                eprintln!("error: {msg}\n  hint: run `switchyard plan --out` again and review the new plan");
                return Ok(ExitCode::FAILURE);
            }
            (plan, live)
        }
        None => {
            if args.plan.files.is_empty() {
                anyhow::bail!("give manifests with -f, or a saved plan file\nhint: switchyard apply -f DIR");
            }
            match make_plan(&args.plan.request(), &args.gateway.gateway, api.as_ref()).await {
                Ok(p) => (p.plan, p.live),
                Err(f) => {
                    eprintln!("{f}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    };
    let color = Color::detect(std::io::stderr().is_terminal());
    if plan.is_empty() {
        println!("{}", summary_line(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive && !args.auto_approve && args.saved.is_none() {
        eprint!("{}", text(&plan, color));
        eprint!("\nApply these changes? Only 'yes' is accepted: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            eprintln!("Apply cancelled; nothing was changed.");
            return Ok(ExitCode::FAILURE);
        }
    } else if args.output == super::Output::Text {
        print!("{}", text(&plan, Color::detect(std::io::stdout().is_terminal())));
    }
    let progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>> = if std::io::stderr().is_terminal() {
        Some(Arc::new(|done, total| {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!("\r[{}{}] {done}/{total} changes", "#".repeat(filled), " ".repeat(width - filled));
            if done == total {
                eprintln!();
            }
        }))
    } else {
        None
    };
    let ids = provider_ids(&live);
    drop(live);
    let report = execute(
        plan,
        api.clone() as Arc<dyn AdminApi>,
        Arc::new(EnvSecrets),
        ids,
        ApplyOptions { parallelism: args.parallelism, progress },
    )
    .await;
    print_report(&report, args.output)?;
    Ok(if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Why a saved plan no longer applies, if it does not.
#[must_use]
pub fn stale(plan: &Plan, live: &crate::admin_client::LiveState) -> Option<String> {
    if let (Some(then), Some(now)) = (plan.generation, live.generation)
        && then != now
    {
        return Some(format!(
            "the saved plan is stale: the gateway's config generation was {then} when it was made and is {now} now; nothing was changed"
        ));
    }
    if live_fingerprint(live) != plan.live_fingerprint {
        return Some(
            "the saved plan is stale: the gateway's configuration changed since it was made; nothing was changed"
                .into(),
        );
    }
    None
}

fn print_report(report: &Report, output: super::Output) -> anyhow::Result<()> {
    let (applied, failed, skipped) = report.counts();
    let mut out = std::io::stdout().lock();
    if output == super::Output::Json {
        let entry = |r: &(crate::plan::ObjectKind, String, crate::plan::Action, Outcome)| {
            let mut v = serde_json::json!({"kind": r.0, "identity": r.1, "action": r.2});
            match &r.3 {
                Outcome::Failed(e) => v["error"] = serde_json::json!(e),
                Outcome::Skipped(why) => v["reason"] = serde_json::json!(why),
                Outcome::Applied => {}
            }
            v
        };
        let pick = |want: fn(&Outcome) -> bool| -> Vec<serde_json::Value> {
            report.results.iter().filter(|r| want(&r.3)).map(entry).collect()
        };
        let doc = serde_json::json!({
            "applied": pick(|o| matches!(o, Outcome::Applied)),
            "failed": pick(|o| matches!(o, Outcome::Failed(_))),
            "skipped": pick(|o| matches!(o, Outcome::Skipped(_))),
            "writes": report.writes,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    for (kind, identity, action, outcome) in &report.results {
        match outcome {
            Outcome::Applied => {}
            Outcome::Failed(e) => writeln!(out, "failed:  {} {identity} ({action:?}): {e}", kind.as_str())?,
            Outcome::Skipped(why) => writeln!(out, "skipped: {} {identity} ({action:?}): {why}", kind.as_str())?,
        }
    }
    writeln!(
        out,
        "Apply {}: {applied} applied, {failed} failed, {skipped} skipped ({} writes).",
        if failed + skipped == 0 { "complete" } else { "incomplete" },
        report.writes
    )?;
    if failed + skipped > 0 {
        writeln!(out, "Run apply again once the cause is fixed: it converges from whatever was applied.")?;
    }
    Ok(())
}
