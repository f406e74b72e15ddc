//! `find`: lists the files under directories that match names, age, size, content, type
//! or mode; never changes anything.
//!
//! One `find` command per directory (all in one round trip) lists every entry with its
//! metadata; the filtering happens here with Ansible's rules, in the order Ansible's
//! `os.walk` visits the tree (a directory's files, then its subdirectories). Hidden entries
//! are skipped unless `hidden`, but hidden directories are still searched, as in Ansible.
//! Only `contains` reads files, and only those that pass the other filters.
//!
//! ```yaml
//! - name: Old kubeadm backups
//!   find:
//!     paths: /etc/kubernetes/tmp
//!     patterns: "kubeadm-backup-*"
//!     file_type: directory
//!     age: 7d
//!   register: old_backups
//! ```

use crate::args::file_mode::{self, Mode};
use crate::args::{ansible_bool, list_or_csv, Args};
use crate::lineinfile::search_line;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::replace::python_regex;
use crate::stat::{file_checksums, ChecksumAlgorithm};
use crate::transport::Exec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use regex::bytes::Regex;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "find",
    aliases: &["ansible.builtin.find", "ansible.legacy.find"],
    doc: include_str!("find.rs"),
    free_form: None,
    build: crate::registry::build::<FindArgs>,
};

/// Which kind of entry to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    #[default]
    File,
    Directory,
    Link,
    Any,
}

/// Which timestamp `age` looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeStamp {
    Atime,
    Ctime,
    #[default]
    Mtime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindArgs {
    /// The directories to search (a list, or names separated by commas).
    #[serde(
        alias = "name",
        alias = "path",
        deserialize_with = "list_or_csv::deserialize"
    )]
    pub paths: Vec<String>,
    /// Shell globs (or, with `use_regex`, Python regular expressions matched at the
    /// start) that an entry's base name must match, one of them at least.
    #[serde(
        default,
        alias = "pattern",
        deserialize_with = "list_or_csv::deserialize"
    )]
    pub patterns: Vec<String>,
    /// Globs or expressions, like `patterns`, for names to leave out.
    #[serde(
        default,
        alias = "exclude",
        deserialize_with = "list_or_csv::deserialize"
    )]
    pub excludes: Vec<String>,
    /// A Python regular expression that a line of a file must match (at its start).
    #[serde(default)]
    pub contains: Option<String>,
    /// Match `contains` against the whole file instead of line by line.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub read_whole_file: bool,
    /// `file`, `directory`, `link` or `any`.
    #[serde(default)]
    pub file_type: FileType,
    /// Entries at least this old (`30`, `2h`, `7d`, `1w`), or at most this old when
    /// negative (`-1d`).
    #[serde(default)]
    pub age: Option<String>,
    /// The timestamp `age` compares: `mtime`, `atime` or `ctime`.
    #[serde(default)]
    pub age_stamp: AgeStamp,
    /// Files at least this big (`10m`, `1g`), or at most this big when negative.
    #[serde(default)]
    pub size: Option<String>,
    /// Search subdirectories too.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub recurse: bool,
    /// Include entries whose names start with a dot.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub hidden: bool,
    /// Descend into symlinked directories.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub follow: bool,
    /// Add the checksum of each matched regular file.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub get_checksum: bool,
    /// The checksum's algorithm: md5, sha1, sha224, sha256, sha384 or sha512.
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    pub checksum_algorithm: ChecksumAlgorithm,
    /// `patterns` and `excludes` are Python regular expressions, not globs.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub use_regex: bool,
    /// How deep to look below each path with `recurse` (1: only the path's entries).
    #[serde(default)]
    pub depth: Option<u32>,
    /// Entries with exactly this mode (octal or symbolic), or with any of its bits when
    /// `exact_mode` is off.
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// Compare `mode` exactly rather than by any common bit.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub exact_mode: bool,
    /// Accepted for compatibility; files are read as UTF-8.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Stop after this many matches.
    #[serde(default)]
    pub limit: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Args for FindArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.paths.is_empty() {
            return Err(ArgError::new("`paths` needs at least one directory").at("paths"));
        }
        if self.limit == Some(0) {
            return Err(ArgError::new("limit cannot be 0 (use None for unlimited)").at("limit"));
        }
        if let Some(age) = &self.age {
            parse_amount(
                age,
                &[
                    ('s', 1),
                    ('m', 60),
                    ('h', 3600),
                    ('d', 86400),
                    ('w', 604800),
                ],
            )
            .ok_or_else(|| ArgError::new("failed to process age").at("age"))?;
        }
        if let Some(size) = &self.size {
            parse_amount(
                size,
                &[
                    ('b', 1),
                    ('k', 1 << 10),
                    ('m', 1 << 20),
                    ('g', 1 << 30),
                    ('t', 1 << 40),
                ],
            )
            .ok_or_else(|| ArgError::new("failed to process size").at("size"))?;
        }
        if matches!(self.mode, Some(Mode::Preserve)) {
            return Err(ArgError::new("`preserve` is not a mode to look for").at("mode"));
        }
        self.matchers().map(|_| ())
    }
}

