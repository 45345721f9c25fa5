//! The admin API's rules (SPEC §5), written once against [`Tx`] so that SQLite and
//! the in-memory store behave identically. Each function runs inside one
//! transaction; returning `Err` rolls back everything it did.

use std::collections::{BTreeSet, HashSet};

use uuid::Uuid;

use crate::api;
use crate::gateway::error::ApiError;
use crate::gateway::store::{ProviderRow, RouteRow, Secret, SmartRow, Tx, now};
use crate::model::limits::{self, DEFAULT_DETERMINER_INPUT_MAX_CHARS, Range, default_auth_type};
use crate::model::names::{check_base_url, check_token};

fn range(field: &str, v: Option<i64>, r: Range) -> Result<Option<u32>, ApiError> {
    match v {
        None => Ok(None),
        Some(v) => r
            .check(v)
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{field} must be between {} and {} (got {v})", r.min, r.max))),
    }
}

fn name_field(field: &str, v: &str) -> Result<(), ApiError> {
    check_token(v).map_err(|m| ApiError::invalid(format!("{field} {m}")))
}

/// The response shape of a stored provider (never carries the key).
#[must_use]
pub fn provider_out(p: &ProviderRow) -> api::Provider {
    api::Provider {
        id: p.id,
        org_id: p.org_id,
        name: p.name.clone(),
        model_provider: p.model_provider.clone(),
        auth_type: p.auth_type.clone(),
        base_url: p.base_url.clone(),
        enabled: p.enabled,
        settings: p.settings.clone(),
        catalog_id: p.catalog_id,
        connection_id: p.connection_id,
        request_timeout_secs: p.request_timeout_secs,
        stream_idle_timeout_secs: p.stream_idle_timeout_secs,
        has_api_key: p.api_key.is_some(),
        created_at: p.created_at.clone(),
        updated_at: p.updated_at.clone(),
    }
}

/// The response shape of a stored route; `provider_name` only on list rows.
#[must_use]
pub fn route_out(r: &RouteRow, provider_name: Option<String>) -> api::Route {
    api::Route {
        id: r.id,
        org_id: r.org_id,
        provider_id: r.provider_id,
        model_alias: r.model_alias.clone(),
        upstream_model: r.upstream_model.clone(),
        enabled: r.enabled,
        priority: r.priority,
        retry_on_429_count: r.retry_on_429_count,
        retry_on_429_max_wait_secs: r.retry_on_429_max_wait_secs,
        bare_alias: r.bare_alias,
        stream_idle_timeout_secs: r.stream_idle_timeout_secs,
        max_in_flight: r.max_in_flight,
        request_timeout_secs: r.request_timeout_secs,
        provider_name,
        budget_status: None,
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    }
}

/// The response shape of a stored smart model.
#[must_use]
pub fn smart_out(s: &SmartRow) -> api::SmartModel {
    api::SmartModel {
        id: s.id,
        org_id: s.org_id,
        model_alias: s.model_alias.clone(),
        enabled: s.enabled,
        determiner_model_alias: s.determiner_model_alias.clone(),
        slots: s.slots.iter().map(|(a, l)| api::SlotOut { model_alias: a.clone(), label: l.clone() }).collect(),
        context_breakpoints: s.context_breakpoints.clone(),
        determiner_input_max_chars: s.determiner_input_max_chars,
        default_slot_on_failure: s.default_slot_on_failure,
        description: s.description.clone(),
        created_at: s.created_at.clone(),
        updated_at: s.updated_at.clone(),
    }
}

// ---------------------------------------------------------------- providers

