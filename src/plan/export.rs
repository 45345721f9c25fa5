//! Live gateway state -> switchyard manifests (for `switchyard export`): one file per
//! provider with its enablements and the aliases whose first target it serves, and
//! one file for smart models. Secrets become `fromEnv` placeholders. Planning the
//! exported files against the same gateway (with the placeholders set) is empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::admin_client::LiveState;
use crate::api;
use crate::manifest::crd::API_VERSION;
use crate::manifest::emit::to_yaml;
use crate::plan::engine::{DEFAULT_DETERMINER_INPUT_MAX_CHARS, KEY_HASH_SETTING, default_auth_type};

/// A Kubernetes-safe name for `s` (lowercase, `[a-z0-9.-]`, trimmed to 253).
#[must_use]
pub fn k8s_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    out = out.trim_matches(|c| c == '-' || c == '.').to_owned();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.truncate(253);
    if out.is_empty() { "unnamed".into() } else { out }
}

/// The environment variable an exported provider's key placeholder names.
#[must_use]
pub fn env_var_for(provider: &str) -> String {
    let mut v: String =
        provider.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        v.insert(0, '_');
    }
    format!("{v}_API_KEY")
}

fn options(m: &mut Map<String, Value>, r: &api::Route) {
    if !r.enabled {
        m.insert("enabled".into(), json!(false));
    }
    if r.retry_on_429_count != 0 || r.retry_on_429_max_wait_secs != 0 {
        m.insert(
            "retryOn429".into(),
            json!({"count": r.retry_on_429_count, "maxWaitSecs": r.retry_on_429_max_wait_secs}),
        );
    }
    if let Some(v) = r.request_timeout_secs {
        m.insert("requestTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = r.stream_idle_timeout_secs {
        m.insert("streamIdleTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = r.max_in_flight {
        m.insert("maxInFlight".into(), json!(v));
    }
}

fn doc(kind: &str, name: &str, spec: Map<String, Value>) -> Value {
    json!({"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": Value::Object(spec)})
}

/// Renders the live state as `(file name, YAML)` pairs, plus warnings for what the
/// format cannot express exactly.
#[must_use]
pub fn export(live: &LiveState) -> (Vec<(String, String)>, Vec<String>) {
    let mut warnings = Vec::new();
    let names: HashMap<Uuid, &str> = live.providers.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mut used_names: BTreeSet<(String, String)> = BTreeSet::new();
    let mut unique = |kind: &str, base: String| -> String {
        let mut n = base.clone();
        let mut i = 2;
        while !used_names.insert((kind.to_owned(), n.clone())) {
            n = format!("{base}-{i}");
            i += 1;
        }
        n
    };
    let mut per_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut file_of_provider: HashMap<&str, String> = HashMap::new();
    let mut providers: Vec<&api::Provider> = live.providers.iter().collect();
    providers.sort_by(|a, b| a.name.cmp(&b.name));
    for p in providers {
        let meta = unique("Provider", k8s_name(&p.name));
        let file = format!("{meta}.yaml");
        file_of_provider.insert(p.name.as_str(), file.clone());
        let mut spec = Map::new();
        if meta != p.name {
            spec.insert("name".into(), json!(p.name));
        }
        spec.insert("modelProvider".into(), json!(p.model_provider));
        if let Some(u) = &p.base_url {
            spec.insert("baseUrl".into(), json!(u));
        }
        if p.auth_type != default_auth_type(&p.model_provider) {
            spec.insert("authType".into(), json!(p.auth_type));
        }
        if p.has_api_key || p.settings.contains_key(KEY_HASH_SETTING) {
            spec.insert("apiKey".into(), json!({"fromEnv": env_var_for(&p.name)}));
        }
        let settings: Map<String, Value> =
            p.settings.iter().filter(|(k, _)| *k != KEY_HASH_SETTING).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !settings.is_empty() {
            spec.insert("settings".into(), Value::Object(settings));
        }
        if let Some(v) = p.request_timeout_secs {
            spec.insert("requestTimeoutSecs".into(), json!(v));
        }
        if let Some(v) = p.stream_idle_timeout_secs {
            spec.insert("streamIdleTimeoutSecs".into(), json!(v));
        }
        if !p.enabled {
            spec.insert("enabled".into(), json!(false));
        }
        let mut rows: Vec<&api::Route> =
            live.routes.iter().filter(|r| r.provider_id == p.id && r.model_alias == r.upstream_model).collect();
        rows.sort_by(|a, b| a.upstream_model.cmp(&b.upstream_model));
        let models: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                options(&mut m, r);
                if r.bare_alias {
                    m.insert("bareAlias".into(), json!(true));
                }
                if m.is_empty() {
                    json!(r.upstream_model)
                } else {
                    let mut o = Map::new();
                    o.insert("name".into(), json!(r.upstream_model));
                    o.extend(m);
                    Value::Object(o)
                }
            })
            .collect();
        if !models.is_empty() {
            spec.insert("models".into(), Value::Array(models));
        }
        per_file.entry(file).or_default().push(doc("Provider", &meta, spec));
    }

    let mut aliases: BTreeMap<&str, Vec<&api::Route>> = BTreeMap::new();
    for r in live.routes.iter().filter(|r| r.model_alias != r.upstream_model) {
        aliases.entry(r.model_alias.as_str()).or_default().push(r);
    }
    for (alias, mut rows) in aliases {
        rows.sort_by_key(|r| (r.priority, r.id));
        let meta = unique("ModelRoute", k8s_name(alias));
        let mut spec = Map::new();
        if meta != alias {
            spec.insert("alias".into(), json!(alias));
        }
        let bare: BTreeSet<bool> = rows.iter().map(|r| r.bare_alias).collect();
        if bare.len() > 1 {
            warnings.push(format!(
                "alias `{alias}`: its rows disagree on bare_alias; exported as bareAlias: true (a plan will align them)"
            ));
        } else if bare.contains(&false) {
            spec.insert("bareAlias".into(), json!(false));
        }
        let targets: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut t = Map::new();
                t.insert("provider".into(), json!(names.get(&r.provider_id).copied().unwrap_or("?")));
                t.insert("model".into(), json!(r.upstream_model));
                options(&mut t, r);
                Value::Object(t)
            })
            .collect();
        spec.insert("targets".into(), Value::Array(targets));
        let first = rows.first().and_then(|r| names.get(&r.provider_id)).copied().unwrap_or("");
        let file = file_of_provider.get(first).cloned().unwrap_or_else(|| "aliases.yaml".into());
        per_file.entry(file).or_default().push(doc("ModelRoute", &meta, spec));
    }

    let mut smart: Vec<&api::SmartModel> = live.smart_models.iter().collect();
    smart.sort_by(|a, b| a.model_alias.cmp(&b.model_alias));
    for s in smart {
        let meta = unique("SmartModel", k8s_name(&s.model_alias));
        let mut spec = Map::new();
        if meta != s.model_alias {
            spec.insert("alias".into(), json!(s.model_alias));
        }
        spec.insert("determiner".into(), json!(s.determiner_model_alias));
        spec.insert(
            "slots".into(),
            s.slots.iter().map(|x| json!({"alias": x.model_alias, "label": x.label})).collect(),
        );
        if !s.context_breakpoints.is_empty() {
            spec.insert("contextBreakpoints".into(), json!(s.context_breakpoints));
        }
        if s.determiner_input_max_chars != DEFAULT_DETERMINER_INPUT_MAX_CHARS {
            spec.insert("determinerInputMaxChars".into(), json!(s.determiner_input_max_chars));
        }
        if s.default_slot_on_failure != 0 {
            spec.insert("defaultSlotOnFailure".into(), json!(s.default_slot_on_failure));
        }
        if !s.enabled {
            spec.insert("enabled".into(), json!(false));
        }
        if let Some(d) = &s.description {
            spec.insert("description".into(), json!(d));
        }
        per_file.entry("smart-models.yaml".into()).or_default().push(doc("SmartModel", &meta, spec));
    }

    let files = per_file
        .into_iter()
        .map(|(file, docs)| {
            let text = docs.iter().map(|d| format!("---\n{}", to_yaml(d))).collect::<String>();
            (file, format!("# Exported by `switchyard export`.\n{text}"))
        })
        .collect();
    (files, warnings)
}
