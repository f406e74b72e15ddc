//! INI inventories, read as Ansible's `ini` plugin reads them:
//!
//! ```ini
//! web01:2222 ansible_user=admin   # before any section: group `ungrouped`
//! [webservers]
//! web[02:10].example.com http_port=8080
//! [webservers:vars]
//! proxy=proxy.example.com
//! [k8s_cluster:children]
//! webservers
//! ```
//!
//! Values on host lines are split like a shell would (`shlex`, with `#` starting a comment
//! even inside a word) and typed as Python literals ([`super::literal`]). In `:vars`
//! sections the rest of the line after `=`, comment included, is the value, typed the same
//! way: Ansible 2.19 does that too, whatever its documentation says.

use super::literal::{literal_eval, Literal};
use super::{ranges, Inventory};
use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::source::{SourceFile, Span};
use indexmap::IndexMap;
use regex::Regex;
use std::sync::{Arc, LazyLock};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("valid regex"));
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("valid regex"));

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A group named before it was declared, reported if it never is.
struct Pending {
    state: State,
    span: Span,
    parents: Vec<String>,
}

pub(super) fn parse(inventory: &mut Inventory, file: &Arc<SourceFile>, source: &str) -> Result<()> {
    let mut reader = Reader {
        inventory,
        file: file.clone(),
        source,
        group: "ungrouped".to_string(),
        state: State::Hosts,
        pending: IndexMap::new(),
    };
    for (index, line) in file.text.lines().enumerate() {
        reader.line(index + 1, line)?;
    }
    reader.finish()
}

struct Reader<'a> {
    inventory: &'a mut Inventory,
    file: Arc<SourceFile>,
    source: &'a str,
    group: String,
    state: State,
    pending: IndexMap<String, Pending>,
}

/// A piece of a line: its text and where it starts (in bytes).
struct Piece<'t> {
    text: &'t str,
    start: usize,
}

