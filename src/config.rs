//! `ansible.cfg`: the settings file `ansible-playbook` reads, read the same way.
//!
//! One file is used, the first that exists of `$ANSIBLE_CONFIG` (a file, or a directory
//! holding `ansible.cfg`), `./ansible.cfg` (skipped with a warning when the working
//! directory is world-writable), `~/.ansible.cfg` and `/etc/ansible/ansible.cfg`.
//!
//! A setting comes from the command line first, then its environment variables, then the
//! file, as in Ansible. Values in the file are raw (no `%` interpolation), lose one pair of
//! surrounding quotes, and may continue on indented lines; `;` after a space starts a
//! comment. Relative paths in the file are relative to the file's directory, those in
//! environment variables to the working directory; `~`, `$VAR` and `{{CWD}}` are expanded.
//!
//! Only the settings below change what rplay does; the rest of a file (callbacks, fact
//! caches, `pipelining`, ...) is read and left alone, since it concerns how Ansible works,
//! not what a playbook does. Two that would change a playbook's meaning and that rplay does
//! not follow are reported once: `hash_behaviour = merge` and
//! `error_on_undefined_vars = False`.

use crate::diagnostic::{Diagnostic, Result};
use crate::source::{SourceFile, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How a setting's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Boolean,
    Integer,
    /// One path.
    Path,
    /// Paths separated by commas (`inventory`).
    PathList,
    /// Paths separated by colons (`roles_path`).
    PathSpec,
}

/// One setting: its environment variables and its places in the file, in Ansible's order.
#[derive(Debug)]
pub struct Setting {
    pub env: &'static [&'static str],
    pub ini: &'static [(&'static str, &'static str)],
    pub kind: Kind,
}

macro_rules! settings {
    ($($name:ident: [$($env:literal),*] [$(($section:literal, $key:literal)),*] $kind:ident;)*) => {
        $(pub const $name: Setting = Setting {
            env: &[$($env),*],
            ini: &[$(($section, $key)),*],
            kind: Kind::$kind,
        };)*
        /// Every setting rplay follows.
        pub const ALL: &[&Setting] = &[$(&$name),*];
    };
}

settings! {
    INVENTORY: ["ANSIBLE_INVENTORY"] [("defaults", "inventory")] PathList;
    FORKS: ["ANSIBLE_FORKS"] [("defaults", "forks")] Integer;
    REMOTE_USER: ["ANSIBLE_REMOTE_USER"] [("defaults", "remote_user")] Text;
    REMOTE_PORT: ["ANSIBLE_REMOTE_PORT"] [("defaults", "remote_port")] Integer;
    PRIVATE_KEY_FILE: ["ANSIBLE_PRIVATE_KEY_FILE"] [("defaults", "private_key_file")] Path;
    HOST_KEY_CHECKING: ["ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_HOST_KEY_CHECKING"]
        [("defaults", "host_key_checking"), ("ssh_connection", "host_key_checking")] Boolean;
    TIMEOUT: ["ANSIBLE_TIMEOUT", "ANSIBLE_SSH_TIMEOUT"]
        [("defaults", "timeout"), ("ssh_connection", "timeout")] Integer;
    SSH_ARGS: ["ANSIBLE_SSH_ARGS"] [("ssh_connection", "ssh_args")] Text;
    SSH_COMMON_ARGS: ["ANSIBLE_SSH_COMMON_ARGS"] [("ssh_connection", "ssh_common_args")] Text;
    SSH_EXTRA_ARGS: ["ANSIBLE_SSH_EXTRA_ARGS"] [("ssh_connection", "ssh_extra_args")] Text;
    SSH_RETRIES: ["ANSIBLE_SSH_RETRIES"] [("connection", "retries"), ("ssh_connection", "retries")] Integer;
    ROLES_PATH: ["ANSIBLE_ROLES_PATH"] [("defaults", "roles_path")] PathSpec;
    VAULT_PASSWORD_FILE: ["ANSIBLE_VAULT_PASSWORD_FILE"] [("defaults", "vault_password_file")] Path;
    VAULT_IDENTITY_LIST: ["ANSIBLE_VAULT_IDENTITY_LIST"] [("defaults", "vault_identity_list")] Text;
    ASK_VAULT_PASS: ["ANSIBLE_ASK_VAULT_PASS"] [("defaults", "ask_vault_pass")] Boolean;
    ASK_PASS: ["ANSIBLE_ASK_PASS"] [("defaults", "ask_pass")] Boolean;
    CONNECTION_PASSWORD_FILE: ["ANSIBLE_CONNECTION_PASSWORD_FILE"] [("defaults", "connection_password_file")] Path;
    BECOME_PASSWORD_FILE: ["ANSIBLE_BECOME_PASSWORD_FILE"] [("defaults", "become_password_file")] Path;
    BECOME: ["ANSIBLE_BECOME"] [("privilege_escalation", "become")] Boolean;
    BECOME_METHOD: ["ANSIBLE_BECOME_METHOD"] [("privilege_escalation", "become_method")] Text;
    BECOME_USER: ["ANSIBLE_BECOME_USER"] [("privilege_escalation", "become_user")] Text;
    BECOME_ASK_PASS: ["ANSIBLE_BECOME_ASK_PASS"] [("privilege_escalation", "become_ask_pass")] Boolean;
    TASK_TIMEOUT: ["ANSIBLE_TASK_TIMEOUT"] [("defaults", "task_timeout")] Integer;
    GATHERING: ["ANSIBLE_GATHERING"] [("defaults", "gathering")] Text;
}

