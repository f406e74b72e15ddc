//! The SSH transport: one connection per host for the whole run, and commands framed
//! through helper shells on it rather than one sshd session each (see [`framing`]).
//!
//! Building an [`SshTransport`] does not connect. The first `run`, `put` or `get`
//! connects (within the connect timeout: TCP, key exchange, host key check and login),
//! and later calls reuse the connection; if it breaks, the next call connects again.
//! Commands on one host usually come one at a time and share one helper shell; parallel
//! callers get up to [`MAX_HELPERS`] helpers, each a session channel, well under sshd's
//! default `MaxSessions 10`. Helpers are closed when their connection goes, and any
//! helper whose state is in doubt (a broken reply, a timed-out or cancelled command) is
//! closed at once rather than reused.
//!
//! Jump hosts are reached through `direct-tcpip` channels of one connection per bastion,
//! shared by every target behind it.

use super::auth;
use super::framing;
use super::known_hosts::{self, display_path, HostKeyChecking, KnownHosts, Verdict};
use super::quick_ack::QuickAckStream;
use super::ssh_settings::SshSettings;
use crate::interrupt::Interrupt;
use futures::future::BoxFuture;
use rplay_modules::transport::{
    deadline_error, get_with_commands, put_with_commands, PutContent, Remembered,
};
use rplay_modules::{Deadline, Exec, FileAttrs, Output, Transport, TransportError};
use russh::client;
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Semaphore;

/// Most helper channels open at once on one connection.
pub const MAX_HELPERS: usize = 4;

/// How long a stopped command's helper may take to report before it is given up.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest pause between two connection tries.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);

/// The pause after the `tries`-th failed connection: 1 s doubling up to [`MAX_BACKOFF`],
/// plus up to a quarter of it at random.
fn backoff(tries: u32) -> std::time::Duration {
    use rand::Rng;
    let base = std::time::Duration::from_secs(1u64 << (tries - 1).min(5)).min(MAX_BACKOFF);
    base.mul_f64(1.0 + rand::thread_rng().gen_range(0.0..0.25))
}

/// A failed connection attempt, and whether trying again may help.
#[derive(Debug)]
struct ConnectFailure {
    error: TransportError,
    /// Another try would fail the same way (a refused host key, a failed login, a bad
    /// setting).
    lasting: bool,
}

impl ConnectFailure {
    fn lasting(error: TransportError) -> ConnectFailure {
        ConnectFailure {
            error,
            lasting: true,
        }
    }
}

/// Failures are passing unless said otherwise.
impl From<TransportError> for ConnectFailure {
    fn from(error: TransportError) -> ConnectFailure {
        ConnectFailure {
            error,
            lasting: false,
        }
    }
}

/// The error of a command cut short by Ctrl-C.
const INTERRUPTED: &str = "interrupted by the user";

/// A host reached over SSH.
pub struct SshTransport {
    settings: Arc<SshSettings>,
    /// Ctrl-C: commands running through this transport are stopped on the host.
    interrupt: Interrupt,
    slot: tokio::sync::Mutex<Slot>,
    /// Connection attempts so far, read before waiting on `slot`: a caller that waited
    /// while another attempt failed gets that failure instead of trying again at once.
    attempts: AtomicU64,
    /// Answers that hold for the whole run (`run_remembered`).
    remembered: Remembered,
}

#[derive(Default)]
struct Slot {
    connection: Option<Arc<Connection>>,
    last_error: Option<TransportError>,
}

impl SshTransport {
    pub fn new(settings: SshSettings) -> SshTransport {
        SshTransport::with_interrupt(settings, Interrupt::new())
    }

    /// A transport whose running commands are stopped when `interrupt` triggers.
    pub fn with_interrupt(settings: SshSettings, interrupt: Interrupt) -> SshTransport {
        SshTransport {
            settings: Arc::new(settings),
            interrupt,
            slot: tokio::sync::Mutex::new(Slot::default()),
            attempts: AtomicU64::new(0),
            remembered: Remembered::default(),
        }
    }

    pub fn settings(&self) -> &SshSettings {
        &self.settings
    }

