//! `rplay cluster status`, over real SSH: the control-plane host is an OpenSSH daemon on
//! a loopback port (`tests/rig/sshd-hosts.sh`), reached with rplay's own transport.
//!
//! There is NO Kubernetes cluster here: none can be had where these tests run. The
//! kubectl that runs on the control-plane host is `tests/rig/kubectl-objects-standin`, a
//! stand-in that plays kubectl and an API server, keeping nodes and pods as JSON files
//! that each test seeds (a node Ready or not, pods Running or not) and reads back (the
//! labels and taints applied), and recording every call. What is shown is that the
//! command waits for the inventory's nodes and kube-system pods as the stand-in reports
//! them, applies the inventory's labels and taints once, and says what is not ready.
//!
//! Without `/usr/sbin/sshd` or the project's `.venv` these tests fail saying so.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Test;

/// One sshd daemon on a loopback port, stopped on drop.
struct Rig {
    dir: tempfile::TempDir,
    port: u16,
}

impl Rig {
    fn start() -> Rig {
        static RIGS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let number = RIGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new(rig_script())
            .env("BASE_PORT", (23701 + 10 * number).to_string())
            .arg("1")
            .arg(dir.path())
            .output()
            .expect("running tests/rig/sshd-hosts.sh");
        assert!(
            output.status.success(),
            "the sshd rig did not start (is openssh-server installed?):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a port");
        Rig { dir, port }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new(rig_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn rig_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rig/sshd-hosts.sh")
}

/// The stand-in kubectl, its store and a kubeconfig, plus the inventory, in one test.
struct Setup {
    rig: Rig,
    test: Test,
}

impl Setup {
    fn new() -> Setup {
        let rig = Rig::start();
        let test = Test::new();
        // An SSH session does not carry the test's environment: the wrapper names the store.
        let wrapper = support::python_standin(
            "kubectl-objects-standin",
            "KUBECTL_STANDIN_STATE={dir}/state ",
        );
        let test = test
            .file("bin/kubectl", &wrapper)
            .file("admin.conf", "apiVersion: v1\nkind: Config\n")
            .file(
                "inventory/hosts.yml",
                &format!(
                    "
                    all:
                      vars:
                        ansible_user: root
                        ansible_ssh_private_key_file: {key}
                        ansible_ssh_common_args: -o UserKnownHostsFile={known}
                      children:
                        kube_control_plane:
                          hosts:
                            cp1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}
                        kube_node:
                          hosts:
                            w1: {{ansible_host: 192.0.2.11}}
                            gpu1: {{ansible_host: 192.0.2.12}}
                        gpu_nodes:
                          hosts:
                            gpu1: {{}}
                        k8s_cluster:
                          children:
                            kube_control_plane: {{}}
                            kube_node: {{}}
                    ",
                    key = rig.path("id_ed25519"),
                    known = rig.path("known_hosts"),
                    port = rig.port,
                ),
            )
            .file(
                "inventory/group_vars/gpu_nodes.yml",
                "node_taints:\n  - nvidia.com/gpu=present:NoSchedule\n",
            )
            .file(
                "inventory/host_vars/gpu1.yml",
                "node_labels:\n  workload-type: inference\n  inference-ready: true\n",
            );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            test.path().join("bin/kubectl"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        Setup { rig, test }
    }

    fn state(&self) -> PathBuf {
        self.test.path().join("state")
    }

    fn seed(&self, object: Value) {
        let dir = self.state().join("objects");
        std::fs::create_dir_all(&dir).expect("objects dir");
        let name = format!(
            "{}.{}.{}.json",
            object["kind"].as_str().unwrap().to_lowercase(),
            object["metadata"]["namespace"].as_str().unwrap_or("_"),
            object["metadata"]["name"].as_str().unwrap()
        );
        std::fs::write(dir.join(name), object.to_string()).expect("seeding");
    }

    fn object(&self, file: &str) -> Value {
        let text = std::fs::read_to_string(self.state().join("objects").join(file))
            .expect("an object file");
        serde_json::from_str(&text).expect("JSON")
    }

    fn take_calls(&self) -> Vec<String> {
        let path = self.state().join("calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_string).collect()
    }

    /// `rplay cluster status` with the stand-in kubectl and kubeconfig, as a fresh test
    /// in the same directory.
    fn status(&self, timeout: &str) -> Test {
        let dir = self.test.path().display().to_string();
        let mut test = Test::new();
        // Run from the first test's directory: same inventory, same store.
        test.dir = tempfile::Builder::new()
            .tempdir_in(&dir)
            .expect("a run directory");
        test.args(&[
            "cluster",
            "status",
            "-i",
            &format!("{dir}/inventory"),
            "--timeout",
            timeout,
            "--kubeconfig",
            &format!("{dir}/admin.conf"),
            "--kubectl",
            &format!("{dir}/bin/kubectl"),
        ])
    }
}

fn node(name: &str, role: Option<&str>, ready: bool) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if let Some(role) = role {
        labels[format!("node-role.kubernetes.io/{role}")] = json!("");
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "nodeInfo": {"kubeletVersion": "v1.31.2"},
        },
    })
}

