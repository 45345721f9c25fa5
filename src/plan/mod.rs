//! Planning: desired state x live state -> [`Plan`], and the plan's renderings.
//!
//! Pure and deterministic: no IO (secrets arrive already resolved to a reference
//! and a hash, the live state arrives already read). `apply` is the only consumer
//! that turns a plan into writes.

pub mod engine;
pub mod export;
pub mod render;
pub mod types;

pub use engine::{PlanOptions, plan, sha256_hex};
pub use types::*;

/// Seals a plan for saving: the digest covers the whole plan.
#[must_use]
pub fn seal(plan: Plan) -> SavedPlan {
    let plan_digest = sha256_hex(serde_json::to_string(&plan).unwrap_or_default().as_bytes());
    SavedPlan { plan, plan_digest }
}

/// Reads a saved plan and checks its seal and format version.
///
/// # Errors
/// A message when the file is not a saved plan, was edited, or has another version.
pub fn unseal(text: &str) -> Result<Plan, String> {
    let saved: SavedPlan = serde_json::from_str(text).map_err(|e| format!("not a switchyard saved plan: {e}"))?;
    if saved.plan.format_version != FORMAT_VERSION {
        return Err(format!(
            "saved plan has format_version {}, this switchyard reads {FORMAT_VERSION}",
            saved.plan.format_version
        ));
    }
    let digest = sha256_hex(serde_json::to_string(&saved.plan).unwrap_or_default().as_bytes());
    if digest != saved.plan_digest {
        return Err("saved plan was modified after it was written (its digest does not match); run `switchyard plan --out` again".into());
    }
    Ok(saved.plan)
}
