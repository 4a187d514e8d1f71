#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehome_analyze::fuzzing::telemetry_decode(data));
