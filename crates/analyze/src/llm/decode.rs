//! The decoding driver: from an exchange to a [`Conversation`]. Picks the API by path, reads
//! the request body, frames the response (one JSON document or a stream of chunks), hands the
//! JSON to the API's decoder, and turns API errors and failed flows into [`LlmError`]s.

use phonehome_record::{Body, BodyEncoding, Phase};
use serde_json::Value;

use super::api::{api_of, Api};
use super::conversation::{Conversation, LlmError};
use super::fields::scalar;
use super::framing::{chunks, Chunk, Framing};
use super::recognise::{call_of, LlmCall};
use super::{meta, session, sse};
use crate::event::{Exchange, ResponsePart};

/// Decodes an exchange that is an LLM call; `None` when it is not one (recognised by method
/// and path, as [`super::recognise()`] does).
///
/// Never fails: what cannot be decoded (a body that is not JSON, a stream cut short, an
/// unknown shape) leaves its fields empty and says so in [`Conversation::notes`]. Works on a
/// request alone too (no response yet): then only the request side is filled in.
pub fn decode(exchange: &Exchange) -> Option<Conversation> {
    let api = api_of(&exchange.method, &exchange.path)?;
    let request = body_json(exchange.request_body.as_ref(), "request");
    Some(decode_with(api, exchange, request))
}

/// [`super::recognise()`] and [`decode`] of one exchange, its request body parsed once.
pub(crate) fn recognise_and_decode(exchange: &Exchange) -> Option<(LlmCall, Conversation)> {
    let api = api_of(&exchange.method, &exchange.path)?;
    let request = body_json(exchange.request_body.as_ref(), "request");
    let json = match &request {
        Ok(Some(json)) => json,
        _ => &Value::Null,
    };
    let call = call_of(exchange, api, json);
    Some((call, decode_with(api, exchange, request)))
}

/// Decodes an exchange to `api` whose request body was read as `request` ([`body_json`]).
fn decode_with(
    api: &dyn Api,
    exchange: &Exchange,
    request: Result<Option<Value>, String>,
) -> Conversation {
    let operation = api.operation(&exchange.path);
    let mut c = Conversation::new(exchange, api.provider(), operation, api.name());
    let json = decode_request(api, exchange, request, &mut c);
    c.session = session::find(exchange, json.as_ref());
    c.meta_reason = meta::meta_reason(exchange, &c).map(|reason| reason.to_string());
    c.meta = c.meta_reason.is_some();
    let answered = exchange
        .response
        .as_ref()
        .is_some_and(|response| decode_response(api, response, &mut c));
    if let Some((phase, message)) = &exchange.error {
        flow_error(*phase, message, answered, &mut c);
    }
    c
}

/// What ended the flow, as the call's error; but a client that stopped reading after the
/// whole answer arrived (Codex drops the stream at `response.completed`, before the body's
/// end) got its answer: that is a note, not an error.
fn flow_error(phase: Phase, message: &str, answered: bool, c: &mut Conversation) {
    if answered && phase == Phase::ClientHttp {
        c.notes.push(format!(
            "the whole answer arrived, then the client closed: {message}"
        ));
        return;
    }
    c.error.get_or_insert_with(|| LlmError {
        status: None,
        kind: Some(phase.as_str().to_owned()),
        message: message.to_owned(),
    });
}

/// The request side of `c`; gives back the request's JSON, where the session id may be.
fn decode_request(
    api: &dyn Api,
    exchange: &Exchange,
    request: Result<Option<Value>, String>,
    c: &mut Conversation,
) -> Option<Value> {
    let json = request.unwrap_or_else(|note| {
        c.notes.push(note);
        None
    });
    if let Some(json) = &json {
        c.streaming = json["stream"].as_bool().unwrap_or(false);
        api.request(json, c);
        if !json.is_object() {
            c.notes
                .push(format!("unknown {} request shape: shown raw", api.name()));
        }
    }
    if let Some(model) = api.model_in_path(&exchange.path) {
        c.request_model = Some(model);
    }
    if api.streams_by_path(&exchange.path) {
        c.streaming = true;
    }
    json
}

/// The JSON of a body: `Ok(None)` when there is none, `Err(note)` when it cannot be read.
fn body_json(body: Option<&Body>, side: &str) -> Result<Option<Value>, String> {
    let Some(body) = body else {
        return Ok(None);
    };
    if body.encoding == BodyEncoding::Base64 {
        return Err(format!(
            "{side} body is binary (base64 in the capture): not decoded"
        ));
    }
    match serde_json::from_str(&body.data) {
        Ok(json) => Ok(Some(json)),
        Err(e) if body.truncated || body.dropped_bytes > 0 => Err(format!(
            "{side} body was truncated in the capture and is not whole JSON ({e})"
        )),
        Err(e) => Err(format!("{side} body is not JSON: {e}")),
    }
}

