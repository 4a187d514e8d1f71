//! The sinkhole: phonehome plays the server for what it will not forward, so that blocking does
//! not blind. A connection the policy denies (and, when asked, one whose upstream cannot be
//! reached) is still intercepted; each request on it is read and recorded in full, marked
//! `sinkhole`, and answered by phonehome: 403 with `x-phonehome-blocked` for a denial, 502 with
//! `x-phonehome-error` naming host and phase for a failure. Nothing is dialled or resolved.

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use phonehome_record::{Blocked, ErrorRecord, Record};

use crate::connection::ConnState;
use crate::dial::dialer::Dialed;
use crate::dial::error::DialError;
use crate::http::flow::{request_record, tee_request};
use crate::http::headtap::Heads;
use crate::http::link::Origin;
use crate::http::responses::{bad_gateway, blocked_json, RespBody};
use crate::http::tee::FlowLog;

/// Where a tunnel's bytes go once its protocol is known.
pub(crate) enum Upstream {
    /// The upstream, connected.
    Dialed(Dialed),
    /// Nowhere: phonehome answers (the sinkhole).
    Sink(SinkAnswer),
}

/// What phonehome answers on a sinkholed connection, for one origin.
pub(crate) struct Sink {
    pub origin: Origin,
    pub answer: SinkAnswer,
}

/// Why a connection or request is answered by phonehome.
#[derive(Debug, Clone)]
pub(crate) enum SinkAnswer {
    /// The policy denies it, by this rule.
    Denied { rule: String },
    /// Its upstream could not be reached.
    Unreachable(DialError),
}

impl SinkAnswer {
    fn kind(&self) -> phonehome_record::Sinkhole {
        match self {
            SinkAnswer::Denied { .. } => phonehome_record::Sinkhole::Denied,
            SinkAnswer::Unreachable(_) => phonehome_record::Sinkhole::Unreachable,
        }
    }

    /// What phonehome answers a request to `target` with: 403 for a denial, 502 for a failure.
    fn response(&self, target: &phonehome_record::Target, conn: &ConnState) -> Response<RespBody> {
        match self {
            SinkAnswer::Denied { rule } => {
                let explanation = conn.ctx.enforcer.as_ref().map(|e| e.explain(target));
                blocked_json(target, rule, explanation.as_ref())
            }
            SinkAnswer::Unreachable(e) => bad_gateway(target, e),
        }
    }
}

/// Reads, records and answers one request on a sinkholed connection.
pub(crate) async fn answer(
    req: Request<Incoming>,
    sink: &Sink,
    conn: &Arc<ConnState>,
    heads: Option<&Heads>,
) -> Response<RespBody> {
    let log = FlowLog::new(conn.recorder.clone(), conn.id, sink.origin.target.clone());
    let mut record = request_record(&req, &sink.origin, &log, conn.id, heads);
    conn.announce(&mut record);
    answer_recorded(req, record, log, &sink.answer, conn).await
}

/// Answers `req`, whose `request` record is `record`, instead of forwarding it: the denial or
/// failure is recorded with the flow, the whole body is read into the record (up to
/// `--max-body`, marked truncated beyond), then phonehome answers.
pub(crate) async fn answer_recorded(
    req: Request<Incoming>,
    mut record: phonehome_record::Request,
    log: Arc<FlowLog>,
    answer: &SinkAnswer,
    conn: &Arc<ConnState>,
) -> Response<RespBody> {
    record.sinkhole = Some(answer.kind());
    conn.recorder.record(decision(conn, &log, &record, answer));
    let (parts, body) = req.into_parts();
    // Reading it all lets the client see the answer rather than a reset mid-upload.
    let _ = tee_request(body, &parts.headers, conn, log.clone(), record)
        .collect()
        .await;
    answer.response(&log.target, conn)
}

/// Answers `req` with `--sinkhole off`: the denial is recorded with the flow, the body is
/// read (up to 1 MiB) and discarded unrecorded, then phonehome answers.
pub(crate) async fn refuse(
    req: Request<Incoming>,
    record: &phonehome_record::Request,
    log: &FlowLog,
    answer: &SinkAnswer,
    conn: &ConnState,
) -> Response<RespBody> {
    conn.recorder.record(decision(conn, log, record, answer));
    // Read what the client is still sending, so it sees the answer rather than a stream reset
    // (HTTP/2) or a connection closed mid-upload.
    let _ = http_body_util::Limited::new(req.into_body(), MAX_DISCARDED_BODY)
        .collect()
        .await;
    answer.response(&log.target, conn)
}

/// Most bytes of a refused request's body read (and discarded) before answering.
const MAX_DISCARDED_BODY: usize = 1 << 20;

/// The `blocked` or `error` record of a sinkholed request, carrying its flow: the one the
/// connection kept back for its first request, else a new one.
fn decision(
    conn: &ConnState,
    log: &FlowLog,
    request: &phonehome_record::Request,
    answer: &SinkAnswer,
) -> Record {
    let kept = conn.take_deferred();
    match (kept, answer) {
        (Some(Record::Blocked(mut b)), _) => {
            b.flow = Some(log.flow);
            b.method = Some(request.method.clone());
            b.url = Some(request.url.clone());
            Record::Blocked(b)
        }
        (Some(Record::Error(mut e)), _) => {
            e.flow = Some(log.flow);
            Record::Error(e)
        }
        (_, SinkAnswer::Denied { rule }) => Record::Blocked(Blocked {
            ts: phonehome_record::now(),
            conn: Some(conn.id),
            flow: Some(log.flow),
            target: log.target.clone(),
            method: Some(request.method.clone()),
            url: Some(request.url.clone()),
            rule: rule.clone(),
            enforced: true,
        }),
        (_, SinkAnswer::Unreachable(e)) => Record::Error(ErrorRecord {
            ts: phonehome_record::now(),
            flow: Some(log.flow),
            conn: Some(conn.id),
            target: log.target.clone(),
            phase: e.phase,
            message: e.message.clone(),
        }),
    }
}
