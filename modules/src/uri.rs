//! `uri`: makes an HTTP request from the host and returns the answer.
//!
//! The request is made on the host with `curl` (no Python there), its options passed as
//! argv and the body on standard input. A request changes nothing by itself, so the task
//! reports `ok` (as Ansible's does) unless `dest` is written, which happens only when the
//! response differs from the file already there. `creates` and `removes` skip the request.
//! The task fails with Ansible's message when the status is not one of `status_code`.
//! Check mode skips the task: a request's answer cannot be known without making it.
//!
//! ```yaml
//! - name: Wait for the API server to be healthy
//!   ansible.builtin.uri:
//!     url: "https://127.0.0.1:6443/healthz"
//!     validate_certs: false
//!     return_content: true
//!   register: health
//!   until: health.content == "ok"
//!   retries: 30
//! ```

use crate::args::{ansible_bool, Args};
use crate::file::text;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, Output};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "uri",
    aliases: &["ansible.builtin.uri", "ansible.legacy.uri"],
    doc: include_str!("uri.rs"),
    free_form: None,
    build: crate::registry::build::<UriArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriArgs {
    /// The URL: `http`, `https` (or another scheme curl knows).
    pub url: String,
    /// The HTTP method, one uppercase word.
    #[serde(default = "get")]
    pub method: String,
    /// The request body: text, or data that `body_format` encodes.
    #[serde(default)]
    pub body: Option<Value>,
    /// How a body that is not text is encoded: `raw`, `json` or `form-urlencoded`; the
    /// last two also set `Content-Type` unless a header does.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// Request headers.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The statuses that count as success: a number, a list, or `200,201`.
    #[serde(default = "ok_status", deserialize_with = "status_codes")]
    pub status_code: Vec<i64>,
    /// Return the response body as `content`.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub return_content: bool,
    /// Write the response body to this path on the host (a directory gets the URL's
    /// file name).
    #[serde(default)]
    pub dest: Option<String>,
    /// Skip the request when this path exists on the host.
    #[serde(default)]
    pub creates: Option<String>,
    /// Skip the request unless this path exists on the host.
    #[serde(default)]
    pub removes: Option<String>,
    /// `safe` follows redirects for GET and HEAD only; `all`/`yes` always; `none`/`no`
    /// never.
    #[serde(default = "safe", deserialize_with = "follow_redirects")]
    pub follow_redirects: String,
    /// Check the server's TLS certificate.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub validate_certs: bool,
    /// Seconds the whole request may take.
    #[serde(default = "thirty")]
    pub timeout: u64,
    /// User for HTTP authentication.
    #[serde(default, alias = "user", deserialize_with = "text::deserialize")]
    pub url_username: Option<String>,
    /// Password for HTTP authentication.
    #[serde(default, alias = "password", deserialize_with = "text::deserialize")]
    pub url_password: Option<String>,
    /// Send the credentials without waiting for a 401 (curl always does).
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force_basic_auth: bool,
    /// Talk HTTP over this Unix socket on the host.
    #[serde(default)]
    pub unix_socket: Option<String>,
    /// A CA bundle on the host to check the server's certificate against.
    #[serde(default)]
    pub ca_path: Option<String>,
    /// A client certificate (PEM) on the host.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// The client certificate's key (PEM) on the host.
    #[serde(default)]
    pub client_key: Option<String>,
    /// Use the host's proxy settings (`http_proxy`...).
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub use_proxy: bool,
    /// Ask for a compressed answer and decompress it.
    #[serde(default = "yes", deserialize_with = "ansible_bool::deserialize")]
    pub decompress: bool,
    /// The `User-Agent` header.
    #[serde(default = "agent")]
    pub http_agent: String,
    /// Accepted for compatibility; the credentials go with every request.
    #[serde(default, deserialize_with = "list_or_csv")]
    pub unredirected_headers: Vec<String>,
    /// Not supported: the body always comes from `body`.
    #[serde(default)]
    pub src: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum BodyFormat {
    #[default]
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "form-urlencoded")]
    FormUrlencoded,
}

fn get() -> String {
    "GET".to_string()
}
fn ok_status() -> Vec<i64> {
    vec![200]
}
fn safe() -> String {
    "safe".to_string()
}
fn yes() -> bool {
    true
}
fn thirty() -> u64 {
    30
}
fn agent() -> String {
    "ansible-httpget".to_string()
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    crate::args::list_or_csv::deserialize(deserializer)
}

