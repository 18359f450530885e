//! The tokens of PDF content streams and CMaps (one PostScript-like syntax).
//!
//! Hand-written because it runs over every byte of every page: a token is a
//! slice of the input where it can be, and malformed input ends a token, it
//! never stops the reader.

use crate::extract::predecode::hex as hex_value;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Number(f32),
    /// A literal `( )` or hex `< >` string, unescaped.
    Str(Cow<'a, [u8]>),
    Name(Cow<'a, [u8]>),
    /// An operator or keyword (`Tj`, `beginbfchar`, `true`).
    Word(&'a [u8]),
    ArrayStart,
    ArrayEnd,
    DictStart,
    DictEnd,
}

#[derive(Clone)]
pub struct Lexer<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Numbers come out as `Number`; off, they stay `Word`s for a reader
    /// that tells integers from reals (the object syntax does).
    numbers: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_space(b) && !is_delimiter(b)
}

impl<'a> Lexer<'a> {
    pub fn new(bytes: &'a [u8]) -> Lexer<'a> {
        Lexer {
            bytes,
            at: 0,
            numbers: true,
        }
    }

    /// A lexer from `at` that leaves numbers as words.
    pub fn words_at(bytes: &'a [u8], at: usize) -> Lexer<'a> {
        Lexer {
            bytes,
            at: at.min(bytes.len()),
            numbers: false,
        }
    }

    /// Where the next token would start looking.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The next byte after white space and comments, not consumed.
    pub fn peek_byte(&mut self) -> Option<u8> {
        self.skip_space_and_comments();
        self.bytes.get(self.at).copied()
    }

    /// Skips the data of an inline image (after its `ID`): up to and past an
    /// `EI` standing between white space, or to the end.
    pub fn skip_inline_image(&mut self) {
        let start = (self.at + 1).min(self.bytes.len());
        let mut from = start;
        while let Some(found) = memchr::memmem::find(&self.bytes[from..], b"EI") {
            let at = from + found;
            let before = at == start || is_space(self.bytes[at - 1]);
            let after = self.bytes.get(at + 2).is_none_or(|&b| is_space(b));
            if before && after {
                self.at = at + 2;
                return;
            }
            from = at + 2;
        }
        self.at = self.bytes.len();
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(&b) = self.bytes.get(self.at) {
            if is_space(b) {
                self.at += 1;
            } else if b == b'%' {
                match memchr::memchr2(b'\n', b'\r', &self.bytes[self.at..]) {
                    Some(end) => self.at += end,
                    None => self.at = self.bytes.len(),
                }
            } else {
                break;
            }
        }
    }

    fn literal(&mut self) -> Cow<'a, [u8]> {
        self.at += 1; // (
        let start = self.at;
        // The common case, no escapes and no nested parentheses, is a slice.
        if let Some(end) = memchr::memchr3(b')', b'\\', b'(', &self.bytes[start..])
            && self.bytes[start + end] == b')'
        {
            self.at = start + end + 1;
            return Cow::Borrowed(&self.bytes[start..start + end]);
        }
        let mut out = Vec::new();
        let mut depth = 1usize;
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => self.escape(&mut out),
                _ => out.push(b),
            }
        }
        Cow::Owned(out)
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(&b) = self.bytes.get(self.at) else {
            return;
        };
        self.at += 1;
        match b {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'0'..=b'7' => {
                let mut value = u32::from(b - b'0');
                for _ in 0..2 {
                    match self.bytes.get(self.at) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.at += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xFF) as u8);
            }
            // A backslash before a line end continues the string.
            b'\r' => {
                if self.bytes.get(self.at) == Some(&b'\n') {
                    self.at += 1;
                }
            }
            b'\n' => {}
            other => out.push(other),
        }
    }

    fn hex(&mut self) -> Cow<'a, [u8]> {
        self.at += 1; // <
        let (bytes, used) = hex_string(&self.bytes[self.at..]);
        self.at += used;
        Cow::Owned(bytes)
    }

    fn name(&mut self) -> Cow<'a, [u8]> {
        self.at += 1; // /
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(|&b| is_regular(b)) {
            self.at += 1;
        }
        let raw = &self.bytes[start..self.at];
        if !raw.contains(&b'#') {
            return Cow::Borrowed(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'#'
                && let (Some(h), Some(l)) = (
                    raw.get(i + 1).and_then(|&b| hex_value(b)),
                    raw.get(i + 2).and_then(|&b| hex_value(b)),
                )
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(raw[i]);
            i += 1;
        }
        Cow::Owned(out)
    }

    fn word(&mut self) -> Token<'a> {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(|&b| is_regular(b)) {
            self.at += 1;
        }
        let word = &self.bytes[start..self.at];
        if !self.numbers {
            return Token::Word(word);
        }
        match number(word) {
            Some(n) => Token::Number(n),
            None => Token::Word(word),
        }
    }
}

