//! The compliance officer's monthly report: where the organisation stands
//! against its privacy policy, whether that is getting better, and which
//! cases the deviation log must record.
//!
//! Why it exists apart from the cleanup report: that one speaks to one
//! employee about one mailbox; this one counts across mailboxes and
//! departments, compares with earlier months (snapshots taken at each
//! scan, since deleted mail leaves no trace to count later), and drafts
//! deviations (avvik) the way the policy's log asks for them.
//!
//! Pure: stored messages, snapshots and dates in; a [`ComplianceReport`]
//! out, rendered by the printers in this module to any `io::Write`.

use crate::model::{DetectorId, Finding, MessageReport};
use crate::report::summary::{is_sent_folder, md, one_line};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Write};

pub use crate::register::{Count, Deviation, DeviationStatus, Snapshot, deviation_id};

/// The policy's categories of personal data, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// GDPR art. 9 data (health, union membership, ...).
    SpecialCategory,
    /// National identity numbers.
    NationalId,
    /// Payment cards.
    PaymentCard,
    /// Bank accounts and IBANs: business data as often as personal.
    Financial,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::SpecialCategory,
        Category::NationalId,
        Category::PaymentCard,
        Category::Financial,
    ];

    pub fn of(d: &DetectorId) -> Category {
        match d {
            DetectorId::SpecialCategory(_) => Category::SpecialCategory,
            DetectorId::PaymentCard => Category::PaymentCard,
            DetectorId::Iban | DetectorId::NoBankAccount => Category::Financial,
            _ => Category::NationalId,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::SpecialCategory => "special categories (GDPR art. 9)",
            Category::NationalId => "national identity numbers",
            Category::PaymentCard => "payment cards",
            Category::Financial => "bank accounts",
        }
    }

    /// Whether the privacy policy forbids sending it by e-mail (a
    /// deviation when found).
    pub fn forbidden_by_mail(self) -> bool {
        !matches!(self, Category::Financial)
    }
}

/// The snapshot of one mailbox from its judged messages.
pub fn snapshot<'a>(
    source: &str,
    as_of: NaiveDate,
    reports: impl IntoIterator<Item = &'a MessageReport>,
) -> Snapshot {
    let mut builder = SnapshotBuilder::new(source, as_of);
    for r in reports {
        builder.add(r);
    }
    builder.finish()
}

/// A snapshot taken one message at a time, so a mailbox is counted as the
/// store hands its messages over, without holding them all: what it keeps
/// grows with the distinct values found, not with the mailbox.
pub struct SnapshotBuilder {
    snapshot: Snapshot,
    values: BTreeMap<String, HashSet<String>>,
    category_values: BTreeMap<String, HashSet<String>>,
    period_start: NaiveDate,
}

impl SnapshotBuilder {
    pub fn new(source: &str, as_of: NaiveDate) -> SnapshotBuilder {
        SnapshotBuilder {
            snapshot: Snapshot {
                source: source.to_string(),
                as_of,
                ..Default::default()
            },
            values: BTreeMap::new(),
            category_values: BTreeMap::new(),
            period_start: as_of
                .checked_sub_months(chrono::Months::new(1))
                .unwrap_or(as_of),
        }
    }

    /// A snapshot started from counts the store gave by a query (every
    /// message counted, judged as of the date): only the messages with
    /// findings are added after, with [`SnapshotBuilder::add_findings`].
    pub fn from_counts(
        source: &str,
        as_of: NaiveDate,
        counts: crate::store::StoredCounts,
    ) -> SnapshotBuilder {
        let mut b = SnapshotBuilder::new(source, as_of);
        let s = &mut b.snapshot;
        s.messages = counts.messages;
        s.bytes = counts.bytes;
        s.stale = counts.stale;
        s.stale_by_rule = counts.stale_by_rule;
        s.oldest_stale = counts.oldest_stale;
        s.unreadable = counts.unreadable;
        b
    }

    pub fn add(&mut self, r: &MessageReport) {
        let s = &mut self.snapshot;
        s.messages += 1;
        s.bytes += r.meta.size;
        if let Some(stale) = &r.stale {
            s.stale += 1;
            *s.stale_by_rule.entry(stale.rule.clone()).or_default() += 1;
            let day = r.date.map(|d| d.date_naive());
            if let Some(day) = day {
                s.oldest_stale = Some(s.oldest_stale.map_or(day, |o| o.min(day)));
            }
        }
        if r.problems.iter().any(|p| p.kind.content_skipped()) {
            s.unreadable += 1;
        }
        self.add_findings(r.date, &r.findings);
    }

    /// What a message's findings add: sensitive messages (new or old),
    /// messages and distinct values per category and per detector.
    pub fn add_findings(&mut self, date: Option<DateTime<Utc>>, findings: &[Finding]) {
        let s = &mut self.snapshot;
        if !findings.is_empty() {
            s.sensitive_messages += 1;
            if date.is_some_and(|d| d.date_naive() >= self.period_start) {
                s.new_sensitive += 1;
            } else {
                s.old_sensitive += 1;
            }
        }
        let categories: BTreeSet<Category> =
            findings.iter().map(|f| Category::of(&f.detector)).collect();
        for c in categories {
            s.by_category.entry(c.label().into()).or_default().messages += 1;
        }
        for f in findings.iter().filter(|f| !f.fingerprint.is_empty()) {
            remember(
                self.category_values
                    .entry(Category::of(&f.detector).label().into())
                    .or_default(),
                &f.fingerprint,
            );
        }
        let mut seen = BTreeSet::new();
        for f in findings {
            let id = f.detector.to_string();
            if seen.insert(id.clone()) {
                s.by_detector.entry(id.clone()).or_default().messages += 1;
            }
            if !f.fingerprint.is_empty() {
                remember(self.values.entry(id).or_default(), &f.fingerprint);
            }
        }
    }

