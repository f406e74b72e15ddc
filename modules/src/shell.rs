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
use crate::command::{plan_run, stdin_bytes, Run, INLINE_KEYS};
use crate::plan::Plan;
use crate::registry::{FreeForm, ModuleSpec};
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

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
    /// Accepted for compatibility; the shell itself expands variables in the script.
    #[serde(default)]
    pub expand_argument_vars: Option<serde_json::Value>,
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
            let run = Run {
                argv: vec![shell, "-c".to_string(), self.cmd.clone()],
                expand_argv: false,
                cmd: json!(self.cmd),
                chdir: self.chdir.as_deref(),
                creates: self.creates.as_deref(),
                removes: self.removes.as_deref(),
                stdin: stdin_bytes(&self.stdin, self.stdin_add_newline),
            };
            plan_run(host, run).await
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::Step;
    use crate::testing::Fixture;
    use serde_json::json;

    #[tokio::test]
    async fn the_script_is_left_to_the_shell_and_cmd_is_the_script() {
        let fx = Fixture::new();
        let plan = fx
            .plan(
                "shell",
                json!({"cmd": "echo $HOME", "executable": "/bin/bash", "expand_argument_vars": true}),
            )
            .await
            .unwrap();
        assert_eq!(plan.result["cmd"], "echo $HOME");
        assert_eq!(plan.result["msg"], "");
        let [Step::Run { exec, .. }] = &plan.steps[..] else {
            panic!("one step expected: {:?}", plan.steps);
        };
        assert_eq!(exec.argv, vec!["/bin/bash", "-c", "echo $HOME"]);
    }

    #[tokio::test]
    async fn creates_makes_the_second_run_a_no_op() {
        let fx = Fixture::new();
        let marker = fx.path("marker");
        let args = json!({"cmd": format!("echo made > '{marker}'"), "creates": marker});
        fx.converge("shell", args).await;
        assert_eq!(fx.read("marker"), b"made\n");
    }
}
