//! Reporting: events from the executor go to a sink, which draws them for people
//! ([`human`]) or writes them as JSON lines for machines ([`json`]).

pub mod human;
pub mod json;

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// How a task ended on one host (or one loop item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// One result to show.
#[derive(Debug, Clone)]
pub struct HostResult<'a> {
    pub host: &'a str,
    /// `host -> delegate` when the task ran elsewhere.
    pub delegated_to: Option<&'a str>,
    pub status: Status,
    pub result: &'a Map<String, Value>,
    /// The loop item's label, for per-item lines.
    pub item_label: Option<String>,
    pub ignored: bool,
    pub no_log: bool,
    /// Diffs to show with `--diff`.
    pub diffs: &'a [rplay_modules::Diff],
    /// The task's module, so `debug` output is shown even without `-v`.
    pub module: &'a str,
}

/// Per-host counters for the recap, as Ansible counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// Receives the run's events. Each sink decides how to show them.
pub trait Sink: Send {
    fn playbook_start(&mut self, _path: &str) {}
    fn play_start(&mut self, name: &str);
    fn no_hosts_matched(&mut self);
    fn task_start(&mut self, name: &str, is_handler: bool);
    fn host_result(&mut self, result: &HostResult<'_>);
    fn warning(&mut self, message: &str);
    fn verbose(&mut self, _level: u8, _message: &str) {}
    fn recap(&mut self, stats: &IndexMap<String, Stats>);
    /// Text a task prints for a person (`pause` prompts, `--list-tasks`).
    fn message(&mut self, text: &str);
    /// How many hosts have finished the running task; a terminal shows it live.
    fn progress(&mut self, _task: &str, _done: usize, _total: usize) {}
}

/// Ansible hides these keys from what it prints after `=>`.
pub fn printable(result: &Map<String, Value>, verbose: bool) -> Map<String, Value> {
    result
        .iter()
        .filter(|(key, _)| {
            !key.starts_with("_ansible")
                && !matches!(key.as_str(), "invocation" | "diff" | "_rplay_internal")
                && (verbose || !matches!(key.as_str(), "ansible_facts_gathered"))
        })
        // Registered values say `failed: false`; Ansible does not print it.
        .filter(|(key, value)| !(key.as_str() == "failed" && **value == Value::Bool(false)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What `no_log: true` leaves of a result.
pub fn censored(result: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "censored".to_string(),
        Value::from("the output has been hidden due to the fact that 'no_log: true' was specified for this result"),
    );
    for key in ["changed", "failed", "skipped"] {
        if let Some(value) = result.get(key) {
            out.insert(key.to_string(), value.clone());
        }
    }
    out
}

/// One sink shared by several runners (the `free` strategy runs each host on its own):
/// events are written whole, one at a time.
#[derive(Clone)]
pub struct SharedSink(std::sync::Arc<std::sync::Mutex<Box<dyn Sink>>>);

impl SharedSink {
    pub fn new(sink: Box<dyn Sink>) -> SharedSink {
        SharedSink(std::sync::Arc::new(std::sync::Mutex::new(sink)))
    }

    fn with(&self, f: impl FnOnce(&mut Box<dyn Sink>)) {
        // A panic while printing poisons the lock; the output is still worth having.
        let mut sink = match self.0.lock() {
            Ok(sink) => sink,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut sink);
    }
}

impl Sink for SharedSink {
    fn playbook_start(&mut self, path: &str) {
        self.with(|s| s.playbook_start(path));
    }
    fn play_start(&mut self, name: &str) {
        self.with(|s| s.play_start(name));
    }
    fn no_hosts_matched(&mut self) {
        self.with(|s| s.no_hosts_matched());
    }
    fn task_start(&mut self, name: &str, is_handler: bool) {
        self.with(|s| s.task_start(name, is_handler));
    }
    fn host_result(&mut self, result: &HostResult<'_>) {
        self.with(|s| s.host_result(result));
    }
    fn warning(&mut self, message: &str) {
        self.with(|s| s.warning(message));
    }
    fn verbose(&mut self, level: u8, message: &str) {
        self.with(|s| s.verbose(level, message));
    }
    fn recap(&mut self, stats: &IndexMap<String, Stats>) {
        self.with(|s| s.recap(stats));
    }
    fn message(&mut self, text: &str) {
        self.with(|s| s.message(text));
    }
    fn progress(&mut self, task: &str, done: usize, total: usize) {
        self.with(|s| s.progress(task, done, total));
    }
}

/// Passes every event on, keeping the `summary` lines a task returns (the one task of
/// `rplay cluster status`) for its command to print after the recap.
pub struct SummaryCapture {
    inner: Box<dyn Sink>,
    slot: crate::cli::SummarySlot,
}

impl SummaryCapture {
    pub fn new(inner: Box<dyn Sink>, slot: crate::cli::SummarySlot) -> SummaryCapture {
        SummaryCapture { inner, slot }
    }
}

impl Sink for SummaryCapture {
    fn playbook_start(&mut self, path: &str) {
        self.inner.playbook_start(path);
    }
    fn play_start(&mut self, name: &str) {
        self.inner.play_start(name);
    }
    fn no_hosts_matched(&mut self) {
        self.inner.no_hosts_matched();
    }
    fn task_start(&mut self, name: &str, is_handler: bool) {
        self.inner.task_start(name, is_handler);
    }
    fn host_result(&mut self, result: &HostResult<'_>) {
        if let Some(Value::Array(lines)) = result.result.get("summary") {
            let lines = lines
                .iter()
                .map(|line| line.as_str().unwrap_or_default().to_string())
                .collect();
            *self.slot.lock().expect("summary lock") = Some(lines);
        }
        self.inner.host_result(result);
    }
    fn warning(&mut self, message: &str) {
        self.inner.warning(message);
    }
    fn verbose(&mut self, level: u8, message: &str) {
        self.inner.verbose(level, message);
    }
    fn recap(&mut self, stats: &IndexMap<String, Stats>) {
        self.inner.recap(stats);
    }
    fn message(&mut self, text: &str) {
        self.inner.message(text);
    }
    fn progress(&mut self, task: &str, done: usize, total: usize) {
        self.inner.progress(task, done, total);
    }
}
