//! `package_facts`: the installed packages, as `ansible_facts.packages`.
//!
//! One `dpkg-query -W` lists every package dpkg has installed (unpacked and half-configured
//! ones included, packages with only configuration files left excluded, as python-apt's
//! `is_installed`). Each name maps to a list of `{name, version, arch, category, source}`
//! (`source` is `apt`); a package of a foreign architecture is named `name:arch`, as in
//! Ansible. Reading changes nothing, so the task is always `ok`.
//!
//! Only apt (alias `dpkg`) is read. Other managers Ansible knows (`rpm`, `apk`,
//! `pacman`…) are accepted and counted as unusable, so `manager: auto` on a host without
//! dpkg fails as Ansible's does when it finds no usable manager.
//!
//! ```yaml
//! - name: Read installed packages
//!   package_facts:
//!
//! - name: Show containerd's version
//!   debug:
//!     msg: "{{ ansible_facts.packages['containerd'][0].version }}"
//!   when: "'containerd' in ansible_facts.packages"
//! ```

use crate::args::{list_or_csv, Args};
use crate::dpkg::{apt_exec, parse_query, DpkgEntry, QUERY_FORMAT};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "package_facts",
    aliases: &[
        "ansible.builtin.package_facts",
        "ansible.legacy.package_facts",
    ],
    doc: include_str!("package_facts.rs"),
    free_form: None,
    build: crate::registry::build::<PackageFactsArgs>,
};

/// Every manager name Ansible's `package_facts` accepts.
const KNOWN_MANAGERS: &[&str] = &[
    "auto",
    "apt",
    "dpkg",
    "rpm",
    "yum",
    "dnf",
    "dnf5",
    "zypper",
    "portage",
    "pkg",
    "pkg5",
    "pkgng",
    "pacman",
    "apk",
    "pkg_info",
    "openbsd_pkg",
];

/// Which managers to read when several are usable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Only the first usable manager.
    #[default]
    First,
    /// Every usable manager.
    All,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFactsArgs {
    /// The package managers to read, in order: `auto` or `apt` (alias `dpkg`).
    #[serde(default = "auto", deserialize_with = "list_or_csv::deserialize")]
    pub manager: Vec<String>,
    /// `first` usable manager only, or `all`.
    #[serde(default)]
    pub strategy: Strategy,
}

fn auto() -> Vec<String> {
    vec!["auto".to_string()]
}

impl Args for PackageFactsArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let unknown: Vec<&str> = self
            .manager
            .iter()
            .map(|m| m.as_str())
            .filter(|m| !KNOWN_MANAGERS.contains(&m.to_ascii_lowercase().as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(ArgError::new(format!(
                "Unsupported package managers requested: {}",
                unknown.join(", ")
            ))
            .at("manager"));
        }
        Ok(())
    }
}

/// Prints the native architecture, then every package.
const LIST: &str = r#"dpkg --print-architecture && exec dpkg-query -W -f="$1""#;

/// `ansible_facts.packages` from the native architecture and dpkg's entries.
fn packages(native: &str, entries: &[DpkgEntry]) -> Map<String, Value> {
    let mut packages = Map::new();
    for entry in entries {
        if matches!(entry.state.as_str(), "not-installed" | "config-files") {
            continue;
        }
        let name = if entry.arch == native || entry.arch == "all" {
            entry.name.clone()
        } else {
            format!("{}:{}", entry.name, entry.arch)
        };
        let details = json!({
            "name": name,
            "version": entry.version,
            "arch": entry.arch,
            "category": entry.section,
            "source": "apt",
        });
        match packages.get_mut(&name) {
            Some(Value::Array(list)) => list.push(details),
            _ => {
                packages.insert(name, json!([details]));
            }
        }
    }
    packages
}

impl Module for PackageFactsArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let wants_apt = self
                .manager
                .iter()
                .any(|m| matches!(m.to_ascii_lowercase().as_str(), "auto" | "apt" | "dpkg"));
            let mut found = None;
            if wants_apt {
                let output = host
                    .transport
                    .run(&apt_exec(vec![
                        "sh".to_string(),
                        "-c".to_string(),
                        LIST.to_string(),
                        "rplay-package-facts".to_string(),
                        QUERY_FORMAT.to_string(),
                    ]))
                    .await?;
                if output.success() {
                    let text = output.stdout_text();
                    let (native, list) = text.split_once('\n').unwrap_or((text.as_str(), ""));
                    found = Some(packages(native.trim(), &parse_query(list)));
                }
            }
            let Some(packages) = found else {
                return Ok(Plan::fail(format!(
                    "Could not detect a supported package manager from the following list: \
                     {:?}, or the required Python library is not installed. Check warnings \
                     for details.",
                    self.manager
                )));
            };
            let count = packages.len();
            Ok(Plan::ok(format!("read {count} installed packages"))
                .with("ansible_facts", json!({ "packages": packages })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_foreign_architectures_and_skips_removed_packages() {
        let entries = parse_query(
            "libc6\tamd64\t2.41-12\tinstall ok installed\tlibs\t\n\
             libc6\ti386\t2.41-12\tinstall ok installed\tlibs\t\n\
             tzdata\tall\t2025b-4\tinstall ok installed\tlocalization\t\n\
             nano\tamd64\t8.4-1\tdeinstall ok config-files\teditors\t\n\
             half\tamd64\t1.0\tinstall ok unpacked\tmisc\t\n",
        );
        let packages = packages("amd64", &entries);
        assert_eq!(
            packages.keys().collect::<Vec<_>>(),
            vec!["libc6", "libc6:i386", "tzdata", "half"]
        );
        assert_eq!(
            packages["libc6"],
            json!([{"name": "libc6", "version": "2.41-12", "arch": "amd64",
                    "category": "libs", "source": "apt"}])
        );
        assert_eq!(packages["tzdata"][0]["arch"], "all");
    }

    #[tokio::test]
    async fn reads_this_machine() {
        let fixture = crate::testing::Fixture::new();
        let (plan, commands) = fixture
            .plan_counting("package_facts", json!({"manager": ["dpkg"]}))
            .await;
        let plan = plan.unwrap();
        assert_eq!(commands, 1);
        assert!(!plan.is_change());
        let dpkg = &plan.result["ansible_facts"]["packages"]["dpkg"][0];
        assert_eq!(dpkg["name"], "dpkg");
        assert_eq!(dpkg["source"], "apt");
        assert!(dpkg["version"].as_str().is_some_and(|v| !v.is_empty()));
    }

    #[test]
    fn refuses_unknown_managers() {
        let build = |value: Value| crate::args::parse::<PackageFactsArgs>(value);
        assert!(build(json!({"manager": "brew"})).is_err());
        assert!(build(json!({"manager": ["auto", "rpm"], "strategy": "all"})).is_ok());
    }
}
