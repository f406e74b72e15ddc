//! Running a task's action: engine actions (debug, set_fact, assert, template…) here,
//! host modules through their plans.

use super::task::Attempt;
use super::value::{from_json, to_json};
use crate::diagnostic::Diagnostic;
use crate::node::{Node, NodeValue};
use crate::playbook::role::Role;
use crate::source::Span;
use crate::template::{Scope, Templar, VarMap};
use minijinja::Value;
use rplay_modules::args::PathSegment;
use rplay_modules::{CheckSupport, Controller, Host, ModuleError, Step, Transport, TransportError};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};

pub struct ActionContext<'a> {
    pub module: &'a str,
    pub args: &'a Node,
    pub scope: &'a Scope,
    pub templar: &'a Templar,
    pub transport: Option<&'a dyn Transport>,
    pub check: bool,
    pub diff: bool,
    pub host: &'a str,
    pub role: Option<&'a Role>,
    pub playbook_dir: &'a Path,
    /// Where the task names its module.
    pub module_span: &'a Span,
}

pub async fn run(context: ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    match context.module {
        "debug" => debug(&context),
        "set_fact" => set_fact(&context),
        "assert" => assert(&context),
        "fail" => fail(&context),
        "include_vars" => include_vars(&context),
        "group_by" => group_by(&context),
        "add_host" => add_host(&context),
        "set_stats" => Ok(Attempt::from_result(ok_result(false))),
        "pause" => pause(&context).await,
        "template" => template(&context).await,
        "gather_facts" | "setup" => gather(&context).await,
        "wait_for_connection" => wait_for_connection(&context).await,
        module => run_module(&context, module, context.args.clone()).await,
    }
}

fn ok_result(changed: bool) -> Map<String, serde_json::Value> {
    let mut result = Map::new();
    result.insert("changed".into(), json!(changed));
    result
}

fn arg<'n>(args: &'n Node, key: &str) -> Option<&'n Node> {
    args.get(key).filter(|n| !n.is_null())
}

fn arg_text(args: &Node, key: &str) -> Option<String> {
    arg(args, key).map(|node| match &node.value {
        NodeValue::String(s) | NodeValue::Unsafe(s) => s.clone(),
        _ => node.to_value().to_string(),
    })
}

fn check_keys(context: &ActionContext<'_>, allowed: &[&str]) -> Result<(), Diagnostic> {
    if let Some(entries) = context.args.as_map() {
        for (key, _) in entries {
            let name = key.key_text().unwrap_or_default();
            if !allowed.contains(&name.as_str()) {
                return Err(Diagnostic::at(
                    format!("unknown field `{name}` in `{}` arguments", context.module),
                    &key.span,
                )
                .suggest(&name, allowed.iter().copied()));
            }
        }
    }
    Ok(())
}

fn debug(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(context, &["msg", "var", "verbosity"])?;
    let args = context.args;
    let wanted = arg(args, "verbosity")
        .and_then(|n| super::number(&n.to_value()))
        .unwrap_or(0.0);
    let current = context
        .scope
        .get("ansible_verbosity")
        .ok()
        .flatten()
        .and_then(|v| super::number(&v))
        .unwrap_or(0.0);
    if wanted > current {
        let mut result = ok_result(false);
        result.insert("skipped".into(), json!(true));
        result.insert(
            "skipped_reason".into(),
            json!("Verbosity threshold not met."),
        );
        return Ok(Attempt::from_result(result));
    }
    let mut result = ok_result(false);
    if let Some(var) = arg(args, "var") {
        let name = var.to_value().to_string();
        // `var:` takes an expression; an undefined one prints a marker, not an error.
        let value = match context.templar.eval_expression(&name, context.scope) {
            Ok(value) if !value.is_undefined() => to_json(&value),
            _ => json!("VARIABLE IS NOT DEFINED!"),
        };
        let value = match value {
            serde_json::Value::String(s) if crate::template::is_template(&s) => {
                let rendered = context.templar.render_value(&s, context.scope, &var.span)?;
                to_json(&rendered)
            }
            other => other,
        };
        result.insert(name, value);
    } else {
        let msg = arg(args, "msg")
            .map(Node::to_json)
            .unwrap_or(json!("Hello world!"));
        result.insert("msg".into(), msg);
    }
    Ok(Attempt::from_result(result))
}

