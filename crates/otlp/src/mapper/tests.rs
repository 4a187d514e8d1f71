use chrono::{DateTime, Utc};
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use phonehome_analyze::{Event, Exchange, ResponsePart};
use phonehome_record::{
    Blocked, Capture, Conn, ConnId, Dns, End, FlowId, Markers, Mode, Phase, Target, TlsInfo,
    Transport,
};

use super::*;
use crate::config::Overrides;

const T0: &str = "2026-03-02T10:00:00.000Z";

fn at(ms: i64) -> DateTime<Utc> {
    T0.parse::<DateTime<Utc>>().expect("ts") + chrono::Duration::milliseconds(ms)
}

fn header() -> Capture {
    Capture {
        ts: T0.into(),
        format: phonehome_record::FORMAT.into(),
        id: "cap-1".into(),
        tool_version: "0.1.0".into(),
        mode: Mode::Run,
        command: vec!["opencode".into(), "run".into()],
        cwd: "/w".into(),
        policy: "observe".into(),
        options: Default::default(),
        markers: Markers::default(),
        agent: None,
    }
}

fn exchange(flow: u64, conn: u64, url: &str, status: Option<u16>) -> Exchange {
    let (host, port) = ("api.openai.com".to_owned(), 443);
    Exchange {
        flow: FlowId(flow),
        conn: Some(ConnId(conn)),
        ts: at(100),
        method: "GET".into(),
        url: url.into(),
        host,
        port,
        path: "/v1/models".into(),
        query: None,
        version: "HTTP/2".into(),
        request_headers: Vec::new(),
        raw_header_names: Vec::new(),
        request_body: None,
        response: status.map(|status| ResponsePart {
            status,
            reason: String::new(),
            version: "HTTP/2".into(),
            headers: Vec::new(),
            body: None,
            ttfb_ms: 10,
            first_byte_ms: None,
            duration_ms: 25,
        }),
        error: status
            .is_none()
            .then(|| (Phase::UpstreamHttp, "reset".to_owned())),
        sinkhole: None,
    }
}

fn conn(id: u64) -> Conn {
    Conn {
        ts: phonehome_record::timestamp(at(500)),
        conn: ConnId(id),
        client: "127.0.0.1:1".into(),
        target: Target {
            host: "api.openai.com".into(),
            port: 443,
        },
        transport: Transport::TlsIntercept,
        tls: Some(TlsInfo {
            ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
            ..TlsInfo::default()
        }),
        upstream: None,
        bytes_up: 1,
        bytes_down: 2,
        opened: phonehome_record::timestamp(at(50)),
        duration_ms: 450,
        sinkhole: None,
        first_bytes: None,
        process: None,
        ancestry: Vec::new(),
    }
}

fn events() -> Vec<Event> {
    let target = Target {
        host: "models.dev".into(),
        port: 443,
    };
    vec![
        Event::Header(header()),
        Event::Exchange(exchange(
            1,
            7,
            "https://api.openai.com/v1/models",
            Some(200),
        )),
        Event::Exchange(exchange(2, 7, "https://api.openai.com/v1/models", None)),
        Event::Conn(conn(7)),
        Event::Failure {
            ts: at(600),
            conn: None,
            target: target.clone(),
            phase: Phase::Dns,
            message: "no such host".into(),
        },
        Event::Blocked(Blocked {
            ts: phonehome_record::timestamp(at(700)),
            conn: None,
            flow: None,
            target,
            method: None,
            url: None,
            rule: "deny models.dev".into(),
            enforced: true,
        }),
        Event::Dns(Dns {
            ts: phonehome_record::timestamp(at(800)),
            query: "example.test".into(),
            qtype: "A".into(),
            answers: vec!["192.0.2.1".into()],
        }),
        Event::End(End {
            ts: phonehome_record::timestamp(at(1000)),
            exit_code: Some(0),
            counts: Default::default(),
            dropped_bytes: 0,
            lost: None,
            otlp: None,
        }),
    ]
}

fn map() -> Output {
    let settings = Settings::resolve(|_| None, Overrides::default()).expect("settings");
    let catalog = Catalog::builtin();
    let mut prelude = Prelude::new(&catalog);
    for event in events() {
        prelude.push(event);
    }
    let mut mapper = prelude.into_mapper(&settings, catalog).expect("mapper");
    mapper.finish();
    std::mem::take(&mut mapper.out)
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn flows_wait_for_their_conn_and_hang_under_it() {
    let out = map();
    let ids = Ids::new("cap-1");
    let conn_span = ids.span(SpanKey::Conn(ConnId(7)));
    let flows: Vec<_> = out
        .spans
        .iter()
        .filter(|s| attr(s, "url.full").is_some())
        .collect();
    assert_eq!(flows.len(), 2);
    for flow in &flows {
        assert_eq!(flow.parent_span_id, conn_span);
        assert_eq!(flow.span_kind, SpanKind::Client);
        assert_eq!(
            attr(flow, "tls.client.ja4").map(Value::as_str).as_deref(),
            Some("t13d1516h2_8daaf6152771_02713d6af862")
        );
        assert_eq!(
            attr(flow, "network.protocol.version")
                .map(Value::as_str)
                .as_deref(),
            Some("2")
        );
    }
    let failed = flows
        .iter()
        .find(|s| attr(s, "http.response.status_code").is_none())
        .expect("the flow without a response");
    assert_eq!(
        attr(failed, "error.type").map(Value::as_str).as_deref(),
        Some("upstream_http")
    );
    let conn = out
        .spans
        .iter()
        .find(|s| s.span_context.span_id() == conn_span)
        .expect("the conn span");
    assert_eq!(conn.parent_span_id, ids.span(SpanKey::Run));
}

#[test]
fn attempts_dns_and_the_root_are_spans_and_the_denial_a_log_record() {
    let out = map();
    let named = |prefix: &str| {
        out.spans
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .count()
    };
    assert_eq!(named("dns models.dev:443"), 1, "the DNS failure");
    assert_eq!(named("blocked models.dev:443"), 1);
    assert_eq!(named("dns A example.test"), 1);
    let root = out
        .spans
        .iter()
        .find(|s| s.parent_span_id == opentelemetry::trace::SpanId::INVALID)
        .expect("root");
    assert_eq!(root.name, "phonehome run");
    assert_eq!(root.start_time, time(at(0)));
    assert_eq!(root.end_time, time(at(1000)));
    assert_eq!(out.logs.len(), 1);
    assert_eq!(out.logs[0].event_name, "phonehome.blocked");
}

#[test]
fn the_same_events_give_the_same_ids() {
    let ids = |out: Output| {
        let mut ids: Vec<_> = out
            .spans
            .iter()
            .map(|s| {
                (
                    s.span_context.trace_id().to_bytes(),
                    s.span_context.span_id().to_bytes(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let first = ids(map());
    assert_eq!(first, ids(map()));
    let distinct: std::collections::BTreeSet<_> = first.iter().collect();
    assert_eq!(distinct.len(), first.len(), "no two spans share an id");
}
