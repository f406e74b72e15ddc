//! Whole inventories, checked against what Ansible 2.19 does with the same files. The
//! expected `--list` and `--graph` texts in `testdata/` were printed by `ansible-inventory`
//! 2.19.14; the selections and variables were printed by `ansible` and
//! `ansible-playbook` on the same inventories.

use super::*;
use std::path::Path;

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/inventory/testdata")
        .join(path)
}

fn load(paths: &[&str]) -> Inventory {
    let paths: Vec<PathBuf> = paths.iter().map(|path| testdata(path)).collect();
    Inventory::load(&paths).unwrap_or_else(|error| panic!("{error}"))
}

/// Writes `files` (path, text) under a new temporary directory.
fn temp_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load_error(dir: &tempfile::TempDir, path: &str) -> String {
    let error = Inventory::load(&[dir.path().join(path)]).unwrap_err();
    error
        .render()
        .replace(&dir.path().display().to_string(), "TMP")
}

fn select(inventory: &Inventory, pattern: &str) -> Vec<String> {
    inventory
        .select(pattern)
        .unwrap_or_else(|error| panic!("{pattern}: {error}"))
}

/// Variables as `name=json` lines, sorted, so a whole host reads at a glance.
fn vars_text(variables: &IndexMap<String, Value>) -> Vec<String> {
    let mut lines: Vec<String> = variables
        .iter()
        .map(|(name, value)| format!("{name}={}", serde_json::to_string(value).unwrap()))
        .collect();
    lines.sort();
    lines
}

#[test]
fn ini_list_and_graph_match_ansible_inventory() {
    let inventory = load(&["ini/hosts"]);
    assert_eq!(
        inventory.to_list_string(),
        include_str!("testdata/ini.list.json")
    );
    assert_eq!(
        inventory.graph("all").unwrap(),
        include_str!("testdata/ini.graph.txt")
    );
}

#[test]
fn yaml_list_and_graph_match_ansible_inventory() {
    let inventory = load(&["yaml/inv.yml"]);
    assert_eq!(
        inventory.to_list_string(),
        include_str!("testdata/yaml.list.json")
    );
    assert_eq!(
        inventory.graph("all").unwrap(),
        include_str!("testdata/yaml.graph.txt")
    );
    assert_eq!(
        inventory.graph("db").unwrap(),
        include_str!("testdata/yaml.graph-db.txt")
    );
    let warnings: Vec<String> = inventory
        .warnings()
        .iter()
        .map(|w| w.message.clone())
        .collect();
    assert_eq!(
        warnings,
        [
            "skipping `weird`: a group definition must be a mapping, found an integer",
            "skipping unexpected key `hots` in group `web`, only `vars`, `children` and `hosts` are valid",
        ]
    );
    assert_eq!(
        inventory.warnings()[1].help.as_deref(),
        Some("did you mean `hosts`?")
    );
}

#[test]
fn graph_of_an_unknown_group_suggests_a_close_one() {
    let error = load(&["yaml/inv.yml"]).graph("replicas").unwrap_err();
    assert_eq!(
        error.render(),
        "error: pattern must be a valid group name when using `--graph`, got `replicas`\nhelp: did you mean `replica`?\n"
    );
}

#[test]
fn selects_ini_hosts_like_ansible() {
    let inventory = load(&["ini/hosts"]);
    let cases: [(&str, &[&str]); 27] = [
        ("all", &["top1", "h2", "h1", "w1", "h0", "h3", "h4"]),
        ("*", &["top1", "h2", "h1", "w1", "h0", "h3", "h4"]),
        ("b", &["h2", "h0", "h3", "h4"]),
        ("b[0]", &["h2"]),
        ("b[1:]", &["h0", "h3", "h4"]),
        ("b[-1]", &["h4"]),
        ("b[1:0]", &["h0"]),
        ("h*", &["h2", "h1", "h0", "h3", "h4"]),
        ("~h[01]", &["h1", "h0"]),
        ("a:b", &["h1", "h2", "h0", "h3", "h4"]),
        ("a,b", &["h1", "h2", "h0", "h3", "h4"]),
        ("b:&c", &["h0", "h3", "h4"]),
        ("b:!c", &["h2"]),
        ("!c", &["top1", "h2", "h1", "w1"]),
        ("&b", &["h2", "h0", "h3", "h4"]),
        ("b:!c:a", &["h2", "h1"]),
        ("!h2:b", &["h0", "h3", "h4"]),
        ("localhost", &["localhost"]),
        ("127.0.0.1", &["localhost"]),
        ("nomatch", &[]),
        ("web*", &["w1"]),
        ("h?", &["h2", "h1", "h0", "h3", "h4"]),
        ("h[!0]", &["h2", "h1", "h3", "h4"]),
        ("*[0:2]", &["top1", "h2", "h1"]),
        ("h2,h2,b", &["h2", "h0", "h3", "h4"]),
        ("ungrouped", &["top1"]),
        ("b:!h[3:4]", &["h2", "h0", "h3", "h4"]),
    ];
    for (pattern, expected) in cases {
        assert_eq!(select(&inventory, pattern), expected, "pattern `{pattern}`");
    }
    assert_eq!(
        inventory.select_patterns(&["a", "c[0]"], None).unwrap(),
        ["h1", "h0"]
    );
}

