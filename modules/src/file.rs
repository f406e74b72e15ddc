//! `file`: makes a path a file, a directory, a symlink or a hard link, or removes it, and
//! sets its mode, owner, group and timestamps.
//!
//! One `stat` of the path decides. Nothing needs doing when the path already is what
//! `state` asks for (a directory, a link to `src`, absent) and its mode, owner and group
//! already match. `state: touch` updates the timestamps, so it changes something on every
//! run unless both `modification_time` and `access_time` are `preserve`, as in Ansible.
//!
//! This file also holds what every module that writes files shares: mode, owner and group
//! comparison, backups, `validate`, and the `mkdir` of missing parents.
//!
//! ```yaml
//! - name: Kubernetes manifests directory
//!   file:
//!     path: /etc/kubernetes/manifests
//!     state: directory
//!     mode: "0755"
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::{ansible_bool, Args};
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs, Transport};
use crate::util::{parse_stat_line, path_state, split_words, PathState, STAT_FORMAT};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "file",
    aliases: &["ansible.builtin.file", "ansible.legacy.file"],
    doc: include_str!("file.rs"),
    free_form: None,
    build: crate::registry::build::<FileArgs>,
};

/// What the path should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    Absent,
    Directory,
    File,
    Hard,
    Link,
    Touch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileArgs {
    /// The path to manage.
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    /// `file` (must exist; never created), `directory` (created with its parents), `link`,
    /// `hard`, `touch` (created empty, or its times updated) or `absent` (removed,
    /// directories with their content). Default: what the path is now, else `file`.
    #[serde(default)]
    pub state: Option<FileState>,
    /// Permissions, octal (`"0644"`) or symbolic (`"u=rw,g=r,o=r"`).
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// The user that should own the path, by name or uid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub owner: Option<String>,
    /// The group that should own the path, by name or gid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub group: Option<String>,
    /// With `state: directory`, set mode, owner and group on everything inside too.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub recurse: bool,
    /// What a link points to (`state: link` or `hard`); a relative symlink target is
    /// relative to the link's directory, as with `ln -s`.
    #[serde(default)]
    pub src: Option<String>,
    /// Create a symlink whose target does not exist yet, or replace a file (or an empty
    /// directory) by a link.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// Manage what a symlink points to rather than the link itself.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub follow: bool,
    /// `preserve`, `now` or a time written in `modification_time_format`; the default is
    /// `now` for `state: touch` and `preserve` otherwise.
    #[serde(default)]
    pub modification_time: Option<String>,
    /// The `strftime` format of `modification_time`.
    #[serde(default = "default_time_format")]
    pub modification_time_format: String,
    /// Like `modification_time`, for the access time.
    #[serde(default)]
    pub access_time: Option<String>,
    /// The `strftime` format of `access_time`.
    #[serde(default = "default_time_format")]
    pub access_time_format: String,
    /// Accepted for compatibility; every write is atomic.
    #[serde(default)]
    pub unsafe_writes: Option<Value>,
}

fn yes() -> bool {
    true
}

fn default_time_format() -> String {
    "%Y%m%d%H%M.%S".to_string()
}

impl Args for FileArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if let Some(state) = self.state {
            if self.recurse && state != FileState::Directory {
                return Err(ArgError::new(
                    "`recurse` requires `state` to be `directory`",
                ));
            }
            if self.src.is_some() && !matches!(state, FileState::Link | FileState::Hard) {
                return Err(ArgError::new(
                    "`src` requires `state` to be `link` or `hard`",
                ));
            }
        }
        for (key, value, format) in [
            (
                "modification_time",
                &self.modification_time,
                &self.modification_time_format,
            ),
            ("access_time", &self.access_time, &self.access_time_format),
        ] {
            if let Some(value) = value {
                TimeSpec::parse(value, format).map_err(|e| ArgError::new(e).at(key))?;
            }
        }
        Ok(())
    }
}

impl Module for FileArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(self.plan_file(host.transport))
    }
}

/// Ansible's name for what a path is now: `absent`, `file`, `directory`, `link` or `hard`.
fn kind_name(state: &PathState) -> &'static str {
    if !state.exists {
        "absent"
    } else if state.is_link() {
        "link"
    } else if state.is_dir() {
        "directory"
    } else if state.nlink > 1 {
        "hard"
    } else {
        "file"
    }
}

impl FileArgs {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    fn times(&self, state: FileState) -> Result<(TimeSpec, TimeSpec), ModuleError> {
        let default = if state == FileState::Touch {
            "now"
        } else {
            "preserve"
        };
        let parse = |value: &Option<String>, format: &str| {
            TimeSpec::parse(value.as_deref().unwrap_or(default), format)
                .map_err(ModuleError::Failed)
        };
        Ok((
            parse(&self.modification_time, &self.modification_time_format)?,
            parse(&self.access_time, &self.access_time_format)?,
        ))
    }

    async fn plan_file(&self, transport: &dyn Transport) -> Result<Plan, ModuleError> {
        let mut path = self.path.clone();
        let mut current = path_state(transport, &path, false).await?;
        // A link or hard link asked for inside an existing directory lands in it, named
        // after its source.
        if current.is_dir() && !matches!(self.state, Some(FileState::Link | FileState::Absent)) {
            if let Some(src) = &self.src {
                path = join_path(&path, basename(src));
                current = path_state(transport, &path, false).await?;
            }
        }
        let state = self.state.unwrap_or(match kind_name(&current) {
            "absent" if self.recurse => FileState::Directory,
            "directory" => FileState::Directory,
            "link" => FileState::Link,
            "hard" => FileState::Hard,
            _ => FileState::File,
        });
        if self.recurse && state != FileState::Directory {
            return Err(ModuleError::failed(
                "recurse option requires state to be 'directory'",
            ));
        }
        if self.src.is_some() && !matches!(state, FileState::Link | FileState::Hard) {
            return Err(ModuleError::failed(
                "src option requires state to be 'link' or 'hard'",
            ));
        }
        let (mtime, atime) = self.times(state)?;
        match state {
            FileState::Absent => Ok(plan_absent(&path, &current)),
            FileState::File => {
                self.plan_existing_file(transport, path, current, mtime, atime)
                    .await
            }
            FileState::Directory => {
                self.plan_directory(transport, path, current, mtime, atime)
                    .await
            }
            FileState::Link => {
                self.plan_symlink(transport, path, current, mtime, atime)
                    .await
            }
            FileState::Hard => {
                self.plan_hard_link(transport, path, current, mtime, atime)
                    .await
            }
            FileState::Touch => {
                self.plan_touch(transport, path, current, mtime, atime)
                    .await
            }
        }
    }

    async fn plan_existing_file(
        &self,
        transport: &dyn Transport,
        mut path: String,
        mut current: PathState,
        mtime: TimeSpec,
        atime: TimeSpec,
    ) -> Result<Plan, ModuleError> {
        if self.follow && current.is_link() {
            path = real_path(transport, &path).await?;
            current = path_state(transport, &path, false).await?;
        }
        let kind = kind_name(&current);
        if !matches!(kind, "file" | "hard") {
            let plan = Plan::fail(format!("file ({path}) is {kind}, cannot continue"))
                .with("path", path.clone())
                .with("state", kind);
            return with_path_facts(transport, plan, &path, &current).await;
        }
        self.settle(
            transport,
            Settle {
                path: &path,
                current: &current,
                times: (&mtime, &atime),
                extra: Vec::new(),
                key: "path",
                ok: format!("{path} is a file with the wanted attributes"),
                change: format!("set the attributes of {path}"),
            },
        )
        .await
    }

    async fn plan_directory(
        &self,
        transport: &dyn Transport,
        mut path: String,
        mut current: PathState,
        mtime: TimeSpec,
        atime: TimeSpec,
    ) -> Result<Plan, ModuleError> {
        if self.follow && current.is_link() {
            path = real_path(transport, &path).await?;
            current = path_state(transport, &path, false).await?;
        }
        if !current.exists {
            let defaults = HostDefaults::read(transport).await?;
            let mode = match &self.mode {
                Some(mode) => Some(
                    file_mode::resolve(mode, 0o777 & !defaults.umask, true)
                        .map_err(ModuleError::Failed)?,
                ),
                None => None,
            };
            let owner = chown_spec(self.owner.as_deref(), self.group.as_deref());
            let mut steps = vec![mkdir_step(&ancestors(&path), mode, owner.as_deref())];
            steps.extend(timestamp_steps(transport, &path, None, &mtime, &atime).await?);
            let facts = defaults.new_path(
                "directory",
                mode.unwrap_or(0o777 & !defaults.umask),
                &self.wanted(),
            );
            let plan = Plan::change(format!("create directory {path}"), steps)
                .with("path", path.clone())
                .with_diff(state_diff(&path, "absent", "directory"));
            return Ok(facts.add_to(plan));
        }
        if !current.is_dir() {
            let plan = Plan::fail(format!(
                "{path} already exists as a {}",
                kind_name(&current)
            ))
            .with("path", path.clone());
            return with_path_facts(transport, plan, &path, &current).await;
        }
        let extra = if self.recurse {
            self.recursive_steps(transport, &path).await?
        } else {
            Vec::new()
        };
        self.settle(
            transport,
            Settle {
                path: &path,
                current: &current,
                times: (&mtime, &atime),
                extra,
                key: "path",
                ok: format!("{path} is a directory with the wanted attributes"),
                change: format!("set the attributes of {path}"),
            },
        )
        .await
    }

