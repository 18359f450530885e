//! A PDF's objects, read from a file written the plain way.
//!
//! Why not only lopdf: its loader parses every object with parser
//! combinators, each dictionary twice (first as the stream it is usually
//! not), and on an attachment-heavy mailbox that was an eighth of the whole
//! scan. Most office PDFs are plain: classic cross-reference tables,
//! objects at the offsets they give, no encryption, no object streams. This
//! loader reads those with the content lexer and builds the same
//! `lopdf::Document`, following lopdf's reading rule for rule (the
//! cross-reference syntax, which `startxref` counts, which entry wins,
//! what a reference or a real is). For anything else (encryption,
//! cross-reference or object streams, an object or table not exactly as
//! lopdf would take it) it answers `None` and lopdf, which repairs and
//! decrypts, reads the file as before: a document reads the same whichever
//! loader opened it (tested against lopdf on every fixture and on the
//! fuzzer's inputs).

use super::lexer::{Lexer, Token, short_decimal};
use lopdf::xref::{Xref, XrefEntry, XrefType};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};
use std::collections::{BTreeMap, HashSet};

/// lopdf's limit on nested arrays and dictionaries.
const MAX_DEPTH: usize = 100;

/// Where an in-use object starts, by object number (generation, offset).
type Entries = BTreeMap<u32, (u16, u32)>;

/// A table line's in-use object (offset, generation).
type InUse = (u32, u16);

/// The document, or `None` when it is not plain enough for this loader.
pub fn load(bytes: &[u8]) -> Option<Document> {
    let start = memchr::memmem::find(bytes, b"%PDF-")?;
    let file = &bytes[start..];
    let version = header(file)?;
    let xref_start = xref_start(file)?;
    let (mut entries, mut trailer) = table_and_trailer(file, xref_start)?;
    // Older revisions fill in what the newer ones do not list.
    let mut seen = HashSet::new();
    let mut prev = trailer.remove(b"Prev");
    while let Some(offset) = prev.and_then(|o| o.as_i64().ok()) {
        if !seen.insert(offset) {
            break;
        }
        let offset = usize::try_from(offset).ok().filter(|&o| o <= file.len())?;
        let (older, older_trailer) = table_and_trailer(file, offset)?;
        if older_trailer.has(b"XRefStm") {
            return None;
        }
        for (id, entry) in older {
            entries.entry(id).or_insert(entry);
        }
        prev = older_trailer.get(b"Prev").ok().cloned();
    }
    if trailer.has(b"XRefStm") || trailer.has(b"Encrypt") {
        return None;
    }

    // An offset listed twice holds the same object: it is read once (a
    // table of many entries pointing at one large object must not cost its
    // size each time), and put in where its last listing would put it, for
    // lopdf keeps what the last entry read says under a number that several
    // objects' headers claim.
    let mut last_listed = std::collections::HashMap::new();
    for (position, &(_, offset)) in entries.values().enumerate() {
        last_listed.insert(offset, position);
    }
    let mut offsets: Vec<(usize, u32)> = last_listed
        .into_iter()
        .map(|(offset, position)| (position, offset))
        .collect();
    offsets.sort_unstable();
    let mut objects = BTreeMap::new();
    for (_, offset) in offsets {
        let (id, object) = indirect_object(file, offset as usize, &entries)?;
        if let Object::Stream(stream) = &object
            && stream.dict.has_type(b"ObjStm")
        {
            return None;
        }
        objects.insert(id, object);
    }

    let max_id = entries.keys().next_back().copied().unwrap_or(0);
    let mut reference_table = Xref::new(max_id.checked_add(1)?, XrefType::CrossReferenceTable);
    reference_table.entries = entries
        .into_iter()
        .map(|(id, (generation, offset))| (id, XrefEntry::Normal { offset, generation }))
        .collect();
    let mut doc = Document::new();
    doc.version = version;
    doc.max_id = max_id;
    doc.trailer = trailer;
    doc.reference_table = reference_table;
    doc.xref_start = xref_start;
    doc.objects = objects;
    Some(doc)
}

