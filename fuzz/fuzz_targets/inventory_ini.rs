//! INI inventories: any text gives an inventory whose hosts, groups and variables can be
//! read, or a diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    rplay::fuzzing::inventory_ini(text);
});
