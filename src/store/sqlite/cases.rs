//! Offboarding cases, plan rows and handovers.

use super::*;

impl Cases for SqliteStore {
    fn open_case(
        &mut self,
        case: &Case,
        rows: &mut dyn Iterator<Item = Result<PlanRow, StoreError>>,
    ) -> Result<(), StoreError> {
        let (notified, why) = notice_columns(&case.notice);
        let terms = serde_json::to_string(&case.terms).unwrap_or_else(|_| "[]".into());
        self.durably(|tx| {
            tx.execute(
                "INSERT INTO cases (id, source, reason, legal_basis, notified, notified_why, successor, leaving, terms, opened_by, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO NOTHING",
                params![
                    case.id,
                    case.source,
                    case.reason,
                    case.legal_basis,
                    notified,
                    why,
                    case.successor,
                    case.leaving.map(|d| d.to_string()),
                    terms,
                    case.opened_by,
                    case.opened_at
                ],
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO case_rows (case_id, folder, key, uid, message_id, decision, why)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (case_id, folder, key) DO UPDATE SET
                   decision = CASE WHEN case_rows.decision = 'private' THEN 'private' ELSE excluded.decision END,
                   why = CASE WHEN case_rows.decision = 'private' THEN case_rows.why ELSE excluded.why END,
                   uid = excluded.uid, message_id = excluded.message_id",
            )?;
            for r in rows {
                let r = r?;
                insert.execute(params![
                    case.id,
                    r.folder,
                    r.key,
                    r.uid,
                    r.message_id,
                    r.decision.as_str(),
                    r.why
                ])?;
            }
            Ok(())
        })
    }
    fn amend_case(&mut self, case: &Case) -> Result<(), StoreError> {
        let (notified, why) = notice_columns(&case.notice);
        self.durably(|tx| {
            tx.execute(
                "UPDATE cases SET reason = ?2, legal_basis = ?3, notified = ?4, notified_why = ?5,
                   successor = ?6, leaving = ?7 WHERE id = ?1",
                params![
                    case.id,
                    case.reason,
                    case.legal_basis,
                    notified,
                    why,
                    case.successor,
                    case.leaving.map(|d| d.to_string()),
                ],
            )?;
            Ok(())
        })
    }
    fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        Ok(self.cases()?.into_iter().find(|c| c.id == id))
    }
    fn cases(&self) -> Result<Vec<Case>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, source, reason, legal_basis, notified, notified_why, successor, leaving, terms, opened_by, opened_at
             FROM cases ORDER BY opened_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            let notice = notice_from_columns(&r.get::<_, String>(4)?, r.get(5)?);
            Ok(Case {
                id: r.get(0)?,
                source: r.get(1)?,
                reason: r.get(2)?,
                legal_basis: r.get(3)?,
                notice,
                successor: r.get(6)?,
                leaving: r
                    .get::<_, Option<String>>(7)?
                    .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                terms: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                opened_by: r.get(9)?,
                opened_at: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn case_rows(&self, id: &str) -> Result<Vec<CaseRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT folder, key, uid, message_id, decision, why FROM case_rows WHERE case_id = ?1 ORDER BY folder, uid, key",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(CaseRow {
                folder: r.get(0)?,
                key: r.get(1)?,
                uid: r.get(2)?,
                message_id: r.get(3)?,
                decision: Decision::parse(&r.get::<_, String>(4)?).unwrap_or(Decision::Review),
                why: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn private_case_messages(&self) -> Result<HashSet<(String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.source, r.folder, r.key FROM case_rows r JOIN cases c ON c.id = r.case_id
             WHERE r.decision = 'private'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn handovers(&self, case_id: &str) -> Result<Vec<HandoverRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT case_id, folder, key, destination, message_id, to_folder, content_hash, status, at
             FROM handovers WHERE case_id = ?1 ORDER BY folder, key",
        )?;
        let rows = stmt.query_map(params![case_id], |r| {
            Ok(HandoverRecord {
                case_id: r.get(0)?,
                folder: r.get(1)?,
                key: r.get(2)?,
                destination: r.get(3)?,
                message_id: r.get(4)?,
                to_folder: r.get(5)?,
                content_hash: r.get(6)?,
                status: HandoverStatus::parse(&r.get::<_, String>(7)?)
                    .unwrap_or(HandoverStatus::Copying),
                at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn record_handover(&mut self, h: &HandoverRecord) -> Result<(), StoreError> {
        self.durably(|tx| {
            tx.execute(
                "INSERT INTO handovers (case_id, folder, key, destination, message_id, to_folder, content_hash, status, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (case_id, folder, key, destination) DO UPDATE SET
                   to_folder = excluded.to_folder, content_hash = excluded.content_hash,
                   status = excluded.status, at = excluded.at",
                params![
                    h.case_id,
                    h.folder,
                    h.key,
                    h.destination,
                    h.message_id,
                    h.to_folder,
                    h.content_hash,
                    h.status.as_str(),
                    h.at
                ],
            )?;
            Ok(())
        })
    }
}
