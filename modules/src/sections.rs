//! The output of a reading script, cut into named sections.
//!
//! Modules that read several things from a host in one round trip run one `sh -c` script
//! that prints `\n@@rplay@@ NAME\n` before each part. [`SCRIPT_HELPERS`] gives such a
//! script its `mark` and `capture` functions; [`Sections`] cuts the output back apart,
//! byte for byte: a file printed with `cat` comes back exactly, trailing newline or not.

/// Shell functions for reading scripts: `mark NAME` opens a section; `capture NAME CMD…`
/// runs a command and prints its stdout, exit code and stderr as the sections `NAME`,
/// `NAME rc` and `NAME err`.
pub(crate) const SCRIPT_HELPERS: &str = r#"
mark() { printf '\n@@rplay@@ %s\n' "$1"; }
capture() {
  capture_label=$1; shift
  mark "$capture_label"
  { capture_err=$("$@" 2>&1 >&3 3>&-); capture_rc=$?; } 3>&1
  mark "$capture_label rc"; echo "$capture_rc"
  mark "$capture_label err"; printf '%s' "$capture_err"
}
"#;

const MARKER: &str = "\n@@rplay@@ ";

/// Named parts of a script's output, in the order they were printed.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Sections {
    parts: Vec<(String, String)>,
}

impl Sections {
    pub(crate) fn parse(output: &str) -> Sections {
        let text = format!("\n{output}");
        let parts = text
            .split(MARKER)
            .skip(1)
            .map(|chunk| {
                let (name, content) = chunk.split_once('\n').unwrap_or((chunk, ""));
                (name.trim_end().to_string(), content.to_string())
            })
            .collect();
        Sections { parts }
    }

    /// The first section of that name.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, content)| content.as_str())
    }

    /// Whether a section of that name was printed.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A section's first line, trimmed; `None` when absent or empty.
    pub(crate) fn first_line(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|content| content.lines().next())
            .map(str::trim)
            .filter(|line| !line.is_empty())
    }

    /// The exit code a `capture NAME …` recorded.
    pub(crate) fn rc(&self, name: &str) -> Option<i32> {
        self.first_line(&format!("{name} rc"))
            .and_then(|rc| rc.parse().ok())
    }

    /// Every section whose name starts with `prefix`, with the rest of its name.
    pub(crate) fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.parts.iter().filter_map(move |(name, content)| {
            name.strip_prefix(prefix)
                .map(|rest| (rest, content.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTransport;
    use crate::transport::{Exec, Transport};

    #[test]
    fn keeps_content_exactly() {
        let sections =
            Sections::parse("\n@@rplay@@ a\nline\n\n@@rplay@@ b\nno newline\n@@rplay@@ c\n");
        assert_eq!(sections.get("a"), Some("line\n"));
        assert_eq!(sections.get("b"), Some("no newline"));
        assert_eq!(sections.get("c"), Some(""));
        assert_eq!(sections.get("d"), None);
        assert_eq!(sections.first_line("b"), Some("no newline"));
        assert_eq!(sections.first_line("c"), None);
    }

    #[tokio::test]
    async fn capture_keeps_stdout_stderr_and_rc_apart() {
        let script = format!(
            "{SCRIPT_HELPERS}\ncapture one sh -c 'echo out; echo err >&2; exit 3'\nmark file; printf 'a\\nb'\ncapture two true\n"
        );
        let output = LocalTransport::new()
            .run(&Exec::new(["sh", "-c", &script]))
            .await
            .unwrap();
        assert!(output.success(), "{}", output.stderr_text());
        let sections = Sections::parse(&output.stdout_text());
        assert_eq!(sections.get("one"), Some("out\n"));
        assert_eq!(sections.rc("one"), Some(3));
        assert_eq!(sections.get("one err"), Some("err"));
        assert_eq!(sections.get("file"), Some("a\nb"));
        assert_eq!(sections.rc("two"), Some(0));
        assert_eq!(sections.get("two err"), Some(""));
        let names: Vec<&str> = sections.with_prefix("one").map(|(rest, _)| rest).collect();
        assert_eq!(names, ["", " rc", " err"]);
    }
}
