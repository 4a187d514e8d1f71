use super::{read_back, Format};

#[test]
fn formats_are_detected_by_content() {
    let cases = [
        ("default = \"deny\"\n", Format::Policy),
        ("", Format::Policy),
        ("api.openai.com\n# a comment\n", Format::Hosts),
        ("{\"allow\":[{\"host\":\"a.test\"}],\"deny\":[]}", Format::Json),
        (
            "{\"network\":{\"allowedDomains\":[\"a.test\"],\"deniedDomains\":[]}}",
            Format::Srt,
        ),
        (
            "{\"sandbox\":{\"network\":{\"allowedDomains\":[\"a.test\"]}}}",
            Format::ClaudeCode,
        ),
        (
            "default_permissions = \"p\"\n[permissions.p.network.domains]\n\"a.test\" = \"allow\"\n",
            Format::Codex,
        ),
        (
            "PHONEHOME_ALLOWED_DOMAINS=(\n    \"a.test\" # why\n)\n",
            Format::Firewall,
        ),
    ];
    for (text, format) in cases {
        let read = read_back(text, None).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(read.format, format, "{text}");
    }
}

#[test]
fn deny_entries_come_first_and_what_cannot_be_kept_is_noted() {
    let srt = r#"{"network":{"allowedDomains":["*.a.test","b.test:443","[::1]:8080"],"deniedDomains":["c.test"]}}"#;
    let read = read_back(srt, None).expect("srt");
    assert_eq!(
        read.policy,
        "default = \"deny\"\n\n[[rule]]\naction = \"deny\"\nhosts = [\"c.test\"]\n\n[[rule]]\naction = \"allow\"\nhosts = [\"*.a.test\", \"::1\", \"b.test\"]\n"
    );
    assert_eq!(read.notes.len(), 2, "{:?}", read.notes);
    let codex = "[permissions.phonehome.network.domains]\n\"**.a.test\" = \"allow\"\n\"*.b.test\" = \"deny\"\n";
    let read = read_back(codex, Some(Format::Codex)).expect("codex");
    assert!(
        read.policy.contains("hosts = [\"*.b.test\"]"),
        "{}",
        read.policy
    );
    assert!(
        read.policy.contains("hosts = [\"*.a.test\"]"),
        "{}",
        read.policy
    );
    assert!(
        read.notes[0].contains("one label in Codex"),
        "{:?}",
        read.notes
    );
}

#[test]
fn a_file_of_the_wrong_shape_is_an_error() {
    assert!(read_back("{\"network\":{}}", Some(Format::ClaudeCode)).is_err());
    assert!(read_back("x = 1\n", Some(Format::Codex)).is_err());
    assert!(read_back("echo hi\n", Some(Format::Firewall)).is_err());
    assert!(read_back("{\"deny\":[]}", Some(Format::Json)).is_err());
}
