//! The journal of mailbox changes, and the inventory following a move.

use super::*;

impl Journal for SqliteStore {
    fn journal_intents(&mut self, entries: &mut [JournalEntry]) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        self.durably(|tx| {
        for e in entries.iter_mut() {
            tx.prepare_cached(
                "INSERT INTO journal (run, source, folder, uid_validity, uid, local_key, message_id, to_folder,
                   rule, status, reason, dest_uid_validity, dest_uid, dest_key, flagged, undoes, updated_at,
                   size, received)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?
            .execute(params![
                e.run,
                e.source,
                e.folder,
                e.uid_validity,
                e.uid,
                e.local_key,
                e.message_id,
                e.to_folder,
                e.rule,
                e.status.as_str(),
                e.reason,
                e.dest_uid_validity,
                e.dest_uid,
                e.dest_key,
                e.flagged,
                e.undoes,
                now,
                e.size.map(|n| n as i64),
                ts(e.received),
            ])?;
            e.id = tx.last_insert_rowid();
        }
        Ok(())
        })
    }
    fn journal_outcomes(&mut self, entries: &[JournalEntry]) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        self.durably(|tx| {
            for e in entries {
                tx.prepare_cached(
                "UPDATE journal SET status = ?1, reason = ?2, dest_uid_validity = ?3, dest_uid = ?4,
                   dest_key = ?5, updated_at = ?6 WHERE id = ?7",
            )?
            .execute(params![
                e.status.as_str(),
                e.reason,
                e.dest_uid_validity,
                e.dest_uid,
                e.dest_key,
                now,
                e.id
            ])?;
                if e.status == JournalStatus::Moved {
                    follow_move(tx, e)?;
                }
            }
            Ok(())
        })
    }
    fn journal_of_run(&self, run: RunId) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE run = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![run], SqliteStore::journal_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn undone(&self, run: RunId) -> Result<HashSet<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT undoes FROM journal WHERE status = 'moved'
             AND undoes IN (SELECT id FROM journal WHERE run = ?1)",
        )?;
        let rows = stmt.query_map(params![run], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn unfinished(&self, source: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE source = ?1 AND status IN ('intent', 'unknown')
             ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![source], SqliteStore::journal_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
