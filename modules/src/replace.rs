//! `replace`: replaces every match of a regular expression in a file, optionally only
//! between an `after` and a `before` match.
//!
//! The file is read and the replacement made here, in memory. Nothing needs doing when
//! the pattern does not match or the replacement leaves the text as it was (and mode,
//! owner and group already match). Like Ansible, it is the pattern's job to not match its
//! own replacement, or every run changes the file. Patterns are Python `re` syntax with
//! `re.MULTILINE`; this file also holds the translation to Rust's `regex` that
//! `lineinfile`, `blockinfile` and `find` use too.
//!
//! ```yaml
//! - name: Use the systemd cgroup driver
//!   replace:
//!     path: /etc/containerd/config.toml
//!     regexp: 'SystemdCgroup = false'
//!     replace: 'SystemdCgroup = true'
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::{ansible_bool, Args};
use crate::file::{attribute_diff, text, text_diff, EditedFile, Wanted};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "replace",
    aliases: &["ansible.builtin.replace", "ansible.legacy.replace"],
    doc: include_str!("replace.rs"),
    free_form: None,
    build: crate::registry::build::<ReplaceArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceArgs {
    /// The file to change; a symlink is followed and the file it points to changed.
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    /// The Python regular expression to look for; `^` and `$` match at every line.
    pub regexp: String,
    /// The replacement; `\1`, `\g<1>` and `\g<name>` insert groups. Default: remove.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub replace: Option<String>,
    /// Only replace after the first match of this expression (`.` matches newlines).
    #[serde(default)]
    pub after: Option<String>,
    /// Only replace before the last match of this expression (`.` matches newlines).
    #[serde(default)]
    pub before: Option<String>,
    /// Keep a copy of the old file, named `PATH.PID.YYYY-MM-DD@HH:MM:SS~`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// A command that must accept the new file before it replaces the old; `%s` is the
    /// path of the new file.
    #[serde(default)]
    pub validate: Option<String>,
    /// Accepted for compatibility; the file is matched as bytes, text as UTF-8.
    #[serde(default = "utf8")]
    pub encoding: String,
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

fn utf8() -> String {
    "utf-8".to_string()
}

impl Args for ReplaceArgs {
    fn validate(&self) -> Result<(), ArgError> {
        python_regex::compile(&self.regexp, true, false)
            .map_err(|e| ArgError::new(e).at("regexp"))?;
        python_regex::compile(&self.section_pattern().unwrap_or_default(), false, true)
            .map_err(ArgError::new)?;
        Ok(())
    }
}

impl ReplaceArgs {
    /// Ansible's pattern for the part of the file between `after` and `before`.
    fn section_pattern(&self) -> Option<String> {
        match (&self.after, &self.before) {
            (Some(after), Some(before)) if !after.is_empty() && !before.is_empty() => {
                Some(format!("{after}(?P<subsection>.*?){before}"))
            }
            (Some(after), _) if !after.is_empty() => Some(format!("{after}(?P<subsection>.*)")),
            (_, Some(before)) if !before.is_empty() => Some(format!("(?P<subsection>.*){before}")),
            _ => None,
        }
    }
}

impl Module for ReplaceArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let path = &self.path;
            let file = EditedFile::read(transport, path).await?;
            let Some(contents) = &file.content else {
                return Err(ModuleError::failed(format!("Path {path} does not exist !")));
            };
            let (start, end) = match self.section_pattern() {
                Some(pattern) => {
                    let section = python_regex::compile(&pattern, false, true)
                        .map_err(ModuleError::Failed)?;
                    match section
                        .captures(contents)
                        .and_then(|c| c.name("subsection"))
                    {
                        Some(found) => (found.start(), found.end()),
                        None => {
                            let message = format!(
                                "Pattern for before/after params did not match the given file: {pattern}"
                            );
                            return Ok(Plan::ok(message.clone())
                                .with("msg", message)
                                .with("rc", 0));
                        }
                    }
                }
                None => (0, contents.len()),
            };
            let pattern =
                python_regex::compile(&self.regexp, true, false).map_err(ModuleError::Failed)?;
            let section = &contents[start..end];
            let template = self.replace.as_deref().unwrap_or_default();
            let (replaced, count) =
                python_regex::substitute(&pattern, template.as_bytes(), section).map_err(|e| {
                    ModuleError::failed(format!("Unable to process replace due to error: {e}"))
                })?;
            let new_content = (count > 0 && replaced != section).then(|| {
                let mut after = contents[..start].to_vec();
                after.extend_from_slice(&replaced);
                after.extend_from_slice(&contents[end..]);
                after
            });
            let wanted = Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            };
            let edit = file
                .steps(
                    transport,
                    new_content.clone(),
                    &wanted,
                    self.validate.as_deref(),
                    self.backup,
                )
                .await?;
            let message = edit.message(&if new_content.is_some() {
                format!("{count} replacements made")
            } else {
                String::new()
            });
            let mut plan = if edit.steps.is_empty() {
                Plan::ok(format!(
                    "no replacement of `{}` changes {path}",
                    self.regexp
                ))
            } else {
                Plan::change(message.clone(), edit.steps.clone())
            };
            plan = plan.with("msg", message).with("rc", 0);
            if let Some(backup) = &edit.backup {
                plan = plan.with("backup_file", backup.clone());
            }
            if let Some(after) = &new_content {
                if let Some(diff) = text_diff(path, contents, after) {
                    plan = plan.with_diff(diff);
                }
            }
            Ok(attribute_diff(plan, &edit.change))
        })
    }
}

