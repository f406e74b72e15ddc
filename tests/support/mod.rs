//! A small builder for end-to-end tests: files in a temporary directory, the `rplay`
//! binary run there, and the exact output and status expected.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    expected_stdout: Option<String>,
    expected_stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    expected_status: i32,
}

pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
    pub dir: PathBuf,
}

impl Output {
    pub fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).unwrap_or_else(|e| {
            panic!(
                "reading {path}: {e}\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn exists(&self, path: &str) -> bool {
        self.dir.join(path).exists()
    }

    /// The `PLAY RECAP` line of one host, with whitespace squeezed.
    pub fn recap(&self, host: &str) -> String {
        self.stdout
            .lines()
            .skip_while(|line| !line.starts_with("PLAY RECAP"))
            .find(|line| line.split_whitespace().next() == Some(host))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no recap line for {host} in:\n{}", self.stdout))
    }
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a temporary directory"),
            args: Vec::new(),
            env: Vec::new(),
            expected_stdout: None,
            expected_stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
            expected_status: 0,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file; `{dir}` in the text is replaced by the test directory.
    pub fn file(self, path: &str, text: &str) -> Test {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("creating directories");
        }
        let text = text.replace("{dir}", &self.dir.path().display().to_string());
        std::fs::write(full, unindent(&text)).expect("writing a test file");
        self
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        let dir = self.dir.path().display().to_string();
        self.args
            .extend(args.iter().map(|a| a.replace("{dir}", &dir)));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Puts `bin` first on the PATH rplay runs with (stand-in programs for its commands).
    pub fn bin_first(self, bin: &Path) -> Test {
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.env("PATH", &path)
    }

    pub fn stdout(mut self, text: &str) -> Test {
        self.expected_stdout = Some(unindent(text));
        self
    }

    pub fn stderr(mut self, text: &str) -> Test {
        self.expected_stderr = Some(unindent(text));
        self
    }

    pub fn stdout_contains(mut self, text: &str) -> Test {
        self.stdout_contains.push(text.to_string());
        self
    }

    pub fn stderr_contains(mut self, text: &str) -> Test {
        self.stderr_contains.push(text.to_string());
        self
    }

    pub fn status(mut self, status: i32) -> Test {
        self.expected_status = status;
        self
    }

    pub fn run(self) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
            .args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("running rplay");
        let dir = self.dir.path().display().to_string();
        let stdout = String::from_utf8_lossy(&output.stdout).replace(&dir, "{dir}");
        let stderr = String::from_utf8_lossy(&output.stderr).replace(&dir, "{dir}");
        let status = output.status.code().unwrap_or(-1);
        let context =
            format!("\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- status: {status}");
        if let Some(expected) = &self.expected_stdout {
            assert_eq!(&stdout, expected, "stdout differs{context}");
        }
        if let Some(expected) = &self.expected_stderr {
            assert_eq!(&stderr, expected, "stderr differs{context}");
        }
        for text in &self.stdout_contains {
            assert!(stdout.contains(text), "stdout lacks {text:?}{context}");
        }
        for text in &self.stderr_contains {
            assert!(stderr.contains(text), "stderr lacks {text:?}{context}");
        }
        assert_eq!(status, self.expected_status, "exit status{context}");
        Output {
            stdout,
            stderr,
            status,
            dir: self.dir.keep(),
        }
    }
}

/// Strips the common leading indentation so test files can be written indented.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: String = text
        .lines()
        .map(|line| {
            if line.len() >= indent {
                &line[indent..]
            } else {
                line.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A `/bin/sh` wrapper that runs the stand-in `tests/rig/STANDIN` (helm, kubectl and its
/// API server) with .venv's Python, which has the PyYAML they read manifests with, after
/// `settings` (`NAME=VALUE `, for a store the wrapper names itself because an SSH session
/// does not carry the test's environment). Fails when .venv is missing.
pub fn python_standin(standin: &str, settings: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python3");
    assert!(
        python.is_file(),
        "no `{}`: run `tests/run --setup` (it makes .venv) before these tests",
        python.display()
    );
    format!(
        "#!/bin/sh\n{settings}exec {} {} \"$@\"\n",
        python.display(),
        root.join("tests/rig").join(standin).display()
    )
}
