//! Writing a capture file: one whole JSON line per record, file mode 0600.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::record::Record;

/// Writes records to a capture file as JSON Lines.
///
/// Records are written one after another by a single writer, each followed by its newline, so
/// a crash can leave only the very last line incomplete; readers skip such a torn tail. Records
/// are serialized straight into the buffer, never held whole a second time (a body can be
/// tens of MiB).
#[derive(Debug)]
pub struct CaptureWriter {
    out: BufWriter<File>,
}

impl CaptureWriter {
    /// Creates (or truncates) the capture file at `path` with mode 0600, creating missing
    /// parent directories with mode 0700. An existing `path` must be the user's own regular
    /// file: a symbolic link is never followed (someone else's link in a shared folder would
    /// point the capture, prompts and code, wherever they chose).
    ///
    /// # Errors
    /// Any I/O error creating the directories or the file; [`io::ErrorKind::InvalidInput`]
    /// when `path` is a symbolic link, not a regular file, or another user's file.
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        check_existing(path)?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Should a link appear between the check and the open, the open fails.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            rustix::fs::OFlags::NOFOLLOW.bits() as i32,
        );
        let file = options.open(path)?;
        // `mode` applies only when the file is created; an existing file is narrowed too.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(Self::from_file(file))
    }

    /// Writes to an already open file.
    pub fn from_file(file: File) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, file),
        }
    }

    /// Appends one record as one line.
    ///
    /// # Errors
    /// Any I/O error from the file.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    /// Hands buffered lines to the operating system.
    ///
    /// # Errors
    /// Any I/O error from the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Creates `dir` and its missing parents, the new ones with mode 0700.
///
/// # Errors
/// Any I/O error creating them.
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

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