/// `POST /admin/providers`: creates the provider and its 1:1 enablements.
///
/// # Errors
/// 400 on invalid fields, 409 when the name is taken.
pub fn create_provider(tx: &mut dyn Tx, org: Uuid, req: api::ProviderCreate) -> Result<api::Provider, ApiError> {
    name_field("name", &req.name)?;
    if req.name.contains('/') {
        return Err(ApiError::invalid(
            "name must not contain '/' (it separates provider and model in `<provider>/<model>`)",
        ));
    }
    if let Some(url) = &req.base_url {
        check_base_url(url).map_err(|m| ApiError::invalid(format!("base_url: {m}")))?;
    }
    if let Some(a) = &req.auth_type {
        name_field("auth_type", a)?;
    }
    let request_timeout_secs = range("request_timeout_secs", req.request_timeout_secs, limits::REQUEST_TIMEOUT_SECS)?;
    let stream_idle_timeout_secs =
        range("stream_idle_timeout_secs", req.stream_idle_timeout_secs, limits::STREAM_IDLE_TIMEOUT_SECS)?;
    let mut seen = HashSet::new();
    for m in &req.models {
        name_field("models[]", m)?;
        if !seen.insert(m.as_str()) {
            return Err(ApiError::invalid(format!("models lists `{m}` twice")));
        }
    }
    if tx.provider_by_name(&req.name)?.is_some() {
        return Err(ApiError::conflict(format!("a provider named `{}` already exists", req.name)));
    }
    let model_provider = req.model_provider.as_str().to_owned();
    let ts = now();
    let row = ProviderRow {
        id: Uuid::new_v4(),
        org_id: org,
        name: req.name,
        auth_type: req.auth_type.unwrap_or_else(|| default_auth_type(&model_provider).to_owned()),
        model_provider,
        base_url: req.base_url,
        enabled: req.enabled.unwrap_or(true),
        settings: req.settings.unwrap_or_default(),
        catalog_id: req.catalog_id,
        connection_id: req.connection_id,
        request_timeout_secs,
        stream_idle_timeout_secs,
        api_key: req.api_key.map(Secret),
        created_at: ts.clone(),
        updated_at: ts,
    };
    tx.put_provider(&row)?;
    for m in req.models {
        create_route(
            tx,
            org,
            api::RouteCreate { provider_id: row.id, model_alias: m.clone(), upstream_model: m, ..Default::default() },
        )?;
    }
    Ok(provider_out(&row))
}

/// `PUT /admin/providers/{id}`: partial update.
///
/// # Errors
/// 404 when absent, 400 on invalid fields, 409 on a name clash.
pub fn update_provider(tx: &mut dyn Tx, id: Uuid, req: api::ProviderUpdate) -> Result<api::Provider, ApiError> {
    let mut row = tx.provider(id)?.ok_or_else(|| provider_not_found(id))?;
    if let Some(name) = req.name {
        name_field("name", &name)?;
        if name.contains('/') {
            return Err(ApiError::invalid("name must not contain '/'"));
        }
        if name != row.name && tx.provider_by_name(&name)?.is_some() {
            return Err(ApiError::conflict(format!("a provider named `{name}` already exists")));
        }
        row.name = name;
    }
    if let Some(url) = req.base_url {
        if let Some(u) = &url {
            check_base_url(u).map_err(|m| ApiError::invalid(format!("base_url: {m}")))?;
        }
        row.base_url = url;
    }
    if let Some(a) = req.auth_type {
        name_field("auth_type", &a)?;
        row.auth_type = a;
    }
    if let Some(k) = req.api_key {
        row.api_key = Some(Secret(k));
    }
    if let Some(e) = req.enabled {
        row.enabled = e;
    }
    if let Some(s) = req.settings {
        row.settings = s;
    }
    if let Some(c) = req.connection_id {
        row.connection_id = c;
    }
    if let Some(v) = req.request_timeout_secs {
        row.request_timeout_secs = range("request_timeout_secs", v, limits::REQUEST_TIMEOUT_SECS)?;
    }
    if let Some(v) = req.stream_idle_timeout_secs {
        row.stream_idle_timeout_secs = range("stream_idle_timeout_secs", v, limits::STREAM_IDLE_TIMEOUT_SECS)?;
    }
    row.updated_at = now();
    tx.put_provider(&row)?;
    Ok(provider_out(&row))
}

