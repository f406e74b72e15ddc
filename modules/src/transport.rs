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
    /// rplay's own command (a `stat`, a `cat`, a file write), known to leave no process
    /// behind that could go on writing to its output after it ends. A transport may
    /// stream such a command's output straight back instead of capturing it apart from
    /// every other command's (see the SSH helper's framing).
    pub own: bool,
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

    /// Marks the command as rplay's own (see [`Exec::own`]).
    pub fn own(mut self) -> Self {
        self.own = true;
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

    /// Runs a command whose answer cannot change during a run (the umask and ids of the
    /// user commands run as), asking the host once where the transport keeps answers per
    /// host (see [`Remembered`]). The default asks every time.
    fn run_remembered<'a>(
        &'a self,
        exec: &'a Exec,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        self.run(exec)
    }

    /// Whether each command is a round trip to another machine (or through `become`), so
    /// that one command doing two things beats two; `false` where commands are local
    /// processes and files are read directly.
    fn commands_are_remote(&self) -> bool {
        true
    }
}

/// The answers a transport remembers for [`Transport::run_remembered`], by the whole
/// command (a `become` prefix included, so each user has its own): successful ones only,
/// and never for a command with input (it may carry a password).
#[derive(Debug, Default)]
pub struct Remembered {
    answers: std::sync::Mutex<std::collections::HashMap<String, Output>>,
}

impl Remembered {
    pub async fn run(
        &self,
        transport: &(impl Transport + ?Sized),
        exec: &Exec,
    ) -> Result<Output, TransportError> {
        if exec.stdin.is_some() {
            return transport.run(exec).await;
        }
        let key = format!("{:?}", (&exec.argv, &exec.env, &exec.cwd));
        if let Some(output) = self.answers.lock().expect("answers lock").get(&key) {
            return Ok(output.clone());
        }
        let output = transport.run(exec).await?;
        if output.success() {
            self.answers
                .lock()
                .expect("answers lock")
                .insert(key, output.clone());
        }
        Ok(output)
    }
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
/// owner, `$4` the temporary file, a fresh name beside the destination, created
/// exclusively (`set -C`) and private (umask 077) until its mode is set, or with `$5`, a
/// umask, already with its final mode (a mode without execute or special bits needs no
/// `chmod`); `$6`, when given, is the content (else it comes on standard input). A hang-up
/// or termination (Ctrl-C in rplay stops commands with SIGTERM) removes the temporary
/// file, so no half-written `.rplay.*` file is left beside the destination. Processes:
/// `cat` (unless the content is `$6`, written by the `printf` builtin), `sync`, `chmod`
/// unless the mode came with the file, `cp --attributes-only` to give a replaced file's
/// mode and owner to the new one (`chmod --reference` alone where the owner cannot be
/// kept: rplay does not run as root), `chown` when asked, and `mv`.
const PUT_SCRIPT: &str = r#"set -e
dest=$1; mode=$2; owner=$3; tmp=$4; made=$5
(umask "${made:-077}" && set -C && : >"$tmp")
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 143' HUP INT TERM
if [ $# -ge 6 ]; then
  # dash's printf says only "I/O error" when the write fails: write again through cat,
  # which names the cause (a full disk).
  printf '%s' "$6" >>"$tmp" 2>/dev/null || printf '%s' "$6" | cat >"$tmp"
else cat >>"$tmp"; fi
sync "$tmp" 2>/dev/null || true
if [ -n "$made" ]; then :
elif [ -n "$mode" ]; then chmod "$mode" "$tmp"
elif [ -e "$dest" ] && [ -z "$owner" ]; then
  cp --attributes-only --preserve=mode,ownership -- "$dest" "$tmp" 2>/dev/null ||
    chmod --reference="$dest" "$tmp"
elif [ -e "$dest" ]; then chmod --reference="$dest" "$tmp"
else chmod "$(printf '%o' $((0666 & ~$(umask))))" "$tmp"; fi
if [ -n "$owner" ]; then chown "$owner" "$tmp"; fi
mv -f "$tmp" "$dest"
trap - EXIT
"#;

/// Bytes that can travel inside a quoted shell word: UTF-8 without NUL.
pub fn shell_text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.contains('\0'))
}

/// How `put_with_commands` hands the content over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutContent {
    /// On the script's standard input: any bytes, through any transport.
    Input,
    /// As an argument of the script when it is text (UTF-8 without NUL), for a transport
    /// that runs `sh -c` scripts inside its own shell, where arguments have no size limit;
    /// other content still goes on standard input.
    ArgumentWhenText,
}

/// A fresh name for a temporary file beside `path`: `.rplay.` and twelve hex digits from
/// this process's random hash keys and a counter.
pub fn temporary_beside(path: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let name = format!(".rplay.{:012x}", hasher.finish() & 0xffff_ffff_ffff);
    match path.rfind('/') {
        Some(0) => format!("/{name}"),
        Some(slash) => format!("{}/{name}", &path[..slash]),
        None => name,
    }
}

