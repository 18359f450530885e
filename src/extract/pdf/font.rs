//! A PDF font as a text reader needs it: how its string bytes split into
//! codes, what text each code is, and how far each glyph moves the pen (so
//! that gaps between strings can be told apart: a space, a table cell, a new
//! line).

use super::cmap::{self, CMap};
use super::encoding::{self, Base};
use super::{Streams, get, number, resolve};
use lopdf::{Dictionary, Document, Object};
use std::rc::Rc;

/// A font, read once per document.
#[derive(Debug)]
pub struct Font {
    codes: Codes,
    widths: Widths,
    /// Glyph space to text space: 1/1000 but for Type 3 fonts.
    width_scale: f32,
}

#[derive(Debug)]
enum Codes {
    /// One byte per code, its text looked up ahead (ToUnicode first, then
    /// the encoding's differences, then its base encoding).
    Simple(Box<[Text; 256]>),
    /// Codes split by code spaces (two bytes for `Identity-H`); text by the
    /// ToUnicode map, or the code itself when the encoding is UCS-2.
    Composite {
        spaces: Option<Rc<CMap>>,
        to_unicode: Option<Rc<CMap>>,
        ucs2: bool,
    },
}

/// What one code of a simple font reads as: mostly one character, a few
/// (ligatures, some ToUnicode entries) more.
#[derive(Debug, Clone, Default)]
enum Text {
    #[default]
    Nothing,
    Char(char),
    Str(Box<str>),
}

impl Text {
    fn of(s: &str) -> Text {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (None, _) => Text::Nothing,
            (Some(c), None) => Text::Char(c),
            _ => Text::Str(s.into()),
        }
    }
}

#[derive(Debug)]
enum Widths {
    Simple {
        first: u32,
        widths: Vec<f32>,
        missing: f32,
    },
    /// `(first, last, width)` from a `/W` array, sorted; `default` from `/DW`.
    Cid {
        ranges: Vec<(u32, u32, f32)>,
        default: f32,
    },
}

impl Font {
    /// A font that knows nothing: Latin-1-ish text, average widths. For a
    /// string shown before any `Tf` or with a font that cannot be found.
    pub fn fallback() -> Font {
        Font {
            codes: Codes::Simple(simple_table(Base::WinAnsi, &[], None)),
            widths: Widths::Simple {
                first: 0,
                widths: Vec::new(),
                missing: 500.0,
            },
            width_scale: 0.001,
        }
    }

    pub fn read(doc: &Document, dict: &Dictionary, streams: &mut Streams) -> Font {
        let subtype = get(doc, dict, b"Subtype").as_name().unwrap_or(b"");
        let to_unicode = match get(doc, dict, b"ToUnicode") {
            Object::Stream(s) => cmap::read(s, streams),
            _ => None,
        };
        if subtype == b"Type0" {
            return composite(doc, dict, to_unicode, streams);
        }
        let base_font = get(doc, dict, b"BaseFont").as_name().unwrap_or(b"");
        let descriptor = get(doc, dict, b"FontDescriptor").as_dict().ok();
        let flags = descriptor
            .and_then(|d| number(get(doc, d, b"Flags")))
            .unwrap_or(0.0) as u32;
        let symbolic_name = [&b"Symbol"[..], b"Dingbats", b"Wingdings", b"Webdings"]
            .iter()
            .any(|n| memchr::memmem::find(base_font, n).is_some());
        let mut base = if symbolic_name {
            Base::Symbol
        } else if subtype == b"TrueType" || flags & 4 != 0 && flags & 32 == 0 {
            Base::WinAnsi
        } else {
            Base::Standard
        };
        let mut differences = Vec::new();
        match get(doc, dict, b"Encoding") {
            Object::Name(name) => base = Base::named(name).unwrap_or(base),
            Object::Dictionary(enc) => {
                if let Some(named) = get(doc, enc, b"BaseEncoding")
                    .as_name()
                    .ok()
                    .and_then(Base::named)
                {
                    base = named;
                }
                if let Object::Array(items) = get(doc, enc, b"Differences") {
                    let mut code = 0usize;
                    for item in items.iter().take(4096) {
                        match resolve(doc, item) {
                            Object::Integer(i) => code = (*i).clamp(0, 256) as usize,
                            Object::Name(name) => {
                                if code < 256 {
                                    differences.push((code as u8, name.clone()));
                                }
                                code += 1;
                            }
                            _ => {}
                        }
                    }
                }
                // Differences on a symbolic base still name real glyphs.
                if base == Base::Symbol && !differences.is_empty() {
                    base = Base::Standard;
                }
            }
            _ => {}
        }
        let width_scale = if subtype == b"Type3" {
            match get(doc, dict, b"FontMatrix") {
                Object::Array(m) => m.first().and_then(|o| number(resolve(doc, o))),
                _ => None,
            }
            .filter(|s| s.is_finite() && *s != 0.0)
            .map_or(0.001, f32::abs)
        } else {
            0.001
        };
        let widths = simple_widths(doc, dict, descriptor, base_font, width_scale);
        Font {
            codes: Codes::Simple(simple_table(base, &differences, to_unicode.as_deref())),
            widths,
            width_scale,
        }
    }

