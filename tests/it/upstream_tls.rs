//! Upstream TLS gives curl's verdict with the same trust (`--cacert` ↔ `--extra-ca`,
//! `--cert` ↔ `--client-cert`): each row runs curl directly and curl under `phonehome run`
//! against the same local server (Python's ssl module, so OpenSSL, as tests/servers/
//! tls_server.py), asserts the two verdicts agree, and reads the words of the error record.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{of_type, read_capture, run, spawn_printing_port, Scratch};

const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/tls_server.py");

/// A certificate and its key, as PEM files.
#[derive(Clone)]
struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

/// The certificates of the matrix, in a scratch folder.
struct Pki {
    /// A private CA (the `--extra-ca` / `--cacert` of the private rows).
    ca: PathBuf,
    /// Issued by the CA for localhost.
    valid: Pem,
    /// Issued by the CA for elsewhere.test.
    wrong_host: Pem,
    /// Issued by the CA for localhost, expired yesterday.
    expired: Pem,
    /// Self-signed for localhost, not a CA.
    self_signed: Pem,
    /// Made by `openssl req -x509 -subj /CN=localhost -addext subjectAltName=DNS:localhost`:
    /// self-signed and `CA:TRUE`.
    openssl_self_signed: Pem,
    /// The CA that servers asking for a client certificate trust.
    client_ca: PathBuf,
    /// A client certificate from that CA, its key in the same file.
    client: PathBuf,
}

fn write_pem(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Pem {
    let pem = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&pem.cert, cert.pem()).expect("write cert");
    std::fs::write(&pem.key, key.serialize_pem()).expect("write key");
    pem
}

fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("ca");
    (cert, rcgen::Issuer::new(params, key))
}

fn leaf(name: &str, expired: bool) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
    let now = time::OffsetDateTime::now_utc();
    (params.not_before, params.not_after) = match expired {
        true => (
            now - time::Duration::days(10),
            now - time::Duration::days(1),
        ),
        false => (
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        ),
    };
    params
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let (ca_cert, issuer) = new_ca("phonehome test private CA");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).expect("write ca");
        let issued = |file: &str, name: &str, expired: bool| {
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = leaf(name, expired).signed_by(&key, &issuer).expect("cert");
            write_pem(dir, file, &cert, &key)
        };
        let self_signed = {
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = leaf("localhost", false).self_signed(&key).expect("cert");
            write_pem(dir, "self-signed", &cert, &key)
        };
        let (client_ca_cert, client_issuer) = new_ca("phonehome test client CA");
        let client_ca = dir.join("client-ca.pem");
        std::fs::write(&client_ca, client_ca_cert.pem()).expect("write client ca");
        let client = {
            let mut params = leaf("phonehome-test-client", false);
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &client_issuer).expect("cert");
            let path = dir.join("client.pem");
            std::fs::write(&path, cert.pem() + &key.serialize_pem()).expect("write client");
            path
        };
        Self {
            ca,
            valid: issued("valid", "localhost", false),
            wrong_host: issued("wrong-host", "elsewhere.test", false),
            expired: issued("expired", "localhost", true),
            self_signed,
            openssl_self_signed: openssl_self_signed(dir),
            client_ca,
            client,
        }
    }
}

/// A self-signed certificate made as most development servers make theirs.
fn openssl_self_signed(dir: &Path) -> Pem {
    let pem = Pem {
        cert: dir.join("openssl.pem"),
        key: dir.join("openssl.key"),
    };
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&pem.key)
        .arg("-out")
        .arg(&pem.cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl req -x509");
    pem
}

/// A running tests/servers/tls_server.py.
struct Server {
    _child: tokio::process::Child,
    port: u16,
}

