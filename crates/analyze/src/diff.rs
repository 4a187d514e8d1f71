//! `phonehome diff`: how two captures (or HAR files) differ, per host and per request
//! signature: what is present in one only, header names and values (and whether each value is
//! constant or varies within its capture), header order, auth scheme and credential
//! fingerprints, the JSON shape of request bodies (keys and types, not values), HTTP version,
//! ALPN, TLS version, JA3 and JA4, request counts, retries, the median gap ([`gaps`], in bounded memory) and connection reuse; and per
//! executable (the `process` of each connection), the hosts it connected to ([`processes`]).

mod gaps;
mod identifiers;
mod processes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use phonehome_record::{BodyEncoding, Redactor};
use serde::Serialize;
use serde_json::Value;

use crate::event::SourceError;
use crate::event::{Event, Exchange};
pub use identifiers::SharedIdentifier;
pub use processes::{ProcessDiff, ProcessSide};

/// Distinct values kept per header before it is marked as varying without keeping more.
const MAX_VALUES: usize = 8;

/// What one input looks like.
#[derive(Debug, Default)]
struct Profile {
    hosts: BTreeMap<String, HostProfile>,
    signatures: BTreeMap<String, SignatureProfile>,
    processes: processes::Processes,
    identifiers: identifiers::Sent,
}

