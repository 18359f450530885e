//! The audit chain, its head and its anchor log.

use super::*;

impl AuditTrail for SqliteStore {
    fn set_audit_key(&mut self, key: crate::audit::AuditKey) {
        self.audit_key = Some(key);
    }
    fn audit_anchor(&self) -> Result<Option<crate::audit::Anchor>, StoreError> {
        let Some(path) = &self.anchor else {
            return Ok(None);
        };
        let id = self.setting("store_id")?.unwrap_or_default();
        crate::audit::read_anchor(path, &id).map_err(StoreError::Invalid)
    }
    fn append_audit(&mut self, entry: NewEntry) -> Result<AuditEntry, StoreError> {
        let key = self.audit_key.clone().ok_or_else(|| {
            StoreError::Invalid(
                "the audit trail needs the installation's key, which was not loaded".into(),
            )
        })?;
        let store = self.store_id()?;
        let anchored = self.audit_anchor()?.is_some();
        let e = self.durably(|tx| {
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let head: Option<(i64, String)> = tx
                .query_row(
                    "SELECT value FROM settings WHERE name = 'audit_head'",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .and_then(|v| crate::audit::parse_head(&v));
            let last = crate::audit::link_after(last, head);
            let e = crate::audit::chain(last.as_ref().map(|(s, h)| (*s, h.as_str())), entry, &key);
            tx.execute(
                "INSERT INTO audit (seq, at, actor, action, case_id, detail, prev, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    e.seq,
                    e.at,
                    e.actor,
                    e.action,
                    e.case_id,
                    e.detail.to_string(),
                    e.prev,
                    e.hash
                ],
            )?;
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ('audit_head', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![crate::audit::head_value(&e)],
            )?;
            Ok(e)
        })?;
        // After the commit: a crash between the two leaves an entry the log
        // does not name (harmless: nobody without the key can make one),
        // never a logged entry the store lacks.
        self.anchor_lines(&crate::audit::anchor_lines_for(&store, &e, anchored))?;
        Ok(e)
    }
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        // In stored (rowid) order: a reordering shows as a break.
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, action, case_id, detail, prev, hash FROM audit ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                case_id: r.get(4)?,
                detail: serde_json::from_str(&r.get::<_, String>(5)?)
                    .unwrap_or(serde_json::Value::Null),
                prev: r.get(6)?,
                hash: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .setting("audit_head")?
            .and_then(|v| crate::audit::parse_head(&v)))
    }
}
