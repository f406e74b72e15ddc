//! The only way a module touches a host.
//!
//! Every transport (local processes, an SSH connection, a chroot) implements [`Transport`].
//! Commands are argv vectors: quoting happens once, inside the transport that needs it.

use futures::future::BoxFuture;

/// A command to run on the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exec {
    /// The program and its arguments; never a shell string assembled by hand.
    pub argv: Vec<String>,
    /// Bytes written to the command's standard input, then closed.
    pub stdin: Option<Vec<u8>>,
    /// Extra environment variables for this command.
    pub env: Vec<(String, String)>,
    /// Working directory, when not the login directory.
    pub cwd: Option<String>,
}

impl Exec {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Exec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Exec::default()
        }
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.rc == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Mode and ownership for a file written on the host. `None` keeps what the file had, or
/// the umask's default for a new file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileAttrs {
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// The host could not be reached or did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The host is gone: the task counts as unreachable, not failed.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The transport worked but the operation failed (permission denied, no such directory).
    #[error("{0}")]
    Io(String),
}

/// The contract every transport keeps:
/// - `run` waits for the command and returns its exit code and both output streams apart;
///   a non-zero exit is an `Ok` output, not an error.
/// - `put` is atomic: the content goes to a temporary file in the destination's directory,
///   is flushed to disk and renamed over the destination, so readers see the old file or
///   the new one, never a part. Mode and owner are set before the rename.
/// - `get` returns `None` when the file does not exist.
pub trait Transport: Send + Sync {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>>;

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>>;
}

/// A time limit on everything a task runs on its host (the `timeout:` keyword).
///
/// The limit travels with the task as a task-local value rather than through every
/// module's signature: a module only calls `run`, `put` and `get`, and the transport under
/// it reads [`Deadline::current`]. A transport keeps the contract by refusing to start a
/// command once the limit has passed, and by stopping a running command on the host when
/// it passes (its process group gets SIGTERM, so a file being written is removed), then
/// calling [`Deadline::expire`] and returning an error. The engine reads
/// [`Deadline::expired`] to report the task as timed out rather than as the error.
#[derive(Debug)]
pub struct Deadline {
    at: tokio::time::Instant,
    expired: std::sync::atomic::AtomicBool,
    /// Commands running under this limit: when it passes, the engine gives their
    /// transports time to stop them on the host before it lets the task go.
    running: std::sync::atomic::AtomicUsize,
}

/// A command running under a [`Deadline`], from [`Deadline::running`]; counts until
/// dropped.
pub struct Running<'a>(&'a Deadline);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

tokio::task_local! {
    static DEADLINE: std::sync::Arc<Deadline>;
}

