//! `modprobe`: loads or unloads a kernel module and, with `persistent`, makes that last
//! across reboots.
//!
//! One command reads `/proc/modules`, the running kernel's `modules.builtin` and, when
//! `persistent` is set, every file in `/etc/modules-load.d` and `/etc/modprobe.d`. A
//! module is loaded when `/proc/modules` lists it (`-` and `_` are the same character in
//! module names: `br-netfilter` is `br_netfilter`) or when it is built into the kernel, as
//! community.general decides. Nothing needs doing when the module is loaded (or not) as
//! `state` asks and, with `persistent: present`, a file in `/etc/modules-load.d` names it
//! and the `options NAME …` lines in `/etc/modprobe.d` hold exactly `params`; with
//! `persistent: absent`, when no such line is left uncommented.
//!
//! Loading runs `modprobe NAME PARAMS…`, `params` split into words as a shell would;
//! unloading runs `modprobe -r NAME`. `persistent: present` writes
//! `/etc/modules-load.d/NAME.conf` (the module's name) and, when `params` is set,
//! `/etc/modprobe.d/NAME.conf` (one `options NAME PARAM` line per parameter), commenting
//! out other `options NAME` lines; `persistent: absent` comments out the lines that load
//! the module or set its options.
//!
//! ```yaml
//! - name: Bridged traffic goes through iptables, now and after reboots
//!   community.general.modprobe:
//!     name: br_netfilter
//!     state: present
//!     persistent: present
//! ```

use crate::args::Args;
use crate::file::{text, text_diff};
use crate::group::Presence;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::sections::{Sections, SCRIPT_HELPERS};
use crate::transport::{Exec, FileAttrs};
use crate::util::split_words;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use std::collections::BTreeSet;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "modprobe",
    aliases: &[
        "community.general.modprobe",
        "ansible.builtin.modprobe",
        "ansible.legacy.modprobe",
    ],
    doc: include_str!("modprobe.rs"),
    free_form: None,
    build: crate::registry::build::<ModprobeArgs>,
};

/// What to do about the files that load the module at boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Persistence {
    /// Leave `/etc/modules-load.d` and `/etc/modprobe.d` alone.
    #[default]
    Disabled,
    Present,
    Absent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModprobeArgs {
    /// The kernel module.
    pub name: String,
    /// `present` loads the module, `absent` unloads it.
    #[serde(default)]
    pub state: Presence,
    /// Module parameters, `key=value` words (`numdummies=2`), passed to `modprobe` and,
    /// with `persistent: present`, written as `options` lines.
    #[serde(default, deserialize_with = "params")]
    pub params: String,
    /// `present` loads the module at boot with `params`; `absent` comments out what would;
    /// `disabled` (the default) leaves those files alone.
    #[serde(default)]
    pub persistent: Persistence,
}

fn params<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(text::deserialize(deserializer)?.unwrap_or_default())
}

impl Args for ModprobeArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.name.is_empty()
            || self
                .name
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == '#' || c == ';')
        {
            return Err(
                ArgError::new(format!("`{}` is not a kernel module name", self.name)).at("name"),
            );
        }
        split_words(&self.params)
            .map(|_| ())
            .map_err(|e| ArgError::new(format!("cannot split `params`: {e}")).at("params"))
    }
}

/// Where the persistent configuration lives; tests point these into a scratch directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub modules_load_dir: String,
    pub modprobe_dir: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            modules_load_dir: "/etc/modules-load.d".to_string(),
            modprobe_dir: "/etc/modprobe.d".to_string(),
        }
    }
}

