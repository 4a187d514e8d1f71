//! Synthetic captures shaped like real investigations, written with the capture crate's own
//! types. No real session's data: names, hosts and keys are made up.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use phonehome_record::{
    Body, BodyEncoding, Capture, CaptureWriter, Conn, ConnId, ConnProcess, Counts, End, FlowId,
    Marker, Markers, Mode, ProcessInfo, Record, Request, Response, SecretMarker, Target, Transport,
};

pub const START: &str = "2026-03-02T10:00:00.000Z";
/// The fingerprint the (made-up) OpenAI key has in the synthetic captures.
pub const KEY_FP: &str = "5eb63bbe";

/// Writes records to a capture file, numbering flows.
pub struct Synth {
    writer: CaptureWriter,
    start: DateTime<Utc>,
    flow: u64,
    counts: Counts,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn text(data: &str) -> Option<Body> {
    Some(Body {
        size: data.len() as u64,
        encoding: BodyEncoding::Utf8,
        data: data.to_owned(),
        truncated: false,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    })
}

fn binary(size: u64) -> Option<Body> {
    Some(Body {
        size,
        encoding: BodyEncoding::Base64,
        data: "H4sIAAAAAAAAAw==".to_owned(),
        truncated: true,
        decoded_from: None,
        dropped_bytes: 0,
        redaction: None,
    })
}

pub fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

impl Synth {
    pub fn create(path: &Path, command: &[&str], markers: Markers) -> Self {
        let start: DateTime<Utc> = START.parse().expect("start");
        let mut writer = CaptureWriter::create(path).expect("capture");
        writer
            .write(&Record::Capture(Capture {
                ts: START.to_owned(),
                format: phonehome_record::FORMAT.to_owned(),
                id: "synthetic".to_owned(),
                tool_version: "0.1.0".to_owned(),
                mode: Mode::Run,
                command: command.iter().map(|s| (*s).to_owned()).collect(),
                cwd: "/home/dev/acme-app".to_owned(),
                policy: "observe".to_owned(),
                options: Default::default(),
                markers,
                agent: None,
            }))
            .expect("write");
        Self {
            writer,
            start,
            flow: 0,
            counts: Counts::default(),
        }
    }

    /// One exchange at `at_ms` after the start; `status` 0 means no response (with `error`).
    #[allow(clippy::too_many_arguments)]
    pub fn exchange(
        &mut self,
        at_ms: i64,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Option<Body>,
        status: u16,
        response_headers: Vec<(String, String)>,
        response_body: Option<Body>,
    ) {
        self.flow += 1;
        let at = self.start + Duration::milliseconds(at_ms);
        self.write(Record::Request(Request {
            ts: ts(at),
            flow: FlowId(self.flow),
            conn: ConnId(self.flow),
            method: method.to_owned(),
            url: url.to_owned(),
            version: "HTTP/1.1".to_owned(),
            headers,
            raw_header_names: Vec::new(),
            body,
            sinkhole: None,
            process: None,
            ancestry: Vec::new(),
        }));
        self.counts.requests += 1;
        if status == 0 {
            return;
        }
        self.counts.responses += 1;
        self.write(Record::Response(Response {
            ts: ts(at + Duration::milliseconds(40)),
            flow: FlowId(self.flow),
            status,
            reason: String::new(),
            version: "HTTP/1.1".to_owned(),
            headers: response_headers,
            body: response_body,
            ttfb_ms: 30,
            first_byte_ms: None,
            duration_ms: 40,
        }));
    }

