//! Reads a message's plain text parts before mail-parser sees it, so that
//! mail-parser only walks the structure, headers and attachments.
//!
//! Why: text is the bulk of office mail, and mail-parser reads it a byte at a
//! time: its quoted-printable decoder, its search for the next boundary and
//! its lossy UTF-8 conversion were the largest costs of a local scan. Here
//! the runs between `=` signs and line ends are copied whole, boundaries are
//! found with a vectorised substring search, and UTF-8 is validated in one
//! call.
//!
//! A text part read here (`text/*`; quoted-printable, base64, 7bit, 8bit or no
//! transfer encoding) is decoded to the very string mail-parser would have
//! produced (same charset decoders, same trailing-space removal, soft breaks
//! and line ends), handed back keyed by where its body starts in the
//! rewritten message, and its body emptied there. A quoted-printable part
//! whose charset or content this module leaves to mail-parser is still
//! decoded here and marked `8bit`. One deliberate difference: lowercase hex
//! digits (`=e5`) decode as the hex they are, where mail-parser 0.11
//! misreads them.
//!
//! It is deliberately narrow: it only touches a message whose MIME structure
//! it understands exactly as mail-parser will (every header line well formed,
//! every boundary at a line start, every multipart closed, one
//! `Content-Transfer-Encoding` per part). Anything else is left for
//! mail-parser, which reads it as before, problems and all.

use memchr::memmem;
use std::borrow::Cow;

/// Nesting deeper than this is left to mail-parser.
const MAX_DEPTH: usize = 16;

/// Above this size a message is only rewritten when its text parts are a
/// good share of it (see [`prepare`]).
const LARGE_MESSAGE: usize = 1 << 20;

/// A message prepared for mail-parser.
#[derive(Debug)]
pub struct Prepared {
    /// The rewritten message.
    pub bytes: Vec<u8>,
    /// Text parts read here: where each part's (now empty) body starts in
    /// `bytes`, which is mail-parser's `offset_body` for it, and its text.
    pub texts: Vec<(usize, String)>,
    /// Base64 attachments decoded here, keyed the same way.
    pub binaries: Vec<(usize, Vec<u8>)>,
}

/// The message with its text parts read out, or `None` when there is
/// nothing to do or the structure is not one this module handles.
pub fn prepare(raw: &[u8]) -> Option<Prepared> {
    let mut edits = Vec::new();
    entity(raw, 0, raw.len(), &[], 0, &mut edits)?;
    if edits.is_empty() {
        return None;
    }
    // The rewritten message is a copy: for a large message that is mostly
    // attachment, the copy would cost more memory than the text saves time.
    let replaced: usize = edits.iter().map(|e| e.end - e.start).sum();
    if raw.len() > LARGE_MESSAGE && replaced < raw.len() / 4 {
        return None;
    }
    edits.sort_by_key(|e| e.start);
    let mut bytes = Vec::with_capacity(raw.len());
    let mut texts = Vec::new();
    let mut binaries = Vec::new();
    let mut at = 0;
    for edit in edits {
        bytes.extend_from_slice(&raw[at..edit.start]);
        match edit.content {
            Some(Content::Text(text)) => texts.push((bytes.len(), text)),
            Some(Content::Binary(data)) => binaries.push((bytes.len(), data)),
            None => {}
        }
        bytes.extend_from_slice(&edit.bytes);
        at = edit.end;
    }
    bytes.extend_from_slice(&raw[at..]);
    Some(Prepared {
        bytes,
        texts,
        binaries,
    })
}

/// Bytes `start..end` of the message replaced by `bytes`; for an emptied
/// body, what was there.
struct Edit {
    start: usize,
    end: usize,
    bytes: Vec<u8>,
    content: Option<Content>,
}

/// What an emptied body held.
enum Content {
    Text(String),
    Binary(Vec<u8>),
}

/// The header facts this module needs from one entity.
#[derive(Default)]
struct Head {
    content_type: Option<Vec<u8>>,
    /// Where the value of `Content-Transfer-Encoding` is, if it is on one line.
    encoding: Option<(usize, usize)>,
    /// Whether there is a `Content-Transfer-Encoding` at all.
    saw_encoding: bool,
    /// Where the body starts.
    body: usize,
}

/// Reads the header block of the entity at `start..end`. `None` when a line is
/// not a header field, a field we rely on is repeated or folded, or the block
/// never ends.
fn head(raw: &[u8], start: usize, end: usize) -> Option<Head> {
    let mut head = Head::default();
    let mut at = start;
    let mut current_is_content_type = false;
    while at < end {
        let line_end = memchr::memchr(b'\n', &raw[at..end]).map_or(end, |p| at + p);
        let next = (line_end + 1).min(end);
        let line = &raw[at..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if line_end == end {
                return None; // no body: nothing to decode, nothing to trust
            }
            head.body = next;
            return Some(head);
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if current_is_content_type {
                let value = head.content_type.as_mut()?;
                value.push(b' ');
                value.extend_from_slice(line.trim_ascii());
            }
            at = next;
            continue;
        }
        let colon = memchr::memchr(b':', line)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return None;
        }
        current_is_content_type = name.eq_ignore_ascii_case(b"content-type");
        if current_is_content_type {
            if head.content_type.is_some() {
                return None;
            }
            head.content_type = Some(line[colon + 1..].trim_ascii().to_vec());
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            if head.saw_encoding {
                return None;
            }
            head.saw_encoding = true;
            let continued = raw.get(next).is_some_and(|&b| b == b' ' || b == b'\t');
            if !continued {
                let value_start = at + colon + 1;
                head.encoding = Some((value_start, at + line.len()));
            }
        }
        at = next;
    }
    None
}

