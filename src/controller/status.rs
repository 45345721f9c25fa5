//! Status of one resource in the Kubernetes convention: `observedGeneration`, the
//! `Ready` and `Synced` conditions (a transition time that only moves when the
//! condition's status changes), the gateway ids of its rows and, for a ModelRoute, the
//! chain the gateway serves. Pure.

use std::collections::{BTreeSet, HashMap};

use super::desired::{Res, Verdict};
use crate::admin_client::LiveState;
use crate::manifest::crd::{ChainEntry, Condition, Kind, ResourceStatus};

/// The outcome for one resource in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Serving as declared.
    pub ok: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Ready {
    /// Applied and serving.
    #[must_use]
    pub fn applied() -> Self {
        Self { ok: true, reason: "Applied".into(), message: "the gateway serves this resource as declared".into() }
    }
    /// A gateway call for it failed.
    #[must_use]
    pub fn apply_failed(message: &str) -> Self {
        Self { ok: false, reason: "ApplyFailed".into(), message: message.to_owned() }
    }
    /// The gateway could not be reached.
    #[must_use]
    pub fn gateway_down(message: &str) -> Self {
        Self { ok: false, reason: "GatewayUnavailable".into(), message: message.to_owned() }
    }
    /// Not applied because of its verdict.
    #[must_use]
    pub fn rejected(v: &Verdict) -> Self {
        let (reason, message) = match v {
            Verdict::Accepted => return Self::applied(),
            Verdict::Invalid(m) => ("ValidationFailed", m.clone()),
            Verdict::SecretMissing(m) => ("SecretNotFound", m.clone()),
            Verdict::Waiting(m) => ("WaitingForDependency", m.clone()),
            Verdict::Conflict(m) => ("Conflict", format!("{m}; an older resource claims this name and keeps serving")),
        };
        Self { ok: false, reason: reason.into(), message: format!("{message}; nothing was applied for this resource") }
    }
}

fn condition(
    old: &ResourceStatus,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    let since = old
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// The status after a pass.
#[must_use]
pub fn next(
    old: &ResourceStatus,
    generation: Option<i64>,
    ready: &Ready,
    gateway_ids: Vec<String>,
    chain: Vec<ChainEntry>,
    now: &str,
) -> ResourceStatus {
    let status = if ready.ok { "True" } else { "False" };
    let (synced_reason, synced_message) = if ready.ok {
        ("Reconciled", format!("generation {} is applied", generation.unwrap_or(0)))
    } else {
        (ready.reason.as_str(), ready.message.clone())
    };
    ResourceStatus {
        observed_generation: generation,
        conditions: vec![
            condition(old, "Ready", status, &ready.reason, &ready.message, generation, now),
            condition(old, "Synced", status, synced_reason, &synced_message, generation, now),
        ],
        gateway_ids,
        chain,
    }
}

/// The gateway ids of a resource's rows and (ModelRoute) the served chain.
#[must_use]
pub fn gateway_rows(
    r: &Res,
    identities: Option<&BTreeSet<String>>,
    live: &LiveState,
) -> (Vec<String>, Vec<ChainEntry>) {
    let Some(ids) = identities else { return (Vec::new(), Vec::new()) };
    let names: HashMap<uuid::Uuid, &str> = live.providers.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mut out = Vec::new();
    let mut chain = Vec::new();
    match r.kind {
        Kind::Provider => {
            for p in live.providers.iter().filter(|p| ids.contains(&p.name)) {
                out.push(p.id.to_string());
                for row in
                    live.routes.iter().filter(|row| row.provider_id == p.id && row.model_alias == row.upstream_model)
                {
                    if ids.contains(&format!("{}/{}", p.name, row.upstream_model)) {
                        out.push(row.id.to_string());
                    }
                }
            }
        }
        Kind::ModelRoute => {
            let mut rows: Vec<_> = live
                .routes
                .iter()
                .filter(|row| ids.contains(&row.model_alias) && row.model_alias != row.upstream_model)
                .collect();
            rows.sort_by_key(|row| (row.priority, row.id));
            for row in rows {
                out.push(row.id.to_string());
                chain.push(ChainEntry {
                    priority: row.priority,
                    provider: names.get(&row.provider_id).copied().unwrap_or("?").to_owned(),
                    model: row.upstream_model.clone(),
                    enabled: row.enabled,
                });
            }
        }
        Kind::SmartModel => {
            out.extend(live.smart_models.iter().filter(|s| ids.contains(&s.model_alias)).map(|s| s.id.to_string()));
        }
    }
    (out, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let first = next(&ResourceStatus::default(), Some(1), &Ready::applied(), vec![], vec![], "t1");
        assert_eq!(first.conditions[0].type_, "Ready");
        assert_eq!(first.conditions[0].status, "True");
        assert_eq!(first.conditions[0].last_transition_time, "t1");
        assert_eq!(first.observed_generation, Some(1));
        let same = next(&first, Some(2), &Ready::applied(), vec![], vec![], "t2");
        assert_eq!(same.conditions[0].last_transition_time, "t1");
        assert_eq!(same.conditions[1].message, "generation 2 is applied");
        let failed =
            next(&same, Some(3), &Ready::rejected(&Verdict::Invalid("spec.x: bad".into())), vec![], vec![], "t3");
        assert_eq!(failed.conditions[0].status, "False");
        assert_eq!(failed.conditions[0].reason, "ValidationFailed");
        assert!(failed.conditions[0].message.starts_with("spec.x: bad"));
        assert_eq!(failed.conditions[0].last_transition_time, "t3");
        // Unchanged input gives an equal status (so no status write happens).
        assert_eq!(
            next(&failed, Some(3), &Ready::rejected(&Verdict::Invalid("spec.x: bad".into())), vec![], vec![], "t4"),
            failed
        );
    }

    #[test]
    fn reasons_per_verdict() {
        assert_eq!(Ready::rejected(&Verdict::Waiting("x".into())).reason, "WaitingForDependency");
        assert_eq!(Ready::rejected(&Verdict::Conflict("x".into())).reason, "Conflict");
        assert_eq!(Ready::rejected(&Verdict::SecretMissing("x".into())).reason, "SecretNotFound");
        assert!(Ready::rejected(&Verdict::Accepted).ok);
    }
}
