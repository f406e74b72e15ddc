//! `unarchive`: unpacks a `.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`, `.tar.xz`, `.tar.zst` or
//! `.zip` archive into a directory on the host.
//!
//! The archive comes from the controller (`src` beside the playbook, sent over the
//! command's standard input) or, with `remote_src`, from the host itself or a URL the
//! host downloads. Its kind is read from its first bytes. Nothing needs doing when
//! `creates` exists, or when the archive matches `dest`: for tar archives GNU
//! `tar --diff` must report no difference that Ansible counts (missing files, content,
//! size, mode, owner, symlinks, times); for zip archives every entry must exist with its
//! size. Mode, owner and group, when given, are checked on every extracted path. Every
//! command keeps the archive in a temporary file that it removes itself, so nothing is
//! left on the host, in check mode or not.
//!
//! ```yaml
//! - name: Unpack the CNI plugins
//!   unarchive:
//!     src: https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz
//!     remote_src: true
//!     dest: /opt/cni/bin
//!     creates: /opt/cni/bin/bridge
//! ```

use crate::args::{ansible_bool, file_mode, list_or_csv, Args};
use crate::file::{attribute_change, PathFacts, Wanted};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::util::{path_state, PathState};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "unarchive",
    aliases: &["ansible.builtin.unarchive", "ansible.legacy.unarchive"],
    doc: include_str!("unarchive.rs"),
    free_form: None,
    build: crate::registry::build::<UnarchiveArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnarchiveArgs {
    /// The archive: a controller file, or with `remote_src` a host path or a URL.
    pub src: String,
    /// The existing directory to unpack into.
    pub dest: String,
    /// `src` is on the host (or a URL the host downloads), not on the controller.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub remote_src: bool,
    /// Old spelling of `remote_src: false` (`copy: false` means the archive is remote).
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub copy: Option<bool>,
    /// Skip everything when this path exists on the host.
    #[serde(default)]
    pub creates: Option<String>,
    /// Return the archive's entries as `files`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub list_files: bool,
    /// Do not replace files in `dest` that are newer than the archive's.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub keep_newer: bool,
    /// Entries to leave out (shell patterns).
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub exclude: Vec<String>,
    /// The only entries to extract.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub include: Vec<String>,
    /// More options for `tar` or `unzip` (`--strip-components=1`).
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub extra_opts: Vec<String>,
    /// Check the TLS certificate when `src` is an HTTPS URL.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub validate_certs: bool,
    /// Accepted for compatibility; the host's tools choose their buffers.
    #[serde(default)]
    pub io_buffer_size: Option<Value>,
    /// Accepted for compatibility; vaulted archives are decrypted by the engine.
    #[serde(default)]
    pub decrypt: Option<Value>,
    /// Mode of every extracted path, octal or symbolic (`u=rwX,g=rX,o=rX`).
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<file_mode::Mode>,
    /// Owner of every extracted path.
    #[serde(default)]
    pub owner: Option<String>,
    /// Group of every extracted path.
    #[serde(default)]
    pub group: Option<String>,
}

fn yes() -> bool {
    true
}

impl Args for UnarchiveArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if !self.include.is_empty() && !self.exclude.is_empty() {
            return Err(ArgError::new(
                "parameters are mutually exclusive: include|exclude",
            ));
        }
        Ok(())
    }
}

