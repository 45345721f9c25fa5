//! The only code that writes to a gateway: [`execute`] runs a [`Plan`]'s admin calls
//! through an [`AdminApi`], in dependency order (providers, enablements, aliases,
//! smart models; deletes in reverse), independent changes in parallel.
//!
//! Guarantees: a change whose call fails stops only the changes that depend on it
//! (they are reported as skipped); everything else still runs. Running the same
//! desired state again after a failure converges, because a fresh plan is computed
//! from what the gateway then holds.

pub mod prepare;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use uuid::Uuid;

use crate::admin_client::{AdminApi, AdminError};
use crate::plan::{Action, Change, KeyRef, ObjectKind, Op, Plan, sha256_hex};

/// Resolves a key reference (`env:VAR`, `secret:name/key`) to its value.
pub trait SecretResolver: Send + Sync {
    /// The value.
    ///
    /// # Errors
    /// A message when it cannot be resolved.
    fn resolve(&self, reference: &str) -> Result<String, String>;
}

/// Resolves `env:VAR` from the process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSecrets;

impl SecretResolver for EnvSecrets {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        match reference.strip_prefix("env:") {
            Some(var) => std::env::var(var).map_err(|_| format!("environment variable {var} is not set")),
            None => Err(format!("{reference} cannot be resolved here (only env: references)")),
        }
    }
}

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every call succeeded.
    Applied,
    /// A call failed with this message.
    Failed(String),
    /// Not attempted because a change it depends on failed.
    Skipped(String),
}

/// The result of an apply.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// (kind, identity, action, outcome) in plan order.
    pub results: Vec<(ObjectKind, String, Action, Outcome)>,
    /// Admin API writes made.
    pub writes: usize,
}

impl Report {
    /// Whether any change failed or was skipped.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| !matches!(r.3, Outcome::Applied))
    }

    /// Counts of (applied, failed, skipped).
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.3 {
                Outcome::Applied => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
            }
        }
        c
    }
}

/// How to run.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Changes in flight at once.
    pub parallelism: usize,
    /// Called after each change finishes with (done, total).
    pub progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { parallelism: 8, progress: None }
    }
}

/// Dependency edges between the plan's changes: `deps[i]` must finish first.
#[must_use]
pub fn dependencies(changes: &[Change]) -> Vec<BTreeSet<usize>> {
    let mut by_identity: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        by_identity.entry(c.identity.as_str()).or_default().push(i);
    }
    let kind_indexes = |kind: ObjectKind| -> Vec<usize> {
        changes.iter().enumerate().filter(|(_, c)| c.kind == kind).map(|(i, _)| i).collect()
    };
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut deps = BTreeSet::new();
            if c.action == Action::Delete {
                match c.kind {
                    ObjectKind::SmartModel => {}
                    ObjectKind::Alias => deps.extend(kind_indexes(ObjectKind::SmartModel)),
                    ObjectKind::Enablement => deps.extend(kind_indexes(ObjectKind::Alias)),
                    ObjectKind::Provider => {
                        deps.extend(kind_indexes(ObjectKind::Alias));
                        let prefix = format!("{}/", c.identity);
                        deps.extend(
                            changes
                                .iter()
                                .enumerate()
                                .filter(|(_, d)| d.kind == ObjectKind::Enablement && d.identity.starts_with(&prefix))
                                .map(|(j, _)| j),
                        );
                    }
                }
            } else {
                for name in &c.needs {
                    for &j in by_identity.get(name.as_str()).into_iter().flatten() {
                        if changes[j].action != Action::Delete {
                            deps.insert(j);
                        }
                    }
                }
                // A name freed by a delete may be reused by a create.
                for &j in by_identity.get(c.identity.as_str()).into_iter().flatten() {
                    if changes[j].action == Action::Delete {
                        deps.insert(j);
                    }
                }
            }
            deps.remove(&i);
            deps
        })
        .collect()
}

