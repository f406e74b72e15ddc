//! Python's view of template values: `str()`, `repr()`, type names and argument binding.
//!
//! Ansible's filters are Python functions. They turn non-strings into text with `str()`,
//! print floats the way Python does (`1e+20`, not `100000000000000000000.0`) and accept
//! arguments by position or by keyword. The helpers here give the Rust filters the same
//! behaviour, so `{{ 1e20 | string }}` prints what Ansible prints.

use minijinja::value::{Kwargs, StringInput, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

/// An error raised by a filter or test, in the kind minijinja reports as a template error.
pub(crate) fn failure(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Fails with minijinja's own undefined error (it names the variable) when the engine is
/// strict about undefined values; lenient engines let the undefined value through.
pub(crate) fn ensure_defined(state: &State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        StringInput::new(state, value)?;
    }
    Ok(())
}

/// The text Python's `str()` gives for a value, after the undefined check.
pub(crate) fn to_text(state: &State, value: &Value) -> Result<String, Error> {
    ensure_defined(state, value)?;
    Ok(py_str(value))
}

/// The items of a list, tuple, string (its characters) or mapping (its keys).
pub(crate) fn items(state: &State, value: &Value) -> Result<Vec<Value>, Error> {
    ensure_defined(state, value)?;
    value.try_iter()?.checked().collect()
}

/// The key/value pairs of a mapping, in their order; `None` for anything else.
pub(crate) fn pairs(value: &Value) -> Option<Vec<(Value, Value)>> {
    if value.kind() != ValueKind::Map {
        return None;
    }
    Some(value.as_object()?.try_iter_pairs()?.collect())
}

/// Ansible's `is_sequence`: a list or tuple, never a string or a mapping.
pub(crate) fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Python's type name for a value, as `type_debug` prints it.
pub(crate) fn type_name(value: &Value) -> &'static str {
    if let Some(timestamp) = value.downcast_object_ref::<crate::template::Timestamp>() {
        return timestamp.python_type();
    }
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq if value.is_tuple() => "tuple",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        ValueKind::Iterable => "generator",
        _ => "object",
    }
}

/// Python's `repr()` of a float: the shortest text that reads back the same number,
/// switching to exponent form below 1e-4 and from 1e16 on.
pub(crate) fn float_repr(number: f64) -> String {
    if number.is_nan() {
        return "nan".to_string();
    }
    if number.is_infinite() {
        return if number > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if number == 0.0 {
        return if number.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_string();
    }
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("exponent formatting always has an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..16).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exponent.unsigned_abs()));
    } else if exponent >= 0 {
        let point = exponent as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exponent - 1) as usize));
        out.push_str(&digits);
    }
    out
}

/// Python's `str()`: strings as they are, everything else as `repr()`.
pub(crate) fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Bytes => String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into(),
        ValueKind::Undefined => String::new(),
        _ => py_repr(value),
    }
}

/// Python's `repr()`: quoted strings, `True`, `None`, `[1, 'a']`, `{'k': 1.5}`, `(1,)`.
pub(crate) fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::None => out.push_str("None"),
        ValueKind::Undefined => out.push_str("Undefined"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => match f64_of(value) {
            Some(number) if !value.is_integer() => out.push_str(&float_repr(number)),
            _ => out.push_str(&value.to_string()),
        },
        ValueKind::String => out.push_str(&repr_str(value.as_str().unwrap_or_default())),
        ValueKind::Map => {
            out.push('{');
            for (index, (key, item)) in pairs(value).unwrap_or_default().iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_repr(out, key);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = value.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let members: Vec<Value> = value.try_iter().map(Iterator::collect).unwrap_or_default();
            for (index, item) in members.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            if tuple && members.len() == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        _ => out.push_str(&value.to_string()),
    }
}