fn set_fact(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    let Some(entries) = context.args.as_map() else {
        return Err(Diagnostic::at(
            "`set_fact` needs `name: value` pairs",
            &context.args.span,
        ));
    };
    let mut facts = VarMap::new();
    let mut shown = Map::new();
    let mut cacheable = false;
    for (key, value) in entries {
        let name = key.key_text().unwrap_or_default();
        if name == "cacheable" {
            cacheable = crate::template::truthy(&value.to_value());
            continue;
        }
        crate::playbook::task::check_variable_name(&name, &key.span)?;
        // `k=v` values stay strings, as in Ansible 2.19.
        let json = value.to_json();
        facts.insert(name.clone(), from_json(&json));
        shown.insert(name, json);
    }
    if facts.is_empty() {
        return Err(Diagnostic::at(
            "`set_fact` needs at least one `name: value`",
            &context.args.span,
        ));
    }
    let mut result = ok_result(false);
    result.insert(
        "ansible_facts".into(),
        serde_json::Value::Object(shown.clone()),
    );
    let mut attempt = Attempt::from_result(result);
    attempt.set_facts = facts;
    // Cacheable facts are host facts too: they show up under `ansible_facts`.
    if cacheable {
        attempt.facts = Some(shown);
    }
    Ok(attempt)
}

fn assert(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(
        context,
        &["that", "fail_msg", "msg", "success_msg", "quiet"],
    )?;
    let args = context.args;
    let that = arg(args, "that").ok_or_else(|| {
        Diagnostic::at("`assert` needs `that`", &args.span)
            .with_help("list the conditions: `that: [x == 1]`")
    })?;
    let conditions: Vec<Node> = match &that.value {
        NodeValue::Seq(items) => items.clone(),
        _ => vec![that.clone()],
    };
    for condition in &conditions {
        // Conditions in `that` were rendered already if they were templates; evaluate the
        // rest as expressions.
        let holds = context.templar.eval_condition(
            &condition.to_value(),
            context.scope,
            &condition.span,
        )?;
        if !holds {
            let mut result = ok_result(false);
            result.insert("failed".into(), json!(true));
            result.insert("assertion".into(), condition.to_json());
            result.insert("evaluated_to".into(), json!(false));
            let message = arg(args, "fail_msg")
                .or_else(|| arg(args, "msg"))
                .map(Node::to_json)
                .unwrap_or(json!("Assertion failed"));
            result.insert("msg".into(), message);
            return Ok(Attempt::from_result(result));
        }
    }
    let mut result = ok_result(false);
    let message = arg(args, "success_msg")
        .map(Node::to_json)
        .unwrap_or(json!("All assertions passed"));
    result.insert("msg".into(), message);
    Ok(Attempt::from_result(result))
}

fn fail(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(context, &["msg"])?;
    let mut result = ok_result(false);
    result.insert("failed".into(), json!(true));
    result.insert(
        "msg".into(),
        arg(context.args, "msg")
            .map(Node::to_json)
            .unwrap_or(json!("Failed as requested from task")),
    );
    Ok(Attempt::from_result(result))
}

