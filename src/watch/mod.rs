//! `switchyard watch`: file events -> debounce -> load -> plan -> apply, plus a timer
//! that re-plans to repair drift made directly on the gateway.
//!
//! Guarantees: an invalid edit is reported once and nothing is applied until it is
//! fixed; an unreachable gateway is retried with exponential backoff (up to the
//! interval); one log line per apply with its summary. Uses only
//! [`crate::apply::prepare::make_plan`] and [`crate::apply::execute`], exactly like
//! `switchyard apply`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio_util::sync::CancellationToken;

use crate::admin_client::AdminApi;
use crate::apply::prepare::{Failure, PlanRequest, make_plan, provider_ids};
use crate::apply::{ApplyOptions, Outcome, SecretResolver, execute};
use crate::plan::render::summary_line;

/// How to watch.
#[derive(Clone)]
pub struct WatchConfig {
    /// What to plan.
    pub request: PlanRequest,
    /// Gateway base URL (recorded in plans and logs).
    pub gateway: String,
    /// Re-plan this often even without file changes.
    pub interval: Duration,
    /// Quiet time after the last file event before reconciling.
    pub debounce: Duration,
    /// Changes applied at once.
    pub parallelism: usize,
}

/// The result of one reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Nothing to do.
    InSync,
    /// Changes were applied (or some failed).
    Applied {
        /// The plan summary line.
        summary: String,
        /// Whether anything failed.
        failed: bool,
    },
    /// The manifests are invalid; nothing was applied.
    Invalid(String),
    /// The gateway could not be used; retry later.
    GatewayDown(String),
    /// The plan could not be made.
    Unplannable(String),
}

/// One pass: plan and, when there are changes, apply.
pub async fn reconcile_once(cfg: &WatchConfig, api: Arc<dyn AdminApi>, secrets: Arc<dyn SecretResolver>) -> Pass {
    let planned = match make_plan(&cfg.request, &cfg.gateway, api.as_ref()).await {
        Ok(p) => p,
        Err(f @ Failure::Invalid(_)) => return Pass::Invalid(f.to_string()),
        Err(f @ Failure::Gateway(_)) => return Pass::GatewayDown(f.to_string()),
        Err(f @ Failure::Plan(_)) => return Pass::Unplannable(f.to_string()),
    };
    if planned.plan.is_empty() {
        return Pass::InSync;
    }
    let summary = summary_line(&planned.plan);
    let report = execute(
        planned.plan,
        api,
        secrets,
        provider_ids(&planned.live),
        ApplyOptions { parallelism: cfg.parallelism, progress: None },
    )
    .await;
    for (kind, identity, _, outcome) in &report.results {
        if let Outcome::Failed(e) = outcome {
            tracing::warn!(kind = kind.as_str(), %identity, error = %e, "change failed");
        }
    }
    let (applied, failed, skipped) = report.counts();
    Pass::Applied {
        summary: format!("{summary} Applied {applied}, failed {failed}, skipped {skipped} ({} writes).", report.writes),
        failed: report.failed(),
    }
}

/// Runs until `cancel` fires.
///
/// # Errors
/// When the file watcher cannot be set up.
pub async fn run(
    cfg: WatchConfig,
    api: Arc<dyn AdminApi>,
    secrets: Arc<dyn SecretResolver>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && !matches!(ev.kind, notify::EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })?;
    for path in &cfg.request.files {
        if path.as_os_str() == "-" {
            anyhow::bail!("watch cannot read stdin; give files or directories");
        }
        let target = watch_target(path);
        watcher
            .watch(&target, RecursiveMode::Recursive)
            .map_err(|e| anyhow::anyhow!("watching {}: {e}", target.display()))?;
    }
    tracing::info!(gateway = %cfg.gateway, interval = ?cfg.interval, "watching for changes");

    let mut last_problem: Option<String> = None;
    let mut backoff = Duration::from_secs(1);
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(next) => {}
            Some(()) = rx.recv() => {
                // Debounce: wait for a quiet period, swallowing the burst.
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(()),
                        () = tokio::time::sleep(cfg.debounce) => break,
                        Some(()) = rx.recv() => {}
                    }
                }
            }
        }
        let pass = reconcile_once(&cfg, api.clone(), secrets.clone()).await;
        next = tokio::time::Instant::now() + cfg.interval;
        match pass {
            Pass::InSync => {
                if last_problem.take().is_some() {
                    tracing::info!("in sync again");
                }
                backoff = Duration::from_secs(1);
            }
            Pass::Applied { summary, failed } => {
                last_problem = None;
                backoff = Duration::from_secs(1);
                if failed {
                    tracing::warn!("apply incomplete: {summary}");
                    next = tokio::time::Instant::now() + backoff.min(cfg.interval);
                } else {
                    tracing::info!("applied: {summary}");
                }
            }
            Pass::Invalid(text) | Pass::Unplannable(text) => {
                if last_problem.as_deref() != Some(text.as_str()) {
                    eprintln!("{text}");
                    tracing::warn!("manifests not applied; waiting for a fix");
                    last_problem = Some(text);
                }
            }
            Pass::GatewayDown(text) => {
                tracing::warn!(retry_in = ?backoff, "{text}");
                next = tokio::time::Instant::now() + backoff.min(cfg.interval);
                backoff = (backoff * 2).min(cfg.interval);
            }
        }
    }
    Ok(())
}

/// Editors replace files by renaming; watch the parent directory of a file.
fn watch_target(path: &std::path::Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
    }
}
