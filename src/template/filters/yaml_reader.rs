//! A small YAML reader for `from_yaml` and `from_yaml_all`.
//!
//! Templates feed `from_yaml` command output and small documents: block mappings and
//! sequences, flow collections (JSON included), plain, quoted and block (`|`, `>`)
//! scalars, comments, several documents, anchors, aliases and `<<` merge keys. Scalars
//! resolve as PyYAML's safe loader resolves them (YAML 1.1: `yes` is true, `017` is
//! octal, `0o17` is text); dates stay strings. Collections used as mapping keys are not
//! understood, and a custom tag (`!vault`) leaves its scalar as text.

use std::collections::HashMap;

use minijinja::{Error, Value};

use super::python::{failure, pairs};
use super::yaml::resolves_to_other_type;

/// `yaml.safe_load`: one document; an empty text is `None`.
pub(crate) fn load(text: &str) -> Result<Value, Error> {
    let mut documents = load_all(text)?;
    match documents.len() {
        0 => Ok(Value::from(())),
        1 => Ok(documents.remove(0)),
        _ => Err(failure(
            "from_yaml: expected a single document but found several (use `from_yaml_all`)",
        )),
    }
}

/// `yaml.safe_load_all`: every document in the text.
pub(crate) fn load_all(text: &str) -> Result<Vec<Value>, Error> {
    let mut documents = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut explicit = false;
    let mut in_document = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            if in_document || explicit || current.iter().any(|l| !is_blank(l)) {
                documents.push(std::mem::take(&mut current));
            }
            explicit = true;
            in_document = true;
            current.push(format!("    {}", &line[3..].trim_start()));
        } else if line == "..." || line.starts_with("... ") {
            documents.push(std::mem::take(&mut current));
            explicit = false;
            in_document = false;
        } else if line.starts_with('%') && !in_document {
            continue;
        } else {
            if !is_blank(line) {
                in_document = true;
            }
            current.push(line.to_string());
        }
    }
    if in_document || explicit || current.iter().any(|l| !is_blank(l)) {
        documents.push(current);
    }
    documents
        .into_iter()
        .filter(|lines| !lines.is_empty() || explicit)
        .map(|lines| {
            let mut reader = Reader {
                lines,
                pos: 0,
                anchors: HashMap::new(),
            };
            let value = reader.block(-1)?;
            reader.skip_blank();
            if reader.pos < reader.lines.len() {
                return Err(reader.error("unexpected content"));
            }
            Ok(value)
        })
        .collect()
}

fn is_blank(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_sequence_entry(rest: &str) -> bool {
    is_indicator(rest, '-')
}

/// Whether the line starts with `indicator` on its own (`- x`, `? key`, `: value`).
fn is_indicator(rest: &str, indicator: char) -> bool {
    let mut chars = rest.chars();
    chars.next() == Some(indicator) && matches!(chars.next(), None | Some(' ') | Some('\t'))
}

/// Cuts a ` # comment` off the end of a line, outside quotes.
fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (index, ch) in text.char_indices() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if (ch == '\'' || ch == '"') && (index == 0 || " \t[{,:".contains(previous)) => {
                quote = Some(ch)
            }
            None if ch == '#' && (previous == ' ' || previous == '\t' || index == 0) => {
                return text[..index].trim_end();
            }
            None => {}
        }
        previous = ch;
    }
    text.trim_end()
}

