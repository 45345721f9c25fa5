//! Admin API rules and bad inputs, each against a real gateway process over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod common;
use common::*;
use serde_json::json;
use uuid::Uuid;

use std::collections::HashSet;

use serde_json::Value;

// ---------------------------------------------------------------- helpers

/// The largest accepted request body (1 MiB).
const MAX_BODY: usize = 1024 * 1024;

/// Every numeric route field with its inclusive range.
const ROUTE_RANGES: [(&str, i64, i64); 6] = [
    ("retry_on_429_count", 0, 10),
    ("retry_on_429_max_wait_secs", 0, 180),
    ("stream_idle_timeout_secs", 1, 1800),
    ("max_in_flight", 1, 10_000),
    ("request_timeout_secs", 1, 3600),
    ("priority", 0, 1_000_000),
];

/// Every numeric provider field with its inclusive range.
const PROVIDER_RANGES: [(&str, i64, i64); 2] =
    [("request_timeout_secs", 1, 3600), ("stream_idle_timeout_secs", 1, 1800)];

/// What a rejected request must leave alone: the org's whole state and its generation.
#[derive(Debug, PartialEq)]
struct State {
    snapshot: Value,
    generation: Option<u64>,
}

async fn state(c: &Client) -> State {
    let generation = c.get("/admin/providers").await.generation;
    State { snapshot: c.snapshot().await, generation }
}

/// The org's current generation as reported by a read.
async fn generation(c: &Client) -> u64 {
    c.get("/admin/providers").await.generation.expect("x-switchyard-generation on a read")
}

/// Asserts the error envelope (status, type, message fragments), that an
/// authenticated rejection reports the unchanged generation, and that nothing changed.
async fn assert_rejected(c: &Client, before: &State, r: &Resp, status: u16, kind: &str, fragments: &[&str]) {
    assert_eq!(r.status, status, "unexpected status; body {}", r.body);
    assert_eq!(r.kind(), kind, "unexpected error type; body {}", r.body);
    let envelope = r.body.as_object().expect("error body is an object");
    assert_eq!(envelope.len(), 1, "the envelope has only `error`: {}", r.body);
    let inner: HashSet<&str> = r.body["error"].as_object().expect("error object").keys().map(String::as_str).collect();
    assert_eq!(inner, HashSet::from(["message", "type"]), "{}", r.body);
    for f in fragments {
        assert!(r.message().contains(f), "message {:?} should contain {f:?}", r.message());
    }
    if status != 401 && status != 403 {
        assert_eq!(r.generation, before.generation, "a rejected request reports the unchanged generation");
    }
    assert_eq!(&state(c).await, before, "a rejected request must change nothing");
}

/// The id of a created object.
fn id_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

async fn routes(c: &Client) -> Vec<Value> {
    let r = c.get("/admin/model-mappings").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().expect("array").clone()
}

/// The route rows whose alias is `alias`.
async fn routes_named(c: &Client, alias: &str) -> Vec<Value> {
    routes(c).await.into_iter().filter(|r| r["model_alias"] == alias).collect()
}

/// A valid two-slot smart model.
fn smart_body(alias: &str) -> Value {
    json!({
        "model_alias": alias,
        "determiner_model_alias": "fast",
        "slots": [{"model_alias": "fast", "label": "simple"}, {"model_alias": "big", "label": "hard"}],
    })
}

/// A one-slot smart model whose slot and determiner names differ from `alias`.
fn smart_min(alias: &str) -> Value {
    json!({"model_alias": alias, "determiner_model_alias": "judge", "slots": [{"model_alias": "worker", "label": "any"}]})
}

/// A three-slot smart model with the given breakpoints.
fn smart_with_breakpoints(alias: &str, breakpoints: Value) -> Value {
    json!({
        "model_alias": alias,
        "determiner_model_alias": "fast",
        "slots": [
            {"model_alias": "fast", "label": "short"},
            {"model_alias": "mid", "label": "medium"},
            {"model_alias": "big", "label": "long"},
        ],
        "context_breakpoints": breakpoints,
    })
}

/// Sends a request with an arbitrary `Authorization` header (or none).
async fn send_authorized(
    c: &Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
    authorization: Option<&str>,
) -> Resp {
    let mut req = c.http.request(method.parse().expect("method"), format!("{}{path}", c.api));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    into_resp(req.send().await.expect("send")).await
}

/// Status and raw body text (for "the secret never appears" checks).
async fn text(c: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let mut req = c.http.request(method.parse().expect("method"), format!("{}{path}", c.api)).bearer_auth(&c.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    (resp.status().as_u16(), resp.text().await.expect("text"))
}

/// A JSON body padded with trailing whitespace (still valid JSON) to exactly `len` bytes.
fn padded(body: &Value, len: usize) -> String {
    let mut s = body.to_string();
    assert!(s.len() <= len);
    s.push_str(&" ".repeat(len - s.len()));
    s
}

/// base64url without padding, for hand-built JWTs.
fn b64url(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn admin_claims(org: Uuid) -> Value {
    json!({"org_id": org, "role": "admin", "exp": now_secs() + 3600})
}

/// A JWT over `claims` signed with `secret` using `alg`.
fn signed(alg: jsonwebtoken::Algorithm, claims: &Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, &key).unwrap()
}

/// One object of each kind, so that every endpoint has something real to act on.
struct Fixture {
    provider: String,
    spare: String,
    route: String,
    smart: String,
}

impl Fixture {
    async fn new(c: &Client) -> Self {
        let provider = c.provider("p", &["m"]).await;
        let spare = c.provider("spare", &[]).await;
        let route = id_of(&c.route(&provider, "fast", "m").await);
        let smart = id_of(&c.post("/admin/smart-models", smart_body("auto")).await);
        Self { provider, spare, route, smart }
    }

    /// Every admin endpoint, in an order in which all of them succeed for an admin.
    fn endpoints(&self) -> Vec<(&'static str, String, Option<Value>)> {
        let Self { provider, spare, route, smart } = self;
        vec![
            ("GET", "/admin/providers".to_owned(), None),
            ("POST", "/admin/providers".to_owned(), Some(json!({"name": "new", "model_provider": "openai"}))),
            ("GET", format!("/admin/providers/{spare}"), None),
            ("PUT", format!("/admin/providers/{spare}"), Some(json!({"enabled": false}))),
            ("DELETE", format!("/admin/providers/{spare}"), None),
            ("GET", "/admin/model-mappings".to_owned(), None),
            (
                "POST",
                "/admin/model-mappings".to_owned(),
                Some(json!({"provider_id": provider, "model_alias": "n", "upstream_model": "n"})),
            ),
            ("GET", format!("/admin/model-mappings/{route}"), None),
            ("PUT", format!("/admin/model-mappings/{route}"), Some(json!({"priority": 9}))),
            (
                "PUT",
                "/admin/model-mappings/reorder".to_owned(),
                Some(json!({"entries": [{"id": route, "priority": 4}]})),
            ),
            ("DELETE", format!("/admin/model-mappings/{route}"), None),
            ("GET", "/admin/smart-models".to_owned(), None),
            ("POST", "/admin/smart-models".to_owned(), Some(smart_body("auto2"))),
            ("GET", format!("/admin/smart-models/{smart}"), None),
            ("PUT", format!("/admin/smart-models/{smart}"), Some(json!({"enabled": false}))),
            ("DELETE", format!("/admin/smart-models/{smart}"), None),
        ]
    }
}

/// Sends every admin endpoint with the `Authorization` header `authorization(org)`
/// and expects each to be refused the same way, with nothing changed.
async fn every_endpoint_refuses(
    authorization: impl Fn(Uuid) -> Option<String>,
    status: u16,
    kind: &str,
    fragment: &str,
) {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let c = Client::new(&g, org, "admin");
    let fixture = Fixture::new(&c).await;
    let before = state(&c).await;
    let auth = authorization(org);
    for (method, path, body) in fixture.endpoints() {
        let r = send_authorized(&c, method, &path, body.as_ref(), auth.as_deref()).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_eq!(r.kind(), kind, "{method} {path}: {}", r.body);
        assert!(r.message().contains(fragment), "{method} {path}: message {:?} lacks {fragment:?}", r.message());
    }
    assert_eq!(state(&c).await, before, "a refused caller must change nothing");
}

// ---------------------------------------------------------------- happy paths

#[tokio::test]
async fn every_admin_endpoint_answers_an_admin_with_200() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let fixture = Fixture::new(&c).await;
    for (method, path, body) in fixture.endpoints() {
        let r = c.send(method, &path, body).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
        assert!(r.generation.is_some(), "{method} {path} lacks the generation header");
    }
}

