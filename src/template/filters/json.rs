//! JSON the way Python's `json.dumps` writes it, and `json.loads` into template values.
//!
//! `to_json` output ends up in files that are compared byte for byte on the next run, so
//! the layout must be Python's: `, ` and `: ` between items, `\u00e9` for non-ASCII text,
//! floats as `repr()` prints them, and with `indent` a `,` at line ends.

use minijinja::value::ValueKind;
use minijinja::{Error, Value};

use super::python::{failure, float_repr, pairs};

/// The `json.dumps` keyword arguments the filters pass through.
pub(crate) struct JsonStyle {
    pub(crate) indent: Option<String>,
    pub(crate) item_separator: String,
    pub(crate) key_separator: String,
    pub(crate) sort_keys: bool,
    pub(crate) ensure_ascii: bool,
}

impl Default for JsonStyle {
    fn default() -> Self {
        JsonStyle {
            indent: None,
            item_separator: ", ".to_string(),
            key_separator: ": ".to_string(),
            sort_keys: false,
            ensure_ascii: true,
        }
    }
}

impl JsonStyle {
    /// Python's rule: with an indent the item separator loses its trailing space.
    pub(crate) fn with_indent(mut self, indent: Option<String>) -> Self {
        if indent.is_some() {
            self.item_separator = ",".to_string();
        }
        self.indent = indent;
        self
    }
}

/// Serialises a value as `json.dumps(value, **style)` would.
pub(crate) fn dumps(value: &Value, style: &JsonStyle) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value, style, 0)?;
    Ok(out)
}

fn newline(out: &mut String, style: &JsonStyle, depth: usize) {
    if let Some(indent) = &style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write_value(
    out: &mut String,
    value: &Value,
    style: &JsonStyle,
    depth: usize,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined => return Err(failure("cannot serialise an undefined value to JSON")),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&number(value)),
        ValueKind::String | ValueKind::Bytes => {
            write_string(out, &super::python::py_str(value), style.ensure_ascii)
        }
        ValueKind::Map => {
            let mut entries = pairs(value).unwrap_or_default();
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(&style.item_separator);
                }
                newline(out, style, depth + 1);
                write_string(out, &key_text(key)?, style.ensure_ascii);
                out.push_str(&style.key_separator);
                write_value(out, item, style, depth + 1)?;
            }
            newline(out, style, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let members: Vec<Value> = value.try_iter()?.collect();
            if members.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (index, item) in members.iter().enumerate() {
                if index > 0 {
                    out.push_str(&style.item_separator);
                }
                newline(out, style, depth + 1);
                write_value(out, item, style, depth + 1)?;
            }
            newline(out, style, depth);
            out.push(']');
        }
        _ => write_string(out, &value.to_string(), style.ensure_ascii),
    }
    Ok(())
}

fn number(value: &Value) -> String {
    if value.is_integer() {
        return value.to_string();
    }
    let number = f64::try_from(value.clone()).unwrap_or(f64::NAN);
    if number.is_nan() {
        "NaN".to_string()
    } else if number.is_infinite() {
        if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_string()
    } else {
        float_repr(number)
    }
}

/// Python turns non-string keys into text: `1` → `"1"`, `True` → `"true"`, `None` → `"null"`.
fn key_text(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::Number => Ok(number(key)),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::None => Ok("null".to_string()),
        _ => Err(failure(format!(
            "JSON keys must be str, int, float, bool or None, not {}",
            super::python::type_name(key)
        ))),
    }
}

fn write_string(out: &mut String, text: &str, ensure_ascii: bool) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            _ if (ch as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", ch as u32)),
            _ if ensure_ascii && !ch.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            _ => out.push(ch),
        }
    }
    out.push('"');
}

/// `json.loads`: parses JSON text into template values, keeping the key order.
pub(crate) fn loads(text: &str) -> Result<Value, Error> {
    let parsed: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| failure(format!("from_json: invalid JSON: {error}")))?;
    Ok(from_serde(parsed))
}

/// Converts parsed JSON into a template value.
pub(crate) fn from_serde(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(flag) => Value::from(flag),
        serde_json::Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Value::from(int)
            } else if let Some(int) = number.as_u64() {
                Value::from(int)
            } else {
                Value::from(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(text) => Value::from(text),
        serde_json::Value::Array(items) => {
            Value::from(items.into_iter().map(from_serde).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => Value::from_pairs(
            map.into_iter()
                .map(|(key, item)| (Value::from(key), from_serde(item))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        loads(r#"{"b": 1, "a": [1, {"c": 2.5}], "é": "ü\n", "n": null, "e": {}}"#).unwrap()
    }

    #[test]
    fn dumps_like_python_defaults() {
        assert_eq!(
            dumps(&data(), &JsonStyle::default()).unwrap(),
            r#"{"b": 1, "a": [1, {"c": 2.5}], "\u00e9": "\u00fc\n", "n": null, "e": {}}"#
        );
        let emoji = Value::from("\u{1F600}");
        assert_eq!(
            dumps(&emoji, &JsonStyle::default()).unwrap(),
            r#""\ud83d\ude00""#
        );
    }

    #[test]
    fn dumps_indented_and_sorted() {
        let style = JsonStyle {
            sort_keys: true,
            ..JsonStyle::default()
        }
        .with_indent(Some("    ".to_string()));
        let expected = "{\n    \"a\": [\n        1,\n        {\n            \"c\": 2.5\n        }\n    ],\n    \"b\": 1,\n    \"e\": {},\n    \"n\": null,\n    \"\\u00e9\": \"\\u00fc\\n\"\n}";
        assert_eq!(dumps(&data(), &style).unwrap(), expected);
    }
}