/// Finds the `key: ` separator on a block mapping line: the key text and where the value
/// starts. `None` when the line is not a key.
fn split_key(rest: &str) -> Option<(String, bool, usize)> {
    let bytes = rest.as_bytes();
    let separator = |index: usize| {
        bytes.get(index) == Some(&b':')
            && matches!(bytes.get(index + 1), None | Some(b' ') | Some(b'\t'))
    };
    if rest.starts_with('\'') || rest.starts_with('"') {
        let quote = rest.as_bytes()[0];
        let mut index = 1;
        while index < bytes.len() {
            if bytes[index] == b'\\' && quote == b'"' {
                index += 2;
                continue;
            }
            if bytes[index] == quote {
                if quote == b'\'' && bytes.get(index + 1) == Some(&b'\'') {
                    index += 2;
                    continue;
                }
                break;
            }
            index += 1;
        }
        let mut after = index + 1;
        while bytes.get(after) == Some(&b' ') {
            after += 1;
        }
        return separator(after).then(|| {
            (
                rest[..=index.min(bytes.len() - 1)].to_string(),
                true,
                after + 1,
            )
        });
    }
    if rest.starts_with(['[', '{', '#', '|', '>', '*', '&', '!'])
        || is_sequence_entry(rest)
        || is_indicator(rest, ':')
    {
        return None;
    }
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'#' && index > 0 && bytes[index - 1] == b' ' {
            return None;
        }
        if separator(index) {
            return Some((rest[..index].trim_end().to_string(), false, index + 1));
        }
        index += 1;
    }
    None
}

struct Reader {
    lines: Vec<String>,
    pos: usize,
    anchors: HashMap<String, Value>,
}