    /// Mode, owner and group for everything below a directory: one `find` lists what is
    /// there, and only the entries that differ are changed.
    async fn recursive_steps(
        &self,
        transport: &dyn Transport,
        path: &str,
    ) -> Result<Vec<Step>, ModuleError> {
        if self.mode.is_none() && self.owner.is_none() && self.group.is_none() {
            return Ok(Vec::new());
        }
        let output = transport
            .run(&Exec::new([
                "find",
                if self.follow { "-L" } else { "-P" },
                path,
                "-mindepth",
                "1",
                "-printf",
                "%y|%m|%u|%g|%U|%G|%p\\0",
            ]))
            .await?;
        if !output.success() {
            return Err(ModuleError::failed(format!(
                "listing {path}: {}",
                output.stderr_text().trim()
            )));
        }
        let mut by_mode: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        let mut to_chown = Vec::new();
        let mut links_to_chown = Vec::new();
        for record in output.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            let fields: Vec<&str> = record.splitn(7, '|').collect();
            let [kind, mode, owner, group, uid, gid, entry] = fields[..] else {
                return Err(ModuleError::failed(format!(
                    "unexpected find output `{record}`"
                )));
            };
            let state = PathState {
                exists: true,
                kind: if kind == "d" {
                    "directory"
                } else if kind == "l" {
                    "link"
                } else {
                    "file"
                }
                .to_string(),
                mode: u32::from_str_radix(mode, 8).unwrap_or(0),
                owner: owner.to_string(),
                group: group.to_string(),
                uid: uid.parse().unwrap_or(u32::MAX),
                gid: gid.parse().unwrap_or(u32::MAX),
                ..PathState::default()
            };
            let is_link = state.is_link();
            let change = attribute_change(entry, &state, &self.wanted(), is_link)?;
            if let Some(mode) = change.mode_after() {
                by_mode.entry(mode).or_default().push(entry.to_string());
            }
            if change.chown.is_some() {
                if is_link {
                    links_to_chown.push(entry.to_string());
                } else {
                    to_chown.push(entry.to_string());
                }
            }
        }
        let mut steps = Vec::new();
        let spec = chown_spec(self.owner.as_deref(), self.group.as_deref());
        if let Some(spec) = &spec {
            for (paths, prefix) in [
                (to_chown, vec!["chown"]),
                (links_to_chown, vec!["chown", "-h"]),
            ] {
                for chunk in paths.chunks(500) {
                    let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
                    argv.push(spec.clone());
                    argv.push("--".to_string());
                    argv.extend(chunk.iter().cloned());
                    steps.push(Step::run(Exec::new(argv)));
                }
            }
        }
        for (mode, paths) in by_mode {
            for chunk in paths.chunks(500) {
                let mut argv = vec!["chmod".to_string(), format!("{mode:04o}"), "--".to_string()];
                argv.extend(chunk.iter().cloned());
                steps.push(Step::run(Exec::new(argv)));
            }
        }
        Ok(steps)
    }

    async fn plan_symlink(
        &self,
        transport: &dyn Transport,
        path: String,
        current: PathState,
        mtime: TimeSpec,
        atime: TimeSpec,
    ) -> Result<Plan, ModuleError> {
        let kind = kind_name(&current);
        let old_target = if current.is_link() {
            Some(read_link(transport, &path).await?)
        } else {
            None
        };
        let mut src = self.src.clone();
        // Without `src`, a link that leads somewhere keeps its target; a dangling one has
        // none to keep (Ansible's `os.path.exists` follows the link).
        if src.is_none()
            && self.follow
            && current.is_link()
            && path_state(transport, &path, true).await?.exists
        {
            src = old_target.clone();
        }
        let base = if current.is_dir() {
            path.clone()
        } else {
            dirname(&path).to_string()
        };
        let absolute_src = src.as_deref().map(|src| join_path(&base, src));
        let target = match &absolute_src {
            Some(absolute) => path_state(transport, absolute, true).await?,
            None => PathState::default(),
        };
        if let (false, Some(absolute), Some(src)) = (self.force, &absolute_src, &src) {
            if !target.exists {
                let plan = Plan::fail(format!(
                    "src file does not exist, use 'force=yes' if you really want to create the link: {absolute}"
                ))
                .with("path", path.clone())
                .with("src", src.clone());
                return with_path_facts(transport, plan, &path, &current).await;
            }
        }
        let refusal = match kind {
            "directory" if !self.force => Some(format!(
                "refusing to convert from directory to symlink for {path}"
            )),
            "directory" if !directory_is_empty(transport, &path).await? => Some(format!(
                "the directory {path} is not empty, refusing to convert it"
            )),
            "file" | "hard" if !self.force => Some(format!(
                "refusing to convert from {kind} to symlink for {path}"
            )),
            _ => None,
        };
        if let Some(refusal) = refusal {
            let plan = Plan::fail(refusal).with("path", path.clone());
            return with_path_facts(transport, plan, &path, &current).await;
        }
        let relink = match (&old_target, &src) {
            (Some(old), Some(src)) => old != src,
            (Some(_), None) => false,
            (None, None) => {
                return Err(ModuleError::failed(
                    "src is required for creating new symlinks",
                ))
            }
            (None, Some(_)) => true,
        };
        let mut steps = Vec::new();
        let mut diff = None;
        if relink {
            let src = src.clone().unwrap_or_default();
            steps.push(link_step(&src, &path, kind, true));
            diff = Some(match &old_target {
                Some(old) => Diff {
                    path: path.clone(),
                    before: format!("src: {old}\n"),
                    after: format!("src: {src}\n"),
                },
                None => state_diff(&path, kind, "link"),
            });
        }
        // Mode, owner and group go to the link's target when following, to the link
        // itself (owner and group only: Linux links have no mode) otherwise.
        let change = if self.follow {
            if target.exists {
                let target_path = absolute_src.clone().unwrap_or_else(|| path.clone());
                let change = attribute_change(&target_path, &target, &self.wanted(), false)?;
                steps.extend(change.steps());
                steps.extend(
                    timestamp_steps(transport, &target_path, Some(&target), &mtime, &atime).await?,
                );
                change
            } else {
                AttributeChange::default()
            }
        } else {
            let link_state = if relink {
                PathState {
                    exists: true,
                    kind: "link".to_string(),
                    mode: 0o777,
                    ..current.clone()
                }
            } else {
                current.clone()
            };
            let change = attribute_change(&path, &link_state, &self.wanted(), true)?;
            steps.extend(change.steps());
            change
        };
        let src_text = src.clone().unwrap_or_default();
        let src_value = src.clone().map_or(Value::Null, Value::String);
        let plan = if steps.is_empty() {
            Plan::ok(format!("{path} already links to {src_text}"))
        } else if relink {
            Plan::change(format!("link {path} to {src_text}"), steps)
        } else {
            Plan::change(format!("set the attributes of {src_text}"), steps)
        };
        let mut plan = plan.with("dest", path.clone()).with("src", src_value);
        if let Some(diff) = diff {
            plan = plan.with_diff(diff);
        }
        // Ansible reports a path's facts only when it exists, links followed: a dangling
        // link has none.
        if !target.exists {
            return Ok(plan);
        }
        // A new link belongs to the user that creates it.
        let owner_facts = if relink {
            let defaults = HostDefaults::read(transport).await?;
            defaults.new_path("link", 0o777, &Wanted::default())
        } else {
            PathFacts::of(&current)
        };
        let facts = PathFacts {
            state: "link".to_string(),
            mode: 0o777,
            size: Some(src.as_deref().map_or(current.size, |s| s.len() as u64)),
            ..owner_facts
        };
        let facts = if self.follow {
            facts
        } else {
            facts.after(&change)
        };
        Ok(facts.add_to(plan))
    }

    async fn plan_hard_link(
        &self,
        transport: &dyn Transport,
        path: String,
        current: PathState,
        mtime: TimeSpec,
        atime: TimeSpec,
    ) -> Result<Plan, ModuleError> {
        let kind = kind_name(&current);
        let Some(src) = self.src.clone() else {
            if kind == "hard" {
                // An existing hard link without `src`: only its attributes are managed.
                return self
                    .plan_existing_file(transport, path, current, mtime, atime)
                    .await;
            }
            return Err(ModuleError::failed(
                "src is required for creating new hardlinks",
            ));
        };
        let source = path_state(transport, &src, true).await?;
        if !source.exists {
            let plan = Plan::fail("src does not exist")
                .with("dest", path.clone())
                .with("src", src.clone());
            return with_path_facts(transport, plan, &path, &current).await;
        }
        let relink = match kind {
            "absent" => true,
            "link" => read_link(transport, &path).await? != src,
            "hard" | "file" | "directory" => {
                let followed = path_state(transport, &path, true).await?;
                let same =
                    followed.exists && followed.inode == source.inode && followed.dev == source.dev;
                if !same && !self.force {
                    let plan = Plan::fail(match kind {
                        "hard" => {
                            "Cannot link, different hard link exists at destination".to_string()
                        }
                        "directory" => {
                            "Cannot link: different hard link exists at destination".to_string()
                        }
                        _ => format!("Cannot link, {kind} exists at destination"),
                    })
                    .with("dest", path.clone())
                    .with("src", src.clone());
                    return with_path_facts(transport, plan, &path, &current).await;
                }
                if !same && kind == "directory" {
                    return Err(ModuleError::failed(format!(
                        "{path} is a directory and cannot be replaced by a hard link"
                    )));
                }
                !same
            }
            _ => true,
        };
        let mut steps = Vec::new();
        if relink {
            steps.push(link_step(&src, &path, kind, false));
        }
        // Once linked, the path is the source's inode: its attributes are the source's.
        let change = attribute_change(&path, &source, &self.wanted(), false)?;
        steps.extend(change.steps());
        steps.extend(timestamp_steps(transport, &path, Some(&source), &mtime, &atime).await?);
        let plan = if steps.is_empty() {
            Plan::ok(format!("{path} is already a hard link to {src}"))
        } else if relink {
            Plan::change(format!("hard link {path} to {src}"), steps)
                .with_diff(state_diff(&path, kind, "hard"))
        } else {
            Plan::change(format!("set the attributes of {path}"), steps)
        };
        let mut facts = PathFacts::of(&source).after(&change);
        facts.state = "hard".to_string();
        Ok(facts.add_to(plan.with("dest", path).with("src", src)))
    }

    async fn plan_touch(
        &self,
        transport: &dyn Transport,
        path: String,
        current: PathState,
        mtime: TimeSpec,
        atime: TimeSpec,
    ) -> Result<Plan, ModuleError> {
        if !current.exists {
            let defaults = HostDefaults::read(transport).await?;
            let mode = new_file_mode(self.mode.as_ref(), defaults.umask)?;
            let mut steps = vec![Step::write(
                path.clone(),
                Vec::new(),
                FileAttrs {
                    mode: Some(mode),
                    owner: self.owner.clone(),
                    group: self.group.clone(),
                },
            )];
            // A new file already has the current time.
            if !(mtime == TimeSpec::Now && atime == TimeSpec::Now) {
                steps.extend(timestamp_steps(transport, &path, None, &mtime, &atime).await?);
            }
            let mut facts = defaults.new_path("file", mode, &self.wanted());
            facts.size = Some(0);
            let plan = Plan::change(format!("create {path}"), steps)
                .with("dest", path.clone())
                .with_diff(state_diff(&path, "absent", "file"));
            return Ok(facts.add_to(plan));
        }
        self.settle(
            transport,
            Settle {
                path: &path,
                current: &current,
                times: (&mtime, &atime),
                extra: Vec::new(),
                key: "dest",
                ok: format!("{path} exists and both times are preserved"),
                change: format!("touch {path}"),
            },
        )
        .await
    }

    /// Brings an existing path's mode, owner, group and times to what the task asks
    /// (then `extra` steps), reporting the path's facts as they will be.
    async fn settle(&self, transport: &dyn Transport, at: Settle<'_>) -> Result<Plan, ModuleError> {
        let change = attribute_change(at.path, at.current, &self.wanted(), false)?;
        let mut steps = change.steps();
        let (mtime, atime) = at.times;
        steps.extend(timestamp_steps(transport, at.path, Some(at.current), mtime, atime).await?);
        steps.extend(at.extra);
        let facts = PathFacts::of(at.current).after(&change);
        let plan = if steps.is_empty() {
            Plan::ok(at.ok)
        } else {
            Plan::change(at.change, steps)
        };
        Ok(facts.add_to(attribute_diff(
            plan.with(at.key, at.path.to_string()),
            &change,
        )))
    }
}