/// The number a numeric value holds, as a float.
pub(crate) fn f64_of(value: &Value) -> Option<f64> {
    if value.kind() == ValueKind::Number {
        f64::try_from(value.clone()).ok()
    } else {
        None
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds only single quotes.
pub(crate) fn repr_str(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ if ch == quote => {
                out.push('\\');
                out.push(ch);
            }
            _ if !is_printable(ch) => {
                let code = ch as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            _ => out.push(ch),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable()` for one character, for the characters templates meet:
/// controls, separators other than the space, and invisible format characters are not.
fn is_printable(ch: char) -> bool {
    !(ch.is_control()
        || matches!(ch,
            '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}' | '\u{3000}' | '\u{feff}'))
}

/// Binds positional and keyword arguments to parameter names, the way Python calls a
/// function: `regex_replace('a', 'b', ignorecase=true)` fills `pattern`, `replacement`
/// and `ignorecase`. Unknown keywords and surplus positional arguments are errors.
pub(crate) struct Params {
    filter: String,
    names: &'static [&'static str],
    values: Vec<Option<Value>>,
}

impl Params {
    pub(crate) fn bind(
        filter: &str,
        names: &'static [&'static str],
        positional: &[Value],
        kwargs: &Kwargs,
    ) -> Result<Params, Error> {
        if positional.len() > names.len() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!(
                    "`{filter}` takes at most {} arguments, {} given",
                    names.len(),
                    positional.len()
                ),
            ));
        }
        let mut values: Vec<Option<Value>> = vec![None; names.len()];
        for (slot, value) in values.iter_mut().zip(positional) {
            *slot = Some(value.clone());
        }
        for key in kwargs.args() {
            let Some(index) = names.iter().position(|name| *name == key) else {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("`{filter}` got an unexpected keyword argument `{key}`"),
                ));
            };
            if values[index].is_some() {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("`{filter}` got multiple values for argument `{key}`"),
                ));
            }
            values[index] = Some(kwargs.peek::<Value>(key)?);
        }
        Ok(Params {
            filter: filter.to_string(),
            names,
            values,
        })
    }

    fn slot(&self, name: &str) -> Option<&Value> {
        let index = self
            .names
            .iter()
            .position(|known| *known == name)
            .expect("parameter names are fixed by the filter");
        self.values[index].as_ref()
    }

    /// The argument as given, `None` when it was left out.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.slot(name)
    }

    /// The argument, or an error naming it when it is missing.
    pub(crate) fn required(&self, name: &str) -> Result<&Value, Error> {
        self.slot(name).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("`{}` needs the argument `{name}`", self.filter),
            )
        })
    }

    /// Python truthiness of the argument, `default` when it was left out.
    pub(crate) fn flag(&self, name: &str, default: bool) -> bool {
        self.slot(name).map_or(default, Value::is_true)
    }

    /// The argument as text (`str()` of it), `None` when left out or `None`.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.slot(name)
            .filter(|value| !value.is_none() && !value.is_undefined())
            .map(py_str)
    }

    /// The argument as an integer, `None` when left out or `None`.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, Error> {
        match self.slot(name) {
            None => Ok(None),
            Some(value) if value.is_none() => Ok(None),
            Some(value) => integer_of(value).map(Some).ok_or_else(|| {
                failure(format!(
                    "`{}`: `{name}` must be an integer, got {}",
                    self.filter,
                    py_repr(value)
                ))
            }),
        }
    }
}

/// An integer argument: ints, booleans and integral floats (`2.0`).
pub(crate) fn integer_of(value: &Value) -> Option<i64> {
    match value.kind() {
        ValueKind::Bool => Some(i64::from(value.is_true())),
        ValueKind::Number => value.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e20), "1e+20");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-1.5e-7), "-1.5e-07");
        assert_eq!(float_repr(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float_repr(123.456), "123.456");
        assert_eq!(float_repr(f64::INFINITY), "inf");
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(repr_str("a"), "'a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr_str("tab\there\u{1}"), "'tab\\there\\x01'");
        let nested =
            Value::from_pairs([("k", Value::from(vec![Value::from(1.5), Value::from(())]))]);
        assert_eq!(py_repr(&nested), "{'k': [1.5, None]}");
        let tuple = Value::from(minijinja::value::Tuple::from(vec![Value::from(1)]));
        assert_eq!(py_str(&tuple), "(1,)");
    }
}
