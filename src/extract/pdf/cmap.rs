//! CMaps: how a font's byte codes split into codes (`codespacerange`) and
//! what text each code stands for (a `ToUnicode` map's `bfchar` and
//! `bfrange`).
//!
//! Why our own: every font a word processor embeds carries a ToUnicode map,
//! and reading them was most of the time a general-purpose parser spent on
//! office PDFs. This reads only those sections, keeps ranges as ranges, and
//! bounds what a hostile map can make it hold.

use super::lexer::{Lexer, Token};
use std::cell::RefCell;
use std::rc::Rc;

/// Ranges kept per map; a map with more is read up to here.
const MAX_RANGES: usize = 1 << 16;
/// Single mappings kept per map.
const MAX_CHARS: usize = 1 << 16;
/// Texts kept in all the `bfrange` arrays of one map together (every code
/// of a two-byte font is 65,536): a map of many long arrays cannot make
/// the reader hold more than this.
const MAX_ARRAY_TEXTS: usize = 1 << 16;
/// UTF-16 units one code may stand for (ligatures are a few).
const MAX_UNITS: usize = 64;

/// A `ToUnicode` map (and, for an embedded encoding CMap, its code spaces).
///
/// The texts of single mappings and range arrays are kept one after another
/// in one string, and the mappings as a sorted list pointing into it: a map
/// is read for every font of every PDF, and a string and a hash-table entry
/// per code were most of the work of reading it.
#[derive(Debug, Default)]
pub struct CMap {
    /// Texts held in `RangeTarget::Each` arrays, all ranges together.
    array_texts: usize,
    /// `(bytes, low, high)`: codes of that length in that range.
    spaces: Vec<(usize, u32, u32)>,
    /// Every text the map's `bfchar` entries and range arrays stand for.
    texts: String,
    /// `bfchar` entries: the code and where its text is in `texts`. Sorted
    /// by code once the map is read, one entry per code (the last written).
    chars: Vec<(u32, Span)>,
    /// Sorted by low code: `(low, high, what low stands for)`.
    ranges: Vec<(u32, u32, RangeTarget)>,
}

/// Where a text is in [`CMap::texts`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

#[derive(Debug)]
enum RangeTarget {
    /// The text of the range's first code; later codes add to its last unit.
    Start(Vec<u16>),
    /// One text per code.
    Each(Vec<Span>),
}

fn code_of(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)))
}

/// UTF-16BE bytes as units, at most `MAX_UNITS` (an odd last byte is the
/// high half of a unit).
fn units(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks(2)
        .take(MAX_UNITS)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
}

/// Appends UTF-16 units as text, a lone surrogate as U+FFFD.
fn push_units(units: impl IntoIterator<Item = u16>, out: &mut String) {
    out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
}

/// Appends what a `bfchar`/`bfrange` target means to `texts`: UTF-16BE
/// bytes, or (rarely) a glyph name. `None` when the token is neither, or
/// the map's texts are past what a span can address.
fn push_target(token: &Token<'_>, texts: &mut String) -> Option<Span> {
    let start = u32::try_from(texts.len()).ok()?;
    match token {
        Token::Str(bytes) => push_units(units(bytes), texts),
        Token::Name(name) => texts.push_str(&super::encoding::glyph(name)?),
        _ => return None,
    }
    let end = u32::try_from(texts.len()).ok()?;
    Some(Span { start, end })
}

