//! Between JSON (module results) and template values.
//!
//! Strings that come back from hosts or from renders are marked safe: they are data, never
//! templates, so a registered stdout holding `{{` is not rendered again (as Ansible 2.19
//! treats untrusted values).

use minijinja::value::ValueKind;
use minijinja::Value;

pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from_safe_string(s.clone()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(from_json).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => Value::from_pairs(
            map.iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v))),
        ),
    }
}

pub fn to_json(value: &Value) -> serde_json::Value {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => serde_json::Value::Null,
        ValueKind::Bool => serde_json::Value::Bool(value.is_true()),
        ValueKind::Number => {
            let integer = value
                .is_integer()
                .then(|| i64::try_from(value.clone()).ok())
                .flatten();
            if let Some(i) = integer {
                serde_json::Value::from(i)
            } else {
                f64::try_from(value.clone())
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        ValueKind::String => {
            serde_json::Value::String(value.as_str().unwrap_or_default().to_string())
        }
        ValueKind::Seq | ValueKind::Iterable => serde_json::Value::Array(
            value
                .try_iter()
                .map(|items| items.map(|item| to_json(&item)).collect())
                .unwrap_or_default(),
        ),
        ValueKind::Map => serde_json::Value::Object(
            value
                .try_iter()
                .map(|keys| {
                    keys.map(|key| {
                        let item = value.get_item(&key).unwrap_or_default();
                        (key.to_string(), to_json(&item))
                    })
                    .collect()
                })
                .unwrap_or_default(),
        ),
        _ => serde_json::Value::String(value.to_string()),
    }
}

/// Any serialisable data as a template value (its strings marked as data).
pub fn serialize<T: serde::Serialize + ?Sized>(data: &T) -> Value {
    from_json(&serde_json::to_value(data).unwrap_or(serde_json::Value::Null))
}
