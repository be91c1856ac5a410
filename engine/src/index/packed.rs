//! The terms of the exact fields without a column (`request_id`,
//! `correlation_id`): hex ids packed to their bits, every other value as
//! it is.
//!
//! Those values are nearly unique per event, so each is a term of its own,
//! and tantivy's term dictionary keeps a term's bytes nearly whole when no
//! other term shares them. Most such ids are hex, one byte per 4 bits: 36
//! bytes for a UUID, 16 for a 64-bit id. Their terms hold the bits instead,
//! 7 to a byte (text terms must be UTF-8, and bytes below 0x80 are), behind
//! a tag:
//!
//! | value | term |
//! |---|---|
//! | a lowercase UUID, `8-4-4-4-12` hex digits | `0x01`, then its 128 bits in 19 bytes (20 in all) |
//! | 8 to 64 lowercase hex digits | `0x02`, the digit count, then `4 × count` bits |
//! | anything starting with `0x01` to `0x03` | `0x03`, then the value |
//! | anything else | the value |
//!
//! # Invariants
//! - [`term`] is injective and [`value`] inverts it, so an exact match on
//!   terms is an exact match on values, and counting by the field gives
//!   the values back.
//! - Within one tag (and digit count), packing keeps the order of the
//!   values, so the values starting with a prefix are one range of terms
//!   per shape ([`prefix_ranges`]).

use std::ops::Bound;

/// Tag of a packed lowercase UUID.
const UUID: u8 = 0x01;
/// Tag of packed lowercase hex digits.
const HEX: u8 = 0x02;
/// Tag of a value that would otherwise start like a packed one.
const ESCAPE: u8 = 0x03;
/// Hex ids shorter than this are left as they are (packing saves little).
const MIN_HEX: usize = 8;
/// Longer hex values (beyond a SHA-256) are left as they are.
const MAX_HEX: usize = 64;
/// Where a UUID has its hyphens.
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];
const UUID_LEN: usize = 36;

/// The term of `value`.
pub(crate) fn term(value: &str) -> String {
    if let Some(digits) = uuid_digits(value) {
        return tagged(&[UUID], &digits);
    }
    if is_hex(value) && (MIN_HEX..=MAX_HEX).contains(&value.len()) {
        return tagged(&[HEX, value.len() as u8], value.as_bytes());
    }
    match value.as_bytes().first() {
        Some(&first) if (UUID..=ESCAPE).contains(&first) => format!("\u{3}{value}"),
        _ => value.to_string(),
    }
}

/// The value whose term is `term` (bytes from the index: anything that is
/// not a term of ours comes back as it is, lossily if not UTF-8).
pub(crate) fn value(term: &[u8]) -> String {
    match term.split_first() {
        Some((&UUID, packed)) => {
            let digits = unpack(packed, 32);
            let mut out = String::with_capacity(UUID_LEN);
            for (i, d) in digits.chars().enumerate() {
                if [8, 12, 16, 20].contains(&i) {
                    out.push('-');
                }
                out.push(d);
            }
            out
        }
        Some((&HEX, rest)) => match rest.split_first() {
            Some((&count, packed)) => unpack(packed, usize::from(count)),
            None => String::new(),
        },
        Some((&ESCAPE, rest)) => String::from_utf8_lossy(rest).into_owned(),
        _ => String::from_utf8_lossy(term).into_owned(),
    }
}

/// The term ranges holding every value that starts with `prefix` (not
/// empty): the values as they are, and each packed shape the prefix can
/// begin.
pub(crate) fn prefix_ranges(prefix: &str) -> Vec<(Bound<String>, Bound<String>)> {
    let raw = match prefix.as_bytes().first() {
        Some(&first) if (UUID..=ESCAPE).contains(&first) => format!("\u{3}{prefix}"),
        _ => prefix.to_string(),
    };
    // Packed terms never fall in the raw range: they start with a tag below
    // every value that is not escaped, and escaped ones are handled above.
    let end = successor(&raw).map_or(Bound::Unbounded, Bound::Excluded);
    let mut ranges = vec![(Bound::Included(raw), end)];
    if let Some(digits) = uuid_prefix_digits(prefix) {
        ranges.push(packed_range(&[UUID], &digits, 32));
    }
    if is_hex(prefix) && prefix.len() <= MAX_HEX {
        for count in prefix.len().max(MIN_HEX)..=MAX_HEX {
            ranges.push(packed_range(&[HEX, count as u8], prefix.as_bytes(), count));
        }
    }
    ranges
}

/// The packed terms of `count` digits starting with `digits`, tagged.
fn packed_range(tag: &[u8], digits: &[u8], count: usize) -> (Bound<String>, Bound<String>) {
    let fill = |d: u8| {
        let mut all = digits.to_vec();
        all.resize(count, d);
        tagged(tag, &all)
    };
    (Bound::Included(fill(b'0')), Bound::Included(fill(b'f')))
}

