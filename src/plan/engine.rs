//! desired x live -> [`Plan`]. Pure and deterministic: the same inputs always give
//! the same plan, byte for byte.
//!
//! Normalisation: server-side defaults are applied to the desired side before
//! comparing (`auth_type` per API family, `determiner_input_max_chars` 2000, priority 0
//! for enablements, ...) so a freshly applied state always plans as empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};
use uuid::Uuid;

use super::types::*;
use crate::admin_client::LiveState;
use crate::api;
use crate::manifest::crd::Kind;
pub use crate::model::limits::{DEFAULT_DETERMINER_INPUT_MAX_CHARS, default_auth_type};
use crate::model::{DesiredState, ModelRoute, Provider, RouteOptions, SmartModel};

/// Settings key holding the SHA-256 of the provider's API key (keys are write-only).
pub const KEY_HASH_SETTING: &str = crate::manifest::convert::KEY_HASH_SETTING;

/// Options of one planning run.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Gateway base URL (recorded in the plan).
    pub gateway: String,
    /// Delete live objects of the input's kinds that the input does not declare.
    pub prune: bool,
    /// Kinds present in the input (prune scope).
    pub kinds: BTreeSet<Kind>,
    /// Names never deleted (`--protect`): provider names, aliases, smart aliases,
    /// `provider/model`.
    pub protect: BTreeSet<String>,
    /// Compute the live fingerprint and desired digest (needed to save the plan).
    pub fingerprints: bool,
}

pub use crate::model::digest::sha256_hex;

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn options_view(o: &RouteOptions, bare: bool) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("bareAlias".into(), json!(bare));
    m.insert("enabled".into(), json!(o.enabled));
    m.insert("retryOn429".into(), json!({"count": o.retry_on_429_count, "maxWaitSecs": o.retry_on_429_max_wait_secs}));
    if let Some(v) = o.request_timeout_secs {
        m.insert("requestTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = o.stream_idle_timeout_secs {
        m.insert("streamIdleTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = o.max_in_flight {
        m.insert("maxInFlight".into(), json!(v));
    }
    m
}

fn live_options(r: &api::Route) -> RouteOptions {
    RouteOptions {
        retry_on_429_count: r.retry_on_429_count,
        retry_on_429_max_wait_secs: r.retry_on_429_max_wait_secs,
        request_timeout_secs: r.request_timeout_secs,
        stream_idle_timeout_secs: r.stream_idle_timeout_secs,
        max_in_flight: r.max_in_flight,
        enabled: r.enabled,
    }
}

fn desired_settings(p: &Provider, key: Option<&KeyRef>) -> serde_json::Map<String, Value> {
    let mut s: serde_json::Map<String, Value> = p.settings.clone().into_iter().collect();
    if let Some(k) = key {
        s.insert(KEY_HASH_SETTING.into(), json!(k.sha256));
    }
    s
}

fn provider_view(p: &Provider, key: Option<&KeyRef>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("modelProvider".into(), json!(p.model_provider.as_str()));
    if let Some(u) = &p.base_url {
        m.insert("baseUrl".into(), json!(u));
    }
    m.insert(
        "authType".into(),
        json!(p.auth_type.clone().unwrap_or_else(|| default_auth_type(p.model_provider.as_str()).to_owned())),
    );
    if let Some(k) = key {
        m.insert("apiKey".into(), json!(format!("{} (sha256:{})", k.reference, short(&k.sha256))));
    }
    if !p.settings.is_empty() {
        m.insert("settings".into(), Value::Object(p.settings.clone().into_iter().collect()));
    }
    if let Some(v) = p.request_timeout_secs {
        m.insert("requestTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = p.stream_idle_timeout_secs {
        m.insert("streamIdleTimeoutSecs".into(), json!(v));
    }
    m.insert("enabled".into(), json!(p.enabled));
    Value::Object(m)
}

fn live_provider_view(l: &api::Provider, key_declared: Option<&KeyRef>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(l.name));
    m.insert("modelProvider".into(), json!(l.model_provider));
    if let Some(u) = &l.base_url {
        m.insert("baseUrl".into(), json!(u));
    }
    m.insert("authType".into(), json!(l.auth_type));
    let hash = l.settings.get(KEY_HASH_SETTING).and_then(Value::as_str);
    match (hash, l.has_api_key) {
        (Some(h), _) => {
            let reference = key_declared.map_or(String::new(), |k| format!("{} ", k.reference));
            m.insert("apiKey".into(), json!(format!("{reference}(sha256:{})", short(h))));
        }
        (None, true) => {
            m.insert("apiKey".into(), json!("(set outside switchyard)"));
        }
        (None, false) => {}
    }
    let settings: serde_json::Map<String, Value> =
        l.settings.iter().filter(|(k, _)| *k != KEY_HASH_SETTING).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !settings.is_empty() {
        m.insert("settings".into(), Value::Object(settings));
    }
    if let Some(v) = l.request_timeout_secs {
        m.insert("requestTimeoutSecs".into(), json!(v));
    }
    if let Some(v) = l.stream_idle_timeout_secs {
        m.insert("streamIdleTimeoutSecs".into(), json!(v));
    }
    m.insert("enabled".into(), json!(l.enabled));
    Value::Object(m)
}

fn enablement_view(provider: &str, model: &str, o: &RouteOptions, bare: bool) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("provider".into(), json!(provider));
    m.insert("model".into(), json!(model));
    m.extend(options_view(o, bare));
    Value::Object(m)
}