/// How a text part's body is encoded, as far as this module reads it.
enum Transfer {
    QuotedPrintable,
    Base64,
    /// 7bit, 8bit, binary or none: the bytes are the content.
    Identity,
}

/// Reads the text part whose body is `head.body..end` (for a part of a
/// multipart, up to its next delimiter, the line break before it included).
fn text_part(raw: &[u8], head: &Head, end: usize, ancestors: &[&[u8]], edits: &mut Vec<Edit>) {
    let encoding = head
        .encoding
        .map(|(start, end)| raw[start..end].trim_ascii().to_ascii_lowercase());
    let transfer = match encoding.as_deref() {
        Some(b"quoted-printable") => Transfer::QuotedPrintable,
        Some(b"base64") => Transfer::Base64,
        None | Some(b"7bit" | b"8bit" | b"binary") => Transfer::Identity,
        Some(_) => return,
    };
    if head.encoding.is_none() && head.saw_encoding {
        return; // a folded Content-Transfer-Encoding: mail-parser's to read
    }
    let body = &raw[head.body..end];
    let in_multipart = !ancestors.is_empty();
    // The bytes mail-parser would decode as this part's content, and the
    // line break that belongs to the next delimiter.
    let (content, line_break): (Cow<'_, [u8]>, &[u8]) = match transfer {
        Transfer::QuotedPrintable => match decode(body) {
            Some(decoded) if in_multipart => {
                if decoded.ended != Ended::LineEnd {
                    return;
                }
                let cut = if decoded.crlf { 2 } else { 1 };
                let mut bytes = decoded.bytes;
                bytes.truncate(bytes.len() - cut);
                (bytes.into(), line_break_before(body))
            }
            Some(decoded) => (decoded.bytes.into(), b""),
            None => return,
        },
        // Line breaks mean nothing to base64: the one before the delimiter
        // is skipped like the others.
        Transfer::Base64 => match fast_base64(body).or_else(|| decode_base64(body)) {
            Some(bytes) => (bytes.into(), line_break_before(body)),
            None => return,
        },
        Transfer::Identity if in_multipart => {
            let line_break = line_break_before(body);
            (body[..body.len() - line_break.len()].into(), line_break)
        }
        Transfer::Identity => (body.into(), b""),
    };
    let content = match charset_text(head.content_type.as_deref(), content) {
        Ok(text) => {
            edits.push(Edit {
                start: head.body,
                end,
                bytes: line_break.to_vec(),
                content: Some(Content::Text(text)),
            });
            return;
        }
        Err(content) => content,
    };
    // Not read here: a quoted-printable body is still decoded for
    // mail-parser, unless the decoded bytes would read as a delimiter.
    let (Transfer::QuotedPrintable, Some((value_start, value_end))) = (transfer, head.encoding)
    else {
        return;
    };
    if ancestors.iter().any(|b| contains_delimiter(&content, b)) {
        return;
    }
    let mut bytes = content.into_owned();
    bytes.extend_from_slice(line_break);
    edits.push(Edit {
        start: value_start,
        end: value_end,
        bytes: b" 8bit".to_vec(),
        content: None,
    });
    edits.push(Edit {
        start: head.body,
        end,
        bytes,
        content: None,
    });
}

/// Decodes a base64 attachment (a part that is neither text, multipart nor
/// a message) here, where mail-parser would decode it a byte at a time:
/// attachments are most of the bytes of an office mailbox.
fn binary_part(raw: &[u8], head: &Head, end: usize, ancestors: &[&[u8]], edits: &mut Vec<Edit>) {
    let Some(content_type) = head.content_type.as_deref() else {
        return; // its default depends on the multipart: mail-parser's call
    };
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if media.len() >= 8 && media[..8].eq_ignore_ascii_case(b"message/") {
        return;
    }
    let Some((value_start, value_end)) = head.encoding else {
        return;
    };
    if !raw[value_start..value_end]
        .trim_ascii()
        .eq_ignore_ascii_case(b"base64")
    {
        return;
    }
    let body = &raw[head.body..end];
    let Some(data) = fast_base64(body).or_else(|| decode_base64(body)) else {
        return;
    };
    let line_break = if ancestors.is_empty() {
        &b""[..]
    } else {
        line_break_before(body)
    };
    edits.push(Edit {
        start: head.body,
        end,
        bytes: line_break.to_vec(),
        content: Some(Content::Binary(data)),
    });
}

/// Base64 as writers wrap it (whole groups, padding only at the end),
/// decoded by a vectorised decoder (AVX2 or SSE4.1 where the processor has
/// them, found at run time); `None` for anything else, which
/// [`decode_base64`] reads as mail-parser would.
fn fast_base64(body: &[u8]) -> Option<Vec<u8>> {
    let mut compact = Vec::with_capacity(body.len());
    // Writers wrap at one width: a line as long as the first (its line end
    // included) is taken without searching for its end. A line that is
    // really shorter leaves white space inside what is copied, which the
    // decoder refuses, and the careful reader has it.
    let stride = memchr::memchr(b'\n', body).map_or(0, |p| p + 1);
    let mut at = 0;
    while at < body.len() {
        if let Some(line) = body.get(at..at + stride)
            && line.last() == Some(&b'\n')
        {
            compact.extend_from_slice(line.trim_ascii_end());
            at += stride;
            continue;
        }
        let line_end = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |p| at + p);
        let line = body[at..line_end].trim_ascii_end();
        compact.extend_from_slice(line);
        at = line_end + 1;
    }
    if compact.len() % 4 != 0 {
        return None;
    }
    let padding = compact.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 || memchr::memchr(b'=', &compact[..compact.len() - padding]).is_some() {
        return None;
    }
    base64_simd::STANDARD.decode_to_vec(&compact).ok()
}

