//! `iptables`: one rule, a chain's policy, a flush, or a user chain, in the running
//! kernel's tables (not saved across reboots, as in Ansible).
//!
//! The rule's words are built in Ansible's order, so `iptables -C` (check) says whether
//! the rule is there; nothing needs doing when presence matches `state`. A policy is read
//! from `iptables -L CHAIN` and set only when it differs. `flush` always reports a change,
//! as Ansible's does. `ip_version: ipv6` uses `ip6tables`.
//!
//! ```yaml
//! - name: Accept the API server port
//!   ansible.builtin.iptables:
//!     chain: INPUT
//!     protocol: tcp
//!     destination_port: "6443"
//!     ctstate: [NEW]
//!     jump: ACCEPT
//!     comment: kube-apiserver
//! ```

use crate::args::{ansible_bool, list_or_csv, Args, Presence};
use crate::file::text;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, Output};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "iptables",
    aliases: &["ansible.builtin.iptables", "ansible.legacy.iptables"],
    doc: include_str!("iptables.rs"),
    free_form: None,
    build: crate::registry::build::<IptablesArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IptablesArgs {
    /// `filter`, `nat`, `mangle`, `raw` or `security`.
    #[serde(default = "filter")]
    pub table: String,
    /// The chain: a built-in one (`INPUT`) or a user chain.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub chain: Option<String>,
    /// Whether the rule is there.
    #[serde(default)]
    pub state: Presence,
    /// `append` (at the end) or `insert` (at `rule_num`, else first).
    #[serde(default)]
    pub action: Action,
    /// Where `insert` puts the rule, 1-based.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub rule_num: Option<String>,
    /// `ipv4` (iptables) or `ipv6` (ip6tables).
    #[serde(default)]
    pub ip_version: IpVersion,
    /// `-p`: `tcp`, `udp`, `icmp`, `all`, a number; `!` in front negates.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub protocol: Option<String>,
    /// `-s`: an address, network or range.
    #[serde(default, alias = "src", deserialize_with = "text::deserialize")]
    pub source: Option<String>,
    /// `-d`: an address, network or range.
    #[serde(default, alias = "dst", deserialize_with = "text::deserialize")]
    pub destination: Option<String>,
    /// `-m`: extension matches, in order.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub r#match: Vec<String>,
    /// `-j`: the target (`ACCEPT`, `DROP`, `REJECT`, `LOG`, a user chain).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub jump: Option<String>,
    /// `-g`: continue in this user chain.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub goto: Option<String>,
    /// `-i`: the incoming interface.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub in_interface: Option<String>,
    /// `-o`: the outgoing interface.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub out_interface: Option<String>,
    /// `--source-port`: a port or `first:last`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub source_port: Option<String>,
    /// `--destination-port`: a port or `first:last`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub destination_port: Option<String>,
    /// `-m multiport --dports`: several ports or ranges.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub destination_ports: Vec<String>,
    /// `--to-destination` (DNAT).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub to_destination: Option<String>,
    /// `--to-source` (SNAT).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub to_source: Option<String>,
    /// `--to-ports` (REDIRECT, MASQUERADE).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub to_ports: Option<String>,
    /// `-m conntrack --ctstate`: `NEW`, `ESTABLISHED`, `RELATED`, `INVALID`...
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub ctstate: Vec<String>,
    /// `-m comment --comment`.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub comment: Option<String>,
    /// `--reject-with` (REJECT).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub reject_with: Option<String>,
    /// `--log-prefix` (LOG).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub log_prefix: Option<String>,
    /// `--log-level` (LOG).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub log_level: Option<String>,
    /// `--set-xmark`/`--set-mark` style marks are written as `jump: MARK` plus this.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub set_counters: Option<String>,
    /// Matches fragments only (`-f`), or non-fragments with `false`.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub fragment: Option<bool>,
    /// The chain's policy: `ACCEPT`, `DROP`, `QUEUE` or `RETURN`; nothing else is done.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub policy: Option<String>,
    /// Flush the chain (or the whole table without `chain`); nothing else is done.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub flush: bool,
    /// Create the user chain when `state: present`, delete it when `state: absent` and no
    /// rule is given.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub chain_management: bool,
    /// `-w`: seconds to wait for the xtables lock.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub wait: Option<String>,
    /// Accepted for compatibility: the rule words here are always literal.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub numeric: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Append,
    Insert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    #[default]
    Ipv4,
    Ipv6,
}