    /// The live connection, opened on first use and again after a break.
    async fn connection(&self) -> Result<Arc<Connection>, TransportError> {
        let seen = self.attempts.load(Ordering::SeqCst);
        let mut slot = self.slot.lock().await;
        if let Some(connection) = &slot.connection {
            if !connection.handle.is_closed() {
                return Ok(connection.clone());
            }
        }
        if self.attempts.load(Ordering::SeqCst) != seen {
            if let Some(error) = &slot.last_error {
                return Err(error.clone());
            }
        }
        self.attempts.fetch_add(1, Ordering::SeqCst);
        slot.connection = None;
        match self.connect_with_retries().await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                slot.connection = Some(connection.clone());
                slot.last_error = None;
                Ok(connection)
            }
            Err(error) => {
                slot.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Connects, trying again up to `connect_retries` times after a failure that another
    /// try may cure (a refused or reset connection, a timeout), with pauses of 1, 2, 4 …
    /// seconds (at most [`MAX_BACKOFF`]), each lengthened by up to a quarter at random so
    /// that many hosts behind one bastion do not all come back at once. A refused host key
    /// or a failed login is final: trying again would only count against the account.
    async fn connect_with_retries(&self) -> Result<Connection, TransportError> {
        let retries = self.settings.connect_retries;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let failure = match connect_within_timeout(&self.settings).await {
                Ok(connection) => return Ok(connection),
                Err(failure) => failure,
            };
            if failure.lasting || tries > retries {
                return Err(match failure.error {
                    TransportError::Unreachable(message) if tries > 1 => {
                        TransportError::Unreachable(format!("{message} ({tries} tries)"))
                    }
                    error => error,
                });
            }
            let pause = backoff(tries);
            tracing::info!(
                "{}; trying again in {:.1} s ({} of {retries} retries)",
                failure.error,
                pause.as_secs_f64(),
                tries
            );
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.interrupt.triggered() => {
                    return Err(TransportError::Io(INTERRUPTED.to_string()));
                }
            }
        }
    }

    /// Closes the helper channels and the connection; the next call connects again.
    pub async fn close(&self) {
        let connection = self.slot.lock().await.connection.take();
        if let Some(connection) = connection {
            connection.close().await;
        }
    }

    async fn run_exec(&self, exec: &Exec) -> Result<Output, TransportError> {
        if self.interrupt.is_triggered() {
            return Err(TransportError::Io(INTERRUPTED.to_string()));
        }
        let deadline = Deadline::current();
        if deadline.as_ref().is_some_and(|d| d.passed()) {
            return Err(deadline_error());
        }
        let connection = self.connection().await?;
        let _permit = connection
            .slots
            .acquire()
            .await
            .map_err(|_| TransportError::Io("the connection is closing".to_string()))?;
        let mut helper = loop {
            let idle = connection.idle.lock().expect("helper pool lock").pop();
            match idle {
                Some(mut helper) => {
                    if helper.is_idle_and_alive() {
                        break helper;
                    }
                    // A helper that died while idle (killed on the host) has run nothing
                    // yet: replace it rather than fail the command.
                    helper.close().await;
                }
                None => match Helper::start(&connection.handle).await {
                    Ok(helper) => break helper,
                    Err(error) => return Err(connection.failure(error).await),
                },
            }
        };
        let pid = helper.pid;
        let _running = deadline.as_ref().map(|d| d.running());
        let result = {
            let run = helper.run(exec);
            tokio::pin!(run);
            let timeout = async {
                match self.settings.command_timeout {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            let task_deadline = async {
                match &deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline.at()).await,
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                result = &mut run => Ok(result),
                () = timeout => Err(format!(
                    "the command did not finish within {} s",
                    self.settings.command_timeout.unwrap_or_default().as_secs_f64()
                )),
                () = task_deadline => {
                    if let Some(deadline) = &deadline {
                        deadline.expire();
                    }
                    Err(deadline_error().to_string())
                }
                () = self.interrupt.triggered() => Err(INTERRUPTED.to_string()),
            };
            match outcome {
                Ok(result) => result,
                Err(why) => {
                    // Stop the command on the host rather than leave it running: the
                    // helper's process group gets SIGTERM, and a command writing a file
                    // removes its temporary file.
                    connection.stop_helper(pid).await;
                    let _ = tokio::time::timeout(STOP_GRACE, &mut run).await;
                    Err(HelperError::Broken(why))
                }
            }
        };
        match result {
            Ok(output) => {
                connection
                    .idle
                    .lock()
                    .expect("helper pool lock")
                    .push(helper);
                Ok(output)
            }
            Err(HelperError::Refused(message)) => {
                connection
                    .idle
                    .lock()
                    .expect("helper pool lock")
                    .push(helper);
                Err(TransportError::Io(message))
            }
            Err(error) => {
                helper.close().await;
                Err(connection.failure(error).await)
            }
        }
    }
}

