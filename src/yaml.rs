//! The one YAML loader: every playbook, role file, inventory and vars file goes through it.
//!
//! saphyr's parser gives events with positions and raw scalars; this file composes them
//! into [`Node`]s and types plain scalars the way PyYAML's YAML 1.1 resolver does, because
//! that is what Ansible users' files mean: `yes`/`no`/`on`/`off` are booleans, `0755` is
//! octal, `1e3` is a string. Merge keys (`<<`), anchors, `!unsafe` and `!vault` are kept.

use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use crate::source::{SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, SpannedEventReceiver};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Bound on nodes produced by alias expansion, so a "billion laughs" document is refused
/// quickly instead of eating the machine.
const MAX_NODES: usize = 1_000_000;
/// Bound on nesting depth.
const MAX_DEPTH: usize = 500;

/// Reads and parses one YAML file, first document only (as Ansible does for playbooks).
pub fn load_file(path: &Path) -> Result<Node> {
    let text = crate::vault::read_to_string(path).map_err(Diagnostic::new)?;
    load_str(SourceFile::new(path, text))
}

/// Parses text already read; an empty document is `null`.
pub fn load_str(file: Arc<SourceFile>) -> Result<Node> {
    let mut documents = load_all(file.clone())?;
    if documents.is_empty() {
        return Ok(Node::null(Span {
            file: Some(file),
            line: 1,
            column: 1,
            length: 0,
        }));
    }
    Ok(documents.swap_remove(0))
}

/// Every document of a multi-document stream.
pub fn load_all(file: Arc<SourceFile>) -> Result<Vec<Node>> {
    let mut collector = Collector::default();
    let mut parser = Parser::new_from_str(&file.text);
    if let Err(error) = parser.load(&mut collector, true) {
        let marker = error.marker();
        let mut span = Span {
            file: Some(file.clone()),
            line: marker.line(),
            column: marker.col() + 1,
            length: 1,
        };
        // At the end of the file the parser points past the last line; show that line.
        if file
            .line(span.line)
            .is_none_or(|text| text.trim().is_empty())
        {
            if let Some((number, text)) = file
                .text
                .lines()
                .enumerate()
                .filter(|(_, text)| !text.trim().is_empty())
                .last()
            {
                span.line = number + 1;
                span.column = text.chars().count() + 1;
            }
        }
        let help = if error.info().contains("recursion limit") {
            "the document nests collections deeper than the parser allows; flatten it"
        } else {
            "check the indentation and quoting on this line and the one before"
        };
        return Err(
            Diagnostic::at(format!("invalid YAML: {}", error.info()), &span).with_help(help),
        );
    }
    let mut composer = Composer {
        file,
        events: collector.events,
        position: 0,
        anchors: HashMap::new(),
        produced: 0,
    };
    composer.documents()
}

#[derive(Default)]
struct Collector {
    events: Vec<(OwnedEvent, saphyr_parser::Span)>,
}

/// The parser's events, owned so the composer can look ahead freely.
enum OwnedEvent {
    DocumentStart,
    DocumentEnd,
    StreamEnd,
    Alias(usize),
    Scalar {
        value: String,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<String>,
    },
    SequenceStart {
        anchor: usize,
        tag: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: usize,
        tag: Option<String>,
    },
    MappingEnd,
    Other,
}

