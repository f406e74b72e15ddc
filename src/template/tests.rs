//! Ansible's Jinja tests on top of minijinja.
//!
//! Registered under their short names and as `ansible.builtin.X` (`ansible.utils.X` for
//! the address tests): the task-result tests (`failed`, `changed`, `skipped` and their
//! aliases) read a registered result, `version` compares like Ansible's `LooseVersion`,
//! `StrictVersion`, semantic or PEP 440 versions, `match`/`search`/`regex` use Python's
//! pattern syntax, and the type tests answer as Jinja does in Python (`'abc' is sequence`
//! is true, `none is iterable` is false).
//!
//! ```jinja
//! {% if result is failed and ansible_version.full is version('2.9', '>=') %}...{% endif %}
//! ```

use std::cmp::Ordering;

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};
use regex::Regex;

use super::filters::ipaddr::parse_network;
use super::filters::pyregex;
use super::filters::python::{
    ensure_defined, f64_of, failure, items, pairs, py_str, to_text, Params,
};

/// Adds Ansible's tests to `env`, replacing minijinja's where Python's Jinja differs.
pub fn register(env: &mut Environment<'static>) {
    use minijinja::tests as jinja;
    macro_rules! builtin {
        ($name:expr, $test:expr) => {{
            env.add_test($name, $test);
            env.add_test(concat!("ansible.builtin.", $name), $test);
        }};
    }
    builtin!("defined", jinja::is_defined);
    builtin!("undefined", jinja::is_undefined);
    builtin!("none", jinja::is_none);
    builtin!("boolean", jinja::is_boolean);
    builtin!("number", jinja::is_number);
    builtin!("integer", jinja::is_integer);
    builtin!("float", jinja::is_float);
    builtin!("string", jinja::is_string);
    builtin!("mapping", jinja::is_mapping);
    builtin!("odd", jinja::is_odd);
    builtin!("even", jinja::is_even);
    builtin!("divisibleby", jinja::is_divisibleby);
    builtin!("eq", jinja::is_eq);
    builtin!("equalto", jinja::is_eq);
    builtin!("ne", jinja::is_ne);
    builtin!("lt", jinja::is_lt);
    builtin!("lessthan", jinja::is_lt);
    builtin!("le", jinja::is_le);
    builtin!("gt", jinja::is_gt);
    builtin!("greaterthan", jinja::is_gt);
    builtin!("ge", jinja::is_ge);
    builtin!("in", jinja::is_in);
    builtin!("true", jinja::is_true);
    builtin!("false", jinja::is_false);
    builtin!("lower", jinja::is_lower);
    builtin!("upper", jinja::is_upper);
    builtin!("sameas", jinja::is_sameas);
    builtin!("sequence", is_sequence);
    builtin!("iterable", is_iterable);
    builtin!("contains", contains);
    builtin!("subset", |state: &State, a: &Value, b: &Value| is_subset(
        state, a, b
    ));
    builtin!("issubset", |state: &State, a: &Value, b: &Value| is_subset(
        state, a, b
    ));
    builtin!("superset", |state: &State, a: &Value, b: &Value| is_subset(
        state, b, a
    ));
    builtin!("issuperset", |state: &State, a: &Value, b: &Value| {
        is_subset(state, b, a)
    });
    builtin!("truthy", |state: &State,
                        value: &Value,
                        args: Rest<Value>,
                        kwargs: Kwargs| {
        truthy(state, value, &args, &kwargs)
    });
    builtin!("falsy", |state: &State,
                       value: &Value,
                       args: Rest<Value>,
                       kwargs: Kwargs| {
        truthy(state, value, &args, &kwargs).map(|t| !t)
    });
    builtin!("any", |state: &State, value: &Value| Ok::<_, Error>(
        items(state, value)?.iter().any(Value::is_true)
    ));
    builtin!("all", |state: &State, value: &Value| Ok::<_, Error>(
        items(state, value)?.iter().all(Value::is_true)
    ));
    builtin!("nan", |value: &Value| f64_of(value)
        .is_some_and(f64::is_nan));
    builtin!("isnan", |value: &Value| f64_of(value)
        .is_some_and(f64::is_nan));
    builtin!("abs", |state: &State, value: &Value| Ok::<_, Error>(
        to_text(state, value)?.starts_with('/')
    ));
    builtin!("is_abs", |state: &State, value: &Value| Ok::<_, Error>(
        to_text(state, value)?.starts_with('/')
    ));
    builtin!("match", |state: &State,
                       value: &Value,
                       args: Rest<Value>,
                       kwargs: Kwargs| {
        regex_test(state, value, &args, &kwargs, "match")
    });
    builtin!("search", |state: &State,
                        value: &Value,
                        args: Rest<Value>,
                        kwargs: Kwargs| {
        regex_test(state, value, &args, &kwargs, "search")
    });
    builtin!("regex", |state: &State,
                       value: &Value,
                       args: Rest<Value>,
                       kwargs: Kwargs| {
        regex_test(state, value, &args, &kwargs, "")
    });
    builtin!("version", version_test);
    builtin!("version_compare", version_test);
    builtin!("vault_encrypted", |value: &Value| {
        value
            .as_str()
            .is_some_and(|text| text.trim_start().starts_with("$ANSIBLE_VAULT;"))
    });
    for (name, check) in RESULT_TESTS {
        env.add_test(*name, *check);
        env.add_test(format!("ansible.builtin.{name}"), *check);
    }
    for name in [
        "ip",
        "ip_address",
        "ipv4",
        "ipv4_address",
        "ipv6",
        "ipv6_address",
    ] {
        let test = move |value: &Value| address_test(name, value);
        env.add_test(name, test);
        env.add_test(format!("ansible.utils.{name}"), test);
    }
    for (name, mode) in [
        ("in_network", 0),
        ("in_any_network", 1),
        ("in_one_network", 2),
    ] {
        let test = move |value: &Value, networks: &Value| in_network(value, networks, mode);
        env.add_test(name, test);
        env.add_test(format!("ansible.utils.{name}"), test);
    }
}

