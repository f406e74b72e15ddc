//! The differential compatibility corpus: every case under `tests/compat/cases` runs once under
//! the real `ansible-playbook` and once under rplay, and both must agree on the exit code, the
//! PLAY RECAP and every file the case writes under its `out` directory. The ansible-playbook
//! run must also still match the case's committed `expect` file, so that a change in Ansible's
//! behaviour shows up as such and not as an rplay bug.
//!
//! Each side runs in its own copy of the case directory, as
//! `PROGRAM [-i inventory.ini] [ARGS...] -e out=OUT playbook.yml`, where ARGS are the lines of
//! the case's `args` file and OUT is an empty directory beside the copy.
//!
//! Environment:
//! - `RPLAY_ANSIBLE_PLAYBOOK` (required): the ansible-playbook to compare with. `tests/run`
//!   sets it up; without it this test fails, it never skips.
//! - `RPLAY_COMPAT_CASE`: run only the cases whose directory name contains this text.
//! - `RPLAY_COMPAT_RPLAY_BIN`: run this program on the rplay side instead of the rplay built
//!   by cargo. Pointing it at ansible-playbook checks the harness itself: every case must
//!   then pass.
//! - `RPLAY_COMPAT_JOBS`: how many cases run at once (default: the available parallelism).
//! - `RPLAY_COMPAT_KEEP`: keep each case's temporary directories and print where they are.
//!
//! `tests/compat/README.md` explains how to add a case; `tests/compat/regen` writes `expect`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// How long one playbook run may take before it is killed and counted as a difference.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The settings both sides run with: plain output, no retry files, no warnings that vary.
const ANSIBLE_ENVIRONMENT: &[(&str, &str)] = &[
    ("ANSIBLE_NOCOLOR", "1"),
    ("ANSIBLE_RETRY_FILES_ENABLED", "0"),
    ("ANSIBLE_LOCALHOST_WARNING", "0"),
    ("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0"),
    ("ANSIBLE_DEPRECATION_WARNINGS", "0"),
    ("ANSIBLE_HOST_KEY_CHECKING", "0"),
];

/// Settings from the caller's environment that would change what either side does.
const REMOVED_ENVIRONMENT: &[&str] = &[
    "ANSIBLE_CONFIG",
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_FORCE_COLOR",
    "ANSIBLE_INVENTORY",
    "ANSIBLE_ROLES_PATH",
];

const RECAP_KEYS: [&str; 7] = [
    "ok",
    "changed",
    "unreachable",
    "failed",
    "skipped",
    "rescued",
    "ignored",
];

#[test]
fn compat_corpus() {
    let ansible_playbook = ansible_playbook();
    let rplay = match std::env::var_os("RPLAY_COMPAT_RPLAY_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_rplay")),
    };
    let cases = selected_cases();
    let jobs = std::env::var("RPLAY_COMPAT_JOBS")
        .ok()
        .and_then(|jobs| jobs.parse::<usize>().ok())
        .filter(|&jobs| jobs > 0)
        .unwrap_or_else(|| thread::available_parallelism().map_or(2, |n| n.get()))
        .min(cases.len());
    let keep = std::env::var_os("RPLAY_COMPAT_KEEP").is_some();

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(index) else { break };
                let report = run_case(case, &ansible_playbook, &rplay, keep);
                eprintln!(
                    "{} {} ({:.1} s)",
                    if report.problems.is_empty() {
                        "ok  "
                    } else {
                        "DIFF"
                    },
                    report.name,
                    report.elapsed.as_secs_f64()
                );
                reports.lock().unwrap().push(report);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.name.cmp(&b.name));

    let failing: Vec<&CaseReport> = reports.iter().filter(|r| !r.problems.is_empty()).collect();
    eprintln!(
        "{} cases, {} differ, {:.1} s with {jobs} jobs",
        reports.len(),
        failing.len(),
        started.elapsed().as_secs_f64()
    );
    if !failing.is_empty() {
        let mut message = String::new();
        for report in &failing {
            let _ = writeln!(message, "\n=== {} ===", report.name);
            for problem in &report.problems {
                let _ = writeln!(message, "{}", problem.trim_end());
            }
        }
        let names: Vec<&str> = failing.iter().map(|r| r.name.as_str()).collect();
        panic!(
            "{message}\n{} of {} compat cases differ: {}",
            failing.len(),
            reports.len(),
            names.join(", ")
        );
    }
}

