//! Text that people read: client names on the consent page, display names, role descriptions,
//! email addresses. One rule for all of them, so no field forgets it.
//!
//! A string shown to a person must not carry characters that are invisible or that change how
//! the characters around them are shown: control characters (general category Cc), format
//! characters (Cf: bidi embeddings, overrides and isolates U+202A–202E and U+2066–2069, the
//! zero-width space, joiners and marks U+200B–200F, the word joiner U+2060, the byte-order mark
//! U+FEFF, the soft hyphen U+00AD, tag characters...), and the line and paragraph separators
//! (Zl, Zp). A right-to-left override (U+202E) in `Evil App<U+202E>ppA yrtsaW` makes it
//! read `Evil App Wastry App` on the consent page ("Trojan Source", CVE-2021-42574, is the
//! same trick in code); a zero-width character makes two names that look the same differ
//! (docs/threat-model.md RG-08).

use crate::model::ParseError;

/// General category Cf (Format), Unicode 15.1 (`DerivedGeneralCategory.txt`), as inclusive
/// ranges in code-point order.
const FORMAT_CHARACTERS: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format character (general category Cf).
pub fn is_format_character(c: char) -> bool {
    FORMAT_CHARACTERS
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` has no place in text shown to people: a control or format character, or a line
/// or paragraph separator.
pub fn is_hidden_character(c: char) -> bool {
    c.is_control() || is_format_character(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Refuses text shown to people when it contains a [hidden character](is_hidden_character).
pub fn check_shown_text(text: &str) -> Result<(), ParseError> {
    if text.chars().any(is_hidden_character) {
        return Err(ParseError(
            "must not contain control or invisible formatting characters \
             (bidi overrides, zero-width characters, soft hyphens)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_table_is_sorted_and_disjoint() {
        for pair in FORMAT_CHARACTERS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn format_and_control_characters_are_hidden_and_letters_are_not() {
        let hidden = [
            '\u{0000}',
            '\u{0007}',
            '\u{007F}',
            '\u{0085}', // Cc
            '\u{00AD}', // soft hyphen
            '\u{061C}', // Arabic letter mark
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}', // zero-width, marks
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2060}',
            '\u{2064}', // word joiner, invisible plus
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // isolates
            '\u{FEFF}', // byte-order mark
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}', // tags
            '\u{2028}',
            '\u{2029}', // line and paragraph separators
        ];
        for c in hidden {
            assert!(is_hidden_character(c), "U+{:04X}", c as u32);
        }
        let shown = [
            'a',
            'Z',
            '0',
            ' ',
            '-',
            '\u{00E9}',
            '\u{0430}',
            '\u{05D0}',
            '\u{4E2D}',
            '\u{1F600}',
            '\u{00AC}',
            '\u{2065}',
            '\u{FFFC}',
            '\u{0301}',
        ];
        for c in shown {
            assert!(!is_hidden_character(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn shown_text_with_a_hidden_character_anywhere_is_refused() {
        assert!(check_shown_text("Wastry App").is_ok());
        assert!(check_shown_text("Café Ünïcode 中文 😀").is_ok());
        assert!(check_shown_text("").is_ok());
        for bad in [
            "Evil\u{202E}ppA",
            "\u{200B}Bank",
            "Bank\u{FEFF}",
            "tab\there",
            "two\u{2028}lines",
        ] {
            assert!(check_shown_text(bad).is_err(), "{bad:?}");
        }
    }
}
