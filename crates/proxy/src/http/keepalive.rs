//! An intercepted HTTP/1.1 keep-alive connection at rest. Between requests hyper keeps its
//! whole connection state: an 8 KiB read buffer once read into, an 8 KiB write buffer, the
//! parser's state; and the upstream link keeps a hyper client connection with the same two
//! buffers and a request channel of 32 slots. After [`REST_AFTER`] with no request in flight
//! and no byte from the client, both are let go: hyper's server connection ends without
//! closing the stream (the bytes it had read but not parsed are kept), the upstream link parks
//! its stream, and the connection waits for the client's next bytes holding little more than
//! the two TLS streams. The next request starts a new hyper connection over the same streams:
//! the client and the upstream see one connection throughout. A parked stream
//! that the upstream closes meanwhile is let go at once. A client that sends nothing
//! for the head timeout is answered 408, as hyper answers one that rests under it
//! (bench/rss, the crowd workload, measures what a held connection costs).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1 as server_http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::time::Instant;

use crate::connection::ConnState;
use crate::context::BoxIo;
use crate::http::client_error::{self, Answerable};
use crate::http::headtap::{Heads, Parser};
use crate::http::link::UpstreamLink;
use crate::http::responses::RespBody;
use crate::observe::Observed;

/// How long a connection stays with no request in flight and no byte from its client before
/// hyper's connection state is let go.
pub(crate) const REST_AFTER: Duration = Duration::from_millis(100);

/// The client stream as hyper's server connection reads it: header-tapped, and shared so
/// that a 408 can still be sent after hyper gave up.
type Tapped = Answerable<Observed<BoxIo, Parser>>;

/// What phonehome sees of one hyper connection's state through its stream and service.
#[derive(Default)]
struct Watch {
    /// Requests whose response body has not been dropped yet.
    in_flight: AtomicUsize,
    /// hyper's last read of the client found nothing to read.
    read_pending: AtomicBool,
    /// hyper's last write or flush could not finish.
    write_pending: AtomicBool,
    /// Reads that brought bytes, so far.
    reads: AtomicU64,
    /// hyper's connection is being let go: its `shutdown` must not close the stream.
    resting: AtomicBool,
}

impl Watch {
    /// hyper waits for the next request with nothing to write and no request in flight.
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self.read_pending.load(Ordering::Relaxed)
            && !self.write_pending.load(Ordering::Relaxed)
    }
}

