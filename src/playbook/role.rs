//! Roles in Ansible's layout: tasks/, handlers/, defaults/, vars/, templates/, files/,
//! meta/main.yml.

use crate::diagnostic::{Diagnostic, Result};
use crate::node::Node;
use crate::template::VarMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A role as loaded for one use in a play: its variables and where its files live.
#[derive(Debug)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    pub defaults: Arc<VarMap>,
    pub vars: Arc<VarMap>,
    /// Parameters given where the role is used (`roles: [{role: x, port: 80}]`).
    pub params: Arc<VarMap>,
}

impl Role {
    /// Loads defaults/ and vars/ (main.yml, main.yaml, main, or a main/ directory).
    pub fn load(name: &str, path: &Path, params: VarMap) -> Result<Role> {
        Role::load_from(name, path, params, "main", "main")
    }

    /// Like [`Role::load`], with `defaults_from` and `vars_from` files.
    pub fn load_from(
        name: &str,
        path: &Path,
        params: VarMap,
        defaults_from: &str,
        vars_from: &str,
    ) -> Result<Role> {
        Ok(Role {
            name: name.to_string(),
            path: path.to_path_buf(),
            defaults: Arc::new(load_vars_main(&path.join("defaults"), defaults_from)?),
            vars: Arc::new(load_vars_main(&path.join("vars"), vars_from)?),
            params: Arc::new(params),
        })
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.path.join("tasks")
    }

    /// The file `tasks/main.yml` (or another entry point named by `tasks_from`).
    pub fn entry_file(&self, kind: &str, from: &str) -> Option<PathBuf> {
        find_main(&self.path.join(kind), from)
    }
}

/// `main.yml`, `main.yaml`, `main.json`, `main` or the directory `main/` under `dir`.
pub fn find_main(dir: &Path, name: &str) -> Option<PathBuf> {
    let name = name
        .trim_end_matches(".yml")
        .trim_end_matches(".yaml")
        .trim_end_matches(".json");
    for candidate in [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        format!("{name}.json"),
        name.to_string(),
    ] {
        let path = dir.join(&candidate);
        if path.exists() {
            return Some(path);
        }
    }
    None
}

/// Reads a vars file or, for a directory, every YAML file in it (sorted, recursively),
/// later files overriding earlier ones.
pub fn load_vars_main(dir: &Path, name: &str) -> Result<VarMap> {
    let Some(path) = find_main(dir, name) else {
        return Ok(VarMap::new());
    };
    load_vars_path(&path)
}

pub fn load_vars_path(path: &Path) -> Result<VarMap> {
    let mut vars = VarMap::new();
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Diagnostic::new(format!("cannot read `{}`: {e}", path.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_vars_file = entry.is_dir()
                || matches!(
                    entry.extension().and_then(|e| e.to_str()),
                    Some("yml" | "yaml" | "json")
                );
            if is_vars_file {
                vars.extend(load_vars_path(&entry)?);
            }
        }
        return Ok(vars);
    }
    let node = crate::yaml::load_file(path)?;
    vars_from_node(&node)
}

/// A vars file must be a mapping of names to values.
pub fn vars_from_node(node: &Node) -> Result<VarMap> {
    let mut vars = VarMap::new();
    if node.is_null() {
        return Ok(vars);
    }
    let entries = node.as_map().ok_or_else(|| {
        Diagnostic::at(
            format!("a vars file must hold a mapping, not {}", node.kind_name()),
            &node.span,
        )
    })?;
    for (key, value) in entries {
        let name = key
            .key_text()
            .ok_or_else(|| Diagnostic::at("variable names must be strings", &key.span))?;
        crate::playbook::task::check_variable_name(&name, &key.span)?;
        vars.insert(name, value.to_value());
    }
    Ok(vars)
}

/// Where roles are searched, in order: `roles/` beside the playbook, the playbook's own
/// directory, `RPLAY_ROLES_PATH`, then `ANSIBLE_ROLES_PATH` or ansible.cfg's `roles_path`,
/// then the usual system places.
pub fn search_path(playbook_dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![playbook_dir.join("roles"), playbook_dir.to_path_buf()];
    if let Ok(value) = std::env::var("RPLAY_ROLES_PATH") {
        paths.extend(
            value
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        );
    }
    paths.extend(crate::config::current().paths(&crate::config::ROLES_PATH));
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".ansible/roles"));
    }
    paths.push(PathBuf::from("/usr/share/ansible/roles"));
    paths.push(PathBuf::from("/etc/ansible/roles"));
    paths
}

/// Finds a role by name (or path) on the search path.
pub fn find_role(name: &str, search: &[PathBuf], span: &crate::source::Span) -> Result<PathBuf> {
    let direct = Path::new(name);
    if (direct.is_absolute() || name.contains('/')) && direct.join("tasks").is_dir() {
        return Ok(direct.to_path_buf());
    }
    // `namespace.collection.role` names resolve to the last part when installed flat.
    let short = name.rsplit('.').next().unwrap_or(name);
    for base in search {
        for candidate in [name, short] {
            let path = base.join(candidate);
            if path.is_dir() {
                return Ok(path);
            }
        }
    }
    let known: Vec<String> = search
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.filter_map(|e| e.ok()))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let searched: Vec<String> = search
        .iter()
        .take(4)
        .map(|p| crate::source::display_path(p))
        .collect();
    Err(Diagnostic::at(format!("role `{name}` was not found"), span)
        .suggest(name, known.iter().map(String::as_str))
        .with_help_fallback(format!(
            "searched {}; set RPLAY_ROLES_PATH to add a directory",
            searched.join(", ")
        )))
}

trait HelpFallback {
    fn with_help_fallback(self, help: String) -> Self;
}

impl HelpFallback for Diagnostic {
    fn with_help_fallback(self, help: String) -> Self {
        if self.help.is_none() {
            self.with_help(help)
        } else {
            self
        }
    }
}
