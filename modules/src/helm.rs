//! `helm`: makes a Helm release installed with the chart and values a task declares, or
//! not installed at all, with the arguments `kubernetes.core.helm` users write.
//!
//! rplay drives the `helm` CLI on the host the task runs on (see `helm_cli.rs`), the way
//! `kubernetes.core` does: `helm status NAME -n NS -o json` says whether the release is
//! installed, with which chart and in which state; `helm get values NAME -n NS -o json`
//! gives the values it was installed with.
//!
//! How it decides nothing needs doing: for an installed release, a dry run of the very
//! upgrade the task would make (`helm upgrade --install --dry-run --reset-values -o json`,
//! with `values_files` and `values` given as they will be) returns the release helm would
//! store: its chart name and version and its values, merged by helm itself from every
//! values file and the inline values. The release is `ok` when it is `deployed`, its chart
//! name and version equal the dry run's, and its stored values equal the dry run's. So
//! `chart_version` (or, without one, the newest version the repository offers), a changed
//! `values` mapping and a changed values *file* on the host are all seen, without a hash
//! of files kept in the cluster and without comparing rendered manifests (which change on
//! every render for charts that generate passwords or certificates). A local chart whose
//! templates changed under an unchanged version is not seen, as with `kubernetes.core`
//! without the helm-diff plugin: bump the chart's version.
//!
//! A release not installed is installed (`helm upgrade --install`); one installed with
//! other values or chart is upgraded the same way. `values` go to helm as JSON on standard
//! input (`-f -`), after the `values_files`, so they win. `state: absent` runs `helm
//! uninstall` when the release exists and is `ok` when it does not. Check mode stops after
//! the readings and the dry run, which change nothing; `update_repo_cache` refreshes the
//! host's chart cache (`helm repo update`) before reading, in check mode too, as the cache
//! is not the release.
//!
//! Returns `status` (name, namespace, revision, status, chart, app_version, updated,
//! values of the release after the task), `command` (the helm command that ran), `stdout`,
//! `stderr` and `changed`.
//!
//! ```yaml
//! - name: The GPU operator, from NVIDIA's repository
//!   kubernetes.core.helm:
//!     name: gpu-operator
//!     chart_ref: nvidia/gpu-operator
//!     chart_version: v24.9.0
//!     release_namespace: gpu-operator
//!     create_namespace: true
//!     values_files: [/etc/rplay/gpu-operator-values.yaml]
//!     values:
//!       driver: {enabled: false}
//!     wait: true
//!     wait_timeout: 10m
//! ```

use crate::args::Args;
use crate::helm_cli::{self, Helm};
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "helm",
    aliases: &["kubernetes.core.helm", "community.kubernetes.helm"],
    doc: include_str!("helm.rs"),
    free_form: None,
    build: crate::registry::build::<HelmArgs>,
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
pub struct HelmArgs {
    /// The release's name.
    #[serde(alias = "release_name")]
    pub name: String,
    /// The chart: `repository/chart`, a chart directory or archive on the host, or a URL.
    /// Needed with `state: present`.
    #[serde(default, alias = "chart_reference")]
    pub chart_ref: Option<String>,
    /// The chart version to install (default: the newest the repository offers).
    #[serde(default)]
    pub chart_version: Option<String>,
    /// A repository URL to take `chart_ref` from without adding the repository (`--repo`).
    #[serde(default)]
    pub chart_repo_url: Option<String>,
    /// The namespace the release lives in.
    #[serde(alias = "namespace")]
    pub release_namespace: String,
    /// Create the namespace if it does not exist.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub create_namespace: bool,
    /// `present` (installed, upgraded when chart or values differ) or `absent` (uninstalled).
    #[serde(default, alias = "release_state")]
    pub state: State,
    /// Values for the chart, over those of `values_files`.
    #[serde(default, alias = "release_values")]
    pub values: Map<String, Value>,
    /// Values files on the host, in order (later files win).
    #[serde(default)]
    pub values_files: Vec<String>,
    /// Wait until the release's resources are ready (or gone) before the task ends.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub wait: bool,
    /// How long helm waits, as helm reads it (`300s`, `10m`); a number is seconds.
    #[serde(default)]
    pub wait_timeout: Option<Duration>,
    /// Roll the release back (or uninstall a new one) when the install or upgrade fails.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub atomic: bool,
    /// Run `helm repo update` before reading the chart.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub update_repo_cache: bool,
    /// The kubeconfig on the host (default: helm's own, `$KUBECONFIG` or `~/.kube/config`).
    #[serde(default, alias = "kubeconfig_path")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[serde(default, alias = "kube_context")]
    pub context: Option<String>,
    /// The helm program on the host (default `helm` on PATH).
    #[serde(default)]
    pub binary_path: Option<String>,
}

/// A duration as helm reads it; Ansible users write `5m` or `300s`, or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Duration {
    Seconds(u64),
    Text(String),
}

