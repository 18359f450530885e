//! Text of office documents: DOCX, XLSX, PPTX (Office Open XML) and ODT, ODS,
//! ODP (OpenDocument). All are zip archives of XML; the caller opens the zip
//! (with its limits) and hands us each XML member as a string.
//!
//! What matters for detection is reading order without artificial breaks:
//! Word splits a paragraph into runs (a spell-check mark can cut a number in
//! two), so runs are joined with nothing; paragraphs, cells and rows get the
//! separators a reader would see.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Text that stops growing at its limit. The limit is counted on the text
/// produced, not on the XML read: a 100 KB workbook can reference one 1 MiB
/// shared string a million times.
#[derive(Debug, Default)]
pub struct Bounded {
    pub text: String,
    max: usize,
    /// The limit cut the text short.
    pub cut: bool,
}

impl Bounded {
    pub fn new(max: usize) -> Bounded {
        Bounded {
            text: String::new(),
            max,
            cut: false,
        }
    }

    pub fn push_str(&mut self, s: &str) {
        if self.cut {
            return;
        }
        let room = self.max.saturating_sub(self.text.len());
        if s.len() <= room {
            // A PDF's text arrives a character at a time: one byte is
            // pushed as the ASCII character it is, without a copy call.
            match s.as_bytes() {
                &[b] => self.text.push(char::from(b)),
                _ => self.text.push_str(s),
            }
            return;
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.cut = true;
    }

    pub fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }
}

/// Text from a WordprocessingML part (document, header, footer, footnotes,
/// comments) or a PresentationML slide.
///
/// A table reads as a table: one line per row, cells separated by tabs,
/// the paragraphs inside a cell joined by spaces (see `extract::table`).
pub fn wordprocessing_text(xml: &str, max: usize) -> Result<Bounded, XmlError> {
    let mut out = Bounded::new(max);
    // Cells open around the current text (tables nest).
    let mut in_cells = 0usize;
    walk(xml, |ev| match ev {
        XmlEvent::Text {
            in_text_element: true,
            text,
        } => out.push_str(text),
        XmlEvent::Start("tc") => in_cells += 1,
        XmlEvent::Start("tab") | XmlEvent::Empty("tab") if in_cells > 0 => out.push(' '),
        XmlEvent::Start("tab") | XmlEvent::Empty("tab") => out.push('\t'),
        XmlEvent::Start("br" | "cr") | XmlEvent::Empty("br" | "cr") if in_cells > 0 => {
            out.push(' ')
        }
        XmlEvent::Start("br" | "cr") | XmlEvent::Empty("br" | "cr") => out.push('\n'),
        XmlEvent::End("p") if in_cells > 0 => out.push(' '),
        XmlEvent::End("p") => out.push('\n'),
        XmlEvent::End("tc") => {
            in_cells = in_cells.saturating_sub(1);
            out.push('\t');
        }
        XmlEvent::End("tr") => out.push('\n'),
        _ => {}
    })?;
    Ok(out)
}

/// A cell's text on one line: the line breaks and tabs inside a cell
/// (Alt+Enter in Excel) would otherwise split its row.
fn push_cell(out: &mut Bounded, text: &str) {
    // Piece by piece: past the limit each piece costs nothing, and a cell
    // referenced a million times must not be copied a million times.
    if out.cut {
        return;
    }
    for (i, piece) in text.split(['\n', '\r', '\t']).enumerate() {
        if out.cut {
            return;
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(piece);
    }
}

/// The shared strings table of a workbook, in index order.
pub fn shared_strings(xml: &str) -> Result<Vec<String>, XmlError> {
    let mut strings = Vec::new();
    let mut current = String::new();
    walk(xml, |ev| match ev {
        XmlEvent::Start("si") => current.clear(),
        XmlEvent::Text {
            in_text_element: true,
            text,
        } => current.push_str(text),
        XmlEvent::End("si") => strings.push(std::mem::take(&mut current)),
        _ => {}
    })?;
    Ok(strings)
}

/// Text of one worksheet: cells separated by tabs, rows by line breaks.
/// Numeric cells that look like an identifier that lost its leading zero
/// (ten digits where eleven were typed) are read back with the zero.
pub fn worksheet_text(xml: &str, shared: &[String], max: usize) -> Result<Bounded, XmlError> {
    let mut out = Bounded::new(max);
    let mut cell_type = String::new();
    let mut value = String::new();
    // Only <v> (value) and <t> (inline string) hold what a cell shows; <f>
    // holds its formula.
    let mut in_value = false;
    walk_with_attrs(xml, |ev, attr| match ev {
        XmlEvent::Start("c") => {
            cell_type = attr("t").unwrap_or_default();
            value.clear();
        }
        XmlEvent::Start("v" | "t") => in_value = true,
        XmlEvent::End("v" | "t") => in_value = false,
        XmlEvent::Text { text, .. } if in_value => value.push_str(text),
        XmlEvent::End("c") => {
            match cell_type.as_str() {
                "s" => push_cell(
                    &mut out,
                    value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| shared.get(i))
                        .map_or("", String::as_str),
                ),
                "inlineStr" | "str" | "e" | "b" => push_cell(&mut out, &value),
                _ => out.push_str(&numeric_cell_text(value.trim())),
            }
            out.push('\t');
        }
        XmlEvent::End("row") => out.push('\n'),
        _ => {}
    })?;
    Ok(out)
}

