//! `copy`: puts a file on the host, from text in the task (`content`), from a file beside
//! the playbook (`src`), or from another file on the host (`remote_src`).
//!
//! The SHA-1 of the content the file should have is compared with the SHA-1 of the file
//! on the host: nothing needs doing when they are equal (or, with `force: false`, when the
//! file exists at all) and mode, owner and group already match. The write is atomic, and
//! with `validate` the new file is checked before it replaces the old one.
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
    ancestors, attribute_diff, basename, chown_spec, dirname, join_path, mkdir_step, real_path,
    temp_path, text, text_diff, validate_argv, EditedFile, HostDefaults, PathFacts, Wanted,
};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::stat::{file_checksums, ChecksumAlgorithm};
use crate::transport::{Exec, Transport};
use crate::util::{path_state, sha1_hex, PathState};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

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
    /// `remote_src`.
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
    /// The mode of directories created for a `dest` ending in `/`.
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
    /// mode of a `remote_src` file).
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
        if self.mode == Some(Mode::Preserve) && !self.remote_src {
            return Err(ArgError::new(
                "`mode: preserve` is only supported with `remote_src: true` (controller file modes are not read)",
            )
            .at("mode"));
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
}

impl CopyArgs {
    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            mode: self.mode.as_ref().filter(|m| **m != Mode::Preserve),
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
    async fn destination(
        &self,
        transport: &dyn Transport,
        name: Option<&str>,
    ) -> Result<Destination, ModuleError> {
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
        let mut own = path_state(transport, &path, false).await?;
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
            own = path_state(transport, &path, false).await?;
        }
        if !own.exists && new_directories.is_empty() {
            let parent = dirname(&path);
            if !path_state(transport, parent, true).await?.exists {
                return Err(ModuleError::failed(format!(
                    "Destination directory {parent} does not exist"
                )));
            }
        }
        Ok(Destination {
            path,
            new_directories,
            own,
        })
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
        let (content, name) = self.source(host)?;
        let checksum = sha1_hex(&content);
        if let Some(expected) = &self.checksum {
            if *expected != checksum {
                return Err(ModuleError::failed(format!(
                    "Copied file does not match the expected checksum. Transfer failed. (checksum {checksum}, expected {expected})"
                )));
            }
        }
        let destination = self.destination(transport, name.as_deref()).await?;
        let dest = destination.path.clone();
        if destination.own.exists && !self.force {
            return Ok(Plan::ok(format!("{dest} exists and force is off"))
                .with("msg", "file already exists")
                .with("dest", dest));
        }
        let mut file = if destination.own.is_link() && !self.follow {
            // The link itself is replaced by a file.
            EditedFile {
                path: dest.clone(),
                target: dest.clone(),
                state: PathState::default(),
                content: None,
                create_parents: false,
            }
        } else {
            EditedFile::read(transport, &dest).await?
        };
        file.create_parents = false;
        let before = file.content.clone();
        let differs = before.as_deref().map(sha1_hex).as_deref() != Some(checksum.as_str());
        let mut steps = self.directory_steps(transport, &destination).await?;
        let edit = file
            .steps(
                transport,
                differs.then(|| content.clone()),
                &self.wanted(),
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
        if !differs {
            plan = plan.with("path", dest.clone());
        }
        if let Some(src) = &self.src {
            plan = plan.with("src", src.clone());
        }
        if let Some(backup) = &edit.backup {
            plan = plan.with("backup_file", backup.clone());
        }
        if differs {
            if let Some(diff) = text_diff(&dest, before.as_deref().unwrap_or_default(), &content) {
                plan = plan.with_diff(diff);
            }
        }
        let plan = attribute_diff(plan, &edit.change);
        Ok(match &edit.facts {
            Some(facts) => facts.add_to(plan),
            None => plan,
        })
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
        let destination = self.destination(transport, Some(basename(&src))).await?;
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
            let mut new_facts = defaults.new_path("file", wanted_mode, &self.wanted());
            new_facts.size = Some(source.size);
            facts = new_facts;
            change = crate::file::AttributeChange::default();
        } else {
            let wanted = Wanted {
                mode: None,
                ..self.wanted()
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
        assert_eq!(plan.result["msg"], "file already exists");
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
        let error = fx
            .plan("copy", json!({"dest": fx.path("none/f"), "content": "x"}))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("Destination directory {} does not exist", fx.path("none"))
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

    #[test]
    fn json_content_like_python() {
        // Python: json.dumps({"a": [1, 2.5, None, True], "é": "x\"y"})
        assert_eq!(
            python_json(&json!({"a": [1, 2.5, null, true], "é": "x\"y"})),
            r#"{"a": [1, 2.5, null, true], "\u00e9": "x\"y"}"#
        );
    }
}
