//! Facts: what a host is, read with one shell command and parsed here.
//!
//! Ansible runs a Python program on the host to gather facts. rplay sends one fixed POSIX
//! `sh` script instead ([`SCRIPT`]): it reads `/etc/os-release`, `/proc` and `/sys` with
//! one `head` call, runs the few programs that have no file to read (`ip`, `uname -m`,
//! `id`, `date`, `getent`) and prints every part under a `@@rplay@@ NAME` marker line.
//! The text is parsed here into Ansible's fact names and shapes, without the `ansible_`
//! prefix, as they appear under `ansible_facts` (`distribution`, `default_ipv4.address`,
//! `memtotal_mb`, …). The engine also exposes each one as `ansible_NAME`.
//!
//! `gather_subset` chooses the collectors exactly as Ansible does (`all`, `min`, `!hardware`,
//! `network`, fact names such as `kernel`); the script skips what is not wanted.

use crate::transport::{Exec, Transport};
use crate::ModuleError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Where Ansible looks for local facts (`*.fact` files) unless told otherwise.
pub const DEFAULT_FACT_PATH: &str = "/etc/ansible/facts.d";

/// Seconds Ansible gives one collector unless told otherwise.
pub const DEFAULT_GATHER_TIMEOUT: u64 = 10;

/// What to gather and how long to wait for slow parts (mounted filesystems).
#[derive(Debug, Clone)]
pub struct GatherOptions {
    /// Ansible's `gather_subset`: `all`, `min`, collector or fact names, `!name` to leave out.
    pub subset: Vec<String>,
    /// Directory of `*.fact` files for `local` facts.
    pub fact_path: String,
    /// Seconds allowed for statting mounted filesystems.
    pub timeout: u64,
}

impl Default for GatherOptions {
    fn default() -> Self {
        GatherOptions {
            subset: vec!["all".to_string()],
            fact_path: DEFAULT_FACT_PATH.to_string(),
            timeout: DEFAULT_GATHER_TIMEOUT,
        }
    }
}

/// Gathers the facts that `subset` asks for (Ansible's `gather_subset`), with Ansible's
/// default fact path and timeout. This is what a play's `gather_facts` runs.
pub async fn gather(
    transport: &dyn Transport,
    subset: &[String],
) -> Result<Map<String, Value>, ModuleError> {
    gather_with(
        transport,
        &GatherOptions {
            subset: subset.to_vec(),
            ..GatherOptions::default()
        },
    )
    .await
}

/// Gathers facts with every option of the `setup` module.
pub async fn gather_with(
    transport: &dyn Transport,
    options: &GatherOptions,
) -> Result<Map<String, Value>, ModuleError> {
    let collectors = collectors(&options.subset).map_err(ModuleError::Failed)?;
    let names: Vec<&str> = collectors.iter().copied().collect();
    let exec = Exec::new([
        "sh".to_string(),
        "-c".to_string(),
        SCRIPT.to_string(),
        "rplay-facts".to_string(),
        names.join(" "),
        options.fact_path.clone(),
        options.timeout.to_string(),
    ]);
    // The script bounds its own slow part (statting mounts) by the timeout; this outer
    // bound only guards against a host that stops answering in the middle.
    let limit = Duration::from_secs(options.timeout.saturating_mul(2).saturating_add(30));
    let output = tokio::time::timeout(limit, transport.run(&exec))
        .await
        .map_err(|_| {
            ModuleError::failed(format!(
                "gathering facts took longer than {} seconds",
                limit.as_secs()
            ))
        })??;
    if output.stdout.is_empty() {
        return Err(ModuleError::failed(format!(
            "the fact script printed nothing (exit {}): {}",
            output.rc,
            output.stderr_text().trim()
        )));
    }
    Ok(parse(
        &String::from_utf8_lossy(&output.stdout),
        &collectors,
        &options.subset,
    ))
}

/// Every collector Ansible knows, as named in `gather_subset`. `python`, `facter` and
/// `ohai` are accepted and gather nothing: there is no Python on the host.
pub const COLLECTORS: &[&str] = &[
    "apparmor",
    "caps",
    "chroot",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "facter",
    "fibre_channel_wwn",
    "fips",
    "hardware",
    "iscsi",
    "loadavg",
    "local",
    "lsb",
    "network",
    "nvme",
    "ohai",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "systemd",
    "user",
    "virtual",
];

/// What `min` always gathers, as in Ansible's `setup` module.
pub const MINIMAL: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// Fact names that Ansible also accepts in `gather_subset`, and the collector they name.
const FACT_IDS: &[(&str, &str)] = &[
    ("all_ipv4_addresses", "network"),
    ("all_ipv6_addresses", "network"),
    ("architecture", "platform"),
    ("default_ipv4", "network"),
    ("default_ipv6", "network"),
    ("devices", "hardware"),
    ("distribution_major_version", "distribution"),
    ("distribution_release", "distribution"),
    ("distribution_version", "distribution"),
    ("dmi", "hardware"),
    ("effective_group_ids", "user"),
    ("effective_user_id", "user"),
    ("interfaces", "network"),
    ("is_chroot", "chroot"),
    ("kernel", "platform"),
    ("kernel_version", "platform"),
    ("machine", "platform"),
    ("machine_id", "platform"),
    ("mounts", "hardware"),
    ("os_family", "distribution"),
    ("processor", "hardware"),
    ("processor_cores", "hardware"),
    ("processor_count", "hardware"),
    ("python_version", "platform"),
    ("real_user_id", "user"),
    ("ssh_host_key_dsa_public", "ssh_pub_keys"),
    ("ssh_host_key_ecdsa_public", "ssh_pub_keys"),
    ("ssh_host_key_ed25519_public", "ssh_pub_keys"),
    ("ssh_host_key_rsa_public", "ssh_pub_keys"),
    ("ssh_host_pub_keys", "ssh_pub_keys"),
    ("system", "platform"),
    ("system_capabilities", "caps"),
    ("system_capabilities_enforced", "caps"),
    ("user_dir", "user"),
    ("user_gecos", "user"),
    ("user_gid", "user"),
    ("user_id", "user"),
    ("user_shell", "user"),
    ("user_uid", "user"),
    ("virtualization_role", "virtual"),
    ("virtualization_type", "virtual"),
];

/// Collectors whose facts another collector reads (Ansible's `required_facts`).
const REQUIRES: &[(&str, &[&str])] = &[
    ("hardware", &["platform"]),
    ("network", &["distribution", "platform"]),
    ("pkg_mgr", &["distribution"]),
    ("service_mgr", &["distribution", "platform"]),
];

fn collector_of(name: &str) -> Option<&'static str> {
    COLLECTORS
        .iter()
        .copied()
        .find(|c| *c == name)
        .or_else(|| FACT_IDS.iter().find(|(id, _)| *id == name).map(|(_, c)| *c))
}

/// The collectors that a `gather_subset` selects, following Ansible's rules: `min` is
/// always added unless `!min` is given, `all` adds everything, `!all` takes away all but
/// `min`, `!name` takes away one, and a name given explicitly wins over an exclusion.
pub fn collectors(subset: &[String]) -> Result<BTreeSet<&'static str>, String> {
    let subset: Vec<String> = if subset.is_empty() {
        vec!["all".to_string()]
    } else {
        subset.to_vec()
    };
    let mut added: BTreeSet<&'static str> = BTreeSet::new();
    let mut excluded: BTreeSet<&'static str> = BTreeSet::new();
    let mut explicit: BTreeSet<&'static str> = BTreeSet::new();
    for item in std::iter::once("min").chain(subset.iter().map(|s| s.trim())) {
        match item {
            "min" => added.extend(MINIMAL),
            "all" => added.extend(COLLECTORS),
            "!min" => excluded.extend(MINIMAL),
            "!all" => excluded.extend(COLLECTORS.iter().filter(|c| !MINIMAL.contains(c))),
            _ => {
                let (negated, name) = match item.strip_prefix('!') {
                    Some(name) => (true, name),
                    None => (false, item),
                };
                let collector = collector_of(name).ok_or_else(|| {
                    let mut allowed: Vec<&str> = COLLECTORS.to_vec();
                    allowed.extend(FACT_IDS.iter().map(|(id, _)| *id));
                    allowed.sort_unstable();
                    format!(
                        "bad subset `{name}` in `gather_subset`; allowed: all, min, {}",
                        allowed.join(", ")
                    )
                })?;
                if negated {
                    excluded.insert(collector);
                } else {
                    explicit.insert(collector);
                    added.insert(collector);
                }
            }
        }
    }
    let mut chosen: BTreeSet<&'static str> = added
        .into_iter()
        .filter(|c| !excluded.contains(c) || explicit.contains(c))
        .collect();
    for (collector, needs) in REQUIRES {
        if chosen.contains(collector) {
            chosen.extend(needs.iter().copied());
        }
    }
    Ok(chosen)
}

/// Keeps the facts whose names match one of the shell-style patterns, as `setup`'s
/// `filter` does. Patterns may carry the `ansible_` prefix or not; no pattern keeps all.
pub fn filter(facts: Map<String, Value>, patterns: &[String]) -> Map<String, Value> {
    let patterns: Vec<&str> = patterns.iter().map(|p| p.as_str()).collect();
    if patterns.is_empty() || patterns.iter().all(|p| p.is_empty() || *p == "*") {
        return facts;
    }
    facts
        .into_iter()
        .filter(|(name, _)| {
            let prefixed = format!("ansible_{name}");
            patterns.iter().any(|pattern| {
                glob_match(pattern, &prefixed)
                    || (!pattern.starts_with("ansible_")
                        && !pattern.starts_with("facter")
                        && !pattern.starts_with("ohai")
                        && glob_match(pattern, name))
            })
        })
        .collect()
}

