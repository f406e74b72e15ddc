//! A Kubespray checkout on this machine: where it is, which release it is, and the
//! playbooks it offers.
//!
//! rplay writes Kubespray's inventory and variables itself, so it must know the layout it
//! writes for. That layout (top-level `cluster.yml`, `reset.yml`, `scale.yml`,
//! `upgrade-cluster.yml`; groups `kube_control_plane`, `etcd`, `kube_node`, `calico_rr`,
//! `k8s_cluster`; defaults in the `kubespray_defaults` role) holds from Kubespray 2.26 up
//! to 2.32, the newest release line read when this was written; a checkout outside
//! [`SUPPORTED`] is refused rather than half understood.

use crate::diagnostic::{Diagnostic, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// The Kubespray releases rplay writes inventories for: at least the first, below the
/// second.
pub const SUPPORTED: (Version, Version) = (Version(2, 26, 0), Version(2, 33, 0));

/// The release to suggest in messages.
pub const SUGGESTED_TAG: &str = "v2.28.0";

/// A Kubespray release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    /// Reads `2.28.0`, `v2.28.0` or `v2.31.0-96-g46dbdd399` (what `git describe` prints).
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The range as people write it: `>=2.26.0, <2.33.0`.
pub fn supported_range() -> String {
    format!(">={}, <{}", SUPPORTED.0, SUPPORTED.1)
}

/// Which Kubespray playbook to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlaybookName {
    Cluster,
    Reset,
    Scale,
    UpgradeCluster,
}

impl PlaybookName {
    /// The name as the collection spells it: `kubernetes_sigs.kubespray.<name>`.
    pub fn from_collection_name(name: &str) -> Option<PlaybookName> {
        match name {
            "cluster" => Some(PlaybookName::Cluster),
            "reset" => Some(PlaybookName::Reset),
            "scale" => Some(PlaybookName::Scale),
            "upgrade_cluster" | "upgrade-cluster" => Some(PlaybookName::UpgradeCluster),
            _ => None,
        }
    }

    /// The file at the top of a checkout; newer releases also carry `upgrade_cluster.yml`.
    fn file_names(self) -> &'static [&'static str] {
        match self {
            PlaybookName::Cluster => &["cluster.yml"],
            PlaybookName::Reset => &["reset.yml"],
            PlaybookName::Scale => &["scale.yml"],
            PlaybookName::UpgradeCluster => &["upgrade-cluster.yml", "upgrade_cluster.yml"],
        }
    }
}

/// A Kubespray checkout whose release is known and supported.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    pub version: Version,
    /// Where the version was read: `galaxy.yml` or `git describe`.
    pub version_source: &'static str,
}

/// How to say where Kubespray is, for every message that lacks it.
pub const HOW_TO_GET: &str = "get one with `git clone --branch v2.28.0 https://github.com/kubernetes-sigs/kubespray` and give its directory with --kubespray-dir DIR (`rplay kubespray`), the environment variable RPLAY_KUBESPRAY_DIR, or the inventory variable `kubespray_dir`";

impl Checkout {
    /// Opens `dir`, reads its release and checks it is in [`SUPPORTED`].
    pub fn open(dir: &Path) -> Result<Checkout> {
        let shown = dir.display();
        if !dir.is_dir() {
            return Err(Diagnostic::new(format!(
                "the Kubespray directory `{shown}` does not exist"
            ))
            .with_help(HOW_TO_GET));
        }
        let galaxy = dir.join("galaxy.yml");
        if !galaxy.is_file() && !dir.join("cluster.yml").is_file() {
            return Err(Diagnostic::new(format!(
                "`{shown}` is not a Kubespray checkout: it has neither `galaxy.yml` nor `cluster.yml`"
            ))
            .with_help(HOW_TO_GET));
        }
        let (version, version_source) = match read_galaxy_version(&galaxy)? {
            Some(version) => (version, "galaxy.yml"),
            None => match git_describe(dir) {
                Some(version) => (version, "git describe"),
                None => {
                    return Err(Diagnostic::new(format!(
                        "cannot tell which Kubespray release `{shown}` is: no `version` in galaxy.yml and `git describe --tags` gave none"
                    ))
                    .with_help(format!(
                        "use a Kubespray release {} (for example `git -C {shown} checkout {SUGGESTED_TAG}`)",
                        supported_range()
                    )))
                }
            },
        };
        if version < SUPPORTED.0 || version >= SUPPORTED.1 {
            return Err(Diagnostic::new(format!(
                "Kubespray {version} (from {version_source} in `{shown}`) is outside the supported range {}",
                supported_range()
            ))
            .with_help(format!(
                "check out a supported release, for example `git -C {shown} checkout {SUGGESTED_TAG}`"
            )));
        }
        // Absolute: ansible-playbook runs inside the checkout, not where rplay was started.
        Ok(Checkout {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            version,
            version_source,
        })
    }

    /// The playbook file for `name`.
    pub fn playbook(&self, name: PlaybookName) -> Result<PathBuf> {
        for file in name.file_names() {
            let path = self.dir.join(file);
            if path.is_file() {
                return Ok(path);
            }
        }
        Err(Diagnostic::new(format!(
            "the Kubespray checkout `{}` has no `{}`",
            self.dir.display(),
            name.file_names()[0]
        ))
        .with_help("the checkout is incomplete: run `git status` in it, or clone it again"))
    }

    /// `requirements.txt`: the Python packages Kubespray runs with.
    pub fn requirements(&self) -> PathBuf {
        self.dir.join("requirements.txt")
    }
}

/// The Kubespray checkout that holds `path` (a playbook inside it), if any: the nearest
/// directory above it with a `galaxy.yml` naming the `kubespray` collection.
pub fn enclosing_checkout(path: &Path) -> Option<PathBuf> {
    let mut dir = path.parent();
    while let Some(candidate) = dir {
        let galaxy = candidate.join("galaxy.yml");
        if galaxy.is_file() {
            let node = crate::yaml::load_file(&galaxy).ok()?;
            return (node.get("name").and_then(|n| n.as_str()) == Some("kubespray"))
                .then(|| candidate.to_path_buf());
        }
        dir = candidate.parent();
    }
    None
}

fn read_galaxy_version(galaxy: &Path) -> Result<Option<Version>> {
    if !galaxy.is_file() {
        return Ok(None);
    }
    let node = crate::yaml::load_file(galaxy)?;
    let Some(version) = node.get("version") else {
        return Ok(None);
    };
    let text = version.key_text().unwrap_or_default();
    match Version::parse(&text) {
        Some(parsed) => Ok(Some(parsed)),
        None => Err(Diagnostic::at(
            format!("`{text}` is not a release number"),
            &version.span,
        )),
    }
}

fn git_describe(dir: &Path) -> Option<Version> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["describe", "--tags"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Version::parse(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_galaxy_and_git_write_them() {
        assert_eq!(Version::parse("2.28.0"), Some(Version(2, 28, 0)));
        assert_eq!(
            Version::parse("v2.31.0-96-g46dbdd399\n"),
            Some(Version(2, 31, 0))
        );
        assert_eq!(Version::parse("v2.30"), Some(Version(2, 30, 0)));
        assert_eq!(Version::parse("master"), None);
        assert!(Version(2, 32, 5) < SUPPORTED.1);
        assert!(Version(2, 25, 9) < SUPPORTED.0);
    }
}
