//! Python `re` patterns and replacement templates on top of the `regex` crate.
//!
//! Playbooks write patterns for Python: `\Z`, literal `{` and `[` where Python allows
//! them, `\101` for a character, `\1` and `\g<name>` in replacements. Patterns are
//! translated to the `regex` dialect before compiling; what `regex` cannot do at all
//! (look-around, back-references inside a pattern, atomic groups) fails with a message
//! that says so instead of matching differently.
//!
//! Python's `$` (without `multiline`) also matches just before a final newline; every
//! search tries that position as well. One corner stays approximate: where Python
//! backtracks out of an empty match into a longer one at the same place (`a*?` or `|x`
//! right after an empty match), the next match is looked for one character further on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::{Error, ErrorKind, Value};
use regex::{Captures, Regex};

use super::python::failure;

/// A compiled Python pattern.
pub(crate) struct PyRegex {
    pub(crate) regex: Regex,
    has_dollar: bool,
}

/// Compiles a Python pattern with the `ignorecase` and `multiline` flags Ansible exposes.
pub(crate) fn compile(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Arc<PyRegex>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<(String, bool, bool), Arc<PyRegex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Some(found) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    let translated = translate(pattern)?;
    let has_dollar = !multiline && translated.contains('$');
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let prefix = if flags.is_empty() {
        String::new()
    } else {
        format!("(?{flags})")
    };
    let build = |source: String| {
        Regex::new(&source).map_err(|error| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "invalid regular expression `{pattern}`: {}",
                    first_line(&error.to_string())
                ),
            )
        })
    };
    let compiled = Arc::new(PyRegex {
        regex: build(format!("{prefix}{translated}"))?,
        has_dollar,
    });
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if guard.len() > 512 {
        guard.clear();
    }
    guard.insert(key, compiled.clone());
    Ok(compiled)
}

fn first_line(text: &str) -> String {
    text.lines()
        .filter(|line| line.starts_with("error:"))
        .map(|line| line.trim_start_matches("error:").trim().to_string())
        .next()
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}

fn unsupported(pattern: &str, what: &str) -> Error {
    failure(format!(
        "regular expression `{pattern}` uses {what}, which this engine does not support"
    ))
}

/// A pattern that must match the whole text (`re.fullmatch`). In verbose mode a trailing
/// comment would swallow the closing parenthesis, so it then goes on a line of its own.
pub(crate) fn whole_text_regex(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    let translated = translate(pattern)?;
    let close = if turns_on_verbose(&translated) {
        "\n)"
    } else {
        ")"
    };
    let flags = match (ignorecase, multiline) {
        (false, false) => "",
        (true, false) => "(?i)",
        (false, true) => "(?m)",
        (true, true) => "(?im)",
    };
    Regex::new(&format!("{flags}\\A(?:{translated}{close}\\z")).map_err(|error| {
        failure(format!(
            "invalid regular expression `{pattern}`: {}",
            first_line(&error.to_string())
        ))
    })
}

/// Whether an inline flag group such as `(?x)` or `(?ix:` switches verbose mode on.
fn turns_on_verbose(pattern: &str) -> bool {
    pattern.match_indices("(?").any(|(at, _)| {
        pattern[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'x')
    })
}

