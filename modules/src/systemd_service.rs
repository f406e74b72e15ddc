//! `systemd_service` (also `systemd`): starts, stops, restarts, reloads, enables, disables,
//! masks and unmasks one systemd unit, and runs `daemon-reload`.
//!
//! One command reads everything: `systemctl show UNIT` (every property, returned as
//! `status` like Ansible's), `systemctl is-enabled UNIT`, whether systemd is running
//! (`/run/systemd/system`, as `sd_booted` decides) and whether an init script stands in
//! for a unit. Nothing needs doing when the unit is already masked or not, enabled or not,
//! and active (`started`) or inactive (`stopped`) as asked; `restarted` and `reloaded`
//! always act, as in Ansible (a stopped unit is started instead). `enabled: true` counts
//! an `enabled`, `static`, `generated`, `linked` or `transient` unit as enabled, but not an
//! `indirect`, `alias` or `enabled-runtime` one, as Ansible does.
//!
//! Steps come in Ansible's order: `daemon-reload`, `daemon-reexec`, `mask`/`unmask`,
//! `enable`/`disable`, then `start`/`stop`/`restart`/`reload`. `name` may leave out
//! `.service`: `systemctl` adds it.
//!
//! Where systemd is not running (a chroot or container during an image build), unit files
//! can still be enabled, disabled, masked and unmasked: `systemctl` does that offline.
//! `daemon_reload` has nothing to reload and is skipped. `state` cannot work there and is
//! refused with a message saying so; Ansible warns in a chroot and reports `ok` without
//! starting anything, or fails with "Service is in unknown state" elsewhere.
//!
//! ```yaml
//! - name: Run containerd now and at boot, with its new configuration
//!   ansible.builtin.systemd_service:
//!     name: containerd
//!     state: restarted
//!     enabled: true
//!     daemon_reload: true
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::text;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::sections::{Sections, SCRIPT_HELPERS};
use crate::transport::Exec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "systemd_service",
    aliases: &[
        "systemd",
        "ansible.builtin.systemd_service",
        "ansible.builtin.systemd",
        "ansible.legacy.systemd_service",
        "ansible.legacy.systemd",
    ],
    doc: include_str!("systemd_service.rs"),
    free_form: None,
    build: crate::registry::build::<SystemdArgs>,
};

/// What the unit should be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitState {
    /// Active; started when it is not.
    Started,
    /// Inactive; stopped when it is active, activating or deactivating.
    Stopped,
    /// Restarted every time (started when inactive).
    Restarted,
    /// Reloaded every time (started when inactive).
    Reloaded,
}

impl UnitState {
    fn name(self) -> &'static str {
        match self {
            UnitState::Started => "started",
            UnitState::Stopped => "stopped",
            UnitState::Restarted => "restarted",
            UnitState::Reloaded => "reloaded",
        }
    }
}

/// Which service manager `systemctl` talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The system's manager.
    #[default]
    System,
    /// The calling user's manager (`systemctl --user`).
    User,
    /// Every user's unit files (`systemctl --global`): enable, disable, mask only.
    Global,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdArgs {
    /// The unit; without a suffix it is a `.service`.
    #[serde(
        default,
        alias = "service",
        alias = "unit",
        deserialize_with = "text::deserialize"
    )]
    pub name: Option<String>,
    /// `started`, `stopped`, `restarted` or `reloaded`.
    #[serde(default)]
    pub state: Option<UnitState>,
    /// Whether the unit starts at boot.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub enabled: Option<bool>,
    /// Whether the unit is masked (linked to `/dev/null`, impossible to start).
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub masked: Option<bool>,
    /// Run `systemctl daemon-reload` first, even when nothing else changes.
    #[serde(
        default,
        alias = "daemon-reload",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub daemon_reload: bool,
    /// Run `systemctl daemon-reexec` first.
    #[serde(
        default,
        alias = "daemon-reexec",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub daemon_reexec: bool,
    /// `system` (the default), `user` or `global`.
    #[serde(default)]
    pub scope: Scope,
    /// Do not wait for the started or stopped job to finish (`--no-block`).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub no_block: bool,
    /// Override existing symlinks when enabling or masking (`--force`).
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub force: Option<bool>,
}

