//! Finding the special-category terms in a piece of text.
//!
//! This search runs over every byte of every text a scan reads, so its cost
//! is much of what a scan costs. The answer is defined simply: from a
//! position on, the first position where a term may begin and does, and
//! the longest term there. A term may only begin where a word begins,
//! unless it is written `*term` (open at the start; a handful of terms).
//!
//! How it is found depends on how many terms there are:
//! - **Many** (the health vocabulary, 1,500 forms): no automaton over all of
//!   them has a prefilter, and a full DFA read a megabyte-sized table at
//!   every byte and took ten milliseconds to build at every start. Instead
//!   the text is walked 64 bytes at a time for the places a word may begin
//!   (a loop the compiler vectorises), each such place is tested against
//!   hashed sets of the terms' first bytes (tables in the first-level
//!   cache), and only where that says "maybe" is the term automaton asked,
//!   anchored. The open-start terms, being few, have their own unanchored
//!   automaton with its vectorised prefilter.
//! - **Few** (the exact-case acronyms): one unanchored automaton with its
//!   prefilter finds the leftmost match; one that may not begin where it
//!   does gives way to the longest open-start term there, if any.

use aho_corasick::{
    AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Anchored, Input, MatchKind, StartKind,
};
use std::sync::OnceLock;

/// Up to this many terms, one unanchored automaton with a vectorised
/// prefilter (Teddy takes up to 64 patterns) is the faster search.
const FEW_TERMS: usize = 64;

/// A term found: which pattern, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermMatch {
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

impl TermMatch {
    fn from_ac(m: aho_corasick::Match) -> TermMatch {
        TermMatch {
            pattern: m.pattern().as_usize(),
            start: m.start(),
            end: m.end(),
        }
    }

    /// A match of an automaton over some of the terms (`ids`: their
    /// numbers among all).
    fn among(m: aho_corasick::Match, ids: &[usize]) -> TermMatch {
        TermMatch {
            pattern: ids[m.pattern().as_usize()],
            ..TermMatch::from_ac(m)
        }
    }
}

/// The terms of one search, and its structures, built on first use or
/// ahead of it (`prepare`).
#[derive(Debug, Clone)]
pub struct TermSearch {
    patterns: Vec<Vec<u8>>,
    open_start: Vec<bool>,
    /// Up to how many terms the search is by one unanchored automaton.
    few: usize,
    built: OnceLock<Option<Built>>,
}

#[derive(Debug, Clone)]
enum Built {
    Few(Few),
    Many(Many),
}

#[derive(Debug, Clone)]
struct Few {
    /// Every term, unanchored, leftmost-longest.
    all: AhoCorasick,
    /// The open-start terms, anchored, for where the leftmost match may
    /// not begin (pattern numbers among all).
    open: Option<(AhoCorasick, Vec<usize>)>,
}

#[derive(Debug, Clone)]
struct Many {
    /// Every term, searched anchored at a word start.
    anchored: AhoCorasick,
    /// The open-start terms only (pattern numbers among all), unanchored.
    open: Option<(AhoCorasick, Vec<usize>)>,
    starts: TermStarts,
}

/// Which byte sequences may begin a term, by the term's length: a set of
/// the first eight bytes (hashed) of terms of eight to fifteen bytes, of
/// the first four of terms of four to seven bytes, the first two of terms
/// of two or three, and the one-byte terms; for terms of sixteen bytes or
/// more, their first eight in one set and their first sixteen in another,
/// asked only when the first says yes. Sixteen because many traps begin
/// with an everyday word ("prosjektet på sykehuset", "system for
/// pasientjournal"): with eight, every "prosjektet" and "system for" in a
/// text passed and asked the automaton (nine calls in ten on the bench's
/// office text); asked second, the longer hash costs only there.
#[derive(Debug, Clone)]
struct TermStarts {
    /// Some term begins with an ASCII byte that is not a letter or digit
    /// (then a word start is looked at even where such a byte stands).
    separator_first: bool,
    /// The first sixteen bytes of terms of sixteen or more.
    longer: Box<[u64; 1024]>,
    /// The first eight bytes of terms of sixteen or more.
    longer_head: Box<[u64; 1024]>,
    long: Box<[u64; 1024]>,
    middle: Box<[u64; 1024]>,
    pair: Box<[u64; 1024]>,
    single: [u64; 4],
}

