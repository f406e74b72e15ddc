//! Host patterns, as in `hosts:` and `--limit`, evaluated the way Ansible's
//! `InventoryManager.get_hosts` does:
//!
//! - `all` (or `*`), a group, a host, a glob (`web*`, `*.example.com`, `db[0-3]`), or a
//!   regular expression after `~` (anchored at the start only, as Python's `re.match`);
//! - several patterns separated by `,` (or by `:` when the text has no comma and is not a
//!   host address, so `fe80::1` and `web[1:3]` stay whole);
//! - `&pattern` intersects and `!pattern` excludes. Whatever their order in the text, all
//!   plain patterns are applied first, then the intersections, then the exclusions; only
//!   `&` and `!` patterns means `all` first;
//! - a subscript on a pattern: `web[0]`, `web[-1]`, `web[1:3]` (end included), `web[2:]`.
//!
//! Results keep the order of the patterns, each in inventory order, without duplicates.

use super::{ranges, Inventory, LOCALHOST_NAMES};
use crate::diagnostic::{Diagnostic, Result};
use crate::source::display_path;
use indexmap::IndexSet;
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

static COLON_SEPARATED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("valid regex"));

static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("valid regex")
});

/// `--limit`: patterns that every selection is intersected with. `@file` reads one
/// pattern per line.
#[derive(Debug, Clone, Default)]
pub struct Limit {
    patterns: Vec<String>,
}

impl Limit {
    pub fn parse(text: &str) -> Result<Limit> {
        let mut patterns = Vec::new();
        for item in split_host_pattern(text) {
            let Some(file) = item.strip_prefix('@') else {
                patterns.push(item);
                continue;
            };
            let path = Path::new(file);
            if !path.exists() {
                return Err(Diagnostic::new(format!(
                    "unable to find limit file `{}`",
                    display_path(path)
                )));
            }
            if !path.is_file() {
                return Err(Diagnostic::new(format!(
                    "a limit starting with `@` must be a file, not a directory: `{}`",
                    display_path(path)
                )));
            }
            let text = crate::source::read_input_text(path).map_err(Diagnostic::new)?;
            patterns.extend(text.split('\n').map(|line| line.trim().to_string()));
        }
        Ok(Limit { patterns })
    }
}

