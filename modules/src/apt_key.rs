//! `apt_key`: an OpenPGP key in an apt keyring, without `apt-key` (gone from Debian 13).
//!
//! Keys are read with `gpg --show-keys --with-colons` on the host, in a throw-away
//! home directory, so nothing is imported anywhere: with `keyring`, that file; without,
//! every keyring apt trusts (`/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/`).
//! `present` does nothing when a key with the id is there (expired keys do not count); the
//! id is `id` when given, else the first key of `data`, `file` (on the host), `url`
//! (downloaded on the host) or the key fetched from `keyserver` (which needs `id`). A
//! missing key is appended to the keyring file, written atomically: binary for a `.gpg`
//! keyring (the default `/etc/apt/trusted.gpg`), ASCII-armored for an `.asc` one.
//! `absent` (which needs `id`) removes a keyring file that holds only that key, and
//! deletes the key with gpg from one that holds others.
//!
//! Prefer a keyring of your own, under `/etc/apt/keyrings/` and named in the source's
//! `signed-by`, or `deb822_repository` with `signed_by`, which does both.
//!
//! ```yaml
//! - name: Docker's signing key
//!   apt_key:
//!     url: https://download.docker.com/linux/debian/gpg
//!     id: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88
//!     keyring: /etc/apt/keyrings/docker.gpg
//! ```

use crate::apt_sources;
use crate::args::Presence;
use crate::args::{ansible_bool, Args};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs, Transport};
use crate::{ArgError, Host, Module, ModuleError};
use base64::Engine;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "apt_key",
    aliases: &["ansible.builtin.apt_key", "ansible.legacy.apt_key"],
    doc: include_str!("apt_key.rs"),
    free_form: None,
    build: crate::registry::build::<AptKeyArgs>,
};

/// The keyring `present` writes to without `keyring`, and the directory of keyrings apt
/// trusts for every source.
const TRUSTED: &str = "/etc/apt/trusted.gpg";
const TRUSTED_PARTS: &str = "/etc/apt/trusted.gpg.d";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptKeyArgs {
    /// The key's id: 8 or 16 hex digits, or the fingerprint; `0x` may lead.
    #[serde(default)]
    pub id: Option<String>,
    /// The key itself (ASCII-armored).
    #[serde(default)]
    pub data: Option<String>,
    /// A key file on the host.
    #[serde(default)]
    pub file: Option<String>,
    /// The keyring file; by default every keyring apt trusts is read and
    /// `/etc/apt/trusted.gpg` written.
    #[serde(default)]
    pub keyring: Option<String>,
    /// Where to download the key, on the host.
    #[serde(default)]
    pub url: Option<String>,
    /// A keyserver to fetch the key `id` from, with gpg on the host.
    #[serde(default)]
    pub keyserver: Option<String>,
    /// `present` or `absent`.
    #[serde(default)]
    pub state: Presence,
    /// Check the TLS certificate of `url`.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub validate_certs: bool,
}

fn yes() -> bool {
    true
}

impl Args for AptKeyArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let given: Vec<&str> = [
            ("data", self.data.is_some()),
            ("file", self.file.is_some()),
            ("keyserver", self.keyserver.is_some()),
            ("url", self.url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if given.len() > 1 {
            return Err(ArgError::new(format!(
                "parameters are mutually exclusive: data|file|keyserver|url (got {})",
                given.join(", ")
            )));
        }
        if self.keyserver.is_some() && self.id.is_none() {
            return Err(ArgError::new("Missing key_id, required with keyserver."));
        }
        if self.state == Presence::Absent && self.id.is_none() {
            return Err(ArgError::new("key is required to remove a key").at("id"));
        }
        if let Some(id) = &self.id {
            KeyId::parse(id).map_err(|message| ArgError::new(message).at("id"))?;
        }
        Ok(())
    }
}

/// A key id as Ansible's `parse_key_id` splits it.
#[derive(Debug, Clone, PartialEq)]
struct KeyId {
    /// The last 8 hex digits.
    short: String,
    /// The last 16 (the long id apt lists), or the id itself when shorter.
    long: String,
    /// All of it, upper case, without `0x`.
    full: String,
}

