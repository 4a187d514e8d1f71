//! The report builder: counts events and exchange digests in capture order into per-host,
//! per-signature and per-call tables, then turns the tables into a [`Report`]. Memory grows
//! with the number of hosts, signatures and LLM models, not with the size of the capture.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt as _};

use chrono::{DateTime, Utc};
use phonehome_catalog::{Catalog, Ecosystem, Endpoint, PackageKind, Purpose};
use phonehome_record::{timestamp, Blocked, Capture, Conn, ConnId, End, Phase, Target};

use super::calls::LlmAcc;
use super::concern::{concern, Host};
use super::digest::{is_connection_failure, Call, Digest, Scanners};
use super::model::{
    DomainRow, DownloadRow, FetchRow, Report, Setup, Storm, Summary, TimelineEvent,
};
use super::observed::Observations;
use super::purpose::{decide, Evidence, Shape};
use super::rows::{blocked_rows, failure_rows, fingerprint_rows, package_rows};
use super::sight::Sight;
use super::signatures::{signature_rows, SignatureAcc};
use super::timeline::{self, Activity};
use crate::agent::{self, Patterns};
use crate::event::Event;
use crate::leaks::{Leak, LeakFinder, PromptLeak, PromptSearch};
use crate::telemetry_summary::Tally;

const TIMELINE_EVENTS: usize = 40;
const MAX_LISTED: usize = 500;

#[derive(Default)]
struct HostAcc {
    port: u16,
    requests: u64,
    failures: u64,
    bytes_up: u64,
    bytes_down: u64,
    first_seen: Option<DateTime<Utc>>,
    /// What its requests showed, to judge its purpose when the catalog has no entry.
    evidence: Evidence,
    /// The service name its telemetry gave first.
    service: Option<String>,
    activity: Activity,
    /// Its requests that the catalog saw an agent send there (`observed`).
    observed: Observations,
}

pub(super) struct Builder<'c> {
    catalog: &'c Catalog,
    /// Catalog endpoint per host and port: glob matching once per host, not per request.
    endpoints: HashMap<String, Vec<(u16, Option<&'c Endpoint>)>>,
    pub(super) input: String,
    pub(super) input_format: &'static str,
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
    pub(super) prompts: PromptSearch,
    pub(super) prompt_leaks: Vec<PromptLeak>,
    /// The LLM host seen, found in requests to other hosts (the second pass).
    pub(super) provider_leaks: Vec<Leak>,
    summary: Summary,
    start: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    first_events: Vec<(DateTime<Utc>, TimelineEvent)>,
    sight: Sight,
    causes: super::caused::Track,
    telemetry: Tally,
    pub(super) warnings: Vec<String>,
}

