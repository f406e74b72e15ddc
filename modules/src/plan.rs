//! What a module hands back to the engine.

use crate::transport::{Exec, FileAttrs};
use crate::Module;
use serde_json::{Map, Value};

/// The steps that would bring a host to the state a task asks for.
///
/// An empty `steps` list means the host is already there; `reason` then says why (it is
/// shown with `-v`). The engine applies the steps in order unless the run is in check mode.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Why nothing needs doing, or a one-line summary of what the steps do.
    pub reason: Option<String>,
    /// Values the task returns whether or not it changes anything (`register:` sees them).
    pub result: Map<String, Value>,
    /// Before and after, for `--diff`.
    pub diffs: Vec<Diff>,
    /// Whether check mode can predict the outcome.
    pub check: CheckSupport,
    /// The task reports `changed` even without steps (rare: modules whose reading of the
    /// host is itself the change).
    pub changed: bool,
    /// The task fails with this message after its steps (e.g. `assert`-like modules).
    pub failure: Option<String>,
    /// What to plan once the steps have run and succeeded, for a task whose result depends
    /// on what its steps did: `kubeadm` reads the join command of the cluster its `init`
    /// just made. The engine plans it against the host, applies its steps, and adds its
    /// result to this one (its keys win). Check mode never gets there.
    pub then: Option<FollowUp>,
}

/// The module a plan hands over to after its steps ([`Plan::then`]).
pub struct FollowUp(pub Box<dyn Module>);

impl std::fmt::Debug for FollowUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FollowUp(..)")
    }
}

impl Plan {
    /// Nothing to do, and why.
    pub fn ok(reason: impl Into<String>) -> Self {
        Plan {
            reason: Some(reason.into()),
            ..Plan::default()
        }
    }

    /// Steps to apply.
    pub fn change(reason: impl Into<String>, steps: Vec<Step>) -> Self {
        Plan {
            steps,
            reason: Some(reason.into()),
            ..Plan::default()
        }
    }

    /// The task fails with `message`, changing nothing; `with` adds the other keys of
    /// the failed result (Ansible's modules return `path`, `rc`, the path's facts…).
    pub fn fail(message: impl Into<String>) -> Self {
        let message = message.into();
        Plan {
            reason: Some(message.clone()),
            failure: Some(message),
            ..Plan::default()
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.result.insert(key.to_string(), value.into());
        self
    }

    pub fn with_diff(mut self, diff: Diff) -> Self {
        self.diffs.push(diff);
        self
    }

    /// Plans `module` after this plan's steps succeed (see [`Plan::then`]).
    pub fn then(mut self, module: impl Module + 'static) -> Self {
        self.then = Some(FollowUp(Box::new(module)));
        self
    }

    pub fn unpredictable(mut self, why: impl Into<String>) -> Self {
        self.check = CheckSupport::Unpredictable(why.into());
        self
    }

    pub fn is_change(&self) -> bool {
        self.changed || !self.steps.is_empty()
    }
}

/// One thing to do on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run a command. With `capture`, its `rc`, `stdout` and `stderr` become the task's
    /// result (the `command` module). A non-zero exit fails the task unless `allow_failure`.
    Run {
        exec: Exec,
        capture: bool,
        allow_failure: bool,
    },
    /// Write a file atomically.
    Write {
        path: String,
        content: Vec<u8>,
        attrs: FileAttrs,
    },
}

impl Step {
    pub fn run(exec: Exec) -> Self {
        Step::Run {
            exec,
            capture: false,
            allow_failure: false,
        }
    }

    pub fn capture(exec: Exec) -> Self {
        Step::Run {
            exec,
            capture: true,
            allow_failure: true,
        }
    }

    pub fn write(path: impl Into<String>, content: impl Into<Vec<u8>>, attrs: FileAttrs) -> Self {
        Step::Write {
            path: path.into(),
            content: content.into(),
            attrs,
        }
    }
}

/// Whether `--check` can tell the outcome without running anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CheckSupport {
    #[default]
    Predictable,
    /// The effect is only known by running it (a shell command); check mode skips the task
    /// and shows this reason.
    Unpredictable(String),
}

/// The content of one file before and after, shown by `--diff`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub path: String,
    pub before: String,
    pub after: String,
}
