//! The domain model: providers, aliases with failover chains, smart models, and the
//! rules that make a set of them valid.
//!
//! Pure: no IO, no Kubernetes, HTTP or storage types. The loader (`manifest`) builds
//! these types from YAML; the gateway reuses the ranges and name rules.

pub mod digest;
pub mod limits;
pub mod names;
pub mod path;
pub mod suggest;
pub mod types;
pub mod validate;

pub use path::{FieldPath, Seg};
pub use types::*;
pub use validate::{ExternalNames, Violation, validate_set};
