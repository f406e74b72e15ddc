//! Hostile and broken input: each is refused with an error that names the file and, where
//! there is one, the line and column, instead of eating the machine's memory or stack or
//! running for ever.

mod support;
use support::Test;

/// Nine levels of nine aliases each: a billion strings if expanded.
fn alias_bomb() -> String {
    let mut text = String::from(
        "- hosts: localhost\n  gather_facts: false\n  vars:\n    a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        text.push_str(&format!(
            "    a{level}: &a{level} [{}]\n",
            vec![previous; 9].join(",")
        ));
    }
    text.push_str("  tasks:\n    - debug: msg=hi\n");
    text
}

#[test]
fn an_alias_bomb_is_refused_where_it_explodes() {
    let test = Test::new();
    std::fs::write(test.path().join("bomb.yml"), alias_bomb()).unwrap();
    test.args(&["bomb.yml", "--syntax-check"])
        .stderr(
            "error: YAML document expands to more than 1000000 nodes
  --> bomb.yml:10:14
   |
10 |     a6: &a6 [*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5]
   |              ^^^
help: an alias refers to a large anchor many times (an alias bomb?)
",
        )
        .status(5)
        .run();
}

#[test]
fn a_deeply_nested_document_is_refused_and_its_long_line_shown_in_part() {
    let test = Test::new();
    let depth = 100_000;
    std::fs::write(
        test.path().join("deep.yml"),
        format!(
            "- hosts: localhost\n  vars:\n    x: {}{}\n  tasks: []\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    )
    .unwrap();
    let output = test
        .args(&["deep.yml", "--syntax-check"])
        .stderr_contains("error: invalid YAML: recursion limit exceeded\n --> deep.yml:3:")
        .stderr_contains("help: the document nests collections deeper than the parser allows")
        .status(5)
        .run();
    // The 200 000-character line is cut to a window around the caret.
    let longest = output.stderr.lines().map(str::len).max().unwrap();
    assert!(longest < 200, "{}", output.stderr);
    assert!(output.stderr.contains("| ...[[[["), "{}", output.stderr);
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_it_is_parsed() {
    let test = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              vars_files: [big.yml]
              tasks: []
            ",
        )
        .args(&["play.yml"]);
    // 17 MiB of a valid vars file.
    let line = "key: a value that is long enough to fill the file quickly\n";
    let big = line.repeat((17 << 20) / line.len() + 1);
    std::fs::write(test.path().join("big.yml"), &big).unwrap();
    std::fs::write(test.path().join("big.ini"), big.replace(": ", "=")).unwrap();
    test.stderr(
        "error: `big.yml` is larger than 16 MiB, the most rplay reads as a playbook, inventory, vars file or template\n",
    )
    .status(5)
    .run();

    let test = Test::new().args(&["inventory", "-i", "big.ini", "--list"]);
    std::fs::write(test.path().join("big.ini"), big.replace(": ", "=")).unwrap();
    test.stderr(
        "error: `big.ini` is larger than 16 MiB, the most rplay reads as a playbook, inventory, vars file or template\n",
    )
    .status(5)
    .run();
}

#[test]
fn a_template_that_never_ends_runs_out_of_fuel_and_fails_its_task() {
    Test::new()
        .file(
            "play.yml",
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - debug:
                    msg: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
            "#,
        )
        .args(&["play.yml"])
        .stdout_contains(r#"fatal: [localhost]: FAILED! => {"changed": false, "failed": true, "msg": "error: template ran too long (possible endless loop)\n --> play.yml:5:14\n"#)
        .stdout_contains("localhost                  : ok=0    changed=0    unreachable=0    failed=1")
        .status(2)
        .run();
    Test::new()
        .file(
            "play.yml",
            r#"
            - hosts: localhost
              gather_facts: false
              tasks:
                - debug:
                    msg: "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}"
            "#,
        )
        .args(&["play.yml"])
        .stdout_contains(r#""msg": "error: template error: invalid operation: recursion limit exceeded\n --> play.yml:5:14\n"#)
        .status(2)
        .run();
}

#[test]
fn an_include_that_includes_itself_for_ever_fails_at_a_bounded_depth() {
    let output = Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - include_tasks: again.yml
                - debug: msg=never
            ",
        )
        .file("again.yml", "- include_tasks: again.yml\n")
        .args(&["play.yml"])
        .stdout_contains(r#"fatal: [localhost]: FAILED! => {"changed": false, "failed": true, "msg": "error: includes nest more than 40 deep: again.yml (40 times)\n --> again.yml:1:3\n  |\n1 | - include_tasks: again.yml\n  |   ^\nhelp: an include that includes itself needs a condition that ends it"}"#)
        .status(2)
        .run();
    assert!(!output.stdout.contains("never"), "{}", output.stdout);
    assert_eq!(
        output.recap("localhost"),
        "localhost : ok=40 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"
    );

    // A role that includes itself is stopped the same way.
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - include_role: name=spiral
            ",
        )
        .file(
            "roles/spiral/tasks/main.yml",
            "- include_role: name=spiral\n",
        )
        .args(&["play.yml"])
        .stdout_contains("includes nest more than 40 deep: spiral (40 times)\\n --> roles/spiral/tasks/main.yml:1:3")
        .status(2)
        .run();
}

#[test]
fn an_include_that_recurses_until_a_condition_ends_it_runs_to_the_end() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              tasks:
                - include_tasks: count.yml
                  vars:
                    n: 1
                - debug:
                    msg: reached {{ reached }}
            ",
        )
        .file(
            "count.yml",
            "
            - set_fact:
                reached: \"{{ n }}\"
            - include_tasks: count.yml
              vars:
                n: \"{{ n | int + 1 }}\"
              when: n | int < 39
            ",
        )
        .args(&["play.yml"])
        .stdout_contains("\"msg\": \"reached 39\"")
        .run();
}

#[test]
fn a_role_dependency_cycle_is_refused_before_running() {
    Test::new()
        .file(
            "play.yml",
            "
            - hosts: localhost
              gather_facts: false
              roles: [first]
            ",
        )
        .file("roles/first/meta/main.yml", "dependencies: [second]\n")
        .file("roles/first/tasks/main.yml", "- debug: msg=first\n")
        .file("roles/second/meta/main.yml", "dependencies: [first]\n")
        .file("roles/second/tasks/main.yml", "- debug: msg=second\n")
        .args(&["play.yml"])
        .stderr(
            "error: include loop: play.yml -> roles/first -> roles/second -> roles/first
 --> roles/second/meta/main.yml:1:16
  |
1 | dependencies: [first]
  |                ^^^^^
",
        )
        .status(5)
        .run();
}

#[test]
fn a_host_range_of_more_than_a_hundred_thousand_hosts_is_refused_where_it_is_written() {
    Test::new()
        .file("hosts.ini", "[web]\nweb[0:99]-rack[0:1000]\n")
        .args(&["inventory", "-i", "hosts.ini", "--list"])
        .stderr(
            "error: host range `[0:1000]` expands to more than 100000 hosts
 --> hosts.ini:2:1
  |
2 | web[0:99]-rack[0:1000]
  | ^^^^^^^^^^^^^^^^^^^^^^
",
        )
        .status(5)
        .run();
}
