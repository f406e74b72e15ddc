//! `rplay kubespray`: deploy (or reset, scale, upgrade) the inventory's cluster with
//! Kubespray instead of rplay's own roles. After a `cluster`, `scale` or
//! `upgrade-cluster` run that succeeded, the cluster is checked as `rplay cluster status`
//! checks it (every node Ready, kube-system pods Running, the inventory's labels and
//! taints), unless `--no-cluster-check` is given: Kubespray's recap says its tasks ran,
//! not that the cluster came up.

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
    /// Do not check the cluster after Kubespray succeeds.
    #[arg(long = "no-cluster-check")]
    pub no_cluster_check: bool,
    /// Seconds the cluster check waits at most for the cluster to be ready.
    #[arg(long = "check-timeout", value_name = "SECONDS", default_value_t = 600)]
    pub check_timeout: u64,
    /// The kubeconfig the cluster check uses on the first control-plane host (Kubespray
    /// writes the admin one there too).
    #[arg(
        long = "check-kubeconfig",
        value_name = "PATH",
        default_value = "/etc/kubernetes/admin.conf"
    )]
    pub check_kubeconfig: String,
    /// The kubectl the cluster check runs on the first control-plane host.
    #[arg(long = "check-kubectl", value_name = "PATH", default_value = "kubectl")]
    pub check_kubectl: String,
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
    // Built now, before the arguments move into the request: a bad option fails first.
    let deploys = matches!(
        args.playbook,
        PlaybookName::Cluster | PlaybookName::Scale | PlaybookName::UpgradeCluster
    );
    let check = if deploys && !args.no_cluster_check {
        Some(cluster_check_args(&args)?)
    } else {
        None
    };
    let mut request = Request::new(Target::Named(args.playbook));
    request.kubespray_dir = args.kubespray_dir;
    request.ansible_playbook = args.ansible_playbook;
    request.venv = args.venv;
    request.work_dir = args.work_dir;
    request.extra_vars = crate::cli::parse_extra_vars(&args.extra_vars)?;
    request.extra_args = args.ansible_args;
    let code = super::run(&inventory, &request)?;
    match check {
        Some(check) if code == 0 => {
            eprintln!(
                "rplay: Kubespray succeeded; checking the cluster (skip with --no-cluster-check)"
            );
            crate::cluster::run(check)
        }
        _ => Ok(code),
    }
}

/// `rplay cluster status` with this command's inventory, variables and vault options.
fn cluster_check_args(args: &KubesprayArgs) -> Result<crate::cluster::ClusterArgs, Diagnostic> {
    let mut argv: Vec<String> = vec![
        "rplay cluster".into(),
        "status".into(),
        "--timeout".into(),
        args.check_timeout.to_string(),
        "--kubeconfig".into(),
        args.check_kubeconfig.clone(),
        "--kubectl".into(),
        args.check_kubectl.clone(),
    ];
    for inventory in &args.inventory {
        argv.extend(["-i".into(), inventory.clone()]);
    }
    for vars in &args.extra_vars {
        argv.extend(["-e".into(), vars.clone()]);
    }
    for id in &args.vault.vault_ids {
        argv.extend(["--vault-id".into(), id.clone()]);
    }
    for file in &args.vault.vault_password_files {
        argv.extend(["--vault-password-file".into(), file.clone()]);
    }
    if args.vault.ask_vault_pass {
        argv.push("--ask-vault-pass".into());
    }
    crate::cluster::ClusterArgs::try_parse_from(&argv)
        .map_err(|error| Diagnostic::new(format!("cannot start the cluster check: {error}")))
}