/// `DELETE /admin/providers/{id}`: refused with 409 while routes use it.
///
/// # Errors
/// 404 when absent, 409 while routes exist.
pub fn delete_provider(tx: &mut dyn Tx, id: Uuid) -> Result<api::Deleted, ApiError> {
    let row = tx.provider(id)?.ok_or_else(|| provider_not_found(id))?;
    let routes = tx.routes_of_provider(id)?;
    if !routes.is_empty() {
        let aliases: BTreeSet<&str> = routes.iter().map(|r| r.model_alias.as_str()).collect();
        return Err(ApiError::conflict(format!(
            "provider `{}` is in use by {} route(s) ({}); delete them first",
            row.name,
            routes.len(),
            shorten(aliases.into_iter())
        )));
    }
    tx.delete_provider(id)?;
    Ok(api::Deleted { deleted: true })
}

fn provider_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("provider {id} not found"))
}

fn shorten<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    let mut s = all.iter().take(10).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if all.len() > 10 {
        s.push_str(&format!(" and {} more", all.len() - 10));
    }
    s
}

// ---------------------------------------------------------------- routes

/// `POST /admin/model-mappings`: range checks, provider lookup, orphan guard, and the
/// 1:1 fold (a second create of the same enablement updates the existing row).
///
/// # Errors
/// 400 on invalid fields or a custom alias without its enablement, 404 for an unknown
/// provider, 409 when the alias is a smart model's or the row already exists.
pub fn create_route(tx: &mut dyn Tx, org: Uuid, req: api::RouteCreate) -> Result<api::Route, ApiError> {
    name_field("model_alias", &req.model_alias)?;
    name_field("upstream_model", &req.upstream_model)?;
    let retry_count = range("retry_on_429_count", req.retry_on_429_count, limits::RETRY_ON_429_COUNT)?;
    let retry_wait =
        range("retry_on_429_max_wait_secs", req.retry_on_429_max_wait_secs, limits::RETRY_ON_429_MAX_WAIT_SECS)?;
    let idle = range("stream_idle_timeout_secs", req.stream_idle_timeout_secs, limits::STREAM_IDLE_TIMEOUT_SECS)?;
    let cap = range("max_in_flight", req.max_in_flight, limits::MAX_IN_FLIGHT)?;
    let request = range("request_timeout_secs", req.request_timeout_secs, limits::REQUEST_TIMEOUT_SECS)?;
    if let Some(p) = req.priority {
        range("priority", Some(p), limits::PRIORITY)?;
    }
    let one_to_one = req.model_alias == req.upstream_model;
    if !one_to_one && req.model_alias.contains('/') {
        return Err(ApiError::invalid("model_alias of a custom alias must not contain '/'"));
    }
    if tx.provider(req.provider_id)?.is_none() {
        return Err(provider_not_found(req.provider_id));
    }
    if tx.smart_by_alias(&req.model_alias)?.is_some() {
        return Err(ApiError::conflict(format!("`{}` is already a smart model's alias", req.model_alias)));
    }
    let siblings = tx.routes_for_model(req.provider_id, &req.upstream_model)?;
    let anchor = siblings.iter().find(|r| r.is_one_to_one()).cloned();
    let ts = now();
    if one_to_one {
        if let Some(mut row) = anchor {
            // The fold: overwrite the flags from the request (omitted -> defaults),
            // the nullable limits only when given.
            row.enabled = req.enabled.unwrap_or(true);
            row.priority = req.priority.unwrap_or(0);
            row.retry_on_429_count = retry_count.unwrap_or(0);
            row.retry_on_429_max_wait_secs = retry_wait.unwrap_or(0);
            row.bare_alias = req.bare_alias.unwrap_or(false);
            if idle.is_some() {
                row.stream_idle_timeout_secs = idle;
            }
            if cap.is_some() {
                row.max_in_flight = cap;
            }
            if request.is_some() {
                row.request_timeout_secs = request;
            }
            row.updated_at = ts;
            tx.put_route(&row)?;
            return Ok(route_out(&row, None));
        }
    } else {
        if anchor.is_none() {
            return Err(ApiError::invalid(format!(
                "cannot route `{}` to `{}` on this provider: the model is not enabled (create the 1:1 enablement with model_alias = upstream_model = `{}` first)",
                req.model_alias, req.upstream_model, req.upstream_model
            )));
        }
        if let Some(dup) = siblings.iter().find(|r| r.model_alias == req.model_alias) {
            return Err(ApiError::conflict(format!(
                "alias `{}` already routes to `{}` on this provider (route {})",
                req.model_alias, req.upstream_model, dup.id
            )));
        }
    }
    let row = RouteRow {
        id: Uuid::new_v4(),
        org_id: org,
        provider_id: req.provider_id,
        model_alias: req.model_alias,
        upstream_model: req.upstream_model,
        enabled: req.enabled.unwrap_or(true),
        priority: req.priority.unwrap_or(0),
        retry_on_429_count: retry_count.unwrap_or(0),
        retry_on_429_max_wait_secs: retry_wait.unwrap_or(0),
        bare_alias: req.bare_alias.unwrap_or(!one_to_one),
        stream_idle_timeout_secs: idle,
        max_in_flight: cap,
        request_timeout_secs: request,
        created_at: ts.clone(),
        updated_at: ts,
    };
    tx.put_route(&row)?;
    Ok(route_out(&row, None))
}

