//! Extraction: everything a person could read in a message, as text pieces
//! tagged with where they came from.
//!
//! Bad input is data here, never a panic: a part that cannot be read becomes a
//! [`Problem`] with its location, and the rest of the message is still read.
//! Hard limits on depth, decompressed size and extracted text keep a zip bomb
//! or a giant PDF from taking a run down; past a limit the part is reported as
//! not scanned, never silently skipped.

pub mod calendar;
pub mod cms;
pub mod flowed;
pub mod html;
pub mod office;
pub mod pdf;
pub mod pdfguard;
pub mod predecode;
pub mod rtf;
pub mod table;
pub mod tnef;

use crate::model::{Envelope, Location, Problem, ProblemKind};
use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::io::{Cursor, Read};

/// Hard limits per message. The defaults are generous for real mail and tight
/// for adversarial input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Forwarded messages and archives inside each other.
    pub max_depth: usize,
    /// Decompressed size of one file inside an archive or document.
    pub max_file_bytes: u64,
    /// Decompressed bytes across the whole message.
    pub max_total_decompressed: u64,
    /// Text handed to the detectors per message.
    pub max_text_bytes: usize,
    /// Members read from one archive.
    pub max_archive_entries: usize,
    /// PDFs larger than this are not parsed (text extraction is superlinear on
    /// some documents).
    pub max_pdf_bytes: usize,
    /// How long the PDF library may take over one document.
    pub pdf_time: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_file_bytes: 64 << 20,
            max_total_decompressed: 256 << 20,
            max_text_bytes: 32 << 20,
            max_archive_entries: 10_000,
            max_pdf_bytes: 32 << 20,
            pdf_time: std::time::Duration::from_secs(60),
        }
    }
}

/// What extraction learnt besides the text: the header facts rules match on,
/// and the problems met.
#[derive(Debug, Default)]
pub struct Extraction {
    pub envelope: Envelope,
    pub problems: Vec<Problem>,
}

/// Extracts every readable piece of `raw`, handing each to `sink` with its
/// location. Never panics on malformed input.
pub fn extract(raw: &[u8], limits: &Limits, sink: &mut dyn FnMut(&Location, &str)) -> Extraction {
    let prepared = predecode::prepare(raw);
    match &prepared {
        Some(p) => extract_parsed(&p.bytes, &p.texts, &p.binaries, limits, sink),
        None => extract_parsed(raw, &[], &[], limits, sink),
    }
}

/// Extraction of `raw` as mail-parser reads it, with `read_ahead` the text
/// parts and `binaries` the base64 attachments [`predecode::prepare`] has
/// read (keyed by the offset of their emptied bodies).
fn extract_parsed(
    raw: &[u8],
    read_ahead: &[(usize, String)],
    binaries: &[(usize, Vec<u8>)],
    limits: &Limits,
    sink: &mut dyn FnMut(&Location, &str),
) -> Extraction {
    let mut walker = Walker {
        limits,
        sink,
        problems: Vec::new(),
        problems_seen: Default::default(),
        text_used: 0,
        decompressed: 0,
        read_ahead,
        read_ahead_used: vec![false; read_ahead.len()],
        binaries,
        binaries_used: vec![false; binaries.len()],
    };
    let parser = parser();
    // mail-parser has debug assertions that malformed input can trip (found
    // by fuzzing): a panic in the parser is an unparseable message.
    let parsed = std::panic::catch_unwind(|| parser.parse(raw))
        .ok()
        .flatten();
    let envelope = match parsed {
        Some(message) => {
            let envelope = envelope_of(&message);
            walker.message(&message, None, 0);
            envelope
        }
        None => {
            // Not MIME at all: read it as text so nothing goes unscanned.
            walker.problem(Location::Body, ProblemKind::Unparseable);
            let text = String::from_utf8_lossy(raw);
            walker.emit(&Location::Body, &text);
            Envelope::default()
        }
    };
    // Text read ahead always lands on its part; should one ever not, it is
    // still read rather than lost.
    for (i, (_, text)) in read_ahead.iter().enumerate() {
        if !walker.read_ahead_used[i] {
            walker.emit(&Location::Body, text);
        }
    }
    for (i, (_, data)) in binaries.iter().enumerate() {
        if !walker.binaries_used[i] {
            let location = Location::Body.child(&format!("part{i}"));
            walker.file("", "", data, location, 0);
        }
    }
    Extraction {
        envelope,
        problems: walker.problems,
    }
}

/// mail-parser set to parse only the header fields extraction reads (the
/// MIME fields, Date, Subject, the address fields; Message-ID is read raw)
/// and to keep every other field raw: its full parse of `Received` chains,
/// `DKIM-Signature` and the like was a tenth of a scan, for nothing.
fn parser() -> &'static MessageParser {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| MessageParser::new().with_minimal_headers())
}

fn envelope_of(message: &Message<'_>) -> Envelope {
    let addresses = |addr: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        addr.map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
    };
    let mut to = addresses(message.to());
    to.extend(addresses(message.cc()));
    Envelope {
        message_id: message
            .header_raw("Message-ID")
            .map(|v| v.trim().to_string())
            .unwrap_or_default(),
        date_header: message
            .date()
            .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0)),
        from: addresses(message.from()),
        from_name: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name())
            .map(|n| n.trim().to_string())
            .unwrap_or_default(),
        to,
        subject: message.subject().unwrap_or_default().to_string(),
    }
}

