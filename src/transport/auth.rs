//! Logging in once the host's key is trusted, in OpenSSH's order: keys held by the agent,
//! then key files (each with its `-cert.pub` certificate first when there is one), then
//! the password, offered both as `password` and to `keyboard-interactive` prompts.
//!
//! An encrypted key is unlocked with `ansible_private_key_passphrase`, else with a
//! passphrase asked once on the terminal (see [`key_files`]).

use super::key_files::{self, KeySource};
use super::ssh_settings::{Agent, SshSettings};
use russh::client::{AuthResult, Handle, Handler, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{load_openssh_certificate, Certificate, PrivateKey, PrivateKeyWithHashAlg};
use russh::MethodKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why no method worked, in words for the person at the terminal.
#[derive(Debug, Default)]
struct Attempts {
    tried: Vec<String>,
    skipped: Vec<String>,
    /// What the server said it would still accept after the last failure.
    remaining: Option<Vec<&'static str>>,
}

impl Attempts {
    /// Notes what the server said; true when the attempt logged in.
    fn succeeded(&mut self, result: AuthResult) -> bool {
        match result {
            AuthResult::Success => true,
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                self.remaining = Some(remaining_methods.iter().map(<&str>::from).collect());
                false
            }
        }
    }

    fn server_allows(&self, method: MethodKind) -> bool {
        let name: &str = (&method).into();
        self.remaining
            .as_ref()
            .is_none_or(|methods| methods.contains(&name))
    }

    fn describe(&self, user: &str) -> String {
        let mut text = format!("authentication failed for user `{user}`");
        if self.tried.is_empty() {
            text.push_str(": no key or password to offer");
        } else {
            text.push_str(&format!(" (tried {})", self.tried.join(", ")));
        }
        if !self.skipped.is_empty() {
            text.push_str(&format!("; skipped {}", self.skipped.join(", ")));
        }
        if let Some(methods) = &self.remaining {
            if !methods.is_empty() {
                text.push_str(&format!("; the host accepts {}", methods.join(", ")));
            }
        }
        text
    }
}

/// Authenticates as `settings.user`, once the host's key is trusted (a changed key never
/// gets this far, so a password only goes to the host it belongs to).
pub async fn authenticate<H: Handler>(
    handle: &mut Handle<H>,
    settings: &SshSettings,
) -> Result<(), String> {
    let user = settings.user.as_str();
    let mut attempts = Attempts::default();
    if settings.pubkey_authentication {
        if try_agent(handle, settings, &mut attempts).await? {
            return Ok(());
        }
        if try_key_files(handle, settings, &mut attempts).await? {
            return Ok(());
        }
    }
    if let Some(password) = &settings.password {
        if settings.password_authentication {
            if attempts.server_allows(MethodKind::Password) {
                attempts.tried.push("password".to_string());
                let result = handle
                    .authenticate_password(user, password.expose())
                    .await
                    .map_err(|e| format!("authentication failed: {e}"))?;
                if attempts.succeeded(result) {
                    return Ok(());
                }
            }
            if attempts.server_allows(MethodKind::KeyboardInteractive)
                && keyboard_interactive(handle, user, password.expose(), &mut attempts).await?
            {
                return Ok(());
            }
        }
    }
    Err(attempts.describe(user))
}

/// Reads and unlocks, before the connection's timeout starts, the keys that will be
/// offered: those named (by `-i`, the inventory or `IdentityFile`) and the key text, and
/// OpenSSH's default keys when no agent could offer a key first. A default key behind an
/// agent is unlocked only if the agent's keys fail, as OpenSSH does.
pub async fn unlock_keys(settings: &SshSettings) {
    if !settings.pubkey_authentication {
        return;
    }
    let passphrase = settings.private_key_passphrase.as_ref();
    if let Some(text) = &settings.private_key {
        let _ = key_files::load(&KeySource::Text(text.clone()), passphrase).await;
    }
    let agent = match &settings.agent {
        Agent::None => false,
        Agent::FromEnvironment => std::env::var_os("SSH_AUTH_SOCK").is_some(),
        Agent::Socket(_) => true,
    };
    if agent && !settings.identity_files_named {
        return;
    }
    for path in &settings.identity_files {
        if path.exists() {
            let _ = key_files::load(&KeySource::File(path.clone()), passphrase).await;
        }
    }
}

