//! A check of an HPACK header block's shape before it is handed to fluke-hpack, which panics
//! (`decode_integer(..).ok().unwrap()`) on a dynamic table size update whose integer is cut
//! short or too long: a client's bytes must not end the task that reads them. Found by the
//! `http2_heads` fuzz target.
//!
//! The walk follows RFC 7541 §6 (<https://www.rfc-editor.org/rfc/rfc7541#section-6>): each
//! field representation's integers (§5.1) and string lengths (§5.2) are read and the strings
//! skipped; nothing is decoded.

/// The most continuation bytes of an integer: 4 carry 28 bits, past anything a table size or
/// a string length in a frame can be.
const MAX_CONTINUATIONS: usize = 4;

/// Whether every integer and string length of `block` is whole and in bounds.
pub(crate) fn well_formed(block: &[u8]) -> bool {
    let mut at = 0;
    while at < block.len() {
        let first = block[at];
        let ok = if first & 0x80 != 0 {
            // Indexed field (§6.1).
            integer(block, &mut at, 7).is_some()
        } else if first & 0xE0 == 0x20 {
            // Dynamic table size update (§6.3).
            integer(block, &mut at, 5).is_some()
        } else {
            // A literal (§6.2): with incremental indexing (6-bit index), without indexing or
            // never indexed (4-bit); index 0 means a literal name follows.
            let prefix = if first & 0xC0 == 0x40 { 6 } else { 4 };
            literal(block, &mut at, prefix).is_some()
        };
        if !ok {
            return false;
        }
    }
    true
}

fn literal(block: &[u8], at: &mut usize, prefix: u32) -> Option<()> {
    if integer(block, at, prefix)? == 0 {
        string(block, at)?;
    }
    string(block, at)
}

/// Skips a string literal (§5.2): a Huffman bit, a 7-bit-prefix length, the bytes.
fn string(block: &[u8], at: &mut usize) -> Option<()> {
    let len = usize::try_from(integer(block, at, 7)?).ok()?;
    let end = at.checked_add(len)?;
    if end > block.len() {
        return None;
    }
    *at = end;
    Some(())
}

/// Reads an integer with an N-bit prefix (§5.1) at `at`, moving past it.
fn integer(block: &[u8], at: &mut usize, prefix: u32) -> Option<u64> {
    let mask = (1u8 << prefix) - 1;
    let mut value = u64::from(*block.get(*at)? & mask);
    *at += 1;
    if value < u64::from(mask) {
        return Some(value);
    }
    for shift in 0..MAX_CONTINUATIONS {
        let byte = *block.get(*at)?;
        *at += 1;
        value += u64::from(byte & 0x7F) << (7 * shift);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_blocks_pass_and_cut_integers_fail() {
        // RFC 7541 C.3.1: `:method GET`, `:scheme http`, `:path /`, `:authority www.example.com`.
        let request = b"\x82\x86\x84\x41\x0fwww.example.com";
        assert!(well_formed(request));
        assert!(well_formed(b"\x3f\xe1\x1f"), "a table size update of 4096");
        assert!(!well_formed(b"\x3f"), "a size update cut short");
        assert!(!well_formed(b"\x3f\xff\xff\xff\xff\xff"), "one too long");
        assert!(!well_formed(b"\x41\x0fwww"), "a string past the end");
        assert!(well_formed(b""));
    }

    /// The input the `http2_heads` fuzz target found (fuzz/artifacts/http2_heads/crash-d8ac…):
    /// fluke-hpack panicked on it; the tap now stops without a word.
    #[test]
    fn the_fuzzed_size_update_no_longer_panics() {
        const CRASH: &[u8] = b"\xff\x00\x00\x22\x01\xfe\x0c\x00\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x00\x00\x00\x00\x02\x00\x00\xba\xba\x3f\xff\xff\x87\xff\xff\x7e\xff\x7a\xff\x00\x00\x02\x01\x0c\x07\x00\x00\x00\x00\x2f\x07\x00\x00\x00\xff\xff\x40\x2a\xff\xba\x80\x0a\x04\x2d\x7f\x00\xca\x02\x00\x00\xba\xba\x7f\xba\xff\xff\xff\xff\x75";
        crate::fuzzing::http2_heads(CRASH);
    }
}
