//! `get_url`: downloads a file over HTTP, HTTPS or FTP to the host.
//!
//! The download happens on the host, with `curl` or else `wget`, into a temporary file
//! beside `dest` (or in `tmp_dest`); the file is checked against `checksum`, then renamed
//! over `dest` with its mode and owner set. Nothing needs doing when `dest` exists and
//! `force` is off: with a `checksum`, the file's digest must match it; without one, its
//! presence is enough (Ansible's documented meaning of `force: false`). With `force`, a
//! `dest` directory, or a digest that differs, the plan downloads the file once to compare
//! it and changes nothing when the content is the same. A `checksum` may name a checksum
//! file by URL (`sha256:https://…/SHA256SUMS`); the line for the file's name is used.
//!
//! ```yaml
//! - name: Fetch kubeadm
//!   get_url:
//!     url: https://dl.k8s.io/release/v1.31.1/bin/linux/amd64/kubeadm
//!     dest: /usr/local/bin/kubeadm
//!     checksum: sha256:https://dl.k8s.io/release/v1.31.1/bin/linux/amd64/kubeadm.sha256
//!     mode: "0755"
//! ```

use crate::args::{ansible_bool, file_mode, list_or_csv, Args};
use crate::file::{attribute_change, backup_name, Wanted};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::util::path_state;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "get_url",
    aliases: &["ansible.builtin.get_url", "ansible.legacy.get_url"],
    doc: include_str!("get_url.rs"),
    free_form: None,
    build: crate::registry::build::<GetUrlArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUrlArgs {
    /// The URL to download (`http`, `https` or `ftp`).
    pub url: String,
    /// The file to write; when it is a directory, the URL's file name is used inside it.
    pub dest: String,
    /// `ALGORITHM:DIGEST` or `ALGORITHM:URL` of a checksum file; the download must match.
    #[serde(default)]
    pub checksum: String,
    /// Download even when `dest` exists, and replace it when the content differs.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
    /// Keep a timestamped copy of `dest` before replacing it.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub backup: bool,
    /// Seconds allowed for connecting and for each pause in the transfer.
    #[serde(default = "ten")]
    pub timeout: u64,
    /// Extra HTTP request headers.
    #[serde(default)]
    pub headers: Option<Map<String, Value>>,
    /// Directory for the partial download; by default the directory of `dest`.
    #[serde(default)]
    pub tmp_dest: Option<String>,
    /// Check the server's TLS certificate.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub validate_certs: bool,
    /// User name for HTTP authentication.
    #[serde(default, alias = "username")]
    pub url_username: Option<String>,
    /// Password for HTTP authentication; it travels in the environment, not the command line.
    #[serde(default, alias = "password")]
    pub url_password: Option<String>,
    /// Send the credentials without waiting for the server to ask (curl always does).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force_basic_auth: bool,
    /// Use the proxy named by the host's environment (`https_proxy`, …).
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub use_proxy: bool,
    /// The `User-Agent` header.
    #[serde(default = "agent")]
    pub http_agent: String,
    /// Ask for a compressed transfer and store it decompressed.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub decompress: bool,
    /// Client certificate (PEM) for TLS authentication, on the host.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// Private key for `client_cert`, on the host.
    #[serde(default)]
    pub client_key: Option<String>,
    /// Mode of `dest`, octal (`"0644"`) or symbolic (`"u=rw,g=r,o=r"`).
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<file_mode::Mode>,
    /// Owner of `dest`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Group of `dest`.
    #[serde(default)]
    pub group: Option<String>,
    /// Accepted for compatibility; redirects keep every header.
    #[serde(default, deserialize_with = "list_or_csv::deserialize")]
    pub unredirected_headers: Vec<String>,
    /// Accepted for compatibility; the downloader reads `~/.netrc` as it always does.
    #[serde(default)]
    pub use_netrc: Option<Value>,
    /// Accepted for compatibility; GSSAPI is not used.
    #[serde(default)]
    pub use_gssapi: Option<Value>,
    /// Accepted for compatibility; the downloader's TLS defaults apply.
    #[serde(default)]
    pub ciphers: Option<Value>,
}