/// A numeric cell as a person would have typed it. Integers are written out in
/// full (`1.5076500565E10` is `15076500565`) and ten-digit integers get back
/// the leading zero a spreadsheet drops from `01019012345`.
pub fn numeric_cell_text(raw: &str) -> String {
    let Ok(v) = raw.parse::<f64>() else {
        return raw.to_string();
    };
    if v.fract() != 0.0 || !(0.0..1e19).contains(&v) {
        return raw.to_string();
    }
    let n = v as u64;
    if (1_000_000_000..10_000_000_000).contains(&n) {
        format!("{n:011}")
    } else {
        n.to_string()
    }
}

/// Text of an OpenDocument `content.xml` (text, spreadsheet, presentation).
pub fn opendocument_text(xml: &str, max: usize) -> Result<Bounded, XmlError> {
    let mut out = Bounded::new(max);
    let mut in_cells = 0usize;
    walk_with_attrs(xml, |ev, attr| match ev {
        XmlEvent::Text { text, .. } => out.push_str(text),
        XmlEvent::Start("s") | XmlEvent::Empty("s") => {
            let n = attr("c").and_then(|c| c.parse::<usize>().ok()).unwrap_or(1);
            for _ in 0..n.min(64) {
                out.push(' ');
            }
        }
        XmlEvent::Start("table-cell" | "covered-table-cell") => in_cells += 1,
        // Empty cells, repeated: each keeps its column.
        XmlEvent::Empty("table-cell" | "covered-table-cell") => {
            let n = attr("number-columns-repeated")
                .and_then(|c| c.parse::<usize>().ok())
                .unwrap_or(1);
            for _ in 0..n.min(64) {
                out.push('\t');
            }
        }
        XmlEvent::Start("tab") | XmlEvent::Empty("tab") if in_cells > 0 => out.push(' '),
        XmlEvent::Start("tab") | XmlEvent::Empty("tab") => out.push('\t'),
        XmlEvent::Start("line-break") | XmlEvent::Empty("line-break") if in_cells > 0 => {
            out.push(' ')
        }
        XmlEvent::Start("line-break") | XmlEvent::Empty("line-break") => out.push('\n'),
        XmlEvent::End("p" | "h") if in_cells > 0 => out.push(' '),
        XmlEvent::End("p" | "h") => out.push('\n'),
        XmlEvent::End("table-cell" | "covered-table-cell") => {
            in_cells = in_cells.saturating_sub(1);
            out.push('\t');
        }
        XmlEvent::End("table-row") => out.push('\n'),
        _ => {}
    })?;
    Ok(out)
}

