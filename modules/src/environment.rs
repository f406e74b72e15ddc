//! `$VAR` and `~user` expansion with the host's environment, as Ansible's modules do it.
//!
//! Ansible's modules run on the host, so `os.path.expandvars` and `os.path.expanduser`
//! (applied to `command` arguments and to every `path`-typed argument) see the host's
//! environment and password database, not the controller's. The environment is read with
//! one command, and only when some word needs it.

use crate::transport::{Exec, Transport, TransportError};
use std::collections::BTreeMap;

/// Prints the environment as NUL-terminated `NAME=value` records, an empty record, then
/// `NAME=home` for each user named in the arguments (an empty name is the current user).
const SCRIPT: &str = r#"env -0
printf '\0'
for name do
  if [ -z "$name" ]; then entry=$(getent passwd "$(id -u)"); else entry=$(getent passwd -- "$name"); fi
  [ -n "$entry" ] || continue
  home=${entry#*:*:*:*:*:}
  printf '%s=%s\0' "$name" "${home%%:*}"
done
"#;

/// The variables and home directories a command sees on the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostEnvironment {
    pub variables: BTreeMap<String, String>,
    /// Home directories by user name; `""` is the user the commands run as. A user that
    /// is looked up and missing is absent.
    pub homes: BTreeMap<String, String>,
    /// Every user looked up, found or not.
    looked_up: Vec<String>,
}

/// Whether Python's `expandvars` or `expanduser` could change `word`.
pub fn needs_expansion(word: &str) -> bool {
    word.contains('$') || word.starts_with('~')
}

