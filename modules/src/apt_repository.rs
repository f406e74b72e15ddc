//! `apt_repository`: one-line apt sources (`deb [signed-by=…] URI SUITE COMPONENTS`) in
//! `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.list`.
//!
//! All those files are read in one command and parsed as Ansible parses them: a line is a
//! source when its first word is `deb` or `deb-src`, a leading `#` disables it, a later
//! `#` starts a comment, and runs of spaces do not count. `present` does nothing when the
//! line is already enabled in any of the files; a disabled copy is enabled in place;
//! otherwise the line goes into `filename`.list (default: a name made from the URI, as
//! Ansible makes it: `https://pkgs.k8s.io/core:/stable:/v1.31/deb/` gives
//! `pkgs_k8s_io_core_stable_v1_31_deb.list`). `absent` removes every enabled copy and
//! deletes a file left empty. A changed file is rewritten whole, atomically, in Ansible's
//! normalised form; with `update_cache` (the default) `apt-get update` follows, and if it
//! keeps failing the files are put back as they were.
//!
//! Launchpad PPAs (`ppa:owner/name`) are Ubuntu's and are refused: on Debian, add the
//! PPA's `deb` line with its key in `signed-by`, or use `deb822_repository`.
//!
//! ```yaml
//! - name: Docker's repository
//!   apt_repository:
//!     repo: "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian trixie stable"
//!     filename: docker
//! ```

use crate::apt::update_argv;
use crate::apt_sources::{self, HostFile, SOURCES_LIST, SOURCES_PARTS};
use crate::args::file_mode::{self, Mode};
use crate::args::Presence;
use crate::args::{ansible_bool, Args};
use crate::dpkg::apt_exec;
use crate::file::text_diff;
use crate::plan::{Plan, Step};
use crate::registry::ModuleSpec;
use crate::transport::{Exec, FileAttrs};
use crate::{ArgError, Host, Module, ModuleError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

pub static SPEC: ModuleSpec = ModuleSpec {
    name: "apt_repository",
    aliases: &[
        "ansible.builtin.apt_repository",
        "ansible.legacy.apt_repository",
    ],
    doc: include_str!("apt_repository.rs"),
    free_form: None,
    build: crate::registry::build::<AptRepositoryArgs>,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptRepositoryArgs {
    /// The source line: `deb [options] URI SUITE [COMPONENT…]` or `deb-src …`.
    pub repo: String,
    /// `present` or `absent`.
    #[serde(default)]
    pub state: Presence,
    /// Mode of a file the line is added to; by default a new file gets 0644 and an
    /// existing one keeps its mode.
    #[serde(default, deserialize_with = "file_mode::deserialize")]
    pub mode: Option<Mode>,
    /// Run `apt-get update` after a change.
    #[serde(
        default = "yes",
        alias = "update-cache",
        deserialize_with = "ansible_bool::deserialize"
    )]
    pub update_cache: bool,
    /// How many times to try `apt-get update`.
    #[serde(default = "five")]
    pub update_cache_retries: u32,
    /// The longest pause, in seconds, between two tries.
    #[serde(default = "twelve")]
    pub update_cache_retry_max_delay: u32,
    /// The file in sources.list.d, without `.list` (which is added).
    #[serde(default)]
    pub filename: Option<String>,
    /// Accepted for compatibility: only PPAs used it, and they are refused.
    #[serde(default)]
    pub codename: Option<String>,
    /// Accepted for compatibility: nothing is downloaded.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub validate_certs: Option<bool>,
    /// Accepted for compatibility: no Python is used.
    #[serde(default, deserialize_with = "ansible_bool::option::deserialize")]
    pub install_python_apt: Option<bool>,
    /// Where `/` is, for tests that work in a scratch directory.
    #[serde(skip)]
    pub root: String,
}

fn yes() -> bool {
    true
}
fn five() -> u32 {
    5
}
fn twelve() -> u32 {
    12
}

