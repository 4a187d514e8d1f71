//! The join of ready data frames: every byte once and in order, chunks within the limit,
//! trailers, errors and the end handed on after the data before them, nothing waited for.

use std::collections::VecDeque;

use http::HeaderMap;

use super::*;

/// What a scripted body's poll gives.
type Step = Poll<Option<Result<Frame<Bytes>, String>>>;

/// A body that gives its scripted steps one per poll, then ends.
struct Script(VecDeque<Step>);

impl Body for Script {
    type Data = Bytes;
    type Error = String;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, String>>> {
        self.0.pop_front().unwrap_or(Poll::Ready(None))
    }
}

fn data(len: usize, byte: u8) -> Step {
    Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![byte; len])))))
}

/// What the joined body gives, poll by poll: data as the chunk lengths (and the bytes read
/// through `chunks_vectored`), trailers, errors, `Pending` and the end.
#[derive(Debug, PartialEq)]
enum Seen {
    Data(Vec<usize>),
    Trailers,
    Error(String),
    Pending,
    End,
}

fn run(steps: Vec<Step>) -> (Vec<Seen>, Vec<u8>) {
    let mut body = JoinedBody::new(Script(steps.into()));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let (mut seen, mut bytes) = (Vec::new(), Vec::new());
    for _ in 0..64 {
        let step = Pin::new(&mut body).poll_frame(&mut cx);
        let Poll::Ready(step) = step else {
            seen.push(Seen::Pending);
            continue;
        };
        match step {
            None => {
                seen.push(Seen::End);
                return (seen, bytes);
            }
            Some(Err(e)) => seen.push(Seen::Error(e)),
            Some(Ok(frame)) if frame.is_trailers() => seen.push(Seen::Trailers),
            Some(Ok(frame)) => {
                let mut joined = frame.into_data().expect("data");
                let mut slices = [IoSlice::new(&[]); MAX_PARTS];
                let n = joined.chunks_vectored(&mut slices);
                let lens = slices[..n].iter().map(|s| s.len()).collect::<Vec<_>>();
                assert_eq!(lens.iter().sum::<usize>(), joined.remaining());
                while joined.has_remaining() {
                    let chunk = joined.chunk().len().min(1000);
                    bytes.extend_from_slice(&joined.chunk()[..chunk]);
                    joined.advance(chunk);
                }
                seen.push(Seen::Data(lens));
            }
        }
    }
    panic!("the body did not end: {seen:?}");
}

#[test]
fn ready_frames_join_up_to_the_limit() {
    let steps = (0..5).map(|i| data(8192, i)).collect();
    let (seen, bytes) = run(steps);
    assert_eq!(
        seen,
        [
            Seen::Data(vec![8192, 8192]),
            Seen::Data(vec![8192, 8192]),
            Seen::Data(vec![8192]),
            Seen::End
        ]
    );
    let expected: Vec<u8> = (0..5u8).flat_map(|i| vec![i; 8192]).collect();
    assert_eq!(bytes, expected);
}

#[test]
fn nothing_is_waited_for() {
    let steps = vec![data(100, 1), Poll::Pending, data(200, 2), data(300, 3)];
    let (seen, bytes) = run(steps);
    assert_eq!(
        seen,
        [Seen::Data(vec![100]), Seen::Data(vec![200, 300]), Seen::End]
    );
    assert_eq!(bytes.len(), 600);
}

#[test]
fn large_chunks_pass_alone_and_parts_are_capped() {
    let mut steps = vec![data(20_000, 1), data(10, 2)];
    steps.extend((0..MAX_PARTS + 2).map(|_| data(1, 3)));
    let (seen, bytes) = run(steps);
    assert_eq!(
        seen,
        [
            Seen::Data(vec![20_000]),
            Seen::Data([vec![10], vec![1; MAX_PARTS - 1]].concat()),
            Seen::Data(vec![1; 3]),
            Seen::End
        ]
    );
    assert_eq!(bytes.len(), 20_000 + 10 + MAX_PARTS + 2);
}

#[test]
fn trailers_and_errors_follow_the_data_before_them() {
    let trailers = Poll::Ready(Some(Ok(Frame::trailers(HeaderMap::new()))));
    let (seen, _) = run(vec![data(5, 1), data(5, 2), trailers]);
    assert_eq!(seen, [Seen::Data(vec![5, 5]), Seen::Trailers, Seen::End]);

    let error = Poll::Ready(Some(Err("reset".to_owned())));
    let (seen, _) = run(vec![data(5, 1), error]);
    assert_eq!(
        seen,
        [Seen::Data(vec![5]), Seen::Error("reset".into()), Seen::End]
    );
}

#[test]
fn the_end_is_known_with_the_last_data() {
    let mut body = JoinedBody::new(Script(vec![data(5, 1), data(5, 2)].into()));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(!body.is_end_stream());
    let first = Pin::new(&mut body).poll_frame(&mut cx);
    assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
    assert!(body.is_end_stream(), "the end was read while joining");
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(matches!(
        Pin::new(&mut body).poll_frame(&mut cx),
        Poll::Ready(None)
    ));
}
