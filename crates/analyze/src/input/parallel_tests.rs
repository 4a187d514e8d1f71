use proptest::prelude::*;

use super::*;
use phonehome_record::{CaptureReader, ReadError};

const HEADER: &str = r#"{"type":"capture","ts":"2026-01-01T00:00:00.000Z","format":"phonehome/1","id":"1","tool_version":"0","mode":"proxy","command":[],"cwd":"/","policy":"observe","options":{}}"#;
const DNS: &str =
    r#"{"type":"dns","ts":"2026-01-01T00:00:00.000Z","query":"a.test","qtype":"A","answers":[]}"#;

/// Items as comparable text: the record, or the error with its line.
fn both(text: &[u8]) -> (Vec<String>, Vec<String>) {
    let show = |item: Result<(usize, Record), ReadError>| match item {
        Ok((line, record)) => format!("{line} {record:?}"),
        Err(e) => format!("error {e} torn={}", e.is_torn_tail()),
    };
    let parallel: Vec<String> = Records::<_, Record>::new(text, Progress::default())
        .map(show)
        .collect();
    let seekable: Vec<String> =
        Records::<_, Record>::seekable(std::io::Cursor::new(text), Progress::default())
            .map(show)
            .collect();
    assert_eq!(seekable, parallel, "a seekable input reads the same");
    let sequential = CaptureReader::new(text)
        .map(|item| item.map(|item| (item.line, item.record)))
        .map(show)
        .collect();
    (parallel, sequential)
}

#[test]
fn agrees_with_the_sequential_reader_on_edge_cases() {
    let cases = [
        format!("{HEADER}\n{DNS}\n"),
        format!("\n\n{HEADER}\n\n{DNS}\r\n  \n{DNS}"),
        format!("{HEADER}\n{DNS}\n{{\"type\":\"end\",\"ts\""),
        format!("{HEADER}\nnot json\n{DNS}\n"),
        format!("{DNS}\n{HEADER}\n"),
        HEADER.replace("phonehome/1", "phonehome/9"),
        String::new(),
        "\n\n".to_owned(),
    ];
    for case in cases {
        let (parallel, sequential) = both(case.as_bytes());
        assert_eq!(parallel, sequential, "{case:?}");
    }
}

#[test]
fn a_long_body_line_is_read_alone_and_parsed_in_place_like_any_other() {
    let body = format!("line \"one\"\né {}", "b".repeat(CHUNK * 3));
    let request = serde_json::json!({
        "type": "request", "ts": "2026-01-01T00:00:00.000Z", "flow": 1, "conn": 1,
        "method": "POST", "url": "http://a.test/", "version": "HTTP/1.1", "headers": [],
        "body": {"size": 3, "encoding": "utf8", "data": body, "truncated": false},
    })
    .to_string();
    for tail in ["\n", "\r\n"] {
        let text = format!("{HEADER}\n{DNS}\n{request}{tail}{DNS}\n{request}{tail}");
        let (parallel, sequential) = both(text.as_bytes());
        assert_eq!(parallel.len(), 5);
        assert_eq!(parallel, sequential);
    }
    // The last line without its newline.
    let text = format!("{HEADER}\n{request}");
    let (parallel, sequential) = both(text.as_bytes());
    assert_eq!(parallel.len(), 2);
    assert_eq!(parallel, sequential);
    // Cut short: the last line is torn.
    let text = format!("{HEADER}\n{}", &request[..request.len() - 9]);
    let (parallel, sequential) = both(text.as_bytes());
    assert!(parallel[1].contains("torn=true"), "{parallel:?}");
    assert_eq!(parallel, sequential);
}

#[test]
fn lines_across_and_beyond_chunks_keep_their_numbers() {
    let long = format!(
        r#"{{"type":"dns","ts":"t","query":"{}","qtype":"A","answers":[]}}"#,
        "a".repeat(CHUNK * 2 + 17)
    );
    let mut text = format!("{HEADER}\n");
    for i in 0..20_000 {
        text.push_str(if i == 7_000 { &long } else { DNS });
        text.push('\n');
    }
    text.push_str("{\"type\":");
    let (parallel, sequential) = both(text.as_bytes());
    assert_eq!(parallel.len(), 20_002);
    assert_eq!(parallel, sequential);
}

proptest! {
    #[test]
    fn agrees_with_the_sequential_reader(
        lines in proptest::collection::vec(
            prop_oneof![Just(DNS.to_owned()), Just(String::new()), Just("{\"type\"".to_owned()), "[ -~]{0,8}"],
            0..40,
        ),
        newline_at_end in any::<bool>(),
    ) {
        let mut text = format!("{HEADER}\n{}", lines.join("\n"));
        if newline_at_end {
            text.push('\n');
        }
        let (parallel, sequential) = both(text.as_bytes());
        prop_assert_eq!(parallel, sequential);
    }
}

proptest! {
    #[test]
    fn lines_split_as_split_inclusive_does(bytes in proptest::collection::vec(
        prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()],
        0..200,
    )) {
        let found: Vec<&[u8]> = lines_inclusive(&bytes).collect();
        let expected: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        prop_assert_eq!(found, expected);
    }
}
