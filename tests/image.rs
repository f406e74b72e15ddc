//! The node image, built for real: `packer build packer/cloud-base` boots the Debian 13 test
//! disk of `tests/rig/vm.sh` under QEMU (software emulation), uploads rplay and the content
//! and runs `rplay -c local playbooks/image.yml` inside; the test then boots the image it
//! made and reads, over plain OpenSSH, what a node needs after that reboot. Several
//! minutes: the build and the boot each run a VM under TCG.
//!
//! The VM cannot reach pkgs.k8s.io or GitHub: Packer serves the signed local mirror of
//! `tests/rig/k8s-apt-repo.sh` over HTTP (`mirror_directory`) and the content's variables
//! point at it. The mirror also stands in for the Debian mirror during the build (Debian's
//! containerd, runc and net-tools), so the build fetches nothing from outside this machine
//! and its time does not depend on a mirror's index (16 MB for trixie) or its mood.
//!
//! The rplay uploaded is the one under test (`CARGO_BIN_EXE_rplay`, debug information
//! stripped to make the upload smaller), not a release build.

#[path = "support/targets.rs"]
mod targets;

#[path = "support/vm.rs"]
mod vm;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use targets::Run;
use vm::Vm;

/// The longest the Packer build may take before the test fails (it is killed).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// Where QEMU's user network puts this machine, as the guest sees it.
const HOST_FROM_GUEST: &str = "10.0.2.2";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The unpacked QEMU and the cached image (path without `.qcow2`), built if needed.
fn prepare_vm_rig() -> (PathBuf, PathBuf) {
    let printed = run(
        Command::new(vm::script()).arg("prepare"),
        "tests/rig/vm.sh prepare (needs root, mmdebstrap, e2fsprogs, qemu-utils and apt; .ci/run installs them)",
    );
    let mut lines = printed.lines();
    let qemu = PathBuf::from(lines.next().expect("the QEMU folder"));
    let image = PathBuf::from(lines.next().expect("the image path"));
    (qemu, image)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The content's variables pointed at the mirror Packer serves, and package lists cut down
/// to what the mirror has (as in tests/content.rs).
fn mirror_vars(mirror: &str) -> String {
    format!(
        "base_packages: [net-tools]
containerd_packages: [containerd, runc]
kubernetes_apt_repository_url: {mirror}/kubernetes/
kubernetes_apt_key_url: {mirror}/key.asc
node_exporter_url: {mirror}/files/node_exporter-1.8.2.linux-amd64.tar.gz
node_exporter_checksum: sha256:{mirror}/files/sha256sums.txt
"
    )
}

/// A static HTTP server of a directory on a loopback port, stopped when dropped: the
/// mirror again for the run inside the booted image, at the URL the build used.
struct Served(Child);

impl Served {
    fn start(directory: &Path, port: u16) -> Served {
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg("--directory")
            .arg(directory)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running python3 -m http.server");
        let served = Served(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 -m http.server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The recap counts of `localhost`, by name (`changed` → 0).
fn counts(run: &Run) -> BTreeMap<String, u32> {
    run.recap("localhost")
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(key, value)| (key.to_string(), value.parse().unwrap()))
        .collect()
}

#[test]
fn packer_builds_a_node_image_that_boots_configured_and_a_second_run_inside_changes_nothing() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let work_path = work.path();
    let (qemu, image) = prepare_vm_rig();
    let with = |extension: &str| format!("{}.{extension}", image.display());

    let mirror = work_path.join("mirror");
    run(
        Command::new(repository().join("tests/rig/k8s-apt-repo.sh")).arg(&mirror),
        "tests/rig/k8s-apt-repo.sh",
    );
    let port = free_port();
    let served_at = format!("http://{HOST_FROM_GUEST}:{port}");

    // The binary under test, without its debug information (about 180 MB to 50 MB).
    let binary = work_path.join("rplay");
    std::fs::copy(env!("CARGO_BIN_EXE_rplay"), &binary).expect("copying rplay");
    run(
        Command::new("objcopy").arg("--strip-debug").arg(&binary),
        "objcopy --strip-debug (binutils)",
    );

    let output = work_path.join("output");
    let variables = work_path.join("test.pkrvars.hcl");
    std::fs::write(
        &variables,
        format!(
            r#"repository            = "{repository}"
rplay_binary          = "{binary}"
base_image            = "{base_image}"
kernel                = "{kernel}"
initrd                = "{initrd}"
ssh_private_key_file  = "{key}"
qemu_dir              = "{qemu}"
output_directory      = "{output}"
mirror_directory      = "{mirror}"
http_port             = {port}
debian_mirror_url     = "{served_at}/debian/"
debian_mirror_key_url = "{served_at}/key.asc"
rplay_vars            = <<VARS
{vars}VARS
# What a cloud image may have that the test image lacks: an active swap file in fstab.
before_rplay = [
  "fallocate -l 32M /swapfile", "chmod 600 /swapfile", "mkswap -q /swapfile", "swapon /swapfile",
  "echo '/swapfile none swap sw 0 0' >>/etc/fstab",
]
"#,
            repository = repository().display(),
            binary = binary.display(),
            base_image = with("qcow2"),
            kernel = with("vmlinuz"),
            initrd = with("initrd"),
            key = with("key"),
            qemu = qemu.display(),
            output = output.display(),
            mirror = mirror.display(),
            vars = mirror_vars(&served_at),
        ),
    )
    .unwrap();

    // A bounded build: `timeout` stops Packer (which powers its VM off) when it runs long.
    let started = Instant::now();
    let build = Command::new("timeout")
        .args(["--kill-after=60", &BUILD_TIMEOUT.as_secs().to_string()])
        .args(["packer", "build", "-color=false"])
        .arg(format!("-var-file={}", variables.display()))
        .arg(".")
        .current_dir(repository().join("packer/cloud-base"))
        .env_remove("PACKER_LOG")
        .env("PACKER_CACHE_DIR", work_path.join("packer-cache"))
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("running packer (Debian's `packer` package; .ci/run installs it)");
    let build_time = started.elapsed();
    let log = String::from_utf8_lossy(&build.stdout);
    assert!(
        build.status.success(),
        "packer build failed ({}) after {build_time:?}:\n{log}\n{}",
        build.status,
        String::from_utf8_lossy(&build.stderr)
    );
    assert!(
        log.contains("PLAY RECAP") && log.contains("failed=0"),
        "rplay's run in the build:\n{log}"
    );
    let disk = output.join("node.qcow2");
    let size = std::fs::metadata(&disk)
        .unwrap_or_else(|e| panic!("{}: {e}\n{log}", disk.display()))
        .len();
    eprintln!(
        "packer build: {build_time:?}, {} ({size} bytes)",
        disk.display()
    );

    let started = Instant::now();
    let vm = Vm::boot(Some(&disk));
    eprintln!("boot of the image to SSH: {:?}", started.elapsed());

    // Booted by systemd, every unit settled. The kubelet's restarts keep a job queued now
    // and then, so "running" is waited for (bounded) rather than read once.
    assert_eq!(vm.sh("ps -p 1 -o comm="), "systemd\n");
    assert_eq!(
        vm.sh("timeout 120 systemctl is-system-running --wait; systemctl --failed --plain --no-legend"),
        "running\n"
    );

    // The kernel: both modules loaded at boot from the files the build wrote (nothing else
    // loads br_netfilter), and the sysctls applied after them (the bridge ones exist only
    // once br_netfilter is in).
    assert_eq!(
        vm.sh("cat /etc/modules-load.d/overlay.conf /etc/modules-load.d/br_netfilter.conf"),
        "overlay\nbr_netfilter\n"
    );
    assert_eq!(
        vm.sh("for m in br_netfilter overlay; do grep -c \"^$m \" /proc/modules; done"),
        "1\n1\n"
    );
    assert_eq!(
        vm.sh("sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"),
        "1\n1\n1\n"
    );

    // Swap: the build switched it off and commented out its fstab entry, so the reboot
    // left it off.
    assert_eq!(vm.sh("tail -n +2 /proc/swaps"), "");
    assert_eq!(
        vm.sh("grep swap /etc/fstab"),
        "# /swapfile none swap sw 0 0\n"
    );

    // containerd started at boot, with systemd cgroups for runc.
    assert_eq!(
        vm.sh("systemctl is-enabled containerd; systemctl is-active containerd; grep -c '^ *SystemdCgroup = true' /etc/containerd/config.toml"),
        "enabled\nactive\n1\n"
    );

    // The Kubernetes tools at the cluster's version, held.
    assert_eq!(
        vm.sh("dpkg-query -W -f '${Package} ${Version}\\n' kubeadm kubectl kubelet"),
        "kubeadm 1.31.2-1.1\nkubectl 1.31.2-1.1\nkubelet 1.31.2-1.1\n"
    );
    assert_eq!(
        vm.sh("dpkg --get-selections kubeadm kubectl kubelet"),
        "kubeadm\t\t\t\t\t\thold\nkubectl\t\t\t\t\t\thold\nkubelet\t\t\t\t\t\thold\n"
    );

    // The kubelet: enabled, so systemd tried it at boot, and not running: without the
    // configuration kubeadm writes it exits (as the real one does) and waits to be retried.
    assert_kubelet_enabled_not_running(&vm);

    // The build's stand-in for the Debian mirror is gone; the image's own sources are back.
    assert_eq!(
        vm.sh("cat /etc/apt/sources.list; ls /etc/apt/sources.list.d /etc/apt/keyrings"),
        "deb http://deb.debian.org/debian trixie main\n/etc/apt/keyrings:\nkubernetes.asc\n\n/etc/apt/sources.list.d:\nkubernetes.sources\n"
    );
    // Cleaned like a Packer build: no package lists or archives (the test image has no
    // cloud-init, so its state is not looked at here; tests/content.rs does).
    assert_eq!(
        vm.sh("find /var/lib/apt/lists /var/cache/apt/archives -type f -not -name lock | wc -l"),
        "0\n"
    );

    // rplay stays in the image: the same playbook inside it finds nothing to do. Its lists
    // are empty, so apt updates them: the mirror is served at the build's URL again and
    // stands in for Debian's as in the build, and the image's clean-up is left out (it
    // would remove the lists just fetched, a change each time).
    let _served = Served::start(&mirror, port);
    let (status, stdout, stderr) = vm.try_sh(&format!(
        "cd /opt/rplay && sh apt-mirror.sh use {served_at}/debian/ {served_at}/key.asc && \
         NO_COLOR=1 rplay -c local -i inventories/local playbooks/image.yml -e @build-vars.yml -e image_clean=false; \
         status=$?; sh apt-mirror.sh restore; exit $status"
    ));
    let second = Run {
        stdout,
        stderr,
        status,
    };
    second.assert_status(0);
    let counts = counts(&second);
    assert_eq!(
        (counts["changed"], counts["failed"], counts["unreachable"]),
        (0, 0, 0),
        "second run inside the image: {}\n{}",
        second.recap("localhost"),
        second.stdout
    );
    assert!(counts["ok"] > 20, "{}", second.recap("localhost"));
    assert_eq!(vm.sh("systemctl is-active containerd"), "active\n");
    assert_kubelet_enabled_not_running(&vm);
}

fn assert_kubelet_enabled_not_running(vm: &Vm) {
    assert_eq!(vm.sh("systemctl is-enabled kubelet"), "enabled\n");
    // Without a configuration the kubelet exits at once and systemd restarts it every
    // 10 s, so `is-active` says `active` for the instant it runs: sample until it is
    // seen down (bounded); a kubelet that stayed up would never be.
    let mut state = String::new();
    for _ in 0..40 {
        let (_, now, _) = vm.try_sh("systemctl is-active kubelet");
        state = now;
        if state != "active\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        ["activating\n", "failed\n", "inactive\n"].contains(&state.as_str()),
        "the kubelet is {state}"
    );
    assert_eq!(
        vm.sh("test -e /var/lib/kubelet/config.yaml || echo no configuration"),
        "no configuration\n"
    );
    let journal = vm.sh("journalctl -b -u kubelet --no-pager -o cat");
    assert!(
        journal.contains("failed to load kubelet config file"),
        "the kubelet was started at boot and refused to run:\n{journal}"
    );
}
