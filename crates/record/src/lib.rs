//! The phonehome capture model: the `phonehome/1` record types, the JSON Lines writer and reader,
//! body encoding and decompression, credential redaction, and the markers a capture collects
//! for the leak finder.
//!
//! This crate is the only interface between capturing and analysing: the proxy writes these
//! records, every analysis reads them. It has no async and no network code.
//!
//! The format is documented in `docs/capture-format.md`; its version string is [`FORMAT`].
#![forbid(unsafe_code)]
// Functions under 80 lines (clippy.toml), unit tests aside.
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod body;
mod credential;
mod head;
mod id;
mod markers;
mod options;
mod owned_line;
mod package;
mod payload;
mod process;
mod reader;
mod record;
mod redact;
mod secret;
mod target;
mod time;
mod writer;

pub use body::{encode_body, plain_base64_body, stored_as_plain_base64, BodyInput};
pub use credential::{
    credential_name_strength, is_credential_env_name, is_credential_header, is_credential_name,
    NameStrength,
};
pub use head::{RecordHead, RecordKind};
pub use id::{ConnId, FlowId};
pub use markers::{collect_markers, CollectedMarkers, Origin};
pub use options::{CaptureOptions, SinkholeMode, SinkholeModeError};
pub use package::{agent_package, running_program};
pub use payload::{base64_capacity, redact_ws};
pub use process::{Ancestor, ConnProcess, ProcessInfo};
pub use reader::{CaptureReader, ReadError, ReadErrorKind, ReadItem};
pub use record::{
    AgentPackage, Blocked, Body, BodyEncoding, Capture, ClientCertUse, Conn, ConnUpstream, Counts,
    Direction, Dns, End, ErrorRecord, Headers, Lost, Marker, Markers, Mode, OtlpDelivery, Phase,
    Record, Redaction, Request, Response, SecretMarker, Sinkhole, TlsInfo, Transport, Ws,
};
pub use redact::{fingerprint, fingerprint_hex, parse_redaction_token, redaction_token, Redactor};
pub use secret::is_secret;
pub use target::{
    is_loopback, split_authority, AuthorityError, Target, HOST_LOOPBACK_NAME, LOOPBACK_HOSTS,
};
pub use time::{now, parse_timestamp, time_of_day_ms, timestamp};
pub use writer::CaptureWriter;

/// The format identifier written in the first (`capture`) record of every capture.
pub const FORMAT: &str = "phonehome/1";
