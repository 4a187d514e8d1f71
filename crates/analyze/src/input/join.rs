//! Joining a capture's records into [`Event`]s: each flow's request with its response and
//! errors ([`FlowJoin`]), over the records of a file parsed in parallel ([`CaptureEvents`]),
//! with what the reader had to pass over.

use foldhash::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use phonehome_record::{Capture, FlowId, Phase, Record};

use super::parallel::{Prepare, Progress, Records};
use crate::event::{exchange_from_request, Event, Exchange, ResponsePart, SourceError};

/// Most flows waiting for their response before the oldest is given up on (emitted without
/// one), so memory stays bounded whatever the capture holds.
const MAX_PENDING: usize = 10_000;

/// What a capture without its `end` record is: the records before are valid, but phonehome
/// (or the machine) stopped before it could finish the file.
pub const INCOMPLETE: &str = "incomplete: phonehome stopped before the end";

/// Joins a capture's records into [`Event`]s as they come, in the order they were written:
/// each flow's request with its response and errors. Holds only the flows still waiting for
/// their response (at most 10,000; then the oldest is handed on without one).
///
/// The file reader ([`crate::open`]) uses it; a consumer fed records live (the OTLP
/// exporter beside the recorder) uses it directly.
#[derive(Debug, Default)]
pub struct FlowJoin {
    /// Boxed: an exchange is handed from the parsing worker through this table to the
    /// event queue, moved as a pointer rather than copied (it is several hundred bytes).
    pending: HashMap<FlowId, Box<Exchange>>,
    /// Errors of flows whose request has not been read yet.
    early_errors: HashMap<FlowId, (Phase, String)>,
    queue: std::collections::VecDeque<Event>,
}

impl FlowJoin {
    /// Takes the next record.
    pub fn push(&mut self, record: Record) {
        match record {
            Record::Capture(c) => self.queue.push_back(Event::Header(c)),
            Record::Request(r) => self.request(Box::new(exchange_from_request(r))),
            Record::Response(r) => self.response(r),
            Record::Error(e) => self.error(e),
            Record::Conn(c) => self.queue.push_back(Event::Conn(c)),
            Record::Blocked(b) => self.queue.push_back(Event::Blocked(b)),
            Record::Ws(w) => self.queue.push_back(Event::Ws(w)),
            Record::Dns(d) => self.queue.push_back(Event::Dns(d)),
            Record::End(end) => {
                self.finish();
                self.queue.push_back(Event::End(end));
            }
            _ => {}
        }
    }

    /// The next event ready, in order.
    pub fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// Hands on the flows that never got a response, in flow order (at the end of the input).
    pub fn finish(&mut self) {
        let mut rest: Vec<_> = self.pending.drain().map(|(_, e)| e).collect();
        rest.sort_by_key(|e| e.flow);
        self.queue
            .extend(rest.into_iter().map(|e| Event::Exchange(*e)));
    }

    fn response(&mut self, r: phonehome_record::Response) {
        if let Some(mut exchange) = self.pending.remove(&r.flow) {
            exchange.response = Some(ResponsePart::from(r));
            self.queue.push_back(Event::Exchange(*exchange));
        }
    }

    fn error(&mut self, e: phonehome_record::ErrorRecord) {
        let Some(flow) = e.flow else {
            self.queue.push_back(Event::Failure {
                ts: phonehome_record::parse_timestamp(&e.ts).unwrap_or_default(),
                conn: e.conn,
                target: e.target,
                phase: e.phase,
                message: e.message,
            });
            return;
        };
        match self.pending.get_mut(&flow) {
            Some(exchange) => {
                exchange.error.get_or_insert((e.phase, e.message));
            }
            None => {
                self.early_errors
                    .entry(flow)
                    .or_insert((e.phase, e.message));
            }
        }
    }

