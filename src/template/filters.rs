//! Ansible's Jinja filters on top of minijinja.
//!
//! Every filter Ansible ships in `ansible.builtin` is registered under its short name and
//! its fully-qualified one (`to_json` and `ansible.builtin.to_json`); the address filters
//! of `ansible.utils` under `ipaddr` and `ansible.utils.ipaddr`. Where Jinja's built-in
//! filter and minijinja's differ (`default` with its boolean argument, `int` with a base,
//! `indent` keeping a final newline, `map` passing keyword arguments on) the Ansible
//! behaviour replaces minijinja's. Filters that must see undefined values (`default`,
//! `mandatory`, `type_debug`) take `&Value`, since the engine is strict about undefined.
//!
//! ```jinja
//! {{ packages | default([]) | map(attribute='name') | join(',') }}
//! {{ config | combine(overrides, recursive=true) | to_nice_yaml(indent=2) }}
//! {{ 59 | random(seed=inventory_hostname) }} * * * * /usr/local/bin/backup
//! ```

mod collections;
pub(crate) mod ipaddr;
pub(crate) mod json;
mod pyrandom;
pub(crate) mod pyregex;
pub(crate) mod python;
pub(crate) mod text;
mod yaml;
mod yaml_reader;

use minijinja::functions::Function;
use minijinja::value::{
    from_args, FunctionArgs, FunctionResult, Kwargs, Rest, ValueKind, ValueOrKwargs,
};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use self::json::JsonStyle;
use self::python::{
    ensure_defined, f64_of, failure, integer_of, items, py_str, to_text, type_name, Params,
};
use self::yaml::YamlStyle;

/// Adds Ansible's filters to `env`, replacing minijinja's where Ansible differs.
pub fn register(env: &mut Environment<'static>) {
    register_jinja_builtins(env);
    register_conversions(env);
    register_text(env);
    register_data(env);
    register_addresses(env);
}

/// Registers a filter as `name` and `ansible.builtin.name`.
fn builtin<F, Rv, Args>(env: &mut Environment<'static>, name: &'static str, filter: F)
where
    F: Function<Rv, Args> + Clone,
    Rv: FunctionResult,
    Args: for<'a> FunctionArgs<'a>,
{
    env.add_filter(name, filter.clone());
    env.add_filter(format!("ansible.builtin.{name}"), filter);
}

/// Registers a filter under its short name and each collection that defines it.
fn collection<F, Rv, Args>(
    env: &mut Environment<'static>,
    name: &'static str,
    collections: &[&str],
    filter: F,
) where
    F: Function<Rv, Args> + Clone,
    Rv: FunctionResult,
    Args: for<'a> FunctionArgs<'a>,
{
    env.add_filter(name, filter.clone());
    for prefix in collections {
        env.add_filter(format!("{prefix}.{name}"), filter.clone());
    }
}

/// Jinja's own filters keep minijinja's implementation and gain their `ansible.builtin`
/// names, which Ansible resolves as well.
fn register_jinja_builtins(env: &mut Environment<'static>) {
    use minijinja::filters as jinja;
    builtin(env, "upper", jinja::upper);
    builtin(env, "lower", jinja::lower);
    builtin(env, "title", jinja::title);
    builtin(env, "capitalize", jinja::capitalize);
    builtin(env, "length", jinja::length);
    builtin(env, "count", jinja::length);
    builtin(env, "dictsort", jinja::dictsort);
    builtin(env, "items", jinja::items);
    builtin(env, "reverse", jinja::reverse);
    builtin(env, "trim", jinja::trim);
    builtin(env, "join", jinja::join);
    builtin(env, "round", jinja::round);
    builtin(env, "abs", jinja::abs);
    builtin(env, "attr", jinja::attr);
    builtin(env, "first", jinja::first);
    builtin(env, "min", jinja::min);
    builtin(env, "max", jinja::max);
    builtin(env, "sort", jinja::sort);
    builtin(env, "list", jinja::list);
    builtin(env, "batch", jinja::batch);
    builtin(env, "slice", jinja::slice);
    builtin(env, "sum", jinja::sum);
    builtin(env, "select", jinja::select);
    builtin(env, "reject", jinja::reject);
    builtin(env, "selectattr", jinja::selectattr);
    builtin(env, "rejectattr", jinja::rejectattr);
    builtin(env, "groupby", jinja::groupby);
    builtin(env, "unique", jinja::unique);
    builtin(env, "format", jinja::format);
    builtin(env, "tojson", jinja::tojson);
    builtin(env, "safe", jinja::safe);
    builtin(env, "escape", jinja::escape);
    builtin(env, "e", jinja::escape);
    builtin(env, "pprint", jinja::pprint);
}

fn register_conversions(env: &mut Environment<'static>) {
    builtin(env, "default", default);
    builtin(env, "d", default);
    builtin(env, "mandatory", mandatory);
    builtin(env, "bool", to_bool);
    builtin(env, "int", to_int);
    builtin(env, "float", to_float);
    builtin(env, "string", to_string);
    builtin(env, "type_debug", |value: &Value| type_name(value));
    builtin(env, "ternary", ternary);
    builtin(env, "last", last);
    builtin(env, "map", map);
    builtin(env, "log", logarithm);
    builtin(env, "pow", power);
    builtin(env, "root", root);
    builtin(env, "human_readable", human_readable);
    builtin(env, "human_to_bytes", human_to_bytes);
    builtin(env, "random", pyrandom::random);
    builtin(env, "shuffle", pyrandom::shuffle);
    builtin(env, "to_json", to_json);
    builtin(env, "to_nice_json", to_nice_json);
    builtin(env, "from_json", from_json);
    builtin(env, "to_yaml", to_yaml);
    builtin(env, "to_nice_yaml", to_nice_yaml);
    builtin(env, "from_yaml", from_yaml);
    builtin(env, "from_yaml_all", from_yaml_all);
}

