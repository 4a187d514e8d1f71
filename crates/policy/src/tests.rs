//! The policy's rules on hosts, requests and connecting processes.

use super::*;

fn catalog() -> Catalog {
    Catalog::builtin()
}

fn decide(policy: &Policy, host: &str) -> Action {
    match policy.decide_host(host, 443, &Connecting::unknown(), &catalog()) {
        HostDecision::Decided(d) => d.action,
        HostDecision::PerRequest => panic!("per request"),
    }
}

#[test]
fn presets() {
    let offline = Policy::preset("offline").expect("preset");
    assert_eq!(decide(&offline, "127.0.0.1"), Action::Allow);
    assert_eq!(decide(&offline, "localhost"), Action::Allow);
    assert_eq!(decide(&offline, "api.openai.com"), Action::Deny);
    let llm = Policy::preset("llm-only").expect("preset");
    assert_eq!(decide(&llm, "api.openai.com"), Action::Allow);
    assert_eq!(decide(&llm, "us.i.posthog.com"), Action::Deny);
    assert_eq!(decide(&llm, "::1"), Action::Allow);
    let observe = Policy::preset("observe").expect("preset");
    assert_eq!(decide(&observe, "anything.test"), Action::Allow);
    assert!(!observe.can_deny());
}

#[test]
fn first_match_wins_and_labels_name_the_rule() {
    let text = "default = \"deny\"\n[[rule]]\naction = \"deny\"\nhosts = [\"*.posthog.com\"]\n\n[[rule]]\naction = \"allow\"\npurposes = [\"telemetry\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("parses");
    match policy.decide_host("us.i.posthog.com", 443, &Connecting::unknown(), &catalog()) {
        HostDecision::Decided(d) => {
            assert_eq!(d.action, Action::Deny);
            assert_eq!(
                d.rule,
                "rule 1 (p.toml line 2: deny hosts [\"*.posthog.com\"])"
            );
        }
        other => panic!("{other:?}"),
    }
    match policy.decide_host("unknown.test", 443, &Connecting::unknown(), &catalog()) {
        HostDecision::Decided(d) => assert_eq!(d.rule, "default deny (p.toml)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn method_and_path_rules_decide_per_request() {
    let text = "[[rule]]\naction = \"deny\"\nhosts = [\"api.test\"]\nmethods = [\"post\"]\npaths = [\"/v1/*\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("parses");
    let c = catalog();
    assert_eq!(
        policy.decide_host("api.test", 443, &Connecting::unknown(), &c),
        HostDecision::PerRequest
    );
    assert_eq!(decide(&policy, "other.test"), Action::Allow);
    let unknown = Connecting::unknown();
    let request = |method, path| RequestInfo {
        host: "api.test",
        port: 443,
        method,
        path,
        package_registry: false,
        process: &unknown,
    };
    assert_eq!(
        policy
            .decide_request(&request("POST", "/v1/chat"), &c)
            .action,
        Action::Deny
    );
    assert_eq!(
        policy
            .decide_request(&request("GET", "/v1/chat"), &c)
            .action,
        Action::Allow
    );
    assert_eq!(
        policy
            .decide_request(&request("POST", "/v2/chat"), &c)
            .action,
        Action::Allow
    );
}

#[test]
fn errors_are_clear() {
    let e = Policy::load("nonsense-preset")
        .expect_err("unknown")
        .to_string();
    assert!(e.contains("observe, llm-only, offline"), "{e}");
    let e = Policy::parse(
        "[[rule]]\naction = \"deny\"\npurposes = [\"spying\"]\n",
        "p.toml",
    )
    .expect_err("purpose")
    .to_string();
    assert!(
        e.starts_with("p.toml: rule 1 (line 1)") && e.contains("valid purposes: llm-api"),
        "{e}"
    );
    let e = Policy::parse(
        "[[rule]]\naction = \"deny\"\nhosts = [\"[oops\"]\n",
        "p.toml",
    )
    .expect_err("glob")
    .to_string();
    assert!(e.contains("invalid pattern \"[oops\""), "{e}");
    let e = Policy::parse("default = \"maybe\"\n", "p.toml")
        .expect_err("toml")
        .to_string();
    assert!(e.starts_with("p.toml: line 1, column 11"), "{e}");
    assert!(
        e.contains("allow") && e.contains("deny"),
        "lists the valid actions: {e}"
    );
    let e = Policy::parse("[[rule]]\naction = \"deny\"\nhost = [\"x\"]\n", "p.toml")
        .expect_err("field")
        .to_string();
    assert!(e.contains("hosts"), "lists the valid fields: {e}");
}

fn process(exe: &str, own: Option<bool>) -> Connecting {
    Connecting {
        exe: Some(exe.to_owned()),
        own,
    }
}

fn action(policy: &Policy, host: &str, process: &Connecting) -> Action {
    match policy.decide_host(host, 443, process, &catalog()) {
        HostDecision::Decided(d) => d.action,
        HostDecision::PerRequest => panic!("per request"),
    }
}

#[test]
fn exe_rules_match_the_connecting_executable_and_not_an_unknown_process() {
    let text = "[[rule]]\naction = \"deny\"\nexe = [\"*/curl\"]\n";
    let policy = Policy::parse(text, "p.toml").expect("parses");
    assert_eq!(
        action(&policy, "x.test", &process("/usr/bin/curl", Some(false))),
        Action::Deny
    );
    assert_eq!(
        action(&policy, "x.test", &process("/usr/bin/wget", Some(false))),
        Action::Allow
    );
    assert_eq!(
        action(&policy, "x.test", &Connecting::unknown()),
        Action::Allow
    );
    // Not cached by host: the next process is decided again.
    assert_eq!(
        action(&policy, "x.test", &process("/opt/curl", None)),
        Action::Deny
    );
    match policy.decide_host("x.test", 443, &process("/usr/bin/curl", None), &catalog()) {
        HostDecision::Decided(d) => {
            assert_eq!(d.rule, "rule 1 (p.toml line 1: deny exe [\"*/curl\"])");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn own_rules_tell_the_agent_from_the_commands_it_ran() {
    let text = "default = \"deny\"\n[[rule]]\naction = \"allow\"\npurposes = [\"llm-api\"]\n\
                [[rule]]\naction = \"deny\"\nown = true\n[[rule]]\naction = \"allow\"\nown = false\n";
    let policy = Policy::parse(text, "p.toml").expect("parses");
    let agent = process("/usr/bin/node", Some(true));
    let tool = process("/usr/bin/node", Some(false));
    assert_eq!(action(&policy, "api.openai.com", &agent), Action::Allow);
    assert_eq!(action(&policy, "registry.test", &agent), Action::Deny);
    assert_eq!(action(&policy, "registry.test", &tool), Action::Allow);
    // Not told (no command, or not attributed): neither own rule matches; the default decides.
    assert_eq!(
        action(&policy, "registry.test", &process("/usr/bin/node", None)),
        Action::Deny
    );
    assert_eq!(
        action(&policy, "registry.test", &Connecting::unknown()),
        Action::Deny
    );
    let e = Policy::parse("[[rule]]\naction = \"deny\"\nown = \"yes\"\n", "p.toml")
        .expect_err("own is a boolean")
        .to_string();
    assert!(e.starts_with("p.toml: line 3"), "{e}");
}

#[test]
fn errors_keep_their_detail_typed() {
    let e = Policy::parse("default = \"maybe\"\n", "p.toml").expect_err("toml");
    let PolicyError::Syntax { origin, detail } = &e else {
        panic!("a syntax error: {e:?}");
    };
    assert_eq!(
        (origin.as_str(), detail.line, detail.column),
        ("p.toml", Some(1), Some(11))
    );
    // A directory exists but cannot be read as a file: the I/O error is the source.
    let dir = std::env::temp_dir();
    let e = Policy::load(dir.to_str().expect("UTF-8 temp dir")).expect_err("a directory");
    assert!(matches!(e, PolicyError::Read { .. }), "{e:?}");
    let source = std::error::Error::source(&e).expect("the I/O error");
    assert!(
        source.downcast_ref::<std::io::Error>().is_some(),
        "{source:?}"
    );
    assert!(e.to_string().ends_with(": cannot read"), "{e}");
}
