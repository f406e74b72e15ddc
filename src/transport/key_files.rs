//! Private keys, read once per run and shared by every connection that offers them.
//!
//! An encrypted key is unlocked with the passphrase the inventory gives
//! (`ansible_private_key_passphrase`), else with one asked on the terminal: once per key
//! file, however many hosts use it. Unlocking is slow on purpose (bcrypt-pbkdf), so a
//! thousand connections must not each do it; they wait for the first one here.

use crate::prompt::{self, PromptError, Source};
use crate::secret::Secret;
use russh::keys::{decode_secret_key, PrivateKey};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::OnceCell;

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySource {
    File(PathBuf),
    /// The key itself (`ansible_private_key`).
    Text(Secret),
}

/// How many times a wrong passphrase may be typed, as OpenSSH allows.
const PROMPT_TRIES: usize = 3;

type Loaded = Result<Arc<PrivateKey>, String>;

/// The key, unlocked; the error says why it cannot be used, for the list of what
/// authentication skipped.
pub async fn load(source: &KeySource, passphrase: Option<&Secret>) -> Loaded {
    type Cache = Mutex<HashMap<(KeySource, Option<Secret>), Arc<OnceCell<Loaded>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("key cache lock")
        .entry((source.clone(), passphrase.cloned()))
        .or_default()
        .clone();
    cell.get_or_init(|| read_and_unlock(source.clone(), passphrase.cloned()))
        .await
        .clone()
}

async fn read_and_unlock(source: KeySource, passphrase: Option<Secret>) -> Loaded {
    let (text, shown) = match &source {
        KeySource::File(path) => (
            tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("cannot read it: {e}"))?,
            super::known_hosts::display_path(path),
        ),
        KeySource::Text(text) => (text.expose().to_string(), "ansible_private_key".to_string()),
    };
    match decode_secret_key(&text, None) {
        Ok(key) => return Ok(Arc::new(key)),
        Err(russh::keys::Error::KeyIsEncrypted) => {}
        Err(error) => return Err(error.to_string()),
    }
    if let Some(passphrase) = passphrase {
        return unlock(text, passphrase).await.ok_or_else(|| {
            "the passphrase from ansible_private_key_passphrase does not unlock it".to_string()
        });
    }
    let mut prompt = format!("Enter passphrase for key '{shown}': ");
    for _ in 0..PROMPT_TRIES {
        let asked = {
            let prompt = prompt.clone();
            tokio::task::spawn_blocking(move || prompt::ask(&prompt, Source::Terminal))
                .await
                .map_err(|e| format!("the passphrase prompt failed: {e}"))?
        };
        let passphrase = match asked {
            Ok(passphrase) => passphrase,
            Err(PromptError::NoTerminal) => {
                return Err("it has a passphrase and there is no terminal to ask for it; add it to ssh-agent or set ansible_private_key_passphrase".to_string())
            }
            Err(error) => return Err(format!("no passphrase: {error}")),
        };
        if let Some(key) = unlock(text.clone(), passphrase).await {
            return Ok(key);
        }
        prompt = format!("Bad passphrase, try again for '{shown}': ");
    }
    Err("wrong passphrase".to_string())
}

/// Decrypts off the async threads: it takes a while by design.
async fn unlock(text: String, passphrase: Secret) -> Option<Arc<PrivateKey>> {
    tokio::task::spawn_blocking(move || decode_secret_key(&text, Some(passphrase.expose())))
        .await
        .ok()?
        .ok()
        .map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn key_with_passphrase(dir: &Path, passphrase: &str) -> PathBuf {
        let path = dir.join("id_locked");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen runs");
        assert!(status.success());
        path
    }

    #[tokio::test]
    async fn an_encrypted_key_is_unlocked_with_the_inventorys_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_with_passphrase(dir.path(), "correct horse");
        let source = KeySource::File(path.clone());
        let key = load(&source, Some(&Secret::new("correct horse")))
            .await
            .expect("unlocked");
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        assert!(public.contains(&key.public_key().to_openssh().unwrap()[12..]));
        let error = load(&source, Some(&Secret::new("wrong")))
            .await
            .unwrap_err();
        assert!(error.contains("does not unlock it"), "{error}");
        // The same key as text, as `ansible_private_key` gives it.
        let text = KeySource::Text(Secret::new(std::fs::read_to_string(&path).unwrap()));
        assert!(load(&text, Some(&Secret::new("correct horse")))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_plain_key_needs_no_passphrase_and_a_missing_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_with_passphrase(dir.path(), "");
        assert!(load(&KeySource::File(path), None).await.is_ok());
        let error = load(&KeySource::File(dir.path().join("missing")), None)
            .await
            .unwrap_err();
        assert!(error.starts_with("cannot read it"), "{error}");
    }
}
