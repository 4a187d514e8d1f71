//! The HAR 1.2 `entry` as phonehome writes it: wire structs that borrow from the
//! [`Exchange`], so an entry is serialised straight from the capture's strings and bodies, in
//! the field order phonehome has always written.

use phonehome_record::{Body, BodyEncoding, FlowId, Phase};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

use crate::event::{self, Exchange, ResponsePart};

/// A HAR `entry`. Fields are in the order phonehome has always written them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry<'a> {
    started_date_time: String,
    time: u64,
    request: Request<'a>,
    response: Response<'a>,
    cache: Cache,
    timings: Timings,
    #[serde(rename = "_phonehome_flow")]
    flow: FlowId,
    #[serde(rename = "_phonehome_error", skip_serializing_if = "Option::is_none")]
    phonehome_error: Option<FlowError<'a>>,
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    method: &'a str,
    url: &'a str,
    http_version: &'a str,
    cookies: [NameValue<'a>; 0],
    headers: Headers<'a>,
    query_string: Vec<NameValue<'a>>,
    headers_size: i64,
    body_size: i64,
    #[serde(
        rename = "_phonehome_raw_header_names",
        skip_serializing_if = "<[String]>::is_empty"
    )]
    raw_header_names: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData<'a>>,
    /// Answered by phonehome's sinkhole (`request.sinkhole`).
    #[serde(
        rename = "_phonehome_sinkhole",
        skip_serializing_if = "Option::is_none"
    )]
    sinkhole: Option<phonehome_record::Sinkhole>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData<'a> {
    mime_type: &'a str,
    text: &'a str,
    #[serde(rename = "_phonehome_body")]
    body: &'a Body,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    status: u16,
    status_text: &'a str,
    http_version: &'a str,
    cookies: [NameValue<'a>; 0],
    headers: Headers<'a>,
    content: Content<'a>,
    #[serde(rename = "redirectURL")]
    redirect_url: &'a str,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content<'a> {
    size: u64,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(rename = "_phonehome_body", skip_serializing_if = "Option::is_none")]
    body: Option<&'a Body>,
}

/// `{}`: phonehome knows nothing of caches.
#[derive(Serialize)]
struct Cache {}

/// Milliseconds; -1 where the capture does not know.
#[derive(Serialize)]
struct Timings {
    blocked: i64,
    dns: i64,
    connect: i64,
    ssl: i64,
    send: u64,
    wait: u64,
    receive: u64,
}

#[derive(Serialize)]
struct FlowError<'a> {
    phase: Phase,
    message: &'a str,
}

#[derive(Serialize)]
struct NameValue<'a> {
    name: &'a str,
    value: &'a str,
}

/// Headers as HAR's `[{"name", "value"}]`, in wire order.
struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (name, value) in self.0 {
            seq.serialize_element(&NameValue { name, value })?;
        }
        seq.end()
    }
}

fn mime(headers: &[(String, String)]) -> &str {
    event::header(headers, "content-type").unwrap_or("")
}

impl<'a> Entry<'a> {
    pub(crate) fn of(x: &'a Exchange) -> Self {
        let (response, time, wait, receive) = match &x.response {
            Some(r) => (
                Response::of(r),
                r.duration_ms,
                r.ttfb_ms,
                r.duration_ms.saturating_sub(r.ttfb_ms),
            ),
            None => (Response::none(), 0, 0, 0),
        };
        Entry {
            started_date_time: phonehome_record::timestamp(x.ts),
            time,
            request: Request::of(x),
            response,
            cache: Cache {},
            timings: Timings {
                blocked: -1,
                dns: -1,
                connect: -1,
                ssl: -1,
                send: 0,
                wait,
                receive,
            },
            flow: x.flow,
            phonehome_error: x.error.as_ref().map(|(phase, message)| FlowError {
                phase: *phase,
                message,
            }),
            error: x.error.as_ref().map(|(_, message)| message.as_str()),
        }
    }
}

impl<'a> Request<'a> {
    fn of(x: &'a Exchange) -> Self {
        let query_string = x
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                NameValue { name, value }
            })
            .collect();
        Request {
            method: &x.method,
            url: &x.url,
            http_version: &x.version,
            cookies: [],
            headers: Headers(&x.request_headers),
            query_string,
            headers_size: -1,
            body_size: x.request_body.as_ref().map_or(0, |b| b.size as i64),
            raw_header_names: &x.raw_header_names,
            post_data: x.request_body.as_ref().map(|body| PostData {
                mime_type: mime(&x.request_headers),
                text: &body.data,
                body,
            }),
            sinkhole: x.sinkhole,
        }
    }
}

impl<'a> Response<'a> {
    fn of(r: &'a ResponsePart) -> Self {
        let body = r.body.as_ref();
        Response {
            status: r.status,
            status_text: &r.reason,
            http_version: &r.version,
            cookies: [],
            headers: Headers(&r.headers),
            content: Content {
                size: body.map_or(0, |b| b.size),
                mime_type: mime(&r.headers),
                text: body.map(|b| b.data.as_str()),
                encoding: body
                    .filter(|b| b.encoding == BodyEncoding::Base64)
                    .map(|_| "base64"),
                body,
            },
            redirect_url: event::header(&r.headers, "location").unwrap_or(""),
            headers_size: -1,
            body_size: body.map_or(0, |b| b.size as i64),
        }
    }

    /// The response of a flow that got none.
    fn none() -> Self {
        Response {
            status: 0,
            status_text: "",
            http_version: "",
            cookies: [],
            headers: Headers(&[]),
            content: Content {
                size: 0,
                mime_type: "",
                text: None,
                encoding: None,
                body: None,
            },
            redirect_url: "",
            headers_size: -1,
            body_size: -1,
        }
    }
}
