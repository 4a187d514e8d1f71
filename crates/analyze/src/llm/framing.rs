//! How a response body is framed (one JSON document, SSE, NDJSON, a JSON array of chunks) and
//! its chunks, as far as they arrived.

use serde_json::Value;

use super::conversation::Conversation;
use super::sse;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Json,
    Sse,
    /// Gemini's `streamGenerateContent` without `alt=sse`: one JSON array of chunks.
    JsonArray,
    Ndjson,
}

/// More than one line, the first a JSON object on its own (a pretty-printed single object is
/// not).
pub(crate) fn ndjson_shaped(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    lines.next().is_some() && serde_json::from_str::<Value>(first).is_ok_and(|v| v.is_object())
}

/// One chunk of a streamed answer: the SSE event name (`message` for NDJSON and JSON-array
/// chunks) and its JSON data.
pub(crate) struct Chunk {
    pub event: String,
    pub data: Value,
}

/// The chunks of a streamed body.
#[derive(Default)]
pub(crate) struct Stream {
    pub chunks: Vec<Chunk>,
    /// The framing ended cleanly: no SSE event cut off, a newline after the last NDJSON line,
    /// the closing `]` of a JSON array.
    pub ended: bool,
    /// `data: [DONE]` arrived (OpenAI Chat Completions' end of stream).
    pub done: bool,
    /// Chunks that are not JSON, and the first one's error.
    bad: usize,
    first_bad: Option<String>,
}

/// The chunks of a streamed body; what cannot be read is noted on `c`.
pub(crate) fn chunks(framing: Framing, text: &str, c: &mut Conversation) -> Stream {
    let mut stream = Stream::default();
    match framing {
        Framing::Sse => stream.sse(text, c),
        Framing::Ndjson => stream.ndjson(text),
        Framing::JsonArray => stream.ended = json_array(text, &mut stream.chunks),
        Framing::Json => stream.ended = true,
    }
    if let Some(e) = &stream.first_bad {
        let bad = stream.bad;
        c.notes.push(format!(
            "{bad} stream chunk{} not JSON (first: {e}): skipped",
            if bad == 1 { " is" } else { "s are" }
        ));
    }
    stream
}

impl Stream {
    fn push(&mut self, event: String, data: &str) {
        match serde_json::from_str(data) {
            Ok(data) => self.chunks.push(Chunk { event, data }),
            Err(e) => {
                self.bad += 1;
                self.first_bad.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn sse(&mut self, text: &str, c: &mut Conversation) {
        let torn = sse::for_each_event(text, |event, data| {
            if data.trim() == "[DONE]" {
                self.done = true;
            } else {
                self.push(event.to_owned(), &data);
            }
        });
        if torn {
            c.notes
                .push("the last SSE event was cut off and is not decoded".to_owned());
        }
        self.ended = !torn;
    }

    fn ndjson(&mut self, text: &str) {
        let lines = sse::ndjson(text);
        self.ended = lines.last().is_none_or(|(_, terminated)| *terminated);
        for (line, _) in lines {
            self.push("message".to_owned(), line);
        }
    }
}

/// The elements of a JSON array, as far as they are whole; true when the array closed.
fn json_array(text: &str, out: &mut Vec<Chunk>) -> bool {
    let Some(mut rest) = text.trim_start().strip_prefix('[') else {
        return false;
    };
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.starts_with(']') {
            return true;
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(data)) => {
                let used = values.byte_offset();
                out.push(Chunk {
                    event: "message".to_owned(),
                    data,
                });
                rest = &rest[used..];
            }
            _ => return false,
        }
    }
}
