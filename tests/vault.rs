//! Ansible Vault against the real `ansible-vault` (ansible-core 2.19): what rplay encrypts
//! ansible-vault reads, what ansible-vault encrypts rplay reads in playbooks, vars_files,
//! group_vars and inline `!vault` values, and the errors say what Ansible says.
//!
//! Environment: `RPLAY_ANSIBLE_VAULT`, else `.venv/bin/ansible-vault` (made by
//! `tests/run`). Without it these tests fail; they never skip.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ansible_vault() -> PathBuf {
    let path = std::env::var_os("RPLAY_ANSIBLE_VAULT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/ansible-vault"));
    if !path.is_file() {
        panic!(
            "ansible-vault not found at `{}`: these tests compare rplay with the real \
             ansible-vault. Run them with `tests/run`, which installs ansible-core into .venv, \
             or set RPLAY_ANSIBLE_VAULT.",
            path.display()
        );
    }
    path
}

/// A scratch directory with two password files: `pw` (hunter2) and `pw2` (other-pass).
struct Rig {
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let rig = Rig {
            dir: tempfile::tempdir().unwrap(),
        };
        rig.write("pw", "hunter2\n");
        rig.write("pw2", "other-pass\n");
        rig
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn rplay(&self, args: &[&str]) -> Output {
        self.run(Path::new(env!("CARGO_BIN_EXE_rplay")), args, "")
    }

    fn ansible_vault(&self, args: &[&str]) -> Output {
        self.run(&ansible_vault(), args, "")
    }
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn ansible_vault_reads_what_rplay_encrypts() {
    let rig = Rig::new();
    rig.write("plain.yml", "answer: 42\n");
    ok(rig.rplay(&[
        "vault",
        "encrypt",
        "--vault-password-file",
        &rig.arg("pw"),
        "plain.yml",
    ]));
    assert!(rig
        .read("plain.yml")
        .starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    let shown =
        ok(rig.ansible_vault(&["view", "--vault-password-file", &rig.arg("pw"), "plain.yml"]));
    assert_eq!(shown, "answer: 42\n");

    rig.write("id.yml", "with an id\n");
    let vault_id = format!("prod@{}", rig.arg("pw2"));
    ok(rig.rplay(&[
        "vault",
        "encrypt",
        "--vault-id",
        &vault_id,
        "--output",
        "id.vault",
        "id.yml",
    ]));
    assert!(rig
        .read("id.vault")
        .starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    ok(rig.ansible_vault(&[
        "decrypt",
        "--vault-id",
        &vault_id,
        "--output",
        "id.out",
        "id.vault",
    ]));
    assert_eq!(rig.read("id.out"), "with an id\n");

    let value = ok(rig.rplay(&[
        "vault",
        "encrypt_string",
        "--vault-password-file",
        &rig.arg("pw"),
        "--name",
        "token",
        "s3cret value",
    ]));
    assert!(value.starts_with("token: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"));
    // ansible-vault reads an encrypted string as a file once the YAML indent is gone.
    let envelope: String = value
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    rig.write("token.vault", &envelope);
    ok(rig.ansible_vault(&[
        "decrypt",
        "--vault-password-file",
        &rig.arg("pw"),
        "--output",
        "token.out",
        "token.vault",
    ]));
    assert_eq!(rig.read("token.out"), "s3cret value");
}

#[test]
fn rplay_reads_what_ansible_vault_encrypts() {
    let rig = Rig::new();
    rig.write("a.yml", "from: ansible\n");
    ok(rig.ansible_vault(&["encrypt", "--vault-password-file", &rig.arg("pw"), "a.yml"]));
    let shown = ok(rig.rplay(&[
        "vault",
        "view",
        "--vault-password-file",
        &rig.arg("pw"),
        "a.yml",
    ]));
    assert_eq!(shown, "from: ansible\n");
    ok(rig.rplay(&[
        "vault",
        "decrypt",
        "--vault-password-file",
        &rig.arg("pw"),
        "a.yml",
    ]));
    assert_eq!(rig.read("a.yml"), "from: ansible\n");
    // encrypt_string reading standard input, then decrypted from the stdin of rplay.
    let value = ok(rig.run(
        &ansible_vault(),
        &[
            "encrypt_string",
            "--vault-password-file",
            &rig.arg("pw"),
            "--stdin-name",
            "x",
        ],
        "from stdin",
    ));
    let envelope: String = value
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let plain = ok(rig.run(
        Path::new(env!("CARGO_BIN_EXE_rplay")),
        &["vault", "decrypt", "--vault-password-file", &rig.arg("pw")],
        &envelope,
    ));
    assert_eq!(plain, "from stdin");
}

/// A playbook that reads an inline value, a vars_file and group_vars, each encrypted by
/// ansible-vault, two of them under different vault ids, and writes them to `out.txt`.
fn vaulted_playbook(rig: &Rig) {
    let vault_id_prod = format!("prod@{}", rig.arg("pw2"));
    rig.write("group_vars/all.yml", "group_secret: from group_vars\n");
    ok(rig.ansible_vault(&[
        "encrypt",
        "--vault-id",
        &vault_id_prod,
        "group_vars/all.yml",
    ]));
    rig.write("secret.yml", "file_secret: from vars_files\n");
    ok(rig.ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &rig.arg("pw"),
        "secret.yml",
    ]));
    let inline = ok(rig.ansible_vault(&[
        "encrypt_string",
        "--vault-password-file",
        &rig.arg("pw"),
        "--name",
        "inline_secret",
        "inline {{ value",
    ]));
    let inline: String = inline.lines().map(|l| format!("    {l}\n")).collect();
    rig.write(
        "play.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  vars_files: [secret.yml]\n  vars:\n{inline}  tasks:\n    - copy:\n        dest: \"{{{{ playbook_dir }}}}/out.txt\"\n        content: \"{{{{ inline_secret }}}} {{{{ file_secret }}}} {{{{ group_secret }}}}\\n\"\n"
        ),
    );
}

