//! phonehome analysis: reports, request signatures, the leak finder, the allowlist and HAR,
//! all from a capture file (or a HAR file). Pure: no async, no network, no proxy code.
//!
//! ```text
//! capture / HAR ─ source (events) ─ report builder ─ Report ─┬─ Markdown
//!                                                            ├─ HTML (self-contained)
//!                                                            ├─ JSON
//!                                                            └─ allowlist
//! ```
#![forbid(unsafe_code)]

mod advice;
mod agent;
mod allowlist;
mod diff;
mod har;
mod html;
mod leaks;
mod llm;
mod markdown;
mod report;
mod signature;
mod source;

pub use agent::AgentSeen;
pub use allowlist::{allowlist, Allowlist, Denied};
pub use diff::{
    diff, render_markdown as render_diff_markdown, Change, Diff, HostDiff, SignatureDiff,
};
pub use har::{export as export_har, ExportError};
pub use leaks::{CredentialUse, Leak, PromptLeak};
pub use llm::{recognise as recognise_llm_call, LlmCall};
pub use report::{build as build_report, Report};
pub use signature::signature;
pub use source::{open, Event, Events, Exchange, ResponsePart, SourceError};

/// Renders a report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    markdown::render(report)
}

/// Renders a report as one self-contained HTML file.
pub fn render_html(report: &Report) -> String {
    html::render(report)
}