/// The least string greater than every string starting with `prefix`:
/// `prefix` with its last character incremented (`None` when there is no
/// such string).
pub(crate) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Whether every byte is a lowercase hex digit.
fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The 32 digits of a lowercase UUID, without hyphens.
fn uuid_digits(value: &str) -> Option<Vec<u8>> {
    if value.len() != UUID_LEN {
        return None;
    }
    uuid_prefix_digits(value)
}

/// The digits of `prefix` when it can begin a lowercase UUID (hyphens
/// where a UUID has them, lowercase hex elsewhere), without hyphens.
fn uuid_prefix_digits(prefix: &str) -> Option<Vec<u8>> {
    if prefix.len() > UUID_LEN {
        return None;
    }
    let mut digits = Vec::with_capacity(32);
    for (i, b) in prefix.bytes().enumerate() {
        match (UUID_HYPHENS.contains(&i), b) {
            (true, b'-') => {}
            (false, b'0'..=b'9' | b'a'..=b'f') => digits.push(b),
            _ => return None,
        }
    }
    Some(digits)
}

/// `tag` then the 4-bit values of the hex `digits`, big-endian, 7 bits to
/// a byte (the last one padded with zero bits).
fn tagged(tag: &[u8], digits: &[u8]) -> String {
    let mut out = tag.to_vec();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            _ => d - b'a' + 10,
        };
        acc = (acc << 4) | u32::from(nibble);
        bits += 4;
        while bits >= 7 {
            bits -= 7;
            out.push(((acc >> bits) & 0x7f) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (7 - bits)) & 0x7f) as u8);
    }
    String::from_utf8(out).expect("bytes below 0x80 are UTF-8")
}

/// The `count` hex digits packed in `bytes` by [`tagged`].
fn unpack(bytes: &[u8], count: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(count);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 7) | u32::from(b & 0x7f);
        bits += 7;
        while bits >= 4 && out.len() < count {
            bits -= 4;
            out.push(char::from(DIGITS[((acc >> bits) & 0xf) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn successor_bounds_a_prefix() {
        assert_eq!(successor("git.").as_deref(), Some("git/"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor(""), None);
        assert_eq!(successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn ids_take_about_half_their_bytes() {
        let uuid = "3f2a9c1e-7b4d-4e21-9a0c-5d8e7f6a1b2c";
        assert_eq!(term(uuid).len(), 20);
        assert_eq!(value(term(uuid).as_bytes()), uuid);
        assert_eq!(term("00ab12cd34ef5678").len(), 12);
        assert_eq!(term("req_42"), "req_42");
        assert_eq!(
            term("3F2A9C1E-7B4D-4E21-9A0C-5D8E7F6A1B2C").len(),
            36,
            "not lowercase"
        );
        assert_eq!(term("\u{1}x"), "\u{3}\u{1}x");
        assert_eq!(value(term("\u{3}").as_bytes()), "\u{3}");
    }

    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[0-9a-f]{1,70}",
            "[0-9a-fA-F-]{1,40}",
            "[\u{1}-\u{4}]?[a-z0-9_]{0,12}",
            ".{0,20}",
        ]
    }

    fn in_ranges(t: &str, ranges: &[(Bound<String>, Bound<String>)]) -> bool {
        ranges.iter().any(|(lo, hi)| {
            let above = match lo {
                Bound::Included(lo) => t >= lo.as_str(),
                Bound::Excluded(lo) => t > lo.as_str(),
                Bound::Unbounded => true,
            };
            let below = match hi {
                Bound::Included(hi) => t <= hi.as_str(),
                Bound::Excluded(hi) => t < hi.as_str(),
                Bound::Unbounded => true,
            };
            above && below
        })
    }

    proptest! {
        #[test]
        fn terms_are_exact_and_invertible(a in id(), b in id()) {
            prop_assert_eq!(value(term(&a).as_bytes()), a.clone());
            prop_assert_eq!(term(&a) == term(&b), a == b);
        }

        #[test]
        fn a_prefix_selects_exactly_the_values_it_begins(
            v in id(),
            cut in 1usize..40,
            tweak in proptest::bool::ANY,
        ) {
            let mut p: String = v.chars().take(cut).collect();
            if p.is_empty() {
                p = "0".into();
            }
            if tweak {
                // A prefix that may or may not begin the value.
                p.pop();
                p.push('7');
                if p.is_empty() { p = "7".into(); }
            }
            let ranges = prefix_ranges(&p);
            prop_assert_eq!(in_ranges(&term(&v), &ranges), v.starts_with(&p), "{:?} {:?}", v, p);
        }
    }
}
