//! Tests of the value rule: names by strength, harmless values, the entropy gate.

use super::*;

#[test]
fn strong_names_redact_any_value_but_plainly_harmless_ones() {
    for value in [
        "abc",
        "secret1",
        "hunter2",
        "Bearer xyz",
        "swordfish",
        "a b c",
    ] {
        assert!(is_secret("password", value), "{value}");
        assert!(is_secret("Authorization", value), "{value}");
    }
    for value in [
        "",
        "true",
        "False",
        "null",
        "42",
        "-1.5e3",
        "1.2.3",
        "v20.11.1",
        "***",
        "xxxxxxxx",
        "${API_TOKEN}",
        "{{token}}",
        "<token>",
        "https://auth.example.test/cb",
        "[REDACTED:0a1b2c3d]",
    ] {
        assert!(!is_secret("x-api-key", value), "{value:?}");
    }
    assert!(is_secret("token", "https://me:pw@h.test/"), "userinfo");
}

#[test]
fn weak_names_need_a_random_looking_value() {
    for value in [
        "f3A9kQ2xLm8ZpR4t",
        "planted7Zq4WmXr-h1",
        "opaque-1",
        "AIzaNOPE",
        "0123456789abcdef0123456789abcdef",
        "550e8400-e29b-41d4-a716-446655440000",
    ] {
        assert!(is_secret("key", value), "{value}");
        assert!(is_secret("X-My-Service-Key", value), "{value}");
    }
    for value in [
        "k1",
        "Enter",
        "ArrowDown",
        "PageDown",
        "Backspace",
        "ControlLeft",
        "anthropic",
        "claude_code.cost.usage",
        "gen_ai.request.model",
        "ANTHROPIC_API_KEY",
        "api-key",
        "/home/user/.config/tool/auth.json",
        "Invalid API key provided",
        "aaaaaaaaaaaa",
    ] {
        assert!(!is_secret("key", value), "{value}");
        assert!(!is_secret("auth", value), "{value}");
    }
}

#[test]
fn known_formats_under_any_name() {
    for value in [
        "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA",
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        assert!(is_secret("description", value), "{value}");
    }
    assert!(
        !is_secret("description", "f3A9kQ2xLm8ZpR4t"),
        "no name, no format"
    );
}

#[test]
fn describing_names_carry_no_credential() {
    for name in [
        "auth_provider",
        "token_type",
        "password_length",
        "api_key_source",
    ] {
        assert!(!is_secret(name, "f3A9kQ2xLm8ZpR4t"), "{name}");
    }
}

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy("aaaa"), 0.0);
    assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    assert!((shannon_entropy("opaque-1") - 3.0).abs() < 1e-9);
}
