//! The SSH transport against real OpenSSH daemons on loopback ports, started by each test
//! with `tests/rig/sshd-hosts.sh` and stopped when it ends. All hosts share this machine's
//! filesystem, so every host writes under its own path.
//!
//! Without `/usr/sbin/sshd` these tests fail (install openssh-server; CI does): a test
//! that cannot reach its target must not pass.

#[path = "support/targets.rs"]
mod targets;

use rplay::template::VarMap;
use rplay::transport::{for_host, ConnectionOptions};
use rplay_modules::{Exec, FileAttrs, Transport, TransportError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use targets::Run;

/// N sshd daemons, stopped on drop.
struct Rig {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
}

impl Rig {
    fn start(count: usize) -> Rig {
        // Each rig of this test run takes ports from a range of its own, so that a port
        // freed by a stopped host is never taken over by a rig started alongside.
        static RIGS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let rig_number = RIGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base_port = 22001 + 20 * rig_number;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new(script())
            .env("BASE_PORT", base_port.to_string())
            .arg(count.to_string())
            .arg(dir.path())
            .output()
            .expect("running tests/rig/sshd-hosts.sh");
        assert!(
            output.status.success(),
            "the sshd rig did not start (is openssh-server installed?):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ports: Vec<u16> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.trim().parse().expect("a port per line"))
            .collect();
        assert_eq!(ports.len(), count, "one port per host");
        Rig { dir, ports }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn key(&self) -> String {
        self.path("id_ed25519").display().to_string()
    }

    /// Port of host `h{index}` (1-based, as the rig names them).
    fn port(&self, index: usize) -> u16 {
        self.ports[index - 1]
    }

    fn sshd_pid(&self, index: usize) -> u32 {
        self.text(&format!("h{index}/sshd.pid"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Stops one daemon, as a host going down would.
    fn stop_host(&self, index: usize) {
        let pid = self.sshd_pid(index);
        let status = Command::new("kill").arg(pid.to_string()).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The helper shells of hosts h1..hN removed their files once rplay was done with
    /// them (the rig points each host's `TMPDIR` into its own directory).
    fn assert_helpers_cleaned_up(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for index in 1..=count {
            let tmp = self.path(&format!("h{index}/tmp"));
            loop {
                let left: Vec<String> = std::fs::read_dir(&tmp)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", tmp.display()))
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                if left.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "h{index} kept {left:?} after rplay ended; processes: {:?}",
                    self.process_tree(index)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// How many logins host `h{index}` accepted, from its log.
    fn logins(&self, index: usize) -> usize {
        self.text(&format!("h{index}/sshd.log"))
            .matches("Accepted publickey")
            .count()
    }

    /// How many sessions (channels running a command) host `h{index}` started.
    fn sessions(&self, index: usize) -> usize {
        self.text(&format!("h{index}/sshd.log"))
            .matches("Starting session")
            .count()
    }

    /// An INI inventory of hosts h1..hN, with the rig's key and `known_hosts` file.
    fn inventory(&self, known_hosts: &Path) -> String {
        let mut text = String::from("[rig]\n");
        for (index, port) in self.ports.iter().enumerate() {
            text.push_str(&format!("h{} ansible_port={port}\n", index + 1));
        }
        text.push_str(&format!(
            "[rig:vars]\nansible_host=127.0.0.1\nansible_user=root\nansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={}'\n",
            self.key(),
            known_hosts.display()
        ));
        text
    }

    /// Variables of host `h{index}` for building a transport directly.
    fn vars(&self, index: usize) -> VarMap {
        let mut vars = VarMap::new();
        vars.insert("ansible_host".into(), "127.0.0.1".into());
        vars.insert("ansible_port".into(), self.port(index).into());
        vars.insert("ansible_user".into(), "root".into());
        vars.insert("ansible_ssh_private_key_file".into(), self.key().into());
        vars.insert(
            "ansible_ssh_common_args".into(),
            format!(
                "-o UserKnownHostsFile={}",
                self.path("known_hosts").display()
            )
            .into(),
        );
        vars
    }

    fn transport(&self, index: usize) -> Arc<dyn Transport> {
        for_host(
            &format!("h{index}"),
            &self.vars(index),
            &ConnectionOptions::default(),
        )
        .expect("an ssh transport")
    }

    /// Runs `rplay -i inventory playbook.yml` from the rig's directory, with the rig's
    /// directory as `HOME` so no personal `~/.ssh` takes part.
    fn rplay(&self, env: &[(&str, &str)]) -> Run {
        self.rplay_with(&[], env)
    }

    /// `rplay -i inventory playbook.yml ARGS...`, as [`Rig::rplay`].
    fn rplay_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args, env);
        let output = command.output().expect("running rplay");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }

    /// The command [`Rig::rplay_with`] runs, for tests that drive it themselves.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = self.bare_command(env);
        command.args(["-i", "inventory", "playbook.yml"]).args(args);
        command
    }

    /// rplay with no arguments yet, in the rig's directory and environment as
    /// [`Rig::command`] runs it (`ANSIBLE_*` variables of this process removed).
    fn bare_command(&self, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rplay"));
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK");
        for (key, _) in std::env::vars() {
            if key.starts_with("ANSIBLE_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// `rplay -i inventory playbook.yml ARGS...` on a pseudo-terminal (util-linux
    /// `script`), answering each prompt once it shows, as a person at the terminal would.
    /// The terminal carries both output streams; escape sequences and carriage returns
    /// are taken out.
    fn rplay_in_terminal(&self, args: &[&str], answers: &[(&str, &str)]) -> Run {
        use std::io::{Read, Write};
        let mut words = vec![env!("CARGO_BIN_EXE_rplay").to_string()];
        words.extend(["-i", "inventory", "playbook.yml"].map(String::from));
        words.extend(args.iter().map(|a| a.to_string()));
        let line = words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = self.command(&[], &[]);
        let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = command
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        let mut script = Command::new("script");
        script
            .args(["-qfec", &format!("exec {line}"), "/dev/null"])
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in envs {
            match value {
                Some(value) => script.env(key, value),
                None => script.env_remove(key),
            };
        }
        command = script;
        let mut child = command.spawn().expect("util-linux `script` runs");
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            })
        };
        let text = |seen: &Arc<std::sync::Mutex<Vec<u8>>>| {
            String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
        };
        let mut consumed = 0;
        for (prompt, answer) in answers {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let shown = text(&seen);
                if let Some(at) = shown[consumed.min(shown.len())..].find(prompt) {
                    consumed += at + prompt.len();
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no prompt {prompt:?} on the terminal:\n{shown}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rplay did not finish:\n{}", text(&seen));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(stdin);
        reader.join().unwrap();
        Run {
            stdout: strip_terminal_codes(&text(&seen)),
            stderr: String::new(),
            status: status.code().unwrap_or(-1),
        }
    }

    /// `setsid rplay ...`: no controlling terminal at all, whatever runs the tests; the
    /// given bytes on standard input.
    fn rplay_without_terminal(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let rplay = self.command(args, &[]);
        let mut command = Command::new("setsid");
        command
            .arg(rplay.get_program())
            .args(rplay.get_args())
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in rplay.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let mut child = command.spawn().expect("setsid runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }

    /// A client key with a passphrase that every host accepts.
    fn locked_key(&self, passphrase: &str) -> String {
        let path = self.path("id_locked");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let mut authorized = self.text("authorized_keys");
        authorized.push_str(&self.text("id_locked.pub"));
        self.write("authorized_keys", &authorized);
        path.display().to_string()
    }

    /// Processes named `name` running under host `h{index}`'s daemon.
    fn processes_under(&self, index: usize, name: &str) -> usize {
        self.process_tree(index)
            .iter()
            .filter(|(_, comm)| comm == name)
            .count()
    }

    /// Pid and command name of every process descending from host `h{index}`'s daemon.
    fn process_tree(&self, index: usize) -> Vec<(u32, String)> {
        let root = self.sshd_pid(index);
        let mut parents = std::collections::HashMap::new();
        let mut names = std::collections::HashMap::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after `)`.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let ppid: u32 = stat[close + 2..]
                .split(' ')
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            parents.insert(pid, ppid);
            names.insert(pid, stat[open + 1..close].to_string());
        }
        names
            .into_iter()
            .filter(|(pid, _)| {
                let mut current = *pid;
                for _ in 0..32 {
                    match parents.get(&current) {
                        Some(&parent) if parent == root => return true,
                        Some(&parent) if parent > 1 => current = parent,
                        _ => return false,
                    }
                }
                false
            })
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Terminal output without escape sequences and carriage returns.
fn strip_terminal_codes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/sshd-hosts.sh")
}

fn recap(host: &str, ok: u32, changed: u32, unreachable: u32) -> String {
    format!("{host} : ok={ok} changed={changed} unreachable={unreachable} failed=0 skipped=0 rescued=0 ignored=0")
}

/// command, file, copy and stat on every host, each writing under `out/HOST`.
fn node_playbook(out: &Path) -> String {
    format!(
        r#"- hosts: all
  gather_facts: false
  tasks:
    - name: ask the host its name
      command: echo hello from {{{{ inventory_hostname }}}}
      register: hello
      changed_when: false
    - name: a directory per host
      file:
        path: {out}/{{{{ inventory_hostname }}}}
        state: directory
        mode: "0750"
    - name: a file per host
      copy:
        content: "{{{{ hello.stdout }}}}\n"
        dest: {out}/{{{{ inventory_hostname }}}}/hello.txt
        mode: "0640"
    - stat:
        path: {out}/{{{{ inventory_hostname }}}}/hello.txt
      register: written
    - assert:
        that:
          - written.stat.exists
          - written.stat.mode == "0640"
"#,
        out = out.display()
    )
}

#[test]
fn a_playbook_reaches_every_host_over_one_connection_and_runs_again_unchanged() {
    let rig = Rig::start(3);
    let out = rig.path("out");
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    rig.write("playbook.yml", &node_playbook(&out));

    let first = rig.rplay(&[]);
    first.assert_status(0);
    for host in ["h1", "h2", "h3"] {
        assert_eq!(first.recap(host), recap(host, 5, 2, 0));
        assert_eq!(
            rig.text(&format!("out/{host}/hello.txt")),
            format!("hello from {host}\n")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(host).join("hello.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o640);
    }

    let second = rig.rplay(&[]);
    second.assert_status(0);
    rig.assert_helpers_cleaned_up(3);
    for (index, host) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(second.recap(host), recap(host, 5, 0, 0));
        // Two runs: one login and one helper session each, not one per command.
        assert_eq!(rig.logins(index + 1), 2, "logins on {host}");
        assert_eq!(rig.sessions(index + 1), 2, "sessions on {host}");
    }
}

#[test]
fn an_unknown_host_key_is_refused_and_the_other_hosts_finish() {
    let rig = Rig::start(3);
    let unknown = format!("[127.0.0.1]:{}", rig.port(2));
    let known: String = rig
        .text("known_hosts")
        .lines()
        .filter(|line| !line.starts_with(&unknown))
        .map(|line| format!("{line}\n"))
        .collect();
    rig.write("partial_known_hosts", &known);
    rig.write(
        "inventory",
        &rig.inventory(&rig.path("partial_known_hosts")),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));

    let run = rig.rplay(&[]);
    run.assert_status(4);
    assert!(
        run.stdout.contains(&format!(
            "fatal: [h2]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"host key for `{unknown}` is not known (ssh-ed25519 SHA256:"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("and host key checking is strict"));
    assert_eq!(run.recap("h1"), recap("h1", 5, 2, 0));
    assert_eq!(run.recap("h2"), recap("h2", 0, 0, 1));
    assert_eq!(run.recap("h3"), recap("h3", 5, 2, 0));
    assert!(!rig.path("out/h2").exists());
    assert_eq!(rig.logins(2), 0, "no login on a host whose key is unknown");
}

#[test]
fn a_changed_host_key_is_refused_naming_the_known_hosts_line() {
    let rig = Rig::start(2);
    let other = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(rig.path("other_key"))
        .status()
        .unwrap();
    assert!(other.success());
    let other_key: String = rig
        .text("other_key.pub")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let changed = format!("[127.0.0.1]:{}", rig.port(2));
    let lines: Vec<String> = rig
        .text("known_hosts")
        .lines()
        .map(|line| {
            if line.starts_with(&changed) {
                format!("{changed} {other_key}")
            } else {
                line.to_string()
            }
        })
        .collect();
    rig.write(
        "changed_known_hosts",
        &format!("# rig\n{}\n", lines.join("\n")),
    );
    rig.write(
        "inventory",
        &rig.inventory(&rig.path("changed_known_hosts")),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));

    let run = rig.rplay(&[]);
    run.assert_status(4);
    // Line 1 is the comment, h1 is line 2, h2 line 3.
    let expected = format!("host key for `{changed}` changed (ssh-ed25519 SHA256:");
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("see ~/changed_known_hosts:3; if the host was rebuilt, remove that line"),
        "{}",
        run.stdout
    );
    assert_eq!(run.recap("h1"), recap("h1", 5, 2, 0));
    assert_eq!(run.recap("h2"), recap("h2", 0, 0, 1));

    // No setting lets a changed key through: not Ansible's `host_key_checking = False`
    // (from the environment or the inventory), not `--host-key-checking off`, not
    // `StrictHostKeyChecking no`. Each refuses h2 naming the same line.
    let inventory = rig.inventory(&rig.path("changed_known_hosts"));
    let ways: [(&str, Vec<&str>, Vec<(&str, &str)>, String); 4] = [
        (
            "ANSIBLE_HOST_KEY_CHECKING=False",
            vec![],
            vec![("ANSIBLE_HOST_KEY_CHECKING", "False")],
            inventory.clone(),
        ),
        (
            "--host-key-checking off",
            vec!["--host-key-checking", "off"],
            vec![],
            inventory.clone(),
        ),
        (
            "ansible_host_key_checking=false",
            vec![],
            vec![],
            inventory.replace(
                "[rig:vars]\n",
                "[rig:vars]\nansible_host_key_checking=false\n",
            ),
        ),
        (
            "StrictHostKeyChecking=no",
            vec![],
            vec![],
            inventory.replace(
                "-o UserKnownHostsFile",
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile",
            ),
        ),
    ];
    for (way, args, env, inventory) in ways {
        rig.write("inventory", &inventory);
        let run = rig.rplay_with(&args, &env);
        run.assert_status(4);
        assert!(
            run.stdout.contains(&expected)
                && run
                    .stdout
                    .contains("see ~/changed_known_hosts:3; if the host was rebuilt"),
            "with {way}:\n{}",
            run.stdout
        );
        assert_eq!(run.recap("h1"), recap("h1", 5, 0, 0), "with {way}");
        assert_eq!(run.recap("h2"), recap("h2", 0, 0, 1), "with {way}");
    }
    assert_eq!(rig.logins(2), 0, "no login on a host whose key changed");
    assert_eq!(
        rig.text("changed_known_hosts"),
        format!("# rig\n{}\n", lines.join("\n")),
        "the changed line is never replaced"
    );
}

#[test]
fn checking_off_accepts_and_records_unknown_keys() {
    let rig = Rig::start(2);
    rig.write("recorded_known_hosts", "");
    rig.write(
        "inventory",
        &rig.inventory(&rig.path("recorded_known_hosts")),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay_with(&["--host-key-checking", "off"], &[]);
    run.assert_status(0);
    // The host names may be hashed (Debian's ssh_config says `HashKnownHosts yes`): compare
    // the keys.
    let keys = |text: String| {
        let mut keys: Vec<String> = text
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(rig.text("recorded_known_hosts")),
        keys(rig.text("known_hosts")),
        "the hosts' keys were recorded"
    );
    // Recorded, the keys now pass strict checking.
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("h2"), recap("h2", 5, 0, 0));
}

#[test]
fn connection_variables_may_be_templates() {
    let rig = Rig::start(2);
    // The address and port come from other variables, through `hostvars` and directly,
    // as they often do when an inventory is generated.
    let inventory = format!(
        r#"all:
  vars:
    rig_address: 127.0.0.1
    ansible_host: "{{{{ hostvars[inventory_hostname].rig_address }}}}"
    ansible_port: "{{{{ rig_port | int }}}}"
    rig_user: root
    ansible_user: "{{{{ rig_user }}}}"
    ansible_ssh_private_key_file: "{{{{ rig_dir }}}}/id_ed25519"
    ansible_ssh_common_args: "-o UserKnownHostsFile={{{{ rig_dir }}}}/known_hosts"
    rig_dir: {dir}
  hosts:
    h1:
      rig_port: {port1}
    h2:
      rig_port: "{{{{ {port2} }}}}"
"#,
        dir = rig.dir.path().display(),
        port1 = rig.port(1),
        port2 = rig.port(2),
    );
    rig.write("inventory", &inventory);
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("h1"), recap("h1", 5, 2, 0));
    assert_eq!(run.recap("h2"), recap("h2", 5, 2, 0));
    assert_eq!(rig.logins(1), 1);
    assert_eq!(rig.logins(2), 1);

    // A connection variable that does not render fails the host's task, naming it.
    rig.write(
        "inventory",
        &inventory.replace("{{ rig_port | int }}", "{{ rig_port_typo }}"),
    );
    let run = rig.rplay(&[]);
    run.assert_status(2);
    assert!(run.stdout.contains("rig_port_typo"), "{}", run.stdout);
}

#[test]
fn a_task_delegated_to_another_host_runs_over_that_hosts_connection() {
    let rig = Rig::start(3);
    let out = rig.path("out");
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    // Each rig host runs its commands with its own TMPDIR: it tells where a command ran.
    rig.write(
        "playbook.yml",
        &format!(
            r#"- hosts: h1:h2
  gather_facts: false
  tasks:
    - name: where the delegated command runs
      shell: echo "{{{{ inventory_hostname }}}} ran on $TMPDIR" > {out}/{{{{ inventory_hostname }}}}.where
      delegate_to: h3
    - name: a file written by the delegate
      copy:
        content: "for {{{{ inventory_hostname }}}}\n"
        dest: "{out}/{{{{ inventory_hostname }}}}.copied"
      delegate_to: "{{{{ groups['rig'] | last }}}}"
    - name: a delegate named by the loop item
      shell: echo "$TMPDIR" > {out}/{{{{ inventory_hostname }}}}-{{{{ item }}}}.where
      delegate_to: "{{{{ item }}}}"
      loop: [h3]
    - name: a fact for the delegate
      set_fact:
        seen_from: "{{{{ inventory_hostname }}}}"
      delegate_to: h3
      delegate_facts: true
      run_once: true
    - name: the delegate has it
      assert:
        that:
          - hostvars['h3'].seen_from == 'h1'
          - seen_from is not defined
"#,
            out = out.display()
        ),
    );
    std::fs::create_dir_all(&out).unwrap();
    let run = rig.rplay(&[]);
    run.assert_status(0);
    let h3_tmp = rig.path("h3/tmp").display().to_string();
    assert_eq!(rig.text("out/h1.where"), format!("h1 ran on {h3_tmp}\n"));
    assert_eq!(rig.text("out/h2.where"), format!("h2 ran on {h3_tmp}\n"));
    assert_eq!(rig.text("out/h1.copied"), "for h1\n");
    assert_eq!(rig.text("out/h2-h3.where"), format!("{h3_tmp}\n"));
    assert!(
        run.stdout.contains("changed: [h1 -> h3]") && run.stdout.contains("changed: [h2 -> h3]"),
        "{}",
        run.stdout
    );
    // The recap counts the hosts the tasks ran for; h3 is not one of them.
    assert_eq!(run.recap("h1"), recap("h1", 5, 3, 0));
    assert_eq!(run.recap("h2"), recap("h2", 4, 3, 0));
    assert!(
        !run.stdout
            .lines()
            .skip_while(|line| !line.starts_with("PLAY RECAP"))
            .any(|line| line.starts_with("h3 ")),
        "{}",
        run.stdout
    );
    // Both hosts' delegated tasks shared h3's one connection; h1 and h2 were never
    // contacted.
    assert_eq!(rig.logins(3), 1);
    assert_eq!(rig.logins(1), 0);
    assert_eq!(rig.logins(2), 0);
}

#[test]
fn a_stopped_sshd_is_unreachable_and_the_other_hosts_finish() {
    let rig = Rig::start(3);
    rig.stop_host(3);
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(4);
    assert!(
        run.stdout.contains(&format!(
            "fatal: [h3]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"failed to connect to `root@127.0.0.1` port {} via ssh: connection refused\"",
            rig.port(3)
        )),
        "{}",
        run.stdout
    );
    assert_eq!(run.recap("h1"), recap("h1", 5, 2, 0));
    assert_eq!(run.recap("h2"), recap("h2", 5, 2, 0));
    assert_eq!(run.recap("h3"), recap("h3", 0, 0, 1));
}

#[test]
fn accept_new_records_unknown_keys_which_strict_checking_then_accepts() {
    let rig = Rig::start(2);
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    for (file, hash) in [("plain_known_hosts", "no"), ("hashed_known_hosts", "yes")] {
        let recorded = rig.path(file);
        let inventory = rig.inventory(&recorded).replace(
            "ansible_ssh_common_args='-o",
            &format!(
                "ansible_ssh_common_args='-o StrictHostKeyChecking=accept-new -o HashKnownHosts={hash} -o"
            ),
        );
        rig.write("inventory", &inventory);
        rig.rplay(&[]).assert_status(0);
        let mut lines: Vec<String> = rig.text(file).lines().map(str::to_string).collect();
        lines.sort();
        if hash == "no" {
            let mut expected: Vec<String> = rig
                .text("known_hosts")
                .lines()
                .map(str::to_string)
                .collect();
            expected.sort();
            assert_eq!(lines, expected, "the recorded lines are the hosts' keys");
        } else {
            assert_eq!(lines.len(), 2);
            assert!(lines.iter().all(|l| l.starts_with("|1|")), "{lines:?}");
        }
        rig.write("inventory", &rig.inventory(&recorded));
        let run = rig.rplay(&[]);
        run.assert_status(0);
        assert_eq!(run.recap("h1"), recap("h1", 5, 0, 0));
    }
}

#[test]
fn a_certificate_authority_vouches_for_host_keys() {
    let rig = Rig::start(2);
    rig.write(
        "ca_known_hosts",
        &format!("@cert-authority [127.0.0.1]:* {}", rig.text("host_ca.pub")),
    );
    rig.write("inventory", &rig.inventory(&rig.path("ca_known_hosts")));
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(0);

    // A CA nobody trusts does not.
    let other = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(rig.path("other_ca"))
        .status()
        .unwrap();
    assert!(other.success());
    rig.write(
        "ca_known_hosts",
        &format!("@cert-authority [127.0.0.1]:* {}", rig.text("other_ca.pub")),
    );
    let run = rig.rplay(&[]);
    run.assert_status(4);
    assert!(
        run.stdout.contains("host certificate for `[127.0.0.1]:"),
        "{}",
        run.stdout
    );

    // As with OpenSSH, a plain line for the certificate's key still vouches for it.
    rig.write(
        "ca_known_hosts",
        &format!(
            "@cert-authority [127.0.0.1]:* {}{}",
            rig.text("other_ca.pub"),
            rig.text("known_hosts")
        ),
    );
    rig.rplay(&[]).assert_status(0);
}

#[test]
fn ssh_config_supplies_address_port_user_and_key() {
    let rig = Rig::start(1);
    rig.write(
        ".ssh/config",
        &format!(
            "Host web\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            rig.port(1),
            rig.key(),
            rig.path("known_hosts").display()
        ),
    );
    rig.write("inventory", "web\n");
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("web"), recap("web", 5, 2, 0));
    assert_eq!(rig.text("out/web/hello.txt"), "hello from web\n");
}

#[test]
fn targets_behind_a_jump_host_share_one_connection_to_it() {
    let rig = Rig::start(3);
    // h1 is the bastion; only h2 and h3 are in the inventory.
    let inventory = format!(
        "[behind]\nh2 ansible_port={}\nh3 ansible_port={}\n[behind:vars]\nansible_host=127.0.0.1\nansible_user=root\nansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={} -J root@127.0.0.1:{}'\n",
        rig.port(2),
        rig.port(3),
        rig.key(),
        rig.path("known_hosts").display(),
        rig.port(1)
    );
    rig.write("inventory", &inventory);
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("h2"), recap("h2", 5, 2, 0));
    assert_eq!(run.recap("h3"), recap("h3", 5, 2, 0));
    assert_eq!(
        rig.logins(1),
        1,
        "one login on the bastion for both targets"
    );
    assert_eq!(rig.sessions(1), 0, "no command runs on the bastion");
    assert_eq!(rig.logins(2), 1);
    assert_eq!(rig.logins(3), 1);
}

#[test]
fn a_proxy_command_carries_the_connection() {
    let rig = Rig::start(2);
    // OpenSSH's client, through h1, carries the connection to h2.
    let proxy = format!(
        "ssh -i {} -o BatchMode=yes -o UserKnownHostsFile={} -p {} -W %h:%p root@127.0.0.1",
        rig.key(),
        rig.path("known_hosts").display(),
        rig.port(1)
    );
    let inventory = format!(
        "h2 ansible_host=127.0.0.1 ansible_port={} ansible_user=root ansible_ssh_private_key_file={} ansible_ssh_common_args='-o UserKnownHostsFile={} -o \"ProxyCommand={proxy}\"'\n",
        rig.port(2),
        rig.key(),
        rig.path("known_hosts").display(),
    );
    rig.write("inventory", &inventory);
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("h2"), recap("h2", 5, 2, 0));
    assert_eq!(rig.logins(1), 1, "the proxy logged in to h1");
    assert_eq!(rig.logins(2), 1);
}

#[test]
fn an_encrypted_key_is_unlocked_once_with_a_passphrase_asked_on_the_terminal() {
    let rig = Rig::start(3);
    let key = rig.locked_key("rig passphrase");
    rig.write(
        "inventory",
        &rig.inventory(&rig.path("known_hosts"))
            .replace(&rig.key(), &key),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let prompt = "Enter passphrase for key '~/id_locked': ";
    let run = rig.rplay_in_terminal(&[], &[(prompt, "rig passphrase")]);
    run.assert_status(0);
    assert_eq!(
        run.stdout.matches("Enter passphrase for key").count(),
        1,
        "one prompt for three hosts:\n{}",
        run.stdout
    );
    assert!(!run.stdout.contains("rig passphrase"), "{}", run.stdout);
    for host in ["h1", "h2", "h3"] {
        assert_eq!(run.recap(host), recap(host, 5, 2, 0));
    }

    // With no terminal to ask on, the key is skipped, saying why, and nothing hangs.
    let run = rig.rplay_without_terminal(&[], "");
    run.assert_status(4);
    assert!(
        run.stdout.contains(
            "skipped ~/id_locked (it has a passphrase and there is no terminal to ask for it; add it to ssh-agent or set ansible_private_key_passphrase)"
        ),
        "{}",
        run.stdout
    );
    // The inventory can give the passphrase instead.
    rig.write(
        "inventory",
        &format!(
            "{}ansible_private_key_passphrase='rig passphrase'\n",
            rig.inventory(&rig.path("known_hosts"))
                .replace(&rig.key(), &key)
        ),
    );
    let run = rig.rplay_without_terminal(&[], "");
    run.assert_status(0);
    assert_eq!(run.recap("h1"), recap("h1", 5, 0, 0));
}

/// The become password reaches sudo here without sudo asking for it (the rig logs in as
/// root), so what is checked is the prompting, the silence of the terminal, and that the
/// password stays out of every output. Sudo asking for it, and refusing a wrong one, needs
/// a user with a password: see the real-target rig.
#[test]
fn ask_pass_and_ask_become_pass_prompt_on_the_terminal_without_echo() {
    let rig = Rig::start(2);
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    rig.write(
        "playbook.yml",
        r#"- hosts: all
  gather_facts: false
  become: true
  become_user: nobody
  tasks:
    - command: id -un
      register: who
    - assert:
        that: who.stdout == "nobody"
"#,
    );
    let run = rig.rplay_in_terminal(
        &["-k", "-K", "-v"],
        &[
            ("SSH password: ", "ssh-pass-s3cret"),
            ("BECOME password[defaults to SSH password]: ", ""),
        ],
    );
    run.assert_status(0);
    assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
    assert_eq!(run.recap("h1"), recap("h1", 2, 1, 0));
    assert_eq!(run.recap("h2"), recap("h2", 2, 1, 0));

    // Without a terminal, as Python's getpass does for Ansible, standard input answers.
    let run = rig.rplay_without_terminal(&["-K"], "become-s3cret\n");
    run.assert_status(0);
    assert!(
        run.stderr.contains("BECOME password: "),
        "the prompt goes to stderr: {}",
        run.stderr
    );
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
    assert_eq!(run.recap("h2"), recap("h2", 2, 1, 0));
    // And with nothing there, the run stops before touching a host.
    let run = rig.rplay_without_terminal(&["-K"], "");
    run.assert_status(5);
    assert!(
        run.stderr
            .contains("cannot read the become password: standard input ended"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_ask_pass_password_is_offered_to_sshd() {
    let rig = Rig::start(1);
    // Let h1 take passwords (it checks them against this machine's accounts, which know
    // no such password), then reload it.
    let config = rig
        .text("h1/sshd_config")
        .replace("PasswordAuthentication no", "PasswordAuthentication yes");
    rig.write("h1/sshd_config", &config);
    let pid = rig.sshd_pid(1);
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rig.text("h1/sshd.log").contains("Server listening") {
        assert!(Instant::now() < deadline, "h1 did not restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // No key it accepts: only the password is left to try.
    let other = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(rig.path("unknown_key"))
        .status()
        .unwrap();
    assert!(other.success());
    rig.write(
        "inventory",
        &rig.inventory(&rig.path("known_hosts"))
            .replace(&rig.key(), &rig.path("unknown_key").display().to_string()),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run = rig.rplay_in_terminal(&["-k"], &[("SSH password: ", "not-root's-password")]);
    run.assert_status(4);
    assert!(
        run.stdout
            .contains("authentication failed for user `root` (tried ")
            && run.stdout.contains(", password"),
        "{}",
        run.stdout
    );
    assert!(
        rig.text("h1/sshd.log").contains("Failed password for root"),
        "{}",
        rig.text("h1/sshd.log")
    );
    assert!(!run.stdout.contains("not-root's-password"));
}

/// Sends SIGINT to a running rplay, as Ctrl-C does, once `ready` says the moment has come,
/// and waits for it to end.
fn interrupt_when(rig: &Rig, mut ready: impl FnMut() -> bool) -> (Run, Duration) {
    let mut child = rig
        .command(&[], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rplay starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the moment to interrupt never came:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let run = Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        status: output.status.code().unwrap_or(-1),
    };
    (run, sent.elapsed())
}

#[test]
fn ctrl_c_stops_long_commands_on_every_host_and_ends_with_a_recap() {
    let rig = Rig::start(3);
    let out = rig.path("out");
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    rig.write(
        "playbook.yml",
        &format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "before\n"
        dest: "{out}/{{{{ inventory_hostname }}}}.before"
    - command: sleep 600
    - copy:
        content: "after\n"
        dest: "{out}/{{{{ inventory_hostname }}}}.after"
  handlers: []
"#,
            out = out.display()
        ),
    );
    std::fs::create_dir_all(&out).unwrap();
    let (run, took) = interrupt_when(&rig, || {
        (1..=3).all(|i| rig.processes_under(i, "sleep") == 1)
    });
    run.assert_status(99);
    assert!(
        took < Duration::from_secs(20),
        "rplay took {took:?} to stop"
    );
    assert!(
        run.stderr.contains("[ERROR]: User interrupted execution"),
        "{}",
        run.stderr
    );
    // The recap counts what finished; the interrupted task is no result.
    for host in ["h1", "h2", "h3"] {
        assert_eq!(run.recap(host), recap(host, 1, 1, 0));
        assert!(rig.path(&format!("out/{host}.before")).exists());
        assert!(!rig.path(&format!("out/{host}.after")).exists());
    }
    // The remote commands were stopped, and the helper shells cleaned up after them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (1..=3).any(|i| rig.processes_under(i, "sleep") > 0) {
        assert!(Instant::now() < deadline, "a `sleep` outlived the run");
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.assert_helpers_cleaned_up(3);
}

#[test]
fn ctrl_c_while_files_are_written_leaves_no_half_written_file() {
    let rig = Rig::start(3);
    let out = rig.path("out");
    // 4 MiB files, thirty to each host: the interruption lands while files are on
    // their way or being written.
    let content: Vec<u8> = (0..(4u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    std::fs::write(rig.path("big.bin"), &content).unwrap();
    rig.write("inventory", &rig.inventory(&rig.path("known_hosts")));
    rig.write(
        "playbook.yml",
        &format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - file:
        path: "{out}/{{{{ inventory_hostname }}}}"
        state: directory
    - copy:
        src: big.bin
        dest: "{out}/{{{{ inventory_hostname }}}}/big-{{{{ item }}}}.bin"
      loop: "{{{{ range(30) | list }}}}"
"#,
            out = out.display()
        ),
    );
    let first = out.join("h1/big-0.bin");
    let (run, took) = interrupt_when(&rig, || first.exists());
    run.assert_status(99);
    assert!(
        took < Duration::from_secs(20),
        "rplay took {took:?} to stop"
    );
    // Stopped commands clean up on their own, right after rplay ends: wait (bounded) for
    // their temporary files to go, however slow the machine.
    let deadline = Instant::now() + Duration::from_secs(15);
    while ["h1", "h2", "h3"].iter().any(|host| {
        std::fs::read_dir(out.join(host))
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".rplay"))
            })
            .unwrap_or(false)
    }) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for host in ["h1", "h2", "h3"] {
        let dir = out.join(host);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(".rplay")),
            "{host} kept a temporary file: {names:?}"
        );
        assert!(names.len() < 30, "{host} finished before the interruption");
        for name in names {
            assert!(
                std::fs::read(dir.join(&name)).unwrap() == content,
                "{host}/{name} is not the whole file"
            );
        }
    }
    rig.assert_helpers_cleaned_up(3);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn output_that_imitates_framing_or_is_binary_comes_back_byte_exact() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    let junk = rig.path("junk.bin");
    runtime().block_on(async {
        // Bytes that look like a reply header, then random bytes written to a file too.
        let script = format!(
            "printf 'rplay-00000000000000000000000000000000 0 1\\n5 a\\n0 b\\n5 total\\n'; head -c 200000 /dev/urandom | tee {}; printf 'err\\0or' >&2; exit 7",
            junk.display()
        );
        let output = transport
            .run(&Exec::new(["sh", "-c", script.as_str()]))
            .await
            .unwrap();
        let header = b"rplay-00000000000000000000000000000000 0 1\n5 a\n0 b\n5 total\n";
        let mut expected = header.to_vec();
        expected.extend(std::fs::read(&junk).unwrap());
        assert_eq!(output.rc, 7);
        assert_eq!(output.stdout.len(), expected.len());
        assert!(output.stdout == expected, "stdout differs");
        assert_eq!(output.stderr, b"err\0or");
        // The helper is still in step for the next command.
        let next = transport
            .run(&Exec::new(["printf", "%s", "next"]).cwd("/"))
            .await
            .unwrap();
        assert_eq!(next.stdout, b"next");
    });
}

#[test]
fn put_and_get_a_mebibyte_byte_exact() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    let path = rig.path("big.bin");
    let path_text = path.display().to_string();
    let content: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    runtime().block_on(async {
        let attrs = FileAttrs {
            mode: Some(0o600),
            ..FileAttrs::default()
        };
        transport.put(&path_text, &content, &attrs).await.unwrap();
        assert!(
            std::fs::read(&path).unwrap() == content,
            "the file on disk differs"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o600);
        let back = transport.get(&path_text).await.unwrap().expect("the file");
        assert!(back == content, "the file read back differs");
        let missing = rig.path("missing").display().to_string();
        assert_eq!(transport.get(&missing).await.unwrap(), None);
        let leftovers: Vec<_> = std::fs::read_dir(rig.dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".rplay"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left behind");
    });
}

#[test]
fn parallel_callers_share_at_most_four_helper_shells() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    let done = std::sync::atomic::AtomicBool::new(false);
    let most = runtime().block_on(async {
        let calls = (0..12).map(|_| {
            let transport = transport.clone();
            async move { transport.run(&Exec::new(["sleep", "1"])).await.unwrap() }
        });
        let calls = async {
            let outputs = futures::future::join_all(calls).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            outputs
        };
        // Watches the host's processes for as long as the calls take, however slow the
        // machine: the count is about concurrency, not speed.
        let watcher = async {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(rig.processes_under(1, "sleep"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            most
        };
        let (outputs, most) = tokio::join!(calls, watcher);
        assert!(outputs.iter().all(|o| o.rc == 0));
        most
    });
    // Each command lasts a second, so the sampler sees several at once; it never sees a
    // fifth, and the twelve went through four helper shells on one login.
    assert!((2..=4).contains(&most), "{most} commands at once");
    assert_eq!(rig.logins(1), 1);
    assert_eq!(rig.sessions(1), 4);
}

#[test]
fn a_wrong_key_fails_authentication_naming_the_user_and_keys() {
    let rig = Rig::start(1);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(rig.path("wrong_key"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut vars = rig.vars(1);
    let wrong = rig.path("wrong_key").display().to_string();
    vars.insert("ansible_ssh_private_key_file".into(), wrong.clone().into());
    let transport = for_host("h1", &vars, &ConnectionOptions::default()).unwrap();
    let error = runtime()
        .block_on(transport.run(&Exec::new(["true"])))
        .unwrap_err();
    match error {
        TransportError::Unreachable(message) => assert!(
            message.starts_with(&format!(
                "authentication failed for user `root` (tried {wrong}"
            )),
            "{message}"
        ),
        other => panic!("expected unreachable, got {other:?}"),
    }
}

#[test]
fn a_connection_lost_mid_command_is_unreachable_and_the_next_call_reconnects() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    let runtime = runtime();
    runtime.block_on(async {
        let running = {
            let transport = transport.clone();
            tokio::spawn(async move { transport.run(&Exec::new(["sleep", "5"])).await })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while rig.processes_under(1, "sleep") == 0 {
            assert!(Instant::now() < deadline, "the command never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Kill the sshd processes serving the connection at once, as a crash or a
        // network cut would; the listener is left alone.
        let connection_processes: Vec<String> = rig
            .process_tree(1)
            .into_iter()
            .filter(|(_, name)| name == "sshd")
            .map(|(pid, _)| pid.to_string())
            .collect();
        let killed = Command::new("kill")
            .arg("-KILL")
            .args(&connection_processes)
            .status()
            .unwrap();
        assert!(killed.success());
        let error = running.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, TransportError::Unreachable(m) if m.contains("lost")),
            "{error:?}"
        );
        assert_eq!(transport.run(&Exec::new(["true"])).await.unwrap().rc, 0);
    });
    assert_eq!(rig.logins(1), 2);
}

#[test]
fn a_helper_shell_killed_while_idle_is_replaced() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    let runtime = runtime();
    runtime.block_on(async {
        assert_eq!(transport.run(&Exec::new(["true"])).await.unwrap().rc, 0);
        let helpers: Vec<String> = rig
            .process_tree(1)
            .into_iter()
            .filter(|(_, name)| name == "sh")
            .map(|(pid, _)| pid.to_string())
            .collect();
        assert_eq!(helpers.len(), 1, "one helper shell");
        let killed = Command::new("kill")
            .arg("-KILL")
            .args(&helpers)
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let output = transport.run(&Exec::new(["echo", "ok"])).await.unwrap();
        assert_eq!(output.stdout, b"ok\n");
    });
    assert_eq!(rig.logins(1), 1, "the connection survived");
    assert_eq!(rig.sessions(1), 2, "a second helper replaced the first");
}

#[test]
fn building_a_transport_does_not_connect() {
    let rig = Rig::start(1);
    let transport = rig.transport(1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rig.logins(1), 0);
    let output = runtime()
        .block_on(transport.run(&Exec::new(["true"])))
        .unwrap();
    assert_eq!(output.rc, 0);
    assert_eq!(rig.logins(1), 1);
}

fn keygen(args: &[&str]) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", ""])
        .args(args)
        .status()
        .expect("running ssh-keygen");
    assert!(status.success(), "ssh-keygen {args:?}");
}

#[test]
fn rsa_and_ecdsa_keys_the_agent_and_user_certificates_log_in() {
    let rig = Rig::start(1);
    rig.write(
        "playbook.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    let key = |name: &str| rig.path(name).display().to_string();
    let inventory = |key_file: Option<&str>| {
        let mut text = format!(
            "h1 ansible_host=127.0.0.1 ansible_port={} ansible_user=root ansible_ssh_common_args='-o UserKnownHostsFile={}'",
            rig.port(1),
            rig.path("known_hosts").display()
        );
        if let Some(key_file) = key_file {
            text.push_str(&format!(" ansible_ssh_private_key_file={key_file}"));
        }
        text + "\n"
    };
    let authorize = |public: &str| {
        let mut keys = rig.text("authorized_keys");
        keys.push_str(&rig.text(public));
        rig.write("authorized_keys", &keys);
    };
    let accepted = || {
        rig.text("h1/sshd.log")
            .lines()
            .filter(|line| line.contains("Accepted publickey for root"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    // RSA and ECDSA key files, each listed in authorized_keys.
    for (kind, logged) in [("rsa", ": RSA SHA256:"), ("ecdsa", ": ECDSA SHA256:")] {
        keygen(&["-t", kind, "-f", &key(&format!("id_{kind}"))]);
        authorize(&format!("id_{kind}.pub"));
        rig.write("inventory", &inventory(Some(&key(&format!("id_{kind}")))));
        let run = rig.rplay(&[]);
        run.assert_status(0);
        assert!(
            accepted().last().is_some_and(|line| line.contains(logged)),
            "{kind}: {:?}",
            accepted()
        );
    }

    // A key no authorized_keys lists, with a certificate from the CA the host trusts.
    keygen(&["-t", "ed25519", "-f", &key("id_certified")]);
    keygen(&[
        "-s",
        &key("user_ca"),
        "-I",
        "rplay-test-user",
        "-n",
        "root",
        &key("id_certified.pub"),
    ]);
    rig.write("inventory", &inventory(Some(&key("id_certified"))));
    let run = rig.rplay(&[]);
    run.assert_status(0);
    assert!(
        accepted().last().is_some_and(
            |line| line.contains("ED25519-CERT") && line.contains("ID rplay-test-user")
        ),
        "{:?}",
        accepted()
    );

    // No key file at all: the agent holds the only key that works.
    keygen(&["-t", "ed25519", "-f", &key("id_agent")]);
    authorize("id_agent.pub");
    let socket = rig.path("agent.sock");
    let agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("running ssh-agent");
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Stop(agent);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent made no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(key("id_agent"))
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .expect("running ssh-add");
    assert!(added.status.success(), "{added:?}");
    let fingerprint = Command::new("ssh-keygen")
        .args(["-l", "-f"])
        .arg(key("id_agent.pub"))
        .output()
        .expect("running ssh-keygen -l");
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_string();
    rig.write("inventory", &inventory(None));
    let run = rig.rplay(&[("SSH_AUTH_SOCK", socket.to_str().unwrap())]);
    run.assert_status(0);
    assert!(
        accepted()
            .last()
            .is_some_and(|line| line.contains(&fingerprint)),
        "the agent's key {fingerprint} logged in: {:?}",
        accepted()
    );
}

#[test]
fn ansible_cfg_supplies_inventory_user_key_and_host_key_policy() {
    let rig = Rig::start(2);
    // The inventory says only where the hosts listen; user, key, host key policy and the
    // known_hosts file come from the file that ANSIBLE_CONFIG names (a directory: its
    // ansible.cfg), relative paths from the file's directory.
    rig.write(
        "hosts.ini",
        &format!(
            "h1 ansible_host=127.0.0.1 ansible_port={}\nh2 ansible_host=127.0.0.1 ansible_port={}\n",
            rig.port(1),
            rig.port(2)
        ),
    );
    rig.write("recorded_known_hosts", "");
    rig.write(
        "conf/ansible.cfg",
        &format!(
            "[defaults]\ninventory = ../hosts.ini\nremote_user = root\nprivate_key_file = ../id_ed25519\n\
             host_key_checking = False\n[ssh_connection]\n\
             ssh_args = -o ControlMaster=auto -o ControlPersist=30m\n\
             ssh_common_args = -o UserKnownHostsFile={}\nretries = 2\n",
            rig.path("recorded_known_hosts").display()
        ),
    );
    rig.write("playbook.yml", &node_playbook(&rig.path("out")));
    let run_with = |env: &[(&str, &str)]| {
        let mut command = rig.bare_command(env);
        command.arg("playbook.yml").env("ANSIBLE_CONFIG", "conf");
        let output = command.output().expect("running rplay");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    };
    let run = run_with(&[]);
    run.assert_status(0);
    assert_eq!(run.recap("h1"), recap("h1", 5, 2, 0));
    assert_eq!(run.recap("h2"), recap("h2", 5, 2, 0));
    assert_eq!(rig.text("out/h2/hello.txt"), "hello from h2\n");
    assert_eq!(
        rig.text("recorded_known_hosts").lines().count(),
        2,
        "host_key_checking = False recorded both hosts' keys"
    );
    // An environment variable comes before the file: a user the hosts refuse.
    let run = run_with(&[("ANSIBLE_REMOTE_USER", "nobody-here")]);
    run.assert_status(4);
    assert_eq!(run.recap("h1"), recap("h1", 0, 0, 1));
    assert!(run.stdout.contains("nobody-here"), "{}", run.stdout);
}