/// Jinja's `sequence`: anything with a length and indexing (strings and dicts too).
fn is_sequence(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Bytes
    )
}

/// Jinja's `iterable`: strings, lists, dicts and generators; not `None` or numbers.
fn is_iterable(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    )
}

/// Python's `value in container`.
pub(crate) fn python_in(item: &Value, container: &Value) -> Result<bool, Error> {
    match container.kind() {
        ValueKind::String => match item.as_str() {
            Some(needle) => Ok(container.as_str().unwrap_or_default().contains(needle)),
            None => Err(failure(format!(
                "'in <string>' requires string as left operand, not {}",
                super::filters::python::type_name(item)
            ))),
        },
        ValueKind::Map => Ok(pairs(container)
            .unwrap_or_default()
            .iter()
            .any(|(k, _)| k == item)),
        ValueKind::Seq | ValueKind::Iterable => {
            Ok(container.try_iter()?.any(|member| member == *item))
        }
        _ => Err(failure(format!(
            "argument of type '{}' is not iterable",
            super::filters::python::type_name(container)
        ))),
    }
}

/// `contains(value)`: `value in seq`, usable with `select`.
fn contains(state: &State, container: &Value, item: &Value) -> Result<bool, Error> {
    ensure_defined(state, container)?;
    python_in(item, container)
}

fn is_subset(state: &State, smaller: &Value, larger: &Value) -> Result<bool, Error> {
    let larger = items(state, larger)?;
    Ok(items(state, smaller)?
        .iter()
        .all(|item| larger.contains(item)))
}

