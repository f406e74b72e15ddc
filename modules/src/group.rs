//! `group`: creates, changes or removes a local group with `groupadd`, `groupmod` and
//! `groupdel`.
//!
//! The group is looked up with `getent group NAME`. Nothing needs doing when a group that
//! should exist exists with the wanted `gid` (or any gid when none is given), or when a
//! group that should be absent is not there. As in Ansible, `system` only matters when the
//! group is created.
//!
//! ```yaml
//! - name: Group for the container runtime socket
//!   group:
//!     name: containerd
//!     gid: 990
//!     system: true
//! ```

use crate::args::{ansible_bool, Args};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, Transport};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "group",
    aliases: &["ansible.builtin.group", "ansible.legacy.group"],
    doc: include_str!("group.rs"),
    free_form: None,
    build: crate::registry::build::<GroupArgs>,
};

pub use crate::args::Presence;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    /// The group's name.
    pub name: String,
    /// `present` creates or changes the group, `absent` removes it.
    #[serde(default)]
    pub state: Presence,
    /// The group's numeric id.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Create a system group (a gid from the system range).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub system: bool,
    /// Allow a `gid` that another group already has.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub non_unique: bool,
    /// Remove the group even when it is some user's primary group (`groupdel -f`).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// Lowest gid `groupadd` may choose.
    #[serde(default)]
    pub gid_min: Option<u32>,
    /// Highest gid `groupadd` may choose.
    #[serde(default)]
    pub gid_max: Option<u32>,
}

impl Args for GroupArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.non_unique && self.gid.is_none() {
            return Err(ArgError::new(
                "non_unique is True but all of the following are missing: gid",
            ));
        }
        Ok(())
    }
}

/// One line of the group database: `name:x:gid:member,member`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

impl GroupEntry {
    pub(crate) fn parse(line: &str) -> Option<GroupEntry> {
        let fields: Vec<&str> = line.trim_end().split(':').collect();
        if fields.len() < 3 {
            return None;
        }
        Some(GroupEntry {
            name: fields[0].to_string(),
            gid: fields[2].parse().ok()?,
            members: fields
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Looks a group up by name (or by gid when `name` is a number), through NSS.
pub(crate) async fn lookup_group(
    transport: &dyn Transport,
    name: &str,
) -> Result<Option<GroupEntry>, ModuleError> {
    let output = transport.run(&Exec::new(["getent", "group", name])).await?;
    match output.rc {
        0 => Ok(output.stdout_text().lines().find_map(GroupEntry::parse)),
        2 => Ok(None),
        rc => Err(ModuleError::failed(format!(
            "getent group {name} exited {rc}: {}",
            output.stderr_text().trim()
        ))),
    }
}

impl Module for GroupArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let current = lookup_group(host.transport, &self.name).await?;
            let plan = match (self.state, &current) {
                (Presence::Absent, None) => Plan::ok(format!("group {} does not exist", self.name)),
                (Presence::Absent, Some(_)) => {
                    let mut argv = vec!["groupdel".to_string()];
                    if self.force {
                        argv.push("-f".to_string());
                    }
                    argv.push(self.name.clone());
                    Plan::change(
                        format!("remove group {}", self.name),
                        vec![Step::run(Exec::new(argv))],
                    )
                }
                (Presence::Present, None) => {
                    let mut argv = vec!["groupadd".to_string()];
                    if let Some(gid) = self.gid {
                        argv.extend(["-g".to_string(), gid.to_string()]);
                        if self.non_unique {
                            argv.push("-o".to_string());
                        }
                    }
                    if self.system {
                        argv.push("-r".to_string());
                    }
                    if let Some(min) = self.gid_min {
                        argv.extend(["-K".to_string(), format!("GID_MIN={min}")]);
                    }
                    if let Some(max) = self.gid_max {
                        argv.extend(["-K".to_string(), format!("GID_MAX={max}")]);
                    }
                    argv.push(self.name.clone());
                    let plan = Plan::change(
                        format!("create group {}", self.name),
                        vec![Step::run(Exec::new(argv))],
                    )
                    .with("system", self.system);
                    match self.gid {
                        Some(gid) => plan.with("gid", gid),
                        None => plan,
                    }
                }
                (Presence::Present, Some(entry)) => match self.gid {
                    Some(gid) if gid != entry.gid => {
                        let mut argv =
                            vec!["groupmod".to_string(), "-g".to_string(), gid.to_string()];
                        if self.non_unique {
                            argv.push("-o".to_string());
                        }
                        argv.push(self.name.clone());
                        Plan::change(
                            format!(
                                "change the gid of group {} from {} to {gid}",
                                self.name, entry.gid
                            ),
                            vec![Step::run(Exec::new(argv))],
                        )
                        .with("gid", gid)
                        .with("system", self.system)
                    }
                    _ => Plan::ok(format!("group {} exists with gid {}", self.name, entry.gid))
                        .with("gid", entry.gid)
                        .with("system", self.system),
                },
            };
            Ok(plan
                .with("name", self.name.clone())
                .with("state", self.state.name()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::json;

    fn getent_group(name: &str) -> Option<String> {
        let output = std::process::Command::new("getent")
            .args(["group", name])
            .output()
            .expect("getent runs");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Removes the group even when an assertion fails half-way.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("groupdel").arg(&self.0).output();
        }
    }

    #[test]
    fn parses_group_lines() {
        assert_eq!(
            GroupEntry::parse("docker:x:999:alice,bob\n"),
            Some(GroupEntry {
                name: "docker".into(),
                gid: 999,
                members: vec!["alice".into(), "bob".into()],
            })
        );
        assert_eq!(
            GroupEntry::parse("empty:x:5:").unwrap().members,
            Vec::<String>::new()
        );
        assert_eq!(GroupEntry::parse("nonsense"), None);
    }

    #[tokio::test]
    async fn creates_changes_and_removes_a_group() {
        let name = format!("rplg{}", std::process::id());
        let _cleanup = Cleanup(name.clone());
        let fixture = Fixture::new();
        let gid = 43000 + std::process::id() % 1000;

        let first = fixture
            .converge("group", json!({ "name": name, "gid": gid }))
            .await;
        assert_eq!(first.result["gid"], json!(gid));
        assert_eq!(getent_group(&name).unwrap(), format!("{name}:x:{gid}:"));

        fixture
            .converge(
                "ansible.builtin.group",
                json!({ "name": name, "gid": gid + 1 }),
            )
            .await;
        assert_eq!(
            getent_group(&name).unwrap(),
            format!("{name}:x:{}:", gid + 1)
        );

        let unchanged = fixture
            .plan("group", json!({ "name": name }))
            .await
            .unwrap();
        assert!(unchanged.steps.is_empty());
        assert_eq!(unchanged.result["gid"], json!(gid + 1));

        fixture
            .converge("group", json!({ "name": name, "state": "absent" }))
            .await;
        assert_eq!(getent_group(&name), None);
    }

    #[tokio::test]
    async fn creates_a_system_group() {
        let name = format!("rplgs{}", std::process::id());
        let _cleanup = Cleanup(name.clone());
        let fixture = Fixture::new();
        fixture
            .converge("group", json!({ "name": name, "system": true }))
            .await;
        let line = getent_group(&name).expect("the group exists");
        let gid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
        assert!(gid < 1000, "a system gid, got {gid}");
    }
}
