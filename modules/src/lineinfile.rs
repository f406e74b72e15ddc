//! `lineinfile`: makes sure one line is in a file (or that no line matching a pattern is).
//!
//! The file is read once and the edit computed here with Ansible's exact rules: with
//! `regexp` or `search_string`, the last matching line is replaced (the first with
//! `firstmatch`); otherwise the line is inserted after the last match of `insertafter`
//! (default: at the end) or before the last match of `insertbefore`. Nothing needs doing
//! when the edit leaves the file byte for byte as it is and mode, owner and group match.
//! With `backrefs`, a `regexp` that matches nothing changes nothing.
//!
//! ```yaml
//! - name: Let bridged traffic through iptables
//!   lineinfile:
//!     path: /etc/sysctl.d/99-kubernetes.conf
//!     regexp: '^net\.bridge\.bridge-nf-call-iptables'
//!     line: net.bridge.bridge-nf-call-iptables = 1
//!     create: true
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::Presence;
use crate::args::{ansible_bool, Args};
use crate::file::{attribute_diff, text, text_diff, EditedFile, Wanted};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::replace::python_regex;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use regex::bytes::{Captures, Regex};
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "lineinfile",
    aliases: &["ansible.builtin.lineinfile", "ansible.legacy.lineinfile"],
    doc: include_str!("lineinfile.rs"),
    free_form: None,
    build: crate::registry::build::<LineinfileArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineinfileArgs {
    /// The file to change; a symlink is followed and the file it points to changed.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// `present` puts the line in, `absent` removes every matching line.
    #[serde(default)]
    pub state: Presence,
    /// A Python regular expression for the line to replace (or, with `absent`, remove).
    #[serde(default, alias = "regex")]
    pub regexp: Option<String>,
    /// Plain text for the line to replace or remove, instead of `regexp`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub search_string: Option<String>,
    /// The line to put in the file; with `backrefs`, `\1` and `\g<name>` insert groups.
    #[serde(default, alias = "value", deserialize_with = "text::deserialize")]
    pub line: Option<String>,
    /// Insert after the last line matching this expression, or `EOF` (the default).
    #[serde(default)]
    pub insertafter: Option<String>,
    /// Insert before the last line matching this expression, or `BOF`.
    #[serde(default)]
    pub insertbefore: Option<String>,
    /// Expand `regexp` groups in `line`; a `regexp` that matches nothing then changes
    /// nothing rather than adding the line.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backrefs: bool,
    /// Create the file (and its directory) when it does not exist.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub create: bool,
    /// Keep a copy of the old file, named `PATH.PID.YYYY-MM-DD@HH:MM:SS~`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// Use the first match of `regexp`/`search_string`/`insertafter`/`insertbefore`
    /// rather than the last.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub firstmatch: bool,
    /// A command that must accept the new file before it replaces the old; `%s` is the
    /// path of the new file.
    #[serde(default)]
    pub validate: Option<String>,
    /// Permissions, octal (`"0644"`) or symbolic (`"u=rw,g=r,o=r"`).
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// The user that should own the file, by name or uid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub owner: Option<String>,
    /// The group that should own the file, by name or gid.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub group: Option<String>,
    /// Accepted for compatibility; every write is atomic.
    #[serde(default)]
    pub unsafe_writes: Option<Value>,
}

impl Args for LineinfileArgs {
    fn validate(&self) -> Result<(), ArgError> {
        for (a, b, a_set, b_set) in [
            (
                "insertbefore",
                "insertafter",
                self.insertbefore.is_some(),
                self.insertafter.is_some(),
            ),
            (
                "regexp",
                "search_string",
                self.regexp.is_some(),
                self.search_string.is_some(),
            ),
            (
                "backrefs",
                "search_string",
                self.backrefs,
                self.search_string.is_some(),
            ),
        ] {
            if a_set && b_set {
                return Err(ArgError::new(format!(
                    "`{a}` and `{b}` are mutually exclusive"
                )));
            }
        }
        match self.state {
            Presence::Present => {
                if self.backrefs && self.regexp.is_none() {
                    return Err(ArgError::new("`regexp` is required with `backrefs: true`"));
                }
                if self.line.is_none() {
                    return Err(ArgError::new("`line` is required with `state: present`"));
                }
            }
            Presence::Absent => {
                if self.regexp.is_none() && self.search_string.is_none() && self.line.is_none() {
                    return Err(ArgError::new(
                        "one of `line`, `search_string` or `regexp` is required with `state: absent`",
                    ));
                }
            }
        }
        self.regexes().map(|_| ())
    }
}

