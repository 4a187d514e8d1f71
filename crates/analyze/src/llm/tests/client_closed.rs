//! A client that stops reading a streamed answer: after the final event it got the whole
//! answer (a note), before it the call failed (an error).

use super::*;

const CLOSED: &str = "the client stopped reading after 900 bytes of the response body";

fn closed_after(stream: &str) -> Conversation {
    let mut x = exchange(RESPONSES_URL, "{}", 200, "text/event-stream", stream);
    x.error = Some((Phase::ClientHttp, CLOSED.into()));
    decoded(&x)
}

#[test]
fn a_client_that_closes_after_the_final_event_got_its_answer() {
    let c = closed_after(fixture!("openai_responses.stream.sse"));
    assert_eq!(c.error, None);
    assert!(!c.output_messages.is_empty(), "{c:#?}");
    assert_eq!(
        c.notes,
        [format!(
            "the whole answer arrived, then the client closed: {CLOSED}"
        )]
    );
}

#[test]
fn a_client_that_closes_before_the_final_event_failed() {
    let stream = fixture!("openai_responses.stream.sse");
    let cut = stream.find("event: response.completed").expect("fixture");
    let c = closed_after(&stream[..cut]);
    assert_eq!(
        c.error,
        Some(LlmError {
            status: None,
            kind: Some("client_http".into()),
            message: CLOSED.into()
        })
    );
}

#[test]
fn an_upstream_failure_after_the_final_event_is_still_an_error() {
    let mut x = exchange(
        RESPONSES_URL,
        "{}",
        200,
        "text/event-stream",
        fixture!("openai_responses.stream.sse"),
    );
    x.error = Some((Phase::UpstreamHttp, "connection reset by peer".into()));
    assert_eq!(
        decoded(&x).error.map(|e| e.kind),
        Some(Some("upstream_http".into()))
    );
}
