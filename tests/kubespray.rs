//! The Kubespray backend end to end: `rplay kubespray` and `import_playbook` of a
//! Kubespray playbook, run by the real `ansible-playbook` (ansible-core from `.venv`, or
//! `RPLAY_ANSIBLE_PLAYBOOK`) against real OpenSSH daemons on loopback ports
//! (`tests/rig/sshd-hosts.sh`).
//!
//! The Kubespray checkout is a stand-in that each test writes: GitHub cannot be reached
//! from CI. It has Kubespray's layout (a `galaxy.yml` with the collection's name and a
//! release number, `requirements.txt`, `ansible.cfg` whose `roles_path` is how the
//! playbooks in `playbooks/` find `roles/`, top-level `cluster.yml` and `reset.yml`
//! importing `playbooks/cluster.yml` and `playbooks/reset.yml`), but its one role only
//! records what Kubespray would receive on each host (inventory groups, connection and
//! host variables, cluster variables) into a JSON file there, and fails on the host named
//! by `kubespray_fail_host`. The tests read those files.
//!
//! After a Kubespray run that succeeded, `rplay kubespray` checks the cluster as `rplay
//! cluster status` does. There is NO cluster behind the stand-in Kubespray: the kubectl
//! that check runs on the control-plane host is `tests/rig/kubectl-objects-standin`, a
//! stand-in for kubectl and the API server that keeps nodes and pods as JSON files the
//! tests seed (Ready or not) and read back (the labels and taints applied).
//!
//! Without `/usr/sbin/sshd` or the venv these tests fail with a message saying so.

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Test;

/// N sshd daemons on loopback ports, stopped on drop.
struct Rig {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
}

impl Rig {
    fn start(count: usize) -> Rig {
        // A port range apart from the other test files' rigs.
        static RIGS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let number = RIGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new(rig_script())
            .env("BASE_PORT", (23401 + 10 * number).to_string())
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

/// The real ansible-playbook: `RPLAY_ANSIBLE_PLAYBOOK`, else the project's `.venv`.
fn ansible_playbook() -> String {
    let path = std::env::var_os("RPLAY_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/ansible-playbook")
        });
    assert!(
        path.is_file(),
        "no ansible-playbook at `{}`: run `tests/run --setup` (it makes .venv with ansible-core) or set RPLAY_ANSIBLE_PLAYBOOK",
        path.display()
    );
    path.display().to_string()
}

/// The stand-in role: what Kubespray would receive, recorded per host.
const RECORD_ROLE: &str = r#"
- name: Record what Kubespray received
  copy:
    dest: "{{ record_dir }}/{{ inventory_hostname }}.json"
    content: "{{ record | to_nice_json }}"
  vars:
    record:
      group_names: "{{ group_names }}"
      groups:
        kube_control_plane: "{{ groups['kube_control_plane'] }}"
        etcd: "{{ groups['etcd'] }}"
        kube_node: "{{ groups['kube_node'] }}"
        calico_rr: "{{ groups['calico_rr'] }}"
        k8s_cluster: "{{ groups['k8s_cluster'] }}"
      ansible_host: "{{ ansible_host }}"
      ansible_port: "{{ ansible_port }}"
      ip: "{{ ip | default(None) }}"
      access_ip: "{{ access_ip | default(None) }}"
      node_labels: "{{ node_labels | default({}) }}"
      node_taints: "{{ node_taints | default([]) }}"
      kube_version: "{{ kube_version }}"
      kube_network_plugin: "{{ kube_network_plugin }}"
      kube_pods_subnet: "{{ kube_pods_subnet }}"
      kube_service_addresses: "{{ kube_service_addresses }}"
      dns_domain: "{{ dns_domain }}"
      container_manager: "{{ container_manager }}"
      calico_mtu: "{{ calico_mtu }}"
      calico_vxlan_mode: "{{ calico_vxlan_mode }}"
      kubeconfig_localhost: "{{ kubeconfig_localhost }}"
      etcd_deployment_type: "{{ etcd_deployment_type }}"
      user_id: "{{ ansible_user_id }}"
- name: Fail where asked
  fail:
    msg: "stand-in failure on {{ inventory_hostname }}"
  when: inventory_hostname == (kubespray_fail_host | default(''))
"#;