impl<'c> Builder<'c> {
    pub(super) fn new(catalog: &'c Catalog) -> Self {
        Self {
            catalog,
            endpoints: HashMap::new(),
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
            agents: agent::Detector::default(),
            leaks: LeakFinder::default(),
            prompts: PromptSearch::default(),
            prompt_leaks: Vec::new(),
            provider_leaks: Vec::new(),
            summary: Summary::default(),
            start: None,
            last: None,
            first_events: Vec::new(),
            sight: Sight::default(),
            causes: super::caused::Track::default(),
            telemetry: Tally::default(),
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

    /// Counts an event other than an exchange (exchanges come as [`Digest`]s).
    pub(super) fn event(&mut self, patterns: &Patterns, event: Event) {
        match event {
            Event::Header(capture) => self.header(patterns, capture),
            Event::Exchange(_) => {}
            Event::Failure {
                ts,
                conn,
                target,
                phase,
                message,
            } => self.failure(ts, (conn, target), phase, message),
            Event::Blocked(b) => self.blocked(b),
            Event::End(end) => self.end = Some(end),
            Event::Conn(conn) => self.conn(conn),
            Event::Ws(_) | Event::Dns(_) => {}
        }
    }

    fn header(&mut self, patterns: &Patterns, capture: Capture) {
        self.sight.header(&capture);
        self.agents.header(patterns, &capture);
        self.header = Some(capture);
    }

    fn failure(
        &mut self,
        ts: DateTime<Utc>,
        (conn, target): (Option<ConnId>, Target),
        phase: Phase,
        message: String,
    ) {
        self.see_time(ts);
        self.sight.failure(conn, &target, phase);
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

    fn blocked(&mut self, b: Blocked) {
        self.sight.blocked(&b);
        self.summary.blocked += 1;
        *self
            .blocked
            .entry((b.target.to_string(), b.rule, b.enforced))
            .or_default() += 1;
    }

    fn conn(&mut self, conn: Conn) {
        self.sight.conn(&conn);
        self.causes.conn(&conn);
        let Some(tls) = conn.tls else {
            return;
        };
        if let (Some(ja4), Some(ja3)) = (tls.ja4, tls.ja3) {
            *self
                .fingerprints
                .entry((conn.target.host, ja4, ja3))
                .or_default() += 1;
        }
    }

    /// Counts one exchange.
    pub(super) fn exchange(&mut self, patterns: &Patterns, mut x: Box<Digest>) {
        self.see_time(x.ts);
        self.count_totals(&x);
        self.causes.exchange(&mut x);
        self.first_event(&x);
        self.agents.add(patterns, std::mem::take(&mut x.agents));
        self.leaks.add(&x.host, std::mem::take(&mut x.leaks));
        self.count_host(&x);
        let endpoint = self.endpoint(&x.host, x.port);
        self.count_observed(&x, endpoint);
        let purpose = match (&x.package, x.shape) {
            (Some(_), _) => Some(Purpose::PackageRegistry),
            (None, Some(Shape::ModelCatalog)) => Some(Purpose::ModelCatalog),
            (None, shape) => endpoint
                .map(|e| e.purpose)
                .or((shape == Some(Shape::Binary)).then_some(Purpose::BinaryDownload)),
        };
        self.list_fetch(&x, purpose);
        let retry = self.count_signature(&x);
        if let Some(call) = x.call.take() {
            self.count_call(&x, call, retry);
        }
        self.count_telemetry(&mut x);
    }

    /// Counts the exchange's telemetry and identifiers, per host.
    fn count_telemetry(&mut self, x: &mut Digest) {
        let Some(seen) = x.seen.take() else {
            return;
        };
        if let (Some(t), Some(host)) = (&seen.telemetry, self.hosts.get_mut(&x.host)) {
            if let (Some(protocol), Some(signal)) = (t.protocol, t.signal) {
                *host.evidence.signals.entry((protocol, signal)).or_default() += 1;
            }
            if host.service.is_none() {
                host.service.clone_from(&t.resource.service);
            }
        }
        self.telemetry.add(seen);
    }

    fn count_totals(&mut self, x: &Digest) {
        self.summary.requests += 1;
        self.summary.sinkholed += u64::from(x.sinkholed);
        self.summary.failed_requests += u64::from(x.failed);
        self.summary.bytes_up += x.up;
        self.summary.bytes_down += x.down;
        let Some((phase, message)) = &x.error else {
            return;
        };
        if x.unreachable() {
            self.summary.failed_connection_attempts += 1;
            let target = format!("{}:{}", x.host, x.port);
            *self
                .failures
                .entry((target, *phase, message.clone()))
                .or_default() += 1;
        }
    }

    fn first_event(&mut self, x: &Digest) {
        if self.first_events.len() >= TIMELINE_EVENTS {
            return;
        }
        self.first_events.push((
            x.ts,
            TimelineEvent {
                offset_ms: 0,
                method: x.method.clone(),
                host: x.host.clone(),
                path: x.path.clone(),
                status: x.status,
            },
        ));
    }

    fn count_host(&mut self, x: &Digest) {
        if !self.hosts.contains_key(&x.host) {
            self.hosts.insert(x.host.clone(), HostAcc::default());
        }
        let host = self.hosts.get_mut(&x.host).expect("inserted above");
        host.port = x.port;
        host.requests += 1;
        host.failures += u64::from(x.failed || x.unreachable());
        host.bytes_up += x.up;
        host.bytes_down += x.down;
        host.first_seen.get_or_insert(x.ts);
        host.activity.add(x.ts.timestamp_millis());
        host.evidence.requests += 1;
        host.evidence.shape(x.shape);
        let Some(package) = &x.package else {
            return;
        };
        host.evidence.registry = true;
        let key = (
            package.ecosystem,
            package.kind,
            package.label(),
            x.host.clone(),
        );
        *self.packages.entry(key).or_default() += 1;
    }

    /// The catalog's endpoint for a host and port, looked up once per host and port.
    fn endpoint(&mut self, host: &str, port: u16) -> Option<&'c Endpoint> {
        let known = self.endpoints.get(host).into_iter().flatten();
        if let Some((_, endpoint)) = known.into_iter().find(|(p, _)| *p == port) {
            return *endpoint;
        }
        let endpoint = self.catalog.lookup(host, port);
        let ports = self.endpoints.entry(host.to_owned()).or_default();
        ports.push((port, endpoint));
        endpoint
    }

    /// Matches the exchange against the `observed` requests of its host's endpoint.
    fn count_observed(&mut self, x: &Digest, endpoint: Option<&Endpoint>) {
        let Some(endpoint) = endpoint.filter(|e| !e.observed.is_empty()) else {
            return;
        };
        if let Some(host) = self.hosts.get_mut(&x.host) {
            host.observed
                .add(endpoint, &x.method, &x.path, x.call.is_some());
        }
    }

    /// Lists binary downloads and model-catalog fetches.
    fn list_fetch(&mut self, x: &Digest, purpose: Option<Purpose>) {
        if purpose == Some(Purpose::BinaryDownload) && self.downloads.len() < MAX_LISTED {
            let file = x.path.rsplit('/').next().unwrap_or_default();
            if x.status.is_some_and(|s| (200..300).contains(&s)) && !file.is_empty() {
                self.downloads.push(DownloadRow {
                    host: x.host.clone(),
                    file: file.to_owned(),
                    status: x.status,
                    bytes: x.down,
                });
            }
        }
        if purpose == Some(Purpose::ModelCatalog) && self.model_catalog.len() < MAX_LISTED {
            self.model_catalog.push(FetchRow {
                host: x.host.clone(),
                url: x.url.clone(),
                status: x.status,
            });
        }
    }

    /// Counts the exchange's signature and its burst; whether it retried a failed request.
    fn count_signature(&mut self, x: &Digest) -> bool {
        if !self.signatures.contains_key(&x.signature) {
            self.signatures
                .insert(x.signature.clone(), SignatureAcc::default());
        }
        let acc = self
            .signatures
            .get_mut(&x.signature)
            .expect("inserted above");
        let retry = acc.add(x.failed, x.status, x.body_hash);
        let storm = timeline::burst(&mut acc.burst, &x.signature, x.ts, x.failed, x.status);
        self.storms.extend(storm);
        retry
    }

    fn count_call(&mut self, x: &Digest, call: Call, retry: bool) {
        self.summary.llm_calls += 1;
        let row = self
            .llm
            .entry((x.host.clone(), call.api, call.model))
            .or_default();
        row.calls += 1;
        row.streaming += u64::from(call.streaming);
        row.errors += u64::from(x.failed);
        row.ok += u64::from(!x.failed);
        row.retries += u64::from(retry);
        if let Some(used) = call.usage {
            row.add_use(used);
        }
        if let Some(prompt) = call.prompt {
            self.prompts.add(&x.host, prompt);
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
    /// requests, leaving out those that got only requests the catalog saw an agent send there
    /// besides LLM calls (telemetry on an LLM vendor's host).
    pub(super) fn provider(&self) -> Option<String> {
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
            .filter(|(_, acc)| !acc.observed.all_observed(acc.requests))
            .max_by_key(|(h, acc)| (acc.requests, std::cmp::Reverse(h.as_str())))
            .map(|(h, _)| h.clone())
    }

    /// A host as it is written in a URL: `host:port` unless the port is HTTP's or HTTPS's, and
    /// whether the catalog lists it as an LLM API (a public provider's).
    pub(super) fn authority(&self, host: &str) -> (String, bool) {
        let port = self.hosts.get(host).map_or(443, |h| h.port);
        let public = self.purpose_of(host, port, false) == Some(Purpose::LlmApi);
        let authority = match port {
            80 | 443 => host.to_owned(),
            port => format!("{host}:{port}"),
        };
        (authority, public)
    }

    /// The report, judged by [`super::advice`].
    pub(super) fn finish(mut self, scanners: &Scanners, provider: Option<String>) -> Report {
        self.close_bursts();
        let agents = std::mem::take(&mut self.agents).finish(&scanners.agents);
        let leaks = std::mem::take(&mut self.leaks);
        let (mut leaks, credentials) = leaks.finish(&scanners.needles, provider.as_deref());
        for leak in std::mem::take(&mut self.provider_leaks) {
            if !leaks
                .iter()
                .any(|l| l.host == leak.host && l.kind == leak.kind)
            {
                leaks.push(leak);
            }
        }
        self.summary.unique_signatures = self.signatures.len() as u64;
        self.summary.unique_domains = self.hosts.len() as u64;
        let (unseen, processes) = std::mem::take(&mut self.sight).finish();
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        let mut domains = self.domains(provider.as_deref(), &leaks, &names);
        let caused = std::mem::take(&mut self.causes).finish(&mut domains);
        let telemetry = self.telemetry_hosts();
        let mut report = Report {
            setup: self.setup(agents),
            domains,
            telemetry,
            timeline: timeline::timeline(
                self.start,
                self.last,
                std::mem::take(&mut self.first_events),
                self.hosts
                    .iter()
                    .map(|(h, acc)| (h.as_str(), &acc.activity)),
            ),
            summary: self.summary,
            provider,
            llm: self.llm.into_iter().map(|(k, acc)| acc.row(k)).collect(),
            packages: package_rows(self.packages),
            downloads: self.downloads,
            model_catalog: self.model_catalog,
            signatures: signature_rows(self.signatures),
            retry_storms: self.storms,
            leaks,
            prompt_leaks: self.prompt_leaks,
            credentials,
            failures: failure_rows(self.failures),
            blocked: blocked_rows(self.blocked),
            fingerprints: fingerprint_rows(self.fingerprints),
            unseen,
            processes,
            caused,
            findings: Default::default(),
            verdict: Vec::new(),
            hardening: Vec::new(),
            warnings: self.warnings,
        };
        super::advice::judge(&mut report, self.catalog);
        report
    }

    /// The telemetry tally, hosts the catalog calls LLM APIs marked as such first.
    fn telemetry_hosts(&mut self) -> Vec<crate::telemetry_summary::TelemetryHost> {
        let mut tally = std::mem::take(&mut self.telemetry);
        let llm_hosts: Vec<String> = tally
            .hosts()
            .filter(|h| {
                let port = self.hosts.get(*h).map_or(443, |acc| acc.port);
                self.catalog.lookup(h, port).map(|e| e.purpose) == Some(Purpose::LlmApi)
            })
            .map(str::to_owned)
            .collect();
        for host in llm_hosts {
            tally.llm_host(&host);
        }
        tally.finish()
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
                .or_else(|| self.start.map(timestamp)),
            ended: self.end.as_ref().map(|e| e.ts.clone()),
            exit_code: self.end.as_ref().and_then(|e| e.exit_code),
            tool_version: header.map(|h| h.tool_version.clone()).unwrap_or_default(),
        }
    }

    /// Ends every signature's last burst, and orders the storms biggest first.
    fn close_bursts(&mut self) {
        for (sig, acc) in &mut self.signatures {
            self.storms
                .extend(timeline::close_burst(&mut acc.burst, sig));
        }
        self.storms.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(a.signature.cmp(&b.signature))
        });
    }

    fn domains(&self, provider: Option<&str>, leaks: &[Leak], agents: &[&str]) -> Vec<DomainRow> {
        let mut rows: Vec<DomainRow> = self
            .hosts
            .iter()
            .map(|(host, acc)| self.domain(host, acc, (provider, agents), leaks))
            .collect();
        rows.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.domain.cmp(&b.domain)));
        rows
    }

    fn domain(
        &self,
        host: &str,
        acc: &HostAcc,
        (provider, agents): (Option<&str>, &[&str]),
        leaks: &[Leak],
    ) -> DomainRow {
        let endpoint = self.catalog.lookup(host, acc.port);
        let (purpose, purpose_source) = decide(endpoint, &acc.evidence);
        let leaked = leaks.iter().any(|l| l.host == host && !l.expected);
        let sent = acc.observed.sent(acc.requests, agents);
        let row = Host {
            host,
            purpose,
            sent: sent.as_ref(),
            requests: acc.requests,
            failures: acc.failures,
            leaked,
        };
        DomainRow {
            concern: concern(&row, provider, self.catalog),
            sent: sent.map(|s| s.purposes).unwrap_or_default(),
            domain: host.to_owned(),
            purpose,
            purpose_source,
            owner: endpoint.map(|e| e.owner.clone()),
            reported_by: acc.service.clone().filter(|_| endpoint.is_none()),
            requests: acc.requests,
            failures: acc.failures,
            bytes_up: acc.bytes_up,
            bytes_down: acc.bytes_down,
            first_seen: acc.first_seen.map(timestamp).unwrap_or_default(),
            tool_requests: 0,
        }
    }
}
