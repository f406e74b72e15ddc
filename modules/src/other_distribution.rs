//! Modules that manage other distributions (dnf, yum, yum_repository, rpm_key, zypper,
//! pacman, selinux, firewalld, ufw): rplay knows their names and arguments, so a role
//! written for several distributions loads and its argument typos are caught, but it does
//! not run them. A task that reaches one fails with "not supported on this host" and
//! the host's distribution; the usual guard skips it without a word:
//!
//! ```yaml
//! - name: Install containerd on RedHat-family hosts
//!   ansible.builtin.dnf:
//!     name: containerd.io
//!   when: ansible_os_family == 'RedHat'
//! ```

use crate::args::{ArgError, PathSegment};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde_json::Value;

/// One such module: its name, what it is for, and the arguments Ansible documents for it
/// (aliases included).
struct Foreign {
    name: &'static str,
    /// What the module manages, for the message ("RedHat-family packages").
    manages: &'static str,
    /// What does the job on a Debian host, for the message's hint.
    instead: &'static str,
    arguments: &'static [&'static str],
}

/// A task of one of these modules, its arguments checked by name only.
struct ForeignTask {
    module: &'static Foreign,
}

fn check(module: &'static Foreign, value: Value) -> Result<Box<dyn Module>, ArgError> {
    match value {
        Value::Object(entries) => {
            for key in entries.keys() {
                if !module.arguments.contains(&key.as_str()) {
                    return Err(ArgError {
                        path: vec![PathSegment::Key(key.clone())],
                        message: format!("unknown field `{key}`"),
                        expected: module.arguments.iter().map(|s| s.to_string()).collect(),
                    });
                }
            }
        }
        Value::Null => {}
        other => {
            return Err(ArgError::new(format!(
                "`{}` needs a mapping of arguments, not {other}",
                module.name
            )))
        }
    }
    Ok(Box::new(ForeignTask { module }))
}

impl Module for ForeignTask {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let release = host.transport.get("/etc/os-release").await?;
            let distribution = release
                .as_deref()
                .map(String::from_utf8_lossy)
                .and_then(|text| os_release_name(&text))
                .unwrap_or_else(|| "unknown distribution".to_string());
            Err(ModuleError::failed(format!(
                "`{}` is not supported on this host ({distribution}): it manages {}, and \
                 rplay does not run it; {}, or guard the task with a `when` on \
                 `ansible_os_family`",
                self.module.name, self.module.manages, self.module.instead
            )))
        })
    }
}