    /// Splits `bytes` into codes, handing each code's text (possibly empty)
    /// and its advance in text-space units per unit of font size.
    pub fn each_code(&self, bytes: &[u8], out: &mut impl FnMut(&str, f32, bool)) {
        match &self.codes {
            Codes::Simple(table) => {
                let mut buf = [0u8; 4];
                for &b in bytes {
                    let width = self.widths.of(u32::from(b)) * self.width_scale;
                    let text: &str = match &table[usize::from(b)] {
                        Text::Nothing => "",
                        Text::Char(c) => c.encode_utf8(&mut buf),
                        Text::Str(s) => s,
                    };
                    out(text, width, b == b' ');
                }
            }
            Codes::Composite {
                spaces,
                to_unicode,
                ucs2,
            } => {
                let mut text = String::new();
                let mut at = 0;
                while at < bytes.len() {
                    let len = match spaces {
                        Some(map) => map.code_length(&bytes[at..]),
                        None => 2,
                    }
                    .min(bytes.len() - at);
                    let code = bytes[at..at + len]
                        .iter()
                        .fold(0u32, |n, &b| n << 8 | u32::from(b));
                    at += len;
                    text.clear();
                    let mapped = to_unicode
                        .as_ref()
                        .is_some_and(|map| map.append(code, &mut text));
                    if !mapped
                        && *ucs2
                        && let Some(c) = char::from_u32(code)
                    {
                        text.push(c);
                    }
                    let width = self.widths.of(code) * self.width_scale;
                    // Word spacing applies to the one-byte code 32 only.
                    out(&text, width, len == 1 && code == 32);
                }
            }
        }
    }
}

