//! `containerd_config`: writes containerd's `config.toml` for Kubernetes nodes, and the
//! `hosts.toml` files of registry mirrors.
//!
//! The file is built in three layers: the output of `containerd config default` of the
//! containerd installed on the host (so every key the daemon knows is there, in the layout
//! of its version), then what the existing file already says (settings someone put there by
//! hand survive), then the settings of the task. The existing file is the base when it has
//! the layout of the installed containerd: its comments and formatting stay, keys it lacks
//! are added from the defaults. A file of another layout (a `version = 2` file under
//! containerd 2.x, the `disabled_plugins = ["cri"]` file of Docker's package, which has no
//! version) is not merged, since its keys would land where that containerd does not read
//! them; the result's `warnings` say so. The CRI plugin is always taken out of
//! `disabled_plugins`: a Kubernetes node needs it.
//!
//! Both layouts are handled: containerd 1.x (`version = 2`, everything under the plugin
//! `io.containerd.grpc.v1.cri`) and containerd 2.x (`version = 3`, the plugins
//! `io.containerd.cri.v1.runtime` and `io.containerd.cri.v1.images`). The typed settings
//! go where each layout keeps them:
//!
//! | setting                       | containerd 1.x (`grpc.v1.cri` …)          | containerd 2.x                                  |
//! |-------------------------------|-------------------------------------------|-------------------------------------------------|
//! | `systemd_cgroup`              | `containerd.runtimes.runc.options.SystemdCgroup` | `cri.v1.runtime` `containerd.runtimes.runc.options.SystemdCgroup` |
//! | `sandbox_image`               | `sandbox_image`                           | `cri.v1.images` `pinned_images.sandbox`         |
//! | `config_path`                 | `registry.config_path`                    | `cri.v1.images` `registry.config_path`          |
//! | `default_runtime`             | `containerd.default_runtime_name`         | `cri.v1.runtime` `containerd.default_runtime_name` |
//! | `runtimes`                    | `containerd.runtimes.NAME`                | `cri.v1.runtime` `containerd.runtimes.NAME`     |
//! | `snapshotter`                 | `containerd.snapshotter`                  | `cri.v1.images` `snapshotter`                   |
//! | `max_container_log_line_size` | `max_container_log_line_size`             | `cri.v1.runtime` `max_container_log_line_size`  |
//!
//! `settings` reaches anything else: TOML dotted paths (quote the parts that hold dots)
//! and their values, applied after the typed settings; a map value is merged into the table
//! at that path, `null` removes the key.
//!
//! Registry mirrors are written the modern way, one `hosts.toml` per registry under
//! `config_path` (`/etc/containerd/certs.d` unless set; with several directories joined by
//! `:`, the first), and `config_path` is set in `config.toml`. A registry dropped from
//! `registry_mirrors` keeps its `hosts.toml`: remove it with `file: state=absent`.
//!
//! Nothing needs doing when the rendered files are byte for byte what the host has; the
//! rendering is deterministic, so a second run changes nothing. containerd reads its
//! configuration only when it starts: restart it from a handler.
//!
//! ```yaml
//! - name: Configure containerd for the kubelet
//!   containerd_config:
//!     systemd_cgroup: true
//!     sandbox_image: registry.k8s.io/pause:3.10
//!     registry_mirrors:
//!       docker.io: [https://mirror.gcr.io]
//!     runtimes:
//!       - name: nvidia
//!         binary_name: /usr/bin/nvidia-container-runtime
//!     settings:
//!       "plugins.'io.containerd.grpc.v1.cri'.cni.bin_dir": /usr/lib/cni
//!   notify: Restart containerd
//!
//! # handlers:
//! - name: Restart containerd
//!   systemd_service: {name: containerd, state: restarted}
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::{dirname, join_path, text_diff};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Key, Table, TableLike, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "containerd_config",
    aliases: &["rplay.kubernetes.containerd_config"],
    doc: include_str!("containerd_config.rs"),
    free_form: None,
    build: crate::registry::build::<ContainerdConfigArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerdConfigArgs {
    /// The configuration file containerd reads.
    #[serde(default = "default_path", alias = "dest")]
    pub path: String,
    /// Let systemd manage the cgroups of runc containers (what the kubelet's `systemd`
    /// cgroup driver needs).
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub systemd_cgroup: Option<bool>,
    /// The pause image of pod sandboxes (`registry.k8s.io/pause:3.10`).
    #[serde(default)]
    pub sandbox_image: Option<String>,
    /// Registry name (`docker.io`, `registry.example:5000`, `_default`) to its mirrors: URLs,
    /// or maps with `url`, `capabilities` (default pull and resolve), `skip_verify`, `ca`,
    /// `override_path`. Written as `CONFIG_PATH/REGISTRY/hosts.toml`.
    #[serde(default)]
    pub registry_mirrors: indexmap::IndexMap<String, Vec<MirrorEndpoint>>,
    /// Where containerd looks for `hosts.toml` files; default `/etc/containerd/certs.d`
    /// when `registry_mirrors` is given.
    #[serde(default)]
    pub config_path: Option<String>,
    /// The runtime pods get when they name no runtime class (`runc`, or one of `runtimes`).
    #[serde(default)]
    pub default_runtime: Option<String>,
    /// Extra runtimes (runtime classes): `name`, `runtime_type` (default
    /// `io.containerd.runc.v2`), `binary_name`, `systemd_cgroup` (default: the task's),
    /// `options` (more keys of the runtime's options table).
    #[serde(default)]
    pub runtimes: Vec<Runtime>,
    /// The snapshotter images are unpacked with (`overlayfs`, `native`, `zfs`…).
    #[serde(default)]
    pub snapshotter: Option<String>,
    /// The longest container log line in bytes before it is split; -1 for no limit.
    #[serde(default)]
    pub max_container_log_line_size: Option<i64>,
    /// TOML dotted paths to values for anything else; a map merges into the table, `null`
    /// removes the key.
    #[serde(default)]
    pub settings: Map<String, Json>,
}

fn default_path() -> String {
    "/etc/containerd/config.toml".to_string()
}

