//! Body spools: a large body's stored bytes kept in an unlinked temporary file instead of in
//! memory, so that the proxy's memory stays flat whatever `--max-body` is.
//!
//! A body's first [`SPOOL_AFTER`] stored bytes stay in memory; when more come, they and the
//! rest go to a spool file, opened with `O_TMPFILE` in the spool directory (the capture's
//! directory unless `--spool-dir` says otherwise), so it has no name: nothing is left behind,
//! whether the proxy ends or is killed. Where `O_TMPFILE` is not supported, the file is created
//! and unlinked at once (the `tempfile` crate).
//!
//! Files are made and written by a thread of their own, the spooler. The tee hands it each
//! chunk (a reference-counted `Bytes`, not a copy) and goes on: forwarding never waits on the
//! disk, even when the kernel throttles writers or the directory is on a slow file system.
//! Chunks waiting for the spooler still count in the recorder's budget, as spooled bytes do,
//! so the overload rule bounds them. The writer thread waits for a body's chunks to be written
//! ([`Spool::settle`]) and reads the file back when it writes the body's record, a binary
//! body straight into the capture line as base64. When no spool file can be made for a body,
//! the spooler keeps that body in memory; when one cannot be written to, the rest of the body
//! is not stored, and the writer counts it as dropped.
//!
//! What reaches the disk is sealed: a spooled body is raw, before redaction, and the blocks of
//! a deleted file can be read back from the disk after phonehome ends. Each spool file is
//! XORed with the ChaCha20 keystream (RFC 8439, <https://www.rfc-editor.org/rfc/rfc8439>)
//! under a key drawn from the operating system when phonehome starts and kept only in its
//! memory, and a nonce of its own; [`SpoolFile`] unseals it as the writer reads. Integrity is
//! not checked: the file is phonehome's own, open only to it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::ChaCha20;

use super::CapturedBody;

/// Stored bytes of a body kept in memory; past them the body goes to a spool file.
pub(crate) const SPOOL_AFTER: usize = 1024 * 1024;

/// Bytes sealed at a time by the spooler (the size of its one buffer).
const SEAL_STEP: usize = 64 * 1024;

/// Makes and drops one spool file in `dir`.
///
/// # Errors
/// Any I/O error creating it (no such directory, not writable).
pub(crate) fn check(dir: &Path) -> std::io::Result<()> {
    new_file(dir).map(drop)
}

fn new_file(dir: &Path) -> std::io::Result<File> {
    tempfile::tempfile_in(dir)
}

/// A body's spool as the tee and the writer hold it: the bytes handed to the spooler so far.
#[derive(Debug)]
pub(crate) struct Spool {
    job: Arc<Job>,
    len: usize,
}

/// Where a body's spooled bytes are, shared by the spooler and the body's [`Spool`].
#[derive(Debug, Default)]
struct Job {
    state: Mutex<JobState>,
    /// Signalled each time a chunk is done with.
    settled: Condvar,
}

#[derive(Debug, Default)]
struct JobState {
    /// Where the bytes go; `None` until the first chunk is taken.
    store: Option<Store>,
    /// Bytes of the chunks done with, stored or not.
    handled: usize,
    /// Bytes stored, in order and without gaps.
    stored: usize,
    /// A write failed: nothing more is stored for this body.
    failed: bool,
}

enum Store {
    /// The spool file, with the keystream at the end of what was written.
    File(SpoolFile),
    /// No spool file could be made: the body is kept in memory.
    Memory(Vec<u8>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::File(_) => "File",
            Store::Memory(_) => "Memory",
        })
    }
}

/// A spool file and its keystream: what is read is unsealed, what is sealed is written.
pub(crate) struct SpoolFile {
    file: File,
    keystream: ChaCha20,
}

impl SpoolFile {
    /// Seals `bytes` in place and writes them at the file's end.
    fn seal_and_write(&mut self, bytes: &mut [u8]) -> std::io::Result<()> {
        self.keystream.apply_keystream(bytes);
        self.file.write_all(bytes)
    }
}

impl Read for SpoolFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.keystream.apply_keystream(&mut buf[..n]);
        Ok(n)
    }
}

impl Seek for SpoolFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let at = self.file.seek(pos)?;
        self.keystream
            .try_seek(at)
            .map_err(|e| std::io::Error::other(format!("spool keystream: {e}")))?;
        Ok(at)
    }
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One chunk on its way to the spooler. However it ends (written, or dropped unwritten because
/// the spooler is gone), dropping it counts it as handled, so the writer never waits for it
/// in vain.
struct Chunk {
    job: Arc<Job>,
    bytes: Bytes,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.job.lock().handled += self.bytes.len();
        self.job.settled.notify_all();
    }
}

/// A spooled body once all its chunks are done with.
pub(crate) enum Settled {
    /// In the spool file, read from its first byte: that many bytes.
    File(SpoolFile, u64),
    /// Kept in memory (no spool file could be made).
    Memory(Vec<u8>),
}

