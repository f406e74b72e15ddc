//! A task, a block, or an include, as written: keywords parsed, the action resolved.

use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::playbook::role::Role;
use crate::source::Span;
use std::sync::Arc;

/// Keywords every task, block and play may carry, inherited from block to task.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub when: Vec<Node>,
    pub tags: Vec<String>,
    pub vars: Vec<(String, Node)>,
    pub environment: Option<Node>,
    pub become_: Option<Node>,
    pub become_user: Option<Node>,
    pub become_method: Option<Node>,
    pub become_flags: Option<Node>,
    pub ignore_errors: Option<Node>,
    pub ignore_unreachable: Option<Node>,
    pub no_log: Option<Node>,
    pub check_mode: Option<Node>,
    pub diff: Option<Node>,
    pub run_once: Option<Node>,
    pub delegate_to: Option<Node>,
    pub delegate_facts: Option<Node>,
    pub any_errors_fatal: Option<Node>,
    pub throttle: Option<Node>,
    pub timeout: Option<Node>,
    pub connection: Option<Node>,
    pub remote_user: Option<Node>,
    pub module_defaults: Option<Node>,
}

/// One entry of a task list.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<Node>,
    pub kind: TaskKind,
    pub common: Common,
    pub loop_: Option<Loop>,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    pub changed_when: Option<Vec<Node>>,
    pub failed_when: Option<Vec<Node>>,
    pub until: Option<Vec<Node>>,
    pub retries: Option<Node>,
    pub delay: Option<Node>,
    pub notify: Vec<Node>,
    /// Handler topics this task answers to (handlers only).
    pub listen: Vec<String>,
    /// The role this task came from: its variables, files and templates.
    pub role: Option<Arc<Role>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A module or an engine action with its arguments (a mapping node).
    Action {
        module: String,
        /// The name as the task wrote it (`ansible.builtin.copy`), for `ansible_failed_task`.
        written: String,
        module_span: Span,
        args: Node,
    },
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
    /// `include_tasks`: loaded when reached, per host.
    IncludeTasks { file: Node, args: Node },
    /// `include_role`: loaded when reached.
    IncludeRole { args: Node },
    /// `meta: flush_handlers` and friends.
    Meta { action: String },
}

#[derive(Debug, Clone)]
pub enum Loop {
    /// `loop:` and `with_items`/`with_list`: a list expression.
    Items { kind: String, value: Node },
}

#[derive(Debug, Clone)]
pub struct LoopControl {
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<Node>,
    pub pause: Option<Node>,
    pub extended: bool,
}

impl Default for LoopControl {
    fn default() -> Self {
        LoopControl {
            loop_var: "item".to_string(),
            index_var: None,
            label: None,
            pause: None,
            extended: false,
        }
    }
}

impl Task {
    /// The name shown in output: the task's own, or the module's.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            if let Some(text) = name.as_str() {
                return text.to_string();
            }
        }
        match &self.kind {
            TaskKind::Action { module, .. } => module.clone(),
            TaskKind::Block { .. } => "block".to_string(),
            TaskKind::IncludeTasks { .. } => "include_tasks".to_string(),
            TaskKind::IncludeRole { .. } => "include_role".to_string(),
            TaskKind::Meta { action } => format!("meta: {action}"),
        }
    }

    pub fn module(&self) -> Option<&str> {
        match &self.kind {
            TaskKind::Action { module, .. } => Some(module),
            _ => None,
        }
    }
}

/// Words that are task keywords, not module names.
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "tags",
    "vars",
    "environment",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "check_mode",
    "diff",
    "run_once",
    "delegate_to",
    "delegate_facts",
    "any_errors_fatal",
    "throttle",
    "timeout",
    "connection",
    "remote_user",
    "module_defaults",
    "loop",
    "loop_control",
    "register",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "notify",
    "listen",
    "args",
    "async",
    "poll",
    "collections",
    "debugger",
    "port",
    "local_action",
    "action",
    "block",
    "rescue",
    "always",
];