/// One runtime handler of the CRI plugin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// The handler name, which a `RuntimeClass` names.
    pub name: String,
    /// The shim containerd starts.
    #[serde(default = "runc_v2")]
    pub runtime_type: String,
    /// The OCI runtime binary the shim runs (`options.BinaryName`).
    #[serde(default)]
    pub binary_name: Option<String>,
    /// `options.SystemdCgroup`; the task's `systemd_cgroup` when not given.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub systemd_cgroup: Option<bool>,
    /// Any other keys of the runtime's `options` table.
    #[serde(default)]
    pub options: Map<String, Json>,
}

fn runc_v2() -> String {
    "io.containerd.runc.v2".to_string()
}

/// A registry mirror: a URL, or a URL with its `hosts.toml` settings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MirrorEndpoint {
    Url(String),
    Host(MirrorHost),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorHost {
    /// The mirror's URL (`https://mirror.example`).
    pub url: String,
    /// What the mirror may do: `pull`, `resolve`, `push`.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Accept the mirror's TLS certificate without checking it.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub skip_verify: Option<bool>,
    /// A CA certificate file on the host for the mirror's TLS certificate.
    #[serde(default)]
    pub ca: Option<String>,
    /// The URL already holds the API path (`/v2` is not appended).
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub override_path: Option<bool>,
}

impl MirrorEndpoint {
    fn url(&self) -> &str {
        match self {
            MirrorEndpoint::Url(url) => url,
            MirrorEndpoint::Host(host) => &host.url,
        }
    }
}

impl Args for ContainerdConfigArgs {
    fn validate(&self) -> Result<(), ArgError> {
        for (registry, endpoints) in &self.registry_mirrors {
            if registry.is_empty()
                || registry == "."
                || registry == ".."
                || registry.contains(['/', '\0'])
            {
                return Err(ArgError::new(format!(
                    "`{registry}` is not a registry name (a host name with an optional port, or `_default`)"
                ))
                .at("registry_mirrors"));
            }
            if endpoints.iter().any(|endpoint| endpoint.url().is_empty()) {
                return Err(
                    ArgError::new(format!("a mirror of `{registry}` has no URL"))
                        .at("registry_mirrors"),
                );
            }
        }
        if self.config_path.as_deref() == Some("") {
            return Err(ArgError::new("`config_path` must not be empty").at("config_path"));
        }
        for (index, runtime) in self.runtimes.iter().enumerate() {
            if runtime.name.is_empty() {
                return Err(
                    ArgError::new(format!("runtime {} has an empty `name`", index + 1))
                        .at("runtimes"),
                );
            }
        }
        for (path, value) in &self.settings {
            let parts = parse_key_path(path).map_err(|e| ArgError::new(e).at("settings"))?;
            flatten(parts, value, &mut Vec::new())
                .map_err(|e| ArgError::new(format!("`{path}`: {e}")).at("settings"))?;
        }
        Ok(())
    }
}

/// The two configuration layouts containerd reads, named by their `version` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// containerd 1.x: the whole CRI configuration under `io.containerd.grpc.v1.cri`.
    V2,
    /// containerd 2.x: the CRI configuration split into a runtime and an images plugin.
    V3,
}

impl Layout {
    fn version(self) -> i64 {
        match self {
            Layout::V2 => 2,
            Layout::V3 => 3,
        }
    }

    /// The table of the CRI plugin that holds `containerd.runtimes`.
    fn runtime_plugin(self) -> Vec<String> {
        match self {
            Layout::V2 => path(&["plugins", "io.containerd.grpc.v1.cri"]),
            Layout::V3 => path(&["plugins", "io.containerd.cri.v1.runtime"]),
        }
    }

    /// The table of the CRI plugin that holds the image settings.
    fn images_plugin(self) -> Vec<String> {
        match self {
            Layout::V2 => path(&["plugins", "io.containerd.grpc.v1.cri"]),
            Layout::V3 => path(&["plugins", "io.containerd.cri.v1.images"]),
        }
    }

    fn runtimes(self) -> Vec<String> {
        concat(self.runtime_plugin(), &["containerd", "runtimes"])
    }

    fn default_runtime_name(self) -> Vec<String> {
        concat(
            self.runtime_plugin(),
            &["containerd", "default_runtime_name"],
        )
    }

    fn sandbox_image(self) -> Vec<String> {
        match self {
            Layout::V2 => concat(self.images_plugin(), &["sandbox_image"]),
            Layout::V3 => concat(self.images_plugin(), &["pinned_images", "sandbox"]),
        }
    }

    fn snapshotter(self) -> Vec<String> {
        match self {
            Layout::V2 => concat(self.images_plugin(), &["containerd", "snapshotter"]),
            Layout::V3 => concat(self.images_plugin(), &["snapshotter"]),
        }
    }

    fn registry(self) -> Vec<String> {
        concat(self.images_plugin(), &["registry"])
    }

    fn max_container_log_line_size(self) -> Vec<String> {
        concat(self.runtime_plugin(), &["max_container_log_line_size"])
    }
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| part.to_string()).collect()
}

fn concat(mut base: Vec<String>, parts: &[&str]) -> Vec<String> {
    base.extend(parts.iter().map(|part| part.to_string()));
    base
}

/// One change to the merged document.
#[derive(Debug, Clone)]
enum Edit {
    /// Set the key to this value.
    Set(Value),
    /// Make sure a (possibly empty) table exists at the path.
    Table,
    /// Remove the key.
    Remove,
}

impl ContainerdConfigArgs {
    /// Where `hosts.toml` files go, and the value `config_path` gets in `config.toml`.
    fn registry_config_path(&self) -> Option<String> {
        match &self.config_path {
            Some(config_path) => Some(config_path.clone()),
            None if !self.registry_mirrors.is_empty() => {
                Some("/etc/containerd/certs.d".to_string())
            }
            None => None,
        }
    }

