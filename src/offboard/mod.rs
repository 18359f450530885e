//! Offboarding a leaving employee: the case that makes access lawful, what
//! the inventory says about the mailbox, and the plan the manager edits.
//!
//! Why it exists: e-postforskriften (FOR-2018-07-02-1108 §§ 2–4) lets an
//! employer into an employee's mailbox only for a documented reason, with
//! notice, leaving private mail alone. So a case records reason, legal
//! basis and notice before anything is read; the report is metadata only;
//! mail that looks private or union-related is classified `private` here,
//! once, and no edited plan can turn it into a handover.
//!
//! Pure: it reads stored messages and a date, and writes to `io::Write`.

use crate::inventory;
use crate::model::{DetectorId, MessageReport};
use crate::report::summary::{md, one_line};
use crate::rules::{Retention, RuleSet};
use crate::store::{Store, StoreError, StoredMessage};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};

pub use crate::case::{Case, CaseChange, Decision, Notice, PlanRow, case_changes};
pub use crate::model::message_key;
pub use crate::report::spreadsheet_safe;

/// Who is leaving, as far as the classification needs to know.
#[derive(Debug, Clone, Default)]
pub struct Leaver {
    /// Lower-cased address.
    pub address: Option<String>,
    /// The leaver's own name as lower-cased words (`alice`, `haugen`):
    /// never a private signal, it is on every message they sent.
    pub name: Vec<String>,
    /// Lower-cased family name (the last word of the owner's name).
    pub family_name: Option<String>,
}

impl Leaver {
    pub fn new(owner: Option<&str>, address: Option<&str>) -> Leaver {
        let name: Vec<String> = owner.map(|o| words(o).collect()).unwrap_or_default();
        Leaver {
            address: address.map(str::to_lowercase),
            family_name: name
                .last()
                .filter(|n| name.len() > 1 && n.chars().count() > 1)
                .cloned(),
            name,
        }
    }

    /// The company's domain: the leaver's own.
    pub fn domain(&self) -> Option<&str> {
        self.address.as_deref()?.rsplit_once('@').map(|(_, d)| d)
    }

    /// Whether the leaver sent this message: their address among the
    /// senders, or (when the store has no address) their whole name as the
    /// sender's name.
    pub fn sent(&self, r: &MessageReport) -> bool {
        match &self.address {
            Some(me) => r.envelope.from.iter().any(|f| f == me),
            None => {
                !self.name.is_empty()
                    && words(&r.envelope.from_name).collect::<Vec<_>>() == self.name
            }
        }
    }
}

/// Everything the classification knows beyond the message itself.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    pub leaver: Leaver,
    /// Trade-union domains (`rules/unions.toml`, lower case).
    pub union_domains: Vec<String>,
    /// `[offboarding] union_representatives`: colleagues who are the
    /// union's local representatives (lower-cased addresses).
    pub representatives: HashSet<String>,
    /// Personal-domain addresses that other mailboxes in the store also
    /// correspond with: a sole trader on gmail.com the whole office buys
    /// from is business, not family.
    pub shared_personal: HashSet<String>,
    /// Fingerprints of the company's own organisation numbers: those in
    /// mail the company's people sent. Every quoted signature carries one,
    /// so only another number marks a personal address as a business.
    pub own_organisations: HashSet<String>,
}

impl Classifier {
    /// A classifier with the rules' union list.
    pub fn new(leaver: Leaver, rules: &RuleSet) -> Classifier {
        Classifier {
            leaver,
            union_domains: rules
                .unions
                .iter()
                .flat_map(|u| u.all_domains().cloned())
                .collect(),
            ..Classifier::default()
        }
    }
}

/// Adds the organisation numbers of a message the company's people sent
/// (the leaver, or anyone on the company's domain) to `into`. With no
/// company domain known, nothing.
pub fn company_organisations(r: &MessageReport, leaver: &Leaver, into: &mut HashSet<String>) {
    let Some(own) = leaver.domain() else {
        return;
    };
    if leaver.sent(r) || r.envelope.from.iter().any(|a| domain_of(a) == own) {
        into.extend(r.signals.organisations.iter().cloned());
    }
}

/// Adds the message's correspondents at consumer domains to `into`.
pub fn personal_correspondents(r: &MessageReport, leaver: &Leaver, into: &mut HashSet<String>) {
    for a in correspondents(r, leaver) {
        if is_personal_address(a) && !into.contains(a) {
            into.insert(a.to_string());
        }
    }
}

