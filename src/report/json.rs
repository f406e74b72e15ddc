//! JSON lines for machines: one event per line on stdout.

use super::{censored, printable, HostResult, Sink, Stats, Status};
use indexmap::IndexMap;
use serde_json::json;
use std::io::Write;

pub struct JsonLines {
    out: Box<dyn Write + Send>,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write + Send>) -> JsonLines {
        JsonLines { out }
    }

    fn emit(&mut self, value: serde_json::Value) {
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Changed => "changed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Unreachable => "unreachable",
    }
}

impl Sink for JsonLines {
    fn playbook_start(&mut self, path: &str) {
        self.emit(json!({"event": "playbook_start", "playbook": path}));
    }

    fn play_start(&mut self, name: &str) {
        self.emit(json!({"event": "play_start", "play": name}));
    }

    fn no_hosts_matched(&mut self) {
        self.emit(json!({"event": "no_hosts_matched"}));
    }

    fn task_start(&mut self, name: &str, is_handler: bool) {
        self.emit(json!({"event": "task_start", "task": name, "handler": is_handler}));
    }

    fn host_result(&mut self, r: &HostResult<'_>) {
        let result = if r.no_log {
            censored(r.result)
        } else {
            printable(r.result, true)
        };
        self.emit(json!({
            "event": "host_result",
            "host": r.host,
            "delegated_to": r.delegated_to,
            "status": status_name(r.status),
            "item": r.item_label,
            "ignored": r.ignored,
            "result": result,
        }));
    }

    fn warning(&mut self, message: &str) {
        self.emit(json!({"event": "warning", "message": message}));
    }

    fn recap(&mut self, stats: &IndexMap<String, Stats>) {
        let hosts: serde_json::Map<String, serde_json::Value> = stats
            .iter()
            .map(|(host, s)| {
                (
                    host.clone(),
                    json!({"ok": s.ok, "changed": s.changed, "unreachable": s.unreachable,
                           "failed": s.failed, "skipped": s.skipped, "rescued": s.rescued,
                           "ignored": s.ignored}),
                )
            })
            .collect();
        self.emit(json!({"event": "recap", "hosts": hosts}));
    }

    fn message(&mut self, text: &str) {
        self.emit(json!({"event": "message", "text": text}));
    }
}
