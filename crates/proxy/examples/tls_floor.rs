//! The TLS floor of an intercepting proxy: `cargo run --release -p phonehome-proxy --example
//! tls_floor [MiB] [requests]`. What rustls (0.23, the *ring* provider phonehome uses) costs for
//! the work no intercepting proxy can skip, timed as this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so other load on the machine stretches it little:
//!
//! - **record layer, bulk**: TLS 1.3 AES-256-GCM (`TLS13_AES_256_GCM_SHA384`, the suite curl
//!   and rustls both put first and nginx takes in `bench/download`) sealing and opening `MiB`
//!   MiB (default 1024) in 16 KiB records, the proxy's one decrypt (from nginx) and one encrypt
//!   (to the client) per byte. rustls's `MessageEncrypter` copies the plaintext into the record
//!   it seals, as the buffered API does; the open is in place.
//! - **record layer, one request**: the GET row's exchange (an 88-byte request, a 1,260-byte
//!   response: nginx's head and a 1 KiB body), each opened once and sealed once, as the proxy
//!   does between hey and nginx; `requests` times (default 200,000).
//! - **whole buffered connection, bulk and one request**: a rustls server and client connected in
//!   memory (no sockets), the server writing through `writer()` / `write_tls` and the client
//!   reading through `read_tls` / `process_new_packets` / `reader()`, as tokio-rustls drives
//!   them: one seal and one open per byte with every copy of rustls's buffered API, without the
//!   kernel. For one request, both directions of one exchange: two seals and two opens.
//!
//! Prints seconds per GiB and microseconds per request. The kernel's and the HTTP layers'
//! share are measured by `bench/floor`, not here.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageDecrypter, MessageEncrypter, OutboundChunks,
    OutboundPlainMessage,
};
use rustls::crypto::ring as provider;
use rustls::{
    ClientConnection, ContentType, ProtocolVersion, ServerConnection, SupportedCipherSuite,
};

const RECORD: usize = 16 * 1024;
const REQUEST: usize = 88;
const RESPONSE: usize = 1260;

/// This thread's CPU time in seconds.
fn cpu_now() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn aes256_gcm() -> &'static rustls::Tls13CipherSuite {
    match provider::cipher_suite::TLS13_AES_256_GCM_SHA384 {
        SupportedCipherSuite::Tls13(suite) => suite,
        _ => unreachable!("TLS13_AES_256_GCM_SHA384 is a TLS 1.3 suite"),
    }
}

fn record_pair() -> (Box<dyn MessageEncrypter>, Box<dyn MessageDecrypter>) {
    let aead = aes256_gcm().aead_alg;
    let key = [0x42u8; 32];
    let iv = [7u8; 12];
    (
        aead.encrypter(AeadKey::from(key), Iv::new(iv)),
        aead.decrypter(AeadKey::from(key), Iv::new(iv)),
    )
}

/// Seals `plain` as record `seq`; returns the record as sent (header included).
fn seal(enc: &mut dyn MessageEncrypter, plain: &[u8], seq: u64) -> Vec<u8> {
    enc.encrypt(
        OutboundPlainMessage {
            typ: ContentType::ApplicationData,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(plain),
        },
        seq,
    )
    .expect("sealing a record of at most 16 KiB")
    .encode()
}

/// Opens record `seq` in place; returns its plaintext's length.
fn open(dec: &mut dyn MessageDecrypter, wire: &mut [u8], seq: u64) -> usize {
    dec.decrypt(
        InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut wire[5..],
        ),
        seq,
    )
    .expect("opening the record just sealed")
    .payload
    .len()
}

/// Seals `plain` as record `seq` and, with `also_open`, opens it again.
fn seal_open(
    enc: &mut dyn MessageEncrypter,
    dec: &mut dyn MessageDecrypter,
    plain: &[u8],
    seq: u64,
    also_open: bool,
) -> usize {
    let mut wire = seal(enc, plain, seq);
    if also_open {
        open(dec, &mut wire, seq)
    } else {
        std::hint::black_box(wire).len()
    }
}

/// CPU seconds of sealing (and, with `also_open`, opening) `mib` MiB in 16 KiB records.
fn record_bulk_pass(mib: usize, also_open: bool) -> f64 {
    let (mut enc, mut dec) = record_pair();
    let plain = vec![0x5au8; RECORD];
    let records = mib * 1024 * 1024 / RECORD;
    let t0 = cpu_now();
    for seq in 0..records as u64 {
        seal_open(enc.as_mut(), dec.as_mut(), &plain, seq, also_open);
    }
    cpu_now() - t0
}