impl Reader {
    fn error(&self, what: &str) -> Error {
        failure(format!("from_yaml: {what} on line {}", self.pos + 1))
    }

    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && is_blank(&self.lines[self.pos]) {
            self.pos += 1;
        }
    }

    /// The node whose lines are indented more than `parent`; null when there is none.
    fn block(&mut self, parent: isize) -> Result<Value, Error> {
        self.skip_blank();
        let Some(line) = self.lines.get(self.pos) else {
            return Ok(Value::from(()));
        };
        let indent = indent_of(line);
        if indent as isize <= parent {
            return Ok(Value::from(()));
        }
        let rest = &line[indent..];
        if is_sequence_entry(rest) {
            self.sequence(indent)
        } else if split_key(rest).is_some() || is_indicator(rest, '?') {
            self.mapping(indent)
        } else {
            self.inline(indent, parent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Result<Value, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get(self.pos) else {
                break;
            };
            if indent_of(line) != indent || !is_sequence_entry(&line[indent..]) {
                break;
            }
            let after_dash = &line[indent + 1..];
            let gap = after_dash.len() - after_dash.trim_start_matches([' ', '\t']).len();
            if strip_comment(after_dash).is_empty() {
                self.pos += 1;
                items.push(self.block(indent as isize)?);
            } else {
                // Blank out the dash: the item is then a node on its own line, so a
                // compact mapping (`- a: 1` / `  b: 2`) reads like any other mapping.
                let column = indent + 1 + gap;
                let line = format!("{}{}", " ".repeat(column), &line[column..]);
                self.lines[self.pos] = line;
                items.push(self.block(indent as isize)?);
            }
        }
        Ok(Value::from(items))
    }

    fn mapping(&mut self, indent: usize) -> Result<Value, Error> {
        let mut entries: Vec<(Value, Value)> = Vec::new();
        let mut merges: Vec<Value> = Vec::new();
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get(self.pos).cloned() else {
                break;
            };
            if indent_of(&line) != indent {
                if indent_of(&line) > indent {
                    return Err(self.error("bad indentation of a mapping entry"));
                }
                break;
            }
            if is_indicator(&line[indent..], '?') {
                let key = self.indicated_node(indent)?;
                self.skip_blank();
                let value = match self.lines.get(self.pos) {
                    Some(next)
                        if indent_of(next) == indent && is_indicator(&next[indent..], ':') =>
                    {
                        self.indicated_node(indent)?
                    }
                    _ => Value::from(()),
                };
                entries.retain(|(k, _)| *k != key);
                entries.push((key, value));
                continue;
            }
            let Some((key_text, quoted, value_at)) = split_key(&line[indent..]) else {
                break;
            };
            let key = if quoted {
                let mut chars = key_text.chars().peekable();
                quoted_scalar(&mut chars).map_err(|what| self.error(&what))?
            } else {
                resolve(&key_text)
            };
            let column = indent + value_at;
            let rest = strip_comment(&line[column.min(line.len())..]);
            let value = if rest.trim().is_empty() {
                self.pos += 1;
                self.skip_blank();
                match self.lines.get(self.pos) {
                    Some(next)
                        if indent_of(next) == indent && is_sequence_entry(&next[indent..]) =>
                    {
                        self.sequence(indent)?
                    }
                    _ => self.block(indent as isize)?,
                }
            } else {
                let start = column + (line[column..].len() - line[column..].trim_start().len());
                self.lines[self.pos] = format!("{}{}", " ".repeat(start), &line[start..]);
                self.inline(start, indent as isize)?
            };
            if key.as_str() == Some("<<") && !quoted {
                merges.push(value);
            } else if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                entries.push((key, value));
            }
        }
        if merges.is_empty() {
            return Ok(Value::from_pairs(entries));
        }
        // PyYAML puts merged keys first (the last source first) and lets the mapping's own
        // keys override them in place.
        let mut combined: Vec<(Value, Value)> = Vec::new();
        let mut sources = Vec::new();
        for merge in merges {
            if merge.kind() == minijinja::value::ValueKind::Seq {
                let mut listed: Vec<Value> = merge.try_iter()?.collect();
                listed.reverse();
                sources.extend(listed);
            } else {
                sources.push(merge);
            }
        }
        for source in sources {
            combined.extend(pairs(&source).ok_or_else(|| self.error("`<<` must merge a mapping"))?);
        }
        combined.extend(entries);
        let mut merged: Vec<(Value, Value)> = Vec::new();
        for (key, value) in combined {
            match merged.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => merged.push((key, value)),
            }
        }
        entries = merged;
        Ok(Value::from_pairs(entries))
    }

    /// The node after a `? ` or `: ` indicator at `indent`: on the same line, or on the
    /// lines below it.
    fn indicated_node(&mut self, indent: usize) -> Result<Value, Error> {
        let line = self.lines[self.pos].clone();
        let after = &line[indent + 1..];
        if strip_comment(after).trim().is_empty() {
            self.pos += 1;
            return self.block(indent as isize);
        }
        let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
        let column = indent + 1 + gap;
        self.lines[self.pos] = format!("{}{}", " ".repeat(column), &line[column..]);
        self.block(indent as isize)
    }

    /// A node that starts on the current line at byte `column`.
    fn inline(&mut self, column: usize, parent: isize) -> Result<Value, Error> {
        let line = self.lines[self.pos].clone();
        let mut rest = &line[column..];
        let mut anchor = None;
        let mut tag = None;
        loop {
            if let Some(name) = rest.strip_prefix('&') {
                let end = name.find([' ', '\t']).unwrap_or(name.len());
                anchor = Some(name[..end].to_string());
                rest = name[end..].trim_start();
            } else if rest.starts_with('!') {
                let end = rest.find([' ', '\t']).unwrap_or(rest.len());
                tag = Some(rest[..end].to_string());
                rest = rest[end..].trim_start();
            } else {
                break;
            }
        }
        let start = line.len() - rest.len();
        let body = strip_comment(rest);
        let value = if body.is_empty() {
            self.pos += 1;
            self.block(parent)?
        } else if let Some(name) = body.strip_prefix('*') {
            self.pos += 1;
            self.anchors
                .get(name.trim())
                .cloned()
                .ok_or_else(|| self.error(&format!("unknown alias `{}`", name.trim())))?
        } else if body.starts_with('|') || body.starts_with('>') {
            self.pos += 1;
            Value::from(self.block_scalar(body, parent)?)
        } else if body.starts_with('[') || body.starts_with('{') {
            self.flow(start)?
        } else if body.starts_with('"') || body.starts_with('\'') {
            Value::from(self.multiline_quoted(start)?)
        } else {
            let text = self.plain(body, parent);
            if tag.is_some() {
                Value::from(text)
            } else {
                resolve(&text)
            }
        };
        let value = apply_tag(value, tag.as_deref());
        if let Some(name) = anchor {
            self.anchors.insert(name, value.clone());
        }
        Ok(value)
    }

    /// A plain scalar and its continuation lines, folded into one line.
    fn plain(&mut self, first: &str, parent: isize) -> String {
        let mut text = first.trim_matches([' ', '\t']).to_string();
        self.pos += 1;
        let mut blank_lines = 0;
        while let Some(line) = self.lines.get(self.pos) {
            let trimmed = line.trim_matches([' ', '\t']);
            if trimmed.is_empty() {
                blank_lines += 1;
                self.pos += 1;
                continue;
            }
            if indent_of(line) as isize <= parent
                || trimmed.starts_with('#')
                || split_key(trimmed).is_some()
            {
                break;
            }
            text.push_str(&if blank_lines == 0 {
                " ".to_string()
            } else {
                "\n".repeat(blank_lines)
            });
            text.push_str(strip_comment(trimmed));
            blank_lines = 0;
            self.pos += 1;
        }
        if blank_lines > 0 {
            self.pos -= blank_lines;
        }
        text
    }

    fn block_scalar(&mut self, header: &str, parent: isize) -> Result<String, Error> {
        let folded = header.starts_with('>');
        let mut chomp = 'c';
        let mut explicit = None;
        for ch in header[1..].trim().chars() {
            match ch {
                '-' | '+' => chomp = ch,
                '1'..='9' => explicit = ch.to_digit(10).map(|d| d as usize),
                _ => return Err(self.error("bad block scalar header")),
            }
        }
        let base = parent.max(0) as usize;
        let mut indent = explicit.map(|digit| if parent < 0 { digit } else { base + digit });
        let mut lines: Vec<String> = Vec::new();
        while let Some(line) = self.lines.get(self.pos) {
            if line.trim().is_empty() {
                lines.push(String::new());
                self.pos += 1;
                continue;
            }
            let found = indent_of(line);
            let needed = *indent.get_or_insert(found);
            if found < needed || found as isize <= parent {
                break;
            }
            lines.push(line[needed..].to_string());
            self.pos += 1;
        }
        let trailing = lines.iter().rev().take_while(|l| l.is_empty()).count();
        // Blank lines that end the scalar belong to whatever follows unless kept.
        lines.truncate(lines.len() - trailing);
        let mut text = String::new();
        let mut previous: Option<&String> = None;
        let mut empty_run = 0;
        for line in &lines {
            if line.is_empty() {
                empty_run += 1;
                continue;
            }
            if let Some(before) = previous {
                let spaced = |l: &String| l.starts_with(' ') || l.starts_with('\t');
                if folded && !spaced(before) && !spaced(line) {
                    text.push_str(&if empty_run == 0 {
                        " ".to_string()
                    } else {
                        "\n".repeat(empty_run)
                    });
                } else {
                    text.push_str(&"\n".repeat(empty_run + 1));
                }
            } else {
                text.push_str(&"\n".repeat(empty_run));
            }
            text.push_str(line);
            previous = Some(line);
            empty_run = 0;
        }
        match chomp {
            '-' => {}
            '+' => text.push_str(&"\n".repeat(trailing + usize::from(previous.is_some()))),
            _ if previous.is_some() => text.push('\n'),
            _ => {}
        }
        Ok(text)
    }

    /// Collects the text of a flow collection, across lines, and parses it.
    fn flow(&mut self, start: usize) -> Result<Value, Error> {
        let mut source: Vec<char> = Vec::new();
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut line_index = self.pos;
        let mut column = start;
        let mut previous = ' ';
        'lines: while let Some(line) = self.lines.get(line_index) {
            for ch in line[column..].chars() {
                source.push(ch);
                match quote {
                    Some(q) if ch == q => quote = None,
                    Some(_) => {}
                    None => match ch {
                        '"' | '\'' if " \t\n[{,:".contains(previous) => quote = Some(ch),
                        '[' | '{' => depth += 1,
                        ']' | '}' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break 'lines;
                            }
                        }
                        '#' if previous == ' ' => {
                            source.pop();
                            break;
                        }
                        _ => {}
                    },
                }
                previous = ch;
            }
            source.push('\n');
            previous = '\n';
            line_index += 1;
            column = 0;
        }
        if depth != 0 {
            return Err(self.error("unterminated flow collection"));
        }
        self.pos = line_index + 1;
        let mut cursor = Flow {
            chars: source,
            at: 0,
            reader: self,
        };
        cursor.value()
    }

    /// A quoted scalar that may continue on the following lines.
    fn multiline_quoted(&mut self, start: usize) -> Result<String, Error> {
        let quote = self.lines[self.pos][start..].chars().next().unwrap_or('"');
        let mut source = String::new();
        let mut index = self.pos;
        let mut column = start;
        while let Some(line) = self.lines.get(index) {
            source.push_str(&line[column..]);
            if closes_quote(&source, quote) {
                break;
            }
            source.push('\n');
            index += 1;
            column = 0;
        }
        self.pos = index + 1;
        let mut chars = source.chars().peekable();
        let value = quoted_scalar(&mut chars).map_err(|what| self.error(&what))?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }
}

