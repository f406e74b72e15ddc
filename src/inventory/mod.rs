//! The inventory: hosts, groups and their variables, read the way `ansible-playbook` reads
//! them, so an inventory written for Ansible means the same thing here.
//!
//! Sources are INI files ([`ini`]), YAML or JSON files ([`yaml_format`]), directories of
//! those, and comma-separated host lists (`-i web1,web2,`). Beside every source, and beside
//! the playbook, `group_vars/` and `host_vars/` add variables ([`vars_dirs`]). Host
//! patterns (`webservers:&staging:!web3`) are in [`pattern`]; `rplay inventory --list` and
//! `--graph` output is in [`listing`].
//!
//! Without a source, or when a source does not list it, `localhost` (also `127.0.0.1` and
//! `::1`) still exists implicitly with `ansible_connection: local`. As in Ansible it is
//! matched only by its own name: `hosts: all` never includes it.

mod ini;
mod listing;
mod literal;
pub mod pattern;
mod ranges;
mod sources;
mod vars_dirs;
mod yaml_format;

#[cfg(test)]
mod tests;

pub use listing::{python_json, ListOptions};
pub use pattern::Limit;
pub use ranges::{inventory_hostname_short, is_ip_address};

use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::source::{display_path, Span};
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use sources::absolute;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use vars_dirs::VarsDir;

/// The names Ansible treats as the control machine itself.
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// Ansible's `INTERNAL_STATIC_VARS`: magic variables that `--list` leaves out, even when
/// an inventory sets one.
const INTERNAL_VARIABLES: [&str; 33] = [
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// Hosts, groups and variables from every inventory source, merged.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// In the order they were first seen, which is the order `hosts()` reports.
    hosts: IndexMap<String, Host>,
    /// In the order they were first seen; `all` and `ungrouped` always come first.
    groups: IndexMap<String, Group>,
    /// `group_vars/` and `host_vars/` beside each inventory source, in source order.
    inventory_vars: Vec<VarsDir>,
    /// The same beside the playbook (and other play directories), later ones winning.
    playbook_vars: Vec<VarsDir>,
    /// The first host of the inventory whose name is one of [`LOCALHOST_NAMES`].
    localhost: Option<String>,
    /// Made on first use when the inventory has no localhost of its own.
    implicit_localhost: OnceLock<Host>,
    warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
struct Host {
    name: String,
    vars: IndexMap<String, Node>,
    /// Groups the host was put in directly, in order; ancestors are derived.
    groups: Vec<String>,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    vars: IndexMap<String, Node>,
    hosts: Vec<String>,
    children: Vec<String>,
    parents: Vec<String>,
    /// `ansible_group_priority`: among groups of the same depth, higher wins.
    priority: i64,
}

impl Group {
    fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            vars: IndexMap::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            priority: 1,
        }
    }
}

impl Host {
    fn new(name: &str) -> Host {
        Host {
            name: name.to_string(),
            vars: IndexMap::new(),
            groups: Vec::new(),
        }
    }
}

