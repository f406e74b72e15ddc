//! The YAML tree with positions, as the loader builds it.

use crate::source::Span;
use minijinja::Value;

/// One YAML node, already typed by Ansible's YAML 1.1 rules.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; it may be a template, rendered when used.
    String(String),
    /// `!unsafe`: a string that is never rendered as a template.
    Unsafe(String),
    /// `!vault`: an encrypted string, decrypted when a vault password is given.
    Vault(String),
    /// A YAML 1.1 timestamp (`2024-01-31`): a date or datetime to templates, as PyYAML
    /// gives Ansible.
    Timestamp(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(value: NodeValue, span: Span) -> Node {
        Node { value, span }
    }

    pub fn null(span: Span) -> Node {
        Node::new(NodeValue::Null, span)
    }

    pub fn string(s: impl Into<String>, span: Span) -> Node {
        Node::new(NodeValue::String(s.into()), span)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) | NodeValue::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// A mapping key as text: Ansible's keys are strings, but YAML allows `1:` or `true:`.
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::String(s) | NodeValue::Unsafe(s) | NodeValue::Timestamp(s) => {
                Some(s.clone())
            }
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            NodeValue::Null => Some("None".to_string()),
            _ => None,
        }
    }

    /// What kind of node this is, in the words an error message uses.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::String(_) | NodeValue::Unsafe(_) | NodeValue::Vault(_) => "a string",
            NodeValue::Timestamp(_) => "a timestamp",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// Whether any string inside holds template syntax.
    pub fn has_template(&self) -> bool {
        match &self.value {
            NodeValue::String(s) => crate::template::is_template(s),
            // Decrypted when the task runs, like a template is rendered then.
            NodeValue::Vault(_) => true,
            NodeValue::Seq(items) => items.iter().any(Node::has_template),
            NodeValue::Map(entries) => entries
                .iter()
                .any(|(k, v)| k.has_template() || v.has_template()),
            _ => false,
        }
    }

    /// An inline `!vault` value: its plaintext, or a value that fails when it is used, so a
    /// secret that no task reads needs no password, as in Ansible. The error names the
    /// place of the value, never its content.
    fn decrypt_vault(&self, text: &str) -> Value {
        match self.vault_plaintext(text) {
            Ok(plaintext) => Value::from_safe_string(plaintext),
            Err(message) => Value::from(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                message,
            )),
        }
    }

    /// The plaintext of an inline `!vault` value. It is not a template: a password may
    /// hold `{{`.
    pub fn vault_plaintext(&self, text: &str) -> Result<String, String> {
        crate::vault::installed()
            .decrypt(text)
            .map(|(plaintext, _)| String::from_utf8_lossy(&plaintext).into_owned())
            .map_err(|error| format!("{error} for the `!vault` value at {}", self.span))
    }

    /// Plain data for templates and variables. Strings stay templates (rendered lazily
    /// when used); `!unsafe` strings become marked strings that are never rendered.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::from(()),
            NodeValue::Bool(b) => Value::from(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::String(s) => Value::from(s.as_str()),
            NodeValue::Unsafe(s) => Value::from_safe_string(s.clone()),
            NodeValue::Vault(s) => self.decrypt_vault(s),
            NodeValue::Timestamp(s) => crate::template::timestamp(s),
            NodeValue::Seq(items) => {
                Value::from(items.iter().map(Node::to_value).collect::<Vec<_>>())
            }
            NodeValue::Map(entries) => Value::from_pairs(
                entries
                    .iter()
                    .map(|(k, v)| (Value::from(k.key_text().unwrap_or_default()), v.to_value())),
            ),
        }
    }

    /// Builds a node from run-time data, every part pointing at `span` (the scalar the
    /// data was rendered from), so argument errors still point into the YAML.
    pub fn from_value(value: &Value, span: &Span) -> Node {
        use minijinja::value::ValueKind;
        let node_value = match value.kind() {
            ValueKind::Undefined | ValueKind::None => NodeValue::Null,
            ValueKind::Bool => NodeValue::Bool(value.is_true()),
            ValueKind::Number => {
                // 2.0 stays a float: only integers become Int.
                if let Some(i) = value
                    .is_integer()
                    .then(|| i64::try_from(value.clone()).ok())
                    .flatten()
                {
                    NodeValue::Int(i)
                } else {
                    NodeValue::Float(f64::try_from(value.clone()).unwrap_or(0.0))
                }
            }
            ValueKind::String => {
                let s = value.as_str().unwrap_or_default().to_string();
                if value.is_safe() {
                    NodeValue::Unsafe(s)
                } else {
                    NodeValue::String(s)
                }
            }
            ValueKind::Bytes => NodeValue::String(value.to_string()),
            ValueKind::Seq | ValueKind::Iterable => NodeValue::Seq(
                value
                    .try_iter()
                    .map(|iter| iter.map(|item| Node::from_value(&item, span)).collect())
                    .unwrap_or_default(),
            ),
            ValueKind::Map => NodeValue::Map(
                value
                    .try_iter()
                    .map(|keys| {
                        keys.map(|key| {
                            let item = value.get_item(&key).unwrap_or_default();
                            (
                                Node::string(key.to_string(), span.clone()),
                                Node::from_value(&item, span),
                            )
                        })
                        .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => NodeValue::String(value.to_string()),
        };
        Node::new(node_value, span.clone())
    }

    /// JSON for module arguments.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            NodeValue::Null => J::Null,
            NodeValue::Bool(b) => J::Bool(*b),
            NodeValue::Int(i) => J::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            NodeValue::String(s) | NodeValue::Unsafe(s) => J::String(s.clone()),
            NodeValue::Vault(s) | NodeValue::Timestamp(s) => J::String(s.clone()),
            NodeValue::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}
