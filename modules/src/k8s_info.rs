//! `k8s_info`: reads Kubernetes objects, with the arguments `kubernetes.core.k8s_info`
//! users write.
//!
//! One `kubectl get -o json` on the host (see `kubectl.rs` for why kubectl): `kind` and
//! `api_version` pick the resource, `name` one object, `namespace` where to look (without
//! it and without `name`, every namespace), `label_selectors` and `field_selectors` filter.
//! It changes nothing, so it is always `ok` and runs in check mode too. A kind the server
//! does not know gives `api_found: false` and no resources, as in `kubernetes.core`; an
//! object that does not exist gives an empty `resources`.
//!
//! With `wait`, it reads again (every `wait_sleep` seconds, at most `wait_timeout`) until
//! objects exist and are ready: `wait_condition` when given, else what `kubernetes.core`
//! waits for by kind (Deployment replicas available, Pod Ready, DaemonSet ready).
//!
//! ```yaml
//! - name: GPU nodes
//!   kubernetes.core.k8s_info:
//!     kind: Node
//!     label_selectors:
//!       - workload-type=inference
//!   register: gpu_nodes
//! - name: Running kube-system pods
//!   kubernetes.core.k8s_info:
//!     kind: Pod
//!     namespace: kube-system
//!     field_selectors:
//!       - status.phase=Running
//! ```

use crate::args::Args;
use crate::kubectl::{self, Kubectl, WaitCondition};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "k8s_info",
    aliases: &[
        "kubernetes.core.k8s_info",
        "community.kubernetes.k8s_info",
        "k8s_facts",
    ],
    doc: include_str!("k8s_info.rs"),
    free_form: None,
    build: crate::registry::build::<K8sInfoArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sInfoArgs {
    /// The kind of object (`Pod`, `Deployment`, `Node`…).
    pub kind: String,
    /// Its API version (`v1`, `apps/v1`).
    #[serde(default = "v1", alias = "api", alias = "version")]
    pub api_version: String,
    /// One object by name.
    #[serde(default)]
    pub name: Option<String>,
    /// Where to look; without it (and without `name`), every namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Label selectors, all of which must match (`app=web`, `tier!=db`, `gpu`).
    #[serde(default)]
    pub label_selectors: Vec<String>,
    /// Field selectors, all of which must match (`status.phase=Running`).
    #[serde(default)]
    pub field_selectors: Vec<String>,
    /// Wait until objects exist and are ready.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub wait: bool,
    /// The condition `wait` waits for: `type`, `status` (default `True`), `reason`.
    #[serde(default)]
    pub wait_condition: Option<WaitCondition>,
    /// Seconds between two readings while waiting.
    #[serde(default = "five")]
    pub wait_sleep: u64,
    /// Seconds to wait at most.
    #[serde(default = "hundred_twenty")]
    pub wait_timeout: u64,
    /// The kubeconfig on the host (default: kubectl's own).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubectl program on the host (an rplay addition; default `kubectl` on PATH).
    #[serde(default)]
    pub binary_path: Option<String>,
}

fn v1() -> String {
    "v1".to_string()
}

fn five() -> u64 {
    5
}

fn hundred_twenty() -> u64 {
    120
}

impl Args for K8sInfoArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.wait_sleep == 0 {
            return Err(ArgError::new("`wait_sleep` must be at least 1").at("wait_sleep"));
        }
        Ok(())
    }
}

impl K8sInfoArgs {
    fn get_args(&self) -> Vec<String> {
        let mut args = vec![kubectl::resource(&self.kind, &self.api_version)];
        if let Some(name) = &self.name {
            args.push(name.clone());
            args.push("--ignore-not-found".to_string());
        }
        match &self.namespace {
            Some(namespace) => args.extend(["-n".to_string(), namespace.clone()]),
            None if self.name.is_none() => args.push("-A".to_string()),
            None => {}
        }
        if !self.label_selectors.is_empty() {
            args.extend(["-l".to_string(), self.label_selectors.join(",")]);
        }
        if !self.field_selectors.is_empty() {
            args.extend([
                "--field-selector".to_string(),
                self.field_selectors.join(","),
            ]);
        }
        args
    }
}

impl Module for K8sInfoArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let kubectl = Kubectl::new(
                self.binary_path.as_deref(),
                self.kubeconfig.as_deref(),
                self.context.as_deref(),
            );
            let owned = self.get_args();
            let args: Vec<&str> = owned.iter().map(String::as_str).collect();
            // One reading first, to tell an unknown kind from an empty answer.
            let mut all = vec!["get"];
            all.extend_from_slice(&args);
            all.extend(["-o", "json"]);
            let output = kubectl.call(host.transport, &all, None).await?;
            if !output.success() {
                let said = output.stderr_text();
                if said.contains("doesn't have a resource type")
                    || said.contains("no matches for kind")
                {
                    return Ok(Plan::ok(format!(
                        "the API server has no resource of kind {} in {}",
                        self.kind, self.api_version
                    ))
                    .with("api_found", false)
                    .with("resources", json!([])));
                }
                return Ok(Plan::fail(kubectl::failure(&all, &output)));
            }
            let mut resources = kubectl::objects(&output.stdout)?;
            let ready = |found: &[Value]| {
                !found.is_empty()
                    && found
                        .iter()
                        .all(|object| kubectl::is_ready(object, self.wait_condition.as_ref()))
            };
            if self.wait && !ready(&resources) {
                let (found, done) = kubectl::wait_until_ready(
                    &kubectl,
                    host.transport,
                    &args,
                    None,
                    self.wait_condition.as_ref(),
                    Duration::from_secs(self.wait_sleep),
                    Duration::from_secs(self.wait_timeout),
                )
                .await?;
                if !done {
                    let message = kubectl::not_ready_message(
                        &found,
                        self.wait_condition.as_ref(),
                        self.wait_timeout,
                    );
                    return Ok(Plan::fail(message)
                        .with("api_found", true)
                        .with("resources", Value::Array(found)));
                }
                resources = found;
            }
            Ok(Plan::ok(format!("{} object(s) found", resources.len()))
                .with("api_found", true)
                .with("resources", Value::Array(resources)))
        })
    }
}
