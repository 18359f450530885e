//! The compliance page's words in bokmål, nynorsk and English. The report's
//! data keeps its machine names (JSON and CSV are read by programs); the
//! page and the Markdown say them in the reader's language, here.

use super::{Category, DeviationStatus, RiskReason, RiskyMessage};
use crate::model::Lang;
use chrono::{Datelike, NaiveDate};

pub(super) struct Words {
    pub lang: Lang,
    pub title: &'static str,
    pub department: &'static str,
    /// "Period {start} to {end}."
    pub period: [&'static str; 3],
    pub kpi_mailboxes: &'static str,
    pub kpi_messages: &'static str,
    pub kpi_stale: &'static str,
    pub kpi_stale_share: &'static str,
    pub kpi_sensitive: &'static str,
    pub kpi_open: &'static str,
    /// "{change} since {month}".
    pub since: &'static str,
    pub no_earlier: &'static str,
    pub trend: &'static str,
    /// "Too little history for a trend: scans from {n} month(s). ..."
    pub too_little: fn(usize) -> String,
    pub chart_stale: &'static str,
    pub chart_sensitive: &'static str,
    pub by_category: &'static str,
    pub chart_category: &'static str,
    pub category: &'static str,
    pub messages: &'static str,
    pub distinct_values: &'static str,
    pub departments: &'static str,
    pub chart_departments: &'static str,
    pub no_department: &'static str,
    pub mailboxes: &'static str,
    pub overdue: &'static str,
    pub sensitive: &'static str,
    pub open_deviations: &'static str,
    pub person: &'static str,
    pub oldest_overdue: &'static str,
    pub unreadable: &'static str,
    pub last_scan: &'static str,
    pub coverage: &'static str,
    pub all_covered: &'static str,
    pub never_scanned: &'static str,
    pub scanned_before: &'static str,
    pub some_unreadable: &'static str,
    /// A queued run's state: (run, the worker scanning it now).
    pub queued: fn(i64, Option<&str>) -> String,
    pub month_column: &'static str,
    pub riskiest: &'static str,
    /// "{n} received within the period, {m} before it."
    pub within_before: [&'static str; 2],
    pub date: &'static str,
    pub owner: &'static str,
    pub folder: &'static str,
    pub subject: &'static str,
    pub why: &'static str,
    pub identifiers_in_one: &'static str,
    pub sent_outside: &'static str,
    pub exchanged_outside: &'static str,
    pub special_data: &'static str,
    pub deviations: &'static str,
    pub deviations_lead: &'static str,
    pub status: &'static str,
    pub system: &'static str,
    pub kinds: &'static str,
    pub count: &'static str,
    pub direction: &'static str,
    pub external: &'static str,
    pub mailbox: &'static str,
    pub yes_no: [&'static str; 2],
    pub sent_received: [&'static str; 2],
    pub months: [&'static str; 12],
    pub thousands: char,
    /// (one, many)
    pub mailbox_nouns: (&'static str, &'static str),
    pub message_nouns: (&'static str, &'static str),
    pub archive_note: &'static str,
    pub summary: fn(&super::ComplianceReport, &Words) -> String,
}

/// The months in bokmål and nynorsk alike.
const NORWEGIAN_MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];

/// The online archive's note as the report's data has it (English).
pub(super) const ARCHIVE_NOTE: &str = "Exchange Online's online archive (In-Place Archive) cannot be reached over IMAP: mail the retention policy moved there is not covered.";

pub(super) const EN: Words = Words {
    lang: Lang::En,
    title: "Compliance report",
    department: "Department",
    period: ["Period ", " to ", "."],
    kpi_mailboxes: "mailboxes",
    kpi_messages: "messages",
    kpi_stale: "overdue for cleanup",
    kpi_stale_share: "% overdue",
    kpi_sensitive: "messages with sensitive data",
    kpi_open: "open deviations",
    since: "since",
    no_earlier: "no earlier month to compare with",
    trend: "Trend",
    too_little: |n| {
        format!(
            "Too little history for a trend: scans from {n} month{}. The charts begin with the second month.",
            if n == 1 { "" } else { "s" }
        )
    },
    chart_stale: "Overdue for cleanup, by month",
    chart_sensitive: "Messages with sensitive data, by month",
    by_category: "Sensitive personal data by category",
    chart_category: "Messages by category",
    category: "category",
    messages: "messages",
    distinct_values: "distinct values",
    departments: "Departments",
    chart_departments: "Share overdue for cleanup, by department (%)",
    no_department: "(none)",
    mailboxes: "Mailboxes",
    overdue: "overdue",
    sensitive: "sensitive",
    open_deviations: "open deviations",
    person: "person",
    oldest_overdue: "oldest overdue",
    unreadable: "unreadable",
    last_scan: "last scan",
    coverage: "Coverage",
    all_covered: "Every mailbox was scanned completely within the period.",
    never_scanned: "never scanned",
    scanned_before: "last scanned before the period:",
    some_unreadable: "some messages could not be read",
    queued: |run, holder| match holder {
        Some(holder) => format!("run {run} is scanning it now ({holder})"),
        None => format!("run {run} has not scanned it yet (queued)"),
    },
    month_column: "month",
    riskiest: "Riskiest messages",
    within_before: [" received within the period, ", " before it."],
    date: "date",
    owner: "owner",
    folder: "folder",
    subject: "subject",
    why: "why",
    identifiers_in_one: "identifiers in one message",
    sent_outside: "sent outside the organisation",
    exchanged_outside: "exchanged with outside the organisation",
    special_data: "special-category data",
    deviations: "Deviation drafts",
    deviations_lead: "Each row is a draft for the deviation log; subjects are masked.",
    status: "status",
    system: "system",
    kinds: "kinds",
    count: "count",
    direction: "direction",
    external: "external",
    mailbox: "mailbox",
    yes_no: ["yes", "no"],
    sent_received: ["sent", "received"],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    thousands: ',',
    mailbox_nouns: ("mailbox", "mailboxes"),
    message_nouns: ("message", "messages"),
    archive_note: ARCHIVE_NOTE,
    summary: |r, w| {
        let t = &r.totals;
        format!(
            "{} {}, {} {}; {} overdue for cleanup ({} %); {} with sensitive personal data ({} received in the period, {} before); deviations: {} open ({} of them moved to Deleted Items, still in the mailbox), {} handled.",
            w.number(t.mailboxes),
            w.noun(t.mailboxes, w.mailbox_nouns),
            w.number(t.messages),
            w.noun(t.messages, w.message_nouns),
            w.number(t.stale),
            w.share(t.stale_share),
            w.number(t.sensitive_messages),
            w.number(r.new_sensitive),
            w.number(r.old_sensitive),
            w.number(t.deviations_open),
            w.number(t.deviations_in_deleted_items),
            w.number(t.deviations_handled)
        )
    },
};

pub(super) const NB: Words = Words {
    lang: Lang::Nb,
    title: "Etterlevelsesrapport for e-post",
    department: "Avdeling",
    period: ["Periode ", " til ", "."],
    kpi_mailboxes: "postbokser",
    kpi_messages: "meldinger",
    kpi_stale: "forfalt til opprydding",
    kpi_stale_share: "% forfalt",
    kpi_sensitive: "meldinger med sensitive opplysninger",
    kpi_open: "åpne avvik",
    since: "siden",
    no_earlier: "ingen tidligere måned å sammenligne med",
    trend: "Utvikling",
    too_little: |n| {
        format!(
            "For kort historikk til å vise utvikling: skanninger fra {n} {}. Diagrammene vises fra og med den andre måneden.",
            if n == 1 { "måned" } else { "måneder" }
        )
    },
    chart_stale: "Forfalt til opprydding, per måned",
    chart_sensitive: "Meldinger med sensitive opplysninger, per måned",
    by_category: "Sensitive personopplysninger etter kategori",
    chart_category: "Meldinger per kategori",
    category: "kategori",
    messages: "meldinger",
    distinct_values: "ulike verdier",
    departments: "Avdelinger",
    chart_departments: "Andel forfalt til opprydding, per avdeling (%)",
    no_department: "(ingen)",
    mailboxes: "Postbokser",
    overdue: "forfalt",
    sensitive: "sensitive",
    open_deviations: "åpne avvik",
    person: "person",
    oldest_overdue: "eldste forfalte",
    unreadable: "ulesbare",
    last_scan: "sist skannet",
    coverage: "Dekning",
    all_covered: "Alle postbokser ble skannet fullstendig i perioden.",
    never_scanned: "aldri skannet",
    scanned_before: "sist skannet før perioden:",
    some_unreadable: "noen meldinger kunne ikke leses",
    queued: |run, holder| match holder {
        Some(holder) => format!("kjøring {run} skanner den nå ({holder})"),
        None => format!("kjøring {run} har ikke skannet den ennå (i kø)"),
    },
    month_column: "måned",
    riskiest: "Meldinger med størst risiko",
    within_before: [" mottatt i perioden, ", " før perioden."],
    date: "dato",
    owner: "eier",
    folder: "mappe",
    subject: "emne",
    why: "hvorfor",
    identifiers_in_one: "identifikatorer i én melding",
    sent_outside: "sendt ut av virksomheten",
    exchanged_outside: "utvekslet med noen utenfor virksomheten",
    special_data: "særlige kategorier personopplysninger",
    deviations: "Utkast til avviksmeldinger",
    deviations_lead: "Hver rad er et utkast til avviksloggen; emnene er maskert.",
    status: "status",
    system: "system",
    kinds: "typer",
    count: "antall",
    direction: "retning",
    external: "ekstern",
    mailbox: "postboks",
    yes_no: ["ja", "nei"],
    sent_received: ["sendt", "mottatt"],
    months: NORWEGIAN_MONTHS,
    thousands: '\u{a0}',
    mailbox_nouns: ("postboks", "postbokser"),
    message_nouns: ("melding", "meldinger"),
    archive_note: "Exchange Onlines nettarkiv (In-Place Archive) kan ikke nås over IMAP: e-post som oppbevaringsreglene har flyttet dit, er ikke dekket.",
    summary: |r, w| {
        let t = &r.totals;
        format!(
            "{} {}, {} {}; {} forfalt til opprydding ({} %); {} med sensitive personopplysninger ({} mottatt i perioden, {} før); avvik: {} åpne ({} av dem flyttet til Slettede elementer, fortsatt i postboksen), {} behandlet.",
            w.number(t.mailboxes),
            w.noun(t.mailboxes, w.mailbox_nouns),
            w.number(t.messages),
            w.noun(t.messages, w.message_nouns),
            w.number(t.stale),
            w.share(t.stale_share),
            w.number(t.sensitive_messages),
            w.number(r.new_sensitive),
            w.number(r.old_sensitive),
            w.number(t.deviations_open),
            w.number(t.deviations_in_deleted_items),
            w.number(t.deviations_handled)
        )
    },
};

pub(super) const NN: Words = Words {
    lang: Lang::Nn,
    title: "Etterlevingsrapport for e-post",
    department: "Avdeling",
    period: ["Periode ", " til ", "."],
    kpi_mailboxes: "postboksar",
    kpi_messages: "meldingar",
    kpi_stale: "forfalne til opprydding",
    kpi_stale_share: "% forfalne",
    kpi_sensitive: "meldingar med sensitive opplysningar",
    kpi_open: "opne avvik",
    since: "sidan",
    no_earlier: "ingen tidlegare månad å samanlikne med",
    trend: "Utvikling",
    too_little: |n| {
        format!(
            "For kort historikk til å vise utvikling: skanningar frå {n} {}. Diagramma blir viste frå og med den andre månaden.",
            if n == 1 { "månad" } else { "månader" }
        )
    },
    chart_stale: "Forfalne til opprydding, per månad",
    chart_sensitive: "Meldingar med sensitive opplysningar, per månad",
    by_category: "Sensitive personopplysningar etter kategori",
    chart_category: "Meldingar per kategori",
    category: "kategori",
    messages: "meldingar",
    distinct_values: "ulike verdiar",
    departments: "Avdelingar",
    chart_departments: "Del forfalne til opprydding, per avdeling (%)",
    no_department: "(ingen)",
    mailboxes: "Postboksar",
    overdue: "forfalne",
    sensitive: "sensitive",
    open_deviations: "opne avvik",
    person: "person",
    oldest_overdue: "eldste forfalne",
    unreadable: "ulesbare",
    last_scan: "sist skanna",
    coverage: "Dekning",
    all_covered: "Alle postboksane vart skanna fullstendig i perioden.",
    never_scanned: "aldri skanna",
    scanned_before: "sist skanna før perioden:",
    some_unreadable: "nokre meldingar kunne ikkje lesast",
    queued: |run, holder| match holder {
        Some(holder) => format!("køyring {run} skannar han no ({holder})"),
        None => format!("køyring {run} har ikkje skanna han enno (i kø)"),
    },
    month_column: "månad",
    riskiest: "Meldingar med størst risiko",
    within_before: [" mottekne i perioden, ", " før perioden."],
    date: "dato",
    owner: "eigar",
    folder: "mappe",
    subject: "emne",
    why: "kvifor",
    identifiers_in_one: "identifikatorar i éi melding",
    sent_outside: "sendt ut av verksemda",
    exchanged_outside: "utveksla med nokon utanfor verksemda",
    special_data: "særlege kategoriar personopplysningar",
    deviations: "Utkast til avviksmeldingar",
    deviations_lead: "Kvar rad er eit utkast til avviksloggen; emna er maskerte.",
    status: "status",
    system: "system",
    kinds: "typar",
    count: "tal",
    direction: "retning",
    external: "ekstern",
    mailbox: "postboks",
    yes_no: ["ja", "nei"],
    sent_received: ["sendt", "motteke"],
    months: NORWEGIAN_MONTHS,
    thousands: '\u{a0}',
    mailbox_nouns: ("postboks", "postboksar"),
    message_nouns: ("melding", "meldingar"),
    archive_note: "Nettarkivet i Exchange Online (In-Place Archive) kan ikkje nåast over IMAP: e-post som oppbevaringsreglane har flytta dit, er ikkje dekt.",
    summary: |r, w| {
        let t = &r.totals;
        format!(
            "{} {}, {} {}; {} forfalne til opprydding ({} %); {} med sensitive personopplysningar ({} mottekne i perioden, {} før); avvik: {} opne ({} av dei flytta til Sletta element, framleis i postboksen), {} handsama.",
            w.number(t.mailboxes),
            w.noun(t.mailboxes, w.mailbox_nouns),
            w.number(t.messages),
            w.noun(t.messages, w.message_nouns),
            w.number(t.stale),
            w.share(t.stale_share),
            w.number(t.sensitive_messages),
            w.number(r.new_sensitive),
            w.number(r.old_sensitive),
            w.number(t.deviations_open),
            w.number(t.deviations_in_deleted_items),
            w.number(t.deviations_handled)
        )
    },
};

pub(super) fn words(lang: Lang) -> &'static Words {
    lang.pick(&EN, &NB, &NN)
}

impl Words {
    /// 1913 as "1,913" or "1 913" (a no-break space).
    pub fn number(&self, n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 2);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(self.thousands);
            }
            out.push(c);
        }
        out
    }

