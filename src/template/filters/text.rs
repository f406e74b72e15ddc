//! Ansible's string filters: Python's `str.split` and `str.replace`, the `os.path` and
//! `ntpath` helpers (`commonpath` included), Jinja's `indent`, `center`, `wordcount` and
//! `urlencode`, `comment`, `quote`, base64, hashes, `to_uuid`, `urldecode`, `urlsplit`
//! and the `human_readable` byte formatters.
//!
//! Each follows the Python function Ansible calls, because the results end up in config
//! files: `'a\nb\n' | indent(2)` keeps its final newline as Jinja's does, `quote` is
//! `shlex.quote`, `splitext('.bashrc')` does not treat the dot file as an extension.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use md5::Md5;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, State, Value};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::python::{failure, items, pairs, py_str, to_text, Params};

/// Python's `str.isspace()` for one character.
fn is_python_space(ch: char) -> bool {
    ch.is_whitespace() || ('\x1c'..='\x1f').contains(&ch)
}

/// `str.split(sep=None, maxsplit=-1)`.
pub(crate) fn split(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("split", &["sep", "maxsplit"], &args, &kwargs)?;
    let input = to_text(state, value)?;
    let limit = params
        .integer("maxsplit")?
        .filter(|n| *n >= 0)
        .map(|n| n as usize);
    let parts = python_split(&input, params.text("sep").as_deref(), limit)?;
    Ok(Value::from(parts))
}

pub(crate) fn python_split(
    input: &str,
    sep: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<String>, Error> {
    match sep {
        Some("") => Err(failure("empty separator")),
        Some(sep) => Ok(match limit {
            Some(limit) => input.splitn(limit + 1, sep).map(str::to_string).collect(),
            None => input.split(sep).map(str::to_string).collect(),
        }),
        None => {
            let mut parts = Vec::new();
            let mut rest = input.trim_start_matches(is_python_space);
            while !rest.is_empty() {
                if limit.is_some_and(|limit| parts.len() == limit) {
                    parts.push(rest.to_string());
                    break;
                }
                let end = rest.find(is_python_space).unwrap_or(rest.len());
                parts.push(rest[..end].to_string());
                rest = rest[end..].trim_start_matches(is_python_space);
            }
            Ok(parts)
        }
    }
}

/// Jinja's `replace(old, new, count=None)`: `str.replace`, at most `count` times.
pub(crate) fn replace(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("replace", &["old", "new", "count"], &args, &kwargs)?;
    let input = to_text(state, value)?;
    let old = py_str(params.required("old")?);
    let new = py_str(params.required("new")?);
    Ok(Value::from(match params.integer("count")? {
        Some(count) if count >= 0 => input.replacen(&old, &new, count as usize),
        _ => input.replace(&old, &new),
    }))
}

/// `str.rsplit(sep=None, maxsplit=-1)`.
pub(crate) fn python_rsplit(
    input: &str,
    sep: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<String>, Error> {
    let Some(limit) = limit else {
        return python_split(input, sep, None);
    };
    match sep {
        Some("") => Err(failure("empty separator")),
        Some(sep) => {
            let mut parts: Vec<String> =
                input.rsplitn(limit + 1, sep).map(str::to_string).collect();
            parts.reverse();
            Ok(parts)
        }
        None => {
            let mut parts = Vec::new();
            let mut rest = input.trim_end_matches(is_python_space);
            while !rest.is_empty() {
                if parts.len() == limit {
                    parts.push(rest.to_string());
                    break;
                }
                let start = rest.rfind(is_python_space).map_or(0, |i| {
                    i + rest[i..].chars().next().map_or(1, char::len_utf8)
                });
                parts.push(rest[start..].to_string());
                rest = rest[..start].trim_end_matches(is_python_space);
            }
            parts.reverse();
            Ok(parts)
        }
    }
}

/// Python's `str.splitlines(keepends)`, which also breaks at `\r`, `\v`, `\f` and more.
pub(crate) fn splitlines(input: &str, keep_ends: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = input.char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        if matches!(
            ch,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        ) {
            let mut end = index + ch.len_utf8();
            if ch == '\r' && chars.peek().map(|(_, c)| *c) == Some('\n') {
                chars.next();
                end += 1;
            }
            lines.push(input[start..if keep_ends { end } else { index }].to_string());
            start = end;
        }
    }
    if start < input.len() {
        lines.push(input[start..].to_string());
    }
    lines
}

/// Jinja's `indent(width=4, first=False, blank=False)`; `width` may be a string.
pub(crate) fn indent(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("indent", &["width", "first", "blank"], &args, &kwargs)?;
    let indention = match params.get("width") {
        Some(width) if width.kind() == ValueKind::String => py_str(width),
        Some(_) => " ".repeat(params.integer("width")?.unwrap_or(4).max(0) as usize),
        None => " ".repeat(4),
    };
    let input = to_text(state, value)? + "\n";
    let lines = splitlines(&input, false);
    let mut out = if params.flag("blank", false) {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut rest = lines.into_iter();
        let mut out = rest.next().unwrap_or_default();
        let others: Vec<String> = rest
            .map(|line| {
                if line.is_empty() {
                    line
                } else {
                    format!("{indention}{line}")
                }
            })
            .collect();
        if !others.is_empty() {
            out.push('\n');
            out.push_str(&others.join("\n"));
        }
        out
    };
    if params.flag("first", false) {
        out.insert_str(0, &indention);
    }
    Ok(Value::from(out))
}

/// `str.center(width)`, with Python's choice of which side gets the odd space.
pub(crate) fn center(state: &State, value: &Value, width: Option<i64>) -> Result<Value, Error> {
    let input = to_text(state, value)?;
    let width = width.unwrap_or(80).max(0) as usize;
    let length = input.chars().count();
    if width <= length {
        return Ok(Value::from(input));
    }
    let padding = width - length;
    let left = padding / 2 + (padding & width & 1);
    Ok(Value::from(format!(
        "{}{input}{}",
        " ".repeat(left),
        " ".repeat(padding - left)
    )))
}

/// Jinja's `wordcount`: runs of word characters.
pub(crate) fn wordcount(state: &State, value: &Value) -> Result<Value, Error> {
    let input = to_text(state, value)?;
    let mut count = 0;
    let mut in_word = false;
    for ch in input.chars() {
        let word = ch.is_alphanumeric() || ch == '_';
        if word && !in_word {
            count += 1;
        }
        in_word = word;
    }
    Ok(Value::from(count))
}

/// `shlex.quote`: single quotes unless the text is made of safe characters only.
pub(crate) fn shell_quote(input: &str) -> String {
    if input.is_empty() {
        return "''".to_string();
    }
    let safe = input
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        input.to_string()
    } else {
        format!("'{}'", input.replace('\'', "'\"'\"'"))
    }
}

