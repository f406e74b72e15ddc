//! `wait_for`: waits until a TCP port opens or closes, a file appears or disappears (or
//! shows a pattern), or a port's connections drain.
//!
//! The waiting happens on the host, in one fixed `sh` script that polls every `sleep`
//! seconds until the condition holds or `timeout` runs out: a port is tried with bash's
//! `/dev/tcp` (or `nc`) bounded by `timeout`, a file with `test -e` and `grep`, drained
//! connections by reading `/proc/net/tcp`. The plan first checks the condition once: when
//! it already holds there is nothing to do and the task is `ok`, with `elapsed: 0` and the
//! match groups. Otherwise the plan's one step is the waiting script; its effect cannot be
//! known in advance, so check mode skips it, as Ansible does.
//!
//! ```yaml
//! - name: Wait for the API server
//!   wait_for:
//!     port: 6443
//!     host: "{{ ansible_default_ipv4.address }}"
//!     timeout: 180
//!
//! - name: Wait for kubelet to write its config
//!   wait_for:
//!     path: /var/lib/kubelet/config.yaml
//!     search_regex: "cgroupDriver: (?P<driver>\\w+)"
//! ```

use crate::args::{list_or_csv, Args};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::Exec;
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "wait_for",
    aliases: &["ansible.builtin.wait_for", "ansible.legacy.wait_for"],
    doc: include_str!("wait_for.rs"),
    free_form: None,
    build: crate::registry::build::<WaitForArgs>,
};

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    /// The port accepts connections (or the file exists).
    #[default]
    Started,
    /// The file exists (or the port accepts connections).
    Present,
    /// The port refuses connections.
    Stopped,
    /// The file does not exist (or the port refuses connections).
    Absent,
    /// The port has no more active connections.
    Drained,
}

impl WaitState {
    fn name(self) -> &'static str {
        match self {
            WaitState::Started => "started",
            WaitState::Present => "present",
            WaitState::Stopped => "stopped",
            WaitState::Absent => "absent",
            WaitState::Drained => "drained",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForArgs {
    /// Address or name to connect to, as seen from the host.
    #[serde(default = "localhost")]
    pub host: String,
    /// TCP port to wait for.
    #[serde(default)]
    pub port: Option<u16>,
    /// File to wait for; mutually exclusive with `port`.
    #[serde(default)]
    pub path: Option<String>,
    /// `started`/`present`, `stopped`/`absent`, or `drained` (ports only).
    #[serde(default)]
    pub state: WaitState,
    /// A regular expression the file's content or the port's first answer must match.
    #[serde(default)]
    pub search_regex: Option<String>,
    /// Seconds to wait before the first check.
    #[serde(default)]
    pub delay: u64,
    /// Seconds to wait in all before failing.
    #[serde(default = "three_hundred")]
    pub timeout: u64,
    /// Seconds between checks.
    #[serde(default = "one")]
    pub sleep: u64,
    /// Seconds allowed for one connection attempt.
    #[serde(default = "five")]
    pub connect_timeout: u64,
    /// The failure message instead of the default one.
    #[serde(default)]
    pub msg: Option<String>,
    /// Connection states that count as active for `drained`.
    #[serde(
        default = "active_states",
        deserialize_with = "list_or_csv::deserialize"
    )]
    pub active_connection_states: Vec<String>,
    /// Remote addresses whose connections do not count for `drained`.
    #[serde(default)]
    pub exclude_hosts: Option<Vec<String>>,
}

fn localhost() -> String {
    "127.0.0.1".to_string()
}
fn three_hundred() -> u64 {
    300
}
fn one() -> u64 {
    1
}
fn five() -> u64 {
    5
}
fn active_states() -> Vec<String> {
    [
        "ESTABLISHED",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "SYN_RECV",
        "SYN_SENT",
        "TIME_WAIT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `/proc/net/tcp`'s codes for the states Ansible accepts.
fn state_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "ESTABLISHED" => "01",
        "SYN_SENT" => "02",
        "SYN_RECV" => "03",
        "FIN_WAIT1" => "04",
        "FIN_WAIT2" => "05",
        "TIME_WAIT" => "06",
        _ => return None,
    })
}

