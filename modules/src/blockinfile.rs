//! `blockinfile`: keeps a block of lines between two marker lines in a file.
//!
//! The markers (`# BEGIN ANSIBLE MANAGED BLOCK` and `# END ...` by default) find the block
//! on later runs: the old block is replaced where it stands, or, when the file has no
//! block yet, the new one goes after the last match of `insertafter` (default: the end)
//! or before the last match of `insertbefore`. The edit is computed here with Ansible's
//! rules, byte for byte; nothing needs doing when the file would not change and mode,
//! owner and group match. An empty `block` or `state: absent` removes the block.
//!
//! ```yaml
//! - name: Kernel modules for containerd
//!   blockinfile:
//!     path: /etc/modules-load.d/containerd.conf
//!     create: true
//!     block: |
//!       overlay
//!       br_netfilter
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::Presence;
use crate::args::{ansible_bool, Args};
use crate::file::{attribute_diff, text, text_diff, EditedFile, Wanted};
use crate::lineinfile::search_line;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::replace::python_regex;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use regex::bytes::Regex;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "blockinfile",
    aliases: &["ansible.builtin.blockinfile", "ansible.legacy.blockinfile"],
    doc: include_str!("blockinfile.rs"),
    free_form: None,
    build: crate::registry::build::<BlockinfileArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockinfileArgs {
    /// The file to change; a symlink is followed and the file it points to changed.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// `present` puts the block in, `absent` removes it.
    #[serde(default)]
    pub state: Presence,
    /// The marker line template; `{mark}` becomes `marker_begin` or `marker_end`.
    #[serde(default = "default_marker")]
    pub marker: String,
    /// The lines to keep between the markers; empty removes the block.
    #[serde(default, alias = "content", deserialize_with = "text::deserialize")]
    pub block: Option<String>,
    /// For a new block: insert after the last line matching this expression, or `EOF`
    /// (the default).
    #[serde(default)]
    pub insertafter: Option<String>,
    /// For a new block: insert before the last line matching this expression, or `BOF`.
    #[serde(default)]
    pub insertbefore: Option<String>,
    /// Create the file (and its directory) when it does not exist.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub create: bool,
    /// Keep a copy of the old file, named `PATH.PID.YYYY-MM-DD@HH:MM:SS~`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// A command that must accept the new file before it replaces the old; `%s` is the
    /// path of the new file.
    #[serde(default)]
    pub validate: Option<String>,
    /// What `{mark}` becomes in the first marker.
    #[serde(default = "default_begin")]
    pub marker_begin: String,
    /// What `{mark}` becomes in the last marker.
    #[serde(default = "default_end")]
    pub marker_end: String,
    /// Put a blank line after the block unless one is there (or the file ends).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub append_newline: bool,
    /// Put a blank line before the block unless one is there (or the file starts).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub prepend_newline: bool,
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

fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".to_string()
}

fn default_begin() -> String {
    "BEGIN".to_string()
}

fn default_end() -> String {
    "END".to_string()
}

impl Args for BlockinfileArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(ArgError::new(
                "`insertafter` and `insertbefore` are mutually exclusive",
            ));
        }
        self.insert_regex().map(|_| ())
    }
}

/// Where a new block goes when the file has none yet.
struct Insertion {
    regex: Option<Regex>,
    /// The expression carries Python's `(?m)`: it is searched in the whole file.
    multiline: bool,
    after: bool,
}

impl BlockinfileArgs {
    fn insert_regex(&self) -> Result<Insertion, ArgError> {
        let (pattern, key, after) =
            match (self.insertafter.as_deref(), self.insertbefore.as_deref()) {
                (Some(after), _) if after != "EOF" => (Some(after), "insertafter", true),
                (None, Some(before)) if before != "BOF" => (Some(before), "insertbefore", false),
                (None, Some(_)) => (None, "", false),
                _ => (None, "", true),
            };
        let regex = pattern
            .map(|p| python_regex::compile(p, false, false).map_err(|e| ArgError::new(e).at(key)))
            .transpose()?;
        Ok(Insertion {
            regex,
            multiline: pattern.is_some_and(has_multiline_flag),
            after,
        })
    }