fn ansible_playbook() -> PathBuf {
    let Some(path) = std::env::var_os("RPLAY_ANSIBLE_PLAYBOOK") else {
        panic!(
            "RPLAY_ANSIBLE_PLAYBOOK is not set: the compat corpus compares rplay with the real \
             ansible-playbook. Run the tests with `tests/run`, which installs ansible-core into \
             .venv and sets it."
        );
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        panic!(
            "RPLAY_ANSIBLE_PLAYBOOK points at `{}`, which does not exist. Run the tests with \
             `tests/run`, which installs ansible-core into .venv and sets it.",
            path.display()
        );
    }
    path
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/cases")
}

fn selected_cases() -> Vec<PathBuf> {
    let dir = cases_dir();
    let filter = std::env::var("RPLAY_COMPAT_CASE").unwrap_or_default();
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_dir())
        .filter(|path| case_name(path).contains(&filter))
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no compat case under `{}` matches RPLAY_COMPAT_CASE=`{filter}`",
        dir.display()
    );
    cases
}

fn case_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

struct CaseReport {
    name: String,
    problems: Vec<String>,
    elapsed: Duration,
}

/// What one side did: its exit code, its recap, the files it left under `out`, its output.
struct Outcome {
    exit_code: Option<i32>,
    recap: Result<Recap, String>,
    files: BTreeMap<PathBuf, Entry>,
    output: String,
}

type Recap = BTreeMap<String, [u64; 7]>;

fn run_case(case_dir: &Path, ansible_playbook: &Path, rplay: &Path, keep: bool) -> CaseReport {
    let started = Instant::now();
    let name = case_name(case_dir);
    let mut problems = Vec::new();
    let finish = |problems, started: Instant| CaseReport {
        name: name.clone(),
        problems,
        elapsed: started.elapsed(),
    };

    let expect = match fs::read_to_string(case_dir.join("expect"))
        .map_err(|error| format!("cannot read `expect`: {error}"))
        .and_then(|text| parse_expect(&text))
    {
        Ok(expect) => expect,
        Err(error) => {
            problems.push(format!(
                "{error} (write it with `tests/compat/regen {name}`)"
            ));
            return finish(problems, started);
        }
    };
    let arguments = match case_arguments(case_dir) {
        Ok(arguments) => arguments,
        Err(error) => {
            problems.push(error);
            return finish(problems, started);
        }
    };

    let temporary = tempfile::Builder::new()
        .prefix(&format!("rplay-compat-{name}-"))
        .tempdir()
        .expect("a temporary directory");
    let ansible = run_side(
        ansible_playbook,
        case_dir,
        &temporary.path().join("ansible"),
        &arguments,
        ansible_playbook,
    );
    let rplay_side = run_side(
        rplay,
        case_dir,
        &temporary.path().join("rplay"),
        &arguments,
        ansible_playbook,
    );

    // ansible-playbook against the committed expectation.
    match &ansible.recap {
        Ok(recap) => {
            if ansible.exit_code != Some(expect.exit_code) || *recap != expect.recap {
                problems.push(format!(
                    "ansible-playbook no longer gives what `expect` records; if Ansible's \
                     behaviour changed on purpose, rewrite it with `tests/compat/regen {name}`\n\
                     {}\n--- ansible-playbook output:\n{}",
                    line_diff(
                        &render_expect(&expect.recap, Some(expect.exit_code)),
                        &render_expect(recap, ansible.exit_code),
                        "expect",
                        "ansible-playbook"
                    ),
                    ansible.output
                ));
            }
        }
        Err(error) => problems.push(format!(
            "ansible-playbook: {error}\n--- ansible-playbook output:\n{}",
            ansible.output
        )),
    }
    if ansible.files.is_empty() {
        problems.push(
            "ansible-playbook wrote nothing under `out`: a case must leave files to compare"
                .to_string(),
        );
    }

    // rplay against ansible-playbook.
    let mut differences = Vec::new();
    if rplay_side.exit_code != ansible.exit_code {
        differences.push(format!(
            "exit code: ansible-playbook {}, rplay {}",
            show_exit(ansible.exit_code),
            show_exit(rplay_side.exit_code)
        ));
    }
    match (&ansible.recap, &rplay_side.recap) {
        (Ok(expected), Ok(actual)) if expected != actual => differences.push(format!(
            "PLAY RECAP differs:\n{}",
            line_diff(
                &render_expect(expected, None),
                &render_expect(actual, None),
                "ansible-playbook",
                "rplay"
            )
        )),
        (Ok(_), Err(error)) => differences.push(format!("rplay: {error}")),
        _ => {}
    }
    differences.extend(compare_trees(&ansible.files, &rplay_side.files));
    if !differences.is_empty() {
        problems.push(format!(
            "rplay differs from ansible-playbook:\n{}\n--- rplay output:\n{}",
            differences.join("\n"),
            rplay_side.output
        ));
    }

    if keep {
        let kept = temporary.keep();
        eprintln!("kept {name} in {}", kept.display());
    }
    finish(problems, started)
}