#[tokio::test]
async fn providers_can_be_created_listed_read_updated_and_deleted() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let (catalog, connection) = (Uuid::new_v4(), Uuid::new_v4());
    let created = c
        .post(
            "/admin/providers",
            json!({
                "name": "anthropic-prod",
                "model_provider": "anthropic",
                "base_url": "https://api.anthropic.com",
                "api_key": "sk-ant",
                "settings": {"region": "eu"},
                "enabled": false,
                "request_timeout_secs": 120,
                "stream_idle_timeout_secs": 30,
                "catalog_id": catalog,
                "connection_id": connection,
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.generation, Some(1));
    let p = &created.body;
    let id = p["id"].as_str().unwrap().to_owned();
    Uuid::parse_str(&id).unwrap();
    assert_eq!(p["org_id"], json!(c.org));
    assert_eq!(p["name"], "anthropic-prod");
    assert_eq!(p["model_provider"], "anthropic");
    assert_eq!(p["auth_type"], "api_key");
    assert_eq!(p["base_url"], "https://api.anthropic.com");
    assert_eq!(p["settings"], json!({"region": "eu"}));
    assert_eq!(p["enabled"], false);
    assert_eq!(p["request_timeout_secs"], 120);
    assert_eq!(p["stream_idle_timeout_secs"], 30);
    assert_eq!(p["catalog_id"], json!(catalog));
    assert_eq!(p["connection_id"], json!(connection));
    assert_eq!(p["has_api_key"], true);
    assert!(p.get("api_key").is_none());
    assert!(!p["created_at"].as_str().unwrap().is_empty());
    assert_eq!(p["created_at"], p["updated_at"]);
    assert!(routes(&c).await.is_empty(), "no models, no routes");

    let list = c.get("/admin/providers").await;
    assert_eq!((list.status, list.generation), (200, Some(1)));
    assert_eq!(list.body, json!([created.body]));
    let got = c.get(&format!("/admin/providers/{id}")).await;
    assert_eq!((got.status, got.generation), (200, Some(1)));
    assert_eq!(got.body, created.body);

    let updated = c
        .put(
            &format!("/admin/providers/{id}"),
            json!({"name": "anthropic-eu", "enabled": true, "request_timeout_secs": null, "settings": {}}),
        )
        .await;
    assert_eq!((updated.status, updated.generation), (200, Some(2)), "{}", updated.body);
    let u = &updated.body;
    assert_eq!(u["id"], id.as_str());
    assert_eq!(u["name"], "anthropic-eu");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["request_timeout_secs"], Value::Null, "null clears");
    assert_eq!(u["stream_idle_timeout_secs"], 30, "omitted keeps");
    assert_eq!(u["base_url"], "https://api.anthropic.com", "omitted keeps");
    assert_eq!(u["settings"], json!({}));
    assert_eq!(u["has_api_key"], true);
    assert_eq!(u["created_at"], p["created_at"]);

    let cleared = c.put(&format!("/admin/providers/{id}"), json!({"base_url": null, "connection_id": null})).await;
    assert_eq!((cleared.status, cleared.generation), (200, Some(3)), "{}", cleared.body);
    assert_eq!(cleared.body["base_url"], Value::Null);
    assert_eq!(cleared.body["connection_id"], Value::Null);
    assert_eq!(cleared.body["catalog_id"], json!(catalog));
    assert_eq!(c.get(&format!("/admin/providers/{id}")).await.body, cleared.body);

    let deleted = c.delete(&format!("/admin/providers/{id}")).await;
    assert_eq!((deleted.status, deleted.generation), (200, Some(4)));
    assert_eq!(deleted.body, json!({"deleted": true}));
    let gone = c.get(&format!("/admin/providers/{id}")).await;
    assert_eq!((gone.status, gone.kind(), gone.generation), (404, "not_found_error", Some(4)));
    assert_eq!(gone.message(), format!("provider {id} not found"));
    assert_eq!(c.get("/admin/providers").await.body, json!([]));
}

#[tokio::test]
async fn every_model_provider_is_accepted_and_auth_type_defaults_follow_the_api_family() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let all = [
        "openai",
        "anthropic",
        "azure_openai",
        "google_ai",
        "bedrock",
        "vertex",
        "groq",
        "together",
        "mistral",
        "cohere",
        "xai",
        "fireworks",
        "perplexity",
        "openrouter",
        "deepseek",
        "custom",
        "azure_foundry",
    ];
    for mp in all {
        let r = c.post("/admin/providers", json!({"name": format!("p-{mp}"), "model_provider": mp})).await;
        assert_eq!(r.status, 200, "{mp}: {}", r.body);
        assert_eq!(r.body["model_provider"], mp);
        let expected = match mp {
            "bedrock" => "aws_role",
            "vertex" => "google_adc",
            _ => "api_key",
        };
        assert_eq!(r.body["auth_type"], expected, "{mp}");
        assert_eq!(r.body["has_api_key"], false, "{mp}");
        assert_eq!(r.body["enabled"], true, "{mp}");
    }
    let explicit =
        c.post("/admin/providers", json!({"name": "b2", "model_provider": "bedrock", "auth_type": "api_key"})).await;
    assert_eq!(explicit.body["auth_type"], "api_key");
    assert_eq!(c.get("/admin/providers").await.body.as_array().unwrap().len(), all.len() + 1);
}

#[tokio::test]
async fn creating_a_provider_with_models_creates_their_one_to_one_rows_in_one_write() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("openai-prod", &["gpt-4o", "gpt-4o-mini"]).await;
    assert_eq!(generation(&c).await, 1, "provider and its models are one write");
    let rows = routes(&c).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mut seen = HashSet::new();
    for row in &rows {
        let model = row["upstream_model"].as_str().unwrap();
        seen.insert(model.to_owned());
        assert_eq!(row["model_alias"], model, "1:1 row");
        assert_eq!(row["provider_id"], pid.as_str());
        assert_eq!(row["org_id"], json!(c.org));
        assert_eq!(row["provider_name"], "openai-prod");
        assert!(row.as_object().unwrap().contains_key("budget_status"));
        assert_eq!(row["budget_status"], Value::Null);
        assert_eq!(row["enabled"], true);
        assert_eq!(row["priority"], 0);
        assert_eq!(row["retry_on_429_count"], 0);
        assert_eq!(row["retry_on_429_max_wait_secs"], 0);
        assert_eq!(row["bare_alias"], false);
        assert_eq!(row["stream_idle_timeout_secs"], Value::Null);
        assert_eq!(row["max_in_flight"], Value::Null);
        assert_eq!(row["request_timeout_secs"], Value::Null);
    }
    assert_eq!(seen, HashSet::from(["gpt-4o".to_owned(), "gpt-4o-mini".to_owned()]));
}