/// Writes the stand-in Kubespray checkout into `test` under `kubespray/`.
fn with_standin(test: Test, version: &str) -> Test {
    test.file(
        "kubespray/galaxy.yml",
        &format!(
            "
            namespace: kubernetes_sigs
            description: stand-in for the tests
            name: kubespray
            version: {version}
            "
        ),
    )
    .file(
        "kubespray/requirements.txt",
        "
        ansible==9.13.0
        jmespath==1.0.1
        netaddr==1.3.0
        ",
    )
    .file(
        "kubespray/ansible.cfg",
        "
        [defaults]
        roles_path = roles
        ",
    )
    .file(
        "kubespray/cluster.yml",
        "
        ---
        - name: Install Kubernetes
          ansible.builtin.import_playbook: playbooks/cluster.yml
        ",
    )
    .file(
        "kubespray/reset.yml",
        "
        ---
        - name: Reset the cluster
          ansible.builtin.import_playbook: playbooks/reset.yml
        ",
    )
    .file(
        "kubespray/playbooks/cluster.yml",
        "
        - name: Install Kubernetes (stand-in)
          hosts: k8s_cluster:etcd
          gather_facts: true
          gather_subset: [min]
          roles:
            - record
        ",
    )
    .file(
        "kubespray/playbooks/reset.yml",
        "
        - name: Reset (stand-in)
          hosts: k8s_cluster
          gather_facts: false
          tasks:
            - name: Announce
              debug:
                msg: stand-in reset started
              run_once: true
            - name: Wait for the test to have read that line
              wait_for:
                path: \"{{ record_dir }}/go\"
                timeout: 60
              run_once: true
            - name: Mark the reset
              copy:
                dest: \"{{ record_dir }}/reset-{{ inventory_hostname }}\"
                content: reset
        ",
    )
    .file("kubespray/roles/record/tasks/main.yml", RECORD_ROLE)
}

/// Our inventory of three hosts on the rig: one control plane, two workers.
fn with_inventory(test: Test, rig: &Rig) -> Test {
    let hosts = format!(
        "
        [kube_control_plane]
        cp1 ansible_host=127.0.0.1 ansible_port={}

        [kube_node]
        w1 ansible_host=127.0.0.1 ansible_port={} access_ip=10.0.0.12
        w2 ansible_host=127.0.0.1 ansible_port={} ip=10.0.0.13

        [gpu_nodes]
        w2

        [k8s_cluster:children]
        kube_control_plane
        kube_node
        ",
        rig.ports[0], rig.ports[1], rig.ports[2]
    );
    test.file("inventory/hosts.ini", &hosts)
        .file(
            "inventory/group_vars/all.yml",
            &format!(
                "
                ansible_user: root
                ansible_ssh_private_key_file: {key}
                ansible_ssh_common_args: -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes
                ansible_python_interpreter: /usr/bin/python3
                ",
                key = rig.path("id_ed25519"),
                known = rig.path("known_hosts"),
            ),
        )
        .file(
            "inventory/group_vars/k8s_cluster.yml",
            "
            kube_version: v1.31.2
            pod_network: 10.244.0.0/16
            kube_pod_subnet: \"{{ pod_network }}\"
            kube_service_subnet: 10.96.0.0/12
            kube_dns_domain: cluster.local
            calico_version: v3.28.2
            calico_mtu: 1440
            calico_encapsulation: VXLANCrossSubnet
            kubespray:
              record_dir: \"{dir}/records\"
              etcd_deployment_type: host
            ",
        )
        .file(
            "inventory/host_vars/w2.yml",
            "
            node_labels:
              gpu-type: tesla-t4
            node_taints:
              - nvidia.com/gpu=present:NoSchedule
            ",
        )
        .file("records/.keep", "")
}

