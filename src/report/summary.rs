//! The summary behind the text and Markdown reports (and the reminder):
//! counts per folder, per detector and per rule, the messages to handle
//! first, the oldest and largest due messages, and what could not be read.
//!
//! Lists are never cut silently: a report says how many it shows of how
//! many, and where the whole list is (`--all`, or CSV). Memory stays bounded
//! unless `--all` asks for everything: only the best few messages of each
//! kind are kept.

use super::{ReportContext, detector_label_in, location_in};
use crate::model::{DetectorId, Lang, MessageReport};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

/// How many messages each list shows unless `--all` is given.
pub const LIST_LIMIT: usize = 25;
/// How many unreadable parts are listed unless `--all` is given.
pub const PROBLEMS_KEPT: usize = 50;

#[derive(Debug, Default, Clone)]
pub struct FolderStats {
    pub messages: u64,
    pub stale: u64,
    pub sensitive: u64,
    pub unreadable: u64,
    pub bytes: u64,
    pub stale_bytes: u64,
    /// Rule id to messages due under it, in this folder.
    pub stale_by_rule: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone)]
pub struct DetectorStats {
    pub findings: u64,
    pub messages: u64,
    distinct: HashSet<String>,
}

impl DetectorStats {
    /// Distinct values (by fingerprint); special categories have none.
    pub fn distinct_values(&self) -> usize {
        self.distinct.len()
    }
}

/// One finding as listed: masked only.
#[derive(Debug, Clone)]
pub struct ListedFinding {
    pub detector: DetectorId,
    pub masked: String,
    pub location: String,
}

/// One message as listed in a report: what a person needs to find it in
/// their mail client. Masked values only; the subject is masked by the engine.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub source: String,
    pub folder: String,
    pub date: String,
    pub message_id: String,
    pub from: String,
    pub from_name: String,
    /// The first recipient, shown for mail the owner sent.
    pub to: String,
    pub subject: String,
    /// Mail the mailbox's owner sent (a sent folder, or from the owner).
    pub sent: bool,
    pub size: u64,
    pub severity: f32,
    pub findings: Vec<ListedFinding>,
    pub age_days: i64,
    pub rule: String,
}

impl ListedMessage {
    /// "Ola Nordmann <ola@firma.no>", or the address alone.
    pub fn sender(&self) -> String {
        match (self.from_name.is_empty(), self.from.is_empty()) {
            (false, false) => format!("{} <{}>", self.from_name, self.from),
            (false, true) => self.from_name.clone(),
            _ => self.from.clone(),
        }
    }

    /// Who the other party is: the sender of received mail, "to X" for
    /// sent, in `lang`.
    pub fn correspondent_in(&self, lang: Lang) -> String {
        if self.sent {
            format!("{} {}", super::sent_to(lang), self.to)
        } else {
            self.sender()
        }
    }
}

/// One unreadable part, listed.
#[derive(Debug, Clone)]
pub struct ListedProblem {
    pub folder: String,
    pub date: String,
    pub subject: String,
    pub message_id: String,
    pub location: String,
    pub what: String,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub ctx: ReportContext,
    pub messages: u64,
    pub stale: u64,
    pub sensitive: u64,
    pub unreadable: u64,
    pub per_folder: BTreeMap<(String, String), FolderStats>,
    pub per_detector: BTreeMap<DetectorId, DetectorStats>,
    /// Rule id to (messages, oldest age in days).
    pub stale_by_rule: BTreeMap<String, (u64, i64)>,
    /// The most serious messages of each kind of finding.
    by_kind: BTreeMap<DetectorId, Vec<ListedMessage>>,
    /// Every message with findings, with `--all`.
    all_sensitive: Vec<ListedMessage>,
    oldest: Vec<ListedMessage>,
    largest: Vec<ListedMessage>,
    pub problems: Vec<ListedProblem>,
    pub failed_sources: Vec<(String, String)>,
    /// The sources seen, in order.
    pub sources: Vec<String>,
    /// Per day messages arrived on: how many, and the range of their
    /// `Date:` headers (the signature of an import).
    arrivals: BTreeMap<chrono::NaiveDate, (u64, i64, i64)>,
}

/// An import is told by many messages arriving on one day whose `Date:`
/// headers lie more than a year apart: at least this many...
const IMPORT_MIN_MESSAGES: u64 = 20;
/// ... and at least this share of the messages with both dates.
const IMPORT_MIN_SHARE: f64 = 0.5;

/// Folder names mail clients use for sent mail (Exchange in English and
/// Norwegian, Gmail, Thunderbird, Apple Mail).
pub fn is_sent_folder(folder: &str) -> bool {
    let last = folder.rsplit('/').next().unwrap_or(folder).to_lowercase();
    matches!(
        last.as_str(),
        "sent"
            | "sent items"
            | "sent mail"
            | "sent messages"
            | "sendt"
            | "sendte elementer"
            | "sendte"
            | "sendte meldinger"
    )
}

impl Summary {
    pub fn new(ctx: ReportContext) -> Summary {
        Summary {
            ctx,
            messages: 0,
            stale: 0,
            sensitive: 0,
            unreadable: 0,
            per_folder: BTreeMap::new(),
            per_detector: BTreeMap::new(),
            stale_by_rule: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            all_sensitive: Vec::new(),
            oldest: Vec::new(),
            largest: Vec::new(),
            problems: Vec::new(),
            failed_sources: Vec::new(),
            sources: Vec::new(),
            arrivals: BTreeMap::new(),
        }
    }

    fn limit(&self) -> usize {
        if self.ctx.list_all {
            usize::MAX
        } else {
            LIST_LIMIT
        }
    }

