//! Reading the providers' JSON the same way in every decoder: counts, ids, tool calls and
//! their arguments, text content and content parts, request parameters and tool definitions.

use serde_json::{Map, Value};

use super::conversation::{Part, ToolDefinition};
use super::lenient::U64;

/// A string or number as text.
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Sets a usage count from a field that holds one; leaves it alone otherwise (streams report
/// usage piece by piece, and a later event may omit what an earlier one gave).
pub(crate) fn set_count(slot: &mut Option<u64>, v: &Value) {
    if let Some(n) = v.as_u64() {
        *slot = Some(n);
    }
}

/// Sets an optional string from a field that holds one, keeping the first seen.
pub(crate) fn first_str(slot: &mut Option<String>, v: &Value) {
    first_text(slot, v.as_str());
}

/// [`first_str`] of a field read typed.
pub(crate) fn first_text(slot: &mut Option<String>, text: Option<&str>) {
    if slot.is_none() {
        if let Some(s) = text.filter(|s| !s.is_empty()) {
            *slot = Some(s.to_owned());
        }
    }
}

/// [`set_count`] of a field read typed.
pub(crate) fn set_u64(slot: &mut Option<u64>, n: U64) {
    if let Some(n) = n.0 {
        *slot = Some(n);
    }
}

/// Request keys other than those listed (the content), as sent; the objects named in
/// `flatten` (Gemini's `generationConfig`, Ollama's `options`) contribute their keys instead.
pub(crate) fn parameters(json: &Value, content: &[&str], flatten: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(object) = json.as_object() else {
        return out;
    };
    for (key, value) in object {
        if content.contains(&key.as_str()) {
            continue;
        }
        match value {
            Value::Object(inner) if flatten.contains(&key.as_str()) => {
                out.extend(inner.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// Tool call arguments: the JSON they hold, else the text as sent.
pub(crate) fn arguments(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Tool call arguments sent either as JSON text (OpenAI) or as a JSON value (Ollama).
pub(crate) fn arguments_of(v: &Value) -> Value {
    match v {
        Value::String(text) => arguments(text),
        other => other.clone(),
    }
}

/// A message's `tool_calls` in the OpenAI shape that Ollama shares: `[{id, function: {name,
/// arguments}}]`.
pub(crate) fn tool_calls(calls: &Value) -> impl Iterator<Item = Part> + '_ {
    calls
        .as_array()
        .into_iter()
        .flatten()
        .map(|call| Part::ToolCall {
            id: call["id"].as_str().map(str::to_owned),
            name: call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            arguments: arguments_of(&call["function"]["arguments"]),
        })
}

/// A message's `content` in the OpenAI shape (Chat Completions and Responses): a string, or
/// an array of typed parts.
pub(crate) fn content_parts(content: &Value) -> Vec<Part> {
    match content {
        Value::Null => Vec::new(),
        Value::String(text) => vec![Part::Text {
            content: text.clone(),
        }],
        Value::Array(parts) => parts
            .iter()
            .map(|p| match (p["type"].as_str(), p["text"].as_str()) {
                (Some("text" | "input_text" | "output_text") | None, Some(text)) => Part::Text {
                    content: text.to_owned(),
                },
                (kind, _) => Part::Other {
                    kind: kind.unwrap_or("unknown").to_owned(),
                    value: p.clone(),
                },
            })
            .collect(),
        other => vec![Part::Other {
            kind: "unknown".to_owned(),
            value: other.clone(),
        }],
    }
}

/// Text content: a string, or an array of parts with `text`.
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// A tool the request offers: `name` (a built-in tool has only its `type`), `description`, and
/// the JSON Schema of its parameters under the first of the `schema` keys that is set. The
/// APIs differ in that key only: `parameters` (OpenAI Chat Completions, Ollama), `parameters`
/// or a custom tool's `format` (OpenAI Responses), `input_schema` (Anthropic), `parameters` or
/// `parametersJsonSchema` (Gemini function declarations).
pub(crate) fn tool_definition(tool: &Value, schema: &[&str]) -> ToolDefinition {
    ToolDefinition {
        name: tool["name"]
            .as_str()
            .or_else(|| tool["type"].as_str())
            .unwrap_or_default()
            .to_owned(),
        description: tool["description"].as_str().map(str::to_owned),
        parameters: schema
            .iter()
            .map(|key| &tool[*key])
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// Tools as the Chat Completions API (and Ollama) offer them: `tools[].function`, or the
/// older `functions[]`.
pub(crate) fn function_tools(json: &Value) -> Vec<ToolDefinition> {
    let tools = json["tools"].as_array().into_iter().flatten().map(|t| {
        if t["function"].is_object() {
            &t["function"]
        } else {
            t
        }
    });
    let functions = json["functions"].as_array().into_iter().flatten();
    tools
        .chain(functions)
        .map(|f| tool_definition(f, &["parameters"]))
        .collect()
}
