//! Runs: begun, finished, taken over, listed.

use super::*;

impl Runs for SqliteStore {
    fn begin_run(
        &mut self,
        kind: RunKind,
        as_of: NaiveDate,
        started: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        self.flush()?;
        self.conn.execute(
            "INSERT INTO runs (started_at, as_of, kind) VALUES (?1, ?2, ?3)",
            params![started.to_rfc3339(), as_of.to_string(), kind.as_str()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }
    fn finish_run(
        &mut self,
        run: RunId,
        finished: DateTime<Utc>,
        status: &str,
        messages: u64,
    ) -> Result<(), StoreError> {
        self.flush()?;
        self.conn.execute(
            "UPDATE runs SET finished_at = ?1, status = ?2, messages = ?3 WHERE id = ?4",
            params![finished.to_rfc3339(), status, messages as i64, run],
        )?;
        Ok(())
    }
    fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                params![run],
                SqliteStore::run_row,
            )
            .optional()?
            .flatten())
    }
    fn adopt_interrupted(&mut self, run: RunId, kind: RunKind) -> Result<Vec<RunId>, StoreError> {
        self.flush()?;
        let ids: Vec<RunId> = self
            .conn
            .prepare("SELECT id FROM runs WHERE kind = ?1 AND status = 'running' AND id != ?2")?
            .query_map(params![kind.as_str(), run], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        self.conn.execute(
            "UPDATE runs SET status = 'interrupted', adopted_by = ?1
             WHERE kind = ?2 AND status = 'running' AND id != ?1",
            params![run, kind.as_str()],
        )?;
        Ok(ids)
    }
    fn adopt(&mut self, run: RunId, by: RunId) -> Result<bool, StoreError> {
        if run == by {
            return Ok(false);
        }
        self.flush()?;
        Ok(self.conn.execute(
            "UPDATE runs SET adopted_by = ?2 WHERE id = ?1 AND adopted_by IS NULL
               AND kind = (SELECT kind FROM runs WHERE id = ?2)",
            params![run, by],
        )? > 0)
    }
    fn series(&self, run: RunId) -> Result<Vec<RunId>, StoreError> {
        let mut stmt = self.conn.prepare(
            "WITH RECURSIVE s(id) AS (SELECT ?1 UNION SELECT runs.id FROM runs JOIN s ON runs.adopted_by = s.id)
             SELECT id FROM s ORDER BY id",
        )?;
        let ids = stmt.query_map(params![run], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }
    fn run_summaries(&self, kinds: &[RunKind]) -> Result<Vec<RunSummary>, StoreError> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"))?;
        let rows = stmt.query_map([], SqliteStore::run_row)?;
        for record in rows {
            let Some(record) = record? else { continue };
            if !kinds.contains(&record.kind) {
                continue;
            }
            out.push(RunSummary {
                record,
                counts: Default::default(),
                sources: Vec::new(),
                undoes: Vec::new(),
                undone_by: Vec::new(),
            });
        }
        let index: HashMap<RunId, usize> = out
            .iter()
            .enumerate()
            .map(|(i, s)| (s.record.id, i))
            .collect();
        let mut stmt = self
            .conn
            .prepare("SELECT run, status, count(*) FROM journal GROUP BY run, status")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)?) {
                out[i]
                    .counts
                    .insert(r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64);
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT run, source FROM journal ORDER BY run, source")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)?) {
                out[i].sources.push(r.get(1)?);
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT u.run, c.run FROM journal u JOIN journal c ON u.undoes = c.id
             WHERE u.status = 'moved' ORDER BY u.run, c.run",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (undo, clean): (i64, i64) = (r.get(0)?, r.get(1)?);
            if let Some(&i) = index.get(&undo) {
                out[i].undoes.push(clean);
            }
            if let Some(&i) = index.get(&clean) {
                out[i].undone_by.push(undo);
            }
        }
        Ok(out)
    }
}
