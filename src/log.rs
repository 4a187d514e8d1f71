//! Library log lines (hyper, h2, rustls, through `tracing`; `PHONEHOME_LOG` sets the level) on
//! phonehome's standard error: plain text unless it is a terminal, each distinct line once,
//! the repeats counted and said once at exit. Lines are the same when they differ only in
//! numbers (stream ids, ports, counts).

use std::collections::HashSet;
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

/// The distinct lines printed, and how many were not repeated.
#[derive(Default)]
pub struct Lines {
    seen: Mutex<HashSet<String>>,
    repeats: AtomicU64,
}

/// Most distinct lines remembered (and printed).
const MAX_DISTINCT: usize = 1000;

static LINES: std::sync::OnceLock<Lines> = std::sync::OnceLock::new();

/// Sends library log lines to standard error as this module says.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHONEHOME_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_writer(LogWriter)
        .init();
}

/// Says how many library log lines were not repeated, if any.
pub fn finish() {
    let repeats = LINES
        .get()
        .map_or(0, |lines| lines.repeats.load(Ordering::Relaxed));
    if repeats > 0 {
        eprintln!("phonehome: {repeats} repeated library log lines were not printed again");
    }
}

/// One event's text, printed when it is dropped unless a line like it was printed before.
pub struct EventWriter<'a> {
    lines: &'a Lines,
    text: Vec<u8>,
}

/// Makes an [`EventWriter`] per event, over the process's [`Lines`].
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = EventWriter<'static>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            lines: LINES.get_or_init(Lines::default),
            text: Vec::new(),
        }
    }
}

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.text);
        let shape: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
        let new = {
            let mut seen = self.lines.seen.lock().unwrap_or_else(|e| e.into_inner());
            // Bounded: past this many distinct lines, further ones are counted, not printed.
            seen.len() < MAX_DISTINCT && seen.insert(shape)
        };
        if new {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            self.lines.repeats.fetch_add(1, Ordering::Relaxed);
        }
    }
}
