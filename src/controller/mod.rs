//! `switchyard controller`: keeps a gateway in sync with the cluster's `Provider`,
//! `ModelRoute` and `SmartModel` resources, through the same plan and apply as the
//! CLI (it never talks to the gateway any other way).
//!
//! Level-triggered: any change to a resource (or to a Secret a Provider references),
//! a periodic resync, or a retry after a failure runs one pass over the whole set:
//! build the desired state (each resource validated on its own, see [`desired`]),
//! read the gateway, plan, apply, then write each resource's status. Deleting a
//! resource deletes exactly the gateway objects it declared (the finalizer keeps it
//! until that is done); objects made on the gateway by anyone else are never pruned.
//! Every replica reconciles its own gateway; only the Lease holder ([`lease`]) writes
//! status, finalizers and events.

pub mod desired;
pub mod lease;
pub mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::desired::{Res, Secrets, Verdict};
use crate::admin_client::{AdminApi, LiveState};
use crate::apply::prepare::{external_names, provider_ids};
use crate::apply::{ApplyOptions, Outcome, SecretResolver, execute};
use crate::manifest::crd::{self, Kind, ResourceStatus};
use crate::model::ExternalNames;
use crate::plan::{PlanOptions, plan};

/// Status and finalizer writes in flight at once.
const STATUS_WRITERS: usize = 16;

/// The finalizer on every resource the controller applied.
pub const FINALIZER: &str = "switchyard.dev/cleanup";

/// How to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Gateway admin base URL (ends in `/api/llm-gateway`), for plans and logs.
    pub gateway: String,
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Full pass at least this often (repairs drift made on the gateway).
    pub resync: Duration,
    /// Quiet time after a change before a pass.
    pub debounce: Duration,
    /// Gateway writes in flight at once.
    pub parallelism: usize,
    /// Leader election.
    pub lease: lease::LeaseConfig,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_listen: Option<SocketAddr>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    passes: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    duration_sum_ms: AtomicU64,
    duration_buckets: Mutex<[u64; 8]>,
    objects: Mutex<BTreeMap<(String, String), u64>>,
    writes: AtomicU64,
}

const DURATION_BUCKETS_S: [f64; 8] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

impl Metrics {
    fn observe(&self, took: Duration, failure: Option<&'static str>) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_ms.fetch_add(u64::try_from(took.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        if let Ok(mut b) = self.duration_buckets.lock() {
            for (i, le) in DURATION_BUCKETS_S.iter().enumerate() {
                if took.as_secs_f64() <= *le {
                    b[i] += 1;
                }
            }
        }
        if let Some(reason) = failure
            && let Ok(mut f) = self.failures.lock()
        {
            *f.entry(reason).or_default() += 1;
        }
    }

    /// Prometheus text.
    #[must_use]
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let passes = self.passes.load(Ordering::Relaxed);
        out.push_str("# HELP switchyard_controller_reconciles_total Reconcile passes.\n# TYPE switchyard_controller_reconciles_total counter\n");
        let _ = writeln!(out, "switchyard_controller_reconciles_total {passes}");
        out.push_str("# HELP switchyard_controller_reconcile_failures_total Failed passes by reason.\n# TYPE switchyard_controller_reconcile_failures_total counter\n");
        if let Ok(f) = self.failures.lock() {
            for (reason, n) in f.iter() {
                let _ = writeln!(out, "switchyard_controller_reconcile_failures_total{{reason=\"{reason}\"}} {n}");
            }
        }
        out.push_str("# HELP switchyard_controller_reconcile_duration_seconds Pass duration.\n# TYPE switchyard_controller_reconcile_duration_seconds histogram\n");
        if let Ok(b) = self.duration_buckets.lock() {
            for (i, le) in DURATION_BUCKETS_S.iter().enumerate() {
                let _ =
                    writeln!(out, "switchyard_controller_reconcile_duration_seconds_bucket{{le=\"{le}\"}} {}", b[i]);
            }
        }
        let _ = writeln!(out, "switchyard_controller_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {passes}");
        let sum = self.duration_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "switchyard_controller_reconcile_duration_seconds_sum {sum}");
        let _ = writeln!(out, "switchyard_controller_reconcile_duration_seconds_count {passes}");
        out.push_str("# HELP switchyard_controller_objects Resources by kind and Ready reason.\n# TYPE switchyard_controller_objects gauge\n");
        if let Ok(o) = self.objects.lock() {
            for ((kind, reason), n) in o.iter() {
                let _ = writeln!(out, "switchyard_controller_objects{{kind=\"{kind}\",condition=\"{reason}\"}} {n}");
            }
        }
        out.push_str("# HELP switchyard_controller_gateway_writes_total Gateway admin writes made.\n# TYPE switchyard_controller_gateway_writes_total counter\n");
        let _ = writeln!(out, "switchyard_controller_gateway_writes_total {}", self.writes.load(Ordering::Relaxed));
        out
    }
}

