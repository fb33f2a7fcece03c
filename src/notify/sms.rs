//! How an SMS text is encoded and into how many parts it is cut, as the GSM standards count it (3GPP TS
//! 23.038 for the alphabet, TS 23.040 for concatenation):
//!
//! - a text made only of the GSM 7-bit default alphabet is sent as **GSM-7**: 160 septets in one SMS;
//!   the extension table's characters (`^ { } \ [ ~ ] | €` and form feed) take two septets (an escape,
//!   then the character);
//! - anything else makes the whole text **UCS-2**: 70 UTF-16 code units in one SMS (a character outside
//!   the Basic Multilingual Plane, such as most emoji, takes two);
//! - a longer text is one concatenated message whose parts each lose room to the header: 153 septets or
//!   67 code units per part. A part never splits an escape sequence or a surrogate pair, so parts are
//!   packed greedily rather than counted by division.
//!
//! Gateways bill, and phones show, by parts: a template that stays in one GSM-7 part is the cheapest
//! and the most reliable, and [`gsm_friendly`] keeps typographic punctuation from turning a whole
//! message into UCS-2.

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// SMS parts: 1 when it fits a single message.
    pub parts: usize,
}

/// GSM 03.38 default alphabet, in table order.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table's characters: each is sent as escape + character.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

const SINGLE_GSM7: usize = 160;
const PART_GSM7: usize = 153;
const SINGLE_UCS2: usize = 70;
const PART_UCS2: usize = 67;

/// Septets a character takes in GSM-7, or `None` if it is not in the alphabet.
fn septets(c: char) -> Option<usize> {
    if c == '\u{1b}' {
        // The escape itself is not text a template may contain.
        None
    } else if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// How `text` is sent: its encoding, its length in that encoding's units, and its parts.
pub fn length(text: &str) -> Length {
    let encoding = encoding(text);
    let sizes: Vec<usize> = match encoding {
        Encoding::Gsm7 => text.chars().filter_map(septets).collect(),
        Encoding::Ucs2 => text.chars().map(char::len_utf16).collect(),
    };
    let units = sizes.iter().sum();
    let (single, part) = match encoding {
        Encoding::Gsm7 => (SINGLE_GSM7, PART_GSM7),
        Encoding::Ucs2 => (SINGLE_UCS2, PART_UCS2),
    };
    let parts = if units <= single {
        1
    } else {
        // Greedy: a character that does not fit whole starts the next part.
        let (mut parts, mut used) = (1, 0);
        for size in sizes {
            if used + size > part {
                parts += 1;
                used = 0;
            }
            used += size;
        }
        parts
    };
    Length {
        encoding,
        units,
        parts,
    }
}

/// Replaces typographic characters that have plain GSM-7 equivalents (curly quotes, dashes, the
/// ellipsis, non-breaking spaces), so one such character does not make the whole message UCS-2 and
/// cut its room from 160 to 70. Anything else is left as it is.
pub fn gsm_friendly(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => out.push('\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => out.push('"'),
            '\u{2013}' | '\u{2014}' | '\u{2212}' => out.push('-'),
            '\u{2026}' => out.push_str("..."),
            '\u{a0}' | '\u{2009}' | '\u{202f}' => out.push(' '),
            '\t' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_default_alphabet_is_one_septet_each() {
        let alphabet: String = BASIC.chars().filter(|c| *c != '\u{1b}').collect();
        assert_eq!(alphabet.chars().count(), 127);
        let counted = length(&alphabet);
        assert_eq!((counted.encoding, counted.units), (Encoding::Gsm7, 127));
    }

    #[test]
    fn one_part_holds_160_septets_or_70_ucs2_units() {
        assert_eq!(length(&"a".repeat(160)).parts, 1);
        assert_eq!(length(&"a".repeat(161)).parts, 2);
        assert_eq!(length(&"a".repeat(306)).parts, 2);
        assert_eq!(length(&"a".repeat(307)).parts, 3);
        let ucs2 = "ẹ".repeat(70);
        assert_eq!(
            length(&ucs2),
            Length {
                encoding: Encoding::Ucs2,
                units: 70,
                parts: 1
            }
        );
        assert_eq!(length(&"ẹ".repeat(71)).parts, 2);
        assert_eq!(length(&"ẹ".repeat(134)).parts, 2);
        assert_eq!(length(&"ẹ".repeat(135)).parts, 3);
    }

    #[test]
    fn extension_characters_take_two_septets_and_are_never_split() {
        assert_eq!(length("€5").units, 3);
        assert_eq!(length(&"€".repeat(80)).parts, 1);
        assert_eq!(length(&"€".repeat(81)).parts, 2);
        // 152 septets, then a two-septet character: it starts the second part whole.
        let text = format!("{}{}", "a".repeat(152), "[".repeat(5));
        assert_eq!(
            length(&text),
            Length {
                encoding: Encoding::Gsm7,
                units: 162,
                parts: 2
            }
        );
        let text = format!("{}{}", "a".repeat(152), "[".repeat(77));
        assert_eq!(length(&text).units, 306);
        assert_eq!(
            length(&text).parts,
            3,
            "each part wastes a septet rather than split an escape"
        );
    }

    #[test]
    fn one_character_outside_the_alphabet_makes_the_whole_text_ucs2() {
        let naira = "Pay ₦5,000 to Acme by 30 Nov";
        assert_eq!(encoding(naira), Encoding::Ucs2);
        assert_eq!(length(naira).units, naira.chars().count());
        // An emoji is a surrogate pair: two units, never split across parts.
        assert_eq!(length("🙂").units, 2);
        let text = format!("{}🙂", "ẹ".repeat(66));
        assert_eq!(length(&text).units, 68);
        assert_eq!(length(&text).parts, 1);
        let text = format!("{}🙂", "ẹ".repeat(69));
        assert_eq!(length(&text).parts, 2);
    }

    #[test]
    fn typographic_punctuation_is_made_gsm7() {
        let curly = "Acme’s reminder — “NGN 5,000.00” due… today";
        assert_eq!(encoding(curly), Encoding::Ucs2);
        let plain = gsm_friendly(curly);
        assert_eq!(plain, "Acme's reminder - \"NGN 5,000.00\" due... today");
        assert_eq!(length(&plain).encoding, Encoding::Gsm7);
        // What has no equivalent stays: the message is honestly UCS-2.
        assert_eq!(gsm_friendly("₦"), "₦");
    }
}