impl Transport for SshTransport {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.run_exec(exec))
    }

    fn run_remembered<'a>(
        &'a self,
        exec: &'a Exec,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.remembered.run(self, exec))
    }

    /// Sends the content through a helper (text as an argument of the write script, which
    /// the helper runs in its own shell; other bytes as base64) to a temporary file beside
    /// the destination that is synced and renamed into place.
    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(put_with_commands(
            self,
            path,
            content,
            attrs,
            PutContent::ArgumentWhenText,
        ))
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(get_with_commands(self, path))
    }
}

/// One authenticated connection and its helper shells.
struct Connection {
    handle: client::Handle<HostKeyHandler>,
    idle: Mutex<Vec<Helper>>,
    slots: Semaphore,
    /// `user@host:port`, for messages.
    address: String,
    /// The jump host's connection, kept open while this one lives.
    _through: Option<Arc<Connection>>,
    /// The `ProxyCommand` process carrying this connection.
    _proxy: Option<tokio::process::Child>,
    /// What the session said about the host key, and why it ended.
    outcome: Arc<HostKeyOutcome>,
}

impl Connection {
    /// Turns a helper failure into the transport's error: a lost connection makes the
    /// host unreachable; a helper that died on a live connection fails only the task.
    async fn failure(&self, error: HelperError) -> TransportError {
        match error {
            HelperError::Lost(message) => TransportError::Unreachable(format!(
                "connection to `{}` lost: {}",
                self.address,
                self.end_cause().await.unwrap_or(message)
            )),
            HelperError::Broken(message) if self.handle.is_closed() => {
                TransportError::Unreachable(format!(
                    "connection to `{}` lost: {}",
                    self.address,
                    self.end_cause().await.unwrap_or(message)
                ))
            }
            HelperError::Broken(message) | HelperError::Refused(message) => {
                TransportError::Io(message)
            }
        }
    }