struct Walker<'a> {
    limits: &'a Limits,
    sink: &'a mut dyn FnMut(&Location, &str),
    problems: Vec<Problem>,
    problems_seen: std::collections::HashSet<Problem>,
    text_used: usize,
    decompressed: u64,
    /// Text parts of the top-level message read before parsing.
    read_ahead: &'a [(usize, String)],
    read_ahead_used: Vec<bool>,
    /// Base64 attachments of the top-level message decoded before parsing.
    binaries: &'a [(usize, Vec<u8>)],
    binaries_used: Vec<bool>,
}

/// What was read ahead for `part` (keyed by its body's offset), marked
/// used; only parts of the top-level message (`base` is `None`) were.
fn claim<'a, T>(
    items: &'a [(usize, T)],
    used: &mut [bool],
    base: Option<&Location>,
    part: &mail_parser::MessagePart<'_>,
) -> Option<&'a T> {
    if base.is_some() {
        return None;
    }
    let i = items
        .iter()
        .position(|(offset, _)| *offset == part.offset_body as usize)?;
    used[i] = true;
    Some(&items[i].1)
}

/// What a file looks like inside, from its first bytes, type and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    Pdf,
    Email,
    Html,
    /// iCalendar (`.ics`, `text/calendar`): unfolded, Outlook's ids left out.
    Calendar,
    /// RTF: `.rtf` files, `text/rtf`.
    Rtf,
    /// Outlook's TNEF (`winmail.dat`): body and attached files inside.
    Tnef,
    /// Opaque-signed S/MIME: a MIME entity inside CMS SignedData.
    SignedData,
    Text,
    /// A format with text we cannot read (legacy binary Office, TNEF,
    /// S/MIME signed data): reported.
    Unsupported,
    /// Encrypted content (S/MIME enveloped data, OpenPGP): reported.
    Encrypted,
    /// Images, audio and the like: no text to read.
    Opaque,
}

fn sniff(name: &str, content_type: &str, bytes: &[u8]) -> Kind {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let ct = content_type.to_ascii_lowercase();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    // Readers accept a PDF header anywhere in the first kilobyte.
    if bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Kind::Pdf;
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Kind::Unsupported; // OLE2: .doc, .xls, .msg
    }
    // S/MIME: enveloped data is encrypted; signed data carries readable
    // content inside a structure we do not read yet.
    if ct.starts_with("application/pkcs7-mime")
        || ct.starts_with("application/x-pkcs7-mime")
        || ext == "p7m"
    {
        return if ct.contains("signed-data") {
            Kind::SignedData
        } else {
            Kind::Encrypted
        };
    }
    // PGP/MIME: the control part says only "Version: 1"; the message itself
    // is armored or binary OpenPGP.
    if ct == "application/pgp-encrypted" {
        return Kind::Opaque;
    }
    if is_pgp_message(bytes) || matches!(ext.as_str(), "pgp" | "gpg") {
        return Kind::Encrypted;
    }
    // Outlook's TNEF container (winmail.dat), by its signature too.
    if matches!(
        ct.as_str(),
        "application/ms-tnef" | "application/vnd.ms-tnef"
    ) || name.eq_ignore_ascii_case("winmail.dat")
        || bytes.starts_with(&[0x78, 0x9F, 0x3E, 0x22])
    {
        return Kind::Tnef;
    }
    if ct == "text/rtf" || ct == "application/rtf" || ext == "rtf" || bytes.starts_with(b"{\\rtf") {
        return Kind::Rtf;
    }
    if ct == "message/rfc822" || ext == "eml" {
        return Kind::Email;
    }
    if ct == "text/html" || ext == "html" || ext == "htm" {
        return Kind::Html;
    }
    if ct == "text/calendar" || ct == "application/ics" || ext == "ics" {
        return Kind::Calendar;
    }
    let text_ext = [
        "txt", "csv", "tsv", "json", "xml", "md", "log", "ics", "vcf", "rtf", "ini", "yaml", "yml",
    ];
    if ct.starts_with("text/")
        || matches!(
            ct.as_str(),
            "application/json" | "application/xml" | "application/csv" | "application/rtf"
        )
        || text_ext.contains(&ext.as_str())
    {
        return Kind::Text;
    }
    if matches!(ext.as_str(), "doc" | "xls" | "ppt" | "msg") {
        return Kind::Unsupported;
    }
    Kind::Opaque
}

/// Content-stream tokens read per PDF: about a second of work, far more
/// than a thousand pages of office text need.
const PDF_OPERATIONS: u64 = 50_000_000;

/// What the PDF reader made of a document.
enum PdfText {
    /// The text, and whether a limit cut it short.
    Text(String, bool),
    Encrypted,
    Corrupt,
    /// Still at work when its time was up.
    TooSlow,
}

/// The text of a PDF, read on a thread of its own with a time limit: our
/// reader counts its operations, but the object parser under it (lopdf, for
/// files not plain enough for our own loader) has loops no limit of ours
/// reaches, and the scan must not wait on one
/// attachment for ever. Each scanning thread keeps one reader thread
/// (a thread per document cost more than some documents); a reader past its
/// time is abandoned (it finishes on its own, its result dropped) and a
/// fresh one serves the next document.
fn pdf_text(bytes: &[u8], limits: pdf::PdfLimits, limit: std::time::Duration) -> PdfText {
    thread_local! {
        static READER: std::cell::RefCell<Option<PdfReader>> = const { std::cell::RefCell::new(None) };
    }
    READER.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = PdfReader::start();
        }
        let Some(reader) = slot.as_ref() else {
            return PdfText::TooSlow;
        };
        let (reply, answer) = std::sync::mpsc::channel();
        if reader.jobs.send((bytes.to_vec(), limits, reply)).is_err() {
            *slot = None;
            return PdfText::Corrupt;
        }
        match answer.recv_timeout(limit) {
            Ok(text) => text,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                *slot = None;
                PdfText::TooSlow
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                *slot = None;
                PdfText::Corrupt
            }
        }
    })
}