impl Args for AptRepositoryArgs {
    fn validate(&self) -> Result<(), ArgError> {
        let repo = self.repo.trim();
        if repo.is_empty() {
            return Err(
                ArgError::new("Please set argument 'repo' to a non-empty value").at("repo"),
            );
        }
        if repo.starts_with("ppa:") {
            return Err(ArgError::new(
                "`ppa:` repositories are Launchpad's, for Ubuntu, and are not supported: add \
                 the PPA's `deb [signed-by=KEYRING] URI SUITE main` line instead",
            )
            .at("repo"));
        }
        let line = parse_line(repo);
        if line.kind != LineKind::Source || !line.enabled {
            return Err(ArgError::new(format!("Invalid repository string: {repo}")).at("repo"));
        }
        Ok(())
    }
}

/// One line of a sources file, as Ansible's `SourcesList._parse` reads it.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    kind: LineKind,
    enabled: bool,
    /// The source with single spaces, or the line's text when it is not a source.
    source: String,
    comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Source,
    Other,
}

fn parse_line(raw: &str) -> Line {
    let mut line = raw.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    if let Some(at) = line.find('#').filter(|at| *at > 0) {
        comment = line[at + 1..].trim().to_string();
        line = &line[..at];
    }
    let mut source = line.trim().to_string();
    let mut kind = LineKind::Other;
    let words: Vec<&str> = source.split_whitespace().collect();
    if matches!(words.first(), Some(&"deb" | &"deb-src")) {
        kind = LineKind::Source;
        source = words.join(" ");
    }
    Line {
        kind,
        enabled,
        source,
        comment,
    }
}

/// A line as Ansible writes it back.
fn dump_line(line: &Line) -> String {
    let mut out = String::new();
    if !line.enabled {
        out.push_str("# ");
    }
    out.push_str(&line.source);
    if !line.comment.is_empty() {
        out.push_str(" # ");
        out.push_str(&line.comment);
    }
    out.push('\n');
    out
}

/// Ansible's `_suggest_filename`: the first word that is not `deb`/`deb-src`, without
/// options, scheme and credentials, non-alphanumerics made `_`.
fn suggested_filename(source: &str) -> String {
    let options = regex::Regex::new(r"\[[^\]]+\]").expect("a valid expression");
    let schemes = regex::Regex::new(r"\w+://").expect("a valid expression");
    let line = options.replace_all(source, "");
    let line = schemes.replace_all(&line, "");
    let first = line
        .split_whitespace()
        .find(|part| *part != "deb" && *part != "deb-src")
        .unwrap_or_default();
    let first = first.rsplit_once('@').map_or(first, |(_, host)| host);
    let cleaned: String = first
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join("_")
}

/// A sources file: where it is, what it holds now, and its lines after the change.
struct SourcesFile {
    path: String,
    before: Option<HostFile>,
    lines: Vec<Line>,
    /// The line was appended here (the file gets `mode`).
    appended: bool,
}

impl SourcesFile {
    fn dump(&self) -> String {
        self.lines.iter().map(dump_line).collect()
    }

    /// What the host has, normalised the same way (so only real edits count).
    fn dump_before(&self) -> Option<String> {
        self.before.as_ref().map(|file| {
            String::from_utf8_lossy(&file.content)
                .lines()
                .map(|l| dump_line(&parse_line(l)))
                .collect()
        })
    }
}

impl AptRepositoryArgs {
    fn parts_dir(&self) -> String {
        format!("{}{SOURCES_PARTS}", self.root)
    }

    /// The file a new line goes into.
    fn target_file(&self, source: &str) -> String {
        let name = match &self.filename {
            Some(name) => format!("{name}.list"),
            None => format!("{}.list", suggested_filename(source)),
        };
        if name.contains('/') {
            format!("{}{name}", self.root)
        } else {
            format!("{}/{name}", self.parts_dir())
        }
    }
}