fn tag_text(tag: &saphyr_parser::Tag) -> String {
    if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

impl<'input> SpannedEventReceiver<'input> for Collector {
    fn on_event(&mut self, event: Event<'input>, span: saphyr_parser::Span) {
        let owned = match event {
            Event::DocumentStart(_) => OwnedEvent::DocumentStart,
            Event::DocumentEnd => OwnedEvent::DocumentEnd,
            Event::StreamEnd => OwnedEvent::StreamEnd,
            Event::Alias(id) => OwnedEvent::Alias(id),
            Event::Scalar(value, style, anchor, tag) => OwnedEvent::Scalar {
                value: value.into_owned(),
                style,
                anchor,
                tag: tag.map(|t| tag_text(&t)),
            },
            Event::SequenceStart(anchor, tag) => OwnedEvent::SequenceStart {
                anchor,
                tag: tag.map(|t| tag_text(&t)),
            },
            Event::SequenceEnd => OwnedEvent::SequenceEnd,
            Event::MappingStart(anchor, tag) => OwnedEvent::MappingStart {
                anchor,
                tag: tag.map(|t| tag_text(&t)),
            },
            Event::MappingEnd => OwnedEvent::MappingEnd,
            _ => OwnedEvent::Other,
        };
        self.events.push((owned, span));
    }
}

struct Composer {
    file: Arc<SourceFile>,
    events: Vec<(OwnedEvent, saphyr_parser::Span)>,
    position: usize,
    anchors: HashMap<usize, Node>,
    produced: usize,
}

impl Composer {
    fn span(&self, span: &saphyr_parser::Span) -> Span {
        let length = if span.end.line() == span.start.line() {
            span.end.col().saturating_sub(span.start.col()).max(1)
        } else {
            1
        };
        Span {
            file: Some(self.file.clone()),
            line: span.start.line(),
            column: span.start.col() + 1,
            length,
        }
    }

    fn documents(&mut self) -> Result<Vec<Node>> {
        let mut documents = Vec::new();
        while self.position < self.events.len() {
            match &self.events[self.position].0 {
                OwnedEvent::DocumentStart => {
                    self.position += 1;
                    let node = self.node(0)?;
                    documents.push(node);
                }
                OwnedEvent::StreamEnd => break,
                _ => self.position += 1,
            }
        }
        Ok(documents)
    }

    fn count(&mut self, span: &Span) -> Result<()> {
        self.produced += 1;
        if self.produced > MAX_NODES {
            return Err(Diagnostic::at(
                format!("YAML document expands to more than {MAX_NODES} nodes"),
                span,
            )
            .with_help("an alias refers to a large anchor many times (an alias bomb?)"));
        }
        Ok(())
    }

    fn node(&mut self, depth: usize) -> Result<Node> {
        let raw_span = self.events[self.position].1;
        let event = std::mem::replace(&mut self.events[self.position].0, OwnedEvent::Other);
        let span = self.span(&raw_span);
        if depth > MAX_DEPTH {
            return Err(Diagnostic::at(
                format!("YAML nesting is deeper than {MAX_DEPTH} levels"),
                &span,
            ));
        }
        self.count(&span)?;
        self.position += 1;
        match event {
            OwnedEvent::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Diagnostic::at("alias refers to an anchor that is not defined", &span)
                })?;
                // Each use of an alias costs as much as the nodes it copies.
                let size = node_size(&node);
                self.produced += size;
                self.count(&span)?;
                Ok(node)
            }
            OwnedEvent::Scalar {
                value,
                style,
                anchor,
                tag,
            } => {
                let node = Node::new(resolve_scalar(&value, style, tag.as_deref(), &span)?, span);
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            OwnedEvent::SequenceStart { anchor, tag } => {
                let mut items = Vec::new();
                loop {
                    match self.events.get(self.position).map(|(e, _)| e) {
                        Some(OwnedEvent::SequenceEnd) => {
                            self.position += 1;
                            break;
                        }
                        Some(_) => items.push(self.node(depth + 1)?),
                        None => return Err(Diagnostic::at("unterminated sequence", &span)),
                    }
                }
                check_collection_tag(tag.as_deref(), "!!seq", &span)?;
                let node = Node::new(NodeValue::Seq(items), span);
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            OwnedEvent::MappingStart { anchor, tag } => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merged: Vec<(Node, Node)> = Vec::new();
                loop {
                    match self.events.get(self.position).map(|(e, _)| e) {
                        Some(OwnedEvent::MappingEnd) => {
                            self.position += 1;
                            break;
                        }
                        Some(_) => {
                            let key = self.node(depth + 1)?;
                            let value = self.node(depth + 1)?;
                            if key.as_str() == Some("<<") {
                                merge_into(&mut merged, &value)?;
                            } else if let Some(existing) = entries.iter_mut().find(|(k, _)| {
                                k.key_text().is_some() && k.key_text() == key.key_text()
                            }) {
                                // Like PyYAML, the last duplicate key wins.
                                *existing = (key, value);
                            } else {
                                entries.push((key, value));
                            }
                        }
                        None => return Err(Diagnostic::at("unterminated mapping", &span)),
                    }
                }
                // Explicit keys win over merged ones.
                for (key, value) in merged {
                    if !entries.iter().any(|(k, _)| k.key_text() == key.key_text()) {
                        entries.push((key, value));
                    }
                }
                check_collection_tag(tag.as_deref(), "!!map", &span)?;
                let node = Node::new(NodeValue::Map(entries), span);
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            _ => Err(Diagnostic::at("unexpected YAML structure", &span)),
        }
    }
}

