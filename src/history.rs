//! The compliance history, taken at the end of every scan that writes the
//! store: a snapshot per mailbox (counts by rule and detector, judged as of
//! the scan's date) and the deviation register brought up to date.
//!
//! Why at scan time: a report made later cannot count mail that was
//! deleted in between, and "is it getting better?" needs those counts.

use crate::compliance::{self, SnapshotBuilder};
use crate::inventory;
use crate::rules::RuleSet;
use crate::store::{RunId, SnapshotRecord, Store, StoreError};
use chrono::NaiveDate;

/// How long snapshots are kept by default.
pub const KEEP_YEARS: u32 = 5;

/// One scanned mailbox and how its scan went.
pub struct Scanned<'a> {
    pub source: &'a str,
    /// The owner's address, to tell sent from received.
    pub address: Option<&'a str>,
    pub status: &'a str,
}

/// Snapshots each mailbox and reconciles its deviations; forgets snapshots
/// older than `keep_years` before `as_of`.
#[allow(clippy::too_many_arguments)]
pub fn record(
    store: &mut dyn Store,
    run: RunId,
    scanned: &[Scanned<'_>],
    rules: &RuleSet,
    as_of: NaiveDate,
    taken_at: &str,
    full: bool,
    keep_years: u32,
) -> Result<(), StoreError> {
    let known = store.deviations()?;
    for s in scanned {
        // A failed scan read nothing new: its counts would be the last
        // run's, and a gone message cannot be told from an unread one.
        if s.status == "failed" {
            continue;
        }
        // One message at a time as the store hands them over: a mailbox of
        // a hundred thousand messages held whole here was most of a
        // scan's peak memory.
        let mut counted = SnapshotBuilder::new(s.source, as_of);
        let mut current = Vec::new();
        store.each_message(s.source, None, &mut |m| {
            let report = inventory::judge(rules, as_of, m.report);
            counted.add(&report);
            current.extend(compliance::deviation(s.source, s.address, as_of, &report));
            Ok(())
        })?;
        let snapshot = counted.finish();
        store.record_snapshot(
            run,
            &SnapshotRecord {
                run,
                taken_at: taken_at.to_string(),
                full,
                status: s.status.to_string(),
                snapshot,
            },
        )?;
        let register = compliance::reconcile(&known, s.source, current, as_of);
        store.save_deviations(s.source, &register)?;
    }
    if let Some(before) = as_of.checked_sub_months(chrono::Months::new(12 * keep_years)) {
        store.prune_snapshots(before)?;
    }
    store.flush()
}
