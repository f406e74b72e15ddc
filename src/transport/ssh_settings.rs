//! Everything needed to reach one host over SSH, gathered once per host from the
//! inventory's variables, the command line, the environment and `ssh_config`.
//!
//! The order follows what `ansible-playbook` hands to `ssh`, since `ssh` keeps the first
//! value it obtains: `host_key_checking = False` first, then the inventory's port, key,
//! user and timeout, then `ansible_ssh_common_args` and `ansible_ssh_extra_args`, then
//! `~/.ssh/config`, then `/etc/ssh/ssh_config`. Variables beat the command line, as they
//! do in Ansible (`ansible_user` wins over `-u`).
//!
//! Variable values are taken as plain text: the engine passes them rendered.

use super::known_hosts::{host_key_name, HostKeyChecking};
use super::ssh_config::{expand_tilde, MatchContext, SshConfigFile, SshOptions};
use super::ConnectionOptions;
use crate::template::VarMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for a host to answer, authenticate included, when nothing says.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often to check that an idle connection is alive, when `ServerAliveInterval` is
/// not set: a run holds its connections for minutes, through NATs and firewalls that
/// forget idle flows.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

pub use crate::secret::Secret;

/// Where the SSH agent is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    None,
    /// `SSH_AUTH_SOCK` of the environment.
    FromEnvironment,
    Socket(PathBuf),
}

/// The settings for one host (or one jump host on the way to it).
#[derive(Debug, Clone, PartialEq)]
pub struct SshSettings {
    /// The inventory name, for messages.
    pub name: String,
    /// The address connected to (`HostName`, else `ansible_host`, else the name).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private keys to try, in order.
    pub identity_files: Vec<PathBuf>,
    /// Whether the keys were named (then a missing one is worth a mention), or are
    /// OpenSSH's defaults.
    pub identity_files_named: bool,
    pub certificate_files: Vec<PathBuf>,
    pub agent: Agent,
    pub pubkey_authentication: bool,
    pub password_authentication: bool,
    pub password: Option<Secret>,
    /// A key given as text (`ansible_private_key`), tried before the key files.
    pub private_key: Option<Secret>,
    /// Unlocks encrypted keys without asking (`ansible_private_key_passphrase`).
    pub private_key_passphrase: Option<Secret>,
    pub host_key_checking: HostKeyChecking,
    /// Files searched for host keys; an accepted new key goes to the first user file.
    pub user_known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    pub hash_known_hosts: bool,
    pub host_key_alias: Option<String>,
    pub connect_timeout: Duration,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_max: usize,
    /// Hosts to tunnel through, the first connected to directly.
    pub jump_hosts: Vec<SshSettings>,
    /// A command whose standard input and output carry the connection (`ProxyCommand`).
    pub proxy_command: Option<String>,
    /// How long one command may run before its helper channel is given up; none by
    /// default, as in Ansible.
    pub command_timeout: Option<Duration>,
    /// How many more times a failed connection is tried, with a pause doubling from one
    /// second between tries: `ansible_ssh_retries`, else `--connect-retries`, else
    /// OpenSSH's `ConnectionAttempts` less one, else none (Ansible's default).
    pub connect_retries: u32,
}

impl SshSettings {
    /// The name the host's key is filed under in `known_hosts`.
    pub fn host_key_name(&self) -> String {
        match &self.host_key_alias {
            Some(alias) => alias.clone(),
            None => host_key_name(&self.host, self.port),
        }
    }

    /// `user@host:port`, for messages and for sharing jump host connections.
    pub fn address(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// What is read from the controller's environment, passed in so tests can set it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub home: PathBuf,
    pub local_user: String,
    pub variables: HashMap<String, String>,
    /// `/etc/ssh/ssh_config`.
    pub system_config: PathBuf,
}

impl Environment {
    /// The process's environment, with what ansible.cfg says for the settings no
    /// environment variable sets filled in under the variables' names (the file comes
    /// after the environment, as in Ansible).
    pub fn current() -> Environment {
        let mut variables: HashMap<String, String> = std::env::vars().collect();
        for (name, value) in crate::config::current().environment_fallbacks() {
            variables.entry(name).or_insert(value);
        }
        let (passwd_user, passwd_home) = passwd_entry();
        let home = variables
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or(passwd_home)
            .unwrap_or_else(|| PathBuf::from("/"));
        let local_user = passwd_user
            .or_else(|| variables.get("USER").cloned())
            .or_else(|| variables.get("LOGNAME").cloned())
            .unwrap_or_else(|| "root".to_string());
        Environment {
            home,
            local_user,
            variables,
            system_config: PathBuf::from("/etc/ssh/ssh_config"),
        }
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// The user name and home directory of this process's user, from `/etc/passwd`.
fn passwd_entry() -> (Option<String>, Option<PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return (None, None);
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 6 && fields[2].parse() == Ok(uid) {
            return (Some(fields[0].to_string()), Some(PathBuf::from(fields[5])));
        }
    }
    (None, None)
}

/// The first of `names` set to a non-empty value, as text.
fn variable(vars: &VarMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let value = vars.get(*name)?;
        if value.is_undefined() || value.is_none() {
            return None;
        }
        let text = match value.as_str() {
            Some(text) => text.to_string(),
            None => value.to_string(),
        };
        (!text.is_empty()).then_some(text)
    })
}

