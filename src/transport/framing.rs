//! The protocol spoken with the helper shell kept on each SSH host.
//!
//! Opening an sshd session costs about 100 ms (PAM, environment, a login shell), against
//! about 2 ms for running a program. So each host gets a few long-lived `sh` processes,
//! one per SSH channel, and every command is a snippet of shell text written to one of
//! them. The target needs only `sh`, `mktemp`, `base64`, `wc`, `cat` and `rm`.
//!
//! A snippet runs the command in a subshell (so `cd`, `exit` or `exec` in it cannot touch
//! the helper) with its standard input from a file decoded from base64 (or `/dev/null`),
//! and its standard output and error to two fresh files. Then the helper prints
//!
//! ```text
//! <token> <exit code> 0                      when both files are empty, or
//! <token> <exit code> 1
//! <stdout bytes> <path>                      from `wc -c`
//! <stderr bytes> <path>
//! <total> total
//! <stdout bytes exactly><stderr bytes exactly>
//! ```
//!
//! or, in the common case of output on stdout alone, one process (`cat`) instead of two:
//!
//! ```text
//! <token> <exit code> 2
//! <stdout bytes>
//! <token>
//! ```
//!
//! where the stdout bytes are everything before the first `\n<token>\n`.
//!
//! rplay's own commands (`Exec::own`: a `stat`, a `cat`, a file write) leave no process
//! behind, so they need no files: their stdout and stderr go straight to the channel's
//! two streams, stdout followed by `\n<token> <exit code>\n` and stderr by `\n<token>\n`,
//! printed by builtins after the command. Such a reply costs no process at all.
//!
//! The token is random per command (128 bits) and exists only in the snippet the helper
//! reads and in rplay: it is never written to a file or an environment a command could
//! read, so a command cannot print it. Otherwise the reader takes exactly the announced
//! number of bytes. Either way nothing a command prints can pass for framing. A user's
//! command's files are fresh per command so a background process left writing to the
//! previous ones cannot corrupt the next reply; they are deleted every [`CLEANUP_EVERY`]
//! commands (one `rm`), and the whole directory when the helper exits. An input file is
//! emptied as soon as its command ends: it may hold a become password. Input that is text
//! travels as one quoted word to the `printf` builtin, other bytes as base64 through
//! `base64 -d`.
//!
//! Quoting happens here and only here: every word is single-quoted.

use base64::Engine as _;
use rplay_modules::transport::shell_text;
use rplay_modules::{Exec, Output};

/// The command the SSH channel runs; the login shell execs a plain POSIX shell that reads
/// snippets from standard input.
pub const HELPER_COMMAND: &str = "exec /bin/sh";

/// Files of this many commands are removed at once, so that a command with no output
/// costs no extra process.
pub const CLEANUP_EVERY: u64 = 64;

/// A fresh random token for one command.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("rplay-{}", hex::encode(bytes))
}

/// Sets the helper up: a private directory for output files, removed when the helper
/// exits (end of input, hang-up, or termination), then one empty reply to say it is ready,
/// whose status is the helper's process id (so rplay can stop its commands).
///
/// The signal traps remove the directory themselves: a signal that arrives while the
/// shell is reading (a snippet cut short) is handled as the shell exits, and its trap's
/// `exit` would otherwise pre-empt the `EXIT` trap.
pub fn start_snippet(token: &str) -> String {
    format!(
        r#"rplay_d=$(mktemp -d "${{TMPDIR:-/tmp}}/rplay.XXXXXXXXXX") || exit 70
case $rplay_d in *'
'*) exit 70;; esac
trap 'rm -rf "$rplay_d"' EXIT
trap 'rm -rf "$rplay_d"; exit 129' HUP
trap 'rm -rf "$rplay_d"; exit 141' PIPE
trap 'rm -rf "$rplay_d"; exit 143' TERM
printf '%s %d 0\n' '{token}' "$$"
"#
    )
}