/// What [`FileArgs::settle`] works on, and how it words the outcome.
struct Settle<'a> {
    path: &'a str,
    current: &'a PathState,
    times: (&'a TimeSpec, &'a TimeSpec),
    extra: Vec<Step>,
    /// `path` or `dest`: the result key that names the path.
    key: &'static str,
    ok: String,
    change: String,
}

/// Ansible adds a path's facts to every result that names it (`path` or `dest`), failures
/// included, when the path exists with links followed; `current` is the path's own state.
async fn with_path_facts(
    transport: &dyn Transport,
    plan: Plan,
    path: &str,
    current: &PathState,
) -> Result<Plan, ModuleError> {
    if !current.exists || (current.is_link() && !path_state(transport, path, true).await?.exists) {
        return Ok(plan);
    }
    Ok(PathFacts::of(current).add_to(plan))
}

fn plan_absent(path: &str, current: &PathState) -> Plan {
    if !current.exists {
        return Plan::ok(format!("{path} is already absent"))
            .with("path", path)
            .with("state", "absent");
    }
    let argv = if current.is_dir() {
        ["rm", "-rf", "--", path]
    } else {
        ["rm", "-f", "--", path]
    };
    Plan::change(format!("remove {path}"), vec![Step::run(Exec::new(argv))])
        .with("path", path)
        .with("state", "absent")
        .with_diff(state_diff(path, kind_name(current), "absent"))
}

/// A symlink or hard link at `path`, replacing what is there atomically (a temporary link
/// renamed over it), as Ansible does.
fn link_step(src: &str, path: &str, previous_kind: &str, symbolic: bool) -> Step {
    let script = r#"set -e
src=$1; dest=$2; kind=$3; flag=$4
if [ "$kind" = absent ]; then exec ln $flag -- "$src" "$dest"; fi
tmp="$(dirname -- "$dest")/.rplay-link.$$.tmp"
[ "$kind" != directory ] || rmdir -- "$dest"
ln $flag -- "$src" "$tmp"
mv -Tf -- "$tmp" "$dest"
"#;
    Step::run(Exec::new([
        "sh",
        "-c",
        script,
        "rplay-link",
        src,
        path,
        previous_kind,
        if symbolic { "-s" } else { "-P" },
    ]))
}

/// Creates each missing directory of `dirs` in order, giving each new one the mode and
/// owner (Ansible applies them to every directory it creates, not only the last).
pub(crate) fn mkdir_step(dirs: &[String], mode: Option<u32>, owner: Option<&str>) -> Step {
    // `mkdir -m` sets the mode as `chmod` would, in the same process.
    let script = r#"mode=$1; owner=$2; shift 2
for dir do
  [ -d "$dir" ] && continue
  if [ -n "$mode" ]; then
    mkdir -m "$mode" -- "$dir" || { [ -d "$dir" ] && chmod "$mode" -- "$dir"; } || exit 1
  else
    mkdir -- "$dir" || [ -d "$dir" ] || exit 1
  fi
  if [ -n "$owner" ]; then chown "$owner" -- "$dir" || exit 1; fi
done
"#;
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-mkdir".to_string(),
        mode.map(|m| format!("{m:04o}")).unwrap_or_default(),
        owner.unwrap_or_default().to_string(),
    ];
    argv.extend(dirs.iter().cloned());
    Step::run(Exec::new(argv).own())
}