impl Duration {
    fn as_helm(&self) -> String {
        match self {
            Duration::Seconds(seconds) => format!("{seconds}s"),
            Duration::Text(text) => text.clone(),
        }
    }
}

impl Args for HelmArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.name.is_empty() {
            return Err(ArgError::new("`name` must not be empty").at("name"));
        }
        if self.state == State::Present && self.chart_ref.is_none() {
            return Err(ArgError::new(
                "`chart_ref` is required with `state: present` (`repository/chart`, a chart \
                 path on the host, or a URL)",
            ));
        }
        if let Some(Duration::Text(text)) = &self.wait_timeout {
            let valid = regex::Regex::new(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
                .expect("a valid pattern");
            if !valid.is_match(text) {
                return Err(ArgError::new(format!(
                    "`wait_timeout` `{text}` is not a duration helm reads (`300s`, `5m`, `1h30m`)"
                ))
                .at("wait_timeout"));
            }
        }
        Ok(())
    }
}

impl HelmArgs {
    fn helm(&self) -> Helm {
        Helm::new(
            self.binary_path.as_deref(),
            self.kubeconfig.as_deref(),
            self.context.as_deref(),
        )
    }

    /// The `helm upgrade --install` arguments (a dry run, or the real thing).
    fn upgrade_args(&self, dry_run: bool) -> Vec<String> {
        let chart = self.chart_ref.clone().unwrap_or_default();
        let mut args: Vec<String> = vec![
            "upgrade".into(),
            self.name.clone(),
            chart,
            "--install".into(),
            "--namespace".into(),
            self.release_namespace.clone(),
            // The stored values become exactly those declared, not those merged with an
            // earlier revision's.
            "--reset-values".into(),
        ];
        if let Some(version) = &self.chart_version {
            args.extend(["--version".into(), version.clone()]);
        }
        if let Some(url) = &self.chart_repo_url {
            args.extend(["--repo".into(), url.clone()]);
        }
        if self.create_namespace {
            args.push("--create-namespace".into());
        }
        for file in &self.values_files {
            args.extend(["--values".into(), file.clone()]);
        }
        if !self.values.is_empty() {
            args.extend(["--values".into(), "-".into()]);
        }
        if dry_run {
            args.extend(["--dry-run".into(), "--output".into(), "json".into()]);
        } else {
            if self.wait {
                args.push("--wait".into());
            }
            if self.atomic {
                args.push("--atomic".into());
            }
            if let Some(timeout) = &self.wait_timeout {
                args.extend(["--timeout".into(), timeout.as_helm()]);
            }
        }
        args
    }

    fn values_stdin(&self) -> Option<Vec<u8>> {
        (!self.values.is_empty()).then(|| Value::Object(self.values.clone()).to_string().into())
    }

    async fn present(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let helm = self.helm();
        if self.update_repo_cache {
            let args = ["repo", "update"];
            let output = helm.call(host.transport, &args, None).await?;
            if !output.success() {
                return Ok(Plan::fail(helm_cli::failure(&args, &output)));
            }
        }
        let installed = read_release(&helm, host, &self.name, &self.release_namespace).await?;
        let chart = self.chart_ref.as_deref().unwrap_or_default();
        let Some(installed) = installed else {
            let version = self
                .chart_version
                .as_deref()
                .map(|version| format!(" {version}"))
                .unwrap_or_default();
            return Ok(self.upgrade_plan(
                format!(
                    "install release {} ({chart}{version}) in namespace {}",
                    self.name, self.release_namespace
                ),
                Vec::new(),
            ));
        };
        let dry_run_args = self.upgrade_args(true);
        let stdin = self.values_stdin();
        let dry_run = helm
            .call(host.transport, &dry_run_args, stdin.as_deref())
            .await?;
        if !dry_run.success() {
            return Ok(Plan::fail(helm_cli::failure(&dry_run_args, &dry_run)));
        }
        let desired = helm_cli::json(&dry_run.stdout, "upgrade --dry-run")?;
        let mut reasons = Vec::new();
        let mut diffs = Vec::new();
        let state = installed.release["info"]["status"].as_str().unwrap_or("");
        if state != "deployed" {
            reasons.push(format!("the release is {state}, not deployed"));
        }
        let (before_chart, after_chart) = (chart_name(&installed.release), chart_name(&desired));
        if before_chart != after_chart {
            reasons.push(format!("chart {before_chart} → {after_chart}"));
            diffs.push(Diff {
                path: format!("release {}/{} chart", self.release_namespace, self.name),
                before: format!("{before_chart}\n"),
                after: format!("{after_chart}\n"),
            });
        }
        let desired_values = match &desired["config"] {
            Value::Null => json!({}),
            values => values.clone(),
        };
        if desired_values != installed.values {
            reasons.push("values differ".to_string());
            diffs.push(Diff {
                path: format!("release {}/{} values", self.release_namespace, self.name),
                before: pretty(&installed.values),
                after: pretty(&desired_values),
            });
        }
        if reasons.is_empty() {
            return Ok(Plan::ok(format!(
                "release {} is deployed with chart {before_chart} and the declared values",
                self.name
            ))
            .with("status", installed.status()));
        }
        let reason = format!("upgrade release {}: {}", self.name, reasons.join(", "));
        Ok(self
            .upgrade_plan(reason, diffs)
            .with("status", installed.status()))
    }

