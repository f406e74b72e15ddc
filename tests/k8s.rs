//! The `k8s` and `k8s_info` modules, run by the real binary on playbooks over the local
//! connection.
//!
//! There is NO Kubernetes API server here: none can be had where these tests run. The
//! `kubectl` the modules call is `tests/rig/kubectl-objects-standin`, a stand-in that plays
//! kubectl and the API server behind it for the calls the modules make (server-side apply
//! and its dry run, get, delete), keeping objects as JSON files in a directory that the
//! tests seed and read back, and recording every call. It runs under the project's
//! `.venv` Python (YAML manifests need PyYAML, which ansible-core brings); without
//! `.venv` these tests fail saying so. What is shown is that the modules drive kubectl as
//! a cluster expects and decide `changed` from what the server holds, not that a real
//! API server agrees.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::Test;

/// The stand-in kubectl on PATH, its object store and a kubeconfig, in one directory.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin");
        let wrapper = dir.path().join("bin/kubectl");
        std::fs::write(
            &wrapper,
            support::python_standin("kubectl-objects-standin", ""),
        )
        .expect("the kubectl wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(
            dir.path().join("admin.conf"),
            "apiVersion: v1\nkind: Config\n",
        )
        .expect("kubeconfig");
        Cluster { dir }
    }

    fn kubeconfig(&self) -> String {
        self.dir.path().join("admin.conf").display().to_string()
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A test whose rplay finds the stand-in as `kubectl`.
    fn test(&self) -> Test {
        Test::new()
            .bin_first(&self.dir.path().join("bin"))
            .env("KUBECTL_STANDIN_STATE", &self.state().display().to_string())
    }

    /// Every stored object, by its file name (`kind.namespace.name`).
    fn objects(&self) -> BTreeMap<String, Value> {
        let dir = self.state().join("objects");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return BTreeMap::new();
        };
        entries
            .map(|entry| {
                let path = entry.expect("an entry").path();
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("an object file");
                (name, serde_json::from_str(&text).expect("JSON"))
            })
            .collect()
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

    /// The calls made so far, then forgotten.
    fn take_calls(&self) -> Vec<String> {
        let path = self.state().join("calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_string).collect()
    }
}

fn apply_play(kubeconfig: &str, mode: &str) -> String {
    format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: a config map from a mapping
              kubernetes.core.k8s:
                kubeconfig: {kubeconfig}
                namespace: web
                definition:
                  apiVersion: v1
                  kind: ConfigMap
                  metadata:
                    name: api-config
                    labels: {{app: api}}
                  data:
                    mode: {mode}
            - name: a deployment and a service account from YAML text
              k8s:
                kubeconfig: {kubeconfig}
                namespace: web
                definition: |
                  apiVersion: apps/v1
                  kind: Deployment
                  metadata:
                    name: api
                  spec:
                    replicas: 2
                  ---
                  apiVersion: v1
                  kind: ServiceAccount
                  metadata:
                    name: api
        "#
    )
}