/// `/a/b/c` gives `/a`, `/a/b`, `/a/b/c`; `a/b` gives `a`, `a/b`.
pub(crate) fn ancestors(path: &str) -> Vec<String> {
    let mut current = if path.starts_with('/') {
        String::new()
    } else {
        String::from(".")
    };
    let relative = !path.starts_with('/');
    let mut out = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        current = if relative && current == "." {
            part.to_string()
        } else {
            format!("{current}/{part}")
        };
        out.push(current.clone());
    }
    out
}

pub(crate) fn dirname(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/",
        Some(at) => &path[..at],
        None => ".",
    }
}

pub(crate) fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

pub(crate) fn join_path(base: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

async fn directory_is_empty(transport: &dyn Transport, path: &str) -> Result<bool, ModuleError> {
    let output = transport
        .run(&Exec::new([
            "find",
            path,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-print",
            "-quit",
        ]))
        .await?;
    Ok(output.success() && output.stdout.is_empty())
}

async fn read_link(transport: &dyn Transport, path: &str) -> Result<String, ModuleError> {
    let output = transport.run(&Exec::new(["readlink", "--", path])).await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "readlink {path}: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(output.stdout_text().trim_end_matches('\n').to_string())
}

/// Where a path leads once every symlink is resolved (Python's `os.path.realpath`).
pub(crate) async fn real_path(
    transport: &dyn Transport,
    path: &str,
) -> Result<String, ModuleError> {
    let output = transport
        .run(&Exec::new(["readlink", "-m", "--", path]))
        .await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "resolving {path}: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(output.stdout_text().trim_end_matches('\n').to_string())
}

/// What a new path gets when nothing says otherwise: the umask and the user that runs
/// the commands. Read only when a path is about to be created, once per host and user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostDefaults {
    pub umask: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
}

impl HostDefaults {
    /// The commands whose output [`HostDefaults::parse`] reads: one `id` says the ids
    /// and their names (`uid=0(root) gid=0(root) …`).
    pub(crate) const SCRIPT: &'static str = "umask; LC_ALL=C id";

    pub(crate) async fn read(transport: &dyn Transport) -> Result<Self, ModuleError> {
        let output = transport
            .run_remembered(&Exec::new(["sh", "-c", HostDefaults::SCRIPT]).own())
            .await?;
        let text = output.stdout_text();
        HostDefaults::parse(&text).ok_or_else(|| {
            ModuleError::failed(format!(
                "reading the umask and user: unexpected output `{text}` ({})",
                output.stderr_text().trim()
            ))
        })
    }

    /// Reads the output of [`HostDefaults::SCRIPT`]. An id without a name (no entry in
    /// the user or group database) stands for its own name, as `ls -l` shows it.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let umask = u32::from_str_radix(lines.next()?.trim(), 8).ok()?;
        let mut words = lines.next()?.split_whitespace();
        let mut id = |key: &str| -> Option<(u32, String)> {
            let value = words.next()?.strip_prefix(key)?;
            let (number, name) = match value.split_once('(') {
                Some((number, name)) => (number, name.strip_suffix(')')?),
                None => (value, value),
            };
            Some((number.parse().ok()?, name.to_string()))
        };
        let (uid, user) = id("uid=")?;
        let (gid, group) = id("gid=")?;
        Some(HostDefaults {
            umask,
            uid,
            gid,
            user,
            group,
        })
    }

    /// The facts of a path about to be created with these defaults and the wanted owner.
    pub(crate) fn new_path(&self, state: &str, mode: u32, wanted: &Wanted<'_>) -> PathFacts {
        let mut facts = PathFacts {
            state: state.to_string(),
            mode,
            uid: Some(self.uid),
            gid: Some(self.gid),
            owner: self.user.clone(),
            group: self.group.clone(),
            size: None,
        };
        if let Some(owner) = wanted.owner {
            facts.set_owner(owner);
        }
        if let Some(group) = wanted.group {
            facts.set_group(group);
        }
        facts
    }
}

/// The mode a new file gets: the wanted one, resolved against what the umask leaves.
pub(crate) fn new_file_mode(wanted: Option<&Mode>, umask: u32) -> Result<u32, ModuleError> {
    let default = 0o666 & !umask;
    match wanted {
        Some(mode) => file_mode::resolve(mode, default, false).map_err(ModuleError::Failed),
        None => Ok(default),
    }
}

/// Mode, owner and group as a task asks for them (Ansible's common file arguments).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wanted<'a> {
    pub mode: Option<&'a Mode>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// What must change in a path's mode, owner and group.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AttributeChange {
    pub path: String,
    /// Before and after.
    pub mode: Option<(u32, u32)>,
    pub owner: Option<(String, String)>,
    pub group: Option<(String, String)>,
    /// The `chown` argument when owner or group differ.
    pub chown: Option<String>,
    /// The change is on a symlink itself: `chown -h`, never `chmod`.
    pub link_itself: bool,
}

impl AttributeChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.mode.is_none() && self.chown.is_none()
    }

    pub(crate) fn mode_after(&self) -> Option<u32> {
        self.mode.map(|(_, after)| after)
    }

    /// `chown` before `chmod`: changing the owner clears setuid bits that the mode sets.
    pub(crate) fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(spec) = &self.chown {
            let mut argv = vec!["chown".to_string()];
            if self.link_itself {
                argv.push("-h".to_string());
            }
            argv.extend([spec.clone(), "--".to_string(), self.path.clone()]);
            steps.push(Step::run(Exec::new(argv)));
        }
        if let Some((_, mode)) = self.mode {
            steps.push(Step::run(Exec::new([
                "chmod".to_string(),
                format!("{mode:04o}"),
                "--".to_string(),
                self.path.clone(),
            ])));
        }
        steps
    }

    fn diff_lines(&self) -> (String, String) {
        let mut before = String::new();
        let mut after = String::new();
        if let Some((old, new)) = &self.owner {
            before.push_str(&format!("owner: {old}\n"));
            after.push_str(&format!("owner: {new}\n"));
        }
        if let Some((old, new)) = &self.group {
            before.push_str(&format!("group: {old}\n"));
            after.push_str(&format!("group: {new}\n"));
        }
        if let Some((old, new)) = self.mode {
            before.push_str(&format!("mode: {}\n", octal(old)));
            after.push_str(&format!("mode: {}\n", octal(new)));
        }
        (before, after)
    }
}

/// Whether `wanted` (a name or a numeric id) names the account `name`/`id`.
fn same_account(wanted: &str, name: &str, id: u32) -> bool {
    wanted == name || wanted.parse::<u32>().is_ok_and(|wanted| wanted == id)
}

/// `owner:group`, `owner` or `:group` for `chown`.
pub(crate) fn chown_spec(owner: Option<&str>, group: Option<&str>) -> Option<String> {
    match (owner, group) {
        (None, None) => None,
        (Some(owner), None) => Some(owner.to_string()),
        (None, Some(group)) => Some(format!(":{group}")),
        (Some(owner), Some(group)) => Some(format!("{owner}:{group}")),
    }
}

/// Compares a path's current mode, owner and group with the wanted ones.
pub(crate) fn attribute_change(
    path: &str,
    current: &PathState,
    wanted: &Wanted<'_>,
    link_itself: bool,
) -> Result<AttributeChange, ModuleError> {
    let mut change = AttributeChange {
        path: path.to_string(),
        link_itself,
        ..AttributeChange::default()
    };
    let owner_differs = wanted
        .owner
        .is_some_and(|owner| !same_account(owner, &current.owner, current.uid));
    let group_differs = wanted
        .group
        .is_some_and(|group| !same_account(group, &current.group, current.gid));
    if owner_differs {
        change.owner = Some((
            current.owner.clone(),
            wanted.owner.unwrap_or_default().to_string(),
        ));
    }
    if group_differs {
        change.group = Some((
            current.group.clone(),
            wanted.group.unwrap_or_default().to_string(),
        ));
    }
    if owner_differs || group_differs {
        change.chown = chown_spec(
            wanted.owner.filter(|_| owner_differs),
            wanted.group.filter(|_| group_differs),
        );
    }
    if let (Some(mode), false) = (wanted.mode, link_itself) {
        let current_mode = current.mode & 0o7777;
        let target = file_mode::resolve(mode, current_mode, current.is_dir()).map_err(|e| {
            ModuleError::failed(format!("mode must be in octal or symbolic form: {e}"))
        })?;
        if target != current_mode {
            change.mode = Some((current_mode, target));
        }
    }
    Ok(change)
}

/// `0644`, the way Ansible prints modes in results.
pub(crate) fn octal(mode: u32) -> String {
    format!("0{:03o}", mode & 0o7777)
}

