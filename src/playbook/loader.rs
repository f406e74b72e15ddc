//! Reads playbook, task and role files into [`Play`]s and [`Task`]s.

use super::role::{self, Role};
use super::task::*;
use super::{KubesprayImport, Play, Playbook};
use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::source::Span;
use crate::template::VarMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Play keywords; anything else in a play is a mistake.
const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "vars",
    "vars_files",
    "vars_prompt",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "environment",
    "serial",
    "strategy",
    "any_errors_fatal",
    "max_fail_percentage",
    "tags",
    "connection",
    "remote_user",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "check_mode",
    "diff",
    "force_handlers",
    "order",
    "run_once",
    "throttle",
    "timeout",
    "module_defaults",
    "collections",
    "debugger",
    "port",
    "when",
    "delegate_to",
    "delegate_facts",
];

/// Engine actions, handled in the engine rather than by a host module.
pub const ENGINE_ACTIONS: &[&str] = &[
    "add_host",
    "assert",
    "debug",
    "fail",
    "group_by",
    "include_vars",
    "pause",
    "set_fact",
    "set_stats",
    "template",
    "wait_for_connection",
    "gather_facts",
    "package",
];

/// Loads files, resolving roles and static imports, detecting include loops.
pub struct Loader {
    /// Where roles are searched.
    pub roles_path: Vec<PathBuf>,
    /// Files being imported right now, for loop detection.
    stack: Vec<PathBuf>,
    /// Module names that do not exist, collected so `--syntax-check` can list them all.
    pub unknown_modules: Vec<UnknownModule>,
    /// Handlers of roles imported inside task lists, joined to the play's handlers.
    imported_handlers: Vec<Task>,
    /// Roles imported inside task lists: their variables are visible to the play.
    imported_roles: Vec<Arc<Role>>,
}

impl Loader {
    pub fn new(playbook_dir: &Path) -> Loader {
        Loader {
            roles_path: role::search_path(playbook_dir),
            stack: Vec::new(),
            unknown_modules: Vec::new(),
            imported_handlers: Vec::new(),
            imported_roles: Vec::new(),
        }
    }

    /// Loads a playbook with its `import_playbook`s.
    pub fn load_playbook(&mut self, path: &Path) -> Result<Playbook> {
        let path = absolute(path);
        self.enter(&path, &Span::none())?;
        let result = self.load_playbook_inner(&path);
        self.stack.pop();
        result
    }

    fn load_playbook_inner(&mut self, path: &Path) -> Result<Playbook> {
        let node = crate::yaml::load_file(path)?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let items = match &node.value {
            NodeValue::Seq(items) => items.clone(),
            NodeValue::Null => Vec::new(),
            _ => {
                return Err(Diagnostic::at(
                    format!(
                        "a playbook must be a list of plays, not {}",
                        node.kind_name()
                    ),
                    &node.span,
                )
                .with_help("start each play with `- hosts: ...`"))
            }
        };
        let mut plays = Vec::new();
        for item in &items {
            let Some(entries) = item.as_map() else {
                return Err(Diagnostic::at(
                    format!("a play must be a mapping, not {}", item.kind_name()),
                    &item.span,
                ));
            };
            if let Some(target) = item
                .get("import_playbook")
                .or_else(|| item.get("ansible.builtin.import_playbook"))
            {
                let name = target.as_str().ok_or_else(|| {
                    Diagnostic::at("`import_playbook` needs a file name", &target.span)
                })?;
                if let Some(import) = kubespray_import(name, &dir, &target.span)? {
                    // Kubespray's plays are not ours to filter: a keyword here would be
                    // silently ignored, so it is refused instead.
                    if let Some((key, _)) = entries.iter().find(|(key, _)| {
                        !matches!(
                            key.key_text().as_deref(),
                            Some("name" | "import_playbook" | "ansible.builtin.import_playbook")
                        )
                    }) {
                        return Err(Diagnostic::at(
                            format!(
                                "`{}` cannot be set on an import handed to Kubespray",
                                key.key_text().unwrap_or_default()
                            ),
                            &key.span,
                        )
                        .with_help("set Kubespray's variables under `kubespray:` in the inventory, and pass ansible-playbook options on the rplay command line (-e, --limit, --check)"));
                    }
                    plays.push(Play::kubespray_handoff(import, target, &dir));
                    continue;
                }
                let imported = dir.join(name);
                if !imported.exists() {
                    return Err(Diagnostic::at(
                        format!("imported playbook `{name}` was not found"),
                        &target.span,
                    ));
                }
                self.enter(&absolute(&imported), &target.span)?;
                let result = self.load_playbook_inner(&absolute(&imported));
                self.stack.pop();
                let mut imported = result?;
                // Keywords on the import (tags, when, vars) apply to every imported play.
                let mut common = Common::default();
                read_common(entries, &mut common)?;
                for play in &mut imported.plays {
                    play.common.tags.extend(common.tags.iter().cloned());
                    play.common.when.extend(common.when.iter().cloned());
                    play.common.vars.extend(common.vars.iter().cloned());
                }
                plays.extend(imported.plays);
                continue;
            }
            plays.push(self.load_play(item, entries, &dir)?);
        }
        Ok(Playbook {
            path: path.to_path_buf(),
            plays,
        })
    }

