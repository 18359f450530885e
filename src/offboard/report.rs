//! The offboarding report: metadata only (counts, folders, correspondents,
//! what retention keeps), private and union mail as a count per folder.

use super::*;

/// What the offboarding report says: metadata only.
#[derive(Debug, Clone, Serialize)]
pub struct OffboardReport {
    pub case: Case,
    pub owner: Option<String>,
    pub as_of: NaiveDate,
    pub deletion_deadline: Option<NaiveDate>,
    pub messages: u64,
    /// Messages per folder and year (private mail included in the counts).
    pub volume: BTreeMap<String, BTreeMap<i32, u64>>,
    /// Correspondents' domains with message counts, most first (private
    /// mail left out).
    pub domains: Vec<(String, u64)>,
    /// External business domains with messages and the last date.
    pub external: Vec<ExternalContact>,
    /// The latest conversations (30 days before leaving or the as-of date).
    pub recent: Vec<PlanRow>,
    /// Messages retention requires keeping, by rule.
    pub keep: BTreeMap<String, u64>,
    /// Messages with sensitive data, by detector (private mail left out).
    pub sensitive: BTreeMap<String, u64>,
    /// Private and union-related messages: only a count per folder.
    pub private_by_folder: BTreeMap<String, u64>,
    pub decisions: BTreeMap<Decision, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExternalContact {
    pub domain: String,
    pub messages: u64,
    pub last: String,
}

/// The report counted one message at a time, so a mailbox is reported as
/// the store hands its messages over, without holding them.
#[derive(Debug, Clone)]
pub struct ReportBuilder {
    volume: BTreeMap<String, BTreeMap<i32, u64>>,
    domains: HashMap<String, u64>,
    /// Domains outside the company: messages, the last date, and whether
    /// the leaver ever wrote to them (a newsletter only writes to them).
    external: HashMap<String, (u64, String, bool)>,
    keep: BTreeMap<String, u64>,
    sensitive: BTreeMap<String, u64>,
    private_by_folder: BTreeMap<String, u64>,
    decisions: BTreeMap<Decision, u64>,
    recent: Vec<PlanRow>,
    messages: u64,
    from: NaiveDate,
    until: NaiveDate,
    leaver: Leaver,
}

impl ReportBuilder {
    pub fn new(case: &Case, leaver: &Leaver, as_of: NaiveDate) -> ReportBuilder {
        let until = case.leaving.unwrap_or(as_of).min(as_of);
        ReportBuilder {
            volume: BTreeMap::new(),
            domains: HashMap::new(),
            external: HashMap::new(),
            keep: BTreeMap::new(),
            sensitive: BTreeMap::new(),
            private_by_folder: BTreeMap::new(),
            decisions: BTreeMap::new(),
            recent: Vec::new(),
            messages: 0,
            from: until - chrono::Duration::days(30),
            until,
            leaver: leaver.clone(),
        }
    }

    /// Counts one message with its plan row.
    pub fn add(&mut self, r: &MessageReport, row: &PlanRow) {
        self.messages += 1;
        let year = r.date.map_or(0, |d| d.year());
        *self
            .volume
            .entry(r.meta.folder.clone())
            .or_default()
            .entry(year)
            .or_default() += 1;
        *self.decisions.entry(row.decision).or_default() += 1;
        if row.decision == Decision::Private {
            *self
                .private_by_folder
                .entry(r.meta.folder.clone())
                .or_default() += 1;
            return;
        }
        if row.decision == Decision::Keep {
            let rule = row
                .why
                .strip_prefix("retention: ")
                .and_then(|w| w.split(' ').next())
                .unwrap_or("retention")
                .to_string();
            *self.keep.entry(rule).or_default() += 1;
        }
        let mut seen = std::collections::HashSet::new();
        for f in &r.findings {
            if seen.insert(f.detector.to_string()) {
                *self.sensitive.entry(f.detector.to_string()).or_default() += 1;
            }
        }
        let own = self.leaver.domain().map(str::to_string);
        let wrote = self.leaver.sent(r);
        let mut ds: Vec<&str> = correspondents(r, &self.leaver)
            .into_iter()
            .map(domain_of)
            .collect();
        ds.sort_unstable();
        ds.dedup();
        for d in ds {
            *self.domains.entry(d.to_string()).or_default() += 1;
            if own.as_deref() != Some(d) && !in_domains(d, CONSUMER_DOMAINS) {
                let e = self.external.entry(d.to_string()).or_default();
                e.0 += 1;
                e.2 |= wrote;
                if row.date > e.1 {
                    e.1 = row.date.clone();
                }
            }
        }
        if r.date
            .is_some_and(|d| d.date_naive() >= self.from && d.date_naive() <= self.until)
        {
            self.recent.push(row.clone());
        }
    }

