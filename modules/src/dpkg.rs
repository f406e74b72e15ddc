//! What the Debian packaging modules share: dpkg's and apt's view of packages, Debian
//! version order, and the environment apt commands run in.
//!
//! Package state is read with one `dpkg-query -W` for all the names a task gives; what apt
//! could install comes from one `apt-cache policy` (installed version, candidate and the
//! version table). Both are parsed here so every module reads them the same way.

use crate::transport::{Exec, Transport};
use crate::ModuleError;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The `dpkg-query -W` format [`parse_query`] reads.
pub(crate) const QUERY_FORMAT: &str =
    "${Package}\\t${Architecture}\\t${Version}\\t${Status}\\t${Section}\\t${Provides}\\n";

/// The environment every apt and dpkg command runs with: no questions asked, and English
/// output, because results are read from it ("0 upgraded, 0 newly installed").
pub(crate) fn apt_env() -> Vec<(String, String)> {
    [
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("DEBIAN_PRIORITY", "critical"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("LC_MESSAGES", "C.UTF-8"),
        ("LC_CTYPE", "C.UTF-8"),
        ("LANGUAGE", "C.UTF-8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A command with [`apt_env`].
pub(crate) fn apt_exec(argv: Vec<String>) -> Exec {
    Exec {
        env: apt_env(),
        ..Exec::new(argv)
    }
}

/// One package as dpkg knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgEntry {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// The selection: `install`, `hold`, `deinstall`, `purge`.
    pub want: String,
    /// `installed`, `config-files`, `not-installed`, `unpacked`, `half-configured`…
    pub state: String,
    pub section: String,
    /// The virtual packages it provides, without versions.
    pub provides: Vec<String>,
}

impl DpkgEntry {
    /// Fully installed, as Ansible's `CURSTATE_INSTALLED`.
    pub fn is_installed(&self) -> bool {
        self.state == "installed"
    }

    /// Something of it is on disk: an installed package, or configuration files left
    /// after a removal (a purge still has work to do).
    pub fn has_files(&self) -> bool {
        self.state != "not-installed"
    }
}

/// Reads `dpkg-query -W -f=QUERY_FORMAT` output. Lines that do not fit are skipped.
pub(crate) fn parse_query(text: &str) -> Vec<DpkgEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.to_string();
            let arch = fields.next()?.to_string();
            let version = fields.next()?.to_string();
            let mut status = fields.next()?.split_whitespace();
            let want = status.next()?.to_string();
            let state = status.nth(1)?.to_string();
            let section = fields.next().unwrap_or_default().to_string();
            let provides = fields
                .next()
                .unwrap_or_default()
                .split(',')
                .filter_map(|item| item.split_whitespace().next())
                .map(str::to_string)
                .collect();
            (!name.is_empty()).then_some(DpkgEntry {
                name,
                arch,
                version,
                want,
                state,
                section,
                provides,
            })
        })
        .collect()
}

/// What dpkg knows of `names` (any of which may carry `:arch`), with one `dpkg-query`.
/// Names dpkg has never heard of are simply missing from the answer.
pub(crate) async fn query(
    transport: &dyn Transport,
    names: &[String],
) -> Result<Vec<DpkgEntry>, ModuleError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut argv = vec![
        "dpkg-query".to_string(),
        "-W".to_string(),
        format!("-f={QUERY_FORMAT}"),
        "--".to_string(),
    ];
    argv.extend(names.iter().cloned());
    let output = transport.run(&apt_exec(argv)).await?;
    // rc 1 only says that some names are unknown; anything else is a real failure.
    if output.rc > 1 {
        return Err(ModuleError::failed(format!(
            "dpkg-query failed: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(parse_query(&output.stdout_text()))
}

/// The entry for `name` (`name` or `name:arch`) among `entries`.
pub(crate) fn entry_for<'e>(entries: &'e [DpkgEntry], name: &str) -> Option<&'e DpkgEntry> {
    let (base, arch) = match name.split_once(':') {
        Some((base, arch)) => (base, Some(arch)),
        None => (name, None),
    };
    let mut matching = entries
        .iter()
        .filter(|e| e.name == base && arch.is_none_or(|a| a == e.arch || e.arch == "all"));
    let first = matching.next()?;
    // With several architectures of one package, an installed one is the answer.
    Some(if first.is_installed() {
        first
    } else {
        matching.find(|e| e.is_installed()).unwrap_or(first)
    })
}

/// What `apt-cache policy` says of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Every version apt knows, as the version table lists them.
    pub versions: Vec<String>,
}