    /// The `conn` record of the last exchange's connection (its id is the flow's), naming
    /// `exe` as its process (`None`: the owner was not found), written when it closes.
    pub fn conn(&mut self, at_ms: i64, host: &str, exe: Option<&str>) {
        let at = self.start + Duration::milliseconds(at_ms);
        let process = match exe {
            Some(exe) => ConnProcess::Known(ProcessInfo {
                pid: 4000 + self.flow as u32,
                ppid: 4000,
                exe: exe.to_owned(),
                argv: vec![exe.rsplit('/').next().unwrap_or(exe).to_owned()],
                start: ts(self.start),
            }),
            None => ConnProcess::unknown("the socket was not in the TCP table"),
        };
        self.write(Record::Conn(Conn {
            ts: ts(at),
            conn: ConnId(self.flow),
            client: "127.0.0.1:40000".to_owned(),
            target: Target {
                host: host.to_owned(),
                port: 443,
            },
            transport: Transport::TlsIntercept,
            tls: None,
            upstream: None,
            bytes_up: 0,
            bytes_down: 0,
            opened: ts(at),
            duration_ms: 0,
            sinkhole: None,
            first_bytes: None,
            process: Some(Box::new(process)),
            ancestry: Vec::new(),
        }));
        self.counts.conns += 1;
    }

    fn write(&mut self, record: Record) {
        self.writer.write(&record).expect("write");
    }