impl Args for WaitForArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if self.port.is_some() && self.path.is_some() {
            return Err(ArgError::new(
                "port and path parameter can not both be passed to wait_for",
            ));
        }
        if self.path.is_some() && self.state == WaitState::Stopped {
            return Err(ArgError::new(
                "state=stopped should only be used for checking a port in the wait_for module",
            ));
        }
        if self.path.is_some() && self.state == WaitState::Drained {
            return Err(ArgError::new(
                "state=drained should only be used for checking a port in the wait_for module",
            ));
        }
        if self.exclude_hosts.is_some() && self.state != WaitState::Drained {
            return Err(ArgError::new(
                "exclude_hosts should only be with state=drained",
            ));
        }
        if self.state == WaitState::Drained && self.port.is_none() {
            return Err(ArgError::new("state=drained needs a `port`"));
        }
        for name in &self.active_connection_states {
            if state_code(name).is_none() {
                return Err(ArgError::new(format!(
                    "unknown active_connection_state ({name}) defined"
                ))
                .at("active_connection_states"));
            }
        }
        Ok(())
    }
}

/// The waiting loop. Positional arguments, in order: mode (`port`, `path`, `drained` or
/// `sleep`), state, host, port, path, regex, delay, timeout, sleep, connect timeout,
/// `1` for a single check without delay, the failure message, and for `drained` the port
/// in hex, the active state codes, the local addresses and excluded remote addresses
/// (IPv4 then IPv6) as `/proc/net/tcp` writes them.
///
/// It prints `elapsed=SECONDS` and, after a pattern matched, `matched=TEXT`.
const SCRIPT: &str = r#"
mode=$1 state=$2 host=$3 port=$4 path=$5 regex=$6 delay=$7 timeout=$8 pause=$9
shift 9
connect_timeout=$1 once=$2 msg=$3 port_hex=$4 states=$5 local4=$6 local6=$7 exclude4=$8 exclude6=$9
have() { command -v "$1" >/dev/null 2>&1; }
limit() { if have timeout; then timeout "$@"; else shift; "$@"; fi; }
flavor=-E
if printf 'a\n' | grep -q -P 'a' 2>/dev/null; then flavor=-P; fi
start=$(date +%s)
left() { r=$((start + timeout - $(date +%s))); [ "$r" -lt 1 ] && r=1; echo "$r"; }
connect() {
  if have bash; then
    if [ -n "$regex" ]; then
      limit "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2" && exec grep -m1 -o "$4" -e "$3" <&3' \
        rplay-wait "$host" "$port" "$regex" "$flavor" 2>/dev/null
    else
      limit "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2"' rplay-wait "$host" "$port" 2>/dev/null
    fi
  elif have nc; then
    if [ -n "$regex" ]; then
      limit "$1" nc "$host" "$port" </dev/null 2>/dev/null | grep -m1 -o "$flavor" -e "$regex"
    else
      nc -z -w "$1" "$host" "$port" 2>/dev/null
    fi
  else
    echo "waiting for a port needs bash or nc on the host" >&2
    exit 3
  fi
}
matched=
check() {
  case $mode in
  port)
    case $state in
    started|present)
      if [ -n "$regex" ]; then
        t=$(left)
      else
        t=$connect_timeout; r=$(left); [ "$r" -lt "$t" ] && t=$r
      fi
      out=$(connect "$t") || return 1
      if [ -n "$regex" ]; then [ -n "$out" ] || return 1; matched=$out; fi
      return 0 ;;
    *) if connect "$connect_timeout" >/dev/null; then return 1; fi; return 0 ;;
    esac ;;
  path)
    case $state in
    started|present)
      [ -e "$path" ] || return 1
      [ -z "$regex" ] && return 0
      matched=$(grep -m1 -o "$flavor" -e "$regex" -- "$path" 2>/dev/null)
      [ -n "$matched" ] ;;
    *) if [ -e "$path" ] || [ -L "$path" ]; then return 1; fi; return 0 ;;
    esac ;;
  drained)
    n=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v port="$port_hex" \
      -v states=" $states " -v l4=" $local4 " -v l6=" $local6 " \
      -v x4=" $exclude4 " -v x6=" $exclude6 " '
      $2 == "local_address" { next }
      {
        split($2, l, ":"); split($3, r, ":")
        if (l[2] != port || index(states, " " $4 " ") == 0) next
        if (length(l[1]) == 32) {
          if (index(x6, " " r[1] " ")) next
          if (index(l6, " " l[1] " ") || index(l6, " 00000000000000000000000000000000 ") \
            || (substr(l[1], 1, 24) == "0000000000000000FFFF0000" \
              && index(l6, " 0000000000000000FFFF000000000000 "))) n++
        } else {
          if (index(x4, " " r[1] " ")) next
          if (index(l4, " " l[1] " ") || index(l4, " 00000000 ")) n++
        }
      }
      END { print n + 0 }')
    [ "$n" = 0 ] ;;
  *) return 1 ;;
  esac
}
if [ "$once" != 1 ] && [ "$delay" -gt 0 ]; then sleep "$delay"; fi
if [ "$mode" = sleep ]; then
  sleep "$timeout"
  printf 'elapsed=%s\n' "$(($(date +%s) - start))"
  exit 0
