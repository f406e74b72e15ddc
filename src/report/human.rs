//! The view people read: Ansible's familiar shape (PLAY, TASK, `ok:`/`changed:` per host,
//! PLAY RECAP), with colours on a terminal.

use super::{censored, printable, HostResult, Sink, Stats, Status};
use console::Style;
use indexmap::IndexMap;
use std::io::Write;

pub struct Human {
    out: Box<dyn Write + Send>,
    colors: bool,
    verbosity: u8,
    diff: bool,
    width: usize,
    /// A progress line is on screen and must be cleared before the next line.
    progress_shown: bool,
    /// `rplay run`: Ansible's ad hoc lines (`host | CHANGED | rc=0 >>` and the output),
    /// without play and task banners or a recap.
    ad_hoc: bool,
}

impl Human {
    pub fn new(out: Box<dyn Write + Send>, colors: bool, verbosity: u8, diff: bool) -> Human {
        let width = if colors {
            // Ansible leaves the last column free.
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| (w as usize).saturating_sub(1).max(79))
                .unwrap_or(79)
        } else {
            79
        };
        Human {
            out,
            colors,
            verbosity,
            diff,
            width,
            progress_shown: false,
            ad_hoc: false,
        }
    }

    /// The ad hoc layout of `ansible`, for `rplay run`.
    pub fn ad_hoc(mut self) -> Human {
        self.ad_hoc = true;
        self
    }

    fn ad_hoc_result(&mut self, r: &HostResult<'_>) {
        let result = if r.no_log {
            censored(r.result)
        } else {
            printable(r.result, true)
        };
        let word = match r.status {
            Status::Ok => "SUCCESS",
            Status::Changed => "CHANGED",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
            Status::Unreachable => "UNREACHABLE!",
        };
        // Commands show their output as text; everything else as JSON.
        let text = match (result.get("rc"), result.get("stdout")) {
            (Some(rc), Some(serde_json::Value::String(stdout)))
                if r.status != Status::Unreachable && !r.no_log =>
            {
                let mut text = format!("{} | {word} | rc={rc} >>\n{stdout}", r.host);
                if let Some(serde_json::Value::String(stderr)) = result.get("stderr") {
                    if !stderr.is_empty() {
                        text.push_str(&format!("\n{stderr}"));
                    }
                }
                text
            }
            _ => format!(
                "{} | {word} => {}",
                r.host,
                pretty_json(&serde_json::Value::Object(result))
            ),
        };
        let painted = self.paint(color_for(r.status), &text);
        self.line(&painted);
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.colors {
            style.apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    fn line(&mut self, text: &str) {
        if self.progress_shown {
            let _ = write!(self.out, "\r\x1b[2K");
            self.progress_shown = false;
        }
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// `PLAY [name] ****…` padded with stars to the terminal width, as Ansible's banner.
    fn banner(&mut self, text: &str) {
        let stars = self.width.saturating_sub(text.chars().count()).max(3);
        let line = format!("\n{text} {}", "*".repeat(stars));
        self.line(&line);
    }
}

fn color_for(status: Status) -> Style {
    match status {
        Status::Ok => Style::new().green(),
        Status::Changed => Style::new().yellow(),
        Status::Failed | Status::Unreachable => Style::new().red(),
        Status::Skipped => Style::new().cyan(),
    }
}

/// Ansible's one-line JSON: keys sorted, `, ` and `: ` separators.
pub fn compact_json(value: &serde_json::Value) -> String {
    let sorted = sort_keys(value);
    let text = serde_json::to_string(&sorted).unwrap_or_default();
    python_separators(&text)
}

/// Ansible's indented JSON (`indent=4`, keys sorted).
pub fn pretty_json(value: &serde_json::Value) -> String {
    let sorted = sort_keys(value);
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffer, formatter);
    let _ = serde::Serialize::serialize(&sorted, &mut serializer);
    String::from_utf8(buffer).unwrap_or_default()
}

fn sort_keys(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&map[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sort_keys).collect())
        }
        other => other.clone(),
    }
}

/// serde_json writes `{"a":1,"b":2}`; Python writes `{"a": 1, "b": 2}`.
fn python_separators(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        out.push(c);
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            ',' | ':' => out.push(' '),
            _ => {}
        }
    }
    out
}

impl Sink for Human {
    fn playbook_start(&mut self, path: &str) {
        if self.verbosity > 0 {
            let text = format!("PLAYBOOK: {path}");
            self.line(&text);
        }
    }

    fn play_start(&mut self, name: &str) {
        if !self.ad_hoc {
            self.banner(&format!("PLAY [{name}]"));
        }
    }

    fn no_hosts_matched(&mut self) {
        let text = self.paint(Style::new().cyan(), "skipping: no hosts matched");
        self.line(&text);
    }

    fn task_start(&mut self, name: &str, is_handler: bool) {
        if self.ad_hoc {
            return;
        }
        let kind = if is_handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        self.banner(&format!("{kind} [{name}]"));
    }

