//! Loading, reading the gateway and planning, as `plan`, `apply`, `watch` (and the
//! controller) share it: manifests are checked on their own first (no gateway call
//! for invalid input), then references are checked against the live state, API keys
//! are resolved to references and hashes, and the plan is made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use uuid::Uuid;

use crate::admin_client::{AdminApi, AdminError, LiveState};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::{Loaded, parse_paths};
use crate::model::{ExternalNames, SecretRef};
use crate::plan::{KeyRef, Plan, PlanOptions, plan, sha256_hex};

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Manifest files and directories (`-` = stdin).
    pub files: Vec<PathBuf>,
    /// Delete undeclared objects of the input's kinds.
    pub prune: bool,
    /// Names never deleted.
    pub protect: Vec<String>,
    /// Compute the digests a saved plan carries.
    pub fingerprints: bool,
}

/// Why a reconcile step failed.
#[derive(Debug)]
pub enum Failure {
    /// Manifests are invalid (nothing was sent to the gateway).
    Invalid(Vec<Diagnostic>),
    /// The gateway refused or could not be reached.
    Gateway(AdminError),
    /// The plan cannot be made (with reasons).
    Plan(Vec<String>),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(d) => f.write_str(crate::manifest::diagnostic::render_text(d).trim_end()),
            Self::Gateway(e) => {
                write!(f, "error: {e}")?;
                if let Some(h) = e.hint() {
                    write!(f, "\n  hint: {h}")?;
                }
                Ok(())
            }
            Self::Plan(errors) => {
                for e in errors {
                    writeln!(f, "error: {e}")?;
                }
                write!(f, "error: the plan cannot be made; nothing was changed")
            }
        }
    }
}

/// Names on the live gateway that manifests may reference without declaring.
#[must_use]
pub fn external_names(live: &LiveState) -> ExternalNames {
    let mut ext = ExternalNames::default();
    let names: HashMap<Uuid, &str> = live.providers.iter().map(|p| (p.id, p.name.as_str())).collect();
    for p in &live.providers {
        ext.enablements.entry(p.name.clone()).or_default();
    }
    for r in &live.routes {
        let provider = names.get(&r.provider_id).copied().unwrap_or("?");
        if r.model_alias == r.upstream_model {
            ext.enablements.entry(provider.to_owned()).or_default().insert(r.upstream_model.clone());
        }
        if r.bare_alias {
            ext.aliases.insert(r.model_alias.clone());
        }
    }
    for s in &live.smart_models {
        ext.aliases.insert(s.model_alias.clone());
    }
    ext
}

/// Key reference and hash per provider name, plus warnings.
pub type ResolvedKeys = (BTreeMap<String, KeyRef>, Vec<String>);

/// Resolves every declared `fromEnv` key to a reference and hash. `secretKeyRef` keys
/// are left to the controller (returned as warnings).
///
/// # Errors
/// A diagnostic per unset environment variable.
pub fn resolve_keys(loaded: &Loaded) -> Result<ResolvedKeys, Vec<Diagnostic>> {
    let mut keys = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut diags = Vec::new();
    for p in &loaded.state.providers {
        match &p.api_key {
            None => {}
            Some(SecretRef::FromEnv(var)) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => {
                    keys.insert(p.name.clone(), KeyRef { reference: format!("env:{var}"), sha256: sha256_hex(v.as_bytes()) });
                }
                _ => {
                    let pos = loaded.position(p.origin.doc, "spec.apiKey.fromEnv");
                    let (file, rest) = pos.split_once(':').unwrap_or((&pos, "0:0"));
                    let (line, col) = rest.split_once(':').unwrap_or(("0", "0"));
                    diags.push(Diagnostic {
                        file: file.to_owned(),
                        line: line.parse().unwrap_or(0),
                        column: col.parse().unwrap_or(0),
                        path: Some("spec.apiKey.fromEnv".into()),
                        message: format!("environment variable {var} is not set (provider `{}`)", p.name),
                        expected: Some("the API key in that variable".into()),
                        hint: Some(format!("export {var}=... before running switchyard")),
                    });
                }
            },
            Some(r @ SecretRef::SecretKeyRef { .. }) => warnings.push(format!(
                "provider `{}`: apiKey {r} is read by the controller in Kubernetes; the CLI leaves the key on the gateway as it is",
                p.name
            )),
        }
    }
    if diags.is_empty() { Ok((keys, warnings)) } else { Err(diags) }
}

/// Everything planned in one go.
pub struct Planned {
    /// The live state the plan was made from.
    pub live: LiveState,
    /// The plan.
    pub plan: Plan,
}

/// Loads the manifests, reads the gateway, and plans.
///
/// # Errors
/// See [`Failure`].
pub async fn make_plan(args: &PlanRequest, gateway: &str, api: &dyn AdminApi) -> Result<Planned, Failure> {
    let t = std::time::Instant::now();
    let loaded = parse_paths(&args.files).map_err(Failure::Invalid)?;
    let (keys, warnings) = resolve_keys(&loaded).map_err(Failure::Invalid)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    tracing::debug!(elapsed = ?t.elapsed(), documents = loaded.documents.len(), "manifests loaded");
    let t = std::time::Instant::now();
    let live = api.live_state().await.map_err(Failure::Gateway)?;
    tracing::debug!(elapsed = ?t.elapsed(), routes = live.routes.len(), "live state read");
    let t = std::time::Instant::now();
    loaded.check_references(&external_names(&live)).map_err(Failure::Invalid)?;
    tracing::debug!(elapsed = ?t.elapsed(), "references checked");
    // Positions were only needed for diagnostics: free the YAML trees before planning
    // (they are the largest part of a big desired state).
    let kinds = loaded.kinds();
    let state = loaded.state;
    drop(loaded.documents);
    let opts = PlanOptions {
        gateway: gateway.to_owned(),
        prune: args.prune,
        kinds,
        protect: args.protect.iter().cloned().collect::<BTreeSet<_>>(),
        fingerprints: args.fingerprints,
    };
    let t = std::time::Instant::now();
    let plan = plan(&state, &keys, &live, &opts).map_err(Failure::Plan)?;
    tracing::debug!(elapsed = ?t.elapsed(), changes = plan.changes.len(), "planned");
    Ok(Planned { live, plan })
}

/// Provider name -> id on the live gateway.
#[must_use]
pub fn provider_ids(live: &LiveState) -> HashMap<String, Uuid> {
    live.providers.iter().map(|p| (p.name.clone(), p.id)).collect()
}