async fn try_agent<H: Handler>(
    handle: &mut Handle<H>,
    settings: &SshSettings,
    attempts: &mut Attempts,
) -> Result<bool, String> {
    let client = match &settings.agent {
        Agent::None => return Ok(false),
        Agent::FromEnvironment => {
            if std::env::var_os("SSH_AUTH_SOCK").is_none() {
                return Ok(false);
            }
            AgentClient::connect_env().await
        }
        Agent::Socket(path) => AgentClient::connect_uds(path).await,
    };
    let Ok(mut agent) = client else {
        // A stale agent socket should not stop key files from being tried.
        return Ok(false);
    };
    let identities = agent.request_identities().await.unwrap_or_default();
    for identity in identities {
        let AgentIdentity::PublicKey { key, comment } = identity else {
            continue;
        };
        if !attempts.server_allows(MethodKind::PublicKey) {
            break;
        }
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        let label = if comment.is_empty() {
            "an agent key".to_string()
        } else {
            format!("agent key {comment}")
        };
        attempts.tried.push(label);
        match handle
            .authenticate_publickey_with(settings.user.as_str(), key, hash, &mut agent)
            .await
        {
            Ok(result) => {
                if attempts.succeeded(result) {
                    return Ok(true);
                }
            }
            Err(error) => attempts
                .skipped
                .push(format!("the agent, which failed to sign: {error}")),
        }
    }
    Ok(false)
}

async fn try_key_files<H: Handler>(
    handle: &mut Handle<H>,
    settings: &SshSettings,
    attempts: &mut Attempts,
) -> Result<bool, String> {
    let passphrase = settings.private_key_passphrase.as_ref();
    if let Some(text) = &settings.private_key {
        if attempts.server_allows(MethodKind::PublicKey) {
            match key_files::load(&KeySource::Text(text.clone()), passphrase).await {
                Ok(key) => {
                    let label = "ansible_private_key".to_string();
                    if try_key(handle, settings, key, label, &[], attempts).await? {
                        return Ok(true);
                    }
                }
                Err(reason) => attempts
                    .skipped
                    .push(format!("ansible_private_key ({reason})")),
            }
        }
    }
    for path in &settings.identity_files {
        if !attempts.server_allows(MethodKind::PublicKey) {
            break;
        }
        let shown = super::known_hosts::display_path(path);
        if !path.exists() {
            if settings.identity_files_named {
                attempts.skipped.push(format!("{shown} (missing)"));
            }
            continue;
        }
        let key = match key_files::load(&KeySource::File(path.clone()), passphrase).await {
            Ok(key) => key,
            Err(reason) => {
                attempts.skipped.push(format!("{shown} ({reason})"));
                continue;
            }
        };
        let certificates = certificates_for(path, &settings.certificate_files);
        if try_key(handle, settings, key, shown, &certificates, attempts).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Offers one key: with each certificate made for it first, then plain.
async fn try_key<H: Handler>(
    handle: &mut Handle<H>,
    settings: &SshSettings,
    key: Arc<PrivateKey>,
    shown: String,
    certificates: &[Certificate],
    attempts: &mut Attempts,
) -> Result<bool, String> {
    let user = settings.user.as_str();
    for certificate in certificates {
        if certificate.public_key() != key.public_key().key_data() {
            continue;
        }
        attempts.tried.push(format!("{shown} with its certificate"));
        let result = handle
            .authenticate_openssh_cert(user, key.clone(), certificate.clone())
            .await
            .map_err(|e| format!("authentication failed: {e}"))?;
        if attempts.succeeded(result) {
            return Ok(true);
        }
    }
    let hash = if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    };
    attempts.tried.push(shown);
    let result = handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
        .await
        .map_err(|e| format!("authentication failed: {e}"))?;
    Ok(attempts.succeeded(result))
}

/// `KEY-cert.pub` beside a key, then any `CertificateFile`.
fn certificates_for(key: &Path, named: &[PathBuf]) -> Vec<Certificate> {
    let mut beside = key.as_os_str().to_owned();
    beside.push("-cert.pub");
    std::iter::once(PathBuf::from(beside))
        .chain(named.iter().cloned())
        .filter(|path| path.exists())
        .filter_map(|path| load_openssh_certificate(path).ok())
        .collect()
}

/// Answers every prompt with the password: what `sshpass` does for Ansible.
async fn keyboard_interactive<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
    password: &str,
    attempts: &mut Attempts,
) -> Result<bool, String> {
    attempts.tried.push("keyboard-interactive".to_string());
    let mut response = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await
        .map_err(|e| format!("authentication failed: {e}"))?;
    // A server that keeps asking is not going to be satisfied by the same answer.
    for _ in 0..5 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure {
                remaining_methods, ..
            } => {
                attempts.remaining = Some(remaining_methods.iter().map(<&str>::from).collect());
                return Ok(false);
            }
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts.iter().map(|_| password.to_string()).collect();
                response = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(|e| format!("authentication failed: {e}"))?;
            }
        }
    }
    Ok(false)
}
