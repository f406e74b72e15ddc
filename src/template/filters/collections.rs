//! Ansible's filters on lists and dicts: `combine`, `flatten`, `dict2items`, the set
//! operations, `zip`, `product` and the other `itertools` wrappers, `subelements`,
//! `extract` and `rekey_on_member`.
//!
//! Python returns sets in hash order, which for strings changes from run to run; the set
//! filters here keep the order in which items first appear instead, so a rendered file
//! does not change between runs. Tuples come back as lists, as in ansible-core 2.19.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, State, Value};

use super::python::{
    ensure_defined, failure, is_list, items, pairs, py_repr, py_str, type_name, Params,
};

fn list(values: Vec<Value>) -> Value {
    Value::from(values)
}

/// `flatten(levels=None, skip_nulls=True)`: `None`, `'None'` and `'null'` items vanish.
pub(crate) fn flatten(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("flatten", &["levels", "skip_nulls"], &args, &kwargs)?;
    let levels = params.integer("levels")?;
    let skip_nulls = params.flag("skip_nulls", true);
    Ok(list(flatten_items(
        &items(state, value)?,
        levels,
        skip_nulls,
    )?))
}

fn flatten_items(
    values: &[Value],
    levels: Option<i64>,
    skip_nulls: bool,
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for element in values {
        if skip_nulls
            && (element.is_none() || matches!(element.as_str(), Some("None") | Some("null")))
        {
            continue;
        }
        if is_list(element) && levels.is_none_or(|levels| levels >= 1) {
            let inner: Vec<Value> = element.try_iter()?.collect();
            out.extend(flatten_items(&inner, levels.map(|l| l - 1), skip_nulls)?);
        } else {
            out.push(element.clone());
        }
    }
    Ok(out)
}

/// `combine(*dicts, recursive=False, list_merge='replace')`: later dicts win.
pub(crate) fn combine(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let recursive = kwargs
        .get::<Option<Value>>("recursive")?
        .is_some_and(|v| v.is_true());
    let list_merge = kwargs
        .get::<Option<Value>>("list_merge")?
        .map_or_else(|| "replace".to_string(), |v| py_str(&v));
    if kwargs
        .args()
        .any(|key| key != "recursive" && key != "list_merge")
    {
        return Err(failure(
            "'recursive' and 'list_merge' are the only valid keyword arguments",
        ));
    }
    if ![
        "replace",
        "keep",
        "append",
        "prepend",
        "append_rp",
        "prepend_rp",
    ]
    .contains(&list_merge.as_str())
    {
        return Err(failure(format!(
            "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', \
             'append_rp' or 'prepend_rp'; got {}",
            py_repr(&Value::from(list_merge))
        )));
    }
    ensure_defined(state, value)?;
    let mut terms = vec![value.clone()];
    terms.extend(args.0);
    let dicts = flatten_items(&terms, Some(1), true)?;
    let Some((last, rest)) = dicts.split_last() else {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    };
    let mut result = mapping(state, last)?;
    for dict in rest.iter().rev() {
        result = merge_hash(&mapping(state, dict)?, &result, recursive, &list_merge)?;
    }
    Ok(Value::from_pairs(result))
}

fn mapping(state: &State, value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    ensure_defined(state, value)?;
    pairs(value).ok_or_else(|| {
        failure(format!(
            "failed to combine variables, expected dicts but got a '{}'",
            type_name(value)
        ))
    })
}

