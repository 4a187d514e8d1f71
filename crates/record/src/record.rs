//! The `phonehome/1` record types, one per line of a capture file.
//!
//! These are wire types: their serde shape *is* the public format documented in
//! `docs/capture-format.md`. Every record carries `type` (the serde tag) and `ts`.

use serde::{Deserialize, Serialize};

use crate::{Ancestor, CaptureOptions, ConnId, ConnProcess, FlowId, Target};

/// One line of a capture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
// Records are made one at a time and written at once, never stored in bulk: boxing the larger
// variants would cost an allocation each and save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// First line: what was captured and how.
    Capture(Capture),
    /// A client connection, written when it closes.
    Conn(Conn),
    /// An HTTP request, written when its body has been forwarded.
    Request(Request),
    /// An HTTP response, written when its body has been forwarded.
    Response(Response),
    /// A failure on the way to an upstream or from a client.
    Error(ErrorRecord),
    /// A connection or request denied by policy.
    Blocked(Blocked),
    /// One WebSocket message.
    Ws(Ws),
    /// A DNS query answered in isolation mode.
    Dns(Dns),
    /// Last line: how the capture ended.
    End(End),
}

impl Record {
    /// Parses one line. phonehome writes `type` first, so the record's struct is read directly
    /// (much faster than serde's buffering of internally tagged enums); lines with `type`
    /// elsewhere still parse.
    ///
    /// # Errors
    /// The JSON error when the line is not a record.
    pub fn from_line(line: &str) -> Result<Record, serde_json::Error> {
        let rest = line.trim_start().strip_prefix(r#"{"type":""#);
        let kind = rest.and_then(|r| r.split_once('"')).map(|(kind, _)| kind);
        let parsed = match kind {
            Some("request") => serde_json::from_str(line).map(Record::Request),
            Some("response") => serde_json::from_str(line).map(Record::Response),
            Some("conn") => serde_json::from_str(line).map(Record::Conn),
            Some("error") => serde_json::from_str(line).map(Record::Error),
            Some("ws") => serde_json::from_str(line).map(Record::Ws),
            _ => return serde_json::from_str(line),
        };
        // A struct ignores a misspelt tag's fields it does not know; the enum path says why.
        parsed.or_else(|_| serde_json::from_str(line))
    }

    /// The record's `ts` field.
    pub fn ts(&self) -> &str {
        match self {
            Record::Capture(r) => &r.ts,
            Record::Conn(r) => &r.ts,
            Record::Request(r) => &r.ts,
            Record::Response(r) => &r.ts,
            Record::Error(r) => &r.ts,
            Record::Blocked(r) => &r.ts,
            Record::Ws(r) => &r.ts,
            Record::Dns(r) => &r.ts,
            Record::End(r) => &r.ts,
        }
    }
}

/// How the traffic reached phonehome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `phonehome run`: a child process with proxy environment.
    Run,
    /// `phonehome proxy`: a standalone proxy.
    Proxy,
    /// `phonehome run --isolate`: a child in its own network namespace.
    Isolate,
}

/// The `capture` record, always the first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    pub ts: String,
    /// Always [`crate::FORMAT`] for files this crate writes.
    pub format: String,
    /// Unique id of this capture (hex).
    pub id: String,
    pub tool_version: String,
    pub mode: Mode,
    /// The child's argv (`run`), empty for `proxy`.
    pub command: Vec<String>,
    pub cwd: String,
    /// The policy in force (a preset name or a file path).
    pub policy: String,
    /// The options that shaped what was recorded (max body size, redaction, upstream proxy, …).
    /// Read as empty when absent or not an object.
    #[serde(default, deserialize_with = "options_or_default")]
    pub options: CaptureOptions,
    /// What must not travel, for the leak finder. Absent when nothing was collected.
    #[serde(default, skip_serializing_if = "Markers::is_empty")]
    pub markers: Markers,
    /// The package the command's program belongs to, as read from disk when the capture
    /// started (`run`). Absent when none was found, and in captures written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentPackage>,
}

/// `capture.options`, or empty ones when the member is `null` or not an object.
fn options_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CaptureOptions, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// The package a command's program belongs to: how an agent the catalog does not know is
/// named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPackage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where it was read: `package.json` (the nearest one above the program or script) or
    /// `dist-info` (the Python distribution whose entry points name the program).
    pub source: String,
}

/// Values that must not leave the machine, recorded at capture time so that reports can look
/// for them in the traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Markers {
    /// Plain values: the working directory, the home directory, the user and host names, the
    /// git remote URLs of the working tree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Marker>,
    /// Secrets, by fingerprint only: credential-looking environment variables of the child and
    /// `--sensitive` values. Their values are redacted wherever they appear, so the traffic holds
    /// `[REDACTED:<fingerprint>]` where they travelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretMarker>,
}