/// Ansible's boolean spellings.
fn boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" | "y" | "t" => Some(true),
        "no" | "false" | "off" | "0" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// Which configuration files to read, from `-F`.
enum ConfigChoice {
    Default,
    File(PathBuf),
    None,
}

/// Reads `ssh` command-line arguments as Ansible passes them (`-o Key=Value`, `-J`, `-i`,
/// `-p`, `-l`, `-F`); flags that change nothing here are skipped.
fn apply_ssh_args(
    text: &str,
    options: &mut SshOptions,
    config: &mut ConfigChoice,
    home: &Path,
) -> Result<(), String> {
    let words = rplay_modules::util::split_words(text)
        .map_err(|e| format!("cannot read ssh arguments `{text}`: {e}"))?;
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            continue;
        };
        let (letter, attached) = flag.split_at(1);
        let takes_value = "oJiplFbcDEeILmOQRSWwB".contains(letter);
        if !takes_value {
            continue;
        }
        let value = if attached.is_empty() {
            words
                .next()
                .ok_or_else(|| format!("ssh option `-{letter}` needs a value in `{text}`"))?
        } else {
            attached.to_string()
        };
        match letter {
            "o" => options.set_text(&value)?,
            "J" => options.set("proxyjump", &value),
            "i" => options.set("identityfile", &value),
            "p" => options.set("port", &value),
            "l" => options.set("user", &value),
            "F" if value == "none" => *config = ConfigChoice::None,
            "F" => *config = ConfigChoice::File(PathBuf::from(expand_tilde(&value, home))),
            _ => {}
        }
    }
    Ok(())
}

/// Values for `%` tokens in paths and commands.
struct Tokens<'a> {
    home: &'a Path,
    local_user: &'a str,
    host: &'a str,
    original_host: &'a str,
    user: &'a str,
    port: u16,
}

