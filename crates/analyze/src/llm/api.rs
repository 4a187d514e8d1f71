//! The shape every LLM API decoder has: one trait, [`Api`], that each API implements in its own
//! file (`openai_chat.rs`, `openai_responses.rs`, `anthropic.rs`, `gemini.rs`, `ollama.rs`),
//! listed once in the table [`APIS`] (declared in `llm/mod.rs`). The driver (`decode.rs`),
//! `recognise.rs`, `framing.rs` and `Conversation::new` ask the trait and never `match` on an
//! API, so adding one is one file plus one line in that table.
//!
//! A trait rather than a table of function pointers: most APIs leave most hooks at their
//! default (the model in the path, a stream framing of their own, streaming by default), and
//! a trait's default methods say that without every entry spelling out `None`.

use serde_json::Value;

use super::conversation::Conversation;
use super::framing::{Framing, Stream};

/// One LLM API: how its calls are recognised and how its request, whole response and stream
/// chunks are decoded into a [`Conversation`].
pub(crate) trait Api: Sync {
    /// `openai.chat`, `openai.responses`, `anthropic.messages`, `gemini`, `ollama.chat`.
    fn name(&self) -> &'static str;

    /// `gen_ai.provider.name` of the API family.
    fn provider(&self) -> &'static str;

    /// The event that ends a complete stream, for the note when it is missing.
    fn final_event(&self) -> &'static str;

    /// Whether a request with this method and path (without the query) is a call of this API.
    fn recognises(&self, method: &str, path: &str) -> bool;

    /// `gen_ai.operation.name` of a call to `path`.
    fn operation(&self, _path: &str) -> &'static str {
        "chat"
    }

    /// The model, when the API names it in the path rather than in the body.
    fn model_in_path(&self, _path: &str) -> Option<String> {
        None
    }

    /// Whether the path alone says the answer is streamed.
    fn streams_by_path(&self, _path: &str) -> bool {
        false
    }

    /// Whether the answer is streamed unless the request says `"stream": false`.
    fn streams_by_default(&self) -> bool {
        false
    }

    /// A framing of the response body this API uses besides one JSON document and SSE (which
    /// every API may use), judged from the content type and the body.
    fn stream_framing(&self, _content_type: &str, _text: &str) -> Option<Framing> {
        None
    }

    /// Decodes the request's JSON into `c`.
    fn request(&self, json: &Value, c: &mut Conversation);

    /// Decodes a whole (non-streamed) response body; false when its shape is not this API's.
    fn response(&self, json: &Value, c: &mut Conversation) -> bool;

    /// Decodes the chunks of a streamed answer; true when the stream reached its final event.
    fn stream(&self, stream: &Stream, c: &mut Conversation) -> bool;
}

/// Whether the method is POST, the method of every LLM call.
pub(crate) fn is_post(method: &str) -> bool {
    method.eq_ignore_ascii_case("POST")
}

/// The API an exchange's method and path belong to: the detection [`super::recognise()`] and
/// [`super::decode()`] share. The first in [`APIS`] that recognises it.
pub(crate) fn api_of(method: &str, path: &str) -> Option<&'static dyn Api> {
    super::APIS
        .iter()
        .copied()
        .find(|api| api.recognises(method, path))
}
