//! The plan: what will change, as objects a person reads and as the exact admin API
//! calls `apply` will make. Serializable: a saved plan is this, as JSON.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api;

/// Version of the saved-plan and `--output json` format.
pub const FORMAT_VERSION: u32 = 1;

/// What kind of object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A provider row.
    Provider,
    /// A 1:1 enablement (`provider/model`).
    Enablement,
    /// A custom alias and its failover chain.
    Alias,
    /// A smart model.
    SmartModel,
}

impl ObjectKind {
    /// Human-readable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Enablement => "enablement",
            Self::Alias => "alias",
            Self::SmartModel => "smart model",
        }
    }
}

/// Create, update or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Deleted (listed first).
    Delete,
    /// Created.
    Create,
    /// Changed in place.
    Update,
}

/// A reference to an API key: where it comes from and a hash of its value. The value
/// itself is resolved again at apply time and must still hash the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    /// `env:VAR` or `secret:name/key`.
    pub reference: String,
    /// Hex SHA-256 of the value.
    pub sha256: String,
}

/// A route row to create, addressed by provider name (its id may not exist yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRoute {
    /// Provider name.
    pub provider: String,
    /// Body, with `provider_id` filled in at apply time.
    pub body: api::RouteCreate,
}

/// One admin API call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `POST /admin/providers` (without `models`; enablements are their own ops).
    CreateProvider {
        /// Body without the key.
        body: api::ProviderCreate,
        /// Key to send, resolved at apply time.
        api_key: Option<KeyRef>,
    },
    /// `PUT /admin/providers/{id}`.
    UpdateProvider {
        /// Provider id.
        id: Uuid,
        /// Body without the key.
        body: api::ProviderUpdate,
        /// New key, when it changed.
        api_key: Option<KeyRef>,
    },
    /// `DELETE /admin/providers/{id}`.
    DeleteProvider {
        /// Provider id.
        id: Uuid,
    },
    /// `POST /admin/model-mappings`.
    CreateRoute(NewRoute),
    /// `PUT /admin/model-mappings/{id}`.
    UpdateRoute {
        /// Route id.
        id: Uuid,
        /// Changed fields only.
        body: api::RouteUpdate,
    },
    /// `DELETE /admin/model-mappings/{id}`.
    DeleteRoute {
        /// Route id.
        id: Uuid,
    },
    /// `PUT /admin/model-mappings/reorder` for one alias's existing rows.
    Reorder {
        /// New priorities.
        body: api::Reorder,
    },
    /// `POST /admin/smart-models`.
    CreateSmartModel {
        /// Body.
        body: api::SmartModelCreate,
    },
    /// `PUT /admin/smart-models/{id}`.
    UpdateSmartModel {
        /// Smart model id.
        id: Uuid,
        /// Changed fields only.
        body: api::SmartModelUpdate,
    },
    /// `DELETE /admin/smart-models/{id}`.
    DeleteSmartModel {
        /// Smart model id.
        id: Uuid,
    },
}

/// One object's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Object kind.
    pub kind: ObjectKind,
    /// Identity: provider name, `provider/model`, alias, or smart alias.
    pub identity: String,
    /// What happens.
    pub action: Action,
    /// The live object (manifest vocabulary, secrets as references and hashes).
    pub before: Option<serde_json::Value>,
    /// The desired object (same vocabulary).
    pub after: Option<serde_json::Value>,
    /// The calls, in the order they run.
    pub ops: Vec<Op>,
    /// Names this change needs to exist first (providers, `provider/model`, aliases).
    #[serde(default)]
    pub needs: Vec<String>,
}

/// A live object `--prune` would have deleted but did not because it is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// Object kind.
    pub kind: ObjectKind,
    /// Identity.
    pub identity: String,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Objects created.
    pub create: usize,
    /// Objects updated.
    pub update: usize,
    /// Objects deleted.
    pub delete: usize,
}

/// Everything `apply` needs, and what a person reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Gateway base URL the plan was made against.
    pub gateway: String,
    /// The org's config generation when the live state was read (if reported).
    pub generation: Option<u64>,
    /// SHA-256 of the live state that was read.
    pub live_fingerprint: String,
    /// SHA-256 of the desired state (including key hashes).
    pub desired_digest: String,
    /// Whether deletes of undeclared objects were planned.
    pub prune: bool,
    /// Changes: deletes first, then creates and updates in apply order.
    pub changes: Vec<Change>,
    /// Protected objects that were not deleted.
    #[serde(default)]
    pub kept: Vec<Kept>,
    /// Counts.
    pub summary: Summary,
}

impl Plan {
    /// Whether nothing would change.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of admin API writes `apply` will make.
    #[must_use]
    pub fn write_count(&self) -> usize {
        self.changes.iter().map(|c| c.ops.len()).sum()
    }
}

/// A plan saved to a file, sealed with a digest so edits are detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// The plan.
    pub plan: Plan,
    /// SHA-256 of the plan's canonical JSON.
    pub plan_digest: String,
}