/// Whether `text` (starting with a quote) already holds the closing quote.
fn closes_quote(text: &str, quote: char) -> bool {
    let mut chars = text.chars().skip(1).peekable();
    while let Some(ch) = chars.next() {
        if quote == '"' && ch == '\\' {
            chars.next();
        } else if ch == quote {
            if quote == '\'' && chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return true;
            }
        }
    }
    false
}

/// Reads a quoted scalar, folding its line breaks and decoding escapes.
fn quoted_scalar<I: Iterator<Item = char>>(
    chars: &mut std::iter::Peekable<I>,
) -> Result<Value, String> {
    let quote = chars.next().ok_or("empty quoted scalar")?;
    let mut out = String::new();
    loop {
        let ch = chars.next().ok_or("unterminated quoted scalar")?;
        match ch {
            _ if ch == quote => {
                if quote == '\'' && chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return Ok(Value::from(out));
            }
            '\n' => {
                while out.ends_with([' ', '\t']) {
                    out.pop();
                }
                let mut breaks = 0;
                loop {
                    while matches!(chars.peek(), Some(' ') | Some('\t')) {
                        chars.next();
                    }
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                        breaks += 1;
                    } else {
                        break;
                    }
                }
                out.push_str(&if breaks == 0 {
                    " ".to_string()
                } else {
                    "\n".repeat(breaks)
                });
            }
            '\\' if quote == '"' => {
                let escape = chars.next().ok_or("unterminated escape")?;
                let hex = |chars: &mut std::iter::Peekable<I>, width: usize| {
                    let digits: String = chars.by_ref().take(width).collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or(format!("bad escape `\\{escape}{digits}`"))
                };
                match escape {
                    '0' => out.push('\0'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    't' | '\t' => out.push('\t'),
                    'n' => out.push('\n'),
                    'v' => out.push('\x0b'),
                    'f' => out.push('\x0c'),
                    'r' => out.push('\r'),
                    'e' => out.push('\x1b'),
                    ' ' | '"' | '/' | '\\' => out.push(escape),
                    'N' => out.push('\u{85}'),
                    '_' => out.push('\u{a0}'),
                    'L' => out.push('\u{2028}'),
                    'P' => out.push('\u{2029}'),
                    'x' => out.push(hex(chars, 2)?),
                    'u' => out.push(hex(chars, 4)?),
                    'U' => out.push(hex(chars, 8)?),
                    '\n' => {
                        while matches!(chars.peek(), Some(' ') | Some('\t')) {
                            chars.next();
                        }
                    }
                    other => return Err(format!("unknown escape `\\{other}`")),
                }
            }
            _ => out.push(ch),
        }
    }
}

