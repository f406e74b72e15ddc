//! Faults injected into real hosts while rplay runs against them: a host that dies
//! mid-task, a partition, a reset connection, a hung command, a full disk, a connection
//! dropped at login. Each target is a Debian rootfs with OpenSSH sshd in its own network
//! namespace (`tests/rig/targets.sh up netns`), broken through the rig's own commands.
//!
//! Every test checks the same four things: the broken host is reported unreachable or
//! failed with the cause, the other hosts finish, the recap is exact, and a second run
//! after the fault is mended converges. State is read back from the targets themselves.
//! Nothing is timed: a fault is injected once the test has seen the task running on the
//! host, and every wait is bounded.

#[path = "support/targets.rs"]
mod targets;

use std::time::Duration;
use targets::{recap, wait_until, Kind, Run, Targets};

/// The longest any run here may take; far above what one needs.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Three tasks; the second hangs on a host where `/etc/rplay-hang` exists, after leaving
/// a marker that says it started. `EXTRA` goes under the hanging task (a `timeout:`).
const PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - name: a state directory
      file:
        path: /var/lib/rplay-fault
        state: directory
        mode: "0755"
    - name: a command that hangs where the test asks
      shell: "if [ -e /etc/rplay-hang ]; then touch /var/lib/rplay-fault/hanging; exec sleep 3000; fi"
      changed_when: false
      EXTRA
    - name: the result
      copy:
        content: "{{ inventory_hostname }} done\n"
        dest: /var/lib/rplay-fault/done
"#;

fn playbook(extra: &str) -> String {
    PLAYBOOK.replace("EXTRA", extra)
}

/// A rig of three hosts where t2 will hang in the second task, with keepalives every
/// second (so a partition is found in a few seconds, not the default 90).
fn rig_with_hang_on_t2(extra: &str) -> Targets {
    let rig = Targets::up(Kind::Netns, 3);
    rig.write("site.yml", &playbook(extra));
    let inventory = rig.read("inventory.ini").replace(
        "ansible_ssh_common_args='-o UserKnownHostsFile=",
        "ansible_ssh_common_args='-o ServerAliveInterval=1 -o ServerAliveCountMax=2 -o UserKnownHostsFile=",
    );
    assert!(inventory.contains("ServerAliveInterval=1"), "{inventory}");
    rig.write("inventory.ini", &inventory);
    rig.sh("t2", "touch /etc/rplay-hang");
    rig
}

/// Starts the playbook and returns once t2 is seen running its hanging command.
fn run_until_t2_hangs(rig: &Targets, args: &[&str]) -> std::process::Child {
    let child = rig.spawn_rplay(args);
    wait_until("t2 running the hanging command", RUN_LIMIT, || {
        rig.try_sh("t2", "test -e /var/lib/rplay-fault/hanging").0 == 0
    });
    child
}

/// The hosts that were not broken finished every task, on their own filesystems.
fn assert_others_finished(rig: &Targets, run: &Run) {
    for name in ["t1", "t3"] {
        assert_eq!(run.recap(name), recap(name, 3, 2, 0, 0), "{}", run.stdout);
        assert_eq!(
            rig.sh(name, "cat /var/lib/rplay-fault/done"),
            format!("{name} done\n")
        );
    }
}

/// After the fault is mended and the hang removed, a second run converges: t2 gets the
/// task it missed, the others change nothing.
fn assert_rerun_converges(rig: &Targets) {
    rig.sh("t2", "rm -f /etc/rplay-hang");
    let again = rig.rplay(&["site.yml"]);
    again.assert_status(0);
    assert_eq!(
        again.recap("t2"),
        recap("t2", 3, 1, 0, 0),
        "{}",
        again.stdout
    );
    for name in ["t1", "t3"] {
        assert_eq!(again.recap(name), recap(name, 3, 0, 0, 0));
    }
    assert_eq!(rig.sh("t2", "cat /var/lib/rplay-fault/done"), "t2 done\n");
}

