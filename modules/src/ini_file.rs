//! `ini_file`: sets, adds or removes an option in a section of an INI file, or removes a
//! whole section (community.general's `ini_file`).
//!
//! The file is read once and edited here with the collection's rules: a line for the
//! option, commented out or not (`#opt = x`, `;opt`), is rewritten in place; an option
//! that is missing goes after the last line of its section that is neither blank nor a
//! comment; a missing section is added at the end. With `exclusive` (the default), other
//! lines for the option in the section are removed. Lines outside any section are the
//! options of `section` left out. Nothing needs doing when every line is already as
//! wanted, and mode, owner and group match.
//!
//! ```yaml
//! - name: Let containerd's CRI plugin use the systemd cgroup driver
//!   community.general.ini_file:
//!     path: /etc/default/kubelet.ini
//!     section: service
//!     option: cgroup-driver
//!     value: systemd
//!     no_extra_spaces: true
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::Presence;
use crate::args::{ansible_bool, Args};
use crate::file::{attribute_diff, text, text_diff, EditedFile, Wanted};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "ini_file",
    aliases: &["community.general.ini_file"],
    doc: include_str!("ini_file.rs"),
    free_form: None,
    build: crate::registry::build::<IniFileArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IniFileArgs {
    /// The INI file; created when missing (see `create`).
    #[serde(alias = "dest")]
    pub path: String,
    /// The section, without brackets; left out, the lines before the first section.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub section: Option<String>,
    /// The option; left out with `state: absent`, the whole section goes.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub option: Option<String>,
    /// The option's value.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub value: Option<String>,
    /// Several values, one line each (`option = a`, `option = b`).
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    /// `present` sets the option (or adds the section), `absent` removes it.
    #[serde(default)]
    pub state: Presence,
    /// With `present`, remove the option's other lines in the section; with `absent`,
    /// remove every line for the option whatever its value (off: only `values`).
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub exclusive: bool,
    /// Write `option=value` rather than `option = value`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub no_extra_spaces: bool,
    /// A line whose value matches, spaces aside, is left as it is.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub ignore_spaces: bool,
    /// An option may stand alone, without `=` and a value.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub allow_no_value: bool,
    /// Create the file when it does not exist; off, a missing file is an error.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub create: bool,
    /// Keep a copy of the old file, named `PATH.PID.YYYY-MM-DD@HH:MM:SS~`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// Accepted for compatibility: a symlink is always followed and its target edited.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub follow: bool,
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

fn yes() -> bool {
    true
}

impl Args for IniFileArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.value.is_some() && self.values.is_some() {
            return Err(ArgError::new("`value` and `values` are mutually exclusive"));
        }
        let has_values =
            self.value.is_some() || self.values.as_ref().is_some_and(|v| !v.is_empty());
        if self.state == Presence::Present && !self.allow_no_value && !has_values {
            return Err(ArgError::new(
                "`value` or `values` is required with `state: present` unless `allow_no_value` is set",
            ));
        }
        Ok(())
    }
}

/// The section name that stands for "no section": the lines before the first header.
const GLOBAL: &str = "\u{0}rplay-global-section";

/// What an edit did: the new lines and the collection's message.
struct Edited {
    lines: Vec<String>,
    changed: bool,
    message: &'static str,
}

/// A line for `option`, commented out or not: (commented, value) where the value is the
/// text after `=` and spaces (empty for a bare option).
fn option_line(option: &Regex, line: &str) -> Option<(bool, String)> {
    let captures = option.captures(line.strip_suffix('\n').unwrap_or(line))?;
    let commented = captures.get(1).is_some_and(|m| !m.is_empty());
    Some((
        commented,
        captures.get(2).map_or("", |m| m.as_str()).to_string(),
    ))
}

fn option_regex(option: &str, allow_comment: bool) -> Regex {
    let comment = if allow_comment { "([#;]?)" } else { "()" };
    Regex::new(&format!(
        r"^{comment}[ \t]*{}[ \t]*(?:=|$)[ \t]*(.*)",
        regex::escape(option)
    ))
    .expect("an escaped option makes a valid expression")
}

fn blank_or_comment(line: &str) -> bool {
    let trimmed = line.strip_suffix('\n').unwrap_or(line);
    let trimmed = trimmed.trim_start_matches([' ', '\t']);
    trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';')
}