#[test]
fn selects_yaml_hosts_like_ansible() {
    let inventory = load(&["yaml/inv.yml"]);
    let cases: [(&str, &[&str]); 8] = [
        (
            "all",
            &[
                "direct1",
                "web01.example.com",
                "web02.example.com",
                "web03.example.com",
                "::1",
                "10.0.0.1",
                "10.0.0.2",
                "db1",
                "t1",
                "db2",
            ],
        ),
        ("web[0]", &["web01.example.com"]),
        (
            "*.example.com",
            &[
                "web01.example.com",
                "web02.example.com",
                "web03.example.com",
            ],
        ),
        ("::1", &["::1"]),
        // `::1` is a localhost name, so it is the inventory's localhost.
        ("localhost", &["::1"]),
        ("db", &["db1", "db2"]),
        ("toplevel:db", &["t1", "db1", "db2"]),
        ("~web0[12]", &["web01.example.com", "web02.example.com"]),
    ];
    for (pattern, expected) in cases {
        assert_eq!(select(&inventory, pattern), expected, "pattern `{pattern}`");
    }
}

#[test]
fn limit_intersects_and_reads_files() {
    let inventory = load(&["ini/hosts"]);
    let limit = Limit::parse("b").unwrap();
    assert_eq!(
        inventory.select_limited("all", &limit).unwrap(),
        ["h2", "h0", "h3", "h4"]
    );
    assert_eq!(
        inventory.select_limited("a:c", &limit).unwrap(),
        ["h0", "h3", "h4"]
    );
    let limit = Limit::parse("!h0:!h3").unwrap();
    assert_eq!(inventory.select_limited("b", &limit).unwrap(), ["h2", "h4"]);

    let dir = temp_files(&[("retry", "h1\n\nh4\n")]);
    let limit = Limit::parse(&format!("@{}", dir.path().join("retry").display())).unwrap();
    assert_eq!(
        inventory.select_limited("all", &limit).unwrap(),
        ["h1", "h4"]
    );
    let error = Limit::parse(&format!("@{}", dir.path().join("missing").display())).unwrap_err();
    assert!(
        error.message.starts_with("unable to find limit file `"),
        "{}",
        error.message
    );
}

#[test]
fn subscript_out_of_range_and_bad_regex_are_errors() {
    let inventory = load(&["ini/hosts"]);
    assert_eq!(
        inventory.select("b[5]").unwrap_err().message,
        "no hosts matched the subscripted pattern `b[5]`"
    );
    let error = inventory.select("~web(").unwrap_err();
    assert_eq!(error.message, "invalid host list pattern `~web(`");
    assert_eq!(
        inventory.select("web:!").unwrap_err().message,
        "`!` must be followed by a pattern"
    );
}

#[test]
fn warns_about_patterns_that_match_nothing_with_a_suggestion() {
    let inventory = load(&["ini/hosts"]);
    let warnings = inventory.pattern_warnings("b:!web-server:all:nomatch");
    let rendered: Vec<String> = warnings.iter().map(Diagnostic::render).collect();
    assert_eq!(
        rendered,
        [
            "error: could not match supplied host pattern, ignoring: `nomatch`\n",
            "error: could not match supplied host pattern, ignoring: `web-server`\nhelp: did you mean `web-servers`?\n",
        ]
    );
}