impl Args for SystemdArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.state.is_none()
            && self.enabled.is_none()
            && self.masked.is_none()
            && !self.daemon_reload
            && !self.daemon_reexec
        {
            return Err(ArgError::new(
                "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
            ));
        }
        for (key, set) in [
            ("state", self.state.is_some()),
            ("enabled", self.enabled.is_some()),
            ("masked", self.masked.is_some()),
        ] {
            if set && self.name.is_none() {
                return Err(ArgError::new(format!(
                    "missing parameter(s) required by '{key}': name"
                )));
            }
        }
        if let Some(name) = &self.name {
            check_unit_name(name)?;
        }
        check_combination(self.state, self.enabled, self.masked, self.scope)
    }
}

/// Ansible refuses glob patterns; a name starting with `-` would read as an option.
pub(crate) fn check_unit_name(name: &str) -> Result<(), ArgError> {
    for glob in ["*", "?", "["] {
        if name.contains(glob) {
            return Err(ArgError::new(format!(
                "This module does not currently support using glob patterns, found '{glob}' in service name: {name}"
            ))
            .at("name"));
        }
    }
    if name.trim().is_empty() || name.starts_with('-') || name.contains(['\n', '/']) {
        return Err(ArgError::new(format!("`{name}` is not a unit name")).at("name"));
    }
    Ok(())
}

/// Combinations that can never work, refused before any host is touched.
pub(crate) fn check_combination(
    state: Option<UnitState>,
    enabled: Option<bool>,
    masked: Option<bool>,
    scope: Scope,
) -> Result<(), ArgError> {
    if masked == Some(true) {
        if enabled == Some(true) {
            return Err(ArgError::new(
                "`masked: true` and `enabled: true` contradict each other: a masked unit cannot be enabled",
            ));
        }
        if let Some(state) = state.filter(|s| *s != UnitState::Stopped) {
            return Err(ArgError::new(format!(
                "`masked: true` and `state: {}` contradict each other: a masked unit cannot be started",
                state.name()
            )));
        }
    }
    if scope == Scope::Global && state.is_some() {
        return Err(ArgError::new(
            "`state` cannot be used with `scope: global`: no service manager runs global units (use `scope: user`)",
        )
        .at("state"));
    }
    Ok(())
}

/// What a task asks of one unit; `systemd_service` and `service` both plan through it.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitRequest {
    pub name: Option<String>,
    pub state: Option<UnitState>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    pub scope: Scope,
    pub no_block: bool,
    pub force: bool,
    /// `service`: the host's init must be systemd (running or not), not merely have
    /// `systemctl` installed.
    pub require_systemd_init: bool,
}

impl Module for SystemdArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let request = UnitRequest {
                name: self.name.clone(),
                state: self.state,
                enabled: self.enabled,
                masked: self.masked,
                daemon_reload: self.daemon_reload,
                daemon_reexec: self.daemon_reexec,
                scope: self.scope,
                no_block: self.no_block,
                force: self.force.unwrap_or(false),
                require_systemd_init: false,
            };
            plan_unit(host, &request).await
        })
    }
}

/// Reads what `plan_unit` needs in one round trip. Arguments: the unit (may be empty)
/// and the scope option (`--user`, `--global` or empty).
const READ_SCRIPT: &str = r#"
unit=$1 scope=$2
set --
[ -n "$scope" ] && set -- "$scope"
mark systemctl; command -v systemctl
mark booted; [ -d /run/systemd/system ] && echo yes
mark init; readlink -f /sbin/init; cat /proc/1/comm 2>/dev/null
mark xdg
if [ "$scope" = --user ] && [ -z "${XDG_RUNTIME_DIR-}" ]; then
  XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR; echo "$XDG_RUNTIME_DIR"
