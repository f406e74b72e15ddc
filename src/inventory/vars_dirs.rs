//! `group_vars/` and `host_vars/` beside an inventory source or a playbook, found the way
//! Ansible's `host_group_vars` plugin finds them.
//!
//! For a group `web` the first of `group_vars/web`, `web.yml`, `web.yaml` and `web.json`
//! that exists is used; when it is a directory, every file inside it (recursively, sorted,
//! skipping hidden files, backups ending in `~` and extensions other than none, `.yml`,
//! `.yaml` and `.json`) is read in turn, later files replacing earlier variables.

use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::source::{display_path, SourceFile};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const VARS_EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

type Variables = IndexMap<String, Node>;

/// The variables files under one directory, loaded per group and host name on demand.
#[derive(Debug, Clone)]
pub(super) struct VarsDir {
    group_dir: Option<PathBuf>,
    host_dir: Option<PathBuf>,
    groups: HashMap<String, Option<Variables>>,
    hosts: HashMap<String, Option<Variables>>,
}

impl VarsDir {
    /// Looks for `group_vars/` and `host_vars/` in `base`; what is missing is skipped.
    pub(super) fn open(base: &Path, warnings: &mut Vec<Diagnostic>) -> VarsDir {
        let mut subdir = |kind: &str| {
            let path = base.join(kind);
            if path.is_dir() {
                Some(path)
            } else {
                if path.exists() {
                    warnings.push(Diagnostic::new(format!(
                        "found `{kind}` that is not a directory, skipping: `{}`",
                        display_path(&path)
                    )));
                }
                None
            }
        };
        VarsDir {
            group_dir: subdir("group_vars"),
            host_dir: subdir("host_vars"),
            groups: HashMap::new(),
            hosts: HashMap::new(),
        }
    }

    /// Reads the files of every name not read yet.
    pub(super) fn load(&mut self, groups: &[String], hosts: &[String]) -> Result<()> {
        load_names(self.group_dir.as_deref(), groups, &mut self.groups)?;
        load_names(self.host_dir.as_deref(), hosts, &mut self.hosts)
    }

    pub(super) fn group(&self, name: &str) -> Option<&Variables> {
        self.groups.get(name)?.as_ref()
    }

    pub(super) fn host(&self, name: &str) -> Option<&Variables> {
        self.hosts.get(name)?.as_ref()
    }
}

fn load_names(
    dir: Option<&Path>,
    names: &[String],
    loaded: &mut HashMap<String, Option<Variables>>,
) -> Result<()> {
    let Some(dir) = dir else {
        return Ok(());
    };
    for name in names {
        if loaded.contains_key(name) {
            continue;
        }
        let files = find_vars_files(dir, name);
        let variables = if files.is_empty() {
            None
        } else {
            let mut variables = Variables::new();
            for file in files {
                load_vars_file(&file, &mut variables)?;
            }
            Some(variables)
        };
        loaded.insert(name.clone(), variables);
    }
    Ok(())
}

/// `NAME`, `NAME.yml`, `NAME.yaml` or `NAME.json`, the first that exists; a directory
/// gives all its variables files.
fn find_vars_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    // Ansible skips names that are absolute paths (chroot-style host names).
    if name.is_empty() || name.starts_with('/') {
        return Vec::new();
    }
    for extension in ["", ".yml", ".yaml", ".json"] {
        let path = dir.join(format!("{name}{extension}"));
        if path.exists() {
            if path.is_dir() {
                let mut found = Vec::new();
                files_in(&path, &mut found);
                return found;
            }
            return vec![path];
        }
    }
    Vec::new()
}

fn files_in(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    for name in names {
        let text = name.to_string_lossy();
        if text.starts_with('.') || text.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let extension = Path::new(&name)
            .extension()
            .map(|ext| ext.to_string_lossy().into_owned());
        match extension {
            None if path.is_dir() => files_in(&path, found),
            None if path.is_file() => found.push(path),
            Some(ext) if path.is_file() && VARS_EXTENSIONS.contains(&ext.as_str()) => {
                found.push(path)
            }
            _ => {}
        }
    }
}

fn load_vars_file(path: &Path, variables: &mut Variables) -> Result<()> {
    let text = crate::vault::read_to_string(path).map_err(Diagnostic::new)?;
    let node = crate::yaml::load_str(SourceFile::new(path, text))?;
    // Ansible ignores a file whose data is empty or false, whatever its type.
    let empty = match &node.value {
        NodeValue::Null => true,
        NodeValue::Bool(flag) => !flag,
        NodeValue::Int(number) => *number == 0,
        NodeValue::Float(number) => *number == 0.0,
        NodeValue::String(text) | NodeValue::Unsafe(text) => text.is_empty(),
        NodeValue::Seq(items) => items.is_empty(),
        NodeValue::Map(entries) => entries.is_empty(),
        NodeValue::Vault(_) | NodeValue::Timestamp(_) => false,
    };
    if empty {
        return Ok(());
    }
    let Some(entries) = node.as_map() else {
        return Err(Diagnostic::at(
            format!(
                "`{}` must hold a mapping of variables, found {}",
                display_path(path),
                node.kind_name()
            ),
            &node.span,
        ));
    };
    for (key, value) in entries {
        variables.insert(key.key_text().unwrap_or_default(), value.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn names(files: Vec<PathBuf>, base: &Path) -> Vec<String> {
        files
            .iter()
            .map(|file| file.strip_prefix(base).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_name_without_extension_wins_and_directories_are_read_recursively() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        write(&dir.join("web/02"), "a: 2\n");
        write(&dir.join("web/01.yml"), "a: 1\n");
        write(&dir.join("web/sub/x.yaml"), "b: 1\n");
        write(&dir.join("web/notes.txt"), "c: 1\n");
        write(&dir.join("web/backup.yml~"), "c: 1\n");
        write(&dir.join("web/.hidden.yml"), "c: 1\n");
        write(&dir.join("web/skipped.d/x.yml"), "c: 1\n");
        write(&dir.join("web.yml"), "never: read\n");
        write(&dir.join("db.yaml"), "a: 1\n");
        write(&dir.join("db.json"), "{}\n");
        assert_eq!(
            names(find_vars_files(dir, "web"), dir),
            ["web/01.yml", "web/02", "web/sub/x.yaml"]
        );
        assert_eq!(names(find_vars_files(dir, "db"), dir), ["db.yaml"]);
        assert!(find_vars_files(dir, "none").is_empty());
    }

    #[test]
    fn refuses_a_file_that_is_not_a_mapping() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("all.yml");
        write(&path, "- a\n- b\n");
        let error = load_vars_file(&path, &mut Variables::new()).unwrap_err();
        assert!(
            error
                .message
                .ends_with("all.yml` must hold a mapping of variables, found a list"),
            "{}",
            error.message
        );
        assert_eq!(
            (
                error.span.as_ref().unwrap().line,
                error.span.as_ref().unwrap().column
            ),
            (1, 1)
        );
        write(&path, "---\n");
        load_vars_file(&path, &mut Variables::new()).unwrap();
    }
}
