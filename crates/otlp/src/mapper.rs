//! From a capture's events to OpenTelemetry data, one event at a time.
//!
//! ```text
//! run (root) ─┬─ conn span ─┬─ GenAI span ── HTTP CLIENT span   (a decoded LLM call)
//!             │             └─ HTTP CLIENT span                  (any other flow)
//!             ├─ failure span (DNS, connect, TLS: no request was sent)
//!             ├─ dns span (a query answered in isolation mode)
//!             └─ blocked span (under its conn when known)        + a WARN log record
//! leak log records (ERROR / INFO) on the flow's span; metrics on the side
//! ```
//!
//! A `conn` record is written when its connection closes, after its flows: flow spans wait for
//! it (to carry its JA4 and process) up to [`MAX_HELD`] spans (live: up to a second), then go
//! without; they are children of the connection's span either way.
//!
//! A tool call the model asked for is an `execute_tool` span under the run span; the spans of
//! the connections it caused (and so of their requests) are its children (`caused`).
//!
//! ```text
//! run ─┬─ execute_tool span ── conn span ── HTTP CLIENT span   (a connection a tool call caused)
//!      └─ …
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use opentelemetry::trace::SpanId;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use phonehome_analyze::llm::{self, Conversation};
use phonehome_analyze::{AgentDetector, Event, Exchange, Needles};
use phonehome_catalog::Catalog;
use phonehome_record::{is_loopback, Capture, Conn, ConnId, End, Phase, Target};

use crate::config::Settings;
use crate::ids::{Ids, SpanKey};
use crate::logs::LogItem;
use crate::metrics::{status_class, Metrics};
use crate::span::{parse_time, time};
use crate::{attempt, flow, genai, logs};

mod caused;

use caused::CauseSpans;

/// Most flow spans waiting for their connection's record.
const MAX_HELD: usize = 10_000;
/// Most hosts whose catalog purpose is remembered.
const MAX_PURPOSES: usize = 4096;
/// Most events read before the resource is decided without an agent version.
const PRELUDE_EVENTS: usize = 256;

/// What has been mapped and not yet sent.
#[derive(Default)]
pub(crate) struct Output {
    pub(crate) spans: Vec<SpanData>,
    pub(crate) logs: Vec<LogItem>,
}

/// The first events, read to name the agent (and its version) for the resource before
/// anything is sent.
pub(crate) struct Prelude {
    detector: AgentDetector,
    capture: Option<Capture>,
    events: Vec<Event>,
}

impl Prelude {
    pub(crate) fn new(catalog: &Catalog) -> Self {
        Self {
            detector: AgentDetector::new(catalog),
            capture: None,
            events: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        match &event {
            Event::Header(c) => {
                self.detector.header(c);
                self.capture = Some(c.clone());
            }
            Event::Exchange(x) => self.detector.exchange(x),
            _ => {}
        }
        self.events.push(event);
    }

    /// Whether the resource can be decided: the agent's version is known, or enough was read.
    pub(crate) fn ready(&self) -> bool {
        self.capture.is_some()
            && (self.events.len() >= PRELUDE_EVENTS
                || self
                    .detector
                    .agents()
                    .first()
                    .is_some_and(|a| a.version.is_some()))
    }

    /// The mapper, with the events read so far mapped; `None` when no capture header came.
    pub(crate) fn into_mapper(self, settings: &Settings, catalog: Catalog) -> Option<Mapper> {
        let capture = self.capture?;
        let resource = crate::resource::resource(settings, &capture, &self.detector.agents());
        let mut mapper = Mapper::new(capture, resource, settings.content, catalog);
        for event in self.events {
            mapper.event(event);
        }
        Some(mapper)
    }
}

/// The mapping state of one capture.
pub(crate) struct Mapper {
    ids: Ids,
    root: SpanId,
    capture: Capture,
    pub(crate) resource: opentelemetry_sdk::Resource,
    content: bool,
    catalog: Catalog,
    /// The catalog's answers so far, by host and port.
    purposes: HashMap<(String, u16), Option<&'static str>>,
    needles: Needles,
    pub(crate) metrics: Metrics,
    /// Flow spans waiting for their conn record, by conn.
    held: HashMap<ConnId, Vec<SpanData>>,
    held_order: VecDeque<ConnId>,
    held_count: usize,
    /// Hosts that answered LLM calls: a marker sent there is expected.
    llm_hosts: HashSet<String>,
    failures: u64,
    blocked: u64,
    dns: u64,
    /// Markers found where they were not expected, over the capture.
    unexpected_leaks: u64,
    end: Option<End>,
    last: SystemTime,
    /// The join of tool calls to the connections they caused.
    causes: CauseSpans,
    pub(crate) out: Output,
}

impl Mapper {
    fn new(
        capture: Capture,
        resource: opentelemetry_sdk::Resource,
        content: bool,
        catalog: Catalog,
    ) -> Self {
        // A HAR file from another tool has no capture id: its first entry's time and the tool
        // stand in, so its ids are stable too.
        let ids = if capture.id.is_empty() {
            Ids::new(&format!("har {} {}", capture.ts, capture.tool_version))
        } else {
            Ids::new(&capture.id)
        };
        Self {
            root: ids.span(SpanKey::Run),
            needles: Needles::new(&capture.markers),
            metrics: Metrics::new(resource.clone()),
            last: parse_time(&capture.ts),
            ids,
            capture,
            resource,
            content,
            catalog,
            purposes: HashMap::new(),
            held: HashMap::new(),
            held_order: VecDeque::new(),
            held_count: 0,
            llm_hosts: HashSet::new(),
            failures: 0,
            blocked: 0,
            dns: 0,
            unexpected_leaks: 0,
            end: None,
            causes: CauseSpans::default(),
            out: Output::default(),
        }
    }

