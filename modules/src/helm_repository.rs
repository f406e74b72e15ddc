//! `helm_repository`: makes a chart repository known to the host's helm, or not, with the
//! arguments `kubernetes.core.helm_repository` users write.
//!
//! How it decides nothing needs doing: `helm repo list -o json` on the host (helm answers
//! "no repositories to show" with an error when there are none, read as an empty list).
//! A repository of that name and URL is `ok`; a missing one is added (`helm repo add`,
//! the password on standard input with `--password-stdin`, never in argv). One of that
//! name with another URL is an error unless `force_update` is set, which replaces it
//! (`--force-update`); `force_update` on a repository that already has the declared URL
//! changes nothing, so the task stays idempotent. `repo_state: absent` removes the
//! repository when it is listed.
//!
//! Returns `repositories` (the list before the task) and `command` when one ran.
//!
//! ```yaml
//! - name: NVIDIA's chart repository
//!   kubernetes.core.helm_repository:
//!     name: nvidia
//!     repo_url: https://helm.ngc.nvidia.com/nvidia
//! ```

use crate::args::Args;
use crate::helm_cli::{self, Helm};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "helm_repository",
    aliases: &[
        "kubernetes.core.helm_repository",
        "community.kubernetes.helm_repository",
    ],
    doc: include_str!("helm_repository.rs"),
    free_form: None,
    build: crate::registry::build::<HelmRepositoryArgs>,
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
pub struct HelmRepositoryArgs {
    /// The repository's name, as charts are referred to (`name/chart`).
    #[serde(alias = "repo_name")]
    pub name: String,
    /// The repository's URL; needed with `repo_state: present`.
    #[serde(default)]
    pub repo_url: Option<String>,
    /// `present` (listed with this URL) or `absent` (not listed).
    #[serde(default, alias = "state")]
    pub repo_state: State,
    /// The user name for a repository behind basic authentication.
    #[serde(default, alias = "username")]
    pub repo_username: Option<String>,
    /// The password for it (given to helm on standard input).
    #[serde(default, alias = "password")]
    pub repo_password: Option<String>,
    /// Replace a repository of this name that has another URL.
    #[serde(default, deserialize_with = "crate::args::ansible_bool::deserialize")]
    pub force_update: bool,
    /// Accepted for compatibility: the repository list needs no cluster.
    #[serde(default, alias = "kubeconfig_path")]
    pub kubeconfig: Option<String>,
    /// The helm program on the host (default `helm` on PATH).
    #[serde(default)]
    pub binary_path: Option<String>,
}

impl Args for HelmRepositoryArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.name.is_empty() {
            return Err(ArgError::new("`name` must not be empty").at("name"));
        }
        if self.repo_state == State::Present && self.repo_url.is_none() {
            return Err(ArgError::new(
                "`repo_url` is required with `repo_state: present`",
            ));
        }
        if self.repo_password.is_some() && self.repo_username.is_none() {
            return Err(ArgError::new(
                "`repo_password` needs `repo_username` (helm sends them together)",
            ));
        }
        Ok(())
    }
}

impl HelmRepositoryArgs {
    fn helm(&self) -> Helm {
        Helm::new(self.binary_path.as_deref(), None, None)
    }

    async fn repositories(&self, host: &Host<'_>) -> Result<Vec<Value>, ModuleError> {
        let args = ["repo", "list", "--output", "json"];
        let output = self.helm().call(host.transport, &args, None).await?;
        if !output.success() {
            if output.stderr_text().contains("no repositories") {
                return Ok(Vec::new());
            }
            return Err(ModuleError::failed(helm_cli::failure(&args, &output)));
        }
        Ok(match helm_cli::json(&output.stdout, "repo list")? {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }
}

impl Module for HelmRepositoryArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let repositories = self.repositories(host).await?;
            let listed = repositories
                .iter()
                .find(|repository| repository["name"].as_str() == Some(self.name.as_str()));
            let listed_url = listed.and_then(|repository| repository["url"].as_str());
            let helm = self.helm();
            let plan = match self.repo_state {
                State::Absent => match listed_url {
                    None => Plan::ok(format!("no repository `{}` is listed", self.name)),
                    Some(url) => {
                        let exec = helm.exec(&["repo", "remove", self.name.as_str()]);
                        let command = crate::util::join_words(&exec.argv);
                        Plan::change(
                            format!("remove repository `{}` ({url})", self.name),
                            vec![Step::run(exec)],
                        )
                        .with("command", command)
                    }
                },
                State::Present => {
                    let url = self.repo_url.as_deref().unwrap_or_default();
                    let same =
                        |listed: &str| listed.trim_end_matches('/') == url.trim_end_matches('/');
                    match listed_url {
                        Some(listed) if same(listed) => {
                            Plan::ok(format!("repository `{}` is listed with {url}", self.name))
                        }
                        Some(listed) if !self.force_update => Plan::fail(format!(
                            "a repository named `{}` is already listed with another URL \
                             ({listed}): set `force_update: true` to replace it with {url}",
                            self.name
                        )),
                        _ => {
                            let mut args = vec!["repo", "add", self.name.as_str(), url];
                            if listed_url.is_some() {
                                args.push("--force-update");
                            }
                            if let Some(username) = &self.repo_username {
                                args.extend(["--username", username.as_str()]);
                            }
                            let mut exec = helm.exec(&args);
                            if let Some(password) = &self.repo_password {
                                exec.argv.push("--password-stdin".into());
                                exec.stdin = Some(password.clone().into_bytes());
                            }
                            let command = crate::util::join_words(&exec.argv);
                            let what = if listed_url.is_some() {
                                "replace"
                            } else {
                                "add"
                            };
                            Plan::change(
                                format!("{what} repository `{}` ({url})", self.name),
                                vec![Step::run(exec)],
                            )
                            .with("command", command)
                        }
                    }
                }
            };
            Ok(plan.with("repositories", Value::Array(repositories)))
        })
    }
}