/// The compiled `regexp` and `insertafter`/`insertbefore` expressions.
struct Regexes {
    line: Option<Regex>,
    insert: Option<Regex>,
}

impl LineinfileArgs {
    fn regexes(&self) -> Result<Regexes, ArgError> {
        let compile = |key: &str, pattern: &str| {
            python_regex::compile(pattern, false, false).map_err(|e| ArgError::new(e).at(key))
        };
        let line = self
            .regexp
            .as_deref()
            .map(|p| compile("regexp", p))
            .transpose()?;
        let insert = match (self.insertafter.as_deref(), self.insertbefore.as_deref()) {
            (Some(after), _) if after != "BOF" && after != "EOF" => {
                Some(compile("insertafter", after)?)
            }
            (None, Some(before)) if before != "BOF" => Some(compile("insertbefore", before)?),
            _ => None,
        };
        Ok(Regexes { line, insert })
    }
}

impl Module for LineinfileArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let path = &self.path;
            // Ansible's failures here carry an `rc`: 256 for a directory, 257 for a missing
            // file.
            let file = match EditedFile::read_or_directory(transport, path).await? {
                Ok(file) => file,
                Err(message) => return Ok(Plan::fail(message).with("rc", 256)),
            };
            let regexes = self
                .regexes()
                .map_err(|e| ModuleError::failed(e.to_string()))?;
            let before = file.content.clone().unwrap_or_default();
            let mut lines = read_lines(&before);
            let (message, found) = match self.state {
                Presence::Present => {
                    if file.content.is_none() && !self.create {
                        return Ok(Plan::fail(format!("Destination {path} does not exist !"))
                            .with("rc", 257));
                    }
                    let message =
                        present(&mut lines, self, &regexes).map_err(ModuleError::Failed)?;
                    (message, None)
                }
                Presence::Absent => {
                    if file.content.is_none() {
                        return Ok(Plan::ok("file not present").with("msg", "file not present"));
                    }
                    let removed = absent(&mut lines, self, &regexes);
                    let message = (removed > 0).then(|| format!("{removed} line(s) removed"));
                    (message, Some(removed))
                }
            };
            let after: Vec<u8> = lines.concat();
            let new_content = message.as_ref().map(|_| after.clone());
            let wanted = Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            };
            let edit = file
                .steps(
                    transport,
                    new_content,
                    &wanted,
                    self.validate.as_deref(),
                    self.backup,
                )
                .await?;
            let message = edit.message(message.as_deref().unwrap_or_default());
            let mut plan = if edit.steps.is_empty() {
                Plan::ok(match self.state {
                    Presence::Present => format!("{path} already has the line"),
                    Presence::Absent => format!("{path} has no matching line"),
                })
            } else {
                Plan::change(message.clone(), edit.steps.clone())
            };
            plan = plan
                .with("msg", message)
                .with("backup", edit.backup.clone().unwrap_or_default());
            if let Some(found) = found {
                plan = plan.with("found", found);
            }
            if before != after {
                if let Some(diff) = text_diff(path, &before, &after) {
                    plan = plan.with_diff(diff);
                }
            }
            Ok(attribute_diff(plan, &edit.change))
        })
    }
}