    pub fn finish(self) -> Snapshot {
        let mut s = self.snapshot;
        for (id, v) in self.values {
            s.by_detector.entry(id).or_default().values = v.len() as u64;
        }
        for (c, n) in s.by_category.iter_mut() {
            n.values = self
                .category_values
                .get(c)
                .map_or(n.messages, |v| v.len() as u64);
        }
        s
    }
}

/// Adds a distinct value, copying it only the first time it is seen.
fn remember(values: &mut HashSet<String>, value: &str) {
    if !values.contains(value) {
        values.insert(value.to_string());
    }
}

/// The system a source is, for the deviation log.
pub fn system_of(source: &str) -> String {
    if source.contains("office365.com") || source.contains("outlook.") {
        "E-post (Exchange Online)".into()
    } else if source.starts_with("imap") {
        "E-post (IMAP)".into()
    } else {
        "E-post (lokal eksport)".into()
    }
}

fn domain(a: &str) -> &str {
    a.rsplit_once('@').map_or("", |(_, d)| d)
}

/// The deviations one mailbox holds now (`owner` its owner's address, to
/// tell sent from received and inside from outside).
pub fn deviations<'a>(
    source: &str,
    owner: Option<&str>,
    as_of: NaiveDate,
    reports: impl IntoIterator<Item = &'a MessageReport>,
) -> Vec<Deviation> {
    // One message in two folders (a copy kept in Deleted Items, a list
    // copy) is one deviation: where it is still in use, if anywhere.
    let mut by_id: BTreeMap<String, Deviation> = BTreeMap::new();
    let mut order = Vec::new();
    for d in reports
        .into_iter()
        .filter_map(|r| deviation(source, owner, as_of, r))
    {
        match by_id.get(&d.id) {
            Some(kept)
                if kept.status == DeviationStatus::Open || d.status != DeviationStatus::Open => {}
            _ => {
                if !by_id.contains_key(&d.id) {
                    order.push(d.id.clone());
                }
                by_id.insert(d.id.clone(), d);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// The deviation one message is, if it holds data the policy forbids
/// sending by e-mail.
pub fn deviation(
    source: &str,
    owner: Option<&str>,
    as_of: NaiveDate,
    r: &MessageReport,
) -> Option<Deviation> {
    let own_domain = owner.map(domain).unwrap_or("");
    let forbidden: Vec<_> = r
        .findings
        .iter()
        .filter(|f| Category::of(&f.detector).forbidden_by_mail())
        .collect();
    let category = forbidden.iter().map(|f| Category::of(&f.detector)).min()?;
    let sent = owner.is_some_and(|o| r.envelope.from.iter().any(|f| f == o))
        || is_sent_folder(&r.meta.folder);
    let others: Vec<&String> = if sent {
        r.envelope.to.iter().collect()
    } else {
        r.envelope.from.iter().collect()
    };
    let external = !own_domain.is_empty()
        && others.iter().any(|a| {
            let d = domain(a);
            !d.is_empty() && d != own_domain && !d.ends_with(&format!(".{own_domain}"))
        });
    let mut kinds: Vec<String> = forbidden
        .iter()
        .map(|f| crate::report::detector_label(&f.detector))
        .collect();
    kinds.sort();
    kinds.dedup();
    let key = crate::model::message_key(r);
    let id = deviation_id(source, &r.envelope.message_id, &r.meta.folder, &key);
    Some(Deviation {
        id,
        source: source.to_string(),
        folder: r.meta.folder.clone(),
        key,
        message_id: r.envelope.message_id.clone(),
        date: r.date.map(|d| d.date_naive()),
        system: system_of(source),
        category: category.label().to_string(),
        kinds,
        count: forbidden.len() as u64,
        direction: if sent { "sent" } else { "received" }.into(),
        external,
        subject: r.envelope.subject.clone(),
        status: if crate::model::is_trash(&r.meta.folder) {
            DeviationStatus::InDeletedItems
        } else {
            DeviationStatus::Open
        },
        first_seen: as_of,
        handled_on: None,
        action: String::new(),
    })
}

/// What the report knows of a mailbox besides its messages.
#[derive(Debug, Clone, Default)]
pub struct MailboxInfo {
    pub source: String,
    pub owner: Option<String>,
    pub address: Option<String>,
    pub department: Option<String>,
    pub last_scan: Option<NaiveDate>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// A queued run is still scanning it (workers on a shared store): in
    /// words, which run and how its job stands.
    pub in_progress: Option<InProgress>,
}

/// A queued run that has not finished a mailbox: which, and the worker
/// scanning it now (none: still queued).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InProgress {
    pub run: i64,
    pub holder: Option<String>,
}

impl std::fmt::Display for InProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.holder {
            Some(holder) => write!(f, "run {} is scanning it now ({holder})", self.run),
            None => write!(f, "run {} has not scanned it yet (queued)", self.run),
        }
    }
}

/// One mailbox's row.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxRow {
    pub source: String,
    pub owner: String,
    pub department: String,
    pub messages: u64,
    pub stale: u64,
    /// Stale messages per 100 messages, one decimal.
    pub stale_share: f64,
    pub oldest_stale: Option<NaiveDate>,
    pub sensitive_messages: u64,
    pub by_category: BTreeMap<String, Count>,
    pub unreadable: u64,
    pub last_scan: Option<NaiveDate>,
    pub last_status: String,
    /// The mailbox's address from the configuration, for people (the
    /// data names it by `source`).
    #[serde(skip)]
    pub address: String,
}

