//! `command`: runs a program with arguments, without a shell.
//!
//! The effect of a command cannot be known without running it, so the module always
//! reports `changed` (use `changed_when` to say otherwise) and check mode skips it, unless
//! `creates` or `removes` is given: then check mode reports it as changed. Nothing
//! needs doing when `creates` matches a path that exists or `removes` none (both are glob
//! patterns, relative to `chdir`). As in Ansible, `$VAR` and a leading `~` in the
//! arguments are expanded with the host's environment; the `cmd` result is the argument
//! list as written.
//!
//! ```yaml
//! - name: Initialise the control plane
//!   command: kubeadm init --config /etc/kubeadm.yaml
//!   args:
//!     creates: /etc/kubernetes/admin.conf
//! ```

use crate::args::{ansible_bool, Args};
use crate::environment::{needs_expansion, HostEnvironment};
use crate::plan::{Plan, Step};
use crate::registry::{FreeForm, ModuleSpec};
use crate::transport::Exec;
use crate::util::split_words;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

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
    /// Expand `$VAR`, `${VAR}` and a leading `~` in each argument with the host's
    /// environment, as Python's `os.path.expandvars` and `expanduser` do; unknown
    /// variables stay as written.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub expand_argument_vars: bool,
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

/// A program to run, as `command` and `shell` describe it, before the host's environment
/// has expanded anything.
pub(crate) struct Run<'a> {
    pub argv: Vec<String>,
    /// Expand `$VAR` and `~` in `argv` (never for `shell`, whose shell does it).
    pub expand_argv: bool,
    /// The task's `cmd` result: the argument list for `command`, the script for `shell`.
    pub cmd: Value,
    pub chdir: Option<&'a str>,
    pub creates: Option<&'a str>,
    pub removes: Option<&'a str>,
    pub stdin: Option<Vec<u8>>,
}

/// Changes to `chdir`, then says whether the `creates` glob (`$2`) matches a path and
/// whether the `removes` glob (`$3`) matches none; an empty pattern is not checked. Python's
/// `glob.glob` counts a dangling symlink as a match, and so does `[ -h ]`.
const PROBE_SCRIPT: &str = r#"if [ -n "$1" ]; then cd -- "$1" 2>/dev/null || { echo chdir; exit 0; }; fi
matches() { IFS=; for f in $1; do if [ -e "$f" ] || [ -h "$f" ]; then return 0; fi; done; return 1; }
if [ -n "$2" ] && matches "$2"; then echo creates; exit 0; fi
if [ -n "$3" ] && ! matches "$3"; then echo removes; exit 0; fi
echo run
"#;

/// Ansible's result for a command that did not run: no times, `rc` 0 or null.
fn not_run(plan: Plan, cmd: Value, rc: Value, stdout: &str, msg: &str) -> Plan {
    let stdout_lines: Vec<&str> = stdout.lines().collect();
    plan.with("cmd", cmd)
        .with("rc", rc)
        .with("stdout", stdout)
        .with("stdout_lines", json!(stdout_lines))
        .with("stderr", "")
        .with("stderr_lines", json!([]))
        .with("start", Value::Null)
        .with("end", Value::Null)
        .with("delta", Value::Null)
        .with("msg", msg)
}

