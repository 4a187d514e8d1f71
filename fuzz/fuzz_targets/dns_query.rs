#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| phonehome_isolate::fuzzing::dns_query(data));
