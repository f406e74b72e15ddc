//! `rplay vault encrypt|decrypt|view|encrypt_string`, with `ansible-vault`'s options and
//! output, so scripts written for one work with the other.

use super::VaultSecrets;
use crate::cli::VaultOptions;
use crate::diagnostic::Diagnostic;
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

#[derive(Debug, Parser)]
#[command(
    name = "rplay vault",
    about = "Encrypts and decrypts Ansible Vault files and values"
)]
pub struct VaultArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Encrypts files in place (or into --output); standard input when none or `-`.
    Encrypt {
        files: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Decrypts files in place (or into --output); standard input when none or `-`.
    Decrypt {
        files: Vec<String>,
        #[arg(long = "output", value_name = "FILE")]
        output: Option<String>,
        #[command(flatten)]
        vault: VaultOptions,
    },
    /// Prints the plaintext of vault files.
    View {
        #[arg(required = true)]
        files: Vec<String>,
        #[command(flatten)]
        vault: VaultOptions,
    },
    /// Encrypts a string as a YAML `!vault` value; standard input when none or `-`.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString {
        strings: Vec<String>,
        /// The variable name the value is written under (repeatable, one per string).
        #[arg(short = 'n', long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// The variable name for the value read from standard input.
        #[arg(long = "stdin-name", value_name = "NAME")]
        stdin_name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// The options of the commands that encrypt.
#[derive(Debug, clap::Args)]
pub struct Target {
    #[arg(long = "output", value_name = "FILE")]
    output: Option<String>,
    /// The vault id to encrypt with, when several secrets are given.
    #[arg(long = "encrypt-vault-id", value_name = "ID")]
    encrypt_vault_id: Option<String>,
    #[command(flatten)]
    vault: VaultOptions,
}

/// Exit code of `ansible-vault` for any error.
pub const EXIT_ERROR: i32 = 1;

pub fn run(args: VaultArgs) -> Result<i32, Diagnostic> {
    match perform(args.action) {
        Ok(()) => Ok(0),
        Err(diagnostic) => {
            crate::cli::print_error(&diagnostic);
            Ok(EXIT_ERROR)
        }
    }
}

fn perform(action: Action) -> Result<(), Diagnostic> {
    match action {
        Action::Encrypt { files, target } => {
            let secrets = target.vault.secrets(true)?;
            let (id, secret) = encryption_secret(&secrets, &target)?;
            for_each_file(&files, target.output.as_deref(), |plaintext| {
                if super::is_encrypted(&plaintext) {
                    return Err("input is already encrypted".to_string());
                }
                Ok(super::encrypt(&plaintext, secret, Some(id)).into_bytes())
            })?;
            eprintln!("Encryption successful");
        }
        Action::Decrypt {
            files,
            output,
            vault,
        } => {
            let secrets = vault.secrets(false)?;
            for_each_file(&files, output.as_deref(), |text| decrypt(&secrets, &text))?;
            eprintln!("Decryption successful");
        }
        Action::View { files, vault } => {
            let secrets = vault.secrets(false)?;
            let mut stdout = std::io::stdout().lock();
            for file in &files {
                let text = read_input(file)?;
                let plaintext = decrypt(&secrets, &text)
                    .map_err(|e| Diagnostic::new(format!("{e} on {file}")))?;
                stdout
                    .write_all(&plaintext)
                    .map_err(|e| Diagnostic::new(format!("cannot write: {e}")))?;
            }
        }
        Action::EncryptString {
            strings,
            names,
            stdin_name,
            target,
        } => {
            let secrets = target.vault.secrets(true)?;
            let (id, secret) = encryption_secret(&secrets, &target)?;
            let mut values: Vec<(Option<String>, String)> = Vec::new();
            let from_stdin = strings.is_empty() || strings.iter().any(|s| s == "-");
            if from_stdin {
                if std::io::stdin().is_terminal() {
                    eprintln!("Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)");
                }
                let text = String::from_utf8(read_input("-")?)
                    .map_err(|_| Diagnostic::new("standard input is not UTF-8"))?;
                if text.is_empty() {
                    return Err(Diagnostic::new("stdin was empty, not encrypting"));
                }
                values.push((stdin_name.or_else(|| names.first().cloned()), text));
            }
            let mut names = names.into_iter();
            for string in strings.into_iter().filter(|s| s != "-") {
                values.push((names.next(), string));
            }
            let mut out = String::new();
            for (name, value) in values {
                let envelope = super::encrypt(value.as_bytes(), secret, Some(id));
                out.push_str(&yaml_value(name.as_deref(), &envelope));
            }
            write_output(target.output.as_deref(), out.as_bytes())?;
            eprintln!("Encryption successful");
        }
    }
    Ok(())
}

/// `NAME: !vault |` and the envelope indented as ansible-vault indents it.
fn yaml_value(name: Option<&str>, envelope: &str) -> String {
    let mut out = match name {
        Some(name) => format!("{name}: !vault |\n"),
        None => "!vault |\n".to_string(),
    };
    for line in envelope.lines() {
        out.push_str("          ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn encryption_secret<'a>(
    secrets: &'a VaultSecrets,
    target: &Target,
) -> Result<(&'a str, &'a crate::secret::Secret), Diagnostic> {
    if secrets.is_empty() {
        return Err(
            Diagnostic::new("A vault password is required to use Ansible's Vault").with_help(
                "give --vault-password-file FILE, --vault-id ID@SOURCE or --ask-vault-pass",
            ),
        );
    }
    secrets
        .for_encryption(target.encrypt_vault_id.as_deref())
        .map_err(Diagnostic::new)
}

fn decrypt(secrets: &VaultSecrets, text: &[u8]) -> Result<Vec<u8>, String> {
    if !super::is_encrypted(text) {
        return Err("input is not vault encrypted data".to_string());
    }
    secrets
        .decrypt(&String::from_utf8_lossy(text))
        .map(|(plaintext, _)| plaintext)
        .map_err(|e| e.to_string())
}

/// Runs `change` over each file (standard input when there is none) and writes the result
/// back in place, or into `output` (`-`: standard output).
fn for_each_file(
    files: &[String],
    output: Option<&str>,
    change: impl Fn(Vec<u8>) -> Result<Vec<u8>, String>,
) -> Result<(), Diagnostic> {
    let stdin = ["-".to_string()];
    let files = if files.is_empty() { &stdin[..] } else { files };
    if output.is_some() && files.len() > 1 {
        return Err(Diagnostic::new(
            "--output is only allowed with one input file",
        ));
    }
    for file in files {
        let changed =
            change(read_input(file)?).map_err(|e| Diagnostic::new(format!("{e} for {file}")))?;
        match output {
            Some(output) => write_output(Some(output), &changed)?,
            None if file == "-" => write_output(None, &changed)?,
            None => write_in_place(Path::new(file), &changed)?,
        }
    }
    Ok(())
}

fn read_input(file: &str) -> Result<Vec<u8>, Diagnostic> {
    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Diagnostic::new(format!("cannot read standard input: {e}")))?;
    } else {
        bytes = std::fs::read(file)
            .map_err(|e| Diagnostic::new(format!("cannot read `{file}`: {e}")))?;
    }
    Ok(bytes)
}

fn write_output(output: Option<&str>, bytes: &[u8]) -> Result<(), Diagnostic> {
    match output {
        None | Some("-") => std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| Diagnostic::new(format!("cannot write: {e}"))),
        Some(path) => write_in_place(Path::new(path), bytes),
    }
}

/// Replaces a file through a temporary file beside it, so a failure leaves the old one;
/// the mode of an existing file is kept (a new one is private, as ansible-vault makes it).
fn write_in_place(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| {
        Diagnostic::new(format!(
            "cannot write `{}`: {e}",
            crate::source::display_path(path)
        ))
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{name}.rplay-vault-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(fail)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(error));
    }
    Ok(())
}