#[test]
fn merges_variables_by_ansible_precedence() {
    let mut inventory = load(&["precedence/inv/hosts"]);
    inventory
        .add_vars_dir(&testdata("precedence/play"))
        .unwrap();
    let inventory_dir = testdata("precedence/inv").display().to_string();
    assert_eq!(
        vars_text(&inventory.host_vars("h1")),
        [
            "a=\"gv_all\"",
            "b=\"play_all\"",
            "d={\"j\":2}",
            "hv=\"play_host\"",
            format!("inventory_dir={inventory_dir:?}").as_str(),
            format!("inventory_file=\"{inventory_dir}/hosts\"").as_str(),
            "p=\"gv_parent\"",
            "prio=\"alpha\"",
            "w=\"sub\"",
            "x=\"gv_all\"",
            "y=\"gv_web_dir_2\"",
            "z=\"play_web\"",
        ]
    );
    assert_eq!(
        inventory.group_names("h1"),
        ["alpha", "parent", "web", "zeta"]
    );
    // The implicit localhost gets `all`'s variables and its own `host_vars/` file.
    assert_eq!(
        vars_text(&inventory.host_vars("localhost")),
        [
            "a=\"gv_all\"",
            "ansible_connection=\"local\"",
            "b=\"play_all\"",
            "lv=\"local\"",
            "x=\"gv_all\"",
            "z=\"play_all\"",
        ]
    );
    assert!(inventory.group_names("localhost").is_empty());
    assert_eq!(
        inventory.to_list_string(),
        include_str!("testdata/precedence.list.json")
    );
    assert_eq!(
        inventory.graph("all").unwrap(),
        include_str!("testdata/precedence.graph.txt")
    );
}

#[test]
fn export_lists_each_object_own_variables() {
    let inventory = load(&["precedence/inv/hosts"]);
    let options = ListOptions {
        export: true,
        limit: None,
    };
    let listed = python_json(&inventory.to_list_json_with(&options).unwrap()) + "\n";
    assert_eq!(listed, include_str!("testdata/precedence-export.list.json"));
}

#[test]
fn group_vars_of_a_group_include_its_files_and_priority() {
    let inventory = load(&["precedence/inv/hosts"]);
    let web = inventory.group_vars_of("web");
    assert_eq!(
        vars_text(&web),
        [
            "w=\"sub\"",
            "x=\"web_ini\"",
            "y=\"gv_web_dir_2\"",
            "z=\"web_ini\""
        ]
    );
    assert_eq!(
        vars_text(&inventory.group_vars_of("alpha")),
        ["ansible_group_priority=5", "prio=\"alpha\""]
    );
}

#[test]
fn groups_magic_variable_lists_hosts_of_children() {
    let inventory = load(&["ini/hosts"]);
    let groups: Vec<(String, Vec<String>)> = inventory.groups().into_iter().collect();
    let expected: Vec<(String, Vec<String>)> = [
        ("all", vec!["top1", "h2", "h1", "w1", "h0", "h3", "h4"]),
        ("ungrouped", vec!["top1"]),
        ("b", vec!["h2", "h0", "h3", "h4"]),
        ("a", vec!["h1"]),
        ("c", vec!["h0", "h3", "h4"]),
        ("web-servers", vec!["w1"]),
    ]
    .into_iter()
    .map(|(group, hosts)| {
        (
            group.to_string(),
            hosts.into_iter().map(String::from).collect(),
        )
    })
    .collect();
    assert_eq!(groups, expected);
    assert_eq!(inventory.group_names("top1"), ["ungrouped"]);
    assert_eq!(inventory.group_names("h0"), ["b", "c"]);
    assert_eq!(
        inventory.hosts(),
        ["top1", "h2", "h1", "h0", "h3", "h4", "w1"]
    );
    assert!(
        inventory.has_host("localhost") && inventory.has_host("h3") && !inventory.has_host("h9")
    );
    let warnings: Vec<&str> = inventory
        .warnings()
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        ["group name `web-servers` has characters that are invalid in variable names"]
    );
}

#[test]
fn implicit_localhost_is_matched_only_by_name() {
    let inventory = Inventory::implicit();
    assert!(select(&inventory, "all").is_empty());
    assert!(inventory.pattern_warnings("all").is_empty());
    assert_eq!(select(&inventory, "localhost"), ["localhost"]);
    assert_eq!(select(&inventory, "all:localhost"), ["localhost"]);
    assert_eq!(
        vars_text(&inventory.host_vars("localhost")),
        ["ansible_connection=\"local\""]
    );
    assert!(inventory.hosts().is_empty());
    assert_eq!(
        inventory.to_list_string(),
        "{\n    \"_meta\": {\n        \"hostvars\": {},\n        \"profile\": \"inventory_legacy\"\n    },\n    \"all\": {\n        \"children\": [\n            \"ungrouped\"\n        ]\n    }\n}\n"
    );

    // An inventory that lists `127.0.0.1` makes it the localhost, for every localhost name.
    let dir = temp_files(&[("hosts", "127.0.0.1\nweb1\n")]);
    let inventory = Inventory::load(&[dir.path().join("hosts")]).unwrap();
    assert_eq!(select(&inventory, "localhost"), ["127.0.0.1"]);
    assert_eq!(select(&inventory, "all"), ["127.0.0.1", "web1"]);
    assert!(vars_text(&inventory.host_vars("localhost"))
        .iter()
        .all(|line| !line.starts_with("ansible_connection")));
}

