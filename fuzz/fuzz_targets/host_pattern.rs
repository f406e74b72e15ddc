//! Host patterns (`a:&b:!c`, `~regex`, `g[1:3]`, globs) and `--limit` against a small
//! fixed inventory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    rplay::fuzzing::host_pattern(text);
});
