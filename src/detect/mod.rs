//! Detection: from readable text to findings, for one message at a time.
//!
//! The detectors see only text (already extracted from MIME, HTML and
//! attachments) and return [`Finding`]s that are masked and fingerprinted at
//! the moment they are made, so no clear value survives this module.

pub mod context;
pub mod identifiers;
pub mod inflect;
pub mod special;
mod term_search;
pub mod tokens;

use crate::fingerprint::{Fingerprinter, mask};
use crate::model::{DetectorId, Finding, Location, TextSignals};
use identifiers::IdentifierSettings;
use special::{Evidence, SpecialCategories};
use std::borrow::Cow;
use std::collections::HashMap;

/// Everything needed to look for sensitive data.
#[derive(Debug, Clone)]
pub struct Detectors {
    pub settings: IdentifierSettings,
    pub special: SpecialCategories,
    pub fingerprinter: Fingerprinter,
}

/// Findings of one message, deduplicated as they arrive.
#[derive(Debug, Default)]
pub struct MessageFindings {
    findings: Vec<Finding>,
    /// Where each (detector, fingerprint) stands in `findings`: a message
    /// with a hundred thousand repeated values must not search a list for
    /// each repeat.
    seen: HashMap<(DetectorId, String), usize>,
    evidence: Evidence,
    /// What the passages around the message's person identifiers say, on
    /// their own: the second signal a medium term may lean on.
    near_identifiers: Evidence,
    organisations: Vec<String>,
}

/// Maps the look-alike spaces, dashes and invisible characters people (and
/// word processors) put inside numbers onto their ASCII forms, so one set of
/// written forms covers them all.
pub fn normalise(text: &str) -> Cow<'_, str> {
    // Every character below starts with one of these UTF-8 lead bytes; most
    // text has none of them, and a byte scan is far cheaper than decoding.
    let bytes = text.as_bytes();
    let Some(first) = memchr::memchr3(0xC2, 0xE2, 0xE3, bytes)
        .into_iter()
        .chain(memchr::memchr(0xEF, bytes))
        .min()
    else {
        return Cow::Borrowed(text);
    };
    // `first` is a lead byte, so a character boundary.
    let needs = text[first..].chars().any(|c| {
        matches!(
            c,
            '\u{00A0}' | '\u{2007}' | '\u{2009}' | '\u{202F}' | '\u{2002}'..='\u{2006}' | '\u{2008}'
                | '\u{200A}' | '\u{205F}' | '\u{3000}' | '\u{2010}'..='\u{2013}' | '\u{2212}'
                | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
        )
    });
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{00A0}'
            | '\u{2007}'
            | '\u{2009}'
            | '\u{202F}'
            | '\u{2002}'..='\u{2006}'
            | '\u{2008}'
            | '\u{200A}'
            | '\u{205F}'
            | '\u{3000}' => out.push(' '),
            '\u{2010}'..='\u{2013}' | '\u{2212}' => out.push('-'),
            // Invisible: zero-width spaces and joiners, BOM, soft hyphen.
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`normalise`], with where each byte of the result came from in `text`:
/// `at[i]` is the offset in `text` of the character that made byte `i` (a
/// character boundary there when `i` is one here), and `at[len]` is
/// `text.len()`.
pub fn normalise_mapped(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut at = Vec::with_capacity(text.len() + 1);
    for (offset, c) in text.char_indices() {
        let before = out.len();
        out.push_str(&normalise(c.encode_utf8(&mut [0u8; 4])));
        at.resize(out.len(), offset);
        debug_assert!(at.len() >= before);
    }
    at.push(text.len());
    (out, at)
}

