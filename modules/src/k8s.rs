//! `k8s`: makes Kubernetes objects exist as declared, or not at all, with the arguments
//! `kubernetes.core.k8s` users write.
//!
//! The objects come from `definition` (a mapping, a list of them, or YAML text with one
//! or more documents), from `src` (a manifest file on the controller), or from `kind`,
//! `api_version`, `name` and `namespace` alone. rplay drives `kubectl` on the host the
//! task runs on (see `kubectl.rs` for why): the manifest goes to
//! `kubectl apply --server-side --field-manager=rplay` on standard input.
//!
//! How it decides nothing needs doing: a server-side dry run of the same apply
//! (`--dry-run=server -o json`) returns the objects as the API server would store them;
//! they are compared with the objects it has now (`kubectl get -f -`), leaving out what
//! the server rewrites on every write (resourceVersion, managedFields, generation). Equal
//! objects mean `ok`; a new or different one means the apply runs, and `--diff` shows
//! each object before and after. Check mode stops after the dry run, which changes
//! nothing. `state: absent` deletes what exists and is `ok` when nothing does.
//!
//! With `wait`, the task then waits (at most `wait_timeout` seconds) for the objects to be
//! ready: `wait_condition` when given, else what `kubernetes.core` waits for by kind
//! (Deployment replicas available, Pod Ready, DaemonSet scheduled and ready).
//!
//! Returns `result` (the object, or `{results: [...]}` for several), `method` (`create`,
//! `update`, `delete`) and `changed`.
//!
//! ```yaml
//! - name: The inference namespace and its quota
//!   kubernetes.core.k8s:
//!     kubeconfig: /etc/kubernetes/admin.conf
//!     state: present
//!     definition:
//!       apiVersion: v1
//!       kind: Namespace
//!       metadata:
//!         name: inference
//! - name: The model server, ready before the next task
//!   kubernetes.core.k8s:
//!     src: manifests/model-server.yaml
//!     namespace: inference
//!     wait: true
//!     wait_condition:
//!       type: Available
//!       status: "True"
//! ```

use crate::args::Args;
use crate::kubectl::{self, Kubectl, WaitCondition};
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "k8s",
    aliases: &["kubernetes.core.k8s", "community.kubernetes.k8s"],
    doc: include_str!("k8s.rs"),
    free_form: None,
    build: crate::registry::build::<K8sArgs>,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sArgs {
    /// `present` (applied server-side) or `absent` (deleted).
    #[serde(default)]
    pub state: State,
    /// The objects: a mapping, a list of mappings, or YAML text (several documents allowed).
    #[serde(default, alias = "resource_definition")]
    pub definition: Option<Value>,
    /// A manifest file on the controller (YAML or JSON), found as `copy: src=` finds files.
    #[serde(default)]
    pub src: Option<String>,
    /// The object's kind, when no definition is given (or to fill one that lacks it).
    #[serde(default)]
    pub kind: Option<String>,
    /// The object's API version (`v1`, `apps/v1`).
    #[serde(default = "v1", alias = "api", alias = "version")]
    pub api_version: String,
    /// The object's name, when no definition is given (or to fill one that lacks it).
    #[serde(default)]
    pub name: Option<String>,
    /// The namespace of objects whose definition names none.
    #[serde(default)]
    pub namespace: Option<String>,
    /// With `state: absent` and `kind` but no `name`: delete the objects with these labels
    /// (`app=web`, `tier!=db`).
    #[serde(default)]
    pub label_selectors: Vec<String>,
    /// Wait for the objects to be ready (or gone) before the task ends.
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
    /// The kubeconfig on the host (default: kubectl's own, `$KUBECONFIG` or
    /// `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[serde(default)]
    pub context: Option<String>,
    /// Server-side apply settings: `field_manager` (default `rplay`) and
    /// `force_conflicts` (take over fields another manager owns).
    #[serde(default)]
    pub server_side_apply: Option<ServerSideApply>,
    /// Accepted for compatibility: objects are always applied server-side.
    #[serde(
        default,
        deserialize_with = "crate::args::ansible_bool::option::deserialize"
    )]
    pub apply: Option<bool>,
    /// The kubectl program on the host (an rplay addition; default `kubectl` on PATH).
    #[serde(default)]
    pub binary_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSideApply {
    /// The field manager the applied fields are recorded under.
    #[serde(default = "field_manager")]
    pub field_manager: String,
    /// Take ownership of fields another manager set, instead of failing on the conflict.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub force_conflicts: bool,
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

fn field_manager() -> String {
    "rplay".to_string()
}

impl Args for K8sArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.definition.is_some() && self.src.is_some() {
            return Err(ArgError::new(
                "parameters are mutually exclusive: `definition`, `src`",
            ));
        }
        match &self.definition {
            None | Some(Value::Object(_)) | Some(Value::String(_)) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => {}
            Some(_) => {
                return Err(ArgError::new(
                    "`definition` must be a mapping, a list of mappings or YAML text",
                )
                .at("definition"))
            }
        }
        let named = self.kind.is_some() && self.name.is_some();
        let selected = self.kind.is_some() && !self.label_selectors.is_empty();
        if self.definition.is_none() && self.src.is_none() && !named {
            if self.state == State::Absent && selected {
                return Ok(());
            }
            return Err(ArgError::new(
                "give `definition`, `src`, or `kind` with `name` (with `state: absent`, \
                 `kind` with `label_selectors` also works)",
            ));
        }
        if self.wait_sleep == 0 {
            return Err(ArgError::new("`wait_sleep` must be at least 1").at("wait_sleep"));
        }
        Ok(())
    }
}

