//! Kubespray's inventory, written from ours.
//!
//! Kubespray reads its own group names and variable names. Our inventories already use
//! its groups (`kube_control_plane`, `etcd`, `kube_node`, `k8s_cluster`), but our cluster
//! variables have the names our roles read (`kube_pod_subnet`, `kube_service_subnet`…).
//! [`KubesprayInventory::from_inventory`] picks the cluster's hosts, keeps their
//! connection variables, and renames the cluster settings; what a user writes under a
//! `kubespray:` mapping goes through unchanged and wins over anything mapped.
//!
//! Values are rendered here, with the host's own variables, before they are written: a
//! template in our inventory refers to our names, which mean nothing to Kubespray.

use crate::diagnostic::{Diagnostic, Result};
use crate::inventory::Inventory;
use crate::template::{Scope, Templar, VarMap};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The groups Kubespray reads, in the order it documents them. `k8s_cluster` is written
/// as the parent of the first two and `calico_rr`, never from ours.
pub const GROUPS: [&str; 4] = ["kube_control_plane", "etcd", "kube_node", "calico_rr"];

/// Older Kubespray group names some inventories still carry.
const LEGACY_GROUPS: [(&str, &str); 2] = [
    ("kube-master", "kube_control_plane"),
    ("kube-node", "kube_node"),
];

/// Our cluster variable, and Kubespray's name for it. Later rows win over earlier ones
/// with the same Kubespray name, so a variable spelled Kubespray's way beats ours.
const RENAMED: [(&str, &str); 15] = [
    ("kube_version", "kube_version"),
    ("kube_pod_subnet", "kube_pods_subnet"),
    ("kube_pods_subnet", "kube_pods_subnet"),
    ("kube_service_subnet", "kube_service_addresses"),
    ("kube_service_addresses", "kube_service_addresses"),
    ("kube_network_plugin", "kube_network_plugin"),
    ("kube_dns_domain", "dns_domain"),
    ("kube_apiserver_port", "kube_apiserver_port"),
    ("container_runtime", "container_manager"),
    ("container_manager", "container_manager"),
    ("calico_mtu", "calico_mtu"),
    ("kubelet_max_pods", "kubelet_max_pods"),
    ("kubelet_cgroup_driver", "kubelet_cgroup_driver"),
    ("kube_proxy_mode", "kube_proxy_mode"),
    ("kubeconfig_localhost", "kubeconfig_localhost"),
];

/// Per-host variables Kubespray reads from the inventory, passed as they are.
const HOST_VARIABLES: [&str; 5] = [
    "ip",
    "access_ip",
    "etcd_member_name",
    "node_labels",
    "node_taints",
];

/// Kubespray's inventory and cluster variables, ready to be written.
#[derive(Debug, Clone)]
pub struct KubesprayInventory {
    /// Host name → the variables written beside it in the inventory.
    pub hosts: IndexMap<String, VarMap>,
    /// Group name → its hosts (the four of [`GROUPS`] first, then ours that hold any of
    /// the cluster's hosts).
    pub groups: IndexMap<String, Vec<String>>,
    /// Written to `group_vars/all.yml`: mapped variables, then the `kubespray:` ones.
    pub cluster_vars: VarMap,
    /// The `kubespray_dir` setting, if the inventory has one.
    pub kubespray_dir: Option<PathBuf>,
    /// The `kubespray_ansible_playbook` setting, if the inventory has one.
    pub ansible_playbook: Option<PathBuf>,
}