impl Detectors {
    /// Scans one piece of text and adds what it holds to `acc`.
    pub fn scan(&self, text: &str, location: &Location, acc: &mut MessageFindings) {
        let text = normalise(text);
        let file = match location {
            Location::Attachment(path) => path.last().map(|n| n.to_ascii_lowercase()),
            _ => None,
        };
        let tabular = file.as_deref().is_some_and(is_tabular);
        // Tables as tables: a column's header labels its own cells (see
        // `extract::table`).
        let csv;
        let records = if file.as_deref().is_some_and(|f| f.ends_with(".csv")) {
            csv = crate::extract::table::csv_to_tabbed(&text);
            crate::extract::table::as_records(&csv)
        } else {
            crate::extract::table::as_records(&text)
        };
        // The passage last read around an identifier: a list of numbers
        // shares one, read once rather than once per row.
        let mut last_read = 0..0;
        for hit in identifiers::find(&records, &self.settings, tabular) {
            if hit.detector.is_person_identifier() && !last_read.contains(&hit.start) {
                last_read = passage(&records, hit.start);
                self.special.scan(
                    &records[last_read.clone()],
                    location,
                    &mut acc.near_identifiers,
                );
            }
            let fingerprint = self.fingerprinter.fingerprint(&hit.canonical);
            let key = (hit.detector.clone(), fingerprint);
            if let Some(&at) = acc.seen.get(&key) {
                // Keep the first location; a later sighting may still raise
                // confidence (a keyword stood beside the number there).
                if let Some(f) = acc.findings.get_mut(at) {
                    f.confidence = f.confidence.max(hit.confidence);
                }
                continue;
            }
            let masked = mask_for(&hit.detector, &hit.canonical);
            acc.findings.push(Finding {
                detector: hit.detector,
                location: location.clone(),
                masked,
                fingerprint: key.1.clone(),
                confidence: hit.confidence,
            });
            acc.seen.insert(key, acc.findings.len() - 1);
        }
        self.special.scan(&text, location, &mut acc.evidence);
        // A business signs in the body, near the top of its own message
        // (above any quote): the first 16 KB of a body part is where to look,
        // and all a scan pays for a signal that is not a finding.
        if acc.organisations.len() < TextSignals::MAX_ORGANISATIONS
            && matches!(location, Location::Body)
        {
            let mut head = text.len().min(16 << 10);
            while !text.is_char_boundary(head) {
                head -= 1;
            }
            for number in identifiers::organisation_numbers(&text[..head]) {
                let fingerprint = self.fingerprinter.fingerprint(&number);
                if !acc.organisations.contains(&fingerprint)
                    && acc.organisations.len() < TextSignals::MAX_ORGANISATIONS
                {
                    acc.organisations.push(fingerprint);
                }
            }
        }
    }

    /// What the message's text showed beyond findings (see
    /// [`TextSignals`]); asked before [`Detectors::finish`].
    pub fn signals(&self, acc: &MessageFindings) -> TextSignals {
        TextSignals {
            read: true,
            organisations: acc.organisations.clone(),
            union_terms: self.special.mentions(&acc.evidence, "trade_union"),
            own_reminder: false,
        }
    }

    /// `text` (a subject, a file name) with every identifier the detectors
    /// recognise in it replaced by its masked rendering, so it can be stored
    /// and shown. Whatever is still recognised after that (a form the span
    /// walk below does not cover) has all its digits hidden.
    pub fn mask_text(&self, original: &str) -> String {
        // Values are found in the normalised text and masked in the text as
        // written: an en dash or a no-break space in a subject stays one.
        let (text, at) = normalise_mapped(original);
        let hits = identifiers::find(&text, &self.settings, false);
        if hits.is_empty() {
            return original.to_string();
        }
        let mut out = String::with_capacity(original.len());
        let mut done = 0;
        let mut spans: Vec<(usize, usize, String)> = hits
            .iter()
            .map(|h| {
                let end = value_end(&text, h.start, h.canonical.len());
                (at[h.start], at[end], mask_for(&h.detector, &h.canonical))
            })
            .collect();
        spans.sort_by_key(|s| s.0);
        for (start, end, masked) in spans {
            if start < done {
                continue;
            }
            out.push_str(&original[done..start]);
            out.push_str(&masked);
            done = end;
        }
        out.push_str(&original[done..]);
        if identifiers::find(&normalise(&out), &self.settings, false).is_empty() {
            out
        } else {
            out.chars()
                .map(|c| if c.is_ascii_digit() { '*' } else { c })
                .collect()
        }
    }

