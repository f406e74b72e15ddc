//! `apt`: installs, upgrades and removes Debian packages with apt-get.
//!
//! What is installed comes from one `dpkg-query -W` for all the names; what apt could
//! install (candidates, the versions a `foo=1.31*` glob matches) from one `apt-cache
//! policy`, read only when a name is missing, not at the wanted version, or `latest`.
//! Nothing needs doing when every package is already as asked: `present` with each name
//! installed (at a matching version for `foo=1.2*` or `foo>=1.2`), `latest` with each at
//! its candidate, `absent` with none installed (no files left either, with `purge`).
//! `upgrade`, `autoremove`, `autoclean` and `build-dep` ask apt to simulate first
//! (`apt-get -s`) and do nothing when it answers "0 upgraded, 0 newly installed, 0 to
//! remove".
//!
//! `update_cache` runs `apt-get update` first (retried `update_cache_retries` times), unless
//! `cache_valid_time` says the lists are fresh enough: the age is that of
//! `/var/lib/apt/periodic/update-success-stamp`, else `/var/lib/apt/lists`, as in Ansible.
//! Unlike Ansible, lists without a single index in them count as never updated, whatever
//! those times say: an image build that cleaned them (mmdebstrap, `apt-get clean` plus
//! `rm -rf /var/lib/apt/lists/*`) leaves a fresh directory with nothing apt could install.
//! A successful update touches that stamp (as Ubuntu's apt hook and apt's daily job do).
//! Alone, it reports `changed` when the lists were updated. With packages, the update is
//! not a change in itself; the packages are then resolved by apt-get after the update (so
//! a package from a repository added just before is found) and the task reports `changed`
//! only if apt-get changed something.
//!
//! Every command runs with `DEBIAN_FRONTEND=noninteractive` and waits up to `lock_timeout`
//! seconds for apt's and dpkg's locks (apt's `DPkg::Lock::Timeout`) before failing.
//!
//! Returns `cache_updated` and `cache_update_time` (with `update_cache`), and `stdout`,
//! `stderr` and `stdout_lines` of the apt-get command that ran.
//!
//! ```yaml
//! - name: Install the Kubernetes tools at a pinned minor version
//!   apt:
//!     name:
//!       - kubelet=1.31.*
//!       - kubeadm=1.31.*
//!       - kubectl=1.31.*
//!     update_cache: true
//!     cache_valid_time: 3600
//!     install_recommends: false
//! ```

use crate::args::{ansible_bool, list_or_csv, Args};
use crate::dpkg::{self, apt_exec, compare_versions, entry_for, DpkgEntry, Policy};
use crate::facts::glob_match;
use crate::plan::{Diff, Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Output, Transport};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "apt",
    aliases: &["ansible.builtin.apt", "ansible.legacy.apt"],
    doc: include_str!("apt.rs"),
    free_form: None,
    build: crate::registry::build::<AptArgs>,
};

/// Where apt's periodic job (and apt's own update hook) leaves the time of the last
/// successful update, and the lists directory whose time stands in for it.
const UPDATE_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";

/// What apt-get prints when it did nothing.
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";
/// What `autoremove` and `autoclean` print when they act.
const AUTOREMOVE_CHANGED: &str = "The following packages will be REMOVED";
const AUTOCLEAN_CHANGED: &str = "Del ";

/// The packages' state after the task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AptState {
    #[default]
    Present,
    Absent,
    Latest,
    BuildDep,
    Fixed,
}

/// Which upgrade of the whole system to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    No,
    /// `yes` and `safe`: `apt-get upgrade --with-new-pkgs`.
    Safe,
    /// `full` and `dist`: `apt-get dist-upgrade`.
    Dist,
}

fn upgrade_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Upgrade>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Bool(true)) => "yes".to_string(),
        Some(Value::Bool(false)) => "no".to_string(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    match text.as_str() {
        "no" => Ok(Some(Upgrade::No)),
        "yes" | "safe" => Ok(Some(Upgrade::Safe)),
        "full" | "dist" => Ok(Some(Upgrade::Dist)),
        other => Err(serde::de::Error::custom(format!(
            "`{other}` is not an upgrade mode (use one of dist, full, no, safe, yes)"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptArgs {
    /// Packages: `foo`, `foo=1.2-1`, `foo=1.2*`, `foo>=1.2`, name globs like `kube*`, or
    /// `*` with `state: latest` to upgrade everything. A list or a comma-separated string.
    #[serde(
        default,
        alias = "package",
        alias = "pkg",
        deserialize_with = "list_or_csv::deserialize"
    )]
    pub name: Vec<String>,
    /// `present`, `absent`, `latest`, `build-dep` (install what building the packages
    /// needs) or `fixed` (let apt-get repair broken dependencies while installing).
    #[serde(default)]
    pub state: AptState,
    /// Run `apt-get update` first.
    #[serde(
        default,
        alias = "update-cache",
        deserialize_with = "ansible_bool::option::deserialize"
    )]
    pub update_cache: Option<bool>,
    /// How many times to try `apt-get update` before failing.
    #[serde(default = "five")]
    pub update_cache_retries: u32,
    /// The longest pause, in seconds, between two tries (pauses double from one second).
    #[serde(default = "twelve")]
    pub update_cache_retry_max_delay: u32,
    /// Update only when the lists are older than this many seconds; setting it implies
    /// `update_cache`.
    #[serde(default)]
    pub cache_valid_time: u64,
    /// Remove configuration files too (`state: absent` and `autoremove`).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub purge: bool,
    /// `.deb` files on the host to install, comma-separated, or one URL (`://`) that the
    /// host downloads with curl or wget.
    #[serde(default)]
    pub deb: Option<String>,
    /// The release to prefer, as `apt-get -t`.
    #[serde(default, alias = "default-release")]
    pub default_release: Option<String>,
    /// Install recommended packages (`true`) or not (`false`); unset keeps apt's setting.
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "ansible_bool::option::deserialize"
    )]
    pub install_recommends: Option<bool>,
    /// Skip apt's safety checks: unauthenticated packages, downgrades, held and essential
    /// packages may all change. Almost never what you want.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// Upgrade the whole system: `yes`/`safe` (`apt-get upgrade --with-new-pkgs`),
    /// `full`/`dist` (`apt-get dist-upgrade`) or `no`.
    #[serde(default, deserialize_with = "upgrade_mode")]
    pub upgrade: Option<Upgrade>,
    /// Options for dpkg, comma-separated, each passed as `-o Dpkg::Options::=--OPTION`.
    #[serde(default = "default_dpkg_options")]
    pub dpkg_options: String,
    /// Remove packages nothing needs any more.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub autoremove: bool,
    /// Remove downloaded package files that can no longer be downloaded.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub autoclean: bool,
    /// Fail rather than let apt remove a package (`--no-remove`).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub fail_on_autoremove: bool,
    /// While apt-get runs, `/usr/sbin/policy-rc.d` exits with this code (101 keeps
    /// installed services from starting); the previous file is put back afterwards.
    #[serde(default)]
    pub policy_rc_d: Option<i32>,
    /// Only upgrade packages that are installed; never install new ones.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub only_upgrade: bool,
    /// Accepted for compatibility: apt-get is always used.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force_apt_get: bool,
    /// Run `apt-get clean` first.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub clean: bool,
    /// Install packages that cannot be authenticated.
    #[serde(
        default,
        alias = "allow-unauthenticated",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub allow_unauthenticated: bool,
    /// Let a named version replace a higher installed one.
    #[serde(
        default,
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub allow_downgrade: bool,
    /// Let held packages change.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub allow_change_held_packages: bool,
    /// Seconds to wait for apt's and dpkg's locks before failing.
    #[serde(default = "sixty")]
    pub lock_timeout: u64,
}