/// Where a value came from, for messages and for resolving relative paths.
#[derive(Debug, Clone)]
enum Origin {
    Env(&'static str),
    File(Span),
}

/// A setting's text and where it came from.
#[derive(Debug, Clone)]
pub struct Found {
    pub text: String,
    origin: Origin,
}

impl Found {
    /// The text as a setting reads it: one pair of quotes removed when it comes from the
    /// file, as Ansible's `unquote`.
    fn value(&self) -> &str {
        match self.origin {
            Origin::File(_) => unquote(&self.text),
            Origin::Env(_) => &self.text,
        }
    }
}

/// One option of the file.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    span: Span,
}

/// The file in use (if any) and its sections; keys are lowercase, as configparser keeps them.
#[derive(Debug, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    sections: HashMap<String, HashMap<String, Entry>>,
    /// Said once, when the file is loaded.
    pub warnings: Vec<String>,
    /// The environment variables settings are read from (the process's, or a test's).
    env: HashMap<String, String>,
}

static CURRENT: OnceLock<Config> = OnceLock::new();

/// Finds and reads the file in use; an error names the file and line.
pub fn load() -> Result<&'static Config> {
    if let Some(config) = CURRENT.get() {
        return Ok(config);
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().ok();
    let config = Config::find_and_read(env, cwd.as_deref())?;
    Ok(CURRENT.get_or_init(|| config))
}

/// The configuration loaded by [`load`]; before it (in a library test), only the
/// environment.
pub fn current() -> &'static Config {
    match load() {
        Ok(config) => config,
        Err(_) => CURRENT.get_or_init(|| Config {
            env: std::env::vars().collect(),
            ..Config::default()
        }),
    }
}

impl Config {
    /// The file Ansible would use, read; `cwd` is the working directory.
    pub fn find_and_read(env: HashMap<String, String>, cwd: Option<&Path>) -> Result<Config> {
        let mut warnings = Vec::new();
        let mut candidates = Vec::new();
        let from_env = env.get("ANSIBLE_CONFIG").map(|value| {
            let path = expand_path(value, cwd, &env);
            if path.is_dir() {
                path.join("ansible.cfg")
            } else {
                path
            }
        });
        candidates.extend(from_env.clone());
        let mut skipped_cwd = None;
        if let Some(cwd) = cwd {
            use std::os::unix::fs::PermissionsExt;
            let file = cwd.join("ansible.cfg");
            match std::fs::metadata(cwd) {
                Ok(meta) if meta.permissions().mode() & 0o002 != 0 => {
                    if file.exists() {
                        skipped_cwd = Some(cwd.to_path_buf());
                    }
                }
                Ok(_) => candidates.push(file),
                Err(_) => {}
            }
        }
        if let Some(home) = env.get("HOME").filter(|h| !h.is_empty()) {
            candidates.push(Path::new(home).join(".ansible.cfg"));
        }
        candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
        let chosen = candidates
            .into_iter()
            .find(|path| std::fs::File::open(path).is_ok_and(|_| path.is_file()));
        if let Some(dir) = skipped_cwd.filter(|_| chosen != from_env || chosen.is_none()) {
            warnings.push(format!(
                "rplay is being run in a world writable directory ({}), ignoring it as an ansible.cfg source",
                dir.display()
            ));
        }
        let mut config = match &chosen {
            Some(path) => {
                let text = crate::source::read_input_text(path).map_err(Diagnostic::new)?;
                Config::parse(SourceFile::new(path.clone(), text))?
            }
            None => Config::default(),
        };
        config.path = chosen;
        config.env = env;
        config.warnings.splice(0..0, warnings);
        Ok(config)
    }

