//! `run --isolate` keeps the namespace's TCP connections apart: a connect the client gave up
//! leaves nothing behind in the userspace stack that takes a later connection's bytes.

use crate::isolate::{echo_server, isolated, python};
use crate::support::{of_type, Scratch};

/// A connect the client gives up before the stack's SYN-ACK (the namespace's kernel answers that
/// SYN-ACK with a RST) leaves nothing behind that takes a later connection: each connection's
/// bytes are recorded under its own `conn`, the one with its client port, and the abandoned
/// connection's record has none. (A userspace stack that puts such a socket back to listening
/// on the destination hands the next connection's bytes to the abandoned stream.)
#[tokio::test]
async fn isolate_an_abandoned_connect_does_not_take_the_next_connections_bytes() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let (echo, _accepted) = echo_server().await;
    let code = format!(
        r#"import socket, time
addr = ("10.0.2.2", {})
# Three rounds: whether the socket is closed before the stack's SYN-ACK arrives (the kernel
# then answers it with a RST) is a race, so one round may not show a stack that gets it wrong.
for round in range(3):
    s = socket.socket()
    s.setblocking(False)
    print("abandoned", s.connect_ex(addr), flush=True)
    s.close()
    time.sleep(0.5)
    for i in range(2):
        c = socket.create_connection(addr, timeout=20)
        c.sendall(b"ping")
        print(c.getsockname()[1], c.recv(100).decode(), flush=True)
        c.close()
"#,
        echo.port()
    );
    let script = python(&scratch, "abandon.py", &code);
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let conns = of_type(&records, "conn");
    let lines: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| !l.starts_with("abandoned"))
        .collect();
    assert_eq!(lines.len(), 6, "{}", ran.stdout);
    let mut ports = Vec::new();
    for line in lines {
        let (port, answer) = line.split_once(' ').expect("port and answer");
        assert_eq!(answer, "echo:ping");
        ports.push(format!(":{port}"));
    }
    for conn in &conns {
        let client = conn["client"].as_str().expect("client");
        let (up, down) = if ports.iter().any(|p| client.ends_with(p.as_str())) {
            (4, 9)
        } else {
            (0, 0)
        };
        assert_eq!(conn["bytes_up"], up, "{conns:#?}");
        assert_eq!(conn["bytes_down"], down, "{conns:#?}");
    }
    for port in &ports {
        assert!(
            conns.iter().any(|c| c["client"]
                .as_str()
                .is_some_and(|a| a.ends_with(port.as_str()))),
            "no conn for {port}: {conns:#?}"
        );
    }
}
