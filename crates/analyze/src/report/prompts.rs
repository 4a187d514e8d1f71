//! The second pass: the prompts sent to the provider, looked for in the request bodies sent
//! to every other host. Only request lines that hold a prompt's text (a byte search over the
//! raw line) are parsed, and only as far as their URL and body; chunks of lines are searched
//! on worker threads.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use phonehome_record::{BodyEncoding, RecordHead, RecordKind};

use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::value::RawValue;

use crate::event::SourceError;
use crate::event::{split_url, Event};
use crate::input;
use crate::input::parallel::lines_inclusive;
use crate::input::{Chunks, Progress};
use crate::leaks::{prompt_leaks, PromptFinder, PromptLeak};
use crate::pool::InOrder;

/// Chunks searched ahead of the one being counted.
const AHEAD: usize = 4;

/// What the search needs of a `request` record: the URL, and the body left as its JSON text,
/// read only when the host is not the provider's (most lines that hold the prompt are the LLM
/// calls themselves, whose escaped bodies would cost more to read than the rest of the line).
#[derive(Deserialize)]
struct RequestLine<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct BodyLine<'a> {
    encoding: BodyEncoding,
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// Requests per host that carried a prompt of `finder` elsewhere than to the provider.
///
/// # Errors
/// An I/O error reading the file, or a malformed HAR file.
pub(super) fn search(
    path: &Path,
    input_format: &str,
    finder: PromptFinder,
) -> Result<Vec<PromptLeak>, SourceError> {
    let found = if input_format == "capture" {
        search_capture(path, Arc::new(finder))?
    } else {
        search_events(path, &finder)?
    };
    Ok(prompt_leaks(found))
}

fn search_events(path: &Path, finder: &PromptFinder) -> Result<BTreeMap<String, u64>, SourceError> {
    let mut found = BTreeMap::new();
    for event in input::open(path)? {
        if let Event::Exchange(x) = event? {
            if finder.exchange(&x) {
                *found.entry(x.host).or_default() += 1;
            }
        }
    }
    Ok(found)
}

fn search_capture(
    path: &Path,
    finder: Arc<PromptFinder>,
) -> Result<BTreeMap<String, u64>, SourceError> {
    let io = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut chunks = Chunks::seekable(BufReader::with_capacity(1 << 16, file), Progress::default());
    let mut pool = InOrder::new();
    let mut found = BTreeMap::new();
    let mut add = |hosts: Option<Vec<String>>| {
        for host in hosts.into_iter().flatten() {
            *found.entry(host).or_default() += 1;
        }
    };
    while !chunks.ended() {
        let Some(chunk) = chunks.next_chunk().map_err(io)? else {
            continue;
        };
        let finder = Arc::clone(&finder);
        pool.submit(move || search_chunk(&chunk, &finder));
        while pool.pending() >= AHEAD {
            add(pool.next());
        }
    }
    while pool.pending() > 0 {
        add(pool.next());
    }
    Ok(found)
}

/// The hosts of the requests in `chunk` that carried a prompt elsewhere.
fn search_chunk(chunk: &[u8], finder: &PromptFinder) -> Vec<String> {
    lines_inclusive(chunk)
        .map(|line| line.strip_suffix(b"\n").unwrap_or(line))
        .filter(|line| finder.line_may_match(line))
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| request_host(line, finder))
        .collect()
}

/// The host of a request line that carried a prompt elsewhere.
fn request_host(line: &str, finder: &PromptFinder) -> Option<String> {
    if !is_request(line) {
        return None;
    }
    if let Some(url) = url_before_body(line) {
        if !finder.is_elsewhere(&split_url(url).0) {
            return None;
        }
    }
    let request: RequestLine = serde_json::from_str(line).ok()?;
    let (host, ..) = split_url(&request.url);
    if !finder.is_elsewhere(&host) {
        return None;
    }
    let body = match request.body {
        Some(raw) => Some(serde_json::from_str::<BodyLine>(raw.get()).ok()?),
        None => None,
    };
    let body = body.as_ref().map(|b| (b.encoding, b.data.as_ref()));
    finder.sent_elsewhere(&host, body).then_some(host)
}

/// A request line's `url`, read from the members up to it only: the body that phonehome
/// writes after it is left unread, so a line sent to the provider (most lines that hold the
/// prompt) costs a few members. `None` when the members up to it cannot be read so (a key or
/// the URL escaped, no `url` member): the whole line is then read.
fn url_before_body(line: &str) -> Option<&str> {
    let mut url = None;
    let mut members = serde_json::Deserializer::from_str(line);
    // The visitor stops with an error once it has the URL, which leaves the rest unread.
    let _stopped = members.deserialize_map(UrlFirst(&mut url));
    url
}

/// Reads an object's members until `url`, into its slot.
struct UrlFirst<'s, 'a>(&'s mut Option<&'a str>);

