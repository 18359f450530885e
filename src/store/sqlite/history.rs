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
    fn each_deviation(
        &self,
        visit: &mut dyn FnMut(Deviation) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM deviations ORDER BY source, id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Ok(d) = serde_json::from_str(&r.get::<_, String>(0)?) {
                visit(d).map_err(|e| StoreError::Invalid(format!("writing the report: {e}")))?;
            }
        }
        Ok(())
    }
    fn register_entries(
        &self,
        source: &str,
        identities: &[String],
    ) -> Result<HashMap<String, Vec<RegisterEntry>>, StoreError> {
        let mut out: HashMap<String, Vec<RegisterEntry>> = HashMap::new();
        if identities.is_empty() {
            return Ok(out);
        }
        let wanted = serde_json::to_string(identities).unwrap_or_else(|_| "[]".into());
        let mut stmt = self.conn.prepare_cached(
            "SELECT identity, id, first_seen, action, digest, status FROM deviations
             WHERE source = ?1 AND identity IN (SELECT value FROM json_each(?2))
             ORDER BY id",
        )?;
        let mut rows = stmt.query(params![source, wanted])?;
        while let Some(r) = rows.next()? {
            let first_seen: Option<String> = r.get(2)?;
            out.entry(r.get(0)?).or_default().push(RegisterEntry {
                id: r.get(1)?,
                first_seen: first_seen
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(NaiveDate::MIN),
                action: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                digest: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                open: r.get::<_, String>(5)? != crate::register::DeviationStatus::Handled.as_str(),
            });
        }
        Ok(out)
    }
    fn put_deviation(&mut self, d: &Deviation, replacing: &[String]) -> Result<(), StoreError> {
        self.in_transaction()?;
        for id in replacing {
            self.conn
                .prepare_cached("DELETE FROM deviations WHERE id = ?1")?
                .execute(params![id])?;
        }
        insert_deviation(&self.conn, d)?;
        self.maybe_commit()
    }
    fn each_deviation_head(
        &self,
        source: &str,
        visit: &mut dyn FnMut(&str, &str, bool),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, identity, status FROM deviations WHERE source = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![source])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let identity: Option<String> = r.get(1)?;
            let status: String = r.get(2)?;
            let open = status != crate::register::DeviationStatus::Handled.as_str();
            visit(&id, identity.as_deref().unwrap_or(&id), open);
        }
        Ok(())
    }
    fn register_changes(
        &self,
        source: &str,
        basis: &str,
        limit: usize,
    ) -> Result<Option<Vec<ChangedCopy>>, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(None);
        };
        let reconciled_under: Option<String> = self.conn.query_row(
            "SELECT register_basis FROM mailboxes WHERE id = ?1",
            params![mailbox],
            |r| r.get(0),
        )?;
        if reconciled_under.as_deref() != Some(basis) {
            return Ok(None);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT message_id, folder, key FROM register_changes WHERE mailbox = ?1
             ORDER BY message_id, folder, key LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![mailbox, limit as i64 + 1], |r| {
            Ok(ChangedCopy {
                message_id: r.get(0)?,
                folder: r.get(1)?,
                key: r.get(2)?,
            })
        })?;
        let changes: Vec<ChangedCopy> = rows.collect::<Result<_, _>>()?;
        Ok((changes.len() <= limit).then_some(changes))
    }
    fn register_reconciled(&mut self, source: &str, basis: &str) -> Result<(), StoreError> {
        self.in_transaction()?;
        let mailbox = self.mailbox_id(source)?;
        self.conn
            .prepare_cached("DELETE FROM register_changes WHERE mailbox = ?1")?
            .execute(params![mailbox])?;
        self.conn
            .prepare_cached("UPDATE mailboxes SET register_basis = ?2 WHERE id = ?1")?
            .execute(params![mailbox, basis])?;
        self.maybe_commit()
    }
    fn sensitive_copies(
        &self,
        source: &str,
        of: &[ChangedCopy],
        visit: &mut dyn FnMut(StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(());
        };
        let touched = crate::store::TouchedMessages::new(source, of);
        // The mailbox's messages with findings, by what tells them apart
        // only (the findings are few beside the messages), then those wanted
        // read whole.
        let ids: Vec<i64> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT DISTINCT m.id, m.message_id, m.folder, m.key
                 FROM findings f JOIN messages m ON m.id = f.message
                 WHERE f.mailbox = ?1 ORDER BY m.id",
            )?;
            let mut rows = stmt.query(params![mailbox])?;
            let mut ids = Vec::new();
            while let Some(r) = rows.next()? {
                let (message_id, folder, key): (String, String, String) =
                    (r.get(1)?, r.get(2)?, r.get(3)?);
                if touched.touches(&message_id, &folder, &key) {
                    ids.push(r.get(0)?);
                }
            }
            ids
        };
        for id in ids {
            self.messages_where(source, super::inventory::Which::One(id), &mut |_, m| {
                visit(m)
            })?;
        }
        Ok(())
    }
    fn each_finding_set(
        &self,
        source: &str,
        visit: &mut crate::store::FindingSetVisitor<'_>,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.message, m.received, m.date_header, f.detector, f.location, f.masked,
                    f.fingerprint, f.confidence
             FROM findings f JOIN messages m ON m.id = f.message
             WHERE f.mailbox = ?1 ORDER BY f.message",
        )?;
        let mut rows = stmt.query(params![mailbox])?;
        let mut current: Option<(i64, Option<DateTime<Utc>>)> = None;
        let mut findings: Vec<Finding> = Vec::new();
        while let Some(r) = rows.next()? {
            let message: i64 = r.get(0)?;
            if let Some((m, date)) = current
                && m != message
            {
                visit(date, &findings);
                findings.clear();
            }
            if current.is_none_or(|(m, _)| m != message) {
                current = Some((message, from_ts(r.get(1)?).or(from_ts(r.get(2)?))));
            }
            let (Some(detector), Some(location)) = (
                crate::model::DetectorId::parse(&r.get::<_, String>(3)?),
                crate::model::Location::parse(&r.get::<_, String>(4)?),
            ) else {
                continue;
            };
            findings.push(Finding {
                detector,
                location,
                masked: r.get(5)?,
                fingerprint: r.get(6)?,
                confidence: r.get::<_, f64>(7)? as f32,
            });
        }
        if let Some((_, date)) = current {
            visit(date, &findings);
        }
        Ok(())
    }
    fn handle_deviations(&mut self, ids: &[String], on: NaiveDate) -> Result<(), StoreError> {
        self.flush()?;
        self.durably(|tx| {
            for id in ids {
                let data: Option<String> = tx
                    .query_row(
                        "SELECT data FROM deviations WHERE id = ?1",
                        params![id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(d) = data.and_then(|d| serde_json::from_str::<Deviation>(&d).ok()) else {
                    continue;
                };
                insert_deviation(
                    tx,
                    &Deviation {
                        status: crate::register::DeviationStatus::Handled,
                        handled_on: Some(on),
                        ..d
                    },
                )?;
            }
            Ok(())
        })
    }
    fn judgement_version(&mut self, digest: &str) -> Result<i64, StoreError> {
        self.flush()?;
        self.conn.execute(
            "INSERT INTO judgements (digest) VALUES (?1) ON CONFLICT (digest) DO NOTHING",
            params![digest],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM judgements WHERE digest = ?1",
            params![digest],
            |r| r.get(0),
        )?)
    }
    fn known_judgement_version(&self, digest: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM judgements WHERE digest = ?1",
                params![digest],
                |r| r.get(0),
            )
            .optional()?)
    }
    fn judge_stored(
        &mut self,
        source: &str,
        version: i64,
        judge: &mut dyn FnMut(&MessageReport) -> Judgement,
    ) -> Result<u64, StoreError> {
        self.judge_batches(source, version, judge)
    }
    fn stored_counts(
        &self,
        source: &str,
        version: i64,
        as_of: NaiveDate,
    ) -> Result<StoredCounts, StoreError> {
        self.counts_by_query(source, version, as_of)
    }
    fn distinct_values(&self, sources: &[String], detectors: &[String]) -> Result<u64, StoreError> {
        if sources.is_empty() || detectors.is_empty() {
            return Ok(0);
        }
        let marks = |n: usize, from: usize| {
            (from..from + n)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT count(DISTINCT f.fingerprint) FROM findings f
             JOIN messages m ON m.id = f.message
             JOIN mailboxes b ON b.id = m.mailbox
             WHERE b.source IN ({}) AND f.detector IN ({}) AND f.fingerprint <> ''",
            marks(sources.len(), 1),
            marks(detectors.len(), sources.len() + 1)
        );
        let count: i64 = self.conn.query_row(
            &sql,
            rusqlite::params_from_iter(sources.iter().chain(detectors)),
            |r| r.get(0),
        )?;
        Ok(count.max(0) as u64)
    }
    fn save_deviations(&mut self, source: &str, list: &[Deviation]) -> Result<(), StoreError> {
        self.durably(|tx| {
            tx.execute("DELETE FROM deviations WHERE source = ?1", params![source])?;
            for d in list {
                insert_deviation(tx, d)?;
            }
            Ok(())
        })
    }
}