/// Runs the command; when it fails, puts each file back: arguments after the count are
/// triples of path, old content and whether it existed (`1`), then the command.
const REVERT_ON_FAILURE: &str = r#"count=$1
shift
saved=$(mktemp -d) || exit 1
trap 'rm -rf "$saved"' EXIT
i=0
while [ "$i" -lt "$count" ]; do
  i=$((i + 1))
  printf '%s' "$1" > "$saved/$i.path"
  printf '%s' "$2" > "$saved/$i.content"
  printf '%s' "$3" > "$saved/$i.existed"
  shift 3
done
"$@"
rc=$?
[ "$rc" = 0 ] && exit 0
i=0
while [ "$i" -lt "$count" ]; do
  i=$((i + 1))
  path=$(cat "$saved/$i.path")
  if [ "$(cat "$saved/$i.existed")" = 1 ]; then
    cat "$saved/$i.content" > "$path"
  else
    rm -f -- "$path"
  fi
done
echo "the sources were put back as they were" >&2
exit "$rc"
"#;

impl Module for AptRepositoryArgs {
    fn plan<'a>(&'a self, host: &'a Host<'a>) -> BoxFuture<'a, Result<Plan, ModuleError>> {
        Box::pin(async move {
            let transport = host.transport;
            let default_file = format!("{}{SOURCES_LIST}", self.root);
            let source = parse_line(&self.repo).source;
            // The file a new line would go to is read too, wherever `filename` puts it.
            let target = self.target_file(&source);
            let found = apt_sources::read_files(
                transport,
                Some(&self.parts_dir()),
                &[default_file, target.clone()],
            )
            .await?;
            let mut files: Vec<SourcesFile> = found
                .into_iter()
                .map(|file| SourcesFile {
                    path: file.path.clone(),
                    lines: String::from_utf8_lossy(&file.content)
                        .lines()
                        .map(parse_line)
                        .collect(),
                    before: Some(file),
                    appended: false,
                })
                .collect();
            let is_it = |line: &Line| line.kind == LineKind::Source && line.source == source;

            match self.state {
                Presence::Present => {
                    let mut found = false;
                    for file in &mut files {
                        for line in file.lines.iter_mut().filter(|l| is_it(l)) {
                            line.enabled = true;
                            found = true;
                        }
                    }
                    if !found {
                        let new_line = Line {
                            kind: LineKind::Source,
                            enabled: true,
                            source: source.clone(),
                            comment: String::new(),
                        };
                        match files.iter_mut().find(|f| f.path == target) {
                            Some(file) => {
                                file.lines.push(new_line);
                                file.appended = true;
                            }
                            None => files.push(SourcesFile {
                                path: target,
                                before: None,
                                lines: vec![new_line],
                                appended: true,
                            }),
                        }
                    }
                }
                Presence::Absent => {
                    for file in &mut files {
                        file.lines.retain(|line| !(is_it(line) && line.enabled));
                    }
                }
            }

            let mut steps = Vec::new();
            let mut added = Vec::new();
            let mut removed = Vec::new();
            let mut revert: Vec<String> = Vec::new();
            let mut diffs = Vec::new();
            for file in &files {
                let before = file.dump_before();
                let after = (!file.lines.is_empty()).then(|| file.dump());
                if before == after {
                    continue;
                }
                let real_path = file
                    .before
                    .as_ref()
                    .map_or(file.path.clone(), |f| f.real_path.clone());
                revert.push(real_path.clone());
                revert.push(
                    file.before
                        .as_ref()
                        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                        .unwrap_or_default(),
                );
                revert.push(if file.before.is_some() { "1" } else { "0" }.to_string());
                match &after {
                    Some(content) => {
                        let mut mode = None;
                        if file.appended {
                            let current = file.before.as_ref().map_or(0o644, |f| f.mode);
                            mode = match &self.mode {
                                Some(wanted) => Some(
                                    file_mode::resolve(wanted, current, false)
                                        .map_err(ModuleError::failed)?,
                                ),
                                None if file.before.is_none() => Some(0o644),
                                None => None,
                            };
                        }
                        steps.push(Step::write(
                            real_path,
                            content.clone(),
                            FileAttrs {
                                mode,
                                ..FileAttrs::default()
                            },
                        ));
                        if file.before.is_none() {
                            added.push(file.path.clone());
                        }
                    }
                    None => {
                        steps.push(Step::run(Exec::new([
                            "rm".to_string(),
                            "-f".to_string(),
                            "--".to_string(),
                            real_path,
                        ])));
                        removed.push(file.path.clone());
                    }
                }
                if let Some(diff) = text_diff(
                    &file.path,
                    before.unwrap_or_default().as_bytes(),
                    after.unwrap_or_default().as_bytes(),
                ) {
                    diffs.push(diff);
                }
            }

            let mut plan = if steps.is_empty() {
                Plan::ok(match self.state {
                    Presence::Present => format!("{source} is already an enabled source"),
                    Presence::Absent => format!("{source} is not an enabled source"),
                })
            } else {
                if self.update_cache {
                    let mut argv = vec![
                        "sh".to_string(),
                        "-c".to_string(),
                        REVERT_ON_FAILURE.to_string(),
                        "rplay-apt-repository-update".to_string(),
                        (revert.len() / 3).to_string(),
                    ];
                    argv.extend(revert);
                    argv.extend(update_argv(
                        self.update_cache_retries,
                        self.update_cache_retry_max_delay,
                        60,
                    ));
                    steps.push(Step::capture(apt_exec(argv)));
                }
                let verb = match self.state {
                    Presence::Present => "add",
                    Presence::Absent => "remove",
                };
                Plan::change(format!("{verb} {source}"), steps)
            };
            for diff in diffs {
                plan = plan.with_diff(diff);
            }
            Ok(plan
                .with("repo", self.repo.clone())
                .with("state", json!(self.state_name()))
                .with("sources_added", json!(added))
                .with("sources_removed", json!(removed)))
        })
    }
}