#[derive(Debug, Default)]
struct HostProfile {
    requests: u64,
    connections: u64,
    versions: BTreeSet<String>,
    alpn: BTreeSet<String>,
    tls: BTreeSet<String>,
    ja3: BTreeSet<String>,
    ja4: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct SignatureProfile {
    requests: u64,
    failed: u64,
    retries: u64,
    /// Header names of the first request, in order (lowercase, as recorded).
    order: Vec<String>,
    /// The same names exactly as sent (HTTP/1), when the capture has them.
    raw_order: Vec<String>,
    values: BTreeMap<String, BTreeSet<String>>,
    auth: BTreeSet<String>,
    credentials: BTreeSet<String>,
    shape: BTreeSet<String>,
    last_ms: Option<i64>,
    /// Gaps between its requests, for their median.
    gaps: gaps::Gaps,
    last_failed_body: Option<String>,
}

fn profile(path: &Path) -> Result<Profile, SourceError> {
    let mut p = Profile::default();
    for event in crate::input::open(path)? {
        match event? {
            Event::Exchange(x) => {
                p.identifiers.exchange(&x);
                p.exchange(&x);
            }
            Event::Conn(c) => {
                p.processes.conn(&c);
                let host = p.hosts.entry(c.target.host).or_default();
                host.connections += 1;
                if let Some(tls) = c.tls {
                    host.alpn.extend(tls.alpn);
                    host.tls.extend(tls.version);
                    host.ja3.extend(tls.ja3);
                    host.ja4.extend(tls.ja4);
                }
            }
            _ => {}
        }
    }
    Ok(p)
}

impl Profile {
    fn exchange(&mut self, x: &Exchange) {
        let host = self.hosts.entry(x.host.clone()).or_default();
        host.requests += 1;
        host.versions.insert(x.version.clone());
        let sig = crate::signature(&x.method, &x.host, &x.path, x.query.as_deref());
        let s = self.signatures.entry(sig).or_default();
        s.requests += 1;
        if s.requests == 1 {
            s.order = x.request_headers.iter().map(|(n, _)| n.clone()).collect();
            s.raw_order.clone_from(&x.raw_header_names);
        }
        for (name, value) in &x.request_headers {
            let values = s.values.entry(name.clone()).or_default();
            if values.len() < MAX_VALUES {
                values.insert(value.clone());
            }
            if let Some(credential) = Redactor::credential(name, value) {
                s.credentials.insert(credential.to_owned());
                let scheme = value
                    .split_once(' ')
                    .map_or(name.as_str(), |(scheme, _)| scheme);
                s.auth.insert(scheme.to_ascii_lowercase());
            }
        }
        let body = x
            .request_body
            .as_ref()
            .filter(|b| b.encoding == BodyEncoding::Utf8);
        if let Some(json) = body.and_then(|b| serde_json::from_str::<Value>(&b.data).ok()) {
            shape("", &json, 0, &mut s.shape);
        }
        let data = body.map(|b| b.data.clone());
        if x.failed() {
            s.failed += 1;
        }
        if s.last_failed_body.is_some()
            && s.last_failed_body == data.clone().or(Some(String::new()))
        {
            s.retries += 1;
        }
        s.last_failed_body = x.failed().then(|| data.unwrap_or_default());
        let at = x.ts.timestamp_millis();
        if let Some(last) = s.last_ms {
            s.gaps.add(at - last);
        }
        s.last_ms = Some(at);
    }
}

/// Flattens a JSON value to `path: type` lines: object keys, `[]` for array items.
fn shape(prefix: &str, value: &Value, depth: usize, out: &mut BTreeSet<String>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !prefix.is_empty() {
        out.insert(format!("{prefix}: {kind}"));
    }
    if depth >= 6 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                shape(&path, v, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                shape(&format!("{prefix}[]"), item, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// How two inputs differ.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub hosts_only_in_a: Vec<String>,
    pub hosts_only_in_b: Vec<String>,
    pub signatures_only_in_a: Vec<String>,
    pub signatures_only_in_b: Vec<String>,
    pub hosts: Vec<HostDiff>,
    pub signatures: Vec<SignatureDiff>,
    /// Executables (the `process` of each connection) with connections in A only.
    pub processes_only_in_a: Vec<String>,
    pub processes_only_in_b: Vec<String>,
    /// Every executable of either input with its connections by host on each side, when the
    /// inputs differ in processes (empty when they agree).
    pub processes: Vec<ProcessDiff>,
    /// The inputs (`A`, `B`) whose connections name no process (recorded without
    /// attribution, before it, or a HAR file) while the other's do; the only-in lists are
    /// then left empty.
    pub unattributed: Vec<String>,
    /// Persistent identifiers (same name and value) sent in both inputs: they follow the user
    /// across runs. Not a difference: shown even when the inputs agree.
    pub identifiers_in_both: Vec<SharedIdentifier>,
}

impl Diff {
    /// Whether the two inputs look the same.
    pub fn is_empty(&self) -> bool {
        self.hosts_only_in_a.is_empty()
            && self.hosts_only_in_b.is_empty()
            && self.signatures_only_in_a.is_empty()
            && self.signatures_only_in_b.is_empty()
            && self.hosts.is_empty()
            && self.signatures.is_empty()
            && self.processes.is_empty()
    }
}

/// One property of a host or signature that differs: A's side and B's.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub what: String,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostDiff {
    pub host: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureDiff {
    pub signature: String,
    pub headers_only_in_a: Vec<String>,
    pub headers_only_in_b: Vec<String>,
    pub changes: Vec<Change>,
}

/// Compares two captures or HAR files.
///
/// # Errors
/// [`SourceError`] for an input that cannot be read.
pub fn diff(a: &Path, b: &Path) -> Result<Diff, SourceError> {
    // Both inputs at once: each profile is built on its own thread (the parsing of either
    // shares the worker threads), so the two overlap on a machine with cores to spare.
    let (pa, pb) = std::thread::scope(|scope| {
        let pb = scope.spawn(|| profile(b));
        let pa = profile(a);
        let pb = pb
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (pa, pb)
    });
    let (pa, pb) = (pa?, pb?);
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let mut out = Diff {
        a: name(a),
        b: name(b),
        ..Diff::default()
    };
    only(
        &pa.hosts,
        &pb.hosts,
        &mut out.hosts_only_in_a,
        &mut out.hosts_only_in_b,
    );
    only(
        &pa.signatures,
        &pb.signatures,
        &mut out.signatures_only_in_a,
        &mut out.signatures_only_in_b,
    );
    for (host, ha) in &pa.hosts {
        let Some(hb) = pb.hosts.get(host) else {
            continue;
        };
        let changes = host_changes(ha, hb);
        if !changes.is_empty() {
            out.hosts.push(HostDiff {
                host: host.clone(),
                changes,
            });
        }
    }
    for (sig, sa) in &pa.signatures {
        let Some(sb) = pb.signatures.get(sig) else {
            continue;
        };
        out.signatures.extend(signature_diff(sig, sa, sb));
    }
    let processes = processes::compare(&pa.processes, &pb.processes);
    out.processes_only_in_a = processes.only_in_a;
    out.processes_only_in_b = processes.only_in_b;
    out.processes = processes.executables;
    out.unattributed = processes.unattributed;
    out.identifiers_in_both = identifiers::shared(&pa.identifiers, &pb.identifiers);
    Ok(out)
}

/// What changed on one host between the two captures: its protocol and TLS facts, and how many
/// requests it sends per connection.
fn host_changes(ha: &HostProfile, hb: &HostProfile) -> Vec<Change> {
    let mut changes = Vec::new();
    for (what, sa, sb) in [
        ("HTTP version", &ha.versions, &hb.versions),
        ("ALPN", &ha.alpn, &hb.alpn),
        ("TLS version", &ha.tls, &hb.tls),
        ("JA3", &ha.ja3, &hb.ja3),
        ("JA4", &ha.ja4, &hb.ja4),
    ] {
        if sa != sb {
            changes.push(change(what, join(sa), join(sb)));
        }
    }
    let reuse =
        |h: &HostProfile| format!("{} requests on {} connections", h.requests, h.connections);
    if ha.connections > 0
        && hb.connections > 0
        && ha.requests * hb.connections != hb.requests * ha.connections
    {
        changes.push(change("connection reuse", reuse(ha), reuse(hb)));
    }
    changes
}

fn only<V>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
    in_a: &mut Vec<String>,
    in_b: &mut Vec<String>,
) {
    in_a.extend(a.keys().filter(|k| !b.contains_key(*k)).cloned());
    in_b.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        return "—".to_owned();
    }
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn change(what: &str, a: String, b: String) -> Change {
    Change {
        what: what.to_owned(),
        a,
        b,
    }
}

/// A header's values as shown: the one value (constant) or the count of distinct values.
fn values(set: &BTreeSet<String>) -> String {
    match set.len() {
        1 => format!("{} (constant)", set.iter().next().expect("one value")),
        n if n >= MAX_VALUES => format!("varies ({MAX_VALUES}+ distinct values)"),
        n => format!("varies ({n} distinct values)"),
    }
}

fn signature_diff(sig: &str, a: &SignatureProfile, b: &SignatureProfile) -> Option<SignatureDiff> {
    let names_a: BTreeSet<&String> = a.values.keys().collect();
    let names_b: BTreeSet<&String> = b.values.keys().collect();
    let mut changes = Vec::new();
    for name in names_a.intersection(&names_b) {
        let (va, vb) = (&a.values[*name], &b.values[*name]);
        if va != vb && !(va.len() >= MAX_VALUES && vb.len() >= MAX_VALUES) {
            changes.push(change(&format!("header {name}"), values(va), values(vb)));
        }
    }
    // The whole sequence of header names (first request of the signature): exactly as sent
    // when both captures have the raw names, else as recorded.
    let (order_a, order_b) = if a.raw_order.is_empty() || b.raw_order.is_empty() {
        (&a.order, &b.order)
    } else {
        (&a.raw_order, &b.raw_order)
    };
    if order_a != order_b {
        changes.push(change(
            "header order",
            order_a.join(", "),
            order_b.join(", "),
        ));
    }
    if a.auth != b.auth {
        changes.push(change("auth scheme", join(&a.auth), join(&b.auth)));
    }
    if a.credentials != b.credentials {
        changes.push(change(
            "credentials",
            join(&a.credentials),
            join(&b.credentials),
        ));
    }
    if a.shape != b.shape {
        let only_a: Vec<&String> = a.shape.difference(&b.shape).collect();
        let only_b: Vec<&String> = b.shape.difference(&a.shape).collect();
        let list = |v: Vec<&String>| {
            if v.is_empty() {
                "—".to_owned()
            } else {
                v.into_iter().cloned().collect::<Vec<_>>().join("; ")
            }
        };
        changes.push(change("body JSON shape", list(only_a), list(only_b)));
    }
    if a.requests != b.requests || a.failed != b.failed {
        let count = |s: &SignatureProfile| format!("{} requests, {} failed", s.requests, s.failed);
        changes.push(change("requests", count(a), count(b)));
    }
    if a.retries != b.retries {
        changes.push(change(
            "retries",
            a.retries.to_string(),
            b.retries.to_string(),
        ));
    }
    let (ga, gb) = (a.gaps.median(), b.gaps.median());
    if let (Some(ga), Some(gb)) = (ga, gb) {
        if ga.abs_diff(gb) > 1000 {
            changes.push(change("median gap", format!("{ga} ms"), format!("{gb} ms")));
        }
    }
    let headers_only_in_a: Vec<String> =
        names_a.difference(&names_b).map(|n| (*n).clone()).collect();
    let headers_only_in_b: Vec<String> =
        names_b.difference(&names_a).map(|n| (*n).clone()).collect();
    (!changes.is_empty() || !headers_only_in_a.is_empty() || !headers_only_in_b.is_empty()).then(
        || SignatureDiff {
            signature: sig.to_owned(),
            headers_only_in_a,
            headers_only_in_b,
            changes,
        },
    )
}

/// The diff as Markdown.
pub fn render_markdown(d: &Diff) -> String {
    use crate::markdown::cell;
    use std::fmt::Write as _;
    let mut w = String::new();
    let _ = writeln!(w, "# phonehome diff: A = {}, B = {}\n", d.a, d.b);
    if d.is_empty() {
        let _ = writeln!(w, "No differences.");
        if !d.identifiers_in_both.is_empty() {
            let _ = writeln!(w);
            identifiers::markdown(&mut w, &d.identifiers_in_both);
        }
        return w;
    }
    let list = |w: &mut String, title: &str, items: &[String]| {
        if !items.is_empty() {
            let _ = writeln!(w, "## {title}\n");
            for item in items {
                let _ = writeln!(w, "- `{item}`");
            }
            let _ = writeln!(w);
        }
    };
    list(&mut w, "Hosts only in A", &d.hosts_only_in_a);
    list(&mut w, "Hosts only in B", &d.hosts_only_in_b);
    list(
        &mut w,
        "Request signatures only in A",
        &d.signatures_only_in_a,
    );
    list(
        &mut w,
        "Request signatures only in B",
        &d.signatures_only_in_b,
    );
    processes_markdown(&mut w, d);
    for h in &d.hosts {
        let _ = writeln!(w, "## Host {}\n\n| | A | B |\n|---|---|---|", h.host);
        for c in &h.changes {
            let _ = writeln!(w, "| {} | {} | {} |", c.what, cell(&c.a), cell(&c.b));
        }
        let _ = writeln!(w);
    }
    for s in &d.signatures {
        let _ = writeln!(w, "## `{}`\n", s.signature);
        if !s.headers_only_in_a.is_empty() {
            let _ = writeln!(w, "Headers only in A: {}\n", s.headers_only_in_a.join(", "));
        }
        if !s.headers_only_in_b.is_empty() {
            let _ = writeln!(w, "Headers only in B: {}\n", s.headers_only_in_b.join(", "));
        }
        if !s.changes.is_empty() {
            let _ = writeln!(w, "| | A | B |\n|---|---|---|");
            for c in &s.changes {
                let _ = writeln!(w, "| {} | {} | {} |", c.what, cell(&c.a), cell(&c.b));
            }
            let _ = writeln!(w);
        }
    }
    identifiers::markdown(&mut w, &d.identifiers_in_both);
    w
}

/// The Processes section: each executable's connections by host on either side, and those
/// of one side only.
fn processes_markdown(w: &mut String, d: &Diff) {
    use std::fmt::Write as _;
    if d.processes.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "## Processes\n\nConnections by executable (the process that owned each client socket) and host.\n\n| executable | A | B |\n|---|---|---|"
    );
    for p in &d.processes {
        let a = processes::hosts_text(p.a.as_ref());
        let b = processes::hosts_text(p.b.as_ref());
        let exe = crate::markdown::cell(&p.exe);
        let _ = writeln!(
            w,
            "| `{exe}` | {} | {} |",
            crate::markdown::cell(&a),
            crate::markdown::cell(&b)
        );
    }
    let _ = writeln!(w);
    let names = |exes: &[String]| {
        exes.iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !d.processes_only_in_a.is_empty() {
        let _ = writeln!(w, "Only in A: {}\n", names(&d.processes_only_in_a));
    }
    if !d.processes_only_in_b.is_empty() {
        let _ = writeln!(w, "Only in B: {}\n", names(&d.processes_only_in_b));
    }
    for side in &d.unattributed {
        let _ = writeln!(
            w,
            "{side} names no process: it was recorded without attribution (or before it), or is a HAR file.\n"
        );
    }
}

#[cfg(test)]
mod tests;
