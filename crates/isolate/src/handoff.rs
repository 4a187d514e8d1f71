//! The helper's report to the parent over a Unix socket: the TUN device's file descriptor
//! (SCM_RIGHTS, unix(7)) with `ok`, or `error: <why>`; then the parent's `go`.

use std::io::{self, IoSlice, IoSliceMut, Read as _, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The byte the parent sends when the helper may run the command.
pub(crate) const GO: u8 = b'g';

/// Sends the TUN device with `ok`.
pub(crate) fn send_device(socket: &UnixStream, device: impl AsFd) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [device.as_fd()];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the file descriptor"));
    }
    sendmsg(
        socket,
        &[IoSlice::new(b"ok")],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Sends why the helper failed.
pub(crate) fn send_error(mut socket: &UnixStream, message: &str) {
    let _ = socket.write_all(format!("error: {message}").as_bytes());
}

/// What the helper reported.
pub(crate) enum Report {
    Device(OwnedFd),
    Failed(String),
}

/// Receives the helper's report (blocking).
pub(crate) fn receive(socket: &UnixStream) -> io::Result<Report> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    let received = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut device = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            device = device.or(fds.into_iter().next());
        }
    }
    let mut text = buf[..received.bytes].to_vec();
    if let Some(device) = device {
        return Ok(Report::Device(device));
    }
    // An error message may come in more than one read.
    let mut rest = Vec::new();
    let mut socket = socket;
    let _ = socket.read_to_end(&mut rest);
    text.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&text);
    let message = match text.strip_prefix("error: ") {
        Some(message) => message.to_owned(),
        None if text.is_empty() => "the isolation helper ended without a word".to_owned(),
        None => format!("the isolation helper said {text:?}"),
    };
    Ok(Report::Failed(message))
}

/// Waits for the parent's `go`; false when the parent closed the socket instead.
pub(crate) fn wait_for_go(mut socket: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(socket.read(&mut byte), Ok(1) if byte[0] == GO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_crosses_the_socket() {
        let (a, b) = UnixStream::pair().expect("pair");
        let file = tempfile_fd();
        send_device(&a, &file).expect("send");
        match receive(&b).expect("receive") {
            Report::Device(fd) => drop(fd),
            Report::Failed(m) => panic!("{m}"),
        }
    }

    #[test]
    fn an_error_crosses_the_socket() {
        let (a, b) = UnixStream::pair().expect("pair");
        send_error(&a, "unshare: Operation not permitted");
        drop(a);
        match receive(&b).expect("receive") {
            Report::Failed(m) => assert_eq!(m, "unshare: Operation not permitted"),
            Report::Device(_) => panic!("no device was sent"),
        }
    }

    fn tempfile_fd() -> std::fs::File {
        std::fs::File::open("/proc/self/stat").expect("open")
    }
}
