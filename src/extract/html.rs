//! HTML to plain text, for detection rather than display.
//!
//! What matters here is that a person's reading of the page survives: entities
//! decoded (`010190&nbsp;12345`), inline tags vanishing without a trace
//! (`010190<span>12345</span>` reads as one number), block tags becoming line
//! breaks, scripts, styles and comments dropped. A layout engine such as
//! html2text builds a DOM per message and costs far more than the detectors
//! themselves; this single pass is linear and allocation-light, and named
//! entities come from `html-escape`'s complete table.

/// Elements whose content is never shown to a reader.
const HIDDEN: &[&str] = &[
    "script", "style", "head", "title", "template", "noscript", "xml",
];

/// Elements that start a new line in a rendered page.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// Elements that separate cells on one line.
const CELL: &[&str] = &["td", "th"];

/// Tables open at once; deeper ones are read as plain blocks (a hostile
/// page can nest a million).
const MAX_TABLE_DEPTH: usize = 32;

/// A table being read: its rows of cells so far. Cell text is written to
/// the output as usual and moved into the cell when the cell ends, so text
/// is never copied more than once per table.
#[derive(Debug)]
struct OpenTable {
    /// Where the table's text starts in the output.
    start: usize,
    rows: Vec<Vec<String>>,
    /// Where the open cell's text starts in the output.
    cell: Option<usize>,
    /// It holds another table: a layout, not data.
    nested: bool,
}

impl OpenTable {
    fn close_cell(&mut self, out: &mut String) {
        if let Some(at) = self.cell.take() {
            let text = out.split_off(at.min(out.len()));
            match self.rows.last_mut() {
                Some(row) => row.push(text),
                None => self.rows.push(vec![text]),
            }
        }
    }

    /// Writes the finished table where it started: a data table (two rows
    /// or more, a row of two cells or more, short cells, no table inside) as
    /// one line per row with tab-separated cells, whatever paragraphs and
    /// breaks the cells held (Outlook puts a `<p>` in every cell); a layout
    /// table cell by cell, as it reads.
    fn finish(mut self, out: &mut String) {
        self.close_cell(out);
        let stray = out.split_off(self.start.min(out.len()));
        if !stray.trim().is_empty() {
            self.rows.push(vec![stray]);
        }
        let data = !self.nested
            && self.rows.len() >= 2
            && self.rows.iter().any(|r| r.len() >= 2)
            && self
                .rows
                .iter()
                .flatten()
                .all(|c| c.trim().chars().count() <= 400);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        for row in &self.rows {
            let single_lines = data || row.iter().all(|c| !c.trim().contains('\n'));
            for (k, cell) in row.iter().enumerate() {
                if k > 0 {
                    out.push(if single_lines { '\t' } else { '\n' });
                }
                if data {
                    let mut space = false;
                    let mut line_break = false;
                    for (n, line) in cell.split('\n').enumerate() {
                        line_break |= n > 0;
                        for word in line.split(['\t', ' ']) {
                            if word.is_empty() {
                                continue;
                            }
                            if space && !(line_break && broken_number(out, word)) {
                                out.push(' ');
                            }
                            out.push_str(word);
                            space = true;
                            line_break = false;
                        }
                    }
                } else {
                    out.push_str(cell.trim_matches(|c: char| c.is_ascii_whitespace()));
                }
            }
            out.push('\n');
        }
    }
}