/// `truthy(convert_bool=False)`: Python truthiness, optionally reading `'no'`, `'off'`,
/// `'0'` and friends as booleans first.
fn truthy(state: &State, value: &Value, args: &[Value], kwargs: &Kwargs) -> Result<bool, Error> {
    let params = Params::bind("truthy", &["convert_bool"], args, kwargs)?;
    ensure_defined(state, value)?;
    if params.flag("convert_bool", false) {
        let normalized = match value.kind() {
            ValueKind::String => value.as_str().unwrap_or_default().trim().to_lowercase(),
            ValueKind::Bool => return Ok(value.is_true()),
            ValueKind::Number => f64_of(value).map_or(String::new(), |n| {
                if n == 1.0 {
                    "1".to_string()
                } else if n == 0.0 {
                    "0".to_string()
                } else {
                    String::new()
                }
            }),
            _ => String::new(),
        };
        if ["y", "yes", "on", "1", "true", "t"].contains(&normalized.as_str()) {
            return Ok(true);
        }
        if ["n", "no", "off", "0", "false", "f"].contains(&normalized.as_str()) {
            return Ok(false);
        }
    }
    Ok(value.is_true())
}

/// `match`, `search` and `regex(pattern, ignorecase=False, multiline=False,
/// match_type='search')`.
fn regex_test(
    state: &State,
    value: &Value,
    args: &[Value],
    kwargs: &Kwargs,
    fixed: &str,
) -> Result<bool, Error> {
    let names: &'static [&'static str] = if fixed.is_empty() {
        &["pattern", "ignorecase", "multiline", "match_type"]
    } else {
        &["pattern", "ignorecase", "multiline"]
    };
    let params = Params::bind("regex", names, args, kwargs)?;
    let input = to_text(state, value)?;
    let pattern = params.text("pattern").unwrap_or_default();
    let ignorecase = params.flag("ignorecase", false);
    let multiline = params.flag("multiline", false);
    let kind = if fixed.is_empty() {
        params
            .text("match_type")
            .unwrap_or_else(|| "search".to_string())
    } else {
        fixed.to_string()
    };
    let regex = pyregex::compile(&pattern, ignorecase, multiline)?;
    match kind.as_str() {
        "match" => Ok(regex.match_start(&input).is_some()),
        "fullmatch" => {
            Ok(pyregex::whole_text_regex(&pattern, ignorecase, multiline)?.is_match(&input))
        }
        _ => Ok(regex.search(&input).is_some()),
    }
}

type ResultTest = fn(&State, &Value) -> Result<bool, Error>;

const RESULT_TESTS: &[(&str, ResultTest)] = &[
    ("failed", failed),
    ("failure", failed),
    ("succeeded", succeeded),
    ("success", succeeded),
    ("successful", succeeded),
    ("changed", changed),
    ("change", changed),
    ("skipped", skipped),
    ("skip", skipped),
    ("finished", finished),
    ("started", started),
    ("unreachable", unreachable),
    ("reachable", reachable),
    ("timedout", timedout),
];

/// The registered result as key/value pairs; the tests only accept a mapping.
fn result_of(state: &State, value: &Value, test: &str) -> Result<Vec<(Value, Value)>, Error> {
    ensure_defined(state, value)?;
    pairs(value).ok_or_else(|| failure(format!("The '{test}' test expects a dictionary")))
}

fn field(result: &[(Value, Value)], key: &str) -> Option<Value> {
    result
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v.clone())
}