/// A simplified XML event: local names only, text already unescaped.
#[derive(Debug)]
pub enum XmlEvent<'a> {
    Start(&'a str),
    Empty(&'a str),
    End(&'a str),
    /// `in_text_element` is true inside `<w:t>`, `<a:t>`, `<t>` (the OOXML
    /// text-bearing elements), where whitespace is content.
    Text {
        text: &'a str,
        in_text_element: bool,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("malformed XML")]
pub struct XmlError;

fn walk(xml: &str, mut f: impl FnMut(XmlEvent<'_>)) -> Result<(), XmlError> {
    walk_with_attrs(xml, |ev, _| f(ev))
}

/// Drives `f` over the document. `attr(name)` reads an attribute of the
/// current start or empty element by local name.
fn walk_with_attrs(
    xml: &str,
    mut f: impl FnMut(XmlEvent<'_>, &dyn Fn(&str) -> Option<String>),
) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut in_t = 0usize;
    let no_attrs = |_: &str| None;
    loop {
        let event = reader.read_event().map_err(|_| XmlError)?;
        match event {
            Event::Start(e) => {
                let qname = e.name();
                let name = local(qname.as_ref());
                if name == "t" {
                    in_t += 1;
                }
                let attr = |want: &str| attribute(&e, want);
                f(XmlEvent::Start(name), &attr);
            }
            Event::Empty(e) => {
                let qname = e.name();
                let name = local(qname.as_ref());
                let attr = |want: &str| attribute(&e, want);
                f(XmlEvent::Empty(name), &attr);
            }
            Event::End(e) => {
                let qname = e.name();
                let name = local(qname.as_ref());
                if name == "t" {
                    in_t = in_t.saturating_sub(1);
                }
                f(XmlEvent::End(name), &no_attrs);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                f(
                    XmlEvent::Text {
                        text: &content,
                        in_text_element: in_t > 0,
                    },
                    &no_attrs,
                );
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                f(
                    XmlEvent::Text {
                        text: &content,
                        in_text_element: in_t > 0,
                    },
                    &no_attrs,
                );
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    match &*r {
                        "amp" => Some("&".into()),
                        "lt" => Some("<".into()),
                        "gt" => Some(">".into()),
                        "quot" => Some("\"".into()),
                        "apos" => Some("'".into()),
                        _ => None,
                    }
                };
                if let Some(s) = resolved {
                    f(
                        XmlEvent::Text {
                            text: &s,
                            in_text_element: in_t > 0,
                        },
                        &no_attrs,
                    );
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// A qualified XML name without its namespace prefix. A byte search, not
/// `rsplit`: it runs for every element of every office document, and the
/// string-pattern machinery was 2% of a scan of office mail.
fn local(qname: &str) -> &str {
    match qname.as_bytes().iter().rposition(|&b| b == b':') {
        Some(colon) => &qname[colon + 1..],
        None => qname,
    }
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, want: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (local(a.key.as_ref()) == want)
            .then(|| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_runs_split_inside_a_number_are_joined() {
        let xml = r#"<w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Fnr: 0101</w:t></w:r><w:proofErr/><w:r><w:t xml:space="preserve">90 12</w:t></w:r><w:r><w:t>345</w:t></w:r></w:p>
            <w:p><w:r><w:t>Neste</w:t></w:r><w:r><w:tab/><w:t>&amp;</w:t></w:r></w:p>
        </w:body></w:document>"#;
        let text = wordprocessing_text(xml, usize::MAX).expect("valid").text;
        assert!(text.contains("Fnr: 010190 12345\n"), "{text:?}");
        assert!(text.contains("Neste\t&\n"), "{text:?}");
    }

    #[test]
    fn worksheet_cells_shared_inline_and_numeric() {
        let shared = shared_strings(
            r#"<sst><si><t>Navn</t></si><si><r><t>Ola </t></r><r><t>Nordmann</t></r></si></sst>"#,
        )
        .expect("valid");
        assert_eq!(shared, vec!["Navn", "Ola Nordmann"]);
        let xml = r#"<worksheet><sheetData>
            <row><c t="s"><v>0</v></c><c t="inlineStr"><is><t>fnr</t></is></c></row>
            <row><c t="s"><v>1</v></c><c><v>1076500565</v></c><c><v>1.5076500565E10</v></c><c><v>3.5</v></c></row>
        </sheetData></worksheet>"#;
        let text = worksheet_text(xml, &shared, usize::MAX)
            .expect("valid")
            .text;
        assert_eq!(
            text,
            "Navn\tfnr\t\nOla Nordmann\t01076500565\t15076500565\t3.5\t\n"
        );
    }

    #[test]
    fn opendocument_spaces_and_cells() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:body>
            <text:p>Fnr 010190<text:s/>12345</text:p>
            <table:table-row><table:table-cell><text:p>a</text:p></table:table-cell></table:table-row>
        </office:body></office:document-content>"#;
        let text = opendocument_text(xml, usize::MAX).expect("valid").text;
        assert!(text.contains("Fnr 010190 12345\n"), "{text:?}");
    }

    #[test]
    fn a_shared_string_referenced_a_million_times_stops_at_the_limit() {
        let shared = vec!["x".repeat(1 << 20)];
        let cells = "<c t=\"s\"><v>0</v></c>".repeat(20_000);
        let xml = format!("<worksheet><sheetData><row>{cells}</row></sheetData></worksheet>");
        let out = worksheet_text(&xml, &shared, 8 << 20).expect("valid");
        assert!(out.cut);
        assert_eq!(out.text.len(), 8 << 20);
        let mut b = Bounded::new(5);
        b.push_str("abcæøå");
        assert_eq!((b.text.as_str(), b.cut), ("abcæ", true));
    }

    #[test]
    fn local_names_drop_the_prefix() {
        for (qname, want) in [
            ("w:t", "t"),
            ("t", "t"),
            ("a:b:c", "c"),
            (":x", "x"),
            ("x:", ""),
            ("", ""),
            ("æ:ø", "ø"),
        ] {
            assert_eq!(local(qname), want, "{qname}");
        }
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        assert!(wordprocessing_text("<w:p><w:t>x</w:p></w:t>", usize::MAX).is_err());
    }
}