    fn enter(&mut self, path: &Path, span: &Span) -> Result<()> {
        if self.stack.iter().any(|p| p == path) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|p| crate::source::display_path(p))
                .collect();
            return Err(Diagnostic::at(
                format!("include loop: {}", chain.join(" -> ")),
                span,
            ));
        }
        if self.stack.len() > 64 {
            return Err(Diagnostic::at("imports are nested more than 64 deep", span));
        }
        self.stack.push(path.to_path_buf());
        Ok(())
    }

    fn load_play(&mut self, node: &Node, entries: &[(Node, Node)], dir: &Path) -> Result<Play> {
        for (key, _) in entries {
            let name = key.key_text().unwrap_or_default();
            if !PLAY_KEYWORDS.contains(&name.as_str()) {
                let mut diagnostic = Diagnostic::at(
                    format!("`{name}` is not a valid attribute for a play"),
                    &key.span,
                )
                .suggest(&name, PLAY_KEYWORDS.iter().copied());
                if diagnostic.help.is_none() && self.is_action(&name) {
                    diagnostic =
                        diagnostic.with_help("modules go in a task list: put this under `tasks:`");
                }
                return Err(diagnostic);
            }
        }
        let hosts = node.get("hosts").cloned().ok_or_else(|| {
            Diagnostic::at("a play needs `hosts`", &node.span)
                .with_help("say which hosts it runs on: `hosts: all` or `hosts: localhost`")
        })?;
        let mut common = Common::default();
        read_common(entries, &mut common)?;
        let vars_files = match node.get("vars_files") {
            Some(files) => match &files.value {
                NodeValue::Seq(items) => items.clone(),
                NodeValue::Null => Vec::new(),
                _ => vec![files.clone()],
            },
            None => Vec::new(),
        };
        let context = Context {
            dir: dir.to_path_buf(),
            role: None,
            playbook_dir: dir.to_path_buf(),
        };
        let section = |this: &mut Loader, key: &str| -> Result<Vec<Task>> {
            match node.get(key) {
                Some(list) => this.task_list(list, &context),
                None => Ok(Vec::new()),
            }
        };
        let pre_tasks = section(self, "pre_tasks")?;
        let tasks = section(self, "tasks")?;
        let post_tasks = section(self, "post_tasks")?;
        let mut handlers = section(self, "handlers")?;
        handlers.extend(std::mem::take(&mut self.imported_handlers));
        let mut role_tasks = Vec::new();
        let mut role_names = Vec::new();
        let mut roles = Vec::new();
        if let Some(list) = node.get("roles") {
            let items = list.as_seq().map(<[Node]>::to_vec).unwrap_or_default();
            if !list.is_null() && list.as_seq().is_none() {
                return Err(Diagnostic::at("`roles` must be a list", &list.span));
            }
            let mut seen: Vec<(PathBuf, String)> = Vec::new();
            for item in &items {
                let expanded =
                    self.role_use(item, &context, &mut seen, &mut handlers, &mut roles)?;
                role_tasks.extend(expanded);
            }
            // `role_names` lists the roles as the play names them, dependencies aside.
            role_names = items
                .iter()
                .filter_map(|item| match &item.value {
                    NodeValue::String(name) => Some(name.clone()),
                    _ => item
                        .get("role")
                        .or_else(|| item.get("name"))
                        .and_then(Node::as_str)
                        .map(str::to_string),
                })
                .map(|name| name.rsplit('/').next().unwrap_or(&name).to_string())
                .collect();
        }
        Ok(Play {
            name: node.get("name").cloned(),
            hosts,
            common,
            gather_facts: node.get("gather_facts").cloned(),
            gather_subset: node.get("gather_subset").cloned(),
            vars_files,
            vars_prompt: node.get("vars_prompt").cloned(),
            pre_tasks,
            role_tasks,
            tasks,
            post_tasks,
            handlers,
            serial: node.get("serial").cloned(),
            strategy: node.get("strategy").cloned(),
            max_fail_percentage: node.get("max_fail_percentage").cloned(),
            force_handlers: node.get("force_handlers").cloned(),
            order: node.get("order").cloned(),
            dir: dir.to_path_buf(),
            span: node.span.clone(),
            role_names,
            roles: roles
                .into_iter()
                .chain(std::mem::take(&mut self.imported_roles))
                .collect(),
            kubespray: None,
        })
    }

    /// One entry of `roles:` with its dependencies, as a block carrying the role.
    fn role_use(
        &mut self,
        item: &Node,
        context: &Context,
        seen: &mut Vec<(PathBuf, String)>,
        handlers: &mut Vec<Task>,
        roles: &mut Vec<Arc<Role>>,
    ) -> Result<Vec<Task>> {
        let (name, name_span, params, common) = match &item.value {
            NodeValue::String(name) => (
                name.clone(),
                item.span.clone(),
                VarMap::new(),
                Common::default(),
            ),
            NodeValue::Map(entries) => {
                let name_node = item
                    .get("role")
                    .or_else(|| item.get("name"))
                    .ok_or_else(|| Diagnostic::at("a role entry needs `role: NAME`", &item.span))?;
                let name = name_node
                    .as_str()
                    .ok_or_else(|| Diagnostic::at("a role name must be a string", &name_node.span))?
                    .to_string();
                let mut common = Common::default();
                read_common(entries, &mut common)?;
                let mut params = VarMap::new();
                for (key, value) in entries {
                    let key = key.key_text().unwrap_or_default();
                    if key == "role" || key == "name" || TASK_KEYWORDS.contains(&key.as_str()) {
                        continue;
                    }
                    params.insert(key, value.to_value());
                }
                if let Some(vars) = item.get("vars") {
                    for (k, v) in vars_block(vars)? {
                        params.insert(k, v.to_value());
                    }
                }
                (name, name_node.span.clone(), params, common)
            }
            _ => {
                return Err(Diagnostic::at(
                    "a role entry must be a name or a mapping",
                    &item.span,
                ))
            }
        };
        self.expand_role(
            &name,
            &name_span,
            params,
            common,
            &EntryPoints::default(),
            context,
            seen,
            handlers,
            roles,
            true,
        )
    }

    /// Loads a role's tasks (with its meta dependencies first) as one block.
    #[allow(clippy::too_many_arguments)]
    fn expand_role(
        &mut self,
        name: &str,
        span: &Span,
        params: VarMap,
        common: Common,
        from: &EntryPoints,
        context: &Context,
        seen: &mut Vec<(PathBuf, String)>,
        handlers: &mut Vec<Task>,
        roles: &mut Vec<Arc<Role>>,
        dedupe: bool,
    ) -> Result<Vec<Task>> {
        let path = absolute(&role::find_role(name, &self.roles_path, span)?);
        let tasks_from = from.tasks.as_str();
        let identity = (path.clone(), format!("{from:?}:{params:?}"));
        let meta = match role::find_main(&path.join("meta"), "main") {
            Some(file) => Some(crate::yaml::load_file(&file)?),
            None => None,
        };
        let allow_duplicates = meta
            .as_ref()
            .and_then(|m| m.get("allow_duplicates"))
            .is_some_and(|v| matches!(v.value, NodeValue::Bool(true)));
        // A role that depends on itself, however far round, is refused before duplicates
        // are dropped (that would hide the loop), as ansible-playbook refuses it.
        if self.stack.contains(&path) {
            self.enter(&path, span)?;
        }
        if dedupe && !allow_duplicates && seen.contains(&identity) {
            return Ok(Vec::new());
        }
        seen.push(identity);
        self.enter(&path, span)?;
        let result = (|| {
            let role = Arc::new(Role::load_from(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .as_deref()
                    .unwrap_or(name),
                &path,
                params,
                &from.defaults,
                &from.vars,
            )?);
            let mut tasks = Vec::new();
            if let Some(dependencies) = meta.as_ref().and_then(|m| m.get("dependencies")) {
                for dependency in dependencies.as_seq().unwrap_or_default() {
                    let role_context = Context {
                        dir: path.clone(),
                        role: Some(role.clone()),
                        playbook_dir: context.playbook_dir.clone(),
                    };
                    tasks.extend(self.role_use(
                        dependency,
                        &role_context,
                        seen,
                        handlers,
                        roles,
                    )?);
                }
            }
            let role_context = Context {
                dir: role.tasks_dir(),
                role: Some(role.clone()),
                playbook_dir: context.playbook_dir.clone(),
            };
            let body = match role.entry_file("tasks", tasks_from) {
                Some(file) => self.task_file(&file, &role_context)?,
                None if tasks_from != "main" => {
                    return Err(Diagnostic::at(
                        format!("role `{name}` has no tasks file `{tasks_from}`"),
                        span,
                    ))
                }
                None => Vec::new(),
            };
            if let Some(file) = role.entry_file("handlers", &from.handlers) {
                let handler_context = Context {
                    dir: role.path.join("handlers"),
                    ..role_context.clone()
                };
                handlers.extend(self.task_file(&file, &handler_context)?);
            }
            roles.push(role.clone());
            tasks.push(Task {
                name: None,
                kind: TaskKind::Block {
                    block: body,
                    rescue: Vec::new(),
                    always: Vec::new(),
                },
                common,
                loop_: None,
                loop_control: LoopControl::default(),
                register: None,
                changed_when: None,
                failed_when: None,
                until: None,
                retries: None,
                delay: None,
                notify: Vec::new(),
                listen: Vec::new(),
                role: Some(role),
                span: span.clone(),
            });
            Ok(tasks)
        })();
        self.stack.pop();
        result
    }

    /// Loads a task file (a list of tasks).
    pub fn task_file(&mut self, path: &Path, context: &Context) -> Result<Vec<Task>> {
        let path = absolute(path);
        self.enter(&path, &Span::none())?;
        let result = crate::yaml::load_file(&path).and_then(|node| {
            let file_context = Context {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                ..context.clone()
            };
            self.task_list(&node, &file_context)
        });
        self.stack.pop();
        result
    }

    pub fn task_list(&mut self, node: &Node, context: &Context) -> Result<Vec<Task>> {
        let items = match &node.value {
            NodeValue::Seq(items) => items,
            NodeValue::Null => return Ok(Vec::new()),
            _ => {
                return Err(Diagnostic::at(
                    format!("a task list must be a list, not {}", node.kind_name()),
                    &node.span,
                )
                .with_help("start each task with `- name: ...`"))
            }
        };
        let mut tasks = Vec::new();
        for item in items {
            tasks.extend(self.task(item, context)?);
        }
        Ok(tasks)
    }

    fn is_action(&self, name: &str) -> bool {
        rplay_modules::lookup(name).is_some()
            || ENGINE_ACTIONS.contains(&strip_builtin(name))
            || matches!(
                strip_builtin(name),
                "import_tasks"
                    | "include_tasks"
                    | "include"
                    | "import_role"
                    | "include_role"
                    | "meta"
                    | "setup"
            )
    }

    /// One task; static imports expand into the tasks they import.
    fn task(&mut self, node: &Node, context: &Context) -> Result<Vec<Task>> {
        let Some(entries) = node.as_map() else {
            return Err(Diagnostic::at(
                format!("a task must be a mapping, not {}", node.kind_name()),
                &node.span,
            ));
        };
        let mut common = Common::default();
        read_common(entries, &mut common)?;
        let mut task = Task {
            name: node.get("name").cloned(),
            kind: TaskKind::Meta {
                action: "noop".to_string(),
            },
            common,
            loop_: None,
            loop_control: LoopControl::default(),
            register: None,
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            notify: Vec::new(),
            listen: Vec::new(),
            role: context.role.clone(),
            span: node.span.clone(),
        };
        let mut action: Option<(String, Span, Node)> = None;
        let mut extra_args: Option<Node> = None;
        for (key, value) in entries {
            let Some(name) = key.key_text() else {
                return Err(Diagnostic::at("task keys must be strings", &key.span));
            };
            match name.as_str() {
                "name" | "when" | "tags" | "vars" | "environment" | "become" | "become_user"
                | "become_method" | "become_flags" | "become_exe" | "ignore_errors"
                | "ignore_unreachable" | "no_log" | "check_mode" | "diff" | "run_once"
                | "delegate_to" | "delegate_facts" | "any_errors_fatal" | "throttle"
                | "timeout" | "connection" | "remote_user" | "module_defaults" | "collections"
                | "debugger" | "port" | "async" | "poll" | "rescue" | "always" => {}
                "loop" => {
                    task.loop_ = Some(Loop::Items {
                        kind: "loop".to_string(),
                        value: value.clone(),
                    })
                }
                "loop_control" => task.loop_control = loop_control(value)?,
                "register" => {
                    let register = value.as_str().ok_or_else(|| {
                        Diagnostic::at("`register` needs a variable name", &value.span)
                    })?;
                    check_variable_name(register, &value.span)?;
                    task.register = Some(register.to_string());
                }
                "changed_when" => task.changed_when = Some(conditions(value)),
                "failed_when" => task.failed_when = Some(conditions(value)),
                "until" => task.until = Some(conditions(value)),
                "retries" => task.retries = Some(value.clone()),
                "delay" => task.delay = Some(value.clone()),
                "notify" => {
                    task.notify = match &value.value {
                        NodeValue::Seq(items) => items.clone(),
                        NodeValue::Null => Vec::new(),
                        _ => vec![value.clone()],
                    }
                }
                "listen" => task.listen = string_list(value, "`listen` topics")?,
                "args" => extra_args = Some(value.clone()),
                "block" => {
                    let block = self.task_list(value, context)?;
                    let rescue = match node.get("rescue") {
                        Some(list) => self.task_list(list, context)?,
                        None => Vec::new(),
                    };
                    let always = match node.get("always") {
                        Some(list) => self.task_list(list, context)?,
                        None => Vec::new(),
                    };
                    task.kind = TaskKind::Block {
                        block,
                        rescue,
                        always,
                    };
                    action = Some(("block".to_string(), key.span.clone(), value.clone()));
                }
                "action" | "local_action" => {
                    if name == "local_action" {
                        task.common.delegate_to = Some(Node::string("localhost", key.span.clone()));
                    }
                    let (module, args) = split_action(value)?;
                    set_action(&mut action, module, key.span.clone(), args)?;
                }
                with if with.starts_with("with_") => {
                    if !WITH_LOOPS.contains(&with) {
                        return Err(Diagnostic::at(format!("unknown loop `{with}`"), &key.span)
                            .suggest(with, WITH_LOOPS.iter().copied()));
                    }
                    task.loop_ = Some(Loop::Items {
                        kind: with.trim_start_matches("with_").to_string(),
                        value: value.clone(),
                    });
                }
                _ => set_action(&mut action, name.clone(), key.span.clone(), value.clone())?,
            }
        }
        let Some((module, module_span, raw_args)) = action else {
            return Err(
                Diagnostic::at("no module or action in this task", &node.span).with_help(
                    "a task needs one module, e.g. `command: uptime` or `debug: msg=hi`",
                ),
            );
        };
        if module == "block" {
            if task.loop_.is_some() {
                return Err(Diagnostic::at("a block cannot loop", &node.span)
                    .with_help("loop over `include_tasks` instead"));
            }
            return Ok(vec![task]);
        }
        let short = strip_builtin(&module).to_string();
        match short.as_str() {
            "import_tasks" => {
                let file = import_file_name(&raw_args, extra_args.as_ref())?;
                let path = find_task_file(&file, context).ok_or_else(|| {
                    Diagnostic::at(
                        format!("task file `{}` was not found", file),
                        &raw_args.span,
                    )
                })?;
                let imported = self.task_file(&path, context)?;
                task.kind = TaskKind::Block {
                    block: imported,
                    rescue: Vec::new(),
                    always: Vec::new(),
                };
                return Ok(vec![task]);
            }
            "import_role" => {
                let args = normalize_args(&module, &raw_args, extra_args.as_ref(), None)?;
                let name = args
                    .get("name")
                    .and_then(Node::as_str)
                    .ok_or_else(|| Diagnostic::at("`import_role` needs `name`", &raw_args.span))?
                    .to_string();
                let entry = |key: &str| {
                    args.get(key)
                        .and_then(Node::as_str)
                        .unwrap_or("main")
                        .to_string()
                };
                let from = EntryPoints {
                    tasks: entry("tasks_from"),
                    vars: entry("vars_from"),
                    defaults: entry("defaults_from"),
                    handlers: entry("handlers_from"),
                };
                let mut handlers = Vec::new();
                let mut roles = Vec::new();
                let mut seen = Vec::new();
                let params: VarMap = task
                    .common
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect();
                let common = std::mem::take(&mut task.common);
                let expanded = self.expand_role(
                    &name,
                    &raw_args.span,
                    params,
                    common,
                    &from,
                    context,
                    &mut seen,
                    &mut handlers,
                    &mut roles,
                    false,
                )?;
                self.imported_handlers.extend(handlers);
                // A static import's defaults and vars are the play's, like `roles:`.
                self.imported_roles.extend(roles);
                return Ok(expanded);
            }
            "include_tasks" | "include" => {
                let args = normalize_args(&module, &raw_args, extra_args.as_ref(), Some("file"))?;
                let file = args
                    .get("file")
                    .or_else(|| args.get("_raw_params"))
                    .cloned()
                    .ok_or_else(|| {
                        Diagnostic::at("`include_tasks` needs a file", &raw_args.span)
                    })?;
                task.kind = TaskKind::IncludeTasks { file, args };
                return Ok(vec![task]);
            }
            "include_role" => {
                let args = normalize_args(&module, &raw_args, extra_args.as_ref(), None)?;
                if args.get("name").is_none() {
                    return Err(Diagnostic::at(
                        "`include_role` needs `name`",
                        &raw_args.span,
                    ));
                }
                task.kind = TaskKind::IncludeRole { args };
                return Ok(vec![task]);
            }
            "meta" => {
                let action = raw_args
                    .as_str()
                    .or_else(|| raw_args.get("_raw_params").and_then(Node::as_str))
                    .ok_or_else(|| Diagnostic::at("`meta` needs an action", &raw_args.span))?
                    .trim()
                    .to_string();
                const META: &[&str] = &[
                    "flush_handlers",
                    "refresh_inventory",
                    "noop",
                    "clear_facts",
                    "clear_host_errors",
                    "end_play",
                    "end_host",
                    "end_batch",
                    "reset_connection",
                    "role_complete",
                ];
                if !META.contains(&action.as_str()) {
                    return Err(Diagnostic::at(
                        format!("unknown meta action `{action}`"),
                        &raw_args.span,
                    )
                    .suggest(&action, META.iter().copied()));
                }
                task.kind = TaskKind::Meta { action };
                return Ok(vec![task]);
            }
            _ => {}
        }
        if !self.is_action(&module) {
            let known: Vec<&str> = rplay_modules::registry::all_names()
                .chain(ENGINE_ACTIONS.iter().copied())
                .chain([
                    "import_tasks",
                    "include_tasks",
                    "import_role",
                    "include_role",
                    "meta",
                    "setup",
                ])
                .collect();
            let diagnostic = Diagnostic::at(
                format!("couldn't resolve module/action `{module}`"),
                &module_span,
            )
            .suggest(&module, known.iter().copied());
            let diagnostic = if diagnostic.help.is_none() {
                diagnostic.with_help(
                    "this module is not available in rplay; `rplay doc` lists those that are",
                )
            } else {
                diagnostic
            };
            // Not an error yet: `--syntax-check` lists every unknown module at once, and a
            // module from a collection rplay does not carry fails only when its task must
            // execute (a `when` may skip it). A short name is taken as a typo and stops
            // the run before it starts (see `Loader::blocking_unknown_modules`).
            self.unknown_modules.push(UnknownModule {
                from_collection: is_collection_name(&module),
                diagnostic,
            });
            let args = match &raw_args.value {
                NodeValue::Map(_) | NodeValue::Null => {
                    normalize_args(&module, &raw_args, extra_args.as_ref(), None)?
                }
                _ => Node::new(
                    NodeValue::Map(vec![(
                        Node::string("_raw_params", raw_args.span.clone()),
                        raw_args.clone(),
                    )]),
                    raw_args.span.clone(),
                ),
            };
            task.kind = TaskKind::Action {
                module: module.clone(),
                written: module,
                module_span,
                args,
            };
            return Ok(vec![task]);
        }
        let free_form = rplay_modules::lookup(&module)
            .and_then(|spec| spec.free_form)
            .map(|f| f.key)
            .or(match short.as_str() {
                "debug"
                | "set_fact"
                | "assert"
                | "fail"
                | "group_by"
                | "add_host"
                | "pause"
                | "template"
                | "package"
                | "set_stats"
                | "wait_for_connection"
                | "gather_facts" => None,
                "include_vars" => Some("file"),
                _ => None,
            });
        let args = normalize_args(&module, &raw_args, extra_args.as_ref(), free_form)?;
        task.kind = TaskKind::Action {
            module: canonical_module(&module),
            written: module.clone(),
            module_span,
            args,
        };
        Ok(vec![task])
    }
}

