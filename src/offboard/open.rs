//! Opening (or rerunning) a case as a workflow over the store: the case
//! checked against what the store recorded (another mailbox refused, other
//! facts refused unless amended, what it was opened with kept), the
//! leaver's mail classified and planned, and the plan held to what the case
//! first recorded (a message once private stays private).

use super::*;
use crate::store::MailboxRecord;

/// Why a case cannot be opened as given: each a usage error, nothing
/// changed.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{mailbox} is not in the store {store}: scan it first")]
    NotInStore { mailbox: String, store: String },
    #[error("case {case} is about {recorded}, not {given}")]
    OtherMailbox {
        case: String,
        recorded: String,
        given: String,
    },
    #[error(
        "case {case} exists with another {fields}: add --amend to change it (old and new values are recorded in the audit trail), or use another --case"
    )]
    NeedsAmend { case: String, fields: String },
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A case opened: as the store keeps it, with its plan and what the
/// report and the notice need.
pub struct Opened {
    pub case: Case,
    /// The plan, in message order, on disk.
    pub rows: PlanRows,
    /// The report, counted as the plan was made.
    pub report: ReportBuilder,
    pub mailbox: MailboxRecord,
    pub leaver: Leaver,
    /// What an `--amend` changed, for the audit trail.
    pub amended: Option<Vec<CaseChange>>,
}

/// Opens `case` (or reruns it) over the store and plans its mailbox.
pub fn open_case(
    store: &mut dyn Store,
    mut case: Case,
    amend: bool,
    rules: &RuleSet,
    as_of: NaiveDate,
    representatives: HashSet<String>,
) -> Result<Opened, CaseError> {
    let mailbox = store
        .mailboxes()?
        .into_iter()
        .find(|m| m.source == case.source)
        .ok_or_else(|| CaseError::NotInStore {
            mailbox: case.source.clone(),
            store: store.location().to_string(),
        })?;
    let existing = store.case(&case.id)?;
    let mut amended = None;
    if let Some(existing) = &existing {
        if existing.source != case.source {
            return Err(CaseError::OtherMailbox {
                case: case.id.clone(),
                recorded: existing.source.clone(),
                given: case.source.clone(),
            });
        }
        // A case is the documented reason for opening a mailbox: rerunning
        // it with other facts must not pass silently.
        let changes = case_changes(existing, &case);
        if !changes.is_empty() && !amend {
            let names: Vec<&str> = changes.iter().map(|c| c.field).collect();
            return Err(CaseError::NeedsAmend {
                case: case.id.clone(),
                fields: names.join(", "),
            });
        }
        // What the case was opened with stays: its terms, who and when,
        // and a successor or leaving date not given again.
        case.successor = case.successor.take().or(existing.successor.clone());
        case.leaving = case.leaving.or(existing.leaving);
        case.terms = existing.terms.clone();
        case.opened_by = existing.opened_by.clone();
        case.opened_at = existing.opened_at.clone();
        if !changes.is_empty() {
            store.amend_case(&case)?;
            store
                .audit(
                    "amend",
                    Some(&case.id),
                    serde_json::json!({
                        "source": case.source,
                        "changes": changes.iter().map(|c| serde_json::json!({
                            "field": c.field, "old": c.old, "new": c.new,
                        })).collect::<Vec<_>>(),
                    }),
                )
                .map_err(CaseError::Audit)?;
            amended = Some(changes);
        }
    }
    // The mailbox is read twice, one message at a time, never held: first
    // for what the classification needs from all of it (the company's own
    // organisation numbers, the leaver's personal-domain correspondents),
    // then to plan and count each message.
    let leaver = Leaver::new(mailbox.owner.as_deref(), mailbox.address.as_deref());
    let mut own_organisations = HashSet::new();
    let mut candidates = HashSet::new();
    store.each_message(&case.source, None, &mut |m| {
        company_organisations(&m.report, &leaver, &mut own_organisations);
        personal_correspondents(&m.report, &leaver, &mut candidates);
        Ok(())
    })?;
    let mut classifier = Classifier::new(leaver, rules);
    classifier.representatives = representatives;
    classifier.own_organisations = own_organisations;
    classifier.shared_personal = shared_among_others(store, &case.source, candidates)?;
    // What the case recorded first wins: a message once private stays so.
    let recorded: HashMap<(String, String), Decision> = match &existing {
        Some(_) => store
            .case_rows(&case.id)?
            .into_iter()
            .map(|r| ((r.folder, r.key), r.decision))
            .collect(),
        None => HashMap::new(),
    };
    let mut rows = PlanRows::new()
        .map_err(|e| StoreError::Invalid(format!("cannot keep the plan's rows on disk: {e}")))?;
    let mut report = ReportBuilder::new(&case, &classifier.leaver, as_of);
    store.each_message(&case.source, None, &mut |m| {
        let mut row = plan_row(&m.report, &classifier, rules, as_of);
        if recorded.get(&(row.folder.clone(), row.key.clone())) == Some(&Decision::Private)
            && row.decision != Decision::Private
        {
            row.decision = Decision::Private;
            row.why = "private".into();
            row.from.clear();
            row.subject.clear();
        }
        report.add(&m.report, &row);
        rows.push(&row)
    })?;
    let spilled = |e: std::io::Error| StoreError::Invalid(format!("the plan's rows on disk: {e}"));
    rows.close().map_err(spilled)?;
    store.open_case(
        &case,
        &mut rows.iter().map_err(spilled)?.map(|r| r.map_err(spilled)),
    )?;
    let case = store.case(&case.id)?.unwrap_or(case);
    Ok(Opened {
        case,
        rows,
        report,
        mailbox,
        leaver: classifier.leaver,
        amended,
    })
}

