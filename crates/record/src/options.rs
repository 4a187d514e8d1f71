//! The `capture` record's `options`: the settings that shaped what was recorded, typed once.
//! The binary writes a [`CaptureOptions`]; analysis and the viewer read it back. Every member
//! is optional on read (captures written before a member existed lack it), and a member whose
//! value this version does not know reads as absent rather than making the capture unreadable
//! (`docs/capture-format.md`: the members are not part of the contract).

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `capture.options`. Members in the order phonehome wrote them before they were typed (the
/// common ones, then those of `run`, `run --isolate` or `proxy`), so the line stays the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureOptions {
    /// Bytes of each body stored.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_body: Option<u64>,
    /// Whether credentials were redacted (`--no-redact` turns it off).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub redact: Option<bool>,
    /// The `--extra-ca` files.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub extra_ca: Option<Vec<String>>,
    /// The upstream proxy (`host:port`, no credentials); written as `null` when none.
    #[serde(default, deserialize_with = "lenient")]
    pub upstream_proxy: Option<String>,
    /// Milliseconds allowed for DNS, TCP connect and the upstream TLS handshake.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout_ms: Option<u64>,
    /// The `--client-cert` values, as given.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_cert: Option<Vec<String>>,
    /// Milliseconds of upstream silence that end a response; written as `null` when off.
    #[serde(default, deserialize_with = "lenient")]
    pub idle_timeout_ms: Option<u64>,
    /// `--dry-run`: denials were recorded, not enforced.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub dry_run: Option<bool>,
    /// Which connections the sinkhole answered (`--sinkhole`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub sinkhole: Option<SinkholeMode>,
    /// Whether each connection's process was looked up (`conn.process`; `--no-attribution`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub attribution: Option<bool>,
    /// Hosts that bypassed phonehome (`run --bypass`).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub bypass: Option<Vec<String>>,
    /// `run --isolate --isolate-host-loopback` (mode `isolate` only).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub isolate_host_loopback: Option<bool>,
    /// The address `phonehome proxy` listened on.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub listen: Option<SocketAddr>,
    /// `proxy --require-auth`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_auth: Option<bool>,
}

impl CaptureOptions {
    /// The sinkhole in force; off in captures made before it existed.
    pub fn sinkhole(&self) -> SinkholeMode {
        self.sinkhole.unwrap_or(SinkholeMode::OFF)
    }

    /// Whether processes were looked up; not in captures made before attribution existed.
    pub fn attribution(&self) -> bool {
        self.attribution == Some(true)
    }
}

/// A member of a type this version reads, else absent: `null`, a value of another JSON type,
/// or a name this version does not know (a newer `--sinkhole` mode) read as `None`.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// Which connections phonehome answers itself rather than refusing them at CONNECT
/// (`--sinkhole denied|unreachable|all|off`; the capture's `options.sinkhole`, by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkholeMode {
    /// Connections the policy denies by host.
    pub denied: bool,
    /// Connections whose upstream cannot be reached (DNS, connect, timeout).
    pub unreachable: bool,
}

impl Default for SinkholeMode {
    /// `denied`: a policy denial never hides what would have been sent.
    fn default() -> Self {
        Self {
            denied: true,
            unreachable: false,
        }
    }
}

/// A `--sinkhole` value that is none of [`SinkholeMode::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a sinkhole mode; the modes: denied, unreachable, all, off")]
pub struct SinkholeModeError {
    /// The value given.
    pub given: String,
}

impl SinkholeMode {
    /// The values `--sinkhole` takes, each a mode's [`SinkholeMode::name`].
    pub const NAMES: [&'static str; 4] = ["denied", "unreachable", "all", "off"];

    /// Nothing sinkholed.
    pub const OFF: SinkholeMode = SinkholeMode {
        denied: false,
        unreachable: false,
    };

    /// The mode's name, one of [`SinkholeMode::NAMES`].
    pub fn name(self) -> &'static str {
        match (self.denied, self.unreachable) {
            (true, false) => "denied",
            (false, true) => "unreachable",
            (true, true) => "all",
            (false, false) => "off",
        }
    }
}

impl std::str::FromStr for SinkholeMode {
    type Err = SinkholeModeError;

