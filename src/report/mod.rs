//! Printers: what a scan's results look like to a script (JSONL, CSV), to a
//! person at a terminal (text) and to an employee or manager reading a report
//! (Markdown). All are generic over `io::Write` and see only masked values.
//!
//! The record layout (JSONL, and the CSV columns) follows the interface
//! contract; `unreadable` and `source_error` are record types of our own that
//! contract readers skip.

pub mod summary;

use crate::model::{DetectorId, Finding, MessageReport, Problem};
use serde::Serialize;
use std::io::{self, Write};
pub use summary::Summary;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable summary: per folder and detector, the worst messages first.
    Text,
    /// One JSON object per line, per the interface contract.
    Jsonl,
    /// The JSONL records as CSV rows, for spreadsheets.
    Csv,
    /// The cleanup report as Markdown, for mail or a wiki.
    Markdown,
    /// One self-contained HTML page (`report --compliance` only).
    Html,
    /// One JSON document (`report --compliance` only).
    Json,
}

impl Format {
    /// Whether per-message reports (scan, check, report) can be written in
    /// this format; html and json are the compliance report's.
    pub fn per_message(self) -> bool {
        !matches!(self, Format::Html | Format::Json)
    }
}

/// Receives a run's results as they come.
pub trait Printer {
    fn message(&mut self, source: &str, report: &MessageReport) -> io::Result<()>;
    fn source_failed(&mut self, source: &str, error: &str) -> io::Result<()>;
    /// Called once at the end; summary printers write everything here.
    fn finish(&mut self) -> io::Result<()>;
}

/// Context a report needs that the messages don't carry.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    pub as_of: chrono::NaiveDate,
    /// Findings below this confidence are left out of every format.
    pub min_confidence: f32,
    /// List every message, not the first few of each list.
    pub list_all: bool,
    /// Who each mailbox (by source) belongs to, where known.
    pub mailboxes: std::collections::HashMap<String, MailboxName>,
    /// Each retention rule's description, by id: the rule in words (in
    /// `lang` where the rule says it so).
    pub rules: std::collections::HashMap<String, String>,
    /// The language of the text and Markdown reports (the machine formats
    /// have none).
    pub lang: crate::model::Lang,
}

/// A mailbox's owner and address, for titles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxName {
    pub owner: Option<String>,
    pub address: Option<String>,
    /// Folders the last scan left out as not mail (Exchange's Calendar, ...).
    pub not_mail: Vec<String>,
    /// What the last scan waited for throttling and for the pace.
    pub waited: crate::store::Waited,
}

/// A wait in words: "45 s", "3 min 20 s", "2 h 5 min".
pub fn duration_words(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{} s", s.max(u64::from(d.subsec_millis() > 0))),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

impl ReportContext {
    /// The owner's address of a mailbox, to tell sent mail from received.
    pub fn address_of(&self, source: &str) -> Option<&str> {
        self.mailboxes.get(source)?.address.as_deref()
    }

    /// A mailbox as people know it: "Ola Nordmann <ola@firma.no>", the
    /// address, or the source without its scheme's noise.
    pub fn mailbox_name(&self, source: &str) -> String {
        let known = self.mailboxes.get(source);
        let owner = known.and_then(|m| m.owner.as_deref());
        let address = known.and_then(|m| m.address.as_deref());
        match (owner, address) {
            (Some(o), Some(a)) => format!("{o} <{a}>"),
            (Some(o), None) => format!("{o} ({source})"),
            (None, Some(a)) => a.to_string(),
            (None, None) => source.to_string(),
        }
    }

    /// A rule in words: its description, else its id.
    pub fn rule_text(&self, rule: &str) -> String {
        match self.rules.get(rule) {
            Some(d) if !d.is_empty() => d.clone(),
            _ => rule.to_string(),
        }
    }
}

pub fn printer<'w>(
    format: Format,
    out: Box<dyn Write + 'w>,
    ctx: ReportContext,
) -> Box<dyn Printer + 'w> {
    match format {
        Format::Jsonl => Box::new(JsonlPrinter {
            out,
            ctx,
            line: Vec::new(),
        }),
        Format::Csv => Box::new(CsvPrinter {
            out: csv::Writer::from_writer(out),
            ctx,
            header_written: false,
        }),
        Format::Text => Box::new(SummaryPrinter {
            out,
            summary: Summary::new(ctx),
            render: summary::render_text,
        }),
        // Refused before a printer is asked for (see `Format::per_message`).
        Format::Markdown | Format::Html | Format::Json => Box::new(SummaryPrinter {
            out,
            summary: Summary::new(ctx),
            render: summary::render_markdown,
        }),
    }
}