fn expand_tokens(text: &str, tokens: &Tokens) -> String {
    let text = expand_tilde(text, tokens.home);
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&tokens.home.display().to_string()),
            Some('u') => out.push_str(tokens.local_user),
            Some('h') => out.push_str(tokens.host),
            Some('n') => out.push_str(tokens.original_host),
            Some('r') => out.push_str(tokens.user),
            Some('p') => out.push_str(&tokens.port.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Resolves the settings for inventory host `name`.
pub fn resolve(
    name: &str,
    vars: &VarMap,
    options: &ConnectionOptions,
    environment: &Environment,
) -> Result<SshSettings, String> {
    let original_host =
        variable(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| name.to_string());
    let mut ssh = SshOptions::default();
    let mut config = ConfigChoice::Default;
    if let Some(port) = variable(vars, &["ansible_port", "ansible_ssh_port"])
        .or_else(|| environment.variable("ANSIBLE_REMOTE_PORT"))
    {
        ssh.set("port", &port);
    }
    if let Some(key) = variable(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    )
    .or_else(|| options.private_key.clone())
    .or_else(|| environment.variable("ANSIBLE_PRIVATE_KEY_FILE"))
    {
        ssh.set("identityfile", &key);
    }
    if let Some(user) = variable(vars, &["ansible_user", "ansible_ssh_user"])
        .or_else(|| options.remote_user.clone())
        .or_else(|| environment.variable("ANSIBLE_REMOTE_USER"))
    {
        ssh.set("user", &user);
    }
    if let Some(timeout) = variable(vars, &["ansible_ssh_timeout", "ansible_timeout"])
        .or_else(|| options.timeout.map(|t| t.to_string()))
        .or_else(|| environment.variable("ANSIBLE_TIMEOUT"))
        .or_else(|| environment.variable("ANSIBLE_SSH_TIMEOUT"))
    {
        ssh.set("connecttimeout", &timeout);
    }
    let arguments = [
        variable(vars, &["ansible_ssh_args"]).or_else(|| environment.variable("ANSIBLE_SSH_ARGS")),
        variable(vars, &["ansible_ssh_common_args"])
            .or_else(|| options.ssh_common_args.clone())
            .or_else(|| environment.variable("ANSIBLE_SSH_COMMON_ARGS")),
        variable(vars, &["ansible_ssh_extra_args"])
            .or_else(|| options.ssh_extra_args.clone())
            .or_else(|| environment.variable("ANSIBLE_SSH_EXTRA_ARGS")),
    ];
    for text in arguments.iter().flatten() {
        apply_ssh_args(text, &mut ssh, &mut config, &environment.home)?;
    }
    apply_config_files(&original_host, &config, environment, &mut ssh);

    // Ansible's own switch: `False` accepts (and records) unknown keys whatever ssh
    // options say; `True` leaves the decision to them. Changed keys are always refused.
    let ansible_checking = variable(
        vars,
        &["ansible_host_key_checking", "ansible_ssh_host_key_checking"],
    )
    .or_else(|| environment.variable("ANSIBLE_HOST_KEY_CHECKING"))
    .or_else(|| environment.variable("ANSIBLE_SSH_HOST_KEY_CHECKING"))
    .and_then(|text| boolean(&text));
    let host_key_checking = match (options.host_key_checking, ansible_checking) {
        (Some(choice), _) => choice,
        (None, Some(false)) => HostKeyChecking::AcceptNew,
        _ => match ssh.get("stricthostkeychecking") {
            Some(text) => HostKeyChecking::parse(text).ok_or_else(|| {
                format!("`StrictHostKeyChecking {text}` for `{name}` is not yes, no or accept-new")
            })?,
            None => HostKeyChecking::Strict,
        },
    };
    let password = variable(
        vars,
        &[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ],
    )
    .map(Secret::new)
    .or_else(|| options.password.clone());

    let mut settings = finish(name, &original_host, &ssh, environment, host_key_checking)?;
    settings.password = password;
    if let Some(text) = variable(vars, &["ansible_ssh_retries"])
        .or_else(|| options.connect_retries.map(|n| n.to_string()))
    {
        settings.connect_retries = text.trim().parse().map_err(|_| {
            format!("`ansible_ssh_retries` `{text}` for `{name}` is not a number of retries")
        })?;
    }
    settings.private_key =
        variable(vars, &["ansible_private_key", "ansible_ssh_private_key"]).map(Secret::new);
    settings.private_key_passphrase = variable(
        vars,
        &[
            "ansible_private_key_passphrase",
            "ansible_ssh_private_key_passphrase",
        ],
    )
    .or_else(|| environment.variable("ANSIBLE_PRIVATE_KEY_PASSPHRASE"))
    .map(Secret::new);
    let jumps = match ssh.get("proxyjump") {
        Some(spec) if !spec.eq_ignore_ascii_case("none") => spec.to_string(),
        _ => String::new(),
    };
    for spec in jumps.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        settings
            .jump_hosts
            .push(resolve_jump(spec, &settings, environment, &config)?);
    }
    if !settings.jump_hosts.is_empty() {
        settings.proxy_command = None;
    }
    Ok(settings)
}

fn apply_config_files(
    host: &str,
    config: &ConfigChoice,
    environment: &Environment,
    ssh: &mut SshOptions,
) {
    let user_dir = environment.home.join(".ssh");
    let files: Vec<(PathBuf, PathBuf)> = match config {
        ConfigChoice::None => Vec::new(),
        ConfigChoice::File(path) => vec![(path.clone(), user_dir)],
        ConfigChoice::Default => vec![
            (user_dir.join("config"), user_dir),
            (
                environment.system_config.clone(),
                environment
                    .system_config
                    .parent()
                    .unwrap_or(Path::new("/etc/ssh"))
                    .to_path_buf(),
            ),
        ],
    };
    for (path, include_dir) in files {
        let context = MatchContext {
            host: host.to_string(),
            local_user: environment.local_user.clone(),
            include_dir,
            home: environment.home.clone(),
        };
        SshConfigFile::load(&path).apply(&context, ssh);
    }
}

