//! The text of a PDF, read as a reader sees it, within limits.
//!
//! Why our own reader (over lopdf's object model): office PDFs embed a font
//! subset with a ToUnicode map for every typeface, and the general-purpose
//! extractor we used spent most of a scan of an attachment-heavy mailbox
//! parsing those maps and its glyph tables, on a thread of its own because
//! it could run without end. This one reads only what text needs (the
//! content stream's text operators, fonts' code-to-text maps and widths,
//! form XObjects), decompresses every stream through a counter, and counts
//! its operations: a hostile document ends with what was read so far and a
//! problem, never a hang.
//!
//! Geometry decides separators (see [`content`]): a table drawn as text at
//! column positions comes out as tab-separated rows, which `extract::table`
//! reads with their headers like any other table.

mod cmap;
mod content;
mod encoding;
mod font;
mod lexer;
#[doc(hidden)]
pub mod objects;

use crate::extract::office::Bounded;
use font::Font;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;

/// What the reader may spend on one document.
#[derive(Debug, Clone, Copy)]
pub struct PdfLimits {
    /// Text produced.
    pub max_text: usize,
    /// Bytes one stream may decompress to.
    pub max_stream: u64,
    /// Bytes all streams together may decompress to.
    pub max_total: u64,
    /// Tokens of content streams read (a bound on time).
    pub max_operations: u64,
}

/// Why a PDF could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfError {
    /// Encrypted with a password we do not have.
    Encrypted,
    /// Not a PDF we or lopdf can open, or without pages.
    Corrupt,
}

/// The text read, and whether a limit cut it short.
#[derive(Debug)]
pub struct PdfRead {
    pub text: String,
    pub cut: bool,
}

/// Reads the text of every page, in page order.
pub fn read(bytes: &[u8], limits: PdfLimits) -> Result<PdfRead, PdfError> {
    let doc = match objects::load(bytes) {
        Some(doc) => doc,
        None => Document::load_mem(bytes).map_err(|_| PdfError::Corrupt)?,
    };
    // lopdf opens a document with the empty user password itself (a
    // document anyone can open, restricted at most in printing or copying);
    // one still marked encrypted needs a password.
    if doc.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let mut reader = Reader {
        doc: &doc,
        streams: Streams {
            max_stream: limits.max_stream,
            left: limits.max_total,
            cut: false,
        },
        fonts: HashMap::new(),
        fallback: None,
        out: Bounded::new(limits.max_text),
        pen: None,
        operations_left: limits.max_operations,
    };
    let mut pages = 0usize;
    for page_id in doc.page_iter() {
        pages += 1;
        let Ok(page) = doc.get_dictionary(page_id) else {
            continue;
        };
        if pages > 1 {
            reader.separate('\n');
            reader.out.push('\n');
        }
        reader.pen = None;
        let resources = inherited(&doc, page, b"Resources").and_then(|r| r.as_dict().ok());
        let mut content = Vec::new();
        for stream in page_contents(&doc, page) {
            if let Some(bytes) = reader.streams.decode(stream) {
                content.extend_from_slice(&bytes);
                content.push(b'\n');
            }
        }
        let mut run = content::Run::new(&mut reader, resources, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 0);
        let finished = run.run(&content);
        if !finished || reader.out.cut {
            return Ok(PdfRead {
                text: reader.out.text,
                cut: true,
            });
        }
    }
    if pages == 0 {
        return Err(PdfError::Corrupt);
    }
    let cut = reader.streams.cut;
    Ok(PdfRead {
        text: reader.out.text,
        cut,
    })
}

/// Resolves a reference (a few levels at most); a missing object or a
/// longer chain is `Null`, as a missing entry is.
pub fn resolve<'d>(doc: &'d Document, object: &'d Object) -> &'d Object {
    let mut object = object;
    for _ in 0..8 {
        match object {
            Object::Reference(id) => match doc.get_object(*id) {
                Ok(next) => object = next,
                Err(_) => return &Object::Null,
            },
            _ => return object,
        }
    }
    &Object::Null
}

