//! The command line: flags as `ansible-playbook` spells them, plus `rplay inventory` and
//! `rplay doc`.

use crate::diagnostic::Diagnostic;
use crate::executor::{Executor, Options};
use crate::inventory::Inventory;
use crate::playbook::{Loader, Playbook, TaskKind};
use crate::report::{human::Human, json::JsonLines, Sink};
use crate::secret::Secret;
use crate::template::VarMap;
use clap::{ArgAction, Parser, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Exit code for bad options or a playbook that does not parse.
pub const EXIT_USAGE: i32 = 5;

/// Hosts run at once when neither `-f` nor the configuration says: more than Ansible's 5,
/// since a host costs rplay a connection, not a process.
pub const DEFAULT_FORKS: usize = 50;

#[derive(Debug, Parser)]
#[command(
    name = "rplay",
    version,
    about = "Runs Ansible playbooks with a Rust engine: rplay [-i INVENTORY] PLAYBOOK...",
    after_help = "Other commands:\n  rplay inventory [-i INVENTORY] --list | --graph\n  rplay doc [MODULE]\n  rplay kubespray [-i INVENTORY] [--playbook cluster|reset|scale|upgrade-cluster] [-- ARGS]\n  rplay cluster status -i INVENTORY [--timeout SECONDS]\n  rplay vault encrypt|decrypt|view|encrypt_string"
)]
pub struct PlaybookArgs {
    /// Playbook files to run, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Inventory, limits, variables, connection and output: shared with `rplay run`.
    #[command(flatten)]
    pub common: RunOptions,
    /// Only run tasks tagged with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags", value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Skip tasks tagged with these tags.
    #[arg(long = "skip-tags", value_name = "TAGS")]
    pub skip_tags: Vec<String>,
    /// How to become (sudo, su).
    #[arg(long = "become-method", value_name = "METHOD")]
    pub become_method: Option<String>,
    /// SSH connection timeout in seconds.
    #[arg(short = 'T', long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Extra arguments for every SSH connection (e.g. `-o ProxyJump=bastion`).
    #[arg(
        long = "ssh-common-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_common_args: Option<String>,
    /// Extra arguments for SSH only.
    #[arg(
        long = "ssh-extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_extra_args: Option<String>,
    /// Check the playbooks and exit without running anything.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// List the hosts each play would run on.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List the tasks each play would run.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List the tags in use.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Start at the task with this name.
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Ask before each task.
    #[arg(long = "step")]
    pub step: bool,
    /// Set by `rplay run`: report in the ad hoc layout.
    #[arg(skip)]
    pub ad_hoc: bool,
    /// When plays gather facts: from `ANSIBLE_GATHERING` or ansible.cfg's `gathering`.
    #[arg(skip)]
    pub gathering: Option<crate::executor::Gathering>,
    /// Set by `rplay cluster status`: where the `summary` of its one task is kept.
    #[arg(skip)]
    pub summary: Option<SummarySlot>,
}

/// The `summary` lines a generated task returned, kept for its command to print.
pub type SummarySlot = std::sync::Arc<std::sync::Mutex<Option<Vec<String>>>>;

impl PlaybookArgs {
    /// A playbook that rplay wrote itself, run with the options of a command.
    pub fn for_generated(path: PathBuf, common: RunOptions) -> PlaybookArgs {
        PlaybookArgs {
            playbooks: vec![path],
            common,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            become_method: None,
            timeout: None,
            ssh_common_args: None,
            ssh_extra_args: None,
            syntax_check: false,
            list_hosts: false,
            list_tasks: false,
            list_tags: false,
            start_at_task: None,
            step: false,
            ad_hoc: false,
            gathering: None,
            summary: None,
        }
    }
}

