//! The flow index: one row per flow, blocked connection and connection failure, with the byte
//! offsets of the records behind it. Built on a background thread that reads the capture once
//! and, unless the view is static, follows it as it grows. Bodies are not kept: the detail pane
//! reads a flow's records again by offset when it is opened.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use phonehome_analyze::{llm, url_parts, Exchange, UrlParts};
use phonehome_catalog::{recognise_package, Catalog, Purpose};
use phonehome_record::{Capture, End, Record};
use serde::Deserialize;

/// How often a followed capture is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(150);
/// Rows are handed to the view in batches at most this far apart (and at the end of input).
const BATCH_TIME: Duration = Duration::from_millis(40);

/// What a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// An HTTP exchange (`request`, then `response` and `error` records).
    Flow,
    /// A connection or request the policy blocked.
    Blocked,
    /// A connection that failed before any request (DNS, connect, TLS).
    Failure,
    /// A connection that carried no HTTP: relayed TCP, or TLS passed through.
    Conn,
    /// A DNS query phonehome answered (`run --isolate`).
    Dns,
}

/// One line of the flow list, as the view shows it (built for the rows on screen).
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: RowKind,
    pub flow: Option<u64>,
    /// `HH:MM:SS.mmm` (UTC).
    pub time: String,
    pub method: Arc<str>,
    pub host: Arc<str>,
    pub port: u16,
    /// Path and query, or what the row says instead (the block rule, the failure message).
    pub path: String,
    pub status: Option<u16>,
    pub request_size: u64,
    pub response_size: Option<u64>,
    pub duration_ms: Option<u64>,
    /// The failure phase (`dns`, `connect`, `upstream_http`, …) when the flow failed.
    pub error: Option<Arc<str>>,
    pub purpose: Option<&'static str>,
    /// The model of an LLM call.
    pub model: Option<Arc<str>>,
    pub llm: bool,
    /// A side call (title generation, summaries).
    pub meta: bool,
    pub session: Option<Arc<str>>,
    /// Byte offsets of the records behind the row: the first (`request`, `blocked` or
    /// `error`), the response, the flow's first error.
    pub at: u64,
    pub response_at: Option<u64>,
    pub error_at: Option<u64>,
}

/// No value, in the stored row's integer fields.
const NONE: u64 = u64::MAX;
const NONE32: u32 = u32::MAX;

/// A row as kept for every flow of the capture: about 100 bytes plus its path, with repeated
/// strings (hosts, methods, models, sessions, phases) interned.
#[derive(Debug, Clone)]
struct Stored {
    kind: RowKind,
    llm: bool,
    meta: bool,
    purpose: u8,
    port: u16,
    status: u16,
    /// Milliseconds since midnight UTC.
    time: u32,
    duration_ms: u32,
    method: u32,
    host: u32,
    error: u32,
    model: u32,
    session: u32,
    /// The path's span in the path arena.
    path: (u32, u32),
    flow: u64,
    request_size: u64,
    response_size: u64,
    at: u64,
    response_at: u64,
    error_at: u64,
}

/// A stored row with the index it belongs to, for filters.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    data: &'a IndexData,
    row: &'a Stored,
}

impl<'a> RowRef<'a> {
    pub fn kind(self) -> RowKind {
        self.row.kind
    }

    pub fn llm(self) -> bool {
        self.row.llm
    }

    pub fn meta(self) -> bool {
        self.row.meta
    }

    pub fn has_response(self) -> bool {
        self.row.status != 0
    }

    /// A flow still waiting for its response has not failed (yet).
    pub fn failed(self) -> bool {
        match self.row.kind {
            RowKind::Flow => self.row.error != NONE32 || self.row.status >= 400,
            RowKind::Blocked | RowKind::Conn | RowKind::Dns => false,
            RowKind::Failure => true,
        }
    }

