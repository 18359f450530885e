//! The pure heart of a scan: one message's bytes and metadata in, its report
//! out. No I/O, no clock: the as-of date and the received time are passed in,
//! which is what makes a scan reproducible and testable.

use crate::detect::identifiers::{IdentifierSettings, Rule2032};
use crate::detect::{Detectors, MessageFindings};
use crate::extract::{self, Limits};
use crate::fingerprint::Fingerprinter;
use crate::model::{MessageMeta, MessageReport, Problem, ProblemKind};
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

    /// Scans one message. Never panics on malformed input; what could not be
    /// read is in the report's problems.
    pub fn scan_message(&self, meta: MessageMeta, raw: &[u8]) -> MessageReport {
        let mut acc = MessageFindings::default();
        let extraction = extract::extract(raw, &self.limits, &mut |location, text| {
            self.detectors.scan(text, location, &mut acc);
        });
        let findings = self.detectors.finish(acc);
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
        }
    }

    /// The report for a message judged by its metadata alone (a stale-only
    /// scan): rules that look at content (sender, subject, findings) cannot
    /// match it.
    pub fn metadata_only(&self, meta: MessageMeta) -> MessageReport {
        let envelope = Default::default();
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
        }
    }

    /// The report for a message that could not be read at all (too large, an
    /// I/O error): still judged for staleness from its metadata.
    pub fn unreadable(&self, meta: MessageMeta, kind: ProblemKind) -> MessageReport {
        let mut report = self.metadata_only(meta);
        report.problems.push(Problem {
            location: crate::model::Location::Body,
            kind,
        });
        report
    }
}