fi
if [ -n "$unit" ] && command -v systemctl >/dev/null 2>&1; then
  if [ -d /run/systemd/system ] && [ "$scope" != --global ]; then
    capture show systemctl "$@" show "$unit"
  fi
  capture is-enabled systemctl "$@" is-enabled "$unit"
  if [ -e "/etc/init.d/$unit" ]; then
    mark sysv; echo exists
    for f in /etc/rc?.d/S??"$unit"; do [ -e "$f" ] && { echo enabled; break; }; done
  fi
fi
mark end
exit 0
"#;

/// `systemctl show` output as Ansible's `parse_systemctl_show` reads it: `Key=value`
/// lines, where only `Exec…={ … }` values may span lines.
pub(crate) fn parse_show(output: &str) -> Map<String, Value> {
    let mut parsed = Map::new();
    let mut pending: Option<(String, Vec<String>)> = None;
    for line in output.split('\n') {
        if let Some((key, mut lines)) = pending.take() {
            lines.push(line.to_string());
            if line.trim_end().ends_with('}') {
                parsed.insert(key, Value::String(lines.join("\n").trim().to_string()));
            } else {
                pending = Some((key, lines));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.starts_with("Exec")
            && value.trim_start().starts_with('{')
            && !value.trim_end().ends_with('}')
        {
            pending = Some((key.to_string(), vec![value.to_string()]));
            continue;
        }
        parsed.insert(key.to_string(), Value::String(value.trim().to_string()));
    }
    parsed
}

/// systemd answers "Running in chroot, ignoring request" where it cannot act.
fn request_was_ignored(output: &str) -> bool {
    !output.contains('=')
        && (output.contains("ignoring request") || output.contains("ignoring command"))
}

/// The `is-enabled` answers that mean a unit file exists (systemctl(1)).
const UNIT_FILE_STATES: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "linked",
    "linked-runtime",
    "alias",
    "masked",
    "masked-runtime",
    "static",
    "indirect",
    "disabled",
    "generated",
    "transient",
];

/// The host's answer to the reading script.
#[derive(Debug, Default)]
pub(crate) struct UnitFacts {
    pub has_systemctl: bool,
    /// systemd runs as the init process (`/run/systemd/system` exists).
    pub booted: bool,
    /// `/sbin/init` resolved, then PID 1's command name.
    pub init: Vec<String>,
    /// `XDG_RUNTIME_DIR` the task's commands need (`--user` without one set).
    pub xdg_runtime_dir: Option<String>,
    /// `systemctl show`'s properties, when it answered.
    pub status: Option<Map<String, Value>>,
    /// Why `systemctl show` did not answer.
    pub show_error: Option<String>,
    pub is_enabled: String,
    pub is_enabled_rc: i32,
    pub sysv_script: bool,
    pub sysv_enabled: bool,
}

impl UnitFacts {
    pub(crate) fn parse(output: &str) -> UnitFacts {
        let sections = Sections::parse(output);
        let mut facts = UnitFacts {
            has_systemctl: sections.first_line("systemctl").is_some(),
            booted: sections.first_line("booted") == Some("yes"),
            init: sections
                .get("init")
                .unwrap_or_default()
                .lines()
                .map(|line| line.trim().to_string())
                .filter(|line| !line.is_empty())
                .collect(),
            xdg_runtime_dir: sections.first_line("xdg").map(str::to_string),
            is_enabled: sections
                .first_line("is-enabled")
                .unwrap_or_default()
                .to_string(),
            is_enabled_rc: sections.rc("is-enabled").unwrap_or(1),
            sysv_script: sections.has("sysv"),
            sysv_enabled: sections
                .get("sysv")
                .is_some_and(|s| s.lines().any(|l| l.trim() == "enabled")),
            ..UnitFacts::default()
        };
        if sections.has("show") {
            let out = sections.get("show").unwrap_or_default();
            let err = sections.get("show err").unwrap_or_default();
            if sections.rc("show") == Some(0)
                && !request_was_ignored(out)
                && !request_was_ignored(err)
            {
                facts.status = Some(parse_show(out));
            } else {
                facts.show_error = Some(
                    [err.trim(), out.trim()]
                        .into_iter()
                        .find(|s| !s.is_empty())
                        .unwrap_or("no output")
                        .to_string(),
                );
            }
        }
        facts
    }

    fn property(&self, key: &str) -> Option<&str> {
        self.status.as_ref()?.get(key)?.as_str()
    }

    /// systemd knows the unit: loaded, or a unit file `is-enabled` can describe.
    fn is_systemd_unit(&self) -> bool {
        self.property("LoadState").is_some_and(|s| s != "not-found")
            || UNIT_FILE_STATES.contains(&self.is_enabled.as_str())
    }

    /// Whether the host's init is systemd, running or not (Ansible's `service_mgr`).
    fn init_is_systemd(&self) -> bool {
        self.has_systemctl
            && (self.booted
                || self
                    .init
                    .iter()
                    .any(|entry| entry.rsplit('/').next() == Some("systemd") || entry == "systemd"))
    }

    /// Ansible's reading of `is-enabled` for `enabled:`.
    fn enabled(&self, scope: Scope) -> bool {
        match self.is_enabled_rc {
            0 => !matches!(
                self.is_enabled.as_str(),
                "enabled-runtime" | "indirect" | "alias"
            ),
            1 => {
                scope == Scope::System
                    && self.sysv_script
                    && !self.is_enabled.ends_with("disabled")
                    && self.sysv_enabled
            }
            _ => false,
        }
    }
}

/// `systemctl` with the task's scope and, for commands that change something,
/// `--no-block` and `--force`.
fn systemctl(request: &UnitRequest, facts: &UnitFacts, words: &[&str]) -> Exec {
    let mut argv = vec!["systemctl".to_string()];
    match request.scope {
        Scope::System => {}
        Scope::User => argv.push("--user".to_string()),
        Scope::Global => argv.push("--global".to_string()),
    }
    if request.no_block {
        argv.push("--no-block".to_string());
    }
    if request.force {
        argv.push("--force".to_string());
    }
    argv.extend(words.iter().map(|w| w.to_string()));
    let mut exec = Exec::new(argv);
    if let Some(dir) = &facts.xdg_runtime_dir {
        exec.env = vec![("XDG_RUNTIME_DIR".to_string(), dir.clone())];
    }
    exec
}

fn missing(unit: &str) -> Plan {
    Plan::fail(format!("Could not find the requested service {unit}: host"))
}

/// Plans a unit request: reads the host once, then decides each step in Ansible's order.
pub(crate) async fn plan_unit(host: &Host<'_>, request: &UnitRequest) -> Result<Plan, ModuleError> {
    let unit = request.name.as_deref().unwrap_or_default();
    let scope = match request.scope {
        Scope::System => "",
        Scope::User => "--user",
        Scope::Global => "--global",
    };
    let mut read = Exec::new([
        "sh",
        "-c",
        &format!("{SCRIPT_HELPERS}{READ_SCRIPT}"),
        "rplay-systemd",
        unit,
        scope,
    ]);
    read.env = vec![("LC_ALL".to_string(), "C".to_string())];
    let output = host.transport.run(&read).await?;
    let stdout = output.stdout_text();
    if !stdout.contains("@@rplay@@ end") {
        return Err(ModuleError::failed(format!(
            "could not read the state of {unit}: {}",
            output.stderr_text().trim()
        )));
    }
    let facts = UnitFacts::parse(&stdout);
    if !facts.has_systemctl {
        return Ok(Plan::fail(
            "Failed to find required executable \"systemctl\" on the host",
        ));
    }
    if request.require_systemd_init && !facts.init_is_systemd() {
        return Ok(Plan::fail(format!(
            "this host is not managed by systemd (init is {}); rplay's `service` drives systemd units only",
            facts.init.first().map_or("unknown", String::as_str)
        )));
    }

    let mut result = Map::new();
    result.insert(
        "name".to_string(),
        request.name.clone().map_or(Value::Null, Value::String),
    );
    result.insert(
        "status".to_string(),
        Value::Object(facts.status.clone().unwrap_or_default()),
    );
    let finish = |mut plan: Plan, result: &Map<String, Value>| {
        for (key, value) in result {
            plan.result.insert(key.clone(), value.clone());
        }
        plan
    };

    let mut steps = Vec::new();
    let mut what = Vec::new();
    let mut ok = Vec::new();
    for (asked, command) in [
        (request.daemon_reload, "daemon-reload"),
        (request.daemon_reexec, "daemon-reexec"),
    ] {
        if !asked {
            continue;
        }
        if facts.booted {
            steps.push(Step::run(systemctl(request, &facts, &[command])));
            what.push(command.to_string());
        } else {
            ok.push(format!("{command} skipped: systemd is not running"));
        }
    }

    if request.name.is_some() {
        let found = facts.is_systemd_unit() || facts.sysv_script;
        if facts.is_systemd_unit()
            && facts.property("LoadState") != Some("masked")
            && facts.property("LoadState") != Some("not-found")
        {
            if let Some(error) = facts.property("LoadError") {
                return Ok(finish(
                    Plan::fail(format!("Error loading unit file '{unit}': {error}")),
                    &result,
                ));
            }
        }

        if let Some(masked) = request.masked {
            let is_masked = facts.is_enabled == "masked";
            if is_masked == masked {
                ok.push(format!(
                    "{unit} is {}masked",
                    if masked { "" } else { "not " }
                ));
            } else {
                let action = if masked { "mask" } else { "unmask" };
                steps.push(Step::run(systemctl(request, &facts, &[action, unit])));
                what.push(format!("{action} {unit}"));
            }
        }

        if let Some(enabled) = request.enabled {
            if !found {
                return Ok(finish(missing(unit), &result));
            }
            let is_enabled = facts.enabled(request.scope);
            if is_enabled == enabled {
                ok.push(format!(
                    "{unit} is {}",
                    if enabled { "enabled" } else { "disabled" }
                ));
            } else {
                let action = if enabled { "enable" } else { "disable" };
                steps.push(Step::run(systemctl(request, &facts, &[action, unit])));
                what.push(format!("{action} {unit}"));
            }
            result.insert("enabled".to_string(), Value::Bool(enabled));
        }

        if let Some(state) = request.state {
            if !found {
                return Ok(finish(missing(unit), &result));
            }
            let Some(active) = facts.property("ActiveState").map(str::to_string) else {
                let message = if facts.booted {
                    format!(
                        "Service is in unknown state: `systemctl show {unit}` failed: {}",
                        facts.show_error.as_deref().unwrap_or("no ActiveState")
                    )
                } else {
                    format!(
                        "systemd is not running on this host (no /run/systemd/system: a chroot, \
                         a container or an image build), so {unit} cannot be {}; `enabled` and \
                         `masked` work offline, but set `state` only in a task that runs on the \
                         booted host",
                        state.name()
                    )
                };
                return Ok(finish(Plan::fail(message), &result));
            };
            let running = active == "active" || active == "activating";
            let action = match state {
                UnitState::Started if !running => Some("start"),
                UnitState::Stopped if running || active == "deactivating" => Some("stop"),
                UnitState::Restarted | UnitState::Reloaded if !running => Some("start"),
                UnitState::Restarted => Some("restart"),
                UnitState::Reloaded => Some("reload"),
                _ => None,
            };
            match action {
                Some(action) => {
                    steps.push(Step::run(systemctl(request, &facts, &[action, unit])));
                    what.push(format!("{action} {unit} (it is {active})"));
                }
                None => ok.push(format!("{unit} is {active}")),
            }
            let reported = match state {
                UnitState::Restarted | UnitState::Reloaded => "started",
                other => other.name(),
            };
            result.insert("state".to_string(), Value::String(reported.to_string()));
        }
    }

    let plan = if steps.is_empty() {
        Plan::ok(if ok.is_empty() {
            "nothing to do".to_string()
        } else {
            ok.join(", ")
        })
    } else {
        Plan::change(what.join(", then "), steps)
    };
    Ok(finish(plan, &result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn show_output_parses_like_ansible() {
        let output = "Id=containerd.service\nDescription=containerd {container runtime\n\
                      ExecStart={ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd ;\n  ignore_errors=no }\n\
                      ActiveState=active\nEnvironment=A=1 B=2\n";
        let status = parse_show(output);
        assert_eq!(status["Id"], "containerd.service");
        assert_eq!(status["Description"], "containerd {container runtime");
        assert_eq!(
            status["ExecStart"],
            "{ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd ;\n  ignore_errors=no }"
        );
        assert_eq!(status["ActiveState"], "active");
        assert_eq!(status["Environment"], "A=1 B=2");
    }

    #[test]
    fn ignored_requests_are_not_answers() {
        assert!(request_was_ignored(
            "Running in chroot, ignoring request: show"
        ));
        assert!(!request_was_ignored("Description=ignoring request"));
        assert!(!request_was_ignored(""));
    }

    #[test]
    fn enabled_follows_ansible() {
        let facts = |answer: &str, rc: i32| UnitFacts {
            is_enabled: answer.to_string(),
            is_enabled_rc: rc,
            ..UnitFacts::default()
        };
        assert!(facts("enabled", 0).enabled(Scope::System));
        assert!(facts("static", 0).enabled(Scope::System));
        assert!(!facts("indirect", 0).enabled(Scope::System));
        assert!(!facts("alias", 0).enabled(Scope::System));
        assert!(!facts("disabled", 1).enabled(Scope::System));
        assert!(!facts("masked", 1).enabled(Scope::System));
        let sysv = UnitFacts {
            is_enabled_rc: 1,
            sysv_script: true,
            sysv_enabled: true,
            ..UnitFacts::default()
        };
        assert!(sysv.enabled(Scope::System));
        assert!(!sysv.enabled(Scope::User));
    }

    #[test]
    fn arguments_are_checked_before_any_host() {
        let spec = crate::registry::lookup("ansible.builtin.systemd").unwrap();
        let error = (spec.build)(json!({"name": "cron"}))
            .err()
            .expect("the arguments are refused");
        assert_eq!(
            error.to_string(),
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
        );
        let error = (spec.build)(json!({"state": "started"}))
            .err()
            .expect("the arguments are refused");
        assert_eq!(
            error.to_string(),
            "missing parameter(s) required by 'state': name"
        );
        let error = (spec.build)(json!({"name": "kube*", "state": "started"}))
            .err()
            .expect("the arguments are refused");
        assert!(
            error.to_string().contains("glob patterns, found '*'"),
            "{error}"
        );
        let error = (spec.build)(json!({"name": "x", "state": "running"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("unknown variant"), "{error}");
        let error = (spec.build)(json!({"name": "x", "masked": true, "enabled": true}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("contradict"), "{error}");
        let error = (spec.build)(json!({"name": "x", "state": "started", "scope": "global"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("scope: global"), "{error}");
        assert!((spec.build)(json!({"daemon-reload": "yes"})).is_ok());
        assert!((spec.build)(json!({"unit": "kubelet", "enabled": "yes", "no_block": 1})).is_ok());
    }
}
