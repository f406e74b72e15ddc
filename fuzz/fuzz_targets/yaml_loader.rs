//! The one YAML loader every playbook, vars file and YAML inventory goes through: any
//! text gives nodes or a diagnostic, never a panic, and the diagnostic renders.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    rplay::fuzzing::yaml_loader(text);
});
