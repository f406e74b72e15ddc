//! `shell`: runs a script through `/bin/sh -c` (or `executable`).
//!
//! The only module where the user's string is a shell script; every other module passes
//! argv. Like `command`, the outcome is unknown until it runs: it reports `changed`, check
//! mode skips it, and `creates`/`removes` make it a no-op.
//!
//! ```yaml
//! - name: Turn swap off
//!   shell: swapoff -a && sed -i '/ swap / s/^/#/' /etc/fstab
//! ```

use crate::args::{ansible_bool, Args};
use crate::command::{plan_run, stdin_bytes, INLINE_KEYS};
use crate::plan::Plan;
use crate::registry::{FreeForm, ModuleSpec};
use crate::transport::Exec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "shell",
    aliases: &["ansible.builtin.shell", "ansible.legacy.shell"],
    doc: include_str!("shell.rs"),
    free_form: Some(FreeForm {
        key: "cmd",
        inline_keys: INLINE_KEYS,
    }),
    build: crate::registry::build::<ShellArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// The shell script to run.
    #[serde(alias = "_raw_params")]
    pub cmd: String,
    /// The shell that runs the script (default `/bin/sh`).
    #[serde(default)]
    pub executable: Option<String>,
    /// Directory to run the script in.
    #[serde(default)]
    pub chdir: Option<String>,
    /// Skip the script when this path exists.
    #[serde(default)]
    pub creates: Option<String>,
    /// Skip the script when this path does not exist.
    #[serde(default)]
    pub removes: Option<String>,
    /// Text written to the script's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Add a newline after `stdin`.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub stdin_add_newline: bool,
    /// Strip trailing newlines from stdout and stderr.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub strip_empty_ends: bool,
    /// Accepted for compatibility with old playbooks; has no effect.
    #[serde(default)]
    pub warn: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

impl Args for ShellArgs {}

impl Module for ShellArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let shell = self
                .executable
                .clone()
                .unwrap_or_else(|| "/bin/sh".to_string());
            let mut exec = Exec::new([shell, "-c".to_string(), self.cmd.clone()]);
            exec.stdin = stdin_bytes(&self.stdin, self.stdin_add_newline);
            exec.cwd = self.chdir.clone();
            plan_run(
                host,
                exec,
                self.cmd.clone(),
                self.creates.as_deref(),
                self.removes.as_deref(),
            )
            .await
        })
    }
}