/// The arguments every run of a case gets, before `-e out=…` and the playbook.
fn case_arguments(case_dir: &Path) -> Result<Vec<String>, String> {
    if !case_dir.join("playbook.yml").is_file() {
        return Err("the case has no playbook.yml".to_string());
    }
    let mut arguments = Vec::new();
    if case_dir.join("inventory.ini").is_file() {
        arguments.extend(["-i".to_string(), "inventory.ini".to_string()]);
    }
    match fs::read_to_string(case_dir.join("args")) {
        Ok(text) => arguments.extend(
            text.lines()
                .filter(|line| !line.is_empty())
                .map(str::to_string),
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot read `args`: {error}")),
    }
    Ok(arguments)
}

fn run_side(
    program: &Path,
    case_dir: &Path,
    side_dir: &Path,
    arguments: &[String],
    ansible_playbook: &Path,
) -> Outcome {
    let work_dir = side_dir.join(case_name(case_dir));
    let out_dir = side_dir.join("out");
    copy_tree(case_dir, &work_dir).expect("the case copies into a temporary directory");
    fs::create_dir_all(&out_dir).expect("an out directory");
    let log_path = side_dir.join("output.log");
    let log = File::create(&log_path).expect("a log file");

    let mut command = Command::new(program);
    command
        .args(arguments)
        .arg("-e")
        .arg(format!("out={}", out_dir.display()))
        .arg("playbook.yml")
        .current_dir(&work_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a second log handle"))
        .stderr(log);
    for name in REMOVED_ENVIRONMENT {
        command.env_remove(name);
    }
    command.envs(ANSIBLE_ENVIRONMENT.iter().copied());
    // Hosts with `ansible_connection=local` run modules with the Python beside
    // ansible-playbook, so no interpreter discovery (and no system Python) is involved.
    let python = ansible_playbook.with_file_name("python3");
    if python.is_file() {
        command.env("ANSIBLE_PYTHON_INTERPRETER", python);
    }

    let exit_code = match command.spawn() {
        Ok(mut child) => {
            let deadline = Instant::now() + RUN_TIMEOUT;
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status.code()),
                    Ok(None) if Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(format!(
                            "did not finish within {} s and was killed",
                            RUN_TIMEOUT.as_secs()
                        ));
                    }
                    Err(error) => break Err(format!("cannot wait for it: {error}")),
                }
            }
        }
        Err(error) => Err(format!("cannot start `{}`: {error}", program.display())),
    };
    let mut output = String::from_utf8_lossy(&fs::read(&log_path).unwrap_or_default()).into_owned();
    let (exit_code, recap) = match exit_code {
        Ok(code) => (code, parse_recap(&output)),
        Err(error) => {
            output.push_str(&format!("\n[{error}]\n"));
            (None, Err(error))
        }
    };
    Outcome {
        exit_code,
        recap,
        files: snapshot(&out_dir),
        output,
    }
}