/// Where vault secrets come from, as `ansible-playbook` and `ansible-vault` spell it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VaultOptions {
    /// A vault secret: `[ID@]SOURCE`, SOURCE a password file, a script or `prompt`
    /// (repeatable).
    #[arg(long = "vault-id", value_name = "ID@SOURCE")]
    pub vault_ids: Vec<String>,
    /// A vault password file; an executable file is run and its output used (repeatable).
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE",
        env = "ANSIBLE_VAULT_PASSWORD_FILE"
    )]
    pub vault_password_files: Vec<String>,
    /// Ask for the vault password.
    #[arg(
        short = 'J',
        long = "ask-vault-password",
        visible_alias = "ask-vault-pass"
    )]
    pub ask_vault_pass: bool,
}

impl VaultOptions {
    /// Reads (or asks for) every secret; `confirm` asks twice, for encryption. What the
    /// command line leaves out comes from the environment and ansible.cfg
    /// (`vault_identity_list`, `vault_password_file`, `ask_vault_pass`).
    pub fn secrets(&self, confirm: bool) -> Result<crate::vault::VaultSecrets, Diagnostic> {
        use crate::config::{ASK_VAULT_PASS, VAULT_IDENTITY_LIST, VAULT_PASSWORD_FILE};
        let config = crate::config::current();
        let mut vault_ids = self.vault_ids.clone();
        if vault_ids.is_empty() {
            vault_ids = config
                .text(&VAULT_IDENTITY_LIST)
                .map(|list| split_list(&[list]))
                .unwrap_or_default();
        }
        let mut password_files = self.vault_password_files.clone();
        if password_files.is_empty() {
            password_files.extend(
                config
                    .path(&VAULT_PASSWORD_FILE)
                    .map(|path| path.to_string_lossy().into_owned()),
            );
        }
        crate::vault::VaultSecrets::load(&crate::vault::secrets::SecretSources {
            vault_ids,
            password_files,
            ask: self.ask_vault_pass || config.boolean(&ASK_VAULT_PASS).unwrap_or(false),
            confirm,
        })
        .map_err(Diagnostic::new)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "rplay inventory",
    about = "Shows the inventory as rplay reads it"
)]
pub struct InventoryArgs {
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// All hosts and groups as JSON, like `ansible-inventory --list`.
    #[arg(long, conflicts_with = "graph")]
    pub list: bool,
    /// A tree of groups and hosts, like `ansible-inventory --graph`.
    #[arg(long)]
    pub graph: bool,
    /// With --graph: the group to start from.
    #[arg(default_value = "all")]
    pub group: String,
    /// With --graph: show variables too.
    #[arg(long)]
    pub vars: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "rplay run",
    about = "Runs one command or module on every matching host: rplay run all apt update"
)]
pub struct RunArgs {
    /// Which hosts: a pattern as in a play's `hosts:`.
    pub pattern: String,
    /// The command, or a module name followed by `key=value` arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
    /// Run this module (default: the first word if it names a module whose other words
    /// are all `key=value`, else `command`).
    #[arg(short = 'm', long = "module-name")]
    pub module: Option<String>,
    /// The module's arguments, `key=value ...` or free-form text.
    #[arg(short = 'a', long = "args")]
    pub module_args: Option<String>,
    #[command(flatten)]
    pub common: RunOptions,
}