/// `-12d`-style amounts: a signed number and an optional unit.
fn parse_amount(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let text = text.trim().to_lowercase();
    let (number, factor) = match text.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let factor = units.iter().find(|(unit, _)| *unit == c)?.1;
            (&text[..text.len() - 1], factor)
        }
        _ => (text.as_str(), 1),
    };
    let digits = number.strip_prefix('-').unwrap_or(number);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    number.parse::<i64>().ok()?.checked_mul(factor)
}

/// Compiled name patterns and content expression.
struct Matchers {
    patterns: Vec<Regex>,
    excludes: Vec<Regex>,
    contains: Option<Regex>,
}

impl FindArgs {
    fn matchers(&self) -> Result<Matchers, ArgError> {
        let name = |pattern: &str, key: &str| -> Result<Regex, ArgError> {
            if self.use_regex {
                // Python's `re.match`: anchored at the start only.
                python_regex::compile(&format!("^(?:{pattern})"), false, false)
            } else {
                python_regex::compile(&glob_to_regex(pattern), false, false)
            }
            .map_err(|e| ArgError::new(e).at(key))
        };
        let mut patterns = self
            .patterns
            .iter()
            .map(|p| name(p, "patterns"))
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.is_empty() {
            patterns.push(name(if self.use_regex { ".*" } else { "*" }, "patterns")?);
        }
        let excludes = self
            .excludes
            .iter()
            .map(|p| name(p, "excludes"))
            .collect::<Result<Vec<_>, _>>()?;
        let contains = self
            .contains
            .as_deref()
            .map(|pattern| {
                let pattern = if self.read_whole_file {
                    pattern.to_string()
                } else {
                    format!("^(?:{pattern})")
                };
                python_regex::compile(&pattern, false, false)
                    .map_err(|e| ArgError::new(e).at("contains"))
            })
            .transpose()?;
        Ok(Matchers {
            patterns,
            excludes,
            contains,
        })
    }
}

/// Python's `fnmatch.translate`: `*`, `?`, `[...]` and `[!...]`, the whole name.
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let mut class = String::from("[");
                let mut inner = &chars[i..j];
                if inner.first() == Some(&'!') {
                    class.push('^');
                    inner = &inner[1..];
                } else if inner.first() == Some(&'^') {
                    class.push_str(r"\^");
                    inner = &inner[1..];
                }
                for c in inner {
                    match c {
                        '\\' | '[' | ']' | '&' | '~' => {
                            class.push('\\');
                            class.push(*c);
                        }
                        c => class.push(*c),
                    }
                }
                class.push(']');
                out.push_str(&class);
                i = j + 1;
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(r"\z");
    out
}

