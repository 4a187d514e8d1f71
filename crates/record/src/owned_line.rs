//! A record line handed over to be parsed (a line too large to copy): the body's `data`
//! string (a `request`'s or `response`'s `body.data`, a `ws` record's `data`) is decoded in
//! place, in the line's own buffer, which then becomes the record's string. A line of N bytes
//! so takes about N bytes to parse, where parsing a borrowed line takes the line, serde_json's
//! scratch copy of the string and the string itself (about 3 N).
//!
//! JSON strings are decoded as RFC 8259 §7 says (<https://www.rfc-editor.org/rfc/rfc8259#section-7>):
//! every escape is at least as long as what it stands for, so the decoded text fits where the
//! escaped text was.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Record;

/// Lines whose body data is shorter than this are parsed as a borrowed line is: the in-place
/// decoding pays off for large strings only.
const IN_PLACE_FROM: usize = 1 << 20;

/// The fields of a line that say where its body's data is.
#[derive(Deserialize)]
struct Skeleton<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(borrow)]
    body: Option<DataOf<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct DataOf<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

impl Record {
    /// Parses a line it is given to own, as [`Record::from_line`] does, decoding a large body
    /// data string in the line's own buffer instead of copying it. Returns the record and the
    /// line's text without that string (`""` in its place; the whole line when nothing was
    /// taken out), for checks on the line's text such as [`Record::missing_fields`].
    ///
    /// # Errors
    /// The JSON error when the line is not a record.
    pub fn from_owned_line(line: String) -> Result<(Record, String), serde_json::Error> {
        let Some((start, end, place)) = data_span(&line) else {
            return Record::from_line(&line).map(|record| (record, line));
        };
        let mut rest = String::with_capacity(start + 2 + line.len() - end);
        rest.push_str(&line[..start]);
        rest.push_str("\"\"");
        rest.push_str(&line[end..]);
        let mut record = Record::from_line(&rest)?;
        let data = decode_in_place(line.into_bytes(), start + 1, end - 1)
            .map_err(<serde_json::Error as serde::de::Error>::custom)?;
        let slot = match (&mut record, place) {
            (Record::Request(r), Place::Body) => r.body.as_mut().map(|b| &mut b.data),
            (Record::Response(r), Place::Body) => r.body.as_mut().map(|b| &mut b.data),
            (Record::Ws(w), Place::Top) => Some(&mut w.data),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = data;
        }
        Ok((record, rest))
    }
}

/// Where the data string is: `body.data`, or `data` at the top (`ws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Body,
    Top,
}

/// The byte range of the line's body data string, quotes included, when it is a string
/// worth decoding in place.
fn data_span(line: &str) -> Option<(usize, usize, Place)> {
    let skeleton: Skeleton<'_> = serde_json::from_str(line).ok()?;
    let (raw, place) = match skeleton.kind? {
        "request" | "response" => (skeleton.body?.data?, Place::Body),
        "ws" => (skeleton.data?, Place::Top),
        _ => return None,
    };
    let text = raw.get();
    if text.len() < IN_PLACE_FROM || !text.starts_with('"') {
        return None;
    }
    // `raw` borrows from `line`: its offset is the distance between the two.
    let start = (text.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
    Some((start, start + text.len(), place))
}

/// Decodes the JSON string text `bytes[from..to]` (inside its quotes) into the front of
/// `bytes`, which becomes the decoded string.
fn decode_in_place(mut bytes: Vec<u8>, from: usize, to: usize) -> Result<String, String> {
    let mut read = from;
    let mut write = 0;
    while read < to {
        let run_end = memchr::memchr(b'\\', &bytes[read..to]).map_or(to, |i| read + i);
        if let Some(bad) = bytes[read..run_end].iter().position(|b| *b < 0x20) {
            return Err(format!(
                "control character in a string (byte {})",
                read + bad + 1
            ));
        }
        bytes.copy_within(read..run_end, write);
        write += run_end - read;
        read = run_end;
        if read == to {
            break;
        }
        let (decoded, used) = escape(&bytes[read..to])
            .ok_or_else(|| format!("invalid escape in a string (byte {})", read + 1))?;
        let mut utf8 = [0; 4];
        let text = decoded.encode_utf8(&mut utf8).as_bytes();
        bytes[write..write + text.len()].copy_from_slice(text);
        write += text.len();
        read += used;
    }
    bytes.truncate(write);
    bytes.shrink_to_fit();
    String::from_utf8(bytes).map_err(|e| format!("a string is not UTF-8: {e}"))
}

/// The character an escape at the start of `text` stands for, and the escape's length; `None`
/// when it is not a valid escape.
fn escape(text: &[u8]) -> Option<(char, usize)> {
    let simple = match text.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode_escape(text),
        _ => return None,
    };
    Some((simple, 2))
}

