//! `--idle-timeout`: an upstream response body that sends no byte for too long is ended with
//! an error that says so ([`BodyError::is_timeout`]), so that the flow records a `timeout`
//! with the bytes so far. Off by default: LLM answers can pause for minutes.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// A body error that can say it is a deadline passing.
pub(crate) trait BodyError: std::fmt::Display {
    fn is_timeout(&self) -> bool {
        false
    }
}

impl BodyError for hyper::Error {}

/// Why an upstream response body stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamBodyError {
    #[error(transparent)]
    Upstream(#[from] hyper::Error),
    #[error("the upstream sent no byte for {} s (--idle-timeout)", .0.as_secs())]
    Idle(Duration),
}

impl BodyError for UpstreamBodyError {
    fn is_timeout(&self) -> bool {
        matches!(self, UpstreamBodyError::Idle(_))
    }
}

pin_project_lite::pin_project! {
    /// `inner`, ended with [`UpstreamBodyError::Idle`] when no frame comes for `limit`.
    pub(crate) struct IdleBody<B> {
        #[pin]
        inner: B,
        limit: Option<Duration>,
        // Boxed: most bodies have no limit, and a `Sleep` is as big as the rest together.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> IdleBody<B> {
    pub(crate) fn new(inner: B, limit: Option<Duration>) -> Self {
        Self {
            inner,
            limit,
            timer: limit.map(|limit| Box::pin(tokio::time::sleep(limit))),
        }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error>,
{
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UpstreamBodyError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if let (Some(timer), Some(limit)) = (this.timer.as_mut(), *this.limit) {
                timer.as_mut().reset(Instant::now() + limit);
            }
            return Poll::Ready(frame.map(|f| f.map_err(UpstreamBodyError::from)));
        }
        let (Some(timer), Some(limit)) = (this.timer.as_mut(), *this.limit) else {
            return Poll::Pending;
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(UpstreamBodyError::Idle(limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
