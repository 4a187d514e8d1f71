//! Nothing unseen: a tunnel's protocol is decided by who speaks first, never by a timer, so
//! request rules cannot be skipped by waiting; what phonehome will not forward (denied by the
//! policy, or unreachable with `--sinkhole unreachable`) is still intercepted, recorded in full
//! and answered by phonehome, with nothing dialled or resolved.

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use crate::support::{
    connect_proxy, of_type, read_capture, run, Cert, Scratch, StandaloneProxy, TestPki, Upstream,
};

/// A python3 client that opens `n` tunnels through the proxy at once, waits `delay` seconds
/// after each CONNECT's 200 before its ClientHello, then sends `METHOD /PATH` over TLS and
/// prints the statuses, sorted.
const LATE_TLS: &str = r#"
import asyncio, os, ssl, sys
port, n, delay, method, path = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
host, pport = os.environ["HTTPS_PROXY"].removeprefix("http://").rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
ctx.set_alpn_protocols(["http/1.1"])
async def one():
    r, w = await asyncio.open_connection(host, int(pport))
    w.write(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    head = await r.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    await asyncio.sleep(delay)
    await w.start_tls(ctx, server_hostname="localhost")
    body = b"payload=abc" if method == "POST" else b""
    w.write(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    status = (await r.readline()).split()[1].decode()
    await r.read()
    w.close()
    return status
async def main():
    statuses = await asyncio.gather(*[one() for _ in range(n)])
    print(" ".join(sorted(set(statuses))), len(statuses))
asyncio.run(main())
"#;

async fn late_tls(
    scratch: &Scratch,
    name: &str,
    args: &[&str],
    n: usize,
    method: &str,
    path: &str,
) -> (String, Vec<serde_json::Value>) {
    let pki = TestPki::new(scratch.dir.path());
    let server = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let out = scratch.path(name);
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.args(args).args(["--", "python3", "-c", LATE_TLS]);
    cmd.arg(server.port().to_string())
        .arg(n.to_string())
        .args(["3", method, path]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    (ran.stdout, read_capture(&out))
}

#[tokio::test]
async fn a_client_that_starts_tls_late_is_intercepted_and_its_post_denied() {
    let scratch = Scratch::new();
    let policy = scratch.path("no-post.toml");
    std::fs::write(
        &policy,
        "default = \"allow\"\n[[rule]]\naction = \"deny\"\nmethods = [\"POST\"]\n",
    )
    .expect("policy");
    let policy = policy.to_str().expect("utf-8");
    let (stdout, records) = late_tls(
        &scratch,
        "late.jsonl",
        &["--policy", policy],
        1,
        "GET",
        "/hello",
    )
    .await;
    assert_eq!(stdout, "200 1\n");
    let conns = of_type(&records, "conn");
    assert_eq!(conns[0]["transport"], "tls-intercept", "{conns:#?}");
    assert_eq!(of_type(&records, "request")[0]["method"], "GET");

    let (stdout, records) = late_tls(
        &scratch,
        "late-post.jsonl",
        &["--policy", policy],
        1,
        "POST",
        "/echo",
    )
    .await;
    assert_eq!(
        stdout, "403 1\n",
        "the POST is denied however late its TLS starts"
    );
    let request = of_type(&records, "request")[0].clone();
    assert_eq!(request["method"], "POST");
    assert_eq!(request["body"]["data"], "payload=abc");
    assert_eq!(request["sinkhole"], "denied");
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["flow"], request["flow"]);
    assert!(
        of_type(&records, "response").is_empty(),
        "nothing was forwarded"
    );
}

#[tokio::test]
async fn five_hundred_late_clients_are_all_intercepted_none_relayed() {
    let scratch = Scratch::new();
    let (stdout, records) = late_tls(&scratch, "crowd.jsonl", &[], 500, "GET", "/hello").await;
    assert_eq!(stdout, "200 500\n");
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 500);
    let relayed = conns.iter().filter(|c| c["transport"] == "tcp").count();
    assert_eq!(relayed, 0, "no connection went through unseen");
    assert_eq!(of_type(&records, "request").len(), 500);
}

#[tokio::test]
async fn a_server_that_speaks_first_is_relayed_at_once() {
    let scratch = Scratch::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        let (read, mut write) = socket.into_split();
        write
            .write_all(b"220 smtp.test ESMTP\r\n")
            .await
            .expect("banner");
        let mut line = String::new();
        BufReader::new(read)
            .read_line(&mut line)
            .await
            .expect("read");
        write
            .write_all(format!("221 bye after {line}").as_bytes())
            .await
            .expect("write");
    });
    let out = scratch.path("banner.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    let tunnel = proxy.tunnel(&target).await;
    let (read, mut write) = tunnel.into_split();
    let mut lines = BufReader::new(read).lines();
    let banner = lines.next_line().await.expect("read").expect("banner");
    assert_eq!(
        banner, "220 smtp.test ESMTP",
        "the banner came before any client byte"
    );
    write.write_all(b"QUIT\r\n").await.expect("write");
    let bye = lines.next_line().await.expect("read").expect("bye");
    assert_eq!(bye, "221 bye after QUIT");
    drop((lines, write));
    proxy.stop().await;
    let records = read_capture(&out);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{records:#?}");
    assert_eq!(conns[0]["transport"], "tcp");
}

#[tokio::test]
async fn a_denied_request_is_recorded_in_full_and_nothing_is_dialled() {
    let scratch = Scratch::new();
    let (firewall, asked) = connect_proxy(false).await;
    let out = scratch.path("offline.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--policy", "offline", "--upstream-proxy"])
        .arg(format!("http://{firewall}"))
        .args(["--", "curl", "-sS", "-d", "payload=abc", "-o", "/dev/null"])
        .args(["-w", "%{http_code}", "https://blocked.example/secret-path"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "403");
    assert!(
        ran.stderr
            .contains("1 blocked (1 request answered by the sinkhole)"),
        "{}",
        ran.stderr
    );
    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 1, "{records:#?}");
    assert_eq!(requests[0]["url"], "https://blocked.example/secret-path");
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(requests[0]["body"]["data"], "payload=abc");
    assert_eq!(requests[0]["sinkhole"], "denied");
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["flow"], requests[0]["flow"]);
    assert_eq!(blocked[0]["rule"], "default deny (offline)");
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["sinkhole"], "denied");
    assert!(
        conn.get("upstream").is_none(),
        "nothing was dialled: {conn}"
    );
    assert!(
        of_type(&records, "error").is_empty(),
        "no DNS lookup, no failure"
    );
    assert!(
        asked.lock().expect("lock").is_empty(),
        "the upstream proxy was asked for nothing"
    );
}