fn status_codes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    let words = crate::args::list_or_csv::deserialize(deserializer)?;
    words
        .iter()
        .map(|word| {
            word.trim().parse::<i64>().map_err(|_| {
                serde::de::Error::custom(format!("`{word}` is not an HTTP status code"))
            })
        })
        .collect()
}

fn follow_redirects<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let word = match &value {
        Value::Bool(true) => "all".to_string(),
        Value::Bool(false) => "none".to_string(),
        Value::String(s) => s.to_ascii_lowercase(),
        other => other.to_string(),
    };
    match word.as_str() {
        "all" | "yes" => Ok("all".to_string()),
        "none" | "no" => Ok("none".to_string()),
        "safe" | "urllib2" => Ok("safe".to_string()),
        _ => Err(serde::de::Error::custom(format!(
            "`{word}` is not one of `all`, `safe`, `none`, `yes`, `no`, `urllib2`"
        ))),
    }
}

impl Args for UriArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.method.is_empty() || !self.method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ArgError::new(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            )
            .at("method"));
        }
        if self.src.is_some() {
            return Err(
                ArgError::new("`src` is not supported: give the request body in `body`").at("src"),
            );
        }
        if self.client_key.is_some() && self.client_cert.is_none() {
            return Err(ArgError::new("`client_key` needs `client_cert`").at("client_key"));
        }
        Ok(())
    }
}

/// Runs curl on the host: `$1` the file to write (empty for none), `$2` whether the body
/// comes back on stdout, the rest curl's options. The response goes to a private
/// temporary file beside `dest` (or in the temporary directory), the headers to another;
/// stdout then carries curl's exit code, its `--write-out` fields, the headers and the
/// body, in that order, between marker lines. `dest` is replaced atomically, and only
/// when its content differs.
const REQUEST: &str = r#"command -v curl >/dev/null 2>&1 || { echo "uri needs curl on the host: install the curl package" >&2; exit 127; }
dest=$1; send_body=$2; shift 2
if [ -n "$dest" ]; then dir=$(dirname -- "$dest"); else dir=${TMPDIR:-/tmp}; fi
body=$(umask 077 && mktemp "$dir/.rplay.uri.XXXXXXXX") || exit 1
headers=$(umask 077 && mktemp "${TMPDIR:-/tmp}/.rplay.uri.XXXXXXXX") || { rm -f "$body"; exit 1; }
trap 'rm -f "$body" "$headers"' EXIT
trap 'rm -f "$body" "$headers"; exit 143' HUP INT TERM
meta=$(curl -D "$headers" -o "$body" -w 'code=%{http_code}\nurl=%{url_effective}\nredirects=%{num_redirects}\nerror=%{errormsg}\n' "$@")
rc=$?
printf 'rc=%s\n%s\n' "$rc" "$meta"
code=${meta#code=}; code=${code%%
*}
written=0
if [ -n "$dest" ] && [ "$rc" = 0 ] && [ "$code" != 304 ] && [ "$code" != 000 ]; then
  case " $RPLAY_URI_OK " in *" $code "*)
    if ! cmp -s "$body" "$dest" 2>/dev/null; then
      chmod 0644 "$body" && mv -f "$body" "$dest" && written=1
    fi;;
  esac
fi
printf 'written=%s\n--rplay-headers--\n' "$written"
cat "$headers"
printf '\n--rplay-body--\n'
if [ "$send_body" = 1 ]; then
  if [ "$written" = 1 ]; then cat "$dest"; else cat "$body"; fi
fi
exit 0
"#;

