//! `helm` on the host: what the `helm` and `helm_repository` modules share.
//!
//! Ansible's `kubernetes.core.helm` runs the helm CLI on the host a task targets, and so
//! does rplay: helm reaches the cluster with the host's kubeconfig and keeps its repository
//! list and chart cache there, so nothing about the cluster is needed on the controller.
//! Every call is an argv through rplay's transport; values go on standard input.

use crate::transport::{Exec, Output, Transport};
use crate::ModuleError;
use serde_json::Value;

/// How to call helm on the host.
#[derive(Debug, Clone, Default)]
pub struct Helm {
    /// The program: `helm` on PATH unless a task names another.
    pub binary: String,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl Helm {
    pub fn new(binary: Option<&str>, kubeconfig: Option<&str>, context: Option<&str>) -> Self {
        Helm {
            binary: binary.unwrap_or("helm").to_string(),
            kubeconfig: kubeconfig.map(str::to_string),
            context: context.map(str::to_string),
        }
    }

    /// The command: the binary, the connection flags, then `args`.
    pub fn exec<S: AsRef<str>>(&self, args: &[S]) -> Exec {
        let mut argv = vec![self.binary.clone()];
        if let Some(kubeconfig) = &self.kubeconfig {
            argv.extend(["--kubeconfig".to_string(), kubeconfig.clone()]);
        }
        if let Some(context) = &self.context {
            argv.extend(["--kube-context".to_string(), context.clone()]);
        }
        argv.extend(args.iter().map(|arg| arg.as_ref().to_string()));
        Exec {
            argv,
            ..Exec::default()
        }
    }

    /// Runs helm and returns what it left, whatever its exit status; a host without helm
    /// is an error that says what to install.
    pub async fn call<S: AsRef<str>>(
        &self,
        transport: &dyn Transport,
        args: &[S],
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        let mut exec = self.exec(args);
        exec.stdin = stdin.map(<[u8]>::to_vec);
        let output = transport.run(&exec).await?;
        if is_missing(&output) {
            return Err(ModuleError::failed(missing_message(&self.binary)));
        }
        Ok(output)
    }
}

/// Whether the program itself was not found (the shell's 127, or Python's ENOENT when a
/// wrapper execs a path that is not there).
pub fn is_missing(output: &Output) -> bool {
    output.rc == 127 || (output.rc == 2 && output.stderr_text().contains("Errno 2"))
}

pub fn missing_message(binary: &str) -> String {
    format!(
        "`{binary}` is not installed on the host: install helm 3 there (the release \
         tarball from https://github.com/helm/helm/releases, or the `helm` package of \
         the distribution) or give its path in `binary_path`"
    )
}

/// helm's failure as one line: what was asked and what it said.
pub fn failure<S: AsRef<str>>(args: &[S], output: &Output) -> String {
    let said = output.stderr_text();
    let said = said.trim();
    let verb: Vec<&str> = args
        .iter()
        .map(AsRef::as_ref)
        .take_while(|arg| !arg.starts_with('-'))
        .take(2)
        .collect();
    let verb = verb.join(" ");
    if said.is_empty() {
        format!("`helm {verb}` failed (rc {})", output.rc)
    } else {
        format!("`helm {verb}` failed (rc {}): {said}", output.rc)
    }
}

/// helm's JSON output; `null` and nothing at all read as an empty mapping, which is what
/// `helm get values -o json` prints for a release without values.
pub fn json(stdout: &[u8], what: &str) -> Result<Value, ModuleError> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        ModuleError::failed(format!(
            "`helm {what}` printed something that is not JSON: {error}"
        ))
    })?;
    Ok(match value {
        Value::Null => Value::Object(Default::default()),
        other => other,
    })
}
