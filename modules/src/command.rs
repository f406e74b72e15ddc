//! `command`: runs a program with arguments, without a shell.
//!
//! The effect of a command cannot be known without running it, so the module always
//! reports `changed` (use `changed_when` to say otherwise) and check mode skips it. Nothing
//! needs doing when `creates` names a path that exists or `removes` one that does not.
//!
//! ```yaml
//! - name: Initialise the control plane
//!   command: kubeadm init --config /etc/kubeadm.yaml
//!   args:
//!     creates: /etc/kubernetes/admin.conf
//! ```

use crate::args::{ansible_bool, Args};
use crate::plan::{Plan, Step};
use crate::registry::{FreeForm, ModuleSpec};
use crate::transport::Exec;
use crate::util::{path_state, split_words};
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "command",
    aliases: &["ansible.builtin.command", "ansible.legacy.command"],
    doc: include_str!("command.rs"),
    free_form: Some(FreeForm {
        key: "cmd",
        inline_keys: INLINE_KEYS,
    }),
    build: crate::registry::build::<CommandArgs>,
};

/// Words of a free-form command line that are arguments, not part of the command.
pub(crate) const INLINE_KEYS: &[&str] = &[
    "chdir",
    "creates",
    "removes",
    "executable",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "warn",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandArgs {
    /// The command line, split into words like a POSIX shell would (no pipes, no globs).
    #[serde(default, alias = "_raw_params")]
    pub cmd: Option<String>,
    /// The program and its arguments as a list; no splitting, no quoting.
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    /// Directory to run the command in.
    #[serde(default)]
    pub chdir: Option<String>,
    /// Skip the command when this path exists.
    #[serde(default)]
    pub creates: Option<String>,
    /// Skip the command when this path does not exist.
    #[serde(default)]
    pub removes: Option<String>,
    /// Text written to the command's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Add a newline after `stdin`.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub stdin_add_newline: bool,
    /// Strip trailing newlines from stdout and stderr.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub strip_empty_ends: bool,
    /// Accepted for compatibility; the command always runs without a shell.
    #[serde(default)]
    pub executable: Option<String>,
    /// Accepted for compatibility with old playbooks; has no effect.
    #[serde(default)]
    pub warn: Option<serde_json::Value>,
    /// Accepted for compatibility; variables in arguments are never expanded here.
    #[serde(default)]
    pub expand_argument_vars: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

impl Args for CommandArgs {
    fn validate(&self) -> Result<(), crate::ArgError> {
        match (&self.cmd, &self.argv) {
            (Some(_), Some(_)) => Err(crate::ArgError::new(
                "`cmd` and `argv` are mutually exclusive",
            )),
            (None, None) => Err(crate::ArgError::new(
                "no command given (write `command: program args` or set `cmd` or `argv`)",
            )),
            _ => Ok(()),
        }
    }
}

impl CommandArgs {
    fn argv(&self) -> Result<Vec<String>, ModuleError> {
        match (&self.cmd, &self.argv) {
            (_, Some(argv)) => Ok(argv.clone()),
            (Some(cmd), None) => split_words(cmd)
                .map_err(|e| ModuleError::failed(format!("cannot split `{cmd}`: {e}"))),
            (None, None) => Err(ModuleError::failed("no command given")),
        }
    }
}

/// Runs `exec` unless `creates`/`removes` say it is not needed; shared with `shell`.
pub(crate) async fn plan_run(
    host: &Host<'_>,
    exec: Exec,
    display: String,
    creates: Option<&str>,
    removes: Option<&str>,
) -> Result<Plan, ModuleError> {
    if let Some(path) = creates {
        if path_state(host.transport, path, true).await?.exists {
            return Ok(Plan::ok(format!("skipped, since {path} exists"))
                .with("cmd", display)
                .with("rc", 0)
                .with("stdout", "")
                .with("stderr", ""));
        }
    }
    if let Some(path) = removes {
        if !path_state(host.transport, path, true).await?.exists {
            return Ok(Plan::ok(format!("skipped, since {path} does not exist"))
                .with("cmd", display)
                .with("rc", 0)
                .with("stdout", "")
                .with("stderr", ""));
        }
    }
    Ok(
        Plan::change(format!("run {display}"), vec![Step::capture(exec)])
            .with("cmd", display)
            .unpredictable("command would have run if not in check mode"),
    )
}

pub(crate) fn stdin_bytes(stdin: &Option<String>, add_newline: bool) -> Option<Vec<u8>> {
    stdin.as_ref().map(|text| {
        let mut bytes = text.clone().into_bytes();
        if add_newline {
            bytes.push(b'\n');
        }
        bytes
    })
}

impl Module for CommandArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let argv = self.argv()?;
            if argv.is_empty() {
                return Err(ModuleError::failed("no command given"));
            }
            let display = crate::util::join_words(&argv);
            let mut exec = Exec::new(argv);
            exec.stdin = stdin_bytes(&self.stdin, self.stdin_add_newline);
            exec.cwd = self.chdir.clone();
            plan_run(
                host,
                exec,
                display,
                self.creates.as_deref(),
                self.removes.as_deref(),
            )
            .await
        })
    }
}
