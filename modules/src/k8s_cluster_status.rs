//! `k8s_cluster_status`: checks a cluster after deployment and gives its nodes the labels
//! and taints the inventory declares (an rplay module; `rplay cluster status` runs it on
//! the first control-plane node).
//!
//! It reads the cluster with `kubectl` on the host (see `kubectl.rs`), by default with
//! kubeadm's `/etc/kubernetes/admin.conf`, until every node in `nodes` is registered and
//! Ready and every kube-system pod is Running (or Succeeded), for at most `timeout`
//! seconds; then it fails, naming what is not ready. Reading changes nothing, so it runs
//! in check mode too.
//!
//! Labels and taints: a node that lacks a label (or has another value) gets
//! `kubectl label node NAME --overwrite K=V...`; a taint it lacks (same key and effect,
//! value compared too) gets `kubectl taint node NAME --overwrite K=V:EFFECT`. A node that
//! has them all is left alone, so the second run is `ok`. Labels and taints the node has
//! beyond those declared are kept.
//!
//! Returns `nodes` (name, roles, version, ready), `pods` (running, total, not_running)
//! and `summary`, the lines `rplay cluster status` prints.
//!
//! ```yaml
//! - name: The cluster is up, labelled and tainted
//!   k8s_cluster_status:
//!     timeout: 600
//!     nodes:
//!       - name: gpu-worker-1
//!         labels: {workload-type: inference}
//!         taints: ["nvidia.com/gpu=present:NoSchedule"]
//!       - name: cpu-worker
//! ```

use crate::args::Args;
use crate::kubectl::Kubectl;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "k8s_cluster_status",
    aliases: &[],
    doc: include_str!("k8s_cluster_status.rs"),
    free_form: None,
    build: crate::registry::build::<ClusterStatusArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterStatusArgs {
    /// The nodes the cluster must have, with the labels and taints each must carry.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Seconds to wait at most for the nodes and kube-system pods to be ready.
    #[serde(default = "five_minutes")]
    pub timeout: u64,
    /// Seconds between two readings while waiting.
    #[serde(default = "two")]
    pub sleep: u64,
    /// The kubeconfig on the host.
    #[serde(default = "admin_conf")]
    pub kubeconfig: String,
    /// The kubeconfig context to use.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubectl program on the host (default `kubectl` on PATH).
    #[serde(default)]
    pub binary_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name in the cluster.
    pub name: String,
    /// Labels it must carry (values are written as text).
    #[serde(default, deserialize_with = "null_is_empty")]
    pub labels: Map<String, Value>,
    /// Taints it must carry: `key=value:Effect` or `key:Effect`.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub taints: Vec<String>,
}

fn null_is_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn five_minutes() -> u64 {
    300
}

fn two() -> u64 {
    2
}

fn admin_conf() -> String {
    "/etc/kubernetes/admin.conf".to_string()
}

impl Args for ClusterStatusArgs {
    fn validate(&self) -> Result<(), ArgError> {
        for (index, node) in self.nodes.iter().enumerate() {
            for taint in &node.taints {
                if Taint::parse(taint).is_none() {
                    return Err(ArgError::new(format!(
                        "taint `{taint}` of node `{}` is not `key=value:Effect` or `key:Effect` \
                         (Effect: NoSchedule, PreferNoSchedule or NoExecute)",
                        node.name
                    ))
                    .at("taints")
                    .at(&index.to_string())
                    .at("nodes"));
                }
            }
        }
        if self.sleep == 0 {
            return Err(ArgError::new("`sleep` must be at least 1").at("sleep"));
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
struct Taint {
    key: String,
    value: Option<String>,
    effect: String,
}

impl Taint {
    fn parse(text: &str) -> Option<Taint> {
        let (key_value, effect) = text.rsplit_once(':')?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return None;
        }
        let (key, value) = match key_value.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (key_value, None),
        };
        (!key.is_empty()).then(|| Taint {
            key: key.to_string(),
            value: value.filter(|value| !value.is_empty()),
            effect: effect.to_string(),
        })
    }

    fn is_on(&self, node: &Value) -> bool {
        node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|taint| {
                taint["key"].as_str() == Some(&self.key)
                    && taint["effect"].as_str() == Some(&self.effect)
                    && taint["value"].as_str().filter(|v| !v.is_empty()) == self.value.as_deref()
            })
    }
}

fn label_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        other => other.to_string(),
    }
}