fi
while :; do
  if [ "$once" != 1 ] && [ "$(date +%s)" -ge $((start + timeout)) ]; then
    printf 'elapsed=%s\n' "$(($(date +%s) - start))"
    printf '%s\n' "$msg" >&2
    exit 1
  fi
  if check; then
    printf 'elapsed=%s\n' "$(($(date +%s) - start))"
    [ -n "$matched" ] && printf 'matched=%s\n' "$matched"
    exit 0
  fi
  [ "$once" = 1 ] && exit 1
  sleep "$pause"
done
"#;

/// `/proc/net/tcp` writes addresses as 32-bit words in host (little-endian) order.
fn proc_net_hex(address: &IpAddr) -> String {
    let octets: Vec<u8> = match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    octets
        .chunks(4)
        .map(|word| {
            format!(
                "{:02X}{:02X}{:02X}{:02X}",
                word[3], word[2], word[1], word[0]
            )
        })
        .collect()
}

/// A host's addresses in `/proc/net/tcp` form, IPv4 and IPv6 apart; an IPv4 address also
/// counts in its IPv4-mapped IPv6 form, as in Ansible.
async fn addresses_hex(host: &str) -> Result<(Vec<String>, Vec<String>), ModuleError> {
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(address) => vec![address],
        Err(_) => {
            // The standard resolver blocks; keep it off the async threads.
            let name = host.to_string();
            tokio::task::spawn_blocking(move || {
                use std::net::ToSocketAddrs;
                (name.as_str(), 80).to_socket_addrs()
            })
            .await
            .map_err(|e| ModuleError::failed(e.to_string()))?
            .map_err(|e| ModuleError::failed(format!("cannot resolve `{host}`: {e}")))?
            .map(|a| a.ip())
            .collect()
        }
    };
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for address in addresses {
        match address {
            IpAddr::V4(ipv4) => {
                v4.push(proc_net_hex(&address));
                v6.push(proc_net_hex(&IpAddr::V6(ipv4.to_ipv6_mapped())));
            }
            IpAddr::V6(_) => v6.push(proc_net_hex(&address)),
        }
    }
    Ok((v4, v6))
}