    /// Ansible's edit: `lines` becomes the file's new lines.
    fn edit(&self, original: Option<&[u8]>) -> Result<Vec<u8>, ModuleError> {
        let present = self.state == Presence::Present;
        let mut lines = split_lines(original.unwrap_or_default());
        let insertion = self
            .insert_regex()
            .map_err(|e| ModuleError::failed(e.to_string()))?;
        let marker = |mark: &str| {
            let mut line = self.marker.replace("{mark}", mark).into_bytes();
            line.push(b'\n');
            line
        };
        let begin = marker(&self.marker_begin);
        let end = marker(&self.marker_end);
        let block = self.block.as_deref().unwrap_or_default();
        let block_lines: Vec<Vec<u8>> = if present && !block.is_empty() {
            let mut block = block.as_bytes().to_vec();
            if !block.ends_with(b"\n") {
                block.push(b'\n');
            }
            let mut lines = vec![begin.clone()];
            lines.extend(split_lines(&block));
            lines.push(end.clone());
            lines
        } else {
            Vec::new()
        };

        let begin_at = lines.iter().rposition(|line| *line == begin);
        let end_at = lines.iter().rposition(|line| *line == end);
        let mut at = match (begin_at, end_at) {
            (Some(first), Some(last)) if first < last => {
                lines.drain(first..=last);
                first
            }
            (Some(first), Some(last)) => {
                lines.drain(last..=first);
                last
            }
            _ => match &insertion.regex {
                Some(regex) => {
                    let found = if insertion.multiline {
                        let text = original.unwrap_or_default();
                        regex.find(text).map(|found| {
                            let upto = if insertion.after {
                                found.end()
                            } else {
                                found.start()
                            };
                            text[..upto].iter().filter(|b| **b == b'\n').count()
                        })
                    } else {
                        lines
                            .iter()
                            .rposition(|line| search_line(regex, line).is_some())
                    };
                    match found {
                        None => lines.len(),
                        Some(found) if insertion.after => found + 1,
                        Some(found) => found,
                    }
                }
                None if !insertion.after => 0,
                None => lines.len(),
            },
        };
        if at > 0 && !lines[at - 1].ends_with(b"\n") {
            lines[at - 1].push(b'\n');
        }
        if self.prepend_newline && present && at != 0 && lines[at - 1] != b"\n" {
            lines.insert(at, b"\n".to_vec());
            at += 1;
        }
        let block_len = block_lines.len();
        lines.splice(at..at, block_lines);
        if self.append_newline && present {
            let after = at + block_len;
            if after < lines.len() && lines[after] != b"\n" {
                lines.insert(after, b"\n".to_vec());
            }
        }
        Ok(lines.concat())
    }
}