/// Values of the base64 alphabet; `SKIP` for the white space mail-parser
/// passes over, `STOP` for what it reports as an encoding problem (which
/// includes `-`, so a stray delimiter never hides in a base64 body).
const SKIP: u8 = 0xFE;
const STOP: u8 = 0xFF;
const PAD: u8 = 0xFD;
const BASE64: [u8; 256] = {
    let mut table = [STOP; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'=' as usize] = PAD;
    table[b' ' as usize] = SKIP;
    table[b'\t' as usize] = SKIP;
    table[b'\r' as usize] = SKIP;
    table[b'\n' as usize] = SKIP;
    table
};

/// Decodes a base64 body as mail-parser does: white space skipped, `=`
/// flushing a partial group (and decoding going on after it, for
/// concatenated blocks), a trailing partial group without `=` dropped.
/// `None` where mail-parser would report an encoding problem.
fn decode_base64(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut group: u32 = 0;
    let mut count = 0;
    for &b in body {
        match BASE64[usize::from(b)] {
            SKIP => {}
            STOP => return None,
            PAD => {
                let bytes = group.to_be_bytes();
                match count {
                    1 | 2 => out.push(bytes[1]),
                    3 => out.extend_from_slice(&bytes[1..3]),
                    _ => {}
                }
                group = 0;
                count = 0;
            }
            value => {
                group |= u32::from(value) << (18 - 6 * count);
                count += 1;
                if count == 4 {
                    out.extend_from_slice(&group.to_be_bytes()[1..4]);
                    group = 0;
                    count = 0;
                }
            }
        }
    }
    Some(out)
}

/// The line break a part body ends with before its delimiter (`\r\n`, `\n`
/// or nothing).
fn line_break_before(body: &[u8]) -> &'static [u8] {
    if body.ends_with(b"\r\n") {
        b"\r\n"
    } else if body.ends_with(b"\n") {
        b"\n"
    } else {
        b""
    }
}

/// The text mail-parser would make of `content` under this Content-Type's
/// charset, with its own decoders; the content handed back when the
/// charset parameter is written in a way this module does not parse, or
/// the text holds NULs (UTF-16 without a label, which the extractor decodes
/// by its BOM).
fn charset_text<'c>(
    content_type: Option<&[u8]>,
    content: Cow<'c, [u8]>,
) -> Result<String, Cow<'c, [u8]>> {
    let charset = match content_type {
        Some(value) => match parameter(value, b"charset") {
            Some(charset) => charset,
            None => return Err(content),
        },
        None => None,
    };
    // 8-bit text without a charset (or mislabelled ASCII) that is not UTF-8
    // is left to the extractor, which reads it as Windows-1252.
    let unlabelled = charset
        .is_none_or(|c| c.eq_ignore_ascii_case(b"us-ascii") || c.eq_ignore_ascii_case(b"ascii"));
    let Some(decoder) = charset.and_then(mail_parser::decoders::charsets::map::charset_decoder)
    else {
        return utf8_text(content, unlabelled);
    };
    if unlabelled && std::str::from_utf8(&content).is_err() {
        return Err(content);
    }
    let text = latin1(decoder, &content).unwrap_or_else(|| decoder(&content));
    if has_nul(text.as_bytes()) {
        return Err(content);
    }
    Ok(text)
}

/// A NUL byte anywhere: `str::contains('\0')` searches a word at a time,
/// this a vector at a time, and it runs over every text part.
pub fn has_nul(bytes: &[u8]) -> bool {
    memchr::memchr(0, bytes).is_some()
}

/// UTF-8 text, or text with no charset: validated once, and content decoded
/// here (quoted-printable, base64) becomes the text without a copy. Text
/// is most of the bytes of a mailbox; validating it twice and copying it
/// were a tenth of a scan.
fn utf8_text(content: Cow<'_, [u8]>, unlabelled: bool) -> Result<String, Cow<'_, [u8]>> {
    fn lossy(content: Cow<'_, [u8]>, unlabelled: bool) -> Result<String, Cow<'_, [u8]>> {
        if unlabelled {
            return Err(content);
        }
        let text = String::from_utf8_lossy(&content).into_owned();
        if has_nul(text.as_bytes()) {
            return Err(content);
        }
        Ok(text)
    }
    match content {
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) if has_nul(text.as_bytes()) => Err(Cow::Owned(text.into_bytes())),
            Ok(text) => Ok(text),
            Err(e) => lossy(Cow::Owned(e.into_bytes()), unlabelled),
        },
        Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if has_nul(text.as_bytes()) => Err(Cow::Borrowed(bytes)),
            Ok(text) => Ok(text.to_owned()),
            Err(_) => lossy(Cow::Borrowed(bytes), unlabelled),
        },
    }
}

/// mail-parser's decoder for ISO-8859-1 and Windows-1252 (it reads both as
/// Windows-1252), and the character it makes of each byte.
type SingleByte = (fn(&[u8]) -> String, [char; 256]);

static LATIN1: std::sync::LazyLock<Option<SingleByte>> = std::sync::LazyLock::new(|| {
    let decoder = mail_parser::decoders::charsets::map::charset_decoder(b"iso-8859-1")?;
    let mut table = ['\0'; 256];
    for (byte, slot) in (0..=255u8).zip(table.iter_mut()) {
        let text = decoder(&[byte]);
        let mut chars = text.chars();
        *slot = chars.next()?;
        if chars.next().is_some() {
            return None;
        }
    }
    // Runs of ASCII are copied whole: only if ASCII reads as itself.
    table
        .iter()
        .take(128)
        .zip(0..128u8)
        .all(|(&c, b)| c == char::from(b))
        .then_some((decoder, table))
});

