//! The admin API's OpenAPI 3.0 document. Component schemas are generated from the
//! wire types in [`crate::api`] with schemars; the operation table below lists every
//! route the admin router serves. Served at `/api/llm-gateway/openapi.json` and
//! committed as `openapi.json` (a test fails on drift).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::api;

struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: &'static str,
    list: bool,
    path_id: bool,
    errors: &'static [u16],
}

const OPS: &[Op] = &[
    Op {
        method: "post",
        path: "/admin/smart-models/preview",
        id: "previewSmartModel",
        summary: "Dry-run a (possibly unsaved) smart model on sample text: the slot it would pick and why",
        request: Some("SmartPreview"),
        response: "SmartPreviewResult",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 409, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/llm-gw/route-health",
        id: "getRouteHealth",
        summary: "Health, in-flight count and cap of every (provider, upstream model) on this gateway pod",
        request: None,
        response: "RouteHealthList",
        list: false,
        path_id: false,
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/admin/llm-gw/route-health/{provider_id}/reset",
        id: "resetRouteHealth",
        summary: "Force one route back to healthy",
        request: Some("RouteHealthReset"),
        response: "RouteHealthResetResult",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/providers",
        id: "listProviders",
        summary: "List providers",
        request: None,
        response: "Provider",
        list: true,
        path_id: false,
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/admin/providers",
        id: "createProvider",
        summary: "Create a provider (and its 1:1 enablements from `models`)",
        request: Some("ProviderCreate"),
        response: "Provider",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 409, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/providers/{id}",
        id: "getProvider",
        summary: "Get a provider",
        request: None,
        response: "Provider",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
    Op {
        method: "put",
        path: "/admin/providers/{id}",
        id: "updateProvider",
        summary: "Update a provider (partial)",
        request: Some("ProviderUpdate"),
        response: "Provider",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 409, 413, 422],
    },
    Op {
        method: "delete",
        path: "/admin/providers/{id}",
        id: "deleteProvider",
        summary: "Delete a provider (409 while routes use it)",
        request: None,
        response: "Deleted",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 409],
    },
    Op {
        method: "get",
        path: "/admin/model-mappings",
        id: "listRoutes",
        summary: "List model routes with provider_name and budget_status",
        request: None,
        response: "Route",
        list: true,
        path_id: false,
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/admin/model-mappings",
        id: "createRoute",
        summary: "Create a route; a repeated 1:1 enablement folds into the existing row",
        request: Some("RouteCreate"),
        response: "Route",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 404, 409, 413, 422],
    },
    Op {
        method: "put",
        path: "/admin/model-mappings/reorder",
        id: "reorderRoutes",
        summary: "Set priorities atomically (all ids must exist, else nothing changes)",
        request: Some("Reorder"),
        response: "Ok",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 404, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/model-mappings/{id}",
        id: "getRoute",
        summary: "Get a route",
        request: None,
        response: "Route",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
    Op {
        method: "put",
        path: "/admin/model-mappings/{id}",
        id: "updateRoute",
        summary: "Update a route (partial; provider_id immutable)",
        request: Some("RouteUpdate"),
        response: "Route",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 409, 413, 422],
    },
    Op {
        method: "delete",
        path: "/admin/model-mappings/{id}",
        id: "deleteRoute",
        summary: "Delete a route (409 for an enablement with custom aliases)",
        request: None,
        response: "Deleted",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 409],
    },
    Op {
        method: "get",
        path: "/admin/smart-models",
        id: "listSmartModels",
        summary: "List smart models",
        request: None,
        response: "SmartModel",
        list: true,
        path_id: false,
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/admin/smart-models",
        id: "createSmartModel",
        summary: "Create a smart model",
        request: Some("SmartModelCreate"),
        response: "SmartModel",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 409, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/smart-models/{id}",
        id: "getSmartModel",
        summary: "Get a smart model",
        request: None,
        response: "SmartModel",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
    Op {
        method: "put",
        path: "/admin/smart-models/{id}",
        id: "updateSmartModel",
        summary: "Update a smart model (partial; description null clears it)",
        request: Some("SmartModelUpdate"),
        response: "SmartModel",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404, 409, 413, 422],
    },
    Op {
        method: "delete",
        path: "/admin/smart-models/{id}",
        id: "deleteSmartModel",
        summary: "Delete a smart model",
        request: None,
        response: "Deleted",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
    Op {
        method: "get",
        path: "/admin/api-keys",
        id: "listApiKeys",
        summary: "List runtime API keys (never the keys themselves)",
        request: None,
        response: "ApiKey",
        list: true,
        path_id: false,
        errors: &[401, 403],
    },
    Op {
        method: "post",
        path: "/admin/api-keys",
        id: "createApiKey",
        summary: "Create a runtime bd- key; the raw key is in this response only",
        request: Some("ApiKeyCreate"),
        response: "ApiKeyCreated",
        list: false,
        path_id: false,
        errors: &[400, 401, 403, 413, 422],
    },
    Op {
        method: "get",
        path: "/admin/api-keys/{id}",
        id: "getApiKey",
        summary: "Get a runtime API key's metadata",
        request: None,
        response: "ApiKey",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
    Op {
        method: "delete",
        path: "/admin/api-keys/{id}",
        id: "revokeApiKey",
        summary: "Revoke a runtime API key",
        request: None,
        response: "Revoked",
        list: false,
        path_id: true,
        errors: &[400, 401, 403, 404],
    },
];

fn add<T: JsonSchema>(gen_: &mut schemars::SchemaGenerator, name: &str, out: &mut serde_json::Map<String, Value>) {
    let schema = serde_json::to_value(gen_.root_schema_for::<T>()).unwrap_or_default();
    let mut schema = schema;
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    out.insert(name.to_owned(), schema);
}

/// The OpenAPI document.
#[must_use]
pub fn document() -> Value {
    let settings = SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
    });
    let mut g = settings.into_generator();
    let mut schemas = serde_json::Map::new();
    add::<api::Provider>(&mut g, "Provider", &mut schemas);
    add::<api::ProviderCreate>(&mut g, "ProviderCreate", &mut schemas);
    add::<api::ProviderUpdate>(&mut g, "ProviderUpdate", &mut schemas);
    add::<api::Route>(&mut g, "Route", &mut schemas);
    add::<api::RouteCreate>(&mut g, "RouteCreate", &mut schemas);
    add::<api::RouteUpdate>(&mut g, "RouteUpdate", &mut schemas);
    add::<api::Reorder>(&mut g, "Reorder", &mut schemas);
    add::<api::SmartModel>(&mut g, "SmartModel", &mut schemas);
    add::<api::SmartModelCreate>(&mut g, "SmartModelCreate", &mut schemas);
    add::<api::SmartModelUpdate>(&mut g, "SmartModelUpdate", &mut schemas);
    add::<api::Deleted>(&mut g, "Deleted", &mut schemas);
    add::<api::Ok>(&mut g, "Ok", &mut schemas);
    add::<api::ApiKey>(&mut g, "ApiKey", &mut schemas);
    add::<api::ApiKeyCreate>(&mut g, "ApiKeyCreate", &mut schemas);
    add::<api::ApiKeyCreated>(&mut g, "ApiKeyCreated", &mut schemas);
    add::<api::Revoked>(&mut g, "Revoked", &mut schemas);
    add::<api::RouteHealthList>(&mut g, "RouteHealthList", &mut schemas);
    add::<api::RouteHealthReset>(&mut g, "RouteHealthReset", &mut schemas);
    add::<api::RouteHealthResetResult>(&mut g, "RouteHealthResetResult", &mut schemas);
    add::<api::SmartPreview>(&mut g, "SmartPreview", &mut schemas);
    add::<api::SmartPreviewResult>(&mut g, "SmartPreviewResult", &mut schemas);
    add::<api::ErrorEnvelope>(&mut g, "Error", &mut schemas);

    let mut paths = serde_json::Map::new();
    for op in OPS {
        let schema_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        let ok_schema =
            if op.list { json!({"type": "array", "items": schema_ref(op.response)}) } else { schema_ref(op.response) };
        let mut responses = serde_json::Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": "OK",
                "headers": {"x-switchyard-generation": {"description": "The org's config generation after this request.", "schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": ok_schema}}
            }),
        );
        for code in op.errors {
            responses.insert(
                code.to_string(),
                json!({"description": error_text(*code), "content": {"application/json": {"schema": schema_ref("Error")}}}),
            );
        }
        let mut operation = json!({
            "operationId": op.id,
            "summary": op.summary,
            "security": [{"bearerAuth": []}],
            "responses": responses,
        });
        if op.path_id {
            let name = op.path.split('{').nth(1).and_then(|r| r.split('}').next()).unwrap_or("id");
            operation["parameters"] =
                json!([{"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
        }
        if let Some(req) = op.request {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": schema_ref(req)}}});
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "switchyard gateway admin API (Barndoor-compatible)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Configuration API of `switchyard gateway`. Every object is scoped to the org in the caller's JWT."
        },
        "servers": [{"url": "/api/llm-gateway"}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas
        },
        "paths": paths
    })
}

fn error_text(code: u16) -> &'static str {
    match code {
        400 => "Validation failure",
        401 => "Missing, invalid or expired token",
        403 => "Role not allowed",
        404 => "Not found (or another org's object)",
        409 => "Conflict with existing data",
        413 => "Body larger than 1 MiB",
        422 => "Body does not deserialize",
        _ => "Error",
    }
}

/// The committed form (pretty JSON with a trailing newline).
#[must_use]
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}