/// A dictionary entry, resolved; `Null` when absent.
pub fn get<'d>(doc: &'d Document, dict: &'d Dictionary, key: &[u8]) -> &'d Object {
    match dict.get(key) {
        Ok(object) => resolve(doc, object),
        Err(_) => &Object::Null,
    }
}

/// A number object as `f32` (finite only).
pub fn number(object: &Object) -> Option<f32> {
    match object {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) if r.is_finite() => Some(*r),
        _ => None,
    }
}

/// A page attribute, from the page or the page tree above it.
fn inherited<'d>(doc: &'d Document, page: &'d Dictionary, key: &[u8]) -> Option<&'d Object> {
    let mut node = page;
    for _ in 0..32 {
        if let Ok(value) = node.get(key) {
            return Some(resolve(doc, value));
        }
        node = get(doc, node, b"Parent").as_dict().ok()?;
    }
    None
}

fn page_contents<'d>(doc: &'d Document, page: &'d Dictionary) -> Vec<&'d Stream> {
    match get(doc, page, b"Contents") {
        Object::Stream(s) => vec![s],
        Object::Array(items) => items
            .iter()
            .take(4096)
            .filter_map(|o| resolve(doc, o).as_stream().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// Decodes streams within the per-stream and per-document limits.
pub struct Streams {
    max_stream: u64,
    left: u64,
    /// A stream was cut at a limit or could not be decoded.
    cut: bool,
}

impl Streams {
    /// The stream's data with its filters undone; `None` when a filter is
    /// unknown or broken or a limit is reached.
    pub fn decode(&mut self, stream: &Stream) -> Option<Vec<u8>> {
        let filters: Vec<Vec<u8>> = match stream.dict.get(b"Filter") {
            Ok(Object::Name(n)) => vec![n.clone()],
            Ok(Object::Array(a)) => a
                .iter()
                .filter_map(|o| o.as_name().ok().map(<[u8]>::to_vec))
                .collect(),
            _ => Vec::new(),
        };
        if filters.len() > 4 {
            self.cut = true;
            return None;
        }
        let predicted = match stream.dict.get(b"DecodeParms") {
            Ok(Object::Dictionary(p)) => {
                p.get(b"Predictor").and_then(Object::as_i64).unwrap_or(1) > 1
            }
            _ => false,
        };
        let mut data = std::borrow::Cow::Borrowed(stream.content.as_slice());
        for filter in &filters {
            let limit = self.max_stream.min(self.left);
            let decoded = match filter.as_slice() {
                b"FlateDecode" | b"Fl" if !predicted => inflate(&data, limit),
                b"ASCIIHexDecode" | b"AHx" => Some(lexer::hex_string(&data).0),
                b"ASCII85Decode" | b"A85" => ascii85(&data),
                _ => None,
            };
            let Some(decoded) = decoded else {
                self.cut = true;
                return None;
            };
            if decoded.len() as u64 > limit {
                self.cut = true;
                return None;
            }
            data = std::borrow::Cow::Owned(decoded);
        }
        // What is left of the document's budget, as for a stream kept
        // from an earlier document (every filter's own limit is met).
        if !self.charge(false, data.len()) {
            return None;
        }
        Some(data.into_owned())
    }
}

impl Streams {
    /// Charges the budgets for `len` decoded bytes as [`Streams::decode`]
    /// does (`filtered`: through one filter, whose output is held to the
    /// per-stream limit too); false, and the document marked cut, where
    /// decoding would stop.
    fn charge(&mut self, filtered: bool, len: usize) -> bool {
        let len = len as u64;
        let limit = if filtered {
            self.max_stream.min(self.left)
        } else {
            self.left
        };
        if len > limit {
            self.cut = true;
            return false;
        }
        self.left -= len;
        true
    }
}

/// Inflates zlib data, stopping one byte past `limit`. A stream cut off
/// before its end (common in real PDFs) gives what it has.
fn inflate(data: &[u8], limit: u64) -> Option<Vec<u8>> {
    // The `bufread` decoders read the slice in place (the `read` ones copy
    // it through a zeroed 32 KiB buffer of their own, per stream), and room
    // for the usual ratio is made at once rather than grown a doubling at
    // a time.
    let room = |limit: u64| (data.len().saturating_mul(4)).min(limit as usize);
    let mut out = Vec::with_capacity(room(limit));
    let mut decoder = flate2::bufread::ZlibDecoder::new(data).take(limit.saturating_add(1));
    match decoder.read_to_end(&mut out) {
        Ok(_) => Some(out),
        Err(_) if !out.is_empty() => Some(out),
        Err(_) => {
            // Some writers leave out the zlib header: raw deflate.
            let mut out = Vec::with_capacity(room(limit));
            let mut raw = flate2::bufread::DeflateDecoder::new(data).take(limit.saturating_add(1));
            match raw.read_to_end(&mut out) {
                Ok(_) => Some(out),
                Err(_) => (!out.is_empty()).then_some(out),
            }
        }
    }
}

fn ascii85(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() * 4 / 5);
    let mut group = [0u8; 5];
    let mut n = 0;
    let mut bytes = data.iter().copied();
    if data.starts_with(b"<~") {
        bytes.nth(1);
    }
    for b in bytes {
        match b {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = b - b'!';
                n += 1;
                if n == 5 {
                    let value = group.iter().fold(0u64, |v, &d| v * 85 + u64::from(d));
                    out.extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes());
                    n = 0;
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => return None,
        }
    }
    if n > 1 {
        for slot in group.iter_mut().skip(n) {
            *slot = 84;
        }
        let value = group.iter().fold(0u64, |v, &d| v * 85 + u64::from(d));
        out.extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes()[..n - 1]);
    }
    Some(out)
}

/// The reader of one document: its fonts, its output and its budgets.
pub struct Reader<'d> {
    doc: &'d Document,
    streams: Streams,
    fonts: HashMap<ObjectId, Rc<Font>>,
    fallback: Option<Rc<Font>>,
    out: Bounded,
    pen: Option<content::Pen>,
    operations_left: u64,
}