    /// Why the connection ended (reset, closed by the host, no answer to keepalives), as
    /// the session reports it just after its channels close; `None` when it says nothing
    /// within a moment.
    async fn end_cause(&self) -> Option<String> {
        let mut ended = self.outcome.ended.subscribe();
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            ended.wait_for(Option::is_some),
        )
        .await;
        match waited {
            Ok(Ok(cause)) => cause.clone(),
            _ => None,
        }
    }

    /// Sends SIGTERM to a helper's process group (the helper is its session's leader,
    /// so the group is its commands), from a channel of its own: the helper itself is busy
    /// waiting for its command.
    async fn stop_helper(&self, pid: u32) {
        let command = format!("kill -TERM -- -{pid} 2>/dev/null || kill -TERM {pid}");
        let stop = async {
            let mut channel = self.handle.channel_open_session().await.ok()?;
            channel.exec(true, command.as_bytes()).await.ok()?;
            while let Some(message) = channel.wait().await {
                if matches!(message, ChannelMsg::ExitStatus { .. } | ChannelMsg::Close) {
                    break;
                }
            }
            let _ = channel.close().await;
            Some(())
        };
        let _ = tokio::time::timeout(STOP_GRACE, stop).await;
    }

    async fn close(&self) {
        self.slots.close();
        let helpers: Vec<Helper> =
            std::mem::take(&mut *self.idle.lock().expect("helper pool lock"));
        for helper in helpers {
            helper.close().await;
        }
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

#[derive(Debug)]
enum HelperError {
    /// The command could not be framed (an empty argv): the helper is still fine.
    Refused(String),
    /// The helper is in doubt and must not be reused.
    Broken(String),
    /// The connection under the helper went away.
    Lost(String),
}

/// One helper shell on its own session channel.
struct Helper {
    channel: Option<Channel<client::Msg>>,
    serial: u64,
    buffer: Vec<u8>,
    /// What arrived on the channel's stderr and is not yet part of a reply.
    err_buffer: Vec<u8>,
    /// The shell's process id on the host, from its ready reply.
    pid: u32,
}

impl Helper {
    async fn start(handle: &client::Handle<HostKeyHandler>) -> Result<Helper, HelperError> {
        let channel = handle.channel_open_session().await.map_err(|e| {
            if handle.is_closed() {
                HelperError::Lost(e.to_string())
            } else {
                HelperError::Broken(format!("cannot open a session channel: {e}"))
            }
        })?;
        let mut helper = Helper {
            channel: Some(channel),
            serial: 0,
            buffer: Vec::new(),
            err_buffer: Vec::new(),
            pid: 0,
        };
        let token = framing::new_token();
        let channel = helper.channel.as_ref().expect("channel");
        let sent = async {
            channel.exec(true, framing::HELPER_COMMAND).await?;
            channel
                .data(framing::start_snippet(&token).as_bytes())
                .await
        };
        sent.await
            .map_err(|e| HelperError::Lost(format!("cannot start a shell: {e}")))?;
        match helper.read_reply(&token, false).await {
            Ok(ready) => {
                helper.pid = u32::try_from(ready.rc).unwrap_or(0);
                Ok(helper)
            }
            Err(HelperError::Broken(message)) => Err(HelperError::Broken(format!(
                "cannot start the helper shell `/bin/sh`: {message}"
            ))),
            Err(error) => Err(error),
        }
    }

    /// Whether nothing arrived since the last reply but what an idle helper may send;
    /// looks without waiting.
    fn is_idle_and_alive(&mut self) -> bool {
        use futures::FutureExt;
        let Some(channel) = self.channel.as_mut() else {
            return false;
        };
        loop {
            match channel.wait().now_or_never() {
                // Nothing pending: the shell is waiting for its next snippet.
                None => return true,
                Some(
                    None | Some(ChannelMsg::Eof | ChannelMsg::Close | ChannelMsg::Data { .. }),
                ) => return false,
                Some(Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. })) => {
                    return false
                }
                Some(Some(_)) => {}
            }
        }
    }

    async fn run(&mut self, exec: &Exec) -> Result<Output, HelperError> {
        let token = framing::new_token();
        let snippet =
            framing::command_snippet(exec, &token, self.serial).map_err(HelperError::Refused)?;
        self.serial += 1;
        let channel = self.channel.as_ref().expect("an open helper has a channel");
        channel
            .data(snippet.as_bytes())
            .await
            .map_err(|e| HelperError::Lost(e.to_string()))?;
        self.read_reply(&token, exec.own).await
    }

    async fn read_reply(&mut self, token: &str, own: bool) -> Result<Output, HelperError> {
        let channel = self.channel.as_mut().expect("an open helper has a channel");
        // The helper's stderr carries own commands' stderr (each ended by its token) and
        // the helper's own messages (it could not create a file), which belong to the
        // command being run.
        let mut exit_status = None;
        let mut searched = 0;
        let mut own_reply = framing::OwnReply::default();
        loop {
            if own {
                if let Some((output, used, used_err)) =
                    framing::parse_own_reply(&self.buffer, &self.err_buffer, token, &mut own_reply)
                        .map_err(HelperError::Broken)?
                {
                    self.buffer.drain(..used);
                    self.err_buffer.drain(..used_err);
                    return Ok(output);
                }
            } else if let Some((mut output, used)) =
                framing::parse_reply(&self.buffer, token, &mut searched)
                    .map_err(HelperError::Broken)?
            {
                self.buffer.drain(..used);
                output.stderr.append(&mut self.err_buffer);
                return Ok(output);
            }
            match channel.wait().await {
                Some(ChannelMsg::Data { data }) => self.buffer.extend_from_slice(&data),
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    self.err_buffer.extend_from_slice(&data)
                }
                Some(ChannelMsg::ExitStatus { exit_status: code }) => exit_status = Some(code),
                Some(ChannelMsg::Failure) => {
                    return Err(HelperError::Broken(
                        "the host refused to run a command on the channel".to_string(),
                    ))
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) => {
                    let mut message = "the helper shell exited".to_string();
                    if let Some(code) = exit_status {
                        message.push_str(&format!(" with status {code}"));
                    }
                    let stderr = String::from_utf8_lossy(&self.err_buffer);
                    if !stderr.trim().is_empty() {
                        message.push_str(&format!(": {}", stderr.trim()));
                    }
                    return Err(HelperError::Broken(message));
                }
                // The session dropped the channel: the connection is gone.
                None => return Err(HelperError::Lost("the connection closed".to_string())),
                Some(_) => {}
            }
        }
    }

    /// Ends the helper: end of input makes the shell exit and remove its files.
    async fn close(mut self) {
        if let Some(channel) = self.channel.take() {
            let _ = channel.eof().await;
            let _ = channel.close().await;
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // A helper dropped mid-command (its task was cancelled) is closed in the
        // background when a runtime is there; otherwise the connection's end closes it.
        if let Some(channel) = self.channel.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = channel.eof().await;
                    let _ = channel.close().await;
                });
            }
        }
    }
}

