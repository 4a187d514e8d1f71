//! The tee: a body wrapper that forwards every frame as it arrives and copies data into the
//! flow's capture, within `--max-body` and the recorder's byte budget.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use phonehome_record::{ConnId, ErrorRecord, FlowId, Phase, Record, Target};

use crate::http::idle::BodyError;
use crate::recorder::{CapturedBody, HeadText, Pending, Recorder};

/// How a body stream ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every frame was forwarded.
    Complete,
    /// The body was dropped before its end (the peer went away).
    Aborted,
    /// The stream failed.
    Failed(String),
    /// The stream sent nothing for too long and was ended (`--idle-timeout`).
    TimedOut(String),
}

type OnEnd = Box<dyn FnOnce(CapturedBody, Outcome) + Send + Sync>;

/// What one body's capture has gathered so far.
struct Capture {
    recorder: Recorder,
    body: CapturedBody,
    on_end: Option<OnEnd>,
}

impl Capture {
    fn push(&mut self, data: &Bytes) {
        if self.body.first_data.is_none() && !data.is_empty() {
            self.body.first_data = Some(Instant::now());
        }
        self.body.size += data.len() as u64;
        let room = self.recorder.max_body().saturating_sub(self.body.stored());
        let keep = room.min(data.len());
        if keep < data.len() {
            self.body.truncated = true;
        }
        if keep == 0 {
            return;
        }
        // After the first drop the rest of the body is dropped too: stored data never has gaps.
        if self.body.dropped_bytes == 0 && self.recorder.reserve(keep) {
            self.store(&data.slice(..keep));
        } else {
            self.body.dropped_bytes += keep as u64;
            self.body.truncated = true;
        }
    }

    /// Stores `data` (reserved): through the spool past the first MiB when the recorder
    /// spools (bytes the spool cannot store are counted by the writer), in memory otherwise.
    fn store(&mut self, data: &Bytes) {
        if !self.recorder.spool(&mut self.body, data) {
            self.grow(data.len());
            self.body.bytes.extend_from_slice(data);
        }
    }

    /// Makes room for `more` bytes, doubling as a `Vec` does, except that past half of
    /// `--max-body` it grows straight to the base64 length of `--max-body`: the recorder then
    /// writes a binary body's base64 form over its bytes, in the same buffer. Capacity never
    /// written to costs no memory (the pages are not touched).
    fn grow(&mut self, more: usize) {
        let bytes = &mut self.body.bytes;
        let needed = bytes.len() + more;
        if needed <= bytes.capacity() {
            return;
        }
        let max_body = self.recorder.max_body();
        let mut capacity = needed.max(bytes.capacity() * 2);
        if capacity > max_body / 2 {
            capacity = capacity.max(phonehome_record::base64_capacity(max_body));
        }
        bytes.reserve_exact(capacity - bytes.len());
    }

    fn end(&mut self, outcome: Outcome) {
        if let Some(on_end) = self.on_end.take() {
            if !matches!(outcome, Outcome::Complete) {
                self.body.truncated = true;
            }
            on_end(std::mem::take(&mut self.body), outcome);
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end(Outcome::Aborted);
    }
}

pin_project_lite::pin_project! {
    /// Forwards `inner` frame by frame; on its end (or drop) hands the capture to `on_end`.
    pub(crate) struct TeeBody<B> {
        #[pin]
        inner: B,
        capture: Capture,
    }
}

impl<B> TeeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: BodyError,
{
    pub(crate) fn new(
        inner: B,
        recorder: Recorder,
        content_encoding: Option<String>,
        on_end: impl FnOnce(CapturedBody, Outcome) + Send + Sync + 'static,
    ) -> Self {
        let mut capture = Capture {
            recorder,
            body: CapturedBody {
                content_encoding,
                ..CapturedBody::default()
            },
            on_end: Some(Box::new(on_end)),
        };
        if inner.is_end_stream() {
            capture.end(Outcome::Complete);
        }
        Self { inner, capture }
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: BodyError,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.capture.push(data);
                }
                // hyper stops polling a body whose length it knows is reached.
                if this.inner.is_end_stream() {
                    this.capture.end(Outcome::Complete);
                }
            }
            Some(Err(e)) if e.is_timeout() => this.capture.end(Outcome::TimedOut(e.to_string())),
            Some(Err(e)) => this.capture.end(Outcome::Failed(e.to_string())),
            None => this.capture.end(Outcome::Complete),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One flow's bookkeeping: ids, start time, and the rule that its `request` record is written
/// before its `response` record even when the response body ends first.
pub(crate) struct FlowLog {
    pub recorder: Recorder,
    pub flow: FlowId,
    pub conn: ConnId,
    pub target: Target,
    pub started: Instant,
    state: Mutex<FlowState>,
}

#[derive(Default)]
struct FlowState {
    request_written: bool,
    /// The request record was dropped (the recorder was full): its response goes too.
    request_dropped: bool,
    waiting_response: Option<Pending>,
}

impl FlowLog {
    pub(crate) fn new(recorder: Recorder, conn: ConnId, target: Target) -> Arc<Self> {
        Arc::new(Self {
            flow: recorder.next_flow(),
            recorder,
            conn,
            target,
            started: Instant::now(),
            state: Mutex::new(FlowState::default()),
        })
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FlowState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn request_done(
        &self,
        record: phonehome_record::Request,
        head: HeadText,
        body: CapturedBody,
    ) {
        let mut state = self.lock();
        let queued = self.recorder.pending(Pending::Request {
            record,
            head,
            target: self.target.clone(),
            body,
        });
        state.request_written = true;
        state.request_dropped = !queued;
        if let Some(response) = state.waiting_response.take() {
            if queued {
                self.recorder.pending(response);
            } else {
                self.recorder.drop_pending(&response);
            }
        }
    }

    pub(crate) fn response_done(
        &self,
        record: phonehome_record::Response,
        head: HeadText,
        body: CapturedBody,
    ) {
        let mut state = self.lock();
        let pending = Pending::Response { record, head, body };
        if state.request_dropped {
            self.recorder.drop_pending(&pending);
        } else if state.request_written {
            self.recorder.pending(pending);
        } else {
            state.waiting_response = Some(pending);
        }
    }

    /// Records an `error` for this flow.
    pub(crate) fn error(&self, phase: Phase, message: String) {
        self.recorder.record(Record::Error(ErrorRecord {
            ts: phonehome_record::now(),
            flow: Some(self.flow),
            conn: Some(self.conn),
            target: self.target.clone(),
            phase,
            message,
        }));
    }
}

#[cfg(test)]
mod tests;