impl UriArgs {
    /// The body as sent, and the headers with the `Content-Type` the format implies.
    fn encoded_body(&self) -> Result<(Option<Vec<u8>>, Vec<(String, String)>), String> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => text::from_value(other.clone()).unwrap_or_default(),
                };
                (name.clone(), value)
            })
            .collect();
        let has_content_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        let body = match (&self.body, self.body_format) {
            (None | Some(Value::Null), _) => None,
            (Some(Value::String(s)), _) => Some(s.clone().into_bytes()),
            (Some(value), BodyFormat::Json) => Some(value.to_string().into_bytes()),
            (Some(value), BodyFormat::FormUrlencoded) => Some(form_urlencoded(value)?.into_bytes()),
            (Some(value), BodyFormat::Raw) => Some(
                text::from_value(value.clone())
                    .unwrap_or_default()
                    .into_bytes(),
            ),
        };
        let implied = match self.body_format {
            BodyFormat::Json => Some("application/json"),
            BodyFormat::FormUrlencoded => Some("application/x-www-form-urlencoded"),
            BodyFormat::Raw => None,
        };
        if let (Some(content_type), false) = (implied, has_content_type) {
            headers.push(("Content-Type".to_string(), content_type.to_string()));
        }
        Ok((body, headers))
    }

    /// curl's options, as argv words after `curl`.
    fn curl_options(&self, has_body: bool, headers: &[(String, String)]) -> Vec<String> {
        let mut options: Vec<String> = vec![
            "--silent".into(),
            "--show-error".into(),
            "--max-time".into(),
            self.timeout.to_string(),
            "--user-agent".into(),
            self.http_agent.clone(),
        ];
        match self.method.as_str() {
            "HEAD" => options.push("--head".into()),
            "GET" if !has_body => {}
            method => options.extend(["--request".into(), method.to_string()]),
        }
        if has_body {
            options.extend(["--data-binary".into(), "@-".into()]);
        }
        let follow = match self.follow_redirects.as_str() {
            "all" => true,
            "safe" => matches!(self.method.as_str(), "GET" | "HEAD"),
            _ => false,
        };
        if follow {
            options.extend(["--location".into(), "--max-redirs".into(), "50".into()]);
        }
        if !self.validate_certs {
            options.push("--insecure".into());
        }
        if let Some(ca) = &self.ca_path {
            options.extend(["--cacert".into(), ca.clone()]);
        }
        if let Some(cert) = &self.client_cert {
            options.extend(["--cert".into(), cert.clone()]);
        }
        if let Some(key) = &self.client_key {
            options.extend(["--key".into(), key.clone()]);
        }
        if !self.use_proxy {
            options.extend(["--noproxy".into(), "*".into()]);
        }
        if self.decompress {
            options.push("--compressed".into());
        }
        if let Some(socket) = &self.unix_socket {
            options.extend(["--unix-socket".into(), socket.clone()]);
        }
        if let Some(user) = &self.url_username {
            let password = self.url_password.as_deref().unwrap_or("");
            options.extend(["--user".into(), format!("{user}:{password}")]);
        }
        for (name, value) in headers {
            options.extend(["--header".into(), format!("{name}: {value}")]);
        }
        options.push("--".into());
        options.push(self.url.clone());
        options
    }

    /// Where the body goes on the host: `dest`, or inside it when it is a directory.
    async fn destination(&self, host: &Host<'_>) -> Result<Option<String>, ModuleError> {
        let Some(dest) = &self.dest else {
            return Ok(None);
        };
        let state = crate::util::path_state(host.transport, dest, true).await?;
        if state.is_dir() {
            let name = self
                .url
                .split(['?', '#'])
                .next()
                .and_then(|path| path.rsplit('/').next())
                .filter(|name| !name.is_empty() && !self.url.ends_with("//"))
                .unwrap_or("index.html");
            return Ok(Some(format!("{}/{name}", dest.trim_end_matches('/'))));
        }
        Ok(Some(dest.clone()))
    }
}

impl Module for UriArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            if let Some(creates) = &self.creates {
                if crate::util::path_state(host.transport, creates, true)
                    .await?
                    .exists
                {
                    return Ok(Plan::ok(format!("{creates} exists"))
                        .with("stdout", format!("skipped, since '{creates}' exists")));
                }
            }
            if let Some(removes) = &self.removes {
                if !crate::util::path_state(host.transport, removes, true)
                    .await?
                    .exists
                {
                    return Ok(Plan::ok(format!("{removes} does not exist")).with(
                        "stdout",
                        format!("skipped, since '{removes}' does not exist"),
                    ));
                }
            }
            let (body, headers) = self.encoded_body().map_err(ModuleError::failed)?;
            let dest = self.destination(host).await?;
            let send_body = dest.is_none() || self.return_content;
            let mut argv = vec![
                "sh".to_string(),
                "-c".to_string(),
                REQUEST.to_string(),
                "rplay-uri".to_string(),
                dest.clone().unwrap_or_default(),
                if send_body { "1" } else { "0" }.to_string(),
            ];
            argv.extend(self.curl_options(body.is_some(), &headers));
            let mut exec = Exec::new(argv);
            exec.env.push((
                "RPLAY_URI_OK".to_string(),
                self.status_code
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
            if let Some(body) = body {
                exec = exec.stdin(body);
            }
            let step = Step::Run {
                exec,
                capture: false,
                allow_failure: true,
            };
            let url = self.url.clone();
            let status_code = self.status_code.clone();
            let return_content = self.return_content;
            let started = std::time::Instant::now();
            Ok(
                Plan::change(format!("{} {}", self.method, self.url), vec![step])
                    .unpredictable("remote module (uri) does not support check mode")
                    .settled_by(true, move |outputs, result| {
                        let Some(output) = outputs.first() else {
                            return false;
                        };
                        let response = Response::read(output, &url);
                        response.report(
                            result,
                            &url,
                            &status_code,
                            return_content,
                            dest.as_deref(),
                            started.elapsed().as_secs(),
                        )
                    }),
            )
        })
    }
}

