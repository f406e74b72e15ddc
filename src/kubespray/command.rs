//! `rplay kubespray`: deploy (or reset, scale, upgrade) the inventory's cluster with
//! Kubespray instead of rplay's own roles.

use super::{PlaybookName, Request, Target};
use crate::cli::VaultOptions;
use crate::diagnostic::Diagnostic;
use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rplay kubespray",
    about = "Runs a Kubespray playbook on the inventory's cluster with the real ansible-playbook",
    after_help = "Arguments after `--` go to ansible-playbook unchanged, e.g.\n  rplay kubespray -i inventories/cloud-cluster -- --limit gpu-worker-1 -vv"
)]
pub struct KubesprayArgs {
    /// Inventory file or directory (repeatable), read as rplay reads it.
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// The Kubespray checkout (else RPLAY_KUBESPRAY_DIR, else the inventory variable
    /// `kubespray_dir`).
    #[arg(long = "kubespray-dir", value_name = "DIR")]
    pub kubespray_dir: Option<PathBuf>,
    /// Which of Kubespray's playbooks to run.
    #[arg(long = "playbook", value_enum, default_value_t = PlaybookName::Cluster)]
    pub playbook: PlaybookName,
    /// The ansible-playbook to run Kubespray with (else RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK);
    /// without it or --venv, rplay makes a virtualenv from Kubespray's requirements.txt.
    #[arg(
        long = "ansible-playbook",
        value_name = "PATH",
        conflicts_with = "venv"
    )]
    pub ansible_playbook: Option<PathBuf>,
    /// A virtualenv with Kubespray's requirements installed.
    #[arg(long = "venv", value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// Where to write Kubespray's inventory (default: a new temporary directory). The
    /// admin kubeconfig lands in its `artifacts/`.
    #[arg(long = "work-dir", value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Extra variables, as for a playbook (`k=v`, JSON/YAML, `@file`); passed to
    /// Kubespray as extra variables too.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    #[command(flatten)]
    pub vault: VaultOptions,
    /// Arguments for ansible-playbook, after `--`.
    #[arg(last = true, value_name = "ANSIBLE_PLAYBOOK_ARGS")]
    pub ansible_args: Vec<String>,
}

pub fn run(args: KubesprayArgs) -> Result<i32, Diagnostic> {
    crate::vault::install(args.vault.secrets(false)?);
    if args.inventory.is_empty() {
        return Err(Diagnostic::new("`rplay kubespray` needs an inventory")
            .with_help("give the cluster's inventory with -i, e.g. -i inventories/cloud-cluster"));
    }
    let inventory = crate::cli::load_inventory(&args.inventory)?;
    let mut request = Request::new(Target::Named(args.playbook));
    request.kubespray_dir = args.kubespray_dir;
    request.ansible_playbook = args.ansible_playbook;
    request.venv = args.venv;
    request.work_dir = args.work_dir;
    request.extra_vars = crate::cli::parse_extra_vars(&args.extra_vars)?;
    request.extra_args = args.ansible_args;
    super::run(&inventory, &request)
}