fn five() -> u32 {
    5
}
fn twelve() -> u32 {
    12
}
fn sixty() -> u64 {
    60
}
fn default_dpkg_options() -> String {
    "force-confdef,force-confold".to_string()
}

impl Args for AptArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let given: Vec<&str> = [
            ("deb", self.deb.is_some()),
            ("package", !self.name.is_empty()),
            ("upgrade", self.upgrade.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if given.len() > 1 {
            return Err(ArgError::new(format!(
                "parameters are mutually exclusive: deb|package|upgrade (got {})",
                given.join(", ")
            )));
        }
        for spec in &self.name {
            if spec.matches('=').count() > 1 {
                return Err(ArgError::new(format!("invalid package spec: {spec}")).at("name"));
            }
        }
        if self.state == AptState::Latest
            && self.name.iter().any(|n| n.trim() == "*")
            && self.name.iter().any(|n| n.trim() != "*")
        {
            return Err(ArgError::new(
                "unable to install additional packages when upgrading all installed packages",
            )
            .at("name"));
        }
        Ok(())
    }
}

/// A package as a task names it: `name`, `name=version` or `name>=version`.
#[derive(Debug, Clone, PartialEq)]
struct PackageSpec {
    name: String,
    comparison: Option<Comparison>,
    version: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    /// `=`: the version, or a glob of versions (`1.31.*`).
    Equal,
    /// `>=`: at least the version.
    AtLeast,
}

impl PackageSpec {
    /// Ansible's `package_split`: the first `=` or `>=` splits name from version.
    fn parse(spec: &str) -> PackageSpec {
        let spec = spec.trim();
        match spec.find('=') {
            Some(at) if at > 0 && spec.as_bytes()[at - 1] == b'>' => PackageSpec {
                name: spec[..at - 1].to_string(),
                comparison: Some(Comparison::AtLeast),
                version: spec[at + 1..].to_string(),
            },
            Some(at) => PackageSpec {
                name: spec[..at].to_string(),
                comparison: Some(Comparison::Equal),
                version: spec[at + 1..].to_string(),
            },
            None => PackageSpec {
                name: spec.to_string(),
                comparison: None,
                version: String::new(),
            },
        }
    }

    /// Whether an installed version satisfies the spec.
    fn accepts(&self, version: &str) -> bool {
        match self.comparison {
            None => true,
            Some(Comparison::Equal) => glob_match(&self.version, version),
            Some(Comparison::AtLeast) => compare_versions(version, &self.version) != Ordering::Less,
        }
    }

    fn has_version_glob(&self) -> bool {
        self.comparison == Some(Comparison::Equal) && has_glob(&self.version)
    }
}

fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', ']', '!'])
}

/// What a step means for the task's outcome once it ran.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Always a change.
    Change,
    /// `apt-get update`: a change only when nothing else is asked; its last output line
    /// is the lists' new time.
    CacheUpdate { before: i64, alone: bool },
    /// A change unless apt-get says it did nothing.
    UnlessNothingDone,
    /// A change when the output contains this.
    Contains(&'static str),
}

struct Planned {
    step: Step,
    effect: Effect,
    /// What check mode predicts for this step.
    predicted: bool,
}

/// Builds the plan step by step, in the order Ansible runs things.
struct Planner<'a> {
    args: &'a AptArgs,
    transport: &'a dyn Transport,
    planned: Vec<Planned>,
    result: Map<String, Value>,
    diffs: Vec<Diff>,
    /// `apt-get update` runs first: what apt knows now may be stale, so packages are
    /// resolved by apt-get after the update.
    update_pending: bool,
    reasons: Vec<String>,
}

impl Module for AptArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let mut planner = Planner {
                args: self,
                transport: host.transport,
                planned: Vec::new(),
                result: Map::new(),
                diffs: Vec::new(),
                update_pending: false,
                reasons: Vec::new(),
            };
            match planner.plan().await? {
                Some(failure) => Ok(Plan::fail(failure)),
                None => Ok(planner.finish()),
            }
        })
    }
}

