//! What module tests share: a scratch directory on the local filesystem, a controller
//! that reads files from it, and [`apply`], which does with a plan what the engine does.

use crate::local::LocalTransport;
use crate::plan::{Plan, Step};
use crate::transport::{Exec, FileAttrs, Output, Transport, TransportError};
use crate::{Controller, ControllerPath, Host, ModuleError};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs a plan's steps in order, the way the engine applies them outside check mode, then
/// fails with the plan's failure, if any.
pub async fn apply(plan: &Plan, transport: &dyn Transport) -> Result<(), String> {
    apply_settled(plan, transport).await.map(|_| ())
}

/// Like [`apply`], and returns what the engine would report: whether the task changed
/// (settled from the steps' output when the plan asks for it) and the result keys.
pub async fn apply_settled(
    plan: &Plan,
    transport: &dyn Transport,
) -> Result<(bool, Map<String, Value>), String> {
    let mut outputs = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Run {
                exec,
                allow_failure,
                ..
            } => {
                let output = transport.run(exec).await.map_err(|e| e.to_string())?;
                if !output.success() && !allow_failure {
                    return Err(format!(
                        "{:?} exited {}: {}",
                        exec.argv,
                        output.rc,
                        output.stderr_text()
                    ));
                }
                outputs.push(output);
            }
            Step::Write {
                path,
                content,
                attrs,
            } => {
                transport
                    .put(path, content, attrs)
                    .await
                    .map_err(|e| e.to_string())?;
                outputs.push(Output::default());
            }
        }
    }
    if let Some(failure) = &plan.failure {
        return Err(failure.clone());
    }
    let mut result = plan.result.clone();
    let changed = match &plan.settle {
        Some(settle) => (settle.decide)(&outputs, &mut result) || plan.changed,
        None => plan.is_change(),
    };
    Ok((changed, result))
}

/// Applies a plan's steps, then plans and applies its follow-ups ([`Plan::then`]) in turn,
/// as the engine does; returns the result keys the follow-ups add.
pub async fn apply_with_follow_ups(
    plan: &Plan,
    host: &Host<'_>,
) -> Result<serde_json::Map<String, Value>, String> {
    apply(plan, host.transport).await?;
    let mut result = serde_json::Map::new();
    let Some(first) = &plan.then else {
        return Ok(result);
    };
    let mut current = first.0.plan(host).await.map_err(|e| e.to_string())?;
    loop {
        apply(&current, host.transport).await?;
        result.extend(current.result.clone());
        let Some(next) = current.then.take() else {
            break;
        };
        current = next.0.plan(host).await.map_err(|e| e.to_string())?;
    }
    Ok(result)
}

/// A host whose system directories (`/etc/kubernetes`…) live in a scratch directory:
/// paths under one of `prefixes` in command arguments, reads and writes are moved under
/// `root`, and `root` is taken out of what commands print, so the module sees the paths it
/// asked for. For modules whose paths are fixed by the tool they drive.
pub struct RerootedTransport {
    pub inner: LocalTransport,
    pub root: String,
    pub prefixes: Vec<String>,
}

impl RerootedTransport {
    fn reroot(&self, path: &str) -> String {
        let moved = self.prefixes.iter().any(|prefix| {
            path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if moved {
            format!("{}{path}", self.root)
        } else {
            path.to_string()
        }
    }

    fn unroot(&self, bytes: Vec<u8>) -> Vec<u8> {
        String::from_utf8_lossy(&bytes)
            .replace(&self.root, "")
            .into_bytes()
    }
}

impl Transport for RerootedTransport {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let mut moved = exec.clone();
            moved.argv = exec.argv.iter().map(|arg| self.reroot(arg)).collect();
            let output = self.inner.run(&moved).await?;
            Ok(Output {
                rc: output.rc,
                stdout: self.unroot(output.stdout),
                stderr: self.unroot(output.stderr),
            })
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move { self.inner.put(&self.reroot(path), content, attrs).await })
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move { self.inner.get(&self.reroot(path)).await })
    }
}

/// Controller-side files, read from a directory of the scratch area.
pub struct DirController {
    pub root: PathBuf,
}

impl Controller for DirController {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, String> {
        let full = self.root.join(path);
        std::fs::read(&full)
            .map_err(|e| format!("could not find {path} in {}: {e}", self.root.display()))
    }