fn register_text(env: &mut Environment<'static>) {
    builtin(env, "split", text::split);
    builtin(env, "replace", text::replace);
    builtin(env, "indent", text::indent);
    builtin(env, "center", text::center);
    builtin(env, "wordcount", text::wordcount);
    builtin(env, "quote", text::quote);
    builtin(env, "comment", text::comment);
    builtin(env, "urlencode", text::urlencode);
    builtin(
        env,
        "urldecode",
        |state: &State, value: &Value| -> Result<String, Error> {
            Ok(text::urldecode(&to_text(state, value)?))
        },
    );
    builtin(env, "urlsplit", text::urlsplit);
    builtin(env, "b64encode", text::b64encode);
    builtin(env, "b64decode", text::b64decode);
    builtin(
        env,
        "hash",
        |state: &State, value: &Value, args: Rest<Value>, kwargs: Kwargs| {
            let params = Params::bind("hash", &["hashtype"], &args, &kwargs)?;
            let kind = params
                .text("hashtype")
                .unwrap_or_else(|| "sha1".to_string());
            text::digest(&to_text(state, value)?, &kind)
        },
    );
    builtin(env, "md5", |state: &State, value: &Value| {
        text::digest(&to_text(state, value)?, "md5")
    });
    builtin(env, "sha1", |state: &State, value: &Value| {
        text::digest(&to_text(state, value)?, "sha1")
    });
    builtin(env, "checksum", |state: &State, value: &Value| {
        text::digest(&to_text(state, value)?, "sha1")
    });
    builtin(
        env,
        "to_uuid",
        |state: &State, value: &Value, args: Rest<Value>, kwargs: Kwargs| {
            let params = Params::bind("to_uuid", &["namespace"], &args, &kwargs)?;
            text::to_uuid(&to_text(state, value)?, params.text("namespace").as_deref())
        },
    );
    builtin(env, "regex_replace", regex_replace);
    builtin(env, "regex_search", regex_search);
    builtin(env, "regex_findall", regex_findall);
    builtin(env, "regex_escape", regex_escape);
    let path = |op: fn(&str) -> String| {
        move |state: &State, value: &Value| -> Result<String, Error> {
            Ok(op(&to_text(state, value)?))
        }
    };
    builtin(env, "basename", path(text::basename));
    builtin(env, "dirname", path(text::dirname));
    builtin(env, "expanduser", path(text::expanduser));
    builtin(env, "expandvars", path(text::expandvars));
    builtin(env, "normpath", path(text::normpath));
    builtin(env, "win_basename", path(text::win_basename));
    builtin(env, "win_dirname", path(text::win_dirname));
    builtin(env, "path_join", text::path_join);
    builtin(
        env,
        "relpath",
        |state: &State, value: &Value, start: Option<Value>| -> Result<String, Error> {
            let path = to_text(state, value)?;
            let start = match start {
                Some(start) => to_text(state, &start)?,
                None => std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| ".".to_string()),
            };
            Ok(text::relpath(&path, &start))
        },
    );
    builtin(env, "commonpath", text::commonpath);
    builtin(
        env,
        "splitext",
        |state: &State, value: &Value| -> Result<Value, Error> {
            let (root, extension) = text::splitext(&to_text(state, value)?);
            Ok(Value::from(vec![root, extension]))
        },
    );
    builtin(
        env,
        "win_splitdrive",
        |state: &State, value: &Value| -> Result<Value, Error> {
            let (drive, rest) = text::win_splitdrive(&to_text(state, value)?);
            Ok(Value::from(vec![drive, rest]))
        },
    );
}

fn register_data(env: &mut Environment<'static>) {
    builtin(env, "combine", collections::combine);
    builtin(env, "flatten", collections::flatten);
    builtin(env, "dict2items", collections::dict2items);
    builtin(env, "items2dict", collections::items2dict);
    for name in ["intersect", "difference", "symmetric_difference", "union"] {
        builtin(env, name, move |state: &State, a: &Value, b: &Value| {
            collections::set_operation(state, name, a, b)
        });
    }
    builtin(
        env,
        "zip",
        |state: &State, value: &Value, others: Rest<Value>, kwargs: Kwargs| {
            collections::zip(state, value, others, kwargs, false)
        },
    );
    builtin(
        env,
        "zip_longest",
        |state: &State, value: &Value, others: Rest<Value>, kwargs: Kwargs| {
            collections::zip(state, value, others, kwargs, true)
        },
    );
    builtin(env, "product", collections::product);
    builtin(
        env,
        "permutations",
        |state: &State, value: &Value, size: Option<i64>| {
            collections::arrangements(state, value, size, true)
        },
    );
    builtin(
        env,
        "combinations",
        |state: &State, value: &Value, size: Option<i64>| {
            collections::arrangements(state, value, size, false)
        },
    );
    builtin(env, "subelements", collections::subelements);
    builtin(
        env,
        "extract",
        |item: &Value, container: &Value, more: Option<Value>| {
            collections::extract(item, container, more.as_ref())
        },
    );
    builtin(env, "rekey_on_member", collections::rekey_on_member);
    collection(
        env,
        "dict_kv",
        &["community.general"],
        |value: Value, key: Value| Value::from_pairs([(key, value)]),
    );
    collection(
        env,
        "dict",
        &["community.general"],
        |state: &State, value: &Value| -> Result<Value, Error> {
            let mut entries: Vec<(Value, Value)> = Vec::new();
            for pair in items(state, value)? {
                let pair: Vec<Value> = pair.try_iter()?.collect();
                let [key, item] = <[Value; 2]>::try_from(pair)
                    .map_err(|_| failure("`dict` expects pairs of key and value"))?;
                entries.retain(|(k, _)| *k != key);
                entries.push((key, item));
            }
            Ok(Value::from_pairs(entries))
        },
    );
}

const UTILS: &[&str] = &["ansible.utils", "ansible.netcommon"];

