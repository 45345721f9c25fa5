//! switchyard: declarative model routing for LLM gateways.
//!
//! Crate map (dependencies point one way):
//! - [`model`]: domain types and validation rules; pure.
//! - [`manifest`]: YAML and CRD loading with file:line provenance; the CRD types.
//! - [`api`]: the Barndoor-compatible admin API's wire types.
//! - [`gateway`]: `switchyard gateway` (admin API, store, metrics).
//! - [`cli`]: clap definitions and subcommand entry points.

pub mod api;
pub mod cli;
pub mod gateway;
pub mod manifest;
pub mod model;