#[tokio::test]
async fn the_api_key_is_never_returned_in_any_response_body() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let secret = "sk-live-DO-NOT-LEAK-4242";
    let (status, body) = text(
        &c,
        "POST",
        "/admin/providers",
        Some(json!({"name": "p", "model_provider": "openai", "api_key": secret, "models": ["m"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(secret), "create leaked the key: {body}");
    assert!(!body.contains("\"api_key\":"), "create has an api_key field: {body}");
    assert!(body.contains("\"has_api_key\":true"), "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();

    for path in [format!("/admin/providers/{id}"), "/admin/providers".to_owned(), "/admin/model-mappings".to_owned()] {
        let (status, body) = text(&c, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(secret), "{path} leaked the key: {body}");
        assert!(!body.contains("\"api_key\":"), "{path}: {body}");
    }

    let rotated = "sk-live-ROTATED-9999";
    let (status, body) = text(&c, "PUT", &format!("/admin/providers/{id}"), Some(json!({"api_key": rotated}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(rotated) && !body.contains(secret), "update leaked a key: {body}");
    assert!(body.contains("\"has_api_key\":true"), "{body}");

    let third = "sk-live-CONFLICT-0000";
    let (status, body) =
        text(&c, "POST", "/admin/providers", Some(json!({"name": "p", "model_provider": "openai", "api_key": third})))
            .await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.contains(third), "an error leaked the key: {body}");
    let snapshot = c.snapshot().await.to_string();
    for k in [secret, rotated, third] {
        assert!(!snapshot.contains(k));
    }
}

#[tokio::test]
async fn model_mappings_can_be_created_read_updated_and_deleted() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let created = c
        .post(
            "/admin/model-mappings",
            json!({
                "provider_id": pid, "model_alias": "fast", "upstream_model": "m", "enabled": false,
                "priority": 3, "retry_on_429_count": 2, "retry_on_429_max_wait_secs": 30, "bare_alias": false,
                "stream_idle_timeout_secs": 60, "max_in_flight": 8, "request_timeout_secs": 90,
            }),
        )
        .await;
    assert_eq!((created.status, created.generation), (200, Some(2)), "{}", created.body);
    let r = &created.body;
    let id = r["id"].as_str().unwrap().to_owned();
    for (field, value) in [
        ("provider_id", json!(pid)),
        ("org_id", json!(c.org)),
        ("model_alias", json!("fast")),
        ("upstream_model", json!("m")),
        ("enabled", json!(false)),
        ("priority", json!(3)),
        ("retry_on_429_count", json!(2)),
        ("retry_on_429_max_wait_secs", json!(30)),
        ("bare_alias", json!(false)),
        ("stream_idle_timeout_secs", json!(60)),
        ("max_in_flight", json!(8)),
        ("request_timeout_secs", json!(90)),
        ("budget_status", Value::Null),
    ] {
        assert_eq!(r[field], value, "{field}");
    }

    let got = c.get(&format!("/admin/model-mappings/{id}")).await;
    assert_eq!((got.status, got.generation), (200, Some(2)));
    for (k, v) in r.as_object().unwrap() {
        assert_eq!(&got.body[k], v, "GET differs from create on {k}");
    }
    let listed = routes_named(&c, "fast").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["provider_name"], "p");
    assert_eq!(listed[0]["budget_status"], Value::Null);

    let updated = c
        .put(&format!("/admin/model-mappings/{id}"), json!({"priority": 5, "max_in_flight": null, "enabled": true}))
        .await;
    assert_eq!((updated.status, updated.generation), (200, Some(3)), "{}", updated.body);
    let u = &updated.body;
    assert_eq!(u["priority"], 5);
    assert_eq!(u["max_in_flight"], Value::Null, "null clears");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["retry_on_429_count"], 2, "omitted keeps");
    assert_eq!(u["request_timeout_secs"], 90, "omitted keeps");
    assert_eq!(u["created_at"], r["created_at"]);

    let renamed = c.put(&format!("/admin/model-mappings/{id}"), json!({"model_alias": "quick"})).await;
    assert_eq!((renamed.status, renamed.generation), (200, Some(4)), "{}", renamed.body);
    assert_eq!(renamed.body["model_alias"], "quick");
    assert!(routes_named(&c, "fast").await.is_empty());

    let deleted = c.delete(&format!("/admin/model-mappings/{id}")).await;
    assert_eq!((deleted.status, deleted.generation), (200, Some(5)));
    assert_eq!(deleted.body, json!({"deleted": true}));
    let gone = c.get(&format!("/admin/model-mappings/{id}")).await;
    assert_eq!((gone.status, gone.kind()), (404, "not_found_error"));
    assert_eq!(gone.message(), format!("model mapping {{id: {id}}} not found"));
    assert_eq!(routes(&c).await.len(), 1, "only the enablement is left");
}

#[tokio::test]
async fn smart_models_can_be_created_read_updated_and_deleted() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["fast", "big"]).await;
    let mut body = smart_body("auto");
    body["description"] = json!("picks by difficulty");
    let created = c.post("/admin/smart-models", body).await;
    assert_eq!((created.status, created.generation), (200, Some(2)), "{}", created.body);
    let s = &created.body;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["org_id"], json!(c.org));
    assert_eq!(s["model_alias"], "auto");
    assert_eq!(s["determiner_model_alias"], "fast");
    assert_eq!(
        s["slots"],
        json!([{"model_alias": "fast", "label": "simple"}, {"model_alias": "big", "label": "hard"}])
    );
    assert_eq!(s["description"], "picks by difficulty");
    assert_eq!(s["enabled"], true, "default");
    assert_eq!(s["context_breakpoints"], json!([]), "default");
    assert_eq!(s["determiner_input_max_chars"], 2000, "default");
    assert_eq!(s["default_slot_on_failure"], 0, "default");

    assert_eq!(c.get("/admin/smart-models").await.body, json!([created.body]));
    let got = c.get(&format!("/admin/smart-models/{id}")).await;
    assert_eq!((got.status, got.generation), (200, Some(2)));
    assert_eq!(got.body, created.body);

    let updated = c
        .put(
            &format!("/admin/smart-models/{id}"),
            json!({"enabled": false, "context_breakpoints": [4000], "default_slot_on_failure": 1, "determiner_input_max_chars": 500}),
        )
        .await;
    assert_eq!((updated.status, updated.generation), (200, Some(3)), "{}", updated.body);
    let u = &updated.body;
    assert_eq!(u["enabled"], false);
    assert_eq!(u["context_breakpoints"], json!([4000]));
    assert_eq!(u["default_slot_on_failure"], 1);
    assert_eq!(u["determiner_input_max_chars"], 500);
    assert_eq!(u["model_alias"], "auto", "omitted keeps");
    assert_eq!(u["slots"], s["slots"], "omitted keeps");
    assert_eq!(u["description"], "picks by difficulty", "omitted keeps");
    assert_eq!(u["created_at"], s["created_at"]);
    assert_eq!(c.get(&format!("/admin/smart-models/{id}")).await.body, updated.body);

    let deleted = c.delete(&format!("/admin/smart-models/{id}")).await;
    assert_eq!((deleted.status, deleted.generation), (200, Some(4)));
    assert_eq!(deleted.body, json!({"deleted": true}));
    let gone = c.get(&format!("/admin/smart-models/{id}")).await;
    assert_eq!((gone.status, gone.kind()), (404, "not_found_error"));
    assert_eq!(gone.message(), format!("smart model {id} not found"));
    assert_eq!(c.get("/admin/smart-models").await.body, json!([]));
}

// ---------------------------------------------------------------- the 1:1 fold

#[tokio::test]
async fn creating_the_same_enablement_twice_returns_the_same_row() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let existing = routes_named(&c, "m").await[0]["id"].clone();
    let first = c.route(&pid, "m", "m").await;
    assert_eq!((first.status, first.generation), (200, Some(2)), "{}", first.body);
    assert_eq!(first.body["id"], existing, "folds into the row the provider created");
    let second = c
        .post(
            "/admin/model-mappings",
            json!({"provider_id": pid, "model_alias": "m", "upstream_model": "m", "enabled": false, "max_in_flight": 4}),
        )
        .await;
    assert_eq!((second.status, second.generation), (200, Some(3)), "{}", second.body);
    assert_eq!(second.body["id"], existing);
    assert_eq!(second.body["enabled"], false);
    assert_eq!(second.body["max_in_flight"], 4);
    let rows = routes_named(&c, "m").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_identical_enablement_creates_fold_into_one_row() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &[]).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (c, pid) = (c.clone(), pid.clone());
        tasks.push(tokio::spawn(async move { c.route(&pid, "gpt-4o", "gpt-4o").await }));
    }
    let mut ids = HashSet::new();
    let mut generations = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        ids.insert(r.body["id"].as_str().unwrap().to_owned());
        generations.push(r.generation.unwrap());
    }
    assert_eq!(ids.len(), 1, "every create answered with the same row: {ids:?}");
    generations.sort_unstable();
    assert_eq!(generations, (2..=17).collect::<Vec<u64>>(), "each fold is one write");
    let rows = routes_named(&c, "gpt-4o").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], ids.into_iter().next().unwrap().as_str());
    assert_eq!(routes(&c).await.len(), 1);
}

// ---------------------------------------------------------------- route rules

#[tokio::test]
async fn a_custom_alias_requires_the_models_enablement_on_that_provider() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["gpt-4o"]).await;
    c.provider("q", &["gpt-4o-mini"]).await;
    let before = state(&c).await;
    let r = c.route(&pid, "fast", "gpt-4o-mini").await;
    assert_rejected(
        &c,
        &before,
        &r,
        400,
        "invalid_request_error",
        &[
            "cannot route `fast` to `gpt-4o-mini` on this provider",
            "not enabled",
            "model_alias = upstream_model = `gpt-4o-mini`",
        ],
    )
    .await;

    let ok = c.route(&pid, "fast", "gpt-4o").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!((ok.body["model_alias"].as_str(), ok.body["upstream_model"].as_str()), (Some("fast"), Some("gpt-4o")));
}

#[tokio::test]
async fn bare_alias_defaults_to_false_for_enablements_and_true_for_custom_aliases() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    assert_eq!(routes_named(&c, "m").await[0]["bare_alias"], false, "enablement from provider create");
    assert_eq!(c.route(&pid, "n", "n").await.body["bare_alias"], false, "enablement");
    assert_eq!(c.route(&pid, "fast", "m").await.body["bare_alias"], true, "custom alias");
    let explicit_off = c
        .post(
            "/admin/model-mappings",
            json!({"provider_id": pid, "model_alias": "slow", "upstream_model": "m", "bare_alias": false}),
        )
        .await;
    assert_eq!(explicit_off.body["bare_alias"], false);
    let explicit_on = c
        .post(
            "/admin/model-mappings",
            json!({"provider_id": pid, "model_alias": "o", "upstream_model": "o", "bare_alias": true}),
        )
        .await;
    assert_eq!(explicit_on.body["bare_alias"], true);
    for (alias, bare) in [("m", false), ("n", false), ("fast", true), ("slow", false), ("o", true)] {
        assert_eq!(routes_named(&c, alias).await[0]["bare_alias"], bare, "{alias} as listed");
    }
}

#[tokio::test]
async fn a_route_on_an_unknown_provider_is_a_404() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["m"]).await;
    let missing = Uuid::new_v4();
    let before = state(&c).await;
    let r = c.route(&missing.to_string(), "m", "m").await;
    assert_rejected(&c, &before, &r, 404, "not_found_error", &[&format!("provider {missing} not found")]).await;
}