    /// Live export: `execute_tool` spans are sent when their result goes back.
    pub(crate) fn set_live(&mut self) {
        self.causes.live = true;
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.causes.event(&event);
        match event {
            Event::Header(_) | Event::Ws(_) => {}
            Event::Dns(d) => {
                self.dns += 1;
                let span = attempt::dns_span(&self.ids, self.dns, &d, self.root);
                self.last = self.last.max(span.end_time);
                self.out.spans.push(span);
            }
            Event::Exchange(x) => self.exchange(&x),
            Event::Conn(c) => self.conn(&c),
            Event::Failure {
                ts,
                target,
                phase,
                message,
                ..
            } => self.failure(time(ts), &target, phase, &message),
            Event::Blocked(b) => {
                self.blocked += 1;
                let at = parse_time(&b.ts);
                let span = self.ids.span(SpanKey::Blocked(self.blocked));
                self.out.spans.push(attempt::blocked_span(
                    &self.ids,
                    self.blocked,
                    &b,
                    self.root,
                ));
                self.out.logs.push(logs::blocked(&b, at, span));
                self.metrics.blocked(&b.target.host, &b.rule);
                self.last = self.last.max(at);
            }
            Event::End(end) => {
                self.last = self.last.max(parse_time(&end.ts));
                self.end = Some(end);
            }
        }
    }

    fn exchange(&mut self, x: &Exchange) {
        let purpose = self.purpose(&x.host, x.port);
        let parent = x
            .conn
            .map_or(self.root, |c| self.ids.span(SpanKey::Conn(c)));
        let call = llm::decode(x);
        let http_parent = match &call {
            Some(c) => self.llm_call(c, x, parent),
            None => parent,
        };
        let span = flow::span(&self.ids, x, purpose, http_parent);
        let status = x
            .response
            .as_ref()
            .map_or("failed", |r| status_class(r.status));
        self.metrics.request(&x.host, purpose, status);
        if let Some((phase, _)) = &x.error {
            self.metrics.failed(&x.host, phase.as_str());
        }
        let mut span = span;
        let unexpected = self.leaks(x, span.span_context.span_id());
        if !unexpected.is_empty() {
            span.attributes
                .push(KeyValue::new("phonehome.leak.unexpected", true));
            span.attributes
                .push(KeyValue::new("phonehome.leak.kinds", unexpected.join(",")));
        }
        self.last = self.last.max(span.end_time);
        match x.conn {
            Some(conn) => self.hold(conn, span),
            None => self.out.spans.push(span),
        }
    }