impl Planner<'_> {
    /// Plans everything; `Some(message)` when the task must fail instead.
    async fn plan(&mut self) -> Result<Option<String>, ModuleError> {
        let args = self.args;
        let names: Vec<String> = args
            .name
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        let upgrade = args.upgrade.filter(|u| *u != Upgrade::No);
        let nothing_else = names.is_empty() && upgrade.is_none() && args.deb.is_none();

        if args.clean {
            self.push(
                Step::capture(apt_exec(strings(&["apt-get", "clean"]))),
                Effect::Change,
                true,
            );
            self.reasons.push("clean the package cache".to_string());
            if nothing_else && !args.autoclean && !args.autoremove {
                return Ok(None);
            }
        }

        if args.update_cache == Some(true) || args.cache_valid_time > 0 {
            let alone = nothing_else && !args.autoclean && !args.autoremove;
            self.update_cache(alone).await?;
        }

        if let Some(mode) = upgrade {
            return self.upgrade(mode).await;
        }
        if let Some(deb) = &args.deb {
            if args.state != AptState::Present {
                return Ok(Some("deb only supports state=present".to_string()));
            }
            return self.install_debs(deb).await;
        }
        if names.iter().any(|n| n == "*") && args.state == AptState::Latest {
            return self.upgrade(Upgrade::Safe).await;
        }
        let names: Vec<String> = names.into_iter().filter(|n| n != "*").collect();
        if names.is_empty() {
            if args.autoclean {
                self.cleanup("autoclean", AUTOCLEAN_CHANGED).await?;
            }
            if args.autoremove {
                self.cleanup("autoremove", AUTOREMOVE_CHANGED).await?;
            }
            return Ok(None);
        }
        let names = match self.expand_globs(&names).await? {
            Ok(names) => names,
            Err(failure) => return Ok(Some(failure)),
        };
        match args.state {
            AptState::Absent => self.remove(&names).await,
            AptState::BuildDep => self.build_dep(&names).await,
            _ => self.install(&names).await,
        }
    }

    fn push(&mut self, step: Step, effect: Effect, predicted: bool) {
        self.planned.push(Planned {
            step,
            effect,
            predicted,
        });
    }

    /// The plan: plain when every step is a change, settled by the output otherwise.
    fn finish(self) -> Plan {
        let reason = if self.reasons.is_empty() {
            "nothing to do".to_string()
        } else {
            self.reasons.join("; ")
        };
        let effects: Vec<Effect> = self.planned.iter().map(|p| p.effect).collect();
        let predicted = self.planned.iter().any(|p| p.predicted);
        let steps: Vec<Step> = self.planned.into_iter().map(|p| p.step).collect();
        let mut plan = if steps.is_empty() {
            Plan::ok(reason)
        } else {
            Plan::change(reason, steps)
        };
        plan.result = self.result;
        plan.diffs = self.diffs;
        if effects.iter().all(|e| matches!(e, Effect::Change)) {
            return plan;
        }
        plan.settled_by(predicted, move |outputs, result| {
            settle(&effects, outputs, result)
        })
    }

    /// `-o Dpkg::Options::=--X` for each of `dpkg_options`, and the lock wait.
    fn apt_get_options(&self) -> Vec<String> {
        let mut argv = strings(&["apt-get", "-y"]);
        for option in self.args.dpkg_options.split(',') {
            let option = option.trim();
            if !option.is_empty() {
                argv.push("-o".to_string());
                argv.push(format!("Dpkg::Options::=--{option}"));
            }
        }
        argv.push("-o".to_string());
        argv.push(format!("DPkg::Lock::Timeout={}", self.args.lock_timeout));
        argv
    }

    /// What `force` stands for: apt-get's old `--force-yes`, spelt the current way.
    fn force_options(&self) -> Vec<String> {
        if self.args.force {
            strings(&[
                "--allow-unauthenticated",
                "--allow-downgrades",
                "--allow-remove-essential",
                "--allow-change-held-packages",
            ])
        } else {
            Vec::new()
        }
    }

    fn release_and_recommends(&self, argv: &mut Vec<String>) {
        if let Some(release) = &self.args.default_release {
            argv.push("-t".to_string());
            argv.push(release.clone());
        }
        match self.args.install_recommends {
            Some(true) => argv.extend(strings(&["-o", "APT::Install-Recommends=yes"])),
            Some(false) => argv.extend(strings(&["-o", "APT::Install-Recommends=no"])),
            None => {}
        }
    }

    /// An apt-get run, inside the `policy-rc.d` guard when `policy_rc_d` is set.
    fn apt_get_step(&self, argv: Vec<String>) -> Step {
        let argv = match self.args.policy_rc_d {
            Some(code) => {
                let mut wrapped = vec![
                    "sh".to_string(),
                    "-c".to_string(),
                    POLICY_RC_D.to_string(),
                    "rplay-apt-policy-rc.d".to_string(),
                    code.to_string(),
                    POLICY_RC_D_PATH.to_string(),
                ];
                wrapped.extend(argv);
                wrapped
            }
            None => argv,
        };
        Step::capture(apt_exec(argv))
    }

    /// Plans `apt-get update` unless `cache_valid_time` says the lists are fresh.
    async fn update_cache(&mut self, alone: bool) -> Result<(), ModuleError> {
        let output = self
            .transport
            .run(&apt_exec(vec![
                "sh".to_string(),
                "-c".to_string(),
                CACHE_TIME.to_string(),
                "rplay-apt-cache-time".to_string(),
                UPDATE_STAMP.to_string(),
                LISTS.to_string(),
            ]))
            .await?;
        let text = output.stdout_text();
        let mut numbers = text.lines().map(|l| l.trim().parse::<i64>());
        let (Some(Ok(now)), Some(Ok(mtime))) = (numbers.next(), numbers.next()) else {
            return Err(ModuleError::failed(format!(
                "could not read the age of apt's lists: {}{}",
                text.trim(),
                output.stderr_text().trim()
            )));
        };
        let valid_time = self.args.cache_valid_time as i64;
        if valid_time > 0 && mtime + valid_time >= now {
            self.result.insert("cache_updated".into(), json!(false));
            self.result.insert("cache_update_time".into(), json!(mtime));
            if alone {
                self.reasons.push(format!(
                    "the apt cache is {}s old, within cache_valid_time ({valid_time}s)",
                    now - mtime
                ));
            }
            return Ok(());
        }
        let argv = update_argv(
            self.args.update_cache_retries,
            self.args.update_cache_retry_max_delay,
            self.args.lock_timeout,
        );
        self.push(
            Step::capture(apt_exec(argv)),
            Effect::CacheUpdate {
                before: mtime,
                alone,
            },
            alone,
        );
        // Check mode cannot run the update; like Ansible, it reports the cache updated.
        self.result.insert("cache_updated".into(), json!(true));
        self.result.insert("cache_update_time".into(), json!(mtime));
        self.update_pending = true;
        self.reasons.push("update the apt cache".to_string());
        Ok(())
    }

    /// Runs `apt-get -s` with `argv`'s options to see whether the real run would change
    /// anything; `None` when the simulation itself fails (the real run will say why).
    async fn simulate(
        &self,
        argv: &[String],
        changed_when: Effect,
    ) -> Result<Option<bool>, ModuleError> {
        let mut simulated = argv.to_vec();
        simulated.insert(1, "-s".to_string());
        let output = self.transport.run(&apt_exec(simulated)).await?;
        if !output.success() {
            return Ok(None);
        }
        Ok(Some(output_changes(changed_when, &output)))
    }

    /// `upgrade`, or `name: "*"` with `state: latest`.
    async fn upgrade(&mut self, mode: Upgrade) -> Result<Option<String>, ModuleError> {
        let args = self.args;
        let mut argv = self.apt_get_options();
        argv.extend(self.force_options());
        if args.fail_on_autoremove {
            argv.push("--no-remove".to_string());
        }
        if args.allow_unauthenticated && !args.force {
            argv.push("--allow-unauthenticated".to_string());
        }
        if args.allow_downgrade && !args.force {
            argv.push("--allow-downgrades".to_string());
        }
        if let Some(release) = &args.default_release {
            argv.push("-t".to_string());
            argv.push(release.clone());
        }
        match mode {
            Upgrade::Safe => argv.extend(strings(&["upgrade", "--with-new-pkgs"])),
            Upgrade::Dist | Upgrade::No => argv.push("dist-upgrade".to_string()),
        }
        if args.autoremove {
            argv.push("--auto-remove".to_string());
        }
        let effect = Effect::UnlessNothingDone;
        let predicted = self.simulate(&argv, effect).await?.unwrap_or(true);
        if !predicted && !self.update_pending {
            self.reasons.push("no packages to upgrade".to_string());
            return Ok(None);
        }
        let step = self.apt_get_step(argv);
        self.push(step, effect, predicted);
        self.reasons.push(match mode {
            Upgrade::Safe => "upgrade installed packages".to_string(),
            _ => "upgrade the distribution".to_string(),
        });
        Ok(None)
    }

    /// `autoclean` or `autoremove` without packages.
    async fn cleanup(
        &mut self,
        operation: &str,
        changed_when: &'static str,
    ) -> Result<(), ModuleError> {
        let mut argv = self.apt_get_options();
        if self.args.purge {
            argv.push("--purge".to_string());
        }
        argv.extend(self.force_options());
        argv.push(operation.to_string());
        let effect = Effect::Contains(changed_when);
        let predicted = self.simulate(&argv, effect).await?.unwrap_or(true);
        if !predicted && !self.update_pending {
            self.reasons.push(format!("{operation}: nothing to do"));
            return Ok(());
        }
        let step = self.apt_get_step(argv);
        self.push(step, effect, predicted);
        self.reasons.push(operation.to_string());
        Ok(())
    }

    /// Name globs (`kube*`) become the matching package names apt knows, as Ansible's
    /// `fnmatch` over the cache; only native names unless the glob names an architecture.
    async fn expand_globs(
        &self,
        specs: &[String],
    ) -> Result<Result<Vec<String>, String>, ModuleError> {
        let mut expanded = Vec::new();
        for spec in specs {
            let parsed = PackageSpec::parse(spec);
            if !has_glob(&parsed.name) {
                expanded.push(spec.clone());
                continue;
            }
            let prefix: String = parsed
                .name
                .chars()
                .take_while(|c| !"*?[]!:".contains(*c))
                .collect();
            let mut argv = strings(&["apt-cache", "pkgnames"]);
            if !prefix.is_empty() {
                argv.push(prefix);
            }
            let output = self.transport.run(&apt_exec(argv)).await?;
            let mut matches: Vec<String> = output
                .stdout_text()
                .lines()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .filter(|name| parsed.name.contains(':') || !name.contains(':'))
                .filter(|name| glob_match(&parsed.name, name))
                .map(str::to_string)
                .collect();
            matches.sort();
            if matches.is_empty() {
                return Ok(Err(format!(
                    "No package(s) matching '{}' available",
                    parsed.name
                )));
            }
            expanded.extend(matches);
        }
        Ok(Ok(expanded))
    }

    /// `state: absent`: removes what is installed (and, with `purge`, what left files).
    async fn remove(&mut self, specs: &[String]) -> Result<Option<String>, ModuleError> {
        let args = self.args;
        let parsed: Vec<PackageSpec> = specs.iter().map(|s| PackageSpec::parse(s)).collect();
        let names: Vec<String> = parsed.iter().map(|p| p.name.clone()).collect();
        let entries = dpkg::query(self.transport, &names).await?;
        let mut to_remove = Vec::new();
        let mut before = String::new();
        let mut after = String::new();
        for spec in &parsed {
            let Some(entry) = entry_for(&entries, &spec.name) else {
                continue;
            };
            let version_installed = entry.is_installed() && spec.accepts(&entry.version);
            if version_installed || (args.purge && entry.has_files()) {
                to_remove.push(spec.name.clone());
                before.push_str(&format!(
                    "{} {} ({})\n",
                    spec.name, entry.version, entry.state
                ));
                after.push_str(&format!(
                    "{} {}\n",
                    spec.name,
                    if args.purge { "purged" } else { "removed" }
                ));
            }
        }
        if to_remove.is_empty() {
            self.reasons.push(format!(
                "{} not installed",
                if names.len() == 1 {
                    format!("{} is", names[0])
                } else {
                    "none of the packages is".to_string()
                }
            ));
            return Ok(None);
        }
        let mut argv = self.apt_get_options();
        argv.insert(1, "-q".to_string());
        if args.purge {
            argv.push("--purge".to_string());
        }
        argv.extend(self.force_options());
        if args.autoremove {
            argv.push("--auto-remove".to_string());
        }
        if args.allow_change_held_packages && !args.force {
            argv.push("--allow-change-held-packages".to_string());
        }
        argv.push("remove".to_string());
        argv.extend(to_remove.iter().cloned());
        let step = self.apt_get_step(argv);
        self.push(step, Effect::Change, true);
        self.reasons.push(format!(
            "{} {}",
            if args.purge { "purge" } else { "remove" },
            to_remove.join(", ")
        ));
        self.diffs.push(Diff {
            path: "packages".to_string(),
            before,
            after,
        });
        Ok(None)
    }

    /// `state: build-dep`: apt-get decides; the simulation says whether anything is missing.
    async fn build_dep(&mut self, names: &[String]) -> Result<Option<String>, ModuleError> {
        let args = self.args;
        let mut argv = self.apt_get_options();
        if args.only_upgrade {
            argv.push("--only-upgrade".to_string());
        }
        argv.extend(self.force_options());
        if args.fail_on_autoremove {
            argv.push("--no-remove".to_string());
        }
        self.release_and_recommends(&mut argv);
        argv.push("build-dep".to_string());
        argv.extend(names.iter().cloned());
        let effect = Effect::UnlessNothingDone;
        let predicted = self.simulate(&argv, effect).await?.unwrap_or(true);
        if !predicted && !self.update_pending {
            self.reasons
                .push("the build dependencies are already installed".to_string());
            return Ok(None);
        }
        let step = self.apt_get_step(argv);
        self.push(step, effect, predicted);
        self.reasons.push(format!(
            "install build dependencies of {}",
            names.join(", ")
        ));
        Ok(None)
    }

    /// The apt-get options for installing, before `install` and the packages.
    fn install_options(&self) -> Vec<String> {
        let args = self.args;
        let mut argv = self.apt_get_options();
        if args.only_upgrade {
            argv.push("--only-upgrade".to_string());
        }
        if args.state == AptState::Fixed {
            argv.push("--fix-broken".to_string());
        }
        argv.extend(self.force_options());
        if args.autoremove {
            argv.push("--auto-remove".to_string());
        }
        if args.fail_on_autoremove {
            argv.push("--no-remove".to_string());
        }
        self.release_and_recommends(&mut argv);
        if !args.force {
            if args.allow_unauthenticated {
                argv.push("--allow-unauthenticated".to_string());
            }
            if args.allow_downgrade {
                argv.push("--allow-downgrades".to_string());
            }
            if args.allow_change_held_packages {
                argv.push("--allow-change-held-packages".to_string());
            }
        }
        argv
    }

    /// `present`, `latest` and `fixed`.
    async fn install(&mut self, specs: &[String]) -> Result<Option<String>, ModuleError> {
        let args = self.args;
        let latest = args.state == AptState::Latest;
        let parsed: Vec<PackageSpec> = specs.iter().map(|s| PackageSpec::parse(s)).collect();
        let names: Vec<String> = parsed.iter().map(|p| p.name.clone()).collect();
        let entries = dpkg::query(self.transport, &names).await?;

        // Only names that are not settled by dpkg's answer alone need apt's view.
        let unsettled: Vec<&PackageSpec> = parsed
            .iter()
            .filter(|spec| {
                let installed = entry_for(&entries, &spec.name)
                    .filter(|e| e.is_installed())
                    .map(|e| e.version.as_str());
                match installed {
                    None => !args.only_upgrade,
                    Some(version) => latest || !spec.accepts(version) || spec.has_version_glob(),
                }
            })
            .collect();
        if unsettled.is_empty() {
            let missing = parsed
                .iter()
                .find(|spec| entry_for(&entries, &spec.name).is_none_or(|e| !e.is_installed()));
            self.reasons.push(if let Some(spec) = missing {
                format!("{} is not installed and only_upgrade is set", spec.name)
            } else if parsed.len() == 1 {
                format!("{} is already installed", parsed[0].name)
            } else {
                "all packages are already installed".to_string()
            });
            return Ok(None);
        }
        let policy_names: Vec<String> = unsettled.iter().map(|s| s.name.clone()).collect();
        let policies = dpkg::policy(
            self.transport,
            &policy_names,
            args.default_release.as_deref(),
        )
        .await?;
        // Virtual names need to know which installed packages provide them.
        let needs_providers = unsettled.iter().any(|spec| {
            entry_for(&entries, &spec.name).is_none()
                && policy_for(&policies, &spec.name).is_some_and(Policy::is_virtual)
        });
        let all_installed = if needs_providers {
            all_packages(self.transport).await?
        } else {
            Vec::new()
        };

        let mut to_install = Vec::new();
        let mut before = String::new();
        let mut after = String::new();
        let mut failure = None;
        for spec in unsettled {
            let entry = entry_for(&entries, &spec.name).filter(|e| e.is_installed());
            let decision = decide(
                spec,
                entry,
                policy_for(&policies, &spec.name),
                &all_installed,
                latest,
                args.only_upgrade,
            );
            match decision {
                Decision::Nothing => {}
                Decision::Install(target) => {
                    before.push_str(&format!(
                        "{} {}\n",
                        spec.name,
                        entry.map_or("(not installed)", |e| e.version.as_str())
                    ));
                    after.push_str(&format!("{target}\n").replacen('=', " ", 1));
                    to_install.push(target);
                }
                Decision::Fail(message) => {
                    failure.get_or_insert(message);
                }
            }
        }

        if self.update_pending {
            // apt's lists are about to change: let apt-get resolve the names after the
            // update, and predict (for check mode) from what apt knows now.
            let pending = pending_install(&parsed, &entries, latest, args.only_upgrade);
            if pending.is_empty() {
                self.reasons
                    .push("all packages are already installed".to_string());
                return Ok(None);
            }
            let predicted = failure.is_some() || !to_install.is_empty();
            let mut argv = self.install_options();
            argv.push("install".to_string());
            argv.extend(pending.iter().cloned());
            let step = self.apt_get_step(argv);
            self.push(step, Effect::UnlessNothingDone, predicted);
            self.reasons.push(format!("install {}", pending.join(", ")));
            return Ok(None);
        }
        if let Some(failure) = failure {
            return Ok(Some(failure));
        }
        if to_install.is_empty() {
            self.reasons.push(if latest {
                "all packages are at their latest version".to_string()
            } else {
                "all packages are already installed".to_string()
            });
            return Ok(None);
        }
        let mut argv = self.install_options();
        argv.push("install".to_string());
        argv.extend(to_install.iter().cloned());
        let step = self.apt_get_step(argv);
        self.push(step, Effect::Change, true);
        self.reasons
            .push(format!("install {}", to_install.join(", ")));
        self.diffs.push(Diff {
            path: "packages".to_string(),
            before,
            after,
        });
        Ok(None)
    }

    /// `deb`: installs `.deb` files whose package is not installed at that version.
    async fn install_debs(&mut self, deb: &str) -> Result<Option<String>, ModuleError> {
        let url = deb.contains("://").then(|| deb.trim().to_string());
        // Ansible takes a URL whole and splits only a list of paths.
        let paths: Vec<String> = match &url {
            Some(_) => vec![DOWNLOADED.to_string()],
            None => deb
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("./{p}")
                    }
                })
                .collect(),
        };
        let mut fields = Vec::new();
        for path in &paths {
            let mut argv = vec![
                "dpkg-deb".to_string(),
                "--field".to_string(),
                path.clone(),
                "Package".to_string(),
                "Version".to_string(),
                "Architecture".to_string(),
            ];
            if let Some(url) = &url {
                argv = with_download(url, argv);
            }
            let output = self.transport.run(&apt_exec(argv)).await?;
            if !output.success() {
                let shown = url.as_deref().unwrap_or(path);
                return Ok(Some(format!(
                    "Unable to install package: could not read {shown}: {}",
                    output.stderr_text().trim()
                )));
            }
            fields.push(parse_deb_fields(&output.stdout_text()));
        }
        let names: Vec<String> = fields.iter().map(|f| f.package.clone()).collect();
        let entries = dpkg::query(self.transport, &names).await?;
        let mut to_install = Vec::new();
        let mut before = String::new();
        let mut after = String::new();
        for (path, deb) in paths.iter().zip(&fields) {
            let installed = entries.iter().find(|e| {
                e.name == deb.package
                    && e.is_installed()
                    && (e.arch == deb.arch || e.arch == "all" || deb.arch == "all")
            });
            if installed.is_some_and(|e| compare_versions(&e.version, &deb.version).is_eq()) {
                continue;
            }
            before.push_str(&format!(
                "{} {}\n",
                deb.package,
                installed.map_or("(not installed)", |e| e.version.as_str())
            ));
            after.push_str(&format!("{} {}\n", deb.package, deb.version));
            to_install.push(path.clone());
        }
        if to_install.is_empty() {
            self.reasons.push(format!(
                "{} already installed",
                fields
                    .iter()
                    .map(|f| format!("{} {}", f.package, f.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(None);
        }
        let mut argv = self.install_options();
        argv.push("install".to_string());
        argv.extend(to_install.iter().cloned());
        if let Some(url) = &url {
            argv = with_download(url, argv);
        }
        let step = self.apt_get_step(argv);
        self.push(step, Effect::Change, true);
        self.reasons.push(format!(
            "install {}",
            fields
                .iter()
                .map(|f| format!("{} {}", f.package, f.version))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        self.diffs.push(Diff {
            path: "packages".to_string(),
            before,
            after,
        });
        Ok(None)
    }
}

/// What to do with one package that dpkg alone does not settle.
#[derive(Debug, PartialEq)]
enum Decision {
    Nothing,
    /// Install this argument of apt-get (`name`, `name=version` or `name=glob`).
    Install(String),
    Fail(String),
}

/// Ansible's `package_status` and `install` for one package, from dpkg's and apt's views.
fn decide(
    spec: &PackageSpec,
    installed: Option<&DpkgEntry>,
    policy: Option<&Policy>,
    all_installed: &[DpkgEntry],
    latest: bool,
    only_upgrade: bool,
) -> Decision {
    let Some(policy) = policy else {
        if installed.is_none() && !only_upgrade {
            return Decision::Fail(format!("No package matching '{}' is available", spec.name));
        }
        return Decision::Nothing;
    };
    if installed.is_none() && policy.is_virtual() {
        // A virtual package that an installed package provides is there already.
        let base = spec.name.split(':').next().unwrap_or_default();
        let provided = all_installed
            .iter()
            .any(|e| e.is_installed() && e.provides.iter().any(|p| p == base));
        if provided || only_upgrade {
            return Decision::Nothing;
        }
        return Decision::Install(spec.name.clone());
    }
    // The version apt would pick: for `=`, the highest version matching (Ansible pins
    // them at 1001); otherwise the candidate.
    let best = match spec.comparison {
        Some(Comparison::Equal) => policy
            .versions
            .iter()
            .filter(|v| glob_match(&spec.version, v))
            .max_by(|a, b| compare_versions(a, b))
            .cloned(),
        _ => policy.candidate.clone(),
    };
    let (version_installed, installable) = match installed {
        Some(entry) => {
            let version_installed = spec.accepts(&entry.version);
            let installable = best.filter(|best| {
                *best != entry.version
                    && match spec.comparison {
                        Some(Comparison::Equal) => glob_match(&spec.version, best),
                        Some(Comparison::AtLeast) => {
                            compare_versions(best, &spec.version) != Ordering::Less
                        }
                        None => true,
                    }
            });
            (version_installed, installable)
        }
        None => (false, best),
    };
    if installed.is_none() && only_upgrade {
        return Decision::Nothing;
    }
    let Some(installable) = installable else {
        if !version_installed {
            let shown = match spec.comparison {
                Some(Comparison::Equal) => format!("{}={}", spec.name, spec.version),
                Some(Comparison::AtLeast) => format!("{}>={}", spec.name, spec.version),
                None => spec.name.clone(),
            };
            return Decision::Fail(format!("no available installation candidate for {shown}"));
        }
        return Decision::Nothing;
    };
    if (installed.is_none() && !only_upgrade) || latest || !version_installed {
        return Decision::Install(format!("{}={installable}", spec.name));
    }
    if spec.comparison == Some(Comparison::Equal) {
        // Ansible's legacy rule: an installed version inside a version glob is replaced
        // by a higher one inside it.
        return Decision::Install(format!("{}={}", spec.name, spec.version));
    }
    Decision::Nothing
}

/// What to hand apt-get when its lists are updated first: names dpkg does not show as
/// satisfied, left for apt-get to resolve (it understands `name=1.31*` itself).
fn pending_install(
    specs: &[PackageSpec],
    entries: &[DpkgEntry],
    latest: bool,
    only_upgrade: bool,
) -> Vec<String> {
    specs
        .iter()
        .filter_map(|spec| {
            let installed = entry_for(entries, &spec.name).filter(|e| e.is_installed());
            let as_apt_wants = || match spec.comparison {
                Some(Comparison::Equal) => format!("{}={}", spec.name, spec.version),
                // apt-get has no `>=`: the candidate is the best it can do.
                _ => spec.name.clone(),
            };
            match installed {
                None if only_upgrade => None,
                None => Some(as_apt_wants()),
                Some(entry) => (latest || !spec.accepts(&entry.version) || spec.has_version_glob())
                    .then(as_apt_wants),
            }
        })
        .collect()
}

fn policy_for<'p>(policies: &'p BTreeMap<String, Policy>, name: &str) -> Option<&'p Policy> {
    policies
        .get(name)
        .or_else(|| policies.get(name.split(':').next().unwrap_or_default()))
}

/// Every package dpkg knows, with what it provides.
async fn all_packages(transport: &dyn Transport) -> Result<Vec<DpkgEntry>, ModuleError> {
    let output = transport
        .run(&apt_exec(vec![
            "dpkg-query".to_string(),
            "-W".to_string(),
            format!("-f={}", dpkg::QUERY_FORMAT),
        ]))
        .await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "dpkg-query failed: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(dpkg::parse_query(&output.stdout_text()))
}

/// `apt-get update` through [`UPDATE`]: tried `retries` times (at least once), pausing
/// up to `max_delay` seconds between tries, waiting up to `lock_timeout` seconds for a
/// held lock; it prints the lists' new time last.
pub(crate) fn update_argv(retries: u32, max_delay: u32, lock_timeout: u64) -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".to_string(),
        UPDATE.to_string(),
        "rplay-apt-update".to_string(),
        retries.max(1).to_string(),
        max_delay.to_string(),
        lock_timeout.to_string(),
        UPDATE_STAMP.to_string(),
        LISTS.to_string(),
        "apt-get".to_string(),
        "-q".to_string(),
        "update".to_string(),
    ]
}

