//! `stat`: reports what a path is (kind, mode, owner, size, times, checksum, MIME type);
//! never changes anything.
//!
//! Everything comes from one small script on the host (`stat`, `test -r/-w/-x`,
//! `readlink`, `sha1sum` and friends, `file`, `lsattr`), so the task costs one round trip.
//! The result has Ansible's `stat` dictionary, key for key.
//!
//! ```yaml
//! - name: Is the node already part of a cluster?
//!   stat:
//!     path: /etc/kubernetes/kubelet.conf
//!   register: kubelet_conf
//! ```

use crate::args::{ansible_bool, Args};
use crate::plan::Plan;
use crate::registry::ModuleSpec;
use crate::transport::{Exec, Transport};
use crate::{Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "stat",
    aliases: &["ansible.builtin.stat", "ansible.legacy.stat"],
    doc: include_str!("stat.rs"),
    free_form: None,
    build: crate::registry::build::<StatArgs>,
};

/// A digest the host can compute with its `<name>sum` command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    Md5,
    #[default]
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumAlgorithm {
    /// The coreutils command that computes it.
    pub fn command(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Md5 => "md5sum",
            ChecksumAlgorithm::Sha1 => "sha1sum",
            ChecksumAlgorithm::Sha224 => "sha224sum",
            ChecksumAlgorithm::Sha256 => "sha256sum",
            ChecksumAlgorithm::Sha384 => "sha384sum",
            ChecksumAlgorithm::Sha512 => "sha512sum",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatArgs {
    /// The path to look at.
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    /// Report on what a symlink points to rather than the link.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub follow: bool,
    /// Add the checksum of a readable regular file.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub get_checksum: bool,
    /// The checksum's algorithm: md5, sha1, sha224, sha256, sha384 or sha512.
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    pub checksum_algorithm: ChecksumAlgorithm,
    /// Add `mimetype` and `charset` from `file`, when the host has it.
    #[serde(
        default = "yes",
        alias = "mime",
        alias = "mime_type",
        alias = "mime-type",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub get_mime: bool,
    /// Add `attributes`, `attr_flags` and `version` from `lsattr`, when the host has it.
    #[serde(
        default = "yes",
        alias = "attr",
        alias = "attributes",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub get_attributes: bool,
}

fn yes() -> bool {
    true
}

impl Args for StatArgs {}

/// Prints NUL-terminated `key=value` records about one path; exits 66 when it is absent.
const STAT_SCRIPT: &str = r#"path=$1; follow=$2; algo=$3; mime=$4; attrs=$5
if [ "$follow" = 1 ]; then
  [ -e "$path" ] || exit 66
  flag=-L
else
  [ -e "$path" ] || [ -h "$path" ] || exit 66
  flag=
fi
out=$(stat $flag -c '%f|%u|%g|%U|%G|%s|%i|%d|%h|%.9X|%.9Y|%.9Z|%b|%o|%t|%T' -- "$path") || exit 1
printf 'stat=%s\0' "$out"
r=0; w=0; x=0
[ -r "$path" ] && r=1
[ -w "$path" ] && w=1
[ -x "$path" ] && x=1
printf 'access=%s%s%s\0' "$r" "$w" "$x"
if [ "$follow" != 1 ] && [ -h "$path" ]; then
  printf 'lnk_source=%s\0' "$(readlink -m -- "$path")"
  printf 'lnk_target=%s\0' "$(readlink -- "$path")"
fi
if [ -n "$algo" ] && [ -f "$path" ] && [ -r "$path" ] && { [ "$follow" = 1 ] || [ ! -h "$path" ]; }; then
  sum=$("$algo" < "$path") && printf 'checksum=%s\0' "${sum%% *}"
fi
if [ "$mime" = 1 ] && command -v file >/dev/null 2>&1; then
  printf 'mime=%s\0' "$(file -b --mime-type --mime-encoding -- "$path" 2>/dev/null)"
fi
if [ "$attrs" = 1 ] && command -v lsattr >/dev/null 2>&1; then
  out=$(lsattr -vd -- "$path" 2>/dev/null) && printf 'attr=%s\0' "$out"
fi
exit 0
"#;

/// `lsattr` flags and the names Ansible gives them.
const FILE_ATTRIBUTES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

impl Module for StatArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let path = &self.path;
            let flag = |on: bool| if on { "1" } else { "0" };
            let algorithm = if self.get_checksum {
                self.checksum_algorithm.command()
            } else {
                ""
            };
            let output = host
                .transport
                .run(&Exec::new([
                    "sh",
                    "-c",
                    STAT_SCRIPT,
                    "rplay-stat",
                    path,
                    flag(self.follow),
                    algorithm,
                    flag(self.get_mime),
                    flag(self.get_attributes),
                ]))
                .await?;
            if output.rc == 66 {
                return Ok(Plan::ok(format!("{path} does not exist"))
                    .with("stat", json!({"exists": false})));
            }
            if !output.success() {
                return Err(ModuleError::failed(output.stderr_text().trim().to_string()));
            }
            let stat = parse_stat(path, &output.stdout, self).ok_or_else(|| {
                ModuleError::failed(format!(
                    "stat {path}: unexpected output `{}`",
                    output.stdout_text()
                ))
            })?;
            Ok(Plan::ok(format!("{path} exists")).with("stat", Value::Object(stat)))
        })
    }
}

