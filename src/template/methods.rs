//! Python methods on template values: `name.split('.')`, `path.endswith(('.yml', '.yaml'))`,
//! `users.get('root', {})`, `items.index('x')`.
//!
//! minijinja has no methods on strings, lists or dicts; roles written for Ansible call
//! them all the time. `minijinja_contrib::pycompat` covers many of them; the methods it
//! lacks or gets subtly wrong (`split` with keyword arguments, `rsplit`, `splitlines` on
//! `\r`, `find` with bounds, `list.index`, `dict.copy`) are answered here, with Python's
//! semantics and Python's error messages. Anything else goes to pycompat.
//!
//! ```jinja
//! {{ inventory_hostname.split('.')[0] }}  {{ ansible_distribution.lower() }}
//! ```

use minijinja::value::{from_args, Kwargs, ValueKind};
use minijinja::{Error, State, Value};

use super::filters::python::{failure, pairs, py_repr, type_name, Params};
use super::filters::text::{python_rsplit, python_split, splitlines};

/// The callback for `Environment::set_unknown_method_callback`.
pub fn unknown_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let handled = match value.kind() {
        ValueKind::String => string_method(value.as_str().unwrap_or_default(), method, args)?,
        ValueKind::Map => map_method(value, method, args)?,
        ValueKind::Seq | ValueKind::Iterable => list_method(value, method, args)?,
        _ => None,
    };
    match handled {
        Some(result) => Ok(result),
        None => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

/// Splits method arguments into positional values and keyword arguments.
fn split_args(args: &[Value]) -> Result<(&[Value], Kwargs), Error> {
    from_args(args)
}

fn text_arg(value: &Value, method: &str) -> Result<String, Error> {
    value.as_str().map(str::to_string).ok_or_else(|| {
        failure(format!(
            "{method}() argument must be str, not {}",
            type_name(value)
        ))
    })
}

/// Python slice bounds over `length` characters: negative counts from the end, out of
/// range is clamped.
fn bounds(
    length: usize,
    start: Option<&Value>,
    end: Option<&Value>,
) -> Result<(usize, usize), Error> {
    let resolve = |bound: Option<&Value>, default: usize| -> Result<usize, Error> {
        match bound {
            None => Ok(default),
            Some(value) if value.is_none() => Ok(default),
            Some(value) => {
                let index = value
                    .as_i64()
                    .ok_or_else(|| failure("slice indices must be integers or None"))?;
                Ok(if index < 0 {
                    length.saturating_sub(index.unsigned_abs() as usize)
                } else {
                    (index as usize).min(length)
                })
            }
        }
    };
    Ok((resolve(start, 0)?, resolve(end, length)?))
}

/// The character range `start..end` of `text` and its byte offset.
fn window(text: &str, start: usize, end: usize) -> (&str, usize) {
    let byte = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i)
    };
    let (from, to) = (byte(start), byte(end.max(start)));
    (&text[from..to], from)
}

fn char_index(text: &str, byte: usize) -> i64 {
    text[..byte].chars().count() as i64
}

fn strip_set(chars: Option<&Value>, method: &str) -> Result<Option<Vec<char>>, Error> {
    match chars {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) => Ok(Some(text_arg(value, method)?.chars().collect())),
    }
}

