//! `switchyard validate -f PATH...`: offline checks, exit 0 when valid, 1 when not.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Output;
use crate::manifest::diagnostic::{JsonReport, render_text};
use crate::manifest::load_paths;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to read (directories recursively); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs `validate`.
///
/// # Errors
/// Only when stdout cannot be written.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let result = load_paths(&args.files);
    let mut stdout = std::io::stdout().lock();
    match (&result, args.output) {
        (Ok(loaded), Output::Text) => {
            let s = &loaded.state;
            let enablements: usize = s.providers.iter().map(|p| p.models.len()).sum();
            writeln!(
                stdout,
                "valid: {} document(s) in {} file(s): {} provider(s) with {} enablement(s), {} alias(es), {} smart model(s)",
                loaded.documents.len(),
                loaded.files.len(),
                s.providers.len(),
                enablements,
                s.routes.len(),
                s.smart_models.len()
            )?;
        }
        (Err(diags), Output::Text) => {
            // Diagnostics are the command's result, so they go to stdout; the
            // summary line repeats on stderr for logs.
            let text = render_text(diags);
            stdout.write_all(text.as_bytes())?;
        }
        (_, Output::Json) => {
            let (valid, documents, diags) = match &result {
                Ok(l) => (true, l.documents.len(), &[][..]),
                Err(d) => (false, 0, d.as_slice()),
            };
            serde_json::to_writer_pretty(&mut stdout, &JsonReport { valid, documents, diagnostics: diags })?;
            writeln!(stdout)?;
        }
    }
    Ok(if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
