//! Response bodies sent to an HTTP/2 client: the data frames that are ready together are
//! handed on as one chunk of up to [`JOIN_LIMIT`] bytes, without copying them.
//!
//! An upstream's DATA frames are often small (nginx sends 8 KiB ones, its `http2_chunk_size`).
//! hyper's HTTP/2 server sends each data chunk of the body as its own DATA frame, and h2
//! writes and flushes each frame with a write of its own, so small upstream frames mean one TLS
//! record and one `writev` per 8 KiB to the client. Joined, two such frames leave as one
//! 16 KiB DATA frame: half the writes. [`Joined`] keeps the received `Bytes` as they are and
//! gives them to the write as an I/O vector (`Buf::chunks_vectored`), so nothing is copied.
//! The join never waits: it takes only frames the body has ready when polled.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

/// Data bytes joined into one chunk at most: the initial (and smallest allowed)
/// SETTINGS_MAX_FRAME_SIZE of HTTP/2 (RFC 9113 §6.5.2), so a joined chunk is never cut into a
/// full frame and a small rest.
pub(crate) const JOIN_LIMIT: usize = 16 * 1024;

/// Chunks joined into one at most.
const MAX_PARTS: usize = 8;

/// Data chunks read as one: a [`Buf`] over the received `Bytes`, in order.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Joined {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.remaining += data.len();
        self.parts.push_back(data);
    }

    /// Whether `more` bytes can join without passing [`JOIN_LIMIT`] or [`MAX_PARTS`].
    fn has_room(&self, more: usize) -> bool {
        self.parts.len() < MAX_PARTS && self.remaining + more <= JOIN_LIMIT
    }
}

impl From<Bytes> for Joined {
    fn from(data: Bytes) -> Self {
        let mut joined = Self::default();
        joined.push(data);
        joined
    }
}

impl Buf for Joined {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |part| part.as_ref())
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining,
            "advance past the end of a joined chunk"
        );
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self.parts.front_mut().expect("counted in `remaining`");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }
}

/// What the inner body gave that did not fit the chunk being joined: handed on next time.
type Held<E> = Option<Result<Frame<Bytes>, E>>;

pin_project_lite::pin_project! {
    /// `inner`, its data frames that are ready together joined into one (see the module head).
    pub(crate) struct JoinedBody<B: Body> {
        #[pin]
        inner: B,
        held: Option<Held<B::Error>>,
    }
}

impl<B: Body<Data = Bytes>> JoinedBody<B> {
    pub(crate) fn new(inner: B) -> Self {
        Self { inner, held: None }
    }
}

impl<B: Body<Data = Bytes>> Body for JoinedBody<B> {
    type Data = Joined;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Joined>, B::Error>>> {
        let mut this = self.project();
        let mut joined = Joined::default();
        loop {
            let next = match this.held.take() {
                Some(held) => held,
                None => match this.inner.as_mut().poll_frame(cx) {
                    Poll::Ready(next) => next,
                    Poll::Pending if joined.parts.is_empty() => return Poll::Pending,
                    Poll::Pending => break,
                },
            };
            let data = match next {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(other) => {
                        if joined.parts.is_empty() {
                            return Poll::Ready(Some(Ok(other.map_data(Joined::from))));
                        }
                        *this.held = Some(Some(Ok(other)));
                        break;
                    }
                },
                end_or_error => {
                    if joined.parts.is_empty() {
                        return Poll::Ready(
                            end_or_error.map(|e| e.map(|f| f.map_data(Joined::from))),
                        );
                    }
                    *this.held = Some(end_or_error);
                    break;
                }
            };
            if !joined.has_room(data.len()) && !joined.parts.is_empty() {
                *this.held = Some(Some(Ok(Frame::data(data))));
                break;
            }
            joined.push(data);
            if !joined.has_room(1) || this.inner.is_end_stream() {
                break;
            }
        }
        Poll::Ready(Some(Ok(Frame::data(joined))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.held {
            Some(None) => true,
            Some(Some(_)) => false,
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let held = match &self.held {
            Some(None) => return SizeHint::with_exact(0),
            Some(Some(Ok(frame))) => frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => 0,
        };
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + held);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

#[cfg(test)]
mod tests;