#[tokio::test]
async fn a_custom_alias_with_a_slash_or_a_duplicate_on_the_same_model_is_rejected() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let fast = id_of(&c.route(&pid, "fast", "m").await);
    let before = state(&c).await;
    let r = c.route(&pid, "team/fast", "m").await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["custom alias must not contain '/'"]).await;
    let r = c.route(&pid, "fast", "m").await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["alias `fast` already routes to `m`", &fast]).await;
    // A slash is fine in an enablement (1:1) name.
    assert_eq!(c.route(&pid, "meta/llama", "meta/llama").await.status, 200);
}

#[tokio::test]
async fn a_route_alias_that_is_a_smart_models_alias_is_a_conflict() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    assert_eq!(c.post("/admin/smart-models", smart_body("auto")).await.status, 200);
    let before = state(&c).await;
    let r = c.route(&pid, "auto", "m").await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["`auto` is already a smart model's alias"]).await;
}

#[tokio::test]
async fn deleting_an_enablement_that_custom_aliases_use_is_refused_naming_them() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let enablement = routes_named(&c, "m").await[0]["id"].as_str().unwrap().to_owned();
    let fast = id_of(&c.route(&pid, "fast", "m").await);
    let quick = id_of(&c.route(&pid, "quick", "m").await);

    let before = state(&c).await;
    let r = c.delete(&format!("/admin/model-mappings/{enablement}")).await;
    assert_rejected(
        &c,
        &before,
        &r,
        409,
        "conflict_error",
        &["enablement `m` is used by custom alias(es)", "`fast`", "`quick`", "delete them first"],
    )
    .await;
    // Renaming it away would orphan them too.
    let r = c
        .put(&format!("/admin/model-mappings/{enablement}"), json!({"model_alias": "m2", "upstream_model": "m2"}))
        .await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["would orphan", "`fast`", "`quick`"]).await;

    for id in [&fast, &quick, &enablement] {
        let r = c.delete(&format!("/admin/model-mappings/{id}")).await;
        assert_eq!((r.status, &r.body), (200, &json!({"deleted": true})));
    }
    assert!(routes(&c).await.is_empty());
}

#[tokio::test]
async fn deleting_a_provider_in_use_is_refused_until_its_routes_are_gone() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("openai-prod", &["a", "b"]).await;
    let before = state(&c).await;
    let r = c.delete(&format!("/admin/providers/{pid}")).await;
    assert_rejected(
        &c,
        &before,
        &r,
        409,
        "conflict_error",
        &["provider `openai-prod` is in use by 2 route(s)", "`a`", "`b`", "delete them first"],
    )
    .await;
    for row in routes(&c).await {
        assert_eq!(c.delete(&format!("/admin/model-mappings/{}", row["id"].as_str().unwrap())).await.status, 200);
    }
    let r = c.delete(&format!("/admin/providers/{pid}")).await;
    assert_eq!((r.status, &r.body), (200, &json!({"deleted": true})));
    assert_eq!(c.get("/admin/providers").await.body, json!([]));
}

#[tokio::test]
async fn a_routes_provider_id_cannot_be_changed() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let p1 = c.provider("p1", &["m"]).await;
    let p2 = c.provider("p2", &["m"]).await;
    let row = routes(&c).await.into_iter().find(|r| r["provider_id"] == p1.as_str()).unwrap();
    let id = row["id"].as_str().unwrap();
    let before = state(&c).await;
    let r = c.put(&format!("/admin/model-mappings/{id}"), json!({"provider_id": p2, "priority": 7})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["provider_id is immutable"]).await;

    let same = c.put(&format!("/admin/model-mappings/{id}"), json!({"provider_id": p1, "priority": 7})).await;
    assert_eq!(same.status, 200, "restating the same provider is allowed: {}", same.body);
    assert_eq!(same.body["provider_id"], p1.as_str());
    assert_eq!(same.body["priority"], 7);
}

// ---------------------------------------------------------------- reorder

/// A provider with enablements `a`, `b`, `c`; returns their ids in that order.
async fn three_routes(c: &Client) -> [String; 3] {
    c.provider("p", &["a", "b", "c"]).await;
    let id = |rows: &[Value], alias: &str| {
        rows.iter().find(|r| r["model_alias"] == alias).unwrap()["id"].as_str().unwrap().to_owned()
    };
    let rows = routes(c).await;
    [id(&rows, "a"), id(&rows, "b"), id(&rows, "c")]
}

async fn priority_of(c: &Client, id: &str) -> Value {
    c.get(&format!("/admin/model-mappings/{id}")).await.body["priority"].clone()
}

#[tokio::test]
async fn reorder_sets_exactly_the_given_priorities() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let [a, b, rest] = three_routes(&c).await;
    let r = c
        .put(
            "/admin/model-mappings/reorder",
            json!({"entries": [{"id": a, "priority": 30}, {"id": b, "priority": 10}]}),
        )
        .await;
    assert_eq!((r.status, r.generation), (200, Some(2)), "{}", r.body);
    assert_eq!(r.body, json!({"ok": true}));
    assert_eq!(priority_of(&c, &a).await, 30);
    assert_eq!(priority_of(&c, &b).await, 10);
    assert_eq!(priority_of(&c, &rest).await, 0, "not listed, not touched");
}

#[tokio::test]
async fn reorder_with_one_unknown_id_is_a_404_and_reorders_nothing() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let [a, b, _] = three_routes(&c).await;
    let missing = Uuid::new_v4();
    let before = state(&c).await;
    let r = c
        .put(
            "/admin/model-mappings/reorder",
            json!({"entries": [{"id": a, "priority": 5}, {"id": missing, "priority": 6}, {"id": b, "priority": 7}]}),
        )
        .await;
    assert_rejected(&c, &before, &r, 404, "not_found_error", &[&missing.to_string(), "nothing was reordered"]).await;
    assert!(!r.message().contains(&a) && !r.message().contains(&b), "only the unknown id is named: {}", r.message());
    assert_eq!(priority_of(&c, &a).await, 0);
    assert_eq!(priority_of(&c, &b).await, 0);
}

#[tokio::test]
async fn reorder_with_a_duplicate_id_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let [a, b, _] = three_routes(&c).await;
    let before = state(&c).await;
    let r = c
        .put(
            "/admin/model-mappings/reorder",
            json!({"entries": [{"id": a, "priority": 1}, {"id": b, "priority": 2}, {"id": a, "priority": 3}]}),
        )
        .await;
    assert_rejected(
        &c,
        &before,
        &r,
        400,
        "invalid_request_error",
        &[&format!("entries lists route {a} more than once")],
    )
    .await;
}

#[tokio::test]
async fn reorder_with_no_entries_or_a_priority_out_of_range_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let [a, _, _] = three_routes(&c).await;
    let before = state(&c).await;
    let r = c.put("/admin/model-mappings/reorder", json!({"entries": []})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["entries must not be empty"]).await;
    for p in [-1, 1_000_001] {
        let r = c.put("/admin/model-mappings/reorder", json!({"entries": [{"id": a, "priority": p}]})).await;
        let msg = format!("priority must be between 0 and 1000000 (got {p})");
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
    }
}

// ---------------------------------------------------------------- smart-model rules

#[tokio::test]
async fn smart_model_updates_are_partial_and_a_null_description_clears_it() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let mut body = smart_body("auto");
    body["description"] = json!("first");
    let id = id_of(&c.post("/admin/smart-models", body).await);
    let path = format!("/admin/smart-models/{id}");

    let r = c.put(&path, json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["description"], "first", "omitted description keeps it");
    assert_eq!(r.body["enabled"], false);

    let r = c.put(&path, json!({"description": null})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.as_object().unwrap().contains_key("description"));
    assert_eq!(r.body["description"], Value::Null, "null clears");
    assert_eq!(r.body["enabled"], false, "omitted keeps");
    assert_eq!(c.get(&path).await.body["description"], Value::Null);

    let r = c.put(&path, json!({"description": "second"})).await;
    assert_eq!(r.body["description"], "second");
    let r = c.put(&path, json!({"slots": [{"model_alias": "big", "label": "only"}]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["slots"], json!([{"model_alias": "big", "label": "only"}]));
    assert_eq!(r.body["description"], "second", "omitted keeps");
    assert_eq!(c.get(&path).await.body, r.body);
}

#[tokio::test]
async fn a_smart_model_with_no_slots_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let id = id_of(&c.post("/admin/smart-models", smart_body("auto")).await);
    let before = state(&c).await;
    let mut body = smart_body("empty");
    body["slots"] = json!([]);
    let r = c.post("/admin/smart-models", body).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["slots must have at least 1 entry"]).await;
    let r = c.put(&format!("/admin/smart-models/{id}"), json!({"slots": []})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["slots must have at least 1 entry"]).await;
}