impl<'de> Visitor<'de> for UrlFirst<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == "url" {
                *self.0 = Some(map.next_value::<&'de str>()?);
                return Err(A::Error::custom("the URL is read; the rest is left"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Whether a line is a `request` record: told by its first member where phonehome wrote
/// `type` first (as [`phonehome_record::Record::from_line`] reads it), else by its head.
fn is_request(line: &str) -> bool {
    match line.trim_start().strip_prefix(r#"{"type":""#) {
        Some(rest) => rest.starts_with(r#"request""#),
        None => RecordHead::from_line(line).is_ok_and(|head| head.kind == RecordKind::Request),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_request, request_host, BodyLine, Cow, Deserialize, PromptFinder};
    use crate::event::split_url;

    /// The search as first written: the whole request, body included, read before the host
    /// is looked at.
    fn request_host_reading_all(line: &str, finder: &PromptFinder) -> Option<String> {
        #[derive(Deserialize)]
        struct Whole<'a> {
            #[serde(borrow)]
            url: Cow<'a, str>,
            #[serde(borrow)]
            body: Option<BodyLine<'a>>,
        }
        if !is_request(line) {
            return None;
        }
        let request: Whole = serde_json::from_str(line).ok()?;
        let (host, ..) = split_url(&request.url);
        let body = request.body.as_ref().map(|b| (b.encoding, b.data.as_ref()));
        finder.sent_elsewhere(&host, body).then_some(host)
    }

    #[test]
    fn the_host_is_looked_at_before_the_body_with_the_same_answers() {
        let finder =
            PromptFinder::of("llm.test", ["fix the \"tests\"\n"].into_iter()).expect("a prompt");
        let line = |url: &str, body: &str| {
            format!(
                r#"{{"type":"request","flow":1,"conn":1,"method":"POST","url":"{url}","version":"HTTP/1.1","headers":[]{body}}}"#
            )
        };
        let prompt = r#"{\"p\":\"fix the \\\"tests\\\"\\n\"}"#;
        let utf8 = format!(
            r#","body":{{"size":9,"encoding":"utf8","data":"{prompt}","truncated":false}}"#
        );
        let base64 = r#","body":{"size":9,"encoding":"base64","data":"AAAA","truncated":false}"#;
        let bad = r#","body":{"size":9,"encoding":"rot13","data":"x","truncated":false}"#;
        let cases = [
            line("https://llm.test/v1/chat", &utf8),
            line("https://other.test/x", &utf8),
            line("https://Other.test:444/x", &utf8),
            line("http://127.0.0.1:8080/x", &utf8),
            line("https://other.test/x", base64),
            line("https://other.test/x", bad),
            line("https://llm.test/x", bad),
            line("https://other.test/x", r#","body":null"#),
            line("https://other.test/x", ""),
            line("https://other.test/x", r#","body":{"size":9"#),
            line("https://llm.test/x", r#","url":"https://other.test/x""#),
            line("https://other.test/x", r#","url":"https://llm.test/x""#),
            line(r"https:\/\/other.test\/x", &utf8),
            line(r"https:\/\/llm.test\/x", &utf8),
            line("https://other.test/x", &utf8).replace(r#""url""#, r#""u\u0072l""#),
            line("https://llm.test/x", &utf8).replace(r#""url""#, r#""u\u0072l""#),
            line("https://other.test/x", &utf8).replace(r#""url":"https://other.test/x","#, ""),
            format!(r#"{{"type":"request","flow":1,"url":7{utf8}}}"#),
            format!(
                r#"{{"type":"request","flow":1,"x":{{"url":"https://llm.test/"}},"url":"https://other.test/x"{utf8}}}"#
            ),
            format!(
                r#"{{"type":"request","flow":1,"url":"https://llm.test/"{utf8},"url":"https://other.test/x"}}"#
            ),
            format!(r#"{{"type":"request"{utf8},"url":"https://other.test/x"}}"#),
            r#"{"type":"response","flow":1,"url":"https://other.test/x"}"#.to_owned(),
        ];
        let found: Vec<_> = cases.iter().map(|l| request_host(l, &finder)).collect();
        let expected: Vec<_> = cases
            .iter()
            .map(|l| request_host_reading_all(l, &finder))
            .collect();
        assert_eq!(found, expected);
        let hits: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_some()).collect();
        // Elsewhere with the prompt: plain, with a port, with the URL escaped, with the key
        // escaped, after another member's nested `url`, after the body.
        assert_eq!(hits, [1, 2, 12, 14, 18, 20], "{found:?}");
    }

    #[test]
    fn request_lines_told_by_their_first_member_or_their_head() {
        assert!(is_request(
            r#"{"type":"request","flow":1,"url":"https://a.test/"}"#
        ));
        assert!(!is_request(r#"{"type":"response","flow":1,"status":200}"#));
        assert!(!is_request(r#"{"type":"requests","flow":1}"#));
        // Another writer may put `type` later.
        assert!(is_request(
            r#"{"flow":1,"type":"request","url":"https://a.test/"}"#
        ));
        assert!(!is_request(
            r#"{"flow":1,"type":"blocked","url":"https://a.test/"}"#
        ));
        assert!(!is_request("not json"));
    }
}
