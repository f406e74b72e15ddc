//! Runs plays: hosts in parallel up to `--forks`, task by task (the `linear` strategy),
//! blocks with rescue and always, handlers, serial batches, and the recap.
//!
//! Each task runs on all active hosts at once; a host's run only reads shared state and
//! returns what it changed (registered values, facts, notifications), which is applied
//! when every host has finished the task. That keeps the parallel part free of locks.

mod actions;
mod connection;
mod host;
pub mod host_connection;
mod loops;
mod task;
pub mod value;

pub use actions::check_static_args;
pub use connection::Become;
pub use host::HostState;

use crate::diagnostic::{Diagnostic, Result};
use crate::interrupt::Interrupt;
use crate::inventory::Inventory;
use crate::node::{Node, NodeValue};
use crate::playbook::role::Role;
use crate::playbook::{Common, Loader, Play, Playbook, Task, TaskKind};
use crate::report::{HostResult, SharedSink, Sink, Stats, Status};
use crate::template::{HostVarsSource, Scope, Templar, VarMap};
use futures::StreamExt;
use host_connection::HostConnection;
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use task::{Delegate, TaskContext, TaskOutput};

/// Settings from the command line that shape a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// SSH settings from the command line (`--private-key`, `-T`, ...).
    pub ssh: crate::transport::ConnectionOptions,
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: VarMap,
    pub become_: bool,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    /// `-K`: the become password, unless `ansible_become_password` says otherwise.
    pub become_password: Option<crate::secret::Secret>,
    pub connection: Option<String>,
    pub remote_user: Option<String>,
    pub start_at_task: Option<String>,
    pub step: bool,
    pub verbosity: u8,
    /// `--task-timeout`: seconds any task may run; a task's `timeout:` wins.
    pub task_timeout: Option<u64>,
    /// When plays gather facts (ansible.cfg's `gathering`).
    pub gathering: Gathering,
    /// Standard output is machine-read (`--output json`): the output of programs the run
    /// hands work to (Kubespray's ansible-playbook) goes to standard error instead.
    pub stdout_is_data: bool,
}

/// Ansible's `gathering` setting: which plays gather facts when they do not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Gathering {
    /// Every play that does not say `gather_facts: false`.
    #[default]
    Implicit,
    /// Only plays that say `gather_facts: true`.
    Explicit,
    /// As `implicit`, but a host whose facts were gathered earlier in the run is not asked
    /// again.
    Smart,
}

impl Gathering {
    pub fn parse(text: &str) -> Option<Gathering> {
        match text.trim().to_ascii_lowercase().as_str() {
            "implicit" => Some(Gathering::Implicit),
            "explicit" => Some(Gathering::Explicit),
            "smart" => Some(Gathering::Smart),
            _ => None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ssh: Default::default(),
            check: false,
            diff: false,
            forks: 50,
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            extra_vars: VarMap::new(),
            become_: false,
            become_user: None,
            become_method: None,
            become_password: None,
            connection: None,
            remote_user: None,
            start_at_task: None,
            step: false,
            verbosity: 0,
            task_timeout: None,
            gathering: Gathering::Implicit,
            stdout_is_data: false,
        }
    }
}

/// Exit codes as `ansible-playbook` gives them.
pub const EXIT_FAILED: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 4;
pub const EXIT_INTERRUPTED: i32 = 99;

/// Everything one run keeps: hosts, their state, the reporting sink.
pub struct Executor {
    pub templar: Arc<Templar>,
    pub inventory: Inventory,
    pub options: Options,
    sink: Box<dyn Sink>,
    /// The same sink, for runners started under the `free` strategy.
    shared_sink: SharedSink,
    hosts: IndexMap<String, HostState>,
    extra_vars: Arc<VarMap>,
    shared: Arc<SharedVars>,
    /// Ctrl-C: no new task starts, running commands are stopped, the recap is printed.
    interrupt: Interrupt,
    started: bool,
    /// `group_by`/`add_host` changed the inventory since `groups` was last published.
    groups_changed: bool,
    /// `any_errors_fatal` or `max_fail_percentage` stopped the playbook.
    aborted: bool,
    /// Connections to hosts that tasks were delegated to but that are not in the
    /// inventory, by name.
    unlisted_hosts: Arc<std::sync::Mutex<HashMap<String, Arc<HostConnection>>>>,
}

/// Every host's variable layers as a play sees them, for `hostvars`.
#[derive(Default)]
struct SharedVars {
    layers: RwLock<IndexMap<String, Vec<Arc<VarMap>>>>,
}

impl HostVarsSource for SharedVars {
    fn host_names(&self) -> Vec<String> {
        self.layers
            .read()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn host_layers(&self, host: &str) -> Option<Vec<Arc<VarMap>>> {
        self.layers.read().ok()?.get(host).cloned()
    }
}

/// Keywords inherited from the blocks and roles around a task.
#[derive(Clone, Default)]
pub struct Inherited {
    pub when: Vec<Node>,
    pub tags: Vec<String>,
    pub vars: Vec<Arc<VarMap>>,
    pub common: Common,
    pub role: Option<Arc<Role>>,
    /// `include_tasks`/`include_role` parameters, per host.
    pub params: HashMap<String, Arc<VarMap>>,
    /// The dynamic includes these tasks run inside, outermost first, as `included:` shows
    /// them: bounded by [`MAX_INCLUDE_DEPTH`].
    pub includes: Vec<String>,
}

/// How deep dynamic includes may nest. An include that includes itself is legitimate
/// while a condition ends it, so this is a depth, not a cycle check; far deeper than any
/// real playbook, and shallow enough that the nested runs cannot exhaust the stack.
pub const MAX_INCLUDE_DEPTH: usize = 40;

impl Inherited {
    fn enter(&self, task: &Task) -> Inherited {
        let mut next = self.clone();
        next.when.extend(task.common.when.iter().cloned());
        next.tags.extend(task.common.tags.iter().cloned());
        if !task.common.vars.is_empty() {
            next.vars.push(Arc::new(
                task.common
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ));
        }
        merge_common(&mut next.common, &task.common);
        if task.role.is_some() {
            next.role = task.role.clone();
        }
        next
    }
}

fn merge_common(into: &mut Common, from: &Common) {
    // Environments and module defaults merge from the play down to the task; the other
    // keywords replace.
    let stack = |outer: &Option<Node>, inner: &Option<Node>| match (outer, inner) {
        (Some(outer), Some(inner)) => Some(Node::new(
            NodeValue::Seq(vec![outer.clone(), inner.clone()]),
            inner.span.clone(),
        )),
        (outer, inner) => inner.clone().or_else(|| outer.clone()),
    };
    let environment = stack(&into.environment, &from.environment);
    let module_defaults = stack(&into.module_defaults, &from.module_defaults);
    macro_rules! take {
        ($($field:ident),*) => {
            $(if from.$field.is_some() { into.$field = from.$field.clone(); })*
        };
    }
    take!(
        become_,
        become_user,
        become_method,
        become_flags,
        ignore_errors,
        ignore_unreachable,
        no_log,
        check_mode,
        diff,
        run_once,
        delegate_to,
        delegate_facts,
        any_errors_fatal,
        throttle,
        timeout,
        connection,
        remote_user
    );
    into.environment = environment;
    into.module_defaults = module_defaults;
}

/// Per-play settings every task of the play needs.
#[derive(Clone)]
pub struct PlayContext {
    pub play_vars: Arc<VarMap>,
    /// Per host, when `vars_files` names depend on host variables.
    pub host_play_vars: HashMap<String, Arc<VarMap>>,
    /// Defaults and vars of every role in the play: Ansible lets them leak to the whole
    /// play (unless `private_role_vars`), defaults below the inventory, vars above the play.
    pub roles_defaults: Arc<VarMap>,
    pub roles_vars: Arc<VarMap>,
    pub play_magic: Arc<VarMap>,
    pub handlers: Vec<Task>,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub batch: Vec<String>,
    /// Every host of the play (all batches).
    pub all_hosts: Vec<String>,
    /// Hosts of the batch that had already failed in an earlier play.
    pub failed_before: Vec<String>,
    pub force_handlers: bool,
    pub dir: PathBuf,
    pub play_common: Common,
    /// Set by `meta: end_play` or by `any_errors_fatal`.
    pub ended: bool,
    /// `meta: end_play`: the batches still to come do not run either.
    pub play_ended: bool,
    /// Once `--start-at-task` has matched.
    pub started: bool,
}

impl Executor {
    pub fn new(inventory: Inventory, options: Options, sink: Box<dyn Sink>) -> Executor {
        let templar = Arc::new(Templar::new());
        let extra_vars = Arc::new(options.extra_vars.clone());
        let shared_sink = SharedSink::new(sink);
        let mut executor = Executor {
            templar,
            inventory,
            started: options.start_at_task.is_none(),
            options,
            sink: Box::new(shared_sink.clone()),
            shared_sink,
            hosts: IndexMap::new(),
            extra_vars,
            shared: Arc::new(SharedVars::default()),
            interrupt: Interrupt::new(),
            groups_changed: false,
            aborted: false,
            unlisted_hosts: Default::default(),
        };
        executor.refresh_hosts();
        executor
    }

