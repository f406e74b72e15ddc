//! `copy`: puts a file on the host, from text in the task (`content`), from a file beside
//! the playbook (`src`), or from another file on the host (`remote_src`).
//!
//! The SHA-1 of the content the file should have is compared with the SHA-1 of the file
//! on the host: nothing needs doing when they are equal (or, with `force: false`, when the
//! file exists at all) and mode, owner and group already match. The write is atomic, and
//! with `validate` the new file is checked before it replaces the old one. A directory
//! `src` is copied file by file the same way, with one command reading every file's state
//! on the host.
//!
//! ```yaml
//! - name: containerd configuration
//!   copy:
//!     src: containerd/config.toml
//!     dest: /etc/containerd/config.toml
//!     mode: "0644"
//!     backup: true
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::{ansible_bool, Args};
use crate::file::{
    ancestors, attribute_change, attribute_diff, basename, chown_spec, dirname, join_path,
    mkdir_step, real_path, state_and_content, temp_path, text, text_diff, validate_argv,
    EditedFile, HostDefaults, PathFacts, Wanted,
};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::stat::{file_checksums, ChecksumAlgorithm};
use crate::transport::{Exec, Transport};
use crate::util::{md5_hex, parse_stat_line, path_state, sha1_hex, PathState, STAT_FORMAT};
use crate::{ArgError, ControllerPath, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "copy",
    aliases: &["ansible.builtin.copy", "ansible.legacy.copy"],
    doc: include_str!("copy.rs"),
    free_form: None,
    build: crate::registry::build::<CopyArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyArgs {
    /// Where the file goes. Ending in `/`, or naming an existing directory, it is the
    /// directory the file goes into, under the name of `src`.
    pub dest: String,
    /// The file to copy: beside the playbook or role (`files/`), or on the host with
    /// `remote_src`. A controller directory is copied with everything in it: `dir/`
    /// copies what is inside into `dest`, `dir` the directory itself.
    #[serde(default)]
    pub src: Option<String>,
    /// The file's content, instead of `src`; a mapping or list is written as JSON.
    #[serde(default)]
    pub content: Option<Value>,
    /// `src` is a file on the host, not beside the playbook.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub remote_src: bool,
    /// Keep a copy of the old file, named `DEST.PID.YYYY-MM-DD@HH:MM:SS~`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// Replace a file whose content differs; `false` only creates missing files.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// A command that must accept the new file before it replaces the old; `%s` is the
    /// path of the new file.
    #[serde(default)]
    pub validate: Option<String>,
    /// The mode of the directories the copy creates (for a `dest` ending in `/`, or a
    /// directory `src`), and of the directories of a directory `src` that already exist.
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub directory_mode: Option<Mode>,
    /// The SHA-1 the content must have; the task fails when it differs.
    #[serde(default)]
    pub checksum: Option<String>,
    /// When `dest` is a symlink, write the file it points to (otherwise the link is
    /// replaced by a file).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub follow: bool,
    /// Accepted for compatibility; controller files are read through their links.
    #[serde(default)]
    pub local_follow: Option<Value>,
    /// Accepted for compatibility; controller files are copied as they are.
    #[serde(default)]
    pub decrypt: Option<Value>,
    /// Permissions, octal (`"0644"`), symbolic (`"u=rw,g=r,o=r"`), or `preserve` (the
    /// mode of the source file).
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// The user that should own the file, by name or uid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub owner: Option<String>,
    /// The group that should own the file, by name or gid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub group: Option<String>,
    /// Accepted for compatibility; every write is atomic.
    #[serde(default)]
    pub unsafe_writes: Option<Value>,
}

fn yes() -> bool {
    true
}

impl Args for CopyArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let has_src = self.src.as_deref().is_some_and(|src| !src.is_empty());
        let has_content = self.content.as_ref().is_some_and(|c| !c.is_null());
        if !has_src && !has_content {
            return Err(ArgError::new("`src` (or `content`) is required"));
        }
        if has_src && has_content {
            return Err(ArgError::new("`src` and `content` are mutually exclusive"));
        }
        if self.dest.is_empty() {
            return Err(ArgError::new("`dest` is required"));
        }
        if has_content && self.dest.ends_with('/') {
            return Err(ArgError::new("can not use content with a dir as dest"));
        }
        if self.remote_src && has_content {
            return Err(ArgError::new("`remote_src` needs `src`, not `content`"));
        }
        Ok(())
    }
}

impl Module for CopyArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            if self.remote_src {
                self.plan_remote(host.transport).await
            } else {
                self.plan_content(host).await
            }
        })
    }
}

/// Where the file goes once `dest` is resolved.
struct Destination {
    /// The file's path.
    path: String,
    /// Directories to create first (a `dest` ending in `/` that does not exist).
    new_directories: Vec<String>,
    /// The path itself, not following a symlink.
    own: PathState,
    /// A regular file's content, when reading it cost no command of its own.
    content: Option<Vec<u8>>,
}

