//! rplay: runs Ansible-style playbooks with a Rust engine and typed modules.
//!
//! The data flows one way: files are loaded with positions kept ([`yaml`], [`inventory`],
//! [`playbook`]), checked before any host is contacted, run per host ([`executor`]) and
//! reported ([`report`]). The binary in `main.rs` is glue around [`cli`].

pub mod cli;
pub mod cluster;
pub mod config;
pub mod diagnostic;
pub mod doc;
pub mod executor;
#[doc(hidden)]
pub mod fuzzing;
pub mod interrupt;
pub mod inventory;
pub mod kubespray;
pub mod node;
pub mod playbook;
pub mod prompt;
pub mod report;
pub mod secret;
pub mod source;
pub mod template;
pub mod transport;
pub mod vault;
pub mod yaml;