/// A task whose module rplay does not know.
#[derive(Debug, Clone)]
pub struct UnknownModule {
    /// Named with a collection other than `ansible.builtin` (`community.foo.bar`): a
    /// module rplay does not carry rather than a typo.
    pub from_collection: bool,
    pub diagnostic: Diagnostic,
}

/// `community.general.foo` names a collection's module; `foo` and `ansible.builtin.foo`
/// name a built-in one.
fn is_collection_name(name: &str) -> bool {
    name.matches('.').count() >= 2 && strip_builtin(name) == name
}

impl Loader {
    /// Unknown modules that stop a run before it starts: every one written as a short or
    /// `ansible.builtin.` name (most likely a typo). Modules of other collections fail
    /// only when their task runs.
    pub fn blocking_unknown_modules(&self) -> Vec<Diagnostic> {
        self.unknown_modules
            .iter()
            .filter(|unknown| !unknown.from_collection)
            .map(|unknown| unknown.diagnostic.clone())
            .collect()
    }
}

/// Which files of a role to use (`tasks_from`, `vars_from`, ...), `main` by default.
#[derive(Debug, Clone)]
pub struct EntryPoints {
    pub tasks: String,
    pub vars: String,
    pub defaults: String,
    pub handlers: String,
}

impl Default for EntryPoints {
    fn default() -> Self {
        EntryPoints {
            tasks: "main".to_string(),
            vars: "main".to_string(),
            defaults: "main".to_string(),
            handlers: "main".to_string(),
        }
    }
}

