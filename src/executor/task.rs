//! One task on one host: conditions, loop items, retries, the module or action itself,
//! and what the task's keywords make of its result.

use super::connection::{Become, BecomeChecks, BecomeDefaults, TaskTransport};
use super::host_connection::{ConnectionError, ConnectionKeywords, HostConnection};
use super::value::{from_json, to_json};
use super::{actions, loops, number};
use crate::diagnostic::Diagnostic;
use crate::node::{Node, NodeValue};
use crate::playbook::{Common, Task, TaskKind};
use crate::report::Status;
use crate::secret::Secret;
use crate::template::{truthy, Scope, Templar, VarMap};
use minijinja::Value;
use rplay_modules::{Deadline, Diff, Transport};
use serde_json::{json, Map};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything one host's run of a task needs, prepared by the executor.
pub struct TaskContext<'a> {
    pub host: String,
    pub task: &'a Task,
    pub common: Common,
    pub when: Vec<Node>,
    pub scope: Scope,
    /// The host's own connection.
    pub connection: Arc<HostConnection>,
    /// Finds the host a task is delegated to (`delegate_to`).
    pub delegates: &'a dyn Fn(&str) -> Delegate,
    pub check: bool,
    pub diff: bool,
    pub templar: Arc<Templar>,
    pub dir: PathBuf,
    pub local: Arc<rplay_modules::local::LocalTransport>,
    pub become_default: BecomeDefaults,
    pub interrupt: crate::interrupt::Interrupt,
    /// `--task-timeout`: the time limit of tasks that set no `timeout:` of their own.
    pub task_timeout: Option<u64>,
}

/// The host a task is delegated to: its connection, and its variables for the connection
/// settings (the task's own variables stay those of the host it runs for).
pub struct Delegate {
    /// The inventory name (a name given as an address resolves to its host).
    pub name: String,
    pub scope: Scope,
    pub connection: Arc<HostConnection>,
}

/// One loop item's result, for per-item lines.
pub struct ItemOutput {
    pub label: String,
    pub status: Status,
    pub result: Map<String, serde_json::Value>,
    pub diffs: Vec<Diff>,
}

/// What a host's run of a task produced; the executor applies it.
pub struct TaskOutput {
    pub status: Status,
    pub result: Map<String, serde_json::Value>,
    pub items: Vec<ItemOutput>,
    pub diffs: Vec<Diff>,
    pub ignored: bool,
    pub no_log: bool,
    pub set_facts: VarMap,
    pub facts: Option<Map<String, serde_json::Value>>,
    pub delegate_facts_to: Option<String>,
    pub delegated_to: Option<String>,
    pub notify: Vec<String>,
    pub add_to_groups: Vec<(String, Vec<String>, Vec<String>)>,
    pub warnings: Vec<String>,
    /// Ctrl-C cut the task short: nothing to report or count.
    pub interrupted: bool,
}

/// How long a task cut short by Ctrl-C may take to wind down (its transport stopping the
/// command on the host) before it is let go.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl TaskOutput {
    fn new(status: Status, result: Map<String, serde_json::Value>) -> TaskOutput {
        TaskOutput {
            status,
            result,
            items: Vec::new(),
            diffs: Vec::new(),
            ignored: false,
            no_log: false,
            set_facts: VarMap::new(),
            facts: None,
            delegate_facts_to: None,
            delegated_to: None,
            notify: Vec::new(),
            add_to_groups: Vec::new(),
            warnings: Vec::new(),
            interrupted: false,
        }
    }

    fn interrupted() -> TaskOutput {
        let mut output = TaskOutput::failed("interrupted".to_string());
        output.interrupted = true;
        output
    }

    fn failed(message: String) -> TaskOutput {
        let mut result = Map::new();
        result.insert("changed".into(), json!(false));
        result.insert("failed".into(), json!(true));
        result.insert("msg".into(), json!(message));
        TaskOutput::new(Status::Failed, result)
    }
}

/// How long a transport may take to stop a command on its host once the task's time
/// limit passed, before the task is let go anyway.
const STOP_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The result of an action cut short by its task's time limit, as ansible-core 2.19
/// words it.
fn timed_out(seconds: u64) -> Attempt {
    let mut attempt =
        Attempt::failure(format!("Task failed: Timed out after {seconds} second(s)."));
    attempt
        .result
        .insert("timedout".into(), json!({ "period": seconds }));
    attempt
}

