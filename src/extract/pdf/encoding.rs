//! What a byte of a simple (one-byte) PDF font means: the base encodings a
//! font may name (`WinAnsiEncoding`, `MacRomanEncoding`,
//! `StandardEncoding`), the glyph names a `/Differences` array uses, and the
//! `uniXXXX` names of newer writers.
//!
//! Only as much of the Adobe glyph list as Latin text needs: every name of
//! the Windows-1252 repertoire (what Norwegian documents are written in),
//! the ligatures, and the algorithmic `uniXXXX`/`uXXXX` names. A name outside
//! it reads as nothing, which costs a symbol, never a digit or a letter.

/// The base encoding of a simple font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    WinAnsi,
    MacRoman,
    /// Adobe's StandardEncoding: ASCII but for the quotes, and its own upper
    /// half. The default of Type 1 fonts.
    Standard,
    /// Symbol and dingbat fonts: their glyphs are not text.
    Symbol,
}

impl Base {
    /// The base encoding a font names (`/WinAnsiEncoding`, ...).
    pub fn named(name: &[u8]) -> Option<Base> {
        match name {
            b"WinAnsiEncoding" => Some(Base::WinAnsi),
            b"MacRomanEncoding" | b"MacExpertEncoding" => Some(Base::MacRoman),
            b"StandardEncoding" | b"PDFDocEncoding" => Some(Base::Standard),
            _ => None,
        }
    }

    /// The character of `code` in this encoding, if it is text.
    pub fn char(self, code: u8) -> Option<char> {
        // Every font of a document asks for all 256 codes: the tables are
        // made once.
        static WIN_ANSI: std::sync::OnceLock<[Option<char>; 256]> = std::sync::OnceLock::new();
        static MAC_ROMAN: std::sync::OnceLock<[Option<char>; 256]> = std::sync::OnceLock::new();
        let table = |encoding: &'static encoding_rs::Encoding| {
            std::array::from_fn(|code| single(encoding, code as u8))
        };
        match self {
            Base::WinAnsi => {
                WIN_ANSI.get_or_init(|| table(encoding_rs::WINDOWS_1252))[usize::from(code)]
            }
            Base::MacRoman => {
                MAC_ROMAN.get_or_init(|| table(encoding_rs::MACINTOSH))[usize::from(code)]
            }
            Base::Standard => standard(code),
            Base::Symbol => None,
        }
    }
}

fn single(encoding: &'static encoding_rs::Encoding, code: u8) -> Option<char> {
    if code < 0x20 {
        return None;
    }
    let bytes = [code];
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    text.chars().next().filter(|&c| c != '\u{FFFD}')
}

/// StandardEncoding: printable ASCII with typographic quotes at 0x27 and
/// 0x60, and its own upper half (the letters Norwegian needs among it).
fn standard(code: u8) -> Option<char> {
    Some(match code {
        0x27 => '\u{2019}',
        0x60 => '\u{2018}',
        0x20..=0x7E => char::from(code),
        0xA1 => '¡',
        0xA2 => '¢',
        0xA3 => '£',
        0xA4 => '\u{2044}',
        0xA5 => '¥',
        0xA6 => 'ƒ',
        0xA7 => '§',
        0xA8 => '¤',
        0xA9 => '\'',
        0xAA => '\u{201C}',
        0xAB => '«',
        0xAC => '\u{2039}',
        0xAD => '\u{203A}',
        0xAE => '\u{FB01}',
        0xAF => '\u{FB02}',
        0xB1 => '\u{2013}',
        0xB2 => '\u{2020}',
        0xB3 => '\u{2021}',
        0xB4 => '·',
        0xB6 => '¶',
        0xB7 => '\u{2022}',
        0xB8 => '\u{201A}',
        0xB9 => '\u{201E}',
        0xBA => '\u{201D}',
        0xBB => '»',
        0xBC => '\u{2026}',
        0xBD => '\u{2030}',
        0xBF => '¿',
        0xD0 => '\u{2014}',
        0xE1 => 'Æ',
        0xE3 => 'ª',
        0xE8 => 'Ł',
        0xE9 => 'Ø',
        0xEA => 'Œ',
        0xEB => 'º',
        0xF1 => 'æ',
        0xF5 => 'ı',
        0xF8 => 'ł',
        0xF9 => 'ø',
        0xFA => 'œ',
        0xFB => 'ß',
        _ => return None,
    })
}

