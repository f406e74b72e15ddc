//! Kubespray as a fallback backend: for what rplay does not deploy itself (HA etcd
//! topologies, other CNIs, upgrades), rplay hands the cluster to Kubespray and runs it
//! with the real `ansible-playbook`.
//!
//! A run: read our inventory, write Kubespray's ([`inventory`]) into a work directory,
//! find the checkout and check its release ([`checkout`]), find or make the Python that
//! runs it ([`python`]), then run `ansible-playbook -i WORK/hosts.yml PLAYBOOK -b` in the
//! checkout (so its `ansible.cfg` applies) with standard output and error passed
//! through as they come. Kubespray's recap is the recap, its exit status the status.
//!
//! The same path serves `rplay kubespray` ([`command`]) and a playbook's
//! `import_playbook: kubernetes_sigs.kubespray.cluster`.

pub mod checkout;
pub mod command;
pub mod inventory;
pub mod python;

pub use checkout::{Checkout, PlaybookName};
pub use inventory::KubesprayInventory;

use crate::diagnostic::{Diagnostic, Result};
use crate::inventory::Inventory;
use crate::template::VarMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The playbook to run: one of Kubespray's by name, or a file inside the checkout.
#[derive(Debug, Clone)]
pub enum Target {
    Named(PlaybookName),
    File(PathBuf),
}

/// Everything one Kubespray run needs besides the inventory.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    /// `--kubespray-dir`, or the checkout an imported playbook lies in.
    pub kubespray_dir: Option<PathBuf>,
    /// `--ansible-playbook`: skips the virtualenv.
    pub ansible_playbook: Option<PathBuf>,
    /// `--venv`: an existing virtualenv whose `ansible-playbook` to use.
    pub venv: Option<PathBuf>,
    /// Where Kubespray's inventory is written; a new directory under the system's
    /// temporary directory when not given.
    pub work_dir: Option<PathBuf>,
    /// rplay's `-e` variables, passed on as `-e @extra-vars.json`.
    pub extra_vars: VarMap,
    /// Arguments for `ansible-playbook` itself, after `-i`, the playbook and `-b`.
    pub extra_args: Vec<String>,
    /// Send Kubespray's standard output to our standard error (under `--output json`,
    /// whose standard output is one JSON event per line).
    pub stdout_to_stderr: bool,
}

impl Request {
    pub fn new(target: Target) -> Request {
        Request {
            target,
            kubespray_dir: None,
            ansible_playbook: None,
            venv: None,
            work_dir: None,
            extra_vars: VarMap::new(),
            extra_args: Vec::new(),
            stdout_to_stderr: false,
        }
    }
}

/// The environment variable naming a Kubespray checkout.
pub const DIR_VARIABLE: &str = "RPLAY_KUBESPRAY_DIR";
/// The environment variable naming the `ansible-playbook` to run Kubespray with.
pub const ANSIBLE_PLAYBOOK_VARIABLE: &str = "RPLAY_KUBESPRAY_ANSIBLE_PLAYBOOK";

/// Runs Kubespray on `inventory`; returns `ansible-playbook`'s exit status.
pub fn run(inventory: &Inventory, request: &Request) -> Result<i32> {
    prepare(inventory, request)?.execute()
}

/// A Kubespray run with everything found and checked, nothing written or started yet.
#[derive(Debug)]
pub struct Prepared {
    pub checkout: Checkout,
    pub playbook: PathBuf,
    pub ansible_playbook: PathBuf,
    pub inventory: KubesprayInventory,
    request: Request,
}