/// The per-item results of a loop, when the result has them.
fn loop_results(result: &[(Value, Value)]) -> Vec<Vec<(Value, Value)>> {
    field(result, "results")
        .filter(|r| r.kind() == ValueKind::Seq)
        .map(|r| {
            r.try_iter()
                .map(|it| it.filter_map(|item| pairs(&item)).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// `failed`: the result's `failed` flag; a loop result without one failed when an item did.
fn failed(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "failed")?;
    Ok(match field(&result, "failed") {
        Some(flag) => flag.is_true(),
        None => loop_results(&result)
            .iter()
            .any(|item| field(item, "failed").is_some_and(|f| f.is_true())),
    })
}

fn succeeded(state: &State, value: &Value) -> Result<bool, Error> {
    failed(state, value).map(|failed| !failed)
}

/// `changed`: the `changed` flag, or for a loop result without one, any item's.
fn changed(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "changed")?;
    Ok(match field(&result, "changed") {
        Some(flag) => flag.is_true(),
        None => loop_results(&result)
            .iter()
            .any(|item| field(item, "changed").is_some_and(|f| f.is_true())),
    })
}

/// `skipped`: the `skipped` flag; a loop result without one is skipped when every item was.
fn skipped(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "skipped")?;
    Ok(match field(&result, "skipped") {
        Some(flag) => flag.is_true(),
        None => {
            let items = loop_results(&result);
            !items.is_empty()
                && items
                    .iter()
                    .all(|item| field(item, "skipped").is_some_and(|f| f.is_true()))
        }
    })
}

/// `finished` and `started` (async results); a result without the flag counts as true.
fn finished(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "finished")?;
    Ok(field(&result, "finished").is_none_or(|f| f.is_true()))
}

fn started(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "started")?;
    Ok(field(&result, "started").is_none_or(|f| f.is_true()))
}

fn unreachable(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "unreachable")?;
    Ok(field(&result, "unreachable").is_some_and(|f| f.is_true()))
}

fn reachable(state: &State, value: &Value) -> Result<bool, Error> {
    unreachable(state, value).map(|u| !u)
}

fn timedout(state: &State, value: &Value) -> Result<bool, Error> {
    let result = result_of(state, value, "timedout")?;
    Ok(field(&result, "timedout")
        .filter(Value::is_true)
        .is_some_and(|t| t.get_attr("period").is_ok_and(|p| p.is_true())))
}

fn address_test(name: &str, value: &Value) -> bool {
    let text = py_str(value);
    if parse_network(&text).is_none() {
        return false;
    }
    let is_v6 = text.contains(':');
    let plain_address = !text.contains('/');
    match name {
        "ip" => true,
        "ipv4" => !is_v6,
        "ipv6" => is_v6,
        "ip_address" => plain_address,
        "ipv4_address" => plain_address && !is_v6,
        _ => plain_address && is_v6,
    }
}

/// `in_network` (mode 0), `in_any_network` (1), `in_one_network` (2, exactly one).
fn in_network(value: &Value, networks: &Value, mode: u8) -> Result<bool, Error> {
    let Some(address) = parse_network(&py_str(value)) else {
        return Ok(false);
    };
    let candidates: Vec<Value> = if networks.kind() == ValueKind::String || mode == 0 {
        vec![networks.clone()]
    } else {
        networks.try_iter()?.collect()
    };
    let hits = candidates
        .iter()
        .filter_map(|n| parse_network(&py_str(n)))
        .filter(|network| network.contains(&address))
        .count();
    Ok(if mode == 2 { hits == 1 } else { hits > 0 })
}

