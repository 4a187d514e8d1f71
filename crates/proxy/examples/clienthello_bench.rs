//! ClientHello parse plus JA3 and JA4: `cargo run --release -p phonehome-proxy --example
//! clienthello_bench`. A ClientHello shaped like a browser's (16 cipher suites, 18 extensions
//! with SNI, ALPN, groups, key share, signature algorithms, padding), parsed and fingerprinted
//! 100,000 times; prints microseconds per ClientHello.

use std::hint::black_box;
use std::time::Instant;

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn list16(items: &[u16]) -> Vec<u8> {
    let mut out = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    for i in items {
        out.extend_from_slice(&i.to_be_bytes());
    }
    out
}

fn browser_hello() -> Vec<u8> {
    let mut ext = Vec::new();
    extension(&mut ext, 0x0a0a, &[]);
    let name = b"api.example.test";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    extension(&mut ext, 0x0000, &sni);
    extension(&mut ext, 0x0017, &[]);
    extension(&mut ext, 0xff01, &[0]);
    extension(
        &mut ext,
        0x000a,
        &list16(&[0x1a1a, 0x11ec, 0x001d, 0x0017, 0x0018]),
    );
    extension(&mut ext, 0x000b, &[1, 0]);
    extension(&mut ext, 0x0023, &[]);
    extension(
        &mut ext,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    extension(&mut ext, 0x0005, &[1, 0, 0, 0, 0]);
    extension(
        &mut ext,
        0x000d,
        &list16(&[
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ]),
    );
    extension(&mut ext, 0x0012, &[]);
    let mut share = vec![0, 36, 0, 0x1d, 0, 32];
    share.extend_from_slice(&[7u8; 32]);
    extension(&mut ext, 0x0033, &share);
    extension(&mut ext, 0x002d, &[1, 1]);
    extension(&mut ext, 0x002b, &[6, 0x2a, 0x2a, 3, 4, 3, 3]);
    extension(&mut ext, 0x001b, &[2, 0, 2]);
    extension(&mut ext, 0x44cd, &[0, 3, 2, b'h', b'2']);
    extension(&mut ext, 0xfe0d, &[0u8; 90]);
    extension(&mut ext, 0x0015, &[0u8; 200]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[9u8; 32]);
    body.push(32);
    body.extend_from_slice(&[5u8; 32]);
    body.extend_from_slice(&list16(&[
        0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ]));
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut handshake = vec![1];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

fn main() {
    let hello = browser_hello();
    let parsed = phonehome_proxy::parse_client_hello(&hello).expect("parses");
    println!(
        "ClientHello of {} bytes: {}",
        hello.len(),
        phonehome_proxy::fingerprints(&parsed).ja4
    );
    let n = 100_000;
    let start = Instant::now();
    for _ in 0..n {
        let parsed = phonehome_proxy::parse_client_hello(black_box(&hello)).expect("parses");
        black_box(phonehome_proxy::fingerprints(&parsed));
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("parse + JA3 + JA4: {per:.2} µs per ClientHello");
}