#[test]
fn runtime_hosts_and_groups_behave_like_add_host_and_group_by() {
    let dir = temp_files(&[("simple", "[g]\nh1\nh2\n")]);
    let mut inventory = Inventory::load(&[dir.path().join("simple")]).unwrap();
    let mut vars = IndexMap::new();
    vars.insert("color".to_string(), Value::from("blue"));
    inventory
        .add_runtime_host("new1", &["g", "newgroup"], vars)
        .unwrap();
    inventory.add_host_to_group("h2", "dyn").unwrap();
    let groups: Vec<String> = inventory
        .groups()
        .into_iter()
        .map(|(group, hosts)| format!("{group}: {}", hosts.join(" ")))
        .collect();
    // Ansible puts a new host straight into `all`, so it comes first there.
    assert_eq!(
        groups,
        [
            "all: new1 h1 h2",
            "ungrouped: ",
            "g: h1 h2 new1",
            "newgroup: new1",
            "dyn: h2"
        ]
    );
    assert_eq!(
        vars_text(&inventory.host_vars("new1")),
        [
            "color=\"blue\"",
            "inventory_dir=null",
            "inventory_file=null"
        ]
    );
    assert_eq!(inventory.group_names("new1"), ["g", "newgroup"]);

    inventory.add_host_to_group("localhost", "dyn").unwrap();
    assert_eq!(
        inventory
            .add_host_to_group("h3", "dyn")
            .unwrap_err()
            .render(),
        "error: `h3` cannot be matched in inventory\nhelp: did you mean `h1`?\n"
    );
    assert_eq!(select(&inventory, "dyn"), ["h2", "localhost"]);
    assert_eq!(select(&inventory, "all"), ["new1", "h1", "h2"]);
    assert_eq!(inventory.group_names("localhost"), ["dyn"]);
}

#[test]
fn reads_directories_host_lists_and_several_sources() {
    let dir = temp_files(&[
        ("inv/01-hosts", "[web]\nweb1\n"),
        ("inv/02-more.yml", "web:\n  hosts:\n    web2:\n"),
        ("inv/README.md", "not an inventory\n"),
        ("inv/notes.txt", "not an inventory\n"),
        ("inv/hosts.bak", "not an inventory\n"),
        ("inv/.hidden", "not an inventory\n"),
        ("inv/group_vars/web.yml", "from_inv_dir: 1\n"),
        (
            "other/hosts.ini",
            "[db]\ndb1\n[web]\nweb3 ansible_host=10.0.0.3\n",
        ),
        ("other/group_vars/web.yml", "from_inv_dir: 2\n"),
    ]);
    let inventory = Inventory::load(&[
        dir.path().join("inv"),
        dir.path().join("other/hosts.ini"),
        PathBuf::from("lone1,lone2:2222,"),
    ])
    .unwrap();
    assert_eq!(
        select(&inventory, "all"),
        ["lone1", "lone2", "web1", "web2", "web3", "db1"]
    );
    assert_eq!(inventory.host_vars("web1")["from_inv_dir"], Value::from(2));
    assert_eq!(
        inventory.host_vars("lone2")["ansible_port"],
        Value::from(2222)
    );
    assert_eq!(
        inventory.host_vars("lone2")["inventory_file"],
        Value::from("lone1,lone2:2222,")
    );
    let inventory_file = inventory.host_vars("web2")["inventory_file"].to_string();
    assert!(
        inventory_file.ends_with("inv/02-more.yml"),
        "{inventory_file}"
    );
}