/// The archive kinds, by Ansible's handler names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Kind {
    fn handler(self) -> &'static str {
        match self {
            Kind::Zip => "ZipArchive",
            Kind::Tar => "TarArchive",
            Kind::Gzip => "TgzArchive",
            Kind::Bzip2 => "TarBzipArchive",
            Kind::Xz => "TarXzArchive",
            Kind::Zstd => "TarZstdArchive",
        }
    }

    /// The `tar` option that picks the decompressor.
    fn tar_flag(self) -> Option<&'static str> {
        match self {
            Kind::Gzip => Some("-z"),
            Kind::Bzip2 => Some("-j"),
            Kind::Xz => Some("-J"),
            Kind::Zstd => Some("--use-compress-program=zstd"),
            Kind::Tar | Kind::Zip => None,
        }
    }

    /// From the archive's first bytes.
    fn from_magic(head: &[u8]) -> Option<Kind> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Kind::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Kind::Gzip)
        } else if head.starts_with(b"BZh") {
            Some(Kind::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Kind::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Kind::Zstd)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(Kind::Tar)
        } else {
            None
        }
    }

    /// From a URL's name, for archives the host downloads itself.
    fn from_name(name: &str) -> Option<Kind> {
        let name = name
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".zip"]) {
            Some(Kind::Zip)
        } else if ends(&[".tar.gz", ".tgz"]) {
            Some(Kind::Gzip)
        } else if ends(&[".tar.bz2", ".tbz2", ".tbz"]) {
            Some(Kind::Bzip2)
        } else if ends(&[".tar.xz", ".txz"]) {
            Some(Kind::Xz)
        } else if ends(&[".tar.zst", ".tzst"]) {
            Some(Kind::Zstd)
        } else if ends(&[".tar"]) {
            Some(Kind::Tar)
        } else {
            None
        }
    }
}

/// Runs `check`, `extract` or `attributes` against the archive. Arguments: action, src
/// (`-` for standard input, a URL, or a host path), dest, `1` to check TLS certificates,
/// then the list, diff and extract commands (one word per line, `@ARCHIVE@` standing for
/// the archive's path), the mode and the `owner:group` to give every extracted path.
const SCRIPT: &str = r#"
action=$1 src=$2 dest=$3 validate=$4 list_command=$5 diff_command=$6 extract_command=$7
mode=$8 owner=$9
nl='
'
tmp=
trap '[ -n "$tmp" ] && rm -f "$tmp"' EXIT
mark() { printf '\n@@rplay@@ %s\n' "$1"; }
case $src in
-|*://*)
  tmp=$(mktemp "${TMPDIR:-/tmp}/rplay-unarchive.XXXXXXXXXX") || exit 1
  if [ "$src" = - ]; then
    cat > "$tmp" || exit 1
  elif command -v curl >/dev/null 2>&1; then
    insecure=; [ "$validate" = 1 ] || insecure=--insecure
    curl --silent --show-error --location --fail $insecure -o "$tmp" -- "$src" || exit 1
  elif command -v wget >/dev/null 2>&1; then
    insecure=; [ "$validate" = 1 ] || insecure=--no-check-certificate
    wget --quiet $insecure -O "$tmp" -- "$src" || exit 1
  else
    echo "downloading $src needs curl or wget on the host" >&2; exit 1
  fi
  archive=$tmp ;;
*) archive=$src ;;
esac
if [ ! -s "$archive" ]; then
  echo "Invalid archive '$src', the file is 0 bytes" >&2; exit 1
fi
run_words() {
  set -f; saved=$IFS; IFS=$nl; set -- $1; IFS=$saved; set +f
  for word do
    shift
    [ "$word" = @ARCHIVE@ ] && word=$archive
    set -- "$@" "$word"
  done
  LC_ALL=C "$@"
}
entries() {
  ( cd "$dest" && run_words "$list_command" 2>/dev/null ) \
    | awk -F/ '{ sub(/^\/+/, ""); sub(/\/$/, ""); if ($0 != "") print; if (NF > 1) print $1 }' \
    | sort -u
}
attributes() {
  if [ -n "$owner" ]; then
    entries | ( cd "$dest" && tr '\n' '\0' | xargs -0 -r chown -h "$owner" -- ) || exit 1
  fi
  if [ -n "$mode" ]; then
    entries | ( cd "$dest" && while IFS= read -r entry; do
      [ -L "$entry" ] || printf '%s\0' "$entry"
    done | xargs -0 -r chmod "$mode" -- ) || exit 1
  fi
}
case $action in
check)
  mark uid; id -u
  mark tar; tar --version 2>/dev/null | head -n 1
  mark list; ( cd "$dest" && run_words "$list_command" 2>/dev/null ); rc=$?
  mark list-rc; echo "$rc"
  if [ "$rc" != 0 ]; then
    mark list-error; ( cd "$dest" && run_words "$list_command" 2>&1 >/dev/null )
  fi
  if [ -n "$diff_command" ]; then mark diff; ( cd "$dest" && run_words "$diff_command" ) 2>&1; fi
  mark stat
  entries | ( cd "$dest" && tr '\n' '\0' | xargs -0 -r stat -c '%s|%a|%U|%G|%u|%g|%F|%n' -- ) 2>/dev/null
  mark end ;;
