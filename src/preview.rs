//! A look at where a case's declared term occurs, for the manager deciding
//! a plan: a few words around each place, per message that has it. Only
//! terms declared when the case was opened (a preview is not a search
//! through an employee's mail), never in mail the case classified private,
//! and each message shown is written to the audit trail.

use crate::engine::Engine;
use crate::handover::{MailboxError, Mailboxes};
use crate::offboard::{Case, Decision};
use crate::report::summary::one_line;
use crate::store::{CaseRow, Store, StoreError};
use std::collections::BTreeMap;
use std::io::Write;

/// Why no preview was made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no case {0} in the store")]
    NoCase(String),
    #[error(
        "`{term}` was not declared in case {case} (declared: {declared}); previews use only the case's --term list"
    )]
    Undeclared {
        term: String,
        case: String,
        declared: String,
    },
    #[error("{name}: {error}")]
    Mailbox { name: String, error: MailboxError },
    /// Reading the case's mailbox failed part way.
    #[error("{name}: {error}")]
    Read {
        name: String,
        error: crate::action_error::ActionError,
    },
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

/// The case, when `term` was declared in it: what a preview may show.
pub fn declared(store: &dyn Store, case_id: &str, term: &str) -> Result<Case, PreviewError> {
    let case = store
        .case(case_id)?
        .ok_or_else(|| PreviewError::NoCase(case_id.to_string()))?;
    if !case.terms.iter().any(|t| t.eq_ignore_ascii_case(term)) {
        return Err(PreviewError::Undeclared {
            term: one_line(term),
            case: case_id.to_string(),
            declared: if case.terms.is_empty() {
                "none".to_string()
            } else {
                case.terms.join(", ")
            },
        });
    }
    Ok(case)
}

/// Prints up to `limit` messages of the case with `term` (checked with
/// [`declared`] first), three places each; returns how many were shown.
pub fn preview(
    store: &mut dyn Store,
    case: &Case,
    term: &str,
    limit: usize,
    engine: &Engine,
    mailboxes: &mut dyn Mailboxes,
    out: &mut dyn Write,
) -> Result<usize, PreviewError> {
    let case_id = case.id.as_str();
    declared(store, case_id, term)?;
    let mut origin = mailboxes
        .origin(&case.source)
        .map_err(|error| PreviewError::Mailbox {
            name: case.source.clone(),
            error,
        })?;
    let rows: Vec<CaseRow> = store
        .case_rows(case_id)?
        .into_iter()
        .filter(|r| r.decision != Decision::Private)
        .collect();
    let mut by_folder: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
    for r in &rows {
        by_folder.entry(r.folder.as_str()).or_default().push(r);
    }
    let mut shown = 0usize;
    'folders: for (folder, rows) in by_folder {
        for batch in rows.chunks(50) {
            let mut originals =
                origin
                    .originals(folder, batch)
                    .map_err(|error| PreviewError::Read {
                        name: case.source.clone(),
                        error,
                    })?;
            for r in batch {
                if shown >= limit {
                    break 'folders;
                }
                let Some(original) = originals.remove(&r.key) else {
                    continue;
                };
                let found = engine.previews(&original.bytes, term, 3);
                if found.is_empty() {
                    continue;
                }
                shown += 1;
                let uid = r.uid.map(|u| format!(" UID {u}")).unwrap_or_default();
                writeln!(
                    out,
                    "{}{} {}",
                    one_line(folder),
                    uid,
                    one_line(&r.message_id)
                )?;
                for (location, snippet) in &found {
                    writeln!(out, "  {location}: …{snippet}…")?;
                }
                store
                    .audit(
                        "preview",
                        Some(case_id),
                        serde_json::json!({
                            "term": term,
                            "folder": r.folder,
                            "uid": r.uid,
                            "message_id": r.message_id,
                            "places": found.len(),
                        }),
                    )
                    .map_err(PreviewError::Audit)?;
            }
        }
    }
    writeln!(out, "{shown} messages previewed for `{}`", one_line(term))?;
    out.flush()?;
    Ok(shown)
}
