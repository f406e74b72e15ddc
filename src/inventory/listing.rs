//! `rplay inventory --list` and `--graph`, shaped exactly like `ansible-inventory`'s
//! output, so scripts that read one can read the other.

use super::{Inventory, Limit, INTERNAL_VARIABLES};
use crate::diagnostic::{Diagnostic, Result};
use crate::node::{Node, NodeValue};
use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value as Json};
use std::collections::HashSet;

/// What `--list` shows besides the default.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `--export`: each group's own variables, and only each host's own variables.
    pub export: bool,
    /// `--limit`: only these hosts appear.
    pub limit: Option<Limit>,
}

impl Inventory {
    /// `ansible-inventory --list` as JSON: every group with its direct hosts and its
    /// children, and every host's merged variables under `_meta.hostvars`.
    pub fn to_list_json(&self) -> Json {
        self.to_list_json_with(&ListOptions::default())
            .expect("`all` with no limit is always a valid pattern")
    }

    /// [`Inventory::to_list_json`] printed as `ansible-inventory --list` prints it (keys
    /// sorted, four-space indent, Python's number format), with the final newline.
    pub fn to_list_string(&self) -> String {
        format!("{}\n", python_json(&self.to_list_json()))
    }

    pub fn to_list_json_with(&self, options: &ListOptions) -> Result<Json> {
        let available: IndexSet<String> = match &options.limit {
            Some(limit) => self.select_limited("all", limit)?,
            None => self.select("all")?,
        }
        .into_iter()
        .collect();
        let mut results = Map::new();
        let mut seen = HashSet::new();
        self.list_group("all", &available, options.export, &mut seen, &mut results);

        let mut hostvars = Map::new();
        for host in &available {
            let variables = if options.export {
                self.own_host_vars(host)
            } else {
                self.host_var_nodes(host)
            };
            let variables = variables_json(variables);
            if !variables.is_empty() {
                hostvars.insert(host.clone(), Json::Object(variables));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Json::Object(hostvars));
        meta.insert("profile".into(), Json::String("inventory_legacy".into()));
        results.insert("_meta".into(), Json::Object(meta));
        Ok(sorted(Json::Object(results)))
    }

    fn list_group(
        &self,
        name: &str,
        available: &IndexSet<String>,
        export: bool,
        seen: &mut HashSet<String>,
        results: &mut Map<String, Json>,
    ) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let mut entry = Map::new();
        if name != "all" {
            let hosts: Vec<Json> = group
                .hosts
                .iter()
                .filter(|host| available.contains(*host))
                .map(|host| Json::String(host.clone()))
                .collect();
            entry.insert("hosts".into(), Json::Array(hosts));
        }
        let children: Vec<Json> = group
            .children
            .iter()
            .map(|child| Json::String(child.clone()))
            .collect();
        entry.insert("children".into(), Json::Array(children));
        for child in &group.children {
            if !seen.contains(child) {
                self.list_group(child, available, export, seen, results);
                seen.insert(child.clone());
            }
        }
        if export {
            entry.insert(
                "vars".into(),
                Json::Object(variables_json(self.group_var_nodes(name))),
            );
        }
        entry.retain(|_, value| match value {
            Json::Array(items) => !items.is_empty(),
            Json::Object(entries) => !entries.is_empty(),
            _ => true,
        });
        if !entry.is_empty() {
            results.insert(name.to_string(), Json::Object(entry));
        }
    }

    /// The host's own variables and its `host_vars/` files, without group variables.
    fn own_host_vars(&self, host: &str) -> IndexMap<String, Node> {
        let Some(host) = self.host(host) else {
            return IndexMap::new();
        };
        let mut merged = host.vars.clone();
        for dir in self.vars_dirs() {
            for (name, value) in dir.host(&host.name).into_iter().flatten() {
                merged.insert(name.clone(), value.clone());
            }
        }
        merged
    }

    /// `ansible-inventory --graph GROUP`: the group's tree, with the final newline.
    pub fn graph(&self, group: &str) -> Result<String> {
        if !self.groups.contains_key(group) {
            return Err(Diagnostic::new(format!(
                "pattern must be a valid group name when using `--graph`, got `{group}`"
            ))
            .suggest(group, self.groups.keys().map(String::as_str)));
        }
        let mut lines = Vec::new();
        self.graph_group(group, 0, &mut lines);
        Ok(format!("{}\n", lines.join("\n")))
    }