/// One department's totals.
#[derive(Debug, Clone, Serialize)]
pub struct DepartmentRow {
    pub department: String,
    pub mailboxes: u64,
    pub messages: u64,
    pub stale: u64,
    pub stale_share: f64,
    pub sensitive_messages: u64,
    pub deviations_open: u64,
}

/// A mailbox the report cannot vouch for.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageGap {
    pub source: String,
    pub owner: String,
    /// `not_scanned` (not within the period), `failed`, `incomplete`,
    /// `in_progress` (a queued run has not finished it).
    pub problem: String,
    pub detail: String,
    /// When it was last scanned, for `detail` in the reader's language.
    #[serde(skip)]
    pub last_scan: Option<NaiveDate>,
    /// The queued run, for `detail` in the reader's language.
    #[serde(skip)]
    pub in_progress: Option<InProgress>,
}

/// One month of history, over the mailboxes reported.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// `YYYY-MM`.
    pub month: String,
    pub mailboxes: u64,
    pub messages: u64,
    pub stale: u64,
    pub sensitive_messages: u64,
}

/// A message that carries the most risk.
#[derive(Debug, Clone, Serialize)]
pub struct RiskyMessage {
    pub source: String,
    pub owner: String,
    pub folder: String,
    pub date: Option<NaiveDate>,
    pub subject: String,
    pub identifiers: u64,
    pub categories: Vec<String>,
    pub direction: String,
    pub external: bool,
    pub why: String,
    /// `why`, as decided: each printer says it in its reader's words.
    #[serde(skip)]
    pub reasons: Vec<RiskReason>,
}

/// Why a message is among the riskiest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskReason {
    /// This many identifiers in one message (a list).
    Identifiers(u64),
    SentOutside,
    ExchangedOutside,
    SpecialCategory,
}