fn parse_stat(path: &str, stdout: &[u8], args: &StatArgs) -> Option<Map<String, Value>> {
    let mut records = std::collections::HashMap::new();
    for record in stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let (key, value) = record.split_once('=')?;
        records.insert(key.to_string(), value.to_string());
    }
    let fields: Vec<&str> = records.get("stat")?.split('|').collect();
    let [raw_mode, uid, gid, user, group, size, inode, dev, nlink, atime, mtime, ctime, blocks, block_size, major, minor] =
        fields[..]
    else {
        return None;
    };
    let raw_mode = u32::from_str_radix(raw_mode, 16).ok()?;
    let kind = raw_mode & 0o170000;
    let number = |s: &str| s.parse::<u64>().ok();
    let time = |s: &str| s.replace(',', ".").parse::<f64>().ok();
    let bit = |mask: u32| raw_mode & mask != 0;
    let mut out = Map::new();
    out.insert("exists".into(), json!(true));
    out.insert("path".into(), json!(path));
    out.insert("mode".into(), json!(format!("{:04o}", raw_mode & 0o7777)));
    out.insert("isdir".into(), json!(kind == 0o040000));
    out.insert("ischr".into(), json!(kind == 0o020000));
    out.insert("isblk".into(), json!(kind == 0o060000));
    out.insert("isreg".into(), json!(kind == 0o100000));
    out.insert("isfifo".into(), json!(kind == 0o010000));
    out.insert("islnk".into(), json!(kind == 0o120000));
    out.insert("issock".into(), json!(kind == 0o140000));
    out.insert("uid".into(), json!(number(uid)?));
    out.insert("gid".into(), json!(number(gid)?));
    out.insert("size".into(), json!(number(size)?));
    out.insert("inode".into(), json!(number(inode)?));
    out.insert("dev".into(), json!(number(dev)?));
    out.insert("nlink".into(), json!(number(nlink)?));
    out.insert("atime".into(), json!(time(atime)?));
    out.insert("mtime".into(), json!(time(mtime)?));
    out.insert("ctime".into(), json!(time(ctime)?));
    for (key, mask) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        out.insert(key.into(), json!(bit(mask)));
    }
    out.insert("blocks".into(), json!(number(blocks)?));
    out.insert("block_size".into(), json!(number(block_size)?));
    out.insert(
        "device_type".into(),
        json!(device_number(
            u64::from_str_radix(major, 16).ok()?,
            u64::from_str_radix(minor, 16).ok()?
        )),
    );
    let access = records.get("access")?.as_bytes();
    out.insert("readable".into(), json!(access.first() == Some(&b'1')));
    out.insert("writeable".into(), json!(access.get(1) == Some(&b'1')));
    out.insert("executable".into(), json!(access.get(2) == Some(&b'1')));
    for key in ["lnk_source", "lnk_target", "checksum"] {
        if let Some(value) = records.get(key) {
            out.insert(key.into(), json!(value));
        }
    }
    // `stat` prints UNKNOWN for ids without a name; Ansible then leaves the key out.
    if user != "UNKNOWN" {
        out.insert("pw_name".into(), json!(user));
    }
    if group != "UNKNOWN" {
        out.insert("gr_name".into(), json!(group));
    }
    if args.get_mime {
        let (mimetype, charset) = records
            .get("mime")
            .and_then(|mime| mime.split_once(';'))
            .and_then(|(mimetype, charset)| {
                Some((
                    mimetype.trim().to_string(),
                    charset.split_once('=')?.1.trim().to_string(),
                ))
            })
            .unwrap_or_else(|| ("unknown".to_string(), "unknown".to_string()));
        out.insert("mimetype".into(), json!(mimetype));
        out.insert("charset".into(), json!(charset));
    }
    if args.get_attributes {
        let mut version = Value::Null;
        let mut flags = String::new();
        if let Some(attr) = records.get("attr") {
            let mut words = attr.split_whitespace();
            version = words.next().map_or(Value::Null, |v| json!(v));
            flags = words.next().unwrap_or_default().replace('-', "");
        }
        let names: Vec<&str> = flags
            .chars()
            .filter_map(|flag| {
                FILE_ATTRIBUTES
                    .iter()
                    .find(|(c, _)| *c == flag)
                    .map(|(_, name)| *name)
            })
            .collect();
        out.insert("version".into(), version);
        out.insert("attributes".into(), json!(names));
        out.insert("attr_flags".into(), json!(flags));
    }
    Some(out)
}

