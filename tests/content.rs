//! The content rplay ships (`inventories/cloud-cluster`, `roles/`, `playbooks/`): every
//! playbook passes `--syntax-check` against the reference inventory, `site.yml` deploys a
//! cluster onto three booted Debian 13 machines (`systemd-nspawn`, systemd as PID 1) and
//! `image.yml` builds a node on one. The targets have no Internet: a signed local mirror
//! (`tests/rig/k8s-apt-repo.sh`) serves stand-in Kubernetes packages and Debian's containerd,
//! and the tests point the content's repository and download variables at it. Every check
//! reads the targets' state over plain OpenSSH.

#[path = "support/targets.rs"]
mod targets;

use std::path::Path;
use std::process::Command;
use targets::{Kind, Run, Targets};

const PLAYBOOKS: &[&str] = &["gpu-operator.yml", "image.yml", "reset.yml", "site.yml"];

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_playbook_passes_the_syntax_check_against_the_reference_inventory() {
    for playbook in PLAYBOOKS {
        let path = format!("playbooks/{playbook}");
        let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
            .args(["--syntax-check", "-i", "inventories/cloud-cluster", &path])
            .current_dir(repository())
            .env("NO_COLOR", "1")
            .output()
            .expect("running rplay");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{path}:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert_eq!(stdout, format!("\nplaybook: {path}\n"), "{path}: {stderr}");
    }
}

#[test]
fn the_reference_inventory_has_the_issues_topology() {
    let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args(["inventory", "-i", "inventories/cloud-cluster", "--graph"])
        .current_dir(repository())
        .env("NO_COLOR", "1")
        .output()
        .expect("running rplay");
    let graph = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{graph}");
    assert_eq!(
        graph,
        "@all:
  |--@ungrouped:
  |--@etcd:
  |  |--control-plane
  |--@gpu_nodes:
  |  |--gpu-worker-1
  |  |--gpu-worker-2
  |--@k8s_cluster:
  |  |--@kube_control_plane:
  |  |  |--control-plane
  |  |--@kube_node:
  |  |  |--cpu-worker
  |  |  |--gpu-worker-1
  |  |  |--gpu-worker-2
"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args(["inventory", "-i", "inventories/cloud-cluster", "--list"])
        .current_dir(repository())
        .output()
        .expect("running rplay");
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let host = |name: &str| &list["_meta"]["hostvars"][name];
    assert_eq!(host("control-plane")["ansible_host"], "192.168.200.10");
    assert_eq!(host("cpu-worker")["ansible_host"], "192.168.200.11");
    assert_eq!(host("gpu-worker-1")["ansible_host"], "192.168.200.12");
    assert_eq!(host("gpu-worker-2")["ansible_host"], "192.168.200.13");
    assert_eq!(
        host("gpu-worker-1")["node_labels"],
        serde_json::json!({"workload-type": "inference", "gpu-type": "rtx-a6000", "inference-ready": "true"})
    );
    assert_eq!(
        host("gpu-worker-2")["node_labels"],
        serde_json::json!({"gpu-type": "tesla-t4"})
    );
    for gpu in ["gpu-worker-1", "gpu-worker-2"] {
        assert_eq!(
            host(gpu)["node_taints"],
            serde_json::json!(["nvidia.com/gpu=present:NoSchedule"])
        );
    }
    // The roles' defaults (no labels, no taints) hold for the CPU worker.
    assert_eq!(host("cpu-worker")["node_taints"], serde_json::Value::Null);
    let cluster = host("control-plane");
    assert_eq!(cluster["kube_pod_subnet"], "10.244.0.0/16");
    assert_eq!(cluster["kube_service_subnet"], "10.96.0.0/12");
    assert_eq!(cluster["calico_mtu"], 1440);
    assert_eq!(cluster["containerd_systemd_cgroup"], true);
    assert_eq!(cluster["kubelet_max_pods"], 110);
    assert_eq!(
        cluster["kubelet_system_reserved"],
        serde_json::json!({"memory": "512Mi", "cpu": "500m"})
    );
}

/// Where the mirror lives on each target.
const MIRROR: &str = "/srv/rplay-mirror";

/// The content's variables pointed at the mirror on the target, and package lists cut down
/// to what the mirror has: vim, htop, tmux, cloud-init and containernetworking-plugins
/// (which needs iptables) would need their dependency trees in it.
fn mirror_vars() -> String {
    format!(
        "base_packages: [net-tools]
containerd_packages: [containerd, runc]
kubernetes_apt_repository_url: file:{MIRROR}/kubernetes/
kubernetes_apt_key_url: file://{MIRROR}/key.asc
nvidia_container_toolkit_repository_url: file:{MIRROR}/nvidia/
nvidia_container_toolkit_key_url: file://{MIRROR}/key.asc
node_exporter_url: file://{MIRROR}/files/node_exporter-1.8.2.linux-amd64.tar.gz
node_exporter_checksum: sha256:file://{MIRROR}/files/sha256sums.txt
calico_operator_manifest_url: file://{MIRROR}/files/tigera-operator.yaml
"
    )
}

/// Builds the mirror, copies it onto every target and makes it the targets' Debian mirror
/// (what a cloud image's sources.list points at; the rootfs's deb.debian.org is out of
/// reach), its lists read as a booted cloud machine has them.
fn provide_mirror(rig: &Targets) {
    let mirror = rig.path("mirror");
    let output = Command::new(repository().join("tests/rig/k8s-apt-repo.sh"))
        .arg(&mirror)
        .output()
        .expect("running tests/rig/k8s-apt-repo.sh");
    assert!(
        output.status.success(),
        "k8s-apt-repo.sh: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for target in &rig.names {
        rig.put_dir(target, &mirror, MIRROR);
        rig.sh(
            target,
            &format!(
                "rm -f /etc/apt/sources.list && printf 'Types: deb\\nURIs: file:{MIRROR}/debian/\\nSuites: /\\nSigned-By: {MIRROR}/key.asc\\n' >/etc/apt/sources.list.d/debian.sources && apt-get update -qq"
            ),
        );
    }
}

fn playbook(name: &str) -> String {
    repository()
        .join("playbooks")
        .join(name)
        .display()
        .to_string()
}

/// The host's recap counts, by name (`changed` → 3).
fn counts(run: &Run, host: &str) -> std::collections::BTreeMap<String, u32> {
    run.recap(host)
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(key, value)| (key.to_string(), value.parse().unwrap()))
        .collect()
}