#[derive(Debug, Default)]
struct Cache {
    resources: BTreeMap<String, Res>,
    secrets: Secrets,
    /// Kinds (and Secrets) whose initial list is complete.
    synced: BTreeSet<&'static str>,
}

/// The controller.
pub struct Controller {
    cfg: Config,
    client: kube::Client,
    api: Arc<dyn AdminApi>,
    cache: Mutex<Cache>,
    trigger: Notify,
    /// Whether this replica holds the lease.
    pub leader: Arc<AtomicBool>,
    /// Whether the first full pass is done.
    pub ready: AtomicBool,
    /// Counters.
    pub metrics: Metrics,
    /// Identities this controller has declared (pruned when no longer declared).
    inventory: Mutex<BTreeSet<String>>,
    recorder: Recorder,
}

/// What a pass came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassResult {
    /// Everything accepted is applied.
    Done {
        /// Gateway writes made.
        writes: usize,
    },
    /// Something failed; retry with backoff.
    Retry(&'static str, String),
}

fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Provider => ApiResource::erase::<crd::Provider>(&()),
        Kind::ModelRoute => ApiResource::erase::<crd::ModelRoute>(&()),
        Kind::SmartModel => ApiResource::erase::<crd::SmartModel>(&()),
    }
}

fn to_res(kind: Kind, o: &DynamicObject) -> Res {
    let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
    };
    Res {
        kind,
        namespace: o.metadata.namespace.clone().unwrap_or_default(),
        name: o.metadata.name.clone().unwrap_or_default(),
        uid: o.metadata.uid.clone().unwrap_or_default(),
        generation: o.metadata.generation,
        created: time(&o.metadata.creation_timestamp),
        deleting: o.metadata.deletion_timestamp.is_some(),
        finalizers: o.metadata.finalizers.clone().unwrap_or_default(),
        annotations: o.metadata.annotations.clone().unwrap_or_default(),
        spec: o.data.get("spec").cloned().unwrap_or(Value::Null),
        status: o.data.get("status").cloned().unwrap_or(Value::Null),
    }
}

/// Whether a change needs a pass (status-only updates, including our own, do not).
fn relevant(old: Option<&Res>, new: &Res) -> bool {
    old.is_none_or(|o| {
        o.spec != new.spec || o.deleting != new.deleting || o.annotations != new.annotations || o.uid != new.uid
    })
}

struct MapSecrets(HashMap<String, String>);

impl SecretResolver for MapSecrets {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        self.0.get(reference).cloned().ok_or_else(|| format!("{reference} is not available"))
    }
}