/// The playbook options that also make sense for a single ad hoc task.
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    /// Inventory file or directory (repeatable); without it, `ANSIBLE_INVENTORY` or
    /// ansible.cfg's `inventory`, else only localhost.
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// Limit to hosts matching this pattern (or `@file`).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Extra variables: `k=v ...`, JSON/YAML, or `@file` (repeatable; later wins).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Show what would change without changing anything.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show the differences in files that change.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// How many hosts to run at once (default: `ANSIBLE_FORKS`, ansible.cfg's `forks`,
    /// else 50).
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Connect as this user.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Run operations with become (sudo).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// The user to become.
    #[arg(long = "become-user", value_name = "USER")]
    pub become_user: Option<String>,
    /// Connection type for every host.
    #[arg(short = 'c', long = "connection", value_name = "TYPE")]
    pub connection: Option<String>,
    /// SSH private key file.
    #[arg(long = "private-key", visible_alias = "key-file", value_name = "FILE")]
    pub private_key: Option<String>,
    /// Host key checking: strict (default), accept-new (record unknown keys), or off (the
    /// same as accept-new, like Ansible's host_key_checking = False). A changed key is
    /// refused whatever this says.
    #[arg(long = "host-key-checking", value_name = "POLICY")]
    pub host_key_checking: Option<String>,
    /// Ask for the SSH password (password and keyboard-interactive login).
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Ask for the become (sudo, su) password.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Read the SSH password from a file (`-`: standard input; an executable file is run).
    #[arg(
        long = "connection-password-file",
        visible_alias = "conn-pass-file",
        value_name = "FILE",
        env = "ANSIBLE_CONNECTION_PASSWORD_FILE"
    )]
    pub connection_password_file: Option<String>,
    /// Read the become password from a file, as --connection-password-file does.
    #[arg(
        long = "become-password-file",
        visible_alias = "become-pass-file",
        value_name = "FILE",
        env = "ANSIBLE_BECOME_PASSWORD_FILE"
    )]
    pub become_password_file: Option<String>,
    /// Fail any task still running after this many seconds, stopping its command on the
    /// host (0: no limit); a task's own `timeout:` wins.
    #[arg(
        long = "task-timeout",
        value_name = "SECONDS",
        env = "ANSIBLE_TASK_TIMEOUT"
    )]
    pub task_timeout: Option<u64>,
    /// Try a failed SSH connection this many more times, waiting 1, 2, 4... seconds
    /// between tries (default 0; `ansible_ssh_retries` wins for its hosts).
    #[arg(
        long = "connect-retries",
        value_name = "COUNT",
        env = "ANSIBLE_SSH_RETRIES"
    )]
    pub connect_retries: Option<u32>,
    #[command(flatten)]
    pub vault: VaultOptions,
    /// More output (-v, -vv, -vvv).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Parser)]
#[command(name = "rplay doc", about = "Documents a module (or lists them all)")]
pub struct DocArgs {
    pub module: Option<String>,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    raise_open_file_limit();
    let args: Vec<String> = std::env::args().collect();
    // ansible.cfg, for every command but `doc`.
    if args.get(1).map(String::as_str) != Some("doc") {
        match crate::config::load() {
            Ok(config) => {
                for warning in &config.warnings {
                    eprintln!("[WARNING]: {warning}");
                }
            }
            Err(diagnostic) => {
                print_error(&diagnostic);
                return EXIT_USAGE;
            }
        }
    }
    let result = match args.get(1).map(String::as_str) {
        Some("inventory") => inventory_command(InventoryArgs::parse_from(&args[1..])),
        Some("doc") => doc_command(DocArgs::parse_from(&args[1..])),
        Some("vault") => match crate::vault::command::VaultArgs::try_parse_from(&args[1..]) {
            Ok(vault) => crate::vault::command::run(vault),
            Err(error) => {
                let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
                let _ = error.print();
                return code;
            }
        },
        Some("kubespray") => {
            match crate::kubespray::command::KubesprayArgs::try_parse_from(&args[1..]) {
                Ok(kubespray) => crate::kubespray::command::run(kubespray),
                Err(error) => {
                    let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
                    let _ = error.print();
                    return code;
                }
            }
        }
        Some("cluster") => match crate::cluster::ClusterArgs::try_parse_from(&args[1..]) {
            Ok(cluster) => crate::cluster::run(cluster),
            Err(error) => {
                let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
                let _ = error.print();
                return code;
            }
        },
        Some("run") => match RunArgs::try_parse_from(&args[1..]) {
            Ok(run) => run_command(run),
            Err(error) => {
                let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
                let _ = error.print();
                return code;
            }
        },
        _ => {
            let parsed = match PlaybookArgs::try_parse_from(&args) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
                    let _ = error.print();
                    return code;
                }
            };
            playbook_command(parsed)
        }
    };
    match result {
        Ok(code) => code,
        Err(diagnostic) => {
            print_error(&diagnostic);
            // ansible-playbook exits 1 on a vault error, not with its parse error code.
            if crate::vault::is_vault_error(&diagnostic.message) {
                crate::vault::command::EXIT_ERROR
            } else {
                EXIT_USAGE
            }
        }
    }
}