    /// The run's interruption: triggered by Ctrl-C, it stops scheduling new tasks and
    /// stops the commands running on the hosts.
    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// Creates state for inventory hosts not seen yet (hosts added by `add_host` too).
    fn refresh_hosts(&mut self) {
        let names = self.inventory.hosts();
        self.ensure_hosts(&names);
    }

    /// Creates state for the given hosts when missing (the implicit localhost included).
    fn ensure_hosts(&mut self, names: &[String]) {
        for name in names.iter() {
            if self.hosts.contains_key(name) {
                continue;
            }
            let vars = Arc::new(self.inventory.host_vars(name));
            let connection = Arc::new(HostConnection::new(name, self.connection_options()));
            self.hosts.insert(
                name.clone(),
                HostState {
                    name: name.clone(),
                    inventory_vars: vars,
                    facts: Arc::new(VarMap::new()),
                    runtime_vars: Arc::new(VarMap::new()),
                    connection,
                    failed: false,
                    unreachable: false,
                    ended: false,
                    notified: Vec::new(),
                    stats: Stats::default(),
                    last_failure: None,
                    errors_cleared: None,
                },
            );
        }
    }

    /// The command line's connection settings, for every host's connection.
    fn connection_options(&self) -> crate::transport::ConnectionOptions {
        crate::transport::ConnectionOptions {
            connection: self.options.connection.clone(),
            remote_user: self.options.remote_user.clone(),
            interrupt: self.interrupt.clone(),
            ..self.options.ssh.clone()
        }
    }

    /// Runs every play of a playbook; returns the exit code.
    pub async fn run_playbook(&mut self, playbook: &Playbook) -> Result<i32> {
        self.sink
            .playbook_start(&crate::source::display_path(&playbook.path));
        let mut touched: Vec<String> = Vec::new();
        for play in &playbook.plays {
            if self.interrupt.is_triggered() || self.aborted {
                break;
            }
            if let Some(import) = &play.kubespray {
                let code = self.run_kubespray(play, import).await?;
                if code != 0 {
                    // Kubespray printed its own recap; ours covers the plays before it.
                    let ours = self.finish(&touched);
                    return Ok(if ours != 0 { ours } else { code });
                }
                continue;
            }
            let hosts = self.run_play(play).await?;
            for host in hosts {
                if !touched.contains(&host) {
                    touched.push(host);
                }
            }
        }
        Ok(self.finish(&touched))
    }

    /// Hands the inventory to Kubespray for an `import_playbook` of one of its playbooks,
    /// with the run's `-e`, `--check`, `--diff`, `--limit`, `-u`, `-c`, `--private-key` and `-v` passed
    /// on; returns `ansible-playbook`'s exit status.
    async fn run_kubespray(
        &mut self,
        play: &Play,
        import: &crate::playbook::KubesprayImport,
    ) -> Result<i32> {
        self.sink.play_start(&play.display_name());
        let mut request = crate::kubespray::Request::new(import.target.clone());
        request.kubespray_dir = import.kubespray_dir.clone();
        request.extra_vars = self.options.extra_vars.clone();
        let options = &self.options;
        let mut args: Vec<String> = Vec::new();
        if options.check {
            args.push("--check".into());
        }
        if options.diff {
            args.push("--diff".into());
        }
        if let Some(limit) = &options.limit {
            args.extend(["--limit".into(), limit.clone()]);
        }
        if let Some(user) = &options.remote_user {
            args.extend(["--user".into(), user.clone()]);
        }
        if let Some(connection) = &options.connection {
            args.extend(["--connection".into(), connection.clone()]);
        }
        if let Some(key) = &options.ssh.private_key {
            args.extend(["--private-key".into(), key.clone()]);
        }
        if options.verbosity > 0 {
            args.push(format!("-{}", "v".repeat(options.verbosity.into())));
        }
        request.extra_args = args;
        request.stdout_to_stderr = options.stdout_is_data;
        let inventory = self.inventory.clone();
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // ansible-playbook blocks until Kubespray is done: off the runtime's threads.
        tokio::task::spawn_blocking(move || crate::kubespray::run(&inventory, &request))
            .await
            .map_err(|e| Diagnostic::new(format!("the Kubespray run stopped: {e}")))?
    }

    /// Prints the recap for the hosts that took part and returns the exit code.
    pub fn finish(&mut self, touched: &[String]) -> i32 {
        let stats: IndexMap<String, Stats> = touched
            .iter()
            .filter_map(|h| self.hosts.get(h).map(|s| (h.clone(), s.stats.clone())))
            .collect();
        self.sink.recap(&stats);
        if self.interrupt.is_triggered() {
            return EXIT_INTERRUPTED;
        }
        // What counts for the exit code: the recap, less what `clear_host_errors` forgave.
        let counted: Vec<(u32, u32)> = touched
            .iter()
            .filter_map(|h| self.hosts.get(h))
            .map(|state| {
                let (failed, unreachable) = state.errors_cleared.unwrap_or((0, 0));
                (
                    state.stats.failed.saturating_sub(failed),
                    state.stats.unreachable.saturating_sub(unreachable),
                )
            })
            .collect();
        let mut code = 0;
        if counted.iter().any(|(failed, _)| *failed > 0) {
            code |= EXIT_FAILED;
        }
        if counted.iter().any(|(_, unreachable)| *unreachable > 0) {
            code |= EXIT_UNREACHABLE;
        }
        code
    }

    /// The hosts a play's `hosts:` pattern selects, after `--limit`.
    pub fn play_hosts(&self, play: &Play) -> Result<Vec<String>> {
        let pattern = hosts_pattern(&play.hosts, &self.templar, &self.extra_vars)?;
        match &self.options.limit {
            Some(limit) => {
                let limit = crate::inventory::Limit::parse(limit)?;
                self.inventory.select_limited(&pattern, &limit)
            }
            None => self.inventory.select(&pattern),
        }
    }