impl RiskReason {
    /// As the report's data says it (`why`).
    pub fn english(&self) -> String {
        match self {
            RiskReason::Identifiers(n) => format!("{n} identifiers in one message"),
            RiskReason::SentOutside => "sent outside the organisation".into(),
            RiskReason::ExchangedOutside => "exchanged with outside the organisation".into(),
            RiskReason::SpecialCategory => "special-category data".into(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub as_of: NaiveDate,
    /// The period looked back on: a month before `as_of`.
    pub period_start: NaiveDate,
    pub department: Option<String>,
    pub totals: Totals,
    pub mailboxes: Vec<MailboxRow>,
    pub departments: Vec<DepartmentRow>,
    pub coverage: Vec<CoverageGap>,
    pub trend: Vec<TrendPoint>,
    /// Sensitive messages received within the period versus before it.
    pub new_sensitive: u64,
    pub old_sensitive: u64,
    pub riskiest: Vec<RiskyMessage>,
    /// What IMAP cannot see (e.g. Exchange's online archive).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub mailboxes: u64,
    pub messages: u64,
    pub stale: u64,
    pub stale_share: f64,
    pub sensitive_messages: u64,
    pub by_category: BTreeMap<String, Count>,
    /// Not handled: open, or in Deleted Items.
    pub deviations_open: u64,
    /// Of the open ones, those whose message sits in Deleted Items.
    pub deviations_in_deleted_items: u64,
    pub deviations_handled: u64,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// A failed or incomplete scan's detail when it kept no error.
pub(crate) const SOME_UNREADABLE: &str = "some messages could not be read";

/// How many risky messages the report lists.
pub const RISKIEST: usize = 25;

/// One mailbox as the report reads it: what the store knows of it, and
/// its latest snapshot as of the report's date (taken from its messages
/// when the history has none).
pub struct MailboxState<'a> {
    pub info: &'a MailboxInfo,
    pub snapshot: &'a Snapshot,
}

/// The deviations a report covers, met one at a time (the register can be
/// larger than memory should hold): the report counts them once when it is
/// built and lists them again when it is rendered.
pub trait DeviationStream {
    /// Visits each deviation, in the register's order (source, id).
    fn each(&self, visit: &mut dyn FnMut(&Deviation) -> io::Result<()>) -> io::Result<()>;
}

impl DeviationStream for Vec<Deviation> {
    fn each(&self, visit: &mut dyn FnMut(&Deviation) -> io::Result<()>) -> io::Result<()> {
        self.iter().try_for_each(visit)
    }
}

/// Builds the report from snapshots and the deviation register alone, so
/// it costs the same for a hundred messages or ten million. `deviations`
/// is the register (open and handled; those of mailboxes outside the
/// report are passed over); `history` every snapshot kept.
pub fn build(
    as_of: NaiveDate,
    department: Option<&str>,
    mailboxes: &[MailboxState<'_>],
    history: &[Snapshot],
    deviations: &dyn DeviationStream,
) -> io::Result<ComplianceReport> {
    let period_start = as_of
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(as_of);
    let mut rows = Vec::new();
    let mut coverage = Vec::new();
    let mut totals = Totals::default();
    let (mut new_sensitive, mut old_sensitive) = (0, 0);
    let included: HashSet<&str> = mailboxes.iter().map(|m| m.info.source.as_str()).collect();
    let mut owners: BTreeMap<&str, String> = BTreeMap::new();
    for m in mailboxes {
        let info = m.info;
        let snap = m.snapshot;
        let owner = info
            .owner
            .clone()
            .or_else(|| info.address.clone())
            .unwrap_or_default();
        owners.insert(info.source.as_str(), owner.clone());
        for (c, n) in &snap.by_category {
            let t = totals.by_category.entry(c.clone()).or_default();
            t.messages += n.messages;
            t.values += n.values;
        }
        new_sensitive += snap.new_sensitive;
        old_sensitive += snap.old_sensitive;
        totals.mailboxes += 1;
        totals.messages += snap.messages;
        totals.stale += snap.stale;
        totals.sensitive_messages += snap.sensitive_messages;
        let status = info.last_status.clone().unwrap_or_default();
        match info.last_scan {
            None => coverage.push(CoverageGap {
                source: info.source.clone(),
                owner: owner.clone(),
                problem: "not_scanned".into(),
                detail: "never scanned".into(),
                last_scan: None,
                in_progress: None,
            }),
            Some(d) if d < period_start => coverage.push(CoverageGap {
                source: info.source.clone(),
                owner: owner.clone(),
                problem: "not_scanned".into(),
                detail: format!("last scanned {d}, before the period"),
                last_scan: Some(d),
                in_progress: None,
            }),
            _ => {}
        }
        if let Some(queued) = &info.in_progress {
            coverage.push(CoverageGap {
                source: info.source.clone(),
                owner: owner.clone(),
                problem: "in_progress".into(),
                detail: queued.to_string(),
                last_scan: info.last_scan,
                in_progress: Some(queued.clone()),
            });
        }
        if status == "failed" || status == "incomplete" {
            coverage.push(CoverageGap {
                source: info.source.clone(),
                owner: owner.clone(),
                problem: status.clone(),
                detail: one_line(info.last_error.as_deref().unwrap_or(SOME_UNREADABLE)),
                last_scan: info.last_scan,
                in_progress: None,
            });
        }
        rows.push(MailboxRow {
            source: info.source.clone(),
            owner,
            department: info.department.clone().unwrap_or_default(),
            messages: snap.messages,
            stale: snap.stale,
            stale_share: share(snap.stale, snap.messages),
            oldest_stale: snap.oldest_stale,
            sensitive_messages: snap.sensitive_messages,
            by_category: snap.by_category.clone(),
            unreadable: snap.unreadable,
            last_scan: info.last_scan,
            last_status: status,
            address: info.address.clone().unwrap_or_default(),
        });
    }
    totals.stale_share = share(totals.stale, totals.messages);
    // One pass over the register: the counts, and the riskiest few.
    let mut open_by_source: BTreeMap<String, u64> = BTreeMap::new();
    let mut riskiest: Vec<(u64, RiskyMessage)> = Vec::new();
    deviations.each(&mut |d| {
        if !included.contains(d.source.as_str()) {
            return Ok(());
        }
        // Data in Deleted Items is still in the mailbox: not handled.
        if d.status.is_open() {
            totals.deviations_open += 1;
            *open_by_source.entry(d.source.clone()).or_default() += 1;
        } else {
            totals.deviations_handled += 1;
        }
        if d.status == DeviationStatus::InDeletedItems {
            totals.deviations_in_deleted_items += 1;
        }
        if let Some(risky) = risky(d, &owners) {
            keep_riskiest(&mut riskiest, risky);
        }
        Ok(())
    })?;
    let mut departments: BTreeMap<String, DepartmentRow> = BTreeMap::new();
    for r in &rows {
        let name = if r.department.is_empty() {
            "(none)".to_string()
        } else {
            r.department.clone()
        };
        let d = departments
            .entry(name.clone())
            .or_insert_with(|| DepartmentRow {
                department: name,
                mailboxes: 0,
                messages: 0,
                stale: 0,
                stale_share: 0.0,
                sensitive_messages: 0,
                deviations_open: 0,
            });
        d.mailboxes += 1;
        d.messages += r.messages;
        d.stale += r.stale;
        d.sensitive_messages += r.sensitive_messages;
        d.deviations_open += open_by_source.get(&r.source).copied().unwrap_or(0);
    }
    for d in departments.values_mut() {
        d.stale_share = share(d.stale, d.messages);
    }
    // The trend: per month, each mailbox's last snapshot in that month.
    let mut latest: HashMap<(String, &str), &Snapshot> = HashMap::new();
    for s in history
        .iter()
        .filter(|s| included.contains(s.source.as_str()) && s.as_of <= as_of)
    {
        let month = format!("{:04}-{:02}", s.as_of.year(), s.as_of.month());
        let e = latest.entry((month, s.source.as_str())).or_insert(s);
        if s.as_of >= e.as_of {
            *e = s;
        }
    }
    let mut trend: BTreeMap<String, TrendPoint> = BTreeMap::new();
    for ((month, _), s) in latest {
        let t = trend.entry(month.clone()).or_insert_with(|| TrendPoint {
            month,
            mailboxes: 0,
            messages: 0,
            stale: 0,
            sensitive_messages: 0,
        });
        t.mailboxes += 1;
        t.messages += s.messages;
        t.stale += s.stale;
        t.sensitive_messages += s.sensitive_messages;
    }
    Ok(ComplianceReport {
        as_of,
        period_start,
        department: department.map(str::to_string),
        totals,
        mailboxes: rows,
        departments: departments.into_values().collect(),
        coverage,
        trend: trend.into_values().collect(),
        new_sensitive,
        old_sensitive,
        riskiest: riskiest
            .into_iter()
            .take(RISKIEST)
            .map(|(_, r)| r)
            .collect(),
        notes: vec![words::ARCHIVE_NOTE.into()],
    })
}

/// An open deviation the report lists among the riskiest (a list, across
/// the border, or special-category data), with its score; `None` for the
/// rest.
fn risky(d: &Deviation, owners: &BTreeMap<&str, String>) -> Option<(u64, RiskyMessage)> {
    if d.status != DeviationStatus::Open {
        return None;
    }
    let special = d.category == Category::SpecialCategory.label();
    let list = d.count >= 10;
    if !(list || d.external || special) {
        return None;
    }
    let mut reasons = Vec::new();
    if list {
        reasons.push(RiskReason::Identifiers(d.count));
    }
    if d.external && d.direction == "sent" {
        reasons.push(RiskReason::SentOutside);
    } else if d.external {
        reasons.push(RiskReason::ExchangedOutside);
    }
    if special {
        reasons.push(RiskReason::SpecialCategory);
    }
    let score = d.count.min(1000)
        + if d.external { 20 } else { 0 }
        + if d.external && d.direction == "sent" {
            20
        } else {
            0
        }
        + if special { 10 } else { 0 };
    Some((
        score,
        RiskyMessage {
            source: d.source.clone(),
            owner: owners.get(d.source.as_str()).cloned().unwrap_or_default(),
            folder: d.folder.clone(),
            date: d.date,
            subject: d.subject.clone(),
            identifiers: if special { 0 } else { d.count },
            categories: vec![d.category.clone()],
            direction: d.direction.clone(),
            external: d.external,
            why: reasons
                .iter()
                .map(RiskReason::english)
                .collect::<Vec<_>>()
                .join("; "),
            reasons,
        },
    ))
}

/// Keeps the [`RISKIEST`] worst, worst first (highest score, then latest
/// date), the earlier met first among equals: what a stable sort of all of
/// them and a cut would keep, holding no more than the cut.
fn keep_riskiest(list: &mut Vec<(u64, RiskyMessage)>, item: (u64, RiskyMessage)) {
    let pos = list.partition_point(|(score, m)| {
        *score > item.0 || (*score == item.0 && m.date >= item.1.date)
    });
    if pos < RISKIEST {
        list.insert(pos, item);
        list.truncate(RISKIEST);
    }
}

/// Of two copies of one message, whether `c` stands for it rather than
/// `chosen`: a copy still in the mailbox proper over one in Deleted Items,
/// else the first by folder and key (so the choice does not depend on the
/// order copies are met in).
pub fn stands_for_message(c: &Deviation, chosen: (DeviationStatus, &str, &str)) -> bool {
    let rank = |s: DeviationStatus| u8::from(s != DeviationStatus::Open);
    (rank(c.status), c.folder.as_str(), c.key.as_str()) < (rank(chosen.0), chosen.1, chosen.2)
}

/// One deviation per message: copies of one message (one Message-ID in two
/// folders) are one entry of the register ([`stands_for_message`] chooses).
pub fn one_per_message(current: Vec<Deviation>) -> Vec<Deviation> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Deviation> = Vec::with_capacity(current.len());
    for c in current {
        let who = crate::register::identity(&c);
        match at.get(&who) {
            Some(&i) => {
                let o = &out[i];
                if stands_for_message(&c, (o.status, &o.folder, &o.key)) {
                    out[i] = c;
                }
            }
            None => {
                at.insert(who, out.len());
                out.push(c);
            }
        }
    }
    out
}

/// Brings the deviation register up to date with what a mailbox holds now:
/// new ones are opened, known ones keep their first date and the action
/// people wrote, follow their message between folders (in Deleted Items:
/// `in_deleted_items`), and are `handled` as of `as_of` only once the
/// message has left the mailbox. An entry made under an older id (folder
/// and key) is recognised by its Message-ID and carried over, not counted
/// twice. The store's
/// [`crate::history::RegisterUpdate`] does the same one deviation at
/// a time.
pub fn reconcile(
    known: &[Deviation],
    source: &str,
    current: Vec<Deviation>,
    as_of: NaiveDate,
) -> Vec<Deviation> {
    let identity = crate::register::identity;
    let mut now: BTreeMap<String, &Deviation> = BTreeMap::new();
    for c in &current {
        now.entry(identity(c)).or_insert(c);
    }
    let mut out: Vec<Deviation> = Vec::new();
    let mut carried: HashSet<String> = HashSet::new();
    for k in known.iter().filter(|k| k.source == source) {
        let who = identity(k);
        let d = match now.get(&who) {
            // Known twice (an older id and the new one): kept once.
            Some(_) if carried.contains(&who) => continue,
            Some(c) => {
                carried.insert(who);
                Deviation {
                    first_seen: k.first_seen.min(c.first_seen),
                    action: k.action.clone(),
                    handled_on: None,
                    ..(*c).clone()
                }
            }
            None if k.status.is_open() => Deviation {
                status: DeviationStatus::Handled,
                handled_on: Some(as_of),
                ..k.clone()
            },
            None => k.clone(),
        };
        out.push(d);
    }
    out.extend(
        current
            .iter()
            .filter(|c| !carried.contains(&identity(c)))
            .cloned(),
    );
    out
}

mod gather;
mod mail;
mod render;
mod words;

pub use gather::{Register, Scope, gather, record_delivery};

pub use mail::mail;
pub use render::{
    DEVIATIONS_CSV, RenderFile, render_csv, render_deviations_csv, render_files, render_html,
    render_json, render_markdown,
};

#[cfg(test)]
mod tests {
    /// Copies of one message are one entry; a copy still in the mailbox
    /// proper stands for it, the same one whatever order they are met in.
    #[test]
    fn copies_of_a_message_are_one_deviation() {
        let d = |folder: &str, status: DeviationStatus| Deviation {
            id: "AV-1".into(),
            source: "s".into(),
            folder: folder.into(),
            key: folder.into(),
            message_id: "<a@x>".into(),
            date: None,
            system: String::new(),
            category: String::new(),
            kinds: Vec::new(),
            count: 1,
            direction: "received".into(),
            external: false,
            subject: String::new(),
            status,
            first_seen: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            handled_on: None,
            action: String::new(),
        };
        let copies = vec![
            d("Deleted Items", DeviationStatus::InDeletedItems),
            d("INBOX", DeviationStatus::Open),
            d("Arkiv", DeviationStatus::Open),
        ];
        let one = one_per_message(copies.clone());
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].folder, "Arkiv");
        // Met in another order: the same choice.
        let reversed = one_per_message(copies.into_iter().rev().collect());
        assert_eq!(reversed, one);
        let trash_only = one_per_message(vec![d("Deleted Items", DeviationStatus::InDeletedItems)]);
        assert_eq!(trash_only[0].status, DeviationStatus::InDeletedItems);
    }

    use super::*;
    use crate::model::{Envelope, Finding, Location, MessageMeta, Staleness};
    use chrono::TimeZone;

    fn message(
        folder: &str,
        from: &str,
        to: &str,
        findings: &[(&str, &str)],
        stale: bool,
    ) -> MessageReport {
        MessageReport {
            meta: MessageMeta {
                uid: Some(1),
                uid_validity: Some(1),
                ..MessageMeta::local(folder, 10, "x")
            },
            envelope: Envelope {
                message_id: format!("<{folder}{from}@x>"),
                date_header: None,
                from: vec![from.into()],
                from_name: String::new(),
                to: vec![to.into()],
                subject: "s".into(),
            },
            date: Some(chrono::Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()),
            findings: findings
                .iter()
                .map(|(d, fp)| Finding {
                    detector: DetectorId::parse(d).expect("detector"),
                    location: Location::Body,
                    masked: String::new(),
                    fingerprint: fp.to_string(),
                    confidence: 0.9,
                })
                .collect(),
            stale: stale.then(|| Staleness {
                rule: "yearly-review".into(),
                age_days: 400,
            }),
            problems: Vec::new(),
            signals: Default::default(),
        }
    }

    proptest::proptest! {
        /// The riskiest kept one at a time are what sorting them all
        /// (stably: worst score, then latest date) and cutting keeps.
        #[test]
        fn the_riskiest_kept_as_met_are_the_sorted_cut(
            items in proptest::collection::vec((0u64..5, proptest::option::of(0u32..6)), 0..80)
        ) {
            let risky: Vec<(u64, RiskyMessage)> = items
                .iter()
                .enumerate()
                .map(|(i, (score, d))| {
                    (*score, RiskyMessage {
                        source: i.to_string(),
                        owner: String::new(),
                        folder: String::new(),
                        date: d.map(|d| day("2026-01-01") + chrono::Days::new(d.into())),
                        subject: String::new(),
                        identifiers: 0,
                        categories: Vec::new(),
                        direction: String::new(),
                        external: false,
                        why: String::new(),
                        reasons: Vec::new(),
                    })
                })
                .collect();
            let mut kept = Vec::new();
            for r in risky.clone() {
                keep_riskiest(&mut kept, r);
            }
            let mut sorted = risky;
            sorted.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.date.cmp(&a.1.date)));
            sorted.truncate(RISKIEST);
            let ids = |l: &[(u64, RiskyMessage)]| l.iter().map(|(_, m)| m.source.clone()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(ids(&kept), ids(&sorted));
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn snapshots_count_messages_values_and_rules() {
        let m = [
            message(
                "INBOX",
                "a@x.no",
                "me@firma.no",
                &[("no.fodselsnummer", "f1"), ("no.fodselsnummer", "f2")],
                true,
            ),
            message(
                "INBOX",
                "b@x.no",
                "me@firma.no",
                &[("no.fodselsnummer", "f1")],
                false,
            ),
            message("INBOX", "c@x.no", "me@firma.no", &[], true),
        ];
        let s = snapshot("src", day("2026-11-01"), m.iter());
        assert_eq!((s.messages, s.stale, s.sensitive_messages), (3, 2, 2));
        assert_eq!(s.stale_by_rule["yearly-review"], 2);
        assert_eq!(
            s.by_detector["no.fodselsnummer"],
            Count {
                messages: 2,
                values: 2
            }
        );
        assert_eq!(s.oldest_stale, Some(day("2026-10-01")));
    }

    #[test]
    fn deviations_tell_direction_and_outside_and_skip_bank_accounts() {
        let m = [
            message(
                "Sent Items",
                "me@firma.no",
                "x@ekstern.no",
                &[("no.fodselsnummer", "f1")],
                false,
            ),
            message(
                "INBOX",
                "kollega@firma.no",
                "me@firma.no",
                &[("special_category.health", "")],
                false,
            ),
            message(
                "INBOX",
                "bank@ekstern.no",
                "me@firma.no",
                &[("no.bank_account", "k1")],
                false,
            ),
        ];
        let d = deviations("src", Some("me@firma.no"), day("2026-11-01"), m.iter());
        assert_eq!(d.len(), 2, "a bank account alone is not a deviation");
        assert_eq!((d[0].direction.as_str(), d[0].external), ("sent", true));
        assert_eq!(
            (d[1].direction.as_str(), d[1].external),
            ("received", false)
        );
        assert_eq!(d[1].category, Category::SpecialCategory.label());
        assert!(d[0].id.starts_with("AV-") && d[0].id != d[1].id);
    }

    #[test]
    fn the_register_keeps_first_dates_and_handles_what_is_gone() {
        let m = [
            message(
                "INBOX",
                "a@x.no",
                "me@firma.no",
                &[("no.fodselsnummer", "f1")],
                false,
            ),
            message(
                "Arkiv",
                "b@x.no",
                "me@firma.no",
                &[("no.fodselsnummer", "f2")],
                false,
            ),
        ];
        let first = deviations("src", None, day("2026-10-01"), m.iter());
        let register = reconcile(&[], "src", first.clone(), day("2026-10-01"));
        assert_eq!(register.len(), 2);
        // A month on, the first message is gone and a new one is there.
        let later = deviations("src", None, day("2026-11-01"), m[1..].iter());
        let register = reconcile(&register, "src", later, day("2026-11-01"));
        let by_folder = |f: &str| register.iter().find(|d| d.folder == f).expect("kept");
        assert_eq!(by_folder("INBOX").status, DeviationStatus::Handled);
        assert_eq!(by_folder("INBOX").handled_on, Some(day("2026-11-01")));
        assert_eq!(by_folder("Arkiv").status, DeviationStatus::Open);
        assert_eq!(by_folder("Arkiv").first_seen, day("2026-10-01"));
        // Another mailbox's register is not touched.
        assert!(reconcile(&register, "other", Vec::new(), day("2026-12-01")).is_empty());
    }

    /// A cleanup moves a message to Deleted Items: the same deviation, not
    /// handled (the data is still in the mailbox), counted once; handled
    /// only when it has left the mailbox. An entry made under the old id
    /// (folder and key) is carried over, not counted twice.
    #[test]
    fn the_register_follows_a_message_into_deleted_items_and_counts_it_once() {
        let inbox = message(
            "INBOX",
            "a@x.no",
            "me@firma.no",
            &[("no.fodselsnummer", "f1")],
            false,
        );
        let mut trashed = inbox.clone();
        trashed.meta.folder = "Deleted Items".into();
        trashed.meta.uid = Some(9);
        let first = reconcile(
            &[],
            "src",
            deviations("src", None, day("2026-10-01"), [&inbox]),
            day("2026-10-01"),
        );
        assert_eq!(first.len(), 1);
        let moved = reconcile(
            &first,
            "src",
            deviations("src", None, day("2026-11-01"), [&trashed]),
            day("2026-11-01"),
        );
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(
            (moved[0].status, moved[0].handled_on),
            (DeviationStatus::InDeletedItems, None)
        );
        assert_eq!(
            (moved[0].id.as_str(), moved[0].first_seen),
            (first[0].id.as_str(), day("2026-10-01"))
        );
        // Both copies at once (a copy left in Deleted Items): one deviation,
        // open where it is still in use.
        let both = deviations("src", None, day("2026-11-01"), [&trashed, &inbox]);
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].status, DeviationStatus::Open);
        let gone = reconcile(&moved, "src", Vec::new(), day("2026-12-01"));
        assert_eq!(
            (gone[0].status, gone[0].handled_on),
            (DeviationStatus::Handled, Some(day("2026-12-01")))
        );
        // A register from before: the same message under a folder-and-key id.
        let mut legacy = first[0].clone();
        legacy.id = "AV-000000000000".into();
        legacy.action = "Varslet personvernombudet".into();
        let carried = reconcile(
            &[legacy],
            "src",
            deviations("src", None, day("2026-11-01"), [&trashed]),
            day("2026-11-01"),
        );
        assert_eq!(carried.len(), 1, "{carried:?}");
        assert_eq!(carried[0].id, first[0].id);
        assert_eq!(carried[0].action, "Varslet personvernombudet");
        assert_eq!(carried[0].status, DeviationStatus::InDeletedItems);
    }

