//! Typed modules for rplay.
//!
//! A module reads the state of a host through a [`Transport`], compares it with its
//! arguments and returns a [`Plan`]: the steps that would bring the host to the desired
//! state, or the reason nothing needs doing. The engine applies the plan; in check mode it
//! only shows it. No module knows about check mode, YAML or the command line.
//!
//! Adding a module is one file plus one line in [`registry::MODULES`].

pub mod args;
pub mod plan;
pub mod registry;
pub mod transport;
pub mod util;

pub mod command;
pub mod local;
pub mod ping;
pub mod shell;

pub use args::{ArgError, Args};
pub use plan::{CheckSupport, Diff, Plan, Step};
pub use registry::{lookup, ModuleSpec, MODULES};
pub use transport::{Exec, FileAttrs, Output, Transport, TransportError};

use futures::future::BoxFuture;

/// What a module sees of the host and of the controller while it plans.
pub struct Host<'a> {
    /// The way to the host: commands, file reads and atomic file writes.
    pub transport: &'a dyn Transport,
    /// Files that live beside the playbook or role (`copy: src=`), found by the engine.
    pub controller: &'a dyn Controller,
}

/// Files on the machine that runs rplay, looked up the way Ansible looks them up (the
/// role's `files/`, then the playbook's directory).
pub trait Controller: Send + Sync {
    /// Reads a controller-side file named by a task; the error says where it was searched.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// A module with its arguments already checked: ready to plan against a host.
pub trait Module: Send + Sync {
    /// Reads the host's state and says what must change.
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>>;
}

/// Why a module could not plan: the host answered in a way the module cannot act on.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Failed(String),
}

impl ModuleError {
    pub fn failed(message: impl Into<String>) -> Self {
        ModuleError::Failed(message.into())
    }
}