fn alias_view(alias: &str, rows: &[(String, String, RouteOptions, bool)]) -> Value {
    let targets: Vec<Value> = rows
        .iter()
        .map(|(p, m, o, bare)| {
            let mut t = serde_json::Map::new();
            t.insert("provider".into(), json!(p));
            t.insert("model".into(), json!(m));
            t.extend(options_view(o, *bare));
            Value::Object(t)
        })
        .collect();
    json!({"alias": alias, "targets": targets})
}

/// A smart model's fields, normalised, as both sides are compared and shown.
struct SmartFields<'a> {
    alias: &'a str,
    determiner: &'a str,
    slots: Vec<(String, String)>,
    breakpoints: &'a [u64],
    max_chars: u32,
    default_slot: u32,
    enabled: bool,
    description: Option<&'a str>,
}

impl<'a> SmartFields<'a> {
    fn desired(s: &'a SmartModel) -> Self {
        Self {
            alias: &s.alias,
            determiner: &s.determiner,
            slots: s.slots.iter().map(|x| (x.alias.clone(), x.label.clone())).collect(),
            breakpoints: &s.context_breakpoints,
            max_chars: s.determiner_input_max_chars.unwrap_or(DEFAULT_DETERMINER_INPUT_MAX_CHARS),
            default_slot: s.default_slot_on_failure,
            enabled: s.enabled,
            description: s.description.as_deref(),
        }
    }

    fn live(s: &'a api::SmartModel) -> Self {
        Self {
            alias: &s.model_alias,
            determiner: &s.determiner_model_alias,
            slots: s.slots.iter().map(|x| (x.model_alias.clone(), x.label.clone())).collect(),
            breakpoints: &s.context_breakpoints,
            max_chars: s.determiner_input_max_chars,
            default_slot: s.default_slot_on_failure,
            enabled: s.enabled,
            description: s.description.as_deref(),
        }
    }

