//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` and `$ANSIBLE_VAULT;1.2;AES256;ID`
//! formats, read and written byte for byte as `ansible-vault` does.
//!
//! An envelope is a header line and then hex text in lines of 80 columns. The hex decodes
//! to three lines: the salt (hex), the HMAC (hex) and the ciphertext (hex). The keys come
//! from PBKDF2-HMAC-SHA256 over the password and the salt, 10000 rounds, 80 bytes: the
//! AES-256 key, the HMAC-SHA256 key, and the initial counter of AES-CTR. The plaintext is
//! PKCS#7-padded to 16 bytes before encryption, and the HMAC covers the ciphertext.
//!
//! The vault id in a 1.2 header is not authenticated: it only picks which secret to try
//! first. Decryption then tries every other secret, as Ansible does.
//!
//! The secrets a run was given live in one place for the whole process ([`install`]),
//! since every file reader (playbooks, `vars_files`, `group_vars`, `include_vars`, `copy`)
//! must see them.

pub mod command;
pub mod secrets;

use crate::secret::Secret;
use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use pbkdf2::sha2::Sha256;
use std::sync::{Arc, RwLock};

pub use secrets::VaultSecrets;

/// Every vault file and value starts with this.
pub const HEADER: &str = "$ANSIBLE_VAULT";
/// The id of a secret given without one (`--vault-password-file`, `--ask-vault-pass`).
pub const DEFAULT_ID: &str = "default";

const ROUNDS: u32 = 10_000;
const KEY_LENGTH: usize = 32;
const COUNTER_LENGTH: usize = 16;
const SALT_LENGTH: usize = 32;
const LINE_WIDTH: usize = 80;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// Why vault text could not be turned back into plaintext. The messages are Ansible's,
/// so that people who search for them find the same answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    /// Encrypted data, and no secret given at all.
    NoSecrets,
    /// No secret given could decrypt it (a wrong password).
    NoSecretDecrypts,
    /// The text is not vault data or is damaged.
    Format(String),
    /// A cipher other than AES256.
    UnknownCipher(String),
}

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultError::NoSecrets => {
                f.write_str("Attempting to decrypt but no vault secrets found")
            }
            VaultError::NoSecretDecrypts => {
                f.write_str("Decryption failed (no vault secrets were found that could decrypt)")
            }
            VaultError::Format(message) => write!(f, "Vault format error: {message}"),
            VaultError::UnknownCipher(name) => write!(f, "{name} cipher could not be found"),
        }
    }
}

impl std::error::Error for VaultError {}

/// Whether text (a file's content or a value) is vault data.
pub fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(HEADER.as_bytes())
}

/// The parts of an envelope that are not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: String,
    pub cipher: String,
    /// The id in a 1.2 header.
    pub vault_id: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Envelope {
    /// Reads the header and the hex payload; whitespace between lines is ignored, as the
    /// inline `!vault |` form indents it.
    pub fn parse(text: &str) -> Result<Envelope, VaultError> {
        let text = text.trim_start();
        if !is_encrypted(text.as_bytes()) {
            return Err(VaultError::Format(
                "input is not vault encrypted data".to_string(),
            ));
        }
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim()
            .split(';')
            .map(str::trim)
            .collect();
        if header.len() < 3 {
            return Err(VaultError::Format(format!(
                "the header `{}` has no version and cipher",
                header.join(";")
            )));
        }
        let cipher = header[2].to_string();
        if cipher != "AES256" {
            return Err(VaultError::UnknownCipher(cipher));
        }
        let hex_text: String = lines.flat_map(|line| line.trim().chars()).collect();
        let payload = unhex(&hex_text)?;
        let mut parts = payload.splitn(3, |&byte| byte == b'\n');
        let (Some(salt), Some(hmac), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Format(
                "the payload does not hold a salt, an HMAC and a ciphertext".to_string(),
            ));
        };
        Ok(Envelope {
            version: header[1].to_string(),
            cipher,
            vault_id: header.get(3).map(|id| id.to_string()),
            salt: unhex(&String::from_utf8_lossy(salt))?,
            hmac: unhex(&String::from_utf8_lossy(hmac))?,
            ciphertext: unhex(&String::from_utf8_lossy(ciphertext))?,
        })
    }

    /// The plaintext, or `None` when this secret is not the one it was encrypted with
    /// (the HMAC does not match; checked in constant time).
    pub fn open(&self, secret: &Secret) -> Result<Option<Vec<u8>>, VaultError> {
        let keys = Keys::derive(secret, &self.salt);
        let mut mac = keys.mac();
        mac.update(&self.ciphertext);
        if mac.verify_slice(&self.hmac).is_err() {
            return Ok(None);
        }
        let mut plaintext = self.ciphertext.clone();
        keys.cipher().apply_keystream(&mut plaintext);
        unpad(&mut plaintext)?;
        Ok(Some(plaintext))
    }
}

/// The three things PBKDF2 gives.
struct Keys {
    cipher_key: [u8; KEY_LENGTH],
    hmac_key: [u8; KEY_LENGTH],
    counter: [u8; COUNTER_LENGTH],
}

