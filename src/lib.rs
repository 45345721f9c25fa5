//! switchyard: declarative model routing for LLM gateways.
//!
//! Crate map (dependencies point one way):
//! - [`model`]: domain types and validation rules; pure.
//! - [`manifest`]: YAML and CRD loading with file:line provenance; the CRD types.
//! - [`admin_client`]: `AdminApi` and its HTTP client (the reconciler's view of a gateway).
//! - [`api`]: the Barndoor-compatible admin API's wire types.
//! - [`gateway`]: `switchyard gateway` (admin API, store, metrics).
//! - [`plan`]: desired x live -> Plan, and its text/JSON/Markdown renderings; pure.
//! - [`apply`]: the only code that writes to a gateway: executes a Plan through `AdminApi`.
//! - [`watch`]: file events and a timer -> plan -> apply.
//! - [`controller`]: Kubernetes resources -> plan -> apply, with status and finalizers.
//! - [`up`]: gateway + mock upstream + watch in one process (`switchyard up`).
//! - [`cli`]: clap definitions and subcommand entry points.

pub mod admin_client;
pub mod api;
pub mod apply;
pub mod cli;
pub mod controller;
pub mod gateway;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod up;
pub mod watch;
