//! The admin API (`/api/llm-gateway/admin/...`): axum handlers over the [`rules`]
//! and the [`Store`](crate::gateway::store::Store). Every response carries the org's
//! config generation in `x-switchyard-generation`.

pub mod body;
pub mod openapi;
pub mod rules;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Serialize;
use uuid::Uuid;

use self::body::JsonBody;
use super::AppState;
use super::auth::Claims;
use super::error::ApiError;
use super::keys;
use super::store::{self, Tx};
use crate::api::{self, GENERATION_HEADER};

/// Routes under `/admin`, to be nested below `/api/llm-gateway`. Authentication is
/// applied by the caller (see `gateway::router`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/providers", get(list_providers).post(create_provider))
        .route("/admin/providers/{id}", get(get_provider).put(update_provider).delete(delete_provider))
        .route("/admin/model-mappings", get(list_routes).post(create_route))
        .route("/admin/model-mappings/reorder", put(reorder))
        .route("/admin/model-mappings/{id}", get(get_route).put(update_route).delete(delete_route))
        .route("/admin/smart-models", get(list_smart).post(create_smart))
        .route("/admin/smart-models/preview", axum::routing::post(preview_smart))
        .route("/admin/llm-gw/route-health", get(route_health))
        .route("/admin/llm-gw/route-health/{provider_id}/reset", axum::routing::post(reset_route_health))
        .route("/admin/smart-models/{id}", get(get_smart).put(update_smart).delete(delete_smart))
        .route("/admin/api-keys", get(list_keys).post(create_key))
        .route("/admin/api-keys/{id}", get(get_key).delete(revoke_key))
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                kind: "invalid_request_error",
                message: "method not allowed on this path".into(),
            }
        })
}

/// A JSON response with the generation header.
pub struct Generational<T>(pub T, pub u64);

impl<T: Serialize> IntoResponse for Generational<T> {
    fn into_response(self) -> Response {
        let mut resp = (StatusCode::OK, axum::Json(self.0)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.1.to_string()) {
            resp.headers_mut().insert(GENERATION_HEADER, v);
        }
        resp
    }
}

/// Already-serialized JSON with the generation header (large listings are written
/// row by row instead of being collected first).
pub struct RawJson(pub Vec<u8>, pub u64);

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        let mut resp = ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.1.to_string()) {
            resp.headers_mut().insert(GENERATION_HEADER, v);
        }
        resp
    }
}

type Result<T> = std::result::Result<Generational<T>, ApiError>;

fn parse_id(raw: &str, what: &str) -> std::result::Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(format!("{what} id {raw:?} is not a UUID")))
}

async fn read<R: Send + 'static>(
    state: &AppState,
    org: Uuid,
    f: impl FnOnce(&dyn Tx) -> std::result::Result<R, ApiError> + Send + 'static,
) -> Result<R> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store::read(store.as_ref(), org, f))
        .await
        .map_err(ApiError::internal)?
        .map(|(r, g)| Generational(r, g))
}

async fn write<R: Send + 'static>(
    state: &AppState,
    org: Uuid,
    f: impl FnOnce(&mut dyn Tx) -> std::result::Result<R, ApiError> + Send + 'static,
) -> Result<R> {
    let store = state.store.clone();
    let out = tokio::task::spawn_blocking(move || store::write(store.as_ref(), org, f))
        .await
        .map_err(ApiError::internal)?
        .map(|(r, g)| Generational(r, g))?;
    state.config_changed(org, out.1);
    Ok(out)
}

// ---------------------------------------------------------------- providers

async fn list_providers(State(s): State<AppState>, claims: axum::Extension<Claims>) -> Result<Vec<api::Provider>> {
    read(&s, claims.org_id, |tx| Ok(tx.providers()?.iter().map(rules::provider_out).collect())).await
}