fn register_addresses(env: &mut Environment<'static>) {
    collection(
        env,
        "ipaddr",
        UTILS,
        |value: &Value, query: Option<Value>, version: Option<Value>| {
            let version = version
                .as_ref()
                .and_then(integer_of)
                .filter(|v| *v == 4 || *v == 6)
                .map(|v| v as u8);
            ipaddr::ipaddr(value, &query.unwrap_or(Value::from("")), version, "ipaddr")
        },
    );
    collection(env, "ipv4", UTILS, |value: &Value, query: Option<Value>| {
        ipaddr::ipaddr(value, &query.unwrap_or(Value::from("")), Some(4), "ipv4")
    });
    collection(env, "ipv6", UTILS, |value: &Value, query: Option<Value>| {
        ipaddr::ipaddr(value, &query.unwrap_or(Value::from("")), Some(6), "ipv6")
    });
    collection(
        env,
        "ipwrap",
        UTILS,
        |value: &Value, query: Option<Value>| {
            ipaddr::ipwrap(value, &query.unwrap_or(Value::from("")))
        },
    );
    collection(env, "ipmath", UTILS, |value: &Value, amount: &Value| {
        ipaddr::ipmath(value, amount)
    });
    collection(
        env,
        "ipsubnet",
        UTILS,
        |value: &Value, query: Option<Value>, index: Option<Value>| {
            ipaddr::ipsubnet(value, &query.unwrap_or(Value::from("")), index.as_ref())
        },
    );
    collection(env, "nthhost", UTILS, |value: &Value, query: &Value| {
        ipaddr::nthhost(value, query)
    });
    collection(
        env,
        "next_nth_usable",
        UTILS,
        |value: &Value, offset: &Value| ipaddr::nth_usable(value, offset, true),
    );
    collection(
        env,
        "previous_nth_usable",
        UTILS,
        |value: &Value, offset: &Value| ipaddr::nth_usable(value, offset, false),
    );
    collection(
        env,
        "network_in_network",
        UTILS,
        |value: &Value, test: &Value| ipaddr::network_in(value, test, false),
    );
    collection(
        env,
        "network_in_usable",
        UTILS,
        |value: &Value, test: &Value| ipaddr::network_in(value, test, true),
    );
}

/// `default(default_value='', boolean=False)`: the fallback for an undefined value, or
/// with `boolean` for any false one.
fn default(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let params = Params::bind("default", &["default_value", "boolean"], args, &kwargs)?;
    let fallback = params
        .get("default_value")
        .cloned()
        .unwrap_or_else(|| Value::from(""));
    if value.is_undefined() || (params.flag("boolean", false) && !value.is_true()) {
        Ok(fallback)
    } else {
        Ok(value.clone())
    }
}

/// `mandatory(msg=None)`: fails on an undefined value.
fn mandatory(value: &Value, message: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            message.unwrap_or_else(|| "Mandatory variable not defined.".to_string()),
        ));
    }
    Ok(value.clone())
}

/// Ansible's `bool`: `yes`, `on`, `true` and `1` (any case) are true, as are `1` and
/// `True`; everything else is false.
fn to_bool(state: &State, value: &Value) -> Result<bool, Error> {
    ensure_defined(state, value)?;
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true(),
        ValueKind::String => {
            matches!(
                value.as_str().unwrap_or_default().to_lowercase().as_str(),
                "yes" | "on" | "true" | "1"
            )
        }
        ValueKind::Number => f64_of(value) == Some(1.0),
        _ => false,
    })
}

/// Python's `int(text, base)`: surrounding whitespace, a sign, the base's prefix and
/// underscores between digits are allowed.
pub(crate) fn python_int(text: &str, base: u32) -> Option<i128> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits) = match (base, lower.get(..2)) {
        (0 | 16, Some("0x")) => (16, &body[2..]),
        (0 | 8, Some("0o")) => (8, &body[2..]),
        (0 | 2, Some("0b")) => (2, &body[2..]),
        (0, _) => {
            if body.len() > 1 && body.starts_with('0') && body.chars().any(|c| c != '0' && c != '_')
            {
                return None;
            }
            (10, body)
        }
        (base, _) => (base, body),
    };
    let prefixed = digits.len() != body.len();
    if !(2..=36).contains(&base)
        || digits.is_empty()
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    if digits.starts_with('_') && !prefixed {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() || cleaned.starts_with(['+', '-']) {
        return None;
    }
    let number = i128::from_str_radix(&cleaned, base).ok()?;
    Some(if negative { -number } else { number })
}

/// Python's `float(text)`.
pub(crate) fn python_float(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let chars: Vec<char> = trimmed.chars().collect();
    for (index, ch) in chars.iter().enumerate() {
        if *ch == '_' {
            let digit = |i: Option<&char>| i.is_some_and(char::is_ascii_digit);
            if index == 0 || !digit(chars.get(index - 1)) || !digit(chars.get(index + 1)) {
                return None;
            }
        }
    }
    let cleaned: String = chars.into_iter().filter(|c| *c != '_').collect();
    let lower = cleaned.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        let number = if unsigned == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if lower.starts_with('-') {
            -number
        } else {
            number
        });
    }
    if unsigned.is_empty()
        || !unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || "e.+-".contains(c))
    {
        return None;
    }
    cleaned.parse().ok()
}

fn float_to_int(number: f64) -> Result<Option<Value>, Error> {
    if number.is_infinite() {
        return Err(failure("cannot convert float infinity to integer"));
    }
    Ok((!number.is_nan()).then(|| Value::from(number.trunc() as i128)))
}

