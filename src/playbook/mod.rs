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
    /// Set when this entry is an `import_playbook` of Kubespray: the play has no tasks of
    /// its own and the executor hands the inventory to the Kubespray backend instead.
    pub kubespray: Option<KubesprayImport>,
}

/// `import_playbook: kubernetes_sigs.kubespray.cluster`, or of a file inside a Kubespray
/// checkout. Kubespray's playbooks are not loaded: they need Kubespray's own plugins and
/// a Python Ansible, so the real `ansible-playbook` runs them.
#[derive(Debug, Clone)]
pub struct KubesprayImport {
    pub target: crate::kubespray::Target,
    /// The checkout the imported file lies in; for a collection name it is found when
    /// the playbook runs (`RPLAY_KUBESPRAY_DIR` or the inventory's `kubespray_dir`).
    pub kubespray_dir: Option<PathBuf>,
    /// The import as written, for the play's name.
    pub written: String,
}

impl Play {
    /// The stand-in play for an import handed to Kubespray, named after the import and
    /// placed where it was written.
    pub fn kubespray_handoff(
        import: KubesprayImport,
        written: &Node,
        dir: &std::path::Path,
    ) -> Play {
        use crate::node::NodeValue;
        let text = |text: String| Node::new(NodeValue::String(text), written.span.clone());
        Play {
            name: Some(text(format!("Kubespray: {}", import.written))),
            hosts: text("k8s_cluster".to_string()),
            common: Common::default(),
            gather_facts: None,
            gather_subset: None,
            vars_files: Vec::new(),
            vars_prompt: None,
            pre_tasks: Vec::new(),
            role_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            serial: None,
            strategy: None,
            max_fail_percentage: None,
            force_handlers: None,
            order: None,
            dir: dir.to_path_buf(),
            span: written.span.clone(),
            role_names: Vec::new(),
            roles: Vec::new(),
            kubespray: Some(import),
        }
    }

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
