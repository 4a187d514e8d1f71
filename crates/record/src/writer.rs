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
    /// parent directories with mode 0700.
    ///
    /// # Errors
    /// Any I/O error creating the directories or the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
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
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
