//! `deb822_repository`: an apt source in the deb822 format, in
//! `/etc/apt/sources.list.d/SLUG.sources` (the slug is `name` lowercased, runs of spaces
//! and underscores made `-`, anything else but letters, digits and `-` dropped).
//!
//! The file is written as Ansible writes it: the fields sorted by argument name (so
//! `Components` comes first and `X-Repolib-Name` sorts as `name`), booleans as `yes`/`no`,
//! lists joined by spaces, a multi-line value (an inline key) indented with `.` for blank
//! lines. `signed_by` may be a URL: the key is downloaded on the host and stored as
//! `/etc/apt/keyrings/SLUG.asc` (ASCII-armored) or `SLUG.gpg` (binary), mode 0644, and
//! the source points to it; a path or fingerprints are written as they are; an inline key
//! block goes into the file. Nothing needs doing when the file (and key) already have
//! exactly that content and the mode. `state: absent` removes the file and its key.
//! The apt cache is not updated: run `apt` with `update_cache` after a change.
//!
//! ```yaml
//! - name: Kubernetes packages
//!   deb822_repository:
//!     name: kubernetes
//!     uris: https://pkgs.k8s.io/core:/stable:/v1.31/deb/
//!     suites: /
//!     signed_by: https://pkgs.k8s.io/core:/stable:/v1.31/deb/Release.key
//! ```

use crate::apt_sources::{self, HostFile, KEYRINGS, SOURCES_PARTS};
use crate::args::file_mode::{self, Mode};
use crate::args::Presence;
use crate::args::{ansible_bool, list_or_csv, Args};
use crate::file::{mkdir_step, octal, text_diff};
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "deb822_repository",
    aliases: &[
        "ansible.builtin.deb822_repository",
        "ansible.legacy.deb822_repository",
    ],
    doc: include_str!("deb822_repository.rs"),
    free_form: None,
    build: crate::registry::build::<Deb822RepositoryArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deb822RepositoryArgs {
    /// The repository's name: `X-Repolib-Name`, and the slug of its file names.
    pub name: String,
    /// `deb`, `deb-src` or both.
    #[serde(default = "deb", deserialize_with = "list_or_csv::deserialize")]
    pub types: Vec<String>,
    /// The archives' base URIs.
    #[serde(default, deserialize_with = "optional_list")]
    pub uris: Option<Vec<String>>,
    /// Suites (`trixie`, `stable`), or an exact path ending in `/` without components.
    #[serde(default, deserialize_with = "optional_list")]
    pub suites: Option<Vec<String>>,
    /// Components (`main`, `contrib`).
    #[serde(default, deserialize_with = "optional_list")]
    pub components: Option<Vec<String>>,
    /// A URL of the key (stored under /etc/apt/keyrings), a keyring path, fingerprints, or
    /// an ASCII-armored key block.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// Architectures to fetch.
    #[serde(default, deserialize_with = "optional_list")]
    pub architectures: Option<Vec<String>>,
    /// Whether apt uses the source.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub enabled: Option<bool>,
    /// Trust the source without signatures.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub trusted: Option<bool>,
    /// Allow a previously signed repository to lose its signature.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub allow_downgrade_to_insecure: Option<bool>,
    /// Allow an unsigned repository.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub allow_insecure: Option<bool>,
    /// Allow weak signature digests.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub allow_weak: Option<bool>,
    /// Fetch indexes by their hash.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub by_hash: Option<bool>,
    /// Check that the Release file is not from the future.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub check_date: Option<bool>,
    /// Check the Release file's `Valid-Until`.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub check_valid_until: Option<bool>,
    /// How many seconds into the future a Release file may be dated.
    #[serde(default)]
    pub date_max_future: Option<i64>,
    /// Where the `InRelease` file is, relative to its usual place.
    #[serde(default)]
    pub inrelease_path: Option<String>,
    /// Languages of translated descriptions to fetch.
    #[serde(default, deserialize_with = "optional_list")]
    pub languages: Option<Vec<String>>,
    /// Use PDiffs to update indexes.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub pdiffs: Option<bool>,
    /// Download targets to fetch.
    #[serde(default, deserialize_with = "optional_list")]
    pub targets: Option<Vec<String>>,
    /// Mode of the `.sources` file.
    #[serde(default = "default_mode", deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// `present` or `absent`.
    #[serde(default)]
    pub state: Presence,
    /// Where `/` is, for tests that work in a scratch directory.
    #[serde(skip)]
    pub root: String,
}

fn deb() -> Vec<String> {
    vec!["deb".to_string()]
}

