//! Lookups of real sockets: a listener on loopback, real clients (python3, curl, sh) as child
//! processes of the test, connecting to it.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phonehome_record::{Ancestor, ConnProcess, ProcessInfo};

use super::{Attribution, Attributor, Lineage};

/// A client that connects to `host:port` and waits (until killed).
const CONNECT_AND_WAIT: &str =
    "import socket,sys,time; s=socket.create_connection((sys.argv[1], int(sys.argv[2]))); time.sleep(60)";

/// Kills the client's process group when the test ends, however it ends: the client and
/// whatever it started (a shell's python3 included), so no process outlives the test.
struct Client(Child);

impl Drop for Client {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Client {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

fn spawn(program: &str, args: &[&str]) -> Client {
    // Its own process group, for Drop to end all of it.
    let child = std::os::unix::process::CommandExt::process_group(
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        0,
    )
    .spawn()
    .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    Client(child)
}

fn python(listener: &TcpListener, extra: &[&str]) -> Client {
    let addr = listener.local_addr().expect("bound");
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut args = vec!["-c", CONNECT_AND_WAIT, &host, &port];
    args.extend_from_slice(extra);
    spawn("python3", &args)
}

/// The next connection, within 20 s.
fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match listener.accept() {
            Ok(accepted) => return accepted,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("no client connected: {e}"),
        }
    }
}

/// Accepts one connection and looks its owner up, as phonehome does at accept.
fn accept_and_look_up(listener: &TcpListener, attributor: &Attributor) -> Attribution {
    let (stream, client) = accept(listener);
    let server = stream.local_addr().expect("local address");
    attributor.lookup(client, server)
}

fn known(attribution: &Attribution) -> &ProcessInfo {
    attribution
        .process
        .known()
        .unwrap_or_else(|| panic!("owner not found: {attribution:?}"))
}

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind loopback")
}

/// This test process as an ancestor: its start is checked for shape, then left out.
fn this_test() -> Ancestor {
    let exe = std::env::current_exe().expect("own executable");
    Ancestor {
        pid: std::process::id(),
        exe: Some(exe.to_string_lossy().into_owned()),
        comm: None,
        argv: std::env::args().collect(),
        start: None,
    }
}

/// The ancestry with each step's start checked (RFC 3339 UTC, milliseconds) and cleared.
fn without_start(ancestry: &[Ancestor]) -> Vec<Ancestor> {
    ancestry
        .iter()
        .map(|a| {
            let start = a.start.as_deref().unwrap_or_default();
            assert!(start.ends_with('Z') && start.len() == 24, "{a:?}");
            Ancestor {
                start: None,
                ..a.clone()
            }
        })
        .collect()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[test]
fn python_client_is_named_with_argv_and_ancestry() {
    let listener = loopback();
    let secret = format!("sk-ant-{}", "x".repeat(30));
    let client = python(&listener, &[&secret]);
    let attributor = Attributor::new(Some(std::process::id()));
    let found = accept_and_look_up(&listener, &attributor);
    let process = known(&found);
    assert_eq!(process.pid, client.pid());
    assert_eq!(process.ppid, std::process::id());
    assert!(
        file_name(&process.exe).starts_with("python3"),
        "{process:?}"
    );
    let port = listener.local_addr().expect("bound").port().to_string();
    assert_eq!(
        process.argv[1..],
        [
            "-c",
            CONNECT_AND_WAIT,
            "127.0.0.1",
            port.as_str(),
            secret.as_str()
        ]
    );
    assert!(
        process.start.ends_with('Z') && process.start.len() == 24,
        "{process:?}"
    );
    assert_eq!(without_start(&found.ancestry), [this_test()]);
    assert_eq!(found.lineage, Lineage::Command);
    // The record gets the argv as read; the recorder redacts it (see recorder::tests).
    let redacted = phonehome_record::Redactor::new().argv(&process.argv);
    assert!(
        !redacted.iter().any(|a| a.contains(&secret)),
        "{redacted:?}"
    );
}

#[test]
fn curl_is_named() {
    let listener = loopback();
    let url = format!(
        "http://{}/attribution",
        listener.local_addr().expect("bound")
    );
    let client = spawn("curl", &["-s", "--max-time", "20", &url]);
    let attributor = Attributor::new(Some(std::process::id()));
    let (mut stream, peer) = accept(&listener);
    let found = attributor.lookup(peer, stream.local_addr().expect("local"));
    let process = known(&found);
    assert_eq!(process.pid, client.pid());
    assert_eq!(file_name(&process.exe), "curl");
    assert_eq!(
        process.argv,
        ["curl", "-s", "--max-time", "20", url.as_str()]
    );
    assert_eq!(found.lineage, Lineage::Command);
    let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
}

#[test]
fn ancestry_climbs_through_a_shell_to_the_command() {
    let listener = loopback();
    let addr = listener.local_addr().expect("bound");
    let script = format!(
        "python3 -c '{CONNECT_AND_WAIT}' {} {}; true",
        addr.ip(),
        addr.port()
    );
    let shell = spawn("sh", &["-c", &script]);
    let attributor = Attributor::new(Some(std::process::id()));
    let found = accept_and_look_up(&listener, &attributor);
    let process = known(&found);
    assert_eq!(process.ppid, shell.pid());
    assert_eq!(found.ancestry.len(), 2, "{found:?}");
    let ancestry = without_start(&found.ancestry);
    assert_eq!(ancestry[0].pid, shell.pid());
    assert_eq!(ancestry[0].argv, ["sh", "-c", script.as_str()]);
    assert_eq!(ancestry[1], this_test());
    assert_eq!(found.lineage, Lineage::Command);
}

#[test]
fn a_client_that_already_exited_is_unknown_with_a_reason() {
    let listener = loopback();
    let addr = listener.local_addr().expect("bound");
    let script =
        "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2]))).close()";
    let mut client = spawn(
        "python3",
        &[
            "-c",
            script,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ],
    );
    client.0.wait().expect("the client exits");
    let attributor = Attributor::new(Some(std::process::id()));
    let found = accept_and_look_up(&listener, &attributor);
    let ConnProcess::Unknown { unknown } = &found.process else {
        panic!("an exited client cannot be named: {found:?}");
    };
    assert!(unknown.contains("closed"), "{unknown}");
    assert!(found.ancestry.is_empty());
    assert_eq!(found.lineage, Lineage::Unknown);
}

#[test]
fn ipv6_loopback() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let client = python(&listener, &[]);
    let found = accept_and_look_up(&listener, &Attributor::new(Some(std::process::id())));
    assert_eq!(known(&found).pid, client.pid());
}

