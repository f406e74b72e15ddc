//! `ssh_config` files (`~/.ssh/config`, `/etc/ssh/ssh_config`), so that a host reached
//! with `ssh web1` is reached the same way by rplay: same address, user, port, keys and
//! jump host.
//!
//! As in OpenSSH, the first value obtained for an option wins (options given on the
//! command line come first, then the user file, then the system one); `IdentityFile` and
//! `CertificateFile` accumulate. `Host` patterns match the name as given (the inventory's
//! `ansible_host`, else its host name). `Include` takes globs, relative to `~/.ssh` in the
//! user file and to `/etc/ssh` in the system one. `Match` understands `all`, `host`,
//! `originalhost`, `user` and `localuser`, negated with `!`; a block with any other
//! criterion (`exec`, `canonical`, `final`, `tagged`) is skipped.

use super::host_pattern::HostPatterns;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// Options that take several values, each line adding one.
const ACCUMULATING: &[&str] = &[
    "identityfile",
    "certificatefile",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "sendenv",
    "setenv",
];

/// Options gathered for one host, keyed by lowercase keyword.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshOptions {
    values: HashMap<String, Vec<String>>,
}

impl SshOptions {
    /// Sets an option unless it already has a value (first obtained wins).
    pub fn set(&mut self, keyword: &str, value: &str) {
        let keyword = keyword.to_ascii_lowercase();
        let value = unquote(value.trim()).to_string();
        if ACCUMULATING.contains(&keyword.as_str()) {
            self.values.entry(keyword).or_default().push(value);
        } else {
            self.values.entry(keyword).or_insert_with(|| vec![value]);
        }
    }