/// Single-quotes a word for `sh`: the only character needing care inside single quotes is
/// the quote itself.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The snippet that runs `exec` as command number `serial` of this helper.
pub fn command_snippet(exec: &Exec, token: &str, serial: u64) -> Result<String, String> {
    let Some(program) = exec.argv.first() else {
        return Err("empty command".to_string());
    };
    let has_nul = exec
        .argv
        .iter()
        .chain(exec.env.iter().flat_map(|(k, v)| [k, v]))
        .chain(exec.cwd.iter())
        .any(|word| word.contains('\0'));
    if has_nul {
        return Err("a command word contains a NUL byte".to_string());
    }
    let out = format!("\"$rplay_d/o{serial}\"");
    let err = format!("\"$rplay_d/e{serial}\"");
    let mut text = String::new();
    let input = match exec
        .stdin
        .as_deref()
        .map(|bytes| (bytes, shell_text(bytes)))
    {
        // Text goes in as one quoted word to `printf`, a builtin: no process.
        Some((_, Some(text_in))) => {
            let path = format!("\"$rplay_d/i{serial}\"");
            text.push_str(&format!("printf '%s' {} >{path}\n", quote(text_in)));
            path
        }
        Some((bytes, None)) => {
            let path = format!("\"$rplay_d/i{serial}\"");
            let delimiter = format!("RPLAY_{}", token.replace('-', "_"));
            text.push_str(&format!("base64 -d >{path} <<'{delimiter}'\n"));
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            // Short lines keep every `sh` and `base64` happy.
            for chunk in encoded.as_bytes().chunks(76) {
                text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
                text.push('\n');
            }
            text.push_str(&delimiter);
            text.push('\n');
            path
        }
        None => "/dev/null".to_string(),
    };
    text.push('(');
    if let Some(dir) = &exec.cwd {
        let message = format!("Unable to change directory before execution: {dir}");
        text.push_str(&format!(
            "cd -- {} 2>/dev/null || {{ printf '%s\\n' {} >&2; exit 2; }}\n",
            quote(dir),
            quote(&message)
        ));
    }
    let mut odd_env = Vec::new();
    for (key, value) in &exec.env {
        if is_name(key) {
            text.push_str(&format!("export {key}={}\n", quote(value)));
        } else {
            odd_env.push(quote(&format!("{key}={value}")));
        }
    }
    // `sh -c SCRIPT NAME ARGS...`, the form of every script the modules send, runs in
    // the helper's own subshell: one process fewer. `eval` of the quoted script keeps a
    // script that does not parse from touching the helper (the subshell fails with 2).
    // Only `$0` differs: it is the helper's, not NAME.
    if odd_env.is_empty() && exec.argv.len() >= 3 && exec.argv[0] == "sh" && exec.argv[1] == "-c" {
        text.push_str("set --");
        for word in exec.argv.iter().skip(4) {
            text.push(' ');
            text.push_str(&quote(word));
        }
        text.push_str(&format!("\neval {}\n", quote(&exec.argv[2])));
        return Ok(finish(text, exec, &input, &out, &err, token, serial));
    }
    // Ansible reports a missing program as rc 2 with this message; the local transport
    // does the same, so modules see one behaviour.
    let missing = format!("[Errno 2] No such file or directory: '{program}'");
    text.push_str(&format!(
        "command -v {} >/dev/null 2>&1 || {{ printf '%s\\n' {} >&2; exit 2; }}\n",
        quote(program),
        quote(&missing)
    ));
    text.push_str("exec");
    if !odd_env.is_empty() {
        text.push_str(" env");
        for assignment in &odd_env {
            text.push(' ');
            text.push_str(assignment);
        }
    }
    for word in &exec.argv {
        text.push(' ');
        text.push_str(&quote(word));
    }
    text.push('\n');
    Ok(finish(text, exec, &input, &out, &err, token, serial))
}

