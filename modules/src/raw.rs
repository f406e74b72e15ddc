//! `raw`: runs a command line through the host's shell, with nothing else around it.
//!
//! Ansible keeps `raw` for hosts that cannot run modules yet (no Python); rplay needs
//! nothing on the host, so `raw` is simply `sh -c LINE` (or `executable -c LINE`). What
//! the line does cannot be known without running it: the task always reports `changed`
//! and check mode skips it. It returns `rc`, `stdout` and `stderr`.
//!
//! ```yaml
//! - name: Bootstrap a minimal image
//!   raw: test -e /usr/bin/curl || (apt-get update && apt-get install -y curl)
//! ```

use crate::args::Args;
use crate::plan::{Plan, Step};
use crate::registry::{FreeForm, ModuleSpec};
use crate::transport::Exec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "raw",
    aliases: &["ansible.builtin.raw", "ansible.legacy.raw"],
    doc: include_str!("raw.rs"),
    free_form: Some(FreeForm {
        key: "free_form",
        inline_keys: &["executable"],
    }),
    build: crate::registry::build::<RawArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgs {
    /// The command line, as the shell reads it.
    #[serde(alias = "_raw_params")]
    pub free_form: String,
    /// The shell that runs the line (`/bin/bash`), called as `EXECUTABLE -c LINE`.
    #[serde(default)]
    pub executable: Option<String>,
}

impl Args for RawArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.free_form.trim().is_empty() {
            return Err(ArgError::new(
                "no command given (write `raw: command line`)",
            ));
        }
        Ok(())
    }
}

impl Module for RawArgs {
    fn plan<'a>(&'a self, _host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let shell = self
                .executable
                .clone()
                .unwrap_or_else(|| "/bin/sh".to_string());
            let exec = Exec::new([shell, "-c".to_string(), self.free_form.clone()]);
            Ok(
                Plan::change(format!("run {}", self.free_form), vec![Step::capture(exec)])
                    .unpredictable("a raw command's effect is only known by running it"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::Step;
    use crate::testing::Fixture;
    use crate::CheckSupport;
    use serde_json::json;

    #[tokio::test]
    async fn runs_the_line_through_the_shell() {
        let fixture = Fixture::new();
        let marker = fixture.path("marker");
        let plan = fixture
            .plan(
                "ansible.builtin.raw",
                json!({ "_raw_params": format!("echo one > '{marker}' && echo two >> '{marker}'") }),
            )
            .await
            .unwrap();
        assert!(matches!(plan.check, CheckSupport::Unpredictable(_)));
        assert!(matches!(&plan.steps[0], Step::Run { capture: true, .. }));
        fixture.apply(&plan).await;
        assert_eq!(fixture.read("marker"), b"one\ntwo\n");
    }

    #[tokio::test]
    async fn uses_the_given_executable() {
        let fixture = Fixture::new();
        let marker = fixture.path("shell");
        let plan = fixture
            .plan(
                "raw",
                json!({ "free_form": format!("echo \"$BASH_VERSION\" > '{marker}'"), "executable": "/bin/bash" }),
            )
            .await
            .unwrap();
        fixture.apply(&plan).await;
        assert!(!String::from_utf8_lossy(&fixture.read("shell"))
            .trim()
            .is_empty());
        assert!(fixture
            .plan("raw", json!({ "free_form": " " }))
            .await
            .is_err());
    }
}
