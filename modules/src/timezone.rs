//! `timezone`: sets the host's time zone (community.general's `timezone`).
//!
//! The zone is what `/etc/localtime` links to under `/usr/share/zoneinfo/`, and Debian
//! also names it in `/etc/timezone`; nothing needs doing when both already name the
//! wanted zone. Otherwise the link is replaced and `/etc/timezone` rewritten, which is
//! what `timedatectl set-timezone` does, and works as well in a chroot or an image build
//! where no systemd runs. A zone that `/usr/share/zoneinfo` lacks is an error.
//!
//! ```yaml
//! - name: Nodes keep UTC
//!   community.general.timezone:
//!     name: Etc/UTC
//! ```

use crate::args::Args;
use crate::file::text;
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "timezone",
    aliases: &["community.general.timezone"],
    doc: include_str!("timezone.rs"),
    free_form: None,
    build: crate::registry::build::<TimezoneArgs>,
};

const ZONEINFO: &str = "/usr/share/zoneinfo/";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimezoneArgs {
    /// The zone, as named under `/usr/share/zoneinfo` (`Europe/Berlin`, `Etc/UTC`).
    #[serde(default, deserialize_with = "text::deserialize")]
    pub name: Option<String>,
    /// Refused when set: the hardware clock's mode is left as it is.
    #[serde(default, deserialize_with = "text::deserialize")]
    pub hwclock: Option<String>,
}

impl Args for TimezoneArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.hwclock.is_some() {
            return Err(ArgError::new(
                "`hwclock` is not supported: rplay sets the zone only; set the hardware clock with `command: timedatectl set-local-rtc`",
            )
            .at("hwclock"));
        }
        let Some(name) = self.name.as_deref() else {
            return Err(ArgError::new("`name` is required"));
        };
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|part| part == "..") {
            return Err(ArgError::new(format!(
                "`{name}` is not a time zone name (one like `Europe/Berlin`)"
            ))
            .at("name"));
        }
        Ok(())
    }
}

impl Module for TimezoneArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let name = self.name.as_deref().unwrap_or_default();
            let zone_file = format!("{ZONEINFO}{name}");
            let exists = transport
                .run(&Exec::new(["test", "-f", zone_file.as_str()]))
                .await?;
            if !exists.success() {
                return Ok(Plan::fail(format!(
                    "given timezone \"{name}\" is not available on this host ({zone_file} is missing)"
                )));
            }
            let link = transport
                .run(&Exec::new(["readlink", "/etc/localtime"]))
                .await?;
            let current = link
                .stdout_text()
                .trim()
                .rsplit_once("zoneinfo/")
                .map(|(_, zone)| zone.to_string())
                .unwrap_or_default();
            let named = transport
                .get("/etc/timezone")
                .await?
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string());
            let diff = |before: &str| Diff {
                path: "timezone".to_string(),
                before: format!("name: {before}\n"),
                after: format!("name: {name}\n"),
            };
            let named_right = named.as_deref().is_none_or(|zone| zone == name);
            if current == name && named_right {
                return Ok(Plan::ok(format!("the time zone is already {name}")));
            }
            let mut steps = Vec::new();
            if current != name {
                steps.push(Step::run(Exec::new([
                    "ln",
                    "-sfn",
                    zone_file.as_str(),
                    "/etc/localtime",
                ])));
            }
            if !named_right || (named.is_some() && current != name) {
                steps.push(Step::write(
                    "/etc/timezone",
                    format!("{name}\n"),
                    FileAttrs {
                        mode: Some(0o644),
                        ..FileAttrs::default()
                    },
                ));
            }
            let before = if current.is_empty() {
                "unknown"
            } else {
                current.as_str()
            };
            Ok(
                Plan::change(format!("set the time zone from {before} to {name}"), steps)
                    .with_diff(diff(before)),
            )
        })
    }
}