    pub fn finish(mut self, at_ms: i64) {
        let at = self.start + Duration::milliseconds(at_ms);
        let counts = self.counts.clone();
        self.write(Record::End(End {
            ts: ts(at),
            exit_code: Some(1),
            counts,
            dropped_bytes: 0,
            lost: None,
            otlp: None,
        }));
        self.writer.flush().expect("flush");
    }
}

const PACKAGES: [(&str, &str); 16] = [
    ("@ai-sdk/openai-compatible", "1.0.19"),
    ("@ai-sdk/provider", "2.0.0"),
    ("@ai-sdk/provider-utils", "3.0.9"),
    ("@opencode-ai/plugin", "0.9.6"),
    ("@opencode-ai/sdk", "0.9.6"),
    ("eventsource-parser", "3.0.6"),
    ("zod", "4.1.8"),
    ("zod-to-json-schema", "3.24.6"),
    ("nanoid", "5.1.5"),
    ("secure-json-parse", "4.0.0"),
    ("json-schema", "0.4.0"),
    ("@standard-schema/spec", "1.0.0"),
    ("remeda", "2.26.0"),
    ("hono", "4.9.7"),
    ("partial-json", "0.1.7"),
    ("ulid", "3.0.1"),
];

/// The investigation: 1,195 requests to 5 domains.
pub fn investigation(path: &Path) {
    let markers = Markers {
        values: vec![Marker {
            kind: "cwd".to_owned(),
            value: "/home/dev/acme-app".to_owned(),
        }],
        secrets: vec![SecretMarker {
            kind: "env".to_owned(),
            name: "OPENAI_API_KEY".to_owned(),
            fingerprint: KEY_FP.to_owned(),
        }],
    };
    let mut s = Synth::create(path, &["opencode", "run", "fix the failing test"], markers);
    let ua = "opencode/1.18.33 ai-sdk/provider-utils/3.0.9 runtime/bun/1.3.14";
    let llm_headers = || {
        h(&[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer [REDACTED:{KEY_FP}]")),
            ("user-agent", ua),
        ])
    };
    let prompt = r#"{"model":"gpt-4.1","stream":true,"messages":[{"role":"system","content":"You are opencode. Working directory: /home/dev/acme-app"},{"role":"user","content":"fix the failing test in the scheduler module"}]}"#;
    let sse = h(&[("content-type", "text/event-stream")]);
    s.exchange(
        200,
        "GET",
        "https://models.dev/api.json",
        h(&[("user-agent", ua)]),
        None,
        200,
        h(&[("content-type", "application/json")]),
        text(r#"{"openai":{"models":{}}}"#),
    );
    for (i, (name, version)) in PACKAGES.iter().enumerate() {
        let base = name.rsplit('/').next().expect("name");
        let url = format!("https://npm-mirror.corp.test/{name}/-/{base}-{version}.tgz");
        s.exchange(
            500 + i as i64 * 50,
            "GET",
            &url,
            h(&[("user-agent", "bun/1.3.14")]),
            None,
            200,
            h(&[("content-type", "application/octet-stream")]),
            binary(40_000),
        );
    }
    s.exchange(1_500, "GET",
        "https://github.com/BurntSushi/ripgrep/releases/download/14.1.1/ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz",
        h(&[("user-agent", ua)]), None, 302,
        h(&[("location", "https://objects.githubusercontent.com/github-production-release-asset-2e65be/71048878/ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz")]),
        None);
    s.exchange(1_600, "GET",
        "https://objects.githubusercontent.com/github-production-release-asset-2e65be/71048878/ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz",
        h(&[("user-agent", ua)]), None, 200, h(&[("content-type", "application/octet-stream")]), binary(2_566_144));
    for i in 0..34 {
        s.exchange(
            2_000 + i * 1_000,
            "POST",
            "https://api.openai.com/v1/chat/completions",
            llm_headers(),
            text(prompt),
            200,
            sse.clone(),
            text("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"),
        );
    }
    for i in 0..1_142 {
        let status = match i % 10 {
            0 => 500,
            1 => 503,
            _ => 429,
        };
        s.exchange(
            60_000 + i * 100,
            "POST",
            "https://api.openai.com/v1/chat/completions",
            llm_headers(),
            text(prompt),
            status,
            h(&[("content-type", "application/json")]),
            text(r#"{"error":{"type":"rate_limit_exceeded","message":"Rate limit reached"}}"#),
        );
    }
    s.finish(180_000);
}

/// A capture with three leaks: the working directory in a header to a telemetry host, the API
/// key sent to a second site, and the prompt sent to a vendor's title endpoint while a local
/// model is configured. With `clean`, the same traffic without any of them.
pub fn leaks(path: &Path, clean: bool) {
    let markers = Markers {
        values: vec![
            Marker {
                kind: "cwd".to_owned(),
                value: "/home/dev/acme-app".to_owned(),
            },
            Marker {
                kind: "git_remote".to_owned(),
                value: "git@github.com:acme/acme-app.git".to_owned(),
            },
        ],
        secrets: vec![SecretMarker {
            kind: "env".to_owned(),
            name: "OPENAI_API_KEY".to_owned(),
            fingerprint: KEY_FP.to_owned(),
        }],
    };
    let mut s = Synth::create(path, &["opencode", "run", "explain"], markers);
    let prompt = "explain the retry logic in scheduler.rs please";
    let chat =
        format!(r#"{{"model":"qwen3","messages":[{{"role":"user","content":"{prompt}"}}]}}"#);
    for i in 0..2 {
        s.exchange(
            100 + i * 500,
            "POST",
            "http://127.0.0.1:11434/v1/chat/completions",
            h(&[("content-type", "application/json")]),
            text(&chat),
            200,
            Vec::new(),
            text("{}"),
        );
    }
    let title = if clean {
        r#"{"model":"small","messages":[{"role":"user","content":"generate a title"}]}"#.to_owned()
    } else {
        format!(
            r#"{{"model":"small","messages":[{{"role":"system","content":"Generate a title"}},{{"role":"user","content":"{prompt}"}}]}}"#
        )
    };
    s.exchange(
        1_200,
        "POST",
        "https://opencode.ai/zen/v1/chat/completions",
        h(&[("content-type", "application/json")]),
        text(&title),
        200,
        Vec::new(),
        text("{}"),
    );
    let dir = if clean {
        "redacted"
    } else {
        "/home/dev/acme-app"
    };
    s.exchange(
        1_300,
        "POST",
        "https://us.i.posthog.com/batch",
        h(&[("content-type", "application/json"), ("x-project-dir", dir)]),
        text(r#"{"event":"start"}"#),
        200,
        Vec::new(),
        None,
    );
    let auth = format!("Bearer [REDACTED:{KEY_FP}]");
    s.exchange(
        1_400,
        "GET",
        "https://api.openai.com/v1/models",
        h(&[("authorization", &auth)]),
        None,
        200,
        Vec::new(),
        None,
    );
    if !clean {
        s.exchange(
            1_500,
            "GET",
            "https://gateway.untrusted.test/v1/models",
            h(&[("authorization", &auth)]),
            None,
            200,
            Vec::new(),
            None,
        );
    }
    s.finish(2_000);
}