    /// The noun for `n` of it.
    pub fn noun(&self, n: u64, (one, many): (&'static str, &'static str)) -> &'static str {
        if n == 1 { one } else { many }
    }

    /// A share with one decimal: "12.5" or "12,5".
    pub fn share(&self, share: f64) -> String {
        let s = format!("{share:.1}");
        if self.lang == Lang::En {
            s
        } else {
            s.replace('.', ",")
        }
    }

    /// A day: "2026-11-25" in English, "25.11.2026" in Norwegian.
    pub fn day(&self, d: Option<NaiveDate>) -> String {
        match d {
            None => String::new(),
            Some(d) if self.lang == Lang::En => d.to_string(),
            Some(d) => format!("{:02}.{:02}.{}", d.day(), d.month(), d.year()),
        }
    }

    /// A trend month (`YYYY-MM`) as "November 2026"; as given when it is
    /// not one.
    pub fn month(&self, month: &str) -> String {
        let parsed = month
            .split_once('-')
            .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<usize>().ok()?)));
        match parsed {
            Some((y, m)) if (1..=12).contains(&m) => format!("{} {y}", self.months[m - 1]),
            _ => month.to_string(),
        }
    }

    /// A category as the report's data names it, in this language.
    pub fn category(&self, label: &str) -> String {
        let Some(c) = Category::ALL.into_iter().find(|c| c.label() == label) else {
            return label.to_string();
        };
        let (nb, nn) = match c {
            Category::SpecialCategory => (
                "særlige kategorier (GDPR art. 9)",
                "særlege kategoriar (GDPR art. 9)",
            ),
            Category::NationalId => (
                "fødselsnumre og andre ID-numre",
                "fødselsnummer og andre ID-nummer",
            ),
            Category::PaymentCard => ("betalingskort", "betalingskort"),
            Category::Financial => ("bankkontoer", "bankkontoar"),
        };
        self.lang.pick(c.label(), nb, nn).to_string()
    }

    /// A kind of data (a detector's English label in the data).
    pub fn kind(&self, label: &str) -> String {
        match crate::report::detector_from_label(label) {
            Some(id) => crate::report::detector_label_in(&id, self.lang),
            None => label.to_string(),
        }
    }

    pub fn status(&self, status: DeviationStatus) -> &'static str {
        let lang = self.lang;
        match status {
            DeviationStatus::Open => lang.pick("open", "åpent", "ope"),
            DeviationStatus::InDeletedItems => lang.pick(
                "moved to Deleted Items",
                "flyttet til Slettede elementer",
                "flytta til Sletta element",
            ),
            DeviationStatus::Handled => lang.pick("handled", "behandlet", "handsama"),
        }
    }

    /// A coverage problem (`not_scanned`, `failed`, ...) in words.
    pub fn problem(&self, problem: &str) -> String {
        let lang = self.lang;
        match problem {
            "not_scanned" => lang.pick(
                "not scanned in the period",
                "ikke skannet i perioden",
                "ikkje skanna i perioden",
            ),
            "failed" => lang.pick("the scan failed", "skanningen feilet", "skanninga feila"),
            "incomplete" => lang.pick(
                "the scan was incomplete",
                "skanningen ble ikke fullstendig",
                "skanninga vart ikkje fullstendig",
            ),
            "in_progress" => lang.pick("being scanned", "skannes nå", "blir skanna no"),
            other => return other.to_string(),
        }
        .to_string()
    }

    /// A mailbox's last scan status (`complete`, `failed`, ...).
    pub fn scan_status(&self, status: &str) -> String {
        let lang = self.lang;
        match status {
            "complete" => lang.pick("complete", "fullført", "fullført"),
            "incomplete" => lang.pick("incomplete", "ufullstendig", "ufullstendig"),
            "failed" => lang.pick("failed", "feilet", "feila"),
            "running" => lang.pick("running", "pågår", "held fram"),
            other => return other.to_string(),
        }
        .to_string()
    }

    pub fn direction(&self, direction: &str) -> &'static str {
        if direction == "sent" {
            self.sent_received[0]
        } else {
            self.sent_received[1]
        }
    }

    pub fn yes_no(&self, yes: bool) -> &'static str {
        self.yes_no[usize::from(!yes)]
    }

    /// A note of the report's data, in this language when it is a known one.
    pub fn note(&self, note: &str) -> String {
        if note == ARCHIVE_NOTE {
            self.archive_note.to_string()
        } else {
            note.to_string()
        }
    }

    /// Why a message is among the riskiest, in this language.
    pub fn why(&self, m: &RiskyMessage) -> String {
        m.reasons
            .iter()
            .map(|r| match r {
                RiskReason::Identifiers(n) => {
                    format!("{} {}", self.number(*n), self.identifiers_in_one)
                }
                RiskReason::SentOutside => self.sent_outside.to_string(),
                RiskReason::ExchangedOutside => self.exchanged_outside.to_string(),
                RiskReason::SpecialCategory => self.special_data.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// "▲ 12 since October 2026" (or ▼, or "±0").
    pub fn change(&self, now: u64, before: u64, month: &str) -> String {
        let change = if now > before {
            format!("▲ {}", self.number(now - before))
        } else if now < before {
            format!("▼ {}", self.number(before - now))
        } else {
            "±0".to_string()
        };
        format!("{change} {} {}", self.since, self.month(month))
    }
}

/// Every detector whose kind a deviation may name (for tests).
#[cfg(test)]
pub(super) fn some_kinds() -> Vec<String> {
    use crate::model::DetectorId;
    [
        DetectorId::NoFodselsnummer,
        DetectorId::NoDNummer,
        DetectorId::PaymentCard,
        DetectorId::SpecialCategory("health".into()),
    ]
    .iter()
    .map(crate::report::detector_label)
    .collect()
}