/// A confidence with two decimals, so `0.85f32` prints as `0.85`.
fn rounded(c: f32) -> f64 {
    (f64::from(c) * 100.0).round() / 100.0
}

/// One output record, flat, as the contract lays it out.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: &'a str,
    pub folder: &'a str,
    pub uid: Option<u32>,
    pub message_id: &'a str,
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::model::ProblemKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

impl<'a> Record<'a> {
    fn base(kind: &'static str, source: &'a str, r: &'a MessageReport) -> Record<'a> {
        Record {
            kind,
            source,
            folder: &r.meta.folder,
            uid: r.meta.uid,
            message_id: &r.envelope.message_id,
            date: r
                .date
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            detector: None,
            location: None,
            masked: None,
            fingerprint: None,
            confidence: None,
            age_days: None,
            rule: None,
            problem: None,
            detail: None,
        }
    }

    fn sensitive(source: &'a str, r: &'a MessageReport, f: &'a Finding) -> Record<'a> {
        Record {
            detector: Some(f.detector.to_string()),
            location: Some(f.location.to_string()),
            masked: Some(&f.masked),
            fingerprint: Some(&f.fingerprint),
            confidence: Some(rounded(f.confidence)),
            ..Record::base("sensitive", source, r)
        }
    }

    fn unreadable(source: &'a str, r: &'a MessageReport, p: &'a Problem) -> Record<'a> {
        Record {
            location: Some(p.location.to_string()),
            problem: Some(p.kind),
            detail: Some(p.kind.describe()),
            ..Record::base("unreadable", source, r)
        }
    }

    /// Every record of one message: sensitive, then stale, then unreadable.
    pub fn all(source: &'a str, r: &'a MessageReport, min_confidence: f32) -> Vec<Record<'a>> {
        let mut out: Vec<Record<'a>> = r
            .findings
            .iter()
            .filter(|f| f.confidence >= min_confidence)
            .map(|f| Record::sensitive(source, r, f))
            .collect();
        if let Some(stale) = &r.stale {
            out.push(Record {
                age_days: Some(stale.age_days),
                rule: Some(&stale.rule),
                ..Record::base("stale", source, r)
            });
        }
        out.extend(r.problems.iter().map(|p| Record::unreadable(source, r, p)));
        out
    }
}

#[derive(Serialize)]
struct SourceErrorRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'a str,
    error: &'a str,
}

struct JsonlPrinter<'w> {
    out: Box<dyn Write + 'w>,
    ctx: ReportContext,
    /// One line is written into this first and handed on in one call:
    /// serde_json writes a line in dozens of small pieces, each a call
    /// through `dyn Write` when made on `out` directly.
    line: Vec<u8>,
}

impl Printer for JsonlPrinter<'_> {
    fn message(&mut self, source: &str, report: &MessageReport) -> io::Result<()> {
        for record in Record::all(source, report, self.ctx.min_confidence) {
            self.line.clear();
            serde_json::to_writer(&mut self.line, &record)?;
            self.line.push(b'\n');
            self.out.write_all(&self.line)?;
        }
        Ok(())
    }

    fn source_failed(&mut self, source: &str, error: &str) -> io::Result<()> {
        serde_json::to_writer(
            &mut self.out,
            &SourceErrorRecord {
                kind: "source_error",
                source,
                error,
            },
        )?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

struct CsvPrinter<'w> {
    out: csv::Writer<Box<dyn Write + 'w>>,
    ctx: ReportContext,
    header_written: bool,
}

const CSV_COLUMNS: [&str; 15] = [
    "type",
    "source",
    "folder",
    "uid",
    "message_id",
    "date",
    "detector",
    "location",
    "masked",
    "fingerprint",
    "confidence",
    "age_days",
    "rule",
    "problem",
    "detail",
];

impl CsvPrinter<'_> {
    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_record(CSV_COLUMNS)?;
            self.header_written = true;
        }
        Ok(())
    }
}