    /// Reads the text of a file as Python's configparser does with Ansible's options.
    pub fn parse(file: Arc<SourceFile>) -> Result<Config> {
        let mut sections: HashMap<String, HashMap<String, Entry>> = HashMap::new();
        let mut section: Option<String> = None;
        // The option a more indented line continues, with the indent of its key.
        let mut open: Option<(String, usize)> = None;
        let text = file.text.clone();
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let span = |column: usize, length: usize| Span {
                file: Some(file.clone()),
                line: number,
                column,
                length: length.max(1),
            };
            let indent = raw.len() - raw.trim_start().len();
            let trimmed = raw.trim();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let value = strip_inline_comment(raw).trim();
            if value.is_empty() {
                // A blank line ends nothing: configparser keeps it inside a value that
                // goes on, and drops it at the end.
                if let (Some((key, _)), Some(name)) = (&open, &section) {
                    if let Some(entry) = sections.get_mut(name).and_then(|s| s.get_mut(key)) {
                        entry.value.push('\n');
                    }
                }
                continue;
            }
            if let (Some((key, key_indent)), Some(name)) = (&open, &section) {
                if indent > *key_indent {
                    let entry = sections
                        .get_mut(name)
                        .and_then(|s| s.get_mut(key))
                        .expect("the open option exists");
                    entry.value.push('\n');
                    entry.value.push_str(value);
                    continue;
                }
            }
            open = None;
            if let Some(name) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                if sections.contains_key(name) {
                    return Err(Diagnostic::at(
                        format!("section `{name}` appears twice"),
                        &span(indent + 1, value.len()),
                    )
                    .with_help("merge the two sections into one"));
                }
                sections.insert(name.to_string(), HashMap::new());
                section = Some(name.to_string());
                continue;
            }
            let Some(at) = value.find(['=', ':']) else {
                return Err(Diagnostic::at(
                    format!("`{value}` is neither a `[section]` nor a `key = value` line"),
                    &span(indent + 1, value.len()),
                )
                .with_help("write `key = value`, or start a comment with `#`"));
            };
            let key = value[..at].trim().to_lowercase();
            let Some(name) = &section else {
                return Err(Diagnostic::at(
                    format!("`{key}` comes before any section"),
                    &span(indent + 1, value.len()),
                )
                .with_help("settings go under a section such as `[defaults]`"));
            };
            let options = sections.get_mut(name).expect("the section exists");
            if options.contains_key(&key) {
                return Err(Diagnostic::at(
                    format!("`{key}` is set twice in section `{name}`"),
                    &span(indent + 1, at.max(1)),
                )
                .with_help("keep one of the two lines"));
            }
            // The span covers the value, for messages about it.
            let after = &value[at + 1..];
            let lead = after.len() - after.trim_start().len();
            options.insert(
                key.clone(),
                Entry {
                    value: after.trim().to_string(),
                    span: span(indent + at + 2 + lead, after.trim().chars().count()),
                },
            );
            open = Some((key, indent));
        }
        for options in sections.values_mut() {
            for entry in options.values_mut() {
                let kept = entry.value.trim_end_matches('\n').len();
                entry.value.truncate(kept);
            }
        }
        let mut config = Config {
            sections,
            ..Config::default()
        };
        config.note_what_rplay_does_not_follow();
        Ok(config)
    }

    fn note_what_rplay_does_not_follow(&mut self) {
        let mut notes = Vec::new();
        if let Some(entry) = self.entry("defaults", "hash_behaviour") {
            if unquote(&entry.value).trim().eq_ignore_ascii_case("merge") {
                notes.push((
                    entry.span.clone(),
                    "`hash_behaviour = merge` is not followed: rplay replaces dictionaries, as Ansible does by default (use the `combine` filter)",
                ));
            }
        }
        if let Some(entry) = self.entry("defaults", "error_on_undefined_vars") {
            if !boolean(&entry.value) {
                notes.push((
                    entry.span.clone(),
                    "`error_on_undefined_vars = False` is not followed: an undefined variable is an error (use the `default` filter)",
                ));
            }
        }
        for (span, note) in notes {
            self.warnings.push(format!("{span:?}: {note}"));
        }
    }

    fn entry(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .get(section)
            .and_then(|options| options.get(key))
            .or_else(|| self.sections.get("DEFAULT").and_then(|d| d.get(key)))
    }

    /// A setting's text: the first of its environment variables that is set (and not
    /// empty), else the first of its places in the file.
    pub fn find(&self, setting: &Setting) -> Option<Found> {
        for name in setting.env {
            if let Some(value) = self.env.get(*name).filter(|v| !v.is_empty()) {
                return Some(Found {
                    text: value.clone(),
                    origin: Origin::Env(name),
                });
            }
        }
        setting.ini.iter().find_map(|(section, key)| {
            self.entry(section, key).map(|entry| Found {
                text: entry.value.clone(),
                origin: Origin::File(entry.span.clone()),
            })
        })
    }

    /// A text setting, one pair of quotes removed when it comes from the file.
    pub fn text(&self, setting: &Setting) -> Option<String> {
        self.find(setting).map(|found| found.value().to_string())
    }

    /// A boolean setting, read as Ansible reads one that is not strict: `yes`, `on`, `1`,
    /// `true`, `y`, `t` (any case) are true, anything else false.
    pub fn boolean(&self, setting: &Setting) -> Option<bool> {
        self.text(setting).map(|text| boolean(&text))
    }

    /// A whole number; anything else is an error that names where it was written.
    pub fn integer(&self, setting: &Setting) -> Result<Option<u64>> {
        let Some(found) = self.find(setting) else {
            return Ok(None);
        };
        found
            .value()
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| self.invalid(&found, "a whole number"))
    }

    /// A path setting, expanded and made absolute.
    pub fn path(&self, setting: &Setting) -> Option<PathBuf> {
        self.paths(setting).into_iter().next()
    }

    /// A path-list setting: split at commas ([`Kind::PathList`]) or colons
    /// ([`Kind::PathSpec`]), each path expanded and made absolute.
    pub fn paths(&self, setting: &Setting) -> Vec<PathBuf> {
        let Some(found) = self.find(setting) else {
            return Vec::new();
        };
        let base = match &found.origin {
            Origin::File(_) => self.path.as_deref().and_then(Path::parent),
            Origin::Env(_) => None,
        };
        let cwd = std::env::current_dir().ok();
        let base = base.or(cwd.as_deref());
        let text = found.value();
        let parts: Vec<&str> = match setting.kind {
            Kind::PathList => text.split(',').map(str::trim).collect(),
            Kind::PathSpec => text.split(':').collect(),
            _ => vec![text],
        };
        parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| expand_path(p, base, &self.env))
            .collect()
    }

    fn invalid(&self, found: &Found, wanted: &str) -> Diagnostic {
        match &found.origin {
            Origin::Env(name) => Diagnostic::new(format!(
                "environment variable `{name}` is `{}`, not {wanted}",
                found.text
            )),
            Origin::File(span) => Diagnostic::at(format!("`{}` is not {wanted}", found.text), span)
                .with_help(format!("the setting wants {wanted}")),
        }
    }

    /// What the file says for each setting whose environment variables are all unset,
    /// under the first variable's name, paths made absolute: for code that reads the
    /// environment (the SSH settings), so that the file fills in after it.
    pub fn environment_fallbacks(&self) -> Vec<(String, String)> {
        ALL.iter()
            .filter(|setting| {
                setting
                    .env
                    .iter()
                    .all(|name| self.env.get(*name).is_none_or(String::is_empty))
            })
            .filter_map(|setting| {
                let text = match setting.kind {
                    Kind::Path | Kind::PathList | Kind::PathSpec => {
                        let paths = self.paths(setting);
                        if paths.is_empty() {
                            return None;
                        }
                        let separator = if setting.kind == Kind::PathSpec {
                            ":"
                        } else {
                            ","
                        };
                        paths
                            .iter()
                            .map(|p| p.to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join(separator)
                    }
                    _ => self.text(setting)?,
                };
                Some((setting.env[0].to_string(), text))
            })
            .collect()
    }
}