pub(crate) fn quote(state: &State, value: &Value) -> Result<Value, Error> {
    if value.is_none() {
        return Ok(Value::from("''"));
    }
    Ok(Value::from(shell_quote(&to_text(state, value)?)))
}

/// `os.path.basename` (POSIX).
pub(crate) fn basename(path: &str) -> String {
    path[path.rfind('/').map_or(0, |i| i + 1)..].to_string()
}

/// `os.path.dirname` (POSIX): trailing slashes of the head go, unless it is all slashes.
pub(crate) fn dirname(path: &str) -> String {
    let head = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `os.path.splitext` (POSIX): leading dots of the file name are not an extension.
pub(crate) fn splitext(path: &str) -> (String, String) {
    let separator = path.rfind('/').map_or(0, |i| i + 1);
    if let Some(dot) = path.rfind('.') {
        if dot > separator && path[separator..dot].chars().any(|c| c != '.') {
            return (path[..dot].to_string(), path[dot..].to_string());
        }
    }
    (path.to_string(), String::new())
}

/// `os.path.expanduser` for `~` and `~/...` (the controller's `$HOME`).
pub(crate) fn expanduser(path: &str) -> String {
    if path != "~" && !path.starts_with("~/") {
        return path.to_string();
    }
    match std::env::var("HOME") {
        Ok(home) => {
            let home = if home == "/" {
                String::new()
            } else {
                home.trim_end_matches('/').to_string()
            };
            let joined = format!("{home}{}", &path[1..]);
            if joined.is_empty() {
                "/".to_string()
            } else {
                joined
            }
        }
        Err(_) => path.to_string(),
    }
}

/// `os.path.expandvars`: `$NAME` and `${NAME}` from the controller's environment;
/// unknown names stay as written.
pub(crate) fn expandvars(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(position) = rest.find('$') {
        out.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match std::env::var(name) {
            Ok(found) if !name.is_empty() => out.push_str(&found),
            _ => out.push_str(&rest[position..position + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// `os.path.normpath` (POSIX): drops `.` and empty parts, folds `..`.
/// Python's `os.path.relpath(path, start)` for absolute or relative POSIX paths.
pub(crate) fn relpath(path: &str, start: &str) -> String {
    let absolute = |p: &str| {
        if p.starts_with('/') {
            normpath(p)
        } else {
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "/".to_string());
            normpath(&format!("{cwd}/{p}"))
        }
    };
    let path = absolute(path);
    let start = absolute(start);
    let path_parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let start_parts: Vec<&str> = start.split('/').filter(|p| !p.is_empty()).collect();
    let common = path_parts
        .iter()
        .zip(&start_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; start_parts.len() - common];
    parts.extend(&path_parts[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

pub(crate) fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if leading == 0 && (parts.is_empty() || parts.last() == Some(&"..")) => {
                parts.push(part)
            }
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let joined = format!("{}{}", "/".repeat(leading), parts.join("/"));
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// `os.path.join(*parts)`: an absolute part restarts the path.
pub(crate) fn path_join(state: &State, value: &Value) -> Result<Value, Error> {
    let parts: Vec<String> = if value.kind() == ValueKind::String {
        vec![to_text(state, value)?]
    } else if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        value.try_iter()?.map(|part| py_str(&part)).collect()
    } else {
        return Err(failure(format!(
            "|path_join expects string or sequence, got {} instead.",
            super::python::type_name(value)
        )));
    };
    let mut out = String::new();
    for part in parts {
        if part.starts_with('/') {
            out = part;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&part);
        } else {
            out.push('/');
            out.push_str(&part);
        }
    }
    Ok(Value::from(out))
}

/// `ntpath.splitdrive`: `C:` or a `\\server\share` prefix.
pub(crate) fn win_splitdrive(path: &str) -> (String, String) {
    let normal = path.replace('/', "\\");
    if normal.starts_with("\\\\") && !normal.starts_with("\\\\\\") {
        if let Some(server_end) = normal[2..].find('\\').map(|i| i + 2) {
            let share_end = normal[server_end + 1..]
                .find('\\')
                .map_or(normal.len(), |i| i + server_end + 1);
            if share_end > server_end + 1 {
                return (path[..share_end].to_string(), path[share_end..].to_string());
            }
        }
        return (String::new(), path.to_string());
    }
    if path.chars().nth(1) == Some(':') {
        let split = path.char_indices().nth(2).map_or(path.len(), |(i, _)| i);
        return (path[..split].to_string(), path[split..].to_string());
    }
    (String::new(), path.to_string())
}

/// `ntpath.split`: the directory part and the file name, either slash.
fn win_split(path: &str) -> (String, String) {
    let (drive, rest) = win_splitdrive(path);
    let cut = rest.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let (head, tail) = rest.split_at(cut);
    let trimmed = head.trim_end_matches(['/', '\\']);
    let head = if trimmed.is_empty() { head } else { trimmed };
    (format!("{drive}{head}"), tail.to_string())
}

pub(crate) fn win_basename(path: &str) -> String {
    win_split(path).1
}

pub(crate) fn win_dirname(path: &str) -> String {
    win_split(path).0
}

fn encode(input: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(input.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(input.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(input.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "latin-1" | "latin1" | "iso-8859-1" | "ascii" => input
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|b| encoding != "ascii" || b.is_ascii())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| failure(format!("cannot encode the text as {encoding}"))),
        _ => Err(failure(format!("unsupported encoding `{encoding}`"))),
    }
}

fn decode(bytes: &[u8], encoding: &str) -> Result<String, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(String::from_utf8_lossy(bytes).into_owned()),
        "utf-16-le" | "utf-16le" | "utf-16-be" | "utf-16be" => {
            let little = encoding.to_lowercase().contains("le");
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|pair| {
                    let pair = [pair[0], *pair.get(1).unwrap_or(&0)];
                    if little {
                        u16::from_le_bytes(pair)
                    } else {
                        u16::from_be_bytes(pair)
                    }
                })
                .collect();
            Ok(String::from_utf16_lossy(&units))
        }
        "latin-1" | "latin1" | "iso-8859-1" | "ascii" => {
            Ok(bytes.iter().map(|b| char::from(*b)).collect())
        }
        _ => Err(failure(format!("unsupported encoding `{encoding}`"))),
    }
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
pub(crate) fn b64encode(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("b64encode", &["encoding", "urlsafe"], &args, &kwargs)?;
    let bytes = encode(
        &to_text(state, value)?,
        &params.text("encoding").unwrap_or_else(|| "utf-8".into()),
    )?;
    let engine = if params.flag("urlsafe", false) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    Ok(Value::from(engine.encode(bytes)))
}

/// `b64decode(encoding='utf-8', urlsafe=False)`; like Python it skips characters outside
/// the alphabet and insists on complete padding.
pub(crate) fn b64decode(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("b64decode", &["encoding", "urlsafe"], &args, &kwargs)?;
    let urlsafe = params.flag("urlsafe", false);
    let input = to_text(state, value)?;
    let cleaned: String = input
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric()
                || if urlsafe {
                    "-_=".contains(*c)
                } else {
                    "+/=".contains(*c)
                }
        })
        .collect();
    let data = cleaned.trim_end_matches('=');
    if data.contains('=') || data.len() % 4 == 1 || cleaned.len() % 4 != 0 {
        return Err(failure("b64decode: Incorrect padding"));
    }
    let engine = if urlsafe { &URL_SAFE } else { &STANDARD };
    let bytes = engine
        .decode(&cleaned)
        .map_err(|error| failure(format!("b64decode: {error}")))?;
    Ok(Value::from(decode(
        &bytes,
        &params.text("encoding").unwrap_or_else(|| "utf-8".into()),
    )?))
}

/// Hex digest of the UTF-8 text with a named algorithm (`hashlib.new(name)`).
pub(crate) fn digest(input: &str, algorithm: &str) -> Result<String, Error> {
    let bytes = input.as_bytes();
    Ok(match algorithm.to_lowercase().as_str() {
        "md5" => hex::encode(Md5::digest(bytes)),
        "sha1" => hex::encode(Sha1::digest(bytes)),
        "sha224" => hex::encode(Sha224::digest(bytes)),
        "sha256" => hex::encode(Sha256::digest(bytes)),
        "sha384" => hex::encode(Sha384::digest(bytes)),
        "sha512" => hex::encode(Sha512::digest(bytes)),
        other => return Err(failure(format!("unsupported hash type {other}"))),
    })
}

/// `to_uuid(namespace=...)`: a version 5 UUID, by default in Ansible's namespace.
pub(crate) fn to_uuid(input: &str, namespace: Option<&str>) -> Result<String, Error> {
    let namespace = namespace.unwrap_or("361e6d51-faec-444a-9079-341386da8e2e");
    let digits: String = namespace.chars().filter(|c| *c != '-').collect();
    let namespace_bytes = hex::decode(&digits)
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| failure(format!("Invalid value '{namespace}' for 'namespace'")))?;
    let mut hasher = Sha1::new();
    hasher.update(&namespace_bytes);
    hasher.update(input.as_bytes());
    let mut bytes = hasher.finalize()[..16].to_vec();
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Jinja's `url_quote`: UTF-8 percent-encoding with Python's always-safe characters.
fn url_quote(input: &str, for_query: bool) -> String {
    let mut out = String::new();
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-~".contains(&byte) || (!for_query && byte == b'/') {
            out.push(byte as char);
        } else if for_query && byte == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Jinja's `urlencode`: a string is quoted, a dict or list of pairs becomes a query string.
pub(crate) fn urlencode(state: &State, value: &Value) -> Result<Value, Error> {
    let entries: Vec<(Value, Value)> = match value.kind() {
        ValueKind::Map => pairs(value).unwrap_or_default(),
        ValueKind::Seq | ValueKind::Iterable => {
            let mut entries = Vec::new();
            for item in value.try_iter()? {
                let pair: Vec<Value> = item.try_iter()?.collect();
                if pair.len() != 2 {
                    return Err(failure("urlencode expects pairs of key and value"));
                }
                entries.push((pair[0].clone(), pair[1].clone()));
            }
            entries
        }
        _ => return Ok(Value::from(url_quote(&to_text(state, value)?, false))),
    };
    let encoded: Vec<String> = entries
        .iter()
        .map(|(key, item)| {
            format!(
                "{}={}",
                url_quote(&py_str(key), true),
                url_quote(&py_str(item), true)
            )
        })
        .collect();
    Ok(Value::from(encoded.join("&")))
}

/// `urllib.parse.unquote_plus`.
pub(crate) fn urldecode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let pair = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match pair.and_then(|pair| u8::from_str_radix(pair, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const SIZES: [(char, u32); 9] = [
    ('Y', 80),
    ('Z', 70),
    ('E', 60),
    ('P', 50),
    ('T', 40),
    ('G', 30),
    ('M', 20),
    ('K', 10),
    ('B', 0),
];

/// `human_readable(isbits=False, unit=None)`: `1.00 KB`, `10.00 Bytes`.
pub(crate) fn human_readable(size: f64, isbits: bool, unit: Option<&str>) -> String {
    let base = if isbits { "bits" } else { "Bytes" };
    let wanted = unit
        .and_then(|u| u.chars().next())
        .map(|c| c.to_ascii_uppercase());
    let mut chosen = SIZES[SIZES.len() - 1];
    for entry in SIZES {
        let limit = 2f64.powi(entry.1 as i32);
        if (wanted.is_none() && size >= limit) || wanted == Some(entry.0) {
            chosen = entry;
            break;
        }
    }
    let limit = 2f64.powi(chosen.1 as i32);
    let suffix = if chosen.1 == 0 {
        base.to_string()
    } else {
        format!("{}{}", chosen.0, &base[..1])
    };
    format!("{:.2} {suffix}", size / limit)
}

/// `human_to_bytes(default_unit=None, isbits=False)`: `'1.5 KB'` → 1536.
pub(crate) fn human_to_bytes(
    input: &str,
    default_unit: Option<&str>,
    isbits: bool,
) -> Result<i64, Error> {
    let trimmed = input.trim_end();
    let digits_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let unit = unit.trim_start();
    let number: f64 = number
        .parse()
        .ok()
        .filter(|_| unit.chars().all(|c| c.is_ascii_alphabetic()) && !number.ends_with('.'))
        .ok_or_else(|| {
            failure(format!(
                "human_to_bytes() can't interpret following string: {input}"
            ))
        })?;
    let unit = if unit.is_empty() {
        default_unit.unwrap_or("")
    } else {
        unit
    };
    if unit.is_empty() {
        return Ok(round_half_even(number) as i64);
    }
    let key = unit.chars().next().unwrap_or('B').to_ascii_uppercase();
    let Some((_, power)) = SIZES.iter().find(|(k, _)| *k == key) else {
        return Err(failure(format!(
            "human_to_bytes() failed to convert {input} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B"
        )));
    };
    if unit.len() > 1 {
        let names = [
            "byte",
            "kilobyte",
            "megabyte",
            "gigabyte",
            "terabyte",
            "petabyte",
            "exabyte",
            "zettabyte",
            "yottabyte",
        ];
        let index = (*power / 10) as usize;
        let (long, short) = if isbits {
            (
                names[index].replace("byte", "bit"),
                if key == 'B' {
                    "bit".to_string()
                } else {
                    format!("{key}b")
                },
            )
        } else {
            (
                names[index].to_string(),
                if key == 'B' {
                    "B".to_string()
                } else {
                    format!("{key}B")
                },
            )
        };
        if unit.to_lowercase() != long && unit != short {
            let class = if isbits { "b" } else { "B" };
            let expect = if key == 'B' {
                format!("expect {class} or {}", if isbits { "bit" } else { "byte" })
            } else {
                format!("expect {key}{class} or {key}")
            };
            return Err(failure(format!("human_to_bytes() failed to convert {input}. Value is not a valid string ({expect})")));
        }
    }
    Ok(round_half_even(number * 2f64.powi(*power as i32)) as i64)
}

fn round_half_even(number: f64) -> f64 {
    let rounded = number.round();
    if (number - number.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - number.signum()
    } else {
        rounded
    }
}

/// `comment(style='plain', **overrides)`: wraps text in a comment block.
pub(crate) fn comment(
    state: &State,
    value: &Value,
    style: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let style = style.unwrap_or_else(|| "plain".to_string());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        _ => {
            return Err(failure(format!(
                "Invalid style '{style}'. Available styles: plain, erlang, c, cblock, xml"
            )))
        }
    };
    let get = |key: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs
            .get::<Option<Value>>(key)?
            .map_or_else(|| default.to_string(), |v| py_str(&v)))
    };
    let prepostfix = get("decoration", decoration)?;
    let newline = get("newline", "\n")?;
    let beginning = get("beginning", beginning)?;
    let prefix = get("prefix", prepostfix.trim_end())?;
    let prefix_count: usize = get("prefix_count", "1")?
        .parse()
        .map_err(|_| failure("prefix_count must be an integer"))?;
    let decoration = get("decoration", decoration)?;
    let postfix = get("postfix", prepostfix.trim_end())?;
    let postfix_count: usize = get("postfix_count", "1")?
        .parse()
        .map_err(|_| failure("postfix_count must be an integer"))?;
    let end = get("end", end)?;
    kwargs.assert_all_used()?;
    let input = to_text(state, value)?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let line = if prefix != newline {
            format!("{prefix}{newline}")
        } else {
            newline.clone()
        };
        out.push_str(&line.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        input.replace(&newline, &format!("{newline}{decoration}"))
    );
    out.push_str(&body.replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    ));
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(Value::from(out))
}