#[tokio::test]
async fn a_default_slot_outside_the_slots_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let mut last = smart_body("last");
    last["default_slot_on_failure"] = json!(1);
    let id = id_of(&c.post("/admin/smart-models", last).await);
    let before = state(&c).await;
    for bad in [2, -1] {
        let mut body = smart_body("auto");
        body["default_slot_on_failure"] = json!(bad);
        let r = c.post("/admin/smart-models", body).await;
        let msg = format!("default_slot_on_failure must be between 0 and 1 (got {bad})");
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
    }
    // Shrinking the slots under the stored default is caught on update too.
    let r =
        c.put(&format!("/admin/smart-models/{id}"), json!({"slots": [{"model_alias": "fast", "label": "x"}]})).await;
    assert_rejected(
        &c,
        &before,
        &r,
        400,
        "invalid_request_error",
        &["default_slot_on_failure must be between 0 and 0 (got 1)"],
    )
    .await;
}

#[tokio::test]
async fn context_breakpoints_must_be_positive_strictly_ascending_and_fewer_than_the_slots() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let before = state(&c).await;
    let cases = [
        (json!([2000, 1000]), "context_breakpoints[1]: breakpoints must be strictly ascending (1000 follows 2000)"),
        (json!([1000, 1000]), "context_breakpoints[1]: breakpoints must be strictly ascending (1000 follows 1000)"),
        (json!([0]), "context_breakpoints[0]: breakpoint must be a positive token count (got 0)"),
        (json!([-5, 10]), "context_breakpoints[0]: breakpoint must be a positive token count (got -5)"),
        (json!([10, 20, 30]), "context_breakpoints: has 3 breakpoints but 3 slot(s) allow at most 2"),
    ];
    for (breakpoints, msg) in cases {
        let r = c.post("/admin/smart-models", smart_with_breakpoints("auto", breakpoints.clone())).await;
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[msg]).await;
        assert_eq!(r.message(), msg, "for {breakpoints}");
    }
    let ok = c.post("/admin/smart-models", smart_with_breakpoints("auto", json!([1000, 2000]))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["context_breakpoints"], json!([1000, 2000]));
}

#[tokio::test]
async fn a_smart_model_alias_that_is_a_route_alias_is_a_409() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    assert_eq!(c.route(&pid, "fast", "m").await.status, 200);
    let id = id_of(&c.post("/admin/smart-models", smart_min("auto")).await);
    let before = state(&c).await;
    for alias in ["fast", "m", "FAST"] {
        let r = c.post("/admin/smart-models", smart_min(alias)).await;
        assert_rejected(&c, &before, &r, 409, "conflict_error", &[&format!("`{alias}` is already a route alias")])
            .await;
    }
    let r = c.put(&format!("/admin/smart-models/{id}"), json!({"model_alias": "fast"})).await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["`fast` is already a route alias"]).await;
    let r = c.post("/admin/smart-models", smart_min("auto")).await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["a smart model with alias `auto` already exists"]).await;
}

#[tokio::test]
async fn a_smart_model_alias_with_a_slash_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let id = id_of(&c.post("/admin/smart-models", smart_body("auto")).await);
    let before = state(&c).await;
    let r = c.post("/admin/smart-models", smart_body("team/auto")).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["model_alias must not contain '/'"]).await;
    let r = c.put(&format!("/admin/smart-models/{id}"), json!({"model_alias": "team/auto"})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["model_alias must not contain '/'"]).await;
}

#[tokio::test]
async fn determiner_input_max_chars_accepts_both_edges_and_rejects_one_past_each() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    for v in [1, 100_000] {
        let mut body = smart_body(&format!("s{v}"));
        body["determiner_input_max_chars"] = json!(v);
        let r = c.post("/admin/smart-models", body).await;
        assert_eq!(r.status, 200, "{v}: {}", r.body);
        assert_eq!(r.body["determiner_input_max_chars"], v);
    }
    let id = id_of(&c.post("/admin/smart-models", smart_body("auto")).await);
    let before = state(&c).await;
    for v in [0, 100_001] {
        let msg = format!("determiner_input_max_chars must be between 1 and 100000 (got {v})");
        let mut body = smart_body("bad");
        body["determiner_input_max_chars"] = json!(v);
        let r = c.post("/admin/smart-models", body).await;
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
        let r = c.put(&format!("/admin/smart-models/{id}"), json!({"determiner_input_max_chars": v})).await;
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
    }
}

// ---------------------------------------------------------------- provider rules

#[tokio::test]
async fn a_duplicate_provider_name_is_a_409_on_create_and_on_rename() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &[]).await;
    let q = c.provider("q", &[]).await;
    let before = state(&c).await;
    let r = c.post("/admin/providers", json!({"name": "p", "model_provider": "anthropic", "models": ["x"]})).await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["a provider named `p` already exists"]).await;
    let r = c.put(&format!("/admin/providers/{q}"), json!({"name": "p"})).await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["a provider named `p` already exists"]).await;
}

#[tokio::test]
async fn bad_provider_fields_are_400s() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &[]).await;
    let before = state(&c).await;
    let cases = [
        (json!({"name": "a/b", "model_provider": "openai"}), "name must not contain '/'"),
        (json!({"name": "", "model_provider": "openai"}), "name must not be empty"),
        (json!({"name": "has space", "model_provider": "openai"}), "whitespace and control characters are not allowed"),
        (
            json!({"name": "x", "model_provider": "openai", "base_url": "ftp://h"}),
            "base_url: \"ftp://h\" is not an http",
        ),
        (json!({"name": "x", "model_provider": "openai", "models": ["m", "m"]}), "models lists `m` twice"),
        (json!({"name": "x", "model_provider": "openai", "models": ["ok", "bad model"]}), "models[]"),
    ];
    for (body, fragment) in cases {
        let r = c.post("/admin/providers", body).await;
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[fragment]).await;
    }
    let r = c.put(&format!("/admin/providers/{pid}"), json!({"base_url": "https://bad host"})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["base_url:"]).await;
}

#[tokio::test]
async fn a_provider_create_that_fails_on_one_of_its_models_creates_nothing() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    assert_eq!(c.post("/admin/smart-models", smart_body("auto")).await.status, 200);
    let before = state(&c).await;
    let r = c.post("/admin/providers", json!({"name": "p", "model_provider": "openai", "models": ["a", "auto"]})).await;
    assert_rejected(&c, &before, &r, 409, "conflict_error", &["`auto` is already a smart model's alias"]).await;
    assert_eq!(c.get("/admin/providers").await.body, json!([]));
    assert!(routes(&c).await.is_empty(), "the `a` enablement was rolled back");
}

#[tokio::test]
async fn provider_timeouts_accept_both_edges_and_reject_one_past_each() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    for (field, min, max) in PROVIDER_RANGES {
        for v in [min, max] {
            let r = c
                .post("/admin/providers", json!({"name": format!("{field}-{v}"), "model_provider": "openai", field: v}))
                .await;
            assert_eq!(r.status, 200, "{field}={v}: {}", r.body);
            assert_eq!(r.body[field], v);
            let id = r.body["id"].as_str().unwrap();
            let u = c.put(&format!("/admin/providers/{id}"), json!({field: v})).await;
            assert_eq!(u.status, 200, "{field}={v} on update: {}", u.body);
        }
    }
    let pid = c.provider("target", &[]).await;
    let before = state(&c).await;
    for (field, min, max) in PROVIDER_RANGES {
        for v in [min - 1, max + 1] {
            let msg = format!("{field} must be between {min} and {max} (got {v})");
            let r = c.post("/admin/providers", json!({"name": "bad", "model_provider": "openai", field: v})).await;
            assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
            assert_eq!(r.message(), msg);
            let r = c.put(&format!("/admin/providers/{pid}"), json!({field: v})).await;
            assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
            assert_eq!(r.message(), msg);
        }
    }
}

// ---------------------------------------------------------------- route ranges

#[tokio::test]
async fn both_edges_of_every_route_range_are_accepted_on_create() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    for (field, min, max) in ROUTE_RANGES {
        for v in [min, max] {
            let model = format!("{field}-{v}");
            let mut body = json!({"provider_id": pid, "model_alias": model, "upstream_model": model});
            body[field] = json!(v);
            let r = c.post("/admin/model-mappings", body).await;
            assert_eq!(r.status, 200, "{field}={v}: {}", r.body);
            assert_eq!(r.body[field], v, "{field}");
            // And on a custom alias.
            let mut body = json!({"provider_id": pid, "model_alias": format!("alias-{model}"), "upstream_model": "m"});
            body[field] = json!(v);
            let r = c.post("/admin/model-mappings", body).await;
            assert_eq!(r.status, 200, "alias {field}={v}: {}", r.body);
            assert_eq!(r.body[field], v, "{field}");
        }
    }
    assert_eq!(routes(&c).await.len(), 1 + 2 * 2 * ROUTE_RANGES.len());
}

