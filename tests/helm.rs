//! The `helm` and `helm_repository` modules, run by the real binary on playbooks over the
//! local connection.
//!
//! There is NO helm and NO Kubernetes cluster here: helm is not in the registries these
//! tests can reach, and no API server can run where they run. The `helm` the modules call
//! is `tests/rig/helm-standin`, a stand-in that plays helm and the cluster storing its
//! releases for the calls the modules make (status, get values, upgrade --install and its
//! dry run, uninstall, repo add/remove/list/update), keeping releases, repositories and
//! the charts each repository offers as JSON files in a directory that the tests seed and
//! read back, and recording every call. It runs under the project's `.venv` Python (YAML
//! values files need PyYAML, which ansible-core brings); without `.venv` these tests fail
//! saying so. What is shown is that the modules drive helm as a cluster expects and
//! decide `changed` from what helm reports, not that a real helm agrees.

mod support;

use serde_json::{json, Value};
use std::path::PathBuf;
use support::Test;

/// The stand-in helm on PATH, its store and a kubeconfig, in one directory.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin");
        let wrapper = dir.path().join("bin/helm");
        std::fs::write(&wrapper, support::python_standin("helm-standin", ""))
            .expect("the helm wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(
            dir.path().join("admin.conf"),
            "apiVersion: v1\nkind: Config\n",
        )
        .expect("kubeconfig");
        let cluster = Cluster { dir };
        // What the repository at this URL offers, as `helm repo update` would learn it.
        std::fs::create_dir_all(cluster.state()).expect("state dir");
        std::fs::write(
            cluster.state().join("index.json"),
            json!({
                "https://charts.example.com/stable": {
                    "web": {"versions": ["1.0.0", "1.1.0", "1.2.0"], "appVersion": "2.4"},
                },
            })
            .to_string(),
        )
        .expect("the repository index");
        cluster
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A test whose rplay finds the stand-in as `helm`.
    fn test(&self) -> Test {
        Test::new()
            .bin_first(&self.dir.path().join("bin"))
            .env("HELM_STANDIN_STATE", &self.state().display().to_string())
    }

    /// A stored release, or `None`.
    fn release(&self, namespace: &str, name: &str) -> Option<Value> {
        let path = self
            .state()
            .join("releases")
            .join(format!("{namespace}.{name}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("a release file"))
    }

    fn repositories(&self) -> Value {
        let text = std::fs::read_to_string(self.state().join("repositories.json"))
            .unwrap_or_else(|_| "[]".into());
        serde_json::from_str(&text).expect("the repository list")
    }

    fn seed_repository(&self) {
        std::fs::write(
            self.state().join("repositories.json"),
            json!([{"name": "stable", "url": "https://charts.example.com/stable"}]).to_string(),
        )
        .expect("seeding the repository list");
    }

    /// The calls made so far, then forgotten.
    fn take_calls(&self) -> Vec<String> {
        let path = self.state().join("calls");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_string).collect()
    }

    /// Runs a play and returns its output.
    fn play(&self, play: &str, extra: &[&str]) -> support::Output {
        let mut args = vec!["play.yml"];
        args.extend_from_slice(extra);
        self.test().file("play.yml", play).args(&args).run()
    }
}

fn recap(ok: u32, changed: u32) -> String {
    format!(
        "localhost : ok={ok} changed={changed} unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    )
}

/// A release of `stable/web` with a values file on the host and inline values.
fn release_play(cluster: &Cluster, version: &str, replicas: u32) -> String {
    format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: the web release
              kubernetes.core.helm:
                name: web
                chart_ref: stable/web
                chart_version: "{version}"
                release_namespace: shop
                create_namespace: true
                kubeconfig: {kubeconfig}
                values_files: [{values_file}]
                values:
                  replicas: {replicas}
                  image: {{tag: stable}}
                wait: true
                wait_timeout: 5m
              register: web
            - copy:
                dest: "{{{{ playbook_dir }}}}/web.json"
                content: "{{{{ web | to_json }}}}"
        "#,
        kubeconfig = cluster.path("admin.conf"),
        values_file = cluster.path("web-values.yaml"),
    )
}

