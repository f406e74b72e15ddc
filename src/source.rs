//! Source files and positions in them.
//!
//! Every node the loader produces carries a [`Span`] so that any later error, in a
//! playbook, an inventory, a template or a module argument, can point at the text that
//! caused it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file read once and kept for drawing error carets.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path: path.into(),
            text: text.into(),
        })
    }

    /// The 1-based line's text, without its newline.
    pub fn line(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)?)
    }

    /// The path as the user would write it: relative to the working directory when inside it.
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }
}

/// The largest file rplay reads as text to parse: a playbook, a task or vars file, an
/// inventory, a template. Far above any real one (the largest shipped file is a few KiB);
/// a bigger file is a mistake or an attack, and parsing it would take memory without bound.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a file to parse, refusing one over [`MAX_INPUT_BYTES`] before holding it in
/// memory (a FIFO or `/dev/zero` too, whose size says nothing). The error names the file.
pub fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read `{}`: {e}", display_path(path));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let too_big = || {
        format!(
            "`{}` is larger than {} MiB, the most rplay reads as a playbook, inventory, vars file or template",
            display_path(path),
            MAX_INPUT_BYTES >> 20
        )
    };
    if file.metadata().map_err(cannot)?.len() > MAX_INPUT_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_input`] for UTF-8 text.
pub fn read_input_text(path: &Path) -> Result<String, String> {
    String::from_utf8(read_input(path)?)
        .map_err(|_| format!("`{}` is not UTF-8", display_path(path)))
}

pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(relative) = path.strip_prefix(&cwd) {
            return relative.display().to_string();
        }
    }
    path.display().to_string()
}

/// Where a node starts (1-based line and column) and how many characters it covers on
/// that line.
#[derive(Clone)]
pub struct Span {
    pub file: Option<Arc<SourceFile>>,
    pub line: usize,
    pub column: usize,
    pub length: usize,
}

impl Span {
    /// A value made at run time (a fact, a registered result) has no source.
    pub fn none() -> Span {
        Span {
            file: None,
            line: 0,
            column: 0,
            length: 0,
        }
    }

    pub fn is_known(&self) -> bool {
        self.file.is_some() && self.line > 0
    }

    /// A span moved by an offset inside the same scalar (a template error's own position).
    pub fn shifted(&self, line_offset: usize, column: usize, length: usize) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line + line_offset,
            column: if line_offset == 0 {
                self.column + column
            } else {
                column + 1
            },
            length,
        }
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}:{}:{}", file.display_path(), self.line, self.column),
            None => write!(f, "<runtime>"),
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
