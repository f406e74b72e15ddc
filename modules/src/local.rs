//! The local transport: commands run as child processes of rplay itself.
//!
//! Used for `connection: local` (the Packer image build, where rplay runs inside the VM)
//! and by module tests.

use crate::transport::{
    deadline_error, Deadline, Exec, FileAttrs, Output, Transport, TransportError,
};
use futures::future::BoxFuture;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Default, Clone)]
pub struct LocalTransport {
    /// Prefix every command with this (e.g. `sudo -n -u root --`), for `become`.
    pub wrapper: Vec<String>,
    /// Answers that hold for the whole run (`run_remembered`), shared by clones.
    remembered: std::sync::Arc<crate::transport::Remembered>,
}

impl LocalTransport {
    pub fn new() -> Self {
        LocalTransport::default()
    }

    async fn run_exec(&self, exec: &Exec) -> Result<Output, TransportError> {
        let argv: Vec<&String> = self.wrapper.iter().chain(exec.argv.iter()).collect();
        let Some((program, rest)) = argv.split_first() else {
            return Err(TransportError::Io("empty command".to_string()));
        };
        let deadline = Deadline::current();
        if deadline.as_ref().is_some_and(|d| d.passed()) {
            return Err(deadline_error());
        }
        let mut command = tokio::process::Command::new(program);
        command
            .args(rest)
            .stdin(if exec.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in &exec.env {
            command.env(key, value);
        }
        if let Some(dir) = &exec.cwd {
            command.current_dir(dir);
        }
        if deadline.is_some() {
            // A group of its own, so that the whole command (a shell and what it started)
            // can be stopped when the task's time runs out.
            command.process_group(0);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            // Ansible reports a missing program as rc 2 with the OS error, not as a crash.
            Err(error) => {
                let message = match &exec.cwd {
                    Some(dir) if !Path::new(dir).is_dir() => {
                        format!("Unable to change directory before execution: {dir}: {error}")
                    }
                    _ => format!("[Errno 2] {error}: '{program}'"),
                };
                return Ok(Output {
                    rc: 2,
                    stdout: Vec::new(),
                    stderr: message.into_bytes(),
                });
            }
        };
        if let (Some(bytes), Some(mut stdin)) = (&exec.stdin, child.stdin.take()) {
            // Write stdin while the child runs; a child that exits early closes the pipe.
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let group = child.id();
        let _running = deadline.as_ref().map(|d| d.running());
        let waiting = child.wait_with_output();
        let output = match &deadline {
            None => waiting.await,
            Some(deadline) => {
                tokio::select! {
                    output = waiting => output,
                    () = tokio::time::sleep_until(deadline.at()) => {
                        // SIGTERM to the group first, so a file being written is removed;
                        // dropping the child then kills what is left of it.
                        if let Some(group) = group {
                            let _ = std::process::Command::new("kill")
                                .args(["-TERM", "--", &format!("-{group}")])
                                .stderr(Stdio::null())
                                .status();
                        }
                        deadline.expire();
                        return Err(deadline_error());
                    }
                }
            }
        }
        .map_err(|e| TransportError::Io(format!("waiting for {program}: {e}")))?;
        let rc = match output.status.code() {
            Some(code) => code,
            None => {
                use std::os::unix::process::ExitStatusExt;
                -output.status.signal().unwrap_or(1)
            }
        };
        Ok(Output {
            rc,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

impl Transport for LocalTransport {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.run_exec(exec))
    }

    fn run_remembered<'a>(
        &'a self,
        exec: &'a Exec,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.remembered.run(self, exec))
    }

    fn commands_are_remote(&self) -> bool {
        !self.wrapper.is_empty()
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if !self.wrapper.is_empty() {
                // Under become the file must be written by the other user: go through a
                // command so the write happens with its rights.
                return crate::transport::put_with_commands(
                    self,
                    path,
                    content,
                    attrs,
                    crate::transport::PutContent::Input,
                )
                .await;
            }
            let path = path.to_string();
            let content = content.to_vec();
            let attrs = attrs.clone();
            tokio::task::spawn_blocking(move || write_atomically(&path, &content, &attrs))
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?
        })
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            if !self.wrapper.is_empty() {
                return crate::transport::get_with_commands(self, path).await;
            }
            match tokio::fs::read(path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(TransportError::Io(format!("reading {path}: {e}"))),
            }
        })
    }
}

/// Temp file beside the destination, fsync, attributes, rename: readers see the old file
/// or the new one, and a failure leaves the old one in place.
fn write_atomically(path: &str, content: &[u8], attrs: &FileAttrs) -> Result<(), TransportError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |what: &str, e: std::io::Error| TransportError::Io(format!("{what} {path}: {e}"));
    let destination = Path::new(path);
    let directory = destination
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = destination
        .file_name()
        .ok_or_else(|| TransportError::Io(format!("{path} is not a file path")))?
        .to_string_lossy();
    let existing_mode = std::fs::metadata(destination)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let mut attempt = 0u32;
    let (temp_path, mut file) = loop {
        let candidate = directory.join(format!(
            ".{name}.rplay-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(io("creating a temporary file for", e)),
        }
    };
    let result = (|| {
        file.write_all(content).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
        let mode = attrs
            .mode
            .or(existing_mode)
            .unwrap_or_else(|| 0o666 & !umask());
        std::fs::set_permissions(&temp_path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io("setting the mode of", e))?;
        if attrs.owner.is_some() || attrs.group.is_some() {
            let spec = format!(
                "{}:{}",
                attrs.owner.clone().unwrap_or_default(),
                attrs.group.clone().unwrap_or_default()
            );
            let status = std::process::Command::new("chown")
                .arg(spec.trim_end_matches(':'))
                .arg(&temp_path)
                .status()
                .map_err(|e| io("changing the owner of", e))?;
            if !status.success() {
                return Err(TransportError::Io(format!(
                    "chown {spec} failed for {path}"
                )));
            }
        } else if let Ok(meta) = std::fs::metadata(destination) {
            use std::os::unix::fs::MetadataExt;
            // Keep the owner of the file being replaced, as an in-place edit would.
            let _ = std::os::unix::fs::chown(&temp_path, Some(meta.uid()), Some(meta.gid()));
        }
        std::fs::rename(&temp_path, destination).map_err(|e| io("renaming over", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp_path);
    }
    result
}

fn umask() -> u32 {
    // Reading the umask means setting it; do it once and put it back.
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_and_keeps_streams_apart() {
        let transport = LocalTransport::new();
        let output = transport
            .run(&Exec::new(["sh", "-c", "echo out; echo err >&2; exit 3"]))
            .await
            .unwrap();
        assert_eq!(output.rc, 3);
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[tokio::test]
    async fn missing_program_is_rc_2() {
        let output = LocalTransport::new()
            .run(&Exec::new(["/nonexistent/program"]))
            .await
            .unwrap();
        assert_eq!(output.rc, 2);
    }

    #[tokio::test]
    async fn put_is_atomic_and_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.conf");
        let path = path.to_str().unwrap();
        let transport = LocalTransport::new();
        let attrs = FileAttrs {
            mode: Some(0o600),
            ..FileAttrs::default()
        };
        transport.put(path, b"one", &attrs).await.unwrap();
        transport.put(path, b"two", &attrs).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"two");
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
        assert_eq!(transport.get(path).await.unwrap().unwrap(), b"two");
        assert_eq!(transport.get("/nonexistent/x").await.unwrap(), None);
    }
}