    /// `helm upgrade --install`, its output in the result, the release read back after.
    fn upgrade_plan(&self, reason: String, diffs: Vec<Diff>) -> Plan {
        let helm = self.helm();
        let mut exec = helm.exec(&self.upgrade_args(false));
        exec.stdin = self.values_stdin();
        let command = crate::util::join_words(&exec.argv);
        let mut plan = Plan::change(reason, vec![Step::run(exec)])
            .with("command", command)
            .settled_by(true, keep_output)
            .then(ReadBack {
                helm,
                name: self.name.clone(),
                namespace: self.release_namespace.clone(),
            });
        plan.diffs = diffs;
        plan
    }

    async fn absent(&self, host: &Host<'_>) -> Result<Plan, ModuleError> {
        let helm = self.helm();
        let Some(installed) =
            read_release(&helm, host, &self.name, &self.release_namespace).await?
        else {
            return Ok(Plan::ok(format!(
                "release {} is not installed in namespace {}",
                self.name, self.release_namespace
            ))
            .with("status", json!({})));
        };
        let mut args = vec![
            "uninstall".to_string(),
            self.name.clone(),
            "--namespace".into(),
            self.release_namespace.clone(),
        ];
        if self.wait {
            args.push("--wait".into());
        }
        if let Some(timeout) = &self.wait_timeout {
            args.extend(["--timeout".into(), timeout.as_helm()]);
        }
        let exec = helm.exec(&args);
        let command = crate::util::join_words(&exec.argv);
        Ok(Plan::change(
            format!(
                "uninstall release {} ({})",
                self.name,
                chart_name(&installed.release)
            ),
            vec![Step::run(exec)],
        )
        .with("command", command)
        .with("status", installed.status())
        .settled_by(true, keep_output))
    }
}

/// A release as helm reports it, with its stored values.
struct Release {
    release: Value,
    values: Value,
}

impl Release {
    /// The `status` that `kubernetes.core.helm` returns.
    fn status(&self) -> Value {
        let release = &self.release;
        json!({
            "name": release["name"],
            "namespace": release["namespace"],
            "revision": release["version"],
            "status": release["info"]["status"],
            "updated": release["info"]["last_deployed"],
            "chart": chart_name(release),
            "app_version": release["chart"]["metadata"]["appVersion"],
            "values": self.values,
        })
    }
}

/// The release and its values, or `None` when helm knows no such release.
async fn read_release(
    helm: &Helm,
    host: &Host<'_>,
    name: &str,
    namespace: &str,
) -> Result<Option<Release>, ModuleError> {
    let args = ["status", name, "--namespace", namespace, "--output", "json"];
    let output = helm.call(host.transport, &args, None).await?;
    if !output.success() {
        if output.stderr_text().contains("not found") {
            return Ok(None);
        }
        return Err(ModuleError::failed(helm_cli::failure(&args, &output)));
    }
    let release = helm_cli::json(&output.stdout, "status")?;
    let args = [
        "get",
        "values",
        name,
        "--namespace",
        namespace,
        "--output",
        "json",
    ];
    let output = helm.call(host.transport, &args, None).await?;
    if !output.success() {
        return Err(ModuleError::failed(helm_cli::failure(&args, &output)));
    }
    let values = helm_cli::json(&output.stdout, "get values")?;
    Ok(Some(Release { release, values }))
}

/// `name-version`, as `helm list` shows a release's chart.
fn chart_name(release: &Value) -> String {
    let metadata = &release["chart"]["metadata"];
    format!(
        "{}-{}",
        metadata["name"].as_str().unwrap_or("?"),
        metadata["version"].as_str().unwrap_or("?")
    )
}

/// Indented JSON with keys sorted, so that two readings diff by content, not key order.
fn pretty(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|key| (key.clone(), sorted(&map[key])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(value)).unwrap_or_default() + "\n"
}

/// Puts what helm printed into the result; a step that ran changed the release.
fn keep_output(outputs: &[crate::Output], result: &mut Map<String, Value>) -> bool {
    if let Some(output) = outputs.last() {
        result.insert("stdout".into(), json!(output.stdout_text().trim_end()));
        result.insert("stderr".into(), json!(output.stderr_text().trim_end()));
    }
    true
}

/// After the install or upgrade: the release as helm now reports it.
struct ReadBack {
    helm: Helm,
    name: String,
    namespace: String,
}

impl Module for ReadBack {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let release = read_release(&self.helm, host, &self.name, &self.namespace).await?;
            let status = release.map(|release| release.status()).unwrap_or_default();
            Ok(Plan::ok("installed").with("status", status))
        })
    }
}

impl Module for HelmArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            match self.state {
                State::Present => self.present(host).await,
                State::Absent => self.absent(host).await,
            }
        })
    }
}