fn bit(set: &[u64], index: usize) -> bool {
    set[index >> 6] & (1 << (index & 63)) != 0
}

fn set_bit(set: &mut [u64], index: usize) {
    set[index >> 6] |= 1 << (index & 63);
}

/// Eight or four bytes (little-endian) hashed to 16 bits.
fn hash16(bytes: u64) -> usize {
    (bytes.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

/// Sixteen bytes (two little-endian words) hashed to 16 bits.
fn hash16_of_two(first: u64, second: u64) -> usize {
    ((first.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ second.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)) >> 48)
        as usize
}

/// The first sixteen bytes as two little-endian words.
fn two_words(sixteen: &[u8; 16]) -> (u64, u64) {
    let (first, second) = sixteen.split_at(8);
    let word = |half: &[u8]| {
        half.first_chunk::<8>()
            .map_or(0, |b| u64::from_le_bytes(*b))
    };
    (word(first), word(second))
}

fn pair_index(b0: u8, b1: u8) -> usize {
    usize::from(b0) << 8 | usize::from(b1)
}

impl TermStarts {
    fn new(patterns: &[Vec<u8>]) -> TermStarts {
        let mut starts = TermStarts {
            separator_first: patterns.iter().any(|p| {
                p.first()
                    .is_some_and(|b| b.is_ascii() && !b.is_ascii_alphanumeric())
            }),
            longer: Box::new([0; 1024]),
            longer_head: Box::new([0; 1024]),
            long: Box::new([0; 1024]),
            middle: Box::new([0; 1024]),
            pair: Box::new([0; 1024]),
            single: [0; 4],
        };
        for pattern in patterns {
            match pattern.as_slice() {
                [] => {}
                [b] => set_bit(&mut starts.single, usize::from(*b)),
                [b0, b1] | [b0, b1, _] => set_bit(&mut starts.pair[..], pair_index(*b0, *b1)),
                _ => match (pattern.first_chunk::<16>(), pattern.first_chunk::<8>()) {
                    (Some(sixteen), _) => {
                        let (first, second) = two_words(sixteen);
                        set_bit(&mut starts.longer[..], hash16_of_two(first, second));
                        set_bit(&mut starts.longer_head[..], hash16(first));
                    }
                    (None, Some(eight)) => {
                        set_bit(&mut starts.long[..], hash16(u64::from_le_bytes(*eight)))
                    }
                    (None, None) => {
                        set_bit(&mut starts.middle[..], hash16(u64::from(read_u32(pattern))))
                    }
                },
            }
        }
        starts
    }

    /// Whether some term may begin `rest`.
    #[inline(always)]
    fn may_begin(&self, rest: &[u8]) -> bool {
        if let Some(eight) = rest.first_chunk::<8>() {
            let x = u64::from_le_bytes(*eight);
            let h = hash16(x);
            // A term of sixteen bytes or more fits only if sixteen are left.
            let longer = || {
                bit(&self.longer_head[..], h)
                    && rest.first_chunk::<16>().is_some_and(|sixteen| {
                        let (x, y) = two_words(sixteen);
                        bit(&self.longer[..], hash16_of_two(x, y))
                    })
            };
            return bit(&self.long[..], h)
                || bit(&self.middle[..], hash16(x & 0xFFFF_FFFF))
                || bit(&self.pair[..], pair_index(x as u8, (x >> 8) as u8))
                || bit(&self.single, usize::from(x as u8))
                || longer();
        }
        // The last bytes of a text: no term of eight bytes fits.
        (rest.len() >= 4 && bit(&self.middle[..], hash16(u64::from(read_u32(rest)))))
            || (rest.len() >= 2 && bit(&self.pair[..], pair_index(rest[0], rest[1])))
            || rest
                .first()
                .is_some_and(|&b| bit(&self.single, usize::from(b)))
    }
}

/// The first four bytes, little-endian (the caller checked there are four).
fn read_u32(bytes: &[u8]) -> u32 {
    bytes
        .first_chunk::<4>()
        .map_or(0, |four| u32::from_le_bytes(*four))
}

impl TermSearch {
    /// `terms`: each pattern and whether it may begin inside a word.
    pub fn new(terms: Vec<(Vec<u8>, bool)>) -> TermSearch {
        let (patterns, open_start) = terms.into_iter().unzip();
        TermSearch {
            patterns,
            open_start,
            few: FEW_TERMS,
            built: OnceLock::new(),
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.patterns.iter().map(Vec::len).sum()
    }

    /// Builds the search structures now rather than at the first text.
    pub fn prepare(&self) {
        self.built();
    }

    fn built(&self) -> Option<&Built> {
        self.built
            .get_or_init(|| {
                if self.patterns.is_empty() {
                    return None;
                }
                match self.build() {
                    Ok(built) => Some(built),
                    Err(e) => {
                        // Unreachable within the caller's size bound; said
                        // loudly if not.
                        tracing::error!("special-category terms could not be compiled: {e}");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn build(&self) -> Result<Built, aho_corasick::BuildError> {
        let leftmost_longest = || {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .clone()
        };
        let open_ids: Vec<usize> = (0..self.patterns.len())
            .filter(|&i| self.open_start[i])
            .collect();
        let open_terms = || open_ids.iter().map(|&i| &self.patterns[i]);
        if self.patterns.len() <= self.few {
            let open = match open_ids.is_empty() {
                true => None,
                false => Some((
                    leftmost_longest()
                        .start_kind(StartKind::Anchored)
                        .build(open_terms())?,
                    open_ids.clone(),
                )),
            };
            return Ok(Built::Few(Few {
                all: leftmost_longest().build(&self.patterns)?,
                open,
            }));
        }
        let open = match open_ids.is_empty() {
            true => None,
            false => Some((leftmost_longest().build(open_terms())?, open_ids.clone())),
        };
        Ok(Built::Many(Many {
            // Asked only at a few word starts, a walk of a few bytes each:
            // the NFA builds in a fraction of a full DFA's time.
            anchored: leftmost_longest()
                .start_kind(StartKind::Anchored)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&self.patterns)?,
            open,
            starts: TermStarts::new(&self.patterns),
        }))
    }

    /// A search over one text: call [`Finder::find_from`] with
    /// non-decreasing positions.
    pub fn finder<'a>(&'a self, text: &'a [u8]) -> Option<Finder<'a>> {
        Some(Finder {
            built: self.built()?,
            open_start: &self.open_start,
            text,
            open: None,
        })
    }
}

/// One text's search. It remembers the next open-start match so that a
/// text with many terms is not searched again from each of them.
pub struct Finder<'a> {
    built: &'a Built,
    /// Which patterns may begin inside a word.
    open_start: &'a [bool],
    text: &'a [u8],
    /// The last open-start search: where it started, what it found.
    open: Option<(usize, Option<TermMatch>)>,
}

fn anchored_at(ac: &AhoCorasick, text: &[u8], at: usize) -> Option<aho_corasick::Match> {
    ac.find(
        Input::new(text)
            .span(at..text.len())
            .anchored(Anchored::Yes),
    )
}

impl Finder<'_> {
    /// The first term at or after `from` that may begin where it does, the
    /// longest there. `from` must not decrease between calls.
    pub fn find_from(&mut self, from: usize) -> Option<TermMatch> {
        match self.built {
            Built::Few(few) => few.find_from(self.text, from, self.open_start),
            Built::Many(many) => {
                let open = self.open_match(many, from);
                many.find_before(self.text, from, open)
            }
        }
    }

    fn open_match(&mut self, many: &Many, from: usize) -> Option<TermMatch> {
        let (ac, ids) = many.open.as_ref()?;
        // The remembered match stands for every `from` up to its start: no
        // open-start term begins between the search's start and it.
        match self.open {
            Some((searched_from, found))
                if searched_from <= from && found.is_none_or(|m| m.start >= from) =>
            {
                found
            }
            _ => {
                let found = ac
                    .find(Input::new(self.text).span(from..self.text.len()))
                    .map(|m| TermMatch::among(m, ids));
                self.open = Some((from, found));
                found
            }
        }
    }
}

impl Few {
    fn find_from(&self, text: &[u8], mut from: usize, open_start: &[bool]) -> Option<TermMatch> {
        while from < text.len() {
            let m = self.all.find(Input::new(text).span(from..text.len()))?;
            let m = TermMatch::from_ac(m);
            if open_start[m.pattern] || begins_word(text, m.start) {
                return Some(m);
            }
            // Inside a word only an open-start term may begin.
            if let Some((ac, ids)) = &self.open
                && let Some(open) = anchored_at(ac, text, m.start)
            {
                return Some(TermMatch::among(open, ids));
            }
            from = m.start + 1;
        }
        None
    }
}

impl Many {
    /// The first term beginning a word at or after `from` and no later than
    /// `open` (the next open-start match) begins; else `open`.
    fn find_before(&self, text: &[u8], from: usize, open: Option<TermMatch>) -> Option<TermMatch> {
        // At the open match's own start a word may begin too, and a longer
        // term win there.
        let limit = open.map_or(text.len(), |m| m.start + 1).min(text.len());
        if from == 0
            && limit > 0
            && let Some(m) = self.term_at(text, 0, false)
        {
            return Some(m);
        }
        // The bytes before the places to look at, 64 at a time: a word may
        // begin after one that is ASCII but not a letter or digit, or after
        // a non-ASCII character (its character then decides).
        let mut base = from.saturating_sub(1);
        while base + 1 < limit {
            let end = (base + 64).min(limit - 1);
            let classes = byte_classes(&text[base..end]);
            let non_ascii = classes.non_ascii;
            // A place after a separator or a non-ASCII byte, unless the byte
            // there cannot begin a term: a continuation byte never does, a
            // separator only if some term begins with one. (Bit `i + 1` is
            // the byte at the place bit `i` stands for; the last place's
            // byte is the next block's, and stays a place.)
            let cannot_begin = classes.continuation
                | if self.starts.separator_first {
                    0
                } else {
                    classes.separators
                };
            let mut candidates = (classes.separators | non_ascii) & !(cannot_begin >> 1);
            while candidates != 0 {
                let i = candidates.trailing_zeros();
                candidates &= candidates - 1;
                let at = base + 1 + i as usize;
                if let Some(m) = self.term_at(text, at, non_ascii >> i & 1 == 1) {
                    return Some(m);
                }
            }
            base = end;
        }
        open
    }

    /// The longest term at `at`, where a word begins unless the character
    /// before is non-ASCII (`check_before`: then it decides).
    #[inline(always)]
    fn term_at(&self, text: &[u8], at: usize, check_before: bool) -> Option<TermMatch> {
        if !self.starts.may_begin(&text[at..]) {
            return None;
        }
        if check_before && is_word_char(char_before(text, at)) {
            return None;
        }
        anchored_at(&self.anchored, text, at).map(TermMatch::from_ac)
    }
}

/// For up to 64 bytes: bit `i` set where byte `i` is ASCII but not a letter
/// or digit, where it is non-ASCII, and where it is a UTF-8 continuation
/// byte. Eight bytes at a time in one word (this looks at every byte of
/// every text).
fn byte_classes(bytes: &[u8]) -> Classes {
    let mut classes = Classes::default();
    for (k, chunk) in bytes.chunks(8).enumerate() {
        let word = match chunk.first_chunk::<8>() {
            Some(eight) => u64::from_le_bytes(*eight),
            None => {
                // Padded with letters: no separator, nothing non-ASCII.
                let mut eight = [b'a'; 8];
                eight[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(eight)
            }
        };
        let c = classes8(word);
        classes.separators |= u64::from(c.separators) << (8 * k);
        classes.non_ascii |= u64::from(c.non_ascii) << (8 * k);
        classes.continuation |= u64::from(c.continuation) << (8 * k);
    }
    classes
}

/// What [`byte_classes`] finds in up to 64 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Classes {
    separators: u64,
    non_ascii: u64,
    continuation: u64,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Eight bytes (little-endian in one word): which are ASCII separators,
/// which non-ASCII, and which UTF-8 continuation bytes (`10xxxxxx`), one
/// bit each. Each byte's comparisons are additions into its own high bit,
/// which cannot carry into the next byte since the high bits are cleared
/// first.
fn classes8(word: u64) -> Classes8 {
    let low = word & !HIGH;
    let at_least = |bytes: u64, value: u8| bytes + u64::from(0x80 - value) * ONES;
    let folded = low | (0x20 * ONES);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    let digit = at_least(low, b'0') & !at_least(low, b'9' + 1);
    let non_ascii = word & HIGH;
    let separator = !(non_ascii | letter | digit) & HIGH;
    // Bit 6 of each byte moved up to its bit 7.
    let continuation = non_ascii & !(word << 1);
    Classes8 {
        separators: high_bits(separator),
        non_ascii: high_bits(non_ascii),
        continuation: high_bits(continuation),
    }
}

/// What [`classes8`] finds in eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Classes8 {
    separators: u8,
    non_ascii: u8,
    continuation: u8,
}

/// The high bit of each of eight bytes, gathered into one byte (bit `i`
/// from byte `i`).
fn high_bits(flags: u64) -> u8 {
    (flags.wrapping_mul(0x0002_0408_1020_4081) >> 56) as u8
}

/// Whether a word may begin at byte `at`: the character before it is not
/// a letter or digit.
pub fn begins_word(text: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|i| text[i]) {
        None => true,
        Some(prev) if prev.is_ascii() => !prev.is_ascii_alphanumeric(),
        Some(_) => !is_word_char(char_before(text, at)),
    }
}

pub fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// The character ending just before byte `at` of UTF-8 text.
pub fn char_before(text: &[u8], at: usize) -> Option<char> {
    let mut start = at.checked_sub(1)?;
    while start > 0 && (text[start] & 0xC0) == 0x80 {
        start -= 1;
    }
    std::str::from_utf8(&text[start..at]).ok()?.chars().next()
}

/// The character starting at byte `at` of UTF-8 text.
pub fn char_after(text: &[u8], at: usize) -> Option<char> {
    let first = *text.get(at)?;
    let len = match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    std::str::from_utf8(text.get(at..at + len)?)
        .ok()?
        .chars()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The search by its definition: at each position in turn, the longest
    /// term that may begin there.
    fn reference(terms: &[(Vec<u8>, bool)], text: &[u8], from: usize) -> Option<TermMatch> {
        (from..text.len()).find_map(|at| {
            let (pattern, (p, _)) = terms
                .iter()
                .enumerate()
                .filter(|(_, (p, open))| {
                    text[at..].starts_with(p) && (*open || begins_word(text, at))
                })
                .max_by_key(|(_, (p, _))| p.len())?;
            Some(TermMatch {
                pattern,
                start: at,
                end: at + p.len(),
            })
        })
    }

    /// Every match from `from` on, each search starting where the last
    /// match ended, as `collect` walks a text.
    fn found_all(search: &TermSearch, text: &[u8], from: usize) -> Vec<TermMatch> {
        let mut finder = search.finder(text).expect("built");
        std::iter::successors(finder.find_from(from), |m| finder.find_from(m.end)).collect()
    }

    /// The same walk by the definition.
    fn reference_all(terms: &[(Vec<u8>, bool)], text: &[u8], from: usize) -> Vec<TermMatch> {
        std::iter::successors(reference(terms, text, from), |m| {
            reference(terms, text, m.end)
        })
        .collect()
    }

    fn places(matches: Vec<TermMatch>) -> Vec<(usize, usize)> {
        matches.iter().map(|m| (m.start, m.end)).collect()
    }

    /// Both ways of searching: by one automaton and by word starts.
    fn both(terms: &[(Vec<u8>, bool)]) -> [TermSearch; 2] {
        [0, usize::MAX].map(|few| TermSearch {
            few,
            ..TermSearch::new(terms.to_vec())
        })
    }

    fn search(terms: &[(Vec<u8>, bool)], text: &[u8], from: usize) -> Option<TermMatch> {
        let [many, few] = both(terms);
        let found = many.finder(text)?.find_from(from);
        assert_eq!(
            found,
            few.finder(text)?.find_from(from),
            "{:?}",
            String::from_utf8_lossy(text)
        );
        found
    }

    fn terms(list: &[&str]) -> Vec<(Vec<u8>, bool)> {
        list.iter()
            .map(|t| {
                (
                    t.trim_start_matches('*').as_bytes().to_vec(),
                    t.starts_with('*'),
                )
            })
            .collect()
    }

    #[test]
    fn terms_begin_words_unless_open_at_the_start() {
        let t = terms(&["syk", "sykmeldt", "*sykmeld", "kreft", "er syk", "x"]);
        let cases: &[(&str, Option<(usize, usize)>)] = &[
            ("er sykmeldt nå", Some((0, 6))),
            ("langtidssykmeldt", Some((8, 15))),
            ("brystkreft", None),
            ("(kreft)", Some((1, 6))),
            ("øsyk", None),
            ("«syk»", Some((2, 5))),
            ("a x b", Some((2, 3))),
            ("", None),
        ];
        for (text, want) in cases {
            let got = search(&t, text.as_bytes(), 0).map(|m| (m.start, m.end));
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn a_word_start_takes_the_longest_term_there_open_or_not() {
        let t = terms(&["*sykmeld", "sykmeldt"]);
        let m = search(&t, b"sykmeldt", 0).expect("found");
        assert_eq!((m.pattern, m.end), (1, 8));
        let m = search(&t, b"xsykmeldt", 0).expect("found");
        assert_eq!((m.pattern, m.start, m.end), (0, 1, 8));
    }

    #[test]
    fn byte_classes_agree_with_their_definition() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut eight = [b'a'; 8];
                eight[at] = b;
                let c = classes8(u64::from_le_bytes(eight));
                let separator = b.is_ascii() && !b.is_ascii_alphanumeric();
                assert_eq!(c.separators, u8::from(separator) << at, "{b:#x} at {at}");
                assert_eq!(c.non_ascii, u8::from(!b.is_ascii()) << at, "{b:#x} at {at}");
                let continuation = b & 0xC0 == 0x80;
                assert_eq!(
                    c.continuation,
                    u8::from(continuation) << at,
                    "{b:#x} at {at}"
                );
            }
        }
        let text: Vec<u8> = (0..64u8)
            .map(|i| if i % 3 == 0 { b' ' } else { 0xC3 })
            .collect();
        let classes = byte_classes(&text[..61]);
        assert_eq!(
            classes.separators,
            (0..61).filter(|i| i % 3 == 0).fold(0, |m, i| m | 1 << i)
        );
        assert_eq!(
            classes.non_ascii,
            (0..61).filter(|i| i % 3 != 0).fold(0, |m, i| m | 1 << i)
        );
        assert_eq!(classes.continuation, 0, "0xC3 is a lead byte");
    }

    #[test]
    fn one_finder_walks_a_text_with_many_terms() {
        let t = terms(&["*itt", "syk"]);
        let text = b"syk fitt syk fitt syk";
        for search in both(&t) {
            let found: Vec<_> = found_all(&search, text, 0)
                .iter()
                .map(|m| (m.pattern, m.start))
                .collect();
            assert_eq!(found, vec![(1, 0), (0, 5), (1, 9), (0, 14), (1, 18)]);
        }
    }

    /// The word-start walk reads 64 bytes at a time: a term is found at
    /// every offset, after an ASCII separator or a non-ASCII character, and
    /// not after a non-ASCII letter; a term of sixteen bytes or more (its
    /// first sixteen in their own set) likewise, at the very end of the text
    /// and before more of it, and a text that shares only its first fifteen
    /// bytes is not taken for it.
    #[test]
    fn terms_are_found_at_every_offset() {
        let short = terms(&["sykmeldt", "syk", "s", "sykmeldin"]);
        let long = terms(&["prosjektet på sykehuset"]);
        let words = [
            (&short, "sykmeldt", true),
            (&long, "prosjektet på sykehuset", true),
            (&long, "prosjektet på sykehuset i dag", true),
            (&long, "prosjektet på skolen", false),
        ];
        for (t, word, found) in words {
            for filler in ["a", "ø"] {
                for before in ["", " ", "«", "-", "å"] {
                    for offset in 0..200 {
                        let text = format!("{}{before}{word}", filler.repeat(offset));
                        let start = text.len() - word.len();
                        let after_letter = before == "å" || (before.is_empty() && offset > 0);
                        let end = start + word.len().min("prosjektet på sykehuset".len());
                        let want = (found && !after_letter).then_some((start, end));
                        let got = search(t, text.as_bytes(), 0).map(|m| (m.start, m.end));
                        assert_eq!(got, want, "{text}");
                    }
                }
            }
        }
    }

    /// Terms a random text is likely to contain: the text is made of them,
    /// with separators and other letters between.
    fn text_of(terms: &[(Vec<u8>, bool)], parts: &[(usize, String)]) -> Vec<u8> {
        let mut text = Vec::new();
        for (pick, between) in parts {
            text.extend_from_slice(&terms[pick % terms.len()].0);
            text.extend_from_slice(between.as_bytes());
        }
        text
    }

    proptest! {
        #[test]
        fn equals_the_reference(
            list in proptest::collection::vec("\\*?[abø ]{1,20}", 1..8),
            parts in proptest::collection::vec((0usize..8, "[ .«-]{0,2}|[abøx]{0,3}"), 0..40),
            from in 0usize..200,
        ) {
            let t: Vec<(Vec<u8>, bool)> = list
                .iter()
                .map(|s| (s.trim_start_matches('*').as_bytes().to_vec(), s.starts_with('*')))
                .filter(|(p, _)| !p.is_empty())
                .collect();
            prop_assume!(!t.is_empty());
            let text = text_of(&t, &parts);
            let text = text.as_slice();
            let from = (0..=from.min(text.len()))
                .rev()
                .find(|&i| i == text.len() || (text[i] & 0xC0) != 0x80)
                .unwrap_or(0);
            for search in both(&t) {
                // Same places and lengths; of equal terms listed twice,
                // either number is right.
                prop_assert_eq!(places(found_all(&search, text, from)), places(reference_all(&t, text, from)));
            }
        }

        /// Any text (every script, controls, combining marks), with terms
        /// cut out of it so that some are found: the same as the
        /// definition, and no panic wherever a step or a character falls.
        #[test]
        fn any_text_equals_the_reference(
            text in "\\PC{0,120}|(?s).{0,120}",
            cuts in proptest::collection::vec((0usize..120, 1usize..24, proptest::bool::ANY), 1..70),
        ) {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let t: Vec<(Vec<u8>, bool)> = cuts
                .iter()
                .filter_map(|&(at, len, open)| {
                    let start = *boundaries.get(at % boundaries.len())?;
                    let end = *boundaries.iter().find(|&&b| b >= start + len)?;
                    Some((text.as_bytes()[start..end].to_vec(), open))
                })
                .collect();
            prop_assume!(!t.is_empty());
            let text = text.as_bytes();
            for search in both(&t) {
                prop_assert_eq!(places(found_all(&search, text, 0)), places(reference_all(&t, text, 0)));
            }
        }
    }
}
