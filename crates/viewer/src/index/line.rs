//! What one capture line adds to the index: its [`RecordHead`] says what it is; requests and
//! responses, the records read most, become changes from the head alone, and the rest (the
//! header, the end, errors, blocks, relayed connections, DNS answers, and the requests that
//! need their headers or body) are read whole as typed [`Record`]s.

use std::collections::HashMap;

use phonehome_analyze::{llm, url_parts, Exchange, UrlParts};
use phonehome_catalog::{recognise_package, Catalog, Purpose};
use phonehome_record::{
    Blocked, Conn, ConnId, ConnProcess, Dns, ErrorRecord, Mode, ProcessInfo, Record, RecordHead,
    RecordKind, Request, Transport,
};

use super::data::{Change, NewRow};
use super::row::{sinkhole_number, time_of, RowKind, NONE, NONE32, NO_FLOW};

/// Turns lines into changes; remembers what later lines depend on.
pub(crate) struct LineIndexer {
    catalog: Catalog,
    /// The catalog's purpose of each host and port seen.
    purposes: HashMap<(String, u16), Option<Purpose>>,
    /// The capture is of `run --isolate`: connections need not come through CONNECT.
    isolate: bool,
}

/// One line being indexed: its text, where it starts, and its head's time and connection.
struct Line<'a> {
    text: &'a str,
    /// Byte offset of the line in the capture.
    at: u64,
    line_no: u64,
    /// Milliseconds since midnight UTC.
    time: u32,
    conn: Option<ConnId>,
}

impl Line<'_> {
    /// A row of this line with nothing but what it is, where it went and what it says.
    fn row(&self, kind: RowKind, host: &str, port: u16, method: &str, path: String) -> NewRow {
        NewRow {
            kind,
            conn: self.conn,
            sinkhole: 0,
            response_size: NONE,
            duration_ms: NONE32,
            flow: NO_FLOW,
            time: self.time,
            method: method.to_owned(),
            host: host.to_owned(),
            port,
            path,
            request_size: 0,
            error: None,
            purpose: None,
            model: None,
            llm: false,
            meta: false,
            session: None,
            at: self.at,
        }
    }

    /// The line read whole.
    fn record(&self) -> Result<Record, serde_json::Error> {
        Record::from_line(self.text)
    }

    /// The change of a line that is not a record.
    fn bad(&self, e: &serde_json::Error) -> Change {
        Change::Bad(self.line_no, format!("not a record: {e}"))
    }
}

impl LineIndexer {
    pub(crate) fn new() -> LineIndexer {
        LineIndexer {
            catalog: Catalog::builtin(),
            purposes: HashMap::new(),
            isolate: false,
        }
    }

