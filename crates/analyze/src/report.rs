//! The report: what a person investigating an agent's traffic writes by hand, built from a
//! capture in one streaming pass (plus a second pass over request bodies when the prompt has
//! to be looked for elsewhere). Memory grows with the number of hosts and request signatures,
//! not with the size of the capture.

use phonehome_record::is_loopback;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;

use chrono::{DateTime, Utc};
use phonehome_catalog::{recognise_package, Catalog, Ecosystem, PackageKind, Purpose};
use phonehome_record::{Capture, End, Phase};
use serde::Serialize;

use crate::leaks::{LeakFinder, PromptSearch};
use crate::source::{self, Event, Exchange, SourceError};
use crate::{agent, llm, signature};

/// Rows of the signature table kept in the report (the count of all is in the summary).
const TOP_SIGNATURES: usize = 30;
/// Requests of one signature closer than this belong to one burst.
const STORM_GAP_MS: i64 = 10_000;
/// A burst this long, mostly failing, is a retry storm.
const STORM_MIN_REQUESTS: u64 = 10;
const TIMELINE_EVENTS: usize = 40;
const MAX_LISTED: usize = 500;
/// Time buckets per host kept for the timeline chart before buckets are merged.
const MAX_BUCKETS: usize = 240;

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
    pub leaks: Vec<crate::leaks::Leak>,
    pub prompt_leaks: Vec<crate::leaks::PromptLeak>,
    pub credentials: Vec<crate::leaks::CredentialUse>,
    pub failures: Vec<FailureRow>,
    pub blocked: Vec<BlockedRow>,
    /// The TLS fingerprints clients presented, per host.
    pub fingerprints: Vec<FingerprintRow>,
    pub findings: Findings,
    pub verdict: Vec<Verdict>,
    pub hardening: Vec<Advice>,
    pub timeline: Timeline,
    /// Problems with the input that did not stop the report (a torn last line).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Setup {
    /// The input's file name.
    pub input: String,
    /// `capture` or `har`.
    pub input_format: &'static str,
    pub agents: Vec<agent::AgentSeen>,
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
    pub owner: Option<String>,
    pub requests: u64,
    /// Requests that failed, plus connection attempts that did.
    pub failures: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub first_seen: String,
    pub concern: String,
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

/// Builds a report from a capture or HAR file. `catalog` classifies hosts.
///
/// # Errors
/// [`SourceError`] when the input cannot be read or is malformed (with its line number).
pub fn build(path: &Path, catalog: &Catalog) -> Result<Report, SourceError> {
    let mut builder = Builder::new(catalog);
    builder.input = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut events = source::open(path)?;
    builder.input_format = if matches!(events, source::Events::Har(_)) {
        "har"
    } else {
        "capture"
    };
    for event in &mut events {
        builder.feed(event?);
    }
    if let source::Events::Capture(capture) = &events {
        if let Some(line) = capture.torn_tail() {
            builder.warnings.push(format!(
                "line {line}: the last line is incomplete (the capture was cut off) and was skipped"
            ));
        }
    }
    let provider = builder.provider();
    // Second pass: was the prompt sent anywhere else?
    if let Some(search) = builder.prompts.search(provider.as_deref()) {
        if builder.input_format == "capture" {
            source::scan_requests(path, |line| search.line_may_match(line), |x| search.feed(x))?;
        } else {
            for event in source::open(path)? {
                if let Event::Exchange(exchange) = event? {
                    search.feed(&exchange);
                }
            }
        }
        builder.prompt_leaks = search.finish();
    }
    Ok(builder.finish(provider))
}

#[derive(Default)]
struct HostAcc {
    port: u16,
    requests: u64,
    failures: u64,
    bytes_up: u64,
    bytes_down: u64,
    first_seen: Option<DateTime<Utc>>,
    registry: bool,
    activity: Activity,
}

