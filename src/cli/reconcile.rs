//! Flags that `plan`, `apply`, `export` and `watch` share, and the admin client they
//! build. The work itself is in [`crate::apply::prepare`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::admin_client::http::{HttpAdminClient, Options};
pub use crate::apply::prepare::{Failure, PlanRequest, make_plan, provider_ids};

/// Flags that select the gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Gateway admin API base URL, ending in /api/llm-gateway.
    #[arg(long, env = "SWITCHYARD_GATEWAY", value_name = "URL")]
    pub gateway: String,
    /// Bearer token (a JWT with an admin role); passed as it is.
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Flags that shape a plan.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories (recursively); `-` reads stdin.
    #[arg(short = 'f', long = "filename", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Delete live objects of the kinds in the input that the input does not declare.
    #[arg(long)]
    pub prune: bool,
    /// Never delete this object (provider name, alias, smart alias or provider/model); repeatable.
    #[arg(long, value_name = "NAME")]
    pub protect: Vec<String>,
}

/// Builds the admin client.
///
/// # Errors
/// A bad URL.
pub fn client(g: &GatewayArgs, parallelism: usize) -> anyhow::Result<Arc<HttpAdminClient>> {
    let opts = Options { concurrency: parallelism.max(1), ..Options::default() };
    Ok(Arc::new(HttpAdminClient::new(&g.gateway, &g.token, opts).map_err(anyhow::Error::msg)?))
}

impl PlanArgs {
    /// The library form of these flags.
    #[must_use]
    pub fn request(&self) -> PlanRequest {
        PlanRequest { files: self.files.clone(), prune: self.prune, protect: self.protect.clone(), fingerprints: false }
    }
}