fn include_vars(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(
        context,
        &[
            "file",
            "dir",
            "name",
            "depth",
            "files_matching",
            "ignore_files",
            "extensions",
            "ignore_unknown_extensions",
            "hash_behaviour",
            "_raw_params",
        ],
    )?;
    let args = context.args;
    let mut loaded = VarMap::new();
    let mut files = Vec::new();
    if let Some(file) = arg_text(args, "file").or_else(|| arg_text(args, "_raw_params")) {
        let path = find_controller_file(context, "vars", &file).ok_or_else(|| {
            Diagnostic::at(format!("could not find vars file `{file}`"), &args.span)
        })?;
        loaded.extend(crate::playbook::role::load_vars_path(&path)?);
        files.push(path.display().to_string());
    } else if let Some(dir) = arg_text(args, "dir") {
        let path = find_controller_file(context, "vars", &dir).ok_or_else(|| {
            Diagnostic::at(format!("could not find vars directory `{dir}`"), &args.span)
        })?;
        let pattern = arg_text(args, "files_matching")
            .map(|p| regex::Regex::new(&p))
            .transpose()
            .map_err(|e| {
                Diagnostic::at(format!("bad `files_matching` pattern: {e}"), &args.span)
            })?;
        // `depth: 0` (the default) reads every level; `depth: 1` only the directory itself.
        let depth = arg(args, "depth")
            .and_then(|n| super::number(&n.to_value()))
            .map(|d| d.max(0.0) as usize)
            .unwrap_or(0);
        let mut entries: Vec<PathBuf> = walk_dir(&path, depth, 1);
        entries.sort();
        for entry in entries {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let matches_ext = matches!(
                entry.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml" | "json")
            );
            if !matches_ext || pattern.as_ref().is_some_and(|p| !p.is_match(&name)) {
                continue;
            }
            loaded.extend(crate::playbook::role::load_vars_path(&entry)?);
            files.push(entry.display().to_string());
        }
    } else {
        return Err(Diagnostic::at(
            "`include_vars` needs `file` or `dir`",
            &args.span,
        ));
    }
    let mut facts = VarMap::new();
    match arg_text(args, "name") {
        Some(name) => {
            facts.insert(
                name,
                Value::from_pairs(loaded.iter().map(|(k, v)| (k.clone(), v.clone()))),
            );
        }
        None => facts = loaded,
    }
    let mut result = ok_result(false);
    result.insert(
        "ansible_facts".into(),
        serde_json::Value::Object(facts.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    );
    result.insert("ansible_included_var_files".into(), json!(files));
    let mut attempt = Attempt::from_result(result);
    attempt.set_facts = facts;
    Ok(attempt)
}

fn walk_dir(dir: &Path, depth: usize, level: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if depth == 0 || level < depth {
                    out.extend(walk_dir(&path, depth, level + 1));
                }
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn group_by(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(context, &["key", "parents"])?;
    let key = arg_text(context.args, "key")
        .ok_or_else(|| Diagnostic::at("`group_by` needs `key`", &context.args.span))?;
    let group = key.replace([' ', '-', '.'], "_");
    // Ansible reports group_by as a change to the inventory.
    let mut result = ok_result(true);
    result.insert("add_group".into(), json!(group));
    let mut parents = Vec::new();
    if let Some(node) = arg(context.args, "parents") {
        parents = crate::playbook::task::string_list(node, "`parents`")?;
    }
    result.insert("parent_groups".into(), json!(parents));
    let mut attempt = Attempt::from_result(result);
    attempt
        .add_to_groups
        .push((group, vec![context.host.to_string()], parents));
    Ok(attempt)
}

fn add_host(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    let name = arg_text(context.args, "name")
        .or_else(|| arg_text(context.args, "hostname"))
        .or_else(|| arg_text(context.args, "host"))
        .ok_or_else(|| Diagnostic::at("`add_host` needs `name`", &context.args.span))?;
    let groups = match arg(context.args, "groups").or_else(|| arg(context.args, "group")) {
        Some(node) => crate::playbook::task::string_list(node, "`groups`")?,
        None => Vec::new(),
    };
    let mut result = ok_result(true);
    result.insert(
        "add_host".into(),
        json!({"host_name": name, "groups": groups}),
    );
    let mut attempt = Attempt::from_result(result);
    let targets = if groups.is_empty() {
        vec!["ungrouped".to_string()]
    } else {
        groups
    };
    for group in targets {
        attempt
            .add_to_groups
            .push((group, vec![name.clone()], Vec::new()));
    }
    Ok(attempt)
}

async fn pause(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(context, &["seconds", "minutes", "prompt", "echo"])?;
    let seconds = arg(context.args, "seconds")
        .and_then(|n| super::number(&n.to_value()))
        .or_else(|| {
            arg(context.args, "minutes")
                .and_then(|n| super::number(&n.to_value()).map(|m| m * 60.0))
        });
    let mut result = ok_result(false);
    match seconds {
        Some(seconds) => {
            tokio::time::sleep(std::time::Duration::from_secs_f64(seconds.max(0.0))).await;
            result.insert("delta".into(), json!(seconds as i64));
            result.insert(
                "stdout".into(),
                json!(format!("Paused for {seconds} seconds")),
            );
        }
        None => {
            // Without a terminal there is no one to answer: go on, as Ansible does.
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() {
                let prompt = arg_text(context.args, "prompt")
                    .unwrap_or_else(|| "Press enter to continue".to_string());
                eprint!("[{}]\n{prompt}:\n", context.host);
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                result.insert("user_input".into(), json!(line.trim_end()));
            }
        }
    }
    Ok(Attempt::from_result(result))
}

/// Controller-side files for a host module: `copy: src=`, `script:`, `unarchive: src=`.
struct FileFinder<'a> {
    role: Option<&'a Role>,
    playbook_dir: &'a Path,
}

impl Controller for FileFinder<'_> {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, String> {
        let found = self.locate(path)?;
        // A vault file is decrypted here, on the controller, as Ansible's copy does.
        crate::vault::read_file(&found)
    }

    fn find(&self, path: &str) -> Result<rplay_modules::ControllerPath, String> {
        use std::os::unix::fs::PermissionsExt;
        let found = self.locate(path)?;
        let metadata =
            std::fs::metadata(&found).map_err(|e| format!("reading {}: {e}", found.display()))?;
        Ok(rplay_modules::ControllerPath {
            path: found.display().to_string(),
            is_dir: metadata.is_dir(),
            mode: metadata.permissions().mode() & 0o7777,
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let root = self.locate(path)?;
        let mut entries = Vec::new();
        list_tree(&root, &root, &mut entries)
            .map_err(|e| format!("listing {}: {e}", root.display()))?;
        entries.sort();
        Ok(entries)
    }
}

impl FileFinder<'_> {
    fn locate(&self, path: &str) -> Result<PathBuf, String> {
        search_paths(self.role, self.playbook_dir, "files", path).ok_or_else(|| {
            format!("could not find `{path}` in the role's files/ or beside the playbook")
        })
    }
}