impl<'d> Reader<'d> {
    /// Counts `n` operations; false when the budget is spent.
    fn spend(&mut self, n: u64) -> bool {
        match self.operations_left.checked_sub(n) {
            Some(left) => {
                self.operations_left = left;
                true
            }
            None => {
                self.out.cut = true;
                false
            }
        }
    }

    fn full(&self) -> bool {
        self.out.cut
    }

    fn write(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// Writes a separator between two strings: a space unless there is
    /// white space already; a tab or line break in place of a space.
    fn separate(&mut self, c: char) {
        match self.out.text.chars().next_back() {
            None | Some('\n') => {}
            Some(last) if c == ' ' && last.is_whitespace() => {}
            Some(' ' | '\t') => {
                self.out.text.pop();
                self.out.push(c);
            }
            Some(_) => self.out.push(c),
        }
    }

    fn fallback_font(&mut self) -> Rc<Font> {
        self.fallback
            .get_or_insert_with(|| Rc::new(Font::fallback()))
            .clone()
    }

    /// The font a `Tf` names in `resources`, read once per document.
    fn font(&mut self, resources: Option<&'d Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let doc = self.doc;
        let fonts = get(doc, resources?, b"Font").as_dict().ok()?;
        let entry = fonts.get(name).ok()?;
        if let Object::Reference(id) = entry {
            if let Some(font) = self.fonts.get(id) {
                return Some(font.clone());
            }
            let dict = resolve(doc, entry).as_dict().ok()?;
            let font = Rc::new(Font::read(doc, dict, &mut self.streams));
            if self.fonts.len() < 4096 {
                self.fonts.insert(*id, font.clone());
            }
            return Some(font);
        }
        let dict = entry.as_dict().ok()?;
        Some(Rc::new(Font::read(doc, dict, &mut self.streams)))
    }
}

#[cfg(test)]
mod tests;

/// PDFs as word processors write them, made from code for the tests and the
/// fuzzer's seeds: font subsets with their own glyph numbers and ToUnicode
/// maps, compressed page streams, kerned `TJ` arrays, tables as positioned
/// cells, forms. Not a PDF writer for any other use.
#[doc(hidden)]
pub mod fixtures {
    use std::collections::BTreeMap;
    use std::io::Write;

    /// Objects numbered from 1 in the order added.
    #[derive(Default)]
    pub struct Builder {
        objects: Vec<Vec<u8>>,
    }