impl IniFileArgs {
    fn values(&self) -> Vec<String> {
        let mut values: Vec<String> = match (&self.value, &self.values) {
            (Some(value), _) => vec![value.clone()],
            (None, Some(values)) => values
                .iter()
                .filter_map(|v| text::from_value(v.clone()))
                .collect(),
            (None, None) => Vec::new(),
        };
        let mut unique = Vec::new();
        for value in values.drain(..) {
            if !unique.contains(&value) {
                unique.push(value);
            }
        }
        unique
    }

    fn assignment(&self, option: &str, value: &str) -> String {
        if self.no_extra_spaces {
            format!("{option}={value}\n")
        } else {
            format!("{option} = {value}\n")
        }
    }

    /// The edit, line by line, as the collection's module makes it.
    fn edit(&self, content: &str) -> Edited {
        let mut lines: Vec<String> = content.split_inclusive('\n').map(str::to_string).collect();
        let mut changed = false;
        let mut message = "OK";
        if lines.is_empty() {
            lines.push("\n".to_string());
        }
        if let Some(last) = lines.last_mut() {
            if !last.ends_with('\n') {
                last.push('\n');
                changed = true;
            }
        }
        // Sentinels around the file: a header for the lines before the first section,
        // and an opening bracket that ends the last one.
        let section = self
            .section
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(GLOBAL);
        lines.insert(0, format!("[{GLOBAL}]"));
        lines.push("[".to_string());
        let header = format!("[{section}]");
        let mut within = false;
        let (mut start, mut end) = (0, 0);
        for (index, line) in lines.iter().enumerate() {
            if within && line.starts_with('[') {
                end = index;
                break;
            }
            if line.starts_with(&header) {
                within = true;
                start = index;
            }
        }
        let after = lines.split_off(end);
        let mut section_lines = lines.split_off(start);
        let before = lines;
        let mut touched = vec![false; section_lines.len()];
        let mut values = self.values();
        let mut bare_present = false;

        let update = |section_lines: &mut Vec<String>,
                      touched: &mut Vec<bool>,
                      index: usize,
                      new_line: String,
                      changed: &mut bool,
                      message: &mut &'static str,
                      matcher: &Regex| {
            let mut differs = None;
            if self.ignore_spaces {
                if let Some((false, old)) = option_line(matcher, &section_lines[index]) {
                    let new = option_line(matcher, &new_line).map(|(_, v)| v);
                    differs = Some(Some(old) != new);
                }
            }
            let differs = differs.unwrap_or(section_lines[index] != new_line);
            if differs {
                section_lines[index] = new_line;
                *changed = true;
                *message = "option changed";
            }
            touched[index] = true;
        };

        let option = self.option.as_deref();
        if let (Presence::Present, Some(option)) = (&self.state, option) {
            let matcher = option_regex(option, true);
            for index in 0..section_lines.len() {
                let Some((_, found)) = option_line(&matcher, &section_lines[index]) else {
                    continue;
                };
                if !values.is_empty() && values.contains(&found) {
                    let new_line = if found.is_empty() && self.allow_no_value {
                        bare_present = true;
                        format!("{option}\n")
                    } else {
                        self.assignment(option, &found)
                    };
                    update(
                        &mut section_lines,
                        &mut touched,
                        index,
                        new_line,
                        &mut changed,
                        &mut message,
                        &matcher,
                    );
                    values.retain(|v| v != &found);
                } else if values.is_empty() && self.allow_no_value {
                    update(
                        &mut section_lines,
                        &mut touched,
                        index,
                        format!("{option}\n"),
                        &mut changed,
                        &mut message,
                        &matcher,
                    );
                    bare_present = true;
                    break;
                }
            }
            if self.exclusive && !self.allow_no_value {
                if !values.is_empty() {
                    for index in 0..section_lines.len() {
                        if !touched[index] && option_line(&matcher, &section_lines[index]).is_some()
                        {
                            let value = values.remove(0);
                            let new_line = self.assignment(option, &value);
                            update(
                                &mut section_lines,
                                &mut touched,
                                index,
                                new_line,
                                &mut changed,
                                &mut message,
                                &matcher,
                            );
                            if values.is_empty() {
                                break;
                            }
                        }
                    }
                }
                // Every other line for the option goes (the header at 0 is never one).
                for index in (1..section_lines.len()).rev() {
                    if !touched[index] && option_line(&matcher, &section_lines[index]).is_some() {
                        section_lines.remove(index);
                        touched.remove(index);
                        changed = true;
                        message = "option changed";
                    }
                }
            }
        }
        if self.state == Presence::Present {
            // Missing lines go after the section's last line that says something.
            for index in (1..=section_lines.len()).rev() {
                if blank_or_comment(&section_lines[index - 1]) {
                    continue;
                }
                if let Some(option) = option {
                    if !values.is_empty() {
                        for value in values.iter().rev() {
                            section_lines.insert(index, self.assignment(option, value));
                        }
                        changed = true;
                        message = "option added";
                    } else if self.allow_no_value && !bare_present {
                        section_lines.insert(index, format!("{option}\n"));
                        changed = true;
                        message = "option added";
                    }
                }
                break;
            }
        }
        if self.state == Presence::Absent {
            match option {
                Some(option) => {
                    let matcher = option_regex(option, false);
                    let kept: Vec<String> = section_lines
                        .iter()
                        .filter(|line| match option_line(&matcher, line) {
                            None => true,
                            Some(_) if self.exclusive => false,
                            Some((_, value)) => values.is_empty() || !values.contains(&value),
                        })
                        .cloned()
                        .collect();
                    if kept != section_lines {
                        section_lines = kept;
                        changed = true;
                        message = "option changed";
                    }
                }
                None if section != GLOBAL && !section_lines.is_empty() => {
                    section_lines.clear();
                    changed = true;
                    message = "section removed";
                }
                None => {}
            }
        }
        let mut lines = before;
        lines.extend(section_lines);
        lines.extend(after);
        lines.remove(0);
        lines.pop();
        if !within && self.state == Presence::Present {
            lines.push(format!("{header}\n"));
            message = "section and option added";
            match option {
                Some(option) if !values.is_empty() => {
                    for value in &values {
                        lines.push(self.assignment(option, value));
                    }
                }
                Some(option) if self.allow_no_value => lines.push(format!("{option}\n")),
                _ => message = "only section added",
            }
            changed = true;
        }
        Edited {
            lines,
            changed,
            message,
        }
    }
}

