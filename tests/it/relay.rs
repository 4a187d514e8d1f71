//! Tunnels that carry neither HTTP nor interceptable TLS are relayed as bytes and recorded.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::support::{
    of_type, read_capture, run, Cert, Scratch, StandaloneProxy, TestPki, Upstream,
};

/// What the raw client sends and what the server answers: each larger than a CONNECT
/// exchange, so that the counts show the relayed bytes, not only the proxy protocol's.
const PING: usize = 1_000;
const PONG: usize = 4_000;

#[tokio::test]
async fn raw_tcp_is_relayed_and_counted() {
    let scratch = Scratch::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; PING];
        socket.read_exact(&mut buf).await.expect("read");
        socket.write_all(&[b'o'; PONG]).await.expect("write");
    });
    let out = scratch.path("tcp.jsonl");
    let proxy = StandaloneProxy::start(&scratch, &out, &[]).await;
    let mut tunnel = proxy.tunnel(&target).await;
    // Not TLS, not HTTP: relayed as bytes.
    tunnel.write_all(&[b'i'; PING]).await.expect("write");
    let mut reply = Vec::new();
    tunnel.read_to_end(&mut reply).await.expect("read");
    assert_eq!(reply, vec![b'o'; PONG]);
    drop(tunnel);
    proxy.stop().await;

    let records = read_capture(&out);
    let conns = of_type(&records, "conn");
    assert_eq!(conns.len(), 1, "{records:#?}");
    assert_eq!(conns[0]["transport"], "tcp");
    assert_eq!(
        conns[0]["target"]["port"],
        target
            .rsplit(':')
            .next()
            .expect("port")
            .parse::<u64>()
            .expect("n")
    );
    let up = conns[0]["bytes_up"].as_u64().expect("bytes_up");
    let down = conns[0]["bytes_down"].as_u64().expect("bytes_down");
    assert!(
        up >= PING as u64 && down >= PONG as u64,
        "the relayed bytes are counted: {up} up, {down} down"
    );
    assert!(of_type(&records, "request").is_empty());
}

#[tokio::test]
async fn tls_with_a_protocol_phonehome_does_not_speak_passes_through() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let upstream = Upstream::start(Some(
        pki.server_config(Cert::Valid, &[b"x-custom/1", b"http/1.1"]),
    ))
    .await;
    let out = scratch.path("pass.jsonl");
    let script = r#"
import http.client, os, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.set_alpn_protocols(["x-custom/1"])
host, port = os.environ["HTTPS_PROXY"].removeprefix("http://").rsplit(":", 1)
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
conn.set_tunnel("localhost", int(sys.argv[1]))
conn.request("GET", "/hello")
print(conn.sock.selected_alpn_protocol(), conn.getresponse().read().decode())
"#;
    let mut cmd = scratch.run_prefix(&out, None);
    cmd.args(["--", "python3", "-c", script, &upstream.port().to_string()])
        .arg(&pki.ca_pem);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stdout.trim(),
        r#"x-custom/1 {"hello":"world"}"#,
        "end-to-end TLS with the upstream's own certificate"
    );
    let records = read_capture(&out);
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["transport"], "tls-passthrough");
    assert_eq!(conn["tls"]["sni"], "localhost");
    assert_eq!(
        conn["tls"]["alpn_offered"],
        serde_json::json!(["x-custom/1"])
    );
    assert!(
        of_type(&records, "request").is_empty(),
        "nothing was decrypted"
    );
}