/// A path's facts as Ansible returns them after a task (`path`-like results get `uid`,
/// `gid`, `owner`, `group`, `mode`, `state` and `size`). Values the plan cannot know in
/// advance (the uid of an owner given by name) are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PathFacts {
    pub state: String,
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub owner: String,
    pub group: String,
    pub size: Option<u64>,
}

impl PathFacts {
    pub(crate) fn of(state: &PathState) -> Self {
        PathFacts {
            state: kind_name(state).to_string(),
            mode: state.mode & 0o7777,
            uid: Some(state.uid),
            gid: Some(state.gid),
            owner: state.owner.clone(),
            group: state.group.clone(),
            size: Some(state.size),
        }
    }

    fn set_owner(&mut self, owner: &str) {
        self.uid = owner.parse().ok();
        self.owner = owner.to_string();
    }

    fn set_group(&mut self, group: &str) {
        self.gid = group.parse().ok();
        self.group = group.to_string();
    }

    /// The facts once `change` is applied.
    pub(crate) fn after(mut self, change: &AttributeChange) -> Self {
        if let Some((_, owner)) = &change.owner {
            self.set_owner(owner);
        }
        if let Some((_, group)) = &change.group {
            self.set_group(group);
        }
        if let Some(mode) = change.mode_after() {
            self.mode = mode;
        }
        self
    }

    pub(crate) fn add_to(&self, mut plan: Plan) -> Plan {
        if let Some(uid) = self.uid {
            plan = plan.with("uid", uid);
        }
        if let Some(gid) = self.gid {
            plan = plan.with("gid", gid);
        }
        plan = plan
            .with("owner", self.owner.clone())
            .with("group", self.group.clone())
            .with("mode", octal(self.mode))
            .with("state", self.state.clone());
        if let Some(size) = self.size {
            plan = plan.with("size", size);
        }
        plan
    }
}

fn state_diff(path: &str, before: &str, after: &str) -> Diff {
    Diff {
        path: path.to_string(),
        before: format!("state: {before}\n"),
        after: format!("state: {after}\n"),
    }
}

/// Adds the mode, owner and group changes to the plan's `--diff` output.
pub(crate) fn attribute_diff(plan: Plan, change: &AttributeChange) -> Plan {
    if change.is_empty() {
        return plan;
    }
    let (before, after) = change.diff_lines();
    plan.with_diff(Diff {
        path: change.path.clone(),
        before,
        after,
    })
}

/// A wanted modification or access time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimeSpec {
    Preserve,
    Now,
    /// A local time, `YYYY-MM-DD HH:MM:SS`, for `date -d` on the host.
    At(String),
}

impl TimeSpec {
    /// Reads `preserve`, `now`, or a time in a `strftime` format (`%Y %m %d %H %M %S %y
    /// %%` and literal text).
    pub(crate) fn parse(value: &str, format: &str) -> Result<TimeSpec, String> {
        match value {
            "preserve" => return Ok(TimeSpec::Preserve),
            "now" => return Ok(TimeSpec::Now),
            _ => {}
        }
        let fail = || format!("time `{value}` does not match the format `{format}`");
        let mut fields = [1970i64, 1, 1, 0, 0, 0];
        let text: Vec<char> = value.chars().collect();
        let mut at = 0;
        let mut spec = format.chars();
        while let Some(c) = spec.next() {
            if c != '%' {
                if text.get(at) != Some(&c) {
                    return Err(fail());
                }
                at += 1;
                continue;
            }
            let directive = spec.next().ok_or_else(fail)?;
            let (slot, width) = match directive {
                'Y' => (0, 4),
                'y' => (0, 2),
                'm' => (1, 2),
                'd' => (2, 2),
                'H' => (3, 2),
                'M' => (4, 2),
                'S' => (5, 2),
                '%' => {
                    if text.get(at) != Some(&'%') {
                        return Err(fail());
                    }
                    at += 1;
                    continue;
                }
                other => {
                    return Err(format!(
                        "the time format directive `%{other}` is not supported"
                    ))
                }
            };
            let digits: String = text[at..]
                .iter()
                .take(width)
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if digits.is_empty() {
                return Err(fail());
            }
            at += digits.len();
            let mut number: i64 = digits.parse().map_err(|_| fail())?;
            if directive == 'y' {
                number += if number < 69 { 2000 } else { 1900 };
            }
            fields[slot] = number;
        }
        if at != text.len() {
            return Err(fail());
        }
        let [year, month, day, hour, minute, second] = fields;
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 61
        {
            return Err(fail());
        }
        Ok(TimeSpec::At(format!(
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
        )))
    }
}

/// `touch` steps for the times that differ; `now` always differs.
pub(crate) async fn timestamp_steps(
    transport: &dyn Transport,
    path: &str,
    current: Option<&PathState>,
    mtime: &TimeSpec,
    atime: &TimeSpec,
) -> Result<Vec<Step>, ModuleError> {
    if *mtime == TimeSpec::Now && *atime == TimeSpec::Now {
        return Ok(vec![Step::run(Exec::new(["touch", "-c", "--", path]))]);
    }
    let mut steps = Vec::new();
    for (spec, flag, now) in [
        (mtime, "-m", current.map(|c| c.mtime)),
        (atime, "-a", current.map(|c| c.atime)),
    ] {
        match spec {
            TimeSpec::Preserve => {}
            TimeSpec::Now => steps.push(Step::run(Exec::new(["touch", "-c", flag, "--", path]))),
            TimeSpec::At(local) => {
                let epoch = epoch_of(transport, local).await?;
                if now != Some(epoch as f64) {
                    steps.push(Step::run(Exec::new([
                        "touch".to_string(),
                        "-c".to_string(),
                        flag.to_string(),
                        "-d".to_string(),
                        format!("@{epoch}"),
                        "--".to_string(),
                        path.to_string(),
                    ])));
                }
            }
        }
    }
    Ok(steps)
}

/// A local time as seconds since the epoch, in the host's time zone.
async fn epoch_of(transport: &dyn Transport, local: &str) -> Result<i64, ModuleError> {
    let output = transport
        .run(&Exec::new(["date", "-d", local, "+%s"]))
        .await?;
    output.stdout_text().trim().parse().map_err(|_| {
        ModuleError::failed(format!(
            "the host cannot read the time `{local}`: {}",
            output.stderr_text().trim()
        ))
    })
}

/// A backup's name, `PATH.PID.YYYY-MM-DD@HH:MM:SS~` as Ansible names them, with the
/// host's local time.
pub(crate) async fn backup_name(
    transport: &dyn Transport,
    path: &str,
) -> Result<String, ModuleError> {
    let output = transport
        .run(&Exec::new(["date", "+%Y-%m-%d@%H:%M:%S"]))
        .await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "reading the host's time for a backup: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(format!(
        "{path}.{}.{}~",
        std::process::id(),
        output.stdout_text().trim()
    ))
}

/// Copies a file to its backup, keeping mode, owner and times.
pub(crate) fn backup_step(path: &str, backup: &str) -> Step {
    Step::run(Exec::new(["cp", "-p", "--", path, backup]))
}

/// Writes `content` to `path`. With `validate`, the content goes to a temporary file
/// beside `path` first, the command checks it (`%s` is the temporary file), and only a
/// file that passes is renamed into place.
pub(crate) fn write_steps(
    path: &str,
    content: Vec<u8>,
    attrs: FileAttrs,
    validate: Option<&str>,
) -> Result<Vec<Step>, ModuleError> {
    let Some(validate) = validate else {
        return Ok(vec![Step::write(path, content, attrs)]);
    };
    let temp = temp_path(path);
    Ok(vec![
        Step::write(temp.clone(), content, attrs),
        validate_and_move_step(validate, &temp, path)?,
    ])
}

/// A temporary name beside `path`, in the same directory so the rename is atomic.
pub(crate) fn temp_path(path: &str) -> String {
    join_path(
        dirname(path),
        &format!(".{}.rplay-{}.tmp", basename(path), std::process::id()),
    )
}

/// Runs the `validate` command on `temp` and renames it over `path` when it passes; the
/// temporary file is removed when it does not.
pub(crate) fn validate_and_move_step(
    validate: &str,
    temp: &str,
    path: &str,
) -> Result<Step, ModuleError> {
    let command = validate_argv(validate, temp)?;
    let script = r#"tmp=$1; dest=$2; shift 2
"$@"
rc=$?
if [ "$rc" -eq 0 ]; then exec mv -f -- "$tmp" "$dest"; fi
rm -f -- "$tmp"
echo "failed to validate: rc:$rc" >&2
exit $rc
"#;
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-validate".to_string(),
        temp.to_string(),
        path.to_string(),
    ];
    argv.extend(command);
    Ok(Step::run(Exec::new(argv)))
}