/// Closes the subshell of a command's snippet and adds the reply.
fn finish(
    mut text: String,
    exec: &Exec,
    input: &str,
    out: &str,
    err: &str,
    token: &str,
    serial: u64,
) -> String {
    if exec.own {
        // rplay's own command leaves nothing running: its output goes straight to the
        // channel's two streams, each ended by the token (see [`parse_own_reply`]).
        text.push_str(&format!(") <{input}\n"));
    } else {
        text.push_str(&format!(") <{input} >{out} 2>{err}\n"));
    }
    text.push_str("rplay_rc=$?\n");
    if exec.stdin.is_some() {
        // The input may hold a become password or a file's secrets: empty it at once
        // (a builtin, no process) rather than at the next cleanup.
        text.push_str(&format!(": >{input}\n"));
    }
    if exec.own {
        text.push_str(&format!(
            "printf '\\n%s\\n' '{token}' >&2; printf '\\n%s %d\\n' '{token}' \"$rplay_rc\"\n"
        ));
    } else {
        text.push_str(&format!(
            "if [ -s {err} ]; then printf '%s %d 1\\n' '{token}' \"$rplay_rc\"; wc -c {out} {err}; cat {out} {err}; \
             elif [ -s {out} ]; then printf '%s %d 2\\n' '{token}' \"$rplay_rc\"; cat {out}; printf '\\n%s\\n' '{token}'; \
             else printf '%s %d 0\\n' '{token}' \"$rplay_rc\"; fi\n"
        ));
    }
    if serial % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
        text.push_str("rm -f \"$rplay_d\"/*\n");
    }
    text
}

/// Reads one reply from the start of `buffer`: `Ok(None)` while more bytes are needed,
/// else the output and how many bytes it took. `searched` carries, between calls for
/// the same reply, how far the buffer is known to hold no end of a stdout-only reply, so
/// a long output arriving in pieces is scanned once; start it at 0 for each reply.
pub fn parse_reply(
    buffer: &[u8],
    token: &str,
    searched: &mut usize,
) -> Result<Option<(Output, usize)>, String> {
    let Some((header, mut position)) = line_at(buffer, 0)? else {
        return Ok(None);
    };
    let header = String::from_utf8_lossy(header);
    let mut words = header.split(' ');
    if words.next() != Some(token) {
        return Err(format!(
            "the helper shell answered `{}` where `{token}` was expected",
            header.chars().take(200).collect::<String>()
        ));
    }
    let rc: i32 = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("the helper shell sent a bad status line `{header}`"))?;
    let has_output = match words.next() {
        Some("0") => false,
        Some("1") => true,
        Some("2") => {
            let end = format!("\n{token}\n");
            let from = position.max(*searched);
            let Some(at) = find(&buffer[from..], end.as_bytes()) else {
                *searched = buffer.len().saturating_sub(end.len() - 1).max(position);
                return Ok(None);
            };
            let stdout = buffer[position..from + at].to_vec();
            return Ok(Some((
                Output {
                    rc,
                    stdout,
                    stderr: Vec::new(),
                },
                from + at + end.len(),
            )));
        }
        _ => {
            return Err(format!(
                "the helper shell sent a bad status line `{header}`"
            ))
        }
    };
    if !has_output {
        return Ok(Some((
            Output {
                rc,
                ..Output::default()
            },
            position,
        )));
    }
    let mut sizes = [0usize; 3];
    for size in &mut sizes {
        let Some((line, next)) = line_at(buffer, position)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(line);
        *size = text
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("the helper shell sent a bad size line `{text}`"))?;
        position = next;
    }
    let [stdout_len, stderr_len, total] = sizes;
    if stdout_len.checked_add(stderr_len) != Some(total) {
        return Err(format!(
            "the helper shell sent inconsistent sizes {stdout_len} + {stderr_len} != {total}"
        ));
    }
    let end = position + total;
    if buffer.len() < end {
        return Ok(None);
    }
    let stdout = buffer[position..position + stdout_len].to_vec();
    let stderr = buffer[position + stdout_len..end].to_vec();
    Ok(Some((Output { rc, stdout, stderr }, end)))
}