/// `os.path.commonpath(paths)`.
pub(crate) fn commonpath(state: &State, value: &Value) -> Result<String, Error> {
    let paths: Vec<String> = items(state, value)?.iter().map(py_str).collect();
    if paths.is_empty() {
        return Err(failure("commonpath() arg is an empty sequence"));
    }
    let absolute = paths[0].starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != absolute) {
        return Err(failure("Can't mix absolute and relative paths"));
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|part| !part.is_empty() && *part != ".")
                .collect()
        })
        .collect();
    let mut common: Vec<&str> = split[0].clone();
    for parts in &split[1..] {
        let shared = common.iter().zip(parts).take_while(|(a, b)| a == b).count();
        common.truncate(shared);
    }
    Ok(format!(
        "{}{}",
        if absolute { "/" } else { "" },
        common.join("/")
    ))
}

/// `urlsplit(query='')`: the parts of a URL as a dict, or one part.
pub(crate) fn urlsplit(
    state: &State,
    value: &Value,
    query: Option<String>,
) -> Result<Value, Error> {
    let url = to_text(state, value)?;
    let (scheme, rest) = match url.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), url.as_str()),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query_string) = rest.split_once('?').unwrap_or((rest, ""));
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(after) => after.split_at(after.find('/').unwrap_or(after.len())),
        None => ("", rest),
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, pass)) => (Value::from(user), Value::from(pass)),
            None => (Value::from(info), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']').unwrap_or(hostport.len() - 1);
        (&hostport[1..end], hostport[end + 1..].strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(port) => Value::from(port.parse::<u16>().map_err(|_| {
            failure(format!(
                "Port could not be cast to integer value as '{port}'"
            ))
        })?),
        None => Value::from(()),
    };
    let hostname = if host.is_empty() {
        Value::from(())
    } else {
        Value::from(host.to_lowercase())
    };
    let parts = Value::from_pairs([
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc)),
        ("password", password),
        ("path", Value::from(path)),
        ("port", port),
        ("query", Value::from(query_string)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ]);
    match query.filter(|q| !q.is_empty()) {
        None => Ok(parts),
        Some(name) => {
            let found = parts.get_attr(&name)?;
            if found.is_undefined() {
                return Err(failure(format!("urlsplit: unknown URL component: {name}")));
            }
            Ok(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{eval, eval_error};

    #[test]
    fn splitting_and_shaping() {
        assert_eq!(eval("'a,b,,c' | split(',')"), "['a', 'b', '', 'c']");
        assert_eq!(eval("' a  b ' | split"), "['a', 'b']");
        assert_eq!(eval("'a b c' | split(maxsplit=1)"), "['a', 'b c']");
        assert!(eval_error("'a' | split('')").contains("empty separator"));
        assert_eq!(eval("'a\nb\n' | indent(2)"), "a\n  b\n");
        assert_eq!(eval("'a\n\nb' | indent(2)"), "a\n\n  b");
        assert_eq!(eval("'a\n\nb' | indent(2, blank=true)"), "a\n  \n  b");
        assert_eq!(eval("'a\nb' | indent(width='> ', first=true)"), "> a\n> b");
        assert_eq!(eval("'abc' | center(9)"), "   abc   ");
        assert_eq!(eval("'ab' | center(5)"), "  ab ");
        assert_eq!(eval("\"don't stop-me now\" | wordcount"), "5");
        assert_eq!(eval("\"it's\" | quote"), "'it'\"'\"'s'");
        assert_eq!(eval("'' | quote"), "''");
        assert_eq!(eval("'a-b/c:d' | quote"), "a-b/c:d");
        assert_eq!(eval("'hello' | comment"), "#\n# hello\n#");
        assert_eq!(eval("'a\nb' | comment('c')"), "//\n// a\n// b\n//");
        assert_eq!(eval("'hi' | comment('cblock')"), "/*\n *\n * hi\n *\n */");
        assert_eq!(eval("'hi' | comment('xml')"), "<!--\n -\n - hi\n -\n-->");
        assert_eq!(
            eval("'hi' | comment('erlang', prefix_count=2)"),
            "%\n%\n% hi\n%"
        );
    }

    #[test]
    fn encodings_and_hashes() {
        assert_eq!(eval("'é' | b64encode"), "w6k=");
        assert_eq!(eval("'w6k=' | b64decode"), "é");
        assert!(eval_error("'aGk' | b64decode").contains("Incorrect padding"));
        assert_eq!(
            eval("'hello' | b64encode(encoding='utf-16-le')"),
            "aABlAGwAbABvAA=="
        );
        assert_eq!(eval("'a?b' | b64encode(urlsafe=true)"), "YT9i");
        assert_eq!(
            eval("'abc' | hash('md5')"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            eval("'abc' | checksum"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(eval("123 | md5"), "202cb962ac59075b964b07152d234b70");
        assert_eq!(
            eval("'x' | to_uuid"),
            "66b2f013-1baa-5313-9c8c-e6f1182e0e90"
        );
        assert_eq!(
            eval("'x' | to_uuid(namespace='6ba7b810-9dad-11d1-80b4-00c04fd430c8')"),
            "05b16a01-46c6-56dd-bd6e-c6dfb4a1427a"
        );
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            eval("{'a b': 'c&d', 'n': none} | urlencode"),
            "a+b=c%26d&n=None"
        );
        assert_eq!(eval("'a b/c~' | urlencode"), "a%20b/c~");
        assert_eq!(eval("'a+b%20c%zz' | urldecode"), "a b c%zz");
        assert_eq!(
            eval("'https://u:p@Example.com:8443/x?y=1#f' | urlsplit('hostname')"),
            "example.com"
        );
        assert_eq!(
            eval("'https://example.com/x?y=1' | urlsplit('port')"),
            "None"
        );
        assert_eq!(
            eval("'http://h:81/p' | urlsplit | dictsort | first"),
            "('fragment', '')"
        );
        assert_eq!(eval("['/a/b/c', '/a/b/d'] | commonpath"), "/a/b");
        assert_eq!(
            eval("['/etc', 'nginx', 'conf.d'] | path_join"),
            "/etc/nginx/conf.d"
        );
        assert_eq!(eval("['a', '/b', 'c'] | path_join"), "/b/c");
        assert_eq!(eval("'/etc/foo.conf' | splitext"), "['/etc/foo', '.conf']");
        assert_eq!(eval("'.bashrc' | splitext"), "['.bashrc', '']");
        assert_eq!(eval("'/a/b/' | basename"), "");
        assert_eq!(eval("'/a/b/' | dirname"), "/a/b");
        assert_eq!(eval("'//a' | dirname"), "//");
        assert_eq!(eval("'a/./b/../c//d' | normpath"), "a/c/d");
        assert_eq!(eval("'/../x' | normpath"), "/x");
        assert_eq!(
            eval(r"'C:\\Users\\me\\file.txt' | win_basename"),
            "file.txt"
        );
        assert_eq!(
            eval(r"'C:\\Users\\me\\file.txt' | win_dirname"),
            r"C:\Users\me"
        );
        assert_eq!(eval(r"'C:\\Users' | win_splitdrive"), r"['C:', '\\Users']");
    }
}
