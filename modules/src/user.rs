//! `user`: creates, changes or removes a local user with `useradd`, `usermod` and
//! `userdel`.
//!
//! One command reads the account (`getent passwd`, `getent shadow`), the group database
//! and whether the home directory exists. Nothing needs doing when the user is absent and
//! should be, or exists with every attribute the task names (uid, primary group,
//! supplementary groups, comment, home, shell, password hash, expiry, lock) and a home
//! directory when `create_home` is on. Only the attributes that differ are passed to
//! `usermod`, as Ansible does. `password` is a crypt hash, never clear text.
//!
//! ```yaml
//! - name: Account for the deploy tooling
//!   user:
//!     name: deploy
//!     uid: 1500
//!     groups: [sudo, docker]
//!     append: true
//!     shell: /bin/bash
//!     password: "$6$rounds=4096$salt$hash..."
//! ```

use crate::args::{ansible_bool, Args};
use crate::group::{GroupEntry, Presence};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "user",
    aliases: &["ansible.builtin.user", "ansible.legacy.user"],
    doc: include_str!("user.rs"),
    free_form: None,
    build: crate::registry::build::<UserArgs>,
};

/// When to set the password of a user that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePassword {
    /// Whenever the hash differs.
    #[default]
    Always,
    /// Only when the user is created.
    OnCreate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    /// The user's login name.
    #[serde(alias = "user")]
    pub name: String,
    /// `present` creates or changes the user, `absent` removes it.
    #[serde(default)]
    pub state: Presence,
    /// The user's numeric id.
    #[serde(default)]
    pub uid: Option<u32>,
    /// Allow a `uid` that another user already has.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub non_unique: bool,
    /// The primary group, by name or gid; it must exist.
    #[serde(default)]
    pub group: Option<String>,
    /// Supplementary groups, a list or a comma-separated string; an empty list removes all
    /// (unless `append`).
    #[serde(default, deserialize_with = "optional_list")]
    pub groups: Option<Vec<String>>,
    /// Add `groups` to the user's groups instead of replacing them.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub append: bool,
    /// The GECOS field, usually the person's name.
    #[serde(default)]
    pub comment: Option<String>,
    /// The home directory.
    #[serde(default)]
    pub home: Option<String>,
    /// The login shell.
    #[serde(default)]
    pub shell: Option<String>,
    /// The password as a crypt hash (`$6$…`), as in `/etc/shadow`.
    #[serde(default)]
    pub password: Option<String>,
    /// `always` sets a differing `password`; `on_create` only sets it for a new user.
    #[serde(default)]
    pub update_password: UpdatePassword,
    /// Lock (`true`) or unlock (`false`) the password.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub password_lock: Option<bool>,
    /// Create the home directory when the user is created, or when it is missing.
    #[serde(
        default = "yes",
        alias = "createhome",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub create_home: bool,
    /// Directory whose content a new home directory starts with (default `/etc/skel`).
    #[serde(default)]
    pub skeleton: Option<String>,
    /// The umask `useradd` uses for a new home directory.
    #[serde(default)]
    pub umask: Option<String>,
    /// Create a system account (a uid from the system range, no aging).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub system: bool,
    /// Move the old home directory's content when `home` changes.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub move_home: bool,
    /// With `state: absent`, remove the home directory and mail spool too.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub remove: bool,
    /// With `state: absent`, remove the user even while it is logged in (`userdel -f`).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// Account expiry as seconds since the epoch; a negative number removes the expiry.
    #[serde(default)]
    pub expires: Option<f64>,
    /// Lowest uid `useradd` may choose.
    #[serde(default)]
    pub uid_min: Option<u32>,
    /// Highest uid `useradd` may choose.
    #[serde(default)]
    pub uid_max: Option<u32>,
}

fn yes() -> bool {
    true
}

/// `groups:` absent is `None`; a list, a comma-separated string, or an empty value is
/// `Some`, so that `groups: []` can remove every supplementary group.
fn optional_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let items = match value {
        Value::Null => return Ok(None),
        Value::String(text) => text.split(',').map(|s| s.trim().to_string()).collect(),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    };
    Ok(Some(
        items
            .into_iter()
            .filter(|s: &String| !s.is_empty())
            .collect(),
    ))
}