/// Evaluates a list of conditions (all must hold).
pub fn conditions_hold(
    templar: &Templar,
    conditions: &[Node],
    scope: &Scope,
) -> Result<bool, Diagnostic> {
    for condition in conditions {
        if !templar.eval_condition(&condition.to_value(), scope, &condition.span)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn keyword_bool(
    node: &Option<Node>,
    templar: &Templar,
    scope: &Scope,
) -> Result<Option<bool>, Diagnostic> {
    match node {
        None => Ok(None),
        Some(node) => {
            let value = templar.render_deep(&node.to_value(), scope, &node.span)?;
            Ok(Some(truthy(&value)))
        }
    }
}

/// One attempt's raw outcome, before `changed_when`/`failed_when`.
pub struct Attempt {
    pub result: Map<String, serde_json::Value>,
    pub diffs: Vec<Diff>,
    pub unreachable: bool,
    pub set_facts: VarMap,
    pub facts: Option<Map<String, serde_json::Value>>,
    pub add_to_groups: Vec<(String, Vec<String>, Vec<String>)>,
}

impl Attempt {
    pub fn from_result(result: Map<String, serde_json::Value>) -> Attempt {
        Attempt {
            result,
            diffs: Vec::new(),
            unreachable: false,
            set_facts: VarMap::new(),
            facts: None,
            add_to_groups: Vec::new(),
        }
    }

    pub fn failure(message: impl Into<String>) -> Attempt {
        let mut result = Map::new();
        result.insert("changed".into(), json!(false));
        result.insert("failed".into(), json!(true));
        result.insert("msg".into(), json!(message.into()));
        Attempt::from_result(result)
    }
}

fn flag(result: &Map<String, serde_json::Value>, key: &str) -> bool {
    result.get(key).is_some_and(|v| match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => truthy(&Value::from(s.as_str())),
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    })
}

impl TaskContext<'_> {
    pub async fn run(self) -> TaskOutput {
        let no_log = keyword_bool(&self.common.no_log, &self.templar, &self.scope)
            .ok()
            .flatten()
            .unwrap_or(false);
        let ignore_errors = keyword_bool(&self.common.ignore_errors, &self.templar, &self.scope)
            .ok()
            .flatten()
            .unwrap_or(false);
        if self.interrupt.is_triggered() {
            return TaskOutput::interrupted();
        }
        let work = self.run_inner();
        tokio::pin!(work);
        let finished = tokio::select! {
            finished = &mut work => Some(finished),
            () = self.interrupt.triggered() => {
                tokio::time::timeout(INTERRUPT_GRACE, &mut work).await.ok()
            }
        };
        let Some(finished) = finished else {
            return TaskOutput::interrupted();
        };
        let mut output = match finished {
            Ok(output) => output,
            Err(diagnostic) => {
                let mut output = TaskOutput::failed(diagnostic.render().trim_end().to_string());
                output.result.insert("_rplay_error".into(), json!(true));
                output
            }
        };
        output.no_log = no_log;
        if output.status == Status::Failed && ignore_errors {
            output.ignored = true;
        }
        if output.status == Status::Unreachable {
            let ignore_unreachable =
                keyword_bool(&self.common.ignore_unreachable, &self.templar, &self.scope)
                    .ok()
                    .flatten()
                    .unwrap_or(false);
            output.ignored = ignore_unreachable;
        }
        output.result.remove("_rplay_error");
        if self.interrupt.is_triggered()
            && matches!(output.status, Status::Failed | Status::Unreachable)
        {
            output.interrupted = true;
        }
        output
    }

    async fn run_inner(&self) -> Result<TaskOutput, Diagnostic> {
        let task = self.task;
        let items: Option<Vec<Value>> = match &task.loop_ {
            Some(crate::playbook::Loop::Items { kind, value }) => {
                // `when` is checked per item. A loop that cannot be evaluated (a
                // variable a skipped task registered, say) skips the task when `when`
                // holds false without the item, as in Ansible; otherwise it is the error.
                match loops::items(kind, &value.to_value(), &self.scope, &value.span) {
                    Ok(items) => Some(items),
                    Err(error) => {
                        return match conditions_hold(&self.templar, &self.when, &self.scope) {
                            Ok(false) => Ok(self.skipped(None)),
                            _ => Err(error),
                        };
                    }
                }
            }
            None => None,
        };
        let Some(items) = items else {
            if !conditions_hold(&self.templar, &self.when, &self.scope)? {
                return Ok(self.skipped(None));
            }
            let (status, result, attempt) = self.run_once_with_retries(&self.scope).await?;
            let mut output = TaskOutput::new(status, result);
            output.diffs = attempt.diffs;
            output.set_facts = attempt.set_facts;
            output.facts = attempt.facts;
            output.add_to_groups = attempt.add_to_groups;
            self.finish(&mut output)?;
            return Ok(output);
        };
        let control = &task.loop_control;
        let mut item_outputs = Vec::new();
        let mut results = Vec::new();
        let mut any_changed = false;
        let mut any_failed = false;
        let mut all_skipped = true;
        let mut set_facts = VarMap::new();
        let mut facts: Option<Map<String, serde_json::Value>> = None;
        let mut add_to_groups = Vec::new();
        let mut diffs = Vec::new();
        let count = items.len();
        for (index, item) in items.iter().enumerate() {
            let mut layer = VarMap::new();
            layer.insert(control.loop_var.clone(), item.clone());
            if let Some(index_var) = &control.index_var {
                layer.insert(index_var.clone(), Value::from(index));
            }
            layer.insert(
                "ansible_loop_var".to_string(),
                Value::from(control.loop_var.as_str()),
            );
            if control.extended {
                let mut extended = json!({
                    "index": index + 1, "index0": index, "first": index == 0,
                    "last": index + 1 == count, "length": count,
                    "revindex": count - index, "revindex0": count - index - 1,
                    "allitems": items.iter().map(to_json).collect::<Vec<_>>(),
                });
                if index > 0 {
                    extended["previtem"] = to_json(&items[index - 1]);
                }
                if index + 1 < count {
                    extended["nextitem"] = to_json(&items[index + 1]);
                }
                layer.insert(
                    "ansible_loop".to_string(),
                    super::value::serialize(&extended),
                );
            }
            // set_fact from earlier items is visible to later ones.
            if !set_facts.is_empty() {
                for (k, v) in &set_facts {
                    layer.insert(k.clone(), v.clone());
                }
            }
            let scope = self.scope.with_layer(layer);
            let label = match &control.label {
                Some(label) => {
                    self.templar
                        .render_text(&label.to_value().to_string(), &scope, &label.span)?
                }
                None => label_for(item),
            };
            if !conditions_hold(&self.templar, &self.when, &scope)? {
                let mut result = Map::new();
                result.insert("changed".into(), json!(false));
                result.insert("skipped".into(), json!(true));
                result.insert("skip_reason".into(), json!("Conditional result was False"));
                result.insert(control.loop_var.clone(), to_json(item));
                result.insert("ansible_loop_var".into(), json!(control.loop_var));
                item_outputs.push(ItemOutput {
                    label,
                    status: Status::Skipped,
                    result: result.clone(),
                    diffs: Vec::new(),
                });
                results.push(serde_json::Value::Object(result));
                continue;
            }
            all_skipped = false;
            let (status, mut result, attempt) = self.run_once_with_retries(&scope).await?;
            result.insert(control.loop_var.clone(), to_json(item));
            result.insert("ansible_loop_var".into(), json!(control.loop_var));
            if let Some(index_var) = &control.index_var {
                result.insert(index_var.clone(), json!(index));
                result.insert("ansible_index_var".into(), json!(index_var));
            }
            match status {
                Status::Changed => any_changed = true,
                Status::Failed => any_failed = true,
                Status::Unreachable => {
                    let mut output = TaskOutput::new(Status::Unreachable, result);
                    output.items = item_outputs;
                    return Ok(output);
                }
                _ => {}
            }
            set_facts.extend(attempt.set_facts);
            if let Some(new_facts) = attempt.facts {
                facts.get_or_insert_with(Map::new).extend(new_facts);
            }
            add_to_groups.extend(attempt.add_to_groups);
            diffs.extend(attempt.diffs.iter().cloned());
            item_outputs.push(ItemOutput {
                label,
                status,
                result: result.clone(),
                diffs: attempt.diffs,
            });
            results.push(serde_json::Value::Object(result));
            if let Some(pause) = &control.pause {
                if let Some(seconds) = number(&pause.to_value()) {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(seconds.max(0.0))).await;
                }
            }
        }
        let mut result = Map::new();
        result.insert("changed".into(), json!(any_changed));
        result.insert("results".into(), serde_json::Value::Array(results));
        result.insert(
            "msg".into(),
            json!(if any_failed {
                "One or more items failed"
            } else {
                "All items completed"
            }),
        );
        if any_failed {
            result.insert("failed".into(), json!(true));
        }
        result.insert("skipped".into(), json!(all_skipped));
        if all_skipped {
            result.insert(
                "msg".into(),
                json!(if count == 0 {
                    "No items in the list"
                } else {
                    "All items skipped"
                }),
            );
        }
        let status = if any_failed {
            Status::Failed
        } else if all_skipped {
            Status::Skipped
        } else if any_changed {
            Status::Changed
        } else {
            Status::Ok
        };
        let mut output = TaskOutput::new(status, result);
        output.items = item_outputs;
        output.set_facts = set_facts;
        output.facts = facts;
        output.add_to_groups = add_to_groups;
        output.diffs = diffs;
        self.finish(&mut output)?;
        Ok(output)
    }

    fn skipped(&self, _reason: Option<String>) -> TaskOutput {
        let mut result = Map::new();
        result.insert("changed".into(), json!(false));
        result.insert("skipped".into(), json!(true));
        result.insert("skip_reason".into(), json!("Conditional result was False"));
        if let Some(condition) = self.when.iter().find(|_| true) {
            result.insert(
                "false_condition".into(),
                json!(condition.to_value().to_string()),
            );
        }
        TaskOutput::new(Status::Skipped, result)
    }

    /// Notifications and delegation details, after the task's status is known.
    fn finish(&self, output: &mut TaskOutput) -> Result<(), Diagnostic> {
        if output.status == Status::Changed {
            for notify in &self.task.notify {
                let name = self.templar.render_text(
                    &notify.to_value().to_string(),
                    &self.scope,
                    &notify.span,
                )?;
                output.notify.push(name);
            }
        }
        // A delegate named by the loop item has no one name for the whole task.
        if let Some(delegate) = self.delegate(&self.scope).ok().flatten() {
            output.delegated_to = Some(delegate.clone());
            if keyword_bool(&self.common.delegate_facts, &self.templar, &self.scope)?
                .unwrap_or(false)
            {
                output.delegate_facts_to = Some(delegate);
            }
        }
        Ok(())
    }

    /// `delegate_to`, rendered with `scope` (which holds the loop item in a loop).
    fn delegate(&self, scope: &Scope) -> Result<Option<String>, Diagnostic> {
        match &self.common.delegate_to {
            None => Ok(None),
            Some(node) => {
                let name =
                    self.templar
                        .render_text(&node.to_value().to_string(), scope, &node.span)?;
                Ok(Some(name))
            }
        }
    }

    /// One run (with `until` retries), then `changed_when`/`failed_when`.
    async fn run_once_with_retries(
        &self,
        scope: &Scope,
    ) -> Result<(Status, Map<String, serde_json::Value>, Attempt), Diagnostic> {
        let task = self.task;
        let retries = match (&task.until, &task.retries) {
            (Some(_), Some(node)) => {
                let value = self
                    .templar
                    .render_deep(&node.to_value(), scope, &node.span)?;
                number(&value).map(|n| n.max(0.0) as u32).unwrap_or(3)
            }
            (Some(_), None) => 3,
            _ => 0,
        };
        let delay = match &task.delay {
            Some(node) => {
                let value = self
                    .templar
                    .render_deep(&node.to_value(), scope, &node.span)?;
                number(&value).unwrap_or(5.0)
            }
            None => 5.0,
        };
        let mut attempt_number = 0u32;
        loop {
            attempt_number += 1;
            let mut attempt = self.execute_within_limit(scope).await?;
            if attempt.unreachable {
                let result = attempt.result.clone();
                return Ok((Status::Unreachable, result, attempt));
            }
            let (status, result) = self.judge(&mut attempt, scope)?;
            let Some(until) = &task.until else {
                return Ok((status, result, attempt));
            };
            let register_scope = self.with_registered(scope, &result);
            let done = status != Status::Skipped
                && conditions_hold(&self.templar, until, &register_scope)?;
            if done || attempt_number > retries {
                let mut result = result;
                // Ansible runs `retries + 1` times but reports `attempts: retries` when
                // every run failed.
                let reported = if done { attempt_number } else { retries.max(1) };
                result.insert("attempts".into(), json!(reported));
                if !done {
                    result.insert("failed".into(), json!(true));
                    result.entry("msg").or_insert(json!("Retries exhausted"));
                    return Ok((Status::Failed, result, attempt));
                }
                let status = if flag(&result, "failed") {
                    Status::Failed
                } else {
                    status
                };
                return Ok((status, result, attempt));
            }
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
        }
    }

    /// A scope where the task's `register` name (if any) holds `result`, for
    /// `changed_when`, `failed_when` and `until`.
    fn with_registered(&self, scope: &Scope, result: &Map<String, serde_json::Value>) -> Scope {
        let mut layer = VarMap::new();
        if let Some(register) = &self.task.register {
            layer.insert(
                register.clone(),
                from_json(&serde_json::Value::Object(result.clone())),
            );
        }
        scope.with_layer(layer)
    }

    /// Applies `changed_when` and `failed_when` and decides the status.
    fn judge(
        &self,
        attempt: &mut Attempt,
        scope: &Scope,
    ) -> Result<(Status, Map<String, serde_json::Value>), Diagnostic> {
        let mut result = attempt.result.clone();
        if flag(&result, "skipped") {
            return Ok((Status::Skipped, result));
        }
        let errored = result.contains_key("_rplay_error");
        if !errored {
            if let Some(changed_when) = &self.task.changed_when {
                let register_scope = self.with_registered(scope, &result);
                let changed = conditions_hold(&self.templar, changed_when, &register_scope)?;
                result.insert("changed".into(), json!(changed));
            }
            if let Some(failed_when) = &self.task.failed_when {
                let register_scope = self.with_registered(scope, &result);
                let failed = if failed_when.is_empty() {
                    false
                } else {
                    conditions_hold_any_style(&self.templar, failed_when, &register_scope)?
                };
                result.insert("failed_when_result".into(), json!(failed));
                result.insert("failed".into(), json!(failed));
                if !failed {
                    result.remove("msg").filter(|_| false);
                }
            }
        }
        // Every result that ran says whether it failed, as Ansible's registered values do.
        if !result.contains_key("failed") {
            result.insert("failed".into(), json!(false));
        }
        attempt.result = result.clone();
        let status = if flag(&result, "failed") {
            Status::Failed
        } else if flag(&result, "changed") {
            Status::Changed
        } else {
            Status::Ok
        };
        Ok((status, result))
    }

    /// The task's time limit in seconds: its `timeout:` keyword (inherited from its block
    /// or play), else `--task-timeout`; 0 means none, as in Ansible.
    fn time_limit(&self, scope: &Scope) -> Result<Option<u64>, Diagnostic> {
        let seconds = match &self.common.timeout {
            Some(node) => {
                let value = self
                    .templar
                    .render_deep(&node.to_value(), scope, &node.span)?;
                match number(&value) {
                    Some(seconds) if seconds >= 0.0 && seconds.fract() == 0.0 => seconds as u64,
                    _ => {
                        return Err(Diagnostic::at(
                            format!("`timeout` must be a whole number of seconds, not `{value}`"),
                            &node.span,
                        ))
                    }
                }
            }
            None => self.task_timeout.unwrap_or(0),
        };
        Ok((seconds > 0).then_some(seconds))
    }

    /// Runs the action once under the task's time limit. The transports stop a command
    /// still running when the limit passes (see [`Deadline`]); what is not a command (a
    /// `pause`, a connection being made) is dropped at the limit, and the task fails as
    /// Ansible reports it.
    async fn execute_within_limit(&self, scope: &Scope) -> Result<Attempt, Diagnostic> {
        let Some(seconds) = self.time_limit(scope)? else {
            return self.execute(scope).await;
        };
        let deadline =
            Deadline::new(tokio::time::Instant::now() + std::time::Duration::from_secs(seconds));
        let work = deadline.scope(self.execute(scope));
        tokio::pin!(work);
        let finished = tokio::select! {
            finished = &mut work => Some(finished),
            () = tokio::time::sleep_until(deadline.at()) => {
                deadline.expire();
                if deadline.is_busy() {
                    // A transport is stopping its command on the host: let it finish, so
                    // nothing is left running there.
                    tokio::time::timeout(STOP_ALLOWANCE, &mut work).await.ok()
                } else {
                    None
                }
            }
        };
        match finished {
            Some(result) if !deadline.expired() => result,
            _ => Ok(timed_out(seconds)),
        }
    }

    /// Runs the action once, without retries.
    async fn execute(&self, scope: &Scope) -> Result<Attempt, Diagnostic> {
        let TaskKind::Action {
            module,
            written,
            args,
            module_span,
        } = &self.task.kind
        else {
            return Err(Diagnostic::at("not an action", &self.task.span));
        };
        let args =
            with_module_defaults(args, self.common.module_defaults.as_ref(), module, written);
        let args = render_args(&self.templar, &args, scope)?;
        let check = match keyword_bool(&self.common.check_mode, &self.templar, scope)? {
            Some(forced) => forced,
            None => self.check,
        };
        let diff = keyword_bool(&self.common.diff, &self.templar, scope)?.unwrap_or(self.diff);
        let transport = match self.task_transport(scope) {
            Ok(transport) => transport,
            Err(ConnectionError::Template(diagnostic)) => return Err(diagnostic),
            Err(ConnectionError::Settings(message)) => return Ok(actions::unreachable(&message)),
        };
        let context = actions::ActionContext {
            module,
            args: &args,
            scope,
            templar: &self.templar,
            transport: transport.as_ref().map(|t| t as &dyn Transport),
            check,
            diff,
            host: &self.host,
            role: self.task.role.as_deref(),
            playbook_dir: &self.dir,
            module_span,
        };
        actions::run(context).await
    }

    fn environment(&self, scope: &Scope) -> Result<Vec<(String, String)>, Diagnostic> {
        let Some(node) = &self.common.environment else {
            return Ok(Vec::new());
        };
        let value = self
            .templar
            .render_deep(&node.to_value(), scope, &node.span)?;
        let mut environment = Vec::new();
        // Nested lists come from merging play, block and task environments, outer first.
        fn flatten(value: Value, out: &mut Vec<Value>) {
            if value.kind() == minijinja::value::ValueKind::Seq {
                for item in value.try_iter().into_iter().flatten() {
                    flatten(item, out);
                }
            } else {
                out.push(value);
            }
        }
        let mut entries = Vec::new();
        flatten(value, &mut entries);
        for entry in entries {
            if let Ok(keys) = entry.try_iter() {
                for key in keys {
                    let item = entry.get_item(&key).unwrap_or_default();
                    if crate::template::is_omit(&item) {
                        continue;
                    }
                    environment.push((
                        key.to_string(),
                        if item.is_none() {
                            String::new()
                        } else {
                            item.to_string()
                        },
                    ));
                }
            }
        }
        Ok(environment)
    }

    /// The host's transport, or the delegate's, with become and environment applied.
    /// Connection and become variables come from the delegate's variables when the task
    /// is delegated, as in Ansible; the `become` keywords stay the task's.
    fn task_transport(&self, scope: &Scope) -> Result<Option<TaskTransport>, ConnectionError> {
        let delegate = self.delegate(scope).map_err(ConnectionError::Template)?;
        let keywords = self
            .connection_keywords(scope)
            .map_err(ConnectionError::Template)?;
        let delegate = match delegate {
            Some(name) if name == self.host => None,
            Some(name) if is_local_name(&name) => {
                let local = crate::transport::Opened {
                    transport: self.local.clone(),
                    user: current_user().unwrap_or_default(),
                };
                return self
                    .wrap(local, BecomeChecks::local(), scope, scope)
                    .map(Some)
                    .map_err(ConnectionError::Template);
            }
            Some(name) => Some((self.delegates)(&name)),
            None => None,
        };
        let (connection, connection_scope) = match &delegate {
            Some(delegate) if delegate.name != self.host => (&delegate.connection, &delegate.scope),
            _ => (&self.connection, scope),
        };
        let opened = connection.transport(connection_scope, &keywords)?;
        self.wrap(
            opened,
            connection.become_checks.clone(),
            scope,
            connection_scope,
        )
        .map(Some)
        .map_err(ConnectionError::Template)
    }

    /// `connection:` and `remote_user:` of the task, play or block, rendered.
    fn connection_keywords(&self, scope: &Scope) -> Result<ConnectionKeywords, Diagnostic> {
        let render = |node: &Option<Node>| -> Result<Option<String>, Diagnostic> {
            match node {
                Some(node) => self
                    .templar
                    .render_text(&node.to_value().to_string(), scope, &node.span)
                    .map(Some),
                None => Ok(None),
            }
        };
        Ok(ConnectionKeywords {
            connection: render(&self.common.connection)?,
            remote_user: render(&self.common.remote_user)?,
        })
    }

    /// The transport with the task's `become` and `environment` applied. Keywords are
    /// rendered with `scope`; `ansible_become_*` variables are read from
    /// `connection_scope`, the delegate's when the task is delegated.
    fn wrap(
        &self,
        opened: crate::transport::Opened,
        become_checks: Arc<BecomeChecks>,
        scope: &Scope,
        connection_scope: &Scope,
    ) -> Result<TaskTransport, Diagnostic> {
        let defaults = &self.become_default;
        let render = |node: &Option<Node>| -> Result<Option<String>, Diagnostic> {
            match node {
                Some(node) => self
                    .templar
                    .render_text(&node.to_value().to_string(), scope, &node.span)
                    .map(Some),
                None => Ok(None),
            }
        };
        let variable = |names: &[&str]| -> Result<Option<String>, Diagnostic> {
            for name in names {
                if let Some(value) = connection_scope.get(name)? {
                    if !value.is_undefined() && !value.is_none() {
                        return Ok(Some(
                            value
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| value.to_string()),
                        ));
                    }
                }
            }
            Ok(None)
        };
        // As in Ansible, the connection variables (`ansible_become*`) come before the
        // keywords, which come before the command line's defaults.
        let become_variable = connection_scope
            .get("ansible_become")?
            .filter(|v| !v.is_undefined() && !v.is_none());
        let become_on = match become_variable {
            Some(value) => truthy(&value),
            None => keyword_bool(&self.common.become_, &self.templar, scope)?
                .unwrap_or(defaults.enabled),
        };
        let become_ = if become_on {
            let user = match variable(&["ansible_become_user"])? {
                Some(user) => user,
                None => render(&self.common.become_user)?
                    .or_else(|| defaults.user.clone())
                    .unwrap_or_else(|| "root".to_string()),
            };
            let method = match variable(&["ansible_become_method"])? {
                Some(method) => method,
                None => render(&self.common.become_method)?
                    .or_else(|| defaults.method.clone())
                    .unwrap_or_else(|| "sudo".to_string()),
            };
            let flags = match variable(&["ansible_become_flags"])? {
                Some(flags) => Some(flags),
                None => render(&self.common.become_flags)?,
            };
            // The variables Ansible's sudo and su plugins read, then `-K`.
            let method_password = if method == "su" {
                ["ansible_su_pass", "ansible_su_password"]
            } else {
                ["ansible_sudo_pass", "ansible_sudo_password"]
            };
            let password = variable(&["ansible_become_password", "ansible_become_pass"])?
                .or(variable(&method_password)?)
                .map(Secret::new)
                .or_else(|| defaults.password.clone());
            // Becoming the user the host's commands already run as is a no-op, as for a
            // root Packer build.
            if opened.user == user {
                None
            } else {
                Some(Become {
                    user,
                    method,
                    flags,
                    password,
                })
            }
        } else {
            None
        };
        Ok(TaskTransport {
            inner: opened.transport,
            become_,
            environment: self.environment(scope)?,
            become_checks,
        })
    }
}