/// Jinja's `int(default=0, base=10)`: `'42.7'` gives 42, anything unreadable the default.
fn to_int(state: &State, value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let params = Params::bind("int", &["default", "base"], &args, &kwargs)?;
    let fallback = params
        .get("default")
        .cloned()
        .unwrap_or_else(|| Value::from(0));
    let base = params.integer("base")?.unwrap_or(10);
    ensure_defined(state, value)?;
    let converted = match value.kind() {
        ValueKind::Bool => Some(Value::from(i64::from(value.is_true()))),
        ValueKind::Number if value.is_integer() => Some(value.clone()),
        ValueKind::Number => float_to_int(f64_of(value).unwrap_or(f64::NAN))?,
        ValueKind::String => {
            let input = value.as_str().unwrap_or_default();
            match u32::try_from(base)
                .ok()
                .and_then(|base| python_int(input, base))
            {
                Some(number) => Some(Value::from(number)),
                None => match python_float(input) {
                    Some(number) => float_to_int(number)?,
                    None => None,
                },
            }
        }
        _ => None,
    };
    Ok(converted.unwrap_or(fallback))
}

/// Jinja's `float(default=0.0)`.
fn to_float(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("float", &["default"], &args, &kwargs)?;
    ensure_defined(state, value)?;
    let converted = match value.kind() {
        ValueKind::Bool => Some(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64_of(value),
        ValueKind::String => python_float(value.as_str().unwrap_or_default()),
        _ => None,
    };
    Ok(converted.map(Value::from).unwrap_or_else(|| {
        params
            .get("default")
            .cloned()
            .unwrap_or_else(|| Value::from(0.0))
    }))
}

/// Python's `str()` of the value.
fn to_string(state: &State, value: &Value) -> Result<Value, Error> {
    if value.kind() == ValueKind::String {
        return Ok(value.clone());
    }
    Ok(Value::from(to_text(state, value)?))
}

/// `ternary(true_val, false_val, none_val=None)`.
fn ternary(
    state: &State,
    value: &Value,
    when_true: Value,
    when_false: Value,
    when_none: Option<Value>,
) -> Result<Value, Error> {
    ensure_defined(state, value)?;
    Ok(match when_none {
        Some(when_none) if value.is_none() => when_none,
        _ if value.is_true() => when_true,
        _ => when_false,
    })
}

/// Jinja's `last`: also the last key of a mapping and the last character of a string.
fn last(state: &State, value: &Value) -> Result<Value, Error> {
    let members = items(state, value)?;
    Ok(members.last().cloned().unwrap_or(Value::UNDEFINED))
}

/// Looks up `a.b.0.c` the way Jinja's attribute getters do; a missing step is undefined.
fn lookup_path(value: &Value, path: &Value) -> Value {
    let Some(path) = path.as_str() else {
        return value.get_item(path).unwrap_or(Value::UNDEFINED);
    };
    let mut current = value.clone();
    for part in path.split('.') {
        if current.is_undefined() {
            break;
        }
        let key = match part.parse::<i64>() {
            Ok(index) if current.kind() != ValueKind::Map => Value::from(index),
            _ => Value::from(part),
        };
        current = current.get_item(&key).unwrap_or(Value::UNDEFINED);
    }
    current
}

/// Jinja's `map`: `map(attribute='x', default=...)` or `map('filter', *args, **kwargs)`,
/// passing keyword arguments on to the filter.
fn map(state: &mut State, value: Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let raw = args.into_values();
    let keywords = raw.last().filter(|v| v.is_kwargs()).cloned();
    let (positional, kwargs): (&[Value], Kwargs) = from_args(&raw)?;
    ensure_defined(state, &value)?;
    let members: Vec<Value> = value.try_iter()?.collect();
    if let Some(attribute) = kwargs.get::<Option<Value>>("attribute")? {
        if !positional.is_empty() {
            return Err(Error::from(ErrorKind::TooManyArguments));
        }
        let fallback = kwargs.get::<Option<Value>>("default")?;
        kwargs.assert_all_used()?;
        return Ok(Value::from(
            members
                .iter()
                .map(|member| {
                    let found = lookup_path(member, &attribute);
                    match (&fallback, found.is_undefined()) {
                        (Some(fallback), true) => fallback.clone(),
                        _ => found,
                    }
                })
                .collect::<Vec<_>>(),
        ));
    }
    let Some(name) = positional.first() else {
        return Err(failure("map: a filter name or `attribute=` is required"));
    };
    let name = name
        .as_str()
        .ok_or_else(|| failure("map: the filter name must be a string"))?
        .to_string();
    let mut out = Vec::with_capacity(members.len());
    for member in members {
        let mut call = vec![member];
        call.extend(positional[1..].iter().cloned());
        call.extend(keywords.iter().cloned());
        out.push(state.apply_filter(&name, &call)?);
    }
    Ok(Value::from(out))
}

fn number_arg(value: &Value, filter: &str) -> Result<f64, Error> {
    f64_of(value)
        .or_else(|| (value.kind() == ValueKind::Bool).then(|| f64::from(u8::from(value.is_true()))))
        .ok_or_else(|| failure(format!("{filter}() can only be used on numbers")))
}

/// `log(base=e)`.
fn logarithm(value: &Value, base: Option<Value>) -> Result<f64, Error> {
    let number = number_arg(value, "log")?;
    let base = base.as_ref().map(|b| number_arg(b, "log")).transpose()?;
    if number <= 0.0 {
        return Err(failure("log(): math domain error"));
    }
    Ok(match base {
        None => number.ln(),
        Some(base) => {
            if base == 10.0 {
                number.log10()
            } else {
                number.ln() / base.ln()
            }
        }
    })
}

/// `pow(y)`: always a float, like `math.pow`.
fn power(value: &Value, exponent: &Value) -> Result<f64, Error> {
    Ok(number_arg(value, "pow")?.powf(number_arg(exponent, "pow")?))
}

/// `root(base=2)`.
fn root(value: &Value, base: Option<Value>) -> Result<f64, Error> {
    let number = number_arg(value, "root")?;
    let base = base
        .as_ref()
        .map(|b| number_arg(b, "root"))
        .transpose()?
        .unwrap_or(2.0);
    Ok(if base == 2.0 {
        number.sqrt()
    } else {
        number.powf(1.0 / base)
    })
}

fn human_readable(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let params = Params::bind("human_readable", &["isbits", "unit"], &args, &kwargs)?;
    ensure_defined(state, value)?;
    let size = match value.kind() {
        ValueKind::String => python_float(value.as_str().unwrap_or_default()),
        _ => f64_of(value),
    }
    .ok_or_else(|| failure("human_readable() can't interpret the input"))?;
    Ok(text::human_readable(
        size,
        params.flag("isbits", false),
        params.text("unit").as_deref(),
    ))
}

fn human_to_bytes(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<i64, Error> {
    let params = Params::bind(
        "human_to_bytes",
        &["default_unit", "isbits"],
        &args,
        &kwargs,
    )?;
    text::human_to_bytes(
        &to_text(state, value)?,
        params.text("default_unit").as_deref(),
        params.flag("isbits", false),
    )
}

fn json_style(kwargs: &Kwargs, indent: Option<Value>, sort_keys: bool) -> Result<JsonStyle, Error> {
    let mut style = JsonStyle {
        sort_keys: kwargs
            .get::<Option<Value>>("sort_keys")?
            .map_or(sort_keys, |v| v.is_true()),
        ensure_ascii: kwargs
            .get::<Option<Value>>("ensure_ascii")?
            .is_none_or(|v| v.is_true()),
        ..JsonStyle::default()
    };
    let indent = match kwargs.get::<Option<Value>>("indent")?.or(indent) {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::String => Some(py_str(&v)),
        Some(v) => Some(
            " ".repeat(
                integer_of(&v)
                    .ok_or_else(|| failure("indent must be an integer"))?
                    .max(0) as usize,
            ),
        ),
    };
    style = style.with_indent(indent);
    if let Some(separators) = kwargs.get::<Option<Value>>("separators")? {
        let parts: Vec<Value> = separators.try_iter()?.collect();
        if let [item, key] = parts.as_slice() {
            style.item_separator = py_str(item);
            style.key_separator = py_str(key);
        }
    }
    accept_and_ignore(
        kwargs,
        &[
            "vault_to_text",
            "preprocess_unsafe",
            "profile",
            "allow_nan",
            "check_circular",
            "skipkeys",
        ],
    )?;
    Ok(style)
}

/// Playbooks pass options that only matter to Python (`vault_to_text`, `allow_unicode`);
/// they are accepted so those templates render, and anything else is an error.
fn accept_and_ignore(kwargs: &Kwargs, names: &[&str]) -> Result<(), Error> {
    for name in names {
        kwargs.get::<Option<Value>>(name)?;
    }
    kwargs.assert_all_used()
}

/// `to_json(**json_dumps_options)`.
fn to_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(state, value)?;
    json::dumps(value, &json_style(&kwargs, None, false)?)
}

/// `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(
    state: &State,
    value: &Value,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    ensure_defined(state, value)?;
    let mut style = json_style(&kwargs, Some(indent.unwrap_or(Value::from(4))), true)?;
    style.item_separator = ",".to_string();
    style.key_separator = ": ".to_string();
    json::dumps(value, &style)
}