impl Policy {
    /// A name apt knows but has no version of: a virtual package.
    pub fn is_virtual(&self) -> bool {
        self.versions.is_empty() && self.candidate.is_none()
    }
}

/// Reads `apt-cache policy` output: a `name:` line per package, then `Installed:`,
/// `Candidate:` and the version table. Names apt does not know are not printed.
pub(crate) fn parse_policy(text: &str) -> BTreeMap<String, Policy> {
    let mut found = BTreeMap::new();
    let mut current: Option<(String, Policy)> = None;
    let mut in_table = false;
    let none = |value: &str| {
        let value = value.trim();
        (!value.is_empty() && value != "(none)").then(|| value.to_string())
    };
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some((name, policy)) = current.take() {
                found.insert(name, policy);
            }
            current = Some((line.trim_end_matches(':').to_string(), Policy::default()));
            in_table = false;
            continue;
        }
        let Some((_, policy)) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        if let Some(value) = trimmed.strip_prefix("Installed:") {
            policy.installed = none(value);
        } else if let Some(value) = trimmed.strip_prefix("Candidate:") {
            policy.candidate = none(value);
        } else if trimmed.starts_with("Version table:") {
            in_table = true;
        } else if in_table {
            // Version lines are indented by five (` *** ` marks the installed one);
            // the sources under each are indented further.
            let indent = line.len() - trimmed.len();
            let version_line = line.starts_with(" *** ") || indent <= 5;
            if version_line {
                if let Some(version) = trimmed.trim_start_matches("*** ").split_whitespace().next()
                {
                    policy.versions.push(version.to_string());
                }
            }
        }
    }
    if let Some((name, policy)) = current {
        found.insert(name, policy);
    }
    found
}

/// `apt-cache policy` for `names`, with `default_release` as apt-get's `-t` would set it.
pub(crate) async fn policy(
    transport: &dyn Transport,
    names: &[String],
    default_release: Option<&str>,
) -> Result<BTreeMap<String, Policy>, ModuleError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut argv = vec!["apt-cache".to_string()];
    if let Some(release) = default_release {
        argv.push("-o".to_string());
        argv.push(format!("APT::Default-Release={release}"));
    }
    argv.push("policy".to_string());
    argv.push("--".to_string());
    argv.extend(names.iter().cloned());
    let output = transport.run(&apt_exec(argv)).await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "apt-cache policy failed: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(parse_policy(&output.stdout_text()))
}

/// Orders two Debian versions as `dpkg --compare-versions` does: epoch, then upstream
/// version, then revision, each compared part by part with `~` before everything.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split_version(a);
    let (epoch_b, upstream_b, revision_b) = split_version(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_part(upstream_a, upstream_b))
        .then_with(|| compare_part(revision_a, revision_b))
}