impl Reader<'_> {
    /// A span over `length` bytes from byte `start` of line `line`.
    fn span(&self, line: usize, text: &str, start: usize, length: usize) -> Span {
        let start = start.min(text.len());
        let end = (start + length).min(text.len());
        Span {
            file: Some(self.file.clone()),
            line,
            column: text[..start].chars().count() + 1,
            length: text[start..end].chars().count().max(1),
        }
    }

    fn line(&mut self, number: usize, raw: &str) -> Result<()> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            return Ok(());
        }
        let offset = raw.len() - raw.trim_start().len();
        let whole = self.span(number, raw, offset, trimmed.len());
        let line = Piece {
            text: trimmed,
            start: offset,
        };

        if let Some(captures) = SECTION.captures(trimmed) {
            let name = captures[1].to_string();
            let kind = captures.get(2).map(|m| m.as_str().to_string());
            return self.section(name, kind, &whole);
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            return Err(Diagnostic::at(format!("invalid section `{trimmed}`"), &whole).with_help(
                "a section is `[group]`, `[group:vars]` or `[group:children]`, with no spaces or other invalid characters",
            ));
        }
        match self.state {
            State::Hosts => self.host_line(number, raw, line, &whole),
            State::Vars => self.vars_line(number, raw, line, &whole),
            State::Children => self.children_line(number, raw, line, &whole),
        }
    }

    fn section(&mut self, name: String, kind: Option<String>, whole: &Span) -> Result<()> {
        let state = match kind.as_deref() {
            None | Some("hosts") => State::Hosts,
            Some("vars") => State::Vars,
            Some("children") => State::Children,
            Some(other) => {
                let diagnostic = Diagnostic::at(
                    format!("section `[{name}:{other}]` has unknown type `{other}`"),
                    whole,
                );
                let suggested = diagnostic.clone().suggest(other, ["vars", "children"]);
                return Err(if suggested.help.is_some() {
                    suggested
                } else {
                    diagnostic.with_help("the type after `:` is `vars` or `children`")
                });
            }
        };
        if !self.inventory.groups.contains_key(&name) {
            // `[group:vars]` alone does not declare a group; it must appear elsewhere.
            if state == State::Vars && !self.pending.contains_key(&name) {
                let pending = Pending {
                    state,
                    span: whole.clone(),
                    parents: Vec::new(),
                };
                self.pending.insert(name.clone(), pending);
            }
            self.inventory.add_group(&name);
        }
        if state != State::Vars {
            if let Some(pending) = self.pending.get(&name) {
                if pending.state == State::Children {
                    self.add_pending_children(&name, whole)?;
                } else {
                    self.pending.shift_remove(&name);
                }
            }
        }
        self.group = name;
        self.state = state;
        Ok(())
    }

    fn add_pending_children(&mut self, group: &str, span: &Span) -> Result<()> {
        let Some(pending) = self.pending.shift_remove(group) else {
            return Ok(());
        };
        for parent in &pending.parents {
            self.inventory
                .add_child(parent, group)
                .map_err(|message| Diagnostic::at(message, span))?;
            if self
                .pending
                .get(parent)
                .is_some_and(|p| p.state == State::Children)
            {
                self.add_pending_children(parent, span)?;
            }
        }
        Ok(())
    }

    fn host_line(&mut self, number: usize, raw: &str, line: Piece<'_>, whole: &Span) -> Result<()> {
        let tokens = shlex_split(line.text).map_err(|problem| {
            Diagnostic::at(format!("cannot parse host definition: {problem}"), whole)
        })?;
        let Some((first, rest)) = tokens.split_first() else {
            return Err(Diagnostic::at("expected a host definition", whole));
        };
        let pattern_span = self.span(
            number,
            raw,
            line.start + first.start,
            first.end - first.start,
        );
        let pattern = first.text.as_str();
        let (names, port) = ranges::expand_host_pattern(pattern)
            .map_err(|message| Diagnostic::at(message, &pattern_span))?;
        if pattern.trim().ends_with(':') && port.is_none() {
            return Err(Diagnostic::at(
                format!("invalid host pattern `{pattern}`: ending in `:` is not allowed, this character is reserved to provide a port"),
                &pattern_span,
            ));
        }
        if names.iter().any(|name| name.trim() == "---") {
            return Err(Diagnostic::at(
                format!("invalid host pattern `{pattern}`: `---` is normally a sign this is a YAML file"),
                &pattern_span,
            )
            .with_help("give YAML inventories a `.yml` or `.yaml` extension"));
        }
        if names.iter().any(String::is_empty) {
            return Err(Diagnostic::at(
                "a host name must not be empty",
                &pattern_span,
            ));
        }

        let mut variables: IndexMap<String, Node> = IndexMap::new();
        for token in rest {
            let token_span = self.span(
                number,
                raw,
                line.start + token.start,
                token.end - token.start,
            );
            let Some((key, value)) = token.text.split_once('=') else {
                return Err(Diagnostic::at(
                    format!("expected a `key=value` host variable, got `{}`", token.text),
                    &token_span,
                ));
            };
            let key_length = key.len() + 1;
            let value_span = self.span(
                number,
                raw,
                line.start + token.start + key_length,
                (token.end - token.start).saturating_sub(key_length),
            );
            variables.insert(key.to_string(), typed_value(value, &value_span));
        }
        for name in names {
            self.inventory
                .add_host(&name, Some(&self.group), port, Some(self.source));
            for (key, value) in &variables {
                self.inventory.set_host_var(&name, key, value.clone());
            }
        }
        Ok(())
    }

    fn vars_line(&mut self, number: usize, raw: &str, line: Piece<'_>, whole: &Span) -> Result<()> {
        let Some((key, value)) = line.text.split_once('=') else {
            return Err(Diagnostic::at(
                format!("expected `key=value`, got `{}`", line.text),
                whole,
            )
            .with_help("a `:vars` section holds one `name=value` per line"));
        };
        let value_text = value.trim();
        let value_start = line.start + key.len() + 1 + (value.len() - value.trim_start().len());
        let value_span = self.span(number, raw, value_start, value_text.len());
        let group = self.group.clone();
        self.inventory
            .set_group_var(&group, key.trim(), typed_value(value_text, &value_span))
    }

    fn children_line(
        &mut self,
        number: usize,
        raw: &str,
        line: Piece<'_>,
        whole: &Span,
    ) -> Result<()> {
        let Some(captures) = GROUP_NAME.captures(line.text) else {
            return Err(Diagnostic::at(
                format!("expected a group name, got `{}`", line.text),
                whole,
            )
            .with_help("a `:children` section holds one group name per line"));
        };
        let child = captures[1].to_string();
        let span = self.span(number, raw, line.start, child.len());
        if self.inventory.groups.contains_key(&child) {
            return self
                .inventory
                .add_child(&self.group, &child)
                .map_err(|message| Diagnostic::at(message, &span));
        }
        match self.pending.get_mut(&child) {
            Some(pending) => pending.parents.push(self.group.clone()),
            None => {
                let pending = Pending {
                    state: State::Children,
                    span,
                    parents: vec![self.group.clone()],
                };
                self.pending.insert(child, pending);
            }
        }
        Ok(())
    }

    /// Groups named but never declared: the first one is an error, as in Ansible.
    fn finish(self) -> Result<()> {
        let Some((name, pending)) = self.pending.into_iter().next() else {
            return Ok(());
        };
        let known: Vec<&str> = self
            .inventory
            .groups
            .keys()
            .map(String::as_str)
            .filter(|group| *group != name)
            .collect();
        let diagnostic = match pending.state {
            State::Vars => Diagnostic::at(
                format!("section `[{name}:vars]` is not valid for undefined group `{name}`"),
                &pending.span,
            ),
            _ => Diagnostic::at(
                format!(
                    "section `[{}:children]` includes undefined group `{name}`",
                    pending
                        .parents
                        .last()
                        .map(String::as_str)
                        .unwrap_or_default()
                ),
                &pending.span,
            ),
        };
        let suggested = diagnostic.clone().suggest(&name, known);
        Err(if suggested.help.is_some() {
            suggested
        } else {
            diagnostic.with_help(format!("declare the group with a `[{name}]` section"))
        })
    }
}

