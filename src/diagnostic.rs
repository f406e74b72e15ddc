//! Errors that point at the text that caused them, drawn the same way everywhere:
//!
//! ```text
//! error: unknown field `vaule` in `sysctl` arguments
//!   --> roles/k8s_node/tasks/main.yml:14:7
//!    |
//! 14 |       vaule: "1"
//!    |       ^^^^^
//! help: did you mean `value`?
//! ```

use crate::source::Span;
use std::fmt;

#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Lowercase, names in backticks.
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

pub type Result<T, E = Diagnostic> = std::result::Result<T, E>;

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            help: None,
        }
    }

    pub fn at(message: impl Into<String>, span: &Span) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: span.is_known().then(|| span.clone()),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_span(mut self, span: &Span) -> Diagnostic {
        if self.span.is_none() && span.is_known() {
            self.span = Some(span.clone());
        }
        self
    }

    /// Adds a "did you mean" when a known name is close to the one written.
    pub fn suggest<'a>(
        self,
        written: &str,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match did_you_mean(written, known) {
            Some(name) => self.with_help(format!("did you mean `{name}`?")),
            None => self,
        }
    }

    /// The whole message with its caret, without colours.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        if let Some(span) = &self.span {
            if let Some(file) = &span.file {
                let line_number = span.line.to_string();
                let gutter = " ".repeat(line_number.len());
                out.push_str(&format!(
                    "{gutter}--> {}:{}:{}\n",
                    file.display_path(),
                    span.line,
                    span.column
                ));
                if let Some(line) = file.line(span.line) {
                    let (text, caret_start) = shown_part(line, span.column.saturating_sub(1));
                    let text = text.as_str();
                    let available = text.chars().count().saturating_sub(caret_start).max(1);
                    let carets = span.length.clamp(1, available);
                    let indent: String = text
                        .chars()
                        .take(caret_start)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    out.push_str(&format!("{gutter} |\n"));
                    out.push_str(&format!("{line_number} | {text}\n"));
                    out.push_str(&format!("{gutter} | {indent}{}\n", "^".repeat(carets)));
                }
            }
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("help: {help}\n"));
        }
        out
    }
}

/// Longest part of a source line an error shows; a longer line (a minified document, a
/// hostile one) is cut to a window around the caret, marked with `...` where it was cut.
const MAX_SHOWN_CHARS: usize = 120;

/// The part of `line` to show and the caret's column within it.
fn shown_part(line: &str, caret: usize) -> (String, usize) {
    let length = line.chars().count();
    if length <= MAX_SHOWN_CHARS {
        return (line.to_string(), caret);
    }
    let start = caret
        .saturating_sub(MAX_SHOWN_CHARS / 3)
        .min(length - MAX_SHOWN_CHARS);
    let end = start + MAX_SHOWN_CHARS;
    let mut shown = String::new();
    let mut caret = caret - start;
    if start > 0 {
        shown.push_str("...");
        caret += 3;
    }
    shown.extend(line.chars().skip(start).take(MAX_SHOWN_CHARS));
    if end < length {
        shown.push_str("...");
    }
    (shown, caret)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl std::error::Error for Diagnostic {}

/// The closest known name by edit distance, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    written: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        let distance = strsim::damerau_levenshtein(written, candidate);
        let limit = (written.chars().count().max(candidate.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn a_long_line_is_shown_around_the_caret() {
        let line = format!("x: {}{}", "[".repeat(1000), "]".repeat(1000));
        let file = SourceFile::new("deep.yml", line);
        let span = Span {
            file: Some(file),
            line: 1,
            column: 504,
            length: 1,
        };
        let rendered = Diagnostic::at("too deep", &span).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[1], " --> deep.yml:1:504");
        assert_eq!(lines[3], format!("1 | ...{}...", "[".repeat(120)));
        // The caret is under the 504th character: 40 shown before it, after the `...`.
        assert_eq!(lines[4], format!("  | {}^", " ".repeat(43)));
    }

    #[test]
    fn draws_caret_under_span() {
        let file = SourceFile::new("play.yml", "- hosts: all\n  tasks:\n      vaule: \"1\"\n");
        let span = Span {
            file: Some(file),
            line: 3,
            column: 7,
            length: 5,
        };
        let diagnostic = Diagnostic::at("unknown field `vaule` in `sysctl` arguments", &span)
            .suggest("vaule", ["name", "value"]);
        assert_eq!(
            diagnostic.render(),
            "error: unknown field `vaule` in `sysctl` arguments\n --> play.yml:3:7\n  |\n3 |       vaule: \"1\"\n  |       ^^^^^\nhelp: did you mean `value`?\n"
        );
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(
            did_you_mean("comand", ["command", "shell"]),
            Some("command")
        );
        assert_eq!(did_you_mean("zzz", ["command", "shell"]), None);
    }
}