impl Markers {
    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.secrets.is_empty()
    }
}

/// A plain value that must not travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// `cwd`, `home`, `user`, `hostname`, `git_remote`, `git_user`, `git_email`,
    /// `llm_endpoint` (an endpoint URL the agent was configured with) or `llm_host` (its
    /// `host[:port]`).
    pub kind: String,
    pub value: String,
}

/// A secret that must not travel, known only by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMarker {
    /// `env` (an environment variable of the child) or `sensitive` (`--sensitive`).
    pub kind: String,
    /// The variable's name, or `sensitive #N`.
    pub name: String,
    /// As in `[REDACTED:<fingerprint>]`: the first 8 hex digits of the value's SHA-256.
    pub fingerprint: String,
}

/// What travelled over a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// TLS, decrypted with a leaf certificate from the local CA.
    TlsIntercept,
    /// TLS relayed as bytes (a protocol phonehome does not speak).
    TlsPassthrough,
    /// Plain HTTP (absolute-form requests or HTTP inside a CONNECT tunnel).
    Http,
    /// Anything else, relayed as bytes.
    Tcp,
}

/// The client's TLS handshake as phonehome saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// Server Name Indication from the ClientHello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols offered in the ClientHello, in order.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol agreed with the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// TLS version agreed with the client ("TLSv1.3", "TLSv1.2").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// TLS versions the ClientHello offered (supported_versions, else legacy_version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions_offered: Vec<String>,
    /// JA3: MD5 of `ja3_text`, lowercase hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    /// JA3's input: `version,ciphers,extensions,groups,point formats` in decimal, GREASE removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja3_text: Option<String>,
    /// JA4 (FoxIO's TLS client fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    /// JA4's raw form: sorted ciphers, sorted extensions, signature algorithms in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja4_r: Option<String>,
    /// Cipher suites offered, in wire order (GREASE included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<u16>,
    /// Extension types, in wire order (GREASE included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<u16>,
    /// supported_groups, in wire order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_groups: Vec<u16>,
    /// signature_algorithms, in wire order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_algorithms: Vec<u16>,
}

/// The connection phonehome opened on the client's behalf.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnUpstream {
    /// The peer address phonehome connected to (the upstream proxy's, when one is used).
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// TLS version agreed with the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The upstream proxy that carried this connection, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// JA3 of the ClientHello phonehome sent upstream (its own TLS stack, not the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    /// JA4 of the ClientHello phonehome sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    /// Set when the upstream asked for a TLS client certificate (a CertificateRequest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCertUse>,
}

/// What became of an upstream's request for a TLS client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertUse {
    /// A `--client-cert` matching the host was presented.
    Presented,
    /// No `--client-cert` matched the host: phonehome sent none, so the upstream may refuse
    /// the handshake or answer with an error (often 400 or 403).
    Missing,
}

/// The `conn` record: one client connection, written when it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conn {
    pub ts: String,
    pub conn: ConnId,
    /// The client's address (`ip:port`).
    pub client: String,
    pub target: Target,
    pub transport: Transport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<ConnUpstream>,
    /// Bytes received from the client, on the wire (TLS records included). Read as 0 when a
    /// damaged capture lacks it (see [`Record::missing_fields`]).
    #[serde(default)]
    pub bytes_up: u64,
    /// Bytes sent to the client, on the wire. Read as 0 when missing.
    #[serde(default)]
    pub bytes_down: u64,
    /// When the client connected (same format as `ts`). Read as empty when missing.
    #[serde(default)]
    pub opened: String,
    /// Milliseconds from `opened` to close. Read as 0 when missing.
    #[serde(default)]
    pub duration_ms: u64,
    /// Set when phonehome answered this connection itself instead of forwarding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sinkhole: Option<Sinkhole>,
    /// On a sinkholed connection whose bytes were neither TLS nor HTTP: how many bytes the
    /// client sent first (they were not forwarded; the connection was closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bytes: Option<u64>,
    /// The process that owned the client socket when the connection was accepted, or why it is
    /// not known. Absent when attribution was not attempted (captures written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Box<ConnProcess>>,
    /// The owner's parent, its parent, … up to the command phonehome started (inclusive), or up
    /// to PID 1 when there is no such command (`proxy`) or the owner is not in its tree. Empty
    /// (absent) when the owner is unknown or is the command itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestry: Vec<Ancestor>,
}

/// Why phonehome answered a connection or request itself (the sinkhole) instead of
/// forwarding it: nothing was dialled and no name was resolved for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sinkhole {
    /// The policy denies it: answered 403.
    Denied,
    /// Its upstream could not be reached (DNS, connect, timeout): answered 502.
    Unreachable,
}