/// A PDF to read, its limits, and where to send the answer.
type PdfJob = (Vec<u8>, pdf::PdfLimits, std::sync::mpsc::Sender<PdfText>);

/// A thread that reads PDFs one at a time for one scanning thread.
struct PdfReader {
    jobs: std::sync::mpsc::Sender<PdfJob>,
}

impl PdfReader {
    fn start() -> Option<PdfReader> {
        let (jobs, incoming) = std::sync::mpsc::channel::<PdfJob>();
        std::thread::Builder::new()
            .name("mailhygiene-pdf".into())
            .spawn(move || {
                for (bytes, limits, reply) in incoming {
                    // A panic in the object parser on a malformed document is
                    // bad input, not a reason to stop the run.
                    let result = std::panic::catch_unwind(|| pdf::read(&bytes, limits));
                    let _ = reply.send(match result {
                        Ok(Ok(read)) => PdfText::Text(read.text, read.cut),
                        Ok(Err(pdf::PdfError::Encrypted)) => PdfText::Encrypted,
                        _ => PdfText::Corrupt,
                    });
                }
            })
            .ok()?;
        Some(PdfReader { jobs })
    }
}

/// An ASCII-armored OpenPGP message (possibly after some blank space).
fn is_pgp_message(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN PGP MESSAGE-----")
}

/// Decodes bytes of unknown charset: a BOM, else UTF-8, else Windows-1252
/// (what Norwegian office software writes when it is not UTF-8).
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// A text part as its reader sees it: 8-bit text without a charset label
/// (payroll and HR exports) read as Windows-1252 rather than with
/// replacement characters where its `ø` and no-break spaces were; a
/// calendar unfolded and stripped of Outlook's identifiers; flowed text
/// (RFC 3676) with its soft breaks undone.
fn as_written<'t>(
    message: &Message<'_>,
    part: &mail_parser::MessagePart<'_>,
    content_type: &str,
    name: Option<&str>,
    text: &'t str,
) -> std::borrow::Cow<'t, str> {
    use std::borrow::Cow;
    let ct = part.content_type();
    let attribute = |key: &str| ct.and_then(|c| c.attribute(key));
    let mut text: Cow<'t, str> = Cow::Borrowed(text);
    let unlabelled = attribute("charset")
        .is_none_or(|c| c.eq_ignore_ascii_case("us-ascii") || c.eq_ignore_ascii_case("ascii"));
    if unlabelled && text.contains('\u{FFFD}') {
        let bytes = lenient_body(message, part);
        if std::str::from_utf8(&bytes).is_err() {
            text = Cow::Owned(decode_text(&bytes));
        }
    }
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    if content_type.eq_ignore_ascii_case("text/calendar") || ext.as_deref() == Some("ics") {
        return Cow::Owned(calendar::text(&text));
    }
    if content_type.eq_ignore_ascii_case("text/rtf") || ext.as_deref() == Some("rtf") {
        let read = rtf::read(text.as_bytes(), text.len().saturating_mul(2));
        return Cow::Owned(read.readable().into_owned());
    }
    if attribute("format").is_some_and(|f| f.eq_ignore_ascii_case("flowed")) {
        let delsp = attribute("delsp").is_some_and(|d| d.eq_ignore_ascii_case("yes"));
        return Cow::Owned(flowed::unflow(&text, delsp));
    }
    text
}

/// HTML parts of a `multipart/alternative` that also has a plain-text part:
/// the same content twice, and reading it once halves the work on the most
/// common shape of office mail. (The plain part is what Outlook and every
/// other client generate from the HTML.)
fn redundant_html_alternatives(message: &Message<'_>) -> std::collections::HashSet<usize> {
    let mut skip = std::collections::HashSet::new();
    for part in &message.parts {
        let PartType::Multipart(children) = &part.body else {
            continue;
        };
        let is_alternative = part
            .content_type()
            .and_then(|ct| ct.subtype())
            .is_some_and(|s| s.eq_ignore_ascii_case("alternative"));
        if !is_alternative {
            continue;
        }
        let child = |id: &u32| message.parts.get(*id as usize);
        let has_plain = children
            .iter()
            .filter_map(child)
            .any(|p| matches!(p.body, PartType::Text(_)) && !p.is_encoding_problem);
        if has_plain {
            skip.extend(
                children
                    .iter()
                    .filter(|id| child(id).is_some_and(|p| matches!(p.body, PartType::Html(_))))
                    .map(|id| *id as usize),
            );
        }
    }
    skip
}

/// A part's body with its transfer encoding undone as far as possible: base64
/// with junk characters skipped, quoted-printable, or the bytes as they are.
fn lenient_body(message: &Message<'_>, part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let encoding = part
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .and_then(|h| h.value().as_text())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "base64" => lenient_base64(raw),
        "quoted-printable" => predecode::decode_quoted_printable_leniently(raw),
        _ => raw.to_vec(),
    }
}