#[test]
fn install_then_ok_then_upgrades_on_values_files_and_chart_version() {
    let cluster = Cluster::new();
    cluster.seed_repository();
    std::fs::write(
        cluster.path("web-values.yaml"),
        "image:\n  repository: registry.example.com/web\n  tag: old\nservice:\n  port: 80\n",
    )
    .unwrap();

    // First run: installed into a namespace helm creates, values merged as helm merges
    // them (the inline values over the file).
    let first = cluster.play(&release_play(&cluster, "1.0.0", 2), &[]);
    assert_eq!(first.recap("localhost"), recap(2, 2));
    let release = cluster
        .release("shop", "web")
        .expect("the release is stored");
    assert_eq!(release["version"], 1);
    assert_eq!(release["chart"]["metadata"]["version"], "1.0.0");
    assert_eq!(
        release["config"],
        json!({
            "replicas": 2,
            "image": {"repository": "registry.example.com/web", "tag": "stable"},
            "service": {"port": 80},
        })
    );
    let result: Value = serde_json::from_str(&first.file("web.json")).unwrap();
    assert_eq!(result["changed"], true);
    assert_eq!(result["status"]["status"], "deployed");
    assert_eq!(result["status"]["chart"], "web-1.0.0");
    assert_eq!(result["status"]["revision"], 1);
    assert!(
        result["stdout"]
            .as_str()
            .unwrap()
            .contains("Release \"web\" does not exist. Installing it now."),
        "helm's output is not in the result: {result:#}"
    );
    let command = result["command"].as_str().unwrap();
    for part in [
        "upgrade web stable/web --install --namespace shop",
        "--version 1.0.0 --create-namespace",
        "--values - --wait --timeout 5m",
    ] {
        assert!(command.contains(part), "`{part}` not in {command}");
    }
    let calls = cluster.take_calls();
    assert!(
        calls.iter().all(|call| !call.contains("--dry-run")),
        "a release that is not installed needs no dry run: {calls:#?}"
    );

    // The same play again: the dry run agrees with what is stored.
    let second = cluster.play(&release_play(&cluster, "1.0.0", 2), &[]);
    assert_eq!(second.recap("localhost"), recap(2, 1));
    let result: Value = serde_json::from_str(&second.file("web.json")).unwrap();
    assert_eq!(result["changed"], false);
    assert_eq!(result["status"]["chart"], "web-1.0.0");
    assert_eq!(cluster.release("shop", "web").unwrap()["version"], 1);
    let calls = cluster.take_calls();
    assert!(
        calls
            .iter()
            .filter(|call| call.contains("upgrade "))
            .all(|call| call.contains("--dry-run")),
        "an upgrade ran although nothing differed: {calls:#?}"
    );

    // The values file on the host changes: seen through the dry run, upgraded.
    std::fs::write(
        cluster.path("web-values.yaml"),
        "image:\n  repository: registry.example.com/web\n  tag: old\nservice:\n  port: 8080\n",
    )
    .unwrap();
    let edited = cluster.play(&release_play(&cluster, "1.0.0", 2), &["--diff"]);
    assert_eq!(edited.recap("localhost"), recap(2, 2));
    assert!(
        edited
            .stdout
            .contains("-    \"port\": 80\n+    \"port\": 8080"),
        "no values diff in:\n{}",
        edited.stdout
    );
    let release = cluster.release("shop", "web").unwrap();
    assert_eq!(release["version"], 2);
    assert_eq!(release["config"]["service"], json!({"port": 8080}));

    // Inline values change: upgraded.
    let scaled = cluster.play(&release_play(&cluster, "1.0.0", 3), &[]);
    assert_eq!(scaled.recap("localhost"), recap(2, 2));
    let release = cluster.release("shop", "web").unwrap();
    assert_eq!(release["version"], 3);
    assert_eq!(release["config"]["replicas"], 3);

    // A newer chart version: upgraded, and then ok.
    let bumped = cluster.play(&release_play(&cluster, "1.2.0", 3), &[]);
    assert_eq!(bumped.recap("localhost"), recap(2, 2));
    let release = cluster.release("shop", "web").unwrap();
    assert_eq!(release["version"], 4);
    assert_eq!(release["chart"]["metadata"]["version"], "1.2.0");
    let again = cluster.play(&release_play(&cluster, "1.2.0", 3), &[]);
    assert_eq!(again.recap("localhost"), recap(2, 1));
    assert_eq!(cluster.release("shop", "web").unwrap()["version"], 4);
}