fn assert_converged(run: &Run, host: &str, what: &str) {
    let counts = counts(run, host);
    assert_eq!(
        (counts["changed"], counts["failed"], counts["unreachable"]),
        (0, 0, 0),
        "{what}: {}\n{}",
        run.recap(host),
        run.stdout
    );
}

fn assert_applied(run: &Run, host: &str) {
    let counts = counts(run, host);
    assert!(
        counts["changed"] > 0 && counts["failed"] == 0 && counts["unreachable"] == 0,
        "first run on {host}: {}\n{}",
        run.recap(host),
        run.stdout
    );
}

/// The cluster's nodes on the rig's targets, with the reference inventory's variables.
const NODES: &[(&str, &str)] = &[
    ("control-plane", "t1"),
    ("cpu-worker", "t2"),
    ("gpu-worker-1", "t3"),
];

fn cluster_inventory(rig: &Targets) -> String {
    let dir = rig.path("cluster");
    let reference = repository().join("inventories/cloud-cluster");
    std::fs::create_dir_all(&dir).unwrap();
    for vars in ["group_vars", "host_vars"] {
        std::os::unix::fs::symlink(reference.join(vars), dir.join(vars)).unwrap();
    }
    let address = |host: &str| {
        let target = NODES.iter().find(|(name, _)| *name == host).unwrap().1;
        rig.address(target)
    };
    rig.write(
        "cluster/hosts.ini",
        &format!(
            "[kube_control_plane]
control-plane ansible_host={cp}

[etcd]
control-plane

[kube_node]
cpu-worker ansible_host={cpu}
gpu-worker-1 ansible_host={gpu}

[gpu_nodes]
gpu-worker-1

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_ssh_private_key_file={dir}/id_ed25519
ansible_ssh_common_args='-o UserKnownHostsFile={dir}/known_hosts'
",
            cp = address("control-plane"),
            cpu = address("cpu-worker"),
            gpu = address("gpu-worker-1"),
            dir = rig.dir.path().display()
        ),
    );
    dir.display().to_string()
}

