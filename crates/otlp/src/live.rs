//! `run --otlp` / `proxy --otlp`: records as the recorder writes them, through a bounded
//! queue, to the collector. The writer thread never waits: when the queue is full the record
//! is dropped and counted; a batch the collector does not take (down, slow, refusing) is
//! dropped and counted too, with one warning. The capture file has everything either way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use phonehome_analyze::FlowJoin;
use phonehome_catalog::Catalog;
use phonehome_record::{End, OtlpDelivery, Record};
use tokio::sync::mpsc;

use crate::config::Settings;
use crate::export::BATCH;
use crate::mapper::{Mapper, Prelude};
use crate::sink::{Patience, Sink};
use crate::ExportError;

/// Records the queue holds before it drops.
const QUEUE: usize = 8192;
/// How often what is mapped is sent, at the latest.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Longest wait at the end for the last batches.
const FINISH_WAIT: Duration = Duration::from_secs(10);

enum Message {
    Record(Box<Record>),
    Finish(Box<End>),
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    queue_dropped: AtomicU64,
    /// Spans and log records handed to the exporter and not yet answered.
    in_flight: AtomicU64,
    warned: AtomicBool,
}

impl Counters {
    fn delivery(&self) -> OtlpDelivery {
        OtlpDelivery {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            queue_dropped: self.queue_dropped.load(Ordering::Relaxed),
        }
    }

    /// One warning per export, on the first loss.
    fn warn_once(&self, why: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "phonehome: warning: OTLP export is dropping telemetry ({why}); the capture file is complete, the count is in its end record"
            );
        }
    }
}

/// The live exporter: [`Live::record`] from the writer thread, [`Live::finish`] at the end.
#[derive(Debug)]
pub struct Live {
    tx: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    done: Mutex<Option<std_mpsc::Receiver<()>>>,
}

impl Live {
    /// Starts the export task on `runtime`.
    ///
    /// # Errors
    /// [`ExportError::Build`] when the exporters cannot be made for the settings.
    pub fn start(
        settings: Settings,
        catalog: Catalog,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Live, ExportError> {
        let _guard = runtime.enter();
        let sink = Sink::new(&settings, Patience::Once)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done_rx) = std_mpsc::channel();
        let counters = Arc::new(Counters::default());
        let task = Task {
            settings,
            catalog: Some(catalog),
            sink,
            join: FlowJoin::default(),
            prelude: None,
            mapper: None,
            counters: counters.clone(),
        };
        runtime.spawn(async move {
            task.run(rx).await;
            let _ = done_tx.send(());
        });
        Ok(Live {
            tx,
            counters,
            done: Mutex::new(Some(done_rx)),
        })
    }

    /// Queues a record; never waits. A record that finds the queue full is dropped and
    /// counted.
    pub fn record(&self, record: Record) {
        match self.tx.try_reserve() {
            Ok(permit) => permit.send(Message::Record(Box::new(record))),
            Err(_) => {
                self.counters.queue_dropped.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .warn_once("its queue is full: the collector is slow or down");
            }
        }
    }