/// Converts HTML to the text a reader sees.
pub fn to_text(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut text_start = 0;
    let mut i = 0;
    let mut hidden_until: Option<String> = None;
    let mut tables: Vec<OpenTable> = Vec::new();
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        if hidden_until.is_none() {
            push_text(&mut out, &html[text_start..i]);
        }
        // Comments, doctype and CDATA.
        if html[i..].starts_with("<!--") {
            i = html[i + 4..]
                .find("-->")
                .map_or(bytes.len(), |p| i + 4 + p + 3);
            text_start = i;
            continue;
        }
        if html[i..].starts_with("<!") || html[i..].starts_with("<?") {
            i = html[i..].find('>').map_or(bytes.len(), |p| i + p + 1);
            text_start = i;
            continue;
        }
        let tag_len = match tag_length(&bytes[i..]) {
            Some(n) => n,
            // `<` then a letter, but no `>` closes it (taking quotes into
            // account): as a browser recovers, the tag ends at the next `>`
            // whatever the quotes; with no `>` left at all, no tag can follow
            // and the rest is text. Either way each byte is scanned a bounded
            // number of times (`<p<p<p…` was quadratic).
            None if starts_tag(&bytes[i..]) => match memchr::memchr(b'>', &bytes[i..]) {
                Some(p) => p + 1,
                None => {
                    if hidden_until.is_none() {
                        push_text(&mut out, &html[i..]);
                    }
                    while let Some(t) = tables.pop() {
                        t.finish(&mut out);
                    }
                    return out;
                }
            },
            None => {
                // A lone `<` is text ("a < b").
                if hidden_until.is_none() {
                    out.push('<');
                }
                i += 1;
                text_start = i;
                continue;
            }
        };
        let tag = &html[i + 1..i + tag_len - 1];
        i += tag_len;
        text_start = i;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(until) = &hidden_until {
            if closing && &name == until {
                hidden_until = None;
            }
            continue;
        }
        if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') {
            hidden_until = Some(name);
            continue;
        }
        let depth = tables.len();
        match (name.as_str(), closing, tables.last_mut()) {
            ("table", false, parent) if depth < MAX_TABLE_DEPTH => {
                if let Some(p) = parent {
                    p.nested = true;
                }
                tables.push(OpenTable {
                    start: out.len(),
                    rows: Vec::new(),
                    cell: None,
                    nested: false,
                });
                continue;
            }
            ("table", true, Some(_)) => {
                if let Some(t) = tables.pop() {
                    t.finish(&mut out);
                }
                continue;
            }
            ("tr", _, Some(t)) => {
                t.close_cell(&mut out);
                if !closing {
                    t.rows.push(Vec::new());
                }
                continue;
            }
            ("td" | "th", _, Some(t)) => {
                t.close_cell(&mut out);
                if !closing {
                    t.cell = Some(out.len());
                }
                continue;
            }
            _ => {}
        }
        if BLOCK.contains(&name.as_str()) {
            if !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
        } else if CELL.contains(&name.as_str()) && !closing && !out.ends_with(['\n', '\t']) {
            out.push('\t');
        } else if name == "img" {
            // Alt text is what a reader sees when images are off.
            if let Some(alt) = attribute(tag, "alt") {
                push_text(&mut out, alt);
            }
        }
    }
    if hidden_until.is_none() {
        push_text(&mut out, &html[text_start..]);
    }
    while let Some(t) = tables.pop() {
        t.finish(&mut out);
    }
    out
}

/// Whether a `<` here could start a tag (a letter or `/` follows).
fn starts_tag(bytes: &[u8]) -> bool {
    bytes
        .get(1)
        .is_some_and(|next| next.is_ascii_alphabetic() || *next == b'/')
}

/// Length of the tag starting at `<`, honouring quoted attribute values, or
/// `None` if this `<` does not start a tag or nothing closes it.
fn tag_length(bytes: &[u8]) -> Option<usize> {
    if !starts_tag(bytes) {
        return None;
    }
    let mut quote: Option<u8> = None;
    for (j, &b) in bytes.iter().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(j + 1),
            _ => {}
        }
    }
    None
}

fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[at..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let end = rest[1..].find(quote)?;
        Some(&rest[1..1 + end])
    } else {
        Some(rest.split(|c: char| c.is_whitespace()).next().unwrap_or(""))
    }
}

/// Appends a text run with entities decoded and source whitespace collapsed
/// the way a browser renders it (line breaks in the source are spaces).
fn push_text(out: &mut String, raw: &str) {
    if raw.is_empty() {
        return;
    }
    let decoded = html_escape::decode_html_entities(raw);
    let mut in_space = out.ends_with([' ', '\n', '\t']);
    for c in decoded.chars() {
        // Decoded no-break spaces stay: the detectors treat them as spaces,
        // and keeping them distinguishes them from source whitespace.
        if c.is_ascii_whitespace() {
            if !in_space {
                out.push(' ');
                in_space = true;
            }
        } else {
            out.push(c);
            in_space = false;
        }
    }
}

