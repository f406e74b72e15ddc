//! Typed modules for rplay.
//!
//! A module reads the state of a host through a [`Transport`], compares it with its
//! arguments and returns a [`Plan`]: the steps that would bring the host to the desired
//! state, or the reason nothing needs doing. The engine applies the plan; in check mode it
//! only shows it. No module knows about check mode, YAML or the command line.
//!
//! Adding a module is one file plus one line in [`registry::MODULES`].

pub mod args;
pub mod environment;
pub mod plan;
pub mod registry;
pub(crate) mod sections;
pub mod transport;
pub mod util;

pub mod apt;
pub mod apt_key;
pub mod apt_repository;
pub mod apt_sources;
pub mod blockinfile;
pub mod command;
pub mod containerd_config;
pub mod copy;
pub mod deb822_repository;
pub mod dpkg;
pub mod dpkg_selections;
pub mod facts;
pub mod file;
pub mod find;
pub mod get_url;
pub mod getent;
pub mod group;
pub mod helm;
pub mod helm_cli;
pub mod helm_repository;
pub mod hostname;
pub mod ini_file;
pub mod iptables;
pub mod k8s;
pub mod k8s_cluster_status;
pub mod k8s_info;
pub mod kubeadm;
pub mod kubectl;
pub mod lineinfile;
pub mod local;
pub mod modprobe;
pub mod mount;
pub mod other_distribution;
pub mod package;
pub mod package_facts;
pub mod ping;
pub mod raw;
pub mod replace;
pub mod script;
pub mod service;
pub mod service_facts;
pub mod setup;
pub mod shell;
pub mod slurp;
pub mod stat;
pub mod sysctl;
pub mod systemd_service;
pub mod timezone;
pub mod unarchive;
pub mod uri;
pub mod user;
pub mod wait_for;

#[cfg(test)]
mod testing;

pub use args::{ArgError, Args};

/// Sources of the types modules share in their arguments, for `rplay doc`.
pub const SHARED_SOURCES: &[&str] = &[include_str!("args.rs")];
pub use plan::{CheckSupport, Diff, FollowUp, Plan, Settle, Step};
pub use registry::{lookup, ModuleSpec, MODULES};
pub use transport::{Deadline, Exec, FileAttrs, Output, Transport, TransportError};

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

    /// Finds a controller-side path (file or directory) the same way `read_file` does.
    fn find(&self, path: &str) -> Result<ControllerPath, String> {
        Err(format!("`{path}` cannot be looked up on this controller"))
    }

    /// Every file under a controller-side directory found by `find`, as paths relative to
    /// it, sorted; directories (even empty ones) are listed with a trailing `/`.
    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        Err(format!("`{path}` cannot be listed on this controller"))
    }
}

/// A controller-side path as `Controller::find` found it.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerPath {
    /// Where it was found, absolute.
    pub path: String,
    pub is_dir: bool,
    /// Permission bits (e.g. 0o755), for `mode: preserve`.
    pub mode: u32,
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