    /// Sends what is left, ending the trace with `end`, waiting at most 10 seconds; what
    /// was delivered. Call from a thread outside the runtime (the recorder's writer thread).
    pub fn finish(&self, end: &End) -> OtlpDelivery {
        let Some(done) = self.done.lock().ok().and_then(|mut d| d.take()) else {
            return self.counters.delivery();
        };
        let deadline = std::time::Instant::now() + FINISH_WAIT;
        let mut message = Message::Finish(Box::new(end.clone()));
        // Behind the records still queued; a queue that does not drain in time (a collector
        // that accepts connections and never answers) ends the wait.
        loop {
            match self.tx.try_send(message) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(back))
                    if std::time::Instant::now() < deadline =>
                {
                    message = back;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => return self.unfinished(),
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match done.recv_timeout(left) {
            Ok(()) => self.counters.delivery(),
            Err(_) => self.unfinished(),
        }
    }

    /// What was delivered when the last batches did not finish in time: the records still
    /// queued and the spans being sent count as failed.
    fn unfinished(&self) -> OtlpDelivery {
        self.counters
            .warn_once("the collector did not take the last batches in time");
        let queued = (QUEUE - self.tx.capacity()) as u64;
        let mut delivery = self.counters.delivery();
        delivery.failed += queued + self.counters.in_flight.load(Ordering::Relaxed);
        delivery
    }

    /// What was delivered so far.
    pub fn delivery(&self) -> OtlpDelivery {
        self.counters.delivery()
    }
}

struct Task {
    settings: Settings,
    catalog: Option<Catalog>,
    sink: Sink,
    join: FlowJoin,
    prelude: Option<Prelude>,
    mapper: Option<Mapper>,
    counters: Arc<Counters>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Record(record)) => self.record(*record).await,
                    Some(Message::Finish(end)) => return self.finish(*end).await,
                    None => return,
                },
                _ = tick.tick() => self.flush(true).await,
            }
        }
    }

    async fn record(&mut self, record: Record) {
        self.join.push(record);
        self.drain_join();
        if self
            .mapper
            .as_ref()
            .is_some_and(|m| m.pending_spans() >= BATCH)
        {
            self.flush(false).await;
        }
    }

    /// Maps the events the join has ready (into the prelude until the resource is decided).
    fn drain_join(&mut self) {
        while let Some(event) = self.join.pop() {
            if let Some(mapper) = &mut self.mapper {
                mapper.event(event);
                continue;
            }
            let catalog = self.catalog.as_ref().expect("kept until the mapper exists");
            let prelude = self.prelude.get_or_insert_with(|| Prelude::new(catalog));
            prelude.push(event);
            if prelude.ready() {
                self.start_mapper();
            }
        }
    }

    fn start_mapper(&mut self) {
        let (Some(prelude), Some(catalog)) = (self.prelude.take(), self.catalog.take()) else {
            return;
        };
        if let Some(mut mapper) = prelude.into_mapper(&self.settings, catalog) {
            mapper.set_live();
            self.sink.set_resource(&mapper.resource);
            self.mapper = Some(mapper);
        }
    }

    /// Sends what is mapped; on a tick, decides the resource first if still waiting.
    async fn flush(&mut self, tick: bool) {
        if tick && self.mapper.is_none() && self.prelude.is_some() {
            self.start_mapper();
        }
        let Some(mapper) = &mut self.mapper else {
            return;
        };
        if tick {
            mapper.release_held();
        }
        let spans = std::mem::take(&mut mapper.out.spans);
        let logs = std::mem::take(&mut mapper.out.logs);
        let trace = mapper.trace_id();
        let (n_spans, n_logs) = (spans.len() as u64, logs.len() as u64);
        self.counters
            .in_flight
            .store(n_spans + n_logs, Ordering::Relaxed);
        self.count(self.sink.spans(spans).await, n_spans);
        self.count(self.sink.logs(logs, trace).await, n_logs);
    }

    fn count(&self, result: Result<(), ExportError>, n: u64) {
        self.counters.in_flight.fetch_sub(n, Ordering::Relaxed);
        match result {
            Ok(()) => self.counters.sent.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                // The error and its causes, as the binary prints errors (`{:#}`).
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    why = format!("{why}: {cause}");
                    source = cause.source();
                }
                self.counters.warn_once(&why);
                self.counters.failed.fetch_add(n, Ordering::Relaxed)
            }
        };
    }

    async fn finish(mut self, end: End) {
        self.join.push(Record::End(end));
        self.drain_join();
        if self.mapper.is_none() {
            self.start_mapper();
        }
        if let Some(mapper) = &mut self.mapper {
            mapper.finish();
        }
        self.flush(false).await;
        if let Some(metrics) = self.mapper.as_mut().and_then(|m| m.metrics.collect()) {
            let _ = self.sink.metrics(&metrics).await;
        }
        self.sink.shutdown();
    }
}
