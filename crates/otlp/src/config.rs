//! Where and how to send: the endpoint of each signal, the protocol, the headers, the service
//! name and extra resource attributes, from the standard `OTEL_*` environment variables
//! (OpenTelemetry specification, "OTLP Exporter Configuration") overridden by flags.

use std::collections::BTreeMap;

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP POST (`http/protobuf`, port 4318): the default.
    #[default]
    HttpProtobuf,
    /// JSON over HTTP POST (`http/json`, port 4318).
    HttpJson,
    /// gRPC (`grpc`, port 4317).
    Grpc,
}

impl Protocol {
    /// The values the specification names.
    pub const NAMES: [&'static str; 3] = ["http/protobuf", "http/json", "grpc"];

    /// Parses one of [`Protocol::NAMES`].
    pub fn parse(name: &str) -> Option<Protocol> {
        match name.trim() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }

    /// The name as [`Protocol::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
            Protocol::Grpc => "grpc",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            _ => "http://localhost:4318",
        }
    }
}

/// One kind of telemetry, each with its own endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        }
    }
}

/// What the command line says; `None` / empty where a flag was not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--endpoint` / `--otlp URL`: the base URL (`/v1/traces` etc. are appended for HTTP).
    pub endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    /// `--header K=V`, in order.
    pub headers: Vec<(String, String)>,
    /// `--otlp-content`: message content on GenAI spans.
    pub content: bool,
    /// `--otlp-host-name`: `host.name` on the resource.
    pub host_name: bool,
}

/// The exporter's settings, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub protocol: Protocol,
    pub traces_endpoint: String,
    pub metrics_endpoint: String,
    pub logs_endpoint: String,
    /// Sent with every export request (HTTP headers or gRPC metadata):
    /// `OTEL_EXPORTER_OTLP_HEADERS` and the flags.
    pub headers: BTreeMap<String, String>,
    /// The flags' headers alone, which win over the environment's.
    pub header_overrides: Vec<(String, String)>,
    /// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else `phonehome`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource: Vec<(String, String)>,
    /// GenAI message content on spans (`--otlp-content` or
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`).
    pub content: bool,
    /// `host.name` on the resource.
    pub host_name: bool,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0}: expected http/protobuf, http/json or grpc")]
    Protocol(String),
    #[error("{name}={value}: not an http:// or https:// URL")]
    Endpoint { name: String, value: String },
    #[error("{0}: grpc over TLS is not built in; use http/protobuf for an https:// collector")]
    GrpcTls(String),
}

impl Settings {
    /// Resolves the settings from `env` (a variable's value by name: `std::env::var` in the
    /// binary, a map in tests) and the flags, which win.
    ///
    /// # Errors
    /// [`ConfigError`] for a protocol or endpoint that cannot be used.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        flags: Overrides,
    ) -> Result<Settings, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let protocol = match (flags.protocol, env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            (Some(p), _) => p,
            (None, Some(name)) => Protocol::parse(&name).ok_or(ConfigError::Protocol(name))?,
            (None, None) => Protocol::default(),
        };
        let endpoint = |signal: Signal| -> Result<String, ConfigError> {
            let (name, url, whole) = match (&flags.endpoint, env(signal.env())) {
                (Some(base), _) => ("--endpoint".to_owned(), base.clone(), false),
                (None, Some(url)) => (signal.env().to_owned(), url, true),
                (None, None) => match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
                    Some(base) => ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), base, false),
                    None => (
                        "default".to_owned(),
                        protocol.default_endpoint().into(),
                        false,
                    ),
                },
            };
            check_url(&name, &url)?;
            if protocol == Protocol::Grpc && url.starts_with("https://") {
                return Err(ConfigError::GrpcTls(url));
            }
            Ok(if whole || protocol == Protocol::Grpc {
                url
            } else {
                format!("{}/{}", url.trim_end_matches('/'), signal.path())
            })
        };
        let mut headers: BTreeMap<String, String> = env("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|h| parse_pairs(&h))
            .unwrap_or_default()
            .into_iter()
            .collect();
        headers.extend(flags.headers.iter().cloned());
        let resource = env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|r| parse_pairs(&r))
            .unwrap_or_default();
        let service_name = env("OTEL_SERVICE_NAME")
            .or_else(|| {
                resource
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "phonehome".to_owned());
        let content = flags.content
            || env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Settings {
            protocol,
            traces_endpoint: endpoint(Signal::Traces)?,
            metrics_endpoint: endpoint(Signal::Metrics)?,
            logs_endpoint: endpoint(Signal::Logs)?,
            headers,
            header_overrides: flags.headers,
            service_name,
            resource,
            content,
            host_name: flags.host_name,
        })
    }

    /// The endpoint of one signal.
    pub fn endpoint(&self, signal: Signal) -> &str {
        match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        }
    }
}

fn check_url(name: &str, url: &str) -> Result<(), ConfigError> {
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let host_ok = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    if scheme_ok && host_ok && url.parse::<http::Uri>().is_ok() {
        return Ok(());
    }
    Err(ConfigError::Endpoint {
        name: name.to_owned(),
        value: url.to_owned(),
    })
}

/// `k1=v1,k2=v2` with percent-encoded values (the W3C Baggage octet form the specification
/// uses for `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`).
pub(crate) fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