/// A value without the `;` comment configparser strips: one that follows whitespace.
fn strip_inline_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b';' && index > 0 && bytes[index - 1].is_ascii_whitespace() {
            return &line[..index];
        }
    }
    line
}

/// One pair of matching surrounding quotes removed, as Ansible's `unquote`.
fn unquote(text: &str) -> &str {
    let bytes = text.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        &text[1..text.len() - 1]
    } else {
        text
    }
}

/// Ansible's lenient boolean.
fn boolean(text: &str) -> bool {
    matches!(
        unquote(text.trim()).to_ascii_lowercase().as_str(),
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0"
    )
}

/// `{{CWD}}`, `$VAR`/`${VAR}` (unknown ones left as written) and a leading `~` expanded;
/// a relative result joined to `base`.
fn expand_path(text: &str, base: Option<&Path>, env: &HashMap<String, String>) -> PathBuf {
    let mut text = text.to_string();
    if text.contains("{{CWD}}") {
        if let Ok(cwd) = std::env::current_dir() {
            text = text.replace("{{CWD}}", &cwd.to_string_lossy());
        }
    }
    let text = expand_vars(&text, env);
    let expanded = match (text.strip_prefix('~'), env.get("HOME")) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => text,
    };
    let path = PathBuf::from(expanded);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