impl HostEnvironment {
    /// Reads the environment and the home directories of `users`.
    pub async fn read(transport: &dyn Transport, users: &[String]) -> Result<Self, TransportError> {
        let mut argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            SCRIPT.to_string(),
            "rplay-env".to_string(),
        ];
        argv.extend(users.iter().cloned());
        let output = transport.run(&Exec::new(argv)).await?;
        if !output.success() {
            return Err(TransportError::Io(format!(
                "reading the environment: {}",
                output.stderr_text().trim()
            )));
        }
        let text = output.stdout_text();
        let mut records = text.split('\0');
        let mut variables = BTreeMap::new();
        for record in records.by_ref() {
            if record.is_empty() {
                break;
            }
            if let Some((name, value)) = record.split_once('=') {
                variables.insert(name.to_string(), value.to_string());
            }
        }
        let homes = records
            .filter_map(|record| record.split_once('='))
            .map(|(name, home)| (name.to_string(), home.to_string()))
            .collect();
        Ok(HostEnvironment {
            variables,
            homes,
            looked_up: users.to_vec(),
        })
    }

    /// Expands every word that needs it: variables first, then a leading `~` (Ansible's
    /// `expanduser(expandvars(word))`). Reads the host once, and a second time only for
    /// a `~user` that a variable produced.
    pub async fn expand_words(
        transport: &dyn Transport,
        words: &[String],
    ) -> Result<Vec<String>, TransportError> {
        if !words.iter().any(|word| needs_expansion(word)) {
            return Ok(words.to_vec());
        }
        let mut users: Vec<String> = words.iter().filter_map(|w| tilde_user(w)).collect();
        users.sort();
        users.dedup();
        let mut environment = HostEnvironment::read(transport, &users).await?;
        let expanded: Vec<String> = words.iter().map(|w| environment.expand_vars(w)).collect();
        let mut missing: Vec<String> = expanded
            .iter()
            .filter_map(|w| tilde_user(w))
            .filter(|user| !environment.looked_up.contains(user))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let more = HostEnvironment::read(transport, &missing).await?;
            environment.homes.extend(more.homes);
            environment.looked_up.extend(missing);
        }
        Ok(expanded
            .iter()
            .map(|word| environment.expand_user(word))
            .collect())
    }

    /// Python's `os.path.expandvars`: `$NAME` and `${NAME}` are replaced by the
    /// variable's value; unknown names, and a `$` that starts neither, stay as written.
    pub fn expand_vars(&self, text: &str) -> String {
        if !text.contains('$') {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            // Python's pattern: `\$(\w+|\{[^}]*\})`, with ASCII `\w`.
            let (name, length) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (Some(&braced[..end]), end + 2),
                    None => (None, 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                ((end > 0).then(|| &after[..end]), end)
            };
            match name.and_then(|name| self.variables.get(name)) {
                Some(value) => {
                    out.push_str(value);
                    rest = &after[length..];
                }
                None => {
                    // Not a variable here: keep the `$` and the unknown reference as written.
                    out.push('$');
                    out.push_str(&after[..length]);
                    rest = &after[length..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Python's `os.path.expanduser`: a leading `~` or `~user` becomes the home directory
    /// (`HOME` first for the current user); an unknown user leaves the word as written.
    pub fn expand_user(&self, word: &str) -> String {
        let Some(user) = tilde_user(word) else {
            return word.to_string();
        };
        let rest = &word[1 + user.len()..];
        let home = if user.is_empty() {
            self.variables.get("HOME").or_else(|| self.homes.get(""))
        } else {
            self.homes.get(&user)
        };
        let Some(home) = home else {
            return word.to_string();
        };
        let joined = format!("{}{rest}", home.trim_end_matches('/'));
        if joined.is_empty() {
            "/".to_string()
        } else {
            joined
        }
    }
}

/// The user a leading `~` names: `""` for `~` or `~/…`, `name` for `~name/…`. A numeric
/// name is left alone: `getent` would read it as a uid, Python as a name.
fn tilde_user(word: &str) -> Option<String> {
    let rest = word.strip_prefix('~')?;
    let name = rest.split('/').next().unwrap_or_default();
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalTransport;
    use crate::testing::CountingTransport;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn environment(variables: &[(&str, &str)], homes: &[(&str, &str)]) -> HostEnvironment {
        HostEnvironment {
            variables: variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            homes: homes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            looked_up: Vec::new(),
        }
    }

    #[test]
    fn expands_variables_like_python() {
        let env = environment(&[("HOME", "/root"), ("A", "$B"), ("EMPTY", "")], &[]);
        // Each expected value was printed by Python's os.path.expandvars with this
        // environment.
        for (input, expected) in [
            ("$HOME", "/root"),
            ("${HOME}x", "/rootx"),
            ("$HOMEx", "$HOMEx"),
            ("a$HOME/b", "a/root/b"),
            ("$NOPE ${NOPE}", "$NOPE ${NOPE}"),
            ("$$ $ ${ a$", "$$ $ ${ a$"),
            ("${}", "${}"),
            ("$A", "$B"),
            ("[$EMPTY]", "[]"),
            ("$1", "$1"),
            ("é$HOME", "é/root"),
        ] {
            assert_eq!(env.expand_vars(input), expected, "{input}");
        }
    }

    #[test]
    fn expands_a_leading_tilde_like_python() {
        let env = environment(&[("HOME", "/home/me/")], &[("", "/x"), ("root", "/root")]);
        assert_eq!(env.expand_user("~"), "/home/me");
        assert_eq!(env.expand_user("~/a"), "/home/me/a");
        assert_eq!(env.expand_user("~root/a"), "/root/a");
        assert_eq!(env.expand_user("~nobody-here/a"), "~nobody-here/a");
        assert_eq!(env.expand_user("a~"), "a~");
        let without_home = environment(&[], &[("", "/")]);
        assert_eq!(without_home.expand_user("~"), "/");
    }

    #[tokio::test]
    async fn reads_the_hosts_environment_once_and_only_when_needed() {
        let local = LocalTransport::new();
        let transport = CountingTransport {
            inner: &local,
            runs: AtomicUsize::new(0),
        };
        let words = vec!["plain".to_string(), "x".to_string()];
        assert_eq!(
            HostEnvironment::expand_words(&transport, &words)
                .await
                .unwrap(),
            words
        );
        let home = std::env::var("HOME").expect("HOME is set for tests");
        let words = vec![
            "$HOME".to_string(),
            "~/x".to_string(),
            "$RPLAY_SURELY_UNSET".to_string(),
        ];
        assert_eq!(
            HostEnvironment::expand_words(&transport, &words)
                .await
                .unwrap(),
            vec![
                home.clone(),
                format!("{}/x", home.trim_end_matches('/')),
                "$RPLAY_SURELY_UNSET".to_string()
            ]
        );
        assert_eq!(transport.runs.load(Ordering::SeqCst), 1);
        let root = HostEnvironment::read(&transport, &["root".to_string()])
            .await
            .unwrap();
        assert_eq!(root.homes.get("root").map(String::as_str), Some("/root"));
    }
}
