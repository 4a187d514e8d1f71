//! Tests of payload redaction: base64 text, binary bytes with text inside, WebSocket messages.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use super::*;
use crate::redact::fingerprint;

fn key() -> String {
    format!("sk-ant-api03-{}", "Q".repeat(30))
}

#[test]
fn plain_text_is_redacted_in_place() {
    let stored = store(
        format!("x {} y", key()).into_bytes(),
        false,
        &Redactor::new(),
    );
    assert_eq!(stored.encoding, BodyEncoding::Utf8);
    assert_eq!(stored.data, format!("x {} y", fingerprint(&key())));
    assert_eq!(stored.redaction, None);
}

#[test]
fn base64_text_carrying_a_key_is_stored_decoded_and_redacted() {
    let json = format!(r#"{{"api_key":"opaque-value-1234","note":"{}"}}"#, key());
    for encoded in [STANDARD.encode(&json), URL_SAFE_NO_PAD.encode(&json)] {
        let stored = store(encoded.into_bytes(), false, &Redactor::new());
        assert_eq!(stored.redaction, Some(Redaction::Base64Text));
        assert_eq!(stored.encoding, BodyEncoding::Utf8);
        assert_eq!(
            stored.data,
            format!(
                r#"{{"api_key":"{}","note":"{}"}}"#,
                fingerprint("opaque-value-1234"),
                fingerprint(&key())
            )
        );
    }
}

#[test]
fn base64_text_with_line_breaks_and_a_known_secret() {
    let secret = "my-own-known-secret".to_owned();
    let encoded = STANDARD.encode(format!("the secret is {secret}, keep it"));
    let wrapped = format!("{}\r\n{}\r\n", &encoded[..20], &encoded[20..]);
    let stored = store(
        wrapped.into_bytes(),
        false,
        &Redactor::new().with_secrets([secret.clone()]),
    );
    assert_eq!(stored.redaction, Some(Redaction::Base64Text));
    assert!(!stored.data.contains(&secret), "{}", stored.data);
}

#[test]
fn base64_text_without_a_credential_is_kept_as_it_came() {
    let encoded = STANDARD.encode("nothing to see here, move along");
    let stored = store(encoded.clone().into_bytes(), false, &Redactor::new());
    assert_eq!(
        stored,
        Stored {
            encoding: BodyEncoding::Utf8,
            data: encoded,
            redaction: None,
        }
    );
}

#[test]
fn credential_text_inside_binary_is_replaced() {
    let mut bytes = vec![0u8, 0xff, 0x12];
    bytes.extend_from_slice(br#"{"password":"hunter2222"}"#);
    bytes.extend_from_slice(&[0x00, 0x80]);
    bytes.extend_from_slice(key().as_bytes());
    bytes.push(0xfe);
    let stored = store(bytes, false, &Redactor::new());
    assert_eq!(stored.encoding, BodyEncoding::Base64);
    assert_eq!(stored.redaction, Some(Redaction::Binary));
    let back = STANDARD.decode(&stored.data).expect("base64");
    let mut expected = vec![0u8, 0xff, 0x12];
    expected
        .extend_from_slice(format!(r#"{{"password":"{}"}}"#, fingerprint("hunter2222")).as_bytes());
    expected.extend_from_slice(&[0x00, 0x80]);
    expected.extend_from_slice(fingerprint(&key()).as_bytes());
    expected.push(0xfe);
    assert_eq!(back, expected);
}

#[test]
fn binary_without_credentials_is_kept() {
    let bytes = vec![0u8, 1, 2, 200, b'h', b'e', b'l', b'l', b'o'];
    let stored = store(bytes.clone(), false, &Redactor::new());
    assert_eq!(stored.redaction, None);
    assert_eq!(STANDARD.decode(&stored.data).expect("base64"), bytes);
}

#[test]
fn disabled_redactor_keeps_everything() {
    let encoded = STANDARD.encode(key());
    let stored = store(encoded.clone().into_bytes(), false, &Redactor::disabled());
    assert_eq!(stored.data, encoded);
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(key().as_bytes());
    let stored = store(bytes.clone(), false, &Redactor::disabled());
    assert_eq!(STANDARD.decode(&stored.data).expect("base64"), bytes);
}

#[test]
fn text_runs_are_found_at_both_ends() {
    let bytes = b"abcdefgh\x00xy\x01ijklmnop";
    assert_eq!(text_runs(bytes), vec![(0, 8), (12, 20)]);
}

#[test]
fn base64_in_place_matches_the_base64_crate() {
    // Lengths around the step size and the padding cases, bytes of every value.
    let step = IN_PLACE_STEP;
    for len in [
        0,
        1,
        2,
        3,
        4,
        5,
        step - 1,
        step,
        step + 1,
        step + 2,
        2 * step,
        3 * step + 7,
    ] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        assert_eq!(
            base64_in_place(bytes.clone()),
            STANDARD.encode(&bytes),
            "{len} bytes"
        );
    }
}

#[test]
fn base64_in_place_stays_in_a_buffer_with_room() {
    let len = 5 * IN_PLACE_STEP + 2;
    let mut bytes = Vec::with_capacity(base64_capacity(len));
    bytes.extend((0..len).map(|i| (i % 256) as u8));
    let expected = STANDARD.encode(&bytes);
    let buffer = bytes.as_ptr();
    let encoded = base64_in_place(bytes);
    assert_eq!(encoded, expected);
    assert_eq!(encoded.as_ptr(), buffer, "encoded in the same buffer");
}

proptest::proptest! {
    #[test]
    fn base64_in_place_agrees_with_the_base64_crate(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..10_000)) {
        proptest::prop_assert_eq!(base64_in_place(bytes.clone()), STANDARD.encode(&bytes));
    }
}

/// What [`store`] does with `bytes`, as [`plain_binary`] predicts it: stored as their own
/// base64, unchanged.
fn stored_plain(bytes: &[u8], redactor: &Redactor) -> bool {
    let stored = store(bytes.to_vec(), true, redactor);
    stored.encoding == BodyEncoding::Base64
        && stored.redaction.is_none()
        && stored.data == STANDARD.encode(bytes)
}

fn scan(bytes: &[u8], redactor: &Redactor) -> bool {
    plain_binary(&mut &bytes[..], redactor).expect("read from memory")
}

#[test]
fn plain_binary_sees_a_key_across_steps() {
    for at in [
        0,
        SCAN_STEP - 20,
        SCAN_STEP - 1,
        SCAN_STEP,
        2 * SCAN_STEP + 3,
    ] {
        let mut bytes = vec![0u8; 3 * SCAN_STEP];
        bytes[at..at + key().len()].copy_from_slice(key().as_bytes());
        assert!(!scan(&bytes, &Redactor::new()), "key at {at}");
        assert!(!stored_plain(&bytes, &Redactor::new()));
        assert!(scan(&bytes, &Redactor::disabled()), "not redacted: plain");
    }
}

#[test]
fn a_nul_is_found_in_any_step_and_text_has_none() {
    let mut text = vec![b'a'; 2 * SCAN_STEP + 7];
    assert!(!holds_nul(&mut text.as_slice()).expect("read"));
    text[SCAN_STEP + 3] = 0;
    assert!(holds_nul(&mut text.as_slice()).expect("read"));
    assert!(!holds_nul(&mut [].as_slice()).expect("read"));
}

#[test]
fn plain_binary_needs_a_nul_byte() {
    assert!(scan(&vec![0u8; 3 * SCAN_STEP + 1], &Redactor::new()));
    assert!(
        !scan(&vec![0xffu8; SCAN_STEP + 1], &Redactor::new()),
        "no NUL: judged whole"
    );
    assert!(!scan(b"plain text", &Redactor::new()));
    assert!(!scan(b"", &Redactor::new()));
}

#[test]
fn plain_binary_carries_a_long_run_of_text() {
    let mut bytes = vec![b'a'; 2 * SCAN_STEP + 7];
    bytes.extend_from_slice(key().as_bytes());
    bytes.push(0);
    assert!(!scan(&bytes, &Redactor::new()));
    let mut clean = vec![b'a'; 2 * SCAN_STEP + 7];
    clean.push(0);
    assert!(scan(&clean, &Redactor::new()));
}

proptest::proptest! {
    /// Whenever the scan says plain, `store` stores the bytes as their own base64.
    #[test]
    fn plain_binary_agrees_with_store(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::collection::vec(proptest::num::u8::ANY, 0..64),
                proptest::strategy::Just(key().into_bytes()),
                proptest::strategy::Just(vec![0u8; 3]),
            ],
            0..12,
        )
    ) {
        let bytes: Vec<u8> = parts.concat();
        let redactor = Redactor::new();
        if scan(&bytes, &redactor) {
            proptest::prop_assert!(stored_plain(&bytes, &redactor));
        }
        if bytes.contains(&0) && stored_plain(&bytes, &redactor) {
            proptest::prop_assert!(scan(&bytes, &redactor));
        }
    }
}
