//! JSON string text decoded as RFC 8259 §7 says
//! (<https://www.rfc-editor.org/rfc/rfc8259#section-7>): the escapes, and the end of a string
//! found in the same pass. The record readers that decode a body's data apart from serde_json
//! ([`crate::owned_line`], [`crate::data_apart`]) share it.

/// Decodes the JSON string whose text starts `text` (just after its opening quote), up to its
/// closing quote. Returns the decoded string and the closing quote's index in `text`; `None`
/// when the string does not end in `text`, holds a control character or a bad escape (what
/// serde_json rejects too).
pub(crate) fn decode_prefix(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    // Escapes are never shorter than what they stand for, and the string ends in `text`.
    let mut out = String::with_capacity(bytes.len());
    let mut read = 0;
    loop {
        let stop = read + memchr::memchr2(b'"', b'\\', &bytes[read..])?;
        // `read` and `stop` are at ASCII bytes (a quote, a backslash or an escape's end), so
        // both are character boundaries.
        let run = &text[read..stop];
        if run.bytes().any(|b| b < 0x20) {
            return None;
        }
        out.push_str(run);
        if bytes[stop] == b'"' {
            return Some((out, stop));
        }
        let (decoded, used) = escape(&bytes[stop..])?;
        out.push(decoded);
        read = stop + used;
    }
}

/// The character an escape at the start of `text` stands for, and the escape's length; `None`
/// when it is not a valid escape.
pub(crate) fn escape(text: &[u8]) -> Option<(char, usize)> {
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

    #[test]
    fn a_string_decodes_as_serde_json_decodes_it_and_bad_ones_are_refused() {
        let cases = [
            "plain",
            r#"quote \" backslash \\ slash \/ \b\f\n\r\t"#,
            r#"\u00e9\u96ea\ud83d\ude00\/ é 雪"#,
            r#"\u0041"#,
            "",
            r#"\ud83d"#,
            r#"\ude00"#,
            r#"\ud83d\u0041"#,
            r#"\x"#,
            r#"\u12"#,
            r#"\u+041"#,
            "\u{1}",
        ];
        for case in cases {
            let quoted = format!("\"{case}\"");
            let expected = serde_json::from_str::<String>(&quoted).ok();
            let text = format!("{case}\",\"next\":1}}");
            let got = decode_prefix(&text).map(|(decoded, end)| {
                assert_eq!(&text[end..end + 1], "\"", "{case}");
                decoded
            });
            assert_eq!(got, expected, "{case}");
        }
        assert_eq!(decode_prefix("no end"), None);
        assert_eq!(decode_prefix("\\"), None);
        assert_eq!(decode_prefix(r#"ends in an escape \""#), None);
    }

    proptest::proptest! {
        #[test]
        fn any_string_decodes_as_serde_json_wrote_it(
            text in "\\PC*|[\"\\\\\u{0}-\u{1f}\u{10000}-\u{10ffff}a]*",
            tail in "[,:}\"a-z ]{0,8}",
        ) {
            let quoted = serde_json::to_string(&text).expect("serializes");
            let inner = &quoted[1..];
            let end = inner.len() - 1;
            let decoded = decode_prefix(&format!("{inner}{tail}"));
            proptest::prop_assert_eq!(decoded, Some((text, end)));
        }
    }
}
