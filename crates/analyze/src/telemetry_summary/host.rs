//! One host's telemetry as it is counted: bounded whatever the capture holds (at most
//! [`MAX_EVENT_NAMES`] event names, [`MAX_ATTRIBUTES`] attribute names with one sample value
//! each, [`MAX_IDENTIFIERS`] identifiers); what is left out is counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use phonehome_record::timestamp;

use super::{EventName, IdentifierRow, ProtocolCount, ResourceOut, Sample, TelemetryHost};
use crate::telemetry::{FoundBy, Identifier, Protocol, Resource, Signal, Telemetry};

/// Event names kept per host; the others are counted.
pub const MAX_EVENT_NAMES: usize = 40;
/// Attribute names (with a sample value) kept per host.
pub const MAX_ATTRIBUTES: usize = 40;
/// Resource attributes kept per host.
const MAX_RESOURCE_ATTRIBUTES: usize = 20;
/// Distinct identifiers (name and value) kept per host.
pub const MAX_IDENTIFIERS: usize = 20;
/// Notes kept per host.
const MAX_NOTES: usize = 5;
/// Characters of a sample value shown.
const MAX_SAMPLE_CHARS: usize = 80;
/// Distinct names left out that are still told apart (by a hash) to count them.
const MAX_LEFT_OUT: usize = 4096;

#[derive(Default)]
pub(super) struct HostTally {
    requests: u64,
    protocols: BTreeMap<(Protocol, Signal), u64>,
    events: u64,
    span: Span,
    names: HashMap<String, NameTally>,
    left_out_events: u64,
    left_out_names: LeftOut,
    attributes: Vec<(String, String)>,
    attribute_index: HashSet<String>,
    left_out_attributes: LeftOut,
    resource: Resource,
    resource_names: HashSet<String>,
    identifiers: BTreeMap<(String, String), IdTally>,
    left_out_identifiers: LeftOut,
    notes: Vec<String>,
    left_out_notes: u64,
    /// Whether the host got LLM calls: identifiers read from its other requests are left out.
    pub(super) llm_host: bool,
}

#[derive(Default, Clone, Copy)]
struct Span {
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Span {
    fn see(&mut self, t: DateTime<Utc>) {
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }
}

#[derive(Default)]
struct NameTally {
    count: u64,
    span: Span,
    /// Order of first sight, to break ties.
    order: usize,
}

struct IdTally {
    found_by: FoundBy,
    /// Taken from decoded telemetry (else read from another request).
    telemetry: bool,
    requests: u64,
}

/// Distinct things left out, counted by hash up to [`MAX_LEFT_OUT`].
#[derive(Default)]
struct LeftOut(HashSet<u64>);

impl LeftOut {
    fn add(&mut self, what: &(impl Hash + ?Sized)) {
        if self.0.len() < MAX_LEFT_OUT {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            what.hash(&mut hasher);
            self.0.insert(hasher.finish());
        }
    }

    fn count(&self) -> u64 {
        self.0.len() as u64
    }
}

impl HostTally {
    /// Counts one decoded telemetry request sent at `ts`.
    pub(super) fn telemetry(&mut self, ts: DateTime<Utc>, t: &Telemetry) {
        self.requests += 1;
        if let (Some(protocol), Some(signal)) = (t.protocol, t.signal) {
            *self.protocols.entry((protocol, signal)).or_default() += 1;
        }
        for event in &t.events {
            let at = event.time.unwrap_or(ts);
            self.event(&event.name, at);
            for (name, value) in &event.attributes {
                self.attribute(name, value);
            }
        }
        self.resource(&t.resource);
        self.identifiers(&t.identifiers, true);
        for note in &t.notes {
            if self.notes.len() < MAX_NOTES {
                if !self.notes.contains(note) {
                    self.notes.push(note.clone());
                }
            } else {
                self.left_out_notes += 1;
            }
        }
    }

    fn event(&mut self, name: &str, at: DateTime<Utc>) {
        self.events += 1;
        self.span.see(at);
        let order = self.names.len();
        if let Some(tally) = self.names.get_mut(name) {
            tally.count += 1;
            tally.span.see(at);
        } else if self.names.len() < MAX_EVENT_NAMES {
            let mut tally = NameTally {
                count: 1,
                order,
                ..NameTally::default()
            };
            tally.span.see(at);
            self.names.insert(name.to_owned(), tally);
        } else {
            self.left_out_events += 1;
            self.left_out_names.add(name);
        }
    }