impl CMap {
    /// Reads the code spaces and Unicode mappings of a CMap stream.
    pub fn parse(bytes: &[u8]) -> CMap {
        let mut map = CMap::default();
        let mut lexer = Lexer::new(bytes);
        let mut pending: Vec<Token<'_>> = Vec::new();
        while let Some(token) = lexer.next() {
            let Token::Word(word) = token else {
                continue;
            };
            match word {
                b"begincodespacerange" => {
                    collect(&mut lexer, b"endcodespacerange", &mut pending);
                    for pair in pending.chunks_exact(2) {
                        if let (Token::Str(lo), Token::Str(hi)) = (&pair[0], &pair[1])
                            && let (Some(l), Some(h)) = (code_of(lo), code_of(hi))
                            && lo.len() == hi.len()
                            && map.spaces.len() < 64
                        {
                            map.spaces.push((lo.len(), l, h));
                        }
                    }
                }
                b"beginbfchar" => {
                    collect(&mut lexer, b"endbfchar", &mut pending);
                    for pair in pending.chunks_exact(2) {
                        let (Token::Str(code), target) = (&pair[0], &pair[1]) else {
                            continue;
                        };
                        if let Some(code) = code_of(code)
                            && map.chars.len() < MAX_CHARS
                            && let Some(span) = push_target(target, &mut map.texts)
                        {
                            map.chars.push((code, span));
                        }
                    }
                }
                b"beginbfrange" => map.bfrange(&mut lexer, &mut pending),
                _ => {}
            }
        }
        map.ranges.sort_by_key(|r| r.0);
        // A code mapped twice means its last mapping, as in a dictionary:
        // newest first, a stable sort, and the first of each code kept.
        map.chars.reverse();
        map.chars.sort_by_key(|&(code, _)| code);
        map.chars.dedup_by_key(|&mut (code, _)| code);
        map
    }

    fn bfrange<'a>(&mut self, lexer: &mut Lexer<'a>, pending: &mut Vec<Token<'a>>) {
        pending.clear();
        // Triples `<lo> <hi> <dst>` or `<lo> <hi> [<dst> ...]`.
        let mut array: Option<Vec<Span>> = None;
        for token in lexer.by_ref() {
            match token {
                Token::Word(b"endbfrange") => break,
                Token::ArrayStart => array = Some(Vec::new()),
                Token::ArrayEnd => {
                    if let Some(items) = array.take() {
                        self.push_range(pending, RangeTarget::Each(items));
                    }
                }
                token if array.is_some() => {
                    if self.array_texts < MAX_ARRAY_TEXTS
                        && let Some(items) = array.as_mut()
                        && let Some(span) = push_target(&token, &mut self.texts)
                    {
                        items.push(span);
                        self.array_texts += 1;
                    }
                }
                Token::Str(bytes) if pending.len() == 2 => {
                    self.push_range(pending, RangeTarget::Start(units(&bytes).collect()));
                }
                token @ Token::Str(_) => pending.push(token),
                _ => pending.clear(),
            }
        }
    }

    fn push_range(&mut self, pending: &mut Vec<Token<'_>>, target: RangeTarget) {
        if let [Token::Str(lo), Token::Str(hi)] = pending.as_slice()
            && let (Some(l), Some(h)) = (code_of(lo), code_of(hi))
            && l <= h
            && self.ranges.len() < MAX_RANGES
        {
            self.ranges.push((l, h, target));
        }
        pending.clear();
    }

    /// Whether the map says how codes split (an encoding CMap does).
    pub fn has_code_spaces(&self) -> bool {
        !self.spaces.is_empty()
    }

    /// The length of the code at the start of `bytes`: the code space it
    /// falls in, else one byte.
    pub fn code_length(&self, bytes: &[u8]) -> usize {
        for len in 1..=4.min(bytes.len()) {
            let Some(code) = code_of(&bytes[..len]) else {
                break;
            };
            if self
                .spaces
                .iter()
                .any(|&(n, lo, hi)| n == len && (lo..=hi).contains(&code))
            {
                return len;
            }
        }
        1
    }

    /// Appends the text `code` stands for to `out`; false when the map has
    /// none.
    pub fn append(&self, code: u32, out: &mut String) -> bool {
        if let Ok(i) = self.chars.binary_search_by_key(&code, |&(c, _)| c) {
            return self.push_text(self.chars[i].1, out);
        }
        let i = self.ranges.partition_point(|r| r.0 <= code);
        // Ranges may overlap in bad maps: look back over the few that start
        // at or before the code.
        for (lo, hi, target) in self.ranges[..i].iter().rev().take(8) {
            if code > *hi {
                continue;
            }
            let offset = code - lo;
            match target {
                RangeTarget::Start(units) => {
                    let Some((last, head)) = units.split_last() else {
                        return false;
                    };
                    let units = head
                        .iter()
                        .copied()
                        .chain([last.wrapping_add(offset as u16)]);
                    push_units(units, out);
                    return true;
                }
                RangeTarget::Each(items) => {
                    return items
                        .get(offset as usize)
                        .is_some_and(|&span| self.push_text(span, out));
                }
            }
        }
        false
    }

    fn push_text(&self, span: Span, out: &mut String) -> bool {
        match self.texts.get(span.start as usize..span.end as usize) {
            Some(text) => {
                out.push_str(text);
                true
            }
            None => false,
        }
    }

    #[cfg(test)]
    fn text(&self, code: u32) -> Option<String> {
        let mut out = String::new();
        self.append(code, &mut out).then_some(out)
    }
}