async fn connect_within_timeout(settings: &SshSettings) -> Result<Connection, ConnectFailure> {
    // A passphrase prompt must not eat into the connect timeout: keys that will be
    // offered are unlocked first (once per run, see `key_files`).
    auth::unlock_keys(settings).await;
    let limit = settings.connect_timeout;
    let through = if settings.jump_hosts.is_empty() {
        None
    } else {
        Some(
            tokio::time::timeout(limit, jump_connection(&settings.jump_hosts))
                .await
                .map_err(|_| {
                    unreachable_error(
                        settings,
                        &format!(
                            "timed out after {} s reaching the jump host",
                            limit.as_secs_f64()
                        ),
                    )
                })??,
        )
    };
    tokio::time::timeout(limit, connect(settings, through))
        .await
        .map_err(|_| {
            unreachable_error(
                settings,
                &format!("timed out after {} s", limit.as_secs_f64()),
            )
        })?
}

fn unreachable_error(settings: &SshSettings, cause: &str) -> TransportError {
    TransportError::Unreachable(format!(
        "failed to connect to `{}@{}` port {} via ssh: {cause}",
        settings.user, settings.host, settings.port
    ))
}

/// The connection to the last jump host of a chain, shared by every target behind it.
async fn jump_connection(hops: &[SshSettings]) -> Result<Arc<Connection>, ConnectFailure> {
    type Registry = Mutex<HashMap<String, Arc<tokio::sync::Mutex<Weak<Connection>>>>>;
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    let mut through: Option<Arc<Connection>> = None;
    let mut key = String::new();
    for hop in hops {
        key.push_str(&hop.address());
        key.push(',');
        let entry = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .expect("jump registry lock")
            .entry(key.clone())
            .or_default()
            .clone();
        // Targets behind one bastion wait here for its single connection.
        let mut shared = entry.lock().await;
        let connection = match shared.upgrade().filter(|c| !c.handle.is_closed()) {
            Some(connection) => connection,
            None => {
                let connection = Arc::new(connect(hop, through.clone()).await?);
                *shared = Arc::downgrade(&connection);
                connection
            }
        };
        through = Some(connection);
    }
    Ok(through.expect("at least one hop"))
}

