//! Checks a YAML tree against the generated JSON Schema and reports **every**
//! mismatch (unknown field, wrong type, missing field, enum, range, length), each at
//! its own position. Runs before typed deserialization so one document with three
//! typos yields three diagnostics, not one.

use serde_json::Value;

use super::de::Path;
use super::yaml::{Node, NodeKind, Resolved, short_quote};
use crate::model::path::FieldPath;
use crate::model::suggest::did_you_mean;

/// One schema mismatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Field path.
    pub path: FieldPath,
    /// Position of the key (unknown field) or the value.
    pub mark: super::yaml::Mark,
    /// What is wrong.
    pub message: String,
    /// What was expected.
    pub expected: Option<String>,
    /// Suggestion.
    pub hint: Option<String>,
}

/// Checks `node` at `path` against `schema`, appending to `out`.
pub fn check(node: &Node, schema: &Value, path: &FieldPath, out: &mut Vec<Issue>) {
    walk(node, schema, Path::Root(path), out);
}

// Paths are kept as a borrowed chain and only rendered when something is wrong:
// valid documents (the common case) allocate nothing here.
fn walk(node: &Node, schema: &Value, path: Path<'_>, out: &mut Vec<Issue>) {
    let issue = |message: String, expected: Option<String>, hint: Option<String>| Issue {
        path: path.to_field_path(),
        mark: node.mark,
        message,
        expected,
        hint,
    };

    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        // Pick the alternative whose type matches the node's shape.
        let chosen = any.iter().find(|alt| types_of(alt).iter().any(|t| shape_matches(node, t)));
        match chosen {
            Some(alt) => walk(node, alt, path, out),
            None => out.push(issue(
                format!("wrong type: found {}", node.describe()),
                schema.get("description").and_then(Value::as_str).map(str::to_owned),
                None,
            )),
        }
        return;
    }

    let types = types_of(schema);
    if types.is_empty() {
        return; // open schema: anything goes
    }
    if node.is_null() {
        if types.contains(&"null") {
            return;
        }
        out.push(issue("wrong type: found null".into(), Some(expected_for(&types)), None));
        return;
    }
    let Some(t) = types.iter().copied().find(|t| shape_matches(node, t)) else {
        let mut hint = None;
        if types.contains(&"string")
            && let NodeKind::Scalar { value, plain: true } = &node.kind
        {
            hint = Some(format!("quote it to make it a string: \"{value}\""));
        }
        out.push(issue(format!("wrong type: found {}", node.describe()), Some(expected_for(&types)), hint));
        return;
    };

    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        let s = node.as_str().unwrap_or_default();
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        if !names.contains(&s) {
            let hint = did_you_mean(s, names.iter().copied()).map(|x| format!("did you mean `{x}`?"));
            let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            out.push(issue(format!("unknown value `{s}`"), Some(format!("one of {list}")), hint));
        }
        return;
    }

    match (t, &node.kind) {
        ("integer" | "number", _) => {
            if let Some(Resolved::Int(v)) = node.resolve() {
                let min = schema.get("minimum").and_then(Value::as_f64);
                let max = schema.get("maximum").and_then(Value::as_f64);
                #[expect(clippy::cast_precision_loss, reason = "schema bounds are small integers")]
                let out_of_range = min.is_some_and(|m| (v as f64) < m) || max.is_some_and(|m| (v as f64) > m);
                if out_of_range {
                    let msg = match (min, max) {
                        (Some(a), Some(b)) => format!("must be between {a} and {b} (got {v})"),
                        (Some(a), None) => format!("must be at least {a} (got {v})"),
                        (None, Some(b)) => format!("must be at most {b} (got {v})"),
                        (None, None) => unreachable_msg(),
                    };
                    let expected = match (min, max) {
                        (Some(a), Some(b)) => format!("an integer between {a} and {b}"),
                        (Some(a), None) => format!("an integer >= {a}"),
                        (_, Some(b)) => format!("an integer <= {b}"),
                        _ => "an integer".into(),
                    };
                    out.push(issue(msg, Some(expected), None));
                }
            }
        }
        ("string", NodeKind::Scalar { value, .. }) => {
            let len = value.chars().count();
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && (len as u64) < min
            {
                let msg =
                    if len == 0 { "must not be empty".to_owned() } else { format!("is shorter than {min} characters") };
                out.push(issue(msg, Some(format!("a string of at least {min} character(s)")), None));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len as u64 > max
            {
                out.push(issue(
                    format!("is {len} characters long, more than {max}"),
                    Some(format!("at most {max} characters")),
                    None,
                ));
            }
        }
        ("array", NodeKind::Seq(items)) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                let msg = if items.is_empty() {
                    "must not be empty".to_owned()
                } else {
                    format!("has {} item(s)", items.len())
                };
                out.push(issue(msg, Some(format!("a list with at least {min} item(s)")), None));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item, item_schema, Path::Index(&path, i), out);
                }
            }
        }
        ("object", NodeKind::Map(entries)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let open = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                let child = Path::Key(&path, key);
                if let Some(s) = props.and_then(|p| p.get(key)) {
                    walk(v, s, child, out);
                } else if let Some(add) = additional.filter(|a| a.is_object()) {
                    walk(v, add, child, out);
                } else if !open && props.is_some() {
                    let names: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let hint = did_you_mean(key, names.iter().copied()).map(|x| format!("did you mean `{x}`?"));
                    let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                    out.push(Issue {
                        path: child.to_field_path(),
                        mark: k.mark,
                        message: format!("unknown field `{key}`"),
                        expected: Some(format!("one of {list}")),
                        hint,
                    });
                }
            }
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if node.get(r).is_none() {
                        let expected =
                            props.and_then(|p| p.get(r)).map(|s| expected_for(&types_of(s))).filter(|e| !e.is_empty());
                        out.push(Issue {
                            path: path.to_field_path().key(r),
                            mark: node.mark,
                            message: format!("missing required field `{r}`"),
                            expected,
                            hint: None,
                        });
                    }
                }
            }
        }
        _ => {}
    }
}

fn unreachable_msg() -> String {
    "is out of range".to_owned()
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn shape_matches(node: &Node, t: &str) -> bool {
    match (t, &node.kind) {
        ("object", NodeKind::Map(_)) | ("array", NodeKind::Seq(_)) => true,
        ("string", NodeKind::Scalar { .. }) => matches!(node.resolve(), Some(Resolved::Str(_))),
        ("integer", NodeKind::Scalar { .. }) => matches!(node.resolve(), Some(Resolved::Int(_))),
        ("number", NodeKind::Scalar { .. }) => matches!(node.resolve(), Some(Resolved::Int(_) | Resolved::Float(_))),
        ("boolean", NodeKind::Scalar { .. }) => matches!(node.resolve(), Some(Resolved::Bool(_))),
        ("null", _) => node.is_null(),
        _ => false,
    }
}

fn expected_for(types: &[&str]) -> String {
    let names: Vec<&str> = types
        .iter()
        .filter(|t| **t != "null")
        .map(|t| match *t {
            "object" => "a mapping",
            "array" => "a list",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean (true or false)",
            other => other,
        })
        .collect();
    names.join(" or ")
}

/// `"text"` shortened (re-exported for callers building messages).
#[must_use]
pub fn quote(s: &str) -> String {
    short_quote(s)
}
