//! Small helpers shared by modules: shell words, hashing, reading file state.

use crate::transport::{Exec, Transport, TransportError};
use sha1::{Digest, Sha1};

/// Splits a command line into words the way Python's `shlex.split` does (POSIX mode),
/// which is what Ansible's `command` module uses for its free-form argument.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => current.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                current.push('\\');
                                current.push(ch);
                            }
                            None => return Err("no closing quotation".to_string()),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(ch) => current.push(ch),
                    None => return Err("no escaped character".to_string()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Quotes one word for a POSIX shell, like Python's `shlex.quote`.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\"'\"'"))
}

/// Joins argv into one shell line, each word quoted.
pub fn join_words(argv: &[String]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// SHA-1 of content as lowercase hex: Ansible's `checksum` field.
pub fn sha1_hex(content: &[u8]) -> String {
    hex::encode(Sha1::digest(content))
}

/// What `stat` says about a path on the host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathState {
    pub exists: bool,
    /// `file`, `directory`, `link`, `fifo`, `socket`, `block`, `char`.
    pub kind: String,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: f64,
    pub atime: f64,
    pub ctime: f64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    /// Where a symlink points.
    pub link_target: Option<String>,
}

impl PathState {
    pub fn is_file(&self) -> bool {
        self.exists && self.kind == "file"
    }
    pub fn is_dir(&self) -> bool {
        self.exists && self.kind == "directory"
    }
    pub fn is_link(&self) -> bool {
        self.exists && self.kind == "link"
    }
}

/// Reads a path's state with one `stat` call; `follow` resolves symlinks first.
pub async fn path_state(
    transport: &dyn Transport,
    path: &str,
    follow: bool,
) -> Result<PathState, TransportError> {
    let mut argv = vec!["stat".to_string()];
    if follow {
        argv.push("-L".to_string());
    }
    argv.push("-c".to_string());
    argv.push("%F|%a|%U|%G|%u|%g|%s|%.9Y|%.9X|%.9Z|%i|%d|%h|%N".to_string());
    argv.push("--".to_string());
    argv.push(path.to_string());
    let output = transport.run(&Exec::new(argv)).await?;
    if !output.success() {
        let stderr = output.stderr_text();
        if stderr.contains("No such file") || stderr.contains("Not a directory") {
            return Ok(PathState::default());
        }
        return Err(TransportError::Io(format!(
            "stat {path}: {}",
            stderr.trim()
        )));
    }
    let text = output.stdout_text();
    parse_stat_line(text.trim_end_matches('\n'))
        .ok_or_else(|| TransportError::Io(format!("stat {path}: unexpected output `{text}`")))
}

fn parse_stat_line(line: &str) -> Option<PathState> {
    let mut fields = line.splitn(14, '|');
    let kind = match fields.next()? {
        "regular file" | "regular empty file" => "file",
        "directory" => "directory",
        "symbolic link" => "link",
        "fifo" => "fifo",
        "socket" => "socket",
        "block special file" => "block",
        "character special file" => "char",
        _ => "unknown",
    };
    let mode = u32::from_str_radix(fields.next()?, 8).ok()?;
    let owner = fields.next()?.to_string();
    let group = fields.next()?.to_string();
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    let size = fields.next()?.parse().ok()?;
    let mtime = fields.next()?.replace(',', ".").parse().ok()?;
    let atime = fields.next()?.replace(',', ".").parse().ok()?;
    let ctime = fields.next()?.replace(',', ".").parse().ok()?;
    let inode = fields.next()?.parse().ok()?;
    let dev = fields.next()?.parse().ok()?;
    let nlink = fields.next()?.parse().ok()?;
    let quoted_name = fields.next()?;
    // `%N` prints `'link' -> 'target'` for symlinks.
    let link_target = quoted_name
        .split_once(" -> ")
        .map(|(_, target)| unquote_stat_name(target));
    Some(PathState {
        exists: true,
        kind: kind.to_string(),
        mode,
        owner,
        group,
        uid,
        gid,
        size,
        mtime,
        atime,
        ctime,
        inode,
        dev,
        nlink,
        link_target,
    })
}

fn unquote_stat_name(quoted: &str) -> String {
    let trimmed = quoted.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('\'') && trimmed.ends_with('\'') {
        trimmed[1..trimmed.len() - 1].replace("'\\''", "'")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_shlex() {
        assert_eq!(
            split_words(r#"echo "a b" 'c d' e\ f"#).unwrap(),
            vec!["echo", "a b", "c d", "e f"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert!(split_words("echo 'open").is_err());
    }

    #[test]
    fn quotes_like_shlex() {
        assert_eq!(quote("simple-word"), "simple-word");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn parses_stat_output() {
        let state =
            parse_stat_line("regular file|644|root|root|0|0|12|1.5|2.5|3.5|77|2049|1|'/etc/x'")
                .unwrap();
        assert!(state.is_file());
        assert_eq!(state.mode, 0o644);
        assert_eq!(state.size, 12);
        let link = parse_stat_line("symbolic link|777|root|root|0|0|4|1|1|1|7|1|1|'/a' -> '/b c'")
            .unwrap();
        assert_eq!(link.link_target.as_deref(), Some("/b c"));
    }
}
