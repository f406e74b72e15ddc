//! The content rplay ships (`inventories/cloud-cluster`, `roles/`, `playbooks/`): every
//! playbook passes `--syntax-check` against the reference inventory.

use std::path::Path;
use std::process::Command;

const PLAYBOOKS: &[&str] = &["image.yml", "reset.yml", "site.yml"];

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
