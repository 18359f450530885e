//! The offboarding report: metadata only (counts, folders, correspondents,
//! what retention keeps), private and union mail as a count per folder.

use super::*;
use crate::model::Lang;

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

/// The report's words in one language (the values are the case's, the
/// mailbox's and the plan's, as recorded).
struct Words {
    title: &'static str,
    mailbox: &'static str,
    reason: &'static str,
    legal_basis: &'static str,
    employee: &'static str,
    notified: &'static str,
    not_notified: &'static str,
    successor: &'static str,
    leaving: &'static str,
    delete_by: &'static str,
    passed: &'static str,
    opened: (&'static str, &'static str, &'static str),
    metadata_only: &'static str,
    decisions: &'static str,
    messages: &'static str,
    decision_names: [&'static str; 5],
    volume: &'static str,
    volume_head: &'static str,
    undated: &'static str,
    external: &'static str,
    none: &'static str,
    external_line: (&'static str, &'static str),
    domains: &'static str,
    recent: &'static str,
    none_recent: &'static str,
    from: &'static str,
    kept: &'static str,
    sensitive: &'static str,
    private: &'static str,
}

const EN: Words = Words {
    title: "Offboarding case",
    mailbox: "Mailbox",
    reason: "Reason",
    legal_basis: "Legal basis",
    employee: "Employee",
    notified: "notified",
    not_notified: "NOT notified",
    successor: "Successor",
    leaving: "Leaving",
    delete_by: "Delete the mailbox by",
    passed: "PASSED",
    opened: ("Opened by", "at", "report as of"),
    metadata_only: "This report shows metadata only. Private and union-related mail is counted per folder and never shown or handed over.",
    decisions: "Decisions in the plan",
    messages: "messages",
    decision_names: ["handover", "keep", "delete", "private", "review"],
    volume: "Volume per folder and year",
    volume_head: "| folder | year | messages |",
    undated: "undated",
    external: "External business contacts",
    none: "None.",
    external_line: ("messages, last", ""),
    domains: "Correspondents by domain",
    recent: "Recent and open conversations",
    none_recent: "None in the last 30 days.",
    from: "from",
    kept: "Kept by retention rules",
    sensitive: "Sensitive personal data (messages, values never shown)",
    private: "Private and union-related (count per folder only)",
};

const NB: Words = Words {
    title: "Fratredelsessak",
    mailbox: "E-postkasse",
    reason: "Grunn",
    legal_basis: "Rettslig grunnlag",
    employee: "Den ansatte",
    notified: "varslet",
    not_notified: "IKKE varslet",
    successor: "Etterfølger",
    leaving: "Slutter",
    delete_by: "E-postkassen slettes senest",
    passed: "PASSERT",
    opened: ("Åpnet av", "den", "rapport per"),
    metadata_only: "Rapporten viser bare opplysninger om meldingene, ikke innholdet. Privat e-post og e-post om fagforeningen telles per mappe og blir aldri vist eller overført.",
    decisions: "Beslutninger i planen",
    messages: "meldinger",
    decision_names: ["overføres", "beholdes", "slettes", "privat", "vurderes"],
    volume: "Mengde per mappe og år",
    volume_head: "| mappe | år | meldinger |",
    undated: "udatert",
    external: "Eksterne forretningsforbindelser",
    none: "Ingen.",
    external_line: ("meldinger, sist", ""),
    domains: "Korrespondenter per domene",
    recent: "Nylige og åpne samtaler",
    none_recent: "Ingen de siste 30 dagene.",
    from: "fra",
    kept: "Beholdes etter oppbevaringsregler",
    sensitive: "Sensitive personopplysninger (meldinger; verdiene vises aldri)",
    private: "Privat og fagforeningsrelatert (bare antall per mappe)",
};

const NN: Words = Words {
    title: "Fråtredingssak",
    mailbox: "E-postkasse",
    reason: "Grunn",
    legal_basis: "Rettsleg grunnlag",
    employee: "Den tilsette",
    notified: "varsla",
    not_notified: "IKKJE varsla",
    successor: "Etterfølgjar",
    leaving: "Sluttar",
    delete_by: "E-postkassa blir sletta seinast",
    passed: "PASSERT",
    opened: ("Opna av", "den", "rapport per"),
    metadata_only: "Rapporten viser berre opplysningar om meldingane, ikkje innhaldet. Privat e-post og e-post om fagforeininga blir talde per mappe og blir aldri viste eller overførte.",
    decisions: "Avgjerder i planen",
    messages: "meldingar",
    decision_names: [
        "blir overført",
        "blir halden på",
        "blir sletta",
        "privat",
        "skal vurderast",
    ],
    volume: "Mengd per mappe og år",
    volume_head: "| mappe | år | meldingar |",
    undated: "udatert",
    external: "Eksterne forretningssamband",
    none: "Ingen.",
    external_line: ("meldingar, sist", ""),
    domains: "Korrespondentar per domene",
    recent: "Nye og opne samtalar",
    none_recent: "Ingen dei siste 30 dagane.",
    from: "frå",
    kept: "Blir haldne på etter oppbevaringsreglar",
    sensitive: "Sensitive personopplysningar (meldingar; verdiane blir aldri viste)",
    private: "Privat og fagforeiningsrelatert (berre tal per mappe)",
};

fn words(lang: Lang) -> &'static Words {
    lang.pick(&EN, &NB, &NN)
}

fn notice_text(n: &Notice, w: &Words) -> String {
    match n {
        Notice::On { date } => format!("{} {date}", w.notified),
        Notice::Not { why } => format!("{}: {}", w.not_notified, one_line(why)),
    }
}

/// The report as Markdown (also read as plain text), in English.
pub fn render_markdown(r: &OffboardReport, out: &mut dyn Write) -> io::Result<()> {
    render_markdown_in(r, Lang::En, out)
}

/// The report as Markdown in `lang`: its headings, labels, decisions and
/// detector names; decisions in the plan file keep their machine names.
pub fn render_markdown_in(r: &OffboardReport, lang: Lang, out: &mut dyn Write) -> io::Result<()> {
    let w = words(lang);
    let c = &r.case;
    writeln!(
        out,
        "# {} {}: {}",
        w.title,
        md(&c.id),
        md(r.owner.as_deref().unwrap_or(&c.source))
    )?;
    writeln!(out)?;
    writeln!(out, "- {}: {}", w.mailbox, md(&c.source))?;
    writeln!(out, "- {}: {}", w.reason, md(&c.reason))?;
    writeln!(out, "- {}: {}", w.legal_basis, md(&c.legal_basis))?;
    writeln!(out, "- {}: {}", w.employee, md(&notice_text(&c.notice, w)))?;
    if let Some(s) = &c.successor {
        writeln!(out, "- {}: {}", w.successor, md(s))?;
    }
    if let Some(l) = c.leaving {
        writeln!(out, "- {}: {l}", w.leaving)?;
    }
    if let Some(d) = r.deletion_deadline {
        let passed = if d < r.as_of {
            format!(" ({})", w.passed)
        } else {
            String::new()
        };
        writeln!(out, "- {}: {d}{passed}", w.delete_by)?;
    }
    writeln!(
        out,
        "- {} {} {} {}; {} {}",
        w.opened.0,
        md(&c.opened_by),
        w.opened.1,
        md(&c.opened_at),
        w.opened.2,
        r.as_of
    )?;
    writeln!(out)?;
    writeln!(out, "{}", w.metadata_only)?;
    writeln!(out)?;
    writeln!(out, "## {} ({} {})", w.decisions, r.messages, w.messages)?;
    writeln!(out)?;
    for (i, d) in Decision::ALL.iter().enumerate() {
        writeln!(
            out,
            "- {}: {}",
            w.decision_names.get(i).copied().unwrap_or(d.as_str()),
            r.decisions.get(d).copied().unwrap_or(0)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.volume)?;
    writeln!(out)?;
    writeln!(out, "{}", w.volume_head)?;
    writeln!(out, "|---|---|---|")?;
    for (folder, years) in &r.volume {
        for (year, n) in years {
            let year = if *year == 0 {
                w.undated.to_string()
            } else {
                year.to_string()
            };
            writeln!(out, "| {} | {year} | {n} |", md(folder))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.external)?;
    writeln!(out)?;
    if r.external.is_empty() {
        writeln!(out, "{}", w.none)?;
    }
    for e in r.external.iter().take(LIST_LIMIT) {
        writeln!(
            out,
            "- {}: {} {} {}",
            md(&e.domain),
            e.messages,
            w.external_line.0,
            e.last
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.domains)?;
    writeln!(out)?;
    for (d, n) in r.domains.iter().take(LIST_LIMIT) {
        writeln!(out, "- {}: {n}", md(d))?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.recent)?;
    writeln!(out)?;
    if r.recent.is_empty() {
        writeln!(out, "{}", w.none_recent)?;
    }
    for row in r.recent.iter().take(LIST_LIMIT) {
        let decision = Decision::ALL
            .iter()
            .position(|d| *d == row.decision)
            .and_then(|i| w.decision_names.get(i).copied())
            .unwrap_or(row.decision.as_str());
        writeln!(
            out,
            "- {} {} {} {}: {} ({decision})",
            row.date,
            md(&row.folder),
            w.from,
            md(&row.from),
            md(&row.subject),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.kept)?;
    writeln!(out)?;
    if r.keep.is_empty() {
        writeln!(out, "{}", w.none)?;
    }
    for (rule, n) in &r.keep {
        writeln!(out, "- {}: {n}", md(rule))?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.sensitive)?;
    writeln!(out)?;
    if r.sensitive.is_empty() {
        writeln!(out, "{}", w.none)?;
    }
    // In words, as every report names them (the ids are for machines).
    for (d, n) in &r.sensitive {
        let label = crate::model::DetectorId::parse(d)
            .map(|id| crate::report::detector_label_in(&id, lang))
            .unwrap_or_else(|| d.clone());
        writeln!(out, "- {}: {n}", md(&label))?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.private)?;
    writeln!(out)?;
    if r.private_by_folder.is_empty() {
        writeln!(out, "{}", w.none)?;
    }
    for (f, n) in &r.private_by_folder {
        writeln!(out, "- {}: {n}", md(f))?;
    }
    Ok(())
}