/// Whether a line break in a table cell between `before` and `word`
/// splits one number, as a narrow column wraps it ("1203851<br>0183"):
/// digits on both sides, twelve or fewer together (an identifier's
/// length; two phone numbers one per line are longer and stay apart).
fn broken_number(before: &str, word: &str) -> bool {
    let tail = before.bytes().rev().take_while(u8::is_ascii_digit).count();
    let head = word.bytes().take_while(u8::is_ascii_digit).count();
    tail > 0 && head > 0 && tail + head <= MAX_WRAPPED_DIGITS && head == word.len()
}

/// The longest number a table cell's wrapping is taken to have split.
const MAX_WRAPPED_DIGITS: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclosed_tags_are_linear_and_kept_as_text() {
        // Quadratic before: every `<p` scanned to the end of the body.
        let body = "<p".repeat(500_000);
        let text = to_text(&body);
        assert_eq!(text.len(), body.len());
        // An unclosed quote ends at the next `>`, as browsers recover.
        assert_eq!(to_text("<a title='x>Fnr 150765 00565"), "Fnr 150765 00565");
        assert_eq!(to_text("a<b and c"), "a<b and c");
    }

    #[test]
    fn deep_and_many_tables_stay_linear() {
        // Nesting past the depth limit reads as blocks; every cell's text is
        // moved once.
        let deep = "<table><tr><td>x".repeat(100_000);
        assert_eq!(to_text(&deep).matches('x').count(), 100_000);
        let many = "<table><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></table>"
            .repeat(50_000);
        assert_eq!(to_text(&many).matches("a\t1\nb\t2\n").count(), 50_000);
    }

    #[test]
    fn conversion_table() {
        let cases = [
            (
                "<p>Hei</p><p>Fnr 010190&nbsp;12345</p>",
                "Hei\nFnr 010190\u{a0}12345",
            ),
            ("010190<span>12345</span>", "01019012345"),
            ("010190<b>\n12345</b>", "010190 12345"),
            ("0101&#57;012345", "01019012345"),
            ("<style>p{color:red}</style>tekst", "tekst"),
            ("<script>var x='<b>';</script>ok", "ok"),
            ("a<!-- 15076500565 -->b", "ab"),
            (
                "<table><tr><td>fnr</td><td>15076500565</td></tr></table>",
                "fnr\t15076500565",
            ),
            // Outlook's tables: a paragraph in every cell, one row a line.
            (
                "<table><tr><td><p>Navn</p></td><td><p>Fnr</p></td></tr>\
                 <tr><td><p>Ola</p></td><td><p>150765<br>00565</p></td></tr></table>",
                "Navn\tFnr\nOla\t15076500565",
            ),
            // A narrow column wraps a number anywhere; two numbers one per
            // line (sixteen digits together) stay two.
            (
                "<table><tr><td>Navn</td><td>Fnr</td><td>Tlf</td></tr>\
                 <tr><td>Ola</td><td>1507650<br>0565</td><td>91234567<br>98765432</td></tr></table>",
                "Navn\tFnr\tTlf\nOla\t15076500565\t91234567 98765432",
            ),
            // A layout table around everything reads as its content.
            (
                "<table><tr><td><p>Hei</p><table><tr><td>a</td><td>1</td></tr>\
                 <tr><td>b</td><td>2</td></tr></table><p>Hilsen</p></td></tr></table>",
                "Hei\na\t1\nb\t2\nHilsen",
            ),
            ("1 < 2 &amp; 3 > 2", "1 < 2 & 3 > 2"),
            ("<a href=\"x>y\">lenke</a>", "lenke"),
            ("<img alt=\"kvittering\" src=x>", "kvittering"),
            ("line<br>break", "line\nbreak"),
            ("<div>unterminated", "unterminated"),
            ("<p", "<p"),
        ];
        for (html, want) in cases {
            assert_eq!(to_text(html).trim_matches('\n'), want, "{html}");
        }
    }
}