/// `debian` from `ID=debian` as `Debian`: the name Ansible's `ansible_distribution` gives.
fn os_release_name(text: &str) -> Option<String> {
    let id = text.lines().find_map(|line| line.strip_prefix("ID="))?;
    let id = id.trim().trim_matches('"');
    let mut chars = id.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

macro_rules! foreign_module {
    ($spec:ident, $build:ident, $module:ident, $name:literal, [$($alias:literal),*],
     $manages:literal, $instead:literal, $arguments:expr) => {
        static $module: Foreign = Foreign {
            name: $name,
            manages: $manages,
            instead: $instead,
            arguments: $arguments,
        };

        fn $build(value: Value) -> Result<Box<dyn Module>, ArgError> {
            check(&$module, value)
        }

        pub static $spec: ModuleSpec = ModuleSpec {
            name: $name,
            aliases: &[$($alias),*],
            doc: concat!(
                "//! `", $name, "`: manages ", $manages, ". rplay checks its arguments'\n",
                "//! names when the playbook loads and does not run it: a task that is not\n",
                "//! skipped fails with \"not supported on this host\"; ", $instead, ".\n",
            ),
            free_form: None,
            build: $build,
        };
    };
}

/// Arguments `dnf` and `yum` share (Ansible 2.19 runs `yum` as `dnf`).
const DNF_ARGUMENTS: &[&str] = &[
    "name",
    "pkg",
    "state",
    "list",
    "enablerepo",
    "disablerepo",
    "conf_file",
    "disable_gpg_check",
    "installroot",
    "releasever",
    "autoremove",
    "exclude",
    "skip_broken",
    "update_cache",
    "expire-cache",
    "update_only",
    "security",
    "bugfix",
    "enable_plugin",
    "disable_plugin",
    "disable_excludes",
    "validate_certs",
    "sslverify",
    "allow_downgrade",
    "install_repoquery",
    "download_only",
    "lock_timeout",
    "install_weak_deps",
    "download_dir",
    "allowerasing",
    "nobest",
    "best",
    "cacheonly",
    "use_backend",
];

foreign_module!(
    DNF_SPEC,
    build_dnf,
    DNF,
    "dnf",
    ["ansible.builtin.dnf", "dnf5", "ansible.builtin.dnf5"],
    "packages on RedHat-family hosts",
    "use `apt` or `package` on Debian",
    DNF_ARGUMENTS
);

foreign_module!(
    YUM_SPEC,
    build_yum,
    YUM,
    "yum",
    ["ansible.builtin.yum"],
    "packages on RedHat-family hosts",
    "use `apt` or `package` on Debian",
    DNF_ARGUMENTS
);

foreign_module!(
    YUM_REPOSITORY_SPEC,
    build_yum_repository,
    YUM_REPOSITORY,
    "yum_repository",
    ["ansible.builtin.yum_repository"],
    "package repositories on RedHat-family hosts",
    "use `deb822_repository` or `apt_repository` on Debian",
    &[
        "name",
        "description",
        "baseurl",
        "metalink",
        "mirrorlist",
        "enabled",
        "gpgcheck",
        "gpgkey",
        "file",
        "state",
        "repo_gpgcheck",
        "exclude",
        "includepkgs",
        "priority",
        "proxy",
        "proxy_username",
        "proxy_password",
        "sslverify",
        "sslcacert",
        "sslclientcert",
        "sslclientkey",
        "timeout",
        "module_hotfixes",
        "skip_if_unavailable",
        "cost",
        "deltarpm_percentage",
        "deltarpm_metadata_percentage",
        "enablegroups",
        "failovermethod",
        "gpgcakey",
        "http_caching",
        "include",
        "ip_resolve",
        "keepalive",
        "keepcache",
        "metadata_expire",
        "metadata_expire_filter",
        "mirrorlist_expire",
        "password",
        "protect",
        "reposdir",
        "retries",
        "throttle",
        "ui_repoid_vars",
        "username",
        "bandwidth",
        "async",
        "countme",
        "attributes",
        "mode",
        "owner",
        "group",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
    ]
);

foreign_module!(
    RPM_KEY_SPEC,
    build_rpm_key,
    RPM_KEY,
    "rpm_key",
    ["ansible.builtin.rpm_key"],
    "the RPM database's signing keys",
    "use `apt_key` or a `signed-by` key file on Debian",
    &["key", "state", "validate_certs", "fingerprint"]
);

foreign_module!(
    ZYPPER_SPEC,
    build_zypper,
    ZYPPER,
    "zypper",
    ["community.general.zypper"],
    "packages on SUSE hosts",
    "use `apt` or `package` on Debian",
    &[
        "name",
        "pkg",
        "state",
        "type",
        "extra_args",
        "disable_gpg_check",
        "disable_recommends",
        "force",
        "force_resolution",
        "update_cache",
        "refresh",
        "oldpackage",
        "extra_args_precommand",
        "replacefiles",
        "clean_deps",
        "simple_errors",
        "allow_vendor_change",
        "quiet",
    ]
);

foreign_module!(
    PACMAN_SPEC,
    build_pacman,
    PACMAN,
    "pacman",
    ["community.general.pacman"],
    "packages on Arch Linux hosts",
    "use `apt` or `package` on Debian",
    &[
        "name",
        "package",
        "pkg",
        "state",
        "force",
        "remove_nosave",
        "executable",
        "extra_args",
        "update_cache",
        "update-cache",
        "update_cache_extra_args",
        "upgrade",
        "upgrade_extra_args",
        "reason",
        "reason_for",
    ]
);

foreign_module!(
    SELINUX_SPEC,
    build_selinux,
    SELINUX,
    "selinux",
    ["ansible.posix.selinux"],
    "the SELinux mode and policy",
    "Debian hosts run without SELinux; skip this task there",
    &[
        "policy",
        "state",
        "configfile",
        "conf",
        "file",
        "update_kernel_param"
    ]
);

foreign_module!(
    FIREWALLD_SPEC,
    build_firewalld,
    FIREWALLD,
    "firewalld",
    ["ansible.posix.firewalld"],
    "firewalld zones and rules",
    "use `iptables` on Debian",
    &[
        "service",
        "protocol",
        "port",
        "port_forward",
        "rich_rule",
        "source",
        "interface",
        "icmp_block",
        "icmp_block_inversion",
        "zone",
        "permanent",
        "immediate",
        "state",
        "timeout",
        "masquerade",
        "offline",
        "target",
        "forward",
    ]
);

foreign_module!(
    UFW_SPEC,
    build_ufw,
    UFW,
    "ufw",
    ["community.general.ufw"],
    "the Uncomplicated Firewall (Ubuntu's)",
    "use `iptables` on Debian",
    &[
        "state",
        "default",
        "policy",
        "direction",
        "logging",
        "insert",
        "insert_relative_to",
        "rule",
        "log",
        "from_ip",
        "from",
        "src",
        "from_port",
        "to_ip",
        "to",
        "dest",
        "to_port",
        "port",
        "proto",
        "protocol",
        "name",
        "app",
        "delete",
        "interface",
        "if",
        "interface_in",
        "interface_out",
        "route",
        "comment",
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_by_name() {
        let error = (DNF_SPEC.build)(serde_json::json!({"name": "x", "stat": "present"}))
            .err()
            .expect("a misspelt argument is refused");
        assert_eq!(error.message, "unknown field `stat`");
        assert!(error.expected.contains(&"state".to_string()));
        assert!((UFW_SPEC.build)(serde_json::json!({"rule": "allow", "port": "22"})).is_ok());
    }

    #[test]
    fn the_distribution_comes_from_os_release() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n";
        assert_eq!(os_release_name(text).as_deref(), Some("Debian"));
    }
}
