//! YAML inventories, as `inventory_ini` does for INI.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    rplay::fuzzing::inventory_yaml(text);
});