/// Connects, checks the host key and logs in.
async fn connect(
    settings: &SshSettings,
    through: Option<Arc<Connection>>,
) -> Result<Connection, ConnectFailure> {
    let host_key_name = settings.host_key_name();
    let known_hosts = Arc::new(KnownHosts::load(
        &settings
            .user_known_hosts_files
            .iter()
            .chain(&settings.global_known_hosts_files)
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let mut config = client::Config {
        nodelay: true,
        keepalive_interval: settings.keepalive_interval,
        keepalive_max: settings.keepalive_max,
        ..Default::default()
    };
    // Ask for the kind of key known_hosts holds, as OpenSSH does, so a host known by
    // its RSA key is not reported unknown because it also has an ed25519 one.
    let known_algorithms = known_hosts.known_algorithms(&host_key_name);
    if !known_algorithms.is_empty() {
        let mut order = known_algorithms.clone();
        order.extend(
            config
                .preferred
                .key
                .iter()
                .filter(|a| !known_algorithms.contains(a))
                .cloned(),
        );
        config.preferred.key = order.into();
    }
    if known_hosts.has_authority(&host_key_name) {
        config.preferred.host_key_certificates = config.preferred.key.clone();
    }
    let verdict = Arc::new(HostKeyOutcome::default());
    let handler = HostKeyHandler {
        name: host_key_name.clone(),
        principal: settings
            .host_key_alias
            .clone()
            .unwrap_or_else(|| settings.host.clone()),
        policy: settings.host_key_checking,
        known_hosts,
        record_to: settings.user_known_hosts_files.first().cloned(),
        hash: settings.hash_known_hosts,
        outcome: verdict.clone(),
    };
    let config = Arc::new(config);
    let fail = |cause: String| unreachable_error(settings, &cause);
    let mut proxy = None;
    let result = match (&through, &settings.proxy_command) {
        (Some(jump), _) => {
            let channel = jump
                .handle
                .channel_open_direct_tcpip(
                    settings.host.clone(),
                    settings.port.into(),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| {
                    fail(format!(
                        "the jump host `{}` could not open a tunnel: {}",
                        jump.address,
                        describe_russh_error(&e)
                    ))
                })?;
            client::connect_stream(config, channel.into_stream(), handler).await
        }
        (None, Some(command)) => {
            let mut child = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("exec {command}"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| fail(format!("cannot run the ProxyCommand `{command}`: {e}")))?;
            let stream = tokio::io::join(
                child.stdout.take().expect("piped stdout"),
                child.stdin.take().expect("piped stdin"),
            );
            proxy = Some(child);
            client::connect_stream(config, stream, handler).await
        }
        (None, None) => {
            let stream = tcp_connect(&settings.host, settings.port)
                .await
                .map_err(fail)?;
            client::connect_stream(config, QuickAckStream::new(stream), handler).await
        }
    };
    let mut handle = result.map_err(|error| match verdict.refusal() {
        Some(refusal) => ConnectFailure::lasting(TransportError::Unreachable(refusal)),
        None => fail(describe_russh_error(&error)).into(),
    })?;
    auth::authenticate(&mut handle, settings)
        .await
        .map_err(|message| ConnectFailure::lasting(TransportError::Unreachable(message)))?;
    Ok(Connection {
        handle,
        idle: Mutex::new(Vec::new()),
        slots: Semaphore::new(MAX_HELPERS),
        address: settings.address(),
        _through: through,
        _proxy: proxy,
        outcome: verdict,
    })
}

/// TCP to the first address of `host` that answers.
async fn tcp_connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    let addresses: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve host name `{host}`: {e}"))?
        .collect();
    let mut last_error = format!("host name `{host}` has no address");
    for address in addresses {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => last_error = describe_io_error(&error),
        }
    }
    Err(last_error)
}

