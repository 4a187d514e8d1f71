//! The shape every telemetry decoder has, the same as the LLM decoders' (`llm/api.rs`): one
//! trait, [`Decoder`], that each protocol implements in its own file, listed once in the table
//! [`super::PROTOCOLS`], tried in order. A decoder recognises a request from its method, path,
//! headers and body shape (never its host, so a self-hosted or local collector is read the
//! same) and decodes it into a [`Telemetry`].
//!
//! [`Request`] is the request as the decoders read it: the body is decoded once (JSON parsed,
//! base64 turned back into bytes) however many decoders look at it.

use std::borrow::Cow;
use std::cell::OnceCell;

use base64::Engine as _;
use phonehome_record::{Body, BodyEncoding};
use serde_json::Value;

use super::{Protocol, Telemetry};
use crate::event::Exchange;

/// One telemetry protocol: how its requests are recognised and decoded.
pub(crate) trait Decoder: Sync {
    /// The protocol a request it recognises is reported as (OTLP says protobuf or JSON itself).
    fn protocol(&self) -> Protocol;

    /// Whether the request is one of this protocol's.
    fn recognises(&self, r: &Request<'_>) -> bool;

    /// Decodes the request into `t` (whose `protocol` is already set): signal, resource,
    /// events, identifiers found by walking the payload, and notes on what could not be read.
    fn decode(&self, r: &Request<'_>, t: &mut Telemetry);
}

/// A request as the decoders read it.
pub(crate) struct Request<'a> {
    pub exchange: &'a Exchange,
    /// The path without the query.
    pub path: &'a str,
    /// The request's `content-type`, lowercased; empty when absent.
    pub content_type: String,
    body: Option<&'a Body>,
    json: OnceCell<Result<Value, String>>,
    bytes: OnceCell<Option<Vec<u8>>>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(exchange: &'a Exchange) -> Self {
        Request {
            exchange,
            path: &exchange.path,
            content_type: exchange
                .request_header("content-type")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            body: exchange.request_body.as_ref(),
            json: OnceCell::new(),
            bytes: OnceCell::new(),
        }
    }

    pub(crate) fn is_post(&self) -> bool {
        self.exchange.method.eq_ignore_ascii_case("POST")
    }

    /// Whether the path ends with one of `suffixes` (any prefix before it: a collector may
    /// live under any base path).
    pub(crate) fn path_ends(&self, suffixes: &[&str]) -> bool {
        suffixes.iter().any(|s| self.path.ends_with(s))
    }

    /// The first value of a query parameter, percent-decoded.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        super::fields::form_value(self.exchange.query.as_deref()?, name)
    }

    /// The body as text, when the capture holds it as text.
    pub(crate) fn text(&self) -> Option<&'a str> {
        self.body
            .filter(|b| b.encoding == BodyEncoding::Utf8)
            .map(|b| b.data.as_str())
    }

    /// The body's bytes, when the capture holds it as base64 (binary content).
    pub(crate) fn binary(&self) -> Option<&[u8]> {
        self.bytes
            .get_or_init(|| {
                let body = self.body.filter(|b| b.encoding == BodyEncoding::Base64)?;
                base64::engine::general_purpose::STANDARD
                    .decode(body.data.as_bytes())
                    .ok()
            })
            .as_deref()
    }

    /// The body as one JSON document.
    pub(crate) fn json(&self) -> Option<&Value> {
        self.json_result().as_ref().ok()
    }

    fn json_result(&self) -> &Result<Value, String> {
        self.json.get_or_init(|| {
            let text = self.text().ok_or_else(|| self.no_text())?;
            serde_json::from_str(text).map_err(|e| self.unreadable("JSON", &e.to_string()))
        })
    }

    /// The body as JSON, or a note on `t` saying why it is not.
    pub(crate) fn json_or_note(&self, t: &mut Telemetry) -> Option<&Value> {
        match self.json_result() {
            Ok(json) => Some(json),
            Err(note) => {
                t.notes.push(note.clone());
                None
            }
        }
    }

    /// The body as JSON: the document itself, or the JSON in a form body's `data=` field
    /// (plain or base64).
    pub(crate) fn payload(&self) -> Option<Cow<'_, Value>> {
        if let Some(json) = self.json() {
            return Some(Cow::Borrowed(json));
        }
        super::fields::form_data_json(self.text()?).map(Cow::Owned)
    }

    /// [`Request::payload`], or a note on `t` saying why there is none.
    pub(crate) fn payload_or_note(&self, t: &mut Telemetry) -> Option<Cow<'_, Value>> {
        let payload = self.payload();
        if payload.is_none() {
            self.json_or_note(t);
        }
        payload
    }

    /// The response body as JSON, when there is one (a flags answer).
    pub(crate) fn response_json(&self) -> Option<Value> {
        let body = self.exchange.response.as_ref()?.body.as_ref()?;
        (body.encoding == BodyEncoding::Utf8)
            .then(|| serde_json::from_str(&body.data).ok())
            .flatten()
    }

    /// The body was cut short in the capture.
    pub(crate) fn truncated(&self) -> bool {
        self.body
            .is_some_and(|b| b.truncated || b.dropped_bytes > 0)
    }

    /// Why there is no text body.
    pub(crate) fn no_text(&self) -> String {
        match self.body {
            None => "the request has no body".to_owned(),
            Some(_) => "request body is binary (base64 in the capture), not text".to_owned(),
        }
    }

    /// The note for a body that is not whole `what` (JSON, protobuf).
    pub(crate) fn unreadable(&self, what: &str, error: &str) -> String {
        if self.truncated() {
            format!("request body was truncated in the capture and is not whole {what} ({error})")
        } else {
            format!("request body is not {what}: {error}")
        }
    }
}

/// Whether the body's first non-blank byte opens a JSON object or array.
pub(crate) fn json_shaped(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}
