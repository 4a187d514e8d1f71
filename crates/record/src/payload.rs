//! The stored form of a payload (a body, a WebSocket message) with credentials redacted:
//! text redacted where it stands, base64 text decoded when its content carries a credential,
//! and credential text inside binary bytes replaced.

use std::borrow::Cow;

use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use crate::record::{BodyEncoding, Redaction, Ws};
use crate::redact::Redactor;

/// Bytes of base64 text below which a payload is not tried as base64: short words are valid
/// base64 too.
const MIN_BASE64_TEXT: usize = 16;
/// Printable bytes in a row below which a run inside binary bytes is not searched.
const MIN_TEXT_RUN: usize = 8;

/// Decodes standard base64 with or without padding.
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Decodes URL-safe base64 with or without padding.
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A payload as stored: `encoding` says how `data` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub encoding: BodyEncoding,
    pub data: String,
    pub redaction: Option<Redaction>,
}

/// Stores `bytes`: UTF-8 without NUL bytes as text (a `truncated` payload cut inside a
/// character keeps its whole characters), anything else as base64; credentials redacted.
pub(crate) fn store(bytes: Vec<u8>, truncated: bool, redactor: &Redactor) -> Stored {
    match into_text(bytes, truncated) {
        Ok(text) => store_text(text, redactor),
        Err(bytes) => store_binary(bytes, redactor),
    }
}

/// `bytes` as text when they are UTF-8 without NUL bytes; the bytes back otherwise.
fn into_text(mut bytes: Vec<u8>, truncated: bool) -> Result<String, Vec<u8>> {
    if bytes.contains(&0) {
        return Err(bytes);
    }
    let valid = match std::str::from_utf8(&bytes) {
        Ok(_) => bytes.len(),
        Err(e) if truncated && e.error_len().is_none() => e.valid_up_to(),
        Err(_) => return Err(bytes),
    };
    bytes.truncate(valid);
    Ok(String::from_utf8(bytes).expect("checked to be UTF-8"))
}

/// Text redacted where it stands; base64 text whose decoded content carries a credential is
/// stored decoded and redacted instead ([`Redaction::Base64Text`]).
pub(crate) fn store_text(text: String, redactor: &Redactor) -> Stored {
    if let Some(stored) = redacted_base64_text(&text, redactor) {
        return stored;
    }
    let data = match redactor.text(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(redacted) => redacted,
    };
    Stored {
        encoding: BodyEncoding::Utf8,
        data,
        redaction: None,
    }
}

/// Binary bytes as base64, credential text inside them replaced ([`Redaction::Binary`]).
pub(crate) fn store_binary(bytes: Vec<u8>, redactor: &Redactor) -> Stored {
    let (bytes, redaction) = match redact_binary(&bytes, redactor) {
        Some(redacted) => (redacted, Some(Redaction::Binary)),
        None => (bytes, None),
    };
    Stored {
        encoding: BodyEncoding::Base64,
        data: base64_in_place(bytes),
        redaction,
    }
}

/// Input bytes encoded per step of [`base64_in_place`]: a multiple of 3, so that only the last
/// step pads.
const IN_PLACE_STEP: usize = 3 * 1024;