/// `PUT /admin/model-mappings/{id}`: partial update with the same checks on the
/// merged row; `provider_id` is immutable.
///
/// # Errors
/// 404 when absent, 400 on invalid fields, 409 when it would orphan aliases or clash.
pub fn update_route(tx: &mut dyn Tx, id: Uuid, req: api::RouteUpdate) -> Result<api::Route, ApiError> {
    let old = tx.route(id)?.ok_or_else(|| route_not_found(id))?;
    if let Some(p) = req.provider_id
        && p != old.provider_id
    {
        return Err(ApiError::invalid("provider_id is immutable; create a new route on the other provider instead"));
    }
    let mut row = old.clone();
    if let Some(a) = req.model_alias {
        name_field("model_alias", &a)?;
        row.model_alias = a;
    }
    if let Some(u) = req.upstream_model {
        name_field("upstream_model", &u)?;
        row.upstream_model = u;
    }
    if let Some(e) = req.enabled {
        row.enabled = e;
    }
    if let Some(p) = req.priority {
        range("priority", Some(p), limits::PRIORITY)?;
        row.priority = p;
    }
    if let Some(v) = req.retry_on_429_count {
        row.retry_on_429_count = range("retry_on_429_count", Some(v), limits::RETRY_ON_429_COUNT)?.unwrap_or(0);
    }
    if let Some(v) = req.retry_on_429_max_wait_secs {
        row.retry_on_429_max_wait_secs =
            range("retry_on_429_max_wait_secs", Some(v), limits::RETRY_ON_429_MAX_WAIT_SECS)?.unwrap_or(0);
    }
    if let Some(b) = req.bare_alias {
        row.bare_alias = b;
    }
    if let Some(v) = req.stream_idle_timeout_secs {
        row.stream_idle_timeout_secs = range("stream_idle_timeout_secs", v, limits::STREAM_IDLE_TIMEOUT_SECS)?;
    }
    if let Some(v) = req.max_in_flight {
        row.max_in_flight = range("max_in_flight", v, limits::MAX_IN_FLIGHT)?;
    }
    if let Some(v) = req.request_timeout_secs {
        row.request_timeout_secs = range("request_timeout_secs", v, limits::REQUEST_TIMEOUT_SECS)?;
    }
    let identity_changed = row.model_alias != old.model_alias || row.upstream_model != old.upstream_model;
    if identity_changed {
        if old.is_one_to_one() {
            let dependents = custom_aliases_on(tx, &old)?;
            if !dependents.is_empty() {
                return Err(ApiError::conflict(format!(
                    "enablement `{}` has custom aliases ({}); changing it would orphan them",
                    old.upstream_model,
                    shorten(dependents.iter().map(String::as_str))
                )));
            }
        }
        if !row.is_one_to_one() && row.model_alias.contains('/') {
            return Err(ApiError::invalid("model_alias of a custom alias must not contain '/'"));
        }
        if row.model_alias != old.model_alias && tx.smart_by_alias(&row.model_alias)?.is_some() {
            return Err(ApiError::conflict(format!("`{}` is already a smart model's alias", row.model_alias)));
        }
        let siblings = tx.routes_for_model(row.provider_id, &row.upstream_model)?;
        let others: Vec<&RouteRow> = siblings.iter().filter(|r| r.id != row.id).collect();
        if row.is_one_to_one() {
            if others.iter().any(|r| r.is_one_to_one()) {
                return Err(ApiError::conflict(format!(
                    "`{}` is already enabled on this provider",
                    row.upstream_model
                )));
            }
        } else {
            if !others.iter().any(|r| r.is_one_to_one()) {
                return Err(ApiError::invalid(format!(
                    "cannot route `{}` to `{}` on this provider: the model is not enabled",
                    row.model_alias, row.upstream_model
                )));
            }
            if others.iter().any(|r| r.model_alias == row.model_alias) {
                return Err(ApiError::conflict(format!(
                    "alias `{}` already routes to `{}` on this provider",
                    row.model_alias, row.upstream_model
                )));
            }
        }
    }
    row.updated_at = now();
    tx.put_route(&row)?;
    Ok(route_out(&row, None))
}