/// Python's `fnmatch.fnmatchcase`: `*`, `?`, `[seq]` and `[!seq]`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn class_end(pattern: &[char], start: usize) -> Option<usize> {
        let mut index = start + 1;
        if pattern.get(index) == Some(&'!') {
            index += 1;
        }
        if pattern.get(index) == Some(&']') {
            index += 1;
        }
        while index < pattern.len() {
            if pattern[index] == ']' {
                return Some(index);
            }
            index += 1;
        }
        None
    }
    fn class_matches(class: &[char], c: char) -> bool {
        let (negated, class) = match class.first() {
            Some('!') => (true, &class[1..]),
            _ => (false, class),
        };
        let mut found = false;
        let mut index = 0;
        while index < class.len() {
            if index + 2 < class.len() && class[index + 1] == '-' {
                if class[index] <= c && c <= class[index + 2] {
                    found = true;
                }
                index += 3;
            } else {
                if class[index] == c {
                    found = true;
                }
                index += 1;
            }
        }
        found != negated
    }
    fn matches(pattern: &[char], text: &[char]) -> bool {
        let Some(&first) = pattern.first() else {
            return text.is_empty();
        };
        match first {
            '*' => (0..=text.len()).any(|skip| matches(&pattern[1..], &text[skip..])),
            '?' => !text.is_empty() && matches(&pattern[1..], &text[1..]),
            '[' => match class_end(pattern, 0) {
                Some(end) => {
                    !text.is_empty()
                        && class_matches(&pattern[1..end], text[0])
                        && matches(&pattern[end + 1..], &text[1..])
                }
                None => text.first() == Some(&'[') && matches(&pattern[1..], &text[1..]),
            },
            c => text.first() == Some(&c) && matches(&pattern[1..], &text[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

/// The script that reads everything. Arguments: the collectors wanted (space-separated),
/// the local fact directory, and the seconds allowed for statting filesystems.
///
/// Files are not printed one by one: their paths are collected and read by one `head -v`
/// at the end, which prints `==> PATH <==` before each. Symlink targets likewise come from
/// one `ls -ld`. Everything else is a section opened by a `@@rplay@@ NAME` line.
pub const SCRIPT: &str = r#"
sections=" $1 "; fact_path=$2; gather_timeout=${3:-10}
nl='
'
files=; links=
want() { case $sections in *" $1 "*) return 0 ;; esac; return 1; }
mark() { printf '\n@@rplay@@ %s\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
read_files() {
  for f do
    case "$files$nl" in *"$nl$f$nl"*) continue ;; esac
    [ -e "$f" ] && files="$files$nl$f"
  done
  return 0
}
read_links() { for f do [ -L "$f" ] && links="$links$nl$f"; done; return 0; }
exists() { mark exists; for f do [ -e "$f" ] && printf '%s\n' "$f"; done; return 0; }

if want platform; then
  read_files /proc/sys/kernel/ostype /proc/sys/kernel/osrelease /proc/sys/kernel/version \
    /proc/sys/kernel/hostname /var/lib/dbus/machine-id /etc/machine-id
  mark machine; uname -m
  mark long-bit; getconf LONG_BIT 2>/dev/null
  mark fqdn
  node=; read -r node </proc/sys/kernel/hostname 2>/dev/null || node=$(uname -n)
  printf '%s\n' "$node"
  if have getent; then
    address=$(getent ahosts "$node" 2>/dev/null | { read -r first rest; printf '%s' "$first"; })
    [ -n "$address" ] && getent hosts "$address" 2>/dev/null
  fi
fi

if want distribution; then
  read_files /etc/os-release /usr/lib/os-release /etc/debian_version /etc/lsb-release \
    /etc/redhat-release /etc/centos-release /etc/oracle-release /etc/system-release \
    /etc/alpine-release /etc/SuSE-release /etc/altlinux-release /etc/slackware-version \
    /etc/gentoo-release /etc/openwrt_release /etc/sourcemage-release /etc/coreos/update.conf
  exists /etc/arch-release /etc/vmware-release
fi

if want lsb; then
  read_files /etc/lsb-release
  if have lsb_release; then mark lsb-release; lsb_release -a 2>/dev/null; fi
fi

if want selinux; then
  read_files /sys/fs/selinux/enforce /sys/fs/selinux/policyvers /etc/selinux/config
  exists /sys/fs/selinux/enforce
fi
if want apparmor; then exists /sys/kernel/security/apparmor; fi
if want fips; then read_files /proc/sys/crypto/fips_enabled; fi
if want cmdline; then read_files /proc/cmdline; fi
if want loadavg; then read_files /proc/loadavg; fi
if want dns; then read_files /etc/resolv.conf; fi
if want iscsi; then read_files /etc/iscsi/initiatorname.iscsi; fi
if want nvme; then read_files /etc/nvme/hostnqn; fi
if want fibre_channel_wwn; then read_files /sys/class/fc_host/*/port_name; fi
if want ssh_pub_keys; then
  for dir in /etc/ssh /etc/openssh /etc; do
    for algo in dsa rsa ecdsa ed25519; do read_files "$dir/ssh_host_${algo}_key.pub"; done
  done
fi

if want chroot; then
  mark chroot
  printf 'debian_chroot=%s\n' "${debian_chroot:-}"
  if ( cd /proc/1/root/. ) 2>/dev/null; then
    if [ / -ef /proc/1/root/. ]; then echo same-root; else echo other-root; fi
  else
    printf 'root-inode=%s\n' "$(stat -c %i / 2>/dev/null)"
    printf 'root-fstype=%s\n' "$(stat -f -c %T / 2>/dev/null)"
  fi
fi

if want caps && have capsh; then mark capsh; capsh --print 2>/dev/null; fi

if want env; then
  if [ -r /proc/self/environ ]; then read_files /proc/self/environ; else mark env; env; fi
fi

if want user; then
  mark id; id
  user=${LOGNAME:-${USER:-${LNAME:-${USERNAME:-}}}}
  mark user; printf '%s\n' "$user"
  mark passwd
  { [ -n "$user" ] && getent passwd "$user" 2>/dev/null; } || getent passwd "$(id -u)" 2>/dev/null \
    || grep "^$(id -un):" /etc/passwd
fi

if want date_time; then
  mark date; LC_ALL=C date '+%Y|%m|%A|%w|%W|%d|%H|%M|%S|%s|%N|%Z|%z'
  mark date-january; LC_ALL=C date -d '01/01 12:00' '+%Z|%z' 2>/dev/null
  mark date-july; LC_ALL=C date -d '07/01 12:00' '+%Z|%z' 2>/dev/null
fi

if want service_mgr; then
  read_files /proc/1/comm
  read_links /sbin/init
  exists /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/ /etc/init/ /sbin/openrc \
    /etc/init.d/ /etc/dinit.d/
  mark have; for c in systemctl initctl; do have $c && echo $c; done
fi

if want systemd && have systemctl \
  && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then
  mark systemctl-version; systemctl --version 2>/dev/null
fi

if want pkg_mgr; then
  exists /usr/bin/rpm-ostree /usr/bin/yum /usr/bin/dnf-3 /usr/bin/dnf5 /usr/bin/apt-get \
    /usr/bin/zypper /usr/sbin/urpmi /usr/bin/pacman /bin/opkg /usr/pkg/bin/pkgin \
    /opt/local/bin/pkgin /opt/tools/bin/pkgin /opt/local/bin/port /usr/local/bin/brew \
    /opt/homebrew/bin/brew /sbin/apk /usr/sbin/pkg /usr/sbin/swlist /usr/bin/emerge \
    /usr/sbin/pkgadd /usr/bin/pkg /usr/bin/xbps-install /usr/local/sbin/pkg /usr/bin/swupd \
    /usr/sbin/sorcery /usr/bin/installp /run/ostree-booted /usr/bin/dnf /usr/bin/microdnf \
    /usr/bin/rpm
  mark dnf-realpath
  for b in /usr/bin/dnf /usr/bin/microdnf; do
    [ -e "$b" ] && printf '%s %s\n' "$b" "$(readlink -f "$b")"
  done
  if [ -e /usr/bin/rpm ] && [ -e /usr/bin/apt-get ]; then
    mark apt-rpm; /usr/bin/rpm -q --whatprovides /usr/bin/apt-get >/dev/null 2>&1; echo $?
  fi
fi

if want virtual; then
  read_files /proc/1/cgroup /proc/1/environ /run/systemd/container /proc/xen/capabilities \
    /sys/devices/virtual/dmi/id/product_name /sys/devices/virtual/dmi/id/sys_vendor \
    /sys/devices/virtual/dmi/id/product_family /sys/devices/virtual/dmi/id/bios_vendor \
    /proc/self/status /proc/cpuinfo /proc/modules
  exists /proc/vz /proc/lve /proc/bc /.dockerenv /.dockerinit /proc/xen /rhev/ /dev/kvm
fi

if want hardware; then
  read_files /proc/cpuinfo /proc/meminfo /proc/uptime /sys/hypervisor/type
  exists /proc/xen /sys/devices/virtual/dmi/id/product_name
  for f in bios_date bios_vendor bios_version board_asset_tag board_name board_serial \
    board_vendor board_version chassis_asset_tag chassis_serial chassis_vendor \
    chassis_version chassis_type product_name product_serial product_uuid product_version \
    sys_vendor; do
    read_files "/sys/devices/virtual/dmi/id/$f"
  done
  mark nproc; nproc 2>/dev/null
  mtab=/etc/mtab; [ -e "$mtab" ] || mtab=/proc/mounts
  read_files "$mtab"
  mark mtab-path; printf '%s\n' "$mtab"
  if have lsblk; then
    mark lsblk; lsblk --list --noheadings --paths --output NAME,UUID --exclude 2 2>/dev/null
  fi
  if have findmnt; then mark findmnt; findmnt --list --noheadings --notruncate 2>/dev/null; fi
  mark statfs
  limit=; have timeout && limit="timeout $gather_timeout"
  awk '($1 ~ /^[\/\\]/ || $1 ~ /:\//) && $3 != "none" {print $2}' "$mtab" 2>/dev/null \
    | while IFS= read -r m; do printf '%b\0' "$m"; done \
    | $limit xargs -0 stat -f -c '%S|%s|%b|%f|%a|%c|%d|%n' -- 2>/dev/null
fi

if want network; then
  if have ip; then
    mark ip-addr; ip -o addr show 2>/dev/null
    mark route-v4; ip -4 route get 8.8.8.8 2>/dev/null
    mark route-v6; ip -6 route get 2404:6800:400a:800::1012 2>/dev/null
    mark local-v4; ip -4 route show table local 2>/dev/null
    mark local-v6; ip -6 route show table local 2>/dev/null
    for d in /sys/class/net/*; do
      [ -d "$d" ] || continue
      mark net-device; printf '%s\n' "${d##*/}"
      for f in address mtu operstate type speed flags bridge/bridge_id bridge/stp_state \
        bonding/slaves bonding/mode bonding/miimon bonding/lacp_rate bonding/primary \
        bonding/all_slaves_active bonding_slave/perm_hwaddr; do
        read_files "$d/$f"
      done
      read_links "$d/device" "$d/device/driver/module"
      exists "$d/bridge" "$d/bonding" "$d/bonding_slave" "$d/device" "$d"/brif/*
    done
  else
    read_files /proc/net/route
  fi
fi

if want local && [ -d "$fact_path" ]; then
  for f in "$fact_path"/*.fact; do
    [ -e "$f" ] || continue
    if [ -x "$f" ]; then
      mark "local-exec $f"; "$f" 2>/dev/null; mark "local-rc $?"
    else
      mark "local-file $f"; cat -- "$f"
    fi
  done
fi

mark files
IFS=$nl; set -f
[ -n "$files" ] && head -v -n 1000000 -- $files 2>/dev/null
mark links
[ -n "$links" ] && ls -ld -- $links 2>/dev/null
mark end
exit 0
"#;

/// The script's output, cut into its parts.
#[derive(Debug, Default)]
struct Raw {
    /// `(name, content)` in order; a name may repeat (`exists`).
    sections: Vec<(String, String)>,
    /// File contents by path, as `head -v` printed them.
    files: BTreeMap<String, String>,
    /// Paths that exist.
    exists: BTreeSet<String>,
    /// Symlink targets by path, as `ls -ld` printed them.
    links: BTreeMap<String, String>,
}

const MARKER: &str = "\n@@rplay@@ ";

impl Raw {
    fn parse(text: &str) -> Raw {
        let mut raw = Raw::default();
        let text = format!("\n{text}");
        for chunk in text.split(MARKER).skip(1) {
            let (name, content) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let name = name.trim_end().to_string();
            match name.as_str() {
                "exists" => raw
                    .exists
                    .extend(content.lines().filter(|l| !l.is_empty()).map(String::from)),
                "files" => raw.files = parse_head_output(content),
                "links" => raw.links = parse_ls_links(content),
                _ => raw.sections.push((name, content.to_string())),
            }
        }
        raw
    }

    /// A section's content; sections of the same name are joined.
    fn section(&self, name: &str) -> Option<String> {
        let parts: Vec<&str> = self
            .sections
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.concat())
        }
    }

    fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(|s| s.as_str())
    }

    /// Like Ansible's `get_file_content`: the content stripped, `None` when unreadable.
    fn content(&self, path: &str) -> Option<String> {
        self.file(path).map(|s| s.trim().to_string())
    }

    fn exists(&self, path: &str) -> bool {
        self.exists.contains(path) || self.files.contains_key(path)
    }

    fn lines(&self, name: &str) -> Vec<String> {
        self.section(name)
            .map(|s| s.lines().map(String::from).collect())
            .unwrap_or_default()
    }

    fn first_line(&self, name: &str) -> Option<String> {
        self.section(name)
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .filter(|l| !l.is_empty())
    }
}

/// `head -v` prints `==> PATH <==` before each file and an empty line between files.
fn parse_head_output(text: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let finish = |current: Option<(String, Vec<&str>)>, files: &mut BTreeMap<String, String>| {
        if let Some((path, mut lines)) = current {
            if lines.last() == Some(&"") {
                lines.pop();
            }
            let mut content = lines.join("\n");
            if !lines.is_empty() {
                content.push('\n');
            }
            files.insert(path, content);
        }
    };
    for line in text.split('\n') {
        if let Some(path) = line
            .strip_prefix("==> ")
            .and_then(|rest| rest.strip_suffix(" <=="))
            .filter(|path| path.starts_with('/'))
        {
            finish(current.take(), &mut files);
            current = Some((path.to_string(), Vec::new()));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    finish(current, &mut files);
    files
}

/// `ls -ld` lines of symlinks: `lrwxrwxrwx 1 root root 0 Nov 21 00:39 /path -> target`.
fn parse_ls_links(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let path = &left[left.find(" /")? + 1..];
            Some((path.to_string(), target.to_string()))
        })
        .collect()
}

/// Turns the script's output into facts. Public for tests that replay a captured output.
pub fn parse(text: &str, collectors: &BTreeSet<&str>, subset: &[String]) -> Map<String, Value> {
    let raw = Raw::parse(text);
    let mut facts = BTreeMap::new();
    let wants = |name: &str| collectors.contains(name);
    if wants("platform") {
        platform(&raw, &mut facts);
    }
    if wants("distribution") {
        distribution(&raw, &mut facts);
    }
    if wants("lsb") {
        lsb(&raw, &mut facts);
    }
    if wants("selinux") {
        selinux(&raw, &mut facts);
    }
    if wants("apparmor") {
        let status = if raw.exists("/sys/kernel/security/apparmor") {
            "enabled"
        } else {
            "disabled"
        };
        facts.insert("apparmor".into(), json!({ "status": status }));
    }
    if wants("fips") {
        let fips = raw.content("/proc/sys/crypto/fips_enabled").as_deref() == Some("1");
        facts.insert("fips".into(), Value::Bool(fips));
    }
    if wants("chroot") {
        chroot(&raw, &mut facts);
    }
    if wants("caps") {
        capabilities(&raw, &mut facts);
    }
    if wants("cmdline") {
        if let Some(line) = raw.content("/proc/cmdline").filter(|l| !l.is_empty()) {
            facts.insert("cmdline".into(), cmdline(&line, false));
            facts.insert("proc_cmdline".into(), cmdline(&line, true));
        }
    }
    if wants("loadavg") {
        if let Some(line) = raw.content("/proc/loadavg") {
            let values: Vec<f64> = line
                .split_whitespace()
                .take(3)
                .filter_map(|v| v.parse().ok())
                .collect();
            if values.len() == 3 {
                facts.insert(
                    "loadavg".into(),
                    json!({ "1m": values[0], "5m": values[1], "15m": values[2] }),
                );
            }
        }
    }
    if wants("dns") {
        facts.insert(
            "dns".into(),
            dns(raw.file("/etc/resolv.conf").unwrap_or_default()),
        );
    }
    if wants("iscsi") {
        let iqn = raw
            .file("/etc/iscsi/initiatorname.iscsi")
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("InitiatorName="))
            .unwrap_or_default()
            .to_string();
        facts.insert("iscsi_iqn".into(), Value::String(iqn));
    }
    if wants("nvme") {
        let nqn = raw
            .file("/etc/nvme/hostnqn")
            .unwrap_or_default()
            .lines()
            .find(|line| line.starts_with("nqn."))
            .unwrap_or_default()
            .to_string();
        facts.insert("hostnqn".into(), Value::String(nqn));
    }
    if wants("fibre_channel_wwn") {
        let wwns: Vec<Value> = raw
            .files
            .iter()
            .filter(|(path, _)| path.starts_with("/sys/class/fc_host/"))
            .map(|(_, content)| {
                let wwn = content.trim();
                Value::String(wwn.strip_prefix("0x").unwrap_or(wwn).to_string())
            })
            .collect();
        facts.insert("fibre_channel_wwn".into(), Value::Array(wwns));
    }
    if wants("ssh_pub_keys") {
        ssh_pub_keys(&raw, &mut facts);
    }
    if wants("env") {
        facts.insert("env".into(), Value::Object(environment(&raw)));
    }
    if wants("user") {
        user(&raw, &mut facts);
    }
    if wants("date_time") {
        if let Some(date_time) = date_time(&raw) {
            facts.insert("date_time".into(), date_time);
        }
    }
    if wants("service_mgr") {
        let name = service_manager(&raw);
        facts.insert("service_mgr".into(), Value::String(name));
    }
    if wants("systemd") {
        if let Some(version) = raw.section("systemctl-version") {
            let mut lines = version.lines();
            let first = lines.next().unwrap_or_default();
            let features = lines.next().unwrap_or_default();
            if let Some(number) = first.split(' ').nth(1).and_then(|v| v.parse::<u64>().ok()) {
                facts.insert(
                    "systemd".into(),
                    json!({ "features": features, "version": number }),
                );
            }
        }
    }
    if wants("pkg_mgr") {
        let os_family = facts
            .get("os_family")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        facts.insert(
            "pkg_mgr".into(),
            Value::String(package_manager(&raw, &os_family)),
        );
    }
    if wants("virtual") {
        virtualization(&raw, &mut facts);
    }
    if wants("hardware") {
        let architecture = facts
            .get("architecture")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        hardware(&raw, &architecture, &mut facts);
    }
    if wants("network") {
        network(&raw, &mut facts);
    }
    if wants("local") {
        facts.insert("local".into(), Value::Object(local_facts(&raw)));
    }
    let subset: Vec<Value> = if subset.is_empty() {
        vec![json!("all")]
    } else {
        subset.iter().map(|s| json!(s)).collect()
    };
    facts.insert("gather_subset".into(), Value::Array(subset));
    facts.insert("module_setup".into(), Value::Bool(true));
    facts.into_iter().collect()
}

fn platform(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let system = raw
        .content("/proc/sys/kernel/ostype")
        .unwrap_or_else(|| "Linux".to_string());
    let machine = raw.first_line("machine").unwrap_or_default();
    let node = raw
        .content("/proc/sys/kernel/hostname")
        .or_else(|| raw.first_line("fqdn"))
        .unwrap_or_default();
    let fqdn = fqdn(&node, raw.lines("fqdn").get(1..).unwrap_or_default());
    let bits = raw.first_line("long-bit").unwrap_or_default();
    facts.insert("system".into(), json!(system));
    facts.insert(
        "kernel".into(),
        json!(raw
            .content("/proc/sys/kernel/osrelease")
            .unwrap_or_default()),
    );
    facts.insert(
        "kernel_version".into(),
        json!(raw.content("/proc/sys/kernel/version").unwrap_or_default()),
    );
    facts.insert("machine".into(), json!(machine));
    facts.insert("nodename".into(), json!(node));
    facts.insert(
        "hostname".into(),
        json!(node.split('.').next().unwrap_or_default()),
    );
    facts.insert(
        "domain".into(),
        json!(fqdn.split('.').skip(1).collect::<Vec<_>>().join(".")),
    );
    facts.insert("fqdn".into(), json!(fqdn));
    facts.insert("userspace_bits".into(), json!(bits));
    let i86 = regex::Regex::new(r"i([3456]86|86pc)").expect("a valid pattern");
    if machine == "x86_64" || i86.is_match(&machine) {
        let architecture = if machine == "x86_64" {
            "x86_64"
        } else {
            "i386"
        };
        facts.insert("architecture".into(), json!(architecture));
        match bits.as_str() {
            "64" => {
                facts.insert("userspace_architecture".into(), json!("x86_64"));
            }
            "32" => {
                facts.insert("userspace_architecture".into(), json!("i386"));
            }
            _ => {}
        }
    } else {
        facts.insert("architecture".into(), json!(machine));
    }
    let machine_id = raw
        .content("/var/lib/dbus/machine-id")
        .filter(|id| !id.is_empty())
        .or_else(|| raw.content("/etc/machine-id").filter(|id| !id.is_empty()));
    if let Some(id) = machine_id {
        let first = id.lines().next().unwrap_or_default().to_string();
        facts.insert("machine_id".into(), json!(first));
    }
}

/// Python's `socket.getfqdn()`: the reverse lookup of the node name's first address, the
/// first of its names that contains a dot, else its canonical name, else the node name.
fn fqdn(node: &str, reverse_lines: &[String]) -> String {
    let Some(line) = reverse_lines.iter().find(|l| !l.trim().is_empty()) else {
        return node.to_string();
    };
    let names: Vec<&str> = line.split_whitespace().skip(1).collect();
    let Some(canonical) = names.first() else {
        return node.to_string();
    };
    names
        .iter()
        .find(|name| name.contains('.'))
        .unwrap_or(canonical)
        .to_string()
}

/// `KEY=value` lines with shell quoting removed, as in `/etc/os-release`.
fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_string(), value.replace("\\\"", "\"")))
        })
        .collect()
}

const OS_FAMILIES: &[(&str, &[&str])] = &[
    (
        "RedHat",
        &[
            "RedHat",
            "RHEL",
            "Fedora",
            "CentOS",
            "Scientific",
            "SLC",
            "Ascendos",
            "CloudLinux",
            "PSBM",
            "OracleLinux",
            "OVS",
            "OEL",
            "Amazon",
            "Amzn",
            "Virtuozzo",
            "XenServer",
            "Alibaba",
            "EulerOS",
            "openEuler",
            "AlmaLinux",
            "Rocky",
            "TencentOS",
            "EuroLinux",
            "Kylin Linux Advanced Server",
            "MIRACLE",
        ],
    ),
    (
        "Debian",
        &[
            "Debian",
            "Ubuntu",
            "Raspbian",
            "Neon",
            "KDE neon",
            "Linux Mint",
            "SteamOS",
            "Devuan",
            "Kali",
            "Cumulus Linux",
            "Pop!_OS",
            "Parrot",
            "Pardus GNU/Linux",
            "Uos",
            "Deepin",
            "OSMC",
            "Linux Mint Debian Edition",
        ],
    ),
    (
        "Suse",
        &[
            "SuSE",
            "SLES",
            "SLED",
            "openSUSE",
            "openSUSE Tumbleweed",
            "SLES_SAP",
            "SUSE_LINUX",
            "openSUSE Leap",
            "ALP-Dolomite",
            "SL-Micro",
            "openSUSE MicroOS",
        ],
    ),
    ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
    ("Mandrake", &["Mandrake", "Mandriva"]),
    ("Slackware", &["Slackware"]),
    ("Altlinux", &["Altlinux"]),
    ("SMGL", &["SMGL"]),
    ("Gentoo", &["Gentoo", "Funtoo"]),
    ("Alpine", &["Alpine"]),
    ("ClearLinux", &["Clear Linux OS", "Clear Linux Mix"]),
];

/// The distribution files Ansible tries, in its order: path, name, and whether an empty
/// file is enough.
const DISTRIBUTION_FILES: &[(&str, &str, bool)] = &[
    ("/etc/altlinux-release", "Altlinux", false),
    ("/etc/oracle-release", "OracleLinux", false),
    ("/etc/slackware-version", "Slackware", false),
    ("/etc/centos-release", "CentOS", false),
    ("/etc/redhat-release", "RedHat", false),
    ("/etc/vmware-release", "VMwareESX", true),
    ("/etc/openwrt_release", "OpenWrt", false),
    ("/etc/os-release", "Amazon", false),
    ("/etc/system-release", "Amazon", false),
    ("/etc/alpine-release", "Alpine", false),
    ("/etc/arch-release", "Archlinux", true),
    ("/etc/os-release", "Archlinux", false),
    ("/etc/os-release", "SUSE", false),
    ("/etc/SuSE-release", "SUSE", false),
    ("/etc/gentoo-release", "Gentoo", false),
    ("/etc/os-release", "Debian", false),
    ("/etc/lsb-release", "Debian", false),
    ("/etc/lsb-release", "Mandriva", false),
    ("/etc/sourcemage-release", "SMGL", false),
    ("/usr/lib/os-release", "ClearLinux", false),
    ("/etc/coreos/update.conf", "Coreos", false),
    ("/etc/os-release", "Flatcar", false),
    ("/etc/os-release", "NA", false),
];

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn distribution(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let os_release_text = raw
        .file("/etc/os-release")
        .or_else(|| raw.file("/usr/lib/os-release"))
        .unwrap_or_default();
    let os_release = key_values(os_release_text);
    let get = |key: &str| os_release.get(key).cloned().unwrap_or_default();

    // What the `distro` library would say; the distribution files refine it below.
    let id = get("ID").to_lowercase();
    let mut name = capitalize(&id);
    name = match name.as_str() {
        "Amzn" => "Amazon".to_string(),
        "Rhel" => "Redhat".to_string(),
        "" => "OtherLinux".to_string(),
        _ => name,
    };
    let mut version = get("VERSION_ID");
    let numeric = regex::Regex::new(r"^\d+(\.\d+)*$").expect("a valid pattern");
    if id == "debian" {
        if let Some(debian) = raw.content("/etc/debian_version") {
            if numeric.is_match(&debian) && debian.split('.').count() > version.split('.').count() {
                version = debian;
            }
        }
    }
    if id == "centos" {
        if let Some(release) = raw.content("/etc/centos-release") {
            let full = regex::Regex::new(r"(\d+(\.\d+)*)")
                .expect("a valid pattern")
                .find(&release)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            if full.split('.').count() > version.split('.').count() {
                version = full;
            }
        }
        version = version.split('.').take(2).collect::<Vec<_>>().join(".");
    }
    let codename = os_release
        .get("VERSION_CODENAME")
        .or_else(|| os_release.get("UBUNTU_CODENAME"))
        .cloned()
        .or_else(|| {
            // `distro` takes the codename from `VERSION="9.4 (Plow)"` as a last resort.
            let version_text = get("VERSION");
            let inner = version_text
                .split_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(inner, _)| inner.trim().to_string())
                .or_else(|| {
                    version_text
                        .split_once(", ")
                        .map(|(_, rest)| rest.trim().to_string())
                });
            inner.filter(|c| !c.is_empty())
        });
    let version = if version.is_empty() {
        "NA".to_string()
    } else {
        version
    };
    let mut dist: BTreeMap<String, Value> = BTreeMap::new();
    dist.insert("distribution".into(), json!(name));
    dist.insert("distribution_version".into(), json!(version));
    dist.insert(
        "distribution_release".into(),
        json!(codename.unwrap_or_else(|| "NA".to_string())),
    );
    let major = version.split('.').next().unwrap_or_default();
    dist.insert(
        "distribution_major_version".into(),
        json!(if major.is_empty() { "NA" } else { major }),
    );

    for (path, file_name, allow_empty) in DISTRIBUTION_FILES {
        let content = match raw.file(path) {
            Some(content) if !content.trim().is_empty() || *allow_empty => content,
            None if *allow_empty && raw.exists(path) => "",
            _ => continue,
        };
        if *allow_empty {
            dist.insert("distribution".into(), json!(file_name));
            dist.insert("distribution_file_path".into(), json!(path));
            dist.insert("distribution_file_variety".into(), json!(file_name));
            break;
        }
        let data = content
            .trim()
            .trim_matches(|c| c == '\'' || c == '"' || c == '\\');
        if let Some(parsed) = parse_distribution_file(file_name, data, path, &dist, raw) {
            dist.insert("distribution".into(), json!(file_name));
            dist.insert("distribution_file_path".into(), json!(path));
            dist.insert("distribution_file_variety".into(), json!(file_name));
            dist.insert("distribution_file_parsed".into(), json!(true));
            dist.extend(parsed);
            break;
        }
    }
    let distribution = dist
        .get("distribution")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let family = OS_FAMILIES
        .iter()
        .find(|(_, members)| members.contains(&distribution.as_str()))
        .map(|(family, _)| family.to_string())
        .unwrap_or(distribution);
    dist.insert("os_family".into(), json!(family));
    facts.extend(dist);
}

/// One of Ansible's `parse_distribution_file_NAME` functions; `None` when the file does
/// not describe that distribution.
fn parse_distribution_file(
    name: &str,
    data: &str,
    path: &str,
    collected: &BTreeMap<String, Value>,
    raw: &Raw,
) -> Option<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    let capture = |pattern: &str| -> Option<String> {
        regex::Regex::new(pattern)
            .ok()?
            .captures(data)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    };
    let search_string = match name {
        "OracleLinux" => Some("Oracle Linux"),
        "RedHat" => Some("Red Hat"),
        "Altlinux" => Some("ALT"),
        "SMGL" => Some("Source Mage GNU/Linux"),
        _ => None,
    };
    if let Some(search) = search_string {
        if data.contains(search) {
            out.insert("distribution".into(), json!(name));
            out.insert("distribution_file_search_string".into(), json!(search));
        } else {
            let first = data.split_whitespace().next().unwrap_or_default();
            out.insert("distribution".into(), json!(first));
        }
        return Some(out);
    }
    let version_of = |collected: &BTreeMap<String, Value>| {
        collected
            .get("distribution_version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match name {
        "Archlinux" => {
            if data.contains("Arch Linux") {
                out.insert("distribution".into(), json!("Archlinux"));
                Some(out)
            } else {
                None
            }
        }
        "Slackware" => {
            if !data.contains("Slackware") {
                return None;
            }
            out.insert("distribution".into(), json!(name));
            if let Some(v) = regex::Regex::new(r"\w+[.]\w+\+?")
                .ok()
                .and_then(|r| r.find(data).map(|m| m.as_str().to_string()))
            {
                out.insert("distribution_version".into(), json!(v));
            }
            Some(out)
        }
        "Amazon" => {
            if !data.contains("Amazon") {
                return None;
            }
            out.insert("distribution".into(), json!("Amazon"));
            if path == "/etc/os-release" {
                if let Some(version) = capture(r#"VERSION_ID="(.*)""#) {
                    let parts: Vec<&str> = version.split('.').collect();
                    let major = parts[0].to_string();
                    let minor = parts.get(1).map(|m| m.to_string()).unwrap_or("NA".into());
                    out.insert("distribution_version".into(), json!(version));
                    out.insert("distribution_major_version".into(), json!(major));
                    out.insert("distribution_minor_version".into(), json!(minor));
                }
            } else {
                let version = data
                    .split_whitespace()
                    .find(|w| w.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or("NA");
                out.insert("distribution_version".into(), json!(version));
            }
            Some(out)
        }
        "OpenWrt" => {
            if !data.contains("OpenWrt") {
                return None;
            }
            out.insert("distribution".into(), json!(name));
            if let Some(v) = capture(r#"DISTRIB_RELEASE="(.*)""#) {
                out.insert("distribution_version".into(), json!(v));
            }
            if let Some(r) = capture(r#"DISTRIB_CODENAME="(.*)""#) {
                out.insert("distribution_release".into(), json!(r));
            }
            Some(out)
        }
        "Alpine" => {
            out.insert("distribution".into(), json!("Alpine"));
            out.insert("distribution_version".into(), json!(data));
            Some(out)
        }
        "SUSE" => {
            if !data.to_lowercase().contains("suse") {
                return None;
            }
            let lower = data.to_lowercase();
            let version =
                regex::Regex::new(r#"^VERSION_ID="?([0-9]+\.?[0-9]*)"?"#).expect("a valid pattern");
            let release =
                regex::Regex::new(r#"^VERSION_ID="?[0-9]+\.?([0-9]*)"?"#).expect("a valid pattern");
            if path == "/etc/os-release" {
                for line in data.lines() {
                    if let Some(name) = line.strip_prefix("NAME=") {
                        out.insert("distribution".into(), json!(name.trim_matches('"')));
                    }
                    if let Some(c) = version.captures(line) {
                        let v = c[1].to_string();
                        let major = v.split('.').next().unwrap_or_default().to_string();
                        out.insert("distribution_version".into(), json!(v));
                        out.insert("distribution_major_version".into(), json!(major));
                    }
                    if lower.contains("open") {
                        if let Some(c) = release.captures(line) {
                            out.insert("distribution_release".into(), json!(c[1].to_string()));
                        }
                    } else if lower.contains("enterprise") && line.contains("VERSION_ID") {
                        if let Some(c) = release.captures(line) {
                            let r = if c[1].is_empty() { "0" } else { &c[1] };
                            out.insert("distribution_release".into(), json!(r));
                        }
                    }
                }
            }
            if let Some(variant) = regex::Regex::new(r#"(?m)^VARIANT_ID="?([^"\n]*)"?"#)
                .expect("a valid pattern")
                .captures(data)
            {
                match &variant[1] {
                    "server-sap" | "sles-sap" => {
                        out.insert("distribution".into(), json!("SLES_SAP"));
                    }
                    "transactional" => {
                        out.insert("distribution".into(), json!("SL-Micro"));
                    }
                    _ => {}
                }
            }
            Some(out)
        }
        "Debian" => parse_debian_family(data, path, raw),
        "Mandriva" => {
            if !data.contains("Mandriva") {
                return None;
            }
            if let Some(v) = capture(r#"DISTRIB_RELEASE="(.*)""#) {
                out.insert("distribution_version".into(), json!(v));
            }
            if let Some(r) = capture(r#"DISTRIB_CODENAME="(.*)""#) {
                out.insert("distribution_release".into(), json!(r));
            }
            out.insert("distribution".into(), json!(name));
            Some(out)
        }
        "CentOS" => {
            if data.contains("CentOS Stream") {
                out.insert("distribution_release".into(), json!("Stream"));
                Some(out)
            } else if data.contains("TencentOS Server") {
                out.insert("distribution".into(), json!("TencentOS"));
                Some(out)
            } else {
                None
            }
        }
        "ClearLinux" => None,
        "Coreos" => {
            let guessed = collected
                .get("distribution")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            if guessed != "coreos" || data.is_empty() {
                return None;
            }
            if let Some(group) = regex::Regex::new(r"(?m)^GROUP=(.*)")
                .expect("a valid pattern")
                .captures(data)
            {
                out.insert(
                    "distribution_release".into(),
                    json!(group[1].trim_matches('"')),
                );
            }
            Some(out)
        }
        "Flatcar" => {
            let guessed = collected
                .get("distribution")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            if guessed != "flatcar" || data.is_empty() {
                return None;
            }
            if let Some(version) = capture(r"VERSION=(.*)") {
                let version = version.trim_matches('"').to_string();
                let major = version.split('.').next().unwrap_or_default().to_string();
                out.insert("distribution_major_version".into(), json!(major));
                out.insert("distribution_version".into(), json!(version));
            }
            Some(out)
        }
        "NA" => {
            for line in data.lines() {
                if let Some(value) = line.strip_prefix("NAME=") {
                    out.insert("distribution".into(), json!(value.trim_matches('"')));
                }
                if let Some(value) = line.strip_prefix("VERSION=") {
                    if version_of(collected) == "NA" {
                        out.insert(
                            "distribution_version".into(),
                            json!(value.trim_matches('"')),
                        );
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// `parse_distribution_file_Debian`: Debian and the distributions built on it.
fn parse_debian_family(data: &str, path: &str, raw: &Raw) -> Option<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    let capture = |pattern: &str| -> Option<String> {
        regex::Regex::new(pattern)
            .ok()?
            .captures(data)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    };
    let set_version = |out: &mut BTreeMap<String, Value>, version: String, major: String| {
        out.insert("distribution_version".into(), json!(version));
        out.insert("distribution_major_version".into(), json!(major));
    };
    if data.contains("Debian") || data.contains("Raspbian") {
        out.insert("distribution".into(), json!("Debian"));
        if let Some(release) = capture(r"PRETTY_NAME=[^(]+ \(?([^)]+?)\)") {
            out.insert("distribution_release".into(), json!(release));
        }
        let lines = raw.file("/etc/debian_version").unwrap_or_default();
        let minor = regex::Regex::new(r"(\d+)\.(\d+)").expect("a valid pattern");
        for line in lines.lines() {
            if let Some(c) = minor.captures(line.trim()) {
                out.insert("distribution_minor_version".into(), json!(c[2].to_string()));
            }
        }
    } else if data.contains("Ubuntu") {
        out.insert("distribution".into(), json!("Ubuntu"));
    } else if data.contains("SteamOS") {
        out.insert("distribution".into(), json!("SteamOS"));
    } else if (path == "/etc/lsb-release" || path == "/etc/os-release")
        && (data.contains("Kali") || data.contains("Parrot"))
    {
        let name = if data.contains("Kali") {
            "Kali"
        } else {
            "Parrot"
        };
        out.insert("distribution".into(), json!(name));
        if let Some(release) = capture(r"DISTRIB_RELEASE=(.*)") {
            out.insert("distribution_release".into(), json!(release));
        }
    } else if data.contains("Devuan") {
        out.insert("distribution".into(), json!("Devuan"));
        if let Some(release) = capture(r#"PRETTY_NAME="?[^("]+ \(?([^) "]+)\)?"#) {
            out.insert("distribution_release".into(), json!(release));
        }
        if let Some(version) = capture(r#"VERSION_ID="(.*)""#) {
            set_version(&mut out, version.clone(), version);
        }
    } else if data.contains("Cumulus") {
        out.insert("distribution".into(), json!("Cumulus Linux"));
        if let Some(version) = capture(r"VERSION_ID=(.*)") {
            let major = version.split('.').next().unwrap_or_default().to_string();
            set_version(&mut out, version, major);
        }
        if let Some(release) = capture(r#"VERSION="(.*)""#) {
            out.insert("distribution_release".into(), json!(release));
        }
    } else if data.contains("Mint") {
        out.insert("distribution".into(), json!("Linux Mint"));
        if let Some(version) = capture(r#"VERSION_ID="(.*)""#) {
            let major = version.split('.').next().unwrap_or_default().to_string();
            set_version(&mut out, version, major);
        }
    } else if data.contains("UOS") || data.contains("Uos") || data.contains("uos") {
        out.insert("distribution".into(), json!("Uos"));
        if let Some(release) = capture(r#"VERSION_CODENAME="?([^"]+)"?"#) {
            out.insert("distribution_release".into(), json!(release));
        }
        if let Some(version) = capture(r#"VERSION_ID="(.*)""#) {
            let major = version.split('.').next().unwrap_or_default().to_string();
            set_version(&mut out, version, major);
        }
    } else if data.contains("Deepin") || data.contains("deepin") {
        out.insert("distribution".into(), json!("Deepin"));
        if let Some(release) = capture(r#"VERSION_CODENAME="?([^"]+)"?"#) {
            out.insert("distribution_release".into(), json!(release));
        }
        if let Some(version) = capture(r#"VERSION_ID="(.*)""#) {
            let major = version.split('.').next().unwrap_or_default().to_string();
            set_version(&mut out, version, major);
        }
    } else if data.contains("LMDE") {
        out.insert("distribution".into(), json!("Linux Mint Debian Edition"));
    } else {
        return None;
    }
    Some(out)
}

fn lsb(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let mut lsb: BTreeMap<String, String> = BTreeMap::new();
    if let Some(output) = raw.section("lsb-release") {
        for line in output.lines() {
            let Some((_, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_string();
            let key = if line.contains("LSB Version:") || line.contains("Release:") {
                "release"
            } else if line.contains("Distributor ID:") {
                "id"
            } else if line.contains("Description:") {
                "description"
            } else if line.contains("Codename:") {
                "codename"
            } else {
                continue;
            };
            lsb.insert(key.to_string(), value);
        }
    }
    if lsb.is_empty() {
        if let Some(file) = raw.file("/etc/lsb-release") {
            for line in file.lines() {
                let Some((_, value)) = line.split_once('=') else {
                    continue;
                };
                let key = if line.contains("DISTRIB_ID") {
                    "id"
                } else if line.contains("DISTRIB_RELEASE") {
                    "release"
                } else if line.contains("DISTRIB_DESCRIPTION") {
                    "description"
                } else if line.contains("DISTRIB_CODENAME") {
                    "codename"
                } else {
                    continue;
                };
                lsb.insert(key.to_string(), value.trim().to_string());
            }
        }
    }
    if let Some(release) = lsb.get("release").cloned() {
        let major = release.split('.').next().unwrap_or_default().to_string();
        lsb.insert("major_release".to_string(), major);
    }
    let lsb: Map<String, Value> = lsb
        .into_iter()
        .map(|(k, v)| {
            let v = v
                .trim_matches(|c| c == '\'' || c == '"' || c == '\\')
                .to_string();
            (k, Value::String(v))
        })
        .collect();
    facts.insert("lsb".into(), Value::Object(lsb));
}

/// SELinux read from the kernel and `/etc/selinux/config`, where Ansible asks libselinux.
fn selinux(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let mut selinux = Map::new();
    match raw.content("/sys/fs/selinux/enforce") {
        None => {
            selinux.insert("status".into(), json!("disabled"));
        }
        Some(enforce) => {
            let config = key_values(raw.file("/etc/selinux/config").unwrap_or_default());
            selinux.insert("status".into(), json!("enabled"));
            let policy = raw
                .content("/sys/fs/selinux/policyvers")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Value::from)
                .unwrap_or_else(|| json!("unknown"));
            selinux.insert("policyvers".into(), policy);
            let config_mode = config
                .get("SELINUX")
                .filter(|m| ["enforcing", "permissive", "disabled"].contains(&m.as_str()))
                .cloned()
                .unwrap_or_else(|| "unknown".to_string());
            selinux.insert("config_mode".into(), json!(config_mode));
            let mode = match enforce.as_str() {
                "1" => "enforcing",
                "0" => "permissive",
                _ => "unknown",
            };
            selinux.insert("mode".into(), json!(mode));
            let policy_type = config
                .get("SELINUXTYPE")
                .cloned()
                .unwrap_or_else(|| "unknown".to_string());
            selinux.insert("type".into(), json!(policy_type));
        }
    }
    facts.insert("selinux".into(), Value::Object(selinux));
    facts.insert("selinux_python_present".into(), json!(true));
}

fn chroot(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let text = raw.section("chroot").unwrap_or_default();
    let values = key_values(&text);
    let is_chroot = if values.get("debian_chroot").is_some_and(|v| !v.is_empty()) {
        true
    } else if text.lines().any(|l| l == "same-root") {
        false
    } else if text.lines().any(|l| l == "other-root") {
        true
    } else {
        // `/proc/1/root` could not be read: compare the root's inode with the one a
        // filesystem gives its root directory.
        let fstype = values.get("root-fstype").cloned().unwrap_or_default();
        let expected = if fstype.contains("btrfs") {
            256
        } else if fstype.contains("xfs") {
            128
        } else {
            2
        };
        values
            .get("root-inode")
            .and_then(|i| i.parse::<u64>().ok())
            .is_some_and(|inode| inode != expected)
    };
    facts.insert("is_chroot".into(), json!(is_chroot));
}

fn capabilities(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let Some(output) = raw.section("capsh") else {
        facts.insert("system_capabilities".into(), json!("N/A"));
        facts.insert("system_capabilities_enforced".into(), json!("N/A"));
        return;
    };
    let mut enforced = "NA";
    let mut caps: Vec<Value> = Vec::new();
    for line in output.lines() {
        if line.starts_with("Current:") {
            if line.split(':').nth(1).unwrap_or_default().trim() == "=ep" {
                enforced = "False";
            } else {
                enforced = "True";
                caps = line
                    .split('=')
                    .nth(1)
                    .unwrap_or_default()
                    .split(',')
                    .map(|c| json!(c.trim()))
                    .collect();
            }
        }
    }
    facts.insert("system_capabilities".into(), Value::Array(caps));
    facts.insert("system_capabilities_enforced".into(), json!(enforced));
}

/// `/proc/cmdline` as Ansible reads it: words split like `shlex.split(posix=False)`,
/// `key=value` pairs and bare flags. With `lists`, a repeated key keeps every value.
fn cmdline(line: &str, lists: bool) -> Value {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => {
                current.push(c);
                quote = Some(c);
            }
            None if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    let mut map = Map::new();
    for word in words {
        match word.split_once('=') {
            None => {
                map.insert(word, Value::Bool(true));
            }
            Some((key, value)) => {
                let value = Value::String(value.to_string());
                match map.get_mut(key) {
                    Some(Value::Array(existing)) if lists => existing.push(value),
                    Some(existing) if lists => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                    _ => {
                        map.insert(key.to_string(), value);
                    }
                }
            }
        }
    }
    Value::Object(map)
}

fn dns(resolv_conf: &str) -> Value {
    let mut dns = Map::new();
    for line in resolv_conf.lines() {
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        match tokens[0] {
            "nameserver" => {
                let list = dns
                    .entry("nameservers")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.extend(tokens[1..].iter().map(|t| json!(t)));
                }
            }
            "domain" => {
                if let Some(domain) = tokens.get(1) {
                    dns.insert("domain".into(), json!(domain));
                }
            }
            "search" | "sortlist" => {
                let key = if tokens[0] == "search" {
                    "search"
                } else {
                    "sortlist"
                };
                dns.insert(
                    key.into(),
                    Value::Array(tokens[1..].iter().map(|t| json!(t)).collect()),
                );
            }
            "options" => {
                let mut options = Map::new();
                for option in &tokens[1..] {
                    match option.split_once(':') {
                        Some((key, value)) if !value.is_empty() => {
                            options.insert(key.to_string(), json!(value));
                        }
                        Some((key, _)) => {
                            options.insert(key.to_string(), json!(true));
                        }
                        None => {
                            options.insert(option.to_string(), json!(true));
                        }
                    }
                }
                dns.insert("options".into(), Value::Object(options));
            }
            _ => {}
        }
    }
    Value::Object(dns)
}

fn ssh_pub_keys(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    'directories: for dir in ["/etc/ssh", "/etc/openssh", "/etc"] {
        for algorithm in ["dsa", "rsa", "ecdsa", "ed25519"] {
            let fact = format!("ssh_host_key_{algorithm}_public");
            if facts.contains_key(&fact) {
                break 'directories;
            }
            let Some(content) = raw.content(&format!("{dir}/ssh_host_{algorithm}_key.pub")) else {
                continue;
            };
            let mut words = content.split_whitespace();
            if let (Some(key_type), Some(key)) = (words.next(), words.next()) {
                facts.insert(fact.clone(), json!(key));
                facts.insert(format!("{fact}_keytype"), json!(key_type));
            }
        }
    }
}

fn environment(raw: &Raw) -> Map<String, Value> {
    let mut env = Map::new();
    let environ = raw
        .files
        .iter()
        .find(|(path, _)| {
            path.starts_with("/proc/") && path.ends_with("/environ") && *path != "/proc/1/environ"
        })
        .map(|(_, content)| content.clone());
    match environ {
        Some(content) => {
            for entry in content.trim_end_matches('\n').split('\0') {
                if let Some((key, value)) = entry.split_once('=') {
                    env.insert(key.to_string(), json!(value));
                }
            }
        }
        None => {
            for line in raw.section("env").unwrap_or_default().lines() {
                if let Some((key, value)) = line.split_once('=') {
                    env.insert(key.to_string(), json!(value));
                }
            }
        }
    }
    let mut sorted: Vec<(String, Value)> = env.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().collect()
}

/// `id` prints `uid=0(root) gid=0(root) euid=… groups=…`; returns the numbers by key.
fn parse_id(text: &str) -> BTreeMap<String, (u64, String)> {
    text.split_whitespace()
        .filter_map(|word| {
            let (key, rest) = word.split_once('=')?;
            let number: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let name = rest
                .split_once('(')
                .and_then(|(_, n)| n.split_once(')'))
                .map(|(n, _)| n.to_string())
                .unwrap_or_default();
            Some((key.to_string(), (number.parse().ok()?, name)))
        })
        .collect()
}

fn user(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let ids = parse_id(&raw.section("id").unwrap_or_default());
    let id = |key: &str| ids.get(key).map(|(n, _)| *n);
    let uid = id("uid").unwrap_or_default();
    let gid = id("gid").unwrap_or_default();
    let name = raw
        .first_line("user")
        .or_else(|| ids.get("uid").map(|(_, name)| name.clone()))
        .unwrap_or_default();
    facts.insert("user_id".into(), json!(name));
    if let Some(entry) = raw.first_line("passwd") {
        let fields: Vec<&str> = entry.split(':').collect();
        if fields.len() >= 7 {
            facts.insert(
                "user_uid".into(),
                json!(fields[2].parse::<u64>().unwrap_or(uid)),
            );
            facts.insert(
                "user_gid".into(),
                json!(fields[3].parse::<u64>().unwrap_or(gid)),
            );
            facts.insert("user_gecos".into(), json!(fields[4]));
            facts.insert("user_dir".into(), json!(fields[5]));
            facts.insert("user_shell".into(), json!(fields[6]));
        }
    }
    facts.insert("real_user_id".into(), json!(uid));
    facts.insert("effective_user_id".into(), json!(id("euid").unwrap_or(uid)));
    facts.insert("real_group_id".into(), json!(gid));
    // Ansible reports the real group here too.
    facts.insert("effective_group_id".into(), json!(gid));
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `1700000000` to `2023-11-14T22:13:20` in UTC.
pub(crate) fn utc_timestamp(epoch: i64) -> String {
    let (year, month, day) = civil_from_days(epoch.div_euclid(86_400));
    let seconds = epoch.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

fn date_time(raw: &Raw) -> Option<Value> {
    let line = raw.first_line("date")?;
    let fields: Vec<&str> = line.split('|').collect();
    if fields.len() < 13 {
        return None;
    }
    let (year, month, weekday, weekday_number, weeknumber, day, hour, minute, second) = (
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7],
        fields[8],
    );
    let epoch = fields[9];
    let nanos = fields[10];
    let tz = fields[11];
    let tz_offset = fields[12];
    let micros = if nanos.len() >= 6 && nanos.chars().all(|c| c.is_ascii_digit()) {
        nanos[..6].to_string()
    } else {
        "000000".to_string()
    };
    let utc = utc_timestamp(epoch.parse().unwrap_or_default());
    // `time.tzname[1]`: the name of the zone's summer time, or its only name.
    let tz_dst = {
        let parse = |name: &str| {
            raw.first_line(name).and_then(|l| {
                let (zone, offset) = l.split_once('|')?;
                Some((zone.to_string(), offset.parse::<i64>().ok()?))
            })
        };
        match (parse("date-january"), parse("date-july")) {
            (Some(january), Some(july)) if january.1 > july.1 => january.0,
            (Some(_), Some(july)) => july.0,
            _ => tz.to_string(),
        }
    };
    Some(json!({
        "date": format!("{year}-{month}-{day}"),
        "day": day,
        "epoch": epoch,
        "epoch_int": epoch,
        "hour": hour,
        "iso8601": format!("{utc}Z"),
        "iso8601_basic": format!("{year}{month}{day}T{hour}{minute}{second}{micros}"),
        "iso8601_basic_short": format!("{year}{month}{day}T{hour}{minute}{second}"),
        "iso8601_micro": format!("{utc}.{micros}Z"),
        "minute": minute,
        "month": month,
        "second": second,
        "time": format!("{hour}:{minute}:{second}"),
        "tz": tz,
        "tz_dst": tz_dst,
        "tz_offset": tz_offset,
        "weekday": weekday,
        "weekday_number": weekday_number,
        "weeknumber": weeknumber,
        "year": year,
    }))
}

fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

fn service_manager(raw: &Raw) -> String {
    let mut process_one = raw.content("/proc/1/comm");
    if process_one.as_deref() == Some("COMMAND") {
        process_one = None;
    }
    if process_one.is_none() {
        process_one = raw.links.get("/sbin/init").cloned();
    }
    let process_one = process_one
        .map(|p| basename(&p).trim().to_string())
        .filter(|p| p != "init" && !p.ends_with("sh"));
    if let Some(name) = process_one {
        let mapped = match name.as_str() {
            "procd" => "openwrt_init",
            "runit-init" => "runit",
            "svscan" => "svc",
            "openrc-init" => "openrc",
            other => other,
        };
        if !mapped.is_empty() {
            return mapped.to_string();
        }
        return "service".to_string();
    }
    let have = raw.lines("have");
    let has = |command: &str| have.iter().any(|c| c == command);
    let systemd_canary = [
        "/run/systemd/system/",
        "/dev/.run/systemd/",
        "/dev/.systemd/",
    ]
    .iter()
    .any(|p| raw.exists(p));
    let name = if has("systemctl") && systemd_canary {
        "systemd"
    } else if has("initctl") && raw.exists("/etc/init/") {
        "upstart"
    } else if raw.exists("/sbin/openrc") {
        "openrc"
    } else if has("systemctl")
        && raw
            .links
            .get("/sbin/init")
            .is_some_and(|target| basename(target) == "systemd")
    {
        "systemd"
    } else if raw.exists("/etc/init.d/") {
        "sysvinit"
    } else if raw.exists("/etc/dinit.d/") {
        "dinit"
    } else {
        "service"
    };
    name.to_string()
}

const PACKAGE_MANAGERS: &[(&str, &str)] = &[
    ("/usr/bin/rpm-ostree", "atomic_container"),
    ("/usr/bin/yum", "dnf"),
    ("/usr/bin/dnf-3", "dnf"),
    ("/usr/bin/dnf5", "dnf5"),
    ("/usr/bin/apt-get", "apt"),
    ("/usr/bin/zypper", "zypper"),
    ("/usr/sbin/urpmi", "urpmi"),
    ("/usr/bin/pacman", "pacman"),
    ("/bin/opkg", "opkg"),
    ("/usr/pkg/bin/pkgin", "pkgin"),
    ("/opt/local/bin/pkgin", "pkgin"),
    ("/opt/tools/bin/pkgin", "pkgin"),
    ("/opt/local/bin/port", "macports"),
    ("/usr/local/bin/brew", "homebrew"),
    ("/opt/homebrew/bin/brew", "homebrew"),
    ("/sbin/apk", "apk"),
    ("/usr/sbin/pkg", "pkgng"),
    ("/usr/sbin/swlist", "swdepot"),
    ("/usr/bin/emerge", "portage"),
    ("/usr/sbin/pkgadd", "svr4pkg"),
    ("/usr/bin/pkg", "pkg5"),
    ("/usr/bin/xbps-install", "xbps"),
    ("/usr/local/sbin/pkg", "pkgng"),
    ("/usr/bin/swupd", "swupd"),
    ("/usr/sbin/sorcery", "sorcery"),
    ("/usr/bin/installp", "installp"),
];

fn package_manager(raw: &Raw, os_family: &str) -> String {
    let mut name = "unknown".to_string();
    for (path, manager) in PACKAGE_MANAGERS {
        if os_family == "Altlinux" && *path == "/usr/bin/pkg" {
            continue;
        }
        if raw.exists(path) {
            name = manager.to_string();
        }
    }
    if os_family == "RedHat" {
        name = if raw.exists("/run/ostree-booted") {
            "atomic_container".to_string()
        } else {
            let real_paths = raw.lines("dnf-realpath");
            ["/usr/bin/dnf", "/usr/bin/microdnf"]
                .iter()
                .find(|b| raw.exists(b))
                .map(|b| {
                    let real = real_paths
                        .iter()
                        .find_map(|l| l.strip_prefix(&format!("{b} ")))
                        .unwrap_or_default();
                    if real == "/usr/bin/dnf5" {
                        "dnf5"
                    } else {
                        "dnf"
                    }
                    .to_string()
                })
                .unwrap_or_else(|| "unknown".to_string())
        };
    } else if os_family == "Debian" && name != "apt" {
        name = "apt".to_string();
    } else if os_family == "Altlinux" && name == "apt" {
        name = "apt_rpm".to_string();
    }
    if name == "apt" && raw.first_line("apt-rpm").as_deref() == Some("0") {
        name = "apt_rpm".to_string();
    }
    name
}

/// Ansible's `LinuxVirtual.get_virtual_facts`, from the files the script read. The first
/// technology found names `virtualization_type`; every one found is listed in
/// `virtualization_tech_guest` or `_host`.
fn virtualization(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let mut found = false;
    let mut kind: Option<String> = None;
    let mut role: Option<String> = None;
    let mut host: BTreeSet<String> = BTreeSet::new();
    let mut guest: BTreeSet<String> = BTreeSet::new();
    let guest_found = |tech: &str,
                       guest: &mut BTreeSet<String>,
                       found: &mut bool,
                       kind: &mut Option<String>,
                       role: &mut Option<String>,
                       set_role: bool| {
        guest.insert(tech.to_string());
        if !*found {
            *kind = Some(tech.to_string());
            if set_role {
                *role = Some("guest".to_string());
            }
            *found = true;
        }
    };

    let docker = regex::Regex::new(r"/docker(/|-[0-9a-f]+\.scope)").expect("a valid pattern");
    for line in raw.file("/proc/1/cgroup").unwrap_or_default().lines() {
        if docker.is_match(line) {
            guest_found("docker", &mut guest, &mut found, &mut kind, &mut role, true);
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            guest_found("lxc", &mut guest, &mut found, &mut kind, &mut role, true);
        }
        if line.contains("/system.slice/containerd.service") {
            guest_found(
                "containerd",
                &mut guest,
                &mut found,
                &mut kind,
                &mut role,
                true,
            );
        }
    }
    for entry in raw.file("/proc/1/environ").unwrap_or_default().split('\0') {
        if entry.contains("container=lxc") {
            guest_found("lxc", &mut guest, &mut found, &mut kind, &mut role, true);
        }
        if entry.contains("container=podman") {
            guest_found("podman", &mut guest, &mut found, &mut kind, &mut role, true);
        }
        if entry.starts_with("container=") && entry.len() > "container=".len() {
            guest_found(
                "container",
                &mut guest,
                &mut found,
                &mut kind,
                &mut role,
                true,
            );
        }
    }
    if raw.exists("/proc/vz") && !raw.exists("/proc/lve") {
        kind = Some("openvz".into());
        if raw.exists("/proc/bc") {
            host.insert("openvz".into());
            if !found {
                role = Some("host".into());
            }
        } else {
            guest.insert("openvz".into());
            if !found {
                role = Some("guest".into());
            }
        }
        found = true;
    }
    let systemd_container = raw
        .content("/run/systemd/container")
        .filter(|c| !c.is_empty());
    if let Some(container) = &systemd_container {
        guest_found(
            container, &mut guest, &mut found, &mut kind, &mut role, true,
        );
    }
    if raw.exists("/.dockerenv") || raw.exists("/.dockerinit") {
        guest_found("docker", &mut guest, &mut found, &mut kind, &mut role, true);
    }
    if ["docker", "lxc", "podman", "openvz", "containerd"]
        .iter()
        .any(|t| guest.contains(*t))
        || systemd_container.is_some()
    {
        guest.insert("container".into());
    }
    if raw.exists("/proc/xen") {
        let xen_host = raw
            .file("/proc/xen/capabilities")
            .unwrap_or_default()
            .contains("control_d");
        if xen_host {
            host.insert("xen".into());
            if !found {
                kind = Some("xen".into());
                role = Some("host".into());
            }
        } else if !found {
            kind = Some("xen".into());
            role = Some("guest".into());
        }
        found = true;
    }
    if !found {
        role = Some("guest".into());
    }
    let product_name = raw.content("/sys/devices/virtual/dmi/id/product_name");
    let sys_vendor = raw.content("/sys/devices/virtual/dmi/id/sys_vendor");
    let product_family = raw.content("/sys/devices/virtual/dmi/id/product_family");
    let bios_vendor = raw.content("/sys/devices/virtual/dmi/id/bios_vendor");
    let product = product_name.as_deref().unwrap_or_default();
    let vendor = sys_vendor.as_deref().unwrap_or_default();
    let bios = bios_vendor.as_deref().unwrap_or_default();
    let mut dmi_found = |tech: &str, guest: &mut BTreeSet<String>| {
        guest.insert(tech.to_string());
        if !found {
            kind = Some(tech.to_string());
            found = true;
        }
    };
    if [
        "KVM",
        "KVM Server",
        "Bochs",
        "AHV",
        "CloudStack KVM Hypervisor",
    ]
    .contains(&product)
    {
        dmi_found("kvm", &mut guest);
    }
    if vendor == "oVirt" {
        dmi_found("oVirt", &mut guest);
    }
    if vendor == "Red Hat" {
        if product_family.as_deref() == Some("RHV") {
            dmi_found("RHV", &mut guest);
        } else if product == "RHEV Hypervisor" {
            dmi_found("RHEV", &mut guest);
        }
    }
    if product.starts_with("VMware") {
        dmi_found("VMware", &mut guest);
    }
    if ["OpenStack Compute", "OpenStack Nova"].contains(&product) {
        dmi_found("openstack", &mut guest);
    }
    if bios == "Xen" {
        dmi_found("xen", &mut guest);
    }
    if bios == "innotek GmbH" {
        dmi_found("virtualbox", &mut guest);
    }
    if ["Amazon EC2", "DigitalOcean", "Hetzner", "Linode"].contains(&bios) {
        dmi_found("kvm", &mut guest);
    }
    if [
        "QEMU",
        "Amazon EC2",
        "DigitalOcean",
        "Google",
        "Scaleway",
        "Nutanix",
    ]
    .contains(&vendor)
    {
        dmi_found("kvm", &mut guest);
    }
    if vendor == "KubeVirt" {
        dmi_found("KubeVirt", &mut guest);
    }
    if vendor == "Microsoft Corporation" {
        dmi_found("VirtualPC", &mut guest);
    }
    if vendor == "Parallels Software International Inc." {
        dmi_found("parallels", &mut guest);
    }
    if vendor == "OpenStack Foundation" {
        dmi_found("openstack", &mut guest);
    }
    if !found {
        role = None;
    }
    let vxid = regex::Regex::new(r"^VxID:\s+(\d+)").expect("a valid pattern");
    for line in raw.file("/proc/self/status").unwrap_or_default().lines() {
        if let Some(c) = vxid.captures(line) {
            if !found {
                kind = Some("linux_vserver".into());
            }
            if &c[1] == "0" {
                host.insert("linux_vserver".into());
                if !found {
                    role = Some("host".into());
                }
            } else {
                guest.insert("linux_vserver".into());
                if !found {
                    role = Some("guest".into());
                }
            }
            found = true;
        }
    }
    for line in raw.file("/proc/cpuinfo").unwrap_or_default().lines() {
        let tech = if line.starts_with("model name") && line.contains("QEMU Virtual CPU") {
            "kvm"
        } else if (line.starts_with("vendor_id") && line.contains("User Mode Linux"))
            || (line.starts_with("model name") && line.contains("UML"))
        {
            "uml"
        } else if line.starts_with("machine")
            && line.contains("CHRP IBM pSeries (emulated by qemu)")
        {
            "kvm"
        } else if line.starts_with("vendor_id") && line.contains("PowerVM Lx86") {
            "powervm_lx86"
        } else if line.starts_with("vendor_id") && line.contains("IBM/S390") {
            "PR/SM"
        } else {
            continue;
        };
        guest.insert(tech.to_string());
        if !found {
            kind = Some(tech.to_string());
            role = Some(if tech == "PR/SM" { "LPAR" } else { "guest" }.to_string());
            found = true;
        }
    }
    let modules: Vec<&str> = raw
        .file("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    if modules.contains(&"kvm") {
        host.insert("kvm".into());
        if !found {
            kind = Some("kvm".into());
            role = Some("host".into());
        }
        found = true;
    }
    if modules.contains(&"vboxdrv") {
        host.insert("virtualbox".into());
        if !found {
            kind = Some("virtualbox".into());
            role = Some("host".into());
            found = true;
        }
    }
    if modules.contains(&"virtio") {
        host.insert("kvm".into());
        if !found {
            kind = Some("kvm".into());
            role = Some("guest".into());
            found = true;
        }
    }
    if raw.exists("/dev/kvm") {
        host.insert("kvm".into());
        if !found {
            kind = Some("kvm".into());
            role = Some("host".into());
            found = true;
        }
    }
    if !found {
        kind = Some("NA".into());
        role = Some("NA".into());
    }
    if let Some(kind) = kind {
        facts.insert("virtualization_type".into(), json!(kind));
    }
    if let Some(role) = role {
        facts.insert("virtualization_role".into(), json!(role));
    }
    facts.insert("virtualization_tech_guest".into(), json!(guest));
    facts.insert("virtualization_tech_host".into(), json!(host));
}

fn hardware(raw: &Raw, architecture: &str, facts: &mut BTreeMap<String, Value>) {
    cpu(raw, architecture, facts);
    memory(raw, facts);
    dmi(raw, facts);
    if let Some(uptime) = raw.content("/proc/uptime") {
        if let Some(seconds) = uptime.split(' ').next().and_then(|s| s.parse::<f64>().ok()) {
            facts.insert("uptime_seconds".into(), json!(seconds as u64));
        }
    }
    facts.insert("mounts".into(), Value::Array(mounts(raw)));
}

/// Ansible's `LinuxHardware.get_cpu_facts`, including its counting quirks, so that the
/// numbers match what playbooks already expect.
fn cpu(raw: &Raw, architecture: &str, facts: &mut BTreeMap<String, Value>) {
    let Some(cpuinfo) = raw.file("/proc/cpuinfo") else {
        return;
    };
    let xen = raw.exists("/proc/xen")
        || raw
            .content("/sys/hypervisor/type")
            .is_some_and(|t| t.lines().next() == Some("xen"));
    let mut xen_paravirt = false;
    let mut count: i64 = 0;
    let (mut vendor_ids, mut model_names, mut processors) = (0i64, 0i64, 0i64);
    let mut physical_id = String::from("0");
    let mut core_id = String::from("0");
    // Insertion-ordered maps: Ansible reads "the first socket's" value.
    let mut sockets: Vec<(String, i64)> = Vec::new();
    let mut cores: Vec<(String, i64)> = Vec::new();
    let set = |list: &mut Vec<(String, i64)>, key: &str, value: i64| match list
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some(entry) => entry.1 = value,
        None => list.push((key.to_string(), value)),
    };
    let (mut zp, mut zmt) = (0i64, 0i64);
    let mut processor: Vec<Value> = Vec::new();
    for line in cpuinfo.lines() {
        let (key, value) = match line.split_once(':') {
            Some((key, value)) => (key.trim(), value.trim()),
            None => (line.trim(), ""),
        };
        if xen && key == "flags" && !value.contains("vme") {
            xen_paravirt = true;
        }
        if key == "flags" {
            facts.insert(
                "flags".into(),
                json!(value.split_whitespace().collect::<Vec<_>>()),
            );
        }
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(json!(value));
                match key {
                    "vendor_id" => vendor_ids += 1,
                    "model name" => model_names += 1,
                    "processor" => processors += 1,
                    _ => {}
                }
                count += 1;
            }
            "physical id" => {
                physical_id = value.to_string();
                if !sockets.iter().any(|(k, _)| *k == physical_id) {
                    sockets.push((physical_id.clone(), 1));
                }
            }
            "core id" => {
                core_id = value.to_string();
                // Ansible tests the socket map here, not the core map.
                if !sockets.iter().any(|(k, _)| *k == core_id) {
                    set(&mut cores, &core_id, 1);
                }
            }
            "cpu cores" => set(&mut sockets, &physical_id, value.parse().unwrap_or(0)),
            "siblings" => set(&mut cores, &core_id, value.parse().unwrap_or(0)),
            "# processors" => zp = value.parse().unwrap_or(0),
            "max thread id" => zmt = value.parse::<i64>().unwrap_or(0) + 1,
            "ncpus active" => count = value.parse().unwrap_or(count),
            _ => {}
        }
    }
    facts.insert("processor".into(), Value::Array(processor));
    if vendor_ids > 0 && vendor_ids == model_names {
        count = vendor_ids;
    }
    if ["armv", "aarch", "ppc"]
        .iter()
        .any(|p| architecture.starts_with(p))
    {
        count = processors;
    }
    let nproc = raw.first_line("nproc").and_then(|n| n.parse::<i64>().ok());
    if architecture == "s390x" {
        let cores = if zmt > 0 {
            (zp as f64 / zmt as f64).round() as i64
        } else {
            0
        };
        facts.insert("processor_count".into(), json!(1));
        facts.insert("processor_cores".into(), json!(cores));
        facts.insert("processor_threads_per_core".into(), json!(zmt));
        facts.insert("processor_vcpus".into(), json!(zp));
        facts.insert("processor_nproc".into(), json!(nproc.unwrap_or(zp)));
        return;
    }
    if xen_paravirt {
        for key in [
            "processor_count",
            "processor_cores",
            "processor_vcpus",
            "processor_nproc",
        ] {
            facts.insert(key.into(), json!(count));
        }
        facts.insert("processor_threads_per_core".into(), json!(1));
    } else {
        let processor_count = if sockets.is_empty() {
            count
        } else {
            sockets.len() as i64
        };
        let processor_cores = match sockets.first() {
            Some((_, cores)) if *cores != 0 => *cores,
            _ => 1,
        };
        let threads = match cores.first() {
            Some((_, siblings)) => (*siblings as f64 / processor_cores as f64).round() as i64,
            None => (1.0 / processor_cores as f64).round() as i64,
        };
        facts.insert("processor_count".into(), json!(processor_count));
        facts.insert("processor_cores".into(), json!(processor_cores));
        facts.insert("processor_threads_per_core".into(), json!(threads));
        facts.insert(
            "processor_vcpus".into(),
            json!(threads * processor_count * processor_cores),
        );
        facts.insert("processor_nproc".into(), json!(processors));
    }
    if let Some(nproc) = nproc {
        facts.insert("processor_nproc".into(), json!(nproc));
    }
}

fn memory(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let Some(meminfo) = raw.file("/proc/meminfo") else {
        return;
    };
    let mut stats: BTreeMap<&str, i64> = BTreeMap::new();
    for line in meminfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Some(kilobytes) = value
            .trim()
            .split(' ')
            .next()
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        let megabytes = kilobytes / 1024;
        match key {
            "MemTotal" | "SwapTotal" | "MemFree" | "SwapFree" => {
                facts.insert(format!("{}_mb", key.to_lowercase()), json!(megabytes));
            }
            _ => {}
        }
        if let Some(name) = match key {
            "MemTotal" => Some("memtotal"),
            "MemFree" => Some("memfree"),
            "SwapTotal" => Some("swaptotal"),
            "SwapFree" => Some("swapfree"),
            "Buffers" => Some("buffers"),
            "Cached" => Some("cached"),
            "SwapCached" => Some("swapcached"),
            _ => None,
        } {
            stats.insert(name, megabytes);
        }
    }
    let get = |k: &str| stats.get(k).copied();
    let nocache_free = match (get("cached"), get("memfree"), get("buffers")) {
        (Some(c), Some(f), Some(b)) => Some(c + f + b),
        _ => None,
    };
    let sub = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| a - b);
    facts.insert(
        "memory_mb".into(),
        json!({
            "real": {
                "total": get("memtotal"),
                "used": sub(get("memtotal"), get("memfree")),
                "free": get("memfree"),
            },
            "nocache": {
                "free": nocache_free,
                "used": sub(get("memtotal"), nocache_free),
            },
            "swap": {
                "total": get("swaptotal"),
                "free": get("swapfree"),
                "used": sub(get("swaptotal"), get("swapfree")),
                "cached": get("swapcached"),
            },
        }),
    );
}

const FORM_FACTORS: &[&str] = &[
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

const DMI_FILES: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("form_factor", "chassis_type"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("system_vendor", "sys_vendor"),
];

fn dmi(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    let sysfs = raw.exists("/sys/devices/virtual/dmi/id/product_name");
    for (fact, file) in DMI_FILES {
        let value = if sysfs {
            raw.content(&format!("/sys/devices/virtual/dmi/id/{file}"))
        } else {
            None
        };
        let value = match (value, *fact) {
            (Some(data), "form_factor") => match data.parse::<usize>() {
                Ok(index) if index < FORM_FACTORS.len() => FORM_FACTORS[index].to_string(),
                _ => format!("unknown ({data})"),
            },
            (Some(data), _) => data,
            (None, _) => "NA".to_string(),
        };
        facts.insert(fact.to_string(), json!(value));
    }
}

/// `\040` and friends in `/proc/mounts` back to the characters they stand for.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && index + 3 < bytes.len()
            && bytes[index + 1..index + 4]
                .iter()
                .all(|b| b.is_ascii_digit())
        {
            let digits = std::str::from_utf8(&bytes[index + 1..index + 4]).unwrap_or("0");
            if let Ok(value) = u8::from_str_radix(digits, 8) {
                out.push(value);
                index += 4;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts(raw: &Raw) -> Vec<Value> {
    let mtab_path = raw
        .first_line("mtab-path")
        .unwrap_or_else(|| "/proc/mounts".to_string());
    let mtab = raw.file(&mtab_path).unwrap_or_default();
    let mut uuids: BTreeMap<String, String> = BTreeMap::new();
    for line in raw.lines("lsblk") {
        let mut fields = line.trim().rsplitn(2, char::is_whitespace);
        if let (Some(uuid), Some(device)) = (fields.next(), fields.next()) {
            uuids
                .entry(device.trim().to_string())
                .or_insert_with(|| uuid.trim().to_string());
        }
    }
    let bind_source = regex::Regex::new(r".*\]").expect("a valid pattern");
    let bind_mounts: BTreeSet<String> = raw
        .lines("findmnt")
        .iter()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 2 && bind_source.is_match(fields[1])).then(|| fields[0].to_string())
        })
        .collect();
    let mut sizes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for line in raw.lines("statfs") {
        let fields: Vec<&str> = line.splitn(8, '|').collect();
        if fields.len() != 8 {
            continue;
        }
        let numbers: Vec<u64> = fields[..7].iter().filter_map(|n| n.parse().ok()).collect();
        if numbers.len() != 7 {
            continue;
        }
        let (fragment, block, blocks, _free, available, files, files_free) = (
            numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5], numbers[6],
        );
        let mut size = Map::new();
        size.insert("size_total".into(), json!(fragment * blocks));
        size.insert("size_available".into(), json!(fragment * available));
        size.insert("block_size".into(), json!(block));
        size.insert("block_total".into(), json!(blocks));
        size.insert("block_available".into(), json!(available));
        size.insert("block_used".into(), json!(blocks.saturating_sub(available)));
        size.insert("inode_total".into(), json!(files));
        size.insert("inode_available".into(), json!(files_free));
        size.insert("inode_used".into(), json!(files.saturating_sub(files_free)));
        sizes.insert(fields[7].to_string(), size);
    }
    let mut mounts = Vec::new();
    for line in mtab.lines() {
        let fields: Vec<String> = line.split_whitespace().map(unescape_octal).collect();
        if fields.len() < 4 {
            continue;
        }
        let (device, mount, fstype, options) = (&fields[0], &fields[1], &fields[2], &fields[3]);
        if (!device.starts_with('/') && !device.starts_with('\\') && !device.contains(":/"))
            || fstype == "none"
        {
            continue;
        }
        let number = |i: usize| {
            fields
                .get(i)
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut options = options.clone();
        // Ansible's test for a `bind` option already in the table, kept as it is.
        let marked = options
            .find("bind")
            .is_some_and(|at| options[at..].contains('"'));
        if bind_mounts.contains(mount) && !marked {
            options.push_str(",bind");
        }
        let mut info = Map::new();
        info.insert("mount".into(), json!(mount));
        info.insert("device".into(), json!(device));
        info.insert("fstype".into(), json!(fstype));
        info.insert("options".into(), json!(options));
        info.insert("dump".into(), json!(number(4)));
        info.insert("passno".into(), json!(number(5)));
        match sizes.get(mount) {
            Some(size) => info.extend(size.clone()),
            None => {
                info.insert(
                    "note".into(),
                    json!("Could not get extra information due to timeout"),
                );
            }
        }
        info.insert(
            "uuid".into(),
            json!(uuids.get(device).cloned().unwrap_or_else(|| "N/A".into())),
        );
        let sorted: BTreeMap<String, Value> = info.into_iter().collect();
        mounts.push(json!(sorted));
    }
    mounts
}

const INTERFACE_TYPES: &[(&str, &str)] = &[
    ("1", "ether"),
    ("32", "infiniband"),
    ("512", "ppp"),
    ("772", "loopback"),
    ("65534", "tunnel"),
];

fn ipv4_details(address: &str, prefix: &str, broadcast: &str) -> Option<Map<String, Value>> {
    let ip: std::net::Ipv4Addr = address.parse().ok()?;
    let length: u32 = prefix.parse().ok()?;
    let mask: u32 = if length == 0 {
        0
    } else {
        u32::MAX << (32 - length.min(32))
    };
    let network = std::net::Ipv4Addr::from(u32::from(ip) & mask);
    let mut details = Map::new();
    details.insert("address".into(), json!(address));
    details.insert("broadcast".into(), json!(broadcast));
    details.insert(
        "netmask".into(),
        json!(std::net::Ipv4Addr::from(mask).to_string()),
    );
    details.insert("network".into(), json!(network.to_string()));
    details.insert("prefix".into(), json!(prefix));
    Some(details)
}

/// Ansible's `LinuxNetwork`: interfaces from `/sys/class/net`, addresses from `ip addr`,
/// the default routes from `ip route get`.
fn network(raw: &Raw, facts: &mut BTreeMap<String, Value>) {
    if raw.section("ip-addr").is_none() {
        // No `ip` on the host: Ansible gathers nothing; the kernel's routing table still
        // names the default interface and gateway.
        if let Some(routes) = raw.file("/proc/net/route") {
            let mut default = Map::new();
            for line in routes.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() > 2 && fields[1] == "00000000" {
                    default.insert("interface".into(), json!(fields[0]));
                    if let Ok(gateway) = u32::from_str_radix(fields[2], 16) {
                        let gateway = std::net::Ipv4Addr::from(gateway.swap_bytes());
                        default.insert("gateway".into(), json!(gateway.to_string()));
                    }
                    break;
                }
            }
            facts.insert("default_ipv4".into(), Value::Object(default));
            facts.insert("default_ipv6".into(), json!({}));
        }
        return;
    }
    let mut default_v4 = route_get(&raw.section("route-v4").unwrap_or_default(), "8.8.8.8");
    let mut default_v6 = route_get(
        &raw.section("route-v6").unwrap_or_default(),
        "2404:6800:400a:800::1012",
    );
    let devices: Vec<String> = raw
        .sections
        .iter()
        .filter(|(name, _)| name == "net-device")
        .filter_map(|(_, content)| content.lines().next().map(String::from))
        .collect();
    let mut interfaces: Vec<(String, Map<String, Value>)> = Vec::new();
    let address_lines = raw.lines("ip-addr");
    let mut all_v4 = Vec::new();
    let mut all_v6 = Vec::new();
    for device in &devices {
        let base = format!("/sys/class/net/{device}");
        let file = |name: &str| raw.content(&format!("{base}/{name}"));
        let mut info = Map::new();
        info.insert("device".into(), json!(device));
        let mac = file("address").unwrap_or_default();
        if !mac.is_empty() && mac != "00:00:00:00:00:00" {
            info.insert("macaddress".into(), json!(mac));
        }
        let mtu = file("mtu").and_then(|m| m.parse::<i64>().ok());
        if let Some(mtu) = mtu {
            info.insert("mtu".into(), json!(mtu));
        }
        if let Some(state) = file("operstate") {
            info.insert("active".into(), json!(state != "down"));
        }
        if let Some(module) = raw.links.get(&format!("{base}/device/driver/module")) {
            info.insert("module".into(), json!(basename(module)));
        }
        if let Some(kind) = file("type") {
            let name = INTERFACE_TYPES
                .iter()
                .find(|(code, _)| *code == kind)
                .map(|(_, name)| *name)
                .unwrap_or("unknown");
            info.insert("type".into(), json!(name));
        }
        if raw.exists(&format!("{base}/bridge")) {
            info.insert("type".into(), json!("bridge"));
            let prefix = format!("{base}/brif/");
            let members: Vec<&str> = raw
                .exists
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .collect();
            info.insert("interfaces".into(), json!(members));
            if let Some(id) = file("bridge/bridge_id") {
                info.insert("id".into(), json!(id));
            }
            if let Some(stp) = file("bridge/stp_state") {
                info.insert("stp".into(), json!(stp == "1"));
            }
        }
        if raw.exists(&format!("{base}/bonding")) {
            info.insert("type".into(), json!("bonding"));
            let first = |name: &str| {
                file(name)
                    .unwrap_or_default()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            let slaves: Vec<String> = file("bonding/slaves")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            info.insert("slaves".into(), json!(slaves));
            info.insert("mode".into(), json!(first("bonding/mode")));
            info.insert("miimon".into(), json!(first("bonding/miimon")));
            info.insert("lacp_rate".into(), json!(first("bonding/lacp_rate")));
            if let Some(primary) = file("bonding/primary").filter(|p| !p.is_empty()) {
                info.insert("primary".into(), json!(primary));
                if let Some(all) = file("bonding/all_slaves_active") {
                    info.insert("all_slaves_active".into(), json!(all == "1"));
                }
            }
        }
        if raw.exists(&format!("{base}/bonding_slave")) {
            info.insert(
                "perm_macaddress".into(),
                json!(file("bonding_slave/perm_hwaddr").unwrap_or_default()),
            );
        }
        if let Some(target) = raw.links.get(&format!("{base}/device")) {
            info.insert("pciid".into(), json!(basename(target)));
        }
        if let Some(speed) = file("speed").and_then(|s| s.parse::<i64>().ok()) {
            info.insert("speed".into(), json!(speed));
        }
        if let Some(flags) = file("flags") {
            if let Ok(flags) = i64::from_str_radix(flags.trim_start_matches("0x"), 16) {
                info.insert("promisc".into(), json!(flags & 0x0100 > 0));
            }
        }
        let interface_type = info
            .get("type")
            .cloned()
            .unwrap_or_else(|| json!("unknown"));
        let mut aliases: Vec<(String, Map<String, Value>)> = Vec::new();
        let lines: Vec<Vec<&str>> = address_lines
            .iter()
            .filter_map(|line| {
                let line = line.split('\\').next().unwrap_or_default();
                let mut words = line.split_whitespace();
                words.next()?;
                (words.next()? == device).then(|| words.collect())
            })
            .collect();
        let (primary, secondary): (Vec<&Vec<&str>>, Vec<&Vec<&str>>) = lines
            .iter()
            .partition(|words| words.first() != Some(&"inet") || !words.contains(&"secondary"));
        for (is_secondary, words) in primary
            .into_iter()
            .map(|w| (false, w))
            .chain(secondary.into_iter().map(|w| (true, w)))
        {
            match words.first().copied() {
                Some("inet") if words.len() > 1 => {
                    let (address, prefix) = words[1].split_once('/').unwrap_or((words[1], "32"));
                    let broadcast = if words.len() > 3 && words[2] == "brd" {
                        words[3]
                    } else {
                        ""
                    };
                    let Some(details) = ipv4_details(address, prefix, broadcast) else {
                        continue;
                    };
                    let label = words.last().copied().unwrap_or(device.as_str());
                    let target: &mut Map<String, Value> = if label != device {
                        aliases.retain(|(name, _)| name != label);
                        aliases.push((label.to_string(), Map::new()));
                        &mut aliases.last_mut().expect("just pushed").1
                    } else {
                        &mut info
                    };
                    if !is_secondary && !target.contains_key("ipv4") {
                        target.insert("ipv4".into(), Value::Object(details.clone()));
                    } else {
                        push_to(target, "ipv4_secondaries", Value::Object(details.clone()));
                    }
                    if is_secondary {
                        if !info.contains_key("ipv4_secondaries") {
                            info.insert("ipv4_secondaries".into(), json!([]));
                        }
                        if label != device {
                            push_to(
                                &mut info,
                                "ipv4_secondaries",
                                Value::Object(details.clone()),
                            );
                        }
                    }
                    if default_v4.get("address").and_then(Value::as_str) == Some(address) {
                        for key in ["broadcast", "netmask", "network", "prefix"] {
                            default_v4.insert(key.into(), details[key].clone());
                        }
                        default_v4.insert("macaddress".into(), json!(mac));
                        default_v4.insert("mtu".into(), json!(mtu));
                        default_v4.insert("type".into(), interface_type.clone());
                        default_v4.insert("alias".into(), json!(label));
                    }
                    if !address.starts_with("127.") {
                        all_v4.push(json!(address));
                    }
                }
                Some("inet6") if words.len() > 3 => {
                    let (address, prefix, scope) = if words[2] == "peer" && words.len() > 5 {
                        let prefix = words[3].split_once('/').map(|(_, p)| p).unwrap_or("");
                        (words[1], prefix, words[5])
                    } else {
                        let (address, prefix) = words[1].split_once('/').unwrap_or((words[1], ""));
                        (address, prefix, words[3])
                    };
                    push_to(
                        &mut info,
                        "ipv6",
                        json!({ "address": address, "prefix": prefix, "scope": scope }),
                    );
                    if default_v6.get("address").and_then(Value::as_str) == Some(address) {
                        default_v6.insert("prefix".into(), json!(prefix));
                        default_v6.insert("scope".into(), json!(scope));
                        default_v6.insert("macaddress".into(), json!(mac));
                        default_v6.insert("mtu".into(), json!(mtu));
                        default_v6.insert("type".into(), interface_type.clone());
                    }
                    if address != "::1" {
                        all_v6.push(json!(address));
                    }
                }
                _ => {}
            }
        }
        interfaces.retain(|(name, _)| name != device);
        interfaces.push((device.clone(), info));
        for (name, alias) in aliases {
            interfaces.retain(|(existing, _)| *existing != name);
            interfaces.push((name, alias));
        }
    }
    let mut names = Vec::new();
    for (name, info) in interfaces {
        let name = name.replace(':', "_");
        let sorted: BTreeMap<String, Value> = info.into_iter().collect();
        facts.insert(name.clone(), json!(sorted));
        names.push(json!(name));
    }
    facts.insert("interfaces".into(), Value::Array(names));
    let sort = |map: Map<String, Value>| json!(map.into_iter().collect::<BTreeMap<_, _>>());
    facts.insert("default_ipv4".into(), sort(default_v4));
    facts.insert("default_ipv6".into(), sort(default_v6));
    facts.insert("all_ipv4_addresses".into(), Value::Array(all_v4));
    facts.insert("all_ipv6_addresses".into(), Value::Array(all_v6));
    let mut reachable_v4: Vec<String> = Vec::new();
    let mut reachable_v6: Vec<String> = Vec::new();
    for line in raw
        .lines("local-v4")
        .iter()
        .chain(raw.lines("local-v6").iter())
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"local") || words.len() < 2 {
            continue;
        }
        let list = if words[1].contains(':') {
            &mut reachable_v6
        } else {
            &mut reachable_v4
        };
        if !list.iter().any(|a| a == words[1]) {
            list.push(words[1].to_string());
        }
    }
    facts.insert(
        "locally_reachable_ips".into(),
        json!({ "ipv4": reachable_v4, "ipv6": reachable_v6 }),
    );
}

fn push_to(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        Some(Value::Array(list)) => list.push(value),
        _ => {
            map.insert(key.to_string(), Value::Array(vec![value]));
        }
    }
}

/// `ip route get ADDRESS` names the interface, source address and gateway used to reach
/// it: the default route, as Ansible reads it.
fn route_get(output: &str, target: &str) -> Map<String, Value> {
    let mut route = Map::new();
    let Some(line) = output.lines().find(|l| !l.trim().is_empty()) else {
        return route;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&target) {
        return route;
    }
    for pair in words.windows(2) {
        match pair[0] {
            "dev" => {
                route.insert("interface".into(), json!(pair[1]));
            }
            "src" => {
                route.insert("address".into(), json!(pair[1]));
            }
            "via" if pair[1] != target => {
                route.insert("gateway".into(), json!(pair[1]));
            }
            _ => {}
        }
    }
    route
}

/// `*.fact` files: JSON, else INI sections, else an error string, as Ansible keeps them.
fn local_facts(raw: &Raw) -> Map<String, Value> {
    let mut local = BTreeMap::new();
    let mut pending_exec: Option<(String, String)> = None;
    for (name, content) in &raw.sections {
        let (kind, rest) = name.split_once(' ').unwrap_or((name.as_str(), ""));
        match kind {
            "local-exec" => pending_exec = Some((rest.to_string(), content.clone())),
            "local-rc" => {
                if let Some((path, output)) = pending_exec.take() {
                    let base = basename(&path).trim_end_matches(".fact").to_string();
                    let value = if rest == "0" {
                        parse_local_fact(&path, &output)
                    } else {
                        json!(format!(
                            "Failure executing fact script ({path}), rc: {rest}, err: "
                        ))
                    };
                    local.insert(base, value);
                }
            }
            "local-file" => {
                let base = basename(rest).trim_end_matches(".fact").to_string();
                local.insert(base, parse_local_fact(rest, content));
            }
            _ => {}
        }
    }
    local.into_iter().collect()
}

fn parse_local_fact(path: &str, text: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return value;
    }
    let mut sections: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(section) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = Some(section.to_string());
            sections.entry(section.to_string()).or_default();
            continue;
        }
        let Some(section) = &current else {
            return json!(format!(
                "error loading facts as JSON or ini - please check content: {path}"
            ));
        };
        let (key, value) = trimmed
            .split_once('=')
            .or_else(|| trimmed.split_once(':'))
            .unwrap_or((trimmed, ""));
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_lowercase(), json!(value.trim()));
    }
    json!(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTransport;

    fn all() -> BTreeSet<&'static str> {
        collectors(&["all".to_string()]).unwrap()
    }

    /// Output captured from the script on a Debian 12 machine, shortened.
    const SAMPLE: &str = "
@@rplay@@ machine
x86_64

@@rplay@@ long-bit
64

@@rplay@@ fqdn
node1
127.0.1.1       node1.example.com node1

@@rplay@@ exists
/etc/arch-release-not-listed

@@rplay@@ lsb-release
Distributor ID:\tDebian
Description:\tDebian GNU/Linux 12 (bookworm)
Release:\t12
Codename:\tbookworm

@@rplay@@ exists
/sys/kernel/security/apparmor

@@rplay@@ chroot
debian_chroot=
same-root

@@rplay@@ capsh
Current: =ep
Bounding set =cap_chown

@@rplay@@ id
uid=1000(debian) gid=1000(debian) groups=1000(debian),27(sudo)

@@rplay@@ user
debian

@@rplay@@ passwd
debian:x:1000:1000:Debian,,,:/home/debian:/bin/bash

@@rplay@@ date
2024|09|Monday|1|37|16|14|03|09|1726495389|123456789|CEST|+0200

@@rplay@@ date-january
CET|+0100

@@rplay@@ date-july
CEST|+0200

@@rplay@@ exists
/run/systemd/system/
/etc/init.d/

@@rplay@@ have
systemctl

@@rplay@@ systemctl-version
systemd 252 (252.30-1~deb12u2)
+PAM +AUDIT +SELINUX

@@rplay@@ exists
/usr/bin/apt-get

@@rplay@@ dnf-realpath

@@rplay@@ exists
/dev/kvm

@@rplay@@ exists
/sys/devices/virtual/dmi/id/product_name

@@rplay@@ nproc
4

@@rplay@@ mtab-path
/proc/mounts

@@rplay@@ lsblk
/dev/vda1 0e7d8f52-1111-2222-3333-444455556666
/dev/vda

@@rplay@@ statfs
4096|4096|1000|600|500|2000|1500|/

@@rplay@@ ip-addr
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: ens3    inet 10.0.0.5/24 brd 10.0.0.255 scope global dynamic ens3\\       valid_lft 86000sec preferred_lft 86000sec
2: ens3    inet 10.0.0.6/24 brd 10.0.0.255 scope global secondary ens3:1\\       valid_lft forever preferred_lft forever
2: ens3    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever

@@rplay@@ route-v4
8.8.8.8 via 10.0.0.1 dev ens3 src 10.0.0.5 uid 1000
    cache

@@rplay@@ route-v6

@@rplay@@ local-v4
local 10.0.0.5 dev ens3 proto kernel scope host src 10.0.0.5
local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1

@@rplay@@ local-v6
local ::1 dev lo table local proto kernel metric 0 pref medium

@@rplay@@ net-device
ens3

@@rplay@@ exists
/sys/class/net/ens3/device

@@rplay@@ net-device
lo

@@rplay@@ exists

@@rplay@@ files
==> /proc/sys/kernel/ostype <==
Linux

==> /proc/sys/kernel/osrelease <==
6.1.0-25-amd64

==> /proc/sys/kernel/version <==
#1 SMP PREEMPT_DYNAMIC Debian 6.1.106-3 (2024-08-26)

==> /proc/sys/kernel/hostname <==
node1

==> /etc/machine-id <==
0123456789abcdef0123456789abcdef

==> /etc/os-release <==
PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
NAME=\"Debian GNU/Linux\"
VERSION_ID=\"12\"
VERSION=\"12 (bookworm)\"
VERSION_CODENAME=bookworm
ID=debian

==> /etc/debian_version <==
12.7

==> /etc/resolv.conf <==
# generated
search example.com
nameserver 10.0.0.2
nameserver 10.0.0.3
options edns0 ndots:2

==> /proc/cmdline <==
BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet console=tty0 console=ttyS0

==> /proc/loadavg <==
0.10 0.20 0.30 1/100 1234

==> /proc/1/comm <==
systemd

==> /proc/1/cgroup <==
0::/init.scope

==> /proc/cpuinfo <==
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU
physical id\t: 0
siblings\t: 4
core id\t\t: 0
cpu cores\t: 2
flags\t\t: fpu vme sse

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU
physical id\t: 0
siblings\t: 4
core id\t\t: 1
cpu cores\t: 2
flags\t\t: fpu vme sse

==> /proc/meminfo <==
MemTotal:        8000000 kB
MemFree:         4000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        2097148 kB

==> /proc/uptime <==
12345.67 40000.00

==> /sys/devices/virtual/dmi/id/product_name <==
Standard PC (Q35 + ICH9, 2009)

==> /sys/devices/virtual/dmi/id/sys_vendor <==
QEMU

==> /sys/devices/virtual/dmi/id/chassis_type <==
1

==> /proc/mounts <==
/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0
proc /proc proc rw,nosuid 0 0
/dev/vda15 /boot/efi vfat rw 0 0

==> /sys/class/net/ens3/address <==
52:54:00:12:34:56

==> /sys/class/net/ens3/mtu <==
1500

==> /sys/class/net/ens3/operstate <==
up

==> /sys/class/net/ens3/type <==
1

==> /sys/class/net/ens3/flags <==
0x1003

==> /sys/class/net/lo/address <==
00:00:00:00:00:00

==> /sys/class/net/lo/mtu <==
65536

==> /sys/class/net/lo/operstate <==
unknown

==> /sys/class/net/lo/type <==
772

==> /sys/class/net/lo/flags <==
0x9

@@rplay@@ links
lrwxrwxrwx 1 root root 0 Sep 16 14:00 /sys/class/net/ens3/device -> ../../../virtio0
lrwxrwxrwx 1 root root 0 Sep 16 14:00 /sys/class/net/ens3/device/driver/module -> ../../../../module/virtio_net

@@rplay@@ end
";

    #[test]
    fn parses_a_captured_debian_host() {
        let facts = parse(SAMPLE, &all(), &["all".to_string()]);
        let get = |key: &str| facts.get(key).cloned().unwrap_or(Value::Null);
        assert_eq!(get("distribution"), json!("Debian"));
        assert_eq!(get("distribution_version"), json!("12.7"));
        assert_eq!(get("distribution_major_version"), json!("12"));
        assert_eq!(get("distribution_minor_version"), json!("7"));
        assert_eq!(get("distribution_release"), json!("bookworm"));
        assert_eq!(get("distribution_file_variety"), json!("Debian"));
        assert_eq!(get("distribution_file_path"), json!("/etc/os-release"));
        assert_eq!(get("os_family"), json!("Debian"));
        assert_eq!(get("pkg_mgr"), json!("apt"));
        assert_eq!(get("system"), json!("Linux"));
        assert_eq!(get("kernel"), json!("6.1.0-25-amd64"));
        assert_eq!(get("architecture"), json!("x86_64"));
        assert_eq!(get("userspace_architecture"), json!("x86_64"));
        assert_eq!(get("userspace_bits"), json!("64"));
        assert_eq!(get("hostname"), json!("node1"));
        assert_eq!(get("fqdn"), json!("node1.example.com"));
        assert_eq!(get("domain"), json!("example.com"));
        assert_eq!(get("machine_id"), json!("0123456789abcdef0123456789abcdef"));
        assert_eq!(get("service_mgr"), json!("systemd"));
        assert_eq!(
            get("systemd"),
            json!({ "version": 252, "features": "+PAM +AUDIT +SELINUX" })
        );
        assert_eq!(get("apparmor"), json!({ "status": "enabled" }));
        assert_eq!(get("selinux"), json!({ "status": "disabled" }));
        assert_eq!(get("is_chroot"), json!(false));
        assert_eq!(get("system_capabilities_enforced"), json!("False"));
        assert_eq!(get("user_id"), json!("debian"));
        assert_eq!(get("user_uid"), json!(1000));
        assert_eq!(get("user_dir"), json!("/home/debian"));
        assert_eq!(get("user_gecos"), json!("Debian,,,"));
        assert_eq!(get("memtotal_mb"), json!(7812));
        assert_eq!(get("memfree_mb"), json!(3906));
        assert_eq!(get("swaptotal_mb"), json!(2047));
        assert_eq!(get("memory_mb")["nocache"]["free"], json!(3906 + 976 + 97));
        assert_eq!(get("processor_count"), json!(1));
        assert_eq!(get("processor_cores"), json!(2));
        assert_eq!(get("processor_threads_per_core"), json!(2));
        assert_eq!(get("processor_vcpus"), json!(4));
        assert_eq!(get("processor_nproc"), json!(4));
        assert_eq!(
            get("processor"),
            json!([
                "0",
                "GenuineIntel",
                "Intel(R) Xeon(R) CPU",
                "1",
                "GenuineIntel",
                "Intel(R) Xeon(R) CPU"
            ])
        );
        assert_eq!(get("uptime_seconds"), json!(12345));
        assert_eq!(get("virtualization_type"), json!("kvm"));
        assert_eq!(get("virtualization_role"), json!("guest"));
        assert_eq!(get("form_factor"), json!("Other"));
        assert_eq!(get("bios_vendor"), json!("NA"));
        assert_eq!(
            get("dns"),
            json!({
                "search": ["example.com"],
                "nameservers": ["10.0.0.2", "10.0.0.3"],
                "options": { "edns0": true, "ndots": "2" }
            })
        );
        assert_eq!(get("cmdline")["console"], json!("ttyS0"));
        assert_eq!(get("proc_cmdline")["console"], json!(["tty0", "ttyS0"]));
        assert_eq!(get("cmdline")["quiet"], json!(true));
        assert_eq!(get("loadavg"), json!({ "1m": 0.1, "5m": 0.2, "15m": 0.3 }));
        let date = get("date_time");
        assert_eq!(date["date"], json!("2024-09-16"));
        assert_eq!(date["iso8601"], json!("2024-09-16T14:03:09Z"));
        assert_eq!(date["iso8601_micro"], json!("2024-09-16T14:03:09.123456Z"));
        assert_eq!(date["iso8601_basic"], json!("20240916T140309123456"));
        assert_eq!(date["tz"], json!("CEST"));
        assert_eq!(date["tz_dst"], json!("CEST"));
        assert_eq!(date["weekday"], json!("Monday"));
        assert_eq!(
            get("default_ipv4"),
            json!({
                "address": "10.0.0.5", "alias": "ens3", "broadcast": "10.0.0.255",
                "gateway": "10.0.0.1", "interface": "ens3", "macaddress": "52:54:00:12:34:56",
                "mtu": 1500, "netmask": "255.255.255.0", "network": "10.0.0.0",
                "prefix": "24", "type": "ether"
            })
        );
        assert_eq!(get("default_ipv6"), json!({}));
        assert_eq!(get("all_ipv4_addresses"), json!(["10.0.0.5", "10.0.0.6"]));
        assert_eq!(get("all_ipv6_addresses"), json!(["fe80::1"]));
        assert_eq!(get("interfaces"), json!(["ens3", "ens3_1", "lo"]));
        assert_eq!(get("ens3")["pciid"], json!("virtio0"));
        assert_eq!(get("ens3")["module"], json!("virtio_net"));
        assert_eq!(get("ens3")["promisc"], json!(false));
        assert_eq!(
            get("ens3")["ipv4_secondaries"][0]["address"],
            json!("10.0.0.6"),
            "{:#}",
            get("ens3")
        );
        assert_eq!(
            get("ens3_1")["ipv4_secondaries"][0]["address"],
            json!("10.0.0.6")
        );
        assert_eq!(get("lo")["type"], json!("loopback"));
        assert_eq!(get("lo").get("macaddress"), None);
        assert_eq!(
            get("locally_reachable_ips"),
            json!({ "ipv4": ["10.0.0.5", "127.0.0.0/8"], "ipv6": ["::1"] })
        );
        let mounts = get("mounts");
        assert_eq!(mounts.as_array().unwrap().len(), 2);
        assert_eq!(mounts[0]["mount"], json!("/"));
        assert_eq!(
            mounts[0]["uuid"],
            json!("0e7d8f52-1111-2222-3333-444455556666")
        );
        assert_eq!(mounts[0]["size_total"], json!(4096 * 1000));
        assert_eq!(mounts[0]["block_used"], json!(500));
        assert_eq!(mounts[1]["uuid"], json!("N/A"));
        assert_eq!(
            get("lsb"),
            json!({
                "id": "Debian", "description": "Debian GNU/Linux 12 (bookworm)",
                "release": "12", "major_release": "12", "codename": "bookworm"
            })
        );
        assert_eq!(get("gather_subset"), json!(["all"]));
        assert_eq!(get("module_setup"), json!(true));
        assert_eq!(get("python"), Value::Null, "there is no Python on the host");
    }

    #[test]
    fn recognises_ubuntu_and_rocky() {
        let with_files = |files: &str| {
            let text = format!("\n@@rplay@@ files\n{files}\n@@rplay@@ end\n");
            parse(&text, &collectors(&["!all".into()]).unwrap(), &[])
        };
        let ubuntu = with_files(
            "==> /etc/os-release <==\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nID=ubuntu\nVERSION_CODENAME=jammy\n\n==> /etc/debian_version <==\nbookworm/sid\n",
        );
        assert_eq!(ubuntu["distribution"], json!("Ubuntu"));
        assert_eq!(ubuntu["distribution_version"], json!("22.04"));
        assert_eq!(ubuntu["distribution_release"], json!("jammy"));
        assert_eq!(ubuntu["os_family"], json!("Debian"));
        let rocky = with_files(
            "==> /etc/os-release <==\nNAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n\n==> /etc/redhat-release <==\nRocky Linux release 9.3 (Blue Onyx)\n",
        );
        assert_eq!(rocky["distribution"], json!("Rocky"));
        assert_eq!(rocky["distribution_version"], json!("9.3"));
        assert_eq!(rocky["distribution_major_version"], json!("9"));
        assert_eq!(rocky["distribution_release"], json!("Blue Onyx"));
        assert_eq!(rocky["os_family"], json!("RedHat"));
        let rhel = with_files(
            "==> /etc/os-release <==\nNAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n\n==> /etc/redhat-release <==\nRed Hat Enterprise Linux release 9.4 (Plow)\n",
        );
        assert_eq!(rhel["distribution"], json!("RedHat"));
        assert_eq!(rhel["os_family"], json!("RedHat"));
    }

    #[test]
    fn chooses_collectors_like_ansible() {
        let names = |subset: &[&str]| {
            collectors(&subset.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        assert!(names(&["all"]).contains("hardware"));
        let minimal = names(&["!all"]);
        assert!(minimal.contains("distribution") && !minimal.contains("hardware"));
        let no_hardware = names(&["all", "!hardware"]);
        assert!(!no_hardware.contains("hardware") && no_hardware.contains("network"));
        let only_network = names(&["!all", "!min", "network"]);
        assert!(only_network.contains("network"));
        assert!(
            only_network.contains("platform"),
            "network needs platform facts"
        );
        assert!(!only_network.contains("user"));
        assert!(names(&["!all", "kernel"]).contains("platform"));
        assert!(collectors(&["hardwear".to_string()])
            .unwrap_err()
            .contains("bad subset `hardwear`"));
    }

    #[test]
    fn filters_with_globs() {
        let facts: Map<String, Value> = [
            ("distribution".to_string(), json!("Debian")),
            ("eth0".to_string(), json!({})),
            ("env".to_string(), json!({})),
        ]
        .into_iter()
        .collect();
        let kept = filter(facts.clone(), &["ansible_dist*".to_string()]);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["distribution"]);
        let kept = filter(facts.clone(), &["e[nt]*".to_string()]);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["eth0", "env"]);
        assert_eq!(filter(facts, &[]).len(), 3);
        assert!(glob_match("a?c", "abc") && !glob_match("a[!b]c", "abc"));
    }

    #[test]
    fn converts_epochs_to_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(utc_timestamp(1_726_495_389), "2024-09-16T14:03:09");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00");
    }

    #[test]
    fn reads_local_facts_as_json_or_ini() {
        assert_eq!(parse_local_fact("x", r#"{"a": 1}"#), json!({ "a": 1 }));
        assert_eq!(
            parse_local_fact("x", "[general]\nName = web\n"),
            json!({ "general": { "name": "web" } })
        );
        assert!(parse_local_fact("/x.fact", "not ini")
            .as_str()
            .unwrap()
            .contains("/x.fact"));
    }

    fn command(argv: &[&str]) -> String {
        let output = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("running {argv:?}: {e}"));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    #[tokio::test]
    async fn gathers_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("role.fact"), r#"{"tier": "test"}"#).unwrap();
        let options = GatherOptions {
            fact_path: dir.path().to_str().unwrap().to_string(),
            ..GatherOptions::default()
        };
        let started = std::time::Instant::now();
        let facts = gather_with(&LocalTransport::new(), &options).await.unwrap();
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "gathering took {elapsed:?}"
        );

        assert_eq!(facts["architecture"], json!(command(&["uname", "-m"])));
        assert_eq!(facts["kernel"], json!(command(&["uname", "-r"])));
        assert_eq!(facts["nodename"], json!(command(&["uname", "-n"])));
        let os_release = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .expect("this machine has an os-release file");
        let release = key_values(&os_release);
        let id = release.get("ID").cloned().unwrap_or_default();
        if id == "debian" {
            assert_eq!(facts["distribution"], json!("Debian"));
            assert_eq!(facts["os_family"], json!("Debian"));
            assert_eq!(facts["pkg_mgr"], json!("apt"));
            assert_eq!(
                facts["distribution_release"],
                json!(release["VERSION_CODENAME"])
            );
            let debian_version = std::fs::read_to_string("/etc/debian_version").unwrap();
            assert_eq!(facts["distribution_version"], json!(debian_version.trim()));
        } else {
            assert_eq!(
                facts["distribution"].as_str().unwrap().to_lowercase(),
                id.to_lowercase()
            );
        }
        let uid: u64 = command(&["id", "-u"]).parse().unwrap();
        assert_eq!(facts["user_uid"], json!(uid));
        assert_eq!(facts["real_user_id"], json!(uid));
        let nproc: i64 = command(&["nproc"]).parse().unwrap();
        assert_eq!(facts["processor_nproc"], json!(nproc));
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let total_kb: i64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(facts["memtotal_mb"], json!(total_kb / 1024));
        let comm = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        if !comm.trim().is_empty() && comm.trim() != "init" {
            assert_eq!(facts["service_mgr"], json!(comm.trim()));
        }
        let epoch: i64 = facts["date_time"]["epoch"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - epoch).abs() < 60, "epoch {epoch} is not now ({now})");
        assert_eq!(facts["env"]["PATH"], json!(std::env::var("PATH").unwrap()));
        assert_eq!(facts["local"], json!({ "role": { "tier": "test" } }));
        assert!(facts["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["mount"].is_string()));
        if command(&["sh", "-c", "command -v ip"]).is_empty() {
            panic!("this test needs `ip` on the machine to check network facts");
        }
        let interfaces = facts["interfaces"].as_array().unwrap();
        assert!(interfaces.contains(&json!("lo")));
        assert_eq!(facts["lo"]["ipv4"]["address"], json!("127.0.0.1"));
        let route = command(&["ip", "-4", "route", "get", "8.8.8.8"]);
        if let Some(device) = route.split_whitespace().skip_while(|w| *w != "dev").nth(1) {
            assert_eq!(facts["default_ipv4"]["interface"], json!(device));
        }
        assert!(facts.get("python").is_none());
    }

    #[tokio::test]
    async fn gathers_only_the_minimum_when_asked() {
        let facts = gather(&LocalTransport::new(), &["!all".to_string()])
            .await
            .unwrap();
        assert!(facts.contains_key("distribution"));
        assert!(facts.contains_key("date_time"));
        assert!(!facts.contains_key("mounts"));
        assert!(!facts.contains_key("interfaces"));
        assert_eq!(facts["gather_subset"], json!(["!all"]));
    }
}
