//! Integration tests: the real `phonehome` binary against real local servers and real clients
//! (curl, python3, the OpenCode, Claude Code, Codex and Gemini CLIs), all on loopback.

mod agents;
mod allocator;
mod attribution;
mod bad_input;
mod capture;
mod cli;
mod crash;
mod demo;
mod diff;
mod enforcers;
mod errors;
mod fixtures;
mod fuzz_inputs;
mod idle_timeout;
mod isolate;
mod launch;
mod lifetime;
mod llm;
mod opencode;
mod otlp;
mod otlp_live;
mod otlp_receiver;
mod policy;
mod reading;
mod redaction;
mod redaction_telemetry;
mod relay;
mod report;
mod sinkhole;
mod sse;
mod support;
mod upstream_proxy;
mod upstream_tls;
mod view;
mod websocket;