#[test]
fn an_ipv6_socket_reaching_an_ipv4_listener() {
    let listener = loopback();
    let port = listener.local_addr().expect("bound").port().to_string();
    // An IPv4-mapped destination: the client's socket is in tcp6, the accepted one in tcp.
    let client = spawn(
        "python3",
        &["-c", CONNECT_AND_WAIT, "::ffff:127.0.0.1", &port],
    );
    let found = accept_and_look_up(&listener, &Attributor::new(Some(std::process::id())));
    assert_eq!(known(&found).pid, client.pid());
}

#[test]
fn a_namespace_is_read_through_a_process_in_it() {
    let listener = loopback();
    let client = python(&listener, &[]);
    let (stream, peer) = accept(&listener);
    let server = stream.local_addr().expect("local");
    let through_proc = Attributor::in_namespace(Some(std::process::id()), client.pid(), None);
    assert_eq!(known(&through_proc.lookup(peer, server)).pid, client.pid());
    // A netlink socket made in the namespace (here: this test's own) answers for it.
    let diag = rustix::net::socket(
        rustix::net::AddressFamily::NETLINK,
        rustix::net::SocketType::RAW,
        Some(rustix::net::netlink::SOCK_DIAG),
    )
    .expect("a sock_diag socket");
    let through_netlink =
        Attributor::in_namespace(Some(std::process::id()), client.pid(), Some(diag));
    assert_eq!(
        known(&through_netlink.lookup(peer, server)).pid,
        client.pid()
    );
}

#[test]
fn without_a_command_the_chain_reaches_pid_1() {
    let listener = loopback();
    let client = python(&listener, &[]);
    let found = accept_and_look_up(&listener, &Attributor::new(None));
    assert_eq!(known(&found).pid, client.pid());
    assert_eq!(without_start(&found.ancestry).first(), Some(&this_test()));
    assert_eq!(found.ancestry.last().map(|a| a.pid), Some(1), "{found:?}");
    assert_eq!(found.lineage, Lineage::Unknown);
}

#[test]
fn a_client_outside_the_command_tree_is_an_outsider() {
    let listener = loopback();
    let addr = listener.local_addr().expect("bound");
    // Orphaned at once: the shell exits, and the client is re-parented away from this test
    // (phonehome counts processes re-parented to itself as the command's).
    let script = format!(
        "python3 -c '{CONNECT_AND_WAIT}' {} {} >/dev/null 2>&1 &",
        addr.ip(),
        addr.port()
    );
    let mut shell = spawn("sh", &["-c", &script]);
    shell.0.wait().expect("the shell exits");
    let found = accept_and_look_up(&listener, &Attributor::new(Some(std::process::id())));
    let orphan = known(&found).pid;
    let _ = Command::new("kill").arg(orphan.to_string()).status();
    assert_ne!(
        found.ancestry.first().map(|a| a.pid),
        Some(std::process::id()),
        "{found:?}"
    );
    assert_eq!(found.ancestry.last().map(|a| a.pid), Some(1), "{found:?}");
    assert_eq!(found.lineage, Lineage::Outsider);
}

#[test]
fn a_socket_that_is_not_in_the_table() {
    let attributor = Attributor::new(None);
    let nowhere: SocketAddr = "192.0.2.1:1".parse().expect("address");
    let server: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let found = attributor.lookup(nowhere, server);
    let ConnProcess::Unknown { unknown } = &found.process else {
        panic!("{found:?}");
    };
    assert!(
        unknown.starts_with("no such socket in the TCP table"),
        "{unknown}"
    );
}