impl Server {
    async fn start(pem: &Pem, args: &[&str]) -> Self {
        let (child, port) = spawn_printing_port(
            tokio::process::Command::new("python3")
                .arg(SERVER)
                .arg("--cert")
                .arg(&pem.cert)
                .arg("--key")
                .arg(&pem.key)
                .args(args),
        )
        .await;
        Self {
            _child: child,
            port,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/hello", self.port)
    }
}

/// One row: the server, what both clients trust and present, and what must happen.
struct Row<'a> {
    name: &'a str,
    server: &'a Pem,
    server_args: &'a [&'a str],
    /// `--cacert` for curl, `--extra-ca` for phonehome.
    trust: Option<&'a Path>,
    /// `--cert` for curl; `--client-cert` for phonehome, matched by this glob.
    client_cert: Option<(&'a str, &'a Path)>,
    ok: bool,
    /// Words the `error` record's message must hold when it fails.
    words: &'a str,
}

/// curl directly: whether it got the body.
async fn curl_direct(row: &Row<'_>, url: &str) -> bool {
    let mut curl = tokio::process::Command::new("curl");
    curl.args(["-sS", "-f", "--max-time", "30", url]);
    for var in [
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "HTTPS_PROXY",
        "https_proxy",
    ] {
        curl.env_remove(var);
    }
    if let Some(ca) = row.trust {
        curl.arg("--cacert").arg(ca);
    }
    if let Some((_, cert)) = row.client_cert {
        curl.arg("--cert").arg(cert);
    }
    let output = curl.output().await.expect("curl runs");
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains("hello")
}

/// Checks one row; returns what did not hold.
async fn check(scratch: &Scratch, row: &Row<'_>) -> Vec<String> {
    let server = Server::start(row.server, row.server_args).await;
    let url = server.url();
    let direct = curl_direct(row, &url).await;
    let out = scratch.path(&format!("{}.jsonl", row.name.replace(' ', "-")));
    let mut cmd = scratch.run_prefix(&out, row.trust);
    if let Some((glob, cert)) = row.client_cert {
        cmd.arg("--client-cert")
            .arg(format!("{glob}={}", cert.display()));
    }
    cmd.args(["-q", "--", "curl", "-sS", "-f", "--max-time", "30", &url]);
    let ran = run(cmd).await;
    let proxied = ran.code == Some(0) && ran.stdout.contains("hello");
    let mut wrong = Vec::new();
    if direct != proxied || direct != row.ok {
        wrong.push(format!(
            "{}: curl {direct}, through phonehome {proxied}, expected {} ({})",
            row.name,
            row.ok,
            ran.stderr.trim()
        ));
    }
    let records = read_capture(&out);
    let messages: Vec<&str> = of_type(&records, "error")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    if !row.ok && !messages.iter().any(|m| m.contains(row.words)) {
        wrong.push(format!("{}: {:?} in {messages:?}", row.name, row.words));
    }
    if row.ok && !messages.is_empty() {
        wrong.push(format!("{}: errors {messages:?}", row.name));
    }
    wrong
}

