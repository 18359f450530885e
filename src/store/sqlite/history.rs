//! Compliance snapshots and the deviation register.

use super::*;

impl History for SqliteStore {
    fn record_snapshot(&mut self, run: RunId, snap: &SnapshotRecord) -> Result<(), StoreError> {
        self.flush()?;
        let data = serde_json::to_string(&snap.snapshot).unwrap_or_else(|_| "{}".into());
        self.conn.execute(
            "INSERT INTO snapshots (run, source, as_of, taken_at, full, status, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (run, source) DO UPDATE SET as_of = excluded.as_of, taken_at = excluded.taken_at,
               full = excluded.full, status = excluded.status, data = excluded.data",
            params![
                run,
                snap.snapshot.source,
                snap.snapshot.as_of.to_string(),
                snap.taken_at,
                snap.full,
                snap.status,
                data
            ],
        )?;
        Ok(())
    }
    fn snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT run, taken_at, full, status, data FROM snapshots ORDER BY as_of, run",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (run, taken_at, full, status, data) = row?;
            if let Ok(snapshot) = serde_json::from_str(&data) {
                out.push(SnapshotRecord {
                    run,
                    taken_at,
                    full,
                    status,
                    snapshot,
                });
            }
        }
        Ok(out)
    }
    fn prune_snapshots(&mut self, before: NaiveDate) -> Result<u64, StoreError> {
        self.flush()?;
        Ok(self.conn.execute(
            "DELETE FROM snapshots WHERE as_of < ?1",
            params![before.to_string()],
        )? as u64)
    }
    fn deviations(&self) -> Result<Vec<Deviation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM deviations ORDER BY source, id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(d) = serde_json::from_str(&row?) {
                out.push(d);
            }
        }
        Ok(out)
    }
    fn save_deviations(&mut self, source: &str, list: &[Deviation]) -> Result<(), StoreError> {
        self.durably(|tx| {
            tx.execute("DELETE FROM deviations WHERE source = ?1", params![source])?;
            let mut insert = tx.prepare(
                "INSERT INTO deviations (id, source, status, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET source = excluded.source, status = excluded.status, data = excluded.data",
            )?;
            for d in list {
                insert.execute(params![
                    d.id,
                    d.source,
                    d.status.as_str(),
                    serde_json::to_string(d).unwrap_or_else(|_| "{}".into())
                ])?;
            }
            Ok(())
        })
    }
}