    /// The catalog's purpose of a host and port, looked up once per host.
    fn purpose(&mut self, host: &str, port: u16) -> Option<&'static str> {
        if let Some(purpose) = self.purposes.get(&(host.to_owned(), port)) {
            return *purpose;
        }
        let purpose = self.catalog.lookup(host, port).map(|e| e.purpose.as_str());
        if self.purposes.len() < MAX_PURPOSES {
            self.purposes.insert((host.to_owned(), port), purpose);
        }
        purpose
    }

    /// The GenAI span of a call; gives back its id, the HTTP span's parent.
    fn llm_call(&mut self, c: &Conversation, x: &Exchange, parent: SpanId) -> SpanId {
        self.llm_hosts.insert(x.host.clone());
        self.metrics.llm_call(c, &x.host);
        let span = genai::span(&self.ids, c, x, self.content, parent);
        let id = span.span_context.span_id();
        self.out.spans.push(span);
        let tools = self.causes.call(&self.ids, c, self.root, self.content);
        self.out.spans.extend(tools);
        id
    }

    /// Log records and metrics for the markers in `x`'s request; the kinds found where they
    /// were not expected.
    fn leaks(&mut self, x: &Exchange, span: SpanId) -> Vec<String> {
        let mut unexpected = Vec::new();
        for hit in self.needles.hits(x) {
            let expected = is_loopback(&x.host) || self.llm_hosts.contains(&x.host);
            self.metrics.leak(&x.host, &hit.kind, expected);
            self.out.logs.push(logs::leak(x, &hit, expected, span));
            if !expected {
                self.unexpected_leaks += 1;
                if !unexpected.contains(&hit.kind) {
                    unexpected.push(hit.kind.clone());
                }
            }
        }
        unexpected
    }

    fn hold(&mut self, conn: ConnId, span: SpanData) {
        if !self.held.contains_key(&conn) {
            self.held_order.push_back(conn);
        }
        self.held.entry(conn).or_default().push(span);
        self.held_count += 1;
        while self.held_count > MAX_HELD {
            let Some(oldest) = self.held_order.pop_front() else {
                break;
            };
            let spans = self.held.remove(&oldest).unwrap_or_default();
            self.held_count -= spans.len();
            self.out.spans.extend(spans);
        }
    }

    fn conn(&mut self, c: &Conn) {
        if let Some(mut spans) = self.held.remove(&c.conn) {
            self.held_order.retain(|id| *id != c.conn);
            self.held_count -= spans.len();
            for span in &mut spans {
                flow::add_conn_attributes(span, c);
            }
            self.out.spans.extend(spans);
        }
        let span = attempt::conn_span(&self.ids, c, self.root);
        self.last = self.last.max(span.end_time);
        let ready = self.causes.hold(c.conn, span);
        self.out.spans.extend(ready);
    }

    fn failure(&mut self, at: SystemTime, target: &Target, phase: Phase, message: &str) {
        self.failures += 1;
        self.metrics.failed(&target.host, phase.as_str());
        let span = attempt::failure_span(
            &self.ids,
            self.failures,
            at,
            target,
            phase,
            message,
            self.root,
        );
        self.out.spans.push(span);
        self.last = self.last.max(at);
    }

    /// Hands on the flow spans still waiting for their connection's record, without its
    /// attributes (live export does so every second: a long-lived connection must not hold
    /// its flows back until it closes).
    pub(crate) fn release_held(&mut self) {
        for conn in self.held_order.drain(..) {
            if let Some(spans) = self.held.remove(&conn) {
                self.out.spans.extend(spans);
            }
        }
        self.held_count = 0;
    }

    /// At the end of the input: the spans still waiting for their connection, and the root.
    pub(crate) fn finish(&mut self) {
        self.release_held();
        let caused = self
            .causes
            .finish(&self.ids, self.root, self.last, self.content);
        self.out.spans.extend(caused);
        let mut root = attempt::run_span(&self.ids, &self.capture, self.end.as_ref(), self.last);
        root.attributes.push(KeyValue::new(
            "phonehome.leaks.unexpected",
            i64::try_from(self.unexpected_leaks).unwrap_or(i64::MAX),
        ));
        self.out.spans.push(root);
    }

    /// Spans mapped but not yet sent.
    pub(crate) fn pending_spans(&self) -> usize {
        self.out.spans.len()
    }
}

impl Mapper {
    /// The capture's trace.
    pub(crate) fn trace_id(&self) -> opentelemetry::trace::TraceId {
        self.ids.trace()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tool_tests;
