//! What a person chose for deletion, for `clean`: the `delete` rows of an
//! offboarding case's edited plan, or the records of a `subject` search
//! (an erasure request). Each is checked against what the store holds now;
//! a row that no longer names the message recorded there, or that the case
//! classified private, is refused and named, never guessed.

use crate::actions::clean::Chosen;
use crate::handover::{self, Checked, PlanMismatch};
use crate::offboard::{Decision, EditedRow};
use crate::store::{Store, StoreError};
use crate::subject::{self, ErasureError};

/// Where the choice comes from (a `clean` run takes one or both).
pub struct Choice<'a> {
    /// The one mailbox `clean` runs on.
    pub source: &'a str,
    /// A case and its edited plan.
    pub case: Option<(&'a str, &'a [EditedRow])>,
    /// An erasure list: `subject --format jsonl` records.
    pub erasure: Option<&'a str>,
}

/// A row or record not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum NotChosen {
    /// A plan row, and why (private, not the recorded message, ...).
    PlanRow { row: EditedRow, why: String },
    /// An erasure record naming a message the store no longer holds there.
    Listed {
        line: usize,
        folder: String,
        message_id: String,
    },
}

/// Why nothing can be chosen at all.
#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    #[error("no case {0} in the store")]
    NoCase(String),
    #[error("case {case} is about {about}, not {source_name}")]
    OtherMailbox {
        case: String,
        about: String,
        source_name: String,
    },
    /// The plan as a whole belongs elsewhere.
    #[error(transparent)]
    Plan(#[from] PlanMismatch),
    /// The erasure list cannot be read (a line that is not a record).
    #[error("line {line}: {why}")]
    List { line: usize, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The messages chosen, as (folder, inventory key), with the reason the
/// journal records (`case:K-1`, `erasure`), and what was refused.
pub fn chosen(
    store: &dyn Store,
    choice: &Choice<'_>,
) -> Result<(Chosen, Vec<NotChosen>), ChoiceError> {
    let mut chosen = Chosen::default();
    let mut refused = Vec::new();
    if let Some((id, plan)) = choice.case {
        let case = store
            .case(id)?
            .ok_or_else(|| ChoiceError::NoCase(id.to_string()))?;
        if case.source != choice.source {
            return Err(ChoiceError::OtherMailbox {
                case: id.to_string(),
                about: case.source,
                source_name: choice.source.to_string(),
            });
        }
        let recorded = store.case_rows(id)?;
        for checked in handover::check(plan, &recorded, &case, Decision::Delete)? {
            match checked {
                Checked::Copy(r) => {
                    chosen.messages.insert((r.folder, r.key));
                }
                Checked::Excluded { row, why } | Checked::Unknown { row, why } => {
                    refused.push(NotChosen::PlanRow { row, why });
                }
            }
        }
        chosen.reason = format!("case:{id}");
    }
    if let Some(list) = choice.erasure {
        let erasure = subject::erasure(store, choice.source, list).map_err(|e| match e {
            ErasureError::Store(e) => ChoiceError::Store(e),
            ErasureError::BadLine { line, why } => ChoiceError::List { line, why },
        })?;
        for (line, folder, message_id) in erasure.refused {
            refused.push(NotChosen::Listed {
                line,
                folder,
                message_id,
            });
        }
        chosen.messages.extend(erasure.chosen);
        chosen.reason = "erasure".into();
    }
    Ok((chosen, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offboard::{Case, PlanRow, row_ref};

    fn plan_row(uid: u32, decision: Decision) -> PlanRow {
        PlanRow {
            message_id: format!("<{uid}@t>"),
            folder: "INBOX".into(),
            uid: Some(uid),
            key: format!("7:{uid}"),
            date: "2025-01-01".into(),
            from: String::new(),
            subject: String::new(),
            decision,
            why: String::new(),
        }
    }

    fn edited(case: &Case, r: &PlanRow, line: u64) -> EditedRow {
        EditedRow {
            line,
            message_id: r.message_id.clone(),
            folder: r.folder.clone(),
            uid: r.uid,
            decision: Decision::Delete,
            row_ref: Some(row_ref(case, &r.folder, &r.key, &r.message_id)),
        }
    }

    /// The plan's delete rows are chosen by the key the case recorded; a
    /// private row and a row whose UID was changed are refused and named;
    /// the case must be about this mailbox.
    #[test]
    fn a_case_plan_chooses_only_what_the_case_recorded() {
        let mut store = crate::store::for_tests();
        let mut case = Case::for_tests("K-1");
        case.source = "src".into();
        let rows = [
            plan_row(1, Decision::Delete),
            plan_row(2, Decision::Private),
            plan_row(3, Decision::Delete),
        ];
        store
            .open_case(&case, &mut rows.iter().cloned().map(Ok))
            .expect("case");
        let mut plan: Vec<EditedRow> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| edited(&case, r, i as u64 + 2))
            .collect();
        // Row 3's UID changed (a sorted column): not the message recorded.
        plan[2].uid = Some(1);
        let choice = Choice {
            source: "src",
            case: Some(("K-1", &plan)),
            erasure: None,
        };
        let (picked, refused) = chosen(store.as_ref(), &choice).expect("chosen");
        assert_eq!(
            picked.messages,
            [("INBOX".to_string(), "7:1".to_string())]
                .into_iter()
                .collect()
        );
        assert_eq!(picked.reason, "case:K-1");
        let lines: Vec<u64> = refused
            .iter()
            .map(|r| match r {
                NotChosen::PlanRow { row, .. } => row.line,
                NotChosen::Listed { .. } => 0,
            })
            .collect();
        assert_eq!(lines, [3, 4]);
        let elsewhere = Choice {
            source: "other",
            ..choice
        };
        assert!(matches!(
            chosen(store.as_ref(), &elsewhere),
            Err(ChoiceError::OtherMailbox { .. })
        ));
        let unknown = Choice {
            case: Some(("K-2", &plan)),
            ..elsewhere
        };
        assert!(matches!(
            chosen(store.as_ref(), &unknown),
            Err(ChoiceError::NoCase(_))
        ));
    }

    /// An erasure list names messages; one the store no longer holds at
    /// that key is refused with its line, a line that is not a record stops
    /// the whole choice.
    #[test]
    fn an_erasure_list_is_checked_against_the_store() {
        let store = crate::store::for_tests();
        let list = r#"{"source":"src","folder":"INBOX","key":"7:1","message_id":"<1@t>"}"#;
        let (picked, refused) = chosen(
            store.as_ref(),
            &Choice {
                source: "src",
                case: None,
                erasure: Some(list),
            },
        )
        .expect("read");
        assert!(picked.messages.is_empty());
        assert_eq!(picked.reason, "erasure");
        assert_eq!(
            refused,
            [NotChosen::Listed {
                line: 1,
                folder: "INBOX".into(),
                message_id: "<1@t>".into()
            }]
        );
        assert!(matches!(
            chosen_err(store.as_ref(), "not json"),
            ChoiceError::List { line: 1, .. }
        ));
    }

    fn chosen_err(store: &dyn Store, list: &str) -> ChoiceError {
        chosen(
            store,
            &Choice {
                source: "src",
                case: None,
                erasure: Some(list),
            },
        )
        .expect_err("refused")
    }
}