/// Finds the checkout, its playbook and the `ansible-playbook` to run, and builds
/// Kubespray's inventory: every error a run can meet before Kubespray starts.
pub fn prepare(inventory: &Inventory, request: &Request) -> Result<Prepared> {
    let generated = KubesprayInventory::from_inventory(inventory, &request.extra_vars)?;
    let dir = request
        .kubespray_dir
        .clone()
        .or_else(|| {
            std::env::var_os(DIR_VARIABLE)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| generated.kubespray_dir.clone())
        .ok_or_else(|| {
            Diagnostic::new("no Kubespray checkout was given").with_help(checkout::HOW_TO_GET)
        })?;
    let checkout = Checkout::open(&dir)?;
    let playbook = match &request.target {
        Target::Named(name) => checkout.playbook(*name)?,
        Target::File(path) => std::path::absolute(path).unwrap_or_else(|_| path.clone()),
    };
    let mut request = request.clone();
    if request.ansible_playbook.is_none() {
        request.ansible_playbook = generated.ansible_playbook.clone();
    }
    let ansible_playbook = ansible_playbook(&request, &checkout)?;
    Ok(Prepared {
        checkout,
        playbook,
        ansible_playbook,
        inventory: generated,
        request,
    })
}

impl Prepared {
    /// Writes Kubespray's inventory and runs its playbook; returns the exit status.
    pub fn execute(&self) -> Result<i32> {
        let request = &self.request;
        let checkout = &self.checkout;
        let ansible_playbook = &self.ansible_playbook;
        // Absolute paths throughout: ansible-playbook runs inside the checkout.
        let work_dir = match &request.work_dir {
            Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
            None => fresh_work_dir()?,
        };
        std::fs::create_dir_all(&work_dir)
            .map_err(|e| Diagnostic::new(format!("cannot create `{}`: {e}", work_dir.display())))?;
        let inventory_path = self.inventory.write(&work_dir)?;

        let mut command = Command::new(ansible_playbook);
        command
            .arg("-i")
            .arg(&inventory_path)
            .arg(&self.playbook)
            .arg("-b");
        if !request.extra_vars.is_empty() {
            let path = work_dir.join("extra-vars.json");
            let json = crate::executor::value::to_json(&minijinja::Value::from_pairs(
                request
                    .extra_vars
                    .iter()
                    .map(|(key, value)| (minijinja::Value::from(key.as_str()), value.clone())),
            ));
            std::fs::write(&path, json.to_string())
                .map_err(|e| Diagnostic::new(format!("cannot write `{}`: {e}", path.display())))?;
            command.arg("-e").arg(format!("@{}", path.display()));
        }
        command.args(&request.extra_args);
        // In the checkout, so that Kubespray's `ansible.cfg` (roles path, callbacks, its
        // own modules) is the one Ansible reads.
        command.current_dir(&checkout.dir);
        if let Some(bin) = ansible_playbook.parent() {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![bin.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                command.env("PATH", joined);
            }
        }
        eprintln!(
            "rplay: Kubespray {} ({} in `{}`), supported {}",
            checkout.version,
            checkout.version_source,
            checkout.dir.display(),
            checkout::supported_range()
        );
        eprintln!(
            "rplay: Kubespray's inventory is `{}`; running {}",
            inventory_path.display(),
            shown_command(&command)
        );
        // Standard output and error are inherited: Kubespray's output reaches the
        // terminal line by line as Ansible prints it, colours and prompts included.
        if request.stdout_to_stderr {
            command.stdout(std::io::stderr());
        }
        let status = command.status().map_err(|e| {
            Diagnostic::new(format!("cannot run `{}`: {e}", ansible_playbook.display()))
                .with_help("pass --ansible-playbook PATH to an ansible-playbook that runs, or leave it out to let rplay make a virtualenv from Kubespray's requirements.txt")
        })?;
        Ok(exit_code(status))
    }
}

fn ansible_playbook(request: &Request, checkout: &Checkout) -> Result<PathBuf> {
    let given = request.ansible_playbook.clone().or_else(|| {
        std::env::var_os(ANSIBLE_PLAYBOOK_VARIABLE)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    let given = given.or_else(|| {
        request
            .venv
            .as_ref()
            .map(|venv| venv.join("bin").join("ansible-playbook"))
    });
    match given {
        Some(path) if path.components().count() == 1 || is_program(&path) => Ok(if path.components().count() > 1 {
            std::path::absolute(&path).unwrap_or(path)
        } else {
            path
        }),
        Some(path) => Err(Diagnostic::new(format!(
            "`{}` is not an executable ansible-playbook",
            path.display()
        ))
        .with_help(format!(
            "install Kubespray's requirements into a virtualenv (`python3 -m venv VENV && VENV/bin/pip install -r {}`) and pass --ansible-playbook VENV/bin/ansible-playbook, or pass neither --ansible-playbook nor --venv to let rplay make one",
            checkout.requirements().display()
        ))),
        None => python::ansible_playbook_for(&checkout.requirements()),
    }
}

fn is_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn fresh_work_dir() -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("rplay-kubespray-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Diagnostic::new(format!("cannot create `{}`: {e}", dir.display())))?;
    Ok(dir)
}

fn shown_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| rplay_modules::util::join_words(&[word.to_string_lossy().into_owned()]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The status as a shell reports it: the code, or 128 plus the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}
