//! Reading telemetry payloads the same way in every decoder: values as text, times in any of
//! the usual encodings, objects as attribute lists, resources from name/version pairs, and
//! form bodies (`data=` with JSON or base64 JSON).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{Resource, TelemetryEvent};

/// A value as text: a string as is, anything else as compact JSON.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A non-empty string field.
pub(crate) fn string(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The first of `keys` in `object` that holds a non-empty string.
pub(crate) fn first_string(object: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| string(&object[*k]))
}

/// A time as payloads send it: RFC 3339 text, or a number of seconds, milliseconds,
/// microseconds or nanoseconds since the Unix epoch (told apart by magnitude), as a number or
/// as digits in a string.
pub(crate) fn time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => epoch(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            phonehome_record::parse_timestamp(s).or_else(|| s.parse::<f64>().ok().and_then(epoch))
        }
        _ => None,
    }
}

/// The first of `keys` in `object` that holds a time.
pub(crate) fn first_time(object: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter().find_map(|k| time(&object[*k]))
}

/// A count since the Unix epoch in the unit its magnitude suggests (seconds before 1e11,
/// milliseconds before 1e14, microseconds before 1e17, else nanoseconds).
fn epoch(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x <= 0.0 {
        return None;
    }
    let nanos = if x < 1e11 {
        x * 1e9
    } else if x < 1e14 {
        x * 1e6
    } else if x < 1e17 {
        x * 1e3
    } else {
        x
    };
    // Saturating float-to-int cast; the range check below rejects what saturated.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = nanos as i64;
    (nanos < i64::MAX).then(|| DateTime::from_timestamp_nanos(nanos))
}

/// Nanoseconds since the Unix epoch (OTLP's `time_unix_nano`); `None` for 0 (unset).
pub(crate) fn unix_nanos(n: u64) -> Option<DateTime<Utc>> {
    let n = i64::try_from(n).ok().filter(|n| *n > 0)?;
    Some(DateTime::from_timestamp_nanos(n))
}

/// The entries of an object as attributes, values as text, leaving out `skip`.
pub(crate) fn attributes(object: &Value, skip: &[&str]) -> Vec<(String, String)> {
    object
        .as_object()
        .into_iter()
        .flat_map(Map::iter)
        .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), text(v)))
        .collect()
}

/// "name version", "name", or `None`.
pub(crate) fn name_version(name: Option<String>, version: Option<String>) -> Option<String> {
    match (name, version) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n),
        (None, Some(v)) => Some(v),
        (None, None) => None,
    }
}

/// Sets `slot` when it is empty.
pub(crate) fn fill(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// The first value of `name` in an `application/x-www-form-urlencoded` text, percent-decoded.
pub(crate) fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_form(k) == name).then(|| decode_form(v))
    })
}

fn decode_form(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The JSON in a form body's `data=` field (Mixpanel, older PostHog clients): JSON text, or
/// base64 of JSON text.
pub(crate) fn form_data_json(body: &str) -> Option<Value> {
    let data = form_value(body.trim(), "data")?;
    if let Ok(json) = serde_json::from_str(&data) {
        return Some(json);
    }
    // A `+` sent unescaped was read as a space.
    let compact: String = data
        .replace(' ', "+")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bare = compact.trim_end_matches('=');
    let padded = format!("{bare}{}", padding(bare.len()));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&padded)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&padded))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `=` padding a base64 text of `len` characters (without padding) needs.
fn padding(len: usize) -> &'static str {
    match len % 4 {
        2 => "==",
        3 => "=",
        _ => "",
    }
}

/// The elements of a JSON value that is a list of records: the array itself, or the array
/// under the first of `keys` of an object; a lone object is a list of one.
pub(crate) fn records<'v>(json: &'v Value, keys: &[&str]) -> Vec<&'v Value> {
    if let Some(items) = json.as_array() {
        return items.iter().collect();
    }
    for key in keys {
        if let Some(items) = json[*key].as_array() {
            return items.iter().collect();
        }
    }
    if json.is_object() {
        vec![json]
    } else {
        Vec::new()
    }
}

/// The value at a dotted path (`context.app.name`); `Null` when absent.
pub(crate) fn lookup<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, key| &v[key])
}

/// The first non-empty string at one of `paths`.
pub(crate) fn first_at(v: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| match lookup(v, p) {
        Value::Number(n) => Some(n.to_string()),
        other => string(other),
    })
}

/// One analytics event: named by the first of `names` that is a string, timed by the first
/// of `times` that is a time, its attributes the object's other entries followed by the
/// entries of the objects under `nested` (`properties`, `traits`, …) promoted one level.
pub(crate) fn event(
    object: &Value,
    names: &[&str],
    times: &[&str],
    nested: &[&str],
) -> Option<TelemetryEvent> {
    let name = first_string(object, names)?;
    let mut skip: Vec<&str> = names.iter().chain(times).chain(nested).copied().collect();
    skip.push("api_key");
    let mut attributes = attributes(object, &skip);
    for key in nested {
        attributes.extend(self::attributes(&object[*key], &[]));
    }
    Some(TelemetryEvent {
        name,
        time: first_time(object, times).or_else(|| {
            nested
                .iter()
                .find_map(|key| first_time(&object[*key], times))
        }),
        attributes,
    })
}

/// Where a payload names its sender, as dotted paths tried in order.
pub(crate) struct ResourceKeys {
    pub service: &'static [&'static str],
    pub version: &'static [&'static str],
    pub os: &'static [&'static str],
    pub os_version: &'static [&'static str],
    pub runtime: &'static [&'static str],
    pub runtime_version: &'static [&'static str],
}

/// Fills the fields of `resource` still empty from `object` by `keys`.
pub(crate) fn fill_resource(resource: &mut Resource, object: &Value, keys: &ResourceKeys) {
    fill(&mut resource.service, first_at(object, keys.service));
    fill(&mut resource.version, first_at(object, keys.version));
    fill(
        &mut resource.os,
        name_version(first_at(object, keys.os), first_at(object, keys.os_version)),
    );
    fill(
        &mut resource.runtime,
        name_version(
            first_at(object, keys.runtime),
            first_at(object, keys.runtime_version),
        ),
    );
}

/// The first line of a text, trimmed, at most 120 characters: a log message as an event name.
pub(crate) fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(120).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_every_unit_agree() {
        let want = phonehome_record::parse_timestamp("2025-01-02T03:04:05Z").expect("time");
        for v in [
            json!("2025-01-02T03:04:05Z"),
            json!(1_735_787_045),
            json!(1_735_787_045_000_u64),
            json!("1735787045000"),
            json!(1_735_787_045_000_000_u64),
            json!(1_735_787_045_000_000_000_u64),
        ] {
            assert_eq!(time(&v), Some(want.with_timezone(&Utc)), "{v}");
        }
        assert_eq!(time(&json!("soon")), None);
        assert_eq!(time(&json!(-1)), None);
    }

    #[test]
    fn form_data_as_json_or_base64() {
        assert_eq!(
            form_data_json("data=%7B%22a%22%3A1%7D&ip=1"),
            Some(json!({"a": 1}))
        );
        // base64 of {"a":1} without padding.
        assert_eq!(form_data_json("data=eyJhIjoxfQ"), Some(json!({"a": 1})));
        assert_eq!(form_data_json("x=1"), None);
    }
}