/// Glyph names of Windows-1252's bytes 0x80..=0xFF, in byte order (`""`
/// where the code page has no character).
const UPPER_NAMES: [&str; 128] = [
    "Euro",
    "",
    "quotesinglbase",
    "florin",
    "quotedblbase",
    "ellipsis",
    "dagger",
    "daggerdbl",
    "circumflex",
    "perthousand",
    "Scaron",
    "guilsinglleft",
    "OE",
    "",
    "Zcaron",
    "",
    "",
    "quoteleft",
    "quoteright",
    "quotedblleft",
    "quotedblright",
    "bullet",
    "endash",
    "emdash",
    "tilde",
    "trademark",
    "scaron",
    "guilsinglright",
    "oe",
    "",
    "zcaron",
    "Ydieresis",
    "nbspace",
    "exclamdown",
    "cent",
    "sterling",
    "currency",
    "yen",
    "brokenbar",
    "section",
    "dieresis",
    "copyright",
    "ordfeminine",
    "guillemotleft",
    "logicalnot",
    "sfthyphen",
    "registered",
    "macron",
    "degree",
    "plusminus",
    "twosuperior",
    "threesuperior",
    "acute",
    "mu",
    "paragraph",
    "periodcentered",
    "cedilla",
    "onesuperior",
    "ordmasculine",
    "guillemotright",
    "onequarter",
    "onehalf",
    "threequarters",
    "questiondown",
    "Agrave",
    "Aacute",
    "Acircumflex",
    "Atilde",
    "Adieresis",
    "Aring",
    "AE",
    "Ccedilla",
    "Egrave",
    "Eacute",
    "Ecircumflex",
    "Edieresis",
    "Igrave",
    "Iacute",
    "Icircumflex",
    "Idieresis",
    "Eth",
    "Ntilde",
    "Ograve",
    "Oacute",
    "Ocircumflex",
    "Otilde",
    "Odieresis",
    "multiply",
    "Oslash",
    "Ugrave",
    "Uacute",
    "Ucircumflex",
    "Udieresis",
    "Yacute",
    "Thorn",
    "germandbls",
    "agrave",
    "aacute",
    "acircumflex",
    "atilde",
    "adieresis",
    "aring",
    "ae",
    "ccedilla",
    "egrave",
    "eacute",
    "ecircumflex",
    "edieresis",
    "igrave",
    "iacute",
    "icircumflex",
    "idieresis",
    "eth",
    "ntilde",
    "ograve",
    "oacute",
    "ocircumflex",
    "otilde",
    "odieresis",
    "divide",
    "oslash",
    "ugrave",
    "uacute",
    "ucircumflex",
    "udieresis",
    "yacute",
    "thorn",
    "ydieresis",
];

