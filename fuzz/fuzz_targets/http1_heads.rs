#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehome_proxy::fuzzing::http1_heads(data));