/// Decodes base64, skipping every byte outside the alphabet and stopping at
/// padding or the end; a trailing partial group yields what it can.
pub fn lenient_base64(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut n = 0;
    for &b in raw {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Replaces long digit runs in a file name, which becomes part of a location
/// in every output, so `sykmelding_15076500565.pdf` does not leak its number.
/// The name itself is scanned as text, so the number is still found.
pub fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let chars: Vec<char> = name.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 4 {
                out.extend(std::iter::repeat_n('#', i - start));
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.replace('/', "_")
}

impl<'a> Walker<'a> {
    fn problem(&mut self, location: Location, kind: ProblemKind) {
        let p = Problem { location, kind };
        // A set beside the list: an archive of ten thousand broken members
        // must not compare each new problem with every earlier one.
        if self.problems_seen.insert(p.clone()) {
            self.problems.push(p);
        }
    }

    /// Hands text to the sink within the per-message text budget.
    fn emit(&mut self, location: &Location, text: &str) {
        if text.is_empty() {
            return;
        }
        let left = self.limits.max_text_bytes.saturating_sub(self.text_used);
        if left == 0 {
            self.problem(location.clone(), ProblemKind::WorkLimit);
            return;
        }
        let text = if text.len() > left {
            self.problem(location.clone(), ProblemKind::WorkLimit);
            let mut cut = left;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            &text[..cut]
        } else {
            text
        };
        self.text_used += text.len();
        (self.sink)(location, text);
    }

    /// The text [`predecode::prepare`] read for a part of the top-level
    /// message, whose body mail-parser then saw empty.
    fn read_ahead(
        &mut self,
        base: Option<&Location>,
        part: &mail_parser::MessagePart<'_>,
    ) -> Option<&'a str> {
        let read_ahead = self.read_ahead;
        claim(read_ahead, &mut self.read_ahead_used, base, part).map(String::as_str)
    }

    /// The attachment [`predecode::prepare`] decoded for a part of the
    /// top-level message, whose body mail-parser then saw empty.
    fn binary_ahead(
        &mut self,
        base: Option<&Location>,
        part: &mail_parser::MessagePart<'_>,
    ) -> Option<&'a [u8]> {
        let binaries = self.binaries;
        claim(binaries, &mut self.binaries_used, base, part).map(Vec::as_slice)
    }

    /// Walks a message. `base` is `None` for the top-level message and the
    /// location of the forwarded message otherwise.
    fn message(&mut self, message: &Message<'_>, base: Option<&Location>, depth: usize) {
        let body_location = base.cloned().unwrap_or(Location::Body);
        match base {
            None => {
                if let Some(subject) = message.subject() {
                    self.emit(&Location::Subject, subject);
                }
            }
            Some(base) => {
                if let Some(subject) = message.subject() {
                    self.emit(base, subject);
                }
            }
        }
        let redundant = redundant_html_alternatives(message);
        for (index, part) in message.parts.iter().enumerate() {
            if redundant.contains(&index) {
                // Read once already, as its plain-text alternative.
                self.read_ahead(base, part);
                continue;
            }
            let name = part.attachment_name().map(safe_name);
            let is_attachment = name.is_some()
                || part
                    .content_disposition()
                    .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
            let content_type = part
                .content_type()
                .map(|ct| {
                    let base = match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_string(),
                    };
                    match ct.attribute("smime-type") {
                        Some(kind) => format!("{base};smime-type={}", kind.to_ascii_lowercase()),
                        None => base,
                    }
                })
                .unwrap_or_default();
            let default_name = || format!("part{index}");
            let location = if is_attachment {
                body_location.child(name.as_deref().unwrap_or(&default_name()))
            } else {
                body_location.clone()
            };
            if let Some(raw_name) = part.attachment_name() {
                // The file name is text a reader sees: scan it too.
                self.emit(&location, raw_name);
            }
            if part.is_encoding_problem {
                // mail-parser hands back the undecoded text of a part it could
                // not decode; decode it leniently ourselves and read what we can.
                let location = if is_attachment || !content_type.starts_with("text/") {
                    body_location.child(name.as_deref().unwrap_or(&default_name()))
                } else {
                    body_location.clone()
                };
                self.problem(location.clone(), ProblemKind::EncodingProblem);
                let bytes = lenient_body(message, part);
                let file_name = name.clone().unwrap_or_else(default_name);
                self.file(&file_name, &content_type, &bytes, location, depth);
                continue;
            }
            match &part.body {
                // A text part that decodes to NULs is UTF-16 without a charset
                // label (Excel's "Unicode text" export): decode it by its BOM.
                PartType::Text(text) if predecode::has_nul(text.as_bytes()) => {
                    let bytes = lenient_body(message, part);
                    self.emit(&location, &decode_text(&bytes));
                }
                PartType::Text(text) => {
                    let text = self.read_ahead(base, part).unwrap_or(text);
                    // Inline PGP: what is encrypted cannot be read.
                    // One searcher for the run: building memchr's searcher
                    // for each part cost more than most parts' search.
                    static PGP: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
                        std::sync::LazyLock::new(|| {
                            memchr::memmem::Finder::new(b"-----BEGIN PGP MESSAGE-----")
                        });
                    if PGP.find(text.as_bytes()).is_some() {
                        self.problem(location.clone(), ProblemKind::Encrypted);
                    }
                    let text = as_written(message, part, &content_type, name.as_deref(), text);
                    self.emit(&location, &text);
                }
                PartType::Html(html) => {
                    let html = self.read_ahead(base, part).unwrap_or(html);
                    self.emit(&location, &html::to_text(html));
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    let bytes = self.binary_ahead(base, part).unwrap_or(bytes);
                    let file_name = name.clone().unwrap_or_else(default_name);
                    let location = if is_attachment {
                        location
                    } else {
                        body_location.child(&file_name)
                    };
                    self.file(&file_name, &content_type, bytes, location, depth);
                }
                PartType::Message(inner) => {
                    let location = if is_attachment {
                        location
                    } else {
                        body_location.child(name.as_deref().unwrap_or("forwarded.eml"))
                    };
                    if depth + 1 > self.limits.max_depth {
                        self.problem(location, ProblemKind::TooDeep);
                    } else {
                        self.message(inner, Some(&location), depth + 1);
                    }
                }
                PartType::Multipart(_) => {}
            }
        }
    }

    /// Reads a file (an attachment, an archive member) by what it is.
    fn file(
        &mut self,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        location: Location,
        depth: usize,
    ) {
        if depth > self.limits.max_depth {
            self.problem(location, ProblemKind::TooDeep);
            return;
        }
        match sniff(name, content_type, bytes) {
            Kind::Zip => self.zip(bytes, location, depth),
            Kind::Pdf => self.pdf(bytes, location),
            Kind::Email => {
                if depth + 1 > self.limits.max_depth {
                    self.problem(location, ProblemKind::TooDeep);
                    return;
                }
                let parsed = std::panic::catch_unwind(|| parser().parse(bytes))
                    .ok()
                    .flatten();
                match parsed {
                    Some(inner) => self.message(&inner, Some(&location), depth + 1),
                    None => self.problem(location, ProblemKind::Corrupt),
                }
            }
            Kind::Html => self.emit(&location, &html::to_text(&decode_text(bytes))),
            Kind::Calendar => self.emit(&location, &calendar::text(&decode_text(bytes))),
            Kind::Rtf => self.rtf(bytes, &location),
            Kind::Tnef => self.tnef(bytes, location, depth),
            Kind::SignedData => {
                let max = usize::try_from(self.limits.max_file_bytes).unwrap_or(usize::MAX);
                match cms::signed_content(bytes, max) {
                    Some(inner) => {
                        self.file("signed.eml", "message/rfc822", &inner, location, depth + 1)
                    }
                    None => self.problem(location, ProblemKind::Corrupt),
                }
            }
            Kind::Text => self.emit(&location, &decode_text(bytes)),
            Kind::Unsupported => self.problem(location, ProblemKind::UnsupportedFormat),
            Kind::Encrypted => self.problem(location, ProblemKind::Encrypted),
            Kind::Opaque => {}
        }
    }

    /// RTF as text (or, for Outlook's HTML in RTF, as that HTML's text),
    /// within the text budget.
    fn rtf(&mut self, bytes: &[u8], location: &Location) {
        let left = self.limits.max_text_bytes.saturating_sub(self.text_used);
        let read = rtf::read(bytes, left);
        self.emit(location, &read.readable());
        if read.cut {
            self.problem(location.clone(), ProblemKind::WorkLimit);
        }
    }

    /// A TNEF container: its body (the HTML, else the RTF, else the plain
    /// text: the same content in different forms) and its attached files.
    fn tnef(&mut self, bytes: &[u8], location: Location, depth: usize) {
        let max = usize::try_from(self.limits.max_file_bytes).unwrap_or(usize::MAX);
        let t = match tnef::read(bytes, max) {
            Ok(t) => t,
            Err(tnef::TnefError::TooLarge) => {
                self.problem(location, ProblemKind::DecompressionLimit);
                return;
            }
            Err(_) => {
                self.problem(location, ProblemKind::Corrupt);
                return;
            }
        };
        if let Some(html_body) = &t.html {
            self.emit(&location, &html::to_text(&decode_text(html_body)));
        } else if let Some(compressed) = &t.rtf_compressed {
            match tnef::decompress_rtf(compressed, max) {
                Ok(raw) => self.rtf(&raw, &location),
                Err(tnef::TnefError::TooLarge) => {
                    self.problem(location.clone(), ProblemKind::DecompressionLimit)
                }
                Err(_) => self.problem(location.clone(), ProblemKind::Corrupt),
            }
        } else if let Some(body) = &t.body {
            self.emit(&location, body);
        }
        for (i, (raw_name, data)) in t.attachments.iter().enumerate() {
            let name = raw_name
                .as_deref()
                .map(safe_name)
                .unwrap_or_else(|| format!("attachment{i}"));
            let inner = location.child(&name);
            // The name is text a reader sees, as a MIME attachment's is.
            if let Some(raw_name) = raw_name {
                self.emit(&inner, raw_name);
            }
            self.file(
                raw_name.as_deref().unwrap_or(&name),
                "",
                data,
                inner,
                depth + 1,
            );
        }
    }

    fn pdf(&mut self, bytes: &[u8], location: Location) {
        if bytes.len() > self.limits.max_pdf_bytes {
            self.problem(location, ProblemKind::WorkLimit);
            return;
        }
        // Streams that would inflate past the limits never reach the PDF
        // library, which inflates without one.
        let per_document = self.limits.max_file_bytes.saturating_mul(2);
        if pdfguard::check(bytes, self.limits.max_file_bytes, per_document)
            == pdfguard::Verdict::TooLarge
        {
            self.problem(location, ProblemKind::DecompressionLimit);
            return;
        }
        let limits = pdf::PdfLimits {
            max_text: self.limits.max_text_bytes.saturating_sub(self.text_used),
            max_stream: self.limits.max_file_bytes,
            max_total: per_document,
            max_operations: PDF_OPERATIONS,
        };
        match pdf_text(bytes, limits, self.limits.pdf_time) {
            PdfText::Text(text, cut) => {
                self.emit(&location, &text);
                if cut {
                    self.problem(location, ProblemKind::WorkLimit);
                }
            }
            PdfText::Encrypted => self.problem(location, ProblemKind::Encrypted),
            PdfText::Corrupt => self.problem(location, ProblemKind::Corrupt),
            PdfText::TooSlow => self.problem(location, ProblemKind::WorkLimit),
        }
    }

    /// Reads one member of an archive within the size limits.
    fn read_member<R: Read + std::io::Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        index: usize,
        location: &Location,
    ) -> Option<Vec<u8>> {
        let declared = match archive.by_index_raw(index) {
            Ok(raw) if raw.encrypted() => {
                self.problem(location.clone(), ProblemKind::Encrypted);
                return None;
            }
            Ok(raw) => raw.size(),
            Err(_) => {
                self.problem(location.clone(), ProblemKind::Corrupt);
                return None;
            }
        };
        let budget = self.limits.max_file_bytes.min(
            self.limits
                .max_total_decompressed
                .saturating_sub(self.decompressed),
        );
        if declared > budget {
            self.problem(location.clone(), ProblemKind::DecompressionLimit);
            return None;
        }
        let mut member = match archive.by_index(index) {
            Ok(m) => m,
            Err(_) => {
                self.problem(location.clone(), ProblemKind::Corrupt);
                return None;
            }
        };
        // The declared size may lie: count what actually comes out.
        let mut data = Vec::with_capacity(declared.min(1 << 20) as usize);
        match (&mut member).take(budget + 1).read_to_end(&mut data) {
            Ok(n) if n as u64 > budget => {
                self.problem(location.clone(), ProblemKind::DecompressionLimit);
                None
            }
            Ok(n) => {
                self.decompressed += n as u64;
                Some(data)
            }
            Err(_) => {
                self.problem(location.clone(), ProblemKind::Corrupt);
                None
            }
        }
    }

    fn zip(&mut self, bytes: &[u8], location: Location, depth: usize) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
            Ok(a) => a,
            Err(_) => {
                self.problem(location, ProblemKind::Corrupt);
                return;
            }
        };
        let names: Vec<String> = (0..archive.len())
            .map(|i| {
                archive
                    .by_index_raw(i)
                    .ok()
                    .and_then(|f| f.name().ok().map(|n| n.into_owned()))
                    .unwrap_or_default()
            })
            .collect();
        let has = |n: &str| names.iter().any(|x| x == n);
        if has("word/document.xml") {
            let parts = ordered_members(&names, |n| {
                n == "word/document.xml"
                    || (n.starts_with("word/")
                        && ["header", "footer", "footnotes", "endnotes", "comments"]
                            .iter()
                            .any(|p| n[5..].starts_with(p))
                        && n.ends_with(".xml"))
            });
            self.office_parts(&mut archive, &parts, &location, office::wordprocessing_text);
        } else if has("xl/workbook.xml") {
            let shared = names
                .iter()
                .position(|n| n == "xl/sharedStrings.xml")
                .and_then(|i| self.read_member(&mut archive, i, &location))
                .map(|b| office::shared_strings(&decode_text(&b)));
            let shared = match shared {
                Some(Ok(s)) => s,
                Some(Err(_)) => {
                    self.problem(location.clone(), ProblemKind::Corrupt);
                    Vec::new()
                }
                None => Vec::new(),
            };
            let sheets = ordered_members(&names, |n| {
                n.starts_with("xl/worksheets/sheet") && n.ends_with(".xml")
            });
            self.office_parts(&mut archive, &sheets, &location, |xml, max| {
                office::worksheet_text(xml, &shared, max)
            });
        } else if has("ppt/presentation.xml") {
            let slides = ordered_members(&names, |n| {
                (n.starts_with("ppt/slides/slide") || n.starts_with("ppt/notesSlides/notesSlide"))
                    && n.ends_with(".xml")
            });
            self.office_parts(
                &mut archive,
                &slides,
                &location,
                office::wordprocessing_text,
            );
        } else if has("mimetype") && has("content.xml") {
            let parts = ordered_members(&names, |n| n == "content.xml");
            self.office_parts(&mut archive, &parts, &location, office::opendocument_text);
        } else {
            self.archive(&mut archive, &names, location, depth);
        }
    }

    fn office_parts<R: Read + std::io::Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        parts: &[usize],
        location: &Location,
        to_text: impl Fn(&str, usize) -> Result<office::Bounded, office::XmlError>,
    ) {
        for &i in parts {
            let Some(bytes) = self.read_member(archive, i, location) else {
                continue;
            };
            // The text budget bounds what the part may produce, not only
            // what it may read.
            let left = self.limits.max_text_bytes.saturating_sub(self.text_used);
            match to_text(&decode_text(&bytes), left) {
                Ok(text) => {
                    self.emit(location, &text.text);
                    if text.cut {
                        self.problem(location.clone(), ProblemKind::WorkLimit);
                        return;
                    }
                }
                Err(_) => self.problem(location.clone(), ProblemKind::Corrupt),
            }
        }
    }

    fn archive<R: Read + std::io::Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        names: &[String],
        location: Location,
        depth: usize,
    ) {
        if names.len() > self.limits.max_archive_entries {
            self.problem(location.clone(), ProblemKind::WorkLimit);
        }
        for (i, name) in names
            .iter()
            .enumerate()
            .take(self.limits.max_archive_entries)
        {
            if name.ends_with('/') {
                continue;
            }
            let member_location = location.child(&safe_name(name));
            // Member names are text a reader sees.
            self.emit(&member_location, name);
            if depth + 1 > self.limits.max_depth {
                self.problem(member_location, ProblemKind::TooDeep);
                continue;
            }
            if let Some(bytes) = self.read_member(archive, i, &member_location) {
                self.file(name, "", &bytes, member_location, depth + 1);
            }
        }
    }
}

