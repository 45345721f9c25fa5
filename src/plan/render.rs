//! Plan rendering: text for terminals and logs, JSON for machines, Markdown for pull
//! request comments. Objects are shown as YAML; updates as a unified diff of it.

use std::fmt::Write as _;

use serde_json::{Value, json};
use similar::TextDiff;

use super::types::{Action, Change, Plan};
use crate::manifest::emit::to_yaml;

/// Whether to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// ANSI colours.
    On,
    /// Plain text.
    Off,
}

impl Color {
    /// Colour when `is_terminal` and `NO_COLOR` is unset.
    #[must_use]
    pub fn detect(is_terminal: bool) -> Self {
        if is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) { Self::On } else { Self::Off }
    }

    fn paint(self, code: &str, s: &str) -> String {
        match self {
            Self::On => format!("\x1b[{code}m{s}\x1b[0m"),
            Self::Off => s.to_owned(),
        }
    }
}

fn sign(a: Action) -> (&'static str, &'static str, &'static str) {
    match a {
        Action::Create => ("+", "32", "create"),
        Action::Update => ("~", "33", "update"),
        Action::Delete => ("-", "31", "delete"),
    }
}

fn yaml(v: Option<&Value>) -> String {
    v.map(to_yaml).unwrap_or_default()
}

/// The summary line, `Plan: 3 to create, 1 to update, 0 to delete.`
#[must_use]
pub fn summary_line(plan: &Plan) -> String {
    if plan.is_empty() {
        return "No changes. The gateway matches the manifests.".to_owned();
    }
    format!(
        "Plan: {} to create, {} to update, {} to delete.",
        plan.summary.create, plan.summary.update, plan.summary.delete
    )
}

/// The diff lines of one change (without header), each prefixed with `+`, `-` or ` `.
fn body_lines(c: &Change) -> Vec<(char, String)> {
    match c.action {
        Action::Create => yaml(c.after.as_ref()).lines().map(|l| ('+', l.to_owned())).collect(),
        Action::Delete => yaml(c.before.as_ref()).lines().map(|l| ('-', l.to_owned())).collect(),
        Action::Update => {
            let (before, after) = (yaml(c.before.as_ref()), yaml(c.after.as_ref()));
            let diff = TextDiff::from_lines(&before, &after);
            let mut out = Vec::new();
            for group in diff.grouped_ops(2) {
                if !out.is_empty() {
                    out.push(('@', "...".to_owned()));
                }
                for op in group {
                    for change in diff.iter_changes(&op) {
                        let tag = match change.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        out.push((tag, change.value().trim_end_matches('\n').to_owned()));
                    }
                }
            }
            out
        }
    }
}

/// Text rendering.
#[must_use]
pub fn text(plan: &Plan, color: Color) -> String {
    let mut out = String::new();
    if !plan.is_empty() {
        let _ = writeln!(out, "switchyard will make these changes on {}:\n", plan.gateway);
    }
    for c in &plan.changes {
        let (s, code, verb) = sign(c.action);
        let _ = writeln!(out, "{}", color.paint(code, &format!("{s} {} {} ({verb})", c.kind.as_str(), c.identity)));
        for (tag, line) in body_lines(c) {
            let painted = match tag {
                '+' => color.paint("32", &format!("    + {line}")),
                '-' => color.paint("31", &format!("    - {line}")),
                '@' => color.paint("36", &format!("    {line}")),
                _ => format!("      {line}"),
            };
            let _ = writeln!(out, "{}", painted.trim_end());
        }
        out.push('\n');
    }
    for k in &plan.kept {
        let _ = writeln!(out, "  {} {} is protected: not deleted", k.kind.as_str(), k.identity);
    }
    if !plan.kept.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary_line(plan));
    out
}

/// Markdown rendering for a pull-request comment.
#[must_use]
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("### switchyard plan\n\n");
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    if !plan.is_empty() {
        let _ = writeln!(out, "Gateway: `{}`\n", plan.gateway);
    }
    for c in &plan.changes {
        let (s, _, verb) = sign(c.action);
        let _ = writeln!(
            out,
            "<details><summary><code>{s}</code> {verb} {} <code>{}</code></summary>\n\n```diff",
            c.kind.as_str(),
            html_escape(&c.identity)
        );
        for (tag, line) in body_lines(c) {
            let _ = writeln!(out, "{}{line}", if tag == '@' { ' ' } else { tag });
        }
        out.push_str("```\n\n</details>\n\n");
    }
    for k in &plan.kept {
        let _ = writeln!(out, "- {} `{}` is protected: not deleted", k.kind.as_str(), k.identity);
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// JSON rendering (`format_version` 1): one entry per change with kind, identity,
/// action, before and after (secrets are references and hashes only), plus the
/// summary and protected objects. The admin API calls are not included; see the
/// saved plan for those.
#[must_use]
pub fn json(plan: &Plan) -> Value {
    json!({
        "format_version": plan.format_version,
        "gateway": plan.gateway,
        "generation": plan.generation,
        "summary": plan.summary,
        "changes": plan.changes.iter().map(|c| json!({
            "kind": c.kind,
            "identity": c.identity,
            "action": c.action,
            "before": c.before,
            "after": c.after,
            "writes": c.ops.len(),
        })).collect::<Vec<_>>(),
        "kept": plan.kept,
    })
}