extract)
  ( cd "$dest" && run_words "$extract_command" ) || exit $?
  attributes ;;
attributes)
  attributes ;;
esac
exit 0
"#;

/// Ansible's `tar --diff` lines that mean the archive is not unpacked yet.
const DIFFERS: &[&str] = &[
    ": Mod time differs",
    ": Warning: Cannot stat: No such file or directory",
    ": Invalid owner",
    ": Invalid group",
    ": Symlink differs",
    ": Contents differ",
    ": Size differs",
];

/// `tar --list` writes unusual characters as C escapes; Ansible decodes them.
fn unescape(name: &str) -> String {
    let mut out = Vec::new();
    let bytes = name.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' && index + 1 < bytes.len() {
            let next = bytes[index + 1];
            let simple = match next {
                b'\\' => Some(b'\\'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                b'"' => Some(b'"'),
                b'\'' => Some(b'\''),
                _ => None,
            };
            if let Some(byte) = simple {
                out.push(byte);
                index += 2;
                continue;
            }
            let digits: Vec<u8> = bytes[index + 1..]
                .iter()
                .take(3)
                .take_while(|b| (b'0'..=b'7').contains(b))
                .copied()
                .collect();
            if !digits.is_empty() {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                index += 1 + digits.len();
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `check` action's output, by section.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for chunk in format!("\n{text}").split("\n@@rplay@@ ").skip(1) {
        let (name, content) = chunk.split_once('\n').unwrap_or((chunk, ""));
        map.insert(name.trim().to_string(), content.to_string());
    }
    map
}

/// One `stat -c '%s|%a|%U|%G|%u|%g|%F|%n'` line.
fn parse_stat(line: &str) -> Option<(String, PathState)> {
    let fields: Vec<&str> = line.splitn(8, '|').collect();
    if fields.len() != 8 {
        return None;
    }
    let kind = match fields[6] {
        "regular file" | "regular empty file" => "file",
        "directory" => "directory",
        "symbolic link" => "link",
        other => other,
    };
    Some((
        fields[7].to_string(),
        PathState {
            exists: true,
            kind: kind.to_string(),
            size: fields[0].parse().ok()?,
            mode: u32::from_str_radix(fields[1], 8).ok()?,
            owner: fields[2].to_string(),
            group: fields[3].to_string(),
            uid: fields[4].parse().ok()?,
            gid: fields[5].parse().ok()?,
            ..PathState::default()
        },
    ))
}

/// Entry sizes from `unzip -l`: lines of length, date, time and name between two rulers.
fn zip_sizes(listing: &str) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    let mut inside = false;
    for line in listing.lines() {
        if line.trim_start().starts_with("---------") {
            if inside {
                break;
            }
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let mut rest = line.trim_start();
        let mut fields = Vec::new();
        for _ in 0..3 {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
        if let Ok(size) = fields[0].parse::<u64>() {
            sizes.insert(rest.trim_end_matches('/').to_string(), size);
        }
    }
    sizes
}

impl UnarchiveArgs {
    fn remote(&self) -> bool {
        self.remote_src || self.copy == Some(false)
    }

    fn owner_spec(&self) -> String {
        match (&self.owner, &self.group) {
            (None, None) => String::new(),
            (Some(owner), None) => owner.clone(),
            (None, Some(group)) => format!(":{group}"),
            (Some(owner), Some(group)) => format!("{owner}:{group}"),
        }
    }

    fn mode_text(&self) -> String {
        match &self.mode {
            Some(file_mode::Mode::Octal(mode)) => format!("{mode:o}"),
            Some(file_mode::Mode::Symbolic(spec)) => spec.clone(),
            Some(file_mode::Mode::Preserve) | None => String::new(),
        }
    }

    /// The list, diff and extract commands, as Ansible's handlers build them.
    fn commands(&self, kind: Kind) -> (Vec<String>, Vec<String>, Vec<String>) {
        let archive = "@ARCHIVE@".to_string();
        let excludes: Vec<String> = self
            .exclude
            .iter()
            .map(|e| e.trim_end_matches('/').to_string())
            .collect();
        if kind == Kind::Zip {
            let mut list = vec!["unzip".to_string(), "-Z1".to_string(), archive.clone()];
            list.extend(self.include.iter().cloned());
            if !excludes.is_empty() {
                list.push("-x".to_string());
                list.extend(excludes.iter().cloned());
            }
            let diff = vec!["unzip".to_string(), "-l".to_string(), archive.clone()];
            let mut extract = vec!["unzip".to_string(), "-o".to_string()];
            extract.extend(self.extra_opts.iter().cloned());
            extract.push(archive);
            extract.extend(self.include.iter().cloned());
            if !excludes.is_empty() {
                extract.push("-x".to_string());
                extract.extend(excludes);
            }
            extract.extend(["-d".to_string(), ".".to_string()]);
            return (list, diff, extract);
        }
        let build = |operation: &str, with_attributes: bool| {
            let mut argv = vec![
                "tar".to_string(),
                operation.to_string(),
                "-C".to_string(),
                ".".to_string(),
            ];
            if let Some(flag) = kind.tar_flag() {
                argv.push(flag.to_string());
            }
            if !self.extra_opts.is_empty() {
                argv.push("--show-transformed-names".to_string());
                argv.extend(self.extra_opts.iter().cloned());
            }
            if with_attributes {
                if let Some(owner) = &self.owner {
                    argv.push(format!("--owner={owner}"));
                }
                if let Some(group) = &self.group {
                    argv.push(format!("--group={group}"));
                }
                if self.keep_newer {
                    argv.push("--keep-newer-files".to_string());
                }
            }
            argv.extend(excludes.iter().map(|e| format!("--exclude={e}")));
            argv.extend(["-f".to_string(), archive.clone()]);
            argv.extend(self.include.iter().cloned());
            argv
        };
        (
            build("--list", false),
            build("--diff", true),
            build("--extract", true),
        )
    }

    fn exec(&self, action: &str, kind: Kind, content: Option<&[u8]>) -> Exec {
        let (list, diff, extract) = self.commands(kind);
        let exec = Exec::new([
            "sh".to_string(),
            "-c".to_string(),
            SCRIPT.to_string(),
            "rplay-unarchive".to_string(),
            action.to_string(),
            if content.is_some() {
                "-".to_string()
            } else {
                self.src.clone()
            },
            self.dest.clone(),
            if self.validate_certs { "1" } else { "0" }.to_string(),
            list.join("\n"),
            diff.join("\n"),
            extract.join("\n"),
            self.mode_text(),
            self.owner_spec(),
        ]);
        match content {
            Some(bytes) => exec.stdin(bytes.to_vec()),
            None => exec,
        }
    }

    /// Whether the archive's entries are in `dest` already, from the `check` output.
    fn unpacked(
        &self,
        kind: Kind,
        found: &BTreeMap<String, String>,
        entries: &[String],
        stats: &BTreeMap<String, PathState>,
    ) -> bool {
        let gnu_tar = found.get("tar").is_some_and(|v| v.contains("GNU"));
        if kind != Kind::Zip && gnu_tar {
            let root = found.get("uid").map(|u| u.trim() == "0").unwrap_or(false);
            return !found
                .get("diff")
                .map(String::as_str)
                .unwrap_or_default()
                .lines()
                .any(|line| {
                    if line.ends_with(": : Warning: Cannot stat: No such file or directory") {
                        return false;
                    }
                    (root && self.owner.is_none() && line.ends_with(": Uid differs"))
                        || (root && self.group.is_none() && line.ends_with(": Gid differs"))
                        || (self.mode.is_none() && line.ends_with(": Mode differs"))
                        || DIFFERS.iter().any(|d| line.contains(d))
                });
        }
        let sizes = if kind == Kind::Zip {
            zip_sizes(found.get("diff").map(String::as_str).unwrap_or_default())
        } else {
            BTreeMap::new()
        };
        entries.iter().all(|entry| match stats.get(entry) {
            None => false,
            Some(state) => match sizes.get(entry) {
                Some(size) if state.kind == "file" => state.size == *size,
                _ => true,
            },
        })
    }
}

impl Module for UnarchiveArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            if let Some(creates) = &self.creates {
                if path_state(host.transport, creates, true).await?.exists {
                    return Ok(Plan::ok(format!("skipped, since {creates} exists"))
                        .with("dest", self.dest.clone())
                        .with("src", self.src.clone()));
                }
            }
            let destination = path_state(host.transport, &self.dest, true).await?;
            if !destination.is_dir() {
                return Err(ModuleError::failed(format!(
                    "Destination '{}' is not a directory",
                    self.dest
                )));
            }
            let content = if self.remote() {
                None
            } else {
                Some(host.controller.read_file(&self.src).map_err(|e| {
                    ModuleError::failed(format!("Source '{}' failed to transfer: {e}", self.src))
                })?)
            };
            let kind = match &content {
                Some(bytes) => Kind::from_magic(bytes),
                None if self.src.contains("://") => Kind::from_name(&self.src),
                None => {
                    let output = host
                        .transport
                        .run(&Exec::new(["head", "-c", "512", "--", &self.src]))
                        .await?;
                    if !output.success() {
                        return Err(ModuleError::failed(format!(
                            "Source '{}' does not exist",
                            self.src
                        )));
                    }
                    Kind::from_magic(&output.stdout)
                }
            }
            .ok_or_else(|| {
                ModuleError::failed(format!(
                    "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.",
                    self.src
                ))
            })?;

            let output = host
                .transport
                .run(&self.exec("check", kind, content.as_deref()))
                .await?;
            if !output.success() {
                return Err(ModuleError::failed(output.stderr_text().trim().to_string()));
            }
            let found = sections(&output.stdout_text());
            if found.get("list-rc").map(|rc| rc.trim()) != Some("0") {
                return Err(ModuleError::failed(format!(
                    "Failed to find handler for \"{}\": unable to list files in the archive: {}",
                    self.src,
                    found
                        .get("list-error")
                        .map(|l| l.trim())
                        .unwrap_or_default()
                )));
            }
            let entries: Vec<String> = found
                .get("list")
                .map(String::as_str)
                .unwrap_or_default()
                .lines()
                .map(|line| {
                    let name = if kind == Kind::Zip {
                        line.to_string()
                    } else {
                        unescape(line)
                    };
                    name.trim_start_matches('/').to_string()
                })
                .filter(|name| !name.is_empty())
                .filter(|name| {
                    !self.exclude.iter().any(|pattern| {
                        crate::facts::glob_match(pattern.trim_end_matches('/'), name)
                    })
                })
                .collect();
            let stats: BTreeMap<String, PathState> = found
                .get("stat")
                .map(String::as_str)
                .unwrap_or_default()
                .lines()
                .filter_map(parse_stat)
                .collect();
            let compared: Vec<String> = entries
                .iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect();
            let unpacked = self.unpacked(kind, &found, &compared, &stats);

            let wanted = Wanted {
                mode: self.mode.as_ref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
            };
            let mut attributes_differ = false;
            if self.mode.is_some() || self.owner.is_some() || self.group.is_some() {
                for (path, state) in &stats {
                    let link = state.kind == "link";
                    if !attribute_change(path, state, &wanted, link)?.is_empty() {
                        attributes_differ = true;
                        break;
                    }
                }
            }

            let mut plan = if !unpacked {
                Plan::change(
                    format!("unpack {} into {}", self.src, self.dest),
                    vec![Step::run(self.exec("extract", kind, content.as_deref()))],
                )
            } else if attributes_differ {
                Plan::change(
                    format!(
                        "set the mode and owner of the files unpacked in {}",
                        self.dest
                    ),
                    vec![Step::run(self.exec("attributes", kind, None))],
                )
            } else {
                Plan::ok(format!("{} is already unpacked in {}", self.src, self.dest))
            };
            plan = PathFacts::of(&destination)
                .add_to(plan)
                .with("dest", self.dest.clone())
                .with("src", self.src.clone())
                .with("handler", kind.handler());
            if self.list_files {
                plan = plan.with("files", entries);
            }
            Ok(plan)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::json;
    use std::process::Command;

    /// Builds `name` in the controller directory from a tree of files, with `tar` or `zip`.
    fn build_archive(fixture: &Fixture, name: &str, tool: &[&str]) -> Vec<u8> {
        let tree = fixture.path("tree");
        std::fs::create_dir_all(format!("{tree}/app/bin")).unwrap();
        std::fs::write(format!("{tree}/app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
        std::fs::write(format!("{tree}/app/README"), "hello\n").unwrap();
        std::os::unix::fs::symlink("bin/run", format!("{tree}/app/start")).unwrap();
        let archive = fixture.controller.root.join(name);
        let mut command = Command::new(tool[0]);
        command
            .args(&tool[1..])
            .arg(&archive)
            .arg("app")
            .current_dir(&tree);
        let status = command.status().expect("the archiver runs");
        assert!(status.success(), "{tool:?} failed");
        std::fs::remove_dir_all(&tree).unwrap();
        std::fs::read(archive).unwrap()
    }

    #[test]
    fn recognises_archives() {
        assert_eq!(Kind::from_magic(b"\x1f\x8b\x08\x00"), Some(Kind::Gzip));
        assert_eq!(Kind::from_magic(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(Kind::from_magic(b"BZh91AY"), Some(Kind::Bzip2));
        assert_eq!(Kind::from_magic(b"plain text"), None);
        assert_eq!(Kind::from_name("https://x/a.tar.xz?sig=1"), Some(Kind::Xz));
        assert_eq!(Kind::from_name("/a/b.tgz"), Some(Kind::Gzip));
        assert_eq!(unescape("a\\\\b\\040c\\nd"), "a\\b c\nd");
        assert_eq!(
            zip_sizes("Archive: x.zip\n  Length      Date    Time    Name\n---------  ---------- -----   ----\n        6  2024-01-01 12:00   app/README\n        0  2024-01-01 12:00   app/\n---------                     -------\n"),
            [("app/README".to_string(), 6), ("app".to_string(), 0)].into_iter().collect()
        );
    }

    #[tokio::test]
    async fn unpacks_a_tar_gz_from_the_controller_once() {
        let fixture = Fixture::new();
        build_archive(&fixture, "app.tar.gz", &["tar", "-czf"]);
        let dest = fixture.path("dest");
        std::fs::create_dir(&dest).unwrap();
        let args = json!({ "src": "app.tar.gz", "dest": dest, "list_files": true });
        let first = fixture
            .converge("ansible.builtin.unarchive", args.clone())
            .await;
        assert_eq!(first.result["handler"], json!("TgzArchive"));
        let files = first.result["files"].as_array().unwrap();
        assert!(files.contains(&json!("app/bin/run")), "{files:?}");
        assert_eq!(fixture.read("dest/app/README"), b"hello\n");
        assert_eq!(
            std::fs::read_link(fixture.path("dest/app/start"))
                .unwrap()
                .to_str(),
            Some("bin/run")
        );
        // A changed file is put back.
        std::fs::write(fixture.path("dest/app/README"), "edited\n").unwrap();
        let plan = fixture.plan("unarchive", args.clone()).await.unwrap();
        assert_eq!(plan.steps.len(), 1, "contents differ: {plan:?}");
        fixture.apply(&plan).await;
        assert_eq!(fixture.read("dest/app/README"), b"hello\n");
    }

    #[tokio::test]
    async fn leaves_no_copy_of_the_archive_behind() {
        let fixture = Fixture::new();
        let bytes = build_archive(&fixture, "app.tgz", &["tar", "-czf"]);
        let dest = fixture.path("dest");
        std::fs::create_dir(&dest).unwrap();
        let scratch = fixture.path("tmp");
        std::fs::create_dir(&scratch).unwrap();
        let args: UnarchiveArgs =
            crate::args::parse(json!({ "src": "app.tgz", "dest": dest })).unwrap();
        for action in ["check", "extract"] {
            let mut exec = args.exec(action, Kind::Gzip, Some(&bytes));
            exec.env.push(("TMPDIR".to_string(), scratch.clone()));
            let output = crate::Transport::run(&fixture.transport, &exec)
                .await
                .unwrap();
            assert!(output.success(), "{action}: {}", output.stderr_text());
            let left = std::fs::read_dir(&scratch).unwrap().count();
            assert_eq!(left, 0, "{action} left its copy of the archive");
        }
        assert_eq!(fixture.read("dest/app/README"), b"hello\n");
    }

    #[tokio::test]
    async fn unpacks_a_remote_zip_and_sets_the_mode() {
        let fixture = Fixture::new();
        build_archive(&fixture, "app.zip", &["zip", "-q", "-r", "--symlinks"]);
        let src = fixture.controller.root.join("app.zip");
        let dest = fixture.path("dest");
        std::fs::create_dir(&dest).unwrap();
        let args = json!({
            "src": src.to_str().unwrap(), "remote_src": true, "dest": dest, "mode": "u=rwX,g=rX,o=",
        });
        let first = fixture.converge("unarchive", args).await;
        assert_eq!(first.result["handler"], json!("ZipArchive"));
        assert_eq!(fixture.read("dest/app/bin/run"), b"#!/bin/sh\necho run\n");
        assert_eq!(fixture.mode("dest/app/README"), 0o640);
        assert_eq!(fixture.mode("dest/app/bin"), 0o750);
    }

    #[tokio::test]
    async fn honours_creates_exclude_and_strip_components() {
        let fixture = Fixture::new();
        build_archive(&fixture, "app.tar.xz", &["tar", "-cJf"]);
        let dest = fixture.path("dest");
        std::fs::create_dir(&dest).unwrap();
        let args = json!({
            "src": "app.tar.xz", "dest": dest,
            "extra_opts": ["--strip-components=1"], "exclude": ["README"],
            "creates": format!("{dest}/bin/run"),
        });
        let first = fixture.converge("unarchive", args.clone()).await;
        assert_eq!(first.result["handler"], json!("TarXzArchive"));
        assert!(std::path::Path::new(&format!("{dest}/bin/run")).exists());
        assert!(!std::path::Path::new(&format!("{dest}/README")).exists());
        // Without `creates`, the comparison itself finds nothing to do.
        let mut compared = args;
        compared.as_object_mut().unwrap().remove("creates");
        let plan = fixture.plan("unarchive", compared).await.unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        let missing = fixture
            .plan(
                "unarchive",
                json!({ "src": "app.tar.xz", "dest": fixture.path("nowhere") }),
            )
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("is not a directory"),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn rejects_what_is_not_an_archive() {
        let fixture = Fixture::new();
        std::fs::write(fixture.controller.root.join("notes.txt"), "just text").unwrap();
        let error = fixture
            .plan(
                "unarchive",
                json!({ "src": "notes.txt", "dest": fixture.path("") }),
            )
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("Failed to find handler"),
            "{error}"
        );
    }
}
