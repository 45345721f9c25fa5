//! The data plane's view of one org's configuration: an immutable [`OrgConfig`] built
//! from one consistent store read, swapped in whole when the org's config generation
//! moves ([`Snapshots`]). A request holds an `Arc` of the snapshot it started with, so
//! a config change never disturbs a request in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use crate::gateway::error::ApiError;
use crate::gateway::store::{ProviderRow, RouteRow, SmartRow, Store};

/// What the dispatcher needs to call one `(provider, upstream_model)`, prepared
/// once per snapshot instead of per request.
#[derive(Debug)]
pub struct Upstream {
    /// `provider name/upstream model`, as reported in `x-switchyard-route`.
    pub label: String,
    /// The parsed URL and auth header, or why this upstream cannot be called.
    pub endpoint: Result<Prepared, String>,
}

/// A parsed endpoint.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Chat-completions URL.
    pub url: reqwest::Url,
    /// Auth header, if the provider has a key.
    pub auth: Option<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

fn prepare(provider: &ProviderRow, model: &str) -> Upstream {
    let endpoint = super::upstream::endpoint(provider, model).map_err(|u| u.0).and_then(|ep| {
        let url = reqwest::Url::parse(&ep.url)
            .map_err(|e| format!("provider `{}`: bad URL {}: {e}", provider.name, ep.url))?;
        let auth = match ep.auth {
            None => None,
            Some((name, value)) => {
                let mut v = axum::http::HeaderValue::from_str(&value)
                    .map_err(|_| format!("provider `{}`: its API key is not a valid header value", provider.name))?;
                v.set_sensitive(true);
                Some((axum::http::HeaderName::from_static(name), v))
            }
        };
        Ok(Prepared { url, auth })
    });
    Upstream { label: format!("{}/{model}", provider.name), endpoint }
}

/// One route the dispatcher may try: the row and its provider.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The provider serving it.
    pub provider: Arc<ProviderRow>,
    /// The route row (alias row or 1:1 row).
    pub route: Arc<RouteRow>,
    /// The 1:1 enablement of `(provider, upstream_model)` (the same row for 1:1 calls).
    pub anchor: Arc<RouteRow>,
    /// How to call it.
    pub upstream: Arc<Upstream>,
}

impl Candidate {
    /// `provider name/upstream model`, as reported in `x-switchyard-route`.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.upstream.label
    }
}

/// Immutable configuration of one org at one generation.
#[derive(Debug, Default)]
pub struct OrgConfig {
    /// The config generation this snapshot was read at.
    pub generation: u64,
    providers: HashMap<Uuid, Arc<ProviderRow>>,
    provider_by_name: HashMap<String, Uuid>,
    /// `(provider_id, upstream_model)` -> its 1:1 row.
    anchors: HashMap<(Uuid, String), Arc<RouteRow>>,
    /// Route id -> its 1:1 row and prepared upstream (lookups without allocation).
    by_route: HashMap<Uuid, (Arc<RouteRow>, Arc<Upstream>)>,
    /// alias -> rows with `bare_alias`, ascending priority.
    bare: HashMap<String, Vec<Arc<RouteRow>>>,
    /// Every route row (for listings).
    routes: Vec<Arc<RouteRow>>,
    /// Lower-cased alias -> smart model.
    smart: HashMap<String, Arc<SmartRow>>,
}

impl OrgConfig {
    /// Builds a snapshot from rows.
    #[must_use]
    pub fn build(generation: u64, providers: Vec<ProviderRow>, routes: Vec<RouteRow>, smart: Vec<SmartRow>) -> Self {
        let mut cfg = Self { generation, ..Self::default() };
        for p in providers {
            cfg.provider_by_name.insert(p.name.clone(), p.id);
            cfg.providers.insert(p.id, Arc::new(p));
        }
        for r in routes {
            let r = Arc::new(r);
            if r.is_one_to_one() {
                cfg.anchors.insert((r.provider_id, r.upstream_model.clone()), r.clone());
            }
            if r.bare_alias {
                cfg.bare.entry(r.model_alias.clone()).or_default().push(r.clone());
            }
            cfg.routes.push(r);
        }
        let mut upstreams: HashMap<(Uuid, &str), Arc<Upstream>> = HashMap::new();
        for r in &cfg.routes {
            let (Some(anchor), Some(provider)) =
                (cfg.anchors.get(&(r.provider_id, r.upstream_model.clone())), cfg.providers.get(&r.provider_id))
            else {
                continue;
            };
            let up = upstreams
                .entry((r.provider_id, r.upstream_model.as_str()))
                .or_insert_with(|| Arc::new(prepare(provider, &r.upstream_model)))
                .clone();
            cfg.by_route.insert(r.id, (anchor.clone(), up));
        }
        drop(upstreams);
        for rows in cfg.bare.values_mut() {
            rows.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
        }
        for s in smart {
            cfg.smart.insert(s.model_alias.to_lowercase(), Arc::new(s));
        }
        cfg
    }

    /// A candidate for `route` if it, its 1:1 enablement and its provider are enabled.
    fn candidate(&self, route: &Arc<RouteRow>) -> Option<Candidate> {
        let provider = self.providers.get(&route.provider_id)?;
        let (anchor, upstream) = self.by_route.get(&route.id)?;
        (route.enabled && anchor.enabled && provider.enabled).then(|| Candidate {
            provider: provider.clone(),
            route: route.clone(),
            anchor: anchor.clone(),
            upstream: upstream.clone(),
        })
    }

