//! `dpkg_selections`: sets a package's dpkg selection, most often to hold it at its
//! version (`hold`) or release it (`install`).
//!
//! The current selection is read with `dpkg --get-selections NAME`; nothing needs doing
//! when it is already the one asked for. The change is `dpkg --set-selections`, fed
//! `NAME SELECTION` on standard input. No package is installed or removed: that is the
//! `apt` module's work.
//!
//! ```yaml
//! - name: Hold the Kubernetes tools at their version
//!   dpkg_selections:
//!     name: "{{ item }}"
//!     selection: hold
//!   loop: [kubelet, kubeadm, kubectl]
//! ```

use crate::args::Args;
use crate::dpkg::apt_exec;
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "dpkg_selections",
    aliases: &[
        "ansible.builtin.dpkg_selections",
        "ansible.legacy.dpkg_selections",
    ],
    doc: include_str!("dpkg_selections.rs"),
    free_form: None,
    build: crate::registry::build::<DpkgSelectionsArgs>,
};

/// A dpkg selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    Install,
    Hold,
    Deinstall,
    Purge,
}

impl Selection {
    fn as_str(self) -> &'static str {
        match self {
            Selection::Install => "install",
            Selection::Hold => "hold",
            Selection::Deinstall => "deinstall",
            Selection::Purge => "purge",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpkgSelectionsArgs {
    /// The package, optionally with its architecture (`libc6:i386`).
    pub name: String,
    /// `install`, `hold`, `deinstall` or `purge`.
    pub selection: Selection,
}

impl Args for DpkgSelectionsArgs {}

/// What `dpkg --get-selections NAME` answered: the selection, `not present` for a package
/// dpkg knows of without a selection, or `None` for one it has never heard of.
fn current_selection(stdout: &str, stderr: &str) -> Option<String> {
    if stderr.contains("no packages found matching") {
        return None;
    }
    Some(
        stdout
            .split_whitespace()
            .nth(1)
            .unwrap_or("not present")
            .to_string(),
    )
}

impl Module for DpkgSelectionsArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let name = &self.name;
            let wanted = self.selection.as_str();
            let output = host
                .transport
                .run(&apt_exec(vec![
                    "dpkg".to_string(),
                    "--get-selections".to_string(),
                    name.clone(),
                ]))
                .await?;
            let stderr = output.stderr_text();
            let Some(current) = current_selection(&output.stdout_text(), &stderr) else {
                return Ok(Plan::fail(format!(
                    "Failed to find package '{name}' to perform selection '{wanted}'."
                )));
            };
            if !output.success() {
                return Err(ModuleError::failed(format!(
                    "dpkg --get-selections {name} failed: {}",
                    stderr.trim()
                )));
            }
            let plan = if current == wanted {
                Plan::ok(format!("{name} is already selected for {wanted}"))
            } else {
                let exec = apt_exec(vec!["dpkg".to_string(), "--set-selections".to_string()])
                    .stdin(format!("{name} {wanted}\n"));
                Plan::change(
                    format!("{name}: {current} -> {wanted}"),
                    vec![Step::run(exec)],
                )
                .with_diff(Diff {
                    path: format!("dpkg selection of {name}"),
                    before: format!("{current}\n"),
                    after: format!("{wanted}\n"),
                })
            };
            Ok(plan.with("before", current).with("after", wanted))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_get_selections() {
        assert_eq!(
            current_selection("kubelet\t\t\t\t\thold\n", "").as_deref(),
            Some("hold")
        );
        assert_eq!(current_selection("", "").as_deref(), Some("not present"));
        assert_eq!(
            current_selection("", "dpkg: no packages found matching nope\n"),
            None
        );
    }

    #[tokio::test]
    async fn reads_this_machine_without_changing_it() {
        // Planning only runs `dpkg --get-selections`; dpkg is installed and selected here.
        let fixture = crate::testing::Fixture::new();
        let plan = fixture
            .plan(
                "dpkg_selections",
                serde_json::json!({"name": "dpkg", "selection": "install"}),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(plan.result["before"], "install");
        let plan = fixture
            .plan(
                "dpkg_selections",
                serde_json::json!({"name": "no-such-package-rplay", "selection": "hold"}),
            )
            .await
            .unwrap();
        assert_eq!(
            plan.failure.as_deref(),
            Some("Failed to find package 'no-such-package-rplay' to perform selection 'hold'.")
        );
    }
}
