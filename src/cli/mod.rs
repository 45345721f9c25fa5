//! Command-line definitions (clap) and the dispatch to each subcommand. Nothing
//! else in the crate depends on this module.

pub mod apply;
pub mod controller;
pub mod crds;
pub mod export;
pub mod gateway;
pub mod mock;
pub mod plan;
pub mod reconcile;
pub mod token;
pub mod up;
pub mod validate;
pub mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Declarative model routing for LLM gateways.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a local gateway, a mock upstream, apply DIR and watch it (try this first).
    Up(up::Args),
    /// Check manifests offline and report every problem with file:line:col.
    Validate(validate::Args),
    /// Print (or write) the CustomResourceDefinitions and editor JSON Schemas.
    Crds(crds::Args),
    /// Show what apply would change on a gateway.
    Plan(plan::Args),
    /// Apply manifests (or a saved plan) to a gateway.
    Apply(apply::Args),
    /// Keep a gateway in sync with manifests: apply on file changes and on a timer.
    Watch(watch::Args),
    /// Write a gateway's live configuration as switchyard YAML.
    Export(export::Args),
    /// Run the gateway: the Barndoor-compatible admin API on SQLite.
    Gateway(gateway::Args),
    /// Run an OpenAI-compatible fake upstream, scriptable per model (tests and demos).
    MockUpstream(mock::Args),
    /// Reconcile Kubernetes Provider/ModelRoute/SmartModel resources into a gateway.
    Controller(controller::Args),
    /// Mint an admin JWT for a local gateway.
    Token(token::Args),
    /// Print the gateway admin API's OpenAPI document.
    Openapi,
}

/// Output format of commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Output {
    /// Human-readable text.
    #[default]
    Text,
    /// Machine-readable JSON.
    Json,
}

/// Runs the parsed command.
///
/// # Errors
/// Errors that should end the process with exit code 1 and a message.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Crds(args) => crds::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Gateway(args) => gateway::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Controller(args) => controller::run(&args),
        Command::MockUpstream(args) => mock::run(&args),
        Command::Openapi => {
            print!("{}", crate::gateway::admin::openapi::document_text());
            Ok(ExitCode::SUCCESS)
        }
    }
}