fn from_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    accept_and_ignore(&kwargs, &["profile"])?;
    json::loads(&to_text(state, value)?)
}

fn yaml_style(
    kwargs: &Kwargs,
    indent: Option<Value>,
    flow: Option<bool>,
) -> Result<YamlStyle, Error> {
    let number = |name: &str, given: Option<Value>, default: usize| -> Result<usize, Error> {
        match kwargs.get::<Option<Value>>(name)?.or(given) {
            Some(value) if !value.is_none() => integer_of(&value)
                .map(|n| n.max(0) as usize)
                .ok_or_else(|| failure(format!("`{name}` must be an integer"))),
            _ => Ok(default),
        }
    };
    let flag = |name: &str, default: bool| -> Result<bool, Error> {
        Ok(kwargs
            .get::<Option<Value>>(name)?
            .map_or(default, |v| v.is_true()))
    };
    let flow = match kwargs.get::<Option<Value>>("default_flow_style")? {
        Some(value) if value.is_none() => None,
        Some(value) => Some(value.is_true()),
        None => flow,
    };
    let style = YamlStyle {
        indent: number("indent", indent, 2)?,
        width: match kwargs.get::<Option<Value>>("width")? {
            Some(value) if f64_of(&value).is_some_and(f64::is_infinite) => usize::MAX,
            Some(value) => {
                integer_of(&value).map_or(80, |n| if n < 0 { usize::MAX } else { n as usize })
            }
            None => 80,
        },
        flow,
        sort_keys: flag("sort_keys", true)?,
        explicit_start: flag("explicit_start", false)?,
        explicit_end: flag("explicit_end", false)?,
    };
    accept_and_ignore(
        kwargs,
        &[
            "allow_unicode",
            "encoding",
            "line_break",
            "canonical",
            "version",
            "tags",
        ],
    )?;
    Ok(style)
}

/// `to_yaml(**yaml_dump_options)`: collections of scalars in flow style.
fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    ensure_defined(state, value)?;
    yaml::dump(value, &yaml_style(&kwargs, None, None)?)
}

/// `to_nice_yaml(indent=4, **yaml_dump_options)`: block style throughout.
fn to_nice_yaml(
    state: &State,
    value: &Value,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    ensure_defined(state, value)?;
    yaml::dump(
        value,
        &yaml_style(&kwargs, Some(indent.unwrap_or(Value::from(4))), Some(false))?,
    )
}

fn from_yaml(state: &State, value: &Value) -> Result<Value, Error> {
    ensure_defined(state, value)?;
    match value.kind() {
        ValueKind::None => Ok(Value::from(())),
        ValueKind::String => yaml_reader::load(value.as_str().unwrap_or_default()),
        _ => Ok(value.clone()),
    }
}

fn from_yaml_all(state: &State, value: &Value) -> Result<Value, Error> {
    ensure_defined(state, value)?;
    match value.kind() {
        ValueKind::None => Ok(Value::from(Vec::<Value>::new())),
        ValueKind::String => Ok(Value::from(yaml_reader::load_all(
            value.as_str().unwrap_or_default(),
        )?)),
        _ => Ok(value.clone()),
    }
}

