//! Outlook's TNEF container (`application/ms-tnef`, `winmail.dat`,
//! MS-OXTNEF): Exchange hands mail out in this form for some mailboxes and
//! Outlook attaches it for outside recipients, so the whole message (its
//! body and every attached file) can sit inside one opaque attachment.
//!
//! The reader takes what holds text: the plain body, the HTML body and the
//! compressed RTF body (MS-OXRTFCP), and every attached file with its name.
//! Everything else is skipped by its length. Every length is checked
//! against what is left and against the caller's limit before anything is
//! copied; nothing here can panic on any input.

/// What a TNEF stream holds that can be read.
#[derive(Debug, Default)]
pub struct Tnef {
    pub body: Option<String>,
    pub html: Option<Vec<u8>>,
    /// The body as compressed RTF (still compressed).
    pub rtf_compressed: Option<Vec<u8>>,
    /// Attached files: name (when given) and content.
    pub attachments: Vec<(Option<String>, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TnefError {
    #[error("not a TNEF stream")]
    NotTnef,
    #[error("the TNEF stream is truncated or malformed")]
    Malformed,
    #[error("the TNEF stream holds more than the limit")]
    TooLarge,
}

const SIGNATURE: u32 = 0x223E_9F78;
// Attribute ids (low 16 bits; the high bits give the type).
const ATT_BODY: u16 = 0x800C;
const ATT_MAPI_PROPS: u16 = 0x9003;
const ATT_ATTACH_REND_DATA: u16 = 0x9002;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACHMENT: u16 = 0x9005;
// MAPI property ids.
const PR_BODY: u16 = 0x1000;
const PR_RTF_COMPRESSED: u16 = 0x1009;
const PR_HTML: u16 = 0x1013;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
// MAPI property types.
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TnefError> {
        let end = self.at.checked_add(n).ok_or(TnefError::Malformed)?;
        let out = self.bytes.get(self.at..end).ok_or(TnefError::Malformed)?;
        self.at = end;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, TnefError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TnefError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

/// Reads a TNEF stream; `max` bounds the bytes copied out in all.
pub fn read(bytes: &[u8], max: usize) -> Result<Tnef, TnefError> {
    let mut c = Cursor { bytes, at: 0 };
    if c.u32().map_err(|_| TnefError::NotTnef)? != SIGNATURE {
        return Err(TnefError::NotTnef);
    }
    c.u16()?; // legacy key
    let mut out = Tnef::default();
    let mut budget = max;
    // The attachment being described (TNEF lists an attachment's attributes
    // after its "rendering data" attribute).
    let mut current: Option<(Option<String>, Vec<u8>)> = None;
    // Outlook always writes attributes (at least the TNEF version and the
    // message class); a stream of none is not one it made.
    if c.done() {
        return Err(TnefError::Malformed);
    }
    while !c.done() {
        let level = c.take(1)?[0];
        let id = c.u32()?;
        let len = c.u32()? as usize;
        let data = c.take(len)?;
        c.u16()?; // checksum: not needed to read
        let spend = |n: usize, budget: &mut usize| -> Result<(), TnefError> {
            *budget = budget.checked_sub(n).ok_or(TnefError::TooLarge)?;
            Ok(())
        };
        match (level, id as u16) {
            (1, ATT_BODY) => {
                spend(data.len(), &mut budget)?;
                out.body = Some(string8(data));
            }
            (1, ATT_MAPI_PROPS) => {
                for (prop, value) in properties(data)? {
                    match prop {
                        PR_BODY if out.body.is_none() => {
                            spend(value.len(), &mut budget)?;
                            out.body = Some(value.text());
                        }
                        PR_HTML => {
                            spend(value.len(), &mut budget)?;
                            out.html = Some(value.bytes().to_vec());
                        }
                        PR_RTF_COMPRESSED => {
                            spend(value.len(), &mut budget)?;
                            out.rtf_compressed = Some(value.bytes().to_vec());
                        }
                        _ => {}
                    }
                }
            }
            (2, ATT_ATTACH_REND_DATA) => {
                if let Some(done) = current.take() {
                    out.attachments.push(done);
                }
                current = Some(Default::default());
            }
            (2, ATT_ATTACH_TITLE) => {
                let slot = current.get_or_insert_default();
                if slot.0.is_none() {
                    slot.0 = Some(string8(data));
                }
            }
            (2, ATT_ATTACH_DATA) => {
                spend(data.len(), &mut budget)?;
                current.get_or_insert_default().1 = data.to_vec();
            }
            (2, ATT_ATTACHMENT) => {
                let slot = current.get_or_insert_default();
                for (prop, value) in properties(data)? {
                    match prop {
                        PR_ATTACH_LONG_FILENAME => slot.0 = Some(value.text()),
                        PR_ATTACH_FILENAME if slot.0.is_none() => slot.0 = Some(value.text()),
                        PR_ATTACH_DATA if slot.1.is_empty() => {
                            spend(value.len(), &mut budget)?;
                            slot.1 = value.bytes().to_vec();
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        out.attachments.push(done);
    }
    Ok(out)
}

/// A string attribute: 8-bit text ending in NUL (Windows-1252 as Outlook
/// writes it in Western locales).
fn string8(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(&data[..end])
        .0
        .into_owned()
}

/// One MAPI property value that may hold text.
enum Value<'a> {
    String8(&'a [u8]),
    Unicode(&'a [u8]),
    Binary(&'a [u8]),
}

impl Value<'_> {
    fn len(&self) -> usize {
        self.bytes().len()
    }
    fn bytes(&self) -> &[u8] {
        match self {
            Value::String8(b) | Value::Unicode(b) | Value::Binary(b) => b,
        }
    }
    fn text(&self) -> String {
        match self {
            Value::String8(b) | Value::Binary(b) => string8(b),
            Value::Unicode(b) => {
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                String::from_utf16_lossy(&units)
            }
        }
    }
}

/// The properties of a MAPI property list (`attMAPIProps`,
/// `attAttachment`) that hold strings or bytes, by property id.
fn properties(data: &[u8]) -> Result<Vec<(u16, Value<'_>)>, TnefError> {
    let mut c = Cursor { bytes: data, at: 0 };
    let count = c.u32()?;
    let mut out = Vec::new();
    for _ in 0..count {
        if c.done() {
            break;
        }
        let kind = c.u16()?;
        let id = c.u16()?;
        if id >= 0x8000 {
            // A named property: its GUID and name come first.
            c.take(16)?;
            match c.u32()? {
                0 => {
                    c.u32()?;
                }
                _ => {
                    let len = c.u32()? as usize;
                    c.take(padded(len)?)?;
                }
            }
        }
        let multi = kind & MV_FLAG != 0;
        let base = kind & !MV_FLAG;
        let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
        let values = if multi || variable { c.u32()? } else { 1 };
        for _ in 0..values {
            if variable {
                let len = c.u32()? as usize;
                let value = c.take(len)?;
                c.take(padded(len)? - len)?;
                let value = match base {
                    PT_STRING8 => Value::String8(value),
                    PT_UNICODE => Value::Unicode(value),
                    // An object's data starts with its interface id.
                    PT_OBJECT => Value::Binary(value.get(16..).unwrap_or_default()),
                    _ => Value::Binary(value),
                };
                if !multi {
                    out.push((id, value));
                }
            } else {
                c.take(fixed_size(base).ok_or(TnefError::Malformed)?)?;
            }
        }
    }
    Ok(out)
}

fn padded(len: usize) -> Result<usize, TnefError> {
    len.checked_add(3)
        .map(|l| l & !3)
        .ok_or(TnefError::Malformed)
}

/// Bytes a fixed-size value takes in the stream (padded to four).
fn fixed_size(kind: u16) -> Option<usize> {
    Some(match kind {
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => 4,
        0x0005..=0x0007 | 0x0014 | 0x0040 => 8,
        0x0048 => 16,
        0x0001 => 0,
        _ => return None,
    })
}

/// The dictionary compressed RTF starts with (MS-OXRTFCP): the opening
/// every RTF document shares, so a stream's first bytes are references.
const RTF_PRELOAD: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";
const COMPRESSED: u32 = 0x7546_5A4C; // "LZFu"
const UNCOMPRESSED: u32 = 0x414C_454D; // "MELA"

/// Decompresses a `PR_RTF_COMPRESSED` value, producing at most `max` bytes.
pub fn decompress_rtf(data: &[u8], max: usize) -> Result<Vec<u8>, TnefError> {
    let mut c = Cursor { bytes: data, at: 0 };
    let _compressed_size = c.u32()?;
    let raw_size = c.u32()? as usize;
    let kind = c.u32()?;
    c.u32()?; // CRC
    if raw_size > max {
        return Err(TnefError::TooLarge);
    }
    let rest = &data[c.at..];
    if kind == UNCOMPRESSED {
        return Ok(rest[..rest.len().min(raw_size)].to_vec());
    }
    if kind != COMPRESSED {
        return Err(TnefError::Malformed);
    }
    let mut dict = [0u8; 4096];
    dict[..RTF_PRELOAD.len()].copy_from_slice(RTF_PRELOAD);
    let mut write = RTF_PRELOAD.len();
    let mut out = Vec::with_capacity(raw_size.min(1 << 20));
    let mut i = 0;
    'stream: while i < rest.len() {
        let control = rest[i];
        i += 1;
        for bit in 0..8 {
            if i >= rest.len() || out.len() >= raw_size {
                break 'stream;
            }
            if control & (1 << bit) == 0 {
                let b = rest[i];
                i += 1;
                out.push(b);
                dict[write] = b;
                write = (write + 1) % 4096;
            } else {
                let Some(pair) = rest.get(i..i + 2) else {
                    break 'stream;
                };
                i += 2;
                let word = u16::from_be_bytes([pair[0], pair[1]]) as usize;
                let offset = word >> 4;
                let length = (word & 0xF) + 2;
                if offset == write {
                    break 'stream;
                }
                for k in 0..length {
                    if out.len() >= raw_size {
                        break 'stream;
                    }
                    let b = dict[(offset + k) % 4096];
                    out.push(b);
                    dict[write] = b;
                    write = (write + 1) % 4096;
                }
            }
        }
    }
    Ok(out)
}

/// Encoders for tests and fuzzing seeds: TNEF streams and compressed RTF
/// as Outlook writes them, so fixtures come from code that can be read
/// rather than from opaque files. The scanner never calls these.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    /// A TNEF stream as Outlook writes one, from parts (the tests' encoder:
    /// also used by the extractor's tests).
    pub fn encode(
        body: Option<&str>,
        mapi: &[(u16, u16, Vec<u8>)],
        files: &[(&str, &[u8])],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SIGNATURE.to_le_bytes());
        out.extend_from_slice(&0x0001u16.to_le_bytes());
        let attribute = |out: &mut Vec<u8>, level: u8, id: u32, data: &[u8]| {
            out.push(level);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            let sum: u32 = data.iter().map(|&b| u32::from(b)).sum();
            out.extend_from_slice(&((sum & 0xFFFF) as u16).to_le_bytes());
        };
        attribute(&mut out, 1, 0x0009_8008, b"IPM.Microsoft Mail.Note\0");
        if let Some(body) = body {
            attribute(&mut out, 1, 0x0002_800C, format!("{body}\0").as_bytes());
        }
        if !mapi.is_empty() {
            attribute(&mut out, 1, 0x0006_9003, &property_list(mapi));
        }
        for (name, data) in files {
            attribute(
                &mut out,
                2,
                0x0006_9002,
                &[1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
            );
            attribute(&mut out, 2, 0x0001_8010, format!("{name}\0").as_bytes());
            attribute(&mut out, 2, 0x0006_800F, data);
            let long: Vec<u8> = name
                .encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect();
            attribute(
                &mut out,
                2,
                0x0006_9005,
                &property_list(&[
                    (PT_UNICODE, PR_ATTACH_LONG_FILENAME, long),
                    (0x0003, 0x0E21, vec![1, 0, 0, 0]),
                ]),
            );
        }
        out
    }

    /// A MAPI property list of (type, id, value) with single values.
    pub fn property_list(props: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = (props.len() as u32).to_le_bytes().to_vec();
        for (kind, id, value) in props {
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
            if matches!(*kind, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT) {
                out.extend_from_slice(&1u32.to_le_bytes());
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
                out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
            } else {
                out.extend_from_slice(value);
            }
        }
        out
    }

    /// Compressed RTF as Outlook writes it: literals, and references into
    /// the dictionary where the text repeats (the preload included).
    pub fn compress_rtf(raw: &[u8]) -> Vec<u8> {
        let mut dict = [0u8; 4096];
        dict[..RTF_PRELOAD.len()].copy_from_slice(RTF_PRELOAD);
        let mut write = RTF_PRELOAD.len();
        let mut body = Vec::new();
        let mut i = 0;
        let mut done = false;
        while !done {
            let mut control = 0u8;
            let mut chunk = Vec::new();
            for bit in 0..8 {
                if i >= raw.len() {
                    // The end: a reference to the write position.
                    control |= 1 << bit;
                    chunk.extend_from_slice(&((write as u16) << 4).to_be_bytes());
                    done = true;
                    break;
                }
                // The longest match (2..=17) anywhere in the dictionary.
                let mut best = (0usize, 0usize);
                for start in 0..4096 {
                    let mut len = 0;
                    while len < 17
                        && i + len < raw.len()
                        && (start + len) % 4096 != write
                        && dict[(start + len) % 4096] == raw[i + len]
                    {
                        len += 1;
                    }
                    if len > best.1 {
                        best = (start, len);
                    }
                }
                if best.1 >= 2 {
                    control |= 1 << bit;
                    chunk.extend_from_slice(
                        &(((best.0 as u16) << 4) | (best.1 as u16 - 2)).to_be_bytes(),
                    );
                    for k in 0..best.1 {
                        dict[write] = raw[i + k];
                        write = (write + 1) % 4096;
                    }
                    i += best.1;
                } else {
                    chunk.push(raw[i]);
                    dict[write] = raw[i];
                    write = (write + 1) % 4096;
                    i += 1;
                }
            }
            body.push(control);
            body.extend_from_slice(&chunk);
        }
        let mut out = ((body.len() + 12) as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        out.extend_from_slice(&COMPRESSED.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {

    /// Streams Outlook wrote, not our encoder (tnefparse's test examples,
    /// LGPL-3.0, kept as bytes in tests/fixtures/tnef with its licence):
    /// the expected names and text read off by hand.
    mod written_by_outlook {
        use super::super::*;

        fn fixture(name: &str) -> Vec<u8> {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/tnef")
                .join(name);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }

        #[test]
        fn two_attached_files_with_their_names_and_text() {
            let t = read(&fixture("two-files.tnef"), 1 << 20).expect("reads");
            let names: Vec<Option<&str>> =
                t.attachments.iter().map(|(n, _)| n.as_deref()).collect();
            assert_eq!(names, [Some("AUTHORS"), Some("README")]);
            let text = |i: usize| String::from_utf8_lossy(&t.attachments[i].1).into_owned();
            assert_eq!(t.attachments[0].1.len(), 244);
            assert!(text(0).contains("Authors of tnef") && text(0).contains("Mark Simpson"));
            assert_eq!(t.attachments[1].1.len(), 893);
            assert!(text(1).contains("TNEF is a program for unpacking MIME attachments of type"));
        }

        #[test]
        fn a_compressed_rtf_body_decompresses_to_the_signature() {
            let t = read(&fixture("rtf.tnef"), 1 << 20).expect("reads");
            assert!(t.attachments.is_empty());
            let rtf = decompress_rtf(t.rtf_compressed.as_deref().expect("an RTF body"), 1 << 20)
                .expect("decompresses");
            let rtf = String::from_utf8_lossy(&rtf);
            assert!(rtf.starts_with("{\\rtf1\\ansi\\ansicpg1252"), "{rtf}");
            for line in [
                "Greg Allen",
                "Senior Engineer/QADirector Team",
                "Compuware Corporation",
            ] {
                assert!(rtf.contains(line), "{line} in {rtf}");
            }
        }

        #[test]
        fn an_html_body_whole() {
            let t = read(&fixture("body.tnef"), 1 << 20).expect("reads");
            let html = t.html.expect("an HTML body");
            // The length tnefparse's own test gives for this body.
            assert_eq!(html.len(), 5358);
            assert!(String::from_utf8_lossy(&html).contains("THE BILL OF RIGHTS"));
        }
    }

    /// Compressed RTF from an independent implementation, not our encoder:
    /// the worked example published in the README of delimitry's
    /// `compressed_rtf` (Python, MIT), both its compressed (`LZFu`, with
    /// dictionary references) and raw (`MELA`) forms; the expected text
    /// written out by hand.
    #[test]
    fn independent_compressed_rtf_decodes_to_its_text() {
        let expected = br"{\rtf1\ansi\ansicpg1252\pard test}";
        let compressed: &[u8] = &[
            0x23, 0x00, 0x00, 0x00, // COMPSIZE: 35
            0x22, 0x00, 0x00, 0x00, // RAWSIZE: 34
            b'L', b'Z', b'F', b'u', // COMPRESSED
            0x33, 0x5c, 0xe8, 0x74, // CRC
            0x03, 0x00, 0x0a, 0x00, b'r', b'c', b'p', b'g', b'1', b'2', b'5', 0x92, b'2', 0x0a,
            0xf3, b' ', b't', 0x07, 0x90, b't', b'}', 0x0f, 0x10,
        ];
        assert_eq!(compressed.len(), 35 + 4, "COMPSIZE counts from RAWSIZE on");
        assert_eq!(
            decompress_rtf(compressed, 1 << 20).expect("decodes"),
            expected.to_vec()
        );
        let mut raw: Vec<u8> = vec![0x2e, 0, 0, 0, 0x22, 0, 0, 0];
        raw.extend_from_slice(b"MELA");
        raw.extend_from_slice(&[0x20, 0xdf, 0x12, 0xce]);
        raw.extend_from_slice(expected);
        assert_eq!(
            decompress_rtf(&raw, 1 << 20).expect("decodes"),
            expected.to_vec()
        );
    }

    use super::fixtures::*;
    use super::*;

    #[test]
    fn body_properties_and_files_are_read() {
        let rtf = br"{\rtf1\ansi\ansicpg1252\fromtext \deff0{\fonttbl{\f0 Arial;}}\pard Fnr 150765{\b 005}65\par}";
        let stream = encode(
            Some("Plain body"),
            &[
                (PT_BINARY, PR_RTF_COMPRESSED, compress_rtf(rtf)),
                (PT_BINARY, PR_HTML, b"<p>Fnr 150765&nbsp;00565</p>".to_vec()),
                (0x0003, 0x0E07, vec![0, 0, 0, 0]),
            ],
            &[("lønn.csv", b"navn;fnr\nOla;15076500565\n")],
        );
        let t = read(&stream, 1 << 20).expect("reads");
        assert_eq!(t.body.as_deref(), Some("Plain body"));
        assert_eq!(
            t.html.as_deref(),
            Some(&b"<p>Fnr 150765&nbsp;00565</p>"[..])
        );
        let raw = decompress_rtf(t.rtf_compressed.as_deref().expect("rtf"), 1 << 20).expect("lzfu");
        assert_eq!(raw, rtf);
        assert_eq!(t.attachments.len(), 1);
        assert_eq!(t.attachments[0].0.as_deref(), Some("lønn.csv"));
        assert_eq!(t.attachments[0].1, b"navn;fnr\nOla;15076500565\n");
    }

    #[test]
    fn compression_uses_the_preloaded_dictionary() {
        // The shared opening compresses to references.
        let raw = br"{\rtf1\ansi\ansicpg1252\deff0\deftab720{\fonttbl;}hello hello hello}";
        let packed = compress_rtf(raw);
        assert!(
            packed.len() < raw.len(),
            "{} vs {}",
            packed.len(),
            raw.len()
        );
        assert_eq!(decompress_rtf(&packed, 1 << 20).expect("lzfu"), raw);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_or_partial_never_a_panic() {
        let stream = encode(
            Some("x"),
            &[(PT_BINARY, PR_RTF_COMPRESSED, compress_rtf(br"{\rtf1 abc}"))],
            &[("a.txt", b"abc")],
        );
        for cut in 0..stream.len() {
            let _ = read(&stream[..cut], 1 << 20);
        }
        let mut flipped = stream.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xFF;
            if let Ok(t) = read(&flipped, 1 << 20)
                && let Some(rtf) = t.rtf_compressed
            {
                let _ = decompress_rtf(&rtf, 1 << 16);
            }
            flipped[i] ^= 0xFF;
        }
        assert_eq!(read(b"not tnef", 100).unwrap_err(), TnefError::NotTnef);
        // A claimed size past the limit is refused before anything is made.
        let mut big = compress_rtf(b"{\\rtf1 x}");
        big[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decompress_rtf(&big, 1 << 20).unwrap_err(),
            TnefError::TooLarge
        );
        assert_eq!(read(&stream, 2).unwrap_err(), TnefError::TooLarge);
    }
}