impl Args for UserArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if let Some(password) = &self.password {
            if password.contains(':') || password.contains('\n') {
                return Err(ArgError::new(
                    "`password` must be a crypt hash; it cannot contain `:`",
                )
                .at("password"));
            }
        }
        Ok(())
    }
}

/// Reads the account, its shadow entry, the group database, the groups the task names and
/// the home directory, in one command. Arguments: user, home to check, group names.
const READ_SCRIPT: &str = r#"
name=$1 home=$2
shift 2
mark() { printf '@@rplay@@ %s\n' "$1"; }
mark passwd; getent passwd "$name"
mark shadow; getent shadow "$name" 2>/dev/null
mark groups; getent group
for g do mark "lookup $g"; getent group "$g"; done
[ -n "$home" ] || home=$(getent passwd "$name" | cut -d: -f6)
mark home
if [ -n "$home" ]; then
  printf 'path=%s\n' "$home"
  [ -e "$home" ] && echo exists
  [ -d "$(dirname -- "$home")" ] && echo parent
fi
exit 0
"#;

/// Creates a missing home directory the way Ansible does: a copy of the skeleton (or an
/// empty directory), the mode from `HOME_MODE` or `UMASK` in `/etc/login.defs`, and the
/// user as owner of everything in it. Arguments: home, skeleton, uid, gid.
const HOME_SCRIPT: &str = r#"
set -e
home=$1 skel=$2 uid=$3 gid=$4
mkdir -p -- "$(dirname -- "$home")"
if [ -d "$skel" ]; then cp -a -- "$skel" "$home"; else mkdir -- "$home"; fi
mode=$(awk '$1 == "HOME_MODE" { print $2 }' /etc/login.defs 2>/dev/null)
if [ -z "$mode" ]; then
  umask=$(awk '$1 == "UMASK" { print $2 }' /etc/login.defs 2>/dev/null)
  [ -n "$umask" ] && mode=$(printf '%o' $((0777 & ~0$umask)))
fi
[ -n "$mode" ] && chmod "$mode" "$home"
chown -R "$uid:$gid" "$home"
"#;

/// A `passwd` line.
#[derive(Debug, Clone, PartialEq)]
struct Account {
    uid: u32,
    gid: u32,
    comment: String,
    home: String,
    shell: String,
}

#[derive(Debug, Default)]
struct Current {
    account: Option<Account>,
    /// The password hash and the expiry day from the shadow entry, when readable.
    shadow: Option<(String, Option<i64>)>,
    groups: Vec<GroupEntry>,
    /// The groups the task names, by the name the task used.
    lookups: BTreeMap<String, Option<GroupEntry>>,
    home: Option<String>,
    home_exists: bool,
    home_parent_exists: bool,
}

impl Current {
    fn parse(text: &str) -> Current {
        let mut current = Current::default();
        for chunk in text.split("@@rplay@@ ").skip(1) {
            let (name, content) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let first = content.lines().next().unwrap_or_default();
            match name.trim() {
                "passwd" => {
                    let fields: Vec<&str> = first.split(':').collect();
                    if fields.len() >= 7 {
                        current.account = Some(Account {
                            uid: fields[2].parse().unwrap_or_default(),
                            gid: fields[3].parse().unwrap_or_default(),
                            comment: fields[4].to_string(),
                            home: fields[5].to_string(),
                            shell: fields[6].to_string(),
                        });
                    }
                }
                "shadow" => {
                    let fields: Vec<&str> = first.split(':').collect();
                    if fields.len() >= 8 {
                        let expires = fields[7].parse::<i64>().ok();
                        current.shadow = Some((fields[1].to_string(), expires));
                    }
                }
                "groups" => {
                    current.groups = content.lines().filter_map(GroupEntry::parse).collect();
                }
                "home" => {
                    for line in content.lines() {
                        match line {
                            "exists" => current.home_exists = true,
                            "parent" => current.home_parent_exists = true,
                            _ => {
                                if let Some(path) = line.strip_prefix("path=") {
                                    current.home = Some(path.to_string());
                                }
                            }
                        }
                    }
                }
                other => {
                    if let Some(group) = other.strip_prefix("lookup ") {
                        current
                            .lookups
                            .insert(group.to_string(), GroupEntry::parse(first));
                    }
                }
            }
        }
        current
    }

    fn group(&self, name: &str) -> Result<&GroupEntry, ModuleError> {
        self.lookups
            .get(name)
            .and_then(|g| g.as_ref())
            .ok_or_else(|| ModuleError::failed(format!("Group {name} does not exist")))
    }
}

