//! The HTTP server of `phonehome web` and `run/proxy --web`: hyper on a loopback socket,
//! every path under the token (anything else is 403), the assets, the JSON API and the
//! Server-Sent Events that tell a live page the capture has grown.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{header, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use phonehome_catalog::Catalog;
use tokio::sync::broadcast;

use crate::api::Capture;
use crate::assets;
use crate::{Token, WebError};

/// How often the index is looked at for new rows, for the event stream.
const TICK: Duration = Duration::from_millis(200);

type Body = BoxBody<Bytes, Infallible>;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub token: Token,
    /// Follow the capture as it grows and tell the page (Server-Sent Events).
    pub live: bool,
    /// Another input to diff the capture against (the Diff view).
    pub diff: Option<PathBuf>,
}

impl ServeOptions {
    /// Options for `listen`: a random token unless one is `given`; an address other than
    /// loopback only with a token given (other machines could otherwise read the prompts).
    ///
    /// # Errors
    /// [`WebError::NotLoopback`] for a non-loopback address without a token;
    /// [`WebError::Random`] when no token can be drawn.
    pub fn new(listen: SocketAddr, given: Option<Token>, live: bool) -> Result<Self, WebError> {
        if !listen.ip().is_loopback() && given.is_none() {
            return Err(WebError::NotLoopback(listen));
        }
        let token = match given {
            Some(token) => token,
            None => Token::random()?,
        };
        Ok(ServeOptions {
            listen,
            token,
            live,
            diff: None,
        })
    }
}

/// A running server; stopped when dropped.
pub struct Server {
    url: String,
    accept: tokio::task::JoinHandle<()>,
    watch: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The page's URL, token included.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        self.watch.abort();
    }
}

/// What a request is served with.
struct Shared {
    capture: Arc<Capture>,
    token: Token,
    events: broadcast::Sender<String>,
}

/// Starts serving `path` on the options' address.
///
/// # Errors
/// [`WebError::Listen`] when the address cannot be bound.
pub async fn start(
    path: &Path,
    catalog: Catalog,
    options: ServeOptions,
) -> Result<Server, WebError> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| WebError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| WebError::Listen {
        addr: options.listen,
        source,
    })?;
    let (events, _) = broadcast::channel(16);
    let shared = Arc::new(Shared {
        capture: Capture::open(path, catalog, options.live, options.diff.clone()),
        token: options.token.clone(),
        events,
    });
    let watch = tokio::spawn(watch(shared.clone()));
    let accept = tokio::spawn(accept(listener, shared));
    Ok(Server {
        url: format!("http://{addr}/{}/", options.token.as_str()),
        accept,
        watch,
    })
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, request).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("web: connection ended: {e}");
            }
        });
    }
}

/// Tells the event streams what the index holds whenever it changes (a lagging page misses
/// some and reads the latest).
async fn watch(shared: Arc<Shared>) {
    let mut last = None;
    loop {
        let progress = shared.capture.progress();
        if last != Some(progress) {
            last = Some(progress);
            let _ = shared.events.send(progress_event(progress));
        }
        tokio::time::sleep(TICK).await;
    }
}

fn progress_event((rows, generation, done): (usize, u64, bool)) -> String {
    format!(
        "event: rows\ndata: {{\"rows\":{rows},\"generation\":{generation},\"done\":{done}}}\n\n"
    )
}

async fn route(shared: &Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(token, _)| shared.token.matches(token))
        .map(|(_, rest)| rest.to_owned())
    else {
        return text(
            StatusCode::FORBIDDEN,
            "phonehome web: the URL's token is missing or wrong\n",
        );
    };
    if request.method() != http::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let capture = shared.capture.clone();
    match rest.as_str() {
        "" => reply("text/html; charset=utf-8", assets::served_page()),
        "api/summary" => reply(JSON, capture.summary()),
        "api/flows" => blocking(move || Some(capture.flows(&query))).await,
        "api/events" => events(shared),
        "api/har" => har(capture, query).await,
        _ => {
            if let Some(i) = rest.strip_prefix("api/flow/") {
                let Ok(i) = i.parse() else {
                    return text(StatusCode::NOT_FOUND, "no such row\n");
                };
                return blocking(move || capture.flow(i)).await;
            }
            match assets::asset(&rest) {
                Some((kind, body)) => reply(kind, body),
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            }
        }
    }
}

const JSON: &str = "application/json";

/// Answers with what `work` makes off the async threads (it reads the capture).
async fn blocking(work: impl FnOnce() -> Option<String> + Send + 'static) -> Response<Body> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Some(body)) => reply(JSON, body),
        Ok(None) => text(StatusCode::NOT_FOUND, "no such row\n"),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the request failed\n"),
    }
}

/// The filter's flows as HAR, streamed as the analysis's export writes it (from a blocking
/// thread, through a bounded channel); an input that cannot be read gets its message.
async fn har(capture: Arc<Capture>, query: String) -> Response<Body> {
    let path = capture.path.clone();
    let opened = tokio::task::spawn_blocking(move || phonehome_analyze::open(&path).map(drop));
    match opened.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return owned_text(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "the request failed\n"),
    }
    let (send, receive) = tokio::sync::mpsc::channel::<Bytes>(8);
    tokio::task::spawn_blocking(move || {
        let flows = capture.flow_ids(&query);
        let out = std::io::BufWriter::with_capacity(1 << 16, Chunks(send));
        if let Err(e) = crate::har::write_har(&capture.path, flows, out) {
            tracing::debug!("web: the HAR download ended early: {e}");
        }
    });
    let stream = futures_util::stream::unfold(receive, |mut receive| async move {
        let chunk = receive.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), receive))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    set_headers(&mut response, JSON);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"phonehome-flows.har\""),
    );
    response
}

/// Bytes written, handed to the response body (a page that went away ends the writing).
struct Chunks(tokio::sync::mpsc::Sender<Bytes>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the page went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn events(shared: &Shared) -> Response<Body> {
    let first = progress_event(shared.capture.progress());
    let receiver = shared.events.subscribe();
    let later = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures_util::stream::once(async move { first })
        .chain(later)
        .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(event))));
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    set_headers(&mut response, "text/event-stream");
    response
}

fn reply(kind: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    set_headers(&mut response, kind);
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = reply("text/plain; charset=utf-8", body);
    *response.status_mut() = status;
    response
}

fn owned_text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = reply("text/plain; charset=utf-8", body + "\n");
    *response.status_mut() = status;
    response
}

fn set_headers(response: &mut Response<Body>, kind: &'static str) {
    let headers = response.headers_mut();
    let mut set = |name, value: &'static str| {
        headers.insert(name, header::HeaderValue::from_static(value));
    };
    set(header::CONTENT_TYPE, kind);
    set(header::CONTENT_SECURITY_POLICY, assets::SERVED_CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
}