    pub fn add(&mut self, source: &str, r: &MessageReport) {
        if self.sources.last().is_none_or(|s| s != source)
            && !self.sources.iter().any(|s| s == source)
        {
            self.sources.push(source.to_string());
        }
        let findings: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.confidence >= self.ctx.min_confidence)
            .collect();
        self.messages += 1;
        if let (Some(received), Some(sent)) = (r.meta.received, r.envelope.date_header) {
            let t = sent.timestamp();
            let e = self
                .arrivals
                .entry(received.date_naive())
                .or_insert((0, t, t));
            e.0 += 1;
            e.1 = e.1.min(t);
            e.2 = e.2.max(t);
        }
        let folder = self
            .per_folder
            .entry((source.to_string(), r.meta.folder.clone()))
            .or_default();
        folder.messages += 1;
        folder.bytes += r.meta.size;
        if !findings.is_empty() {
            self.sensitive += 1;
            folder.sensitive += 1;
        }
        if let Some(stale) = &r.stale {
            self.stale += 1;
            folder.stale += 1;
            folder.stale_bytes += r.meta.size;
            *folder.stale_by_rule.entry(stale.rule.clone()).or_default() += 1;
        }
        if !r.problems.is_empty() {
            self.unreadable += 1;
            folder.unreadable += 1;
        }
        let mut seen_detectors = HashSet::new();
        for f in &findings {
            let stats = self.per_detector.entry(f.detector.clone()).or_default();
            stats.findings += 1;
            if !f.fingerprint.is_empty() {
                stats.distinct.insert(f.fingerprint.clone());
            }
            if seen_detectors.insert(&f.detector) {
                stats.messages += 1;
            }
        }
        let owner = self.ctx.address_of(source);
        let from = r.envelope.from.first().cloned().unwrap_or_default();
        let listed = || ListedMessage {
            source: source.to_string(),
            folder: r.meta.folder.clone(),
            date: r
                .date
                .map(day)
                .unwrap_or_else(|| words(self.ctx.lang).unknown_date.into()),
            message_id: r.envelope.message_id.clone(),
            sent: is_sent_folder(&r.meta.folder)
                || owner.is_some_and(|o| o.eq_ignore_ascii_case(&from)),
            from: from.clone(),
            from_name: r.envelope.from_name.clone(),
            to: r.envelope.to.first().cloned().unwrap_or_default(),
            subject: r.envelope.subject.clone(),
            size: r.meta.size,
            severity: findings
                .iter()
                .map(|f| f.detector.weight() * f.confidence)
                .fold(0.0, f32::max),
            findings: findings
                .iter()
                .map(|f| ListedFinding {
                    detector: f.detector.clone(),
                    masked: f.masked.clone(),
                    location: f.location.to_string(),
                })
                .collect(),
            age_days: r.stale.as_ref().map_or(0, |s| s.age_days),
            rule: r.stale.as_ref().map(|s| s.rule.clone()).unwrap_or_default(),
        };
        let limit = self.limit();
        if let Some(stale) = &r.stale {
            let entry = self
                .stale_by_rule
                .entry(stale.rule.clone())
                .or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(stale.age_days);
            // Most due messages are neither among the oldest nor the
            // largest: only those that are get listed (built).
            keep_top(
                &mut self.oldest,
                stale.age_days as f64,
                listed,
                limit,
                |m| m.age_days as f64,
            );
            keep_top(&mut self.largest, r.meta.size as f64, listed, limit, |m| {
                m.size as f64
            });
        }
        if !findings.is_empty() {
            let item = listed();
            if self.ctx.list_all {
                self.all_sensitive.push(item.clone());
            }
            // Kept per kind, so one kind cannot crowd out the others.
            for kind in seen_detectors {
                keep_top(
                    self.by_kind.entry(kind.clone()).or_default(),
                    f64::from(item.severity),
                    || item.clone(),
                    LIST_LIMIT,
                    |m| f64::from(m.severity),
                );
            }
        }
        for p in &r.problems {
            if self.ctx.list_all || self.problems.len() < PROBLEMS_KEPT {
                self.problems.push(ListedProblem {
                    folder: r.meta.folder.clone(),
                    date: r
                        .date
                        .map(day)
                        .unwrap_or_else(|| words(self.ctx.lang).unknown_date.into()),
                    subject: r.envelope.subject.clone(),
                    message_id: r.envelope.message_id.clone(),
                    location: p.location.to_string(),
                    what: p.kind.describe_in(self.ctx.lang).to_string(),
                });
            }
        }
    }

    /// The messages to handle first, most serious first: with `--all` every
    /// message with findings; otherwise up to [`LIST_LIMIT`], chosen a kind
    /// at a time (the best of each kind, then the second best, ...) so every
    /// kind of finding is represented, then ordered by severity.
    pub fn handle_first(&self) -> Vec<ListedMessage> {
        let mut chosen: Vec<ListedMessage> = if self.ctx.list_all {
            self.all_sensitive.clone()
        } else {
            let mut kinds: Vec<(&DetectorId, &Vec<ListedMessage>)> = self.by_kind.iter().collect();
            kinds.sort_by(|a, b| {
                b.0.weight()
                    .partial_cmp(&a.0.weight())
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(b.0))
            });
            let mut chosen: Vec<ListedMessage> = Vec::new();
            let mut taken: HashSet<(String, String, String, String)> = HashSet::new();
            let mut round = 0;
            while chosen.len() < LIST_LIMIT && kinds.iter().any(|(_, list)| round < list.len()) {
                for (_, list) in &kinds {
                    if chosen.len() >= LIST_LIMIT {
                        break;
                    }
                    if let Some(m) = list.get(round) {
                        let key = (
                            m.source.clone(),
                            m.folder.clone(),
                            m.message_id.clone(),
                            m.date.clone(),
                        );
                        if taken.insert(key) {
                            chosen.push(m.clone());
                        }
                    }
                }
                round += 1;
            }
            chosen
        };
        chosen.sort_by(|a, b| {
            b.severity
                .partial_cmp(&a.severity)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| b.findings.len().cmp(&a.findings.len()))
        });
        chosen
    }

    /// The oldest messages due for review, oldest first.
    pub fn oldest(&self) -> &[ListedMessage] {
        &self.oldest
    }

    /// The largest messages due for review, largest first.
    pub fn largest(&self) -> &[ListedMessage] {
        &self.largest
    }

    /// The mailboxes this summary covers, named for a title: the owner and
    /// address where known, else the source.
    /// What the report cannot speak for: folders left out as not mail,
    /// and, for IMAP mailboxes, Exchange's online archive, which IMAP
    /// cannot reach.
    pub fn coverage_notes(&self) -> Vec<String> {
        let lang = self.ctx.lang;
        let mut notes = Vec::new();
        let sources: std::collections::BTreeSet<&String> =
            self.per_folder.keys().map(|(s, _)| s).collect();
        let mut imap = false;
        for source in sources {
            imap |= source.starts_with("imap");
            let Some(m) = self.ctx.mailboxes.get(source.as_str()) else {
                continue;
            };
            if !m.not_mail.is_empty() {
                let said = match lang {
                    Lang::En => "folders that hold no mail were not read",
                    Lang::Nb => "mapper uten e-post ble ikke lest",
                    Lang::Nn => "mapper utan e-post vart ikkje lesne",
                };
                notes.push(format!(
                    "{}: {said}: {}",
                    self.ctx.mailbox_name(source),
                    m.not_mail.join(", ")
                ));
            }
            let (throttled, paced, waited, and) = match lang {
                Lang::En => (
                    "for the server's throttling",
                    "for the configured pace",
                    "the last scan waited",
                    "and",
                ),
                Lang::Nb => (
                    "på serverens struping",
                    "på det innstilte tempoet",
                    "den siste skanningen ventet",
                    "og",
                ),
                Lang::Nn => (
                    "på strupinga til serveren",
                    "på det innstilte tempoet",
                    "den siste skanninga venta",
                    "og",
                ),
            };
            let mut waits = Vec::new();
            if !m.waited.throttled.is_zero() {
                waits.push(format!(
                    "{} {throttled}",
                    super::duration_words(m.waited.throttled)
                ));
            }
            if !m.waited.paced.is_zero() {
                waits.push(format!("{} {paced}", super::duration_words(m.waited.paced)));
            }
            if !waits.is_empty() {
                notes.push(format!(
                    "{}: {waited} {}",
                    self.ctx.mailbox_name(source),
                    waits.join(&format!(" {and} "))
                ));
            }
        }
        if imap {
            notes.push(match lang {
                Lang::En => "Exchange Online's online archive (In-Place Archive) cannot be reached over IMAP; mail the retention policy moved there is not in this report".into(),
                Lang::Nb => "Exchange Onlines nettarkiv (In-Place Archive) kan ikke nås over IMAP; e-post som oppbevaringspolicyen har flyttet dit, er ikke med i denne rapporten".into(),
                Lang::Nn => "Nettarkivet i Exchange Online (In-Place Archive) kan ikkje nåast over IMAP; e-post som oppbevaringspolicyen har flytta dit, er ikkje med i denne rapporten".into(),
            });
        }
        notes
    }

    /// Whether the mail looks imported or migrated: (day, messages that
    /// arrived that day, first and last `Date:` year).
    pub fn import_signature(&self) -> Option<(chrono::NaiveDate, u64, i32, i32)> {
        let dated: u64 = self.arrivals.values().map(|a| a.0).sum();
        let (day, &(n, first, last)) = self.arrivals.iter().max_by_key(|(_, a)| a.0)?;
        let spread_days = (last - first) / 86_400;
        let year = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0).map_or(0, |d| chrono::Datelike::year(&d))
        };
        (n >= IMPORT_MIN_MESSAGES
            && n as f64 >= IMPORT_MIN_SHARE * dated as f64
            && spread_days > 365)
            .then(|| (*day, n, year(first), year(last)))
    }

    /// Notes for the reader: an import's signature, with what to do.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some((day, n, first, last)) = self.import_signature() {
            let w = words(self.ctx.lang);
            let n = w.count(n, w.message);
            notes.push(match self.ctx.lang {
                Lang::En => format!(
                    "{n} arrived on {day} although they were written from {first} to {last}: this looks like an import or migration, \
                     and ageing them by arrival makes old mail look new. Rules can age by the date a message was written: \
                     `date = \"earlier\"` (or \"sent\") in rules/retention.toml"
                ),
                Lang::Nb => format!(
                    "{n} kom inn {day}, selv om de ble skrevet fra {first} til {last}: dette ser ut som en import eller migrering, \
                     og regnes alderen fra ankomst, ser gammel e-post ny ut. Reglene kan regne alder fra da meldingen ble skrevet: \
                     `date = \"earlier\"` (eller \"sent\") i rules/retention.toml"
                ),
                Lang::Nn => format!(
                    "{n} kom inn {day}, sjølv om dei vart skrivne frå {first} til {last}: dette ser ut som ein import eller migrering, \
                     og blir alderen rekna frå ankomst, ser gammal e-post ny ut. Reglane kan rekne alder frå då meldinga vart skriven: \
                     `date = \"earlier\"` (eller \"sent\") i rules/retention.toml"
                ),
            });
        }
        notes
    }

    pub fn mailbox_names(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| self.ctx.mailbox_name(s))
            .collect()
    }
}

