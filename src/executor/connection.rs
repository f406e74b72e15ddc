//! The transport a task uses: the host's connection with the task's `become` and
//! `environment` applied.
//!
//! Without a password, `become` puts `sudo -H -S -n -u USER --` (or `su -s /bin/sh USER
//! -c`) before the command. With one, the password goes on the command's standard input,
//! never in its arguments: the input is the password line, a marker line, then the
//! command's own input. sudo and su read a password one byte at a time up to the end of
//! the line, so what follows is left for the command. A small shell wrapper run as the
//! new user reads the marker (or, when nothing asked for a password, the password line
//! and then the marker), prints a success line on standard error and runs the command.
//! A missing success line means the user switch failed; what sudo or su printed before
//! it (prompts, "Sorry, try again.", the lecture) is cut from the command's output.
//!
//! A wrong password given to sudo this way would be retried with the marker and the
//! command's input as further attempts, and count three failures against the account.
//! So the first use of a sudo password on a host checks it alone, with nothing after it
//! on standard input; su makes one attempt only and needs no check.

use crate::secret::Secret;
use futures::future::BoxFuture;
use rplay_modules::transport::{get_with_commands, put_with_commands, PutContent};
use rplay_modules::{Exec, FileAttrs, Output, Transport, TransportError};
use std::collections::HashSet;
use std::sync::Arc;

/// How a task becomes another user.
#[derive(Debug, Clone, PartialEq)]
pub struct Become {
    pub user: String,
    /// `sudo` or `su`.
    pub method: String,
    pub flags: Option<String>,
    pub password: Option<Secret>,
}

/// `become` settings from the command line (`-b`, `--become-user`, `--become-method`,
/// `-K`), for tasks and variables that say nothing.
#[derive(Debug, Clone, Default)]
pub struct BecomeDefaults {
    pub enabled: bool,
    pub user: Option<String>,
    pub method: Option<String>,
    pub password: Option<Secret>,
}

/// The sudo prompt while a password is checked, to count how often sudo asked.
const CHECK_PROMPT: &str = "[sudo via rplay] password: ";

impl Become {
    /// The words put before a command to run it as `user`; for `su`, the command follows
    /// as one word.
    fn prefix(&self) -> Vec<String> {
        match self.method.as_str() {
            "su" => vec![
                "su".to_string(),
                "-s".to_string(),
                "/bin/sh".to_string(),
                self.user.clone(),
                "-c".to_string(),
            ],
            _ => {
                let mut words = vec!["sudo".to_string()];
                let flags = self.flags.as_deref().unwrap_or("-H -S -n");
                words.extend(flags.split_whitespace().map(str::to_string));
                if self.password.is_some() {
                    // As Ansible does: with a password, sudo may ask, on standard input.
                    words.retain(|word| word != "-n");
                    if !words.iter().any(|word| word == "-S") {
                        words.push("-S".to_string());
                    }
                    words.extend(["-p".to_string(), String::new()]);
                }
                words.extend(["-u".to_string(), self.user.clone(), "--".to_string()]);
                words
            }
        }
    }

    fn display_method(&self) -> &str {
        if self.method == "su" {
            "su"
        } else {
            "sudo"
        }
    }
}

/// Which become passwords a host has already accepted, so each is checked once.
#[derive(Default)]
pub struct BecomeChecks {
    accepted: tokio::sync::Mutex<HashSet<(String, Secret)>>,
}

impl BecomeChecks {
    /// The checks for commands run on this machine (`delegate_to: localhost`).
    pub fn local() -> Arc<BecomeChecks> {
        static LOCAL: std::sync::OnceLock<Arc<BecomeChecks>> = std::sync::OnceLock::new();
        LOCAL.get_or_init(Default::default).clone()
    }
}

/// A host connection seen through one task's settings.
pub struct TaskTransport {
    pub inner: Arc<dyn Transport>,
    pub become_: Option<Become>,
    pub environment: Vec<(String, String)>,
    /// The host's accepted become passwords.
    pub become_checks: Arc<BecomeChecks>,
}

/// The words and input that run one command through `become` with a password.
struct WithPassword {
    exec: Exec,
    /// The line the wrapper prints on standard error once it runs as the new user.
    success: String,
}

impl TaskTransport {
    /// The command with the task's environment, and its `become` when there is no
    /// password.
    fn wrap(&self, exec: &Exec) -> Exec {
        let mut exec = exec.clone();
        match &self.become_ {
            None => {
                let mut env = self.environment.clone();
                env.append(&mut exec.env);
                exec.env = env;
            }
            Some(become_) => {
                let command = self.command_words(&mut exec);
                let mut argv = become_.prefix();
                if become_.method == "su" {
                    argv.push(rplay_modules::util::join_words(&command));
                } else {
                    argv.extend(command);
                }
                exec.argv = argv;
            }
        }
        exec
    }

