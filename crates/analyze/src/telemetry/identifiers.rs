//! Persistent identifiers in telemetry: values that follow a user or a machine across runs.
//! Found by attribute name ([`PERSISTENT_NAMES`]: the one list) anywhere in a payload, and by
//! value shape (a UUID, or 16 or more hex digits) under other names in resource and event
//! attributes. Per-session and per-event ids (session, trace, span, event, message, insert
//! ids) and content hashes are not persistent and are left out; so are values the recorder
//! redacted (`[REDACTED:…]`). Each (name, value) is kept once per request.

use serde_json::Value;

use super::{FoundBy, Identifier, Telemetry};

/// Attribute names of persistent identifiers, compared after lowercasing and dropping `$`,
/// `_`, `.` and `-` (so `user_id`, `userId`, `user.id`, `$user_id` and `userID` are one): an
/// object `{"user": {"id": …}}` counts as `user.id`.
pub const PERSISTENT_NAMES: &[&str] = &[
    "distinctid",
    // Sentry sessions' distinct id.
    "did",
    "deviceid",
    "userid",
    "usrid",
    "enduserid",
    "anonymousid",
    "machineid",
    "hostid",
    "installationid",
    "installid",
    "clientinstallid",
    "clientid",
    "stableid",
    "email",
    "useremail",
    "clientemail",
];

/// Name fragments of ids that do not outlive a session or an event, and of content hashes:
/// never reported by shape.
const EPHEMERAL: &[&str] = &[
    "session",
    "trace",
    "span",
    "event",
    "insert",
    "message",
    "request",
    "parent",
    "hash",
    "sha",
    "digest",
    "checksum",
    "commit",
    "nonce",
    "token",
    "key",
    "signature",
    "build",
];

/// How deep [`walk`] follows nested objects and arrays.
const MAX_DEPTH: usize = 12;

/// The name as compared: lowercased, without `$`, `_`, `.`, `-`.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '$' | '_' | '.' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `name` is a persistent identifier's.
pub fn is_persistent_name(name: &str) -> bool {
    let n = normalise(name);
    PERSISTENT_NAMES.contains(&n.as_str())
}

/// Whether a value has an identifier's shape: a UUID, or 16 or more hex digits (not all
/// decimal digits: that is a number, a timestamp in nanoseconds).
pub fn has_id_shape(value: &str) -> bool {
    let v = value.trim();
    let uuid = v.len() == 36
        && v.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let hex = v.len() >= 16
        && v.chars().all(|c| c.is_ascii_hexdigit())
        && !v.chars().all(|c| c.is_ascii_digit());
    let first = v.chars().next();
    (uuid || hex) && !v.chars().all(|c| Some(c) == first || c == '-')
}

fn is_redacted(value: &str) -> bool {
    value.starts_with("[REDACTED")
}

/// Adds an identifier unless the request already carries that (name, value).
pub(crate) fn add(t: &mut Telemetry, name: &str, value: &str, found_by: FoundBy) {
    let value = value.trim();
    if value.is_empty() || is_redacted(value) {
        return;
    }
    if t.identifiers
        .iter()
        .any(|i| i.name == name && i.value == value)
    {
        return;
    }
    t.identifiers.push(Identifier {
        name: name.to_owned(),
        value: value.to_owned(),
        found_by,
    });
}

/// Considers one attribute: by name first, else by shape.
pub(crate) fn consider(t: &mut Telemetry, name: &str, value: &str) {
    if is_persistent_name(name) {
        add(t, name, value, FoundBy::Name);
    } else if has_id_shape(value) && !is_ephemeral(name) {
        add(t, name, value, FoundBy::Shape);
    }
}

fn is_ephemeral(name: &str) -> bool {
    let n = normalise(name);
    matches!(n.as_str(), "id" | "uuid" | "sid") || EPHEMERAL.iter().any(|f| n.contains(f))
}

/// Identifiers in the resource's and the events' attributes (by name, then by shape).
pub(crate) fn from_attributes(t: &mut Telemetry) {
    let mut pairs: Vec<(String, String)> = t.resource.attributes.clone();
    for e in &t.events {
        pairs.extend(e.attributes.iter().cloned());
    }
    for (name, value) in pairs {
        consider(t, &name, &value);
    }
}

/// Identifiers by name anywhere in a JSON payload: a string or number under a persistent
/// name, or under `id` in an object named so (`"user": {"id": …}` is `user.id`).
pub(crate) fn walk(json: &Value, t: &mut Telemetry) {
    walk_at(json, None, 0, t);
}

fn walk_at(json: &Value, parent: Option<&str>, depth: usize, t: &mut Telemetry) {
    if depth > MAX_DEPTH {
        return;
    }
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                let name = match parent {
                    Some(p) if key == "id" || key == "ID" => format!("{p}.{key}"),
                    _ => key.clone(),
                };
                match value {
                    Value::String(s) if is_persistent_name(&name) => {
                        add(t, &name, s, FoundBy::Name);
                    }
                    Value::Number(n) if is_persistent_name(&name) => {
                        add(t, &name, &n.to_string(), FoundBy::Name);
                    }
                    _ => walk_at(value, Some(key), depth + 1, t),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_at(item, parent, depth + 1, t);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_shapes() {
        assert!(is_persistent_name("$device_id"));
        assert!(is_persistent_name("userId"));
        assert!(is_persistent_name("user.id"));
        assert!(!is_persistent_name("session_id"));
        assert!(has_id_shape("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(has_id_shape("9f86d081884c7d65"));
        assert!(!has_id_shape("1735787045000000000"));
        assert!(!has_id_shape("0000000000000000"));
        assert!(!has_id_shape("not-an-id"));
    }

    #[test]
    fn walk_dedupes_and_skips_redacted_and_sessions() {
        let mut t = Telemetry::default();
        let json = json!({
            "distinct_id": "u-1",
            "batch": [
                {"properties": {"distinct_id": "u-1", "$session_id": "s-1"}},
                {"user": {"id": 42}, "device_id": "[REDACTED:abcd1234]"}
            ]
        });
        walk(&json, &mut t);
        let got: Vec<(&str, &str)> = t
            .identifiers
            .iter()
            .map(|i| (i.name.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(got, [("distinct_id", "u-1"), ("user.id", "42")]);
    }

    #[test]
    fn shape_under_other_names_but_not_per_event_ids() {
        let mut t = Telemetry::default();
        consider(
            &mut t,
            "app.install",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        );
        consider(&mut t, "event_id", "0f8fad5bd9cb469fa16570867728950e");
        consider(&mut t, "trace.id", "0f8fad5bd9cb469fa16570867728950e");
        assert_eq!(t.identifiers.len(), 1);
        assert_eq!(t.identifiers[0].found_by, FoundBy::Shape);
    }
}