/// Lists every entry below each directory: `T` the host's time, `D`/`N` a searched path
/// that is or is not a directory, `E` an entry from `find -printf`, `L` a symlink's own
/// metadata when links are followed (`find -L` would otherwise report its target).
const FIND_SCRIPT: &str = r#"follow=$1; maxdepth=$2; shift 2
E='E%y|%Y|%m|%U|%G|%u|%g|%s|%i|%D|%n|%A@|%T@|%C@|%d|%P\0'
L='L%f|%u|%g|%U|%G|%s|%i|%d|%h|%.9X|%.9Y|%.9Z|%n\0'
printf 'T%s\0' "$(date +%s.%N)"
for p do
  if [ ! -d "$p" ]; then printf 'N%s\0' "$p"; continue; fi
  printf 'D%s\0' "$p"
  if [ "$follow" = 1 ]; then
    if [ -n "$maxdepth" ]; then
      find -L "$p" -mindepth 1 -maxdepth "$maxdepth" \( -xtype l -exec stat --printf "$L" {} \; \) -o -printf "$E"
    else
      find -L "$p" -mindepth 1 \( -xtype l -exec stat --printf "$L" {} \; \) -o -printf "$E"
    fi
  elif [ -n "$maxdepth" ]; then
    find -P "$p" -mindepth 1 -maxdepth "$maxdepth" -printf "$E"
  else
    find -P "$p" -mindepth 1 -printf "$E"
  fi
done
exit 0
"#;

/// One entry under a searched directory, with its own (`lstat`) metadata.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The path below the searched directory.
    relative: String,
    depth: usize,
    /// `find`'s type letter: `f`, `d`, `l`, `b`, `c`, `p`, `s`.
    kind: char,
    /// What a symlink leads to is a directory (the walk lists it with directories).
    leads_to_directory: bool,
    mode: u32,
    uid: u64,
    gid: u64,
    user: String,
    group: String,
    size: u64,
    inode: u64,
    dev: u64,
    nlink: u64,
    atime: f64,
    mtime: f64,
    ctime: f64,
}

impl Entry {
    fn name(&self) -> &str {
        self.relative.rsplit('/').next().unwrap_or(&self.relative)
    }

    fn parent(&self) -> &str {
        self.relative
            .rsplit_once('/')
            .map_or("", |(parent, _)| parent)
    }

    fn from_find(record: &str) -> Option<Entry> {
        let fields: Vec<&str> = record.splitn(16, '|').collect();
        let [kind, followed, mode, uid, gid, user, group, size, inode, dev, nlink, atime, mtime, ctime, depth, relative] =
            fields[..]
        else {
            return None;
        };
        Some(Entry {
            relative: relative.to_string(),
            depth: depth.parse().ok()?,
            kind: kind.chars().next()?,
            leads_to_directory: followed == "d",
            mode: u32::from_str_radix(mode, 8).ok()?,
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            user: user.to_string(),
            group: group.to_string(),
            size: size.parse().ok()?,
            inode: inode.parse().ok()?,
            dev: dev.parse().ok()?,
            nlink: nlink.parse().ok()?,
            atime: atime.parse().ok()?,
            mtime: mtime.parse().ok()?,
            ctime: ctime.parse().ok()?,
        })
    }

    /// A symlink's record from `stat --printf`, under the searched directory `root`.
    fn from_stat(record: &str, root: &str) -> Option<Entry> {
        let fields: Vec<&str> = record.splitn(13, '|').collect();
        let [raw_mode, uid, gid, user, group, size, inode, dev, nlink, atime, mtime, ctime, path] =
            fields[..]
        else {
            return None;
        };
        let raw_mode = u32::from_str_radix(raw_mode, 16).ok()?;
        let relative = path
            .strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/')
            .to_string();
        Some(Entry {
            depth: relative.split('/').count(),
            relative,
            kind: 'l',
            leads_to_directory: false,
            mode: raw_mode & 0o7777,
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            user: user.to_string(),
            group: group.to_string(),
            size: size.parse().ok()?,
            inode: inode.parse().ok()?,
            dev: dev.parse().ok()?,
            nlink: nlink.parse().ok()?,
            atime: atime.replace(',', ".").parse().ok()?,
            mtime: mtime.replace(',', ".").parse().ok()?,
            ctime: ctime.replace(',', ".").parse().ok()?,
        })
    }