impl K8sArgs {
    fn kubectl(&self) -> Kubectl {
        Kubectl::new(
            self.binary_path.as_deref(),
            self.kubeconfig.as_deref(),
            self.context.as_deref(),
        )
    }

    /// Fills what a mapping lacks from `kind`, `api_version`, `name` and `namespace`.
    fn completed(&self, object: &Value) -> Value {
        let mut object = object.clone();
        let Some(map) = object.as_object_mut() else {
            return object;
        };
        if let Some(kind) = &self.kind {
            map.entry("kind").or_insert_with(|| json!(kind));
        }
        map.entry("apiVersion")
            .or_insert_with(|| json!(self.api_version));
        let metadata = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(metadata) = metadata.as_object_mut() {
            if let Some(name) = &self.name {
                metadata.entry("name").or_insert_with(|| json!(name));
            }
            if let Some(namespace) = &self.namespace {
                metadata
                    .entry("namespace")
                    .or_insert_with(|| json!(namespace));
            }
        }
        object
    }

    /// The manifest kubectl reads on standard input.
    fn manifest(&self, host: &Host<'_>) -> Result<Vec<u8>, ModuleError> {
        if let Some(src) = &self.src {
            return host.controller.read_file(src).map_err(ModuleError::Failed);
        }
        let object = match &self.definition {
            Some(Value::String(text)) => return Ok(text.clone().into_bytes()),
            Some(Value::Array(items)) => json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": items.iter().map(|item| self.completed(item)).collect::<Vec<_>>(),
            }),
            Some(object) => self.completed(object),
            None => self.completed(&json!({})),
        };
        Ok(object.to_string().into_bytes())
    }

    /// `-n NAMESPACE` for objects whose manifest names none.
    fn namespace_args(&self) -> Vec<&str> {
        match &self.namespace {
            Some(namespace) => vec!["-n", namespace],
            None => Vec::new(),
        }
    }

    fn apply_args(&self, dry_run: bool) -> Vec<&str> {
        let (manager, force) = match &self.server_side_apply {
            Some(settings) => (settings.field_manager.as_str(), settings.force_conflicts),
            None => ("rplay", false),
        };
        let mut args = vec!["apply", "--server-side", "--field-manager", manager];
        if force {
            args.push("--force-conflicts");
        }
        if dry_run {
            args.extend(["--dry-run=server", "-o", "json"]);
        }
        args.extend(self.namespace_args());
        args.extend(["-f", "-"]);
        args
    }

    fn waiting(&self) -> Waiting {
        Waiting {
            kubectl: self.kubectl(),
            namespace: self.namespace.clone(),
            wait: self.wait,
            condition: self.wait_condition.clone(),
            sleep: Duration::from_secs(self.wait_sleep),
            timeout: self.wait_timeout,
        }
    }

    async fn present(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let kubectl = self.kubectl();
        let manifest = self.manifest(host)?;
        let dry_run_args = self.apply_args(true);
        let dry_run = kubectl
            .call(host.transport, &dry_run_args, Some(&manifest))
            .await?;
        if !dry_run.success() {
            return Ok(Plan::fail(kubectl::failure(&dry_run_args, &dry_run)));
        }
        let desired = kubectl::objects(&dry_run.stdout)?;
        let mut get_args = vec!["-f", "-", "--ignore-not-found"];
        get_args.extend(self.namespace_args());
        let current = kubectl
            .get(host.transport, &get_args, Some(&manifest))
            .await?;
        let mut diffs = Vec::new();
        let mut methods = Vec::new();
        for object in &desired {
            let before = current
                .iter()
                .find(|found| kubectl::same_object(found, object));
            let after = kubectl::comparable(object);
            match before.map(kubectl::comparable) {
                Some(before) if before == after => continue,
                Some(before) => {
                    methods.push(("update", kubectl::describe(object)));
                    diffs.push(object_diff(object, Some(&before), Some(&after)));
                }
                None => {
                    methods.push(("create", kubectl::describe(object)));
                    diffs.push(object_diff(object, None, Some(&after)));
                }
            }
        }
        if methods.is_empty() {
            let names: Vec<String> = desired.iter().map(kubectl::describe).collect();
            let plan = Plan::ok(format!("{} as declared", names.join(", ")));
            return self.waiting().finish(host, plan, &manifest).await;
        }
        let apply_args = self.apply_args(false);
        let reason: Vec<String> = methods
            .iter()
            .map(|(method, name)| format!("{method} {name}"))
            .collect();
        let method = if methods.iter().any(|(method, _)| *method == "update") {
            "update"
        } else {
            "create"
        };
        let mut plan = Plan::change(
            reason.join(", "),
            vec![Step::run(kubectl.exec(&apply_args).stdin(manifest.clone()))],
        )
        .with("result", result_value(desired))
        .with("method", method)
        .then(ReadBack {
            waiting: self.waiting(),
            manifest,
        });
        plan.diffs = diffs;
        Ok(plan)
    }

    async fn absent(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let kubectl = self.kubectl();
        let found = if self.definition.is_none() && self.src.is_none() && self.name.is_none() {
            let kind = self.kind.as_deref().unwrap_or_default();
            let resource = kubectl::resource(kind, &self.api_version);
            let selector = self.label_selectors.join(",");
            let mut args = vec![resource.as_str(), "-l", selector.as_str()];
            args.extend(self.namespace_args());
            kubectl.get(host.transport, &args, None).await?
        } else {
            let manifest = self.manifest(host)?;
            let mut args = vec!["-f", "-", "--ignore-not-found"];
            args.extend(self.namespace_args());
            kubectl.get(host.transport, &args, Some(&manifest)).await?
        };
        if found.is_empty() {
            return Ok(Plan::ok("no such object exists").with("result", json!({})));
        }
        // Only what identifies each object goes to `kubectl delete`.
        let identities: Vec<Value> = found
            .iter()
            .map(|object| {
                json!({
                    "apiVersion": object["apiVersion"],
                    "kind": object["kind"],
                    "metadata": {
                        "name": object["metadata"]["name"],
                        "namespace": object["metadata"]["namespace"],
                    },
                })
            })
            .collect();
        let manifest = json!({"apiVersion": "v1", "kind": "List", "items": identities});
        let wait = if self.wait {
            "--wait=true"
        } else {
            "--wait=false"
        };
        let timeout = format!("--timeout={}s", self.wait_timeout);
        let mut args = vec!["delete", "-f", "-", "--ignore-not-found", wait];
        if self.wait {
            args.push(&timeout);
        }
        let names: Vec<String> = found.iter().map(kubectl::describe).collect();
        let mut plan = Plan::change(
            format!("delete {}", names.join(", ")),
            vec![Step::run(
                kubectl.exec(&args).stdin(manifest.to_string().into_bytes()),
            )],
        )
        .with("result", result_value(found.clone()))
        .with("method", "delete");
        for object in &found {
            let before = kubectl::comparable(object);
            plan.diffs.push(object_diff(object, Some(&before), None));
        }
        Ok(plan)
    }
}

