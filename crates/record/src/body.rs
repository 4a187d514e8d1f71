//! Turning captured body bytes into a [`Body`]: content decoding, text or base64, redaction.

use std::io::{Read, Seek, SeekFrom};

use crate::payload;
use crate::record::Body;
use crate::redact::Redactor;

/// Body bytes as the proxy captured them.
#[derive(Debug, Clone, Default)]
pub struct BodyInput<'a> {
    /// The first bytes of the body, at most `limit`. Taken by value: UTF-8 text is stored
    /// without a copy.
    pub bytes: Vec<u8>,
    /// Bytes of the whole body on the wire.
    pub size: u64,
    /// The stream ended early, or more bytes arrived than were kept.
    pub truncated: bool,
    /// The `content-encoding` header value, if any.
    pub content_encoding: Option<&'a str>,
    /// Bytes not kept because the recorder was behind.
    pub dropped_bytes: u64,
    /// The most bytes of decoded content to store.
    pub limit: usize,
}

/// Builds the stored form of a body; `None` when the body was empty.
///
/// A body in one of the content codings `gzip`, `x-gzip`, `deflate`, `br` or `zstd` is stored
/// decoded (at most `limit` bytes of it) with `decoded_from` naming the coding; a body that does
/// not decode is stored as it came. UTF-8 content without NUL bytes is stored as text and
/// redacted; anything else as base64 (RFC 4648), with credential text inside it redacted.
/// Text that is all base64 and whose decoded content carries a credential is stored decoded
/// and redacted (`redaction`).
pub fn encode_body(input: BodyInput<'_>, redactor: &Redactor) -> Option<Body> {
    if input.size == 0 && input.dropped_bytes == 0 {
        return None;
    }
    let mut truncated = input.truncated;
    let mut decoded_from = None;
    let coding = input
        .content_encoding
        .map(|c| c.trim().to_ascii_lowercase());
    let decoded = coding.and_then(|coding| {
        let (bytes, cut) = decode(&coding, &input.bytes, input.limit)?;
        Some((coding, bytes, cut))
    });
    let stored = match decoded {
        Some((coding, bytes, cut)) => {
            truncated |= cut;
            decoded_from = Some(coding);
            bytes
        }
        None => input.bytes,
    };
    let stored = payload::store(stored, truncated, redactor);
    Some(Body {
        size: input.size,
        encoding: stored.encoding,
        data: stored.data,
        truncated,
        decoded_from,
        dropped_bytes: input.dropped_bytes,
        redaction: stored.redaction,
    })
}

/// Whether [`encode_body`] stores the `len` bytes `bytes` yields from where it is as their
/// base64 unchanged: no content coding, a NUL byte among them (binary) and no credential text
/// that redaction would replace. Then its stored form is [`plain_base64_body`] with the base64
/// of the bytes in `data`, which [`crate::CaptureWriter::write_with_base64_body`] writes from
/// the bytes. The NUL byte is looked for first, so that text, never stored so, is not judged
/// run by run (a redaction of all of it); then the runs, in steps of 64 KiB, a run that
/// crosses them held whole. `bytes` is left where it was found.
///
/// # Errors
/// Any error reading or seeking `bytes`.
pub fn stored_as_plain_base64<R: Read + Seek>(
    bytes: &mut R,
    len: u64,
    content_encoding: Option<&str>,
    redactor: &Redactor,
) -> std::io::Result<bool> {
    if content_encoding.is_some() {
        return Ok(false);
    }
    let start = bytes.stream_position()?;
    let mut plain = payload::holds_nul(&mut bytes.by_ref().take(len))?;
    if plain {
        bytes.seek(SeekFrom::Start(start))?;
        plain = payload::plain_binary(&mut bytes.by_ref().take(len), redactor)?;
    }
    bytes.seek(SeekFrom::Start(start))?;
    Ok(plain)
}

/// The stored form of a body for which [`stored_as_plain_base64`] holds, with `data` left
/// empty for [`crate::CaptureWriter::write_with_base64_body`] to fill.
pub fn plain_base64_body(size: u64, truncated: bool, dropped_bytes: u64) -> Body {
    Body {
        size,
        encoding: crate::record::BodyEncoding::Base64,
        data: String::new(),
        truncated,
        decoded_from: None,
        dropped_bytes,
        redaction: None,
    }
}