/// Where an own command's reply stands in the channel's two streams.
#[derive(Debug, Default)]
pub struct OwnReply {
    /// Bytes of stdout known to hold no status line; start at 0 for each reply.
    pub searched_out: usize,
    /// The same for stderr.
    pub searched_err: usize,
}

/// Reads the reply of an own command ([`Exec::own`]) from the start of the channel's
/// stdout and stderr: the command's stdout then `\n<token> <exit code>\n`; its stderr
/// then `\n<token>\n`. `Ok(None)` while either end is still to come; else the output and
/// how many bytes of each stream it took.
pub fn parse_own_reply(
    out: &[u8],
    err: &[u8],
    token: &str,
    state: &mut OwnReply,
) -> Result<Option<(Output, usize, usize)>, String> {
    let status = format!("\n{token} ");
    let Some(at) = find_from(out, status.as_bytes(), &mut state.searched_out) else {
        return Ok(None);
    };
    let Some((line, used_out)) = line_at(out, at + 1)? else {
        return Ok(None);
    };
    let end = format!("\n{token}\n");
    let Some(err_at) = find_from(err, end.as_bytes(), &mut state.searched_err) else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(line);
    let rc: i32 = line
        .split(' ')
        .nth(1)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("the helper shell sent a bad status line `{line}`"))?;
    let output = Output {
        rc,
        stdout: out[..at].to_vec(),
        stderr: err[..err_at].to_vec(),
    };
    Ok(Some((output, used_out, err_at + end.len())))
}

