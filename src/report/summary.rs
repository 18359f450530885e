//! The summary behind the text and Markdown reports (and the reminder):
//! counts per folder, per detector and per rule, the messages to handle
//! first, the oldest and largest due messages, and what could not be read.
//!
//! Lists are never cut silently: a report says how many it shows of how
//! many, and where the whole list is (`--all`, or CSV). Memory stays bounded
//! unless `--all` asks for everything: only the best few messages of each
//! kind are kept.

use super::{ReportContext, detector_label};
use crate::model::{DetectorId, MessageReport};
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

    /// Who the other party is: the sender of received mail, "to X" for sent.
    pub fn correspondent(&self) -> String {
        if self.sent {
            format!("to {}", self.to)
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
            date: r.date.map(day).unwrap_or_else(|| "unknown".into()),
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
                    date: r.date.map(day).unwrap_or_else(|| "unknown".into()),
                    subject: r.envelope.subject.clone(),
                    message_id: r.envelope.message_id.clone(),
                    location: p.location.to_string(),
                    what: p.kind.describe().to_string(),
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
                notes.push(format!(
                    "{}: folders that hold no mail were not read: {}",
                    self.ctx.mailbox_name(source),
                    m.not_mail.join(", ")
                ));
            }
            let mut waits = Vec::new();
            if !m.waited.throttled.is_zero() {
                waits.push(format!(
                    "{} for the server's throttling",
                    super::duration_words(m.waited.throttled)
                ));
            }
            if !m.waited.paced.is_zero() {
                waits.push(format!(
                    "{} for the configured pace",
                    super::duration_words(m.waited.paced)
                ));
            }
            if !waits.is_empty() {
                notes.push(format!(
                    "{}: the last scan waited {}",
                    self.ctx.mailbox_name(source),
                    waits.join(" and ")
                ));
            }
        }
        if imap {
            notes.push(
                "Exchange Online's online archive (In-Place Archive) cannot be reached over IMAP; mail the retention policy moved there is not in this report".into(),
            );
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
            notes.push(format!(
                "{} arrived on {day} although they were written from {first} to {last}: this looks like an import or migration, \
                 and ageing them by arrival makes old mail look new. Rules can age by the date a message was written: \
                 `date = \"earlier\"` (or \"sent\") in rules/retention.toml",
                count(n, "message", "messages")
            ));
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
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// 1913 as "1,913".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
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

/// What a "N of M shown" note says, or nothing when all are shown.
fn shown_note(shown: usize, total: u64, what: &str, markdown: bool) -> Option<String> {
    if shown as u64 >= total {
        return None;
    }
    let how = if markdown {
        "`mailhygiene report --all --format markdown`, or `--format csv` for a spreadsheet"
    } else {
        "mailhygiene report --all, or --format csv for a spreadsheet"
    };
    Some(format!(
        "{} of {} {what} shown; the full list: {how}.",
        thousands(shown as u64),
        thousands(total)
    ))
}

/// The terminal summary.
pub fn render_text(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let names = s.mailbox_names();
    match names.as_slice() {
        [one] => writeln!(out, "mailhygiene: {} as of {}", one_line(one), s.ctx.as_of)?,
        _ => writeln!(
            out,
            "mailhygiene: {} as of {}",
            count(names.len() as u64, "mailbox", "mailboxes"),
            s.ctx.as_of
        )?,
    }
    writeln!(
        out,
        "{}: {} due for review ({}), {} with sensitive data ({}), {} not fully readable",
        count(s.messages, "message", "messages"),
        thousands(s.stale),
        percent(s.stale, s.messages),
        thousands(s.sensitive),
        percent(s.sensitive, s.messages),
        thousands(s.unreadable)
    )?;
    for (source, error) in &s.failed_sources {
        writeln!(out, "FAILED {}: {}", one_line(source), one_line(error))?;
    }
    for note in s.coverage_notes() {
        writeln!(out, "Not covered: {}", one_line(&note))?;
    }
    for note in s.notes() {
        writeln!(out, "Note: {}", one_line(&note))?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "\nBy folder:")?;
        writeln!(
            out,
            "  {:<40} {:>9} {:>7} {:>9} {:>10}",
            "folder", "messages", "due", "sensitive", "unreadable"
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
                thousands(f.messages),
                thousands(f.stale),
                thousands(f.sensitive),
                thousands(f.unreadable)
            )?;
        }
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "\nSensitive data found:")?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                format!(
                    ", {}",
                    count(
                        d.distinct_values() as u64,
                        "distinct value",
                        "distinct values"
                    )
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {:<40} {}{}",
                detector_label(id),
                count(d.messages, "message", "messages"),
                distinct
            )?;
        }
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "\nDue for review, by rule:")?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(
                out,
                "  {:<40} {}, oldest {}",
                s.ctx.rule_text(rule),
                count(*n, "message", "messages"),
                count(*oldest as u64, "day", "days")
            )?;
        }
    }
    let first = s.handle_first();
    if !first.is_empty() {
        writeln!(out, "\nMessages to handle first:")?;
        for m in &first {
            writeln!(
                out,
                "  {} {} {} \"{}\"",
                m.date,
                one_line(&m.folder),
                one_line(&m.correspondent()),
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
                    detector_label(&f.detector),
                    one_line(&f.location)
                )?;
            }
        }
        if let Some(note) = shown_note(
            first.len(),
            s.sensitive,
            "messages with sensitive data",
            false,
        ) {
            writeln!(out, "  {note}")?;
        }
    }
    if !s.problems.is_empty() {
        writeln!(out, "\nNot fully read:")?;
        for p in &s.problems {
            writeln!(
                out,
                "  {} {} \"{}\" {}: {}",
                p.date,
                one_line(&p.folder),
                one_line(&p.subject),
                one_line(&p.location),
                p.what
            )?;
        }
        if let Some(note) = shown_note(s.problems.len(), s.unreadable, "unreadable parts", false) {
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
/// what a manager or compliance officer reads after a scan.
pub fn render_markdown(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    let names = s.mailbox_names();
    let title = match names.as_slice() {
        [one] => md(one),
        _ => count(names.len() as u64, "mailbox", "mailboxes"),
    };
    writeln!(out, "# Mailbox cleanup report: {title}, {}\n", s.ctx.as_of)?;
    if names.len() > 1 {
        writeln!(
            out,
            "Mailboxes: {}.\n",
            names.iter().map(|n| md(n)).collect::<Vec<_>>().join(", ")
        )?;
    }
    writeln!(
        out,
        "**{}** in all. **{}** due for review under the retention rules, \
         and **{}** with what looks like sensitive personal data.\n",
        count(s.messages, "message", "messages"),
        count(s.stale, "message is", "messages are"),
        count(s.sensitive, "message", "messages")
    )?;
    for note in s.coverage_notes() {
        writeln!(out, "> Not covered: {}\n", md(&note))?;
    }
    for note in s.notes() {
        writeln!(out, "> Note: {}\n", md(&note))?;
    }
    writeln!(out, "## What to do\n")?;
    writeln!(
        out,
        "1. Delete messages that are no longer needed; the oldest are listed below."
    )?;
    writeln!(
        out,
        "2. Messages with national ID numbers, health information or other sensitive data \
         should not stay in email: move what must be kept to the proper system, then delete it."
    )?;
    writeln!(
        out,
        "3. Flag (star) messages you must keep; flagged messages are not counted as due for review."
    )?;
    writeln!(
        out,
        "\nValues are masked: this report never shows a number in full.\n"
    )?;
    for (source, error) in &s.failed_sources {
        writeln!(
            out,
            "> **Could not scan {}:** {}\n",
            md(&s.ctx.mailbox_name(source)),
            md(error)
        )?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "## Folders\n")?;
        let several = s.sources.len() > 1;
        if several {
            writeln!(
                out,
                "| Mailbox | Folder | Messages | Due for review | Sensitive | Not fully read |"
            )?;
            writeln!(out, "|---|---|---:|---:|---:|---:|")?;
        } else {
            writeln!(
                out,
                "| Folder | Messages | Due for review | Sensitive | Not fully read |"
            )?;
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
                thousands(f.messages),
                thousands(f.stale),
                thousands(f.sensitive),
                thousands(f.unreadable)
            )?;
        }
        writeln!(out)?;
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "## Sensitive data found\n")?;
        writeln!(out, "| What | Messages | Distinct values |")?;
        writeln!(out, "|---|---:|---:|")?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                thousands(d.distinct_values() as u64)
            } else {
                "–".into()
            };
            writeln!(
                out,
                "| {} | {} | {} |",
                detector_label(id),
                thousands(d.messages),
                distinct
            )?;
        }
        writeln!(out)?;
        let first = s.handle_first();
        writeln!(out, "### Messages to handle first\n")?;
        if let Some(note) = shown_note(
            first.len(),
            s.sensitive,
            "messages with sensitive data",
            true,
        ) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "| Date | Folder | From / to | Subject | Found |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for m in &first {
            let found: Vec<String> = m
                .findings
                .iter()
                .map(|f| {
                    if f.masked.is_empty() {
                        format!("{} in {}", detector_label(&f.detector), md(&f.location))
                    } else {
                        // Masked values are digits, letters and `*`: a code
                        // span shows them as they are.
                        format!(
                            "{} `{}` in {}",
                            detector_label(&f.detector),
                            f.masked.replace('`', ""),
                            md(&f.location)
                        )
                    }
                })
                .collect();
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.date,
                md(&m.folder),
                md(&m.correspondent()),
                md(&m.subject),
                found.join("; ")
            )?;
        }
        writeln!(out)?;
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "## Due for review\n")?;
        writeln!(out, "| Why | Messages | Oldest |")?;
        writeln!(out, "|---|---:|---:|")?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(
                out,
                "| {} | {} | {} |",
                md(&s.ctx.rule_text(rule)),
                thousands(*n),
                count(*oldest as u64, "day", "days")
            )?;
        }
        writeln!(out, "\n### Oldest messages\n")?;
        if let Some(note) = shown_note(s.oldest().len(), s.stale, "messages due for review", true) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "| Received | Age | Folder | From / to | Subject |")?;
        writeln!(out, "|---|---:|---|---|---|")?;
        for m in s.oldest() {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.date,
                count(m.age_days as u64, "day", "days"),
                md(&m.folder),
                md(&m.correspondent()),
                md(&m.subject)
            )?;
        }
        writeln!(out)?;
    }
    if !s.problems.is_empty() {
        writeln!(out, "## Not fully read\n")?;
        writeln!(
            out,
            "These parts could not be scanned; check them by hand.\n"
        )?;
        if let Some(note) = shown_note(s.problems.len(), s.unreadable, "unreadable parts", true) {
            writeln!(out, "{note}\n")?;
        }
        writeln!(out, "| Date | Folder | Subject | Part | Why |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for p in &s.problems {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                p.date,
                md(&p.folder),
                md(&p.subject),
                md(&p.location),
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