/// Turns gathered options into settings.
fn finish(
    name: &str,
    original_host: &str,
    ssh: &SshOptions,
    environment: &Environment,
    host_key_checking: HostKeyChecking,
) -> Result<SshSettings, String> {
    let port = match ssh.get("port") {
        Some(text) => text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port `{text}` for `{name}` is not a port number"))?,
        None => 22,
    };
    let user = ssh
        .get("user")
        .map(str::to_string)
        .unwrap_or_else(|| environment.local_user.clone());
    let mut tokens = Tokens {
        home: &environment.home,
        local_user: &environment.local_user,
        host: original_host,
        original_host,
        user: &user,
        port,
    };
    let host = match ssh.get("hostname") {
        Some(text) => expand_tokens(text, &tokens),
        None => original_host.to_string(),
    };
    tokens.host = &host;
    let seconds = |keyword: &str| -> Result<Option<Duration>, String> {
        match ssh.get(keyword) {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(|s| Some(Duration::from_secs_f64(s)))
                .ok_or_else(|| {
                    format!("`{keyword}` `{text}` for `{name}` is not a number of seconds")
                }),
        }
    };
    let connect_timeout = seconds("connecttimeout")?
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let keepalive_interval = match seconds("serveraliveinterval")? {
        Some(interval) if interval.is_zero() => None,
        Some(interval) => Some(interval),
        None => Some(DEFAULT_KEEPALIVE_INTERVAL),
    };
    let connect_retries = match ssh.get("connectionattempts") {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n - 1)
            .ok_or_else(|| {
                format!("`ConnectionAttempts` `{text}` for `{name}` is not a number of tries")
            })?,
    };
    let keepalive_max = ssh
        .get("serveralivecountmax")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(3);
    let named: Vec<PathBuf> = ssh
        .all("identityfile")
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("none"))
        .map(|f| PathBuf::from(expand_tokens(f, &tokens)))
        .collect();
    let identity_files_named = !named.is_empty();
    let identity_files = if identity_files_named {
        named
    } else {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|file| environment.home.join(".ssh").join(file))
            .collect()
    };
    let certificate_files = ssh
        .all("certificatefile")
        .iter()
        .map(|f| PathBuf::from(expand_tokens(f, &tokens)))
        .collect();
    let file_list = |keyword: &str, default: &[PathBuf]| -> Vec<PathBuf> {
        match ssh.get(keyword) {
            Some(text) if text.eq_ignore_ascii_case("none") => Vec::new(),
            Some(text) => text
                .split_whitespace()
                .map(|f| PathBuf::from(expand_tokens(f, &tokens)))
                .collect(),
            None => default.to_vec(),
        }
    };
    let user_known_hosts_files = file_list(
        "userknownhostsfile",
        &[
            environment.home.join(".ssh/known_hosts"),
            environment.home.join(".ssh/known_hosts2"),
        ],
    );
    let global_known_hosts_files = file_list(
        "globalknownhostsfile",
        &[
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ],
    );
    let yes = |keyword: &str, default: bool| ssh.get(keyword).and_then(boolean).unwrap_or(default);
    let agent = if yes("identitiesonly", false) {
        Agent::None
    } else {
        match ssh.get("identityagent") {
            Some(text) if text.eq_ignore_ascii_case("none") => Agent::None,
            Some("SSH_AUTH_SOCK") => Agent::FromEnvironment,
            Some(text) => Agent::Socket(PathBuf::from(expand_tokens(text, &tokens))),
            None => Agent::FromEnvironment,
        }
    };
    let proxy_command = ssh
        .get("proxycommand")
        .filter(|c| !c.eq_ignore_ascii_case("none"))
        .map(|c| expand_tokens(c, &tokens));
    Ok(SshSettings {
        name: name.to_string(),
        host,
        port,
        user: user.clone(),
        identity_files,
        identity_files_named,
        certificate_files,
        agent,
        pubkey_authentication: yes("pubkeyauthentication", true),
        password_authentication: yes("passwordauthentication", true),
        password: None,
        private_key: None,
        private_key_passphrase: None,
        host_key_checking,
        user_known_hosts_files,
        global_known_hosts_files,
        hash_known_hosts: yes("hashknownhosts", false),
        host_key_alias: ssh.get("hostkeyalias").map(str::to_string),
        connect_timeout,
        keepalive_interval,
        keepalive_max,
        jump_hosts: Vec::new(),
        proxy_command,
        command_timeout: None,
        connect_retries,
    })
}