/// `with_<lookup>` loops Ansible users write.
pub const WITH_LOOPS: &[&str] = &[
    "with_items",
    "with_list",
    "with_dict",
    "with_nested",
    "with_first_found",
    "with_fileglob",
    "with_together",
    "with_sequence",
    "with_subelements",
    "with_indexed_items",
    "with_flattened",
    "with_random_choice",
    "with_lines",
    "with_inventory_hostnames",
    "with_cartesian",
];

pub fn string_list(node: &Node, what: &str) -> Result<Vec<String>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::String(s) | NodeValue::Unsafe(s) => Ok(s
            .split(',')
            .map(|part| part.trim().to_string())
            .filter(|part| !part.is_empty())
            .collect()),
        NodeValue::Int(i) => Ok(vec![i.to_string()]),
        NodeValue::Seq(items) => items
            .iter()
            .map(|item| {
                item.key_text()
                    .ok_or_else(|| Diagnostic::at(format!("{what} must be strings"), &item.span))
            })
            .collect(),
        _ => Err(Diagnostic::at(
            format!(
                "{what} must be a string or a list of strings, not {}",
                node.kind_name()
            ),
            &node.span,
        )),
    }
}

/// `when:`, `changed_when:`, `failed_when:` and `until:` take a condition or a list of them.
pub fn conditions(node: &Node) -> Vec<Node> {
    match &node.value {
        NodeValue::Seq(items) => items.clone(),
        NodeValue::Null => Vec::new(),
        _ => vec![node.clone()],
    }
}

/// `vars:` as a list of (name, node), in order.
pub fn vars_block(node: &Node) -> Result<Vec<(String, Node)>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let name = k
                    .key_text()
                    .ok_or_else(|| Diagnostic::at("variable names must be strings", &k.span))?;
                check_variable_name(&name, &k.span)?;
                Ok((name, v.clone()))
            })
            .collect(),
        // An old form: a list of single-key mappings.
        NodeValue::Seq(items) => {
            let mut vars = Vec::new();
            for item in items {
                vars.extend(vars_block(item)?);
            }
            Ok(vars)
        }
        _ => Err(Diagnostic::at(
            format!("`vars` must be a mapping, not {}", node.kind_name()),
            &node.span,
        )),
    }
}

/// Ansible refuses variable names that are not Python identifiers.
pub fn check_variable_name(name: &str, span: &Span) -> Result<()> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(
            Diagnostic::at(format!("invalid variable name `{name}`"), span).with_help(
                "variable names use letters, digits and underscores, and do not start with a digit",
            ),
        )
    }
}

/// Reads the common keywords of a task, block or play from its mapping.
pub fn read_common(entries: &[(Node, Node)], common: &mut Common) -> Result<()> {
    for (key, value) in entries {
        let Some(name) = key.as_str() else { continue };
        let slot = match name {
            "when" => {
                common.when = conditions(value);
                continue;
            }
            "tags" => {
                common.tags = string_list(value, "tags")?;
                continue;
            }
            "vars" => {
                common.vars = vars_block(value)?;
                continue;
            }
            "environment" => &mut common.environment,
            "become" => &mut common.become_,
            "become_user" => &mut common.become_user,
            "become_method" => &mut common.become_method,
            "become_flags" => &mut common.become_flags,
            "ignore_errors" => &mut common.ignore_errors,
            "ignore_unreachable" => &mut common.ignore_unreachable,
            "no_log" => &mut common.no_log,
            "check_mode" => &mut common.check_mode,
            "diff" => &mut common.diff,
            "run_once" => &mut common.run_once,
            "delegate_to" => &mut common.delegate_to,
            "delegate_facts" => &mut common.delegate_facts,
            "any_errors_fatal" => &mut common.any_errors_fatal,
            "throttle" => &mut common.throttle,
            "timeout" => &mut common.timeout,
            "connection" => &mut common.connection,
            "remote_user" => &mut common.remote_user,
            "module_defaults" => &mut common.module_defaults,
            _ => continue,
        };
        *slot = Some(value.clone());
    }
    Ok(())
}
