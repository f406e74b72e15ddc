//! `kubectl` on the host: what `k8s`, `k8s_info` and `k8s_cluster_status` share.
//!
//! Ansible's `kubernetes.core` talks to the API server with the Python client from the
//! host a task targets. rplay has no Python there, so these modules drive the `kubectl`
//! that kubeadm nodes already carry: manifests go to `kubectl apply --server-side` on
//! standard input, objects come back from `kubectl get -o json`, and whether anything
//! changes is decided by comparing the object the server has with the one a server-side
//! dry run of the apply returns. No API client, credentials or network path is needed on
//! the controller: the host reaches its API server with its own kubeconfig.

use crate::transport::{Exec, Output, Transport};
use crate::ModuleError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// How to call kubectl on the host.
#[derive(Debug, Clone, Default)]
pub struct Kubectl {
    /// The program: `kubectl` on PATH unless a task names another.
    pub binary: String,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl Kubectl {
    pub fn new(binary: Option<&str>, kubeconfig: Option<&str>, context: Option<&str>) -> Self {
        Kubectl {
            binary: binary.unwrap_or("kubectl").to_string(),
            kubeconfig: kubeconfig.map(str::to_string),
            context: context.map(str::to_string),
        }
    }

    /// The command: the binary, the connection flags, then `args`.
    pub fn exec(&self, args: &[&str]) -> Exec {
        let mut argv = vec![self.binary.clone()];
        if let Some(kubeconfig) = &self.kubeconfig {
            argv.extend(["--kubeconfig".to_string(), kubeconfig.clone()]);
        }
        if let Some(context) = &self.context {
            argv.extend(["--context".to_string(), context.clone()]);
        }
        argv.extend(args.iter().map(|arg| arg.to_string()));
        Exec {
            argv,
            ..Exec::default()
        }
    }

    /// Runs kubectl and returns what it left, whatever its exit status; a host without
    /// kubectl is an error that says so.
    pub async fn call(
        &self,
        transport: &dyn Transport,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        let mut exec = self.exec(args);
        exec.stdin = stdin.map(<[u8]>::to_vec);
        let output = transport.run(&exec).await?;
        let stderr = output.stderr_text();
        if output.rc == 127 || (output.rc == 2 && stderr.contains("Errno 2")) {
            return Err(ModuleError::failed(format!(
                "`{}` is not installed on the host: install kubectl there (the \
                 kubernetes_packages role does) or run the task on a control-plane node",
                self.binary
            )));
        }
        Ok(output)
    }

    /// Runs kubectl; a non-zero exit is an error carrying kubectl's own message.
    pub async fn checked(
        &self,
        transport: &dyn Transport,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Output, ModuleError> {
        let output = self.call(transport, args, stdin).await?;
        if !output.success() {
            return Err(ModuleError::failed(failure(args, &output)));
        }
        Ok(output)
    }

    /// `kubectl get ... -o json`, as a list of objects (empty when nothing matched).
    pub async fn get(
        &self,
        transport: &dyn Transport,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<Value>, ModuleError> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        let output = self.checked(transport, &all, stdin).await?;
        objects(&output.stdout)
    }
}

/// kubectl's failure as one line: what was asked and what it said.
pub fn failure(args: &[&str], output: &Output) -> String {
    let said = output.stderr_text();
    let said = said.trim();
    let verb = args.first().copied().unwrap_or("kubectl");
    if said.is_empty() {
        format!("`kubectl {verb}` failed (rc {})", output.rc)
    } else {
        format!("`kubectl {verb}` failed (rc {}): {said}", output.rc)
    }
}

/// The objects in kubectl's JSON output: one object, a `List`, or nothing.
pub fn objects(stdout: &[u8]) -> Result<Vec<Value>, ModuleError> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        ModuleError::failed(format!(
            "kubectl printed something that is not JSON: {error}"
        ))
    })?;
    Ok(match value {
        Value::Object(ref object) if object.get("kind") == Some(&Value::from("List")) => object
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Value::Array(items) => items,
        other => vec![other],
    })
}

/// `Kind namespace/name` (or `Kind name` for a cluster-wide object), for messages.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("object");
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Whether two objects name the same thing: kind, namespace and name.
pub fn same_object(a: &Value, b: &Value) -> bool {
    a["kind"] == b["kind"]
        && a["metadata"]["name"] == b["metadata"]["name"]
        && a["metadata"]["namespace"].as_str().unwrap_or("")
            == b["metadata"]["namespace"].as_str().unwrap_or("")
}