impl Printer for CsvPrinter<'_> {
    fn message(&mut self, source: &str, report: &MessageReport) -> io::Result<()> {
        self.header()?;
        for r in Record::all(source, report, self.ctx.min_confidence) {
            let opt = |v: Option<String>| v.unwrap_or_default();
            // Names from mail (folders, Message-IDs, attachment names) may
            // hold line breaks and escape codes: shown, never acted on.
            let shown = summary::one_line;
            self.out.write_record([
                r.kind.to_string(),
                shown(r.source),
                shown(r.folder),
                opt(r.uid.map(|u| u.to_string())),
                shown(r.message_id),
                opt(r.date),
                opt(r.detector),
                opt(r.location.as_deref().map(shown)),
                opt(r.masked.map(str::to_string)),
                opt(r.fingerprint.map(str::to_string)),
                opt(r.confidence.map(|c| c.to_string())),
                opt(r.age_days.map(|a| a.to_string())),
                opt(r.rule.map(str::to_string)),
                opt(r.problem.map(|p| {
                    serde_json::to_value(p)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })),
                opt(r.detail.map(str::to_string)),
            ])?;
        }
        Ok(())
    }

    fn source_failed(&mut self, source: &str, error: &str) -> io::Result<()> {
        self.header()?;
        let mut row = vec![String::new(); CSV_COLUMNS.len()];
        row[0] = "source_error".into();
        row[1] = summary::one_line(source);
        row[14] = summary::one_line(error);
        self.out.write_record(&row)?;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }
}

/// A summary collects what it is given; `finish` does nothing (the caller
/// renders it).
impl Printer for Summary {
    fn message(&mut self, source: &str, report: &MessageReport) -> io::Result<()> {
        self.add(source, report);
        Ok(())
    }

    fn source_failed(&mut self, source: &str, error: &str) -> io::Result<()> {
        self.failed_sources
            .push((source.to_string(), error.to_string()));
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct SummaryPrinter<'w> {
    out: Box<dyn Write + 'w>,
    summary: Summary,
    render: fn(&Summary, &mut dyn Write) -> io::Result<()>,
}

impl Printer for SummaryPrinter<'_> {
    fn message(&mut self, source: &str, report: &MessageReport) -> io::Result<()> {
        self.summary.add(source, report);
        Ok(())
    }

    fn source_failed(&mut self, source: &str, error: &str) -> io::Result<()> {
        self.summary
            .failed_sources
            .push((source.to_string(), error.to_string()));
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        (self.render)(&self.summary, &mut self.out)?;
        self.out.flush()
    }
}

/// A human name for a detector, for the summaries.
pub fn detector_label(id: &DetectorId) -> String {
    match id {
        DetectorId::NoFodselsnummer => "Norwegian national ID (fødselsnummer)".into(),
        DetectorId::NoDNummer => "Norwegian D-number".into(),
        DetectorId::NoHNummer => "Norwegian H-number".into(),
        DetectorId::NoBankAccount => "Norwegian bank account".into(),
        DetectorId::Iban => "IBAN".into(),
        DetectorId::PaymentCard => "Payment card".into(),
        DetectorId::SePersonnummer => "Swedish personnummer".into(),
        DetectorId::DkCpr => "Danish CPR number".into(),
        DetectorId::FiHetu => "Finnish HETU".into(),
        DetectorId::SpecialCategory(name) => {
            format!("Special category: {}", name.replace('_', " "))
        }
    }
}

/// The detector a [`detector_label`] names (the kinds a deviation lists).
pub fn detector_from_label(label: &str) -> Option<DetectorId> {
    if let Some(name) = label.strip_prefix("Special category: ") {
        return Some(DetectorId::SpecialCategory(name.replace(' ', "_")));
    }
    DetectorId::VALUED
        .into_iter()
        .find(|id| detector_label(id) == label)
}

/// A detector's name for a reader of `lang`.
pub fn detector_label_in(id: &DetectorId, lang: crate::model::Lang) -> String {
    use crate::model::Lang;
    let (nb, nn) = match id {
        DetectorId::NoFodselsnummer => ("fødselsnummer", "fødselsnummer"),
        DetectorId::NoDNummer => ("D-nummer", "D-nummer"),
        DetectorId::NoHNummer => ("H-nummer", "H-nummer"),
        DetectorId::NoBankAccount => ("kontonummer", "kontonummer"),
        DetectorId::Iban => ("IBAN", "IBAN"),
        DetectorId::PaymentCard => ("betalingskort", "betalingskort"),
        DetectorId::SePersonnummer => ("svensk personnummer", "svensk personnummer"),
        DetectorId::DkCpr => ("dansk CPR-nummer", "dansk CPR-nummer"),
        DetectorId::FiHetu => ("finsk personnummer (HETU)", "finsk personnummer (HETU)"),
        DetectorId::SpecialCategory(name) => {
            let (nb, nn) = category_words(name);
            return match lang {
                Lang::En => detector_label(id),
                Lang::Nb => format!("særlig kategori: {nb}"),
                Lang::Nn => format!("særleg kategori: {nn}"),
            };
        }
    };
    match lang {
        Lang::En => detector_label(id),
        Lang::Nb => nb.to_string(),
        Lang::Nn => nn.to_string(),
    }
}