/// Hex digits up to a `>` (white space and stray bytes skipped, an odd
/// last digit padded with 0), as both a `<…>` string and the
/// `ASCIIHexDecode` filter write them; and the bytes read, the `>`
/// included.
pub fn hex_string(data: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut high: Option<u8> = None;
    let mut used = data.len();
    for (i, &b) in data.iter().enumerate() {
        if b == b'>' {
            used = i + 1;
            break;
        }
        let Some(v) = hex_value(b) else {
            continue;
        };
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    (out, used)
}

/// The value of a short plain decimal (`-12.5`, `.5`, `600.0977`, `4.`:
/// a sign, at most seven digits, at most one point) exactly as
/// `str::parse::<f32>` gives it, without its general machinery: seven
/// digits and every power of ten up to 10^7 are exact in an `f32`, so one
/// division rounds the quotient as the full algorithm rounds the decimal.
/// `None` for any other word. Numbers fill content streams and font
/// widths; this is most of them.
pub fn short_decimal(word: &[u8]) -> Option<f32> {
    const POWERS: [f32; 8] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];
    let (negative, body) = match word.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, word),
    };
    let mut mantissa = 0u32;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' if digits < 7 => {
                mantissa = mantissa * 10 + u32::from(b - b'0');
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let scale = point.map_or(0, |p| body.len() - p - 1);
    let value = mantissa as f32 / POWERS[scale];
    Some(if negative { -value } else { value })
}

