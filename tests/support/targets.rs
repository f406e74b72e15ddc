//! Real Debian targets from `tests/rig/targets.sh`, brought up for one test and taken down
//! when it ends, and rplay run against them.
//!
//! Without root, iproute2, systemd-nspawn or the rootfs builder these tests fail with the
//! rig's message (CI installs all of them): a test that cannot reach its target must not
//! pass.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Targets {
    pub dir: tempfile::TempDir,
    pub names: Vec<String>,
}

/// How a target runs: sshd chrooted in a network namespace, or a booted systemd machine.
#[derive(Clone, Copy)]
pub enum Kind {
    Netns,
    Nspawn,
}

pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Run {
    /// The `PLAY RECAP` line of one host, whitespace squeezed.
    pub fn recap(&self, host: &str) -> String {
        self.stdout
            .lines()
            .skip_while(|line| !line.starts_with("PLAY RECAP"))
            .find(|line| line.split_whitespace().next() == Some(host))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no recap line for {host} in:\n{}", self.stdout))
    }

    pub fn assert_status(&self, status: i32) {
        assert_eq!(
            self.status, status,
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

/// A recap line with the given counts and zeros elsewhere.
pub fn recap(host: &str, ok: u32, changed: u32, unreachable: u32, failed: u32) -> String {
    format!("{host} : ok={ok} changed={changed} unreachable={unreachable} failed={failed} skipped=0 rescued=0 ignored=0")
}

/// Samples `check` until it holds, every 100 ms for at most `limit`; panics naming
/// `what` if it never does.
pub fn wait_until(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not seen within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/targets.sh")
}

impl Targets {
    pub fn up(kind: Kind, count: usize) -> Targets {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kind_name = match kind {
            Kind::Netns => "netns",
            Kind::Nspawn => "nspawn",
        };
        let output = Command::new(script())
            .args(["up", kind_name, &count.to_string()])
            .arg(dir.path())
            .output()
            .expect("running tests/rig/targets.sh");
        assert!(
            output.status.success(),
            "the {kind_name} rig did not start (needs root, iproute2, systemd-container, mmdebstrap; .ci/run installs them):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let names: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(names.len(), count, "one name per target");
        Targets { dir, names }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    pub fn address(&self, target: &str) -> String {
        self.read(&format!("{target}/address")).trim().to_string()
    }

    /// Runs a shell command on a target as root over plain OpenSSH (not rplay), for
    /// preparing a target and reading its state; panics when it fails.
    pub fn sh(&self, target: &str, command: &str) -> String {
        let (status, stdout, stderr) = self.try_sh(target, command);
        assert_eq!(status, 0, "`{command}` on {target}: {stderr}");
        stdout
    }

    /// Like `sh`, returning the exit status and both streams.
    pub fn try_sh(&self, target: &str, command: &str) -> (i32, String, String) {
        let output = Command::new(script())
            .arg("ssh")
            .arg(self.dir.path())
            .args([target, command])
            .output()
            .expect("running tests/rig/targets.sh ssh");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Like `sh`, with `input` on the command's standard input.
    pub fn sh_with_input(&self, target: &str, command: &str, input: &[u8]) -> String {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = Command::new(script())
            .arg("ssh")
            .arg(self.dir.path())
            .args([target, command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tests/rig/targets.sh ssh");
        // Dropping stdin once written closes it, so the remote command sees its end.
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().expect("ssh finished");
        assert!(
            output.status.success(),
            "`{command}` on {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Copies a directory of this machine into `remote` on a target (created if missing),
    /// as a tar stream over SSH.
    pub fn put_dir(&self, target: &str, local: &Path, remote: &str) {
        let archive = Command::new("tar")
            .arg("-C")
            .arg(local)
            .args(["-cf", "-", "."])
            .output()
            .expect("running tar");
        assert!(
            archive.status.success(),
            "tar of {}: {}",
            local.display(),
            String::from_utf8_lossy(&archive.stderr)
        );
        self.sh_with_input(
            target,
            &format!("mkdir -p '{remote}' && tar -xf - -C '{remote}'"),
            &archive.stdout,
        );
    }

    /// Takes a target off the network (`cut`) or puts it back (`mend`).
    pub fn link(&self, action: &str, target: &str) {
        let status = Command::new(script())
            .arg(action)
            .arg(self.dir.path())
            .arg(target)
            .status()
            .expect("running tests/rig/targets.sh");
        assert!(status.success(), "{action} {target}");
    }

    /// Runs rplay in the rig's directory with `-i inventory.ini` and the given arguments
    /// (after `run` for ad hoc commands);
    /// `HOME` is the rig's directory so no personal `~/.ssh` takes part.
    pub fn rplay(&self, args: &[&str]) -> Run {
        self.rplay_with(args, &[], None)
    }

    /// Starts rplay as [`Targets::rplay`] does and returns at once, for injecting a fault
    /// while it runs; [`Targets::finish`] waits for it.
    pub fn spawn_rplay(&self, args: &[&str]) -> std::process::Child {
        use std::process::Stdio;
        self.rplay_command(args, &[])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running rplay")
    }

    /// Waits for a run started by [`Targets::spawn_rplay`], at most `limit`: a run that
    /// does not end is killed and the test fails.
    pub fn finish(&self, mut child: std::process::Child, limit: std::time::Duration) -> Run {
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait().expect("waiting for rplay").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("rplay killed");
                panic!(
                    "rplay did not finish within {limit:?}; its output so far:\n{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let output = child.wait_with_output().expect("rplay finished");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }

    /// Runs a fault command of the rig on a target (`crash`, `revive`, `reset`, `pids`,
    /// `cut`, `mend`), returning its output; panics when it fails.
    pub fn fault(&self, action: &str, target: &str, extra: &[&str]) -> String {
        let output = Command::new(script())
            .arg(action)
            .arg(self.dir.path())
            .arg(target)
            .args(extra)
            .output()
            .expect("running tests/rig/targets.sh");
        assert!(
            output.status.success(),
            "targets.sh {action} {target} {extra:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts a rig command that runs in the foreground (`drop-next`).
    pub fn spawn_fault(&self, action: &str, target: &str) -> std::process::Child {
        use std::process::Stdio;
        Command::new(script())
            .arg(action)
            .arg(self.dir.path())
            .arg(target)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tests/rig/targets.sh")
    }

    pub fn rplay_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
        let mut command = self.rplay_command(args, env);
        Targets::rplay_with_command(&mut command, stdin)
    }

    fn rplay_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rplay"));
        // A subcommand (`rplay run`) comes before its options.
        let (subcommand, args) = match args.split_first() {
            Some((&"run", rest)) => (Some("run"), rest),
            _ => (None, args),
        };
        command
            .args(subcommand)
            .args(["-i", "inventory.ini"])
            .args(args)
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

    fn rplay_with_command(command: &mut Command, stdin: Option<&[u8]>) -> Run {
        let output = match stdin {
            None => command.output().expect("running rplay"),
            Some(bytes) => {
                use std::io::Write;
                command
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = command.spawn().expect("running rplay");
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                child.wait_with_output().expect("rplay finished")
            }
        };
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}
