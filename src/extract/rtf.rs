//! Text of RTF: `.rtf` attachments, `text/rtf` bodies and the compressed
//! RTF body of Outlook's TNEF (`winmail.dat`).
//!
//! Word and Outlook split text into runs at every change of formatting, so
//! a number can arrive as `150765{\b 005}65` or `150765\b0 0056\b 5`; groups
//! and control words are not separators, so runs join with nothing. Code
//! page bytes (`\'f8`) and Unicode escapes (`\u248?`, with their fallback
//! characters skipped) are decoded; destinations that hold no text for a
//! reader (font and colour tables, pictures, objects, field instructions,
//! document properties) are skipped. Outlook's RTF that wraps HTML
//! (`\fromhtml1`) is read back as that HTML. One pass, bounded output.

use super::office::Bounded;
use encoding_rs::Encoding;

/// Destinations whose content a reader never sees.
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "objdata",
    "fldinst",
    "themedata",
    "colorschememapping",
    "latentstyles",
    "datastore",
    "xmlnstbl",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "generator",
    "filetbl",
    "revtbl",
    "bkmkstart",
    "bkmkend",
    "header",
    "footer",
    "pntext",
];

/// Nesting deeper than this is read as if flat (no state kept per level).
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, Copy)]
struct State {
    skip: bool,
    /// Fallback characters after `\uN`.
    uc: usize,
    /// Inside `\htmlrtf` … `\htmlrtf0`: RTF-only text of an HTML original.
    htmlrtf: bool,
}

/// What an RTF document reads as; `cut` when the output limit was reached.
#[derive(Debug, Default)]
pub struct RtfText {
    pub text: String,
    /// The document is Outlook's wrapping of HTML: `text` is that HTML.
    pub html: bool,
    pub cut: bool,
}

impl RtfText {
    /// What a reader sees: the text, or the text of the wrapped HTML.
    pub fn readable(&self) -> std::borrow::Cow<'_, str> {
        if self.html {
            std::borrow::Cow::Owned(super::html::to_text(&self.text))
        } else {
            std::borrow::Cow::Borrowed(&self.text)
        }
    }
}

/// Reads RTF, producing at most `max` bytes of text.
pub fn read(rtf: &[u8], max: usize) -> RtfText {
    let mut out = Bounded::new(max);
    let mut html = false;
    let mut encoding: &'static Encoding = encoding_rs::WINDOWS_1252;
    // Code-page bytes are gathered and decoded together (a double-byte
    // character arrives as two `\'hh`).
    let mut pending: Vec<u8> = Vec::new();
    let mut stack: Vec<State> = Vec::new();
    let mut state = State {
        skip: false,
        uc: 1,
        htmlrtf: false,
    };
    // Fallback characters still to skip after a `\u`.
    let mut to_skip = 0usize;
    let mut i = 0;
    let flush = |pending: &mut Vec<u8>, out: &mut Bounded, encoding: &'static Encoding| {
        if !pending.is_empty() {
            let (text, _, _) = encoding.decode(pending);
            out.push_str(&text);
            pending.clear();
        }
    };
    while i < rtf.len() && !out.cut {
        let b = rtf[i];
        match b {
            b'{' => {
                flush(&mut pending, &mut out, encoding);
                if stack.len() < MAX_DEPTH {
                    stack.push(state);
                }
                to_skip = 0;
                i += 1;
                // `{\*\dest ...}`: a destination a reader may ignore.
                if rtf[i..].starts_with(b"\\*\\") {
                    let (word, _, _) = control_word(rtf, i + 3);
                    if !(html && word == "htmltag") {
                        state.skip = true;
                    }
                }
            }
            b'}' => {
                flush(&mut pending, &mut out, encoding);
                if let Some(outer) = stack.pop() {
                    state = outer;
                }
                to_skip = 0;
                i += 1;
            }
            b'\\' => {
                let Some(&next) = rtf.get(i + 1) else {
                    break;
                };
                if next.is_ascii_alphabetic() {
                    let (word, param, end) = control_word(rtf, i + 1);
                    i = end;
                    if to_skip > 0 {
                        to_skip -= 1;
                        continue;
                    }
                    if SKIPPED.contains(&word.as_str()) {
                        state.skip = true;
                        continue;
                    }
                    match word.as_str() {
                        "ansicpg" => {
                            flush(&mut pending, &mut out, encoding);
                            if let Some(e) = param.and_then(|p| {
                                Encoding::for_label(format!("windows-{p}").as_bytes())
                            }) {
                                encoding = e;
                            }
                        }
                        "fromhtml" => html = true,
                        "htmlrtf" => state.htmlrtf = param != Some(0),
                        "uc" => state.uc = param.unwrap_or(1).clamp(0, 16) as usize,
                        _ if state.skip || state.htmlrtf => {}
                        "u" => {
                            flush(&mut pending, &mut out, encoding);
                            let code = param.unwrap_or(0);
                            let code = if code < 0 { code + 65_536 } else { code };
                            if let Some(c) = u32::try_from(code).ok().and_then(char::from_u32) {
                                out.push(c);
                            }
                            to_skip = state.uc;
                        }
                        "par" | "line" | "sect" | "page" | "row" => {
                            flush(&mut pending, &mut out, encoding);
                            out.push('\n');
                        }
                        "tab" | "cell" => {
                            flush(&mut pending, &mut out, encoding);
                            out.push('\t');
                        }
                        "emdash" | "endash" => pending.push(b'-'),
                        "lquote" | "rquote" => pending.push(b'\''),
                        "ldblquote" | "rdblquote" => pending.push(b'"'),
                        "bullet" => pending.push(b'*'),
                        _ => {}
                    }
                } else {
                    i += 2;
                    if to_skip > 0 && next != b'\'' {
                        to_skip -= 1;
                        continue;
                    }
                    match next {
                        b'\'' => {
                            let byte = rtf
                                .get(i..i + 2)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u8::from_str_radix(h, 16).ok());
                            i += 2;
                            if to_skip > 0 {
                                to_skip -= 1;
                                continue;
                            }
                            if let Some(byte) = byte
                                && !state.skip
                                && !state.htmlrtf
                            {
                                pending.push(byte);
                            }
                        }
                        _ if state.skip || state.htmlrtf => {}
                        b'~' => pending.extend_from_slice(b"\xa0"),
                        b'_' => pending.push(b'-'),
                        b'\\' | b'{' | b'}' => pending.push(next),
                        b'\n' | b'\r' => {
                            flush(&mut pending, &mut out, encoding);
                            out.push('\n');
                        }
                        // `\-` (optional hyphen) and the rest: nothing seen.
                        _ => {}
                    }
                }
            }
            // Line breaks in the source are not text.
            b'\r' | b'\n' => i += 1,
            _ => {
                i += 1;
                if to_skip > 0 {
                    to_skip -= 1;
                    continue;
                }
                if !state.skip && !state.htmlrtf {
                    pending.push(b);
                }
            }
        }
    }
    flush(&mut pending, &mut out, encoding);
    RtfText {
        text: out.text,
        html,
        cut: out.cut,
    }
}