/// Splits a `validate` command into words, then puts the file's path where `%s` is (and
/// `%` where `%%` is), so a path with spaces stays one word.
pub(crate) fn validate_argv(validate: &str, file: &str) -> Result<Vec<String>, ModuleError> {
    if !validate.contains("%s") {
        return Err(ModuleError::failed(format!(
            "validate must contain %s: {validate}"
        )));
    }
    let words = split_words(validate)
        .map_err(|e| ModuleError::failed(format!("cannot split validate `{validate}`: {e}")))?;
    Ok(words
        .into_iter()
        .map(|word| {
            let mut out = String::new();
            let mut chars = word.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('%', Some('s')) => {
                        chars.next();
                        out.push_str(file);
                    }
                    ('%', Some('%')) => {
                        chars.next();
                        out.push('%');
                    }
                    _ => out.push(c),
                }
            }
            out
        })
        .collect())
}

/// What [`state_and_content`] read of a path.
pub(crate) struct PathRead {
    /// The path's own state (a symlink not followed).
    pub state: PathState,
    /// A regular file's content, when the same command could read it.
    pub content: Option<Vec<u8>>,
    /// For a missing path, whether its parent exists (following links), when the same
    /// command could tell.
    pub parent_exists: Option<bool>,
}

/// A path's own state and, on a host where each command is a round trip, in the same
/// command (`stat`, then `cat`), a regular file's content or, for a missing path, whether
/// its parent exists. Elsewhere only the state: read the rest when needed.
pub(crate) async fn state_and_content(
    transport: &dyn Transport,
    path: &str,
) -> Result<PathRead, ModuleError> {
    if !transport.commands_are_remote() {
        return Ok(PathRead {
            state: path_state(transport, path, false).await?,
            content: None,
            parent_exists: None,
        });
    }
    // Exit 3: missing, its parent exists; 4: neither (stat says which on stderr).
    const SCRIPT: &str = r#"stat -c "$1" -- "$2" || { [ -e "$3" ] && exit 3; exit 4; }
if [ -f "$2" ] && [ ! -L "$2" ]; then exec cat -- "$2"; fi"#;
    let mut exec = Exec::new([
        "sh",
        "-c",
        SCRIPT,
        "rplay-read",
        STAT_FORMAT,
        path,
        dirname(path),
    ])
    .own();
    exec.env.push(("LC_ALL".to_string(), "C".to_string()));
    let output = transport.run(&exec).await?;
    if output.rc == 3 || output.rc == 4 {
        let stderr = output.stderr_text();
        if stderr.contains("No such file") || stderr.contains("Not a directory") {
            return Ok(PathRead {
                state: PathState::default(),
                content: None,
                parent_exists: Some(output.rc == 3),
            });
        }
        return Err(ModuleError::failed(format!(
            "stat {path}: {}",
            stderr.trim()
        )));
    }
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "reading {path}: {}",
            output.stderr_text().trim()
        )));
    }
    let Some(end) = output.stdout.iter().position(|&b| b == b'\n') else {
        return Err(ModuleError::failed(format!(
            "stat {path}: unexpected output `{}`",
            output.stdout_text()
        )));
    };
    let line = String::from_utf8_lossy(&output.stdout[..end]);
    let state = parse_stat_line(&line)
        .ok_or_else(|| ModuleError::failed(format!("stat {path}: unexpected output `{line}`")))?;
    let content = (state.exists && state.kind == "file").then(|| output.stdout[end + 1..].to_vec());
    Ok(PathRead {
        state,
        content,
        parent_exists: None,
    })
}

/// A file that a text-editing module (`lineinfile`, `blockinfile`, `replace`) reads and
/// rewrites. A symlink is followed: the file it points to is what changes.
pub(crate) struct EditedFile {
    /// The path as the task names it.
    pub path: String,
    /// Where the content really lives.
    pub target: String,
    pub state: PathState,
    /// `None` when the file does not exist.
    pub content: Option<Vec<u8>>,
    /// Create missing parent directories for a new file (`create: true`).
    pub create_parents: bool,
    /// What a new file gets, when the caller has read it already (`None`: read it when a
    /// new file needs it).
    pub defaults: Option<HostDefaults>,
}

impl EditedFile {
    /// Reads the file; a directory is an error with Ansible's message.
    pub(crate) async fn read(transport: &dyn Transport, path: &str) -> Result<Self, ModuleError> {
        match EditedFile::read_or_directory(transport, path).await? {
            Ok(file) => Ok(file),
            Err(message) => Err(ModuleError::failed(message)),
        }
    }

    /// Reads the file, or returns Ansible's message for a directory (`Path … is a
    /// directory !`) for the caller to fail with its own result keys.
    pub(crate) async fn read_or_directory(
        transport: &dyn Transport,
        path: &str,
    ) -> Result<Result<Self, String>, ModuleError> {
        if transport.commands_are_remote() {
            if let Some(read) = EditedFile::read_at_once(transport, path).await? {
                return Ok(read);
            }
        }
        let own = path_state(transport, path, false).await?;
        EditedFile::read_with_state(transport, path, own).await
    }

    /// The state and content of a path in one command (`stat`, then `cat` for a regular
    /// file), where each command is a round trip; `None` for a symlink, which the caller
    /// reads step by step.
    async fn read_at_once(
        transport: &dyn Transport,
        path: &str,
    ) -> Result<Option<Result<Self, String>>, ModuleError> {
        let PathRead {
            state,
            content,
            parent_exists,
        } = state_and_content(transport, path).await?;
        let found = |state: PathState, content: Option<Vec<u8>>| EditedFile {
            path: path.to_string(),
            target: path.to_string(),
            state,
            content,
            // A directory known to be there needs no second look.
            create_parents: parent_exists != Some(true),
            defaults: None,
        };
        if !state.exists {
            return Ok(Some(Ok(found(state, None))));
        }
        if state.is_link() {
            return Ok(None);
        }
        if state.is_dir() {
            return Ok(Some(Err(format!("Path {path} is a directory !"))));
        }
        match content {
            Some(content) => Ok(Some(Ok(found(state, Some(content))))),
            None => Ok(None),
        }
    }

    /// [`EditedFile::read_or_directory`] for a caller that has just read the path's own
    /// state (not following a link).
    pub(crate) async fn read_with_state(
        transport: &dyn Transport,
        path: &str,
        own: PathState,
    ) -> Result<Result<Self, String>, ModuleError> {
        let (target, state) = if own.is_link() {
            let real = real_path(transport, path).await?;
            let state = path_state(transport, &real, false).await?;
            (real, state)
        } else {
            (path.to_string(), own)
        };
        if state.is_dir() {
            return Ok(Err(format!("Path {path} is a directory !")));
        }
        let content = if state.exists {
            Some(transport.get(&target).await?.unwrap_or_default())
        } else {
            None
        };
        Ok(Ok(EditedFile {
            path: path.to_string(),
            target,
            state,
            content,
            create_parents: true,
            defaults: None,
        }))
    }