/// The stand-in kubectl and API server for the cluster check: a wrapper in `bin/kubectl`
/// (an SSH session does not carry the test's environment, so it names the store), a
/// kubeconfig, and the nodes `cp1`, `w1`, `w2` registered (`w1` Ready only if
/// `w1_ready`) with the kube-system pods Running.
fn with_cluster_standin(test: Test, w1_ready: bool) -> Test {
    let mut test = test
        .file(
            "bin/kubectl",
            &support::python_standin(
                "kubectl-objects-standin",
                "KUBECTL_STANDIN_STATE={dir}/cluster ",
            ),
        )
        .file("admin.conf", "apiVersion: v1\nkind: Config\n");
    for name in ["cp1", "w1", "w2"] {
        let ready = if name == "w1" && !w1_ready {
            "False"
        } else {
            "True"
        };
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                         "resourceVersion": "1"},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "nodeInfo": {"kubeletVersion": "v1.31.2"}},
        });
        test = test.file(
            &format!("cluster/objects/node._.{name}.json"),
            &node.to_string(),
        );
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                     "resourceVersion": "1"},
        "status": {"phase": "Running"},
    });
    test = test.file(
        "cluster/objects/pod.kube-system.kube-apiserver-cp1.json",
        &pod.to_string(),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        test.path().join("bin/kubectl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    test
}

/// The options that point the cluster check at the stand-in.
const CHECK_WITH_STANDIN: &[&str] = &[
    "--check-kubeconfig",
    "{dir}/admin.conf",
    "--check-kubectl",
    "{dir}/bin/kubectl",
    "--check-timeout",
    "3",
];

fn record(dir: &Path, host: &str) -> serde_json::Value {
    let path = dir.join("records").join(format!("{host}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the stand-in left no record at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the record is JSON")
}

/// What the stand-in must have received on `host`.
fn expected(
    port: u16,
    ip: Option<&str>,
    access_ip: Option<&str>,
    labels: serde_json::Value,
    taints: serde_json::Value,
    group_names: &[&str],
) -> serde_json::Value {
    json!({
        "group_names": group_names,
        "groups": {
            "kube_control_plane": ["cp1"],
            "etcd": ["cp1"],
            "kube_node": ["w1", "w2"],
            "calico_rr": [],
            "k8s_cluster": ["cp1", "w1", "w2"],
        },
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ip": ip,
        "access_ip": access_ip,
        "node_labels": labels,
        "node_taints": taints,
        "kube_version": "1.31.2",
        "kube_network_plugin": "calico",
        "kube_pods_subnet": "10.244.0.0/16",
        "kube_service_addresses": "10.96.0.0/12",
        "dns_domain": "cluster.local",
        "container_manager": "containerd",
        "calico_mtu": 1440,
        "calico_vxlan_mode": "CrossSubnet",
        "kubeconfig_localhost": true,
        "etcd_deployment_type": "host",
        "user_id": "root",
    })
}

fn assert_records(dir: &Path, rig: &Rig) {
    assert_eq!(
        record(dir, "cp1"),
        expected(
            rig.ports[0],
            Some("127.0.0.1"),
            None,
            json!({}),
            json!([]),
            &["etcd", "k8s_cluster", "kube_control_plane"]
        )
    );
    assert_eq!(
        record(dir, "w1"),
        expected(
            rig.ports[1],
            Some("127.0.0.1"),
            Some("10.0.0.12"),
            json!({}),
            json!([]),
            &["k8s_cluster", "kube_node"]
        )
    );
    assert_eq!(
        record(dir, "w2"),
        expected(
            rig.ports[2],
            Some("10.0.0.13"),
            None,
            json!({"gpu-type": "tesla-t4"}),
            json!(["nvidia.com/gpu=present:NoSchedule"]),
            &["gpu_nodes", "k8s_cluster", "kube_node"]
        )
    );
}

/// The recap of a host where the stand-in succeeded: facts and the record, the failure
/// task skipped.
fn recap_ok(host: &str) -> String {
    format!("{host} : ok=2 changed=1 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0")
}

#[test]
fn kubespray_command_deploys_the_inventory_with_mapped_variables() {
    let rig = Rig::start(3);
    let ansible = ansible_playbook();
    let test = with_cluster_standin(
        with_inventory(with_standin(Test::new(), "2.28.0"), &rig),
        true,
    );
    let output = test
        .args(&[
            "kubespray",
            "-i",
            "inventory",
            "--kubespray-dir",
            "kubespray",
            "--ansible-playbook",
            &ansible,
            "--work-dir",
            "work",
        ])
        .args(CHECK_WITH_STANDIN)
        .stdout_contains("PLAY [Install Kubernetes (stand-in)]")
        .stderr_contains(
            "rplay: Kubespray succeeded; checking the cluster (skip with --no-cluster-check)\n",
        )
        .stdout_contains("CLUSTER STATUS (cp1)")
        .stdout_contains("kube-system pods: 1/1 running")
        .stdout_contains("TASK [record : Record what Kubespray received]")
        .stderr_contains("rplay: Kubespray 2.28.0 (galaxy.yml in `{dir}/kubespray`), supported >=2.26.0, <2.33.0\n")
        .stderr_contains(&format!(
            "rplay: Kubespray's inventory is `{{dir}}/work/hosts.yml`; running {ansible} -i {{dir}}/work/hosts.yml {{dir}}/kubespray/cluster.yml -b\n"
        ))
        .run();
    assert_records(&output.dir, &rig);
    for host in ["cp1", "w1", "w2"] {
        assert_eq!(output.recap(host), recap_ok(host), "{}", output.stdout);
    }
    // The generated files, as Kubespray's own inventory would have them.
    let inventory = output.file("work/hosts.yml");
    assert!(
        inventory
            .contains("  children:\n    kube_control_plane:\n      hosts:\n        cp1: null\n"),
        "{inventory}"
    );
    assert!(inventory.contains("    k8s_cluster:\n      children:\n        kube_control_plane: null\n        kube_node: null\n        calico_rr: null\n"), "{inventory}");
    let vars = output.file("work/group_vars/all.yml");
    assert!(vars.contains("kube_pods_subnet: 10.244.0.0/16\n"), "{vars}");
    assert!(vars.contains("etcd_deployment_type: host\n"), "{vars}");
    // The check gave w2 the labels and taints its host variables declare.
    let w2: serde_json::Value =
        serde_json::from_str(&output.file("cluster/objects/node._.w2.json")).unwrap();
    assert_eq!(w2["metadata"]["labels"]["gpu-type"], "tesla-t4", "{w2:#}");
    assert_eq!(
        w2["spec"]["taints"],
        json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    );
}

#[test]
fn a_cluster_that_does_not_come_up_fails_the_command_unless_the_check_is_skipped() {
    let rig = Rig::start(3);
    let ansible = ansible_playbook();
    let test = with_cluster_standin(
        with_inventory(with_standin(Test::new(), "2.28.0"), &rig),
        false,
    );
    let dir = test.path().to_path_buf();
    let output = test
        .args(&[
            "kubespray",
            "-i",
            "inventory",
            "--kubespray-dir",
            "kubespray",
            "--ansible-playbook",
            &ansible,
        ])
        .args(CHECK_WITH_STANDIN)
        .stdout_contains("node w1 is not Ready")
        .status(2)
        .run();
    assert_eq!(
        output.recap("w1"),
        recap_ok("w1"),
        "Kubespray itself succeeded"
    );
    let calls = std::fs::read_to_string(dir.join("cluster/calls")).expect("kubectl was called");
    assert!(calls.contains("get nodes -o json"), "{calls}");

    // The same deployment with --no-cluster-check: Kubespray's status, kubectl untouched.
    std::fs::remove_file(dir.join("cluster/calls")).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "kubespray",
            "-i",
            "inventory",
            "--kubespray-dir",
            "kubespray",
            "--ansible-playbook",
            &ansible,
            "--no-cluster-check",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        !dir.join("cluster/calls").exists(),
        "--no-cluster-check still ran kubectl"
    );
}

#[test]
fn a_failing_kubespray_task_fails_rplay_with_ansibles_status() {
    let rig = Rig::start(3);
    let ansible = ansible_playbook();
    let test = with_inventory(with_standin(Test::new(), "2.28.0"), &rig);
    let output = test
        .args(&[
            "kubespray",
            "-i",
            "inventory",
            "--kubespray-dir",
            "kubespray",
            "--ansible-playbook",
            &ansible,
            "-e",
            "kubespray_fail_host=w1",
        ])
        .stdout_contains(
            "fatal: [w1]: FAILED! => {\"changed\": false, \"msg\": \"stand-in failure on w1\"}",
        )
        .status(2)
        .run();
    assert_eq!(
        output.recap("w1"),
        "w1 : ok=2 changed=1 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"
    );
    assert_eq!(output.recap("cp1"), recap_ok("cp1"));
}

#[test]
fn import_playbook_hands_the_cluster_to_kubespray() {
    let rig = Rig::start(3);
    let ansible = ansible_playbook();
    let test = with_inventory(with_standin(Test::new(), "2.30.1"), &rig)
        .file(
            "site.yml",
            "
            - name: Before Kubespray
              hosts: localhost
              gather_facts: false
              tasks:
                - copy: { dest: \"{dir}/before\", content: rplay }
            - import_playbook: kubernetes_sigs.kubespray.cluster
            ",
        )
        .file(
            "by-path.yml",
            "
            - import_playbook: kubespray/cluster.yml
            ",
        );
    let dir = test.path().display().to_string();
    let output = test
        .args(&["-i", "inventory", "site.yml"])
        .env("RPLAY_KUBESPRAY_DIR", &format!("{dir}/kubespray"))
        .env("RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK", &ansible)
        .stdout_contains("PLAY [Kubespray: kubernetes_sigs.kubespray.cluster] ***")
        .stdout_contains("PLAY [Install Kubernetes (stand-in)]")
        .stderr_contains("rplay: Kubespray 2.30.1 (galaxy.yml in `{dir}/kubespray`)")
        .run();
    assert_eq!(output.file("before"), "rplay");
    assert_records(&output.dir, &rig);

    // A path into a checkout names the checkout too: no RPLAY_KUBESPRAY_DIR needed.
    std::fs::remove_dir_all(output.dir.join("records")).unwrap();
    std::fs::create_dir(output.dir.join("records")).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "-i",
            "inventory",
            "by-path.yml",
            "-e",
            "kubespray_fail_host=w2",
            "--output",
            "json",
        ])
        .current_dir(&output.dir)
        .env("RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK", &ansible)
        .env_remove("RPLAY_KUBESPRAY_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stdout}\n{stderr}");
    // Under `--output json` standard output stays one JSON event per line: Kubespray's
    // own output goes to standard error.
    for line in stdout.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("Kubespray: kubespray/cluster.yml"),
        "{stdout}"
    );
    assert!(stderr.contains("fatal: [w2]: FAILED!"), "{stderr}");
    assert!(output.dir.join("records/cp1.json").is_file());
}