/// Glyph names of printable ASCII's punctuation, with their characters.
const ASCII_NAMES: [(&str, char); 33] = [
    ("space", ' '),
    ("exclam", '!'),
    ("quotedbl", '"'),
    ("numbersign", '#'),
    ("dollar", '$'),
    ("percent", '%'),
    ("ampersand", '&'),
    ("quotesingle", '\''),
    ("parenleft", '('),
    ("parenright", ')'),
    ("asterisk", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("hyphen", '-'),
    ("period", '.'),
    ("slash", '/'),
    ("colon", ':'),
    ("semicolon", ';'),
    ("less", '<'),
    ("equal", '='),
    ("greater", '>'),
    ("question", '?'),
    ("at", '@'),
    ("bracketleft", '['),
    ("backslash", '\\'),
    ("bracketright", ']'),
    ("asciicircum", '^'),
    ("underscore", '_'),
    ("grave", '`'),
    ("braceleft", '{'),
    ("bar", '|'),
    ("braceright", '}'),
    ("asciitilde", '~'),
];

const DIGIT_NAMES: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The text of a glyph name, if it is one Latin text uses.
pub fn glyph(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    // A suffix after a period names a variant of the same glyph (`a.sc`).
    let name = name.split('.').next().filter(|n| !n.is_empty())?;
    if name.len() == 1 && name.as_bytes()[0].is_ascii_alphabetic() {
        return Some(name.to_string());
    }
    if let Some(d) = DIGIT_NAMES.iter().position(|&n| n == name) {
        return Some(char::from(b'0' + d as u8).to_string());
    }
    if let Some(&(_, c)) = ASCII_NAMES.iter().find(|(n, _)| *n == name) {
        return Some(c.to_string());
    }
    if let Some(i) = UPPER_NAMES.iter().position(|&n| n == name) {
        let bytes = [0x80 + i as u8];
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
        return Some(text.into_owned());
    }
    let other = match name {
        "fi" => "fi",
        "fl" => "fl",
        "ff" => "ff",
        "ffi" => "ffi",
        "ffl" => "ffl",
        "nonbreakingspace" => "\u{A0}",
        "minus" => "\u{2212}",
        "fraction" => "\u{2044}",
        "dotlessi" => "ı",
        "Lslash" => "Ł",
        "lslash" => "ł",
        _ => "",
    };
    if !other.is_empty() {
        return Some(other.to_string());
    }
    unicode_name(name)
}

/// `uni0041` (one or more four-digit groups) and `u1F600` (four to six
/// digits) name their characters by code point.
fn unicode_name(name: &str) -> Option<String> {
    let hex_char = |h: &str| u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    if let Some(hex) = name.strip_prefix("uni") {
        if hex.is_empty() || hex.len() % 4 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return (0..hex.len())
            .step_by(4)
            .map(|i| hex_char(&hex[i..i + 4]))
            .collect();
    }
    let hex = name.strip_prefix('u')?;
    if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex_char(hex).map(String::from);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_read_as_latin_text() {
        for (name, text) in [
            ("zero", "0"),
            ("nine", "9"),
            ("a", "a"),
            ("Z", "Z"),
            ("oslash", "ø"),
            ("Aring", "Å"),
            ("ae", "æ"),
            ("hyphen", "-"),
            ("space", " "),
            ("nbspace", "\u{A0}"),
            ("quoteright", "\u{2019}"),
            ("fi", "fi"),
            ("uni00F8", "ø"),
            ("uni00660067", "fg"),
            ("u1F600", "\u{1F600}"),
            ("a.sc", "a"),
            ("five.osf", "5"),
        ] {
            assert_eq!(glyph(name.as_bytes()).as_deref(), Some(text), "{name}");
        }
        for name in [
            "g123", "cid00042", "", ".notdef", "uni12", "uniZZZZ", "Omega",
        ] {
            assert_eq!(glyph(name.as_bytes()), None, "{name}");
        }
    }

    #[test]
    fn base_encodings_read_digits_letters_and_norwegian() {
        for base in [Base::WinAnsi, Base::MacRoman, Base::Standard] {
            for code in b'0'..=b'9' {
                assert_eq!(base.char(code), Some(char::from(code)));
            }
            assert_eq!(base.char(b'K'), Some('K'));
            assert_eq!(base.char(0x05), None);
        }
        assert_eq!(Base::WinAnsi.char(0xF8), Some('ø'));
        assert_eq!(Base::WinAnsi.char(0xA0), Some('\u{A0}'));
        assert_eq!(Base::MacRoman.char(0xBF), Some('ø'));
        assert_eq!(Base::MacRoman.char(0x8C), Some('å'));
        assert_eq!(Base::Standard.char(0xF9), Some('ø'));
        assert_eq!(Base::Standard.char(0x27), Some('\u{2019}'));
        assert_eq!(Base::Symbol.char(b'a'), None);
    }
}
