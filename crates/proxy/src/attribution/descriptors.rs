//! Whether a process holds a socket: its descriptors in `/proc/<pid>/fd`, read as links
//! (`socket:[inode]`), the likeliest first.
//!
//! A process seen before keeps its `fd` folder open and the descriptor numbers its sockets
//! were found at: a client that opens connection after connection (an agent, `hey`) closes one
//! and opens the next at the lowest free number, most often one a socket of its held before,
//! so those numbers are read first, the least recently found first (its connection is the
//! likeliest to have ended), before the whole folder is listed. Each read answers for that
//! process only: an open `/proc/<pid>/fd` folder stays on the process it was opened for, and
//! reads through it fail once it has exited, even if its pid is reused.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, RawDir, SeekFrom};

/// Descriptor numbers remembered per process.
const HINTS: usize = 64;
/// Bytes of a link target read at most: `socket:[` and up to 20 digits and `]`.
const LINK_MAX: usize = 32;

/// A process's `fd` folder, held open, and where its sockets were found.
#[derive(Debug, Default)]
pub(super) struct Descriptors {
    folder: Option<OwnedFd>,
    /// Descriptor numbers of the sockets found, the least recently found first.
    hints: VecDeque<u32>,
}

impl Descriptors {
    /// Whether the process's descriptors include `link` (`socket:[inode]`): the hinted numbers
    /// first, then the rest, highest first.
    ///
    /// `folder` opens `/proc/<pid>/fd` the first time; the caller confirms that it opened the
    /// folder of the process it means (a pid read afresh could name a newer process).
    ///
    /// # Errors
    /// The descriptors cannot be read: the process is gone, or belongs to another user.
    pub(super) fn holds(
        &mut self,
        link: &[u8],
        folder: impl FnOnce() -> io::Result<OwnedFd>,
    ) -> io::Result<bool> {
        if self.folder.is_none() {
            self.folder = Some(folder()?);
        }
        let Some(dir) = self.folder.as_ref() else {
            return Ok(false);
        };
        if let Some(i) = self.hints.iter().position(|&fd| target_is(dir, fd, link)) {
            if let Some(fd) = self.hints.remove(i) {
                self.hints.push_back(fd);
            }
            return Ok(true);
        }
        rustix::fs::seek(dir, SeekFrom::Start(0))?;
        let mut names = list(dir)?;
        names.retain(|fd| !self.hints.contains(fd));
        // The folder lists descriptors in increasing order.
        let found = names
            .iter()
            .rev()
            .copied()
            .find(|&fd| target_is(dir, fd, link));
        if let Some(fd) = found {
            if self.hints.len() >= HINTS {
                self.hints.pop_front();
            }
            self.hints.push_back(fd);
        }
        Ok(found.is_some())
    }
}

/// Whether `pid`'s descriptors include `link` (`socket:[inode]`), for a process not seen
/// before: its folder opened for this search only, its descriptors read highest first (a
/// process's long-lived files take the low numbers early, and a new socket the lowest free
/// number above them, so in a process with many files the socket is usually near the top).
///
/// # Errors
/// The descriptors cannot be listed: the process is gone, or belongs to another user.
pub(super) fn holds(pid: u32, link: &[u8]) -> io::Result<bool> {
    let dir = open(pid)?;
    let names = list(&dir)?;
    Ok(names.iter().rev().any(|&fd| target_is(&dir, fd, link)))
}

/// Opens `/proc/<pid>/fd`.
///
/// # Errors
/// The process is gone, or belongs to another user.
pub(super) fn open(pid: u32) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        format!("/proc/{pid}/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The descriptor numbers in an open `fd` folder, in the kernel's (increasing) order.
fn list(dir: &OwnedFd) -> io::Result<Vec<u32>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(dir.as_fd(), &mut buf);
    let mut names = Vec::new();
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if let Some(fd) = std::str::from_utf8(name).ok().and_then(|n| n.parse().ok()) {
            names.push(fd);
        }
    }
    Ok(names)
}

/// Whether descriptor `fd` links to `link`; false when it was closed meanwhile.
fn target_is(dir: &OwnedFd, fd: u32, link: &[u8]) -> bool {
    let mut name = [0u8; 12];
    let mut buf = [0u8; LINK_MAX];
    rustix::fs::readlinkat_raw(dir, file_name(fd, &mut name), &mut buf[..])
        .is_ok_and(|n| &buf[..n] == link)
}

/// A descriptor number as a file name, written into `buf` (no allocation).
fn file_name(fd: u32, buf: &mut [u8; 12]) -> &CStr {
    let mut digits = [0u8; 10];
    let mut n = fd;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, digit) in digits[..len].iter().rev().enumerate() {
        buf[i] = *digit;
    }
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).expect("digits then one NUL")
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    use super::*;

    /// A socket connected to `listener`, moved to the lowest free descriptor number at or
    /// above `at` (numbers this high are free in the test process, so the number is `at` unless
    /// another test holds it), and its `socket:[inode]` link.
    fn socket_at(listener: &TcpListener, at: u32) -> (OwnedFd, Vec<u8>) {
        let client = TcpStream::connect(listener.local_addr().expect("bound")).expect("connect");
        let moved =
            rustix::io::fcntl_dupfd_cloexec(&client, at.try_into().expect("small")).expect("dup");
        let inode = rustix::fs::fstat(&moved).expect("fstat").st_ino;
        (moved, format!("socket:[{inode}]").into_bytes())
    }

    fn own_folder() -> io::Result<OwnedFd> {
        open(std::process::id())
    }

    fn number(fd: &OwnedFd) -> u32 {
        u32::try_from(fd.as_raw_fd()).expect("a descriptor number")
    }

    /// A socket opened after the folder was searched is found, at a number not seen before.
    #[test]
    fn a_new_socket_is_found() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut descriptors = Descriptors::default();
        let (first, first_link) = socket_at(&listener, 700);
        assert!(descriptors
            .holds(&first_link, own_folder)
            .expect("readable"));
        let (second, second_link) = socket_at(&listener, 720);
        assert_ne!(number(&first), number(&second));
        assert!(descriptors
            .holds(&second_link, own_folder)
            .expect("readable"));
        assert!(descriptors
            .holds(&first_link, own_folder)
            .expect("readable"));
        assert!(!descriptors
            .holds(b"socket:[1]", own_folder)
            .expect("readable"));
    }

    /// A number closed and taken by a new socket is read again: the new socket is found there,
    /// the old one no longer.
    #[test]
    fn a_closed_and_reused_number_is_read_with_its_new_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut descriptors = Descriptors::default();
        let (old, old_link) = socket_at(&listener, 800);
        let at = number(&old);
        assert!(descriptors.holds(&old_link, own_folder).expect("readable"));
        drop(old);
        assert!(!descriptors.holds(&old_link, own_folder).expect("readable"));
        let (new, new_link) = socket_at(&listener, 800);
        assert_eq!(number(&new), at, "the lowest free number is taken again");
        assert!(descriptors.holds(&new_link, own_folder).expect("readable"));
        assert!(!descriptors.holds(&old_link, own_folder).expect("readable"));
    }

    #[test]
    fn descriptor_numbers_as_file_names() {
        let mut buf = [0u8; 12];
        for fd in [0, 7, 10, 4_294_967_295] {
            assert_eq!(
                file_name(fd, &mut buf).to_str(),
                Ok(fd.to_string().as_str())
            );
        }
    }
}