/// Lifts the soft limit on open files to the hard one: a thousand hosts at once hold a
/// thousand sockets, more than the usual soft limit of 1024. Failure changes nothing: the
/// run goes on with the limit it has.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

pub fn print_error(diagnostic: &Diagnostic) {
    let text = diagnostic.render();
    if std::io::stderr().is_terminal() {
        let text = text.replacen(
            "error:",
            &console::style("error:").red().bold().to_string(),
            1,
        );
        eprint!("{text}");
    } else {
        eprint!("{text}");
    }
}

/// The `-i` sources given, else `ANSIBLE_INVENTORY` or ansible.cfg's `inventory`.
fn inventory_or_configured(given: &[String], config: &crate::config::Config) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    config
        .paths(&crate::config::INVENTORY)
        .iter()
        .map(|path| path.to_string_lossy().into_owned())
        .collect()
}

pub fn load_inventory(sources: &[String]) -> Result<Inventory, Diagnostic> {
    if sources.is_empty() {
        return Ok(Inventory::implicit());
    }
    let mut paths = Vec::new();
    for source in sources {
        // `-i host1,host2,` is a list of hosts, as in Ansible.
        if source.contains(',') && !Path::new(source).exists() {
            let mut inventory = Inventory::implicit();
            for host in source.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                inventory.add_runtime_host(host, &["ungrouped"], Default::default())?;
            }
            return Ok(inventory);
        }
        let path = PathBuf::from(source);
        if !path.exists() {
            return Err(Diagnostic::new(format!("inventory `{source}` does not exist"))
                .with_help("give an inventory file or directory with -i, or leave -i out to run on localhost"));
        }
        paths.push(path);
    }
    Inventory::load(&paths)
}

/// Parses `-e` values: `k=v` words, JSON or YAML mappings, or `@file`.
pub fn parse_extra_vars(values: &[String]) -> Result<VarMap, Diagnostic> {
    let mut vars = VarMap::new();
    for value in values {
        let value = value.trim();
        if let Some(file) = value.strip_prefix('@') {
            let node = crate::yaml::load_file(Path::new(file))?;
            vars.extend(crate::playbook::role::vars_from_node(&node)?);
        } else if value.starts_with('{') || value.starts_with('[') {
            let file = crate::source::SourceFile::new("<extra vars>", value);
            let node = crate::yaml::load_str(file)?;
            vars.extend(crate::playbook::role::vars_from_node(&node)?);
        } else {
            for word in rplay_modules::util::split_words(value)
                .map_err(|e| Diagnostic::new(format!("cannot read extra vars `{value}`: {e}")))?
            {
                let Some((key, val)) = word.split_once('=') else {
                    return Err(
                        Diagnostic::new(format!("extra var `{word}` is not `key=value`"))
                            .with_help(
                                "write `-e key=value`, `-e '{\"key\": 1}'` or `-e @vars.yml`",
                            ),
                    );
                };
                vars.insert(key.to_string(), minijinja::Value::from(val));
            }
        }
    }
    Ok(vars)
}

fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `rplay run PATTERN WORDS...`: one task as a one-play playbook, so it gets the same
/// checks, transports and report as a playbook.
fn run_command(run: RunArgs) -> Result<i32, Diagnostic> {
    let (module, module_args) = match (&run.module, &run.module_args) {
        (Some(module), args) => (
            module.clone(),
            args.clone().unwrap_or_else(|| run.words.join(" ")),
        ),
        (None, Some(args)) => ("command".to_string(), args.clone()),
        (None, None) => {
            let Some((first, rest)) = run.words.split_first() else {
                return Err(Diagnostic::new("`rplay run` needs a command or a module")
                    .with_help("rplay run all uptime, or rplay run all -m ping"));
            };
            let all_key_value = !rest.is_empty()
                && rest.iter().all(|word| {
                    word.split_once('=').is_some_and(|(key, _)| {
                        !key.is_empty()
                            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                });
            let host_module = rplay_modules::lookup(first);
            let names_module = host_module.is_some()
                || crate::playbook::loader::ENGINE_ACTIONS.contains(&first.as_str());
            // `rplay run all ping` runs ping; `rplay run all hostname` runs the program,
            // since a free-form module with no arguments means nothing.
            let bare_module = rest.is_empty() && host_module.is_none_or(|m| m.free_form.is_none());
            if names_module && (all_key_value || bare_module) {
                (first.clone(), rest.join(" "))
            } else {
                (
                    "command".to_string(),
                    rplay_modules::util::join_words(&run.words),
                )
            }
        }
    };
    let play = serde_json::json!([{
        "name": format!("Ad hoc: {module} {module_args}").trim_end().to_string(),
        "hosts": run.pattern,
        "gather_facts": false,
        "tasks": [{ "name": module.clone(), module: module_args }],
    }]);
    let dir = std::env::temp_dir().join(format!("rplay-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Diagnostic::new(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("ad-hoc.yml");
    std::fs::write(&path, play.to_string())
        .map_err(|e| Diagnostic::new(format!("cannot write {}: {e}", path.display())))?;
    let mut args = PlaybookArgs::for_generated(path, run.common);
    args.ad_hoc = true;
    let result = playbook_command(args);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

pub(crate) fn playbook_command(mut args: PlaybookArgs) -> Result<i32, Diagnostic> {
    apply_config(&mut args, crate::config::current())?;
    // First, as ansible-playbook does: inventories and playbooks may be vaulted.
    crate::vault::install(args.common.vault.secrets(false)?);
    let mut inventory = load_inventory(&args.common.inventory)?;
    let mut playbooks: Vec<Playbook> = Vec::new();
    for path in &args.playbooks {
        if !path.exists() {
            return Err(Diagnostic::new(format!(
                "the playbook `{}` could not be found",
                path.display()
            )));
        }
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        inventory.add_vars_dir(&dir)?;
        let mut loader = Loader::new(&dir);
        let playbook = loader.load_playbook(path)?;
        check_playbook(&playbook)?;
        playbooks.push(playbook);
        // Every unknown module at once, each with its place: all of them under
        // `--syntax-check`; for a run, those that must be typos (a module of another
        // collection fails only if its task runs).
        let unknown: Vec<Diagnostic> = if args.syntax_check {
            loader
                .unknown_modules
                .iter()
                .map(|unknown| unknown.diagnostic.clone())
                .collect()
        } else {
            loader.blocking_unknown_modules()
        };
        if let Some((last, others)) = unknown.split_last() {
            for diagnostic in others {
                print_error(diagnostic);
            }
            return Err(last.clone());
        }
    }
    if args.syntax_check {
        for playbook in &playbooks {
            println!(
                "\nplaybook: {}",
                crate::source::display_path(&playbook.path)
            );
        }
        return Ok(0);
    }
    let host_key_checking = match &args.common.host_key_checking {
        Some(text) => Some(
            crate::transport::HostKeyChecking::parse(text).ok_or_else(|| {
                Diagnostic::new(format!("unknown host key checking policy `{text}`"))
                    .with_help("use strict, accept-new or off")
            })?,
        ),
        None => None,
    };
    let options = Options {
        ssh: crate::transport::ConnectionOptions {
            private_key: args.common.private_key.clone(),
            timeout: args.timeout,
            host_key_checking,
            ssh_common_args: args.ssh_common_args.clone(),
            ssh_extra_args: args.ssh_extra_args.clone(),
            connect_retries: args.common.connect_retries,
            ..Default::default()
        },
        task_timeout: args.common.task_timeout,
        gathering: args.gathering.unwrap_or_default(),
        check: args.common.check,
        diff: args.common.diff,
        forks: args.common.forks.unwrap_or(DEFAULT_FORKS).max(1),
        limit: args.common.limit.clone(),
        tags: split_list(&args.tags),
        skip_tags: split_list(&args.skip_tags),
        extra_vars: parse_extra_vars(&args.common.extra_vars)?,
        become_: args.common.become_,
        become_user: args.common.become_user.clone(),
        become_method: args.become_method.clone(),
        become_password: None,
        connection: args.common.connection.clone(),
        remote_user: args.common.user.clone(),
        start_at_task: args.start_at_task.clone(),
        step: args.step,
        verbosity: args.common.verbose,
        stdout_is_data: args.common.output == OutputFormat::Json,
    };
    if args.list_hosts || args.list_tasks || args.list_tags {
        let executor = Executor::new(
            inventory,
            options,
            Box::new(JsonLines::new(Box::new(std::io::sink()))),
        );
        return list(&executor, &playbooks, &args);
    }
    // A Kubespray import that cannot run (no checkout, an unsupported release, no
    // Python) fails now, before any host is touched.
    for play in playbooks.iter().flat_map(|playbook| &playbook.plays) {
        if let Some(import) = &play.kubespray {
            let mut request = crate::kubespray::Request::new(import.target.clone());
            request.kubespray_dir = import.kubespray_dir.clone();
            request.extra_vars = options.extra_vars.clone();
            crate::kubespray::prepare(&inventory, &request).map_err(|error| {
                let message = format!(
                    "cannot hand `{}` to Kubespray: {}",
                    import.written, error.message
                );
                Diagnostic {
                    message,
                    span: Some(play.span.clone()).filter(|span| span.is_known()),
                    help: error.help,
                }
            })?;
        }
    }
    // Asked once the playbooks are known to be sound, and not for the listings, as
    // ansible-playbook does.
    let mut options = options;
    match ask_passwords(&args)? {
        Some((password, become_password)) => {
            options.ssh.password = password;
            options.become_password = become_password;
        }
        None => {
            eprintln!("[ERROR]: User interrupted execution");
            return Ok(crate::executor::EXIT_INTERRUPTED);
        }
    }
    let sink: Box<dyn Sink> = match args.common.output {
        OutputFormat::Human => {
            let human = Human::new(
                Box::new(std::io::stdout()),
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                args.common.verbose,
                args.common.diff,
            );
            Box::new(if args.ad_hoc { human.ad_hoc() } else { human })
        }
        OutputFormat::Json => Box::new(JsonLines::new(Box::new(std::io::stdout()))),
    };
    let sink: Box<dyn Sink> = match &args.summary {
        Some(slot) => Box::new(crate::report::SummaryCapture::new(sink, slot.clone())),
        None => sink,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::new(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let mut executor = Executor::new(inventory, options, sink);
        let interrupt = executor.interrupt();
        // First Ctrl-C: start nothing new, stop what runs, print the recap; second: abort.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupt.trigger();
                eprintln!("\n[ERROR]: User interrupted execution (press Ctrl-C again to abort)");
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("[ERROR]: aborted");
                    crate::prompt::restore_terminal();
                    std::process::exit(130);
                }
            }
        });
        let mut code = 0;
        for playbook in &playbooks {
            code = executor.run_playbook(playbook).await?;
            if code != 0 {
                break;
            }
        }
        Ok(code)
    })
}

/// Fills what the command line leaves out from the environment and ansible.cfg, as
/// `ansible-playbook` does (the command line wins, then the environment, then the file).
/// The SSH settings the inventory can override (user, key, port, timeouts, host key
/// checking, ssh args) are read where the inventory's variables are known
/// ([`crate::transport::ssh_settings`]).
pub fn apply_config(
    args: &mut PlaybookArgs,
    config: &crate::config::Config,
) -> Result<(), Diagnostic> {
    use crate::config::*;
    let common = &mut args.common;
    if let Some(path) = &config.path {
        if common.verbose > 0 {
            println!("Using {} as config file", path.display());
        }
    }
    common.inventory = inventory_or_configured(&common.inventory, config);
    if common.forks.is_none() {
        common.forks = config.integer(&FORKS)?.map(|n| n as usize);
    }
    if !common.become_ {
        common.become_ = config.boolean(&BECOME).unwrap_or(false);
    }
    if common.become_user.is_none() {
        common.become_user = config.text(&BECOME_USER);
    }
    if args.become_method.is_none() {
        args.become_method = config.text(&BECOME_METHOD);
    }
    if !common.ask_become_pass {
        common.ask_become_pass = config.boolean(&BECOME_ASK_PASS).unwrap_or(false);
    }
    if !common.ask_pass {
        common.ask_pass = config.boolean(&ASK_PASS).unwrap_or(false);
    }
    let path_text = |setting: &Setting| {
        config
            .path(setting)
            .map(|path| path.to_string_lossy().into_owned())
    };
    if common.connection_password_file.is_none() {
        common.connection_password_file = path_text(&CONNECTION_PASSWORD_FILE);
    }
    if common.become_password_file.is_none() {
        common.become_password_file = path_text(&BECOME_PASSWORD_FILE);
    }
    if common.task_timeout.is_none() {
        common.task_timeout = config.integer(&TASK_TIMEOUT)?;
    }
    if common.connect_retries.is_none() {
        common.connect_retries = config
            .integer(&SSH_RETRIES)?
            .map(|n| n.min(u32::MAX as u64) as u32);
    }
    if args.gathering.is_none() {
        args.gathering = match config.text(&GATHERING) {
            None => None,
            Some(text) => Some(crate::executor::Gathering::parse(&text).ok_or_else(|| {
                Diagnostic::new(format!("unknown fact gathering policy `{text}` (`gathering` in ansible.cfg or ANSIBLE_GATHERING)"))
                    .with_help("use implicit, explicit or smart")
            })?),
        };
    }
    Ok(())
}

/// The SSH and become passwords from `-k`, `-K` and the password files, asked as
/// `ansible-playbook` asks them; `None` when the person pressed Ctrl-C at a prompt.
fn ask_passwords(
    args: &PlaybookArgs,
) -> Result<Option<(Option<Secret>, Option<Secret>)>, Diagnostic> {
    use crate::prompt::{ask, from_file, PromptError, Source};
    let asked = |prompt: &str, what: &str| match ask(prompt, Source::TerminalOrStdin) {
        Ok(secret) => Ok(Some(secret)),
        Err(PromptError::Cancelled) => Ok(None),
        Err(error) => Err(Diagnostic::new(format!("cannot read the {what}: {error}"))),
    };
    let mut password = None;
    if args.common.ask_pass {
        match asked("SSH password: ", "SSH password")? {
            Some(secret) => password = Some(secret),
            None => return Ok(None),
        }
    } else if let Some(file) = &args.common.connection_password_file {
        password = Some(from_file(file).map_err(Diagnostic::new)?);
    }
    let mut become_password = None;
    if args.common.ask_become_pass {
        let prompt = if args.common.ask_pass {
            "BECOME password[defaults to SSH password]: "
        } else {
            "BECOME password: "
        };
        match asked(prompt, "become password")? {
            // An empty answer means the SSH password, as in Ansible.
            Some(secret) if secret.expose().is_empty() && args.common.ask_pass => {
                become_password = password.clone()
            }
            Some(secret) => become_password = Some(secret),
            None => return Ok(None),
        }
    } else if let Some(file) = &args.common.become_password_file {
        become_password = Some(from_file(file).map_err(Diagnostic::new)?);
    }
    Ok(Some((password, become_password)))
}

/// Checks every task's arguments that hold no template, before any host is contacted.
fn check_playbook(playbook: &Playbook) -> Result<(), Diagnostic> {
    for play in &playbook.plays {
        for list in [
            &play.pre_tasks,
            &play.role_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ] {
            let mut first_error = None;
            crate::playbook::walk(list, &mut |task, _| {
                if first_error.is_some() {
                    return;
                }
                if let TaskKind::Action { module, args, .. } = &task.kind {
                    if let Err(error) = crate::executor::check_static_args(module, args) {
                        first_error = Some(error);
                    }
                }
            });
            if let Some(error) = first_error {
                return Err(error);
            }
        }
    }
    Ok(())
}

fn list(
    executor: &Executor,
    playbooks: &[Playbook],
    args: &PlaybookArgs,
) -> Result<i32, Diagnostic> {
    for playbook in playbooks {
        println!(
            "\nplaybook: {}",
            crate::source::display_path(&playbook.path)
        );
        for (index, play) in playbook.plays.iter().enumerate() {
            let tags = format!("[{}]", play.common.tags.join(", "));
            println!(
                "\n  play #{} ({}): {}\tTAGS: {tags}",
                index + 1,
                play.hosts.key_text().unwrap_or_default(),
                play.display_name()
            );
            if args.list_hosts {
                let hosts = executor.play_hosts(play)?;
                println!(
                    "    pattern: ['{}']",
                    play.hosts.key_text().unwrap_or_default()
                );
                println!("    hosts ({}):", hosts.len());
                for host in hosts {
                    println!("      {host}");
                }
            }
            if args.list_tasks || args.list_tags {
                if args.list_tasks {
                    println!("    tasks:");
                }
                let mut all_tags: Vec<String> = Vec::new();
                for list in [
                    &play.pre_tasks,
                    &play.role_tasks,
                    &play.tasks,
                    &play.post_tasks,
                ] {
                    crate::playbook::walk(list, &mut |task, _| {
                        all_tags.extend(task.common.tags.iter().cloned());
                        if matches!(task.kind, TaskKind::Block { .. }) {
                            return;
                        }
                        if args.list_tasks {
                            let name = match &task.role {
                                Some(role) => format!("{} : {}", role.name, task.display_name()),
                                None => task.display_name(),
                            };
                            println!("      {name}\tTAGS: [{}]", task.common.tags.join(", "));
                        }
                    });
                }
                if args.list_tags {
                    all_tags.sort();
                    all_tags.dedup();
                    println!("      TASK TAGS: [{}]", all_tags.join(", "));
                }
            }
        }
    }
    Ok(0)
}

fn inventory_command(args: InventoryArgs) -> Result<i32, Diagnostic> {
    let sources = inventory_or_configured(&args.inventory, crate::config::current());
    let inventory = load_inventory(&sources)?;
    let text = if args.graph {
        inventory.graph(&args.group)?
    } else {
        let mut json = serde_json::to_string_pretty(&inventory.to_list_json()).unwrap_or_default();
        json.push('\n');
        json
    };
    write_stdout(&text)?;
    Ok(0)
}

/// Writes a listing to standard output. A reader that stops early (`| head`) is no error:
/// the listing simply ends there, where `print!` would panic.
fn write_stdout(text: &str) -> Result<(), Diagnostic> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(Diagnostic::new(
            format!("cannot write to standard output: {error}"),
        )),
        _ => Ok(()),
    }
}

fn doc_command(args: DocArgs) -> Result<i32, Diagnostic> {
    match args.module {
        None => {
            let mut names: Vec<&str> = rplay_modules::MODULES.iter().map(|m| m.name).collect();
            names.extend(crate::playbook::loader::ENGINE_ACTIONS.iter().copied());
            names.sort();
            names.dedup();
            for name in names {
                println!("{name}");
            }
            Ok(0)
        }
        Some(name) => {
            let Some(spec) = rplay_modules::lookup(&name) else {
                if crate::playbook::loader::ENGINE_ACTIONS.contains(&name.as_str()) {
                    println!("{name}: an engine action (runs in rplay itself, not on the host)");
                    return Ok(0);
                }
                let known: Vec<&str> = rplay_modules::registry::all_names().collect();
                return Err(
                    Diagnostic::new(format!("no module named `{name}`")).suggest(&name, known)
                );
            };
            let sources: Vec<&str> = rplay_modules::MODULES
                .iter()
                .map(|m| m.doc)
                .chain(rplay_modules::SHARED_SOURCES.iter().copied())
                .collect();
            print!("{}", crate::doc::module_doc(spec.doc, &sources));
            Ok(0)
        }
    }
}
