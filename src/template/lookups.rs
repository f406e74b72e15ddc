//! `lookup()` and `query()`: env, vars, file, template, first_found, inventory_hostnames,
//! items, list, dict, indexed_items, sequence, lines (local), pipe (local).

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};
use std::path::{Path, PathBuf};

pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

fn lookup(state: &State, name: String, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let results = run(state, &name, &args, &kwargs)?;
    if wantlist {
        return Ok(Value::from(results));
    }
    // lookup() joins several results with commas, as Ansible does; one result stays as is.
    Ok(match results.len() {
        0 => Value::from(()),
        1 if !matches!(
            name.as_str(),
            "items" | "list" | "dict" | "indexed_items" | "sequence"
        ) =>
        {
            results.into_iter().next().unwrap_or_default()
        }
        _ if matches!(name.as_str(), "items" | "list" | "dict" | "indexed_items") => {
            Value::from(results)
        }
        _ => Value::from(
            results
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    })
}

fn query(state: &State, name: String, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    Ok(Value::from(run(state, &name, &args, &kwargs)?))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn run(state: &State, name: &str, args: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(name);
    let terms = flatten_terms(args);
    let result = match name {
        "env" => {
            let default = kwargs.get::<Option<String>>("default")?;
            terms
                .iter()
                .map(|term| {
                    Value::from(
                        std::env::var(term.to_string())
                            .ok()
                            .or_else(|| default.clone())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        }
        "vars" => {
            let default = kwargs.get::<Option<Value>>("default")?;
            let mut values = Vec::new();
            for term in &terms {
                let key = term.to_string();
                match state.lookup(&key).filter(|v| !v.is_undefined()) {
                    Some(value) => values.push(value),
                    None => match &default {
                        Some(default) => values.push(default.clone()),
                        None => return Err(invalid(format!("no variable named `{key}`"))),
                    },
                }
            }
            values
        }
        "file" => {
            let mut values = Vec::new();
            for term in &terms {
                let path = find_file(state, "files", &term.to_string()).ok_or_else(|| {
                    invalid(format!("could not find file `{term}` for the file lookup"))
                })?;
                let text = crate::vault::read_to_string(&path).map_err(invalid)?;
                let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
                values.push(Value::from(if rstrip {
                    text.trim_end().to_string()
                } else {
                    text
                }));
            }
            values
        }
        "template" => {
            let mut values = Vec::new();
            for term in &terms {
                let path = find_file(state, "templates", &term.to_string()).ok_or_else(|| {
                    invalid(format!(
                        "could not find template `{term}` for the template lookup"
                    ))
                })?;
                let text = crate::source::read_input_text(&path).map_err(invalid)?;
                let template = state.env().template_from_str(&text)?;
                // The template sees the same variables as the expression that looked it up,
                // and `ansible_managed`, as templates do.
                let mut variables: Vec<(String, Value)> = state
                    .known_variables()
                    .into_iter()
                    .filter_map(|name| state.lookup(&name).map(|v| (name.to_string(), v)))
                    .collect();
                if !variables.iter().any(|(name, _)| name == "ansible_managed") {
                    variables.push((
                        "ansible_managed".to_string(),
                        Value::from("Ansible managed"),
                    ));
                }
                let rendered = template.render(Value::from_pairs(variables))?;
                values.push(Value::from(rendered));
            }
            values
        }
        "first_found" => {
            let skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
            let (files, paths) = first_found_terms(&terms, kwargs)?;
            let mut found = None;
            'outer: for file in &files {
                if paths.is_empty() {
                    if let Some(path) = find_file(state, "files", file) {
                        found = Some(path);
                        break;
                    }
                } else {
                    for dir in &paths {
                        let candidate = Path::new(dir).join(file);
                        let candidate = resolve_relative(state, &candidate);
                        if candidate.exists() {
                            found = Some(candidate);
                            break 'outer;
                        }
                    }
                }
            }
            match found {
                Some(path) => vec![Value::from(path.display().to_string())],
                None if skip => Vec::new(),
                None => {
                    return Err(invalid(format!(
                        "no file was found when using first_found (looked for {})",
                        files.join(", ")
                    )))
                }
            }
        }
        "inventory_hostnames" => {
            let groups = state.lookup("groups").unwrap_or_default();
            let mut hosts: Vec<Value> = Vec::new();
            for term in &terms {
                for part in term.to_string().split([':', ',']) {
                    let part = part.trim();
                    let members = groups.get_item(&Value::from(part)).unwrap_or_default();
                    if members.is_undefined() {
                        if !hosts.iter().any(|h| h.as_str() == Some(part)) {
                            hosts.push(Value::from(part));
                        }
                    } else if let Ok(iter) = members.try_iter() {
                        for host in iter {
                            if !hosts.contains(&host) {
                                hosts.push(host);
                            }
                        }
                    }
                }
            }
            hosts
        }
        "fileglob" => {
            let mut values = Vec::new();
            for term in &terms {
                let pattern = term.to_string();
                let anchored = if Path::new(&pattern).is_absolute() {
                    pattern.clone()
                } else {
                    // Relative globs are searched like files: the role's files/, then the
                    // playbook's files/.
                    let dir = Path::new(&pattern)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    match find_file(state, "files", if dir.is_empty() { "." } else { &dir }) {
                        Some(base) => base
                            .join(Path::new(&pattern).file_name().unwrap_or_default())
                            .display()
                            .to_string(),
                        None => pattern.clone(),
                    }
                };
                let mut found: Vec<String> = glob::glob(&anchored)
                    .map_err(|e| invalid(format!("bad glob `{pattern}`: {e}")))?
                    .filter_map(|entry| entry.ok())
                    .filter(|path| path.is_file())
                    .map(|path| path.display().to_string())
                    .collect();
                found.sort();
                values.extend(found.into_iter().map(Value::from));
            }
            values
        }
        "varnames" => {
            let names: Vec<String> = state
                .lookup("vars")
                .and_then(|vars| vars.try_iter().ok())
                .map(|keys| keys.map(|k| k.to_string()).collect())
                .unwrap_or_default();
            let mut values = Vec::new();
            for term in &terms {
                let pattern = regex::Regex::new(&term.to_string())
                    .map_err(|e| invalid(format!("bad varnames pattern `{term}`: {e}")))?;
                // Python's re.match anchors at the start.
                values.extend(
                    names
                        .iter()
                        .filter(|name| pattern.find(name).is_some_and(|m| m.start() == 0))
                        .map(|name| Value::from(name.as_str())),
                );
            }
            values
        }
        "items" | "flattened" => terms,
        "list" => args.to_vec(),
        "indexed_items" => terms
            .into_iter()
            .enumerate()
            .map(|(index, item)| Value::from(vec![Value::from(index), item]))
            .collect(),
        "dict" => {
            let mut values = Vec::new();
            for arg in args {
                if arg.kind() != ValueKind::Map {
                    return Err(invalid("the dict lookup needs a mapping".to_string()));
                }
                for key in arg.try_iter()? {
                    let value = arg.get_item(&key)?;
                    values.push(Value::from_pairs([("key", key), ("value", value)]));
                }
            }
            values
        }
        "sequence" => sequence(&terms, kwargs)?,
        "lines" | "pipe" => {
            let mut values = Vec::new();
            for term in &terms {
                let output = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(term.to_string())
                    .output()
                    .map_err(|e| invalid(format!("running `{term}`: {e}")))?;
                let text = String::from_utf8_lossy(&output.stdout).into_owned();
                if name == "pipe" {
                    values.push(Value::from(text.trim_end_matches('\n').to_string()));
                } else {
                    values.extend(text.lines().map(|l| Value::from(l.to_string())));
                }
            }
            values
        }
        other => {
            return Err(Error::new(
                ErrorKind::UnknownFunction,
                format!("lookup plugin `{other}` is not supported"),
            ))
        }
    };
    Ok(result)
}

fn flatten_terms(args: &[Value]) -> Vec<Value> {
    let mut terms = Vec::new();
    for arg in args {
        match arg.kind() {
            ValueKind::Seq => {
                if let Ok(iter) = arg.try_iter() {
                    terms.extend(iter);
                }
            }
            _ => terms.push(arg.clone()),
        }
    }
    terms
}

fn first_found_terms(
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut files = Vec::new();
    let mut paths = Vec::new();
    for term in terms {
        if term.kind() == ValueKind::Map {
            let listed = |key: &str| -> Vec<String> {
                let value = term.get_attr(key).unwrap_or_default();
                match value.kind() {
                    ValueKind::Seq => value
                        .try_iter()
                        .map(|it| it.map(|v| v.to_string()).collect())
                        .unwrap_or_default(),
                    ValueKind::String => value
                        .as_str()
                        .unwrap_or_default()
                        .split([',', ';'])
                        .map(str::to_string)
                        .collect(),
                    _ => Vec::new(),
                }
            };
            files.extend(listed("files"));
            paths.extend(listed("paths"));
        } else {
            files.push(term.to_string());
        }
    }
    if let Some(extra) = kwargs.get::<Option<Vec<String>>>("files")? {
        files.extend(extra);
    }
    if let Some(extra) = kwargs.get::<Option<Vec<String>>>("paths")? {
        paths.extend(extra);
    }
    Ok((files, paths))
}

fn sequence(terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut start = kwargs.get::<Option<i64>>("start")?.unwrap_or(1);
    let mut end = kwargs.get::<Option<i64>>("end")?;
    let mut count = kwargs.get::<Option<i64>>("count")?;
    let mut stride = kwargs.get::<Option<i64>>("stride")?.unwrap_or(1);
    let mut format = kwargs
        .get::<Option<String>>("format")?
        .unwrap_or_else(|| "%d".to_string());
    let number = |text: &str| -> Result<i64, Error> {
        let text = text.trim();
        let parsed = if let Some(hex) = text.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else if let Some(octal) = text
            .strip_prefix("0o")
            .or_else(|| text.strip_prefix('0').filter(|r| !r.is_empty()))
        {
            i64::from_str_radix(octal, 8).ok()
        } else {
            text.parse().ok()
        };
        parsed.ok_or_else(|| invalid(format!("`{text}` is not a number in a sequence")))
    };
    for term in terms {
        let text = term.to_string();
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.iter().all(|w| w.contains('=')) {
            for word in words {
                let (key, value) = word.split_once('=').unwrap_or((word, ""));
                match key {
                    "start" => start = number(value)?,
                    "end" => end = Some(number(value)?),
                    "count" => count = Some(number(value)?),
                    "stride" => stride = number(value)?,
                    "format" => format = value.to_string(),
                    other => return Err(invalid(format!("unknown sequence option `{other}`"))),
                }
            }
        } else {
            // Shortcut form: [start-]end[/stride][:format]
            let (range, fmt) = match text.split_once(':') {
                Some((range, fmt)) => (range.to_string(), Some(fmt.to_string())),
                None => (text.clone(), None),
            };
            let (range, step) = match range.split_once('/') {
                Some((range, step)) => (range.to_string(), Some(number(step)?)),
                None => (range, None),
            };
            match range.split_once('-') {
                Some((first, last)) => {
                    start = number(first)?;
                    end = Some(number(last)?);
                }
                None => end = Some(number(&range)?),
            }
            if let Some(step) = step {
                stride = step;
            }
            if let Some(fmt) = fmt {
                format = fmt;
            }
        }
    }
    let end = match (end, count) {
        (Some(end), _) => end,
        (None, Some(count)) => start + (count - 1) * stride,
        (None, None) => return Err(invalid("sequence needs `end` or `count`".to_string())),
    };
    if stride == 0 {
        return Err(invalid("sequence `stride` cannot be 0".to_string()));
    }
    let mut values = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        values.push(Value::from(percent_format(&format, i)));
        i += stride;
        if values.len() > 100_000 {
            return Err(invalid("sequence is longer than 100000 items".to_string()));
        }
    }
    Ok(values)
}

/// Python's `format % number` for the conversions sequences use: %d, %05d, %x, %o, %s.
fn percent_format(format: &str, number: i64) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&next) = chars.peek() {
            if next.is_ascii_digit() || next == '-' {
                spec.push(next);
                chars.next();
            } else {
                break;
            }
        }
        let zero = spec.starts_with('0');
        let left = spec.starts_with('-');
        let width: usize = spec.trim_start_matches(['0', '-']).parse().unwrap_or(0);
        let text = match chars.next() {
            Some('d') | Some('i') | Some('s') | Some('u') => number.to_string(),
            Some('x') => format!("{number:x}"),
            Some('X') => format!("{number:X}"),
            Some('o') => format!("{number:o}"),
            Some('%') => "%".to_string(),
            Some(other) => format!("%{spec}{other}"),
            None => "%".to_string(),
        };
        if left {
            out.push_str(&format!("{text:<width$}"));
        } else if zero {
            out.push_str(&format!("{text:0>width$}"));
        } else {
            out.push_str(&format!("{text:>width$}"));
        }
    }
    out
}

/// Looks a controller file up as Ansible does: the role's `files/` or `templates/`, the
/// role itself, then the playbook's directory and its `files/`/`templates/`.
fn find_file(state: &State, kind: &str, name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    let mut bases = Vec::new();
    if let Some(role_path) = state
        .lookup("role_path")
        .and_then(|v| v.as_str().map(str::to_string))
    {
        bases.push(PathBuf::from(&role_path).join(kind));
        bases.push(PathBuf::from(&role_path).join("tasks"));
        bases.push(PathBuf::from(role_path));
    }
    if let Some(playbook_dir) = state
        .lookup("playbook_dir")
        .and_then(|v| v.as_str().map(str::to_string))
    {
        bases.push(PathBuf::from(&playbook_dir).join(kind));
        bases.push(PathBuf::from(playbook_dir));
    }
    bases.push(PathBuf::from("."));
    bases
        .into_iter()
        .map(|base| base.join(path))
        .find(|candidate| candidate.exists())
}

fn resolve_relative(state: &State, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    for var in ["role_path", "playbook_dir"] {
        if let Some(base) = state
            .lookup(var)
            .and_then(|v| v.as_str().map(str::to_string))
        {
            let candidate = Path::new(&base).join(path);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    path.to_path_buf()
}