    /// Closes a message: judges the special categories and returns every
    /// finding, identifiers first in the order found.
    pub fn finish(&self, acc: MessageFindings) -> Vec<Finding> {
        let MessageFindings {
            mut findings,
            evidence,
            near_identifiers,
            ..
        } = acc;
        for cat in self.special.judge_near(&evidence, &near_identifiers) {
            findings.push(Finding {
                detector: DetectorId::SpecialCategory(cat.category),
                location: cat.location,
                masked: String::new(),
                fingerprint: String::new(),
                confidence: cat.confidence,
            });
        }
        findings
    }
}

/// The passage around a value at `start`: its paragraph (between blank
/// lines), at most [`PASSAGE_REACH`] bytes either side, as a byte range.
fn passage(text: &str, start: usize) -> std::ops::Range<usize> {
    let mut lo = start.saturating_sub(PASSAGE_REACH);
    while !text.is_char_boundary(lo) {
        lo += 1;
    }
    let mut hi = (start + PASSAGE_REACH).min(text.len());
    while !text.is_char_boundary(hi) {
        hi -= 1;
    }
    // A blank line, whether lines end in LF or CRLF.
    let before = &text[lo..start];
    let lo = [
        before.rfind("\n\n").map(|i| i + 2),
        before.rfind("\n\r\n").map(|i| i + 3),
    ]
    .into_iter()
    .flatten()
    .max()
    .map_or(lo, |i| lo + i);
    let after = &text[start..hi];
    let hi = [after.find("\n\n"), after.find("\n\r\n")]
        .into_iter()
        .flatten()
        .min()
        .map_or(hi, |i| start + i);
    lo..hi
}

/// How far a passage reaches from its value (bytes): a few sentences.
const PASSAGE_REACH: usize = 400;

/// Where a written value that starts at `start` ends: past `wanted`
/// letters and digits and the separators between them, and past any digits
/// that follow at once (a birth date written with a four-digit year has one
/// more digit than the canonical value).
fn value_end(text: &str, start: usize, wanted: usize) -> usize {
    let mut seen = 0;
    let mut end = start;
    for (i, c) in text[start..].char_indices() {
        if seen >= wanted {
            if c.is_ascii_digit() {
                end = start + i + c.len_utf8();
                continue;
            }
            break;
        }
        if c.is_ascii_alphanumeric() {
            seen += 1;
            end = start + i + c.len_utf8();
        } else if !matches!(c, ' ' | '.' | '-' | '+' | '/' | '\t') {
            break;
        }
    }
    end
}