/// Ansible's `merge_hash(x, y)`: `y` wins; nested dicts merge when `recursive`.
pub(crate) fn merge_hash(
    x: &[(Value, Value)],
    y: &[(Value, Value)],
    recursive: bool,
    list_merge: &str,
) -> Result<Vec<(Value, Value)>, Error> {
    if x.is_empty() || x == y {
        return Ok(y.to_vec());
    }
    let mut merged = x.to_vec();
    for (key, y_value) in y {
        let Some(slot) = merged.iter_mut().find(|(k, _)| k == key) else {
            merged.push((key.clone(), y_value.clone()));
            continue;
        };
        let x_value = &slot.1;
        let new_value = match (pairs(x_value), pairs(y_value)) {
            (Some(x_map), Some(y_map)) => {
                if recursive {
                    Value::from_pairs(merge_hash(&x_map, &y_map, recursive, list_merge)?)
                } else {
                    y_value.clone()
                }
            }
            _ if x_value.kind() == ValueKind::Seq && y_value.kind() == ValueKind::Seq => {
                let old: Vec<Value> = x_value.try_iter()?.collect();
                let new: Vec<Value> = y_value.try_iter()?.collect();
                let kept = || old.iter().filter(|item| !new.contains(item)).cloned();
                match list_merge {
                    "append" => list(old.iter().chain(&new).cloned().collect()),
                    "prepend" => list(new.iter().chain(&old).cloned().collect()),
                    "append_rp" => list(kept().chain(new.iter().cloned()).collect()),
                    "prepend_rp" => list(new.iter().cloned().chain(kept()).collect()),
                    "keep" => x_value.clone(),
                    _ => y_value.clone(),
                }
            }
            _ => y_value.clone(),
        };
        slot.1 = new_value;
    }
    Ok(merged)
}

/// `dict2items(key_name='key', value_name='value')`.
pub(crate) fn dict2items(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("dict2items", &["key_name", "value_name"], &args, &kwargs)?;
    let key_name = params.text("key_name").unwrap_or_else(|| "key".to_string());
    let value_name = params
        .text("value_name")
        .unwrap_or_else(|| "value".to_string());
    ensure_defined(state, value)?;
    let entries = pairs(value).ok_or_else(|| {
        failure(format!(
            "dict2items requires a dictionary, got <class '{}'> instead.",
            type_name(value)
        ))
    })?;
    Ok(list(
        entries
            .into_iter()
            .map(|(key, item)| {
                Value::from_pairs([
                    (Value::from(key_name.as_str()), key),
                    (Value::from(value_name.as_str()), item),
                ])
            })
            .collect(),
    ))
}

/// `items2dict(key_name='key', value_name='value')`.
pub(crate) fn items2dict(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("items2dict", &["key_name", "value_name"], &args, &kwargs)?;
    let key_name = Value::from(params.text("key_name").unwrap_or_else(|| "key".to_string()));
    let value_name = Value::from(
        params
            .text("value_name")
            .unwrap_or_else(|| "value".to_string()),
    );
    ensure_defined(state, value)?;
    if !is_list(value) {
        return Err(failure(format!(
            "items2dict requires a list, got <class '{}'> instead.",
            type_name(value)
        )));
    }
    let mut out: Vec<(Value, Value)> = Vec::new();
    for item in value.try_iter()? {
        if item.kind() != ValueKind::Map {
            return Err(failure(format!(
                "items2dict requires a list of dictionaries, got {} instead.",
                py_repr(value)
            )));
        }
        let key = item.get_item(&key_name)?;
        let entry = item.get_item(&value_name)?;
        if key.is_undefined() || entry.is_undefined() {
            return Err(failure(format!(
                "items2dict requires each dictionary in the list to contain the keys '{}' and '{}', got {} instead.",
                py_str(&key_name),
                py_str(&value_name),
                py_repr(value)
            )));
        }
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = entry,
            None => out.push((key, entry)),
        }
    }
    Ok(Value::from_pairs(out))
}