fn composite(
    doc: &Document,
    dict: &Dictionary,
    to_unicode: Option<Rc<CMap>>,
    streams: &mut Streams,
) -> Font {
    let (spaces, ucs2) = match get(doc, dict, b"Encoding") {
        Object::Name(name) => {
            let ucs2 = [&b"UCS2"[..], b"UTF16"]
                .iter()
                .any(|n| memchr::memmem::find(name, n).is_some());
            (None, ucs2)
        }
        Object::Stream(s) => (
            cmap::read(s, streams).filter(|map| map.has_code_spaces()),
            false,
        ),
        _ => (None, false),
    };
    let descendant = match get(doc, dict, b"DescendantFonts") {
        Object::Array(fonts) => fonts.first().map(|f| resolve(doc, f)),
        _ => None,
    };
    let descendant = descendant.and_then(|d| d.as_dict().ok());
    let default = descendant
        .and_then(|d| number(get(doc, d, b"DW")))
        .unwrap_or(1000.0);
    let mut ranges = Vec::new();
    if let Some(Object::Array(w)) = descendant.map(|d| get(doc, d, b"W")) {
        let items: Vec<&Object> = w.iter().take(1 << 16).map(|o| resolve(doc, o)).collect();
        let mut i = 0;
        while i + 1 < items.len() {
            let Some(first) = number(items[i]) else {
                i += 1;
                continue;
            };
            let first = first.max(0.0) as u32;
            match items[i + 1] {
                Object::Array(list) => {
                    let room = (1usize << 16).saturating_sub(ranges.len());
                    for (k, w) in list.iter().take(room).enumerate() {
                        if let Some(w) = number(resolve(doc, w)) {
                            let code = first.saturating_add(k as u32);
                            ranges.push((code, code, w));
                        }
                    }
                    i += 2;
                }
                last => {
                    if let (Some(last), Some(w)) =
                        (number(last), items.get(i + 2).and_then(|o| number(o)))
                    {
                        ranges.push((first, last.max(0.0) as u32, w));
                    }
                    i += 3;
                }
            }
        }
    }
    ranges.sort_by_key(|r| r.0);
    Font {
        codes: Codes::Composite {
            spaces,
            to_unicode,
            ucs2,
        },
        widths: Widths::Cid { ranges, default },
        width_scale: 0.001,
    }
}

fn simple_widths(
    doc: &Document,
    dict: &Dictionary,
    descriptor: Option<&Dictionary>,
    base_font: &[u8],
    width_scale: f32,
) -> Widths {
    let first = number(get(doc, dict, b"FirstChar"))
        .unwrap_or(0.0)
        .clamp(0.0, 255.0) as u32;
    let widths: Vec<f32> = match get(doc, dict, b"Widths") {
        Object::Array(w) => w
            .iter()
            .take(256)
            .map(|o| number(resolve(doc, o)).unwrap_or(0.0))
            .collect(),
        _ => Vec::new(),
    };
    // Without widths (the standard fonts), an average glyph of the family.
    let family = if memchr::memmem::find(base_font, b"Courier").is_some() {
        600.0
    } else if memchr::memmem::find(base_font, b"Times").is_some() {
        500.0
    } else {
        556.0
    };
    let missing = descriptor
        .and_then(|d| number(get(doc, d, b"MissingWidth")))
        .filter(|w| *w > 0.0)
        .unwrap_or(if widths.is_empty() { family } else { 0.0 });
    // A Type 3 font's widths are in its own glyph space.
    let missing = if width_scale != 0.001 && widths.is_empty() {
        0.5 / width_scale
    } else {
        missing
    };
    Widths::Simple {
        first,
        widths,
        missing,
    }
}

impl Widths {
    fn of(&self, code: u32) -> f32 {
        match self {
            Widths::Simple {
                first,
                widths,
                missing,
            } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .unwrap_or(*missing),
            Widths::Cid { ranges, default } => {
                let i = ranges.partition_point(|r| r.0 <= code);
                ranges[..i]
                    .iter()
                    .rev()
                    .take(4)
                    .find(|r| code <= r.1)
                    .map_or(*default, |r| r.2)
            }
        }
    }
}

fn simple_table(
    base: Base,
    differences: &[(u8, Vec<u8>)],
    to_unicode: Option<&CMap>,
) -> Box<[Text; 256]> {
    let mut table: Box<[Text; 256]> = Box::new(std::array::from_fn(|code| {
        base.char(code as u8).map_or(Text::Nothing, Text::Char)
    }));
    for (code, name) in differences {
        table[usize::from(*code)] = Text::of(&encoding::glyph(name).unwrap_or_default());
    }
    if let Some(map) = to_unicode {
        let mut text = String::new();
        for code in 0..=255u8 {
            text.clear();
            if map.append(u32::from(code), &mut text) {
                table[usize::from(code)] = Text::of(&text);
            }
        }
    }
    table
}
