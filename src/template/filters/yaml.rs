//! YAML output the way Ansible's `to_yaml` and `to_nice_yaml` write it.
//!
//! Ansible dumps with PyYAML's `CSafeDumper`: keys sorted, strings quoted only when a
//! plain scalar would read back as something else (`'yes'`, `'123'`, `'- a'`), single
//! quotes preferred, double quotes for control characters, lines folded at 80 columns,
//! and sequences inside mappings not indented (`-   x: 1` with `indent=4`). Files written
//! with these filters are compared byte for byte on the next run, so this module follows
//! libyaml's emitter rule by rule; anchors and aliases are never written.

use std::sync::OnceLock;

use minijinja::value::ValueKind;
use minijinja::{Error, Value};
use regex::Regex;

use super::python::{failure, float_repr, pairs, py_str};

/// The `yaml.dump` keyword arguments the filters accept.
pub(crate) struct YamlStyle {
    pub(crate) indent: usize,
    pub(crate) width: usize,
    /// `default_flow_style`: `None` writes collections of scalars in flow style.
    pub(crate) flow: Option<bool>,
    pub(crate) sort_keys: bool,
    pub(crate) explicit_start: bool,
    pub(crate) explicit_end: bool,
}

impl Default for YamlStyle {
    fn default() -> Self {
        YamlStyle {
            indent: 2,
            width: 80,
            flow: None,
            sort_keys: true,
            explicit_start: false,
            explicit_end: false,
        }
    }
}

