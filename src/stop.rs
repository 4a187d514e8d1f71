//! Stopping: SIGINT (Ctrl-C) and SIGTERM. The first starts an orderly stop (in-flight flows get
//! at most `--drain` seconds, then the `end` record is written); a second one stops at once,
//! the capture still closed with its `end` record and what was left unwritten counted.

use anyhow::{Context as _, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The stop signals, watched from before anything is started until phonehome exits.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

/// Which stop signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl StopSignals {
    /// Starts watching SIGINT and SIGTERM (they no longer end the process by themselves).
    pub fn watch() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
        })
    }

    /// Waits for the next stop signal.
    pub async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
        }
    }
}