fn pod(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system", "resourceVersion": "1"},
        "status": {"phase": phase},
    })
}

#[test]
fn waits_for_nodes_applies_labels_and_taints_once_and_prints_a_summary() {
    let setup = Setup::new();
    setup.seed(node("cp1", Some("control-plane"), true));
    setup.seed(node("w1", None, true));
    setup.seed(node("gpu1", None, false));
    setup.seed(pod("etcd-cp1", "Running"));
    setup.seed(pod("kube-apiserver-cp1", "Running"));
    // The GPU node turns Ready while the command waits.
    let later = setup.state().join("objects/node._.gpu1.json");
    let ready = node("gpu1", None, true).to_string();
    let flip = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        std::fs::write(later, ready).expect("the node turns Ready");
    });
    let started = std::time::Instant::now();
    let output = setup.status("60").run();
    flip.join().unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "the command did not wait for gpu1 to be Ready"
    );
    assert_eq!(
        output.recap("cp1"),
        "cp1 : ok=1 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    let summary: String = output
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("CLUSTER STATUS"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        summary,
        "CLUSTER STATUS (cp1)\n\
         NODE                     READY    ROLES            VERSION\n\
         cp1                      Ready    control-plane    v1.31.2\n\
         gpu1                     Ready    <none>           v1.31.2\n\
         w1                       Ready    <none>           v1.31.2\n\
         kube-system pods: 2/2 running\n\
         labels and taints to set: label gpu1 workload-type=inference inference-ready=true; \
         taint gpu1 nvidia.com/gpu=present:NoSchedule\n"
    );
    let gpu1 = setup.object("node._.gpu1.json");
    assert_eq!(gpu1["metadata"]["labels"]["workload-type"], "inference");
    assert_eq!(gpu1["metadata"]["labels"]["inference-ready"], "true");
    assert_eq!(
        gpu1["spec"]["taints"],
        json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    );
    let w1 = setup.object("node._.w1.json");
    assert_eq!(w1["spec"], json!({}), "w1 declares no taints");
    let calls = setup.take_calls();
    let kubeconfig = format!("--kubeconfig {}/admin.conf", setup.test.path().display());
    assert!(
        calls.iter().all(|call| call.starts_with(&kubeconfig)),
        "every call names the kubeconfig: {calls:#?}"
    );

    // Again: nothing to wait for, nothing to set.
    let again = setup.status("60").run();
    assert_eq!(
        again.recap("cp1"),
        "cp1 : ok=1 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    assert!(!again.stdout.contains("labels and taints to set"));
    let calls = setup.take_calls();
    assert!(
        calls.iter().all(|call| call.contains(" get ")),
        "a second run should only read: {calls:#?}"
    );
    drop(setup.rig);
}

#[test]
fn a_cluster_that_stays_unready_fails_naming_what_is_not_ready() {
    let setup = Setup::new();
    setup.seed(node("cp1", Some("control-plane"), true));
    setup.seed(node("w1", None, true));
    setup.seed(pod("coredns-1", "Pending"));
    let output = setup
        .status("3")
        .stdout_contains(
            "\"msg\": \"the cluster is not ready after 3 seconds: node gpu1 is not registered; pod kube-system/coredns-1 is Pending\"",
        )
        .stdout_contains("kube-system pods: 0/1 running\nnot ready: node gpu1 is not registered")
        .status(2)
        .run();
    assert_eq!(
        output.recap("cp1"),
        "cp1 : ok=0 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"
    );
    let calls = setup.take_calls();
    assert!(
        !calls
            .iter()
            .any(|call| call.contains(" label ") || call.contains(" taint ")),
        "nothing is labelled on a cluster that is not ready: {calls:#?}"
    );
}

#[test]
fn an_inventory_without_a_control_plane_is_refused() {
    Test::new()
        .file("hosts.ini", "[kube_node]\nw1\n")
        .args(&["cluster", "status", "-i", "hosts.ini"])
        .stderr_contains("the inventory has no host in group `kube_control_plane`")
        .status(5)
        .run();
}