#[test]
fn apply_changes_once_then_is_ok_and_check_mode_leaves_the_store_alone() {
    let cluster = Cluster::new();
    let play = apply_play(&cluster.kubeconfig(), "fast");
    let first = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .run();
    assert_eq!(
        first.recap("localhost"),
        "localhost : ok=2 changed=2 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    let objects = cluster.objects();
    assert_eq!(
        objects.keys().collect::<Vec<_>>(),
        [
            "configmap.web.api-config",
            "deployment.web.api",
            "serviceaccount.web.api"
        ]
    );
    assert_eq!(
        objects["configmap.web.api-config"]["data"],
        json!({"mode": "fast"})
    );
    assert_eq!(
        objects["deployment.web.api"]["metadata"]["managedFields"][0]["manager"],
        "rplay"
    );
    let calls = cluster.take_calls();
    assert!(
        calls.iter().any(|call| call
            == &format!(
                "--kubeconfig {} apply --server-side --field-manager rplay -n web -f -",
                cluster.kubeconfig()
            )),
        "no server-side apply among {calls:#?}"
    );

    // The same play again: the dry run matches what is stored, nothing is applied.
    let second = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .run();
    assert_eq!(
        second.recap("localhost"),
        "localhost : ok=2 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    let calls = cluster.take_calls();
    assert!(
        calls
            .iter()
            .filter(|call| call.contains(" apply "))
            .all(|call| call.contains("--dry-run=server")),
        "an apply ran although nothing differed: {calls:#?}"
    );
    assert_eq!(
        cluster.objects(),
        objects,
        "an unchanged run rewrote objects"
    );

    // A changed value under --check: reported, shown by --diff, not stored.
    let checked = cluster
        .test()
        .file("play.yml", &apply_play(&cluster.kubeconfig(), "slow"))
        .args(&["play.yml", "--check", "--diff"])
        .stdout_contains("--- before: ConfigMap web/api-config")
        .stdout_contains("-    \"mode\": \"fast\"\n+    \"mode\": \"slow\"")
        .run();
    assert_eq!(
        checked.recap("localhost"),
        "localhost : ok=2 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    assert_eq!(cluster.objects(), objects, "check mode changed the store");

    // For real: only the config map changes.
    let updated = cluster
        .test()
        .file("play.yml", &apply_play(&cluster.kubeconfig(), "slow"))
        .args(&["play.yml"])
        .run();
    assert_eq!(
        updated.recap("localhost"),
        "localhost : ok=2 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    let after = cluster.objects();
    assert_eq!(
        after["configmap.web.api-config"]["data"],
        json!({"mode": "slow"})
    );
    assert_eq!(
        after["configmap.web.api-config"]["metadata"]["resourceVersion"],
        "2"
    );
    assert_eq!(after["deployment.web.api"], objects["deployment.web.api"]);
}

#[test]
fn absent_deletes_by_name_and_by_labels_and_is_ok_when_gone() {
    let cluster = Cluster::new();
    for (name, tier) in [("a", "cache"), ("b", "cache"), ("c", "db")] {
        cluster.seed(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "web", "labels": {"tier": tier},
                         "resourceVersion": "1"},
        }));
    }
    cluster.seed(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "old", "resourceVersion": "1"},
    }));
    let play = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: the old namespace
              k8s:
                kubeconfig: {0}
                api_version: v1
                kind: Namespace
                name: old
                state: absent
              register: gone
            - name: every cache config map
              k8s:
                kubeconfig: {0}
                kind: ConfigMap
                namespace: web
                label_selectors: [tier=cache]
                state: absent
            - copy:
                dest: "{{{{ playbook_dir }}}}/gone.json"
                content: "{{{{ {{'method': gone.method | default(''), 'changed': gone.changed}} | to_json }}}}"
        "#,
        cluster.kubeconfig()
    );
    let first = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .run();
    assert_eq!(
        first.recap("localhost"),
        "localhost : ok=3 changed=3 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    assert_eq!(
        cluster.objects().keys().collect::<Vec<_>>(),
        ["configmap.web.c"],
        "only the db config map should be left"
    );
    let gone: Value = serde_json::from_str(&first.file("gone.json")).unwrap();
    assert_eq!(gone, json!({"method": "delete", "changed": true}));
    let second = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .run();
    assert_eq!(
        second.recap("localhost"),
        "localhost : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0",
        "only the copy of the new result should change"
    );
    let gone: Value = serde_json::from_str(&second.file("gone.json")).unwrap();
    assert_eq!(gone, json!({"method": "", "changed": false}));
}

fn pod(name: &str, namespace: &str, app: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app},
                     "resourceVersion": "1"},
        "status": {"phase": phase},
    })
}

