//! phonehome analysis: reports, request signatures, LLM conversations ([`llm`]: decoders for
//! the OpenAI, Anthropic, Gemini and Ollama APIs), telemetry ([`telemetry`]: decoders for OTLP,
//! PostHog, Segment, Amplitude, Mixpanel, Sentry, Statsig, Datadog, Clearcut and a generic
//! events array, by protocol), the leak finder, the allowlist and HAR, all from a capture file
//! (or a HAR file). Pure: no async, no network, no proxy code.
//!
//! ```text
//! capture / HAR ─ source (events) ─ report builder ─ Report ─┬─ Markdown
//!                                                            ├─ HTML (self-contained)
//!                                                            ├─ JSON
//!                                                            └─ allowlist
//! ```
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

/// Declares the decoder modules of one kind (LLM APIs, telemetry protocols) and the table that
/// lists them, in the order they are tried: adding a decoder is its file plus one line here.
macro_rules! decoders {
    ($(#[$meta:meta])* $table:ident: $kind:path = [$($module:ident::$decoder:ident),* $(,)?]) => {
        $(mod $module;)*
        $(#[$meta])*
        pub(crate) static $table: &[&dyn $kind] = &[$(&$module::$decoder),*];
    };
}

mod agent;
mod allowlist;
pub mod causes;
mod diff;
mod event;
mod har;
mod html;
mod input;
mod leaks;
pub mod llm;
mod markdown;
mod plural;
mod pool;
mod replay;
mod report;
mod signature;
pub mod telemetry;
mod telemetry_summary;

pub use agent::{AgentDetector, AgentSeen};
pub use allowlist::{
    allowlist, read_back, Allowed, Allowlist, Denied, Format as AllowlistFormat, ReadBack,
    ReadBackError,
};
pub use diff::{
    diff, render_markdown as render_diff_markdown, Change, Diff, HostDiff, ProcessDiff,
    ProcessSide, SharedIdentifier, SignatureDiff,
};
pub use event::{url_parts, Event, Exchange, ResponsePart, SourceError, UrlParts};
pub use har::{export as export_har, ExportError, HarError};
pub use input::{open, open_regular, open_with_progress, Events, FlowJoin, Progress, INCOMPLETE};
pub use leaks::{CredentialUse, Leak, MarkerHit, Needles, PromptLeak};
pub use llm::{recognise as recognise_llm_call, LlmCall};
pub use markdown::catalog::render_catalog_markdown;
pub use replay::{replay, HostVerdict, Replay, ReplayError};
pub use report::{
    build as build_report, build_with_progress as build_report_with_progress, Report,
};
pub use signature::signature;
pub use telemetry_summary::{
    render_text as render_telemetry_text, summarise as summarise_telemetry, EventName,
    IdentifierRow, ProtocolCount, ResourceOut, Sample, TelemetryHost,
};

/// Renders a report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    markdown::render(report)
}

/// Renders a report as one self-contained HTML file.
pub fn render_html(report: &Report) -> String {
    html::render(report)
}

/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use base64::Engine as _;
    use phonehome_record::{Body, BodyEncoding};

    /// Decodes bytes as an LLM exchange: the first byte picks the API and the response's
    /// content type, the rest is the request body and the response body, split at the first
    /// byte 0x01.
    pub fn llm_decode(data: &[u8]) {
        const URLS: [&str; 6] = [
            "https://h/v1/chat/completions",
            "https://h/v1/responses",
            "https://h/v1/messages",
            "https://h/v1beta/models/m:generateContent",
            "https://h/v1beta/models/m:streamGenerateContent",
            "http://h/api/chat",
        ];
        const TYPES: [&str; 4] = [
            "text/event-stream",
            "application/json",
            "application/x-ndjson",
            "",
        ];
        let Some((selector, rest)) = data.split_first() else {
            return;
        };
        let text = String::from_utf8_lossy(rest);
        let (request, response) = text.split_once('\u{1}').unwrap_or(("{}", &text));
        let body = |data: &str| Body {
            size: data.len() as u64,
            encoding: BodyEncoding::Utf8,
            data: data.to_owned(),
            truncated: selector & 0x80 != 0,
            decoded_from: None,
            dropped_bytes: 0,
            redaction: None,
        };
        let mut exchange = crate::event::exchange(
            phonehome_record::FlowId(1),
            chrono::DateTime::default(),
            "POST".into(),
            URLS[usize::from(selector % 6)].into(),
            "HTTP/1.1".into(),
            Vec::new(),
            Some(body(request)),
        );
        exchange.response = Some(crate::event::ResponsePart {
            status: if selector & 0x40 != 0 { 429 } else { 200 },
            reason: String::new(),
            version: "HTTP/1.1".into(),
            headers: vec![(
                "content-type".into(),
                TYPES[usize::from((selector >> 3) % 4)].into(),
            )],
            body: Some(body(response)),
            ttfb_ms: 1,
            first_byte_ms: Some(2),
            duration_ms: 3,
        });
        let _ = crate::llm::decode(&exchange);
    }

    /// Reads bytes as a capture file and joins its records into events, as `report` does.
    pub fn capture_reader(data: &[u8]) {
        let mut join = crate::FlowJoin::default();
        for item in phonehome_record::CaptureReader::new(data) {
            if let Ok(item) = item {
                join.push(item.record);
            }
            while join.pop().is_some() {}
        }
        join.finish();
    }

    /// Imports text as a HAR file, as the analysis commands read one.
    pub fn har_import(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crate::har::import(text);
        }
    }

    /// Decodes bytes as a telemetry request: the first byte picks the path (one per
    /// protocol), the content type, and whether the body is stored as text or as base64 (as a
    /// binary body is); the rest is the request body. When it is text, the response body is
    /// what follows the first byte 0x01 (flags answers are read from it).
    pub fn telemetry_decode(data: &[u8]) {
        const URLS: [&str; 16] = [
            "https://h/v1/logs",
            "https://h/v1/traces",
            "https://h/v1/metrics",
            "https://h/batch/",
            "https://h/flags/",
            "https://h/v1/batch",
            "https://h/2/httpapi",
            "https://h/track",
            "https://h/api/1/envelope/",
            "https://h/api/1/store/",
            "https://h/v1/initialize",
            "https://h/v1/rgstr",
            "https://h/api/v2/logs",
            "https://h/api/v2/rum",
            "https://h/log?format=json",
            "https://h/collect",
        ];
        const TYPES: [&str; 4] = [
            "application/json",
            "application/x-protobuf",
            "application/x-www-form-urlencoded",
            "",
        ];
        let Some((selector, rest)) = data.split_first() else {
            return;
        };
        let binary = selector & 0x80 != 0;
        let text = String::from_utf8_lossy(rest);
        let (request, response) = text.split_once('\u{1}').unwrap_or((&text, ""));
        let body = |encoding, data: String| Body {
            size: data.len() as u64,
            encoding,
            data,
            truncated: selector & 0x40 != 0,
            decoded_from: None,
            dropped_bytes: 0,
            redaction: None,
        };
        let request = if binary {
            let data = base64::engine::general_purpose::STANDARD.encode(rest);
            body(BodyEncoding::Base64, data)
        } else {
            body(BodyEncoding::Utf8, request.to_owned())
        };
        let mut exchange = crate::event::exchange(
            phonehome_record::FlowId(1),
            chrono::DateTime::default(),
            "POST".into(),
            URLS[usize::from(selector % 16)].into(),
            "HTTP/1.1".into(),
            vec![(
                "content-type".into(),
                TYPES[usize::from((selector >> 4) % 4)].into(),
            )],
            Some(request),
        );
        exchange.response = Some(crate::event::ResponsePart {
            status: 200,
            reason: String::new(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            body: Some(body(BodyEncoding::Utf8, response.to_owned())),
            ttfb_ms: 1,
            first_byte_ms: None,
            duration_ms: 2,
        });
        let _ = crate::telemetry::decode(&exchange);
    }
}
