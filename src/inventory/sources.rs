//! Reading inventory sources: directories, files (YAML or INI, told apart as Ansible's
//! plugins do) and comma-separated host lists.

use super::{ini, ranges, yaml_format, Inventory};
use crate::diagnostic::{Diagnostic, Result};
use crate::source::{display_path, SourceFile};
use std::path::{Component, Path, PathBuf};

impl Inventory {
    /// A source that is a directory: every entry, sorted, skipping what Ansible skips.
    pub(super) fn add_source(&mut self, path: &Path) -> Result<bool> {
        if !path.is_dir() {
            return self.add_file(path);
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|error| {
                Diagnostic::new(format!("cannot read `{}`: {error}", display_path(path)))
            })?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        entries.sort();
        let mut parsed = false;
        for entry in entries {
            let name = entry.file_name().unwrap_or_default().to_string_lossy();
            if is_ignored_in_directory(&name) {
                continue;
            }
            parsed |= self.add_source(&entry)?;
        }
        if !parsed {
            self.warnings.push(Diagnostic::new(format!(
                "unable to parse `{}` as an inventory source",
                display_path(path)
            )));
        }
        Ok(parsed)
    }

    /// One file: YAML when its extension says so (or it has none) and it reads as a
    /// mapping of groups; INI otherwise, as Ansible's plugins try them in that order.
    fn add_file(&mut self, path: &Path) -> Result<bool> {
        let bytes = crate::source::read_input(path).map_err(Diagnostic::new)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.starts_with("#!") && is_executable(path) {
            return Err(Diagnostic::new(format!(
                "`{}` is an inventory script, which rplay does not run",
                display_path(path)
            ))
            .with_help("run it once and save its `--list` output as a JSON inventory"));
        }
        let file = SourceFile::new(path, text);
        let source = path.to_string_lossy().into_owned();
        let extension = path
            .extension()
            .map(|ext| ext.to_string_lossy().to_lowercase());
        let yaml_extension = matches!(extension.as_deref(), Some("yml" | "yaml" | "json"));
        let mut yaml_error = None;
        if extension.is_none() || yaml_extension {
            match yaml_format::read(&file) {
                Ok(root) => {
                    yaml_format::parse(self, &root, &source)?;
                    return Ok(true);
                }
                Err(error) => yaml_error = Some(error),
            }
        }
        // Parse into a copy so a failed attempt leaves nothing half-read behind.
        let mut attempt = self.clone();
        match ini::parse(&mut attempt, &file, &source) {
            Ok(()) => {
                *self = attempt;
                Ok(true)
            }
            Err(ini_error) => match yaml_error {
                Some(yaml_error) if yaml_extension || yaml_error.looked_like_yaml => {
                    Err(yaml_error.diagnostic)
                }
                _ => Err(ini_error),
            },
        }
    }

    /// An inventory from INI text alone, as a file named `name` would give (for tests and
    /// fuzzing; files go through [`Inventory::load`]).
    pub fn from_ini_text(name: &str, text: &str) -> Result<Inventory> {
        let mut inventory = Inventory::implicit();
        ini::parse(&mut inventory, &SourceFile::new(name, text), name)?;
        Ok(inventory)
    }

    /// An inventory from YAML text alone, as [`Inventory::from_ini_text`] for INI.
    pub fn from_yaml_text(name: &str, text: &str) -> Result<Inventory> {
        let mut inventory = Inventory::implicit();
        let root = yaml_format::read(&SourceFile::new(name, text)).map_err(|e| e.diagnostic)?;
        yaml_format::parse(&mut inventory, &root, name)?;
        Ok(inventory)
    }

    /// `-i web1,web2:2222,` : hosts in `ungrouped`.
    pub(super) fn add_host_list(&mut self, list: &str) -> Result<()> {
        for item in list.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, port) = match ranges::parse_address(item, false) {
                Some((name, port)) => (name, port),
                None => (item.to_string(), None),
            };
            if !self.hosts.contains_key(&name) {
                self.add_host(&name, Some("ungrouped"), port, Some(list));
            }
        }
        Ok(())
    }
}

/// Names Ansible skips in an inventory directory: hidden files, `group_vars`,
/// `host_vars`, `vars_plugins`, and backup or documentation extensions.
fn is_ignored_in_directory(name: &str) -> bool {
    const IGNORED_ENDINGS: [&str; 12] = [
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.')
        || matches!(name, "group_vars" | "host_vars" | "vars_plugins")
        || IGNORED_ENDINGS.iter().any(|ending| name.ends_with(ending))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// An absolute path with `.` and `..` resolved by text, as Ansible's `unfrackpath`
/// (symbolic links are kept).
pub(super) fn absolute(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normal = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other.as_os_str()),
        }
    }
    normal
}