fn show_exit(code: Option<i32>) -> String {
    code.map_or_else(
        || "none (killed by a signal)".to_string(),
        |c| c.to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Recaps and `expect` files.

struct Expect {
    recap: Recap,
    exit_code: i32,
}

/// Reads the PLAY RECAP lines, `HOST : ok=N changed=N …`, ignoring how they are spaced.
fn parse_recap(output: &str) -> Result<Recap, String> {
    let Some(start) = output.find("PLAY RECAP") else {
        return Err("no PLAY RECAP in the output".to_string());
    };
    let mut recap = Recap::new();
    for line in output[start..].lines().skip(1) {
        let Some((host, counts)) = line.split_once(" : ") else {
            continue;
        };
        if let Ok(counts) = parse_counts(counts) {
            recap.insert(host.trim().to_string(), counts);
        }
    }
    if recap.is_empty() {
        return Err("PLAY RECAP has no host lines".to_string());
    }
    Ok(recap)
}

fn parse_counts(text: &str) -> Result<[u64; 7], String> {
    let mut counts = [None; 7];
    for word in text.split_whitespace() {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("`{word}` is not KEY=N"))?;
        let slot = RECAP_KEYS
            .iter()
            .position(|known| *known == key)
            .ok_or_else(|| format!("unknown recap key `{key}`"))?;
        let value = value
            .parse()
            .map_err(|_| format!("`{word}` does not hold a number"))?;
        counts[slot] = Some(value);
    }
    let mut result = [0; 7];
    for (slot, count) in counts.iter().enumerate() {
        result[slot] = count.ok_or_else(|| format!("`{}=` is missing", RECAP_KEYS[slot]))?;
    }
    Ok(result)
}

/// `expect` holds `HOST ok=N changed=N unreachable=N failed=N skipped=N rescued=N ignored=N`
/// lines and one `rc=N` line; blank lines and `#` comments are allowed.
fn parse_expect(text: &str) -> Result<Expect, String> {
    let mut recap = Recap::new();
    let mut exit_code = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem = |message: String| format!("expect:{}: {message}", number + 1);
        if let Some(code) = line.strip_prefix("rc=") {
            exit_code = Some(code.parse().map_err(|_| problem(format!("bad `{line}`")))?);
            continue;
        }
        let (host, counts) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| problem(format!("`{line}` is not `HOST ok=N …`")))?;
        let counts = counts.trim_start().trim_start_matches(':');
        recap.insert(host.to_string(), parse_counts(counts).map_err(problem)?);
    }
    let exit_code = exit_code.ok_or("expect has no `rc=N` line")?;
    if recap.is_empty() {
        return Err("expect has no host lines".to_string());
    }
    Ok(Expect { recap, exit_code })
}

fn render_expect(recap: &Recap, exit_code: Option<i32>) -> String {
    let mut text = String::new();
    for (host, counts) in recap {
        text.push_str(host);
        for (key, count) in RECAP_KEYS.iter().zip(counts) {
            let _ = write!(text, " {key}={count}");
        }
        text.push('\n');
    }
    if let Some(code) = exit_code {
        let _ = writeln!(text, "rc={code}");
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The `out` directories.

#[derive(PartialEq)]
enum Entry {
    Directory { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Symlink { target: PathBuf },
    Other,
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Directory { .. } => "a directory",
            Entry::File { .. } => "a file",
            Entry::Symlink { .. } => "a symlink",
            Entry::Other => "a special file",
        }
    }
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
        let Ok(listing) = fs::read_dir(dir) else {
            return;
        };
        for item in listing.flatten() {
            let path = item.path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                continue;
            };
            let mode = metadata.permissions().mode() & 0o7777;
            let entry = if metadata.file_type().is_symlink() {
                Entry::Symlink {
                    target: fs::read_link(&path).unwrap_or_default(),
                }
            } else if metadata.is_dir() {
                walk(root, &path, entries);
                Entry::Directory { mode }
            } else if metadata.is_file() {
                Entry::File {
                    mode,
                    bytes: fs::read(&path).unwrap_or_default(),
                }
            } else {
                Entry::Other
            };
            entries.insert(relative, entry);
        }
    }
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries
}