impl SqliteStore {
    /// `judge_stored` and `stored_counts` of the [`History`] trait.
    pub(super) fn judge_batches(
        &mut self,
        source: &str,
        version: i64,
        judge: &mut dyn FnMut(&MessageReport) -> Judgement,
    ) -> Result<u64, StoreError> {
        self.flush()?;
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(0);
        };
        // Judged under other rules (or mixed): all of it again, once.
        let judged_with: Option<i64> = self.conn.query_row(
            "SELECT judged_with FROM mailboxes WHERE id = ?1",
            params![mailbox],
            |r| r.get(0),
        )?;
        if judged_with != Some(version) {
            self.durably(|tx| {
                tx.execute(
                    "UPDATE messages SET judged = NULL
                     WHERE mailbox = ?1 AND judged IS NOT NULL AND judged != ?2",
                    params![mailbox, version],
                )?;
                tx.execute(
                    "UPDATE mailboxes SET judged_with = ?2 WHERE id = ?1",
                    params![mailbox, version],
                )?;
                Ok(())
            })?;
            self.judged_with.insert(mailbox, Some(version));
        }
        let mut judged = 0u64;
        let mut after = 0i64;
        loop {
            // A batch read, then written: the reader is done before the
            // writes begin, and memory holds one batch.
            let mut batch: Vec<(i64, Judgement)> = Vec::new();
            self.messages_where(
                source,
                super::inventory::Which::Unjudged(version, after),
                &mut |id, m| {
                    batch.push((id, judge(&m.report)));
                    Ok(())
                },
            )?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            after = last;
            judged += batch.len() as u64;
            self.durably(|tx| {
                let mut update = tx.prepare_cached(
                    "UPDATE messages SET judged = ?2, stale_rule = ?3, stale_from = ?4, unreadable = ?5
                     WHERE id = ?1 AND mailbox = ?6",
                )?;
                for (id, j) in &batch {
                    update.execute(params![
                        id,
                        j.version,
                        j.stale.as_ref().map(|(rule, _)| rule.as_str()),
                        j.stale.as_ref().map(|(_, day)| day.to_string()),
                        j.unreadable,
                        mailbox
                    ])?;
                }
                Ok(())
            })?;
        }
        Ok(judged)
    }

    pub(super) fn counts_by_query(
        &self,
        source: &str,
        version: i64,
        as_of: NaiveDate,
    ) -> Result<StoredCounts, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(StoredCounts::default());
        };
        let as_of = as_of.to_string();
        // One pass over the covering index `messages_counted`, grouped by
        // its own order (the rule): whether stale is counted inside, so
        // nothing is sorted.
        let mut counts = StoredCounts::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT stale_rule, count(*), coalesce(sum(stale_from <= ?2), 0),
                    coalesce(sum(size), 0),
                    min(CASE WHEN stale_from <= ?2 THEN coalesce(received, date_header) END),
                    coalesce(sum(unreadable), 0), coalesce(sum(judged IS NOT ?3), 0)
             FROM messages INDEXED BY messages_counted
             WHERE mailbox = ?1 GROUP BY stale_rule",
        )?;
        let mut rows = stmt.query(params![mailbox, as_of, version])?;
        while let Some(r) = rows.next()? {
            counts.add_group(crate::store::CountedGroup {
                rule: r.get(0)?,
                messages: r.get(1)?,
                stale: r.get(2)?,
                bytes: r.get(3)?,
                oldest_stale: r.get(4)?,
                unreadable: r.get(5)?,
                unjudged: r.get(6)?,
            });
        }
        Ok(counts)
    }
}

/// Writes one deviation of the register (replacing one with its id).
fn insert_deviation(conn: &rusqlite::Connection, d: &Deviation) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO deviations (id, source, status, data, identity, first_seen, action, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, status = excluded.status,
           data = excluded.data, identity = excluded.identity, first_seen = excluded.first_seen,
           action = excluded.action, digest = excluded.digest",
    )?
    .execute(params![
        d.id,
        d.source,
        d.status.as_str(),
        serde_json::to_string(d).unwrap_or_else(|_| "{}".into()),
        crate::register::identity(d),
        d.first_seen.to_string(),
        d.action,
        crate::register::entry_digest(d)
    ])?;
    Ok(())
}
