//! The tee's joining of ready data frames: what is joined, what is held for the next poll, and
//! that the capture sees every byte once, in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;

use super::*;

#[derive(Debug)]
struct TestError;

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("test stream failed")
    }
}

impl BodyError for TestError {}

/// A body that answers its polls from a script; `None` in the script is one `Pending`.
struct Scripted(VecDeque<Option<Polled<TestError>>>);

impl Body for Scripted {
    type Data = Bytes;
    type Error = TestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TestError>>> {
        match self.0.pop_front() {
            Some(Some(polled)) => Poll::Ready(polled),
            Some(None) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            None => Poll::Ready(None),
        }
    }
}

fn data(byte: u8, len: usize) -> Option<Polled<TestError>> {
    Some(Some(Ok(Frame::data(Bytes::from(vec![byte; len])))))
}

type Ended = Arc<Mutex<Option<(CapturedBody, String)>>>;

/// The tee over `script`, its capture kept in the returned slot when it ends.
fn tee(script: Vec<Option<Polled<TestError>>>) -> (TeeBody<Scripted>, Ended, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let writer =
        phonehome_record::CaptureWriter::create(&dir.path().join("c.jsonl")).expect("file");
    let header = phonehome_record::Record::Error(ErrorRecord {
        ts: phonehome_record::now(),
        flow: None,
        conn: None,
        target: Target {
            host: "h.test".into(),
            port: 80,
        },
        phase: Phase::ClientHttp,
        message: "header".into(),
    });
    let (recorder, _task) =
        Recorder::start(writer, header, crate::recorder::RecorderOptions::default())
            .expect("recorder");
    let ended: Ended = Arc::default();
    let slot = ended.clone();
    let body = TeeBody::new(
        Scripted(script.into()),
        recorder,
        None,
        move |body, outcome| {
            *slot.lock().expect("slot") = Some((body, format!("{outcome:?}")));
        },
    );
    (body, ended, dir)
}

/// Every frame the tee gives, as (data length or `None` for trailers).
async fn frames(mut body: TeeBody<Scripted>) -> Vec<Result<Option<usize>, String>> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        out.push(
            frame
                .map(|f| f.data_ref().map(Bytes::len))
                .map_err(|e| e.to_string()),
        );
    }
    out
}

#[tokio::test]
async fn ready_small_frames_are_joined_and_recorded_once() {
    let (body, ended, _dir) = tee(vec![data(1, 8192), data(2, 8192), data(3, 100)]);
    assert_eq!(frames(body).await, vec![Ok(Some(16_484))]);
    let (captured, outcome) = ended.lock().expect("slot").take().expect("ended");
    assert_eq!(outcome, "Complete");
    assert_eq!(captured.size, 16_484);
    let mut expected = vec![1; 8192];
    expected.extend([2; 8192]);
    expected.extend([3; 100]);
    assert!(captured.bytes == expected, "every byte once, in order");
}

#[tokio::test]
async fn nothing_waits_for_a_frame_not_yet_ready() {
    let (body, _ended, _dir) = tee(vec![data(1, 10), None, data(2, 20)]);
    assert_eq!(frames(body).await, vec![Ok(Some(10)), Ok(Some(20))]);
}

#[tokio::test]
async fn a_frame_past_the_limit_trailers_and_errors_come_after_the_joined_data() {
    let trailers = Some(Some(Ok(Frame::trailers(http::HeaderMap::new()))));
    let (body, _ended, _dir) = tee(vec![
        data(1, 40_000),
        data(2, 40_000),
        data(3, 10),
        trailers,
    ]);
    assert_eq!(
        frames(body).await,
        vec![Ok(Some(40_000)), Ok(Some(40_000)), Ok(Some(10)), Ok(None)]
    );
    let (body, ended, _dir) = tee(vec![data(1, 10), data(2, 10), Some(Some(Err(TestError)))]);
    assert_eq!(
        frames(body).await,
        vec![Ok(Some(20)), Err("test stream failed".to_owned())]
    );
    let (captured, outcome) = ended.lock().expect("slot").take().expect("ended");
    assert!(outcome.starts_with("Failed"), "{outcome}");
    assert_eq!((captured.size, captured.truncated), (20, true));
}
