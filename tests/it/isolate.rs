//! `run --isolate`: clients that ignore the proxy variables are captured anyway, with their DNS
//! queries; other UDP is blocked; policies hold; the host's loopback only on request; a clear
//! error without the privileges.
//!
//! Every run gives phonehome a local upstream proxy that refuses everything as its only way
//! out, so nothing a test's client tries can leave the machine. The test servers listen on the
//! host's 127.0.0.1, which the namespace reaches as host.phonehome.internal (10.0.2.2) with
//! `--isolate-host-loopback`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{
    connect_proxy, of_type, read_capture, response_of, run, Cert, Ran, Scratch, TestPki, Upstream,
};

pub(crate) const HOST: &str = "host.phonehome.internal";

/// The run, the capture and what the refusing proxy was asked for (see [`isolated`]).
pub(crate) type Isolated = (Ran, Vec<Value>, Vec<String>);

/// [`isolated`] with the host's loopback reachable and the test PKI's CA trusted.
pub(crate) async fn isolated_to_host(scratch: &Scratch, pki: &TestPki, script: &str) -> Isolated {
    let ca = pki.ca_pem.display().to_string();
    let args = ["--isolate-host-loopback", "--extra-ca", &ca];
    isolated(scratch, &args, script).await
}

/// `phonehome run --isolate --out OUT ARGS -- sh -c SCRIPT`, whose only way out is a proxy that
/// refuses everything; returns the run, the capture and what the refusing proxy was asked for.
pub(crate) async fn isolated(scratch: &Scratch, args: &[&str], script: &str) -> Isolated {
    let (firewall, refused) = connect_proxy(false).await;
    let out = scratch.path("isolate.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.env("HTTPS_PROXY", format!("http://{firewall}"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .arg("--isolate")
        .args(args)
        .args(["--", "sh", "-c", script]);
    let ran = run(cmd).await;
    let records = if out.exists() {
        read_capture(&out)
    } else {
        Vec::new()
    };
    let refused = refused.lock().expect("lock").clone();
    (ran, records, refused)
}

/// A TCP server on the host's 127.0.0.1 that answers each line with `echo:` and the line, and
/// counts its connections.
pub(crate) async fn echo_server() -> (SocketAddr, Arc<Mutex<u32>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            *count.lock().expect("lock") += 1;
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let mut reply = b"echo:".to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    if stream.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Writes a Python script into the scratch folder; returns the shell command that runs it.
pub(crate) fn python(scratch: &Scratch, name: &str, code: &str) -> String {
    let path = scratch.path(name);
    std::fs::write(&path, code).expect("write script");
    format!("python3 {}", path.display())
}

fn dns_records<'a>(records: &'a [Value], query: &str) -> Vec<&'a Value> {
    of_type(records, "dns")
        .into_iter()
        .filter(|d| d["query"] == query)
        .collect()
}

#[tokio::test]
async fn isolate_curl_ignoring_the_proxy_variables_is_intercepted_with_its_dns_query() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let server = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"h2", b"http/1.1"]))).await;
    // No proxy, and no CA from the environment: curl trusts the system bundle, which
    // phonehome laid over /etc inside the namespace.
    let script = format!(
        "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE curl -sS --noproxy '*' https://{HOST}:{}/hello",
        server.port()
    );
    let (ran, records, refused) = isolated_to_host(&scratch, &pki, &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, r#"{"hello":"world"}"#);
    assert_eq!(records[0]["mode"], "isolate");
    let header: phonehome_record::Record =
        serde_json::from_value(records[0].clone()).expect("a capture record");
    let phonehome_record::Record::Capture(header) = header else {
        panic!("the first record is the capture record: {header:?}")
    };
    assert_eq!(header.options.isolate_host_loopback, Some(true));

    let queries = dns_records(&records, HOST);
    assert!(
        queries
            .iter()
            .any(|d| d["qtype"] == "A" && d["answers"] == serde_json::json!(["10.0.2.2"])),
        "curl's DNS query is recorded with phonehome's answer: {queries:#?}"
    );
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let conn = conns[0];
    assert_eq!(conn["target"]["host"], HOST, "attributed to the name");
    assert_eq!(conn["target"]["port"], server.port());
    assert_eq!(conn["transport"], "tls-intercept");
    assert_eq!(conn["tls"]["sni"], HOST);
    assert_eq!(
        conn["upstream"]["addr"],
        format!("127.0.0.1:{}", server.port())
    );
    assert!(
        conn["client"]
            .as_str()
            .expect("client")
            .starts_with("10.0.2.100:"),
        "{conn}"
    );
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]["url"],
        format!("https://{HOST}:{}/hello", server.port())
    );
    assert_eq!(response_of(&records, &requests[0]["flow"])["status"], 200);
    assert!(refused.is_empty(), "nothing went out: {refused:?}");
}