fn is_ready_node(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

fn roles(node: &Value) -> String {
    let roles: Vec<&str> = node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, _)| key.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

/// One reading of the cluster.
struct Reading {
    nodes: Vec<Value>,
    pods: Vec<Value>,
}

impl Reading {
    /// What is not ready yet, in words; empty when all is.
    fn waiting_for(&self, wanted: &[NodeSpec]) -> Vec<String> {
        let mut waiting = Vec::new();
        for spec in wanted {
            match self
                .nodes
                .iter()
                .find(|node| node["metadata"]["name"].as_str() == Some(&spec.name))
            {
                None => waiting.push(format!("node {} is not registered", spec.name)),
                Some(node) if !is_ready_node(node) => {
                    waiting.push(format!("node {} is not Ready", spec.name))
                }
                Some(_) => {}
            }
        }
        for pod in &self.pods {
            let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
            if !matches!(phase, "Running" | "Succeeded") {
                waiting.push(format!(
                    "pod kube-system/{} is {phase}",
                    pod["metadata"]["name"].as_str().unwrap_or("?")
                ));
            }
        }
        waiting
    }

    fn summary(&self) -> (Vec<String>, Value, Value) {
        let mut lines = vec![format!(
            "{:<24} {:<8} {:<16} {}",
            "NODE", "READY", "ROLES", "VERSION"
        )];
        let mut nodes = Vec::new();
        for node in &self.nodes {
            let name = node["metadata"]["name"].as_str().unwrap_or("?");
            let ready = is_ready_node(node);
            let version = node["status"]["nodeInfo"]["kubeletVersion"]
                .as_str()
                .unwrap_or("?");
            let roles = roles(node);
            lines.push(format!(
                "{name:<24} {:<8} {roles:<16} {version}",
                if ready { "Ready" } else { "NotReady" }
            ));
            nodes.push(json!({"name": name, "ready": ready, "roles": roles, "version": version}));
        }
        let running = self
            .pods
            .iter()
            .filter(|pod| {
                matches!(
                    pod["status"]["phase"].as_str(),
                    Some("Running" | "Succeeded")
                )
            })
            .count();
        let not_running: Vec<&str> = self
            .pods
            .iter()
            .filter(|pod| {
                !matches!(
                    pod["status"]["phase"].as_str(),
                    Some("Running" | "Succeeded")
                )
            })
            .filter_map(|pod| pod["metadata"]["name"].as_str())
            .collect();
        lines.push(format!(
            "kube-system pods: {running}/{} running",
            self.pods.len()
        ));
        let pods =
            json!({"running": running, "total": self.pods.len(), "not_running": not_running});
        (lines, Value::Array(nodes), pods)
    }
}

impl ClusterStatusArgs {
    async fn read(&self, kubectl: &Kubectl, host: &Host<'_>) -> Result<Reading, ModuleError> {
        Ok(Reading {
            nodes: kubectl.get(host.transport, &["nodes"], None).await?,
            pods: kubectl
                .get(host.transport, &["pods", "-n", "kube-system"], None)
                .await?,
        })
    }

    /// The label and taint commands each node still needs.
    fn steps(&self, kubectl: &Kubectl, reading: &Reading) -> (Vec<Step>, Vec<String>) {
        let mut steps = Vec::new();
        let mut what = Vec::new();
        for spec in &self.nodes {
            let Some(node) = reading
                .nodes
                .iter()
                .find(|node| node["metadata"]["name"].as_str() == Some(&spec.name))
            else {
                continue;
            };
            let missing: Vec<String> = spec
                .labels
                .iter()
                .filter(|(key, value)| {
                    node["metadata"]["labels"][key.as_str()].as_str()
                        != Some(label_text(value).as_str())
                })
                .map(|(key, value)| format!("{key}={}", label_text(value)))
                .collect();
            if !missing.is_empty() {
                let mut args = vec!["label", "node", spec.name.as_str(), "--overwrite"];
                args.extend(missing.iter().map(String::as_str));
                steps.push(Step::run(kubectl.exec(&args)));
                what.push(format!("label {} {}", spec.name, missing.join(" ")));
            }
            let taints: Vec<&String> = spec
                .taints
                .iter()
                .filter(|text| Taint::parse(text).is_some_and(|taint| !taint.is_on(node)))
                .collect();
            if !taints.is_empty() {
                let mut args = vec!["taint", "node", spec.name.as_str(), "--overwrite"];
                args.extend(taints.iter().map(|taint| taint.as_str()));
                steps.push(Step::run(kubectl.exec(&args)));
                let taints: Vec<&str> = taints.iter().map(|taint| taint.as_str()).collect();
                what.push(format!("taint {} {}", spec.name, taints.join(" ")));
            }
        }
        (steps, what)
    }
}

impl Module for ClusterStatusArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let kubectl = Kubectl::new(
                self.binary_path.as_deref(),
                Some(&self.kubeconfig),
                self.context.as_deref(),
            );
            let started = tokio::time::Instant::now();
            let sleep = Duration::from_secs(self.sleep);
            let mut reading = self.read(&kubectl, host).await?;
            while !reading.waiting_for(&self.nodes).is_empty()
                && started.elapsed() + sleep <= Duration::from_secs(self.timeout)
            {
                tokio::time::sleep(sleep).await;
                reading = self.read(&kubectl, host).await?;
            }
            let (mut lines, nodes, pods) = reading.summary();
            let waiting = reading.waiting_for(&self.nodes);
            if !waiting.is_empty() {
                lines.push(format!("not ready: {}", waiting.join("; ")));
                return Ok(Plan::fail(format!(
                    "the cluster is not ready after {} seconds: {}",
                    self.timeout,
                    waiting.join("; ")
                ))
                .with("nodes", nodes)
                .with("pods", pods)
                .with("summary", json!(lines)));
            }
            let (steps, what) = self.steps(&kubectl, &reading);
            let plan = if steps.is_empty() {
                Plan::ok("every node is Ready, every kube-system pod running, labels and taints in place")
            } else {
                lines.push(format!("labels and taints to set: {}", what.join("; ")));
                Plan::change(what.join("; "), steps)
            };
            Ok(plan
                .with("nodes", nodes)
                .with("pods", pods)
                .with("summary", json!(lines)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_read_as_kubectl_writes_them() {
        assert_eq!(
            Taint::parse("nvidia.com/gpu=present:NoSchedule"),
            Some(Taint {
                key: "nvidia.com/gpu".into(),
                value: Some("present".into()),
                effect: "NoSchedule".into()
            })
        );
        assert_eq!(
            Taint::parse("dedicated:NoExecute").map(|t| t.value),
            Some(None)
        );
        assert_eq!(Taint::parse("dedicated=x:Sometimes"), None);
        assert_eq!(Taint::parse("=x:NoSchedule"), None);
    }
}
