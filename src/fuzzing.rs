//! What each fuzz target does with its input, kept here so that the fuzz targets in
//! `fuzz/` and the regression tests (`tests/fuzz_regressions.rs`, replaying the inputs
//! kept in `fuzz/regressions/`) run exactly the same code.
//!
//! Each function must return for any input, without a panic, in bounded time and memory:
//! an input is either read or refused with a diagnostic, and a diagnostic always renders.

use crate::inventory::pattern::Limit;
use crate::inventory::Inventory;
use crate::source::{SourceFile, Span};
use crate::template::{Scope, Templar, VarMap};
use std::sync::Arc;

/// The YAML loader, every document of a stream.
pub fn yaml_loader(text: &str) {
    match crate::yaml::load_all(SourceFile::new("fuzz.yml", text)) {
        Ok(documents) => {
            for document in documents {
                let _ = document.to_value();
            }
        }
        Err(diagnostic) => {
            let _ = diagnostic.render();
        }
    }
}

/// Reads what an inventory holds, as `rplay inventory --list` would.
fn read_back(inventory: crate::diagnostic::Result<Inventory>) {
    match inventory {
        Ok(inventory) => {
            for host in inventory.hosts().into_iter().take(1000) {
                let _ = inventory.host_vars(&host);
                let _ = inventory.group_names(&host);
            }
            let _ = inventory.groups();
        }
        Err(diagnostic) => {
            let _ = diagnostic.render();
        }
    }
}

/// An INI inventory.
pub fn inventory_ini(text: &str) {
    read_back(Inventory::from_ini_text("fuzz.ini", text));
}

/// A YAML inventory.
pub fn inventory_yaml(text: &str) {
    read_back(Inventory::from_yaml_text("fuzz.yml", text));
}

/// The inventory host patterns are matched against.
const PATTERN_INVENTORY: &str = "[web]
web[01:03].example.com
[db]
db1 ansible_host=10.0.0.1
db2
[prod:children]
web
db
";

/// The first line is a play's `hosts:` pattern, the second a `--limit`.
pub fn host_pattern(text: &str) {
    let inventory =
        Inventory::from_ini_text("patterns.ini", PATTERN_INVENTORY).expect("a valid inventory");
    let mut lines = text.splitn(2, '\n');
    let pattern = lines.next().unwrap_or_default();
    let limit = lines.next().unwrap_or_default();
    let _ = inventory.select(pattern);
    let _ = inventory.pattern_warnings(pattern);
    // `@file` limits read a file of this machine: not for random input.
    if !limit.contains('@') {
        if let Ok(limit) = Limit::parse(limit) {
            let _ = inventory.select_limited(pattern, &limit);
        }
    }
}

/// A template rendered with a few variables, as a task argument would be.
pub fn template(text: &str) {
    // Lookups reach outside: `pipe` runs commands, `file` and `env` read this machine.
    // Random input must not run a command, so templates that name one are left out.
    if ["lookup", "query", "q(", "pipe"]
        .iter()
        .any(|word| text.contains(word))
    {
        return;
    }
    let templar = Arc::new(Templar::new());
    let mut vars = VarMap::new();
    vars.insert("name".into(), minijinja::Value::from("web1"));
    vars.insert("count".into(), minijinja::Value::from(3));
    vars.insert(
        "items".into(),
        crate::executor::value::from_json(&serde_json::json!(["a", "b", "c"])),
    );
    vars.insert(
        "nested".into(),
        crate::executor::value::from_json(&serde_json::json!({"a": {"b": [1, 2, {"c": "d"}]}})),
    );
    vars.insert("self_ref".into(), minijinja::Value::from("{{ self_ref }}"));
    let scope = Scope::new(vec![Arc::new(vars)], templar.clone(), None);
    let span = Span {
        file: Some(SourceFile::new("fuzz.yml", text)),
        line: 1,
        column: 1,
        length: text.chars().count(),
    };
    match templar.render_text(text, &scope, &span) {
        Ok(_) => {}
        Err(diagnostic) => {
            let _ = diagnostic.render();
        }
    }
}