/// Rewrites Python pattern syntax into `regex` syntax.
pub(crate) fn translate(pattern: &str) -> Result<String, Error> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        match ch {
            '\\' => {
                let Some(&next) = chars.get(index + 1) else {
                    return Err(failure(format!(
                        "invalid regular expression `{pattern}`: bad escape (end of pattern)"
                    )));
                };
                index += 2;
                match next {
                    'Z' => out.push_str("\\z"),
                    // Python reads `\<` and `\>` as the characters; `regex` as word boundaries.
                    '<' | '>' => out.push(next),
                    '0' => {
                        let (code, used) = octal(&chars[index..], 2);
                        index += used;
                        out.push_str(&format!("\\x{{{code:x}}}"));
                    }
                    '1'..='7' if is_octal_triple(&chars[index - 1..]) => {
                        let (code, used) = octal(&chars[index - 1..], 3);
                        index += used - 1;
                        out.push_str(&format!("\\x{{{code:x}}}"));
                    }
                    '1'..='9' => return Err(unsupported(pattern, "a back-reference")),
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                continue;
            }
            '[' => {
                index = translate_class(pattern, &chars, index, &mut out)?;
                continue;
            }
            '(' if chars.get(index + 1) == Some(&'?') => {
                let rest: String = chars[index + 2..].iter().take(3).collect();
                if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest.starts_with("<=")
                    || rest.starts_with("<!")
                {
                    return Err(unsupported(pattern, "look-around"));
                }
                if rest.starts_with("P=") {
                    return Err(unsupported(pattern, "a back-reference"));
                }
                if rest.starts_with('>') {
                    return Err(unsupported(pattern, "an atomic group"));
                }
                if rest.starts_with('#') {
                    while index < chars.len() && chars[index] != ')' {
                        index += 1;
                    }
                    index += 1;
                    continue;
                }
                // Python's ASCII and locale flags have no counterpart; the rest carry over.
                let mut end = index + 2;
                let mut flags = String::new();
                while let Some(&flag) = chars.get(end) {
                    if flag.is_ascii_alphabetic() || flag == '-' {
                        if !matches!(flag, 'a' | 'L' | 'u') {
                            flags.push(flag);
                        }
                        end += 1;
                    } else {
                        break;
                    }
                }
                if matches!(chars.get(end), Some(')') | Some(':')) && end > index + 2 {
                    if flags.is_empty() || flags == "-" {
                        if chars[end] == ')' {
                            index = end + 1;
                            continue;
                        }
                        out.push_str("(?:");
                    } else {
                        out.push_str("(?");
                        out.push_str(&flags);
                        out.push(chars[end]);
                    }
                    index = end + 1;
                    continue;
                }
                out.push_str("(?");
                index += 2;
                continue;
            }
            '{' => {
                let mut end = index + 1;
                while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == ',') {
                    end += 1;
                }
                let body: String = chars[index + 1..end.min(chars.len())].iter().collect();
                let valid = chars.get(end) == Some(&'}')
                    && !body.is_empty()
                    && body.matches(',').count() <= 1
                    && body != ",";
                if valid {
                    out.push('{');
                    if body.starts_with(',') {
                        out.push('0');
                    }
                    out.push_str(&body);
                    out.push('}');
                    index = end + 1;
                } else {
                    out.push_str("\\{");
                    index += 1;
                }
                continue;
            }
            '}' => out.push_str("\\}"),
            _ => out.push(ch),
        }
        index += 1;
    }
    Ok(out)
}

/// Whether three octal digits follow, which Python reads as a character code (`\101`),
/// not a group reference.
fn is_octal_triple(chars: &[char]) -> bool {
    chars.len() >= 3 && chars[..3].iter().all(|c| c.is_digit(8)) && chars[0] <= '3'
}

/// Reads up to `max` octal digits; returns the code and how many digits were used.
fn octal(chars: &[char], max: usize) -> (u32, usize) {
    let mut code = 0;
    let mut used = 0;
    while used < max {
        match chars.get(used).and_then(|c| c.to_digit(8)) {
            Some(digit) => code = code * 8 + digit,
            None => break,
        }
        used += 1;
    }
    (code, used)
}