fn regex_flags(params: &Params) -> (bool, bool) {
    (
        params.flag("ignorecase", false),
        params.flag("multiline", false),
    )
}

/// `regex_replace(pattern, replacement, ignorecase=False, multiline=False, count=0,
/// mandatory_count=0)`, with Python's pattern and replacement syntax.
fn regex_replace(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let params = Params::bind(
        "regex_replace",
        &[
            "pattern",
            "replacement",
            "ignorecase",
            "multiline",
            "count",
            "mandatory_count",
        ],
        &args,
        &kwargs,
    )?;
    let input = to_text(state, value)?;
    let pattern = params.text("pattern").unwrap_or_default();
    let (ignorecase, multiline) = regex_flags(&params);
    let regex = pyregex::compile(&pattern, ignorecase, multiline)?;
    let count = params.integer("count")?.unwrap_or(0).max(0) as usize;
    // Jinja keeps `'\\1'` in a string literal as backslash-one; minijinja reads it as an
    // octal escape (U+0001). Turn those back into the backreferences they were.
    let replacement: String = params
        .text("replacement")
        .unwrap_or_default()
        .chars()
        .flat_map(|c| match c {
            '\u{1}'..='\u{9}' => vec!['\\', char::from(b'0' + c as u8)],
            other => vec![other],
        })
        .collect();
    let (output, replaced) = regex.sub(&input, &replacement, count)?;
    let mandatory = params.integer("mandatory_count")?.unwrap_or(0);
    if mandatory != 0 && mandatory != replaced as i64 {
        return Err(failure(format!(
            "'{pattern}' should match {mandatory} times, but matches {replaced} times in '{input}'"
        )));
    }
    Ok(output)
}

fn escaped_group_number(arg: &str) -> Option<usize> {
    let mut chars = arg.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if ('\u{1}'..='\u{9}').contains(&c) => Some(c as usize),
        _ if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_digit()) => arg.parse().ok(),
        _ => None,
    }
}

/// `regex_search(regex, *groups, ignorecase=False, multiline=False)`: the match, the
/// listed groups (`'\\1'`, `'\\g<name>'`) as a list, or `None`.
fn regex_search(
    state: &State,
    value: &Value,
    pattern: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let mut groups = Vec::new();
    for arg in args.iter() {
        let arg = py_str(arg);
        if let Some(name) = arg
            .strip_prefix("\\g<")
            .and_then(|rest| rest.split('>').next())
        {
            groups.push(Value::from(name));
        } else if let Some(group) = escaped_group_number(&arg) {
            // Template string literals may have turned `'\\2'` into `\x02` or `2`.
            groups.push(Value::from(group));
        } else if let Some(number) = arg.strip_prefix('\\') {
            let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
            groups.push(Value::from(
                digits
                    .parse::<usize>()
                    .map_err(|_| failure("Unknown argument"))?,
            ));
        } else {
            return Err(failure("Unknown argument"));
        }
    }
    let params = Params::bind("regex_search", &["ignorecase", "multiline"], &[], &kwargs)?;
    let (ignorecase, multiline) = regex_flags(&params);
    let input = to_text(state, value)?;
    let regex = pyregex::compile(&py_str(pattern), ignorecase, multiline)?;
    let Some(caps) = regex.search(&input) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for group in groups {
        let index = match group.as_str() {
            Some(name) => name
                .parse::<usize>()
                .ok()
                .or_else(|| regex.group_index(name))
                .ok_or_else(|| failure(format!("no such group: {name}")))?,
            None => group.as_usize().unwrap_or(0),
        };
        if index > regex.groups() {
            return Err(failure(format!("no such group: {index}")));
        }
        out.push(
            caps.get(index)
                .map_or(Value::from(()), |m| Value::from(m.as_str())),
        );
    }
    Ok(Value::from(out))
}

/// `regex_findall(regex, multiline=False, ignorecase=False)`.
fn regex_findall(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind(
        "regex_findall",
        &["regex", "multiline", "ignorecase"],
        &args,
        &kwargs,
    )?;
    let input = to_text(state, value)?;
    let (ignorecase, multiline) = regex_flags(&params);
    let regex = pyregex::compile(&py_str(params.required("regex")?), ignorecase, multiline)?;
    Ok(Value::from(regex.findall(&input)))
}

/// `regex_escape(re_type='python')`.
fn regex_escape(state: &State, value: &Value, kind: Option<String>) -> Result<String, Error> {
    let input = to_text(state, value)?;
    match kind.as_deref().unwrap_or("python") {
        "python" => Ok(pyregex::escape(&input)),
        "posix_basic" => Ok(input
            .chars()
            .flat_map(|c| {
                if "].[^$*\\".contains(c) {
                    vec!['\\', c]
                } else {
                    vec![c]
                }
            })
            .collect()),
        "posix_extended" => Err(failure("Regex type (posix_extended) not yet implemented")),
        other => Err(failure(format!("Invalid regex type ({other})"))),
    }
}

#[cfg(test)]
pub(crate) fn test_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    register(&mut env);
    env
}

