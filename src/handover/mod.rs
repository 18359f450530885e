//! Handing a leaver's mail to the successor: the `handover` rows of an
//! edited plan, checked against the plan the case recorded, copied once
//! each into a folder of the successor's mailbox (or an export).
//!
//! Why the check: the manager edits the plan in a spreadsheet, and an edit
//! must never hand over what the case classified as private. Why the
//! content hash: a copy is recognised at its destination by Message-ID and
//! the SHA-256 of its bytes, so a rerun after a dropped connection copies
//! nothing twice, even when the store's record of the copy was lost.
//!
//! [`check`] is pure. [`copy`] drives an [`Origin`] (the leaver's mailbox,
//! read-only) and a [`Target`] (IMAP APPEND, or Maildir files) and journals
//! each copy in the store before and after. [`hand_over`] (in `run`) is the
//! whole job: check, destination, audit, copy.

mod run;

pub use run::{HandoverError, MailboxError, Mailboxes, Refused, Request, Settled, hand_over};

use crate::action_error::ActionError;
use crate::imap::write::Original;
use crate::offboard::{Decision, EditedRow};
use crate::store::{CaseRow, HandoverRecord, HandoverStatus, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

/// What becomes of one row of the edited plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Chosen (to be copied, or deleted): the case's record of the message.
    Copy(CaseRow),
    /// Chosen, but the case classified it private: never acted on.
    Excluded { row: EditedRow, why: String },
    /// Chosen, but not provably the message the case recorded there: a row
    /// of another case, a UID changed by an edit, another Message-ID.
    Unknown { row: EditedRow, why: String },
}

/// Why a whole plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanMismatch {
    #[error(
        "this plan was made for case {found}, not case {case}: use the plan `offboard --case {case} --plan FILE` wrote"
    )]
    OtherCase { case: String, found: String },
}

/// The rows of an edited plan marked `wanted` (handover, or delete),
/// checked against the case's own record. Each row must be the message the
/// case recorded: by its row key where the plan has one, and its folder,
/// UID and Message-ID must be that message's; anything else is refused,
/// never guessed. A row given twice counts once. A plan none of whose keys
/// belong to the case is refused whole.
pub fn check(
    edited: &[EditedRow],
    recorded: &[CaseRow],
    case: &crate::offboard::Case,
    wanted: Decision,
) -> Result<Vec<Checked>, PlanMismatch> {
    let refs: Vec<&str> = edited.iter().filter_map(|e| e.row_ref.as_deref()).collect();
    // A plan without row keys (written before they existed) is checked by
    // folder, UID and Message-ID alone: no digests to make.
    let by_ref: HashMap<String, &CaseRow> = if refs.is_empty() {
        HashMap::new()
    } else {
        recorded
            .iter()
            .map(|r| {
                (
                    crate::offboard::row_ref(case, &r.folder, &r.key, &r.message_id),
                    r,
                )
            })
            .collect()
    };
    if !refs.is_empty() && !refs.iter().any(|r| by_ref.contains_key(*r)) {
        let found = refs[0].rsplit_once('/').map_or(refs[0], |(c, _)| c);
        return Err(PlanMismatch::OtherCase {
            case: case.id.clone(),
            found: found.to_string(),
        });
    }
    let by_uid: HashMap<(&str, u32), &CaseRow> = recorded
        .iter()
        .filter_map(|r| Some(((r.folder.as_str(), r.uid?), r)))
        .collect();
    let by_id: HashMap<(&str, &str), &CaseRow> = recorded
        .iter()
        .filter(|r| r.uid.is_none() && !r.message_id.is_empty())
        .map(|r| ((r.folder.as_str(), r.message_id.as_str()), r))
        .collect();
    let mut seen: std::collections::HashSet<(&str, &str)> = Default::default();
    let mut out = Vec::new();
    for e in edited.iter().filter(|e| e.decision == wanted) {
        let found = match &e.row_ref {
            Some(key) => by_ref.get(key.as_str()),
            None => match e.uid {
                Some(uid) => by_uid.get(&(e.folder.as_str(), uid)),
                None => by_id.get(&(e.folder.as_str(), e.message_id.as_str())),
            },
        };
        let Some(r) = found else {
            out.push(Checked::Unknown {
                row: e.clone(),
                why: if e.row_ref.is_some() {
                    "its row key is not one of this case's".into()
                } else {
                    "not a message of this case".into()
                },
            });
            continue;
        };
        if r.decision == Decision::Private {
            out.push(Checked::Excluded {
                row: e.clone(),
                why:
                    "the case classified it private; it is never handed over or deleted from a plan"
                        .into(),
            });
            continue;
        }
        // The row's visible cells must still describe the recorded message:
        // sorting one column in a spreadsheet moves UIDs between rows.
        let why = if e.folder != r.folder {
            Some(format!("its folder is not {}", r.folder))
        } else if e.uid != r.uid {
            Some("its UID is not the one the case recorded for this row".to_string())
        } else if e.message_id != r.message_id {
            Some(
                "its message_id is not the message the case recorded at this folder and UID".into(),
            )
        } else {
            None
        };
        if let Some(why) = why {
            out.push(Checked::Unknown {
                row: e.clone(),
                why,
            });
            continue;
        }
        if seen.insert((r.folder.as_str(), r.key.as_str())) {
            out.push(Checked::Copy((*r).clone()));
        }
    }
    Ok(out)
}

