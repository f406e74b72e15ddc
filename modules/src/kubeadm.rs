//! `kubeadm`: makes a node a Kubernetes control plane or worker with `kubeadm`, and hands
//! out what other nodes need to join it.
//!
//! `action` says what to do:
//! - `init` writes the kubeadm configuration (`config_file`, mode 0600) and runs
//!   `kubeadm init --config FILE` on a node that has no cluster yet. A node counts as
//!   initialised when `/etc/kubernetes/admin.conf` exists and the API server answers
//!   `kubeadm token list` through it (no kubectl needed); then nothing runs and the task
//!   returns the join information. `admin.conf` without an answering API server fails the
//!   task: start the control plane, or reset the node.
//! - `join` writes a JoinConfiguration and runs `kubeadm join --config FILE`, unless
//!   `/etc/kubernetes/kubelet.conf` exists (the node already belongs to a cluster).
//! - `token` returns the join information of the control plane it runs on.
//! - `reset` runs `kubeadm reset --force` and removes `config_file`, when there is
//!   something to reset (`/etc/kubernetes/*.conf`, static pod manifests, or the file).
//! - `upgrade` runs `kubeadm upgrade apply VERSION` on the `first_control_plane`,
//!   `kubeadm upgrade node` on the others. Nothing runs when the node already runs
//!   `version`: the image of its `kube-apiserver` manifest says so on a control plane, the
//!   kubelet's version on a worker (the documented order runs `kubeadm upgrade node`
//!   before the kubelet package is upgraded).
//!
//! Join information (`init` and `token`): `join_command`, `control_plane_join_command`,
//! `token`, `discovery_token_ca_cert_hash` (the `sha256:` of the cluster CA's public key,
//! computed from `/etc/kubernetes/pki/ca.crt`) and, with `upload_certs`,
//! `certificate_key`. A bootstrap token that `kubeadm token list` shows valid for at least
//! another hour is reused, so a second run changes nothing; only when there is none (or
//! `config.token` names one that is missing or about to expire) is one created, and the
//! task reports `changed`. With `upload_certs`, the certificates are uploaded again unless
//! `init` just did, or `config.certificate_key` is given and its upload is still alive
//! (kubeadm deletes it after two hours): give `certificate_key` to make repeated runs quiet.
//! After a fresh `init`, the join information is read from the new cluster once the init
//! has run; in check mode it is not known.
//!
//! `config` holds the kubeadm settings; the module puts each where the action's kubeadm
//! documents want it, in API `kubeadm.k8s.io/v1beta4` for kubeadm 1.31 and later (extra
//! arguments as name/value lists) and `v1beta3` before, and `kubelet.config.k8s.io/v1beta1`:
//!
//! | `config` key | goes to |
//! |---|---|
//! | `kubernetes_version` (default: kubeadm's own), `control_plane_endpoint`, `pod_subnet`, `service_subnet`, `dns_domain`, `cluster_name`, `image_repository`, `api_server_cert_sans`, `api_server_extra_args`, `etcd` (`local: {data_dir, extra_args}` or `external: {endpoints, ca_file, cert_file, key_file}`) | ClusterConfiguration (init) |
//! | `advertise_address`, `bind_port`, `token`, `token_ttl`, `certificate_key`, `skip_phases` | InitConfiguration; for a control plane joining, its `controlPlane` part |
//! | `node_name`, `cri_socket` (default containerd's), `node_labels` (map or `k=v` list), `node_taints` (`key=value:Effect` or `{key, value, effect}`; `[]` for none), `kubelet_extra_args` | both node registrations |
//! | `api_server_endpoint`, `token`, `discovery_token_ca_cert_hashes`, `discovery_token_unsafe_skip_ca_verification`, `control_plane`, `certificate_key` | JoinConfiguration |
//! | `cgroup_driver` (default `systemd`), `max_pods`, `system_reserved`, `kube_reserved`, `eviction_hard`, `fail_swap_on` | KubeletConfiguration (init) |
//!
//! The file is written only when `init` or `join` runs: changing a running cluster is
//! `kubeadm upgrade`'s business. Results: `config` (the file written, or the one on the
//! host when nothing runs), `stdout`, `stderr`, `rc` of the kubeadm command that ran,
//! `kubeadm_version`.
//!
//! ```yaml
//! - name: First control plane
//!   kubeadm:
//!     action: init
//!     upload_certs: true
//!     config:
//!       control_plane_endpoint: k8s-api.example:6443
//!       pod_subnet: 10.244.0.0/16
//!       certificate_key: "{{ kubeadm_certificate_key }}"
//!   register: control_plane
//!   when: inventory_hostname == groups.kube_control_plane[0]
//!
//! - name: Workers
//!   kubeadm:
//!     action: join
//!     config:
//!       api_server_endpoint: k8s-api.example:6443
//!       token: "{{ hostvars[groups.kube_control_plane[0]].control_plane.token }}"
//!       discovery_token_ca_cert_hashes:
//!         - "{{ hostvars[groups.kube_control_plane[0]].control_plane.discovery_token_ca_cert_hash }}"
//!       node_labels: {node.kubernetes.io/pool: general}
//!   when: inventory_hostname in groups.kube_node
//! ```

use crate::args::{ansible_bool, list_or_csv, Args};
use crate::file::{dirname, text_diff};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs, Transport};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "kubeadm",
    aliases: &["rplay.kubernetes.kubeadm"],
    doc: include_str!("kubeadm.rs"),
    free_form: None,
    build: crate::registry::build::<KubeadmArgs>,
};

/// Where kubeadm keeps the cluster's files on every node.
const KUBERNETES_DIR: &str = "/etc/kubernetes";
const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
const CA_CERT: &str = "/etc/kubernetes/pki/ca.crt";
const APISERVER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
const CONTAINERD_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
/// The group kubeadm gives the tokens nodes join with.
const NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The description of the token whose lifetime bounds the uploaded certificates.
const CERTS_TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
/// A token is reused only while it has at least this long to live (seconds).
const TOKEN_REUSE_MARGIN: i64 = 3600;

/// What the task does with kubeadm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Init,
    Join,
    Reset,
    Token,
    Upgrade,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeadmArgs {
    /// `init`, `join`, `reset`, `token` or `upgrade`.
    pub action: Action,
    /// The kubeadm settings (see the table above).
    #[serde(default)]
    pub config: KubeadmConfig,
    /// Where the kubeadm configuration is written for `init` and `join`.
    #[serde(default = "default_config_file")]
    pub config_file: String,
    /// Preflight checks whose errors become warnings (`--ignore-preflight-errors`), a
    /// list or comma-separated; `all` for every check.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub ignore_preflight_errors: Vec<String>,
    /// `init`: upload the control-plane certificates so more control planes can join
    /// with `certificate_key`; `control_plane_join_command` then carries the key.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub upload_certs: bool,
    /// `upgrade`: the Kubernetes version to upgrade to (`v1.31.2`); default
    /// `config.kubernetes_version`.
    #[serde(default)]
    pub version: Option<String>,
    /// `upgrade`: this node runs `kubeadm upgrade apply`; the others `upgrade node`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub first_control_plane: bool,
}

fn default_config_file() -> String {
    "/etc/kubernetes/kubeadm-config.yaml".to_string()
}

/// The kubeadm settings of a task, in one flat map; see the module doc for where each
/// goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeadmConfig {
    #[serde(default, deserialize_with = "text::option")]
    pub kubernetes_version: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub control_plane_endpoint: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub pod_subnet: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub service_subnet: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub dns_domain: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub cluster_name: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub image_repository: Option<String>,
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub api_server_cert_sans: Vec<String>,
    #[serde(default, deserialize_with = "text::map")]
    pub api_server_extra_args: IndexMap<String, String>,
    #[serde(default)]
    pub etcd: Option<Etcd>,

    #[serde(default, deserialize_with = "text::option")]
    pub advertise_address: Option<String>,
    #[serde(default, deserialize_with = "number::option")]
    pub bind_port: Option<u64>,
    #[serde(default, deserialize_with = "text::option")]
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub cri_socket: Option<String>,
    #[serde(default, deserialize_with = "labels")]
    pub node_labels: Vec<String>,
    #[serde(default)]
    pub node_taints: Option<Vec<TaintSpec>>,
    #[serde(default, deserialize_with = "text::map")]
    pub kubelet_extra_args: IndexMap<String, String>,
    #[serde(default, deserialize_with = "text::option")]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub token_ttl: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub certificate_key: Option<String>,
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub skip_phases: Vec<String>,

    #[serde(default, deserialize_with = "text::option")]
    pub api_server_endpoint: Option<String>,
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub discovery_token_ca_cert_hashes: Vec<String>,
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub control_plane: bool,

    #[serde(default, deserialize_with = "text::option")]
    pub cgroup_driver: Option<String>,
    #[serde(default, deserialize_with = "number::option")]
    pub max_pods: Option<u64>,
    #[serde(default, deserialize_with = "text::map")]
    pub system_reserved: IndexMap<String, String>,
    #[serde(default, deserialize_with = "text::map")]
    pub kube_reserved: IndexMap<String, String>,
    #[serde(default, deserialize_with = "text::map")]
    pub eviction_hard: IndexMap<String, String>,
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub fail_swap_on: Option<bool>,
}