impl KubesprayInventory {
    /// Builds Kubespray's view of `inventory`; `extra_vars` (from `-e`) take precedence
    /// over the inventory's while values are rendered, as they would in a play.
    pub fn from_inventory(
        inventory: &Inventory,
        extra_vars: &VarMap,
    ) -> Result<KubesprayInventory> {
        let ours = inventory.groups();
        let members = |group: &str| -> Vec<String> {
            let mut hosts = ours.get(group).cloned().unwrap_or_default();
            for (legacy, name) in LEGACY_GROUPS {
                if name == group {
                    for host in ours.get(legacy).into_iter().flatten() {
                        if !hosts.contains(host) {
                            hosts.push(host.clone());
                        }
                    }
                }
            }
            hosts
        };
        let mut groups: IndexMap<String, Vec<String>> = IndexMap::new();
        for group in GROUPS {
            groups.insert(group.to_string(), members(group));
        }
        if groups["kube_control_plane"].is_empty() {
            return Err(Diagnostic::new(
                "the inventory has no host in `kube_control_plane`, so Kubespray has no cluster to deploy",
            )
            .with_help("put the control-plane machines in a `[kube_control_plane]` group and the workers in `[kube_node]`"));
        }
        // Stacked etcd, as kubeadm sets it up, when the inventory names no etcd hosts.
        if groups["etcd"].is_empty() {
            groups["etcd"] = groups["kube_control_plane"].clone();
        }
        let mut cluster_hosts: Vec<String> = Vec::new();
        for hosts in groups.values() {
            for host in hosts {
                if !cluster_hosts.contains(host) {
                    cluster_hosts.push(host.clone());
                }
            }
        }
        // Our other groups (gpu_nodes…) restricted to the cluster, so that a
        // `kubespray:` setting or a `when` in the user's extra playbooks can still use them.
        for (name, hosts) in &ours {
            let is_kubespray_group = GROUPS.contains(&name.as_str())
                || LEGACY_GROUPS.iter().any(|(legacy, _)| legacy == name)
                || name == "k8s_cluster";
            if is_kubespray_group || name == "all" || name == "ungrouped" {
                continue;
            }
            let inside: Vec<String> = hosts
                .iter()
                .filter(|host| cluster_hosts.contains(host))
                .cloned()
                .collect();
            if !inside.is_empty() {
                groups.insert(name.clone(), inside);
            }
        }

        let source: Arc<InventoryHostVars> =
            Arc::new(InventoryHostVars::new(inventory, extra_vars));
        let templar = Arc::new(Templar::new());
        let scope_of = |host: &str| source.scope(host, &templar, source.clone());

        // Cluster-wide settings come from the first control-plane host, which sees every
        // group the cluster settings are written for.
        let first = groups["kube_control_plane"][0].clone();
        let scope = scope_of(&first);
        let mut cluster_vars = VarMap::new();
        for (ours, theirs) in RENAMED {
            if let Some(value) = rendered(&scope, &first, ours)? {
                cluster_vars.insert(theirs.to_string(), value);
            }
        }
        if let Some(version) = cluster_vars
            .get("kube_version")
            .and_then(|v| v.as_str().map(str::to_string))
        {
            // Kubespray 2.26 and later name versions without the `v`.
            cluster_vars.insert(
                "kube_version".into(),
                Value::from(version.trim_start_matches('v')),
            );
        }
        if !cluster_vars.contains_key("kube_network_plugin") && scope.contains("calico_version") {
            cluster_vars.insert("kube_network_plugin".into(), Value::from("calico"));
        }
        if let Some(encapsulation) = rendered(&scope, &first, "calico_encapsulation")? {
            for (name, value) in calico_encapsulation(&encapsulation.to_string()) {
                cluster_vars.insert(name.into(), Value::from(value));
            }
        }
        cluster_vars
            .entry("container_manager".into())
            .or_insert_with(|| Value::from("containerd"));
        // rplay reads the admin kubeconfig afterwards: have Kubespray copy it here.
        cluster_vars
            .entry("kubeconfig_localhost".into())
            .or_insert_with(|| Value::from(true));
        let cluster_passthrough = passthrough(&scope, &first)?;
        for (name, value) in &cluster_passthrough {
            cluster_vars.insert(name.clone(), value.clone());
        }
        let kubespray_dir = rendered(&scope, &first, "kubespray_dir")?
            .map(|value| PathBuf::from(value.to_string()));
        let ansible_playbook = rendered(&scope, &first, "kubespray_ansible_playbook")?
            .map(|value| PathBuf::from(value.to_string()));

        let mut hosts = IndexMap::new();
        for host in &cluster_hosts {
            let scope = scope_of(host);
            let mut vars = VarMap::new();
            let mut names: Vec<String> = inventory
                .host_vars(host)
                .keys()
                .filter(|name| name.starts_with("ansible_") && *name != "ansible_group_priority")
                .cloned()
                .collect();
            names.extend(HOST_VARIABLES.iter().map(|name| name.to_string()));
            for name in names {
                if let Some(value) = rendered(&scope, host, &name)? {
                    vars.insert(name, value);
                }
            }
            // Kubespray binds services to `ip`; without one, the address we reach the
            // host at is the right one when it is an address at all.
            if !vars.contains_key("ip") {
                if let Some(address) = vars.get("ansible_host").and_then(Value::as_str) {
                    if crate::inventory::is_ip_address(address) {
                        vars.insert("ip".into(), Value::from(address));
                    }
                }
            }
            // A host's own `kubespray:` settings, where they differ from the cluster's.
            for (name, value) in passthrough(&scope, host)? {
                if cluster_passthrough.get(&name) != Some(&value) {
                    vars.insert(name, value);
                }
            }
            hosts.insert(host.clone(), vars);
        }
        Ok(KubesprayInventory {
            hosts,
            groups,
            cluster_vars,
            kubespray_dir,
            ansible_playbook,
        })
    }

