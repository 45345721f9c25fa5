//! `switchyard up`: the newcomer's whole system in one process. A gateway on SQLite
//! under the state directory, an OpenAI-compatible mock upstream, and a watcher that
//! applies the manifests now and on every edit (the same plan/apply as `switchyard
//! apply`, over HTTP). Prints the URL, a ready runtime API key and a curl line that
//! works offline.
//!
//! Must not: be the production deployment (one process, one org, a generated JWT
//! secret kept in the state directory).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::admin_client::AdminApi;
use crate::admin_client::http::{HttpAdminClient, Options};
use crate::apply::EnvSecrets;
use crate::apply::prepare::PlanRequest;
use crate::gateway::auth::{MintKey, Verifier, mint};
use crate::gateway::mock::Step;
use crate::gateway::proxy::ProxySettings;
use crate::gateway::{API_PREFIX, AppState, open_store, serve};
use crate::watch::{Pass, WatchConfig, reconcile_once};

/// What `up` runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Manifest directories or files to apply and watch.
    pub files: Vec<PathBuf>,
    /// Gateway address.
    pub listen: SocketAddr,
    /// Mock upstream address; `None`: no mock.
    pub mock_listen: Option<SocketAddr>,
    /// Mock script; default `mock-upstream.json` in the first manifest directory.
    pub mock_script: Option<PathBuf>,
    /// Database, JWT secret and API key live here.
    pub state_dir: PathBuf,
    /// Org the configuration is applied to.
    pub org: Uuid,
    /// Delete gateway objects the files no longer declare.
    pub prune: bool,
    /// Re-plan at least this often.
    pub interval: Duration,
    /// Stop after the first apply instead of watching.
    pub once: bool,
    /// Data-plane settings of the gateway.
    pub proxy: ProxySettings,
}

