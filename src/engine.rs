//! The pure heart of a scan: one message's bytes and metadata in, its report
//! out. No I/O, no clock: the as-of date and the received time are passed in,
//! which is what makes a scan reproducible and testable.

use crate::detect::identifiers::{IdentifierSettings, Rule2032};
use crate::detect::{Detectors, MessageFindings};
use crate::extract::{self, Limits};
use crate::fingerprint::Fingerprinter;
use crate::model::{Location, MessageMeta, MessageReport, Problem, ProblemKind, TextSignals};
use crate::rules::{self, RuleSet};
use chrono::NaiveDate;

/// Everything a scan needs to judge a message, shared by all worker threads.
#[derive(Debug, Clone)]
pub struct Engine {
    pub detectors: Detectors,
    pub rules: RuleSet,
    pub limits: Limits,
    pub as_of: NaiveDate,
    /// Messages larger than this are reported, not read.
    pub max_message_bytes: u64,
}

/// Settings for [`Engine::new`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub as_of: NaiveDate,
    pub rule_2032: Rule2032,
    pub limits: Limits,
    pub max_message_bytes: u64,
}

impl EngineSettings {
    pub fn new(as_of: NaiveDate) -> Self {
        EngineSettings {
            as_of,
            rule_2032: Rule2032::Auto,
            limits: Limits::default(),
            max_message_bytes: 150 << 20,
        }
    }
}

impl Engine {
    pub fn new(settings: EngineSettings, rules: RuleSet, fingerprinter: Fingerprinter) -> Engine {
        Engine {
            detectors: Detectors {
                settings: IdentifierSettings {
                    as_of: settings.as_of,
                    rule_2032: settings.rule_2032.enabled(settings.as_of),
                },
                special: rules.special.clone(),
                fingerprinter,
            },
            rules,
            limits: settings.limits,
            as_of: settings.as_of,
            max_message_bytes: settings.max_message_bytes,
        }
    }

    /// The key the audit chain is made with, from the installation's key
    /// this engine fingerprints with.
    pub fn audit_key(&self) -> crate::audit::AuditKey {
        self.detectors.fingerprinter.audit_key()
    }

    /// Scans one message. Never panics on malformed input; what could not be
    /// read is in the report's problems.
    pub fn scan_message(&self, meta: MessageMeta, raw: &[u8]) -> MessageReport {
        let mut acc = MessageFindings::default();
        let extraction = extract::extract(raw, &self.limits, &mut |location, text| {
            self.detectors.scan(text, location, &mut acc);
        });
        let mut signals = self.detectors.signals(&acc);
        let mut findings = self.detectors.finish(acc);
        if crate::own_mail::is_own_reminder(&self.detectors.fingerprinter, raw) {
            // Our own reminder repeats the subjects it reminds about: not a
            // finding, not a deviation, not "messages to handle first".
            findings.clear();
            signals.own_reminder = true;
        }
        let mut envelope = extraction.envelope;
        // The subject is kept and shown (people find mail by it), so it is
        // masked here, before anything sees it; the rules judge the masked
        // subject too, so a later judgement from the store agrees with this one.
        envelope.subject = self.detectors.mask_text(&envelope.subject);
        let date = meta.received.or(envelope.date_header);
        let stale = date.and_then(|received| {
            let facts = rules::facts(&meta, &envelope, &findings);
            self.rules.judge(&facts, received, self.as_of)
        });
        MessageReport {
            meta,
            envelope,
            date,
            findings,
            stale,
            problems: extraction.problems,
            signals,
        }
    }

    /// Content previews for an offboarding case: up to `max` places where
    /// `term` occurs in the message's text (subject, bodies, attachments),
    /// each about 200 characters around it on one line, with every value
    /// the detectors recognise masked. Only ever called with a term the
    /// case declared beforehand.
    pub fn previews(&self, raw: &[u8], term: &str, max: usize) -> Vec<(Location, String)> {
        let needle = term.to_lowercase();
        let mut out = Vec::new();
        if needle.trim().is_empty() {
            return out;
        }
        extract::extract(raw, &self.limits, &mut |location, text| {
            if out.len() >= max {
                return;
            }
            let lower = text.to_lowercase();
            // Lower-casing can change lengths; search the lower-cased text
            // and cut the original only where both agree on the bytes.
            let same_lengths = lower.len() == text.len();
            let source = if same_lengths { text } else { lower.as_str() };
            let mut from = 0;
            while out.len() < max {
                let Some(pos) = lower[from..].find(&needle).map(|p| p + from) else {
                    break;
                };
                let floor = |mut i: usize| {
                    while !source.is_char_boundary(i) {
                        i -= 1;
                    }
                    i
                };
                let start = floor(pos.saturating_sub(100));
                let end = floor((pos + needle.len() + 100).min(source.len()));
                let snippet = self.detectors.mask_text(&source[start..end]);
                let snippet: String = snippet
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                out.push((
                    location.clone(),
                    snippet.split_whitespace().collect::<Vec<_>>().join(" "),
                ));
                from = pos + needle.len();
            }
        });
        out
    }

