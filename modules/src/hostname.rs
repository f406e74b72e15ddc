//! `hostname`: sets the host's name, now and across reboots.
//!
//! The name is the kernel's (`hostname`) and the one in `/etc/hostname`; nothing needs
//! doing when both are the wanted name. Otherwise `/etc/hostname` is rewritten and
//! `hostname NAME` sets the running name, which is what `hostnamectl set-hostname` does
//! without needing systemd to run (an image build, a chroot). `/etc/hosts` is left as
//! it is, as Ansible leaves it.
//!
//! ```yaml
//! - name: Name the node after its inventory entry
//!   ansible.builtin.hostname:
//!     name: "{{ inventory_hostname }}"
//! ```

use crate::args::Args;
use crate::file::text;
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "hostname",
    aliases: &["ansible.builtin.hostname", "ansible.legacy.hostname"],
    doc: include_str!("hostname.rs"),
    free_form: None,
    build: crate::registry::build::<HostnameArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostnameArgs {
    /// The host's name.
    #[serde(deserialize_with = "required_name")]
    pub name: String,
    /// The strategy: `systemd`, `debian` or `generic` all end in the same files here;
    /// others (`redhat`, `alpine`, `freebsd`, ...) are refused.
    #[serde(default, rename = "use", deserialize_with = "text::deserialize")]
    pub strategy: Option<String>,
}

fn required_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text::deserialize(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("`name` is required (it is null)"))
}

impl Args for HostnameArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let name = self.name.trim();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(ArgError::new(format!(
                "`{name}` is not a valid host name (letters, digits and `-`, dot-separated labels)"
            ))
            .at("name"));
        }
        match self.strategy.as_deref() {
            None | Some("systemd" | "debian" | "generic") => Ok(()),
            Some(other) => Err(ArgError::new(format!(
                "`use: {other}` is not supported: rplay sets the name the systemd and Debian way"
            ))
            .at("use")),
        }
    }
}

impl Module for HostnameArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let name = self.name.trim();
            let running = transport.run(&Exec::new(["hostname"])).await?;
            if !running.success() {
                return Err(ModuleError::failed(format!(
                    "cannot read the host name: {}",
                    running.stderr_text().trim()
                )));
            }
            let running = running.stdout_text().trim().to_string();
            let permanent = transport
                .get("/etc/hostname")
                .await?
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
                .unwrap_or_default();
            let short = name.split('.').next().unwrap_or(name);
            let facts = json!({
                "ansible_hostname": short,
                "ansible_nodename": name,
                "ansible_fqdn": name,
                "ansible_domain": name.split_once('.').map(|(_, d)| d).unwrap_or(""),
            });
            if running == name && permanent == name {
                return Ok(Plan::ok(format!("the host is already named {name}"))
                    .with("name", name)
                    .with("ansible_facts", facts));
            }
            let mut steps = Vec::new();
            if permanent != name {
                steps.push(Step::write(
                    "/etc/hostname",
                    format!("{name}\n"),
                    FileAttrs {
                        mode: Some(0o644),
                        ..FileAttrs::default()
                    },
                ));
            }
            if running != name {
                steps.push(Step::run(Exec::new(["hostname", name])));
            }
            Ok(Plan::change(format!("name the host {name}"), steps)
                .with("name", name)
                .with("ansible_facts", facts)
                .with_diff(Diff {
                    path: "hostname".to_string(),
                    before: format!("hostname = {running}\n"),
                    after: format!("hostname = {name}\n"),
                }))
        })
    }
}