#[test]
fn kubespray_output_is_streamed_while_it_runs() {
    let rig = Rig::start(3);
    let ansible = ansible_playbook();
    let test = with_inventory(with_standin(Test::new(), "2.28.0"), &rig);
    let dir = test.path().to_path_buf();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "kubespray",
            "-i",
            "inventory",
            "--kubespray-dir",
            "kubespray",
            "--playbook",
            "reset",
            "--ansible-playbook",
            &ansible,
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reset stand-in waits for `records/go`, which is written only once its first
    // message has been read here: buffered output would time the wait out.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let found = line.contains("\"msg\": \"stand-in reset started\"");
        seen.push(line);
        if found {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no message yet:\n{}",
            seen.join("\n")
        );
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "Kubespray ended before its output was read:\n{}",
        seen.join("\n")
    );
    std::fs::write(dir.join("records/go"), "").unwrap();
    let rest: Vec<String> = lines.map(|line| line.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}\n{}",
        seen.join("\n"),
        rest.join("\n")
    );
    for host in ["cp1", "w1", "w2"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("records/reset-{host}"))).unwrap(),
            "reset"
        );
    }
    assert!(
        rest.iter().any(|line| line.starts_with("PLAY RECAP")),
        "{}",
        rest.join("\n")
    );
}