#[test]
fn k8s_info_filters_by_labels_fields_and_name_and_knows_unknown_kinds() {
    let cluster = Cluster::new();
    cluster.seed(pod("web-1", "web", "web", "Running"));
    cluster.seed(pod("web-2", "web", "web", "Pending"));
    cluster.seed(pod("web-3", "edge", "web", "Running"));
    cluster.seed(pod("db-1", "web", "db", "Running"));
    let play = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          module_defaults:
            kubernetes.core.k8s_info:
              kubeconfig: {0}
          tasks:
            - kubernetes.core.k8s_info:
                kind: Pod
                label_selectors: [app=web]
              register: everywhere
            - kubernetes.core.k8s_info:
                kind: Pod
                namespace: web
                label_selectors: [app=web]
                field_selectors: [status.phase=Running]
              register: running
            - kubernetes.core.k8s_info:
                kind: Pod
                namespace: web
                name: nope
              register: missing
            - kubernetes.core.k8s_info:
                kind: Widget
                api_version: example.com/v1
              register: unknown
            - copy:
                dest: "{{{{ playbook_dir }}}}/found.json"
                content: "{{{{ found | to_json }}}}"
              vars:
                found:
                  everywhere: "{{{{ everywhere.resources | map(attribute='metadata.name') | list }}}}"
                  running: "{{{{ running.resources | map(attribute='metadata.name') | list }}}}"
                  missing: "{{{{ missing.resources }}}}"
                  missing_api: "{{{{ missing.api_found }}}}"
                  unknown: "{{{{ unknown.resources }}}}"
                  unknown_api: "{{{{ unknown.api_found }}}}"
                  changed: "{{{{ everywhere.changed }}}}"
        "#,
        cluster.kubeconfig()
    );
    let output = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .run();
    let found: Value = serde_json::from_str(&output.file("found.json")).unwrap();
    assert_eq!(
        found,
        json!({
            "everywhere": ["web-3", "web-1", "web-2"],
            "running": ["web-1"],
            "missing": [],
            "missing_api": true,
            "unknown": [],
            "unknown_api": false,
            "changed": false,
        })
    );
}

#[test]
fn wait_condition_waits_for_type_status_and_reason_and_times_out_clearly() {
    let cluster = Cluster::new();
    let play = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: ready at once
              k8s:
                kubeconfig: {0}
                namespace: web
                wait: true
                wait_condition:
                  type: Available
                  status: "True"
                  reason: MinimumReplicasAvailable
                definition:
                  apiVersion: apps/v1
                  kind: Deployment
                  metadata: {{name: ready}}
                  spec: {{replicas: 1}}
              register: ready
            - name: never ready
              k8s:
                kubeconfig: {0}
                namespace: web
                wait: true
                wait_sleep: 1
                wait_timeout: 2
                definition:
                  apiVersion: apps/v1
                  kind: Deployment
                  metadata:
                    name: stuck
                    annotations: {{standin/never-ready: "true"}}
                  spec: {{replicas: 1}}
              ignore_errors: true
            - name: a reason the deployment does not give
              k8s_info:
                kubeconfig: {0}
                kind: Deployment
                api_version: apps/v1
                namespace: web
                name: ready
                wait: true
                wait_sleep: 1
                wait_timeout: 1
                wait_condition: {{type: Available, reason: Elsewhere}}
              ignore_errors: true
            - copy:
                dest: "{{{{ playbook_dir }}}}/ready.txt"
                content: "{{{{ ready.result.status.availableReplicas }}}}"
        "#,
        cluster.kubeconfig()
    );
    let output = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml"])
        .stdout_contains(
            "\"msg\": \"timed out after 2 seconds waiting for ready: Deployment web/stuck\"",
        )
        .stdout_contains(
            "\"msg\": \"timed out after 1 seconds waiting for condition Available=True (reason Elsewhere): Deployment web/ready\"",
        )
        .run();
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=4 changed=3 unreachable=0 failed=0 skipped=0 rescued=0 ignored=2"
    );
    assert_eq!(output.file("ready.txt"), "1");
    assert!(cluster.objects().contains_key("deployment.web.stuck"));
}

#[test]
fn a_host_without_kubectl_fails_saying_what_to_do() {
    let cluster = Cluster::new();
    cluster
        .test()
        .file(
            "play.yml",
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - k8s_info:
                    kind: Node
                    binary_path: /nonexistent/kubectl
            "#,
        )
        .args(&["play.yml"])
        .stdout_contains(
            "`/nonexistent/kubectl` is not installed on the host: install kubectl there",
        )
        .status(2)
        .run();
}

#[test]
fn arguments_are_checked_before_any_host_is_touched() {
    Test::new()
        .file(
            "play.yml",
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - k8s:
                    state: present
                    kind: ConfigMap
            "#,
        )
        .args(&["play.yml"])
        .stderr_contains("give `definition`, `src`, or `kind` with `name`")
        .status(5)
        .run();
}