/// Runs until `cancel` (or, with `once`, until the first apply is printed). Returns
/// whether everything went well.
///
/// # Errors
/// Set-up failures: ports in use, unreadable state directory, bad script.
pub async fn run(cfg: &Config, cancel: CancellationToken) -> anyhow::Result<bool> {
    std::fs::create_dir_all(&cfg.state_dir).with_context(|| format!("creating {}", cfg.state_dir.display()))?;
    let secret = load_or_create_secret(&cfg.state_dir.join("jwt.secret"))?;
    let script = mock_script(cfg)?;
    let mut tasks = tokio::task::JoinSet::new();
    let mock_addr = match cfg.mock_listen {
        None => None,
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("mock upstream: cannot listen on {at} (use --mock-listen)"))?;
            let addr = listener.local_addr()?;
            tasks.spawn(crate::gateway::mock::serve(listener, script, cancel.clone()));
            Some(addr)
        }
    };

    let db = cfg.state_dir.join("gateway.db");
    let store = open_store(&db.to_string_lossy())?;
    let state = AppState::new(store, Verifier::hs256(&secret).map_err(anyhow::Error::msg)?, cfg.proxy.clone())?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("gateway: cannot listen on {} (use --listen)", cfg.listen))?;
    let addr = listener.local_addr()?;
    tasks.spawn(serve(listener, state, cancel.clone()));

    let base = format!("http://{addr}");
    let token =
        mint(&MintKey::Hs256(secret.clone()), cfg.org, "admin", 10 * 365 * 24 * 3600).map_err(anyhow::Error::msg)?;
    let api = Arc::new(
        HttpAdminClient::new(&format!("{base}{API_PREFIX}"), &token, Options::default()).map_err(anyhow::Error::msg)?,
    );
    let watch = WatchConfig {
        request: PlanRequest { files: cfg.files.clone(), prune: cfg.prune, protect: Vec::new(), fingerprints: false },
        gateway: format!("{base}{API_PREFIX}"),
        interval: cfg.interval,
        debounce: Duration::from_millis(300),
        parallelism: 8,
    };
    let first = reconcile_once(&watch, api.clone() as Arc<dyn AdminApi>, Arc::new(EnvSecrets)).await;
    let applied = match &first {
        Pass::InSync => "already in sync".to_owned(),
        Pass::Applied { summary, failed: false } => format!("applied: {summary}"),
        Pass::Applied { summary, failed: true } => format!("applied with failures: {summary}"),
        Pass::Invalid(e) | Pass::GatewayDown(e) | Pass::Unplannable(e) => format!("NOT applied:\n{e}"),
    };
    let key = runtime_key(&base, &token, &cfg.state_dir).await?;
    let alias = example_alias(&cfg.files);
    let files = cfg.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    out.push_str("switchyard is up\n");
    out.push_str(&format!("  gateway   {base}   (runtime API: {base}/v1, admin API: {base}{API_PREFIX}/admin)\n"));
    if let Some(m) = mock_addr {
        out.push_str(&format!("  mock      http://{m}/v1   (offline OpenAI-compatible upstream)\n"));
    }
    out.push_str(&format!("  state     {}/   (gateway.db, jwt.secret, api-key)\n", cfg.state_dir.display()));
    out.push_str(&format!("  config    {files}: {applied}\n"));
    out.push_str(&format!("  API key   {key}\n"));
    out.push_str(&format!(
        "  admin     SWITCHYARD_GATEWAY={base}{API_PREFIX} SWITCHYARD_TOKEN=$(switchyard token --jwt-secret-file {} --org {})\n",
        cfg.state_dir.join("jwt.secret").display(),
        cfg.org
    ));
    out.push_str("\nTry it:\n");
    out.push_str(&format!(
        "  curl -si {base}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'content-type: application/json' \\\n    -d '{{\"model\": \"{alias}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'\n"
    ));
    if !cfg.once {
        out.push_str(&format!("\nWatching {files} for edits (Ctrl-C to stop).\n"));
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
    }
    if cfg.once {
        cancel.cancel();
    } else {
        let watcher = crate::watch::run(watch, api as Arc<dyn AdminApi>, Arc::new(EnvSecrets), cancel.clone());
        tasks.spawn(watcher);
    }
    let mut failed = matches!(first, Pass::Invalid(_) | Pass::Unplannable(_) | Pass::Applied { failed: true, .. });
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::error!("{e:#}");
            failed = true;
            cancel.cancel();
        }
    }
    Ok(!failed)
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        return crate::gateway::auth::read_secret_file(path).map_err(anyhow::Error::msg);
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("random source unavailable"))?;
    let hex = crate::model::digest::hex(&bytes);
    write_private(path, &hex)?;
    Ok(hex.into_bytes())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(text.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn mock_script(cfg: &Config) -> anyhow::Result<Option<BTreeMap<String, Vec<Step>>>> {
    let path = match &cfg.mock_script {
        Some(p) => p.clone(),
        None => match cfg.files.first() {
            Some(d) if d.is_dir() && d.join("mock-upstream.json").is_file() => d.join("mock-upstream.json"),
            _ => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is not a mock script", path.display()))?))
}

/// The key saved in the state dir if the gateway still accepts it, else a new one.
async fn runtime_key(base: &str, token: &str, state_dir: &Path) -> anyhow::Result<String> {
    let path = state_dir.join("api-key");
    let http = reqwest::Client::new();
    if let Ok(saved) = std::fs::read_to_string(&path) {
        let saved = saved.trim().to_owned();
        let ok =
            http.get(format!("{base}/v1/models")).bearer_auth(&saved).send().await.is_ok_and(|r| r.status() == 200);
        if ok {
            return Ok(saved);
        }
    }
    let resp = http
        .post(format!("{base}{API_PREFIX}/admin/api-keys"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "switchyard-up"}))
        .send()
        .await
        .context("creating an API key")?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the new API key")?;
    let key = body["key"].as_str().ok_or_else(|| anyhow::anyhow!("creating an API key: HTTP {status}: {body}"))?;
    write_private(&path, key)?;
    Ok(key.to_owned())
}

/// A route alias from the manifests for the curl line: the one with the longest
/// failover chain, else any callable name.
fn example_alias(files: &[PathBuf]) -> String {
    let Ok(loaded) = crate::manifest::load::parse_paths(files) else { return "MODEL".into() };
    let desired = &loaded.state;
    desired
        .routes
        .iter()
        .max_by_key(|r| (r.targets.len(), std::cmp::Reverse(r.alias.clone())))
        .map(|r| r.alias.clone())
        .or_else(|| desired.smart_models.first().map(|s| s.alias.clone()))
        .unwrap_or_else(|| "MODEL".into())
}