impl Deadline {
    pub fn new(at: tokio::time::Instant) -> std::sync::Arc<Deadline> {
        std::sync::Arc::new(Deadline {
            at,
            expired: std::sync::atomic::AtomicBool::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub fn at(&self) -> tokio::time::Instant {
        self.at
    }

    /// Runs `work` under this limit: transports called from it see it as current.
    pub async fn scope<F: std::future::Future>(self: &std::sync::Arc<Self>, work: F) -> F::Output {
        DEADLINE.scope(self.clone(), work).await
    }

    /// The limit of the task this code runs for, if it has one.
    pub fn current() -> Option<std::sync::Arc<Deadline>> {
        DEADLINE.try_with(|deadline| deadline.clone()).ok()
    }

    /// Counts a command as running on the host until the guard is dropped.
    pub fn running(&self) -> Running<'_> {
        self.running
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running(self)
    }

    /// Whether a command is running under this limit now.
    pub fn is_busy(&self) -> bool {
        self.running.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Marks the limit as reached: a command was refused or stopped because of it.
    pub fn expire(&self) {
        self.expired
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn expired(&self) -> bool {
        self.expired.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the limit has passed; marks it expired if so.
    pub fn passed(&self) -> bool {
        if tokio::time::Instant::now() >= self.at {
            self.expire();
        }
        self.expired()
    }
}

/// The error of a command refused or stopped because the task's time limit passed.
pub fn deadline_error() -> TransportError {
    TransportError::Io("the task's time limit passed; the command was stopped".to_string())
}

/// The script `put_with_commands` runs: `$1` the destination, `$2` the mode, `$3` the
/// owner. A hang-up or termination (Ctrl-C in rplay stops commands with SIGTERM) removes
/// the temporary file, so no half-written `.rplay.*` file is left beside the destination.
const PUT_SCRIPT: &str = r#"set -e
dest=$1; mode=$2; owner=$3
dir=$(dirname -- "$dest")
tmp=$(mktemp "$dir/.rplay.XXXXXXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 143' HUP INT TERM
cat > "$tmp"
sync "$tmp" 2>/dev/null || true
if [ -n "$mode" ]; then chmod "$mode" "$tmp"
elif [ -e "$dest" ]; then chmod --reference="$dest" "$tmp"
else chmod "$(printf '%o' $((0666 & ~$(umask))))" "$tmp"; fi
if [ -n "$owner" ]; then chown "$owner" "$tmp"
elif [ -e "$dest" ]; then chown --reference="$dest" "$tmp" 2>/dev/null || true; fi
mv -f "$tmp" "$dest"
trap - EXIT
"#;

/// `put` through commands alone, for transports where the file must be written by another
/// user (become) or where no file-transfer channel exists: the content goes over stdin to
/// a temp file beside the destination, then `mv` renames it into place.
pub async fn put_with_commands(
    transport: &(impl Transport + ?Sized),
    path: &str,
    content: &[u8],
    attrs: &FileAttrs,
) -> Result<(), TransportError> {
    let script = PUT_SCRIPT;
    let owner = match (&attrs.owner, &attrs.group) {
        (None, None) => String::new(),
        (owner, group) => format!(
            "{}:{}",
            owner.clone().unwrap_or_default(),
            group.clone().unwrap_or_default()
        )
        .trim_end_matches(':')
        .to_string(),
    };
    let exec = Exec::new([
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-put".to_string(),
        path.to_string(),
        attrs.mode.map(|m| format!("{m:o}")).unwrap_or_default(),
        owner,
    ])
    .stdin(content.to_vec());
    let output = transport.run(&exec).await?;
    if output.success() {
        Ok(())
    } else {
        Err(TransportError::Io(format!(
            "writing {path}: {}",
            output.stderr_text().trim()
        )))
    }
}

/// `get` through `cat`, for the same cases as [`put_with_commands`].
pub async fn get_with_commands(
    transport: &(impl Transport + ?Sized),
    path: &str,
) -> Result<Option<Vec<u8>>, TransportError> {
    let exec = Exec::new([
        "sh",
        "-c",
        "if [ -e \"$1\" ]; then exec cat -- \"$1\"; else exit 66; fi",
        "rplay-get",
        path,
    ]);
    let output = transport.run(&exec).await?;
    match output.rc {
        0 => Ok(Some(output.stdout)),
        66 => Ok(None),
        _ => Err(TransportError::Io(format!(
            "reading {path}: {}",
            output.stderr_text().trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn temporary_files(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".rplay."))
            .collect()
    }

    #[test]
    fn a_put_stopped_mid_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file");
        let mut child = Command::new("sh")
            .args(["-c", PUT_SCRIPT, "rplay-put"])
            .arg(&dest)
            .args(["", ""])
            .process_group(0)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // Half the content, and the input kept open: `cat` is writing the temporary file.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"the first half").unwrap();
        stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while temporary_files(dir.path()).is_empty() {
            assert!(Instant::now() < deadline, "no temporary file appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        // As rplay stops a command on a host: SIGTERM to its process group.
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-TERM", "--", &group])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success());
        drop(stdin);
        assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
        assert!(!dest.exists());
    }
}