#[tokio::test]
async fn one_past_either_edge_of_every_route_range_is_rejected_naming_field_and_range() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let before = state(&c).await;
    for (field, min, max) in ROUTE_RANGES {
        for v in [min - 1, max + 1] {
            let msg = format!("{field} must be between {min} and {max} (got {v})");
            for (alias, upstream) in [("n", "n"), ("m", "m"), ("fast", "m")] {
                let mut body = json!({"provider_id": pid, "model_alias": alias, "upstream_model": upstream});
                body[field] = json!(v);
                let r = c.post("/admin/model-mappings", body).await;
                assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
                assert_eq!(r.message(), msg, "{alias}->{upstream}");
            }
        }
    }
}

#[tokio::test]
async fn route_updates_accept_both_edges_and_reject_one_past_each() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["m"]).await;
    let id = routes_named(&c, "m").await[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/model-mappings/{id}");
    for (field, min, max) in ROUTE_RANGES {
        for v in [min, max] {
            let r = c.put(&path, json!({field: v})).await;
            assert_eq!(r.status, 200, "{field}={v}: {}", r.body);
            assert_eq!(r.body[field], v);
        }
    }
    let before = state(&c).await;
    for (field, min, max) in ROUTE_RANGES {
        for v in [min - 1, max + 1] {
            let msg = format!("{field} must be between {min} and {max} (got {v})");
            let r = c.put(&path, json!({field: v})).await;
            assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
            assert_eq!(r.message(), msg);
        }
    }
}

// ---------------------------------------------------------------- bad bodies and paths

#[tokio::test]
async fn malformed_json_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let before = state(&c).await;
    for (method, path) in [
        ("POST", "/admin/providers".to_owned()),
        ("PUT", format!("/admin/providers/{pid}")),
        ("POST", "/admin/model-mappings".to_owned()),
        ("PUT", "/admin/model-mappings/reorder".to_owned()),
        ("POST", "/admin/smart-models".to_owned()),
    ] {
        for body in [r#"{"name": "x", "model_provider": "openai""#, "{name: x}", "", "nul"] {
            let r = c.raw(method, &path, Some(body.to_owned()), Some(&c.token)).await;
            assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["malformed JSON body"]).await;
        }
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_or_has_the_wrong_types_is_a_422() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let before = state(&c).await;
    for body in ["[]", "\"p\"", "42", "null"] {
        let r = c.raw("POST", "/admin/providers", Some(body.to_owned()), Some(&c.token)).await;
        assert_rejected(&c, &before, &r, 422, "invalid_request_error", &["request body must be a JSON object"]).await;
    }
    let route = |extra: Value| {
        let mut b = json!({"provider_id": pid, "model_alias": "n", "upstream_model": "n"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        ("/admin/providers", json!({"name": 5, "model_provider": "openai"}), "invalid type"),
        ("/admin/providers", json!({"name": "x", "model_provider": "acme"}), "unknown variant `acme`"),
        ("/admin/providers", json!({"name": "x", "model_provider": "openai", "enabled": "yes"}), "invalid type"),
        ("/admin/providers", json!({"name": "x", "model_provider": "openai", "models": "m"}), "invalid type"),
        ("/admin/providers", json!({"name": "x", "model_provider": "openai", "settings": [1]}), "invalid type"),
        ("/admin/model-mappings", route(json!({"priority": "high"})), "invalid type"),
        ("/admin/model-mappings", route(json!({"provider_id": "not-a-uuid"})), "UUID"),
        ("/admin/model-mappings", route(json!({"max_in_flight": 1.5})), "invalid type"),
        ("/admin/model-mappings", route(json!({"max_in_flight": 18_446_744_073_709_551_615_u64})), "i64"),
        (
            "/admin/smart-models",
            json!({"model_alias": "a", "determiner_model_alias": "b", "slots": "c"}),
            "invalid type",
        ),
    ];
    for (path, body, fragment) in cases {
        let r = c.post(path, body.clone()).await;
        assert_rejected(
            &c,
            &before,
            &r,
            422,
            "invalid_request_error",
            &["request body does not match the expected shape", fragment],
        )
        .await;
    }
}

#[tokio::test]
async fn a_missing_required_field_is_a_422_naming_it() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let before = state(&c).await;
    let cases = [
        ("POST", "/admin/providers", json!({"name": "x"}), "missing field `model_provider`"),
        ("POST", "/admin/providers", json!({"model_provider": "openai"}), "missing field `name`"),
        (
            "POST",
            "/admin/model-mappings",
            json!({"provider_id": pid, "model_alias": "n"}),
            "missing field `upstream_model`",
        ),
        (
            "POST",
            "/admin/model-mappings",
            json!({"model_alias": "n", "upstream_model": "n"}),
            "missing field `provider_id`",
        ),
        (
            "POST",
            "/admin/smart-models",
            json!({"model_alias": "a", "determiner_model_alias": "b"}),
            "missing field `slots`",
        ),
        ("PUT", "/admin/model-mappings/reorder", json!({}), "missing field `entries`"),
        ("PUT", "/admin/model-mappings/reorder", json!({"entries": [{"id": pid}]}), "missing field `priority`"),
    ];
    for (method, path, body, fragment) in cases {
        let r = c.send(method, path, Some(body)).await;
        assert_rejected(&c, &before, &r, 422, "invalid_request_error", &[fragment]).await;
    }
}

#[tokio::test]
async fn unknown_fields_are_a_400_naming_every_one_of_them() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let rid = routes_named(&c, "m").await[0]["id"].as_str().unwrap().to_owned();
    let sid = id_of(&c.post("/admin/smart-models", smart_body("auto")).await);
    let before = state(&c).await;

    let r = c
        .post("/admin/providers", json!({"name": "x", "model_provider": "openai", "colour": "red", "flavour": 1}))
        .await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["unknown fields", "`colour`", "`flavour`"]).await;
    assert!(r.message().contains("expected one of") && r.message().contains("`model_provider`"), "{}", r.message());

    // Unknown fields win over a missing required one.
    let r = c.post("/admin/providers", json!({"nmae": "x", "model_provider": "openai"})).await;
    assert_rejected(&c, &before, &r, 400, "invalid_request_error", &["unknown field `nmae`"]).await;

    let cases = [
        ("PUT", format!("/admin/providers/{pid}"), json!({"api_keys": "k"}), vec!["unknown field `api_keys`"]),
        (
            "POST",
            "/admin/model-mappings".to_owned(),
            json!({"provider_id": pid, "model_alias": "n", "upstream_model": "n", "weight": 1, "alias": "z"}),
            vec!["unknown fields", "`weight`", "`alias`"],
        ),
        ("PUT", format!("/admin/model-mappings/{rid}"), json!({"provider": "p"}), vec!["unknown field `provider`"]),
        (
            "PUT",
            "/admin/model-mappings/reorder".to_owned(),
            json!({"entries": [{"id": rid, "priority": 1, "why": "x"}]}),
            vec!["unknown field `why`"],
        ),
        (
            "POST",
            "/admin/smart-models".to_owned(),
            json!({"model_alias": "s", "determiner_model_alias": "d", "slots": [{"model_alias": "a", "label": "l", "weight": 2}]}),
            vec!["unknown field `weight`"],
        ),
        ("PUT", format!("/admin/smart-models/{sid}"), json!({"slot": [], "desc": "x"}), vec!["`slot`", "`desc`"]),
    ];
    for (method, path, body, fragments) in cases {
        let r = c.send(method, &path, Some(body)).await;
        assert_rejected(&c, &before, &r, 400, "invalid_request_error", &fragments).await;
    }
}

/// How `send_over_socket` frames the body.
#[derive(Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Sends one request over a raw socket, writing the body while reading the answer.
///
/// An oversized body is answered before it has been read, and the gateway then closes
/// the connection; a client that insists on finishing its upload first (reqwest does)
/// then sometimes fails with a broken pipe instead of seeing the 413. Reading
/// concurrently and ignoring write errors gets the answer the gateway actually sent.
async fn send_over_socket(c: &Client, method: &str, path: &str, body: String, framing: Framing) -> Resp {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = c.api.strip_prefix("http://").unwrap();
    let (addr, prefix) = rest.split_at(rest.find('/').unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let framing_header = match framing {
        Framing::ContentLength => format!("content-length: {}", body.len()),
        Framing::Chunked => "transfer-encoding: chunked".to_owned(),
    };
    let head = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n{framing_header}\r\nconnection: close\r\n\r\n",
        c.token
    );
    let mut wire = head.into_bytes();
    match framing {
        Framing::ContentLength => wire.extend_from_slice(body.as_bytes()),
        Framing::Chunked => {
            for chunk in body.as_bytes().chunks(64 * 1024) {
                wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        }
    }
    // The task hands the write half back instead of dropping it: dropping it would
    // half-close the socket, which the server takes as the client going away.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&wire).await;
        wr
    });
    let mut raw = Vec::new();
    // A reset after the answer (the server closing with our excess body unread) is
    // fine: what was read before it is the answer.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), rd.read_to_end(&mut raw))
        .await
        .expect("the gateway answers and closes");
    writer.abort();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no full HTTP response: {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let generation = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-switchyard-generation:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse().ok());
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    Resp { status, generation, body }
}

