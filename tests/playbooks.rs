//! The engine end to end on localhost: playbooks in a temporary directory, run with the
//! implicit local inventory, output and files on disk checked exactly.

mod support;
use support::Test;

#[test]
fn debug_message_in_ansibles_shape() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              vars:
                greeting: hello
              tasks:
                - name: Say it
                  debug:
                    msg: \"{{ greeting }} world\"
            ",
        )
        .args(&["play.yml"])
        .stdout(
            "

PLAY [localhost] ***************************************************************

TASK [Say it] ******************************************************************
ok: [localhost] => {
    \"msg\": \"hello world\"
}

PLAY RECAP *********************************************************************
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   

",
        )
        .run();
}

#[test]
fn unknown_module_is_reported_before_running_with_a_suggestion() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              tasks:
                - name: typo
                  comand: echo hi
            ",
        )
        .args(&["play.yml"])
        .stderr(
            "error: couldn't resolve module/action `comand`
 --> play.yml:4:7
  |
4 |       comand: echo hi
  |       ^^^^^^
help: did you mean `command`?
",
        )
        .status(5)
        .run();
}

#[test]
fn syntax_check_lists_every_unknown_module_at_once() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              tasks:
                - comand: echo hi
                - name: from a collection rplay lacks
                  community.foo.frobnicate:
                    x: 1
                - community.foo.other: a=b
                  when: false
            ",
        )
        .args(&["play.yml", "--syntax-check"])
        .stderr(
            "error: couldn't resolve module/action `comand`
 --> play.yml:3:7
  |
3 |     - comand: echo hi
  |       ^^^^^^
help: did you mean `command`?
error: couldn't resolve module/action `community.foo.frobnicate`
 --> play.yml:5:7
  |
5 |       community.foo.frobnicate:
  |       ^^^^^^^^^^^^^^^^^^^^^^^^
help: this module is not available in rplay; `rplay doc` lists those that are
error: couldn't resolve module/action `community.foo.other`
 --> play.yml:7:7
  |
7 |     - community.foo.other: a=b
  |       ^^^^^^^^^^^^^^^^^^^
help: this module is not available in rplay; `rplay doc` lists those that are
",
        )
        .status(5)
        .run();
}

#[test]
fn a_collection_module_rplay_lacks_fails_only_when_its_task_runs() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - name: Skipped on this host
                  community.foo.other: a=b
                  when: false
                - copy: {content: before, dest: '{dir}/before'}
                - name: Runs
                  community.foo.frobnicate:
                    x: 1
                - copy: {content: after, dest: '{dir}/after'}
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("skipping: [localhost]")
        .stdout_contains(
            "fatal: [localhost]: FAILED! => {\"changed\": false, \"failed\": true, \"msg\": \"error: couldn't resolve module/action `community.foo.frobnicate`\\n --> play.yml:9:7",
        )
        .status(2)
        .run();
    assert!(output.exists("before"));
    assert!(
        !output.exists("after"),
        "the run went on past the failed task"
    );
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=1 changed=1 unreachable=0 failed=1 skipped=1 rescued=0 ignored=0"
    );
}

#[test]
fn modules_of_other_distributions_load_and_fail_only_when_they_run() {
    // The distribution the message names is this machine's, read as rplay reads it.
    let release = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    let id = release
        .lines()
        .find_map(|line| line.strip_prefix("ID="))
        .expect("an ID in /etc/os-release")
        .trim_matches('"');
    let distribution = format!("{}{}", id[..1].to_uppercase(), &id[1..]);
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              vars:
                family: Debian
              tasks:
                - name: RedHat only
                  ansible.builtin.dnf: {name: containerd.io, state: present}
                  when: family == 'RedHat'
                - yum_repository: {name: docker, description: Docker, baseurl: 'https://x'}
                  when: family == 'RedHat'
                - ansible.posix.selinux: {state: disabled}
                  when: family == 'RedHat'
                - community.general.zypper: {name: x}
                  when: family == 'Suse'
                - name: Reached
                  community.general.ufw: {rule: allow, port: '6443', proto: tcp}
                  ignore_errors: true
            ",
        )
        .args(&["play.yml"])
        .stdout_contains(&format!(
            "\"msg\": \"`ufw` is not supported on this host ({distribution}): it manages the Uncomplicated Firewall (Ubuntu's), and rplay does not run it; use `iptables` on Debian, or guard the task with a `when` on `ansible_os_family`\"}}\n...ignoring"
        ))
        .run();
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=1 changed=0 unreachable=0 failed=0 skipped=4 rescued=0 ignored=1"
    );
}