/// Python `re` patterns and replacement templates on top of Rust's `regex`.
///
/// What Rust's engine cannot do (look-around, backreferences inside a pattern) fails with
/// the engine's message; the rest is translated: `\Z`, `{` as a literal, `[` inside a
/// class, `{,n}`, `(?#...)` comments and Python's escapes.
pub(crate) mod python_regex {
    use regex::bytes::{Captures, Regex, RegexBuilder};

    /// Compiles a Python pattern, with Python's `re.MULTILINE` and `re.DOTALL` flags.
    pub(crate) fn compile(pattern: &str, multiline: bool, dotall: bool) -> Result<Regex, String> {
        let translated = translate(pattern)?;
        RegexBuilder::new(&translated)
            .multi_line(multiline)
            .dot_matches_new_line(dotall)
            .build()
            .map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or(&detail).trim();
                format!(
                    "invalid regular expression `{pattern}`: {}",
                    last.trim_start_matches("error: ")
                )
            })
    }

    /// Rewrites Python syntax that Rust's `regex` reads differently or not at all.
    pub(crate) fn translate(pattern: &str) -> Result<String, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = String::with_capacity(pattern.len() + 8);
        let mut in_class = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let next = *chars
                    .get(i + 1)
                    .ok_or_else(|| format!("bad escape (end of pattern) in `{pattern}`"))?;
                i += 2;
                match next {
                    'Z' if !in_class => out.push_str(r"\z"),
                    'b' if in_class => out.push_str(r"\x08"),
                    '0' => {
                        // Python's `\0` and `\0NN` are octal character escapes.
                        let mut value = 0u32;
                        let mut taken = 0;
                        while taken < 2 && i < chars.len() && chars[i].is_digit(8) {
                            value = value * 8 + chars[i].to_digit(8).unwrap_or(0);
                            i += 1;
                            taken += 1;
                        }
                        out.push_str(&format!(r"\x{{{value:x}}}"));
                    }
                    c if c.is_ascii_alphanumeric() => {
                        out.push('\\');
                        out.push(c);
                    }
                    // Any other escaped character is that character, as in Python.
                    c => out.push_str(&regex::escape(&c.to_string())),
                }
                continue;
            }
            if in_class {
                match c {
                    ']' => {
                        in_class = false;
                        out.push(']');
                    }
                    '[' | '&' | '~' => {
                        out.push('\\');
                        out.push(c);
                    }
                    _ => out.push(c),
                }
                i += 1;
                continue;
            }
            match c {
                '[' => {
                    in_class = true;
                    out.push('[');
                    i += 1;
                    if chars.get(i) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                    // A `]` first in a class is a literal in Python.
                    if chars.get(i) == Some(&']') {
                        out.push_str(r"\]");
                        i += 1;
                    }
                }
                '{' => match quantifier(&chars[i..]) {
                    Some((text, length)) => {
                        out.push_str(&text);
                        i += length;
                    }
                    None => {
                        out.push_str(r"\{");
                        i += 1;
                    }
                },
                '}' => {
                    out.push_str(r"\}");
                    i += 1;
                }
                '(' if chars[i..].starts_with(&['(', '?', '#']) => {
                    // A comment group: skip to its closing parenthesis.
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                    i += 1;
                }
                '(' if chars[i..].starts_with(&['(', '?', 'P', '=']) => {
                    return Err(format!(
                        "invalid regular expression `{pattern}`: backreferences are not supported"
                    ));
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    /// A `{m}`, `{m,}`, `{m,n}` or `{,n}` repetition at the start of `chars`, as Rust
    /// writes it, and how many characters it takes; `None` when the brace is a literal.
    fn quantifier(chars: &[char]) -> Option<(String, usize)> {
        let close = chars.iter().position(|c| *c == '}')?;
        let inner: String = chars[1..close].iter().collect();
        let (low, high) = match inner.split_once(',') {
            Some((low, high)) => (low, Some(high)),
            None => (inner.as_str(), None),
        };
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if !digits(low)
            || !high.is_none_or(digits)
            || (low.is_empty() && high.is_none_or(str::is_empty))
        {
            return None;
        }
        let low = if low.is_empty() { "0" } else { low };
        let text = match high {
            None => format!("{{{low}}}"),
            Some(high) => format!("{{{low},{high}}}"),
        };
        Some((text, close + 1))
    }

    /// Expands a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, ...)
    /// for one match.
    pub(crate) fn expand(
        template: &[u8],
        captures: &Captures<'_>,
        regex: &Regex,
    ) -> Result<Vec<u8>, String> {
        let group_count = regex.captures_len();
        let group = |index: usize, out: &mut Vec<u8>| -> Result<(), String> {
            if index >= group_count {
                return Err(format!("invalid group reference {index}"));
            }
            if let Some(found) = captures.get(index) {
                out.extend_from_slice(found.as_bytes());
            }
            Ok(())
        };
        let mut out = Vec::with_capacity(template.len());
        let mut i = 0;
        while i < template.len() {
            let b = template[i];
            if b != b'\\' {
                out.push(b);
                i += 1;
                continue;
            }
            let Some(&next) = template.get(i + 1) else {
                return Err("bad escape (end of pattern)".to_string());
            };
            i += 2;
            match next {
                b'g' => {
                    let rest = &template[i..];
                    let close = rest
                        .iter()
                        .position(|b| *b == b'>')
                        .filter(|_| rest.first() == Some(&b'<'))
                        .ok_or_else(|| "missing group name in \\g<...>".to_string())?;
                    let name = std::str::from_utf8(&rest[1..close]).map_err(|e| e.to_string())?;
                    i += close + 1;
                    match name.parse::<usize>() {
                        Ok(index) => group(index, &mut out)?,
                        Err(_) => match regex.capture_names().position(|n| n == Some(name)) {
                            Some(index) => group(index, &mut out)?,
                            None => return Err(format!("unknown group name '{name}'")),
                        },
                    }
                }
                b'0' => {
                    let mut value = 0u32;
                    let mut taken = 0;
                    while taken < 2 && i < template.len() && (b'0'..=b'7').contains(&template[i]) {
                        value = value * 8 + u32::from(template[i] - b'0');
                        i += 1;
                        taken += 1;
                    }
                    out.push(value as u8);
                }
                b'1'..=b'9' => {
                    let is_octal = |b: Option<&u8>| b.is_some_and(|b| (b'0'..=b'7').contains(b));
                    if next <= b'7' && is_octal(template.get(i)) && is_octal(template.get(i + 1)) {
                        let value = u32::from(next - b'0') * 64
                            + u32::from(template[i] - b'0') * 8
                            + u32::from(template[i + 1] - b'0');
                        if value > 0o377 {
                            return Err(format!(
                                "octal escape value \\{value:o} outside of range 0-0o377"
                            ));
                        }
                        out.push(value as u8);
                        i += 2;
                    } else {
                        let mut index = usize::from(next - b'0');
                        if let Some(&second) = template.get(i).filter(|b| b.is_ascii_digit()) {
                            index = index * 10 + usize::from(second - b'0');
                            i += 1;
                        }
                        group(index, &mut out)?;
                    }
                }
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'f' => out.push(0x0c),
                b'v' => out.push(0x0b),
                b'a' => out.push(0x07),
                b'b' => out.push(0x08),
                b'\\' => out.push(b'\\'),
                other if other.is_ascii_alphabetic() => {
                    return Err(format!("bad escape \\{}", other as char));
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
        Ok(out)
    }

    /// Python's `re.subn`: every match replaced, with Python's rule for empty matches
    /// (one is allowed right after a non-empty match, never twice at the same place).
    pub(crate) fn substitute(
        regex: &Regex,
        template: &[u8],
        haystack: &[u8],
    ) -> Result<(Vec<u8>, usize), String> {
        let mut out = Vec::with_capacity(haystack.len());
        let mut count = 0;
        let mut copied = 0;
        let mut position = 0;
        let mut last_empty_at = None;
        while position <= haystack.len() {
            let Some(captures) = regex.captures_at(haystack, position) else {
                break;
            };
            let found = captures.get(0).expect("group 0 always matches");
            if found.is_empty() && last_empty_at == Some(found.start()) {
                position = found.start() + char_width(haystack, found.start());
                continue;
            }
            out.extend_from_slice(&haystack[copied..found.start()]);
            out.extend_from_slice(&expand(template, &captures, regex)?);
            copied = found.end();
            count += 1;
            last_empty_at = found.is_empty().then_some(found.end());
            position = found.end();
        }
        out.extend_from_slice(&haystack[copied..]);
        Ok((out, count))
    }

    /// How many bytes the UTF-8 character at `at` takes (1 for anything else).
    fn char_width(haystack: &[u8], at: usize) -> usize {
        match haystack.get(at) {
            Some(b) if *b >= 0xf0 => 4,
            Some(b) if *b >= 0xe0 => 3,
            Some(b) if *b >= 0xc0 => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::python_regex::{compile, expand, substitute};
    use crate::testing::Fixture;
    use serde_json::json;

    fn sub(pattern: &str, template: &str, text: &str) -> (String, usize) {
        let regex = compile(pattern, true, false).unwrap();
        let (out, count) = substitute(&regex, template.as_bytes(), text.as_bytes()).unwrap();
        (String::from_utf8(out).unwrap(), count)
    }

    #[test]
    fn substitutes_like_python() {
        // Expected values from Python 3.11's re.subn with re.MULTILINE.
        assert_eq!(sub("x*", "-", "abxd"), ("-a-b--d-".to_string(), 5));
        assert_eq!(sub("x*", "-", "a b\n"), ("-a- -b-\n-".to_string(), 5));
        assert_eq!(sub("b", r"\n", "abc"), ("a\nc".to_string(), 1));
        assert_eq!(sub("^", "# ", "a\nb\n"), ("# a\n# b\n# ".to_string(), 3));
        assert_eq!(sub("$", ";", "a\nb"), ("a;\nb;".to_string(), 2));
        assert_eq!(
            sub(r"(\w+)=(\w+)", r"\2=\1", "a=b c=d"),
            ("b=a d=c".to_string(), 2)
        );
        assert_eq!(
            sub(r"(?P<k>\w+)=", r"\g<k>:\g<0>", "a="),
            ("a:a=".to_string(), 1)
        );
        assert_eq!(sub("a{,2}b", "X", "aaab"), ("aX".to_string(), 1));
        assert_eq!(sub("{mark}", "M", "# {mark}"), ("# M".to_string(), 1));
        assert_eq!(sub(r"end\Z", "E", "end\nend"), ("end\nE".to_string(), 1));
        assert_eq!(sub("[[]x]", "-", "[x] x]"), ("- x]".to_string(), 1));
        assert_eq!(sub("(a)|b", r"[\1]", "ab"), ("[a][]".to_string(), 2));
    }

    #[test]
    fn expands_escapes_and_rejects_bad_groups() {
        let regex = compile("(a)", false, false).unwrap();
        let captures = regex.captures(b"a").unwrap();
        assert_eq!(
            expand(br"\1\n\t\\\.", &captures, &regex).unwrap(),
            b"a\n\t\\\\."
        );
        assert_eq!(expand(br"\101", &captures, &regex).unwrap(), b"A");
        assert!(expand(br"\2", &captures, &regex).is_err());
        assert!(expand(br"\q", &captures, &regex).is_err());
        assert!(compile("(?<=a)b", false, false).is_err());
        assert!(compile("(?P<x>a)(?P=x)", false, false).is_err());
    }

    #[tokio::test]
    async fn replaces_every_match_then_finds_nothing_to_do() {
        let fx = Fixture::new();
        let path = fx.write("hosts", b"10.0.0.1 a\n10.0.0.2 b\n", 0o640);
        let plan = fx
            .converge(
                "replace",
                json!({"path": path, "regexp": r"^10\.0\.0\.(\d+)", "replace": r"192.168.0.\1"}),
            )
            .await;
        assert_eq!(plan.result["msg"], "2 replacements made");
        assert_eq!(fx.read("hosts"), b"192.168.0.1 a\n192.168.0.2 b\n");
        assert_eq!(fx.mode("hosts"), 0o640, "the file keeps its mode");
        assert_eq!(plan.diffs.len(), 1);
    }

    #[tokio::test]
    async fn only_between_after_and_before() {
        // Bytes recorded from ansible-core 2.19's replace module.
        let fx = Fixture::new();
        let path = fx.write("c", b"x=1\n[main]\nx=1\nx=1\n[other]\nx=1\n", 0o644);
        let plan = fx
            .converge(
                "replace",
                json!({"path": path, "regexp": "^x=1$", "replace": "x=2",
                       "after": r"\[main\]", "before": r"\[other\]"}),
            )
            .await;
        assert_eq!(plan.result["msg"], "2 replacements made");
        assert_eq!(fx.read("c"), b"x=1\n[main]\nx=2\nx=2\n[other]\nx=1\n");
    }

    #[tokio::test]
    async fn check_mode_leaves_the_file_alone_and_validate_guards_the_write() {
        let fx = Fixture::new();
        let path = fx.write("v", b"good\n", 0o644);
        let args = json!({"path": path, "regexp": "good", "replace": "bad", "validate": "grep -q good %s"});
        let plan = fx.plan("replace", args).await.unwrap();
        assert!(!plan.steps.is_empty());
        assert_eq!(fx.read("v"), b"good\n", "planning alone changes nothing");
        let applied = crate::testing::apply(&plan, &fx.transport).await;
        assert!(applied.is_err(), "validation fails");
        assert_eq!(fx.read("v"), b"good\n");
        let leftovers = std::fs::read_dir(fx.dir.path()).unwrap().count();
        assert_eq!(
            leftovers, 2,
            "only the file and the controller directory remain"
        );
    }

    #[tokio::test]
    async fn a_missing_file_fails() {
        let fx = Fixture::new();
        let error = fx
            .plan("replace", json!({"path": fx.path("none"), "regexp": "a"}))
            .await
            .unwrap_err();
        assert!(error.to_string().ends_with("does not exist !"), "{error}");
    }

    #[tokio::test]
    async fn backup_keeps_the_old_file() {
        let fx = Fixture::new();
        let path = fx.write("b", b"old\n", 0o644);
        let plan = fx
            .converge(
                "replace",
                json!({"path": path, "regexp": "old", "replace": "new", "backup": true}),
            )
            .await;
        let backup = plan.result["backup_file"].as_str().unwrap().to_string();
        assert!(
            backup.starts_with(&format!("{path}.")) && backup.ends_with('~'),
            "{backup}"
        );
        assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(fx.read("b"), b"new\n");
    }
}
