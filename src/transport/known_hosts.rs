//! `known_hosts` files, read as OpenSSH reads them, so that a host trusted by `ssh` is
//! trusted by rplay and a changed key is refused by both.
//!
//! A line is `[@marker] hosts keytype base64 [comment]`. The host field is a pattern list
//! (see [`HostPatterns`]) or one hashed name, `|1|salt|hmac-sha1(salt, name)` in base64,
//! which is what `HashKnownHosts yes` (Debian's default) writes. A host on a port other
//! than 22 is written `[host]:port`. `@cert-authority` lines name a CA whose host
//! certificates are trusted for the hosts matched; `@revoked` lines name keys never to
//! accept. Lines that cannot be read are skipped, as `ssh` skips them.

use super::host_pattern::HostPatterns;
use base64::Engine as _;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg, PublicKey};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// What to do with a host key that `known_hosts` does not vouch for.
///
/// A key that differs from the one recorded for the host is refused whatever the policy:
/// it is what an impostor presents, and a rebuilt host is fixed by removing one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyChecking {
    /// Refuse unknown keys (`StrictHostKeyChecking yes`, the default).
    Strict,
    /// Record an unknown key and go on (`accept-new`). Ansible's `host_key_checking =
    /// False` and `StrictHostKeyChecking no` mean this too: unlike `ssh -o
    /// StrictHostKeyChecking=no`, they never let a changed key through.
    AcceptNew,
}