/// Splits a pattern string into single patterns, as Ansible's `split_host_pattern`.
pub(super) fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if ranges::parse_address(pattern, true).is_some() {
        vec![pattern]
    } else {
        COLON_SEPARATED
            .find_iter(pattern)
            .map(|m| m.as_str())
            .collect()
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// Plain patterns, then `&` ones, then `!` ones; `all` when only the latter two are given.
fn order_patterns(patterns: &[String]) -> Vec<&str> {
    let mut regular = Vec::new();
    let mut intersections = Vec::new();
    let mut exclusions = Vec::new();
    for pattern in patterns.iter().filter(|pattern| !pattern.is_empty()) {
        match pattern.chars().next() {
            Some('!') => exclusions.push(pattern.as_str()),
            Some('&') => intersections.push(pattern.as_str()),
            _ => regular.push(pattern.as_str()),
        }
    }
    if regular.is_empty() {
        regular.push("all");
    }
    regular
        .into_iter()
        .chain(intersections)
        .chain(exclusions)
        .collect()
}

/// What one pattern matched, and whether Ansible would warn that it matched nothing.
struct Matches {
    hosts: Vec<String>,
    unmatched: bool,
}

impl Inventory {
    /// The hosts a pattern selects, without any `--limit`.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>> {
        self.select_patterns(&[pattern], None)
    }

    /// The hosts a pattern selects, intersected with `--limit`.
    pub fn select_limited(&self, pattern: &str, limit: &Limit) -> Result<Vec<String>> {
        self.select_patterns(&[pattern], Some(limit))
    }

    /// The hosts several patterns select (a play's `hosts:` may be a list).
    pub fn select_patterns(&self, patterns: &[&str], limit: Option<&Limit>) -> Result<Vec<String>> {
        let split: Vec<String> = patterns
            .iter()
            .flat_map(|pattern| split_host_pattern(pattern))
            .collect();
        let mut hosts = self.evaluate(&split)?;
        if let Some(limit) = limit {
            let allowed: IndexSet<String> = self.evaluate(&limit.patterns)?.into_iter().collect();
            hosts.retain(|host| allowed.contains(host));
        }
        let unique: IndexSet<String> = hosts.into_iter().collect();
        Ok(unique.into_iter().collect())
    }

    /// Ansible's "could not match supplied host pattern" warnings for a pattern, each
    /// with a "did you mean" when a group or host has a close name. Errors in the
    /// pattern are left to [`Inventory::select`].
    pub fn pattern_warnings(&self, pattern: &str) -> Vec<Diagnostic> {
        let split = split_host_pattern(pattern);
        let known: Vec<&str> = self
            .groups
            .keys()
            .chain(self.hosts.keys())
            .map(String::as_str)
            .collect();
        order_patterns(&split)
            .into_iter()
            .filter(|pattern| !self.hosts.contains_key(*pattern))
            .filter(|pattern| {
                self.match_one(pattern)
                    .is_ok_and(|matches| matches.unmatched)
            })
            .map(|pattern| {
                let bare = pattern.trim_start_matches(['&', '!']);
                Diagnostic::new(format!(
                    "could not match supplied host pattern, ignoring: `{bare}`"
                ))
                .suggest(bare, known.iter().copied())
            })
            .collect()
    }

    fn evaluate(&self, patterns: &[String]) -> Result<Vec<String>> {
        let mut hosts: Vec<String> = Vec::new();
        for pattern in order_patterns(patterns) {
            // A pattern that is exactly a host's name is that host, even if a group
            // shares the name.
            if self.hosts.contains_key(pattern) {
                hosts.push(pattern.to_string());
                continue;
            }
            let matched = self.match_one(pattern)?.hosts;
            if pattern.starts_with('!') {
                let excluded: IndexSet<&String> = matched.iter().collect();
                hosts.retain(|host| !excluded.contains(host));
            } else if pattern.starts_with('&') {
                let kept: IndexSet<&String> = matched.iter().collect();
                hosts.retain(|host| kept.contains(host));
            } else {
                let existing: IndexSet<String> = hosts.iter().cloned().collect();
                hosts.extend(matched.into_iter().filter(|host| !existing.contains(host)));
            }
        }
        Ok(hosts)
    }

    fn match_one(&self, pattern: &str) -> Result<Matches> {
        let bare = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
        if bare.is_empty() {
            return Err(Diagnostic::new(format!(
                "`{pattern}` must be followed by a pattern"
            )));
        }
        let pattern = bare;
        let (expression, subscript) = split_subscript(pattern);
        let mut matches = self.enumerate_matches(expression)?;
        if let Some(subscript) = subscript {
            matches.hosts = apply_subscript(matches.hosts, subscript).ok_or_else(|| {
                Diagnostic::new(format!(
                    "no hosts matched the subscripted pattern `{pattern}`"
                ))
            })?;
        }
        Ok(matches)
    }

    fn enumerate_matches(&self, pattern: &str) -> Result<Matches> {
        let matcher = compile(pattern)?;
        let groups: Vec<&String> = self
            .groups
            .keys()
            .filter(|name| matcher.is_match(name))
            .collect();
        let mut hosts: Vec<String> = Vec::new();
        for group in &groups {
            hosts.extend(self.group_hosts(group));
        }
        let is_special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if groups.is_empty() || is_special {
            hosts.extend(
                self.hosts
                    .keys()
                    .filter(|name| matcher.is_match(name))
                    .cloned(),
            );
        }
        if hosts.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
            if let Some(host) = self.host(pattern) {
                hosts.push(host.name.clone());
            }
        }
        let unmatched = hosts.is_empty() && groups.is_empty() && pattern != "all";
        Ok(Matches { hosts, unmatched })
    }
}

/// A subscript: one index, or an inclusive range whose end `None` means the last host.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subscript {
    Index(i64),
    Range(i64, Option<i64>),
}

fn split_subscript(pattern: &str) -> (&str, Option<Subscript>) {
    if pattern.starts_with('~') {
        return (pattern, None);
    }
    let Some(captures) = SUBSCRIPT.captures(pattern) else {
        return (pattern, None);
    };
    let number = |text: &str| text.parse::<i64>().unwrap_or(i64::MAX);
    let expression = captures.get(1).map_or("", |m| m.as_str());
    let subscript = match captures.get(2) {
        Some(index) => Subscript::Index(number(index.as_str())),
        None => {
            let start = number(&captures[3]);
            let end = captures
                .get(5)
                .map(|m| m.as_str())
                .filter(|end| !end.is_empty());
            // Python treats an end of 0 as "no end": `g[2:0]` is `g[2]`.
            match end.map(number) {
                Some(0) => Subscript::Index(start),
                end => Subscript::Range(start, end),
            }
        }
    };
    (expression, Some(subscript))
}

/// `None` when a single index is out of range (Ansible's error); an empty list stays empty.
fn apply_subscript(hosts: Vec<String>, subscript: Subscript) -> Option<Vec<String>> {
    if hosts.is_empty() {
        return Some(hosts);
    }
    let length = hosts.len() as i64;
    match subscript {
        Subscript::Index(index) => {
            let position = if index < 0 { length + index } else { index };
            (0..length)
                .contains(&position)
                .then(|| vec![hosts[position as usize].clone()])
        }
        Subscript::Range(start, end) => {
            let end = end.unwrap_or(length - 1).saturating_add(1).min(length);
            let start = start.min(length);
            Some(if start < end {
                hosts[start as usize..end as usize].to_vec()
            } else {
                Vec::new()
            })
        }
    }
}