/// Where etcd runs: on the control planes (`local`) or elsewhere (`external`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Etcd {
    #[serde(default)]
    pub local: Option<LocalEtcd>,
    #[serde(default)]
    pub external: Option<ExternalEtcd>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalEtcd {
    #[serde(default, deserialize_with = "text::option")]
    pub data_dir: Option<String>,
    #[serde(default, deserialize_with = "text::map")]
    pub extra_args: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalEtcd {
    pub endpoints: Vec<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub ca_file: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub cert_file: Option<String>,
    #[serde(default, deserialize_with = "text::option")]
    pub key_file: Option<String>,
}

/// A node taint as written in a task: `key=value:Effect`, `key:Effect`, or a map.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TaintSpec {
    Text(String),
    Map {
        key: String,
        #[serde(default)]
        value: Option<String>,
        effect: String,
    },
}

/// A taint ready for `nodeRegistration.taints`.
#[derive(Debug, Clone, PartialEq)]
struct Taint {
    key: String,
    value: Option<String>,
    effect: String,
}

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

impl TaintSpec {
    fn parse(&self) -> Result<Taint, String> {
        let (key, value, effect) = match self {
            TaintSpec::Map { key, value, effect } => (key.clone(), value.clone(), effect.clone()),
            TaintSpec::Text(text) => {
                let (target, effect) = text.rsplit_once(':').ok_or_else(|| {
                    format!("taint `{text}` has no effect (write `key=value:NoSchedule`)")
                })?;
                let (key, value) = match target.split_once('=') {
                    Some((key, value)) => (key.to_string(), Some(value.to_string())),
                    None => (target.to_string(), None),
                };
                (key, value, effect.to_string())
            }
        };
        if key.is_empty() {
            return Err("a taint needs a key".to_string());
        }
        if !TAINT_EFFECTS.contains(&effect.as_str()) {
            return Err(format!(
                "taint effect `{effect}` is not one of {}",
                TAINT_EFFECTS.join(", ")
            ));
        }
        Ok(Taint { key, value, effect })
    }
}

/// Node labels as a map (`{zone: a}`) or `k=v` texts; kept in the order given.
fn labels<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map
            .into_iter()
            .map(|(key, value)| format!("{key}={}", text::of(&value)))
            .collect()),
        Some(Value::Array(items)) => Ok(items.iter().map(text::of).collect()),
        Some(Value::String(text)) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_string)
            .collect()),
        Some(other) => Err(serde::de::Error::custom(format!(
            "`{other}` is not a map of labels"
        ))),
    }
}

/// Settings that are text to kubeadm but that YAML may have read as numbers or booleans.
mod text {
    use indexmap::IndexMap;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn of(value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }

    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => None,
            Some(value) => Some(of(&value)),
        })
    }

    pub fn map<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<IndexMap<String, String>, D::Error> {
        let map = Option::<IndexMap<String, Value>>::deserialize(deserializer)?;
        Ok(map
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, of(&value)))
            .collect())
    }
}

/// Whole numbers, also when a template rendered them as text.
mod number {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(text)) if text.trim().parse::<u64>().is_ok() => {
                Ok(text.trim().parse().ok())
            }
            Some(other) => Err(serde::de::Error::custom(format!(
                "`{other}` is not a whole number"
            ))),
        }
    }
}

fn is_token(text: &str) -> bool {
    let Some((id, secret)) = text.split_once('.') else {
        return false;
    };
    let allowed = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    allowed(id, 6) && allowed(secret, 16)
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Args for KubeadmArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let config = &self.config;
        let at_config = |message: String, key: &str| ArgError::new(message).at(key).at("config");
        if let Some(token) = &config.token {
            if !is_token(token) {
                return Err(at_config(
                    format!("`{token}` is not a bootstrap token (6 then 16 characters from a-z and 0-9, joined by a dot)"),
                    "token",
                ));
            }
        }
        if let Some(key) = &config.certificate_key {
            if !is_hex(key, 64) {
                return Err(at_config(
                    "a certificate key is 64 hexadecimal characters (`kubeadm certs certificate-key` prints one)".to_string(),
                    "certificate_key",
                ));
            }
        }
        for hash in &config.discovery_token_ca_cert_hashes {
            if !hash
                .strip_prefix("sha256:")
                .is_some_and(|hex| is_hex(hex, 64))
            {
                return Err(at_config(
                    format!(
                        "`{hash}` is not a CA key hash (`sha256:` and 64 hexadecimal characters)"
                    ),
                    "discovery_token_ca_cert_hashes",
                ));
            }
        }
        for taint in config.node_taints.iter().flatten() {
            taint.parse().map_err(|e| at_config(e, "node_taints"))?;
        }
        for label in &config.node_labels {
            if !label.contains('=') {
                return Err(at_config(
                    format!("label `{label}` is not `key=value`"),
                    "node_labels",
                ));
            }
        }
        if let Some(etcd) = &config.etcd {
            if etcd.local.is_some() == etcd.external.is_some() {
                return Err(at_config(
                    "`etcd` takes one of `local` and `external`".to_string(),
                    "etcd",
                ));
            }
        }
        match self.action {
            Action::Join => {
                for (key, missing) in [
                    ("api_server_endpoint", config.api_server_endpoint.is_none()),
                    ("token", config.token.is_none()),
                ] {
                    if missing {
                        return Err(
                            ArgError::new(format!("`action: join` needs `config.{key}`"))
                                .at("config"),
                        );
                    }
                }
                if config.discovery_token_ca_cert_hashes.is_empty()
                    && !config.discovery_token_unsafe_skip_ca_verification
                {
                    return Err(ArgError::new(
                        "`action: join` needs `config.discovery_token_ca_cert_hashes` (or `discovery_token_unsafe_skip_ca_verification: true`)",
                    )
                    .at("config"));
                }
            }
            Action::Upgrade => {
                if self.upgrade_version().is_none() {
                    return Err(ArgError::new(
                        "`action: upgrade` needs `version` (or `config.kubernetes_version`)",
                    ));
                }
            }
            Action::Init | Action::Reset | Action::Token => {}
        }
        Ok(())
    }
}

impl KubeadmArgs {
    fn upgrade_version(&self) -> Option<String> {
        self.version
            .clone()
            .or_else(|| self.config.kubernetes_version.clone())
            .map(|version| with_v(&version))
    }

    fn preflight_flag(&self) -> Option<String> {
        (!self.ignore_preflight_errors.is_empty()).then(|| {
            format!(
                "--ignore-preflight-errors={}",
                self.ignore_preflight_errors.join(",")
            )
        })
    }
}

/// `1.31.2` and `v1.31.2` are the same version to kubeadm.
fn with_v(version: &str) -> String {
    let version = version.trim();
    if version.starts_with('v') {
        version.to_string()
    } else {
        format!("v{version}")
    }
}

/// The `kubeadm.k8s.io` API version of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigApi {
    V1beta3,
    V1beta4,
}

impl ConfigApi {
    /// v1beta4 came with kubeadm 1.31; v1beta3 is read by 1.22 and later.
    fn for_kubeadm(version: &str) -> Self {
        match minor_version(version) {
            Some((1, minor)) if minor >= 31 => ConfigApi::V1beta4,
            Some((major, _)) if major > 1 => ConfigApi::V1beta4,
            _ => ConfigApi::V1beta3,
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            ConfigApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            ConfigApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// Extra command-line arguments: a map in v1beta3, a name/value list in v1beta4.
    fn extra_args(self, args: &IndexMap<String, String>) -> Value {
        match self {
            ConfigApi::V1beta3 => Value::Object(
                args.iter()
                    .map(|(name, value)| (name.clone(), json!(value)))
                    .collect(),
            ),
            ConfigApi::V1beta4 => Value::Array(
                args.iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect(),
            ),
        }
    }
}

/// `v1.31.2` gives (1, 31).
fn minor_version(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor))
}

/// Values the module made up for one `init` (never written when nothing runs).
#[derive(Debug, Clone, Default)]
struct Generated {
    /// A token for `bootstrapTokens` when the task gives a `token_ttl` but no token.
    token: Option<String>,
    certificate_key: Option<String>,
}

/// Inserts `value` under `key` when there is something to insert.
fn put(map: &mut Map<String, Value>, key: &str, value: impl Into<Option<Value>>) {
    if let Some(value) = value.into() {
        let empty = match &value {
            Value::Object(inner) => inner.is_empty(),
            Value::Array(items) => items.is_empty(),
            Value::Null => true,
            _ => false,
        };
        if !empty {
            map.insert(key.to_string(), value);
        }
    }
}

fn text_value(text: &Option<String>) -> Option<Value> {
    text.as_ref().map(|text| json!(text))
}

fn map_value(map: &IndexMap<String, String>) -> Option<Value> {
    (!map.is_empty()).then(|| {
        Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), json!(value)))
                .collect(),
        )
    })
}

