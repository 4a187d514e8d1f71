//! A host's concern in the domain table: what a reviewer should make of it (the configured
//! provider, loopback, sends usage data, …). An LLM vendor's host that got none of the
//! agent's LLM calls, only requests the catalog saw it send there (`observed`), is labelled by
//! what was sent, not as an LLM provider other than the configured one.

use phonehome_catalog::{Catalog, Purpose};
use phonehome_record::is_loopback;

use super::observed::Sent;

/// What the domain table says of one host.
pub(super) struct Host<'a> {
    pub(super) host: &'a str,
    pub(super) purpose: Option<Purpose>,
    /// The agent's observed requests, when they were all the host got.
    pub(super) sent: Option<&'a Sent>,
    pub(super) requests: u64,
    /// Failed requests plus failed connection attempts.
    pub(super) failures: u64,
    /// Whether it received markers it should not have.
    pub(super) leaked: bool,
}

/// The concern of `h`, given the configured provider.
pub(super) fn concern(h: &Host<'_>, provider: Option<&str>, catalog: &Catalog) -> String {
    let mut text = if provider == Some(h.host) {
        "configured LLM provider".to_owned()
    } else if is_loopback(h.host) {
        "loopback".to_owned()
    } else {
        match (h.purpose, h.sent) {
            (Some(Purpose::LlmApi), Some(sent)) => sent_label(sent, catalog),
            (purpose, _) => purpose_concern(purpose).to_owned(),
        }
    };
    if h.leaked {
        text.push_str("; received markers");
    }
    if h.failures > 0 && h.failures >= h.requests.max(1) {
        text.push_str("; every attempt failed");
    }
    text
}

fn purpose_concern(purpose: Option<Purpose>) -> &'static str {
    match purpose {
        None => "unknown host",
        Some(Purpose::LlmApi) => "LLM API other than the configured provider",
        Some(Purpose::Telemetry | Purpose::ErrorReporting | Purpose::FeatureFlags) => {
            "sends usage data"
        }
        Some(Purpose::SessionShare) => "can publish sessions",
        Some(Purpose::UpdateCheck | Purpose::BinaryDownload) => "downloads code",
        Some(Purpose::PackageRegistry) => "installs packages at runtime",
        Some(_) => "non-essential",
    }
}

/// `telemetry and feature flags of Claude Code (not LLM calls)`.
pub(super) fn sent_label(sent: &Sent, catalog: &Catalog) -> String {
    let names: Vec<String> = sent
        .purposes
        .iter()
        .map(|p| p.as_str().replace('-', " "))
        .collect();
    let what = match names.as_slice() {
        [] => "requests".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    let agent = catalog
        .agent(&sent.agent)
        .map_or(sent.agent.as_str(), |a| a.display.as_str());
    format!("{what} of {agent} (not LLM calls)")
}
