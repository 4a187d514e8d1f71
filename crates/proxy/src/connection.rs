//! One client connection's identity and record: its id, what is learnt of it as it goes
//! (target, transport, TLS, upstream), its byte counters, and the `conn` record written when
//! the last part of the connection ends.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use phonehome_record::{
    Conn, ConnId, ConnUpstream, ErrorRecord, Phase, Record, Sinkhole, Target, TlsInfo, Transport,
};

use crate::attribution::{Attribution, Lineage};
use crate::context::Context;
use crate::dial::error::DialError;
use crate::enforce::{self, Verdict};
use crate::observe::Observer;
use crate::recorder::Recorder;

/// Byte counters of the client side of a connection.
#[derive(Default)]
pub(crate) struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// What is known about a connection, completed as it goes.
pub(crate) struct ConnInfo {
    pub target: Option<Target>,
    pub transport: Transport,
    pub tls: Option<TlsInfo>,
    pub upstream: Option<ConnUpstream>,
    /// Set when phonehome answers the connection itself.
    pub sinkhole: Option<Sinkhole>,
    /// On a sinkholed connection, the size of first bytes that were neither TLS nor HTTP.
    pub first_bytes: Option<u64>,
}

/// A client connection's identity and record. The `conn` record is written when the last
/// reference is dropped, whatever ended the connection.
pub(crate) struct ConnState {
    pub id: ConnId,
    pub recorder: Recorder,
    pub ctx: Arc<Context>,
    client: SocketAddr,
    opened: SystemTime,
    opened_at: Instant,
    counters: Arc<Counters>,
    info: Mutex<ConnInfo>,
    /// Whether the client socket belongs to a process outside the command's tree (`run`).
    pub outsider: bool,
    /// Who owned the client socket at accept, for the `conn` record.
    attribution: Mutex<Option<Arc<Attribution>>>,
    /// That owner as the policy's process rules see it.
    pub connecting: phonehome_policy::Connecting,
    /// Whether a `request` record carried the attribution already (the first one does).
    announced: std::sync::atomic::AtomicBool,
    /// A sinkholed connection's `blocked` or `error`, kept back so that it can carry the flow
    /// of the first request; written as it is when no request comes. Boxed: a `Record` is
    /// large and most connections never hold one.
    deferred: Mutex<Option<Box<Record>>>,
}