/// A special category in bokmål and nynorsk (GDPR art. 9 and 10, and the
/// child-welfare category the policy adds); one we do not know by its id.
fn category_words(name: &str) -> (String, String) {
    let (nb, nn) = match name {
        "health" => ("helse", "helse"),
        "trade_union" => ("fagforeningsmedlemskap", "fagforeiningsmedlemskap"),
        "religion" => ("religion eller livssyn", "religion eller livssyn"),
        "ethnicity" => ("etnisk opprinnelse", "etnisk opphav"),
        "political_opinion" => ("politisk oppfatning", "politisk oppfatning"),
        "sexual_orientation" => ("seksuell orientering", "seksuell orientering"),
        "genetic_biometric" => (
            "genetiske eller biometriske opplysninger",
            "genetiske eller biometriske opplysningar",
        ),
        "criminal_offence" => ("straffbare forhold", "straffbare forhold"),
        "child_welfare" => ("barnevern", "barnevern"),
        other => {
            let words = other.replace('_', " ");
            return (words.clone(), words);
        }
    };
    (nb.to_string(), nn.to_string())
}

/// Where in a message a finding was, for a reader of `lang`: `subject`,
/// `body`, `attachment:a.zip/b.xlsx` as the report writes it.
pub fn location_in(location: &str, lang: crate::model::Lang) -> String {
    use crate::model::Lang;
    let (subject, body, attachment) = match lang {
        Lang::En => return location.to_string(),
        Lang::Nb => ("emnefeltet", "teksten", "vedlegget"),
        Lang::Nn => ("emnefeltet", "teksten", "vedlegget"),
    };
    match location {
        "subject" => subject.to_string(),
        "body" => body.to_string(),
        other => match other.strip_prefix("attachment:") {
            Some(path) => format!("{attachment} {path}"),
            None => other.to_string(),
        },
    }
}

/// "to" before the recipients of sent mail, for a reader of `lang`.
pub fn sent_to(lang: crate::model::Lang) -> &'static str {
    lang.pick("to", "til", "til")
}

/// A cell a spreadsheet will not run as a formula: text from mail (a
/// subject, a sender) is hostile, and `=HYPERLINK(...)` is a classic.
pub fn spreadsheet_safe(s: &str) -> String {
    let s = summary::one_line(s);
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

/// Creates a file readable by its owner only, from the moment it exists:
/// reports, plans and exports describe people's mail. The file is made
/// new (an older file of that name is replaced, never reused with its
/// mode), exclusively, and never through a symbolic link: a link placed
/// where a report goes is refused, not followed.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::io::{Error, ErrorKind};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it is a symbolic link; not written through it",
            ));
        }
        Ok(m) if m.is_file() => std::fs::remove_file(path)?,
        Ok(m) if m.is_dir() => {
            return Err(Error::new(ErrorKind::InvalidInput, "it is a directory"));
        }
        // A device or a pipe (`-o /dev/null`, a FIFO a pipeline reads):
        // written to as it is, nothing is created.
        Ok(_) => return std::fs::OpenOptions::new().write(true).open(path),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Creates a directory (and its parents) readable by its owner only; an
/// existing directory is used as it is, a symbolic link is refused.
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a symbolic link; not written through it",
        ));
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates a directory for an export: private, and new or empty. Files of
/// an earlier export (or anything else) are never mixed into this one.
pub fn create_empty_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    create_private_dir(path)?;
    if std::fs::read_dir(path)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the directory is not empty; give a new or empty one",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::duration_words;
    use std::time::Duration;

    #[cfg(unix)]
    #[test]
    fn files_for_people_are_private_new_and_never_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.html");
        // An older file someone made readable: replaced, not reused.
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(super::create_private(&path).expect("creates"));
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 0);
        // A link where the report goes: refused, its target untouched.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").expect("write");
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(super::create_private(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        // Directories: private, and an export needs an empty one.
        let out = dir.path().join("export");
        super::create_empty_private_dir(&out).expect("new");
        assert_eq!(
            std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        super::create_empty_private_dir(&out).expect("empty is fine");
        std::fs::write(out.join("index.json"), "{}").expect("write");
        assert!(super::create_empty_private_dir(&out).is_err());
        let dir_link = dir.path().join("dir-link");
        std::os::unix::fs::symlink(&out, &dir_link).expect("symlink");
        assert!(super::create_private_dir(&dir_link).is_err());
    }

    #[test]
    fn waits_in_words() {
        for (ms, words) in [
            (0, "0 s"),
            (300, "1 s"),
            (45_000, "45 s"),
            (120_000, "2 min"),
            (200_000, "3 min 20 s"),
            (7_500_000, "2 h 5 min"),
        ] {
            assert_eq!(duration_words(Duration::from_millis(ms)), words, "{ms}");
        }
    }
}
