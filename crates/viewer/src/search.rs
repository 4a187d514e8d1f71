//! The body search: every record's text (headers and bodies included) searched on a
//! background thread, so the flow list can keep the rows whose records contain the needle.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A search of every record's text (headers and bodies included) on a background thread.
pub struct BodySearch {
    pub needle: String,
    result: Arc<Mutex<Option<HashSet<u64>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BodySearch {
    /// Starts looking for `needle` (any case) in the lines of `path`.
    pub fn start(path: &Path, needle: &str) -> BodySearch {
        let result = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (path, lower) = (path.to_owned(), needle.to_lowercase());
        let (out, halt) = (result.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("phonehome-search".into())
            .spawn(move || {
                let found = lines_containing(&path, lower.as_bytes(), &halt);
                *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
            })
            .ok();
        BodySearch {
            needle: needle.to_owned(),
            result,
            stop,
            thread,
        }
    }

    /// The byte offsets of the lines that contain the needle, once the search is done (the
    /// first call after that takes them).
    pub fn take_result(&self) -> Option<HashSet<u64>> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for BodySearch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Offsets of the lines of `path` that contain `lower` once ASCII-lowercased (JSON text as
/// recorded: a needle with quotes or newlines must be written as the capture escapes them).
fn lines_containing(path: &Path, lower: &[u8], stop: &AtomicBool) -> HashSet<u64> {
    let mut found = HashSet::new();
    let Ok(file) = File::open(path) else {
        return found;
    };
    let finder = memchr::memmem::Finder::new(lower);
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                line.make_ascii_lowercase();
                if finder.find(&line).is_some() {
                    found.insert(offset);
                }
                offset += n as u64;
            }
        }
    }
    found
}
