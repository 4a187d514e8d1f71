//! A real OTLP receiver for the tests, on loopback: gRPC (tonic, the collector services
//! generated from the official protobuf definitions by the `opentelemetry-proto` crate) and
//! HTTP (hyper; http/protobuf decoded with the same generated types, http/json with their
//! serde form). It keeps every request it decodes, the raw bytes and the headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::net::TcpListener;

/// Everything received.
#[derive(Default)]
pub struct Got {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    /// Every request's payload, as protobuf bytes (or the JSON as sent).
    pub raw: Vec<Vec<u8>>,
    /// Every request's headers (gRPC metadata included), lowercase names.
    pub headers: Vec<Vec<(String, String)>>,
}

/// A receiver listening on 127.0.0.1; dropped, it stops.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Got>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics`, `/v1/logs`).
    pub async fn http() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Got::default()));
        let state = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let got = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let got = got.clone();
                        async move { Ok::<_, Infallible>(http_export(req, &got).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, got, task }
    }

    /// An OTLP/gRPC receiver.
    pub async fn grpc() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Got::default()));
        let service = Collector(got.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(service.clone()))
                .add_service(MetricsServiceServer::new(service.clone()))
                .add_service(LogsServiceServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        Self { addr, got, task }
    }

    /// Every span received, in order.
    pub fn spans(&self) -> Vec<Span> {
        let got = self.got.lock().expect("lock");
        got.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    /// Every log record received, in order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        let got = self.got.lock().expect("lock");
        got.logs
            .iter()
            .flat_map(|t| &t.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.clone())
            .collect()
    }

    /// The names of every metric received.
    pub fn metric_names(&self) -> Vec<String> {
        let got = self.got.lock().expect("lock");
        got.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// The resource attributes of the first trace request.
    pub fn resource(&self) -> Vec<KeyValue> {
        let got = self.got.lock().expect("lock");
        got.traces
            .first()
            .and_then(|t| t.resource_spans.first())
            .and_then(|r| r.resource.clone())
            .map(|r| r.attributes)
            .unwrap_or_default()
    }

    /// Whether `needle` occurs in any payload received.
    pub fn payloads_contain(&self, needle: &str) -> bool {
        let got = self.got.lock().expect("lock");
        got.raw
            .iter()
            .any(|raw| raw.windows(needle.len()).any(|w| w == needle.as_bytes()))
    }
}

/// An attribute's value as text (strings as they are, other values in their debug form).
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(any_text(value))
}

fn any_text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(n)) => n.to_string(),
        Some(any_value::Value::DoubleValue(n)) => n.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter().map(any_text).collect::<Vec<_>>().join(",")
        }
        other => format!("{other:?}"),
    }
}

async fn http_export(
    req: hyper::Request<hyper::body::Incoming>,
    got: &Mutex<Got>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let json = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let decoded = {
        let mut got = got.lock().expect("lock");
        got.raw.push(body.to_vec());
        got.headers.push(headers);
        decode_into(&mut got, &path, &body, json)
    };
    let (status, reply) = match decoded {
        Ok(reply) => (200, reply),
        Err(message) => (400, message.into_bytes()),
    };
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(reply)))
        .expect("response")
}

/// Decodes one HTTP export into `got`; the response body to send.
fn decode_into(got: &mut Got, path: &str, body: &[u8], json: bool) -> Result<Vec<u8>, String> {
    fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
        body: &[u8],
        json: bool,
    ) -> Result<T, String> {
        if json {
            serde_json::from_slice(body).map_err(|e| e.to_string())
        } else {
            T::decode(body).map_err(|e| e.to_string())
        }
    }
    fn reply<T: prost::Message + serde::Serialize>(value: T, json: bool) -> Vec<u8> {
        if json {
            serde_json::to_vec(&value).expect("json")
        } else {
            value.encode_to_vec()
        }
    }
    match path {
        "/v1/traces" => {
            got.traces.push(decode(body, json)?);
            Ok(reply(ExportTraceServiceResponse::default(), json))
        }
        "/v1/metrics" => {
            got.metrics.push(decode(body, json)?);
            Ok(reply(ExportMetricsServiceResponse::default(), json))
        }
        "/v1/logs" => {
            got.logs.push(decode(body, json)?);
            Ok(reply(ExportLogsServiceResponse::default(), json))
        }
        other => Err(format!("no OTLP service at {other}")),
    }
}

/// The gRPC side: the three collector services over one state.
#[derive(Clone)]
struct Collector(Arc<Mutex<Got>>);

impl Collector {
    fn keep<T: prost::Message>(&self, request: &tonic::Request<T>) {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let mut got = self.0.lock().expect("lock");
        got.raw.push(request.get_ref().encode_to_vec());
        got.headers.push(headers);
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.keep(&request);
        self.0
            .lock()
            .expect("lock")
            .traces
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.keep(&request);
        self.0
            .lock()
            .expect("lock")
            .metrics
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.keep(&request);
        self.0.lock().expect("lock").logs.push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}
