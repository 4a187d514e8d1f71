//! Metrics, through the SDK's instruments and a reader the exporter collects from when it
//! sends: `gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
//! `gen_ai.client.operation.time_to_first_chunk` (GenAI semantic conventions v1.38.0), and
//! phonehome's counters `phonehome.requests` (by host, purpose and status class),
//! `phonehome.blocked`, `phonehome.failed_attempts` and `phonehome.leaks`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use opentelemetry_sdk::Resource;
use phonehome_analyze::llm::Conversation;

/// Bucket boundaries the GenAI conventions recommend for token counts.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// … and for durations, in seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// The manual reader, shared by the provider (which registers it) and the exporter (which
/// collects from it).
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The instruments of one export.
pub(crate) struct Metrics {
    _provider: SdkMeterProvider,
    reader: SharedReader,
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
    first_chunk: Histogram<f64>,
    requests: Counter<u64>,
    blocked: Counter<u64>,
    failed: Counter<u64>,
    leaks: Counter<u64>,
    /// Requests not yet added to `requests`: host → (purpose, status class) → count.
    pending_requests: HashMap<String, BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    pub(crate) fn new(resource: Resource) -> Self {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter_with_scope(crate::span::scope());
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build()
        };
        Self {
            tokens: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: seconds(
                "gen_ai.client.operation.duration",
                "GenAI operation duration",
            ),
            first_chunk: seconds(
                "gen_ai.client.operation.time_to_first_chunk",
                "Time to receive the first chunk of a streamed answer",
            ),
            requests: meter
                .u64_counter("phonehome.requests")
                .with_unit("{request}")
                .build(),
            blocked: meter
                .u64_counter("phonehome.blocked")
                .with_unit("{attempt}")
                .build(),
            failed: meter
                .u64_counter("phonehome.failed_attempts")
                .with_unit("{attempt}")
                .build(),
            leaks: meter
                .u64_counter("phonehome.leaks")
                .with_unit("{finding}")
                .build(),
            _provider: provider,
            reader,
            pending_requests: HashMap::new(),
        }
    }

    /// One LLM call.
    pub(crate) fn llm_call(&self, c: &Conversation, host: &str) {
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", c.operation),
            KeyValue::new("gen_ai.provider.name", c.provider),
            KeyValue::new("server.address", host.to_owned()),
        ];
        if let Some(model) = &c.request_model {
            attrs.push(KeyValue::new("gen_ai.request.model", model.clone()));
        }
        if let Some(model) = &c.response_model {
            attrs.push(KeyValue::new("gen_ai.response.model", model.clone()));
        }
        for (kind, n) in [
            ("input", c.usage.input_tokens),
            ("output", c.usage.output_tokens),
        ] {
            if let Some(n) = n {
                let mut a = attrs.clone();
                a.push(KeyValue::new("gen_ai.token.type", kind));
                self.tokens.record(n, &a);
            }
        }
        if let Some(ttft) = c.ttft_ms {
            self.first_chunk.record(ttft as f64 / 1000.0, &attrs);
        }
        if let Some(error) = &c.error {
            let kind = error.kind.clone().or(error.status.map(|s| s.to_string()));
            attrs.push(KeyValue::new(
                "error.type",
                kind.unwrap_or_else(|| "_OTHER".into()),
            ));
        }
        if let Some(ms) = c.duration_ms {
            self.duration.record(ms as f64 / 1000.0, &attrs);
        }
    }

    /// One HTTP request: `status` is `2xx`…`5xx`, or `failed` when no response came. Counted
    /// here and added to the instrument when collected (one addition per host, purpose and
    /// status class, not one per request).
    pub(crate) fn request(
        &mut self,
        host: &str,
        purpose: Option<&'static str>,
        status: &'static str,
    ) {
        let key = (purpose.unwrap_or("unknown"), status);
        match self.pending_requests.get_mut(host) {
            Some(counts) => *counts.entry(key).or_default() += 1,
            None => {
                let counts = BTreeMap::from([(key, 1)]);
                self.pending_requests.insert(host.to_owned(), counts);
            }
        }
    }

    fn add_pending_requests(&mut self) {
        for (host, counts) in std::mem::take(&mut self.pending_requests) {
            for ((purpose, status), n) in counts {
                self.requests.add(
                    n,
                    &[
                        KeyValue::new("server.address", host.clone()),
                        KeyValue::new("phonehome.purpose", purpose),
                        KeyValue::new("phonehome.status_class", status),
                    ],
                );
            }
        }
    }

    pub(crate) fn blocked(&self, host: &str, rule: &str) {
        self.blocked.add(
            1,
            &[
                KeyValue::new("server.address", host.to_owned()),
                KeyValue::new("phonehome.rule", rule.to_owned()),
            ],
        );
    }

    pub(crate) fn failed(&self, host: &str, phase: &'static str) {
        self.failed.add(
            1,
            &[
                KeyValue::new("server.address", host.to_owned()),
                KeyValue::new("phonehome.phase", phase),
            ],
        );
    }

    pub(crate) fn leak(&self, host: &str, kind: &str, expected: bool) {
        self.leaks.add(
            1,
            &[
                KeyValue::new("server.address", host.to_owned()),
                KeyValue::new("phonehome.leak.kind", kind.to_owned()),
                KeyValue::new("phonehome.leak.expected", expected),
            ],
        );
    }

    /// Everything recorded so far (cumulative).
    pub(crate) fn collect(&mut self) -> Option<ResourceMetrics> {
        self.add_pending_requests();
        let mut rm = ResourceMetrics::default();
        self.reader.collect(&mut rm).ok()?;
        Some(rm)
    }
}

/// `2xx` … `5xx` for a status, `1xx` below 200.
pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        0..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