/// Runs the plan. `provider_ids` maps the names of providers that already exist on the
/// gateway to their ids (creates add to it as they run).
pub async fn execute(
    plan: Plan,
    api: Arc<dyn AdminApi>,
    secrets: Arc<dyn SecretResolver>,
    provider_ids: HashMap<String, Uuid>,
    opts: ApplyOptions,
) -> Report {
    // Shared, not copied: tasks address changes by index.
    let changes: Arc<Vec<Change>> = Arc::new(plan.changes);
    let deps = dependencies(&changes);
    let n = changes.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(i);
        }
    }
    let ids = Arc::new(Mutex::new(provider_ids));
    let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut ready: Vec<usize> = (0..n).filter(|i| waiting[*i] == 0).rev().collect();
    let mut running = JoinSet::new();
    let mut writes = 0usize;
    let mut gave_up = false;
    let parallelism = opts.parallelism.max(1);
    loop {
        while running.len() < parallelism {
            let Some(i) = ready.pop() else { break };
            let (changes, api, secrets, ids) = (changes.clone(), api.clone(), secrets.clone(), ids.clone());
            running.spawn(async move {
                let (outcome, made, unreachable) = run_change(&changes[i], api.as_ref(), secrets.as_ref(), &ids).await;
                (i, outcome, made, unreachable)
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let (i, outcome, made, unreachable) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "apply task panicked");
                continue;
            }
        };
        writes += made;
        let ok = outcome == Outcome::Applied;
        outcomes.insert(i, outcome);
        if ok {
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 && !outcomes.contains_key(&d) {
                    ready.push(d);
                }
            }
        } else {
            // Skip everything downstream.
            let mut stack = dependents[i].clone();
            while let Some(d) = stack.pop() {
                if outcomes.contains_key(&d) {
                    continue;
                }
                outcomes.insert(
                    d,
                    Outcome::Skipped(format!("{} {} failed", changes[i].kind.as_str(), changes[i].identity)),
                );
                stack.extend(dependents[d].iter().copied());
            }
        }
        if unreachable && !gave_up {
            // The client already retried with backoff: stop starting new changes
            // rather than retrying each of them against a gateway that is gone.
            gave_up = true;
            for d in ready.drain(..) {
                outcomes.entry(d).or_insert_with(|| Outcome::Skipped("the gateway became unreachable".into()));
            }
        }
        if gave_up {
            ready.clear();
        }
        if let Some(p) = &opts.progress {
            p(outcomes.len(), n);
        }
    }
    let results = changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let outcome = outcomes.remove(&i).unwrap_or_else(|| {
                Outcome::Skipped(if gave_up { "the gateway became unreachable".into() } else { "not reached".into() })
            });
            (c.kind, c.identity.clone(), c.action, outcome)
        })
        .collect();
    Report { results, writes }
}

fn resolve_key(secrets: &dyn SecretResolver, key: &KeyRef, provider: &str) -> Result<String, String> {
    let value = secrets.resolve(&key.reference).map_err(|e| format!("apiKey of provider {provider}: {e}"))?;
    if sha256_hex(value.as_bytes()) != key.sha256 {
        return Err(format!(
            "apiKey of provider {provider} ({}) changed since the plan was made; plan again",
            key.reference
        ));
    }
    Ok(value)
}

/// Why one call failed.
enum OpError {
    /// The gateway refused or could not be reached.
    Api(AdminError),
    /// Something on our side (a key, a missing provider id).
    Local(String),
}

impl From<AdminError> for OpError {
    fn from(e: AdminError) -> Self {
        Self::Api(e)
    }
}

impl From<String> for OpError {
    fn from(e: String) -> Self {
        Self::Local(e)
    }
}

impl OpError {
    fn message(&self) -> String {
        match self {
            Self::Api(e) => match e.hint() {
                Some(h) => format!("{e} (hint: {h})"),
                None => e.to_string(),
            },
            Self::Local(m) => m.clone(),
        }
    }
}

/// Runs one change's calls in order: (outcome, writes made, gateway unreachable).
async fn run_change(
    change: &Change,
    api: &dyn AdminApi,
    secrets: &dyn SecretResolver,
    ids: &Mutex<HashMap<String, Uuid>>,
) -> (Outcome, usize, bool) {
    let mut writes = 0;
    for op in &change.ops {
        let result: Result<(), OpError> = async {
            match op {
                Op::CreateProvider { body, api_key } => {
                    let mut body = body.clone();
                    body.api_key = api_key.as_ref().map(|k| resolve_key(secrets, k, &body.name)).transpose()?;
                    let p = api.create_provider(&body).await?;
                    if let Ok(mut m) = ids.lock() {
                        m.insert(p.name.clone(), p.id);
                    }
                }
                Op::UpdateProvider { id, body, api_key } => {
                    let mut body = body.clone();
                    body.api_key = api_key.as_ref().map(|k| resolve_key(secrets, k, &change.identity)).transpose()?;
                    api.update_provider(*id, &body).await?;
                }
                Op::DeleteProvider { id } => api.delete_provider(*id).await?,
                Op::CreateRoute(new) => {
                    let id = ids
                        .lock()
                        .ok()
                        .and_then(|m| m.get(&new.provider).copied())
                        .ok_or_else(|| format!("provider {} does not exist on the gateway", new.provider))?;
                    let mut body = new.body.clone();
                    body.provider_id = id;
                    api.create_route(&body).await?;
                }
                Op::UpdateRoute { id, body } => {
                    api.update_route(*id, body).await?;
                }
                Op::DeleteRoute { id } => api.delete_route(*id).await?,
                Op::Reorder { body } => api.reorder(body).await?,
                Op::CreateSmartModel { body } => {
                    api.create_smart_model(body).await?;
                }
                Op::UpdateSmartModel { id, body } => {
                    api.update_smart_model(*id, body).await?;
                }
                Op::DeleteSmartModel { id } => api.delete_smart_model(*id).await?,
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => writes += 1,
            Err(e) => {
                let unreachable = matches!(e, OpError::Api(AdminError::Unreachable(_)));
                return (Outcome::Failed(e.message()), writes, unreachable);
            }
        }
    }
    (Outcome::Applied, writes, false)
}