/// Python's `readlines` on bytes: lines split after each `\n`, endings kept.
fn read_lines(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its trailing `\r` and `\n` characters (Python's `rstrip(b'\r\n')`).
fn strip_ending(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| *b != b'\r' && *b != b'\n')
        .map_or(0, |at| at + 1);
    &line[..end]
}

/// Python's `regex.search(line)` for a line that keeps its `\n`: Python's `$` also
/// matches before a final newline, Rust's does not, so the line is tried without it first.
pub(crate) fn search_line<'h>(regex: &Regex, line: &'h [u8]) -> Option<Captures<'h>> {
    match line.strip_suffix(b"\n") {
        Some(stripped) => regex.captures(stripped).or_else(|| regex.captures(line)),
        None => regex.captures(line),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Ansible's `present()`: edits `lines` and says what it did, `None` for nothing.
fn present(
    lines: &mut Vec<Vec<u8>>,
    args: &LineinfileArgs,
    regexes: &Regexes,
) -> Result<Option<String>, String> {
    let line = args.line.as_deref().unwrap_or_default().as_bytes();
    let (insertafter, insertbefore) =
        match (args.insertafter.as_deref(), args.insertbefore.as_deref()) {
            (None, None) => (Some("EOF"), None),
            other => other,
        };
    // Where `regexp`/`search_string` or the exact line matched, and where an
    // `insertafter`/`insertbefore` line puts the new one.
    let mut matched_at: Option<usize> = None;
    let mut insert_at: Option<usize> = None;
    let mut pattern_matched = false;
    if let Some(regex) = &regexes.line {
        for (number, current) in lines.iter().enumerate() {
            if search_line(regex, current).is_some() {
                matched_at = Some(number);
                pattern_matched = true;
                if args.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(search) = &args.search_string {
        for (number, current) in lines.iter().enumerate() {
            if contains(current, search.as_bytes()) {
                matched_at = Some(number);
                pattern_matched = true;
                if args.firstmatch {
                    break;
                }
            }
        }
    }
    if !pattern_matched {
        for (number, current) in lines.iter().enumerate() {
            if line == strip_ending(current) {
                matched_at = Some(number);
            } else if let Some(insert) = &regexes.insert {
                if search_line(insert, current).is_some() {
                    if insertafter.is_some_and(|s| !s.is_empty()) {
                        insert_at = Some(number + 1);
                        if args.firstmatch {
                            break;
                        }
                    }
                    if insertbefore.is_some_and(|s| !s.is_empty()) {
                        insert_at = Some(number);
                        if args.firstmatch {
                            break;
                        }
                    }
                }
            }
        }
    }

    let with_newline = |bytes: &[u8]| {
        let mut bytes = bytes.to_vec();
        bytes.push(b'\n');
        bytes
    };
    let added = Ok(Some("line added".to_string()));
    if let Some(at) = matched_at {
        let mut new_line = match (&regexes.line, args.backrefs && pattern_matched) {
            (Some(regex), true) => {
                let captures = search_line(regex, &lines[at])
                    .ok_or_else(|| "the matched line no longer matches".to_string())?;
                python_regex::expand(line, &captures, regex)?
            }
            _ => line.to_vec(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        if lines[at] != new_line {
            lines[at] = new_line;
            return Ok(Some("line replaced".to_string()));
        }
        return Ok(None);
    }
    if args.backrefs {
        // Without a match there is nothing to fill the groups with: change nothing.
        return Ok(None);
    }
    if insertbefore == Some("BOF") || insertafter == Some("BOF") {
        lines.insert(0, with_newline(line));
        return added;
    }
    let Some(at) = insert_at.filter(|_| insertafter != Some("EOF")) else {
        if let Some(last) = lines.last() {
            if !matches!(last.last(), Some(b'\n' | b'\r')) {
                lines.push(b"\n".to_vec());
            }
        }
        lines.push(with_newline(line));
        return added;
    };
    if insertafter.is_some() {
        if at == lines.len() {
            if strip_ending(&lines[at - 1]) != line {
                lines.push(with_newline(line));
                return added;
            }
        } else if strip_ending(&lines[at]) != line {
            lines.insert(at, with_newline(line));
            return added;
        }
        return Ok(None);
    }
    lines.insert(at, with_newline(line));
    added
}

/// Ansible's `absent()`: removes every matching line and says how many.
fn absent(lines: &mut Vec<Vec<u8>>, args: &LineinfileArgs, regexes: &Regexes) -> usize {
    let before = lines.len();
    lines.retain(|current| {
        let matches = if let Some(regex) = &regexes.line {
            search_line(regex, current).is_some()
        } else if let Some(search) = &args.search_string {
            contains(current, search.as_bytes())
        } else {
            args.line.as_deref().unwrap_or_default().as_bytes() == strip_ending(current)
        };
        !matches
    });
    before - lines.len()
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use serde_json::{json, Value};

    /// Runs a task against a file with `initial` content and returns the new content
    /// and message, checking that a second run changes nothing.
    async fn edit(initial: Option<&[u8]>, args: Value) -> (Vec<u8>, String) {
        let fx = Fixture::new();
        let path = fx.path("f");
        if let Some(initial) = initial {
            fx.write("f", initial, 0o644);
        }
        let mut args = args;
        args["path"] = json!(path);
        let first = fx.plan("lineinfile", args.clone()).await.unwrap();
        fx.apply(&first).await;
        let second = fx.plan("lineinfile", args).await.unwrap();
        assert!(
            second.steps.is_empty(),
            "second run changes nothing: {second:?}"
        );
        let message = first.result["msg"].as_str().unwrap_or_default().to_string();
        (fx.read("f"), message)
    }

    // The expected bytes and messages below were recorded from ansible-core 2.19.

    #[tokio::test]
    async fn replaces_the_last_match() {
        let (content, message) = edit(
            Some(b"a=1\nb=2\na=3\n"),
            json!({"regexp": "^a=", "line": "a=9"}),
        )
        .await;
        assert_eq!(content, b"a=1\nb=2\na=9\n");
        assert_eq!(message, "line replaced");
    }

    #[tokio::test]
    async fn firstmatch_replaces_the_first() {
        let (content, _) = edit(
            Some(b"a=1\nb=2\na=3\n"),
            json!({"regexp": "^a=", "line": "a=9", "firstmatch": true}),
        )
        .await;
        assert_eq!(content, b"a=9\nb=2\na=3\n");
    }

    #[tokio::test]
    async fn appends_after_a_last_line_without_newline() {
        let (content, message) = edit(Some(b"x\ny"), json!({"line": "z"})).await;
        assert_eq!(content, b"x\ny\nz\n");
        assert_eq!(message, "line added");
    }

    #[tokio::test]
    async fn inserts_after_the_last_insertafter_match() {
        let (content, _) = edit(
            Some(b"[a]\nk=1\n[a]\nk=2\n[b]\n"),
            json!({"line": "new=1", "insertafter": r"^\[a\]"}),
        )
        .await;
        assert_eq!(content, b"[a]\nk=1\n[a]\nnew=1\nk=2\n[b]\n");
    }

    #[tokio::test]
    async fn inserts_before_bof_and_before_a_match() {
        let (content, _) = edit(
            Some(b"a\nb\n"),
            json!({"line": "top", "insertbefore": "BOF"}),
        )
        .await;
        assert_eq!(content, b"top\na\nb\n");
        let (content, _) = edit(
            Some(b"a\nb\nb\n"),
            json!({"line": "x", "insertbefore": "^b"}),
        )
        .await;
        assert_eq!(content, b"a\nb\nx\nb\n");
    }

    #[tokio::test]
    async fn regexp_without_a_match_appends() {
        let (content, message) = edit(
            Some(b"a\n"),
            json!({"regexp": "^nomatch", "line": "new", "insertafter": "^zzz"}),
        )
        .await;
        assert_eq!(content, b"a\nnew\n");
        assert_eq!(message, "line added");
    }

    #[tokio::test]
    async fn backrefs_expand_groups_and_no_match_changes_nothing() {
        let (content, _) = edit(
            Some(b"port = 80\n"),
            json!({"regexp": r"^port = (\d+)$", "line": r"port = \g<1>0 # was \1", "backrefs": true}),
        )
        .await;
        assert_eq!(content, b"port = 800 # was 80\n");
        let fx = Fixture::new();
        let path = fx.write("f", b"a\n", 0o644);
        let plan = fx
            .plan(
                "lineinfile",
                json!({"path": path, "regexp": "^(zzz)", "line": r"\1", "backrefs": true}),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(plan.result["msg"], "");
    }

    #[tokio::test]
    async fn search_string_is_plain_text() {
        let (content, _) = edit(
            Some(b"a.b = 1\naxb = 2\n"),
            json!({"search_string": "a.b", "line": "a.b = 3"}),
        )
        .await;
        assert_eq!(content, b"a.b = 3\naxb = 2\n");
    }

    #[tokio::test]
    async fn absent_removes_every_match() {
        let (content, message) = edit(
            Some(b"keep\n# x\nkeep\n# y\n"),
            json!({"regexp": "^#", "state": "absent"}),
        )
        .await;
        assert_eq!(content, b"keep\nkeep\n");
        assert_eq!(message, "2 line(s) removed");
    }

    #[tokio::test]
    async fn an_exact_line_without_newline_is_completed() {
        let (content, message) = edit(Some(b"a\nlast"), json!({"line": "last"})).await;
        assert_eq!(content, b"a\nlast\n");
        assert_eq!(message, "line replaced");
    }

    #[tokio::test]
    async fn create_makes_the_file_and_its_directory_with_the_mode() {
        let fx = Fixture::new();
        let path = fx.path("sub/dir/new.conf");
        let plan = fx
            .converge(
                "lineinfile",
                json!({"path": path, "line": "k=v", "create": true, "mode": "0600"}),
            )
            .await;
        assert_eq!(fx.read("sub/dir/new.conf"), b"k=v\n");
        assert_eq!(fx.mode("sub/dir/new.conf"), 0o600);
        assert_eq!(
            plan.result["msg"],
            "line added and ownership, perms or SE linux context changed"
        );
    }

    #[tokio::test]
    async fn a_missing_file_without_create_fails_with_rc_257() {
        let fx = Fixture::new();
        let plan = fx
            .plan("lineinfile", json!({"path": fx.path("none"), "line": "x"}))
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.failure,
            Some(format!("Destination {} does not exist !", fx.path("none")))
        );
        assert_eq!(plan.result["rc"], 257);
        assert!(!std::path::Path::new(&fx.path("none")).exists());
    }

    #[tokio::test]
    async fn a_directory_fails_with_rc_256() {
        let fx = Fixture::new();
        std::fs::create_dir(fx.path("d")).unwrap();
        let plan = fx
            .plan("lineinfile", json!({"path": fx.path("d"), "line": "x"}))
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.failure,
            Some(format!("Path {} is a directory !", fx.path("d")))
        );
        assert_eq!(plan.result["rc"], 256);
    }

    #[tokio::test]
    async fn check_mode_on_a_drifted_file_changes_nothing() {
        let fx = Fixture::new();
        let path = fx.write("f", b"a=2\n", 0o644);
        let plan = fx
            .plan(
                "lineinfile",
                json!({"path": path, "regexp": "^a=", "line": "a=1", "mode": "0640"}),
            )
            .await
            .unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(
            plan.result["msg"],
            "line replaced and ownership, perms or SE linux context changed"
        );
        assert_eq!(fx.read("f"), b"a=2\n");
        assert_eq!(fx.mode("f"), 0o644);
    }

    #[tokio::test]
    async fn a_symlinked_file_is_edited_through_the_link() {
        let fx = Fixture::new();
        fx.write("real", b"a\n", 0o644);
        std::os::unix::fs::symlink(fx.path("real"), fx.path("link")).unwrap();
        fx.converge("lineinfile", json!({"path": fx.path("link"), "line": "b"}))
            .await;
        assert!(std::fs::symlink_metadata(fx.path("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fx.read("real"), b"a\nb\n");
    }

    #[test]
    fn rejects_conflicting_arguments() {
        let spec = crate::registry::lookup("ansible.legacy.lineinfile").unwrap();
        assert!((spec.build)(
            json!({"path": "/f", "line": "x", "insertafter": "a", "insertbefore": "b"})
        )
        .is_err());
        assert!((spec.build)(json!({"path": "/f", "regexp": "(", "line": "x"})).is_err());
        assert!((spec.build)(json!({"path": "/f", "backrefs": true, "line": "x"})).is_err());
        assert!((spec.build)(json!({"path": "/f"})).is_err());
        assert!((spec.build)(json!({"dest": "/f", "regex": "a", "state": "absent"})).is_ok());
    }
}