/// The capacity a buffer of `len` bytes needs for [`base64_in_place`] to encode it without
/// moving to a larger one: the length of its base64 form (RFC 4648 §4, padded).
#[must_use]
pub fn base64_capacity(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// `bytes` as standard padded base64 (RFC 4648 §4), written over them in their own buffer, so a
/// large body is never held twice (its bytes and its base64 form). The buffer grows to
/// [`base64_capacity`] (in place when it already has that capacity); the steps go from the end
/// backwards: a step's 4/3-as-long output starts at or after its own input, on input already
/// encoded.
fn base64_in_place(mut bytes: Vec<u8>) -> String {
    let len = bytes.len();
    bytes.resize(base64_capacity(len), 0);
    let mut input = [0u8; IN_PLACE_STEP];
    let mut end = len;
    while end > 0 {
        let start = (end - 1) / IN_PLACE_STEP * IN_PLACE_STEP;
        let step = &mut input[..end - start];
        step.copy_from_slice(&bytes[start..end]);
        let out = start / 3 * 4;
        let out_end = out + base64_capacity(step.len());
        general_purpose::STANDARD
            .encode_slice(&*step, &mut bytes[out..out_end])
            .expect("the output slice is the encoded length");
        end = start;
    }
    String::from_utf8(bytes).expect("base64 is ASCII")
}

/// The decoded content of base64 `text`, redacted, when redaction changed it.
fn redacted_base64_text(text: &str, redactor: &Redactor) -> Option<Stored> {
    if !redactor.is_enabled() {
        return None;
    }
    let decoded = decode_base64_text(text)?;
    let stored = match into_text(decoded, false) {
        Ok(text) => Stored {
            encoding: BodyEncoding::Utf8,
            data: match redactor.text(&text) {
                Cow::Owned(redacted) => redacted,
                Cow::Borrowed(_) => return None,
            },
            redaction: Some(Redaction::Base64Text),
        },
        Err(bytes) => Stored {
            encoding: BodyEncoding::Base64,
            data: general_purpose::STANDARD.encode(redact_binary(&bytes, redactor)?),
            redaction: Some(Redaction::Base64Text),
        },
    };
    Some(stored)
}

/// `text` decoded as base64 (standard or URL-safe alphabet, padding optional, white space
/// between lines allowed), when all of it is base64 of at least [`MIN_BASE64_TEXT`] bytes.
pub(crate) fn decode_base64_text(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim();
    if trimmed.len() < MIN_BASE64_TEXT {
        return None;
    }
    let bytes = trimmed.as_bytes();
    // One pass says whether it is base64 at all, and whether it has white space to leave out
    // and URL-safe letters.
    let mut seen = 0;
    for &b in bytes {
        let class = BASE64_CLASS[usize::from(b)];
        if class == 0 {
            return None;
        }
        seen |= class;
    }
    // Line breaks are rare: most base64 text is decoded where it stands, without a copy.
    let compact: Cow<'_, [u8]> = if seen & WHITE_SPACE != 0 {
        Cow::Owned(
            bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        )
    } else {
        Cow::Borrowed(bytes)
    };
    let engine = if seen & URL_SAFE != 0 {
        &URL_SAFE_ANY_PADDING
    } else {
        &STANDARD_ANY_PADDING
    };
    engine.decode(compact).ok()
}

/// [`BASE64_CLASS`]: a letter of both alphabets, a digit, `+`, `/` or `=`.
const ALPHABET: u8 = 1;
/// [`BASE64_CLASS`]: ASCII white space.
const WHITE_SPACE: u8 = 2;
/// [`BASE64_CLASS`]: `-` or `_`, of the URL-safe alphabet only.
const URL_SAFE: u8 = 4;

/// What each byte can be in base64 text ([`ALPHABET`], [`WHITE_SPACE`], [`URL_SAFE`]); 0:
/// nothing, the text is not base64.
const BASE64_CLASS: [u8; 256] = {
    let mut classes = [0; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        classes[i] = if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            ALPHABET
        } else if b == b'-' || b == b'_' {
            URL_SAFE
        } else if b.is_ascii_whitespace() {
            WHITE_SPACE
        } else {
            0
        };
        i += 1;
    }
    classes
};

/// `bytes` with credential text inside replaced: every run of at least [`MIN_TEXT_RUN`]
/// printable ASCII bytes is redacted as text. `None` when nothing changed.
fn redact_binary(bytes: &[u8], redactor: &Redactor) -> Option<Vec<u8>> {
    if !redactor.is_enabled() {
        return None;
    }
    let mut out = Vec::new();
    let mut copied = 0;
    for (start, end) in text_runs(bytes) {
        let run = std::str::from_utf8(&bytes[start..end]).expect("printable ASCII is UTF-8");
        if let Cow::Owned(redacted) = redactor.text(run) {
            out.extend_from_slice(&bytes[copied..start]);
            out.extend_from_slice(redacted.as_bytes());
            copied = end;
        }
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&bytes[copied..]);
    Some(out)
}

/// Bytes read per step by [`plain_binary`].
const SCAN_STEP: usize = 64 * 1024;