/// A cursor over the text of a flow collection.
struct Flow<'r> {
    chars: Vec<char>,
    at: usize,
    reader: &'r mut Reader,
}

impl Flow<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(ch) = self.peek() {
            if matches!(ch, ' ' | '\t' | '\n' | '\r') {
                self.at += 1;
            } else {
                break;
            }
        }
    }

    fn fail(&self, what: &str) -> Error {
        self.reader.error(&format!("{what} in a flow collection"))
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.skip_space();
        if self.peek() == Some('?')
            && self
                .chars
                .get(self.at + 1)
                .is_some_and(|c| matches!(c, ' ' | '\t' | '\n'))
        {
            self.at += 1;
            self.skip_space();
        }
        let mut anchor = None;
        let mut tag = None;
        while let Some(marker @ ('&' | '!')) = self.peek() {
            let start = self.at;
            while self
                .peek()
                .is_some_and(|c| !matches!(c, ' ' | '\t' | '\n') && !",[]{}".contains(c))
            {
                self.at += 1;
            }
            let name: String = self.chars[start + 1..self.at].iter().collect();
            if marker == '&' {
                anchor = Some(name);
            } else {
                tag = Some(format!("!{name}"));
            }
            self.skip_space();
        }
        let value = match self.peek() {
            Some('[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(']') {
                        self.at += 1;
                        break;
                    }
                    let item = self.value()?;
                    self.skip_space();
                    let item = if self.peek() == Some(':') {
                        self.at += 1;
                        let value = self.optional_value()?;
                        Value::from_pairs([(item, value)])
                    } else {
                        item
                    };
                    items.push(item);
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some(']') => {}
                        _ => return Err(self.fail("expected `,` or `]`")),
                    }
                }
                Value::from(items)
            }
            Some('{') => {
                self.at += 1;
                let mut entries: Vec<(Value, Value)> = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some('}') {
                        self.at += 1;
                        break;
                    }
                    let key = self.value()?;
                    self.skip_space();
                    let value = if self.peek() == Some(':') {
                        self.at += 1;
                        self.optional_value()?
                    } else {
                        Value::from(())
                    };
                    entries.retain(|(k, _)| *k != key);
                    entries.push((key, value));
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some('}') => {}
                        _ => return Err(self.fail("expected `,` or `}`")),
                    }
                }
                Value::from_pairs(entries)
            }
            Some('"') | Some('\'') => {
                let mut rest = self.chars[self.at..].iter().copied().peekable();
                let before = self.chars.len() - self.at;
                let value = quoted_scalar(&mut rest).map_err(|what| self.fail(&what))?;
                self.at += before - rest.count();
                value
            }
            Some('*') => {
                let start = self.at + 1;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !",[]{}".contains(c))
                {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().collect();
                self.reader
                    .anchors
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| self.fail(&format!("unknown alias `{name}`")))?
            }
            Some(_) => {
                let start = self.at;
                while let Some(ch) = self.peek() {
                    let next = self.chars.get(self.at + 1).copied();
                    if ",[]{}".contains(ch)
                        || (ch == ':'
                            && next.is_none_or(|n| {
                                matches!(n, ' ' | '\t' | '\n') || ",[]{}".contains(n)
                            }))
                    {
                        break;
                    }
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                let text = text
                    .split(['\n', '\r'])
                    .map(|line| line.trim_matches([' ', '\t']))
                    .filter(|line| !line.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                if tag.is_some() {
                    Value::from(text)
                } else {
                    resolve(&text)
                }
            }
            None => return Err(self.fail("unexpected end")),
        };
        let value = apply_tag(value, tag.as_deref());
        if let Some(name) = anchor {
            self.reader.anchors.insert(name, value.clone());
        }
        Ok(value)
    }

    fn optional_value(&mut self) -> Result<Value, Error> {
        self.skip_space();
        match self.peek() {
            Some(',') | Some('}') | Some(']') | None => Ok(Value::from(())),
            _ => self.value(),
        }
    }
}