#[tokio::test]
async fn an_unreachable_host_is_sinkholed_on_request() {
    let scratch = Scratch::new();
    let out = scratch.path("unreachable.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args([
        "--sinkhole",
        "unreachable",
        "--",
        "curl",
        "-sS",
        "-o",
        "/dev/null",
    ])
    .args(["-w", "%{http_code}", "https://nothing.invalid/t"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "502");
    let records = read_capture(&out);
    let requests = of_type(&records, "request");
    assert_eq!(requests.len(), 1, "{records:#?}");
    assert_eq!(requests[0]["url"], "https://nothing.invalid/t");
    assert_eq!(requests[0]["sinkhole"], "unreachable");
    let errors = of_type(&records, "error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["phase"], "dns");
    assert_eq!(errors[0]["flow"], requests[0]["flow"]);
}

#[tokio::test]
async fn garbage_and_silence_on_a_sinkholed_tunnel_are_recorded() {
    let scratch = Scratch::new();
    let out = scratch.path("garbage.jsonl");
    let proxy = StandaloneProxy::start(
        &scratch,
        &out,
        &["--policy", "offline", "--sinkhole-wait", "1"],
    )
    .await;
    let mut tunnel = proxy.tunnel("ssh.example:22").await;
    tunnel
        .write_all(b"SSH-2.0-OpenSSH_9.6\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tunnel, &mut rest).await;
    assert!(rest.is_empty(), "closed without an answer");
    let mut silent = proxy.tunnel("quiet.example:443").await;
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut rest).await;
    assert!(
        rest.is_empty(),
        "closed when the wait ran out, without an answer"
    );
    drop((tunnel, silent));
    proxy.stop().await;
    let records = read_capture(&out);
    let conns = of_type(&records, "conn");
    let ssh = conns
        .iter()
        .find(|c| c["target"]["host"] == "ssh.example")
        .expect("ssh conn");
    assert_eq!(ssh["first_bytes"], 21);
    assert_eq!(ssh["sinkhole"], "denied");
    let errors = of_type(&records, "error");
    assert!(
        errors.iter().any(|e| e["target"]["host"] == "quiet.example"
            && e["phase"] == "timeout"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("sent nothing within 1 s"))),
        "{errors:#?}"
    );
}