impl KubeadmConfig {
    fn node_registration(&self, api: ConfigApi) -> Value {
        let mut registration = Map::new();
        put(&mut registration, "name", text_value(&self.node_name));
        registration.insert(
            "criSocket".to_string(),
            json!(self.cri_socket.as_deref().unwrap_or(CONTAINERD_SOCKET)),
        );
        if let Some(taints) = &self.node_taints {
            // An empty list is meaningful: no taint, not even the control plane's default.
            let taints: Vec<Value> = taints
                .iter()
                .filter_map(|taint| taint.parse().ok())
                .map(|taint| {
                    let mut entry = Map::new();
                    entry.insert("key".to_string(), json!(taint.key));
                    put(&mut entry, "value", taint.value.map(Value::from));
                    entry.insert("effect".to_string(), json!(taint.effect));
                    Value::Object(entry)
                })
                .collect();
            registration.insert("taints".to_string(), Value::Array(taints));
        }
        let mut kubelet_args = IndexMap::new();
        if !self.node_labels.is_empty() {
            kubelet_args.insert("node-labels".to_string(), self.node_labels.join(","));
        }
        for (name, value) in &self.kubelet_extra_args {
            kubelet_args.insert(name.clone(), value.clone());
        }
        if !kubelet_args.is_empty() {
            registration.insert(
                "kubeletExtraArgs".to_string(),
                api.extra_args(&kubelet_args),
            );
        }
        Value::Object(registration)
    }

    fn local_api_endpoint(&self) -> Option<Value> {
        let mut endpoint = Map::new();
        put(
            &mut endpoint,
            "advertiseAddress",
            text_value(&self.advertise_address),
        );
        put(&mut endpoint, "bindPort", self.bind_port.map(Value::from));
        (!endpoint.is_empty()).then_some(Value::Object(endpoint))
    }

    fn init_configuration(&self, api: ConfigApi, generated: &Generated) -> Value {
        let mut init = Map::new();
        init.insert("apiVersion".to_string(), json!(api.api_version()));
        init.insert("kind".to_string(), json!("InitConfiguration"));
        if self.token.is_some() || self.token_ttl.is_some() {
            let mut token = Map::new();
            put(
                &mut token,
                "token",
                text_value(&self.token.clone().or(generated.token.clone())),
            );
            put(&mut token, "ttl", text_value(&self.token_ttl));
            token.insert("groups".to_string(), json!([NODE_TOKEN_GROUP]));
            token.insert("usages".to_string(), json!(["signing", "authentication"]));
            init.insert("bootstrapTokens".to_string(), json!([token]));
        }
        put(
            &mut init,
            "certificateKey",
            text_value(
                &self
                    .certificate_key
                    .clone()
                    .or(generated.certificate_key.clone()),
            ),
        );
        put(&mut init, "localAPIEndpoint", self.local_api_endpoint());
        init.insert("nodeRegistration".to_string(), self.node_registration(api));
        put(&mut init, "skipPhases", json!(self.skip_phases));
        Value::Object(init)
    }

    fn cluster_configuration(&self, api: ConfigApi, kubeadm_version: &str) -> Value {
        let mut cluster = Map::new();
        cluster.insert("apiVersion".to_string(), json!(api.api_version()));
        cluster.insert("kind".to_string(), json!("ClusterConfiguration"));
        let version = self
            .kubernetes_version
            .as_deref()
            .map(with_v)
            .unwrap_or_else(|| kubeadm_version.to_string());
        put(
            &mut cluster,
            "kubernetesVersion",
            (!version.is_empty()).then(|| json!(version)),
        );
        put(&mut cluster, "clusterName", text_value(&self.cluster_name));
        put(
            &mut cluster,
            "controlPlaneEndpoint",
            text_value(&self.control_plane_endpoint),
        );
        put(
            &mut cluster,
            "imageRepository",
            text_value(&self.image_repository),
        );
        let mut networking = Map::new();
        put(&mut networking, "dnsDomain", text_value(&self.dns_domain));
        put(&mut networking, "podSubnet", text_value(&self.pod_subnet));
        put(
            &mut networking,
            "serviceSubnet",
            text_value(&self.service_subnet),
        );
        put(&mut cluster, "networking", Value::Object(networking));
        let mut api_server = Map::new();
        put(
            &mut api_server,
            "certSANs",
            json!(self.api_server_cert_sans),
        );
        if !self.api_server_extra_args.is_empty() {
            api_server.insert(
                "extraArgs".to_string(),
                api.extra_args(&self.api_server_extra_args),
            );
        }
        put(&mut cluster, "apiServer", Value::Object(api_server));
        if let Some(etcd) = &self.etcd {
            let mut section = Map::new();
            if let Some(local) = &etcd.local {
                let mut inner = Map::new();
                put(&mut inner, "dataDir", text_value(&local.data_dir));
                if !local.extra_args.is_empty() {
                    inner.insert("extraArgs".to_string(), api.extra_args(&local.extra_args));
                }
                section.insert("local".to_string(), Value::Object(inner));
            }
            if let Some(external) = &etcd.external {
                let mut inner = Map::new();
                inner.insert("endpoints".to_string(), json!(external.endpoints));
                put(&mut inner, "caFile", text_value(&external.ca_file));
                put(&mut inner, "certFile", text_value(&external.cert_file));
                put(&mut inner, "keyFile", text_value(&external.key_file));
                section.insert("external".to_string(), Value::Object(inner));
            }
            cluster.insert("etcd".to_string(), Value::Object(section));
        }
        Value::Object(cluster)
    }

    fn kubelet_configuration(&self) -> Value {
        let mut kubelet = Map::new();
        kubelet.insert(
            "apiVersion".to_string(),
            json!("kubelet.config.k8s.io/v1beta1"),
        );
        kubelet.insert("kind".to_string(), json!("KubeletConfiguration"));
        kubelet.insert(
            "cgroupDriver".to_string(),
            json!(self.cgroup_driver.as_deref().unwrap_or("systemd")),
        );
        put(&mut kubelet, "maxPods", self.max_pods.map(Value::from));
        put(
            &mut kubelet,
            "systemReserved",
            map_value(&self.system_reserved),
        );
        put(&mut kubelet, "kubeReserved", map_value(&self.kube_reserved));
        put(&mut kubelet, "evictionHard", map_value(&self.eviction_hard));
        put(
            &mut kubelet,
            "failSwapOn",
            self.fail_swap_on.map(Value::from),
        );
        Value::Object(kubelet)
    }

    fn join_configuration(&self, api: ConfigApi) -> Value {
        let mut join = Map::new();
        join.insert("apiVersion".to_string(), json!(api.api_version()));
        join.insert("kind".to_string(), json!("JoinConfiguration"));
        let mut bootstrap = Map::new();
        put(
            &mut bootstrap,
            "apiServerEndpoint",
            text_value(&self.api_server_endpoint),
        );
        put(&mut bootstrap, "token", text_value(&self.token));
        put(
            &mut bootstrap,
            "caCertHashes",
            json!(self.discovery_token_ca_cert_hashes),
        );
        if self.discovery_token_unsafe_skip_ca_verification {
            bootstrap.insert("unsafeSkipCAVerification".to_string(), json!(true));
        }
        join.insert(
            "discovery".to_string(),
            json!({"bootstrapToken": Value::Object(bootstrap)}),
        );
        join.insert("nodeRegistration".to_string(), self.node_registration(api));
        if self.control_plane {
            let mut control_plane = Map::new();
            put(
                &mut control_plane,
                "localAPIEndpoint",
                self.local_api_endpoint(),
            );
            put(
                &mut control_plane,
                "certificateKey",
                text_value(&self.certificate_key),
            );
            join.insert("controlPlane".to_string(), Value::Object(control_plane));
        }
        put(&mut join, "skipPhases", json!(self.skip_phases));
        Value::Object(join)
    }

    /// The configuration file of `init` (three documents) or `join` (one).
    fn render(&self, action: Action, kubeadm_version: &str, generated: &Generated) -> String {
        let api = ConfigApi::for_kubeadm(kubeadm_version);
        let documents = match action {
            Action::Join => vec![self.join_configuration(api)],
            _ => vec![
                self.init_configuration(api, generated),
                self.cluster_configuration(api, kubeadm_version),
                self.kubelet_configuration(),
            ],
        };
        let mut out = String::from("# Written by rplay (kubeadm).\n");
        for (index, document) in documents.iter().enumerate() {
            if index > 0 {
                out.push_str("---\n");
            }
            yaml::emit(document, &mut out);
        }
        out
    }
}

/// A small YAML writer for the configuration: block style, keys in the order built,
/// strings quoted whenever a YAML 1.1 reader could take them for something else.
mod yaml {
    use serde_json::Value;

    pub fn emit(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) if !map.is_empty() => mapping(map, 0, out),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }

    fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
        for (key, value) in map {
            out.push_str(&" ".repeat(indent));
            out.push_str(&text(key));
            out.push(':');
            node(value, indent, out);
        }
    }

    /// A value after `key:`; nested mappings indent by two, sequences sit at the key's
    /// indentation (kubeadm's own style).
    fn node(value: &Value, indent: usize, out: &mut String) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push('\n');
                mapping(map, indent + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(items, indent, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }

    fn sequence(items: &[Value], indent: usize, out: &mut String) {
        for item in items {
            out.push_str(&" ".repeat(indent));
            out.push('-');
            match item {
                Value::Object(map) if !map.is_empty() => {
                    let mut inner = String::new();
                    mapping(map, indent + 2, &mut inner);
                    out.push(' ');
                    out.push_str(&inner[indent + 2..]);
                }
                Value::Array(inner) if !inner.is_empty() => {
                    out.push('\n');
                    sequence(inner, indent + 2, out);
                }
                other => {
                    out.push(' ');
                    out.push_str(&scalar(other));
                    out.push('\n');
                }
            }
        }
    }

    fn scalar(value: &Value) -> String {
        match value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => text(s),
            Value::Array(_) => "[]".to_string(),
            Value::Object(_) => "{}".to_string(),
        }
    }

    /// A string plain when it can only be read back as that string, else double-quoted
    /// (JSON's escapes are YAML's).
    pub fn text(s: &str) -> String {
        let plain = s
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '/' || first == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./:=@+,~-".contains(c))
            && !s.ends_with(':')
            && !matches!(
                s.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
            );
        if plain {
            s.to_string()
        } else {
            serde_json::to_string(s).unwrap_or_default()
        }
    }
}