/// Collects the tokens up to `end` into `into`.
fn collect<'a>(lexer: &mut Lexer<'a>, end: &[u8], into: &mut Vec<Token<'a>>) {
    into.clear();
    for token in lexer.by_ref() {
        if token == Token::Word(end) {
            return;
        }
        if into.len() < 2 * MAX_CHARS {
            into.push(token);
        }
    }
}

/// Maps kept per thread for the documents that follow (see [`read`]).
const KEPT_MAPS: usize = 32;
/// A map from a stream larger than this (as written or decoded) is not
/// kept.
const KEPT_MAP_BYTES: usize = 1 << 18;

/// A map read before: the stream it was read from and what it decoded to.
struct Kept {
    content: Vec<u8>,
    filter: Option<lopdf::Object>,
    parms: Option<lopdf::Object>,
    decoded_len: usize,
    map: Rc<CMap>,
}

/// The map in a CMap stream, read once per thread for a stream written the
/// same way again.
///
/// Why kept across documents: mail from one system carries the same fonts
/// in every PDF (the 768 ToUnicode maps of 256 PDFs on the attachment-heavy
/// bench corpus are 23 distinct streams), and decoding and parsing them
/// was a fifth of the PDF reader. A stream counts as the same only when its
/// bytes, filter (one at most) and filter parameters are equal (compared
/// in full, not by a hash), and its decoded size is charged to this
/// document's budgets as decoding it would be, so a document reads exactly
/// as it would alone.
pub fn read(stream: &lopdf::Stream, streams: &mut super::Streams) -> Option<Rc<CMap>> {
    thread_local! {
        static KEPT: RefCell<(Vec<Kept>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    let filter = stream.dict.get(b"Filter").ok();
    let parms = stream.dict.get(b"DecodeParms").ok();
    let hit = KEPT.with_borrow(|(kept, _)| {
        kept.iter()
            .find(|k| {
                k.content == stream.content
                    && k.filter.as_ref() == filter
                    && k.parms.as_ref() == parms
            })
            .map(|k| (k.decoded_len, k.map.clone()))
    });
    if let Some((decoded_len, map)) = hit {
        return streams.charge(filter.is_some(), decoded_len).then_some(map);
    }
    let bytes = streams.decode(stream)?;
    let map = Rc::new(CMap::parse(&bytes));
    // Through two filters or more, a limit may stop an intermediate result
    // that the decoded size does not show: such a map is read each time.
    let one_filter = match filter {
        Some(lopdf::Object::Array(filters)) => filters.len() <= 1,
        _ => true,
    };
    if one_filter && bytes.len() <= KEPT_MAP_BYTES && stream.content.len() <= KEPT_MAP_BYTES {
        KEPT.with_borrow_mut(|(kept, next)| {
            let entry = Kept {
                content: stream.content.clone(),
                filter: filter.cloned(),
                parms: parms.cloned(),
                decoded_len: bytes.len(),
                map: map.clone(),
            };
            if kept.len() < KEPT_MAPS {
                kept.push(entry);
            } else {
                kept[*next] = entry;
                *next = (*next + 1) % KEPT_MAPS;
            }
        });
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def /CMapType 2 def
1 begincodespacerange <0000> <FFFF> endcodespacerange
3 beginbfchar
<0003> <0020>
<0011> <00F8>
<0020> <00660069>
endbfchar
2 beginbfrange
<0013> <001C> <0030>
<0040> <0042> [<0041> <00C5> /oslash]
endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn reads_chars_ranges_and_arrays() {
        let map = CMap::parse(MAP);
        assert_eq!(map.text(0x03).as_deref(), Some(" "));
        assert_eq!(map.text(0x11).as_deref(), Some("ø"));
        assert_eq!(map.text(0x20).as_deref(), Some("fi"));
        // Digits 0-9 by a range.
        let digits: String = (0x13..=0x1C).filter_map(|c| map.text(c)).collect();
        assert_eq!(digits, "0123456789");
        assert_eq!(map.text(0x40).as_deref(), Some("A"));
        assert_eq!(map.text(0x41).as_deref(), Some("Å"));
        assert_eq!(map.text(0x42).as_deref(), Some("ø"));
        assert_eq!(map.text(0x1D), None);
        assert_eq!(map.text(0x43), None);
        assert_eq!(map.code_length(b"\x00\x13\x00"), 2);
    }

    #[test]
    fn a_code_mapped_twice_stands_for_its_last_mapping() {
        let map = CMap::parse(
            b"3 beginbfchar <0005> <0041> <0003> <0042> <0005> <00E6> endbfchar
              1 beginbfchar <0003> /oslash endbfchar",
        );
        assert_eq!(map.text(0x05).as_deref(), Some("æ"));
        assert_eq!(map.text(0x03).as_deref(), Some("ø"));
        assert_eq!(map.text(0x04), None);
    }

    #[test]
    fn one_byte_spaces_and_mixed_lengths() {
        let map = CMap::parse(b"2 begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange");
        assert!(map.has_code_spaces());
        assert_eq!(map.code_length(b"\x41\x42"), 1);
        assert_eq!(map.code_length(b"\x81\x40"), 2);
        assert_eq!(map.code_length(b"\xF0"), 1);
    }

    #[test]
    fn every_cut_and_flip_is_read_without_panic() {
        for cut in 0..MAP.len() {
            let _ = CMap::parse(&MAP[..cut]).text(0x13);
        }
        for i in 0..MAP.len() {
            let mut bad = MAP.to_vec();
            bad[i] ^= 0x5A;
            let map = CMap::parse(&bad);
            for code in 0..0x50 {
                let _ = map.text(code);
            }
        }
    }

    #[test]
    fn many_long_range_arrays_hold_a_bounded_number_of_texts() {
        let mut map = String::from("1 beginbfrange\n");
        let items = "<0041> ".repeat(1000);
        for r in 0..200u32 {
            map.push_str(&format!(
                "<{:04X}> <{:04X}> [{items}]\n",
                r * 1000,
                r * 1000 + 999
            ));
        }
        map.push_str("endbfrange");
        let parsed = CMap::parse(map.as_bytes());
        let held: usize = parsed
            .ranges
            .iter()
            .map(|(_, _, t)| match t {
                RangeTarget::Each(items) => items.len(),
                RangeTarget::Start(_) => 0,
            })
            .sum();
        assert_eq!(held, MAX_ARRAY_TEXTS);
        assert_eq!(parsed.text(5).as_deref(), Some("A"));
    }

    #[test]
    fn a_range_over_every_code_is_held_as_one_range() {
        let map = CMap::parse(b"1 beginbfrange <0000> <FFFF> <0000> endbfrange");
        assert_eq!(map.ranges.len(), 1);
        assert_eq!(map.text(0x0041).as_deref(), Some("A"));
    }
}