    /// What it takes to give the file `new_content` (`None`: keep the content) and the
    /// wanted attributes: a backup when asked, missing parent directories for a new file,
    /// the write (through `validate` when given), or only `chown`/`chmod`.
    pub(crate) async fn steps(
        &self,
        transport: &dyn Transport,
        new_content: Option<Vec<u8>>,
        wanted: &Wanted<'_>,
        validate: Option<&str>,
        backup: bool,
    ) -> Result<Edit, ModuleError> {
        let mut edit = Edit::default();
        let Some(new_content) = new_content else {
            edit.change = attribute_change(&self.target, &self.state, wanted, false)?;
            edit.steps = edit.change.steps();
            edit.facts = Some(PathFacts::of(&self.state).after(&edit.change));
            return Ok(edit);
        };
        let size = new_content.len() as u64;
        if self.state.exists {
            edit.change = attribute_change(&self.target, &self.state, wanted, false)?;
            if backup {
                let name = backup_name(transport, &self.path).await?;
                edit.steps.push(backup_step(&self.target, &name));
                edit.backup = Some(name);
            }
            let attrs = if validate.is_some() {
                // The validated file is a new one renamed into place: it must be given
                // everything the old one had.
                FileAttrs {
                    mode: Some(edit.change.mode_after().unwrap_or(self.state.mode & 0o7777)),
                    // By id: a name may be missing for the old file's owner.
                    owner: Some(
                        wanted
                            .owner
                            .map_or_else(|| self.state.uid.to_string(), str::to_string),
                    ),
                    group: Some(
                        wanted
                            .group
                            .map_or_else(|| self.state.gid.to_string(), str::to_string),
                    ),
                }
            } else {
                // A plain write keeps what the file had; ask only for what changes.
                FileAttrs {
                    mode: edit.change.mode_after(),
                    owner: edit.change.owner.as_ref().map(|(_, owner)| owner.clone()),
                    group: edit.change.group.as_ref().map(|(_, group)| group.clone()),
                }
            };
            edit.steps
                .extend(write_steps(&self.target, new_content, attrs, validate)?);
            let mut facts = PathFacts::of(&self.state).after(&edit.change);
            facts.size = Some(size);
            edit.facts = Some(facts);
            return Ok(edit);
        }
        let directory = dirname(&self.target);
        if self.create_parents && !path_state(transport, directory, true).await?.exists {
            edit.steps
                .push(Step::run(Exec::new(["mkdir", "-p", "--", directory])));
        }
        let defaults = match &self.defaults {
            Some(defaults) => defaults.clone(),
            None => HostDefaults::read(transport).await?,
        };
        let mode = new_file_mode(wanted.mode, defaults.umask)?;
        // Ansible creates the file with the defaults, then compares: a wanted mode or
        // owner that differs from them is reported as an attribute change.
        let created = PathState {
            exists: true,
            kind: "file".to_string(),
            mode: 0o666 & !defaults.umask,
            owner: defaults.user.clone(),
            group: defaults.group.clone(),
            uid: defaults.uid,
            gid: defaults.gid,
            ..PathState::default()
        };
        edit.change = attribute_change(&self.target, &created, wanted, false)?;
        let attrs = FileAttrs {
            mode: Some(mode),
            owner: wanted.owner.map(str::to_string),
            group: wanted.group.map(str::to_string),
        };
        edit.steps
            .extend(write_steps(&self.target, new_content, attrs, validate)?);
        let mut facts = defaults.new_path("file", mode, wanted);
        facts.size = Some(size);
        edit.facts = Some(facts);
        Ok(edit)
    }
}

/// The steps of an edit and what they change.
#[derive(Debug, Default)]
pub(crate) struct Edit {
    pub steps: Vec<Step>,
    pub change: AttributeChange,
    /// The backup's name, when one is made.
    pub backup: Option<String>,
    /// The file's facts once the steps are applied.
    pub facts: Option<PathFacts>,
}

impl Edit {
    /// Ansible's message: the content message, then the attribute change.
    pub(crate) fn message(&self, content_message: &str) -> String {
        let mut message = content_message.to_string();
        if !self.change.is_empty() {
            if !message.is_empty() {
                message.push_str(" and ");
            }
            message.push_str("ownership, perms or SE linux context changed");
        }
        message
    }
}

/// A before/after text diff for `--diff`, or `None` for content that is not text.
pub(crate) fn text_diff(path: &str, before: &[u8], after: &[u8]) -> Option<Diff> {
    let before = std::str::from_utf8(before)
        .ok()
        .filter(|s| !s.contains('\0'))?;
    let after = std::str::from_utf8(after)
        .ok()
        .filter(|s| !s.contains('\0'))?;
    Some(Diff {
        path: path.to_string(),
        before: before.to_string(),
        after: after.to_string(),
    })
}