/// Decodes `bytes` in `coding`, keeping at most `limit` bytes. Returns the bytes and whether the
/// output was cut at `limit`; `None` for an unknown coding or bytes that do not decode at all.
fn decode(coding: &str, bytes: &[u8], limit: usize) -> Option<(Vec<u8>, bool)> {
    let reader: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        "deflate" => {
            // RFC 9110 says zlib; some servers send raw deflate.
            if bytes.first().is_some_and(|b| b & 0x0f == 8) {
                Box::new(flate2::read::ZlibDecoder::new(bytes))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(bytes))
            }
        }
        "br" => Box::new(brotli::Decompressor::new(bytes, 4096)),
        "zstd" => Box::new(zstd::stream::read::Decoder::with_buffer(bytes).ok()?),
        _ => return None,
    };
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    match limited.read_to_end(&mut out) {
        Ok(_) => {}
        // A body cut at --max-body ends mid-stream: keep what decoded.
        Err(_) if !out.is_empty() => {}
        Err(_) => return None,
    }
    let cut = out.len() > limit;
    out.truncate(limit);
    Some((out, cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BodyEncoding;
    use std::io::Write;

    fn input<'a>(bytes: &[u8], coding: Option<&'a str>) -> BodyInput<'a> {
        BodyInput {
            bytes: bytes.to_vec(),
            size: bytes.len() as u64,
            truncated: false,
            content_encoding: coding,
            dropped_bytes: 0,
            limit: 1 << 20,
        }
    }

    #[test]
    fn empty_body_is_absent() {
        assert_eq!(encode_body(input(b"", None), &Redactor::new()), None);
    }

    #[test]
    fn text_is_stored_as_utf8() {
        let body = encode_body(input(b"hello", None), &Redactor::new()).expect("body");
        assert_eq!(body.encoding, BodyEncoding::Utf8);
        assert_eq!(body.data, "hello");
    }

    #[test]
    fn binary_is_base64() {
        let body = encode_body(input(&[0xff, 0x00, 0x80], None), &Redactor::new()).expect("body");
        assert_eq!(body.encoding, BodyEncoding::Base64);
        assert_eq!(body.data, "/wCA");
    }

    #[test]
    fn text_with_nul_bytes_is_base64() {
        let body = encode_body(input(b"a\0b", None), &Redactor::new()).expect("body");
        assert_eq!(body.encoding, BodyEncoding::Base64);
    }

    #[test]
    fn cut_inside_a_character_keeps_whole_characters() {
        let mut i = input("aé".as_bytes(), None);
        i.bytes.pop();
        i.truncated = true;
        let body = encode_body(i, &Redactor::new()).expect("body");
        assert_eq!(
            (body.encoding, body.data.as_str()),
            (BodyEncoding::Utf8, "a")
        );
    }

    #[test]
    fn gzip_is_decoded() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"a\":1}").expect("write");
        let gz = enc.finish().expect("finish");
        let body = encode_body(input(&gz, Some("gzip")), &Redactor::new()).expect("body");
        assert_eq!(body.data, "{\"a\":1}");
        assert_eq!(body.decoded_from.as_deref(), Some("gzip"));
        assert_eq!(body.size, gz.len() as u64);
    }

    #[test]
    fn zstd_and_br_are_decoded() {
        let z = zstd::encode_all(&b"zstd text"[..], 1).expect("zstd");
        let body = encode_body(input(&z, Some("zstd")), &Redactor::new()).expect("body");
        assert_eq!(body.data, "zstd text");
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(b"brotli text").expect("write");
        }
        let body = encode_body(input(&br, Some("br")), &Redactor::new()).expect("body");
        assert_eq!(body.data, "brotli text");
    }

    #[test]
    fn undecodable_is_kept_raw() {
        let body = encode_body(input(b"not gzip", Some("gzip")), &Redactor::new()).expect("body");
        assert_eq!(body.data, "not gzip");
        assert_eq!(body.decoded_from, None);
    }

    #[test]
    fn decoding_is_limited() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).expect("write");
        let gz = enc.finish().expect("finish");
        let mut i = input(&gz, Some("gzip"));
        i.limit = 100;
        let body = encode_body(i, &Redactor::new()).expect("body");
        assert_eq!(body.data.len(), 100);
        assert!(body.truncated);
    }

    #[test]
    fn only_binary_without_credentials_is_stored_as_plain_base64_and_the_reader_stays_put() {
        let judged = |bytes: &[u8], coding: Option<&str>| {
            let mut prefixed = b"ahead".to_vec();
            prefixed.extend_from_slice(bytes);
            prefixed.extend_from_slice(b"\0after");
            let mut reader = std::io::Cursor::new(prefixed);
            reader.set_position(5);
            let len = bytes.len() as u64;
            let plain = stored_as_plain_base64(&mut reader, len, coding, &Redactor::new())
                .expect("read from memory");
            assert_eq!(reader.position(), 5, "left where it was");
            plain
        };
        let key = format!("sk-ant-api03-{}", "Q".repeat(30));
        assert!(judged(b"\0\x01binary", None));
        assert!(!judged(b"\0\x01binary", Some("gzip")));
        // The NUL after the `len` bytes is not theirs: text stays text.
        assert!(!judged(&vec![b'a'; 200_000], None));
        let mut with_key = vec![0u8; 100_000];
        with_key[70_000..70_000 + key.len()].copy_from_slice(key.as_bytes());
        assert!(!judged(&with_key, None));
    }
}