fn filter() -> String {
    "filter".to_string()
}

impl Args for IptablesArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if !["filter", "nat", "mangle", "raw", "security"].contains(&self.table.as_str()) {
            return Err(ArgError::new(format!(
                "`{}` is not one of `filter`, `nat`, `mangle`, `raw`, `security`",
                self.table
            ))
            .at("table"));
        }
        if let Some(policy) = &self.policy {
            if !["ACCEPT", "DROP", "QUEUE", "RETURN"].contains(&policy.as_str()) {
                return Err(ArgError::new(format!(
                    "`{policy}` is not one of `ACCEPT`, `DROP`, `QUEUE`, `RETURN`"
                ))
                .at("policy"));
            }
            if self.chain.is_none() {
                return Err(ArgError::new("`policy` needs `chain`").at("policy"));
            }
        }
        if self.flush && self.policy.is_some() {
            return Err(ArgError::new(
                "parameters are mutually exclusive: flush|policy",
            ));
        }
        if !self.flush && self.chain.is_none() {
            return Err(ArgError::new("`chain` is required unless `flush` is set"));
        }
        if let Some(number) = &self.rule_num {
            if number.parse::<u32>().map_or(true, |n| n == 0) {
                return Err(
                    ArgError::new(format!("`{number}` is not a rule number")).at("rule_num")
                );
            }
        }
        Ok(())
    }
}

/// `-s VALUE`, or `! -s VALUE` for a value written `!VALUE`.
fn push_param(rule: &mut Vec<String>, value: &Option<String>, flag: &str) {
    let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
        return;
    };
    match value.strip_prefix('!') {
        Some(negated) => rule.extend([
            "!".to_string(),
            flag.to_string(),
            negated.trim().to_string(),
        ]),
        None => rule.extend([flag.to_string(), value.to_string()]),
    }
}

fn push_match(rule: &mut Vec<String>, name: &str) {
    rule.extend(["-m".to_string(), name.to_string()]);
}

