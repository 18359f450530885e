//! A copy of a person's data (GDPR art. 15): the messages a search found,
//! each read from its mailbox unchanged into `messages/NNNNN.eml`, with an
//! `index.json` listing them. Private directory and files: what it holds
//! is the person's mail.

use crate::handover::{MailboxError, Mailboxes};
use crate::offboard::{Decision, message_key};
use crate::store::{CaseRow, StoredMessage};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The directory exists and is not empty, or cannot be made.
    #[error("{0}")]
    Directory(std::io::Error),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot write the index: {0}")]
    Index(#[from] serde_json::Error),
}

/// Writes the export into `dir` (which must be new or empty): `index` is the
/// search's index record of each hit, in order. Messages that cannot be read
/// (a mailbox that cannot be opened, a message gone) are counted and named
/// to `unreadable`; the index says which have no file.
pub fn export(
    hits: &[StoredMessage],
    index: &[serde_json::Value],
    dir: &Path,
    mailboxes: &mut dyn Mailboxes,
    unreadable: &mut dyn FnMut(&str, Option<&str>, &str),
) -> Result<u64, ExportError> {
    crate::report::create_empty_private_dir(dir).map_err(ExportError::Directory)?;
    crate::report::create_private_dir(&dir.join("messages"))?;
    let mut files: Vec<Option<String>> = vec![None; hits.len()];
    let mut failed = 0;
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in hits.iter().enumerate() {
        by_source.entry(m.source.as_str()).or_default().push(i);
    }
    for (source, members) in by_source {
        let mut origin = match mailboxes.origin(source) {
            Ok(o) => o,
            Err(MailboxError::Unusable(e) | MailboxError::Unreachable(e)) => {
                unreadable(source, None, &e);
                failed += members.len() as u64;
                continue;
            }
        };
        let mut by_folder: BTreeMap<&str, Vec<(usize, CaseRow)>> = BTreeMap::new();
        for i in members {
            let r = &hits[i].report;
            by_folder.entry(r.meta.folder.as_str()).or_default().push((
                i,
                CaseRow {
                    folder: r.meta.folder.clone(),
                    key: message_key(r),
                    uid: r.meta.uid,
                    message_id: r.envelope.message_id.clone(),
                    decision: Decision::Review,
                    why: String::new(),
                },
            ));
        }
        for (folder, rows) in by_folder {
            let refs: Vec<&CaseRow> = rows.iter().map(|(_, r)| r).collect();
            let mut found = match origin.originals(folder, &refs) {
                Ok(f) => f,
                Err(e) => {
                    unreadable(source, Some(folder), &e.to_string());
                    failed += rows.len() as u64;
                    continue;
                }
            };
            for (i, row) in &rows {
                let Some(original) = found.remove(&row.key) else {
                    failed += 1;
                    continue;
                };
                let name = format!("messages/{:05}.eml", i + 1);
                let mut f = crate::report::create_private(&dir.join(&name))?;
                f.write_all(&original.bytes)?;
                files[*i] = Some(name);
            }
        }
    }
    let entries: Vec<serde_json::Value> = index
        .iter()
        .zip(&files)
        .map(|(v, f)| {
            let mut v = v.clone();
            v["file"] = f.clone().map_or(serde_json::Value::Null, Into::into);
            v
        })
        .collect();
    let mut f = crate::report::create_private(&dir.join("index.json"))?;
    serde_json::to_writer_pretty(
        &mut f,
        &serde_json::json!({"messages": entries, "unreadable": failed}),
    )?;
    Ok(failed)
}
