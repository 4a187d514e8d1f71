//! Splitting streamed response bodies into events: Server-Sent Events as the WHATWG HTML
//! standard parses them (§9.2 "Server-sent events", the event stream interpretation), and
//! newline-delimited JSON (Ollama).
//!
//! SSE, in short: lines end in CRLF, LF or CR; a line starting with `:` is a comment; `field:
//! value` (one optional space after the colon); `data` lines are joined with `\n`; an empty
//! line dispatches the event; an event whose data is empty is not dispatched; the event type
//! defaults to `message`. A stream that ends without the empty line loses its last event (the
//! standard discards it); [`Sse::torn`] says so.

use std::borrow::Cow;

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message`.
    pub event: String,
    pub data: String,
}

/// The events of an SSE body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sse {
    pub events: Vec<SseEvent>,
    /// The body ended inside an event (data after the last empty line): it was discarded.
    pub torn: bool,
}

/// Parses `text` as an event stream.
pub fn parse(text: &str) -> Sse {
    let mut sse = Sse::default();
    sse.torn = for_each_event(text, |event, data| {
        sse.events.push(SseEvent {
            event: event.to_owned(),
            data: data.into_owned(),
        });
    });
    sse
}

/// The events of `text`, each handed to `dispatch` as its type and data, borrowed from `text`
/// where its data is one line (the common case); true when the body ended inside an event
/// ([`Sse::torn`]).
pub(crate) fn for_each_event<'t>(
    text: &'t str,
    mut dispatch: impl FnMut(&'t str, Cow<'t, str>),
) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut event = "";
    let mut data = Data::default();
    let mut pending = false;
    for line in lines(text) {
        if line.is_empty() {
            if let Some(data) = data.take() {
                dispatch(if event.is_empty() { "message" } else { event }, data);
            }
            event = "";
            pending = false;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        pending = true;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => event = value,
            "data" => data.push(value),
            _ => {}
        }
    }
    pending && data.take().is_some()
}

/// The `data` lines of the event being read: the first borrowed, a copy only once a second
/// one comes (they are joined with `\n`).
#[derive(Default)]
enum Data<'t> {
    #[default]
    None,
    One(&'t str),
    Joined(String),
}

impl<'t> Data<'t> {
    fn push(&mut self, line: &'t str) {
        *self = match std::mem::take(self) {
            Data::None => Data::One(line),
            Data::One(first) => Data::Joined(format!("{first}\n{line}")),
            Data::Joined(mut joined) => {
                joined.push('\n');
                joined.push_str(line);
                Data::Joined(joined)
            }
        };
    }

    /// The data so far, when a `data` line came; empty again after.
    fn take(&mut self) -> Option<Cow<'t, str>> {
        match std::mem::take(self) {
            Data::None => None,
            Data::One(line) => Some(Cow::Borrowed(line)),
            Data::Joined(joined) => Some(Cow::Owned(joined)),
        }
    }
}

/// Lines ended by CRLF, LF or CR; a last line without an ending is yielded too.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // Both endings are ASCII, so a byte search finds them on character boundaries.
        let end = memchr::memchr2(b'\r', b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..end];
        let after = &rest[end..];
        rest = if let Some(r) = after.strip_prefix("\r\n") {
            r
        } else if after.is_empty() {
            after
        } else {
            &after[1..]
        };
        Some(line)
    })
}

/// Whether `text` looks like an event stream rather than one JSON document.
pub(crate) fn looks_like_sse(text: &str) -> bool {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    ["data:", "event:", ":", "id:", "retry:"]
        .iter()
        .any(|p| start.starts_with(p))
}

/// The non-empty lines of newline-delimited JSON, each with whether it ended with a newline.
pub(crate) fn ndjson(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, terminated, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, ""),
        };
        let line = line.trim();
        if !line.is_empty() {
            out.push((line, terminated));
        }
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let sse = parse(": ping\nevent: a\ndata: x\ndata:y\nid: 3\n\ndata\n\n\n\ndata: z\n\n");
        assert_eq!(
            sse.events,
            // A bare `data` line gives an event with empty data (the buffer held "\n").
            vec![ev("a", "x\ny"), ev("message", ""), ev("message", "z")]
        );
        assert!(!sse.torn);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let sse = parse("event: e\r\ndata: 1\r\n\r\ndata: 2\r\rdata:  3\n\n");
        assert_eq!(
            sse.events,
            vec![ev("e", "1"), ev("message", "2"), ev("message", " 3")]
        );
    }

    #[test]
    fn an_event_cut_before_its_empty_line_is_discarded_and_flagged() {
        let sse = parse("data: 1\n\ndata: {\"par");
        assert_eq!(sse.events, vec![ev("message", "1")]);
        assert!(sse.torn);
        let sse = parse("data: 1\n\n: trailing comment");
        assert!(!sse.torn);
    }

    #[test]
    fn event_type_resets_after_dispatch() {
        let sse = parse("event: error\ndata: e\n\ndata: m\n\n");
        assert_eq!(sse.events, vec![ev("error", "e"), ev("message", "m")]);
    }

    /// `lines` as first written: the ending found as a `char` pattern.
    fn lines_by_char(text: &str) -> Vec<&str> {
        let mut rest = text;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
            out.push(&rest[..end]);
            let after = &rest[end..];
            rest = match after.strip_prefix("\r\n") {
                Some(r) => r,
                None if after.is_empty() => after,
                None => &after[1..],
            };
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn lines_end_where_the_char_search_ends_them(
            text in "(data: |é|\r|\n|\r\n|x|\u{2028}|\u{feff}){0,40}"
        ) {
            proptest::prop_assert_eq!(lines(&text).collect::<Vec<_>>(), lines_by_char(&text));
        }
    }

    #[test]
    fn ndjson_lines() {
        assert_eq!(
            ndjson("{\"a\":1}\n\n {\"b\":2} \n{\"c\""),
            vec![("{\"a\":1}", true), ("{\"b\":2}", true), ("{\"c\"", false)]
        );
        assert!(looks_like_sse("\n: hi\n") && !looks_like_sse("{\"data\":1}"));
    }
}
