//! Undoes quoted-printable in a message's text parts before mail-parser sees
//! it, rewriting them as `8bit`.
//!
//! Why: quoted-printable is how most office mail carries its text, and
//! mail-parser's decoder (byte at a time through its stream, watching for the
//! boundary on every byte) was the largest single cost of a local scan. This
//! decoder copies the runs between `=` signs and line ends whole.
//!
//! It is deliberately narrow: it only touches a message whose MIME structure
//! it understands exactly as mail-parser will (every header line well formed,
//! every boundary at a line start, every multipart closed, one
//! `Content-Transfer-Encoding` per part), and only text parts whose encoding
//! decodes cleanly. Anything else is left for mail-parser, which reads it as
//! before, problems and all. Within what it touches, the decoded bytes are
//! those mail-parser would produce (trailing-space removal, soft breaks, line
//! ends as written), with one deliberate difference: lowercase hex digits
//! (`=e5`) decode as the hex they are, where mail-parser 0.11 misreads them.

use memchr::memmem;

/// Nesting deeper than this is left to mail-parser.
const MAX_DEPTH: usize = 16;

/// The message with its quoted-printable text parts decoded and marked
/// `8bit`, or `None` when there is nothing to do or the structure is not one
/// this module handles.
pub fn inline_quoted_printable(raw: &[u8]) -> Option<Vec<u8>> {
    let mut edits = Vec::new();
    entity(raw, 0, raw.len(), &[], 0, &mut edits)?;
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.start);
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for edit in edits {
        out.extend_from_slice(&raw[at..edit.start]);
        out.extend_from_slice(&edit.bytes);
        at = edit.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// Bytes `start..end` of the message replaced by `bytes`.
struct Edit {
    start: usize,
    end: usize,
    bytes: Vec<u8>,
}

/// The header facts this module needs from one entity.
#[derive(Default)]
struct Head {
    content_type: Option<Vec<u8>>,
    /// Where the value of `Content-Transfer-Encoding` is, if it is on one line.
    encoding: Option<(usize, usize)>,
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
    let mut seen_encoding = false;
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
            if seen_encoding {
                return None;
            }
            seen_encoding = true;
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

/// What a Content-Type value says, as far as this module cares.
enum Shape {
    Multipart(Vec<u8>),
    Text,
    Other,
}

fn shape(content_type: Option<&[u8]>) -> Option<Shape> {
    let Some(value) = content_type else {
        // No Content-Type: text/plain, except in a multipart/digest, which
        // this module does not track; mail-parser decides.
        return Some(Shape::Other);
    };
    let mut params = value.split(|&b| b == b';');
    let media = params.next()?.trim_ascii().to_ascii_lowercase();
    if media.starts_with(b"text/") {
        return Some(Shape::Text);
    }
    if !media.starts_with(b"multipart/") {
        return Some(Shape::Other);
    }
    if value.contains(&b'\\') || value.contains(&b'(') {
        return None; // escapes or comments: leave to mail-parser
    }
    let mut boundary = None;
    for param in params {
        let param = param.trim_ascii();
        let Some(eq) = memchr::memchr(b'=', param) else {
            continue;
        };
        let name = param[..eq].trim_ascii();
        if name.eq_ignore_ascii_case(b"boundary") {
            if boundary.is_some() {
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
            boundary = Some(v.to_vec());
        } else if name.to_ascii_lowercase().starts_with(b"boundary") {
            return None; // RFC 2231 continuations
        }
    }
    boundary.map(Shape::Multipart)
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
    match shape(head.content_type.as_deref())? {
        Shape::Other => Some(()),
        Shape::Text => {
            let Some((value_start, value_end)) = head.encoding else {
                return Some(());
            };
            let value = raw[value_start..value_end].trim_ascii();
            if !value.eq_ignore_ascii_case(b"quoted-printable") {
                return Some(());
            }
            let body = &raw[head.body..end];
            let in_multipart = !ancestors.is_empty();
            let decoded = match decode(body) {
                // Inside a multipart the body ends with the line break
                // that belongs to the next delimiter, and must decode to a
                // clean line end for mail-parser to strip it as before.
                Some((bytes, Ended::LineEnd)) if in_multipart => bytes,
                Some((bytes, _)) if !in_multipart => bytes,
                _ => return Some(()),
            };
            // A decoded delimiter would split the part differently.
            if ancestors.iter().any(|b| contains_delimiter(&decoded, b)) {
                return Some(());
            }
            edits.push(Edit {
                start: value_start,
                end: value_end,
                bytes: b" 8bit".to_vec(),
            });
            edits.push(Edit {
                start: head.body,
                end,
                bytes: decoded,
            });
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

fn contains_delimiter(bytes: &[u8], boundary: &[u8]) -> bool {
    let mut needle = b"--".to_vec();
    needle.extend_from_slice(boundary);
    memmem::find(bytes, &needle).is_some()
}

/// The parts of the multipart body at `start..end`: each from after its
/// delimiter line to the start of the next delimiter (its line break
/// included). `None` unless every `--boundary` is a delimiter at a line
/// start, followed by a line end or `--`, and the last one closes.
fn split(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut needle = b"--".to_vec();
    needle.extend_from_slice(boundary);
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

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes a quoted-printable body as mail-parser does (see the module doc);
/// `None` where mail-parser would report an encoding problem (`==`).
fn decode(body: &[u8]) -> Option<(Vec<u8>, Ended)> {
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
            let run_end =
                memchr::memchr3(b'=', b'\n', b'\r', &body[i..]).map_or(body.len(), |p| i + p);
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
                if state != State::Plain {
                    return None;
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
                    // Reached only for a run of length zero, which cannot be.
                    out.push(ch);
                    trailing_space = 0;
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
    Some((out, ended))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, PartType};

    /// Every part as mail-parser reads it: kind, text or bytes, and whether
    /// it reported an encoding problem.
    fn parts(raw: &[u8]) -> Vec<(String, Vec<u8>, bool)> {
        let message = MessageParser::default().parse(raw).expect("parses");
        message
            .parts
            .iter()
            .map(|p| {
                let (kind, bytes) = match &p.body {
                    PartType::Text(t) => ("text", t.as_bytes().to_vec()),
                    PartType::Html(t) => ("html", t.as_bytes().to_vec()),
                    PartType::Binary(b) | PartType::InlineBinary(b) => ("binary", b.to_vec()),
                    PartType::Message(_) => ("message", Vec::new()),
                    PartType::Multipart(ids) => {
                        ("multipart", ids.iter().map(|&i| i as u8).collect())
                    }
                };
                (kind.to_string(), bytes, p.is_encoding_problem)
            })
            .collect()
    }

    fn assert_same_reading(raw: &[u8]) -> bool {
        match inline_quoted_printable(raw) {
            Some(rewritten) => {
                assert_eq!(
                    parts(raw),
                    parts(&rewritten),
                    "\nraw: {:?}\nrewritten: {:?}",
                    String::from_utf8_lossy(raw),
                    String::from_utf8_lossy(&rewritten)
                );
                true
            }
            None => false,
        }
    }

    const SINGLE: &str = "From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";

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
            assert!(
                assert_same_reading(raw.as_bytes()),
                "{body:?} was not rewritten"
            );
        }
    }

    #[test]
    fn multipart_reads_the_same() {
        let raw = "From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed;\n boundary=\"outer\"\n\npreamble\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: Quoted-Printable\n\nBl=E5b=E6r  \nsyltet=F8y=\n\n--inner\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>Bl=C3=A5b=C3=A6r</p>\n--inner--\n--outer\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--outer--\nepilogue\n";
        assert!(assert_same_reading(raw.as_bytes()));
        let rewritten = inline_quoted_printable(raw.as_bytes()).expect("rewritten");
        let text = String::from_utf8_lossy(&rewritten);
        assert!(text.contains("<p>Blåbær</p>"), "{text}");
    }

    #[test]
    fn lowercase_hex_decodes_as_hex() {
        let raw = format!("{SINGLE}Bl=c3=a5b=c3=a6r\r\n");
        let rewritten = inline_quoted_printable(raw.as_bytes()).expect("rewritten");
        let message = MessageParser::default().parse(&rewritten).expect("parses");
        assert_eq!(message.body_text(0).as_deref(), Some("Blåbær\r\n"));
    }

    #[test]
    fn what_is_not_understood_is_left_alone() {
        for raw in [
            // `==` is an encoding problem mail-parser reports.
            format!("{SINGLE}a == b\r\n"),
            // Not quoted-printable.
            "Content-Type: text/plain\n\nplain\n".to_string(),
            // A boundary inside a line.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx --b y\n--b--\n".to_string(),
            // Never closed.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=20\n".to_string(),
            // A header line that is not a field.
            "Content-Type: text/plain\nnot a header\nContent-Transfer-Encoding: quoted-printable\n\nx=20\n".to_string(),
            // Ends in a soft break before the delimiter.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=\n--b--\n".to_string(),
            // Decodes to a delimiter.
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=2D=2Db\n--b--\n".to_string(),
        ] {
            assert_eq!(inline_quoted_printable(raw.as_bytes()), None, "{raw:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the body, the rewritten message reads as mail-parser
        /// reads the original (uppercase hex only: lowercase is the one
        /// deliberate difference).
        #[test]
        fn rewriting_changes_nothing_mail_parser_reads(
            first in "[a-z =\\t\\r\\n0-9A-F-]{0,40}",
            second in "[a-zé =\\t\\r\\n0-9A-F-]{0,40}",
            crlf in proptest::bool::ANY,
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let single = format!("{SINGLE}{first}");
            assert_same_reading(single.as_bytes());
            let multi = format!(
                "Content-Type: multipart/alternative; boundary=\"zz\"{nl}{nl}--zz{nl}Content-Type: text/plain; charset=utf-8{nl}Content-Transfer-Encoding: quoted-printable{nl}{nl}{first}{nl}--zz{nl}Content-Type: text/html{nl}Content-Transfer-Encoding: quoted-printable{nl}{nl}{second}{nl}--zz--{nl}"
            );
            assert_same_reading(multi.as_bytes());
        }
    }
}