    /// The report for a message judged by its metadata alone (a stale-only
    /// scan): rules that look at content (sender, subject, findings) cannot
    /// match it.
    pub fn metadata_only(
        &self,
        meta: MessageMeta,
        sent: Option<chrono::DateTime<chrono::Utc>>,
    ) -> MessageReport {
        let envelope = crate::model::Envelope {
            date_header: sent,
            ..Default::default()
        };
        let stale = meta.received.and_then(|received| {
            let facts = rules::facts(&meta, &envelope, &[]);
            self.rules.judge(&facts, received, self.as_of)
        });
        MessageReport {
            date: meta.received,
            meta,
            envelope,
            findings: Vec::new(),
            stale,
            problems: Vec::new(),
            signals: TextSignals::default(),
        }
    }

    /// The report for a message that could not be read at all (too large, an
    /// I/O error): still judged for staleness from its metadata.
    pub fn unreadable(&self, meta: MessageMeta, kind: ProblemKind) -> MessageReport {
        let mut report = self.metadata_only(meta, None);
        report.problems.push(Problem {
            location: crate::model::Location::Body,
            kind,
        });
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_show_the_term_in_context_with_values_masked() {
        let engine = Engine::new(
            EngineSettings::new(NaiveDate::from_ymd_opt(2026, 11, 1).expect("date")),
            RuleSet::embedded().expect("rules"),
            Fingerprinter::new(b"preview-test-key-0123456789").expect("key"),
        );
        let raw = b"Subject: Kontrakt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHei,\r\nkontrakten med Leverand\xc3\xb8r AS er signert. Fnr 150765 00565 til l\xc3\xb8nn.\r\nHilsen\r\n";
        let found = engine.previews(raw, "LEVERANDØR", 5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Location::Body);
        let snippet = &found[0].1;
        assert!(
            snippet.contains("kontrakten med Leverandør AS"),
            "{snippet}"
        );
        assert!(
            !snippet.contains("00565") && !snippet.contains("150765"),
            "{snippet}"
        );
        assert!(!snippet.contains('\n'));
        assert!(engine.previews(raw, "ikke her", 5).is_empty());
        assert!(engine.previews(raw, " ", 5).is_empty());
        assert_eq!(engine.previews(b"\r\n\r\na a a a a a", "a", 3).len(), 3);
    }

    #[test]
    fn signals_are_read_from_the_whole_text() {
        let engine = Engine::new(
            EngineSettings::new(NaiveDate::from_ymd_opt(2026, 11, 1).expect("date")),
            RuleSet::embedded().expect("rules"),
            Fingerprinter::new(b"signals-test-key-0123456789").expect("key"),
        );
        let scan = |raw: &[u8]| {
            engine
                .scan_message(MessageMeta::local("INBOX", 1, "x"), raw)
                .signals
        };
        let plain = scan(b"Subject: Tilbud\r\n\r\nHei, her er tilbudet.\r\n");
        assert_eq!(
            plain,
            TextSignals {
                read: true,
                organisations: Vec::new(),
                union_terms: false,
                own_reminder: false,
            }
        );
        let signed =
            scan(b"Subject: Tilbud\r\n\r\nHilsen\r\nSnekker Ola\r\nOrg.nr. 921 760 515\r\n");
        assert!(!signed.union_terms, "{signed:?}");
        let fingerprint = Fingerprinter::new(b"signals-test-key-0123456789")
            .expect("key")
            .fingerprint("921760515");
        assert_eq!(signed.organisations, [fingerprint]);
        // One weak term, in the subject: no finding, but a signal.
        let termed = scan(b"Subject: Tariff neste uke\r\n\r\nHei\r\n");
        assert!(termed.union_terms, "{termed:?}");
        assert!(
            !engine
                .metadata_only(MessageMeta::local("INBOX", 1, "x"), None)
                .signals
                .read
        );
    }
}
