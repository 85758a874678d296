//! cargo-fuzz target: `work_exporter::fuzzing::config_file` (see docs/reliability.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = work_exporter::fuzzing::config_file(data);
});