#[test]
fn every_search_order_finds_the_same_owner() {
    let listener = loopback();
    let first = python(&listener, &[]);
    let second = python(&listener, &[]);
    let shortcuts = Attributor::new(Some(std::process::id()));
    let exhaustive = Attributor::for_benchmark(Some(std::process::id()), false, false);
    let from_proc = Attributor::for_benchmark(Some(std::process::id()), true, true);
    let clients = [first.pid(), second.pid()];
    for _ in 0..2 {
        let (stream, peer) = accept(&listener);
        let server = stream.local_addr().expect("local");
        let a = shortcuts.lookup(peer, server);
        // Asked twice: the second answer comes from the last owners and the cache.
        assert_eq!(shortcuts.lookup(peer, server), a);
        assert_eq!(exhaustive.lookup(peer, server), a);
        assert_eq!(from_proc.lookup(peer, server), a);
        assert!(clients.contains(&known(&a).pid), "{a:?}");
    }
}

/// Waits until process `pid`'s command line is `cmdline` (each argument ended by a NUL).
fn wait_for_cmdline(pid: u32, cmdline: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c != cmdline) {
        assert!(Instant::now() < deadline, "pid {pid} never ran {cmdline:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The command phonehome started is checked for `exec` on every lookup, unlike the parents
/// between it and the owner: a policy rule's `own` compares its program with the owner's.
#[test]
fn the_command_is_named_by_its_new_program_at_the_next_lookup() {
    let listener = loopback();
    let addr = listener.local_addr().expect("bound");
    let script = format!(
        "python3 -c '{CONNECT_AND_WAIT}' {} {} & read line; exec sleep 60",
        addr.ip(),
        addr.port()
    );
    let mut command = Client(
        std::os::unix::process::CommandExt::process_group(
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null()),
            0,
        )
        .spawn()
        .expect("cannot start sh"),
    );
    let attributor = Attributor::new(Some(command.pid()));
    let (stream, peer) = accept(&listener);
    let server = stream.local_addr().expect("local");
    let first = attributor.lookup(peer, server);
    assert_eq!(first.lineage, Lineage::Command, "{first:?}");
    assert_eq!(first.ancestry.len(), 1, "{first:?}");
    assert_eq!(first.ancestry[0].argv, ["sh", "-c", script.as_str()]);
    writeln!(command.0.stdin.as_mut().expect("piped")).expect("write");
    wait_for_cmdline(command.pid(), b"sleep\x0060\x00");
    let second = attributor.lookup(peer, server);
    assert_eq!(second.process, first.process);
    assert_eq!(second.lineage, Lineage::Command);
    assert_eq!(second.ancestry[0].pid, command.pid());
    assert_eq!(second.ancestry[0].argv, ["sleep", "60"]);
}

/// A parent kept from an earlier lookup, its `exec` check recent, whose process has exited
/// and whose pid now names a process outside the command's tree: the lookup does not pass
/// the client as the command's. The kept entry says the pid's process was the command's
/// child; the process now under that pid is an orphan re-parented away from this test.
#[test]
fn a_parent_pid_taken_by_an_outsider_does_not_pass_the_own_tree_check() {
    let listener = loopback();
    let addr = listener.local_addr().expect("bound");
    // The outer shell exits at once: the inner one, the client's parent, is an orphan.
    let inner = format!(
        "python3 -c \"{CONNECT_AND_WAIT}\" {} {}; true",
        addr.ip(),
        addr.port()
    );
    let script = format!("sh -c '{inner}' >/dev/null 2>&1 &");
    let mut shell = spawn("sh", &["-c", &script]);
    shell.0.wait().expect("the shell exits");
    let (stream, peer) = accept(&listener);
    let server = stream.local_addr().expect("local");
    let me = std::process::id();
    let attributor = Attributor::new(Some(me));
    let found = attributor.lookup(peer, server);
    let (owner, parent) = (known(&found).pid, known(&found).ppid);
    // What an exited child of this test would have left under the parent's pid.
    let mut exited = Command::new("true").spawn().expect("true");
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(i32::try_from(exited.id()).expect("pid")).expect("not 0"),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    exited.wait().expect("reap");
    attributor.inner.known().keep_as_checked(
        parent,
        me,
        vec!["was the command's".to_owned()],
        pidfd,
    );
    let again = attributor.lookup(peer, server);
    let _ = Command::new("kill")
        .args([parent.to_string(), owner.to_string()])
        .status();
    assert_eq!(found.lineage, Lineage::Outsider, "{found:?}");
    assert_eq!(again.lineage, Lineage::Outsider, "{again:?}");
    assert_eq!(again.ancestry.first().map(|a| a.pid), Some(parent));
    assert_ne!(again.ancestry[0].argv, ["was the command's"]);
    assert_eq!(again.ancestry.last().map(|a| a.pid), Some(1), "{again:?}");
}
