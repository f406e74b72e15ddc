//! `mount` (ansible.posix.mount): a file system's line in fstab and whether it is mounted.
//!
//! The fstab line of `path` is compared field by field (source, type, options, dump,
//! pass) and rewritten in place, appended, or removed; the file is replaced atomically.
//! Whether `path` is mounted is read from `/proc/mounts`. Nothing needs doing when the
//! line is as wanted and the mount is in the wanted state. As in Ansible, `mounted`
//! remounts a mounted file system whose fstab line changed, `remounted` always remounts,
//! and `ephemeral` mounts with the given options without touching fstab.
//!
//! ```yaml
//! - name: A tmpfs for scratch data
//!   ansible.posix.mount:
//!     path: /var/lib/scratch
//!     src: tmpfs
//!     fstype: tmpfs
//!     opts: size=64m,mode=0755
//!     state: mounted
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::text;
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "mount",
    aliases: &["ansible.posix.mount", "ansible.builtin.mount"],
    doc: include_str!("mount.rs"),
    free_form: None,
    build: crate::registry::build::<MountArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountArgs {
    /// The mount point.
    #[serde(alias = "name")]
    pub path: String,
    /// The device, `UUID=...`, `LABEL=...`, a directory for a bind mount, or a name for a
    /// pseudo file system (`tmpfs`). Needed for `present`, `mounted` and `ephemeral`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub src: Option<String>,
    /// The file system type. Needed for `present`, `mounted` and `ephemeral`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub fstype: Option<String>,
    /// Mount options, comma-separated.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub opts: Option<String>,
    /// fstab's fifth field.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub dump: Option<String>,
    /// fstab's sixth field.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub passno: Option<String>,
    /// `mounted`, `unmounted`, `present`, `absent`, `absent_from_fstab`, `remounted` or
    /// `ephemeral`.
    pub state: MountState,
    /// The fstab file.
    #[serde(default = "etc_fstab")]
    pub fstab: String,
    /// Copy fstab to a timestamped backup before changing it.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// Mount at boot; `false` adds `noauto` to the options.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub boot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    Mounted,
    Unmounted,
    Present,
    Absent,
    AbsentFromFstab,
    Remounted,
    Ephemeral,
}

impl MountState {
    fn name(self) -> &'static str {
        match self {
            MountState::Mounted => "mounted",
            MountState::Unmounted => "unmounted",
            MountState::Present => "present",
            MountState::Absent => "absent",
            MountState::AbsentFromFstab => "absent_from_fstab",
            MountState::Remounted => "remounted",
            MountState::Ephemeral => "ephemeral",
        }
    }
}

fn etc_fstab() -> String {
    "/etc/fstab".to_string()
}
fn yes() -> bool {
    true
}