fn split_version(version: &str) -> (u64, &str, &str) {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `verrevcmp`: alternate runs of non-digits (compared by [`order`]) and digits
/// (compared as numbers).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let left = order(a.get(i).copied());
            let right = order(b.get(j).copied());
            if left != right {
                return left.cmp(&right);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

/// A character's weight in a non-digit run: `~` sorts before the end of the string,
/// letters before other characters. A digit (or the end) weighs nothing.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_versions_like_dpkg() {
        use Ordering::*;
        // Pairs checked with `dpkg --compare-versions` on Debian 12.
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.9", "2.0", Greater),
            ("1.31.1-1.1", "1.31.10-1.1", Less),
            ("2.0", "10.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("5.2.15-2+b8", "5.2.15-2+b13", Less),
            ("1.2.3", "1.2.3.0", Less),
            ("0:1.0", "1.0", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn agrees_with_dpkg_on_this_machine() {
        // dpkg is part of this project's build environment (the rig builds .deb files).
        let pairs = [
            ("1.0~beta", "1.0"),
            ("1:1.0", "2.0"),
            ("1.0-1ubuntu1", "1.0-1"),
            ("2.30-1", "2.3-1"),
            ("1.0+dfsg", "1.0"),
            ("1.0.0~~a", "1.0.0~"),
        ];
        for (a, b) in pairs {
            let less = std::process::Command::new("dpkg")
                .args(["--compare-versions", a, "lt", b])
                .status()
                .expect("dpkg runs")
                .success();
            assert_eq!(compare_versions(a, b) == Ordering::Less, less, "{a} < {b}");
        }
    }

    #[test]
    fn reads_dpkg_query_lines() {
        let entries = parse_query(
            "bash\tamd64\t5.2.15-2+b8\tinstall ok installed\tshells\t\n\
             oldpkg\tall\t1.0\tdeinstall ok config-files\tmisc\t\n\
             exim4-daemon-light\tamd64\t4.96-15\tinstall ok installed\tmail\tmail-transport-agent, exim4-localscanapi-6.0 (= 1)\n\
             broken line\n",
        );
        assert_eq!(entries.len(), 3);
        assert!(entries[0].is_installed());
        assert_eq!(entries[0].version, "5.2.15-2+b8");
        assert!(!entries[1].is_installed());
        assert!(entries[1].has_files());
        assert_eq!(entries[1].want, "deinstall");
        assert_eq!(
            entries[2].provides,
            vec!["mail-transport-agent", "exim4-localscanapi-6.0"]
        );
        assert_eq!(entry_for(&entries, "bash:amd64").unwrap().name, "bash");
        assert!(entry_for(&entries, "bash:i386").is_none());
        assert_eq!(entry_for(&entries, "oldpkg:amd64").unwrap().arch, "all");
    }

    #[test]
    fn reads_apt_cache_policy() {
        let text = "bash:
  Installed: 5.2.15-2+b8
  Candidate: 5.2.15-2+b13
  Version table:
     5.2.15-2+b13 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 5.2.15-2+b8 100
        100 /var/lib/dpkg/status
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
kubeadm:
  Installed: (none)
  Candidate: 1.31.2-1.1
  Version table:
     1.31.2-1.1 500
        500 https://pkgs.k8s.io/core:/stable:/v1.31/deb  Packages
     1.31.1-1.1 500
        500 https://pkgs.k8s.io/core:/stable:/v1.31/deb  Packages
";
        let policies = parse_policy(text);
        assert_eq!(policies.len(), 3);
        let bash = &policies["bash"];
        assert_eq!(bash.installed.as_deref(), Some("5.2.15-2+b8"));
        assert_eq!(bash.candidate.as_deref(), Some("5.2.15-2+b13"));
        assert_eq!(bash.versions, vec!["5.2.15-2+b13", "5.2.15-2+b8"]);
        assert!(policies["mail-transport-agent"].is_virtual());
        assert_eq!(policies["kubeadm"].installed, None);
        assert_eq!(policies["kubeadm"].versions.len(), 2);
    }

    #[tokio::test]
    async fn reads_this_machine_without_changing_it() {
        // dpkg-query and apt-cache policy only read; this machine is a Debian system.
        let transport = crate::local::LocalTransport::new();
        let names = vec!["dpkg".to_string(), "no-such-package-rplay".to_string()];
        let entries = query(&transport, &names).await.unwrap();
        let dpkg = entry_for(&entries, "dpkg").expect("dpkg knows itself");
        assert!(dpkg.is_installed());
        assert!(entry_for(&entries, "no-such-package-rplay").is_none());
        let policies = policy(&transport, &names, None).await.unwrap();
        assert_eq!(
            policies["dpkg"].installed.as_deref(),
            Some(dpkg.version.as_str())
        );
        assert!(!policies.contains_key("no-such-package-rplay"));
    }
}
