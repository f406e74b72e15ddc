//! `sysctl`: sets a kernel parameter in a sysctl file and, when asked, in the running
//! kernel.
//!
//! The file (`sysctl_file`, `/etc/sysctl.conf` by default) is read and parsed as procps
//! reads it: `key = value` or `key=value` lines, comments starting with `#` or `;`, a
//! later line winning over an earlier one. Keys written with `/` and with `.` are the
//! same key (`net/ipv4/ip_forward` is `net.ipv4.ip_forward`), and values are compared
//! word by word, so `32768    60999` equals `32768 60999`.
//!
//! Nothing needs doing when the file already holds the value (or, with `state: absent`,
//! does not mention the key) and, where the running kernel matters, `sysctl -n` reads the
//! same value: with `reload` (the default) a file that is right but not applied is
//! applied, and with `sysctl_set` the live value is set with `sysctl -w`. Following
//! ansible.posix, any change with `reload` ends with `sysctl -p FILE`.
//!
//! The file is edited, not rewritten: the key's first line gets the new value (keeping
//! its spelling and spacing), later lines for the same key are removed, a missing key is
//! appended as `key=value`, and every other line stays as it was. The file is created when
//! missing; a symlinked file is edited through the link.
//!
//! ```yaml
//! - name: Let the node route pod traffic
//!   sysctl:
//!     name: net.ipv4.ip_forward
//!     value: "1"
//!     sysctl_file: /etc/sysctl.d/99-kubernetes.conf
//!     sysctl_set: true
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::{text, text_diff};
use crate::group::Presence;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "sysctl",
    aliases: &[
        "ansible.posix.sysctl",
        "ansible.builtin.sysctl",
        "ansible.legacy.sysctl",
    ],
    doc: include_str!("sysctl.rs"),
    free_form: None,
    build: crate::registry::build::<SysctlArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlArgs {
    /// The parameter, dotted (`net.ipv4.ip_forward`) or as a path (`net/ipv4/ip_forward`).
    #[serde(alias = "key", deserialize_with = "required_text")]
    pub name: String,
    /// The value; booleans and `yes`/`no`/`on`/`off` become `1`/`0`, as in Ansible.
    /// Required with `state: present`.
    #[serde(default, alias = "val", deserialize_with = "sysctl_value")]
    pub value: Option<String>,
    /// `present` puts the value in the file, `absent` removes the key's lines from it.
    #[serde(default)]
    pub state: Presence,
    /// After a change, apply the file with `sysctl -p FILE`; also applies a file that
    /// holds the value while the kernel does not.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub reload: bool,
    /// The file to edit; created when missing.
    #[serde(default = "default_file", deserialize_with = "required_text")]
    pub sysctl_file: String,
    /// Also set the running kernel's value with `sysctl -w` when it differs.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub sysctl_set: bool,
    /// Pass `-e` to `sysctl`, so unknown keys are not errors.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub ignoreerrors: bool,
}

fn yes() -> bool {
    true
}

fn default_file() -> String {
    "/etc/sysctl.conf".to_string()
}

fn required_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text::deserialize(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("a value is required (it is null)"))
}

/// Ansible's `_parse_value`: the argument is a string, except that its boolean
/// spellings become `1` and `0`; surrounding whitespace goes.
fn sysctl_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(text::deserialize(deserializer)?.map(|value| normalise_value(&value)))
}

fn normalise_value(value: &str) -> String {
    match value.to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => "1".to_string(),
        "n" | "no" | "off" | "0" | "false" | "f" => "0".to_string(),
        _ => value.trim().to_string(),
    }
}

impl Args for SysctlArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.name.trim().is_empty() {
            return Err(ArgError::new("name cannot be blank").at("name"));
        }
        if self.name.contains(['\n', '=']) {
            return Err(ArgError::new("`name` cannot contain `=` or a newline").at("name"));
        }
        match (&self.value, self.state) {
            (None, Presence::Present) => Err(ArgError::new(
                "state is present but all of the following are missing: value",
            )),
            (Some(value), Presence::Present) if value.is_empty() => {
                Err(ArgError::new("value cannot be blank").at("value"))
            }
            (Some(value), _) if value.contains('\n') => {
                Err(ArgError::new("`value` cannot contain a newline").at("value"))
            }
            _ => Ok(()),
        }
    }
}

