//! `mailhygiene runs`: the clean and undo runs in the store, with what each
//! moved, whether it finished, which interrupted run it took over and what
//! undid what, so no run is ever lost track of.

use super::ActionFormat;
use crate::store::RunSummary;
use std::io::{self, Write};

/// Writes the runs, oldest first: a table for people, or one JSON record
/// per run (`{"type":"run",…}`).
pub fn write_runs(
    runs: &[RunSummary],
    format: ActionFormat,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        ActionFormat::Jsonl => {
            for r in runs {
                let record = serde_json::json!({
                    "type": "run",
                    "run": r.record.id,
                    "kind": r.record.kind.as_str(),
                    "as_of": r.record.as_of.to_string(),
                    "started": r.record.started,
                    "finished": r.record.finished,
                    "status": r.record.status,
                    "adopted_by": r.record.adopted_by,
                    "counts": r.counts,
                    "sources": r.sources,
                    "undoes": r.undoes,
                    "undone_by": r.undone_by,
                });
                serde_json::to_writer(&mut *out, &record)?;
                out.write_all(b"\n")?;
            }
        }
        ActionFormat::Text => {
            if runs.is_empty() {
                writeln!(out, "no clean or undo runs in the store")?;
            }
            for r in runs {
                let counts: Vec<String> = r
                    .counts
                    .iter()
                    .map(|(status, n)| format!("{n} {status}"))
                    .collect();
                let mut notes = Vec::new();
                if let Some(by) = r.record.adopted_by {
                    notes.push(format!("taken over by run {by}"));
                }
                if !r.undoes.is_empty() {
                    notes.push(format!("undoes run {}", join(&r.undoes)));
                }
                if !r.undone_by.is_empty() {
                    notes.push(format!("undone by run {}", join(&r.undone_by)));
                }
                writeln!(
                    out,
                    "run {:<5} {:<5} {:<25} {:<11} {:<40} {} mailbox{}{}",
                    r.record.id,
                    r.record.kind.as_str(),
                    started(&r.record.started),
                    r.record.status,
                    if counts.is_empty() {
                        "nothing journaled".to_string()
                    } else {
                        counts.join(", ")
                    },
                    r.sources.len(),
                    if r.sources.len() == 1 { "" } else { "es" },
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", notes.join("; "))
                    }
                )?;
            }
        }
    }
    out.flush()
}

fn join(runs: &[i64]) -> String {
    runs.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-12-07T11:46:33.123+00:00` as `2026-12-07 11:46:33 UTC`.
fn started(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}
