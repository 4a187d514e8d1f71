//! The three OTLP exporters of the standard Rust SDK (`opentelemetry-otlp`), built from
//! [`Settings`], and the calls that send one batch each. Batches are handed to the exporters
//! directly, not through a tracer, so spans keep the capture's ids and timestamps.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::{TraceFlags, TraceId};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    LogExporter, MetricExporter, RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter as _, SdkLogRecord, SdkLogger, SdkLoggerProvider,
};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;

use crate::config::{Protocol, Settings, Signal};
use crate::logs::LogItem;
use crate::ExportError;

/// How hard to try one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// From a file: a few retries, then the export fails.
    Retry,
    /// Live: one attempt of at most 3 seconds; a batch that fails is dropped and counted.
    Once,
}

/// Where each signal goes.
pub(crate) struct Sink {
    spans: SpanExporter,
    logs: LogExporter,
    metrics: MetricExporter,
    logger: SdkLogger,
    settings: Settings,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("settings", &self.settings)
            .finish()
    }
}

macro_rules! build_exporter {
    ($builder:expr, $settings:expr, $signal:expr, $patience:expr) => {{
        let settings: &Settings = $settings;
        let endpoint = settings.endpoint($signal).to_owned();
        let timeout = match $patience {
            Patience::Retry => Duration::from_secs(10),
            Patience::Once => Duration::from_secs(3),
        };
        let built = match settings.protocol {
            Protocol::Grpc => $builder
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_metadata(metadata(settings))
                .with_interceptor(Overrides::new(settings))
                .with_retry_policy(retry($patience))
                .build(),
            protocol => $builder
                .with_http()
                .with_protocol(match protocol {
                    Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
                    _ => opentelemetry_otlp::Protocol::HttpBinary,
                })
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_headers(
                    settings
                        .headers
                        .clone()
                        .into_iter()
                        .collect::<HashMap<_, _>>(),
                )
                .with_http_client(OverridingClient {
                    inner: http_client(timeout)?,
                    overrides: Overrides::new(settings),
                })
                .with_retry_policy(retry($patience))
                .build(),
        };
        built.map_err(|source| ExportError::Build { endpoint, source })?
    }};
}

impl Sink {
    /// The exporters for `settings`; nothing is sent yet.
    ///
    /// # Errors
    /// [`ExportError::Build`] when an exporter cannot be made for the endpoint.
    pub(crate) fn new(settings: &Settings, patience: Patience) -> Result<Self, ExportError> {
        let logger = SdkLoggerProvider::builder().build().logger("phonehome");
        Ok(Self {
            spans: build_exporter!(SpanExporter::builder(), settings, Signal::Traces, patience),
            logs: build_exporter!(LogExporter::builder(), settings, Signal::Logs, patience),
            metrics: build_exporter!(
                MetricExporter::builder(),
                settings,
                Signal::Metrics,
                patience
            ),
            logger,
            settings: settings.clone(),
        })
    }

    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        self.spans.set_resource(resource);
        self.logs.set_resource(resource);
    }

    pub(crate) async fn spans(&self, batch: Vec<SpanData>) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.spans.export(batch).await;
        result.map_err(|e| self.failed(Signal::Traces, e))
    }

    pub(crate) async fn logs(
        &self,
        items: Vec<LogItem>,
        trace: TraceId,
    ) -> Result<(), ExportError> {
        if items.is_empty() {
            return Ok(());
        }
        let scope = crate::span::scope();
        let records: Vec<SdkLogRecord> = items.into_iter().map(|i| self.record(i, trace)).collect();
        let batch: Vec<(&SdkLogRecord, &opentelemetry::InstrumentationScope)> =
            records.iter().map(|r| (r, &scope)).collect();
        let result = self.logs.export(LogBatch::new(&batch)).await;
        result.map_err(|e| self.failed(Signal::Logs, e))
    }

    pub(crate) async fn metrics(&self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
        let result = self.metrics.export(metrics).await;
        result.map_err(|e| self.failed(Signal::Metrics, e))
    }

    fn record(&self, item: LogItem, trace: TraceId) -> SdkLogRecord {
        let mut record = self.logger.create_log_record();
        record.set_timestamp(item.at);
        record.set_observed_timestamp(item.at);
        record.set_severity_number(item.severity);
        record.set_severity_text(item.severity.name());
        record.set_event_name(item.event_name);
        record.set_body(item.body.into());
        record.add_attributes(
            item.attributes
                .into_iter()
                .map(|kv| (kv.key, any_value(kv.value))),
        );
        record.set_trace_context(trace, item.span, Some(TraceFlags::SAMPLED));
        record
    }

    fn failed(
        &self,
        signal: Signal,
        source: opentelemetry_sdk::error::OTelSdkError,
    ) -> ExportError {
        ExportError::Send {
            endpoint: self.settings.endpoint(signal).to_owned(),
            source,
        }
    }

    pub(crate) fn shutdown(&self) {
        let _ = self.spans.shutdown();
        let _ = self.logs.shutdown();
        let _ = self.metrics.shutdown();
    }
}

/// A span attribute value as a log attribute value (the scalars logs use here).
fn any_value(value: opentelemetry::Value) -> AnyValue {
    match value {
        opentelemetry::Value::Bool(b) => AnyValue::Boolean(b),
        opentelemetry::Value::I64(n) => AnyValue::Int(n),
        opentelemetry::Value::F64(n) => AnyValue::Double(n),
        other => AnyValue::String(other.as_str().into_owned().into()),
    }
}

fn retry(patience: Patience) -> RetryPolicy {
    match patience {
        Patience::Once => RetryPolicy::disabled(),
        Patience::Retry => RetryPolicy::default()
            .with_max_retries(2)
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_max_jitter(Duration::from_millis(50)),
    }
}

fn metadata(settings: &Settings) -> MetadataMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &settings.headers {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            http::HeaderValue::from_str(value),
        ) else {
            continue;
        };
        headers.insert(name, value);
    }
    MetadataMap::from_headers(headers)
}

/// The HTTP client the exporters use: phonehome's own TLS stack (rustls with ring, the
/// system's roots), no proxy (an exporter run under `phonehome run` must not loop through
/// phonehome's proxy).
fn http_client(timeout: Duration) -> Result<reqwest::Client, ExportError> {
    // The process's TLS provider, unless another part of phonehome installed it first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(ExportError::Client)
}

/// The flags' headers, set on every request after the SDK has added those of
/// `OTEL_EXPORTER_OTLP_HEADERS` (which it reads itself), so that the flags win.
#[derive(Debug, Clone)]
struct Overrides(http::HeaderMap);

impl Overrides {
    fn new(settings: &Settings) -> Self {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &settings.header_overrides {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        Self(headers)
    }

    fn apply(&self, headers: &mut http::HeaderMap) {
        for (name, value) in &self.0 {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl tonic::service::Interceptor for Overrides {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        self.apply(&mut headers);
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        Ok(request)
    }
}

/// phonehome's HTTP client for the OTLP/HTTP exporters, with [`Overrides`].
#[derive(Debug)]
struct OverridingClient {
    inner: reqwest::Client,
    overrides: Overrides,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OverridingClient {
    async fn send_bytes(
        &self,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        self.overrides.apply(request.headers_mut());
        self.inner.send_bytes(request).await
    }
}