/// The custom aliases that route to the model of the 1:1 row `anchor`.
fn custom_aliases_on(tx: &dyn Tx, anchor: &RouteRow) -> Result<Vec<String>, ApiError> {
    Ok(tx
        .routes_for_model(anchor.provider_id, &anchor.upstream_model)?
        .into_iter()
        .filter(|r| !r.is_one_to_one())
        .map(|r| r.model_alias)
        .collect())
}

/// `DELETE /admin/model-mappings/{id}`: a 1:1 row with custom aliases is refused.
///
/// # Errors
/// 404 when absent, 409 naming dependent aliases.
pub fn delete_route(tx: &mut dyn Tx, id: Uuid) -> Result<api::Deleted, ApiError> {
    let row = tx.route(id)?.ok_or_else(|| route_not_found(id))?;
    if row.is_one_to_one() {
        let dependents = custom_aliases_on(tx, &row)?;
        if !dependents.is_empty() {
            return Err(ApiError::conflict(format!(
                "enablement `{}` is used by custom alias(es) {}; delete them first",
                row.upstream_model,
                shorten(dependents.iter().map(String::as_str))
            )));
        }
    }
    tx.delete_route(id)?;
    Ok(api::Deleted { deleted: true })
}

/// `PUT /admin/model-mappings/reorder`: all ids must exist in the org, else nothing
/// changes.
///
/// # Errors
/// 400 on an empty list, duplicate ids or a bad priority; 404 naming unknown ids.
pub fn reorder(tx: &mut dyn Tx, req: api::Reorder) -> Result<api::Ok, ApiError> {
    if req.entries.is_empty() {
        return Err(ApiError::invalid("entries must not be empty"));
    }
    let mut seen = HashSet::new();
    for e in &req.entries {
        if !seen.insert(e.id) {
            return Err(ApiError::invalid(format!("entries lists route {} more than once", e.id)));
        }
        range("priority", Some(e.priority), limits::PRIORITY)?;
    }
    let mut rows = Vec::with_capacity(req.entries.len());
    let mut missing = Vec::new();
    for e in &req.entries {
        match tx.route(e.id)? {
            Some(r) => rows.push((r, e.priority)),
            None => missing.push(e.id.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::not_found(format!(
            "model mapping(s) not found: {}; nothing was reordered",
            missing.join(", ")
        )));
    }
    let ts = now();
    for (mut r, p) in rows {
        if r.priority != p {
            r.priority = p;
            r.updated_at.clone_from(&ts);
            tx.put_route(&r)?;
        }
    }
    Ok(api::Ok { ok: true })
}

fn route_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("model mapping {{id: {id}}} not found"))
}

/// Every route with its provider's name, as the JSON array the list endpoint
/// returns, written row by row.
///
/// # Errors
/// A storage failure.
pub fn list_routes_json(tx: &dyn Tx) -> Result<Vec<u8>, ApiError> {
    let names: std::collections::HashMap<Uuid, String> = tx.providers()?.into_iter().map(|p| (p.id, p.name)).collect();
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.push(b'[');
    let mut first = true;
    tx.each_route(&mut |r| {
        if !first {
            buf.push(b',');
        }
        first = false;
        let name = names.get(&r.provider_id).cloned();
        serde_json::to_writer(&mut buf, &route_out(&r, name)).map_err(ApiError::internal)
    })?;
    buf.push(b']');
    Ok(buf)
}