enum Node {
    Scalar {
        text: String,
        plain_implicit: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
}

impl Node {
    fn is_scalar(&self) -> bool {
        matches!(self, Node::Scalar { .. })
    }
}

/// Serialises a value as `yaml.dump(value, Dumper=AnsibleDumper, allow_unicode=True, ...)`.
pub(crate) fn dump(value: &Value, style: &YamlStyle) -> Result<String, Error> {
    let node = represent(value, style)?;
    let indent = if (2..=9).contains(&style.indent) {
        style.indent
    } else {
        2
    };
    let width = if style.width <= indent * 2 {
        80
    } else {
        style.width
    };
    let mut emitter = Emitter {
        out: String::new(),
        column: 0,
        indent: None,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        flow_level: 0,
        best_indent: indent,
        best_width: width,
    };
    if style.explicit_start {
        emitter.write_indicator("---", true, false, false);
    }
    emitter.emit_node(&node, false, false)?;
    emitter.write_indent();
    if style.explicit_end {
        emitter.write_indicator("...", true, false, false);
        emitter.write_indent();
    }
    Ok(emitter.out)
}

fn represent(value: &Value, style: &YamlStyle) -> Result<Node, Error> {
    let scalar = |text: String| Node::Scalar {
        text,
        plain_implicit: true,
    };
    Ok(match value.kind() {
        ValueKind::Undefined => return Err(failure("cannot serialise an undefined value to YAML")),
        ValueKind::None => scalar("null".to_string()),
        ValueKind::Bool => scalar(if value.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::Number if value.is_integer() => scalar(value.to_string()),
        ValueKind::Number => scalar(float_text(f64::try_from(value.clone()).unwrap_or(f64::NAN))),
        ValueKind::String | ValueKind::Bytes => {
            let text = py_str(value);
            Node::Scalar {
                plain_implicit: !resolves_to_other_type(&text),
                text,
            }
        }
        ValueKind::Map => {
            let mut entries = pairs(value).unwrap_or_default();
            if style.sort_keys {
                sort_keys(&mut entries);
            }
            let mut nodes = Vec::with_capacity(entries.len());
            for (key, item) in &entries {
                nodes.push((represent(key, style)?, represent(item, style)?));
            }
            let all_scalars = nodes.iter().all(|(k, v)| k.is_scalar() && v.is_scalar());
            Node::Map {
                flow: style.flow.unwrap_or(all_scalars),
                entries: nodes,
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = Vec::new();
            for item in value.try_iter()? {
                items.push(represent(&item, style)?);
            }
            let all_scalars = items.iter().all(Node::is_scalar);
            Node::Seq {
                flow: style.flow.unwrap_or(all_scalars),
                items,
            }
        }
        _ => scalar(value.to_string()),
    })
}

/// PyYAML sorts the items of a dict when the keys are comparable and keeps their order
/// when Python would raise a `TypeError` (a mix of strings and numbers).
fn sort_keys(entries: &mut [(Value, Value)]) {
    let strings = entries.iter().all(|(k, _)| k.kind() == ValueKind::String);
    let numbers = entries
        .iter()
        .all(|(k, _)| matches!(k.kind(), ValueKind::Number | ValueKind::Bool));
    if strings || numbers {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// `represent_float`: Python's repr in lower case, with `.0` added before a bare exponent.
fn float_text(number: f64) -> String {
    if number.is_nan() {
        return ".nan".to_string();
    }
    if number.is_infinite() {
        return if number > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    let text = float_repr(number).to_lowercase();
    if !text.contains('.') && text.contains('e') {
        text.replacen('e', ".0e", 1)
    } else {
        text
    }
}

/// Whether a plain scalar with this text would load as a bool, number, null, date or
/// merge key (YAML 1.1, PyYAML's resolver), so a string with it must be quoted.
pub(crate) fn resolves_to_other_type(text: &str) -> bool {
    static IMPLICIT: OnceLock<Regex> = OnceLock::new();
    let regex = IMPLICIT.get_or_init(|| {
        let patterns = [
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
            r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r"~|null|Null|NULL|",
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
            r"<<|=|!|&|\*",
        ];
        Regex::new(&format!("^(?:{})$", patterns.join("|"))).expect("the resolver patterns are valid")
    });
    regex.is_match(text)
}

struct Analysis {
    empty: bool,
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single_quoted: bool,
}

fn is_break(ch: char) -> bool {
    matches!(ch, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(ch: Option<char>) -> bool {
    match ch {
        None => true,
        Some(ch) => ch == ' ' || ch == '\t' || is_break(ch) || ch == '\0',
    }
}

/// libyaml's `IS_PRINTABLE`: characters above U+FFFF count as unprintable too.
fn is_printable(ch: char) -> bool {
    matches!(ch, '\n' | '\x20'..='\x7e' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && ch != '\u{feff}'
}

/// libyaml's `yaml_emitter_analyze_scalar`: which styles can carry this text.
fn analyze(text: &str) -> Analysis {
    if text.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single_quoted: true,
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let mut flow_indicators = block_indicators;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let mut tabs = false;
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (index, &ch) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blank_or_end(chars.get(index + 1).copied());
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                block_indicators |= followed_by_whitespace;
            }
            if ch == '-' && followed_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                block_indicators |= followed_by_whitespace;
            }
            if ch == '#' && preceded_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if ch == '\t' {
            tabs = true;
        }
        if !is_printable(ch) {
            special = true;
        }
        if is_break(ch) {
            line_breaks = true;
        }
        let last = index + 1 == chars.len();
        if ch == ' ' {
            leading_space |= index == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            leading_break |= index == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank_or_end(Some(ch));
    }
    let mut analysis = Analysis {
        empty: false,
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single_quoted: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        analysis.flow_plain = false;
        analysis.block_plain = false;
    }
    if break_space || space_break || tabs || special {
        analysis.flow_plain = false;
        analysis.block_plain = false;
        analysis.single_quoted = false;
    }
    if line_breaks {
        analysis.flow_plain = false;
        analysis.block_plain = false;
    }
    if flow_indicators {
        analysis.flow_plain = false;
    }
    if block_indicators {
        analysis.block_plain = false;
    }
    analysis
}

#[derive(Clone, Copy, PartialEq)]
enum ScalarStyle {
    Plain,
    Single,
    Double,
}

struct Emitter {
    out: String,
    column: usize,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    whitespace: bool,
    indention: bool,
    flow_level: usize,
    best_indent: usize,
    best_width: usize,
}

impl Emitter {
    fn put(&mut self, ch: char) {
        self.out.push(ch);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for ch in indicator.chars() {
            self.put(ch);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None => Some(if flow { self.best_indent } else { 0 }),
            Some(indent) if !indentless => Some(indent + self.best_indent),
            same => same,
        };
    }

    fn decrease_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn check_simple_key(node: &Node) -> bool {
        match node {
            Node::Scalar { text, .. } => !analyze(text).multiline && text.len() <= 128,
            Node::Seq { items, .. } => items.is_empty(),
            Node::Map { entries, .. } => entries.is_empty(),
        }
    }

    fn emit_node(
        &mut self,
        node: &Node,
        mapping_context: bool,
        simple_key: bool,
    ) -> Result<(), Error> {
        match node {
            Node::Scalar {
                text,
                plain_implicit,
            } => {
                self.emit_scalar(text, *plain_implicit, simple_key);
            }
            Node::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.emit_flow_sequence(items)?;
                } else {
                    self.emit_block_sequence(items, mapping_context)?;
                }
            }
            Node::Map { entries, flow } => {
                if self.flow_level > 0 || *flow || entries.is_empty() {
                    self.emit_flow_mapping(entries)?;
                } else {
                    self.emit_block_mapping(entries)?;
                }
            }
        }
        Ok(())
    }

    fn emit_block_sequence(&mut self, items: &[Node], mapping_context: bool) -> Result<(), Error> {
        let indentless = mapping_context && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.emit_node(item, false, false)?;
        }
        self.decrease_indent();
        Ok(())
    }

    fn emit_block_mapping(&mut self, entries: &[(Node, Node)]) -> Result<(), Error> {
        self.increase_indent(false, false);
        for (key, value) in entries {
            self.write_indent();
            if Self::check_simple_key(key) {
                self.emit_node(key, true, true)?;
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.emit_node(key, true, false)?;
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.emit_node(value, true, false)?;
        }
        self.decrease_indent();
        Ok(())
    }

    fn emit_flow_sequence(&mut self, items: &[Node]) -> Result<(), Error> {
        self.write_indicator("[", true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.emit_node(item, false, false)?;
        }
        self.flow_level -= 1;
        self.decrease_indent();
        self.write_indicator("]", false, false, false);
        Ok(())
    }

    fn emit_flow_mapping(&mut self, entries: &[(Node, Node)]) -> Result<(), Error> {
        self.write_indicator("{", true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        for (index, (key, value)) in entries.iter().enumerate() {
            if index > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if Self::check_simple_key(key) {
                self.emit_node(key, true, true)?;
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.emit_node(key, true, false)?;
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.emit_node(value, true, false)?;
        }
        self.flow_level -= 1;
        self.decrease_indent();
        self.write_indicator("}", false, false, false);
        Ok(())
    }

    fn select_style(
        &self,
        analysis: &Analysis,
        plain_implicit: bool,
        simple_key: bool,
    ) -> ScalarStyle {
        if simple_key && analysis.multiline {
            return ScalarStyle::Double;
        }
        let mut style = ScalarStyle::Plain;
        let plain_allowed = if self.flow_level > 0 {
            analysis.flow_plain
        } else {
            analysis.block_plain
        };
        if !plain_allowed
            || (analysis.empty && (self.flow_level > 0 || simple_key))
            || !plain_implicit
        {
            style = ScalarStyle::Single;
        }
        if style == ScalarStyle::Single && !analysis.single_quoted {
            style = ScalarStyle::Double;
        }
        style
    }

    fn emit_scalar(&mut self, text: &str, plain_implicit: bool, simple_key: bool) {
        let analysis = analyze(text);
        let style = self.select_style(&analysis, plain_implicit, simple_key);
        self.increase_indent(true, false);
        let allow_breaks = !simple_key;
        match style {
            ScalarStyle::Plain => self.write_plain(text, allow_breaks),
            ScalarStyle::Single => self.write_single_quoted(text, allow_breaks),
            ScalarStyle::Double => self.write_double_quoted(text, allow_breaks),
        }
        self.decrease_indent();
    }

    fn write_plain(&mut self, text: &str, allow_breaks: bool) {
        if !self.whitespace && (!text.is_empty() || self.flow_level > 0) {
            self.put(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (index, &ch) in chars.iter().enumerate() {
            if ch == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && chars.get(index + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else {
                self.put(ch);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (index, &ch) in chars.iter().enumerate() {
            if ch == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && index != 0
                    && index + 1 != chars.len()
                    && chars.get(index + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else if is_break(ch) {
                if !breaks && ch == '\n' {
                    self.put_break();
                }
                if ch == '\n' {
                    self.put_break();
                } else {
                    self.out.push(ch);
                    self.column = 0;
                }
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if ch == '\'' {
                    self.put('\'');
                }
                self.put(ch);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (index, &ch) in chars.iter().enumerate() {
            if !is_printable(ch) || ch == '\u{feff}' || is_break(ch) || ch == '"' || ch == '\\' {
                self.put('\\');
                let short = match ch {
                    '\0' => Some('0'),
                    '\x07' => Some('a'),
                    '\x08' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\x0b' => Some('v'),
                    '\x0c' => Some('f'),
                    '\r' => Some('r'),
                    '\x1b' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(letter) => self.put(letter),
                    None => {
                        let code = ch as u32;
                        let escaped = if code <= 0xff {
                            format!("x{code:02X}")
                        } else if code <= 0xffff {
                            format!("u{code:04X}")
                        } else {
                            format!("U{code:08X}")
                        };
                        for letter in escaped.chars() {
                            self.put(letter);
                        }
                    }
                }
                spaces = false;
            } else if ch == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && index != 0
                    && index + 1 != chars.len()
                {
                    self.write_indent();
                    if chars.get(index + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(ch);
                }
                spaces = true;
            } else {
                self.put(ch);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice(value: &Value, indent: usize) -> String {
        let style = YamlStyle {
            indent,
            flow: Some(false),
            ..YamlStyle::default()
        };
        dump(value, &style).unwrap()
    }

    fn parse(json: &str) -> Value {
        super::super::json::loads(json).unwrap()
    }

    #[test]
    fn block_style_matches_pyyaml() {
        let data =
            parse(r#"{"b": {"c": "yes"}, "a": [1, 2], "d": [{"x": 1, "y": [1, {"z": null}]}]}"#);
        assert_eq!(
            nice(&data, 4),
            "a:\n- 1\n- 2\nb:\n    c: 'yes'\nd:\n-   x: 1\n    y:\n    - 1\n    -   z: null\n"
        );
        assert_eq!(
            nice(&data, 2),
            "a:\n- 1\n- 2\nb:\n  c: 'yes'\nd:\n- x: 1\n  y:\n  - 1\n  - z: null\n"
        );
        assert_eq!(
            nice(&parse("[[1, 2], [3]]"), 4),
            "-   - 1\n    - 2\n-   - 3\n"
        );
    }

    #[test]
    fn flow_style_for_leaf_collections() {
        let data = parse(r#"{"a": [1, 2], "b": {"c": "yes"}}"#);
        assert_eq!(
            dump(&data, &YamlStyle::default()).unwrap(),
            "a: [1, 2]\nb: {c: 'yes'}\n"
        );
        assert_eq!(
            dump(&Value::from("foo"), &YamlStyle::default()).unwrap(),
            "foo\n"
        );
        assert_eq!(
            dump(&Value::from(""), &YamlStyle::default()).unwrap(),
            "''\n"
        );
        assert_eq!(
            dump(&Value::from(1e17), &YamlStyle::default()).unwrap(),
            "1.0e+17\n"
        );
    }

    #[test]
    fn scalars_are_quoted_like_pyyaml() {
        let data = parse(
            r##"{"k": "key with spaces", "k2": null, "k3": "~", "k4": "2001-01-01", "k5": "1e5",
               "k6": "0x1f", "k7": "1:20", "k8": ".5", "k9": "=", "k10": "<<", "t": "a\tb",
               "m": "line1\nline2", "h": "#x", "i": "a #b", "j": "a#b", "c": "x: y", "g": "é"}"##,
        );
        assert_eq!(
            nice(&data, 4),
            "c: 'x: y'\ng: é\nh: '#x'\ni: 'a #b'\nj: a#b\nk: key with spaces\nk10: '<<'\nk2: null\n\
             k3: '~'\nk4: '2001-01-01'\nk5: 1e5\nk6: '0x1f'\nk7: '1:20'\nk8: '.5'\nk9: '='\n\
             m: 'line1\n\n    line2'\nt: \"a\\tb\"\n"
        );
    }

    #[test]
    fn long_lines_fold_at_eighty_columns() {
        let data = Value::from_pairs([("a", "x ".repeat(60))]);
        assert_eq!(
            nice(&data, 4),
            "a: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\n    \
             x x x x x x x x x x x x x x x x x x x x x '\n"
        );
    }
}