    /// The inventory as Ansible's YAML inventory plugin reads it.
    pub fn inventory_value(&self) -> Value {
        let mut children: IndexMap<String, Value> = IndexMap::new();
        for (group, hosts) in &self.groups {
            let members: IndexMap<String, Value> = hosts
                .iter()
                .map(|host| (host.clone(), Value::from(())))
                .collect();
            let mut entry = IndexMap::new();
            entry.insert("hosts".to_string(), map_value(&members));
            children.insert(group.clone(), map_value(&entry));
        }
        let k8s_children: IndexMap<String, Value> =
            ["kube_control_plane", "kube_node", "calico_rr"]
                .iter()
                .map(|group| (group.to_string(), Value::from(())))
                .collect();
        let mut k8s_cluster = IndexMap::new();
        k8s_cluster.insert("children".to_string(), map_value(&k8s_children));
        children.insert("k8s_cluster".into(), map_value(&k8s_cluster));
        let mut all = IndexMap::new();
        let hosts: IndexMap<String, Value> = self
            .hosts
            .iter()
            .map(|(host, vars)| (host.clone(), map_value(vars)))
            .collect();
        all.insert("hosts".to_string(), map_value(&hosts));
        all.insert("children".to_string(), map_value(&children));
        let mut top = IndexMap::new();
        top.insert("all".to_string(), map_value(&all));
        map_value(&top)
    }

    /// Writes `hosts.yml` and `group_vars/all.yml` into `dir`; returns the inventory path.
    /// The files may hold passwords from the inventory, so only their owner may read them.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let group_vars = dir.join("group_vars");
        std::fs::create_dir_all(&group_vars).map_err(|e| {
            Diagnostic::new(format!("cannot create `{}`: {e}", group_vars.display()))
        })?;
        let inventory = dir.join("hosts.yml");
        write_private(
            &inventory,
            &format!(
                "# Kubespray's inventory, written by rplay from ours. Do not edit: it is\n# written again on every run.\n{}",
                to_yaml(&self.inventory_value())?
            ),
        )?;
        write_private(
            &group_vars.join("all.yml"),
            &format!(
                "# Our cluster variables under Kubespray's names, then everything under `kubespray:`.\n{}\n",
                to_yaml(&map_value(&self.cluster_vars))?.trim_end()
            ),
        )?;
        Ok(inventory)
    }
}

/// Calico's `calico_encapsulation` as the Tigera operator spells it, in Kubespray's three
/// settings.
fn calico_encapsulation(encapsulation: &str) -> Vec<(&'static str, &'static str)> {
    match encapsulation {
        "VXLAN" => vec![
            ("calico_network_backend", "vxlan"),
            ("calico_vxlan_mode", "Always"),
            ("calico_ipip_mode", "Never"),
        ],
        "VXLANCrossSubnet" => vec![
            ("calico_network_backend", "vxlan"),
            ("calico_vxlan_mode", "CrossSubnet"),
            ("calico_ipip_mode", "Never"),
        ],
        "IPIP" => vec![
            ("calico_network_backend", "bird"),
            ("calico_ipip_mode", "Always"),
            ("calico_vxlan_mode", "Never"),
        ],
        "IPIPCrossSubnet" => vec![
            ("calico_network_backend", "bird"),
            ("calico_ipip_mode", "CrossSubnet"),
            ("calico_vxlan_mode", "Never"),
        ],
        "None" => vec![
            ("calico_network_backend", "bird"),
            ("calico_ipip_mode", "Never"),
            ("calico_vxlan_mode", "Never"),
        ],
        _ => Vec::new(),
    }
}

