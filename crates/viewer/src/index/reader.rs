//! The index's reader thread: reads the capture once, line by line, and hands what each line
//! changes to the view in batches; unless the view is static, follows the file as it grows
//! until its `end` record.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::data::{Change, IndexData};
use super::line::LineIndexer;

/// How often a followed capture is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(150);
/// Rows are handed to the view in batches at most this far apart (and at the end of input).
const BATCH_TIME: Duration = Duration::from_millis(40);
/// Rows are handed to the view in batches of at most this many changes.
const BATCH_LEN: usize = 4096;

/// A capture being indexed: the shared data and the reader thread's stop switch.
pub struct Index {
    pub path: PathBuf,
    data: Arc<Mutex<IndexData>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Index {
    /// Starts reading `path` on a background thread; `follow` keeps reading as the file grows
    /// until its `end` record.
    pub fn open(path: &Path, follow: bool) -> Index {
        let data = Arc::new(Mutex::new(IndexData::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            path: path.to_owned(),
            data: data.clone(),
            stop: stop.clone(),
            follow,
            lines: LineIndexer::new(),
        };
        let thread = std::thread::Builder::new()
            .name("phonehome-index".into())
            .spawn(move || reader.run())
            .ok();
        Index {
            path: path.to_owned(),
            data,
            stop,
            thread,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, IndexData> {
        lock(&self.data)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(data: &Mutex<IndexData>) -> MutexGuard<'_, IndexData> {
    data.lock().unwrap_or_else(|e| e.into_inner())
}

struct Reader {
    path: PathBuf,
    data: Arc<Mutex<IndexData>>,
    stop: Arc<AtomicBool>,
    follow: bool,
    lines: LineIndexer,
}

/// Where the reader is in the file, and what it has not handed over yet.
struct Position {
    /// The line being read: a torn or still-growing last line stays here until it is whole.
    line: Vec<u8>,
    /// Bytes read, up to the end of the last whole line.
    offset: u64,
    line_no: u64,
    batch: Vec<Change>,
    flushed: Instant,
    /// The `end` record has been read.
    ended: bool,
}

impl Reader {
    fn run(mut self) {
        let file = match phonehome_analyze::open_regular(&self.path) {
            Ok(file) => file,
            Err(e) => return self.fail(&e),
        };
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut at = Position {
            line: Vec::new(),
            offset: 0,
            line_no: 0,
            batch: Vec::new(),
            flushed: Instant::now(),
            ended: false,
        };
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(e) = input.read_until(b'\n', &mut at.line) {
                self.flush(&mut at);
                return self.fail(&e);
            }
            if at.line.last() == Some(&b'\n') {
                self.take_line(&mut at);
                continue;
            }
            // End of what is there.
            self.flush(&mut at);
            if at.ended || !self.follow {
                return self.finish(&at);
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }

    fn take_line(&mut self, at: &mut Position) {
        at.line_no += 1;
        let start = at.offset;
        at.offset += at.line.len() as u64;
        if let Some(change) = self.lines.line(&at.line, start, at.line_no) {
            at.ended |= matches!(change, Change::End(_));
            at.batch.push(change);
        }
        at.line.clear();
        if at.batch.len() >= BATCH_LEN || at.flushed.elapsed() >= BATCH_TIME {
            self.flush(at);
        }
    }

    fn fail(&self, e: &std::io::Error) {
        let mut data = lock(&self.data);
        data.failure = Some(format!("cannot read {}: {e}", self.path.display()));
        data.done = true;
    }

    fn finish(&self, at: &Position) {
        let mut data = lock(&self.data);
        if !at.line.iter().all(u8::is_ascii_whitespace) {
            data.bad_lines.push((
                at.line_no + 1,
                "the last line is incomplete (torn write); skipped".into(),
            ));
        }
        data.done = true;
        data.generation += 1;
    }

    fn flush(&self, at: &mut Position) {
        at.flushed = Instant::now();
        let mut data = lock(&self.data);
        data.offset = at.offset;
        if at.batch.is_empty() {
            return;
        }
        data.generation += 1;
        data.apply(at.batch.drain(..));
    }
}