    impl Builder {
        /// Reserves the next object number (filled by [`Builder::set`]).
        pub fn reserve(&mut self) -> usize {
            self.objects.push(Vec::new());
            self.objects.len()
        }

        pub fn set(&mut self, id: usize, body: impl Into<Vec<u8>>) {
            self.objects[id - 1] = body.into();
        }

        pub fn object(&mut self, body: impl Into<Vec<u8>>) -> usize {
            let id = self.reserve();
            self.set(id, body);
            id
        }

        /// A stream object; compressed with FlateDecode when asked.
        pub fn stream(&mut self, dict: &str, data: &[u8], compress: bool) -> usize {
            let (data, filter) = if compress {
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = z.write_all(data);
                (z.finish().unwrap_or_default(), " /Filter /FlateDecode")
            } else {
                (data.to_vec(), "")
            };
            let mut body =
                format!("<< {dict}{filter} /Length {} >>\nstream\n", data.len()).into_bytes();
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\nendstream");
            self.object(body)
        }

        /// The file, with `root` as its catalog.
        pub fn finish(self, root: usize) -> Vec<u8> {
            let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
            let mut offsets = Vec::new();
            for (i, body) in self.objects.iter().enumerate() {
                offsets.push(out.len());
                out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(b"\nendobj\n");
            }
            let xref = out.len();
            out.extend_from_slice(
                format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
            );
            for off in offsets {
                out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
            }
            out.extend_from_slice(
                format!(
                    "trailer\n<< /Size {} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                    self.objects.len() + 1
                )
                .as_bytes(),
            );
            out
        }
    }

    /// A font subset as Word embeds one: glyph numbers in first-use order
    /// (nothing like Unicode), `Identity-H`, widths by `/W`, and a ToUnicode
    /// map with the digits as one `bfrange` and the rest as `bfchar`.
    pub struct Subset {
        glyphs: BTreeMap<char, u16>,
    }

    impl Subset {
        pub fn new(texts: &[&str]) -> Subset {
            let mut glyphs = BTreeMap::new();
            // Digits get consecutive glyphs, as a range.
            for (i, d) in ('0'..='9').enumerate() {
                glyphs.insert(d, 0x20 + i as u16);
            }
            let mut next = 0x40u16;
            for c in texts.iter().flat_map(|t| t.chars()) {
                glyphs.entry(c).or_insert_with(|| {
                    next += 1;
                    next
                });
            }
            Subset { glyphs }
        }

        /// The string operand (hex) that shows `text`.
        pub fn show(&self, text: &str) -> String {
            let mut out = String::from("<");
            for c in text.chars() {
                out.push_str(&format!(
                    "{:04X}",
                    self.glyphs.get(&c).copied().unwrap_or(0)
                ));
            }
            out.push('>');
            out
        }

        /// Advance of `text` at `size`, with every glyph 500 units wide.
        pub fn width(&self, text: &str, size: f32) -> f32 {
            text.chars().count() as f32 * 0.5 * size
        }