/// What the request script printed, read back.
#[derive(Debug, Default, PartialEq)]
struct Response {
    /// -1 when no response came (connection refused, curl missing).
    status: i64,
    reason: String,
    url: String,
    redirects: u64,
    error: String,
    written: bool,
    /// Lowercase names, values of repeated headers joined by `, `.
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Response {
    fn read(output: &Output, url: &str) -> Response {
        let stdout = &output.stdout;
        let mut response = Response {
            status: -1,
            url: url.to_string(),
            ..Response::default()
        };
        if output.rc != 0 {
            response.error = output.stderr_text().trim().to_string();
            return response;
        }
        let find = |marker: &[u8]| stdout.windows(marker.len()).position(|w| w == marker);
        let headers_at = find(b"--rplay-headers--\n").unwrap_or(stdout.len());
        let body_at = find(b"\n--rplay-body--\n");
        let meta = String::from_utf8_lossy(&stdout[..headers_at]);
        let mut curl_rc = 0;
        for line in meta.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "rc" => curl_rc = value.parse().unwrap_or(0),
                "code" => response.status = value.parse().unwrap_or(0),
                "url" if !value.is_empty() => response.url = value.to_string(),
                "redirects" => response.redirects = value.parse().unwrap_or(0),
                "error" => response.error = value.to_string(),
                "written" => response.written = value == "1",
                _ => {}
            }
        }
        if let Some(body_at) = body_at {
            let start = (headers_at + "--rplay-headers--\n".len()).min(body_at);
            let raw = String::from_utf8_lossy(&stdout[start..body_at]);
            (response.reason, response.headers) = last_header_block(&raw);
            response.body = Some(stdout[body_at + "\n--rplay-body--\n".len()..].to_vec());
        }
        if response.status == 0 || curl_rc != 0 && response.status <= 0 {
            response.status = -1;
            if response.error.is_empty() {
                response.error = output.stderr_text().trim().to_string();
            }
        }
        response
    }

    /// Fills the task's result as Ansible's module does; returns whether the host changed.
    fn report(
        self,
        result: &mut Map<String, Value>,
        requested: &str,
        status_code: &[i64],
        return_content: bool,
        dest: Option<&str>,
        elapsed: u64,
    ) -> bool {
        let content_type = self
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, value)| value.to_ascii_lowercase())
            .unwrap_or_default();
        let length = self
            .headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map(|(_, value)| value.clone());
        for (name, value) in &self.headers {
            let key = name.replace('-', "_");
            let value = if key == "location" {
                absolute_location(&self.url, value)
            } else {
                value.clone()
            };
            result.insert(key, json!(value));
        }
        let message = if self.status < 0 {
            format!("Request failed: {}", self.error)
        } else if (200..300).contains(&self.status) || self.status == 304 && dest.is_some() {
            format!(
                "OK ({} bytes)",
                length.unwrap_or_else(|| "unknown".to_string())
            )
        } else {
            format!("HTTP Error {}: {}", self.status, self.reason)
        };
        result.insert("status".into(), json!(self.status));
        result.insert("url".into(), json!(self.url));
        result.insert(
            "redirected".into(),
            json!(self.redirects > 0 || self.url != requested),
        );
        result.insert("elapsed".into(), json!(elapsed));
        result.insert("cookies".into(), json!({}));
        result.insert("cookies_string".into(), json!(""));
        if let Some(dest) = dest {
            result.insert("path".into(), json!(dest));
        }
        let content = self
            .body
            .as_ref()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        let subtype = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if ["json", "javascript"]
            .iter()
            .any(|candidate| subtype.contains(candidate))
        {
            if let Some(parsed) = content
                .as_deref()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
            {
                result.insert("json".into(), parsed);
            }
        }
        if return_content {
            result.insert("content".into(), json!(content.unwrap_or_default()));
        }
        if !status_code.contains(&self.status) {
            let expected = status_code
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            result.insert("failed".into(), json!(true));
            result.insert(
                "msg".into(),
                json!(format!(
                    "Status code was {} and not [{expected}]: {message}",
                    self.status
                )),
            );
            return false;
        }
        result.insert("msg".into(), json!(message));
        self.written
    }
}