/// Keeps the `n` highest-ranked items, in rank order, first come first kept
/// among equals. Binary search keeps it O(log n) per item to find the place;
/// an item is made (`make`) only when it is kept.
fn keep_top(
    list: &mut Vec<ListedMessage>,
    rank: f64,
    make: impl FnOnce() -> ListedMessage,
    n: usize,
    key: impl Fn(&ListedMessage) -> f64,
) {
    let pos = list.partition_point(|m| key(m) >= rank);
    if pos < n {
        list.insert(pos, make());
        if list.len() > n {
            list.truncate(n);
        }
    }
}

/// A day as `2024-06-10`, as `%Y-%m-%d` writes it (without parsing a
/// format per message: a report writes one per listed message).
fn day(d: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike;
    if (0..=9999).contains(&d.year()) {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    } else {
        d.format("%Y-%m-%d").to_string()
    }
}

/// "1 message", "2 messages", with thousands separated: "1,913 messages".
pub fn count(n: u64, one: &str, many: &str) -> String {
    EN.count(n, (one, many))
}

/// 1913 as "1,913".
pub fn thousands(n: u64) -> String {
    thousands_with(n, ',')
}

/// 1913 as "1,913", or with another separator ("1 913").
fn thousands_with(n: u64, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// A size for people: "830 KB", "1.2 MB".
pub fn human_size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Text from a message (a folder name, a subject, a Message-ID) made safe
/// for one line of a terminal: control characters, line breaks and escape
/// codes become visible escapes instead of acting.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The report's words in one language; values (folders, subjects,
/// masked numbers) are the mail's own.
struct Words {
    /// (one, many) pairs for counted nouns.
    message: (&'static str, &'static str),
    mailbox: (&'static str, &'static str),
    day: (&'static str, &'static str),
    distinct_value: (&'static str, &'static str),
    /// Digit group separator: "1,913" or "1 913" (a no-break space).
    thousands: char,
    as_of: &'static str,
    /// "{messages}: {n} due for review ({p}), {n} with sensitive data ({p}),
    /// {n} not fully readable", in four pieces.
    counts_line: [&'static str; 4],
    failed: &'static str,
    not_covered: &'static str,
    note: &'static str,
    by_folder: &'static str,
    folder_columns: [&'static str; 5],
    found_heading: &'static str,
    by_rule: &'static str,
    oldest: &'static str,
    handle_first: &'static str,
    not_fully_read: &'static str,
    /// What the "N of M shown" notes count.
    shown_sensitive: &'static str,
    shown_due: &'static str,
    shown_unreadable: &'static str,
    /// "{shown} of {total} {what} shown; the full list: {how}."
    shown: [&'static str; 3],
    how_markdown: &'static str,
    how_text: &'static str,
    unknown_date: &'static str,
    title: &'static str,
    mailboxes: &'static str,
    /// "**{messages}** in all. **{due}** due for review under the retention
    /// rules, and **{sensitive}** with what looks like sensitive personal
    /// data." (see [`Words::overview`]).
    overview: fn(u64, u64, u64, &Words) -> String,
    what_to_do: &'static str,
    steps: [&'static str; 3],
    masked: &'static str,
    could_not_scan: &'static str,
    folders: &'static str,
    folder_head: &'static str,
    folder_head_several: &'static str,
    found_head: &'static str,
    first_head: &'static str,
    found_in: &'static str,
    due_heading: &'static str,
    due_head: &'static str,
    oldest_heading: &'static str,
    oldest_head: &'static str,
    unread_heading: &'static str,
    unread_lead: &'static str,
    unread_head: &'static str,
}

const EN: Words = Words {
    message: ("message", "messages"),
    mailbox: ("mailbox", "mailboxes"),
    day: ("day", "days"),
    distinct_value: ("distinct value", "distinct values"),
    thousands: ',',
    as_of: "as of",
    counts_line: [
        " due for review (",
        "), ",
        " with sensitive data (",
        " not fully readable",
    ],
    failed: "FAILED",
    not_covered: "Not covered",
    note: "Note",
    by_folder: "By folder:",
    folder_columns: ["folder", "messages", "due", "sensitive", "unreadable"],
    found_heading: "Sensitive data found",
    by_rule: "Due for review, by rule:",
    oldest: "oldest",
    handle_first: "Messages to handle first",
    not_fully_read: "Not fully read",
    shown_sensitive: "messages with sensitive data",
    shown_due: "messages due for review",
    shown_unreadable: "unreadable parts",
    shown: [" of ", " shown; the full list: ", "."],
    how_markdown: "`mailhygiene report --all --format markdown`, or `--format csv` for a spreadsheet",
    how_text: "mailhygiene report --all, or --format csv for a spreadsheet",
    unknown_date: "unknown",
    title: "Mailbox cleanup report",
    mailboxes: "Mailboxes",
    overview: |messages, due, sensitive, w| {
        format!(
            "**{}** in all. **{}** due for review under the retention rules, \
             and **{}** with what looks like sensitive personal data.",
            w.count(messages, w.message),
            w.count(due, ("message is", "messages are")),
            w.count(sensitive, w.message)
        )
    },
    what_to_do: "What to do",
    steps: [
        "Delete messages that are no longer needed; the oldest are listed below.",
        "Messages with national ID numbers, health information or other sensitive data \
         should not stay in email: move what must be kept to the proper system, then delete it.",
        "Flag (star) messages you must keep; flagged messages are not counted as due for review.",
    ],
    masked: "Values are masked: this report never shows a number in full.",
    could_not_scan: "Could not scan",
    folders: "Folders",
    folder_head: "| Folder | Messages | Due for review | Sensitive | Not fully read |",
    folder_head_several: "| Mailbox | Folder | Messages | Due for review | Sensitive | Not fully read |",
    found_head: "| What | Messages | Distinct values |",
    first_head: "| Date | Folder | From / to | Subject | Found |",
    found_in: "in",
    due_heading: "Due for review",
    due_head: "| Why | Messages | Oldest |",
    oldest_heading: "Oldest messages",
    oldest_head: "| Received | Age | Folder | From / to | Subject |",
    unread_heading: "Not fully read",
    unread_lead: "These parts could not be scanned; check them by hand.",
    unread_head: "| Date | Folder | Subject | Part | Why |",
};

const NB: Words = Words {
    message: ("melding", "meldinger"),
    mailbox: ("e-postkasse", "e-postkasser"),
    day: ("dag", "dager"),
    distinct_value: ("ulik verdi", "ulike verdier"),
    thousands: '\u{a0}',
    as_of: "per",
    counts_line: [
        " til gjennomgang (",
        "), ",
        " med sensitive opplysninger (",
        " ikke fullt lesbare",
    ],
    failed: "FEILET",
    not_covered: "Ikke dekket",
    note: "Merk",
    by_folder: "Per mappe:",
    folder_columns: ["mappe", "meldinger", "gjennomgå", "sensitive", "uleselige"],
    found_heading: "Sensitive opplysninger funnet",
    by_rule: "Til gjennomgang, per regel:",
    oldest: "eldste",
    handle_first: "Meldinger å ta først",
    not_fully_read: "Ikke fullt lest",
    shown_sensitive: "meldinger med sensitive opplysninger",
    shown_due: "meldinger til gjennomgang",
    shown_unreadable: "uleselige deler",
    shown: [" av ", " vist; hele lista: ", "."],
    how_markdown: "`mailhygiene report --all --format markdown`, eller `--format csv` for et regneark",
    how_text: "mailhygiene report --all, eller --format csv for et regneark",
    unknown_date: "ukjent",
    title: "Opprydding i e-postkassen",
    mailboxes: "E-postkasser",
    overview: |messages, due, sensitive, w| {
        format!(
            "**{}** i alt. **{}** skal gjennomgås etter oppbevaringsreglene, \
             og **{}** ser ut til å inneholde sensitive personopplysninger.",
            w.count(messages, w.message),
            w.count(due, w.message),
            w.count(sensitive, w.message)
        )
    },
    what_to_do: "Dette bør du gjøre",
    steps: [
        "Slett meldinger du ikke lenger trenger; de eldste står nedenfor.",
        "Meldinger med fødselsnummer, helseopplysninger eller andre sensitive opplysninger \
         skal ikke bli liggende i e-posten: flytt det som må tas vare på, til riktig system, og slett det så.",
        "Flagg meldinger du må beholde; flaggede meldinger telles ikke med til gjennomgang.",
    ],
    masked: "Verdiene er maskert: rapporten viser aldri et nummer i sin helhet.",
    could_not_scan: "Kunne ikke skanne",
    folders: "Mapper",
    folder_head: "| Mappe | Meldinger | Til gjennomgang | Sensitive | Ikke fullt lest |",
    folder_head_several: "| E-postkasse | Mappe | Meldinger | Til gjennomgang | Sensitive | Ikke fullt lest |",
    found_head: "| Hva | Meldinger | Ulike verdier |",
    first_head: "| Dato | Mappe | Fra / til | Emne | Funnet |",
    found_in: "i",
    due_heading: "Til gjennomgang",
    due_head: "| Hvorfor | Meldinger | Eldste |",
    oldest_heading: "De eldste meldingene",
    oldest_head: "| Mottatt | Alder | Mappe | Fra / til | Emne |",
    unread_heading: "Ikke fullt lest",
    unread_lead: "Disse delene kunne ikke skannes; se gjennom dem selv.",
    unread_head: "| Dato | Mappe | Emne | Del | Hvorfor |",
};

const NN: Words = Words {
    message: ("melding", "meldingar"),
    mailbox: ("e-postkasse", "e-postkasser"),
    day: ("dag", "dagar"),
    distinct_value: ("ulik verdi", "ulike verdiar"),
    thousands: '\u{a0}',
    as_of: "per",
    counts_line: [
        " til gjennomgang (",
        "), ",
        " med sensitive opplysningar (",
        " ikkje fullt lesbare",
    ],
    failed: "FEILA",
    not_covered: "Ikkje dekt",
    note: "Merk",
    by_folder: "Per mappe:",
    folder_columns: ["mappe", "meldingar", "gjennomgå", "sensitive", "ulesbare"],
    found_heading: "Sensitive opplysningar funne",
    by_rule: "Til gjennomgang, per regel:",
    oldest: "eldste",
    handle_first: "Meldingar å ta først",
    not_fully_read: "Ikkje fullt lese",
    shown_sensitive: "meldingar med sensitive opplysningar",
    shown_due: "meldingar til gjennomgang",
    shown_unreadable: "ulesbare delar",
    shown: [" av ", " viste; heile lista: ", "."],
    how_markdown: "`mailhygiene report --all --format markdown`, eller `--format csv` for eit rekneark",
    how_text: "mailhygiene report --all, eller --format csv for eit rekneark",
    unknown_date: "ukjend",
    title: "Opprydding i e-postkassa",
    mailboxes: "E-postkasser",
    overview: |messages, due, sensitive, w| {
        format!(
            "**{}** i alt. **{}** skal gjennomgåast etter oppbevaringsreglane, \
             og **{}** ser ut til å innehalde sensitive personopplysningar.",
            w.count(messages, w.message),
            w.count(due, w.message),
            w.count(sensitive, w.message)
        )
    },
    what_to_do: "Dette bør du gjere",
    steps: [
        "Slett meldingar du ikkje lenger treng; dei eldste står nedanfor.",
        "Meldingar med fødselsnummer, helseopplysningar eller andre sensitive opplysningar \
         skal ikkje bli liggjande i e-posten: flytt det som må takast vare på, til rett system, og slett det så.",
        "Flagg meldingar du må ta vare på; flagga meldingar blir ikkje talde med til gjennomgang.",
    ],
    masked: "Verdiane er maskerte: rapporten viser aldri eit nummer heilt.",
    could_not_scan: "Kunne ikkje skanne",
    folders: "Mapper",
    folder_head: "| Mappe | Meldingar | Til gjennomgang | Sensitive | Ikkje fullt lese |",
    folder_head_several: "| E-postkasse | Mappe | Meldingar | Til gjennomgang | Sensitive | Ikkje fullt lese |",
    found_head: "| Kva | Meldingar | Ulike verdiar |",
    first_head: "| Dato | Mappe | Frå / til | Emne | Funne |",
    found_in: "i",
    due_heading: "Til gjennomgang",
    due_head: "| Kvifor | Meldingar | Eldste |",
    oldest_heading: "Dei eldste meldingane",
    oldest_head: "| Motteken | Alder | Mappe | Frå / til | Emne |",
    unread_heading: "Ikkje fullt lese",
    unread_lead: "Desse delane kunne ikkje skannast; sjå gjennom dei sjølv.",
    unread_head: "| Dato | Mappe | Emne | Del | Kvifor |",
};

fn words(lang: Lang) -> &'static Words {
    lang.pick(&EN, &NB, &NN)
}

impl Words {
    /// "1 message", "2 messages", digits grouped as the language does.
    fn count(&self, n: u64, (one, many): (&str, &str)) -> String {
        format!("{} {}", self.thousands(n), if n == 1 { one } else { many })
    }

    fn thousands(&self, n: u64) -> String {
        thousands_with(n, self.thousands)
    }

    /// What a "N of M shown" note says, or nothing when all are shown.
    fn shown_note(&self, shown: usize, total: u64, what: &str, markdown: bool) -> Option<String> {
        if shown as u64 >= total {
            return None;
        }
        let how = if markdown {
            self.how_markdown
        } else {
            self.how_text
        };
        let [of, full, end] = self.shown;
        Some(format!(
            "{}{of}{} {what}{full}{how}{end}",
            self.thousands(shown as u64),
            self.thousands(total)
        ))
    }
}

/// The terminal summary, in the report's language.
pub fn render_text(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let lang = s.ctx.lang;
    let w = words(lang);
    let names = s.mailbox_names();
    match names.as_slice() {
        [one] => writeln!(
            out,
            "mailhygiene: {} {} {}",
            one_line(one),
            w.as_of,
            s.ctx.as_of
        )?,
        _ => writeln!(
            out,
            "mailhygiene: {} {} {}",
            w.count(names.len() as u64, w.mailbox),
            w.as_of,
            s.ctx.as_of
        )?,
    }
    let [due, between, sensitive, unreadable] = w.counts_line;
    writeln!(
        out,
        "{}: {}{due}{}{between}{}{sensitive}{}{between}{}{unreadable}",
        w.count(s.messages, w.message),
        w.thousands(s.stale),
        percent(s.stale, s.messages),
        w.thousands(s.sensitive),
        percent(s.sensitive, s.messages),
        w.thousands(s.unreadable)
    )?;
    for (source, error) in &s.failed_sources {
        writeln!(
            out,
            "{} {}: {}",
            w.failed,
            one_line(source),
            one_line(error)
        )?;
    }
    for note in s.coverage_notes() {
        writeln!(out, "{}: {}", w.not_covered, one_line(&note))?;
    }
    for note in s.notes() {
        writeln!(out, "{}: {}", w.note, one_line(&note))?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "\n{}", w.by_folder)?;
        let [folder, messages, due, sensitive, unreadable] = w.folder_columns;
        writeln!(
            out,
            "  {folder:<40} {messages:>9} {due:>7} {sensitive:>9} {unreadable:>10}"
        )?;
        for ((source, folder), f) in &s.per_folder {
            let name = if s.sources.len() > 1 {
                format!("{} {folder}", s.ctx.mailbox_name(source))
            } else {
                folder.clone()
            };
            writeln!(
                out,
                "  {:<40} {:>9} {:>7} {:>9} {:>10}",
                one_line(&name),
                w.thousands(f.messages),
                w.thousands(f.stale),
                w.thousands(f.sensitive),
                w.thousands(f.unreadable)
            )?;
        }
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "\n{}:", w.found_heading)?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                format!(
                    ", {}",
                    w.count(d.distinct_values() as u64, w.distinct_value)
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {:<40} {}{}",
                detector_label_in(id, lang),
                w.count(d.messages, w.message),
                distinct
            )?;
        }
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "\n{}", w.by_rule)?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(
                out,
                "  {:<40} {}, {} {}",
                s.ctx.rule_text(rule),
                w.count(*n, w.message),
                w.oldest,
                w.count(*oldest as u64, w.day)
            )?;
        }
    }
    let first = s.handle_first();
    if !first.is_empty() {
        writeln!(out, "\n{}:", w.handle_first)?;
        for m in &first {
            writeln!(
                out,
                "  {} {} {} \"{}\"",
                m.date,
                one_line(&m.folder),
                one_line(&m.correspondent_in(lang)),
                one_line(&m.subject)
            )?;
            for f in &m.findings {
                let shown = if f.masked.is_empty() {
                    String::new()
                } else {
                    format!(" {}", f.masked)
                };
                writeln!(
                    out,
                    "      {}{shown} ({})",
                    detector_label_in(&f.detector, lang),
                    one_line(&location_in(&f.location, lang))
                )?;
            }
        }
        if let Some(note) = w.shown_note(first.len(), s.sensitive, w.shown_sensitive, false) {
            writeln!(out, "  {note}")?;
        }
    }
    if !s.problems.is_empty() {
        writeln!(out, "\n{}:", w.not_fully_read)?;
        for p in &s.problems {
            writeln!(
                out,
                "  {} {} \"{}\" {}: {}",
                p.date,
                one_line(&p.folder),
                one_line(&p.subject),
                one_line(&location_in(&p.location, lang)),
                p.what
            )?;
        }
        if let Some(note) = w.shown_note(s.problems.len(), s.unreadable, w.shown_unreadable, false)
        {
            writeln!(out, "  {note}")?;
        }
    }
    Ok(())
}

