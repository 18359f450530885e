//! Offboarding cases, plan rows, handovers and reminders, as the SQLite
//! store keeps them (text ordered byte-wise, `COLLATE "C"`, and NULL first,
//! as SQLite orders them, whatever the database's locale).

use super::*;
use crate::case::{Case, Decision, PlanRow};
use crate::store::columns::{notice_columns, notice_from_columns};

impl Cases for PostgresStore {
    fn open_case(
        &mut self,
        case: &Case,
        rows: &mut dyn Iterator<Item = Result<PlanRow, StoreError>>,
    ) -> Result<(), StoreError> {
        let (notified, why) = notice_columns(&case.notice);
        let terms = serde_json::to_string(&case.terms).unwrap_or_else(|_| "[]".into());
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        tx.execute(
            "INSERT INTO cases (id, source, reason, legal_basis, notified, notified_why, successor, leaving, terms, opened_by, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO NOTHING",
            &[
                &case.id,
                &case.source,
                &case.reason,
                &case.legal_basis,
                &notified,
                &why,
                &case.successor,
                &case.leaving.map(|d| d.to_string()),
                &terms,
                &case.opened_by,
                &case.opened_at,
            ],
        )?;
        let insert = tx.prepare(
            "INSERT INTO case_rows (case_id, folder, key, uid, message_id, decision, why)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (case_id, folder, key) DO UPDATE SET
               decision = CASE WHEN case_rows.decision = 'private' THEN 'private' ELSE excluded.decision END,
               why = CASE WHEN case_rows.decision = 'private' THEN case_rows.why ELSE excluded.why END,
               uid = excluded.uid, message_id = excluded.message_id",
        )?;
        for r in rows {
            let r = r?;
            tx.execute(
                &insert,
                &[
                    &case.id,
                    &r.folder,
                    &r.key,
                    &to_i64(r.uid),
                    &r.message_id,
                    &r.decision.as_str(),
                    &r.why,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
    fn amend_case(&mut self, case: &Case) -> Result<(), StoreError> {
        let (notified, why) = notice_columns(&case.notice);
        self.write()?.execute(
            "UPDATE cases SET reason = $2, legal_basis = $3, notified = $4, notified_why = $5,
               successor = $6, leaving = $7 WHERE id = $1",
            &[
                &case.id,
                &case.reason,
                &case.legal_basis,
                &notified,
                &why,
                &case.successor,
                &case.leaving.map(|d| d.to_string()),
            ],
        )?;
        Ok(())
    }
    fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        Ok(self.cases()?.into_iter().find(|c| c.id == id))
    }
    fn cases(&self) -> Result<Vec<Case>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT id, source, reason, legal_basis, notified, notified_why, successor, leaving, terms, opened_by, opened_at
                 FROM cases ORDER BY opened_at COLLATE \"C\", id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                let notice = notice_from_columns(r.get(4), r.get(5));
                Case {
                    id: r.get(0),
                    source: r.get(1),
                    reason: r.get(2),
                    legal_basis: r.get(3),
                    notice,
                    successor: r.get(6),
                    leaving: r
                        .get::<_, Option<String>>(7)
                        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    terms: serde_json::from_str(r.get::<_, &str>(8)).unwrap_or_default(),
                    opened_by: r.get(9),
                    opened_at: r.get(10),
                }
            })
            .collect())
    }
    fn case_rows(&self, id: &str) -> Result<Vec<CaseRow>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT folder, key, uid, message_id, decision, why FROM case_rows WHERE case_id = $1
                 ORDER BY folder COLLATE \"C\", uid NULLS FIRST, key COLLATE \"C\"",
                &[&id],
            )?
            .iter()
            .map(|r| CaseRow {
                folder: r.get(0),
                key: r.get(1),
                uid: to_u32(r.get(2)),
                message_id: r.get(3),
                decision: Decision::parse(r.get::<_, &str>(4)).unwrap_or(Decision::Review),
                why: r.get(5),
            })
            .collect())
    }
    fn private_case_messages(&self) -> Result<HashSet<(String, String, String)>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT c.source, r.folder, r.key FROM case_rows r JOIN cases c ON c.id = r.case_id
                 WHERE r.decision = 'private'",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
    fn handovers(&self, case_id: &str) -> Result<Vec<HandoverRecord>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT case_id, folder, key, destination, message_id, to_folder, content_hash, status, at
                 FROM handovers WHERE case_id = $1 ORDER BY folder COLLATE \"C\", key COLLATE \"C\"",
                &[&case_id],
            )?
            .iter()
            .map(|r| HandoverRecord {
                case_id: r.get(0),
                folder: r.get(1),
                key: r.get(2),
                destination: r.get(3),
                message_id: r.get(4),
                to_folder: r.get(5),
                content_hash: r.get(6),
                status: HandoverStatus::parse(r.get::<_, &str>(7))
                    .unwrap_or(HandoverStatus::Copying),
                at: r.get(8),
            })
            .collect())
    }
    fn record_handover(&mut self, h: &HandoverRecord) -> Result<(), StoreError> {
        self.write()?.execute(
            "INSERT INTO handovers (case_id, folder, key, destination, message_id, to_folder, content_hash, status, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (case_id, folder, key, destination) DO UPDATE SET
               to_folder = excluded.to_folder, content_hash = excluded.content_hash,
               status = excluded.status, at = excluded.at",
            &[
                &h.case_id,
                &h.folder,
                &h.key,
                &h.destination,
                &h.message_id,
                &h.to_folder,
                &h.content_hash,
                &h.status.as_str(),
                &h.at,
            ],
        )?;
        Ok(())
    }
}

impl Reminders for PostgresStore {
    fn reminder(&self, source: &str, period: &str) -> Result<Option<ReminderRecord>, StoreError> {
        Ok(self
            .db()?
            .query_opt(
                "SELECT source, period, run, method, recipient, status, at FROM reminders
                 WHERE source = $1 AND period = $2",
                &[&source, &period],
            )?
            .map(|r| ReminderRecord {
                source: r.get(0),
                period: r.get(1),
                run: r.get(2),
                method: r.get(3),
                recipient: r.get(4),
                // An unknown word is read as the doubtful case: it may have
                // been sent.
                status: ReminderStatus::parse(r.get::<_, &str>(5))
                    .unwrap_or(ReminderStatus::Sending),
                at: r.get(6),
            }))
    }
    fn record_reminder(&mut self, m: &ReminderRecord) -> Result<(), StoreError> {
        self.write()?.execute(
            "INSERT INTO reminders (source, period, run, method, recipient, status, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (source, period) DO UPDATE SET run = excluded.run, method = excluded.method,
               recipient = excluded.recipient, status = excluded.status, at = excluded.at",
            &[
                &m.source,
                &m.period,
                &m.run,
                &m.method,
                &m.recipient,
                &m.status.as_str(),
                &m.at,
            ],
        )?;
        Ok(())
    }
}