/// An inventory for the error cases: nothing is contacted.
fn small_inventory(test: Test) -> Test {
    test.file(
        "hosts.ini",
        "
        [kube_control_plane]
        cp1 ansible_host=192.0.2.10
        ",
    )
}

#[test]
fn a_missing_checkout_says_how_to_get_one() {
    small_inventory(Test::new())
        .args(&["kubespray", "-i", "hosts.ini", "--kubespray-dir", "nowhere", "--ansible-playbook", "/bin/true"])
        .stderr(
            "error: the Kubespray directory `nowhere` does not exist
help: get one with `git clone --branch v2.28.0 https://github.com/kubernetes-sigs/kubespray` and give its directory with --kubespray-dir DIR (`rplay kubespray`), the environment variable RPLAY_KUBESPRAY_DIR, or the inventory variable `kubespray_dir`
",
        )
        .status(5)
        .run();
    small_inventory(Test::new())
        .args(&["kubespray", "-i", "hosts.ini"])
        .env("RPLAY_KUBESPRAY_DIR", "")
        .stderr_contains("error: no Kubespray checkout was given\n")
        .status(5)
        .run();
}

#[test]
fn a_release_outside_the_supported_range_is_refused() {
    with_standin(small_inventory(Test::new()), "2.20.0")
        .args(&["kubespray", "-i", "hosts.ini", "--kubespray-dir", "kubespray", "--ansible-playbook", "/bin/true"])
        .stderr(
            "error: Kubespray 2.20.0 (from galaxy.yml in `kubespray`) is outside the supported range >=2.26.0, <2.33.0
help: check out a supported release, for example `git -C kubespray checkout v2.28.0`
",
        )
        .status(5)
        .run();
    // The same from a playbook, before any host is touched.
    with_standin(small_inventory(Test::new()), "3.0.0")
        .file("site.yml", "- import_playbook: kubespray/cluster.yml\n")
        .args(&["-i", "hosts.ini", "site.yml"])
        .stderr_contains("error: cannot hand `kubespray/cluster.yml` to Kubespray: Kubespray 3.0.0 (from galaxy.yml in `{dir}/kubespray`) is outside the supported range >=2.26.0, <2.33.0\n --> site.yml:1:20\n")
        .stdout("")
        .status(5)
        .run();
}

