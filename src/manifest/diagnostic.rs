//! Diagnostics: one problem at `file:line:col` with its field path, rendered as text
//! (`file:line:col: path: message (expected ...)` + `hint:`) or as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// One problem found while loading or validating manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct Diagnostic {
    /// File as given on the command line (`<stdin>` for `-f -`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted field path, when the problem is about a field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// A suggestion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// The one-line form plus an indented `hint:` line.
    #[must_use]
    pub fn render(&self) -> String {
        let mut s = if self.line == 0 {
            format!("{}: ", self.file)
        } else {
            format!("{}:{}:{}: ", self.file, self.line, self.column)
        };
        if let Some(p) = &self.path {
            let _ = write!(s, "{p}: ");
        }
        s.push_str(&self.message);
        if let Some(e) = &self.expected {
            let _ = write!(s, " (expected {e})");
        }
        if let Some(h) = &self.hint {
            let _ = write!(s, "\n  hint: {h}");
        }
        s
    }
}

/// Renders diagnostics as text, one per line (hints indented), plus a summary.
#[must_use]
pub fn render_text(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render());
        out.push('\n');
    }
    let files: std::collections::BTreeSet<&str> = diags.iter().map(|d| d.file.as_str()).collect();
    let _ = writeln!(
        out,
        "error: {} problem{} in {} file{}; nothing was changed",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    out
}

/// The `--output json` form of a validation result.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Whether the input is valid.
    pub valid: bool,
    /// Documents per kind.
    pub documents: usize,
    /// Problems, sorted by file, line and column.
    pub diagnostics: &'a [Diagnostic],
}
