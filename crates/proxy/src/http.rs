//! HTTP, on a plain or an intercepted connection: the [`engine`] that serves the client side;
//! the upstream [`link`] requests are forwarded over, or the [`sinkhole`] that answers in the
//! upstream's place; each [`flow`]'s records, with the [`tee`] that copies bodies into the
//! recorder and the [`idle`] limit on upstream bodies; the data frames of a body sent to an
//! HTTP/2 client [`joined`] when ready together; the [`headtap`] that reads headers as sent
//! (its HTTP/2 header blocks checked by [`hpack_guard`] first); [`websocket`] pass-through;
//! the [`responses`] phonehome gives itself; and what a client did wrong ([`client_error`]).
pub(crate) mod client_error;
pub(crate) mod engine;
pub(crate) mod flow;
pub(crate) mod headtap;
pub(crate) mod hpack_guard;
pub(crate) mod idle;
pub(crate) mod joined;
pub(crate) mod keepalive;
pub(crate) mod link;
pub(crate) mod parked;
pub(crate) mod responses;
pub(crate) mod sinkhole;
pub(crate) mod tee;
pub(crate) mod websocket;