impl WaitForArgs {
    fn mode(&self) -> &'static str {
        if self.state == WaitState::Drained {
            "drained"
        } else if self.port.is_some() {
            "port"
        } else if self.path.is_some() {
            "path"
        } else {
            "sleep"
        }
    }

    /// What the task waits for, for the plan's reason.
    fn target(&self) -> String {
        match (self.port, &self.path) {
            (Some(port), _) => format!("{}:{port}", self.host),
            (None, Some(path)) => path.clone(),
            (None, None) => format!("{} seconds", self.timeout),
        }
    }

    /// Ansible's failure messages.
    fn failure_message(&self) -> String {
        if let Some(msg) = &self.msg {
            return msg.clone();
        }
        let host = &self.host;
        match (self.state, self.port, &self.path, &self.search_regex) {
            (WaitState::Drained, Some(port), _, _) => {
                format!("Timeout when waiting for {host}:{port} to drain")
            }
            (WaitState::Stopped | WaitState::Absent, Some(port), _, _) => {
                format!("Timeout when waiting for {host}:{port} to stop.")
            }
            (WaitState::Stopped | WaitState::Absent, None, Some(path), _) => {
                format!("Timeout when waiting for {path} to be absent.")
            }
            (_, Some(port), _, Some(regex)) => {
                format!("Timeout when waiting for search string {regex} in {host}:{port}")
            }
            (_, Some(port), _, None) => format!("Timeout when waiting for {host}:{port}"),
            (_, None, Some(path), Some(regex)) => {
                format!("Timeout when waiting for search string {regex} in {path}")
            }
            (_, None, Some(path), None) => format!("Timeout when waiting for file {path}"),
            _ => String::new(),
        }
    }

    /// The regex the script matches: none for states that only test absence.
    fn regex(&self) -> Option<&str> {
        match self.state {
            WaitState::Started | WaitState::Present => self.search_regex.as_deref(),
            _ => None,
        }
    }

    async fn exec(&self, once: bool) -> Result<Exec, ModuleError> {
        let mut drained = vec![String::new(); 6];
        if self.state == WaitState::Drained {
            let port = self.port.unwrap_or_default();
            let (local4, local6) = addresses_hex(&self.host).await?;
            let mut exclude4 = Vec::new();
            let mut exclude6 = Vec::new();
            for host in self.exclude_hosts.iter().flatten() {
                let (v4, v6) = addresses_hex(host).await?;
                exclude4.extend(v4);
                exclude6.extend(v6);
            }
            let states: Vec<&str> = self
                .active_connection_states
                .iter()
                .filter_map(|s| state_code(s))
                .collect();
            drained = vec![
                format!("{port:04X}"),
                states.join(" "),
                local4.join(" "),
                local6.join(" "),
                exclude4.join(" "),
                exclude6.join(" "),
            ];
        }
        let timeout = if once {
            self.connect_timeout
        } else {
            self.timeout
        };
        let mut argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            SCRIPT.to_string(),
            "rplay-wait_for".to_string(),
            self.mode().to_string(),
            self.state.name().to_string(),
            self.host.clone(),
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            self.path.clone().unwrap_or_default(),
            self.regex().unwrap_or_default().to_string(),
            self.delay.to_string(),
            timeout.to_string(),
            self.sleep.to_string(),
            self.connect_timeout.to_string(),
            if once { "1" } else { "0" }.to_string(),
            self.failure_message(),
        ];
        argv.extend(drained);
        Ok(Exec::new(argv))
    }

    /// Ansible's `match_groups` and `match_groupdict` for the matched text.
    fn groups(&self, matched: &str) -> (Value, Value) {
        let Some(pattern) = self.regex() else {
            return (json!([]), json!({}));
        };
        let Ok(regex) = regex::RegexBuilder::new(pattern).multi_line(true).build() else {
            return (json!([]), json!({}));
        };
        let Some(captures) = regex.captures(matched) else {
            return (json!([]), json!({}));
        };
        let groups: Vec<Value> = captures
            .iter()
            .skip(1)
            .map(|g| g.map_or(Value::Null, |m| json!(m.as_str())))
            .collect();
        let named: Map<String, Value> = regex
            .capture_names()
            .flatten()
            .map(|name| {
                let value = captures
                    .name(name)
                    .map_or(Value::Null, |m| json!(m.as_str()));
                (name.to_string(), value)
            })
            .collect();
        (Value::Array(groups), Value::Object(named))
    }

    fn with_common(&self, plan: Plan) -> Plan {
        plan.with("state", self.state.name())
            .with("port", self.port.map_or(Value::Null, |p| json!(p)))
            .with("path", self.path.clone().map_or(Value::Null, Value::String))
            .with(
                "search_regex",
                self.search_regex.clone().map_or(Value::Null, Value::String),
            )
    }
}

