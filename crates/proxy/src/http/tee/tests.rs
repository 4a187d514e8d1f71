//! The tee's capture of a body: every byte once and in order, and a large body's buffer left
//! with room for its base64 form.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;

use super::*;

/// A body that gives its frames one per poll.
struct Frames(VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
    }
}

type Ended = Arc<Mutex<Option<(CapturedBody, String)>>>;

/// Forwards `frames` through a tee with `--max-body` `max_body`; returns what was forwarded
/// and what the capture held when it ended.
async fn forward(frames: Vec<Vec<u8>>, max_body: usize) -> (Vec<u8>, CapturedBody, String) {
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
    let options = crate::recorder::RecorderOptions {
        max_body,
        ..Default::default()
    };
    let (recorder, _task) = Recorder::start(writer, header, options).expect("recorder");
    let ended: Ended = Arc::default();
    let slot = ended.clone();
    let inner = Frames(frames.into_iter().map(Bytes::from).collect());
    let body = TeeBody::new(inner, recorder, None, move |body, outcome| {
        *slot.lock().expect("slot") = Some((body, format!("{outcome:?}")));
    });
    let forwarded = body.collect().await.expect("body").to_bytes().to_vec();
    let (captured, outcome) = ended.lock().expect("slot").take().expect("ended");
    (forwarded, captured, outcome)
}

#[tokio::test]
async fn every_byte_is_forwarded_and_the_first_max_body_recorded_once() {
    let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 300]).collect();
    let whole = frames.concat();
    let (forwarded, captured, outcome) = forward(frames, 1000).await;
    assert!(forwarded == whole, "forwarded whole");
    assert_eq!(outcome, "Complete");
    assert_eq!((captured.size, captured.truncated), (1500, true));
    assert!(
        captured.bytes == whole[..1000],
        "the first --max-body bytes, in order"
    );
}

#[tokio::test]
async fn a_large_body_keeps_room_for_its_base64_form() {
    let max_body = 3000;
    let (_, captured, _) = forward(vec![vec![0; 1000], vec![0; 1000]], max_body).await;
    assert_eq!(captured.bytes.len(), 2000);
    assert!(
        captured.bytes.capacity() >= phonehome_record::base64_capacity(max_body),
        "capacity {}",
        captured.bytes.capacity()
    );
    // A small body is not given more than a Vec would.
    let (_, captured, _) = forward(vec![vec![0; 10]], max_body).await;
    assert!(
        captured.bytes.capacity() < 100,
        "capacity {}",
        captured.bytes.capacity()
    );
}