fn ten() -> u64 {
    10
}
fn yes() -> bool {
    true
}
fn agent() -> String {
    "ansible-httpget".to_string()
}

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

impl Args for GetUrlArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if !self.checksum.is_empty() {
            let Some((algorithm, _)) = self.checksum.split_once(':') else {
                return Err(ArgError::new(
                    "The checksum parameter has to be in format <algorithm>:<checksum>",
                )
                .at("checksum"));
            };
            if !ALGORITHMS.contains(&algorithm) {
                return Err(ArgError::new(format!(
                    "`{algorithm}` is not a checksum algorithm (use one of {})",
                    ALGORITHMS.join(", ")
                ))
                .at("checksum"));
            }
        }
        Ok(())
    }
}

/// Downloads with whichever of curl and wget the host has. Arguments: action (`fetch`
/// prints the body; `stage` downloads, checks and prints `status=` and `sha1=`, then
/// removes the file; `install` also renames it over `dest`), url, dest, temporary
/// directory, algorithm, expected digest, backup path, mode, `owner:group`, then curl's and
/// wget's options, one per line. The password comes as `RPLAY_URL_PASSWORD`.
const SCRIPT: &str = r#"
action=$1 url=$2 dest=$3 tmpdir=$4 algorithm=$5 checksum=$6 backup=$7 mode=$8
shift 8
owner=$1 curl_options=$2 wget_options=$3
nl='
'
if command -v curl >/dev/null 2>&1; then tool=curl
elif command -v wget >/dev/null 2>&1; then tool=wget
else echo "get_url needs curl or wget on the host" >&2; exit 3; fi
if [ -n "${RPLAY_URL_PASSWORD+set}" ]; then
  curl_options="$curl_options$nl--user$nl$RPLAY_URL_USER:$RPLAY_URL_PASSWORD"
  wget_options="$wget_options$nl--password=$RPLAY_URL_PASSWORD"
fi
status=
download() {
  set -f; saved=$IFS; IFS=$nl
  if [ "$tool" = curl ]; then
    if [ "$1" = - ]; then curl $curl_options -- "$url"; rc=$?
    else status=$(curl $curl_options -o "$1" -w '%{http_code}' -- "$url"); rc=$?; fi
  else
    wget $wget_options -O "$1" -- "$url"; rc=$?
    [ "$rc" = 0 ] && status=200
  fi
  IFS=$saved; set +f
  return $rc
}
if [ "$action" = fetch ]; then download -; exit $?; fi
dir=${tmpdir:-$(dirname -- "$dest")}
tmp=$(mktemp "$dir/.rplay-get_url.XXXXXXXXXX") || exit 1
final=
trap 'rm -f "$tmp" $final' EXIT
if ! download "$tmp"; then
  printf 'status=%s\n' "$status"
  echo "Request failed (status ${status:-unknown}) for $url" >&2
  exit 4
fi
if [ -n "$checksum" ]; then
  set -- $("${algorithm}sum" < "$tmp")
  if [ "$1" != "$checksum" ]; then
    echo "The checksum for $tmp did not match $checksum; it was $1." >&2
    exit 5
  fi
