//! Plan tests as data: each file under `tests/plans/MODULE/` gives a module's arguments and
//! what the host answers (files and command outputs), and the plan the module must make:
//! the steps it would run, or why nothing needs doing, or why it fails. They cover edge
//! cases that are slow to reach on a real target; the real targets are in `tests/nodes.rs`
//! and `tests/packages.rs`.
//!
//! A case file:
//!
//! ```yaml
//! module: sysctl
//! args: {name: net.ipv4.ip_forward, value: "1", sysctl_file: /etc/sysctl.d/k8s.conf}
//! host:
//!   files:                       # what `get` returns; any other path does not exist
//!     /etc/sysctl.d/k8s.conf: "net.ipv4.ip_forward = 0\n"
//!     /etc/big.toml: {file: fixtures/big.toml}   # or the content of a file beside the case
//!   commands:                    # first match wins; a command nothing matches fails the case
//!     - argv: [sysctl, -n, net.ipv4.ip_forward]   # exact argv, or
//!       contains: "sysctl -n"                     # a substring of the argv joined by spaces
//!       stdout: "0\n"                             # or stdout_file: a file beside the case
//!       stderr: ""
//!       rc: 0
//! expect:
//!   changed: true                # or false
//!   reason: "substring"          # optional
//!   failure: "substring"         # optional: the plan fails with this
//!   error: "substring"           # optional: planning itself errs (or the arguments do)
//!   steps:                       # optional: exactly these steps, in order
//!     - run: [sysctl, -w, net.ipv4.ip_forward=1]
//!     - run_contains: "systemctl restart"      # or a list: every one of them
//!       env: {LC_ALL: C}                          # optional: these variables, among others
//!       stdin_contains: "text"                    # optional
//!     - write: /etc/sysctl.d/k8s.conf
//!       content: "net.ipv4.ip_forward = 1\n"     # optional; or {file: PATH} beside the case
//!       content_contains: "ip_forward = 1"        # optional; a list: each of them
//!       content_lacks: ["ip_forward = 0"]         # optional: none of these
//!       mode: "0644"                              # optional
//!   result: {key: value}         # optional: these keys of the result, compared exactly
//!   settle:                      # optional, for a plan settled by its steps' output
//!     outputs:                   # what each step prints when it runs, in order
//!       - {rc: 0, stdout: "0 upgraded, 0 newly installed, 0 to remove\n"}
//!     changed: false             # what the engine then reports
//!     result: {key: value}       # optional: result keys after settling
//!   then:                        # optional: the plan's follow-up (`Plan::then`) must exist
//!     changed: false             # and plan like this (the same keys as `expect`) against
//!     result: {key: value}       # `host_after`, the host as the steps left it (default:
//! host_after:                    # `host`); `then: null` says there is no follow-up
//!   files: {}                    # same format as `host`
//! ```
//!
//! `changed` under `expect` is what check mode reports: for a settled plan, its prediction.

use futures::future::BoxFuture;
use rplay_modules::transport::{Exec, FileAttrs, Output, Transport, TransportError};
use rplay_modules::{Controller, Host, Plan, Step};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

struct Answer {
    argv: Option<Vec<String>>,
    contains: Option<String>,
    output: Output,
}

/// A host that answers from the case file and remembers what it was asked.
struct Scripted {
    files: BTreeMap<String, Vec<u8>>,
    answers: Vec<Answer>,
    unmatched: Mutex<Vec<String>>,
}

impl Transport for Scripted {
    fn run<'a>(&'a self, exec: &'a Exec) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let joined = exec.argv.join(" ");
            let found = self.answers.iter().find(|answer| {
                answer.argv.as_ref().is_some_and(|argv| *argv == exec.argv)
                    || answer
                        .contains
                        .as_ref()
                        .is_some_and(|needle| joined.contains(needle.as_str()))
            });
            match found {
                Some(answer) => Ok(answer.output.clone()),
                None => {
                    self.unmatched
                        .lock()
                        .unwrap()
                        .push(format!("{:?}", exec.argv));
                    Err(TransportError::Io(format!(
                        "the case file has no answer for {:?}",
                        exec.argv
                    )))
                }
            }
        })
    }

    fn put<'a>(
        &'a self,
        path: &'a str,
        _content: &'a [u8],
        _attrs: &'a FileAttrs,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            Err(TransportError::Io(format!(
                "planning must not write files (it wrote {path})"
            )))
        })
    }

    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move { Ok(self.files.get(path).cloned()) })
    }
}

