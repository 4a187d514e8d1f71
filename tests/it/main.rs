//! Integration tests: the real `phonehome` binary against real local servers and real clients
//! (curl, python3, the OpenCode, Claude Code, Codex and Gemini CLIs), all on loopback.

// Functions under 80 lines is a rule for the code, not for test scenarios (clippy.toml).
#![allow(clippy::too_many_lines)]

mod agents;
mod allocator;
mod any_agent;
mod attribution;
mod bad_input;
mod capture;
mod chromium;
mod cli;
mod client_errors;
mod configured;
mod crash;
mod demo;
mod diff;
mod enforcers;
mod errors;
mod fixtures;
mod fuzz_inputs;
mod idle_timeout;
mod isolate;
mod isolate_bulk;
mod isolate_connections;
mod keepalive;
mod launch;
mod lifetime;
mod llm;
mod messages;
mod one_writer;
mod opencode;
mod otlp;
mod otlp_live;
mod otlp_receiver;
mod overload;
mod policy;
mod policy_process;
mod reading;
mod redaction;
mod redaction_telemetry;
mod relay;
mod report;
mod sinkhole;
mod spool;
mod sse;
mod stopping;
mod support;
mod telemetry;
mod truthful;
mod upstream_proxy;
mod upstream_tls;
mod view;
mod web;
mod websocket;