/// Indices of the members `keep` selects, in natural order (`sheet2` before
/// `sheet10`), so text comes out in reading order.
fn ordered_members(names: &[String], keep: impl Fn(&str) -> bool) -> Vec<usize> {
    let mut picked: Vec<usize> = (0..names.len()).filter(|&i| keep(&names[i])).collect();
    let key = |n: &str| {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        (
            n.trim_end_matches(|c: char| !c.is_ascii_alphabetic()).len(),
            digits.parse::<u64>().unwrap_or(0),
            n.to_string(),
        )
    };
    picked.sort_by_key(|&i| key(&names[i]));
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(raw: &[u8]) -> (Vec<(String, String)>, Extraction) {
        let mut out = Vec::new();
        let ex = extract(raw, &Limits::default(), &mut |loc, text| {
            out.push((loc.to_string(), text.to_string()))
        });
        (out, ex)
    }

    /// What `extract_parsed` reads of a message, as text pieces, problems
    /// and envelope.
    fn reading(raw: &[u8], read_ahead: bool) -> (Vec<(String, String)>, String) {
        let mut out = Vec::new();
        let mut sink = |loc: &Location, text: &str| out.push((loc.to_string(), text.to_string()));
        let prepared = if read_ahead {
            predecode::prepare(raw)
        } else {
            None
        };
        let ex = match &prepared {
            Some(p) => extract_parsed(
                &p.bytes,
                &p.texts,
                &p.binaries,
                &Limits::default(),
                &mut sink,
            ),
            None => extract_parsed(raw, &[], &[], &Limits::default(), &mut sink),
        };
        (out, format!("{:?} {:?}", ex.problems, ex.envelope))
    }

    /// A PDF locked by a user password is an `encrypted` problem of its
    /// attachment, not a corrupt one, and nothing of it is read.
    #[test]
    fn a_password_locked_pdf_is_reported_encrypted() {
        let pdf = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/pdf/user-locked.pdf"),
        )
        .expect("fixture");
        let b64 = base64_lines(&pdf);
        let raw = format!(
            "Subject: lønn\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nVedlagt.\n--b\nContent-Type: application/pdf; name=lonn.pdf\nContent-Disposition: attachment; filename=lonn.pdf\nContent-Transfer-Encoding: base64\n\n{b64}\n--b--\n"
        );
        let mut pieces = Vec::new();
        let ex = extract(
            raw.as_bytes(),
            &Limits::default(),
            &mut |loc: &Location, t: &str| pieces.push((loc.to_string(), t.to_string())),
        );
        assert!(
            ex.problems
                .iter()
                .any(|p| p.kind == ProblemKind::Encrypted
                    && p.location.to_string().contains("lonn.pdf")),
            "{:?}",
            ex.problems
        );
        assert!(pieces.iter().all(|(_, t)| !t.contains("15076500565")));
    }

    fn base64_lines(bytes: &[u8]) -> String {
        use base64::Engine as _;
        let s = base64::engine::general_purpose::STANDARD.encode(bytes);
        s.as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reading_text_parts_ahead_changes_nothing_on_the_fixture_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
        let mut prepared = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let raw = std::fs::read(&path).expect("fixture");
            prepared += usize::from(predecode::prepare(&raw).is_some());
            assert_eq!(
                reading(&raw, false),
                reading(&raw, true),
                "{}",
                path.display()
            );
        }
        assert!(prepared >= 20, "only {prepared} fixtures were read ahead");
        // The most common shape of office mail: plain text and HTML
        // alternatives, both quoted-printable, plus a text attachment.
        let alternative = b"Subject: Hei\nContent-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nSykmeldt til fredag, hilsen Kari=\n\n--a\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<p>Sykmeldt til fredag, hilsen Kari</p>\n--a--\n--m\nContent-Type: text/csv; name=liste.csv\nContent-Disposition: attachment; filename=liste.csv\n\nnavn;nr\nKari;1\n--m--\n";
        assert!(predecode::prepare(alternative).is_some());
        let (pieces, _) = reading(alternative, true);
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        assert_eq!(reading(alternative, false), reading(alternative, true));
    }

    /// A PDF whose stream would inflate past the limit is reported and never
    /// handed to the PDF library (which inflates without one).
    #[test]
    fn a_pdf_decompression_bomb_is_stopped_before_the_library() {
        use base64::Engine as _;
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 4 << 20]).expect("deflates");
        let stream = z.finish().expect("finishes");
        let mut pdf = format!(
            "%PDF-1.4\n1 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n",
            stream.len()
        )
        .into_bytes();
        pdf.extend_from_slice(&stream);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        let raw = format!(
            "Message-ID: <pdf@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSe vedlegg.\r\n--b\r\nContent-Type: application/pdf; name=bombe.pdf\r\nContent-Disposition: attachment; filename=bombe.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD.encode(&pdf)
        );
        let limits = Limits {
            max_file_bytes: 1 << 20,
            ..Limits::default()
        };
        let ex = extract(raw.as_bytes(), &limits, &mut |_, _| {});
        assert!(
            ex.problems
                .iter()
                .any(|p| p.kind == ProblemKind::DecompressionLimit
                    && p.location.to_string() == "attachment:bombe.pdf"),
            "{:?}",
            ex.problems
        );
    }

    /// Each encrypted or unreadable container is reported, never passed
    /// over in silence.
    #[test]
    fn encrypted_and_unsupported_containers_are_reported() {
        let cases: [(&str, &str, ProblemKind); 5] = [
            (
                "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Disposition: attachment; filename=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n--b--\r\n",
                "attachment:smime.p7m",
                ProblemKind::Encrypted,
            ),
            (
                "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\nContent-Disposition: attachment; filename=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n",
                "attachment:smime.p7m",
                // Read now: this one is cut short.
                ProblemKind::Corrupt,
            ),
            (
                "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream; name=encrypted.asc\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234\r\n-----END PGP MESSAGE-----\r\n--b--\r\n",
                "attachment:encrypted.asc",
                ProblemKind::Encrypted,
            ),
            (
                "Content-Type: text/plain\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234\r\n-----END PGP MESSAGE-----\r\n",
                "body",
                ProblemKind::Encrypted,
            ),
            (
                "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHei\r\n--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Disposition: attachment; filename=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgEAAQAAAAAA\r\n--b--\r\n",
                "attachment:winmail.dat",
                ProblemKind::Corrupt,
            ),
        ];
        for (raw, location, kind) in cases {
            let (_, ex) = pieces(format!("Message-ID: <x@y>\r\n{raw}").as_bytes());
            assert!(
                ex.problems
                    .iter()
                    .any(|p| p.kind == kind && p.location.to_string() == location),
                "{location}: {:?}",
                ex.problems
            );
        }
    }

    #[test]
    fn subject_body_and_envelope() {
        let raw = b"Message-ID: <a@b>\r\nFrom: Ola <OLA@Example.no>\r\nTo: kari@example.no\r\nSubject: =?utf-8?q?Fnr_150765=C2=A000565?=\r\nDate: Tue, 1 Jul 2025 10:00:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHei=\r\n der\r\n";
        let (p, ex) = pieces(raw);
        assert_eq!(p[0], ("subject".into(), "Fnr 150765\u{a0}00565".into()));
        assert_eq!(p[1].0, "body");
        assert!(p[1].1.starts_with("Hei der"), "{:?}", p[1]);
        assert_eq!(ex.envelope.message_id, "<a@b>");
        assert_eq!(ex.envelope.from, vec!["ola@example.no"]);
        assert!(ex.envelope.date_header.is_some());
    }

    #[test]
    fn safe_names_hide_long_digit_runs() {
        assert_eq!(
            safe_name("sykmelding_15076500565.pdf"),
            "sykmelding_###########.pdf"
        );
        assert_eq!(safe_name("rapport 2024 v2.docx"), "rapport #### v2.docx");
        assert_eq!(safe_name("a/b.txt"), "a_b.txt");
    }

    #[test]
    fn broken_quoted_printable_still_joins_soft_breaks() {
        // `==` makes mail-parser give the part up as undecoded text.
        let raw = b"Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nx == y\nfnr 230478=\n10027 p=C3=A5\n";
        let (pieces, ex) = pieces(raw);
        assert!(
            ex.problems
                .iter()
                .any(|p| p.kind == ProblemKind::EncodingProblem),
            "{:?}",
            ex.problems
        );
        assert!(
            pieces.iter().any(|(_, t)| t.contains("fnr 23047810027 på")),
            "{pieces:?}"
        );
    }

    #[test]
    fn unparseable_input_is_read_as_text_with_a_problem() {
        let (p, ex) = pieces(b"");
        assert!(p.is_empty());
        assert_eq!(ex.problems.len(), 1);
    }

    #[test]
    fn text_budget_is_enforced_and_reported() {
        let limits = Limits {
            max_text_bytes: 10,
            ..Limits::default()
        };
        let mut seen = 0;
        let ex = extract(
            b"Subject: x\r\n\r\n0123456789abcdef",
            &limits,
            &mut |_, t| seen += t.len(),
        );
        assert!(seen <= 10);
        assert!(ex.problems.iter().any(|p| p.kind == ProblemKind::WorkLimit));
    }

    #[test]
    fn lenient_base64_skips_junk_and_keeps_partial_groups() {
        assert_eq!(lenient_base64(b"SGVp\r\nIGRl!!!cg=="), b"Hei der");
        assert_eq!(lenient_base64(b"SGVpIGR"), b"Hei d");
        assert_eq!(lenient_base64(b""), b"");
    }

    #[test]
    fn decode_text_handles_boms_and_latin1() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFabc"), "abc");
        assert_eq!(decode_text(b"\xFF\xFEa\x00b\x00"), "ab");
        assert_eq!(decode_text(b"f\xF8dt"), "født");
    }
}
