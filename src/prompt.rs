//! Asking the person at the terminal for a secret: `-k`, `-K`, and the passphrase of an
//! encrypted key.
//!
//! The prompt and the answer go through `/dev/tty`, so piped standard input and output
//! take no part, with echo off. Where there is no terminal, `-k` and `-K` read one line
//! of standard input instead, as Python's `getpass` (and so Ansible) does:
//! `echo "$PASSWORD" | rplay -k ...` works in CI. Passphrases are only ever asked on a
//! terminal.
//!
//! The terminal is read a byte at a time with its line editing and signals off, so that
//! Ctrl-C cancels the prompt and always leaves echo on again.

use crate::secret::Secret;
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsFd;
use std::sync::Mutex;

/// Why no secret came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptError {
    /// No terminal to ask on, and standard input may not be used.
    NoTerminal,
    /// Standard input ended before a line was read.
    NoInput,
    /// Ctrl-C at the prompt.
    Cancelled,
    Io(String),
}

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptError::NoTerminal => f.write_str("there is no terminal to ask on"),
            PromptError::NoInput => f.write_str("standard input ended before a line was read"),
            PromptError::Cancelled => f.write_str("cancelled at the prompt"),
            PromptError::Io(message) => f.write_str(message),
        }
    }
}

/// Where a secret may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Terminal,
    /// The terminal, else a line of standard input.
    TerminalOrStdin,
}

/// The terminal's settings while a prompt has changed them, so that an abort (a second
/// Ctrl-C) can put them back.
static SAVED: Mutex<Option<(File, Termios)>> = Mutex::new(None);

/// Asks for a secret; prompts from several tasks at once take turns.
pub fn ask(prompt: &str, source: Source) -> Result<Secret, PromptError> {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    match File::options().read(true).write(true).open("/dev/tty") {
        Ok(tty) => ask_on_terminal(tty, prompt),
        Err(_) if source == Source::TerminalOrStdin => ask_on_stdin(prompt),
        Err(_) => Err(PromptError::NoTerminal),
    }
}

/// Puts the terminal back as it was before a prompt that is still open; for the exit
/// path that does not unwind.
pub fn restore_terminal() {
    if let Some((tty, before)) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = termios::tcsetattr(tty.as_fd(), OptionalActions::Now, &before);
    }
}

fn ask_on_terminal(mut tty: File, prompt: &str) -> Result<Secret, PromptError> {
    let io = |e: std::io::Error| PromptError::Io(format!("cannot use the terminal: {e}"));
    let before = termios::tcgetattr(tty.as_fd()).map_err(|e| io(e.into()))?;
    let mut quiet = before.clone();
    quiet
        .local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
    quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
    quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
    *SAVED.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((tty.try_clone().map_err(io)?, before.clone()));
    // Quiet before the prompt shows, so that nothing typed after it is echoed.
    termios::tcsetattr(tty.as_fd(), OptionalActions::Flush, &quiet).map_err(|e| io(e.into()))?;
    let answer = tty
        .write_all(prompt.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(io)
        .and_then(|()| read_line_quietly(&mut tty));
    restore_terminal();
    let _ = tty.write_all(b"\n");
    answer.map(Secret::new)
}

/// Reads up to the end of the line with the terminal's editing done here: erase, kill
/// line, Ctrl-C and Ctrl-D.
fn read_line_quietly(tty: &mut File) -> Result<String, PromptError> {
    let mut line: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PromptError::Io(format!("cannot read the terminal: {e}"))),
        }
        match byte[0] {
            b'\r' | b'\n' => break,
            0x03 => return Err(PromptError::Cancelled),
            0x04 if line.is_empty() => break,
            0x15 => line.clear(),
            0x08 | 0x7f => {
                // One character back, however many bytes UTF-8 gave it.
                while let Some(last) = line.pop() {
                    if last & 0b1100_0000 != 0b1000_0000 {
                        break;
                    }
                }
            }
            other => line.push(other),
        }
    }
    String::from_utf8(line).map_err(|_| PromptError::Io("the answer is not UTF-8".to_string()))
}

fn ask_on_stdin(prompt: &str) -> Result<Secret, PromptError> {
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "Warning: no terminal, reading the answer from standard input\n{prompt}"
    );
    let _ = stderr.flush();
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| PromptError::Io(format!("cannot read standard input: {e}")))?;
    let _ = writeln!(stderr);
    if read == 0 {
        return Err(PromptError::NoInput);
    }
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

/// A password from a file, as Ansible's `--connection-password-file` and
/// `--become-password-file` read it: `-` is standard input, an executable file is run and
/// its output taken, any other file is read; surrounding line breaks are dropped.
pub fn from_file(path: &str) -> Result<Secret, String> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        bytes
    } else {
        let metadata = std::fs::metadata(path)
            .map_err(|_| format!("the password file `{path}` was not found"))?;
        if metadata.is_file() && metadata.permissions().mode() & 0o111 != 0 {
            let output = std::process::Command::new(path)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| format!("cannot run the password script `{path}`: {e}; if it is no script, remove its executable bit"))?;
            if !output.status.success() {
                return Err(format!(
                    "the password script `{path}` failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            output.stdout
        } else {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
            String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec()
        }
    };
    let text =
        String::from_utf8(bytes).map_err(|_| format!("the password from `{path}` is not UTF-8"))?;
    let text = text.trim_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(format!("the password from `{path}` is empty"));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_files_are_read_or_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "  s3cret \n").unwrap();
        assert_eq!(
            from_file(plain.to_str().unwrap()).unwrap().expose(),
            "s3cret"
        );
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\nprintf ' spaced out \\n'\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            from_file(script.to_str().unwrap()).unwrap().expose(),
            " spaced out "
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(from_file(empty.to_str().unwrap())
            .unwrap_err()
            .contains("is empty"));
        assert!(from_file(dir.path().join("missing").to_str().unwrap())
            .unwrap_err()
            .contains("was not found"));
    }
}