fn compare_trees(
    expected: &BTreeMap<PathBuf, Entry>,
    actual: &BTreeMap<PathBuf, Entry>,
) -> Vec<String> {
    let mut differences = Vec::new();
    for (path, entry) in expected {
        let shown = path.display();
        let Some(other) = actual.get(path) else {
            differences.push(format!(
                "out/{shown}: ansible-playbook made {}, rplay did not",
                entry.kind()
            ));
            continue;
        };
        match (entry, other) {
            (Entry::Directory { mode: a }, Entry::Directory { mode: b }) if a != b => {
                differences.push(format!(
                    "out/{shown}: directory mode {a:04o} under ansible-playbook, {b:04o} under rplay"
                ))
            }
            (Entry::Symlink { target: a }, Entry::Symlink { target: b }) if a != b => {
                differences.push(format!(
                    "out/{shown}: symlink to `{}` under ansible-playbook, to `{}` under rplay",
                    a.display(),
                    b.display()
                ))
            }
            (
                Entry::File {
                    mode: mode_a,
                    bytes: a,
                },
                Entry::File {
                    mode: mode_b,
                    bytes: b,
                },
            ) => {
                if mode_a != mode_b {
                    differences.push(format!(
                        "out/{shown}: file mode {mode_a:04o} under ansible-playbook, \
                         {mode_b:04o} under rplay"
                    ));
                }
                if let Some(difference) = compare_contents(path, a, b) {
                    differences.push(format!("out/{shown}: contents differ\n{difference}"));
                }
            }
            (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
                differences.push(format!(
                    "out/{shown}: {} under ansible-playbook, {} under rplay",
                    a.kind(),
                    b.kind()
                ))
            }
            _ => {}
        }
    }
    for (path, entry) in actual {
        if !expected.contains_key(path) {
            differences.push(format!(
                "out/{}: rplay made {}, ansible-playbook did not",
                path.display(),
                entry.kind()
            ));
        }
    }
    differences
}