/// A variable rendered for `host`; `None` when it is not set.
fn rendered(scope: &Scope, host: &str, name: &str) -> Result<Option<Value>> {
    if !scope.contains(name) {
        return Ok(None);
    }
    scope.get(name).map_err(|error| {
        Diagnostic::new(format!(
            "cannot render `{name}` for `{host}` to hand it to Kubespray: {}",
            error.message
        ))
        .with_help("set it to a plain value, or under `kubespray:` with Kubespray's own name")
    })
}

/// The `kubespray:` mapping of `host`, rendered.
fn passthrough(scope: &Scope, host: &str) -> Result<VarMap> {
    let Some(value) = rendered(scope, host, "kubespray")? else {
        return Ok(VarMap::new());
    };
    if value.is_none() {
        return Ok(VarMap::new());
    }
    if value.kind() != minijinja::value::ValueKind::Map {
        return Err(Diagnostic::new(format!(
            "`kubespray` must be a mapping of Kubespray variables, but for `{host}` it is {}",
            value.kind()
        ))
        .with_help("write `kubespray:` followed by indented `name: value` lines"));
    }
    let mut vars = VarMap::new();
    for key in value.try_iter().into_iter().flatten() {
        let item = value.get_item(&key).unwrap_or_default();
        vars.insert(key.to_string(), item);
    }
    Ok(vars)
}

fn to_yaml(value: &Value) -> Result<String> {
    let templar = Templar::new();
    templar
        .env()
        .render_str(
            "{{ value | to_nice_yaml(indent=2, sort_keys=False) }}",
            minijinja::context! { value => value },
        )
        .map_err(|e| Diagnostic::new(format!("cannot write Kubespray's inventory as YAML: {e}")))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()).map(|_| file))
        .map_err(|e| Diagnostic::new(format!("cannot write `{}`: {e}", path.display())))?;
    file.flush()
        .map_err(|e| Diagnostic::new(format!("cannot write `{}`: {e}", path.display())))
}

/// Every host's inventory variables plus the magic ones, as `hostvars` sees them.
struct InventoryHostVars {
    layers: IndexMap<String, Vec<Arc<VarMap>>>,
}

impl InventoryHostVars {
    fn new(inventory: &Inventory, extra_vars: &VarMap) -> InventoryHostVars {
        let groups = crate::executor::value::serialize(&inventory.groups());
        let extra = Arc::new(extra_vars.clone());
        let layers = inventory
            .hosts()
            .into_iter()
            .map(|host| {
                let mut vars: VarMap = inventory.host_vars(&host).into_iter().collect();
                vars.insert("inventory_hostname".into(), Value::from(host.clone()));
                vars.insert(
                    "inventory_hostname_short".into(),
                    Value::from(crate::inventory::inventory_hostname_short(&host)),
                );
                vars.insert(
                    "group_names".into(),
                    Value::from(inventory.group_names(&host)),
                );
                vars.insert("groups".into(), groups.clone());
                (host, vec![Arc::new(vars), extra.clone()])
            })
            .collect();
        InventoryHostVars { layers }
    }

    fn scope(&self, host: &str, templar: &Arc<Templar>, me: Arc<InventoryHostVars>) -> Scope {
        let layers = self.layers.get(host).cloned().unwrap_or_default();
        Scope::new(layers, templar.clone(), Some(me))
    }
}

impl crate::template::HostVarsSource for InventoryHostVars {
    fn host_names(&self) -> Vec<String> {
        self.layers.keys().cloned().collect()
    }

    fn host_layers(&self, host: &str) -> Option<Vec<Arc<VarMap>>> {
        self.layers.get(host).cloned()
    }
}

fn map_value(map: &IndexMap<String, Value>) -> Value {
    Value::from_pairs(
        map.iter()
            .map(|(key, value)| (Value::from(key.as_str()), value.clone())),
    )
}
