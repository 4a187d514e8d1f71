//! The report's wire types: what `phonehome report --format json` prints, and what the
//! Markdown and HTML renderers and the allowlist read. Internal accumulators live in
//! [`super::builder`]; these types only carry results.

use std::collections::BTreeMap;

use phonehome_catalog::{Ecosystem, PackageKind, Purpose};
use phonehome_record::{ConnId, FlowId, Phase};
use serde::Serialize;

use crate::agent::AgentSeen;
use crate::leaks::{CredentialUse, Leak, PromptLeak};
use crate::telemetry_summary::TelemetryHost;

/// Everything a report says. Serialised as the JSON report; rendered as Markdown and HTML.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub setup: Setup,
    pub summary: Summary,
    /// The host that received the main LLM conversation.
    pub provider: Option<String>,
    pub domains: Vec<DomainRow>,
    pub llm: Vec<LlmRow>,
    pub packages: Vec<PackageRow>,
    pub downloads: Vec<DownloadRow>,
    pub model_catalog: Vec<FetchRow>,
    pub signatures: Vec<SignatureRow>,
    pub retry_storms: Vec<Storm>,
    pub leaks: Vec<Leak>,
    pub prompt_leaks: Vec<PromptLeak>,
    pub credentials: Vec<CredentialUse>,
    pub failures: Vec<FailureRow>,
    pub blocked: Vec<BlockedRow>,
    /// The TLS fingerprints clients presented, per host.
    pub fingerprints: Vec<FingerprintRow>,
    /// Attempts that ended before their request was seen, per host and reason.
    pub unseen: Vec<UnseenRow>,
    /// The executables that owned the client sockets, with the hosts they connected to.
    pub processes: Vec<ProcessRow>,
    /// The connections commands the model ran made, per tool call.
    pub caused: Vec<CausedRow>,
    pub findings: Findings,
    pub verdict: Vec<Verdict>,
    pub hardening: Vec<Advice>,
    pub timeline: Timeline,
    /// Per host: the telemetry it received (protocol, events, what they carry, who sent them)
    /// and the persistent identifiers sent to it (hosts that got LLM calls left out, unless
    /// the identifiers came with decoded telemetry). Left out of the JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telemetry: Vec<TelemetryHost>,
    /// Problems with the input that did not stop the report (a torn last line).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Setup {
    /// The input's file name.
    pub input: String,
    /// `capture` or `har`.
    pub input_format: &'static str,
    pub agents: Vec<AgentSeen>,
    pub command: Vec<String>,
    pub mode: String,
    pub policy: String,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub exit_code: Option<i32>,
    pub tool_version: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub unique_signatures: u64,
    pub unique_domains: u64,
    /// Connections that never carried a request: DNS, connect, TLS failures, timeouts.
    pub failed_connection_attempts: u64,
    pub failed_requests: u64,
    pub blocked: u64,
    /// Requests the sinkhole read and answered instead of forwarding them.
    pub sinkholed: u64,
    pub llm_calls: u64,
    /// Request body bytes.
    pub bytes_up: u64,
    /// Response body bytes.
    pub bytes_down: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub purpose: Option<Purpose>,
    /// How the purpose was decided: `by catalog`, `by protocol: OTLP logs`, `by protocol:
    /// package registry`, `by response shape: model catalog`; for an unknown purpose, why
    /// (`unknown: no catalog entry; request not a known protocol`).
    pub purpose_source: String,
    pub owner: Option<String>,
    /// When the catalog names no owner: the service name the host's telemetry gave for its
    /// sender (who reported, not who runs the host). Left out of the JSON when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_by: Option<String>,
    pub requests: u64,
    /// Requests that failed, plus connection attempts that did.
    pub failures: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub first_seen: String,
    pub concern: String,
    /// What the requests here were for, when every one was a request the catalog saw the
    /// agent send to this host besides LLM calls (`observed`: telemetry on an LLM vendor's
    /// host); empty otherwise. Left out of the JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<Purpose>,
    /// Of `requests`, those made by commands the model ran (connections joined to a tool
    /// call, see [`crate::causes`]); the rest are the agent's own.
    pub tool_requests: u64,
}

