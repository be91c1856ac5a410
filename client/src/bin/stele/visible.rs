//! Stored text made safe to print on a terminal.
//!
//! Whoever can append controls the strings an investigator later reads:
//! an actor id with `ESC [2J` clears the screen, `ESC ] 0;…BEL` sets the
//! terminal's title, `\r\n` forges a line, U+202E turns text around. Every
//! human-readable output (tables, `tail` lines, messages, errors that
//! quote input) passes its text through [`visible`], which writes such
//! characters as escapes: C0 controls and DEL as `\x1b`, C1 controls and
//! bidirectional formatting characters as `\u202e`. JSON output is exact
//! (serde escapes control characters itself), so evidence is never
//! altered, only how it is shown.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
fn hidden(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{061C}' // Arabic letter mark
                | '\u{200E}' | '\u{200F}' // left-to-right and right-to-left marks
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
        )
}

/// `s` with every control and bidirectional formatting character escaped;
/// borrowed when there is none.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !hidden(c) => out.push(c),
            c if u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_overrides_are_escaped() {
        assert_eq!(
            visible("mallory\u{1b}[2J\u{1b}[1;1Hroot"),
            "mallory\\x1b[2J\\x1b[1;1Hroot"
        );
        assert_eq!(visible("\u{1b}]0;pwned\u{7}"), "\\x1b]0;pwned\\x07");
        assert_eq!(
            visible("ok\r\nFAKE LINE success"),
            "ok\\x0d\\x0aFAKE LINE success"
        );
        assert_eq!(visible("a\u{7f}b\u{9b}c"), "a\\x7fb\\u009bc");
        assert_eq!(visible("invoice\u{202e}fdp.exe"), "invoice\\u202efdp.exe");
        assert_eq!(visible("x\u{2066}y\u{200f}"), "x\\u2066y\\u200f");
        assert!(matches!(
            visible("Zürich 東京 ✓"),
            Cow::Borrowed("Zürich 東京 ✓")
        ));
    }
}
