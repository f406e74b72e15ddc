//! Fan-out to many real hosts: each target is a Debian rootfs of its own with OpenSSH sshd
//! in its own network namespace (`tests/rig/targets.sh up netns`), so what a task changes
//! is read back from that host's own filesystem.

#[path = "support/targets.rs"]
mod targets;

use targets::{recap, Kind, Targets};

const NODE_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: ask the host its name
      command: hostname
      register: name
      changed_when: false
    - name: a state directory
      file:
        path: /var/lib/rplay-node
        state: directory
        mode: "0750"
    - name: what the host said, and where it was reached
      copy:
        content: "{{ name.stdout }} {{ ansible_host }}\n"
        dest: /var/lib/rplay-node/identity
        mode: "0640"
    - name: a line in a system file
      lineinfile:
        path: /etc/hosts
        line: "10.96.0.1 kubernetes.default"
"#;

#[test]
fn fifty_hosts_each_on_its_own_filesystem_converge_and_answer_ad_hoc_commands() {
    let rig = Targets::up(Kind::Netns, 50);
    rig.write("site.yml", NODE_PLAYBOOK);

    let first = rig.rplay(&["site.yml", "--forks", "50"]);
    first.assert_status(0);
    for name in &rig.names {
        assert_eq!(first.recap(name), recap(name, 4, 3, 0, 0));
        // Read back from the target itself, not from rplay's report.
        let state = rig.sh(
            name,
            "cat /var/lib/rplay-node/identity; stat -c %a /var/lib/rplay-node /var/lib/rplay-node/identity; grep -c kubernetes.default /etc/hosts",
        );
        assert_eq!(
            state,
            format!("{name} {}\n750\n640\n1\n", rig.address(name)),
            "state of {name}"
        );
    }

    let second = rig.rplay(&["site.yml", "--forks", "50"]);
    second.assert_status(0);
    for name in &rig.names {
        assert_eq!(second.recap(name), recap(name, 4, 0, 0, 0));
    }

    // Ad hoc: one block per host with its own answer.
    let ad_hoc = rig.rplay(&["run", "targets", "cat", "/etc/hostname"]);
    ad_hoc.assert_status(0);
    for name in &rig.names {
        assert!(
            ad_hoc
                .stdout
                .contains(&format!("{name} | CHANGED | rc=0 >>\n{name}\n")),
            "no ad hoc block for {name} in:\n{}",
            ad_hoc.stdout
        );
    }
}

#[test]
fn a_host_cut_off_the_network_is_unreachable_and_the_others_converge() {
    let rig = Targets::up(Kind::Netns, 5);
    rig.write("site.yml", NODE_PLAYBOOK);
    rig.link("cut", "t3");

    let run = rig.rplay(&["site.yml", "-T", "3"]);
    // Ansible's status for a run with an unreachable host.
    run.assert_status(4);
    assert_eq!(run.recap("t3"), recap("t3", 0, 0, 1, 0));
    for name in ["t1", "t2", "t4", "t5"] {
        assert_eq!(run.recap(name), recap(name, 4, 3, 0, 0));
        assert_eq!(
            rig.sh(name, "cat /var/lib/rplay-node/identity"),
            format!("{name} {}\n", rig.address(name))
        );
    }
    assert!(
        run.stdout.contains("UNREACHABLE!"),
        "t3 is reported unreachable:\n{}",
        run.stdout
    );

    // Back on the network, a second run converges it and leaves the others alone.
    rig.link("mend", "t3");
    let again = rig.rplay(&["site.yml", "-T", "10"]);
    again.assert_status(0);
    assert_eq!(again.recap("t3"), recap("t3", 4, 3, 0, 0));
    assert_eq!(again.recap("t1"), recap("t1", 4, 0, 0, 0));
    assert_eq!(
        rig.sh("t3", "cat /var/lib/rplay-node/identity"),
        format!("t3 {}\n", rig.address("t3"))
    );
}