#[test]
fn keywords_on_a_kubespray_import_are_refused_not_ignored() {
    with_standin(small_inventory(Test::new()), "2.28.0")
        .file(
            "site.yml",
            "
            - import_playbook: kubernetes_sigs.kubespray.cluster
              when: false
            ",
        )
        .args(&["-i", "hosts.ini", "site.yml", "--syntax-check"])
        .stderr(
            "error: `when` cannot be set on an import handed to Kubespray
 --> site.yml:2:3
  |
2 |   when: false
  |   ^^^^
help: set Kubespray's variables under `kubespray:` in the inventory, and pass ansible-playbook options on the rplay command line (-e, --limit, --check)
",
        )
        .status(5)
        .run();
}

#[test]
fn an_inventory_without_a_control_plane_is_refused() {
    with_standin(Test::new(), "2.28.0")
        .file("hosts.ini", "[kube_node]\nw1\n")
        .args(&["kubespray", "-i", "hosts.ini", "--kubespray-dir", "kubespray", "--ansible-playbook", "/bin/true"])
        .stderr(
            "error: the inventory has no host in `kube_control_plane`, so Kubespray has no cluster to deploy
help: put the control-plane machines in a `[kube_control_plane]` group and the workers in `[kube_node]`
",
        )
        .status(5)
        .run();
}

#[test]
fn the_virtualenv_is_made_from_kubesprays_requirements_and_cached() {
    // Requirements that need no package index: none at all. The virtualenv is made and
    // cached, and then found to hold no Ansible, which is said plainly.
    let test = with_standin(small_inventory(Test::new()), "2.28.0")
        .file("kubespray/requirements.txt", "# nothing\n");
    let cache = test.path().join("cache").display().to_string();
    let first = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "kubespray",
            "-i",
            "hosts.ini",
            "--kubespray-dir",
            "kubespray",
        ])
        .current_dir(test.path())
        .env("RPLAY_CACHE_DIR", &cache)
        .env_remove("RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("rplay: creating a Python virtualenv for Kubespray in `"),
        "{stderr}"
    );
    assert!(
        stderr.contains("has no `ansible-playbook`: the requirements do not install Ansible"),
        "{stderr}"
    );
    let venvs: Vec<_> = std::fs::read_dir(test.path().join("cache/kubespray-venv"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        venvs.len(),
        1,
        "one virtualenv, named by the requirements' hash"
    );
    assert!(venvs[0].path().join("bin/python3").exists());
    assert!(venvs[0].path().join(".rplay-complete").exists());

    let second = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "kubespray",
            "-i",
            "hosts.ini",
            "--kubespray-dir",
            "kubespray",
        ])
        .current_dir(test.path())
        .env("RPLAY_CACHE_DIR", &cache)
        .env_remove("RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !stderr.contains("creating a Python virtualenv"),
        "the cached virtualenv was made again:\n{stderr}"
    );
    assert!(stderr.contains("has no `ansible-playbook`"), "{stderr}");
}

#[test]
fn a_requirement_pip_cannot_install_is_a_clear_error() {
    let test = with_standin(small_inventory(Test::new()), "2.28.0")
        .file("kubespray/requirements.txt", "rplay-no-such-package==1.0\n");
    let cache = test.path().join("cache").display().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            "kubespray",
            "-i",
            "hosts.ini",
            "--kubespray-dir",
            "kubespray",
        ])
        .current_dir(test.path())
        .env("RPLAY_CACHE_DIR", &cache)
        // No package index: the test must not reach out to one.
        .env("PIP_NO_INDEX", "1")
        .env_remove("RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("kubespray/requirements.txt` (pip's output is above)\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: check that a package index is reachable, or install them yourself"),
        "{stderr}"
    );
    // Nothing half made is left to be taken for a finished virtualenv.
    let left = std::fs::read_dir(test.path().join("cache/kubespray-venv"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}
