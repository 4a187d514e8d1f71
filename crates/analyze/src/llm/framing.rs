//! How a response body is framed (one JSON document, SSE, NDJSON, a JSON array of chunks) and
//! its chunks, as far as they arrived.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::conversation::Conversation;
use super::lenient::{Obj, Str};
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
/// chunks) and its JSON text (checked to be JSON), borrowed from the body where it can be.
/// Each API's decoder reads the fields it uses ([`super::lenient::event`]).
pub(crate) struct Chunk<'t> {
    pub event: &'t str,
    pub data: Cow<'t, str>,
    /// The chunk may be an error ([`Chunk::error`] looks): an `error` member, `"type":
    /// "error"`, the SSE event `error`, or an array (an error may be its first element).
    pub may_be_error: bool,
}

impl Chunk<'_> {
    /// The chunk as a `Value`, for the error shapes read from one.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_default()
    }
}

/// The members of a chunk that tell an error apart, read without building the chunk.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorSigns<'a> {
    error: Option<IgnoredAny>,
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
}

/// The chunks of a streamed body.
#[derive(Default)]
pub(crate) struct Stream<'t> {
    pub chunks: Vec<Chunk<'t>>,
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
pub(crate) fn chunks<'t>(framing: Framing, text: &'t str, c: &mut Conversation) -> Stream<'t> {
    let mut stream = Stream::default();
    match framing {
        Framing::Sse => stream.sse(text, c),
        Framing::Ndjson => stream.ndjson(text),
        Framing::JsonArray => stream.ended = stream.json_array(text),
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

impl<'t> Stream<'t> {
    /// Keeps a chunk that is JSON; counts one that is not. The error signs are read in the
    /// same pass that checks the JSON; a chunk that pass cannot take (a key given twice) is
    /// checked as a `Value` and looked at for errors as one.
    fn push(&mut self, event: &'t str, data: Cow<'t, str>) {
        let signs = serde_json::from_str::<Obj<ErrorSigns>>(&data).map(|Obj(signs)| {
            signs.error.is_some()
                || signs.kind.as_str() == Some("error")
                || data.trim_start().starts_with('[')
        });
        let may_be_error = match signs {
            Ok(signs) => signs,
            Err(_) => match serde_json::from_str::<IgnoredAny>(&data) {
                Ok(_) => true,
                Err(e) => {
                    self.bad += 1;
                    self.first_bad.get_or_insert_with(|| e.to_string());
                    return;
                }
            },
        };
        self.chunks.push(Chunk {
            event,
            may_be_error: may_be_error || event == "error",
            data,
        });
    }

    fn sse(&mut self, text: &'t str, c: &mut Conversation) {
        let torn = sse::for_each_event(text, |event, data| {
            if data.trim() == "[DONE]" {
                self.done = true;
            } else {
                self.push(event, data);
            }
        });
        if torn {
            c.notes
                .push("the last SSE event was cut off and is not decoded".to_owned());
        }
        self.ended = !torn;
    }

    fn ndjson(&mut self, text: &'t str) {
        let lines = sse::ndjson(text);
        self.ended = lines.last().is_none_or(|(_, terminated)| *terminated);
        for (line, _) in lines {
            self.push("message", Cow::Borrowed(line));
        }
    }

    /// The elements of a JSON array, as far as they are whole; true when the array closed.
    fn json_array(&mut self, text: &'t str) -> bool {
        let Some(mut rest) = text.trim_start().strip_prefix('[') else {
            return false;
        };
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            if rest.starts_with(']') {
                return true;
            }
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<IgnoredAny>();
            match values.next() {
                Some(Ok(_)) => {
                    let used = values.byte_offset();
                    self.push("message", Cow::Borrowed(&rest[..used]));
                    rest = &rest[used..];
                }
                _ => return false,
            }
        }
    }
}