#[test]
fn check_mode_plans_without_touching_the_store() {
    let cluster = Cluster::new();
    cluster.seed_repository();
    std::fs::write(cluster.path("web-values.yaml"), "service: {port: 80}\n").unwrap();

    // Not installed: --check reports the install, stores nothing.
    let planned = cluster.play(&release_play(&cluster, "1.0.0", 2), &["--check"]);
    assert_eq!(planned.recap("localhost"), recap(2, 2));
    assert_eq!(cluster.release("shop", "web"), None);
    let calls = cluster.take_calls();
    assert!(
        calls.iter().all(|call| !call.contains(" upgrade ")),
        "check mode ran an upgrade for a release that is not installed: {calls:#?}"
    );

    cluster.play(&release_play(&cluster, "1.0.0", 2), &[]);
    let stored = cluster.release("shop", "web").unwrap();
    let namespaces = std::fs::read_to_string(cluster.state().join("namespaces")).unwrap();
    assert_eq!(namespaces, "shop\n", "create_namespace made no namespace");

    // Installed, a newer version asked for under --check: changed, shown, not stored.
    let checked = cluster.play(&release_play(&cluster, "1.1.0", 2), &["--check", "--diff"]);
    assert_eq!(checked.recap("localhost"), recap(2, 2));
    assert!(
        checked.stdout.contains("-web-1.0.0\n+web-1.1.0"),
        "no chart diff in:\n{}",
        checked.stdout
    );
    assert_eq!(cluster.release("shop", "web").unwrap(), stored);
}

#[test]
fn absent_uninstalls_then_is_ok_and_a_failed_release_is_upgraded() {
    let cluster = Cluster::new();
    cluster.seed_repository();
    let present = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - helm:
                name: cache
                chart_ref: stable/web
                namespace: default
                kubeconfig: {}
        "#,
        cluster.path("admin.conf")
    );
    let first = cluster.play(&present, &[]);
    assert_eq!(first.recap("localhost"), recap(1, 1));
    // Without chart_version the newest the repository offers is installed.
    assert_eq!(
        cluster.release("default", "cache").unwrap()["chart"]["metadata"]["version"],
        "1.2.0"
    );

    // A release that helm reports as failed is upgraded even with equal chart and values.
    let path = cluster.state().join("releases/default.cache.json");
    let mut failed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    failed["info"]["status"] = json!("failed");
    std::fs::write(&path, failed.to_string()).unwrap();
    let repaired = cluster.play(&present, &["-v"]);
    assert_eq!(repaired.recap("localhost"), recap(1, 1));
    assert_eq!(
        cluster.release("default", "cache").unwrap()["info"]["status"],
        "deployed"
    );

    let absent = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - kubernetes.core.helm:
                name: cache
                release_state: absent
                release_namespace: default
                kubeconfig: {}
                wait: true
              register: gone
            - copy:
                dest: "{{{{ playbook_dir }}}}/gone.json"
                content: "{{{{ gone | to_json }}}}"
        "#,
        cluster.path("admin.conf")
    );
    let checked = cluster.play(&absent, &["--check"]);
    assert_eq!(checked.recap("localhost"), recap(2, 2));
    assert!(
        cluster.release("default", "cache").is_some(),
        "check mode uninstalled"
    );
    let removed = cluster.play(&absent, &[]);
    assert_eq!(removed.recap("localhost"), recap(2, 2));
    assert_eq!(cluster.release("default", "cache"), None);
    let gone: Value = serde_json::from_str(&removed.file("gone.json")).unwrap();
    assert_eq!(gone["stdout"], "release \"cache\" uninstalled");
    assert_eq!(gone["status"]["chart"], "web-1.2.0");
    let calls = cluster.take_calls();
    assert!(
        calls.iter().any(|call| call
            == &format!(
                "--kubeconfig {} uninstall cache --namespace default --wait",
                cluster.path("admin.conf")
            )),
        "no uninstall among {calls:#?}"
    );
    let again = cluster.play(&absent, &[]);
    assert_eq!(again.recap("localhost"), recap(2, 1));
    let gone: Value = serde_json::from_str(&again.file("gone.json")).unwrap();
    assert_eq!(gone["changed"], false);
}