/// What an edited plan leaves to hand over: its `handover` rows, checked
/// against the case as a handover checks them (private rows excluded, rows
/// that are not the case's refused), that are not copied yet; and how many
/// of its rows would be refused. What `offboard --status --plan FILE`
/// counts, so a row the manager changed to `delete` is not counted as
/// pending.
pub fn pending_by_plan(
    store: &dyn Store,
    case_id: &str,
    plan: &[EditedRow],
) -> Result<(usize, usize), HandoverError> {
    let case = store
        .case(case_id)?
        .ok_or_else(|| HandoverError::NoCase(case_id.to_string()))?;
    let recorded = store.case_rows(&case.id)?;
    let done = crate::offboard::handed_over(store, &case.id)?;
    let mut pending = 0;
    let mut refused = 0;
    for checked in check(plan, &recorded, &case, Decision::Handover)? {
        match checked {
            Checked::Copy(r) if !done.contains(&(r.folder.clone(), r.key.clone())) => pending += 1,
            Checked::Copy(_) => {}
            Checked::Excluded { .. } | Checked::Unknown { .. } => refused += 1,
        }
    }
    Ok((pending, refused))
}

/// SHA-256 of a message's bytes, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The leaver's mailbox, read-only.
pub trait Origin {
    /// The stored messages of `folder` with these inventory keys, by key.
    /// Keys it cannot find are left out.
    fn originals(
        &mut self,
        folder: &str,
        rows: &[&CaseRow],
    ) -> Result<HashMap<String, Original>, ActionError>;
}

/// Where a handover copies to, decided from the case and what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `imaps://USER@HOST`, `maildir:PATH` or `mbox:PATH`.
    pub to: String,
    /// Whether it is the case's successor's mailbox.
    pub to_successor: bool,
    /// Why it goes elsewhere, when it does (audited).
    pub reason: Option<String>,
    /// The folder copies go into.
    pub folder: String,
}

/// Why a destination is refused: nothing is copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error(
        "cannot tell where {successor}'s mailbox is from {leaver}: give --to imaps://USER@HOST"
    )]
    SuccessorUnknown { successor: String, leaver: String },
    #[error("case {case} names no successor: give --to DEST and --reason TEXT")]
    NoSuccessor { case: String },
    #[error(
        "{to} is not the case's successor ({successor}): give --reason TEXT to copy there (recorded in the audit trail)"
    )]
    NotTheSuccessor { to: String, successor: String },
}