// ---------------------------------------------------------------- smart models

struct SmartFields {
    model_alias: String,
    determiner: String,
    slots: Vec<(String, String)>,
    breakpoints: Vec<i64>,
    max_chars: Option<i64>,
    default_slot: i64,
}

fn check_smart(tx: &dyn Tx, f: &SmartFields, self_id: Option<Uuid>) -> Result<(Vec<u64>, Option<u32>, u32), ApiError> {
    name_field("model_alias", &f.model_alias)?;
    if f.model_alias.contains('/') {
        return Err(ApiError::invalid("model_alias must not contain '/'"));
    }
    name_field("determiner_model_alias", &f.determiner)?;
    if f.slots.is_empty() {
        return Err(ApiError::invalid("slots must have at least 1 entry"));
    }
    for (i, (alias, label)) in f.slots.iter().enumerate() {
        name_field(&format!("slots[{i}].model_alias"), alias)?;
        if label.trim().is_empty() {
            return Err(ApiError::invalid(format!("slots[{i}].label must not be empty")));
        }
        if alias.eq_ignore_ascii_case(&f.model_alias) {
            return Err(ApiError::invalid(format!("slots[{i}].model_alias refers to the smart model itself")));
        }
    }
    if f.determiner.eq_ignore_ascii_case(&f.model_alias) {
        return Err(ApiError::invalid("determiner_model_alias refers to the smart model itself"));
    }
    let slots = f.slots.len();
    if f.default_slot < 0 || f.default_slot >= i64::try_from(slots).unwrap_or(i64::MAX) {
        return Err(ApiError::invalid(format!(
            "default_slot_on_failure must be between 0 and {} (got {})",
            slots - 1,
            f.default_slot
        )));
    }
    if let Some((i, msg)) = crate::model::validate::check_breakpoints(&f.breakpoints, slots).into_iter().next() {
        let at = i.map(|i| format!("[{i}]")).unwrap_or_default();
        return Err(ApiError::invalid(format!("context_breakpoints{at}: {msg}")));
    }
    for b in &f.breakpoints {
        range("context_breakpoints[]", Some(*b), limits::CONTEXT_BREAKPOINT)?;
    }
    let max_chars = range("determiner_input_max_chars", f.max_chars, limits::DETERMINER_INPUT_MAX_CHARS)?;
    if tx.route_alias_exists(&f.model_alias)? {
        return Err(ApiError::conflict(format!("`{}` is already a route alias", f.model_alias)));
    }
    if let Some(other) = tx.smart_by_alias(&f.model_alias)?
        && Some(other.id) != self_id
    {
        return Err(ApiError::conflict(format!("a smart model with alias `{}` already exists", f.model_alias)));
    }
    let breakpoints = f.breakpoints.iter().map(|b| u64::try_from(*b).unwrap_or(0)).collect();
    Ok((breakpoints, max_chars, u32::try_from(f.default_slot).unwrap_or(0)))
}