impl Module for IniFileArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let path = &self.path;
            let file = match EditedFile::read_or_directory(transport, path).await? {
                Ok(file) => file,
                Err(message) => return Ok(Plan::fail(message)),
            };
            if file.content.is_none() && !self.create {
                return Ok(
                    Plan::fail(format!("Destination {path} does not exist!")).with("rc", 257)
                );
            }
            let raw = file.content.clone().unwrap_or_default();
            let before = String::from_utf8_lossy(raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&raw))
                .into_owned();
            let edited = self.edit(&before);
            let after = edited.lines.concat();
            let new_content = edited.changed.then(|| after.clone().into_bytes());
            let wanted = Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            };
            let edit = file
                .steps(transport, new_content, &wanted, None, self.backup)
                .await?;
            let mut plan = if edit.steps.is_empty() {
                Plan::ok(format!("{path} already has what the task asks"))
            } else {
                Plan::change(
                    edit.message(if edited.changed { edited.message } else { "" }),
                    edit.steps.clone(),
                )
            };
            plan = plan.with("msg", edited.message).with("path", path.as_str());
            if let Some(backup) = &edit.backup {
                plan = plan.with("backup_file", backup.as_str());
            }
            if edited.changed {
                if let Some(diff) = text_diff(path, before.as_bytes(), after.as_bytes()) {
                    plan = plan.with_diff(diff);
                }
            }
            Ok(attribute_diff(plan, &edit.change))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;
    use serde_json::{json, Value};

    /// Runs a task against a file with `initial` content (none: no file), checks that a
    /// second run changes nothing, and returns the content and the first run's message.
    async fn edit(initial: Option<&str>, args: Value) -> (String, String) {
        let fx = Fixture::new();
        let path = fx.path("conf/f.ini");
        if let Some(initial) = initial {
            std::fs::create_dir_all(fx.path("conf")).unwrap();
            fx.write("conf/f.ini", initial.as_bytes(), 0o644);
        }
        let mut args = args;
        args["path"] = json!(path);
        let first = fx.plan("ini_file", args.clone()).await.unwrap();
        fx.apply(&first).await;
        let second = fx.plan("ini_file", args).await.unwrap();
        assert!(
            second.steps.is_empty(),
            "second run changes nothing: {second:?}"
        );
        let message = first.result["msg"].as_str().unwrap_or_default().to_string();
        (String::from_utf8(fx.read("conf/f.ini")).unwrap(), message)
    }

    #[tokio::test]
    async fn a_new_file_gets_the_section_and_option() {
        let (content, message) = edit(
            None,
            json!({"section": "plugins", "option": "enabled", "value": "true"}),
        )
        .await;
        assert_eq!(content, "\n[plugins]\nenabled = true\n");
        assert_eq!(message, "section and option added");
    }

    #[tokio::test]
    async fn an_option_is_changed_in_place_and_a_commented_one_taken_over() {
        let (content, message) = edit(
            Some("[a]\nx = 1\n\n[b]\n# y = 2\nz = 3\n"),
            json!({"section": "b", "option": "y", "value": "5"}),
        )
        .await;
        assert_eq!(content, "[a]\nx = 1\n\n[b]\ny = 5\nz = 3\n");
        assert_eq!(message, "option changed");
    }

    #[tokio::test]
    async fn a_missing_option_goes_after_the_last_line_that_says_something() {
        let (content, message) = edit(
            Some("[a]\nx = 1\n# trailing comment\n\n[b]\n"),
            json!({"section": "a", "option": "y", "value": "2", "no_extra_spaces": true}),
        )
        .await;
        assert_eq!(content, "[a]\nx = 1\ny=2\n# trailing comment\n\n[b]\n");
        assert_eq!(message, "option added");
    }

    #[tokio::test]
    async fn exclusive_removes_other_lines_for_the_option() {
        let (content, _) = edit(
            Some("[s]\nk = 1\nk = 2\nother = x\n"),
            json!({"section": "s", "option": "k", "value": "2"}),
        )
        .await;
        assert_eq!(content, "[s]\nk = 2\nother = x\n");
        let (content, _) = edit(
            Some("[s]\nk = 1\n"),
            json!({"section": "s", "option": "k", "values": ["1", "3"]}),
        )
        .await;
        assert_eq!(content, "[s]\nk = 1\nk = 3\n");
    }

    #[tokio::test]
    async fn options_without_a_section_go_before_the_first_one() {
        let (content, _) = edit(
            Some("top = 1\n[s]\nk = 1\n"),
            json!({"option": "second", "value": "2"}),
        )
        .await;
        assert_eq!(content, "top = 1\nsecond = 2\n[s]\nk = 1\n");
    }

    #[tokio::test]
    async fn absent_removes_the_option_or_the_section() {
        let (content, message) = edit(
            Some("[a]\nx = 1\ny = 2\n[b]\nz = 3\n"),
            json!({"section": "a", "option": "x", "state": "absent"}),
        )
        .await;
        assert_eq!(content, "[a]\ny = 2\n[b]\nz = 3\n");
        assert_eq!(message, "option changed");
        let (content, message) = edit(
            Some("[a]\nx = 1\n[b]\nz = 3\n"),
            json!({"section": "a", "state": "absent"}),
        )
        .await;
        assert_eq!(content, "[b]\nz = 3\n");
        assert_eq!(message, "section removed");
    }

    #[tokio::test]
    async fn a_bare_option_with_allow_no_value() {
        let (content, _) = edit(
            Some("[mysqld]\nport = 3306\n"),
            json!({"section": "mysqld", "option": "skip-name-resolve", "allow_no_value": true}),
        )
        .await;
        assert_eq!(content, "[mysqld]\nport = 3306\nskip-name-resolve\n");
    }

    #[tokio::test]
    async fn mode_is_applied_and_create_false_refuses_a_missing_file() {
        let fx = Fixture::new();
        let path = fx.path("f.ini");
        fx.write("f.ini", b"[s]\nk = 1\n", 0o600);
        let plan = fx
            .converge(
                "ini_file",
                json!({"path": path, "section": "s", "option": "k", "value": "1", "mode": "0644"}),
            )
            .await;
        assert_eq!(fx.mode("f.ini"), 0o644);
        assert_eq!(plan.result["msg"], "OK");
        let missing = fx.path("missing.ini");
        let plan = fx
            .plan("ini_file", json!({"path": missing, "section": "s", "option": "k", "value": "1", "create": false}))
            .await
            .unwrap();
        assert!(plan
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("does not exist")));
        assert!(!std::path::Path::new(&missing).exists());
    }

    #[tokio::test]
    async fn check_mode_changes_nothing() {
        let fx = Fixture::new();
        let path = fx.path("f.ini");
        fx.write("f.ini", b"[s]\nk = 1\n", 0o644);
        // Planning is all check mode does: the plan says change and the file stays.
        let plan = fx
            .plan(
                "ini_file",
                json!({"path": path, "section": "s", "option": "k", "value": "2"}),
            )
            .await
            .unwrap();
        assert!(plan.is_change());
        assert_eq!(fx.read("f.ini"), b"[s]\nk = 1\n");
    }
}
