//! A `request`'s or `response`'s body data read out of its line in one pass, and the rest of
//! the line parsed by serde_json with a stand-in where the data was.
//!
//! The data is usually JSON text escaped inside the line's JSON (an escape every few bytes):
//! serde_json decodes it escape by escape into a scratch buffer that it grows for every line,
//! checks that buffer as UTF-8 and copies it into the string, and that was most of what
//! reading a record cost. Here it is decoded once, straight into a string of the raw text's
//! size ([`decode_prefix`]).
//!
//! Only the plain case is taken: the line holds the string `"data"` once (inside a JSON string
//! a quote is escaped, so that is the one key or value `data`), as a key written as phonehome
//! writes it (right after `{` or `,`, no spaces) whose value is a string that decodes, and the
//! record's body data reads back as the stand-in. Anything else (no body, another `data` key
//! or value, a bad escape, a line that is not JSON) is left to serde_json's parse of the whole
//! line, which gives its errors too. (A second key spelled with escapes, `"d\u0061ta"`, whose
//! value is the stand-in's, aside.)

use serde::de::DeserializeOwned;

use crate::json_string::decode_prefix;

/// The body data's key and the opening quote of its string.
const KEY: &[u8] = br#""data":""#;
/// What the data string is replaced with in the line serde_json reads: one NUL character.
const STAND_IN: &str = r#""\u0000""#;
/// The rest of a line is built in a buffer kept per thread; past this size it is let go.
const KEEP_BUFFER: usize = 1 << 16;

thread_local! {
    static REST: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The record of `line`, its body data (the string `data` points to) decoded apart; `None`
/// when the line is not the plain case (see the module's head): the caller then parses the
/// whole line.
pub(crate) fn parse<T: DeserializeOwned>(
    line: &str,
    data: fn(&mut T) -> Option<&mut String>,
) -> Option<T> {
    let bytes = line.as_bytes();
    let mut names = memchr::memmem::find_iter(bytes, &KEY[..6]);
    let (Some(key), None) = (names.next(), names.next()) else {
        return None;
    };
    if !bytes[key..].starts_with(KEY) {
        return None;
    }
    // After `{` or `,` the quote opens a key: inside a JSON string a quote is escaped.
    if !matches!(key.checked_sub(1).map(|i| bytes[i]), Some(b'{' | b',')) {
        return None;
    }
    let open = key + KEY.len();
    let (text, close) = decode_prefix(&line[open..])?;
    let after = open + close + 1;
    let mut record: T = REST.with_borrow_mut(|rest| {
        rest.clear();
        rest.push_str(&line[..open - 1]);
        rest.push_str(STAND_IN);
        rest.push_str(&line[after..]);
        let parsed = serde_json::from_str(rest).ok();
        if rest.capacity() > KEEP_BUFFER {
            *rest = String::new();
        }
        parsed
    })?;
    let slot = data(&mut record).filter(|slot| slot.as_str() == "\0")?;
    *slot = text;
    Some(record)
}

#[cfg(test)]
#[path = "data_apart_tests.rs"]
mod tests;