#[test]
fn site_deploys_the_cluster_on_three_booted_machines_and_a_second_run_changes_nothing() {
    let rig = Targets::up(Kind::Nspawn, 3);
    provide_mirror(&rig);
    let inventory = cluster_inventory(&rig);
    rig.write("mirror.yml", &mirror_vars());
    let site = playbook("site.yml");
    let args = ["-i", &inventory, &site, "-e", "@mirror.yml"];
    // The stand-in kubectl has no API server to learn nodes from as their kubelets
    // register: it reports the nodes this file names (each Ready, with the labels and
    // taints kubectl recorded), for the cluster check that ends site.yml.
    rig.sh(
        "t1",
        "mkdir -p /var/lib/kubectl-standin && printf 'control-plane\\ncpu-worker\\ngpu-worker-1\\n' >/var/lib/kubectl-standin/registered-nodes",
    );

    let first = rig.rplay(&args);
    first.assert_status(0);
    for (host, _) in NODES {
        assert_applied(&first, host);
    }

    // The control plane: kubeadm init with the inventory's settings, its kubelet running.
    let config = rig.sh("t1", "cat /etc/kubernetes/kubeadm-config.yaml");
    for setting in [
        "kubernetesVersion: v1.31.2",
        "podSubnet: \"10.244.0.0/16\"",
        "serviceSubnet: \"10.96.0.0/12\"",
        "cgroupDriver: systemd",
        "maxPods: 110",
        "memory: \"512Mi\"",
        "cpu: \"500m\"",
    ] {
        assert!(config.contains(setting), "{setting} in:\n{config}");
    }
    let endpoint = format!("{}:6443", rig.address("t1"));
    assert_eq!(
        rig.sh("t1", "cat /var/lib/kubeadm-standin/endpoint"),
        format!("{endpoint}\n")
    );
    assert_eq!(
        rig.sh(
            "t1",
            "test -s /root/.kube/config && systemctl is-active kubelet"
        ),
        "active\n"
    );

    // The workers joined that control plane with the token it handed out.
    let tokens = rig.sh("t1", "cut -d' ' -f1 /var/lib/kubeadm-standin/tokens");
    for worker in ["t2", "t3"] {
        let join = rig.sh(worker, "cat /etc/kubernetes/kubeadm-join.yaml");
        assert!(
            join.contains(&format!("apiServerEndpoint: \"{endpoint}\"")),
            "{join}"
        );
        let token = join
            .lines()
            .find_map(|line| line.trim().strip_prefix("token: "))
            .unwrap_or_else(|| panic!("a token in:\n{join}"))
            .trim_matches('"');
        assert!(tokens.lines().any(|t| t == token), "{token} in {tokens}");
        assert_eq!(
            rig.sh(
                worker,
                "grep -c 'server: https://' /etc/kubernetes/kubelet.conf; systemctl is-active kubelet"
            ),
            "1\nactive\n"
        );
    }
    let gpu_join = rig.sh("t3", "cat /etc/kubernetes/kubeadm-join.yaml");
    assert!(gpu_join.contains("key: nvidia.com/gpu"), "{gpu_join}");
    assert!(gpu_join.contains("effect: NoSchedule"), "{gpu_join}");
    let cpu_join = rig.sh("t2", "cat /etc/kubernetes/kubeadm-join.yaml");
    assert!(!cpu_join.contains("nvidia.com/gpu"), "{cpu_join}");

    // Labels and taints, as the stand-in kubectl on the control plane recorded them.
    assert_eq!(
        rig.sh(
            "t1",
            "sort /var/lib/kubectl-standin/nodes/gpu-worker-1/labels"
        ),
        "gpu-type=rtx-a6000\ninference-ready=true\nworkload-type=inference\n"
    );
    assert_eq!(
        rig.sh(
            "t1",
            "cat /var/lib/kubectl-standin/nodes/gpu-worker-1/taints"
        ),
        "nvidia.com/gpu=present:NoSchedule\n"
    );
    assert_eq!(
        rig.sh("t1", "ls /var/lib/kubectl-standin/nodes"),
        "gpu-worker-1\n",
        "no other node has labels or taints"
    );

    // The cluster check read the nodes and kube-system pods through the API server with
    // the admin kubeconfig, found the labels and taints in place, and printed a summary.
    let calls = rig.sh("t1", "cat /var/lib/kubectl-standin/calls");
    for call in [
        "--kubeconfig /etc/kubernetes/admin.conf get nodes -o json",
        "--kubeconfig /etc/kubernetes/admin.conf get pods -n kube-system -o json",
    ] {
        assert!(
            calls.lines().any(|line| line == call),
            "{call} in:\n{calls}"
        );
    }
    assert!(
        !calls.contains("--kubeconfig /etc/kubernetes/admin.conf label"),
        "the check relabelled what node_labels had labelled:\n{calls}"
    );
    assert!(
        first.stdout.contains("kube-system pods: 5/5 running"),
        "no cluster summary in:\n{}",
        first.stdout
    );

    // Calico through the operator, with the inventory's MTU and pod network.
    let installation = rig.sh(
        "t1",
        "cat /var/lib/kubectl-standin/applied/installation.yaml",
    );
    assert!(installation.contains("mtu: 1440"), "{installation}");
    assert!(
        installation.contains("cidr: 10.244.0.0/16"),
        "{installation}"
    );
    assert_eq!(
        rig.sh("t1", "ls /var/lib/kubectl-standin/applied"),
        "installation.yaml\ntigera-operator.yaml\n"
    );

    for (host, target) in NODES {
        // Kernel: the modules configured for boot (nspawn cannot load them), sysctls live.
        assert_eq!(
            rig.sh(
                target,
                "cat /etc/modules-load.d/overlay.conf /etc/modules-load.d/br_netfilter.conf"
            ),
            "overlay\nbr_netfilter\n",
            "{host}"
        );
        assert_eq!(
            rig.sh(target, "cat /etc/sysctl.d/99-kubernetes.conf"),
            "net.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables=1\nnet.bridge.bridge-nf-call-ip6tables=1\n",
            "{host}"
        );
        assert_eq!(
            rig.sh(
                target,
                "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables"
            ),
            "1\n1\n1\n",
            "{host}"
        );
        // containerd from Debian, running with systemd cgroups for runc (and, on the GPU
        // worker, for the nvidia runtime); the tools held.
        let runtimes = if *host == "gpu-worker-1" { 2 } else { 1 };
        assert_eq!(
            rig.sh(
                target,
                "systemctl is-active containerd; grep -c '^ *SystemdCgroup = true' /etc/containerd/config.toml"
            ),
            format!("active\n{runtimes}\n"),
            "{host}"
        );
        assert_eq!(
            rig.sh(target, "dpkg --get-selections kubeadm kubectl kubelet"),
            "kubeadm\t\t\t\t\t\thold\nkubectl\t\t\t\t\t\thold\nkubelet\t\t\t\t\t\thold\n",
            "{host}"
        );
        assert_eq!(
            rig.sh(
                target,
                "dpkg-query -W -f '${Version}\\n' kubeadm kubectl kubelet"
            ),
            "1.31.2-1.1\n1.31.2-1.1\n1.31.2-1.1\n",
            "{host}"
        );
        assert_eq!(
            rig.sh(
                target,
                "systemctl is-active node_exporter; systemctl is-enabled node_exporter"
            ),
            "active\nenabled\n",
            "{host}"
        );
        assert_eq!(
            rig.sh(target, "cat /etc/ssh/sshd_config.d/10-key-only.conf | grep -v '^#'"),
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            "{host}"
        );
    }
    // Only the GPU worker has the NVIDIA runtime.
    assert_eq!(
        rig.sh(
            "t3",
            "grep -c 'BinaryName = \"/usr/bin/nvidia-container-runtime\"' /etc/containerd/config.toml; dpkg-query -W -f '${Status}\\n' nvidia-container-toolkit"
        ),
        "1\ninstall ok installed\n"
    );
    assert_eq!(
        rig.sh("t2", "grep -c nvidia /etc/containerd/config.toml; true"),
        "0\n"
    );

    let second = rig.rplay(&args);
    second.assert_status(0);
    for (host, _) in NODES {
        assert_converged(&second, host, "second run");
    }
}