/// Every identity on the live gateway, in the plan's naming: provider names,
/// `provider/model` enablements, route aliases and smart aliases.
fn live_identities(live: &LiveState) -> BTreeSet<String> {
    let names: HashMap<uuid::Uuid, &str> = live.providers.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mut out: BTreeSet<String> = live.providers.iter().map(|p| p.name.clone()).collect();
    for r in &live.routes {
        if r.model_alias == r.upstream_model {
            out.insert(format!("{}/{}", names.get(&r.provider_id).copied().unwrap_or("?"), r.upstream_model));
        } else {
            out.insert(r.model_alias.clone());
        }
    }
    out.extend(live.smart_models.iter().map(|s| s.model_alias.clone()));
    out
}

fn without(mut ext: ExternalNames, names: &BTreeSet<String>) -> ExternalNames {
    ext.enablements.retain(|p, _| !names.contains(p));
    for (p, models) in &mut ext.enablements {
        models.retain(|m| !names.contains(&format!("{p}/{m}")));
    }
    ext.aliases.retain(|a| !names.contains(a));
    ext
}

impl Controller {
    /// A controller over `client` and the gateway behind `api`.
    #[must_use]
    pub fn new(cfg: Config, client: kube::Client, api: Arc<dyn AdminApi>) -> Arc<Self> {
        let reporter =
            Reporter { controller: "switchyard-controller".into(), instance: Some(cfg.lease.identity.clone()) };
        let recorder = Recorder::new(client.clone(), reporter);
        Arc::new(Self {
            cfg,
            client,
            api,
            cache: Mutex::new(Cache::default()),
            trigger: Notify::new(),
            leader: Arc::new(AtomicBool::new(false)),
            ready: AtomicBool::new(false),
            metrics: Metrics::default(),
            inventory: Mutex::new(BTreeSet::new()),
            recorder,
        })
    }