/// The smart model a preview describes, checked like a create (an existing smart
/// model of the same alias is what is being previewed, so it is no conflict).
///
/// # Errors
/// 400 on invalid fields, 409 when the alias is a route alias.
pub fn preview_row(tx: &dyn Tx, org: Uuid, req: &api::SmartPreview) -> Result<SmartRow, ApiError> {
    let fields = SmartFields {
        model_alias: req.model_alias.clone(),
        determiner: req.determiner_model_alias.clone(),
        slots: req.slots.iter().map(|s| (s.model_alias.clone(), s.label.clone())).collect(),
        breakpoints: req.context_breakpoints.clone().unwrap_or_default(),
        max_chars: req.determiner_input_max_chars,
        default_slot: req.default_slot_on_failure.unwrap_or(0),
    };
    if let Some(e) = &req.endpoint
        && e != "/v1/chat/completions"
    {
        return Err(ApiError::invalid(format!("endpoint {e:?} is not served (only /v1/chat/completions)")));
    }
    if req.token_count.is_some_and(|t| t < 0) {
        return Err(ApiError::invalid("token_count must not be negative"));
    }
    let existing = tx.smart_by_alias(&fields.model_alias)?.map(|m| m.id);
    let (breakpoints, max_chars, default_slot) = check_smart(tx, &fields, existing)?;
    Ok(SmartRow {
        id: existing.unwrap_or_else(Uuid::nil),
        org_id: org,
        model_alias: fields.model_alias,
        enabled: req.enabled.unwrap_or(true),
        determiner_model_alias: fields.determiner,
        slots: fields.slots,
        context_breakpoints: breakpoints,
        determiner_input_max_chars: max_chars.unwrap_or(DEFAULT_DETERMINER_INPUT_MAX_CHARS),
        default_slot_on_failure: default_slot,
        description: req.description.clone(),
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// `POST /admin/smart-models`.
///
/// # Errors
/// 400 on invalid fields, 409 on an alias clash.
pub fn create_smart(tx: &mut dyn Tx, org: Uuid, req: api::SmartModelCreate) -> Result<api::SmartModel, ApiError> {
    let fields = SmartFields {
        model_alias: req.model_alias,
        determiner: req.determiner_model_alias,
        slots: req.slots.into_iter().map(|s| (s.model_alias, s.label)).collect(),
        breakpoints: req.context_breakpoints.unwrap_or_default(),
        max_chars: req.determiner_input_max_chars,
        default_slot: req.default_slot_on_failure.unwrap_or(0),
    };
    let (breakpoints, max_chars, default_slot) = check_smart(tx, &fields, None)?;
    let ts = now();
    let row = SmartRow {
        id: Uuid::new_v4(),
        org_id: org,
        model_alias: fields.model_alias,
        enabled: req.enabled.unwrap_or(true),
        determiner_model_alias: fields.determiner,
        slots: fields.slots,
        context_breakpoints: breakpoints,
        determiner_input_max_chars: max_chars.unwrap_or(DEFAULT_DETERMINER_INPUT_MAX_CHARS),
        default_slot_on_failure: default_slot,
        description: req.description,
        created_at: ts.clone(),
        updated_at: ts,
    };
    tx.put_smart(&row)?;
    Ok(smart_out(&row))
}

/// `PUT /admin/smart-models/{id}`: partial; `description: null` clears it.
///
/// # Errors
/// 404 when absent, 400 on invalid fields, 409 on an alias clash.
pub fn update_smart(tx: &mut dyn Tx, id: Uuid, req: api::SmartModelUpdate) -> Result<api::SmartModel, ApiError> {
    let old = tx.smart_model(id)?.ok_or_else(|| smart_not_found(id))?;
    let fields = SmartFields {
        model_alias: req.model_alias.unwrap_or_else(|| old.model_alias.clone()),
        determiner: req.determiner_model_alias.unwrap_or_else(|| old.determiner_model_alias.clone()),
        slots: req
            .slots
            .map_or_else(|| old.slots.clone(), |s| s.into_iter().map(|s| (s.model_alias, s.label)).collect()),
        breakpoints: req
            .context_breakpoints
            .unwrap_or_else(|| old.context_breakpoints.iter().map(|b| i64::try_from(*b).unwrap_or(i64::MAX)).collect()),
        max_chars: Some(req.determiner_input_max_chars.unwrap_or(i64::from(old.determiner_input_max_chars))),
        default_slot: req.default_slot_on_failure.unwrap_or(i64::from(old.default_slot_on_failure)),
    };
    let (breakpoints, max_chars, default_slot) = check_smart(tx, &fields, Some(id))?;
    let row = SmartRow {
        id,
        org_id: old.org_id,
        model_alias: fields.model_alias,
        enabled: req.enabled.unwrap_or(old.enabled),
        determiner_model_alias: fields.determiner,
        slots: fields.slots,
        context_breakpoints: breakpoints,
        determiner_input_max_chars: max_chars.unwrap_or(old.determiner_input_max_chars),
        default_slot_on_failure: default_slot,
        description: match req.description {
            None => old.description,
            Some(d) => d,
        },
        created_at: old.created_at,
        updated_at: now(),
    };
    tx.put_smart(&row)?;
    Ok(smart_out(&row))
}

/// `DELETE /admin/smart-models/{id}`.
///
/// # Errors
/// 404 when absent.
pub fn delete_smart(tx: &mut dyn Tx, id: Uuid) -> Result<api::Deleted, ApiError> {
    tx.smart_model(id)?.ok_or_else(|| smart_not_found(id))?;
    tx.delete_smart(id)?;
    Ok(api::Deleted { deleted: true })
}

fn smart_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("smart model {id} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::memory::MemoryStore;
    use crate::gateway::store::sqlite::SqliteStore;
    use crate::gateway::store::{Store, read, write};

    fn stores() -> Vec<(&'static str, Box<dyn Store>)> {
        vec![("memory", Box::new(MemoryStore::new())), ("sqlite", Box::new(SqliteStore::open(":memory:").unwrap()))]
    }

    fn provider(store: &dyn Store, org: Uuid, models: &[&str]) -> Uuid {
        let req = api::ProviderCreate {
            name: "p".into(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            ..Default::default()
        };
        write(store, org, |tx| create_provider(tx, org, req)).unwrap().0.id
    }

    #[test]
    fn both_stores_fold_repeated_enablements_into_one_row() {
        for (name, store) in stores() {
            let org = Uuid::new_v4();
            let pid = provider(store.as_ref(), org, &["m"]);
            let req = api::RouteCreate {
                provider_id: pid,
                model_alias: "m".into(),
                upstream_model: "m".into(),
                max_in_flight: Some(5),
                ..Default::default()
            };
            let (a, g1) = write(store.as_ref(), org, |tx| create_route(tx, org, req.clone())).unwrap();
            let (b, g2) = write(store.as_ref(), org, |tx| create_route(tx, org, req.clone())).unwrap();
            assert_eq!(a.id, b.id, "{name}");
            assert_eq!(g2, g1 + 1, "{name}: every successful write bumps the generation");
            let (rows, _) = read(store.as_ref(), org, |tx| tx.routes()).unwrap();
            assert_eq!(rows.len(), 1, "{name}");
            assert_eq!(rows[0].max_in_flight, Some(5), "{name}");
        }
    }

    #[test]
    fn both_stores_roll_back_a_failed_write_completely() {
        for (name, store) in stores() {
            let org = Uuid::new_v4();
            let pid = provider(store.as_ref(), org, &["m"]);
            let before = store.generation(org).unwrap();
            // A write that changes a row and then fails must leave nothing behind.
            let err = write(store.as_ref(), org, |tx| {
                create_route(
                    tx,
                    org,
                    api::RouteCreate {
                        provider_id: pid,
                        model_alias: "n".into(),
                        upstream_model: "n".into(),
                        ..Default::default()
                    },
                )?;
                create_route(
                    tx,
                    org,
                    api::RouteCreate {
                        provider_id: pid,
                        model_alias: "alias".into(),
                        upstream_model: "missing".into(),
                        ..Default::default()
                    },
                )
            })
            .unwrap_err();
            assert_eq!(err.status, 400, "{name}");
            assert_eq!(store.generation(org).unwrap(), before, "{name}");
            let (rows, _) = read(store.as_ref(), org, |tx| tx.routes()).unwrap();
            assert_eq!(rows.len(), 1, "{name}: only the original enablement remains");
        }
    }

    #[test]
    fn both_stores_keep_orgs_apart() {
        for (name, store) in stores() {
            let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
            let pid = provider(store.as_ref(), a, &["m"]);
            let (seen, _) = read(store.as_ref(), b, |tx| tx.provider(pid)).unwrap();
            assert!(seen.is_none(), "{name}");
            let err = write(store.as_ref(), b, |tx| delete_provider(tx, pid)).unwrap_err();
            assert_eq!(err.status, 404, "{name}");
        }
    }
}
