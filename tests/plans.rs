//! Plan tests as data: each file under `tests/plans/MODULE/` gives a module's arguments and
//! what the host answers (files and command outputs), and the plan the module must make:
//! the steps it would run, or why nothing needs doing, or why it fails. They cover edge
//! cases that are slow to reach on a real target; the real targets are in `tests/nodes.rs`.
//!
//! A case file:
//!
//! ```yaml
//! module: sysctl
//! args: {name: net.ipv4.ip_forward, value: "1", sysctl_file: /etc/sysctl.d/k8s.conf}
//! host:
//!   files:                       # what `get` returns; any other path does not exist
//!     /etc/sysctl.d/k8s.conf: "net.ipv4.ip_forward = 0\n"
//!   commands:                    # first match wins; a command nothing matches fails the case
//!     - argv: [sysctl, -n, net.ipv4.ip_forward]   # exact argv, or
//!       contains: "sysctl -n"                     # a substring of the argv joined by spaces
//!       stdout: "0\n"
//!       stderr: ""
//!       rc: 0
//! expect:
//!   changed: true                # or false
//!   reason: "substring"          # optional
//!   failure: "substring"         # optional: the plan fails with this
//!   error: "substring"           # optional: planning itself errs (or the arguments do)
//!   steps:                       # optional: exactly these steps, in order
//!     - run: [sysctl, -w, net.ipv4.ip_forward=1]
//!     - run_contains: "systemctl restart"
//!     - write: /etc/sysctl.d/k8s.conf
//!       content: "net.ipv4.ip_forward = 1\n"     # optional
//!       content_contains: "ip_forward = 1"        # optional
//!       mode: "0644"                              # optional
//!   result: {key: value}         # optional: these keys of the result, compared exactly
//! ```

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

fn scripted(host: Option<&Value>) -> Scripted {
    let mut files = BTreeMap::new();
    let mut answers = Vec::new();
    if let Some(host) = host {
        if let Some(map) = host.get("files").and_then(Value::as_object) {
            for (path, content) in map {
                files.insert(path.clone(), text(content, "host.files").into_bytes());
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
                    stdout: command
                        .get("stdout")
                        .map(|v| text(v, "stdout").into_bytes())
                        .unwrap_or_default(),
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

fn check_step(step: &Step, want: &Value) -> Result<(), String> {
    let mismatch = || format!("expected {want}, planned {}", describe(step));
    match step {
        Step::Run { exec, .. } => {
            if let Some(argv) = want.get("run") {
                if exec.argv != strings(argv, "run") {
                    return Err(mismatch());
                }
            } else if let Some(needle) = want.get("run_contains") {
                if !exec.argv.join(" ").contains(&text(needle, "run_contains")) {
                    return Err(mismatch());
                }
            } else {
                return Err(mismatch());
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
                if content != text(exact, "content") {
                    return Err(format!("{}: content was {content:?}", mismatch()));
                }
            }
            if let Some(needle) = want.get("content_contains") {
                if !content.contains(&text(needle, "content_contains")) {
                    return Err(format!("{}: content was {content:?}", mismatch()));
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

fn check_plan(plan: &Plan, expect: &Map<String, Value>) -> Result<(), String> {
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
            check_step(step, want).map_err(|e| format!("step {}: {e}", index + 1))?;
        }
    }
    if let Some(result) = expect.get("result").and_then(Value::as_object) {
        for (key, want) in result {
            if plan.result.get(key) != Some(want) {
                return Err(format!(
                    "expected result.{key} = {want}, got {:?}",
                    plan.result.get(key)
                ));
            }
        }
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
    let transport = scripted(case.get("host"));
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
        (Ok(plan), None) => check_plan(&plan, &expect),
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
