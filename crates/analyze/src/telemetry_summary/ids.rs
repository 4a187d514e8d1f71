//! Persistent identifiers in a request that no telemetry decoder read: found by attribute name
//! (`distinct_id`, `user_id`, `user.id`, `anonymous_id`, `device_id`, `machine_id`,
//! `installation_id`, `client_id`, Statsig's `stableID`, …) or by value shape (a UUID, 16 or
//! more hex digits) under a name ending in `id` that is not a per-request one (trace, span,
//! request, message, event, session ids change every run and follow nobody).
//!
//! Read from the query string, a form body (`application/x-www-form-urlencoded`) and a JSON
//! body (object members, and `{"key"|"name": N, "value": V}` pairs read as `N = V`).
//!
//! The names and the value shape are the telemetry decoders' ([`is_persistent_name`],
//! [`has_id_shape`]: one list). Outside telemetry a shape counts only under a name ending in
//! `id`, and never under a per-request one.

use serde_json::Value;

use crate::event::Exchange;
use crate::telemetry::{has_id_shape, is_persistent_name, FoundBy, Identifier};

/// Most identifiers taken from one request.
const MAX_PER_REQUEST: usize = 16;
/// Deepest JSON nesting read.
const MAX_DEPTH: usize = 8;
/// Longest body read, in bytes: identifiers sit near the top of what agents send.
const MAX_BODY: usize = 1 << 20;

/// Parts of a name that make an id per-request rather than persistent.
const PER_REQUEST: [&str; 16] = [
    "trace",
    "span",
    "request",
    "message",
    "event",
    "session",
    "nonce",
    "parent",
    "insert",
    "batch",
    "chunk",
    "call",
    "turn",
    "conversation",
    "tool",
    "response",
];

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '$' | '_' | '.' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// How `value` under `name` is an identifier, if it is one.
pub fn judge(name: &str, value: &str) -> Option<FoundBy> {
    let value = value.trim();
    if value.len() < 4 || value.len() > 200 || is_placeholder(value) {
        return None;
    }
    // `properties.$device_id`: the whole name, or its last dotted part.
    let last = name.rsplit('.').next().unwrap_or(name);
    if is_persistent_name(name) || is_persistent_name(last) {
        return Some(FoundBy::Name);
    }
    let name = normalise(name);
    // `uuid` alone names the event or record it sits in.
    if name == "uuid" {
        return None;
    }
    let per_request = PER_REQUEST.iter().any(|p| name.contains(p));
    (name.ends_with("id") && !per_request && has_id_shape(value)).then_some(FoundBy::Shape)
}

/// Values that name nobody: `anonymous`, `unknown`, all one character (`0000`).
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "anonymous" | "unknown" | "undefined" | "null" | "none"
    ) || value.starts_with("[REDACTED")
    {
        return true;
    }
    let mut chars = value.chars().filter(|c| *c != '-');
    let first = chars.next();
    chars.all(|c| Some(c) == first)
}

/// The identifiers a request carries in its query, form body or JSON body.
pub fn in_request(x: &Exchange) -> Vec<Identifier> {
    let mut found = Found::default();
    if let Some(query) = &x.query {
        found.pairs(query);
    }
    let Some(body) = &x.request_body else {
        return found.ids;
    };
    if body.encoding != phonehome_record::BodyEncoding::Utf8 || body.data.len() > MAX_BODY {
        return found.ids;
    }
    let content_type = x.request_header("content-type").unwrap_or_default();
    let text = body.data.trim_start();
    if content_type.contains("x-www-form-urlencoded") {
        found.pairs(&body.data);
    } else if text.starts_with('{') || text.starts_with('[') {
        if let Ok(json) = serde_json::from_str::<Value>(text) {
            found.json(None, &json, 0);
        }
    }
    found.ids
}

#[derive(Default)]
struct Found {
    ids: Vec<Identifier>,
}

impl Found {
    fn add(&mut self, name: &str, value: &str) {
        if self.ids.len() >= MAX_PER_REQUEST {
            return;
        }
        let Some(found_by) = judge(name, value) else {
            return;
        };
        if self.ids.iter().any(|i| i.name == name && i.value == value) {
            return;
        }
        self.ids.push(Identifier {
            name: name.to_owned(),
            value: value.to_owned(),
            found_by,
        });
    }

