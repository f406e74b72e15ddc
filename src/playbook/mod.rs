//! Playbooks as written: plays, tasks, blocks, roles and imports, with positions kept.
//!
//! Static parts (`import_tasks`, `import_role`, `roles:`, `import_playbook`) are expanded
//! here, at load time, so that a typo anywhere in them is reported before any host is
//! contacted. Dynamic includes are loaded when reached.

pub mod loader;
pub mod role;
pub mod task;

pub use loader::Loader;
pub use task::{Common, Loop, LoopControl, Task, TaskKind};

use crate::node::Node;
use crate::source::Span;
use std::path::PathBuf;
use std::sync::Arc;

/// One play: a set of hosts and what to run on them.
#[derive(Debug, Clone)]
pub struct Play {
    pub name: Option<Node>,
    pub hosts: Node,
    pub common: Common,
    pub gather_facts: Option<Node>,
    pub gather_subset: Option<Node>,
    pub vars_files: Vec<Node>,
    pub vars_prompt: Option<Node>,
    pub pre_tasks: Vec<Task>,
    /// The tasks of `roles:`, in order, each carrying its role.
    pub role_tasks: Vec<Task>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    pub serial: Option<Node>,
    pub strategy: Option<Node>,
    pub max_fail_percentage: Option<Node>,
    pub force_handlers: Option<Node>,
    pub order: Option<Node>,
    /// The directory of the playbook file that holds this play (`playbook_dir`).
    pub dir: PathBuf,
    pub span: Span,
    /// Roles used by the play, for `role_names`.
    pub role_names: Vec<String>,
    pub roles: Vec<Arc<role::Role>>,
}

impl Play {
    pub fn display_name(&self) -> String {
        if let Some(name) = self.name.as_ref().and_then(Node::as_str) {
            return name.to_string();
        }
        match &self.hosts.value {
            crate::node::NodeValue::Seq(items) => items
                .iter()
                .filter_map(Node::key_text)
                .collect::<Vec<_>>()
                .join(","),
            _ => self.hosts.key_text().unwrap_or_default(),
        }
    }
}

/// A playbook: its plays, imports expanded.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

/// Every task of a play, for `--list-tasks` and checks.
pub fn walk<'a>(tasks: &'a [Task], visit: &mut dyn FnMut(&'a Task, usize)) {
    fn go<'a>(tasks: &'a [Task], depth: usize, visit: &mut dyn FnMut(&'a Task, usize)) {
        for task in tasks {
            visit(task, depth);
            if let TaskKind::Block {
                block,
                rescue,
                always,
            } = &task.kind
            {
                go(block, depth + 1, visit);
                go(rescue, depth + 1, visit);
                go(always, depth + 1, visit);
            }
        }
    }
    go(tasks, 0, visit);
}