/// glibc's `makedev`: the `st_rdev` Python reports, from the major and minor numbers.
fn device_number(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// Checksums of files on the host, in order, with one command; `None` for a path that is
/// not a readable regular file.
pub(crate) async fn file_checksums(
    transport: &dyn Transport,
    algorithm: ChecksumAlgorithm,
    paths: &[String],
) -> Result<Vec<Option<String>>, ModuleError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let script = r#"algo=$1; shift
for f do
  if [ -f "$f" ] && [ -r "$f" ] && sum=$("$algo" < "$f"); then echo "${sum%% *}"; else echo -; fi
done
"#;
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rplay-checksum".to_string(),
        algorithm.command().to_string(),
    ];
    argv.extend(paths.iter().cloned());
    let output = transport.run(&Exec::new(argv)).await?;
    let text = output.stdout_text();
    let sums: Vec<Option<String>> = text
        .lines()
        .map(|line| (line != "-").then(|| line.to_string()))
        .collect();
    if !output.success() || sums.len() != paths.len() {
        return Err(ModuleError::failed(format!(
            "computing checksums: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use serde_json::json;

    #[tokio::test]
    async fn reports_a_file() {
        let fx = Fixture::new();
        let path = fx.write("f", b"hello\n", 0o640);
        let plan = fx.plan("stat", json!({"path": path})).await.unwrap();
        assert!(plan.steps.is_empty(), "stat never changes anything");
        let stat = &plan.result["stat"];
        assert_eq!(stat["exists"], true);
        assert_eq!(stat["isreg"], true);
        assert_eq!(stat["isdir"], false);
        assert_eq!(stat["mode"], "0640");
        assert_eq!(stat["size"], 6);
        assert_eq!(stat["rgrp"], true);
        assert_eq!(stat["woth"], false);
        assert_eq!(stat["readable"], true);
        assert_eq!(stat["executable"], false);
        assert_eq!(stat["path"], path.as_str());
        // sha1 of "hello\n".
        assert_eq!(stat["checksum"], "f572d396fae9206628714fb2ce00f72e94f2258f");
        let metadata = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(stat["inode"], metadata.ino());
        assert_eq!(stat["uid"], metadata.uid());
        assert_eq!(stat["dev"], metadata.dev());
        assert_eq!(
            stat["mtime"].as_f64().unwrap().floor() as i64,
            metadata.mtime()
        );
    }

    #[tokio::test]
    async fn other_checksum_algorithms() {
        let fx = Fixture::new();
        let path = fx.write("f", b"hello\n", 0o644);
        let plan = fx
            .plan("stat", json!({"path": path, "checksum_algorithm": "md5"}))
            .await
            .unwrap();
        assert_eq!(
            plan.result["stat"]["checksum"],
            "b1946ac92492d2347c6235b4d2611184"
        );
        let plan = fx
            .plan(
                "stat",
                json!({"path": path, "checksum_algorithm": "sha256", "get_mime": false}),
            )
            .await
            .unwrap();
        assert_eq!(
            plan.result["stat"]["checksum"],
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert!(plan.result["stat"].get("mimetype").is_none());
    }

    #[tokio::test]
    async fn symlinks_with_and_without_follow() {
        let fx = Fixture::new();
        fx.write("target", b"x", 0o600);
        std::os::unix::fs::symlink("target", fx.path("link")).unwrap();
        let plan = fx
            .plan("stat", json!({"path": fx.path("link")}))
            .await
            .unwrap();
        let stat = &plan.result["stat"];
        assert_eq!(stat["islnk"], true);
        assert_eq!(stat["lnk_target"], "target");
        assert_eq!(stat["lnk_source"], fx.path("target").as_str());
        assert!(stat.get("checksum").is_none(), "a link has no checksum");
        let plan = fx
            .plan("stat", json!({"path": fx.path("link"), "follow": true}))
            .await
            .unwrap();
        let stat = &plan.result["stat"];
        assert_eq!(stat["islnk"], false);
        assert_eq!(stat["isreg"], true);
        assert_eq!(stat["mode"], "0600");
        assert!(stat.get("lnk_source").is_none());
    }

    #[tokio::test]
    async fn a_missing_path_only_says_so() {
        let fx = Fixture::new();
        let plan = fx
            .plan("stat", json!({"path": fx.path("none")}))
            .await
            .unwrap();
        assert_eq!(plan.result["stat"], json!({"exists": false}));
        assert!(!plan.is_change());
    }

    #[tokio::test]
    async fn a_directory() {
        let fx = Fixture::new();
        let plan = fx
            .plan(
                "stat",
                json!({"path": fx.path("controller"), "get_checksum": true}),
            )
            .await
            .unwrap();
        let stat = &plan.result["stat"];
        assert_eq!(stat["isdir"], true);
        assert_eq!(stat["executable"], true);
        assert!(stat.get("checksum").is_none());
    }

    #[test]
    fn device_numbers_like_glibc() {
        // /dev/null is 1:3, /dev/sda1 8:1, and a large minor, 259:65536.
        assert_eq!(device_number(1, 3), 259);
        assert_eq!(device_number(8, 1), 2049);
        assert_eq!(device_number(259, 65536), (259 << 8) | (65536 << 12));
    }

    #[test]
    fn aliases_and_unknown_fields() {
        let spec = crate::registry::lookup("ansible.builtin.stat").unwrap();
        assert!((spec.build)(json!({"path": "/x", "checksum": "sha256", "mime": false})).is_ok());
        assert!((spec.build)(json!({"path": "/x", "checksum_algorithm": "crc32"})).is_err());
        assert!((spec.build)(json!({"path": "/x", "get_md5": true})).is_err());
    }
}