struct NoController;

impl Controller for NoController {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, String> {
        Err(format!("plan cases have no controller files ({path})"))
    }
}

fn text(value: &Value, what: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("{what}: expected a string, found {other}"),
    }
}

fn strings(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected a list"))
        .iter()
        .map(|item| text(item, what))
        .collect()
}

/// A file named by a case, relative to the case's directory (recorded outputs, big files).
fn beside(case_dir: &Path, relative: &Value, what: &str) -> Vec<u8> {
    let path = case_dir.join(text(relative, what));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{what}: reading {}: {e}", path.display()))
}

fn scripted(host: Option<&Value>, case_dir: &Path) -> Scripted {
    let mut files = BTreeMap::new();
    let mut answers = Vec::new();
    if let Some(host) = host {
        if let Some(map) = host.get("files").and_then(Value::as_object) {
            for (path, content) in map {
                let content = match content.get("file") {
                    Some(relative) => beside(case_dir, relative, "host.files"),
                    None => text(content, "host.files").into_bytes(),
                };
                files.insert(path.clone(), content);
            }
        }
        for command in host
            .get("commands")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let argv = command.get("argv").map(|v| strings(v, "argv"));
            let contains = command.get("contains").map(|v| text(v, "contains"));
            assert!(
                argv.is_some() || contains.is_some(),
                "each host.commands entry needs `argv` or `contains`"
            );
            answers.push(Answer {
                argv,
                contains,
                output: Output {
                    rc: command.get("rc").and_then(Value::as_i64).unwrap_or(0) as i32,
                    stdout: match command.get("stdout_file") {
                        Some(relative) => beside(case_dir, relative, "stdout_file"),
                        None => command
                            .get("stdout")
                            .map(|v| text(v, "stdout").into_bytes())
                            .unwrap_or_default(),
                    },
                    stderr: command
                        .get("stderr")
                        .map(|v| text(v, "stderr").into_bytes())
                        .unwrap_or_default(),
                },
            });
        }
    }
    Scripted {
        files,
        answers,
        unmatched: Mutex::new(Vec::new()),
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Run { exec, .. } => format!("run {:?}", exec.argv),
        Step::Write { path, content, .. } => format!(
            "write {path} ({:?})",
            String::from_utf8_lossy(content)
                .chars()
                .take(200)
                .collect::<String>()
        ),
    }
}

fn check_step(step: &Step, want: &Value, case_dir: &Path) -> Result<(), String> {
    let mismatch = || format!("expected {want}, planned {}", describe(step));
    match step {
        Step::Run { exec, .. } => {
            if let Some(argv) = want.get("run") {
                if exec.argv != strings(argv, "run") {
                    return Err(mismatch());
                }
            } else if let Some(needles) = want.get("run_contains") {
                let needles = match needles {
                    Value::Array(_) => strings(needles, "run_contains"),
                    one => vec![text(one, "run_contains")],
                };
                let joined = exec.argv.join(" ");
                if !needles
                    .iter()
                    .all(|needle| joined.contains(needle.as_str()))
                {
                    return Err(mismatch());
                }
            } else {
                return Err(mismatch());
            }
            if let Some(env) = want.get("env").and_then(Value::as_object) {
                for (key, value) in env {
                    let value = text(value, "env");
                    if !exec.env.iter().any(|(k, v)| k == key && *v == value) {
                        return Err(format!("{}: env was {:?}", mismatch(), exec.env));
                    }
                }
            }
            if let Some(stdin) = want.get("stdin_contains") {
                let given =
                    String::from_utf8_lossy(exec.stdin.as_deref().unwrap_or_default()).into_owned();
                if !given.contains(&text(stdin, "stdin_contains")) {
                    return Err(format!("{}: stdin was {given:?}", mismatch()));
                }
            }
        }
        Step::Write {
            path,
            content,
            attrs,
        } => {
            let Some(want_path) = want.get("write") else {
                return Err(mismatch());
            };
            if *path != text(want_path, "write") {
                return Err(mismatch());
            }
            let content = String::from_utf8_lossy(content);
            if let Some(exact) = want.get("content") {
                let exact = match exact.get("file") {
                    Some(relative) => {
                        String::from_utf8_lossy(&beside(case_dir, relative, "content")).into_owned()
                    }
                    None => text(exact, "content"),
                };
                if content != exact {
                    return Err(format!("{}: content was {content:?}", mismatch()));
                }
            }
            if let Some(needles) = want.get("content_contains") {
                let needles = match needles {
                    Value::Array(_) => strings(needles, "content_contains"),
                    one => vec![text(one, "content_contains")],
                };
                if let Some(missing) = needles.iter().find(|needle| !content.contains(*needle)) {
                    return Err(format!(
                        "{}: content lacks {missing:?}; it was {content:?}",
                        mismatch()
                    ));
                }
            }
            if let Some(needles) = want.get("content_lacks") {
                if let Some(found) = strings(needles, "content_lacks")
                    .iter()
                    .find(|needle| content.contains(*needle))
                {
                    return Err(format!("{}: content has {found:?}", mismatch()));
                }
            }
            if let Some(mode) = want.get("mode") {
                let mode = u32::from_str_radix(&text(mode, "mode"), 8).expect("octal mode");
                if attrs.mode != Some(mode) {
                    return Err(format!("{}: mode was {:?}", mismatch(), attrs.mode));
                }
            }
        }
    }
    Ok(())
}

