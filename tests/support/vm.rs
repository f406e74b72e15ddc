//! A QEMU virtual machine from `tests/rig/vm.sh`, booted for one test and powered off when
//! it ends: the cached Debian 13 image, or a disk built from it (a Packer build's output).
//! State is read over plain OpenSSH (`vm.sh ssh`), not from rplay's report.
//!
//! Needs the `targets` module beside it (`Run`), declared by the test crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Vm {
    pub dir: tempfile::TempDir,
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/vm.sh")
}

impl Vm {
    /// Boots the cached test image.
    pub fn up() -> Vm {
        Vm::boot(None)
    }

    /// Boots `disk` (a qcow2 made from the cached image), or the cached image itself.
    pub fn boot(disk: Option<&Path>) -> Vm {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new(script())
            .arg("up")
            .arg(dir.path())
            .args(disk)
            .output()
            .expect("running tests/rig/vm.sh");
        assert!(
            output.status.success(),
            "the VM did not start (needs root, mmdebstrap, e2fsprogs, qemu-utils and apt; .ci/run installs them):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Vm { dir }
    }

    /// Runs a shell command in the VM as root; panics when it fails.
    pub fn sh(&self, command: &str) -> String {
        let (status, stdout, stderr) = self.try_sh(command);
        assert_eq!(status, 0, "`{command}` in the VM: {stderr}");
        stdout
    }

    /// Like `sh`, returning the exit status and both streams.
    pub fn try_sh(&self, command: &str) -> (i32, String, String) {
        let output = Command::new(script())
            .arg("ssh")
            .arg(self.dir.path())
            .arg(command)
            .output()
            .expect("running tests/rig/vm.sh ssh");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs rplay on this machine against the VM (`-i inventory.ini`, host `vm1`).
    pub fn rplay(&self, args: &[&str]) -> crate::targets::Run {
        let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
            .args(["-i", "inventory.ini"])
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("running rplay");
        crate::targets::Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code().unwrap_or(-1),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}