impl CopyArgs {
    fn wanted<'a>(&'a self, mode: Option<&'a Mode>) -> Wanted<'a> {
        Wanted {
            mode: mode.filter(|m| **m != Mode::Preserve),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    /// The content to write and the name it takes inside a directory `dest`.
    fn source(&self, host: &Host<'_>) -> Result<(Vec<u8>, Option<String>), ModuleError> {
        if let Some(content) = &self.content {
            let bytes = match content {
                Value::Object(_) | Value::Array(_) => python_json(content),
                other => text::from_value(other.clone()).unwrap_or_default(),
            };
            return Ok((bytes.into_bytes(), None));
        }
        let src = self.src.as_deref().unwrap_or_default();
        let bytes = host
            .controller
            .read_file(src)
            .map_err(|e| ModuleError::failed(format!("could not find src={src}, {e}")))?;
        Ok((bytes, Some(basename(src).to_string())))
    }

    /// Resolves `dest`: a trailing `/` or an existing directory means "inside it".
    ///
    /// The inner error is Ansible's message for a parent directory that does not exist,
    /// which callers return with their own result keys.
    async fn destination(
        &self,
        transport: &dyn Transport,
        name: Option<&str>,
    ) -> Result<Result<Destination, String>, ModuleError> {
        let mut path = self.dest.clone();
        let mut new_directories = Vec::new();
        if path.ends_with('/') {
            let directory = path.trim_end_matches('/').to_string();
            let directory = if directory.is_empty() {
                "/".to_string()
            } else {
                directory
            };
            path = join_path(&path, name.unwrap_or_default());
            if !path_state(transport, &directory, true).await?.exists {
                let mut missing = Vec::new();
                for ancestor in ancestors(&directory).into_iter().rev() {
                    if path_state(transport, &ancestor, true).await?.exists {
                        break;
                    }
                    missing.push(ancestor);
                }
                missing.reverse();
                new_directories = missing;
            }
        }
        let mut read = state_and_content(transport, &path).await?;
        let mut own = read.state.clone();
        let followed_is_dir = if own.is_link() {
            path_state(transport, &path, true).await?.is_dir()
        } else {
            own.is_dir()
        };
        if followed_is_dir {
            let Some(name) = name else {
                return Err(ModuleError::failed(
                    "can not use content with a dir as dest",
                ));
            };
            path = join_path(&path, name);
            read = state_and_content(transport, &path).await?;
            own = read.state.clone();
        }
        if !own.exists && new_directories.is_empty() {
            let parent = dirname(&path);
            let parent_exists = match read.parent_exists {
                Some(exists) => exists,
                None => path_state(transport, parent, true).await?.exists,
            };
            if !parent_exists {
                return Ok(Err(format!(
                    "Destination directory {parent} does not exist"
                )));
            }
        }
        Ok(Ok(Destination {
            path,
            new_directories,
            own,
            content: read.content,
        }))
    }

    /// The directories a `dest` ending in `/` needs, with `directory_mode`, `owner` and
    /// `group`.
    async fn directory_steps(
        &self,
        transport: &dyn Transport,
        destination: &Destination,
    ) -> Result<Vec<Step>, ModuleError> {
        if destination.new_directories.is_empty() {
            return Ok(Vec::new());
        }
        let mode = match &self.directory_mode {
            Some(mode) => {
                let umask = HostDefaults::read(transport).await?.umask;
                Some(file_mode::resolve(mode, 0o777 & !umask, true).map_err(ModuleError::Failed)?)
            }
            None => None,
        };
        let owner = chown_spec(self.owner.as_deref(), self.group.as_deref());
        Ok(vec![mkdir_step(
            &destination.new_directories,
            mode,
            owner.as_deref(),
        )])
    }

    async fn plan_content(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let transport = host.transport;
        // `mode: preserve` takes the mode of the controller file; with `content`, that of
        // the temporary file Ansible writes it to (0600).
        let mut mode = self.mode.clone();
        let mut found_source = None;
        if let Some(src) = self.src.as_deref() {
            match host.controller.find(controller_name(src)) {
                Ok(found) if found.is_dir => return self.plan_tree(host, src, found).await,
                Ok(found) => {
                    if mode == Some(Mode::Preserve) {
                        mode = Some(Mode::Octal(found.mode));
                    }
                    found_source = Some(found.path);
                }
                Err(error) if mode == Some(Mode::Preserve) => {
                    return Err(ModuleError::failed(format!(
                        "could not find src={src}, {error}"
                    )))
                }
                // Reading the file below says what is wrong.
                Err(_) => {}
            }
        } else if mode == Some(Mode::Preserve) {
            mode = Some(Mode::Octal(0o600));
        }
        let wanted = self.wanted(mode.as_ref());
        let (content, name) = self.source(host)?;
        let checksum = sha1_hex(&content);
        if let Some(expected) = &self.checksum {
            if *expected != checksum {
                return Err(ModuleError::failed(format!(
                    "Copied file does not match the expected checksum. Transfer failed. (checksum {checksum}, expected {expected})"
                )));
            }
        }
        let destination = match self.destination(transport, name.as_deref()).await? {
            Ok(destination) => destination,
            Err(message) => return Ok(Plan::fail(message).with("checksum", checksum)),
        };
        let dest = destination.path.clone();
        if destination.own.exists && !self.force {
            // Ansible's result names the task's `dest` and the source it found.
            let mut plan =
                Plan::ok(format!("{dest} exists and force is off")).with("dest", self.dest.clone());
            if let Some(found) = found_source {
                plan = plan.with("src", found);
            }
            return Ok(plan);
        }
        let mut file = if destination.own.is_link() && !self.follow {
            // The link itself is replaced by a file.
            EditedFile {
                path: dest.clone(),
                target: dest.clone(),
                state: PathState::default(),
                content: None,
                create_parents: false,
                defaults: None,
            }
        } else {
            let own = destination.own.clone();
            match destination.content.clone() {
                Some(content) => EditedFile {
                    path: dest.clone(),
                    target: dest.clone(),
                    state: own,
                    content: Some(content),
                    create_parents: false,
                    defaults: None,
                },
                None => match EditedFile::read_with_state(transport, &dest, own).await? {
                    Ok(file) => file,
                    Err(message) => return Err(ModuleError::failed(message)),
                },
            }
        };
        file.create_parents = false;
        let differs = file.content.as_deref().map(sha1_hex).as_deref() != Some(checksum.as_str());
        let directories = self.directory_steps(transport, &destination).await?;
        let mut plan = self
            .file_plan(transport, &file, differs, &content, &wanted, directories)
            .await?;
        // An unchanged file is Ansible's `file` module result, which has no `src`.
        if let (Some(src), true) = (&self.src, differs) {
            plan = plan.with("src", src.clone());
        }
        Ok(plan)
    }

    /// The plan for one file whose destination is known: the write when its content
    /// `differs` (after `steps`, the directories it needs), else only mode, owner and
    /// group; with the result keys of Ansible's `copy` (or, unchanged, its `file`).
    async fn file_plan(
        &self,
        transport: &dyn Transport,
        file: &EditedFile,
        differs: bool,
        content: &[u8],
        wanted: &Wanted<'_>,
        mut steps: Vec<Step>,
    ) -> Result<Plan, ModuleError> {
        let dest = file.path.clone();
        let checksum = sha1_hex(content);
        let edit = file
            .steps(
                transport,
                differs.then(|| content.to_vec()),
                wanted,
                self.validate.as_deref(),
                self.backup,
            )
            .await?;
        steps.extend(edit.steps.clone());
        let mut plan = if steps.is_empty() {
            Plan::ok(format!("{dest} already has this content (sha1 {checksum})"))
        } else if differs {
            Plan::change(format!("write {dest}"), steps)
        } else {
            Plan::change(format!("set the attributes of {dest}"), steps)
        };
        plan = plan.with("dest", dest.clone()).with("checksum", checksum);
        if differs {
            plan = plan.with("md5sum", md5_hex(content));
            let before = file.content.as_deref().unwrap_or_default();
            if let Some(diff) = text_diff(&dest, before, content) {
                plan = plan.with_diff(diff);
            }
        } else {
            plan = plan.with("path", dest.clone());
        }
        if let Some(backup) = &edit.backup {
            plan = plan.with("backup_file", backup.clone());
        }
        let plan = attribute_diff(plan, &edit.change);
        Ok(match &edit.facts {
            Some(facts) => facts.add_to(plan),
            None => plan,
        })
    }

    /// A directory on the controller, copied as Ansible's recursive copy does: each file
    /// like a single `src`, skipping existing ones with `force: false`; the directories it
    /// needs created with `directory_mode`, owner and group; and the directories of the
    /// source that exist already given `directory_mode`, owner and group. One command
    /// reads the state of every path involved.
    async fn plan_tree(
        &self,
        host: &Host<'_>,
        src: &str,
        found: ControllerPath,
    ) -> Result<Plan, ModuleError> {
        let transport = host.transport;
        let entries = host
            .controller
            .list(controller_name(src))
            .map_err(|e| ModuleError::failed(format!("could not list src={src}, {e}")))?;
        let root = found.path.trim_end_matches('/').to_string();
        // `src: dir/` copies what is inside `dir`; `src: dir` the directory itself.
        let prefix = if src.ends_with('/') {
            String::new()
        } else {
            format!("{}/", basename(&root))
        };
        let dest = if self.dest.ends_with('/') {
            self.dest.clone()
        } else {
            format!("{}/", self.dest)
        };
        let source_result = if src.ends_with('/') {
            format!("{root}/")
        } else {
            root.clone()
        };
        let mut files = Vec::new();
        let mut listed = Vec::new();
        for entry in &entries {
            match entry.strip_suffix('/') {
                Some(directory) => listed.push(format!("{dest}{prefix}{directory}")),
                None => files.push((format!("{dest}{prefix}{entry}"), format!("{root}/{entry}"))),
            }
        }
        let tree_result = |plan: Plan| {
            plan.with("dest", dest.clone())
                .with("src", source_result.clone())
        };
        if files.is_empty() && listed.is_empty() {
            return Ok(tree_result(Plan::ok(format!(
                "{src} is empty: nothing to copy"
            ))));
        }
        // Every directory the copy needs; sorted, parents come first.
        let mut directories = BTreeSet::new();
        let needed = files
            .iter()
            .map(|(path, _)| dirname(path).to_string())
            .chain(listed.iter().cloned())
            .chain(std::iter::once(dest.trim_end_matches('/').to_string()));
        for directory in needed {
            directories.extend(ancestors(&directory));
        }
        let file_paths: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
        let facts = TreeFacts::read(transport, &directories, &file_paths).await?;
        let defaults = &facts.defaults;

        let mut steps = Vec::new();
        let missing: Vec<String> = directories
            .iter()
            .filter(|directory| !facts.directory(directory).exists)
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mode = match &self.directory_mode {
                Some(mode) => Some(
                    file_mode::resolve(mode, 0o777 & !defaults.umask, true)
                        .map_err(ModuleError::Failed)?,
                ),
                None => None,
            };
            let owner = chown_spec(self.owner.as_deref(), self.group.as_deref());
            steps.push(mkdir_step(&missing, mode, owner.as_deref()));
        }

        let mut file_plans = Vec::new();
        let mut diffs = Vec::new();
        for (path, source) in &files {
            let (state, checksum) = facts.file(path);
            if state.is_dir() {
                return Err(ModuleError::failed(format!(
                    "{path} is a directory: {source} cannot be copied over it"
                )));
            }
            if state.exists && !self.force {
                continue;
            }
            let content = host
                .controller
                .read_file(source)
                .map_err(|e| ModuleError::failed(format!("could not find src={source}, {e}")))?;
            let mode = match &self.mode {
                Some(Mode::Preserve) => Some(Mode::Octal(
                    host.controller
                        .find(source)
                        .map_err(|e| {
                            ModuleError::failed(format!("could not find src={source}, {e}"))
                        })?
                        .mode,
                )),
                other => other.clone(),
            };
            let differs = checksum.as_deref() != Some(sha1_hex(&content).as_str());
            // Only the content of a regular file is kept: anything else is replaced.
            let replaces_a_file = state.is_file();
            let before = if differs && replaces_a_file {
                transport.get(path).await?
            } else {
                None
            };
            let file = EditedFile {
                path: path.clone(),
                target: path.clone(),
                state: if replaces_a_file {
                    state.clone()
                } else {
                    PathState::default()
                },
                content: before,
                create_parents: false,
                defaults: Some(defaults.clone()),
            };
            let mut plan = self
                .file_plan(
                    transport,
                    &file,
                    differs,
                    &content,
                    &self.wanted(mode.as_ref()),
                    Vec::new(),
                )
                .await?;
            steps.append(&mut plan.steps);
            diffs.append(&mut plan.diffs);
            file_plans.push(plan);
        }

        // Ansible runs its `file` module on each directory of the source, with
        // `directory_mode` as the mode: existing directories take it too.
        let directory_wanted = Wanted {
            mode: self.directory_mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        };
        for directory in &listed {
            let state = facts.directory(directory);
            if state.exists && !state.is_dir() {
                return Err(ModuleError::failed(format!(
                    "{directory} already exists as a {}",
                    PathFacts::of(&state).state
                )));
            }
            if state.exists {
                steps
                    .extend(attribute_change(directory, &state, &directory_wanted, false)?.steps());
            }
        }

        let mut plan = if steps.is_empty() {
            Plan::ok(format!("{dest} already has the content of {src}"))
        } else {
            Plan::change(format!("copy {src} into {dest}"), steps)
        };
        plan.diffs = diffs;
        // Ansible returns the result of the last module it ran when the source holds one
        // file (here: one file, copied or checked, and no directories), and only `dest`
        // and `src` otherwise.
        match (&files[..], &file_plans[..], listed.is_empty()) {
            ([_], [single], true) => {
                plan.result = single.result.clone();
                Ok(plan)
            }
            _ => Ok(tree_result(plan)),
        }
    }

    /// A file already on the host: checksums are compared there and `cp` does the copy,
    /// so the content never travels.
    async fn plan_remote(&self, transport: &dyn Transport) -> Result<Plan, ModuleError> {
        let src = self.src.clone().unwrap_or_default();
        let source = path_state(transport, &src, true).await?;
        if !source.exists {
            return Err(ModuleError::failed(format!("Source {src} not found")));
        }
        if !source.is_file() {
            return Err(ModuleError::failed(format!(
                "Cannot copy invalid source '{src}': copying a directory with remote_src is not supported"
            )));
        }
        let destination = self
            .destination(transport, Some(basename(&src)))
            .await?
            .map_err(ModuleError::Failed)?;
        let mut dest = destination.path.clone();
        if destination.own.exists && !self.force {
            return Ok(Plan::ok(format!("{dest} exists and force is off"))
                .with("msg", "file already exists")
                .with("dest", dest)
                .with("src", src));
        }
        let replace_link = destination.own.is_link() && !self.follow;
        if destination.own.is_link() && self.follow {
            dest = real_path(transport, &dest).await?;
        }
        let current = if replace_link {
            PathState::default()
        } else {
            path_state(transport, &dest, false).await?
        };
        let sums = file_checksums(
            transport,
            ChecksumAlgorithm::Sha1,
            &[src.clone(), dest.clone()],
        )
        .await?;
        let checksum = sums[0]
            .clone()
            .ok_or_else(|| ModuleError::failed(format!("Source {src} not readable")))?;
        if let Some(expected) = &self.checksum {
            if *expected != checksum {
                return Err(ModuleError::failed(format!(
                    "Copied file does not match the expected checksum. Transfer failed. (checksum {checksum}, expected {expected})"
                )));
            }
        }
        let differs = replace_link || sums[1].as_deref() != Some(checksum.as_str());
        // The copy takes the source's mode (as `cp -p` would) unless a mode is given.
        let wanted_mode = match &self.mode {
            None | Some(Mode::Preserve) => source.mode & 0o7777,
            Some(mode) => {
                let base = if current.exists {
                    current.mode
                } else {
                    source.mode
                };
                file_mode::resolve(mode, base & 0o7777, false).map_err(ModuleError::Failed)?
            }
        };
        let mut steps = self.directory_steps(transport, &destination).await?;
        let mut backup_file = None;
        let change;
        let facts;
        if differs {
            if self.backup && current.exists {
                let name = crate::file::backup_name(transport, &dest).await?;
                steps.push(crate::file::backup_step(&dest, &name));
                backup_file = Some(name);
            }
            steps.push(remote_copy_step(
                &src,
                &dest,
                wanted_mode,
                chown_spec(self.owner.as_deref(), self.group.as_deref()).as_deref(),
                self.validate.as_deref(),
            )?);
            let defaults = HostDefaults::read(transport).await?;
            let mut new_facts =
                defaults.new_path("file", wanted_mode, &self.wanted(self.mode.as_ref()));
            new_facts.size = Some(source.size);
            facts = new_facts;
            change = crate::file::AttributeChange::default();
        } else {
            let wanted = Wanted {
                mode: None,
                ..self.wanted(self.mode.as_ref())
            };
            let mut attribute_change =
                crate::file::attribute_change(&dest, &current, &wanted, false)?;
            if self.mode.is_some() && current.mode & 0o7777 != wanted_mode {
                attribute_change.mode = Some((current.mode & 0o7777, wanted_mode));
            }
            steps.extend(attribute_change.steps());
            facts = PathFacts::of(&current).after(&attribute_change);
            change = attribute_change;
        }
        let mut plan = if steps.is_empty() {
            Plan::ok(format!(
                "{dest} already has the content of {src} (sha1 {checksum})"
            ))
        } else if differs {
            Plan::change(format!("copy {src} to {dest}"), steps)
        } else {
            Plan::change(format!("set the attributes of {dest}"), steps)
        };
        plan = plan
            .with("dest", dest)
            .with("src", src)
            .with("checksum", checksum);
        if let Some(backup) = backup_file {
            plan = plan.with("backup_file", backup);
        }
        Ok(facts.add_to(attribute_diff(plan, &change)))
    }
}

/// The name a task's `src` is looked up by on the controller: without a trailing `/`,
/// which only says whether a directory or its content is copied.
fn controller_name(src: &str) -> &str {
    match src.trim_end_matches('/') {
        "" => "/",
        name => name,
    }
}

/// What the host has where a directory copy goes, read with one command.
struct TreeFacts {
    defaults: HostDefaults,
    /// Directories, symlinks followed.
    directories: BTreeMap<String, PathState>,
    /// Files, symlinks not followed, with the SHA-1 of a regular file.
    files: BTreeMap<String, (PathState, Option<String>)>,
}

/// After the host's defaults and an empty record, prints for each `d:PATH` (followed) or
/// `f:PATH` (not followed) its `stat` line and the SHA-1 of a readable regular file, or
/// `-` and nothing for a missing path; records end in NUL.
const TREE_SCRIPT: &str = r#"format=$1; shift
printf '\0'
for p do
  case $p in
    d:*) p=${p#d:}; flag=-L ;;
    *) p=${p#f:}; flag= ;;
  esac
  if s=$(stat $flag -c "$format" -- "$p" 2>/dev/null); then
    printf '%s\0' "$s"
    if [ -z "$flag" ] && [ -f "$p" ] && [ ! -h "$p" ] && [ -r "$p" ] && sum=$(sha1sum < "$p"); then
      printf '%s\0' "${sum%% *}"
    else
      printf '\0'
    fi
  else
    printf -- '-\0\0'
  fi
done
"#;

impl TreeFacts {
    async fn read(
        transport: &dyn Transport,
        directories: &BTreeSet<String>,
        files: &[String],
    ) -> Result<Self, ModuleError> {
        let mut argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("{}\n{TREE_SCRIPT}", HostDefaults::SCRIPT),
            "rplay-copy-tree".to_string(),
            STAT_FORMAT.to_string(),
        ];
        argv.extend(directories.iter().map(|d| format!("d:{d}")));
        argv.extend(files.iter().map(|f| format!("f:{f}")));
        let output = transport.run(&Exec::new(argv)).await?;
        let text = output.stdout_text();
        let unexpected = || {
            ModuleError::failed(format!(
                "reading the destination of the copy: unexpected output ({})",
                output.stderr_text().trim()
            ))
        };
        let mut records = text.split('\0');
        let defaults = records
            .next()
            .and_then(HostDefaults::parse)
            .ok_or_else(unexpected)?;
        let mut states = Vec::new();
        for path in directories.iter().chain(files) {
            let (Some(stat), Some(checksum)) = (records.next(), records.next()) else {
                return Err(unexpected());
            };
            let state = if stat == "-" {
                PathState::default()
            } else {
                parse_stat_line(stat).ok_or_else(unexpected)?
            };
            let checksum = (!checksum.is_empty()).then(|| checksum.to_string());
            states.push((path.clone(), state, checksum));
        }
        let mut facts = TreeFacts {
            defaults,
            directories: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        let split = directories.len();
        for (index, (path, state, checksum)) in states.into_iter().enumerate() {
            if index < split {
                facts.directories.insert(path, state);
            } else {
                facts.files.insert(path, (state, checksum));
            }
        }
        Ok(facts)
    }

    fn directory(&self, path: &str) -> PathState {
        self.directories.get(path).cloned().unwrap_or_default()
    }

    fn file(&self, path: &str) -> (PathState, Option<String>) {
        self.files.get(path).cloned().unwrap_or_default()
    }
}

/// Copies a host file beside `dest`, gives it its mode and owner, validates it, and
/// renames it into place.
fn remote_copy_step(
    src: &str,
    dest: &str,
    mode: u32,
    owner: Option<&str>,
    validate: Option<&str>,
) -> Result<Step, ModuleError> {
    let temp = temp_path(dest);
    let validate = match validate {
        Some(validate) => validate_argv(validate, &temp)?,
        None => Vec::new(),
    };
    let script = r#"set -e
src=$1; dest=$2; tmp=$3; mode=$4; owner=$5; shift 5
trap 'rm -f -- "$tmp"' EXIT
cp --preserve=mode,timestamps -- "$src" "$tmp"
chmod "$mode" -- "$tmp"
[ -z "$owner" ] || chown "$owner" -- "$tmp"
if [ $# -gt 0 ] && ! "$@"; then echo "failed to validate" >&2; exit 1; fi
mv -f -- "$tmp" "$dest"
trap - EXIT
"#;
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-copy".to_string(),
        src.to_string(),
        dest.to_string(),
        temp,
        format!("{mode:04o}"),
        owner.unwrap_or_default().to_string(),
    ];
    argv.extend(validate);
    Ok(Step::run(Exec::new(argv)))
}

/// Python's `json.dumps` with its defaults (`", "` and `": "` separators, non-ASCII
/// escaped), which is how Ansible writes a mapping or list given as `content`.
fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{08}' => out.push_str("\\b"),
                    '\u{0c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(&Value::String(key.clone()), out);
                out.push_str(": ");
                write_python_json(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::python_json;
    use crate::testing::Fixture;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    /// Where each command is a round trip, the destination's state and content come from
    /// one command: the module still converges, and a changed or replaced file is seen.
    #[tokio::test]
    async fn converges_where_commands_are_round_trips() {
        let mut fx = Fixture::new();
        fx.transport.wrapper = vec!["env".to_string()];
        let dest = fx.path("conf");
        let args = json!({"content": "one\n", "dest": dest, "mode": "0640"});
        fx.converge("copy", args.clone()).await;
        assert_eq!(fx.read("conf"), b"one\n");
        assert_eq!(fx.mode("conf"), 0o640);
        // Drift in content: planned again and rewritten.
        fx.write("conf", b"two\n", 0o640);
        fx.converge("copy", args.clone()).await;
        assert_eq!(fx.read("conf"), b"one\n");
        // A symlink as dest is replaced by the file (follow is off), not read through.
        std::os::unix::fs::symlink(fx.path("conf"), fx.path("link")).unwrap();
        fx.converge("copy", json!({"content": "new\n", "dest": fx.path("link")}))
            .await;
        assert_eq!(fx.read("link"), b"new\n");
        assert!(!std::fs::symlink_metadata(fx.path("link"))
            .unwrap()
            .is_symlink());
        assert_eq!(fx.read("conf"), b"one\n");

        // A missing parent is found by the same command, with the same message.
        let failing = fx
            .plan("copy", json!({"dest": fx.path("none/f"), "content": "x"}))
            .await
            .unwrap();
        assert_eq!(
            failing.failure,
            Some(format!(
                "Destination directory {} does not exist",
                fx.path("none")
            ))
        );
        // A file where the directory should be is a parent that exists, as for Ansible:
        // the write is what fails.
        let planned = fx
            .plan("copy", json!({"dest": fx.path("conf/f"), "content": "x"}))
            .await
            .unwrap();
        assert_eq!(planned.failure, None);
        assert!(planned.is_change());
    }

    #[tokio::test]
    async fn writes_content_then_finds_nothing_to_do() {
        let fx = Fixture::new();
        let dest = fx.path("out.conf");
        let plan = fx
            .converge(
                "copy",
                json!({"dest": dest, "content": "a=1\n", "mode": "0600"}),
            )
            .await;
        assert_eq!(fx.read("out.conf"), b"a=1\n");
        assert_eq!(fx.mode("out.conf"), 0o600);
        assert_eq!(
            plan.result["checksum"],
            "9dc9cfd3b38b77561ec22b49a723432e26181003"
        );
        assert_eq!(plan.result["mode"], "0600");
        assert_eq!(plan.result["size"], 4);
        assert_eq!(plan.result["dest"], dest.as_str());
        assert_eq!(plan.diffs[0].after, "a=1\n");
    }

    #[tokio::test]
    async fn copies_a_controller_file_into_a_directory() {
        let fx = Fixture::new();
        std::fs::write(fx.controller.root.join("app.conf"), b"from controller\n").unwrap();
        let dest = fx.path("etc/app/");
        let plan = fx
            .converge(
                "copy",
                json!({"src": "app.conf", "dest": dest, "directory_mode": "0750"}),
            )
            .await;
        assert_eq!(fx.read("etc/app/app.conf"), b"from controller\n");
        assert_eq!(fx.mode("etc"), 0o750);
        assert_eq!(fx.mode("etc/app"), 0o750);
        assert_eq!(plan.result["src"], "app.conf");
        // Into an existing directory named without the slash.
        fx.converge("copy", json!({"src": "app.conf", "dest": fx.path("etc")}))
            .await;
        assert_eq!(fx.read("etc/app.conf"), b"from controller\n");
    }

    #[tokio::test]
    async fn a_drifted_file_is_planned_but_untouched_and_keeps_its_mode() {
        let fx = Fixture::new();
        let dest = fx.write("f", b"old\n", 0o640);
        let plan = fx
            .plan("copy", json!({"dest": dest, "content": "new\n"}))
            .await
            .unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(plan.diffs[0].before, "old\n");
        assert_eq!(fx.read("f"), b"old\n", "planning alone changes nothing");
        fx.apply(&plan).await;
        assert_eq!(fx.read("f"), b"new\n");
        assert_eq!(fx.mode("f"), 0o640, "an existing file keeps its mode");
    }

    #[tokio::test]
    async fn only_the_mode_changes_when_the_content_matches() {
        let fx = Fixture::new();
        let dest = fx.write("f", b"same\n", 0o644);
        let plan = fx
            .converge(
                "copy",
                json!({"dest": dest, "content": "same\n", "mode": "0400"}),
            )
            .await;
        assert_eq!(plan.steps.len(), 1, "one chmod: {:?}", plan.steps);
        assert_eq!(fx.mode("f"), 0o400);
    }

    #[tokio::test]
    async fn force_false_leaves_an_existing_file() {
        let fx = Fixture::new();
        let dest = fx.write("f", b"mine\n", 0o644);
        let plan = fx
            .plan(
                "copy",
                json!({"dest": dest, "content": "theirs\n", "force": false}),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        // Ansible's result names `dest` and the source, with no message.
        assert_eq!(plan.result["dest"], dest.as_str());
        assert!(plan.result.get("msg").is_none(), "{:?}", plan.result);
        assert_eq!(fx.read("f"), b"mine\n");
    }

    #[tokio::test]
    async fn backup_and_validate() {
        let fx = Fixture::new();
        let dest = fx.write("sudoers", b"old\n", 0o440);
        let plan = fx
            .converge(
                "copy",
                json!({"dest": dest, "content": "new ok\n", "backup": true, "validate": "grep -q ok %s"}),
            )
            .await;
        let backup = plan.result["backup_file"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(fx.read("sudoers"), b"new ok\n");
        assert_eq!(
            fx.mode("sudoers"),
            0o440,
            "the validated file keeps the old mode"
        );
        let failing = fx
            .plan(
                "copy",
                json!({"dest": dest, "content": "bad\n", "validate": "grep -q ok %s"}),
            )
            .await
            .unwrap();
        assert!(crate::testing::apply(&failing, &fx.transport)
            .await
            .is_err());
        assert_eq!(fx.read("sudoers"), b"new ok\n");
    }

    #[tokio::test]
    async fn remote_src_copies_on_the_host() {
        let fx = Fixture::new();
        let src = fx.write("src.bin", b"\x00binary\xff", 0o750);
        let dest = fx.path("dest.bin");
        let plan = fx
            .converge(
                "copy",
                json!({"src": src, "dest": dest, "remote_src": true}),
            )
            .await;
        assert_eq!(fx.read("dest.bin"), b"\x00binary\xff");
        assert_eq!(
            fx.mode("dest.bin"),
            0o750,
            "the copy keeps the source's mode"
        );
        assert_eq!(
            plan.result["checksum"],
            crate::util::sha1_hex(b"\x00binary\xff")
        );
        fx.converge(
            "copy",
            json!({"src": src, "dest": dest, "remote_src": true, "mode": "0644"}),
        )
        .await;
        assert_eq!(fx.mode("dest.bin"), 0o644);
    }

    #[tokio::test]
    async fn a_symlink_dest_is_replaced_unless_followed() {
        let fx = Fixture::new();
        fx.write("target", b"t\n", 0o644);
        std::os::unix::fs::symlink(fx.path("target"), fx.path("link")).unwrap();
        fx.converge(
            "copy",
            json!({"dest": fx.path("link"), "content": "x\n", "follow": true}),
        )
        .await;
        assert_eq!(fx.read("target"), b"x\n");
        assert!(std::fs::symlink_metadata(fx.path("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        fx.converge("copy", json!({"dest": fx.path("link"), "content": "x\n"}))
            .await;
        assert!(std::fs::symlink_metadata(fx.path("link"))
            .unwrap()
            .file_type()
            .is_file());
    }

    #[tokio::test]
    async fn failures_say_what_is_wrong() {
        let fx = Fixture::new();
        let failing = fx
            .plan("copy", json!({"dest": fx.path("none/f"), "content": "x"}))
            .await
            .unwrap();
        assert!(failing.steps.is_empty());
        assert_eq!(
            failing.failure,
            Some(format!(
                "Destination directory {} does not exist",
                fx.path("none")
            ))
        );
        assert_eq!(
            failing.result["checksum"], "11f6ad8ec52a2984abaafd7c3b516503785c2072",
            "Ansible adds the source's checksum to this failure"
        );
        let error = fx
            .plan(
                "copy",
                json!({"dest": fx.path("f"), "content": "x", "checksum": "0000"}),
            )
            .await
            .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("Copied file does not match the expected checksum"));
        let error = fx
            .plan("copy", json!({"dest": fx.path("f"), "src": "missing.conf"}))
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("could not find src=missing.conf"),
            "{error}"
        );
        let spec = crate::registry::lookup("copy").unwrap();
        assert!((spec.build)(json!({"dest": "/x"})).is_err());
        assert!((spec.build)(json!({"dest": "/x/", "content": "a"})).is_err());
        assert!((spec.build)(json!({"dest": "/x", "content": "a", "src": "b"})).is_err());
    }

    /// A controller directory `tree` with a file, a subdirectory with a file, and an
    /// empty subdirectory.
    fn controller_tree(fx: &Fixture) {
        let root = fx.controller.root.join("tree");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("top.txt"), b"top\n").unwrap();
        std::fs::write(root.join("sub/deep.txt"), b"deep\n").unwrap();
    }

    fn is_dir(fx: &Fixture, relative: &str) -> bool {
        std::fs::metadata(fx.path(relative)).is_ok_and(|m| m.is_dir())
    }

    #[tokio::test]
    async fn mode_preserve_takes_the_controller_files_mode() {
        let fx = Fixture::new();
        let script = fx.controller.root.join("script.sh");
        std::fs::write(&script, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args = json!({"src": "script.sh", "dest": fx.path("script.sh"), "mode": "preserve"});
        let plan = fx.plan("copy", args.clone()).await.unwrap();
        assert!(
            !std::path::Path::new(&fx.path("script.sh")).exists(),
            "planning alone (check mode) writes nothing"
        );
        assert_eq!(plan.result["mode"], "0755");
        fx.converge("copy", args).await;
        assert_eq!(fx.mode("script.sh"), 0o755);
        assert_eq!(fx.read("script.sh"), b"#!/bin/sh\n");
        // With `content`, Ansible's source is a private temporary file: mode 0600.
        fx.converge(
            "copy",
            json!({"content": "x", "dest": fx.path("from-content"), "mode": "preserve"}),
        )
        .await;
        assert_eq!(fx.mode("from-content"), 0o600);
    }

    #[tokio::test]
    async fn a_written_file_reports_its_md5_and_an_unchanged_one_its_path() {
        let fx = Fixture::new();
        std::fs::write(fx.controller.root.join("abc"), b"abc\n").unwrap();
        let dest = fx.path("abc");
        let first = fx
            .converge("copy", json!({"src": "abc", "dest": dest}))
            .await;
        // Recorded from ansible-core 2.19.
        assert_eq!(first.result["md5sum"], "0bee89b07a248e27c83fc3d5951213c1");
        assert_eq!(first.result["src"], "abc");
        let second = fx
            .plan("copy", json!({"src": "abc", "dest": dest}))
            .await
            .unwrap();
        assert_eq!(second.result["path"], dest.as_str());
        assert!(second.result.get("md5sum").is_none());
        assert!(second.result.get("src").is_none(), "{:?}", second.result);
    }

    #[tokio::test]
    async fn a_directory_without_a_slash_is_copied_itself_and_converges() {
        let fx = Fixture::new();
        controller_tree(&fx);
        let args = json!({"src": "tree", "dest": fx.path("with-dir/")});
        let plan = fx.plan("copy", args.clone()).await.unwrap();
        assert!(
            !std::path::Path::new(&fx.path("with-dir")).exists(),
            "planning alone (check mode) creates nothing"
        );
        assert_eq!(plan.result["dest"], fx.path("with-dir/").as_str());
        assert_eq!(
            plan.result["src"],
            fx.controller.root.join("tree").to_str().unwrap()
        );
        fx.converge("copy", args.clone()).await;
        assert_eq!(fx.read("with-dir/tree/top.txt"), b"top\n");
        assert_eq!(fx.read("with-dir/tree/sub/deep.txt"), b"deep\n");
        assert!(is_dir(&fx, "with-dir/tree/empty"), "empty directories too");
        let (second, runs) = fx.plan_counting("copy", args).await;
        assert!(!second.unwrap().is_change());
        assert_eq!(runs, 1, "one command reads the whole destination");
    }

    #[tokio::test]
    async fn a_directory_with_a_slash_copies_its_content() {
        let fx = Fixture::new();
        controller_tree(&fx);
        // `dest` without a slash is a directory all the same.
        let plan = fx
            .converge("copy", json!({"src": "tree/", "dest": fx.path("contents")}))
            .await;
        assert_eq!(plan.result["dest"], fx.path("contents/").as_str());
        assert_eq!(
            plan.result["src"],
            format!("{}/", fx.controller.root.join("tree").display())
        );
        assert_eq!(fx.read("contents/top.txt"), b"top\n");
        assert_eq!(fx.read("contents/sub/deep.txt"), b"deep\n");
        assert!(is_dir(&fx, "contents/empty"));
        assert!(!std::path::Path::new(&fx.path("contents/tree")).exists());
    }

    #[tokio::test]
    async fn directory_mode_is_given_to_new_directories_and_to_those_of_the_source() {
        let fx = Fixture::new();
        controller_tree(&fx);
        // `dest/tree` exists, but only `sub` is one of the source's directories.
        std::fs::create_dir_all(fx.path("dest/tree/sub")).unwrap();
        for dir in ["dest", "dest/tree", "dest/tree/sub"] {
            std::fs::set_permissions(fx.path(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        fx.converge(
            "copy",
            json!({"src": "tree", "dest": fx.path("dest/"), "directory_mode": "0700", "mode": "0600"}),
        )
        .await;
        // What ansible-core 2.19 leaves.
        assert_eq!(fx.mode("dest"), 0o755);
        assert_eq!(fx.mode("dest/tree"), 0o755);
        assert_eq!(fx.mode("dest/tree/sub"), 0o700);
        assert_eq!(fx.mode("dest/tree/empty"), 0o700);
        assert_eq!(fx.mode("dest/tree/top.txt"), 0o600);
        assert_eq!(fx.mode("dest/tree/sub/deep.txt"), 0o600);
    }

    #[tokio::test]
    async fn a_tree_with_force_false_leaves_existing_files_alone() {
        let fx = Fixture::new();
        controller_tree(&fx);
        std::fs::create_dir_all(fx.path("dest")).unwrap();
        fx.write("dest/top.txt", b"mine\n", 0o600);
        fx.converge(
            "copy",
            json!({"src": "tree/", "dest": fx.path("dest/"), "force": false, "mode": "0644"}),
        )
        .await;
        assert_eq!(fx.read("dest/top.txt"), b"mine\n");
        assert_eq!(fx.mode("dest/top.txt"), 0o600, "not even its mode changes");
        assert_eq!(fx.read("dest/sub/deep.txt"), b"deep\n");
    }

    #[tokio::test]
    async fn a_tree_of_one_file_returns_that_files_result_and_keeps_source_modes() {
        let fx = Fixture::new();
        let root = fx.controller.root.join("one");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("run.sh"), b"exit 0\n").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        let plan = fx
            .converge(
                "copy",
                json!({"src": "one/", "dest": fx.path("bin/"), "mode": "preserve"}),
            )
            .await;
        assert_eq!(fx.mode("bin/run.sh"), 0o750);
        assert_eq!(plan.result["dest"], fx.path("bin/run.sh").as_str());
        assert_eq!(plan.result["checksum"], crate::util::sha1_hex(b"exit 0\n"));
        assert_eq!(plan.result["mode"], "0750");
    }

    #[test]
    fn json_content_like_python() {
        // Python: json.dumps({"a": [1, 2.5, None, True], "é": "x\"y"})
        assert_eq!(
            python_json(&json!({"a": [1, 2.5, null, true], "é": "x\"y"})),
            r#"{"a": [1, 2.5, null, true], "\u00e9": "x\"y"}"#
        );
    }
}