    /// `a=1&b=2`, percent-decoded.
    fn pairs(&mut self, text: &str) {
        for pair in text.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                let s = s.replace('+', " ");
                percent_encoding::percent_decode_str(&s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            self.add(&decode(name), &decode(value));
        }
    }

    fn json(&mut self, name: Option<&str>, value: &Value, depth: usize) {
        if depth > MAX_DEPTH || self.ids.len() >= MAX_PER_REQUEST {
            return;
        }
        match value {
            Value::String(s) => name.into_iter().for_each(|n| self.add(n, s)),
            Value::Number(n) => name.into_iter().for_each(|k| self.add(k, &n.to_string())),
            Value::Array(items) => items.iter().for_each(|v| self.json(name, v, depth + 1)),
            Value::Object(map) => {
                if let Some((pair_name, pair_value)) = name_value_pair(map) {
                    return self.json(Some(pair_name), pair_value, depth + 1);
                }
                for (key, v) in map {
                    self.json(Some(key), v, depth + 1);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// `{"key": "user.id", "value": …}` or `{"name": …, "value": …}`: the name, and the value
/// (OTLP's `{"stringValue": …}` unwrapped).
fn name_value_pair(map: &serde_json::Map<String, Value>) -> Option<(&str, &Value)> {
    if map.len() != 2 {
        return None;
    }
    let name = map.get("key").or_else(|| map.get("name"))?.as_str()?;
    let value = map.get("value")?;
    let value = match value {
        Value::Object(inner) if inner.len() == 1 => inner.values().next().unwrap_or(value),
        other => other,
    };
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shapes() {
        assert_eq!(judge("distinct_id", "u-12345"), Some(FoundBy::Name));
        assert_eq!(judge("$device_id", "abcdef"), Some(FoundBy::Name));
        assert_eq!(judge("user.id", "42424242"), Some(FoundBy::Name));
        assert_eq!(judge("stableID", "s-1234"), Some(FoundBy::Name));
        assert_eq!(
            judge("properties.$device_id", "d-1234"),
            Some(FoundBy::Name)
        );
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(judge("proj_id", uuid), Some(FoundBy::Shape));
        assert_eq!(judge("trace_id", &"ab".repeat(16)), None);
        assert_eq!(judge("sessionId", uuid), None);
        assert_eq!(judge("model", uuid), None);
        assert_eq!(judge("uuid", uuid), None);
        assert_eq!(judge("user_id", "anonymous"), None);
        assert_eq!(judge("user_id", "0000"), None);
        assert_eq!(judge("user_id", "ab"), None);
    }

    fn exchange(query: Option<&str>, content_type: &str, body: &str) -> Exchange {
        let mut x = crate::event::exchange(
            phonehome_record::FlowId(1),
            chrono::DateTime::default(),
            "POST".into(),
            "https://h/x".into(),
            "HTTP/1.1".into(),
            vec![("content-type".into(), content_type.into())],
            Some(phonehome_record::Body {
                size: body.len() as u64,
                encoding: phonehome_record::BodyEncoding::Utf8,
                data: body.into(),
                truncated: false,
                decoded_from: None,
                dropped_bytes: 0,
                redaction: None,
            }),
        );
        x.query = query.map(str::to_owned);
        x
    }

    #[test]
    fn read_from_query_form_and_json() {
        let x = exchange(
            Some("cid=1&client_id=c%2D777"),
            "application/json",
            r#"{"a":{"installation_id":"inst-9","list":[{"key":"machine.id","value":{"stringValue":"m-123"}}]},"n":{"user_id":123456}}"#,
        );
        let ids: Vec<(String, String)> = in_request(&x)
            .into_iter()
            .map(|i| (i.name, i.value))
            .collect();
        assert_eq!(
            ids,
            [
                ("client_id".to_owned(), "c-777".to_owned()),
                ("installation_id".to_owned(), "inst-9".to_owned()),
                ("machine.id".to_owned(), "m-123".to_owned()),
                ("user_id".to_owned(), "123456".to_owned()),
            ]
        );
        let form = exchange(
            None,
            "application/x-www-form-urlencoded",
            "device_id=d-42&x=1",
        );
        assert_eq!(in_request(&form)[0].value, "d-42");
    }
}