/// Text in the Latin-1 family as mail-parser's own decoder makes it (its
/// table, read from that decoder), with runs of ASCII copied whole instead
/// of a character at a time: `None` for any other decoder. Most Norwegian
/// mail that is not UTF-8 is ISO-8859-1 or Windows-1252.
fn latin1(decoder: fn(&[u8]) -> String, content: &[u8]) -> Option<String> {
    let (known, table) = LATIN1.as_ref()?;
    if !std::ptr::fn_addr_eq(decoder, *known) {
        return None;
    }
    let mut text = Vec::with_capacity(content.len() + content.len() / 8);
    let mut rest = content;
    while !rest.is_empty() {
        let ascii = first_byte_where(rest, 0, |b| !b.is_ascii());
        text.extend_from_slice(&rest[..ascii]);
        if let Some(&byte) = rest.get(ascii) {
            let mut utf8 = [0; 4];
            text.extend_from_slice(table[usize::from(byte)].encode_utf8(&mut utf8).as_bytes());
        }
        rest = rest.get(ascii + 1..).unwrap_or_default();
    }
    // Valid by construction; checked once, over the whole text, rather
    // than trusted (no `unsafe` here).
    String::from_utf8(text).ok()
}

/// The first byte at or after `from` for which `wanted` holds, or the end
/// of `bytes`: sixteen bytes at a time without an early exit inside a step,
/// which the compiler vectorises. For runs that are long in most text (no
/// digit, no byte outside ASCII).
#[inline]
pub(crate) fn first_byte_where(bytes: &[u8], from: usize, wanted: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 16) {
        if chunk.iter().fold(false, |any, &b| any | wanted(b)) {
            break;
        }
        i += 16;
    }
    bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| wanted(b)))
        .map_or(bytes.len(), |p| i + p)
}

/// A parameter of a header value: `Some(None)` when absent, `None` when it
/// is written in a form left to mail-parser (RFC 2231, escapes, repeats).
fn parameter<'v>(value: &'v [u8], name: &[u8]) -> Option<Option<&'v [u8]>> {
    if value.contains(&b'\\') || value.contains(&b'(') {
        return None;
    }
    let mut found = None;
    for param in value.split(|&b| b == b';').skip(1) {
        let param = param.trim_ascii();
        let Some(eq) = memchr::memchr(b'=', param) else {
            continue;
        };
        let key = param[..eq].trim_ascii();
        if key.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return None;
            }
            let v = param[eq + 1..].trim_ascii();
            let v = match v.strip_prefix(b"\"") {
                Some(quoted) => quoted.strip_suffix(b"\"")?,
                None => v,
            };
            if v.is_empty() || v.contains(&b'"') {
                return None;
            }
            found = Some(v);
        } else if key.len() > name.len()
            && key[..name.len()].eq_ignore_ascii_case(name)
            && key[name.len()] == b'*'
        {
            return None;
        }
    }
    Some(found)
}

/// What a Content-Type value says, as far as this module cares.
enum Shape {
    Multipart(Vec<u8>),
    Text,
    Other,
}

fn shape(content_type: Option<&[u8]>) -> Option<Shape> {
    let Some(value) = content_type else {
        return Some(Shape::Other);
    };
    let media = value
        .split(|&b| b == b';')
        .next()?
        .trim_ascii()
        .to_ascii_lowercase();
    if media.starts_with(b"text/") {
        return Some(Shape::Text);
    }
    if !media.starts_with(b"multipart/") {
        return Some(Shape::Other);
    }
    let boundary = parameter(value, b"boundary")?;
    boundary.map(|b| Shape::Multipart(b.to_vec()))
}

/// Walks the entity at `start..end`, collecting edits. `None` means "leave
/// the whole message alone".
fn entity(
    raw: &[u8],
    start: usize,
    end: usize,
    ancestors: &[&[u8]],
    depth: usize,
    edits: &mut Vec<Edit>,
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let Some(head) = head(raw, start, end) else {
        // A part without a body has nothing to decode; anything else odd in
        // a header block is mail-parser's to judge.
        let entity = &raw[start..end];
        let has_body =
            memmem::find(entity, b"\n\n").is_some() || memmem::find(entity, b"\n\r\n").is_some();
        return if has_body { None } else { Some(()) };
    };
    // Without a Content-Type a message is text/plain; a part of a multipart
    // may be something else (message/rfc822 in a digest), left to
    // mail-parser.
    let shape = match head.content_type.as_deref() {
        None if ancestors.is_empty() => Shape::Text,
        content_type => shape(content_type)?,
    };
    match shape {
        Shape::Other => {
            binary_part(raw, &head, end, ancestors, edits);
            Some(())
        }
        Shape::Text => {
            text_part(raw, &head, end, ancestors, edits);
            Some(())
        }
        Shape::Multipart(boundary) => {
            if ancestors.contains(&boundary.as_slice()) {
                return None;
            }
            let mut lineage = ancestors.to_vec();
            lineage.push(&boundary);
            let parts = split(raw, head.body, end, &boundary)?;
            for (part_start, part_end) in parts {
                entity(raw, part_start, part_end, &lineage, depth + 1, edits)?;
            }
            Some(())
        }
    }
}

