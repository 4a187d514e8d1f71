//! Tests of the redactor: headers, URLs, text rules and the redaction token.

use super::*;
use proptest::prelude::*;

#[test]
fn bearer_keeps_scheme() {
    let r = Redactor::new();
    let v = r.header("Authorization", "Bearer sk-abc");
    assert_eq!(v, format!("Bearer {}", fingerprint("sk-abc")));
}

#[test]
fn api_key_header_is_redacted_whole() {
    let r = Redactor::new();
    assert_eq!(r.header("x-api-key", "secret1"), fingerprint("secret1"));
    assert_eq!(r.header("X-Session-Token", "abc"), fingerprint("abc"));
    assert_eq!(r.header("content-type", "text/plain"), "text/plain");
}

#[test]
fn query_key_is_redacted() {
    let r = Redactor::new();
    let url = r.url("https://h.test/v1/models?key=AIzaNOPE&alt=sse#frag");
    assert_eq!(
        url,
        format!(
            "https://h.test/v1/models?key={}&alt=sse#frag",
            fingerprint("AIzaNOPE")
        )
    );
    assert_eq!(
        r.url("https://h.test/a?monkey=1"),
        "https://h.test/a?monkey=1"
    );
}

#[test]
fn key_shapes_in_text() {
    let r = Redactor::new();
    let key = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA";
    let body = format!(r#"{{"note":"use {key} please"}}"#);
    let out = r.text(&body);
    assert!(!out.contains(key), "{out}");
    assert!(out.contains(&fingerprint(key)));
}

#[test]
fn json_secret_members() {
    let r = Redactor::new();
    let out = r.text(r#"{"user":"a","password":"hunter22","max_tokens":5}"#);
    assert_eq!(
        out,
        format!(
            r#"{{"user":"a","password":"{}","max_tokens":5}}"#,
            fingerprint("hunter22")
        )
    );
}

#[test]
fn literal_secrets() {
    let r = Redactor::new().with_secrets(["my-own-secret-value".to_owned(), "short".into()]);
    let out = r.text("x my-own-secret-value y short");
    assert_eq!(
        out,
        format!("x {} y short", fingerprint("my-own-secret-value"))
    );
}

#[test]
fn credential_headers_written_in_text() {
    let r = Redactor::new();
    let out =
        r.text("curl -H 'Authorization: Bearer abcdefgh12345' -H \"x-api-key: zyxwvut98765\" x");
    assert_eq!(
        out,
        format!(
            "curl -H 'Authorization: Bearer {}' -H \"x-api-key: {}\" x",
            fingerprint("abcdefgh12345"),
            fingerprint("zyxwvut98765")
        )
    );
}

#[test]
fn learned_credentials_are_redacted_everywhere() {
    let mut r = Redactor::new();
    let value = "Bearer opaque-token-value-123";
    let credential = Redactor::credential("Authorization", value).expect("credential");
    assert_eq!(credential, "opaque-token-value-123");
    assert_eq!(Redactor::credential("accept", "x"), None);
    r.learn(credential);
    let out = r.text(r#"{"echo":"Bearer opaque-token-value-123"}"#);
    assert_eq!(
        out,
        format!(r#"{{"echo":"Bearer {}"}}"#, fingerprint(credential))
    );
}

#[test]
fn redaction_tokens_round_trip() {
    let token = fingerprint("sk-test");
    assert_eq!(
        parse_redaction_token(&token),
        Some(fingerprint_hex("sk-test").as_str())
    );
    assert_eq!(parse_redaction_token("[REDACTED:]"), None);
    assert_eq!(parse_redaction_token("[REDACTED:0a1b2c3]"), None);
    assert_eq!(parse_redaction_token("[REDACTED:0a1b2c3g]"), None);
}

#[test]
fn argv_redacts_credential_flags_and_key_shapes() {
    let r = Redactor::new().with_secrets(["known-secret-value".to_owned()]);
    let key = format!("sk-ant-{}", "a".repeat(30));
    let argv = [
        "agent",
        "--api-key",
        "plainvalue",
        "--client-secret=s3cr3tvalue",
        "--no-password",
        "db",
        "--password-file",
        "/run/pw",
        &key,
        "x=known-secret-value",
        "--token",
        "--verbose",
    ]
    .map(String::from);
    let out = r.argv(&argv);
    assert_eq!(
        out,
        [
            "agent".to_owned(),
            "--api-key".into(),
            fingerprint("plainvalue"),
            format!("--client-secret={}", fingerprint("s3cr3tvalue")),
            "--no-password".into(),
            "db".into(),
            "--password-file".into(),
            "/run/pw".into(),
            fingerprint(&key),
            format!("x={}", fingerprint("known-secret-value")),
            "--token".into(),
            "--verbose".into(),
        ]
    );
    assert_eq!(r.argv(&out), out, "redacting twice changes nothing");
    assert_eq!(Redactor::disabled().argv(&argv), argv.to_vec());
}

#[test]
fn disabled_changes_nothing() {
    let r = Redactor::disabled();
    assert_eq!(r.header("authorization", "Bearer x"), "Bearer x");
}

proptest! {
    #[test]
    fn planted_keys_never_survive(prefix in "([a-z ]{0,19}[ ,:\"])?", key in "[A-Za-z0-9]{20,40}", suffix in "([ ,:\"][a-z ]{0,19})?") {
        let r = Redactor::new();
        for planted in [format!("sk-{key}"), format!("sk-ant-{key}"), format!("ghp_{key}")] {
            let text = format!("{prefix}{planted}{suffix}");
            let out = r.text(&text);
            prop_assert!(!out.contains(&planted));
            prop_assert!(out.contains(&fingerprint(&planted)));
        }
    }

    /// A random secret under every kind of credential name, in every position the rule
    /// covers: header, JSON member, OTLP attribute, `{"name","value"}` item, header array,
    /// query parameter, form field, header line in text, command-line flag.
    #[test]
    fn planted_secrets_under_credential_names_never_survive(
        secret in "[a-z]{3}[0-9]{2}[A-Za-z0-9]{12,30}",
        name in proptest::sample::select(&[
            "Authorization", "x-api-key", "X-My-Service-Key", "api_key", "password",
            "access_token", "client_secret", "key", "auth", "session_key", "X-Auth", "sig",
            "writeKey", "sdkKey", "http.request.header.cookie",
        ][..]),
    ) {
        let r = Redactor::new();
        let texts = [
            r.header(name, &secret),
            r.header(name, &format!("Bearer {secret}")),
            r.text(&format!(r#"{{"{name}":"{secret}"}}"#)).into_owned(),
            r.text(&format!(r#"{{"key":"{name}","value":{{"stringValue":"{secret}"}}}}"#)).into_owned(),
            r.text(&format!(r#"[{{"name":"{name}","value":"{secret}"}}]"#)).into_owned(),
            r.text(&format!(r#"[["{name}","{secret}"]]"#)).into_owned(),
            r.url(&format!("https://h.test/p?page=2&{name}={secret}")),
            r.text(&format!("grant_type=x&{name}={secret}")).into_owned(),
            r.text(&format!("curl -H 'X-{name}: {secret}' http://h.test/")).into_owned(),
            r.argv(&["tool".into(), format!("--{name}={secret}"), "--api-key".into(), secret.clone()]).join(" "),
        ];
        for (i, text) in texts.iter().enumerate() {
            if i == 8 && name.contains('.') {
                continue; // no header is named with dots
            }
            prop_assert!(!text.contains(&secret), "position {}: {}", i, text);
        }
    }

    #[test]
    fn redaction_is_idempotent(text in ".{0,80}") {
        let r = Redactor::new();
        let once = r.text(&text).into_owned();
        let twice = r.text(&once).into_owned();
        prop_assert_eq!(once, twice);
    }
}

#[test]
fn custom_credential_headers() {
    let r = Redactor::new();
    for name in [
        "X-My-Service-Key",
        "X-Auth",
        "X-Access-Key",
        "X-Client-Secret",
    ] {
        assert_eq!(
            r.header(name, "opaque-1"),
            fingerprint("opaque-1"),
            "{name}"
        );
    }
    for name in [
        "x-session-id",
        "x-ratelimit-remaining-tokens",
        "sec-websocket-key",
    ] {
        assert_eq!(r.header(name, "value-12"), "value-12", "{name}");
    }
}

#[test]
fn form_bodies() {
    let r = Redactor::new();
    let out = r.text("grant_type=client_credentials&client_id=app&client_secret=s%2B3cret&token=t0k3nvalue&password=hunter2");
    assert_eq!(
        out,
        format!(
            "grant_type=client_credentials&client_id=app&client_secret={}&token={}&password={}",
            fingerprint("s+3cret"),
            fingerprint("t0k3nvalue"),
            fingerprint("hunter2")
        )
    );
    assert_eq!(r.text("a=1&b=2&monkey=3"), "a=1&b=2&monkey=3");
}

#[test]
fn name_value_pairs_in_text() {
    let r = Redactor::new();
    let out = r.text(r#"{"content":"my .env:\nAPI_KEY=abc123xyz\nDEBUG=1"}"#);
    assert_eq!(
        out,
        format!(
            r#"{{"content":"my .env:\nAPI_KEY={}\nDEBUG=1"}}"#,
            fingerprint("abc123xyz")
        )
    );
    let link = r.text("see https://h.test/cb?code=1&access_token=qwerty12 now");
    assert_eq!(
        link,
        format!(
            "see https://h.test/cb?code=1&access_token={} now",
            fingerprint("qwerty12")
        )
    );
}

#[test]
fn json_members_named_like_credentials() {
    let r = Redactor::new();
    let out = r.text(
        r#"{"client_secret": "c\"s","serviceKey":"k1Zq8WmXr4","cache_key":"k1","session_id":"ses_1","user":{"authToken":"t1"},"max_tokens":5}"#,
    );
    // `serviceKey` is a weak name (`key`): a random-looking value is redacted, a short one
    // (`cache_key: k1`) is not; strong names (`secret`, `token`) redact any value.
    assert_eq!(
        out,
        format!(
            r#"{{"client_secret": "{}","serviceKey":"{}","cache_key":"k1","session_id":"ses_1","user":{{"authToken":"{}"}},"max_tokens":5}}"#,
            fingerprint(r#"c\"s"#),
            fingerprint("k1Zq8WmXr4"),
            fingerprint("t1")
        )
    );
}

#[test]
fn userinfo_in_urls() {
    let r = Redactor::new();
    assert_eq!(
        r.url("http://user:p%40ss@h.test:8080/x"),
        format!("http://user:{}@h.test:8080/x", fingerprint("p@ss"))
    );
    assert_eq!(
        r.url("https://ghp_opaque@github.test/o/r.git"),
        format!("https://{}@github.test/o/r.git", fingerprint("ghp_opaque"))
    );
    assert_eq!(
        r.url("http://h.test/a@b?x=1"),
        "http://h.test/a@b?x=1",
        "an @ in the path is no userinfo"
    );
    let once = r.url("http://user:pass@h.test/");
    assert_eq!(r.url(&once), once, "redacting twice changes nothing");
    assert_eq!(
        r.text("clone https://me:hunter22@git.test/r.git please"),
        format!(
            "clone https://me:{}@git.test/r.git please",
            fingerprint("hunter22")
        )
    );
}

#[test]
fn otlp_attributes_are_judged_under_their_key() {
    let r = Redactor::new();
    let body = r#"[{"key":"service.version","value":{"stringValue":"3.0.65"}},{"key":"auth_provider","value":{"stringValue":"anthropic"}},{"key":"api_key","value":{"stringValue":"Zq4xW8mR2kLp9sT3vY6b"}},{"key": "http.request.header.x-api-key", "value": {"arrayValue": {"values": [{"stringValue": "k9dK2mQ7xZ4wR8vL3"}]}}},{"key":"http.request.header.authorization","value":{"stringValue":"Bearer a8Kd92jfQ0wLzX7cVb3nM5"}}]"#;
    let out = r.text(body);
    assert_eq!(
        out,
        format!(
            r#"[{{"key":"service.version","value":{{"stringValue":"3.0.65"}}}},{{"key":"auth_provider","value":{{"stringValue":"anthropic"}}}},{{"key":"api_key","value":{{"stringValue":"{}"}}}},{{"key": "http.request.header.x-api-key", "value": {{"arrayValue": {{"values": [{{"stringValue": "{}"}}]}}}}}},{{"key":"http.request.header.authorization","value":{{"stringValue":"Bearer {}"}}}}]"#,
            fingerprint("Zq4xW8mR2kLp9sT3vY6b"),
            fingerprint("k9dK2mQ7xZ4wR8vL3"),
            fingerprint("a8Kd92jfQ0wLzX7cVb3nM5"),
        )
    );
}

#[test]
fn name_value_lists_and_header_arrays() {
    let r = Redactor::new();
    let out = r.text(
        r#"{"params":[{"name":"api-key","value":"nvList4r5t6y7u8i"},{"name":"token_type","value":"bearer"}],"headers":[["authorization","Bearer hdrArr9a8s7d6f5g"],["content-type","application/json"]]}"#,
    );
    assert_eq!(
        out,
        format!(
            r#"{{"params":[{{"name":"api-key","value":"{}"}},{{"name":"token_type","value":"bearer"}}],"headers":[["authorization","Bearer {}"],["content-type","application/json"]]}}"#,
            fingerprint("nvList4r5t6y7u8i"),
            fingerprint("hdrArr9a8s7d6f5g"),
        )
    );
}

#[test]
fn telemetry_values_that_are_no_secret_stay() {
    let r = Redactor::new();
    for body in [
        r#"{"auth_provider":"anthropic","auth":"subscription","token_type":"Bearer","has_api_key":"true"}"#,
        r#"{"key":"Enter","cache_key":"k1","sessionKeyRotation":"daily","auth":"none"}"#,
        r#"{"password_strength":"strong","api_key_source":"ANTHROPIC_API_KEY","key":"gen_ai.system"}"#,
        "X-Auth: anthropic",
    ] {
        assert_eq!(r.text(body), body);
    }
    assert_eq!(r.header("x-api-key-enabled", "true"), "true");
    assert_eq!(r.header("X-Auth-Provider", "github"), "github");
}

#[test]
fn credential_headers_with_any_name_in_text() {
    let r = Redactor::new();
    let arg = "curl -s \\\n  -H 'X-My-Service-Key: mK7q2Zx9WvB4rT8y' \\\n  http://127.0.0.1:9/";
    let out = r.text(arg);
    assert!(!out.contains("mK7q2Zx9WvB4rT8y"), "{out}");
    assert!(out.contains(&format!(
        "X-My-Service-Key: {}",
        fingerprint("mK7q2Zx9WvB4rT8y")
    )));
    let code = "const token = getToken(); let auth_mode: string;";
    assert_eq!(r.text(code), code, "code identifiers are no header names");
}

#[test]
fn argv_lines_flags_and_base64() {
    use base64::Engine as _;
    let r = Redactor::new();
    let planted = "Hq8z3Xv7Lm2Rk9WsQ4";
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{{\"password\":\"{planted}\"}}"));
    let argv = [
        "sh".to_owned(),
        "-c".into(),
        format!("curl -H 'X-My-Service-Key: {planted}' \\\n http://127.0.0.1:9/ && export API_TOKEN={planted}x"),
        "--max-tokens".into(),
        "100".into(),
        "--token=true".into(),
        format!("--data={encoded}"),
        "--payload".into(),
        encoded.clone(),
        "aGVsbG8gd29ybGQsIGhvdyBhcmUgeW91".into(),
    ];
    let out = r.argv(&argv);
    let joined = out.join(" ");
    assert!(!joined.contains(planted), "{joined}");
    assert!(!joined.contains(&encoded), "{joined}");
    assert_eq!(out[4], "100", "a number under a credential-like flag");
    assert_eq!(out[5], "--token=true");
    assert_eq!(out[8], fingerprint(&encoded));
    assert_eq!(out[9], argv[9], "base64 that carries no credential");
    assert_eq!(r.argv(&out), out, "redacting twice changes nothing");
}