fi
set -- $(sha1sum < "$tmp")
printf 'status=%s\nsha1=%s\n' "$status" "$1"
[ "$action" = stage ] && exit 0
if [ -f "$dest" ] && cmp -s -- "$tmp" "$dest"; then exit 0; fi
if [ -n "$backup" ] && [ -e "$dest" ]; then cp -p -- "$dest" "$backup" || exit 1; fi
if [ -e "$dest" ]; then chmod --reference="$dest" "$tmp"
else chmod "$(printf '%o' $((0666 & ~$(umask))))" "$tmp"; fi
if [ -n "$mode" ]; then chmod "$mode" "$tmp" || exit 1; fi
if [ -n "$owner" ]; then chown "$owner" "$tmp" || exit 1
elif [ -e "$dest" ]; then chown --reference="$dest" "$tmp" 2>/dev/null || true; fi
if [ -n "$tmpdir" ]; then
  final=$(mktemp "$(dirname -- "$dest")/.rplay-get_url.XXXXXXXXXX") || exit 1
  cp -p -- "$tmp" "$final" && mv -f -- "$final" "$dest" || exit 1
else
  mv -f -- "$tmp" "$dest" || exit 1
fi
"#;

/// What the host has at `dest`. Arguments: dest, algorithm, the URL's file name.
const INSPECT: &str = r#"
dest=$1 algorithm=$2 name=$3
if [ -d "$dest" ]; then echo directory; dest=${dest%/}/$name; fi
printf 'dest=%s\n' "$dest"
[ -d "$(dirname -- "$dest")" ] && echo parent
if [ -f "$dest" ]; then
  echo exists
  set -- $(sha1sum < "$dest"); printf 'sha1=%s\n' "$1"
  if [ -n "$algorithm" ]; then set -- $("${algorithm}sum" < "$dest"); printf 'digest=%s\n' "$1"; fi
fi
exit 0
"#;

/// The file name a URL names, as Ansible's `url_filename`: `index.html` for none.
fn url_filename(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let path = match without_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|at| &rest[at..]).unwrap_or(""),
        None => without_query,
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        "index.html".to_string()
    } else {
        name.to_string()
    }
}

/// The digest for `filename` in a checksum file (GNU `sha256sum` or BSD `SHA256 (f) = d`
/// lines, or a file holding only the digest), as Ansible's `parse_digest_lines`.
fn digest_for(filename: &str, content: &str) -> Option<String> {
    let lines: Vec<&str> = content.lines().map(|l| l.trim_end_matches('\r')).collect();
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return Some(lines[0].to_string());
    }
    let bsd = regex::Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$").ok()?;
    let gnu = regex::Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$").ok()?;
    lines.iter().find_map(|line| {
        let (digest, path) = if let Some(c) = bsd.captures(line) {
            (c["digest"].to_string(), c["path"].to_string())
        } else if let Some(c) = gnu.captures(line) {
            let path = c["path"].trim_start_matches(['.', '/']).to_string();
            (c["digest"].to_string(), path)
        } else {
            return None;
        };
        (path == filename).then_some(digest)
    })
}

/// What the inspection found.
#[derive(Debug, Default)]
struct Destination {
    path: String,
    was_directory: bool,
    parent_exists: bool,
    exists: bool,
    sha1: Option<String>,
    digest: Option<String>,
}

impl Destination {
    fn parse(text: &str) -> Destination {
        let mut found = Destination::default();
        for line in text.lines() {
            match line {
                "directory" => found.was_directory = true,
                "parent" => found.parent_exists = true,
                "exists" => found.exists = true,
                _ => {
                    if let Some(path) = line.strip_prefix("dest=") {
                        found.path = path.to_string();
                    } else if let Some(sha1) = line.strip_prefix("sha1=") {
                        found.sha1 = Some(sha1.to_string());
                    } else if let Some(digest) = line.strip_prefix("digest=") {
                        found.digest = Some(digest.to_string());
                    }
                }
            }
        }
        found
    }
}

impl GetUrlArgs {
    fn algorithm(&self) -> Option<&str> {
        self.checksum.split_once(':').map(|(a, _)| a)
    }