#[test]
fn a_playbook_uses_vaulted_files_and_values_with_two_vault_ids() {
    let rig = Rig::new();
    vaulted_playbook(&rig);
    // A password script, as Ansible runs an executable password file.
    rig.write("pw.sh", "#!/bin/sh\necho hunter2\n");
    std::fs::set_permissions(rig.path("pw.sh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let prod = format!("prod@{}", rig.arg("pw2"));
    let dev = format!("dev@{}", rig.arg("pw.sh"));
    ok(rig.rplay(&[
        "-i",
        "localhost,",
        "-c",
        "local",
        "play.yml",
        "--vault-id",
        &dev,
        "--vault-id",
        &prod,
    ]));
    // The inline value is not a template: its `{{` stays as it is.
    assert_eq!(
        rig.read("out.txt"),
        "inline {{ value from vars_files from group_vars\n"
    );
}

#[test]
fn missing_and_wrong_secrets_fail_as_ansible_playbook_does() {
    let rig = Rig::new();
    vaulted_playbook(&rig);
    let output = rig.rplay(&["-i", "localhost,", "-c", "local", "play.yml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: Attempting to decrypt but no vault secrets found on `group_vars/all.yml`\n"
    );
    // Only the prod secret: group_vars opens, secret.yml does not.
    let prod = format!("prod@{}", rig.arg("pw2"));
    let output = rig.rplay(&[
        "-i",
        "localhost,",
        "-c",
        "local",
        "play.yml",
        "--vault-id",
        &prod,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: Decryption failed (no vault secrets were found that could decrypt) on `secret.yml`"
        ),
        "{stderr}"
    );
    assert!(!rig.path("out.txt").exists());
}

#[test]
fn an_inline_value_needs_its_secret_only_when_used() {
    let rig = Rig::new();
    let inline = ok(rig.ansible_vault(&[
        "encrypt_string",
        "--vault-password-file",
        &rig.arg("pw"),
        "--name",
        "unused",
        "the plaintext",
    ]));
    let inline: String = inline.lines().map(|l| format!("    {l}\n")).collect();
    rig.write(
        "play.yml",
        &format!("- hosts: localhost\n  gather_facts: false\n  vars:\n{inline}  tasks:\n    - debug: msg=fine\n    - debug: msg=\"{{{{ unused }}}}\"\n"),
    );
    let output = rig.rplay(&[
        "-i",
        "localhost,",
        "-c",
        "local",
        "play.yml",
        "--vault-password-file",
        &rig.arg("pw2"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("\"msg\": \"fine\""), "{stdout}");
    assert!(
        stdout.contains("Decryption failed (no vault secrets were found that could decrypt)"),
        "{stdout}"
    );
    assert!(!stdout.contains("the plaintext") && !stderr.contains("the plaintext"));
}

/// `--ask-vault-pass` without a terminal (the run is its own session, as in CI) reads the
/// password from standard input, once, beside a `--vault-id` from a file.
#[test]
fn ask_vault_pass_reads_the_password_from_standard_input() {
    let rig = Rig::new();
    vaulted_playbook(&rig);
    let prod = format!("prod@{}", rig.arg("pw2"));
    let password = rig.read("pw");
    let args = [
        Path::new(env!("CARGO_BIN_EXE_rplay")).to_str().unwrap(),
        "-i",
        "localhost,",
        "-c",
        "local",
        "play.yml",
        "--vault-id",
        &prod,
        "--ask-vault-pass",
    ];
    let output = rig.run(
        Path::new("setsid"),
        &args,
        &format!("{}\n", password.trim()),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Vault password: "), "{stderr}");
    assert!(!stderr.contains(password.trim()), "{stderr}");
    assert_eq!(
        rig.read("out.txt"),
        "inline {{ value from vars_files from group_vars\n"
    );

    // A wrong answer fails as a wrong password file does.
    std::fs::remove_file(rig.path("out.txt")).unwrap();
    let output = rig.run(Path::new("setsid"), &args, "not the password\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Decryption failed"), "{stderr}");
    assert!(!rig.path("out.txt").exists());
}

#[test]
fn ansible_cfg_names_the_password_file_for_both_tools() {
    // Each tool finds `vault_password_file` in the working directory's ansible.cfg, the
    // path relative to the file's directory.
    let rig = Rig::new();
    rig.write("ansible.cfg", "[defaults]\nvault_password_file = pw\n");
    rig.write("a.yml", "from: rplay\n");
    ok(rig.rplay(&["vault", "encrypt", "a.yml"]));
    assert!(rig.read("a.yml").starts_with("$ANSIBLE_VAULT;1.1;AES256"));
    assert_eq!(ok(rig.ansible_vault(&["view", "a.yml"])), "from: rplay\n");
    assert_eq!(ok(rig.rplay(&["vault", "view", "a.yml"])), "from: rplay\n");
}
