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

/// MD5 of content as lowercase hex: the `md5sum` Ansible's `copy` returns for a file it
/// wrote (RFC 1321; no crate for one digest that is never used for security).
pub fn md5_hex(content: &[u8]) -> String {
    const SHIFTS: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // floor(abs(sin(i + 1)) * 2^32), as the RFC defines them.
    let constants: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = content.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((content.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in message.chunks(64) {
        let words: Vec<u32> = block
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(constants[i])
                .wrapping_add(words[g])
                .rotate_left(SHIFTS[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        for (slot, value) in state.iter_mut().zip([a, b, c, d]) {
            *slot = slot.wrapping_add(value);
        }
    }
    state.iter().map(|w| hex::encode(w.to_le_bytes())).collect()
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

/// The `stat -c` format that [`parse_stat_line`] reads.
pub(crate) const STAT_FORMAT: &str = "%F|%a|%U|%G|%u|%g|%s|%.9Y|%.9X|%.9Z|%i|%d|%h|%N";

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
    argv.push(STAT_FORMAT.to_string());
    argv.push("--".to_string());
    argv.push(path.to_string());
    let output = transport.run(&Exec::new(argv).own()).await?;
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

/// Reads one line of `stat -c STAT_FORMAT`.
pub(crate) fn parse_stat_line(line: &str) -> Option<PathState> {
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
    fn md5_like_md5sum() {
        // RFC 1321's test suite.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
        assert_eq!(md5_hex(b"abc\n"), "0bee89b07a248e27c83fc3d5951213c1");
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
