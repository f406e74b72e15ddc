//! YAML (and JSON) inventories, read as Ansible's `yaml` plugin reads them:
//!
//! ```yaml
//! all:
//!   vars: {ntp_server: ntp.example.com}
//!   hosts:
//!     bastion: {ansible_host: 192.0.2.10}
//!   children:
//!     webservers:
//!       hosts:
//!         web[01:03].example.com:
//!           http_port: 8080
//! dbservers:            # a top-level group other than `all` is fine too
//!   hosts: db1          # a string stands for a mapping with one empty entry
//! ```
//!
//! As in Ansible, a group whose definition is not a mapping and a key other than `vars`,
//! `children` and `hosts` are skipped with a warning rather than refused.

use super::{ranges, Inventory};
use crate::diagnostic::Diagnostic;
use crate::node::{Node, NodeValue};
use crate::source::SourceFile;
use std::sync::Arc;

const SECTIONS: [&str; 3] = ["vars", "children", "hosts"];

/// Why a file is not a YAML inventory; the caller then tries INI.
pub(super) struct NotYamlInventory {
    pub(super) diagnostic: Diagnostic,
    /// The file did read as YAML (a mapping), so this error is the one to report.
    pub(super) looked_like_yaml: bool,
}

/// Parses the file and checks that it is a mapping of groups.
pub(super) fn read(file: &Arc<SourceFile>) -> Result<Node, NotYamlInventory> {
    let root = crate::yaml::load_str(file.clone()).map_err(|diagnostic| NotYamlInventory {
        diagnostic,
        looked_like_yaml: false,
    })?;
    let not_inventory = |message: String| NotYamlInventory {
        diagnostic: Diagnostic::at(message, &root.span),
        looked_like_yaml: false,
    };
    match root.as_map() {
        None if root.is_null() => return Err(not_inventory("the YAML inventory is empty".into())),
        None => {
            return Err(not_inventory(format!(
                "a YAML inventory must be a mapping of groups, found {}",
                root.kind_name()
            )))
        }
        Some([]) => return Err(not_inventory("the YAML inventory is empty".into())),
        Some(_) => {}
    }
    if let Some(plugin) = root.get("plugin").filter(|plugin| is_truthy(plugin)) {
        return Err(NotYamlInventory {
            diagnostic: Diagnostic::at(
                "inventory plugin configuration files are not supported",
                &plugin.span,
            )
            .with_help("list the hosts in a YAML or INI inventory instead"),
            looked_like_yaml: true,
        });
    }
    Ok(root)
}

/// Adds every top-level group of `root` (as checked by [`read`]).
pub(super) fn parse(
    inventory: &mut Inventory,
    root: &Node,
    source: &str,
) -> crate::diagnostic::Result<()> {
    for (name, data) in root.as_map().unwrap_or_default() {
        parse_group(inventory, name, data, source)?;
    }
    Ok(())
}

fn is_truthy(node: &Node) -> bool {
    match &node.value {
        NodeValue::Null => false,
        NodeValue::Bool(flag) => *flag,
        NodeValue::Int(number) => *number != 0,
        NodeValue::Float(number) => *number != 0.0,
        NodeValue::String(text)
        | NodeValue::Unsafe(text)
        | NodeValue::Vault(text)
        | NodeValue::Timestamp(text) => !text.is_empty(),
        NodeValue::Seq(items) => !items.is_empty(),
        NodeValue::Map(entries) => !entries.is_empty(),
    }
}

/// A section given as a string means a mapping with that one key and no value.
fn section_entries(section: &Node) -> Vec<(Node, Node)> {
    match &section.value {
        NodeValue::Map(entries) => entries.clone(),
        NodeValue::String(_) | NodeValue::Unsafe(_) => {
            vec![(section.clone(), Node::null(section.span.clone()))]
        }
        _ => Vec::new(),
    }
}