#[tokio::test]
async fn a_two_mebibyte_body_is_a_413() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = c.provider("p", &["m"]).await;
    let before = state(&c).await;
    // Valid JSON apart from its size: only the size can be the reason.
    for (method, path, body) in [
        ("POST", "/admin/providers".to_owned(), json!({"name": "big", "model_provider": "openai"})),
        ("PUT", format!("/admin/providers/{pid}"), json!({"enabled": false})),
        ("POST", "/admin/smart-models".to_owned(), smart_body("auto")),
        ("PUT", "/admin/model-mappings/reorder".to_owned(), json!({"entries": []})),
    ] {
        let r = send_over_socket(&c, method, &path, padded(&body, 2 * MAX_BODY), Framing::ContentLength).await;
        assert_rejected(&c, &before, &r, 413, "invalid_request_error", &["request body is larger than 1048576 bytes"])
            .await;
    }
}

#[tokio::test]
async fn a_chunked_body_over_one_mebibyte_is_a_413_too() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &[]).await;
    let before = state(&c).await;
    let body = json!({"name": "big", "model_provider": "openai"});
    let r = send_over_socket(&c, "POST", "/admin/providers", padded(&body, 2 * MAX_BODY), Framing::Chunked).await;
    assert_rejected(&c, &before, &r, 413, "invalid_request_error", &["request body is larger than 1048576 bytes"])
        .await;
    let small = send_over_socket(&c, "POST", "/admin/providers", padded(&body, 4096), Framing::Chunked).await;
    assert_eq!(small.status, 200, "a small chunked body is fine: {}", small.body);
    assert_eq!(small.body["name"], "big");
}