#[test]
fn detects_the_format_like_ansible_plugins() {
    let dir = temp_files(&[
        ("noext", "all:\n  hosts:\n    y1:\n"),
        ("ini.yml", "[g]\ni1\n"),
        ("empty.yml", ""),
        ("yaml.ini", "a: 1\n"),
    ]);
    let inventory = Inventory::load(&[
        dir.path().join("noext"),
        dir.path().join("ini.yml"),
        dir.path().join("empty.yml"),
    ])
    .unwrap();
    assert_eq!(select(&inventory, "all"), ["y1", "i1"]);
    assert_eq!(
        load_error(&dir, "yaml.ini"),
        "error: invalid host pattern `a:`: ending in `:` is not allowed, this character is reserved to provide a port\n --> TMP/yaml.ini:1:1\n  |\n1 | a: 1\n  | ^^\n"
    );
}

#[test]
fn keeps_the_first_port_and_types_values_as_python_literals() {
    let dir = temp_files(&[(
        "hosts",
        "h1:2222\nh1:3333\n[g]\nh1:4444 v=\"{'a': [1, 2.5]}\"\n[g:vars]\nmyvar=23 # a comment\nhas_java = True # too\nraw=it's\nempty=\nurl=http://x/?a=b#frag\nk = v = w\n",
    )]);
    let inventory = Inventory::load(&[dir.path().join("hosts")]).unwrap();
    let vars = inventory.host_vars("h1");
    let mut lines = vars_text(&vars);
    lines.retain(|line| !line.starts_with("inventory_"));
    assert_eq!(
        lines,
        [
            "ansible_port=2222",
            "empty=\"\"",
            "has_java=true",
            "k=\"v = w\"",
            "myvar=23",
            "raw=\"it's\"",
            "url=\"http://x/?a=b#frag\"",
            "v={\"a\":[1,2.5]}",
        ]
    );
    // The node keeps where the value was written.
    let node = &inventory.host_var_nodes("h1")["myvar"];
    assert_eq!(
        (node.span.line, node.span.column, node.span.length),
        (6, 7, 14)
    );
}

#[test]
fn ini_children_may_be_declared_later_but_must_be_declared() {
    let dir = temp_files(&[
        ("later", "[parent:children]\nchild\n[child]\nc1\n"),
        ("undeclared", "[parent:children]\nchidl\n[child]\nc1\n"),
        ("nowhere", "[parent:children]\nmissing\n"),
        ("vars", "[ghost:vars]\nx=1\n"),
        ("loop", "[a:children]\nb\n[b:children]\na\n"),
    ]);
    let inventory = Inventory::load(&[dir.path().join("later")]).unwrap();
    assert_eq!(select(&inventory, "parent"), ["c1"]);
    assert_eq!(
        load_error(&dir, "undeclared"),
        "error: section `[parent:children]` includes undefined group `chidl`\n --> TMP/undeclared:2:1\n  |\n2 | chidl\n  | ^^^^^\nhelp: did you mean `child`?\n"
    );
    assert_eq!(
        load_error(&dir, "nowhere"),
        "error: section `[parent:children]` includes undefined group `missing`\n --> TMP/nowhere:2:1\n  |\n2 | missing\n  | ^^^^^^^\nhelp: declare the group with a `[missing]` section\n"
    );
    assert_eq!(
        load_error(&dir, "vars"),
        "error: section `[ghost:vars]` is not valid for undefined group `ghost`\n --> TMP/vars:1:1\n  |\n1 | [ghost:vars]\n  | ^^^^^^^^^^^^\nhelp: declare the group with a `[ghost]` section\n"
    );
    assert_eq!(
        load_error(&dir, "loop"),
        "error: adding group `a` as child to `b` creates a recursive dependency loop\n --> TMP/loop:4:1\n  |\n4 | a\n  | ^\n"
    );
}