/// `2025-01-31` for an expiry given in seconds since the epoch.
fn expiry_date(expires: f64) -> String {
    crate::facts::utc_timestamp(expires.floor() as i64)[..10].to_string()
}

impl UserArgs {
    fn named_groups(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in self.group.iter().chain(self.groups.iter().flatten()) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    fn wanted_groups(&self, current: &Current) -> Result<Vec<String>, ModuleError> {
        let mut names = Vec::new();
        for name in self.groups.iter().flatten() {
            let entry = current.group(name)?;
            if !names.contains(&entry.name) {
                names.push(entry.name.clone());
            }
        }
        Ok(names)
    }

    fn create(&self, current: &Current) -> Result<Plan, ModuleError> {
        let mut argv = vec!["useradd".to_string()];
        let mut steps = Vec::new();
        if let Some(uid) = self.uid {
            argv.extend(["-u".to_string(), uid.to_string()]);
            if self.non_unique {
                argv.push("-o".to_string());
            }
        }
        if let Some(group) = &self.group {
            current.group(group)?;
            argv.extend(["-g".to_string(), group.clone()]);
        } else if current.groups.iter().any(|g| g.name == self.name) {
            // A group of the user's name exists already: do not make useradd create it.
            argv.push("-N".to_string());
        }
        let groups = self.wanted_groups(current)?;
        if !groups.is_empty() {
            argv.extend(["-G".to_string(), groups.join(",")]);
        }
        if let Some(comment) = &self.comment {
            argv.extend(["-c".to_string(), comment.clone()]);
        }
        if let Some(home) = &self.home {
            if self.create_home && !current.home_parent_exists {
                let parent = std::path::Path::new(home)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".to_string());
                steps.push(Step::run(Exec::new(["mkdir", "-p", "--", &parent])));
            }
            argv.extend(["-d".to_string(), home.clone()]);
        }
        if let Some(shell) = &self.shell {
            argv.extend(["-s".to_string(), shell.clone()]);
        }
        if let Some(expires) = self.expires {
            let date = if expires < 0.0 {
                String::new()
            } else {
                expiry_date(expires)
            };
            argv.extend(["-e".to_string(), date]);
        }
        if let Some(password) = &self.password {
            let password = if self.password_lock == Some(true) {
                format!("!{password}")
            } else {
                password.clone()
            };
            argv.extend(["-p".to_string(), password]);
        }
        if self.create_home {
            argv.push("-m".to_string());
            if let Some(skeleton) = &self.skeleton {
                argv.extend(["-k".to_string(), skeleton.clone()]);
            }
            if let Some(umask) = &self.umask {
                argv.extend(["-K".to_string(), format!("UMASK={umask}")]);
            }
        } else {
            argv.push("-M".to_string());
        }
        if self.system {
            argv.push("-r".to_string());
        }
        if let Some(min) = self.uid_min {
            argv.extend(["-K".to_string(), format!("UID_MIN={min}")]);
        }
        if let Some(max) = self.uid_max {
            argv.extend(["-K".to_string(), format!("UID_MAX={max}")]);
        }
        argv.push(self.name.clone());
        steps.push(Step::run(Exec::new(argv)));
        let mut plan = Plan::change(format!("create user {}", self.name), steps)
            .with("system", self.system)
            .with("create_home", self.create_home);
        if let Some(uid) = self.uid {
            plan = plan.with("uid", uid);
        }
        if let Some(group) = &self.group {
            plan = plan.with("group", current.group(group)?.gid);
        }
        for (key, value) in [
            ("comment", &self.comment),
            ("home", &self.home),
            ("shell", &self.shell),
        ] {
            if let Some(value) = value {
                plan = plan.with(key, value.clone());
            }
        }
        Ok(plan)
    }

    /// The `usermod` options for the attributes that differ, and what they change.
    fn modify(
        &self,
        account: &Account,
        current: &Current,
    ) -> Result<(Vec<String>, Vec<String>), ModuleError> {
        let mut argv = vec!["usermod".to_string()];
        let mut changes = Vec::new();
        if let Some(uid) = self.uid.filter(|uid| *uid != account.uid) {
            argv.extend(["-u".to_string(), uid.to_string()]);
            if self.non_unique {
                argv.push("-o".to_string());
            }
            changes.push(format!("uid {} to {uid}", account.uid));
        }
        if let Some(group) = &self.group {
            let entry = current.group(group)?;
            if entry.gid != account.gid {
                argv.extend(["-g".to_string(), entry.gid.to_string()]);
                changes.push(format!("primary group to {}", entry.name));
            }
        }
        if self.groups.is_some() {
            let member_of: Vec<String> = current
                .groups
                .iter()
                .filter(|g| g.members.contains(&self.name))
                .map(|g| g.name.clone())
                .collect();
            let wanted = self.wanted_groups(current)?;
            let missing: Vec<&String> = wanted.iter().filter(|g| !member_of.contains(g)).collect();
            let extra: Vec<&String> = member_of.iter().filter(|g| !wanted.contains(g)).collect();
            let needs_change = if self.append {
                !missing.is_empty()
            } else {
                !missing.is_empty() || !extra.is_empty()
            };
            if needs_change {
                if self.append {
                    argv.push("-a".to_string());
                }
                argv.extend(["-G".to_string(), wanted.join(",")]);
                changes.push(format!("groups to {}", wanted.join(",")));
            }
        }
        if let Some(comment) = self.comment.as_ref().filter(|c| **c != account.comment) {
            argv.extend(["-c".to_string(), comment.clone()]);
            changes.push("comment".to_string());
        }
        if let Some(home) = self.home.as_ref().filter(|h| **h != account.home) {
            argv.extend(["-d".to_string(), home.clone()]);
            if self.move_home {
                argv.push("-m".to_string());
            }
            changes.push(format!("home to {home}"));
        }
        if let Some(shell) = self.shell.as_ref().filter(|s| **s != account.shell) {
            argv.extend(["-s".to_string(), shell.clone()]);
            changes.push(format!("shell to {shell}"));
        }
        let shadow = current.shadow.clone();
        if let Some(expires) = self.expires {
            let current_days = shadow.as_ref().and_then(|(_, days)| *days);
            if expires < 0.0 {
                if current_days.is_some_and(|d| d >= 0) {
                    argv.extend(["-e".to_string(), String::new()]);
                    changes.push("expiry removed".to_string());
                }
            } else {
                let wanted_days = (expires / 86_400.0).floor() as i64;
                if current_days != Some(wanted_days) {
                    argv.extend(["-e".to_string(), expiry_date(expires)]);
                    changes.push(format!("expiry to {}", expiry_date(expires)));
                }
            }
        }
        let hash = shadow.as_ref().map(|(hash, _)| hash.clone());
        let locked = hash.as_ref().is_some_and(|h| h.starts_with('!'));
        let mut lock_option = None;
        if self.password_lock == Some(true) && !locked {
            lock_option = Some("-L");
        } else if self.password_lock == Some(false) && locked {
            lock_option = Some("-U");
        }
        let password_differs = match (&self.password, &hash) {
            (Some(wanted), Some(current)) => {
                wanted.trim_start_matches('!') != current.trim_start_matches('!')
            }
            // The shadow entry cannot be read (no root): set it to be sure.
            (Some(_), None) => true,
            (None, _) => false,
        };
        if self.update_password == UpdatePassword::Always && password_differs {
            let wanted = self.password.clone().unwrap_or_default();
            let wanted = if self.password_lock == Some(true) {
                format!("!{wanted}")
            } else {
                wanted
            };
            argv.extend(["-p".to_string(), wanted]);
            changes.push("password".to_string());
        } else if let Some(option) = lock_option {
            argv.push(option.to_string());
            changes.push(
                if option == "-L" {
                    "password locked"
                } else {
                    "password unlocked"
                }
                .to_string(),
            );
        }
        argv.push(self.name.clone());
        Ok((argv, changes))
    }

    fn plan_present(&self, current: Current) -> Result<Plan, ModuleError> {
        let Some(account) = current.account.clone() else {
            return self.create(&current);
        };
        let (argv, changes) = self.modify(&account, &current)?;
        let mut steps = Vec::new();
        if !changes.is_empty() {
            steps.push(Step::run(Exec::new(argv)));
        }
        let home = self.home.clone().unwrap_or_else(|| account.home.clone());
        let moved = self.move_home && self.home.as_ref().is_some_and(|h| *h != account.home);
        if self.create_home && !current.home_exists && !moved && !home.is_empty() {
            let uid = self.uid.unwrap_or(account.uid);
            let gid = match &self.group {
                Some(group) => current.group(group)?.gid,
                None => account.gid,
            };
            let skeleton = self
                .skeleton
                .clone()
                .unwrap_or_else(|| "/etc/skel".to_string());
            steps.push(Step::run(Exec::new([
                "sh".to_string(),
                "-c".to_string(),
                HOME_SCRIPT.to_string(),
                "rplay-user-home".to_string(),
                home.clone(),
                skeleton,
                uid.to_string(),
                gid.to_string(),
            ])));
        }
        let mut plan = if steps.is_empty() {
            Plan::ok(format!("user {} exists as wanted", self.name))
        } else {
            let mut what = changes.join(", ");
            if !current.home_exists && self.create_home {
                if !what.is_empty() {
                    what.push_str(", ");
                }
                what.push_str(&format!("create home {home}"));
            }
            Plan::change(format!("change user {}: {what}", self.name), steps)
        };
        let gid = match &self.group {
            Some(group) => current.group(group)?.gid,
            None => account.gid,
        };
        plan = plan
            .with("append", self.append)
            .with("move_home", self.move_home)
            .with("uid", self.uid.unwrap_or(account.uid))
            .with("group", gid)
            .with("comment", self.comment.clone().unwrap_or(account.comment))
            .with("home", home)
            .with("shell", self.shell.clone().unwrap_or(account.shell));
        Ok(plan)
    }
}

impl Module for UserArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let mut argv = vec![
                "sh".to_string(),
                "-c".to_string(),
                READ_SCRIPT.to_string(),
                "rplay-user".to_string(),
                self.name.clone(),
                self.home.clone().unwrap_or_default(),
            ];
            argv.extend(self.named_groups());
            let output = host.transport.run(&Exec::new(argv)).await?;
            if !output.success() {
                return Err(ModuleError::failed(format!(
                    "reading user {}: {}",
                    self.name,
                    output.stderr_text().trim()
                )));
            }
            let current = Current::parse(&output.stdout_text());
            let mut plan = match (self.state, &current.account) {
                (Presence::Absent, None) => Plan::ok(format!("user {} does not exist", self.name)),
                (Presence::Absent, Some(_)) => {
                    let mut argv = vec!["userdel".to_string()];
                    if self.force {
                        argv.push("-f".to_string());
                    }
                    if self.remove {
                        argv.push("-r".to_string());
                    }
                    argv.push(self.name.clone());
                    Plan::change(
                        format!("remove user {}", self.name),
                        vec![Step::run(Exec::new(argv))],
                    )
                    .with("force", self.force)
                    .with("remove", self.remove)
                }
                (Presence::Present, _) => self.plan_present(current)?,
            };
            if self.state == Presence::Present {
                if let Some(groups) = &self.groups {
                    plan = plan.with("groups", groups.join(","));
                }
                if self.password.is_some() {
                    plan = plan.with("password", "NOT_LOGGING_PASSWORD");
                }
            }
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

