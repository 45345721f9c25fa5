//! Leader election over a `coordination.k8s.io/v1` Lease: every replica reconciles its
//! own gateway sidecar, but only the lease holder writes status, finalizers and
//! events. The holder renews every third of the lease duration; a replica takes over
//! when the lease has not been renewed for a whole duration. Updates carry the
//! lease's `resourceVersion`, so two replicas can never both win a takeover.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

/// Where the lease lives and who we are.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// Lease duration.
    pub duration: Duration,
}

/// One acquire-or-renew attempt. Returns whether we hold the lease afterwards.
///
/// # Errors
/// API errors other than a lost update race.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = jiff::Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX).max(1);
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(cfg.name.clone()), ..ObjectMeta::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let held_secs = i64::from(spec.lease_duration_seconds.unwrap_or(secs));
    let expired = spec.renew_time.as_ref().is_none_or(|t| t.0.as_second() + held_secs < now.as_second());
    if holder != cfg.identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    if holder != cfg.identity {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.holder_identity = Some(cfg.identity.clone());
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(secs);
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps `leader` up to date until `cancel`, calling `on_change` when it flips; on the
/// way out, gives the lease up if held.
pub async fn run(
    client: kube::Client,
    cfg: LeaseConfig,
    leader: Arc<AtomicBool>,
    on_change: impl Fn() + Send + 'static,
    cancel: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let period = (cfg.duration / 3).max(Duration::from_millis(200));
    loop {
        let held = match try_acquire(&api, &cfg).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "lease renewal failed");
                false
            }
        };
        if held != leader.swap(held, Ordering::AcqRel) {
            tracing::info!(identity = %cfg.identity, leader = held, "leadership changed");
            on_change();
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(period) => {}
        }
    }
    if leader.swap(false, Ordering::AcqRel) {
        // Let another replica take over at once instead of after a full duration.
        if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(cfg.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            let _ = api.replace(&cfg.name, &PostParams::default(), &lease).await;
        }
    }
}