/// The version in `%PDF-1.7`, its line ended by a line break.
fn header(file: &[u8]) -> Option<String> {
    let rest = file.strip_prefix(b"%PDF-")?;
    let digits = rest
        .iter()
        .position(|&b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    let line_end = memchr::memchr2(b'\r', b'\n', rest)?;
    let version = std::str::from_utf8(&rest[..digits.min(line_end)]).ok()?;
    Some(version.to_string())
}

/// The offset after the last `startxref` within 25 bytes before the last
/// `%%EOF` of the file's last 512 bytes (where lopdf looks).
fn xref_start(file: &[u8]) -> Option<usize> {
    let tail = file.len() - file.len().min(512);
    let eof = tail + memchr::memmem::rfind(&file[tail..], b"%%EOF")?;
    if eof <= 25 {
        return None;
    }
    let from = eof - 25;
    let at = from + memchr::memmem::rfind(&file[from..eof], b"startxref")?;
    let mut rest = &file[at + b"startxref".len()..];
    rest = rest.strip_prefix(b" ").unwrap_or(rest);
    rest = eol(rest)?;
    rest = skip_while(rest, |b| b == b' ');
    let (value, after) = integer_prefix(rest)?;
    let after = eol(skip_while(after, |b| b == b' '))?;
    after.starts_with(b"%%EOF").then_some(())?;
    usize::try_from(value).ok().filter(|&v| v <= file.len())
}

/// `bytes` past its leading bytes for which `skip` holds.
fn skip_while(bytes: &[u8], skip: impl Fn(u8) -> bool) -> &[u8] {
    let n = bytes.iter().take_while(|&&c| skip(c)).count();
    &bytes[n..]
}

/// A line end (`\r\n`, `\n` or `\r`) at the start, and what follows it.
fn eol(bytes: &[u8]) -> Option<&[u8]> {
    bytes
        .strip_prefix(b"\r\n")
        .or_else(|| bytes.strip_prefix(b"\n"))
        .or_else(|| bytes.strip_prefix(b"\r"))
}

/// A signed decimal at the start, and what follows it; `None` past `i64`,
/// as `str::parse` has it.
fn integer_prefix(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (negative, body) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    let (magnitude, rest) = unsigned_prefix::<u64>(body)?;
    let value = if negative {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    Some((i64::try_from(value).ok()?, rest))
}

/// Unsigned decimal digits at the start, and what follows them; `None`
/// when the value does not fit `T`.
fn unsigned_prefix<T: TryFrom<u64>>(bytes: &[u8]) -> Option<(T, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value = 0u64;
    for &b in &bytes[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((T::try_from(value).ok()?, &bytes[digits..]))
}

/// A classic cross-reference table at `offset` and the trailer after it.
/// Entries are read as lopdf reads them: as many well-formed twenty-byte
/// lines as follow each subsection header, whatever the count says.
fn table_and_trailer(file: &[u8], offset: usize) -> Option<(Entries, Dictionary)> {
    let rest = file.get(offset..)?.strip_prefix(b"xref")?;
    let mut rest = eol(rest.strip_prefix(b" ").unwrap_or(rest))?;
    let mut entries = Entries::new();
    let mut sections = 0;
    while let Some((first, after)) = section_header(rest) {
        rest = after;
        sections += 1;
        let mut index = 0usize;
        while let Some((entry, after)) = table_entry(rest) {
            rest = after;
            if let Some((offset, generation)) = entry {
                let id = first.wrapping_add(index) as u32;
                entries.insert(id, (generation, offset));
            }
            index += 1;
        }
    }
    if sections == 0 {
        return None;
    }
    let at = file.len() - rest.len();
    let mut lexer = Lexer::words_at(file, at);
    if next(file, &mut lexer)? != Token::Word(b"trailer") || peek(file, &mut lexer)? != b'<' {
        return None;
    }
    match value(file, &mut lexer, 0)? {
        // lopdf wants the size as an integer, though it counts for itself.
        Object::Dictionary(trailer) if trailer.get(b"Size").and_then(Object::as_i64).is_ok() => {
            Some((entries, trailer))
        }
        _ => None,
    }
}

/// `first count` and a line end.
fn section_header(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (first, rest) = unsigned_prefix::<usize>(bytes)?;
    let (_count, rest) = unsigned_prefix::<u32>(rest.strip_prefix(b" ")?)?;
    let rest = eol(rest.strip_prefix(b" ").unwrap_or(rest))?;
    Some((first, rest))
}

/// `offset generation n` or `f`, ended by ` \r`, ` \n` or `\r\n`; an
/// in-use entry whose generation does not fit is passed over, as lopdf does.
fn table_entry(bytes: &[u8]) -> Option<(Option<InUse>, &[u8])> {
    let (offset, rest) = unsigned_prefix::<u32>(bytes)?;
    let (generation, rest) = unsigned_prefix::<u32>(rest.strip_prefix(b" ")?)?;
    let rest = rest.strip_prefix(b" ")?;
    let (&kind, rest) = rest.split_first()?;
    if kind != b'n' && kind != b'f' {
        return None;
    }
    let rest = rest
        .strip_prefix(b" \r")
        .or_else(|| rest.strip_prefix(b" \n"))
        .or_else(|| rest.strip_prefix(b"\r\n"))?;
    let entry = match (kind, u16::try_from(generation)) {
        (b'n', Ok(generation)) => Some((offset, generation)),
        _ => None,
    };
    Some((entry, rest))
}

/// `num gen obj`, the object, and for a dictionary followed by `stream`
/// its data (a `Length` given directly or by reference).
fn indirect_object(file: &[u8], offset: usize, entries: &Entries) -> Option<(ObjectId, Object)> {
    if offset > file.len() {
        return None;
    }
    let mut lexer = Lexer::words_at(file, offset);
    let id = object_header(file, &mut lexer)?;
    let object = value(file, &mut lexer, 0)?;
    let Object::Dictionary(dict) = object else {
        return Some((id, object));
    };
    let at = lexer.offset();
    let rest = &file[at..];
    let after_space = rest.len() - skip_space(file, at).len();
    let Some(keyword) = rest[after_space..].strip_prefix(b"stream") else {
        return Some((id, Object::Dictionary(dict)));
    };
    let keyword = skip_while(keyword, |b| b == b' ' || b == b'\t');
    // "stream" not followed by a line end: lopdf takes the dictionary alone
    // only when its stream reading fails for that reason; rarer than worth
    // following, so lopdf reads such a file.
    let data_start = file.len() - eol(keyword)?.len();
    let length = match dict.get(b"Length").ok()? {
        Object::Integer(n) => *n,
        Object::Reference(target) => length_object(file, *target, entries)?,
        _ => return None,
    };
    let length = usize::try_from(length).ok()?;
    let data = file.get(data_start..data_start.checked_add(length)?)?;
    let after = &file[data_start + length..];
    let after = eol(after).unwrap_or(after);
    after.starts_with(b"endstream").then_some(())?;
    Some((id, Object::Stream(Stream::new(dict, data.to_vec()))))
}

/// The file from `at` past white space and comments.
fn skip_space(file: &[u8], at: usize) -> &[u8] {
    let mut lexer = Lexer::words_at(file, at);
    let _ = lexer.peek_byte();
    &file[lexer.offset()..]
}

/// `num gen obj` (lopdf checks nothing more: the number is the table's
/// business).
fn object_header(file: &[u8], lexer: &mut Lexer<'_>) -> Option<ObjectId> {
    let Token::Word(number) = next(file, lexer)? else {
        return None;
    };
    let Token::Word(generation) = next(file, lexer)? else {
        return None;
    };
    let id = (unsigned(number)?, unsigned(generation)?);
    (next(file, lexer)? == Token::Word(b"obj")).then_some(id)
}

/// An indirect `Length`: an integer object listed in the table under that
/// number and generation.
fn length_object(file: &[u8], target: ObjectId, entries: &Entries) -> Option<i64> {
    let &(generation, offset) = entries.get(&target.0)?;
    if generation != target.1 {
        return None;
    }
    let mut lexer = Lexer::words_at(file, offset as usize);
    if object_header(file, &mut lexer)? != target {
        return None;
    }
    match value(file, &mut lexer, 0)? {
        Object::Integer(n) => Some(n),
        _ => None,
    }
}

fn unsigned<T: TryFrom<u64>>(word: &[u8]) -> Option<T> {
    match unsigned_prefix(word)? {
        (value, []) => Some(value),
        _ => None,
    }
}

/// A direct object (references included), as lopdf's grammar has it;
/// `None` for anything it would not read the same way.
fn value(file: &[u8], lexer: &mut Lexer<'_>, depth: usize) -> Option<Object> {
    if depth > MAX_DEPTH {
        return None;
    }
    let start = match peek(file, lexer)? {
        b']' => return None,
        b'<' if file.get(lexer.offset() + 1) != Some(&b'<') => {
            let at = lexer.offset();
            if !plain_hex(&file[at + 1..]) {
                return None;
            }
            at
        }
        _ => lexer.offset(),
    };
    Some(match lexer.next()? {
        Token::Word(word) => return word_value(file, word, lexer),
        Token::Str(text) => match file[start] {
            b'<' => Object::String(text.into_owned(), StringFormat::Hexadecimal),
            _ if file.get(lexer.offset().wrapping_sub(1)) == Some(&b')')
                && nesting_within_limit(&file[start..lexer.offset()]) =>
            {
                Object::String(text.into_owned(), StringFormat::Literal)
            }
            _ => return None,
        },
        Token::Name(name) => {
            escapes_complete(&file[start + 1..lexer.offset()]).then_some(())?;
            Object::Name(name.into_owned())
        }
        Token::ArrayStart => {
            let mut items = Vec::new();
            loop {
                if peek(file, lexer)? == b']' {
                    lexer.next();
                    break;
                }
                items.push(value(file, lexer, depth + 1)?);
            }
            Object::Array(items)
        }
        Token::DictStart => {
            let mut dict = Dictionary::new();
            loop {
                let at = peek(file, lexer).map(|_| lexer.offset())?;
                match lexer.next()? {
                    Token::DictEnd => break,
                    Token::Name(key) => {
                        escapes_complete(&file[at + 1..lexer.offset()]).then_some(())?;
                        let item = value(file, lexer, depth + 1)?;
                        dict.set(key.into_owned(), item);
                    }
                    _ => return None,
                }
            }
            Object::Dictionary(dict)
        }
        Token::Number(_) | Token::ArrayEnd | Token::DictEnd => return None,
    })
}

/// The next byte after white space and comments; `None` for a byte the
/// lexer steps over but lopdf stops at (a stray `)`, `{`, `}` or `>`).
fn peek(file: &[u8], lexer: &mut Lexer<'_>) -> Option<u8> {
    match lexer.peek_byte()? {
        b')' | b'{' | b'}' => None,
        b'>' if file.get(lexer.offset() + 1) != Some(&b'>') => None,
        b => Some(b),
    }
}

/// The next token, unless a stray byte stands before it.
fn next<'a>(file: &[u8], lexer: &mut Lexer<'a>) -> Option<Token<'a>> {
    peek(file, lexer)?;
    lexer.next()
}

/// A `<…>` string of hex digits and white space only, closed.
fn plain_hex(after_open: &[u8]) -> bool {
    match memchr::memchr(b'>', after_open) {
        Some(end) => after_open[..end]
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b" \t\n\r\0\x0C".contains(&b)),
        None => false,
    }
}