    fn view(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("alias".into(), json!(self.alias));
        m.insert("determiner".into(), json!(self.determiner));
        m.insert("slots".into(), self.slots.iter().map(|(a, l)| json!({"alias": a, "label": l})).collect());
        if !self.breakpoints.is_empty() {
            m.insert("contextBreakpoints".into(), json!(self.breakpoints));
        }
        m.insert("determinerInputMaxChars".into(), json!(self.max_chars));
        m.insert("defaultSlotOnFailure".into(), json!(self.default_slot));
        m.insert("enabled".into(), json!(self.enabled));
        if let Some(d) = self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

fn route_create(alias: &str, model: &str, priority: i64, o: &RouteOptions, bare: bool) -> api::RouteCreate {
    api::RouteCreate {
        provider_id: Uuid::nil(),
        model_alias: alias.to_owned(),
        upstream_model: model.to_owned(),
        enabled: Some(o.enabled),
        priority: Some(priority),
        retry_on_429_count: Some(i64::from(o.retry_on_429_count)),
        retry_on_429_max_wait_secs: Some(i64::from(o.retry_on_429_max_wait_secs)),
        bare_alias: Some(bare),
        stream_idle_timeout_secs: o.stream_idle_timeout_secs.map(i64::from),
        max_in_flight: o.max_in_flight.map(i64::from),
        request_timeout_secs: o.request_timeout_secs.map(i64::from),
    }
}

/// The fields of a route row that differ (priority is handled by reorder).
fn route_update(live: &api::Route, o: &RouteOptions, bare: bool) -> Option<api::RouteUpdate> {
    let mut u = api::RouteUpdate::default();
    let mut changed = false;
    if live.enabled != o.enabled {
        u.enabled = Some(o.enabled);
        changed = true;
    }
    if live.retry_on_429_count != o.retry_on_429_count {
        u.retry_on_429_count = Some(i64::from(o.retry_on_429_count));
        changed = true;
    }
    if live.retry_on_429_max_wait_secs != o.retry_on_429_max_wait_secs {
        u.retry_on_429_max_wait_secs = Some(i64::from(o.retry_on_429_max_wait_secs));
        changed = true;
    }
    if live.bare_alias != bare {
        u.bare_alias = Some(bare);
        changed = true;
    }
    if live.request_timeout_secs != o.request_timeout_secs {
        u.request_timeout_secs = Some(o.request_timeout_secs.map(i64::from));
        changed = true;
    }
    if live.stream_idle_timeout_secs != o.stream_idle_timeout_secs {
        u.stream_idle_timeout_secs = Some(o.stream_idle_timeout_secs.map(i64::from));
        changed = true;
    }
    if live.max_in_flight != o.max_in_flight {
        u.max_in_flight = Some(o.max_in_flight.map(i64::from));
        changed = true;
    }
    changed.then_some(u)
}

fn provider_update(p: &Provider, l: &api::Provider, key: Option<&KeyRef>) -> (Option<api::ProviderUpdate>, bool) {
    let mut u = api::ProviderUpdate::default();
    let mut changed = false;
    if l.base_url != p.base_url {
        u.base_url = Some(p.base_url.clone());
        changed = true;
    }
    let auth = p.auth_type.clone().unwrap_or_else(|| default_auth_type(p.model_provider.as_str()).to_owned());
    if l.auth_type != auth {
        u.auth_type = Some(auth);
        changed = true;
    }
    if l.enabled != p.enabled {
        u.enabled = Some(p.enabled);
        changed = true;
    }
    if l.request_timeout_secs != p.request_timeout_secs {
        u.request_timeout_secs = Some(p.request_timeout_secs.map(i64::from));
        changed = true;
    }
    if l.stream_idle_timeout_secs != p.stream_idle_timeout_secs {
        u.stream_idle_timeout_secs = Some(p.stream_idle_timeout_secs.map(i64::from));
        changed = true;
    }
    // Settings: without a declared key, the live key hash is not ours to remove.
    let mut want = desired_settings(p, key);
    if key.is_none()
        && let Some(h) = l.settings.get(KEY_HASH_SETTING)
    {
        want.insert(KEY_HASH_SETTING.into(), h.clone());
    }
    if l.settings != want {
        u.settings = Some(want);
        changed = true;
    }
    let key_changed = key.is_some_and(|k| l.settings.get(KEY_HASH_SETTING).and_then(Value::as_str) != Some(&k.sha256));
    ((changed || key_changed).then_some(u), key_changed)
}

/// Computes the plan.
///
/// `keys` holds the resolved key reference and hash per provider name (for providers
/// that declare `apiKey`).
///
/// # Errors
/// Changes the admin API cannot express (for example a changed `modelProvider`), or
/// prunes that would leave dangling aliases; one message per problem.
pub fn plan(
    desired: &DesiredState,
    keys: &BTreeMap<String, KeyRef>,
    live: &LiveState,
    opts: &PlanOptions,
) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    let mut kept = Vec::new();

    let provider_by_name: HashMap<&str, &api::Provider> = live.providers.iter().map(|p| (p.name.as_str(), p)).collect();
    let provider_name: HashMap<Uuid, String> = live.providers.iter().map(|p| (p.id, p.name.clone())).collect();
    let pname = |r: &api::Route| -> String { provider_name.get(&r.provider_id).cloned().unwrap_or_else(|| "?".into()) };
    let mut live_enablements: BTreeMap<(String, String), &api::Route> = BTreeMap::new();
    let mut live_aliases: BTreeMap<&str, Vec<&api::Route>> = BTreeMap::new();
    for r in &live.routes {
        if r.model_alias == r.upstream_model {
            live_enablements.insert((pname(r), r.upstream_model.clone()), r);
        } else {
            live_aliases.entry(r.model_alias.as_str()).or_default().push(r);
        }
    }
    for rows in live_aliases.values_mut() {
        rows.sort_by_key(|r| (r.priority, r.id));
    }
    let live_smart: BTreeMap<&str, &api::SmartModel> =
        live.smart_models.iter().map(|s| (s.model_alias.as_str(), s)).collect();

    let protected: BTreeSet<String> = opts
        .protect
        .iter()
        .cloned()
        .chain(desired.providers.iter().filter(|p| p.protected).map(|p| p.name.clone()))
        .chain(desired.routes.iter().filter(|r| r.protected).map(|r| r.alias.clone()))
        .chain(desired.smart_models.iter().filter(|s| s.protected).map(|s| s.alias.clone()))
        .collect();

    // ---------------------------------------------------------------- providers
    for p in sorted(&desired.providers, |p| &p.name) {
        let key = keys.get(&p.name);
        let after = provider_view(p, key);
        match provider_by_name.get(p.name.as_str()) {
            None => {
                let body = api::ProviderCreate {
                    name: p.name.clone(),
                    model_provider: p.model_provider,
                    base_url: p.base_url.clone(),
                    auth_type: Some(
                        p.auth_type.clone().unwrap_or_else(|| default_auth_type(p.model_provider.as_str()).to_owned()),
                    ),
                    api_key: None,
                    catalog_id: None,
                    connection_id: None,
                    models: Vec::new(),
                    settings: Some(desired_settings(p, key)),
                    enabled: Some(p.enabled),
                    request_timeout_secs: p.request_timeout_secs.map(i64::from),
                    stream_idle_timeout_secs: p.stream_idle_timeout_secs.map(i64::from),
                };
                changes.push(Change {
                    kind: ObjectKind::Provider,
                    identity: p.name.clone(),
                    action: Action::Create,
                    before: None,
                    after: Some(after),
                    ops: vec![Op::CreateProvider { body, api_key: key.cloned() }],
                    needs: Vec::new(),
                });
            }
            Some(l) => {
                if l.model_provider != p.model_provider.as_str() {
                    errors.push(format!(
                        "provider `{}`: modelProvider is `{}` on the gateway and `{}` in the manifest; it cannot change in place (rename the provider, or delete it on the gateway first)",
                        p.name, l.model_provider, p.model_provider
                    ));
                    continue;
                }
                let (update, key_changed) = provider_update(p, l, key);
                if let Some(body) = update {
                    changes.push(Change {
                        kind: ObjectKind::Provider,
                        identity: p.name.clone(),
                        action: Action::Update,
                        before: Some(live_provider_view(l, key)),
                        after: Some(after),
                        ops: vec![Op::UpdateProvider {
                            id: l.id,
                            body,
                            api_key: if key_changed { key.cloned() } else { None },
                        }],
                        needs: Vec::new(),
                    });
                }
            }
        }
    }

    // ---------------------------------------------------------------- enablements
    let mut declared_enablements: BTreeSet<(String, String)> = BTreeSet::new();
    for p in sorted(&desired.providers, |p| &p.name) {
        for e in sorted(&p.models, |e| &e.model) {
            declared_enablements.insert((p.name.clone(), e.model.clone()));
            let identity = format!("{}/{}", p.name, e.model);
            let after = enablement_view(&p.name, &e.model, &e.options, e.bare_alias);
            match live_enablements.get(&(p.name.clone(), e.model.clone())) {
                None => changes.push(Change {
                    kind: ObjectKind::Enablement,
                    identity,
                    action: Action::Create,
                    before: None,
                    after: Some(after),
                    ops: vec![Op::CreateRoute(NewRoute {
                        provider: p.name.clone(),
                        body: route_create(&e.model, &e.model, 0, &e.options, e.bare_alias),
                    })],
                    needs: vec![p.name.clone()],
                }),
                Some(l) => {
                    let mut ops = Vec::new();
                    if let Some(body) = route_update(l, &e.options, e.bare_alias) {
                        ops.push(Op::UpdateRoute { id: l.id, body });
                    }
                    if l.priority != 0 {
                        ops.push(Op::Reorder {
                            body: api::Reorder { entries: vec![api::ReorderEntry { id: l.id, priority: 0 }] },
                        });
                    }
                    if !ops.is_empty() {
                        changes.push(Change {
                            kind: ObjectKind::Enablement,
                            identity,
                            action: Action::Update,
                            before: Some(enablement_view(&p.name, &e.model, &live_options(l), l.bare_alias)),
                            after: Some(after),
                            ops,
                            needs: vec![p.name.clone()],
                        });
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- aliases
    let declared_aliases: BTreeSet<&str> = desired.routes.iter().map(|r| r.alias.as_str()).collect();
    for r in sorted(&desired.routes, |r| &r.alias) {
        alias_change(
            r,
            live_aliases.get(r.alias.as_str()).map(Vec::as_slice).unwrap_or(&[]),
            &pname,
            &protected,
            &mut changes,
            &mut kept,
        );
    }

    // ---------------------------------------------------------------- smart models
    for s in sorted(&desired.smart_models, |s| &s.alias) {
        smart_change(s, live_smart.get(s.alias.as_str()).copied(), &mut changes);
    }

    // ---------------------------------------------------------------- prune
    if opts.prune {
        let mut deletes: Vec<Change> = Vec::new();
        if opts.kinds.contains(&Kind::SmartModel) {
            let declared: BTreeSet<&str> = desired.smart_models.iter().map(|s| s.alias.as_str()).collect();
            for (alias, s) in &live_smart {
                if declared.contains(alias) {
                    continue;
                }
                if protected.contains(*alias) {
                    kept.push(Kept { kind: ObjectKind::SmartModel, identity: (*alias).to_owned() });
                    continue;
                }
                deletes.push(Change {
                    kind: ObjectKind::SmartModel,
                    identity: (*alias).to_owned(),
                    action: Action::Delete,
                    before: Some(live_smart_view(s)),
                    after: None,
                    ops: vec![Op::DeleteSmartModel { id: s.id }],
                    needs: Vec::new(),
                });
            }
        }
        let mut deleted_alias_rows: BTreeSet<Uuid> = BTreeSet::new();
        for c in &changes {
            for op in &c.ops {
                if let Op::DeleteRoute { id } = op {
                    deleted_alias_rows.insert(*id);
                }
            }
        }
        if opts.kinds.contains(&Kind::ModelRoute) {
            for (alias, rows) in &live_aliases {
                if declared_aliases.contains(alias) {
                    continue;
                }
                if protected.contains(*alias) {
                    kept.push(Kept { kind: ObjectKind::Alias, identity: (*alias).to_owned() });
                    continue;
                }
                deleted_alias_rows.extend(rows.iter().map(|r| r.id));
                deletes.push(Change {
                    kind: ObjectKind::Alias,
                    identity: (*alias).to_owned(),
                    action: Action::Delete,
                    before: Some(live_alias_view(alias, rows, &pname)),
                    after: None,
                    ops: rows.iter().map(|r| Op::DeleteRoute { id: r.id }).collect(),
                    needs: Vec::new(),
                });
            }
        }
        if opts.kinds.contains(&Kind::Provider) {
            let declared_providers: BTreeSet<&str> = desired.providers.iter().map(|p| p.name.as_str()).collect();
            let remaining_aliases_on = |provider: &str, model: Option<&str>| -> Vec<String> {
                live_aliases
                    .values()
                    .flatten()
                    .filter(|r| pname(r) == provider && model.is_none_or(|m| r.upstream_model == m))
                    .filter(|r| !deleted_alias_rows.contains(&r.id))
                    .map(|r| r.model_alias.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let mut protected_providers: BTreeSet<&str> = BTreeSet::new();
            for l in &live.providers {
                if !declared_providers.contains(l.name.as_str()) && protected.contains(&l.name) {
                    protected_providers.insert(l.name.as_str());
                    kept.push(Kept { kind: ObjectKind::Provider, identity: l.name.clone() });
                }
            }
            for ((provider, model), r) in &live_enablements {
                let identity = format!("{provider}/{model}");
                if declared_enablements.contains(&(provider.clone(), model.clone())) {
                    continue;
                }
                let provider_declared = declared_providers.contains(provider.as_str());
                let provider_protected = protected.contains(provider) && provider_declared
                    || protected_providers.contains(provider.as_str());
                if protected.contains(&identity) || provider_protected {
                    kept.push(Kept { kind: ObjectKind::Enablement, identity });
                    continue;
                }
                let dependents = remaining_aliases_on(provider, Some(model));
                if !dependents.is_empty() {
                    errors.push(format!(
                        "cannot prune enablement `{identity}`: alias(es) {} still route to it and are not being removed",
                        dependents.join(", ")
                    ));
                    continue;
                }
                deletes.push(Change {
                    kind: ObjectKind::Enablement,
                    identity,
                    action: Action::Delete,
                    before: Some(enablement_view(provider, model, &live_options(r), r.bare_alias)),
                    after: None,
                    ops: vec![Op::DeleteRoute { id: r.id }],
                    needs: Vec::new(),
                });
            }
            for l in &live.providers {
                if declared_providers.contains(l.name.as_str()) || protected_providers.contains(l.name.as_str()) {
                    continue;
                }
                let dependents = remaining_aliases_on(&l.name, None);
                if !dependents.is_empty() {
                    errors.push(format!(
                        "cannot prune provider `{}`: alias(es) {} still route to it and are not being removed (add ModelRoute documents to the input, or protect the provider)",
                        l.name,
                        dependents.join(", ")
                    ));
                    continue;
                }
                deletes.push(Change {
                    kind: ObjectKind::Provider,
                    identity: l.name.clone(),
                    action: Action::Delete,
                    before: Some(live_provider_view(l, None)),
                    after: None,
                    ops: vec![Op::DeleteProvider { id: l.id }],
                    needs: Vec::new(),
                });
            }
        }
        // Deletes first, in reverse dependency order.
        deletes.sort_by_key(|c| {
            let rank = match c.kind {
                ObjectKind::SmartModel => 0,
                ObjectKind::Alias => 1,
                ObjectKind::Enablement => 2,
                ObjectKind::Provider => 3,
            };
            (rank, c.identity.clone())
        });
        deletes.extend(changes);
        changes = deletes;
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    kept.sort_by(|a, b| (a.kind, &a.identity).cmp(&(b.kind, &b.identity)));
    kept.dedup();
    let mut summary = Summary::default();
    for c in &changes {
        match c.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
        }
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        gateway: opts.gateway.clone(),
        generation: live.generation,
        // Only saved plans need these; they cost a pass over every object.
        live_fingerprint: if opts.fingerprints { live_fingerprint(live) } else { String::new() },
        desired_digest: if opts.fingerprints { desired_digest(desired, keys) } else { String::new() },
        prune: opts.prune,
        changes,
        kept,
        summary,
    })
}

fn sorted<T, K: Ord + ?Sized>(items: &[T], key: impl Fn(&T) -> &K) -> Vec<&T> {
    let mut v: Vec<&T> = items.iter().collect();
    v.sort_by(|a, b| key(a).cmp(key(b)));
    v
}

fn live_alias_view(alias: &str, rows: &[&api::Route], pname: &dyn Fn(&api::Route) -> String) -> Value {
    let rows: Vec<(String, String, RouteOptions, bool)> =
        rows.iter().map(|r| (pname(r), r.upstream_model.clone(), live_options(r), r.bare_alias)).collect();
    alias_view(alias, &rows)
}

fn alias_change(
    r: &ModelRoute,
    live_rows: &[&api::Route],
    pname: &dyn Fn(&api::Route) -> String,
    protected: &BTreeSet<String>,
    changes: &mut Vec<Change>,
    kept: &mut Vec<Kept>,
) {
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut reorder = Vec::new();
    let mut deletes = Vec::new();
    let mut used: BTreeSet<Uuid> = BTreeSet::new();
    let mut needs: BTreeSet<String> = BTreeSet::new();
    // (id, live priority, desired position) of rows that stay.
    let mut matched: Vec<(Uuid, i64, i64)> = Vec::new();
    for (i, t) in r.targets.iter().enumerate() {
        let priority = i64::try_from(i).unwrap_or(i64::MAX);
        needs.insert(t.provider.clone());
        needs.insert(format!("{}/{}", t.provider, t.model));
        let existing =
            live_rows.iter().find(|l| !used.contains(&l.id) && pname(l) == t.provider && l.upstream_model == t.model);
        match existing {
            None => creates.push(Op::CreateRoute(NewRoute {
                provider: t.provider.clone(),
                body: route_create(&r.alias, &t.model, priority, &t.options, r.bare_alias),
            })),
            Some(l) => {
                used.insert(l.id);
                if let Some(body) = route_update(l, &t.options, r.bare_alias) {
                    updates.push(Op::UpdateRoute { id: l.id, body });
                }
                matched.push((l.id, l.priority, priority));
            }
        }
    }
    // Only the order matters for failover: live priorities that already ascend in the
    // desired order are left alone (no phantom reorders of, say, 0/5/10). When rows
    // are added, or the order differs, every staying row gets its position.
    let ascending = matched.windows(2).all(|w| w[0].1 < w[1].1);
    if !ascending || !creates.is_empty() {
        for (id, live_priority, position) in &matched {
            if live_priority != position {
                reorder.push(api::ReorderEntry { id: *id, priority: *position });
            }
        }
    }
    for l in live_rows.iter().filter(|l| !used.contains(&l.id)) {
        if protected.contains(&r.alias) {
            kept.push(Kept {
                kind: ObjectKind::Alias,
                identity: format!("{} -> {}/{}", r.alias, pname(l), l.upstream_model),
            });
        } else {
            deletes.push(Op::DeleteRoute { id: l.id });
        }
    }
    let mut ops = creates;
    ops.extend(updates);
    if !reorder.is_empty() {
        ops.push(Op::Reorder { body: api::Reorder { entries: reorder } });
    }
    ops.extend(deletes);
    if ops.is_empty() {
        return;
    }
    let desired_rows: Vec<(String, String, RouteOptions, bool)> =
        r.targets.iter().map(|t| (t.provider.clone(), t.model.clone(), t.options.clone(), r.bare_alias)).collect();
    let after = alias_view(&r.alias, &desired_rows);
    let action = if live_rows.is_empty() { Action::Create } else { Action::Update };
    changes.push(Change {
        kind: ObjectKind::Alias,
        identity: r.alias.clone(),
        action,
        before: (!live_rows.is_empty()).then(|| live_alias_view(&r.alias, live_rows, pname)),
        after: Some(after),
        ops,
        needs: needs.into_iter().collect(),
    });
}

fn live_smart_view(s: &api::SmartModel) -> Value {
    SmartFields::live(s).view()
}

fn smart_change(s: &SmartModel, live: Option<&api::SmartModel>, changes: &mut Vec<Change>) {
    let fields = SmartFields::desired(s);
    let after = fields.view();
    let slots = fields.slots.clone();
    let max_chars = fields.max_chars;
    let needs: Vec<String> = std::iter::once(s.determiner.clone())
        .chain(s.slots.iter().map(|x| x.alias.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wire_slots: Vec<api::Slot> =
        slots.iter().map(|(a, l)| api::Slot { model_alias: a.clone(), label: l.clone() }).collect();
    let breakpoints: Vec<i64> = s.context_breakpoints.iter().map(|b| i64::try_from(*b).unwrap_or(i64::MAX)).collect();
    match live {
        None => changes.push(Change {
            kind: ObjectKind::SmartModel,
            identity: s.alias.clone(),
            action: Action::Create,
            before: None,
            after: Some(after),
            ops: vec![Op::CreateSmartModel {
                body: api::SmartModelCreate {
                    model_alias: s.alias.clone(),
                    determiner_model_alias: s.determiner.clone(),
                    slots: wire_slots,
                    description: s.description.clone(),
                    enabled: Some(s.enabled),
                    context_breakpoints: Some(breakpoints),
                    determiner_input_max_chars: Some(i64::from(max_chars)),
                    default_slot_on_failure: Some(i64::from(s.default_slot_on_failure)),
                },
            }],
            needs,
        }),
        Some(l) => {
            let mut u = api::SmartModelUpdate::default();
            let mut changed = false;
            if l.model_alias != s.alias {
                u.model_alias = Some(s.alias.clone());
                changed = true;
            }
            if l.determiner_model_alias != s.determiner {
                u.determiner_model_alias = Some(s.determiner.clone());
                changed = true;
            }
            let live_slots: Vec<(String, String)> =
                l.slots.iter().map(|x| (x.model_alias.clone(), x.label.clone())).collect();
            if live_slots != slots {
                u.slots = Some(wire_slots);
                changed = true;
            }
            if l.context_breakpoints != s.context_breakpoints {
                u.context_breakpoints = Some(breakpoints);
                changed = true;
            }
            if l.determiner_input_max_chars != max_chars {
                u.determiner_input_max_chars = Some(i64::from(max_chars));
                changed = true;
            }
            if l.default_slot_on_failure != s.default_slot_on_failure {
                u.default_slot_on_failure = Some(i64::from(s.default_slot_on_failure));
                changed = true;
            }
            if l.enabled != s.enabled {
                u.enabled = Some(s.enabled);
                changed = true;
            }
            if l.description != s.description {
                u.description = Some(s.description.clone());
                changed = true;
            }
            if changed {
                changes.push(Change {
                    kind: ObjectKind::SmartModel,
                    identity: s.alias.clone(),
                    action: Action::Update,
                    before: Some(live_smart_view(l)),
                    after: Some(after),
                    ops: vec![Op::UpdateSmartModel { id: l.id, body: u }],
                    needs,
                });
            }
        }
    }
}

/// SHA-256 of the live state, insensitive to list order (objects are hashed in id
/// order, serialized one by one).
#[must_use]
pub fn live_fingerprint(live: &LiveState) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut providers: Vec<&api::Provider> = live.providers.iter().collect();
    providers.sort_unstable_by_key(|p| p.id);
    let mut routes: Vec<&api::Route> = live.routes.iter().collect();
    routes.sort_unstable_by_key(|r| r.id);
    let mut smart: Vec<&api::SmartModel> = live.smart_models.iter().collect();
    smart.sort_unstable_by_key(|s| s.id);
    let mut buf = Vec::with_capacity(512);
    let mut feed = |v: &dyn erased::Ser| {
        buf.clear();
        v.write(&mut buf);
        buf.push(b'\n');
        ctx.update(&buf);
    };
    for p in providers {
        feed(p);
    }
    for r in routes {
        feed(r);
    }
    for s in smart {
        feed(s);
    }
    crate::model::digest::hex(ctx.finish().as_ref())
}

mod erased {
    /// Object-safe "serialize into this buffer".
    pub trait Ser {
        fn write(&self, buf: &mut Vec<u8>);
    }
    impl<T: serde::Serialize> Ser for T {
        fn write(&self, buf: &mut Vec<u8>) {
            let _ = serde_json::to_writer(buf, self);
        }
    }
}

/// SHA-256 of the desired state as planned (views plus key hashes).
#[must_use]
pub fn desired_digest(desired: &DesiredState, keys: &BTreeMap<String, KeyRef>) -> String {
    let mut parts: Vec<Value> = Vec::new();
    for p in sorted(&desired.providers, |p| &p.name) {
        parts.push(provider_view(p, keys.get(&p.name)));
        for e in sorted(&p.models, |e| &e.model) {
            parts.push(enablement_view(&p.name, &e.model, &e.options, e.bare_alias));
        }
    }
    for r in sorted(&desired.routes, |r| &r.alias) {
        let rows: Vec<(String, String, RouteOptions, bool)> =
            r.targets.iter().map(|t| (t.provider.clone(), t.model.clone(), t.options.clone(), r.bare_alias)).collect();
        parts.push(json!({"route": alias_view(&r.alias, &rows), "protected": r.protected}));
    }
    for s in sorted(&desired.smart_models, |s| &s.alias) {
        parts.push(SmartFields::desired(s).view());
    }
    sha256_hex(Value::Array(parts).to_string().as_bytes())
}