/// Of `candidates` (the leaver's personal-domain correspondents), those
/// that at least two other mailboxes in the store also correspond with.
pub fn shared_among_others(
    store: &dyn Store,
    source: &str,
    candidates: HashSet<String>,
) -> Result<HashSet<String>, StoreError> {
    let mut wanted: HashMap<String, HashSet<String>> = candidates
        .into_iter()
        .map(|a| (a, HashSet::new()))
        .collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    for mailbox in store.mailboxes()? {
        if mailbox.source == source {
            continue;
        }
        let other = Leaver::new(mailbox.owner.as_deref(), mailbox.address.as_deref());
        store.each_message(&mailbox.source, None, &mut |m| {
            for a in correspondents(&m.report, &other) {
                if let Some(seen) = wanted.get_mut(a) {
                    seen.insert(mailbox.source.clone());
                }
            }
            Ok(())
        })?;
    }
    Ok(wanted
        .into_iter()
        .filter(|(_, boxes)| boxes.len() >= 2)
        .map(|(a, _)| a)
        .collect())
}

/// Consumer webmail and ISP domains: mail with them is most likely personal.
pub const CONSUMER_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.no",
    "outlook.com",
    "live.com",
    "live.no",
    "msn.com",
    "yahoo.com",
    "yahoo.no",
    "icloud.com",
    "me.com",
    "mac.com",
    "online.no",
    "getmail.no",
    "broadpark.no",
    "altibox.no",
    "frisurf.no",
    "c2i.net",
    "start.no",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "aol.com",
];

/// Folder and subject words that mark mail as private.
const PRIVATE_WORDS: &[&str] = &["privat", "private", "personal", "personlig"];

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(_, d)| d)
}

fn in_domains<S: AsRef<str>>(domain: &str, list: &[S]) -> bool {
    list.iter().any(|d| {
        let d = d.as_ref();
        domain == d
            || domain
                .strip_suffix(d)
                .is_some_and(|head| head.ends_with('.'))
    })
}

/// Whether an address is at a consumer webmail or ISP domain.
pub fn is_personal_address(address: &str) -> bool {
    in_domains(domain_of(address), CONSUMER_DOMAINS)
}

/// The people a message was exchanged with: recipients of sent mail, the
/// sender of received mail; never the leaver.
pub fn correspondents<'a>(r: &'a MessageReport, leaver: &Leaver) -> Vec<&'a str> {
    let list = if leaver.sent(r) {
        &r.envelope.to
    } else {
        &r.envelope.from
    };
    list.iter()
        .map(String::as_str)
        .filter(|a| Some(*a) != leaver.address.as_deref())
        .collect()
}

/// The lower-cased words of a name or subject: how names are compared.
pub fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// What the classification makes of a message before retention has its say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sensitivity {
    /// Union-related: GDPR art. 9 data, never handed over or shown.
    Union(String),
    /// Private: never handed over or shown.
    Private(String),
    /// Looks private by one signal, business by another: a person decides.
    Review(String),
}

/// Why a message looks private or union-related, if it does. Doubt stays
/// private: a false private costs the manager a review, a missed one
/// exposes a person.
pub fn sensitivity(r: &MessageReport, c: &Classifier) -> Option<Sensitivity> {
    let leaver = &c.leaver;
    let people = correspondents(r, leaver);
    if let Some(d) = people
        .iter()
        .map(|a| domain_of(a))
        .find(|d| in_domains(d, &c.union_domains))
    {
        return Some(Sensitivity::Union(format!("correspondence with {d}")));
    }
    if people.iter().any(|a| c.representatives.contains(*a)) && !plainly_team_business(r, c) {
        return Some(Sensitivity::Union(
            "correspondence with a union representative".into(),
        ));
    }
    if r.findings
        .iter()
        .any(|f| matches!(&f.detector, DetectorId::SpecialCategory(c) if c == "trade_union"))
    {
        return Some(Sensitivity::Union(
            "trade-union membership mentioned".into(),
        ));
    }
    if r.meta
        .folder
        .split('/')
        .any(|seg| words(seg).any(|w| PRIVATE_WORDS.contains(&w.as_str())))
    {
        return Some(Sensitivity::Private("in a private folder".into()));
    }
    if words(&r.envelope.subject).any(|w| PRIVATE_WORDS.contains(&w.as_str())) {
        return Some(Sensitivity::Private("the subject says so".into()));
    }
    if let Some(a) = people.iter().find(|a| is_personal_address(a)) {
        if c.shared_personal.contains(*a) {
            return Some(Sensitivity::Review(
                "a personal address colleagues also do business with".into(),
            ));
        }
        if r.signals
            .organisations
            .iter()
            .any(|o| !c.own_organisations.contains(o))
        {
            return Some(Sensitivity::Review(
                "a personal address, with an organisation number in the message".into(),
            ));
        }
        return Some(Sensitivity::Private(format!(
            "a personal address ({})",
            domain_of(a)
        )));
    }
    // A correspondent sharing the leaver's family name may be family; not
    // on sent mail (the name in From: is the leaver's own) and not a
    // colleague on the company's domain (common surnames are shared by
    // half the staff).
    if let Some(family) = &leaver.family_name
        && !leaver.sent(r)
    {
        let own = leaver.domain();
        let sender_outside = r
            .envelope
            .from
            .first()
            .is_none_or(|a| Some(domain_of(a)) != own);
        let name: Vec<String> = words(&r.envelope.from_name).collect();
        if sender_outside && name != leaver.name && name.iter().any(|w| w == family) {
            return Some(Sensitivity::Private(
                "a correspondent with the leaver's family name".into(),
            ));
        }
    }
    None
}

