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