/// Runs the program unless `creates`/`removes` say it is not needed; shared with `shell`
/// and `script`.
///
/// At most two commands read the host first: one for the environment, only when some word
/// holds a `$` or starts with `~`, and one for `chdir`, `creates` and `removes`, only when
/// `creates` or `removes` is given.
pub(crate) async fn plan_run(host: &Host<'_>, run: Run<'_>) -> Result<Plan, ModuleError> {
    let transport = host.transport;
    // `chdir`, `creates` and `removes` are Ansible `path` arguments: always expanded.
    let paths: Vec<String> = [run.chdir, run.creates, run.removes]
        .iter()
        .map(|path| path.unwrap_or_default().to_string())
        .collect();
    let mut words = paths.clone();
    if run.expand_argv {
        words.extend(run.argv.iter().cloned());
    }
    let expanded = if words.iter().any(|word| needs_expansion(word)) {
        HostEnvironment::expand_words(transport, &words).await?
    } else {
        words
    };
    let (paths, argv) = expanded.split_at(3);
    let [chdir, creates, removes] = [&paths[0], &paths[1], &paths[2]];
    let argv = if run.expand_argv {
        argv.to_vec()
    } else {
        run.argv.clone()
    };
    if !creates.is_empty() || !removes.is_empty() {
        let output = transport
            .run(&Exec::new([
                "sh",
                "-c",
                PROBE_SCRIPT,
                "rplay-command",
                chdir,
                creates,
                removes,
            ]))
            .await?;
        match output.stdout_text().trim() {
            "run" => {}
            "creates" => {
                let stdout = format!("skipped, since {creates} exists");
                return Ok(not_run(
                    Plan::ok(stdout.clone()),
                    run.cmd,
                    json!(0),
                    &stdout,
                    &format!("Did not run command since '{creates}' exists"),
                ));
            }
            "removes" => {
                let stdout = format!("skipped, since {removes} does not exist");
                return Ok(not_run(
                    Plan::ok(stdout.clone()),
                    run.cmd,
                    json!(0),
                    &stdout,
                    &format!("Did not run command since '{removes}' does not exist"),
                ));
            }
            "chdir" => {
                const MESSAGE: &str = "Unable to change directory before execution.";
                return Ok(not_run(
                    Plan::fail(MESSAGE),
                    run.cmd,
                    Value::Null,
                    "",
                    MESSAGE,
                ));
            }
            _ => {
                return Err(ModuleError::failed(format!(
                    "checking `creates`/`removes`: {}",
                    output.stderr_text().trim()
                )))
            }
        }
    }
    let display = crate::util::join_words(&argv);
    let mut exec = Exec::new(argv);
    exec.stdin = run.stdin;
    exec.cwd = (!chdir.is_empty()).then(|| chdir.clone());
    // The keys of a command that has not run yet: running it replaces them; check mode
    // shows them.
    // Ansible skips a command in check mode, except one with `creates` or `removes`:
    // that one is reported as changed, with this message (running it replaces it).
    const WOULD_RUN: &str = "Command would have run if not in check mode";
    let guarded = !creates.is_empty() || !removes.is_empty();
    let plan = not_run(
        Plan::change(format!("run {display}"), vec![Step::capture(exec)]),
        run.cmd,
        json!(0),
        "",
        if guarded { WOULD_RUN } else { "" },
    );
    Ok(if guarded {
        plan
    } else {
        plan.unpredictable(WOULD_RUN)
    })
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
            let run = Run {
                cmd: json!(argv),
                argv,
                expand_argv: self.expand_argument_vars,
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
    use crate::transport::Transport;
    use crate::Plan;
    use serde_json::json;

    /// The command a plan runs: its argv, and its stdout once run.
    async fn run_the_step(fx: &Fixture, plan: &Plan) -> (Vec<String>, String) {
        let [Step::Run { exec, capture, .. }] = &plan.steps[..] else {
            panic!("one step expected: {:?}", plan.steps);
        };
        assert!(capture, "the command's output is the task's result");
        let output = fx.transport.run(exec).await.expect("the command runs");
        (exec.argv.clone(), output.stdout_text())
    }

    fn home() -> String {
        std::env::var("HOME").expect("HOME is set for tests")
    }

    // The expected values below were recorded from ansible-core 2.19.

    #[tokio::test]
    async fn expands_variables_and_tilde_with_the_hosts_environment() {
        let fx = Fixture::new();
        let plan = fx
            .plan(
                "command",
                json!({"cmd": "echo $HOME ~ ${RPLAY_SURELY_UNSET} \"two  spaces\""}),
            )
            .await
            .unwrap();
        assert_eq!(
            plan.result["cmd"],
            json!(["echo", "$HOME", "~", "${RPLAY_SURELY_UNSET}", "two  spaces"]),
            "`cmd` is the argument list as written"
        );
        assert_eq!(plan.result["msg"], "");
        let home = home();
        let (argv, stdout) = run_the_step(&fx, &plan).await;
        assert_eq!(
            argv,
            vec![
                "echo".to_string(),
                home.clone(),
                home.trim_end_matches('/').to_string(),
                "${RPLAY_SURELY_UNSET}".to_string(),
                "two  spaces".to_string()
            ]
        );
        assert_eq!(
            stdout,
            format!(
                "{home} {} ${{RPLAY_SURELY_UNSET}} two  spaces\n",
                home.trim_end_matches('/')
            )
        );
    }

    #[tokio::test]
    async fn argv_is_expanded_too_unless_expansion_is_off() {
        let fx = Fixture::new();
        let plan = fx
            .plan("command", json!({"argv": ["printf", "%s|", "$HOME", ""]}))
            .await
            .unwrap();
        assert_eq!(plan.result["cmd"], json!(["printf", "%s|", "$HOME", ""]));
        assert_eq!(run_the_step(&fx, &plan).await.1, format!("{}||", home()));
        let plan = fx
            .plan(
                "command",
                json!({"cmd": "echo $HOME", "expand_argument_vars": false}),
            )
            .await
            .unwrap();
        assert_eq!(run_the_step(&fx, &plan).await.1, "$HOME\n");
    }

    #[tokio::test]
    async fn creates_is_a_glob_relative_to_chdir_and_the_task_converges() {
        let fx = Fixture::new();
        std::fs::create_dir(fx.path("work")).unwrap();
        let args =
            json!({"cmd": "touch made-by-command", "chdir": fx.path("work"), "creates": "made-*"});
        let first = fx.plan("command", args.clone()).await.unwrap();
        assert!(
            !std::path::Path::new(&fx.path("work/made-by-command")).exists(),
            "planning alone (check mode) runs nothing"
        );
        assert_eq!(first.result["cmd"], json!(["touch", "made-by-command"]));
        fx.converge("command", args.clone()).await;
        assert!(std::path::Path::new(&fx.path("work/made-by-command")).exists());
        let skipped = fx.plan("command", args).await.unwrap();
        assert!(!skipped.is_change());
        assert_eq!(skipped.result["rc"], 0);
        assert_eq!(skipped.result["stdout"], "skipped, since made-* exists");
        assert_eq!(
            skipped.result["stdout_lines"],
            json!(["skipped, since made-* exists"])
        );
        assert_eq!(
            skipped.result["msg"],
            "Did not run command since 'made-*' exists"
        );
        assert_eq!(skipped.result["start"], json!(null));
    }

    #[tokio::test]
    async fn removes_skips_when_nothing_matches_and_paths_are_expanded() {
        let fx = Fixture::new();
        let plan = fx
            .plan(
                "command",
                json!({"cmd": "rm x", "removes": fx.path("absent-file")}),
            )
            .await
            .unwrap();
        assert!(!plan.is_change());
        assert_eq!(
            plan.result["msg"],
            format!(
                "Did not run command since '{}' does not exist",
                fx.path("absent-file")
            )
        );
        // A dangling symlink matches, as with Python's glob.
        std::os::unix::fs::symlink("nowhere", fx.path("dangling")).unwrap();
        let plan = fx
            .plan(
                "command",
                json!({"cmd": "true", "creates": fx.path("dangling")}),
            )
            .await
            .unwrap();
        assert!(!plan.is_change());
        let plan = fx
            .plan("command", json!({"cmd": "true", "creates": "$HOME"}))
            .await
            .unwrap();
        assert_eq!(
            plan.result["stdout"],
            format!("skipped, since {} exists", home())
        );
    }

    #[tokio::test]
    async fn a_missing_chdir_fails_like_ansible() {
        let fx = Fixture::new();
        let plan = fx
            .plan(
                "command",
                json!({"cmd": "pwd", "chdir": fx.path("none"), "creates": "x"}),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.failure.as_deref(),
            Some("Unable to change directory before execution.")
        );
        assert_eq!(plan.result["rc"], json!(null));
        assert_eq!(plan.result["cmd"], json!(["pwd"]));
    }

    #[tokio::test]
    async fn reads_the_host_only_when_an_argument_needs_it() {
        let fx = Fixture::new();
        let (plan, runs) = fx.plan_counting("command", json!({"cmd": "echo hi"})).await;
        assert!(plan.unwrap().is_change());
        assert_eq!(runs, 0, "a plain command is planned without the host");
        let (_, runs) = fx
            .plan_counting("command", json!({"cmd": "echo $HOME ~/x"}))
            .await;
        assert_eq!(runs, 1, "one command reads the environment");
        let (_, runs) = fx
            .plan_counting("command", json!({"cmd": "echo $HOME", "creates": "/none"}))
            .await;
        assert_eq!(runs, 2, "the environment, then `creates`");
    }

    #[tokio::test]
    async fn check_mode_skips_a_command_but_not_one_with_creates() {
        let fx = Fixture::new();
        let plan = fx.plan("command", json!({"cmd": "true"})).await.unwrap();
        assert_eq!(
            plan.check,
            crate::CheckSupport::Unpredictable(
                "Command would have run if not in check mode".to_string()
            )
        );
        assert_eq!(plan.result["rc"], 0);
        assert_eq!(plan.result["stdout"], "");
        let marker = fx.path("marker");
        let plan = fx
            .plan(
                "command",
                json!({"cmd": format!("touch {marker}"), "creates": marker}),
            )
            .await
            .unwrap();
        assert!(plan.is_change());
        assert_eq!(plan.check, crate::CheckSupport::Predictable);
        assert!(
            !std::path::Path::new(&marker).exists(),
            "planning alone (check mode) runs nothing"
        );
    }
}