/// Records in the audit trail that a case was opened (or rerun): its
/// documented reason and basis, the notice, where the plan and the letter
/// were written, and what the plan decided, counted.
pub fn record_opened(
    store: &mut dyn Store,
    case: &Case,
    report: &OffboardReport,
    plan_file: Option<&str>,
    notice_letter: Option<&str>,
) -> Result<(), StoreError> {
    let counts: serde_json::Map<String, serde_json::Value> = report
        .decisions
        .iter()
        .map(|(d, n)| (d.as_str().to_string(), (*n).into()))
        .collect();
    store.audit(
        "case",
        Some(&case.id),
        serde_json::json!({
            "source": case.source,
            "reason": case.reason,
            "legal_basis": case.legal_basis,
            "notice": case.notice,
            "successor": case.successor,
            "plan_file": plan_file,
            "notice_letter": notice_letter,
            "messages": report.messages,
            "decisions": counts,
        }),
    )?;
    Ok(())
}

/// Where a case stands, for `offboard --status`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStatus {
    pub case: Case,
    /// Messages copied to the successor (or found there already).
    pub handed_over: usize,
    /// Rows planned `handover` and not yet copied.
    pub pending: usize,
    /// Rows classified private.
    pub private: usize,
    /// When the mailbox should be deleted, if the leaving date is known.
    pub deletion_deadline: Option<NaiveDate>,
    /// The deadline is before `as_of`.
    pub overdue: bool,
}

/// Every case (or the one named), with what is handed over, pending and
/// private, and its deletion deadline `deletion_months` after leaving.
pub fn status(
    store: &dyn Store,
    only: Option<&str>,
    as_of: NaiveDate,
    deletion_months: u32,
) -> Result<Vec<CaseStatus>, StoreError> {
    let mut out = Vec::new();
    for case in store.cases()? {
        if only.is_some_and(|id| id != case.id) {
            continue;
        }
        let rows = store.case_rows(&case.id)?;
        let handed = handed_over(store, &case.id)?;
        let pending = rows
            .iter()
            .filter(|r| r.decision == Decision::Handover)
            .filter(|r| !handed.contains(&(r.folder.clone(), r.key.clone())))
            .count();
        let deadline = case.deletion_deadline(deletion_months);
        out.push(CaseStatus {
            handed_over: handed.len(),
            pending,
            private: rows
                .iter()
                .filter(|r| r.decision == Decision::Private)
                .count(),
            deletion_deadline: deadline,
            overdue: deadline.is_some_and(|d| d < as_of),
            case,
        });
    }
    Ok(out)
}

/// The messages of a case copied to a successor (or found there), by
/// folder and inventory key.
pub fn handed_over(
    store: &dyn Store,
    case_id: &str,
) -> Result<HashSet<(String, String)>, StoreError> {
    Ok(store
        .handovers(case_id)?
        .into_iter()
        .filter(|h| h.status.done())
        .map(|h| (h.folder, h.key))
        .collect())
}