/// Whether a union representative's message is plainly ordinary
/// business: it went between at least two other colleagues on the
/// company's domain besides the leaver and the representatives (a team's
/// mail, not a conversation between the two), and its subject and text
/// showed no trade-union term at all, not even one too weak for a finding.
/// Text not read for terms (stored before they were recorded) is doubt.
fn plainly_team_business(r: &MessageReport, c: &Classifier) -> bool {
    let Some(own) = c.leaver.domain() else {
        return false;
    };
    if r.signals.may_mention_union() {
        return false;
    }
    let mut colleagues: Vec<&str> = r
        .envelope
        .from
        .iter()
        .chain(&r.envelope.to)
        .map(String::as_str)
        .filter(|a| {
            domain_of(a) == own
                && Some(*a) != c.leaver.address.as_deref()
                && !c.representatives.contains(*a)
        })
        .collect();
    colleagues.sort_unstable();
    colleagues.dedup();
    colleagues.len() >= 2
}

/// How recent mail must be to be handed over without review.
pub const RECENT_MONTHS: u32 = 12;

/// Decides one message. Private and union-related first (never handed
/// over), then what retention requires, what is past it, what holds
/// sensitive data (a person looks), and recent business mail (handed over).
pub fn decide(
    r: &MessageReport,
    classifier: &Classifier,
    rules: &RuleSet,
    as_of: NaiveDate,
) -> (Decision, String) {
    let leaver = &classifier.leaver;
    match sensitivity(r, classifier) {
        Some(Sensitivity::Union(why)) => return (Decision::Private, format!("union: {why}")),
        Some(Sensitivity::Private(why)) => return (Decision::Private, format!("private: {why}")),
        // Personal by its address, business by who else writes to it: a
        // person decides, and nothing is deleted or handed over unseen.
        Some(Sensitivity::Review(why)) => return (Decision::Review, why),
        None => {}
    }
    let facts = crate::rules::facts(&r.meta, &r.envelope, &r.findings);
    let governing = rules.governing(&facts);
    let judged = inventory::judge(rules, as_of, r.clone());
    if let Some(rule) = governing
        && matches!(rule.retention, Retention::MonthsAfterYearEnd(_))
        && judged.stale.is_none()
    {
        return (
            Decision::Keep,
            format!("retention: {} ({})", rule.id, rule.retention),
        );
    }
    if let Some(stale) = &judged.stale {
        return (
            Decision::Delete,
            format!(
                "past retention: {} ({} days old)",
                stale.rule, stale.age_days
            ),
        );
    }
    if !r.findings.is_empty() {
        let mut detectors: Vec<String> =
            r.findings.iter().map(|f| f.detector.to_string()).collect();
        detectors.sort();
        detectors.dedup();
        return (
            Decision::Review,
            format!("sensitive data: {}", detectors.join(", ")),
        );
    }
    let recent = r.date.is_some_and(|d| {
        as_of
            .checked_sub_months(chrono::Months::new(RECENT_MONTHS))
            .is_some_and(|from| d.date_naive() >= from)
    });
    let people = correspondents(r, leaver);
    if recent && !people.is_empty() {
        let own = leaver.domain();
        let external: Vec<&str> = people
            .iter()
            .map(|a| domain_of(a))
            .filter(|d| Some(*d) != own)
            .collect();
        let why = match external.first() {
            Some(d) => format!("recent business correspondence ({d})"),
            None => "recent correspondence with colleagues".into(),
        };
        return (Decision::Handover, why);
    }
    (
        Decision::Review,
        "older mail: decide whether it is still needed".into(),
    )
}