#[derive(Default)]
struct SignatureAcc {
    requests: u64,
    failures: u64,
    statuses: BTreeMap<u16, u64>,
    burst: Option<Burst>,
    /// Hash of the request body of the last failed request, to count retries.
    last_failed_body: Option<u64>,
}

#[derive(Clone)]
struct Burst {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    requests: u64,
    failures: u64,
    statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
struct LlmAcc {
    calls: u64,
    streaming: u64,
    errors: u64,
    retries: u64,
    ok: u64,
    meta: u64,
    usage: [u64; 5],
    ttft_ms: Vec<u64>,
    error_kinds: BTreeMap<String, u64>,
}

impl LlmAcc {
    /// Adds what the decoder found in one call.
    fn add(&mut self, c: &llm::Conversation) {
        self.meta += u64::from(c.meta);
        let u = &c.usage;
        let counts = [
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens,
            u.cache_creation_input_tokens,
            u.reasoning_tokens,
        ];
        for (sum, n) in self.usage.iter_mut().zip(counts) {
            *sum += n.unwrap_or(0);
        }
        if let Some(ttft) = c.ttft_ms {
            self.ttft_ms.push(ttft);
        }
        if let Some(e) = &c.error {
            let label = match (e.status.filter(|s| *s >= 400), &e.kind) {
                (Some(status), Some(kind)) => format!("{status} {kind}"),
                (Some(status), None) => status.to_string(),
                (None, Some(kind)) => kind.clone(),
                (None, None) => "error".to_owned(),
            };
            *self.error_kinds.entry(label).or_default() += 1;
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count), and the maximum.
fn median_max(mut values: Vec<u64>) -> (Option<u64>, Option<u64>) {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    };
    (Some(median), values.last().copied())
}

/// Requests per time bucket, merging buckets as the span grows so memory stays bounded.
#[derive(Default)]
struct Activity {
    bucket_ms: i64,
    origin: Option<i64>,
    counts: BTreeMap<i64, u32>,
}

impl Activity {
    fn add(&mut self, at_ms: i64) {
        if self.bucket_ms == 0 {
            self.bucket_ms = 1_000;
        }
        let origin = *self.origin.get_or_insert(at_ms);
        let mut bucket = (at_ms - origin).div_euclid(self.bucket_ms);
        while bucket >= MAX_BUCKETS as i64 * 4 {
            self.bucket_ms *= 2;
            let merged: BTreeMap<i64, u32> =
                self.counts.iter().fold(BTreeMap::new(), |mut m, (b, c)| {
                    *m.entry(b / 2).or_default() += c;
                    m
                });
            self.counts = merged;
            bucket = (at_ms - origin).div_euclid(self.bucket_ms);
        }
        *self.counts.entry(bucket).or_default() += 1;
    }
}

struct Builder<'c> {
    catalog: &'c Catalog,
    /// Catalog purpose per (host, port): glob matching once per host, not per request.
    purposes: HashMap<(String, u16), Option<Purpose>>,
    input: String,
    input_format: &'static str,
    header: Option<Capture>,
    end: Option<End>,
    hosts: HashMap<String, HostAcc>,
    signatures: HashMap<String, SignatureAcc>,
    storms: Vec<Storm>,
    packages: BTreeMap<(Ecosystem, PackageKind, String, String), u64>,
    downloads: Vec<DownloadRow>,
    model_catalog: Vec<FetchRow>,
    llm: BTreeMap<(String, &'static str, String), LlmAcc>,
    failures: BTreeMap<(String, Phase, String), u64>,
    blocked: BTreeMap<(String, String, bool), u64>,
    fingerprints: BTreeMap<(String, String, String), u64>,
    agents: agent::Detector,
    leaks: LeakFinder,
    prompts: PromptSearch,
    prompt_leaks: Vec<crate::leaks::PromptLeak>,
    summary: Summary,
    start: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    first_events: Vec<(DateTime<Utc>, TimelineEvent)>,
    warnings: Vec<String>,
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A time as the capture format writes it.
pub(crate) fn ts_string(t: DateTime<Utc>) -> String {
    phonehome_record::timestamp(t.into())
}

/// Whether a failure happened before any request could be sent.
fn is_connection_failure(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Dns | Phase::Connect | Phase::Timeout | Phase::TlsUpstream | Phase::TlsClient
    )
}

impl<'c> Builder<'c> {
    fn new(catalog: &'c Catalog) -> Self {
        Self {
            catalog,
            purposes: HashMap::new(),
            input: String::new(),
            input_format: "capture",
            header: None,
            end: None,
            hosts: HashMap::new(),
            signatures: HashMap::new(),
            storms: Vec::new(),
            packages: BTreeMap::new(),
            downloads: Vec::new(),
            model_catalog: Vec::new(),
            llm: BTreeMap::new(),
            failures: BTreeMap::new(),
            blocked: BTreeMap::new(),
            fingerprints: BTreeMap::new(),
            agents: agent::Detector::new(catalog),
            leaks: LeakFinder::default(),
            prompts: PromptSearch::default(),
            prompt_leaks: Vec::new(),
            summary: Summary::default(),
            start: None,
            last: None,
            first_events: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn see_time(&mut self, t: DateTime<Utc>) {
        if t.timestamp() == 0 {
            return;
        }
        self.start = Some(self.start.map_or(t, |s| s.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    fn feed(&mut self, event: Event) {
        match event {
            Event::Header(capture) => {
                self.agents.command(&capture.command);
                self.leaks.set_markers(&capture.markers);
                self.header = Some(capture);
            }
            Event::Exchange(exchange) => self.exchange(&exchange),
            Event::Failure {
                ts,
                target,
                phase,
                message,
            } => {
                self.see_time(ts);
                let host = self.hosts.entry(target.host.clone()).or_default();
                host.port = target.port;
                host.failures += 1;
                host.first_seen.get_or_insert(ts);
                if is_connection_failure(phase) {
                    self.summary.failed_connection_attempts += 1;
                }
                *self
                    .failures
                    .entry((target.to_string(), phase, message))
                    .or_default() += 1;
            }
            Event::Blocked(b) => {
                self.summary.blocked += 1;
                *self
                    .blocked
                    .entry((b.target.to_string(), b.rule, b.enforced))
                    .or_default() += 1;
            }
            Event::End(end) => self.end = Some(end),
            Event::Conn(conn) => {
                if let Some(tls) = conn.tls {
                    if let (Some(ja4), Some(ja3)) = (tls.ja4, tls.ja3) {
                        *self
                            .fingerprints
                            .entry((conn.target.host, ja4, ja3))
                            .or_default() += 1;
                    }
                }
            }
            Event::Ws(_) => {}
        }
    }

    fn exchange(&mut self, x: &Exchange) {
        self.see_time(x.ts);
        self.summary.requests += 1;
        let failed = x.failed();
        if failed {
            self.summary.failed_requests += 1;
        }
        let status = x.response.as_ref().map(|r| r.status);
        let up = x.request_body.as_ref().map_or(0, |b| b.size);
        let down = x
            .response
            .as_ref()
            .and_then(|r| r.body.as_ref())
            .map_or(0, |b| b.size);
        self.summary.bytes_up += up;
        self.summary.bytes_down += down;
        if let Some((phase, message)) = &x.error {
            if is_connection_failure(*phase) && x.response.is_none() {
                self.summary.failed_connection_attempts += 1;
                let target = format!("{}:{}", x.host, x.port);
                *self
                    .failures
                    .entry((target, *phase, message.clone()))
                    .or_default() += 1;
            }
        }
        if self.first_events.len() < TIMELINE_EVENTS {
            self.first_events.push((
                x.ts,
                TimelineEvent {
                    offset_ms: 0,
                    method: x.method.clone(),
                    host: x.host.clone(),
                    path: x.path.clone(),
                    status,
                },
            ));
        }
        self.agents.exchange(x);
        self.leaks.exchange(x);

        let package = recognise_package(&x.method, &x.path, &x.request_headers);
        let host = self.hosts.entry(x.host.clone()).or_default();
        host.port = x.port;
        host.requests += 1;
        host.failures += u64::from(failed);
        host.bytes_up += up;
        host.bytes_down += down;
        host.first_seen.get_or_insert(x.ts);
        host.activity.add(x.ts.timestamp_millis());
        if let Some(package) = &package {
            host.registry = true;
            let key = (
                package.ecosystem,
                package.kind,
                package.label(),
                x.host.clone(),
            );
            *self.packages.entry(key).or_default() += 1;
        }

        let purpose = if package.is_some() {
            Some(Purpose::PackageRegistry)
        } else {
            let catalog = self.catalog;
            *self
                .purposes
                .entry((x.host.clone(), x.port))
                .or_insert_with(|| catalog.lookup(&x.host, x.port).map(|e| e.purpose))
        };
        if purpose == Some(Purpose::BinaryDownload) && self.downloads.len() < MAX_LISTED {
            let file = x.path.rsplit('/').next().unwrap_or_default().to_owned();
            if status.is_some_and(|s| (200..300).contains(&s)) && !file.is_empty() {
                self.downloads.push(DownloadRow {
                    host: x.host.clone(),
                    file,
                    status,
                    bytes: down,
                });
            }
        }
        if purpose == Some(Purpose::ModelCatalog) && self.model_catalog.len() < MAX_LISTED {
            self.model_catalog.push(FetchRow {
                host: x.host.clone(),
                url: x.url.clone(),
                status,
            });
        }

        let sig = signature::signature(&x.method, &x.host, &x.path, x.query.as_deref());
        let body_hash = x.request_body.as_ref().map(|b| hash_of(&b.data));
        let acc = self.signatures.entry(sig.clone()).or_default();
        acc.requests += 1;
        acc.failures += u64::from(failed);
        *acc.statuses.entry(status.unwrap_or(0)).or_default() += 1;
        let retry = failed_before(acc, body_hash);
        acc.last_failed_body = if failed { body_hash.or(Some(0)) } else { None };
        if let Some(storm) = burst(acc, &sig, x.ts, failed, status) {
            self.storms.push(storm);
        }

        if let Some(call) = llm::recognise(x) {
            self.summary.llm_calls += 1;
            let row = self
                .llm
                .entry((x.host.clone(), call.api, call.model.clone()))
                .or_default();
            row.calls += 1;
            row.streaming += u64::from(call.streaming);
            row.errors += u64::from(failed);
            row.ok += u64::from(!failed);
            row.retries += u64::from(retry);
            if let Some(conversation) = llm::decode(x) {
                row.add(&conversation);
            }
            if let Some(prompt) = call.prompt {
                self.prompts.add(&x.host, prompt);
            }
        }
    }

    /// The catalog's purpose for a host, or package-registry for one recognised by protocol.
    fn purpose_of(&self, host: &str, port: u16, registry: bool) -> Option<Purpose> {
        if registry {
            return Some(Purpose::PackageRegistry);
        }
        self.catalog.lookup(host, port).map(|e| e.purpose)
    }

    /// The host that got the most successful LLM calls; else the llm-api host with the most
    /// requests.
    fn provider(&self) -> Option<String> {
        let mut ok_by_host: BTreeMap<&str, u64> = BTreeMap::new();
        for ((host, _, _), acc) in &self.llm {
            *ok_by_host.entry(host).or_default() += acc.ok * 1_000_000 + acc.calls;
        }
        if let Some((host, _)) = ok_by_host
            .iter()
            .max_by_key(|(h, n)| (**n, std::cmp::Reverse(**h)))
        {
            return Some((*host).to_owned());
        }
        self.hosts
            .iter()
            .filter(|(h, acc)| self.purpose_of(h, acc.port, false) == Some(Purpose::LlmApi))
            .max_by_key(|(h, acc)| (acc.requests, std::cmp::Reverse(h.as_str())))
            .map(|(h, _)| h.clone())
    }

    fn finish(mut self, provider: Option<String>) -> Report {
        for (sig, acc) in &mut self.signatures {
            if let Some(storm) = close_burst(acc, sig) {
                self.storms.push(storm);
            }
        }
        self.storms.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(a.signature.cmp(&b.signature))
        });
        let agents = std::mem::take(&mut self.agents).finish();
        let setup = self.setup(agents);
        self.summary.unique_signatures = self.signatures.len() as u64;
        self.summary.unique_domains = self.hosts.len() as u64;
        let (leaks, credentials) = std::mem::take(&mut self.leaks).finish(provider.as_deref());
        let domains = self.domains(provider.as_deref(), &leaks);
        let mut signatures: Vec<SignatureRow> = self
            .signatures
            .into_iter()
            .map(|(signature, acc)| SignatureRow {
                signature,
                requests: acc.requests,
                failures: acc.failures,
                statuses: acc.statuses,
            })
            .collect();
        signatures.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(a.signature.cmp(&b.signature))
        });
        signatures.truncate(TOP_SIGNATURES);
        let llm = self
            .llm
            .into_iter()
            .map(|((host, api, model), acc)| {
                let (ttft_median_ms, ttft_max_ms) = median_max(acc.ttft_ms);
                let [input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens] =
                    acc.usage;
                LlmRow {
                    host,
                    api,
                    model,
                    calls: acc.calls,
                    streaming: acc.streaming,
                    errors: acc.errors,
                    retries: acc.retries,
                    meta: acc.meta,
                    input_tokens,
                    output_tokens,
                    cache_read_input_tokens,
                    cache_creation_input_tokens,
                    reasoning_tokens,
                    ttft_median_ms,
                    ttft_max_ms,
                    error_kinds: acc.error_kinds,
                }
            })
            .collect();
        let packages = self
            .packages
            .into_iter()
            .map(|((ecosystem, kind, package, host), requests)| PackageRow {
                ecosystem,
                kind,
                package,
                host,
                requests,
            })
            .collect();
        let failures = self
            .failures
            .into_iter()
            .map(|((target, phase, message), count)| FailureRow {
                target,
                phase,
                message,
                count,
            })
            .collect();
        let blocked = self
            .blocked
            .into_iter()
            .map(|((target, rule, enforced), count)| BlockedRow {
                target,
                rule,
                enforced,
                count,
            })
            .collect();
        let timeline = timeline(self.start, self.last, self.first_events, &self.hosts);
        let fingerprints = self
            .fingerprints
            .into_iter()
            .map(|((host, ja4, ja3), connections)| FingerprintRow {
                host,
                ja4,
                ja3,
                connections,
            })
            .collect();
        let mut report = Report {
            setup,
            summary: self.summary,
            provider,
            domains,
            llm,
            packages,
            downloads: self.downloads,
            model_catalog: self.model_catalog,
            signatures,
            retry_storms: self.storms,
            leaks,
            prompt_leaks: self.prompt_leaks,
            credentials,
            failures,
            blocked,
            fingerprints,
            findings: Findings::default(),
            verdict: Vec::new(),
            hardening: Vec::new(),
            timeline,
            warnings: self.warnings,
        };
        report.hardening = crate::advice::hardening(&report, self.catalog);
        report.findings = crate::advice::findings(&report);
        report.verdict = crate::advice::verdict(&report);
        report
    }

    fn setup(&self, agents: Vec<agent::AgentSeen>) -> Setup {
        let header = self.header.as_ref();
        Setup {
            input: self.input.clone(),
            input_format: self.input_format,
            agents,
            command: header.map(|h| h.command.clone()).unwrap_or_default(),
            mode: header.map_or_else(String::new, |h| {
                serde_json::to_value(h.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            policy: header.map(|h| h.policy.clone()).unwrap_or_default(),
            started: header
                .map(|h| h.ts.clone())
                .or_else(|| self.start.map(ts_string)),
            ended: self.end.as_ref().map(|e| e.ts.clone()),
            exit_code: self.end.as_ref().and_then(|e| e.exit_code),
            tool_version: header.map(|h| h.tool_version.clone()).unwrap_or_default(),
        }
    }

    fn domains(&self, provider: Option<&str>, leaks: &[crate::leaks::Leak]) -> Vec<DomainRow> {
        let mut rows: Vec<DomainRow> = self
            .hosts
            .iter()
            .map(|(host, acc)| {
                let endpoint = self.catalog.lookup(host, acc.port);
                let purpose = if acc.registry && endpoint.is_none() {
                    Some(Purpose::PackageRegistry)
                } else {
                    endpoint.map(|e| e.purpose)
                };
                let leaked = leaks.iter().any(|l| &l.host == host && !l.expected);
                DomainRow {
                    domain: host.clone(),
                    purpose,
                    owner: endpoint.map(|e| e.owner.clone()),
                    requests: acc.requests,
                    failures: acc.failures,
                    bytes_up: acc.bytes_up,
                    bytes_down: acc.bytes_down,
                    first_seen: acc.first_seen.map(ts_string).unwrap_or_default(),
                    concern: concern(host, purpose, provider, acc, leaked),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.domain.cmp(&b.domain)));
        rows
    }
}

fn failed_before(acc: &SignatureAcc, body_hash: Option<u64>) -> bool {
    acc.last_failed_body.is_some() && acc.last_failed_body == body_hash.or(Some(0))
}

/// Adds a request to its signature's burst; returns the previous burst when it ended as a storm.
fn burst(
    acc: &mut SignatureAcc,
    sig: &str,
    at: DateTime<Utc>,
    failed: bool,
    status: Option<u16>,
) -> Option<Storm> {
    let mut finished = None;
    if let Some(current) = &acc.burst {
        if (at - current.last).num_milliseconds() > STORM_GAP_MS {
            finished = close_burst(acc, sig);
        }
    }
    let current = acc.burst.get_or_insert_with(|| Burst {
        first: at,
        last: at,
        requests: 0,
        failures: 0,
        statuses: BTreeMap::new(),
    });
    current.last = current.last.max(at);
    current.requests += 1;
    current.failures += u64::from(failed);
    *current.statuses.entry(status.unwrap_or(0)).or_default() += 1;
    finished
}

fn close_burst(acc: &mut SignatureAcc, sig: &str) -> Option<Storm> {
    let burst = acc.burst.take()?;
    let storm = burst.requests >= STORM_MIN_REQUESTS && burst.failures * 2 > burst.requests;
    storm.then(|| Storm {
        signature: sig.to_owned(),
        requests: burst.requests,
        failures: burst.failures,
        first: ts_string(burst.first),
        last: ts_string(burst.last),
        window_s: (burst.last - burst.first).num_milliseconds() as f64 / 1000.0,
        statuses: burst.statuses,
    })
}

fn concern(
    host: &str,
    purpose: Option<Purpose>,
    provider: Option<&str>,
    acc: &HostAcc,
    leaked: bool,
) -> String {
    let mut text = if provider == Some(host) {
        "configured LLM provider".to_owned()
    } else if is_loopback(host) {
        "loopback".to_owned()
    } else {
        match purpose {
            None => "unknown host".to_owned(),
            Some(Purpose::LlmApi) => "LLM API other than the configured provider".to_owned(),
            Some(Purpose::Telemetry | Purpose::ErrorReporting | Purpose::FeatureFlags) => {
                "sends usage data".to_owned()
            }
            Some(Purpose::SessionShare) => "can publish sessions".to_owned(),
            Some(Purpose::UpdateCheck | Purpose::BinaryDownload) => "downloads code".to_owned(),
            Some(Purpose::PackageRegistry) => "installs packages at runtime".to_owned(),
            Some(_) => "non-essential".to_owned(),
        }
    };
    if leaked {
        text.push_str("; received markers");
    }
    if acc.failures > 0 && acc.failures >= acc.requests.max(1) {
        text.push_str("; every attempt failed");
    }
    text
}

fn timeline(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    first: Vec<(DateTime<Utc>, TimelineEvent)>,
    hosts: &HashMap<String, HostAcc>,
) -> Timeline {
    let Some(start) = start else {
        return Timeline::default();
    };
    let start_ms = start.timestamp_millis();
    let mut first: Vec<_> = first
        .into_iter()
        .map(|(t, mut e)| {
            e.offset_ms = t.timestamp_millis() - start_ms;
            e
        })
        .collect();
    first.sort_by_key(|e| e.offset_ms);
    let mut activity: Vec<HostActivity> = hosts
        .iter()
        .filter_map(|(host, acc)| {
            let origin = acc.activity.origin?;
            let bucket_ms = acc.activity.bucket_ms;
            let last = acc.activity.counts.keys().next_back().copied().unwrap_or(0);
            let mut counts = vec![0u32; usize::try_from(last + 1).unwrap_or(0)];
            for (bucket, count) in &acc.activity.counts {
                if let Ok(i) = usize::try_from(*bucket) {
                    counts[i] = *count;
                }
            }
            Some(HostActivity {
                host: host.clone(),
                origin_ms: origin - start_ms,
                bucket_ms,
                counts,
            })
        })
        .collect();
    activity.sort_by(|a, b| a.origin_ms.cmp(&b.origin_ms).then(a.host.cmp(&b.host)));
    Timeline {
        start: Some(ts_string(start)),
        end: end.map(ts_string),
        first,
        hosts: activity,
    }
}

/// The hosts of a report that are neither the configured provider nor loopback.
pub(crate) fn other_hosts(report: &Report) -> impl Iterator<Item = &DomainRow> {
    report.domains.iter().filter(move |d| {
        Some(d.domain.as_str()) != report.provider.as_deref() && !is_loopback(&d.domain)
    })
}

/// Distinct purposes of the hosts contacted besides the provider and loopback.
pub(crate) fn purposes_contacted(report: &Report) -> BTreeSet<Purpose> {
    other_hosts(report).filter_map(|d| d.purpose).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_max() {
        assert_eq!(median_max(Vec::new()), (None, None));
        assert_eq!(median_max(vec![30]), (Some(30), Some(30)));
        assert_eq!(median_max(vec![900, 100, 300]), (Some(300), Some(900)));
        assert_eq!(median_max(vec![400, 100, 300, 200]), (Some(250), Some(400)));
    }

    #[test]
    fn llm_rows_sum_usage_and_name_errors() {
        let mut acc = LlmAcc::default();
        let mut c = llm::decode(&crate::source::exchange(
            1,
            DateTime::default(),
            "POST".into(),
            "https://api.test/v1/chat/completions".into(),
            "HTTP/1.1".into(),
            Vec::new(),
            None,
        ))
        .expect("llm");
        c.usage.input_tokens = Some(10);
        c.ttft_ms = Some(5);
        acc.add(&c);
        c.error = Some(llm::LlmError {
            status: Some(429),
            kind: Some("rate_limit_error".into()),
            message: String::new(),
        });
        acc.add(&c);
        c.error = Some(llm::LlmError {
            status: None,
            kind: Some("upstream_http".into()),
            message: String::new(),
        });
        acc.add(&c);
        assert_eq!(acc.usage[0], 30);
        assert_eq!(acc.ttft_ms, [5, 5, 5]);
        let kinds: Vec<(&str, u64)> = acc
            .error_kinds
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(kinds, [("429 rate_limit_error", 1), ("upstream_http", 1)]);
    }
}
