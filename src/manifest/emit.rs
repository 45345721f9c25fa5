//! A small, deterministic YAML emitter for JSON values (block style, keys in the
//! order given, strings quoted only when YAML would read them as something else).
//! Used for generated CRDs, exported manifests and the YAML shown in plan diffs.

use serde_json::Value;

use super::yaml::{Resolved, parse_documents};

/// Renders `value` as a YAML document (no leading `---`), ending with a newline.
#[must_use]
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in m {
        indent(out, level);
        out.push_str(&string(k));
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for v in a {
        indent(out, level);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, item) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, level + 2);
                    }
                    out.push_str(&string(k));
                    out.push(':');
                    write_value_after_key(out, item, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string, else
/// double-quoted (JSON escapes are valid YAML).
#[must_use]
pub fn string(s: &str) -> String {
    if plain_safe(s) { s.to_owned() } else { serde_json::to_string(s).unwrap_or_default() }
}

fn plain_safe(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) && !(first == b'-' && s.len() > 1 && s.as_bytes()[1] != b' ') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if s.contains(['{', '}', '[', ']', ',']) {
        return false;
    }
    // Must read back as a string under the core schema.
    match parse_documents(&format!("k: {s}\n")) {
        Ok(docs) => docs
            .first()
            .and_then(|d| d.root.get("k"))
            .is_some_and(|n| matches!(n.resolve(), Some(Resolved::Str(x)) if x == s)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::parse_documents;

    fn round_trip(v: &Value) {
        let text = to_yaml(v);
        let docs = parse_documents(&text).unwrap();
        let back: Value = crate::manifest::de::from_node(&docs[0].root, &Default::default()).unwrap();
        assert_eq!(&back, v, "YAML was:\n{text}");
    }

    #[test]
    fn emitted_yaml_reads_back_identically() {
        round_trip(&serde_json::json!({
            "apiVersion": "switchyard.dev/v1alpha1",
            "metadata": {"name": "a", "annotations": {"switchyard.dev/protected": "true"}},
            "spec": {
                "targets": [{"provider": "p", "model": "m", "retryOn429": {"count": 2}}, {"provider": "q", "model": "123"}],
                "nested": [[1, 2], []],
                "odd": ["", " lead", "a: b", "#x", "-", "- x", "yes", "null", "1.5", "true", "x\ny", "é"],
                "empty": {},
                "n": null, "b": false, "f": 1.25
            }
        }));
    }

    #[test]
    fn plain_strings_stay_unquoted() {
        assert_eq!(string("gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(string("https://api.openai.com/v1"), "https://api.openai.com/v1");
        assert_eq!(string("true"), "\"true\"");
        assert_eq!(string("42"), "\"42\"");
    }
}
