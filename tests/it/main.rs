//! Integration tests: the real `phonehome` binary against real local servers and real clients
//! (curl, python3, the OpenCode CLI), all on loopback.

mod allocator;
mod attribution;
mod bad_input;
mod capture;
mod cli;
mod crash;
mod demo;
mod diff;
mod errors;
mod fixtures;
mod fuzz_inputs;
mod idle_timeout;
mod isolate;
mod launch;
mod llm;
mod opencode;
mod policy;
mod relay;
mod report;
mod sinkhole;
mod sse;
mod support;
mod upstream_proxy;
mod upstream_tls;
mod view;
mod websocket;