/// Reads `kubeadm version -o short`; `Err` is a plan that fails when kubeadm is missing.
async fn kubeadm_version(transport: &dyn Transport) -> Result<Result<String, Plan>, ModuleError> {
    let output = transport
        .run(&Exec::new(["kubeadm", "version", "-o", "short"]))
        .await?;
    if output.rc == 127 || (output.rc == 2 && output.stderr_text().contains("Errno 2")) {
        return Ok(Err(Plan::fail(
            "kubeadm is not installed on the host (no `kubeadm` in PATH)",
        )));
    }
    if !output.success() {
        return Ok(Err(Plan::fail(format!(
            "`kubeadm version` failed (rc {}): {}",
            output.rc,
            output.stderr_text().trim()
        ))));
    }
    let version = output.stdout_text().trim().to_string();
    if minor_version(&version).is_none() {
        return Ok(Err(Plan::fail(format!(
            "cannot read the version kubeadm printed: {version:?}"
        ))));
    }
    Ok(Ok(version))
}

/// A command whose output becomes the task's `rc`, `stdout` and `stderr`.
fn kubeadm_step(argv: Vec<String>) -> Step {
    let mut step = Step::capture(Exec::new(argv));
    if let Step::Run { allow_failure, .. } = &mut step {
        // A failing kubeadm fails the task (the engine records its output first).
        *allow_failure = false;
    }
    step
}

/// `mkdir -p` the file's directory, then write it with mode 0600: it may hold a token.
fn config_steps(path: &str, content: &str) -> Vec<Step> {
    vec![
        Step::run(Exec::new(["mkdir", "-p", "--", dirname(path)])),
        Step::write(
            path,
            content.as_bytes().to_vec(),
            FileAttrs {
                mode: Some(0o600),
                ..FileAttrs::default()
            },
        ),
    ]
}

/// Bytes from the controller's random source, for tokens and certificate keys.
fn random_bytes(count: usize) -> Result<Vec<u8>, ModuleError> {
    use std::io::Read;
    let mut bytes = vec![0u8; count];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut bytes))
        .map_err(|e| ModuleError::failed(format!("reading /dev/urandom: {e}")))?;
    Ok(bytes)
}

/// A new bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
fn new_token() -> Result<String, ModuleError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut chars = Vec::with_capacity(22);
    while chars.len() < 22 {
        // 252 is the largest multiple of 36 below 256: above it a byte would favour some
        // characters, so it is dropped.
        for byte in random_bytes(32)? {
            if byte < 252 && chars.len() < 22 {
                chars.push(ALPHABET[usize::from(byte) % 36]);
            }
        }
    }
    let text = String::from_utf8(chars).expect("ASCII");
    Ok(format!("{}.{}", &text[..6], &text[6..]))
}

/// A new key for the uploaded certificates: 32 random bytes in hexadecimal.
fn new_certificate_key() -> Result<String, ModuleError> {
    Ok(hex::encode(random_bytes(32)?))
}

/// The API server's address (`host:port`) in a kubeconfig's first `server:`.
fn kubeconfig_server(kubeconfig: &str) -> Option<String> {
    kubeconfig.lines().find_map(|line| {
        let value = line.trim().strip_prefix("server:")?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        let address = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .unwrap_or(value);
        Some(address.trim_end_matches('/').to_string())
    })
}

/// The `sha256:` hash kubeadm pins a cluster's CA with: SHA-256 of the DER
/// SubjectPublicKeyInfo of the first certificate in `pem`.
fn ca_public_key_hash(pem: &str) -> Result<String, String> {
    use base64::Engine;
    use sha2::Digest;
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .ok_or("no PEM certificate in it")?;
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the certificate is not base64: {e}"))?;
    let spki = der::subject_public_key_info(&der).ok_or("the certificate is not DER X.509")?;
    Ok(format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(spki))
    ))
}

/// Just enough DER to find a certificate's public key.
mod der {
    /// One element: its tag, its content, and the whole element with its header.
    struct Element<'a> {
        tag: u8,
        content: &'a [u8],
        whole: &'a [u8],
    }

    fn read(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
        let tag = *input.first()?;
        let first = *input.get(1)?;
        let (length, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let mut length = 0usize;
            for byte in input.get(2..2 + count)? {
                length = (length << 8) | usize::from(*byte);
            }
            (length, 2 + count)
        };
        let end = header.checked_add(length)?;
        let whole = input.get(..end)?;
        Some((
            Element {
                tag,
                content: &whole[header..],
                whole,
            },
            &input[end..],
        ))
    }

    /// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    /// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, … } … }
    pub fn subject_public_key_info(certificate: &[u8]) -> Option<&[u8]> {
        const SEQUENCE: u8 = 0x30;
        let (certificate, _) = read(certificate)?;
        if certificate.tag != SEQUENCE {
            return None;
        }
        let (tbs, _) = read(certificate.content)?;
        if tbs.tag != SEQUENCE {
            return None;
        }
        let mut rest = tbs.content;
        if rest.first() == Some(&0xa0) {
            rest = read(rest)?.1;
        }
        for _ in 0..5 {
            rest = read(rest)?.1;
        }
        let (spki, _) = read(rest)?;
        (spki.tag == SEQUENCE).then_some(spki.whole)
    }
}