fn string_method(text: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let (positional, kwargs) = split_args(args)?;
    let bind = |names: &'static [&'static str]| Params::bind(method, names, positional, &kwargs);
    Ok(Some(match method {
        "split" | "rsplit" => {
            let params = bind(&["sep", "maxsplit"])?;
            let limit = params
                .integer("maxsplit")?
                .filter(|n| *n >= 0)
                .map(|n| n as usize);
            let sep = params
                .get("sep")
                .filter(|s| !s.is_none())
                .map(|s| text_arg(s, method))
                .transpose()?;
            let parts = if method == "split" {
                python_split(text, sep.as_deref(), limit)?
            } else {
                python_rsplit(text, sep.as_deref(), limit)?
            };
            Value::from(parts)
        }
        "splitlines" => {
            let params = bind(&["keepends"])?;
            Value::from(splitlines(text, params.flag("keepends", false)))
        }
        "strip" | "lstrip" | "rstrip" => {
            let params = bind(&["chars"])?;
            let set = strip_set(params.get("chars"), method)?;
            let matcher = |c: char| match &set {
                Some(set) => set.contains(&c),
                None => c.is_whitespace() || ('\x1c'..='\x1f').contains(&c),
            };
            Value::from(match method {
                "strip" => text.trim_matches(matcher),
                "lstrip" => text.trim_start_matches(matcher),
                _ => text.trim_end_matches(matcher),
            })
        }
        "startswith" | "endswith" => {
            let params = bind(&["prefix", "start", "end"])?;
            let length = text.chars().count();
            let (start, end) = bounds(length, params.get("start"), params.get("end"))?;
            let (slice, _) = window(text, start, end);
            let candidates: Vec<Value> = match params.required("prefix")? {
                value if value.kind() == ValueKind::String => vec![value.clone()],
                value if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) => {
                    value.try_iter()?.collect()
                }
                value => {
                    return Err(failure(format!(
                        "{method} first arg must be str or a tuple of str, not {}",
                        type_name(value)
                    )))
                }
            };
            let mut found = false;
            for candidate in &candidates {
                let candidate = text_arg(candidate, method)?;
                found |= if method == "startswith" {
                    slice.starts_with(&candidate)
                } else {
                    slice.ends_with(&candidate)
                };
            }
            Value::from(found)
        }
        "find" | "rfind" | "index" | "rindex" | "count" => {
            let params = bind(&["sub", "start", "end"])?;
            let needle = text_arg(params.required("sub")?, method)?;
            let length = text.chars().count();
            let (start, end) = bounds(length, params.get("start"), params.get("end"))?;
            if start > end {
                return match method {
                    "count" => Ok(Some(Value::from(0))),
                    "index" | "rindex" => Err(failure("substring not found")),
                    _ => Ok(Some(Value::from(-1))),
                };
            }
            let (slice, offset) = window(text, start, end);
            if method == "count" {
                let count = if needle.is_empty() {
                    slice.chars().count() + 1
                } else {
                    slice.matches(needle.as_str()).count()
                };
                Value::from(count)
            } else {
                let found = if method.starts_with('r') {
                    slice.rfind(needle.as_str())
                } else {
                    slice.find(needle.as_str())
                };
                match found {
                    Some(byte) => Value::from(char_index(text, offset + byte)),
                    None if method.ends_with("index") => {
                        return Err(failure("substring not found"))
                    }
                    None => Value::from(-1),
                }
            }
        }
        "replace" => {
            let params = bind(&["old", "new", "count"])?;
            let old = text_arg(params.required("old")?, method)?;
            let new = text_arg(params.required("new")?, method)?;
            match params.integer("count")? {
                Some(count) if count >= 0 => Value::from(text.replacen(&old, &new, count as usize)),
                _ => Value::from(text.replace(&old, &new)),
            }
        }
        "partition" | "rpartition" => {
            let params = bind(&["sep"])?;
            let sep = text_arg(params.required("sep")?, method)?;
            if sep.is_empty() {
                return Err(failure("empty separator"));
            }
            let found = if method == "partition" {
                text.find(&sep)
            } else {
                text.rfind(&sep)
            };
            let parts = match (found, method) {
                (Some(at), _) => [&text[..at], sep.as_str(), &text[at + sep.len()..]],
                (None, "partition") => [text, "", ""],
                (None, _) => ["", "", text],
            };
            Value::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())
        }
        "removeprefix" | "removesuffix" => {
            let params = bind(&["affix"])?;
            let affix = text_arg(params.required("affix")?, method)?;
            let stripped = if method == "removeprefix" {
                text.strip_prefix(affix.as_str())
            } else {
                text.strip_suffix(affix.as_str())
            };
            Value::from(stripped.unwrap_or(text))
        }
        "zfill" => {
            let params = bind(&["width"])?;
            let width = params.integer("width")?.unwrap_or(0).max(0) as usize;
            let length = text.chars().count();
            if width <= length {
                Value::from(text)
            } else {
                let (sign, digits) = match text.chars().next() {
                    Some(c @ ('+' | '-')) => (c.to_string(), &text[1..]),
                    _ => (String::new(), text),
                };
                Value::from(format!("{sign}{}{digits}", "0".repeat(width - length)))
            }
        }
        "ljust" | "rjust" | "center" => {
            let params = bind(&["width", "fillchar"])?;
            let width = params.integer("width")?.unwrap_or(0).max(0) as usize;
            let fill = params.text("fillchar").unwrap_or_else(|| " ".to_string());
            let mut fill_chars = fill.chars();
            let (Some(fill), None) = (fill_chars.next(), fill_chars.next()) else {
                return Err(failure(
                    "The fill character must be exactly one character long",
                ));
            };
            let length = text.chars().count();
            let padding = width.saturating_sub(length);
            let pad = |n: usize| fill.to_string().repeat(n);
            Value::from(match method {
                "ljust" => format!("{text}{}", pad(padding)),
                "rjust" => format!("{}{text}", pad(padding)),
                _ => {
                    let left = padding / 2 + (padding & width & 1);
                    format!("{}{text}{}", pad(left), pad(padding - left))
                }
            })
        }
        "casefold" => {
            bind(&[])?;
            Value::from(text.to_lowercase())
        }
        "swapcase" => {
            bind(&[])?;
            Value::from(
                text.chars()
                    .flat_map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().collect::<Vec<_>>()
                        } else {
                            c.to_uppercase().collect()
                        }
                    })
                    .collect::<String>(),
            )
        }
        _ => return Ok(None),
    }))
}

