//! `ping`: proves the host answers commands; changes nothing.
//!
//! ```yaml
//! - ping:
//! ```

use crate::args::Args;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "ping",
    aliases: &["ansible.builtin.ping"],
    doc: include_str!("ping.rs"),
    free_form: None,
    build: crate::registry::build::<PingArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingArgs {
    /// The word returned in `ping`; `crash` makes the task fail, as in Ansible.
    #[serde(default = "pong")]
    pub data: String,
}

fn pong() -> String {
    "pong".to_string()
}

impl Args for PingArgs {}

impl Module for PingArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let output = host.transport.run(&Exec::new(["true"])).await?;
            if !output.success() {
                return Err(ModuleError::failed(format!(
                    "the host runs commands but `true` exited {}",
                    output.rc
                )));
            }
            if self.data == "crash" {
                return Err(ModuleError::failed("boom"));
            }
            Ok(Plan::ok("the host answers").with("ping", self.data.clone()))
        })
    }
}