fn assert_not_done(rig: &Targets, name: &str) {
    let (status, _, _) = rig.try_sh(name, "test -e /var/lib/rplay-fault/done");
    assert_ne!(status, 0, "{name} ran the task after the fault");
}

/// The lines of `rplay`'s output that report t2.
fn t2_lines(run: &Run) -> String {
    run.stdout
        .lines()
        .filter(|line| line.contains("[t2]"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_host_that_dies_mid_task_is_unreachable_and_the_others_finish() {
    let rig = rig_with_hang_on_t2("");
    let child = run_until_t2_hangs(&rig, &["site.yml"]);
    // Every process of t2 dies at once: sshd, its sessions, the helper shell, the sleep.
    rig.fault("crash", "t2", &[]);
    let run = rig.finish(child, RUN_LIMIT);

    run.assert_status(4);
    assert_eq!(run.recap("t2"), recap("t2", 1, 1, 1, 0));
    let address = rig.address("t2");
    assert!(
        t2_lines(&run).contains(&format!(
            "fatal: [t2]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"connection to `root@{address}:22` lost: "
        )),
        "{}",
        run.stdout
    );
    assert_others_finished(&rig, &run);
    assert_not_done(&rig, "t2");

    rig.fault("revive", "t2", &[]);
    assert_rerun_converges(&rig);
}

#[test]
fn a_partition_mid_task_is_found_by_keepalives_and_only_that_host_is_lost() {
    let rig = rig_with_hang_on_t2("");
    let child = run_until_t2_hangs(&rig, &["site.yml"]);
    rig.link("cut", "t2");
    let run = rig.finish(child, RUN_LIMIT);

    run.assert_status(4);
    assert_eq!(run.recap("t2"), recap("t2", 1, 1, 1, 0));
    assert!(
        t2_lines(&run).contains("lost: the host stopped answering keepalives"),
        "{}",
        run.stdout
    );
    assert_others_finished(&rig, &run);

    rig.link("mend", "t2");
    assert_not_done(&rig, "t2");
    // The sleep of the first run still runs on t2, cut off from its connection: the rerun
    // must not wait for it.
    assert_rerun_converges(&rig);
}

#[test]
fn a_connection_reset_mid_task_makes_only_that_host_unreachable() {
    let rig = rig_with_hang_on_t2("");
    let child = run_until_t2_hangs(&rig, &["site.yml"]);
    rig.fault("reset", "t2", &[]);
    let run = rig.finish(child, RUN_LIMIT);

    run.assert_status(4);
    assert_eq!(run.recap("t2"), recap("t2", 1, 1, 1, 0));
    assert!(
        t2_lines(&run).contains("lost: connection reset by peer"),
        "{}",
        run.stdout
    );
    assert_others_finished(&rig, &run);
    assert_not_done(&rig, "t2");
    assert_rerun_converges(&rig);
}

/// The processes of the rig's sleep on t2, from the target's own namespace.
fn sleeps_on_t2(rig: &Targets) -> Vec<String> {
    rig.fault("pids", "t2", &[])
        .lines()
        .filter(|line| line.contains("sleep 3000"))
        .map(str::to_string)
        .collect()
}

fn assert_timed_out(rig: &Targets, run: &Run, seconds: u64) {
    run.assert_status(2);
    assert_eq!(run.recap("t2"), recap("t2", 1, 1, 0, 1));
    assert!(
        t2_lines(run).contains(&format!(
            "fatal: [t2]: FAILED! => {{\"changed\": false, \"failed\": true, \"msg\": \"Task failed: Timed out after {seconds} second(s).\", \"timedout\": {{\"period\": {seconds}}}}}"
        )),
        "{}",
        run.stdout
    );
    assert_others_finished(rig, run);
    assert_not_done(rig, "t2");
    // The command was stopped on the host, not left running.
    wait_until("the timed-out sleep gone from t2", RUN_LIMIT, || {
        sleeps_on_t2(rig).is_empty()
    });
    // The task ran: its marker is there.
    rig.sh("t2", "test -e /var/lib/rplay-fault/hanging");
}

#[test]
fn a_hung_command_is_stopped_at_its_task_timeout_and_the_host_fails_alone() {
    let rig = rig_with_hang_on_t2("timeout: 6");
    let run = rig.rplay(&["site.yml"]);
    assert_timed_out(&rig, &run, 6);
    assert_rerun_converges(&rig);
}

#[test]
fn task_timeout_on_the_command_line_applies_to_every_task() {
    let rig = rig_with_hang_on_t2("");
    let run = rig.rplay(&["site.yml", "--task-timeout", "6"]);
    assert_timed_out(&rig, &run, 6);

    // A task's own `timeout: 0` lifts the limit for that task: a three-second command
    // finishes under a one-second `--task-timeout`.
    rig.write(
        "own.yml",
        r#"- hosts: t1
  gather_facts: false
  tasks:
    - command: sleep 3
      timeout: 0
"#,
    );
    let own = rig.rplay(&["own.yml", "--task-timeout", "1"]);
    own.assert_status(0);
    assert_eq!(own.recap("t1"), recap("t1", 1, 1, 0, 0));

    assert_rerun_converges(&rig);
}

#[test]
fn a_full_disk_fails_the_write_and_leaves_the_old_file_and_no_temporary_file() {
    let rig = Targets::up(Kind::Netns, 3);
    // t2's /srv/data is a 256 KiB filesystem of its own, holding the old files, then
    // filled up (dd stops at the size, whatever happens).
    rig.fault("small-disk", "t2", &["/srv/data", "256"]);
    rig.sh(
        "t2",
        "printf 'old copy\\n' > /srv/data/app.conf && printf 'old template\\n' > /srv/data/app2.conf && \
         { dd if=/dev/zero of=/srv/data/filler bs=4k count=65 2>/dev/null || true; }",
    );
    assert_eq!(
        rig.sh("t2", "df --output=avail -k /srv/data | tail -n 1")
            .trim(),
        "0",
        "/srv/data on t2 is full"
    );
    rig.write(
        "app.j2",
        "{% for i in range(3000) %}line {{ i }} of {{ inventory_hostname }}\n{% endfor %}",
    );
    rig.write(
        "site.yml",
        r#"- hosts: targets
  gather_facts: false
  tasks:
    - file:
        path: /srv/data
        state: directory
    - copy:
        content: "{{ 'a line of new configuration\n' * 3000 }}"
        dest: /srv/data/app.conf
      ignore_errors: true
    - template:
        src: app.j2
        dest: /srv/data/app2.conf
"#,
    );
    let expected_copy = "a line of new configuration\n".repeat(3000);
    let expected_template =
        |name: &str| -> String { (0..3000).map(|i| format!("line {i} of {name}\n")).collect() };

    let run = rig.rplay(&["site.yml"]);
    run.assert_status(2);
    // The copy failed (and was ignored), then the template failed.
    assert_eq!(
        run.recap("t2"),
        "t2 : ok=2 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=1"
    );
    let lines = t2_lines(&run);
    assert!(
        lines.contains("writing /srv/data/app.conf: cat: write error: No space left on device")
            && lines
                .contains("writing /srv/data/app2.conf: cat: write error: No space left on device"),
        "{}",
        run.stdout
    );
    for name in ["t1", "t3"] {
        assert_eq!(run.recap(name), recap(name, 3, 3, 0, 0));
        assert_eq!(rig.sh(name, "cat /srv/data/app.conf"), expected_copy);
        assert_eq!(
            rig.sh(name, "cat /srv/data/app2.conf"),
            expected_template(name)
        );
    }
    // The old files are whole, and nothing else was left in the directory.
    assert_eq!(
        rig.sh(
            "t2",
            "cat /srv/data/app.conf /srv/data/app2.conf; ls -A /srv/data"
        ),
        "old copy\nold template\napp.conf\napp2.conf\nfiller\n"
    );

    // With room again, a second run writes both and a third changes nothing.
    rig.sh("t2", "rm /srv/data/filler");
    let again = rig.rplay(&["site.yml"]);
    again.assert_status(0);
    assert_eq!(again.recap("t2"), recap("t2", 3, 2, 0, 0));
    assert_eq!(rig.sh("t2", "cat /srv/data/app.conf"), expected_copy);
    assert_eq!(
        rig.sh("t2", "cat /srv/data/app2.conf"),
        expected_template("t2")
    );
    assert_eq!(rig.sh("t2", "ls -A /srv/data"), "app.conf\napp2.conf\n");
    let third = rig.rplay(&["site.yml"]);
    third.assert_status(0);
    for name in &rig.names {
        assert_eq!(third.recap(name), recap(name, 3, 0, 0, 0));
    }
}

const HOSTNAME_PLAYBOOK: &str = r#"- hosts: targets
  gather_facts: false
  tasks:
    - command: hostname
      register: name
    - copy:
        content: "{{ name.stdout }}\n"
        dest: /root/reached
"#;

/// t2's next connection is accepted and closed at once (sshd stopped behind it), then
/// sshd starts again. Returns the rig command, waiting for it to be ready.
fn drop_next_connection(rig: &Targets) -> std::process::Child {
    use std::io::BufRead;
    let mut child = rig.spawn_fault("drop-next", "t2");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "listening\n", "drop-next did not start");
    child
}

fn assert_fault_done(mut child: std::process::Child) {
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .as_mut()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert!(status.success(), "drop-next: {stderr}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "drop-next never saw a connection"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dropped_connection_is_tried_again_with_retries_and_is_unreachable_without() {
    let rig = Targets::up(Kind::Netns, 3);
    rig.write("site.yml", HOSTNAME_PLAYBOOK);

    // Without retries (Ansible's default), the dropped login makes t2 unreachable.
    let fault = drop_next_connection(&rig);
    let run = rig.rplay(&["site.yml"]);
    assert_fault_done(fault);
    run.assert_status(4);
    assert_eq!(run.recap("t2"), recap("t2", 0, 0, 1, 0));
    let address = rig.address("t2");
    assert!(
        t2_lines(&run).contains(&format!(
            "fatal: [t2]: UNREACHABLE! => {{\"changed\": false, \"msg\": \"failed to connect to `root@{address}` port 22 via ssh: "
        )),
        "{}",
        run.stdout
    );
    for name in ["t1", "t3"] {
        assert_eq!(run.recap(name), recap(name, 2, 2, 0, 0));
    }

    // With retries, the same drop costs one pause and the run converges.
    let fault = drop_next_connection(&rig);
    let run = rig.rplay(&["site.yml", "--connect-retries", "3"]);
    assert_fault_done(fault);
    run.assert_status(0);
    assert_eq!(run.recap("t2"), recap("t2", 2, 2, 0, 0), "{}", run.stdout);
    assert_eq!(rig.sh("t2", "cat /root/reached"), "t2\n");
    for name in ["t1", "t3"] {
        assert_eq!(run.recap(name), recap(name, 2, 1, 0, 0));
    }

    // A host that stays down is unreachable after every try, and says how many.
    rig.fault("crash", "t2", &[]);
    let down = rig.rplay(&["site.yml", "-e", "ansible_ssh_retries=2"]);
    down.assert_status(4);
    assert_eq!(down.recap("t2"), recap("t2", 0, 0, 1, 0));
    assert!(
        t2_lines(&down).contains(&format!(
            "failed to connect to `root@{address}` port 22 via ssh: connection refused (3 tries)"
        )),
        "{}",
        down.stdout
    );
    rig.fault("revive", "t2", &[]);
    let again = rig.rplay(&["site.yml"]);
    again.assert_status(0);
    assert_eq!(again.recap("t2"), recap("t2", 2, 1, 0, 0));
}