/// The plan for a whole mailbox, in the inventory's order.
pub fn plan(
    messages: &[StoredMessage],
    classifier: &Classifier,
    rules: &RuleSet,
    as_of: NaiveDate,
) -> Vec<PlanRow> {
    messages
        .iter()
        .map(|m| plan_row(&m.report, classifier, rules, as_of))
        .collect()
}

/// One message's row of the plan.
pub fn plan_row(
    r: &MessageReport,
    classifier: &Classifier,
    rules: &RuleSet,
    as_of: NaiveDate,
) -> PlanRow {
    {
        {
            let (decision, why) = decide(r, classifier, rules, as_of);
            let private = decision == Decision::Private;
            PlanRow {
                message_id: r.envelope.message_id.clone(),
                folder: r.meta.folder.clone(),
                uid: r.meta.uid,
                key: message_key(r),
                date: r
                    .date
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                // Private mail is counted, never shown.
                from: if private {
                    String::new()
                } else {
                    r.envelope.from.first().cloned().unwrap_or_default()
                },
                subject: if private {
                    String::new()
                } else {
                    r.envelope.subject.clone()
                },
                decision,
                // Which signal matched (a union, a family name) says
                // something about the mail itself, and union membership is
                // art. 9 data: a private row says `private` and no more.
                why: if private { "private".to_string() } else { why },
            }
        }
    }
}

mod open;
mod plan_file;
mod report;
mod spill;
mod why;

pub use spill::PlanRows;
pub use why::why_in;

