//! One host's connection across a run, built from the connection variables a task sees.
//!
//! Ansible renders `ansible_host`, `ansible_port`, `ansible_user` and the other connection
//! variables with the task's variables, so they may be templates
//! (`ansible_host: "{{ hostvars[inventory_hostname].ip }}"`) and may change during a run
//! (`set_fact: ansible_port=2222`). Each task renders them here; while they render to the
//! same values the host keeps its transport, and with it its one SSH connection. A change
//! builds a new transport, which connects on first use.

use super::connection::BecomeChecks;
use crate::diagnostic::Diagnostic;
use crate::template::{Scope, VarMap};
use crate::transport::{ConnectionOptions, Opened};
use std::sync::{Arc, Mutex};

/// The variables that shape a host's connection, as Ansible names them.
pub const CONNECTION_VARIABLES: &[&str] = &[
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_private_key",
    "ansible_ssh_private_key",
    "ansible_private_key_passphrase",
    "ansible_ssh_private_key_passphrase",
    "ansible_ssh_timeout",
    "ansible_ssh_retries",
    "ansible_timeout",
    "ansible_ssh_args",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
];

/// The task keywords that shape a connection, rendered; connection variables win over
/// them, as in Ansible.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionKeywords {
    /// `connection:`
    pub connection: Option<String>,
    /// `remote_user:`
    pub remote_user: Option<String>,
}

/// Why a task gets no transport.
#[derive(Debug)]
pub enum ConnectionError {
    /// A connection variable did not render: the task fails, as any template error does.
    Template(Diagnostic),
    /// The settings cannot make a connection (an unknown connection type, a bad port):
    /// the host is unreachable.
    Settings(String),
}

/// A host's transport, kept while its connection variables stay the same.
pub struct HostConnection {
    name: String,
    options: ConnectionOptions,
    current: Mutex<Option<Current>>,
    /// The become passwords this host accepted.
    pub become_checks: Arc<BecomeChecks>,
}

struct Current {
    variables: VarMap,
    opened: Result<Opened, String>,
}

impl HostConnection {
    pub fn new(name: &str, options: ConnectionOptions) -> HostConnection {
        HostConnection {
            name: name.to_string(),
            options,
            current: Mutex::new(None),
            become_checks: Default::default(),
        }
    }

    /// The transport for the connection variables `scope` holds.
    pub fn transport(
        &self,
        scope: &Scope,
        keywords: &ConnectionKeywords,
    ) -> Result<Opened, ConnectionError> {
        let variables = connection_variables(scope, keywords).map_err(ConnectionError::Template)?;
        let mut current = self.current.lock().expect("connection lock");
        if let Some(current) = current.as_ref().filter(|c| c.variables == variables) {
            return current.opened.clone().map_err(ConnectionError::Settings);
        }
        let opened = crate::transport::open(&self.name, &variables, &self.options);
        *current = Some(Current {
            variables,
            opened: opened.clone(),
        });
        opened.map_err(ConnectionError::Settings)
    }
}

impl HostConnection {
    /// `meta: reset_connection`: the next task opens a new connection (a new login sees
    /// the groups a task just gave the user). Tasks already holding the old transport
    /// keep it until they finish; it closes when the last of them lets go.
    pub fn reset(&self) {
        *self.current.lock().expect("connection lock") = None;
    }
}

/// The connection variables as text, rendered with the task's variables; the keywords
/// fill in what no variable sets.
fn connection_variables(
    scope: &Scope,
    keywords: &ConnectionKeywords,
) -> Result<VarMap, Diagnostic> {
    let mut variables = VarMap::new();
    for name in CONNECTION_VARIABLES {
        if let Some(value) = scope.get(name)? {
            if !value.is_undefined() && !value.is_none() {
                variables.insert(name.to_string(), value);
            }
        }
    }
    if let Some(connection) = &keywords.connection {
        variables
            .entry("ansible_connection".to_string())
            .or_insert_with(|| connection.as_str().into());
    }
    if let Some(user) = &keywords.remote_user {
        if !variables.contains_key("ansible_ssh_user") {
            variables
                .entry("ansible_user".to_string())
                .or_insert_with(|| user.as_str().into());
        }
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templar;
    use minijinja::Value;

    fn scope(pairs: &[(&str, &str)]) -> Scope {
        let layer: VarMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        Scope::new(vec![Arc::new(layer)], Arc::new(Templar::new()), None)
    }

    #[test]
    fn connection_variables_are_rendered_with_the_hosts_variables() {
        let scope = scope(&[
            ("ip", "10.0.0.7"),
            ("ansible_host", "{{ ip }}"),
            ("ansible_port", "{{ 2200 + 22 }}"),
            ("unrelated", "{{ undefined_thing }}"),
        ]);
        let variables = connection_variables(&scope, &ConnectionKeywords::default()).unwrap();
        assert_eq!(
            variables.get("ansible_host"),
            Some(&Value::from("10.0.0.7"))
        );
        assert_eq!(
            variables
                .get("ansible_port")
                .map(|v| v.to_string())
                .as_deref(),
            Some("2222")
        );
        assert!(!variables.contains_key("unrelated"));
    }

    #[test]
    fn a_connection_variable_that_does_not_render_is_an_error() {
        let scope = scope(&[("ansible_user", "{{ nobody_defined_this }}")]);
        assert!(connection_variables(&scope, &ConnectionKeywords::default()).is_err());
    }

    #[test]
    fn keywords_fill_in_and_variables_win() {
        let keywords = ConnectionKeywords {
            connection: Some("local".into()),
            remote_user: Some("deploy".into()),
        };
        let variables = connection_variables(&scope(&[]), &keywords).unwrap();
        assert_eq!(
            variables.get("ansible_connection"),
            Some(&Value::from("local"))
        );
        assert_eq!(variables.get("ansible_user"), Some(&Value::from("deploy")));
        let variables =
            connection_variables(&scope(&[("ansible_user", "admin")]), &keywords).unwrap();
        assert_eq!(variables.get("ansible_user"), Some(&Value::from("admin")));
    }

    #[test]
    fn the_transport_is_kept_while_the_variables_stay_the_same() {
        let connection = HostConnection::new("web1", ConnectionOptions::default());
        let keywords = ConnectionKeywords::default();
        let first = connection
            .transport(&scope(&[("ansible_host", "127.0.0.1")]), &keywords)
            .unwrap();
        let again = connection
            .transport(&scope(&[("ansible_host", "127.0.0.1")]), &keywords)
            .unwrap();
        assert!(Arc::ptr_eq(&first.transport, &again.transport));
        let moved = connection
            .transport(&scope(&[("ansible_host", "127.0.0.2")]), &keywords)
            .unwrap();
        assert!(!Arc::ptr_eq(&first.transport, &moved.transport));
        connection.reset();
        let reset = connection
            .transport(&scope(&[("ansible_host", "127.0.0.2")]), &keywords)
            .unwrap();
        assert!(!Arc::ptr_eq(&moved.transport, &reset.transport));
        match connection.transport(&scope(&[("ansible_connection", "winrm")]), &keywords) {
            Err(ConnectionError::Settings(message)) => {
                assert!(message.contains("`winrm`"), "{message}")
            }
            _ => panic!("an unknown connection type is a settings error"),
        }
    }
}