impl HostKeyChecking {
    /// Reads the spellings of `StrictHostKeyChecking` and of Ansible's boolean setting;
    /// `off` is the command line's word for Ansible's `False`.
    pub fn parse(text: &str) -> Option<HostKeyChecking> {
        match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "strict" | "ask" => Some(HostKeyChecking::Strict),
            "accept-new" | "accept_new" | "no" | "false" | "off" | "0" => {
                Some(HostKeyChecking::AcceptNew)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
enum HostField {
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    Patterns(HostPatterns),
}

impl HostField {
    fn matches(&self, name: &str) -> bool {
        match self {
            HostField::Hashed { salt, hash } => hash_name(name, salt) == hash.as_slice(),
            HostField::Patterns(patterns) => patterns.matches(name),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    marker: Marker,
    hosts: HostField,
    key: PublicKey,
    line: usize,
}

/// One `known_hosts` file, parsed.
#[derive(Debug, Clone)]
pub struct KnownHostsFile {
    pub path: PathBuf,
    entries: Vec<Entry>,
}

impl KnownHostsFile {
    /// Parses the text of a file; lines that cannot be read are left out.
    pub fn parse(path: &Path, text: &str) -> KnownHostsFile {
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| parse_line(line, index + 1))
            .collect();
        KnownHostsFile {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// Reads a file through a cache kept for the whole run: a thousand hosts checked
    /// against one file parse it once. A missing file is an empty one.
    pub fn load(path: &Path) -> Arc<KnownHostsFile> {
        type Cache = Mutex<HashMap<PathBuf, (Option<(SystemTime, u64)>, Arc<KnownHostsFile>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let stamp = std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let cache = CACHE.get_or_init(Default::default);
        if let Some((cached_stamp, file)) = cache.lock().expect("cache lock").get(path) {
            if *cached_stamp == stamp && stamp.is_some() {
                return file.clone();
            }
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let file = Arc::new(KnownHostsFile::parse(path, &text));
        cache
            .lock()
            .expect("cache lock")
            .insert(path.to_path_buf(), (stamp, file.clone()));
        file
    }
}

fn parse_line(line: &str, number: usize) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (marker, rest) = match line.split_once(char::is_whitespace) {
        Some(("@cert-authority", rest)) => (Marker::CertAuthority, rest.trim_start()),
        Some(("@revoked", rest)) => (Marker::Revoked, rest.trim_start()),
        Some((word, _)) if word.starts_with('@') => return None,
        _ => (Marker::None, line),
    };
    let (hosts, key_text) = rest.split_once(char::is_whitespace)?;
    let hosts = match hosts.strip_prefix("|1|") {
        Some(hashed) => {
            let (salt, hash) = hashed.split_once('|')?;
            let engine = base64::engine::general_purpose::STANDARD;
            HostField::Hashed {
                salt: engine.decode(salt).ok()?,
                hash: engine.decode(hash).ok()?,
            }
        }
        None => HostField::Patterns(HostPatterns::parse(hosts)),
    };
    let key = PublicKey::from_openssh(key_text.trim()).ok()?;
    Some(Entry {
        marker,
        hosts,
        key,
        line: number,
    })
}

/// HMAC-SHA1 of a host name under a salt: the hashed form `ssh-keygen -H` writes.
pub fn hash_name(name: &str, salt: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
    ring::hmac::sign(&key, name.as_bytes()).as_ref().to_vec()
}

/// The name a host's key is filed under: `host` on port 22, `[host]:port` elsewhere.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// What `known_hosts` says about a key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// No line for this host holds a key of this type.
    Unknown,
    /// A line for this host holds another key of the same type.
    Changed { path: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { path: PathBuf, line: usize },
}

/// The `known_hosts` files in force for one host, user files first.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    files: Vec<Arc<KnownHostsFile>>,
}

impl KnownHosts {
    pub fn load(paths: &[PathBuf]) -> KnownHosts {
        KnownHosts {
            files: paths.iter().map(|p| KnownHostsFile::load(p)).collect(),
        }
    }

    pub fn from_files(files: Vec<KnownHostsFile>) -> KnownHosts {
        KnownHosts {
            files: files.into_iter().map(Arc::new).collect(),
        }
    }

    fn entries_for<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a KnownHostsFile, &'a Entry)> + 'a {
        self.files.iter().flat_map(move |file| {
            file.entries
                .iter()
                .filter(move |entry| entry.hosts.matches(name))
                .map(move |entry| (file.as_ref(), entry))
        })
    }

    /// Judges a plain host key presented under `name` (see [`host_key_name`]).
    pub fn check_key(&self, name: &str, key: &PublicKey) -> Verdict {
        let mut changed = None;
        let mut known = false;
        for (file, entry) in self.entries_for(name) {
            let same_key = entry.key.key_data() == key.key_data();
            match entry.marker {
                Marker::Revoked if same_key => {
                    return Verdict::Revoked {
                        path: file.path.clone(),
                        line: entry.line,
                    }
                }
                Marker::None if same_key => known = true,
                Marker::None if entry.key.algorithm() == key.algorithm() => {
                    changed.get_or_insert((file.path.clone(), entry.line));
                }
                _ => {}
            }
        }
        // As in OpenSSH, one line vouching for the key is enough, whatever others say.
        if known {
            return Verdict::Known;
        }
        match changed {
            Some((path, line)) => Verdict::Changed { path, line },
            None => Verdict::Unknown,
        }
    }

    /// Whether a CA is trusted for `name`: then the host is asked for its certificate.
    pub fn has_authority(&self, name: &str) -> bool {
        self.entries_for(name)
            .any(|(_, entry)| entry.marker == Marker::CertAuthority)
    }

    /// Checks a host certificate presented under `name`: signed by a CA that a
    /// `@cert-authority` line trusts for `name`, in its validity period, a host (not a
    /// user) certificate, and naming `principal` (the host name without port).
    pub fn check_certificate(
        &self,
        name: &str,
        principal: &str,
        certificate: &Certificate,
    ) -> Result<(), String> {
        let authorities: Vec<_> = self
            .entries_for(name)
            .filter(|(_, entry)| entry.marker == Marker::CertAuthority)
            .map(|(_, entry)| entry.key.fingerprint(HashAlg::Sha256))
            .collect();
        for (file, entry) in self.entries_for(name) {
            if entry.marker == Marker::Revoked
                && (entry.key.key_data() == certificate.signature_key()
                    || entry.key.key_data() == certificate.public_key())
            {
                return Err(format!(
                    "its key or CA is marked @revoked in {}:{}",
                    display_path(&file.path),
                    entry.line
                ));
            }
        }
        if authorities.is_empty() {
            return Err("no @cert-authority line matches the host".to_string());
        }
        certificate
            .validate(authorities.iter())
            .map_err(|e| format!("the certificate is not valid: {e}"))?;
        if certificate.cert_type() != CertType::Host {
            return Err("the certificate is a user certificate, not a host one".to_string());
        }
        let principal = principal.to_ascii_lowercase();
        if !certificate
            .valid_principals()
            .iter()
            .any(|p| p.to_ascii_lowercase() == principal)
        {
            return Err(format!(
                "the certificate does not name `{principal}` among its principals ({})",
                certificate.valid_principals().join(", ")
            ));
        }
        Ok(())
    }

    /// Key types already on file for `name`, so that negotiation asks the host for a key
    /// that can be checked (a host known by its RSA key is asked for that, not ed25519).
    pub fn known_algorithms(&self, name: &str) -> Vec<Algorithm> {
        let mut algorithms = Vec::new();
        for (_, entry) in self.entries_for(name) {
            if entry.marker != Marker::None {
                continue;
            }
            let found = match entry.key.algorithm() {
                Algorithm::Rsa { .. } => vec![
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                    Algorithm::Rsa { hash: None },
                ],
                other => vec![other],
            };
            for algorithm in found {
                if !algorithms.contains(&algorithm) {
                    algorithms.push(algorithm);
                }
            }
        }
        algorithms
    }
}

/// The line recorded for a newly accepted key, hashed when `HashKnownHosts` asks for it.
pub fn entry_line(name: &str, key: &PublicKey, hashed: bool) -> String {
    let key_text = PublicKey::new(key.key_data().clone(), "")
        .to_openssh()
        .unwrap_or_default();
    if hashed {
        use rand::RngCore;
        let mut salt = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut salt);
        let engine = base64::engine::general_purpose::STANDARD;
        format!(
            "|1|{}|{} {}",
            engine.encode(salt),
            engine.encode(hash_name(name, &salt)),
            key_text.trim()
        )
    } else {
        format!("{name} {}", key_text.trim())
    }
}

/// Appends a line to a `known_hosts` file, creating it (and `~/.ssh`) when missing.
/// Hosts connecting at once append one whole line each, under one lock.
pub fn record(path: &Path, line: &str) -> std::io::Result<()> {
    static WRITE: Mutex<()> = Mutex::new(());
    let _guard = WRITE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

/// A path as people write it: `~/.ssh/known_hosts` rather than `/root/.ssh/known_hosts`.
pub fn display_path(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        if let Ok(rest) = path.strip_prefix(&home) {
            return format!("~/{}", rest.display());
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINJ4Kg2MmEbwSSVxoKtDV0PQvsFeCiIKbmi+3bcuZvzt";
    const ED25519_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILTIc5+iDGy98cjRrgsAGO6uOTeyMFJVTSPKzb37Vo91";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn known(text: &str) -> KnownHosts {
        KnownHosts::from_files(vec![KnownHostsFile::parse(
            Path::new("/k/known_hosts"),
            text,
        )])
    }

    #[test]
    fn plain_entries_with_ports_and_patterns() {
        let hosts = known(&format!(
            "# comment\n[127.0.0.1]:22001 {ED25519_A}\nweb*.example.com,!web9.example.com {ED25519_A}\n"
        ));
        let a = key(ED25519_A);
        assert_eq!(hosts.check_key("[127.0.0.1]:22001", &a), Verdict::Known);
        assert_eq!(hosts.check_key("[127.0.0.1]:22002", &a), Verdict::Unknown);
        assert_eq!(hosts.check_key("127.0.0.1", &a), Verdict::Unknown);
        assert_eq!(hosts.check_key("WEB1.example.com", &a), Verdict::Known);
        assert_eq!(hosts.check_key("web9.example.com", &a), Verdict::Unknown);
    }

    #[test]
    fn a_different_key_of_the_same_type_is_a_change_naming_the_line() {
        let hosts = known(&format!("\n\nserver1 {ED25519_A}\n"));
        assert_eq!(
            hosts.check_key("server1", &key(ED25519_B)),
            Verdict::Changed {
                path: PathBuf::from("/k/known_hosts"),
                line: 3
            }
        );
    }

    #[test]
    fn hashed_entries_match_the_name_they_hash() {
        let salt = [7u8; 20];
        let engine = base64::engine::general_purpose::STANDARD;
        let line = format!(
            "|1|{}|{} {ED25519_A}",
            engine.encode(salt),
            engine.encode(hash_name("server1", &salt))
        );
        let hosts = known(&line);
        assert_eq!(hosts.check_key("server1", &key(ED25519_A)), Verdict::Known);
        assert_eq!(
            hosts.check_key("server2", &key(ED25519_A)),
            Verdict::Unknown
        );
        // And a line we record hashed is read back.
        let recorded = entry_line("[10.0.0.5]:2222", &key(ED25519_B), true);
        assert!(recorded.starts_with("|1|"), "{recorded}");
        let hosts = known(&recorded);
        assert_eq!(
            hosts.check_key("[10.0.0.5]:2222", &key(ED25519_B)),
            Verdict::Known
        );
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // Test case 2 of RFC 2202.
        assert_eq!(
            hex::encode(hash_name("what do ya want for nothing?", b"Jefe")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn hashed_line_written_by_ssh_keygen() {
        // `ssh-keygen -H` output for `localhost`.
        let line =
            format!("|1|LfuAe22u08CMumateQQZxPt2ZSU=|tczIyxyzjMcF95Hip/uTKC/8UjU= {ED25519_A}");
        assert_eq!(
            known(&line).check_key("localhost", &key(ED25519_A)),
            Verdict::Known
        );
        assert_eq!(
            known(&line).check_key("localhost2", &key(ED25519_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let hosts = known(&format!("@revoked * {ED25519_A}\nserver1 {ED25519_A}\n"));
        assert!(matches!(
            hosts.check_key("server1", &key(ED25519_A)),
            Verdict::Revoked { line: 1, .. }
        ));
    }

    #[test]
    fn unreadable_lines_and_unknown_markers_are_skipped() {
        let hosts = known(&format!(
            "garbage\n@future host {ED25519_A}\nhost ssh-ed25519 notbase64\nhost {ED25519_A}\n"
        ));
        assert_eq!(hosts.check_key("host", &key(ED25519_A)), Verdict::Known);
    }

    #[test]
    fn cert_authority_lines_ask_for_certificates() {
        let hosts = known(&format!("@cert-authority *.example.com {ED25519_A}\n"));
        assert!(hosts.has_authority("a.example.com"));
        assert!(!hosts.has_authority("a.example.org"));
        // A CA line does not vouch for a plain key.
        assert_eq!(
            hosts.check_key("a.example.com", &key(ED25519_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn known_algorithms_lead_negotiation() {
        let hosts = known(&format!("server1 {ED25519_A}\n"));
        assert_eq!(hosts.known_algorithms("server1"), vec![Algorithm::Ed25519]);
        assert!(hosts.known_algorithms("server2").is_empty());
    }

    #[test]
    fn settings_spellings() {
        assert_eq!(
            HostKeyChecking::parse("False"),
            Some(HostKeyChecking::AcceptNew)
        );
        assert_eq!(
            HostKeyChecking::parse("accept-new"),
            Some(HostKeyChecking::AcceptNew)
        );
        assert_eq!(HostKeyChecking::parse("yes"), Some(HostKeyChecking::Strict));
        assert_eq!(HostKeyChecking::parse("maybe"), None);
    }
}
