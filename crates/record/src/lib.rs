//! The phonehome capture model: the `phonehome/1` record types, the JSON Lines writer and reader,
//! body encoding and decompression, and credential redaction.
//!
//! This crate is the only interface between capturing and analysing: the proxy writes these
//! records, every analysis reads them. It has no async and no network code.
//!
//! The format is documented in `docs/capture-format.md`; its version string is [`FORMAT`].
#![forbid(unsafe_code)]

mod body;
mod process;
mod reader;
mod record;
mod redact;
mod target;
mod writer;

pub use body::{encode_body, BodyInput};
pub use process::{Ancestor, ConnProcess, ProcessInfo};
pub use reader::{CaptureReader, ReadError, ReadErrorKind, ReadItem};
pub use record::{
    Blocked, Body, BodyEncoding, Capture, Conn, ConnUpstream, Counts, Direction, Dns, End,
    ErrorRecord, Headers, Marker, Markers, Mode, Phase, Record, Request, Response, SecretMarker,
    TlsInfo, Transport, Ws,
};
pub use redact::{fingerprint, fingerprint_hex, Redactor};
pub use target::{is_loopback, split_authority, Target, HOST_LOOPBACK_NAME, LOOPBACK_HOSTS};
pub use writer::CaptureWriter;

/// The format identifier written in the first (`capture`) record of every capture.
pub const FORMAT: &str = "phonehome/1";

/// The current time as the capture format writes it: RFC 3339, UTC, millisecond precision.
///
/// ```
/// let ts = phonehome_record::timestamp(std::time::SystemTime::UNIX_EPOCH);
/// assert_eq!(ts, "1970-01-01T00:00:00.000Z");
/// ```
pub fn timestamp(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// [`timestamp`] of now.
pub fn now() -> String {
    timestamp(std::time::SystemTime::now())
}