    async fn run_play(&mut self, play: &Play) -> Result<Vec<String>> {
        self.refresh_hosts();
        let mut scope_for_name = self.base_scope(None);
        let name_span = play
            .name
            .as_ref()
            .map(|n| n.span.clone())
            .unwrap_or(play.span.clone());
        let name = self
            .templar
            .render_text(&play.display_name(), &scope_for_name, &name_span)
            .unwrap_or_else(|_| play.display_name());
        self.sink.play_start(&name);
        // Hosts that failed in an earlier play stay listed in `ansible_play_hosts_all` but
        // run nothing: their failed state carries over.
        let all_hosts = self.play_hosts(play)?;
        self.ensure_hosts(&all_hosts);
        if all_hosts.is_empty() {
            self.sink.no_hosts_matched();
            return Ok(Vec::new());
        }
        for host in &all_hosts {
            if let Some(state) = self.hosts.get_mut(host) {
                // A host that failed in an earlier play stays out (Ansible keeps it
                // failed), unless `clear_host_errors` cleared it; end_play/end_host only
                // last for one play.
                let cleared = state.errors_cleared.is_some_and(|(failed, unreachable)| {
                    state.stats.failed == failed && state.stats.unreachable == unreachable
                });
                if cleared {
                    state.failed = false;
                    state.unreachable = false;
                }
                state.ended = false;
                state.notified.clear();
            }
        }
        let templated_files = play.vars_files.iter().any(Node::has_template);
        let play_vars =
            self.play_vars(play, all_hosts.first().map(String::as_str).unwrap_or(""))?;
        let mut host_play_vars = HashMap::new();
        if templated_files {
            for host in &all_hosts {
                host_play_vars.insert(host.clone(), self.play_vars(play, host)?);
            }
        }
        scope_for_name = self.base_scope(Some(&play_vars));
        let serial = serial_batches(
            play.serial.as_ref(),
            all_hosts.len(),
            &self.templar,
            &scope_for_name,
        )?;
        let max_fail_percentage = match &play.max_fail_percentage {
            Some(node) => Some(number(&node.to_value()).ok_or_else(|| {
                Diagnostic::at("`max_fail_percentage` must be a number", &node.span)
            })?),
            None => None,
        };
        let any_errors_fatal = play
            .common
            .any_errors_fatal
            .as_ref()
            .is_some_and(|n| crate::template::truthy(&n.to_value()));
        let mut start = 0;
        for size in serial {
            if start >= all_hosts.len() || self.interrupt.is_triggered() {
                break;
            }
            let end = (start + size).min(all_hosts.len());
            let batch: Vec<String> = all_hosts[start..end].to_vec();
            start = end;
            let mut roles_defaults = VarMap::new();
            let mut roles_vars = VarMap::new();
            for role in &play.roles {
                roles_defaults.extend(role.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
                roles_vars.extend(role.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let mut context = PlayContext {
                roles_defaults: Arc::new(roles_defaults),
                roles_vars: Arc::new(roles_vars),
                play_vars: play_vars.clone(),
                host_play_vars: host_play_vars.clone(),
                play_magic: Arc::new(self.play_magic(play, &all_hosts, &batch)),
                handlers: play.handlers.clone(),
                any_errors_fatal,
                max_fail_percentage,
                batch: batch.clone(),
                all_hosts: all_hosts.clone(),
                force_handlers: play
                    .force_handlers
                    .as_ref()
                    .is_some_and(|n| crate::template::truthy(&n.to_value())),
                failed_before: batch
                    .iter()
                    .filter(|h| {
                        self.hosts
                            .get(*h)
                            .is_some_and(|s| s.failed || s.unreachable)
                    })
                    .cloned()
                    .collect(),
                dir: play.dir.clone(),
                play_common: play.common.clone(),
                ended: false,
                play_ended: false,
                started: self.started,
            };
            let inherited = Inherited {
                when: play.common.when.clone(),
                tags: play.common.tags.clone(),
                vars: Vec::new(),
                common: play.common.clone(),
                role: None,
                params: HashMap::new(),
                includes: Vec::new(),
            };
            self.publish_layers(&context);
            if self.gathers_facts(play) {
                self.gather_facts(play, &mut context).await?;
            }
            let free = play
                .strategy
                .as_ref()
                .and_then(Node::as_str)
                .is_some_and(|s| s == "free");
            if free && batch.len() > 1 {
                self.run_free(play, &batch, &inherited, &context).await?;
            } else {
                self.run_sections(play, &batch, &inherited, &mut context)
                    .await?;
                self.started = context.started;
            }
            let failed_in_batch = batch
                .iter()
                .filter(|h| {
                    self.hosts
                        .get(*h)
                        .is_some_and(|s| s.failed || s.unreachable)
                })
                .count();
            if (failed_in_batch == batch.len() && !batch.is_empty()) || context.play_ended {
                break;
            }
        }
        Ok(all_hosts)
    }

    /// pre_tasks, roles and tasks, post_tasks, each followed by its handlers.
    async fn run_sections(
        &mut self,
        play: &Play,
        batch: &[String],
        inherited: &Inherited,
        context: &mut PlayContext,
    ) -> Result<()> {
        let sections = [
            &play.pre_tasks,
            &play.role_tasks,
            &play.tasks,
            &play.post_tasks,
        ];
        for (index, section) in sections.into_iter().enumerate() {
            if context.ended || self.interrupt.is_triggered() {
                break;
            }
            self.run_tasks(section, batch, inherited, context).await?;
            // Handlers run after pre_tasks, after roles+tasks, and after post_tasks.
            if index != 1 {
                self.flush_handlers(batch, context).await?;
            }
        }
        Ok(())
    }

    /// The `free` strategy: every host goes through the play at its own pace, so a slow
    /// host never holds the others back. Each host gets a runner of its own (its state
    /// moved in, the sink and `hostvars` shared) and the runners advance concurrently.
    async fn run_free(
        &mut self,
        play: &Play,
        batch: &[String],
        inherited: &Inherited,
        context: &PlayContext,
    ) -> Result<()> {
        let mut runners = Vec::new();
        for host in batch {
            let Some(state) = self.hosts.shift_remove(host) else {
                continue;
            };
            let mut hosts = IndexMap::new();
            hosts.insert(host.clone(), state);
            let runner = Executor {
                templar: self.templar.clone(),
                inventory: self.inventory.clone(),
                options: self.options.clone(),
                sink: Box::new(self.shared_sink.clone()),
                shared_sink: self.shared_sink.clone(),
                hosts,
                extra_vars: self.extra_vars.clone(),
                shared: self.shared.clone(),
                interrupt: self.interrupt.clone(),
                started: self.started,
                groups_changed: false,
                aborted: false,
                unlisted_hosts: self.unlisted_hosts.clone(),
            };
            let mut host_context = context.clone();
            host_context.batch = vec![host.clone()];
            runners.push((host.clone(), runner, host_context));
        }
        let results =
            futures::future::join_all(runners.iter_mut().map(|(host, runner, host_context)| {
                let hosts = std::slice::from_ref(host);
                runner.run_sections(play, hosts, inherited, host_context)
            }))
            .await;
        for (host, mut runner, _) in runners {
            if let Some(state) = runner.hosts.shift_remove(&host) {
                self.hosts.insert(host, state);
            }
            self.aborted |= runner.aborted;
        }
        results.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(())
    }

    fn gathers_facts(&self, play: &Play) -> bool {
        match &play.gather_facts {
            Some(node) => crate::template::truthy(&node.to_value()),
            None => self.options.gathering != Gathering::Explicit,
        }
    }

    async fn gather_facts(&mut self, play: &Play, context: &mut PlayContext) -> Result<()> {
        if self.interrupt.is_triggered() {
            return Ok(());
        }
        // Facts are always gathered unless the task tags exclude `always`.
        if self.options.skip_tags.iter().any(|t| t == "always") {
            return Ok(());
        }
        let mut args = Vec::new();
        if let Some(subset) = &play.gather_subset {
            args.push((
                Node::string("gather_subset", subset.span.clone()),
                subset.clone(),
            ));
        }
        let task = Task {
            name: Some(Node::string("Gathering Facts", play.span.clone())),
            kind: TaskKind::Action {
                module: "gather_facts".to_string(),
                written: "gather_facts".to_string(),
                module_span: play.span.clone(),
                args: Node::new(NodeValue::Map(args), play.span.clone()),
            },
            common: Common::default(),
            loop_: None,
            loop_control: Default::default(),
            register: None,
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            notify: Vec::new(),
            listen: Vec::new(),
            role: None,
            span: play.span.clone(),
        };
        let inherited = Inherited {
            tags: vec!["always".to_string()],
            common: play.common.clone(),
            ..Inherited::default()
        };
        let mut batch = context.batch.clone();
        if self.options.gathering == Gathering::Smart {
            // As Ansible asks: has `setup` (which sets `module_setup`) run for the host?
            batch.retain(|host| {
                self.hosts
                    .get(host)
                    .is_none_or(|state| !state.facts.contains_key("ansible_module_setup"))
            });
            if batch.is_empty() {
                return Ok(());
            }
        }
        let was_started = context.started;
        context.started = true;
        self.run_action_task(&task, &batch, &inherited, context, false)
            .await?;
        context.started = was_started;
        Ok(())
    }

    /// Scope without host: for play names and `hosts:` patterns.
    fn base_scope(&self, play_vars: Option<&Arc<VarMap>>) -> Scope {
        let mut layers = Vec::new();
        if let Some(vars) = play_vars {
            layers.push(vars.clone());
        }
        layers.push(self.extra_vars.clone());
        Scope::new(layers, self.templar.clone(), None)
    }

    /// Play vars and vars_files as one host sees them (vars_files names may use the
    /// host's variables, so each host can load different files).
    fn play_vars(&self, play: &Play, host: &str) -> Result<Arc<VarMap>> {
        let hosts = [host.to_string()];
        let mut vars: VarMap = play
            .common
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect();
        // vars_files names may be templates over play vars and extra vars; a list entry
        // means "the first of these that exists".
        for entry in &play.vars_files {
            let mut layers = vec![Arc::new(vars.clone())];
            if let Some(first) = hosts.first().and_then(|h| self.hosts.get(h)) {
                layers.insert(0, first.inventory_vars.clone());
            }
            layers.push(self.extra_vars.clone());
            let scope = Scope::new(layers, self.templar.clone(), None);
            let candidates: Vec<&Node> = match &entry.value {
                NodeValue::Seq(items) => items.iter().collect(),
                _ => vec![entry],
            };
            let mut loaded = false;
            let mut tried = Vec::new();
            for candidate in &candidates {
                let name = candidate.as_str().ok_or_else(|| {
                    Diagnostic::at("`vars_files` entries must be file names", &candidate.span)
                })?;
                let name = self.templar.render_text(name, &scope, &candidate.span)?;
                let path = play.dir.join(&name);
                if path.exists() {
                    vars.extend(crate::playbook::role::load_vars_path(&path)?);
                    loaded = true;
                    break;
                }
                tried.push(name);
            }
            if !loaded {
                return Err(Diagnostic::at(
                    format!("vars file `{}` was not found", tried.join("`, `")),
                    &entry.span,
                ));
            }
        }
        Ok(Arc::new(vars))
    }

    fn play_magic(&self, play: &Play, all_hosts: &[String], batch: &[String]) -> VarMap {
        let mut magic = VarMap::new();
        let groups: IndexMap<String, Vec<String>> = self.inventory.groups();
        magic.insert("groups".to_string(), value::serialize(&groups));
        let active: Vec<&String> = all_hosts.iter().collect();
        magic.insert(
            "ansible_play_hosts_all".to_string(),
            value::serialize(&active),
        );
        magic.insert("ansible_play_hosts".to_string(), value::serialize(&active));
        magic.insert("play_hosts".to_string(), value::serialize(&batch));
        magic.insert("ansible_play_batch".to_string(), value::serialize(&batch));
        magic.insert(
            "ansible_play_name".to_string(),
            Value::from(play.display_name()),
        );
        magic.insert(
            "playbook_dir".to_string(),
            Value::from(play.dir.display().to_string()),
        );
        magic.insert(
            "ansible_check_mode".to_string(),
            Value::from(self.options.check),
        );
        magic.insert(
            "ansible_diff_mode".to_string(),
            Value::from(self.options.diff),
        );
        magic.insert("ansible_forks".to_string(), Value::from(self.options.forks));
        magic.insert(
            "ansible_verbosity".to_string(),
            Value::from(self.options.verbosity),
        );
        magic.insert(
            "ansible_run_tags".to_string(),
            value::serialize(&if self.options.tags.is_empty() {
                vec!["all".to_string()]
            } else {
                self.options.tags.clone()
            }),
        );
        magic.insert(
            "ansible_skip_tags".to_string(),
            value::serialize(&self.options.skip_tags),
        );
        magic.insert("role_names".to_string(), value::serialize(&play.role_names));
        magic.insert(
            "ansible_play_role_names".to_string(),
            value::serialize(&play.role_names),
        );
        magic.insert("omit".to_string(), crate::template::omit());
        magic.insert(
            "ansible_version".to_string(),
            value::serialize(&serde_json::json!({
                "full": "2.19.0", "major": 2, "minor": 19, "revision": 0, "string": "2.19.0 (rplay)"
            })),
        );
        magic.insert("ansible_config_file".to_string(), Value::from(()));
        if let Some(limit) = &self.options.limit {
            magic.insert("ansible_limit".to_string(), Value::from(limit.as_str()));
        }
        magic
    }

    /// Host-specific magic variables.
    fn host_magic(&self, host: &str) -> VarMap {
        let mut magic = VarMap::new();
        magic.insert("inventory_hostname".to_string(), Value::from(host));
        magic.insert(
            "inventory_hostname_short".to_string(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        magic.insert(
            "group_names".to_string(),
            value::serialize(&self.inventory.group_names(host)),
        );
        magic
    }

    /// The layers for `hostvars[host]`: what any task of this play would see, minus the
    /// task's own variables.
    fn host_layers(&self, host: &HostState, context: &PlayContext) -> Vec<Arc<VarMap>> {
        // As in Ansible, `hostvars` holds inventory variables, facts and what tasks set,
        // not the play's `vars`.
        vec![
            host.inventory_vars.clone(),
            host.facts.clone(),
            host.runtime_vars.clone(),
            context.play_magic.clone(),
            Arc::new(self.host_magic(&host.name)),
            self.extra_vars.clone(),
        ]
    }

    /// `ansible_play_hosts` and `play_hosts` list the hosts still in the play.
    fn refresh_play_hosts(&mut self, context: &mut PlayContext) {
        let active: Vec<&String> = context
            .all_hosts
            .iter()
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .is_some_and(|s| !s.failed && !s.unreachable)
            })
            .collect();
        let batch: Vec<&String> = context
            .batch
            .iter()
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .is_some_and(|s| !s.failed && !s.unreachable)
            })
            .collect();
        let mut magic = (*context.play_magic).clone();
        magic.insert("ansible_play_hosts".to_string(), value::serialize(&active));
        magic.insert("play_hosts".to_string(), value::serialize(&batch));
        magic.insert("ansible_play_batch".to_string(), value::serialize(&batch));
        if self.groups_changed {
            magic.insert(
                "groups".to_string(),
                value::serialize(&self.inventory.groups()),
            );
            self.groups_changed = false;
        }
        context.play_magic = Arc::new(magic);
    }

    fn publish_layers(&self, context: &PlayContext) {
        if let Ok(mut layers) = self.shared.layers.write() {
            for (name, state) in &self.hosts {
                layers.insert(name.clone(), self.host_layers(state, context));
            }
        }
    }

    /// The full scope for one task on one host, in Ansible's precedence order.
    fn task_scope(
        &self,
        host: &HostState,
        task: &Task,
        inherited: &Inherited,
        context: &PlayContext,
    ) -> Scope {
        let role = task.role.as_ref().or(inherited.role.as_ref());
        let mut layers: Vec<Arc<VarMap>> = Vec::with_capacity(18);
        layers.push(context.roles_defaults.clone());
        if let Some(role) = role {
            layers.push(role.defaults.clone());
        }
        layers.push(host.inventory_vars.clone());
        layers.push(host.facts.clone());
        layers.push(
            context
                .host_play_vars
                .get(&host.name)
                .unwrap_or(&context.play_vars)
                .clone(),
        );
        layers.push(context.roles_vars.clone());
        if let Some(role) = role {
            layers.push(role.vars.clone());
        }
        layers.extend(inherited.vars.iter().cloned());
        if !task.common.vars.is_empty() && !matches!(task.kind, TaskKind::Block { .. }) {
            layers.push(Arc::new(
                task.common
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ));
        }
        layers.push(host.runtime_vars.clone());
        if let Some(role) = role {
            layers.push(role.params.clone());
        }
        if let Some(params) = inherited.params.get(&host.name) {
            layers.push(params.clone());
        }
        layers.push(context.play_magic.clone());
        let mut magic = self.host_magic(&host.name);
        if let Some(role) = role {
            magic.insert(
                "role_path".to_string(),
                Value::from(role.path.display().to_string()),
            );
            magic.insert("role_name".to_string(), Value::from(role.name.as_str()));
            let mut role_names: Vec<String> = context
                .play_magic
                .get("role_names")
                .and_then(|v| v.try_iter().ok())
                .map(|names| names.map(|n| n.to_string()).collect())
                .unwrap_or_default();
            if !role_names.contains(&role.name) {
                role_names.push(role.name.clone());
            }
            magic.insert(
                "ansible_role_names".to_string(),
                value::serialize(&role_names),
            );
            magic.insert(
                "ansible_role_name".to_string(),
                Value::from(role.name.as_str()),
            );
        }
        layers.push(Arc::new(magic));
        layers.push(self.extra_vars.clone());
        let hostvars: Arc<dyn HostVarsSource> = self.shared.clone();
        Scope::new(layers, self.templar.clone(), Some(hostvars))
    }

    /// Runs a task list on the given hosts, in step (the linear strategy).
    fn run_tasks<'a>(
        &'a mut self,
        tasks: &'a [Task],
        hosts: &'a [String],
        inherited: &'a Inherited,
        context: &'a mut PlayContext,
    ) -> futures::future::LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for task in tasks {
                if context.ended || self.interrupt.is_triggered() {
                    return Ok(());
                }
                let active: Vec<String> = hosts
                    .iter()
                    .filter(|h| self.hosts.get(*h).is_some_and(HostState::active))
                    .cloned()
                    .collect();
                if active.is_empty() {
                    return Ok(());
                }
                match &task.kind {
                    TaskKind::Block {
                        block,
                        rescue,
                        always,
                    } => {
                        self.run_block(task, block, rescue, always, &active, inherited, context)
                            .await?;
                    }
                    TaskKind::IncludeTasks { .. } | TaskKind::IncludeRole { .. } => {
                        self.run_include(task, &active, inherited, context).await?;
                    }
                    TaskKind::Meta { action } => {
                        self.run_meta(task, action, &active, inherited, context)
                            .await?;
                    }
                    TaskKind::Action { .. } => {
                        self.run_action_task(task, &active, inherited, context, false)
                            .await?;
                    }
                }
                self.check_failure_limits(hosts, context);
            }
            Ok(())
        })
    }

    /// `any_errors_fatal` and `max_fail_percentage` end the play for everyone.
    fn check_failure_limits(&mut self, hosts: &[String], context: &mut PlayContext) {
        // Hosts that failed in an earlier play do not count in this one.
        let batch: Vec<&String> = context
            .batch
            .iter()
            .filter(|h| !context.failed_before.contains(*h))
            .collect();
        let failed = batch
            .iter()
            .filter(|h| {
                self.hosts
                    .get(h.as_str())
                    .is_some_and(|s| s.failed || s.unreachable)
            })
            .count();
        if failed == 0 {
            return;
        }
        let over_limit = context
            .max_fail_percentage
            .is_some_and(|limit| (failed as f64) * 100.0 / (batch.len() as f64) > limit);
        if context.any_errors_fatal || over_limit {
            // The play stops for every host, and so does the rest of the playbook.
            context.ended = true;
            self.aborted = true;
            let _ = hosts;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_block(
        &mut self,
        task: &Task,
        block: &[Task],
        rescue: &[Task],
        always: &[Task],
        hosts: &[String],
        inherited: &Inherited,
        context: &mut PlayContext,
    ) -> Result<()> {
        let inner = inherited.enter(task);
        let failed_before: Vec<String> = hosts
            .iter()
            .filter(|h| self.hosts.get(*h).is_some_and(|s| s.failed))
            .cloned()
            .collect();
        self.run_tasks(block, hosts, &inner, context).await?;
        let failed_in_block: Vec<String> = hosts
            .iter()
            .filter(|h| !failed_before.contains(h))
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .is_some_and(|s| s.failed && !s.unreachable)
            })
            .cloned()
            .collect();
        for host in &failed_in_block {
            if let Some(state) = self.hosts.get_mut(host) {
                if let Some((failed_task, failed_result)) = state.last_failure.clone() {
                    state.set_runtime("ansible_failed_task", value::from_json(&failed_task));
                    state.set_runtime("ansible_failed_result", value::from_json(&failed_result));
                }
            }
        }
        if !rescue.is_empty() && !failed_in_block.is_empty() {
            for host in &failed_in_block {
                if let Some(state) = self.hosts.get_mut(host) {
                    // A failure that reaches a rescue counts as rescued, not failed, in
                    // the recap (even when the rescue then fails on its own).
                    state.failed = false;
                    state.stats.failed = state.stats.failed.saturating_sub(1);
                    state.stats.rescued += 1;
                }
            }
            self.publish_layers(context);
            self.run_tasks(rescue, &failed_in_block, &inner, context)
                .await?;
        }
        if !always.is_empty() {
            // `always` runs even on hosts that failed in the block (but not unreachable).
            let mut revived = Vec::new();
            for host in hosts {
                if let Some(state) = self.hosts.get_mut(host) {
                    if state.failed && !state.unreachable && !failed_before.contains(host) {
                        state.failed = false;
                        revived.push(host.clone());
                    }
                }
            }
            let ended = context.ended;
            context.ended = false;
            self.run_tasks(always, hosts, &inner, context).await?;
            context.ended = context.ended || ended;
            for host in revived {
                if let Some(state) = self.hosts.get_mut(&host) {
                    state.failed = true;
                }
            }
        }
        Ok(())
    }

    async fn run_meta(
        &mut self,
        task: &Task,
        action: &str,
        hosts: &[String],
        inherited: &Inherited,
        context: &mut PlayContext,
    ) -> Result<()> {
        // A meta task that acts per host (end_host, reset_connection) tests its `when` on
        // every host; the others act on the whole play once, and test it on the first
        // active host only, as Ansible's linear strategy does.
        let per_host = matches!(
            action,
            "noop" | "reset_connection" | "end_host" | "role_complete" | "flush_handlers"
        );
        let mut selected = Vec::new();
        let inner = inherited.enter(task);
        for host in hosts {
            let state = &self.hosts[host];
            let scope = self.task_scope(state, task, inherited, context);
            if task::conditions_hold(&self.templar, &inner.when, &scope)? {
                selected.push(host.clone());
            }
            if !per_host {
                break;
            }
        }
        let play_hosts: Vec<String> = if selected.is_empty() {
            Vec::new()
        } else {
            context.all_hosts.clone()
        };
        match action {
            "flush_handlers" => self.flush_handlers(&context.batch.clone(), context).await?,
            "end_play" if !selected.is_empty() => {
                // Every batch of the play, not only this one.
                context.ended = true;
                context.play_ended = true;
            }
            "end_host" => {
                for host in &selected {
                    if let Some(state) = self.hosts.get_mut(host) {
                        state.ended = true;
                    }
                }
            }
            "end_batch" if !selected.is_empty() => {
                context.ended = true;
            }
            "clear_facts" => {
                for host in &play_hosts {
                    if let Some(state) = self.hosts.get_mut(host) {
                        state.facts = Arc::new(VarMap::new());
                    }
                }
            }
            "clear_host_errors" => {
                // Failed and unreachable hosts stay out of this play and come back for
                // the next ones; what they counted so far no longer fails the run.
                for host in &play_hosts {
                    if let Some(state) = self.hosts.get_mut(host) {
                        if state.failed || state.unreachable {
                            state.errors_cleared =
                                Some((state.stats.failed, state.stats.unreachable));
                        }
                    }
                }
            }
            "reset_connection" => {
                for host in &selected {
                    if let Some(state) = self.hosts.get(host) {
                        state.connection.reset();
                    }
                }
            }
            // `refresh_inventory` re-reads inventory sources that are scripts or plugins;
            // rplay's are files read once, so there is nothing new to read. `noop` and
            // `role_complete` do nothing by definition.
            _ => {}
        }
        self.publish_layers(context);
        Ok(())
    }

    async fn flush_handlers(&mut self, hosts: &[String], context: &mut PlayContext) -> Result<()> {
        if self.interrupt.is_triggered() {
            return Ok(());
        }
        let handlers = context.handlers.clone();
        for (index, handler) in handlers.iter().enumerate() {
            let names = handler_names(handler, &self.templar);
            // Of several handlers with the same name, only the last one defined runs.
            let own_name = handler.name.as_ref().and_then(Node::as_str);
            let shadowed = own_name.is_some()
                && handlers[index + 1..]
                    .iter()
                    .any(|later| later.name.as_ref().and_then(Node::as_str) == own_name);
            if shadowed {
                continue;
            }
            let notified: Vec<String> = hosts
                .iter()
                .filter(|h| {
                    self.hosts.get(*h).is_some_and(|s| {
                        // `force_handlers` runs them on hosts that failed since.
                        let eligible =
                            s.active() || (context.force_handlers && s.failed && !s.unreachable);
                        eligible && s.notified.iter().any(|n| names.contains(n))
                    })
                })
                .cloned()
                .collect();
            if notified.is_empty() {
                continue;
            }
            let inherited = Inherited {
                common: context.play_common.clone(),
                role: handler.role.clone(),
                ..Inherited::default()
            };
            // A handler runs once per flush, however often it was notified.
            for host in &notified {
                if let Some(state) = self.hosts.get_mut(host) {
                    state.notified.retain(|n| !names.contains(n));
                }
            }
            let was_started = context.started;
            context.started = true;
            match &handler.kind {
                TaskKind::Action { .. } => {
                    self.run_action_task(handler, &notified, &inherited, context, true)
                        .await?;
                }
                _ => {
                    self.run_tasks(
                        std::slice::from_ref(handler),
                        &notified,
                        &inherited,
                        context,
                    )
                    .await?;
                }
            }
            context.started = was_started;
        }
        for host in hosts {
            if let Some(state) = self.hosts.get_mut(host) {
                state.notified.clear();
            }
        }
        Ok(())
    }

    /// Whether the task's tags select it.
    fn tags_allow(&self, tags: &[String]) -> bool {
        let has = |name: &str| tags.iter().any(|t| t == name);
        if !self.options.skip_tags.is_empty() {
            let skip = &self.options.skip_tags;
            if skip.iter().any(|s| s == "all") && !has("always") {
                return false;
            }
            if tags.iter().any(|t| skip.contains(t)) {
                return false;
            }
            if skip.iter().any(|s| s == "tagged") && !tags.is_empty() && !has("always") {
                return false;
            }
            if skip.iter().any(|s| s == "untagged") && tags.is_empty() {
                return false;
            }
        }
        let wanted = &self.options.tags;
        if wanted.is_empty() || wanted.iter().any(|t| t == "all") {
            return !has("never") || wanted.iter().any(|w| tags.contains(w));
        }
        if has("always") && !self.options.skip_tags.iter().any(|s| s == "always") {
            return true;
        }
        if tags.iter().any(|t| wanted.contains(t)) {
            return true;
        }
        if wanted.iter().any(|w| w == "tagged") && !tags.is_empty() && !has("never") {
            return true;
        }
        if wanted.iter().any(|w| w == "untagged") && tags.is_empty() {
            return true;
        }
        false
    }

    /// Runs a module or engine action on every given host, in parallel up to `--forks`.
    async fn run_action_task(
        &mut self,
        task: &Task,
        hosts: &[String],
        inherited: &Inherited,
        context: &mut PlayContext,
        is_handler: bool,
    ) -> Result<()> {
        let inner_tags: Vec<String> = inherited
            .tags
            .iter()
            .chain(task.common.tags.iter())
            .cloned()
            .collect();
        if !is_handler && !self.tags_allow(&inner_tags) {
            return Ok(());
        }
        if !context.started {
            let name = task.display_name();
            let wanted = self.options.start_at_task.clone().unwrap_or_default();
            if name == wanted || glob_match(&wanted, &name) {
                context.started = true;
            } else {
                return Ok(());
            }
        }
        let mut common = inherited.common.clone();
        merge_common(&mut common, &task.common);
        let when: Vec<Node> = inherited
            .when
            .iter()
            .chain(task.common.when.iter())
            .cloned()
            .collect();
        let first_scope = hosts
            .first()
            .and_then(|h| self.hosts.get(h))
            .map(|state| self.task_scope(state, task, inherited, context));
        let display = match (&task.name, &first_scope) {
            (Some(name), Some(scope)) => {
                let text = name.as_str().unwrap_or_default();
                self.templar
                    .render_text(text, scope, &name.span)
                    .unwrap_or_else(|_| text.to_string())
            }
            _ => task.display_name(),
        };
        let display = match task.role.as_ref().or(inherited.role.as_ref()) {
            Some(role) if !is_handler || task.name.is_some() => {
                format!("{} : {}", role.name, display)
            }
            _ => display,
        };
        if self.options.step && !step_confirm(&display) {
            return Ok(());
        }
        self.refresh_play_hosts(context);
        self.sink.task_start(&display, is_handler);

        let run_once = common
            .run_once
            .as_ref()
            .is_some_and(|n| crate::template::truthy(&n.to_value()));
        let targets: Vec<String> = if run_once {
            hosts.iter().take(1).cloned().collect()
        } else {
            hosts.to_vec()
        };
        let throttle = common
            .throttle
            .as_ref()
            .and_then(|n| number(&n.to_value()))
            .map(|n| n as usize)
            .filter(|n| *n > 0);
        let forks = throttle
            .map_or(self.options.forks, |t| t.min(self.options.forks))
            .max(1);

        let context: &PlayContext = context;
        let delegates = |name: &str| self.delegate(name, task, inherited, context);
        let mut jobs = Vec::with_capacity(targets.len());
        for host in &targets {
            let state = &self.hosts[host];
            let scope = self.task_scope(state, task, inherited, context);
            jobs.push(TaskContext {
                host: host.clone(),
                task,
                common: common.clone(),
                when: when.clone(),
                scope,
                connection: state.connection.clone(),
                delegates: &delegates,
                check: self.options.check,
                diff: self.options.diff,
                templar: self.templar.clone(),
                dir: context.dir.clone(),
                local: Arc::new(rplay_modules::local::LocalTransport::new()),
                interrupt: self.interrupt.clone(),
                task_timeout: self.options.task_timeout,
                become_default: connection::BecomeDefaults {
                    enabled: self.options.become_,
                    user: self.options.become_user.clone(),
                    method: self.options.become_method.clone(),
                    password: self.options.become_password.clone(),
                },
            });
        }
        // Each host's run only reads; its effects come back in TaskOutput.
        // Hosts finish in any order; the live progress line counts them as they do, and
        // results are then reported in inventory order.
        let total = jobs.len();
        let mut progress = self.shared_sink.clone();
        let mut finished: Vec<(usize, TaskOutput)> = Vec::with_capacity(total);
        let mut running = futures::stream::iter(
            jobs.into_iter()
                .enumerate()
                .map(|(index, job)| async move { (index, job.run().await) }),
        )
        .buffer_unordered(forks);
        while let Some(done) = running.next().await {
            finished.push(done);
            progress.progress(&display, finished.len(), total);
        }
        drop(running);
        finished.sort_by_key(|(index, _)| *index);
        let outputs: Vec<TaskOutput> = finished.into_iter().map(|(_, output)| output).collect();

        for (host, output) in targets.iter().zip(outputs) {
            // A task cut short by Ctrl-C has no result to report or count.
            if output.interrupted {
                continue;
            }
            self.apply_output(host, task, &output, is_handler);
            if run_once {
                // run_once results count for every host of the batch.
                for other in hosts.iter().skip(1) {
                    if let Some(register) = &task.register {
                        if let Some(state) = self.hosts.get_mut(other) {
                            state.set_runtime(
                                register,
                                value::from_json(&serde_json::Value::Object(output.result.clone())),
                            );
                        }
                    }
                    if let Some(state) = self.hosts.get_mut(other) {
                        // With `delegate_facts`, the facts went to the delegate alone.
                        if output.delegate_facts_to.is_none() {
                            state.extend_runtime(output.set_facts.clone());
                        }
                        if output.status == Status::Changed {
                            state.notified.extend(output.notify.iter().cloned());
                        }
                    }
                }
            }
        }
        self.publish_layers(context);
        Ok(())
    }

    /// The host a task is delegated to, for its connection: an inventory host (by name,
    /// else by address, as Ansible matches `ansible_host`) with the variables it would
    /// have in this task, or a host of its own with the `all` group's variables.
    fn delegate(
        &self,
        name: &str,
        task: &Task,
        inherited: &Inherited,
        context: &PlayContext,
    ) -> Delegate {
        let listed = self.hosts.get(name).or_else(|| {
            self.hosts.values().find(|state| {
                state
                    .inventory_vars
                    .get("ansible_host")
                    .and_then(|v| v.as_str())
                    == Some(name)
            })
        });
        if let Some(state) = listed {
            return Delegate {
                name: state.name.clone(),
                scope: self.task_scope(state, task, inherited, context),
                connection: state.connection.clone(),
            };
        }
        let connection = self
            .unlisted_hosts
            .lock()
            .expect("unlisted hosts lock")
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(HostConnection::new(name, self.connection_options())))
            .clone();
        let layers = vec![
            Arc::new(self.inventory.group_vars_of("all")),
            context.play_vars.clone(),
            context.play_magic.clone(),
            Arc::new(self.host_magic(name)),
            self.extra_vars.clone(),
        ];
        let hostvars: Arc<dyn HostVarsSource> = self.shared.clone();
        Delegate {
            name: name.to_string(),
            scope: Scope::new(layers, self.templar.clone(), Some(hostvars)),
            connection,
        }
    }

    /// Records one host's result: report, stats, registered values, facts, handlers.
    fn apply_output(&mut self, host: &str, task: &Task, output: &TaskOutput, is_handler: bool) {
        let module = task.module().unwrap_or_default().to_string();
        for item in &output.items {
            self.sink.host_result(&HostResult {
                host,
                delegated_to: output.delegated_to.as_deref(),
                status: item.status,
                result: &item.result,
                // Ansible's label for an item it must not show.
                item_label: Some(if output.no_log {
                    "None".to_string()
                } else {
                    item.label.clone()
                }),
                ignored: false,
                no_log: output.no_log,
                diffs: &item.diffs,
                module: &module,
            });
        }
        if output.items.is_empty() || output.status == Status::Unreachable {
            self.sink.host_result(&HostResult {
                host,
                delegated_to: output.delegated_to.as_deref(),
                status: output.status,
                result: &output.result,
                item_label: None,
                ignored: output.ignored,
                no_log: output.no_log,
                diffs: &output.diffs,
                module: &module,
            });
        } else if output.ignored {
            self.sink.message("...ignoring");
        }
        for warning in &output.warnings {
            self.sink.warning(warning);
        }
        let Some(state) = self.hosts.get_mut(host) else {
            return;
        };
        let _ = is_handler;
        match output.status {
            Status::Ok => state.stats.ok += 1,
            Status::Changed => {
                state.stats.ok += 1;
                state.stats.changed += 1;
            }
            Status::Skipped => state.stats.skipped += 1,
            Status::Failed => {
                if output.ignored {
                    state.stats.ok += 1;
                    state.stats.ignored += 1;
                    if output.result.get("changed") == Some(&serde_json::Value::Bool(true)) {
                        state.stats.changed += 1;
                    }
                } else {
                    state.stats.failed += 1;
                    state.failed = true;
                    let name = task.name.as_ref().and_then(Node::as_str).unwrap_or(&module);
                    let action = match &task.kind {
                        TaskKind::Action { written, .. } => written.clone(),
                        _ => module.clone(),
                    };
                    state.last_failure = Some((
                        serde_json::json!({"name": name, "action": action}),
                        serde_json::Value::Object(output.result.clone()),
                    ));
                }
            }
            Status::Unreachable => {
                if output.ignored {
                    state.stats.ok += 1;
                    state.stats.ignored += 1;
                } else {
                    state.stats.unreachable += 1;
                    state.unreachable = true;
                }
            }
        }
        if let Some(register) = &task.register {
            state.set_runtime(
                register,
                value::from_json(&serde_json::Value::Object(output.result.clone())),
            );
        }
        // With `delegate_facts`, what the task sets belongs to the delegate.
        match output.delegate_facts_to.as_deref() {
            Some(other) if other != host => {
                let facts = output.set_facts.clone();
                if let Some(other_state) = self.hosts.get_mut(other) {
                    other_state.extend_runtime(facts);
                }
            }
            _ => state.extend_runtime(output.set_facts.clone()),
        }
        if let Some(facts) = &output.facts {
            let target = output.delegate_facts_to.clone();
            match target {
                Some(other) if other != host => {
                    if let Some(other_state) = self.hosts.get_mut(&other) {
                        other_state.add_facts(facts);
                    }
                }
                _ => {
                    if let Some(state) = self.hosts.get_mut(host) {
                        state.add_facts(facts);
                    }
                }
            }
        }
        let Some(state) = self.hosts.get_mut(host) else {
            return;
        };
        if output.status == Status::Changed {
            for name in &output.notify {
                if !state.notified.contains(name) {
                    state.notified.push(name.clone());
                }
            }
        }
        for (group, members, parents) in &output.add_to_groups {
            for member in members {
                if let Err(error) = self.inventory.add_host_to_group(member, group) {
                    self.sink.warning(&error.message);
                }
            }
            if !parents.is_empty() {
                let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
                if let Err(error) = self.inventory.add_group_with_parents(group, &parents) {
                    self.sink.warning(&error.message);
                }
            }
        }
        if !output.add_to_groups.is_empty() {
            self.groups_changed = true;
            self.refresh_hosts();
        }
    }

    /// `include_tasks` and `include_role`: resolved per host, then run for the hosts that
    /// included the same thing.
    async fn run_include(
        &mut self,
        task: &Task,
        hosts: &[String],
        inherited: &Inherited,
        context: &mut PlayContext,
    ) -> Result<()> {
        let tags: Vec<String> = inherited
            .tags
            .iter()
            .chain(task.common.tags.iter())
            .cloned()
            .collect();
        if !self.tags_allow(&tags) {
            return Ok(());
        }
        // A dynamic include's own `when` and `tags` are about the include alone; only
        // what `apply:` names reaches the included tasks, as in Ansible.
        let mut inner = inherited.clone();
        let apply = match &task.kind {
            TaskKind::IncludeTasks { args, .. } | TaskKind::IncludeRole { args } => {
                args.get("apply")
            }
            _ => None,
        };
        if let Some(apply) = apply {
            let entries = apply.as_map().ok_or_else(|| {
                Diagnostic::at("`apply` must be a mapping of task keywords", &apply.span)
            })?;
            let mut common = Common::default();
            crate::playbook::task::read_common(entries, &mut common)?;
            inner.when.extend(common.when.iter().cloned());
            inner.tags.extend(common.tags.iter().cloned());
            if !common.vars.is_empty() {
                inner.vars.push(Arc::new(
                    common
                        .vars
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_value()))
                        .collect(),
                ));
            }
            merge_common(&mut inner.common, &common);
        }
        // (host, included tasks, params) per host and loop item, in order.
        let mut plans: Vec<(String, Vec<IncludePlan>)> = Vec::new();
        let mut failures: Vec<(String, Diagnostic)> = Vec::new();
        for host in hosts {
            let state = &self.hosts[host];
            let scope = self.task_scope(state, task, inherited, context);
            match self.include_plans(task, inherited, &scope, context) {
                Ok(host_plans)
                    if !host_plans.is_empty() && inherited.includes.len() >= MAX_INCLUDE_DEPTH =>
                {
                    failures.push((host.clone(), too_deep(task, &inherited.includes)));
                }
                Ok(host_plans) => plans.push((host.clone(), host_plans)),
                Err(error) => failures.push((host.clone(), error)),
            }
        }
        let shown = plans.iter().any(|(_, p)| !p.is_empty()) || !failures.is_empty();
        if shown || !plans.is_empty() {
            self.sink.task_start(&task.display_name(), false);
        }
        // A host whose conditions left nothing to include reports the include skipped.
        for (host, host_plans) in &plans {
            if host_plans.is_empty() {
                let mut result = serde_json::Map::new();
                result.insert("changed".into(), serde_json::json!(false));
                result.insert("skipped".into(), serde_json::json!(true));
                let module = String::new();
                self.sink.host_result(&HostResult {
                    host,
                    delegated_to: None,
                    status: Status::Skipped,
                    result: &result,
                    item_label: None,
                    ignored: false,
                    no_log: false,
                    diffs: &[],
                    module: &module,
                });
                if let Some(state) = self.hosts.get_mut(host) {
                    state.stats.skipped += 1;
                }
            }
        }
        // Ansible reports each inclusion as an `ok` result of the include task.
        for (host, host_plans) in &plans {
            for plan in host_plans {
                let item = plan
                    .label
                    .as_ref()
                    .map(|label| format!(" => (item={label})"))
                    .unwrap_or_default();
                self.sink
                    .message(&format!("included: {} for {host}{item}", plan.shown));
                if let Some(state) = self.hosts.get_mut(host) {
                    state.stats.ok += 1;
                }
            }
        }
        for (host, error) in failures {
            let mut result = serde_json::Map::new();
            result.insert("changed".into(), serde_json::json!(false));
            result.insert("failed".into(), serde_json::json!(true));
            result.insert("msg".into(), serde_json::json!(error.render().trim_end()));
            let module = String::new();
            self.sink.host_result(&HostResult {
                host: &host,
                delegated_to: None,
                status: Status::Failed,
                result: &result,
                item_label: None,
                ignored: false,
                no_log: false,
                diffs: &[],
                module: &module,
            });
            if let Some(state) = self.hosts.get_mut(&host) {
                state.stats.failed += 1;
                state.failed = true;
            }
        }
        let rounds = plans.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
        for round in 0..rounds {
            // Hosts that included the same file in this round run it together.
            let mut groups: Vec<(IncludePlan, Vec<String>)> = Vec::new();
            for (host, host_plans) in &plans {
                let Some(plan) = host_plans.get(round) else {
                    continue;
                };
                match groups.iter_mut().find(|(p, _)| p.key == plan.key) {
                    Some((_, members)) => members.push(host.clone()),
                    None => groups.push((plan.clone(), vec![host.clone()])),
                }
            }
            for (plan, members) in groups {
                let mut scoped = inner.clone();
                for host in &members {
                    let host_plan = plans
                        .iter()
                        .find(|(h, _)| h == host)
                        .and_then(|(_, p)| p.get(round))
                        .map(|p| p.params.clone())
                        .unwrap_or_default();
                    scoped.params.insert(host.clone(), Arc::new(host_plan));
                }
                if let Some(role) = &plan.role {
                    scoped.role = Some(role.clone());
                }
                scoped.includes.push(plan.shown.clone());
                context.handlers.extend(plan.handlers.iter().cloned());
                if let (true, Some(role)) = (plan.public, &plan.role) {
                    let mut defaults = (*context.roles_defaults).clone();
                    defaults.extend(role.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
                    context.roles_defaults = Arc::new(defaults);
                    let mut vars = (*context.roles_vars).clone();
                    vars.extend(role.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
                    context.roles_vars = Arc::new(vars);
                }
                self.run_tasks(&plan.tasks, &members, &scoped, context)
                    .await?;
            }
        }
        Ok(())
    }

    /// What one host includes: one plan per loop item whose conditions hold.
    fn include_plans(
        &self,
        task: &Task,
        inherited: &Inherited,
        scope: &Scope,
        context: &PlayContext,
    ) -> Result<Vec<IncludePlan>> {
        let when: Vec<Node> = inherited
            .when
            .iter()
            .chain(task.common.when.iter())
            .cloned()
            .collect();
        let items: Vec<Option<Value>> = match &task.loop_ {
            Some(crate::playbook::Loop::Items { kind, value }) => {
                loops::items(kind, &value.to_value(), scope, &value.span)?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            None => vec![None],
        };
        let mut host_plans = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let mut layer = VarMap::new();
            if let Some(item) = &item {
                layer.insert(task.loop_control.loop_var.clone(), item.clone());
                if let Some(index_var) = &task.loop_control.index_var {
                    layer.insert(index_var.clone(), Value::from(index));
                }
            }
            let item_scope = scope.with_layer(layer.clone());
            if !task::conditions_hold(&self.templar, &when, &item_scope)? {
                continue;
            }
            let mut plan = self.resolve_include(task, &item_scope, layer, context)?;
            plan.label = item.as_ref().map(task::label_for);
            host_plans.push(plan);
        }
        Ok(host_plans)
    }

    fn resolve_include(
        &self,
        task: &Task,
        scope: &Scope,
        params_layer: VarMap,
        context: &PlayContext,
    ) -> Result<IncludePlan> {
        let role_context = crate::playbook::loader::Context {
            dir: task
                .span
                .file
                .as_ref()
                .and_then(|f| f.path.parent().map(|p| p.to_path_buf()))
                .unwrap_or_else(|| context.dir.clone()),
            role: task.role.clone(),
            playbook_dir: context.dir.clone(),
        };
        let mut loader = Loader::new(&context.dir);
        match &task.kind {
            TaskKind::IncludeTasks { file, args } => {
                let name = self.templar.render_text(
                    file.as_str().unwrap_or_default(),
                    scope,
                    &file.span,
                )?;
                let path = crate::playbook::loader::find_task_file(&name, &role_context)
                    .ok_or_else(|| {
                        Diagnostic::at(
                            format!("included task file `{name}` was not found"),
                            &file.span,
                        )
                    })?;
                let tasks = loader.task_file(&path, &role_context)?;
                refuse_unknown_modules(&loader)?;
                let mut params = params_layer;
                if let Some(entries) = args.as_map() {
                    for (key, value) in entries {
                        let key = key.key_text().unwrap_or_default();
                        if key == "file" || key == "_raw_params" || key == "apply" {
                            continue;
                        }
                        params.insert(
                            key,
                            self.templar
                                .render_deep(&value.to_value(), scope, &value.span)?,
                        );
                    }
                }
                for (key, value) in &task.common.vars {
                    params.insert(
                        key.clone(),
                        self.templar
                            .render_deep(&value.to_value(), scope, &value.span)?,
                    );
                }
                Ok(IncludePlan {
                    key: path.display().to_string(),
                    shown: path.display().to_string(),
                    label: None,
                    tasks,
                    params,
                    role: None,
                    handlers: Vec::new(),
                    public: false,
                })
            }
            TaskKind::IncludeRole { args } => {
                let rendered = self
                    .templar
                    .render_deep(&args.to_value(), scope, &args.span)?;
                let get = |key: &str| rendered.get_attr(key).ok().filter(|v| !v.is_undefined());
                let name = get("name").map(|v| v.to_string()).unwrap_or_default();
                let tasks_from = get("tasks_from")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "main".to_string());
                let mut params = params_layer;
                for (key, value) in &task.common.vars {
                    params.insert(
                        key.clone(),
                        self.templar
                            .render_deep(&value.to_value(), scope, &value.span)?,
                    );
                }
                let path = crate::playbook::role::find_role(&name, &loader.roles_path, &args.span)?;
                let entry = |key: &str| {
                    get(key)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "main".to_string())
                };
                let role = Arc::new(Role::load_from(
                    &name,
                    &path,
                    VarMap::new(),
                    &entry("defaults_from"),
                    &entry("vars_from"),
                )?);
                let public = get("public").is_some_and(|v| crate::template::truthy(&v));
                let inner_context = crate::playbook::loader::Context {
                    dir: role.tasks_dir(),
                    role: Some(role.clone()),
                    playbook_dir: context.dir.clone(),
                };
                let tasks = match role.entry_file("tasks", &tasks_from) {
                    Some(file) => loader.task_file(&file, &inner_context)?,
                    None if tasks_from != "main" => {
                        return Err(Diagnostic::at(
                            format!("role `{name}` has no tasks file `{tasks_from}`"),
                            &args.span,
                        ))
                    }
                    None => Vec::new(),
                };
                refuse_unknown_modules(&loader)?;
                let handlers = match role.entry_file("handlers", "main") {
                    Some(file) => loader.task_file(
                        &file,
                        &crate::playbook::loader::Context {
                            dir: role.path.join("handlers"),
                            ..inner_context.clone()
                        },
                    )?,
                    None => Vec::new(),
                };
                Ok(IncludePlan {
                    key: format!("{}:{tasks_from}", path.display()),
                    shown: name.clone(),
                    label: None,
                    tasks,
                    params,
                    role: Some(role),
                    handlers,
                    public,
                })
            }
            _ => Err(Diagnostic::at("not an include", &task.span)),
        }
    }
}