/// `2024-05-01T10:00:00Z` (or with an offset, or fractions) as seconds since 1970.
fn unix_time(rfc3339: &str) -> Option<i64> {
    let (date, time) = rfc3339.trim().split_once(['T', 't'])?;
    let mut date_parts = date.split('-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        (
            clock,
            sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60),
        )
    };
    let mut clock_parts = clock.split(':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.split('.').next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// One token as `kubeadm token list -o json` prints it.
#[derive(Debug, Clone, PartialEq)]
struct ListedToken {
    token: String,
    /// Seconds since 1970; `None` for a token that never expires.
    expires: Option<i64>,
    usages: Vec<String>,
    groups: Vec<String>,
    description: String,
}

impl ListedToken {
    /// Seconds it has left at `now`; `i64::MAX` for ever.
    fn left(&self, now: i64) -> i64 {
        self.expires.map_or(i64::MAX, |expires| expires - now)
    }

    fn joins_nodes(&self) -> bool {
        self.usages.iter().any(|u| u == "authentication")
            && self.usages.iter().any(|u| u == "signing")
            && self.groups.iter().any(|g| g == NODE_TOKEN_GROUP)
    }
}

/// kubeadm prints one JSON object per token, one after the other.
fn parse_token_list(text: &str) -> Result<Vec<ListedToken>, String> {
    let strings = |value: &Value, key: &str| -> Vec<String> {
        value[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect()
    };
    let mut tokens = Vec::new();
    for object in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let object = object.map_err(|e| format!("`kubeadm token list -o json` printed {e}"))?;
        let token = object["token"]
            .as_str()
            .ok_or("a listed token has no `token`")?
            .to_string();
        let expires = match object.get("expires").and_then(Value::as_str) {
            Some(text) => Some(unix_time(text).ok_or(format!("cannot read the time {text:?}"))?),
            None => None,
        };
        tokens.push(ListedToken {
            token,
            expires,
            usages: strings(&object, "usages"),
            groups: strings(&object, "groups"),
            description: object["description"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(tokens)
}

/// Prints the host's clock, then the bootstrap tokens; a few tries, since the API server
/// may still be settling right after `init`.
const TOKEN_LIST_SCRIPT: &str = r#"date -u +%s || exit
attempt=1
while :; do
  if command -v timeout >/dev/null 2>&1; then out=$(timeout 30 kubeadm token list -o json)
  else out=$(kubeadm token list -o json); fi
  rc=$?
  if [ "$rc" -eq 0 ]; then printf '%s\n' "$out"; exit 0; fi
  [ "$attempt" -ge 3 ] && exit "$rc"
  attempt=$((attempt + 1))
  sleep 2
done
"#;

/// The join information of the control plane the task runs on, and the steps (a token to
/// create, certificates to upload) that make it usable. Planned directly by `token` and by
/// `init` on an initialised node, and after a fresh `init` as its follow-up.
#[derive(Debug, Clone)]
struct JoinInfo {
    /// The token to hand out (`config.token`); any valid node token when `None`.
    token: Option<String>,
    token_ttl: Option<String>,
    upload_certs: bool,
    /// The key the certificates are (to be) encrypted with.
    certificate_key: Option<String>,
    /// `init` uploaded the certificates with `certificate_key` a moment ago.
    certificates_fresh: bool,
    /// Why nothing needs doing, when nothing does.
    settled: String,
    /// The failure when the API server does not answer.
    unreachable_api: String,
}

impl Module for JoinInfo {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let output = transport
                .run(&Exec::new([
                    "sh",
                    "-c",
                    TOKEN_LIST_SCRIPT,
                    "rplay-kubeadm-tokens",
                ]))
                .await?;
            if !output.success() {
                return Ok(Plan::fail(format!(
                    "{}: {}",
                    self.unreachable_api,
                    output.stderr_text().trim()
                )));
            }
            let stdout = output.stdout_text();
            let (clock, listing) = stdout.split_once('\n').unwrap_or((&stdout, ""));
            let now: i64 = clock
                .trim()
                .parse()
                .map_err(|_| ModuleError::failed(format!("the host's clock printed {clock:?}")))?;
            let tokens = parse_token_list(listing).map_err(ModuleError::Failed)?;
            let Some(admin) = transport.get(ADMIN_CONF).await? else {
                return Ok(Plan::fail(format!("{ADMIN_CONF} does not exist")));
            };
            let Some(server) = kubeconfig_server(&String::from_utf8_lossy(&admin)) else {
                return Ok(Plan::fail(format!("{ADMIN_CONF} names no API server")));
            };
            let Some(ca) = transport.get(CA_CERT).await? else {
                return Ok(Plan::fail(format!("{CA_CERT} does not exist")));
            };
            let ca_hash = ca_public_key_hash(&String::from_utf8_lossy(&ca))
                .map_err(|e| ModuleError::failed(format!("{CA_CERT}: {e}")))?;

            let mut steps = Vec::new();
            let mut done = Vec::new();
            let token = match &self.token {
                Some(wanted) => {
                    match tokens.iter().find(|listed| &listed.token == wanted) {
                        Some(listed) if listed.left(now) >= TOKEN_REUSE_MARGIN => {}
                        Some(_) => {
                            let id = wanted.split('.').next().unwrap_or_default();
                            steps.push(Step::run(Exec::new(["kubeadm", "token", "delete", id])));
                            steps.push(self.create_token(wanted));
                            done.push("renew the bootstrap token, which is about to expire");
                        }
                        None => {
                            steps.push(self.create_token(wanted));
                            done.push("create the bootstrap token");
                        }
                    }
                    wanted.clone()
                }
                None => match tokens
                    .iter()
                    .filter(|listed| listed.joins_nodes() && listed.left(now) >= TOKEN_REUSE_MARGIN)
                    .max_by_key(|listed| listed.left(now))
                {
                    Some(listed) => listed.token.clone(),
                    None => {
                        let token = new_token()?;
                        steps.push(self.create_token(&token));
                        done.push("create a bootstrap token (none is valid for another hour)");
                        token
                    }
                },
            };

            let mut certificate_key = self.certificate_key.clone();
            if self.upload_certs && !self.certificates_fresh {
                let upload_alive = tokens.iter().any(|listed| {
                    listed.description == CERTS_TOKEN_DESCRIPTION && listed.left(now) > 300
                });
                if certificate_key.is_none() || !upload_alive {
                    let key = match &certificate_key {
                        Some(key) => key.clone(),
                        None => new_certificate_key()?,
                    };
                    steps.push(Step::run(Exec::new([
                        "kubeadm",
                        "init",
                        "phase",
                        "upload-certs",
                        "--upload-certs",
                        "--certificate-key",
                        key.as_str(),
                    ])));
                    done.push("upload the control-plane certificates");
                    certificate_key = Some(key);
                }
            }

            let join_command = format!(
                "kubeadm join {server} --token {token} --discovery-token-ca-cert-hash {ca_hash}"
            );
            let control_plane_join_command = match (&certificate_key, self.upload_certs) {
                (Some(key), true) => {
                    format!("{join_command} --control-plane --certificate-key {key}")
                }
                _ => format!("{join_command} --control-plane"),
            };
            let mut plan = if steps.is_empty() {
                Plan::ok(self.settled.clone())
            } else {
                Plan::change(done.join(", "), steps)
            };
            plan = plan
                .with("join_command", join_command)
                .with("control_plane_join_command", control_plane_join_command)
                .with("token", token)
                .with("discovery_token_ca_cert_hash", ca_hash);
            if self.upload_certs {
                if let Some(key) = certificate_key {
                    plan = plan.with("certificate_key", key);
                }
            }
            Ok(plan)
        })
    }
}

impl JoinInfo {
    fn create_token(&self, token: &str) -> Step {
        let mut argv: Vec<String> = ["kubeadm", "token", "create", token]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(ttl) = &self.token_ttl {
            argv.push("--ttl".to_string());
            argv.push(ttl.clone());
        }
        Step::run(Exec::new(argv))
    }
}

impl KubeadmArgs {
    fn join_info(&self, settled: String, unreachable_api: String) -> JoinInfo {
        JoinInfo {
            token: self.config.token.clone(),
            token_ttl: self.config.token_ttl.clone(),
            upload_certs: self.upload_certs,
            certificate_key: self.config.certificate_key.clone(),
            certificates_fresh: false,
            settled,
            unreachable_api,
        }
    }

    /// The config file as it changes, for `--diff`.
    async fn config_diff(
        &self,
        transport: &dyn Transport,
        config: &str,
    ) -> Result<crate::Diff, ModuleError> {
        let before = transport.get(&self.config_file).await?.unwrap_or_default();
        Ok(
            text_diff(&self.config_file, &before, config.as_bytes()).unwrap_or_else(|| {
                crate::Diff {
                    path: self.config_file.clone(),
                    before: String::new(),
                    after: config.to_string(),
                }
            }),
        )
    }

    /// The config file on the host, for the result when nothing runs.
    async fn existing_config(
        &self,
        transport: &dyn Transport,
    ) -> Result<Option<String>, ModuleError> {
        Ok(transport
            .get(&self.config_file)
            .await?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn plan_init(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let transport = host.transport;
        if transport.get(ADMIN_CONF).await?.is_some() {
            let info = self.join_info(
                format!("the control plane is initialised ({ADMIN_CONF} exists and the API server answers)"),
                format!("{ADMIN_CONF} exists but the API server does not answer; start the control plane, or reset this node (`action: reset`) to initialise it again"),
            );
            let mut plan = info.plan(host).await?;
            if let Some(config) = self.existing_config(transport).await? {
                plan = plan.with("config", config);
            }
            return Ok(plan);
        }
        if transport.get(KUBELET_CONF).await?.is_some() {
            return Ok(Plan::fail(format!(
                "this node already belongs to a cluster ({KUBELET_CONF} exists, {ADMIN_CONF} does not): reset it (`action: reset`) before `init`"
            )));
        }
        let version = match kubeadm_version(transport).await? {
            Ok(version) => version,
            Err(plan) => return Ok(plan),
        };
        let generated = Generated {
            token: match (&self.config.token, &self.config.token_ttl) {
                (None, Some(_)) => Some(new_token()?),
                _ => None,
            },
            certificate_key: match (self.upload_certs, &self.config.certificate_key) {
                (true, None) => Some(new_certificate_key()?),
                _ => None,
            },
        };
        let config = self.config.render(Action::Init, &version, &generated);
        let mut argv = vec![
            "kubeadm".to_string(),
            "init".to_string(),
            "--config".to_string(),
            self.config_file.clone(),
        ];
        if self.upload_certs {
            argv.push("--upload-certs".to_string());
        }
        argv.extend(self.preflight_flag());
        let mut steps = config_steps(&self.config_file, &config);
        steps.push(kubeadm_step(argv));
        let diff = self.config_diff(transport, &config).await?;
        let mut follow_up = self.join_info(
            "the new control plane's join information".to_string(),
            "kubeadm init ran, but the API server does not answer".to_string(),
        );
        follow_up.token = self.config.token.clone().or(generated.token.clone());
        if self.upload_certs {
            follow_up.certificate_key = self
                .config
                .certificate_key
                .clone()
                .or(generated.certificate_key);
            follow_up.certificates_fresh = true;
        }
        Ok(Plan::change(
            format!("initialise the control plane with kubeadm {version}"),
            steps,
        )
        .with_diff(diff)
        .with("config", config)
        .with("kubeadm_version", version)
        .then(follow_up))
    }

    async fn plan_join(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let transport = host.transport;
        if transport.get(KUBELET_CONF).await?.is_some() {
            let mut plan = Plan::ok(format!(
                "the node already belongs to a cluster ({KUBELET_CONF} exists)"
            ));
            if let Some(config) = self.existing_config(transport).await? {
                plan = plan.with("config", config);
            }
            return Ok(plan);
        }
        let version = match kubeadm_version(transport).await? {
            Ok(version) => version,
            Err(plan) => return Ok(plan),
        };
        let config = self
            .config
            .render(Action::Join, &version, &Generated::default());
        let mut argv = vec![
            "kubeadm".to_string(),
            "join".to_string(),
            "--config".to_string(),
            self.config_file.clone(),
        ];
        argv.extend(self.preflight_flag());
        let mut steps = config_steps(&self.config_file, &config);
        steps.push(kubeadm_step(argv));
        let diff = self.config_diff(transport, &config).await?;
        let role = if self.config.control_plane {
            "a control plane"
        } else {
            "a worker"
        };
        Ok(Plan::change(
            format!(
                "join {} as {role}",
                self.config
                    .api_server_endpoint
                    .as_deref()
                    .unwrap_or_default()
            ),
            steps,
        )
        .with_diff(diff)
        .with("config", config)
        .with("kubeadm_version", version))
    }

    async fn plan_reset(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let output = host
            .transport
            .run(&Exec::new([
                "sh",
                "-c",
                "for f in \"$1\"/*.conf \"$1\"/manifests/*.yaml \"$2\"; do [ -e \"$f\" ] && printf '%s\\n' \"$f\"; done; exit 0",
                "rplay-kubeadm-reset",
                KUBERNETES_DIR,
                self.config_file.as_str(),
            ]))
            .await?;
        let found: Vec<String> = output
            .stdout_text()
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect();
        let config_file_found = found.contains(&self.config_file);
        let cluster_files: Vec<&String> = found
            .iter()
            .filter(|path| **path != self.config_file)
            .collect();
        if found.is_empty() {
            return Ok(Plan::ok(format!(
                "nothing to reset: no {KUBERNETES_DIR}/*.conf, no static pod manifests, no {}",
                self.config_file
            )));
        }
        let mut steps = Vec::new();
        if !cluster_files.is_empty() {
            let mut argv = vec![
                "kubeadm".to_string(),
                "reset".to_string(),
                "--force".to_string(),
            ];
            if let Some(socket) = &self.config.cri_socket {
                argv.push("--cri-socket".to_string());
                argv.push(socket.clone());
            }
            steps.push(kubeadm_step(argv));
        }
        if config_file_found {
            steps.push(Step::run(Exec::new([
                "rm",
                "-f",
                "--",
                self.config_file.as_str(),
            ])));
        }
        let names: Vec<&str> = found.iter().map(String::as_str).collect();
        Ok(Plan::change(
            format!("reset the node ({})", names.join(", ")),
            steps,
        ))
    }

    async fn plan_upgrade(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let transport = host.transport;
        let target = self.upgrade_version().unwrap_or_default();
        let manifest = transport.get(APISERVER_MANIFEST).await?;
        let running = match &manifest {
            Some(manifest) => manifest_version(&String::from_utf8_lossy(manifest)),
            None => {
                if self.first_control_plane {
                    return Ok(Plan::fail(format!(
                        "`first_control_plane` is set but this node runs no API server ({APISERVER_MANIFEST} does not exist)"
                    )));
                }
                let output = transport.run(&Exec::new(["kubelet", "--version"])).await?;
                output
                    .success()
                    .then(|| output.stdout_text())
                    .and_then(|text| text.split_whitespace().last().map(with_v))
            }
        };
        let what = if manifest.is_some() {
            "the API server"
        } else {
            "the kubelet"
        };
        let mut plan = if running.as_deref() == Some(target.as_str()) {
            Plan::ok(format!("{what} already runs {target}"))
        } else {
            let mut argv = vec!["kubeadm".to_string(), "upgrade".to_string()];
            if self.first_control_plane {
                argv.extend(["apply".to_string(), target.clone(), "--yes".to_string()]);
            } else {
                argv.push("node".to_string());
            }
            argv.extend(self.preflight_flag());
            Plan::change(
                format!(
                    "upgrade from {} to {target}",
                    running.as_deref().unwrap_or("an unknown version")
                ),
                vec![kubeadm_step(argv)],
            )
        };
        plan = plan.with("version", target);
        if let Some(running) = running {
            plan = plan.with("previous_version", running);
        }
        Ok(plan)
    }
}

/// The tag of the `kube-apiserver` image in its static pod manifest.
fn manifest_version(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let image = line
            .trim()
            .trim_start_matches("- ")
            .strip_prefix("image:")?
            .trim();
        let image = image.trim_matches(|c| c == '"' || c == '\'');
        let (name, tag) = image.rsplit_once(':')?;
        name.ends_with("kube-apiserver").then(|| with_v(tag))
    })
}

impl Module for KubeadmArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            match self.action {
                Action::Init => self.plan_init(host).await,
                Action::Join => self.plan_join(host).await,
                Action::Reset => self.plan_reset(host).await,
                Action::Upgrade => self.plan_upgrade(host).await,
                Action::Token => {
                    if host.transport.get(ADMIN_CONF).await?.is_none() {
                        return Ok(Plan::fail(format!(
                            "this node is not an initialised control plane ({ADMIN_CONF} does not exist)"
                        )));
                    }
                    self.join_info(
                        "a bootstrap token valid for at least another hour exists".to_string(),
                        "the API server does not answer".to_string(),
                    )
                    .plan(host)
                    .await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTransport;
    use crate::testing::{apply_with_follow_ups, Fixture, RerootedTransport};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A node whose `/etc/kubernetes` and `/var/lib/kubelet` live in a scratch directory,
    /// with `tests/rig/kubeadm-standin` as its kubeadm.
    struct Node {
        fx: Fixture,
        transport: RerootedTransport,
        root: String,
    }

    impl Node {
        fn new() -> Self {
            Node::with_version("v1.31.1")
        }

        fn with_version(version: &str) -> Self {
            let fx = Fixture::new();
            let root = fx.path("root");
            let bin = fx.path("bin");
            std::fs::create_dir_all(&root).unwrap();
            std::fs::create_dir_all(&bin).unwrap();
            let standin = format!(
                "{}/../tests/rig/kubeadm-standin",
                env!("CARGO_MANIFEST_DIR")
            );
            std::os::unix::fs::symlink(standin, format!("{bin}/kubeadm")).unwrap();
            let mut inner = LocalTransport::new();
            inner.wrapper = vec![
                "env".to_string(),
                format!("KUBEADM_STANDIN_ROOT={root}"),
                format!("KUBEADM_STANDIN_VERSION={version}"),
                format!("PATH={bin}:/usr/bin:/bin"),
            ];
            let transport = RerootedTransport {
                inner,
                root: root.clone(),
                prefixes: vec![
                    "/etc/kubernetes".to_string(),
                    "/var/lib/kubelet".to_string(),
                ],
            };
            Node {
                fx,
                transport,
                root,
            }
        }

        fn host(&self) -> Host<'_> {
            Host {
                transport: &self.transport,
                controller: &self.fx.controller,
            }
        }

        async fn plan(&self, args: Value) -> Plan {
            let spec = crate::registry::lookup("kubeadm").unwrap();
            let module = (spec.build)(args).expect("valid arguments");
            module.plan(&self.host()).await.expect("a plan")
        }

        /// Applies the plan and its follow-ups; the task's result as the engine makes it.
        async fn apply(&self, plan: &Plan) -> Map<String, Value> {
            let mut result = plan.result.clone();
            result.extend(
                apply_with_follow_ups(plan, &self.host())
                    .await
                    .expect("the steps apply"),
            );
            result
        }

        fn path(&self, path: &str) -> String {
            format!("{}{path}", self.root)
        }

        fn exists(&self, path: &str) -> bool {
            Path::new(&self.path(path)).exists()
        }

        /// The CA hash as kubeadm's documentation computes it, with openssl.
        fn openssl_ca_hash(&self) -> String {
            let output = std::process::Command::new("sh")
                .args([
                    "-c",
                    "openssl x509 -pubkey -noout -in \"$1\" | openssl pkey -pubin -outform der | sha256sum",
                    "openssl-hash",
                    &self.path(CA_CERT),
                ])
                .output()
                .expect("openssl runs");
            assert!(output.status.success(), "openssl: {output:?}");
            let text = String::from_utf8(output.stdout).unwrap();
            format!("sha256:{}", text.split_whitespace().next().unwrap())
        }
    }

    const CERTIFICATE_KEY: &str =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn init_runs_once_then_hands_out_the_same_join_command() {
        let node = Node::new();
        let args = json!({
            "action": "init",
            "config": {"control_plane_endpoint": "k8s-api.test:6443", "pod_subnet": "10.244.0.0/16"},
        });
        let first = node.plan(args.clone()).await;
        assert!(first.is_change());
        assert_eq!(first.steps.len(), 3, "{:?}", first.steps);
        assert!(matches!(&first.steps[2], Step::Run { exec, .. }
            if exec.argv == ["kubeadm", "init", "--config", "/etc/kubernetes/kubeadm-config.yaml"]));
        let result = node.apply(&first).await;
        let hash = node.openssl_ca_hash();
        let token = result["token"].as_str().unwrap();
        assert!(is_token(token), "{token}");
        assert_eq!(result["discovery_token_ca_cert_hash"], hash.as_str());
        assert_eq!(
            result["join_command"],
            format!("kubeadm join k8s-api.test:6443 --token {token} --discovery-token-ca-cert-hash {hash}")
        );
        assert_eq!(
            result["control_plane_join_command"],
            format!(
                "{} --control-plane",
                result["join_command"].as_str().unwrap()
            )
        );
        assert!(result["config"]
            .as_str()
            .unwrap()
            .contains("kind: ClusterConfiguration\nkubernetesVersion: v1.31.1\n"));
        let config_mode = std::fs::metadata(node.path("/etc/kubernetes/kubeadm-config.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(config_mode, 0o600);

        let second = node.plan(args).await;
        assert!(!second.is_change(), "{second:?}");
        assert!(second.reason.as_deref().unwrap().contains("is initialised"));
        assert_eq!(second.result["join_command"], result["join_command"]);
        assert_eq!(second.result["config"], result["config"]);
        assert!(second.then.is_none());
    }

    #[tokio::test]
    async fn upload_certs_with_a_given_key_is_quiet_on_the_second_run() {
        let node = Node::new();
        let args = json!({
            "action": "init",
            "upload_certs": true,
            "config": {"control_plane_endpoint": "cp.test:6443", "certificate_key": CERTIFICATE_KEY},
        });
        let first = node.plan(args.clone()).await;
        assert!(
            matches!(&first.steps[2], Step::Run { exec, .. } if exec.argv.contains(&"--upload-certs".to_string()))
        );
        let result = node.apply(&first).await;
        assert_eq!(result["certificate_key"], CERTIFICATE_KEY);
        assert!(result["control_plane_join_command"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "--control-plane --certificate-key {CERTIFICATE_KEY}"
            )));
        assert!(result["config"]
            .as_str()
            .unwrap()
            .contains(&format!("certificateKey: \"{CERTIFICATE_KEY}\"")));
        let second = node.plan(args).await;
        assert!(!second.is_change(), "{second:?}");
        assert_eq!(second.result["certificate_key"], CERTIFICATE_KEY);
    }

    #[tokio::test]
    async fn upload_certs_without_a_key_uploads_again_with_a_new_one() {
        let node = Node::new();
        let args = json!({"action": "init", "upload_certs": "yes"});
        let first = node.plan(args.clone()).await;
        let result = node.apply(&first).await;
        let key = result["certificate_key"].as_str().unwrap().to_string();
        assert!(is_hex(&key, 64), "{key}");
        let stored =
            std::fs::read_to_string(node.path("/var/lib/kubeadm-standin/certificate-key")).unwrap();
        assert_eq!(
            stored.trim(),
            key,
            "init uploaded with the key the module chose"
        );
        let second = node.plan(args).await;
        assert!(
            second.is_change(),
            "the module cannot know the key of an old upload"
        );
        assert!(matches!(&second.steps[0], Step::Run { exec, .. }
            if exec.argv[..5] == ["kubeadm", "init", "phase", "upload-certs", "--upload-certs"]));
        assert_ne!(second.result["certificate_key"], key.as_str());
    }

    #[tokio::test]
    async fn token_creates_one_only_when_none_is_valid() {
        let node = Node::new();
        node.apply(&node.plan(json!({"action": "init"})).await)
            .await;
        let listed = node.plan(json!({"action": "token"})).await;
        assert!(!listed.is_change());
        let token = listed.result["token"].as_str().unwrap().to_string();
        let deleted = node
            .transport
            .run(&Exec::new(["kubeadm", "token", "delete", &token[..6]]))
            .await
            .unwrap();
        assert!(deleted.success(), "{deleted:?}");
        let plan = node.plan(json!({"action": "token"})).await;
        assert!(plan.is_change());
        assert_eq!(
            plan.reason.as_deref(),
            Some("create a bootstrap token (none is valid for another hour)")
        );
        let new_token = plan.result["token"].as_str().unwrap().to_string();
        assert_ne!(new_token, token);
        node.apply(&plan).await;
        let again = node.plan(json!({"action": "token"})).await;
        assert!(!again.is_change());
        assert_eq!(again.result["token"], new_token.as_str());
    }

    #[tokio::test]
    async fn a_named_token_is_created_once() {
        let node = Node::new();
        node.apply(&node.plan(json!({"action": "init"})).await)
            .await;
        let args = json!({"action": "token", "config": {"token": "abcdef.0123456789abcdef", "token_ttl": "2h"}});
        let plan = node.plan(args.clone()).await;
        assert!(matches!(&plan.steps[..], [Step::Run { exec, .. }]
            if exec.argv == ["kubeadm", "token", "create", "abcdef.0123456789abcdef", "--ttl", "2h"]));
        node.apply(&plan).await;
        let again = node.plan(args).await;
        assert!(!again.is_change(), "{again:?}");
        assert!(again.result["join_command"]
            .as_str()
            .unwrap()
            .contains("--token abcdef.0123456789abcdef "));
    }

    #[tokio::test]
    async fn token_on_a_node_without_a_cluster_fails() {
        let node = Node::new();
        let plan = node.plan(json!({"action": "token"})).await;
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.failure.as_deref(),
            Some("this node is not an initialised control plane (/etc/kubernetes/admin.conf does not exist)")
        );
    }

    #[tokio::test]
    async fn an_api_server_that_does_not_answer_fails_init() {
        let node = Node::new();
        node.apply(&node.plan(json!({"action": "init"})).await)
            .await;
        std::fs::write(node.path("/etc/kubernetes/.standin-api-down"), "").unwrap();
        let plan = node.plan(json!({"action": "init"})).await;
        assert!(plan.steps.is_empty());
        let failure = plan.failure.unwrap();
        assert!(
            failure.starts_with(
                "/etc/kubernetes/admin.conf exists but the API server does not answer"
            ),
            "{failure}"
        );
        assert!(failure.contains("connection refused"), "{failure}");
    }

    #[tokio::test]
    async fn join_writes_the_join_configuration_once() {
        let control_plane = Node::new();
        let init = control_plane
            .apply(&control_plane.plan(json!({"action": "init"})).await)
            .await;
        let worker = Node::new();
        let args = json!({
            "action": "join",
            "config": {
                "api_server_endpoint": "10.0.0.1:6443",
                "token": init["token"],
                "discovery_token_ca_cert_hashes": [init["discovery_token_ca_cert_hash"]],
                "node_labels": {"node.kubernetes.io/pool": "general"},
            },
        });
        let first = worker.plan(args.clone()).await;
        assert!(first.is_change());
        let config = first.result["config"].as_str().unwrap();
        assert!(config.contains("kind: JoinConfiguration\n"), "{config}");
        assert!(
            config.contains("    apiServerEndpoint: \"10.0.0.1:6443\"\n"),
            "{config}"
        );
        assert!(!config.contains("ClusterConfiguration"));
        worker.apply(&first).await;
        assert!(worker.exists(KUBELET_CONF));
        let second = worker.plan(args).await;
        assert!(!second.is_change());
        assert_eq!(
            second.reason.as_deref(),
            Some("the node already belongs to a cluster (/etc/kubernetes/kubelet.conf exists)")
        );
    }

    #[tokio::test]
    async fn init_on_a_worker_fails_before_kubeadm_does() {
        let node = Node::new();
        std::fs::create_dir_all(node.path("/etc/kubernetes")).unwrap();
        std::fs::write(node.path(KUBELET_CONF), "apiVersion: v1\n").unwrap();
        let plan = node.plan(json!({"action": "init"})).await;
        assert!(plan.steps.is_empty());
        assert!(plan
            .failure
            .unwrap()
            .starts_with("this node already belongs to a cluster"));
    }

    #[tokio::test]
    async fn reset_cleans_up_once() {
        let node = Node::new();
        node.apply(&node.plan(json!({"action": "init"})).await)
            .await;
        let reset = node.plan(json!({"action": "reset"})).await;
        assert!(reset.is_change());
        assert!(
            matches!(&reset.steps[..], [Step::Run { exec: kubeadm, .. }, Step::Run { exec: rm, .. }]
            if kubeadm.argv == ["kubeadm", "reset", "--force"]
                && rm.argv == ["rm", "-f", "--", "/etc/kubernetes/kubeadm-config.yaml"])
        );
        node.apply(&reset).await;
        assert!(!node.exists(ADMIN_CONF));
        assert!(!node.exists("/etc/kubernetes/kubeadm-config.yaml"));
        let again = node.plan(json!({"action": "reset"})).await;
        assert!(!again.is_change());
        assert!(again.reason.unwrap().starts_with("nothing to reset"));
        // And the node can be initialised again.
        let init = node.plan(json!({"action": "init"})).await;
        assert!(init.is_change());
        node.apply(&init).await;
    }

    #[tokio::test]
    async fn upgrade_apply_runs_until_the_api_server_has_the_version() {
        let node = Node::new();
        node.apply(&node.plan(json!({"action": "init"})).await)
            .await;
        let args = json!({"action": "upgrade", "version": "1.31.2", "first_control_plane": true});
        let plan = node.plan(args.clone()).await;
        assert_eq!(
            plan.reason.as_deref(),
            Some("upgrade from v1.31.1 to v1.31.2")
        );
        assert!(matches!(&plan.steps[..], [Step::Run { exec, .. }]
            if exec.argv == ["kubeadm", "upgrade", "apply", "v1.31.2", "--yes"]));
        node.apply(&plan).await;
        let again = node.plan(args).await;
        assert!(!again.is_change());
        assert_eq!(
            again.reason.as_deref(),
            Some("the API server already runs v1.31.2")
        );
        assert_eq!(again.result["previous_version"], "v1.31.2");
    }

    #[tokio::test]
    async fn a_missing_kubeadm_fails_clearly() {
        let node = Node::new();
        std::fs::remove_file(node.fx.path("bin/kubeadm")).unwrap();
        let plan = node.plan(json!({"action": "init"})).await;
        assert_eq!(
            plan.failure.as_deref(),
            Some("kubeadm is not installed on the host (no `kubeadm` in PATH)")
        );
    }

    #[test]
    fn the_ca_hash_is_the_sha256_of_the_public_key_info() {
        let pem = std::fs::read_to_string(format!(
            "{}/../tests/plans/kubeadm/fixtures/ca.crt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        // `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`
        assert_eq!(
            ca_public_key_hash(&pem).unwrap(),
            "sha256:a44c6d0ae7ad8143bdbf18801bf80be2d0fa161e5f1d24e1fad36fa4cf73afff"
        );
        assert!(ca_public_key_hash("no certificate").is_err());
        assert!(ca_public_key_hash(
            "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }

    #[test]
    fn times_are_read_as_rfc3339() {
        assert_eq!(unix_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_time("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(unix_time("2024-02-29T14:00:00+02:00"), Some(1_709_208_000));
        assert_eq!(
            unix_time("2024-02-29T12:00:00.123456Z"),
            Some(1_709_208_000)
        );
        assert_eq!(unix_time("yesterday"), None);
    }

    #[test]
    fn the_token_list_is_a_stream_of_objects() {
        let listing = r#"{
    "kind": "BootstrapToken",
    "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
    "token": "abcdef.0123456789abcdef",
    "expires": "2024-02-29T12:00:00Z",
    "usages": ["authentication", "signing"],
    "groups": ["system:bootstrappers:kubeadm:default-node-token"]
}
{
    "kind": "BootstrapToken",
    "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
    "token": "zzzzzz.0123456789abcdef",
    "description": "Proxy for managing TTL for the kubeadm-certs secret"
}
"#;
        let tokens = parse_token_list(listing).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens[0].joins_nodes());
        assert_eq!(tokens[0].left(1_709_208_000 - 60), 60);
        assert!(!tokens[1].joins_nodes());
        assert_eq!(tokens[1].left(0), i64::MAX);
        assert_eq!(tokens[1].description, CERTS_TOKEN_DESCRIPTION);
        assert!(parse_token_list("").unwrap().is_empty());
        assert!(parse_token_list("{\"kind\": \"BootstrapToken\"}").is_err());
    }

    #[test]
    fn yaml_text_is_quoted_when_a_reader_could_mistake_it() {
        for plain in [
            "v1.31.1",
            "registry.k8s.io",
            "unix:///var/run/containerd/containerd.sock",
            "a=b,c=d",
            "k8s-api.example:6443",
            "/var/lib/etcd",
        ] {
            assert_eq!(yaml::text(plain), plain);
        }
        for (text, quoted) in [
            ("10.244.0.0/16", "\"10.244.0.0/16\""),
            // Anything that starts like a number is quoted, whatever follows.
            ("24h0m0s", "\"24h0m0s\""),
            ("1.31", "\"1.31\""),
            ("yes", "\"yes\""),
            ("On", "\"On\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("key:", "\"key:\""),
            ("*", "\"*\""),
            ("x\ny", "\"x\\ny\""),
        ] {
            assert_eq!(yaml::text(text), quoted);
        }
    }

    #[test]
    fn the_configuration_follows_the_api_version_of_kubeadm() {
        let config: KubeadmConfig = serde_json::from_value(json!({
            "kubernetes_version": "1.30.4",
            "api_server_extra_args": {"audit-log-maxage": 30},
            "node_labels": ["zone=a"],
            "node_taints": ["dedicated=infra:NoSchedule", {"key": "gpu", "effect": "NoExecute"}],
            "bind_port": "6443",
            "max_pods": 200,
            "system_reserved": {"cpu": "500m", "memory": "1Gi"},
            "etcd": {"external": {"endpoints": ["https://10.0.0.9:2379"], "ca_file": "/etc/etcd/ca.crt"}},
        }))
        .unwrap();
        let old = config.render(Action::Init, "v1.30.4", &Generated::default());
        assert_eq!(
            old,
            "# Written by rplay (kubeadm).
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  taints:
  - key: dedicated
    value: infra
    effect: NoSchedule
  - key: gpu
    effect: NoExecute
  kubeletExtraArgs:
    node-labels: zone=a
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.30.4
apiServer:
  extraArgs:
    audit-log-maxage: \"30\"
etcd:
  external:
    endpoints:
    - https://10.0.0.9:2379
    caFile: /etc/etcd/ca.crt
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
maxPods: 200
systemReserved:
  cpu: \"500m\"
  memory: \"1Gi\"
"
        );
        let new = config.render(Action::Init, "v1.31.0", &Generated::default());
        assert!(new.contains("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n"));
        assert!(new.contains("  kubeletExtraArgs:\n  - name: node-labels\n    value: zone=a\n"));
        assert!(new
            .contains("apiServer:\n  extraArgs:\n  - name: audit-log-maxage\n    value: \"30\"\n"));
    }

    #[test]
    fn an_empty_taint_list_is_written_out() {
        let config: KubeadmConfig = serde_json::from_value(json!({"node_taints": []})).unwrap();
        let text = config.render(Action::Init, "v1.31.0", &Generated::default());
        assert!(text.contains("  taints: []\n"), "{text}");
    }

    #[test]
    fn a_control_plane_join_carries_its_endpoint_and_key() {
        let config: KubeadmConfig = serde_json::from_value(json!({
            "api_server_endpoint": "cp.test:6443",
            "token": "abcdef.0123456789abcdef",
            "discovery_token_ca_cert_hashes": "sha256:a44c6d0ae7ad8143bdbf18801bf80be2d0fa161e5f1d24e1fad36fa4cf73afff",
            "control_plane": true,
            "certificate_key": CERTIFICATE_KEY,
            "advertise_address": "10.0.0.2",
            "node_name": "cp-2",
        }))
        .unwrap();
        assert_eq!(
            config.render(Action::Join, "v1.31.0", &Generated::default()),
            format!(
                "# Written by rplay (kubeadm).
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: cp.test:6443
    token: abcdef.0123456789abcdef
    caCertHashes:
    - sha256:a44c6d0ae7ad8143bdbf18801bf80be2d0fa161e5f1d24e1fad36fa4cf73afff
nodeRegistration:
  name: cp-2
  criSocket: unix:///var/run/containerd/containerd.sock
controlPlane:
  localAPIEndpoint:
    advertiseAddress: \"10.0.0.2\"
  certificateKey: \"{CERTIFICATE_KEY}\"
"
            )
        );
    }

    #[test]
    fn versions_and_manifests_are_read() {
        assert_eq!(minor_version("v1.31.2"), Some((1, 31)));
        assert_eq!(minor_version("1.30.0-rc.1"), Some((1, 30)));
        assert_eq!(minor_version("latest"), None);
        assert_eq!(ConfigApi::for_kubeadm("v1.30.9"), ConfigApi::V1beta3);
        assert_eq!(ConfigApi::for_kubeadm("v1.31.0"), ConfigApi::V1beta4);
        assert_eq!(
            manifest_version("spec:\n  containers:\n  - command:\n    - kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.4\n"),
            Some("v1.30.4".to_string())
        );
        assert_eq!(
            kubeconfig_server("clusters:\n- cluster:\n    server: https://10.0.0.1:6443\n"),
            Some("10.0.0.1:6443".to_string())
        );
    }

    #[test]
    fn generated_secrets_have_kubeadm_shapes() {
        assert!(is_token(&new_token().unwrap()));
        assert!(is_hex(&new_certificate_key().unwrap(), 64));
        assert_ne!(new_token().unwrap(), new_token().unwrap());
    }

    #[test]
    fn bad_arguments_are_refused() {
        let spec = crate::registry::lookup("rplay.kubernetes.kubeadm").unwrap();
        let refused = |args: Value| {
            (spec.build)(args)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused(json!({"action": "destroy"})).contains("unknown variant `destroy`"));
        assert!(
            refused(json!({"action": "init", "config": {"token": "short.token"}}))
                .contains("is not a bootstrap token")
        );
        assert!(
            refused(json!({"action": "init", "config": {"certificate_key": "abc"}}))
                .contains("64 hexadecimal")
        );
        assert!(
            refused(json!({"action": "init", "config": {"node_taints": ["a=b:Never"]}}))
                .contains("taint effect `Never`")
        );
        assert!(
            refused(json!({"action": "init", "config": {"node_labels": ["zone"]}}))
                .contains("label `zone`")
        );
        assert!(refused(json!({"action": "init", "config": {"etcd": {}}}))
            .contains("one of `local` and `external`"));
        assert!(
            refused(json!({"action": "init", "config": {"pod_subnets": "x"}}))
                .contains("unknown field `pod_subnets`")
        );
        assert!(
            refused(json!({"action": "join", "config": {"token": "abcdef.0123456789abcdef"}}))
                .contains("`config.api_server_endpoint`")
        );
        assert!(refused(json!({"action": "join", "config": {"api_server_endpoint": "a:6443", "token": "abcdef.0123456789abcdef"}})).contains("discovery_token_ca_cert_hashes"));
        assert!(refused(json!({"action": "upgrade"})).contains("needs `version`"));
        assert!(
            refused(json!({"action": "init", "config": {"max_pods": "many"}}))
                .contains("not a whole number")
        );
        assert!((spec.build)(json!({"action": "join", "config": {"api_server_endpoint": "a:6443", "token": "abcdef.0123456789abcdef", "discovery_token_unsafe_skip_ca_verification": true}})).is_ok());
    }
}