#[test]
fn image_builds_a_node_that_is_configured_but_not_running_and_a_second_run_changes_nothing() {
    let rig = Targets::up(Kind::Nspawn, 1);
    provide_mirror(&rig);
    rig.write("mirror.yml", &mirror_vars());
    // What a fresh cloud image has: a swap entry and cloud-init's record of its first boot.
    rig.sh(
        "t1",
        "echo '/swapfile none swap sw 0 0' >>/etc/fstab && mkdir -p /var/lib/cloud/instances/i-build && ln -sfn /var/lib/cloud/instances/i-build /var/lib/cloud/instance",
    );
    let image = playbook("image.yml");
    let args = [image.as_str(), "-e", "@mirror.yml"];

    let first = rig.rplay(&args);
    first.assert_status(0);
    assert_applied(&first, "t1");

    // Installed at the cluster's version and held; enabled for the first boot, not running.
    assert_eq!(
        rig.sh(
            "t1",
            "dpkg-query -W -f '${Package} ${Version}\\n' kubeadm kubectl kubelet"
        ),
        "kubeadm 1.31.2-1.1\nkubectl 1.31.2-1.1\nkubelet 1.31.2-1.1\n"
    );
    assert_eq!(
        rig.sh("t1", "dpkg --get-selections kubeadm kubectl kubelet"),
        "kubeadm\t\t\t\t\t\thold\nkubectl\t\t\t\t\t\thold\nkubelet\t\t\t\t\t\thold\n"
    );
    let services = "for unit in kubelet containerd node_exporter; do echo $unit $(systemctl is-enabled $unit) $(systemctl is-active $unit); done";
    assert_eq!(
        rig.sh("t1", services),
        "kubelet enabled inactive\ncontainerd enabled inactive\nnode_exporter enabled inactive\n"
    );
    // The repository as pkgs.k8s.io is used: signed by the key the role stored.
    assert_eq!(
        rig.sh("t1", "cat /etc/apt/sources.list.d/kubernetes.sources"),
        format!(
            "X-Repolib-Name: kubernetes\nSigned-By: /etc/apt/keyrings/kubernetes.asc\nSuites: /\nTypes: deb\nURIs: file:{MIRROR}/kubernetes/\n"
        )
    );
    assert_eq!(
        rig.sh(
            "t1",
            &format!("cmp /etc/apt/keyrings/kubernetes.asc {MIRROR}/key.asc && echo same")
        ),
        "same\n"
    );
    assert_eq!(
        rig.sh(
            "t1",
            "grep -c '^ *SystemdCgroup = true' /etc/containerd/config.toml; grep -c 'sandbox_image = \"registry.k8s.io/pause:3.10\"' /etc/containerd/config.toml"
        ),
        "1\n1\n"
    );
    assert_eq!(
        rig.sh("t1", "cat /etc/modules-load.d/overlay.conf /etc/modules-load.d/br_netfilter.conf /etc/sysctl.d/99-kubernetes.conf"),
        "overlay\nbr_netfilter\nnet.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables=1\nnet.bridge.bridge-nf-call-ip6tables=1\n"
    );
    assert_eq!(
        rig.sh("t1", "grep swap /etc/fstab"),
        "# /swapfile none swap sw 0 0\n"
    );
    // Cleaned like a Packer build: no package lists or archives, no cloud-init record.
    assert_eq!(
        rig.sh("t1", "find /var/lib/apt/lists /var/cache/apt/archives -type f -not -name lock | wc -l; ls /var/lib/cloud"),
        "0\n"
    );

    // Again, as on the running machine the image became: its lists kept this time (the
    // clean-up would remove the lists the run fetched into the emptied directory).
    let second = rig.rplay(&[
        image.as_str(),
        "-e",
        "@mirror.yml",
        "-e",
        "image_clean=false",
    ]);
    second.assert_status(0);
    assert_converged(&second, "t1", "second run");
    assert_eq!(
        rig.sh("t1", services),
        "kubelet enabled inactive\ncontainerd enabled inactive\nnode_exporter enabled inactive\n"
    );
}
