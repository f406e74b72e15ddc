//! What a module hands back to the engine.

use crate::transport::{Exec, FileAttrs, Output};
use crate::Module;
use serde_json::{Map, Value};
use std::sync::Arc;

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
    /// Set when only the steps' output tells whether they changed anything (a package
    /// manager that answers "0 upgraded, 0 newly installed"); see [`Settle`].
    pub settle: Option<Settle>,
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

    /// The outcome is decided from the steps' output once they ran; `predicted` is what
    /// check mode reports.
    pub fn settled_by(
        mut self,
        predicted: bool,
        decide: impl Fn(&[Output], &mut Map<String, Value>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.settle = Some(Settle {
            predicted,
            decide: Arc::new(decide),
        });
        self
    }

    /// Whether the task changes the host: as planned, or, for a plan settled by its
    /// output, as predicted.
    pub fn is_change(&self) -> bool {
        match &self.settle {
            Some(settle) => self.changed || settle.predicted,
            None => self.changed || !self.steps.is_empty(),
        }
    }
}

/// How a plan whose effect shows only in its output is settled after its steps ran.
///
/// Some steps must run even when they will most likely change nothing: an `apt-get
/// update` before installing, or an `apt-get autoremove` that may find nothing to remove.
/// Counting every such step as a change would make a task report `changed` forever, so
/// the module predicts the outcome for check mode and, after a real run, `decide` reads
/// the output of every step (in order; a `Write` step gives an empty output with rc 0)
/// and says whether anything changed, adding result keys that depend on it.
#[derive(Clone)]
pub struct Settle {
    pub predicted: bool,
    pub decide: Arc<dyn Fn(&[Output], &mut Map<String, Value>) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settle")
            .field("predicted", &self.predicted)
            .finish_non_exhaustive()
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