    /// Options for curl and for wget, one per line.
    fn downloader_options(&self) -> (String, String) {
        let mut curl = vec![
            "--silent".to_string(),
            "--show-error".to_string(),
            "--location".to_string(),
            "--fail".to_string(),
            "--connect-timeout".to_string(),
            self.timeout.to_string(),
            "--speed-time".to_string(),
            self.timeout.to_string(),
            "--speed-limit".to_string(),
            "1".to_string(),
            "--user-agent".to_string(),
            self.http_agent.clone(),
        ];
        let mut wget = vec![
            "--quiet".to_string(),
            format!("--timeout={}", self.timeout),
            format!("--user-agent={}", self.http_agent),
        ];
        if !self.validate_certs {
            curl.push("--insecure".to_string());
            wget.push("--no-check-certificate".to_string());
        }
        if !self.use_proxy {
            curl.extend(["--noproxy".to_string(), "*".to_string()]);
            wget.push("--no-proxy".to_string());
        }
        if self.decompress {
            curl.push("--compressed".to_string());
        }
        if let (Some(user), None) = (&self.url_username, &self.url_password) {
            curl.extend(["--user".to_string(), format!("{user}:")]);
            wget.push(format!("--user={user}"));
        }
        if let (Some(user), Some(_)) = (&self.url_username, &self.url_password) {
            wget.push(format!("--user={user}"));
        }
        for (name, value) in self.headers.iter().flatten() {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            curl.extend(["--header".to_string(), format!("{name}: {value}")]);
            wget.push(format!("--header={name}: {value}"));
        }
        if let Some(cert) = &self.client_cert {
            curl.extend(["--cert".to_string(), cert.clone()]);
            wget.push(format!("--certificate={cert}"));
        }
        if let Some(key) = &self.client_key {
            curl.extend(["--key".to_string(), key.clone()]);
            wget.push(format!("--private-key={key}"));
        }
        (curl.join("\n"), wget.join("\n"))
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

    /// The download command; `action` is `fetch`, `stage` or `install`.
    fn exec(&self, action: &str, url: &str, dest: &str, digest: &str, backup: &str) -> Exec {
        let (curl, wget) = self.downloader_options();
        let mut exec = Exec::new([
            "sh".to_string(),
            "-c".to_string(),
            SCRIPT.to_string(),
            "rplay-get_url".to_string(),
            action.to_string(),
            url.to_string(),
            dest.to_string(),
            self.tmp_dest.clone().unwrap_or_default(),
            if digest.is_empty() {
                String::new()
            } else {
                self.algorithm().unwrap_or_default().to_string()
            },
            digest.to_string(),
            backup.to_string(),
            self.mode_text(),
            self.owner_spec(),
            curl,
            wget,
        ]);
        if let Some(password) = &self.url_password {
            exec.env.push((
                "RPLAY_URL_USER".to_string(),
                self.url_username.clone().unwrap_or_default(),
            ));
            exec.env
                .push(("RPLAY_URL_PASSWORD".to_string(), password.clone()));
        }
        exec
    }

    /// The expected digest, fetching the checksum file when `checksum` names a URL.
    async fn expected_digest(&self, host: &Host<'_>) -> Result<String, ModuleError> {
        let Some((_, value)) = self.checksum.split_once(':') else {
            return Ok(String::new());
        };
        let value = if value.contains("://") {
            let output = host
                .transport
                .run(&self.exec("fetch", value, "", "", ""))
                .await?;
            if !output.success() {
                return Err(ModuleError::failed(format!(
                    "fetching the checksum file {value}: {}",
                    output.stderr_text().trim()
                )));
            }
            let filename = url_filename(&self.url);
            digest_for(&filename, &output.stdout_text()).ok_or_else(|| {
                ModuleError::failed(format!(
                    "Unable to find a checksum for file '{filename}' in '{value}'"
                ))
            })?
        } else {
            value.to_string()
        };
        let digest: String = value
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_lowercase();
        if digest.is_empty() || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ModuleError::failed("The checksum format is invalid"));
        }
        Ok(digest)
    }

    /// Mode and owner fixes for a `dest` that stays.
    async fn attribute_steps(&self, host: &Host<'_>, dest: &str) -> Result<Vec<Step>, ModuleError> {
        if self.mode.is_none() && self.owner.is_none() && self.group.is_none() {
            return Ok(Vec::new());
        }
        let state = path_state(host.transport, dest, true).await?;
        let wanted = Wanted {
            mode: self.mode.as_ref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        };
        Ok(attribute_change(dest, &state, &wanted, false)?.steps())
    }
}

