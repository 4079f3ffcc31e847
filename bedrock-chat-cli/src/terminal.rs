//! What reaches a terminal: text from outside the program (model replies, server messages, file
//! contents, typed settings) with every control character made visible.
//!
//! A terminal acts on control sequences: `ESC ] 0 ; title BEL` retitles the window, `ESC [ 2 J`
//! clears the screen, OSC 52 sets the clipboard, and a carriage return lets a later line
//! overwrite an earlier one. A reply can carry them (a prompt-injected model, a conversation file
//! someone sent you), so none is passed through. Every such sequence, in any of its forms (7-bit
//! `ESC`-introduced, 8-bit C1 such as CSI U+009B, OSC, DCS, APC), begins with a control
//! character, so replacing each control character with a visible stand-in neutralises them all,
//! whatever the sequence grammar, and however a stream splits them across chunks. Parsing the
//! sequences (as `vte` does) would only be needed to strip them silently; showing them is safer,
//! because the reader sees that something was there.
//!
//! The program's own styling (the "thinking…" line and its clearing) is written directly, not
//! through here. In a pipe, replies are written verbatim: they are data, not a screen.

use std::borrow::Cow;

/// `text` with control characters shown rather than acted on. Line feeds and tabs stay; a
/// carriage return before a line feed is dropped; every other C0 and C1 control character, DEL,
/// and the bidirectional overrides that can make text read differently from what it is, become
/// visible: `␛` for ESC, `␍` for a lone carriage return, `␇` for BEL, `<U+009B>` for C1.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            // Control Pictures: U+2400 + the code for C0, U+2421 for DEL.
            '\u{0}'..='\u{1f}' if c != '\n' && c != '\t' => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('?'));
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if needs_escape(c) => out.push_str(&format!("<U+{:04X}>", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_untouched_and_unallocated() {
        let text = "Paris is the capital.\n\t- indented, ünïcode, 東京";
        assert!(matches!(visible(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn every_kind_of_escape_sequence_is_shown_not_run() {
        let attacks = [
            "\x1b]0;pwned\x07\x1b[2J",        // retitle, clear screen
            "\x1b]52;c;cGF5bG9hZA==\x07",     // OSC 52: set the clipboard
            "\x1bP+q544e\x1b\\",              // DCS
            "\u{9b}2J\u{9d}0;t\u{9c}\u{90}x", // 8-bit C1 CSI, OSC, ST, DCS
            "\x1b_apc\x1b\\",                 // APC
            "safe\rEVIL",                     // overwrite the line
            "bell\x07 backspace\x08 del\x7f nul\0",
        ];
        for attack in attacks {
            let shown = visible(attack);
            assert!(
                !shown
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{attack:?} -> {shown:?}"
            );
        }
        assert_eq!(visible("\x1b[2J"), "\u{241b}[2J");
        assert_eq!(visible("a\rb"), "a\u{240d}b");
        assert_eq!(visible("line\r\nnext"), "line\nnext");
        assert_eq!(visible("\u{9b}"), "<U+009B>");
        assert_eq!(visible("abc\u{202e}def"), "abc<U+202E>def");
    }

    proptest::proptest! {
        /// Whatever the input, nothing a terminal acts on survives, and text with nothing to
        /// neutralise comes out exactly as it went in.
        #[test]
        fn no_control_character_survives(text in "\\PC*|[\\x00-\\x{ff}]*") {
            let shown = visible(&text);
            proptest::prop_assert!(!shown.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            if !text.chars().any(|c| needs_escape(c) || c == '\r') {
                proptest::prop_assert_eq!(shown.as_ref(), text.as_str());
            }
        }
    }
}