    fn find(&self, path: &str) -> Result<ControllerPath, String> {
        let full = self.root.join(path);
        let metadata = std::fs::metadata(&full)
            .map_err(|e| format!("could not find {path} in {}: {e}", self.root.display()))?;
        Ok(ControllerPath {
            path: full.to_string_lossy().trim_end_matches('/').to_string(),
            is_dir: metadata.is_dir(),
            mode: metadata.permissions().mode() & 0o7777,
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        fn walk(base: &Path, relative: &str, out: &mut Vec<String>) -> std::io::Result<()> {
            for entry in std::fs::read_dir(base.join(relative))? {
                let entry = entry?;
                let name = format!("{relative}{}", entry.file_name().to_string_lossy());
                if std::fs::metadata(entry.path())?.is_dir() {
                    out.push(format!("{name}/"));
                    walk(base, &format!("{name}/"), out)?;
                } else {
                    out.push(name);
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.root.join(path), "", &mut out)
            .map_err(|e| format!("listing {path} in {}: {e}", self.root.display()))?;
        out.sort();
        Ok(out)
    }
}

/// A transport that counts the commands it runs, to hold modules to their round trips.
pub struct CountingTransport<'a> {
    pub inner: &'a dyn Transport,
    pub runs: AtomicUsize,
}

impl Transport for CountingTransport<'_> {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.run(exec)
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        self.inner.put(path, content, attrs)
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        self.inner.get(path)
    }

    fn commands_are_remote(&self) -> bool {
        self.inner.commands_are_remote()
    }
}

/// A scratch directory that plays both the host (through [`LocalTransport`]) and the
/// controller (its `controller/` subdirectory).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub transport: LocalTransport,
    pub controller: DirController,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let root = dir.path().join("controller");
        std::fs::create_dir(&root).expect("the controller directory");
        Fixture {
            dir,
            transport: LocalTransport::new(),
            controller: DirController { root },
        }
    }

    /// An absolute path inside the scratch directory.
    pub fn path(&self, relative: &str) -> String {
        self.dir
            .path()
            .join(relative)
            .to_string_lossy()
            .into_owned()
    }

    pub fn write(&self, relative: &str, content: &[u8], mode: u32) -> String {
        let path = self.path(relative);
        std::fs::write(&path, content).expect("a test file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("a test file's mode");
        path
    }

    pub fn read(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.path(relative)).expect("the file exists")
    }

    pub fn mode(&self, relative: &str) -> u32 {
        std::fs::symlink_metadata(self.path(relative))
            .expect("the path exists")
            .permissions()
            .mode()
            & 0o7777
    }

    /// Builds the module through the registry, as the engine does, and plans it.
    pub async fn plan(&self, module: &str, args: Value) -> Result<Plan, ModuleError> {
        let spec = crate::registry::lookup(module).expect("a registered module");
        let module = (spec.build)(args).map_err(|e| ModuleError::failed(e.to_string()))?;
        let host = Host {
            transport: &self.transport,
            controller: &self.controller,
        };
        module.plan(&host).await
    }

    /// Plans like [`Fixture::plan`] and says how many commands the planning ran.
    pub async fn plan_counting(
        &self,
        module: &str,
        args: Value,
    ) -> (Result<Plan, ModuleError>, usize) {
        let spec = crate::registry::lookup(module).expect("a registered module");
        let module = (spec.build)(args).expect("valid arguments");
        let counting = CountingTransport {
            inner: &self.transport,
            runs: AtomicUsize::new(0),
        };
        let host = Host {
            transport: &counting,
            controller: &self.controller,
        };
        let plan = module.plan(&host).await;
        (plan, counting.runs.load(Ordering::SeqCst))
    }

    /// Applies the plan's steps, then plans and applies what it hands over to
    /// ([`Plan::then`]), as the engine does. Returns the result keys of the follow-ups.
    pub async fn apply(&self, plan: &Plan) -> serde_json::Map<String, Value> {
        let host = Host {
            transport: &self.transport,
            controller: &self.controller,
        };
        apply_with_follow_ups(plan, &host)
            .await
            .expect("the steps apply")
    }

    /// Plans, checks that something is to be done, applies, and checks that a second
    /// plan finds nothing to do. Returns the first plan.
    pub async fn converge(&self, module: &str, args: Value) -> Plan {
        let first = self.plan(module, args.clone()).await.expect("a first plan");
        assert!(
            first.is_change(),
            "the first run should change something: {first:?}"
        );
        self.apply(&first).await;
        let second = self.plan(module, args).await.expect("a second plan");
        assert!(
            second.steps.is_empty(),
            "the second run should change nothing: {second:?}"
        );
        assert!(second.reason.is_some(), "an unchanged plan says why");
        first
    }
}