/// The reason phrase and headers of the last response in a `curl -D` dump (redirects and
/// `100 Continue` come first).
fn last_header_block(raw: &str) -> (String, Vec<(String, String)>) {
    let mut reason = String::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in raw.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            reason = line.splitn(3, ' ').nth(2).unwrap_or("").to_string();
            headers.clear();
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            match headers.iter_mut().find(|(known, _)| *known == name) {
                Some((_, joined)) => {
                    joined.push_str(", ");
                    joined.push_str(&value);
                }
                None => headers.push((name, value)),
            }
        }
    }
    (reason, headers)
}

/// A `Location` header made absolute against the URL it came from.
fn absolute_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = &rest[authority.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let directory = &path[..path.rfind('/').map_or(0, |slash| slash + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    format!("{scheme}://{authority}{directory}{location}")
}

/// `a=1&b=two+words`, from a mapping or a list of pairs.
fn form_urlencoded(value: &Value) -> Result<String, String> {
    let pairs: Vec<(String, String)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), text::from_value(v.clone()).unwrap_or_default()))
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => Ok((
                    text::from_value(pair[0].clone()).unwrap_or_default(),
                    text::from_value(pair[1].clone()).unwrap_or_default(),
                )),
                other => Err(format!(
                    "failed to parse body as form_urlencoded: `{other}` is not a pair"
                )),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "failed to parse body as form_urlencoded: `{other}` is not a mapping"
            ))
        }
    };
    let encode = |text: &str| {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    out.push(byte as char)
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        out
    };
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply_settled, Fixture};
    use std::process::{Child, Command, Stdio};

    /// Python's own `http.server` on a free loopback port, serving a scratch directory.
    struct PythonServer {
        child: Child,
        port: u16,
    }

    impl PythonServer {
        fn start(root: &std::path::Path) -> PythonServer {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .current_dir(root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 must be installed to run the uri tests");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "python3 -m http.server did not listen on port {port} within 20 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            PythonServer { child, port }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }
    }

    impl Drop for PythonServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn request(fixture: &Fixture, args: Value) -> (bool, Map<String, Value>) {
        let plan = fixture.plan("ansible.builtin.uri", args).await.unwrap();
        assert!(
            matches!(plan.check, crate::CheckSupport::Unpredictable(_)),
            "check mode skips a request"
        );
        let mut result = Map::new();
        let (changed, settled) = apply_settled(&plan, &fixture.transport).await.unwrap();
        result.extend(settled);
        (changed, result)
    }

    #[tokio::test]
    async fn gets_json_and_content_and_fails_on_unexpected_status() {
        let fixture = Fixture::new();
        let root = fixture.path("site");
        std::fs::create_dir_all(format!("{root}/dir")).unwrap();
        std::fs::write(
            format!("{root}/health.json"),
            br#"{"status": "ok", "n": 3}"#,
        )
        .unwrap();
        std::fs::write(format!("{root}/dir/index.html"), b"hello\n").unwrap();
        let server = PythonServer::start(std::path::Path::new(&root));

        let (changed, result) = request(
            &fixture,
            json!({ "url": server.url("/health.json"), "return_content": true }),
        )
        .await;
        assert!(!changed, "a GET changes nothing");
        assert_eq!(result["status"], json!(200));
        assert_eq!(result["json"], json!({"status": "ok", "n": 3}));
        assert_eq!(result["content"], json!(r#"{"status": "ok", "n": 3}"#));
        assert_eq!(result["msg"], json!("OK (24 bytes)"));
        assert_eq!(result["content_type"], json!("application/json"));
        assert_eq!(result["redirected"], json!(false));
        assert!(!result.contains_key("failed"));

        // http.server redirects a directory without its slash: followed for a GET.
        let (_, result) = request(
            &fixture,
            json!({ "url": server.url("/dir"), "return_content": "yes" }),
        )
        .await;
        assert_eq!(result["status"], json!(200));
        assert_eq!(result["redirected"], json!(true));
        assert_eq!(result["url"], json!(server.url("/dir/")));
        assert_eq!(result["content"], json!("hello\n"));

        // Not followed when told not to; 301 is then what came back.
        let (_, result) = request(
            &fixture,
            json!({ "url": server.url("/dir"), "follow_redirects": "none", "status_code": [301] }),
        )
        .await;
        assert_eq!(result["status"], json!(301));
        assert_eq!(result["location"], json!(server.url("/dir/")));

        let (_, result) = request(&fixture, json!({ "url": server.url("/missing") })).await;
        assert_eq!(result["failed"], json!(true));
        assert_eq!(result["status"], json!(404));
        assert_eq!(
            result["msg"],
            json!("Status code was 404 and not [200]: HTTP Error 404: File not found")
        );

        // http.server has no POST: a JSON body is sent and the 501 is reported.
        let (_, result) = request(
            &fixture,
            json!({ "url": server.url("/health.json"), "method": "POST",
                    "body_format": "json", "body": {"a": 1}, "status_code": "200, 201" }),
        )
        .await;
        assert_eq!(result["status"], json!(501));
        assert_eq!(
            result["msg"],
            json!("Status code was 501 and not [200, 201]: HTTP Error 501: Unsupported method ('POST')")
        );
    }

    #[tokio::test]
    async fn writes_dest_once_and_honours_creates() {
        let fixture = Fixture::new();
        let root = fixture.path("site");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(format!("{root}/file.txt"), b"payload\n").unwrap();
        let server = PythonServer::start(std::path::Path::new(&root));
        let dest = fixture.path("out.txt");
        let args = json!({ "url": server.url("/file.txt"), "dest": dest });
        let (changed, result) = request(&fixture, args.clone()).await;
        assert!(changed, "a new dest is written");
        assert_eq!(result["path"], json!(dest));
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload\n");
        let (changed, _) = request(&fixture, args).await;
        assert!(!changed, "the same content is not written again");

        let plan = fixture
            .plan(
                "uri",
                json!({ "url": server.url("/file.txt"), "creates": dest }),
            )
            .await
            .unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.result["stdout"],
            json!(format!("skipped, since '{dest}' exists"))
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_status_minus_one() {
        let fixture = Fixture::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (_, result) = request(
            &fixture,
            json!({ "url": format!("http://127.0.0.1:{port}/"), "timeout": 5 }),
        )
        .await;
        assert_eq!(result["status"], json!(-1));
        let message = result["msg"].as_str().unwrap();
        assert!(
            message.starts_with("Status code was -1 and not [200]: Request failed: "),
            "{message}"
        );
    }

    #[test]
    fn builds_curl_options_and_bodies() {
        let args: UriArgs = crate::args::parse(json!({
            "url": "https://api.test/v1", "method": "PUT", "body_format": "form-urlencoded",
            "body": {"name": "a b", "x": "1&2"}, "validate_certs": false,
            "url_username": "u", "url_password": "p", "headers": {"X-Token": "t"}
        }))
        .unwrap();
        let (body, headers) = args.encoded_body().unwrap();
        assert_eq!(body.unwrap(), b"name=a+b&x=1%262");
        let options = args.curl_options(true, &headers);
        let text = options.join(" ");
        assert!(text.contains("--request PUT --data-binary @-"), "{text}");
        assert!(text.contains("--insecure"));
        assert!(text.contains("--user u:p"));
        assert!(text.contains("--header X-Token: t"));
        assert!(text.contains("--header Content-Type: application/x-www-form-urlencoded"));
        assert!(
            !text.contains("--location"),
            "PUT is not redirected when safe"
        );
        assert!(text.ends_with("-- https://api.test/v1"));

        let error =
            crate::args::parse::<UriArgs>(json!({"url": "x", "method": "get"})).unwrap_err();
        assert_eq!(
            error.path,
            vec![crate::args::PathSegment::Key("method".into())]
        );
        assert_eq!(
            absolute_location("http://h:1/a/b?q", "c"),
            "http://h:1/a/c".to_string()
        );
    }
}