impl IptablesArgs {
    fn program(&self) -> &'static str {
        match self.ip_version {
            IpVersion::Ipv4 => "iptables",
            IpVersion::Ipv6 => "ip6tables",
        }
    }

    fn chain(&self) -> String {
        self.chain.clone().unwrap_or_default()
    }

    /// The rule's words, in the order Ansible's module writes them.
    fn rule(&self) -> Vec<String> {
        let mut rule = Vec::new();
        push_param(&mut rule, &self.protocol, "-p");
        push_param(&mut rule, &self.source, "-s");
        push_param(&mut rule, &self.destination, "-d");
        for name in &self.r#match {
            push_match(&mut rule, name);
        }
        push_param(&mut rule, &self.jump, "-j");
        if self.jump.as_deref() == Some("LOG") {
            push_param(&mut rule, &self.log_prefix, "--log-prefix");
            push_param(&mut rule, &self.log_level, "--log-level");
        }
        push_param(&mut rule, &self.to_destination, "--to-destination");
        if !self.destination_ports.is_empty() {
            push_match(&mut rule, "multiport");
            rule.extend(["--dports".to_string(), self.destination_ports.join(",")]);
        }
        push_param(&mut rule, &self.to_source, "--to-source");
        push_param(&mut rule, &self.goto, "-g");
        push_param(&mut rule, &self.in_interface, "-i");
        push_param(&mut rule, &self.out_interface, "-o");
        match self.fragment {
            Some(true) => rule.push("-f".to_string()),
            Some(false) => rule.extend(["!".to_string(), "-f".to_string()]),
            None => {}
        }
        push_param(&mut rule, &self.set_counters, "-c");
        push_param(&mut rule, &self.source_port, "--source-port");
        push_param(&mut rule, &self.destination_port, "--destination-port");
        push_param(&mut rule, &self.to_ports, "--to-ports");
        push_param(&mut rule, &self.reject_with, "--reject-with");
        if !self.ctstate.is_empty() {
            if self.r#match.iter().any(|m| m == "state") {
                rule.extend(["--state".to_string(), self.ctstate.join(",")]);
            } else {
                push_match(&mut rule, "conntrack");
                rule.extend(["--ctstate".to_string(), self.ctstate.join(",")]);
            }
        }
        if let Some(comment) = self.comment.as_deref().filter(|c| !c.is_empty()) {
            if !self.r#match.iter().any(|m| m == "comment") {
                push_match(&mut rule, "comment");
            }
            rule.extend(["--comment".to_string(), comment.to_string()]);
        }
        rule
    }

    /// `iptables [-w N] -t TABLE` followed by `words`.
    fn command(&self, words: &[String]) -> Exec {
        let mut argv = vec![self.program().to_string()];
        if let Some(wait) = &self.wait {
            argv.extend(["-w".to_string(), wait.clone()]);
        }
        argv.extend(["-t".to_string(), self.table.clone()]);
        argv.extend(words.iter().cloned());
        Exec::new(argv)
    }

    fn words(&self, flag: &str, rest: &[String]) -> Vec<String> {
        let mut words = vec![flag.to_string(), self.chain()];
        words.extend(rest.iter().cloned());
        words
    }

    /// Runs a read-only command, failing clearly when the program is missing.
    async fn read(&self, host: &Host<'_>, exec: &Exec) -> Result<Output, ModuleError> {
        let output = host.transport.run(exec).await?;
        if output.rc == 127 {
            return Err(ModuleError::failed(format!(
                "`{}` was not found on the host: install the iptables package",
                self.program()
            )));
        }
        Ok(output)
    }

    async fn chain_exists(&self, host: &Host<'_>) -> Result<bool, ModuleError> {
        let output = self
            .read(host, &self.command(&self.words("-L", &[])))
            .await?;
        Ok(output.success())
    }
}