/// An INI value typed as Python's `ast.literal_eval` would, or kept as text.
fn typed_value(text: &str, span: &Span) -> Node {
    match literal_eval(text) {
        Some(literal) => literal_node(literal, span),
        None => Node::string(text, span.clone()),
    }
}

fn literal_node(literal: Literal, span: &Span) -> Node {
    let value = match literal {
        Literal::None => NodeValue::Null,
        Literal::Bool(flag) => NodeValue::Bool(flag),
        Literal::Int(number) => match i64::try_from(number) {
            Ok(number) => NodeValue::Int(number),
            Err(_) => NodeValue::String(number.to_string()),
        },
        Literal::BigInt(digits) => NodeValue::String(digits),
        Literal::Float(number) => NodeValue::Float(number),
        Literal::Str(text) => NodeValue::String(text),
        Literal::List(items) => NodeValue::Seq(
            items
                .into_iter()
                .map(|item| literal_node(item, span))
                .collect(),
        ),
        Literal::Dict(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(key, value)| (literal_node(key, span), literal_node(value, span)))
                .collect(),
        ),
    };
    Node::new(value, span.clone())
}

/// One word of a shell-split line, with where it was written (bytes, end exclusive).
#[derive(Debug, PartialEq)]
struct Token {
    text: String,
    start: usize,
    end: usize,
}

/// Python's `shlex.split(line, comments=True)`: POSIX quoting, backslash escapes, and a
/// `#` that ends the line wherever a word may continue.
fn shlex_split(line: &str) -> std::result::Result<Vec<Token>, &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Between,
        Word,
        Quote(char),
        Escape(Option<char>),
    }
    let mut tokens = Vec::new();
    let mut mode = Mode::Between;
    let mut text = String::new();
    let mut quoted = false;
    let mut start = 0;
    fn finish(
        tokens: &mut Vec<Token>,
        text: &mut String,
        quoted: &mut bool,
        start: usize,
        end: usize,
    ) {
        if !text.is_empty() || *quoted {
            tokens.push(Token {
                text: std::mem::take(text),
                start,
                end,
            });
        }
        *quoted = false;
    }
    for (index, c) in line.char_indices() {
        match mode {
            Mode::Between | Mode::Word => {
                if matches!(c, ' ' | '\t' | '\r' | '\n') {
                    if mode == Mode::Word {
                        finish(&mut tokens, &mut text, &mut quoted, start, index);
                    }
                    mode = Mode::Between;
                    continue;
                }
                if c == '#' {
                    if mode == Mode::Word {
                        finish(&mut tokens, &mut text, &mut quoted, start, index);
                    }
                    return Ok(tokens);
                }
                if mode == Mode::Between {
                    start = index;
                }
                mode = match c {
                    '\\' => Mode::Escape(None),
                    '\'' | '"' => Mode::Quote(c),
                    _ => {
                        text.push(c);
                        Mode::Word
                    }
                };
            }
            Mode::Quote(quote) => {
                quoted = true;
                if c == quote {
                    mode = Mode::Word;
                } else if c == '\\' && quote == '"' {
                    mode = Mode::Escape(Some(quote));
                } else {
                    text.push(c);
                }
            }
            Mode::Escape(inside) => {
                // Inside double quotes only `"` and `\` can be escaped.
                if inside.is_some_and(|quote| c != quote && c != '\\') {
                    text.push('\\');
                }
                text.push(c);
                mode = match inside {
                    Some(quote) => Mode::Quote(quote),
                    None => Mode::Word,
                };
            }
        }
    }
    match mode {
        Mode::Quote(_) => Err("no closing quotation"),
        Mode::Escape(_) => Err("no escaped character"),
        Mode::Word | Mode::Between => {
            finish(&mut tokens, &mut text, &mut quoted, start, line.len());
            Ok(tokens)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shlex_split(line)
            .unwrap()
            .into_iter()
            .map(|token| token.text)
            .collect()
    }

    #[test]
    fn splits_like_python_shlex_with_comments() {
        assert_eq!(
            words("h1 a=1 b='x y' c=\"q\\\"r\""),
            ["h1", "a=1", "b=x y", "c=q\"r"]
        );
        assert_eq!(words("h1 pass=abc#def e=1"), ["h1", "pass=abc"]);
        assert_eq!(words("h1 c=\"1 # x\""), ["h1", "c=1 # x"]);
        assert_eq!(words("h1 w=a\\ b x=''"), ["h1", "w=a b", "x="]);
        assert_eq!(words("h1 \"a\\n\""), ["h1", "a\\n"]);
        assert_eq!(
            shlex_split("h1 x=\"open").unwrap_err(),
            "no closing quotation"
        );
        assert_eq!(shlex_split("h1 x=\\").unwrap_err(), "no escaped character");
        let tokens = shlex_split("h1  k='v w'").unwrap();
        assert_eq!((tokens[1].start, tokens[1].end), (4, 11));
    }
}
