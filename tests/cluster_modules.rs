//! The cluster modules, `containerd_config` and `kubeadm`, against booted Debian 13
//! machines: each target is a `systemd-nspawn` container with systemd as PID 1, its own
//! network namespace and its own filesystem (`tests/rig/targets.sh up nspawn`), and no
//! Internet. Every check reads the target's state over plain OpenSSH, not rplay's report.
//!
//! containerd is the real thing: Debian's `containerd` and `runc` packages, fetched once on
//! this machine by `tests/rig/containerd-repo.sh` (cached in `.cache/debs`), served to the
//! target as a flat apt repository and installed with rplay's own `apt_repository` and
//! `apt`. It runs under systemd in the nspawn machine as packaged; all it cannot do there is
//! `modprobe overlay`, which its unit lets fail. What the running daemon loaded is read
//! from the line it logs when its CRI plugin starts ("Start cri plugin with config {…}"),
//! in the journal of the unit's current invocation.
//!
//! kubeadm is NOT the real kubeadm. The real one cannot be fetched where these tests run,
//! so `tests/rig/kubeadm-standin`, a POSIX-sh stand-in, is installed as
//! `/usr/local/bin/kubeadm`: it answers the calls the module makes, writes the files
//! kubeadm writes (admin.conf, kubelet.conf, a CA made with openssl, static pod manifests)
//! and keeps bootstrap tokens in /var/lib/kubeadm-standin. These tests show that the module
//! drives kubeadm correctly across three machines; no Kubernetes cluster is built.

#[path = "support/targets.rs"]
mod targets;

use std::process::Command;
use targets::{recap, Kind, Targets};
use toml_edit::{DocumentMut, Item};

const INSTALL_CONTAINERD: &str = r#"- hosts: t1
  gather_facts: false
  tasks:
    - name: no Debian mirror, which the target cannot reach (apt-get update would wait on it)
      apt_repository:
        repo: "deb http://deb.debian.org/debian trixie main"
        state: absent
        update_cache: false
    - name: the flat repository of containerd and runc copied to the target
      apt_repository:
        repo: "deb [trusted=yes] file:/srv/containerd-repo ./"
        filename: rplay-containerd
    - name: containerd, with runc as its dependency
      apt:
        name: containerd
"#;

/// The containerd play, with `more_arguments` (YAML at the arguments' indentation) added.
fn containerd_playbook(more_arguments: &str) -> String {
    format!(
        r#"- hosts: t1
  gather_facts: false
  tasks:
    - name: containerd for the kubelet
      containerd_config:
        systemd_cgroup: true
        sandbox_image: registry.k8s.io/pause:3.10
{more_arguments}      notify: restart containerd
  handlers:
    - name: restart containerd
      systemd_service:
        name: containerd
        state: restarted
"#
    )
}

const MIRRORS: &str = "        registry_mirrors:
          docker.io: [https://mirror.gcr.io]
";

const NVIDIA: &str = "        runtimes:
          - name: nvidia
            binary_name: /usr/bin/nvidia-container-runtime
";

const CONFIG: &str = "/etc/containerd/config.toml";

/// Builds the repository of Debian's containerd packages, copies it to the target and
/// installs containerd with rplay; containerd must then run under systemd.
fn install_containerd(rig: &Targets) {
    let repository = rig.path("containerd-repo");
    let output = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/rig/containerd-repo.sh"
    ))
    .arg(&repository)
    .output()
    .expect("running tests/rig/containerd-repo.sh");
    assert!(
        output.status.success(),
        "the containerd repository was not built:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    rig.put_dir("t1", &repository, "/srv/containerd-repo");
    rig.write("install.yml", INSTALL_CONTAINERD);
    let install = rig.rplay(&["install.yml"]);
    install.assert_status(0);
    assert_eq!(install.recap("t1"), recap("t1", 3, 3, 0, 0));
    assert_eq!(
        rig.sh(
            "t1",
            "dpkg-query -W -f '${Package} ${Status}\\n' containerd runc"
        ),
        "containerd install ok installed\nrunc install ok installed\n"
    );
    assert_eq!(
        rig.sh(
            "t1",
            "systemctl is-active containerd; systemctl is-enabled containerd"
        ),
        "active\nenabled\n",
        "containerd runs under systemd in the nspawn machine"
    );
}

