//! Integration tests: the real `phonehome` binary against real local servers and real clients
//! (curl, python3, the OpenCode CLI), all on loopback.

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
mod isolate;
mod launch;
mod llm;
mod opencode;
mod otlp;
mod otlp_live;
mod otlp_receiver;
mod policy;
mod relay;
mod report;
mod sinkhole;
mod sse;
mod support;
mod upstream_proxy;
mod view;
mod websocket;