fn default_mode() -> Option<Mode> {
    Some(Mode::Octal(0o644))
}

fn optional_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => list_or_csv::deserialize(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

impl Args for Deb822RepositoryArgs {
    fn validate(&self) -> Result<(), ArgError> {
        if let Some(bad) = self.types.iter().find(|t| *t != "deb" && *t != "deb-src") {
            return Err(ArgError::new(format!(
                "value of types must be one or more of: deb, deb-src. Got no match for: {bad}"
            ))
            .at("types"));
        }
        if self.name.trim().is_empty() {
            return Err(ArgError::new("`name` must not be empty").at("name"));
        }
        Ok(())
    }
}

/// Ansible's slug of a repository name, for its file names.
fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// Ansible's field name for an argument: `X-Repolib-Name`, `URIs`, else the name with
/// `-` for `_` in title case (`Check-Valid-Until`).
fn field_name(argument: &str) -> String {
    match argument {
        "name" => "X-Repolib-Name".to_string(),
        "uris" => "URIs".to_string(),
        other => other
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A value spanning lines, as python-debian writes it: each line indented by four, blank
/// lines as `.`, after an empty first line.
fn multiline(value: &str) -> String {
    let lines: Vec<String> = value
        .trim()
        .lines()
        .map(|line| {
            let line = line.trim();
            format!("    {}", if line.is_empty() { "." } else { line })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

impl Deb822RepositoryArgs {
    /// The `.sources` content, with `signed_by` already resolved to what the file says.
    fn render(&self, signed_by: Option<&str>) -> String {
        let list = |v: &Option<Vec<String>>| v.as_ref().map(|items| items.join(" "));
        let flag = |v: Option<bool>| v.map(yes_no);
        // Sorted by argument name, as Ansible iterates `sorted(params.items())`.
        let fields: Vec<(&str, Option<String>)> = vec![
            (
                "allow_downgrade_to_insecure",
                flag(self.allow_downgrade_to_insecure),
            ),
            ("allow_insecure", flag(self.allow_insecure)),
            ("allow_weak", flag(self.allow_weak)),
            ("architectures", list(&self.architectures)),
            ("by_hash", flag(self.by_hash)),
            ("check_date", flag(self.check_date)),
            ("check_valid_until", flag(self.check_valid_until)),
            ("components", list(&self.components)),
            (
                "date_max_future",
                self.date_max_future.map(|n| n.to_string()),
            ),
            ("enabled", flag(self.enabled)),
            ("inrelease_path", self.inrelease_path.clone()),
            ("languages", list(&self.languages)),
            ("name", Some(self.name.clone())),
            ("pdiffs", flag(self.pdiffs)),
            ("signed_by", signed_by.map(str::to_string)),
            ("suites", list(&self.suites)),
            ("targets", list(&self.targets)),
            ("trusted", flag(self.trusted)),
            ("types", Some(self.types.join(" "))),
            ("uris", list(&self.uris)),
        ];
        let mut out = String::new();
        for (argument, value) in fields {
            let Some(mut value) = value else { continue };
            if value.contains('\n') {
                value = multiline(&value);
            }
            let name = field_name(argument);
            if value.is_empty() || value.starts_with('\n') {
                out.push_str(&format!("{name}:{value}\n"));
            } else {
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        out
    }

    fn sources_path(&self, slug: &str) -> String {
        format!("{}{SOURCES_PARTS}/{slug}.sources", self.root)
    }

    fn key_path(&self, slug: &str, extension: &str) -> String {
        format!("{}{KEYRINGS}/{slug}.{extension}", self.root)
    }
}

/// Writes `content` to `path` unless the host has exactly it; fixes only the mode when
/// that is all that differs.
fn file_steps(
    existing: Option<&HostFile>,
    path: &str,
    content: &[u8],
    mode: &Mode,
) -> Result<Vec<Step>, ModuleError> {
    let current_mode = existing.map_or(0o644, |f| f.mode);
    let mode = file_mode::resolve(mode, current_mode, false).map_err(ModuleError::failed)?;
    match existing {
        Some(file) if file.content == content => {
            if file.mode == mode {
                Ok(Vec::new())
            } else {
                Ok(vec![Step::run(Exec::new([
                    "chmod".to_string(),
                    octal(mode),
                    "--".to_string(),
                    file.real_path.clone(),
                ]))])
            }
        }
        _ => Ok(vec![Step::write(
            existing.map_or(path, |f| f.real_path.as_str()),
            content.to_vec(),
            FileAttrs {
                mode: Some(mode),
                ..FileAttrs::default()
            },
        )]),
    }
}

impl Module for Deb822RepositoryArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let slug = slug(&self.name);
            let sources_path = self.sources_path(&slug);
            let keys = [self.key_path(&slug, "asc"), self.key_path(&slug, "gpg")];

            if self.state == Presence::Absent {
                let mut wanted = vec![sources_path.clone()];
                wanted.extend(keys.iter().cloned());
                let found = apt_sources::read_files(transport, None, &wanted).await?;
                let present: Vec<String> = found.iter().map(|f| f.path.clone()).collect();
                let plan = if present.is_empty() {
                    Plan::ok(format!("{sources_path} does not exist"))
                } else {
                    let mut argv = vec!["rm".to_string(), "-f".to_string(), "--".to_string()];
                    argv.extend(present.iter().cloned());
                    let mut plan = Plan::change(
                        format!("remove {}", present.join(", ")),
                        vec![Step::run(Exec::new(argv))],
                    );
                    if let Some(sources) = found.iter().find(|f| f.path == sources_path) {
                        if let Some(diff) = text_diff(&sources_path, &sources.content, b"") {
                            plan = plan.with_diff(diff);
                        }
                    }
                    plan
                };
                return Ok(plan
                    .with("repo", Value::Null)
                    .with("dest", sources_path)
                    .with("key_filename", keys[1].clone()));
            }

            // What `signed_by` becomes in the file, and the key to store for a URL.
            let mut key: Option<(String, Vec<u8>)> = None;
            let mut signed_by = self.signed_by.clone();
            let mut key_filename: Option<String> = None;
            let mut wanted = vec![sources_path.clone()];
            if let Some(value) = &self.signed_by {
                if apt_sources::is_url(value) {
                    let data = match apt_sources::download(transport, value, true).await? {
                        Ok(data) => data,
                        Err(error) => {
                            return Ok(Plan::fail(format!(
                                "Could not fetch signed_by key: {error}"
                            )))
                        }
                    };
                    if !data.is_empty() {
                        let extension = if apt_sources::is_armored(&data) {
                            "asc"
                        } else {
                            "gpg"
                        };
                        let path = self.key_path(&slug, extension);
                        signed_by = Some(path.clone());
                        key_filename = Some(path.clone());
                        wanted.push(path.clone());
                        key = Some((path, data));
                    }
                } else if value.starts_with('/') && !value.contains('\n') {
                    wanted.push(value.clone());
                }
            }
            let found = apt_sources::read_files(transport, None, &wanted).await?;
            let existing = |path: &str| found.iter().find(|f| f.path == path);
            if let Some(value) = &self.signed_by {
                if !apt_sources::is_url(value) && existing(value).is_some() {
                    key_filename = Some(value.clone());
                }
            }

            let mut steps = Vec::new();
            let mut changes = Vec::new();
            if let Some((path, data)) = &key {
                let key_steps = file_steps(existing(path), path, data, &Mode::Octal(0o644))?;
                if !key_steps.is_empty() {
                    if existing(path).is_none() {
                        let keyrings = format!("{}{KEYRINGS}", self.root);
                        steps.push(mkdir_step(&[keyrings], Some(0o755), None));
                    }
                    changes.push(format!("store the key in {path}"));
                    steps.extend(key_steps);
                }
            }
            let content = self.render(signed_by.as_deref());
            let mode = self.mode.clone().unwrap_or(Mode::Octal(0o644));
            let before = existing(&sources_path).map(|f| f.content.clone());
            let source_steps = file_steps(
                existing(&sources_path),
                &sources_path,
                content.as_bytes(),
                &mode,
            )?;
            if !source_steps.is_empty() {
                changes.push(match &before {
                    Some(before) if *before == content.as_bytes() => {
                        format!("set the mode of {sources_path}")
                    }
                    Some(_) => format!("update {sources_path}"),
                    None => format!("create {sources_path}"),
                });
                steps.extend(source_steps);
            }
            let mut plan = if steps.is_empty() {
                Plan::ok(format!("{sources_path} already describes the repository"))
            } else {
                Plan::change(changes.join("; "), steps)
            };
            if let Some(diff) = text_diff(
                &sources_path,
                before.as_deref().unwrap_or_default(),
                content.as_bytes(),
            )
            .filter(|d| d.before != d.after)
            {
                plan = plan.with_diff(diff);
            }
            Ok(plan
                .with("repo", content)
                .with("dest", sources_path)
                .with("key_filename", json!(key_filename)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, Fixture};
    use serde_json::json;

    fn args(value: Value, root: &str) -> Deb822RepositoryArgs {
        let mut args: Deb822RepositoryArgs = crate::args::parse(value).unwrap();
        args.root = root.to_string();
        args
    }

    async fn plan(fixture: &Fixture, args: &Deb822RepositoryArgs) -> Plan {
        let host = Host {
            transport: &fixture.transport,
            controller: &fixture.controller,
        };
        args.plan(&host).await.unwrap()
    }

    #[test]
    fn slugs_and_field_names_like_ansible() {
        assert_eq!(
            slug("ansible-test focal archive"),
            "ansible-test-focal-archive"
        );
        assert_eq!(slug("My_Repo  (v1.31)"), "my-repo-v131");
        assert_eq!(field_name("check_valid_until"), "Check-Valid-Until");
        assert_eq!(field_name("inrelease_path"), "Inrelease-Path");
        assert_eq!(field_name("uris"), "URIs");
    }

    #[test]
    fn renders_ansible_s_own_test_expectation() {
        // ansible-core's integration test for deb822_repository expects exactly this.
        let repo = args(
            json!({
                "name": "ansible-test focal archive",
                "uris": "http://us.archive.ubuntu.com/ubuntu",
                "suites": ["focal", "focal-updates"],
                "components": ["main", "restricted"],
                "date_max_future": 10,
            }),
            "",
        );
        assert_eq!(
            repo.render(None),
            "Components: main restricted\nDate-Max-Future: 10\n\
             X-Repolib-Name: ansible-test focal archive\nSuites: focal focal-updates\n\
             Types: deb\nURIs: http://us.archive.ubuntu.com/ubuntu\n"
        );
        let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEYCQjIxYJ\n=IE0r\n-----END PGP PUBLIC KEY BLOCK-----";
        let repo = args(
            json!({"name": "ansible-test", "uris": "https://deb.debian.org", "suites": "stable",
                   "components": ["main"], "signed_by": key, "enabled": false}),
            "",
        );
        assert_eq!(
            repo.render(Some(key)),
            "Components: main\nEnabled: no\nX-Repolib-Name: ansible-test\nSigned-By:\n    \
             -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    mDMEYCQjIxYJ\n    =IE0r\n    \
             -----END PGP PUBLIC KEY BLOCK-----\nSuites: stable\nTypes: deb\n\
             URIs: https://deb.debian.org\n"
        );
    }

    #[tokio::test]
    async fn stores_a_downloaded_key_and_converges() {
        let fixture = Fixture::new();
        let root = fixture.path("root");
        std::fs::create_dir_all(format!("{root}/etc/apt/sources.list.d")).unwrap();
        let served = fixture.write("Release.key", b"\x99\x01\x0dbinary key", 0o644);
        let repo = args(
            json!({"name": "Kubernetes", "uris": "https://pkgs.k8s.io/core:/stable:/v1.31/deb/",
                   "suites": "/", "signed_by": format!("file://{served}")}),
            &root,
        );
        let first = plan(&fixture, &repo).await;
        assert!(first.is_change(), "{first:?}");
        apply(&first, &fixture.transport).await.unwrap();
        let key_path = format!("{root}/etc/apt/keyrings/kubernetes.gpg");
        assert_eq!(std::fs::read(&key_path).unwrap(), b"\x99\x01\x0dbinary key");
        assert_eq!(fixture.mode("root/etc/apt/keyrings/kubernetes.gpg"), 0o644);
        assert_eq!(fixture.mode("root/etc/apt/keyrings"), 0o755);
        let sources =
            String::from_utf8(fixture.read("root/etc/apt/sources.list.d/kubernetes.sources"))
                .unwrap();
        assert_eq!(
            sources,
            format!(
                "X-Repolib-Name: Kubernetes\nSigned-By: {key_path}\nSuites: /\nTypes: deb\n\
                 URIs: https://pkgs.k8s.io/core:/stable:/v1.31/deb/\n"
            )
        );
        assert_eq!(first.result["key_filename"], json!(key_path));
        let second = plan(&fixture, &repo).await;
        assert!(!second.is_change(), "{second:?}");

        // A mode drift alone is a chmod.
        std::fs::set_permissions(
            fixture.path("root/etc/apt/sources.list.d/kubernetes.sources"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let third = plan(&fixture, &repo).await;
        assert_eq!(third.steps.len(), 1);
        assert!(matches!(&third.steps[0], Step::Run { exec, .. } if exec.argv[0] == "chmod"));

        // Absent removes the file and the key.
        let absent = args(json!({"name": "Kubernetes", "state": "absent"}), &root);
        let removal = plan(&fixture, &absent).await;
        apply(&removal, &fixture.transport).await.unwrap();
        assert!(!std::path::Path::new(&key_path).exists());
        assert!(!plan(&fixture, &absent).await.is_change());
    }
}