/// Compares two files; `.json` files as parsed JSON, others byte for byte. Returns a readable
/// diff when they differ.
fn compare_contents(path: &Path, expected: &[u8], actual: &[u8]) -> Option<String> {
    if path
        .extension()
        .is_some_and(|extension| extension == "json")
    {
        let parsed = (
            std::str::from_utf8(expected).ok().map(Json::parse),
            std::str::from_utf8(actual).ok().map(Json::parse),
        );
        match parsed {
            (Some(Ok(a)), Some(Ok(b))) => {
                return (a != b).then(|| {
                    line_diff(&a.pretty(), &b.pretty(), "ansible-playbook", "rplay")
                        + "(compared as JSON; shown with sorted keys)"
                });
            }
            (_, Some(Err(error))) => {
                if expected == actual {
                    return None;
                }
                return Some(format!(
                    "rplay wrote invalid JSON ({error}):\n{}",
                    String::from_utf8_lossy(actual)
                ));
            }
            _ => {}
        }
    }
    if expected == actual {
        return None;
    }
    match (std::str::from_utf8(expected), std::str::from_utf8(actual)) {
        (Ok(a), Ok(b)) => Some(line_diff(a, b, "ansible-playbook", "rplay")),
        _ => Some(format!(
            "binary contents differ ({} bytes under ansible-playbook, {} under rplay)",
            expected.len(),
            actual.len()
        )),
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for item in fs::read_dir(from)? {
        let item = item?;
        let source = item.path();
        let target = to.join(item.file_name());
        let file_type = item.file_type()?;
        if file_type.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if file_type.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            // fs::copy keeps the permission bits, which copy's `mode: preserve` reads.
            fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A line diff for the report: the longest common subsequence, shown with `-`/`+` prefixes and
// three lines of context around each change.

fn line_diff(expected: &str, actual: &str, expected_name: &str, actual_name: &str) -> String {
    const LIMIT: usize = 2000;
    const CONTEXT: usize = 3;
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut text = format!("--- {expected_name}\n+++ {actual_name}\n");
    if a.len() > LIMIT || b.len() > LIMIT {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let _ = writeln!(
            text,
            "(too long to diff: {} and {} lines; first difference at line {})",
            a.len(),
            b.len(),
            first + 1
        );
        return text;
    }
    // lengths[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lengths = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lengths[i][j] = if a[i] == b[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lengths[i + 1][j] >= lengths[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let mut last_shown: Option<usize> = None;
    for (index, (mark, line)) in lines.iter().enumerate() {
        let near = changed
            .iter()
            .any(|&k| index + CONTEXT >= k && index <= k + CONTEXT);
        if !near {
            continue;
        }
        let skipped_lines = match last_shown {
            Some(last) => index > last + 1,
            None => index > 0,
        };
        if skipped_lines {
            text.push_str("@@\n");
        }
        last_shown = Some(index);
        match line.strip_suffix('\n') {
            Some(line) => {
                let _ = writeln!(text, "{mark}{line}");
            }
            None => {
                let _ = writeln!(text, "{mark}{line}\n\\ no newline at end");
            }
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Just enough JSON to compare files as values: objects compare without regard to key order,
// integers and floats stay distinct (`2` is not `2.0`), and Python's NaN and Infinity parse.

#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Integer(String),
    Float(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        match (self, other) {
            (Json::Null, Json::Null) => true,
            (Json::Bool(a), Json::Bool(b)) => a == b,
            (Json::Integer(a), Json::Integer(b)) => a == b,
            (Json::Float(a), Json::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Json::String(a), Json::String(b)) => a == b,
            (Json::Array(a), Json::Array(b)) => a == b,
            (Json::Object(a), Json::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut parser = JsonParser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value()?;
        parser.skip_space();
        if parser.at != parser.bytes.len() {
            return Err(format!("trailing text at byte {}", parser.at));
        }
        Ok(value)
    }

    fn pretty(&self) -> String {
        let mut text = String::new();
        self.write_pretty(&mut text, 0);
        text.push('\n');
        text
    }

    fn write_pretty(&self, text: &mut String, depth: usize) {
        let indent = |text: &mut String, depth: usize| text.push_str(&"  ".repeat(depth));
        match self {
            Json::Null => text.push_str("null"),
            Json::Bool(value) => text.push_str(if *value { "true" } else { "false" }),
            Json::Integer(digits) => text.push_str(digits),
            Json::Float(value) => {
                let _ = write!(text, "{value:?}");
            }
            Json::String(value) => write_json_string(text, value),
            Json::Array(items) if items.is_empty() => text.push_str("[]"),
            Json::Array(items) => {
                text.push_str("[\n");
                for (index, item) in items.iter().enumerate() {
                    indent(text, depth + 1);
                    item.write_pretty(text, depth + 1);
                    text.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
                }
                indent(text, depth);
                text.push(']');
            }
            Json::Object(members) if members.is_empty() => text.push_str("{}"),
            Json::Object(members) => {
                text.push_str("{\n");
                for (index, (key, value)) in members.iter().enumerate() {
                    indent(text, depth + 1);
                    write_json_string(text, key);
                    text.push_str(": ");
                    value.write_pretty(text, depth + 1);
                    text.push_str(if index + 1 < members.len() {
                        ",\n"
                    } else {
                        "\n"
                    });
                }
                indent(text, depth);
                text.push('}');
            }
        }
    }
}

fn write_json_string(text: &mut String, value: &str) {
    text.push('"');
    for character in value.chars() {
        match character {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\t' => text.push_str("\\t"),
            '\r' => text.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(text, "\\u{:04x}", c as u32);
            }
            c => text.push(c),
        }
    }
    text.push('"');
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.at += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        let Some(&first) = self.bytes.get(self.at) else {
            return Err(self.error("unexpected end"));
        };
        match first {
            b'{' => {
                self.at += 1;
                let mut members = BTreeMap::new();
                self.skip_space();
                if self.eat("}") {
                    return Ok(Json::Object(members));
                }
                loop {
                    self.skip_space();
                    if self.bytes.get(self.at) != Some(&b'"') {
                        return Err(self.error("expected a key"));
                    }
                    let key = self.string()?;
                    self.skip_space();
                    if !self.eat(":") {
                        return Err(self.error("expected `:`"));
                    }
                    // Like Python's json module, a repeated key keeps its last value.
                    members.insert(key, self.value()?);
                    self.skip_space();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Object(members));
                    }
                    return Err(self.error("expected `,` or `}`"));
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.eat("]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.skip_space();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Array(items));
                    }
                    return Err(self.error("expected `,` or `]`"));
                }
            }
            b'"' => Ok(Json::String(self.string()?)),
            _ if self.eat("null") => Ok(Json::Null),
            _ if self.eat("true") => Ok(Json::Bool(true)),
            _ if self.eat("false") => Ok(Json::Bool(false)),
            _ if self.eat("NaN") => Ok(Json::Float(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Json::Float(f64::INFINITY)),
            _ if self.eat("-Infinity") => Ok(Json::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        let mut float = false;
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => float = true,
                _ => break,
            }
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
        if float {
            text.parse()
                .map(Json::Float)
                .map_err(|_| self.error("bad number"))
        } else if text.trim_start_matches('-').is_empty() {
            Err(self.error("bad number"))
        } else {
            // Keep integers as text: they may be larger than any machine integer.
            let negative = text.starts_with('-');
            let digits = text.trim_start_matches('-').trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            Ok(Json::Integer(if negative && digits != "0" {
                format!("-{digits}")
            } else {
                digits.to_string()
            }))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut value = String::new();
        loop {
            let rest = &self.bytes[self.at..];
            let stop = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or_else(|| self.error("unterminated string"))?;
            value.push_str(std::str::from_utf8(&rest[..stop]).map_err(|e| e.to_string())?);
            self.at += stop;
            if self.bytes[self.at] == b'"' {
                self.at += 1;
                return Ok(value);
            }
            self.at += 1; // the backslash
            let escape = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| self.error("unterminated escape"))?;
            self.at += 1;
            match escape {
                b'"' => value.push('"'),
                b'\\' => value.push('\\'),
                b'/' => value.push('/'),
                b'b' => value.push('\u{8}'),
                b'f' => value.push('\u{c}'),
                b'n' => value.push('\n'),
                b'r' => value.push('\r'),
                b't' => value.push('\t'),
                b'u' => {
                    let mut unit = self.hex4()?;
                    if (0xD800..0xDC00).contains(&unit) && self.eat("\\u") {
                        let low = self.hex4()?;
                        unit =
                            0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    }
                    value.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                }
                _ => return Err(self.error("bad escape")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("bad \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }
}

// ---------------------------------------------------------------------------------------------
// The harness's own pieces, checked on their own so that a broken comparison cannot make the
// corpus pass.

#[test]
fn recap_lines_parse_whatever_the_spacing() {
    let output = "PLAY RECAP *****\n\
        web1                       : ok=2    changed=1    unreachable=0    failed=0    skipped=3    rescued=0    ignored=1   \n\
        db : ok=1 changed=0 unreachable=1 failed=0 skipped=0 rescued=0 ignored=0\n\n";
    let recap = parse_recap(output).unwrap();
    assert_eq!(recap["web1"], [2, 1, 0, 0, 3, 0, 1]);
    assert_eq!(recap["db"], [1, 0, 1, 0, 0, 0, 0]);
    assert!(parse_recap("no recap here").is_err());
    assert!(parse_recap("PLAY RECAP ***\n\n").is_err());
}

#[test]
fn expect_files_round_trip() {
    let text = "# a comment\nlocalhost ok=3 changed=1 unreachable=0 failed=1 skipped=0 rescued=2 ignored=0\nrc=2\n";
    let expect = parse_expect(text).unwrap();
    assert_eq!(expect.exit_code, 2);
    assert_eq!(expect.recap["localhost"], [3, 1, 0, 1, 0, 2, 0]);
    assert_eq!(
        render_expect(&expect.recap, Some(expect.exit_code)),
        text.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n"
    );
    assert!(parse_expect("localhost ok=1\nrc=0\n").is_err());
    assert!(parse_expect(
        "localhost ok=1 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0\n"
    )
    .is_err());
    assert!(parse_expect("rc=0\n").is_err());
}

#[test]
fn json_compares_as_values() {
    let parse = |text: &str| Json::parse(text).unwrap();
    assert_eq!(
        parse(r#"{"a": 1, "b": [true, null]}"#),
        parse(r#"{"b":[true,null],"a":1}"#)
    );
    assert_ne!(parse("2"), parse("2.0"));
    assert_ne!(parse(r#"{"a": "1"}"#), parse(r#"{"a": 1}"#));
    assert_ne!(parse("[1, 2]"), parse("[2, 1]"));
    assert_eq!(
        parse(r#""\u00fc\ud83d\ude00\n""#),
        Json::String("ü😀\n".to_string())
    );
    assert_eq!(
        parse("[NaN, -Infinity, 1e3]"),
        parse("[NaN, -Infinity, 1000.0]")
    );
    assert!(Json::parse("{\"a\": 1,}").is_err());
    assert!(Json::parse("[1] x").is_err());
}

#[test]
fn trees_report_every_kind_of_difference() {
    let file = |mode, text: &str| Entry::File {
        mode,
        bytes: text.as_bytes().to_vec(),
    };
    let expected = BTreeMap::from([
        (
            PathBuf::from("same.json"),
            file(0o644, "{\"a\": 1, \"b\": 2}"),
        ),
        (PathBuf::from("mode"), file(0o644, "x")),
        (PathBuf::from("text"), file(0o644, "one\ntwo\nthree\n")),
        (PathBuf::from("only-ansible"), file(0o644, "")),
        (
            PathBuf::from("link"),
            Entry::Symlink {
                target: PathBuf::from("a"),
            },
        ),
        (PathBuf::from("dir"), Entry::Directory { mode: 0o755 }),
    ]);
    let actual = BTreeMap::from([
        (PathBuf::from("same.json"), file(0o644, "{\"b\":2,\"a\":1}")),
        (PathBuf::from("mode"), file(0o600, "x")),
        (PathBuf::from("text"), file(0o644, "one\n2\nthree\n")),
        (PathBuf::from("only-rplay"), file(0o644, "")),
        (
            PathBuf::from("link"),
            Entry::Symlink {
                target: PathBuf::from("b"),
            },
        ),
        (PathBuf::from("dir"), file(0o755, "")),
    ]);
    let differences = compare_trees(&expected, &actual).join("\n");
    for expected_text in [
        "out/mode: file mode 0644 under ansible-playbook, 0600 under rplay",
        "-two\n+2\n",
        "out/only-ansible: ansible-playbook made a file, rplay did not",
        "out/only-rplay: rplay made a file, ansible-playbook did not",
        "out/link: symlink to `a` under ansible-playbook, to `b` under rplay",
        "out/dir: a directory under ansible-playbook, a file under rplay",
    ] {
        assert!(
            differences.contains(expected_text),
            "missing `{expected_text}` in:\n{differences}"
        );
    }
    assert!(!differences.contains("same.json"), "{differences}");
}