impl KeyId {
    fn parse(id: &str) -> Result<KeyId, String> {
        let upper = id.trim().to_uppercase();
        let full = upper.strip_prefix("0X").unwrap_or(&upper).to_string();
        if full.is_empty() || !full.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("Invalid key_id".to_string());
        }
        if full.len() != 8 && full.len() != 16 && full.len() <= 16 {
            return Err(
                "key_id must be 8, 16, or 16+ hexadecimal characters in length".to_string(),
            );
        }
        Ok(KeyId {
            short: full[full.len() - 8..].to_string(),
            long: full[full.len().saturating_sub(16)..].to_string(),
            full,
        })
    }

    /// Whether a listed key is this one (by short id when only 8 digits were given).
    fn matches(&self, key: &ListedKey) -> bool {
        if self.full.len() == 8 {
            key.id.ends_with(&self.short)
        } else {
            key.id == self.long || key.fingerprint == self.full
        }
    }
}

/// One key or subkey as gpg lists it.
#[derive(Debug, Clone, PartialEq)]
struct ListedKey {
    /// The keyring file it is in (empty for key data).
    file: String,
    /// The long (16 hex digit) id.
    id: String,
    fingerprint: String,
    /// The primary key's fingerprint (itself for a primary key).
    primary: String,
    expired: bool,
}

/// Lists the keys in each keyring file (and in `TRUSTED_PARTS`-like directories given as
/// `dir/`), or in standard input when there are no arguments, with a `file:` line before
/// each file. gpg works in a temporary home that is removed afterwards.
const LIST: &str = r#"home=$(mktemp -d) || exit 1
trap 'gpgconf --homedir "$home" --kill all 2>/dev/null; rm -rf "$home"' EXIT
show() { gpg --homedir "$home" --batch --no-tty --with-colons --show-keys "$@" 2>/dev/null; }
if [ "$#" = 0 ]; then show; exit; fi
for arg do
  case "$arg" in
    */) for file in "$arg"*.gpg "$arg"*.asc; do [ -f "$file" ] && set -- "$@" "$file"; done ;;
    *) set -- "$@" "$arg" ;;
  esac
  shift
done
for file do
  [ -s "$file" ] || continue
  printf 'file:%s\n' "$file"
  show -- "$file"
done
exit 0
"#;

fn parse_listing(text: &str) -> Vec<ListedKey> {
    let mut keys: Vec<ListedKey> = Vec::new();
    let mut file = String::new();
    let mut primary = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("file:") {
            file = name.to_string();
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first() {
            Some(&"pub") | Some(&"sub") if fields.len() > 4 => keys.push(ListedKey {
                file: file.clone(),
                id: fields[4].to_uppercase(),
                fingerprint: String::new(),
                primary: if fields[0] == "pub" {
                    String::new()
                } else {
                    primary.clone()
                },
                expired: fields[1] == "e",
            }),
            Some(&"fpr") if fields.len() > 9 => {
                if let Some(key) = keys.last_mut().filter(|k| k.fingerprint.is_empty()) {
                    key.fingerprint = fields[9].to_uppercase();
                    if key.primary.is_empty() {
                        key.primary = key.fingerprint.clone();
                        primary = key.fingerprint.clone();
                    }
                }
            }
            _ => {}
        }
    }
    keys
}

async fn list_keys(
    transport: &dyn Transport,
    files: &[String],
    stdin: Option<&[u8]>,
) -> Result<Vec<ListedKey>, ModuleError> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        LIST.to_string(),
        "rplay-apt-key-list".to_string(),
    ];
    argv.extend(files.iter().cloned());
    let mut exec = Exec::new(argv);
    if let Some(data) = stdin {
        exec = exec.stdin(data.to_vec());
    }
    let output = transport.run(&exec).await?;
    if !output.success() {
        return Err(ModuleError::failed(format!(
            "Unable to list public keys: {}",
            output.stderr_text().trim()
        )));
    }
    Ok(parse_listing(&output.stdout_text()))
}