#[test]
fn modules_of_other_distributions_have_their_arguments_checked() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              tasks:
                - ansible.posix.firewalld: {port: 6443/tcp, permanant: true, state: enabled}
                  when: false
            ",
        )
        .args(&["play.yml", "--syntax-check"])
        .stderr_contains("error: unknown field `permanant` in `firewalld` arguments")
        .stderr_contains("help: did you mean `permanent`?")
        .status(5)
        .run();
}

#[test]
fn unknown_argument_points_at_the_key() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: no
              tasks:
                - command:
                    cmd: /bin/true
                    chdri: /tmp
            ",
        )
        .args(&["play.yml", "--syntax-check"])
        .stderr(
            "error: unknown field `chdri` in `command` arguments
 --> play.yml:6:9
  |
6 |         chdri: /tmp
  |         ^^^^^
help: did you mean `chdir`?
",
        )
        .status(5)
        .run();
}

#[test]
fn yaml_syntax_error_has_a_caret() {
    let output = Test::new()
        .file("play.yml", "- hosts: localhost\n  tasks: [\n")
        .args(&["play.yml"])
        .stderr_contains("error: invalid YAML")
        .stderr_contains(" --> play.yml:")
        .status(5)
        .run();
    assert!(output.stderr.contains('^'), "{}", output.stderr);
}

#[test]
fn undefined_variable_fails_the_task_with_its_name() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - debug:
                    msg: \"{{ nope }}\"
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("fatal: [localhost]: FAILED!")
        .stdout_contains("undefined variable")
        .status(2)
        .run();
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=0 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"
    );
}

#[test]
fn a_variable_that_refers_to_itself_is_a_loop_not_a_crash() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              vars:
                a: \"{{ b }}\"
                b: \"{{ a }}\"
              tasks:
                - debug:
                    msg: \"{{ a }}\"
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("refers to itself")
        .status(2)
        .run();
}

#[test]
fn include_loop_is_refused_before_running() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              tasks:
                - import_tasks: a.yml
            ",
        )
        .file("a.yml", "- import_tasks: b.yml\n")
        .file("b.yml", "- import_tasks: a.yml\n")
        .args(&["play.yml"])
        .stderr_contains("error: include loop:")
        .status(5)
        .run();
}

#[test]
fn missing_role_names_the_search_path() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              roles:
                - webserver
            ",
        )
        .file("roles/webservers/tasks/main.yml", "- debug: msg=hi\n")
        .args(&["play.yml"])
        .stderr_contains("error: role `webserver` was not found")
        .stderr_contains("help: did you mean `webservers`?")
        .status(5)
        .run();
}

#[test]
fn failed_command_gives_exit_2_and_stops_the_host() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - command: /bin/false
                - file:
                    path: \"{{ playbook_dir }}/never\"
                    state: touch
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("\"msg\": \"non-zero return code\"")
        .status(2)
        .run();
    assert!(
        !output.exists("never"),
        "the host must leave the play after a failure"
    );
}