/// The response side of `c`: the answer or the error, and the call's duration. True when the
/// whole answer is there: a streamed answer up to its final event, or a whole JSON answer.
fn decode_response(api: &dyn Api, r: &ResponsePart, c: &mut Conversation) -> bool {
    c.duration_ms = Some(r.duration_ms);
    let Some(body) = &r.body else {
        http_error(r, c);
        return false;
    };
    if body.encoding == BodyEncoding::Base64 {
        c.notes
            .push("response body is binary (base64 in the capture): not decoded".to_owned());
        http_error(r, c);
        return false;
    }
    c.notes.extend(incomplete(body));
    let text = body.data.as_str();
    let answered = match framing(api, r, text) {
        Framing::Json => decode_json(api, r.status, text, c),
        framing => decode_stream(api, framing, r, text, c),
    };
    http_error(r, c);
    answered && c.error.is_none()
}

/// The note on a response body the capture does not hold whole.
fn incomplete(body: &Body) -> Option<String> {
    if !body.truncated && body.dropped_bytes == 0 {
        return None;
    }
    let kept = body.data.len() as u64;
    Some(if body.dropped_bytes == 0 && kept == body.size {
        "response body ended early (the stream failed or was cut off): decoded what arrived"
            .to_owned()
    } else {
        format!(
            "response body is incomplete in the capture ({kept} of {} bytes kept): decoded what arrived",
            body.size
        )
    })
}

/// A response body that is one JSON document: the answer, or the API's error. True when it
/// was an answer in a known shape.
fn decode_json(api: &dyn Api, status: u16, text: &str, c: &mut Conversation) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(json) => {
            if let Some(error) = api_error(&json, status) {
                c.error = Some(error);
                return false;
            }
            let known = status < 400 && api.response(&json, c);
            if status < 400 && !known {
                c.notes
                    .push(format!("unknown {} response shape: shown raw", api.name()));
            }
            known
        }
        Err(e) => {
            c.notes.push(format!("response body is not JSON: {e}"));
            false
        }
    }
}

/// A streamed answer: its chunks put back together, with the time to first token. True when
/// the stream reached its final event.
fn decode_stream(
    api: &dyn Api,
    framing: Framing,
    r: &ResponsePart,
    text: &str,
    c: &mut Conversation,
) -> bool {
    let status = r.status;
    c.streaming = true;
    c.ttft_ms = r.first_byte_ms.or(Some(r.ttfb_ms));
    let stream = chunks(framing, text, c);
    for chunk in &stream.chunks {
        if c.error.is_none() {
            c.error = stream_error(chunk, status);
        }
    }
    let finished = api.stream(&stream, c) && stream.ended;
    if !finished && c.error.is_none() {
        c.notes.push(format!(
            "stream ended before its final event ({}): decoded what arrived",
            api.final_event()
        ));
    }
    finished
}

/// The error an API answered with, in any of the known shapes: OpenAI
/// `{"error":{"type","code","message"}}`, Anthropic `{"type":"error","error":{"type",
/// "message"}}`, Gemini `{"error":{"code","status","message"}}` (also inside a one-element
/// array), Ollama `{"error":"…"}`, and the Responses stream's `{"type":"error","code",
/// "message"}`.
fn api_error(json: &Value, status: u16) -> Option<LlmError> {
    if let Some(first) = json.as_array().and_then(|a| a.first()) {
        return api_error(first, status);
    }
    let status = Some(status);
    match &json["error"] {
        Value::String(message) => {
            return Some(LlmError {
                status,
                kind: None,
                message: message.clone(),
            })
        }
        Value::Object(e) => {
            let kind = ["type", "status", "code"]
                .iter()
                .find_map(|k| scalar(e.get(*k)?));
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| Value::Object(e.clone()).to_string(), str::to_owned);
            return Some(LlmError {
                status,
                kind,
                message,
            });
        }
        _ => {}
    }
    if json["type"] == "error" {
        return Some(LlmError {
            status,
            kind: scalar(&json["code"]),
            message: json["message"]
                .as_str()
                .map_or_else(|| json.to_string(), str::to_owned),
        });
    }
    None
}

/// An error event inside a stream (SSE `event: error`, or a chunk in an error shape).
fn stream_error(chunk: &Chunk, status: u16) -> Option<LlmError> {
    if !chunk.may_be_error {
        return None;
    }
    let data = chunk.value();
    api_error(&data, status).or_else(|| {
        (chunk.event == "error").then(|| LlmError {
            status: Some(status),
            kind: None,
            message: data.to_string(),
        })
    })
}

/// A status of 400 or more with no error decoded from the body.
fn http_error(r: &ResponsePart, c: &mut Conversation) {
    if r.status >= 400 && c.error.is_none() {
        c.error = Some(LlmError {
            status: Some(r.status),
            kind: None,
            message: if r.reason.is_empty() {
                format!("HTTP {}", r.status)
            } else {
                r.reason.clone()
            },
        });
    }
}

/// The framing of a response body, by its content type and, where servers omit or misstate
/// it, by its shape: SSE for any API, else the API's own stream framing, else one JSON document.
fn framing(api: &dyn Api, r: &ResponsePart, text: &str) -> Framing {
    let content_type = crate::event::header(&r.headers, "content-type").unwrap_or_default();
    if content_type.contains("event-stream") || sse::looks_like_sse(text) {
        return Framing::Sse;
    }
    api.stream_framing(content_type, text)
        .unwrap_or(Framing::Json)
}