/// Whether a step's output shows a change.
fn output_changes(effect: Effect, output: &Output) -> bool {
    let stdout = output.stdout_text();
    match effect {
        Effect::Change => true,
        Effect::CacheUpdate { .. } => false,
        Effect::UnlessNothingDone => !format!("\n{stdout}").contains(APT_GET_ZERO),
        Effect::Contains(text) => stdout.contains(text),
    }
}

/// After a real run: the task changed if a step that counts did; the cache update gives
/// the lists' new time.
fn settle(effects: &[Effect], outputs: &[Output], result: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    for (effect, output) in effects.iter().zip(outputs) {
        if let Effect::CacheUpdate { before, alone } = effect {
            let after = output
                .stdout_text()
                .lines()
                .last()
                .and_then(|line| line.trim().parse::<i64>().ok())
                .unwrap_or(*before);
            let updated = after != *before;
            result.insert("cache_updated".into(), json!(updated));
            result.insert("cache_update_time".into(), json!(after));
            changed |= updated && *alone;
        } else {
            changed |= output_changes(*effect, output);
        }
    }
    changed
}

/// The fields `dpkg-deb --field DEB Package Version Architecture` prints.
#[derive(Debug, Default, PartialEq)]
struct DebFields {
    package: String,
    version: String,
    arch: String,
}