impl Args for MountArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if !self.path.starts_with('/') {
            return Err(
                ArgError::new(format!("`{}` is not an absolute path", self.path)).at("path"),
            );
        }
        if matches!(
            self.state,
            MountState::Present | MountState::Mounted | MountState::Ephemeral
        ) {
            for (name, value) in [("src", &self.src), ("fstype", &self.fstype)] {
                if value.as_deref().is_none_or(str::is_empty) {
                    return Err(ArgError::new(format!(
                        "`{name}` is required when `state` is {}",
                        self.state.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The fields of an fstab line, escaped as fstab writes them.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    src: String,
    path: String,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
}

impl Entry {
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.path, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

/// Spaces, tabs, newlines and backslashes as fstab and `/proc/mounts` write them.
fn escape(field: &str) -> String {
    field
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// What editing fstab gives: the new text and whether it differs.
struct Edit {
    text: String,
    changed: bool,
}

/// Sets (or, with `None`, removes) the line of `path` in fstab text, keeping every other
/// line, comment and blank as it was. A line whose fields already match stays byte for
/// byte; a line with fewer than four fields is not a mount and is kept.
fn edit_fstab(before: &str, path: &str, wanted: Option<&Entry>) -> Edit {
    let mut text = String::new();
    let mut found = false;
    let mut changed = false;
    for line in before.split_inclusive('\n') {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.trim_start().starts_with('#') || fields.len() < 4 || unescape(fields[1]) != path {
            text.push_str(line);
            continue;
        }
        let Some(wanted) = wanted else {
            changed = true;
            continue;
        };
        found = true;
        let current = Entry {
            src: fields[0].to_string(),
            path: fields[1].to_string(),
            fstype: fields[2].to_string(),
            opts: fields[3].to_string(),
            dump: fields.get(4).unwrap_or(&"0").to_string(),
            passno: fields.get(5).unwrap_or(&"0").to_string(),
        };
        let same = current.src == wanted.src
            && current.fstype == wanted.fstype
            && current.opts == wanted.opts
            && current.dump == wanted.dump
            && current.passno == wanted.passno;
        if same {
            text.push_str(line);
            if !line.ends_with('\n') {
                text.push('\n');
                changed = true;
            }
        } else {
            text.push_str(&wanted.line());
            changed = true;
        }
    }
    if let (Some(wanted), false) = (wanted, found) {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&wanted.line());
        changed = true;
    }
    Edit { text, changed }
}

/// Whether `path` is a mount point, from `/proc/mounts` text.
fn is_mounted(proc_mounts: &str, path: &str) -> bool {
    proc_mounts.lines().any(|line| {
        line.split_whitespace()
            .nth(1)
            .is_some_and(|point| unescape(point) == path)
    })
}

impl MountArgs {
    fn path(&self) -> String {
        match self.path.trim_end_matches('/') {
            "" => "/".to_string(),
            path => path.to_string(),
        }
    }

    fn opts(&self) -> String {
        let opts = self
            .opts
            .clone()
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| "defaults".to_string());
        if !self.boot && !opts.split(',').any(|o| o == "noauto") {
            return format!("{opts},noauto");
        }
        opts
    }

    fn entry(&self) -> Entry {
        let field = |value: &Option<String>, default: &str| {
            value
                .clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        Entry {
            src: escape(self.src.as_deref().unwrap_or("")),
            path: escape(&self.path()),
            fstype: escape(self.fstype.as_deref().unwrap_or("")),
            opts: escape(&self.opts()),
            dump: field(&self.dump, "0"),
            passno: field(&self.passno, "0"),
        }
    }

    /// `mount` with `-T FSTAB` when the fstab is not the system's.
    fn mount_from_fstab(&self, extra: &[&str]) -> Vec<String> {
        let mut argv = vec!["mount".to_string()];
        if self.fstab != "/etc/fstab" {
            argv.extend(["-T".to_string(), self.fstab.clone()]);
        }
        argv.extend(extra.iter().map(|word| word.to_string()));
        argv.push(self.path());
        argv
    }

    /// Remounts with the fstab's options, or unmounts and mounts again when the kernel
    /// refuses a remount (a new source or type), as Ansible does.
    fn remount_step(&self) -> Step {
        let fstab = if self.fstab == "/etc/fstab" {
            String::new()
        } else {
            self.fstab.clone()
        };
        Step::run(Exec::new([
            "sh".to_string(),
            "-c".to_string(),
            REMOUNT.to_string(),
            "rplay-mount".to_string(),
            self.path(),
            fstab,
        ]))
    }

    fn ephemeral_mount(&self, remount: bool) -> Step {
        let mut opts = self.opts();
        if remount {
            opts = format!("remount,{opts}");
        }
        let mut argv = vec!["mount".to_string()];
        if !remount {
            argv.extend(["-t".to_string(), self.fstype.clone().unwrap_or_default()]);
        }
        argv.extend(["-o".to_string(), opts]);
        if !remount {
            argv.push(self.src.clone().unwrap_or_default());
        }
        argv.push(self.path());
        Step::run(Exec::new(argv))
    }
}

/// `$1` the mount point, `$2` the fstab when it is not `/etc/fstab`.
const REMOUNT: &str = r#"point=$1; fstab=$2
if [ -n "$fstab" ]; then set -- -T "$fstab"; else set --; fi
mount "$@" -o remount "$point" 2>/dev/null && exit 0
umount -- "$point" && mount "$@" "$point"
"#;

impl Module for MountArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let path = self.path();
            let proc_mounts = transport
                .get("/proc/mounts")
                .await?
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            let mounted = is_mounted(&proc_mounts, &path);
            let entry = self.entry();
            let before = transport
                .get(&self.fstab)
                .await?
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            let fstab_text = before.clone().unwrap_or_default();

            let edit = match self.state {
                MountState::Present | MountState::Mounted => {
                    Some(edit_fstab(&fstab_text, &path, Some(&entry)))
                }
                MountState::Absent | MountState::AbsentFromFstab => {
                    Some(edit_fstab(&fstab_text, &path, None))
                }
                _ => None,
            }
            .filter(|edit| edit.changed);

            let mut steps = Vec::new();
            let mut actions = Vec::new();
            let mut diffs = Vec::new();
            let mut backup_file = None;
            if let Some(edit) = &edit {
                if self.backup && before.is_some() {
                    let backup = crate::file::backup_name(transport, &self.fstab).await?;
                    steps.push(crate::file::backup_step(&self.fstab, &backup));
                    backup_file = Some(backup);
                }
                steps.push(Step::write(
                    self.fstab.clone(),
                    edit.text.clone(),
                    FileAttrs {
                        mode: before.is_none().then_some(0o644),
                        ..FileAttrs::default()
                    },
                ));
                actions.push(format!("update {}", self.fstab));
                diffs.push(Diff {
                    path: self.fstab.clone(),
                    before: fstab_text.clone(),
                    after: edit.text.clone(),
                });
            }
            match self.state {
                MountState::Mounted => {
                    if !mounted {
                        let exists = crate::util::path_state(transport, &path, true)
                            .await?
                            .exists;
                        if !exists {
                            steps.push(Step::run(Exec::new(["mkdir", "-p", "--", &path])));
                        }
                        steps.push(Step::run(Exec::new(self.mount_from_fstab(&[]))));
                        actions.push(format!("mount {path}"));
                    } else if edit.is_some() {
                        steps.push(self.remount_step());
                        actions.push(format!("remount {path}"));
                    }
                }
                MountState::Unmounted | MountState::Absent => {
                    if mounted {
                        steps.insert(0, Step::run(Exec::new(["umount", "--", &path])));
                        actions.insert(0, format!("unmount {path}"));
                    }
                }
                MountState::Remounted => {
                    if mounted {
                        steps.push(self.remount_step());
                        actions.push(format!("remount {path}"));
                    } else {
                        return Ok(Plan::fail(format!("{path} is not mounted")));
                    }
                }
                MountState::Ephemeral => {
                    if mounted {
                        if self.opts.is_some() {
                            let current = proc_mounts
                                .lines()
                                .rfind(|line| {
                                    line.split_whitespace()
                                        .nth(1)
                                        .is_some_and(|point| unescape(point) == path)
                                })
                                .and_then(|line| line.split_whitespace().nth(3))
                                .unwrap_or("")
                                .to_string();
                            let have: Vec<&str> = current.split(',').collect();
                            let missing = self
                                .opts()
                                .split(',')
                                .any(|o| o != "defaults" && !have.contains(&o));
                            if missing {
                                steps.push(self.ephemeral_mount(true));
                                actions.push(format!("remount {path} with {}", self.opts()));
                            }
                        }
                    } else {
                        let exists = crate::util::path_state(transport, &path, true)
                            .await?
                            .exists;
                        if !exists {
                            steps.push(Step::run(Exec::new(["mkdir", "-p", "--", &path])));
                        }
                        steps.push(self.ephemeral_mount(false));
                        actions.push(format!("mount {path} for now"));
                    }
                }
                MountState::Present | MountState::AbsentFromFstab => {}
            }
            let mut plan = if steps.is_empty() {
                Plan::ok(match self.state {
                    MountState::Unmounted => format!("{path} is not mounted"),
                    MountState::Absent | MountState::AbsentFromFstab => {
                        format!("{path} is in neither {} nor mounted", self.fstab)
                    }
                    MountState::Ephemeral => format!("{path} is mounted with the options"),
                    _ if mounted => format!("{path} is mounted and in {} as wanted", self.fstab),
                    _ => format!("{path} is in {} as wanted", self.fstab),
                })
            } else {
                Plan::change(actions.join(", "), steps)
            };
            for diff in diffs {
                plan = plan.with_diff(diff);
            }
            if let Some(backup) = backup_file {
                plan = plan.with("backup_file", backup);
            }
            let optional =
                |value: &Option<String>| value.clone().map_or(Value::Null, Value::String);
            Ok(plan
                .with("name", path)
                .with("src", optional(&self.src))
                .with("fstype", optional(&self.fstype))
                .with("opts", self.opts())
                .with("dump", entry.dump.clone())
                .with("passno", entry.passno.clone())
                .with("fstab", self.fstab.clone())
                .with("boot", self.boot))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfs(path: &str, opts: &str) -> Entry {
        Entry {
            src: "tmpfs".into(),
            path: escape(path),
            fstype: "tmpfs".into(),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn edits_fstab_lines_in_place() {
        let fstab = "# static file system information\nUUID=1 / ext4 errors=remount-ro 0 1\n\ntmpfs /scratch tmpfs size=1m 0 0\n";
        let same = edit_fstab(fstab, "/scratch", Some(&tmpfs("/scratch", "size=1m")));
        assert!(!same.changed);
        assert_eq!(same.text, fstab);

        let bigger = edit_fstab(fstab, "/scratch", Some(&tmpfs("/scratch", "size=2m")));
        assert!(bigger.changed);
        assert_eq!(
            bigger.text,
            "# static file system information\nUUID=1 / ext4 errors=remount-ro 0 1\n\ntmpfs /scratch tmpfs size=2m 0 0\n"
        );

        let added = edit_fstab(
            "UUID=1 / ext4 defaults 0 1",
            "/a b",
            Some(&tmpfs("/a b", "defaults")),
        );
        assert_eq!(
            added.text,
            "UUID=1 / ext4 defaults 0 1\ntmpfs /a\\040b tmpfs defaults 0 0\n"
        );

        let removed = edit_fstab(fstab, "/scratch", None);
        assert!(removed.changed);
        assert!(!removed.text.contains("/scratch"));
        assert!(!edit_fstab(&removed.text, "/scratch", None).changed);
    }

    #[test]
    fn reads_proc_mounts() {
        let mounts = "proc /proc proc rw 0 0\ntmpfs /a\\040b tmpfs rw,size=1024k 0 0\n";
        assert!(is_mounted(mounts, "/a b"));
        assert!(!is_mounted(mounts, "/a"));
    }

    #[test]
    fn boot_false_adds_noauto_and_needs_src() {
        let args: MountArgs = crate::args::parse(serde_json::json!({
            "path": "/data/", "src": "/dev/sdb1", "fstype": "ext4", "state": "present", "boot": false
        }))
        .unwrap();
        assert_eq!(
            args.entry().line(),
            "/dev/sdb1 /data ext4 defaults,noauto 0 0\n"
        );
        let error = crate::args::parse::<MountArgs>(serde_json::json!({
            "path": "/data", "fstype": "ext4", "state": "mounted"
        }))
        .unwrap_err();
        assert!(error.message.contains("`src`"), "{}", error.message);
    }
}