#[tokio::test]
async fn isolate_a_raw_socket_client_is_recorded_as_a_conn() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let (echo, accepted) = echo_server().await;
    // By address, no DNS: the gateway is the host's loopback.
    let code = format!(
        r#"import socket
s = socket.create_connection(("10.0.2.2", {}))
s.sendall(b"ping")
print(s.recv(100).decode())
s.close()
"#,
        echo.port()
    );
    let script = python(&scratch, "raw.py", &code);
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "echo:ping");
    assert_eq!(*accepted.lock().expect("lock"), 1);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{conns:#?}");
    assert_eq!(conns[0]["transport"], "tcp");
    assert_eq!(conns[0]["target"]["host"], "127.0.0.1");
    assert_eq!(conns[0]["target"]["port"], echo.port());
    assert_eq!(conns[0]["bytes_up"], 4);
    assert_eq!(conns[0]["bytes_down"], 9);
    assert!(of_type(&records, "dns").is_empty());
}

#[tokio::test]
async fn isolate_a_program_that_resolves_names_itself_is_attributed_to_the_name() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    // getaddrinfo, then a plain socket to the address it gave: no proxy, no name on the wire
    // but the Host header.
    let code = format!(
        r#"import socket
ip = socket.getaddrinfo("{HOST}", {port}, socket.AF_INET)[0][4][0]
print(ip)
s = socket.create_connection((ip, {port}))
s.sendall(b"GET /hello HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n")
print(s.recv(4096).decode().splitlines()[0])
"#,
        port = server.port()
    );
    let script = python(&scratch, "resolve.py", &code);
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "10.0.2.2\nHTTP/1.1 200 OK\n");
    assert!(
        !dns_records(&records, HOST).is_empty(),
        "{:#?}",
        of_type(&records, "dns")
    );
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{conns:#?}");
    assert_eq!(
        conns[0]["target"]["host"], HOST,
        "attributed by the DNS answer"
    );
    assert_eq!(conns[0]["transport"], "http");
    let requests = of_type(&records, "request");
    assert_eq!(
        requests[0]["url"],
        format!("http://{HOST}:{}/hello", server.port())
    );
}

#[tokio::test]
async fn isolate_udp_other_than_dns_is_blocked_and_recorded_once() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    // Three QUIC-sized datagrams to a name's port 443, then DNS over TCP to an arbitrary server
    // address (phonehome answers every port 53).
    let code = format!(
        r#"import socket, struct
ip = socket.getaddrinfo("{HOST}", 443, socket.AF_INET)[0][4][0]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    u.sendto(b"q" * 1200, (ip, 443))
name = b"".join(bytes([len(l)]) + l.encode() for l in "{HOST}".split("."))
q = struct.pack(">HHHHHH", 9, 0x0100, 1, 0, 0, 0) + name + b"\0" + struct.pack(">HH", 1, 1)
t = socket.create_connection(("10.0.2.53", 53))
t.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", t.recv(2))[0]
r = t.recv(n)
print(r[-4:] == bytes([10, 0, 2, 2]))
"#
    );
    let script = python(&scratch, "udp.py", &code);
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "True", "DNS over TCP answered");
    let blocked = of_type(&records, "blocked");
    assert_eq!(
        blocked.len(),
        1,
        "once per client and destination: {blocked:#?}"
    );
    assert_eq!(blocked[0]["target"]["host"], HOST);
    assert_eq!(blocked[0]["target"]["port"], 443);
    assert_eq!(
        blocked[0]["rule"],
        "isolate: only DNS (port 53) is relayed over UDP"
    );
    assert_eq!(
        dns_records(&records, HOST).len(),
        2,
        "over UDP and over TCP: {:#?}",
        of_type(&records, "dns")
    );
    assert!(ran.stderr.contains("1 blocked"), "{}", ran.stderr);
}

/// Under isolation the sinkhole reads what a denied program sends even when it ignores the
/// proxy variables: the denied name resolves to a sinkhole address (RFC 2544's 198.18.0.0/15),
/// and the connection to it is intercepted and answered 403. Nothing leaves.
#[tokio::test]
async fn isolate_a_denied_program_that_ignores_the_proxy_is_sinkholed() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let script = "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE curl -sS --noproxy '*' \
                  -d payload=abc -o /dev/null -w '%{http_code}' https://blocked.example/secret-path";
    let (ran, records, refused) = isolated(&scratch, &["--policy", "offline"], script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "403");
    let queries = dns_records(&records, "blocked.example");
    assert!(
        queries
            .iter()
            .any(|d| d["qtype"] == "A" && d["answers"] == serde_json::json!(["198.18.0.1"])),
        "{queries:#?}"
    );
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 1, "{records:#?}");
    assert_eq!(requests[0]["url"], "https://blocked.example/secret-path");
    assert_eq!(requests[0]["body"]["data"], "payload=abc");
    assert_eq!(requests[0]["sinkhole"], "denied");
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert_eq!(blocked[0]["flow"], requests[0]["flow"]);
    assert!(refused.is_empty(), "nothing was dialled: {refused:?}");
}