/// Copies a character class, escaping what `regex` would read as nested classes or set
/// operations: in Python `[[]` is a class holding `[`, and `&&` is two ampersands.
fn translate_class(
    pattern: &str,
    chars: &[char],
    start: usize,
    out: &mut String,
) -> Result<usize, Error> {
    let mut index = start + 1;
    out.push('[');
    if chars.get(index) == Some(&'^') {
        out.push('^');
        index += 1;
    }
    if chars.get(index) == Some(&']') {
        out.push_str("\\]");
        index += 1;
    }
    while index < chars.len() {
        let ch = chars[index];
        match ch {
            ']' => {
                out.push(']');
                return Ok(index + 1);
            }
            '\\' => {
                let Some(&next) = chars.get(index + 1) else {
                    break;
                };
                match next {
                    'b' => out.push_str("\\x08"),
                    '0' => {
                        let (code, used) = octal(&chars[index + 2..], 2);
                        index += used;
                        out.push_str(&format!("\\x{{{code:x}}}"));
                    }
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                index += 2;
                continue;
            }
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '-' if chars.get(index + 1) == Some(&'-') => out.push_str("\\-"),
            _ => out.push(ch),
        }
        index += 1;
    }
    Err(failure(format!(
        "invalid regular expression `{pattern}`: unterminated character set"
    )))
}

impl PyRegex {
    /// `re.search`: the first match anywhere, with its groups.
    pub(crate) fn search<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        self.captures_from(text, 0)
    }

    /// `re.match`: a match that starts at the beginning of the text. The leftmost match
    /// starts there whenever one can, and is then the one an anchored search would find.
    pub(crate) fn match_start<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        self.search(text)
            .filter(|caps| caps.get(0).is_some_and(|m| m.start() == 0))
    }

    /// The first match starting at `position` or later. Python's `$` also matches just
    /// before a final newline, so the text without it is searched too and the match that
    /// starts first wins (the whole text's on a tie, as greedy patterns prefer).
    fn captures_from<'t>(&self, text: &'t str, position: usize) -> Option<Captures<'t>> {
        let found = self.regex.captures_at(text, position);
        if !self.has_dollar || !text.ends_with('\n') || position >= text.len() {
            return found;
        }
        let trimmed = self.regex.captures_at(&text[..text.len() - 1], position);
        let start = |caps: &Captures<'_>| caps.get(0).map_or(usize::MAX, |m| m.start());
        match (found, trimmed) {
            (Some(full), Some(short)) if start(&short) < start(&full) => Some(short),
            (Some(full), _) => Some(full),
            (None, short) => short,
        }
    }

    /// Number of capturing groups, not counting the whole match.
    pub(crate) fn groups(&self) -> usize {
        self.regex.captures_len() - 1
    }

    /// Every match from left to right, with Python's rule for empty matches: one may follow
    /// a non-empty match directly (`x*` on `abxd` matches at 0, 1, 2..3, 3 and 4), but not
    /// start where the previous empty match was.
    pub(crate) fn matches<'t>(&self, text: &'t str) -> Vec<Captures<'t>> {
        let mut found = Vec::new();
        let mut position = 0;
        let mut must_advance = false;
        while position <= text.len() {
            let Some(mut caps) = self.captures_from(text, position) else {
                break;
            };
            let mut whole = caps.get(0).expect("group 0 always participates");
            if must_advance && whole.start() == position && whole.is_empty() {
                let Some(next) = text[position..]
                    .chars()
                    .next()
                    .map(|c| position + c.len_utf8())
                else {
                    break;
                };
                let Some(retry) = self.captures_from(text, next) else {
                    break;
                };
                caps = retry;
                whole = caps.get(0).expect("group 0 always participates");
            }
            position = whole.end();
            must_advance = whole.is_empty();
            found.push(caps);
        }
        found
    }

    /// `re.findall`: whole matches, the one group, or one list per match of all groups.
    pub(crate) fn findall(&self, text: &str) -> Vec<Value> {
        let groups = self.groups();
        self.matches(text)
            .into_iter()
            .map(|caps| {
                let group = |index: usize| Value::from(caps.get(index).map_or("", |m| m.as_str()));
                match groups {
                    0 => group(0),
                    1 => group(1),
                    _ => Value::from((1..=groups).map(group).collect::<Vec<_>>()),
                }
            })
            .collect()
    }

    /// `re.subn`: replaces up to `count` matches (all when 0) with a Python replacement
    /// template and says how many were replaced.
    pub(crate) fn sub(
        &self,
        text: &str,
        replacement: &str,
        count: usize,
    ) -> Result<(String, usize), Error> {
        let template = Template::parse(replacement, self)?;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut done = 0;
        for caps in self.matches(text) {
            if count > 0 && done == count {
                break;
            }
            let whole = caps.get(0).expect("group 0 always participates");
            out.push_str(&text[last..whole.start()]);
            template.expand(&caps, &mut out);
            last = whole.end();
            done += 1;
        }
        out.push_str(&text[last..]);
        Ok((out, done))
    }

    /// The index of a named group, for `\g<name>`.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.regex
            .capture_names()
            .position(|candidate| candidate == Some(name))
    }
}

enum Piece {
    Text(String),
    Group(usize),
}