    /// The typed settings as edits of the layout, then `settings`.
    fn edits(&self, layout: Layout) -> Result<Vec<(Vec<String>, Edit)>, String> {
        let mut edits = Vec::new();
        let runtimes = layout.runtimes();
        if let Some(systemd) = self.systemd_cgroup {
            edits.push((
                concat(runtimes.clone(), &["runc", "options", "SystemdCgroup"]),
                Edit::Set(Value::from(systemd)),
            ));
        }
        if let Some(image) = &self.sandbox_image {
            edits.push((
                layout.sandbox_image(),
                Edit::Set(Value::from(image.as_str())),
            ));
        }
        if let Some(config_path) = self.registry_config_path() {
            edits.push((
                concat(layout.registry(), &["config_path"]),
                Edit::Set(Value::from(config_path)),
            ));
        }
        if let Some(snapshotter) = &self.snapshotter {
            edits.push((
                layout.snapshotter(),
                Edit::Set(Value::from(snapshotter.as_str())),
            ));
        }
        if let Some(size) = self.max_container_log_line_size {
            edits.push((
                layout.max_container_log_line_size(),
                Edit::Set(Value::from(size)),
            ));
        }
        for runtime in &self.runtimes {
            let table = concat(runtimes.clone(), &[runtime.name.as_str()]);
            edits.push((
                concat(table.clone(), &["runtime_type"]),
                Edit::Set(Value::from(runtime.runtime_type.as_str())),
            ));
            let options = concat(table, &["options"]);
            edits.push((options.clone(), Edit::Table));
            if let Some(binary) = &runtime.binary_name {
                edits.push((
                    concat(options.clone(), &["BinaryName"]),
                    Edit::Set(Value::from(binary.as_str())),
                ));
            }
            if let Some(systemd) = runtime.systemd_cgroup.or(self.systemd_cgroup) {
                edits.push((
                    concat(options.clone(), &["SystemdCgroup"]),
                    Edit::Set(Value::from(systemd)),
                ));
            }
            for (key, value) in &runtime.options {
                flatten(concat(options.clone(), &[key.as_str()]), value, &mut edits)?;
            }
        }
        if let Some(name) = &self.default_runtime {
            edits.push((
                layout.default_runtime_name(),
                Edit::Set(Value::from(name.as_str())),
            ));
        }
        for (key_path, value) in &self.settings {
            flatten(parse_key_path(key_path)?, value, &mut edits)?;
        }
        Ok(edits)
    }
}

/// A settings value as edits: a map merges key by key into the table at `at`.
fn flatten(
    at: Vec<String>,
    value: &Json,
    edits: &mut Vec<(Vec<String>, Edit)>,
) -> Result<(), String> {
    match value {
        Json::Object(map) => {
            edits.push((at.clone(), Edit::Table));
            for (key, value) in map {
                let mut inner = at.clone();
                inner.push(key.clone());
                flatten(inner, value, edits)?;
            }
        }
        Json::Null => edits.push((at, Edit::Remove)),
        other => edits.push((at, Edit::Set(to_toml(other)?))),
    }
    Ok(())
}

/// `plugins."io.containerd.grpc.v1.cri".sandbox_image` as its parts, TOML's own rules.
fn parse_key_path(text: &str) -> Result<Vec<String>, String> {
    let keys = Key::parse(text).map_err(|e| {
        format!(
            "`{text}` is not a TOML dotted key (quote the parts that hold dots): {}",
            e.message()
        )
    })?;
    Ok(keys.iter().map(|key| key.get().to_string()).collect())
}

/// A JSON value from the task as a TOML value; maps inside lists become inline tables.
fn to_toml(value: &Json) -> Result<Value, String> {
    Ok(match value {
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) if n.is_f64() => Value::from(f),
            _ => return Err(format!("{n} does not fit a TOML integer")),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => {
            let mut array = Array::new();
            for item in items {
                array.push(to_toml(item)?);
            }
            Value::Array(array)
        }
        Json::Object(map) => {
            let mut table = InlineTable::new();
            for (key, item) in map {
                table.insert(key, to_toml(item)?);
            }
            Value::InlineTable(table)
        }
        Json::Null => return Err("`null` is only allowed as a whole setting".to_string()),
    })
}

/// Whether two TOML values mean the same, whatever their quoting or spacing.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        (Value::Float(a), Value::Float(b)) => {
            a.value() == b.value() || (a.value().is_nan() && b.value().is_nan())
        }
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        (Value::Datetime(a), Value::Datetime(b)) => a.value() == b.value(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same_value(a, b))
        }
        (Value::InlineTable(a), Value::InlineTable(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, value)| b.get(key).is_some_and(|other| same_value(value, other)))
        }
        _ => false,
    }
}

/// Adds to `base` every key of `defaults` it lacks, recursively; what `base` has wins.
/// The keys come with their formatting (indentation), so the file keeps containerd's look.
fn fill_missing(base: &mut Table, defaults: &dyn TableLike) {
    for (key, default) in defaults.iter() {
        let formatted = defaults.key(key).cloned().unwrap_or_else(|| Key::new(key));
        match base.get_mut(key) {
            None => {
                let mut item = default.clone();
                forget_positions(&mut item);
                base.insert_formatted(&formatted, item);
            }
            Some(Item::Table(existing)) => {
                if let Some(default) = default.as_table_like() {
                    fill_missing(existing, default);
                }
            }
            Some(Item::Value(Value::InlineTable(existing))) => {
                if let Some(default) = default.as_table_like() {
                    fill_missing_inline(existing, default);
                }
            }
            Some(_) => {}
        }
    }
}

/// [`fill_missing`] for a table the file writes inline (`options = { … }`): what it lacks
/// is added inline too.
fn fill_missing_inline(base: &mut InlineTable, defaults: &dyn TableLike) {
    for (key, default) in defaults.iter() {
        match base.get_mut(key) {
            None => {
                if let Ok(value) = default.clone().into_value() {
                    base.insert(key, value);
                }
            }
            Some(Value::InlineTable(existing)) => {
                if let Some(default) = default.as_table_like() {
                    fill_missing_inline(existing, default);
                }
            }
            Some(_) => {}
        }
    }
}

/// A table copied from another document keeps that document's positions, which would
/// order it among this document's tables by a meaningless number: clear them, so it is
/// written after the table before it.
fn forget_positions(item: &mut Item) {
    match item {
        Item::Table(table) => {
            table.set_position(None);
            for (_, child) in table.iter_mut() {
                forget_positions(child);
            }
        }
        Item::ArrayOfTables(tables) => {
            for table in tables.iter_mut() {
                table.set_position(None);
                for (_, child) in table.iter_mut() {
                    forget_positions(child);
                }
            }
        }
        _ => {}
    }
}

