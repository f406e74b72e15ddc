//! Every input kept in `fuzz/regressions/TARGET/` (each crashed or hung a fuzz target
//! once, or is a seed worth keeping) is replayed through the same function the fuzz target
//! calls (`rplay::fuzzing`): it must return, without a panic, within a minute.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Generous: each input takes milliseconds once fixed; a debug build on a busy machine is
/// far slower than the fuzzer's release build.
const LIMIT: Duration = Duration::from_secs(60);

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

fn replay(target: &str, run: fn(&str)) {
    for path in inputs(target) {
        let bytes = std::fs::read(&path).unwrap();
        // The fuzz targets take `&str`, which libfuzzer-sys makes of the longest UTF-8
        // start of the input (an artifact may go on with other bytes): the same here.
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text.to_string(),
            Err(error) => String::from_utf8(bytes[..error.valid_up_to()].to_vec()).unwrap(),
        };
        let (done, finished) = mpsc::channel();
        let name = path.display().to_string();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(|| run(&text));
                let _ = done.send(outcome.is_ok());
            })
            .unwrap();
        match finished.recv_timeout(LIMIT) {
            Ok(true) => {}
            Ok(false) => panic!("{name} panicked (see above)"),
            Err(_) => panic!("{name} did not finish within {LIMIT:?}"),
        }
    }
}

#[test]
fn yaml_loader_inputs() {
    replay("yaml_loader", rplay::fuzzing::yaml_loader);
}

#[test]
fn inventory_ini_inputs() {
    replay("inventory_ini", rplay::fuzzing::inventory_ini);
}

#[test]
fn inventory_yaml_inputs() {
    replay("inventory_yaml", rplay::fuzzing::inventory_yaml);
}

#[test]
fn host_pattern_inputs() {
    replay("host_pattern", rplay::fuzzing::host_pattern);
}

#[test]
fn template_inputs() {
    replay("template", rplay::fuzzing::template);
}