    fn attribute(&mut self, name: &str, value: &str) {
        if self.attribute_index.contains(name) {
            return;
        }
        if self.attributes.len() < MAX_ATTRIBUTES {
            self.attribute_index.insert(name.to_owned());
            self.attributes.push((name.to_owned(), sample(value)));
        } else {
            self.left_out_attributes.add(name);
        }
    }

    /// Keeps the first value of each resource field, and the first resource attributes.
    fn resource(&mut self, r: &Resource) {
        let mine = &mut self.resource;
        for (field, value) in [
            (&mut mine.service, &r.service),
            (&mut mine.version, &r.version),
            (&mut mine.os, &r.os),
            (&mut mine.runtime, &r.runtime),
        ] {
            if field.is_none() {
                field.clone_from(value);
            }
        }
        for (name, value) in &r.attributes {
            if self.resource_names.len() < MAX_RESOURCE_ATTRIBUTES
                && self.resource_names.insert(name.clone())
            {
                mine.attributes.push((name.clone(), sample(value)));
            }
        }
    }

    /// Counts identifiers seen in one request (`telemetry`: decoded from telemetry).
    pub(super) fn identifiers(&mut self, ids: &[Identifier], telemetry: bool) {
        for id in ids {
            let key = (id.name.clone(), id.value.clone());
            if let Some(tally) = self.identifiers.get_mut(&key) {
                tally.requests += 1;
                tally.telemetry |= telemetry;
            } else if self.identifiers.len() < MAX_IDENTIFIERS {
                let tally = IdTally {
                    found_by: id.found_by,
                    telemetry,
                    requests: 1,
                };
                self.identifiers.insert(key, tally);
            } else {
                self.left_out_identifiers.add(&key);
            }
        }
    }

    /// Whether there is anything to show: decoded telemetry, or identifiers that count.
    pub(super) fn is_empty(&self) -> bool {
        self.requests == 0 && self.kept_identifiers().next().is_none()
    }

    /// Identifiers shown: those of telemetry, and those of other requests unless the host got
    /// LLM calls.
    fn kept_identifiers(&self) -> impl Iterator<Item = (&(String, String), &IdTally)> {
        self.identifiers
            .iter()
            .filter(|(_, t)| t.telemetry || !self.llm_host)
    }

    pub(super) fn finish(self, host: String) -> TelemetryHost {
        let mut names: Vec<(String, NameTally)> = self.names.into_iter().collect();
        names.sort_by(|(_, a), (_, b)| b.count.cmp(&a.count).then(a.order.cmp(&b.order)));
        let identifiers = self
            .identifiers
            .iter()
            .filter(|(_, t)| t.telemetry || !self.llm_host)
            .map(|((name, value), t)| IdentifierRow {
                name: name.clone(),
                value: value.clone(),
                found_by: match t.found_by {
                    FoundBy::Name => "name",
                    FoundBy::Shape => "shape",
                },
                source: if t.telemetry { "telemetry" } else { "request" },
                requests: t.requests,
            })
            .collect();
        TelemetryHost {
            host,
            requests: self.requests,
            protocols: self
                .protocols
                .into_iter()
                .map(|((protocol, signal), requests)| ProtocolCount {
                    protocol: protocol.as_str(),
                    signal: signal.as_str(),
                    requests,
                })
                .collect(),
            events: self.events,
            first: self.span.first.map(timestamp),
            last: self.span.last.map(timestamp),
            event_names: names
                .into_iter()
                .map(|(name, t)| EventName {
                    name,
                    count: t.count,
                    first: t.span.first.map(timestamp),
                    last: t.span.last.map(timestamp),
                })
                .collect(),
            more_event_names: self.left_out_names.count(),
            more_events: self.left_out_events,
            attributes: samples(self.attributes),
            more_attributes: self.left_out_attributes.count(),
            resource: ResourceOut {
                service: self.resource.service,
                version: self.resource.version,
                os: self.resource.os,
                runtime: self.resource.runtime,
                attributes: samples(self.resource.attributes),
            },
            identifiers,
            more_identifiers: self.left_out_identifiers.count(),
            notes: self.notes,
            more_notes: self.left_out_notes,
        }
    }
}

fn samples(pairs: Vec<(String, String)>) -> Vec<Sample> {
    pairs
        .into_iter()
        .map(|(name, sample)| Sample { name, sample })
        .collect()
}

/// A value as shown: at most [`MAX_SAMPLE_CHARS`] characters, `…` when cut.
fn sample(value: &str) -> String {
    match value.char_indices().nth(MAX_SAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}
