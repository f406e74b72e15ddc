//! The one list of modules. Adding a module is one file and one line here.

use crate::args::{self, ArgError, Args};
use crate::Module;
use serde_json::Value;

/// How a task's free-form text (`command: ls -l`) becomes arguments.
#[derive(Debug, Clone, Copy)]
pub struct FreeForm {
    /// The argument the text becomes.
    pub key: &'static str,
    /// `k=v` words inside the text that Ansible takes as arguments rather than as part of
    /// the command (`command: make creates=/out chdir=/src`).
    pub inline_keys: &'static [&'static str],
}

/// A module as the engine knows it.
pub struct ModuleSpec {
    /// The short name, as written in tasks.
    pub name: &'static str,
    /// Fully-qualified Ansible names and old names that mean the same module.
    pub aliases: &'static [&'static str],
    /// The module's documentation: what it manages, how it decides nothing needs doing,
    /// its arguments and an example (printed by `rplay doc`).
    pub doc: &'static str,
    pub free_form: Option<FreeForm>,
    /// Checks arguments and returns the module ready to plan.
    pub build: fn(Value) -> Result<Box<dyn Module>, ArgError>,
}

/// Builds a module from its typed arguments; the registry stores this as a fn pointer.
pub fn build<A: Args + Module + 'static>(value: Value) -> Result<Box<dyn Module>, ArgError> {
    Ok(Box::new(args::parse::<A>(value)?))
}

/// Every host-side module, alphabetical.
pub static MODULES: &[&ModuleSpec] = &[
    &crate::apt::SPEC,
    &crate::apt_key::SPEC,
    &crate::apt_repository::SPEC,
    &crate::blockinfile::SPEC,
    &crate::command::SPEC,
    &crate::containerd_config::SPEC,
    &crate::copy::SPEC,
    &crate::deb822_repository::SPEC,
    &crate::other_distribution::DNF_SPEC,
    &crate::dpkg_selections::SPEC,
    &crate::file::SPEC,
    &crate::find::SPEC,
    &crate::other_distribution::FIREWALLD_SPEC,
    &crate::get_url::SPEC,
    &crate::getent::SPEC,
    &crate::group::SPEC,
    &crate::helm::SPEC,
    &crate::helm_repository::SPEC,
    &crate::hostname::SPEC,
    &crate::ini_file::SPEC,
    &crate::iptables::SPEC,
    &crate::k8s::SPEC,
    &crate::k8s_cluster_status::SPEC,
    &crate::k8s_info::SPEC,
    &crate::kubeadm::SPEC,
    &crate::lineinfile::SPEC,
    &crate::modprobe::SPEC,
    &crate::mount::SPEC,
    &crate::package::SPEC,
    &crate::package_facts::SPEC,
    &crate::other_distribution::PACMAN_SPEC,
    &crate::ping::SPEC,
    &crate::raw::SPEC,
    &crate::replace::SPEC,
    &crate::other_distribution::RPM_KEY_SPEC,
    &crate::script::SPEC,
    &crate::other_distribution::SELINUX_SPEC,
    &crate::service::SPEC,
    &crate::service_facts::SPEC,
    &crate::setup::SPEC,
    &crate::shell::SPEC,
    &crate::slurp::SPEC,
    &crate::stat::SPEC,
    &crate::sysctl::SPEC,
    &crate::systemd_service::SPEC,
    &crate::timezone::SPEC,
    &crate::other_distribution::UFW_SPEC,
    &crate::unarchive::SPEC,
    &crate::uri::SPEC,
    &crate::user::SPEC,
    &crate::wait_for::SPEC,
    &crate::other_distribution::YUM_SPEC,
    &crate::other_distribution::YUM_REPOSITORY_SPEC,
    &crate::other_distribution::ZYPPER_SPEC,
];

/// Finds a module by short name or alias.
pub fn lookup(name: &str) -> Option<&'static ModuleSpec> {
    MODULES
        .iter()
        .copied()
        .find(|spec| spec.name == name || spec.aliases.contains(&name))
}

/// Every name a task may use, for "did you mean" suggestions.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    MODULES
        .iter()
        .flat_map(|spec| std::iter::once(spec.name).chain(spec.aliases.iter().copied()))
}