#[tokio::test]
async fn proxy_require_auth_refuses_a_client_without_the_credential() {
    let scratch = Scratch::new();
    let server = Upstream::start(None).await;
    let out = scratch.path("auth.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &["--require-auth"]).await;
    assert!(
        proxy.proxy_url.starts_with("http://phonehome:") && proxy.proxy_url.contains('@'),
        "{}",
        proxy.proxy_url
    );
    let url = format!("http://127.0.0.1:{}/hello", server.port());
    let curl = |proxy: String| {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x"])
            .arg(proxy)
            .arg(&url);
        cmd
    };
    let without = run(curl(format!("http://{}", proxy.addr))).await;
    assert_eq!(without.stdout, "407");
    let with = run(curl(proxy.proxy_url.clone())).await;
    assert_eq!(with.stdout, "200");
    proxy.stop().await;
    let records = read_capture(&out);
    let blocked = of_type(&records, "blocked");
    assert_eq!(blocked.len(), 1, "{records:#?}");
    assert_eq!(
        blocked[0]["rule"],
        "proxy authentication required (--require-auth)"
    );
    assert_eq!(
        of_type(&records, "request").len(),
        1,
        "only the client with the credential"
    );
}

/// The content verdict is computed over what the sinkhole read, and says **unknown** for what
/// nobody read.
#[tokio::test]
async fn the_verdict_is_unknown_for_unseen_attempts_and_sees_sinkholed_leaks() {
    let scratch = Scratch::new();
    let report = |out: std::path::PathBuf| {
        let mut cmd = scratch.phonehome();
        cmd.args(["report", "--format", "json"]).arg(out);
        cmd
    };

    let out = scratch.path("unseen.jsonl");
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "curl", "-sS", "https://nothing.invalid/t"]);
    run(cmd).await;
    let json: serde_json::Value =
        serde_json::from_str(&run(report(out)).await.stdout).expect("report");
    let content = &json["verdict"][0];
    assert_eq!(content["answer"], "unknown", "{content}");
    assert!(
        content["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("nothing.invalid") && e.contains("--sinkhole unreachable")),
        "{content}"
    );

    let out = scratch.path("leak.jsonl");
    let cwd = scratch.dir.path().display().to_string();
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.current_dir(scratch.dir.path())
        .args([
            "--policy",
            "offline",
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-d",
        ])
        .arg(format!("workspace={cwd}"))
        .arg("https://blocked.example/upload");
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&run(report(out)).await.stdout).expect("report");
    assert_eq!(json["summary"]["sinkholed"], 1);
    let content = &json["verdict"][0];
    assert_eq!(content["answer"], "yes", "{content}");
    assert!(
        json["leaks"]
            .as_array()
            .expect("leaks")
            .iter()
            .any(|l| l["kind"] == "cwd" && l["host"] == "blocked.example"),
        "{:#}",
        json["leaks"]
    );
}