fn check_plan(plan: &Plan, expect: &Map<String, Value>, case_dir: &Path) -> Result<(), String> {
    match (expect.get("then"), &plan.then) {
        (Some(Value::Null), Some(_)) => return Err("expected no follow-up, planned one".into()),
        (Some(Value::Object(_)), None) => return Err("expected a follow-up, planned none".into()),
        _ => {}
    }
    if let Some(changed) = expect.get("changed").and_then(Value::as_bool) {
        if plan.is_change() != changed {
            return Err(format!(
                "expected changed={changed}, planned {:?} with steps {:?}",
                plan.reason,
                plan.steps.iter().map(describe).collect::<Vec<_>>()
            ));
        }
    }
    if let Some(reason) = expect.get("reason") {
        let reason = text(reason, "reason");
        if !plan.reason.as_deref().unwrap_or_default().contains(&reason) {
            return Err(format!(
                "expected a reason containing {reason:?}, got {:?}",
                plan.reason
            ));
        }
    }
    match (expect.get("failure"), &plan.failure) {
        (Some(want), Some(got)) if got.contains(&text(want, "failure")) => {}
        (None, None) => {}
        (want, got) => return Err(format!("expected failure {want:?}, got {got:?}")),
    }
    if let Some(steps) = expect.get("steps") {
        let steps = steps.as_array().expect("expect.steps is a list");
        if steps.len() != plan.steps.len() {
            return Err(format!(
                "expected {} steps, planned {}: {:?}",
                steps.len(),
                plan.steps.len(),
                plan.steps.iter().map(describe).collect::<Vec<_>>()
            ));
        }
        for (index, (step, want)) in plan.steps.iter().zip(steps).enumerate() {
            check_step(step, want, case_dir).map_err(|e| format!("step {}: {e}", index + 1))?;
        }
    }
    if let Some(result) = expect.get("result").and_then(Value::as_object) {
        check_result(&plan.result, result)?;
    }
    if let Some(settle) = expect.get("settle") {
        check_settle(plan, settle).map_err(|e| format!("settle: {e}"))?;
    }
    Ok(())
}

fn check_result(got: &Map<String, Value>, want: &Map<String, Value>) -> Result<(), String> {
    for (key, want) in want {
        if got.get(key) != Some(want) {
            return Err(format!(
                "expected result.{key} = {want}, got {:?}",
                got.get(key)
            ));
        }
    }
    Ok(())
}

/// Feeds the outputs a case gives to the plan's settling, as the engine does after a run.
fn check_settle(plan: &Plan, want: &Value) -> Result<(), String> {
    let settle = plan
        .settle
        .as_ref()
        .ok_or("the plan is not settled by its output")?;
    let outputs: Vec<Output> = want
        .get("outputs")
        .and_then(Value::as_array)
        .ok_or("`settle` needs `outputs`, one per step")?
        .iter()
        .map(|output| Output {
            rc: output.get("rc").and_then(Value::as_i64).unwrap_or(0) as i32,
            stdout: output
                .get("stdout")
                .map(|v| text(v, "stdout").into_bytes())
                .unwrap_or_default(),
            stderr: output
                .get("stderr")
                .map(|v| text(v, "stderr").into_bytes())
                .unwrap_or_default(),
        })
        .collect();
    if outputs.len() != plan.steps.len() {
        return Err(format!(
            "{} outputs for {} steps",
            outputs.len(),
            plan.steps.len()
        ));
    }
    let mut result = plan.result.clone();
    let changed = (settle.decide)(&outputs, &mut result) || plan.changed;
    if let Some(expected) = want.get("changed").and_then(Value::as_bool) {
        if changed != expected {
            return Err(format!("expected changed={expected}, settled {changed}"));
        }
    }
    if let Some(keys) = want.get("result").and_then(Value::as_object) {
        check_result(&result, keys)?;
    }
    Ok(())
}