/// A control word's name and parameter starting at `at` (just past the
/// backslash), and where what follows it starts (past a delimiting space).
fn control_word(rtf: &[u8], at: usize) -> (String, Option<i64>, usize) {
    let mut j = at;
    while j < rtf.len() && rtf[j].is_ascii_alphabetic() && j - at < 32 {
        j += 1;
    }
    let name = String::from_utf8_lossy(&rtf[at..j]).into_owned();
    let num_start = j;
    if j < rtf.len() && rtf[j] == b'-' {
        j += 1;
    }
    while j < rtf.len() && rtf[j].is_ascii_digit() && j - num_start < 10 {
        j += 1;
    }
    let param = std::str::from_utf8(&rtf[num_start..j])
        .ok()
        .and_then(|p| p.parse().ok());
    if j < rtf.len() && rtf[j] == b' ' {
        j += 1;
    }
    (name, param, j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rtf: &str) -> String {
        read(rtf.as_bytes(), 1 << 20).text
    }

    #[test]
    fn runs_and_control_words_join_a_number() {
        let doc = r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Calibri;}}{\colortbl;\red0\green0\blue0;}
\pard Fnr 150765{\b 005}65\par
F\'f8dselsnr 150765\b0 0056\b 5\par
Konto\~1503\u8209?42\'a011111\par}";
        assert_eq!(
            text(doc),
            "Fnr 15076500565\nFødselsnr 15076500565\nKonto\u{a0}1503\u{2011}42\u{a0}11111\n"
        );
    }

    #[test]
    fn unicode_escapes_skip_their_fallback() {
        assert_eq!(text(r"{\rtf1\uc1 S\u248\'f8k\uc2\u229 aa. ok}"), "Søkå. ok");
        assert_eq!(text(r"{\rtf1 \u-3913?}"), "\u{f0b7}");
    }

    #[test]
    fn hidden_destinations_are_skipped() {
        let doc = r"{\rtf1{\info{\author Ola 15076500565}}{\*\generator Word;}{\field{\*\fldinst HYPERLINK 15076500565}{\fldrslt lenke}}{\pict 15076500565abc}synlig}";
        assert_eq!(text(doc), "lenkesynlig");
    }

    #[test]
    fn outlooks_html_in_rtf_is_read_as_that_html() {
        let doc = r"{\rtf1\ansi\fromhtml1 {\*\htmltag19 <html>}{\*\htmltag34 <p>}\htmlrtf {\b x}\htmlrtf0 Fnr 150765\htmlrtf \par \htmlrtf0 00565{\*\htmltag42 </p>}}";
        let read = read(doc.as_bytes(), 1 << 20);
        assert!(read.html);
        assert_eq!(read.text, "<html><p>Fnr 15076500565</p>");
    }

    #[test]
    fn hostile_documents_are_bounded() {
        let deep = "{".repeat(100_000) + "x" + &"}".repeat(100_000);
        assert_eq!(text(&deep), "x");
        let long = format!("{{\\rtf1 {}}}", "a".repeat(10_000));
        let r = read(long.as_bytes(), 100);
        assert!(r.cut && r.text.len() == 100);
        // Truncated escapes and words at the end.
        for end in [r"{\rtf1 \'", r"{\rtf1 \'f", r"{\rtf1 \u", "{\\rtf1 \\"] {
            let _ = text(end);
        }
    }
}