    /// Sets an option written as on the command line: `Key=Value` or `Key Value`.
    pub fn set_text(&mut self, text: &str) -> Result<(), String> {
        match split_keyword(text.trim()) {
            Some((keyword, value)) => {
                self.set(keyword, value);
                Ok(())
            }
            None => Err(format!(
                "`{text}` is not an ssh option (expected `Key=Value`)"
            )),
        }
    }

    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.values
            .get(&keyword.to_ascii_lowercase())
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    pub fn all(&self, keyword: &str) -> &[String] {
        self.values
            .get(&keyword.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// What `Host` and `Match` lines are matched against.
#[derive(Debug, Clone)]
pub struct MatchContext {
    /// The host name as given, before `HostName` replaces it.
    pub host: String,
    /// The local user name, for `Match localuser` and `%u`.
    pub local_user: String,
    /// Where relative `Include` paths start: `~/.ssh` or `/etc/ssh`.
    pub include_dir: PathBuf,
    pub home: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
enum Line {
    Host(HostPatterns),
    Match(Vec<Criterion>),
    Include(Vec<String>),
    Option { keyword: String, value: String },
}

#[derive(Debug, Clone, PartialEq)]
struct Criterion {
    negated: bool,
    kind: String,
    argument: Option<String>,
}

/// One parsed `ssh_config` file.
#[derive(Debug, Clone, PartialEq)]
pub struct SshConfigFile {
    lines: Vec<Line>,
}

impl SshConfigFile {
    pub fn parse(text: &str) -> SshConfigFile {
        let mut lines = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((keyword, value)) = split_keyword(line) else {
                continue;
            };
            let value = value.trim();
            lines.push(match keyword.to_ascii_lowercase().as_str() {
                "host" => Line::Host(HostPatterns::parse(&words(value).join(" "))),
                "match" => Line::Match(parse_criteria(value)),
                "include" => Line::Include(words(value)),
                other => Line::Option {
                    keyword: other.to_string(),
                    value: value.to_string(),
                },
            });
        }
        SshConfigFile { lines }
    }

    /// Reads a file through a cache kept for the run; a missing file is an empty one.
    pub fn load(path: &Path) -> Arc<SshConfigFile> {
        type Cache = Mutex<HashMap<PathBuf, (Option<SystemTime>, Arc<SshConfigFile>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let stamp = std::fs::metadata(path).ok().and_then(|m| m.modified().ok());
        let cache = CACHE.get_or_init(Default::default);
        if let Some((cached, file)) = cache.lock().expect("cache lock").get(path) {
            if *cached == stamp && stamp.is_some() {
                return file.clone();
            }
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let file = Arc::new(SshConfigFile::parse(&text));
        cache
            .lock()
            .expect("cache lock")
            .insert(path.to_path_buf(), (stamp, file.clone()));
        file
    }

    /// Adds the options that apply to `context.host` to `options`.
    pub fn apply(&self, context: &MatchContext, options: &mut SshOptions) {
        self.apply_at_depth(context, options, 0);
    }

    fn apply_at_depth(&self, context: &MatchContext, options: &mut SshOptions, depth: usize) {
        // Lines before the first `Host` apply to every host.
        let mut active = true;
        for line in &self.lines {
            match line {
                Line::Host(patterns) => active = patterns.matches(&context.host),
                Line::Match(criteria) => active = matches_criteria(criteria, context, options),
                Line::Include(patterns) if active && depth < 16 => {
                    for path in include_paths(patterns, context) {
                        // The included file's own `Host` lines do not outlive it.
                        SshConfigFile::load(&path).apply_at_depth(context, options, depth + 1);
                    }
                }
                Line::Include(_) => {}
                Line::Option { keyword, value } if active => options.set(keyword, value),
                Line::Option { .. } => {}
            }
        }
    }
}

fn include_paths(patterns: &[String], context: &MatchContext) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for pattern in patterns {
        let expanded = expand_tilde(pattern, &context.home);
        let full = if Path::new(&expanded).is_absolute() {
            PathBuf::from(expanded)
        } else {
            context.include_dir.join(expanded)
        };
        let mut matched: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
            .map(|entries| entries.filter_map(Result::ok).collect())
            .unwrap_or_default();
        matched.sort();
        paths.extend(matched);
    }
    paths
}

fn parse_criteria(text: &str) -> Vec<Criterion> {
    let mut criteria = Vec::new();
    let mut words = words(text).into_iter();
    while let Some(word) = words.next() {
        let (negated, kind) = match word.strip_prefix('!') {
            Some(rest) => (true, rest.to_ascii_lowercase()),
            None => (false, word.to_ascii_lowercase()),
        };
        let argument = match kind.as_str() {
            "all" | "canonical" | "final" => None,
            _ => words.next(),
        };
        criteria.push(Criterion {
            negated,
            kind,
            argument,
        });
    }
    criteria
}

fn matches_criteria(criteria: &[Criterion], context: &MatchContext, options: &SshOptions) -> bool {
    criteria.iter().all(|criterion| {
        let argument = criterion.argument.as_deref().unwrap_or("");
        let result = match criterion.kind.as_str() {
            "all" => true,
            "host" => {
                let host = options.get("hostname").unwrap_or(&context.host);
                HostPatterns::parse(argument).matches(host)
            }
            "originalhost" => HostPatterns::parse(argument).matches(&context.host),
            "user" => HostPatterns::parse(argument)
                .matches(options.get("user").unwrap_or(&context.local_user)),
            "localuser" => HostPatterns::parse(argument).matches(&context.local_user),
            // Criteria needing a shell or a second pass are not evaluated: the block is
            // skipped whichever way it is negated.
            _ => return false,
        };
        result != criterion.negated
    })
}

/// Splits `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let end = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let keyword = &line[..end];
    let mut rest = line[end..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    if keyword.is_empty() {
        None
    } else {
        Some((keyword, rest))
    }
}

/// Words of a value, double quotes grouping spaces.
fn words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// `~` and `~/...` become the home directory.
pub fn expand_tilde(path: &str, home: &Path) -> String {
    if path == "~" {
        home.display().to_string()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest).display().to_string()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(host: &str) -> MatchContext {
        MatchContext {
            host: host.to_string(),
            local_user: "me".to_string(),
            include_dir: PathBuf::from("/nonexistent/.ssh"),
            home: PathBuf::from("/home/me"),
        }
    }

    fn options_for(text: &str, host: &str) -> SshOptions {
        let mut options = SshOptions::default();
        SshConfigFile::parse(text).apply(&context(host), &mut options);
        options
    }

    const CONFIG: &str = r#"
# top lines apply to all
ServerAliveInterval 20

Host web? !web9
    HostName %h.internal
    User deploy
    Port=2222
    IdentityFile ~/.ssh/web_key

Host db-*
    HostName "10.0.0.5"
    ProxyJump bastion

Host *
    User fallback
    IdentityFile ~/.ssh/id_ed25519
    Port 22
"#;

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let options = options_for(CONFIG, "web1");
        assert_eq!(options.get("hostname"), Some("%h.internal"));
        assert_eq!(options.get("user"), Some("deploy"));
        assert_eq!(options.get("port"), Some("2222"));
        assert_eq!(options.get("ServerAliveInterval"), Some("20"));
        assert_eq!(
            options.all("identityfile"),
            ["~/.ssh/web_key", "~/.ssh/id_ed25519"]
        );
    }

    #[test]
    fn negated_and_unmatched_hosts_fall_through() {
        let options = options_for(CONFIG, "web9");
        assert_eq!(options.get("user"), Some("fallback"));
        assert_eq!(options.get("hostname"), None);
        let options = options_for(CONFIG, "db-main");
        assert_eq!(options.get("hostname"), Some("10.0.0.5"));
        assert_eq!(options.get("proxyjump"), Some("bastion"));
        assert_eq!(options.get("port"), Some("22"));
    }

    #[test]
    fn command_line_options_come_first() {
        let mut options = SshOptions::default();
        options.set_text("User=root").unwrap();
        options.set_text("StrictHostKeyChecking no").unwrap();
        SshConfigFile::parse(CONFIG).apply(&context("web1"), &mut options);
        assert_eq!(options.get("user"), Some("root"));
        assert_eq!(options.get("stricthostkeychecking"), Some("no"));
        assert!(options.set_text("").is_err());
    }

    #[test]
    fn match_blocks() {
        let text = "Match host web* user deploy\n  Port 1\nMatch !localuser me\n  Port 2\nMatch exec true\n  Port 3\nMatch all\n  Port 4\n";
        let mut options = SshOptions::default();
        options.set("user", "deploy");
        SshConfigFile::parse(text).apply(&context("web1"), &mut options);
        assert_eq!(options.get("port"), Some("1"));
        let options = options_for(text, "db1");
        assert_eq!(options.get("port"), Some("4"));
    }

    #[test]
    fn includes_are_read_where_they_stand() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/10-web.conf"),
            "Host web1\n  User included\nHost other\n  Port 9\n",
        )
        .unwrap();
        let text = "Include conf.d/*.conf\nPort 2200\n";
        let mut options = SshOptions::default();
        let context = MatchContext {
            include_dir: dir.path().to_path_buf(),
            ..context("web1")
        };
        SshConfigFile::parse(text).apply(&context, &mut options);
        assert_eq!(options.get("user"), Some("included"));
        // The `Host other` inside the included file does not swallow `Port 2200`.
        assert_eq!(options.get("port"), Some("2200"));
    }

    #[test]
    fn tilde_expansion() {
        assert_eq!(
            expand_tilde("~/.ssh/id", Path::new("/home/me")),
            "/home/me/.ssh/id"
        );
        assert_eq!(expand_tilde("/abs", Path::new("/home/me")), "/abs");
    }
}
