//! `playbooks/gpu-operator.yml` (the `gpu_operator` role), run by the real binary against
//! the first control plane of an inventory, reached with the local connection.
//!
//! There is NO GPU, NO helm and NO Kubernetes cluster here: none can be had where these
//! tests run. The `helm` the role calls is `tests/rig/helm-standin` (it plays helm and the
//! releases a cluster stores) and its `kubectl` is `tests/rig/kubectl-objects-standin` (it
//! plays kubectl and an API server, and for GPU pods a scheduler and a make-believe
//! `nvidia-smi`: a pod asking for `nvidia.com/gpu` lands on a seeded Node whose labels,
//! taints and `status.capacity` allow it, and succeeds). Both keep their state as JSON
//! files that each test seeds (the nodes, the chart the NVIDIA repository offers) and
//! reads back (the release and its values, the objects applied, every call). What is
//! shown is that the content asks helm and the API server for the right things, decides
//! `changed` as it should and fails naming what is wrong, not that the GPU Operator works
//! on real GPUs.
//!
//! They run the stand-ins under the project's `.venv` Python (PyYAML); without it they
//! fail saying so.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::Test;

const NVIDIA_REPOSITORY: &str = "https://helm.ngc.nvidia.com/nvidia";

/// The stand-ins on PATH, their stores, a kubeconfig and the inventory, in one directory
/// that every run of a test shares.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let cluster = Cluster {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        // The wrappers name the stores themselves, so the commands rplay runs need no
        // environment of their own.
        cluster.write_program(
            "bin/helm",
            &support::python_standin(
                "helm-standin",
                &format!("HELM_STANDIN_STATE={} ", cluster.helm_state().display()),
            ),
        );
        cluster.write_program(
            "bin/kubectl",
            &support::python_standin(
                "kubectl-objects-standin",
                &format!(
                    "KUBECTL_STANDIN_STATE={} ",
                    cluster.kubectl_state().display()
                ),
            ),
        );
        cluster.write("admin.conf", "apiVersion: v1\nkind: Config\n");
        // What NVIDIA's repository offers, as `helm repo update` would learn it.
        cluster.write(
            "helm/index.json",
            &json!({NVIDIA_REPOSITORY: {"gpu-operator": {
                "versions": ["v24.6.2", "v24.9.0"], "appVersion": "v24.9.0"}}})
            .to_string(),
        );
        // The reference topology: the control plane is this machine, reached locally; the
        // workers are only names here (the play runs on the control plane alone).
        cluster.write(
            "inventory/hosts.yml",
            "all:\n  children:\n    kube_control_plane:\n      hosts:\n        control-plane:\n          ansible_connection: local\n    kube_node:\n      hosts:\n        cpu-worker: {}\n        gpu-worker-1: {}\n        gpu-worker-2: {}\n    gpu_nodes:\n      hosts:\n        gpu-worker-1: {}\n        gpu-worker-2: {}\n    k8s_cluster:\n      children:\n        kube_control_plane: {}\n        kube_node: {}\n",
        );
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).expect("a directory");
        std::fs::write(path, text).expect("writing a test file");
    }

    fn write_program(&self, name: &str, text: &str) {
        self.write(name, text);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }

    fn helm_state(&self) -> PathBuf {
        self.path("helm")
    }

    fn kubectl_state(&self) -> PathBuf {
        self.path("kubectl")
    }

    /// Seeds a Node as a kubelet would have registered it, with the GPUs its device
    /// plugin advertises (`None`: no `nvidia.com/gpu` at all).
    fn node(&self, name: &str, labels: Value, gpu_taint: bool, gpus: Option<&str>) {
        let mut capacity = json!({"cpu": "16", "memory": "65842320Ki", "pods": "110"});
        if let Some(gpus) = gpus {
            capacity["nvidia.com/gpu"] = json!(gpus);
        }
        let taints = if gpu_taint {
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
        } else {
            json!([])
        };
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
            "spec": {"taints": taints},
            "status": {"capacity": capacity, "allocatable": capacity},
        });
        self.write(
            &format!("kubectl/objects/node._.{name}.json"),
            &node.to_string(),
        );
    }

    /// The inventory's nodes: gpu-worker-1 is the inference node, gpu-worker-2 has
    /// `gpu_worker_2_gpus` GPUs.
    fn seed_nodes(&self, gpu_worker_2_gpus: Option<&str>) {
        self.node(
            "control-plane",
            json!({"node-role.kubernetes.io/control-plane": ""}),
            false,
            None,
        );
        self.node("cpu-worker", json!({}), false, None);
        self.node(
            "gpu-worker-1",
            json!({"workload-type": "inference", "gpu-type": "rtx-a6000", "inference-ready": "true"}),
            true,
            Some("1"),
        );
        self.node(
            "gpu-worker-2",
            json!({"gpu-type": "tesla-t4"}),
            true,
            gpu_worker_2_gpus,
        );
    }

    /// `rplay -i INVENTORY playbooks/gpu-operator.yml -e @VARS`, with the stand-ins first
    /// on PATH.
    fn play(&self, vars: &Value) -> Test {
        self.write("vars.json", &vars.to_string());
        let playbook = repository().join("playbooks/gpu-operator.yml");
        Test::new().bin_first(&self.path("bin")).args(&[
            "-i",
            &self.path("inventory").display().to_string(),
            &playbook.display().to_string(),
            "-e",
            &format!("@{}", self.path("vars.json").display()),
        ])
    }

    fn release(&self) -> Value {
        let text = std::fs::read_to_string(
            self.helm_state()
                .join("releases/gpu-operator.gpu-operator.json"),
        )
        .expect("the gpu-operator release is stored");
        serde_json::from_str(&text).expect("a release file")
    }

    fn object(&self, file: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.kubectl_state().join("objects").join(file)).ok()?;
        Some(serde_json::from_str(&text).expect("an object file"))
    }

    /// Every object an apply stored, in order (deleted ones too).
    fn applied(&self, kind: &str) -> Vec<Value> {
        std::fs::read_to_string(self.kubectl_state().join("applied"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("an applied object"))
            .filter(|object| object["kind"] == kind)
            .collect()
    }

    /// The calls a stand-in recorded so far, then forgotten.
    fn take_calls(&self, state: &Path) -> Vec<String> {
        let path = state.join("calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_string).collect()
    }
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The settings a user of the inference cluster would give: a pinned driver, four
/// time-slices per GPU, a ServiceMonitor for the DCGM exporter; quick polling, since the
/// stand-ins answer at once.
fn inference_settings(cluster: &Cluster) -> Value {
    json!({
        "gpu_operator_kubeconfig": cluster.path("admin.conf"),
        "gpu_operator_driver_version": "550.127.05",
        "gpu_operator_time_slicing_replicas": 4,
        "gpu_operator_dcgm_exporter_service_monitor": true,
        "gpu_operator_validation_retries": 2,
        "gpu_operator_validation_delay": 1,
    })
}

#[test]
fn installs_the_operator_with_the_users_values_validates_the_gpus_and_a_second_run_changes_nothing()
{
    let cluster = Cluster::new();
    cluster.seed_nodes(Some("1"));
    let settings = inference_settings(&cluster);

    let first = cluster
        .play(&settings)
        .stdout_contains("nvidia-smi succeeded on gpu-worker-1")
        .run();
    // Changed: the repository, the namespace, the time-slicing ConfigMap, the release.
    assert_eq!(
        first.recap("control-plane"),
        "control-plane : ok=13 changed=4 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0",
        "{}",
        first.stdout
    );

    // The release, from the pinned chart, with the values the settings make.
    let release = cluster.release();
    assert_eq!(release["chart"]["metadata"]["name"], "gpu-operator");
    assert_eq!(release["chart"]["metadata"]["version"], "v24.9.0");
    assert_eq!(release["info"]["status"], "deployed");
    assert_eq!(
        release["config"],
        json!({
            "driver": {"enabled": true, "version": "550.127.05"},
            "toolkit": {"enabled": false},
            "devicePlugin": {"enabled": true,
                             "config": {"name": "time-slicing-config", "default": "any"}},
            "dcgmExporter": {"enabled": true, "serviceMonitor": {"enabled": true}},
            "gfd": {"enabled": true},
            "migManager": {"enabled": false},
            "daemonsets": {"tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        })
    );
    let helm_calls = cluster.take_calls(&cluster.helm_state());
    assert!(
        helm_calls
            .iter()
            .any(|call| call == &format!("repo add nvidia {NVIDIA_REPOSITORY}")),
        "{helm_calls:#?}"
    );
    assert!(
        helm_calls.iter().any(|call| call.contains(
            "upgrade gpu-operator nvidia/gpu-operator --install --namespace gpu-operator"
        ) && call.contains("--version v24.9.0 --create-namespace")
            && !call.contains("--dry-run")),
        "{helm_calls:#?}"
    );

    // The namespace and the device plugin's sharing config, in it.
    let namespace = cluster
        .object("namespace._.gpu-operator.json")
        .expect("the namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    let config_map = cluster
        .object("configmap.gpu-operator.time-slicing-config.json")
        .expect("the time-slicing ConfigMap");
    assert_eq!(
        config_map["data"]["any"],
        "version: v1\nflags:\n  migStrategy: none\nsharing:\n  timeSlicing:\n    failRequestsGreaterThanOne: true\n    resources:\n      - name: nvidia.com/gpu\n        replicas: 4"
    );

    // The validation pod: applied with the GPU toleration, the inference node selector and
    // one GPU, placed on the inference node, read back, its log read, and removed.
    let pods = cluster.applied("Pod");
    assert_eq!(pods.len(), 1, "{pods:#?}");
    let pod = &pods[0];
    assert_eq!(pod["metadata"]["name"], "gpu-operator-validation");
    assert_eq!(pod["metadata"]["namespace"], "gpu-operator");
    assert_eq!(
        pod["spec"]["tolerations"],
        json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert_eq!(
        pod["spec"]["nodeSelector"],
        json!({"workload-type": "inference"})
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["command"], json!(["nvidia-smi"]));
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], 1);
    assert_eq!(pod["spec"]["nodeName"], "gpu-worker-1");
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert!(
        cluster
            .object("pod.gpu-operator.gpu-operator-validation.json")
            .is_none(),
        "the validation pod is removed at the end"
    );
    let kubectl_calls = cluster.take_calls(&cluster.kubectl_state());
    assert!(
        kubectl_calls
            .iter()
            .any(|call| call.ends_with("logs gpu-operator-validation -n gpu-operator")),
        "{kubectl_calls:#?}"
    );
    // Each GPU node's capacity was read.
    for node in ["gpu-worker-1", "gpu-worker-2"] {
        assert!(
            kubectl_calls
                .iter()
                .any(|call| call.contains(&format!(" get Node {node} "))),
            "no read of node {node}: {kubectl_calls:#?}"
        );
    }

    // The second run changes nothing: no upgrade (only its dry run), no apply but the
    // validation pod's, which is reported `ok` and removed again.
    let second = cluster.play(&settings).run();
    assert_eq!(
        second.recap("control-plane"),
        "control-plane : ok=13 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0",
        "{}",
        second.stdout
    );
    assert_eq!(cluster.release()["version"], 1);
    let helm_calls = cluster.take_calls(&cluster.helm_state());
    assert!(
        helm_calls
            .iter()
            .filter(|call| call.starts_with("upgrade "))
            .all(|call| call.contains("--dry-run")),
        "{helm_calls:#?}"
    );
    assert_eq!(cluster.applied("Pod").len(), 2);
    assert!(cluster
        .object("pod.gpu-operator.gpu-operator-validation.json")
        .is_none());
}

#[test]
fn a_gpu_node_without_capacity_fails_the_play_naming_the_node() {
    let cluster = Cluster::new();
    // gpu-worker-2 has registered, but its device plugin advertises no GPU.
    cluster.seed_nodes(None);
    let mut settings = inference_settings(&cluster);
    // Nodes with a driver already installed, and no sharing.
    settings["gpu_operator_driver_enabled"] = json!(false);
    settings["gpu_operator_time_slicing_replicas"] = json!("");

    let run = cluster
        .play(&settings)
        .status(2)
        .stdout_contains("nvidia-smi succeeded on gpu-worker-1")
        .stdout_contains(
            "\"msg\": \"GPU node gpu-worker-2 advertises no nvidia.com/gpu capacity (capacity: {",
        )
        .stdout_contains("is the driver loaded and the device plugin running on it?")
        .run();
    // The wait for gpu-worker-2's capacity ran out (ignored, so that the check after it
    // names the node), then that check failed.
    assert_eq!(
        run.recap("control-plane"),
        "control-plane : ok=12 changed=3 unreachable=0 failed=1 skipped=0 rescued=0 ignored=1"
    );
    assert!(
        !run.stdout.contains("GPU node gpu-worker-1"),
        "only gpu-worker-2 is named:\n{}",
        run.stdout
    );
    assert_eq!(
        cluster.release()["config"],
        json!({
            "driver": {"enabled": false},
            "toolkit": {"enabled": false},
            "devicePlugin": {"enabled": true},
            "dcgmExporter": {"enabled": true, "serviceMonitor": {"enabled": true}},
            "gfd": {"enabled": true},
            "migManager": {"enabled": false},
            "daemonsets": {"tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        })
    );
    assert!(cluster
        .object("configmap.gpu-operator.time-slicing-config.json")
        .is_none());
}

#[test]
fn a_validation_pod_no_node_takes_fails_the_play_with_the_schedulers_reason() {
    let cluster = Cluster::new();
    cluster.seed_nodes(Some("1"));
    // No node carries the inference label the pod selects.
    cluster.node(
        "gpu-worker-1",
        json!({"gpu-type": "rtx-a6000"}),
        true,
        Some("1"),
    );
    let run = cluster
        .play(&inference_settings(&cluster))
        .status(2)
        .stdout_contains(
            "\"msg\": \"the validation pod gpu-operator/gpu-operator-validation did not succeed: phase Pending (0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.), still not finished after 2 seconds\"",
        )
        .run();
    assert_eq!(
        run.recap("control-plane"),
        "control-plane : ok=9 changed=4 unreachable=0 failed=1 skipped=0 rescued=0 ignored=1"
    );
    assert!(
        cluster
            .object("pod.gpu-operator.gpu-operator-validation.json")
            .is_none(),
        "the validation pod is removed after a failure too:\n{}",
        run.stdout
    );
}
