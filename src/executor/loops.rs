//! Loop items: `loop:` and the `with_*` forms.

use crate::diagnostic::{Diagnostic, Result};
use crate::source::Span;
use crate::template::{Scope, VarMap};
use minijinja::value::ValueKind;
use minijinja::Value;

/// The items a task loops over, after rendering.
pub fn items(kind: &str, raw: &Value, scope: &Scope, span: &Span) -> Result<Vec<Value>> {
    let templar = scope.templar().clone();
    let value = templar.render_deep(raw, scope, span)?;
    let as_list = |value: &Value| -> Result<Vec<Value>> {
        match value.kind() {
            ValueKind::Seq | ValueKind::Iterable => Ok(value
                .try_iter()
                .map_err(|e| Diagnostic::at(e.to_string(), span))?
                .collect()),
            ValueKind::None | ValueKind::Undefined => Ok(Vec::new()),
            _ => Err(Diagnostic::at(
                format!(
                    "invalid data passed to `{}`: it needs a list, got {}",
                    if kind == "loop" {
                        "loop".to_string()
                    } else {
                        format!("with_{kind}")
                    },
                    kind_name(value)
                ),
                span,
            )
            .with_help("give a list, or turn a mapping into one with `| dict2items`")),
        }
    };
    match kind {
        "loop" | "list" => as_list(&value),
        "items" | "flattened" => {
            let list = match value.kind() {
                ValueKind::String | ValueKind::Number | ValueKind::Bool => vec![value.clone()],
                _ => as_list(&value)?,
            };
            let mut flat = Vec::new();
            for item in list {
                if item.kind() == ValueKind::Seq {
                    let inner: Vec<Value> =
                        item.try_iter().map(|i| i.collect()).unwrap_or_default();
                    if kind == "flattened" {
                        flat.extend(flatten_all(inner));
                    } else {
                        flat.extend(inner);
                    }
                } else {
                    flat.push(item);
                }
            }
            Ok(flat)
        }
        "indexed_items" => Ok(as_list(&value)?
            .into_iter()
            .enumerate()
            .map(|(index, item)| Value::from(vec![Value::from(index), item]))
            .collect()),
        "dict" => {
            if value.kind() != ValueKind::Map {
                return Err(Diagnostic::at(
                    format!("with_dict expects a mapping, got {}", kind_name(&value)),
                    span,
                ));
            }
            let mut items = Vec::new();
            for key in value
                .try_iter()
                .map_err(|e| Diagnostic::at(e.to_string(), span))?
            {
                let item = value.get_item(&key).unwrap_or_default();
                items.push(Value::from_pairs([("key", key), ("value", item)]));
            }
            Ok(items)
        }
        "nested" | "cartesian" => {
            let lists: Vec<Vec<Value>> = as_list(&value)?
                .iter()
                .map(|list| match list.kind() {
                    ValueKind::Seq => list.try_iter().map(|i| i.collect()).unwrap_or_default(),
                    _ => vec![list.clone()],
                })
                .collect();
            let mut product: Vec<Vec<Value>> = vec![Vec::new()];
            for list in lists {
                let mut next = Vec::new();
                for prefix in &product {
                    for item in &list {
                        let mut combined = prefix.clone();
                        combined.push(item.clone());
                        next.push(combined);
                    }
                }
                product = next;
            }
            Ok(product.into_iter().map(Value::from).collect())
        }
        "together" => {
            let lists: Vec<Vec<Value>> = as_list(&value)?
                .iter()
                .map(|list| list.try_iter().map(|i| i.collect()).unwrap_or_default())
                .collect();
            let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..longest)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|list| list.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect())
        }
        "subelements" => {
            let parts = as_list(&value)?;
            let (Some(list), Some(key)) = (parts.first(), parts.get(1)) else {
                return Err(Diagnostic::at("with_subelements needs [list, 'key']", span));
            };
            let skip_missing = parts
                .get(2)
                .and_then(|flags| flags.get_attr("skip_missing").ok())
                .is_some_and(|v| v.is_true());
            let key = key.to_string();
            let mut items = Vec::new();
            for element in list
                .try_iter()
                .map_err(|e| Diagnostic::at(e.to_string(), span))?
            {
                let sub = element.get_attr(&key).unwrap_or_default();
                if sub.is_undefined() {
                    if skip_missing {
                        continue;
                    }
                    return Err(Diagnostic::at(
                        format!("with_subelements: an element has no key `{key}`"),
                        span,
                    ));
                }
                for child in sub
                    .try_iter()
                    .map_err(|e| Diagnostic::at(e.to_string(), span))?
                {
                    items.push(Value::from(vec![element.clone(), child]));
                }
            }
            Ok(items)
        }
        "random_choice" => {
            let list = as_list(&value)?;
            if list.is_empty() {
                return Ok(Vec::new());
            }
            let index = rand::random::<usize>() % list.len();
            Ok(vec![list[index].clone()])
        }
        // The rest are lookups: evaluate `query('<kind>', value)`.
        other => {
            let mut layer = VarMap::new();
            layer.insert("__rplay_terms".to_string(), value);
            let scoped = scope.with_layer(layer);
            let lookup = other;
            let result = templar
                .eval_expression(&format!("query('{lookup}', __rplay_terms)"), &scoped)
                .map_err(|error| {
                    scoped.take_error().unwrap_or_else(|| {
                        crate::template::template_error(&error, &format!("with_{other}"), span)
                    })
                })?;
            as_list(&result)
        }
    }
}

fn flatten_all(items: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        if item.kind() == ValueKind::Seq {
            out.extend(flatten_all(
                item.try_iter().map(|i| i.collect()).unwrap_or_default(),
            ));
        } else {
            out.push(item);
        }
    }
    out
}

fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::String => "a string",
        ValueKind::Map => "a mapping",
        ValueKind::Number => "a number",
        ValueKind::Bool => "a boolean",
        ValueKind::None => "null",
        _ => "something else",
    }
}