    #[test]
    fn the_report_mail_attaches_every_file() {
        let files = vec![
            (
                "compliance-2026-11-01.html".to_string(),
                b"<p>x</p>".to_vec(),
            ),
            ("trend.csv".to_string(), b"month\n".to_vec()),
        ];
        let raw = mail(
            "robot@firma.no",
            "personvern@firma.no",
            day("2026-11-01"),
            crate::model::Lang::En,
            &files,
        )
        .expect("builds");
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parses");
        assert_eq!(parsed.subject(), Some("Compliance report 2026-11-01"));
        let names: Vec<&str> = parsed
            .attachments()
            .filter_map(|a| a.attachment_name())
            .collect();
        assert_eq!(names, ["compliance-2026-11-01.html", "trend.csv"]);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Auto-Submitted: auto-generated"));
        assert!(text.contains("X-Mailhygiene-Kind: compliance-report"));
    }

    #[test]
    fn shares_and_trends() {
        assert_eq!(share(1, 3), 33.3);
        assert_eq!(share(0, 0), 0.0);
        let snap = |source: &str, d: &str, stale: u64| Snapshot {
            source: source.into(),
            as_of: day(d),
            messages: 10,
            stale,
            ..Default::default()
        };
        let info = MailboxInfo {
            source: "a".into(),
            last_scan: Some(day("2026-11-20")),
            ..Default::default()
        };
        let history = [
            snap("a", "2026-10-01", 5),
            snap("a", "2026-10-20", 4),
            snap("a", "2026-11-20", 2),
            snap("gone", "2026-11-20", 9),
        ];
        let r = build(
            day("2026-11-30"),
            None,
            &[MailboxState {
                info: &info,
                snapshot: &history[2],
            }],
            &history,
            &Vec::new(),
        )
        .expect("built");
        assert_eq!(
            r.mailboxes[0].stale, 2,
            "the mailbox as its latest snapshot says"
        );
        let points: Vec<(String, u64)> =
            r.trend.iter().map(|t| (t.month.clone(), t.stale)).collect();
        assert_eq!(
            points,
            [("2026-10".to_string(), 4), ("2026-11".to_string(), 2)],
            "last snapshot per month, only reported mailboxes"
        );
        assert!(r.coverage.is_empty());
    }