#[tokio::test]
async fn a_body_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_not() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let before = state(&c).await;
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let body = padded(&json!({"name": "over", "model_provider": "openai"}), MAX_BODY + 1);
        let over = send_over_socket(&c, "POST", "/admin/providers", body, framing).await;
        assert_rejected(&c, &before, &over, 413, "invalid_request_error", &["larger than 1048576 bytes"]).await;
    }
    let exact = c
        .raw(
            "POST",
            "/admin/providers",
            Some(padded(&json!({"name": "exact", "model_provider": "openai"}), MAX_BODY)),
            Some(&c.token),
        )
        .await;
    assert_eq!(exact.status, 200, "{}", exact.body);
    assert_eq!(exact.body["name"], "exact");
    let body = padded(&json!({"name": "exact-chunked", "model_provider": "openai"}), MAX_BODY);
    let chunked = send_over_socket(&c, "POST", "/admin/providers", body, Framing::Chunked).await;
    assert_eq!(chunked.status, 200, "{}", chunked.body);
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_a_400() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["m"]).await;
    c.post("/admin/smart-models", smart_body("auto")).await;
    let before = state(&c).await;
    for (collection, what, put_body) in [
        ("providers", "provider", json!({"enabled": false})),
        ("model-mappings", "model mapping", json!({"priority": 1})),
        ("smart-models", "smart model", json!({"enabled": false})),
    ] {
        for raw_id in ["nope", "123", "00000000-0000-0000-0000-00000000000g"] {
            let path = format!("/admin/{collection}/{raw_id}");
            let msg = format!("{what} id \"{raw_id}\" is not a UUID");
            for (method, body) in [("GET", None), ("PUT", Some(put_body.clone())), ("DELETE", None)] {
                let r = c.send(method, &path, body).await;
                assert_rejected(&c, &before, &r, 400, "invalid_request_error", &[&msg]).await;
                assert_eq!(r.message(), msg, "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn unknown_uuids_are_404s_for_every_kind_and_method() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    c.provider("p", &["m"]).await;
    let before = state(&c).await;
    let id = Uuid::new_v4();
    for (collection, msg, put_body) in [
        ("providers", format!("provider {id} not found"), json!({"enabled": false})),
        ("model-mappings", format!("model mapping {{id: {id}}} not found"), json!({"priority": 1})),
        ("smart-models", format!("smart model {id} not found"), json!({"enabled": false})),
    ] {
        let path = format!("/admin/{collection}/{id}");
        for (method, body) in [("GET", None), ("PUT", Some(put_body.clone())), ("DELETE", None)] {
            let r = c.send(method, &path, body).await;
            assert_rejected(&c, &before, &r, 404, "not_found_error", &[&msg]).await;
            assert_eq!(r.message(), msg, "{method} {path}");
        }
    }
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn a_request_without_a_token_is_a_401_on_every_endpoint() {
    every_endpoint_refuses(|_| None, 401, "authentication_error", "missing Authorization: Bearer <JWT> header").await;
}

#[tokio::test]
async fn a_non_bearer_authorization_header_is_a_401() {
    every_endpoint_refuses(
        |_| Some("Basic YWRtaW46YWRtaW4=".to_owned()),
        401,
        "authentication_error",
        "Authorization header must be `Bearer <JWT>`",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_a_401_on_every_endpoint() {
    every_endpoint_refuses(
        |org| Some(format!("Bearer {}", token_ttl(org, "admin", -120))),
        401,
        "authentication_error",
        "token has expired",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_a_401_on_every_endpoint() {
    every_endpoint_refuses(
        |org| Some(format!("Bearer {}", signed(jsonwebtoken::Algorithm::HS256, &admin_claims(org), b"other"))),
        401,
        "authentication_error",
        "token signature is invalid",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_a_401_on_every_endpoint() {
    // The encoder itself, against RFC 4648 vectors (so that the token below is well-formed).
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foo"), "Zm9v");
    assert_eq!(b64url(b"foob"), "Zm9vYg");
    assert_eq!(b64url(b"foobar"), "Zm9vYmFy");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    every_endpoint_refuses(
        |org| {
            let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = b64url(admin_claims(org).to_string().as_bytes());
            Some(format!("Bearer {header}.{payload}."))
        },
        401,
        "authentication_error",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_with_the_right_secret_but_another_algorithm_is_a_401() {
    every_endpoint_refuses(
        |org| Some(format!("Bearer {}", signed(jsonwebtoken::Algorithm::HS512, &admin_claims(org), SECRET.as_bytes()))),
        401,
        "authentication_error",
        "token algorithm is not accepted",
    )
    .await;
}

#[tokio::test]
async fn a_correctly_signed_token_without_the_needed_claims_is_a_401() {
    every_endpoint_refuses(
        |org| {
            let claims = json!({"org_id": org, "role": "admin"});
            Some(format!("Bearer {}", signed(jsonwebtoken::Algorithm::HS256, &claims, SECRET.as_bytes())))
        },
        401,
        "authentication_error",
        "token claims must include org_id (UUID), role and exp",
    )
    .await;
    every_endpoint_refuses(
        |_| {
            let claims = json!({"role": "admin", "exp": now_secs() + 3600});
            Some(format!("Bearer {}", signed(jsonwebtoken::Algorithm::HS256, &claims, SECRET.as_bytes())))
        },
        401,
        "authentication_error",
        "token claims must include org_id (UUID), role and exp",
    )
    .await;
}

#[tokio::test]
async fn a_bd_api_key_is_a_401_on_the_admin_api() {
    every_endpoint_refuses(
        |_| Some("Bearer bd-0123456789abcdef0123456789abcdef".to_owned()),
        401,
        "authentication_error",
        "bd- API keys are for the runtime API; /admin needs a JWT",
    )
    .await;
}

#[tokio::test]
async fn a_garbage_bearer_token_is_a_401() {
    every_endpoint_refuses(|_| Some("Bearer not.a.jwt".to_owned()), 401, "authentication_error", "").await;
}

#[tokio::test]
async fn a_member_is_a_403_on_every_endpoint() {
    every_endpoint_refuses(
        |org| Some(format!("Bearer {}", token(org, "member"))),
        403,
        "permission_error",
        "role `member` may not use the admin API (needs `admin`)",
    )
    .await;
}

// ---------------------------------------------------------------- org isolation

#[tokio::test]
async fn another_orgs_objects_are_invisible_and_indistinguishable_from_random_ids() {
    let g = Gateway::start();
    let a = Client::new(&g, Uuid::new_v4(), "admin");
    let b = Client::new(&g, Uuid::new_v4(), "admin");
    let pid = a.provider("shared-name", &["m"]).await;
    let rid = id_of(&a.route(&pid, "fast", "m").await);
    let sid = id_of(&a.post("/admin/smart-models", smart_body("auto")).await);
    let a_before = state(&a).await;

    for path in ["/admin/providers", "/admin/model-mappings", "/admin/smart-models"] {
        let r = b.get(path).await;
        assert_eq!((r.status, r.generation), (200, Some(0)), "{path}");
        assert_eq!(r.body, json!([]), "{path}");
    }

    for (collection, theirs, put_body) in [
        ("providers", &pid, json!({"enabled": false})),
        ("model-mappings", &rid, json!({"priority": 9})),
        ("smart-models", &sid, json!({"enabled": false})),
    ] {
        let random = Uuid::new_v4().to_string();
        for method in ["GET", "PUT", "DELETE"] {
            let body = (method == "PUT").then(|| put_body.clone());
            let t = b.send(method, &format!("/admin/{collection}/{theirs}"), body.clone()).await;
            let r = b.send(method, &format!("/admin/{collection}/{random}"), body).await;
            assert_eq!((t.status, t.kind()), (404, "not_found_error"), "{method} {collection}: {}", t.body);
            assert_eq!((r.status, r.kind()), (404, "not_found_error"), "{method} {collection}: {}", r.body);
            assert_eq!(
                t.message().replace(theirs.as_str(), "<id>"),
                r.message().replace(&random, "<id>"),
                "{method} {collection}: another org's id must look like a random one"
            );
            assert_eq!(t.generation, r.generation);
            assert_eq!(t.generation, Some(0), "b's own generation");
        }
    }

    let b_before = state(&b).await;
    let r = b.route(&pid, "m", "m").await;
    assert_rejected(&b, &b_before, &r, 404, "not_found_error", &[&format!("provider {pid} not found")]).await;
    let r = b.put("/admin/model-mappings/reorder", json!({"entries": [{"id": rid, "priority": 3}]})).await;
    assert_rejected(&b, &b_before, &r, 404, "not_found_error", &[&rid, "nothing was reordered"]).await;
    assert_eq!(state(&a).await, a_before, "b's attempts changed nothing in a");

    // Names and aliases are per org.
    let bp = b.provider("shared-name", &["m"]).await;
    assert_eq!(b.route(&bp, "fast", "m").await.status, 200);
    assert_eq!(b.post("/admin/smart-models", smart_body("auto")).await.status, 200);
    assert_eq!(generation(&b).await, 3);
    assert_eq!(state(&a).await, a_before, "b's writes are not a's");
    let a_rows = routes(&a).await;
    assert!(a_rows.iter().all(|r| r["org_id"] == json!(a.org)), "{a_rows:?}");
}

// ---------------------------------------------------------------- generation

/// A rejected request of each kind (and a 404 read) reports the current generation
/// and leaves it where it was.
async fn rejections_keep(c: &Client, expected: u64) {
    let missing = Uuid::new_v4();
    let rejected = [
        // 409: `p` exists by the time this runs.
        c.post("/admin/providers", json!({"name": "p", "model_provider": "openai"})).await,
        c.post("/admin/providers", json!({"name": "x", "model_provider": "openai", "oops": 1})).await,
        c.raw("POST", "/admin/providers", Some("{".to_owned()), Some(&c.token)).await,
        c.post("/admin/providers", json!({"name": "x"})).await,
        send_over_socket(c, "POST", "/admin/providers", padded(&json!({}), 2 * MAX_BODY), Framing::ContentLength).await,
        c.get(&format!("/admin/providers/{missing}")).await,
        c.delete(&format!("/admin/model-mappings/{missing}")).await,
        c.get("/admin/smart-models/nope").await,
    ];
    let statuses: Vec<u16> = rejected.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [409, 400, 400, 422, 413, 404, 404, 400]);
    for r in rejected {
        assert_eq!(r.generation, Some(expected), "status {} {}", r.status, r.body);
    }
    assert_eq!(generation(c).await, expected);
}

#[tokio::test]
async fn each_successful_write_bumps_the_generation_by_one_and_nothing_else_does() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    for path in ["/admin/providers", "/admin/model-mappings", "/admin/smart-models"] {
        assert_eq!(c.get(path).await.generation, Some(0), "a fresh org is at 0 ({path})");
    }
    let mut expected = 0;

    let pid = c.provider("p", &["m"]).await;
    expected += 1;
    assert_eq!(generation(&c).await, expected);
    rejections_keep(&c, expected).await;

    let rid = routes_named(&c, "m").await[0]["id"].as_str().unwrap().to_owned();
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/admin/model-mappings".to_owned(),
            Some(json!({"provider_id": pid, "model_alias": "m", "upstream_model": "m"})),
        ),
        (
            "POST",
            "/admin/model-mappings".to_owned(),
            Some(json!({"provider_id": pid, "model_alias": "fast", "upstream_model": "m"})),
        ),
        ("PUT", format!("/admin/model-mappings/{rid}"), Some(json!({"priority": 2}))),
        ("PUT", "/admin/model-mappings/reorder".to_owned(), Some(json!({"entries": [{"id": rid, "priority": 3}]}))),
        ("PUT", format!("/admin/providers/{pid}"), Some(json!({"enabled": false}))),
        ("POST", "/admin/smart-models".to_owned(), Some(smart_body("auto"))),
    ];
    for (method, path, body) in writes {
        let r = c.send(method, &path, body).await;
        expected += 1;
        assert_eq!((r.status, r.generation), (200, Some(expected)), "{method} {path}: {}", r.body);
        // Reads report it and do not move it.
        assert_eq!(generation(&c).await, expected);
        assert_eq!(c.get("/admin/model-mappings").await.generation, Some(expected));
        assert_eq!(c.get(&format!("/admin/providers/{pid}")).await.generation, Some(expected));
        rejections_keep(&c, expected).await;
    }

    let sid = c.get("/admin/smart-models").await.body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&format!("/admin/smart-models/{sid}")).await.generation, Some(expected));
    let fast = routes_named(&c, "fast").await[0]["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        ("PUT", format!("/admin/smart-models/{sid}"), Some(json!({"description": "d"}))),
        ("DELETE", format!("/admin/smart-models/{sid}"), None),
        ("DELETE", format!("/admin/model-mappings/{fast}"), None),
        ("DELETE", format!("/admin/model-mappings/{rid}"), None),
        ("DELETE", format!("/admin/providers/{pid}"), None),
    ] {
        let r = c.send(method, &path, body).await;
        expected += 1;
        assert_eq!((r.status, r.generation), (200, Some(expected)), "{method} {path}: {}", r.body);
        assert_eq!(generation(&c).await, expected);
    }
    assert_eq!(expected, 12);
    assert_eq!(c.snapshot().await, json!({"providers": [], "routes": [], "smart": []}));
}

// ---------------------------------------------------------------- runtime API keys

#[tokio::test]
async fn runtime_keys_are_shown_once_listed_by_prefix_and_revoked() {
    let g = Gateway::start();
    let org = Uuid::new_v4();
    let c = Client::new(&g, org, "admin");
    let created = c.post("/admin/api-keys", json!({"name": "CI runner", "scopes": ["llm"]})).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("bd-") && key.len() == 43, "{key}");
    assert_eq!(created.body["key_prefix"], &key[..8]);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let listed = c.raw("GET", "/admin/api-keys", None, Some(&c.token)).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.body.to_string().contains(&key), "the raw key is never listed");
    assert_eq!(listed.body[0]["name"], "CI runner");
    assert_eq!(listed.body[0]["revoked_at"], serde_json::Value::Null);
    let one = c.get(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(one.status, 200);
    assert!(!one.body.to_string().contains(&key));

    // Another org cannot see or revoke it.
    let other = Client::new(&g, Uuid::new_v4(), "admin");
    assert_eq!(other.get(&format!("/admin/api-keys/{id}")).await.status, 404);
    assert_eq!(other.delete(&format!("/admin/api-keys/{id}")).await.status, 404);

    let revoked = c.delete(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.body, json!({"revoked": true}));
    let one = c.get(&format!("/admin/api-keys/{id}")).await;
    assert!(one.body["revoked_at"].is_string(), "{:?}", one.body);
    // A bd- key is still no way into the admin API.
    let r = c.raw("GET", "/admin/providers", None, Some(&key)).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn runtime_key_requests_with_bad_fields_change_nothing() {
    let g = Gateway::start();
    let c = Client::new(&g, Uuid::new_v4(), "admin");
    let before = c.get("/admin/api-keys").await;
    let both = c.post("/admin/api-keys", json!({"name": "x", "user_id": Uuid::new_v4(), "group_name": "g"})).await;
    assert_eq!(both.status, 400);
    assert!(both.message().contains("mutually exclusive"), "{:?}", both.body);
    let past = c.post("/admin/api-keys", json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"})).await;
    assert_eq!(past.status, 400);
    assert!(past.message().contains("is in the past"), "{:?}", past.body);
    let garbage = c.post("/admin/api-keys", json!({"name": "x", "expires_at": "tomorrow"})).await;
    assert_eq!(garbage.status, 400);
    let missing = c.post("/admin/api-keys", json!({"scopes": []})).await;
    assert_eq!(missing.status, 422);
    let long = c.post("/admin/api-keys", json!({"name": "x", "group_name": "g".repeat(257)})).await;
    assert_eq!(long.status, 400);
    assert!(long.message().contains("group_name must be 1 to 256 characters long"), "{:?}", long.body);
    let after = c.get("/admin/api-keys").await;
    assert_eq!(before.body, after.body);
    assert_eq!(before.generation, after.generation);
}
