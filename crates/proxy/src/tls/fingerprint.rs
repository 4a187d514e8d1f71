//! TLS client fingerprints of a ClientHello: JA3 (Salesforce, 2017: the MD5 of
//! `version,ciphers,extensions,groups,point formats` in decimal, GREASE removed) and JA4 (the
//! TLS client fingerprint of FoxIO's JA4 specification, BSD-licensed; the JA4+ variants are not
//! implemented), with JA4's raw form `ja4_r`.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::tls::clienthello::{is_grease, ClientHello};

/// The fingerprints of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// `771,4865-4866-…,0-23-…,29-23-24,0`
    pub ja3_text: String,
    /// MD5 of `ja3_text`, lowercase hex.
    pub ja3: String,
    /// `t13d1516h2_8daaf6152771_d8a2da3f94cd`
    pub ja4: String,
    /// `t13d1516h2_<sorted ciphers>_<sorted extensions>_<signature algorithms>`
    pub ja4_r: String,
}

/// JA3 and JA4 of `hello`.
pub fn fingerprints(hello: &ClientHello) -> Fingerprints {
    let ja3_text = ja3_text(hello);
    let ja3 = hex::encode(Md5::digest(ja3_text.as_bytes()));
    let (ja4, ja4_r) = ja4(hello);
    Fingerprints {
        ja3_text,
        ja3,
        ja4,
        ja4_r,
    }
}

fn decimal<T: ToString>(values: impl Iterator<Item = T>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

fn ja3_text(hello: &ClientHello) -> String {
    let clean = |list: &[u16]| {
        list.iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect::<Vec<_>>()
    };
    format!(
        "{},{},{},{},{}",
        hello.legacy_version,
        decimal(clean(&hello.cipher_suites).into_iter()),
        decimal(clean(&hello.extensions).into_iter()),
        decimal(clean(&hello.supported_groups).into_iter()),
        decimal(hello.ec_point_formats.iter()),
    )
}

fn hex4(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of SHA-256, or twelve zeros for nothing.
fn truncated_sha256(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_owned()
}

fn version_code(version: u16) -> &'static str {
    match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 | 0x0200 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The first and last characters of the first ALPN value; of its hex form when either byte
/// is not alphanumeric; `00` without ALPN.
fn alpn_code(alpn: &[Vec<u8>]) -> String {
    let Some(first) = alpn.first().filter(|a| !a.is_empty()) else {
        return "00".to_owned();
    };
    let (a, z) = (first[0], first[first.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        return format!("{}{}", char::from(a), char::from(z));
    }
    let hex = hex::encode(first);
    format!("{}{}", &hex[..1], &hex[hex.len() - 1..])
}

fn ja4(hello: &ClientHello) -> (String, String) {
    let mut ciphers: Vec<u16> = hello
        .cipher_suites
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let extensions: Vec<u16> = hello
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let version = hello
        .versions
        .iter()
        .copied()
        .max()
        .filter(|_| hello.extensions.contains(&0x002b))
        .unwrap_or(hello.legacy_version);
    let a = format!(
        "t{}{}{:02}{:02}{}",
        version_code(version),
        if hello.has_sni { "d" } else { "i" },
        ciphers.len().min(99),
        extensions.len().min(99),
        alpn_code(&hello.alpn)
    );
    ciphers.sort_unstable();
    let mut sorted: Vec<u16> = extensions
        .into_iter()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    sorted.sort_unstable();
    let algorithms: Vec<u16> = hello
        .signature_algorithms
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    let ciphers = hex4(&ciphers);
    let mut extensions = hex4(&sorted);
    if !algorithms.is_empty() && !extensions.is_empty() {
        extensions = format!("{extensions}_{}", hex4(&algorithms));
    }
    let ja4 = format!(
        "{a}_{}_{}",
        truncated_sha256(&ciphers),
        truncated_sha256(&extensions)
    );
    let raw = format!("{a}_{ciphers}_{extensions}");
    (ja4, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A browser's ClientHello as a fingerprinting service reported it (JA3 text and hash,
    /// JA4 and JA4_r): the inputs rebuilt from its JA3 text and JA4_r, GREASE added back.
    fn browser() -> ClientHello {
        ClientHello {
            sni: Some("tls.example.test".into()),
            has_sni: true,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            versions: vec![0x0304, 0x0303],
            legacy_version: 771,
            cipher_suites: vec![
                0x2a2a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172,
                156, 157, 47, 53,
            ],
            extensions: vec![
                0x3a3a, 45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27,
                0x4a4a,
            ],
            supported_groups: vec![0x5a5a, 4588, 29, 23, 24],
            ec_point_formats: vec![0],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            raw: Vec::new(),
        }
    }

    #[test]
    fn published_vector() {
        let f = fingerprints(&browser());
        assert_eq!(
            f.ja3_text,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
        );
        assert_eq!(f.ja3, "98487aa16281980e7d1120d399efb6a4");
        assert_eq!(f.ja4, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
        assert_eq!(
            f.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
    }

    #[test]
    fn no_sni_no_alpn_and_odd_alpn() {
        let mut hello = browser();
        hello.has_sni = false;
        hello.alpn.clear();
        assert!(fingerprints(&hello).ja4.starts_with("t13i151600_"));
        hello.alpn = vec![vec![0xab, b'x', 0x7f]];
        assert!(
            fingerprints(&hello).ja4.starts_with("t13i1516af_"),
            "hex of first and last byte"
        );
    }

    #[test]
    fn parsed_hello_feeds_the_fingerprints() {
        let hello = crate::tls::clienthello::parse_client_hello(
            &crate::tls::clienthello::tests::sample_hello(),
        )
        .expect("parses");
        assert_eq!(hello.cipher_suites, vec![0x1301]);
        assert_eq!(hello.extensions, vec![0x0000, 0x0010, 0x002b]);
        let f = fingerprints(&hello);
        assert_eq!(f.ja3_text, "771,4865,0-16-43,,");
        assert!(f.ja4.starts_with("t13d0103h2_"), "{}", f.ja4);
        assert_eq!(f.ja4_r, "t13d0103h2_1301_002b");
    }
}
