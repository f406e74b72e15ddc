//! `rplay cluster status`: is the inventory's cluster up? It runs the
//! `k8s_cluster_status` module on the first `kube_control_plane` host, over the same
//! connection a playbook would use, with kubeadm's admin kubeconfig there: every node of
//! the inventory must be Ready and every kube-system pod Running (within `--timeout`),
//! the labels and taints the inventory declares (`node_labels`, `node_taints` host
//! variables, as `roles/node_labels` reads them) are applied, and a short summary is
//! printed. kubectl runs on the control-plane node, so the controller needs no API client
//! and no route to the API server.

use crate::cli::{OutputFormat, PlaybookArgs, RunOptions};
use crate::diagnostic::Diagnostic;
use clap::{Parser, Subcommand};
use std::sync::{Arc, Mutex};

#[derive(Debug, Parser)]
#[command(
    name = "rplay cluster",
    about = "Checks the inventory's Kubernetes cluster"
)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Waits for every node Ready and kube-system pods Running, applies the inventory's
    /// labels and taints, prints a summary.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Seconds to wait at most for the cluster to be ready.
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// The kubeconfig on the control-plane host.
    #[arg(
        long = "kubeconfig",
        value_name = "PATH",
        default_value = "/etc/kubernetes/admin.conf"
    )]
    pub kubeconfig: String,
    /// The kubectl program on the control-plane host.
    #[arg(long = "kubectl", value_name = "PATH", default_value = "kubectl")]
    pub kubectl: String,
    #[command(flatten)]
    pub common: RunOptions,
}

pub fn run(args: ClusterArgs) -> Result<i32, Diagnostic> {
    let ClusterCommand::Status(status) = args.command;
    let inventory = crate::cli::load_inventory(&status.common.inventory)?;
    let groups = inventory.groups();
    let Some(control_plane) = groups
        .get("kube_control_plane")
        .and_then(|hosts| hosts.first())
        .cloned()
    else {
        return Err(
            Diagnostic::new("the inventory has no host in group `kube_control_plane`").with_help(
                "rplay cluster status runs kubectl on the first control-plane host: \
                     give an inventory with a `kube_control_plane` group (see \
                     inventories/cloud-cluster)",
            ),
        );
    };
    let mut nodes: Vec<String> = match groups.get("k8s_cluster") {
        Some(hosts) if !hosts.is_empty() => hosts.clone(),
        _ => ["kube_control_plane", "kube_node"]
            .iter()
            .flat_map(|group| groups.get(*group).cloned().unwrap_or_default())
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    nodes.retain(|node| seen.insert(node.clone()));
    // Labels and taints are templates over hostvars, so group_vars, host_vars and -e
    // reach them with Ansible's precedence.
    let node_args: Vec<serde_json::Value> = nodes
        .iter()
        .map(|node| {
            let quoted = serde_json::to_string(node).unwrap_or_default();
            serde_json::json!({
                "name": node,
                "labels": format!("{{{{ hostvars[{quoted}]['node_labels'] | default({{}}) }}}}"),
                "taints": format!("{{{{ hostvars[{quoted}]['node_taints'] | default([]) }}}}"),
            })
        })
        .collect();
    let play = serde_json::json!([{
        "name": "Cluster status",
        "hosts": control_plane,
        "gather_facts": false,
        "tasks": [{
            "name": "nodes Ready, kube-system pods Running, labels and taints",
            "k8s_cluster_status": {
                "nodes": node_args,
                "timeout": status.timeout,
                "kubeconfig": status.kubeconfig,
                "binary_path": status.kubectl,
            },
        }],
    }]);
    let dir = std::env::temp_dir().join(format!("rplay-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Diagnostic::new(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join("cluster-status.yml");
    std::fs::write(&path, play.to_string())
        .map_err(|e| Diagnostic::new(format!("cannot write {}: {e}", path.display())))?;
    let summary = Arc::new(Mutex::new(None));
    let human = status.common.output == OutputFormat::Human;
    let mut playbook = PlaybookArgs::for_generated(path, status.common);
    playbook.summary = Some(summary.clone());
    let result = crate::cli::playbook_command(playbook);
    let _ = std::fs::remove_dir_all(&dir);
    let code = result?;
    if human {
        if let Some(lines) = summary.lock().expect("summary lock").take() {
            println!("CLUSTER STATUS ({control_plane})");
            for line in lines {
                println!("{line}");
            }
        }
    }
    Ok(code)
}