    fn graph_group(&self, name: &str, depth: usize, lines: &mut Vec<String>) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        lines.push(graph_line(&format!("@{name}:"), depth));
        for child in &group.children {
            self.graph_group(child, depth + 1, lines);
        }
        if name != "all" {
            for host in &group.hosts {
                lines.push(graph_line(host, depth + 1));
            }
        }
    }
}

fn graph_line(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn variables_json(variables: IndexMap<String, Node>) -> Map<String, Json> {
    variables
        .into_iter()
        .filter(|(name, _)| !INTERNAL_VARIABLES.contains(&name.as_str()))
        .map(|(name, node)| (name, node_json(&node)))
        .collect()
}

/// A value as Ansible's legacy inventory JSON writes it: `!unsafe` and `!vault` strings
/// are wrapped, and mapping keys are written the way Python's `json` writes them.
fn node_json(node: &Node) -> Json {
    let wrapped = |key: &str, text: &str| {
        let mut map = Map::new();
        map.insert(key.to_string(), Json::String(text.to_string()));
        Json::Object(map)
    };
    match &node.value {
        NodeValue::Null => Json::Null,
        NodeValue::Bool(flag) => Json::Bool(*flag),
        NodeValue::Int(number) => Json::from(*number),
        NodeValue::Float(number) => {
            serde_json::Number::from_f64(*number).map_or(Json::Null, Json::Number)
        }
        NodeValue::String(text) | NodeValue::Timestamp(text) => Json::String(text.clone()),
        NodeValue::Unsafe(text) => wrapped("__ansible_unsafe", text),
        NodeValue::Vault(text) => wrapped("__ansible_vault", text),
        NodeValue::Seq(items) => Json::Array(items.iter().map(node_json).collect()),
        NodeValue::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, value)| (python_key(key), node_json(value)))
                .collect(),
        ),
    }
}

fn python_key(key: &Node) -> String {
    match &key.value {
        NodeValue::Bool(flag) => flag.to_string(),
        NodeValue::Null => "null".into(),
        NodeValue::Float(number) => python_float(*number),
        _ => key.key_text().unwrap_or_default(),
    }
}

fn sorted(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sorted(value)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// JSON as Python's `json.dumps(value, sort_keys=True, indent=4, ensure_ascii=False)`
/// writes it, which is what `ansible-inventory` prints.
pub fn python_json(value: &Json) -> String {
    let mut out = String::new();
    write_json(value, 0, &mut out);
    out
}

fn write_json(value: &Json, indent: usize, out: &mut String) {
    let pad = |level: usize| " ".repeat(level * 4);
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Json::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(integer), _, _) => out.push_str(&integer.to_string()),
            (_, Some(integer), _) => out.push_str(&integer.to_string()),
            (_, _, Some(float)) => out.push_str(&python_float(float)),
            _ => out.push_str(&number.to_string()),
        },
        Json::String(text) => write_string(text, out),
        Json::Array(items) if items.is_empty() => out.push_str("[]"),
        Json::Array(items) => {
            out.push_str("[\n");
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent + 1));
                write_json(item, indent + 1, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push(']');
        }
        Json::Object(map) if map.is_empty() => out.push_str("{}"),
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str("{\n");
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent + 1));
                write_string(key, out);
                out.push_str(": ");
                write_json(item, indent + 1, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest text that reads back the same, in exponent form
/// below 1e-4 and from 1e16 up.
fn python_float(number: f64) -> String {
    if number.is_nan() {
        return "NaN".into();
    }
    if number.is_infinite() {
        return if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .into();
    }
    if number == 0.0 {
        return if number.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if number < 0.0 { "-" } else { "" };
    if !(-4..16).contains(&exponent) {
        let sign_of_exponent = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{sign_of_exponent}{:02}", exponent.abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exponent as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats_like_python_repr() {
        let cases = [
            (1000.0, "1000.0"),
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789.123, "123456789.123"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            (0.1, "0.1"),
        ];
        for (number, text) in cases {
            assert_eq!(python_float(number), text);
        }
    }

    #[test]
    fn dumps_like_python_json_with_indent() {
        let value = serde_json::json!({"b": [1, 2.0, "x\"\u{1}é"], "a": {}, "c": [], "d": {"z": null, "y": true}});
        assert_eq!(
            python_json(&value),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.0,\n        \"x\\\"\\u0001é\"\n    ],\n    \"c\": [],\n    \"d\": {\n        \"y\": true,\n        \"z\": null\n    }\n}"
        );
    }
}