    fn host_result(&mut self, r: &HostResult<'_>) {
        if self.ad_hoc {
            return self.ad_hoc_result(r);
        }
        let host = match r.delegated_to {
            Some(delegate) if delegate != r.host => format!("[{} -> {}]", r.host, delegate),
            _ => format!("[{}]", r.host),
        };
        let result = if r.no_log {
            censored(r.result)
        } else {
            printable(r.result, self.verbosity > 0)
        };
        let item = r
            .item_label
            .as_ref()
            .map(|label| format!(" => (item={label})"))
            .unwrap_or_default();
        if self.diff && !r.no_log {
            for diff in r.diffs {
                let text = render_diff(diff, self.colors);
                if !text.is_empty() {
                    let _ = write!(self.out, "{text}");
                }
            }
        }
        let line = match r.status {
            Status::Failed => {
                let label = r
                    .item_label
                    .as_ref()
                    .map(|label| format!(" (item={label})"))
                    .unwrap_or_default();
                let word = if r.item_label.is_some() {
                    "failed"
                } else {
                    "fatal"
                };
                let tail = if r.item_label.is_some() {
                    ""
                } else {
                    ": FAILED!"
                };
                format!(
                    "{word}: {host}{label}{tail} => {}",
                    compact_json(&serde_json::Value::Object(result.clone()))
                )
            }
            Status::Unreachable => format!(
                "fatal: {host}: UNREACHABLE! => {}",
                compact_json(&serde_json::Value::Object(result.clone()))
            ),
            Status::Skipped => {
                if self.verbosity > 0 || r.item_label.is_some() {
                    format!("skipping: {host}{item}")
                } else {
                    format!("skipping: {host}")
                }
            }
            Status::Ok | Status::Changed => {
                let word = if r.status == Status::Ok {
                    "ok"
                } else {
                    "changed"
                };
                let show_result = self.verbosity > 0 || r.module == "debug";
                if show_result {
                    let mut shown = result.clone();
                    if r.module == "debug" && self.verbosity == 0 {
                        shown.remove("changed");
                    }
                    if r.item_label.is_some() {
                        format!(
                            "{word}: {host}{item} => {}",
                            pretty_json(&serde_json::Value::Object(shown))
                        )
                    } else {
                        format!(
                            "{word}: {host} => {}",
                            pretty_json(&serde_json::Value::Object(shown))
                        )
                    }
                } else {
                    format!("{word}: {host}{item}")
                }
            }
        };
        let style = color_for(r.status);
        let painted = self.paint(style, &line);
        self.line(&painted);
        if r.ignored {
            let text = self.paint(Style::new().cyan(), "...ignoring");
            self.line(&text);
        }
    }

    fn warning(&mut self, message: &str) {
        let text = self.paint(Style::new().magenta(), &format!("[WARNING]: {message}"));
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    fn verbose(&mut self, level: u8, message: &str) {
        if self.verbosity >= level {
            self.line(message);
        }
    }

    fn recap(&mut self, stats: &IndexMap<String, Stats>) {
        if self.ad_hoc {
            return;
        }
        self.banner("PLAY RECAP");
        let mut hosts: Vec<&String> = stats.keys().collect();
        hosts.sort();
        for host in hosts {
            let s = &stats[host];
            let host_style = if s.failed > 0 || s.unreachable > 0 {
                Style::new().red()
            } else if s.changed > 0 {
                Style::new().yellow()
            } else {
                Style::new().green()
            };
            let field = |this: &Human, name: &str, value: u32, style: Style| {
                let text = format!("{name}={value:<4}");
                if value > 0 {
                    this.paint(style, &text)
                } else {
                    text
                }
            };
            let padded = format!("{host:<26}");
            let line = format!(
                "{} : {} {} {} {} {} {} {}",
                self.paint(host_style, &padded),
                field(self, "ok", s.ok, Style::new().green()),
                field(self, "changed", s.changed, Style::new().yellow()),
                field(self, "unreachable", s.unreachable, Style::new().red()),
                field(self, "failed", s.failed, Style::new().red()),
                field(self, "skipped", s.skipped, Style::new().cyan()),
                field(self, "rescued", s.rescued, Style::new().magenta()),
                field(self, "ignored", s.ignored, Style::new().magenta()),
            );
            self.line(&line);
        }
        self.line("");
    }

    fn message(&mut self, text: &str) {
        self.line(text);
    }

    /// On a terminal, a live line while a task runs on many hosts: `[37/50 hosts] name`.
    fn progress(&mut self, task: &str, done: usize, total: usize) {
        if !self.colors || total < 2 {
            return;
        }
        let text = format!("[{done}/{total} hosts] {task}");
        let shown: String = text.chars().take(self.width).collect();
        let _ = write!(self.out, "\r\x1b[2K{}", Style::new().dim().apply_to(shown));
        let _ = self.out.flush();
        self.progress_shown = done < total;
        if done == total {
            let _ = write!(self.out, "\r\x1b[2K");
            let _ = self.out.flush();
        }
    }
}

/// A unified diff in Ansible's `--diff` shape.
pub fn render_diff(diff: &rplay_modules::Diff, colors: bool) -> String {
    if diff.before == diff.after {
        return String::new();
    }
    let text_diff = similar::TextDiff::from_lines(&diff.before, &diff.after);
    let mut out = format!("--- before: {}\n+++ after: {}\n", diff.path, diff.path);
    for hunk in text_diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            let mut line = format!("{sign}{}", change.value());
            if !line.ends_with('\n') {
                line.push_str("\n\\ No newline at end of file\n");
            }
            if colors {
                let style = match change.tag() {
                    similar::ChangeTag::Delete => Style::new().red(),
                    similar::ChangeTag::Insert => Style::new().green(),
                    similar::ChangeTag::Equal => Style::new(),
                };
                line = style.apply_to(line).to_string();
            }
            out.push_str(&line);
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_like_python() {
        let value = serde_json::json!({"msg": "a, b: c", "changed": false});
        assert_eq!(
            compact_json(&value),
            r#"{"changed": false, "msg": "a, b: c"}"#
        );
    }
}
