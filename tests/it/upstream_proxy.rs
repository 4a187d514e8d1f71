//! An upstream proxy carries every outbound connection, tunnels included.

use crate::support::{connect_proxy, of_type, read_capture, run, Cert, Scratch, TestPki, Upstream};

#[tokio::test]
async fn upstream_proxy_option_carries_tunnels_and_plain_http() {
    let scratch = Scratch::new();
    let pki = TestPki::new(scratch.dir.path());
    let tls = Upstream::start(Some(pki.server_config(Cert::Valid, &[b"http/1.1"]))).await;
    let plain = Upstream::start(None).await;
    let (proxy, log) = connect_proxy(true).await;
    let out = scratch.path("up.jsonl");
    let script = format!(
        "curl -sS https://localhost:{}/hello && curl -sS http://127.0.0.1:{}/hello",
        tls.port(),
        plain.port()
    );
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca_pem));
    cmd.arg("--upstream-proxy").arg(format!("http://{proxy}"));
    cmd.args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let seen = log.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            format!("localhost:{}", tls.port()),
            format!("127.0.0.1:{}", plain.port())
        ]
    );
    let records = read_capture(&out);
    for conn in of_type(&records, "conn") {
        assert_eq!(conn["upstream"]["via"], proxy.to_string());
        assert_eq!(conn["upstream"]["addr"], proxy.to_string());
    }
    assert_eq!(of_type(&records, "response").len(), 2);
}

#[tokio::test]
async fn run_takes_the_upstream_proxy_from_its_environment_and_honours_no_proxy() {
    let scratch = Scratch::new();
    let plain = Upstream::start(None).await;
    let (proxy, log) = connect_proxy(true).await;
    let out = scratch.path("env.jsonl");
    let script = format!(
        "curl -sS http://127.0.0.1:{port}/hello && curl -sS http://localhost:{port}/hello",
        port = plain.port()
    );
    let mut cmd = scratch.phonehome();
    cmd.env("HTTPS_PROXY", format!("http://{proxy}"))
        .env("NO_PROXY", "localhost");
    cmd.arg("run")
        .arg("--out")
        .arg(&out)
        .args(["--", "sh", "-c", &script]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        *log.lock().expect("lock"),
        vec![format!("127.0.0.1:{}", plain.port())]
    );
    assert_eq!(
        of_type(&read_capture(&out), "response").len(),
        2,
        "both were captured"
    );
}