#[test]
fn repositories_are_added_replaced_and_removed_once() {
    let cluster = Cluster::new();
    let play = |url: &str, state: &str, force: bool| {
        format!(
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - kubernetes.core.helm_repository:
                    name: private
                    repo_url: {url}
                    repo_state: {state}
                    repo_username: deploy
                    repo_password: s3cret-word
                    force_update: {force}
            "#
        )
    };
    let added = cluster.play(
        &play("https://charts.example.com/private", "present", false),
        &[],
    );
    assert_eq!(added.recap("localhost"), recap(1, 1));
    assert_eq!(
        cluster.repositories(),
        json!([{"name": "private", "url": "https://charts.example.com/private",
                "username": "deploy", "password": "s3cret-word"}])
    );
    let calls = cluster.take_calls();
    assert!(
        calls.iter().all(|call| !call.contains("s3cret-word")),
        "the password was in argv: {calls:#?}"
    );
    assert!(
        calls.contains(
            &"repo add private https://charts.example.com/private --username deploy --password-stdin"
                .to_string()
        ),
        "no repo add among {calls:#?}"
    );
    let again = cluster.play(
        &play("https://charts.example.com/private", "present", false),
        &[],
    );
    assert_eq!(again.recap("localhost"), recap(1, 0));

    // Another URL under the same name: refused without force_update, replaced with it.
    cluster
        .test()
        .file(
            "play.yml",
            &play("https://mirror.example.com/private", "present", false),
        )
        .args(&["play.yml"])
        .stdout_contains(
            "a repository named `private` is already listed with another URL \
             (https://charts.example.com/private): set `force_update: true`",
        )
        .status(2)
        .run();
    let replaced = cluster.play(
        &play("https://mirror.example.com/private", "present", true),
        &[],
    );
    assert_eq!(replaced.recap("localhost"), recap(1, 1));
    assert_eq!(
        cluster.repositories()[0]["url"],
        "https://mirror.example.com/private"
    );
    let forced_again = cluster.play(
        &play("https://mirror.example.com/private", "present", true),
        &[],
    );
    assert_eq!(forced_again.recap("localhost"), recap(1, 0));

    let removed = cluster.play(
        &play("https://mirror.example.com/private", "absent", false),
        &[],
    );
    assert_eq!(removed.recap("localhost"), recap(1, 1));
    assert_eq!(cluster.repositories(), json!([]));
    let none_left = cluster.play(
        &play("https://mirror.example.com/private", "absent", false),
        &[],
    );
    assert_eq!(none_left.recap("localhost"), recap(1, 0));
}

#[test]
fn update_repo_cache_refreshes_before_reading_and_a_missing_repository_fails_clearly() {
    let cluster = Cluster::new();
    let play = format!(
        r#"
        - hosts: localhost
          gather_facts: false
          tasks:
            - helm_repository:
                name: stable
                repo_url: https://charts.example.com/stable
              when: add_repository | bool
            - helm:
                name: web
                chart_ref: stable/web
                release_namespace: default
                update_repo_cache: true
                kubeconfig: {}
        "#,
        cluster.path("admin.conf")
    );
    cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml", "-e", "add_repository=false"])
        .stdout_contains(
            "`helm repo update` failed (rc 1): Error: no repositories found. You must add one before updating",
        )
        .status(2)
        .run();
    let output = cluster
        .test()
        .file("play.yml", &play)
        .args(&["play.yml", "-e", "add_repository=true"])
        .run();
    assert_eq!(output.recap("localhost"), recap(2, 2));
    let calls = cluster.take_calls();
    let status = calls
        .iter()
        .position(|call| call.contains(" status web "))
        .expect("the release was read");
    assert!(
        status > 0 && calls[status - 1].ends_with(" repo update"),
        "the cache was not refreshed before the release was read: {calls:#?}"
    );
}

#[test]
fn a_host_without_helm_fails_saying_what_to_install() {
    let cluster = Cluster::new();
    for task in [
        "helm: {name: web, chart_ref: stable/web, release_namespace: default, binary_path: /nonexistent/helm}",
        "helm_repository: {name: stable, repo_url: https://charts.example.com/stable, binary_path: /nonexistent/helm}",
    ] {
        cluster
            .test()
            .file(
                "play.yml",
                &format!(
                    "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - {task}\n"
                ),
            )
            .args(&["play.yml"])
            .stdout_contains(
                "`/nonexistent/helm` is not installed on the host: install helm 3 there",
            )
            .status(2)
            .run();
    }
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
                - kubernetes.core.helm:
                    name: web
                    release_namespace: default
                    wait_timeout: five minutes
            "#,
        )
        .args(&["play.yml"])
        .stderr_contains("`chart_ref` is required with `state: present`")
        .status(5)
        .run();
    Test::new()
        .file(
            "play.yml",
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - helm:
                    name: web
                    chart_ref: stable/web
                    release_namespace: default
                    wait_timeout: five minutes
            "#,
        )
        .args(&["play.yml"])
        .stderr_contains("`wait_timeout` `five minutes` is not a duration helm reads")
        .status(5)
        .run();
}