/// `{object}` for one object, `{results: [...]}` for several, as `kubernetes.core` returns.
fn result_value(mut objects: Vec<Value>) -> Value {
    if objects.len() == 1 {
        objects.remove(0)
    } else {
        json!({ "results": objects })
    }
}

fn object_diff(object: &Value, before: Option<&Value>, after: Option<&Value>) -> Diff {
    let text = |value: Option<&Value>| {
        value
            .map(|value| serde_json::to_string_pretty(value).unwrap_or_default() + "\n")
            .unwrap_or_default()
    };
    Diff {
        path: kubectl::describe(object),
        before: text(before),
        after: text(after),
    }
}

/// What a wait needs, shared by the plan and its read-back.
#[derive(Debug, Clone)]
struct Waiting {
    kubectl: Kubectl,
    namespace: Option<String>,
    wait: bool,
    condition: Option<WaitCondition>,
    sleep: Duration,
    timeout: u64,
}

impl Waiting {
    /// Reads the manifest's objects (waiting for them when asked) into `plan`'s result.
    async fn finish(
        &self,
        host: &Host<'_>,
        plan: Plan,
        manifest: &[u8],
    ) -> Result<Plan, ModuleError> {
        let mut args = vec!["-f", "-", "--ignore-not-found"];
        if let Some(namespace) = &self.namespace {
            args.extend(["-n", namespace.as_str()]);
        }
        if !self.wait {
            let found = self
                .kubectl
                .get(host.transport, &args, Some(manifest))
                .await?;
            return Ok(plan.with("result", result_value(found)));
        }
        let started = std::time::Instant::now();
        let (found, ready) = kubectl::wait_until_ready(
            &self.kubectl,
            host.transport,
            &args,
            Some(manifest),
            self.condition.as_ref(),
            self.sleep,
            Duration::from_secs(self.timeout),
        )
        .await?;
        let message = kubectl::not_ready_message(&found, self.condition.as_ref(), self.timeout);
        let mut plan = plan
            .with("result", result_value(found))
            .with("duration", started.elapsed().as_secs());
        if !ready {
            plan.failure = Some(message);
        }
        Ok(plan)
    }
}

/// After the apply: the objects as stored, once ready when the task waits.
struct ReadBack {
    waiting: Waiting,
    manifest: Vec<u8>,
}

impl Module for ReadBack {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let plan = Plan::ok("applied");
            self.waiting.finish(host, plan, &self.manifest).await
        })
    }
}

impl Module for K8sArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            match self.state {
                State::Present => self.present(host).await,
                State::Absent => self.absent(host).await,
            }
        })
    }
}