impl Inventory {
    /// No source at all: only the implicit `localhost` exists, and `all` is empty.
    pub fn implicit() -> Inventory {
        let mut inventory = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            inventory_vars: Vec::new(),
            playbook_vars: Vec::new(),
            localhost: None,
            implicit_localhost: OnceLock::new(),
            warnings: Vec::new(),
        };
        inventory.add_group("all");
        inventory.add_group("ungrouped");
        inventory
            .add_child("all", "ungrouped")
            .expect("`ungrouped` is a fresh child of `all`");
        inventory
    }

    /// Reads every source (`-i` may be given several times) into one inventory: a file,
    /// a directory of files, or (when no such path exists and it has a comma) a host list
    /// such as `web1,web2:2222,`. A source that is missing or cannot be read is an error,
    /// where Ansible would only warn and go on without it.
    pub fn load(paths: &[PathBuf]) -> Result<Inventory> {
        let mut inventory = Inventory::implicit();
        let mut parsed_any = false;
        for path in paths {
            let text = path.to_string_lossy();
            if !path.exists() && text.contains(',') {
                inventory.add_host_list(&text)?;
                parsed_any = true;
                continue;
            }
            if !path.exists() {
                return Err(Diagnostic::new(format!(
                    "inventory source `{}` does not exist",
                    display_path(path)
                )));
            }
            let source = absolute(path);
            parsed_any |= inventory.add_source(&source)?;
            let base = if source.is_dir() {
                source.clone()
            } else {
                source.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            inventory
                .inventory_vars
                .push(VarsDir::open(&base, &mut inventory.warnings));
        }
        if !paths.is_empty() && !parsed_any {
            inventory.warnings.push(Diagnostic::new(
                "no inventory was parsed, only implicit localhost is available",
            ));
        }
        inventory.reconcile();
        inventory.warn_about_names();
        inventory.load_vars_files()?;
        Ok(inventory)
    }

    /// Adds `group_vars/` and `host_vars/` found in `dir` (the playbook's directory).
    /// They take precedence over those beside the inventory, and over earlier calls.
    pub fn add_vars_dir(&mut self, dir: &Path) -> Result<()> {
        let vars_dir = VarsDir::open(&absolute(dir), &mut self.warnings);
        self.playbook_vars.push(vars_dir);
        self.load_vars_files()
    }

    /// What Ansible would have warned about while reading the sources.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Every host, in the order the sources first named them (not the implicit localhost).
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// Whether `name` is a host: one of the inventory's, or the implicit localhost.
    pub fn has_host(&self, name: &str) -> bool {
        self.host(name).is_some()
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    /// The `groups` magic variable: every group with its hosts, children's hosts included.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|name| (name.clone(), self.group_hosts(name)))
            .collect()
    }

    /// The `group_names` magic variable: the host's groups and their ancestors, sorted,
    /// without `all` (Ansible keeps `ungrouped`).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(host) = self.host(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .host_groups(host)
            .into_iter()
            .filter(|name| name != "all")
            .collect();
        names.sort();
        names
    }

    /// The host's variables from the inventory, `group_vars/` and `host_vars/`, merged by
    /// Ansible's precedence (a later layer replaces a whole value, dictionaries included):
    ///
    /// `all` in the inventory file < other groups in the inventory file (by depth, then
    /// `ansible_group_priority`, then name) < `group_vars/all` beside the inventory <
    /// `group_vars/all` beside the playbook < `group_vars/GROUP` beside the inventory <
    /// the same beside the playbook < the host's own variables in the inventory file <
    /// `host_vars/HOST` beside the inventory < the same beside the playbook.
    ///
    /// Magic variables (`inventory_hostname`, `group_names`, `groups`…) are not included,
    /// except `inventory_file` and `inventory_dir`, which Ansible stores as host variables.
    pub fn host_vars(&self, host: &str) -> IndexMap<String, Value> {
        self.host_var_nodes(host)
            .into_iter()
            .map(|(name, node)| (name, node.to_value()))
            .collect()
    }

    /// [`Inventory::host_vars`] with each value's node, so errors can point at it.
    pub fn host_var_nodes(&self, host: &str) -> IndexMap<String, Node> {
        let Some(host) = self.host(host) else {
            return IndexMap::new();
        };
        let mut groups: Vec<String> = self
            .host_groups(host)
            .into_iter()
            .filter(|name| name != "all")
            .collect();
        self.sort_groups(&mut groups);

        let mut merged = IndexMap::new();
        let mut layer = |vars: Option<&IndexMap<String, Node>>| {
            for (name, value) in vars.into_iter().flatten() {
                merged.insert(name.clone(), value.clone());
            }
        };
        layer(self.groups.get("all").map(|group| &group.vars));
        for group in &groups {
            layer(self.groups.get(group).map(|group| &group.vars));
        }
        for dir in self.vars_dirs() {
            layer(dir.group("all"));
        }
        for dir in self.vars_dirs() {
            for group in &groups {
                layer(dir.group(group));
            }
        }
        layer(Some(&host.vars));
        for dir in self.vars_dirs() {
            layer(dir.host(&host.name));
        }
        merged
    }

    /// A group's own variables: the inventory file's, then `group_vars/` beside the
    /// inventory and beside the playbook, plus `ansible_group_priority` when it is set.
    pub fn group_vars_of(&self, group: &str) -> IndexMap<String, Value> {
        self.group_var_nodes(group)
            .into_iter()
            .map(|(name, node)| (name, node.to_value()))
            .collect()
    }

    fn group_var_nodes(&self, group: &str) -> IndexMap<String, Node> {
        let Some(group) = self.groups.get(group) else {
            return IndexMap::new();
        };
        let mut merged = group.vars.clone();
        for dir in self.vars_dirs() {
            for (name, value) in dir.group(&group.name).into_iter().flatten() {
                merged.insert(name.clone(), value.clone());
            }
        }
        if group.priority != 1 {
            merged.insert(
                "ansible_group_priority".into(),
                Node::new(NodeValue::Int(group.priority), Span::none()),
            );
        }
        merged
    }

    /// Puts an existing host (the implicit localhost included) in a group, as `group_by`
    /// does; the group is made, under `all`, when it does not exist.
    pub fn add_host_to_group(&mut self, host: &str, group: &str) -> Result<()> {
        let Some(name) = self.host(host).map(|host| host.name.clone()) else {
            return Err(
                Diagnostic::new(format!("`{host}` cannot be matched in inventory"))
                    .suggest(host, self.hosts.keys().map(String::as_str)),
            );
        };
        self.add_group(group);
        self.add_to_group(&name, group);
        self.reconcile();
        self.load_vars_files()
    }

    /// Makes `group` (when new) a child of each of `parents`, making those when new.
    pub fn add_group_with_parents(&mut self, group: &str, parents: &[&str]) -> Result<()> {
        self.add_group(group);
        for parent in parents {
            self.add_group(parent);
            self.add_child(parent, group).map_err(Diagnostic::new)?;
        }
        self.reconcile();
        self.load_vars_files()
    }

    /// Adds a host as the `add_host` module does: a name the inventory does not list
    /// becomes a new host in `all` (which lists it first), its variables are set over any
    /// it had, and it joins every group named.
    pub fn add_runtime_host(
        &mut self,
        host: &str,
        groups: &[&str],
        vars: IndexMap<String, Value>,
    ) -> Result<()> {
        if host.is_empty() {
            return Err(Diagnostic::new("a host name must not be empty"));
        }
        if !self.hosts.contains_key(host) {
            self.add_host(host, Some("all"), None, None);
        }
        for (name, value) in vars {
            self.set_host_var(host, &name, Node::from_value(&value, &Span::none()));
        }
        for group in groups {
            self.add_group(group);
            self.add_to_group(host, group);
        }
        self.reconcile();
        self.load_vars_files()
    }

    fn implicit_name(&self) -> Option<&str> {
        self.implicit_localhost.get().map(|host| host.name.as_str())
    }

    fn host_entry_mut(&mut self, name: &str) -> Option<&mut Host> {
        if let Some(host) = self.hosts.get_mut(name) {
            return Some(host);
        }
        self.implicit_localhost
            .get_mut()
            .filter(|host| host.name == name)
    }

    /// The host called `name`, making the implicit localhost on first use.
    fn host(&self, name: &str) -> Option<&Host> {
        if let Some(host) = self.hosts.get(name) {
            return Some(host);
        }
        if !LOCALHOST_NAMES.contains(&name) {
            return None;
        }
        if let Some(localhost) = &self.localhost {
            return self.hosts.get(localhost);
        }
        Some(self.implicit_localhost.get_or_init(|| {
            let mut host = Host::new(name);
            host.vars.insert(
                "ansible_connection".into(),
                Node::string("local", Span::none()),
            );
            host
        }))
    }

    fn vars_dirs(&self) -> impl Iterator<Item = &VarsDir> {
        self.inventory_vars.iter().chain(&self.playbook_vars)
    }

    /// The host's groups and all their ancestors.
    fn host_groups(&self, host: &Host) -> IndexSet<String> {
        let mut found = IndexSet::new();
        let mut pending: Vec<String> = host.groups.clone();
        while let Some(name) = pending.pop() {
            if found.insert(name.clone()) {
                if let Some(group) = self.groups.get(&name) {
                    pending.extend(group.parents.iter().cloned());
                }
            }
        }
        found
    }

    /// Sorts as Ansible merges group variables: by depth, then priority, then name.
    fn sort_groups(&self, groups: &mut [String]) {
        let mut depths = HashMap::new();
        let keys: HashMap<String, (usize, i64)> = groups
            .iter()
            .map(|name| {
                let depth = self.depth(name, &mut depths);
                let priority = self.groups.get(name).map_or(1, |group| group.priority);
                (name.clone(), (depth, priority))
            })
            .collect();
        groups.sort_by(|a, b| keys[a].cmp(&keys[b]).then_with(|| a.cmp(b)));
    }

    /// The longest path from a group without parents, as Ansible's `Group.depth`.
    fn depth(&self, name: &str, memo: &mut HashMap<String, usize>) -> usize {
        if let Some(depth) = memo.get(name) {
            return *depth;
        }
        let parents = self
            .groups
            .get(name)
            .map(|group| group.parents.clone())
            .unwrap_or_default();
        let depth = parents
            .iter()
            .map(|parent| self.depth(parent, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(name.to_string(), depth);
        depth
    }

    /// A group's hosts, its own first, then its children's level by level, each once.
    /// `all` never includes the implicit localhost (which is in no group's host list
    /// unless `group_by` put it there).
    fn group_hosts(&self, name: &str) -> Vec<String> {
        let Some(group) = self.groups.get(name) else {
            return Vec::new();
        };
        let mut order = vec![group.name.clone()];
        let mut seen: IndexSet<String> = IndexSet::new();
        let mut level: Vec<String> = group.children.clone();
        while !level.is_empty() {
            let mut next = Vec::new();
            for child in level {
                if seen.insert(child.clone()) {
                    order.push(child.clone());
                    if let Some(group) = self.groups.get(&child) {
                        next.extend(group.children.iter().cloned());
                    }
                }
            }
            level = next;
        }
        let implicit = self.implicit_name();
        let mut hosts = IndexSet::new();
        for group in order {
            for host in self
                .groups
                .get(&group)
                .map(|g| g.hosts.as_slice())
                .unwrap_or_default()
            {
                if name == "all" && Some(host.as_str()) == implicit {
                    continue;
                }
                hosts.insert(host.clone());
            }
        }
        hosts.into_iter().collect()
    }

    // ---- building, used by the source readers ----

    fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), Group::new(name));
        }
    }

    /// Adds a host (when new) and puts it in `group`. The port and source are recorded
    /// only when the host is new, as Ansible does.
    fn add_host(
        &mut self,
        name: &str,
        group: Option<&str>,
        port: Option<u64>,
        source: Option<&str>,
    ) {
        if !self.hosts.contains_key(name) {
            let mut host = Host::new(name);
            if let Some(port) = port.filter(|port| *port != 0) {
                let port = i64::try_from(port).unwrap_or(i64::MAX);
                host.vars.insert(
                    "ansible_port".into(),
                    Node::new(NodeValue::Int(port), Span::none()),
                );
            }
            let (file, dir) = match source {
                Some(source) => {
                    let path = Path::new(source);
                    let dir = if path.is_dir() {
                        Some(path)
                    } else {
                        path.parent().filter(|_| path.is_file())
                    };
                    (
                        Node::string(source, Span::none()),
                        dir.map_or(Node::null(Span::none()), |dir| {
                            Node::string(dir.to_string_lossy(), Span::none())
                        }),
                    )
                }
                None => (Node::null(Span::none()), Node::null(Span::none())),
            };
            host.vars.insert("inventory_file".into(), file);
            host.vars.insert("inventory_dir".into(), dir);
            self.hosts.insert(name.to_string(), host);
            if LOCALHOST_NAMES.contains(&name) && self.localhost.is_none() {
                self.localhost = Some(name.to_string());
            }
        }
        if let Some(group) = group {
            self.add_to_group(name, group);
        }
    }

    fn add_to_group(&mut self, host: &str, group: &str) {
        if !self.groups.contains_key(group) {
            return;
        }
        // A host's own short list of groups answers whether it is in this one: the group's
        // list of hosts may hold tens of thousands (`web[0:99999]`), and searching it for
        // every host added made a large range quadratic. Both lists change only together,
        // here and in `remove_from_group`.
        let member = match self.host_entry_mut(host) {
            Some(entry) => entry.groups.iter().any(|name| name == group),
            None => self.groups[group].hosts.iter().any(|name| name == host),
        };
        if member {
            return;
        }
        let entry = self.groups.get_mut(group).expect("checked above");
        entry.hosts.push(host.to_string());
        if let Some(host) = self.host_entry_mut(host) {
            if !host.groups.iter().any(|name| name == group) {
                host.groups.push(group.to_string());
            }
        }
    }

    fn remove_from_group(&mut self, host: &str, group: &str) {
        if let Some(entry) = self.groups.get_mut(group) {
            entry.hosts.retain(|name| name != host);
        }
        if let Some(host) = self.hosts.get_mut(host) {
            host.groups.retain(|name| name != group);
        }
    }

    /// Makes `child` (a group, or else a host) a member of `parent`.
    fn add_child(&mut self, parent: &str, child: &str) -> std::result::Result<(), String> {
        if !self.groups.contains_key(parent) {
            return Err(format!("`{parent}` is not a known group"));
        }
        if !self.groups.contains_key(child) {
            if self.hosts.contains_key(child) {
                self.add_to_group(child, parent);
                return Ok(());
            }
            return Err(format!("`{child}` is not a known host nor group"));
        }
        if parent == child {
            return Err(format!("group `{child}` cannot be a child of itself"));
        }
        if self.groups[parent]
            .children
            .iter()
            .any(|name| name == child)
        {
            return Ok(());
        }
        if self.is_ancestor(child, parent) {
            return Err(format!(
                "adding group `{child}` as child to `{parent}` creates a recursive dependency loop"
            ));
        }
        self.groups[parent].children.push(child.to_string());
        let child = &mut self.groups[child];
        if !child.parents.iter().any(|name| name == parent) {
            child.parents.push(parent.to_string());
        }
        Ok(())
    }

    fn is_ancestor(&self, candidate: &str, of: &str) -> bool {
        let mut pending = self.groups[of].parents.clone();
        let mut seen = IndexSet::new();
        while let Some(name) = pending.pop() {
            if name == candidate {
                return true;
            }
            if seen.insert(name.clone()) {
                pending.extend(self.groups[&name].parents.iter().cloned());
            }
        }
        false
    }

    fn set_group_var(&mut self, group: &str, name: &str, value: Node) -> Result<()> {
        let Some(entry) = self.groups.get_mut(group) else {
            return Ok(());
        };
        if name != "ansible_group_priority" {
            entry.vars.insert(name.to_string(), value);
            return Ok(());
        }
        let priority = match &value.value {
            NodeValue::Int(number) => Some(*number),
            NodeValue::Bool(flag) => Some(i64::from(*flag)),
            NodeValue::Float(number) if number.is_finite() => Some(number.trunc() as i64),
            NodeValue::String(text) => ranges::python_int(text),
            _ => None,
        };
        entry.priority = priority.ok_or_else(|| {
            Diagnostic::at("`ansible_group_priority` must be an integer", &value.span)
        })?;
        Ok(())
    }

    fn set_host_var(&mut self, host: &str, name: &str, value: Node) {
        if let Some(entry) = self.hosts.get_mut(host) {
            entry.vars.insert(name.to_string(), value);
        }
    }

    /// Ansible's `reconcile_inventory`: every group without a parent goes under `all`;
    /// a host in no group goes to `ungrouped`, and leaves it once it is in another.
    fn reconcile(&mut self) {
        let orphans: Vec<String> = self
            .groups
            .values()
            .filter(|group| group.name != "all" && group.parents.is_empty())
            .map(|group| group.name.clone())
            .collect();
        for group in orphans {
            let _ = self.add_child("all", &group);
        }
        let hosts: Vec<(String, Vec<String>)> = self
            .hosts
            .values()
            .map(|host| (host.name.clone(), host.groups.clone()))
            .collect();
        for (host, groups) in hosts {
            let in_ungrouped = groups.iter().any(|group| group == "ungrouped");
            let elsewhere = groups
                .iter()
                .any(|group| group != "all" && group != "ungrouped");
            if in_ungrouped && elsewhere {
                self.remove_from_group(&host, "ungrouped");
            } else if !in_ungrouped && !elsewhere {
                self.add_to_group(&host, "ungrouped");
            }
        }
    }

    fn warn_about_names(&mut self) {
        let invalid: Vec<String> = self
            .groups
            .keys()
            .filter(|name| {
                name.starts_with(|c: char| c.is_numeric())
                    || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
            .cloned()
            .collect();
        for name in invalid {
            self.warnings.push(
                Diagnostic::new(format!(
                    "group name `{name}` has characters that are invalid in variable names"
                ))
                .with_help("Ansible keeps such names but warns; `_` instead of `-` or `.` avoids surprises"),
            );
        }

        let clashes: Vec<String> = self
            .groups
            .keys()
            .filter(|name| self.hosts.contains_key(*name))
            .cloned()
            .collect();
        for name in clashes {
            self.warnings.push(Diagnostic::new(format!(
                "found both group and host with the same name: `{name}`"
            )));
        }
    }

    /// Loads `group_vars/` and `host_vars/` files for every known group and host name.
    fn load_vars_files(&mut self) -> Result<()> {
        let mut groups: Vec<String> = self.groups.keys().cloned().collect();
        groups.push("all".into());
        let mut hosts: Vec<String> = self.hosts.keys().cloned().collect();
        hosts.extend(LOCALHOST_NAMES.iter().map(|name| name.to_string()));
        for dir in self
            .inventory_vars
            .iter_mut()
            .chain(self.playbook_vars.iter_mut())
        {
            dir.load(&groups, &hosts)?;
        }
        Ok(())
    }
}