#[test]
fn registered_results_drive_conditions_and_loops() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - shell: printf 'a\\nb\\n'
                  register: listing
                  changed_when: false
                - copy:
                    content: \"{{ item }}\\n\"
                    dest: \"{{ playbook_dir }}/out-{{ item }}\"
                  loop: \"{{ listing.stdout_lines }}\"
                  when: item != 'b'
            ",
        )
        .args(&["play.yml"])
        .run();
    assert_eq!(output.file("out-a"), "a\n");
    assert!(!output.exists("out-b"));
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=2 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
}

#[test]
fn check_mode_changes_nothing_and_says_what_would_change() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - copy:
                    content: new
                    dest: \"{{ playbook_dir }}/target\"
            ",
        )
        .file("target", "old")
        .args(&["play.yml", "--check", "--diff"])
        .stdout_contains("changed: [localhost]")
        .stdout_contains("-old")
        .stdout_contains("+new")
        .run();
    assert_eq!(output.file("target"), "old");
}

#[test]
fn second_run_reports_no_change() {
    let test = Test::new().file(
        "play.yml",
        "
        - hosts: localhost
          gather_facts: false
          tasks:
            - file:
                path: \"{{ playbook_dir }}/d\"
                state: directory
                mode: \"0750\"
            - copy:
                content: \"x\\n\"
                dest: \"{{ playbook_dir }}/d/f\"
        ",
    );
    let dir = test.path().to_path_buf();
    let first = test.args(&["play.yml"]).run();
    assert_eq!(
        first.recap("localhost"),
        "localhost : ok=2 changed=2 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_rplay"))
        .arg("play.yml")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("localhost                  : ok=2    changed=0"),
        "{stdout}"
    );
}

#[test]
fn extra_vars_win_over_play_vars() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              vars:
                level: play
              tasks:
                - debug: var=level
            ",
        )
        .args(&["play.yml", "-e", "level=extra"])
        .stdout_contains("\"level\": \"extra\"")
        .run();
}

#[test]
fn inventory_graph_matches_ansible_inventory() {
    Test::new()
        .file(
            "hosts.ini",
            "
            [web]
            web[1:2]

            [db]
            db1

            [prod:children]
            web
            db
            ",
        )
        .args(&["inventory", "-i", "hosts.ini", "--graph"])
        .stdout(
            "@all:
  |--@ungrouped:
  |--@prod:
  |  |--@web:
  |  |  |--web1
  |  |  |--web2
  |  |--@db:
  |  |  |--db1
",
        )
        .run();
}

#[test]
fn list_hosts_and_tasks_without_running() {
    let output = Test::new()
        .file(
            "hosts.ini",
            "
            [web]
            web1 ansible_connection=local
            web2 ansible_connection=local
            ",
        )
        .file(
            "play.yml",
            "
            - name: Web servers
              hosts: web
              tasks:
                - name: Touch a marker
                  file:
                    path: \"{{ playbook_dir }}/{{ inventory_hostname }}\"
                    state: touch
                  tags: [marker]
            ",
        )
        .args(&[
            "-i",
            "hosts.ini",
            "play.yml",
            "--list-hosts",
            "--list-tasks",
        ])
        .stdout_contains("    hosts (2):\n      web1\n      web2\n")
        .stdout_contains("      Touch a marker\tTAGS: [marker]\n")
        .run();
    assert!(!output.exists("web1"), "listing must not run anything");
}

#[test]
fn implicit_inventory_has_only_localhost() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: all
              gather_facts: false
              tasks:
                - debug: msg=never
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("skipping: no hosts matched")
        .run();
}

#[test]
fn json_output_is_one_event_per_line() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - command: echo hi
            ",
        )
        .args(&["play.yml", "--output", "json"])
        .run();
    let events: Vec<serde_json::Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let result = events
        .iter()
        .find(|e| e["event"] == "host_result")
        .expect("a host result event");
    assert_eq!(result["status"], "changed");
    assert_eq!(result["result"]["stdout"], "hi");
    assert_eq!(events.last().unwrap()["event"], "recap");
}

