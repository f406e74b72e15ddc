//! The Python Kubespray runs under: a virtualenv made from the checkout's own
//! `requirements.txt`, so Kubespray gets the Ansible release it was tested with, not
//! whichever one happens to be installed.
//!
//! Virtualenvs are cached under `RPLAY_CACHE_DIR` (else `$XDG_CACHE_HOME/rplay`, else
//! `~/.cache/rplay`), in `kubespray-venv/<hash>`, the hash being that of the requirements
//! file: two checkouts of the same release share one, and a new release gets a new one.
//! A virtualenv is built in place (its scripts record their own path, so it cannot be
//! moved afterwards) and marked finished only once pip has succeeded: a failed or
//! interrupted build is removed and made again by the next run.

use crate::diagnostic::{Diagnostic, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `ansible-playbook` of a virtualenv holding `requirements`, made if it is not
/// cached yet. pip's own output goes to standard error as it comes.
pub fn ansible_playbook_for(requirements: &Path) -> Result<PathBuf> {
    let text = std::fs::read(requirements).map_err(|e| {
        Diagnostic::new(format!(
            "cannot read Kubespray's `{}`: {e}",
            requirements.display()
        ))
        .with_help("pass --ansible-playbook PATH to use an Ansible installed another way")
    })?;
    let hash = hex::encode(Sha256::digest(&text));
    let venv = cache_root()?.join("kubespray-venv").join(&hash[..16]);
    if !venv.join(COMPLETE).is_file() {
        build(&venv, requirements)?;
    }
    let ansible_playbook = venv.join("bin").join("ansible-playbook");
    if !ansible_playbook.is_file() {
        return Err(Diagnostic::new(format!(
            "the virtualenv `{}` made from `{}` has no `ansible-playbook`: the requirements do not install Ansible",
            venv.display(),
            requirements.display()
        ))
        .with_help("add `ansible` to the requirements (Kubespray's own list has it), or pass --ansible-playbook PATH"));
    }
    Ok(ansible_playbook)
}

/// Marks a virtualenv whose requirements were all installed.
const COMPLETE: &str = ".rplay-complete";

fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RPLAY_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rplay"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("rplay")),
        None => Err(Diagnostic::new(
            "no place to keep Kubespray's virtualenv: HOME, XDG_CACHE_HOME and RPLAY_CACHE_DIR are all unset",
        )
        .with_help("set RPLAY_CACHE_DIR to a writable directory, or pass --ansible-playbook PATH")),
    }
}

fn build(venv: &Path, requirements: &Path) -> Result<()> {
    let python = std::env::var("RPLAY_PYTHON").unwrap_or_else(|_| "python3".to_string());
    if venv.exists() {
        std::fs::remove_dir_all(venv).map_err(|e| {
            Diagnostic::new(format!(
                "cannot remove the unfinished virtualenv `{}`: {e}",
                venv.display()
            ))
        })?;
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Diagnostic::new(format!("cannot create `{}`: {e}", parent.display())))?;
    eprintln!(
        "rplay: creating a Python virtualenv for Kubespray in `{}` from `{}`",
        venv.display(),
        requirements.display()
    );
    let made = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match made {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Diagnostic::new(format!(
                "Kubespray needs Python, and `{python}` was not found"
            ))
            .with_help("install it (apt-get install python3 python3-venv), set RPLAY_PYTHON to a Python 3, or pass --ansible-playbook PATH"))
        }
        Err(error) => return Err(Diagnostic::new(format!("cannot run `{python}`: {error}"))),
        Ok(output) if !output.status.success() => {
            let _ = std::fs::remove_dir_all(venv);
            return Err(Diagnostic::new(format!(
                "`{python} -m venv` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
            .with_help("on Debian and Ubuntu install the venv module: apt-get install python3-venv"));
        }
        Ok(_) => {}
    }
    // pip's progress goes to our standard error, so that standard output stays
    // Kubespray's.
    let status = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--disable-pip-version-check", "-r"])
        .arg(requirements)
        .stdout(std::io::stderr())
        .status();
    if !matches!(&status, Ok(status) if status.success()) {
        let _ = std::fs::remove_dir_all(venv);
        return Err(Diagnostic::new(format!(
            "pip could not install Kubespray's requirements from `{}` (pip's output is above)",
            requirements.display()
        ))
        .with_help(format!(
            "check that a package index is reachable, or install them yourself (`python3 -m venv VENV && VENV/bin/pip install -r {}`) and pass --ansible-playbook VENV/bin/ansible-playbook",
            requirements.display()
        )));
    }
    std::fs::write(venv.join(COMPLETE), b"")
        .map_err(|e| Diagnostic::new(format!("cannot write in `{}`: {e}", venv.display())))
}