/// Renders a template the way the tests state expectations: Python's `str()` of a lone
/// expression's result.
#[cfg(test)]
pub(crate) fn eval(source: &str) -> String {
    let env = test_env();
    let expression = env
        .compile_expression(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"));
    let value = expression
        .eval(minijinja::context! {})
        .unwrap_or_else(|e| panic!("{source}: {e:#}"));
    py_str(&value)
}

#[cfg(test)]
pub(crate) fn eval_error(source: &str) -> String {
    let env = test_env();
    match env
        .compile_expression(source)
        .and_then(|e| e.eval(minijinja::context! {}))
    {
        Ok(value) => panic!(
            "{source}: expected an error, got {}",
            python::py_repr(&value)
        ),
        Err(error) => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{eval, eval_error};

    #[test]
    fn default_handles_undefined_and_false_values() {
        assert_eq!(eval("missing | default('x')"), "x");
        assert_eq!(eval("missing | d"), "");
        assert_eq!(eval("'' | default('x')"), "");
        assert_eq!(eval("'' | default('x', true)"), "x");
        assert_eq!(eval("none | default('x', boolean=true)"), "x");
        assert_eq!(eval("missing | default(none)"), "None");
        assert_eq!(eval("0 | ansible.builtin.default(5)"), "0");
        assert!(eval_error("missing | mandatory").contains("Mandatory variable not defined."));
        assert!(eval_error("missing | mandatory('set x')").contains("set x"));
        assert_eq!(eval("1 | mandatory"), "1");
    }

    #[test]
    fn conversions_follow_python() {
        assert_eq!(eval("'yes' | bool"), "True");
        assert_eq!(eval("'On' | bool"), "True");
        assert_eq!(eval("'x' | bool"), "False");
        assert_eq!(eval("2 | bool"), "False");
        assert_eq!(eval("1 | bool"), "True");
        assert_eq!(eval("none | bool"), "False");
        assert_eq!(eval("' 12 ' | int"), "12");
        assert_eq!(eval("'1_000' | int"), "1000");
        assert_eq!(eval("'0x1A' | int(base=16)"), "26");
        assert_eq!(eval("'0x1A' | int(0, 16)"), "26");
        assert_eq!(eval("'3.7' | int"), "3");
        assert_eq!(eval("'abc' | int"), "0");
        assert_eq!(eval("'abc' | int(-1)"), "-1");
        assert_eq!(eval("none | int"), "0");
        assert_eq!(eval("true | int"), "1");
        assert_eq!(eval("'1e20' | float"), "1e+20");
        assert_eq!(eval("'x' | float"), "0.0");
        assert_eq!(eval("' 2.5 ' | float"), "2.5");
        assert_eq!(eval("1e20 | string"), "1e+20");
        assert_eq!(eval("[1, 'a', none] | string"), "[1, 'a', None]");
        assert_eq!(eval("3 | type_debug"), "int");
        assert_eq!(eval("none | type_debug"), "NoneType");
        assert_eq!(eval("{} | type_debug"), "dict");
        assert_eq!(eval("[] | type_debug"), "list");
        assert_eq!(eval("'' | type_debug"), "str");
        assert_eq!(eval("1.5 | type_debug"), "float");
        assert_eq!(eval("true | type_debug"), "bool");
        assert_eq!(eval("true | ternary('y', 'n')"), "y");
        assert_eq!(eval("none | ternary('y', 'n', 'z')"), "z");
        assert_eq!(eval("none | ternary('y', 'n')"), "n");
    }

    #[test]
    fn map_and_friends() {
        assert_eq!(
            eval("[{'a': {'b': 1}}, {'a': {'b': 2}}] | map(attribute='a.b') | list"),
            "[1, 2]"
        );
        assert_eq!(
            eval("[{'a': 1}, {}] | map(attribute='a', default=0) | list"),
            "[1, 0]"
        );
        assert_eq!(eval("['a', 'B'] | map('upper') | list"), "['A', 'B']");
        assert_eq!(
            eval("['aXb'] | map('regex_replace', 'x', '-', ignorecase=true) | list"),
            "['a-b']"
        );
        assert_eq!(eval("{'a': 1, 'b': 2} | last"), "b");
        assert_eq!(eval("[1, 2, 3] | last"), "3");
        assert_eq!(
            eval("[{'x': 1}, {'x': 2}] | selectattr('x', 'equalto', 2) | list"),
            "[{'x': 2}]"
        );
        assert_eq!(eval("['a', 'A', 'b'] | unique | list"), "['a', 'b']");
        assert_eq!(eval("'A' | ansible.builtin.lower"), "a");
        assert_eq!(eval("'aXbX' | replace('X', 'y', 1)"), "aybX");
        assert_eq!(eval("12 | replace(1, 3)"), "32");
    }

    #[test]
    fn json_and_yaml() {
        assert_eq!(eval("[1, 2] | to_json"), "[1, 2]");
        assert_eq!(
            eval("{'b': 1, 'a': 'é'} | to_json"),
            r#"{"b": 1, "a": "\u00e9"}"#
        );
        assert_eq!(
            eval("{'b': 1, 'a': 'é'} | to_json(ensure_ascii=false, sort_keys=true)"),
            r#"{"a": "é", "b": 1}"#
        );
        assert_eq!(
            eval("{'b': 1.0, 'a': [1, {'c': 2}]} | to_nice_json"),
            "{\n    \"a\": [\n        1,\n        {\n            \"c\": 2\n        }\n    ],\n    \"b\": 1.0\n}"
        );
        assert_eq!(
            eval("{'a': []} | to_nice_json(indent=2)"),
            "{\n  \"a\": []\n}"
        );
        assert_eq!(
            eval("'{\"a\": [1, 2.5, null]}' | from_json"),
            "{'a': [1, 2.5, None]}"
        );
        assert_eq!(
            eval("{'a': [1, 2], 'b': {'c': 'yes'}} | to_yaml"),
            "a: [1, 2]\nb: {c: 'yes'}\n"
        );
        assert_eq!(
            eval("{'b': 1, 'a': {'c': 'x'}} | to_nice_yaml"),
            "a:\n    c: x\nb: 1\n"
        );
        assert_eq!(
            eval("{'b': 1, 'a': {'c': 'x'}} | to_nice_yaml(indent=2)"),
            "a:\n  c: x\nb: 1\n"
        );
        assert_eq!(
            eval("{'b': 1, 'a': 2} | to_nice_yaml(sort_keys=false)"),
            "b: 1\na: 2\n"
        );
        assert_eq!(
            eval("'a: 1\nb: [x, yes]' | from_yaml"),
            "{'a': 1, 'b': ['x', True]}"
        );
        assert_eq!(eval("none | from_yaml"), "None");
        assert_eq!(
            eval("'a: 1\n---\nb: 2' | from_yaml_all | list"),
            "[{'a': 1}, {'b': 2}]"
        );
    }

    #[test]
    fn regex_filters() {
        assert_eq!(
            eval(r"'hello world' | regex_replace('(o)', '[\\1]')"),
            "hell[o] w[o]rld"
        );
        assert_eq!(
            eval(r"'hello world' | regex_replace('(?P<x>o)', '<\\g<x>>')"),
            "hell<o> w<o>rld"
        );
        assert_eq!(
            eval("'aXbX' | regex_replace('x', '-', ignorecase=true, count=1)"),
            "a-bX"
        );
        assert_eq!(
            eval("'a\nb' | regex_replace('^', '> ', multiline=true)"),
            "> a\n> b"
        );
        assert!(
            eval_error("'aa' | regex_replace('a', 'b', mandatory_count=1)")
                .contains("should match 1 times")
        );
        assert_eq!(
            eval(r"'ab12' | regex_search('([a-z]+)(\\d+)', '\\2', '\\1')"),
            "['12', 'ab']"
        );
        assert_eq!(
            eval(r"'ab12' | regex_search('(?P<x>[a-z]+)', '\\g<x>')"),
            "['ab']"
        );
        assert_eq!(eval("'xyz' | regex_search('a')"), "None");
        assert_eq!(eval("'foo\n' | regex_search('foo$')"), "foo");
        assert_eq!(
            eval(r"'ab12cd34' | regex_findall('[a-z](\\d)')"),
            "['1', '3']"
        );
        assert_eq!(
            eval(r"'ab12cd34' | regex_findall('([a-z])(\\d)')"),
            "[['b', '1'], ['d', '3']]"
        );
        assert_eq!(
            eval("'A1a2' | regex_findall('a\\\\d', ignorecase=true)"),
            "['A1', 'a2']"
        );
        assert_eq!(eval("'a.b*c d' | regex_escape"), r"a\.b\*c\ d");
        assert_eq!(eval("'a.b' | regex_escape('posix_basic')"), r"a\.b");
        assert!(eval_error("'a' | regex_search('(?=a)')").contains("look-around"));
    }

    #[test]
    fn random_and_shuffle_repeat_ansible_with_a_seed() {
        assert_eq!(eval("59 | random(seed='host1')"), "31");
        assert_eq!(eval("5 | random(seed=3)"), "1");
        assert_eq!(eval("100 | random(1, 10, seed='a')"), "41");
        assert_eq!(eval("['x', 'y', 'z'] | random(seed=42)"), "z");
        assert_eq!(eval("'abc' | random(seed='q')"), "b");
        assert_eq!(eval("[1, 2, 3, 4, 5] | shuffle(seed=1)"), "[3, 4, 5, 1, 2]");
        assert_eq!(
            eval("['a', 'b', 'c', 'd'] | shuffle(seed='x')"),
            "['a', 'b', 'd', 'c']"
        );
        let unseeded: i64 = eval("10 | random(start=5)").parse().unwrap();
        assert!((5..10).contains(&unseeded));
        assert_eq!(eval("[1, 2, 3] | shuffle | sort"), "[1, 2, 3]");
        assert!(eval_error("[] | random").contains("empty sequence"));
    }

    #[test]
    fn math_and_sizes() {
        assert_eq!(eval("8 | log(2)"), "3.0");
        assert_eq!(eval("100 | log(10)"), "2.0");
        assert_eq!(eval("2 | pow(3)"), "8.0");
        assert_eq!(eval("9 | root"), "3.0");
        assert_eq!(eval("27 | root(3)"), "3.0");
        assert_eq!(eval("1024 | human_readable"), "1.00 KB");
        assert_eq!(eval("10 | human_readable"), "10.00 Bytes");
        assert_eq!(eval("1048576 | human_readable(unit='K')"), "1024.00 KB");
        assert_eq!(eval("1024 | human_readable(isbits=true)"), "1.00 Kb");
        assert_eq!(eval("'1.5 KB' | human_to_bytes"), "1536");
        assert_eq!(eval("'2M' | human_to_bytes"), "2097152");
        assert_eq!(eval("'10' | human_to_bytes(default_unit='K')"), "10240");
        assert_eq!(eval("'1 Mb' | human_to_bytes(isbits=true)"), "1048576");
        assert!(eval_error("'1 MX' | human_to_bytes").contains("not a valid string"));
    }

    #[test]
    fn addresses() {
        assert_eq!(eval("'192.168.1.10/24' | ipaddr('network')"), "192.168.1.0");
        assert_eq!(
            eval("'192.168.1.10/24' | ansible.utils.ipaddr('netmask')"),
            "255.255.255.0"
        );
        assert_eq!(eval("'192.168.1.0/24' | ipaddr(10)"), "192.168.1.10/24");
        assert_eq!(eval("['10.0.0.1', '::1', 'x'] | ipv6"), "['::1']");
        assert_eq!(eval("'10.0.0.1' | ipv6"), "False");
        assert_eq!(eval("'::1' | ipwrap"), "[::1]");
        assert_eq!(eval("'10.0.0.1' | ipwrap"), "10.0.0.1");
        assert_eq!(
            eval("'192.168.1.5' | ansible.utils.ipmath(10)"),
            "192.168.1.15"
        );
        assert_eq!(eval("'10.0.0.0/8' | nthhost(305)"), "10.0.1.49");
        assert_eq!(
            eval("'192.168.0.0/24' | network_in_usable('192.168.0.1')"),
            "True"
        );
        assert_eq!(eval("'192.168.0.0/16' | ipsubnet(24)"), "256");
    }

    #[test]
    fn community_general_dicts() {
        assert_eq!(eval("1 | community.general.dict_kv('a')"), "{'a': 1}");
        assert_eq!(
            eval("[['a', 1], ['b', 2]] | community.general.dict"),
            "{'a': 1, 'b': 2}"
        );
    }
}