/// `--boundary`, as it starts every delimiter line.
fn delimiter(boundary: &[u8]) -> Vec<u8> {
    [b"--", boundary].concat()
}

fn contains_delimiter(bytes: &[u8], boundary: &[u8]) -> bool {
    memmem::find(bytes, &delimiter(boundary)).is_some()
}

/// The parts of the multipart body at `start..end`: each from after its
/// delimiter line to the start of the next delimiter (its line break
/// included). `None` unless every `--boundary` is a delimiter at a line
/// start, followed by a line end or `--`, and the last one closes.
fn split(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Option<Vec<(usize, usize)>> {
    let needle = delimiter(boundary);
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut closed = false;
    for found in memmem::find_iter(&raw[start..end], &needle) {
        let at = start + found;
        if closed || (at > 0 && raw[at - 1] != b'\n') {
            return None;
        }
        let after = at + needle.len();
        let rest = &raw[after..end];
        if let Some(start_of_part) = open {
            parts.push((start_of_part, at));
        }
        if rest.starts_with(b"--") {
            closed = true;
            continue;
        }
        let spaces = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let rest = &rest[spaces..];
        let line_end = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            return None;
        };
        open = Some(after + spaces + line_end);
    }
    closed.then_some(parts)
}

/// How a quoted-printable body ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// With a line end written out: the last byte was a hard line break.
    LineEnd,
    /// Anything else (mid-line, soft break, dangling `=`).
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Plain,
    Equals,
    FirstHex(u8),
}

/// The value of a hexadecimal digit (either case).
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// A decoded quoted-printable body.
struct Decoded {
    bytes: Vec<u8>,
    ended: Ended,
    /// Whether line breaks were written as `\r\n`.
    crlf: bool,
}

/// Decodes a quoted-printable body as mail-parser does (see the module doc);
/// `None` where mail-parser would report an encoding problem (`==`).
fn decode(body: &[u8]) -> Option<Decoded> {
    decode_with(body, false)
}

/// Decodes a quoted-printable body that mail-parser found broken (`==`):
/// an `=` that starts no valid escape is kept as written, and decoding goes
/// on, so soft line breaks elsewhere in the part still join what they split.
pub fn decode_quoted_printable_leniently(body: &[u8]) -> Vec<u8> {
    decode_with(body, true).map(|d| d.bytes).unwrap_or_default()
}