/// The rig's own inventory with `deploy` logging in by password instead of root by key.
fn password_inventory(rig: &Targets, become_password: &[(&str, &str)]) -> String {
    let mut text = String::from("[targets]\n");
    for name in &rig.names {
        let become_password = become_password
            .iter()
            .find(|(host, _)| host == name)
            .map(|(_, password)| format!(" ansible_become_password={password}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{name} ansible_host={}{become_password}\n",
            rig.address(name)
        ));
    }
    text.push_str(&format!(
        "[targets:vars]\nansible_user=deploy\nansible_password=deploy-secret\nansible_ssh_common_args='-o UserKnownHostsFile={}'\n",
        rig.path("known_hosts").display()
    ));
    text
}

const BECOME_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  become: true
  tasks:
    - command: id -un
      register: who
      changed_when: false
    - command: cat
      args:
        stdin: "only this"
      register: echoed
      changed_when: false
    - copy:
        content: "written as {{ who.stdout }}\n"
        dest: /root/rplay-secret
        mode: "0600"
    - assert:
        that:
          - who.stdout == "root"
          - echoed.stdout == "only this"
          - echoed.stderr == ""
"#;

#[test]
fn a_password_login_and_a_sudo_password_never_show_and_a_wrong_one_fails_alone() {
    let rig = Targets::up(Kind::Netns, 2);
    rig.write("site.yml", BECOME_PLAYBOOK);
    // t1 has the right sudo password, t2 a wrong one.
    rig.write(
        "inventory.ini",
        &password_inventory(&rig, &[("t1", "deploy-secret"), ("t2", "not-the-password")]),
    );

    let run = rig.rplay(&["site.yml", "-vvv"]);
    run.assert_status(2);
    assert_eq!(run.recap("t1"), recap("t1", 4, 1, 0, 0));
    assert_eq!(run.recap("t2"), recap("t2", 0, 0, 0, 1));
    assert!(
        run.stdout.contains("Incorrect sudo password"),
        "{}",
        run.stdout
    );
    for secret in ["deploy-secret", "not-the-password"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "`{secret}` appeared in the output:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    // On the targets: t1 logged in by password and root wrote the file; t2 wrote nothing.
    assert_eq!(
        rig.sh(
            "t1",
            "cat /root/rplay-secret; stat -c %U:%a /root/rplay-secret; grep -c 'Accepted password for deploy' /var/log/sshd.log"
        ),
        "written as root\nroot:600\n1\n"
    );
    let (status, _, _) = rig.try_sh("t2", "test -e /root/rplay-secret");
    assert_ne!(status, 0, "t2 wrote the file with a wrong sudo password");

    // JSON events never carry it either.
    let json = rig.rplay(&["site.yml", "--output", "json", "--limit", "t1"]);
    json.assert_status(0);
    assert!(!json.stdout.contains("deploy-secret"), "{}", json.stdout);
}

#[test]
fn ask_become_pass_reads_the_password_once_for_every_host() {
    let rig = Targets::up(Kind::Netns, 3);
    rig.write("site.yml", BECOME_PLAYBOOK);
    rig.write("inventory.ini", &password_inventory(&rig, &[]));
    // No terminal: -K reads one line from standard input, as ansible-playbook does.
    let run = rig.rplay_with(&["site.yml", "-K"], &[], Some(b"deploy-secret\n"));
    run.assert_status(0);
    for name in &rig.names {
        assert_eq!(run.recap(name), recap(name, 4, 1, 0, 0));
        assert_eq!(rig.sh(name, "cat /root/rplay-secret"), "written as root\n");
    }
    assert!(!run.stdout.contains("deploy-secret"), "{}", run.stdout);

    // Without it, sudo has nothing to go on.
    let without = rig.rplay(&["site.yml", "--limit", "t1"]);
    without.assert_status(2);
    assert!(
        without.stdout.contains("Missing sudo password"),
        "{}",
        without.stdout
    );
}