/// Escapes text for a Markdown table cell: pipes, markup characters and
/// line breaks, with backslashes (never HTML entities, which mail clients
/// and wikis show literally).
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '<' | '>' | '*' | '_' | '`' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The cleanup report: what an employee reads in the yearly reminder, and
/// what a manager or compliance officer reads after a scan; in the
/// report's language.
pub fn render_markdown(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let lang = s.ctx.lang;
    let w = words(lang);
    let names = s.mailbox_names();
    let title = match names.as_slice() {
        [one] => md(one),
        _ => w.count(names.len() as u64, w.mailbox),
    };
    writeln!(out, "# {}: {title}, {}\n", w.title, s.ctx.as_of)?;
    if names.len() > 1 {
        writeln!(
            out,
            "{}: {}.\n",
            w.mailboxes,
            names.iter().map(|n| md(n)).collect::<Vec<_>>().join(", ")
        )?;
    }
    writeln!(
        out,
        "{}\n",
        (w.overview)(s.messages, s.stale, s.sensitive, w)
    )?;
    for note in s.coverage_notes() {
        writeln!(out, "> {}: {}\n", w.not_covered, md(&note))?;
    }
    for note in s.notes() {
        writeln!(out, "> {}: {}\n", w.note, md(&note))?;
    }
    writeln!(out, "## {}\n", w.what_to_do)?;
    for (i, step) in w.steps.iter().enumerate() {
        writeln!(out, "{}. {step}", i + 1)?;
    }
    writeln!(out, "\n{}\n", w.masked)?;
    for (source, error) in &s.failed_sources {
        writeln!(
            out,
            "> **{} {}:** {}\n",
            w.could_not_scan,
            md(&s.ctx.mailbox_name(source)),
            md(error)
        )?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "## {}\n", w.folders)?;
        let several = s.sources.len() > 1;
        if several {
            writeln!(out, "{}", w.folder_head_several)?;
            writeln!(out, "|---|---|---:|---:|---:|---:|")?;
        } else {
            writeln!(out, "{}", w.folder_head)?;
            writeln!(out, "|---|---:|---:|---:|---:|")?;
        }
        for ((source, folder), f) in &s.per_folder {
            let mailbox = if several {
                format!("{} | ", md(&s.ctx.mailbox_name(source)))
            } else {
                String::new()
            };
            writeln!(
                out,
                "| {mailbox}{} | {} | {} | {} | {} |",
                md(folder),
                w.thousands(f.messages),
                w.thousands(f.stale),
                w.thousands(f.sensitive),
                w.thousands(f.unreadable)
            )?;
        }
        writeln!(out)?;
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "## {}\n", w.found_heading)?;
        writeln!(out, "{}", w.found_head)?;
        writeln!(out, "|---|---:|---:|")?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                w.thousands(d.distinct_values() as u64)
            } else {
                "–".into()
            };
            writeln!(
                out,
                "| {} | {} | {} |",
                detector_label_in(id, lang),
                w.thousands(d.messages),
                distinct
            )?;
        }
        writeln!(out)?;
        let first = s.handle_first();
        writeln!(out, "### {}\n", w.handle_first)?;
        if let Some(note) = w.shown_note(first.len(), s.sensitive, w.shown_sensitive, true) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "{}", w.first_head)?;
        writeln!(out, "|---|---|---|---|---|")?;
        for m in &first {
            let found: Vec<String> = m
                .findings
                .iter()
                .map(|f| {
                    let place = md(&location_in(&f.location, lang));
                    if f.masked.is_empty() {
                        format!(
                            "{} {} {place}",
                            detector_label_in(&f.detector, lang),
                            w.found_in
                        )
                    } else {
                        // Masked values are digits, letters and `*`: a code
                        // span shows them as they are.
                        format!(
                            "{} `{}` {} {place}",
                            detector_label_in(&f.detector, lang),
                            f.masked.replace('`', ""),
                            w.found_in
                        )
                    }
                })
                .collect();
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.date,
                md(&m.folder),
                md(&m.correspondent_in(lang)),
                md(&m.subject),
                found.join("; ")
            )?;
        }
        writeln!(out)?;
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "## {}\n", w.due_heading)?;
        writeln!(out, "{}", w.due_head)?;
        writeln!(out, "|---|---:|---:|")?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(
                out,
                "| {} | {} | {} |",
                md(&s.ctx.rule_text(rule)),
                w.thousands(*n),
                w.count(*oldest as u64, w.day)
            )?;
        }
        writeln!(out, "\n### {}\n", w.oldest_heading)?;
        if let Some(note) = w.shown_note(s.oldest().len(), s.stale, w.shown_due, true) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "{}", w.oldest_head)?;
        writeln!(out, "|---|---:|---|---|---|")?;
        for m in s.oldest() {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.date,
                w.count(m.age_days as u64, w.day),
                md(&m.folder),
                md(&m.correspondent_in(lang)),
                md(&m.subject)
            )?;
        }
        writeln!(out)?;
    }
    if !s.problems.is_empty() {
        writeln!(out, "## {}\n", w.unread_heading)?;
        writeln!(out, "{}\n", w.unread_lead)?;
        if let Some(note) = w.shown_note(s.problems.len(), s.unreadable, w.shown_unreadable, true) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "{}", w.unread_head)?;
        writeln!(out, "|---|---|---|---|---|")?;
        for p in &s.problems {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                p.date,
                md(&p.folder),
                md(&p.subject),
                md(&location_in(&p.location, lang)),
                p.what
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Envelope, Finding, Location, MessageMeta, MessageReport, Staleness};

    fn ctx(all: bool) -> ReportContext {
        ReportContext {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
            min_confidence: 0.0,
            list_all: all,
            ..ReportContext::default()
        }
    }

    fn message(i: usize, detector: DetectorId, stale: bool) -> MessageReport {
        MessageReport {
            meta: MessageMeta::local("INBOX", 1000 + i as u64, ""),
            envelope: Envelope {
                message_id: format!("<{i}@t>"),
                from: vec!["kari@example.test".into()],
                from_name: "Kari".into(),
                subject: format!("Sak {i}"),
                ..Envelope::default()
            },
            date: None,
            findings: vec![Finding {
                detector,
                location: Location::Body,
                masked: "15*******65".into(),
                fingerprint: format!("{i:064}"),
                confidence: 0.85,
            }],
            stale: stale.then(|| Staleness {
                rule: "yearly-review".into(),
                age_days: i as i64,
            }),
            problems: Vec::new(),
            signals: Default::default(),
        }
    }

    #[test]
    fn one_kind_cannot_crowd_out_another_and_cuts_are_announced() {
        let mut s = Summary::new(ctx(false));
        for i in 0..40 {
            s.add(
                "src",
                &message(i, DetectorId::SpecialCategory("health".into()), true),
            );
        }
        for i in 40..45 {
            s.add("src", &message(i, DetectorId::NoFodselsnummer, true));
        }
        s.add("src", &message(45, DetectorId::Iban, true));
        let first = s.handle_first();
        assert_eq!(first.len(), LIST_LIMIT);
        for kind in [
            DetectorId::NoFodselsnummer,
            DetectorId::Iban,
            DetectorId::SpecialCategory("health".into()),
        ] {
            assert!(
                first.iter().any(|m| m.findings[0].detector == kind),
                "{kind} missing"
            );
        }
        // A person's ID number before a company IBAN.
        let pos = |d: DetectorId| first.iter().position(|m| m.findings[0].detector == d);
        assert!(pos(DetectorId::NoFodselsnummer) < pos(DetectorId::Iban));
        let mut md_out = Vec::new();
        render_markdown(&s, &mut md_out).expect("renders");
        let text = String::from_utf8(md_out).expect("utf-8");
        assert!(
            text.contains("25 of 46 messages with sensitive data shown"),
            "{text}"
        );
        assert!(
            text.contains("25 of 46 messages due for review shown"),
            "{text}"
        );
        // The IBAN message, listed among the 25 shown despite 44 national
        // IDs before it (one kind cannot crowd out another), in a table row.
        assert!(text.contains("| Sak 45 |"), "{text}");
        assert!(!text.contains("&lt;") && !text.contains("&gt;"), "{text}");
        assert!(text.contains("Kari \\<kari@example.test\\>"), "{text}");

        let mut all = Summary::new(ctx(true));
        for i in 0..46 {
            all.add("src", &message(i, DetectorId::NoFodselsnummer, true));
        }
        assert_eq!(all.handle_first().len(), 46);
        assert_eq!(all.oldest().len(), 46);
        let mut out = Vec::new();
        render_markdown(&all, &mut out).expect("renders");
        assert!(!String::from_utf8(out).expect("utf-8").contains(" shown;"));
    }

    /// Every section of both reports in bokmål and nynorsk: nothing of the
    /// English words is left (headings, labels, notes, detectors, places,
    /// problems, "to"), and the numbers are grouped the Norwegian way.
    #[test]
    fn the_reports_speak_the_readers_language() {
        let render = |lang: Lang| {
            let mut c = ctx(false);
            c.lang = lang;
            c.mailboxes.insert(
                "imaps://kari@h".into(),
                crate::report::MailboxName {
                    owner: Some("Kari".into()),
                    address: Some("kari@example.test".into()),
                    not_mail: vec!["Calendar".into()],
                    waited: crate::store::Waited {
                        throttled: std::time::Duration::from_secs(3),
                        paced: std::time::Duration::from_secs(5),
                    },
                },
            );
            let mut s = Summary::new(c);
            for i in 0..1200 {
                let mut m = message(i, DetectorId::NoFodselsnummer, true);
                m.meta.folder = if i % 2 == 0 {
                    "Sendt".into()
                } else {
                    "INBOX".into()
                };
                m.envelope.to = vec!["ola@example.test".into()];
                if i == 3 {
                    m.problems.push(crate::model::Problem {
                        location: Location::Attachment(vec!["a.pdf".into()]),
                        kind: crate::model::ProblemKind::Corrupt,
                    });
                    m.findings.push(Finding {
                        detector: DetectorId::SpecialCategory("health".into()),
                        location: Location::Subject,
                        masked: String::new(),
                        fingerprint: String::new(),
                        confidence: 0.9,
                    });
                }
                s.add("imaps://kari@h", &m);
            }
            s.add("other", &message(2000, DetectorId::Iban, false));
            s.failed_sources
                .push(("third".into(), "connection refused".into()));
            let mut text = Vec::new();
            render_text(&s, &mut text).expect("renders");
            let mut markdown = Vec::new();
            render_markdown(&s, &mut markdown).expect("renders");
            [text, markdown].map(|b| String::from_utf8(b).expect("utf-8"))
        };
        let [en_text, en_md] = render(Lang::En);
        // The English reports show what the others must not.
        let english = [
            "as of",
            "messages",
            "due for review",
            "with sensitive data",
            "By folder",
            "Sensitive data found",
            "Messages to handle first",
            "Not fully read",
            "shown;",
            "Not covered",
            "folders that hold no mail",
            "waited",
            "throttling",
            "online archive",
            "Mailbox cleanup report",
            "What to do",
            "Values are masked",
            "Could not scan",
            "Folders",
            "Distinct values",
            "From / to",
            "Subject",
            "Oldest messages",
            "Received",
            "These parts",
            "Norwegian national ID",
            "Special category",
            "body",
            "attachment",
            "damaged",
            "to ola@",
            " in subject",
            "1,200",
            "days",
        ];
        for word in english {
            assert!(
                en_text.contains(word) || en_md.contains(word),
                "the English reports lack {word:?}:\n{en_text}\n{en_md}"
            );
        }
        for (lang, heading) in [
            (Lang::Nb, "Opprydding i e-postkassen"),
            (Lang::Nn, "Opprydding i e-postkassa"),
        ] {
            let [text, markdown] = render(lang);
            assert!(markdown.contains(heading), "{markdown}");
            assert!(
                text.contains("1\u{a0}200") && markdown.contains("1\u{a0}200"),
                "{text}"
            );
            for word in english {
                for (what, out) in [("text", &text), ("markdown", &markdown)] {
                    assert!(
                        !out.contains(word),
                        "{lang:?} {what} report says {word:?}:\n{out}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_day_reads_as_the_strftime_format_would_write_it() {
        for t in [
            0i64,
            -62_135_596_800, // 0001-01-01
            -62_198_755_200, // year 0
            -62_230_291_200, // year -1
            253_402_300_799, // 9999-12-31
            253_402_300_800, // 10000-01-01
            1_718_000_000,
        ] {
            let d = chrono::DateTime::from_timestamp(t, 0).expect("in range");
            assert_eq!(day(d), d.format("%Y-%m-%d").to_string(), "{t}");
        }
    }

    #[test]
    fn plain_words_and_safe_text() {
        assert_eq!(count(1, "message", "messages"), "1 message");
        assert_eq!(count(1913, "message", "messages"), "1,913 messages");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(one_line("a\r\nb\x1b[31m"), "a\\r\\nb\\u{1b}[31m");
        assert_eq!(md("<a|b>\nc"), "\\<a\\|b\\> c");
        assert!(is_sent_folder("Sent Items"));
        assert!(is_sent_folder("Sendte elementer"));
        assert!(!is_sent_folder("INBOX"));
    }
}