fn run_case(path: &Path) -> Result<(), String> {
    let case = rplay::yaml::load_file(path)
        .map_err(|e| format!("{e:?}"))?
        .to_json();
    let module = text(&case["module"], "module");
    let args = case
        .get("args")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let expect = case
        .get("expect")
        .and_then(Value::as_object)
        .cloned()
        .ok_or("a case needs an `expect` mapping")?;
    let spec = rplay_modules::lookup(&module).ok_or(format!("no module named {module}"))?;
    let built = match (spec.build)(args) {
        Ok(built) => built,
        Err(e) => {
            return match expect.get("error") {
                Some(want) if e.to_string().contains(&text(want, "error")) => Ok(()),
                _ => Err(format!("the arguments were refused: {e}")),
            }
        }
    };
    let case_dir = path.parent().unwrap_or(Path::new("."));
    let transport = scripted(case.get("host"), case_dir);
    let host = Host {
        transport: &transport,
        controller: &NoController,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let planned = runtime.block_on(built.plan(&host));
    let unmatched = transport.unmatched.lock().unwrap().clone();
    match (planned, expect.get("error")) {
        (Err(e), Some(want)) if e.to_string().contains(&text(want, "error")) => Ok(()),
        (Err(e), _) => Err(format!(
            "planning failed: {e} (unanswered commands: {unmatched:?})"
        )),
        (Ok(plan), Some(want)) => Err(format!(
            "expected an error containing {want}, planned {:?}",
            plan.reason
        )),
        (Ok(plan), None) => {
            check_plan(&plan, &expect, case_dir)?;
            let (Some(Value::Object(then)), Some(follow_up)) = (expect.get("then"), &plan.then)
            else {
                return Ok(());
            };
            let after = scripted(case.get("host_after").or(case.get("host")), case_dir);
            let host = Host {
                transport: &after,
                controller: &NoController,
            };
            let planned = runtime.block_on(follow_up.0.plan(&host));
            let unmatched = after.unmatched.lock().unwrap().clone();
            let plan = planned.map_err(|e| {
                format!("the follow-up failed to plan: {e} (unanswered commands: {unmatched:?})")
            })?;
            check_plan(&plan, then, case_dir).map_err(|e| format!("follow-up: {e}"))
        }
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plans");
    let mut found = Vec::new();
    for module in std::fs::read_dir(&root).expect("tests/plans exists") {
        let module = module.expect("readable").path();
        if !module.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&module).expect("readable") {
            let case = case.expect("readable").path();
            if case.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(case);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_plan_case_plans_as_written() {
    let cases = cases();
    assert!(!cases.is_empty(), "no plan cases found under tests/plans");
    let filter = std::env::var("RPLAY_PLAN_CASE").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        if !case.to_string_lossy().contains(&filter) {
            continue;
        }
        ran += 1;
        if let Err(e) = run_case(case) {
            failures.push(format!("{}: {e}", case.display()));
        }
    }
    assert!(ran > 0, "RPLAY_PLAN_CASE={filter} matched no case");
    assert!(
        failures.is_empty(),
        "{} of {ran} plan cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_case_with_a_wrong_expectation_is_caught() {
    // The harness itself: a plan that changes something must not pass as "changed: false".
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.yml");
    std::fs::write(
        &path,
        "module: command\nargs: {cmd: 'true'}\nexpect: {changed: false}\n",
    )
    .unwrap();
    assert!(run_case(&path).is_err());
    std::fs::write(
        &path,
        "module: command\nargs: {cmd: 'true'}\nexpect: {changed: true, steps: [{run: ['true']}]}\n",
    )
    .unwrap();
    run_case(&path).unwrap();
}