/// Python's `bytes.splitlines(keepends=True)`: lines end at `\n`, `\r\n` or `\r`.
fn split_lines(content: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'\n' => {
                lines.push(content[start..=i].to_vec());
                start = i + 1;
            }
            b'\r' => {
                let end = if content.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                lines.push(content[start..=end].to_vec());
                start = end + 1;
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if start < content.len() {
        lines.push(content[start..].to_vec());
    }
    lines
}

/// Whether a pattern opens with inline flags that include Python's `m`.
fn has_multiline_flag(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .is_some_and(|(flags, _)| {
            flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('m')
        })
}

impl Module for BlockinfileArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let path = &self.path;
            let file = EditedFile::read(transport, path).await?;
            if file.content.is_none() {
                if !self.create {
                    return Err(ModuleError::failed(format!("Path {path} does not exist !")));
                }
                if self.state == Presence::Absent {
                    let message = format!("File {path} not present");
                    return Ok(Plan::ok(message.clone()).with("msg", message));
                }
            }
            let after = self.edit(file.content.as_deref())?;
            let message = match &file.content {
                Some(before) if *before == after => None,
                None => Some("File created"),
                Some(_)
                    if self.state == Presence::Absent
                        || self.block.as_deref().unwrap_or_default().is_empty() =>
                {
                    Some("Block removed")
                }
                Some(_) => Some("Block inserted"),
            };
            let wanted = Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            };
            let new_content = message.map(|_| after.clone());
            let edit = file
                .steps(
                    transport,
                    new_content,
                    &wanted,
                    self.validate.as_deref(),
                    self.backup,
                )
                .await?;
            let message = edit.message(message.unwrap_or_default());
            let mut plan = if edit.steps.is_empty() {
                Plan::ok(format!("{path} already has the block as wanted"))
            } else {
                Plan::change(message.clone(), edit.steps.clone())
            };
            plan = plan.with("msg", message);
            if let Some(backup) = &edit.backup {
                plan = plan.with("backup_file", backup.clone());
            }
            let before = file.content.clone().unwrap_or_default();
            if before != after {
                if let Some(diff) = text_diff(path, &before, &after) {
                    plan = plan.with_diff(diff);
                }
            }
            Ok(attribute_diff(plan, &edit.change))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split_lines;
    use crate::testing::Fixture;
    use serde_json::{json, Value};

    /// Runs a task against a file with `initial` content; returns the new content and
    /// message after checking that a second run changes nothing.
    async fn edit(initial: Option<&[u8]>, args: Value) -> (Vec<u8>, String) {
        let fx = Fixture::new();
        if let Some(initial) = initial {
            fx.write("f", initial, 0o644);
        }
        let mut args = args;
        args["path"] = json!(fx.path("f"));
        let first = fx.plan("blockinfile", args.clone()).await.unwrap();
        fx.apply(&first).await;
        let second = fx.plan("blockinfile", args).await.unwrap();
        assert!(
            second.steps.is_empty(),
            "second run changes nothing: {second:?}"
        );
        let message = first.result["msg"].as_str().unwrap_or_default().to_string();
        (std::fs::read(fx.path("f")).unwrap_or_default(), message)
    }

    // The expected bytes and messages below were recorded from ansible-core 2.19.

    #[tokio::test]
    async fn appends_a_block_after_a_last_line_without_newline() {
        let (content, message) = edit(Some(b"a\nb"), json!({"block": "x\ny"})).await;
        assert_eq!(
            content,
            b"a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx\ny\n# END ANSIBLE MANAGED BLOCK\n"
        );
        assert_eq!(message, "Block inserted");
    }

    #[tokio::test]
    async fn replaces_the_block_where_it_stands() {
        let (content, _) = edit(
            Some(b"top\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nbottom\n"),
            json!({"block": "new1\nnew2\n"}),
        )
        .await;
        assert_eq!(
            content,
            b"top\n# BEGIN ANSIBLE MANAGED BLOCK\nnew1\nnew2\n# END ANSIBLE MANAGED BLOCK\nbottom\n"
        );
    }

    #[tokio::test]
    async fn custom_markers_and_insertbefore() {
        let (content, _) = edit(
            Some(b"[a]\n[b]\n[b]\n"),
            json!({"block": "k=v", "marker": "; {mark} managed", "marker_begin": "start",
                   "marker_end": "stop", "insertbefore": r"^\[b\]"}),
        )
        .await;
        assert_eq!(
            content,
            b"[a]\n[b]\n; start managed\nk=v\n; stop managed\n[b]\n"
        );
    }

    #[tokio::test]
    async fn insertafter_with_blank_lines_around() {
        let (content, _) = edit(
            Some(b"one\ntwo\nthree\n"),
            json!({"block": "B", "insertafter": "^one", "prepend_newline": true, "append_newline": true}),
        )
        .await;
        assert_eq!(
            content,
            b"one\n\n# BEGIN ANSIBLE MANAGED BLOCK\nB\n# END ANSIBLE MANAGED BLOCK\n\ntwo\nthree\n"
        );
    }

    #[tokio::test]
    async fn insertbefore_bof() {
        let (content, _) = edit(Some(b"a\n"), json!({"block": "B", "insertbefore": "BOF"})).await;
        assert_eq!(
            content,
            b"# BEGIN ANSIBLE MANAGED BLOCK\nB\n# END ANSIBLE MANAGED BLOCK\na\n"
        );
    }

    #[tokio::test]
    async fn multiline_insertafter_searches_the_whole_file() {
        let (content, _) = edit(
            Some(b"a\nb\nc\n"),
            json!({"block": "B", "insertafter": "(?m)^a\\nb$"}),
        )
        .await;
        assert_eq!(
            content,
            b"a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nB\n# END ANSIBLE MANAGED BLOCK\nc\n"
        );
    }

    #[tokio::test]
    async fn crlf_files_and_markers_in_reverse_order() {
        let (content, _) = edit(Some(b"a\r\nb\r\n"), json!({"block": "x"})).await;
        assert_eq!(
            content,
            b"a\r\nb\r\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let (content, _) = edit(
            Some(b"# END ANSIBLE MANAGED BLOCK\nmid\n# BEGIN ANSIBLE MANAGED BLOCK\nz\n"),
            json!({"block": "q"}),
        )
        .await;
        assert_eq!(
            content,
            b"# BEGIN ANSIBLE MANAGED BLOCK\nq\n# END ANSIBLE MANAGED BLOCK\nz\n"
        );
    }

    #[tokio::test]
    async fn absent_removes_the_block() {
        let (content, message) = edit(
            Some(b"a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n"),
            json!({"state": "absent"}),
        )
        .await;
        assert_eq!(content, b"a\nb\n");
        assert_eq!(message, "Block removed");
    }

    #[tokio::test]
    async fn create_makes_a_new_file() {
        let (content, message) = edit(None, json!({"block": "x", "create": true})).await;
        assert_eq!(
            content,
            b"# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n"
        );
        assert_eq!(message, "File created");
    }

    #[tokio::test]
    async fn check_mode_on_a_drifted_block_changes_nothing() {
        let fx = Fixture::new();
        let initial: &[u8] = b"# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\n";
        let path = fx.write("f", initial, 0o644);
        let plan = fx
            .plan("blockinfile", json!({"path": path, "block": "new"}))
            .await
            .unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(plan.diffs.len(), 1);
        assert_eq!(fx.read("f"), initial);
    }

    #[tokio::test]
    async fn a_missing_file_without_create_fails() {
        let fx = Fixture::new();
        let error = fx
            .plan(
                "blockinfile",
                json!({"path": fx.path("none"), "block": "x"}),
            )
            .await
            .unwrap_err();
        assert!(error.to_string().ends_with("does not exist !"), "{error}");
    }

    #[test]
    fn splits_lines_like_python() {
        assert_eq!(
            split_lines(b"a\r\nb\rc\nd"),
            vec![
                b"a\r\n".to_vec(),
                b"b\r".to_vec(),
                b"c\n".to_vec(),
                b"d".to_vec()
            ]
        );
    }
}