/// How the document writes what the module adds, so new lines look like their neighbours.
#[derive(Debug, Clone, Copy, Default)]
struct Style {
    /// Two spaces per level, as containerd writes its configuration.
    indented: bool,
    /// Strings in single quotes (containerd 2.x) rather than double quotes (1.x).
    literal_strings: bool,
}

impl Style {
    fn of(document: &DocumentMut) -> Self {
        Style {
            indented: is_indented(document.as_table()),
            literal_strings: first_string_is_literal(document.as_table()).unwrap_or(false),
        }
    }

    /// A string value in the document's quoting, when it can be written that way.
    fn restyle(&self, value: &Value) -> Value {
        match value {
            Value::String(text) if self.literal_strings => {
                let text = text.value();
                if text.contains(['\'', '\n', '\r']) || text.chars().any(char::is_control) {
                    return value.clone();
                }
                format!("'{text}'")
                    .parse()
                    .unwrap_or_else(|_| value.clone())
            }
            Value::Array(items) if self.literal_strings => {
                Value::Array(items.iter().map(|item| self.restyle(item)).collect())
            }
            other => other.clone(),
        }
    }
}

/// Whether the document's first string value is a literal (`'…'`) string.
fn first_string_is_literal(table: &Table) -> Option<bool> {
    for (_, item) in table.iter() {
        let found = match item {
            Item::Value(Value::String(text)) => text
                .as_repr()
                .and_then(|repr| repr.as_raw().as_str())
                .map(|raw| raw.starts_with('\'')),
            Item::Table(inner) => first_string_is_literal(inner),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Applies one edit at `path`, creating the tables on the way, in the document's `style`.
fn apply_edit(root: &mut Table, path: &[String], edit: &Edit, style: Style) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("an empty settings path".to_string());
    };
    let indent = |level: usize| {
        if style.indented {
            "  ".repeat(level)
        } else {
            String::new()
        }
    };
    let mut current: &mut dyn TableLike = root;
    let mut inline = false;
    for (depth, part) in parents.iter().enumerate() {
        if !current.contains_key(part) {
            current.insert(part, Item::Table(new_table(true, &indent(depth))));
        }
        let item = current.get_mut(part).expect("the key was just inserted");
        inline = inline || item.is_inline_table();
        current = item.as_table_like_mut().ok_or_else(|| {
            format!(
                "`{}` is a value, not a table",
                display_path(&path[..=depth])
            )
        })?;
    }
    match edit {
        Edit::Remove => {
            current.remove(last);
        }
        Edit::Table => match current.get(last) {
            Some(item) if item.is_table_like() => {}
            Some(_) => return Err(format!("`{}` is a value, not a table", display_path(path))),
            None => {
                current.insert(last, Item::Table(new_table(false, &indent(parents.len()))));
            }
        },
        Edit::Set(value) => match current.get_mut(last) {
            Some(Item::Value(existing)) => {
                if !same_value(existing, value) {
                    let mut value = style.restyle(value);
                    *value.decor_mut() = existing.decor().clone();
                    *existing = value;
                }
            }
            Some(item) if item.is_table_like() => {
                return Err(format!(
                    "`{}` is a table; set its keys instead",
                    display_path(path)
                ))
            }
            _ => {
                let prefix = match sibling_indent(current) {
                    Some(prefix) => Some(prefix),
                    None if !inline => Some(indent(parents.len())),
                    None => None,
                };
                current.insert(last, Item::Value(style.restyle(value)));
                if let (Some(prefix), Some(mut key)) = (prefix, current.key_mut(last)) {
                    key.leaf_decor_mut().set_prefix(prefix);
                }
            }
        },
    }
    Ok(())
}

/// A new table whose header is indented by `indent`, after a blank line.
fn new_table(implicit: bool, indent: &str) -> Table {
    let mut table = Table::new();
    table.set_implicit(implicit);
    table.decor_mut().set_prefix(format!("\n{indent}"));
    table
}

/// Whether the document indents its keys (containerd's own output does).
fn is_indented(table: &Table) -> bool {
    table.iter().any(|(name, item)| match item {
        Item::Value(_) => table
            .key(name)
            .and_then(|key| key.leaf_decor().prefix())
            .and_then(|prefix| prefix.as_str())
            .is_some_and(|prefix| prefix.starts_with(' ')),
        Item::Table(inner) => is_indented(inner),
        _ => false,
    })
}

/// The indentation of the table's last plain key, so a new key lines up with it.
fn sibling_indent(table: &dyn TableLike) -> Option<String> {
    let (name, _) = table.iter().filter(|(_, item)| item.is_value()).last()?;
    let prefix = table.key(name)?.leaf_decor().prefix()?.as_str()?;
    (!prefix.contains('\n')).then(|| prefix.to_string())
}

fn display_path(parts: &[String]) -> String {
    parts
        .iter()
        .map(|part| Key::new(part.as_str()).display_repr().into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// Looks up a table by path, through plain and inline tables.
fn table_at<'a>(root: &'a Table, path: &[String]) -> Option<&'a dyn TableLike> {
    let mut current: &dyn TableLike = root;
    for part in path {
        current = current.get(part)?.as_table_like()?;
    }
    Some(current)
}

/// The plugin IDs of the CRI plugin, in both layouts; `cri` is its old short name.
fn is_cri_plugin(name: &str) -> bool {
    name == "cri"
        || name == "io.containerd.grpc.v1.cri"
        || name.starts_with("io.containerd.cri.v1.")
}

/// Takes the CRI plugin out of `disabled_plugins`.
fn enable_cri(document: &mut DocumentMut) {
    if let Some(Item::Value(Value::Array(disabled))) = document.get_mut("disabled_plugins") {
        let before = disabled.len();
        disabled.retain(|value| !value.as_str().is_some_and(is_cri_plugin));
        if disabled.len() != before {
            // The spacing of a removed first item would stay with the next one.
            disabled.fmt();
        }
    }
}

/// containerd refuses to start with both the old `mirrors` table and `config_path`.
fn check_registry(document: &DocumentMut, layout: Layout) -> Result<(), String> {
    let Some(registry) = table_at(document.as_table(), &layout.registry()) else {
        return Ok(());
    };
    let config_path = registry
        .get("config_path")
        .and_then(Item::as_str)
        .unwrap_or_default();
    let has_mirrors = registry
        .get("mirrors")
        .and_then(Item::as_table_like)
        .is_some_and(|mirrors| !mirrors.is_empty());
    if has_mirrors && !config_path.is_empty() {
        return Err(format!(
            "`{}.mirrors` cannot be set when `config_path` is provided (containerd would not start): move the mirrors to `registry_mirrors` and remove that table (`settings: {{\"{}.mirrors\": null}}`)",
            display_path(&layout.registry()),
            display_path(&layout.registry()),
        ));
    }
    Ok(())
}

/// The default runtime must be one the configuration defines.
fn check_default_runtime(document: &DocumentMut, layout: Layout, name: &str) -> Result<(), String> {
    let defined = table_at(document.as_table(), &layout.runtimes())
        .is_some_and(|runtimes| runtimes.contains_key(name));
    if defined {
        Ok(())
    } else {
        Err(format!(
            "default_runtime `{name}` is not a runtime of the configuration (add it to `runtimes`)"
        ))
    }
}

/// `containerd github.com/containerd/containerd/v2 v2.0.0 207ad711…` gives `2.0.0`;
/// Debian's `1.6.20~ds1` stays as it is.
fn parse_containerd_version(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let version = words.get(2)?;
    Some(version.trim_start_matches('v').to_string())
}

/// The `hosts.toml` of one registry.
fn render_hosts(registry: &str, endpoints: &[MirrorEndpoint]) -> String {
    let mut document = DocumentMut::new();
    let server = match registry {
        "_default" => None,
        "docker.io" => Some("https://registry-1.docker.io".to_string()),
        other => Some(format!("https://{other}")),
    };
    if let Some(server) = server {
        document.insert("server", toml_edit::value(server));
    }
    let mut hosts = Table::new();
    hosts.set_implicit(true);
    for endpoint in endpoints {
        let mut host = Table::new();
        let (capabilities, skip_verify, ca, override_path) = match endpoint {
            MirrorEndpoint::Url(_) => (None, None, None, None),
            MirrorEndpoint::Host(host) => (
                host.capabilities.clone(),
                host.skip_verify,
                host.ca.clone(),
                host.override_path,
            ),
        };
        let capabilities =
            capabilities.unwrap_or_else(|| vec!["pull".to_string(), "resolve".to_string()]);
        host.insert(
            "capabilities",
            toml_edit::value(Array::from_iter(capabilities)),
        );
        if let Some(skip_verify) = skip_verify {
            host.insert("skip_verify", toml_edit::value(skip_verify));
        }
        if let Some(ca) = ca {
            host.insert("ca", toml_edit::value(ca));
        }
        if let Some(override_path) = override_path {
            host.insert("override_path", toml_edit::value(override_path));
        }
        hosts.insert(endpoint.url(), Item::Table(host));
    }
    document.insert("host", Item::Table(hosts));
    format!(
        "# Mirrors of {registry}, written by rplay (containerd_config).\n{}",
        document
    )
}

/// What `containerd config default` and the existing file make together.
struct Merged {
    document: DocumentMut,
    warnings: Vec<String>,
}

/// Layers the existing file over the defaults, as the module doc describes.
fn merge_existing(
    path: &str,
    defaults: DocumentMut,
    layout: Layout,
    existing: Option<&[u8]>,
) -> Result<Merged, String> {
    let mut warnings = Vec::new();
    let Some(existing) = existing else {
        return Ok(Merged {
            document: defaults,
            warnings,
        });
    };
    let text = std::str::from_utf8(existing).map_err(|_| format!("{path} is not UTF-8 text"))?;
    let mut document: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        format!(
            "{path} is not valid TOML, so its settings cannot be kept: {}; fix or remove it",
            e.message()
        )
    })?;
    let version = document
        .get("version")
        .and_then(Item::as_integer)
        .unwrap_or(1);
    if version == layout.version() {
        fill_missing(document.as_table_mut(), defaults.as_table());
        return Ok(Merged { document, warnings });
    }
    if !document.as_table().is_empty() {
        warnings.push(format!(
            "{path} had configuration version {version} but the installed containerd writes version {}: its settings were not carried over",
            layout.version()
        ));
    }
    Ok(Merged {
        document: defaults,
        warnings,
    })
}

