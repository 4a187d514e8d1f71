//! The demo's local LLM server: an OpenAI-compatible HTTPS API on loopback.
//!
//! Routes (shapes from the OpenAI API reference): `GET /v1/models`; `POST /v1/chat/completions`
//! (streams `chat.completion.chunk` events over SSE when `"stream": true`); `POST /v1/embeddings`,
//! which answers 503 twice before it succeeds, so the agent has something to retry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// The model the demo server serves.
pub const MODEL: &str = "demo-llm-1";
const ANSWER: &str = "phonehome recorded this answer as it streamed, one event at a time.";
/// Pause between streamed chunks.
const CHUNK_GAP: Duration = Duration::from_millis(40);
/// How many embeddings calls fail before one succeeds.
const FLAKY_FAILURES: usize = 2;

type Body = BoxBody<Bytes, Infallible>;

/// Starts the server on an ephemeral loopback port with `tls`; runs until the process ends.
pub async fn start(tls: Arc<rustls::ServerConfig>) -> Result<SocketAddr> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot start the demo LLM server")?;
    let addr = listener
        .local_addr()
        .context("cannot start the demo LLM server")?;
    let failures = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let failures = failures.clone();
                    async move { Ok::<_, Infallible>(route(req, &failures).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn route(req: Request<Incoming>, failures: &AtomicUsize) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match path.as_str() {
        "/v1/models" => json(
            200,
            &serde_json::json!({
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "phonehome-demo"}],
            }),
        ),
        "/v1/chat/completions" => chat(&body),
        "/v1/embeddings" if failures.fetch_add(1, Ordering::Relaxed) < FLAKY_FAILURES => json(
            503,
            &serde_json::json!({"error": {"type": "overloaded", "message": "demo server is busy, retry"}}),
        ),
        "/v1/embeddings" => json(
            200,
            &serde_json::json!({
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
                "model": MODEL,
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }),
        ),
        _ => json(
            404,
            &serde_json::json!({"error": {"type": "not_found", "message": path}}),
        ),
    }
}

fn json(status: u16, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .expect("static response parts are valid")
}

fn chat(body: &[u8]) -> Response<Body> {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let usage =
        serde_json::json!({"prompt_tokens": 21, "completion_tokens": 12, "total_tokens": 33});
    if request["stream"] != true {
        return json(
            200,
            &serde_json::json!({
                "id": "chatcmpl-demo", "object": "chat.completion", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": ANSWER}}],
                "usage": usage,
            }),
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            let event = serde_json::json!({
                "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0,
                "model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            Ok(Frame::data(Bytes::from(format!("data: {event}\n\n"))))
        };
        let _ = tx
            .send(chunk(serde_json::json!({"role": "assistant"}), None))
            .await;
        for word in ANSWER.split_inclusive(' ') {
            tokio::time::sleep(CHUNK_GAP).await;
            if tx
                .send(chunk(serde_json::json!({"content": word}), None))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx.send(chunk(serde_json::json!({}), Some("stop"))).await;
        let last = serde_json::json!({"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                                      "created": 0, "model": MODEL, "choices": [], "usage": usage});
        let _ = tx
            .send(Ok(Frame::data(Bytes::from(format!(
                "data: {last}\n\ndata: [DONE]\n\n"
            )))))
            .await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(StreamBody::new(stream).boxed())
        .expect("static response parts are valid")
}

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost. Returns the server
/// config and the CA certificate (PEM) that phonehome must trust for this upstream.
pub fn tls_config() -> Result<(Arc<rustls::ServerConfig>, String)> {
    let mut ca = rcgen::CertificateParams::default();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "phonehome demo upstream CA");
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca_key = rcgen::KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let key = rcgen::KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &issuer)?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("demo key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), ca_cert.pem()))
}
