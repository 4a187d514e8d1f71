//! Request signatures: method + host + path with variable segments templated + sorted query
//! keys, so that requests that do the same thing group together.
//!
//! Segments that become placeholders: numbers `{n}`, UUIDs `{uuid}`, hex of 16+ digits `{hex}`,
//! prefixed ids such as `ses_…`, `msg_…` or `chatcmpl-…` (`ses_{id}`), and long base64-like
//! tokens `{id}`. Query values are dropped; keys are sorted and deduplicated.

/// The signature of a request, e.g. `POST api.test/v1/sessions/ses_{id}/messages?limit`.
pub fn signature(method: &str, host: &str, path: &str, query: Option<&str>) -> String {
    let mut out = String::with_capacity(method.len() + host.len() + path.len() + 8);
    out.push_str(&method.to_ascii_uppercase());
    out.push(' ');
    out.push_str(host);
    for segment in path.split('/').skip(1) {
        out.push('/');
        out.push_str(&template(segment));
    }
    if path.is_empty() {
        out.push('/');
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let mut keys: Vec<&str> = query
            .split('&')
            .map(|pair| pair.split('=').next().unwrap_or(pair))
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        out.push('?');
        out.push_str(&keys.join("&"));
    }
    out
}

/// A signature's method, host and templated path (query keys left out): the inverse of
/// [`signature`]'s layout. `None` for text that is not a signature.
pub(crate) fn parts(signature: &str) -> Option<(&str, &str, &str)> {
    let (method, rest) = signature.split_once(' ')?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let slash = rest.find('/')?;
    Some((method, &rest[..slash], &rest[slash..]))
}

fn template(segment: &str) -> std::borrow::Cow<'_, str> {
    if segment.is_empty() {
        return segment.into();
    }
    if segment.bytes().all(|b| b.is_ascii_digit()) {
        return "{n}".into();
    }
    if is_uuid(segment) {
        return "{uuid}".into();
    }
    if segment.len() >= 16 && segment.bytes().all(|b| b.is_ascii_hexdigit()) {
        return "{hex}".into();
    }
    if let Some((prefix, _)) = split_prefixed_id(segment) {
        return format!("{prefix}{{id}}").into();
    }
    if looks_like_token(segment) {
        return "{id}".into();
    }
    segment.into()
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `ses_01HX…` → `("ses_", "01HX…")`: a short lowercase prefix, `_` or `-`, then 8+ id
/// characters with at least one digit.
fn split_prefixed_id(s: &str) -> Option<(&str, &str)> {
    let cut = s.find(['_', '-'])?;
    let (prefix, rest) = (&s[..=cut], &s[cut + 1..]);
    let prefix_ok = (2..=9).contains(&prefix.len())
        && prefix[..prefix.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_lowercase());
    let rest_ok = rest.len() >= 8
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        && rest.bytes().any(|b| b.is_ascii_digit());
    (prefix_ok && rest_ok).then_some((prefix, rest))
}

/// A base64-like token: 20+ characters of `[A-Za-z0-9_-]` mixing letters and digits.
fn looks_like_token(s: &str) -> bool {
    s.len() >= 20
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts_undo_the_layout() {
        let s = signature(
            "post",
            "api.test",
            "/api/event_logging/v2/batch",
            Some("b=1&a=2"),
        );
        assert_eq!(
            parts(&s),
            Some(("POST", "api.test", "/api/event_logging/v2/batch"))
        );
        assert_eq!(parts("GET api.test/"), Some(("GET", "api.test", "/")));
        assert_eq!(
            parts("GET api.test/a/b?x&y"),
            Some(("GET", "api.test", "/a/b"))
        );
        assert_eq!(parts("not a signature"), None);
    }

    #[test]
    fn templates_variable_segments() {
        let sig = signature(
            "post",
            "api.test",
            "/v1/sessions/ses_01JCXKQ3F7Z9/messages/42",
            Some("limit=5&after=x&limit=6"),
        );
        assert_eq!(
            sig,
            "POST api.test/v1/sessions/ses_{id}/messages/{n}?after&limit"
        );
        assert_eq!(
            signature("GET", "h", "/u/123e4567-e89b-12d3-a456-426614174000", None),
            "GET h/u/{uuid}"
        );
        assert_eq!(
            signature("GET", "h", "/blob/deadbeefdeadbeefdeadbeef", None),
            "GET h/blob/{hex}"
        );
        assert_eq!(
            signature("GET", "h", "/v1/chat/completions", None),
            "GET h/v1/chat/completions"
        );
        assert_eq!(signature("GET", "h", "/api.json", None), "GET h/api.json");
        assert_eq!(
            signature("GET", "h", "/t/AbCdEfGh12345678ijklMN", None),
            "GET h/t/{id}"
        );
    }

    proptest! {
        #[test]
        fn ids_in_the_same_place_share_a_signature(a in 0u64..u64::MAX, b in 0u64..u64::MAX,
                                                   x in "[A-Za-z0-9]{12}", y in "[A-Za-z0-9]{12}") {
            prop_assert_eq!(
                signature("GET", "h", &format!("/items/{a}"), None),
                signature("GET", "h", &format!("/items/{b}"), None)
            );
            let with_digit = |s: &str| format!("{s}7");
            prop_assert_eq!(
                signature("GET", "h", &format!("/s/ses_{}", with_digit(&x)), Some("k=1")),
                signature("GET", "h", &format!("/s/ses_{}", with_digit(&y)), Some("k=2"))
            );
        }
    }
}
