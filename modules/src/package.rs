//! `package`: installs or removes packages with the host's package manager, which rplay
//! supports on Debian and its derivatives only (through the `apt` module).
//!
//! With `use: auto` (the default) the host is asked first: `/usr/bin/apt-get` or
//! `/etc/debian_version` make it an apt host; on any other the task fails and names the
//! manager found (dnf, zypper, apk…). With `use: apt` the question is skipped. Every other
//! argument goes to `apt` as it is (`update_cache`, `install_recommends`…), as Ansible's
//! `package` hands its arguments to the backend module; nothing needs doing exactly when
//! `apt` finds nothing to do.
//!
//! ```yaml
//! - name: Tools every node needs
//!   package:
//!     name: [curl, gpg, socat, conntrack]
//!     state: present
//! ```

use crate::apt::AptArgs;
use crate::args::{self, ArgError};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde_json::Value;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "package",
    aliases: &["ansible.builtin.package", "ansible.legacy.package"],
    doc: include_str!("package.rs"),
    free_form: None,
    build,
};

/// The package module: which manager to use, and the arguments for it.
pub struct PackageArgs {
    /// `use: apt` given: no need to ask the host.
    pub apt_named: bool,
    pub apt: AptArgs,
}

fn build(value: Value) -> Result<Box<dyn Module>, ArgError> {
    let Value::Object(mut map) = value else {
        return Err(ArgError::new("`package` takes a mapping of arguments"));
    };
    let manager = match map.remove("use") {
        None | Some(Value::Null) => "auto".to_string(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    let apt_named = match manager.as_str() {
        "auto" => false,
        "apt" | "ansible.builtin.apt" | "ansible.legacy.apt" => true,
        other => {
            return Err(ArgError::new(format!(
                "package manager `{other}` is not supported (rplay's `package` uses apt)"
            ))
            .at("use"))
        }
    };
    // Ansible's `package` requires both; `apt` alone would default the state.
    if !["name", "pkg", "package"]
        .iter()
        .any(|key| map.contains_key(*key))
    {
        return Err(ArgError::new("missing required arguments: name"));
    }
    if !map.contains_key("state") {
        return Err(ArgError::new("missing required arguments: state"));
    }
    let apt = args::parse::<AptArgs>(Value::Object(map))?;
    Ok(Box::new(PackageArgs { apt_named, apt }))
}

/// Prints `apt` on a Debian-like host, else the first other manager found.
const DETECT: &str = r#"if [ -x /usr/bin/apt-get ] || [ -e /etc/debian_version ]; then echo apt; exit 0; fi
for manager in dnf yum zypper apk pacman emerge pkg; do
  if command -v "$manager" >/dev/null 2>&1; then echo "$manager"; exit 0; fi
done
echo unknown
"#;

impl Module for PackageArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            if !self.apt_named {
                let output = host
                    .transport
                    .run(&Exec::new(["sh", "-c", DETECT, "rplay-package-detect"]))
                    .await?;
                let found = output.stdout_text().trim().to_string();
                if found != "apt" {
                    return Ok(Plan::fail(format!(
                        "package: the package manager of this host ({found}) is not supported \
                         on this host; rplay manages packages with apt only"
                    )));
                }
            }
            self.apt.plan(host).await
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn takes_apt_arguments_and_refuses_other_managers() {
        let spec = crate::registry::lookup("ansible.builtin.package").unwrap();
        assert!((spec.build)(json!({"name": "curl", "state": "present"})).is_ok());
        assert!((spec.build)(
            json!({"name": ["curl"], "state": "latest", "use": "apt", "update_cache": true})
        )
        .is_ok());
        let error = (spec.build)(json!({"name": "curl", "state": "present", "use": "dnf"}))
            .err()
            .unwrap();
        assert!(error.message.contains("`dnf` is not supported"), "{error}");
        let error = (spec.build)(json!({"name": "curl"})).err().unwrap();
        assert_eq!(error.message, "missing required arguments: state");
        let error = (spec.build)(json!({"name": "curl", "state": "present", "colour": 1}))
            .err()
            .unwrap();
        assert_eq!(error.message, "unknown field `colour`");
    }

    #[tokio::test]
    async fn detects_apt_on_this_debian_machine() {
        let fixture = crate::testing::Fixture::new();
        let (plan, commands) = fixture
            .plan_counting("package", json!({"name": "dpkg", "state": "present"}))
            .await;
        let plan = plan.unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(commands, 2, "the detection, then apt's dpkg-query");
    }
}