    /// Ansible's `statinfo` for a matched entry, after its `path`.
    fn result(&self, path: String) -> Map<String, Value> {
        let known = |name: &str, id: u64| {
            if name == "UNKNOWN" || name == id.to_string() {
                String::new()
            } else {
                name.to_string()
            }
        };
        let bit = |mask: u32| self.mode & mask != 0;
        let mut out = Map::new();
        out.insert("path".into(), json!(path));
        out.insert("mode".into(), json!(format!("{:04o}", self.mode & 0o7777)));
        out.insert("isdir".into(), json!(self.kind == 'd'));
        out.insert("ischr".into(), json!(self.kind == 'c'));
        out.insert("isblk".into(), json!(self.kind == 'b'));
        out.insert("isreg".into(), json!(self.kind == 'f'));
        out.insert("isfifo".into(), json!(self.kind == 'p'));
        out.insert("islnk".into(), json!(self.kind == 'l'));
        out.insert("issock".into(), json!(self.kind == 's'));
        out.insert("uid".into(), json!(self.uid));
        out.insert("gid".into(), json!(self.gid));
        out.insert("size".into(), json!(self.size));
        out.insert("inode".into(), json!(self.inode));
        out.insert("dev".into(), json!(self.dev));
        out.insert("nlink".into(), json!(self.nlink));
        out.insert("atime".into(), json!(self.atime));
        out.insert("mtime".into(), json!(self.mtime));
        out.insert("ctime".into(), json!(self.ctime));
        out.insert("gr_name".into(), json!(known(&self.group, self.gid)));
        out.insert("pw_name".into(), json!(known(&self.user, self.uid)));
        for (key, mask) in [
            ("wusr", 0o200),
            ("rusr", 0o400),
            ("xusr", 0o100),
            ("wgrp", 0o020),
            ("rgrp", 0o040),
            ("xgrp", 0o010),
            ("woth", 0o002),
            ("roth", 0o004),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            out.insert(key.into(), json!(bit(mask)));
        }
        out
    }
}

/// What the host reported for one searched path.
enum Searched {
    NotDirectory(String),
    Directory { root: String, entries: Vec<Entry> },
}

/// Python's `os.path.normpath`.
fn normalize(path: &str) -> String {
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if !leading.is_empty() => {}
            part => parts.push(part),
        }
    }
    let joined = format!("{leading}{}", parts.join("/"));
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// The walk's state across searched paths: matches, count, and the limit.
struct Walk<'a> {
    args: &'a FindArgs,
    matchers: &'a Matchers,
    now: f64,
    age: Option<i64>,
    size: Option<i64>,
    mode: Option<u32>,
    /// Which files contain `contains`, by full path.
    content_matches: HashMap<String, bool>,
    files: Vec<(Map<String, Value>, bool)>,
    examined: usize,
}