/// A connection a tool call caused ("Caused by tool calls").
#[derive(Debug, Clone, Serialize)]
pub struct CausedRow {
    /// The tool call's id (its name for APIs without ids).
    pub tool_call: String,
    pub tool: String,
    pub command: Option<String>,
    /// The LLM call whose answer asked for it.
    pub llm_flow: FlowId,
    /// The process that connected: executable's file name and pid.
    pub process: String,
    pub pid: u32,
    pub conn: ConnId,
    pub host: String,
    pub port: u16,
    pub requests: u64,
    /// How it was joined: `argv`, `window` (window only), `ambiguous`.
    pub method: crate::causes::Method,
}

#[derive(Debug, Clone, Serialize)]
pub struct LlmRow {
    pub host: String,
    pub api: &'static str,
    pub model: String,
    pub calls: u64,
    pub streaming: u64,
    pub errors: u64,
    /// Calls that repeated a failed call's request body.
    pub retries: u64,
    /// Side calls (title generation, summaries) among the calls ([`crate::llm::is_meta`]).
    pub meta: u64,
    /// Tokens as the provider reported them, summed over the calls (`gen_ai.usage.*`).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub reasoning_tokens: u64,
    /// Time to first token of the streamed answers, in milliseconds: median and maximum.
    pub ttft_median_ms: Option<u64>,
    pub ttft_max_ms: Option<u64>,
    /// Failed calls by error: `429 rate_limit_exceeded` (status and the provider's error type),
    /// a status alone, or the capture's failure phase (`upstream_http`).
    pub error_kinds: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageRow {
    pub ecosystem: Ecosystem,
    pub kind: PackageKind,
    pub package: String,
    pub host: String,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DownloadRow {
    pub host: String,
    pub file: String,
    pub status: Option<u16>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchRow {
    pub host: String,
    pub url: String,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureRow {
    pub signature: String,
    pub requests: u64,
    pub failures: u64,
    /// Status → count; 0 for requests that got no response.
    pub statuses: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Storm {
    pub signature: String,
    pub requests: u64,
    pub failures: u64,
    pub first: String,
    pub last: String,
    pub window_s: f64,
    pub statuses: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub target: String,
    pub phase: Phase,
    pub message: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedRow {
    pub target: String,
    pub rule: String,
    /// False for a dry run's would-be denials, which went ahead.
    pub enforced: bool,
    /// Attempts denied; more than one means the agent retried a blocked host.
    pub count: u64,
}

/// One client TLS fingerprint seen for a host.
#[derive(Debug, Clone, Serialize)]
pub struct FingerprintRow {
    pub host: String,
    pub ja4: String,
    pub ja3: String,
    /// Connections that presented it.
    pub connections: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    pub respected: Vec<String>,
    pub be_aware_of: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub question: &'static str,
    /// `yes`, `no` or `n/a`.
    pub answer: &'static str,
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub agent: String,
    pub purpose: Purpose,
    pub hosts: Vec<String>,
    pub env: Option<String>,
    pub config: Option<String>,
    pub config_file: Option<String>,
    pub docs: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub start: Option<String>,
    pub end: Option<String>,
    /// The first requests, in order.
    pub first: Vec<TimelineEvent>,
    /// Requests per host over time, for the chart.
    pub hosts: Vec<HostActivity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub offset_ms: i64,
    pub method: String,
    pub host: String,
    pub path: String,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostActivity {
    pub host: String,
    /// Milliseconds from the timeline start to the first bucket.
    pub origin_ms: i64,
    pub bucket_ms: i64,
    pub counts: Vec<u32>,
}

/// Attempts to a host whose request phonehome never saw, and why.
#[derive(Debug, Clone, Serialize)]
pub struct UnseenRow {
    pub host: String,
    pub attempts: u64,
    pub why: &'static str,
    /// The option that would have shown the requests (`--sinkhole unreachable`), if any.
    pub reveal: Option<&'static str>,
}

/// One executable and the connections it opened.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRow {
    /// The executable's path (`conn.process.exe`).
    pub exe: String,
    pub connections: u64,
    pub hosts: Vec<ProcessHost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessHost {
    pub host: String,
    pub connections: u64,
}