fn map_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let (positional, kwargs) = split_args(args)?;
    let entries = pairs(value).unwrap_or_default();
    Ok(Some(match method {
        "copy" => {
            Params::bind("copy", &[], positional, &kwargs)?;
            Value::from_pairs(entries)
        }
        "get" => {
            let params = Params::bind("get", &["key", "default"], positional, &kwargs)?;
            let key = params.required("key")?;
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| params.get("default").cloned().unwrap_or(Value::from(())))
        }
        "keys" | "values" | "items" => {
            Params::bind(method, &[], positional, &kwargs)?;
            Value::from(
                entries
                    .into_iter()
                    .map(|(k, v)| match method {
                        "keys" => k,
                        "values" => v,
                        _ => Value::from(minijinja::value::Tuple::from(vec![k, v])),
                    })
                    .collect::<Vec<_>>(),
            )
        }
        _ => return Ok(None),
    }))
}

fn list_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let (positional, kwargs) = split_args(args)?;
    let members: Vec<Value> = value.try_iter()?.collect();
    Ok(Some(match method {
        "index" => {
            let params = Params::bind("index", &["value", "start", "stop"], positional, &kwargs)?;
            let wanted = params.required("value")?;
            let (start, end) = bounds(members.len(), params.get("start"), params.get("stop"))?;
            let found = members
                .iter()
                .enumerate()
                .skip(start)
                .take(end.saturating_sub(start))
                .find(|(_, member)| *member == wanted);
            match found {
                Some((index, _)) => Value::from(index),
                None => return Err(failure(format!("{} is not in list", py_repr(wanted)))),
            }
        }
        "count" => {
            let params = Params::bind("count", &["value"], positional, &kwargs)?;
            let wanted = params.required("value")?;
            Value::from(members.iter().filter(|member| *member == wanted).count())
        }
        "copy" => {
            Params::bind("copy", &[], positional, &kwargs)?;
            Value::from(members)
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::filters::python::py_str;
    use minijinja::{Environment, UndefinedBehavior};

    fn eval(source: &str) -> String {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_unknown_method_callback(super::unknown_method);
        let expression = env
            .compile_expression(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        match expression.eval(minijinja::context! { d => minijinja::context! { a => 1, b => 2 } }) {
            Ok(value) => py_str(&value),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn string_splitting() {
        assert_eq!(eval("'a,b,,c'.split(',')"), "['a', 'b', '', 'c']");
        assert_eq!(eval("'  a  b '.split()"), "['a', 'b']");
        assert_eq!(eval("'a b c'.split(None, 1)"), "['a', 'b c']");
        assert_eq!(eval("'a.b.c'.split('.', maxsplit=1)"), "['a', 'b.c']");
        assert_eq!(eval("'a.b.c'.rsplit('.', 1)"), "['a.b', 'c']");
        assert_eq!(eval("' a b c '.rsplit(None, 1)"), "[' a b', 'c']");
        assert_eq!(eval("'a\\r\\nb\\rc\\n'.splitlines()"), "['a', 'b', 'c']");
        assert_eq!(eval("'a\\nb'.splitlines(true)"), "['a\\n', 'b']");
        assert!(eval("'a'.split('')").contains("empty separator"));
    }

    #[test]
    fn string_searching_and_shaping() {
        assert_eq!(eval("'  x  '.strip()"), "x");
        assert_eq!(eval("'xxhixx'.strip('x')"), "hi");
        assert_eq!(eval("'xxhixx'.lstrip('x')"), "hixx");
        assert_eq!(eval("'a.yml'.endswith(('.yml', '.yaml'))"), "True");
        assert_eq!(eval("'abc'.startswith('b', 1)"), "True");
        assert_eq!(eval("'héllo'.find('l')"), "2");
        assert_eq!(eval("'héllo'.rfind('l')"), "3");
        assert_eq!(eval("'hello'.find('l', 3)"), "3");
        assert_eq!(eval("'hello'.find('z')"), "-1");
        assert!(eval("'hello'.index('z')").contains("substring not found"));
        assert_eq!(eval("'aaa'.count('a')"), "3");
        assert_eq!(eval("'abc'.count('')"), "4");
        assert_eq!(eval("'a-b-c'.replace('-', '+', 1)"), "a+b-c");
        assert_eq!(
            eval("'key=value=x'.partition('=')"),
            "['key', '=', 'value=x']"
        );
        assert_eq!(eval("'v1.2'.removeprefix('v')"), "1.2");
        assert_eq!(eval("'42'.zfill(5)"), "00042");
        assert_eq!(eval("'-42'.zfill(5)"), "-0042");
        assert_eq!(eval("'ab'.rjust(4, '*')"), "**ab");
        assert_eq!(eval("'ab'.center(5)"), "  ab ");
        assert_eq!(eval("'Hello'.upper()"), "HELLO");
        assert_eq!(eval("'Hello'.lower()"), "hello");
        assert_eq!(eval("'{} and {}'.format('x', 1)"), "x and 1");
        assert_eq!(eval("'{0}{0}'.format('x')"), "xx");
        assert_eq!(eval("'-'.join(['a', 'b'])"), "a-b");
        assert_eq!(eval("'123'.isdigit()"), "True");
        assert_eq!(eval("'ab'.isalpha()"), "True");
    }

    #[test]
    fn dict_and_list_methods() {
        assert_eq!(eval("d.get('a')"), "1");
        assert_eq!(eval("d.get('z', 5)"), "5");
        assert_eq!(eval("d.get('z')"), "None");
        assert_eq!(eval("d.keys() | list"), "['a', 'b']");
        assert_eq!(eval("d.values() | list"), "[1, 2]");
        assert_eq!(eval("d.items() | list"), "[('a', 1), ('b', 2)]");
        assert_eq!(eval("d.copy()"), "{'a': 1, 'b': 2}");
        assert_eq!(eval("['a', 'b', 'a'].index('a', 1)"), "2");
        assert!(eval("['a'].index('z')").contains("'z' is not in list"));
        assert_eq!(eval("[1, 2, 1].count(1)"), "2");
        assert!(eval("d.nothing()").contains("error"));
    }
}