/// lopdf reads parentheses nested up to 100 deep inside a literal string.
fn nesting_within_limit(literal: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut escaped = false;
    for &b in literal {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'(' => {
                depth += 1;
                if depth > 101 {
                    return false;
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Every `#` in a name (as written, after its `/`) followed by two hex
/// digits.
fn escapes_complete(raw: &[u8]) -> bool {
    if !raw.contains(&b'#') {
        return true;
    }
    raw.iter().enumerate().all(|(i, &b)| {
        b != b'#'
            || (raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// A keyword, an integer (or the reference it begins) or a real.
fn word_value(file: &[u8], word: &[u8], lexer: &mut Lexer<'_>) -> Option<Object> {
    match word {
        b"null" => return Some(Object::Null),
        b"true" => return Some(Object::Boolean(true)),
        b"false" => return Some(Object::Boolean(false)),
        _ => {}
    }
    if let Some(number) = unsigned::<u32>(word) {
        let mut ahead = lexer.clone();
        if let Some(Token::Word(second)) = next(file, &mut ahead) {
            // lopdf's reference wants no space before its `R` and no
            // delimiter after it: `4 0R` and `4 0 RA` are references to it
            // where nothing has to follow, so such a file is its to read.
            let digits = second.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 && second.get(digits) == Some(&b'R') {
                return None;
            }
            // Most integers are not references: an `R` is looked for
            // before a token is read for it.
            if let Some(generation) = unsigned::<u16>(second)
                && ahead.peek_byte() == Some(b'R')
            {
                if next(file, &mut ahead) != Some(Token::Word(b"R")) {
                    return None;
                }
                *lexer = ahead;
                return Some(Object::Reference((number, generation)));
            }
        }
    }
    if let Some((integer, [])) = integer_prefix(word) {
        return Some(Object::Integer(integer));
    }
    let sign = usize::from(matches!(word.first(), Some(b'+' | b'-')));
    let body = &word[sign..];
    if body.iter().all(u8::is_ascii_digit) {
        // Digits past `i64`: lopdf fails on them too.
        return None;
    }
    let dot = body.iter().position(|&b| b == b'.')?;
    let (whole, fraction) = (&body[..dot], &body[dot + 1..]);
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty()) {
        let real = match short_decimal(word) {
            Some(real) => real,
            None => std::str::from_utf8(word).ok()?.parse().ok()?,
        };
        return Some(Object::Real(real));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, Builder};
    use super::*;
    use proptest::prelude::*;

    /// The document as lopdf loads it, in the parts our reader uses.
    fn assert_same(ours: &Document, theirs: &Document) {
        assert_eq!(ours.version, theirs.version);
        assert_eq!(ours.max_id, theirs.max_id);
        assert_eq!(ours.xref_start, theirs.xref_start);
        assert_eq!(
            format!("{:?}", ours.reference_table.entries),
            format!("{:?}", theirs.reference_table.entries)
        );
        assert_eq!(ours.reference_table.size, theirs.reference_table.size);
        assert!(ours.trailer == theirs.trailer, "trailer differs");
        let ids = |d: &Document| d.objects.keys().copied().collect::<Vec<_>>();
        assert_eq!(ids(ours), ids(theirs));
        for (id, object) in &ours.objects {
            assert!(
                Some(object) == theirs.objects.get(id),
                "object {id:?}: ours {object:?}, lopdf {:?}",
                theirs.objects.get(id)
            );
        }
    }

    fn same_as_lopdf(pdf: &[u8]) -> Document {
        let ours = load(pdf).expect("a plain file");
        let theirs = Document::load_mem(pdf).expect("lopdf reads it");
        assert_same(&ours, &theirs);
        ours
    }

    /// One file with most of the object syntax in it, written with CRLF
    /// line ends, comments between tokens, an indirect stream length and
    /// free entries in two subsections.
    fn varied() -> Vec<u8> {
        let objects: [&[u8]; 6] = [
            b"<< /Type /Catalog /Pages 2 0 R % the tree\r\n/Names#20X (a\\(b\\)c\\\\ \\101 (nested (twice)) \\\r\nend) >>",
            b"<< /Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 595.5 .5 -4. +3]/Hex <48 65\r\n6c6C 6> /Flags [true false null] >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 6 0 R >> >> /Deep [[[<< /A [1 2.5] >>]]] >>",
            b"<< /Type /Stream /Length 5 0 R >>\r\nstream\r\nBT /F1 12 Tf 72 700 Td (Hei) Tj ET\r\nendstream",
            b"34",
            b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
        ];
        let mut out = b"%PDF-1.6\r\n%\xe2\xe3\xcf\xd3\r\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\r\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\nendobj\r\n");
        }
        let xref = out.len();
        out.extend_from_slice(b"xref\r\n0 1\r\n0000000000 65535 f\r\n1 3\r\n");
        for off in &offsets[..3] {
            out.extend_from_slice(format!("{off:010} 00000 n\r\n").as_bytes());
        }
        out.extend_from_slice(b"4 4 \n0000000000 00000 f \n");
        for off in &offsets[4..] {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        // Object 4 comes last, after a free entry in the same subsection.
        out.extend_from_slice(b"7 1\n");
        out.extend_from_slice(format!("{:010} 00000 n \n", offsets[3]).as_bytes());
        out.extend_from_slice(
            format!("trailer\r\n<< /Size 8 /Root 1 0 R >>\r\nstartxref\r\n{xref}\r\n%%EOF\r\n")
                .as_bytes(),
        );
        out
    }

    #[test]
    fn reads_word_processor_output_as_lopdf_does() {
        let report = fixtures::report(
            &["Ansatt Kari Nordmann, fødselsnummer 150765 00565."],
            &[vec!["Navn", "Telefon"], vec!["Kari", "912 34 567"]],
        );
        let doc = same_as_lopdf(&report);
        assert!(doc.objects.len() > 5);
        assert_eq!(doc.page_iter().count(), 1);
    }

    #[test]
    fn reads_the_whole_object_syntax_as_lopdf_does() {
        let pdf = varied();
        let doc = same_as_lopdf(&pdf);
        // What each form reads as, so that agreeing with lopdf is not
        // agreeing on nothing.
        let catalog = doc.get_dictionary((1, 0)).expect("catalog");
        assert_eq!(
            catalog.get(b"Names X").ok(),
            Some(&Object::string_literal(
                &b"a(b)c\\ A (nested (twice)) end"[..]
            ))
        );
        let pages = doc.get_dictionary((2, 0)).expect("pages");
        let media: Vec<Object> = pages
            .get(b"MediaBox")
            .and_then(Object::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            media,
            vec![
                Object::Integer(0),
                Object::Integer(0),
                Object::Real(595.5),
                Object::Real(0.5),
                Object::Real(-4.0),
                Object::Integer(3)
            ]
        );
        assert_eq!(
            pages.get(b"Hex").ok(),
            Some(&Object::String(
                b"Hell`".to_vec(),
                StringFormat::Hexadecimal
            ))
        );
        let Ok(Object::Stream(content)) = doc.get_object((4, 0)) else {
            panic!("content stream");
        };
        assert_eq!(content.content, b"BT /F1 12 Tf 72 700 Td (Hei) Tj ET");
        assert_eq!(doc.page_iter().count(), 1);
    }

    #[test]
    fn a_later_revision_wins_and_the_earlier_fills_in() {
        let mut b = Builder::default();
        let font = b.object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        let content = b.stream("", b"BT /F1 9 Tf (Gammel) Tj ET", false);
        let root = fixtures::pages(&mut b, font, &[content], "");
        let mut pdf = b.finish(root);
        let first_xref = pdf_startxref(&pdf);
        // An incremental update replacing the content stream.
        let at = pdf.len();
        let body = b"BT /F1 9 Tf (Ny) Tj ET";
        pdf.extend_from_slice(
            format!("{content} 0 obj\n<< /Length {} >>\nstream\n", body.len()).as_bytes(),
        );
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!(
                "xref\n{content} 1\n{at:010} 00000 n \ntrailer\n<< /Size {} /Root {root} 0 R /Prev {first_xref} >>\nstartxref\n{xref}\n%%EOF\n",
                content + 1
            )
            .as_bytes(),
        );
        let doc = same_as_lopdf(&pdf);
        let Ok(Object::Stream(stream)) = doc.get_object((content as u32, 0)) else {
            panic!("content stream");
        };
        assert_eq!(stream.content, body);
        assert!(doc.trailer.get(b"Prev").is_err());
        let text = super::super::read(&pdf, limits())
            .map(|r| r.text)
            .unwrap_or_default();
        assert_eq!(text.trim(), "Ny");
    }

    #[test]
    fn an_offset_listed_twice_reads_as_lopdf_reads_it() {
        let mut pdf = varied();
        let first_xref = pdf_startxref(&pdf);
        let font = memchr::memmem::find(&pdf, b"6 0 obj").unwrap_or(0);
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!(
                "xref\n8 1\n{font:010} 00000 n \ntrailer\n<< /Size 9 /Root 1 0 R /Prev {first_xref} >>\nstartxref\n{xref}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let doc = same_as_lopdf(&pdf);
        assert_eq!(doc.max_id, 8);
        assert!(doc.get_dictionary((6, 0)).is_ok());
    }

    /// Found by the `pdf_objects` fuzz target: an offset listed again after
    /// another object claiming the same number was read must win again.
    #[test]
    fn the_last_listing_of_an_offset_decides_as_in_lopdf() {
        let pdf = include_bytes!(
            "../../../fuzz/regressions/pdf_objects/crash-dd5a475db0dde4ac9100e37c9bc2e10ad36eda2a"
        );
        same_as_lopdf(pdf);
    }

    /// Also found by the fuzzer: `4 0 RA` and `4 0R` are references to
    /// lopdf where nothing has to follow them; they are left to it.
    #[test]
    fn a_reference_run_into_other_bytes_is_left_to_lopdf() {
        let pdf = include_bytes!(
            "../../../fuzz/regressions/pdf_objects/crash-292ba3b94d1adff41b29be93f28fe6689af31858"
        );
        assert!(load(pdf).is_none());
        let with = |body: &str| {
            let mut b = Builder::default();
            let font = b.object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
            b.object(body);
            let content = b.stream("", b"BT /F1 9 Tf (Hei) Tj ET", false);
            let root = fixtures::pages(&mut b, font, &[content], "");
            b.finish(root)
        };
        same_as_lopdf(&with("1 0 R"));
        for body in ["1 0 RA", "1 0R", "1 0R5"] {
            assert!(load(&with(body)).is_none(), "{body}");
        }
    }

    fn pdf_startxref(pdf: &[u8]) -> usize {
        let mut at = memchr::memmem::rfind(pdf, b"startxref").unwrap_or(0) + 9;
        at += pdf[at..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let end = at + pdf[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        std::str::from_utf8(&pdf[at..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn limits() -> super::super::PdfLimits {
        super::super::PdfLimits {
            max_text: 1 << 20,
            max_stream: 1 << 24,
            max_total: 1 << 25,
            max_operations: 10_000_000,
        }
    }

    /// Files this loader leaves to lopdf, each for its own reason.
    #[test]
    fn leaves_what_is_not_plain_to_lopdf() {
        let plain = varied();
        let swap = |from: &[u8], to: &[u8]| {
            let at = memchr::memmem::find(&plain, from).unwrap_or(0);
            assert_eq!(from.len(), to.len(), "offsets must stay");
            let mut pdf = plain.clone();
            pdf[at..at + from.len()].copy_from_slice(to);
            pdf
        };
        assert!(load(&plain).is_some());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("encrypted", swap(b"/Root 1 0 R", b"/Encrypt 1 ")),
            (
                "hybrid table",
                swap(b"/Size 8 /Root 1 0 R", b"/Size 8 /XRefStm 9 "),
            ),
            ("object stream", swap(b"/Type /Stream", b"/Type /ObjStm")),
            ("length past the data", swap(b"34", b"37")),
            (
                "no line end after stream",
                swap(b"stream\r\nBT", b"stream  BT"),
            ),
            ("bad name escape", swap(b"/Names#20X", b"/Names#2X ")),
            ("stray delimiter", swap(b"/Flags [true", b"/Flags }true")),
            ("unfinished real", swap(b"595.5", b"595.x")),
            ("bad hex", swap(b"6c6C", b"6c6G")),
            ("no eof marker", swap(b"%%EOF", b"%%EOX")),
            ("bad table line", swap(b"65535 f\r\n", b"65535 f\n\n")),
            ("not a table", swap(b"xref\r\n0 1", b"xrex\r\n0 1")),
        ];
        for (why, pdf) in cases {
            assert!(load(&pdf).is_none(), "{why}");
        }
    }

    #[test]
    fn a_literal_nested_past_lopdfs_limit_is_left_to_lopdf() {
        let deep = format!("{}x{}", "(".repeat(102), ")".repeat(102));
        assert!(!nesting_within_limit(deep.as_bytes()));
        let ok = format!("{}x{}", "(".repeat(101), ")".repeat(101));
        assert!(nesting_within_limit(ok.as_bytes()));
        assert!(nesting_within_limit(br"(\(\(\(\()"));
    }

    /// Every byte of a file with most of the syntax in it, changed to each
    /// of the bytes that matter to the grammar: wherever this loader still
    /// answers, lopdf reads the same document.
    #[test]
    fn every_one_byte_change_reads_as_lopdf_reads_it() {
        let plain = varied();
        let mut answered = 0;
        for at in 0..plain.len() {
            for &byte in b" \n)<>]/#.R" {
                let mut pdf = plain.clone();
                pdf[at] = byte;
                let Some(ours) = load(&pdf) else {
                    continue;
                };
                answered += 1;
                match Document::load_mem(&pdf) {
                    Ok(theirs) => assert_same(&ours, &theirs),
                    Err(e) => panic!("byte {at} as {:?}: lopdf fails ({e})", byte as char),
                }
            }
        }
        // Most changes land in places that keep the file plain.
        assert!(answered > plain.len() * 2, "{answered}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever bytes a file is changed to, where this loader answers
        /// it answers what lopdf does.
        #[test]
        fn where_it_answers_lopdf_agrees(
            changes in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
                b" \r\n\t%()<>[]{}/#0159.+-Rnobjtrueflsxf\\".to_vec()
            )), 1..4),
            base in 0usize..2,
        ) {
            let mut pdf = if base == 0 {
                varied()
            } else {
                fixtures::report(&["Kari 150765 00565"], &[vec!["Navn"], vec!["Kari"]])
            };
            for (at, byte) in changes {
                let at = at.index(pdf.len());
                pdf[at] = byte;
            }
            if let Some(ours) = load(&pdf) {
                let theirs = Document::load_mem(&pdf);
                prop_assert!(theirs.is_ok(), "lopdf could not read what we read");
                if let Ok(theirs) = theirs {
                    assert_same(&ours, &theirs);
                }
            }
        }
    }
}
