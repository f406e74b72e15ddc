//! `service`: starts, stops, restarts, reloads, enables or disables a service, on hosts
//! whose init is systemd.
//!
//! Ansible's `service` picks a backend from the host's service manager; on systemd hosts
//! it runs `systemd_service` with `name`, `state` and `enabled`, and so does this module
//! (see `rplay doc systemd_service` for how it decides nothing needs doing). It checks
//! that the host's init is systemd, running or not: `/run/systemd/system` exists, or
//! `/sbin/init` is systemd (a chroot or image build, where `enabled` works and `state`
//! is refused). Other init systems are refused.
//!
//! Of the other arguments, `pattern` and `sleep` are accepted and have no effect, as with
//! Ansible on systemd (systemd tracks the service's processes and waits for a stop before
//! a start). `arguments` and `runlevel` are refused: systemd units take no command-line
//! arguments and have no runlevels, and silently dropping them (Ansible warns and drops
//! them) would run something other than what the task says.
//!
//! ```yaml
//! - name: Restart kubelet after its configuration changed
//!   service:
//!     name: kubelet
//!     state: restarted
//!     enabled: true
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::text;
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::systemd_service::{
    check_combination, check_unit_name, plan_unit, Scope, UnitRequest, UnitState,
};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "service",
    aliases: &["ansible.builtin.service", "ansible.legacy.service"],
    doc: include_str!("service.rs"),
    free_form: None,
    build: crate::registry::build::<ServiceArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceArgs {
    /// The service; a systemd unit name, `.service` optional.
    #[serde(deserialize_with = "required_name")]
    pub name: String,
    /// `started`, `stopped`, `restarted` or `reloaded`.
    #[serde(default)]
    pub state: Option<UnitState>,
    /// Whether the service starts at boot.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub enabled: Option<bool>,
    /// Run `systemctl daemon-reload` first, as Ansible's `service` does on a systemd
    /// host, where it hands its arguments to `systemd_service`.
    #[serde(
        default,
        alias = "daemon-reload",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub daemon_reload: bool,
    /// Accepted for compatibility; systemd knows whether the service runs.
    #[serde(default)]
    pub pattern: Option<Value>,
    /// Accepted for compatibility; systemd waits for the stop before the start.
    #[serde(default)]
    pub sleep: Option<Value>,
    /// Refused when set: a systemd unit takes no arguments.
    #[serde(default, alias = "args", deserialize_with = "text::deserialize")]
    pub arguments: Option<String>,
    /// Refused when set: OpenRC only.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub runlevel: Option<String>,
    /// The backend: `auto` (the default) or `systemd`; others are refused.
    #[serde(default, rename = "use", deserialize_with = "text::deserialize")]
    pub use_backend: Option<String>,
}

fn required_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    text::deserialize(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("`name` is required (it is null)"))
}

impl Args for ServiceArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.state.is_none() && self.enabled.is_none() && !self.daemon_reload {
            return Err(ArgError::new(
                "one of the following is required: state, enabled",
            ));
        }
        check_unit_name(&self.name)?;
        if self
            .arguments
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty())
        {
            return Err(ArgError::new(
                "`arguments` cannot be passed to a systemd unit: set them in the unit (a drop-in with `ExecStart=` or `Environment=`)",
            )
            .at("arguments"));
        }
        if self
            .runlevel
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
        {
            return Err(ArgError::new(
                "`runlevel` is for OpenRC; a systemd unit starts with the targets that want it (`enabled`)",
            )
            .at("runlevel"));
        }
        match self.use_backend.as_deref().map(str::trim) {
            None | Some("auto" | "systemd" | "") => {}
            Some(other) => {
                return Err(ArgError::new(format!(
                    "`use: {other}` is not supported: rplay's `service` drives systemd only"
                ))
                .at("use"))
            }
        }
        check_combination(self.state, self.enabled, None, Scope::System)
    }
}

impl Module for ServiceArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let request = UnitRequest {
                name: Some(self.name.clone()),
                state: self.state,
                enabled: self.enabled,
                daemon_reload: self.daemon_reload,
                require_systemd_init: true,
                ..UnitRequest::default()
            };
            plan_unit(host, &request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn refuses_what_systemd_cannot_do() {
        let spec = crate::registry::lookup("ansible.builtin.service").unwrap();
        assert!((spec.build)(
            json!({"name": "kubelet", "state": "started", "pattern": "kubelet", "sleep": 2})
        )
        .is_ok());
        let error = (spec.build)(json!({"name": "kubelet", "state": "started", "args": "-v"}))
            .err()
            .expect("the arguments are refused");
        assert!(
            error.to_string().contains("`arguments` cannot be passed"),
            "{error}"
        );
        let error =
            (spec.build)(json!({"name": "kubelet", "enabled": true, "runlevel": "default"}))
                .err()
                .expect("the arguments are refused");
        assert!(
            error.to_string().contains("`runlevel` is for OpenRC"),
            "{error}"
        );
        let error = (spec.build)(json!({"name": "kubelet", "state": "started", "use": "sysvinit"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("`use: sysvinit`"), "{error}");
        let error = (spec.build)(json!({"name": "kubelet"}))
            .err()
            .expect("the arguments are refused");
        assert_eq!(
            error.to_string(),
            "one of the following is required: state, enabled"
        );
        let error = (spec.build)(json!({"name": "kubelet", "state": "started", "masked": true}))
            .err()
            .expect("the arguments are refused");
        assert!(
            error.to_string().contains("unknown field `masked`"),
            "{error}"
        );
    }
}
