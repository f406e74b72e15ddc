//! The Kubernetes node modules against booted Debian 13 machines: each target is a
//! `systemd-nspawn` container with systemd as PID 1, its own network namespace (so `net.*`
//! sysctls are its own) and its own filesystem (`tests/rig/targets.sh up nspawn`). Every
//! check reads the target's state over plain OpenSSH, not rplay's report.

#[path = "support/targets.rs"]
mod targets;

use targets::{recap, Kind, Targets};

const SYSCTL_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: IP forwarding, persisted and applied
      sysctl:
        name: net.ipv4.ip_forward
        value: "1"
        sysctl_file: /etc/sysctl.d/99-kubernetes.conf
    - name: a value with spaces, set live
      ansible.posix.sysctl:
        name: net/ipv4/ip_local_port_range
        value: "32768 60999"
        sysctl_set: true
        sysctl_file: /etc/sysctl.d/99-kubernetes.conf
"#;

#[test]
fn sysctl_persists_and_applies_network_parameters() {
    let rig = Targets::up(Kind::Nspawn, 1);
    rig.write("site.yml", SYSCTL_PLAYBOOK);
    let live = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_local_port_range";
    assert_eq!(
        rig.sh("t1", live),
        "0\n32768\t60999\n",
        "the target starts at the defaults"
    );
    rig.sh("t1", "sysctl -w net.ipv4.ip_local_port_range='10000 20000'");

    let first = rig.rplay(&["site.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 2, 2, 0, 0));
    assert_eq!(rig.sh("t1", live), "1\n32768\t60999\n");
    assert_eq!(
        rig.sh("t1", "cat /etc/sysctl.d/99-kubernetes.conf"),
        // Keys are written as the task spells them, as ansible.posix does.
        "net.ipv4.ip_forward=1\nnet/ipv4/ip_local_port_range=32768 60999\n"
    );

    let second = rig.rplay(&["site.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 2, 0, 0, 0));

    // Drift: the live value goes back to 0 while the file still says 1.
    rig.sh("t1", "sysctl -w net.ipv4.ip_forward=0");
    let check = rig.rplay(&["site.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(check.recap("t1"), recap("t1", 2, 1, 0, 0));
    assert_eq!(
        rig.sh("t1", live),
        "0\n32768\t60999\n",
        "--check left it alone"
    );

    let converge = rig.rplay(&["site.yml"]);
    converge.assert_status(0);
    assert_eq!(converge.recap("t1"), recap("t1", 2, 1, 0, 0));
    assert_eq!(rig.sh("t1", live), "1\n32768\t60999\n");
}

const UNIT: &str = "[Unit]\nDescription=rplay test service\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n";

fn service_playbook() -> String {
    format!(
        r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: a unit file where a package would put it (only those can be masked)
      copy:
        dest: /usr/lib/systemd/system/rplay-test.service
        content: {unit:?}
    - name: started and enabled
      systemd_service:
        name: rplay-test
        state: started
        enabled: true
        daemon_reload: true
      register: unit
    - name: what systemd says about it
      service_facts:
    - assert:
        that:
          - unit.state == "started" and unit.enabled
          - unit.status.FragmentPath == "/usr/lib/systemd/system/rplay-test.service"
          - ansible_facts.services["rplay-test.service"].state == "running"
          - ansible_facts.services["rplay-test.service"].status == "enabled"
"#,
        unit = UNIT
    )
}

#[test]
fn systemd_starts_enables_and_masks_real_units() {
    let rig = Targets::up(Kind::Nspawn, 1);
    rig.write("site.yml", &service_playbook());
    let state = "systemctl is-active rplay-test; systemctl is-enabled rplay-test; true";

    let first = rig.rplay(&["site.yml"]);
    first.assert_status(0);
    // daemon_reload is reported as a change each run (see the module's doc).
    assert_eq!(first.recap("t1"), recap("t1", 4, 2, 0, 0));
    assert_eq!(rig.sh("t1", state), "active\nenabled\n");

    let second = rig.rplay(&["site.yml"]);
    second.assert_status(0);
    assert_eq!(rig.sh("t1", state), "active\nenabled\n");
    let settled = second.recap("t1");

    // Drift: stopped and disabled by hand. --check sees it and leaves it.
    rig.sh("t1", "systemctl disable --now rplay-test 2>/dev/null");
    assert_eq!(rig.sh("t1", state), "inactive\ndisabled\n");
    let check = rig.rplay(&["site.yml", "--check"]);
    assert_ne!(check.recap("t1"), settled, "--check reports the drift");
    assert_eq!(
        rig.sh("t1", state),
        "inactive\ndisabled\n",
        "--check left it alone"
    );
    let converge = rig.rplay(&["site.yml"]);
    converge.assert_status(0);
    assert_eq!(rig.sh("t1", state), "active\nenabled\n");

    // Stopped through `service`, then masked.
    rig.write(
        "mask.yml",
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - service:\n        name: rplay-test\n        state: stopped\n    - systemd:\n        name: rplay-test\n        masked: true\n",
    );
    let masked = rig.rplay(&["mask.yml"]);
    masked.assert_status(0);
    assert_eq!(masked.recap("t1"), recap("t1", 2, 2, 0, 0));
    assert_eq!(rig.sh("t1", state), "inactive\nmasked\n");
    let again = rig.rplay(&["mask.yml"]);
    assert_eq!(again.recap("t1"), recap("t1", 2, 0, 0, 0));

    // An unknown unit fails with Ansible's message; the task names the host.
    rig.write(
        "missing.yml",
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - systemd: {name: no-such-unit, state: started}\n",
    );
    let missing = rig.rplay(&["missing.yml"]);
    missing.assert_status(2);
    assert!(
        missing
            .stdout
            .contains("Could not find the requested service no-such-unit"),
        "{}",
        missing.stdout
    );
}

#[test]
fn without_a_running_systemd_units_are_enabled_offline_and_state_is_refused() {
    // A network-namespace target is a chroot with sshd and no systemd as PID 1: what an
    // image build sees.
    let rig = Targets::up(Kind::Netns, 1);
    let enabled = "test -L /etc/systemd/system/multi-user.target.wants/ssh.service && echo enabled || echo disabled";
    rig.sh("t1", "systemctl disable ssh 2>/dev/null; true");
    assert_eq!(rig.sh("t1", enabled), "disabled\n");
    rig.write(
        "enable.yml",
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - systemd_service: {name: ssh, enabled: true}\n",
    );
    let first = rig.rplay(&["enable.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(rig.sh("t1", enabled), "enabled\n");
    let second = rig.rplay(&["enable.yml"]);
    assert_eq!(second.recap("t1"), recap("t1", 1, 0, 0, 0));

    rig.write(
        "start.yml",
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - systemd: {name: ssh, state: restarted}\n",
    );
    let start = rig.rplay(&["start.yml"]);
    start.assert_status(2);
    assert!(
        start.stdout.contains("systemd is not running on this host"),
        "{}",
        start.stdout
    );

    // Bad arguments never reach the host: the error names the place, exit 5.
    rig.write(
        "typo.yml",
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - systemd: {name: ssh, enabeld: true}\n",
    );
    let typo = rig.rplay(&["typo.yml"]);
    typo.assert_status(5);
    assert!(
        typo.stderr.contains("typo.yml:4:28") && typo.stderr.contains("did you mean `enabled`"),
        "{}",
        typo.stderr
    );
    assert!(typo.stdout.is_empty(), "{}", typo.stdout);
}

const NAME_AND_ZONE_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: Name the node
      ansible.builtin.hostname:
        name: node-a.cluster.test
    - name: Berlin time
      community.general.timezone:
        name: Europe/Berlin
    - name: The facts follow the new name
      ansible.builtin.assert:
        that:
          - ansible_hostname == 'node-a'
          - ansible_fqdn == 'node-a.cluster.test'
"#;

#[test]
fn hostname_and_timezone_set_the_running_and_the_saved_state() {
    let rig = Targets::up(Kind::Nspawn, 1);
    rig.write("site.yml", NAME_AND_ZONE_PLAYBOOK);
    let state = "hostname; cat /etc/hostname; readlink /etc/localtime";
    let initial = rig.sh("t1", state);
    assert!(
        initial.ends_with("/usr/share/zoneinfo/Etc/UTC\n") && !initial.contains("node-a"),
        "the target starts with its own name in UTC: {initial}"
    );

    let first = rig.rplay(&["site.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 3, 2, 0, 0));
    let converged = "node-a.cluster.test\nnode-a.cluster.test\n/usr/share/zoneinfo/Europe/Berlin\n";
    assert_eq!(rig.sh("t1", state), converged);
    let zone = rig.sh("t1", "date +%Z");
    assert!(
        zone == "CET\n" || zone == "CEST\n",
        "the clock reads Berlin time: {zone}"
    );

    let second = rig.rplay(&["site.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 3, 0, 0, 0));

    // Drift: the running name changes behind rplay's back, the saved one stays.
    rig.sh("t1", "hostname drifted");
    let check = rig.rplay(&["site.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(check.recap("t1"), recap("t1", 3, 1, 0, 0));
    assert_eq!(
        rig.sh("t1", "hostname"),
        "drifted\n",
        "--check left it alone"
    );

    let converge = rig.rplay(&["site.yml"]);
    converge.assert_status(0);
    assert_eq!(converge.recap("t1"), recap("t1", 3, 1, 0, 0));
    assert_eq!(rig.sh("t1", state), converged);
}

const MOUNT_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: A scratch tmpfs, in fstab and mounted
      ansible.posix.mount:
        path: /mnt/scratch
        src: tmpfs
        fstype: tmpfs
        opts: size=1m,mode=0755
        state: mounted
"#;

const UNMOUNT_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: Gone from fstab and unmounted
      mount:
        path: /mnt/scratch
        state: absent
"#;

#[test]
fn mount_edits_fstab_and_mounts_for_real() {
    let rig = Targets::up(Kind::Nspawn, 1);
    rig.write("site.yml", MOUNT_PLAYBOOK);
    rig.write("absent.yml", UNMOUNT_PLAYBOOK);
    let state =
        "grep ' /mnt/scratch ' /proc/mounts | cut -d' ' -f1-3; grep scratch /etc/fstab; true";
    assert_eq!(
        rig.sh("t1", state),
        "",
        "the target starts without the mount"
    );

    let first = rig.rplay(&["site.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 1, 1, 0, 0));
    let converged = "tmpfs /mnt/scratch tmpfs\ntmpfs /mnt/scratch tmpfs size=1m,mode=0755 0 0\n";
    assert_eq!(rig.sh("t1", state), converged);
    assert_eq!(
        rig.sh(
            "t1",
            "df --output=size -k /mnt/scratch | tail -1 | tr -d ' '"
        ),
        "1024\n"
    );

    let second = rig.rplay(&["site.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 1, 0, 0, 0));

    // Drift: unmounted behind rplay's back; --check reports it and leaves it.
    rig.sh("t1", "umount /mnt/scratch");
    let check = rig.rplay(&["site.yml", "--check", "--diff"]);
    check.assert_status(0);
    assert_eq!(check.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(
        rig.sh("t1", state),
        "tmpfs /mnt/scratch tmpfs size=1m,mode=0755 0 0\n",
        "--check left it unmounted"
    );
    let converge = rig.rplay(&["site.yml"]);
    converge.assert_status(0);
    assert_eq!(converge.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(rig.sh("t1", state), converged);

    // A changed option rewrites the line and remounts with it.
    rig.write("site.yml", &MOUNT_PLAYBOOK.replace("size=1m", "size=2m"));
    let resized = rig.rplay(&["site.yml"]);
    resized.assert_status(0);
    assert_eq!(resized.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(
        rig.sh(
            "t1",
            "df --output=size -k /mnt/scratch | tail -1 | tr -d ' '"
        ),
        "2048\n"
    );

    let absent = rig.rplay(&["absent.yml"]);
    absent.assert_status(0);
    assert_eq!(absent.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(rig.sh("t1", state), "");
    let again = rig.rplay(&["absent.yml"]);
    assert_eq!(again.recap("t1"), recap("t1", 1, 0, 0, 0));
}

const IPTABLES_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: A chain of our own
      iptables:
        chain: KUBE-TEST
        chain_management: true
    - name: The API server's port, new connections, with a comment
      ansible.builtin.iptables:
        chain: INPUT
        protocol: tcp
        destination_port: "6443"
        ctstate: [NEW]
        jump: ACCEPT
        comment: kube-apiserver
    - name: Kubelet's port first in the chain
      iptables:
        chain: INPUT
        action: insert
        rule_num: "1"
        protocol: tcp
        destination_port: "10250"
        jump: KUBE-TEST
    - name: Forwarded packets dropped unless a rule says otherwise
      iptables:
        chain: FORWARD
        policy: DROP
"#;

/// netfilter in each target's own network namespace: the kernel's tables read back with
/// `iptables -S`, not rplay's report.
#[test]
fn iptables_rules_policies_and_chains_land_in_the_kernel() {
    let rig = Targets::up(Kind::Netns, 1);
    rig.write("site.yml", IPTABLES_PLAYBOOK);
    let rules = "iptables -S INPUT; iptables -S FORWARD | head -n 1; iptables -S KUBE-TEST";
    assert_eq!(
        rig.sh("t1", "iptables -S INPUT; iptables -S FORWARD"),
        "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n",
        "the target starts with empty tables"
    );
    // Matches in the order Ansible's module gives them (the port before the state).
    let expected = "-P INPUT ACCEPT\n\
                    -A INPUT -p tcp -m tcp --dport 10250 -j KUBE-TEST\n\
                    -A INPUT -p tcp -m tcp --dport 6443 -m conntrack --ctstate NEW -m comment --comment kube-apiserver -j ACCEPT\n\
                    -P FORWARD DROP\n\
                    -N KUBE-TEST\n";

    let first = rig.rplay(&["site.yml"]);
    first.assert_status(0);
    assert_eq!(first.recap("t1"), recap("t1", 4, 4, 0, 0));
    assert_eq!(rig.sh("t1", rules), expected);

    let second = rig.rplay(&["site.yml"]);
    second.assert_status(0);
    assert_eq!(second.recap("t1"), recap("t1", 4, 0, 0, 0));

    // Drift: the API server rule deleted, the policy put back.
    rig.sh("t1", "iptables -D INPUT 2 && iptables -P FORWARD ACCEPT");
    let check = rig.rplay(&["site.yml", "--check"]);
    check.assert_status(0);
    assert_eq!(check.recap("t1"), recap("t1", 4, 2, 0, 0));
    assert_eq!(
        rig.sh(
            "t1",
            "iptables -S INPUT | wc -l; iptables -S FORWARD | head -n 1"
        ),
        "2\n-P FORWARD ACCEPT\n",
        "check mode left the drift alone"
    );
    let fix = rig.rplay(&["site.yml"]);
    fix.assert_status(0);
    assert_eq!(fix.recap("t1"), recap("t1", 4, 2, 0, 0));
    assert_eq!(rig.sh("t1", rules), expected);

    // And the rule removed again with state: absent.
    rig.write(
        "absent.yml",
        r#"- hosts: targets
  gather_facts: false
  tasks:
    - iptables:
        chain: INPUT
        protocol: tcp
        destination_port: "6443"
        ctstate: [NEW]
        jump: ACCEPT
        comment: kube-apiserver
        state: absent
"#,
    );
    let absent = rig.rplay(&["absent.yml"]);
    absent.assert_status(0);
    assert_eq!(absent.recap("t1"), recap("t1", 1, 1, 0, 0));
    assert_eq!(
        rig.sh("t1", "iptables -S INPUT"),
        "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 10250 -j KUBE-TEST\n"
    );
}