/// Where a file is being loaded from, for resolving relative names.
#[derive(Debug, Clone)]
pub struct Context {
    pub dir: PathBuf,
    pub role: Option<Arc<Role>>,
    pub playbook_dir: PathBuf,
}

fn set_action(
    slot: &mut Option<(String, Span, Node)>,
    name: String,
    span: Span,
    value: Node,
) -> Result<()> {
    if let Some((existing, _, _)) = slot {
        return Err(Diagnostic::at(
            format!("conflicting action statements: `{existing}` and `{name}`"),
            &span,
        )
        .with_help("a task runs one module; split this into two tasks, or check the indentation"));
    }
    *slot = Some((name, span, value));
    Ok(())
}

fn strip_builtin(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// Engine actions under their short name; host modules keep the name written (the
/// registry resolves aliases).
fn canonical_module(name: &str) -> String {
    let short = strip_builtin(name);
    if ENGINE_ACTIONS.contains(&short) || short == "setup" {
        short.to_string()
    } else if let Some(spec) = rplay_modules::lookup(name) {
        spec.name.to_string()
    } else {
        name.to_string()
    }
}

/// `action: copy src=a dest=b` → (`copy`, "src=a dest=b").
fn split_action(value: &Node) -> Result<(String, Node)> {
    match &value.value {
        NodeValue::String(text) => {
            let text = text.trim();
            let (module, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
            Ok((
                module.to_string(),
                Node::string(rest.trim(), value.span.clone()),
            ))
        }
        NodeValue::Map(entries) => {
            let module_node = value
                .get("module")
                .ok_or_else(|| Diagnostic::at("`action` needs `module`", &value.span))?;
            let module = module_node.as_str().unwrap_or_default().to_string();
            let rest: Vec<(Node, Node)> = entries
                .iter()
                .filter(|(k, _)| k.as_str() != Some("module"))
                .cloned()
                .collect();
            Ok((module, Node::new(NodeValue::Map(rest), value.span.clone())))
        }
        _ => Err(Diagnostic::at("`action` needs a module name", &value.span)),
    }
}

fn import_file_name(raw: &Node, extra: Option<&Node>) -> Result<String> {
    let args = normalize_args("import_tasks", raw, extra, Some("file"))?;
    let file = args
        .get("file")
        .or_else(|| args.get("_raw_params"))
        .and_then(Node::as_str)
        .ok_or_else(|| Diagnostic::at("`import_tasks` needs a file name", &raw.span))?;
    if crate::template::is_template(file) {
        return Err(Diagnostic::at(
            "`import_tasks` is static: its file name cannot be a template",
            &raw.span,
        )
        .with_help("use `include_tasks` to pick the file at run time"));
    }
    Ok(file.to_string())
}

/// Task files are found beside the including file, in the role's tasks/, then beside the
/// playbook, as Ansible does.
pub fn find_task_file(file: &str, context: &Context) -> Option<PathBuf> {
    let path = Path::new(file);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    let mut bases = vec![context.dir.clone()];
    if let Some(role) = &context.role {
        bases.push(role.tasks_dir());
        bases.push(role.path.clone());
    }
    bases.push(context.playbook_dir.clone());
    bases
        .into_iter()
        .map(|b| b.join(path))
        .find(|p| p.is_file())
}

/// Turns any way of writing arguments into a mapping node: a mapping as is, `k=v` words,
/// or free-form text for modules that take it; `args:` fills in what the task leaves out.
pub fn normalize_args(
    module: &str,
    raw: &Node,
    extra: Option<&Node>,
    free_form: Option<&str>,
) -> Result<Node> {
    let mut entries: Vec<(Node, Node)> = match &raw.value {
        NodeValue::Map(entries) => entries.clone(),
        NodeValue::Null => Vec::new(),
        NodeValue::String(text) | NodeValue::Unsafe(text) => {
            parse_kv(text, &raw.span, module, free_form)?
        }
        NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => match free_form {
            Some(key) => vec![(Node::string(key, raw.span.clone()), raw.clone())],
            None => {
                return Err(Diagnostic::at(
                    format!(
                        "`{module}` needs a mapping of arguments, not {}",
                        raw.kind_name()
                    ),
                    &raw.span,
                ))
            }
        },
        _ => {
            return Err(Diagnostic::at(
                format!(
                    "`{module}` arguments must be a mapping, not {}",
                    raw.kind_name()
                ),
                &raw.span,
            ))
        }
    };
    if let Some(extra) = extra {
        let extra_entries = extra.as_map().ok_or_else(|| {
            Diagnostic::at(
                format!("`args` must be a mapping, not {}", extra.kind_name()),
                &extra.span,
            )
        })?;
        for (key, value) in extra_entries {
            if !entries.iter().any(|(k, _)| k.key_text() == key.key_text()) {
                entries.push((key.clone(), value.clone()));
            }
        }
    }
    Ok(Node::new(NodeValue::Map(entries), raw.span.clone()))
}

/// Ansible's `k=v` argument syntax. With a free-form module, words that are not `k=v`
/// (or whose key the module does not take inline) form the free-form text, which keeps
/// its own spacing and newlines (a multi-line `shell: |` script stays as written).
fn parse_kv(
    text: &str,
    span: &Span,
    module: &str,
    free_form: Option<&str>,
) -> Result<Vec<(Node, Node)>> {
    let inline_keys: &[&str] = rplay_modules::lookup(module)
        .and_then(|spec| spec.free_form)
        .map(|f| f.inline_keys)
        .unwrap_or(&[]);
    let is_command = !inline_keys.is_empty();
    let words = split_kv_words(text);
    let mut entries = Vec::new();
    let mut free: Vec<(usize, usize)> = Vec::new();
    for (start, end) in words {
        let word = &text[start..end];
        let kv = word.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match kv {
            Some((key, value)) if !is_command || inline_keys.contains(&key) => {
                entries.push((
                    Node::string(key, span.clone()),
                    Node::string(unquote(value), span.clone()),
                ));
            }
            _ => free.push((start, end)),
        }
    }
    if let (Some(first), Some(last)) = (free.first(), free.last()) {
        match free_form {
            Some(key) => {
                let joined = if is_command {
                    // The text between the first and last free word, as written, minus any
                    // inline `k=v` words that sat in between.
                    let mut raw = String::new();
                    let mut cursor = first.0;
                    for (start, end) in &free {
                        if *start > cursor {
                            let gap = &text[cursor..*start];
                            raw.push_str(if gap.trim().is_empty() { gap } else { " " });
                        }
                        raw.push_str(&text[*start..*end]);
                        cursor = *end;
                    }
                    let _ = last;
                    raw
                } else {
                    free.iter()
                        .map(|(s, e)| unquote(&text[*s..*e]))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                entries.insert(
                    0,
                    (
                        Node::string(key, span.clone()),
                        Node::string(joined, span.clone()),
                    ),
                );
            }
            None => {
                return Err(Diagnostic::at(
                    format!(
                        "`{module}` takes `key=value` arguments, but `{}` is not one",
                        &text[first.0..first.1]
                    ),
                    span,
                )
                .with_help("write arguments as a mapping, or as `key=value` words"))
            }
        }
    }
    Ok(entries)
}

/// Splits on whitespace outside quotes and outside `{{ }}`/`{% %}`; returns byte ranges.
fn split_kv_words(text: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (offset, c) = chars[i];
        let next = chars.get(i + 1).map(|(_, c)| *c);
        if quote.is_none() && c == '{' && matches!(next, Some('{') | Some('%')) {
            depth += 1;
            start.get_or_insert(offset);
            i += 2;
            continue;
        }
        if quote.is_none() && depth > 0 && matches!(c, '}' | '%') && next == Some('}') {
            depth -= 1;
            i += 2;
            continue;
        }
        match quote {
            Some(q) if c == q && (i == 0 || chars[i - 1].1 != '\\') => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && depth == 0 => {
                quote = Some(c);
                start.get_or_insert(offset);
            }
            None if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    words.push((s, offset));
                }
            }
            None => {
                start.get_or_insert(offset);
            }
        }
        i += 1;
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    words
}

fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &value[1..value.len() - 1];
        if bytes[0] == b'"' {
            return inner
                .replace("\\\"", "\"")
                .replace("\\n", "\n")
                .replace("\\\\", "\\");
        }
        return inner.to_string();
    }
    value.to_string()
}