    pub fn finish(
        self,
        case: &Case,
        owner: Option<&str>,
        as_of: NaiveDate,
        deadline_months: u32,
    ) -> OffboardReport {
        let mut domains: Vec<(String, u64)> = self.domains.into_iter().collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // A business contact is one the leaver wrote to: a newsletter or a
        // notification service, however much it sent, is not.
        let mut external: Vec<ExternalContact> = self
            .external
            .into_iter()
            .filter(|(_, (_, _, wrote))| *wrote)
            .map(|(domain, (messages, last, _))| ExternalContact {
                domain,
                messages,
                last,
            })
            .collect();
        external.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.domain.cmp(&b.domain)));
        let mut recent = self.recent;
        recent.sort_by(|a, b| b.date.cmp(&a.date));
        OffboardReport {
            case: case.clone(),
            owner: owner.map(str::to_string),
            as_of,
            deletion_deadline: case.deletion_deadline(deadline_months),
            messages: self.messages,
            volume: self.volume,
            domains,
            external,
            recent,
            keep: self.keep,
            sensitive: self.sensitive,
            private_by_folder: self.private_by_folder,
            decisions: self.decisions,
        }
    }
}

const LIST_LIMIT: usize = 25;

fn notice_text(n: &Notice) -> String {
    match n {
        Notice::On { date } => format!("notified {date}"),
        Notice::Not { why } => format!("NOT notified: {}", one_line(why)),
    }
}

/// The report as Markdown (also read as plain text).
pub fn render_markdown(r: &OffboardReport, out: &mut dyn Write) -> io::Result<()> {
    let c = &r.case;
    writeln!(
        out,
        "# Offboarding case {}: {}",
        md(&c.id),
        md(r.owner.as_deref().unwrap_or(&c.source))
    )?;
    writeln!(out)?;
    writeln!(out, "- Mailbox: {}", md(&c.source))?;
    writeln!(out, "- Reason: {}", md(&c.reason))?;
    writeln!(out, "- Legal basis: {}", md(&c.legal_basis))?;
    writeln!(out, "- Employee: {}", md(&notice_text(&c.notice)))?;
    if let Some(s) = &c.successor {
        writeln!(out, "- Successor: {}", md(s))?;
    }
    if let Some(l) = c.leaving {
        writeln!(out, "- Leaving: {l}")?;
    }
    if let Some(d) = r.deletion_deadline {
        let passed = if d < r.as_of { " (PASSED)" } else { "" };
        writeln!(out, "- Delete the mailbox by: {d}{passed}")?;
    }
    writeln!(
        out,
        "- Opened by {} at {}; report as of {}",
        md(&c.opened_by),
        md(&c.opened_at),
        r.as_of
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "This report shows metadata only. Private and union-related mail is counted per folder and never shown or handed over."
    )?;
    writeln!(out)?;
    writeln!(out, "## Decisions in the plan ({} messages)", r.messages)?;
    writeln!(out)?;
    for d in Decision::ALL {
        writeln!(
            out,
            "- {}: {}",
            d.as_str(),
            r.decisions.get(&d).copied().unwrap_or(0)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Volume per folder and year")?;
    writeln!(out)?;
    writeln!(out, "| folder | year | messages |")?;
    writeln!(out, "|---|---|---|")?;
    for (folder, years) in &r.volume {
        for (year, n) in years {
            let year = if *year == 0 {
                "undated".to_string()
            } else {
                year.to_string()
            };
            writeln!(out, "| {} | {year} | {n} |", md(folder))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## External business contacts")?;
    writeln!(out)?;
    if r.external.is_empty() {
        writeln!(out, "None.")?;
    }
    for e in r.external.iter().take(LIST_LIMIT) {
        writeln!(
            out,
            "- {}: {} messages, last {}",
            md(&e.domain),
            e.messages,
            e.last
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Correspondents by domain")?;
    writeln!(out)?;
    for (d, n) in r.domains.iter().take(LIST_LIMIT) {
        writeln!(out, "- {}: {n}", md(d))?;
    }
    writeln!(out)?;
    writeln!(out, "## Recent and open conversations")?;
    writeln!(out)?;
    if r.recent.is_empty() {
        writeln!(out, "None in the last 30 days.")?;
    }
    for row in r.recent.iter().take(LIST_LIMIT) {
        writeln!(
            out,
            "- {} {} from {}: {} ({})",
            row.date,
            md(&row.folder),
            md(&row.from),
            md(&row.subject),
            row.decision.as_str()
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Kept by retention rules")?;
    writeln!(out)?;
    if r.keep.is_empty() {
        writeln!(out, "None.")?;
    }
    for (rule, n) in &r.keep {
        writeln!(out, "- {}: {n}", md(rule))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "## Sensitive personal data (messages, values never shown)"
    )?;
    writeln!(out)?;
    if r.sensitive.is_empty() {
        writeln!(out, "None.")?;
    }
    // In words, as every report names them (the ids are for machines).
    for (d, n) in &r.sensitive {
        let label = crate::model::DetectorId::parse(d)
            .map(|id| crate::report::detector_label(&id))
            .unwrap_or_else(|| d.clone());
        writeln!(out, "- {}: {n}", md(&label))?;
    }
    writeln!(out)?;
    writeln!(out, "## Private and union-related (count per folder only)")?;
    writeln!(out)?;
    if r.private_by_folder.is_empty() {
        writeln!(out, "None.")?;
    }
    for (f, n) in &r.private_by_folder {
        writeln!(out, "- {}: {n}", md(f))?;
    }
    Ok(())
}