/// Attribution under isolation: connections through the proxy variables and around them both
/// name the process, read from the namespace's own socket tables.
#[tokio::test]
async fn isolate_connections_name_their_process() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let script = format!(
        "curl -sS -o /dev/null http://{HOST}:{port}/hello; \
         curl -sS -o /dev/null --noproxy '*' http://{HOST}:{port}/hello",
        port = server.port()
    );
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 2, "{conns:#?}");
    for conn in conns {
        assert!(
            conn["process"]["exe"]
                .as_str()
                .is_some_and(|e| e.ends_with("curl")),
            "{conn}"
        );
        assert!(
            !conn["ancestry"].as_array().expect("ancestry").is_empty(),
            "{conn}"
        );
    }
}

/// Malformed DNS messages, over UDP and TCP, get no answer and break nothing.
#[tokio::test]
async fn isolate_malformed_dns_is_ignored_and_dns_goes_on() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let code = format!(
        r#"import socket, struct
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
for junk in [b"", b"\x00", b"\xff" * 12, b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"]:
    u.sendto(junk, ("10.0.2.2", 53))
try:
    u.recv(512)
    print("answered junk")
except socket.timeout:
    print("no answer")
t = socket.create_connection(("10.0.2.2", 53))
t.sendall(struct.pack(">H", 40) + b"\x01\x02")
t.close()
print(socket.getaddrinfo("{HOST}", 80, socket.AF_INET)[0][4][0])
"#
    );
    let script = python(&scratch, "junk.py", &code);
    let (ran, records, _) = isolated(&scratch, &["--isolate-host-loopback"], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "no answer\n10.0.2.2\n");
    let dns = of_type(&records, "dns");
    assert!(
        dns.iter().all(|d| d["query"] == HOST),
        "only the real query is recorded: {dns:#?}"
    );
}

#[tokio::test]
async fn isolate_offline_lets_nothing_leave_whatever_the_program_does() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let code = r#"import socket
s = socket.create_connection(("192.0.2.10", 443), timeout=5)
print(repr(s.recv(10)))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("192.0.2.10", 443))
"#;
    let script = format!(
        "curl -sS https://api.phonehome-test.invalid/v1/models -o /dev/null -w '%{{http_connect}}\\n'; \
         getent hosts telemetry.phonehome-test.invalid || echo no-name; {}",
        python(&scratch, "offline.py", code)
    );
    // Refused at the door: what the sinkhole shows instead is tested in `sinkhole`.
    let (ran, records, refused) = isolated(
        &scratch,
        &["--policy", "offline", "--sinkhole", "off"],
        &script,
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stdout, "403\nno-name\nb''\n",
        "the proxy's 403, no address, a closed connection"
    );
    let blocked: Vec<(String, u64, String)> = of_type(&records, "blocked")
        .iter()
        .map(|b| {
            (
                b["target"]["host"].as_str().expect("host").to_owned(),
                b["target"]["port"].as_u64().expect("port"),
                b["rule"].as_str().expect("rule").to_owned(),
            )
        })
        .collect();
    let offline = "default deny (offline)".to_owned();
    for expected in [
        (
            "api.phonehome-test.invalid".to_owned(),
            443,
            offline.clone(),
        ),
        (
            "telemetry.phonehome-test.invalid".to_owned(),
            53,
            offline.clone(),
        ),
        ("192.0.2.10".to_owned(), 443, offline.clone()),
        (
            "192.0.2.10".to_owned(),
            443,
            "isolate: only DNS (port 53) is relayed over UDP".to_owned(),
        ),
    ] {
        assert!(blocked.contains(&expected), "{expected:?} in {blocked:#?}");
    }
    let telemetry = dns_records(&records, "telemetry.phonehome-test.invalid");
    assert!(!telemetry.is_empty());
    assert!(telemetry
        .iter()
        .all(|d| d["answers"] == serde_json::json!([])));
    for conn in of_type(&records, "conn") {
        assert!(
            conn.get("upstream").is_none(),
            "nothing was dialled: {conn}"
        );
    }
    assert!(of_type(&records, "error").is_empty(), "not even tried");
    assert!(
        refused.is_empty(),
        "nothing reached the way out: {refused:?}"
    );
}