/// Where `needle` starts in `haystack`, searching from `searched` on and moving it past
/// what holds no match, for a buffer that only grows.
fn find_from(haystack: &[u8], needle: &[u8], searched: &mut usize) -> Option<usize> {
    let from = (*searched).min(haystack.len());
    match find(&haystack[from..], needle) {
        Some(at) => {
            *searched = from + at;
            Some(from + at)
        }
        None => {
            *searched = haystack.len().saturating_sub(needle.len() - 1);
            None
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The line starting at `start` (without its newline) and where the next one starts.
/// Framing lines are short: a long one means the stream is not what was expected.
fn line_at(buffer: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, String> {
    const LONGEST: usize = 8192;
    let rest = &buffer[start.min(buffer.len())..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) if end <= LONGEST => Ok(Some((&rest[..end], start + end + 1))),
        None if rest.len() <= LONGEST => Ok(None),
        _ => Err(format!(
            "the helper shell sent unexpected output: `{}`",
            String::from_utf8_lossy(&rest[..rest.len().min(200)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs snippets through a real local `sh`, as the helper on a host would: its
    /// stdout and stderr.
    fn through_sh(snippets: &[String], tmpdir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
        let mut child = Command::new("/bin/sh")
            .env("TMPDIR", tmpdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut stdin = child.stdin.take().unwrap();
        for snippet in snippets {
            stdin.write_all(snippet.as_bytes()).unwrap();
        }
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        (output.stdout, output.stderr)
    }

    fn run_all(execs: &[Exec]) -> Vec<Output> {
        let tmpdir = tempfile::tempdir().unwrap();
        let outputs = run_all_in(execs, tmpdir.path());
        let left: Vec<_> = std::fs::read_dir(tmpdir.path()).unwrap().collect();
        assert!(left.is_empty(), "the helper removed its directory on exit");
        outputs
    }

    fn run_all_in(execs: &[Exec], tmpdir: &std::path::Path) -> Vec<Output> {
        let start = new_token();
        let tokens: Vec<String> = execs.iter().map(|_| new_token()).collect();
        let mut snippets = vec![start_snippet(&start)];
        for (serial, (exec, token)) in execs.iter().zip(&tokens).enumerate() {
            snippets.push(command_snippet(exec, token, serial as u64).unwrap());
        }
        let (bytes, err) = through_sh(&snippets, tmpdir);
        let (ready, mut position) = parse_reply(&bytes, &start, &mut 0).unwrap().unwrap();
        assert!(ready.rc > 1, "the ready reply carries the helper's pid");
        let mut err_position = 0;
        let mut outputs = Vec::new();
        for (exec, token) in execs.iter().zip(&tokens) {
            if exec.own {
                let (output, used, used_err) = parse_own_reply(
                    &bytes[position..],
                    &err[err_position..],
                    token,
                    &mut OwnReply::default(),
                )
                .unwrap()
                .expect("a whole reply");
                outputs.push(output);
                position += used;
                err_position += used_err;
            } else {
                let (output, used) = parse_reply(&bytes[position..], token, &mut 0)
                    .unwrap()
                    .expect("a whole reply");
                outputs.push(output);
                position += used;
            }
        }
        assert_eq!(position, bytes.len(), "nothing left over");
        assert_eq!(
            err_position,
            err.len(),
            "the helper itself printed: {}",
            String::from_utf8_lossy(&err[err_position..])
        );
        outputs
    }

    #[test]
    fn streams_exit_codes_stdin_env_and_cwd() {
        let outputs = run_all(&[
            Exec::new(["sh", "-c", "echo out; echo err >&2; exit 3"]),
            Exec::new(["true"]),
            Exec::new(["cat"]).stdin(b"it's \"quoted\"\n\0binary\xff".to_vec()),
            Exec {
                env: vec![
                    ("RPLAY_A".into(), "x y'z".into()),
                    ("odd-name".into(), "v".into()),
                ],
                ..Exec::new(["env"])
            },
            Exec::new(["pwd"]).cwd("/"),
            Exec::new(["pwd"]).cwd("/nonexistent/dir"),
            Exec::new(["/nonexistent/program", "a"]),
            Exec::new(["exit", "3"]),
        ]);
        assert_eq!(outputs[0].rc, 3);
        assert_eq!(outputs[0].stdout, b"out\n");
        assert_eq!(outputs[0].stderr, b"err\n");
        assert_eq!(outputs[1], Output::default());
        assert_eq!(outputs[2].stdout, b"it's \"quoted\"\n\0binary\xff");
        let env = outputs[3].stdout_text();
        assert!(env.lines().any(|l| l == "RPLAY_A=x y'z"), "{env}");
        assert!(env.lines().any(|l| l == "odd-name=v"), "{env}");
        assert_eq!(outputs[4].stdout, b"/\n");
        assert_eq!(outputs[5].rc, 2);
        assert_eq!(
            outputs[5].stderr_text(),
            "Unable to change directory before execution: /nonexistent/dir\n"
        );
        assert_eq!(outputs[6].rc, 2);
        assert_eq!(
            outputs[6].stderr_text(),
            "[Errno 2] No such file or directory: '/nonexistent/program'\n"
        );
        // `exit` is no program: the helper survives it.
        assert_ne!(outputs[7].rc, 0);
    }

    #[test]
    fn output_that_imitates_framing_comes_back_byte_exact() {
        let token = new_token();
        let tricky = format!("{token} 0 0\n{token} 0 1\n5 x\n0 y\n5 total\n");
        let outputs = run_all(&[
            Exec::new(["printf", "%s", tricky.as_str()]),
            Exec::new(["head", "-c", "100000", "/dev/urandom"]),
            Exec::new(["printf", "no newline at the end"]),
        ]);
        assert_eq!(outputs[0].stdout, tricky.as_bytes());
        assert_eq!(outputs[1].stdout.len(), 100000);
        assert_eq!(outputs[2].stdout, b"no newline at the end");
    }

    #[test]
    fn many_commands_clean_their_files_up() {
        let tmpdir = tempfile::tempdir().unwrap();
        let mut execs: Vec<Exec> = (0..(CLEANUP_EVERY + 3))
            .map(|i| Exec::new(["echo", &i.to_string()]))
            .collect();
        // Lists the helper's files from inside: those of the three commands since the
        // last cleanup, and its own.
        execs.push(Exec::new([
            "sh",
            "-c",
            "cd \"$TMPDIR\"/rplay.* && ls | sort | tr '\\n' ' '",
        ]));
        let outputs = run_all_in(&execs, tmpdir.path());
        for (i, output) in outputs.iter().take(execs.len() - 1).enumerate() {
            assert_eq!(output.stdout_text(), format!("{i}\n"));
        }
        let n = CLEANUP_EVERY;
        let expected: String = ["e", "o"]
            .iter()
            .flat_map(|kind| (n..n + 4).map(move |i| format!("{kind}{i} ")))
            .collect();
        assert_eq!(outputs.last().unwrap().stdout_text(), expected);
    }

    #[test]
    fn a_commands_input_does_not_outlive_it() {
        let outputs = run_all(&[
            Exec::new(["cat"]).stdin(b"a password\n".to_vec()),
            // Sizes of the helper's input files, from inside.
            Exec::new(["sh", "-c", "cd \"$TMPDIR\"/rplay.* && wc -c i* | head -n 1"]),
        ]);
        assert_eq!(outputs[0].stdout, b"a password\n");
        assert_eq!(
            outputs[1].stdout_text().split_whitespace().next(),
            Some("0")
        );
    }

    #[test]
    fn partial_replies_wait_for_more() {
        let reply = b"tok 0 1\n3 a\n2 b\n5 total\nabcde";
        for cut in 0..reply.len() {
            assert_eq!(
                parse_reply(&reply[..cut], "tok", &mut 0).unwrap(),
                None,
                "{cut}"
            );
        }
        let (output, used) = parse_reply(reply, "tok", &mut 0).unwrap().unwrap();
        assert_eq!(
            (output.stdout.as_slice(), output.stderr.as_slice()),
            (&b"abc"[..], &b"de"[..])
        );
        assert_eq!(used, reply.len());
        assert!(parse_reply(b"other 0 0\n", "tok", &mut 0).is_err());
        assert!(parse_reply(b"tok 0 1\n3 a\n2 b\n9 total\n", "tok", &mut 0).is_err());
        assert!(parse_reply(&[b'x'; 9000], "tok", &mut 0).is_err());
    }

    #[test]
    fn stdout_only_replies_end_at_the_token_fed_in_any_pieces() {
        let reply = b"tok 3 2\nline\ntok-ish\n\ntok\nnext";
        let end = reply.len() - b"next".len();
        // Fed one byte more at a time, carrying what was searched, as the reader does.
        let mut searched = 0;
        for cut in 0..end {
            assert_eq!(
                parse_reply(&reply[..cut], "tok", &mut searched).unwrap(),
                None,
                "{cut}"
            );
            assert!(searched <= cut);
        }
        let (output, used) = parse_reply(&reply[..end], "tok", &mut searched)
            .unwrap()
            .unwrap();
        assert_eq!(output.rc, 3);
        assert_eq!(output.stdout, b"line\ntok-ish\n");
        assert_eq!(used, end);
        assert_eq!(parse_reply(reply, "tok", &mut 0).unwrap().unwrap().1, end);
    }

    #[test]
    fn own_commands_stream_their_output_and_keep_stderr_apart() {
        let outputs = run_all(&[
            Exec::new(["sh", "-c", "printf 'out'; printf 'err' >&2; exit 4"]).own(),
            Exec::new(["printf", "line\\n\\n"]).own(),
            Exec::new(["true"]).own(),
            Exec::new(["cat"])
                .stdin(b"it's \\ 100% text\n".to_vec())
                .own(),
            Exec::new(["cat"]).stdin(b"\0binary\xff".to_vec()).own(),
            Exec::new(["sh", "-c", "printf 'err only' >&2"]).own(),
            Exec::new(["sh", "-c", "echo after own"]),
        ]);
        assert_eq!(outputs[0].rc, 4);
        assert_eq!(
            (outputs[0].stdout_text(), outputs[0].stderr_text()),
            ("out".into(), "err".into())
        );
        assert_eq!(outputs[1].stdout, b"line\n\n");
        assert_eq!(outputs[2], Output::default());
        assert_eq!(outputs[3].stdout, b"it's \\ 100% text\n");
        assert_eq!(outputs[4].stdout, b"\0binary\xff");
        assert_eq!(
            (outputs[5].stdout_text(), outputs[5].stderr_text()),
            (String::new(), "err only".into())
        );
        assert_eq!(outputs[6].stdout, b"after own\n");
    }

    #[test]
    fn own_replies_wait_for_the_ends_of_both_streams() {
        let out = b"out\ntok-ish\n\ntok 1\nnext";
        let err = b"err\ntok 1\n\ntok\nnext";
        let (out_end, err_end) = (out.len() - 4, err.len() - 4);
        let mut state = OwnReply::default();
        for cut in 0..out_end {
            let reply = parse_own_reply(&out[..cut], &err[..err_end], "tok", &mut state);
            assert_eq!(reply.unwrap(), None, "{cut}");
        }
        for cut in 0..err_end {
            let reply = parse_own_reply(&out[..out_end], &err[..cut], "tok", &mut state);
            assert_eq!(reply.unwrap(), None, "{cut}");
        }
        let (output, used, used_err) =
            parse_own_reply(&out[..out_end], &err[..err_end], "tok", &mut state)
                .unwrap()
                .unwrap();
        assert_eq!(output.rc, 1);
        assert_eq!(output.stdout, b"out\ntok-ish\n");
        assert_eq!(output.stderr, b"err\ntok 1\n");
        assert_eq!((used, used_err), (out_end, err_end));
        let bad = parse_own_reply(
            b"x\ntok nine\n",
            b"\ntok\n",
            "tok",
            &mut OwnReply::default(),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn output_on_both_streams_or_stderr_alone_keeps_the_lengths() {
        let outputs = run_all(&[
            Exec::new(["sh", "-c", "printf 'out'; printf 'err' >&2"]),
            Exec::new(["sh", "-c", "printf 'err only' >&2"]),
            Exec::new(["printf", "out only"]),
        ]);
        assert_eq!(
            (outputs[0].stdout_text(), outputs[0].stderr_text()),
            ("out".into(), "err".into())
        );
        assert_eq!(
            (outputs[1].stdout_text(), outputs[1].stderr_text()),
            (String::new(), "err only".into())
        );
        assert_eq!(
            (outputs[2].stdout_text(), outputs[2].stderr_text()),
            ("out only".into(), String::new())
        );
    }

    #[test]
    fn sh_scripts_run_in_the_helpers_subshell_as_they_would_in_sh() {
        let outputs = run_all(&[
            // Arguments after the name, input, a trap on exit, an exit code.
            Exec::new([
                "sh",
                "-c",
                "trap 'echo trapped' EXIT; printf '%s|' \"$@\"; cat; exit 4",
                "rplay-test",
                "a b",
                "it's",
            ])
            .stdin(b"in\n".to_vec()),
            // A script that does not parse fails alone; the helper goes on.
            Exec::new(["sh", "-c", "if then '", "rplay-test"]),
            Exec::new(["sh", "-c", "set -e; false; echo not here", "rplay-test"]),
            Exec::new(["sh", "-c", "exec printf 'replaced'", "rplay-test"]),
            Exec::new(["echo", "still here"]),
        ]);
        assert_eq!(outputs[0].rc, 4);
        assert_eq!(outputs[0].stdout_text(), "a b|it's|in\ntrapped\n");
        assert_eq!(outputs[1].rc, 2);
        assert!(!outputs[1].stderr.is_empty());
        assert_eq!(
            (outputs[2].rc, outputs[2].stdout_text()),
            (1, String::new())
        );
        assert_eq!(outputs[3].stdout_text(), "replaced");
        assert_eq!(outputs[4].stdout_text(), "still here\n");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert!(command_snippet(&Exec::default(), "t", 0).is_err());
        assert!(command_snippet(&Exec::new(["a\0b"]), "t", 0).is_err());
    }
}
