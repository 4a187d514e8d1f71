//! Writing a capture file: one whole JSON line per record, file mode 0600.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use crate::record::Record;

mod base64_body;

/// Writes records to a capture file as JSON Lines.
///
/// Records are written one after another by a single writer, each followed by its newline, so
/// a crash can leave only the very last line incomplete; readers skip such a torn tail. Records
/// are serialized straight into the buffer, never held whole a second time (a body can be
/// tens of MiB).
///
/// A failed write never leaves a torn line inside the file: the file is cut back to the end of
/// the last line that [`CaptureWriter::flush`] completed, the lines written since are dropped
/// (their number is returned by [`CaptureWriter::discard`]), and later writes append after it.
/// While it is open the file holds an exclusive `flock(2)` lock: one writer per capture file.
#[derive(Debug)]
pub struct CaptureWriter {
    out: BufWriter<File>,
    /// File length at the end of the last completed flush.
    committed: u64,
    /// Lines written since then.
    uncommitted: u64,
}

impl CaptureWriter {
    /// Creates (or empties) the capture file at `path`: [`CaptureWriter::open`] with
    /// `overwrite`.
    ///
    /// # Errors
    /// As [`CaptureWriter::open`].
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::open(path, true)
    }

    /// Opens the capture file at `path` with mode 0600, creating missing parent directories
    /// with mode 0700, and locks it (`flock(2)`, exclusive) for as long as the writer lives.
    /// An existing `path` must be the user's own regular file: a symbolic link is never
    /// followed (someone else's link in a shared folder would point the capture, prompts and
    /// code, wherever they chose). An existing non-empty file is emptied only with
    /// `overwrite`, and only once the lock is held.
    ///
    /// # Errors
    /// Any I/O error creating the directories or the file; [`io::ErrorKind::InvalidInput`]
    /// when `path` is a symbolic link, not a regular file, or another user's file;
    /// [`io::ErrorKind::WouldBlock`] when another process holds the lock (another phonehome
    /// writes it); [`io::ErrorKind::AlreadyExists`] when it is not empty and `overwrite` is
    /// false.
    pub fn open(path: &Path, overwrite: bool) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        check_existing(path)?;
        let mut options = OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Should a link appear between the check and the open, the open fails.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            rustix::fs::OFlags::NOFOLLOW.bits() as i32,
        );
        let file = options.open(path)?;
        lock(&file)?;
        if file.metadata()?.len() > 0 {
            if !overwrite {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it exists and is not empty (phonehome never overwrites a capture unless told to)",
                ));
            }
            file.set_len(0)?;
        }
        // `mode` applies only when the file is created; an existing file is narrowed too.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(Self::from_file(file))
    }

    /// Writes to an already open, empty file (not locked: the caller owns it).
    pub fn from_file(file: File) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, file),
            committed: 0,
            uncommitted: 0,
        }
    }

    /// Appends one record as one line.
    ///
    /// # Errors
    /// Any I/O error from the file; then call [`CaptureWriter::discard`].
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.uncommitted += 1;
        serde_json::to_writer(&mut self.out, record).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    /// Appends one request or response record as one line, its body's `data` (empty in
    /// `record`) written as the standard padded base64 (RFC 4648 §4) of what `bytes` yields,
    /// read and encoded in steps of 48 KiB: a large binary body is written without being held
    /// whole, nor its base64 form. The line is byte for byte the one [`CaptureWriter::write`]
    /// gives with that base64 in `data`.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] when `record` has no body or its `data` is not empty;
    /// any I/O error reading `bytes` or writing the file; then call
    /// [`CaptureWriter::discard`].
    pub fn write_with_base64_body(
        &mut self,
        record: &Record,
        bytes: &mut dyn io::Read,
    ) -> io::Result<()> {
        self.uncommitted += 1;
        base64_body::write(&mut self.out, record, bytes)?;
        self.out.write_all(b"\n")
    }

    /// Hands buffered lines to the operating system; they are then committed.
    ///
    /// # Errors
    /// Any I/O error from the file; then call [`CaptureWriter::discard`].
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.committed = self.out.get_ref().stream_position_now()?;
        self.uncommitted = 0;
        Ok(())
    }

    /// After a failed write or flush: drops the lines not yet committed, cuts the file back to
    /// the last committed line and returns how many lines were dropped.
    ///
    /// # Errors
    /// An I/O error cutting the file back; the writer then stays unusable for this file.
    pub fn discard(&mut self) -> io::Result<u64> {
        let dropped = std::mem::take(&mut self.uncommitted);
        let placeholder = BufWriter::with_capacity(0, self.out.get_ref().try_clone()?);
        let (mut file, _unwritten) = std::mem::replace(&mut self.out, placeholder).into_parts();
        file.set_len(self.committed)?;
        file.seek(SeekFrom::Start(self.committed))?;
        self.out = BufWriter::with_capacity(64 * 1024, file);
        Ok(dropped)
    }
}

/// The position of a file opened for writing, as `stream_position` without `&mut`.
trait PositionNow {
    fn stream_position_now(&self) -> io::Result<u64>;
}

impl PositionNow for File {
    fn stream_position_now(&self) -> io::Result<u64> {
        (&*self).stream_position()
    }
}

/// Takes the exclusive `flock(2)` lock on `file` without waiting.
fn lock(file: &File) -> io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| {
        if e == rustix::io::Errno::WOULDBLOCK {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process is writing it (another phonehome run or proxy with the same --out)",
            )
        } else {
            e.into()
        }
    })
}

/// Refuses an existing `path` that is a symbolic link, not a regular file (a FIFO would block,
/// a device would swallow the capture), or not the user's own.
fn check_existing(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let refuse = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()));
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if metadata.file_type().is_symlink() {
        return refuse("it is a symbolic link; phonehome does not write a capture through one");
    }
    if !metadata.is_file() {
        return refuse("it exists and is not a regular file");
    }
    if metadata.uid() != rustix::process::geteuid().as_raw() {
        return refuse("it belongs to another user");
    }
    Ok(())
}

/// Creates `dir` and its missing parents, the new ones with mode 0700.
///
/// # Errors
/// Any I/O error creating them.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