/// A glob (Python's `fnmatch`, case-sensitive) or, after `~`, a regular expression.
fn compile(pattern: &str) -> Result<Regex> {
    let source = match pattern.strip_prefix('~') {
        Some(expression) => format!("^(?:{expression})"),
        None => glob_to_regex(pattern),
    };
    Regex::new(&source).map_err(|error| {
        Diagnostic::new(format!("invalid host list pattern `{pattern}`")).with_help(
            error
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string(),
        )
    })
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]` and `[!seq]`, all else literal.
fn glob_to_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                out.push_str(".*");
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                out.push_str(&bracket_class(&chars[i..j]));
                i = j + 1;
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

fn bracket_class(content: &[char]) -> String {
    let (negate, body) = match content.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, content),
    };
    let escape = |c: char| {
        if c.is_ascii_punctuation() {
            format!("\\{c}")
        } else {
            c.to_string()
        }
    };
    let mut class = String::new();
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == '-' {
            // A reversed range is dropped, as Python drops it.
            if body[k] <= body[k + 2] {
                class.push_str(&format!("{}-{}", escape(body[k]), escape(body[k + 2])));
            }
            k += 3;
        } else {
            class.push_str(&escape(body[k]));
            k += 1;
        }
    }
    match (class.is_empty(), negate) {
        (true, true) => ".".into(),
        (true, false) => r"[^\s\S]".into(),
        (false, true) => format!("[^{class}]"),
        (false, false) => format!("[{class}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_ansible() {
        assert_eq!(
            split_host_pattern("a,b[1], c[2:3] , d"),
            ["a", "b[1]", "c[2:3]", "d"]
        );
        assert_eq!(
            split_host_pattern("web:&staging:!web3"),
            ["web", "&staging", "!web3"]
        );
        assert_eq!(split_host_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("web db"), ["web", "db"]);
        assert_eq!(split_host_pattern("a,b:c"), ["a", "b:c"]);
        assert_eq!(split_host_pattern("web:22"), ["web:22"]);
    }

    #[test]
    fn orders_plain_then_intersections_then_exclusions() {
        let patterns: Vec<String> = ["!c", "&b", "a"].iter().map(|p| p.to_string()).collect();
        assert_eq!(order_patterns(&patterns), ["a", "&b", "!c"]);
        let patterns: Vec<String> = vec!["!c".into()];
        assert_eq!(order_patterns(&patterns), ["all", "!c"]);
    }

    #[test]
    fn reads_subscripts_with_inclusive_ends() {
        assert_eq!(split_subscript("g[0]"), ("g", Some(Subscript::Index(0))));
        assert_eq!(split_subscript("g[-1]"), ("g", Some(Subscript::Index(-1))));
        assert_eq!(
            split_subscript("g[1:3]"),
            ("g", Some(Subscript::Range(1, Some(3))))
        );
        assert_eq!(
            split_subscript("g[1:]"),
            ("g", Some(Subscript::Range(1, None)))
        );
        assert_eq!(
            split_subscript("g[1-2]"),
            ("g", Some(Subscript::Range(1, Some(2))))
        );
        assert_eq!(split_subscript("g[2:0]"), ("g", Some(Subscript::Index(2))));
        assert_eq!(split_subscript("~g[0]"), ("~g[0]", None));
        let hosts: Vec<String> = ["a", "b", "c", "d"].iter().map(|h| h.to_string()).collect();
        assert_eq!(
            apply_subscript(hosts.clone(), Subscript::Range(1, Some(2))).unwrap(),
            ["b", "c"]
        );
        assert_eq!(
            apply_subscript(hosts.clone(), Subscript::Range(2, None)).unwrap(),
            ["c", "d"]
        );
        assert_eq!(
            apply_subscript(hosts.clone(), Subscript::Range(3, Some(9))).unwrap(),
            ["d"]
        );
        assert_eq!(
            apply_subscript(hosts.clone(), Subscript::Index(-1)).unwrap(),
            ["d"]
        );
        assert_eq!(apply_subscript(hosts, Subscript::Index(4)), None);
    }

    #[test]
    fn translates_globs_like_fnmatch() {
        let matches =
            |glob: &str, name: &str| Regex::new(&glob_to_regex(glob)).unwrap().is_match(name);
        assert!(matches("web*", "web01"));
        assert!(!matches("web*", "aweb"));
        assert!(matches("*.example.com", "a.example.com"));
        assert!(!matches("*.example.com", "aXexample.com"));
        assert!(matches("h?", "h1"));
        assert!(matches("h[0-2]", "h1"));
        assert!(!matches("h[!0-2]", "h1"));
        assert!(matches("h[!0]", "h1"));
        assert!(matches("h[]]", "h]"));
        assert!(matches("a[&~|^-]", "a&"));
        assert!(matches("h[", "h["));
        assert!(!matches("h[z-a]", "hz"));
        assert!(!matches("Web*", "web1"));
    }
}
