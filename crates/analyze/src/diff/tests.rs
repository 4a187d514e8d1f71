use super::*;

#[test]
fn processes_section_in_markdown() {
    let side = |host: &str, n: u64| ProcessSide {
        connections: n,
        hosts: BTreeMap::from([(host.to_owned(), n)]),
    };
    let d = Diff {
        a: "a.jsonl".into(),
        b: "b.jsonl".into(),
        processes_only_in_b: vec!["python3".into()],
        processes: vec![
            ProcessDiff {
                exe: "curl".into(),
                a: Some(side("api.test", 2)),
                b: Some(side("api.test", 1)),
            },
            ProcessDiff {
                exe: "python3".into(),
                a: None,
                b: Some(side("telemetry.test", 1)),
            },
        ],
        ..Diff::default()
    };
    assert!(!d.is_empty());
    let md = render_markdown(&d);
    assert!(
        md.contains(
            "| executable | A | B |\n|---|---|---|\n| `curl` | api.test (2) | api.test (1) |\n| `python3` | — | telemetry.test (1) |\n\nOnly in B: `python3`\n"
        ),
        "{md}"
    );
}

#[test]
fn json_shapes() {
    let mut out = BTreeSet::new();
    shape(
        "",
        &serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true}),
        0,
        &mut out,
    );
    let lines: Vec<&str> = out.iter().map(String::as_str).collect();
    assert_eq!(
        lines,
        [
            "messages: array",
            "messages[].content: string",
            "messages[].role: string",
            "messages[]: object",
            "model: string",
            "stream: bool"
        ]
    );
}
