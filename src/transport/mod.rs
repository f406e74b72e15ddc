//! Connections to hosts: which transport a host gets, from its variables and the command
//! line. Every transport implements [`rplay_modules::Transport`].

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
}

/// The transport for one host. Building it does not connect: a connection opens on first
/// use, so an unreachable host is reported by the task that meets it.
pub fn for_host(
    name: &str,
    vars: &VarMap,
    options: &ConnectionOptions,
) -> Result<Arc<dyn Transport>, String> {
    let connection = options
        .connection
        .clone()
        .or_else(|| vars.get("ansible_connection").map(|v| v.to_string()))
        .unwrap_or_else(|| "ssh".to_string());
    match connection.as_str() {
        "local" => Ok(Arc::new(rplay_modules::local::LocalTransport::new())),
        other => Err(format!(
            "connection type `{other}` for `{name}` is not available yet; use `ansible_connection=local` or `-c local`"
        )),
    }
}