pub use open::{
    CaseError, CaseStatus, Opened, handed_over, notice_context, open_case, record_opened, status,
};
pub use plan_file::{
    EditedRow, PLAN_HEADER, edited_rows, plan_cells, read_plan, row_ref, write_plan,
};
pub use report::{
    ExternalContact, OffboardReport, ReportBuilder, render_markdown, render_markdown_in,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Envelope, Finding, Location, MessageMeta, TextSignals};
    use chrono::TimeZone;

    fn message(
        folder: &str,
        from: &str,
        to: &str,
        subject: &str,
        date: (i32, u32, u32),
    ) -> MessageReport {
        MessageReport {
            meta: MessageMeta {
                uid: Some(1),
                uid_validity: Some(7),
                ..MessageMeta::local(folder, 100, "x")
            },
            envelope: Envelope {
                message_id: "<m@x>".into(),
                date_header: None,
                from: vec![from.into()],
                from_name: String::new(),
                to: vec![to.into()],
                subject: subject.into(),
            },
            date: Some(
                chrono::Utc
                    .with_ymd_and_hms(date.0, date.1, date.2, 12, 0, 0)
                    .unwrap(),
            ),
            findings: Vec::new(),
            stale: None,
            problems: Vec::new(),
            // Read, and nothing union-like or business-like in it.
            signals: TextSignals {
                read: true,
                ..TextSignals::default()
            },
        }
    }

    fn leaver() -> Leaver {
        Leaver::new(Some("Kari Nordmann"), Some("kari@firma.no"))
    }

    fn decision(r: &MessageReport) -> (Decision, String) {
        let rules = RuleSet::embedded().expect("rules");
        decide(
            r,
            &Classifier::new(leaver(), &rules),
            &rules,
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        )
    }

    #[test]
    fn private_and_union_mail_is_recognised() {
        let cases = [
            message(
                "INBOX",
                "tillitsvalgt@fagforbundet.no",
                "kari@firma.no",
                "Møte",
                (2026, 10, 1),
            ),
            message(
                "INBOX",
                "kari@firma.no",
                "post@avd.parat.com",
                "Svar",
                (2026, 10, 1),
            ),
            message(
                "Privat",
                "x@kunde.no",
                "kari@firma.no",
                "Hei",
                (2026, 10, 1),
            ),
            message(
                "INBOX/Personal stuff",
                "x@kunde.no",
                "kari@firma.no",
                "Hei",
                (2026, 10, 1),
            ),
            message(
                "INBOX",
                "x@kunde.no",
                "kari@firma.no",
                "PRIVAT: middag",
                (2026, 10, 1),
            ),
            message(
                "INBOX",
                "mamma@gmail.com",
                "kari@firma.no",
                "Hei",
                (2026, 10, 1),
            ),
            message(
                "Sent Items",
                "kari@firma.no",
                "venn@online.no",
                "Hei",
                (2026, 10, 1),
            ),
        ];
        for c in &cases {
            assert_eq!(decision(c).0, Decision::Private, "{:?}", c.meta.folder);
        }
        let mut family = message(
            "INBOX",
            "per@kunde.no",
            "kari@firma.no",
            "Hei",
            (2026, 10, 1),
        );
        family.envelope.from_name = "Per Nordmann".into();
        assert_eq!(decision(&family).0, Decision::Private);
        let mut union = message("INBOX", "a@kunde.no", "kari@firma.no", "Hei", (2026, 10, 1));
        union.findings.push(Finding {
            detector: DetectorId::SpecialCategory("trade_union".into()),
            location: Location::Body,
            masked: String::new(),
            fingerprint: String::new(),
            confidence: 0.9,
        });
        assert_eq!(decision(&union).0, Decision::Private);
        // Not private: a business word that merely contains the letters,
        // a customer, a colleague.
        for c in [
            message(
                "INBOX",
                "x@privatbanken-kunde.no",
                "kari@firma.no",
                "Privatøkonomi-kurs",
                (2026, 10, 1),
            ),
            message(
                "INBOX",
                "ola@firma.no",
                "kari@firma.no",
                "Budsjett",
                (2026, 10, 1),
            ),
        ] {
            assert_ne!(
                decision(&c).0,
                Decision::Private,
                "{:?}",
                c.envelope.subject
            );
        }
    }

    #[test]
    fn retention_business_and_review() {
        let keep = message(
            "Regnskap",
            "lev@leverandor.no",
            "kari@firma.no",
            "Faktura",
            (2025, 3, 1),
        );
        assert_eq!(decision(&keep).0, Decision::Keep, "{:?}", decision(&keep));
        let business = message(
            "INBOX",
            "lev@leverandor.no",
            "kari@firma.no",
            "Tilbud",
            (2026, 9, 1),
        );
        let (d, why) = decision(&business);
        assert_eq!(d, Decision::Handover);
        assert!(why.contains("leverandor.no"), "{why}");
        let old = message(
            "INBOX",
            "lev@leverandor.no",
            "kari@firma.no",
            "Tilbud",
            (2024, 9, 1),
        );
        assert_eq!(decision(&old).0, Decision::Delete, "{:?}", decision(&old));
    }

    #[test]
    fn plans_round_trip_and_cells_are_not_formulas() {
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut hostile = message(
            "INBOX",
            "a@kunde.no",
            "kari@firma.no",
            "=HYPERLINK(\"http://x\")",
            (2026, 10, 1),
        );
        hostile.envelope.message_id = "<a,\"b\"\n@x>".into();
        let stored = vec![
            StoredMessage {
                source: "s".into(),
                report: hostile,
                judgement: None,
            },
            StoredMessage {
                source: "s".into(),
                report: message(
                    "Privat",
                    "a@kunde.no",
                    "kari@firma.no",
                    "Min lege",
                    (2026, 10, 1),
                ),
                judgement: None,
            },
        ];
        let rows = plan(&stored, &Classifier::new(leaver(), &rules), &rules, as_of);
        let mut out = Vec::new();
        write_plan(
            &test_case(),
            rows.iter().cloned().map(Ok),
            crate::model::Lang::En,
            &mut out,
        )
        .expect("writes");
        let text = String::from_utf8(out.clone()).expect("utf-8");
        assert!(text.starts_with("message_id,folder,uid,date,from,subject,decision,why,row\n"));
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(
            !text.contains("lege"),
            "a private subject is never shown: {text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        let back = read_plan(&out[..]).expect("reads");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].decision, rows[0].decision);
        assert_eq!(back[0].uid, Some(1));
        assert_eq!(back[1].decision, Decision::Private);
        assert_eq!(back[0].line, 2);
        // The private row: nothing but its folder, UID, decision and key.
        let private_line = text.lines().nth(2).expect("private row");
        assert!(
            private_line.starts_with(",Privat,1,,,,private,private,K-1/"),
            "{private_line}"
        );
        assert_eq!(back[1].message_id, "");
        assert_eq!(
            back[1].row_ref.as_deref(),
            Some(row_ref(&test_case(), "Privat", "7:1", "<m@x>").as_str())
        );
        let bad =
            "message_id,folder,uid,date,from,subject,decision,why\n<a>,INBOX,1,,,,give away,\n";
        let err = read_plan(bad.as_bytes()).expect_err("bad decision");
        assert!(err.contains("line 2"), "{err}");
    }

    fn test_case() -> Case {
        Case::for_tests("K-1")
    }

    /// The manager reads the report in bokmål or nynorsk: no heading,
    /// label, decision or detector name of the English one is left.
    #[test]
    fn the_offboarding_report_in_norwegian_has_no_english_left() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut report = ReportBuilder::new(&test_case(), &leaver(), as_of);
        let mut m = message(
            "Sendte elementer",
            "kari@firma.no",
            "ola@kunde.no",
            "Tilbud",
            (2026, 10, 20),
        );
        m.findings.push(Finding {
            detector: crate::model::DetectorId::NoFodselsnummer,
            location: Location::Body,
            masked: "15*******65".into(),
            fingerprint: "0".repeat(64),
            confidence: 0.9,
        });
        let row = PlanRow {
            message_id: "<m@x>".into(),
            folder: "Sendte elementer".into(),
            uid: Some(1),
            key: String::new(),
            date: "2026-10-20".into(),
            from: "kari@firma.no".into(),
            subject: "Tilbud".into(),
            decision: Decision::Handover,
            why: String::new(),
        };
        report.add(&m, &row);
        let done = report.finish(&test_case(), Some("Kari Nordmann"), as_of, 6);
        let render = |lang| {
            let mut out = Vec::new();
            render_markdown_in(&done, lang, &mut out).expect("renders");
            String::from_utf8(out).expect("utf-8")
        };
        let english = render(crate::model::Lang::En);
        let needles = [
            "Offboarding case",
            "Mailbox:",
            "Legal basis",
            "Decisions in the plan",
            "Volume per folder",
            "External business contacts",
            "Correspondents by domain",
            "Recent and open conversations",
            "Kept by retention rules",
            "Sensitive personal data",
            "Private and union-related",
            "Norwegian national ID",
            "- handover:",
            "(handover)",
            "metadata only",
        ];
        for n in needles {
            assert!(english.contains(n), "en lacks {n}:\n{english}");
        }
        for lang in [crate::model::Lang::Nb, crate::model::Lang::Nn] {
            let text = render(lang);
            for n in needles {
                assert!(!text.contains(n), "{lang:?} still says {n}:\n{text}");
            }
            assert!(text.contains("fødselsnummer: 1"), "{text}");
        }
        assert!(render(crate::model::Lang::Nn).contains("Fråtredingssak"));
    }

    /// External business contacts are the domains the leaver wrote to: a
    /// newsletter that sent more than any customer is not one of them.
    #[test]
    fn a_newsletter_is_not_an_external_business_contact() {
        let leaver = leaver();
        let mut report = ReportBuilder::new(
            &test_case(),
            &leaver,
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        );
        let row = |r: &MessageReport| PlanRow {
            message_id: r.envelope.message_id.clone(),
            folder: r.meta.folder.clone(),
            uid: r.meta.uid,
            key: String::new(),
            date: "2026-10-01".into(),
            from: String::new(),
            subject: String::new(),
            decision: Decision::Keep,
            why: String::new(),
        };
        for _ in 0..30 {
            let m = message(
                "INBOX",
                "news@nyhetsbrev.example",
                "kari@firma.no",
                "Ukens tilbud",
                (2026, 10, 1),
            );
            report.add(&m, &row(&m));
        }
        for (folder, from, to) in [
            ("INBOX", "ola@kunde.no", "kari@firma.no"),
            ("Sendte elementer", "kari@firma.no", "ola@kunde.no"),
            ("INBOX", "ola@kunde.no", "kari@firma.no"),
        ] {
            let m = message(folder, from, to, "Re: Avtale", (2026, 10, 2));
            report.add(&m, &row(&m));
        }
        let done = report.finish(
            &test_case(),
            Some("Kari Nordmann"),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            6,
        );
        let external: Vec<(&str, u64)> = done
            .external
            .iter()
            .map(|e| (e.domain.as_str(), e.messages))
            .collect();
        assert_eq!(external, vec![("kunde.no", 3)]);
        // Still among the correspondents by domain: nothing is hidden.
        assert!(
            done.domains
                .iter()
                .any(|(d, n)| d == "nyhetsbrev.example" && *n == 30)
        );
    }

    /// Sent mail carries the leaver's own name in From:; colleagues share
    /// her family name. Neither makes business mail private.
    #[test]
    fn the_leavers_own_name_and_colleagues_surnames_are_not_private() {
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let c = Classifier::new(
            Leaver::new(Some("Alice Haugen"), Some("alice@firma.no")),
            &rules,
        );
        let mut business = 0;
        let mut private = 0;
        for i in 0..400u32 {
            let day = (2026, 1 + i % 10, 1 + i % 28);
            let mut m = match i % 4 {
                // Sent by Alice to one customer.
                0 => {
                    let mut m = message(
                        "Sendte elementer",
                        "alice@firma.no",
                        &format!("kontakt@kunde{}.no", i % 37),
                        "Re: Tilbud",
                        day,
                    );
                    m.envelope.from_name = "Alice Haugen".into();
                    m
                }
                // Sent by Alice to one colleague.
                1 => {
                    let mut m = message(
                        "Sent Items",
                        "alice@firma.no",
                        &format!("kollega{}@firma.no", i % 13),
                        "Budsjett",
                        day,
                    );
                    m.envelope.from_name = "Alice Haugen".into();
                    m
                }
                // From a colleague who shares her family name.
                2 => {
                    let mut m = message(
                        "INBOX",
                        &format!("per{}@firma.no", i % 5),
                        "alice@firma.no",
                        "Møtereferat",
                        day,
                    );
                    m.envelope.from_name = format!("Per{} Haugen", i % 5);
                    m
                }
                // From a supplier.
                _ => {
                    let mut m = message(
                        "INBOX",
                        &format!("salg@leverandor{}.no", i % 11),
                        "alice@firma.no",
                        "Ordrebekreftelse",
                        day,
                    );
                    m.envelope.from_name = "Salg".into();
                    m
                }
            };
            m.meta.uid = Some(i + 1);
            business += 1;
            if decide(&m, &c, &rules, as_of).0 == Decision::Private {
                private += 1;
            }
        }
        assert!(
            private * 50 <= business,
            "{private} of {business} business messages private"
        );
        // Without an address in the store, her whole name still marks
        // her own sent mail.
        let by_name = Classifier::new(Leaver::new(Some("Alice Haugen"), None), &rules);
        let mut sent = message(
            "Sent",
            "alice@firma.no",
            "x@kunde.no",
            "Tilbud",
            (2026, 10, 1),
        );
        sent.envelope.from_name = "Alice Haugen".into();
        assert_ne!(decide(&sent, &by_name, &rules, as_of).0, Decision::Private);
        // A relative outside the company is still private.
        let mut family = message(
            "INBOX",
            "ola@kunde.no",
            "alice@firma.no",
            "Hei",
            (2026, 10, 1),
        );
        family.envelope.from_name = "Ola Haugen".into();
        assert_eq!(decide(&family, &c, &rules, as_of).0, Decision::Private);
    }

    #[test]
    fn union_mail_from_every_source_is_private() {
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut c = Classifier::new(
            Leaver::new(Some("Alice Haugen"), Some("alice@firma.no")),
            &rules,
        );
        c.representatives.insert("tv@firma.no".into());
        for (from, to) in [
            // A union whose domain is not under .no, and one not named
            // after itself.
            ("medlem@parat.com", "alice@firma.no"),
            ("post@hk.no", "alice@firma.no"),
            ("region@elogit.no", "alice@firma.no"),
            // The local representative, both ways.
            ("tv@firma.no", "alice@firma.no"),
            ("alice@firma.no", "tv@firma.no"),
        ] {
            let m = message("INBOX", from, to, "Lokale forhandlinger", (2026, 10, 1));
            let (d, why) = decide(&m, &c, &rules, as_of);
            assert_eq!(d, Decision::Private, "{from} -> {to}: {why}");
            assert!(why.starts_with("union"), "{why}");
        }
        // The dues notice and a club's notice: trade-union findings from
        // the shipped phrases.
        for text in [
            "Medlemskontingenten til forbundet trekkes over lønn fra januar. Medlemsnummer 448812.",
            "Innkalling til klubbmøte i Fagforbundet: lokale lønnsforhandlinger.",
        ] {
            let mut evidence = crate::detect::special::Evidence::default();
            rules
                .special
                .scan(text, &crate::model::Location::Body, &mut evidence);
            let found = rules.special.judge(&evidence, false);
            assert!(
                found.iter().any(|f| f.category == "trade_union"),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn a_representatives_team_mail_without_union_terms_is_business() {
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut c = Classifier::new(
            Leaver::new(Some("Alice Haugen"), Some("alice@firma.no")),
            &rules,
        );
        c.representatives.insert("tv@firma.no".into());
        let mut team = message(
            "INBOX",
            "tv@firma.no",
            "alice@firma.no",
            "Tilbud Q3",
            (2026, 10, 1),
        );
        team.envelope
            .to
            .extend(["per@firma.no".into(), "kari@firma.no".into()]);
        assert_eq!(decide(&team, &c, &rules, as_of).0, Decision::Handover);
        // What keeps it union: any union term in the text, text not read
        // for terms, one colleague only, colleagues outside the company.
        let mut termed = team.clone();
        termed.signals.union_terms = true;
        let mut unread = team.clone();
        unread.signals = TextSignals::default();
        let mut two = team.clone();
        two.envelope.to.truncate(2);
        let mut outside = team.clone();
        outside.envelope.to = vec![
            "alice@firma.no".into(),
            "a@kunde.no".into(),
            "b@kunde.no".into(),
        ];
        let mut other_rep = team.clone();
        c.representatives.insert("kari@firma.no".into());
        other_rep.envelope.to.truncate(2);
        other_rep.envelope.to.push("kari@firma.no".into());
        for (what, m) in [
            ("union terms", &termed),
            ("unread", &unread),
            ("one colleague", &two),
            ("outside", &outside),
            ("another representative", &other_rep),
        ] {
            let (d, why) = decide(m, &c, &rules, as_of);
            assert_eq!(d, Decision::Private, "{what}: {why}");
        }
    }

    #[test]
    fn a_personal_address_colleagues_do_business_with_is_review() {
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut c = Classifier::new(
            Leaver::new(Some("Alice Haugen"), Some("alice@firma.no")),
            &rules,
        );
        let m = message(
            "INBOX",
            "snekker.ola@gmail.com",
            "alice@firma.no",
            "Faktura",
            (2026, 10, 1),
        );
        assert_eq!(decide(&m, &c, &rules, as_of).0, Decision::Private);
        // A sole trader's signature names an organisation number; a
        // relative's reply quotes only the company's own (known from mail
        // the company sent).
        let mut signed = m.clone();
        signed.signals.organisations = vec!["supplier".into()];
        let mut quoting = m.clone();
        quoting.signals.organisations = vec!["company".into()];
        let mut colleague = message(
            "INBOX",
            "per@firma.no",
            "alice@firma.no",
            "Møte",
            (2026, 9, 1),
        );
        colleague.signals.organisations = vec!["company".into()];
        for m in [&colleague, &signed, &quoting] {
            company_organisations(m, &c.leaver, &mut c.own_organisations);
        }
        assert_eq!(c.own_organisations, HashSet::from(["company".to_string()]));
        let (d, why) = decide(&signed, &c, &rules, as_of);
        assert_eq!(d, Decision::Review, "{why}");
        assert_eq!(decide(&quoting, &c, &rules, as_of).0, Decision::Private);
        c.shared_personal.insert("snekker.ola@gmail.com".into());
        assert_eq!(decide(&m, &c, &rules, as_of).0, Decision::Review);
    }

    #[test]
    fn plans_from_norwegian_spreadsheets_are_read() {
        let comma = "message_id,folder,uid,date,from,subject,decision,why,row\n<a@x>,INBOX,3,,,,handover,,K-1/ab\n";
        let semicolon = "\u{feff}message_id;folder;uid;date;from;subject;decision;why;row\r\n<a@x>;INBOX;3;;;\"Re; tilbud\";handover;;K-1/ab\r\n";
        let tab = "\u{feff}message_id\tfolder\tuid\tdate\tfrom\tsubject\tdecision\twhy\trow\n<a@x>\tINBOX\t3\t\t\t\thandover\t\tK-1/ab\n";
        let no_row = "message_id;folder;uid;decision\n<a@x>;INBOX;3;handover\n";
        let want = EditedRow {
            line: 2,
            message_id: "<a@x>".into(),
            folder: "INBOX".into(),
            uid: Some(3),
            decision: Decision::Handover,
            row_ref: Some("K-1/ab".into()),
        };
        for text in [comma, semicolon, tab] {
            assert_eq!(read_plan(text.as_bytes()).expect(text), vec![want.clone()]);
        }
        let back = read_plan(no_row.as_bytes()).expect("no row column");
        assert_eq!(back[0].row_ref, None);
        assert_eq!(back[0].uid, Some(3));
    }

    #[test]
    fn rerunning_a_case_with_other_facts_is_a_change() {
        let old = test_case();
        let mut new = test_case();
        assert!(case_changes(&old, &new).is_empty());
        new.reason = "annen".into();
        new.notice = Notice::On {
            date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        };
        let fields: Vec<&str> = case_changes(&old, &new).iter().map(|c| c.field).collect();
        assert_eq!(fields, ["reason", "notice"]);
    }
}