#[test]
fn malformed_ini_lines_are_errors_with_positions() {
    let dir = temp_files(&[
        ("section", "[web]\nw1\n[web:childs]\n"),
        ("typo", "[web]\nw1\n[web:chilren]\n"),
        ("spaces", "  [web servers]\n"),
        ("novalue", "[g]\nh1 a=1  novalue\n"),
        ("varsline", "[g]\nh1\n[g:vars]\nnovalue\n"),
        ("quote", "[g]\nh1 x=\"open\n"),
        ("colon", "[g]\nh1:\n"),
        ("range", "[g]\nweb[01:3]\n"),
        ("childline", "[g]\nh1\n[p:children]\ng extra\n"),
        (
            "priority",
            "[g]\nh1\n[g:vars]\nansible_group_priority=high\n",
        ),
    ]);
    let cases = [
        ("section", "error: section `[web:childs]` has unknown type `childs`\n --> TMP/section:3:1\n  |\n3 | [web:childs]\n  | ^^^^^^^^^^^^\nhelp: the type after `:` is `vars` or `children`\n"),
        ("typo", "error: section `[web:chilren]` has unknown type `chilren`\n --> TMP/typo:3:1\n  |\n3 | [web:chilren]\n  | ^^^^^^^^^^^^^\nhelp: did you mean `children`?\n"),
        ("spaces", "error: invalid section `[web servers]`\n --> TMP/spaces:1:3\n  |\n1 |   [web servers]\n  |   ^^^^^^^^^^^^^\nhelp: a section is `[group]`, `[group:vars]` or `[group:children]`, with no spaces or other invalid characters\n"),
        ("novalue", "error: expected a `key=value` host variable, got `novalue`\n --> TMP/novalue:2:9\n  |\n2 | h1 a=1  novalue\n  |         ^^^^^^^\n"),
        ("varsline", "error: expected `key=value`, got `novalue`\n --> TMP/varsline:4:1\n  |\n4 | novalue\n  | ^^^^^^^\nhelp: a `:vars` section holds one `name=value` per line\n"),
        ("quote", "error: cannot parse host definition: no closing quotation\n --> TMP/quote:2:1\n  |\n2 | h1 x=\"open\n  | ^^^^^^^^^^\n"),
        ("colon", "error: invalid host pattern `h1:`: ending in `:` is not allowed, this character is reserved to provide a port\n --> TMP/colon:2:1\n  |\n2 | h1:\n  | ^^^\n"),
        ("range", "error: host range `[01:3]` must have begin and end of equal length\n --> TMP/range:2:1\n  |\n2 | web[01:3]\n  | ^^^^^^^^^\n"),
        ("childline", "error: expected a group name, got `g extra`\n --> TMP/childline:4:1\n  |\n4 | g extra\n  | ^^^^^^^\nhelp: a `:children` section holds one group name per line\n"),
        ("priority", "error: `ansible_group_priority` must be an integer\n --> TMP/priority:4:24\n  |\n4 | ansible_group_priority=high\n  |                        ^^^^\n"),
    ];
    for (file, expected) in cases {
        assert_eq!(load_error(&dir, file), expected, "{file}");
    }
}

#[test]
fn malformed_yaml_inventories_are_errors_with_positions() {
    let dir = temp_files(&[
        ("list.yml", "- web1\n- web2\n"),
        ("hosts.yml", "web:\n  hosts:\n    - web1\n"),
        ("number.yml", "web:\n  hosts:\n    1.5:\n"),
        ("hostvars.yml", "web:\n  hosts:\n    web1: [a]\n"),
        (
            "plugin.yml",
            "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
        ),
        ("broken.yml", "web:\n  hosts: [\n"),
    ]);
    let cases = [
        ("list.yml", "error: a YAML inventory must be a mapping of groups, found a list\n --> TMP/list.yml:1:1\n  |\n1 | - web1\n  | ^\n"),
        ("hosts.yml", "error: `hosts` of group `web` must be a mapping, found a list\n --> TMP/hosts.yml:3:5\n  |\n3 |     - web1\n  |     ^\n"),
        ("number.yml", "error: host pattern `1.5` must be a string\n --> TMP/number.yml:3:5\n  |\n3 |     1.5:\n  |     ^^^\nhelp: enclose integers and floats in quotation marks\n"),
        ("hostvars.yml", "error: the variables of host `web1` must be a mapping, found a list\n --> TMP/hostvars.yml:3:11\n  |\n3 |     web1: [a]\n  |           ^\n"),
        ("plugin.yml", "error: inventory plugin configuration files are not supported\n --> TMP/plugin.yml:1:9\n  |\n1 | plugin: amazon.aws.aws_ec2\n  |         ^^^^^^^^^^^^^^^^^^\nhelp: list the hosts in a YAML or INI inventory instead\n"),
    ];
    for (file, expected) in cases {
        assert_eq!(load_error(&dir, file), expected, "{file}");
    }
    assert!(
        load_error(&dir, "broken.yml").starts_with("error: invalid YAML"),
        "{}",
        load_error(&dir, "broken.yml")
    );
    assert_eq!(
        Inventory::load(&[dir.path().join("absent")])
            .unwrap_err()
            .message,
        format!(
            "inventory source `{}` does not exist",
            dir.path().join("absent").display()
        )
    );
}