#[test]
fn tags_select_tasks_and_start_at_task_skips_earlier_ones() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - name: first
                  file: {path: \"{{ playbook_dir }}/first\", state: touch}
                  tags: [one]
                - name: second
                  file: {path: \"{{ playbook_dir }}/second\", state: touch}
                  tags: [two]
                - name: third
                  file: {path: \"{{ playbook_dir }}/third\", state: touch}
                  tags: [two]
            ",
        )
        .args(&["play.yml", "--tags", "two", "--start-at-task", "third"])
        .run();
    assert!(!output.exists("first"));
    assert!(!output.exists("second"));
    assert!(output.exists("third"));
}

#[test]
fn extra_vars_from_a_file_and_json() {
    Test::new()
        .file("vars.yml", "from_file: 1\n")
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - debug:
                    msg: \"{{ from_file + from_json }}\"
            ",
        )
        .args(&["play.yml", "-e", "@vars.yml", "-e", "{\"from_json\": 2}"])
        .stdout_contains("\"msg\": 3")
        .run();
}

#[test]
fn bad_options_exit_5() {
    Test::new()
        .file("play.yml", "- hosts: localhost\n  tasks: []\n")
        .args(&["play.yml", "--no-such-flag"])
        .stderr_contains("--no-such-flag")
        .status(5)
        .run();
}

#[test]
fn doc_prints_a_module_and_its_arguments() {
    Test::new()
        .args(&["doc", "command"])
        .stdout_contains("`command`: runs a program with arguments, without a shell.")
        .stdout_contains("  creates ")
        .run();
}

#[test]
fn the_demo_playbook_runs_and_is_idempotent() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/demo.yml");
    let first = Test::new()
        .args(&[demo, "-e", "report_dir={dir}/report"])
        .stdout_contains("Gathering Facts")
        .run();
    let report = first.file("report/node-report.txt");
    assert!(report.starts_with("Node report for localhost"), "{report}");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_rplay"))
        .args([
            demo,
            "-e",
            &format!("report_dir={}/report", first.dir.display()),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("changed=0"), "{stdout}");
}

#[test]
fn ad_hoc_runs_a_command_and_shows_its_output() {
    Test::new()
        .args(&["run", "localhost", "echo", "hello world"])
        .stdout("localhost | CHANGED | rc=0 >>\nhello world\n")
        .run();
}

#[test]
fn ad_hoc_runs_a_module_given_as_key_value_words() {
    let output = Test::new()
        .args(&["run", "localhost", "file", "path={dir}/made", "state=touch"])
        .stdout_contains("localhost | CHANGED => {")
        .run();
    assert!(output.exists("made"));
}

#[test]
fn ad_hoc_failure_sets_the_exit_code() {
    Test::new()
        .args(&[
            "run",
            "localhost",
            "-m",
            "shell",
            "-a",
            "echo out; echo err >&2; exit 3",
        ])
        .stdout("localhost | FAILED | rc=3 >>\nout\nerr\n")
        .status(2)
        .run();
}

#[test]
fn a_module_failing_at_its_first_step_reports_no_change() {
    // `sysctl -w` of a key the kernel does not have fails before anything changed; the
    // command module's failure, by contrast, stays `changed: true` as in Ansible.
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - sysctl:
                    name: rplay.no.such.key
                    value: '1'
                    sysctl_set: true
                    reload: false
                    sysctl_file: ./sysctl.conf
                  register: set
                  ignore_errors: true
                - command: 'false'
                  register: cmd
                  ignore_errors: true
                - assert:
                    that:
                      - set is failed and set is not changed
                      - cmd is failed and cmd is changed
            ",
        )
        .args(&["play.yml"])
        .stdout_contains(
            "ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=2",
        )
        .run();
}