/// The case is the boundary: its successor's mailbox (on the leaver's
/// server) unless `to` says otherwise, and then only with a reason. The
/// folder is `folder`, else `Overført fra <leaver>` (the leaver's name, else
/// the address's local part; no `.` or `/`, which servers take for
/// hierarchy separators).
pub fn destination(
    case: &crate::offboard::Case,
    to: Option<&str>,
    reason: Option<&str>,
    folder: Option<&str>,
    owner: Option<&str>,
) -> Result<Destination, DestinationError> {
    let to = match (to, &case.successor) {
        (Some(to), _) => to.to_string(),
        (None, Some(successor)) => successor_source(&case.source, successor).ok_or_else(|| {
            DestinationError::SuccessorUnknown {
                successor: successor.clone(),
                leaver: case.source.clone(),
            }
        })?,
        (None, None) => {
            return Err(DestinationError::NoSuccessor {
                case: case.id.clone(),
            });
        }
    };
    let to_successor = case
        .successor
        .as_deref()
        .is_some_and(|s| destination_is(&to, s));
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if !to_successor && reason.is_none() {
        return Err(DestinationError::NotTheSuccessor {
            to,
            successor: case
                .successor
                .clone()
                .unwrap_or_else(|| "none named".into()),
        });
    }
    let folder = folder.map(str::to_string).unwrap_or_else(|| {
        let who = owner.unwrap_or(&case.source);
        let who = who.split('@').next().unwrap_or(who);
        format!("Overført fra {}", who.replace(['.', '/'], " ").trim())
    });
    Ok(Destination {
        to,
        to_successor,
        reason,
        folder,
    })
}

/// The successor's mailbox on the leaver's server: the leaver's URL with
/// the successor's address as the user.
pub fn successor_source(leaver_source: &str, successor: &str) -> Option<String> {
    let url = crate::imap::ImapUrl::parse(leaver_source).ok()?;
    let user = successor.trim().to_lowercase();
    user.contains('@')
        .then(|| crate::imap::ImapUrl { user, ..url }.to_string())
}

/// Whether a destination is this address's IMAP mailbox.
pub fn destination_is(destination: &str, address: &str) -> bool {
    crate::imap::ImapUrl::parse(destination)
        .is_ok_and(|u| u.user.eq_ignore_ascii_case(address.trim()))
}

/// What a server keeps of a message when it stores it its own way:
/// Exchange Online renders fresh MIME on every fetch (headers refolded,
/// boundaries and transfer encodings changed), so the destination's bytes
/// never prove a copy is there. Its Message-ID, INTERNALDATE, sender and
/// subject (decoded, whitespace folded) survive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub message_id: String,
    pub internal_date: Option<i64>,
    pub from: String,
    pub subject: String,
}

impl Kept {
    /// From a message's header block (or the whole message) and the
    /// INTERNALDATE the mailbox gives it.
    pub fn of(raw: &[u8], internal_date: Option<chrono::DateTime<chrono::Utc>>) -> Kept {
        let parsed = mail_parser::MessageParser::default().parse_headers(raw);
        let folded = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let (message_id, from, subject) = parsed
            .as_ref()
            .map(|m| {
                (
                    m.message_id().unwrap_or_default().trim().to_string(),
                    m.from()
                        .and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    folded(m.subject().unwrap_or_default()),
                )
            })
            .unwrap_or_default();
        Kept {
            message_id,
            internal_date: internal_date.map(|d| d.timestamp()),
            from,
            subject,
        }
    }

    /// Whether `there` is a copy of this message: every kept property
    /// equal, and enough of them known to tell messages apart.
    pub fn same_as(&self, there: &Kept) -> bool {
        (!self.message_id.is_empty() || self.internal_date.is_some()) && self == there
    }
}

/// Where handed-over mail goes.
pub trait Target {
    /// Makes sure the folder exists.
    fn prepare(&mut self, folder: &str) -> Result<(), ActionError>;
    /// Whether the folder already holds this message: by what the
    /// destination keeps of it ([`Kept`]) where it renders messages anew,
    /// by the content hash where it keeps the bytes (files).
    fn holds(
        &mut self,
        folder: &str,
        message_id: &str,
        original: &Original,
        hash: &str,
    ) -> Result<bool, ActionError>;
    /// Copies the message in, with its date and flags.
    fn put(&mut self, folder: &str, original: &Original, hash: &str) -> Result<(), ActionError>;
}

/// One record of a handover run (`--format jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: String,
    pub message_id: String,
    pub folder: String,
    pub uid: Option<u32>,
    pub to_folder: String,
    /// `planned`, `copied`, `already_there`, `excluded`, `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Writes outcomes as text or JSONL, counting statuses.
pub struct OutcomePrinter<'w> {
    out: Box<dyn Write + 'w>,
    jsonl: bool,
    pub counts: BTreeMap<&'static str, u64>,
}