async fn check_all(scratch: &Scratch, rows: &[Row<'_>]) {
    let mut wrong = Vec::new();
    for row in rows {
        wrong.extend(check(scratch, row).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn certificate_verdicts_are_curls() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let row = |name, server, trust, ok, words| Row {
        name,
        server,
        server_args: &[],
        trust,
        client_cert: None,
        ok,
        words,
    };
    let ca = Some(pki.ca.as_path());
    let openssl_ca = Some(pki.openssl_self_signed.cert.as_path());
    check_all(
        &scratch,
        &[
            row("private CA via --extra-ca", &pki.valid, ca, true, ""),
            row(
                "private CA, untrusted",
                &pki.valid,
                None,
                false,
                "not trusted (unknown issuer CN=phonehome test private CA)",
            ),
            row(
                "self-signed, untrusted",
                &pki.self_signed,
                None,
                false,
                "not trusted (self-signed)",
            ),
            row(
                "CA:TRUE self-signed, untrusted",
                &pki.openssl_self_signed,
                None,
                false,
                "not trusted (self-signed)",
            ),
            row(
                "CA:TRUE self-signed via --extra-ca",
                &pki.openssl_self_signed,
                openssl_ca,
                true,
                "",
            ),
            row(
                "wrong host",
                &pki.wrong_host,
                ca,
                false,
                "the certificate is for other names: elsewhere.test (not localhost)",
            ),
            row(
                "expired",
                &pki.expired,
                ca,
                false,
                "the certificate expired on ",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn client_certificate_verdicts_are_curls() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let client_ca = pki.client_ca.to_string_lossy().into_owned();
    let tls13 = ["--client-ca", client_ca.as_str()];
    let tls12 = ["--client-ca", client_ca.as_str(), "--max-version", "1.2"];
    let missing = "upstream asked for a client certificate and none was configured for localhost";
    let row = |name, server_args, client_cert, ok| Row {
        name,
        server: &pki.valid,
        server_args,
        trust: Some(pki.ca.as_path()),
        client_cert,
        ok,
        words: missing,
    };
    let matching = Some(("local*", pki.client.as_path()));
    check_all(
        &scratch,
        &[
            row("mTLS 1.3 with --client-cert", &tls13, matching, true),
            row("mTLS 1.2 with --client-cert", &tls12, matching, true),
            row("mTLS 1.3 without", &tls13, None, false),
            row("mTLS 1.2 without", &tls12, None, false),
        ],
    )
    .await;
    // A certificate for other hosts is not presented; curl, told to present it, succeeds, so
    // this row is phonehome's alone.
    let out = scratch.path("elsewhere.jsonl");
    let server = Server::start(&pki.valid, &tls13).await;
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca));
    cmd.arg("--client-cert")
        .arg(format!("*.example={}", pki.client.display()));
    cmd.args(["-q", "--", "curl", "-sS", "-f", &server.url()]);
    assert_ne!(run(cmd).await.code, Some(0));
    let records = read_capture(&out);
    assert!(
        of_type(&records, "error")[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(missing)),
        "{records:#?}"
    );
    assert_eq!(
        of_type(&records, "conn")[0]["upstream"]["client_cert"],
        "missing"
    );
}

#[tokio::test]
async fn a_presented_client_certificate_is_on_the_conn_record() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let client_ca = pki.client_ca.to_string_lossy().into_owned();
    let server = Server::start(&pki.valid, &["--client-ca", &client_ca]).await;
    let out = scratch.path("presented.jsonl");
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca));
    // The key in its own file this time.
    let key = scratch.path("client-key.pem");
    let text = std::fs::read_to_string(&pki.client).expect("client pem");
    let at = text
        .find("-----BEGIN PRIVATE KEY")
        .expect("key in the file");
    std::fs::write(&key, &text[at..]).expect("write key");
    cmd.arg("--client-cert").arg(format!(
        "LOCALHOST={},{}",
        pki.client.display(),
        key.display()
    ));
    cmd.args(["-q", "--", "curl", "-sS", "-f", &server.url()]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let records = read_capture(&out);
    assert_eq!(
        of_type(&records, "conn")[0]["upstream"]["client_cert"],
        "presented"
    );
}

/// Whether this machine's OpenSSL can still serve TLS 1.0 (many builds cannot at all).
async fn serves_tls_1_0(server: &Server) -> bool {
    let probe = format!(
        "import socket, ssl\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
         c.check_hostname = False\n\
         c.verify_mode = ssl.CERT_NONE\n\
         c.set_ciphers('DEFAULT:@SECLEVEL=0')\n\
         c.minimum_version = c.maximum_version = ssl.TLSVersion.TLSv1\n\
         s = c.wrap_socket(socket.create_connection(('127.0.0.1', {})))\n\
         assert s.version() == 'TLSv1'\n",
        server.port
    );
    tokio::process::Command::new("python3")
        .args(["-W", "ignore", "-c", &probe])
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn a_tls_1_0_only_upstream_is_named_so() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let server = Server::start(&pki.valid, &["--max-version", "1.0"]).await;
    if !serves_tls_1_0(&server).await {
        eprintln!("skipped: this machine's OpenSSL cannot serve TLS 1.0 even at SECLEVEL=0");
        return;
    }
    drop(server);
    check_all(
        &scratch,
        &[Row {
            name: "TLS 1.0 only",
            server: &pki.valid,
            server_args: &["--max-version", "1.0"],
            trust: Some(&pki.ca),
            client_cert: None,
            ok: false,
            words: "upstream offers only TLS 1.0",
        }],
    )
    .await;
}

#[tokio::test]
async fn a_400_for_a_missing_client_certificate_says_one_was_asked_for() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let client_ca = pki.client_ca.to_string_lossy().into_owned();
    let server = Server::start(&pki.valid, &["--client-ca", &client_ca, "--optional"]).await;
    let out = scratch.path("optional.jsonl");
    let mut cmd = scratch.run_prefix(&out, Some(&pki.ca));
    cmd.args(["-q", "--", "curl", "-sS", &server.url()]);
    let ran = run(cmd).await;
    assert!(
        ran.stdout.contains("No required SSL certificate"),
        "{}",
        ran.stdout
    );
    let records = read_capture(&out);
    let response = of_type(&records, "response")[0];
    assert_eq!(response["status"], 400);
    let conn = of_type(&records, "conn")[0];
    assert_eq!(conn["upstream"]["client_cert"], "missing", "{conn:#}");
}

/// Runs `openssl` with `args` in `dir`, asserting it succeeds.
fn openssl(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test]
async fn an_x509_v1_client_certificate_is_accepted_as_curl_accepts_it() {
    let scratch = Scratch::new();
    let pki = Pki::new(scratch.dir.path());
    let dir = scratch.dir.path();
    // The common recipe: a CA, a key and request, then `openssl x509 -req -CA …`, which
    // makes an X.509 v1 certificate (no extensions).
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-days",
                "2",
                "-subj",
                "/CN=v1 client CA",
                "-keyout",
                "v1ca.key",
                "-out",
                "v1ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req", "-new"],
            &ec[..],
            &[
                "-subj",
                "/CN=v1 client",
                "-keyout",
                "v1.key",
                "-out",
                "v1.csr",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "v1.csr",
            "-CA",
            "v1ca.pem",
            "-CAkey",
            "v1ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "v1.pem",
        ],
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.join("v1.pem"))
        .output()
        .expect("openssl runs");
    if !String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)") {
        eprintln!("skipped: this openssl's `x509 -req` does not make a v1 certificate");
        return;
    }
    let both = dir.join("v1-both.pem");
    let joined = std::fs::read_to_string(dir.join("v1.pem")).expect("cert")
        + &std::fs::read_to_string(dir.join("v1.key")).expect("key");
    std::fs::write(&both, joined).expect("write");
    let client_ca = dir.join("v1ca.pem").to_string_lossy().into_owned();
    let args = ["--client-ca", client_ca.as_str()];
    let rows = [Row {
        name: "mTLS with an X.509 v1 client certificate",
        server: &pki.valid,
        server_args: &args,
        trust: Some(&pki.ca),
        client_cert: Some(("localhost", both.as_path())),
        ok: true,
        words: "",
    }];
    check_all(&scratch, &rows).await;

    // A key that is not the certificate's is refused before anything starts.
    let mut cmd = scratch.run_prefix(&scratch.path("wrong.jsonl"), None);
    cmd.arg("--client-cert")
        .arg(format!(
            "localhost={},{}",
            dir.join("v1.pem").display(),
            dir.join("v1ca.key").display()
        ))
        .args(["--", "true"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, Some(125), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("does not belong to the certificate"),
        "{}",
        ran.stderr
    );
}
