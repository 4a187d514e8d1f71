//! The property that redaction holds on the recorder's whole path: credentials planted at
//! random in every position a request, a response or a WebSocket message can carry them
//! never reach the capture file, in clear or in base64.

use base64::Engine as _;
use phonehome_record::{
    BodyEncoding, Capture, CaptureWriter, ConnId, Direction, FlowId, Mode, Record, Redactor,
    Target, Ws,
};
use proptest::prelude::*;

use super::{CapturedBody, Pending, Recorder, RecorderOptions};

/// Words that mark a credential's name, as the issue lists them.
const WORDS: &[&str] = &[
    "key",
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "signature",
    "apikey",
    "sessionid",
];

/// A credential name: an optional prefix word joined by `-`, `_` or `.` in any case, or by a
/// case change (`serviceKey`, which upper or lower case would glue into one word).
fn credential_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["", "x", "my", "client", "access", "service", "x-my"][..]),
        prop::sample::select(WORDS),
        prop::sample::select(&["-", "_", ".", "camel"][..]),
        0..3u8,
    )
        .prop_map(|(prefix, word, separator, case)| {
            let name = match (prefix, separator) {
                ("", _) => word.to_owned(),
                (prefix, "camel") => {
                    let mut chars = word.chars();
                    let first = chars.next().expect("words are not empty");
                    return format!("{prefix}{}{}", first.to_ascii_uppercase(), chars.as_str());
                }
                (prefix, separator) => format!("{prefix}{separator}{word}"),
            };
            match case {
                0 => name,
                1 => name.to_ascii_uppercase(),
                _ => name.to_ascii_lowercase(),
            }
        })
}

/// Opaque secrets: nothing about them but their name says what they are.
fn secrets() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[A-Za-z0-9]{12,32}", 7)
}

/// Everything a reader could recover from the file: its text, and every `data` decoded from
/// base64.
fn recoverable_text(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("capture written");
    let mut out = text.clone();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let data = [&value["data"], &value["body"]["data"]];
        for data in data.into_iter().filter_map(serde_json::Value::as_str) {
            for engine in [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::URL_SAFE,
            ] {
                if let Ok(bytes) = engine.decode(data.trim()) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
    out
}

fn header() -> Record {
    Record::Capture(Capture {
        ts: phonehome_record::now(),
        format: phonehome_record::FORMAT.to_owned(),
        id: "planted".into(),
        tool_version: "test".into(),
        mode: Mode::Proxy,
        command: Vec::new(),
        cwd: "/".into(),
        policy: "observe".into(),
        options: Default::default(),
        markers: Default::default(),
        agent: None,
    })
}

fn request(flow: u64, url: String, headers: Vec<(String, String)>, body: &[u8]) -> Pending {
    Pending::Request {
        record: phonehome_record::Request {
            ts: phonehome_record::now(),
            flow: FlowId(flow),
            conn: ConnId(1),
            method: "POST".into(),
            url,
            version: "HTTP/1.1".into(),
            headers,
            raw_header_names: Vec::new(),
            body: None,
            sinkhole: None,
            process: None,
            ancestry: Vec::new(),
        },
        head: super::HeadText::default(),
        target: Target {
            host: "h.test".into(),
            port: 80,
        },
        body: captured(body),
    }
}

fn captured(bytes: &[u8]) -> CapturedBody {
    CapturedBody {
        bytes: bytes.to_vec(),
        size: bytes.len() as u64,
        ..CapturedBody::default()
    }
}

fn binary_frame(payload: Vec<u8>) -> Record {
    Record::Ws(Ws {
        ts: phonehome_record::now(),
        flow: FlowId(1),
        dir: Direction::Up,
        opcode: "binary".into(),
        size: payload.len() as u64,
        encoding: BodyEncoding::Base64,
        data: base64::engine::general_purpose::STANDARD.encode(payload),
        truncated: false,
        redaction: None,
    })
}

/// Bytes that are surely not text: a NUL and a byte that never occurs in UTF-8.
fn binary(junk: &[u8], text: &str) -> Vec<u8> {
    let mut bytes = vec![0u8, 0xff];
    bytes.extend_from_slice(junk);
    bytes.push(0);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0xfe);
    bytes.extend_from_slice(junk);
    bytes
}

fn write_capture(path: &std::path::Path, records: Vec<Pending>, frames: Vec<Record>) {
    let writer = CaptureWriter::create(path).expect("capture file");
    let options = RecorderOptions {
        redactor: Redactor::new(),
        ..RecorderOptions::default()
    };
    let (recorder, task) = Recorder::start(writer, header(), options).expect("recorder");
    for pending in records {
        // As the tee does: a body's bytes are reserved before its record is queued (the
        // writer releases both; without this the count of bytes held would wrap below zero).
        let (Pending::Request { body, .. } | Pending::Response { body, .. }) = &pending;
        assert!(recorder.reserve(body.bytes.len()), "within the budget");
        recorder.pending(pending);
    }
    for frame in frames {
        recorder.record(frame);
    }
    recorder.finish(None);
    task.wait().expect("written");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn planted_credentials_never_reach_the_capture(
        names in prop::collection::vec(credential_name(), 5),
        secrets in secrets(),
        key in "[A-Za-z0-9]{24,40}",
        junk in prop::collection::vec(any::<u8>(), 0..24),
        url_safe in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("scratch dir");
        let path = dir.path().join("planted.jsonl");
        let key_shape = format!("sk-ant-api03-{key}");
        let encode = |text: &str| if url_safe {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
        } else {
            base64::engine::general_purpose::STANDARD.encode(text)
        };
        let (header_name, param, field, member, member_in_binary) =
            (&names[0], &names[1], &names[2], &names[3], &names[4]);
        let requests = vec![
            // A header, a query parameter and a form field.
            request(
                1,
                format!("http://h.test/p?page=1&{param}={}&x=1", secrets[0]),
                vec![
                    (header_name.clone(), secrets[1].clone()),
                    ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ],
                format!("a=1&{field}={}&b=2", secrets[2]).as_bytes(),
            ),
            // A JSON member, and userinfo in an absolute-form URL.
            request(
                2,
                format!("http://user:{}@h.test/", secrets[3]),
                vec![("content-type".into(), "application/json".into())],
                format!(r#"{{"model":"m","data":{{"{member}":"{}"}}}}"#, secrets[4]).as_bytes(),
            ),
            // A base64 body carrying a key shape and a named credential.
            request(
                3,
                "http://h.test/upload".into(),
                Vec::new(),
                encode(&format!(r#"{{"note":"{key_shape}","{member}":"{}"}}"#, secrets[5])).as_bytes(),
            ),
        ];
        let frames = vec![
            binary_frame(binary(&junk, &key_shape)),
            binary_frame(binary(&junk, &format!(r#"{{"{member_in_binary}":"{}"}}"#, secrets[6]))),
        ];
        write_capture(&path, requests, frames);
        let stored = recoverable_text(&path);
        for (i, secret) in secrets.iter().enumerate() {
            prop_assert!(!stored.contains(secret.as_str()), "secret #{} {} stored:\n{}", i, secret, stored);
        }
        prop_assert!(!stored.contains(&key_shape), "key stored:\n{}", stored);
    }
}