/// Serves HTTP/1.1 on an intercepted client connection until it closes, letting hyper's
/// connection state go whenever the connection rests (see the module head). `handle` answers
/// one request; `link` is the upstream link to park at rest.
pub(crate) async fn serve<H, F>(
    client: BoxIo,
    conn: Arc<ConnState>,
    link: Option<Arc<UpstreamLink>>,
    heads: Heads,
    handle: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<RespBody>> + Send + 'static,
{
    let tapped = Answerable::new(Observed::new(client, Parser::new(heads)));
    let watch = Arc::new(Watch::default());
    let mut unread = Bytes::new();
    loop {
        // Boxed: hyper's connection state is freed when the connection rests.
        let served = Box::pin(serve_until_rest(&tapped, unread, &watch, &conn, &handle)).await;
        let since = match served {
            Served::Ended(result) => {
                client_error::answer(&result, tapped).await;
                client_error::record(&conn, result, false);
                return;
            }
            Served::Rested {
                unread: bytes,
                since,
            } => {
                unread = bytes;
                since
            }
        };
        if let Some(link) = &link {
            link.park().await;
        }
        if unread.is_empty() {
            let deadline = since + conn.ctx.head_timeout;
            let waiting = next_bytes(&tapped, deadline);
            let next = match &link {
                Some(link) => link.while_parked(waiting).await,
                None => waiting.await,
            };
            match next {
                Next::Bytes(bytes) => unread = bytes,
                Next::Closed => return,
                Next::TimedOut => return client_error::head_timed_out(&conn, tapped).await,
            }
        }
    }
}

/// How one hyper connection ended.
enum Served {
    /// For good: the client closed, an error, an upgrade.
    Ended(Result<(), hyper::Error>),
    /// At rest, since `since`, with the client's bytes hyper had read but not parsed.
    Rested { unread: Bytes, since: Instant },
}

/// One hyper connection on the client stream, until it ends or rests.
async fn serve_until_rest<H, F>(
    tapped: &Tapped,
    unread: Bytes,
    watch: &Arc<Watch>,
    conn: &Arc<ConnState>,
    handle: &H,
) -> Served
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<RespBody>> + Send + 'static,
{
    let io = Watched {
        unread,
        stream: tapped.clone(),
        watch: watch.clone(),
    };
    let (handle, counted) = (handle.clone(), watch.clone());
    // The request's future is boxed: hyper keeps a slot the size of the service's future for
    // the connection's whole life.
    let service = hyper::service::service_fn(move |req| {
        let in_flight = InFlight::new(counted.clone());
        let answered = Box::pin(handle(req));
        async move {
            let response = answered.await;
            Ok::<_, std::convert::Infallible>(response.map(|body| Counted {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut http = server_http1::Builder::new()
        .preserve_header_case(true)
        .timer(TokioTimer::new())
        .header_read_timeout(conn.ctx.head_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let (ended, since) = until_rest(&mut http, watch).await;
    watch.resting.store(false, Ordering::Relaxed);
    let Some(since) = since.filter(|_| ended.is_ok()) else {
        return Served::Ended(ended);
    };
    match http.into_parts() {
        Some(parts) => Served::Rested {
            unread: apart(parts.read_buf),
            since,
        },
        None => Served::Ended(Ok(())),
    }
}

/// The bytes hyper had read but not parsed, apart from its read buffer: `read_buf` is a
/// view of the whole buffer (8 KiB once read into) and would keep all of it while the
/// connection rests, even when it holds no byte.
fn apart(read_buf: Bytes) -> Bytes {
    if read_buf.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(&read_buf)
    }
}

/// Polls hyper's connection until it ends; once it has rested for [`REST_AFTER`], shuts it
/// down gracefully (hyper closes an idle connection at once) without closing the stream.
/// The instant the rest began, when it ended so.
async fn until_rest<C>(http: &mut C, watch: &Watch) -> (Result<(), hyper::Error>, Option<Instant>)
where
    C: Future<Output = Result<(), hyper::Error>> + GracefulShutdown + Unpin,
{
    let timer = tokio::time::sleep(REST_AFTER);
    tokio::pin!(timer);
    // When the timer was last set, and the reads so far then.
    let mut armed: Option<(Instant, u64)> = None;
    let mut since = None;
    let ended = std::future::poll_fn(|cx| {
        if let Poll::Ready(ended) = Pin::new(&mut *http).poll(cx) {
            return Poll::Ready(ended);
        }
        if since.is_some() || !watch.idle() {
            return Poll::Pending;
        }
        let reads = watch.reads.load(Ordering::Relaxed);
        if let Some((at, then)) = armed {
            // Set at most once per REST_AFTER, not once per request.
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if then == reads {
                since = Some(at);
                watch.resting.store(true, Ordering::Relaxed);
                Pin::new(&mut *http).shut_down();
                return Pin::new(&mut *http).poll(cx);
            }
        }
        let now = Instant::now();
        timer.as_mut().reset(now + REST_AFTER);
        let _ = timer.as_mut().poll(cx);
        armed = Some((now, reads));
        Poll::Pending
    })
    .await;
    (ended, since)
}

/// hyper's graceful shutdown, which its connection types each have.
trait GracefulShutdown {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulShutdown for server_http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// What came of waiting for a resting client's next request.
enum Next {
    Bytes(Bytes),
    Closed,
    TimedOut,
}

/// The client's next bytes, unless it closes or sends none by `deadline`. A client that
/// closed is closed in turn, as hyper closes an idle connection its client closed.
async fn next_bytes(tapped: &Tapped, deadline: Instant) -> Next {
    let mut stream = tapped.clone();
    let mut chunk = [0u8; 64];
    match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        Err(_) => Next::TimedOut,
        Ok(Ok(0)) => {
            let _ = stream.shutdown().await;
            Next::Closed
        }
        Ok(Ok(n)) => Next::Bytes(Bytes::copy_from_slice(&chunk[..n])),
        Ok(Err(_)) => Next::Closed,
    }
}

/// Counts a request as in flight from hyper's call of the service until its response body
/// is dropped (sent, or given up).
struct InFlight(Arc<Watch>);

impl InFlight {
    fn new(watch: Arc<Watch>) -> Self {
        watch.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(watch)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight.
    struct Counted<B> {
        #[pin]
        body: B,
        _in_flight: InFlight,
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client stream as hyper reads and writes it: first the bytes read before, then the
/// stream; every outcome noted in the [`Watch`].
struct Watched {
    unread: Bytes,
    stream: Tapped,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread[..n]);
            this.unread.advance(n);
            this.watch.read_pending.store(false, Ordering::Relaxed);
            this.watch.reads.fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let watch = &this.watch;
        watch
            .read_pending
            .store(polled.is_pending(), Ordering::Relaxed);
        if polled.is_ready() && buf.filled().len() > before {
            watch.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl Watched {
    fn wrote<T>(&self, polled: Poll<T>) -> Poll<T> {
        let pending = polled.is_pending();
        self.watch.write_pending.store(pending, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.wrote(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.watch.resting.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