/// A parsed Python replacement template (`\1`, `\g<2>`, `\g<name>`, `\n`).
struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    fn parse(source: &str, regex: &PyRegex) -> Result<Template, Error> {
        let chars: Vec<char> = source.chars().collect();
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut index = 0;
        let group = |index: usize| -> Result<usize, Error> {
            if index > regex.groups() {
                Err(failure(format!(
                    "invalid group reference {index} in replacement `{source}`"
                )))
            } else {
                Ok(index)
            }
        };
        while index < chars.len() {
            let ch = chars[index];
            if ch != '\\' {
                literal.push(ch);
                index += 1;
                continue;
            }
            let Some(&next) = chars.get(index + 1) else {
                return Err(failure(format!(
                    "bad escape (end of replacement) in `{source}`"
                )));
            };
            index += 2;
            let reference = match next {
                'g' => {
                    if chars.get(index) != Some(&'<') {
                        return Err(failure(format!(
                            "missing `<` after `\\g` in replacement `{source}`"
                        )));
                    }
                    let Some(close) = chars[index..].iter().position(|c| *c == '>') else {
                        return Err(failure(format!(
                            "missing `>` in group name in replacement `{source}`"
                        )));
                    };
                    let name: String = chars[index + 1..index + close].iter().collect();
                    index += close + 1;
                    let number = match name.parse::<usize>() {
                        Ok(number) => number,
                        Err(_) => regex.group_index(&name).ok_or_else(|| {
                            failure(format!(
                                "unknown group name `{name}` in replacement `{source}`"
                            ))
                        })?,
                    };
                    Some(group(number)?)
                }
                '0' => {
                    let (code, used) = octal(&chars[index..], 2);
                    index += used;
                    literal.push(char::from_u32(code).unwrap_or('\0'));
                    None
                }
                '1'..='9' if is_octal_triple(&chars[index - 1..]) => {
                    let (code, used) = octal(&chars[index - 1..], 3);
                    index += used - 1;
                    literal.push(char::from_u32(code).unwrap_or('\0'));
                    None
                }
                '1'..='9' => {
                    let mut number = next.to_digit(10).unwrap_or(0) as usize;
                    if let Some(second) = chars.get(index).and_then(|c| c.to_digit(10)) {
                        number = number * 10 + second as usize;
                        index += 1;
                    }
                    Some(group(number)?)
                }
                'n' => {
                    literal.push('\n');
                    None
                }
                't' => {
                    literal.push('\t');
                    None
                }
                'r' => {
                    literal.push('\r');
                    None
                }
                'f' => {
                    literal.push('\x0c');
                    None
                }
                'v' => {
                    literal.push('\x0b');
                    None
                }
                'a' => {
                    literal.push('\x07');
                    None
                }
                'b' => {
                    literal.push('\x08');
                    None
                }
                '\\' => {
                    literal.push('\\');
                    None
                }
                _ if next.is_ascii_alphabetic() => {
                    return Err(failure(format!(
                        "bad escape `\\{next}` in replacement `{source}`"
                    )));
                }
                _ => {
                    literal.push('\\');
                    literal.push(next);
                    None
                }
            };
            if let Some(number) = reference {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(number));
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    fn expand(&self, caps: &Captures<'_>, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Group(number) => out.push_str(caps.get(*number).map_or("", |m| m.as_str())),
            }
        }
    }
}

/// Python's `re.escape`: a backslash before every character special in patterns.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for ch in text.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(pattern: &str, replacement: &str, text: &str) -> String {
        compile(pattern, false, false)
            .unwrap()
            .sub(text, replacement, 0)
            .unwrap()
            .0
    }

    #[test]
    fn translates_python_only_syntax() {
        assert_eq!(translate(r"a\Z").unwrap(), r"a\z");
        assert_eq!(translate(r"[[]x").unwrap(), r"[\[]x");
        assert_eq!(translate(r"[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate(r"{foo}").unwrap(), r"\{foo\}");
        assert_eq!(translate(r"a{2,}b{,3}").unwrap(), r"a{2,}b{0,3}");
        assert_eq!(translate(r"(?#note)x").unwrap(), "x");
        assert!(translate(r"a(?=b)").is_err());
        assert!(translate(r"(a)\1").is_err());
    }

    #[test]
    fn substitutes_with_python_templates() {
        assert_eq!(sub("(o)", r"[\1]", "hello world"), "hell[o] w[o]rld");
        assert_eq!(sub("(?P<x>o)", r"<\g<x>>", "foo"), "f<o><o>");
        assert_eq!(sub("(o)", r"\g<1>0", "o"), "o0");
        assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
        assert_eq!(sub("a", r"\n\.", "a"), "\n\\.");
        assert_eq!(sub("(a)|(b)", r"[\2]", "ab"), "[][b]");
        assert_eq!(sub("a", r"\101", "a"), "A");
        assert_eq!(sub(r"\<", "_", "a<b"), "a_b");
        assert!(compile("a", false, false)
            .unwrap()
            .sub("a", r"\q", 0)
            .is_err());
        assert!(compile("(a)", false, false)
            .unwrap()
            .sub("a", r"\2", 0)
            .is_err());
    }

    #[test]
    fn dollar_matches_before_a_final_newline_in_search() {
        let regex = compile("foo$", false, false).unwrap();
        assert_eq!(
            regex.search("foo\n").unwrap().get(0).unwrap().as_str(),
            "foo"
        );
        assert!(regex.match_start("xfoo").is_none());
        assert_eq!(sub("$", "!", "ab\n"), "ab!\n!");
        assert_eq!(sub("b$", "!", "ab\nb\n"), "ab\n!\n");
        assert_eq!(escape("a.b*c d-e"), r"a\.b\*c\ d\-e");
    }
}
