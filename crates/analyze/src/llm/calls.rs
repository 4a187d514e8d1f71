//! The LLM calls of a whole input (a capture or a HAR file), decoded as they are read and
//! handed on in flow order: memory holds the calls waiting for an earlier flow to end, not
//! the capture.

use super::conversation::Conversation;
use super::decode::decode;
use super::flow_order::FlowOrder;
use crate::event::SourceError;
use crate::event::{Event, Exchange};

/// Every LLM call of an input's events (from [`crate::open`]), decoded, in flow order.
///
/// A call is handed on once every flow before it has ended; one that waits behind a flow
/// that never ends is handed on once many later calls are waiting, so memory stays bounded
/// (see `flow_order.rs`). Side calls ([`Conversation::meta`]) are included.
///
/// # Errors
/// Each item is the next call, or the [`SourceError`] that stopped reading (after which the
/// iterator ends).
///
/// # Example
/// ```no_run
/// # fn main() -> Result<(), phonehome_analyze::SourceError> {
/// let events = phonehome_analyze::open(std::path::Path::new("capture.jsonl"))?;
/// for call in phonehome_analyze::llm::Calls::new(events) {
///     let call = call?;
///     println!("flow {}: {}", call.flow, call.model_label());
/// }
/// # Ok(())
/// # }
/// ```
pub struct Calls<I> {
    events: I,
    order: FlowOrder<Conversation>,
    ended: bool,
}

impl<I> Calls<I> {
    /// The calls of `events`, read as they are asked for.
    pub fn new(events: I) -> Self {
        Self {
            events,
            order: FlowOrder::default(),
            ended: false,
        }
    }

    /// The events read so far (for what the input says once read, such as a torn last line).
    pub fn events(&self) -> &I {
        &self.events
    }

    /// The events, once the calls are read (for what a tap over them kept).
    pub fn into_events(self) -> I {
        self.events
    }
}

impl<I: Iterator<Item = Result<Event, SourceError>>> Iterator for Calls<I> {
    type Item = Result<Conversation, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(call) = self.order.pop() {
                return Some(Ok(call));
            }
            if self.ended {
                return None;
            }
            match self.events.next() {
                Some(Ok(Event::Exchange(x))) => {
                    self.order.end(x.flow, decode(&x), weight(&x));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.ended = true;
                    self.order = FlowOrder::default();
                    return Some(Err(e));
                }
                None => {
                    self.ended = true;
                    self.order.finish();
                }
            }
        }
    }
}

/// About the bytes a decoded call holds: its bodies as stored.
fn weight(x: &Exchange) -> usize {
    let request = x.request_body.as_ref().map_or(0, |b| b.data.len());
    let response = x
        .response
        .as_ref()
        .and_then(|r| r.body.as_ref())
        .map_or(0, |b| b.data.len());
    request + response
}