    /// The change line `line_no` (its newline included), starting at byte `at`, makes; `None`
    /// for a line that adds nothing (a blank line, a WebSocket message). A line that is not a
    /// record (an unknown type, JSON nested too deep, a WebSocket message that does not parse)
    /// is a [`Change::Bad`], so that every line the view cannot use is counted.
    pub(crate) fn line(&mut self, line: &[u8], at: u64, line_no: u64) -> Option<Change> {
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.trim_end(),
            Err(e) => return Some(Change::Bad(line_no, format!("not UTF-8: {e}"))),
        };
        if text.is_empty() {
            return None;
        }
        let head = match RecordHead::from_line(text) {
            Ok(head) => head,
            Err(e) => return Some(Change::Bad(line_no, format!("not a record: {e}"))),
        };
        let line = Line {
            text,
            at,
            line_no,
            time: time_of(&head.ts),
            conn: head.conn,
        };
        match head.kind {
            RecordKind::Request => self.request(&line, &head),
            RecordKind::Response => response(&line, &head),
            RecordKind::Ws | RecordKind::Other => line.record().err().map(|e| line.bad(&e)),
            _ => match line.record() {
                Ok(record) => self.record_change(&line, record),
                Err(e) => Some(line.bad(&e)),
            },
        }
    }

    fn record_change(&mut self, line: &Line<'_>, record: Record) -> Option<Change> {
        match record {
            Record::Capture(capture) => {
                self.isolate = capture.mode == Mode::Isolate;
                Some(Change::Header(Box::new(capture)))
            }
            Record::End(end) => Some(Change::End(end)),
            Record::Error(error) => Some(self.error(line, error)),
            Record::Blocked(blocked) => Some(self.blocked(line, &blocked)),
            Record::Conn(conn) => Some(self.conn(line, &conn)),
            Record::Dns(dns) => Some(self.dns(line, &dns)),
            _ => None,
        }
    }

    /// The catalog's purpose of a host, looked up once per host and port.
    fn purpose(&mut self, host: &str, port: u16) -> Option<Purpose> {
        if let Some(purpose) = self.purposes.get(&(host.to_owned(), port)) {
            return *purpose;
        }
        let purpose = self.catalog.lookup(host, port).map(|e| e.purpose);
        self.purposes.insert((host.to_owned(), port), purpose);
        purpose
    }

    /// A flow's row. The request is read whole only when its host is not in the catalog (a
    /// package registry is recognised by its headers) or when it is an LLM call (the model,
    /// session and side-call flag are in its body).
    fn request(&mut self, line: &Line<'_>, head: &RecordHead<'_>) -> Option<Change> {
        let url = head.url.as_deref().unwrap_or_default();
        let method = head.method.as_deref().unwrap_or_default();
        let UrlParts {
            host,
            port,
            path_and_query: path,
        } = url_parts(url);
        let mut row = line.row(RowKind::Flow, host, port, method, path.to_owned());
        row.flow = head.flow?;
        row.request_size = head.body_size.unwrap_or(0);
        row.sinkhole = sinkhole_number(head.sinkhole.as_deref());
        row.purpose = self.purpose(host, port);
        let bare_path = path.split('?').next().unwrap_or_default();
        let uncatalogued = row.purpose.is_none();
        let call = llm::is_call(method, bare_path);
        if !uncatalogued && !call {
            return Some(Change::Row(row));
        }
        let Ok(Record::Request(request)) = line.record() else {
            return Some(Change::Row(row));
        };
        if uncatalogued && recognise_package(method, bare_path, &request.headers).is_some() {
            row.purpose = Some(Purpose::PackageRegistry);
        }
        if call {
            llm_call(&mut row, request);
        }
        Some(Change::Row(row))
    }

    /// A flow's error, or the row of a connection that failed before any request.
    fn error(&mut self, line: &Line<'_>, error: ErrorRecord) -> Change {
        let phase = error.phase.as_str().to_owned();
        if let Some(flow) = error.flow {
            return Change::Error {
                flow,
                phase,
                at: line.at,
            };
        }
        let target = &error.target;
        let path = format!("  {}", error.message);
        let mut row = line.row(RowKind::Failure, &target.host, target.port, "-", path);
        row.purpose = self.purpose(&target.host, target.port);
        row.error = Some(phase);
        Change::Row(row)
    }

    fn blocked(&mut self, line: &Line<'_>, blocked: &Blocked) -> Change {
        let target = &blocked.target;
        // What was refused: a request, a connection (CONNECT, or any TCP connection in
        // isolation), a DNS lookup or UDP datagrams (isolation, no connection).
        let (method, path) = match (&blocked.method, &blocked.url, blocked.conn) {
            (Some(method), Some(url), _) => (method.as_str(), url_parts(url).path_and_query),
            (_, _, Some(_)) if self.isolate => ("TCP", ""),
            (_, _, Some(_)) => ("CONNECT", ""),
            _ if target.port == 53 => ("DNS", ""),
            _ => ("UDP", ""),
        };
        let path = format!("{path}  [{}]", blocked.rule);
        let mut row = line.row(RowKind::Blocked, &target.host, target.port, method, path);
        row.purpose = self.purpose(&target.host, target.port);
        row.flow = blocked.flow.unwrap_or(NO_FLOW);
        Change::Row(row)
    }

    /// The process a connection names, for the rows of its flows; connections with flows
    /// show as their flows, only those that carried none have a row.
    fn conn(&mut self, line: &Line<'_>, conn: &Conn) -> Change {
        Change::Conn {
            conn: conn.conn,
            process: conn.process.as_deref().map(process_name),
            at: line.at,
            row: self.conn_row(line, conn),
        }
    }

    fn conn_row(&mut self, line: &Line<'_>, conn: &Conn) -> Option<NewRow> {
        let (method, transport) = match conn.transport {
            Transport::Tcp => ("TCP", "tcp"),
            Transport::TlsPassthrough => ("TLS", "tls-passthrough"),
            Transport::TlsIntercept | Transport::Http => return None,
        };
        let target = &conn.target;
        let path = format!("  {transport}");
        let mut row = line.row(RowKind::Conn, &target.host, target.port, method, path);
        row.purpose = self.purpose(&target.host, target.port);
        row.request_size = conn.bytes_up;
        row.response_size = conn.bytes_down;
        row.duration_ms = u32::try_from(conn.duration_ms).unwrap_or(NONE32 - 1);
        Some(row)
    }

    fn dns(&mut self, line: &Line<'_>, dns: &Dns) -> Change {
        let answer = if dns.answers.is_empty() {
            "no answer".to_owned()
        } else {
            dns.answers.join(", ")
        };
        let path = format!("  {} → {answer}", dns.qtype);
        let mut row = line.row(RowKind::Dns, &dns.query, 53, "DNS", path);
        row.purpose = self.purpose(&dns.query, 443);
        Change::Row(row)
    }
}

/// A response ends its flow: its status, size and duration, from the head alone.
fn response(line: &Line<'_>, head: &RecordHead<'_>) -> Option<Change> {
    Some(Change::Response {
        flow: head.flow?,
        status: head.status.unwrap_or_default(),
        size: head.body_size,
        duration_ms: head.duration_ms.unwrap_or_default(),
        at: line.at,
    })
}

/// The executable's file name of a connection's process, as the flow list shows it: `curl`
/// for `/usr/bin/curl`, `?` when the owner is not known.
fn process_name(process: &ConnProcess) -> String {
    process.known().map_or("?", ProcessInfo::name).to_owned()
}

/// Marks `row` as an LLM call when its request decodes as one.
fn llm_call(row: &mut NewRow, request: Request) {
    let exchange = Exchange::from_records(request, None, None);
    let Some(call) = llm::decode(&exchange) else {
        return;
    };
    row.llm = true;
    row.purpose = row.purpose.or(Some(Purpose::LlmApi));
    row.model = call.request_model;
    row.meta = call.meta;
    row.session = call.session;
}