/// Settings for one jump host written `[user@]host[:port]` or `ssh://[user@]host[:port]`.
/// The hop reads its own `ssh_config` entry; the host key policy, `known_hosts` files and
/// timeout of the target apply to it too, and the target's keys are tried after its own,
/// since a test rig or a cloud bastion usually takes the same key.
fn resolve_jump(
    spec: &str,
    target: &SshSettings,
    environment: &Environment,
    config: &ConfigChoice,
) -> Result<SshSettings, String> {
    let spec_text = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match spec_text.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, spec_text),
    };
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("jump host `{spec}` has an unclosed `[`"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("jump host `{spec}` names no host"));
    }
    let mut ssh = SshOptions::default();
    if let Some(user) = user {
        ssh.set("user", user);
    }
    if let Some(port) = port {
        ssh.set("port", port);
    }
    apply_config_files(host, config, environment, &mut ssh);
    let mut hop = finish(
        &format!("jump host {spec}"),
        host,
        &ssh,
        environment,
        target.host_key_checking,
    )?;
    hop.user_known_hosts_files = target.user_known_hosts_files.clone();
    hop.global_known_hosts_files = target.global_known_hosts_files.clone();
    hop.hash_known_hosts = target.hash_known_hosts;
    hop.connect_timeout = target.connect_timeout;
    if !hop.identity_files_named {
        hop.identity_files.clear();
    }
    for file in &target.identity_files {
        if !hop.identity_files.contains(file) {
            hop.identity_files.push(file.clone());
        }
    }
    hop.identity_files_named |= target.identity_files_named;
    hop.private_key = target.private_key.clone();
    hop.private_key_passphrase = target.private_key_passphrase.clone();
    hop.proxy_command = None;
    Ok(hop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    fn environment(home: &Path) -> Environment {
        Environment {
            home: home.to_path_buf(),
            local_user: "me".to_string(),
            variables: HashMap::new(),
            system_config: home.join("no-system-config"),
        }
    }

    fn vars(pairs: &[(&str, Value)]) -> VarMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_from_the_inventory_name() {
        let home = tempfile::tempdir().unwrap();
        let settings = resolve(
            "web1",
            &VarMap::new(),
            &ConnectionOptions::default(),
            &environment(home.path()),
        )
        .unwrap();
        assert_eq!(settings.host, "web1");
        assert_eq!(settings.port, 22);
        assert_eq!(settings.user, "me");
        assert_eq!(settings.host_key_checking, HostKeyChecking::Strict);
        assert!(!settings.identity_files_named);
        assert_eq!(
            settings.identity_files[0],
            home.path().join(".ssh/id_ed25519")
        );
        assert_eq!(
            settings.user_known_hosts_files[0],
            home.path().join(".ssh/known_hosts")
        );
        assert_eq!(settings.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(settings.host_key_name(), "web1");
    }

    #[test]
    fn connection_retries_from_the_variable_the_command_line_or_connection_attempts() {
        let home = tempfile::tempdir().unwrap();
        let environment = environment(home.path());
        let retries = |vars: &VarMap, cli: Option<u32>| {
            let options = ConnectionOptions {
                connect_retries: cli,
                ..Default::default()
            };
            resolve("web1", vars, &options, &environment).map(|s| s.connect_retries)
        };
        assert_eq!(retries(&VarMap::new(), None), Ok(0), "Ansible's default");
        assert_eq!(retries(&VarMap::new(), Some(4)), Ok(4));
        let attempts = vars(&[(
            "ansible_ssh_common_args",
            Value::from("-o ConnectionAttempts=3"),
        )]);
        assert_eq!(
            retries(&attempts, None),
            Ok(2),
            "three attempts, two retries"
        );
        assert_eq!(retries(&attempts, Some(5)), Ok(5));
        let variable = vars(&[("ansible_ssh_retries", Value::from(1))]);
        assert_eq!(retries(&variable, Some(5)), Ok(1), "the variable wins");
        let bad = vars(&[("ansible_ssh_retries", Value::from("often"))]);
        assert_eq!(
            retries(&bad, None),
            Err("`ansible_ssh_retries` `often` for `web1` is not a number of retries".to_string())
        );
    }

    #[test]
    fn inventory_variables_and_common_args() {
        let home = tempfile::tempdir().unwrap();
        let vars = vars(&[
            ("ansible_host", Value::from("127.0.0.1")),
            ("ansible_port", Value::from(22001)),
            ("ansible_user", Value::from("root")),
            ("ansible_ssh_private_key_file", Value::from("~/keys/id")),
            ("ansible_password", Value::from("hunter2")),
            (
                "ansible_ssh_common_args",
                Value::from("-o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile=/tmp/k1 /tmp/k2' -oPort=1 -J jump@bastion:2200"),
            ),
            ("ansible_ssh_timeout", Value::from("3")),
        ]);
        let options = ConnectionOptions {
            remote_user: Some("ignored".into()),
            ..Default::default()
        };
        let settings = resolve("web1", &vars, &options, &environment(home.path())).unwrap();
        assert_eq!(settings.host, "127.0.0.1");
        assert_eq!(settings.port, 22001, "the inventory's port comes first");
        assert_eq!(settings.user, "root");
        assert_eq!(settings.identity_files, [home.path().join("keys/id")]);
        assert_eq!(settings.host_key_checking, HostKeyChecking::AcceptNew);
        assert_eq!(
            settings.user_known_hosts_files,
            [PathBuf::from("/tmp/k1"), PathBuf::from("/tmp/k2")]
        );
        assert_eq!(settings.connect_timeout, Duration::from_secs(3));
        assert_eq!(settings.host_key_name(), "[127.0.0.1]:22001");
        assert_eq!(settings.password, Some(Secret::new("hunter2")));
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.jump_hosts.len(), 1);
        let jump = &settings.jump_hosts[0];
        assert_eq!(
            (jump.user.as_str(), jump.host.as_str(), jump.port),
            ("jump", "bastion", 2200)
        );
        assert_eq!(jump.identity_files, [home.path().join("keys/id")]);
    }

    #[test]
    fn ansible_false_accepts_new_keys_and_the_command_line_wins() {
        let home = tempfile::tempdir().unwrap();
        let mut env = environment(home.path());
        env.variables
            .insert("ANSIBLE_HOST_KEY_CHECKING".into(), "False".into());
        let settings = resolve("h", &VarMap::new(), &ConnectionOptions::default(), &env).unwrap();
        assert_eq!(settings.host_key_checking, HostKeyChecking::AcceptNew);
        let vars = vars(&[("ansible_host_key_checking", Value::from(true))]);
        let settings = resolve("h", &vars, &ConnectionOptions::default(), &env).unwrap();
        assert_eq!(settings.host_key_checking, HostKeyChecking::Strict);
        let options = ConnectionOptions {
            host_key_checking: Some(HostKeyChecking::Strict),
            ..Default::default()
        };
        let settings = resolve("h", &VarMap::new(), &options, &env).unwrap();
        assert_eq!(settings.host_key_checking, HostKeyChecking::Strict);
    }

    #[test]
    fn ssh_config_supplies_what_the_inventory_leaves_out() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/config"),
            "Host web*\n  HostName %h.internal\n  User deploy\n  Port 2222\n  IdentityFile %d/.ssh/web\n  ProxyJump admin@gate\nHost gate\n  Port 2022\n",
        )
        .unwrap();
        let vars = vars(&[("ansible_user", Value::from("root"))]);
        let settings = resolve(
            "web1",
            &vars,
            &ConnectionOptions::default(),
            &environment(home.path()),
        )
        .unwrap();
        assert_eq!(settings.host, "web1.internal");
        assert_eq!(settings.user, "root");
        assert_eq!(settings.port, 2222);
        assert_eq!(settings.identity_files, [home.path().join(".ssh/web")]);
        let jump = &settings.jump_hosts[0];
        assert_eq!((jump.user.as_str(), jump.port), ("admin", 2022));
    }

    #[test]
    fn bad_values_are_reported() {
        let home = tempfile::tempdir().unwrap();
        let vars = vars(&[("ansible_port", Value::from("ssh"))]);
        let error = resolve(
            "web1",
            &vars,
            &ConnectionOptions::default(),
            &environment(home.path()),
        )
        .unwrap_err();
        assert_eq!(error, "port `ssh` for `web1` is not a port number");
        let vars = vars_with_args("-o 'unclosed");
        assert!(resolve(
            "web1",
            &vars,
            &ConnectionOptions::default(),
            &environment(home.path())
        )
        .is_err());
    }

    fn vars_with_args(args: &str) -> VarMap {
        vars(&[("ansible_ssh_common_args", Value::from(args))])
    }

    #[test]
    fn tokens_expand() {
        let tokens = Tokens {
            home: Path::new("/home/me"),
            local_user: "me",
            host: "h.internal",
            original_host: "h",
            user: "root",
            port: 22,
        };
        assert_eq!(
            expand_tokens("~/%r@%h:%p %n %u %d %% %x", &tokens),
            "/home/me/root@h.internal:22 h me /home/me % %x"
        );
    }
}