/// Fetches the key `id` from a keyserver in a throw-away gpg home and prints it, binary.
const RECEIVE: &str = r#"home=$(mktemp -d) || exit 1
trap 'gpgconf --homedir "$home" --kill all 2>/dev/null; rm -rf "$home"' EXIT
gpg --homedir "$home" --batch --no-tty --keyserver "$1" --recv-keys "$2" >&2 || exit 2
exec gpg --homedir "$home" --batch --no-tty --export "$2"
"#;

/// Deletes the key with the fingerprint (second argument) from a binary keyring (first
/// argument): gpg works on a copy, which then replaces the keyring atomically.
const DELETE: &str = r#"keyring=$1 fingerprint=$2
home=$(mktemp -d) || exit 1
trap 'gpgconf --homedir "$home" --kill all 2>/dev/null; rm -rf "$home"' EXIT
cp -p -- "$keyring" "$home/keyring.gpg" || exit 1
gpg --homedir "$home" --batch --no-tty --yes --no-default-keyring --keyring "gnupg-ring:$home/keyring.gpg" --delete-keys "$fingerprint" || exit 1
tmp=$(mktemp "$(dirname -- "$keyring")/.rplay-apt-key.XXXXXXXXXX") || exit 1
cat "$home/keyring.gpg" > "$tmp" && chmod --reference="$keyring" "$tmp" && mv -f -- "$tmp" "$keyring" || { rm -f -- "$tmp"; exit 1; }
"#;

/// The binary packets of ASCII-armored key blocks (all of them), or the data as it is
/// when it is not armored.
fn dearmor(data: &[u8]) -> Result<Vec<u8>, String> {
    if !apt_sources::is_armored(data) {
        return Ok(data.to_vec());
    }
    let text = String::from_utf8_lossy(data);
    let mut binary = Vec::new();
    let mut body = String::new();
    let (mut in_block, mut in_headers) = (false, false);
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            (in_block, in_headers) = (true, true);
            body.clear();
        } else if line.starts_with("-----END PGP PUBLIC KEY BLOCK-----") {
            binary.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(body.as_bytes())
                    .map_err(|e| format!("the key block is not valid base64: {e}"))?,
            );
            in_block = false;
        } else if in_block && in_headers {
            // Armor headers (`Version: …`) end at the first blank line.
            if line.is_empty() {
                in_headers = false;
            } else if !line.contains(": ") {
                in_headers = false;
                body.push_str(line);
            }
        } else if in_block && !line.starts_with('=') {
            body.push_str(line);
        }
    }
    Ok(binary)
}