    /// The page and the Markdown in bokmål and nynorsk hold none of the
    /// English page's words: headings, cards, categories, kinds, statuses,
    /// coverage problems, reasons and the archive note, each made present
    /// by the report below (the English rendering shows each of them).
    #[test]
    fn the_compliance_page_speaks_the_readers_language() {
        use crate::model::Lang;
        let info = |source: &str, scan: Option<&str>, status: &str| MailboxInfo {
            source: source.into(),
            owner: Some("Kari Nordmann".into()),
            address: Some("kari@firma.no".into()),
            department: Some("Salg".into()),
            last_scan: scan.map(day),
            last_status: Some(status.into()),
            last_error: None,
            in_progress: (status == "running").then_some(InProgress {
                run: 7,
                holder: None,
            }),
        };
        let infos = [
            info(
                "imaps://kari%40firma.no@mail",
                Some("2026-11-20"),
                "incomplete",
            ),
            info("maildir:/b", None, "complete"),
            info("maildir:/c", Some("2026-06-01"), "running"),
        ];
        let mut snap = Snapshot {
            as_of: day("2026-11-20"),
            messages: 1200,
            stale: 300,
            sensitive_messages: 40,
            ..Default::default()
        };
        for c in Category::ALL {
            snap.by_category.insert(
                c.label().into(),
                Count {
                    messages: 3,
                    values: 2,
                },
            );
        }
        let mut before = snap.clone();
        before.as_of = day("2026-10-20");
        before.stale = 320;
        let history: Vec<Snapshot> = infos
            .iter()
            .flat_map(|i| {
                [before.clone(), snap.clone()].map(|mut s| {
                    s.source = i.source.clone();
                    s
                })
            })
            .collect();
        let deviation = |n: u64, status: DeviationStatus, category: Category| Deviation {
            id: format!("AV-{n}"),
            source: infos[0].source.clone(),
            folder: "Sendte elementer".into(),
            key: n.to_string(),
            message_id: format!("<{n}@x>"),
            date: Some(day("2026-11-02")),
            system: "E-post".into(),
            category: category.label().into(),
            kinds: words::some_kinds(),
            count: 12,
            direction: if n.is_multiple_of(2) {
                "sent"
            } else {
                "received"
            }
            .into(),
            external: true,
            subject: "Lønnsliste".into(),
            status,
            first_seen: day("2026-11-02"),
            handled_on: None,
            action: String::new(),
        };
        let register = vec![
            deviation(1, DeviationStatus::Open, Category::NationalId),
            deviation(2, DeviationStatus::Open, Category::SpecialCategory),
            deviation(3, DeviationStatus::InDeletedItems, Category::PaymentCard),
            deviation(4, DeviationStatus::Handled, Category::NationalId),
        ];
        let states: Vec<MailboxState<'_>> = infos
            .iter()
            .map(|info| MailboxState {
                info,
                snapshot: &snap,
            })
            .collect();
        let r = build(day("2026-11-25"), None, &states, &history, &register).expect("built");
        assert!(r.coverage.len() >= 3 && !r.riskiest.is_empty());
        let render = |lang: Lang| {
            let mut page = Vec::new();
            render_html(&r, &register, lang, &mut page).expect("html");
            let mut markdown = Vec::new();
            render_markdown(&r, &register, lang, &mut markdown).expect("markdown");
            (
                String::from_utf8(page).expect("utf-8"),
                String::from_utf8(markdown).expect("utf-8"),
            )
        };
        let english = [
            "Compliance report",
            "Period 20",
            "overdue for cleanup",
            "messages with sensitive data",
            "open deviations",
            "since October",
            "Trend",
            "Sensitive personal data by category",
            "distinct values",
            "special categories (GDPR",
            "national identity numbers",
            "payment cards",
            "bank accounts",
            "Norwegian national ID",
            "Departments",
            "Mailboxes",
            "oldest overdue",
            "unreadable",
            "incomplete",
            "Coverage",
            "never scanned",
            "last scanned before",
            "not scanned in the period",
            "has not scanned it yet",
            "some messages could not be read",
            "Riskiest messages",
            "identifiers in one message",
            "sent outside the organisation",
            "exchanged with outside",
            "special-category data",
            "Deviation drafts",
            "moved to Deleted Items",
            "handled",
            "received",
            "online archive",
            "1,200",
        ];
        let (page, markdown) = render(Lang::En);
        for word in english {
            assert!(
                page.contains(word) || markdown.contains(word),
                "the English rendering shows {word}"
            );
        }
        assert!(!page.contains("imaps://") && page.contains("Kari Nordmann"));
        for lang in [Lang::Nb, Lang::Nn] {
            let (page, markdown) = render(lang);
            for word in english {
                assert!(!page.contains(word), "{lang:?} page: {word}");
                assert!(!markdown.contains(word), "{lang:?} Markdown: {word}");
            }
            assert!(page.contains("1\u{a0}200") && page.contains("20.11.2026"));
        }
    }
}