fn decode_with(body: &[u8], lenient: bool) -> Option<Decoded> {
    let mut out = Vec::with_capacity(body.len());
    let mut state = State::Plain;
    // Literal whitespace at the end of the current line, dropped at a hard
    // line break; `\r` anywhere makes every line break `\r\n`.
    let mut trailing_space = 0usize;
    let mut crlf = false;
    let mut last = 0u8;
    let mut ended_line = false;
    let mut i = 0;
    while i < body.len() {
        if state == State::Plain {
            // An escape (`=C3`, most of them in Norwegian text) at once:
            // what the three steps below would do with it.
            if body[i] == b'='
                && let Some(&[high, low]) = body.get(i + 1..i + 3)
                && let (Some(h), Some(l)) = (hex(high), hex(low))
            {
                out.push(h << 4 | l);
                trailing_space = 0;
                last = low;
                ended_line = false;
                i += 3;
                continue;
            }
            // A run of plain bytes; none when this one is special (the
            // search would find it here, at the cost of setting one up).
            let run_end = if matches!(body[i], b'=' | b'\n' | b'\r') {
                i
            } else {
                memchr::memchr3(b'=', b'\n', b'\r', &body[i..]).map_or(body.len(), |p| i + p)
            };
            if run_end > i {
                let run = &body[i..run_end];
                out.extend_from_slice(run);
                trailing_space = match run.iter().rposition(|b| !b.is_ascii_whitespace()) {
                    Some(p) => run.len() - 1 - p,
                    None => trailing_space + run.len(),
                };
                last = run[run.len() - 1];
                ended_line = false;
                i = run_end;
                continue;
            }
        }
        let ch = body[i];
        i += 1;
        ended_line = false;
        match ch {
            b'=' => {
                match state {
                    State::Plain => {}
                    _ if !lenient => return None,
                    State::Equals => {
                        out.push(b'=');
                        trailing_space = 0;
                    }
                    State::FirstHex(_) => {
                        out.extend_from_slice(&[b'=', last]);
                        trailing_space = 0;
                    }
                }
                state = State::Equals;
            }
            b'\n' => {
                if state == State::Equals {
                    state = State::Plain;
                } else {
                    out.truncate(out.len() - trailing_space);
                    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                    ended_line = state == State::Plain;
                }
                trailing_space = 0;
            }
            b'\r' => crlf = true,
            _ => match state {
                State::Plain => {
                    // The run copy above takes these bytes; this is the same
                    // rule one byte at a time.
                    out.push(ch);
                    trailing_space = if ch.is_ascii_whitespace() {
                        trailing_space + 1
                    } else {
                        0
                    };
                }
                State::Equals => {
                    if let Some(h) = hex(ch) {
                        state = State::FirstHex(h);
                    } else if !ch.is_ascii_whitespace() {
                        state = State::Plain;
                        out.extend_from_slice(&[b'=', ch]);
                        trailing_space = 0;
                    }
                }
                State::FirstHex(high) => {
                    state = State::Plain;
                    match hex(ch) {
                        Some(low) => out.push(high << 4 | low),
                        None => out.extend_from_slice(&[b'=', last, ch]),
                    }
                    trailing_space = 0;
                }
            },
        }
        last = ch;
    }
    let ended = if ended_line {
        Ended::LineEnd
    } else {
        Ended::Other
    };
    Some(Decoded {
        bytes: out,
        ended,
        crlf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_text_is_decoded_as_mail_parser_decodes_it() {
        use mail_parser::decoders::charsets::map::charset_decoder;
        let all: Vec<u8> = (0..=255u8)
            .chain(b"Bl\xe5b\xe6rsyltet\xf8y \x80\x81\x9f".iter().copied())
            .collect();
        for label in [
            &b"iso-8859-1"[..],
            b"ISO-8859-1",
            b"windows-1252",
            b"latin1",
            b"cp1252",
        ] {
            let decoder = charset_decoder(label).expect("a decoder");
            // The fast path is taken, not just agreed with.
            let fast = latin1(decoder, &all).expect("the Latin-1 family's decoder");
            assert_eq!(fast, decoder(&all));
        }
        let other = charset_decoder(b"iso-8859-2").expect("a decoder");
        assert!(latin1(other, b"x").is_none());
        // ASCII is skipped sixteen bytes at a time: a Latin-1 byte at every
        // offset across several steps, alone and in pairs.
        let decoder = charset_decoder(b"iso-8859-1").expect("a decoder");
        for len in 0..70 {
            for at in 0..len {
                let mut bytes = b"x".repeat(len);
                bytes[at] = 0xF8;
                if at + 1 < len {
                    bytes[at + 1] = 0xE5;
                }
                assert_eq!(latin1(decoder, &bytes), Some(decoder(&bytes)), "{len} {at}");
            }
            assert_eq!(
                first_byte_where(&b"x".repeat(len), 0, |b| !b.is_ascii()),
                len
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn latin1_equals_mail_parser_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let decoder = mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252").expect("a decoder");
            proptest::prop_assert_eq!(latin1(decoder, &bytes), Some(decoder(&bytes)));
        }
    }
    use mail_parser::{MessageParser, PartType};

    /// Every part as mail-parser reads it (kind, text or bytes, encoding
    /// problem), with the texts read here put back where their body was.
    /// `None` when mail-parser panics on it, which its debug assertions do
    /// on some malformed quoted-printable (the extractor catches that).
    fn reading(raw: &[u8], prepared: bool) -> Option<Vec<(String, Vec<u8>, bool)>> {
        let prepared = if prepared { prepare(raw) } else { None };
        let (bytes, texts, binaries) = match &prepared {
            Some(p) => (&p.bytes[..], &p.texts[..], &p.binaries[..]),
            None => (raw, &[][..], &[][..]),
        };
        let message = std::panic::catch_unwind(|| MessageParser::default().parse(bytes))
            .ok()?
            .expect("parses");
        let mut used = 0;
        let parts = message
            .parts
            .iter()
            .map(|p| {
                let read_here = texts
                    .iter()
                    .find(|(offset, _)| *offset == p.offset_body as usize)
                    .map(|(_, t)| t.as_bytes().to_vec());
                let decoded_here = binaries
                    .iter()
                    .find(|(offset, _)| *offset == p.offset_body as usize)
                    .map(|(_, b)| b.clone());
                used += usize::from(read_here.is_some()) + usize::from(decoded_here.is_some());
                let (kind, bytes) = match &p.body {
                    PartType::Text(t) => ("text", read_here.unwrap_or(t.as_bytes().to_vec())),
                    PartType::Html(t) => ("html", read_here.unwrap_or(t.as_bytes().to_vec())),
                    PartType::Binary(b) | PartType::InlineBinary(b) => {
                        ("binary", decoded_here.unwrap_or(b.to_vec()))
                    }
                    PartType::Message(_) => ("message", Vec::new()),
                    PartType::Multipart(ids) => {
                        ("multipart", ids.iter().map(|&i| i as u8).collect())
                    }
                };
                (kind.to_string(), bytes, p.is_encoding_problem)
            })
            .collect();
        assert_eq!(
            used,
            texts.len() + binaries.len(),
            "everything read here lands on a part"
        );
        Some(parts)
    }

    /// Whether `prepare` changed the message, after checking that the
    /// change reads the same.
    fn reads_the_same(raw: &[u8]) -> bool {
        let changed = prepare(raw).is_some();
        if let Some(original) = reading(raw, false) {
            assert_eq!(
                Some(original),
                reading(raw, true),
                "\nraw: {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        changed
    }

    const SINGLE: &str = "From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";

    /// What mail-parser would read differently on purpose: text holding a
    /// NUL (UTF-16 without a label) and 8-bit text without a charset are
    /// given back whole, decoded here or not, for the extractor.
    #[test]
    fn nul_text_and_unlabelled_8bit_are_given_back() {
        let utf8 = Some(&b"text/plain; charset=utf-8"[..]);
        let ascii = Some(&b"text/plain; charset=us-ascii"[..]);
        let plain = Some(&b"text/plain"[..]);
        // The Content-Type, the content, and the text or `None` for given back.
        type Case<'a> = (Option<&'a [u8]>, &'a [u8], Option<&'a str>);
        let cases: [Case<'_>; 9] = [
            (utf8, b"a\0b", None),
            (utf8, b"bad \xe5\0", None),
            (plain, b"a\0b", None),
            (plain, b"bad \xe5", None),
            (None, b"bad \xe5", None),
            (ascii, b"bad \xe5", None),
            (utf8, b"bad \xe5", Some("bad \u{fffd}")),
            (utf8, "Blåbær".as_bytes(), Some("Blåbær")),
            (None, b"plain", Some("plain")),
        ];
        for (content_type, bytes, want) in cases {
            for content in [Cow::Borrowed(bytes), Cow::Owned(bytes.to_vec())] {
                let got = charset_text(content_type, content.clone());
                match want {
                    Some(text) => assert_eq!(got, Ok(text.to_string()), "{bytes:?}"),
                    None => assert_eq!(got, Err(content), "{bytes:?}"),
                }
            }
        }
    }

    #[test]
    fn single_part_reads_the_same() {
        for body in [
            "Hei p=C3=A5 deg  \r\nlinje to=\r\n forts=\r\netter\r\n",
            "soft =\nbreak and =3D sign\n",
            "dangling =",
            "bad =ZZ hex and =4 half\n",
            "trailing tab\t\t\nand = spaced soft break =  \nnext\n",
            "",
        ] {
            let raw = format!("{SINGLE}{body}");
            assert!(reads_the_same(raw.as_bytes()), "{body:?} was not read");
        }
        assert!(reads_the_same(
            b"Subject: plain\n\nno content type at all\n"
        ));
        assert!(reads_the_same(
            b"Content-Type: text/plain; charset=\"ISO-8859-1\"\nContent-Transfer-Encoding: 8bit\n\nBl\xe5b\xe6r\n"
        ));
        // Every way a UTF-8 or unlabelled text may be given back to
        // mail-parser or read here, decoded here (owned) or not (borrowed):
        // valid, invalid, with a NUL; labelled, unlabelled, mislabelled
        // ASCII. Each reads as mail-parser alone reads it.
        for (charset, encoding, body) in [
            ("utf-8", "quoted-printable", "Bl=C3=A5b=C3=A6r\n"),
            ("utf-8", "quoted-printable", "null =00 inside\n"),
            ("utf-8", "quoted-printable", "bad =E5 byte\n"),
            ("us-ascii", "quoted-printable", "bad =E5 byte\n"),
            ("us-ascii", "quoted-printable", "utf-8 =C3=A5\n"),
            ("", "quoted-printable", "bad =E5 byte\n"),
            ("", "quoted-printable", "null =00 inside\n"),
            ("utf-8", "8bit", "Bl\u{e5}b\u{e6}r\n"),
            ("utf-8", "8bit", "null \0 inside\n"),
            ("", "8bit", "null \0 inside\n"),
            ("us-ascii", "8bit", "utf-8 \u{e5}\n"),
            ("utf-8", "base64", "QmzDpWLDpnIK\n"),
            ("utf-8", "base64", "bnVsbCAAIGluc2lkZQo=\n"),
        ] {
            let charset = if charset.is_empty() {
                String::new()
            } else {
                format!("; charset={charset}")
            };
            let raw = format!(
                "Content-Type: text/plain{charset}\nContent-Transfer-Encoding: {encoding}\n\n{body}"
            );
            reads_the_same(raw.as_bytes());
        }
        let invalid = b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nbad \xe5 byte\n";
        reads_the_same(invalid);
        let unlabelled =
            b"Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nbad \xe5 byte\n";
        reads_the_same(unlabelled);
    }

    #[test]
    fn multipart_reads_the_same() {
        let raw = "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed;\n boundary=\"outer\"\n\npreamble\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: Quoted-Printable\n\nBl=E5b=E6r  \nsyltet=F8y=\n\n--inner\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>Bl=C3=A5b=C3=A6r</p>\n--inner--\n--outer\nContent-Type: text/plain; name=\"a.txt\"\nContent-Disposition: attachment; filename=\"a.txt\"\n\nattached text\r\n--outer\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--outer--\nepilogue\n";
        assert!(reads_the_same(raw.as_bytes()));
        let prepared = prepare(raw.as_bytes()).expect("prepared");
        let texts: Vec<&str> = prepared.texts.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            ["Blåbær\nsyltetøy", "<p>Blåbær</p>", "attached text"]
        );
    }

    #[test]
    fn a_large_base64_attachment_is_decoded_here_and_left_out_of_the_copy() {
        let attachment = "QUFB\n".repeat(300_000);
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nHei=\n du\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n{attachment}--b--\n"
        );
        assert!(raw.len() > LARGE_MESSAGE);
        assert!(reads_the_same(raw.as_bytes()));
        let prepared = prepare(raw.as_bytes()).expect("prepared");
        assert!(prepared.bytes.len() < 400, "{}", prepared.bytes.len());
        assert_eq!(prepared.binaries.len(), 1);
        assert_eq!(prepared.binaries[0].1.len(), 900_000);
        assert!(
            prepare(&raw.as_bytes()[..raw.len() / 4]).is_none(),
            "cut: not closed"
        );
    }

    #[test]
    fn a_large_message_that_is_mostly_undecoded_attachment_is_not_copied() {
        // Binary without transfer encoding: nothing to decode ahead, and the
        // copy would cost more than the text saves.
        let attachment = "AAAA\n".repeat(300_000);
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nHei=\n du\n--b\nContent-Type: application/octet-stream\n\n{attachment}--b--\n"
        );
        assert!(raw.len() > LARGE_MESSAGE);
        assert!(prepare(raw.as_bytes()).is_none());
        let small = raw.replace(&attachment, "AAAA\n");
        assert!(prepare(small.as_bytes()).is_some());
    }

    #[test]
    fn base64_attachments_read_the_same_in_every_shape() {
        // Canonical, unpadded, padded, wrapped at odd widths, CRLF, inner
        // spaces, bad characters, non-canonical trailing bits, padding in
        // the middle (concatenated blocks): each decodes as mail-parser
        // would, by the fast path or the exact one.
        for body in [
            "SGVpIHDDpSBkZWc=",
            "SGVpIHDDpSBkZWc",
            "SGVp\nIHDD\npSBk\nZWc=",
            "SGVpIHDDp\r\nSBkZWc=\r\n",
            "SGVp IHDD pSBk ZWc=",
            "SGVp*IHDD",
            "SGVpIHDDpSBkZWd=",
            "SGVp=IHDDpSBkZWc=",
            "",
            // Wrapped at one width, and lines that break it: shorter with a
            // line end where the width's would be, longer, CRLF mixed with
            // LF, trailing blanks.
            "SGVpIHDD\npSBkZWMg\nZGVnIGhl\naSBkdQ==\n",
            "SGVpIH\nDD\nAAA\nBBBB\n",
            "SGVp\nIHDDpSBkZWc=\n",
            "SGVpIHDD \r\npSBkZWMg \r\nZGVn\r\n",
            "SGVpIHDD\r\npSBkZWMg\nZGVnIGhl\r\naSBkdQ==",
        ] {
            for ct in ["application/pdf", "image/png; name=a.png"] {
                let raw = format!(
                    "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: {ct}\nContent-Transfer-Encoding: base64\n\n{body}\n--b--\n"
                );
                reads_the_same(raw.as_bytes());
            }
            let single = format!(
                "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n{body}\n"
            );
            reads_the_same(single.as_bytes());
        }
        // A forwarded message in base64 stays mail-parser's to read.
        let forwarded = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogaGVpCgpoZWkK\n--b--\n";
        reads_the_same(forwarded.as_bytes());
        assert!(prepare(forwarded.as_bytes()).is_none_or(|p| p.binaries.is_empty()));
    }

    #[test]
    fn broken_quoted_printable_is_decoded_leniently() {
        assert_eq!(
            decode_quoted_printable_leniently(b"a == b, fnr 230478=\n10027, =4=3D, =C3=A5\n"),
            // White space after an `=` is skipped as a soft break's would be.
            "a ==b, fnr 23047810027, =4=, å\n".as_bytes()
        );
        assert_eq!(
            decode(b"a == b\n").map(|d| d.bytes),
            None,
            "strict: mail-parser's verdict"
        );
    }

    #[test]
    fn lowercase_hex_decodes_as_hex() {
        let raw = format!("{SINGLE}Bl=c3=a5b=c3=a6r\r\n");
        let prepared = prepare(raw.as_bytes()).expect("prepared");
        assert_eq!(prepared.texts[0].1, "Blåbær\r\n");
    }

    #[test]
    fn a_part_left_to_mail_parser_still_has_its_quoted_printable_decoded() {
        // RFC 2231 charset: not parsed here.
        let raw = "Content-Type: text/plain; charset*=utf-8''x\nContent-Transfer-Encoding: quoted-printable\n\nBl=C3=A5\n";
        assert!(reads_the_same(raw.as_bytes()));
        let prepared = prepare(raw.as_bytes()).expect("prepared");
        assert!(prepared.texts.is_empty());
        assert!(String::from_utf8_lossy(&prepared.bytes).contains("8bit\n\nBlå"));
    }

    #[test]
    fn what_is_not_understood_is_left_alone() {
        for raw in [
            // `==` is an encoding problem mail-parser reports.
            format!("{SINGLE}a == b\r\n"),
            // Not a transfer encoding read here.
            "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n".to_string(),
            // Not base64: mail-parser reports it.
            "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGV*p\n".to_string(),
            // A boundary inside a line.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx --b y\n--b--\n".to_string(),
            // Never closed.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=20\n".to_string(),
            // A header line that is not a field.
            "Content-Type: text/plain\nnot a header\nContent-Transfer-Encoding: quoted-printable\n\nx=20\n".to_string(),
            // Ends in a soft break before the delimiter.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=\n--b--\n".to_string(),
            // UTF-16 without a label: the extractor reads it by its BOM.
            "Content-Type: text/plain\n\n\u{0}h\u{0}i\n".to_string(),
        ] {
            assert!(!reads_the_same(raw.as_bytes()), "{raw:?} was changed");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Whatever the bodies, encodings and charsets, the prepared message
        /// reads as mail-parser reads the original (uppercase hex only:
        /// lowercase is the one deliberate difference).
        #[test]
        fn preparing_changes_nothing_mail_parser_reads(
            first in "[a-z =\\t\\r\\n0-9A-F-]{0,40}|[A-Za-z0-9+/= \\r\\n]{0,40}",
            second in "[a-zé =\\t\\r\\n0-9A-F-]{0,40}",
            encodings in proptest::sample::subsequence(vec!["quoted-printable", "8bit", "7bit", "QUOTED-PRINTABLE", "binary", "base64"], 2),
            charset in proptest::sample::select(vec!["; charset=utf-8", "; charset=\"iso-8859-1\"", "", "; charset=us-ascii", "; charset=windows-1252"]),
            crlf in proptest::bool::ANY,
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let single = format!("Content-Type: text/plain{charset}{nl}Content-Transfer-Encoding: {}{nl}{nl}{first}", encodings[0]);
            reads_the_same(single.as_bytes());
            let multi = format!(
                "Content-Type: multipart/alternative; boundary=\"zz\"{nl}{nl}--zz{nl}Content-Type: text/plain{charset}{nl}Content-Transfer-Encoding: {}{nl}{nl}{first}{nl}--zz{nl}Content-Type: text/html{nl}Content-Transfer-Encoding: {}{nl}{nl}{second}{nl}--zz--{nl}",
                encodings[0], encodings[1]
            );
            reads_the_same(multi.as_bytes());
        }
    }
}
