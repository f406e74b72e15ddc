//! Connections to hosts: which transport a host gets, from its variables and the command
//! line. Every transport implements [`rplay_modules::Transport`].
//!
//! `ssh` (the default, as in Ansible) is [`ssh::SshTransport`]; `local` runs commands as
//! child processes of rplay.

mod auth;
pub mod framing;
pub mod host_pattern;
pub mod key_files;
pub mod known_hosts;
mod quick_ack;
pub mod ssh;
pub mod ssh_config;
pub mod ssh_settings;

pub use known_hosts::HostKeyChecking;

use crate::template::VarMap;
use rplay_modules::Transport;
use std::sync::Arc;

/// Connection settings from the command line, applied to every host unless the inventory
/// says otherwise.
#[derive(Debug, Clone, Default)]
pub struct ConnectionOptions {
    /// `-c`: the connection type for every host.
    pub connection: Option<String>,
    /// `-u`: the remote user.
    pub remote_user: Option<String>,
    /// `--private-key`.
    pub private_key: Option<String>,
    /// `-T`: connection timeout in seconds.
    pub timeout: Option<u64>,
    /// `--host-key-checking`: wins over inventory variables and ssh options, since it is
    /// the operator's explicit choice for this run.
    pub host_key_checking: Option<HostKeyChecking>,
    /// `-k` / `--ask-pass`: the SSH password, unless `ansible_password` says otherwise.
    pub password: Option<crate::secret::Secret>,
    /// `--ssh-common-args`.
    pub ssh_common_args: Option<String>,
    /// `--ssh-extra-args`.
    pub ssh_extra_args: Option<String>,
    /// `--connect-retries` (or `ANSIBLE_SSH_RETRIES`): more tries after a failed connection.
    pub connect_retries: Option<u32>,
    /// Ctrl-C: running commands are stopped on the hosts.
    pub interrupt: crate::interrupt::Interrupt,
}

/// A host's transport and the user its commands run as before any `become`.
#[derive(Clone)]
pub struct Opened {
    pub transport: Arc<dyn Transport>,
    pub user: String,
}

/// The transport for one host. Building it does not connect: a connection opens on first
/// use, so an unreachable host is reported by the task that meets it.
pub fn for_host(
    name: &str,
    vars: &VarMap,
    options: &ConnectionOptions,
) -> Result<Arc<dyn Transport>, String> {
    open(name, vars, options).map(|opened| opened.transport)
}

/// [`for_host`], with the user the host's commands run as.
pub fn open(name: &str, vars: &VarMap, options: &ConnectionOptions) -> Result<Opened, String> {
    // Read once per run: a thousand hosts need not read `/etc/passwd` a thousand times,
    // and the environment does not change during a run.
    static ENVIRONMENT: std::sync::OnceLock<ssh_settings::Environment> = std::sync::OnceLock::new();
    let environment = ENVIRONMENT.get_or_init(ssh_settings::Environment::current);
    // The host's `ansible_connection` first, then `-c`, as in Ansible: a host the
    // inventory marks local stays local whatever the command line says.
    let connection = vars
        .get("ansible_connection")
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .or_else(|| options.connection.clone())
        .unwrap_or_else(|| "ssh".to_string());
    match connection.as_str() {
        "local" => Ok(Opened {
            transport: Arc::new(rplay_modules::local::LocalTransport::new()),
            user: environment.local_user.clone(),
        }),
        // Ansible's other names for an SSH connection.
        "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh" => {
            let settings = ssh_settings::resolve(name, vars, options, environment)?;
            Ok(Opened {
                user: settings.user.clone(),
                transport: Arc::new(ssh::SshTransport::with_interrupt(
                    settings,
                    options.interrupt.clone(),
                )),
            })
        }
        other => Err(format!(
            "connection type `{other}` for `{name}` is not available; use `ssh` or `local`"
        )),
    }
}