/// Spreadsheets and CSV files, whose numeric cells lose leading zeros.
fn is_tabular(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    [".csv", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// How much of each kind of value a manager may see.
fn mask_for(detector: &DetectorId, canonical: &str) -> String {
    match detector {
        DetectorId::PaymentCard => mask(canonical, 0, 4),
        DetectorId::NoBankAccount | DetectorId::Iban => mask(canonical, 4, 2),
        DetectorId::FiHetu => mask(canonical, 2, 1),
        _ => mask(canonical, 2, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn detectors() -> Detectors {
        Detectors {
            settings: IdentifierSettings {
                as_of: NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
                rule_2032: false,
            },
            special: SpecialCategories::empty(),
            fingerprinter: Fingerprinter::new(b"test-key-0123456789").expect("key"),
        }
    }

    /// A medium health term leans on a person's identifier only in the same
    /// passage (issue 27): "skadet" in an error message paragraphs away from
    /// a form's fødselsnummer is not that person's health.
    #[test]
    fn an_identifier_supports_a_medium_term_in_its_own_passage_only() {
        let d = Detectors {
            special: crate::rules::RuleSet::embedded()
                .expect("rules")
                .special
                .clone(),
            ..detectors()
        };
        let health = |text: &str| {
            let mut acc = MessageFindings::default();
            d.scan(text, &Location::Body, &mut acc);
            d.finish(acc)
                .iter()
                .any(|f| f.detector == DetectorId::SpecialCategory("health".into()))
        };
        let far = "national identity number 15076500565\n\nKlarte ikke å lese lista.\n\n\
                   Filen er skadet og kan ikke åpnes.";
        assert!(!health(far), "{far}");
        assert!(!health(&far.replace('\n', "\r\n")));
        let near = "Ola (fnr 15076500565) ble skadet på jobben i går.";
        assert!(health(near), "{near}");
        // Without the identifier the medium term alone says nothing.
        assert!(!health("Ola ble skadet på jobben i går."));
    }

    #[test]
    fn look_alike_spaces_and_dashes_are_normalised() {
        let d = detectors();
        for text in [
            "150765\u{00A0}00565",
            "150765\u{2009}00565",
            "150765\u{202F}00565",
            "150765\u{2011}00565",
            "150765\u{200B}00565",
            "1507\u{00AD}6500565",
        ] {
            let mut acc = MessageFindings::default();
            d.scan(text, &Location::Body, &mut acc);
            let f = d.finish(acc);
            assert_eq!(f.len(), 1, "{text:?}");
            assert_eq!(f[0].masked, "15*******65");
        }
    }

    /// The map from normalised text back to the text as written holds at
    /// every character boundary, whatever was replaced or removed.
    #[test]
    fn normalised_offsets_map_back_to_the_written_text() {
        let text = "a\u{2013}b\u{200B}c\u{00A0}d\u{FEFF}";
        let (normal, at) = normalise_mapped(text);
        assert_eq!(normal, "a-bc d");
        assert_eq!(normal, normalise(text));
        assert_eq!(at.len(), normal.len() + 1);
        for (i, c) in normal.char_indices() {
            let original = text[at[i]..].chars().next().expect("a character");
            assert_eq!(normalise(&original.to_string()), c.to_string(), "{i}");
        }
        assert_eq!(*at.last().expect("end"), text.len());
    }

    #[test]
    fn subjects_are_masked_in_every_written_form() {
        let d = detectors();
        for (subject, want) in [
            ("Fnr 15076500565 til HR", "Fnr 15*******65 til HR"),
            ("Fnr 150765 00565 til HR", "Fnr 15*******65 til HR"),
            ("Fnr 150765-00565", "Fnr 15*******65"),
            ("Fnr 15.07.1965 00565!", "Fnr 15*******65!"),
            ("Ordre 123456 mottatt", "Ordre 123456 mottatt"),
            ("", ""),
            // Written as people write: en dashes, no-break spaces, a soft
            // hyphen stay as they are; a value written with them is masked
            // whole.
            ("Møte \u{2013} uke 5", "Møte \u{2013} uke 5"),
            (
                "Fnr 150765\u{2013}00565 \u{2013} Kari",
                "Fnr 15*******65 \u{2013} Kari",
            ),
            (
                "Lønn\u{00A0}nov: 150765\u{00A0}00565",
                "Lønn\u{00A0}nov: 15*******65",
            ),
            (
                "Fnr 1507\u{00AD}6500565 \u{2013} x",
                "Fnr 15*******65 \u{2013} x",
            ),
        ] {
            let masked = d.mask_text(subject);
            assert_eq!(masked, want, "{subject}");
            assert!(!masked.contains("0765"), "{masked}");
        }
        let masked = d.mask_text("Kort 4111 1111 1111 1111 og IBAN NO93 8601 1117 947");
        assert!(!masked.contains("1111 1111"), "{masked}");
        assert!(!masked.contains("8601"), "{masked}");
    }

    #[test]
    fn the_same_value_twice_is_one_finding_at_its_first_location() {
        let d = detectors();
        let mut acc = MessageFindings::default();
        d.scan("15076500565", &Location::Subject, &mut acc);
        d.scan("Fnr: 150765 00565", &Location::Body, &mut acc);
        let f = d.finish(acc);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location, Location::Subject);
        assert_eq!(f[0].confidence, identifiers::CONFIDENCE_WITH_KEYWORD);
    }
}