    pub fn host(self) -> &'a str {
        self.data.strings.get(self.row.host)
    }

    pub fn session(self) -> Option<&'a str> {
        self.data.strings.opt(self.row.session)
    }

    /// Whether one of the row's records starts at one of `offsets`.
    pub fn recorded_at(self, offsets: &HashSet<u64>) -> bool {
        [self.row.at, self.row.response_at, self.row.error_at]
            .iter()
            .any(|at| *at != NONE && offsets.contains(at))
    }

    /// Whether any text field contains `needle` (lowercase).
    pub fn contains(self, needle: &str) -> bool {
        let status = if self.row.status == 0 {
            String::new()
        } else {
            self.row.status.to_string()
        };
        let strings = &self.data.strings;
        [
            strings.get(self.row.method),
            self.host(),
            self.data.path(self.row),
            strings.opt(self.row.model).unwrap_or_default(),
            strings.opt(self.row.error).unwrap_or_default(),
            purpose_name(self.row.purpose).unwrap_or_default(),
            status.as_str(),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(needle))
    }

    /// The row as the view shows it.
    pub fn to_row(self) -> Row {
        let r = self.row;
        let strings = &self.data.strings;
        let some = |v: u64| (v != NONE).then_some(v);
        Row {
            kind: r.kind,
            flow: (r.kind == RowKind::Flow).then_some(r.flow),
            time: format!(
                "{:02}:{:02}:{:02}.{:03}",
                r.time / 3_600_000,
                r.time / 60_000 % 60,
                r.time / 1000 % 60,
                r.time % 1000
            ),
            method: strings.arc(r.method),
            host: strings.arc(r.host),
            port: r.port,
            path: self.data.path(r).to_owned(),
            status: (r.status != 0).then_some(r.status),
            request_size: r.request_size,
            response_size: some(r.response_size),
            duration_ms: (r.duration_ms != NONE32).then_some(u64::from(r.duration_ms)),
            error: (r.error != NONE32).then(|| strings.arc(r.error)),
            purpose: purpose_name(r.purpose),
            model: (r.model != NONE32).then(|| strings.arc(r.model)),
            llm: r.llm,
            meta: r.meta,
            session: (r.session != NONE32).then(|| strings.arc(r.session)),
            at: r.at,
            response_at: some(r.response_at),
            error_at: some(r.error_at),
        }
    }
}

/// Purposes by number in stored rows: 0 is none, then the catalog's, then ones recognised by
/// protocol.
fn purpose_name(n: u8) -> Option<&'static str> {
    match usize::from(n) {
        0 => None,
        i if i <= Purpose::ALL.len() => Some(Purpose::ALL[i - 1].as_str()),
        _ => None,
    }
}

fn purpose_number(purpose: Option<Purpose>) -> u8 {
    purpose
        .and_then(|p| Purpose::ALL.iter().position(|q| *q == p))
        .and_then(|i| u8::try_from(i + 1).ok())
        .unwrap_or(0)
}

/// Interned strings, by number.
#[derive(Debug, Default)]
struct Strings {
    ids: HashMap<Arc<str>, u32>,
    all: Vec<Arc<str>>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.all.len()).unwrap_or(NONE32 - 1);
        let arc: Arc<str> = Arc::from(s);
        self.all.push(arc.clone());
        self.ids.insert(arc, id);
        id
    }

    fn opt_id(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE32, |s| self.id(s))
    }

    fn get(&self, id: u32) -> &str {
        self.all.get(id as usize).map_or("", |s| s.as_ref())
    }

    fn opt(&self, id: u32) -> Option<&str> {
        (id != NONE32).then(|| self.get(id))
    }

    fn arc(&self, id: u32) -> Arc<str> {
        self.all
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }
}

/// What the reader has learnt so far.
#[derive(Debug, Default)]
pub struct IndexData {
    pub header: Option<Capture>,
    pub end: Option<End>,
    rows: Vec<Stored>,
    strings: Strings,
    paths: String,
    /// Rows of flows still waiting for their response.
    pending: HashMap<u64, usize>,
    /// Errors read before their flow's request (a request is written when its body ends).
    early_errors: HashMap<u64, (String, u64)>,
    /// Connections with a blocked or failure row: their `conn` record adds none.
    shown_conns: HashSet<u64>,
    /// Bumped on every change, so the view knows when to filter again.
    pub generation: u64,
    /// Bytes read so far.
    pub offset: u64,
    /// Lines that are not records, with their line numbers (shown, never fatal).
    pub bad_lines: Vec<(u64, String)>,
    /// Whether the reader has reached the end of what it will read (`end` record, or end of
    /// file for a static view).
    pub done: bool,
    /// Why reading stopped early, if it did.
    pub failure: Option<String>,
}