fn is_local_name(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

fn current_user() -> Option<String> {
    static USER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    })
    .clone()
}

/// `failed_when` with several conditions fails when all hold (they are ANDed).
fn conditions_hold_any_style(
    templar: &Templar,
    conditions: &[Node],
    scope: &Scope,
) -> Result<bool, Diagnostic> {
    conditions_hold(templar, conditions, scope)
}

/// How an item appears in `(item=...)`: strings as is, others as Python would print them.
pub fn label_for(item: &Value) -> String {
    match item.kind() {
        minijinja::value::ValueKind::String => item.as_str().unwrap_or_default().to_string(),
        _ => python_repr(&to_json(item)),
    }
}

/// Python's `repr` of plain data, as Ansible shows loop items.
pub fn python_repr(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "None".to_string(),
        serde_json::Value::Bool(true) => "True".to_string(),
        serde_json::Value::Bool(false) => "False".to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => {
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{}': {}", k, python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Fills in arguments the task leaves out from `module_defaults` (play, block and task
/// levels, inner ones winning), matched by short or fully-qualified module name.
fn with_module_defaults(args: &Node, defaults: Option<&Node>, module: &str, written: &str) -> Node {
    let Some(defaults) = defaults else {
        return args.clone();
    };
    fn levels<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
        match &node.value {
            NodeValue::Seq(items) => items.iter().for_each(|item| levels(item, out)),
            NodeValue::Map(_) => out.push(node),
            _ => {}
        }
    }
    let mut maps = Vec::new();
    levels(defaults, &mut maps);
    let names = [
        module.to_string(),
        written.to_string(),
        format!("ansible.builtin.{module}"),
        format!("ansible.legacy.{module}"),
    ];
    let mut entries: Vec<(Node, Node)> = args.as_map().map(<[_]>::to_vec).unwrap_or_default();
    let explicit: Vec<String> = entries.iter().filter_map(|(k, _)| k.key_text()).collect();
    // Inner levels come last and win, so walk them first.
    for map in maps.iter().rev() {
        for (key, value) in map.as_map().unwrap_or_default() {
            let Some(name) = key.key_text() else { continue };
            if !names.contains(&name) {
                continue;
            }
            for (arg, default) in value.as_map().unwrap_or_default() {
                let Some(arg_name) = arg.key_text() else {
                    continue;
                };
                let taken = explicit.contains(&arg_name)
                    || entries
                        .iter()
                        .any(|(k, _)| k.key_text().as_deref() == Some(&arg_name));
                if !taken {
                    entries.push((arg.clone(), default.clone()));
                }
            }
        }
    }
    Node::new(NodeValue::Map(entries), args.span.clone())
}

/// Renders a task's arguments, dropping those that render to `omit`.
pub fn render_args(templar: &Templar, args: &Node, scope: &Scope) -> Result<Node, Diagnostic> {
    fn render(templar: &Templar, node: &Node, scope: &Scope) -> Result<Option<Node>, Diagnostic> {
        match &node.value {
            NodeValue::String(text) if crate::template::is_template(text) => {
                let value = templar.render_value(text, scope, &node.span)?;
                if crate::template::is_omit(&value) {
                    return Ok(None);
                }
                Ok(Some(Node::from_value(&value, &node.span)))
            }
            NodeValue::Vault(text) => {
                let plaintext = node
                    .vault_plaintext(text)
                    .map_err(|message| Diagnostic::at(message, &node.span))?;
                Ok(Some(Node::new(
                    NodeValue::Unsafe(plaintext),
                    node.span.clone(),
                )))
            }
            NodeValue::Seq(items) => {
                let mut rendered = Vec::new();
                for item in items {
                    if let Some(item) = render(templar, item, scope)? {
                        rendered.push(item);
                    }
                }
                Ok(Some(Node::new(NodeValue::Seq(rendered), node.span.clone())))
            }
            NodeValue::Map(entries) => {
                let mut rendered = Vec::new();
                for (key, value) in entries {
                    let key = match render(templar, key, scope)? {
                        Some(key) => key,
                        None => continue,
                    };
                    if let Some(value) = render(templar, value, scope)? {
                        rendered.push((key, value));
                    }
                }
                Ok(Some(Node::new(NodeValue::Map(rendered), node.span.clone())))
            }
            _ => Ok(Some(node.clone())),
        }
    }
    Ok(render(templar, args, scope)?.unwrap_or_else(|| Node::null(args.span.clone())))
}