fn loop_control(node: &Node) -> Result<LoopControl> {
    let mut control = LoopControl::default();
    let Some(entries) = node.as_map() else {
        return Err(Diagnostic::at(
            "`loop_control` must be a mapping",
            &node.span,
        ));
    };
    const KEYS: &[&str] = &[
        "loop_var",
        "index_var",
        "label",
        "pause",
        "extended",
        "extended_allitems",
        "break_when",
    ];
    for (key, value) in entries {
        let name = key.key_text().unwrap_or_default();
        match name.as_str() {
            "loop_var" => {
                control.loop_var = value
                    .as_str()
                    .ok_or_else(|| Diagnostic::at("`loop_var` needs a name", &value.span))?
                    .to_string()
            }
            "index_var" => control.index_var = value.as_str().map(str::to_string),
            "label" => control.label = Some(value.clone()),
            "pause" => control.pause = Some(value.clone()),
            "extended" => control.extended = matches!(value.value, NodeValue::Bool(true)),
            "extended_allitems" | "break_when" => {}
            _ => {
                return Err(Diagnostic::at(
                    format!("unknown `loop_control` option `{name}`"),
                    &key.span,
                )
                .suggest(&name, KEYS.iter().copied()))
            }
        }
    }
    Ok(control)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The collection whose playbooks are handed to Kubespray.
const KUBESPRAY_COLLECTION: &str = "kubernetes_sigs.kubespray.";

/// An import of a Kubespray playbook, by collection name or by a path into a checkout.
fn kubespray_import(name: &str, dir: &Path, span: &Span) -> Result<Option<KubesprayImport>> {
    use crate::kubespray::{checkout, PlaybookName, Target};
    if let Some(short) = name.strip_prefix(KUBESPRAY_COLLECTION) {
        let playbook = PlaybookName::from_collection_name(short).ok_or_else(|| {
            Diagnostic::at(format!("unknown Kubespray playbook `{name}`"), span)
                .suggest(short, ["cluster", "reset", "scale", "upgrade_cluster"])
        })?;
        return Ok(Some(KubesprayImport {
            target: Target::Named(playbook),
            kubespray_dir: None,
            written: name.to_string(),
        }));
    }
    let path = absolute(&dir.join(name));
    if !path.is_file() {
        return Ok(None);
    }
    Ok(
        checkout::enclosing_checkout(&path).map(|checkout| KubesprayImport {
            target: Target::File(path),
            kubespray_dir: Some(checkout),
            written: name.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_words_keep_templates_and_quotes() {
        let text = r#"msg="hello world" var={{ a | default('x y') }}"#;
        let words: Vec<&str> = split_kv_words(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(
            words,
            vec![r#"msg="hello world""#, "var={{ a | default('x y') }}"]
        );
    }

    #[test]
    fn free_form_scripts_keep_their_newlines() {
        let span = Span::none();
        let entries = parse_kv("n=1\necho  $n\n", &span, "shell", Some("cmd")).unwrap();
        assert_eq!(entries[0].1.as_str(), Some("n=1\necho  $n"));
    }

    #[test]
    fn command_free_form_keeps_inline_keys_apart() {
        let span = Span::none();
        let entries = parse_kv("echo a=b creates=/tmp/x", &span, "command", Some("cmd")).unwrap();
        let pairs: Vec<(String, String)> = entries
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("cmd".to_string(), "echo a=b".to_string()),
                ("creates".to_string(), "/tmp/x".to_string())
            ]
        );
    }
}