    /// The command's words with its environment put first through `env`: the environment
    /// must survive sudo, which resets it.
    fn command_words(&self, exec: &mut Exec) -> Vec<String> {
        let env: Vec<(String, String)> = self
            .environment
            .iter()
            .cloned()
            .chain(exec.env.drain(..))
            .collect();
        let mut command = Vec::new();
        if !env.is_empty() {
            command.push("env".to_string());
            command.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        command.append(&mut exec.argv);
        command
    }

    /// The command wrapped so that the password reaches sudo or su on standard input.
    fn wrap_with_password(
        &self,
        exec: &Exec,
        become_: &Become,
        password: &Secret,
    ) -> Result<WithPassword, TransportError> {
        if password.expose().contains(['\n', '\r']) {
            return Err(TransportError::Io(format!(
                "the {} password contains a line break, which {} would take as its end",
                become_.display_method(),
                become_.display_method()
            )));
        }
        let mut exec = exec.clone();
        let marker = crate::transport::framing::new_token();
        let success = format!("{marker}-ok");
        let command = self.command_words(&mut exec);
        // Run as the new user: skip the password line if nothing read it, say so, run.
        let script = format!(
            "IFS= read -r rplay_line; [ \"$rplay_line\" = {marker} ] || IFS= read -r rplay_line; unset rplay_line; printf '%s\\n' {success} >&2; exec \"$@\""
        );
        let mut argv = become_.prefix();
        if become_.method == "su" {
            let mut words = vec!["/bin/sh".to_string(), "-c".to_string(), script];
            words.push("rplay-become".to_string());
            words.extend(command);
            argv.push(rplay_modules::util::join_words(&words));
        } else {
            argv.extend(["/bin/sh".to_string(), "-c".to_string(), script]);
            argv.push("rplay-become".to_string());
            argv.extend(command);
        }
        let mut input = format!("{}\n{marker}\n", password.expose()).into_bytes();
        if let Some(own) = &exec.stdin {
            input.extend_from_slice(own);
        }
        exec.argv = argv;
        exec.stdin = Some(input);
        Ok(WithPassword { exec, success })
    }

    /// Checks a sudo password once per host and user, with nothing after it on standard
    /// input, so that a wrong one costs the account one failed attempt.
    async fn check_sudo_password(
        &self,
        become_: &Become,
        password: &Secret,
    ) -> Result<(), TransportError> {
        let key = (become_.user.clone(), password.clone());
        let mut accepted = self.become_checks.accepted.lock().await;
        if accepted.contains(&key) {
            return Ok(());
        }
        let marker = crate::transport::framing::new_token();
        let mut argv = vec!["env".to_string(), "LC_ALL=C".to_string()];
        argv.extend(become_.prefix());
        // The prompt counts the attempts: `-p` is the prefix's last option before `-u`.
        if let Some(index) = argv.iter().position(|word| word == "-p") {
            argv[index + 1] = CHECK_PROMPT.to_string();
        }
        argv.extend([
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("printf '%s\\n' {marker}"),
        ]);
        let exec = Exec::new(argv).stdin(format!("{}\n", password.expose()));
        let output = self.inner.run(&exec).await?;
        if output.stdout_text().lines().any(|line| line == marker) {
            accepted.insert(key);
            return Ok(());
        }
        let stderr = output.stderr_text();
        if stderr.matches(CHECK_PROMPT).count() > 1 || says_wrong_password(&stderr) {
            return Err(TransportError::Io("Incorrect sudo password".to_string()));
        }
        Err(TransportError::Io(format!(
            "sudo failed: {}",
            stderr.replace(CHECK_PROMPT, "").trim()
        )))
    }

    async fn run_become(&self, exec: &Exec) -> Result<Output, TransportError> {
        let Some(become_) = &self.become_ else {
            return self.inner.run(&self.wrap(exec)).await;
        };
        let Some(password) = &become_.password else {
            let output = self.inner.run(&self.wrap(exec)).await?;
            let asked = output
                .stderr_text()
                .lines()
                .any(|line| line == "sudo: a password is required");
            if become_.method != "su" && output.rc == 1 && asked {
                return Err(TransportError::Io("Missing sudo password".to_string()));
            }
            return Ok(output);
        };
        if become_.method != "su" {
            self.check_sudo_password(become_, password).await?;
        }
        let wrapped = self.wrap_with_password(exec, become_, password)?;
        let mut output = self.inner.run(&wrapped.exec).await?;
        let success = format!("{}\n", wrapped.success);
        let Some(at) = find(&output.stderr, success.as_bytes()) else {
            let stderr = output.stderr_text();
            let method = become_.display_method();
            if says_wrong_password(&stderr) {
                return Err(TransportError::Io(format!("Incorrect {method} password")));
            }
            return Err(TransportError::Io(format!(
                "{method} to `{}` failed: {}",
                become_.user,
                stderr.trim()
            )));
        };
        output.stderr.drain(..at + success.len());
        Ok(output)
    }
}

/// Whether sudo or su said the password was wrong (in English: the check runs them with
/// `LC_ALL=C`; for commands the missing success line is what counts).
fn says_wrong_password(stderr: &str) -> bool {
    [
        "Sorry, try again",
        "incorrect password attempt",
        "Authentication failure",
        "no password was provided",
    ]
    .iter()
    .any(|phrase| stderr.contains(phrase))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

impl Transport for TaskTransport {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.run_become(exec))
    }

    fn commands_are_remote(&self) -> bool {
        self.become_.is_some() || self.inner.commands_are_remote()
    }

    /// The connection remembers the answer by the wrapped command, so each become user
    /// has its own; with a become password the command carries it and is asked each time.
    fn run_remembered<'a>(
        &'a self,
        exec: &'a Exec,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            match &self.become_ {
                Some(become_) if become_.password.is_some() => self.run_become(exec).await,
                _ => self.inner.run_remembered(&self.wrap(exec)).await,
            }
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        content: &'a [u8],
        attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if self.become_.is_some() {
                put_with_commands(self, path, content, attrs, PutContent::Input).await
            } else {
                self.inner.put(path, content, attrs).await
            }
        })
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            if self.become_.is_some() {
                get_with_commands(self, path).await
            } else {
                self.inner.get(path).await
            }
        })
    }
}
