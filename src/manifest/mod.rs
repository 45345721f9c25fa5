//! Loading manifests: files, directories and stdin into validated [`crate::model`]
//! types, with every problem reported at `file:line:col` with its field path.
//!
//! Owns the YAML tree with positions, the CRD types, schema generation and the YAML
//! emitter. Must not talk to a gateway or a cluster.

pub mod convert;
pub mod crd;
pub mod de;
pub mod diagnostic;
pub mod emit;
pub mod load;
pub mod schema_check;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use load::{Loaded, Source, load_paths, load_sources, parse_paths, parse_sources};
