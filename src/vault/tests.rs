//! Known vectors written by ansible-core 2.19's `ansible-vault` (`tests/vault/`), and
//! round trips of our own output.

use super::*;

const V11: &str = include_str!("../../tests/vault/v11.vault");
const V12_PROD: &str = include_str!("../../tests/vault/v12-prod.vault");
const INLINE: &str = include_str!("../../tests/vault/inline.yml");

fn secrets(entries: &[(&str, &str)]) -> VaultSecrets {
    let mut secrets = VaultSecrets::new();
    for (id, password) in entries {
        secrets.push(*id, Secret::new(*password));
    }
    secrets
}

#[test]
fn reads_what_ansible_vault_wrote() {
    let (plaintext, id) = secrets(&[("default", "hunter2")]).decrypt(V11).unwrap();
    assert_eq!(plaintext, b"secret: \"vaulted file value\"\n");
    assert_eq!(id, "default");
    let envelope = Envelope::parse(V12_PROD).unwrap();
    assert_eq!(envelope.version, "1.2");
    assert_eq!(envelope.vault_id.as_deref(), Some("prod"));
    let (plaintext, id) = secrets(&[("dev", "hunter2"), ("prod", "other-pass")])
        .decrypt(V12_PROD)
        .unwrap();
    assert_eq!(plaintext, b"secret: \"vaulted file value\"\n");
    assert_eq!(id, "prod");
}

#[test]
fn reads_an_inline_value_with_its_indentation() {
    let body = INLINE.split_once('|').unwrap().1;
    let (plaintext, _) = secrets(&[("default", "hunter2")]).decrypt(body).unwrap();
    assert_eq!(plaintext, b"inline s3cret");
}

#[test]
fn a_secret_under_another_id_is_still_tried() {
    // The header's id is a hint, not a requirement, as in Ansible.
    let (_, id) = secrets(&[("prod", "wrong"), ("other", "other-pass")])
        .decrypt(V12_PROD)
        .unwrap();
    assert_eq!(id, "other");
}

#[test]
fn wrong_and_missing_secrets_say_so_as_ansible_does() {
    assert_eq!(
        secrets(&[("default", "nope")])
            .decrypt(V11)
            .unwrap_err()
            .to_string(),
        "Decryption failed (no vault secrets were found that could decrypt)"
    );
    assert_eq!(
        VaultSecrets::new().decrypt(V11).unwrap_err().to_string(),
        "Attempting to decrypt but no vault secrets found"
    );
}

#[test]
fn round_trips_and_writes_ansible_layout() {
    let secret = Secret::new("pw");
    for (plaintext, id) in [
        (&b""[..], None),
        (b"exactly sixteen!", Some("default")),
        (&[b'x'; 200][..], Some("prod")),
    ] {
        let text = encrypt(plaintext, &secret, id);
        let header = text.lines().next().unwrap();
        match id {
            Some("prod") => assert_eq!(header, "$ANSIBLE_VAULT;1.2;AES256;prod"),
            _ => assert_eq!(header, "$ANSIBLE_VAULT;1.1;AES256"),
        }
        assert!(text.ends_with('\n'));
        let body: Vec<&str> = text.lines().skip(1).collect();
        assert!(body.iter().all(|line| line.len() <= 80));
        assert!(body[..body.len() - 1].iter().all(|line| line.len() == 80));
        let mut one = VaultSecrets::new();
        one.push("default", secret.clone());
        assert_eq!(one.decrypt(&text).unwrap().0, plaintext);
    }
}

#[test]
fn a_fixed_salt_gives_a_fixed_envelope() {
    let salt = [7u8; 32];
    let first = encrypt_with_salt(b"data", &Secret::new("pw"), None, &salt);
    let again = encrypt_with_salt(b"data", &Secret::new("pw"), None, &salt);
    assert_eq!(first, again);
    assert_ne!(first, encrypt(b"data", &Secret::new("pw"), None));
}

#[test]
fn damaged_data_is_a_format_error() {
    let mut damaged = V11.to_string();
    damaged.push_str("zz\n");
    assert!(matches!(
        secrets(&[("default", "hunter2")]).decrypt(&damaged),
        Err(VaultError::Format(_))
    ));
    let tampered = V11.replacen("3938", "3939", 1);
    assert_eq!(
        secrets(&[("default", "hunter2")]).decrypt(&tampered),
        Err(VaultError::NoSecretDecrypts)
    );
    assert!(matches!(
        Envelope::parse("$ANSIBLE_VAULT;1.1;AES\n00\n"),
        Err(VaultError::UnknownCipher(_))
    ));
}

#[test]
fn padding_is_pkcs7() {
    let mut data = b"abc".to_vec();
    pad(&mut data);
    assert_eq!(data.len(), 16);
    assert_eq!(data[15], 13);
    unpad(&mut data).unwrap();
    assert_eq!(data, b"abc");
    let mut full = vec![16u8; 16];
    unpad(&mut full).unwrap();
    assert!(full.is_empty());
    assert!(unpad(&mut vec![1, 2, 0]).is_err());
}