impl Walk<'_> {
    fn name_matches(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.matchers.patterns.iter().any(|p| p.is_match(name))
            && !self.matchers.excludes.iter().any(|e| e.is_match(name))
    }

    fn age_matches(&self, entry: &Entry) -> bool {
        let Some(age) = self.age else { return true };
        let stamp = match self.args.age_stamp {
            AgeStamp::Atime => entry.atime,
            AgeStamp::Ctime => entry.ctime,
            AgeStamp::Mtime => entry.mtime,
        };
        let elapsed = self.now - stamp;
        if age >= 0 {
            elapsed >= age as f64
        } else {
            elapsed <= age.unsigned_abs() as f64
        }
    }

    fn size_matches(&self, entry: &Entry) -> bool {
        match self.size {
            None => true,
            Some(size) if size >= 0 => entry.size >= size as u64,
            Some(size) => entry.size <= size.unsigned_abs(),
        }
    }

    fn mode_matches(&self, entry: &Entry) -> bool {
        match self.mode {
            None => true,
            Some(mode) if self.args.exact_mode => entry.mode & 0o7777 == mode,
            Some(mode) => entry.mode & mode != 0,
        }
    }

    /// Whether an entry passes every filter but `contains` (Ansible's branches by type).
    fn passes(&self, entry: &Entry) -> bool {
        let common =
            self.name_matches(entry.name()) && self.age_matches(entry) && self.mode_matches(entry);
        match self.args.file_type {
            FileType::Any => common && (entry.kind != 'f' || self.size_matches(entry)),
            FileType::Directory => entry.kind == 'd' && common,
            FileType::File => entry.kind == 'f' && common && self.size_matches(entry),
            FileType::Link => entry.kind == 'l' && common,
        }
    }

    fn limit_reached(&self) -> bool {
        self.args.limit == Some(self.files.len() as u64)
    }

    /// `os.walk` from the top, directories first-to-last: each directory's files, then
    /// its subdirectories, then the walk into each subdirectory. Returns false once the
    /// walk must stop.
    fn visit(
        &mut self,
        root: &str,
        directory: &str,
        children: &HashMap<&str, Vec<&Entry>>,
    ) -> bool {
        let entries = children.get(directory).cloned().unwrap_or_default();
        self.examined += entries.len();
        let (dirs, files): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| {
            e.kind == 'd'
                || (e.kind == 'l'
                    && (e.leads_to_directory || children.contains_key(e.relative.as_str())))
        });
        let mut descend = true;
        let mut stopped = false;
        for entry in files.iter().chain(dirs.iter()) {
            if let Some(depth) = self.args.depth.filter(|d| *d > 0) {
                if entry.depth > depth as usize {
                    descend = false;
                    continue;
                }
            }
            if self.args.hidden || !entry.name().starts_with('.') {
                let path = normalize(&format!("{root}/{}", entry.relative));
                let content_ok = self.args.file_type != FileType::File
                    || self.args.contains.is_none()
                    || self.content_matches.get(&path).copied().unwrap_or(false);
                if self.passes(entry) && content_ok {
                    let checksum = entry.kind == 'f' && self.args.get_checksum;
                    self.files.push((entry.result(path), checksum));
                }
            }
            if self.limit_reached() {
                stopped = true;
                break;
            }
        }
        if stopped || !self.args.recurse {
            return false;
        }
        if descend {
            for dir in dirs {
                if (dir.kind == 'd' || self.args.follow)
                    && !self.visit(root, &dir.relative, children)
                {
                    return false;
                }
            }
        }
        true
    }
}