/// Ansible's `str` arguments also take numbers and booleans, as text.
pub(crate) mod text {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub(crate) fn from_value(value: Value) -> Option<String> {
        match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Bool(true) => Some("True".to_string()),
            Value::Bool(false) => Some("False".to_string()),
            other => Some(other.to_string()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        Ok(Option::<Value>::deserialize(deserializer)?.and_then(from_value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_defaults_come_from_umask_and_one_id() {
        let root = HostDefaults::parse("0022\nuid=0(root) gid=0(root) groups=0(root)\n");
        assert_eq!(
            root,
            Some(HostDefaults {
                umask: 0o022,
                uid: 0,
                gid: 0,
                user: "root".into(),
                group: "root".into(),
            })
        );
        let nameless = HostDefaults::parse("0077\nuid=4242 gid=100(users) groups=100(users)\n");
        assert_eq!(
            nameless.map(|d| (d.umask, d.uid, d.user, d.gid, d.group)),
            Some((0o077, 4242, "4242".into(), 100, "users".into()))
        );
        assert_eq!(HostDefaults::parse("0022\nuid=x(root) gid=0(root)\n"), None);
    }
    use crate::testing::Fixture;
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    /// What `read_or_directory` finds, kept comparable: the state, target and content, or
    /// the message for a directory.
    async fn read_with(
        transport: &dyn Transport,
        path: &str,
    ) -> Result<(PathState, String, Option<Vec<u8>>), String> {
        match EditedFile::read_or_directory(transport, path).await {
            // The first read may move the access time.
            Ok(Ok(file)) => Ok((
                PathState {
                    atime: 0.0,
                    ..file.state
                },
                file.target,
                file.content,
            )),
            Ok(Err(message)) => Err(message),
            Err(error) => Err(format!("error: {error}")),
        }
    }

    #[tokio::test]
    async fn a_file_read_in_one_command_reads_as_in_two() {
        let fx = Fixture::new();
        fx.write("text", b"no newline at the end\n\0\xff", 0o640);
        std::fs::create_dir(fx.path("dir")).unwrap();
        std::os::unix::fs::symlink(fx.path("text"), fx.path("link")).unwrap();
        // A wrapper makes the local transport count as remote: one command per read.
        let mut remote = crate::local::LocalTransport::new();
        remote.wrapper = vec!["env".to_string()];
        assert!(remote.commands_are_remote() && !fx.transport.commands_are_remote());
        for name in ["text", "missing", "dir", "link", "text/below"] {
            let path = fx.path(name);
            let at_once = read_with(&remote, &path).await;
            let step_by_step = read_with(&fx.transport, &path).await;
            assert_eq!(at_once, step_by_step, "{name}");
        }
        let (state, _, content) = read_with(&remote, &fx.path("text")).await.unwrap();
        assert_eq!(content.unwrap(), b"no newline at the end\n\0\xff");
        assert_eq!((state.kind.as_str(), state.mode & 0o777), ("file", 0o640));
        let (_, target, content) = read_with(&remote, &fx.path("link")).await.unwrap();
        assert_eq!(target, fx.path("text"));
        assert!(content.is_some());
        assert_eq!(
            read_with(&remote, &fx.path("dir")).await,
            Err(format!("Path {} is a directory !", fx.path("dir")))
        );
        let (state, _, content) = read_with(&remote, &fx.path("missing")).await.unwrap();
        assert!(!state.exists && content.is_none());
    }

    #[tokio::test]
    async fn creates_a_directory_with_its_parents_and_mode() {
        let fx = Fixture::new();
        let path = fx.path("a/b/c");
        let plan = fx
            .converge(
                "file",
                json!({"path": path, "state": "directory", "mode": "0750"}),
            )
            .await;
        assert_eq!(plan.result["mode"], "0750");
        assert_eq!(plan.result["state"], "directory");
        for dir in ["a", "a/b", "a/b/c"] {
            assert!(std::fs::metadata(fx.path(dir)).unwrap().is_dir());
            assert_eq!(
                fx.mode(dir),
                0o750,
                "{dir} gets the mode like every new directory"
            );
        }
    }

    #[tokio::test]
    async fn changes_the_mode_of_an_existing_file_and_check_mode_touches_nothing() {
        let fx = Fixture::new();
        let path = fx.write("f", b"x", 0o600);
        let args = json!({"path": path, "mode": "u=rw,g=r,o=r"});
        let plan = fx.plan("file", args.clone()).await.unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(plan.result["mode"], "0644");
        assert_eq!(fx.mode("f"), 0o600, "planning alone changes nothing");
        fx.converge("file", args).await;
        assert_eq!(fx.mode("f"), 0o644);
    }

    /// The message of a plan that fails the task, after checking it changes nothing.
    fn failure(plan: &Plan) -> &str {
        assert!(
            plan.steps.is_empty(),
            "a failing plan has no steps: {plan:?}"
        );
        plan.failure.as_deref().expect("a failing plan")
    }

    // The result keys below were recorded from ansible-core 2.19.

    #[tokio::test]
    async fn state_file_does_not_create() {
        let fx = Fixture::new();
        let plan = fx
            .plan("file", json!({"path": fx.path("missing"), "state": "file"}))
            .await
            .unwrap();
        assert_eq!(
            failure(&plan),
            format!("file ({}) is absent, cannot continue", fx.path("missing"))
        );
        assert_eq!(plan.result["state"], "absent");
        assert_eq!(plan.result["path"], fx.path("missing").as_str());
        assert!(plan.result.get("mode").is_none());
        assert!(!std::path::Path::new(&fx.path("missing")).exists());
        // Without `state`, a missing path is taken as a file: the same failure.
        let plan = fx
            .plan("file", json!({"path": fx.path("missing")}))
            .await
            .unwrap();
        assert_eq!(plan.result["state"], "absent");
    }

    #[tokio::test]
    async fn failures_on_an_existing_path_carry_its_facts() {
        let fx = Fixture::new();
        std::fs::create_dir(fx.path("d")).unwrap();
        std::fs::set_permissions(fx.path("d"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let plan = fx
            .plan("file", json!({"path": fx.path("d"), "state": "file"}))
            .await
            .unwrap();
        assert_eq!(
            failure(&plan),
            format!("file ({}) is directory, cannot continue", fx.path("d"))
        );
        assert_eq!(plan.result["state"], "directory");
        assert_eq!(plan.result["mode"], "0700");
        let path = fx.write("f", b"", 0o600);
        let plan = fx
            .plan("file", json!({"path": path, "state": "directory"}))
            .await
            .unwrap();
        assert_eq!(failure(&plan), format!("{path} already exists as a file"));
        assert_eq!(plan.result["state"], "file");
        assert_eq!(plan.result["mode"], "0600");
        assert_eq!(plan.result["size"], 0);
        assert_eq!(fx.mode("f"), 0o600);
    }

    #[tokio::test]
    async fn default_state_reports_an_existing_file() {
        let fx = Fixture::new();
        let path = fx.write("f", b"hello", 0o640);
        let plan = fx.plan("file", json!({"path": path})).await.unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(plan.result["state"], "file");
        assert_eq!(plan.result["mode"], "0640");
        assert_eq!(plan.result["size"], 5);
    }

    #[tokio::test]
    async fn symlinks_are_created_and_retargeted() {
        let fx = Fixture::new();
        fx.write("one", b"1", 0o644);
        fx.write("two", b"2", 0o644);
        let link = fx.path("link");
        fx.converge("file", json!({"path": link, "src": "one", "state": "link"}))
            .await;
        assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some("one"));
        let plan = fx
            .converge("file", json!({"path": link, "src": "two", "state": "link"}))
            .await;
        assert_eq!(plan.result["src"], "two");
        assert_eq!(std::fs::read(&link).unwrap(), b"2");
    }

    #[tokio::test]
    async fn symlink_to_a_missing_source_needs_force() {
        let fx = Fixture::new();
        let link = fx.path("link");
        let plan = fx
            .plan(
                "file",
                json!({"path": link, "src": "/nonexistent/x", "state": "link"}),
            )
            .await
            .unwrap();
        assert!(failure(&plan).contains("use 'force=yes'"), "{plan:?}");
        assert_eq!(plan.result["src"], "/nonexistent/x");
        assert_eq!(plan.result["path"], link.as_str());
        assert!(std::fs::symlink_metadata(&link).is_err());
        let plan = fx
            .converge(
                "file",
                json!({"path": link, "src": "/nonexistent/x", "state": "link", "force": true}),
            )
            .await;
        assert_eq!(
            std::fs::read_link(&link).unwrap().to_str(),
            Some("/nonexistent/x")
        );
        // A dangling link does not exist for Ansible: no facts in the result.
        assert!(plan.result.get("state").is_none(), "{:?}", plan.result);
        assert!(plan.result.get("mode").is_none());
        // Naming the dangling link again without `src` changes nothing.
        let again = fx
            .plan("file", json!({"path": link, "state": "link"}))
            .await
            .unwrap();
        assert!(!again.is_change(), "{again:?}");
        assert!(again.failure.is_none());
        assert_eq!(again.result["src"], json!(null));
        assert_eq!(again.result["dest"], link.as_str());
    }

    #[tokio::test]
    async fn a_file_is_not_replaced_by_a_link_without_force() {
        let fx = Fixture::new();
        fx.write("target", b"t", 0o644);
        let path = fx.write("f", b"x", 0o644);
        let plan = fx
            .plan(
                "file",
                json!({"path": path, "src": fx.path("target"), "state": "link"}),
            )
            .await
            .unwrap();
        assert_eq!(
            failure(&plan),
            format!("refusing to convert from file to symlink for {path}")
        );
        assert_eq!(plan.result["state"], "file");
        fx.converge(
            "file",
            json!({"path": path, "src": fx.path("target"), "state": "link", "force": true}),
        )
        .await;
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[tokio::test]
    async fn hard_links_share_the_inode() {
        let fx = Fixture::new();
        let src = fx.write("src", b"data", 0o644);
        let dest = fx.path("dest");
        fx.converge("file", json!({"path": dest, "src": src, "state": "hard"}))
            .await;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().ino(),
            std::fs::metadata(&src).unwrap().ino()
        );
    }

    #[tokio::test]
    async fn absent_removes_directories_recursively() {
        let fx = Fixture::new();
        std::fs::create_dir_all(fx.path("d/e")).unwrap();
        fx.write("d/e/f", b"x", 0o644);
        let plan = fx
            .converge("file", json!({"path": fx.path("d"), "state": "absent"}))
            .await;
        assert_eq!(plan.result["state"], "absent");
        assert!(!std::path::Path::new(&fx.path("d")).exists());
    }

    #[tokio::test]
    async fn touch_creates_and_always_changes_unless_times_are_preserved() {
        let fx = Fixture::new();
        let path = fx.path("t");
        let plan = fx
            .plan(
                "file",
                json!({"path": path, "state": "touch", "mode": "0600"}),
            )
            .await
            .unwrap();
        fx.apply(&plan).await;
        assert_eq!(fx.read("t"), b"");
        assert_eq!(fx.mode("t"), 0o600);
        let again = fx
            .plan(
                "file",
                json!({"path": path, "state": "touch", "mode": "0600"}),
            )
            .await
            .unwrap();
        assert!(
            again.is_change(),
            "touch updates the times every run, as in Ansible"
        );
        let preserved = fx
            .plan(
                "file",
                json!({"path": path, "state": "touch", "mode": "0600",
                       "modification_time": "preserve", "access_time": "preserve"}),
            )
            .await
            .unwrap();
        assert!(preserved.steps.is_empty());
    }

    #[tokio::test]
    async fn touch_sets_a_given_time_once() {
        let fx = Fixture::new();
        let path = fx.write("t", b"", 0o644);
        let args = json!({"path": path, "state": "touch",
                          "modification_time": "202001021530.45", "access_time": "preserve"});
        fx.converge("file", args).await;
        let mtime = std::fs::metadata(&path).unwrap().mtime();
        let expected = std::process::Command::new("date")
            .args(["-d", "2020-01-02 15:30:45", "+%s"])
            .output()
            .unwrap();
        assert_eq!(
            mtime.to_string(),
            String::from_utf8_lossy(&expected.stdout).trim()
        );
    }

    #[tokio::test]
    async fn recurse_sets_the_mode_below_a_directory() {
        let fx = Fixture::new();
        std::fs::create_dir_all(fx.path("r/sub")).unwrap();
        std::fs::set_permissions(fx.path("r"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(fx.path("r/sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
        fx.write("r/sub/f", b"x", 0o600);
        fx.converge(
            "file",
            json!({"path": fx.path("r"), "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o="}),
        )
        .await;
        assert_eq!(fx.mode("r"), 0o750);
        assert_eq!(fx.mode("r/sub"), 0o750);
        assert_eq!(fx.mode("r/sub/f"), 0o640);
    }

    #[test]
    fn rejects_unknown_fields_and_bad_combinations() {
        let spec = crate::registry::lookup("ansible.builtin.file").unwrap();
        assert!((spec.build)(json!({"path": "/x", "stat": "file"})).is_err());
        assert!((spec.build)(json!({"path": "/x", "state": "file", "recurse": true})).is_err());
        assert!((spec.build)(
            json!({"path": "/x", "state": "touch", "modification_time": "yesterday"})
        )
        .is_err());
    }

    #[test]
    fn splits_paths() {
        assert_eq!(ancestors("/a/b"), vec!["/a", "/a/b"]);
        assert_eq!(ancestors("a/b/"), vec!["a", "a/b"]);
        assert_eq!(dirname("/a/b"), "/a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), ".");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(
            validate_argv("visudo -cf %s", "/etc/a b").unwrap(),
            vec!["visudo", "-cf", "/etc/a b"]
        );
        assert!(validate_argv("true", "/x").is_err());
    }

    use std::os::unix::fs::PermissionsExt;
}