        /// Adds the font's objects; returns the Type0 font's number.
        pub fn add(&self, b: &mut Builder) -> usize {
            let mut chars = String::new();
            let mut count = 0;
            for (&c, &g) in &self.glyphs {
                if c.is_ascii_digit() {
                    continue;
                }
                let mut units = [0u16; 2];
                let hex: String = c
                    .encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("{u:04X}"))
                    .collect();
                chars.push_str(&format!("<{g:04X}> <{hex}>\n"));
                count += 1;
            }
            let cmap = format!(
                "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n{count} beginbfchar\n{chars}endbfchar\n1 beginbfrange\n<0020> <0029> <0030>\nendbfrange\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
            );
            let to_unicode = b.stream("", cmap.as_bytes(), true);
            let descriptor = b.object(
                "<< /Type /FontDescriptor /FontName /ABCDEF+Calibri /Flags 32 /FontBBox [0 -250 1000 750] /ItalicAngle 0 /Ascent 750 /Descent -250 /CapHeight 650 /StemV 80 >>",
            );
            let cid = b.object(format!(
                "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Calibri /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {descriptor} 0 R /DW 1000 /W [0 [500] 1 65535 500] /CIDToGIDMap /Identity >>"
            ));
            b.object(format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H /DescendantFonts [{cid} 0 R] /ToUnicode {to_unicode} 0 R >>"
            ))
        }
    }

    /// A page tree and catalog for the given content streams (one page each)
    /// with `/F1` as their font; returns the catalog's number.
    pub fn pages(b: &mut Builder, font: usize, contents: &[usize], xobjects: &str) -> usize {
        let tree = b.reserve();
        let kids: Vec<usize> = contents
            .iter()
            .map(|c| {
                b.object(format!(
                    "<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 595 842] /Contents {c} 0 R >>"
                ))
            })
            .collect();
        let kid_refs: Vec<String> = kids.iter().map(|k| format!("{k} 0 R")).collect();
        b.set(
            tree,
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} /Resources << /Font << /F1 {font} 0 R >> /XObject << {xobjects} >> >> >>",
                kid_refs.join(" "),
                kids.len()
            ),
        );
        b.object(format!("<< /Type /Catalog /Pages {tree} 0 R >>"))
    }

    /// A report as a word processor exports it: a title, paragraphs wrapped
    /// into lines (words kerned in `TJ` arrays), then a table drawn cell by
    /// cell at column positions, 40 lines a page.
    pub fn report(paragraphs: &[&str], table: &[Vec<&str>]) -> Vec<u8> {
        let cells: Vec<&str> = table.iter().flatten().copied().collect();
        let mut texts = paragraphs.to_vec();
        texts.extend(&cells);
        texts.push("Rapport");
        let font = Subset::new(&texts);
        let mut pages: Vec<String> = vec![String::new()];
        let mut y = 800.0f32;
        let line = |page_text: &mut Vec<String>, y: &mut f32, content: String| {
            if *y < 60.0 {
                page_text.push(String::new());
                *y = 800.0;
            }
            if let Some(p) = page_text.last_mut() {
                p.push_str(&format!("BT /F1 10 Tf 1 0 0 1 56 {y:.1} Tm {content} ET\n"));
            }
            *y -= 14.0;
        };
        line(&mut pages, &mut y, format!("{} Tj", font.show("Rapport")));
        for p in paragraphs {
            let mut current = String::new();
            let mut written = 0;
            let words: Vec<&str> = p.split(' ').collect();
            for (i, w) in words.iter().enumerate() {
                if written + w.len() > 80 {
                    line(&mut pages, &mut y, format!("[{current}] TJ"));
                    current.clear();
                    written = 0;
                }
                written += w.len() + 1;
                // Kerning inside a word, and a word space as a space glyph.
                let (a, rest) = w.split_at(w.char_indices().nth(1).map_or(w.len(), |(i, _)| i));
                current.push_str(&format!("{} -12 {}", font.show(a), font.show(rest)));
                if i + 1 < words.len() {
                    current.push_str(&format!(" {} ", font.show(" ")));
                }
            }
            if !current.is_empty() {
                line(&mut pages, &mut y, format!("[{current}] TJ"));
            }
        }
        for row in table {
            if y < 60.0 {
                pages.push(String::new());
                y = 800.0;
            }
            let mut x = 56.0f32;
            let Some(page) = pages.last_mut() else { break };
            page.push_str("q 0.5 w 0 0 0 RG\n");
            for cell in row {
                page.push_str(&format!(
                    "BT /F1 9 Tf 1 0 0 1 {:.1} {y:.1} Tm {} Tj ET\n",
                    x + 6.0,
                    font.show(cell)
                ));
                page.push_str(&format!("{x:.1} {:.1} 150 14 re S\n", y - 4.0));
                x += 150.0;
            }
            page.push_str("Q\n");
            y -= 14.0;
        }
        let mut b = Builder::default();
        let font_id = font.add(&mut b);
        let contents: Vec<usize> = pages
            .iter()
            .map(|p| b.stream("", p.as_bytes(), true))
            .collect();
        let root = pages_root(&mut b, font_id, &contents);
        b.finish(root)
    }

    fn pages_root(b: &mut Builder, font: usize, contents: &[usize]) -> usize {
        pages(b, font, contents, "")
    }
}