impl Spool {
    /// Bytes handed to the spooler: what the body holds of the recorder's budget.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Waits until every chunk handed over is done with; then the stored bytes, and how many
    /// of the handed bytes were not stored (a write failed).
    ///
    /// # Errors
    /// Any I/O error seeking to the spool file's start.
    pub(crate) fn settle(self) -> std::io::Result<(Settled, usize)> {
        let job = self.job;
        let mut state = job.lock();
        while state.handled < self.len {
            state = job
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let lost = self.len - state.stored;
        let stored = state.stored as u64;
        let settled = match state.store.take() {
            Some(Store::File(mut file)) => {
                file.seek(SeekFrom::Start(0))?;
                Settled::File(file, stored)
            }
            Some(Store::Memory(bytes)) => Settled::Memory(bytes),
            None => Settled::Memory(Vec::new()),
        };
        Ok((settled, lost))
    }
}

/// Where spool files go, and the spooler that makes and writes them.
#[derive(Debug)]
pub(crate) struct SpoolDir {
    spooler: mpsc::Sender<Chunk>,
}

/// The spooler thread's side.
struct Spooler {
    dir: PathBuf,
    /// For tests only: no chunk is taken while this file does not exist.
    gate: Option<PathBuf>,
    warned: AtomicBool,
    /// The key every spool file is sealed under, drawn at start.
    key: [u8; 32],
    /// Spool files opened so far: the next one's nonce.
    opened: u64,
    /// Where a chunk is sealed before it is written.
    buffer: Vec<u8>,
}

impl SpoolDir {
    /// Starts the spooler thread for `dir`; it ends when this is dropped and every chunk
    /// handed over is written. `gate` is for tests only: no chunk is written while that file
    /// does not exist (a disk that does not take writes).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn start(dir: PathBuf, gate: Option<PathBuf>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Chunk>();
        let mut spooler = Spooler::new(dir, gate)?;
        std::thread::Builder::new()
            .name("phonehome-spooler".into())
            .spawn(move || {
                for chunk in rx {
                    spooler.take(&chunk);
                }
            })?;
        Ok(Self { spooler: tx })
    }

    /// Stores `data` after what `body` holds: in memory up to [`SPOOL_AFTER`], then through
    /// the spooler (what was in memory handed over first). Never waits on the disk.
    pub(crate) fn store(&self, body: &mut CapturedBody, data: &Bytes) {
        if body.spool.is_none() {
            if body.bytes.len() + data.len() <= SPOOL_AFTER {
                body.bytes.extend_from_slice(data);
                return;
            }
            let mut spool = Spool {
                job: Arc::default(),
                len: 0,
            };
            self.hand(&mut spool, Bytes::from(std::mem::take(&mut body.bytes)));
            body.spool = Some(spool);
        }
        if let Some(spool) = body.spool.as_mut() {
            self.hand(spool, data.clone());
        }
    }

    /// Hands `bytes` to the spooler for `spool`. Should the spooler be gone, the chunk is
    /// dropped unwritten and [`Spool::settle`] counts it as lost.
    fn hand(&self, spool: &mut Spool, bytes: Bytes) {
        spool.len += bytes.len();
        let chunk = Chunk {
            job: spool.job.clone(),
            bytes,
        };
        // A send fails only once the spooler is gone; the chunk then drops here, counted.
        let _ = self.spooler.send(chunk);
    }
}

impl Spooler {
    /// # Errors
    /// The operating system gives no random bytes for the key.
    fn new(dir: PathBuf, gate: Option<PathBuf>) -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(std::io::Error::other)?;
        Ok(Self {
            dir,
            gate,
            warned: AtomicBool::new(false),
            key,
            opened: 0,
            buffer: Vec::with_capacity(SEAL_STEP),
        })
    }

    fn take(&mut self, chunk: &Chunk) {
        if let Some(gate) = &self.gate {
            while !gate.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let mut state = chunk.job.lock();
        if state.failed {
            return;
        }
        let written = match state.store.get_or_insert_with(|| self.open_store()) {
            Store::File(file) => chunk.bytes.chunks(SEAL_STEP).try_for_each(|step| {
                self.buffer.clear();
                self.buffer.extend_from_slice(step);
                file.seal_and_write(&mut self.buffer)
            }),
            Store::Memory(bytes) => {
                bytes.extend_from_slice(&chunk.bytes);
                Ok(())
            }
        };
        match written {
            Ok(()) => state.stored += chunk.bytes.len(),
            Err(e) => {
                state.failed = true;
                self.warn(&e);
            }
        }
    }

    /// Where a body's first chunk and the rest go: a new spool file, or memory when none can
    /// be made (said once).
    fn open_store(&mut self) -> Store {
        match self.open() {
            Ok(file) => Store::File(file),
            Err(e) => {
                self.warn(&e);
                Store::Memory(Vec::new())
            }
        }
    }

    /// A new spool file, sealed under the key and a nonce used for no other.
    fn open(&mut self) -> std::io::Result<SpoolFile> {
        let file = new_file(&self.dir)?;
        self.opened += 1;
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.opened.to_le_bytes());
        let keystream = ChaCha20::new_from_slices(&self.key, &nonce)
            .map_err(|e| std::io::Error::other(format!("spool keystream: {e}")))?;
        Ok(SpoolFile { file, keystream })
    }

    fn warn(&self, error: &std::io::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "phonehome: warning: cannot spool a large body in {}: {error}; bodies stay in memory or are cut short",
                self.dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests;