fn apply_tag(value: Value, tag: Option<&str>) -> Value {
    let text = || {
        value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string())
    };
    match tag {
        Some("!!str") => Value::from(text()),
        Some("!!int") | Some("!!float") | Some("!!bool") | Some("!!null") => resolve(&text()),
        _ => value,
    }
}

/// PyYAML's implicit typing of a plain scalar (YAML 1.1). Dates are left as text.
pub(crate) fn resolve(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::from(()),
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::from(true)
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::from(false)
        }
        _ => {}
    }
    if !resolves_to_other_type(text) {
        return Value::from(text);
    }
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    let sign = |number: i128| Value::from(if negative { -number } else { number });
    let fsign = |number: f64| Value::from(if negative { -number } else { number });
    if let Some(binary) = digits.strip_prefix("0b") {
        if let Ok(number) = i128::from_str_radix(binary, 2) {
            return sign(number);
        }
    }
    if let Some(hex) = digits.strip_prefix("0x") {
        if let Ok(number) = i128::from_str_radix(hex, 16) {
            return sign(number);
        }
    }
    if digits.len() > 1 && digits.starts_with('0') && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(number) = i128::from_str_radix(digits, 8) {
            return sign(number);
        }
    }
    if digits.contains(':') {
        let mut total = 0f64;
        for part in digits.split(':') {
            total = total * 60.0 + part.parse::<f64>().unwrap_or(0.0);
        }
        return if digits.contains('.') {
            fsign(total)
        } else {
            sign(total as i128)
        };
    }
    if let Ok(number) = digits.parse::<i128>() {
        return sign(number);
    }
    match digits.to_lowercase().as_str() {
        ".inf" => return fsign(f64::INFINITY),
        ".nan" => return Value::from(f64::NAN),
        _ => {}
    }
    match digits.parse::<f64>() {
        Ok(number) => fsign(number),
        Err(_) => Value::from(text),
    }
}