/// An included file that names a module that does not exist fails the include, as a
/// static one fails the load; modules of collections rplay lacks fail when they run.
fn refuse_unknown_modules(loader: &Loader) -> Result<()> {
    match loader.blocking_unknown_modules().into_iter().next() {
        Some(diagnostic) => Err(diagnostic),
        None => Ok(()),
    }
}

/// The error of an include nested [`MAX_INCLUDE_DEPTH`] deep: the chain, with a run of
/// the same file shown once with its count.
fn too_deep(task: &Task, includes: &[String]) -> Diagnostic {
    let mut chain: Vec<(String, usize)> = Vec::new();
    for shown in includes {
        let shown = crate::source::display_path(std::path::Path::new(shown));
        match chain.last_mut() {
            Some((last, count)) if *last == shown => *count += 1,
            _ => chain.push((shown, 1)),
        }
    }
    let chain: Vec<String> = chain
        .into_iter()
        .map(|(shown, count)| match count {
            1 => shown,
            _ => format!("{shown} ({count} times)"),
        })
        .collect();
    Diagnostic::at(
        format!(
            "includes nest more than {MAX_INCLUDE_DEPTH} deep: {}",
            chain.join(" -> ")
        ),
        &task.span,
    )
    .with_help("an include that includes itself needs a condition that ends it")
}