/// A PDF number (`12`, `-3.5`, `.5`, `+4.`), or `None` for anything else.
fn number(word: &[u8]) -> Option<f32> {
    if let Some(n) = short_decimal(word) {
        return Some(n);
    }
    let first = *word.first()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return None;
    }
    let digits = word.strip_prefix(b"+").unwrap_or(word);
    let text = std::str::from_utf8(digits).ok()?;
    if let Ok(n) = text.parse::<f32>() {
        return n.is_finite().then_some(n);
    }
    // Writers emit `4.` and `-.5`, which parse; `--5` and `1.2.3` do not
    // and count as zero, as readers take them.
    text.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        .then_some(0.0)
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            self.skip_space_and_comments();
            let &b = self.bytes.get(self.at)?;
            return Some(match b {
                b'(' => Token::Str(self.literal()),
                b'<' if self.bytes.get(self.at + 1) == Some(&b'<') => {
                    self.at += 2;
                    Token::DictStart
                }
                b'<' => Token::Str(self.hex()),
                b'>' if self.bytes.get(self.at + 1) == Some(&b'>') => {
                    self.at += 2;
                    Token::DictEnd
                }
                b'[' => {
                    self.at += 1;
                    Token::ArrayStart
                }
                b']' => {
                    self.at += 1;
                    Token::ArrayEnd
                }
                b'/' => Token::Name(self.name()),
                // A stray `)`, `>`, `{` or `}`: nothing to read in it.
                b')' | b'>' | b'{' | b'}' => {
                    self.at += 1;
                    continue;
                }
                _ => self.word(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &[u8]) -> Vec<Token<'_>> {
        Lexer::new(s).collect()
    }

    fn string(s: &[u8]) -> Token<'_> {
        Token::Str(Cow::Borrowed(s))
    }

    #[test]
    fn reads_the_token_kinds() {
        assert_eq!(
            tokens(b"BT /F1 12 Tf -3.5 .5 Td (Hei) Tj [(a) -250 <0041>] TJ ET % note\n<< /K 1 >>"),
            vec![
                Token::Word(b"BT"),
                Token::Name(Cow::Borrowed(b"F1")),
                Token::Number(12.0),
                Token::Word(b"Tf"),
                Token::Number(-3.5),
                Token::Number(0.5),
                Token::Word(b"Td"),
                string(b"Hei"),
                Token::Word(b"Tj"),
                Token::ArrayStart,
                string(b"a"),
                Token::Number(-250.0),
                string(b"\0A"),
                Token::ArrayEnd,
                Token::Word(b"TJ"),
                Token::Word(b"ET"),
                Token::DictStart,
                Token::Name(Cow::Borrowed(b"K")),
                Token::Number(1.0),
                Token::DictEnd,
            ]
        );
    }

    #[test]
    fn unescapes_strings_and_names() {
        assert_eq!(
            tokens(
                br"(a\(b\)c\\d\n\101\7x (nested) \
e)"
            ),
            vec![string(b"a(b)c\\d\nA\x07x (nested) e")]
        );
        assert_eq!(tokens(b"<4 1 4>"), vec![string(b"A@")]);
        assert_eq!(tokens(b"/A#42C"), vec![Token::Name(Cow::Borrowed(b"ABC"))]);
    }

    #[test]
    fn skips_inline_image_data() {
        let mut lexer = Lexer::new(b"BI /W 2 ID \x00EI\xffEIX EI Q (after) Tj");
        let mut seen = Vec::new();
        while let Some(t) = lexer.next() {
            if t == Token::Word(b"ID") {
                lexer.skip_inline_image();
                continue;
            }
            seen.push(t);
        }
        assert_eq!(seen.last(), Some(&Token::Word(b"Tj")));
        assert!(seen.contains(&string(b"after")));
        assert!(seen.contains(&Token::Word(b"Q")));
    }

    #[test]
    fn short_decimals_are_the_standard_parse() {
        for word in [
            "0",
            "-0",
            "+0",
            "7",
            "12",
            "-3.5",
            ".5",
            "-.5",
            "+4.",
            "4.",
            "600.0977",
            "0.1",
            "9999999",
            "-999999.9",
            "0.000001",
            "1234.567",
            "314.1592",
            "0000001",
        ] {
            let expected: f32 = word.trim_start_matches('+').parse().unwrap_or(f32::NAN);
            let got = short_decimal(word.as_bytes());
            assert_eq!(got.map(f32::to_bits), Some(expected.to_bits()), "{word}");
        }
        // Longer, or not plain: left to the full parse.
        for word in [
            "12345678",
            "3.1415926",
            "1e5",
            ".",
            "-",
            "1.2.3",
            "--5",
            "+-5",
            "",
            "1,5",
        ] {
            assert_eq!(short_decimal(word.as_bytes()), None, "{word}");
        }
    }

    proptest::proptest! {
        #[test]
        fn short_decimals_round_as_the_standard_parse_does(
            whole in 0u32..10_000_000, point in 0usize..8, negative: bool
        ) {
            let digits = whole.to_string();
            let point = point.min(digits.len());
            let word = format!(
                "{}{}.{}",
                if negative { "-" } else { "" },
                &digits[..digits.len() - point],
                &digits[digits.len() - point..]
            );
            if let Ok(expected) = word.parse::<f32>() {
                proptest::prop_assert_eq!(
                    short_decimal(word.as_bytes()).map(f32::to_bits),
                    Some(expected.to_bits()),
                    "{}", word
                );
            }
        }
    }

    #[test]
    fn malformed_input_never_stops_it() {
        // Unclosed string, stray delimiters, bad numbers: tokens come out
        // and the lexer ends.
        let n = tokens(b") } { > 1.2.3 --5 (unclosed").len();
        assert!(n >= 3);
        for cut in 0..40 {
            let s = b"BT /F1 9 Tf (a\\(b) Tj <41 42> Tj [(x)-5(y)] TJ ET";
            let _ = tokens(&s[..cut.min(s.len())]);
        }
    }
}