/// `version(other, operator='eq', strict=None, version_type=None)`.
fn version_test(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let params = Params::bind(
        "version",
        &["version", "operator", "strict", "version_type"],
        &args,
        &kwargs,
    )?;
    ensure_defined(state, value)?;
    let other = params.required("version")?;
    let strict = params.get("strict").filter(|v| !v.is_none());
    let kind = params.text("version_type");
    if strict.is_some() && kind.is_some() {
        return Err(failure("Cannot specify both 'strict' and 'version_type'"));
    }
    if !value.is_true() {
        return Err(failure("Input version value cannot be empty"));
    }
    if !other.is_true() {
        return Err(failure(
            "Version parameter to compare against cannot be empty",
        ));
    }
    let operator = params.text("operator").unwrap_or_else(|| "eq".to_string());
    let operator = match operator.as_str() {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        _ => {
            return Err(failure(format!(
                "Invalid operator type ({operator}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )))
        }
    };
    let kind = if strict.is_some_and(Value::is_true) {
        "strict".to_string()
    } else {
        kind.unwrap_or_else(|| "loose".to_string())
    };
    let (left, right) = (py_str(value), py_str(other));
    let ordering = compare_versions(&left, &right, &kind)
        .map_err(|e| failure(format!("Version comparison failed: {e}")))?;
    Ok(match operator {
        "eq" => ordering == Ordering::Equal,
        "ne" => ordering != Ordering::Equal,
        "lt" => ordering == Ordering::Less,
        "le" => ordering != Ordering::Greater,
        "gt" => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

/// Compares two versions by the named scheme.
pub(crate) fn compare_versions(left: &str, right: &str, kind: &str) -> Result<Ordering, String> {
    match kind {
        "loose" => loose_compare(&loose_parts(left), &loose_parts(right)),
        "strict" => Ok(strict_key(left)?.cmp(&strict_key(right)?)),
        "semver" | "semantic" => Ok(semver_key(left)?.cmp(&semver_key(right)?)),
        "pep440" => Ok(pep440_key(left)?.cmp(&pep440_key(right)?)),
        _ => Err(format!(
            "Invalid version type ({kind}). Must be one of 'loose', 'strict', 'semver', 'semantic', 'pep440'"
        )),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Number(u128),
    Text(String),
}

/// `LooseVersion`: runs of digits, runs of lowercase letters, and whatever lies between
/// them (dots dropped).
fn loose_parts(version: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut other = String::new();
    let chars: Vec<char> = version.chars().collect();
    let mut index = 0;
    let flush = |other: &mut String, parts: &mut Vec<Part>| {
        if !other.is_empty() {
            parts.push(Part::Text(std::mem::take(other)));
        }
    };
    while index < chars.len() {
        let ch = chars[index];
        let run = |pred: fn(&char) -> bool| {
            chars[index..]
                .iter()
                .take_while(|c| pred(c))
                .collect::<String>()
        };
        if ch.is_ascii_digit() {
            flush(&mut other, &mut parts);
            let digits = run(char::is_ascii_digit);
            index += digits.len();
            parts.push(
                digits
                    .parse()
                    .map(Part::Number)
                    .unwrap_or(Part::Text(digits)),
            );
        } else if ch.is_ascii_lowercase() {
            flush(&mut other, &mut parts);
            let letters = run(char::is_ascii_lowercase);
            index += letters.len();
            parts.push(Part::Text(letters));
        } else if ch == '.' {
            flush(&mut other, &mut parts);
            index += 1;
        } else {
            other.push(ch);
            index += 1;
        }
    }
    flush(&mut other, &mut parts);
    parts
}

/// Python's list comparison, which fails when a number meets text at the first difference.
fn loose_compare(left: &[Part], right: &[Part]) -> Result<Ordering, String> {
    for (a, b) in left.iter().zip(right) {
        match (a, b) {
            (Part::Number(x), Part::Number(y)) if x != y => return Ok(x.cmp(y)),
            (Part::Text(x), Part::Text(y)) if x != y => return Ok(x.cmp(y)),
            (Part::Number(_), Part::Text(_)) => {
                return Err("'<' not supported between instances of 'int' and 'str'".into())
            }
            (Part::Text(_), Part::Number(_)) => {
                return Err("'<' not supported between instances of 'str' and 'int'".into())
            }
            _ => {}
        }
    }
    Ok(left.len().cmp(&right.len()))
}

/// `StrictVersion`: `1.2`, `1.2.3`, optionally `a1` or `b2`; a pre-release sorts first.
fn strict_key(version: &str) -> Result<((u128, u128, u128), (u8, char, u128)), String> {
    let invalid = || format!("invalid version number '{version}'");
    let (release, pre) = match version.find(['a', 'b']) {
        Some(at) => (&version[..at], Some(&version[at..])),
        None => (version, None),
    };
    let numbers: Vec<&str> = release.split('.').collect();
    if !(2..=3).contains(&numbers.len())
        || numbers
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid());
    }
    let parse = |n: &str| n.parse::<u128>().map_err(|_| invalid());
    let patch = numbers.get(2).map_or(Ok(0), |n| parse(n))?;
    let core = (parse(numbers[0])?, parse(numbers[1])?, patch);
    let pre = match pre {
        None => (1, ' ', 0),
        Some(pre) => {
            let digits = &pre[1..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            (0, pre.chars().next().unwrap_or('a'), parse(digits)?)
        }
    };
    Ok((core, pre))
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Identifier {
    Number(u128),
    Text(String),
}

/// Semantic versioning 2.0: build metadata is ignored, a pre-release sorts first.
fn semver_key(version: &str) -> Result<((u128, u128, u128), (u8, Vec<Identifier>)), String> {
    let invalid = || format!("invalid semantic version '{version}'");
    let core_end = version.find(['-', '+']).unwrap_or(version.len());
    let numbers: Vec<&str> = version[..core_end].split('.').collect();
    let number = |n: &str| -> Result<u128, String> {
        if n.is_empty()
            || !n.bytes().all(|b| b.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return Err(invalid());
        }
        n.parse().map_err(|_| invalid())
    };
    if numbers.len() != 3 {
        return Err(invalid());
    }
    let core = (
        number(numbers[0])?,
        number(numbers[1])?,
        number(numbers[2])?,
    );
    let rest = &version[core_end..];
    let (pre, build) = match rest.strip_prefix('-') {
        Some(after) => match after.split_once('+') {
            Some((pre, build)) => (Some(pre), Some(build)),
            None => (Some(after), None),
        },
        None => (None, rest.strip_prefix('+')),
    };
    let valid_part =
        |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if build.is_some_and(|b| !b.split('.').all(valid_part))
        || (rest.starts_with('+') && build.is_none())
    {
        return Err(invalid());
    }
    let pre = match pre {
        None => (1, Vec::new()),
        Some(pre) => {
            let mut identifiers = Vec::new();
            for part in pre.split('.') {
                if !valid_part(part) {
                    return Err(invalid());
                }
                if part.bytes().all(|b| b.is_ascii_digit()) {
                    identifiers.push(Identifier::Number(number(part)?));
                } else {
                    identifiers.push(Identifier::Text(part.to_string()));
                }
            }
            (0, identifiers)
        }
    };
    Ok((core, pre))
}

/// A PEP 440 sort key: epoch, release without trailing zeros, pre, post, dev, local.
type Pep440Key = (
    u128,
    Vec<u128>,
    (i8, u8, u128),
    (i8, u128),
    (i8, u128),
    Vec<Identifier>,
);

fn pep440_key(version: &str) -> Result<Pep440Key, String> {
    let invalid = || format!("Invalid version: '{version}'");
    static PATTERN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        Regex::new(
            r"(?ix)^\s*v?(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)
          (?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
          (?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
          (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
          (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$",
        )
        .expect("the PEP 440 pattern is valid")
    });
    let caps = pattern.captures(version).ok_or_else(invalid)?;
    let number = |name: &str| {
        caps.name(name)
            .map_or(Ok(0), |m| m.as_str().parse::<u128>().map_err(|_| invalid()))
    };
    let mut release: Vec<u128> = caps["release"]
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let has_pre = caps.name("pre_l").is_some();
    let has_post = caps.name("post_l").is_some() || caps.name("post_n1").is_some();
    let has_dev = caps.name("dev_l").is_some();
    let pre = if has_pre {
        let letter = match caps["pre_l"].to_lowercase().as_str() {
            "a" | "alpha" => 0,
            "b" | "beta" => 1,
            _ => 2,
        };
        (0, letter, number("pre_n")?)
    } else if !has_post && has_dev {
        (-1, 0, 0)
    } else {
        (1, 0, 0)
    };
    let post = if has_post {
        let value = if caps.name("post_n1").is_some() {
            number("post_n1")?
        } else {
            number("post_n2")?
        };
        (0, value)
    } else {
        (-1, 0)
    };
    let dev = if has_dev {
        (0, number("dev_n")?)
    } else {
        (1, 0)
    };
    let local = caps.name("local").map_or(Vec::new(), |local| {
        local
            .as_str()
            .split(['-', '_', '.'])
            .map(|part| match part.parse::<u128>() {
                Ok(n) => Identifier::Text(format!("\u{10ffff}{n:040}")),
                Err(_) => Identifier::Text(part.to_lowercase()),
            })
            .collect()
    });
    Ok((number("epoch")?, release, pre, post, dev, local))
}

#[cfg(test)]
mod checks {
    use super::super::filters::python::py_str;
    use super::*;

    fn eval(source: &str) -> String {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        super::super::filters::register(&mut env);
        register(&mut env);
        let ctx = minijinja::context! {
            ok => minijinja::context! { changed => false, failed => false },
            bad => minijinja::context! { failed => true, msg => "boom" },
            looped => minijinja::context! { results => vec![
                minijinja::context! { changed => true, skipped => true },
                minijinja::context! { changed => false, skipped => true },
            ] },
            partly => minijinja::context! { results => vec![
                minijinja::context! { failed => true },
                minijinja::context! { skipped => true },
            ] },
        };
        let expression = env
            .compile_expression(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        match expression.eval(ctx) {
            Ok(value) => py_str(&value),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn result_tests() {
        assert_eq!(eval("ok is succeeded"), "True");
        assert_eq!(eval("ok is changed"), "False");
        assert_eq!(eval("bad is failed"), "True");
        assert_eq!(eval("bad is ansible.builtin.failure"), "True");
        assert_eq!(eval("looped is changed"), "True");
        assert_eq!(eval("looped is skipped"), "True");
        assert_eq!(eval("partly is failed"), "True");
        assert_eq!(eval("partly is skipped"), "False");
        assert_eq!(eval("ok is finished"), "True");
        assert_eq!(eval("ok is reachable"), "True");
        assert!(eval("'x' is failed").contains("expects a dictionary"));
        assert_eq!(
            eval("[ok, bad] | selectattr('failed') | list | length"),
            "1"
        );
        assert_eq!(eval("[ok, bad] | select('failed') | list | length"), "1");
    }

    #[test]
    fn type_tests_answer_like_jinja() {
        assert_eq!(eval("'abc' is sequence"), "True");
        assert_eq!(eval("{} is sequence"), "True");
        assert_eq!(eval("1 is sequence"), "False");
        assert_eq!(eval("none is iterable"), "False");
        assert_eq!(eval("'a' is iterable"), "True");
        assert_eq!(eval("missing is defined"), "False");
        assert_eq!(eval("missing is undefined"), "True");
        assert_eq!(eval("none is none"), "True");
        assert_eq!(eval("true is number"), "True");
        assert_eq!(eval("true is integer"), "False");
        assert_eq!(eval("1.0 is float"), "True");
        assert_eq!(eval("true is boolean"), "True");
        assert_eq!(eval("{} is mapping"), "True");
        assert_eq!(eval("'a' is ansible.builtin.string"), "True");
        assert_eq!(eval("2 is in [1, 2]"), "True");
        assert_eq!(eval("[1, 2] is contains 2"), "True");
        assert_eq!(eval("'abc' is contains 'b'"), "True");
        assert_eq!(eval("[1, 2] is subset([1, 2, 3])"), "True");
        assert_eq!(eval("[1, 2, 3] is superset([2])"), "True");
        assert_eq!(eval("'no' is truthy"), "True");
        assert_eq!(eval("'no' is truthy(convert_bool=true)"), "False");
        assert_eq!(eval("'' is falsy"), "True");
        assert_eq!(eval("[0, 1] is any"), "True");
        assert_eq!(eval("[0, 1] is all"), "False");
        assert_eq!(eval("'/etc' is abs"), "True");
        assert_eq!(eval("'etc' is abs"), "False");
        assert_eq!(eval("('nan' | float) is nan"), "True");
    }

    #[test]
    fn regex_tests() {
        assert_eq!(eval("'foobar' is match('foo')"), "True");
        assert_eq!(eval("'foobar' is match('bar')"), "False");
        assert_eq!(eval("'foobar' is search('bar')"), "True");
        assert_eq!(eval("'FOO' is search('foo', ignorecase=true)"), "True");
        assert_eq!(eval("'a\nfoo' is match('^foo', multiline=true)"), "False");
        assert_eq!(eval("'a\nfoo' is search('^foo', multiline=true)"), "True");
        assert_eq!(eval("'foo' is regex('o+$')"), "True");
        assert_eq!(
            eval("'foo' is regex('fo', match_type='fullmatch')"),
            "False"
        );
        assert_eq!(
            eval("'foo' is regex('fo+', match_type='fullmatch')"),
            "True"
        );
        assert_eq!(eval("['ab', 'cd'] | select('match', 'c') | list"), "['cd']");
    }

    #[test]
    fn versions() {
        assert_eq!(eval("'2.10.1' is version('2.9', '>=')"), "True");
        assert_eq!(eval("'2.10' is version('2.9', 'lt')"), "False");
        assert_eq!(eval("'1.0' is version('1.0', '==')"), "True");
        assert_eq!(eval("'1.0-RC1' is version('1.0-RC2', '<')"), "True");
        assert_eq!(
            eval("'1.2.3' is version_compare('1.2.3', operator='ne')"),
            "False"
        );
        assert!(eval("'1.0a' is version('1.0.1', '<')").contains("Version comparison failed"));
        assert_eq!(eval("'1.0a1' is version('1.0', '<', strict=true)"), "True");
        assert!(eval("'1.2.3.4' is version('1.0', strict=true)").contains("invalid version number"));
        assert_eq!(
            eval("'1.0.0-alpha' is version('1.0.0', '<', version_type='semver')"),
            "True"
        );
        assert_eq!(
            eval("'1.0.0-alpha.1' is version('1.0.0-alpha.beta', '<', version_type='semver')"),
            "True"
        );
        assert_eq!(
            eval("'1.0.0+build' is version('1.0.0', '==', version_type='semantic')"),
            "True"
        );
        assert_eq!(
            eval("'1.0rc1' is version('1.0', '<', version_type='pep440')"),
            "True"
        );
        assert_eq!(
            eval("'1.0.post1' is version('1.0', '>', version_type='pep440')"),
            "True"
        );
        assert_eq!(
            eval("'1.0.dev1' is version('1.0a1', '<', version_type='pep440')"),
            "True"
        );
        assert_eq!(
            eval("'1.0' is version('1.0.0', '==', version_type='pep440')"),
            "True"
        );
        assert!(eval("'' is version('1.0')").contains("cannot be empty"));
        assert!(eval("'1' is version('1', '~')").contains("Invalid operator"));
    }

    #[test]
    fn address_tests() {
        assert_eq!(eval("'10.0.0.1' is ansible.utils.ipv4_address"), "True");
        assert_eq!(eval("'10.0.0.0/8' is ip_address"), "False");
        assert_eq!(eval("'::1' is ipv6"), "True");
        assert_eq!(eval("'10.1.2.3' is in_network('10.0.0.0/8')"), "True");
        assert_eq!(
            eval("'10.1.2.3' is in_any_network(['192.168.0.0/16', '10.0.0.0/8'])"),
            "True"
        );
        assert_eq!(
            eval("'10.1.2.3' is ansible.utils.in_one_network(['10.0.0.0/8', '10.1.0.0/16'])"),
            "False"
        );
    }
}