fn node_size(node: &Node) -> usize {
    match &node.value {
        NodeValue::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        NodeValue::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_size(k) + node_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn merge_into(merged: &mut Vec<(Node, Node)>, value: &Node) -> Result<()> {
    let sources: Vec<&Node> = match &value.value {
        NodeValue::Map(_) => vec![value],
        NodeValue::Seq(items) => items.iter().collect(),
        _ => {
            return Err(Diagnostic::at(
                format!(
                    "a merge key `<<` needs a mapping or a list of mappings, not {}",
                    value.kind_name()
                ),
                &value.span,
            ))
        }
    };
    // In a list of merges, earlier mappings win over later ones.
    for source in sources {
        let Some(entries) = source.as_map() else {
            return Err(Diagnostic::at(
                "a merge key `<<` list may only hold mappings",
                &source.span,
            ));
        };
        for (key, value) in entries {
            if !merged.iter().any(|(k, _)| k.key_text() == key.key_text()) {
                merged.push((key.clone(), value.clone()));
            }
        }
    }
    Ok(())
}

fn check_collection_tag(tag: Option<&str>, expected: &str, span: &Span) -> Result<()> {
    match tag {
        None => Ok(()),
        Some(t) if t == expected || t == "!" => Ok(()),
        Some(t) => Err(Diagnostic::at(
            format!("unsupported YAML tag `{t}` here"),
            span,
        )),
    }
}

/// Types a scalar by YAML 1.1 rules (PyYAML's resolver), honouring explicit tags.
fn resolve_scalar(
    value: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    span: &Span,
) -> Result<NodeValue> {
    match tag {
        Some("!unsafe") => return Ok(NodeValue::Unsafe(value.to_string())),
        Some("!vault") | Some("!vault-encrypted") => {
            return Ok(NodeValue::Vault(value.to_string()))
        }
        Some("!!str") | Some("!") => return Ok(NodeValue::String(value.to_string())),
        Some("!!int") => {
            return resolve_int(value)
                .map(NodeValue::Int)
                .ok_or_else(|| Diagnostic::at(format!("`{value}` is not an integer"), span))
        }
        Some("!!float") => {
            return resolve_float(value)
                .or_else(|| resolve_int(value).map(|i| i as f64))
                .map(NodeValue::Float)
                .ok_or_else(|| Diagnostic::at(format!("`{value}` is not a number"), span))
        }
        Some("!!bool") => {
            return resolve_bool(value)
                .map(NodeValue::Bool)
                .ok_or_else(|| Diagnostic::at(format!("`{value}` is not a boolean"), span))
        }
        Some("!!null") => return Ok(NodeValue::Null),
        Some("!!binary") | Some("!!timestamp") => return Ok(NodeValue::String(value.to_string())),
        Some(other) => {
            return Err(
                Diagnostic::at(format!("unknown YAML tag `{other}`"), span).with_help(
                    "Ansible files use `!unsafe` and `!vault`; other local tags are not supported",
                ),
            )
        }
        None => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(NodeValue::String(value.to_string()));
    }
    Ok(resolve_plain(value))
}

/// Types an untagged plain scalar.
pub fn resolve_plain(value: &str) -> NodeValue {
    if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        return NodeValue::Null;
    }
    if let Some(b) = resolve_bool(value) {
        return NodeValue::Bool(b);
    }
    if let Some(i) = resolve_int(value) {
        return NodeValue::Int(i);
    }
    if let Some(f) = resolve_float(value) {
        return NodeValue::Float(f);
    }
    if is_timestamp(value) {
        return NodeValue::Timestamp(value.to_string());
    }
    NodeValue::String(value.to_string())
}

/// YAML 1.1's timestamp: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`,
/// `2001-12-14 21:59:43.10 -5`.
fn is_timestamp(value: &str) -> bool {
    static TIMESTAMP: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    TIMESTAMP
        .get_or_init(|| {
            regex::Regex::new(
                r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
            )
            .expect("the timestamp pattern is valid")
        })
        .is_match(value)
}

fn resolve_bool(value: &str) -> Option<bool> {
    match value {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(value: &str) -> (i64, &str) {
    if let Some(rest) = value.strip_prefix('-') {
        (-1, rest)
    } else if let Some(rest) = value.strip_prefix('+') {
        (1, rest)
    } else {
        (1, value)
    }
}

fn resolve_int(value: &str) -> Option<i64> {
    let (sign, body) = split_sign(value);
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let magnitude = if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        // YAML 1.1 octal: `0755`.
        if !digits.chars().all(|c| ('0'..='7').contains(&c)) {
            return None;
        }
        i64::from_str_radix(&digits, 8).ok()?
    } else if digits.contains(':') {
        // Sexagesimal: `1:30` is 90.
        let mut total: i64 = 0;
        let parts: Vec<&str> = digits.split(':').collect();
        if parts[0].starts_with('0') {
            return None;
        }
        for (index, part) in parts.iter().enumerate() {
            let n: i64 = part.parse().ok()?;
            if index > 0 && (part.is_empty() || part.len() > 2 || n > 59) {
                return None;
            }
            total = total.checked_mul(60)?.checked_add(n)?;
        }
        total
    } else {
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    Some(sign * magnitude)
}

fn resolve_float(value: &str) -> Option<f64> {
    let (sign, body) = split_sign(value);
    let sign = sign as f64;
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if sign > 0.0 && !value.starts_with('+') => return Some(f64::NAN),
        _ => {}
    }
    // PyYAML: digits with a dot, an optional exponent that must carry a sign.
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits.as_str(), None),
    };
    let (whole, fraction) = mantissa.split_once('.')?;
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if let Some(exp) = exponent {
        let digits_part = exp.strip_prefix(['+', '-'])?;
        if digits_part.is_empty() || !digits_part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let text = format!("{}{}", if whole.is_empty() { "0" } else { "" }, digits);
    text.parse::<f64>().ok().map(|f| sign * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node {
        load_str(SourceFile::new("t.yml", text)).unwrap()
    }

    fn json(text: &str) -> serde_json::Value {
        load(text).to_json()
    }

    #[test]
    fn yaml_1_1_scalars() {
        assert_eq!(
            json("[yes, no, on, off, y, n, 0755, 0x1F, 1e3, 1.5, 1.0e+3, ~, '0755', 1:30, .inf]")
                .to_string(),
            r#"[true,false,true,false,"y","n",493,31,"1e3",1.5,1000.0,null,"0755",90,null]"#
        );
    }

    #[test]
    fn merge_keys_and_anchors() {
        let value = json("base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\n");
        assert_eq!(value["derived"].to_string(), r#"{"b":3,"a":1}"#);
    }

    #[test]
    fn unsafe_strings_are_marked() {
        let node = load("x: !unsafe '{{ not_a_template }}'\n");
        assert!(matches!(node.get("x").unwrap().value, NodeValue::Unsafe(_)));
    }

    #[test]
    fn positions_are_one_based() {
        let node = load("a:\n  bee: 1\n");
        let (key, _) = &node.get("a").unwrap().as_map().unwrap()[0];
        assert_eq!((key.span.line, key.span.column, key.span.length), (2, 3, 3));
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let error = load_str(SourceFile::new("bad.yml", "a: [1, 2\nb: 3\n")).unwrap_err();
        assert!(
            error.message.starts_with("invalid YAML"),
            "{}",
            error.message
        );
        assert!(error.span.is_some());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let error = load_str(SourceFile::new("bomb.yml", text)).unwrap_err();
        assert!(error.message.contains("more than"), "{}", error.message);
    }
}