/// `put` through commands alone, for transports where the file must be written by another
/// user (become) or where no file-transfer channel exists: the content goes over stdin to
/// a temp file beside the destination, then `mv` renames it into place.
pub async fn put_with_commands(
    transport: &(impl Transport + ?Sized),
    path: &str,
    content: &[u8],
    attrs: &FileAttrs,
    how: PutContent,
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
    // A mode of read and write bits alone is what the file gets when created under the
    // complementary umask: no `chmod`.
    let made = match attrs.mode {
        Some(mode) if mode & !0o666 == 0 => format!("{:03o}", 0o666 & !mode),
        _ => String::new(),
    };
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-put".to_string(),
        path.to_string(),
        attrs.mode.map(|m| format!("{m:o}")).unwrap_or_default(),
        owner,
        temporary_beside(path),
        made,
    ];
    let text = shell_text(content).filter(|_| how == PutContent::ArgumentWhenText);
    let exec = match text {
        Some(text) => {
            argv.push(text.to_string());
            Exec::new(argv)
        }
        None => Exec::new(argv).stdin(content.to_vec()),
    }
    .own();
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

/// `get` through `cat`, for the same cases as [`put_with_commands`]; a missing file is
/// `cat`'s "No such file or directory" (run with `LC_ALL=C`, so in English).
pub async fn get_with_commands(
    transport: &(impl Transport + ?Sized),
    path: &str,
) -> Result<Option<Vec<u8>>, TransportError> {
    let mut exec = Exec::new(["cat", "--", path]).own();
    exec.env.push(("LC_ALL".to_string(), "C".to_string()));
    let output = transport.run(&exec).await?;
    if output.success() {
        return Ok(Some(output.stdout));
    }
    let stderr = output.stderr_text();
    if stderr.contains("No such file or directory") {
        return Ok(None);
    }
    Err(TransportError::Io(format!(
        "reading {path}: {}",
        stderr.trim()
    )))
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
            .arg(temporary_beside(dest.to_str().unwrap()))
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
        // Private while it is written, whatever the umask gives a new file.
        let temporary = dir.path().join(&temporary_files(dir.path())[0]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&temporary).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
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

    #[tokio::test]
    async fn a_put_writes_the_file_and_never_reuses_a_temporary_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file");
        let dest_text = dest.to_str().unwrap();
        let transport = crate::local::LocalTransport::new();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        let attrs = FileAttrs {
            mode: Some(0o640),
            ..FileAttrs::default()
        };
        put_with_commands(&transport, dest_text, b"one\n", &attrs, PutContent::Input)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"one\n");
        assert_eq!(mode(&dest), 0o640);
        // No mode: the replaced file's is kept.
        put_with_commands(
            &transport,
            dest_text,
            b"two\n",
            &FileAttrs::default(),
            PutContent::Input,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two\n");
        assert_eq!(mode(&dest), 0o640);
        assert_eq!(temporary_files(dir.path()), Vec::<String>::new());

        // A file already at the temporary name is neither written nor removed.
        let taken = temporary_beside(dest_text);
        std::fs::write(&taken, b"someone else's").unwrap();
        let output = Command::new("sh")
            .args(["-c", PUT_SCRIPT, "rplay-put", dest_text, "", "", &taken])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert_eq!(std::fs::read(&taken).unwrap(), b"someone else's");
        assert_eq!(std::fs::read(&dest).unwrap(), b"two\n");
    }

    #[test]
    fn temporary_names_are_beside_the_path_and_differ() {
        let first = temporary_beside("/etc/containerd/config.toml");
        let second = temporary_beside("/etc/containerd/config.toml");
        assert!(first.starts_with("/etc/containerd/.rplay."), "{first}");
        assert_eq!(first.len(), "/etc/containerd/.rplay.".len() + 12);
        assert_ne!(first, second);
        assert!(temporary_beside("/top").starts_with("/.rplay."));
        assert!(temporary_beside("relative").starts_with(".rplay."));
    }

    #[tokio::test]
    async fn a_get_reads_the_file_or_says_it_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"content\0\xff").unwrap();
        let transport = crate::local::LocalTransport::new();
        let got = get_with_commands(&transport, file.to_str().unwrap()).await;
        assert_eq!(got.unwrap(), Some(b"content\0\xff".to_vec()));
        let missing = dir.path().join("missing");
        let got = get_with_commands(&transport, missing.to_str().unwrap()).await;
        assert_eq!(got.unwrap(), None);
        let got = get_with_commands(&transport, dir.path().to_str().unwrap()).await;
        assert!(got.unwrap_err().to_string().contains("Is a directory"));
    }
}