impl Module for FindArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let matchers = self
                .matchers()
                .map_err(|e| ModuleError::failed(e.to_string()))?;
            let max_depth = if !self.recurse {
                Some(1)
            } else {
                // One level more than asked: Ansible lists (and counts) the entries of the
                // deepest directories before it stops there.
                self.depth.filter(|d| *d > 0).map(|d| d + 1)
            };
            let mut argv = vec![
                "sh".to_string(),
                "-c".to_string(),
                FIND_SCRIPT.to_string(),
                "rplay-find".to_string(),
                if self.follow { "1" } else { "0" }.to_string(),
                max_depth.map(|d| d.to_string()).unwrap_or_default(),
            ];
            argv.extend(self.paths.iter().map(|p| {
                if p.starts_with('-') {
                    format!("./{p}")
                } else {
                    p.clone()
                }
            }));
            let output = transport.run(&Exec::new(argv)).await?;
            if !output.success() {
                return Err(ModuleError::failed(format!(
                    "listing {}: {}",
                    self.paths.join(", "),
                    output.stderr_text().trim()
                )));
            }

            let mut now = 0.0;
            let mut searched: Vec<Searched> = Vec::new();
            for record in output.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
                let record = String::from_utf8_lossy(record);
                let (tag, rest) = record.split_at(1);
                let unexpected =
                    || ModuleError::failed(format!("unexpected find output `{record}`"));
                match tag {
                    "T" => now = rest.parse().map_err(|_| unexpected())?,
                    "N" => searched.push(Searched::NotDirectory(rest.to_string())),
                    "D" => searched.push(Searched::Directory {
                        root: rest.to_string(),
                        entries: Vec::new(),
                    }),
                    "E" | "L" => match searched.last_mut() {
                        Some(Searched::Directory { root, entries }) => entries.push(
                            if tag == "E" {
                                Entry::from_find(rest)
                            } else {
                                Entry::from_stat(rest, root)
                            }
                            .ok_or_else(unexpected)?,
                        ),
                        _ => return Err(unexpected()),
                    },
                    _ => return Err(unexpected()),
                }
            }

            // Directories `find` could not read, as Python's walk reports them.
            let mut skipped = Map::new();
            for line in output.stderr_text().lines() {
                if let Some((quoted, reason)) = line
                    .strip_prefix("find: ")
                    .and_then(|l| l.rsplit_once(": "))
                {
                    let path = quoted.trim_matches(|c| c == '\'' || c == '‘' || c == '’');
                    let message = if reason == "Permission denied" {
                        format!("[Errno 13] Permission denied: '{path}'")
                    } else {
                        reason.to_string()
                    };
                    skipped.insert(path.to_string(), json!(message));
                }
            }

            let mut walk = Walk {
                args: self,
                matchers: &matchers,
                now,
                age: self.age.as_deref().and_then(|a| {
                    parse_amount(
                        a,
                        &[
                            ('s', 1),
                            ('m', 60),
                            ('h', 3600),
                            ('d', 86400),
                            ('w', 604800),
                        ],
                    )
                }),
                size: self.size.as_deref().and_then(|s| {
                    parse_amount(
                        s,
                        &[
                            ('b', 1),
                            ('k', 1 << 10),
                            ('m', 1 << 20),
                            ('g', 1 << 30),
                            ('t', 1 << 40),
                        ],
                    )
                }),
                mode: match &self.mode {
                    Some(mode) => Some(
                        file_mode::resolve(mode, 0, false).map_err(ModuleError::Failed)? & 0o7777,
                    ),
                    None => None,
                },
                content_matches: HashMap::new(),
                files: Vec::new(),
                examined: 0,
            };

            // `contains` needs the files' content: read only those that pass the rest.
            if let (Some(contains), FileType::File) = (&matchers.contains, self.file_type) {
                for item in &searched {
                    let Searched::Directory { root, entries } = item else {
                        continue;
                    };
                    let candidates: Vec<&Entry> =
                        entries.iter().filter(|e| walk.passes(e)).collect();
                    for entry in candidates {
                        let path = normalize(&format!("{root}/{}", entry.relative));
                        let found = match transport.get(&path).await {
                            Ok(Some(content)) => {
                                if self.read_whole_file {
                                    contains.is_match(&content)
                                } else {
                                    content
                                        .split_inclusive(|b| *b == b'\n')
                                        .any(|line| search_line(contains, line).is_some())
                                }
                            }
                            _ => false,
                        };
                        walk.content_matches.insert(path, found);
                    }
                }
            }

            let mut warnings = false;
            for item in &searched {
                match item {
                    Searched::NotDirectory(path) => {
                        skipped.insert(path.clone(), json!(format!("'{path}' is not a directory")));
                        warnings = true;
                    }
                    Searched::Directory { root, entries } => {
                        let mut children: HashMap<&str, Vec<&Entry>> = HashMap::new();
                        for entry in entries {
                            children.entry(entry.parent()).or_default().push(entry);
                        }
                        walk.visit(root, "", &children);
                    }
                }
            }

            let checksum_paths: Vec<String> = walk
                .files
                .iter()
                .filter(|(_, checksum)| *checksum)
                .map(|(file, _)| file["path"].as_str().unwrap_or_default().to_string())
                .collect();
            let mut sums = file_checksums(transport, self.checksum_algorithm, &checksum_paths)
                .await?
                .into_iter();
            let limit_hit = walk.limit_reached();
            let files: Vec<Value> = walk
                .files
                .into_iter()
                .map(|(mut file, checksum)| {
                    if checksum {
                        if let Some(sum) = sums.next().flatten() {
                            file.insert("checksum".into(), json!(sum));
                        }
                    }
                    Value::Object(file)
                })
                .collect();
            let message = if warnings {
                "Not all paths examined, check warnings for details"
            } else if limit_hit {
                "Limit of matches reached"
            } else {
                "All paths examined"
            };
            let matched = files.len();
            Ok(
                Plan::ok(format!("{matched} of {} entries match", walk.examined))
                    .with("files", files)
                    .with("matched", matched)
                    .with("examined", walk.examined)
                    .with("msg", message)
                    .with("skipped_paths", Value::Object(skipped)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_to_regex, normalize};
    use crate::testing::Fixture;
    use serde_json::{json, Value};

    /// A tree: a.log, b.txt, .hidden.log, sub/c.log, sub/deeper/d.log, .git/e.log.
    fn tree() -> Fixture {
        let fx = Fixture::new();
        for dir in ["t/sub/deeper", "t/.git"] {
            std::fs::create_dir_all(fx.path(dir)).unwrap();
        }
        fx.write("t/a.log", b"error: disk\n", 0o644);
        fx.write("t/b.txt", b"fine\n", 0o600);
        fx.write("t/.hidden.log", b"x\n", 0o644);
        fx.write("t/sub/c.log", b"all good\nerror: late\n", 0o644);
        fx.write("t/sub/deeper/d.log", b"ok\n", 0o644);
        fx.write("t/.git/e.log", b"x\n", 0o644);
        fx
    }

    fn paths(plan: &crate::Plan) -> Vec<String> {
        let mut found: Vec<String> = plan.result["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        found.sort();
        found
    }

    async fn find(fx: &Fixture, args: Value) -> crate::Plan {
        let mut args = args;
        args["paths"] = json!(fx.path("t"));
        let plan = fx.plan("find", args).await.unwrap();
        assert!(plan.steps.is_empty(), "find never changes anything");
        plan
    }

    #[tokio::test]
    async fn lists_the_top_level_files() {
        let fx = tree();
        let plan = find(&fx, json!({})).await;
        assert_eq!(paths(&plan), vec![fx.path("t/a.log"), fx.path("t/b.txt")]);
        assert_eq!(plan.result["matched"], 2);
        assert_eq!(
            plan.result["examined"], 5,
            "hidden entries are examined too"
        );
        assert_eq!(plan.result["msg"], "All paths examined");
        let file = &plan.result["files"].as_array().unwrap()[0];
        assert!(file["mode"].is_string() && file["isreg"] == true && file["size"].is_u64());
    }

    #[tokio::test]
    async fn recurses_with_patterns_hidden_and_depth() {
        let fx = tree();
        let plan = find(&fx, json!({"patterns": "*.log", "recurse": true})).await;
        assert_eq!(
            paths(&plan),
            vec![
                fx.path("t/.git/e.log"),
                fx.path("t/a.log"),
                fx.path("t/sub/c.log"),
                fx.path("t/sub/deeper/d.log")
            ],
            "hidden files are skipped, but hidden directories are still searched"
        );
        let plan = find(
            &fx,
            json!({"patterns": ["*.log"], "recurse": true, "hidden": true}),
        )
        .await;
        assert_eq!(plan.result["matched"], 5);
        let plan = find(
            &fx,
            json!({"patterns": "*.log", "recurse": true, "depth": 2}),
        )
        .await;
        assert_eq!(
            paths(&plan),
            vec![
                fx.path("t/.git/e.log"),
                fx.path("t/a.log"),
                fx.path("t/sub/c.log")
            ]
        );
        assert_eq!(
            plan.result["examined"], 9,
            "entries one level deeper are examined"
        );
    }

    #[tokio::test]
    async fn regex_excludes_contains_and_types() {
        let fx = tree();
        let plan = find(
            &fx,
            json!({"patterns": [r".*\.(log|txt)"], "excludes": "b.*", "use_regex": true}),
        )
        .await;
        assert_eq!(paths(&plan), vec![fx.path("t/a.log")]);
        let plan = find(&fx, json!({"recurse": true, "contains": "error:"})).await;
        assert_eq!(
            paths(&plan),
            vec![fx.path("t/a.log"), fx.path("t/sub/c.log")]
        );
        let plan = find(
            &fx,
            json!({"file_type": "directory", "recurse": true, "hidden": true}),
        )
        .await;
        assert_eq!(
            paths(&plan),
            vec![fx.path("t/.git"), fx.path("t/sub"), fx.path("t/sub/deeper")]
        );
        let plan = find(&fx, json!({"mode": "0600"})).await;
        assert_eq!(paths(&plan), vec![fx.path("t/b.txt")]);
    }

    #[tokio::test]
    async fn size_age_limit_and_checksums() {
        let fx = tree();
        let plan = find(&fx, json!({"size": "10", "recurse": true})).await;
        assert_eq!(
            paths(&plan),
            vec![fx.path("t/a.log"), fx.path("t/sub/c.log")]
        );
        let plan = find(&fx, json!({"age": "1d"})).await;
        assert_eq!(plan.result["matched"], 0, "nothing is a day old");
        let plan = find(&fx, json!({"age": "-1h"})).await;
        assert_eq!(plan.result["matched"], 2);
        let plan = find(&fx, json!({"recurse": true, "limit": 1})).await;
        assert_eq!(plan.result["matched"], 1);
        assert_eq!(plan.result["msg"], "Limit of matches reached");
        let plan = find(&fx, json!({"patterns": "b.txt", "get_checksum": true})).await;
        assert_eq!(
            plan.result["files"][0]["checksum"],
            crate::util::sha1_hex(b"fine\n")
        );
    }

    #[tokio::test]
    async fn links_and_paths_that_are_not_directories() {
        let fx = tree();
        std::os::unix::fs::symlink(fx.path("t/sub"), fx.path("t/sublink")).unwrap();
        let plan = find(&fx, json!({"file_type": "link"})).await;
        assert_eq!(paths(&plan), vec![fx.path("t/sublink")]);
        let plan = find(
            &fx,
            json!({"patterns": "c.log", "recurse": true, "follow": true}),
        )
        .await;
        assert_eq!(
            paths(&plan),
            vec![fx.path("t/sub/c.log"), fx.path("t/sublink/c.log")]
        );
        let plan = fx
            .plan("find", json!({"paths": [fx.path("t/a.log")]}))
            .await
            .unwrap();
        assert_eq!(plan.result["matched"], 0);
        assert_eq!(
            plan.result["msg"],
            "Not all paths examined, check warnings for details"
        );
        assert_eq!(
            plan.result["skipped_paths"][fx.path("t/a.log")],
            format!("'{}' is not a directory", fx.path("t/a.log"))
        );
    }

    #[test]
    fn globs_and_paths_like_python() {
        let matches = |glob: &str, name: &str| {
            crate::replace::python_regex::compile(&glob_to_regex(glob), false, false)
                .unwrap()
                .is_match(name.as_bytes())
        };
        assert!(matches("*.log", "a.log"));
        assert!(!matches("*.log", "a.log.1"));
        assert!(matches("file?[0-9]", "file_7"));
        assert!(matches("[!a]*", "b"));
        assert!(!matches("[!a]*", "a"));
        assert!(matches("x[", "x["));
        assert!(matches("a.b", "a.b") && !matches("a.b", "axb"));
        assert_eq!(normalize("/t//a/./b/../c"), "/t/a/c");
        assert_eq!(normalize("t/"), "t");
    }

    #[test]
    fn rejects_bad_amounts() {
        let spec = crate::registry::lookup("ansible.builtin.find").unwrap();
        assert!((spec.build)(json!({"paths": "/x", "age": "3y"})).is_err());
        assert!((spec.build)(json!({"paths": "/x", "size": "big"})).is_err());
        assert!((spec.build)(json!({"paths": "/x", "limit": 0})).is_err());
        assert!((spec.build)(json!({"paths": "/x", "age": "-2w", "size": "1k"})).is_ok());
    }
}