    fn getent(database: &str, key: &str) -> Option<String> {
        let output = std::process::Command::new("getent")
            .args([database, key])
            .output()
            .expect("getent runs");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn run(argv: &[&str]) {
        let status = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .expect("the command runs");
        assert!(status.success(), "{argv:?} failed");
    }

    /// Removes the test accounts even when an assertion fails half-way.
    struct Cleanup {
        user: String,
        groups: Vec<String>,
    }
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("userdel")
                .args(["-r", &self.user])
                .output();
            for group in &self.groups {
                let _ = std::process::Command::new("groupdel").arg(group).output();
            }
        }
    }

    #[test]
    fn reads_the_account_state() {
        let current = Current::parse(
            "@@rplay@@ passwd\nann:x:1001:1001:Ann,,,:/home/ann:/bin/bash\n@@rplay@@ shadow\nann:!$6$x$y:19000:0:99999:7:::\n@@rplay@@ groups\nann:x:1001:\nsudo:x:27:ann,bob\n@@rplay@@ lookup sudo\nsudo:x:27:ann,bob\n@@rplay@@ lookup nope\n@@rplay@@ home\npath=/home/ann\nexists\nparent\n",
        );
        let account = current.account.clone().unwrap();
        assert_eq!(account.uid, 1001);
        assert_eq!(account.comment, "Ann,,,");
        assert_eq!(current.shadow, Some(("!$6$x$y".to_string(), None)));
        assert_eq!(current.groups.len(), 2);
        assert!(current.group("sudo").is_ok());
        assert_eq!(
            current.group("nope").unwrap_err().to_string(),
            "Group nope does not exist"
        );
        assert!(current.home_exists && current.home_parent_exists);
    }

    #[test]
    fn turns_expiry_seconds_into_a_date() {
        assert_eq!(expiry_date(1_735_689_600.0), "2025-01-01");
    }

    #[tokio::test]
    async fn creates_changes_and_removes_a_user() {
        let id = std::process::id();
        let name = format!("rplu{id}");
        let extra_one = format!("rplua{id}");
        let extra_two = format!("rplub{id}");
        let _cleanup = Cleanup {
            user: name.clone(),
            groups: vec![extra_one.clone(), extra_two.clone()],
        };
        run(&["groupadd", &extra_one]);
        run(&["groupadd", &extra_two]);
        let fixture = Fixture::new();
        let home = fixture.path("homes/deploy");
        let uid = 42000 + id % 1000;
        let hash = "$6$saltsalt$5L9u9VpbDf5z3bSxKj9B1wU9fJ9z7sYQ2xQ0bQb4gT8Tq2m3y5wXn6w3kZ7yZ2v9Q8p4r1s0t6u7v8w9x0y1z2";

        let args = json!({
            "name": name, "uid": uid, "groups": [extra_one], "shell": "/bin/sh",
            "comment": "Deploy user", "home": home, "password": hash,
        });
        let first = fixture.converge("ansible.builtin.user", args.clone()).await;
        assert_eq!(first.result["password"], json!("NOT_LOGGING_PASSWORD"));
        let entry = getent("passwd", &name).expect("the user exists");
        assert_eq!(
            entry,
            format!("{name}:x:{uid}:{uid}:Deploy user:{home}:/bin/sh")
        );
        assert!(std::path::Path::new(&home).is_dir(), "home was created");
        let shadow = getent("shadow", &name).unwrap();
        assert_eq!(shadow.split(':').nth(1), Some(hash));
        let member = getent("group", &extra_one).unwrap();
        assert!(member.ends_with(&format!(":{name}")), "{member}");

        // Appending a group keeps the first one.
        fixture
            .converge(
                "user",
                json!({ "name": name, "groups": extra_two, "append": true, "shell": "/bin/bash" }),
            )
            .await;
        assert!(getent("group", &extra_one).unwrap().ends_with(&name));
        assert!(getent("group", &extra_two).unwrap().ends_with(&name));
        assert!(getent("passwd", &name).unwrap().ends_with(":/bin/bash"));

        // Replacing the groups removes the other one.
        fixture
            .converge("user", json!({ "name": name, "groups": [extra_two] }))
            .await;
        assert!(!getent("group", &extra_one).unwrap().contains(&name));

        // Locking the password.
        fixture
            .converge("user", json!({ "name": name, "password_lock": true }))
            .await;
        assert!(getent("shadow", &name).unwrap().contains(":!$6$"));

        // A missing home directory is created again.
        std::fs::remove_dir_all(&home).unwrap();
        fixture.converge("user", json!({ "name": name })).await;
        assert!(std::path::Path::new(&home).is_dir());

        let unknown = fixture
            .plan(
                "user",
                json!({ "name": name, "groups": ["rpl-no-such-group"] }),
            )
            .await
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "Group rpl-no-such-group does not exist"
        );

        fixture
            .converge(
                "user",
                json!({ "name": name, "state": "absent", "remove": true }),
            )
            .await;
        assert_eq!(getent("passwd", &name), None);
        assert!(
            !std::path::Path::new(&home).exists(),
            "remove: true removed the home"
        );
    }

    #[tokio::test]
    async fn creates_a_system_user_without_home() {
        let name = format!("rplus{}", std::process::id());
        let _cleanup = Cleanup {
            user: name.clone(),
            groups: vec![name.clone()],
        };
        let fixture = Fixture::new();
        let plan = fixture
            .converge(
                "user",
                json!({ "name": name, "system": true, "create_home": false, "shell": "/usr/sbin/nologin" }),
            )
            .await;
        assert_eq!(plan.result["system"], json!(true));
        let entry = getent("passwd", &name).unwrap();
        let uid: u32 = entry.split(':').nth(2).unwrap().parse().unwrap();
        assert!(uid < 1000, "a system uid, got {uid}");
    }
}