fn describe_io_error(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        ErrorKind::TimedOut => "connection timed out".to_string(),
        ErrorKind::UnexpectedEof => "the host closed the connection".to_string(),
        _ => {
            let text = error.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

fn describe_russh_error(error: &russh::Error) -> String {
    match error {
        russh::Error::IO(io) => describe_io_error(io),
        russh::Error::Disconnect => {
            "the host closed the connection during the handshake".to_string()
        }
        russh::Error::ChannelOpenFailure(reason) => match reason {
            russh::ChannelOpenFailure::AdministrativelyProhibited => {
                "forwarding is not allowed there (AllowTcpForwarding)".to_string()
            }
            russh::ChannelOpenFailure::ConnectFailed => "the connection failed".to_string(),
            russh::ChannelOpenFailure::UnknownChannelType => {
                "the host does not support tunnels".to_string()
            }
            russh::ChannelOpenFailure::ResourceShortage => {
                "the host is short of resources".to_string()
            }
            russh::ChannelOpenFailure::Other { reason, .. } => reason.clone(),
        },
        other => format!("ssh handshake failed: {other}"),
    }
}

/// What the host key check decided, read after the handshake, and why the session
/// ended, read when a command finds it gone.
struct HostKeyOutcome {
    refusal: Mutex<Option<String>>,
    ended: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for HostKeyOutcome {
    fn default() -> Self {
        HostKeyOutcome {
            refusal: Mutex::new(None),
            ended: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl HostKeyOutcome {
    fn refusal(&self) -> Option<String> {
        self.refusal.lock().expect("outcome lock").clone()
    }
}

/// Checks the host's key against `known_hosts` during the handshake.
struct HostKeyHandler {
    name: String,
    principal: String,
    policy: HostKeyChecking,
    known_hosts: Arc<KnownHosts>,
    record_to: Option<PathBuf>,
    hash: bool,
    outcome: Arc<HostKeyOutcome>,
}

impl HostKeyHandler {
    fn refuse(&self, message: String) -> Result<bool, russh::Error> {
        *self.outcome.refusal.lock().expect("outcome lock") = Some(message);
        Ok(false)
    }

    fn record(&self, key: &PublicKey) {
        let Some(path) = &self.record_to else {
            return;
        };
        let line = known_hosts::entry_line(&self.name, key, self.hash);
        match known_hosts::record(path, &line) {
            Ok(()) => tracing::info!(
                "added the host key of `{}` to {}",
                self.name,
                display_path(path)
            ),
            Err(error) => tracing::warn!(
                "cannot add the host key of `{}` to {}: {error}",
                self.name,
                display_path(path)
            ),
        }
    }

    fn check_key(&self, key: &PublicKey) -> Result<bool, russh::Error> {
        let fingerprint = format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256));
        match self.known_hosts.check_key(&self.name, key) {
            Verdict::Known => Ok(true),
            Verdict::Revoked { path, line } => self.refuse(format!(
                "host key for `{}` ({fingerprint}) is marked @revoked in {}:{line}",
                self.name,
                display_path(&path)
            )),
            // Refused in every mode: accepting it would hand the session, and any password
            // sent after it, to whoever holds the other key.
            Verdict::Changed { path, line } => self.refuse(format!(
                "host key for `{}` changed ({fingerprint}): see {}:{line}; if the host was rebuilt, remove that line (ssh-keygen -R '{}' -f {})",
                self.name,
                display_path(&path),
                self.name,
                display_path(&path)
            )),
            Verdict::Unknown => match self.policy {
                HostKeyChecking::Strict => self.refuse(format!(
                    "host key for `{}` is not known ({fingerprint}) and host key checking is strict: add it to {}, or use StrictHostKeyChecking=accept-new",
                    self.name,
                    self.record_to
                        .as_deref()
                        .map(display_path)
                        .unwrap_or_else(|| "known_hosts".to_string())
                )),
                HostKeyChecking::AcceptNew => {
                    self.record(key);
                    Ok(true)
                }
            },
        }
    }
}

impl client::Handler for HostKeyHandler {
    type Error = russh::Error;

    /// Keeps the reason the session ended for the error of the command that meets it.
    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let (cause, result) = match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => (
                if info.message.is_empty() {
                    "the host closed the connection".to_string()
                } else {
                    format!("the host closed the connection: {}", info.message)
                },
                Ok(()),
            ),
            client::DisconnectReason::Error(error) => {
                let cause = match &error {
                    russh::Error::KeepaliveTimeout => {
                        "the host stopped answering keepalives".to_string()
                    }
                    russh::Error::InactivityTimeout => {
                        "the connection was idle too long".to_string()
                    }
                    other => describe_russh_error(other),
                };
                (cause, Err(error))
            }
        };
        self.outcome.ended.send_replace(Some(cause));
        result
    }

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check_key(key),
            PublicKeyOrCertificate::Certificate(certificate) => {
                match self
                    .known_hosts
                    .check_certificate(&self.name, &self.principal, certificate)
                {
                    Ok(()) => Ok(true),
                    // As OpenSSH does, a certificate no CA vouches for is checked as the
                    // plain key it carries: known, changed or new by the same rules.
                    Err(reason) => {
                        let key = PublicKey::new(certificate.public_key().clone(), "");
                        match self.known_hosts.check_key(&self.name, &key) {
                            Verdict::Unknown if self.policy == HostKeyChecking::Strict => self
                                .refuse(format!(
                                    "host certificate for `{}` refused: {reason}",
                                    self.name
                                )),
                            _ => self.check_key(&key),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_between_connection_tries_double_up_to_thirty_seconds() {
        for (tries, base) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (20, 30)] {
            let pause = backoff(tries);
            let base = std::time::Duration::from_secs(base);
            assert!(
                pause >= base && pause <= base.mul_f64(1.25),
                "after try {tries}: {pause:?}"
            );
        }
    }
}