#[tokio::test]
async fn isolate_the_hosts_loopback_is_reachable_only_with_the_option() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let (echo, accepted) = echo_server().await;
    let code = format!(
        r#"import socket
for addr in [("10.0.2.2", {port}), ("127.0.0.1", {port})]:
    try:
        s = socket.create_connection(addr, timeout=5)
        s.sendall(b"ping")
        print(repr(s.recv(100)))
    except OSError as e:
        print(type(e).__name__)
"#,
        port = echo.port()
    );
    let script = python(&scratch, "loopback.py", &code);
    let (ran, records, _) = isolated(&scratch, &[], &script).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stdout, "b''\nConnectionRefusedError\n",
        "the gateway closes; the namespace's own loopback has nothing listening"
    );
    assert_eq!(
        *accepted.lock().expect("lock"),
        0,
        "the host server saw nothing"
    );
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert_eq!(
        blocked[0]["rule"],
        "isolate: the host's loopback is reachable only with --isolate-host-loopback"
    );
}

#[tokio::test]
async fn isolate_a_command_that_cannot_start_exits_127() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let out = scratch.path("missing.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--isolate", "--", "/nonexistent/agent"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(127), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("cannot start \"/nonexistent/agent\""),
        "{}",
        ran.stderr
    );
}

/// Inside a user namespace whose `user.max_user_namespaces` is 0, as in a container or on a
/// machine that forbids unprivileged user namespaces: phonehome says which sysctl to set and
/// starts nothing.
#[tokio::test]
async fn isolate_without_the_privileges_is_a_clear_error_and_starts_nothing() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let out = scratch.path("never.jsonl");
    let marker = scratch.path("marker");
    let inner = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {bin} run --isolate --out {out} -- touch {marker}",
        bin = crate::support::BIN,
        out = out.display(),
        marker = marker.display(),
    );
    let mut cmd = scratch.phonehome();
    let cmd = cmd.as_std_mut();
    let mut unshare = tokio::process::Command::new("unshare");
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => unshare.env(name, value),
            None => unshare.env_remove(name),
        };
    }
    unshare.args(["--user", "--map-root-user", "sh", "-c", &inner]);
    let ran = run(unshare).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("user.max_user_namespaces is 0")
            && ran
                .stderr
                .contains("sysctl -w user.max_user_namespaces=15000"),
        "{}",
        ran.stderr
    );
    assert!(!out.exists(), "no capture was started");
    assert!(!marker.exists(), "the command did not run");
    assert!(!Path::new(&scratch.path("ca")).exists(), "no CA was made");
}

/// As a normal user, isolation makes a user namespace too; the command keeps its user id.
/// (Run as root, the test drops to `nobody` with setpriv; otherwise it already is a normal user.)
#[tokio::test]
async fn isolate_works_as_a_normal_user() {
    crate::support::skip_without_isolation!();
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let root = nix::unistd::geteuid().is_root();
    let tun_mode = std::fs::metadata("/dev/net/tun").map(|m| {
        use std::os::unix::fs::PermissionsExt as _;
        m.permissions().mode()
    });
    if root && tun_mode.as_ref().is_ok_and(|mode| mode & 0o006 != 0o006) {
        eprintln!(
            "skipped: /dev/net/tun is not open to other users on this machine (mode {:o}), so \
             a normal user cannot isolate here",
            tun_mode.unwrap_or_default() & 0o777
        );
        return;
    }
    if root {
        // The scratch folder must be the normal user's to write in.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(scratch.dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
    }
    let out = scratch.path("user.jsonl");
    let script = format!(
        "id -u; curl -sS --noproxy '*' http://{HOST}:{}/hello",
        server.port()
    );
    let mut cmd = if root {
        let mut setpriv = tokio::process::Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(crate::support::BIN);
        setpriv
    } else {
        tokio::process::Command::new(crate::support::BIN)
    };
    cmd.env("XDG_DATA_HOME", scratch.path("data"))
        .env("PHONEHOME_CA_DIR", scratch.path("ca"))
        .env("HOME", scratch.dir.path())
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .args(["run", "--isolate", "--isolate-host-loopback", "--out"])
        .arg(&out)
        .args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let uid = if root {
        "65534".to_owned()
    } else {
        nix::unistd::geteuid().to_string()
    };
    assert_eq!(ran.stdout, format!("{uid}\n{{\"hello\":\"world\"}}"));
    let records = read_capture(&out);
    assert_eq!(records[0]["mode"], "isolate");
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 1, "{records:#?}");
    assert_eq!(
        requests[0]["url"],
        format!("http://{HOST}:{}/hello", server.port())
    );
}