impl Keys {
    fn derive(secret: &Secret, salt: &[u8]) -> Keys {
        let mut derived = [0u8; 2 * KEY_LENGTH + COUNTER_LENGTH];
        pbkdf2::pbkdf2_hmac::<Sha256>(secret.expose().as_bytes(), salt, ROUNDS, &mut derived);
        let mut keys = Keys {
            cipher_key: [0; KEY_LENGTH],
            hmac_key: [0; KEY_LENGTH],
            counter: [0; COUNTER_LENGTH],
        };
        keys.cipher_key.copy_from_slice(&derived[..KEY_LENGTH]);
        keys.hmac_key
            .copy_from_slice(&derived[KEY_LENGTH..2 * KEY_LENGTH]);
        keys.counter.copy_from_slice(&derived[2 * KEY_LENGTH..]);
        keys
    }

    fn cipher(&self) -> Aes256Ctr {
        Aes256Ctr::new_from_slices(&self.cipher_key, &self.counter)
            .expect("AES-256 takes a 32-byte key and a 16-byte counter")
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.hmac_key)
            .expect("HMAC takes a key of any length")
    }
}

/// Encrypts with a fresh random salt. A vault id other than `default` gives the 1.2
/// header that names it; otherwise 1.1, as `ansible-vault` writes.
pub fn encrypt(plaintext: &[u8], secret: &Secret, vault_id: Option<&str>) -> String {
    let mut salt = [0u8; SALT_LENGTH];
    rand::Rng::fill(&mut rand::thread_rng(), &mut salt[..]);
    encrypt_with_salt(plaintext, secret, vault_id, &salt)
}

fn encrypt_with_salt(
    plaintext: &[u8],
    secret: &Secret,
    vault_id: Option<&str>,
    salt: &[u8],
) -> String {
    let keys = Keys::derive(secret, salt);
    let mut ciphertext = plaintext.to_vec();
    pad(&mut ciphertext);
    keys.cipher().apply_keystream(&mut ciphertext);
    let mut mac = keys.mac();
    mac.update(&ciphertext);
    let hmac = mac.finalize().into_bytes();
    let payload = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(hmac),
        hex::encode(&ciphertext)
    );
    let body = hex::encode(payload.as_bytes());
    let header = match vault_id {
        Some(id) if id != DEFAULT_ID && !id.is_empty() => format!("{HEADER};1.2;AES256;{id}"),
        _ => format!("{HEADER};1.1;AES256"),
    };
    let mut out = header;
    out.push('\n');
    for line in body.as_bytes().chunks(LINE_WIDTH) {
        out.push_str(std::str::from_utf8(line).expect("hex is ASCII"));
        out.push('\n');
    }
    out
}

fn unhex(text: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(text.trim()).map_err(|e| VaultError::Format(format!("unhexlify error: {e}")))
}

/// PKCS#7 to 16-byte blocks: always 1 to 16 bytes, each the count.
fn pad(data: &mut Vec<u8>) {
    let count = 16 - data.len() % 16;
    data.extend(std::iter::repeat_n(count as u8, count));
}

fn unpad(data: &mut Vec<u8>) -> Result<(), VaultError> {
    let bad = || VaultError::Format("the padding of the plaintext is invalid".to_string());
    let count = *data.last().ok_or_else(bad)? as usize;
    if count == 0 || count > 16 || count > data.len() {
        return Err(bad());
    }
    if !data[data.len() - count..]
        .iter()
        .all(|&b| b as usize == count)
    {
        return Err(bad());
    }
    data.truncate(data.len() - count);
    Ok(())
}

/// Whether an error message is one of the vault's own (a missing or wrong secret), which
/// ansible-playbook reports with exit code 1.
pub fn is_vault_error(message: &str) -> bool {
    [VaultError::NoSecrets, VaultError::NoSecretDecrypts]
        .iter()
        .any(|error| message.starts_with(&error.to_string()))
}

/// The secrets of this run, for every reader of files and values.
static INSTALLED: RwLock<Option<Arc<VaultSecrets>>> = RwLock::new(None);

/// Makes these secrets the ones every later read uses.
pub fn install(secrets: VaultSecrets) {
    *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(secrets));
}

/// The secrets of this run; none when none were given.
pub fn installed() -> Arc<VaultSecrets> {
    INSTALLED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Reads a file as the loader should see it: a vault file decrypted with the installed
/// secrets (the error names the file), any other file as it is.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read `{}`: {e}", crate::source::display_path(path)))?;
    decrypt_file_content(bytes, path)
}

/// [`read_file`] for text to parse, no larger than [`crate::source::MAX_INPUT_BYTES`].
pub fn read_to_string(path: &std::path::Path) -> Result<String, String> {
    let bytes = decrypt_file_content(crate::source::read_input(path)?, path)?;
    String::from_utf8(bytes)
        .map_err(|_| format!("`{}` is not UTF-8", crate::source::display_path(path)))
}

/// File content as the loader should see it: vault files decrypted with the installed
/// secrets, anything else unchanged. The error names the file.
pub fn decrypt_file_content(bytes: Vec<u8>, path: &std::path::Path) -> Result<Vec<u8>, String> {
    if !is_encrypted(&bytes) {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    installed()
        .decrypt(&text)
        .map(|(plaintext, _)| plaintext)
        .map_err(|error| format!("{error} on `{}`", crate::source::display_path(path)))
}

#[cfg(test)]
mod tests;