fn parse_deb_fields(text: &str) -> DebFields {
    let mut fields = DebFields::default();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().to_string();
            match key.trim() {
                "Package" => fields.package = value,
                "Version" => fields.version = value,
                "Architecture" => fields.arch = value,
                _ => {}
            }
        }
    }
    fields
}

/// Stands for the downloaded `.deb` in a command run through [`with_download`].
const DOWNLOADED: &str = "@RPLAY_DEB@";

/// Runs `argv` after downloading `url` to a temporary `.deb`, which replaces every
/// [`DOWNLOADED`] argument and is removed afterwards.
fn with_download(url: &str, argv: Vec<String>) -> Vec<String> {
    let mut wrapped = vec![
        "sh".to_string(),
        "-c".to_string(),
        DOWNLOAD.to_string(),
        "rplay-apt-deb".to_string(),
        url.to_string(),
        DOWNLOADED.to_string(),
    ];
    wrapped.extend(argv);
    wrapped
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Prints the host's time, then the time of the last update: that of the stamp (first
/// argument) if it exists, else of the lists directory (second); 0 when neither exists or
/// the lists directory holds no index.
const CACHE_TIME: &str = r#"stamp=$1 lists=$2
date +%s
if [ -z "$(find "$lists" -maxdepth 1 -type f \( -name '*_Packages*' -o -name '*Release' \) 2>/dev/null | head -n 1)" ]; then
  echo 0
elif [ -e "$stamp" ]; then
  exec stat -c %Y -- "$stamp"
else
  exec stat -c %Y -- "$lists"
fi
"#;

/// `apt-get update`, tried up to `retries` times with pauses doubling from one second up
/// to `max_delay`; while another apt holds the lists' lock it waits (up to `lock_timeout`
/// seconds) without counting tries. On success it touches the update stamp and prints
/// the lists' new time last.
const UPDATE: &str = r#"retries=$1 max_delay=$2 lock_timeout=$3 stamp=$4 lists=$5
shift 5
deadline=$(( $(date +%s) + lock_timeout ))
errors=$(mktemp) || exit 1
trap 'rm -f "$errors"' EXIT
try=1
while :; do
  "$@" 2>"$errors" && break
  rc=$?
  if grep -q -e 'Could not get lock' -e 'Unable to lock' "$errors" && [ "$(date +%s)" -lt "$deadline" ]; then
    sleep 1
    continue
  fi
  if [ "$try" -ge "$retries" ]; then
    cat "$errors" >&2
    echo "Failed to update apt cache after $retries retries: $(grep -e '^E:' -e '^W:' "$errors" | tail -n 1)" >&2
    exit "$rc"
  fi
  delay=$(( 1 << (try - 1) ))
  [ "$delay" -gt "$max_delay" ] && delay=$max_delay
  sleep "$delay"
  try=$((try + 1))
done
cat "$errors" >&2
# Record the success where Ubuntu's apt hook and apt's daily job do, so the lists' age
# (cache_valid_time) counts this update on Debian too.
mkdir -p -- "$(dirname -- "$stamp")" && touch -- "$stamp"
for path in "$stamp" "$lists"; do
  if [ -e "$path" ]; then exec stat -c %Y -- "$path"; fi
done
echo 0
"#;

/// Where invoke-rc.d asks whether a package may start its service.
const POLICY_RC_D_PATH: &str = "/usr/sbin/policy-rc.d";

/// Runs the command with the policy file (second argument) exiting with the first
/// argument, then puts back what was there.
const POLICY_RC_D: &str = r#"code=$1 file=$2
shift 2
backup=
if [ -e "$file" ]; then
  backup=$(mktemp -d) || exit 1
  mv -- "$file" "$backup/" || exit 1
fi
printf '#!/bin/sh\nexit %s\n' "$code" > "$file" && chmod 0755 "$file" || exit 1
"$@"
rc=$?
if [ -n "$backup" ]; then
  mv -f -- "$backup/policy-rc.d" "$file" && rmdir -- "$backup"
else
  rm -f -- "$file"
fi
exit "$rc"
"#;

/// Downloads the URL (first argument) with curl or wget to a temporary `.deb`, then runs
/// the command with the placeholder (second argument) replaced by the file's path.
const DOWNLOAD: &str = r#"url=$1 placeholder=$2
shift 2
tmp=$(mktemp --suffix=.deb "${TMPDIR:-/tmp}/rplay-apt.XXXXXXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT
if command -v curl >/dev/null 2>&1; then
  curl --silent --show-error --location --fail --output "$tmp" "$url" || exit 4
elif command -v wget >/dev/null 2>&1; then
  wget --quiet --output-document="$tmp" "$url" || exit 4
else
  echo "downloading a .deb needs curl or wget on the host" >&2
  exit 3
fi
for arg do
  shift
  if [ "$arg" = "$placeholder" ]; then set -- "$@" "$tmp"; else set -- "$@" "$arg"; fi
done
"$@"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    fn entry(name: &str, version: &str, state: &str) -> DpkgEntry {
        DpkgEntry {
            name: name.to_string(),
            arch: "amd64".to_string(),
            version: version.to_string(),
            want: "install".to_string(),
            state: state.to_string(),
            section: String::new(),
            provides: Vec::new(),
        }
    }

    fn policy(candidate: Option<&str>, versions: &[&str]) -> Policy {
        Policy {
            installed: None,
            candidate: candidate.map(str::to_string),
            versions: versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn splits_specs_like_ansible() {
        let spec = PackageSpec::parse("kubeadm=1.31.*");
        assert_eq!(spec.name, "kubeadm");
        assert_eq!(spec.comparison, Some(Comparison::Equal));
        assert!(spec.has_version_glob());
        let spec = PackageSpec::parse(" foo>=2.0 ");
        assert_eq!(
            (spec.name.as_str(), spec.comparison, spec.version.as_str()),
            ("foo", Some(Comparison::AtLeast), "2.0")
        );
        assert!(spec.accepts("2.0.1") && !spec.accepts("1.9"));
        assert_eq!(PackageSpec::parse("libc6:i386").comparison, None);
    }

    #[test]
    fn decides_like_ansible_package_status() {
        let spec = PackageSpec::parse("kubelet=1.31.*");
        let table = policy(
            Some("1.32.0-1.1"),
            &["1.32.0-1.1", "1.31.2-1.1", "1.31.1-1.1"],
        );
        // Not installed: the highest version inside the glob.
        assert_eq!(
            decide(&spec, None, Some(&table), &[], false, false),
            Decision::Install("kubelet=1.31.2-1.1".to_string())
        );
        // Installed inside the glob with a higher one available: Ansible's legacy upgrade.
        let old = entry("kubelet", "1.31.1-1.1", "installed");
        assert_eq!(
            decide(&spec, Some(&old), Some(&table), &[], false, false),
            Decision::Install("kubelet=1.31.*".to_string())
        );
        let newest = entry("kubelet", "1.31.2-1.1", "installed");
        assert_eq!(
            decide(&spec, Some(&newest), Some(&table), &[], false, false),
            Decision::Nothing
        );
        // Latest without a version: the candidate, unless already there.
        let plain = PackageSpec::parse("kubelet");
        assert_eq!(
            decide(&plain, Some(&newest), Some(&table), &[], true, false),
            Decision::Install("kubelet=1.32.0-1.1".to_string())
        );
        assert_eq!(
            decide(&plain, Some(&newest), Some(&table), &[], false, false),
            Decision::Nothing
        );
        // Nothing matches: Ansible's message.
        let missing = PackageSpec::parse("kubelet=1.29.*");
        assert_eq!(
            decide(&missing, None, Some(&table), &[], false, false),
            Decision::Fail("no available installation candidate for kubelet=1.29.*".to_string())
        );
        assert_eq!(
            decide(&plain, None, None, &[], false, false),
            Decision::Fail("No package matching 'kubelet' is available".to_string())
        );
        // only_upgrade leaves missing packages alone.
        assert_eq!(
            decide(&plain, None, Some(&table), &[], true, true),
            Decision::Nothing
        );
    }

    #[test]
    fn virtual_packages_count_their_installed_providers() {
        let spec = PackageSpec::parse("mail-transport-agent");
        let virtual_policy = policy(None, &[]);
        let mut exim = entry("exim4-daemon-light", "4.96-15", "installed");
        exim.provides = vec!["mail-transport-agent".to_string()];
        assert_eq!(
            decide(&spec, None, Some(&virtual_policy), &[exim], false, false),
            Decision::Nothing
        );
        assert_eq!(
            decide(&spec, None, Some(&virtual_policy), &[], false, false),
            Decision::Install("mail-transport-agent".to_string())
        );
    }

    #[test]
    fn pending_updates_leave_resolution_to_apt_get() {
        let specs: Vec<PackageSpec> = ["curl", "kubelet=1.31.*", "jq=1.6-2", "htop>=3"]
            .iter()
            .map(|s| PackageSpec::parse(s))
            .collect();
        let entries = vec![
            entry("curl", "8.5.0-2", "installed"),
            entry("jq", "1.6-2", "installed"),
        ];
        assert_eq!(
            pending_install(&specs, &entries, false, false),
            vec!["kubelet=1.31.*", "htop"]
        );
        assert_eq!(
            pending_install(&specs, &entries, true, false),
            vec!["curl", "kubelet=1.31.*", "jq=1.6-2", "htop"]
        );
        assert_eq!(
            pending_install(&specs, &entries, false, true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn settles_from_apt_get_output() {
        let zero = Output {
            rc: 0,
            stdout: b"Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n".to_vec(),
            stderr: Vec::new(),
        };
        let one = Output {
            rc: 0,
            stdout: b"Setting up jq\n1 upgraded, 0 newly installed, 0 to remove\n".to_vec(),
            stderr: Vec::new(),
        };
        let update = Output {
            rc: 0,
            stdout: b"Hit:1 http://deb.debian.org/debian trixie InRelease\n1700000100\n".to_vec(),
            stderr: Vec::new(),
        };
        let effects = [
            Effect::CacheUpdate {
                before: 1_700_000_000,
                alone: false,
            },
            Effect::UnlessNothingDone,
        ];
        let mut result = Map::new();
        assert!(!settle(&effects, &[update.clone(), zero], &mut result));
        assert_eq!(result["cache_updated"], json!(true));
        assert_eq!(result["cache_update_time"], json!(1_700_000_100));
        assert!(settle(&effects, &[update.clone(), one], &mut Map::new()));
        let alone = [Effect::CacheUpdate {
            before: 1_700_000_100,
            alone: true,
        }];
        assert!(!settle(
            &alone,
            std::slice::from_ref(&update),
            &mut Map::new()
        ));
        let alone = [Effect::CacheUpdate {
            before: 1,
            alone: true,
        }];
        assert!(settle(&alone, &[update], &mut Map::new()));
    }

    #[test]
    fn reads_deb_fields() {
        assert_eq!(
            parse_deb_fields("Package: rplay-demo\nVersion: 2.0\nArchitecture: all\n"),
            DebFields {
                package: "rplay-demo".to_string(),
                version: "2.0".to_string(),
                arch: "all".to_string()
            }
        );
    }

    #[test]
    fn refuses_conflicting_arguments() {
        let build = |value: Value| crate::args::parse::<AptArgs>(value);
        assert!(build(json!({"name": "foo", "upgrade": "dist"})).is_err());
        assert!(build(json!({"name": "foo", "deb": "/tmp/foo.deb"})).is_err());
        assert!(build(json!({"name": "foo=1=2"})).is_err());
        assert!(build(json!({"name": ["*", "foo"], "state": "latest"})).is_err());
        assert!(build(json!({"name": "foo", "state": "installed"})).is_err());
        assert!(build(json!({"upgrade": "sometimes"})).is_err());
        let args = build(json!({
            "pkg": "a, b", "update-cache": "yes", "install-recommends": "no",
            "allow-downgrades": true, "default-release": "trixie-backports",
        }))
        .unwrap();
        assert_eq!(args.name, vec!["a", "b"]);
        assert_eq!(args.update_cache, Some(true));
        assert_eq!(args.install_recommends, Some(false));
        assert!(args.allow_downgrade);
        assert_eq!(
            build(json!({"upgrade": true})).unwrap().upgrade,
            Some(Upgrade::Safe)
        );
        assert_eq!(
            build(json!({"upgrade": "full"})).unwrap().upgrade,
            Some(Upgrade::Dist)
        );
    }

    /// Runs one of the module's scripts locally with the given arguments.
    async fn run_script(script: &str, args: &[&str]) -> Output {
        let mut argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        argv.push("rplay-test".to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        crate::local::LocalTransport::new()
            .run(&crate::Exec::new(argv))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_update_script_retries_and_prints_the_new_time() {
        let fixture = Fixture::new();
        let counter = fixture.path("tries");
        let stamp = fixture.write("stamp", b"", 0o644);
        // Fails twice, then succeeds: three tries of five.
        let flaky = format!(
            "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter};              [ $n -ge 3 ] || {{ echo 'E: Failed to fetch' >&2; exit 100; }}; echo fetched"
        );
        let output = run_script(
            UPDATE,
            &["5", "0", "10", &stamp, "/nonexistent", "sh", "-c", &flaky],
        )
        .await;
        assert_eq!(output.rc, 0, "{output:?}");
        assert_eq!(fixture.read("tries"), b"3\n");
        let lines: Vec<String> = output.stdout_text().lines().map(str::to_string).collect();
        assert_eq!(lines[0], "fetched");
        let mtime = std::fs::metadata(&stamp)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(lines.last().unwrap(), &mtime.to_string());

        // Out of tries: the last error and apt's exit code.
        let output = run_script(
            UPDATE,
            &[
                "2",
                "0",
                "0",
                &stamp,
                "/nonexistent",
                "sh",
                "-c",
                "echo 'E: boom' >&2; exit 100",
            ],
        )
        .await;
        assert_eq!(output.rc, 100);
        assert!(
            output
                .stderr_text()
                .contains("Failed to update apt cache after 2 retries: E: boom"),
            "{output:?}"
        );

        // A held lock is waited for without using up the tries.
        std::fs::remove_file(&counter).unwrap();
        let locked = format!(
            "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter};              [ $n -ge 3 ] || {{ echo 'E: Could not get lock /var/lib/apt/lists/lock' >&2; exit 100; }}"
        );
        // The stamp is created (with its directory) on success.
        let fresh = fixture.path("periodic/update-success-stamp");
        let output = run_script(
            UPDATE,
            &["1", "0", "30", &fresh, "/nonexistent", "sh", "-c", &locked],
        )
        .await;
        assert_eq!(output.rc, 0, "{output:?}");
        assert_eq!(fixture.read("tries"), b"3\n");
        assert!(std::path::Path::new(&fresh).exists());
    }

    #[tokio::test]
    async fn the_cache_time_is_the_stamps_else_the_lists_and_empty_lists_were_never_updated() {
        let fixture = Fixture::new();
        let lists = fixture.path("lists");
        std::fs::create_dir(&lists).unwrap();
        let times = |output: Output| -> Vec<i64> {
            output
                .stdout_text()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect()
        };
        // Freshly emptied lists, as an image build leaves them: never updated.
        let output = run_script(CACHE_TIME, &["/nonexistent/stamp", &lists]).await;
        assert_eq!(times(output)[1], 0);
        // With an index, the directory's time stands in for the missing stamp.
        fixture.write(
            "lists/deb.debian.org_debian_dists_trixie_InRelease",
            b"",
            0o644,
        );
        let output = run_script(CACHE_TIME, &["/nonexistent/stamp", &lists]).await;
        let numbers = times(output);
        assert_eq!(numbers.len(), 2);
        assert!(numbers[1] > 0 && numbers[1] <= numbers[0] + 1);
        // The stamp wins when it exists.
        let stamp = fixture.write("update-success-stamp", b"", 0o644);
        let status = std::process::Command::new("touch")
            .args(["-d", "@1000000000", &stamp])
            .status()
            .unwrap();
        assert!(status.success());
        let output = run_script(CACHE_TIME, &[&stamp, &lists]).await;
        assert_eq!(times(output)[1], 1000000000);
        let output = run_script(CACHE_TIME, &["/nonexistent/a", "/nonexistent/b"]).await;
        assert_eq!(times(output)[1], 0);
    }

    #[tokio::test]
    async fn the_policy_guard_puts_the_old_file_back() {
        let fixture = Fixture::new();
        let policy = fixture.write("policy-rc.d", b"#!/bin/sh\nexit 0\n", 0o700);
        let output = run_script(
            POLICY_RC_D,
            &["101", &policy, "sh", "-c", "cat \"$0\"; exit 7", &policy],
        )
        .await;
        assert_eq!(output.rc, 7, "the command's exit code is kept");
        assert_eq!(output.stdout_text(), "#!/bin/sh\nexit 101\n");
        assert_eq!(fixture.read("policy-rc.d"), b"#!/bin/sh\nexit 0\n");
        assert_eq!(fixture.mode("policy-rc.d"), 0o700);
        // Without a file before, none is left after.
        let absent = fixture.path("none");
        let output = run_script(
            POLICY_RC_D,
            &["101", &absent, "sh", "-c", "test -x \"$0\"", &absent],
        )
        .await;
        assert_eq!(
            output.rc, 0,
            "the guard is executable while the command runs"
        );
        assert!(!std::path::Path::new(&absent).exists());
    }

    /// Builds a tiny `.deb` with dpkg-deb (part of this project's build environment).
    fn build_deb(fixture: &Fixture, name: &str, version: &str) -> String {
        let root = fixture.path(&format!("{name}-{version}"));
        std::fs::create_dir_all(format!("{root}/DEBIAN")).unwrap();
        std::fs::write(
            format!("{root}/DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: all\n\
                 Maintainer: rplay <rplay@example.com>\nDescription: test package\n"
            ),
        )
        .unwrap();
        let deb = fixture.path(&format!("{name}_{version}_all.deb"));
        let status = std::process::Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build", &root, &deb])
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        deb
    }

    #[tokio::test]
    async fn reads_a_real_deb_and_plans_its_install() {
        let fixture = Fixture::new();
        let deb = build_deb(&fixture, "rplay-test-never-installed", "2.0");
        let plan = fixture.plan("apt", json!({"deb": deb})).await.unwrap();
        assert_eq!(
            plan.reason.as_deref(),
            Some("install rplay-test-never-installed 2.0")
        );
        let Step::Run { exec, .. } = &plan.steps[0] else {
            panic!("a command: {plan:?}");
        };
        assert_eq!(exec.argv.last(), Some(&deb));
        assert_eq!(exec.argv[exec.argv.len() - 2], "install");
    }

    #[tokio::test]
    async fn downloads_a_deb_runs_the_command_on_it_and_removes_it() {
        let fixture = Fixture::new();
        let deb = build_deb(&fixture, "rplay-test-download", "1.0");
        let tmpdir = fixture.path("");
        let script = format!("TMPDIR={tmpdir}; export TMPDIR\n{DOWNLOAD}");
        let output = run_script(
            &script,
            &[
                &format!("file://{deb}"),
                DOWNLOADED,
                "dpkg-deb",
                "--field",
                DOWNLOADED,
                "Package",
                "Version",
            ],
        )
        .await;
        assert_eq!(output.rc, 0, "{output:?}");
        assert_eq!(
            output.stdout_text(),
            "Package: rplay-test-download\nVersion: 1.0\n"
        );
        let left: Vec<_> = std::fs::read_dir(fixture.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("rplay-apt."))
            .collect();
        assert!(left.is_empty(), "the download is removed");
        let output = run_script(&script, &["file:///nonexistent.deb", DOWNLOADED, "true"]).await;
        assert_eq!(output.rc, 4);
    }

    #[tokio::test]
    async fn plans_against_this_machine_without_changing_it() {
        // Planning only reads (dpkg-query, apt-cache policy): safe on this Debian machine.
        let fixture = Fixture::new();
        let (plan, commands) = fixture
            .plan_counting("apt", json!({"name": ["dpkg", "coreutils"]}))
            .await;
        let plan = plan.unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(
            plan.reason.as_deref(),
            Some("all packages are already installed")
        );
        assert_eq!(commands, 1, "installed packages cost one dpkg-query");
        let plan = fixture
            .plan("apt", json!({"name": "no-such-package-rplay"}))
            .await
            .unwrap();
        assert_eq!(
            plan.failure.as_deref(),
            Some("No package matching 'no-such-package-rplay' is available")
        );
        let plan = fixture
            .plan(
                "apt",
                json!({"name": "no-such-package-rplay", "state": "absent"}),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
    }
}