#[derive(Clone)]
struct IncludePlan {
    key: String,
    /// What `included:` shows: the file, or the role's name.
    shown: String,
    /// The loop item's label, when the include loops.
    label: Option<String>,
    /// `include_role` with `public: true`: the role's variables outlive it.
    public: bool,
    tasks: Vec<Task>,
    params: VarMap,
    role: Option<Arc<Role>>,
    handlers: Vec<Task>,
}

/// The names a handler answers to: its name (also as `role : name`) and its topics.
fn handler_names(handler: &Task, _templar: &Templar) -> Vec<String> {
    let mut names = handler.listen.clone();
    if let Some(name) = handler.name.as_ref().and_then(Node::as_str) {
        names.push(name.to_string());
        if let Some(role) = &handler.role {
            names.push(format!("{} : {}", role.name, name));
        }
    }
    names
}

fn hosts_pattern(node: &Node, templar: &Templar, extra_vars: &Arc<VarMap>) -> Result<String> {
    let scope = Scope::new(vec![extra_vars.clone()], Arc::new(Templar::new()), None);
    let _ = templar;
    let text = match &node.value {
        NodeValue::Seq(items) => items
            .iter()
            .filter_map(Node::key_text)
            .collect::<Vec<_>>()
            .join(":"),
        NodeValue::Null => {
            return Err(Diagnostic::at("`hosts` is empty", &node.span)
                .with_help("say which hosts the play runs on: `hosts: all`"))
        }
        _ => node.key_text().unwrap_or_default(),
    };
    scope.templar().render_text(&text, &scope, &node.span)
}

