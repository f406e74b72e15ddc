//! `setup`: gathers facts about the host and returns them as `ansible_facts`.
//!
//! Reading facts changes nothing, so the plan never has steps: it only carries the facts,
//! which the engine stores for the host (`ansible_facts.distribution`, and
//! `ansible_distribution` as a variable). One shell command reads everything; see
//! [`crate::facts`] for what is gathered and how.
//!
//! ```yaml
//! - name: Refresh network facts after adding an interface
//!   setup:
//!     gather_subset:
//!       - "!all"
//!       - network
//!     filter:
//!       - "ansible_default_ipv4"
//!       - "ansible_eth*"
//! ```

use crate::args::{list_or_csv, Args};
use crate::facts::{self, GatherOptions, DEFAULT_FACT_PATH, DEFAULT_GATHER_TIMEOUT};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "setup",
    aliases: &["ansible.builtin.setup", "ansible.legacy.setup"],
    doc: include_str!("setup.rs"),
    free_form: None,
    build: crate::registry::build::<SetupArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupArgs {
    /// Which facts to gather: `all`, `min`, collector names (`hardware`, `network`,
    /// `virtual`, …) or fact names, each optionally negated with `!`.
    #[serde(default = "all", deserialize_with = "list_or_csv::deserialize")]
    pub gather_subset: Vec<String>,
    /// Only return facts whose names match one of these shell-style patterns.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub filter: Vec<String>,
    /// Seconds allowed for the slow parts of gathering (statting mounted filesystems).
    #[serde(default = "default_timeout")]
    pub gather_timeout: u64,
    /// Directory of `*.fact` files (JSON or INI, or executables printing JSON) that become
    /// `ansible_local`.
    #[serde(default = "default_fact_path")]
    pub fact_path: String,
}

fn all() -> Vec<String> {
    vec!["all".to_string()]
}

fn default_timeout() -> u64 {
    DEFAULT_GATHER_TIMEOUT
}

fn default_fact_path() -> String {
    DEFAULT_FACT_PATH.to_string()
}

impl Args for SetupArgs {
    fn validate(&self) -> Result<(), ArgError> {
        facts::collectors(&self.gather_subset)
            .map(|_| ())
            .map_err(|message| ArgError::new(message).at("gather_subset"))
    }
}

impl Module for SetupArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let options = GatherOptions {
                subset: self.gather_subset.clone(),
                fact_path: self.fact_path.clone(),
                timeout: self.gather_timeout,
            };
            let gathered = facts::gather_with(host.transport, &options).await?;
            let gathered = facts::filter(gathered, &self.filter);
            Ok(Plan::ok(format!("gathered {} facts", gathered.len()))
                .with("ansible_facts", Value::Object(gathered)))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use serde_json::json;

    #[tokio::test]
    async fn returns_facts_and_changes_nothing() {
        let fixture = Fixture::new();
        let plan = fixture
            .plan(
                "ansible.builtin.setup",
                json!({ "gather_subset": ["!all", "network"], "filter": "ansible_default_ipv4,distribution*" }),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert!(!plan.is_change());
        let facts = plan.result["ansible_facts"].as_object().unwrap();
        let mut names: Vec<&str> = facts.keys().map(|k| k.as_str()).collect();
        names.retain(|n| !n.starts_with("distribution"));
        assert_eq!(names, ["default_ipv4"]);
        assert!(facts.contains_key("distribution"));
    }

    #[tokio::test]
    async fn rejects_an_unknown_subset_before_running() {
        let fixture = Fixture::new();
        let error = fixture
            .plan("setup", json!({ "gather_subset": "hardwear" }))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("bad subset `hardwear`"),
            "{error}"
        );
        let error = fixture
            .plan("setup", json!({ "gather_subest": "all" }))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}