/// Reads the loaded modules, the kernel's built-in modules and, when asked, the files of
/// the two configuration directories. Arguments: whether to read the directories, then
/// the two directories.
const READ_SCRIPT: &str = r#"
with_files=$1 load_dir=$2 options_dir=$3
mark modules; cat /proc/modules
mark builtin; cat "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null
if [ "$with_files" = yes ]; then
  for f in "$load_dir"/*; do [ -f "$f" ] && { mark "load $f"; cat "$f"; }; done
  for f in "$options_dir"/*; do [ -f "$f" ] && { mark "options $f"; cat "$f"; }; done
fi
mark end
exit 0
"#;

/// Module names treat `-` and `_` alike.
fn same_module(a: &str, b: &str) -> bool {
    a.replace('-', "_") == b.replace('-', "_")
}

/// Whether `/proc/modules` lists the module.
pub(crate) fn is_loaded(proc_modules: &str, name: &str) -> bool {
    proc_modules
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .any(|loaded| same_module(loaded, name))
}

/// Whether `modules.builtin` lists the module (`kernel/net/bridge/br_netfilter.ko`).
pub(crate) fn is_builtin(modules_builtin: &str, name: &str) -> bool {
    modules_builtin.lines().any(|line| {
        let file = line.trim_end().rsplit('/').next().unwrap_or_default();
        file.strip_suffix(".ko")
            .is_some_and(|module| same_module(module, name))
    })
}

/// A line without its `#` or `;` comment, trimmed.
fn uncommented(line: &str) -> &str {
    line.split(['#', ';']).next().unwrap_or_default().trim()
}

/// Whether a `modules-load.d` line loads the module.
fn loads(line: &str, name: &str) -> bool {
    let body = uncommented(line);
    !body.is_empty() && same_module(body, name)
}

/// The parameters an `options NAME a=1 b=2` line sets for the module, if it is one.
fn options_of<'l>(line: &'l str, name: &str) -> Option<Vec<&'l str>> {
    let mut words = uncommented(line).split_whitespace();
    if words.next() != Some("options") || !words.next().is_some_and(|m| same_module(m, name)) {
        return None;
    }
    Some(words.collect())
}

/// A file of one of the two directories, as read.
#[derive(Debug, Clone)]
struct ConfigFile {
    path: String,
    content: String,
}

impl ConfigFile {
    /// The file with every line that `matches` commented out (`#` in front, as Ansible
    /// does), or `None` when no line matches.
    fn commented(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        let mut changed = false;
        let content = self
            .content
            .split_inclusive('\n')
            .map(|line| {
                if matches(line) {
                    changed = true;
                    format!("#{line}")
                } else {
                    line.to_string()
                }
            })
            .collect();
        changed.then_some(content)
    }
}

/// What the host has, as the reading script printed it.
#[derive(Debug, Default)]
struct Current {
    loaded: bool,
    load_files: Vec<ConfigFile>,
    options_files: Vec<ConfigFile>,
}

impl Current {
    fn parse(output: &str, name: &str) -> Current {
        let sections = Sections::parse(output);
        let loaded = is_loaded(sections.get("modules").unwrap_or_default(), name)
            || is_builtin(sections.get("builtin").unwrap_or_default(), name);
        let files = |prefix: &str| {
            sections
                .with_prefix(prefix)
                .map(|(path, content)| ConfigFile {
                    path: path.to_string(),
                    content: content.to_string(),
                })
                .collect()
        };
        Current {
            loaded,
            load_files: files("load "),
            options_files: files("options "),
        }
    }

    fn loaded_at_boot(&self, name: &str) -> bool {
        self.load_files
            .iter()
            .any(|file| file.content.lines().any(|line| loads(line, name)))
    }

    fn boot_params(&self, name: &str) -> BTreeSet<String> {
        self.options_files
            .iter()
            .flat_map(|file| file.content.lines())
            .filter_map(|line| options_of(line, name))
            .flatten()
            .map(str::to_string)
            .collect()
    }
}

impl ModprobeArgs {
    pub(crate) async fn plan_with(
        &self,
        host: &Host<'_>,
        layout: &Layout,
    ) -> Result<Plan, ModuleError> {
        let name = &self.name;
        let with_files = self.persistent != Persistence::Disabled;
        let mut read = Exec::new([
            "sh",
            "-c",
            &format!("{SCRIPT_HELPERS}{READ_SCRIPT}"),
            "rplay-modprobe",
            if with_files { "yes" } else { "no" },
            &layout.modules_load_dir,
            &layout.modprobe_dir,
        ]);
        read.env = vec![("LC_ALL".to_string(), "C".to_string())];
        let output = host.transport.run(&read).await?;
        let stdout = output.stdout_text();
        if !output.success() || !stdout.contains("@@rplay@@ end") {
            return Err(ModuleError::failed(format!(
                "could not read the kernel modules: {}",
                output.stderr_text().trim()
            )));
        }
        let current = Current::parse(&stdout, name);

        let mut steps = Vec::new();
        let mut what = Vec::new();
        let mut diffs = Vec::new();
        let mut ok = Vec::new();
        match (self.state, current.loaded) {
            (Presence::Present, false) => {
                let mut argv = vec!["modprobe".to_string(), name.clone()];
                argv.extend(split_words(&self.params).map_err(ModuleError::Failed)?);
                steps.push(Step::run(Exec::new(argv)));
                what.push(format!("load {name}"));
            }
            (Presence::Absent, true) => {
                steps.push(Step::run(Exec::new(["modprobe", "-r", name.as_str()])));
                what.push(format!("unload {name}"));
            }
            (Presence::Present, true) => ok.push(format!("{name} is loaded")),
            (Presence::Absent, false) => ok.push(format!("{name} is not loaded")),
        }

        // Files to write: path, content before, content after, and why.
        let mut writes: Vec<(String, String, String, String)> = Vec::new();
        let mut write = |path: String, before: &str, after: String, why: String| {
            writes.push((path, before.to_string(), after, why));
        };
        let wanted_params: BTreeSet<String> =
            self.params.split_whitespace().map(str::to_string).collect();
        let loaded_at_boot = current.loaded_at_boot(name);
        let boot_params = current.boot_params(name);
        match self.persistent {
            Persistence::Disabled => {}
            Persistence::Present => {
                if loaded_at_boot {
                    ok.push(format!("{} loads it at boot", layout.modules_load_dir));
                } else {
                    let path = format!("{}/{name}.conf", layout.modules_load_dir);
                    let before = current
                        .load_files
                        .iter()
                        .find(|file| file.path == path)
                        .map(|file| file.content.clone())
                        .unwrap_or_default();
                    write(
                        path,
                        &before,
                        format!("{name}\n"),
                        format!("load {name} at boot"),
                    );
                }
                if boot_params == wanted_params {
                    if !wanted_params.is_empty() {
                        ok.push(format!("its boot options are {}", self.params.trim()));
                    }
                } else {
                    let own = format!("{}/{name}.conf", layout.modprobe_dir);
                    for file in &current.options_files {
                        if file.path == own {
                            continue;
                        }
                        if let Some(after) = file.commented(|line| options_of(line, name).is_some())
                        {
                            write(
                                file.path.clone(),
                                &file.content,
                                after,
                                format!("comment out {name}'s options in {}", file.path),
                            );
                        }
                    }
                    let before = current
                        .options_files
                        .iter()
                        .find(|file| file.path == own)
                        .map(|file| file.content.clone());
                    let after = if wanted_params.is_empty() {
                        before.as_ref().and_then(|content| {
                            ConfigFile {
                                path: own.clone(),
                                content: content.clone(),
                            }
                            .commented(|line| options_of(line, name).is_some())
                        })
                    } else {
                        Some(
                            self.params
                                .split_whitespace()
                                .map(|param| format!("options {name} {param}\n"))
                                .collect(),
                        )
                    };
                    if let Some(after) = after {
                        write(
                            own,
                            &before.unwrap_or_default(),
                            after,
                            format!("set {name}'s boot options"),
                        );
                    }
                }
            }
            Persistence::Absent => {
                for file in &current.load_files {
                    if let Some(after) = file.commented(|line| loads(line, name)) {
                        write(
                            file.path.clone(),
                            &file.content,
                            after,
                            format!("stop loading {name} at boot in {}", file.path),
                        );
                    }
                }
                for file in &current.options_files {
                    if let Some(after) = file.commented(|line| options_of(line, name).is_some()) {
                        write(
                            file.path.clone(),
                            &file.content,
                            after,
                            format!("comment out {name}'s options in {}", file.path),
                        );
                    }
                }
            }
        }
        if self.persistent == Persistence::Absent && writes.is_empty() {
            ok.push("nothing loads it at boot".to_string());
        }
        for (path, before, after, why) in writes {
            diffs.extend(text_diff(&path, before.as_bytes(), after.as_bytes()));
            steps.push(Step::write(path, after, FileAttrs::default()));
            what.push(why);
        }

        let mut plan = if steps.is_empty() {
            Plan::ok(ok.join(", "))
        } else {
            Plan::change(what.join(", "), steps)
        };
        for diff in diffs {
            plan = plan.with_diff(diff);
        }
        Ok(plan
            .with("name", name.as_str())
            .with("params", self.params.as_str())
            .with("state", json!(self.state.name())))
    }
}

impl Module for ModprobeArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move { self.plan_with(host, &Layout::default()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::{json, Value};

    #[test]
    fn loaded_and_builtin_modules() {
        let proc_modules =
            "br_netfilter 32768 0 - Live 0x0\nbridge 311296 1 br_netfilter, Live 0x0\n";
        assert!(is_loaded(proc_modules, "br_netfilter"));
        assert!(is_loaded(proc_modules, "br-netfilter"));
        assert!(!is_loaded(proc_modules, "br"));
        assert!(!is_loaded(proc_modules, "overlay"));
        let builtin = "kernel/fs/overlayfs/overlay.ko\nkernel/net/ipv4/ip-tunnel.ko\n";
        assert!(is_builtin(builtin, "overlay"));
        assert!(is_builtin(builtin, "ip_tunnel"));
        assert!(!is_builtin(builtin, "overlayfs"));
        assert!(!is_builtin(builtin, "lay"));
    }

    #[test]
    fn reads_boot_configuration_lines() {
        assert!(loads("br_netfilter\n", "br_netfilter"));
        assert!(loads("  br-netfilter # for k8s\n", "br_netfilter"));
        assert!(!loads("# br_netfilter\n", "br_netfilter"));
        assert!(!loads("br_netfilter_x\n", "br_netfilter"));
        assert_eq!(
            options_of("options dummy numdummies=2 x=1 # two", "dummy"),
            Some(vec!["numdummies=2", "x=1"])
        );
        assert_eq!(options_of("#options dummy numdummies=2", "dummy"), None);
        assert_eq!(options_of("options other a=1", "dummy"), None);
        assert_eq!(options_of("install dummy /bin/true", "dummy"), None);
    }

    #[test]
    fn refuses_bad_names_and_params() {
        let spec = crate::registry::lookup("community.general.modprobe").unwrap();
        assert!((spec.build)(json!({"name": "br_netfilter"})).is_ok());
        assert!((spec.build)(json!({"name": "a b"})).is_err());
        assert!((spec.build)(json!({"name": "../x"})).is_err());
        let error = (spec.build)(json!({"name": "d", "params": "a='1"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("params"), "{error}");
        let error = (spec.build)(json!({"name": "d", "persistent": "yes"}))
            .err()
            .expect("the arguments are refused");
        assert!(error.to_string().contains("unknown variant"), "{error}");
    }

    /// Plans against this machine with the configuration directories in a scratch
    /// directory. The module name is one no kernel has, and `state: absent` means nothing
    /// is ever loaded or unloaded here.
    async fn plan_in(fx: &Fixture, args: Value) -> Plan {
        let layout = Layout {
            modules_load_dir: fx.path("modules-load.d"),
            modprobe_dir: fx.path("modprobe.d"),
        };
        let module: ModprobeArgs = crate::args::parse(args).unwrap();
        let host = crate::Host {
            transport: &fx.transport,
            controller: &fx.controller,
        };
        module.plan_with(&host, &layout).await.unwrap()
    }

    fn scratch() -> Fixture {
        let fx = Fixture::new();
        std::fs::create_dir(fx.path("modules-load.d")).unwrap();
        std::fs::create_dir(fx.path("modprobe.d")).unwrap();
        fx
    }

    const NAME: &str = "rplay_no_such_module";

    #[tokio::test]
    async fn persistent_present_writes_both_files_once() {
        let fx = scratch();
        fx.write(
            "modprobe.d/old.conf",
            format!("options {NAME} a=0\nblacklist floppy\n").as_bytes(),
            0o644,
        );
        let args =
            json!({"name": NAME, "state": "absent", "params": "a=1 b=2", "persistent": "present"});
        let first = plan_in(&fx, args.clone()).await;
        assert!(first.is_change(), "{first:?}");
        assert_eq!(first.steps.len(), 3, "{:?}", first.steps);
        assert_eq!(first.result["name"], NAME);
        assert_eq!(first.result["params"], "a=1 b=2");
        assert_eq!(first.result["state"], "absent");
        fx.apply(&first).await;
        assert_eq!(
            fx.read(&format!("modules-load.d/{NAME}.conf")),
            format!("{NAME}\n").as_bytes()
        );
        assert_eq!(
            fx.read(&format!("modprobe.d/{NAME}.conf")),
            format!("options {NAME} a=1\noptions {NAME} b=2\n").as_bytes()
        );
        assert_eq!(
            fx.read("modprobe.d/old.conf"),
            format!("#options {NAME} a=0\nblacklist floppy\n").as_bytes()
        );
        let second = plan_in(&fx, args).await;
        assert!(!second.is_change(), "{second:?}");
        assert!(second
            .reason
            .unwrap()
            .contains("modules-load.d loads it at boot"));
    }

    #[tokio::test]
    async fn persistent_absent_comments_out_what_loads_the_module() {
        let fx = scratch();
        fx.write(
            "modules-load.d/k8s.conf",
            format!("overlay\n{NAME}\n").as_bytes(),
            0o644,
        );
        fx.write(
            "modprobe.d/k8s.conf",
            format!("options {NAME} x=1").as_bytes(),
            0o644,
        );
        let args = json!({"name": NAME, "state": "absent", "persistent": "absent"});
        let first = plan_in(&fx, args.clone()).await;
        assert_eq!(first.steps.len(), 2, "{:?}", first.steps);
        fx.apply(&first).await;
        assert_eq!(
            fx.read("modules-load.d/k8s.conf"),
            format!("overlay\n#{NAME}\n").as_bytes()
        );
        assert_eq!(
            fx.read("modprobe.d/k8s.conf"),
            format!("#options {NAME} x=1").as_bytes()
        );
        let second = plan_in(&fx, args).await;
        assert!(!second.is_change(), "{second:?}");
    }
}
