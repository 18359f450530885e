//! A look at a PDF's compressed streams before the PDF library reads it.
//!
//! The library inflates every stream it needs without a limit, and a chain
//! of filters multiplies: a few kilobytes can ask for gigabytes, and an
//! allocation failure is not a panic `catch_unwind` can catch. So each
//! Flate-compressed stream is inflated here first, through a counter that
//! stops at the limit, for every FlateDecode in its filter chain; a document
//! whose streams would pass the per-stream or per-document limit is
//! reported and never handed to the library.

use flate2::read::ZlibDecoder;
use std::io::Read;

/// How a PDF's streams measure against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Within,
    /// One stream, or all together, would decompress past the limit.
    TooLarge,
}

/// Inflates the Flate streams of `pdf` (each as often as its filter chain
/// says) and sums what they produce, stopping as soon as a stream passes
/// `per_stream` or the sum passes `per_document`.
pub fn check(pdf: &[u8], per_stream: u64, per_document: u64) -> Verdict {
    // Deflate expands at most 1032 to 1: when even that bound stays within
    // the limits (most documents), nothing needs inflating to know it.
    let mut bound_total: u64 = 0;
    let mut bounded = true;
    for_each_flate_stream(pdf, |floods, data| {
        let bound = (0..floods).fold(data.len() as u64, |n, _| n.saturating_mul(MAX_RATIO));
        bound_total = bound_total.saturating_add(bound);
        if bound > per_stream || bound_total > per_document {
            bounded = false;
        }
        bounded
    });
    if bounded {
        return Verdict::Within;
    }
    exact(pdf, per_stream, per_document)
}

/// The most a deflate stream can expand.
const MAX_RATIO: u64 = 1032;

/// Calls `f(flate filters, data)` for each stream with a FlateDecode
/// filter, until it returns false.
fn for_each_flate_stream(pdf: &[u8], mut f: impl FnMut(usize, &[u8]) -> bool) {
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&pdf[at..], b"stream") {
        let keyword = at + found;
        at = keyword + 6;
        if keyword >= 3 && &pdf[keyword - 3..keyword] == b"end" {
            continue;
        }
        let mut data = at;
        if pdf.get(data) == Some(&b'\r') {
            data += 1;
        }
        if pdf.get(data) != Some(&b'\n') {
            continue;
        }
        data += 1;
        let dict_start = pdf[..keyword]
            .windows(2)
            .rposition(|w| w == b"<<")
            .unwrap_or(0);
        let floods = flate_count(&pdf[dict_start..keyword]);
        if floods == 0 {
            continue;
        }
        let end = memchr::memmem::find(&pdf[data..], b"endstream").map_or(pdf.len(), |e| data + e);
        if !f(floods, &pdf[data..end]) {
            return;
        }
        at = end;
    }
}

/// Inflates every Flate stream for real, counting.
fn exact(pdf: &[u8], per_stream: u64, per_document: u64) -> Verdict {
    let mut total: u64 = 0;
    let mut verdict = Verdict::Within;
    for_each_flate_stream(pdf, |floods, data| {
        let limit = per_stream.min(per_document.saturating_sub(total));
        match inflated_size(data, floods, limit) {
            Some(size) if total + size <= per_document => {
                total += size;
                true
            }
            _ => {
                verdict = Verdict::TooLarge;
                false
            }
        }
    });
    verdict
}

/// What `data` inflates to through `floods` Flate filters, or `None` past
/// `limit`. A damaged stream is the library's to judge: only size matters,
/// counted up to the first error (a bomb with a damaged tail is a bomb).
fn inflated_size(data: &[u8], floods: usize, limit: u64) -> Option<u64> {
    let mut produced = data.to_vec();
    // Every filter but the last must be kept to feed the next; the last is
    // only counted.
    for _ in 1..floods {
        let mut out = Vec::new();
        let mut reader = ZlibDecoder::new(&produced[..]).take(limit.saturating_add(1));
        let _ = reader.read_to_end(&mut out);
        if out.len() as u64 > limit {
            return None;
        }
        produced = out;
    }
    let mut reader = ZlibDecoder::new(&produced[..]).take(limit.saturating_add(1));
    let mut size = 0u64;
    let mut buf = [0u8; 64 << 10];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        size += n as u64;
    }
    (size <= limit).then_some(size)
}

/// How many FlateDecode filters a stream dictionary names.
fn flate_count(dict: &[u8]) -> usize {
    memchr::memmem::find_iter(dict, b"/FlateDecode").count()
        + memchr::memmem::find_iter(dict, b"/Fl ").count()
        + memchr::memmem::find_iter(dict, b"/Fl]").count()
        + memchr::memmem::find_iter(dict, b"/Fl/").count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).expect("writes");
        e.finish().expect("finishes")
    }

    fn pdf_with(filters: &str, data: &[u8]) -> Vec<u8> {
        let mut pdf = format!(
            "%PDF-1.4\n1 0 obj\n<< /Length {} /Filter {filters} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        pdf.extend_from_slice(data);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        pdf
    }

    #[test]
    fn a_bomb_is_caught_and_a_chain_multiplies() {
        let big = vec![b'0'; 8 << 20];
        let once = deflate(&big);
        assert!(once.len() < 64 << 10);
        assert_eq!(
            check(&pdf_with("/FlateDecode", &once), 4 << 20, 64 << 20),
            Verdict::TooLarge
        );
        assert_eq!(
            check(&pdf_with("/FlateDecode", &once), 16 << 20, 64 << 20),
            Verdict::Within
        );
        // Twice deflated: small enough once, a bomb the second time.
        let twice = deflate(&once);
        let chained = pdf_with("[/FlateDecode /FlateDecode]", &twice);
        assert_eq!(check(&chained, 4 << 20, 64 << 20), Verdict::TooLarge);
        // Many modest streams add up past the document's limit.
        let mut doc = Vec::new();
        for _ in 0..10 {
            doc.extend(pdf_with("/FlateDecode", &once));
        }
        assert_eq!(check(&doc, 16 << 20, 64 << 20), Verdict::TooLarge);
        assert_eq!(check(b"%PDF-1.4 no streams", 1, 1), Verdict::Within);
    }
}
