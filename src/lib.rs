//! switchyard: declarative model routing for LLM gateways.
//!
//! Crate map (dependencies point one way):
//! - [`model`]: domain types and validation rules; pure.
//! - [`manifest`]: YAML and CRD loading with file:line provenance; the CRD types.
//! - [`cli`]: clap definitions and subcommand entry points.

pub mod cli;
pub mod manifest;
pub mod model;