impl Module for GetUrlArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let digest = self.expected_digest(host).await?;
            let inspect = Exec::new([
                "sh".to_string(),
                "-c".to_string(),
                INSPECT.to_string(),
                "rplay-get_url".to_string(),
                self.dest.clone(),
                self.algorithm()
                    .filter(|_| !digest.is_empty())
                    .unwrap_or_default()
                    .to_string(),
                url_filename(&self.url),
            ]);
            let output = host.transport.run(&inspect).await?;
            let found = Destination::parse(&output.stdout_text());
            let dest = found.path.clone();
            let result = |plan: Plan| {
                plan.with("dest", dest.clone())
                    .with("url", self.url.clone())
            };
            if !found.parent_exists {
                let parent = std::path::Path::new(&dest)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(ModuleError::failed(format!(
                    "Destination {parent} does not exist"
                )));
            }
            let digest_matches =
                !digest.is_empty() && found.digest.as_deref() == Some(digest.as_str());
            if found.exists
                && !self.force
                && !found.was_directory
                && (digest.is_empty() || digest_matches)
            {
                let steps = self.attribute_steps(host, &dest).await?;
                let message = if steps.is_empty() {
                    "file already exists"
                } else {
                    "file already exists but file attributes changed"
                };
                let plan = if steps.is_empty() {
                    Plan::ok(format!("{dest} already exists"))
                } else {
                    Plan::change(message, steps)
                };
                return Ok(result(plan)
                    .with("msg", message)
                    .with("checksum_src", Value::Null)
                    .with("checksum_dest", Value::Null));
            }
            let mut checksum_src = if self.algorithm() == Some("sha1") && !digest.is_empty() {
                Value::String(digest.clone())
            } else {
                Value::Null
            };
            let mut status = Value::from(200);
            if found.exists {
                // Whether anything changes depends on the content: download it once to see.
                let staged = host
                    .transport
                    .run(&self.exec("stage", &self.url, &dest, &digest, ""))
                    .await?;
                let text = staged.stdout_text();
                let field = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(String::from)
                };
                if !staged.success() {
                    let mut error = staged.stderr_text().trim().to_string();
                    if let Some(code) = field("status=").filter(|c| !c.is_empty()) {
                        error.push_str(&format!(" (status_code {code})"));
                    }
                    return Err(ModuleError::failed(error));
                }
                if let Some(code) = field("status=").and_then(|c| c.parse::<u64>().ok()) {
                    status = Value::from(code);
                }
                let sha1 = field("sha1=");
                if sha1.is_some() && sha1 == found.sha1 {
                    let steps = self.attribute_steps(host, &dest).await?;
                    let plan = if steps.is_empty() {
                        Plan::ok(format!("{dest} already has the content of {}", self.url))
                    } else {
                        Plan::change(format!("set the mode and owner of {dest}"), steps)
                    };
                    return Ok(result(plan)
                        .with("msg", "OK")
                        .with("status_code", status)
                        .with("checksum_src", sha1.clone())
                        .with("checksum_dest", found.sha1.clone()));
                }
                checksum_src = sha1.map_or(Value::Null, Value::String);
            }
            let backup = if self.backup && found.exists {
                backup_name(host.transport, &dest).await?
            } else {
                String::new()
            };
            let step = Step::run(self.exec("install", &self.url, &dest, &digest, &backup));
            let mut plan = result(Plan::change(
                format!("download {} to {dest}", self.url),
                vec![step],
            ))
            .with("msg", "OK")
            .with("status_code", status)
            .with("checksum_src", checksum_src)
            .with(
                "checksum_dest",
                found.sha1.clone().map_or(Value::Null, Value::String),
            );
            if !backup.is_empty() {
                plan = plan.with("backup_file", backup);
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
    use sha2::Digest;
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    /// A tiny HTTP server on 127.0.0.1 that answers GETs from a map of paths to bodies and
    /// counts the requests it serves.
    #[derive(Clone)]
    struct Server {
        port: u16,
        files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
        requests: Arc<Mutex<usize>>,
    }

    impl Server {
        fn start() -> Server {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let server = Server {
                port: listener.local_addr().unwrap().port(),
                files: Arc::default(),
                requests: Arc::default(),
            };
            let shared = server.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    *shared.requests.lock().unwrap() += 1;
                    let body = shared.files.lock().unwrap().get(&path).cloned();
                    let response = match body {
                        Some(body) => {
                            let mut head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            head.extend(body);
                            head
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = stream.write_all(&response);
                }
            });
            server
        }

        fn serve(&self, path: &str, body: &[u8]) {
            self.files
                .lock()
                .unwrap()
                .insert(path.to_string(), body.to_vec());
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn requests(&self) -> usize {
            *self.requests.lock().unwrap()
        }
    }

    fn sha256(bytes: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(bytes))
    }

    #[test]
    fn finds_file_names_and_digests() {
        assert_eq!(url_filename("https://x.org/a/kubeadm?x=1"), "kubeadm");
        assert_eq!(url_filename("https://x.org"), "index.html");
        assert_eq!(url_filename("https://x.org/dir/"), "index.html");
        let sums = "abc123  other.tar.gz\ndef456 *kubeadm\n";
        assert_eq!(digest_for("kubeadm", sums).as_deref(), Some("def456"));
        assert_eq!(
            digest_for("kubeadm", "0123abcd\n").as_deref(),
            Some("0123abcd")
        );
        assert_eq!(
            digest_for("kubeadm", "SHA256 (kubeadm) = 99ff\nSHA256 (x) = 11\n").as_deref(),
            Some("99ff")
        );
        assert_eq!(digest_for("missing", sums), None);
    }

    #[tokio::test]
    async fn downloads_once_and_then_leaves_the_file_alone() {
        let server = Server::start();
        server.serve("/tool", b"#!/bin/sh\necho tool\n");
        let fixture = Fixture::new();
        let dest = fixture.path("tool");
        let args = json!({ "url": server.url("/tool"), "dest": dest, "mode": "0750" });
        let first = fixture
            .converge("ansible.builtin.get_url", args.clone())
            .await;
        assert_eq!(first.result["dest"], json!(dest));
        assert_eq!(first.result["checksum_dest"], Value::Null);
        assert_eq!(fixture.read("tool"), b"#!/bin/sh\necho tool\n");
        assert_eq!(fixture.mode("tool"), 0o750);
        let served = server.requests();
        let second = fixture.plan("get_url", args).await.unwrap();
        assert_eq!(second.result["msg"], json!("file already exists"));
        assert_eq!(
            server.requests(),
            served,
            "an existing file is not downloaded again"
        );

        // A different mode is fixed without downloading.
        let plan = fixture
            .plan(
                "get_url",
                json!({ "url": server.url("/tool"), "dest": dest, "mode": "0640" }),
            )
            .await
            .unwrap();
        assert_eq!(
            plan.result["msg"],
            json!("file already exists but file attributes changed")
        );
        fixture.apply(&plan).await;
        assert_eq!(fixture.mode("tool"), 0o640);
        assert_eq!(server.requests(), served);
    }

    #[tokio::test]
    async fn verifies_the_checksum() {
        let server = Server::start();
        let body = b"release archive".to_vec();
        server.serve("/release.tgz", &body);
        let fixture = Fixture::new();
        let dest = fixture.path("release.tgz");
        let args = json!({
            "url": server.url("/release.tgz"), "dest": dest,
            "checksum": format!("sha256:{}", sha256(&body)),
        });
        fixture.converge("get_url", args).await;
        assert_eq!(fixture.read("release.tgz"), body);

        // A download that does not match the digest fails and leaves nothing behind.
        let other = fixture.path("other.tgz");
        let wrong = json!({
            "url": server.url("/release.tgz"), "dest": other,
            "checksum": format!("sha256:{}", sha256(b"something else")),
        });
        let plan = fixture.plan("get_url", wrong).await.unwrap();
        let error = crate::testing::apply(&plan, &fixture.transport)
            .await
            .unwrap_err();
        assert!(error.contains("did not match"), "{error}");
        assert!(!std::path::Path::new(&other).exists());
        let leftovers: Vec<_> = std::fs::read_dir(fixture.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("rplay-get_url"))
            .collect();
        assert!(leftovers.is_empty(), "no partial download is left behind");
    }

    #[tokio::test]
    async fn reads_the_checksum_from_a_url() {
        let server = Server::start();
        let body = b"binary".to_vec();
        server.serve("/v1/kubelet", &body);
        server.serve(
            "/v1/SHA256SUMS",
            format!("{}  kubectl\n{}  kubelet\n", sha256(b"x"), sha256(&body)).as_bytes(),
        );
        let fixture = Fixture::new();
        let args = json!({
            "url": server.url("/v1/kubelet"),
            "dest": fixture.path(""),
            "checksum": format!("sha256:{}", server.url("/v1/SHA256SUMS")),
        });
        let first = fixture.plan("get_url", args.clone()).await.unwrap();
        assert_eq!(first.result["dest"], json!(fixture.path("kubelet")));
        fixture.apply(&first).await;
        assert_eq!(fixture.read("kubelet"), body);
        // A directory `dest` always downloads to compare, as in Ansible; same content: ok.
        let second = fixture.plan("get_url", args).await.unwrap();
        assert!(second.steps.is_empty(), "{second:?}");
    }

    #[tokio::test]
    async fn force_replaces_only_changed_content() {
        let server = Server::start();
        server.serve("/config", b"version 1\n");
        let fixture = Fixture::new();
        let dest = fixture.path("config");
        let args =
            json!({ "url": server.url("/config"), "dest": dest, "force": true, "backup": true });
        fixture.converge("get_url", args.clone()).await;
        server.serve("/config", b"version 2\n");
        let plan = fixture.plan("get_url", args.clone()).await.unwrap();
        assert_eq!(plan.steps.len(), 1);
        let backup = plan.result["backup_file"].as_str().unwrap().to_string();
        fixture.apply(&plan).await;
        assert_eq!(fixture.read("config"), b"version 2\n");
        assert_eq!(std::fs::read(&backup).unwrap(), b"version 1\n");
        let again = fixture.plan("get_url", args).await.unwrap();
        assert!(again.steps.is_empty());
        assert_eq!(again.result["status_code"], json!(200));
    }

    #[tokio::test]
    async fn a_missing_url_fails() {
        let server = Server::start();
        let fixture = Fixture::new();
        let plan = fixture
            .plan(
                "get_url",
                json!({ "url": server.url("/nothing"), "dest": fixture.path("x") }),
            )
            .await
            .unwrap();
        let error = crate::testing::apply(&plan, &fixture.transport)
            .await
            .unwrap_err();
        assert!(error.contains("404"), "{error}");
        assert!(fixture
            .plan(
                "get_url",
                json!({ "url": "http://x/y", "dest": "/tmp/x", "checksum": "abc" })
            )
            .await
            .is_err());
        assert!(fixture
            .plan(
                "get_url",
                json!({ "url": "http://x/y", "dest": "/nonexistent/dir/x" })
            )
            .await
            .unwrap_err()
            .to_string()
            .contains("Destination /nonexistent/dir does not exist"));
    }
}