async fn get_provider(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Provider> {
    let id = parse_id(&id, "provider")?;
    read(&s, claims.org_id, move |tx| {
        tx.provider(id)?
            .map(|p| rules::provider_out(&p))
            .ok_or_else(|| ApiError::not_found(format!("provider {id} not found")))
    })
    .await
}

async fn create_provider(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::ProviderCreate>,
) -> Result<api::Provider> {
    let org = claims.org_id;
    write(&s, org, move |tx| rules::create_provider(tx, org, req)).await
}

async fn update_provider(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<api::ProviderUpdate>,
) -> Result<api::Provider> {
    let id = parse_id(&id, "provider")?;
    write(&s, claims.org_id, move |tx| rules::update_provider(tx, id, req)).await
}

async fn delete_provider(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Deleted> {
    let id = parse_id(&id, "provider")?;
    write(&s, claims.org_id, move |tx| rules::delete_provider(tx, id)).await
}

// ---------------------------------------------------------------- routes

async fn list_routes(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
) -> std::result::Result<RawJson, ApiError> {
    read(&s, claims.org_id, rules::list_routes_json).await.map(|g| RawJson(g.0, g.1))
}

async fn get_route(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Route> {
    let id = parse_id(&id, "model mapping")?;
    read(&s, claims.org_id, move |tx| {
        let r = tx.route(id)?.ok_or_else(|| ApiError::not_found(format!("model mapping {{id: {id}}} not found")))?;
        let name = tx.provider(r.provider_id)?.map(|p| p.name);
        Ok(rules::route_out(&r, name))
    })
    .await
}

async fn create_route(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::RouteCreate>,
) -> Result<api::Route> {
    let org = claims.org_id;
    write(&s, org, move |tx| rules::create_route(tx, org, req)).await
}

async fn update_route(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<api::RouteUpdate>,
) -> Result<api::Route> {
    let id = parse_id(&id, "model mapping")?;
    write(&s, claims.org_id, move |tx| rules::update_route(tx, id, req)).await
}

async fn delete_route(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Deleted> {
    let id = parse_id(&id, "model mapping")?;
    write(&s, claims.org_id, move |tx| rules::delete_route(tx, id)).await
}

async fn reorder(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::Reorder>,
) -> Result<api::Ok> {
    write(&s, claims.org_id, move |tx| rules::reorder(tx, req)).await
}

// ---------------------------------------------------------------- smart models

async fn list_smart(State(s): State<AppState>, claims: axum::Extension<Claims>) -> Result<Vec<api::SmartModel>> {
    read(&s, claims.org_id, |tx| Ok(tx.smart_models()?.iter().map(rules::smart_out).collect())).await
}

async fn get_smart(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::SmartModel> {
    let id = parse_id(&id, "smart model")?;
    read(&s, claims.org_id, move |tx| {
        tx.smart_model(id)?
            .map(|m| rules::smart_out(&m))
            .ok_or_else(|| ApiError::not_found(format!("smart model {id} not found")))
    })
    .await
}

async fn create_smart(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::SmartModelCreate>,
) -> Result<api::SmartModel> {
    let org = claims.org_id;
    write(&s, org, move |tx| rules::create_smart(tx, org, req)).await
}

async fn update_smart(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<api::SmartModelUpdate>,
) -> Result<api::SmartModel> {
    let id = parse_id(&id, "smart model")?;
    write(&s, claims.org_id, move |tx| rules::update_smart(tx, id, req)).await
}

async fn delete_smart(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Deleted> {
    let id = parse_id(&id, "smart model")?;
    write(&s, claims.org_id, move |tx| rules::delete_smart(tx, id)).await
}

// ---------------------------------------------------------------- runtime API keys

async fn list_keys(State(s): State<AppState>, claims: axum::Extension<Claims>) -> Result<Vec<api::ApiKey>> {
    read(&s, claims.org_id, |tx| Ok(tx.api_keys()?.iter().map(keys::key_out).collect())).await
}

async fn get_key(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::ApiKey> {
    let id = parse_id(&id, "api key")?;
    read(&s, claims.org_id, move |tx| {
        tx.api_key(id)?.map(|k| keys::key_out(&k)).ok_or_else(|| ApiError::not_found(format!("api key {id} not found")))
    })
    .await
}

async fn create_key(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::ApiKeyCreate>,
) -> Result<api::ApiKeyCreated> {
    let org = claims.org_id;
    write(&s, org, move |tx| keys::create(tx, org, req)).await
}

async fn revoke_key(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(id): Path<String>,
) -> Result<api::Revoked> {
    let id = parse_id(&id, "api key")?;
    write(&s, claims.org_id, move |tx| keys::revoke(tx, id)).await
}

// ---------------------------------------------------------------- data-plane views

async fn preview_smart(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    JsonBody(req): JsonBody<api::SmartPreview>,
) -> Result<api::SmartPreviewResult> {
    let org = claims.org_id;
    let Generational(row, generation) = {
        let req = req.clone();
        read(&s, org, move |tx| rules::preview_row(tx, org, &req)).await?
    };
    let cfg = s.proxy.snapshots.get(org).await?;
    let supplied = req.token_count.and_then(|t| u64::try_from(t).ok());
    let decision = s.proxy.decide(&cfg, &row, &req.text, supplied).await;
    let target = row.slots.get(decision.slot_index).map(|s| s.0.clone()).unwrap_or_default();
    Ok(Generational(api::SmartPreviewResult { target_model_alias: target, decision }, generation))
}

async fn route_health(State(s): State<AppState>, claims: axum::Extension<Claims>) -> Result<api::RouteHealthList> {
    let cfg = s.proxy.snapshots.get(claims.org_id).await?;
    let now = std::time::Instant::now();
    let routes = cfg
        .route_pairs()
        .into_iter()
        .map(|(p, model, rows)| {
            let v = s.proxy.health.existing(p.id, &model).map(|r| r.view());
            let cap = rows.iter().filter_map(|r| r.max_in_flight).min();
            let v = v.unwrap_or(crate::gateway::proxy::health::HealthView {
                state: "healthy",
                consecutive_failures: 0,
                multiplier: 1,
                eject_remaining_secs: 0,
                in_flight: 0,
                cooldown_reason: None,
                transitions: Vec::new(),
            });
            api::RouteHealth {
                provider_id: p.id,
                provider_name: p.name.clone(),
                model_provider: p.model_provider.clone(),
                upstream_model: model,
                state: v.state.to_owned(),
                cooldown_reason: v.cooldown_reason.map(str::to_owned),
                consecutive_failures: v.consecutive_failures,
                multiplier: f64::from(v.multiplier),
                eject_remaining_secs: v.eject_remaining_secs,
                in_flight: v.in_flight,
                concurrency_cap: cap,
                recent_transitions: v
                    .transitions
                    .iter()
                    .map(|t| api::HealthTransition {
                        from: t.from.to_owned(),
                        to: t.to.to_owned(),
                        reason: t.reason.to_owned(),
                        window_secs: t.window_secs,
                        age_secs: now.duration_since(t.at).as_secs(),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Generational(api::RouteHealthList { routes }, cfg.generation))
}

async fn reset_route_health(
    State(s): State<AppState>,
    claims: axum::Extension<Claims>,
    Path(provider_id): Path<String>,
    JsonBody(req): JsonBody<api::RouteHealthReset>,
) -> Result<api::RouteHealthResetResult> {
    let id = parse_id(&provider_id, "provider")?;
    let cfg = s.proxy.snapshots.get(claims.org_id).await?;
    if cfg.provider(id).is_none() {
        return Err(ApiError::not_found(format!("provider {id} not found")));
    }
    if !cfg.route_pairs().iter().any(|(p, m, _)| p.id == id && *m == req.upstream_model) {
        return Err(ApiError::not_found(format!(
            "provider {id} has no route to upstream model `{}`",
            req.upstream_model
        )));
    }
    let cfg_h = s.proxy.health.config;
    let was_ejected = s.proxy.health.existing(id, &req.upstream_model).is_some_and(|r| r.reset(&cfg_h));
    Ok(Generational(
        api::RouteHealthResetResult {
            provider_id: id,
            upstream_model: req.upstream_model,
            was_ejected,
            shared_state_cleared: false,
        },
        cfg.generation,
    ))
}