    /// The smart model called `name` (case-insensitive), enabled or not.
    #[must_use]
    pub fn smart(&self, name: &str) -> Option<&Arc<SmartRow>> {
        if self.smart.is_empty() {
            return None;
        }
        self.smart.get(&name.to_lowercase())
    }

    /// Candidates for a non-smart model name in ascending priority: `<provider>/<model>`
    /// (split on the first `/`) names one 1:1 row; anything else is a bare alias.
    /// Disabled rows and providers are left out; health is the dispatcher's business.
    #[must_use]
    pub fn resolve(&self, name: &str) -> Vec<Candidate> {
        if let Some((provider, model)) = name.split_once('/')
            && let Some(pid) = self.provider_by_name.get(provider)
        {
            return self.anchors.get(&(*pid, model.to_owned())).and_then(|r| self.candidate(r)).into_iter().collect();
        }
        self.bare.get(name).map(|rows| rows.iter().filter_map(|r| self.candidate(r)).collect()).unwrap_or_default()
    }

    /// Every callable name: bare aliases with a usable route, `<provider>/<model>` of
    /// every usable 1:1 row, and enabled smart models. Sorted, no duplicates.
    #[must_use]
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (alias, rows) in &self.bare {
            if rows.iter().any(|r| self.candidate(r).is_some()) {
                names.push(alias.clone());
            }
        }
        for ((pid, model), row) in &self.anchors {
            if self.candidate(row).is_some()
                && let Some(p) = self.providers.get(pid)
            {
                names.push(format!("{}/{model}", p.name));
            }
        }
        names.extend(self.smart.values().filter(|s| s.enabled).map(|s| s.model_alias.clone()));
        names.sort();
        names.dedup();
        names
    }

    /// Every `(provider, upstream_model)` pair with its rows, for route health.
    #[must_use]
    pub fn route_pairs(&self) -> Vec<(Arc<ProviderRow>, String, Vec<Arc<RouteRow>>)> {
        let mut pairs: HashMap<(Uuid, &str), Vec<Arc<RouteRow>>> = HashMap::new();
        for r in &self.routes {
            pairs.entry((r.provider_id, r.upstream_model.as_str())).or_default().push(r.clone());
        }
        let mut out: Vec<_> = pairs
            .into_iter()
            .filter_map(|((pid, model), rows)| self.providers.get(&pid).map(|p| (p.clone(), model.to_owned(), rows)))
            .collect();
        out.sort_by(|a, b| (&a.0.name, &a.1).cmp(&(&b.0.name, &b.1)));
        out
    }

    /// A provider by id.
    #[must_use]
    pub fn provider(&self, id: Uuid) -> Option<&Arc<ProviderRow>> {
        self.providers.get(&id)
    }
}

/// The current snapshot of every org, rebuilt lazily and coalesced: a request that
/// finds its org's snapshot older than the last committed write rebuilds it (one
/// rebuild at a time; requests queued behind it reuse its result).
pub struct Snapshots {
    store: Arc<dyn Store>,
    current: RwLock<HashMap<Uuid, Arc<OrgConfig>>>,
    /// The newest generation committed per org (from admin writes in this process).
    wanted: Mutex<HashMap<Uuid, u64>>,
    rebuild: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshots")
    }
}

impl Snapshots {
    /// Snapshots over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            current: RwLock::new(HashMap::new()),
            wanted: Mutex::new(HashMap::new()),
            rebuild: tokio::sync::Mutex::new(()),
        }
    }

    /// Records a committed write; the next [`Snapshots::get`] for `org` sees it.
    pub fn changed(&self, org: Uuid, generation: u64) {
        if let Ok(mut w) = self.wanted.lock() {
            let e = w.entry(org).or_insert(0);
            *e = (*e).max(generation);
        }
    }

    fn fresh(&self, org: Uuid) -> Option<Arc<OrgConfig>> {
        let wanted = self.wanted.lock().ok().and_then(|w| w.get(&org).copied()).unwrap_or(0);
        let cur = self.current.read().ok()?.get(&org).cloned()?;
        (cur.generation >= wanted).then_some(cur)
    }

    /// The org's snapshot, at least as new as every write committed before the call.
    ///
    /// # Errors
    /// A storage failure while rebuilding.
    pub async fn get(&self, org: Uuid) -> Result<Arc<OrgConfig>, ApiError> {
        if let Some(c) = self.fresh(org) {
            return Ok(c);
        }
        let _one_at_a_time = self.rebuild.lock().await;
        if let Some(c) = self.fresh(org) {
            return Ok(c);
        }
        let store = self.store.clone();
        let cfg = tokio::task::spawn_blocking(move || {
            let (rows, generation) = crate::gateway::store::read(store.as_ref(), org, |tx| {
                Ok((tx.providers()?, tx.routes()?, tx.smart_models()?))
            })?;
            Ok::<_, ApiError>(OrgConfig::build(generation, rows.0, rows.1, rows.2))
        })
        .await
        .map_err(ApiError::internal)??;
        let cfg = Arc::new(cfg);
        if let Ok(mut cur) = self.current.write() {
            cur.insert(org, cfg.clone());
        }
        Ok(cfg)
    }
}