/// `\uXXXX`, or a surrogate pair `\uD8XX\uDCXX`.
fn unicode_escape(text: &[u8]) -> Option<(char, usize)> {
    let first = hex4(text.get(2..6)?)?;
    if !(0xD800..0xE000).contains(&first) {
        return Some((char::from_u32(first)?, 6));
    }
    if first >= 0xDC00 || text.get(6..8)? != b"\\u" {
        return None;
    }
    let second = hex4(text.get(8..12)?)?;
    if !(0xDC00..0xE000).contains(&second) {
        return None;
    }
    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
    Some((char::from_u32(code)?, 12))
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, digit| {
        let value = char::from(*digit).to_digit(16)?;
        Some(n * 16 + value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request line whose body data is `text`, padded past the in-place threshold.
    fn request_line(text: &str) -> (String, String) {
        let data = format!("{text}{}", "x".repeat(IN_PLACE_FROM));
        let line = serde_json::json!({
            "type": "request", "ts": "2026-01-01T00:00:00.000Z", "flow": 1, "conn": 1,
            "method": "POST", "url": "http://a.test/", "version": "HTTP/1.1", "headers": [],
            "body": {"size": 3, "encoding": "utf8", "data": data, "truncated": false},
        })
        .to_string();
        (line, data)
    }

    #[test]
    fn a_large_body_is_decoded_in_place_as_serde_json_decodes_it() {
        for text in [
            "plain",
            "quote \" backslash \\ slash / \u{8}\u{c}\n\r\t",
            "é ü 雪 😀 \u{1}\u{1f}",
            "",
        ] {
            let (line, data) = request_line(text);
            let borrowed = Record::from_line(&line).expect("parses");
            let (owned, rest) = Record::from_owned_line(line).expect("parses");
            assert_eq!(owned, borrowed);
            let Record::Request(r) = owned else {
                panic!("a request")
            };
            assert_eq!(r.body.expect("body").data, data);
            assert!(rest.contains(r#""data":"""#), "{rest}");
        }
    }

    #[test]
    fn escapes_decode_like_serde_json_and_bad_ones_are_errors() {
        let cases = [
            r#"\u00e9\u96ea\ud83d\ude00\/"#,
            r#"\u0041"#,
            r#"\ud83d"#,
            r#"\ude00"#,
            r#"\ud83d\u0041"#,
            r#"\x"#,
            r#"\u12"#,
            r#"\u+041"#,
            "\u{1}",
            "\\",
        ];
        for case in cases {
            let quoted = format!("\"{case}\"");
            let expected = serde_json::from_str::<String>(&quoted).ok();
            let bytes = quoted.clone().into_bytes();
            let got = decode_in_place(bytes, 1, quoted.len() - 1).ok();
            assert_eq!(got, expected, "{case}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_decodes_as_serde_json_wrote_it(text in "\\PC*|[\"\\\\\u{0}-\u{1f}\u{10000}-\u{10ffff}a]*") {
            let quoted = serde_json::to_string(&text).expect("serializes");
            let len = quoted.len();
            let decoded = decode_in_place(quoted.into_bytes(), 1, len - 1);
            proptest::prop_assert_eq!(decoded, Ok(text));
        }
    }

    #[test]
    fn small_and_other_records_are_parsed_as_borrowed_lines_are() {
        let line = r#"{"type":"ws","ts":"2026-01-01T00:00:00.000Z","flow":1,"dir":"up","opcode":"text","size":1,"encoding":"utf8","data":"a","truncated":false}"#;
        let (record, rest) = Record::from_owned_line(line.to_owned()).expect("parses");
        assert_eq!(record, Record::from_line(line).expect("parses"));
        assert_eq!(rest, line);
        assert!(Record::from_owned_line("{not json".to_owned()).is_err());
    }

    #[test]
    fn a_large_ws_message_is_decoded_in_place() {
        let data = format!("a\nb{}", "y".repeat(IN_PLACE_FROM));
        let line = serde_json::json!({
            "type": "ws", "ts": "2026-01-01T00:00:00.000Z", "flow": 1, "dir": "up",
            "opcode": "text", "size": 3, "encoding": "utf8", "data": data, "truncated": false,
        })
        .to_string();
        let borrowed = Record::from_line(&line);
        let (owned, _) = Record::from_owned_line(line).expect("parses");
        assert_eq!(owned, borrowed.expect("parses"));
    }
}
