//! `script`: copies a script from the controller to the host and runs it there.
//!
//! The script (found beside the playbook or in the role's `files/`) goes to the host over
//! the command's standard input; a small fixed `sh` wrapper writes it to a private
//! temporary directory, makes it executable, runs it with the task's arguments (through
//! the shell, as Ansible does, so `$HOME` in them expands), and removes it, keeping the
//! script's exit code. `creates`/`removes` make it a no-op; otherwise its effect is only
//! known by running it, so it reports `changed` and check mode skips it.
//!
//! ```yaml
//! - name: Prepare the disks
//!   script: prepare-disks.sh --data /dev/vdb
//!   args:
//!     creates: /var/lib/etcd/.disk-ready
//! ```

use crate::args::Args;
use crate::command::{plan_run, Run};
use crate::plan::Plan;
use crate::registry::{FreeForm, ModuleSpec};
use crate::util::split_words;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "script",
    aliases: &["ansible.builtin.script", "ansible.legacy.script"],
    doc: include_str!("script.rs"),
    free_form: Some(FreeForm {
        key: "cmd",
        inline_keys: &["chdir", "creates", "removes", "executable", "decrypt"],
    }),
    build: crate::registry::build::<ScriptArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptArgs {
    /// The script's path on the controller, then its arguments.
    #[serde(alias = "_raw_params")]
    pub cmd: String,
    /// Directory to run the script in, on the host; must be absolute.
    #[serde(default)]
    pub chdir: Option<String>,
    /// Skip the script when this path exists on the host.
    #[serde(default)]
    pub creates: Option<String>,
    /// Skip the script when this path does not exist on the host.
    #[serde(default)]
    pub removes: Option<String>,
    /// The program that runs the script (`/bin/bash`, `python3`) instead of its `#!` line.
    #[serde(default)]
    pub executable: Option<String>,
    /// Accepted for compatibility; vaulted scripts are decrypted by the engine.
    #[serde(default)]
    pub decrypt: Option<serde_json::Value>,
}

impl Args for ScriptArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let words = split_words(&self.cmd).map_err(|e| ArgError::new(e).at("cmd"))?;
        if words.is_empty() {
            return Err(ArgError::new("no script given (write `script: path args`)"));
        }
        if let Some(dir) = &self.chdir {
            if !dir.starts_with('/') {
                return Err(ArgError::new(format!(
                    "chdir {dir} must be an absolute path for a Unix-aware remote node"
                ))
                .at("chdir"));
            }
        }
        Ok(())
    }
}

/// Writes standard input to a temporary file, runs it, removes it. Arguments: the script's
/// name, the executable (may be empty), the directory to run in (may be empty) and the rest
/// of the command line, which the shell expands as Ansible's does.
const RUNNER: &str = r#"
name=$1 executable=$2 dir=$3 rest=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rplay-script.XXXXXXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
script="$tmp/$name"
cat > "$script" || exit 1
chmod 700 "$script"
if [ -n "$dir" ]; then cd "$dir" || exit 1; fi
if [ -n "$executable" ]; then
  eval "$executable \"\$script\" $rest" </dev/null
else
  eval "\"\$script\" $rest" </dev/null
fi
"#;

impl Module for ScriptArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let words = split_words(&self.cmd).map_err(ModuleError::failed)?;
            let source = words
                .first()
                .ok_or_else(|| ModuleError::failed("no script given"))?;
            let content = host
                .controller
                .read_file(source)
                .map_err(ModuleError::failed)?;
            // The arguments are the command line after the script's name, untouched.
            let line = self.cmd.trim();
            let rest = match line.find(source.as_str()) {
                Some(at) => line[at + source.len()..].to_string(),
                None => words[1..]
                    .iter()
                    .map(|w| crate::util::quote(w))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let name = std::path::Path::new(source)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "script".to_string());
            let run = Run {
                argv: vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    RUNNER.to_string(),
                    "rplay-script".to_string(),
                    name,
                    self.executable.clone().unwrap_or_default(),
                    self.chdir.clone().unwrap_or_default(),
                    rest,
                ],
                // The runner's shell expands the arguments, and changes to `chdir` itself.
                expand_argv: false,
                cmd: self.cmd.clone().into(),
                chdir: None,
                creates: self.creates.as_deref(),
                removes: self.removes.as_deref(),
                stdin: Some(content),
            };
            let plan = plan_run(host, run).await?;
            Ok(match plan.check {
                crate::CheckSupport::Unpredictable(_) => {
                    plan.unpredictable("a script's effect is only known by running it")
                }
                crate::CheckSupport::Predictable => plan,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use serde_json::json;

    #[tokio::test]
    async fn runs_a_controller_script_with_arguments() {
        let fixture = Fixture::new();
        std::fs::write(
            fixture.controller.root.join("make-marker.sh"),
            "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$1\" \"$2\" \"$(pwd)\" > \"$3\"\n",
        )
        .unwrap();
        let marker = fixture.path("marker");
        let workdir = fixture.path("");
        let plan = fixture
            .plan(
                "ansible.builtin.script",
                json!({
                    "_raw_params": format!("make-marker.sh 'two words' $HOME {marker}"),
                    "chdir": workdir,
                }),
            )
            .await
            .unwrap();
        assert!(matches!(plan.check, crate::CheckSupport::Unpredictable(_)));
        // Run the step with a private temporary directory to see that it is left empty.
        let crate::plan::Step::Run { exec, .. } = &plan.steps[0] else {
            panic!("a run step");
        };
        let scratch = fixture.path("tmp");
        std::fs::create_dir(&scratch).unwrap();
        let mut exec = exec.clone();
        exec.env.push(("TMPDIR".to_string(), scratch.clone()));
        let output = crate::Transport::run(&fixture.transport, &exec)
            .await
            .unwrap();
        assert!(output.success(), "{}", output.stderr_text());
        let home = std::env::var("HOME").unwrap();
        let written = String::from_utf8(fixture.read("marker")).unwrap();
        assert_eq!(
            written.trim_end(),
            format!("two words|{home}|{}", workdir.trim_end_matches('/'))
        );
        let left = std::fs::read_dir(&scratch).unwrap().count();
        assert_eq!(left, 0, "the temporary copy is removed");
    }

    #[tokio::test]
    async fn creates_makes_it_idempotent() {
        let fixture = Fixture::new();
        std::fs::write(fixture.controller.root.join("once.sh"), "touch \"$1\"\n").unwrap();
        let done = fixture.path("done");
        let args = json!({ "cmd": format!("once.sh {done}"), "creates": done, "executable": "sh" });
        fixture.converge("script", args).await;
        assert!(std::path::Path::new(&done).exists());
    }

    #[tokio::test]
    async fn a_failing_script_fails_with_its_exit_code() {
        let fixture = Fixture::new();
        std::fs::write(
            fixture.controller.root.join("fail.sh"),
            "#!/bin/sh\nexit 7\n",
        )
        .unwrap();
        let plan = fixture
            .plan("script", json!({ "cmd": "fail.sh" }))
            .await
            .unwrap();
        let crate::plan::Step::Run { exec, .. } = &plan.steps[0] else {
            panic!("a run step");
        };
        let output = crate::Transport::run(&fixture.transport, exec)
            .await
            .unwrap();
        assert_eq!(output.rc, 7);
        let missing = fixture.plan("script", json!({ "cmd": "missing.sh" })).await;
        assert!(missing.unwrap_err().to_string().contains("missing.sh"));
    }
}
