//! Template rendering with Ansible's filters and tests, bounded by fuel.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    rplay::fuzzing::template(text);
});