#[cfg(test)]
mod tests {
    use super::super::python::py_repr;
    use super::*;

    fn read(text: &str) -> String {
        py_repr(&load(text).unwrap())
    }

    #[test]
    fn block_collections_and_scalars() {
        let text = "# settings\nname: web  # trailing\nports:\n  - 80\n  - '443'\nenabled: yes\n\
                    mode: 0644\nratio: 1.5\nnothing:\nnested:\n  a: {x: 1, y: [true, null]}\n\
                    list:\n- a: 1\n  b: two\n- - inner\n";
        assert_eq!(
            read(text),
            "{'name': 'web', 'ports': [80, '443'], 'enabled': True, 'mode': 420, 'ratio': 1.5, \
             'nothing': None, 'nested': {'a': {'x': 1, 'y': [True, None]}}, \
             'list': [{'a': 1, 'b': 'two'}, ['inner']]}"
        );
    }

    #[test]
    fn block_and_quoted_scalars() {
        let text = "lit: |\n  one\n   two\n\nfold: >-\n  a\n  b\n\n  c\nsq: 'it''s\n  here'\n\
                    dq: \"tab\\there \\u00e9\"\nplain: a\n  b\n";
        assert_eq!(
            read(text),
            "{'lit': 'one\\n two\\n', 'fold': 'a b\\nc', 'sq': \"it's here\", 'dq': 'tab\\there é', \
             'plain': 'a b'}"
        );
    }

    #[test]
    fn json_documents_anchors_and_merges() {
        assert_eq!(
            read(r#"{"a": [1, 2.5, "x"], "b": {"c": null}}"#),
            "{'a': [1, 2.5, 'x'], 'b': {'c': None}}"
        );
        assert_eq!(
            read("base: &b\n  x: 1\nother:\n  <<: *b\n  y: 2\n"),
            "{'base': {'x': 1}, 'other': {'x': 1, 'y': 2}}"
        );
        let all = load_all("---\na: 1\n---\n- x\n...\n").unwrap();
        assert_eq!(py_repr(&Value::from(all)), "[{'a': 1}, ['x']]");
        assert_eq!(read(""), "None");
        assert!(load("a: 1\n---\nb: 2\n").is_err());
        assert_eq!(
            read("? complex\n: value\n? 'two\n\n  lines'\n"),
            "{'complex': 'value', 'two\\nlines': None}"
        );
        assert_eq!(read("{? a : 1, b: c d}"), "{'a': 1, 'b': 'c d'}");
    }
}