fn record_bulk(mib: usize) {
    let sealed = record_bulk_pass(mib, false);
    let both = record_bulk_pass(mib, true);
    let gib = mib as f64 / 1024.0;
    println!(
        "record layer, {mib} MiB in 16 KiB records: seal {:.3} s/GiB, open {:.3} s/GiB (the difference), both {:.3} s/GiB",
        sealed / gib,
        (both - sealed) / gib,
        both / gib
    );
}

fn record_requests(requests: usize) {
    let (mut enc, mut dec) = record_pair();
    let request = vec![b'r'; REQUEST];
    let response = vec![b'x'; RESPONSE];
    let t0 = cpu_now();
    for i in 0..requests as u64 {
        seal_open(enc.as_mut(), dec.as_mut(), &request, 2 * i, true);
        seal_open(enc.as_mut(), dec.as_mut(), &response, 2 * i + 1, true);
    }
    let secs = cpu_now() - t0;
    println!(
        "record layer, one exchange ({REQUEST} B request, {RESPONSE} B response, each sealed and opened once): {:.2} µs",
        secs / requests as f64 * 1e6
    );
}

fn connected() -> (ServerConnection, ClientConnection) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate for localhost");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let crypto = Arc::new(provider::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(crypto.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("the certificate and its key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("the certificate as a root");
    let client = rustls::ClientConfig::builder_with_provider(crypto)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut server = ServerConnection::new(Arc::new(server)).expect("a server connection");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a DNS name");
    let mut client = ClientConnection::new(Arc::new(client), name).expect("a client connection");
    let mut wire = Vec::new();
    let mut sink = [0u8; 1024];
    while client.is_handshaking() || server.is_handshaking() {
        move_tls(&mut client, &mut server, &mut wire, &mut sink);
        move_tls(&mut server, &mut client, &mut wire, &mut sink);
    }
    // The server's session tickets.
    move_tls(&mut server, &mut client, &mut wire, &mut sink);
    let suite = client
        .negotiated_cipher_suite()
        .expect("a negotiated suite");
    println!("in-memory connection: {:?}", suite.suite());
    (server, client)
}

/// Everything `from` has to send, into `to`, processed; the plaintext `to` receives is read
/// into `sink` as it comes (rustls holds at most 16 KiB unread). Returns its length.
fn move_tls<A, B, D, E>(from: &mut A, to: &mut B, wire: &mut Vec<u8>, sink: &mut [u8]) -> usize
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<E>>,
{
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire).expect("writing TLS into memory");
    }
    let mut rest = &wire[..];
    let mut received = 0;
    while !rest.is_empty() {
        to.read_tls(&mut rest).expect("reading TLS from memory");
        to.process_new_packets().expect("valid TLS records");
        received += drain(to, sink);
    }
    received
}

/// Reads all plaintext `conn` has ready into `sink`; returns the bytes read.
fn drain<D>(conn: &mut rustls::ConnectionCommon<D>, sink: &mut [u8]) -> usize {
    let mut total = 0;
    loop {
        match conn.reader().read(sink) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("reading plaintext: {e}"),
        }
    }
}

fn connection_bulk(mib: usize) {
    let (mut server, mut client) = connected();
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let mut wire = Vec::with_capacity(128 * 1024);
    let total = mib * 1024 * 1024;
    let (mut sent, mut received) = (0, 0);
    let t0 = cpu_now();
    while received < total {
        if sent < total {
            sent += server.writer().write(&chunk).expect("buffering plaintext");
        }
        received += move_tls(&mut server, &mut client, &mut wire, &mut sink);
    }
    let secs = cpu_now() - t0;
    println!(
        "buffered connection, {mib} MiB written by the server and read by the client (one seal, one open per byte): {:.3} s/GiB",
        secs / (mib as f64 / 1024.0)
    );
}

fn connection_requests(requests: usize) {
    let (mut server, mut client) = connected();
    let request = vec![b'r'; REQUEST];
    let response = vec![b'x'; RESPONSE];
    let mut sink = vec![0u8; 16 * 1024];
    let mut wire = Vec::with_capacity(16 * 1024);
    let t0 = cpu_now();
    for _ in 0..requests {
        client
            .writer()
            .write_all(&request)
            .expect("buffering the request");
        let got = move_tls(&mut client, &mut server, &mut wire, &mut sink);
        assert_eq!(got, REQUEST);
        server
            .writer()
            .write_all(&response)
            .expect("buffering the response");
        let got = move_tls(&mut server, &mut client, &mut wire, &mut sink);
        assert_eq!(got, RESPONSE);
    }
    let secs = cpu_now() - t0;
    println!(
        "buffered connection, one exchange (two seals, two opens, every copy): {:.2} µs",
        secs / requests as f64 * 1e6
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let requests = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    record_bulk(mib);
    record_requests(requests);
    connection_bulk(mib);
    connection_requests(requests);
}