#[test]
fn the_connection_keyword_and_templated_connection_variables_choose_the_transport() {
    // `web1` would be reached over SSH at an address that does not resolve; the play's
    // `connection: local` runs it here instead, and a templated `ansible_connection`
    // does the same for `web2`.
    let out = Test::new()
        .file(
            "inventory",
            "
            web1 ansible_host=nowhere.invalid
            web2 ansible_host=nowhere.invalid ansible_connection='{{ how }}' how=local
            ",
        )
        .file(
            "play.yml",
            "
            - hosts: web1
              gather_facts: false
              connection: local
              tasks:
                - command: touch {dir}/web1.touched
            - hosts: web2
              gather_facts: false
              tasks:
                - command: touch {dir}/web2.touched
            ",
        )
        .args(&["-i", "inventory", "play.yml"])
        .run();
    assert_eq!(
        out.recap("web1"),
        "web1 : ok=1 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    assert!(out.exists("web1.touched") && out.exists("web2.touched"));
}

/// Run as root (as CI runs): sudo and su then switch to `nobody` without asking, so the
/// password line rplay puts first on the command's input must be skipped, not read by
/// the command. Asking hosts are covered by the real-target rig.
#[test]
fn a_become_password_nobody_asks_for_stays_out_of_the_commands_input_and_output() {
    for method in ["sudo", "su"] {
        let out = Test::new()
            .file(
                "play.yml",
                &format!(
                    "
                    - hosts: localhost
                      gather_facts: false
                      become: true
                      become_user: nobody
                      become_method: {method}
                      vars:
                        ansible_become_password: not-asked-s3cret
                      tasks:
                        - command: cat
                          args:
                            stdin: input for cat
                          register: fed
                        - command: id -un
                          register: who
                        - copy:
                            content: written as nobody
                            dest: /tmp/rplay-become-{method}-{{{{ 999999 | random }}}}
                          register: written
                        - file:
                            path: \"{{{{ written.dest }}}}\"
                            state: absent
                          become: false
                        - assert:
                            that:
                              - fed.stdout == 'input for cat'
                              - fed.stderr == ''
                              - who.stdout == 'nobody'
                              - written.changed
                    "
                ),
            )
            .args(&["-v", "play.yml"])
            .run();
        assert_eq!(
            out.recap("localhost"),
            "localhost : ok=5 changed=4 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0",
            "with {method}"
        );
        assert!(
            !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
            "with {method}: {}",
            out.stdout
        );
    }
}

/// `no_log: true` on every kind of task (a file written with --diff, commands that pass and
/// fail, a loop, debug, assert, set_fact, fail) at the highest verbosity, in both output
/// formats: the secret never shows, and the tasks still did their work.
#[test]
fn no_log_keeps_a_secret_out_of_every_output() {
    let playbook = "
        - hosts: localhost
          gather_facts: false
          vars:
            secret: hunter2-secret
          tasks:
            - copy: {content: \"{{ secret }}\\n\", dest: \"{{ playbook_dir }}/written.txt\"}
              no_log: true
            - command: echo {{ secret }}
              no_log: true
              register: echoed
            - command: \"false {{ secret }}\"
              no_log: true
              ignore_errors: true
            - debug: msg=\"{{ secret }}\"
              no_log: true
            - assert: {that: \"secret == 'x'\", fail_msg: \"{{ secret }}\"}
              no_log: true
              ignore_errors: true
            - set_fact: {copied: \"{{ secret }}\"}
              no_log: true
            - shell: echo {{ item }}
              loop: [\"{{ secret }}\"]
              no_log: true
            - copy: {content: \"{{ echoed.stdout | length }} {{ copied == secret }}\\n\", dest: \"{{ playbook_dir }}/checked.txt\"}
            - fail: {msg: \"{{ secret }}\"}
              no_log: true
        ";
    for format in ["human", "json"] {
        let run = Test::new()
            .file("play.yml", playbook)
            .args(&["play.yml", "--diff", "-vvv", "--output", format])
            .status(2)
            .run();
        assert_eq!(run.file("written.txt"), "hunter2-secret\n");
        assert_eq!(run.file("checked.txt"), "14 True\n");
        assert!(
            !run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"),
            "{format} output shows the secret:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.contains("no_log: true"),
            "{format}: {}",
            run.stdout
        );
    }
}

#[test]
fn ansible_cfg_in_the_working_directory_supplies_inventory_forks_roles_and_gathering() {
    // Paths in the file are relative to the file's directory; `gathering = smart` asks
    // for facts in the first play only.
    let run = Test::new()
        .file(
            "ansible.cfg",
            "
            # settings as a project keeps them
            [defaults]
            inventory = inventory/hosts.ini
            forks = 7
            roles_path = shared/roles:/nonexistent ; a comment
            gathering = smart
            retry_files_enabled = False
            [ssh_connection]
            pipelining = True
            ",
        )
        .file(
            "inventory/hosts.ini",
            "[here]\nlocalhost ansible_connection=local greeting=from-the-cfg-inventory\n",
        )
        .file(
            "shared/roles/greet/tasks/main.yml",
            "- copy: {content: \"{{ greeting }} forks={{ ansible_forks }}\\n\", dest: \"{{ out }}\"}\n",
        )
        .file(
            "play.yml",
            "
            - hosts: here
              roles: [greet]
            - hosts: here
              tasks:
                - debug: {msg: \"{{ ansible_hostname }}\"}
            ",
        )
        .args(&["play.yml", "-e", "out={dir}/out.txt", "-v"])
        .stdout_contains("Using {dir}/ansible.cfg as config file")
        .run();
    assert_eq!(run.file("out.txt"), "from-the-cfg-inventory forks=7\n");
    assert_eq!(
        run.stdout.matches("TASK [Gathering Facts]").count(),
        1,
        "{}",
        run.stdout
    );
    // The command line and the environment come before the file.
    let run = Test::new()
        .file(
            "ansible.cfg",
            "[defaults]\nforks = 7\ngathering = explicit\n",
        )
        .file(
            "play.yml",
            "
            - hosts: localhost
              tasks:
                - copy: {content: \"{{ ansible_forks }}\\n\", dest: \"{{ out }}\"}
            ",
        )
        .env("ANSIBLE_FORKS", "9")
        .args(&["play.yml", "-e", "out={dir}/out.txt"])
        .run();
    assert_eq!(run.file("out.txt"), "9\n");
    assert!(!run.stdout.contains("Gathering Facts"), "{}", run.stdout);
    let run = Test::new()
        .file("ansible.cfg", "[defaults]\nforks = 7\n")
        .file(
            "play.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: \"{{ ansible_forks }}\\n\", dest: \"{{ out }}\"}\n",
        )
        .env("ANSIBLE_FORKS", "9")
        .args(&["play.yml", "-f", "3", "-e", "out={dir}/out.txt"])
        .run();
    assert_eq!(run.file("out.txt"), "3\n");
}

#[test]
fn ansible_config_names_the_file_and_its_errors_point_at_the_value() {
    Test::new()
        .file("conf/ansible.cfg", "[defaults]\nforks = many\n")
        .file(
            "play.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks: []\n",
        )
        .env("ANSIBLE_CONFIG", "conf")
        .args(&["play.yml"])
        .stderr(
            "
            error: `many` is not a whole number
             --> conf/ansible.cfg:2:9
              |
            2 | forks = many
              |         ^^^^
            help: the setting wants a whole number
            ",
        )
        .status(5)
        .run();
    Test::new()
        .file("ansible.cfg", "forks = 3\n")
        .file(
            "play.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks: []\n",
        )
        .args(&["play.yml"])
        .stderr_contains("error: `forks` comes before any section")
        .stderr_contains("ansible.cfg:1:1")
        .status(5)
        .run();
}