impl Module for WaitForArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let target = self.target();
            let waits_only =
                self.port.is_none() && self.path.is_none() && self.state != WaitState::Drained;
            if self.delay == 0 && !waits_only {
                // One check now: when the condition already holds there is nothing to wait for.
                let output = host.transport.run(&self.exec(true).await?).await?;
                if output.rc == 3 {
                    return Err(ModuleError::failed(output.stderr_text().trim().to_string()));
                }
                if output.success() {
                    let stdout = output.stdout_text();
                    let matched = stdout
                        .lines()
                        .find_map(|l| l.strip_prefix("matched="))
                        .unwrap_or_default();
                    let (groups, named) = self.groups(matched);
                    let plan = Plan::ok(format!("{target} is already {}", self.state.name()))
                        .with("elapsed", 0)
                        .with("match_groups", groups)
                        .with("match_groupdict", named);
                    return Ok(self.with_common(plan));
                }
            }
            let exec = self.exec(false).await?;
            let step = Step::Run {
                exec,
                capture: true,
                allow_failure: false,
            };
            let reason = if waits_only {
                format!("wait {} seconds", self.timeout + self.delay)
            } else {
                format!(
                    "wait up to {} seconds for {target} to be {}",
                    self.timeout,
                    self.state.name()
                )
            };
            let plan = Plan::change(reason.clone(), vec![step])
                .unpredictable(format!("{reason} on the host"));
            Ok(self.with_common(plan))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use std::time::{Duration, Instant};

    #[test]
    fn converts_addresses_like_proc_net_tcp() {
        assert_eq!(proc_net_hex(&"127.0.0.1".parse().unwrap()), "0100007F");
        assert_eq!(
            proc_net_hex(&"::1".parse().unwrap()),
            "00000000000000000000000001000000"
        );
        assert_eq!(
            proc_net_hex(&IpAddr::V6(
                "10.0.0.1"
                    .parse::<std::net::Ipv4Addr>()
                    .unwrap()
                    .to_ipv6_mapped()
            )),
            "0000000000000000FFFF00000100000A"
        );
    }

    #[test]
    fn rejects_contradictory_arguments() {
        let fixture_args = |value: Value| crate::args::parse::<WaitForArgs>(value);
        assert!(fixture_args(json!({ "port": 22, "path": "/x" })).is_err());
        assert!(fixture_args(json!({ "path": "/x", "state": "stopped" })).is_err());
        assert!(fixture_args(json!({ "port": 22, "exclude_hosts": ["a"] })).is_err());
        assert!(
            fixture_args(json!({ "port": 22, "active_connection_states": ["BOGUS"] })).is_err()
        );
        assert!(fixture_args(json!({ "port": 22, "tiemout": 3 })).is_err());
    }

    #[tokio::test]
    async fn an_open_port_needs_no_waiting() {
        let fixture = Fixture::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let plan = fixture
            .plan("wait_for", json!({ "port": port, "timeout": 5 }))
            .await
            .unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(plan.result["elapsed"], json!(0));
        assert_eq!(plan.result["port"], json!(port));
        assert_eq!(plan.result["state"], json!("started"));
    }

    #[tokio::test]
    async fn waits_until_a_port_opens() {
        let fixture = Fixture::new();
        // Reserve a free port, close it, and open it again a little later.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let args = json!({ "port": port, "timeout": 20, "connect_timeout": 1 });
        let plan = fixture
            .plan("ansible.builtin.wait_for", args.clone())
            .await
            .unwrap();
        assert_eq!(plan.steps.len(), 1, "the port is closed: {plan:?}");
        assert!(matches!(plan.check, crate::CheckSupport::Unpredictable(_)));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            // Keep the port open until the test has planned again.
            let _ = finished.recv_timeout(Duration::from_secs(20));
            drop(listener);
        });
        let started = Instant::now();
        fixture.apply(&plan).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1000),
            "returned after {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
        let again = fixture.plan("wait_for", args).await.unwrap();
        assert!(again.steps.is_empty(), "the port is open now: {again:?}");
        done.send(()).unwrap();
        opener.join().unwrap();
    }

    #[tokio::test]
    async fn times_out_on_a_closed_port() {
        let fixture = Fixture::new();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let plan = fixture
            .plan(
                "wait_for",
                json!({ "port": port, "timeout": 2, "msg": "no server on the port" }),
            )
            .await
            .unwrap();
        let started = Instant::now();
        let error = crate::testing::apply(&plan, &fixture.transport)
            .await
            .unwrap_err();
        assert!(error.contains("no server on the port"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    #[tokio::test]
    async fn a_port_that_stays_closed_is_stopped() {
        let fixture = Fixture::new();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let plan = fixture
            .plan("wait_for", json!({ "port": port, "state": "stopped" }))
            .await
            .unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
    }

    #[tokio::test]
    async fn matches_a_banner_and_returns_its_groups() {
        let fixture = Fixture::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let plan = fixture
            .plan(
                "wait_for",
                json!({ "port": port, "search_regex": "OpenSSH_(?P<version>[0-9.]+)", "timeout": 5 }),
            )
            .await
            .unwrap();
        server.join().unwrap();
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(plan.result["match_groups"], json!(["9.2"]));
        assert_eq!(plan.result["match_groupdict"], json!({ "version": "9.2" }));
    }

    #[tokio::test]
    async fn waits_for_a_file_and_its_content() {
        let fixture = Fixture::new();
        let path = fixture.path("ready");
        let args = json!({ "path": path, "search_regex": "state=(\\w+)", "timeout": 10 });
        let plan = fixture.plan("wait_for", args.clone()).await.unwrap();
        assert_eq!(plan.steps.len(), 1);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                std::fs::write(&path, "booting\n").unwrap();
                std::thread::sleep(Duration::from_millis(1200));
                std::fs::write(&path, "booting\nstate=ready\n").unwrap();
            })
        };
        fixture.apply(&plan).await;
        writer.join().unwrap();
        let again = fixture.plan("wait_for", args).await.unwrap();
        assert!(again.steps.is_empty(), "{again:?}");
        assert_eq!(again.result["match_groups"], json!(["ready"]));
        let absent = fixture
            .plan(
                "wait_for",
                json!({ "path": fixture.path("never"), "state": "absent" }),
            )
            .await
            .unwrap();
        assert!(absent.steps.is_empty());
    }

    #[tokio::test]
    async fn drained_counts_connections_on_the_port() {
        let fixture = Fixture::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let args = json!({ "port": port, "state": "drained", "timeout": 10,
                           "active_connection_states": ["ESTABLISHED"] });
        let plan = fixture.plan("wait_for", args.clone()).await.unwrap();
        assert_eq!(plan.steps.len(), 1, "a connection is open: {plan:?}");
        drop(client);
        drop(server_side);
        let plan = fixture.plan("wait_for", args).await.unwrap();
        assert!(
            plan.steps.is_empty(),
            "no established connection is left: {plan:?}"
        );
    }
}