    fn dyn_api(&self, kind: Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = api_resource(kind);
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    async fn watch_kind(self: Arc<Self>, kind: Kind) {
        let api = self.dyn_api(kind, self.cfg.namespace.as_deref());
        let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
        let mut pending: BTreeMap<String, Res> = BTreeMap::new();
        while let Some(ev) = stream.next().await {
            let changed = match ev {
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), error = %e, "watch error (retrying)");
                    false
                }
                Ok(Event::Init) => {
                    pending.clear();
                    false
                }
                Ok(Event::InitApply(o)) => {
                    let r = to_res(kind, &o);
                    pending.insert(r.key(), r);
                    false
                }
                Ok(Event::InitDone) => {
                    if let Ok(mut c) = self.cache.lock() {
                        c.resources.retain(|_, r| r.kind != kind);
                        c.resources.extend(std::mem::take(&mut pending));
                        c.synced.insert(kind.as_str());
                    }
                    true
                }
                Ok(Event::Apply(o)) => {
                    let r = to_res(kind, &o);
                    self.cache.lock().is_ok_and(|mut c| {
                        let rel = relevant(c.resources.get(&r.key()), &r);
                        c.resources.insert(r.key(), r);
                        rel
                    })
                }
                Ok(Event::Delete(o)) => {
                    let r = to_res(kind, &o);
                    // Remember what it declared: the next pass prunes it.
                    let ids = desired::identities_of(&[&r]);
                    if let Ok(mut inv) = self.inventory.lock() {
                        inv.extend(ids);
                    }
                    if let Ok(mut c) = self.cache.lock() {
                        c.resources.remove(&r.key());
                    }
                    true
                }
            };
            if changed {
                self.trigger.notify_one();
            }
        }
    }

    async fn watch_secrets(self: Arc<Self>) {
        let api: Api<Secret> = match self.cfg.namespace.as_deref() {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let data = |s: &Secret| -> BTreeMap<String, String> {
            s.data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).trim_end_matches(['\n', '\r']).to_owned()))
                .collect()
        };
        let key = |s: &Secret| {
            (s.metadata.namespace.clone().unwrap_or_default(), s.metadata.name.clone().unwrap_or_default())
        };
        let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
        let mut pending = Secrets::new();
        while let Some(ev) = stream.next().await {
            let touched: Option<(String, String)> = match ev {
                Err(e) => {
                    tracing::warn!(error = %e, "Secret watch error (retrying)");
                    None
                }
                Ok(Event::Init) => {
                    pending.clear();
                    None
                }
                Ok(Event::InitApply(s)) => {
                    pending.insert(key(&s), data(&s));
                    None
                }
                Ok(Event::InitDone) => {
                    if let Ok(mut c) = self.cache.lock() {
                        c.secrets = std::mem::take(&mut pending);
                        c.synced.insert("Secret");
                    }
                    self.trigger.notify_one();
                    None
                }
                Ok(Event::Apply(s)) => {
                    let k = key(&s);
                    let d = data(&s);
                    self.cache.lock().ok().and_then(|mut c| {
                        let same = c.secrets.get(&k) == Some(&d);
                        c.secrets.insert(k.clone(), d);
                        (!same).then_some(k)
                    })
                }
                Ok(Event::Delete(s)) => {
                    let k = key(&s);
                    if let Ok(mut c) = self.cache.lock() {
                        c.secrets.remove(&k);
                    }
                    Some(k)
                }
            };
            // Only Secrets a Provider references matter.
            if let Some((ns, name)) = touched {
                let referenced = self.cache.lock().is_ok_and(|c| {
                    c.resources.values().any(|r| {
                        r.kind == Kind::Provider
                            && r.namespace == ns
                            && r.spec.pointer("/apiKey/secretKeyRef/name").and_then(Value::as_str)
                                == Some(name.as_str())
                    })
                });
                if referenced {
                    tracing::info!(secret = %format!("{ns}/{name}"), "referenced Secret changed");
                    self.trigger.notify_one();
                }
            }
        }
    }

    fn synced(&self) -> bool {
        self.cache.lock().is_ok_and(|c| c.synced.len() == 4)
    }

    /// Runs until `cancel`: watches, the lease, and the reconcile loop.
    ///
    /// # Errors
    /// Never in practice; kept for symmetry with the other long-running commands.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for kind in Kind::ALL {
            tasks.spawn(self.clone().watch_kind(kind));
        }
        tasks.spawn(self.clone().watch_secrets());
        // A new leader writes statuses at once instead of at the next event.
        let me = Arc::downgrade(&self);
        let on_change = move || {
            if let Some(c) = me.upgrade() {
                c.trigger.notify_one();
            }
        };
        tasks.spawn(lease::run(
            self.client.clone(),
            self.cfg.lease.clone(),
            self.leader.clone(),
            on_change,
            cancel.clone(),
        ));
        let mut backoff = Duration::from_secs(1);
        let mut retry_at: Option<tokio::time::Instant> = None;
        let mut resync_at = tokio::time::Instant::now() + self.cfg.resync;
        loop {
            let wake = retry_at.map_or(resync_at, |r| r.min(resync_at));
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.trigger.notified() => {
                    // Debounce: let a burst of events settle.
                    tokio::time::sleep(self.cfg.debounce).await;
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            if !self.synced() {
                continue;
            }
            let start = Instant::now();
            let result = self.pass().await;
            resync_at = tokio::time::Instant::now() + self.cfg.resync;
            match &result {
                PassResult::Done { writes } => {
                    self.metrics.observe(start.elapsed(), None);
                    self.metrics.writes.fetch_add(*writes as u64, Ordering::Relaxed);
                    if *writes > 0 {
                        tracing::info!(writes, took = ?start.elapsed(), "reconciled");
                    }
                    backoff = Duration::from_secs(1);
                    retry_at = None;
                }
                PassResult::Retry(reason, msg) => {
                    self.metrics.observe(start.elapsed(), Some(reason));
                    tracing::warn!(reason, retry_in = ?backoff, "{msg}");
                    retry_at = Some(tokio::time::Instant::now() + backoff);
                    backoff = (backoff * 2).min(self.cfg.resync);
                }
            }
        }
        tasks.abort_all();
        Ok(())
    }

    /// One full pass.
    pub async fn pass(&self) -> PassResult {
        let (resources, secrets) = match self.cache.lock() {
            Ok(c) => (c.resources.values().cloned().collect::<Vec<_>>(), c.secrets.clone()),
            Err(_) => return PassResult::Retry("internal", "cache lock poisoned".into()),
        };
        let leader = self.leader.load(Ordering::Acquire);
        let live = match self.api.live_state().await {
            Ok(l) => l,
            Err(e) => {
                let msg = format!("gateway unavailable: {e}");
                if leader {
                    let verdicts: BTreeMap<String, status::Ready> = resources
                        .iter()
                        .filter(|r| !r.deleting)
                        .map(|r| (r.key(), status::Ready::gateway_down(&msg)))
                        .collect();
                    self.write_statuses(&resources, &verdicts, None).await;
                }
                return PassResult::Retry("gateway_unavailable", msg);
            }
        };
        let deleting: Vec<&Res> = resources.iter().filter(|r| r.deleting).collect();
        let deleting_ids = desired::identities_of(&deleting);
        let inventory = {
            let Ok(mut inv) = self.inventory.lock() else {
                return PassResult::Retry("internal", "inventory lock poisoned".into());
            };
            inv.extend(deleting_ids.iter().cloned());
            inv.clone()
        };
        let built = desired::build(&resources, &secrets, &without(external_names(&live), &inventory));
        let per_resource = built.loaded.as_ref().map(desired::identities).unwrap_or_default();
        let declared: BTreeSet<String> = per_resource.values().flatten().cloned().collect();
        // Rejected resources keep what they had on the gateway: nothing is applied for them.
        let rejected: Vec<&Res> = resources
            .iter()
            .filter(|r| !r.deleting && built.verdicts.get(&r.key()) != Some(&Verdict::Accepted))
            .collect();
        let keep = desired::identities_of(&rejected);
        if let Ok(mut inv) = self.inventory.lock() {
            inv.extend(declared.iter().cloned());
        }
        let live_ids = live_identities(&live);
        let to_remove: BTreeSet<String> = inventory
            .iter()
            .filter(|i| !declared.contains(*i) && !keep.contains(*i) && live_ids.contains(*i))
            .cloned()
            .collect();
        let state = built.state();
        let declared_providers: BTreeSet<&str> = state.providers.iter().map(|p| p.name.as_str()).collect();
        let protect: BTreeSet<String> = live_ids
            .iter()
            .filter(|i| !to_remove.contains(*i) && !declared_providers.contains(i.as_str()))
            .cloned()
            .collect();
        let opts = PlanOptions {
            gateway: self.cfg.gateway.clone(),
            prune: !to_remove.is_empty(),
            kinds: Kind::ALL.into_iter().collect(),
            protect: protect.clone(),
            fingerprints: false,
        };
        let mut deletion_blocked = None;
        let the_plan = match plan(&state, &built.keys, &live, &opts) {
            Ok(p) => p,
            Err(errors) => {
                deletion_blocked = Some(errors.join("; "));
                match plan(&state, &built.keys, &live, &PlanOptions { prune: false, ..opts }) {
                    Ok(p) => p,
                    Err(errors) => return PassResult::Retry("plan", errors.join("; ")),
                }
            }
        };
        let planned = the_plan.changes.len();
        let report = execute(
            the_plan,
            self.api.clone(),
            Arc::new(MapSecrets(built.key_values.clone())),
            provider_ids(&live),
            ApplyOptions { parallelism: self.cfg.parallelism, progress: None },
        )
        .await;
        // Which resource each change belongs to.
        let mut owner: HashMap<&str, &str> = HashMap::new();
        for (res, ids) in &per_resource {
            for i in ids {
                owner.insert(i.as_str(), res.as_str());
            }
        }
        let mut failures: BTreeMap<String, String> = BTreeMap::new();
        let mut events: Vec<(String, EventType, String, String)> = Vec::new();
        for (kind, identity, action, outcome) in &report.results {
            let res = owner.get(identity.as_str()).map(|s| (*s).to_owned());
            let what = format!("{} `{identity}`", kind.as_str());
            match outcome {
                Outcome::Applied => {
                    if let Some(res) = res {
                        events.push((
                            res,
                            EventType::Normal,
                            format!("{action:?}d"),
                            format!("{what}: {action:?}d on the gateway"),
                        ));
                    }
                }
                Outcome::Failed(m) | Outcome::Skipped(m) => {
                    if let Some(res) = res {
                        failures.entry(res.clone()).or_insert_with(|| format!("{what}: {m}"));
                        events.push((res, EventType::Warning, "ApplyFailed".into(), format!("{what}: {m}")));
                    } else {
                        tracing::warn!("{what}: {m}");
                    }
                }
            }
        }
        let live_after = if planned > 0 {
            match self.api.live_state().await {
                Ok(l) => l,
                Err(e) => return PassResult::Retry("gateway_unavailable", format!("gateway unavailable: {e}")),
            }
        } else {
            live
        };
        let after_ids = live_identities(&live_after);
        if let Ok(mut inv) = self.inventory.lock() {
            // Forget what is gone and no longer declared.
            inv.retain(|i| declared.contains(i) || after_ids.contains(i) && !protect.contains(i));
        }
        if leader {
            let mut readies: BTreeMap<String, status::Ready> = BTreeMap::new();
            for r in resources.iter().filter(|r| !r.deleting) {
                let key = r.key();
                let ready = match built.verdicts.get(&key) {
                    Some(Verdict::Accepted) | None => match failures.get(&key) {
                        Some(m) => status::Ready::apply_failed(m),
                        None => status::Ready::applied(),
                    },
                    Some(v) => status::Ready::rejected(v),
                };
                readies.insert(key, ready);
            }
            self.write_statuses(&resources, &readies, Some((&live_after, &per_resource))).await;
            for (res, type_, reason, note) in events {
                if let Some(r) = resources.iter().find(|r| r.key() == res) {
                    self.event(r, type_, &reason, &note).await;
                }
            }
            self.finalizers(&resources, &deleting, &declared, &after_ids).await;
        }
        if let Some(why) = deletion_blocked {
            return PassResult::Retry("prune_blocked", why);
        }
        if report.failed() {
            return PassResult::Retry("apply_failed", format!("{} change(s) failed", failures.len().max(1)));
        }
        self.ready.store(true, Ordering::Release);
        PassResult::Done { writes: report.writes }
    }

    async fn write_statuses(
        &self,
        resources: &[Res],
        readies: &BTreeMap<String, status::Ready>,
        live: Option<(&LiveState, &BTreeMap<String, BTreeSet<String>>)>,
    ) {
        let mut objects: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut writes = Vec::new();
        for r in resources.iter().filter(|r| !r.deleting) {
            let Some(ready) = readies.get(&r.key()) else { continue };
            *objects.entry((r.kind.as_str().to_owned(), ready.reason.clone())).or_default() += 1;
            let old: ResourceStatus = serde_json::from_value(r.status.clone()).unwrap_or_default();
            let (ids, chain) = match (live, ready.ok) {
                (Some((l, per)), true) => status::gateway_rows(r, per.get(&r.key()), l),
                _ => (old.gateway_ids.clone(), old.chain.clone()),
            };
            let new = status::next(&old, r.generation, ready, ids, chain, &jiff::Timestamp::now().to_string());
            if new == old {
                continue;
            }
            let warn = old.conditions.first().map(|c| (&c.reason, &c.message)) != Some((&ready.reason, &ready.message))
                && !ready.ok;
            writes.push((r, new, warn.then_some(ready)));
        }
        if let Ok(mut o) = self.metrics.objects.lock() {
            *o = objects;
        }
        // Status writes in parallel (1,000 resources should not take 1,000 round trips).
        futures_util::stream::iter(writes)
            .for_each_concurrent(STATUS_WRITERS, |(r, new, warn)| async move {
                if let Some(ready) = warn {
                    self.event(r, EventType::Warning, &ready.reason, &ready.message).await;
                }
                let api = self.dyn_api(r.kind, Some(&r.namespace));
                let patch = json!({"status": new});
                if let Err(e) = api.patch_status(&r.name, &self.patch_params(), &Patch::Merge(&patch)).await {
                    tracing::warn!(resource = %r.key(), error = %e, "status update failed");
                }
            })
            .await;
    }

    async fn finalizers(
        &self,
        resources: &[Res],
        deleting: &[&Res],
        declared: &BTreeSet<String>,
        live: &BTreeSet<String>,
    ) {
        futures_util::stream::iter(
            resources.iter().filter(|r| !r.deleting && !r.finalizers.iter().any(|f| f == FINALIZER)),
        )
        .for_each_concurrent(STATUS_WRITERS, |r| async move {
            let mut list = r.finalizers.clone();
            list.push(FINALIZER.to_owned());
            self.patch_finalizers(r, list).await;
        })
        .await;
        for r in deleting.iter().filter(|r| r.finalizers.iter().any(|f| f == FINALIZER)) {
            let ids = desired::identities_of(&[*r]);
            let remaining: Vec<&String> = ids.iter().filter(|i| !declared.contains(*i) && live.contains(*i)).collect();
            if remaining.is_empty() {
                let list: Vec<String> = r.finalizers.iter().filter(|f| *f != FINALIZER).cloned().collect();
                self.event(r, EventType::Normal, "Deleted", "its gateway objects are deleted").await;
                self.patch_finalizers(r, list).await;
            } else {
                tracing::info!(resource = %r.key(), waiting_for = ?remaining, "finalizer waits for gateway cleanup");
            }
        }
    }

    async fn patch_finalizers(&self, r: &Res, list: Vec<String>) {
        let api = self.dyn_api(r.kind, Some(&r.namespace));
        let patch = json!({"metadata": {"finalizers": list}});
        if let Err(e) = api.patch(&r.name, &self.patch_params(), &Patch::Merge(&patch)).await {
            // A resource already gone has nothing left to finalize.
            if !matches!(&e, kube::Error::Api(ae) if ae.code == 404) {
                tracing::warn!(resource = %r.key(), error = %e, "finalizer update failed");
            }
        }
    }

    /// Patches name this replica as the field manager, so `managedFields` shows
    /// which replica wrote what.
    fn patch_params(&self) -> PatchParams {
        PatchParams { field_manager: Some(format!("switchyard-{}", self.cfg.lease.identity)), ..PatchParams::default() }
    }

    async fn event(&self, r: &Res, type_: EventType, reason: &str, note: &str) {
        let reference = ObjectReference {
            api_version: Some(desired::API_VERSION.to_owned()),
            kind: Some(r.kind.as_str().to_owned()),
            name: Some(r.name.clone()),
            namespace: Some(r.namespace.clone()),
            uid: Some(r.uid.clone()),
            ..ObjectReference::default()
        };
        let ev = KubeEvent {
            type_,
            reason: reason.chars().take(128).collect(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::debug!(error = %e, "event not recorded");
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` for `controller`.
///
/// # Errors
/// When serving fails.
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    controller: Arc<Controller>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let c1 = controller.clone();
    let c2 = controller;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let c = c1.clone();
                async move {
                    if c.ready.load(Ordering::Acquire) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "first sync not done")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let c = c2.clone();
                async move { c.metrics.render() }
            }),
        );
    axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await?;
    Ok(())
}