    fn request(&mut self, mut exchange: Box<Exchange>) {
        exchange.error = self.early_errors.remove(&exchange.flow);
        if self.pending.len() >= MAX_PENDING {
            if let Some(oldest) = self.pending.keys().min().copied() {
                let stale = self.pending.remove(&oldest).expect("present");
                self.queue.push_back(Event::Exchange(*stale));
            }
        }
        self.pending.insert(exchange.flow, exchange);
    }
}

/// Streams a capture's records as events, joining each flow's request, response and errors.
pub struct CaptureEvents {
    path: PathBuf,
    records: Records<BufReader<std::fs::File>, Prepared>,
    join: FlowJoin,
    torn_tail: Option<usize>,
    /// The `end` record was read.
    ended: bool,
    /// What the `end` record says never reached the file.
    lost: Option<phonehome_record::Lost>,
    done: bool,
}

impl CaptureEvents {
    pub(crate) fn new(path: &Path, reader: BufReader<std::fs::File>, read: Progress) -> Self {
        Self {
            path: path.to_owned(),
            records: Records::seekable(reader, read),
            join: FlowJoin::default(),
            torn_tail: None,
            ended: false,
            lost: None,
            done: false,
        }
    }

    /// The line number of a torn last line that was skipped, once reading has ended.
    pub fn torn_tail(&self) -> Option<usize> {
        self.torn_tail
    }

    /// What the reader had to pass over or guess, once reading has ended: a torn last line,
    /// records lacking fields the analysis can do without, a capture without its `end`. Each
    /// names its line where it has one; the caller names the file.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(missing) = self.records.missing() {
            let others = match missing.records {
                1 => String::new(),
                n => format!(" ({} more records lack fields)", n - 1),
            };
            warnings.push(format!(
                "line {}: no {} in this record; read as not measured{others}",
                missing.first_line,
                missing.fields.join(", "),
            ));
        }
        if let Some(line) = self.torn_tail {
            warnings.push(format!(
                "line {line}: the last line is incomplete (the capture was cut off) and was skipped"
            ));
        }
        if !self.ended {
            warnings.push(INCOMPLETE.to_owned());
        }
        if let Some(lost) = &self.lost {
            warnings.push(lost.describe());
        }
        warnings
    }

    fn handle(&mut self, prepared: Prepared) {
        match prepared {
            Prepared::Request(exchange) => self.join.request(exchange),
            Prepared::Response(response) => self.join.response(*response),
            Prepared::Record(record) => {
                let record = *record;
                if let Record::End(end) = &record {
                    self.ended = true;
                    self.lost = end.lost.clone().filter(|l| !l.is_empty());
                }
                self.join.push(record)
            }
        }
    }
}

impl Iterator for CaptureEvents {
    type Item = Result<Event, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.join.pop() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            match self.records.next() {
                Some(Ok((_, prepared))) => self.handle(prepared),
                Some(Err(e)) if e.is_torn_tail() => {
                    self.torn_tail = Some(e.line);
                    self.done = true;
                    self.join.finish();
                }
                Some(Err(source)) => {
                    self.done = true;
                    return Some(Err(SourceError::Capture {
                        path: self.path.clone(),
                        source,
                    }));
                }
                None => {
                    self.done = true;
                    self.join.finish();
                }
            }
        }
    }
}

/// A record as a worker hands it over: a request already made an exchange. Boxed, so that
/// the queues between the worker and the join move pointers, not records of several hundred
/// bytes.
enum Prepared {
    Request(Box<Exchange>),
    Response(Box<phonehome_record::Response>),
    Record(Box<Record>),
}

impl Prepare for Prepared {
    fn prepare(record: Record) -> Self {
        match record {
            Record::Request(r) => Prepared::Request(Box::new(exchange_from_request(r))),
            Record::Response(r) => Prepared::Response(Box::new(r)),
            other => Prepared::Record(Box::new(other)),
        }
    }

    fn header(&self) -> Option<&Capture> {
        match self {
            Prepared::Record(record) => match &**record {
                Record::Capture(capture) => Some(capture),
                _ => None,
            },
            _ => None,
        }
    }
}