/// How body bytes are stored in `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// `data` is the text itself.
    Utf8,
    /// `data` is standard base64 (RFC 4648, padded).
    Base64,
}

/// How redaction changed a payload (`body`, `ws`) beyond replacing credentials in its text
/// where they stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redaction {
    /// The payload was base64 text (RFC 4648, standard or URL-safe alphabet) whose decoded
    /// content carried a credential: `data` holds that decoded content, redacted, not the
    /// base64 text that travelled.
    Base64Text,
    /// The payload was binary with credential text inside: `data` holds its bytes with that
    /// text replaced by redaction tokens, so it is no longer as long as the bytes that
    /// travelled.
    Binary,
}

/// A request or response body. Absent from the record when the body was empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Bytes of the body on the wire (after transfer decoding, before content decoding).
    pub size: u64,
    pub encoding: BodyEncoding,
    pub data: String,
    /// True when only the first `--max-body` bytes were kept, or the stream ended early.
    pub truncated: bool,
    /// The content coding (`gzip`, `br`, `zstd`, `deflate`) that `data` was decoded from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_from: Option<String>,
    /// Body bytes forwarded but not stored because the recorder was behind.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_bytes: u64,
    /// Set when `data` is not the body's bytes with credentials redacted in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Headers in the order phonehome received them, as `[name, value]` pairs.
pub type Headers = Vec<(String, String)>;

/// The `request` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub ts: String,
    pub flow: FlowId,
    pub conn: ConnId,
    pub method: String,
    /// Absolute URL, credential query parameters redacted.
    pub url: String,
    /// "HTTP/1.1", "HTTP/2", …
    pub version: String,
    pub headers: Headers,
    /// HTTP/1: the header names exactly as the client sent them (case, order, duplicates).
    /// Absent for HTTP/2 and when they could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_header_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Set when the request was never forwarded: phonehome read it and answered it itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sinkhole: Option<Sinkhole>,
    /// On the first request of a connection only: the connection's `process`, as its `conn`
    /// record (written when the connection closes) will have it, so that a reader that follows
    /// the capture live knows who sent the request at once. Absent on later requests, when
    /// attribution was not attempted, and in captures written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Box<ConnProcess>>,
    /// With `process`: the connection's `ancestry`, as its `conn` record will have it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestry: Vec<Ancestor>,
}

/// The `response` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ts: String,
    pub flow: FlowId,
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Headers,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Milliseconds from the request's start to the response head. Read as 0 when missing.
    #[serde(default)]
    pub ttfb_ms: u64,
    /// Milliseconds from the request's start to the first byte of the response body; absent
    /// for an empty body. For a streamed LLM answer this is the time to first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_ms: Option<u64>,
    /// Milliseconds from the request's start to the end of the response body. Read as 0 when
    /// missing.
    #[serde(default)]
    pub duration_ms: u64,
}

/// Where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection (or the upstream proxy's CONNECT) failed.
    Connect,
    /// The upstream's TLS handshake or certificate failed verification.
    TlsUpstream,
    /// The client's TLS handshake failed (malformed ClientHello, rejected certificate).
    TlsClient,
    /// The upstream broke the HTTP exchange.
    UpstreamHttp,
    /// The client broke the HTTP exchange.
    ClientHttp,
    /// A deadline passed (connect timeout).
    Timeout,
}

impl Phase {
    /// The name used in the capture format.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::TlsUpstream => "tls_upstream",
            Phase::TlsClient => "tls_client",
            Phase::UpstreamHttp => "upstream_http",
            Phase::ClientHttp => "client_http",
            Phase::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    pub target: Target,
    pub phase: Phase,
    pub message: String,
}

/// The `blocked` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowId>,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The rule that denied it.
    pub rule: String,
    /// False when the denial was only recorded (dry run).
    #[serde(default = "yes")]
    pub enforced: bool,
}

fn yes() -> bool {
    true
}

/// Which way a WebSocket message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// The `ws` record: one WebSocket message (fragments joined) or control frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ws {
    pub ts: String,
    pub flow: FlowId,
    pub dir: Direction,
    /// "text", "binary", "close", "ping" or "pong".
    pub opcode: String,
    /// Payload bytes of the message (after permessage-deflate decompression, when used).
    pub size: u64,
    pub encoding: BodyEncoding,
    pub data: String,
    pub truncated: bool,
    /// Set when `data` is not the payload with credentials redacted in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

/// The `dns` record (isolation mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    pub ts: String,
    pub query: String,
    pub qtype: String,
    pub answers: Vec<String>,
}

mod end;
pub use end::{Counts, End, Lost, OtlpDelivery};

#[cfg(test)]
mod tests;
