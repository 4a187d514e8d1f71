//! A request's or response's headers as the forwarding path hands them to the recorder: their
//! names and values copied into one buffer (two allocations per head), turned into the record's
//! `(name, value)` strings on the writer thread. Building those strings on a runtime worker
//! cost two allocations per header there, and as many frees by the writer thread of memory
//! another thread allocated (BENCHMARKS.md, "CPU per keep-alive request (issue 24, second
//! day)").

use http::HeaderMap;
use phonehome_record::Headers;

/// A head's headers in order, as received: names as hyper has them (lowercase), values as
/// bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HeadText {
    /// Every name and value, one after another.
    bytes: Vec<u8>,
    /// Per header (each value of a repeated name apart), where its name and its value end in
    /// `bytes`.
    ends: Vec<(usize, usize)>,
}

/// What a queued header is reckoned to hold besides its name and value (two `String`s once
/// written out, allocator rounding).
const PER_HEADER: usize = 48;

impl HeadText {
    /// The headers of `headers`, in its iteration order.
    pub(crate) fn new(headers: &HeaderMap) -> Self {
        let len = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let mut text = Self {
            bytes: Vec::with_capacity(len),
            ends: Vec::with_capacity(headers.len()),
        };
        for (name, value) in headers {
            text.bytes.extend_from_slice(name.as_str().as_bytes());
            let name_end = text.bytes.len();
            text.bytes.extend_from_slice(value.as_bytes());
            text.ends.push((name_end, text.bytes.len()));
        }
        text
    }

    /// The bytes the headers are reckoned to hold in the recorder's queue: names, values and
    /// [`PER_HEADER`] each.
    pub(crate) fn estimate(&self) -> usize {
        self.bytes.len() + PER_HEADER * self.ends.len()
    }

    /// Appends the headers to `headers` as the record's pairs: the name as it is, the value as
    /// UTF-8 with anything else replaced by U+FFFD.
    pub(crate) fn append_to(self, headers: &mut Headers) {
        headers.reserve(self.ends.len());
        let mut start = 0;
        for (name_end, value_end) in self.ends {
            headers.push(record_pair(
                &self.bytes[start..name_end],
                &self.bytes[name_end..value_end],
            ));
            start = value_end;
        }
    }
}

/// The headers of `headers` as a record's pairs, built at once (for the policy's request
/// rules, which need them before the recorder has them).
pub(crate) fn header_pairs(headers: &HeaderMap) -> Headers {
    headers
        .iter()
        .map(|(name, value)| record_pair(name.as_str().as_bytes(), value.as_bytes()))
        .collect()
}

/// One header as a record holds it: the name as it is, the value as UTF-8 with anything
/// else replaced by U+FFFD.
fn record_pair(name: &[u8], value: &[u8]) -> (String, String) {
    (
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;
    use proptest::prelude::*;

    fn pairs(headers: &HeaderMap) -> Headers {
        let mut out = Vec::new();
        HeadText::new(headers).append_to(&mut out);
        out
    }

    #[test]
    fn repeated_names_keep_their_order_and_bytes_outside_utf8_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("x-empty", HeaderValue::from_static(""));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append(
            "x-latin1",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a valid value"),
        );
        let text = HeadText::new(&headers);
        assert_eq!(text.estimate(), 10 + 3 + 7 + 10 + 3 + 8 + 4 + 4 * 48);
        assert_eq!(pairs(&headers), header_pairs(&headers));
        assert_eq!(pairs(&headers)[3].1, "caf\u{fffd}");
    }

    #[test]
    fn appends_after_headers_already_set() {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static("api.test"));
        let mut out = vec![("x-first".to_owned(), "1".to_owned())];
        HeadText::new(&headers).append_to(&mut out);
        assert_eq!(
            out,
            vec![
                ("x-first".to_owned(), "1".to_owned()),
                ("host".to_owned(), "api.test".to_owned()),
            ]
        );
    }

    proptest! {
        #[test]
        fn same_pairs_as_copying_each_header(
            entries in proptest::collection::vec(
                ("[a-z][a-z0-9-]{0,12}", proptest::collection::vec(
                    prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..24)),
                0..12,
            )
        ) {
            let mut headers = HeaderMap::new();
            for (name, value) in &entries {
                let name = http::header::HeaderName::from_bytes(name.as_bytes())
                    .expect("a token");
                let value = HeaderValue::from_bytes(value).expect("visible bytes and tab");
                headers.append(name, value);
            }
            prop_assert_eq!(pairs(&headers), header_pairs(&headers));
        }
    }
}