/// The object without what the server changes on every write (bookkeeping of fields and
/// versions), so that two readings compare equal when nothing a user set differs.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
            "selfLink",
        ] {
            metadata.remove(key);
        }
    }
    object
}

/// The kubectl resource for a kind in an API version: `Deployment.v1.apps`, or `ConfigMap`
/// for the core group.
pub fn resource(kind: &str, api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((group, version)) => format!("{kind}.{version}.{group}"),
        None => kind.to_string(),
    }
}

/// A condition to wait for, as `kubernetes.core` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitCondition {
    /// The condition's `type` (`Available`, `Ready`, `Complete`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status it must have: `True` (default), `False` or `Unknown`.
    #[serde(default = "condition_true")]
    pub status: String,
    /// The reason it must give, if any.
    #[serde(default)]
    pub reason: Option<String>,
}

fn condition_true() -> String {
    "True".to_string()
}

/// Kinds that carry no status, so no condition: a wait counts them ready once they exist
/// (a manifest of a Deployment and its ConfigMap waits for the Deployment).
const STATUSLESS_KINDS: &[&str] = &[
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Endpoints",
    "LimitRange",
    "PriorityClass",
    "StorageClass",
];

/// Whether an object is where a wait wants it: with a condition, that condition; without
/// one, what `kubernetes.core` waits for by kind (a Deployment's replicas available and
/// up to date, a Pod Ready, a DaemonSet scheduled and ready); any other kind is ready
/// once it exists.
pub fn is_ready(object: &Value, condition: Option<&WaitCondition>) -> bool {
    let status = &object["status"];
    let kind = object["kind"].as_str().unwrap_or("");
    if STATUSLESS_KINDS.contains(&kind) {
        return true;
    }
    if let Some(condition) = condition {
        return status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|found| {
                found["type"].as_str() == Some(&condition.kind)
                    && found["status"].as_str() == Some(condition.status.as_str())
                    && condition
                        .reason
                        .as_deref()
                        .is_none_or(|reason| found["reason"].as_str() == Some(reason))
            });
    }
    let number = |value: &Value| value.as_i64().unwrap_or(0);
    let generation_seen = status["observedGeneration"].is_null()
        || number(&status["observedGeneration"]) >= number(&object["metadata"]["generation"]);
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = if object["kind"] == "Deployment" {
                number(&status["availableReplicas"]).min(number(&status["updatedReplicas"]))
            } else {
                number(&status["readyReplicas"])
            };
            generation_seen && ready >= wanted
        }
        "DaemonSet" => {
            generation_seen
                && number(&status["numberReady"]) >= number(&status["desiredNumberScheduled"])
                && number(&status["updatedNumberScheduled"])
                    >= number(&status["desiredNumberScheduled"])
        }
        "Pod" => status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|found| found["type"] == "Ready" && found["status"] == "True"),
        _ => true,
    }
}

/// Reads the objects again and again (every `sleep`, for at most `timeout`) until every
/// one is ready; returns the last reading and whether they all were.
pub async fn wait_until_ready(
    kubectl: &Kubectl,
    transport: &dyn Transport,
    get_args: &[&str],
    stdin: Option<&[u8]>,
    condition: Option<&WaitCondition>,
    sleep: Duration,
    timeout: Duration,
) -> Result<(Vec<Value>, bool), ModuleError> {
    let started = tokio::time::Instant::now();
    loop {
        let found = kubectl.get(transport, get_args, stdin).await?;
        if !found.is_empty() && found.iter().all(|object| is_ready(object, condition)) {
            return Ok((found, true));
        }
        if started.elapsed() + sleep > timeout {
            return Ok((found, false));
        }
        tokio::time::sleep(sleep).await;
    }
}

/// What a wait that ran out of time says.
pub fn not_ready_message(
    objects: &[Value],
    condition: Option<&WaitCondition>,
    timeout: u64,
) -> String {
    let what = match condition {
        Some(condition) => format!(
            "condition {}={}{}",
            condition.kind,
            condition.status,
            condition
                .reason
                .as_ref()
                .map(|reason| format!(" (reason {reason})"))
                .unwrap_or_default()
        ),
        None => "ready".to_string(),
    };
    let names: Vec<String> = objects
        .iter()
        .filter(|object| !is_ready(object, condition))
        .map(describe)
        .collect();
    if names.is_empty() {
        format!("the object did not appear within {timeout} seconds")
    } else {
        format!(
            "timed out after {timeout} seconds waiting for {what}: {}",
            names.join(", ")
        )
    }
}

/// A result map with one key, for plans.
pub fn result_map(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.to_string(), value);
    map
}