/// `$NAME` and `${NAME}` replaced by the variable's value; unknown ones stay, as in
/// Python's `os.path.expandvars`.
fn expand_vars(text: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, written_len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match env.get(name).filter(|_| !name.is_empty()) {
            Some(value) => {
                out.push_str(value);
                rest = &after[written_len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(SourceFile::new("/etc/rplay-test/ansible.cfg", text)).unwrap()
    }

    fn error(text: &str) -> String {
        Config::parse(SourceFile::new("ansible.cfg", text))
            .unwrap_err()
            .render()
    }

    #[test]
    fn reads_sections_continuations_comments_and_quotes() {
        let mut config = parse(
            "# a comment\n[defaults]\nForks = 7\nremote_user: \"deploy\"\ninventory = hosts.ini , other\n\
             roles_path = roles:/opt/roles ; inline comment\nvault_password_file = ~/.vault#1\n\
             \n[ssh_connection]\nssh_args = -o ControlMaster=auto\n    -o ControlPersist=30m\n\n\
             pipelining = True\n[privilege_escalation]\nbecome = yes\n",
        );
        config.path = Some(PathBuf::from("/etc/rplay-test/ansible.cfg"));
        config.env.insert("HOME".into(), "/home/me".into());
        assert_eq!(config.integer(&FORKS).unwrap(), Some(7));
        assert_eq!(config.text(&REMOTE_USER).as_deref(), Some("deploy"));
        assert_eq!(
            config.paths(&INVENTORY),
            [
                PathBuf::from("/etc/rplay-test/hosts.ini"),
                PathBuf::from("/etc/rplay-test/other")
            ]
        );
        assert_eq!(
            config.paths(&ROLES_PATH),
            [
                PathBuf::from("/etc/rplay-test/roles"),
                PathBuf::from("/opt/roles")
            ]
        );
        // `#` inside a value is kept; `~` is the home directory.
        assert_eq!(
            config.path(&VAULT_PASSWORD_FILE),
            Some(PathBuf::from("/home/me/.vault#1"))
        );
        assert_eq!(
            config.text(&SSH_ARGS).as_deref(),
            Some("-o ControlMaster=auto\n-o ControlPersist=30m")
        );
        assert_eq!(config.boolean(&BECOME), Some(true));
        assert_eq!(config.boolean(&ASK_PASS), None);
    }

    #[test]
    fn environment_variables_come_before_the_file() {
        let mut config = parse("[defaults]\nforks = 7\nhost_key_checking = False\n");
        config.env.insert("ANSIBLE_FORKS".into(), "12".into());
        config
            .env
            .insert("ANSIBLE_SSH_HOST_KEY_CHECKING".into(), "yes".into());
        assert_eq!(config.integer(&FORKS).unwrap(), Some(12));
        // The second variable of a setting counts too.
        assert_eq!(config.boolean(&HOST_KEY_CHECKING), Some(true));
        // Fallbacks name only settings no variable sets.
        let fallbacks = config.environment_fallbacks();
        assert!(fallbacks.is_empty(), "{fallbacks:?}");
        config.env.clear();
        assert_eq!(
            config.environment_fallbacks(),
            [
                ("ANSIBLE_FORKS".to_string(), "7".to_string()),
                ("ANSIBLE_HOST_KEY_CHECKING".to_string(), "False".to_string())
            ]
        );
    }

    #[test]
    fn bad_files_and_values_point_at_the_line() {
        let text = error("[defaults]\nforks = 5\n# and again\nforks = 6\n");
        assert!(
            text.contains("`forks` is set twice in section `defaults`"),
            "{text}"
        );
        assert!(text.contains("ansible.cfg:4:1"), "{text}");
        let text = error("forks = 5\n");
        assert!(text.contains("`forks` comes before any section"), "{text}");
        let text = error("[defaults]\njust words\n");
        assert!(text.contains("neither a `[section]`"), "{text}");
        assert!(text.contains("^^^^^^^^^^"), "{text}");
        let text = error("[defaults]\n[defaults]\n");
        assert!(text.contains("section `defaults` appears twice"), "{text}");
        let config = parse("[defaults]\nforks = many\n");
        let text = config.integer(&FORKS).unwrap_err().render();
        assert!(text.contains("`many` is not a whole number"), "{text}");
        assert!(text.contains(":2:9"), "{text}");
    }

    #[test]
    fn settings_rplay_does_not_follow_are_reported() {
        let config = parse("[defaults]\nhash_behaviour = merge\nerror_on_undefined_vars = no\n");
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
        assert!(
            config.warnings[0].contains("ansible.cfg:2:18"),
            "{:?}",
            config.warnings
        );
        assert!(parse("[defaults]\nhash_behaviour = replace\n")
            .warnings
            .is_empty());
    }

    #[test]
    fn the_first_file_found_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(home.join(".ansible.cfg"), "[defaults]\nforks = 3\n").unwrap();
        let env = |pairs: &[(&str, &Path)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string_lossy().into_owned()))
                .collect()
        };
        let config = Config::find_and_read(env(&[("HOME", &home)]), Some(&work)).unwrap();
        assert_eq!(config.path, Some(home.join(".ansible.cfg")));
        std::fs::write(work.join("ansible.cfg"), "[defaults]\nforks = 4\n").unwrap();
        let config = Config::find_and_read(env(&[("HOME", &home)]), Some(&work)).unwrap();
        assert_eq!(config.integer(&FORKS).unwrap(), Some(4));
        // ANSIBLE_CONFIG first, a directory meaning its ansible.cfg.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("ansible.cfg"), "[defaults]\nforks = 5\n").unwrap();
        let config = Config::find_and_read(
            env(&[("HOME", &home), ("ANSIBLE_CONFIG", &elsewhere)]),
            Some(&work),
        )
        .unwrap();
        assert_eq!(config.integer(&FORKS).unwrap(), Some(5));
        // A world-writable working directory is passed over, with a warning.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777)).unwrap();
        let config = Config::find_and_read(env(&[("HOME", &home)]), Some(&work)).unwrap();
        assert_eq!(config.integer(&FORKS).unwrap(), Some(3));
        assert!(
            config.warnings[0].contains("world writable"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn variables_in_paths() {
        let env: HashMap<String, String> = [("VENV".to_string(), "/opt/venv".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            expand_vars("$VENV/roles:${VENV}/x:$UNSET/y:$", &env),
            "/opt/venv/roles:/opt/venv/x:$UNSET/y:$"
        );
    }
}