/// OpenPGP's CRC-24 (RFC 4880, 6.1), for the armor's checksum line.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for byte in data {
        crc ^= (*byte as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// Binary key packets as an ASCII-armored public key block.
fn armor(binary: &[u8]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let encoded = engine.encode(binary);
    let mut out = String::from("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    let crc = crc24(binary).to_be_bytes();
    out.push('=');
    out.push_str(&engine.encode(&crc[1..]));
    out.push_str("\n-----END PGP PUBLIC KEY BLOCK-----\n");
    out
}

impl AptKeyArgs {
    /// The keyrings to look in.
    fn keyrings(&self) -> Vec<String> {
        match &self.keyring {
            Some(keyring) => vec![keyring.clone()],
            None => vec![TRUSTED.to_string(), format!("{TRUSTED_PARTS}/")],
        }
    }

    /// The key material from `data`, `file`, `url` or `keyserver`; `Err` is the task's
    /// failure message.
    async fn material(
        &self,
        transport: &dyn Transport,
        id: Option<&KeyId>,
    ) -> Result<Result<Vec<u8>, String>, ModuleError> {
        if let Some(data) = &self.data {
            return Ok(Ok(data.as_bytes().to_vec()));
        }
        if let Some(file) = &self.file {
            return Ok(match transport.get(file).await? {
                Some(bytes) => Ok(bytes),
                None => Err(format!("Unable to extract key from '{file}': no such file")),
            });
        }
        if let Some(url) = &self.url {
            return Ok(apt_sources::download(transport, url, self.validate_certs)
                .await?
                .map_err(|e| format!("Failed to download key at {url}: {e}")));
        }
        if let (Some(server), Some(id)) = (&self.keyserver, id) {
            let output = transport
                .run(&Exec::new([
                    "sh",
                    "-c",
                    RECEIVE,
                    "rplay-apt-key-receive",
                    server,
                    &id.full,
                ]))
                .await?;
            return Ok(if output.success() && !output.stdout.is_empty() {
                Ok(output.stdout)
            } else {
                Err(format!(
                    "Error fetching key {} from keyserver: {server}: {}",
                    id.full,
                    output.stderr_text().trim()
                ))
            });
        }
        Ok(Err(
            "No key to add: give `data`, `file`, `url` or `keyserver`".to_string(),
        ))
    }
}

/// The ids apt-key would have listed: long ids, or short ones when the id given is short.
fn listed_ids(keys: &[ListedKey], short: bool) -> Vec<String> {
    keys.iter()
        .filter(|k| !k.expired)
        .map(|k| {
            if short {
                k.id[k.id.len().saturating_sub(8)..].to_string()
            } else {
                k.id.clone()
            }
        })
        .collect()
}

impl Module for AptKeyArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let given = self
                .id
                .as_deref()
                .map(KeyId::parse)
                .transpose()
                .map_err(ModuleError::failed)?;
            // Without an id, the key material says which key it is.
            let mut material = None;
            let (raw_id, id) = match given {
                Some(id) => (self.id.clone().unwrap_or_default(), id),
                None => {
                    let data = match self.material(transport, None).await? {
                        Ok(data) => data,
                        Err(message) => return Ok(Plan::fail(message)),
                    };
                    let keys = list_keys(transport, &[], Some(&data)).await?;
                    let Some(first) = keys.first().cloned() else {
                        let source = if self.file.is_some() {
                            self.file.clone().unwrap_or_default()
                        } else {
                            "inline data".to_string()
                        };
                        return Ok(Plan::fail(format!("Unable to extract key from '{source}'")));
                    };
                    let id = KeyId::parse(&first.id).map_err(ModuleError::failed)?;
                    material = Some((data, keys));
                    (first.id.clone(), id)
                }
            };
            let short = id.full.len() == 8;
            let existing = list_keys(transport, &self.keyrings(), None).await?;
            let before = listed_ids(&existing, short);
            let present = existing.iter().any(|k| !k.expired && id.matches(k));
            let plan = match self.state {
                Presence::Present if present => {
                    Plan::ok(format!("the key {} is already in the keyring", id.full))
                }
                Presence::Present => {
                    let (data, keys) = match material {
                        Some(found) => found,
                        None => {
                            let data = match self.material(transport, Some(&id)).await? {
                                Ok(data) => data,
                                Err(message) => return Ok(Plan::fail(message)),
                            };
                            let keys = list_keys(transport, &[], Some(&data)).await?;
                            (data, keys)
                        }
                    };
                    if !keys.iter().any(|k| id.matches(k)) {
                        return Ok(Plan::fail(
                            "apt-key did not return an error, but failed to add the key (check \
                             that the id is correct and *not* a subkey)",
                        )
                        .with("id", raw_id));
                    }
                    let keyring = self.keyring.clone().unwrap_or_else(|| TRUSTED.to_string());
                    let current = transport.get(&keyring).await?;
                    let new_content = if keyring.ends_with(".asc") {
                        let armored = if apt_sources::is_armored(&data) {
                            data.clone()
                        } else {
                            armor(&data).into_bytes()
                        };
                        let mut content = current.clone().unwrap_or_default();
                        if !content.is_empty() && !content.ends_with(b"\n") {
                            content.push(b'\n');
                        }
                        content.extend(armored);
                        content
                    } else {
                        let mut content = current.clone().unwrap_or_default();
                        content.extend(dearmor(&data).map_err(ModuleError::failed)?);
                        content
                    };
                    let mut after = before.clone();
                    after.extend(listed_ids(&keys, short));
                    Plan::change(
                        format!("add the key {} to {keyring}", id.full),
                        vec![Step::write(
                            keyring,
                            new_content,
                            FileAttrs {
                                mode: current.is_none().then_some(0o644),
                                ..FileAttrs::default()
                            },
                        )],
                    )
                    .with("after", json!(after))
                }
                Presence::Absent if !present => {
                    Plan::ok(format!("the key {} is not in the keyring", id.full))
                }
                Presence::Absent => {
                    let mut steps = Vec::new();
                    let mut files: Vec<&str> = existing
                        .iter()
                        .filter(|k| id.matches(k))
                        .map(|k| k.file.as_str())
                        .collect();
                    files.dedup();
                    for file in files {
                        let in_file: Vec<&ListedKey> =
                            existing.iter().filter(|k| k.file == file).collect();
                        let doomed: Vec<&str> = in_file
                            .iter()
                            .filter(|k| id.matches(k))
                            .map(|k| k.primary.as_str())
                            .collect();
                        if in_file.iter().all(|k| doomed.contains(&k.primary.as_str())) {
                            steps.push(Step::run(Exec::new(["rm", "-f", "--", file])));
                        } else if file.ends_with(".asc") {
                            return Ok(Plan::fail(format!(
                                "cannot remove the key {} from {file}: it holds other keys \
                                 and is ASCII-armored",
                                id.full
                            )));
                        } else {
                            for fingerprint in doomed {
                                steps.push(Step::run(Exec::new([
                                    "sh",
                                    "-c",
                                    DELETE,
                                    "rplay-apt-key-delete",
                                    file,
                                    fingerprint,
                                ])));
                            }
                        }
                    }
                    let after: Vec<String> = listed_ids(
                        &existing
                            .iter()
                            .filter(|k| !id.matches(k))
                            .cloned()
                            .collect::<Vec<_>>(),
                        short,
                    );
                    Plan::change(format!("remove the key {}", id.full), steps)
                        .with("after", json!(after))
                }
            };
            Ok(plan
                .with("id", raw_id)
                .with("short_id", id.short.clone())
                .with("fp", id.long.clone())
                .with("key_id", id.full.clone())
                .with("before", json!(before)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, Fixture};
    use serde_json::json;
    use std::process::Command;

    #[test]
    fn splits_key_ids_like_ansible() {
        let id = KeyId::parse("0x9dc858229fc7dd38854ae2d88d81803c0ebfcd88").unwrap();
        assert_eq!(id.short, "0EBFCD88");
        assert_eq!(id.long, "8D81803C0EBFCD88");
        assert_eq!(id.full, "9DC858229FC7DD38854AE2D88D81803C0EBFCD88");
        assert!(KeyId::parse("0EBFCD88").is_ok());
        assert!(KeyId::parse("12345").is_err());
        assert!(KeyId::parse("not-hex!").is_err());
    }

    #[test]
    fn reads_gpg_colon_listings() {
        let keys = parse_listing(
            "file:/etc/apt/trusted.gpg.d/docker.gpg\n\
             pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESC::::::23::0:\n\
             fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:\n\
             uid:-::::1487792064::B5A08F01796E7F521861B449372CFA6D2ABBF1B5::Docker Release (CE deb) <docker@docker.com>::::::::::0:\n\
             sub:-:4096:1:7EA0A9C3F273FCD8:1487788586::::::s::::::23:\n\
             fpr:::::::::D3306A018370199E527AE7997EA0A9C3F273FCD8:\n\
             file:/etc/apt/trusted.gpg.d/old.gpg\n\
             pub:e:1024:17:AAAAAAAABBBBBBBB:1:2::-:::sc::::::23::0:\n\
             fpr:::::::::0000000000000000000000000000AAAAAAAABBBBBBBB:\n",
        );
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].file, "/etc/apt/trusted.gpg.d/docker.gpg");
        assert_eq!(keys[1].primary, "9DC858229FC7DD38854AE2D88D81803C0EBFCD88");
        assert!(keys[2].expired);
        assert_eq!(
            listed_ids(&keys, false),
            vec!["8D81803C0EBFCD88", "7EA0A9C3F273FCD8"]
        );
        assert_eq!(listed_ids(&keys, true), vec!["0EBFCD88", "F273FCD8"]);
    }

    #[test]
    fn armors_and_dearmors_like_gpg() {
        // RFC 4880's CRC-24 of "123456789".
        assert_eq!(crc24(b"123456789"), 0x21CF02);
        let binary: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let armored = armor(&binary);
        assert!(armored
            .lines()
            .all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(dearmor(armored.as_bytes()).unwrap(), binary);
        let with_headers = armored.replace(
            "BLOCK-----\n\n",
            "BLOCK-----\nVersion: GnuPG v2\nComment: test\n\n",
        );
        assert_eq!(dearmor(with_headers.as_bytes()).unwrap(), binary);
        assert_eq!(dearmor(b"\x99\x01").unwrap(), b"\x99\x01");
    }

    /// A fresh key made with gpg in a scratch home: (armored public key, fingerprint).
    fn make_key(fixture: &Fixture, name: &str) -> (String, String) {
        let home = fixture.path(&format!("gnupg-{name}"));
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let gpg = |args: &[&str]| {
            let output = Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args([
                    "--batch",
                    "--no-tty",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                ])
                .args(args)
                .output()
                .expect("gpg runs");
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).unwrap()
        };
        let uid = format!("{name} <{name}@rplay.test>");
        gpg(&["--quick-gen-key", &uid, "ed25519", "sign", "never"]);
        let armored = gpg(&["--armor", "--export", &uid]);
        let listing = gpg(&["--with-colons", "--list-keys", &uid]);
        // Key generation started an agent for this home; it ends with the test.
        Command::new("gpgconf")
            .args(["--homedir", &home, "--kill", "all"])
            .status()
            .expect("gpgconf runs");
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .unwrap()
            .trim_end_matches(':')
            .to_string();
        (armored, fingerprint)
    }

    #[tokio::test]
    async fn adds_and_removes_keys_in_scratch_keyrings() {
        let fixture = Fixture::new();
        let (first, first_fpr) = make_key(&fixture, "first");
        let (second, second_fpr) = make_key(&fixture, "second");
        let keyring = fixture.path("keyrings/test.gpg");
        std::fs::create_dir(fixture.path("keyrings")).unwrap();

        let add_first = json!({"data": first, "keyring": keyring});
        let plan = fixture.converge("apt_key", add_first.clone()).await;
        assert_eq!(plan.result["id"], json!(&first_fpr[24..]));
        assert_eq!(fixture.mode("keyrings/test.gpg"), 0o644);
        let add_second = json!({"data": second, "keyring": keyring, "id": second_fpr});
        fixture.converge("apt_key", add_second).await;

        // gpg reads both keys back from the binary keyring apt would use.
        let listing = Command::new("gpg")
            .args(["--batch", "--with-colons", "--show-keys", &keyring])
            .env("GNUPGHOME", fixture.path("gnupg-first"))
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains(&first_fpr) && listing.contains(&second_fpr),
            "{listing}"
        );

        // Removing one key of two keeps the other.
        let remove_first = json!({"id": first_fpr, "keyring": keyring, "state": "absent"});
        fixture.converge("apt_key", remove_first).await;
        let plan = fixture
            .plan("apt_key", json!({"id": second_fpr, "keyring": keyring}))
            .await
            .unwrap();
        assert!(plan.steps.is_empty(), "the second key stays: {plan:?}");
        // Removing the last one removes the file.
        fixture
            .converge(
                "apt_key",
                json!({"id": second_fpr, "keyring": keyring, "state": "absent"}),
            )
            .await;
        assert!(!std::path::Path::new(&keyring).exists());

        // An armored keyring stays armored.
        let asc = fixture.path("keyrings/test.asc");
        let plan = fixture
            .plan("apt_key", json!({"data": first, "keyring": asc}))
            .await
            .unwrap();
        apply(&plan, &fixture.transport).await.unwrap();
        assert!(apt_sources::is_armored(&fixture.read("keyrings/test.asc")));
    }

    #[tokio::test]
    async fn a_wrong_id_for_the_data_fails() {
        let fixture = Fixture::new();
        let (key, _) = make_key(&fixture, "third");
        let plan = fixture
            .plan(
                "apt_key",
                json!({"data": key, "id": "0123456789ABCDEF", "keyring": fixture.path("k.gpg")}),
            )
            .await
            .unwrap();
        assert!(plan.failure.unwrap().contains("failed to add the key"));
        assert!(!std::path::Path::new(&fixture.path("k.gpg")).exists());
    }
}