/// Batch sizes from `serial`: a number, a percentage, or a list of them (the last one
/// repeats).
fn serial_batches(
    node: Option<&Node>,
    total: usize,
    templar: &Templar,
    scope: &Scope,
) -> Result<Vec<usize>> {
    let Some(node) = node else {
        return Ok(vec![total.max(1)]);
    };
    let values: Vec<Value> = match &node.value {
        NodeValue::Seq(items) => items.iter().map(Node::to_value).collect(),
        _ => vec![node.to_value()],
    };
    let mut sizes = Vec::new();
    for value in values {
        let value = templar.render_deep(&value, scope, &node.span)?;
        let text = value.to_string();
        let size = if let Some(percent) = text.strip_suffix('%') {
            let percent: f64 = percent.trim().parse().map_err(|_| {
                Diagnostic::at(
                    format!("`serial` value `{text}` is not a percentage"),
                    &node.span,
                )
            })?;
            ((total as f64) * percent / 100.0).floor() as usize
        } else {
            text.trim().parse::<usize>().map_err(|_| {
                Diagnostic::at(
                    format!("`serial` value `{text}` is not a number"),
                    &node.span,
                )
            })?
        };
        sizes.push(if size == 0 { total.max(1) } else { size.max(1) });
    }
    let last = *sizes.last().unwrap_or(&total);
    let mut covered: usize = sizes.iter().sum();
    while covered < total {
        sizes.push(last);
        covered += last;
    }
    Ok(sizes)
}

pub fn number(value: &Value) -> Option<f64> {
    f64::try_from(value.clone())
        .ok()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn glob_match(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
}

/// `--step`: ask before each task.
fn step_confirm(name: &str) -> bool {
    use std::io::{BufRead, Write};
    print!("Perform task: TASK: {name} (N)o/(y)es/(c)ontinue: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "c" | "continue"
    )
}