impl<'w> OutcomePrinter<'w> {
    pub fn new(out: Box<dyn Write + 'w>, jsonl: bool) -> OutcomePrinter<'w> {
        OutcomePrinter {
            out,
            jsonl,
            counts: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, o: &Outcome) -> io::Result<()> {
        *self.counts.entry(o.status).or_default() += 1;
        if self.jsonl {
            serde_json::to_writer(&mut self.out, o)?;
            return writeln!(self.out);
        }
        let uid = o.uid.map(|u| format!(" UID {u}")).unwrap_or_default();
        let reason = if o.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", crate::report::summary::one_line(&o.reason))
        };
        writeln!(
            self.out,
            "{:<13} {}{} {} -> {}{}",
            o.status,
            crate::report::summary::one_line(&o.folder),
            uid,
            crate::report::summary::one_line(&o.message_id),
            crate::report::summary::one_line(&o.to_folder),
            reason
        )
    }

    pub fn finish(&mut self, note: &str) -> io::Result<()> {
        if !self.jsonl {
            let counts: Vec<String> = self
                .counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            writeln!(self.out, "{}; {note}", counts.join(", "))?;
        }
        self.out.flush()
    }
}

/// What a copy run needs to know.
pub struct Run<'a> {
    pub case_id: &'a str,
    pub source: &'a str,
    /// The destination as given (`imaps://...`, `maildir:PATH`).
    pub destination: &'a str,
    pub to_folder: &'a str,
    pub at: &'a str,
}