/// One file the module wants on the host, with what is there now.
struct WantedFile {
    path: String,
    content: String,
    current: Option<Vec<u8>>,
}

impl WantedFile {
    fn differs(&self) -> bool {
        self.current.as_deref() != Some(self.content.as_bytes())
    }
}

impl Module for ContainerdConfigArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let output = transport
                .run(&Exec::new([
                    "sh",
                    "-c",
                    "containerd --version && containerd config default",
                ]))
                .await?;
            if output.rc == 127 {
                return Ok(Plan::fail(
                    "containerd is not installed on the host (no `containerd` in PATH): install it before configuring it",
                )
                .with("path", self.path.as_str()));
            }
            if !output.success() {
                return Ok(Plan::fail(format!(
                    "`containerd config default` failed (rc {}): {}",
                    output.rc,
                    output.stderr_text().trim()
                ))
                .with("path", self.path.as_str()));
            }
            let stdout = output.stdout_text();
            let (version_line, default_text) = stdout.split_once('\n').unwrap_or((&stdout, ""));
            let containerd_version = parse_containerd_version(version_line).ok_or_else(|| {
                ModuleError::failed(format!(
                    "cannot read the version in `containerd --version`: {version_line:?}"
                ))
            })?;
            let defaults: DocumentMut =
                default_text.parse().map_err(|e: toml_edit::TomlError| {
                    ModuleError::failed(format!(
                        "`containerd config default` printed no valid TOML: {}",
                        e.message()
                    ))
                })?;
            let layout = match defaults.get("version").and_then(Item::as_integer) {
                Some(2) => Layout::V2,
                Some(3) => Layout::V3,
                other => {
                    return Ok(Plan::fail(format!(
                        "containerd {containerd_version} writes configuration version {}, which this module does not know (it knows 2 and 3)",
                        other.map_or("1".to_string(), |v| v.to_string())
                    ))
                    .with("path", self.path.as_str()))
                }
            };

            let current = transport.get(&self.path).await?;
            let merged = match merge_existing(&self.path, defaults, layout, current.as_deref()) {
                Ok(merged) => merged,
                Err(message) => return Ok(Plan::fail(message).with("path", self.path.as_str())),
            };
            let mut document = merged.document;
            let edits = self.edits(layout).map_err(ModuleError::Failed)?;
            let style = Style::of(&document);
            for (path, edit) in &edits {
                if let Err(message) = apply_edit(document.as_table_mut(), path, edit, style) {
                    return Ok(Plan::fail(message).with("path", self.path.as_str()));
                }
            }
            enable_cri(&mut document);
            let mut checks = vec![check_registry(&document, layout)];
            if let Some(name) = &self.default_runtime {
                checks.push(check_default_runtime(&document, layout, name));
            }
            if let Some(Err(message)) = checks.into_iter().find(Result::is_err) {
                return Ok(Plan::fail(message).with("path", self.path.as_str()));
            }

            let mut files = vec![WantedFile {
                path: self.path.clone(),
                content: document.to_string(),
                current,
            }];
            if let Some(config_path) = self.registry_config_path() {
                let certs_dir = config_path
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                for (registry, endpoints) in &self.registry_mirrors {
                    let path = join_path(&join_path(&certs_dir, registry), "hosts.toml");
                    let current = transport.get(&path).await?;
                    files.push(WantedFile {
                        path,
                        content: render_hosts(registry, endpoints),
                        current,
                    });
                }
            }

            let changed: Vec<&WantedFile> = files.iter().filter(|file| file.differs()).collect();
            let mut plan = if changed.is_empty() {
                Plan::ok(format!(
                    "{} already has these settings (containerd {containerd_version}, configuration version {})",
                    self.path,
                    layout.version()
                ))
            } else {
                let mut dirs: Vec<String> = Vec::new();
                for file in &changed {
                    let dir = dirname(&file.path).to_string();
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                }
                let mut mkdir = vec!["mkdir".to_string(), "-p".to_string(), "--".to_string()];
                mkdir.extend(dirs);
                let mut steps = vec![Step::run(Exec::new(mkdir))];
                for file in &changed {
                    steps.push(Step::write(
                        file.path.clone(),
                        file.content.clone().into_bytes(),
                        FileAttrs::default(),
                    ));
                }
                let names: Vec<&str> = changed.iter().map(|file| file.path.as_str()).collect();
                Plan::change(format!("write {}", names.join(", ")), steps)
            };
            for file in &changed {
                if let Some(diff) = text_diff(
                    &file.path,
                    file.current.as_deref().unwrap_or_default(),
                    file.content.as_bytes(),
                ) {
                    plan = plan.with_diff(diff);
                }
            }
            if !merged.warnings.is_empty() {
                let reason = plan.reason.take().unwrap_or_default();
                plan.reason = Some(format!("{reason}; {}", merged.warnings.join("; ")));
                plan = plan.with("warnings", merged.warnings.clone());
            }
            let hosts: Vec<&str> = files[1..].iter().map(|file| file.path.as_str()).collect();
            Ok(plan
                .with("path", self.path.as_str())
                .with("version", layout.version())
                .with("containerd_version", containerd_version)
                .with("hosts", hosts))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::json;

    /// A scratch host whose `containerd` prints one of the recorded outputs of
    /// `containerd --version` and `containerd config default` kept beside the plan cases.
    fn host_with_containerd(recorded: &str) -> Fixture {
        let mut fx = Fixture::new();
        let recorded = format!(
            "{}/../tests/plans/containerd_config/fixtures/{recorded}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::create_dir(fx.path("bin")).unwrap();
        fx.write(
            "bin/containerd",
            format!(
                "#!/bin/sh\ncase \"$1\" in\n--version) sed -n 1p '{recorded}' ;;\nconfig) sed 1d '{recorded}' ;;\n*) exit 2 ;;\nesac\n"
            )
            .as_bytes(),
            0o755,
        );
        fx.transport.wrapper = vec![
            "env".to_string(),
            format!("PATH={}:/usr/bin:/bin", fx.path("bin")),
        ];
        fx
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../tests/plans/containerd_config/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn read_toml(fx: &Fixture, relative: &str) -> DocumentMut {
        String::from_utf8(fx.read(relative))
            .unwrap()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn a_fresh_host_gets_the_defaults_with_the_settings_of_containerd_1() {
        let fx = host_with_containerd("containerd-1.6.20-default.out");
        let path = fx.path("etc/containerd/config.toml");
        let plan = fx
            .converge(
                "containerd_config",
                json!({
                    "path": path,
                    "systemd_cgroup": true,
                    "sandbox_image": "registry.k8s.io/pause:3.10",
                    "max_container_log_line_size": -1,
                }),
            )
            .await;
        assert_eq!(plan.result["version"], 2);
        assert_eq!(plan.result["containerd_version"], "1.6.20~ds1");
        let written = read_toml(&fx, "etc/containerd/config.toml");
        let cri = &written["plugins"]["io.containerd.grpc.v1.cri"];
        assert_eq!(
            cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"].as_bool(),
            Some(true)
        );
        assert_eq!(
            cri["sandbox_image"].as_str(),
            Some("registry.k8s.io/pause:3.10")
        );
        assert_eq!(cri["max_container_log_line_size"].as_integer(), Some(-1));
        // Everything else is containerd's default, in its own layout and order.
        let text = String::from_utf8(fx.read("etc/containerd/config.toml")).unwrap();
        let defaults = fixture("containerd-1.6.20-default.out");
        let expected = defaults
            .split_once('\n')
            .unwrap()
            .1
            .replace("SystemdCgroup = false", "SystemdCgroup = true")
            .replace("pause:3.6", "pause:3.10")
            .replace(
                "max_container_log_line_size = 16384",
                "max_container_log_line_size = -1",
            );
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn the_debian_package_file_keeps_its_settings_and_gains_the_defaults() {
        let fx = host_with_containerd("containerd-1.6.20-default.out");
        std::fs::create_dir_all(fx.path("etc/containerd")).unwrap();
        fx.write(
            "etc/containerd/config.toml",
            fixture("debian-package-config.toml").as_bytes(),
            0o644,
        );
        let path = fx.path("etc/containerd/config.toml");
        let plan = fx
            .converge(
                "containerd_config",
                json!({"path": path, "systemd_cgroup": "yes"}),
            )
            .await;
        assert!(plan.result.get("warnings").is_none());
        let written = read_toml(&fx, "etc/containerd/config.toml");
        let cri = &written["plugins"]["io.containerd.grpc.v1.cri"];
        assert_eq!(cri["cni"]["bin_dir"].as_str(), Some("/usr/lib/cni"));
        assert_eq!(cri["cni"]["max_conf_num"].as_integer(), Some(1));
        assert_eq!(
            written["plugins"]["io.containerd.internal.v1.opt"]["path"].as_str(),
            Some("/var/lib/containerd/opt")
        );
        assert_eq!(
            cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"].as_bool(),
            Some(true)
        );
        assert_eq!(written["oom_score"].as_integer(), Some(0));
        let text = String::from_utf8(fx.read("etc/containerd/config.toml")).unwrap();
        assert!(
            text.starts_with("version = 2\n"),
            "the file's own layout stays first: {text}"
        );
    }

    #[tokio::test]
    async fn containerd_2_gets_the_version_3_paths_and_mirror_files() {
        let fx = host_with_containerd("containerd-2.1-default.out");
        let path = fx.path("etc/containerd/config.toml");
        let certs = fx.path("etc/containerd/certs.d");
        let plan = fx
            .converge(
                "containerd_config",
                json!({
                    "path": path,
                    "config_path": certs,
                    "systemd_cgroup": true,
                    "sandbox_image": "registry.k8s.io/pause:3.10.1",
                    "registry_mirrors": {
                        "docker.io": ["https://mirror.gcr.io"],
                        "registry.local:5000": [{"url": "http://registry.local:5000", "skip_verify": true, "capabilities": ["pull", "resolve", "push"]}],
                    },
                    "runtimes": [{"name": "nvidia", "binary_name": "/usr/bin/nvidia-container-runtime"}],
                    "default_runtime": "nvidia",
                    "snapshotter": "native",
                }),
            )
            .await;
        assert_eq!(plan.result["version"], 3);
        assert_eq!(plan.result["containerd_version"], "2.1.4");
        let written = read_toml(&fx, "etc/containerd/config.toml");
        let runtime = &written["plugins"]["io.containerd.cri.v1.runtime"];
        let images = &written["plugins"]["io.containerd.cri.v1.images"];
        let runtimes = &runtime["containerd"]["runtimes"];
        assert_eq!(
            runtimes["runc"]["options"]["SystemdCgroup"].as_bool(),
            Some(true)
        );
        assert_eq!(
            runtimes["nvidia"]["options"]["BinaryName"].as_str(),
            Some("/usr/bin/nvidia-container-runtime")
        );
        assert_eq!(
            runtimes["nvidia"]["options"]["SystemdCgroup"].as_bool(),
            Some(true)
        );
        assert_eq!(
            runtimes["nvidia"]["runtime_type"].as_str(),
            Some("io.containerd.runc.v2")
        );
        assert_eq!(
            runtime["containerd"]["default_runtime_name"].as_str(),
            Some("nvidia")
        );
        assert_eq!(
            images["pinned_images"]["sandbox"].as_str(),
            Some("registry.k8s.io/pause:3.10.1")
        );
        assert_eq!(
            images["registry"]["config_path"].as_str(),
            Some(certs.as_str())
        );
        assert_eq!(images["snapshotter"].as_str(), Some("native"));
        assert!(written["plugins"]
            .get("io.containerd.grpc.v1.cri")
            .is_some());
        assert_eq!(
            String::from_utf8(fx.read("etc/containerd/certs.d/docker.io/hosts.toml")).unwrap(),
            "# Mirrors of docker.io, written by rplay (containerd_config).\n\
             server = \"https://registry-1.docker.io\"\n\
             \n\
             [host.\"https://mirror.gcr.io\"]\n\
             capabilities = [\"pull\", \"resolve\"]\n"
        );
        assert_eq!(
            String::from_utf8(fx.read("etc/containerd/certs.d/registry.local:5000/hosts.toml"))
                .unwrap(),
            "# Mirrors of registry.local:5000, written by rplay (containerd_config).\n\
             server = \"https://registry.local:5000\"\n\
             \n\
             [host.\"http://registry.local:5000\"]\n\
             capabilities = [\"pull\", \"resolve\", \"push\"]\n\
             skip_verify = true\n"
        );
    }

    #[tokio::test]
    async fn a_changed_mirror_rewrites_only_its_hosts_file() {
        let fx = host_with_containerd("containerd-2.1-default.out");
        let path = fx.path("etc/containerd/config.toml");
        let certs = fx.path("certs.d");
        let args = |mirror: &str| {
            json!({
                "path": path,
                "config_path": certs,
                "registry_mirrors": {"docker.io": [mirror], "quay.io": ["https://quay-mirror.example"]},
            })
        };
        fx.converge("containerd_config", args("https://one.example"))
            .await;
        let plan = fx
            .converge("containerd_config", args("https://two.example"))
            .await;
        assert_eq!(plan.steps.len(), 2, "{:?}", plan.steps);
        assert!(
            matches!(&plan.steps[1], Step::Write { path, .. } if path.ends_with("certs.d/docker.io/hosts.toml"))
        );
        assert_eq!(plan.diffs.len(), 1);
        assert!(plan.diffs[0].after.contains("two.example"));
    }

    #[tokio::test]
    async fn a_file_of_another_layout_is_replaced_with_a_warning() {
        let fx = host_with_containerd("containerd-1.6.20-default.out");
        std::fs::create_dir_all(fx.path("etc/containerd")).unwrap();
        fx.write(
            "etc/containerd/config.toml",
            fixture("docker-package-config.toml").as_bytes(),
            0o644,
        );
        let path = fx.path("etc/containerd/config.toml");
        let plan = fx
            .converge("containerd_config", json!({"path": path}))
            .await;
        let warnings = plan.result["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0]
            .as_str()
            .unwrap()
            .contains("had configuration version 1 but the installed containerd writes version 2"));
        let written = read_toml(&fx, "etc/containerd/config.toml");
        assert_eq!(written["disabled_plugins"].as_array().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn cri_is_taken_out_of_disabled_plugins() {
        let fx = host_with_containerd("containerd-1.6.20-default.out");
        std::fs::create_dir_all(fx.path("etc/containerd")).unwrap();
        fx.write(
            "etc/containerd/config.toml",
            b"version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.zfs\"]\n",
            0o600,
        );
        let path = fx.path("etc/containerd/config.toml");
        fx.converge("containerd_config", json!({"path": path}))
            .await;
        let written = read_toml(&fx, "etc/containerd/config.toml");
        let disabled: Vec<&str> = written["disabled_plugins"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(disabled, ["io.containerd.snapshotter.v1.zfs"]);
        assert_eq!(
            fx.mode("etc/containerd/config.toml"),
            0o600,
            "the mode stays"
        );
    }

    #[tokio::test]
    async fn a_host_without_containerd_fails_clearly() {
        let mut fx = Fixture::new();
        std::fs::create_dir(fx.path("bin")).unwrap();
        fx.transport.wrapper = vec!["env".to_string(), format!("PATH={}", fx.path("bin"))];
        let plan = fx
            .plan("containerd_config", json!({"path": fx.path("config.toml")}))
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert!(plan
            .failure
            .unwrap()
            .starts_with("containerd is not installed on the host"));
    }

    #[test]
    fn key_paths_follow_toml_quoting() {
        assert_eq!(
            parse_key_path("plugins.\"io.containerd.grpc.v1.cri\".cni.bin_dir").unwrap(),
            ["plugins", "io.containerd.grpc.v1.cri", "cni", "bin_dir"]
        );
        assert_eq!(
            parse_key_path("plugins.'io.containerd.cri.v1.images'.registry").unwrap(),
            ["plugins", "io.containerd.cri.v1.images", "registry"]
        );
        assert!(parse_key_path("plugins..x").is_err());
        assert!(parse_key_path("").is_err());
    }

    #[test]
    fn versions_come_from_the_third_word() {
        assert_eq!(
            parse_containerd_version(
                "containerd github.com/containerd/containerd/v2 v2.0.0 207ad71"
            ),
            Some("2.0.0".to_string())
        );
        assert_eq!(
            parse_containerd_version("containerd containerd.io 1.7.27 05044ec0"),
            Some("1.7.27".to_string())
        );
        assert_eq!(parse_containerd_version("containerd"), None);
    }

    #[test]
    fn values_compare_by_meaning_not_quoting() {
        let a: Value = "'x'".parse().unwrap();
        let b: Value = "\"x\"".parse().unwrap();
        assert!(same_value(&a, &b));
        let a: Value = "[1, 'a']".parse().unwrap();
        let b: Value = "[ 1 , \"a\" ]".parse().unwrap();
        assert!(same_value(&a, &b));
        let c: Value = "[1]".parse().unwrap();
        assert!(!same_value(&a, &c));
        let t: Value = "{ a = 1 }".parse().unwrap();
        let u: Value = "{a=1}".parse().unwrap();
        assert!(same_value(&t, &u));
        let one: Value = "1".parse().unwrap();
        let yes: Value = "true".parse().unwrap();
        assert!(!same_value(&one, &yes));
    }

    #[test]
    fn settings_edit_tables_values_and_removals() {
        let mut document: DocumentMut = "[a]\n  x = 1\n  [a.b]\n    y = 'old'\n".parse().unwrap();
        let style = Style::of(&document);
        assert!(style.indented && style.literal_strings);
        let mut edit = |parts: &[&str], edit: Edit| {
            apply_edit(document.as_table_mut(), &path(parts), &edit, style)
        };
        edit(&["a", "b", "y"], Edit::Set(Value::from("new"))).unwrap();
        edit(&["a", "b", "z"], Edit::Set(Value::from(2))).unwrap();
        edit(&["a", "x"], Edit::Remove).unwrap();
        edit(&["c", "d", "e"], Edit::Set(Value::from(true))).unwrap();
        assert_eq!(
            edit(&["a", "b", "y", "deeper"], Edit::Set(Value::from(1))).unwrap_err(),
            "`a.b.y` is a value, not a table"
        );
        assert_eq!(
            edit(&["a", "b"], Edit::Set(Value::from(1))).unwrap_err(),
            "`a.b` is a table; set its keys instead"
        );
        assert_eq!(
            document.to_string(),
            "[a]\n  [a.b]\n    y = 'new'\n    z = 2\n\n  [c.d]\n    e = true\n"
        );
    }

    #[test]
    fn a_flat_document_gets_flat_new_keys() {
        let mut document: DocumentMut = "[a]\nx = \"1\"\n".parse().unwrap();
        let style = Style::of(&document);
        assert!(!style.indented && !style.literal_strings);
        apply_edit(
            document.as_table_mut(),
            &path(&["a", "b", "c"]),
            &Edit::Set(Value::from("it's")),
            style,
        )
        .unwrap();
        assert_eq!(
            document.to_string(),
            "[a]\nx = \"1\"\n\n[a.b]\nc = \"it's\"\n"
        );
        // A string a literal cannot hold keeps its double quotes in a literal document.
        let literal = Style {
            indented: false,
            literal_strings: true,
        };
        assert_eq!(
            literal.restyle(&Value::from("it's")).to_string(),
            "\"it's\""
        );
        assert_eq!(literal.restyle(&Value::from("/x")).to_string(), "'/x'");
    }

    #[test]
    fn bad_arguments_are_refused() {
        let spec = crate::registry::lookup("rplay.kubernetes.containerd_config").unwrap();
        assert!((spec.build)(json!({"registry_mirrors": {"../etc": ["https://x"]}})).is_err());
        assert!((spec.build)(json!({"settings": {"a..b": 1}})).is_err());
        assert!((spec.build)(json!({"systemd_cgroup": "maybe"})).is_err());
        assert!((spec.build)(json!({"sytemd_cgroup": true})).is_err());
        assert!((spec.build)(json!({"runtimes": [{"binary_name": "/x"}]})).is_err());
        assert!((spec.build)(json!({"config_path": ""})).is_err());
        assert!((spec.build)(json!({"settings": {"a": 18446744073709551615u64}})).is_err());
        assert!((spec.build)(json!({"settings": {"a.b": null, "c": {"d": [1, 2]}}})).is_ok());
    }
}