impl ConnState {
    pub(crate) fn info(&self) -> std::sync::MutexGuard<'_, ConnInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_target(&self, target: &Target, transport: Transport) {
        let mut info = self.info();
        if info.target.is_none() {
            info.target = Some(target.clone());
            info.transport = transport;
        }
    }

    pub(crate) fn set_upstream(&self, peer: SocketAddr, target: &Target) {
        let via = self
            .ctx
            .dialer
            .proxy()
            .filter(|p| !p.bypasses(&target.host));
        self.info().upstream = Some(ConnUpstream {
            addr: peer.to_string(),
            via: via.map(|p| p.display()),
            ..ConnUpstream::default()
        });
    }

    /// The policy's decision on `target` by its host alone, recorded when it denies: the rule
    /// when the denial is enforced (a dry run records it and lets the connection go on).
    /// When the connection will be sinkholed, the `blocked` record waits for its first flow.
    pub(crate) fn host_denied(&self, target: &Target) -> Option<String> {
        let Verdict::Deny { rule, enforced } =
            self.ctx.enforcer.as_ref()?.host(target, &self.connecting)
        else {
            return None;
        };
        let record = enforce::blocked(Some(self.id), None, target, None, &rule, enforced);
        if enforced && self.ctx.sinkhole.denied {
            self.sinkholed(Sinkhole::Denied, record);
        } else {
            self.recorder.record(record);
        }
        enforced.then_some(rule)
    }

    /// Gives the connection's first `request` record its `process` and `ancestry`, so that a
    /// live reader knows who sent it before the `conn` record is written at close.
    pub(crate) fn announce(&self, record: &mut phonehome_record::Request) {
        if self.announced.swap(true, Ordering::Relaxed) {
            return;
        }
        let attribution = self.attribution.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = attribution.as_ref() {
            record.process = Some(Box::new(a.process.clone()));
            record.ancestry = a.ancestry.clone();
        }
    }

    /// Runs the phase that serves this connection, which lasts as long as the connection,
    /// on a task of its own. The task that sniffed, dialled and shook hands then ends, and
    /// the states of those phases go with it: a task's future is as big as its biggest
    /// state, and an async call keeps the values its caller handed it beside the callee's
    /// own, so a serving phase awaited in place would hold all of that for the connection's
    /// life (bench/rss, the crowd workload). The connection is held until `serving` ends, so
    /// its `conn` record, written when the last reference goes, counts every byte served.
    pub(crate) fn serve_apart(
        self: &Arc<Self>,
        serving: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.ctx.spawn_holding(serving, self.clone());
    }

    /// Records a connection-level `error`.
    pub(crate) fn error(&self, target: &Target, phase: Phase, message: String) {
        self.recorder
            .record(self.error_record(target, phase, message));
    }

    fn error_record(&self, target: &Target, phase: Phase, message: String) -> Record {
        Record::Error(ErrorRecord {
            ts: phonehome_record::now(),
            flow: None,
            conn: Some(self.id),
            target: target.clone(),
            phase,
            message,
        })
    }

    /// An upstream that cannot be reached: recorded now, or, when the connection will be
    /// sinkholed (`--sinkhole unreachable`), kept back for its first flow. Whether it is.
    pub(crate) fn unreachable(&self, target: &Target, e: &DialError) -> bool {
        let record = self.error_record(target, e.phase, e.message.clone());
        if self.ctx.sinkhole.unreachable {
            self.sinkholed(Sinkhole::Unreachable, record);
            return true;
        }
        self.recorder.record(record);
        false
    }

    fn sinkholed(&self, why: Sinkhole, record: Record) {
        self.info().sinkhole = Some(why);
        *self.lock_deferred() = Some(Box::new(record));
    }

    /// The connection's kept-back `blocked` or `error`, for its first sinkholed request.
    pub(crate) fn take_deferred(&self) -> Option<Record> {
        self.lock_deferred().take().map(|record| *record)
    }

    fn lock_deferred(&self) -> std::sync::MutexGuard<'_, Option<Box<Record>>> {
        self.deferred.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        if let Some(record) = self.take_deferred() {
            self.recorder.record(record);
        }
        let attribution = self
            .attribution
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let info = self.info.get_mut().unwrap_or_else(|e| e.into_inner());
        let Some(target) = info.target.take() else {
            // Nothing was asked of this connection (a port probe, a request to the proxy itself).
            return;
        };
        self.recorder.record(Record::Conn(Conn {
            ts: phonehome_record::now(),
            conn: self.id,
            client: self.client.to_string(),
            target,
            transport: info.transport,
            tls: info.tls.take(),
            upstream: info.upstream.take(),
            bytes_up: self.counters.up.load(Ordering::Relaxed),
            bytes_down: self.counters.down.load(Ordering::Relaxed),
            opened: phonehome_record::timestamp(self.opened),
            duration_ms: u64::try_from(self.opened_at.elapsed().as_millis()).unwrap_or(u64::MAX),
            sinkhole: info.sinkhole,
            first_bytes: info.first_bytes,
            process: attribution.as_ref().map(|a| Box::new(a.process.clone())),
            ancestry: attribution.map(|a| a.ancestry.clone()).unwrap_or_default(),
        }));
    }
}

/// Counts the bytes that cross the client socket.
#[derive(Clone)]
pub(crate) struct Counting(pub Arc<Counters>);

impl Observer for Counting {
    fn read(&mut self, bytes: &[u8]) {
        self.0.up.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }

    fn wrote(&mut self, _bufs: &[io::IoSlice<'_>], n: usize) {
        self.0.down.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The owner as the policy's process rules see it: `own` is told only inside or outside the
/// command's tree, not when there is no command or the chain was cut short.
fn connecting(attribution: Option<&Attribution>) -> phonehome_policy::Connecting {
    let Some(a) = attribution else {
        return phonehome_policy::Connecting::unknown();
    };
    let in_tree = match a.lineage {
        Lineage::Command => Some(true),
        Lineage::Outsider => Some(false),
        _ => None,
    };
    phonehome_policy::Connecting::of(Some(&a.process), &a.ancestry, in_tree)
}

impl ConnState {
    /// A new client connection, not yet counted or named.
    /// A new client connection from `client` to `server` (phonehome's address, or under
    /// `--isolate` the destination inside the namespace), its owner looked up now.
    pub(crate) fn open(
        ctx: &Arc<Context>,
        client: SocketAddr,
        server: SocketAddr,
    ) -> (Arc<ConnState>, Arc<Counters>) {
        let attribution = ctx.attribute(client, server);
        let counters = Arc::new(Counters::default());
        let conn = Arc::new(ConnState {
            id: ctx.recorder.next_conn(),
            recorder: ctx.recorder.clone(),
            ctx: ctx.clone(),
            client,
            opened: SystemTime::now(),
            opened_at: Instant::now(),
            counters: counters.clone(),
            info: Mutex::new(ConnInfo {
                target: None,
                transport: Transport::Http,
                tls: None,
                upstream: None,
                sinkhole: None,
                first_bytes: None,
            }),
            outsider: attribution
                .as_ref()
                .is_some_and(|a| a.lineage == Lineage::Outsider),
            connecting: connecting(attribution.as_deref()),
            attribution: Mutex::new(attribution),
            announced: std::sync::atomic::AtomicBool::new(false),
            deferred: Mutex::new(None),
        });
        (conn, counters)
    }
}