/// A key as the kernel knows it: dotted, with a leading `-` (procps's "ignore errors on
/// this line") dropped. A key whose first separator is `/` is a path, where a `.` is part
/// of a name (`net/ipv4/conf/eth0.100/forwarding`); swapping the two separators gives the
/// dotted form (`net.ipv4.conf.eth0/100.forwarding`), as `sysctl` itself does.
pub(crate) fn canonical_key(key: &str) -> String {
    let key = key.trim();
    let key = key.strip_prefix('-').unwrap_or(key).trim_start();
    match key.find(['.', '/']) {
        Some(at) if key.as_bytes()[at] == b'/' => key
            .trim_start_matches('/')
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                other => other,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// Values are equal when their words are (the kernel separates them with tabs, files
/// with any spacing).
pub(crate) fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// One `key = value` line of a sysctl file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting {
    /// Index of the line in the file.
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// The lines of a sysctl file that set something, in order (comments, blank lines and
/// lines without `=` set nothing).
pub(crate) fn settings(content: &str) -> Vec<Setting> {
    content
        .lines()
        .enumerate()
        .filter_map(|(line, text)| {
            let text = text.trim();
            if text.is_empty() || text.starts_with(['#', ';']) {
                return None;
            }
            let (key, value) = text.split_once('=')?;
            Some(Setting {
                line,
                key: key.trim().to_string(),
                value: value.trim().to_string(),
            })
        })
        .collect()
}

/// The value the file gives `key`: its last line for that key wins.
pub(crate) fn file_value(content: &str, key: &str) -> Option<String> {
    let key = canonical_key(key);
    settings(content)
        .into_iter()
        .rfind(|setting| canonical_key(&setting.key) == key)
        .map(|setting| setting.value)
}

/// The file with `key` set to `value` (`None`: removed). The key's first line keeps its
/// place and spelling, later lines for it go, a new key is appended as `key=value`.
pub(crate) fn edit(content: &str, key: &str, value: Option<&str>) -> String {
    let wanted = canonical_key(key);
    let matching: Vec<usize> = settings(content)
        .into_iter()
        .filter(|setting| canonical_key(&setting.key) == wanted)
        .map(|setting| setting.line)
        .collect();
    let mut lines: Vec<String> = Vec::new();
    for (index, line) in content.split_inclusive('\n').enumerate() {
        if !matching.contains(&index) {
            lines.push(line.to_string());
            continue;
        }
        if index != matching[0] {
            continue;
        }
        if let Some(value) = value {
            let body = line.trim_end_matches(['\n', '\r']);
            let ending = &line[body.len()..];
            let equals = body.find('=').map_or(body.len(), |at| at + 1);
            let spaces = body[equals..].len() - body[equals..].trim_start().len();
            let ending = if ending.is_empty() { "\n" } else { ending };
            lines.push(format!("{}{value}{ending}", &body[..equals + spaces]));
        }
    }
    let mut edited = lines.concat();
    if matching.is_empty() {
        if let Some(value) = value {
            if !edited.is_empty() && !edited.ends_with('\n') {
                edited.push('\n');
            }
            edited.push_str(&format!("{}={value}\n", key.trim()));
        }
    }
    edited
}

impl SysctlArgs {
    fn sysctl(&self, arguments: &[&str]) -> Exec {
        let mut argv = vec!["sysctl".to_string()];
        if self.ignoreerrors {
            argv.push("-e".to_string());
        }
        argv.extend(arguments.iter().map(|a| a.to_string()));
        let mut exec = Exec::new(argv);
        // sysctl's messages are read by people and matched by nothing here, but keep them
        // in one language across hosts, as Ansible does.
        exec.env = vec![("LC_ALL".to_string(), "C".to_string())];
        exec
    }

    /// The running kernel's value, as `sysctl -e -n` prints it; `None` when it cannot be
    /// read (Ansible's `get_token_curr_value`).
    async fn live_value(&self, host: &Host<'_>) -> Result<Option<String>, ModuleError> {
        let mut exec = Exec::new(["sysctl", "-e", "-n", self.name.trim()]);
        exec.env = vec![("LC_ALL".to_string(), "C".to_string())];
        let output = host.transport.run(&exec).await?;
        Ok(output.success().then(|| output.stdout_text()))
    }

    /// Where the file really is: a symlink is followed, so the link stays a link.
    async fn write_target(&self, host: &Host<'_>) -> Result<String, ModuleError> {
        let output = host
            .transport
            .run(&Exec::new(["readlink", "-f", "--", &self.sysctl_file]))
            .await?;
        let target = output.stdout_text().trim_end_matches('\n').to_string();
        Ok(if output.success() && !target.is_empty() {
            target
        } else {
            self.sysctl_file.clone()
        })
    }
}

impl Module for SysctlArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let name = self.name.trim();
            let file = &self.sysctl_file;
            let before = match host.transport.get(file).await? {
                Some(bytes) => String::from_utf8(bytes).map_err(|_| {
                    ModuleError::failed(format!("Failed to open {file}: it is not UTF-8 text"))
                })?,
                None => String::new(),
            };
            let in_file = file_value(&before, name);
            let present = self.state == Presence::Present;
            let wanted = self.value.as_deref().unwrap_or_default();

            // Ansible's decision, step by step: the file first, then (with `reload`) a
            // file that is right but not applied, then (with `sysctl_set`) the live value.
            let mut write_file = false;
            let mut changed = false;
            let mut set_live = false;
            let mut live: Option<Option<String>> = None;
            match (&in_file, present) {
                (None, true) => write_file = true,
                (None, false) => {}
                (Some(_), false) => write_file = true,
                (Some(current), true) if !same_value(current, wanted) => write_file = true,
                (Some(_), true) if self.reload => {
                    let value = self.live_value(host).await?;
                    changed = !value.as_deref().is_some_and(|v| same_value(v, wanted));
                    live = Some(value);
                }
                (Some(_), true) => {}
            }
            changed |= write_file;
            if self.sysctl_set && present {
                let value = match live.take() {
                    Some(value) => value,
                    None => self.live_value(host).await?,
                };
                match &value {
                    None => changed = true,
                    Some(v) if !same_value(v, wanted) => {
                        changed = true;
                        set_live = true;
                    }
                    Some(_) => {}
                }
                live = Some(value);
            }
            let live_text = |live: &Option<Option<String>>| match live {
                Some(Some(value)) => value.split_whitespace().collect::<Vec<_>>().join(" "),
                Some(None) => "unreadable".to_string(),
                None => String::new(),
            };

            if !changed {
                let reason = match (present, &live) {
                    (false, _) => format!("{name} is not set in {file}"),
                    (true, None) => format!("{name} is already {wanted} in {file}"),
                    (true, Some(_)) => {
                        format!("{name} is already {wanted} in {file} and in the running kernel")
                    }
                };
                return Ok(Plan::ok(reason));
            }

            let mut steps = Vec::new();
            let mut what = Vec::new();
            if set_live {
                steps.push(Step::run(self.sysctl(&["-w", &format!("{name}={wanted}")])));
                what.push(format!(
                    "set {name} to {wanted} in the running kernel (it is {})",
                    live_text(&live)
                ));
            }
            let mut diffs = Vec::new();
            if write_file {
                let after = edit(&before, name, present.then_some(wanted));
                let target = self.write_target(host).await?;
                what.push(match &in_file {
                    None => format!("add {name}={wanted} to {file}"),
                    Some(old) if present => {
                        format!("change {name} from {old} to {wanted} in {file}")
                    }
                    Some(_) => format!("remove {name} from {file}"),
                });
                diffs.extend(text_diff(file, before.as_bytes(), after.as_bytes()));
                steps.push(Step::write(target, after, FileAttrs::default()));
            } else if !set_live && present {
                what.push(format!(
                    "{name} is {wanted} in {file} but {} in the running kernel",
                    live_text(&live)
                ));
            }
            if self.reload {
                steps.push(Step::run(self.sysctl(&["-p", file])));
                what.push(format!("apply {file}"));
            }
            let mut plan = Plan::change(what.join(", then "), steps);
            // With neither reload nor a readable live value, Ansible still says changed.
            plan.changed = true;
            for diff in diffs {
                plan = plan.with_diff(diff);
            }
            Ok(plan)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::json;

    #[test]
    fn keys_with_slashes_are_dotted_keys() {
        assert_eq!(canonical_key("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            canonical_key(" net.ipv4.ip_forward "),
            "net.ipv4.ip_forward"
        );
        assert_eq!(
            canonical_key("net/ipv4/conf/eth0.100/forwarding"),
            canonical_key("net.ipv4.conf.eth0/100.forwarding")
        );
        assert_eq!(canonical_key("-kernel.panic"), "kernel.panic");
    }

    #[test]
    fn values_compare_word_by_word() {
        assert!(same_value("32768    60999", "32768 60999"));
        assert!(same_value("32768\t60999\n", "32768 60999"));
        assert!(!same_value("32768 60999", "32768 60998"));
        assert!(!same_value("1", "1 0"));
    }

    #[test]
    fn value_spellings_follow_ansible() {
        assert_eq!(normalise_value("yes"), "1");
        assert_eq!(normalise_value("True"), "1");
        assert_eq!(normalise_value("off"), "0");
        assert_eq!(normalise_value(" 5 "), "5");
        assert_eq!(normalise_value("1.0"), "1.0");
        let spec = crate::registry::lookup("ansible.posix.sysctl").unwrap();
        assert!((spec.build)(json!({"name": "vm.swappiness", "value": true})).is_ok());
        assert!((spec.build)(json!({"key": "vm.swappiness", "val": 10})).is_ok());
    }

    #[test]
    fn parses_files_as_procps_does() {
        let content = "# comment\n; other\nnet.ipv4.ip_forward = 0\nbad line\n\
                       kernel.panic=10\nnet/ipv4/ip_forward=1\n";
        assert_eq!(
            file_value(content, "net.ipv4.ip_forward"),
            Some("1".to_string())
        );
        assert_eq!(file_value(content, "kernel.panic"), Some("10".to_string()));
        assert_eq!(file_value(content, "vm.swappiness"), None);
        assert_eq!(
            file_value("#net.ipv4.ip_forward=1\n", "net.ipv4.ip_forward"),
            None
        );
    }

    #[test]
    fn edits_keep_the_rest_of_the_file() {
        let content =
            "# keep me\nnet.ipv4.ip_forward = 0\nvm.swappiness=5\nnet/ipv4/ip_forward=0\n";
        assert_eq!(
            edit(content, "net.ipv4.ip_forward", Some("1")),
            "# keep me\nnet.ipv4.ip_forward = 1\nvm.swappiness=5\n"
        );
        assert_eq!(
            edit(content, "net.ipv4.ip_forward", None),
            "# keep me\nvm.swappiness=5\n"
        );
        assert_eq!(edit("a=1", "b.c", Some("2")), "a=1\nb.c=2\n");
        assert_eq!(edit("", "b.c", Some("2")), "b.c=2\n");
        assert_eq!(edit("b.c=1", "b.c", Some("2")), "b.c=2\n");
    }

    #[test]
    fn refuses_missing_or_blank_values() {
        let spec = crate::registry::lookup("sysctl").unwrap();
        let error = (spec.build)(json!({"name": "vm.swappiness"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("missing: value"), "{error}");
        let error = (spec.build)(json!({"name": "vm.swappiness", "value": ""}))
            .err()
            .expect("the arguments are refused");
        assert_eq!(error.to_string(), "value cannot be blank");
        let error = (spec.build)(json!({"name": " ", "value": "1"}))
            .err()
            .expect("the arguments are refused");
        assert_eq!(error.to_string(), "name cannot be blank");
        assert!((spec.build)(json!({"name": "vm.swappiness", "state": "absent"})).is_ok());
        let error = (spec.build)(json!({"name": "a", "value": "1", "vaule": 1}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    // The file alone (`reload: false`, no `sysctl_set`) can be exercised on this machine
    // without touching its kernel.

    #[tokio::test]
    async fn creates_the_file_then_changes_nothing() {
        let fx = Fixture::new();
        let path = fx.path("99-kubernetes.conf");
        let args = json!({"name": "net.ipv4.ip_forward", "value": 1, "sysctl_file": path, "reload": false});
        let plan = fx.converge("sysctl", args).await;
        assert_eq!(fx.read("99-kubernetes.conf"), b"net.ipv4.ip_forward=1\n");
        assert_eq!(plan.diffs.len(), 1);
        assert_eq!(plan.diffs[0].before, "");
    }

    #[tokio::test]
    async fn edits_an_existing_file_in_place_and_keeps_its_mode() {
        let fx = Fixture::new();
        let path = fx.write(
            "k.conf",
            b"# k8s\nnet.ipv4.ip_local_port_range = 1024 2048\nvm.swappiness=0\n",
            0o600,
        );
        fx.converge(
            "sysctl",
            json!({"key": "net/ipv4/ip_local_port_range", "val": "32768    60999", "sysctl_file": path, "reload": "no"}),
        )
        .await;
        assert_eq!(
            fx.read("k.conf"),
            b"# k8s\nnet.ipv4.ip_local_port_range = 32768    60999\nvm.swappiness=0\n"
        );
        assert_eq!(fx.mode("k.conf"), 0o600);
        // Spacing alone is no difference.
        let plan = fx
            .plan(
                "sysctl",
                json!({"name": "net.ipv4.ip_local_port_range", "value": "32768 60999", "sysctl_file": path, "reload": false}),
            )
            .await
            .unwrap();
        assert!(!plan.is_change(), "{plan:?}");
    }

    #[tokio::test]
    async fn absent_removes_every_line_of_the_key_through_a_symlink() {
        let fx = Fixture::new();
        fx.write("real.conf", b"a.b=1\nc.d=2\na/b=3\n", 0o644);
        std::os::unix::fs::symlink(fx.path("real.conf"), fx.path("link.conf")).unwrap();
        fx.converge(
            "sysctl",
            json!({"name": "a.b", "state": "absent", "sysctl_file": fx.path("link.conf"), "reload": false}),
        )
        .await;
        assert_eq!(fx.read("real.conf"), b"c.d=2\n");
        assert!(std::fs::symlink_metadata(fx.path("link.conf"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