/// Identifies the current run of containerd's unit: a restart gives a new one.
fn invocation(rig: &Targets) -> String {
    let id = rig.sh("t1", "systemctl show -p InvocationID --value containerd");
    assert_eq!(id.trim().len(), 32, "an invocation ID: {id:?}");
    id.trim().to_string()
}

/// The configuration the running containerd's CRI plugin started with, from its log.
fn loaded_cri_config(rig: &Targets) -> String {
    let id = invocation(rig);
    let mut log = String::new();
    // journald may store the line a moment after systemd saw the daemon ready.
    for _ in 0..20 {
        log = rig.sh(
            "t1",
            &format!("journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={id}"),
        );
        if let Some((_, config)) = log
            .lines()
            .find_map(|line| line.split_once("Start cri plugin with config "))
        {
            return config.to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("containerd logged no CRI configuration:\n{log}")
}

fn toml(text: &str) -> DocumentMut {
    text.parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

fn read_config(rig: &Targets) -> DocumentMut {
    toml(&rig.sh("t1", &format!("cat {CONFIG}")))
}

/// containerd's own reading of the file: `containerd config dump` parses it.
fn dumped_config(rig: &Targets) -> DocumentMut {
    toml(&rig.sh("t1", "containerd config dump"))
}

fn cri(config: &DocumentMut) -> &Item {
    &config["plugins"]["io.containerd.grpc.v1.cri"]
}

fn runtime<'a>(config: &'a DocumentMut, name: &str) -> &'a Item {
    &cri(config)["containerd"]["runtimes"][name]
}

fn sha256(rig: &Targets, path: &str) -> String {
    rig.sh("t1", &format!("sha256sum {path}"))
}

#[test]
fn containerd_config_configures_a_running_containerd() {
    let rig = Targets::up(Kind::Nspawn, 1);
    install_containerd(&rig);
    assert!(
        rig.sh("t1", &format!("cat {CONFIG}"))
            .starts_with("version = 2\n"),
        "the package ships its own version 2 file"
    );

    // systemd cgroups and the pause image; the handler restarts containerd.
    let started = invocation(&rig);
    rig.write("containerd.yml", &containerd_playbook(""));
    let first = rig.rplay(&["containerd.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 2, 2, 0, 0));
    let config = read_config(&rig);
    assert_eq!(config["version"].as_integer(), Some(2));
    assert_eq!(
        runtime(&config, "runc")["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    assert_eq!(
        cri(&config)["sandbox_image"].as_str(),
        Some("registry.k8s.io/pause:3.10")
    );
    assert_eq!(
        cri(&config)["cni"]["bin_dir"].as_str(),
        Some("/usr/lib/cni"),
        "the package's own settings stay"
    );
    let restarted = invocation(&rig);
    assert_ne!(restarted, started, "the handler restarted containerd");
    assert_eq!(rig.sh("t1", "systemctl is-active containerd"), "active\n");
    assert_eq!(
        runtime(&dumped_config(&rig), "runc")["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    let loaded = loaded_cri_config(&rig);
    assert!(loaded.contains("SystemdCgroup:true"), "{loaded}");
    assert!(
        loaded.contains("SandboxImage:registry.k8s.io/pause:3.10 "),
        "{loaded}"
    );

    let second = rig.rplay(&["containerd.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 1, 0, 0, 0));
    assert!(
        !second.stdout.contains("RUNNING HANDLER"),
        "{}",
        second.stdout
    );
    assert_eq!(invocation(&rig), restarted, "containerd was not restarted");

    // A registry mirror: its hosts.toml, and config_path pointing at it.
    rig.write("mirrors.yml", &containerd_playbook(MIRRORS));
    let mirrors = rig.rplay(&["mirrors.yml"]);
    mirrors.assert_status(0);
    assert_eq!(mirrors.recap("t1"), recap("t1", 2, 2, 0, 0));
    assert_eq!(
        rig.sh("t1", "cat /etc/containerd/certs.d/docker.io/hosts.toml"),
        "# Mirrors of docker.io, written by rplay (containerd_config).\n\
         server = \"https://registry-1.docker.io\"\n\
         \n\
         [host.\"https://mirror.gcr.io\"]\n\
         capabilities = [\"pull\", \"resolve\"]\n"
    );
    assert_eq!(
        cri(&read_config(&rig))["registry"]["config_path"].as_str(),
        Some("/etc/containerd/certs.d")
    );
    assert_eq!(
        cri(&dumped_config(&rig))["registry"]["config_path"].as_str(),
        Some("/etc/containerd/certs.d")
    );
    assert_ne!(
        invocation(&rig),
        restarted,
        "the handler restarted containerd"
    );
    assert_eq!(rig.sh("t1", "systemctl is-active containerd"), "active\n");
    let loaded = loaded_cri_config(&rig);
    assert!(
        loaded.contains("Registry:{ConfigPath:/etc/containerd/certs.d "),
        "{loaded}"
    );
    let settled = rig.rplay(&["mirrors.yml"]);
    settled.assert_status(0);
    assert_eq!(settled.recap("t1"), recap("t1", 1, 0, 0, 0));

    // An extra runtime, which containerd then knows.
    rig.write(
        "nvidia.yml",
        &containerd_playbook(&format!("{MIRRORS}{NVIDIA}")),
    );
    let nvidia = rig.rplay(&["nvidia.yml"]);
    nvidia.assert_status(0);
    assert_eq!(nvidia.recap("t1"), recap("t1", 2, 2, 0, 0));
    let dumped = dumped_config(&rig);
    let dumped_nvidia = runtime(&dumped, "nvidia");
    assert_eq!(
        dumped_nvidia["runtime_type"].as_str(),
        Some("io.containerd.runc.v2")
    );
    assert_eq!(
        dumped_nvidia["options"]["BinaryName"].as_str(),
        Some("/usr/bin/nvidia-container-runtime")
    );
    assert_eq!(
        dumped_nvidia["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    assert_eq!(rig.sh("t1", "systemctl is-active containerd"), "active\n");
    let loaded = loaded_cri_config(&rig);
    assert!(
        loaded.contains("nvidia:{Type:io.containerd.runc.v2 "),
        "{loaded}"
    );
    let settled = rig.rplay(&["nvidia.yml"]);
    settled.assert_status(0);
    assert_eq!(settled.recap("t1"), recap("t1", 1, 0, 0, 0));

    // Hand edits: SystemdCgroup turned off, and a key of someone's own added.
    rig.sh(
        "t1",
        &format!(
            "sed -i -e 's/SystemdCgroup = true/SystemdCgroup = false/' \
             -e 's/^\\( *\\)sandbox_image = .*/&\\n\\1rplay_hand_edit = \"kept\"/' {CONFIG}"
        ),
    );
    let edited = read_config(&rig);
    assert_eq!(
        runtime(&edited, "runc")["options"]["SystemdCgroup"].as_bool(),
        Some(false)
    );
    assert_eq!(cri(&edited)["rplay_hand_edit"].as_str(), Some("kept"));
    let drifted = sha256(&rig, CONFIG);
    let running = invocation(&rig);
    let check = rig.rplay(&["nvidia.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(
        check.recap("t1"),
        recap("t1", 2, 2, 0, 0),
        "--check reports the change and the handler it would notify"
    );
    assert_eq!(
        sha256(&rig, CONFIG),
        drifted,
        "--check left the file as it was"
    );
    assert_eq!(
        invocation(&rig),
        running,
        "--check did not restart containerd"
    );

    let restore = rig.rplay(&["nvidia.yml"]);
    restore.assert_status(0);
    assert_eq!(restore.recap("t1"), recap("t1", 2, 2, 0, 0));
    let restored = read_config(&rig);
    assert_eq!(
        runtime(&restored, "runc")["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    assert_eq!(
        runtime(&restored, "nvidia")["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    assert_eq!(
        cri(&restored)["rplay_hand_edit"].as_str(),
        Some("kept"),
        "the key added by hand stays"
    );
    assert_ne!(
        invocation(&rig),
        running,
        "the handler restarted containerd"
    );
    assert_eq!(rig.sh("t1", "systemctl is-active containerd"), "active\n");
    assert!(loaded_cri_config(&rig).contains("SystemdCgroup:true"));
    let settled = rig.rplay(&["nvidia.yml"]);
    settled.assert_status(0);
    assert_eq!(settled.recap("t1"), recap("t1", 1, 0, 0, 0));
}

#[test]
fn containerd_config_fails_without_containerd_and_refuses_bad_arguments() {
    let rig = Targets::up(Kind::Nspawn, 1);
    let nothing_there = "command -v containerd || echo 'no containerd'; \
                         test -e /etc/containerd && echo '/etc/containerd exists' || echo 'no /etc/containerd'";
    let bare = "no containerd\nno /etc/containerd\n";
    assert_eq!(rig.sh("t1", nothing_there), bare);
    rig.write("containerd.yml", &containerd_playbook(MIRRORS));

    let check = rig.rplay(&["containerd.yml", "--check"]);
    check.assert_status(2);
    assert_eq!(check.recap("t1"), recap("t1", 0, 0, 0, 1));
    assert!(
        check
            .stdout
            .contains("containerd is not installed on the host (no `containerd` in PATH)"),
        "{}",
        check.stdout
    );
    assert_eq!(rig.sh("t1", nothing_there), bare, "--check wrote nothing");

    let run = rig.rplay(&["containerd.yml"]);
    run.assert_status(2);
    assert_eq!(run.recap("t1"), recap("t1", 0, 0, 0, 1));
    assert!(
        run.stdout.contains("containerd is not installed"),
        "{}",
        run.stdout
    );
    assert_eq!(rig.sh("t1", nothing_there), bare, "nothing was written");

    // A misspelt argument is refused before any connection: the target is off the network.
    rig.write(
        "misspelt.yml",
        "- hosts: t1\n  gather_facts: false\n  tasks:\n    - containerd_config:\n        sytemd_cgroup: true\n",
    );
    rig.link("cut", "t1");
    let misspelt = rig.rplay(&["misspelt.yml"]);
    rig.link("mend", "t1");
    misspelt.assert_status(5);
    assert_eq!(misspelt.stdout, "");
    assert_eq!(
        misspelt.stderr,
        "error: unknown field `sytemd_cgroup` in `containerd_config` arguments
 --> misspelt.yml:5:9
  |
5 |         sytemd_cgroup: true
  |         ^^^^^^^^^^^^^
help: did you mean `systemd_cgroup`?
"
    );
    assert_eq!(rig.sh("t1", nothing_there), bare);
}

/// Three targets: t1 the control plane, t2 and t3 workers.
const CLUSTER_GROUPS: &str = "
[control_plane]
t1

[workers]
t2
t3
";

fn cluster_playbook() -> String {
    format!(
        r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: the kubeadm STAND-IN as kubeadm (the real one cannot be fetched here)
      copy:
        src: {standin}
        dest: /usr/local/bin/kubeadm
        mode: "0755"

- hosts: control_plane
  gather_facts: false
  tasks:
    - name: the first control plane
      kubeadm:
        action: init
        config:
          pod_subnet: 10.244.0.0/16
          service_subnet: 10.96.0.0/12
          cgroup_driver: cgroupfs
          node_labels: {{node.kubernetes.io/pool: system, rplay.test/zone: a}}
          node_taints:
            - node-role.kubernetes.io/control-plane:NoSchedule
            - rplay.test/dedicated=infra:NoExecute
      register: init
    - name: the join command
      debug:
        msg: "join command: {{{{ init.join_command }}}}"

- hosts: workers
  gather_facts: false
  vars:
    # kubeadm join ENDPOINT --token TOKEN --discovery-token-ca-cert-hash HASH
    join_words: "{{{{ hostvars[groups.control_plane[0]].init.join_command.split() }}}}"
  tasks:
    - name: join the control plane
      kubeadm:
        action: join
        config:
          api_server_endpoint: "{{{{ join_words[2] }}}}"
          token: "{{{{ join_words[4] }}}}"
          discovery_token_ca_cert_hashes: ["{{{{ join_words[6] }}}}"]
"#,
        standin = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rig/kubeadm-standin"),
    )
}

/// The join command the control plane's play printed.
fn printed_join_command(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("\"msg\": \"join command: "))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no join command in:\n{stdout}"))
        .to_string()
}

/// What kubeadm's join leaves on a worker, and what the stand-in remembers of it.
/// (A path that is missing lists nothing.)
const JOIN_STATE: &str =
    "find /etc/kubernetes /var/lib/kubelet /var/lib/kubeadm-standin 2>/dev/null | sort";

#[test]
fn kubeadm_initialises_joins_and_resets_with_the_standin() {
    let rig = Targets::up(Kind::Nspawn, 3);
    let inventory = rig.read("inventory.ini");
    rig.write("inventory.ini", &format!("{inventory}{CLUSTER_GROUPS}"));
    rig.write("cluster.yml", &cluster_playbook());
    let endpoint = format!("{}:6443", rig.address("t1"));

    let first = rig.rplay(&["cluster.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 3, 2, 0, 0));
    assert_eq!(first.recap("t2"), recap("t2", 2, 2, 0, 0));
    assert_eq!(first.recap("t3"), recap("t3", 2, 2, 0, 0));

    // The control plane: kubeadm's files, and the configuration as the task wrote it.
    assert_eq!(
        rig.sh(
            "t1",
            "stat -c '%a %n' /etc/kubernetes/admin.conf /etc/kubernetes/kubeadm-config.yaml; \
             ls /etc/kubernetes/manifests"
        ),
        "600 /etc/kubernetes/admin.conf\n600 /etc/kubernetes/kubeadm-config.yaml\n\
         etcd.yaml\nkube-apiserver.yaml\nkube-controller-manager.yaml\nkube-scheduler.yaml\n"
    );
    assert_eq!(
        rig.sh("t1", "cat /etc/kubernetes/kubeadm-config.yaml"),
        "# Written by rplay (kubeadm).
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  taints:
  - key: node-role.kubernetes.io/control-plane
    effect: NoSchedule
  - key: rplay.test/dedicated
    value: infra
    effect: NoExecute
  kubeletExtraArgs:
  - name: node-labels
    value: node.kubernetes.io/pool=system,rplay.test/zone=a
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.1
networking:
  podSubnet: \"10.244.0.0/16\"
  serviceSubnet: \"10.96.0.0/12\"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
"
    );
    assert_eq!(
        rig.sh("t1", "cat /var/lib/kubeadm-standin/endpoint"),
        format!("{endpoint}\n")
    );
    let tokens = rig.sh("t1", "cut -d' ' -f1 /var/lib/kubeadm-standin/tokens");
    let token = tokens.trim();
    assert_eq!(tokens.lines().count(), 1, "one bootstrap token: {tokens}");
    let ca_hash = rig.sh(
        "t1",
        "openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt \
         | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1",
    );
    let ca_hash = format!("sha256:{}", ca_hash.trim());
    let join_command =
        format!("kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_hash}");
    assert_eq!(printed_join_command(&first.stdout), join_command);

    // The workers joined with what the control plane handed out.
    let worker_config = format!(
        "# Written by rplay (kubeadm).
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: \"{endpoint}\"
    token: {token}
    caCertHashes:
    - {ca_hash}
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
",
        // A token starting with a digit is quoted, as YAML would read it otherwise.
        token = if token.starts_with(|c: char| c.is_ascii_digit()) {
            format!("\"{token}\"")
        } else {
            token.to_string()
        }
    );
    for worker in ["t2", "t3"] {
        assert_eq!(
            rig.sh(
                worker,
                "stat -c '%a %n' /etc/kubernetes/kubelet.conf /etc/kubernetes/kubeadm-config.yaml; \
                 cat /var/lib/kubeadm-standin/endpoint; grep 'server:' /etc/kubernetes/kubelet.conf"
            ),
            format!(
                "600 /etc/kubernetes/kubelet.conf\n600 /etc/kubernetes/kubeadm-config.yaml\n\
                 {endpoint}\n    server: https://{endpoint}\n"
            ),
            "{worker} joined {endpoint}"
        );
        assert_eq!(
            rig.sh(worker, "cat /etc/kubernetes/kubeadm-config.yaml"),
            worker_config,
            "{worker} joined with the control plane's token and CA hash"
        );
    }

    // A second run changes nothing and hands out the same join command.
    let tokens_before = rig.sh("t1", "sha256sum /var/lib/kubeadm-standin/tokens");
    let second = rig.rplay(&["cluster.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 3, 0, 0, 0));
    assert_eq!(second.recap("t2"), recap("t2", 2, 0, 0, 0));
    assert_eq!(second.recap("t3"), recap("t3", 2, 0, 0, 0));
    assert_eq!(printed_join_command(&second.stdout), join_command);
    assert_eq!(
        rig.sh("t1", "sha256sum /var/lib/kubeadm-standin/tokens"),
        tokens_before,
        "no token was created"
    );

    // Reset takes a worker out of the cluster; a second reset has nothing to do.
    rig.write(
        "reset.yml",
        "- hosts: t3\n  gather_facts: false\n  tasks:\n    - kubeadm:\n        action: reset\n",
    );
    let joined = rig.sh("t3", JOIN_STATE);
    assert!(
        joined.contains("/etc/kubernetes/kubelet.conf\n"),
        "{joined}"
    );
    let reset = rig.rplay(&["reset.yml"]);
    reset.assert_status(0);
    assert_eq!(reset.recap("t3"), recap("t3", 1, 1, 0, 0));
    let after_reset = rig.sh("t3", JOIN_STATE);
    assert_eq!(
        after_reset, "/etc/kubernetes\n/etc/kubernetes/manifests\n",
        "kubeadm reset and the module removed what join wrote"
    );
    assert!(
        rig.sh("t2", JOIN_STATE)
            .contains("/etc/kubernetes/kubelet.conf\n"),
        "the other worker is untouched"
    );
    let again = rig.rplay(&["reset.yml"]);
    again.assert_status(0);
    assert_eq!(again.recap("t3"), recap("t3", 1, 0, 0, 0));
    assert_eq!(rig.sh("t3", JOIN_STATE), after_reset);

    // --check sees that the reset worker must join again, and writes nothing.
    let check = rig.rplay(&["cluster.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(check.recap("t1"), recap("t1", 3, 0, 0, 0));
    assert_eq!(check.recap("t2"), recap("t2", 2, 0, 0, 0));
    assert_eq!(check.recap("t3"), recap("t3", 2, 1, 0, 0));
    assert_eq!(
        rig.sh("t3", JOIN_STATE),
        after_reset,
        "--check left it alone"
    );

    let converge = rig.rplay(&["cluster.yml"]);
    converge.assert_status(0);
    assert_eq!(converge.recap("t3"), recap("t3", 2, 1, 0, 0));
    assert_eq!(
        rig.sh("t3", "cat /etc/kubernetes/kubeadm-config.yaml"),
        worker_config
    );
    assert_eq!(
        rig.sh("t3", "cat /var/lib/kubeadm-standin/endpoint"),
        format!("{endpoint}\n")
    );

    // A misspelt setting is refused before any connection: the control plane is cut off.
    rig.write(
        "misspelt.yml",
        "- hosts: control_plane\n  gather_facts: false\n  tasks:\n    - kubeadm:\n        action: init\n        config:\n          pod_subnets: 10.244.0.0/16\n",
    );
    let config_before = rig.sh("t1", "sha256sum /etc/kubernetes/kubeadm-config.yaml");
    rig.link("cut", "t1");
    let misspelt = rig.rplay(&["misspelt.yml"]);
    rig.link("mend", "t1");
    misspelt.assert_status(5);
    assert_eq!(misspelt.stdout, "");
    assert_eq!(
        misspelt.stderr,
        "error: unknown field `pod_subnets` in `kubeadm` arguments
 --> misspelt.yml:7:11
  |
7 |           pod_subnets: 10.244.0.0/16
  |           ^^^^^^^^^^^
help: did you mean `pod_subnet`?
"
    );
    assert_eq!(
        rig.sh("t1", "sha256sum /etc/kubernetes/kubeadm-config.yaml"),
        config_before
    );
}
