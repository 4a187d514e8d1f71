//! Writing a capture file: one whole JSON line per record, file mode 0600.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::record::Record;

/// Writes records to a capture file as JSON Lines.
///
/// Each record is serialized whole and handed to the buffer in one piece, so the buffer only
/// ever reaches the file as whole lines: a crash leaves at most the lines of one unflushed
/// buffer missing, never half a line (short of a failing disk).
#[derive(Debug)]
pub struct CaptureWriter {
    out: BufWriter<File>,
    line: Vec<u8>,
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
            line: Vec::with_capacity(4096),
        }
    }

    /// Appends one record as one line.
    ///
    /// # Errors
    /// Any I/O error from the file.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
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