/// Copies every row to the target, once: a copy already there (by
/// Message-ID and content hash) is `already_there`. Each copy is journaled
/// in the store as `copying` before and `copied` after. A failure of the
/// origin or the target ends the run (the rest `failed`); rerunning it
/// settles everything.
pub fn copy(
    store: &mut dyn Store,
    origin: &mut dyn Origin,
    target: &mut dyn Target,
    run: &Run<'_>,
    rows: &[CaseRow],
    printer: &mut OutcomePrinter<'_>,
) -> io::Result<()> {
    let mut by_folder: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
    for r in rows {
        by_folder.entry(r.folder.as_str()).or_default().push(r);
    }
    let outcome = |r: &CaseRow, status: &'static str, reason: String| Outcome {
        kind: "handover",
        source: run.source.to_string(),
        message_id: r.message_id.clone(),
        folder: r.folder.clone(),
        uid: r.uid,
        to_folder: run.to_folder.to_string(),
        status,
        reason,
    };
    let mut broken: Option<String> = None;
    if let Err(e) = target.prepare(run.to_folder) {
        broken = Some(e.to_string());
    }
    for (folder, rows) in by_folder {
        if let Some(why) = &broken {
            for r in rows {
                printer.record(&outcome(r, "failed", why.clone()))?;
            }
            continue;
        }
        // Bounded batches: a folder of large messages is not held at once.
        for batch in rows.chunks(50) {
            if let Some(why) = &broken {
                for r in batch {
                    printer.record(&outcome(r, "failed", why.clone()))?;
                }
                continue;
            }
            let mut originals = match origin.originals(folder, batch) {
                Ok(o) => o,
                Err(e) => {
                    let e = e.to_string();
                    broken = Some(e.clone());
                    for r in batch {
                        printer.record(&outcome(r, "failed", e.clone()))?;
                    }
                    continue;
                }
            };
            for r in batch {
                if let Some(why) = &broken {
                    printer.record(&outcome(r, "failed", why.clone()))?;
                    continue;
                }
                let Some(original) = originals.remove(&r.key) else {
                    printer.record(&outcome(
                        r,
                        "failed",
                        "no longer in the leaver's mailbox (or renumbered): scan it again".into(),
                    ))?;
                    continue;
                };
                let hash = content_hash(&original.bytes);
                let mut record = HandoverRecord {
                    case_id: run.case_id.to_string(),
                    folder: r.folder.clone(),
                    key: r.key.clone(),
                    destination: run.destination.to_string(),
                    message_id: r.message_id.clone(),
                    to_folder: run.to_folder.to_string(),
                    content_hash: hash.clone(),
                    status: HandoverStatus::Copying,
                    at: run.at.to_string(),
                };
                let result = (|| -> Result<HandoverStatus, ActionError> {
                    if target.holds(run.to_folder, &r.message_id, &original, &hash)? {
                        return Ok(HandoverStatus::AlreadyThere);
                    }
                    store.record_handover(&record)?;
                    target.put(run.to_folder, &original, &hash)?;
                    Ok(HandoverStatus::Copied)
                })();
                match result {
                    Ok(status) => {
                        record.status = status;
                        store.record_handover(&record).map_err(io::Error::other)?;
                        printer.record(&outcome(r, status.as_str(), String::new()))?;
                    }
                    Err(e) => {
                        broken = Some(format!("{e}; run handover again to finish"));
                        printer.record(&outcome(r, "failed", e.to_string()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offboard::{Case, row_ref};

    /// The case is the boundary: the successor by default, elsewhere only
    /// with a reason; the folder named after the leaver.
    #[test]
    fn a_handover_goes_to_the_successor_unless_a_reason_says_otherwise() {
        let mut case = Case::for_tests("K-1");
        case.successor = Some("Bob@firma.no".into());
        let d = destination(&case, None, None, None, Some("Kari Nordmann")).expect("successor");
        assert_eq!(d.to, "imaps://bob%40firma.no@host:993");
        assert!(d.to_successor && d.reason.is_none());
        assert_eq!(d.folder, "Overført fra Kari Nordmann");
        let elsewhere = "maildir:/srv/arkiv";
        assert!(matches!(
            destination(&case, Some(elsewhere), Some("  "), None, None),
            Err(DestinationError::NotTheSuccessor { .. })
        ));
        let d = destination(
            &case,
            Some(elsewhere),
            Some("arkivkopi"),
            Some("Arkiv"),
            None,
        )
        .expect("with a reason");
        assert_eq!(
            (d.to_successor, d.reason.as_deref(), d.folder.as_str()),
            (false, Some("arkivkopi"), "Arkiv")
        );
        // No owner known: the address's local part, dots made spaces.
        case.source = "imaps://kari.nordmann%40firma.no@host".into();
        assert_eq!(
            destination(&case, None, None, None, Some("kari.nordmann@firma.no"))
                .expect("ok")
                .folder,
            "Overført fra kari nordmann"
        );
        case.successor = None;
        assert!(matches!(
            destination(&case, None, None, None, None),
            Err(DestinationError::NoSuccessor { .. })
        ));
    }

    /// What Exchange does to a message it renders again: headers refolded,
    /// the subject re-encoded, the body in another transfer encoding. The
    /// copy is still recognised; another message with its Message-ID is not.
    #[test]
    fn a_copy_is_known_by_what_the_server_keeps() {
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp(1_788_000_000, 0);
        let original = b"Message-ID: <a@x>\r\nFrom: Per Kunde <Per@Leverandor.no>\r\nSubject: Tilbud p\xc3\xa5 rammeavtale\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVedlagt.\r\n";
        let rendered = b"Subject: =?utf-8?q?Tilbud_p=C3=A5?=\r\n rammeavtale\r\nFrom: \"Per Kunde\"\r\n <per@leverandor.no>\r\nMessage-ID:\r\n <a@x>\r\n\r\n";
        let kept = Kept::of(original, at);
        assert_eq!(kept.subject, "Tilbud på rammeavtale");
        assert!(kept.same_as(&Kept::of(rendered, at)));
        // Another message under the same Message-ID (a list copy), or the
        // same one on another date, is not the copy.
        let list =
            b"Message-ID: <a@x>\r\nFrom: liste@example.test\r\nSubject: [liste] Tilbud\r\n\r\n";
        assert!(!kept.same_as(&Kept::of(list, at)));
        let later = chrono::DateTime::<chrono::Utc>::from_timestamp(1_788_000_060, 0);
        assert!(!kept.same_as(&Kept::of(rendered, later)));
        // Nothing to tell messages apart by: never the same.
        let bare = Kept::of(b"Subject: x\r\n\r\n", None);
        assert!(!bare.same_as(&bare.clone()));
    }

    fn case(id: &str) -> Case {
        Case::for_tests(id)
    }

    fn case_row(folder: &str, uid: u32, decision: Decision) -> CaseRow {
        CaseRow {
            folder: folder.into(),
            key: format!("7:{uid}"),
            uid: Some(uid),
            message_id: format!("<{uid}@x>"),
            decision,
            why: String::new(),
        }
    }

    /// A row as the plan writes it for `c`, marked `decision`.
    fn edited(c: &Case, folder: &str, uid: u32, decision: Decision) -> EditedRow {
        EditedRow {
            line: 2,
            message_id: format!("<{uid}@x>"),
            folder: folder.into(),
            uid: Some(uid),
            decision,
            row_ref: Some(row_ref(
                c,
                folder,
                &format!("7:{uid}"),
                &format!("<{uid}@x>"),
            )),
        }
    }

    fn recorded() -> Vec<CaseRow> {
        vec![
            case_row("INBOX", 1, Decision::Handover),
            case_row("INBOX", 2, Decision::Private),
            case_row("INBOX", 3, Decision::Review),
            case_row("INBOX", 6, Decision::Handover),
        ]
    }

    #[test]
    fn an_edited_plan_cannot_hand_over_private_mail() {
        let c = case("K-1");
        let plan = vec![
            edited(&c, "INBOX", 1, Decision::Handover),
            edited(&c, "INBOX", 2, Decision::Handover),
            edited(&c, "INBOX", 3, Decision::Handover),
            edited(&c, "INBOX", 4, Decision::Handover),
            edited(&c, "INBOX", 5, Decision::Delete),
        ];
        let checked = check(&plan, &recorded(), &c, Decision::Handover).expect("this case's plan");
        assert_eq!(checked.len(), 4);
        assert!(matches!(&checked[0], Checked::Copy(r) if r.uid == Some(1)));
        assert!(matches!(&checked[1], Checked::Excluded { row, .. } if row.uid == Some(2)));
        // The manager may hand over what the case left for review.
        assert!(matches!(&checked[2], Checked::Copy(r) if r.uid == Some(3)));
        assert!(matches!(&checked[3], Checked::Unknown { row, .. } if row.uid == Some(4)));
    }

    /// Sorting one column swaps two rows' UIDs: both rows are refused, and
    /// neither message is taken for the other.
    #[test]
    fn a_swapped_uid_is_refused() {
        let c = case("K-1");
        let mut a = edited(&c, "INBOX", 1, Decision::Handover);
        let mut b = edited(&c, "INBOX", 6, Decision::Handover);
        (a.uid, b.uid) = (b.uid, a.uid);
        let checked = check(&[a, b], &recorded(), &c, Decision::Handover).expect("same case");
        assert_eq!(checked.len(), 2);
        assert!(
            checked
                .iter()
                .all(|x| matches!(x, Checked::Unknown { why, .. } if why.contains("UID"))),
            "{checked:?}"
        );
        // The same without row keys (an older plan): the Message-ID
        // recorded at that UID is another, so both are refused too.
        let mut a = edited(&c, "INBOX", 1, Decision::Handover);
        let mut b = edited(&c, "INBOX", 6, Decision::Handover);
        (a.uid, b.uid) = (b.uid, a.uid);
        a.row_ref = None;
        b.row_ref = None;
        let checked = check(&[a, b], &recorded(), &c, Decision::Handover).expect("same case");
        assert!(
            checked
                .iter()
                .all(|x| matches!(x, Checked::Unknown { why, .. } if why.contains("message_id"))),
            "{checked:?}"
        );
    }

    #[test]
    fn another_cases_plan_is_refused_whole_and_duplicates_count_once() {
        let other = case("K-2");
        let plan = vec![edited(&other, "INBOX", 1, Decision::Handover)];
        let err = check(&plan, &recorded(), &case("K-1"), Decision::Handover)
            .expect_err("another case's plan");
        assert_eq!(
            err,
            PlanMismatch::OtherCase {
                case: "K-1".into(),
                found: "K-2".into()
            }
        );
        let c = case("K-1");
        let row = edited(&c, "INBOX", 1, Decision::Handover);
        let checked =
            check(&[row.clone(), row], &recorded(), &c, Decision::Handover).expect("same case");
        assert_eq!(checked.len(), 1, "{checked:?}");
        // Delete rows are chosen the same way for `clean --case`.
        let del = edited(&c, "INBOX", 6, Decision::Delete);
        let checked = check(&[del], &recorded(), &c, Decision::Delete).expect("same case");
        assert!(matches!(&checked[..], [Checked::Copy(r)] if r.uid == Some(6)));
    }
}