fn parse_group(
    inventory: &mut Inventory,
    name_node: &Node,
    data: &Node,
    source: &str,
) -> crate::diagnostic::Result<String> {
    let name = match name_node.as_str() {
        Some(name) if !name.is_empty() => name.to_string(),
        Some(_) => {
            return Err(Diagnostic::at(
                "a group name must not be empty",
                &name_node.span,
            ))
        }
        None => {
            return Err(Diagnostic::at(
                format!(
                    "a group name must be a string, found {}",
                    name_node.kind_name()
                ),
                &name_node.span,
            ))
        }
    };
    let entries = match &data.value {
        NodeValue::Map(entries) => entries.as_slice(),
        NodeValue::Null => &[],
        _ => {
            inventory.warnings.push(Diagnostic::at(
                format!(
                    "skipping `{name}`: a group definition must be a mapping, found {}",
                    data.kind_name()
                ),
                &data.span,
            ));
            return Ok(name);
        }
    };
    inventory.add_group(&name);
    for section in SECTIONS {
        if let Some(value) = data.get(section) {
            if !matches!(
                value.value,
                NodeValue::Map(_) | NodeValue::Null | NodeValue::String(_) | NodeValue::Unsafe(_)
            ) {
                return Err(Diagnostic::at(
                    format!(
                        "`{section}` of group `{name}` must be a mapping, found {}",
                        value.kind_name()
                    ),
                    &value.span,
                ));
            }
        }
    }
    for (key_node, value) in entries {
        let key = key_node.key_text().unwrap_or_default();
        let is_section = SECTIONS.contains(&key.as_str());
        let is_mapping = matches!(value.value, NodeValue::Map(_) | NodeValue::Null)
            || (is_section && value.as_str().is_some());
        if !is_mapping {
            inventory.warnings.push(Diagnostic::at(
                format!(
                    "skipping key `{key}` in group `{name}` as it is not a mapping, it is {}",
                    value.kind_name()
                ),
                &key_node.span,
            ));
            continue;
        }
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "vars" => {
                for (variable, content) in section_entries(value) {
                    let variable = variable.key_text().unwrap_or_default();
                    inventory.set_group_var(&name, &variable, content)?;
                }
            }
            "children" => {
                for (child, child_data) in section_entries(value) {
                    let child_name = parse_group(inventory, &child, &child_data, source)?;
                    inventory
                        .add_child(&name, &child_name)
                        .map_err(|message| Diagnostic::at(message, &child.span))?;
                }
            }
            "hosts" => {
                for (pattern, variables) in section_entries(value) {
                    parse_hosts(inventory, &name, &pattern, &variables, source)?;
                }
            }
            _ => {
                inventory.warnings.push(
                    Diagnostic::at(
                        format!(
                            "skipping unexpected key `{key}` in group `{name}`, only `vars`, `children` and `hosts` are valid"
                        ),
                        &key_node.span,
                    )
                    .suggest(&key, SECTIONS),
                );
            }
        }
    }
    Ok(name)
}

fn parse_hosts(
    inventory: &mut Inventory,
    group: &str,
    pattern: &Node,
    variables: &Node,
    source: &str,
) -> crate::diagnostic::Result<()> {
    let Some(text) = pattern.as_str() else {
        return Err(Diagnostic::at(
            format!(
                "host pattern `{}` must be a string",
                pattern.key_text().unwrap_or_default()
            ),
            &pattern.span,
        )
        .with_help("enclose integers and floats in quotation marks"));
    };
    let (names, port) = ranges::expand_host_pattern(text)
        .map_err(|message| Diagnostic::at(message, &pattern.span))?;
    if names.iter().any(String::is_empty) {
        return Err(Diagnostic::at(
            "a host name must not be empty",
            &pattern.span,
        ));
    }
    let entries = match &variables.value {
        NodeValue::Map(entries) => entries.as_slice(),
        _ if !is_truthy(variables) => &[],
        _ => {
            return Err(Diagnostic::at(
                format!(
                    "the variables of host `{text}` must be a mapping, found {}",
                    variables.kind_name()
                ),
                &variables.span,
            ))
        }
    };
    for name in names {
        inventory.add_host(&name, Some(group), port, Some(source));
        for (key, value) in entries {
            inventory.set_host_var(&name, &key.key_text().unwrap_or_default(), value.clone());
        }
    }
    Ok(())
}
