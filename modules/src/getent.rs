//! `getent`: reads a name service database (`passwd`, `group`, `hosts`, `services`, …)
//! into facts.
//!
//! It only reads, so it never changes anything: the plan returns
//! `ansible_facts.getent_DATABASE`, a map from each entry's key to its remaining fields
//! (split on `:` for `passwd`, `shadow`, `group` and `gshadow`, on whitespace otherwise).
//! A key listed twice maps to a list of field lists, as in Ansible.
//!
//! ```yaml
//! - name: Does the etcd user exist?
//!   getent:
//!     database: passwd
//!     key: etcd
//!     fail_key: false
//! - debug:
//!     msg: "etcd's home is {{ getent_passwd.etcd[4] }}"
//!   when: getent_passwd.etcd
//! ```

use crate::args::{ansible_bool, Args};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "getent",
    aliases: &["ansible.builtin.getent", "ansible.legacy.getent"],
    doc: include_str!("getent.rs"),
    free_form: None,
    build: crate::registry::build::<GetentArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetentArgs {
    /// The database to read, as `getent` names it (`passwd`, `group`, `hosts`, …).
    pub database: String,
    /// One key to look up; without it the whole database is read.
    #[serde(default, deserialize_with = "string_or_number")]
    pub key: Option<String>,
    /// The field separator; `:` for the colon databases and whitespace otherwise.
    #[serde(default)]
    pub split: Option<String>,
    /// Fail when `key` is not found; otherwise return it as `null`.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub fail_key: bool,
    /// The NSS service to ask (`getent -s`), e.g. `files`.
    #[serde(default)]
    pub service: Option<String>,
}

fn yes() -> bool {
    true
}

/// Keys such as uids or ports may arrive as numbers once templates are rendered.
fn string_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

impl Args for GetentArgs {}

const COLON_DATABASES: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// `getent` output to Ansible's `getent_DATABASE` map.
fn entries(output: &str, separator: Option<&str>) -> Map<String, Value> {
    let mut map = Map::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in output.lines() {
        let record: Vec<&str> = match separator {
            Some(separator) => line.split(separator).collect(),
            None => line.split_whitespace().collect(),
        };
        let Some((key, fields)) = record.split_first() else {
            continue;
        };
        let fields = json!(fields);
        let count = seen.entry(key.to_string()).or_insert(0);
        *count += 1;
        match *count {
            1 => {
                map.insert(key.to_string(), fields);
            }
            2 => {
                let first = map.remove(*key).unwrap_or(Value::Null);
                map.insert(key.to_string(), json!([first, fields]));
            }
            _ => {
                if let Some(Value::Array(list)) = map.get_mut(*key) {
                    list.push(fields);
                }
            }
        }
    }
    map
}

impl Module for GetentArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let mut argv = vec!["getent".to_string(), self.database.clone()];
            if let Some(key) = &self.key {
                argv.push(key.clone());
            }
            if let Some(service) = &self.service {
                argv.extend(["-s".to_string(), service.clone()]);
            }
            let output = host.transport.run(&Exec::new(argv)).await?;
            let separator = match &self.split {
                Some(split) => Some(split.as_str()),
                None if COLON_DATABASES.contains(&self.database.as_str()) => Some(":"),
                None => None,
            };
            let fact = format!("getent_{}", self.database);
            match output.rc {
                0 => {
                    let found = entries(&output.stdout_text(), separator);
                    let mut facts = Map::new();
                    facts.insert(fact, Value::Object(found));
                    Ok(Plan::ok(format!("read the {} database", self.database))
                        .with("ansible_facts", Value::Object(facts)))
                }
                2 if !self.fail_key => {
                    let message = "One or more supplied key could not be found in the database.";
                    let mut found = Map::new();
                    found.insert(self.key.clone().unwrap_or_default(), Value::Null);
                    let mut facts = Map::new();
                    facts.insert(fact, Value::Object(found));
                    Ok(Plan::ok(message)
                        .with("ansible_facts", Value::Object(facts))
                        .with("msg", message))
                }
                rc => {
                    let message = match rc {
                        1 => "Missing arguments, or database unknown.",
                        2 => "One or more supplied key could not be found in the database.",
                        3 => "Enumeration not supported on this database.",
                        _ => "Unexpected failure!",
                    };
                    Err(ModuleError::failed(message))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    #[test]
    fn repeated_keys_become_lists() {
        let map = entries(
            "http 80/tcp www\nhttp 80/udp\nhttp 80/sctp\nssh 22/tcp\n",
            None,
        );
        assert_eq!(map["ssh"], json!(["22/tcp"]));
        assert_eq!(
            map["http"],
            json!([["80/tcp", "www"], ["80/udp"], ["80/sctp"]])
        );
    }

    #[tokio::test]
    async fn reads_root_from_passwd() {
        let fixture = Fixture::new();
        let plan = fixture
            .plan(
                "ansible.builtin.getent",
                json!({ "database": "passwd", "key": "root" }),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        let root = &plan.result["ansible_facts"]["getent_passwd"]["root"];
        assert_eq!(root[0], json!("x"));
        assert_eq!(root[1], json!("0"));
        assert_eq!(root[2], json!("0"));
    }

    #[tokio::test]
    async fn a_missing_key_fails_unless_told_not_to() {
        let fixture = Fixture::new();
        let missing = json!({ "database": "passwd", "key": "rplay-no-such-user" });
        let error = fixture.plan("getent", missing.clone()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "One or more supplied key could not be found in the database."
        );
        let mut lenient = missing;
        lenient["fail_key"] = json!("no");
        let plan = fixture.plan("getent", lenient).await.unwrap();
        assert_eq!(
            plan.result["ansible_facts"],
            json!({ "getent_passwd": { "rplay-no-such-user": null } })
        );
    }

    #[tokio::test]
    async fn reads_a_whole_database() {
        let fixture = Fixture::new();
        let plan = fixture
            .plan("getent", json!({ "database": "group" }))
            .await
            .unwrap();
        let groups = plan.result["ansible_facts"]["getent_group"]
            .as_object()
            .unwrap();
        assert_eq!(groups["root"][1], json!("0"));
        assert!(groups.len() > 1);
    }
}