/// Whether [`store`] would store what `reader` yields as its base64 unchanged, read in steps
/// of [`SCAN_STEP`]: the bytes hold a NUL byte (binary, whatever else they hold) and no
/// printable run that redaction would change. A run that crosses steps is carried whole to the
/// next, so every run is judged as [`redact_binary`] judges it.
///
/// # Errors
/// Any error reading `reader`.
pub(crate) fn plain_binary(
    reader: &mut dyn std::io::Read,
    redactor: &Redactor,
) -> std::io::Result<bool> {
    let mut work = Vec::with_capacity(SCAN_STEP);
    let mut nul = false;
    loop {
        let kept = work.len();
        work.resize(kept + SCAN_STEP, 0);
        let n = read_some(reader, &mut work[kept..])?;
        work.truncate(kept + n);
        let end = n == 0;
        nul |= work[kept..].contains(&0);
        // Until the end, the printable bytes at the tail may go on in the next step.
        let judged = if end {
            work.len()
        } else {
            work.iter()
                .rposition(|b| !printable(b))
                .map_or(0, |i| i + 1)
        };
        if redactor.is_enabled() && changes_a_run(&work[..judged], redactor) {
            return Ok(false);
        }
        if end {
            return Ok(nul);
        }
        work.drain(..judged);
    }
}

/// Whether what `reader` yields holds a NUL byte, read in steps of [`SCAN_STEP`]: bytes
/// without one are text to [`store`], never stored as their base64 unchanged.
///
/// # Errors
/// Any error reading `reader`.
pub(crate) fn holds_nul(reader: &mut dyn std::io::Read) -> std::io::Result<bool> {
    let mut step = vec![0u8; SCAN_STEP];
    loop {
        let n = read_some(reader, &mut step)?;
        if n == 0 {
            return Ok(false);
        }
        if step[..n].contains(&0) {
            return Ok(true);
        }
    }
}

/// One read into `buf`, tried again when interrupted.
fn read_some(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

/// Whether redaction changes any run of printable bytes in `bytes`.
fn changes_a_run(bytes: &[u8], redactor: &Redactor) -> bool {
    text_runs(bytes).into_iter().any(|(start, end)| {
        let run = std::str::from_utf8(&bytes[start..end]).expect("printable ASCII is UTF-8");
        matches!(redactor.text(run), Cow::Owned(_))
    })
}

/// A byte of a text run: printable ASCII, tab or a line break.
fn printable(b: &u8) -> bool {
    matches!(b, 0x20..=0x7e | b'\t' | b'\r' | b'\n')
}

/// Start and end of every run of at least [`MIN_TEXT_RUN`] printable ASCII bytes (tab and
/// line breaks included).
fn text_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (printable(b), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= MIN_TEXT_RUN {
                    runs.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start.filter(|s| bytes.len() - s >= MIN_TEXT_RUN) {
        runs.push((s, bytes.len()));
    }
    runs
}

/// Redacts a `ws` record's payload as a body's is redacted: text where it stands (base64
/// text decoded when it carries a credential), and credential text inside binary messages.
///
/// ```
/// use phonehome_record::{redact_ws, BodyEncoding, Direction, FlowId, Redaction, Redactor, Ws};
/// use base64::Engine as _;
/// let key = format!("sk-ant-{}", "a".repeat(24));
/// let mut frame = vec![0x80, 0x01];
/// frame.extend_from_slice(key.as_bytes());
/// let mut ws = Ws {
///     ts: "2026-01-01T00:00:00.000Z".into(),
///     flow: FlowId(1),
///     dir: Direction::Up,
///     opcode: "binary".into(),
///     size: frame.len() as u64,
///     encoding: BodyEncoding::Base64,
///     data: base64::engine::general_purpose::STANDARD.encode(&frame),
///     truncated: false,
///     redaction: None,
/// };
/// redact_ws(&mut ws, &Redactor::new());
/// assert_eq!(ws.redaction, Some(Redaction::Binary));
/// let stored = base64::engine::general_purpose::STANDARD.decode(&ws.data).expect("base64");
/// assert!(!String::from_utf8_lossy(&stored).contains(&key));
/// ```
pub fn redact_ws(ws: &mut Ws, redactor: &Redactor) {
    if !redactor.is_enabled() {
        return;
    }
    let data = std::mem::take(&mut ws.data);
    let stored = match ws.encoding {
        BodyEncoding::Utf8 => store_text(data, redactor),
        BodyEncoding::Base64 => match general_purpose::STANDARD.decode(&data) {
            Ok(bytes) => store_binary(bytes, redactor),
            Err(_) => Stored {
                encoding: BodyEncoding::Base64,
                data,
                redaction: None,
            },
        },
    };
    ws.encoding = stored.encoding;
    ws.data = stored.data;
    ws.redaction = stored.redaction;
}

#[cfg(test)]
mod tests;
