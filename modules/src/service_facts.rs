//! `service_facts`: returns the host's systemd services as `ansible_facts.services`.
//!
//! Reading changes nothing, so the plan never has steps; the engine stores the facts for
//! the host. Each service is keyed by its unit name (`containerd.service`) and has `name`,
//! `state` (`running`, `stopped`, or for a unit systemd has not loaded its raw
//! `ActiveState`, `unknown` when unreadable), `status` (the unit file's state: `enabled`,
//! `disabled`, `static`, `masked`…, or `not-found`/`failed`) and `source: systemd`,
//! parsed exactly as Ansible parses `systemctl list-units --type service --all --plain`
//! and `systemctl list-unit-files --type service --all`. One command reads both lists;
//! a second reads the `ActiveState` of unit files that are not loaded, all at once.
//!
//! Where systemd is not running (an image build), the unit files are still listed, each
//! with `state: unknown`; Ansible lists only init scripts there. Init scripts
//! (`source: sysv`) are not listed. A host without any service is reported as skipped,
//! with Ansible's message.
//!
//! ```yaml
//! - service_facts:
//! - name: Stop firewalld where it is installed
//!   service:
//!     name: firewalld
//!     state: stopped
//!   when: "'firewalld.service' in ansible_facts.services"
//! ```

use crate::args::Args;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::sections::{Sections, SCRIPT_HELPERS};
use crate::transport::Exec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "service_facts",
    aliases: &[
        "ansible.builtin.service_facts",
        "ansible.legacy.service_facts",
    ],
    doc: include_str!("service_facts.rs"),
    free_form: None,
    build: crate::registry::build::<ServiceFactsArgs>,
};

/// `service_facts` takes no arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFactsArgs {}

impl Args for ServiceFactsArgs {}

/// Lists units and unit files. No arguments.
const LIST_SCRIPT: &str = r#"
mark systemctl; command -v systemctl
mark booted; [ -d /run/systemd/system ] && echo yes
if command -v systemctl >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    capture units systemctl list-units --no-pager --type service --all --plain
  fi
  capture files systemctl list-unit-files --no-pager --type service --all
fi
mark end
exit 0
"#;

/// Reads the `ActiveState` of each unit named in the arguments.
const STATE_SCRIPT: &str = r#"
for unit do capture "show $unit" systemctl show "$unit" --property=ActiveState; done
mark end
exit 0
"#;

/// Unit states that `list-units` reports misleadingly in its other columns.
const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

/// One service as Ansible describes it.
fn service(name: &str, state: &str, status: &str) -> Value {
    json!({"name": name, "state": state, "status": status, "source": "systemd"})
}

/// Ansible's `_list_from_units`: `UNIT LOAD ACTIVE SUB DESCRIPTION` lines.
pub(crate) fn from_units(output: &str, services: &mut Map<String, Value>) {
    for line in output.lines().filter(|line| line.contains(".service")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        // Any column but the description's last word may carry a bad state.
        let before_last = &fields[..fields.len() - 1];
        let status = BAD_STATES
            .iter()
            .find(|bad| before_last.contains(bad))
            .copied()
            .unwrap_or(fields[2]);
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        services.insert(fields[0].to_string(), service(fields[0], state, status));
    }
}

/// Ansible's `_list_from_unit_files`: `UNIT FILE STATE [PRESET]` lines. Units already
/// listed get the file's state unless they are in a bad state; the others are returned
/// for their `ActiveState` to be read.
pub(crate) fn from_unit_files(
    output: &str,
    services: &mut Map<String, Value>,
) -> Result<Vec<(String, String)>, String> {
    let mut unlisted = Vec::new();
    for line in output.lines().filter(|line| line.contains(".service")) {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(status)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "Malformed output discovered from systemd list-unit-files: {line}"
            ));
        };
        match services.get_mut(name) {
            Some(Value::Object(known)) => {
                let bad = known
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| BAD_STATES.contains(&s));
                if !bad {
                    known.insert("status".to_string(), json!(status));
                }
            }
            _ => unlisted.push((name.to_string(), status.to_string())),
        }
    }
    Ok(unlisted)
}

