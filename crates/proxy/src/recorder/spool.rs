//! Body spools: a large body's stored bytes kept in an unlinked temporary file instead of in
//! memory, so that the proxy's memory stays flat whatever `--max-body` is.
//!
//! A body's first [`SPOOL_AFTER`] stored bytes stay in memory; when more come, they and the
//! rest go to a spool file, opened with `O_TMPFILE` in the spool directory (the capture's
//! directory unless `--spool-dir` says otherwise), so it has no name: nothing is left behind,
//! whether the proxy ends or is killed. Where `O_TMPFILE` is not supported, the file is created
//! and unlinked at once (the `tempfile` crate). The writer thread reads it back when it writes
//! the body's record, a binary body straight into the capture line as base64. The spooled bytes
//! still count in the recorder's budget: the overload rule is the same.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::CapturedBody;

/// Stored bytes of a body kept in memory; past them the body goes to a spool file.
pub(crate) const SPOOL_AFTER: usize = 1024 * 1024;

/// A spool file and how many bytes it holds.
#[derive(Debug)]
pub(crate) struct Spool {
    file: File,
    len: usize,
}

impl Spool {
    /// Opens a new, nameless spool file in `dir`.
    ///
    /// # Errors
    /// Any I/O error creating it (no such directory, not writable).
    pub(crate) fn create(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile_in(dir)?,
            len: 0,
        })
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len();
        Ok(())
    }

    /// The spool file at its first byte. It holds [`Spool::len`] bytes; a failed append may
    /// have left more after them.
    ///
    /// # Errors
    /// Any I/O error seeking.
    pub(crate) fn into_file(mut self) -> std::io::Result<File> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(self.file)
    }
}

/// Where spool files go, and whether failing to make one was said.
#[derive(Debug)]
pub(crate) struct SpoolDir {
    dir: std::path::PathBuf,
    warned: AtomicBool,
}

impl SpoolDir {
    pub(crate) fn new(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            warned: AtomicBool::new(false),
        }
    }

    /// Stores `data` after what `body` holds: in memory up to [`SPOOL_AFTER`], then in a spool
    /// file (what was in memory moved there). When no spool file can be made, the body stays
    /// in memory; when its spool file cannot be written to, `data` is not stored and false is
    /// returned (the caller counts it as dropped). Either is said once on stderr.
    pub(crate) fn store(&self, body: &mut CapturedBody, data: &[u8]) -> bool {
        if let Some(spool) = body.spool.as_mut() {
            let appended = spool.append(data);
            if let Err(e) = &appended {
                self.warn(e);
            }
            return appended.is_ok();
        }
        if !body.spool_refused && body.bytes.len() + data.len() > SPOOL_AFTER {
            match self.spool(&body.bytes, data) {
                Ok(spool) => {
                    body.bytes = Vec::new();
                    body.spool = Some(spool);
                    return true;
                }
                Err(e) => {
                    // Not tried again for this body: each try would write all of it anew.
                    body.spool_refused = true;
                    self.warn(&e);
                }
            }
        }
        body.bytes.extend_from_slice(data);
        true
    }

    /// A new spool file holding `first` then `then`.
    fn spool(&self, first: &[u8], then: &[u8]) -> std::io::Result<Spool> {
        let mut spool = Spool::create(&self.dir)?;
        spool.append(first)?;
        spool.append(then)?;
        Ok(spool)
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
mod tests {
    use super::*;

    #[test]
    fn a_body_past_the_first_mib_is_spooled_whole_and_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let spools = SpoolDir::new(dir.path().to_owned());
        let mut body = CapturedBody::default();
        let chunk = vec![7u8; SPOOL_AFTER / 2 + 1];
        for _ in 0..3 {
            assert!(spools.store(&mut body, &chunk));
        }
        assert!(body.bytes.is_empty());
        let spool = body.spool.take().expect("spooled");
        assert_eq!(spool.len(), chunk.len() * 3);
        let len = spool.len() as u64;
        let mut read = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(spool.into_file().expect("file"), len),
            &mut read,
        )
        .expect("read");
        assert_eq!(read, [chunk.as_slice(); 3].concat());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn a_body_whose_spool_cannot_be_made_stays_in_memory_and_is_not_tried_again() {
        let dir = tempfile::tempdir().expect("dir");
        let gone = dir.path().join("gone");
        let spools = SpoolDir::new(gone.clone());
        let mut body = CapturedBody::default();
        let chunk = vec![7u8; SPOOL_AFTER / 2 + 1];
        assert!(spools.store(&mut body, &chunk));
        assert!(spools.store(&mut body, &chunk));
        assert!(body.spool_refused && body.spool.is_none());
        // Were it tried again, this chunk would go to the directory that now exists.
        std::fs::create_dir(&gone).expect("mkdir");
        assert!(spools.store(&mut body, &chunk));
        assert!(body.spool.is_none());
        assert_eq!(body.bytes.len(), chunk.len() * 3);
    }
}