    /// One of [`SinkholeMode::NAMES`].
    ///
    /// # Errors
    /// [`SinkholeModeError`] for any other value.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let (denied, unreachable) = match name {
            "denied" => (true, false),
            "unreachable" => (false, true),
            "all" => (true, true),
            "off" => (false, false),
            _ => {
                return Err(SinkholeModeError {
                    given: name.to_owned(),
                })
            }
        };
        Ok(Self {
            denied,
            unreachable,
        })
    }
}

impl std::fmt::Display for SinkholeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for SinkholeMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for SinkholeMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `phonehome run` wrote before the options were typed (`json!` in insertion order).
    const WRITTEN_UNTYPED: &str = r#"{"max_body":16777216,"redact":true,"extra_ca":["/ca.pem"],"upstream_proxy":null,"connect_timeout_ms":10000,"client_cert":[],"idle_timeout_ms":null,"dry_run":false,"sinkhole":"denied","attribution":true,"bypass":["internal.test"]}"#;

    #[test]
    fn options_round_trip_byte_for_byte() {
        let options: CaptureOptions = serde_json::from_str(WRITTEN_UNTYPED).expect("options");
        assert_eq!(options.sinkhole, Some(SinkholeMode::default()));
        assert_eq!(
            options.bypass.as_deref(),
            Some(&["internal.test".to_owned()][..])
        );
        assert_eq!(options.connect_timeout_ms, Some(10_000));
        assert_eq!(options.listen, None);
        let written = serde_json::to_string(&options).expect("serialises");
        assert_eq!(written, WRITTEN_UNTYPED);
        let again: CaptureOptions = serde_json::from_str(&written).expect("reads back");
        assert_eq!(again, options);
    }

    #[test]
    fn every_mode_member_round_trips() {
        let options = CaptureOptions {
            listen: Some("127.0.0.1:8080".parse().expect("address")),
            require_auth: Some(true),
            isolate_host_loopback: Some(false),
            sinkhole: Some(SinkholeMode::OFF),
            idle_timeout_ms: Some(30_000),
            upstream_proxy: Some("corp.test:3128".into()),
            ..CaptureOptions::default()
        };
        let written = serde_json::to_string(&options).expect("serialises");
        assert!(
            written.contains(r#""listen":"127.0.0.1:8080""#),
            "{written}"
        );
        assert!(written.contains(r#""sinkhole":"off""#), "{written}");
        let read: CaptureOptions = serde_json::from_str(&written).expect("reads back");
        assert_eq!(read, options);
    }

    #[test]
    fn an_old_capture_without_the_newer_members_loads() {
        // A capture written before client_cert, idle_timeout_ms, dry_run, sinkhole and
        // attribution existed (docs/capture-format.md's first example).
        let old = r#"{"bypass":[],"connect_timeout_ms":10000,"extra_ca":[],"max_body":16777216,"redact":true,"upstream_proxy":null}"#;
        let options: CaptureOptions = serde_json::from_str(old).expect("old options load");
        assert_eq!(options.max_body, Some(16_777_216));
        assert_eq!(options.sinkhole, None);
        assert_eq!(options.sinkhole(), SinkholeMode::OFF);
        assert!(!options.attribution());
        assert_eq!(options.client_cert, None);
        let empty: CaptureOptions = serde_json::from_str("{}").expect("empty options load");
        assert_eq!(empty, CaptureOptions::default());
    }

    #[test]
    fn unknown_members_and_values_read_as_absent() {
        let newer = r#"{"sinkhole":"tarpit","max_body":"big","attribution":1,"shiny":{"a":1},"redact":false}"#;
        let options: CaptureOptions = serde_json::from_str(newer).expect("newer options load");
        assert_eq!(options.sinkhole, None);
        assert_eq!(options.max_body, None);
        assert_eq!(options.attribution, None);
        assert_eq!(options.redact, Some(false));
    }

    #[test]
    fn sinkhole_modes_parse_and_name_themselves() {
        assert_eq!("off".parse(), Ok(SinkholeMode::OFF));
        assert_eq!(
            "all".parse(),
            Ok(SinkholeMode {
                denied: true,
                unreachable: true
            })
        );
        assert_eq!("denied".parse(), Ok(SinkholeMode::default()));
        let e = "some".parse::<SinkholeMode>().expect_err("not a mode");
        assert!(e.to_string().contains("\"some\""), "{e}");
        for name in SinkholeMode::NAMES {
            let mode: SinkholeMode = name.parse().expect("a mode");
            assert_eq!(mode.name(), name);
            assert_eq!(mode.to_string(), name);
        }
    }
}