/// Files and directories under `dir`, relative to `root`; directories end with `/`.
fn list_tree(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let relative = path
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if path.is_dir() {
            out.push(format!("{relative}/"));
            list_tree(root, &path, out)?;
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

fn search_paths(
    role: Option<&Role>,
    playbook_dir: &Path,
    kind: &str,
    name: &str,
) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    let mut bases = Vec::new();
    if let Some(role) = role {
        bases.push(role.path.join(kind));
        bases.push(role.path.clone());
        bases.push(role.path.join("tasks"));
    }
    bases.push(playbook_dir.join(kind));
    bases.push(playbook_dir.to_path_buf());
    bases.into_iter().map(|b| b.join(path)).find(|p| p.exists())
}

fn find_controller_file(context: &ActionContext<'_>, kind: &str, name: &str) -> Option<PathBuf> {
    search_paths(context.role, context.playbook_dir, kind, name)
}

async fn template(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    check_keys(
        context,
        &[
            "src",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "force",
            "validate",
            "newline_sequence",
            "trim_blocks",
            "lstrip_blocks",
            "output_encoding",
            "follow",
            "unsafe_writes",
            "attributes",
            "block_start_string",
            "block_end_string",
            "variable_start_string",
            "variable_end_string",
            "comment_start_string",
            "comment_end_string",
            "setype",
            "seuser",
            "serole",
            "selevel",
        ],
    )?;
    let args = context.args;
    let src = arg_text(args, "src")
        .ok_or_else(|| Diagnostic::at("`template` needs `src`", &args.span))?;
    let dest = arg_text(args, "dest")
        .ok_or_else(|| Diagnostic::at("`template` needs `dest`", &args.span))?;
    let path = find_controller_file(context, "templates", &src).ok_or_else(|| {
        Diagnostic::at(
            format!("could not find template `{src}`"),
            &arg(args, "src")
                .map(|n| n.span.clone())
                .unwrap_or(args.span.clone()),
        )
        .with_help("templates are looked up in the role's templates/, then beside the playbook")
    })?;
    let text = crate::vault::read_to_string(&path).map_err(Diagnostic::new)?;
    let mut layer = VarMap::new();
    layer.insert(
        "template_path".into(),
        Value::from(path.display().to_string()),
    );
    layer.insert(
        "template_fullpath".into(),
        Value::from(path.display().to_string()),
    );
    layer.insert("template_destpath".into(), Value::from(dest.as_str()));
    layer.insert("template_host".into(), Value::from(hostname()));
    layer.insert(
        "template_uid".into(),
        Value::from(std::env::var("USER").unwrap_or_else(|_| "root".into())),
    );
    if !context.scope.contains("ansible_managed") {
        layer.insert("ansible_managed".into(), Value::from("Ansible managed"));
    }
    let scope = context.scope.with_layer(layer);
    let name = crate::source::display_path(&path);
    let flag = |key: &str, default: bool| {
        arg(args, key).map_or(default, |n| crate::template::truthy(&n.to_value()))
    };
    let pair = |start: &str, end: &str| match (arg_text(args, start), arg_text(args, end)) {
        (None, None) => None,
        (open, close) => Some((
            open.unwrap_or_else(|| default_delimiter(start).to_string()),
            close.unwrap_or_else(|| default_delimiter(end).to_string()),
        )),
    };
    let mut search = Vec::new();
    if let Some(dir) = path.parent() {
        search.push(dir.to_path_buf());
    }
    if let Some(role) = context.role {
        search.push(role.path.join("templates"));
    }
    search.push(context.playbook_dir.join("templates"));
    search.push(context.playbook_dir.to_path_buf());
    let options = crate::template::FileOptions {
        trim_blocks: flag("trim_blocks", true),
        lstrip_blocks: flag("lstrip_blocks", false),
        block: pair("block_start_string", "block_end_string"),
        variable: pair("variable_start_string", "variable_end_string"),
        comment: pair("comment_start_string", "comment_end_string"),
        search,
    };
    let mut rendered = context
        .templar
        .render_file_with(&name, &text, &scope, &options)?;
    if let Some(sequence) = arg_text(args, "newline_sequence") {
        let sequence = sequence.replace("\\r", "\r").replace("\\n", "\n");
        rendered = rendered.replace('\n', &sequence);
    }
    // Hand the rendered text to `copy`, which compares, writes atomically and diffs.
    let mut copy_args: Vec<(Node, Node)> = Vec::new();
    let span = args.span.clone();
    copy_args.push((
        Node::string("content", span.clone()),
        Node::string(rendered, span.clone()),
    ));
    for key in [
        "dest",
        "mode",
        "owner",
        "group",
        "backup",
        "force",
        "validate",
        "follow",
        "unsafe_writes",
    ] {
        if let Some(value) = arg(args, key) {
            copy_args.push((Node::string(key, span.clone()), value.clone()));
        }
    }
    let node = Node::new(NodeValue::Map(copy_args), span);
    let mut attempt = run_module(context, "copy", node).await?;
    if let Some(serde_json::Value::String(_)) = attempt.result.get("src") {
        attempt
            .result
            .insert("src".into(), json!(path.display().to_string()));
    }
    Ok(attempt)
}

fn default_delimiter(option: &str) -> &'static str {
    match option {
        "block_start_string" => "{%",
        "block_end_string" => "%}",
        "variable_start_string" => "{{",
        "variable_end_string" => "}}",
        "comment_start_string" => "{#",
        _ => "#}",
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

async fn gather(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    let args = context.args.clone();
    let mut attempt = run_module(context, "setup", args).await?;
    if let Some(serde_json::Value::Object(facts)) = attempt.result.get("ansible_facts").cloned() {
        // A registered `setup` result names its facts `ansible_*`, as Ansible's does; the
        // host's `ansible_facts` variable holds them without the prefix.
        let prefixed: serde_json::Map<String, serde_json::Value> = facts
            .iter()
            .map(|(key, value)| {
                let key = if key.starts_with("ansible_")
                    || matches!(key.as_str(), "gather_subset" | "module_setup")
                {
                    key.clone()
                } else {
                    format!("ansible_{key}")
                };
                (key, value.clone())
            })
            .collect();
        attempt
            .result
            .insert("ansible_facts".into(), serde_json::Value::Object(prefixed));
        attempt.facts = Some(facts);
    }
    attempt.result.insert("changed".into(), json!(false));
    Ok(attempt)
}

async fn wait_for_connection(context: &ActionContext<'_>) -> Result<Attempt, Diagnostic> {
    let timeout = arg(context.args, "timeout")
        .and_then(|n| super::number(&n.to_value()))
        .unwrap_or(600.0);
    let delay = arg(context.args, "delay")
        .and_then(|n| super::number(&n.to_value()))
        .unwrap_or(0.0);
    let sleep = arg(context.args, "sleep")
        .and_then(|n| super::number(&n.to_value()))
        .unwrap_or(1.0);
    tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
    let start = std::time::Instant::now();
    let Some(transport) = context.transport else {
        return Ok(unreachable("no connection to the host"));
    };
    loop {
        if let Ok(output) = transport.run(&rplay_modules::Exec::new(["true"])).await {
            if output.success() {
                let mut result = ok_result(false);
                result.insert("elapsed".into(), json!(start.elapsed().as_secs()));
                return Ok(Attempt::from_result(result));
            }
        }
        if start.elapsed().as_secs_f64() > timeout {
            return Ok(Attempt::failure(format!(
                "timed out waiting for connection after {timeout} seconds"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(sleep.max(0.1))).await;
    }
}

pub(super) fn unreachable(message: &str) -> Attempt {
    let mut result = ok_result(false);
    result.insert("unreachable".into(), json!(true));
    result.insert("msg".into(), json!(message));
    let mut attempt = Attempt::from_result(result);
    attempt.unreachable = true;
    attempt
}

/// A host module: check its arguments, plan against the host, apply unless in check mode.
pub async fn run_module(
    context: &ActionContext<'_>,
    module: &str,
    args: Node,
) -> Result<Attempt, Diagnostic> {
    let spec = rplay_modules::lookup(module).ok_or_else(|| {
        // The loader let this task through so that a `when` could skip it; it runs now.
        let diagnostic = Diagnostic::at(
            format!("couldn't resolve module/action `{module}`"),
            context.module_span,
        )
        .suggest(module, rplay_modules::registry::all_names());
        if diagnostic.help.is_some() {
            return diagnostic;
        }
        diagnostic.with_help(
            "this module is not available in rplay; `rplay --syntax-check` lists every such task",
        )
    })?;
    let built = (spec.build)(args.to_json()).map_err(|error| arg_error(spec.name, &args, error))?;
    let Some(transport) = context.transport else {
        return Ok(unreachable("no connection to the host"));
    };
    let finder = FileFinder {
        role: context.role,
        playbook_dir: context.playbook_dir,
    };
    let host = Host {
        transport,
        controller: &finder,
    };
    let plan = match built.plan(&host).await {
        Ok(plan) => plan,
        Err(ModuleError::Transport(TransportError::Unreachable(message))) => {
            return Ok(unreachable(&message))
        }
        Err(error) => return Ok(Attempt::failure(error.to_string())),
    };
    let mut result = Map::new();
    result.insert("changed".into(), json!(plan.is_change()));
    for (key, value) in &plan.result {
        result.insert(key.clone(), value.clone());
    }
    if context.check {
        if let Some(failure) = &plan.failure {
            result.insert("failed".into(), json!(true));
            result.insert("msg".into(), json!(failure));
            return Ok(Attempt::from_result(result));
        }
        if let CheckSupport::Unpredictable(reason) = &plan.check {
            if plan.is_change() {
                // The module's own keys stay (cmd, rc...), as Ansible reports them.
                result.insert("changed".into(), json!(false));
                result.insert("skipped".into(), json!(true));
                result.insert("msg".into(), json!(reason));
                return Ok(Attempt::from_result(result));
            }
        }
        // Facts a module returns are what the host will have: check mode sets them too,
        // as Ansible's modules return them in check mode.
        let facts = match result.get("ansible_facts") {
            Some(serde_json::Value::Object(facts)) if module != "setup" => Some(facts.clone()),
            _ => None,
        };
        let mut attempt = Attempt::from_result(result);
        attempt.facts = facts;
        if context.diff {
            attempt.diffs = plan.diffs;
        }
        return Ok(attempt);
    }
    let mut plan = plan;
    let mut diffs = Vec::new();
    // Whether an earlier plan of this task (before a follow-up) changed the host.
    let mut changed_before = false;
    loop {
        // What each step left behind, for a plan settled by its output.
        let mut outputs = Vec::new();
        if let Some(attempt) = apply_steps(transport, &plan.steps, &mut result, &mut outputs).await
        {
            return Ok(attempt);
        }
        if let (Some(settle), false) = (&plan.settle, result.contains_key("failed")) {
            let changed = (settle.decide)(&outputs, &mut result) || plan.changed || changed_before;
            result.insert("changed".into(), json!(changed));
        }
        if let Some(failure) = &plan.failure {
            result.insert("failed".into(), json!(true));
            result.insert("msg".into(), json!(failure));
        }
        diffs.append(&mut plan.diffs);
        // A follow-up plans against the host as the steps left it (kubeadm reads the join
        // command of the cluster its `init` made); nothing follows a failure.
        let Some(follow_up) = plan.then.take() else {
            break;
        };
        if result.contains_key("failed") {
            break;
        }
        changed_before = result.get("changed") == Some(&json!(true));
        plan = match follow_up.0.plan(&host).await {
            Ok(next) => next,
            Err(ModuleError::Transport(TransportError::Unreachable(message))) => {
                return Ok(unreachable(&message))
            }
            Err(error) => {
                result.insert("failed".into(), json!(true));
                result.insert("msg".into(), json!(error.to_string()));
                break;
            }
        };
        if plan.is_change() {
            result.insert("changed".into(), json!(true));
        }
        for (key, value) in &plan.result {
            result.insert(key.clone(), value.clone());
        }
    }
    let facts = match result.get("ansible_facts") {
        Some(serde_json::Value::Object(facts)) if module != "setup" => Some(facts.clone()),
        _ => None,
    };
    let mut attempt = Attempt::from_result(result);
    attempt.facts = facts;
    if context.diff {
        attempt.diffs = diffs;
    }
    Ok(attempt)
}

/// Applies a plan's steps in order: a captured command's output becomes the result, the
/// first failure is recorded in it and stops the steps. An attempt comes back only when the
/// host cannot be reached or a transport error ends the task at once.
async fn apply_steps(
    transport: &dyn Transport,
    steps: &[Step],
    result: &mut Map<String, serde_json::Value>,
    outputs: &mut Vec<rplay_modules::Output>,
) -> Option<Attempt> {
    for (index, step) in steps.iter().enumerate() {
        // A module whose step fails has changed the host only if an earlier step ran (as
        // Ansible's modules report `changed: false` when they fail before acting). The
        // command module's own step keeps `changed: true`, as Ansible's does.
        let changed_so_far = json!(index > 0);
        match step {
            Step::Run {
                exec,
                capture,
                allow_failure,
            } => {
                let started = std::time::Instant::now();
                let start_time = local_time();
                let output = match transport.run(exec).await {
                    Ok(output) => output,
                    Err(TransportError::Unreachable(message)) => {
                        return Some(unreachable(&message))
                    }
                    Err(error) => return Some(Attempt::failure(error.to_string())),
                };
                outputs.push(output.clone());
                if *capture {
                    let stdout = output
                        .stdout_text()
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    let stderr = output
                        .stderr_text()
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    result.insert("rc".into(), json!(output.rc));
                    result.insert(
                        "stdout_lines".into(),
                        json!(stdout.lines().collect::<Vec<_>>()),
                    );
                    result.insert(
                        "stderr_lines".into(),
                        json!(stderr.lines().collect::<Vec<_>>()),
                    );
                    result.insert("stdout".into(), json!(stdout));
                    result.insert("stderr".into(), json!(stderr));
                    result.insert("delta".into(), json!(format_delta(started.elapsed())));
                    result.insert("start".into(), json!(start_time));
                    result.insert("end".into(), json!(local_time()));
                    if output.rc != 0 {
                        result.insert("failed".into(), json!(true));
                        result.insert("msg".into(), json!("non-zero return code"));
                        break;
                    }
                    result.insert("msg".into(), json!(""));
                } else if !output.success() && !allow_failure {
                    result.insert("failed".into(), json!(true));
                    result.insert("changed".into(), changed_so_far);
                    result.insert("rc".into(), json!(output.rc));
                    result.insert(
                        "msg".into(),
                        json!(format!(
                            "`{}` failed: {}",
                            rplay_modules::util::join_words(&exec.argv),
                            output.stderr_text().trim()
                        )),
                    );
                    break;
                }
            }
            Step::Write {
                path,
                content,
                attrs,
            } => {
                if let Err(error) = transport.put(path, content, attrs).await {
                    if let TransportError::Unreachable(message) = &error {
                        return Some(unreachable(message));
                    }
                    result.insert("failed".into(), json!(true));
                    result.insert("changed".into(), changed_so_far);
                    result.insert("msg".into(), json!(error.to_string()));
                    break;
                }
                outputs.push(rplay_modules::Output::default());
            }
        }
    }
    None
}

/// The controller's local time as Ansible prints `start` and `end`.
fn local_time() -> String {
    jiff::Zoned::now()
        .strftime("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

fn format_delta(elapsed: std::time::Duration) -> String {
    let micros = elapsed.as_micros();
    let seconds = micros / 1_000_000;
    format!(
        "{}:{:02}:{:02}.{:06}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60,
        micros % 1_000_000
    )
}

/// Points an argument error at the offending key or value in the YAML.
fn arg_error(module: &str, args: &Node, error: rplay_modules::ArgError) -> Diagnostic {
    let mut node = args;
    let mut key_span = None;
    for segment in &error.path {
        match segment {
            PathSegment::Key(key) => {
                let Some(entries) = node.as_map() else { break };
                match entries
                    .iter()
                    .find(|(k, _)| k.key_text().as_deref() == Some(key))
                {
                    Some((k, v)) => {
                        key_span = Some(k.span.clone());
                        node = v;
                    }
                    None => break,
                }
            }
            PathSegment::Index(index) => match node.as_seq().and_then(|items| items.get(*index)) {
                Some(item) => {
                    key_span = None;
                    node = item;
                }
                None => break,
            },
        }
    }
    let unknown = error.message.starts_with("unknown field");
    let span = if unknown {
        key_span.unwrap_or(node.span.clone())
    } else {
        node.span.clone()
    };
    let diagnostic = Diagnostic::at(format!("{} in `{module}` arguments", error.message), &span);
    if unknown {
        let written = error
            .message
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        diagnostic.suggest(&written, error.expected.iter().map(String::as_str))
    } else {
        diagnostic
    }
}

/// Checks a module's arguments before any host is contacted, when they hold no template.
pub fn check_static_args(module: &str, args: &Node) -> Result<(), Diagnostic> {
    if args.has_template() {
        return Ok(());
    }
    if let Some(spec) = rplay_modules::lookup(module) {
        (spec.build)(args.to_json()).map_err(|error| arg_error(spec.name, args, error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use futures::future::BoxFuture;
    use rplay_modules::{Exec, FileAttrs, Output};
    use std::sync::Arc;

    /// A host that answers commands by a substring of their argv, as plan cases do.
    struct Scripted(Vec<(&'static str, &'static str)>);

    impl Transport for Scripted {
        fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
            let joined = exec.argv.join(" ");
            let found = self.0.iter().find(|(needle, _)| joined.contains(needle));
            Box::pin(async move {
                found
                    .map(|(_, stdout)| Output {
                        rc: 0,
                        stdout: stdout.as_bytes().to_vec(),
                        stderr: Vec::new(),
                    })
                    .ok_or_else(|| TransportError::Io(format!("no answer for {joined}")))
            })
        }

        fn put<'a>(
            &'a self,
            path: &'a str,
            _: &'a [u8],
            _: &'a FileAttrs,
        ) -> BoxFuture<'a, Result<(), TransportError>> {
            Box::pin(async move { Err(TransportError::Io(format!("no writes ({path})"))) })
        }

        fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
            Box::pin(async { Ok(None) })
        }
    }

    async fn run_apt(args: &str, host: &Scripted, check: bool) -> Attempt {
        let node = crate::yaml::load_str(SourceFile::new("task.yml", args)).unwrap();
        let templar = Templar::new();
        let scope = Scope::new(Vec::new(), Arc::new(Templar::new()), None);
        let span = Span::none();
        let context = ActionContext {
            module: "apt",
            args: &node,
            scope: &scope,
            templar: &templar,
            transport: Some(host),
            check,
            diff: false,
            host: "node1",
            role: None,
            playbook_dir: Path::new("."),
            module_span: &span,
        };
        run_module(&context, "apt", node.clone()).await.unwrap()
    }

    #[tokio::test]
    async fn a_settled_plan_reports_what_its_output_says() {
        // The cache is stale, curl is installed: the update runs, and is no change.
        let host = Scripted(vec![
            ("rplay-apt-cache-time", "1700090000\n1700000000\n"),
            (
                "dpkg-query",
                "curl\tamd64\t8.14.1-2\tinstall ok installed\tweb\t\n",
            ),
            (
                "rplay-apt-update",
                "Hit:1 http://deb.debian.org/debian trixie InRelease\n1700090001\n",
            ),
        ]);
        let args = "{name: curl, update_cache: true}";
        let attempt = run_apt(args, &host, false).await;
        assert_eq!(
            attempt.result["changed"],
            json!(false),
            "{:?}",
            attempt.result
        );
        assert_eq!(attempt.result["cache_updated"], json!(true));
        assert_eq!(attempt.result["cache_update_time"], json!(1_700_090_001));
        let predicted = run_apt(args, &host, true).await;
        assert_eq!(predicted.result["changed"], json!(false));

        // apt-get's simulation expected an upgrade; the real run found nothing to do.
        let host = Scripted(vec![
            (
                "apt-get -s",
                "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
            ),
            (
                "dist-upgrade",
                "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
            ),
        ]);
        let attempt = run_apt("{upgrade: dist}", &host, false).await;
        assert_eq!(
            attempt.result["changed"],
            json!(false),
            "{:?}",
            attempt.result
        );
        assert!(attempt.result["stdout"]
            .as_str()
            .unwrap()
            .starts_with("0 upgraded"));
        let predicted = run_apt("{upgrade: dist}", &host, true).await;
        assert_eq!(predicted.result["changed"], json!(true));
    }
}