impl AptRepositoryArgs {
    fn state_name(&self) -> Value {
        match self.state {
            Presence::Present => json!("present"),
            Presence::Absent => json!("absent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, Fixture};
    use crate::Transport;
    use serde_json::json;

    #[test]
    fn parses_lines_like_ansible() {
        let line = parse_line("  deb   [arch=amd64]  http://x/debian  trixie main # mirror ");
        assert_eq!(line.kind, LineKind::Source);
        assert!(line.enabled);
        assert_eq!(line.source, "deb [arch=amd64] http://x/debian trixie main");
        assert_eq!(line.comment, "mirror");
        assert_eq!(
            dump_line(&line),
            "deb [arch=amd64] http://x/debian trixie main # mirror\n"
        );
        let disabled = parse_line("#deb http://x/debian trixie main");
        assert!(!disabled.enabled);
        assert_eq!(dump_line(&disabled), "# deb http://x/debian trixie main\n");
        let comment = parse_line("#just words");
        assert_eq!(comment.kind, LineKind::Other);
        assert_eq!(dump_line(&comment), "# just words\n");
        assert_eq!(dump_line(&parse_line("")), "\n");
    }

    #[test]
    fn suggests_filenames_like_ansible() {
        assert_eq!(
            suggested_filename("deb [signed-by=/etc/apt/keyrings/k.asc] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /"),
            "pkgs_k8s_io_core_stable_v1_31_deb"
        );
        assert_eq!(
            suggested_filename(
                "deb https://user:secret@artifacts.elastic.co/packages/6.x/apt stable main"
            ),
            "artifacts_elastic_co_packages_6_x_apt"
        );
    }

    #[test]
    fn refuses_ppas_and_non_sources() {
        let build = |value: Value| crate::args::parse::<AptRepositoryArgs>(value);
        assert!(build(json!({"repo": "ppa:nginx/stable"}))
            .unwrap_err()
            .message
            .contains("Launchpad"));
        assert_eq!(
            build(json!({"repo": "http://x/ stable main"}))
                .unwrap_err()
                .message,
            "Invalid repository string: http://x/ stable main"
        );
        assert!(build(json!({"repo": "# deb http://x/ stable main"})).is_err());
        assert!(build(json!({"repo": ""})).is_err());
    }

    fn args(value: Value, root: &str) -> AptRepositoryArgs {
        let mut args: AptRepositoryArgs = crate::args::parse(value).unwrap();
        args.root = root.to_string();
        args
    }

    async fn plan(fixture: &Fixture, args: &AptRepositoryArgs) -> Plan {
        let host = Host {
            transport: &fixture.transport,
            controller: &fixture.controller,
        };
        args.plan(&host).await.unwrap()
    }

    #[tokio::test]
    async fn adds_enables_and_removes_in_a_scratch_root() {
        let fixture = Fixture::new();
        let root = fixture.path("root");
        std::fs::create_dir_all(format!("{root}/etc/apt/sources.list.d")).unwrap();
        fixture.write(
            "root/etc/apt/sources.list",
            b"deb http://deb.debian.org/debian trixie main\n#deb  http://mirror/debian trixie main\n",
            0o644,
        );
        let repo = "deb [signed-by=/etc/apt/keyrings/k.asc] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /";
        let present = args(json!({"repo": repo, "update_cache": false}), &root);
        let first = plan(&fixture, &present).await;
        assert_eq!(
            first.result["sources_added"],
            json!([format!(
                "{root}/etc/apt/sources.list.d/pkgs_k8s_io_core_stable_v1_31_deb.list"
            )])
        );
        apply(&first, &fixture.transport).await.unwrap();
        let written = "root/etc/apt/sources.list.d/pkgs_k8s_io_core_stable_v1_31_deb.list";
        assert_eq!(fixture.read(written), format!("{repo}\n").as_bytes());
        assert_eq!(fixture.mode(written), 0o644);
        assert!(!plan(&fixture, &present).await.is_change());

        // A disabled copy is enabled where it is, and the file normalised.
        let mirror = args(
            json!({"repo": "deb http://mirror/debian  trixie main", "update_cache": "no"}),
            &root,
        );
        let enable = plan(&fixture, &mirror).await;
        assert_eq!(enable.steps.len(), 1);
        apply(&enable, &fixture.transport).await.unwrap();
        assert_eq!(
            fixture.read("root/etc/apt/sources.list"),
            b"deb http://deb.debian.org/debian trixie main\ndeb http://mirror/debian trixie main\n"
        );

        // Absent removes the line; a file left empty goes.
        let absent = args(
            json!({"repo": repo, "state": "absent", "update_cache": false}),
            &root,
        );
        let removal = plan(&fixture, &absent).await;
        assert_eq!(
            removal.result["sources_removed"],
            json!([fixture.path(written)])
        );
        apply(&removal, &fixture.transport).await.unwrap();
        assert!(!std::path::Path::new(&fixture.path(written)).exists());
        assert!(!plan(&fixture, &absent).await.is_change());
    }

    #[tokio::test]
    async fn a_failing_update_puts_the_files_back() {
        let fixture = Fixture::new();
        let existing = fixture.write("old.list", b"# mine\n", 0o640);
        let new = fixture.path("new.list");
        std::fs::write(&existing, b"deb http://changed/ x main\n").unwrap();
        std::fs::write(&new, b"deb http://new/ x main\n").unwrap();
        let output = fixture
            .transport
            .run(&Exec::new([
                "sh",
                "-c",
                REVERT_ON_FAILURE,
                "rplay-test",
                "2",
                &existing,
                "# mine\n",
                "1",
                &new,
                "",
                "0",
                "sh",
                "-c",
                "echo 'E: The repository does not have a Release file.' >&2; exit 100",
            ]))
            .await
            .unwrap();
        assert_eq!(output.rc, 100);
        assert!(output.stderr_text().contains("put back"));
        assert_eq!(fixture.read("old.list"), b"# mine\n");
        assert_eq!(fixture.mode("old.list"), 0o640);
        assert!(!std::path::Path::new(&new).exists());
    }
}
