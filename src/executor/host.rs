//! What the executor keeps per host across tasks.

use super::host_connection::HostConnection;
use crate::report::Stats;
use crate::template::VarMap;
use std::sync::Arc;

pub struct HostState {
    pub name: String,
    /// Inventory variables (group_vars, host_vars), merged once per run.
    pub inventory_vars: Arc<VarMap>,
    /// Gathered facts: `ansible_facts` plus the `ansible_*` names.
    pub facts: Arc<VarMap>,
    /// `set_fact`, `register` and `include_vars` results.
    pub runtime_vars: Arc<VarMap>,
    /// The host's connection, kept across tasks (and used by tasks delegated to it).
    pub connection: Arc<HostConnection>,
    /// The host failed and left the play.
    pub failed: bool,
    pub unreachable: bool,
    /// `meta: end_host` or `end_play`.
    pub ended: bool,
    /// Handler names and topics notified and not yet run, in order.
    pub notified: Vec<String>,
    pub stats: Stats,
    /// The last task that failed here and its result, for `ansible_failed_task` and
    /// `ansible_failed_result` in rescue and always.
    pub last_failure: Option<(serde_json::Value, serde_json::Value)>,
    /// `meta: clear_host_errors` cleared this host: it takes part in the next plays, and
    /// the failures (and unreachable results) counted so far no longer fail the run.
    pub errors_cleared: Option<(u32, u32)>,
}

impl HostState {
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }

    pub fn set_runtime(&mut self, name: &str, value: minijinja::Value) {
        let mut vars = (*self.runtime_vars).clone();
        vars.insert(name.to_string(), value);
        self.runtime_vars = Arc::new(vars);
    }

    pub fn extend_runtime(&mut self, values: VarMap) {
        if values.is_empty() {
            return;
        }
        let mut vars = (*self.runtime_vars).clone();
        vars.extend(values);
        self.runtime_vars = Arc::new(vars);
    }

    /// Merges gathered or module-returned facts into the facts layer.
    pub fn add_facts(&mut self, facts: &serde_json::Map<String, serde_json::Value>) {
        if facts.is_empty() {
            return;
        }
        let mut layer = (*self.facts).clone();
        let mut all = layer
            .get("ansible_facts")
            .map(crate::executor::value::to_json)
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        for (key, value) in facts {
            let short = key.strip_prefix("ansible_").unwrap_or(key);
            all.insert(short.to_string(), value.clone());
            // Facts are also top-level `ansible_*` variables, as Ansible injects them.
            let long = if key.starts_with("ansible_") {
                key.clone()
            } else {
                format!("ansible_{key}")
            };
            layer.insert(long, crate::executor::value::from_json(value));
        }
        layer.insert(
            "ansible_facts".to_string(),
            crate::executor::value::from_json(&serde_json::Value::Object(all)),
        );
        self.facts = Arc::new(layer);
    }
}
