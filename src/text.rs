//! Free text as people type it — comments, reasons, field values, names — and the one rule on the
//! characters it may hold. Pure.
//!
//! Control characters (Unicode's category Cc: C0, DEL and C1) are refused. NUL cannot be stored
//! in PostgreSQL text at all; the others are invisible on a page, move the cursor or recolour a
//! terminal that prints a CSV export or `procedures history`, and would be kept for good in a
//! history that cannot be edited. Multi-line text keeps tabs and line breaks; a line break sent as
//! CR LF (as browsers send a textarea) is kept as LF, and a CR alone is refused. One-line text
//! (names, titles, references) refuses every control character, tab and line breaks included.

use std::borrow::Cow;
use std::fmt;

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Tabs and line breaks allowed: comments, reasons, text values.
    Many,
    /// No control character at all: names, titles, references, addresses.
    One,
}

/// The first control character a text may not hold, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlCharacter {
    /// The character's code point.
    pub code: u32,
    /// Its position in the text as given, counting characters from 1.
    pub position: usize,
    pub lines: Lines,
}

impl fmt::Display for ControlCharacter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "it contains the control character U+{:04X}", self.code)?;
        if let Some(name) = name(self.code) {
            write!(f, " ({name})")?;
        }
        write!(f, " at character {}; ", self.position)?;
        f.write_str(match self.lines {
            Lines::Many => "text may hold tabs and line breaks but no other control character",
            Lines::One => {
                "this is one line of text, without tabs, line breaks or other control characters"
            }
        })
    }
}

impl std::error::Error for ControlCharacter {}

/// The common ones by name; the code point says the rest.
fn name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x00 => "NUL",
        0x07 => "bell",
        0x08 => "backspace",
        0x09 => "tab",
        0x0a => "line feed",
        0x0b => "vertical tab",
        0x0c => "form feed",
        0x0d => "carriage return",
        0x1b => "escape",
        0x7f => "delete",
        0x85 => "next line",
        _ => return None,
    })
}

/// `text` if it may be kept as `lines` says, with CR LF made LF; else its first forbidden
/// control character.
pub fn checked(text: &str, lines: Lines) -> Result<Cow<'_, str>, ControlCharacter> {
    let mut chars = text.chars().peekable();
    let mut position = 0;
    let mut crlf = false;
    while let Some(c) = chars.next() {
        position += 1;
        if !c.is_control() {
            continue;
        }
        let allowed = match (lines, c) {
            (Lines::Many, '\t' | '\n') => true,
            (Lines::Many, '\r') if chars.peek() == Some(&'\n') => {
                crlf = true;
                true
            }
            _ => false,
        };
        if !allowed {
            return Err(ControlCharacter {
                code: u32::from(c),
                position,
                lines,
            });
        }
    }
    Ok(if crlf {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str, lines: Lines) -> (u32, usize) {
        let e = checked(text, lines).expect_err(text);
        (e.code, e.position)
    }

    #[test]
    fn printable_text_in_any_script_passes_unchanged() {
        for text in [
            "",
            "MoJ/2026/17",
            "Министерство юстиции Кыргызской Республики",
            "Convention du Conseil de l'Europe à l'égard des femmes",
            "non-breaking\u{a0}space and emoji 📜",
        ] {
            for lines in [Lines::Many, Lines::One] {
                assert!(
                    matches!(checked(text, lines), Ok(Cow::Borrowed(t)) if t == text),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn nul_is_refused_with_its_position() {
        assert_eq!(refused("a\u{0}b", Lines::Many), (0, 2));
        assert_eq!(refused("a\u{0}b", Lines::One), (0, 2));
        // Positions count characters, not bytes.
        assert_eq!(refused("юю\u{0}", Lines::Many), (0, 3));
    }

    #[test]
    fn every_c0_character_but_tab_and_line_feed_is_refused_in_multi_line_text() {
        for code in 0u32..0x20 {
            let c = char::from_u32(code).unwrap();
            let text = format!("before{c}after");
            let outcome = checked(&text, Lines::Many);
            if c == '\t' || c == '\n' {
                assert_eq!(outcome.as_deref(), Ok(text.as_str()), "U+{code:04X}");
            } else {
                assert_eq!(
                    outcome.map_err(|e| (e.code, e.position)),
                    Err((code, 7)),
                    "U+{code:04X}"
                );
            }
        }
    }

    #[test]
    fn delete_and_the_c1_controls_are_refused_too() {
        for code in [0x7f, 0x80, 0x85, 0x9b, 0x9f] {
            let text = format!("x{}", char::from_u32(code).unwrap());
            assert_eq!(refused(&text, Lines::Many), (code, 2), "U+{code:04X}");
        }
        // The characters either side of the C1 block are ordinary letters.
        assert!(checked("\u{7e}\u{a0}\u{ff}", Lines::One).is_ok());
    }

    #[test]
    fn crlf_is_a_line_break_kept_as_lf_and_a_lone_cr_is_refused() {
        assert_eq!(
            checked("first\r\nsecond\r\n", Lines::Many).as_deref(),
            Ok("first\nsecond\n")
        );
        assert_eq!(refused("first\rsecond", Lines::Many), (0x0d, 6));
        assert_eq!(refused("last\r", Lines::Many), (0x0d, 5));
        assert_eq!(refused("\r\r\n", Lines::Many), (0x0d, 1));
    }

    #[test]
    fn one_line_text_refuses_tabs_and_line_breaks() {
        assert_eq!(refused("a\tb", Lines::One), (9, 2));
        assert_eq!(refused("a\nb", Lines::One), (10, 2));
        assert_eq!(refused("a\r\nb", Lines::One), (13, 2));
    }

    #[test]
    fn the_message_names_the_character_and_what_is_allowed() {
        let e = checked("a\u{0}b", Lines::Many).unwrap_err().to_string();
        assert_eq!(
            e,
            "it contains the control character U+0000 (NUL) at character 2; \
             text may hold tabs and line breaks but no other control character"
        );
        let e = checked("x\u{1}", Lines::One).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "it contains the control character U+0001 at character 2; this is one line"
            ),
            "{e}"
        );
    }
}
