//! The vault secrets of a run, each under its vault id, in the order Ansible tries them:
//! every `--vault-id` as given, then each `--vault-password-file`, then
//! `--ask-vault-pass`.

use super::{Envelope, VaultError, DEFAULT_ID};
use crate::prompt::{self, PromptError, Source};
use crate::secret::Secret;

#[derive(Debug, Clone, Default)]
pub struct VaultSecrets {
    entries: Vec<(String, Secret)>,
}

/// Where the secrets come from, as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct SecretSources {
    /// `--vault-id [ID@]SOURCE`, SOURCE a file, a script or `prompt`.
    pub vault_ids: Vec<String>,
    /// `--vault-password-file FILE`.
    pub password_files: Vec<String>,
    /// `--ask-vault-pass`.
    pub ask: bool,
    /// Ask twice and compare, for encryption.
    pub confirm: bool,
}

impl VaultSecrets {
    pub fn new() -> VaultSecrets {
        VaultSecrets::default()
    }

    pub fn push(&mut self, vault_id: impl Into<String>, secret: Secret) {
        self.entries.push((vault_id.into(), secret));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads every source: files are read or run, `prompt` asks on the terminal.
    pub fn load(sources: &SecretSources) -> Result<VaultSecrets, String> {
        let mut slugs: Vec<(String, String)> = Vec::new();
        for slug in &sources.vault_ids {
            let (id, source) = match slug.split_once('@') {
                Some((id, source)) => (id.to_string(), source.to_string()),
                None => (DEFAULT_ID.to_string(), slug.clone()),
            };
            slugs.push((id, source));
        }
        for file in &sources.password_files {
            slugs.push((DEFAULT_ID.to_string(), file.clone()));
        }
        if sources.ask {
            slugs.push((DEFAULT_ID.to_string(), "prompt".to_string()));
        }
        let mut secrets = VaultSecrets::new();
        for (id, source) in slugs {
            let secret = if source == "prompt" {
                ask(&id, sources.confirm)?
            } else {
                prompt::from_file(&source)
                    .map_err(|e| format!("cannot read the vault password: {e}"))?
            };
            secrets.push(id, secret);
        }
        Ok(secrets)
    }

    /// The secret to encrypt with: the one named by `--encrypt-vault-id`, else the first.
    pub fn for_encryption(&self, vault_id: Option<&str>) -> Result<(&str, &Secret), String> {
        match vault_id {
            Some(wanted) => self
                .entries
                .iter()
                .find(|(id, _)| id == wanted)
                .map(|(id, secret)| (id.as_str(), secret))
                .ok_or_else(|| {
                    let known: Vec<&str> = self.entries.iter().map(|(id, _)| id.as_str()).collect();
                    format!(
                        "Did not find a match for --encrypt-vault-id={wanted} in the known vault-ids {known:?}"
                    )
                }),
            None => self
                .entries
                .first()
                .map(|(id, secret)| (id.as_str(), secret))
                .ok_or_else(|| "A vault password must be specified to encrypt data".to_string()),
        }
    }

    /// Decrypts vault text; gives the plaintext and the id of the secret that opened it.
    /// The secrets whose id the header names go first, then all the others.
    pub fn decrypt(&self, text: &str) -> Result<(Vec<u8>, String), VaultError> {
        let envelope = Envelope::parse(text)?;
        if self.entries.is_empty() {
            return Err(VaultError::NoSecrets);
        }
        let named = envelope.vault_id.as_deref();
        let matching = self
            .entries
            .iter()
            .filter(|(id, _)| Some(id.as_str()) == named);
        let others = self
            .entries
            .iter()
            .filter(|(id, _)| Some(id.as_str()) != named);
        for (id, secret) in matching.chain(others) {
            if let Some(plaintext) = envelope.open(secret)? {
                return Ok((plaintext, id.clone()));
            }
        }
        Err(VaultError::NoSecretDecrypts)
    }
}

fn ask(vault_id: &str, confirm: bool) -> Result<Secret, String> {
    let (first, again) = match (vault_id, confirm) {
        (DEFAULT_ID, false) => ("Vault password: ".to_string(), None),
        (DEFAULT_ID, true) => (
            "New Vault password: ".to_string(),
            Some("Confirm New Vault password: ".to_string()),
        ),
        (id, false) => (format!("Vault password ({id}): "), None),
        (id, true) => (
            format!("New vault password ({id}): "),
            Some(format!("Confirm new vault password ({id}): ")),
        ),
    };
    let read = |prompt: &str| {
        prompt::ask(prompt, Source::TerminalOrStdin).map_err(|error| match error {
            PromptError::Cancelled => "User interrupted execution".to_string(),
            other => format!("cannot read the vault password: {other}"),
        })
    };
    let secret = read(&first)?;
    if secret.expose().trim().is_empty() {
        return Err("Invalid vault password was provided".to_string());
    }
    if let Some(again) = again {
        if read(&again)? != secret {
            return Err("Passwords do not match".to_string());
        }
    }
    Ok(Secret::new(secret.expose().trim()))
}