fn unique(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// The set filters: `intersect`, `difference`, `symmetric_difference`, `union`.
pub(crate) fn set_operation(
    state: &State,
    name: &str,
    a: &Value,
    b: &Value,
) -> Result<Value, Error> {
    let a = items(state, a)?;
    let b = items(state, b)?;
    let result = match name {
        "intersect" => unique(a.iter().filter(|x| b.contains(x)).cloned()),
        "difference" => unique(a.iter().filter(|x| !b.contains(x)).cloned()),
        "union" => unique(a.iter().chain(&b).cloned()),
        _ => {
            let common: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
            unique(a.iter().chain(&b).filter(|x| !common.contains(x)).cloned())
        }
    };
    Ok(list(result))
}

/// `zip(*others)` and `zip_longest(*others, fillvalue=None)`.
pub(crate) fn zip(
    state: &State,
    value: &Value,
    others: Rest<Value>,
    kwargs: Kwargs,
    longest: bool,
) -> Result<Value, Error> {
    let fill = if longest {
        kwargs
            .get::<Option<Value>>("fillvalue")?
            .unwrap_or(Value::from(()))
    } else {
        Value::from(())
    };
    kwargs.assert_all_used()?;
    let mut columns = vec![items(state, value)?];
    for other in others.iter() {
        columns.push(items(state, other)?);
    }
    let lengths = columns.iter().map(Vec::len);
    let rows = if longest {
        lengths.max().unwrap_or(0)
    } else {
        lengths.min().unwrap_or(0)
    };
    Ok(list(
        (0..rows)
            .map(|row| {
                list(
                    columns
                        .iter()
                        .map(|column| column.get(row).cloned().unwrap_or_else(|| fill.clone()))
                        .collect(),
                )
            })
            .collect(),
    ))
}

/// `product(*others, repeat=1)`: the cartesian product, first list varying slowest.
pub(crate) fn product(
    state: &State,
    value: &Value,
    others: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let repeat = kwargs.get::<Option<i64>>("repeat")?.unwrap_or(1).max(0) as usize;
    kwargs.assert_all_used()?;
    let mut pools = vec![items(state, value)?];
    for other in others.iter() {
        pools.push(items(state, other)?);
    }
    let pools: Vec<Vec<Value>> = (0..repeat).flat_map(|_| pools.clone()).collect();
    let mut result: Vec<Vec<Value>> = vec![Vec::new()];
    for pool in &pools {
        result = result
            .iter()
            .flat_map(|prefix| {
                pool.iter().map(move |item| {
                    let mut row = prefix.clone();
                    row.push(item.clone());
                    row
                })
            })
            .collect();
    }
    Ok(list(result.into_iter().map(list).collect()))
}

/// `permutations(r=None)` and `combinations(r)`, in `itertools` order.
pub(crate) fn arrangements(
    state: &State,
    value: &Value,
    size: Option<i64>,
    ordered: bool,
) -> Result<Value, Error> {
    let pool = items(state, value)?;
    let size = match size {
        Some(size) if size < 0 => return Err(failure("r must be non-negative")),
        Some(size) => size as usize,
        None if ordered => pool.len(),
        None => return Err(failure("combinations() missing required argument 'r'")),
    };
    let mut out = Vec::new();
    if size <= pool.len() {
        let mut chosen = Vec::new();
        arrange(
            &pool,
            size,
            ordered,
            0,
            &mut vec![false; pool.len()],
            &mut chosen,
            &mut out,
        );
    }
    Ok(list(out))
}

fn arrange(
    pool: &[Value],
    size: usize,
    ordered: bool,
    start: usize,
    used: &mut Vec<bool>,
    chosen: &mut Vec<Value>,
    out: &mut Vec<Value>,
) {
    if chosen.len() == size {
        out.push(list(chosen.clone()));
        return;
    }
    let first = if ordered { 0 } else { start };
    for index in first..pool.len() {
        if used[index] {
            continue;
        }
        used[index] = true;
        chosen.push(pool[index].clone());
        arrange(pool, size, ordered, index + 1, used, chosen, out);
        chosen.pop();
        used[index] = false;
    }
}

/// `subelements(path, skip_missing=False)`: each element paired with each item of the
/// list found at `path` inside it.
pub(crate) fn subelements(
    state: &State,
    value: &Value,
    path: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("subelements", &["skip_missing"], &args, &kwargs)?;
    let skip_missing = params.flag("skip_missing", false);
    ensure_defined(state, value)?;
    let elements: Vec<Value> = match pairs(value) {
        Some(entries) => entries.into_iter().map(|(_, v)| v).collect(),
        None if value.kind() == ValueKind::Seq => value.try_iter()?.collect(),
        None => return Err(failure("obj must be a list of dicts or a nested dict")),
    };
    let keys: Vec<Value> = if is_list(path) {
        path.try_iter()?.collect()
    } else if let Some(text) = path.as_str() {
        text.split('.').map(Value::from).collect()
    } else {
        return Err(failure("subelements must be a list or a string"));
    };
    let mut out = Vec::new();
    for element in elements {
        let mut current = element.clone();
        let mut missing = false;
        for key in &keys {
            if current.kind() != ValueKind::Map {
                return Err(failure(format!(
                    "the key {} should point to a dictionary, got '{}'",
                    py_str(key),
                    py_str(&current)
                )));
            }
            let next = current.get_item(key)?;
            if next.is_undefined() {
                if skip_missing {
                    missing = true;
                    break;
                }
                return Err(failure(format!(
                    "could not find {} key in iterated item {}",
                    py_repr(key),
                    py_repr(&current)
                )));
            }
            current = next;
        }
        if missing {
            continue;
        }
        if current.kind() != ValueKind::Seq {
            return Err(failure(format!(
                "the key {} should point to a list, got {}",
                py_repr(keys.last().unwrap_or(&Value::from(()))),
                py_repr(&current)
            )));
        }
        for item in current.try_iter()? {
            out.push(list(vec![element.clone(), item]));
        }
    }
    Ok(list(out))
}

/// `extract(container, morekeys=None)`: `container[item]`, then deeper by `morekeys`.
pub(crate) fn extract(
    item: &Value,
    container: &Value,
    more_keys: Option<&Value>,
) -> Result<Value, Error> {
    let mut keys = vec![item.clone()];
    match more_keys {
        Some(more) if more.kind() == ValueKind::Seq => keys.extend(more.try_iter()?),
        Some(more) if !more.is_none() => keys.push(more.clone()),
        _ => {}
    }
    let mut current = container.clone();
    for key in &keys {
        if current.is_undefined() {
            break;
        }
        current = current.get_item(key)?;
    }
    Ok(current)
}

/// `rekey_on_member(key, duplicates='error')`: a list of dicts keyed by one of their fields.
pub(crate) fn rekey_on_member(
    state: &State,
    value: &Value,
    key: &Value,
    duplicates: Option<String>,
) -> Result<Value, Error> {
    let duplicates = duplicates.unwrap_or_else(|| "error".to_string());
    if duplicates != "error" && duplicates != "overwrite" {
        return Err(failure(format!(
            "duplicates parameter to rekey_on_member has unknown value {}",
            py_repr(&Value::from(duplicates))
        )));
    }
    ensure_defined(state, value)?;
    let members: Vec<Value> = match pairs(value) {
        Some(entries) => entries.into_iter().map(|(_, v)| v).collect(),
        None if is_list(value) => value.try_iter()?.collect(),
        None => return Err(failure("Type is not a valid list, set, or dict")),
    };
    let mut out: Vec<(Value, Value)> = Vec::new();
    for member in members {
        if member.kind() != ValueKind::Map {
            return Err(failure("List item is not a valid dict"));
        }
        let new_key = member.get_item(key)?;
        if new_key.is_undefined() {
            return Err(failure(format!("Key {} was not found.", py_repr(key))));
        }
        match out.iter_mut().find(|(k, _)| *k == new_key) {
            Some(_) if duplicates == "error" => {
                return Err(failure(format!(
                    "Key {} is not unique, cannot convert to dict.",
                    py_repr(&new_key)
                )));
            }
            Some(slot) => slot.1 = member,
            None => out.push((new_key, member)),
        }
    }
    Ok(Value::from_pairs(out))
}

#[cfg(test)]
mod tests {
    use super::super::{eval, eval_error};

    #[test]
    fn flatten_and_combine() {
        assert_eq!(eval("[[1, [2, none]], 'None', 3] | flatten"), "[1, 2, 3]");
        assert_eq!(eval("[[1, [2]], 3] | flatten(levels=1)"), "[1, [2], 3]");
        assert_eq!(
            eval("[[1, none], [2]] | flatten(skip_nulls=false)"),
            "[1, None, 2]"
        );
        assert_eq!(
            eval("{'a': 1} | combine({'b': 2}, {'a': 3})"),
            "{'a': 3, 'b': 2}"
        );
        assert_eq!(eval("[{'a': 1}, {'b': 2}] | combine"), "{'a': 1, 'b': 2}");
        assert_eq!(
            eval("{'a': {'b': 1}} | combine({'a': {'c': 2}})"),
            "{'a': {'c': 2}}"
        );
        assert_eq!(
            eval("{'a': {'x': 1, 'l': [1]}} | combine({'a': {'y': 2, 'l': [2]}}, recursive=true, list_merge='append')"),
            "{'a': {'x': 1, 'l': [1, 2], 'y': 2}}"
        );
        assert_eq!(
            eval("{'a': [1, 2]} | combine({'a': [2, 3]}, list_merge='append_rp')"),
            "{'a': [1, 2, 3]}"
        );
        assert_eq!(
            eval("{'a': [1, 2]} | combine({'a': [2, 3]}, list_merge='prepend_rp')"),
            "{'a': [2, 3, 1]}"
        );
        assert_eq!(
            eval("{'a': [1, 2]} | combine({'a': [2, 3]}, list_merge='prepend')"),
            "{'a': [2, 3, 1, 2]}"
        );
        assert_eq!(
            eval("{'a': [1, 2]} | combine({'a': [2, 3]}, list_merge='keep')"),
            "{'a': [1, 2]}"
        );
        assert_eq!(eval("{'a': 1} | combine(none)"), "{'a': 1}");
        assert!(eval_error("{'a': 1} | combine({'a': 2}, bad=1)")
            .contains("only valid keyword arguments"));
        assert!(eval_error("{'a': 1} | combine([1])").contains("expected dicts"));
    }

    #[test]
    fn dict_conversions_and_sets() {
        assert_eq!(eval("{'a': 1} | dict2items"), "[{'key': 'a', 'value': 1}]");
        assert_eq!(
            eval("{'a': 1} | dict2items(key_name='k', value_name='v')"),
            "[{'k': 'a', 'v': 1}]"
        );
        assert_eq!(eval("[{'key': 'a', 'value': 1}] | items2dict"), "{'a': 1}");
        assert!(eval_error("[{'k': 1}] | items2dict").contains("contain the keys"));
        assert_eq!(
            eval("[1, 2, 3] | symmetric_difference([3, 4])"),
            "[1, 2, 4]"
        );
        assert_eq!(eval("[1, 2, 2] | intersect([2, 3])"), "[2]");
        assert_eq!(eval("[3, 2, 1] | difference([2])"), "[3, 1]");
        assert_eq!(eval("['b', 'a'] | union(['a', 'c'])"), "['b', 'a', 'c']");
    }

    #[test]
    fn itertools_and_lookups() {
        assert_eq!(
            eval("[1, 2] | product(['a', 'b'])"),
            "[[1, 'a'], [1, 'b'], [2, 'a'], [2, 'b']]"
        );
        assert_eq!(eval("[1, 2] | product(repeat=2) | length"), "4");
        assert_eq!(
            eval("[1, 2] | zip(['a', 'b', 'c'])"),
            "[[1, 'a'], [2, 'b']]"
        );
        assert_eq!(
            eval("[1, 2, 3] | zip_longest(['a'], fillvalue='-')"),
            "[[1, 'a'], [2, '-'], [3, '-']]"
        );
        assert_eq!(eval("[1, 2, 3] | permutations(2) | length"), "6");
        assert_eq!(
            eval("[1, 2, 3] | combinations(2)"),
            "[[1, 2], [1, 3], [2, 3]]"
        );
        let users = "[{'name': 'a', 'groups': ['x', 'y']}, {'name': 'b'}]";
        assert_eq!(
            eval(&format!(
                "{users} | subelements('groups', skip_missing=true) | map('last') | list"
            )),
            "['x', 'y']"
        );
        assert!(eval_error(&format!("{users} | subelements('groups')"))
            .contains("could not find 'groups'"));
        assert_eq!(
            eval("['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list"),
            "[1, 2]"
        );
        assert_eq!(
            eval("'s' | extract({'s': {'t': {'u': 5}}}, ['t', 'u'])"),
            "5"
        );
        assert_eq!(
            eval("[{'n': 'a'}, {'n': 'b'}] | rekey_on_member('n')"),
            "{'a': {'n': 'a'}, 'b': {'n': 'b'}}"
        );
        assert!(
            eval_error("[{'n': 'a'}, {'n': 'a'}] | rekey_on_member('n')").contains("not unique")
        );
    }
}
