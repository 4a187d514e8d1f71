//! What the recorder thread spends on one exchange of `bench/https-get` (a keep-alive GET of a
//! 1 KiB text file): the request's and response's headers redacted, the URL redacted, the
//! response body stored (text, tried as base64) and both records serialized as JSON lines.
//! `cargo run --release -p phonehome-record --example record_cost`. Prints the time per
//! exchange and per step.

use std::hint::black_box;
use std::time::{Duration, Instant};

use phonehome_record::{
    encode_body, BodyInput, ConnId, FlowId, Headers, Record, Redactor, Request, Response,
};

fn pairs(list: &[(&str, &str)]) -> Headers {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn request() -> Request {
    Request {
        ts: phonehome_record::now(),
        flow: FlowId(1),
        conn: ConnId(1),
        method: "GET".into(),
        url: "https://localhost/1k".into(),
        version: "HTTP/1.1".into(),
        headers: pairs(&[
            ("host", "localhost"),
            ("user-agent", "hey/0.0.1"),
            ("content-type", "text/html"),
            ("accept-encoding", "gzip"),
        ]),
        raw_header_names: ["Host", "User-Agent", "Content-Type", "Accept-Encoding"]
            .map(str::to_owned)
            .to_vec(),
        body: None,
        sinkhole: None,
        process: None,
        ancestry: Vec::new(),
    }
}

fn response() -> Response {
    Response {
        ts: phonehome_record::now(),
        flow: FlowId(1),
        status: 200,
        reason: "OK".into(),
        version: "HTTP/1.1".into(),
        headers: pairs(&[
            ("server", "nginx/1.26.3"),
            ("date", "Sun, 06 Dec 2026 09:00:00 GMT"),
            ("content-type", "text/plain"),
            ("content-length", "1024"),
            ("last-modified", "Sun, 06 Dec 2026 08:59:58 GMT"),
            ("connection", "keep-alive"),
            ("etag", "\"6933ef2e-400\""),
            ("accept-ranges", "bytes"),
        ]),
        body: None,
        ttfb_ms: 1,
        first_byte_ms: Some(1),
        duration_ms: 1,
    }
}

/// The recorder's header step: learn credentials, then redact every value.
fn redact_headers(headers: &mut Headers, redactor: &mut Redactor) {
    for (name, value) in headers.iter() {
        if let Some(credential) = Redactor::credential(name, value) {
            redactor.learn(credential);
        }
    }
    for (name, value) in headers.iter_mut() {
        *value = redactor.header(name, value);
    }
}

fn main() {
    let n: u32 = 20_000;
    let mut redactor = Redactor::new();
    let body = vec![b'x'; 1024];
    let (mut heads, mut bodies, mut json) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut out = Vec::with_capacity(1 << 20);
    for _ in 0..n {
        let (mut req, mut resp) = (request(), response());
        let start = Instant::now();
        redact_headers(&mut req.headers, &mut redactor);
        req.url = redactor.url(&req.url);
        redact_headers(&mut resp.headers, &mut redactor);
        let redacted = Instant::now();
        resp.body = encode_body(
            BodyInput {
                bytes: body.clone(),
                size: 1024,
                limit: 16 << 20,
                ..BodyInput::default()
            },
            &redactor,
        );
        let encoded = Instant::now();
        for record in [Record::Request(req), Record::Response(resp)] {
            serde_json::to_writer(&mut out, black_box(&record)).expect("serialize");
            out.push(b'\n');
        }
        if out.len() > (1 << 20) - 4096 {
            out.clear();
        }
        let written = Instant::now();
        heads += redacted - start;
        bodies += encoded - redacted;
        json += written - encoded;
    }
    let total = heads + bodies + json;
    let text = String::from_utf8(body.clone()).expect("text");
    let start = Instant::now();
    for _ in 0..n {
        black_box(redactor.text(black_box(&text)));
    }
    let text_pass = start.elapsed() / n;
    let start = Instant::now();
    for _ in 0..n {
        black_box(redactor.header(black_box("user-agent"), black_box("hey/0.0.1")));
    }
    println!(
        "one text() pass over the body: {text_pass:?}; one header value: {:?}",
        start.elapsed() / n
    );
    println!(
        "per exchange: {:?} (headers + URL {:?}, body {:?}, JSON {:?})",
        total / n,
        heads / n,
        bodies / n,
        json / n
    );
}
