//! phonehome's OpenTelemetry export: a capture's records as OTLP traces, metrics and logs,
//! from a file (`phonehome export --format otlp`) or live beside the recorder (`--otlp`).
//!
//! It follows the OpenTelemetry semantic conventions v1.38.0 (HTTP client spans, GenAI
//! spans and metrics) and sends through the standard Rust SDK's exporters
//! (`opentelemetry-otlp`: http/protobuf, http/json, grpc). Ids are derived from the capture
//! id and the flow and connection ids ([`ids`](crate)), so the same capture exported twice
//! gives the same trace and span ids.
//!
//! ```text
//! events (phonehome_analyze::open, or FlowJoin over live records)
//!   ─ Prelude (agent for the resource) ─ Mapper ─┬─ spans  (flow, attempt, genai)
//!                                                │          (execute_tool: tool calls, parents of what they caused)
//!                                                ├─ logs   (leaks, denials)
//!                                                └─ metrics
//!   ─ Sink (SpanExporter / LogExporter / MetricExporter) ─ collector
//! ```
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod attempt;
mod config;
mod export;
mod flow;
mod genai;
mod ids;
mod live;
mod logs;
mod mapper;
mod metrics;
mod resource;
mod sink;
mod span;
mod tool;

pub use config::{ConfigError, Overrides, Protocol, Settings, Signal};
pub use export::{export_events, ExportStats};
pub use live::Live;

/// The semantic conventions the exported data follows.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.38.0";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// An exporter cannot be made for the endpoint (a malformed URL, say).
    #[error("cannot set up the OTLP exporter for {endpoint}")]
    Build {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The HTTP client the exporters share cannot be made.
    #[error("cannot set up the OTLP exporter's HTTP client")]
    Client(#[source] reqwest::Error),
    /// The collector refused a batch, or did not answer in time.
    #[error("the OTLP collector at {endpoint} did not take the data")]
    Send {
        endpoint: String,
        #[source]
        source: opentelemetry_sdk::error::OTelSdkError,
    },
    /// The task sending a batch ended without saying how it went (it panicked).
    #[error("the OTLP export task ended without an answer")]
    Task(#[source] tokio::task::JoinError),
    #[error("the input has no capture header")]
    NoCapture,
    #[error(transparent)]
    Source(#[from] phonehome_analyze::SourceError),
}
