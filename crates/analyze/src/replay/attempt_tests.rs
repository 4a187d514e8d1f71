use phonehome_record::{ConnId, FlowId};

use super::{parse_chunk, Attempt, Parsed};

fn attempts(chunk: &str) -> Vec<(usize, Parsed)> {
    parse_chunk(chunk.as_bytes(), 1)
}

#[test]
fn lines_are_numbered_blank_lines_skipped_and_a_torn_tail_marked() {
    let chunk = concat!(
        r#"{"type":"request","ts":"t","flow":1,"conn":1,"method":"POST","url":"https://a.test/v1/chat/completions","version":"HTTP/1.1","headers":[],"body":{"size":2,"encoding":"utf8","data":"{}","truncated":false}}"#,
        "\n\n",
        r#"{"type":"response","ts":"t","flow":1,"status":200,"reason":"","version":"HTTP/1.1","headers":[],"body":{"size":1,"encoding":"utf8","data":"x","truncated":false},"ttfb_ms":1,"duration_ms":1}"#,
        "\n",
        r#"{"type":"response","ts":"t","flo"#,
    );
    let parsed = attempts(chunk);
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[0].0, 1);
    assert!(
        matches!(&parsed[0].1, Parsed::Attempt(Attempt::Request(r)) if r.llm && r.host == "a.test" && r.port == 443)
    );
    assert_eq!(parsed[1].0, 3);
    assert!(matches!(
        parsed[1].1,
        Parsed::Attempt(Attempt::Response {
            flow: FlowId(1),
            status: 200
        })
    ));
    assert!(matches!(parsed[2].1, Parsed::Torn));
}

#[test]
fn a_line_in_another_key_order_is_parsed_whole() {
    let chunk = r#"{"type":"response","headers":[],"body":{"size":1,"encoding":"utf8","data":"x","truncated":false},"flow":7,"status":429}
"#;
    assert!(matches!(
        attempts(chunk)[0].1,
        Parsed::Attempt(Attempt::Response {
            flow: FlowId(7),
            status: 429
        })
    ));
    let bad = "{\"type\":\"request\",\n";
    assert!(matches!(attempts(bad)[0].1, Parsed::Bad(_)));
}

#[test]
fn connection_level_records_are_attempts_and_flow_errors_are_not() {
    let chunk = concat!(
        r#"{"type":"blocked","ts":"t","conn":3,"target":{"host":"X.test","port":443},"rule":"r","enforced":true}"#,
        "\n",
        r#"{"type":"error","ts":"t","flow":4,"target":{"host":"y.test","port":443},"phase":"connect","message":"m"}"#,
        "\n",
    );
    let parsed = attempts(chunk);
    assert!(matches!(
        &parsed[0].1,
        Parsed::Attempt(Attempt::Connection { conn: Some(ConnId(3)), host, port: 443, .. }) if host == "x.test"
    ));
    assert!(matches!(parsed[1].1, Parsed::Attempt(Attempt::Other)));
}