impl Module for ServiceFactsArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let c_locale = vec![("LC_ALL".to_string(), "C".to_string())];
            let mut list = Exec::new([
                "sh".to_string(),
                "-c".to_string(),
                format!("{SCRIPT_HELPERS}{LIST_SCRIPT}"),
                "rplay-service-facts".to_string(),
            ]);
            list.env = c_locale.clone();
            let output = host.transport.run(&list).await?;
            let stdout = output.stdout_text();
            if !stdout.contains("@@rplay@@ end") {
                return Err(ModuleError::failed(format!(
                    "could not list services: {}",
                    output.stderr_text().trim()
                )));
            }
            let sections = Sections::parse(&stdout);
            let booted = sections.first_line("booted") == Some("yes");
            let mut services = Map::new();
            if sections.rc("units") == Some(0) {
                from_units(sections.get("units").unwrap_or_default(), &mut services);
            }
            let unlisted = if sections.rc("files") == Some(0) {
                match from_unit_files(sections.get("files").unwrap_or_default(), &mut services) {
                    Ok(unlisted) => unlisted,
                    Err(message) => return Ok(Plan::fail(message)),
                }
            } else {
                Vec::new()
            };

            let mut states = Sections::default();
            if booted && !unlisted.is_empty() {
                let mut argv = vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    format!("{SCRIPT_HELPERS}{STATE_SCRIPT}"),
                    "rplay-service-facts".to_string(),
                ];
                argv.extend(unlisted.iter().map(|(name, _)| name.clone()));
                let mut read = Exec::new(argv);
                read.env = c_locale;
                states = Sections::parse(&host.transport.run(&read).await?.stdout_text());
            }
            for (name, status) in unlisted {
                let label = format!("show {name}");
                let shown = states.get(&label).unwrap_or_default();
                let state = if states.rc(&label) == Some(0) && !shown.is_empty() {
                    shown.replace("ActiveState=", "").trim_end().to_string()
                } else {
                    "unknown".to_string()
                };
                services.insert(name.clone(), service(&name, &state, &status));
            }

            if services.is_empty() {
                return Ok(Plan::ok("no services found").with("skipped", true).with(
                    "msg",
                    "Failed to find any services. This can be due to privileges or some other configuration issue.",
                ));
            }
            let reason = format!(
                "found {} services{}",
                services.len(),
                if booted {
                    ""
                } else {
                    " (systemd is not running: states unknown)"
                }
            );
            Ok(Plan::ok(reason).with("ansible_facts", json!({ "services": services })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: &str = "\
UNIT                         LOAD      ACTIVE   SUB     DESCRIPTION
containerd.service           loaded    active   running containerd container runtime
auditd.service               not-found inactive dead    auditd.service
kubelet.service              loaded    failed   failed  kubelet: The Kubernetes Node Agent
systemd-fsck@dev.service     loaded    inactive dead    File System Check on /dev

4 loaded units listed.
";

    const FILES: &str = "\
UNIT FILE                    STATE           PRESET
containerd.service           enabled         enabled
getty@.service               enabled         enabled
kubelet.service              enabled         enabled
ssh.service                  disabled        enabled
sshd.service                 alias           -

5 unit files listed.
";

    #[test]
    fn parses_units_like_ansible() {
        let mut services = Map::new();
        from_units(UNITS, &mut services);
        assert_eq!(
            services["containerd.service"],
            json!({"name": "containerd.service", "state": "running", "status": "active", "source": "systemd"})
        );
        assert_eq!(services["auditd.service"]["status"], "not-found");
        assert_eq!(services["auditd.service"]["state"], "stopped");
        assert_eq!(services["kubelet.service"]["status"], "failed");
        assert_eq!(services["systemd-fsck@dev.service"]["status"], "inactive");
        assert_eq!(services.len(), 4);
    }

    #[test]
    fn unit_files_complete_the_picture() {
        let mut services = Map::new();
        from_units(UNITS, &mut services);
        let unlisted = from_unit_files(FILES, &mut services).unwrap();
        assert_eq!(services["containerd.service"]["status"], "enabled");
        // A bad state from list-units stays.
        assert_eq!(services["kubelet.service"]["status"], "failed");
        let names: Vec<&str> = unlisted.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["getty@.service", "ssh.service", "sshd.service"]);
        assert_eq!(unlisted[2].1, "alias");
        let error = from_unit_files("broken.service\n", &mut services).unwrap_err();
        assert!(error.starts_with("Malformed output"), "{error}");
    }

    #[test]
    fn takes_no_arguments() {
        let spec = crate::registry::lookup("ansible.builtin.service_facts").unwrap();
        assert!((spec.build)(json!({})).is_ok());
        assert!((spec.build)(json!({"filter": "x"})).is_err());
    }
}