impl IndexData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`, for filters.
    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        self.rows.get(i).map(|row| RowRef { data: self, row })
    }

    /// Every row, for filters.
    pub fn iter(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.rows.iter().map(|row| RowRef { data: self, row })
    }

    fn path(&self, row: &Stored) -> &str {
        let (start, len) = (row.path.0 as usize, row.path.1 as usize);
        self.paths.get(start..start + len).unwrap_or_default()
    }
}

/// A capture being indexed: the shared data and the reader thread's stop switch.
pub struct Index {
    pub path: PathBuf,
    data: Arc<Mutex<IndexData>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Index {
    /// Starts reading `path` on a background thread; `follow` keeps reading as the file grows
    /// until its `end` record.
    pub fn open(path: &Path, follow: bool) -> Index {
        let data = Arc::new(Mutex::new(IndexData::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            path: path.to_owned(),
            data: data.clone(),
            stop: stop.clone(),
            follow,
            catalog: Catalog::builtin(),
            purposes: HashMap::new(),
            isolate: false,
        };
        let thread = std::thread::Builder::new()
            .name("phonehome-index".into())
            .spawn(move || reader.run())
            .ok();
        Index {
            path: path.to_owned(),
            data,
            stop,
            thread,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, IndexData> {
        lock(&self.data)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(data: &Mutex<IndexData>) -> MutexGuard<'_, IndexData> {
    data.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fields the index needs, read without copying bodies.
#[derive(Deserialize)]
struct Light<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    ts: Cow<'a, str>,
    flow: Option<u64>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    status: Option<u16>,
    #[serde(borrow)]
    headers: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    body: Option<LightBody>,
    duration_ms: Option<u64>,
    #[serde(borrow)]
    phase: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rule: Option<Cow<'a, str>>,
    #[serde(borrow)]
    target: Option<LightTarget<'a>>,
    conn: Option<u64>,
    #[serde(borrow)]
    transport: Option<Cow<'a, str>>,
    bytes_up: Option<u64>,
    bytes_down: Option<u64>,
    #[serde(borrow)]
    query: Option<Cow<'a, str>>,
    #[serde(borrow)]
    qtype: Option<Cow<'a, str>>,
    #[serde(borrow)]
    answers: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
struct LightBody {
    size: u64,
}

#[derive(Deserialize)]
struct LightTarget<'a> {
    #[serde(borrow)]
    host: Cow<'a, str>,
    port: u16,
}

/// A row as the reader makes it, before its strings are interned.
struct NewRow {
    kind: RowKind,
    /// The connection of a blocked, failed or relayed connection's row.
    conn: Option<u64>,
    response_size: u64,
    duration_ms: u32,
    flow: u64,
    time: u32,
    method: String,
    host: String,
    port: u16,
    path: String,
    request_size: u64,
    error: Option<String>,
    purpose: Option<Purpose>,
    model: Option<String>,
    llm: bool,
    meta: bool,
    session: Option<String>,
    at: u64,
}

/// A change to hand over to the view.
enum Change {
    Header(Capture),
    End(End),
    Row(NewRow),
    Response {
        flow: u64,
        status: u16,
        size: Option<u64>,
        duration_ms: u64,
        at: u64,
    },
    Error {
        flow: u64,
        phase: String,
        at: u64,
    },
    Bad(u64, String),
}

struct Reader {
    path: PathBuf,
    data: Arc<Mutex<IndexData>>,
    stop: Arc<AtomicBool>,
    follow: bool,
    catalog: Catalog,
    /// The catalog's purpose of each host and port seen.
    purposes: HashMap<(String, u16), Option<Purpose>>,
    /// The capture is of `run --isolate`: connections need not come through CONNECT.
    isolate: bool,
}

impl Reader {
    fn run(mut self) {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) => {
                let mut data = lock(&self.data);
                data.failure = Some(format!("cannot read {}: {e}", self.path.display()));
                data.done = true;
                return;
            }
        };
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let mut line_no = 0u64;
        let mut batch = Vec::new();
        let mut flushed = Instant::now();
        let mut ended = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let read = match input.read_until(b'\n', &mut line) {
                Ok(read) => read,
                Err(e) => {
                    self.flush(&mut batch, offset);
                    let mut data = lock(&self.data);
                    data.failure = Some(format!("cannot read {}: {e}", self.path.display()));
                    data.done = true;
                    return;
                }
            };
            let complete = line.last() == Some(&b'\n');
            if read == 0 || !complete {
                // End of what is there: a torn or still-growing last line stays in `line`.
                self.flush(&mut batch, offset);
                if ended || !self.follow {
                    self.finish(&line, line_no + 1);
                    return;
                }
                std::thread::sleep(FOLLOW_POLL);
                continue;
            }
            line_no += 1;
            let at = offset;
            offset += line.len() as u64;
            if let Some(change) = self.index_line(&line, at, line_no) {
                ended |= matches!(change, Change::End(_));
                batch.push(change);
            }
            line.clear();
            if batch.len() >= 4096 || flushed.elapsed() >= BATCH_TIME {
                self.flush(&mut batch, offset);
                flushed = Instant::now();
            }
        }
    }

    fn finish(&self, rest: &[u8], line_no: u64) {
        let mut data = lock(&self.data);
        if !rest.iter().all(u8::is_ascii_whitespace) {
            data.bad_lines.push((
                line_no,
                "the last line is incomplete (torn write); skipped".into(),
            ));
        }
        data.done = true;
        data.generation += 1;
    }

    fn flush(&self, batch: &mut Vec<Change>, offset: u64) {
        let mut data = lock(&self.data);
        data.offset = offset;
        if batch.is_empty() {
            return;
        }
        data.generation += 1;
        apply(&mut data, batch.drain(..));
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

    fn index_line(&mut self, line: &[u8], at: u64, line_no: u64) -> Option<Change> {
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.trim_end(),
            Err(e) => return Some(Change::Bad(line_no, format!("not UTF-8: {e}"))),
        };
        if text.is_empty() {
            return None;
        }
        let light: Light = match serde_json::from_str(text) {
            Ok(light) => light,
            Err(e) => return Some(Change::Bad(line_no, format!("not a record: {e}"))),
        };
        let other = |kind: RowKind, host: &str, port: u16, method: &str, path: String| NewRow {
            kind,
            conn: light.conn,
            response_size: NONE,
            duration_ms: NONE32,
            flow: 0,
            time: time_of(&light.ts),
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
            at,
        };
        match light.kind.as_ref() {
            "capture" | "end" => match Record::from_line(text) {
                Ok(Record::Capture(c)) => {
                    self.isolate = c.mode == phonehome_record::Mode::Isolate;
                    Some(Change::Header(c))
                }
                Ok(Record::End(e)) => Some(Change::End(e)),
                Ok(_) => None,
                Err(e) => Some(Change::Bad(line_no, format!("not a record: {e}"))),
            },
            "request" => {
                let url = light.url.as_deref().unwrap_or_default();
                let method = light.method.as_deref().unwrap_or_default();
                let UrlParts {
                    host,
                    port,
                    path_and_query: path,
                } = url_parts(url);
                let mut row = other(RowKind::Flow, host, port, method, path.to_owned());
                row.flow = light.flow?;
                row.request_size = light.body.map_or(0, |b| b.size);
                row.purpose = self.purpose(host, port);
                let bare_path = path.split('?').next().unwrap_or_default();
                if row.purpose.is_none() {
                    let headers: Vec<(String, String)> = light
                        .headers
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(n, v)| (n.into_owned(), v.into_owned()))
                        .collect();
                    if recognise_package(method, bare_path, &headers).is_some() {
                        row.purpose = Some(Purpose::PackageRegistry);
                    }
                }
                if llm::is_call(method, bare_path) {
                    if let Ok(Record::Request(request)) = Record::from_line(text) {
                        let exchange = Exchange::from_records(request, None, None);
                        if let Some(call) = llm::decode(&exchange) {
                            row.llm = true;
                            row.purpose = row.purpose.or(Some(Purpose::LlmApi));
                            row.model = call.request_model;
                            row.meta = call.meta;
                            row.session = call.session;
                        }
                    }
                }
                Some(Change::Row(row))
            }
            "response" => Some(Change::Response {
                flow: light.flow?,
                status: light.status.unwrap_or_default(),
                size: light.body.map(|b| b.size),
                duration_ms: light.duration_ms.unwrap_or_default(),
                at,
            }),
            "error" => {
                let phase = light.phase.as_deref().unwrap_or("error").to_owned();
                match light.flow {
                    Some(flow) => Some(Change::Error { flow, phase, at }),
                    None => {
                        let target = light.target.as_ref()?;
                        let message = light.message.as_deref().unwrap_or_default();
                        let mut row = other(
                            RowKind::Failure,
                            &target.host,
                            target.port,
                            "-",
                            format!("  {message}"),
                        );
                        row.purpose = self.purpose(&target.host, target.port);
                        row.error = Some(phase);
                        Some(Change::Row(row))
                    }
                }
            }
            "blocked" => {
                let target = light.target.as_ref()?;
                // What was refused: a request, a connection (CONNECT, or any TCP connection
                // in isolation), a DNS lookup or UDP datagrams (isolation, no connection).
                let (method, path) = match (&light.method, &light.url, light.conn) {
                    (Some(method), Some(url), _) => {
                        (method.as_ref(), url_parts(url).path_and_query)
                    }
                    (_, _, Some(_)) if self.isolate => ("TCP", ""),
                    (_, _, Some(_)) => ("CONNECT", ""),
                    _ if target.port == 53 => ("DNS", ""),
                    _ => ("UDP", ""),
                };
                let rule = light.rule.as_deref().unwrap_or("policy");
                let mut row = other(
                    RowKind::Blocked,
                    &target.host,
                    target.port,
                    method,
                    format!("{path}  [{rule}]"),
                );
                row.purpose = self.purpose(&target.host, target.port);
                Some(Change::Row(row))
            }
            // Connections with flows show as their flows; these carried none.
            "conn" => {
                let transport = light.transport.as_deref().unwrap_or_default();
                let method = match transport {
                    "tcp" => "TCP",
                    "tls-passthrough" => "TLS",
                    _ => return None,
                };
                let target = light.target.as_ref()?;
                let mut row = other(
                    RowKind::Conn,
                    &target.host,
                    target.port,
                    method,
                    format!("  {transport}"),
                );
                row.purpose = self.purpose(&target.host, target.port);
                row.request_size = light.bytes_up.unwrap_or_default();
                row.response_size = light.bytes_down.unwrap_or_default();
                row.duration_ms = light
                    .duration_ms
                    .map_or(NONE32, |d| u32::try_from(d).unwrap_or(NONE32 - 1));
                Some(Change::Row(row))
            }
            "dns" => {
                let query = light.query.as_deref().unwrap_or_default();
                let qtype = light.qtype.as_deref().unwrap_or_default();
                let answers = light.answers.as_deref().unwrap_or_default();
                let answer = if answers.is_empty() {
                    "no answer".to_owned()
                } else {
                    answers.join(", ")
                };
                let mut row = other(
                    RowKind::Dns,
                    query,
                    53,
                    "DNS",
                    format!("  {qtype} → {answer}"),
                );
                row.purpose = self.purpose(query, 443);
                Some(Change::Row(row))
            }
            _ => None,
        }
    }
}

fn apply(data: &mut IndexData, changes: impl Iterator<Item = Change>) {
    for change in changes {
        match change {
            Change::Header(header) => data.header = Some(header),
            Change::End(end) => data.end = Some(end),
            Change::Bad(line, why) => data.bad_lines.push((line, why)),
            Change::Row(row) => {
                // A blocked or failed connection already has its row.
                if let (RowKind::Blocked | RowKind::Failure, Some(conn)) = (row.kind, row.conn) {
                    data.shown_conns.insert(conn);
                }
                if let (RowKind::Conn, Some(conn)) = (row.kind, row.conn) {
                    if data.shown_conns.remove(&conn) {
                        continue;
                    }
                }
                let path_start = data.paths.len();
                data.paths.push_str(&row.path);
                let strings = &mut data.strings;
                let mut stored = Stored {
                    kind: row.kind,
                    llm: row.llm,
                    meta: row.meta,
                    purpose: purpose_number(row.purpose),
                    port: row.port,
                    status: 0,
                    time: row.time,
                    duration_ms: row.duration_ms,
                    method: strings.id(&row.method),
                    host: strings.id(&row.host),
                    error: strings.opt_id(row.error.as_deref()),
                    model: strings.opt_id(row.model.as_deref()),
                    session: strings.opt_id(row.session.as_deref()),
                    path: (
                        u32::try_from(path_start).unwrap_or(NONE32),
                        u32::try_from(row.path.len()).unwrap_or(0),
                    ),
                    flow: row.flow,
                    request_size: row.request_size,
                    response_size: row.response_size,
                    at: row.at,
                    response_at: NONE,
                    error_at: NONE,
                };
                if row.kind == RowKind::Flow {
                    if let Some((phase, at)) = data.early_errors.remove(&row.flow) {
                        stored.error = data.strings.id(&phase);
                        stored.error_at = at;
                    }
                    data.pending.insert(row.flow, data.rows.len());
                }
                data.rows.push(stored);
            }
            Change::Response {
                flow,
                status,
                size,
                duration_ms,
                at,
            } => {
                // A response ends its flow: late errors of a flow are rare and left out.
                if let Some(i) = data.pending.remove(&flow) {
                    if let Some(row) = data.rows.get_mut(i) {
                        row.status = status.max(1);
                        row.response_size = size.unwrap_or(0);
                        row.duration_ms = u32::try_from(duration_ms).unwrap_or(NONE32 - 1);
                        row.response_at = at;
                    }
                }
            }
            Change::Error { flow, phase, at } => match data.pending.get(&flow).copied() {
                Some(i) => {
                    let id = data.strings.id(&phase);
                    if let Some(row) = data.rows.get_mut(i) {
                        if row.error == NONE32 {
                            row.error = id;
                            row.error_at = at;
                        }
                    }
                }
                None => {
                    data.early_errors.entry(flow).or_insert((phase, at));
                }
            },
        }
    }
}

/// Milliseconds since midnight of an RFC 3339 timestamp (`…THH:MM:SS.mmmZ`).
fn time_of(ts: &str) -> u32 {
    let field = |range: std::ops::Range<usize>| {
        ts.get(range)
            .and_then(|f| f.parse::<u32>().ok())
            .unwrap_or(0)
    };
    field(11..13) * 3_600_000 + field(14..16) * 60_000 + field(17..19) * 1000 + field(20..23)
}

/// A search of every record's text (headers and bodies included) on a background thread.
pub struct BodySearch {
    pub needle: String,
    result: Arc<Mutex<Option<HashSet<u64>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BodySearch {
    /// Starts looking for `needle` (any case) in the lines of `path`.
    pub fn start(path: &Path, needle: &str) -> BodySearch {
        let result = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (path, lower) = (path.to_owned(), needle.to_lowercase());
        let (out, halt) = (result.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("phonehome-search".into())
            .spawn(move || {
                let found = lines_containing(&path, lower.as_bytes(), &halt);
                *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
            })
            .ok();
        BodySearch {
            needle: needle.to_owned(),
            result,
            stop,
            thread,
        }
    }

    /// The byte offsets of the lines that contain the needle, once the search is done (the
    /// first call after that takes them).
    pub fn take_result(&self) -> Option<HashSet<u64>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for BodySearch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Offsets of the lines of `path` that contain `lower` once ASCII-lowercased (JSON text as
/// recorded: a needle with quotes or newlines must be written as the capture escapes them).
fn lines_containing(path: &Path, lower: &[u8], stop: &AtomicBool) -> HashSet<u64> {
    let mut found = HashSet::new();
    let Ok(file) = File::open(path) else {
        return found;
    };
    let finder = memchr::memmem::Finder::new(lower);
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                line.make_ascii_lowercase();
                if finder.find(&line).is_some() {
                    found.insert(offset);
                }
                offset += n as u64;
            }
        }
    }
    found
}