/// What the notice letter to the employee says of a case: the comment
/// deadline a week after notice (or after `as_of`, not notified), the
/// deletion deadline `deletion_months` after leaving.
pub fn notice_context(
    case: &Case,
    mailbox: &MailboxRecord,
    as_of: NaiveDate,
    deletion_months: u32,
) -> crate::templates::NoticeContext {
    let deadline = case.deletion_deadline(deletion_months);
    let comment_by = match &case.notice {
        Notice::On { date } => *date + chrono::Duration::days(7),
        Notice::Not { .. } => as_of + chrono::Duration::days(7),
    };
    crate::templates::NoticeContext {
        case_id: case.id.clone(),
        employee: mailbox.owner.clone().unwrap_or_default(),
        mailbox: mailbox
            .address
            .clone()
            .unwrap_or_else(|| case.source.clone()),
        reason: case.reason.clone(),
        legal_basis: case.legal_basis.clone(),
        successor: case.successor.clone().unwrap_or_default(),
        leaving: case.leaving.map(|d| d.to_string()).unwrap_or_default(),
        comment_by: comment_by.to_string(),
        delete_by: deadline.map(|d| d.to_string()).unwrap_or_default(),
        sender: case.opened_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunKind;

    /// A case over the library alone: opened and planned; rerun with other
    /// facts refused unless amended; another mailbox refused; an unknown
    /// mailbox refused.
    #[test]
    fn a_case_is_opened_planned_and_held_to_its_facts() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let mut store = crate::store::for_tests();
        store.set_audit_key(crate::audit::AuditKey::new([7; 32]));
        store
            .register_mailbox(&MailboxRecord {
                source: "src".into(),
                owner: Some("Alice Haugen".into()),
                address: Some("alice@firma.no".into()),
                ..Default::default()
            })
            .expect("mailbox");
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        let mut business = crate::model::MessageReport {
            meta: crate::model::MessageMeta {
                uid: Some(1),
                uid_validity: Some(7),
                received: chrono::DateTime::<chrono::Utc>::from_timestamp(1_788_000_000, 0),
                ..crate::model::MessageMeta::local("INBOX", 10, "")
            },
            envelope: crate::model::Envelope {
                message_id: "<1@t>".into(),
                from: vec!["kunde@kunde.no".into()],
                to: vec!["alice@firma.no".into()],
                subject: "Tilbud".into(),
                ..Default::default()
            },
            date: chrono::DateTime::<chrono::Utc>::from_timestamp(1_788_000_000, 0),
            findings: Vec::new(),
            stale: None,
            problems: Vec::new(),
            signals: crate::model::TextSignals {
                read: true,
                ..Default::default()
            },
        };
        store.record(run, "src", &business).expect("record");
        business.meta.uid = Some(2);
        business.envelope.message_id = "<2@t>".into();
        business.envelope.from = vec!["mamma@gmail.com".into()];
        store.record(run, "src", &business).expect("record");
        let mut case = Case::for_tests("K-1");
        case.source = "src".into();
        let opened = open_case(
            store.as_mut(),
            case.clone(),
            false,
            &rules,
            as_of,
            HashSet::new(),
        )
        .expect("opens");
        let decisions: Vec<Decision> = opened
            .rows
            .to_vec()
            .expect("rows")
            .iter()
            .map(|r| r.decision)
            .collect();
        assert_eq!(decisions, [Decision::Handover, Decision::Private]);
        assert!(opened.amended.is_none());
        let mut other = case.clone();
        other.reason = "Mistanke om brudd".into();
        assert!(matches!(
            open_case(
                store.as_mut(),
                other.clone(),
                false,
                &rules,
                as_of,
                HashSet::new()
            ),
            Err(CaseError::NeedsAmend { .. })
        ));
        let amended =
            open_case(store.as_mut(), other, true, &rules, as_of, HashSet::new()).expect("amends");
        assert_eq!(amended.amended.map(|c| c.len()), Some(1));
        assert_eq!(amended.case.reason, "Mistanke om brudd");
        // The amendment is in the audit trail, old and new value.
        let trail = store.audit_entries().expect("trail");
        let amend: Vec<_> = trail.iter().filter(|e| e.action == "amend").collect();
        assert_eq!(amend.len(), 1, "{trail:?}");
        assert_eq!(amend[0].detail["changes"][0]["field"], "reason");
        assert_eq!(amend[0].detail["changes"][0]["new"], "Mistanke om brudd");
        let mut elsewhere = case.clone();
        elsewhere.source = "other".into();
        assert!(matches!(
            open_case(
                store.as_mut(),
                elsewhere,
                false,
                &rules,
                as_of,
                HashSet::new()
            ),
            Err(CaseError::NotInStore { .. })
        ));
    }
}