impl Module for IptablesArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let rule = self.rule();
            let finish = |plan: Plan| {
                plan.with("chain", self.chain.clone())
                    .with("flush", self.flush)
                    .with(
                        "ip_version",
                        match self.ip_version {
                            IpVersion::Ipv4 => "ipv4",
                            IpVersion::Ipv6 => "ipv6",
                        },
                    )
                    .with("rule", rule.join(" "))
                    .with("state", self.state.name())
                    .with("table", self.table.clone())
            };
            if self.flush {
                let mut words = vec!["-F".to_string()];
                words.extend(self.chain.clone());
                let target = self
                    .chain
                    .clone()
                    .unwrap_or_else(|| format!("the {} table", self.table));
                return Ok(finish(Plan::change(
                    format!("flush {target}"),
                    vec![Step::run(self.command(&words))],
                )));
            }
            let chain = self.chain();
            if let Some(policy) = &self.policy {
                let listing = self
                    .read(host, &self.command(&self.words("-L", &[])))
                    .await?;
                if !listing.success() {
                    return Err(ModuleError::failed(format!(
                        "cannot read chain {chain}: {}",
                        listing.stderr_text().trim()
                    )));
                }
                let text = listing.stdout_text();
                let current = text
                    .lines()
                    .next()
                    .and_then(|line| line.split_once("(policy "))
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .map(|word| word.trim_end_matches(')').to_string())
                    .unwrap_or_default();
                if &current == policy {
                    return Ok(finish(Plan::ok(format!(
                        "the policy of {chain} is already {policy}"
                    ))));
                }
                return Ok(finish(Plan::change(
                    format!("set the policy of {chain} to {policy}"),
                    vec![Step::run(
                        self.command(&self.words("-P", std::slice::from_ref(policy))),
                    )],
                )));
            }
            if self.chain_management && self.state == Presence::Absent && rule.is_empty() {
                if self.chain_exists(host).await? {
                    return Ok(finish(Plan::change(
                        format!("delete chain {chain}"),
                        vec![Step::run(self.command(&self.words("-X", &[])))],
                    )));
                }
                return Ok(finish(Plan::ok(format!("chain {chain} does not exist"))));
            }
            let mut steps = Vec::new();
            let mut actions = Vec::new();
            let mut chain_missing = false;
            if self.chain_management && self.state == Presence::Present {
                if !self.chain_exists(host).await? {
                    steps.push(Step::run(self.command(&self.words("-N", &[]))));
                    actions.push(format!("create chain {chain}"));
                    chain_missing = true;
                }
                if rule.is_empty() {
                    return Ok(finish(match steps.is_empty() {
                        true => Plan::ok(format!("chain {chain} exists")),
                        false => Plan::change(actions.join(", "), steps),
                    }));
                }
            }
            let present = if chain_missing {
                false
            } else {
                let check = self
                    .read(host, &self.command(&self.words("-C", &rule)))
                    .await?;
                match check.rc {
                    0 => true,
                    1 => false,
                    _ if check.stderr_text().contains("does a matching rule exist") => false,
                    _ => {
                        return Err(ModuleError::failed(format!(
                            "`{}` failed: {}",
                            crate::util::join_words(&self.command(&self.words("-C", &rule)).argv),
                            check.stderr_text().trim()
                        )))
                    }
                }
            };
            let shown = rule.join(" ");
            match (self.state, present) {
                (Presence::Present, true) => {
                    return Ok(finish(Plan::ok(format!("{chain} already has `{shown}`"))))
                }
                (Presence::Absent, false) => {
                    return Ok(finish(Plan::ok(format!("{chain} does not have `{shown}`"))))
                }
                (Presence::Present, false) => {
                    let words = match self.action {
                        Action::Append => self.words("-A", &rule),
                        Action::Insert => {
                            let mut rest: Vec<String> = self.rule_num.iter().cloned().collect();
                            rest.extend(rule.iter().cloned());
                            self.words("-I", &rest)
                        }
                    };
                    steps.push(Step::run(self.command(&words)));
                    actions.push(format!("add `{shown}` to {chain}"));
                }
                (Presence::Absent, true) => {
                    steps.push(Step::run(self.command(&self.words("-D", &rule))));
                    actions.push(format!("remove `{shown}` from {chain}"));
                }
            }
            Ok(finish(Plan::change(actions.join(", "), steps)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_rules_in_ansibles_order() {
        let args: IptablesArgs = crate::args::parse(serde_json::json!({
            "chain": "INPUT", "protocol": "tcp", "source": "!10.0.0.0/8",
            "destination_port": 6443, "ctstate": "NEW,ESTABLISHED", "jump": "ACCEPT",
            "comment": "kube api", "in_interface": "eth0"
        }))
        .unwrap();
        assert_eq!(
            args.rule().join(" "),
            "-p tcp ! -s 10.0.0.0/8 -j ACCEPT -i eth0 --destination-port 6443 -m conntrack --ctstate NEW,ESTABLISHED -m comment --comment kube api"
        );
        let error = crate::args::parse::<IptablesArgs>(
            serde_json::json!({"chain": "INPUT", "table": "filtr"}),
        )
        .unwrap_err();
        assert_eq!(
            error.path,
            vec![crate::args::PathSegment::Key("table".into())]
        );
    }
}
