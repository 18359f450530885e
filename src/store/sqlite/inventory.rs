//! The inventory: mailboxes, messages, cursors, sightings.

use super::*;

// What an IMAP rescan asks of a folder (`Sighting::FolderState`), each an
// index range over the rows with a UID (`messages_by_uid`,
// `messages_flagged`): a test reads their query plans.

/// Rows of another UIDVALIDITY, each side of it (`!=` or an `OR` would walk
/// the whole folder).
pub(super) const OTHER_VALIDITY: [&str; 2] = [
    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid IS NOT NULL
     AND uid_validity < ?3",
    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid IS NOT NULL
     AND uid_validity > ?3",
];
/// Rows above the last UID read that this run did not read.
pub(super) const GONE_ABOVE: &str =
    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid_validity = ?3
     AND uid > ?4 AND read_run != ?5";
/// The same, for a server that gave no UIDVALIDITY.
pub(super) const GONE_ABOVE_NO_VALIDITY: &str =
    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND uid_validity IS NULL
     AND uid > ?3 AND read_run != ?4";
/// The flagged few at or below the last UID read.
pub(super) const WAS_FLAGGED: &str = "SELECT id, uid FROM messages INDEXED BY messages_flagged
     WHERE mailbox = ?1 AND folder = ?2 AND flagged AND uid IS NOT NULL AND uid <= ?3";
/// Every row at or below the last UID read (when the server listed what is present).
pub(super) const STORED_UP_TO: &str = "SELECT id, uid, flagged FROM messages
     WHERE mailbox = ?1 AND folder = ?2 AND uid IS NOT NULL AND uid <= ?3";

impl Inventory for SqliteStore {
    fn register_mailbox(&mut self, m: &MailboxRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO mailboxes (source, owner, address, department) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source) DO UPDATE SET
               owner = coalesce(excluded.owner, owner),
               address = coalesce(excluded.address, address),
               department = coalesce(excluded.department, department)",
            params![m.source, m.owner, m.address, m.department],
        )?;
        Ok(())
    }
    fn mailbox_scanned(
        &mut self,
        source: &str,
        at: DateTime<Utc>,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.flush()?;
        self.conn.execute(
            "INSERT INTO mailboxes (source, last_scan, last_status, last_error) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source) DO UPDATE SET
               last_scan = excluded.last_scan, last_status = excluded.last_status,
               last_error = excluded.last_error",
            params![source, at.to_rfc3339(), status, error],
        )?;
        Ok(())
    }
    fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT source, owner, address, last_scan, last_status, last_error, department, not_mail,
                    throttled_ms, paced_ms
             FROM mailboxes ORDER BY source",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MailboxRecord {
                source: r.get(0)?,
                owner: r.get(1)?,
                address: r.get(2)?,
                last_scan: r.get(3)?,
                last_status: r.get(4)?,
                last_error: r.get(5)?,
                department: r.get(6)?,
                not_mail: r
                    .get::<_, Option<String>>(7)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                waited: crate::store::Waited {
                    throttled: std::time::Duration::from_millis(r.get::<_, i64>(8)?.max(0) as u64),
                    paced: std::time::Duration::from_millis(r.get::<_, i64>(9)?.max(0) as u64),
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn resume(&self, source: &str) -> Result<Resume, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT folder, uid_validity, last_uid, server_name FROM cursors WHERE source = ?1",
        )?;
        let mut resume = Resume::default();
        let rows = stmt.query_map(params![source], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Cursor {
                    uid_validity: r.get(1)?,
                    last_uid: r.get(2)?,
                },
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (folder, cursor, server_name) = row?;
            if let Some(name) = server_name {
                resume.server_names.insert(folder.clone(), name);
            }
            resume.cursors.insert(folder, cursor);
        }
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(resume);
        };
        let mut stmt = self.conn.prepare(
            "SELECT folder, count(*) FROM messages WHERE mailbox = ?1 AND uid IS NOT NULL GROUP BY folder",
        )?;
        let rows = stmt.query_map(params![mailbox], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (folder, n) = row?;
            resume.stored.insert(folder, n.max(0) as u64);
        }
        let again: Vec<&str> = ProblemKind::ALL
            .into_iter()
            .filter(|k| k.read_again())
            .map(ProblemKind::as_str)
            .collect();
        // Problems are few and messages many: walk the problems (CROSS JOIN
        // keeps SQLite from choosing the other order).
        let mut stmt = self.conn.prepare(&format!(
            "SELECT DISTINCT m.folder, m.uid FROM problems p CROSS JOIN messages m ON m.id = p.message \
             WHERE m.mailbox = ?1 AND m.uid IS NOT NULL AND p.kind IN ({}) ORDER BY m.folder, m.uid",
            again.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(",")
        ))?;
        let rows = stmt.query_map(params![mailbox], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })?;
        for row in rows {
            let (folder, uid) = row?;
            resume.unread.entry(folder).or_default().push(uid);
        }
        Ok(resume)
    }
    fn known_local(&self, source: &str) -> Result<KnownLocal, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(KnownLocal::new());
        };
        let mut stmt = self.conn.prepare(
            "SELECT folder, key, flagged, position FROM messages WHERE mailbox = ?1 AND uid IS NULL",
        )?;
        let mut rows = stmt.query(params![mailbox])?;
        let mut known = KnownLocal::new();
        while let Some(r) = rows.next()? {
            let folder: String = r.get(0)?;
            let state = KnownMessage {
                flagged: r.get(2)?,
                position: r.get::<_, i64>(3)?.max(0) as u64,
            };
            let keys = match known.get_mut(&folder) {
                Some(keys) => keys,
                None => known.entry(folder).or_default(),
            };
            keys.insert(r.get(1)?, state);
        }
        Ok(known)
    }
    fn known_local_in(&self, source: &str, folders: &[&str]) -> Result<KnownLocal, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(KnownLocal::new());
        };
        let mut known = KnownLocal::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, flagged, position FROM messages
             WHERE mailbox = ?1 AND folder = ?2 AND uid IS NULL",
        )?;
        for folder in folders {
            let keys = known.entry(folder.to_string()).or_default();
            let mut rows = stmt.query(params![mailbox, folder])?;
            while let Some(r) = rows.next()? {
                keys.insert(
                    r.get(0)?,
                    KnownMessage {
                        flagged: r.get(1)?,
                        position: r.get::<_, i64>(2)?.max(0) as u64,
                    },
                );
            }
        }
        Ok(known)
    }
    fn folder_stamps(&self, source: &str) -> Result<HashMap<String, String>, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(HashMap::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT folder, stamp FROM folder_stamps WHERE mailbox = ?1")?;
        let rows = stmt.query_map(params![mailbox], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn record_judged(
        &mut self,
        run: RunId,
        source: &str,
        report: &MessageReport,
        judgement: Option<&Judgement>,
    ) -> Result<(), StoreError> {
        self.in_transaction()?;
        let mailbox = self.mailbox_id(source)?;
        let meta = &report.meta;
        if let (Some(uid), Some(validity)) = (meta.uid, meta.uid_validity) {
            let current: Option<u32> = self
                .conn
                .prepare_cached(
                    "SELECT uid_validity FROM cursors WHERE source = ?1 AND folder = ?2",
                )?
                .query_row(params![source, meta.folder], |r| r.get(0))
                .optional()?;
            if current.is_some_and(|v| v != validity) {
                self.delete_folder(mailbox, &meta.folder)?;
            }
            self.conn
                .prepare_cached(
                    "INSERT INTO cursors (source, folder, uid_validity, last_uid, run, server_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (source, folder) DO UPDATE SET
                       last_uid = CASE WHEN uid_validity = excluded.uid_validity
                                       THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
                       uid_validity = excluded.uid_validity, run = excluded.run,
                       server_name = coalesce(excluded.server_name, server_name)",
                )?
                .execute(params![source, meta.folder, validity, uid, run, meta.server_folder])?;
        }
        if let Some(j) = judgement {
            self.note_judged(mailbox, j.version)?;
        }
        let key = meta.key();
        let env = &report.envelope;
        // Insert first: on a first scan there is nothing to replace, and a
        // lookup per message would cost as much as the insert.
        let insert = "INSERT INTO messages (mailbox, folder, key, uid_validity, uid, position, server_folder,
                   message_id, received, date_header, size, flagged, sender, sender_name, recipients,
                   subject, read_run, seen_run, signals, organisations, judged, stale_rule, stale_from, unreadable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17, ?18, ?19,
                         ?20, ?21, ?22, ?23)
                 ON CONFLICT (mailbox, folder, key) DO NOTHING";
        let values = params![
            mailbox,
            meta.folder,
            key,
            meta.uid_validity,
            meta.uid,
            meta.uid.map_or(meta.position, u64::from) as i64,
            meta.server_folder,
            env.message_id,
            ts(meta.received),
            ts(env.date_header),
            meta.size as i64,
            meta.flagged,
            join_lines(&env.from),
            env.from_name,
            join_lines(&env.to),
            env.subject,
            run,
            report.signals.flag_bits(),
            report.signals.organisations.join(" "),
            judgement.map(|j| j.version),
            judgement.and_then(|j| j.stale.as_ref().map(|(rule, _)| rule.as_str())),
            judgement.and_then(|j| j.stale.as_ref().map(|(_, day)| day.to_string())),
            judgement.is_some_and(|j| j.unreadable),
        ];
        if self.conn.prepare_cached(insert)?.execute(values)? == 0 {
            // Read before: replaced, with its findings and problems.
            self.conn
                .prepare_cached(
                    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND key = ?3",
                )?
                .execute(params![mailbox, meta.folder, key])?;
            self.conn.prepare_cached(insert)?.execute(values)?;
        }
        let id = self.conn.last_insert_rowid();
        for f in &report.findings {
            self.conn
                .prepare_cached(
                    "INSERT INTO findings (message, detector, location, masked, fingerprint, confidence, mailbox)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    id,
                    f.detector.to_string(),
                    f.location.to_string(),
                    f.masked,
                    f.fingerprint,
                    f64::from(f.confidence),
                    mailbox
                ])?;
        }
        for p in &report.problems {
            self.conn
                .prepare_cached(
                    "INSERT INTO problems (message, location, kind, mailbox) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, p.location.to_string(), p.kind.as_str(), mailbox])?;
        }
        self.maybe_commit()
    }
    fn sighting(&mut self, run: RunId, source: &str, seen: &Sighting) -> Result<(), StoreError> {
        self.in_transaction()?;
        let mailbox = self.mailbox_id(source)?;
        match seen {
            Sighting::Present {
                folder,
                key,
                flagged,
                position,
            } => {
                self.conn
                    .prepare_cached(
                        "UPDATE messages SET judged = CASE WHEN flagged = ?1 THEN judged END,
                           flagged = ?1, position = ?2, seen_run = ?3
                         WHERE mailbox = ?4 AND folder = ?5 AND key = ?6",
                    )?
                    .execute(params![
                        flagged,
                        *position as i64,
                        run,
                        mailbox,
                        folder,
                        key
                    ])?;
            }
            Sighting::NotMail { names } => {
                self.conn.execute(
                    "UPDATE mailboxes SET not_mail = ?1 WHERE id = ?2",
                    params![
                        serde_json::to_string(names).unwrap_or_else(|_| "[]".into()),
                        mailbox
                    ],
                )?;
            }
            Sighting::Waited { throttled, paced } => {
                let ms = |d: &std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                self.conn.execute(
                    "UPDATE mailboxes SET throttled_ms = ?1, paced_ms = ?2 WHERE id = ?3",
                    params![ms(throttled), ms(paced), mailbox],
                )?;
            }
            Sighting::FolderListed {
                folder,
                gone,
                stamp,
            } => {
                for key in gone {
                    self.conn
                        .prepare_cached(
                            "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND key = ?3",
                        )?
                        .execute(params![mailbox, folder, key])?;
                }
                match stamp {
                    Some(stamp) => self
                        .conn
                        .prepare_cached(
                            "INSERT INTO folder_stamps (mailbox, folder, stamp) VALUES (?1, ?2, ?3)
                             ON CONFLICT (mailbox, folder) DO UPDATE SET stamp = excluded.stamp",
                        )?
                        .execute(params![mailbox, folder, stamp])?,
                    None => self
                        .conn
                        .prepare_cached(
                            "DELETE FROM folder_stamps WHERE mailbox = ?1 AND folder = ?2",
                        )?
                        .execute(params![mailbox, folder])?,
                };
            }
            Sighting::FolderState {
                folder,
                uid_validity,
                upto,
                present,
                flagged,
            } => {
                // Each an index range (`messages_by_uid`, which holds only
                // rows with a UID): `!=` (or an `OR`) would walk the whole
                // folder, each side alone does not.
                for other_validity in OTHER_VALIDITY {
                    self.conn.prepare_cached(other_validity)?.execute(params![
                        mailbox,
                        folder,
                        uid_validity
                    ])?;
                }
                // Above `upto` the run read every message there is (a new
                // folder, a --full scan): what it did not read is gone.
                self.conn.prepare_cached(GONE_ABOVE)?.execute(params![
                    mailbox,
                    folder,
                    uid_validity,
                    upto,
                    run
                ])?;
                self.conn
                    .prepare_cached(GONE_ABOVE_NO_VALIDITY)?
                    .execute(params![mailbox, folder, upto, run])?;
                let flagged: HashSet<u32> = flagged.iter().copied().collect();
                match present {
                    // Nothing gone: only flags that changed are written.
                    None => {
                        let was_flagged: Vec<(i64, u32)> = {
                            let mut stmt = self.conn.prepare_cached(WAS_FLAGGED)?;
                            let rows = stmt.query_map(params![mailbox, folder, upto], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })?;
                            rows.collect::<Result<_, _>>()?
                        };
                        for (id, uid) in &was_flagged {
                            if !flagged.contains(uid) {
                                self.conn
                                    .prepare_cached("UPDATE messages SET flagged = 0, judged = NULL, seen_run = ?1 WHERE id = ?2")?
                                    .execute(params![run, id])?;
                            }
                        }
                        let was: HashSet<u32> = was_flagged.iter().map(|(_, uid)| *uid).collect();
                        for uid in flagged.iter().filter(|u| !was.contains(u)) {
                            self.conn
                                .prepare_cached(
                                    "UPDATE messages SET flagged = 1, judged = NULL, seen_run = ?1
                                     WHERE mailbox = ?2 AND folder = ?3 AND key = ?4 AND NOT flagged",
                                )?
                                .execute(params![run, mailbox, folder, uid.to_string()])?;
                        }
                    }
                    Some(present) => {
                        let present: HashSet<u32> = present.iter().copied().collect();
                        let stored: Vec<(i64, u32, bool)> = {
                            let mut stmt = self.conn.prepare_cached(STORED_UP_TO)?;
                            let rows = stmt.query_map(params![mailbox, folder, upto], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                            })?;
                            rows.collect::<Result<_, _>>()?
                        };
                        for (id, uid, was_flagged) in stored {
                            if !present.contains(&uid) {
                                self.conn
                                    .prepare_cached("DELETE FROM messages WHERE id = ?1")?
                                    .execute(params![id])?;
                            } else if flagged.contains(&uid) != was_flagged {
                                self.conn
                                    .prepare_cached(
                                        "UPDATE messages SET flagged = ?1, judged = NULL, seen_run = ?2 WHERE id = ?3",
                                    )?
                                    .execute(params![!was_flagged, run, id])?;
                            }
                        }
                    }
                }
            }
            Sighting::Folders { names } => {
                let names: HashSet<&str> = names.iter().map(String::as_str).collect();
                let stored: Vec<String> = {
                    // The distinct folders by skipping from one to the next
                    // in `messages_by_key` (a lookup per folder), not by
                    // reading every message's entry.
                    let mut stmt = self.conn.prepare_cached(
                        "WITH RECURSIVE f(folder) AS (
                           SELECT min(folder) FROM messages WHERE mailbox = ?1
                           UNION ALL
                           SELECT (SELECT min(m.folder) FROM messages m WHERE m.mailbox = ?1 AND m.folder > f.folder)
                           FROM f WHERE f.folder IS NOT NULL)
                         SELECT folder FROM f WHERE folder IS NOT NULL
                         UNION SELECT folder FROM cursors WHERE source = ?2
                         UNION SELECT folder FROM folder_stamps WHERE mailbox = ?1",
                    )?;
                    let rows = stmt.query_map(params![mailbox, source], |r| r.get(0))?;
                    rows.collect::<Result<_, _>>()?
                };
                for folder in stored.iter().filter(|f| !names.contains(f.as_str())) {
                    self.delete_folder(mailbox, folder)?;
                    self.conn.execute(
                        "DELETE FROM cursors WHERE source = ?1 AND folder = ?2",
                        params![source, folder],
                    )?;
                }
            }
        }
        self.maybe_commit()
    }
    fn forget(&mut self, source: &str, messages: &[(String, String)]) -> Result<(), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(());
        };
        self.in_transaction()?;
        for (folder, key) in messages {
            self.conn
                .prepare_cached(
                    "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND key = ?3",
                )?
                .execute(params![mailbox, folder, key])?;
        }
        self.flush()
    }
    fn each_message(
        &self,
        source: &str,
        read_in: Option<RunId>,
        visit: &mut dyn FnMut(StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let which = match read_in {
            Some(run) => Which::ReadIn(run),
            None => Which::All,
        };
        self.messages_where(source, which, &mut |_, m| visit(m))
    }
    fn sensitive_batch(
        &self,
        source: &str,
        after: i64,
        visit: &mut dyn FnMut(i64, StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        self.messages_where(source, Which::Sensitive(after), visit)
    }
    fn counts(&self, source: &str) -> Result<(u64, u64, u64), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok((0, 0, 0));
        };
        let count = |sql: &str| -> Result<u64, StoreError> {
            Ok(self
                .conn
                .query_row(sql, params![mailbox], |r| r.get::<_, i64>(0))?
                .max(0) as u64)
        };
        Ok((
            count("SELECT count(*) FROM messages WHERE mailbox = ?1")?,
            count(
                "SELECT count(*) FROM findings f JOIN messages m ON m.id = f.message WHERE m.mailbox = ?1",
            )?,
            count(
                "SELECT count(*) FROM problems p JOIN messages m ON m.id = p.message WHERE m.mailbox = ?1",
            )?,
        ))
    }
    fn holds_messages(&self, source: &str) -> Result<bool, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(false);
        };
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox = ?1)",
            params![mailbox],
            |r| r.get(0),
        )?)
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending > 0 {
            self.conn.execute_batch("COMMIT")?;
            self.pending = 0;
        }
        Ok(())
    }
}

/// Which messages [`SqliteStore::messages_where`] reads; conditions on the
/// messages table as `m`, with `?2` and `?3` as their parameters.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which {
    All,
    /// Read (not only seen) in this run.
    ReadIn(RunId),
    /// Holding at least one finding, with ids above this, the first few
    /// hundred by id.
    Sensitive(i64),
    /// Not judged (under the mailbox's judgement version, the first value),
    /// with ids above the second, the first few hundred by id.
    Unjudged(i64, i64),
    /// The one message with this id.
    One(i64),
}

impl Which {
    /// The messages' condition, the mailbox included (how it is written
    /// decides which index drives the query).
    fn condition(self) -> &'static str {
        match self {
            Which::All => "m.mailbox = ?1 AND ?2 IS NULL AND ?3 IS NULL",
            Which::ReadIn(_) => "m.mailbox = ?1 AND m.read_run = ?2 AND ?3 IS NULL",
            // Driven by the mailbox's findings, not its messages.
            Which::Sensitive(_) => {
                "+m.mailbox = ?1 AND m.id IN (SELECT DISTINCT x.message FROM findings x WHERE x.mailbox = ?1 AND x.message > ?3 ORDER BY x.message LIMIT 512) AND ?2 IS NULL"
            }
            // Driven by the index of what is not judged.
            Which::Unjudged(..) => {
                "m.mailbox = ?1 AND m.judged IS NULL AND m.id > ?3 AND ?2 IS NOT NULL"
            }
            Which::One(_) => "m.mailbox = ?1 AND m.id = ?2 AND ?3 IS NULL",
        }
    }
    /// The condition on the messages of findings and problems already
    /// chosen by mailbox.
    fn part_condition(self) -> &'static str {
        match self {
            Which::All => "?2 IS NULL AND ?3 IS NULL",
            Which::Sensitive(_) => {
                "m.id IN (SELECT DISTINCT x.message FROM findings x WHERE x.mailbox = ?1 AND x.message > ?3 ORDER BY x.message LIMIT 512) AND ?2 IS NULL"
            }
            Which::ReadIn(_) => "m.read_run = ?2 AND ?3 IS NULL",
            Which::Unjudged(..) => {
                "m.id IN (SELECT u.id FROM messages u WHERE u.mailbox = ?1 AND u.judged IS NULL AND u.id > ?3 ORDER BY u.id LIMIT 512) AND ?2 IS NOT NULL"
            }
            Which::One(_) => "m.id = ?2 AND ?3 IS NULL",
        }
    }
    /// The messages table with the index each selection is read through:
    /// the planner cannot tell that a run read few messages, and would
    /// walk the whole mailbox in order to skip the rest.
    fn table(self) -> &'static str {
        match self {
            Which::All => "messages m INDEXED BY messages_in_order",
            Which::ReadIn(_) => "messages m INDEXED BY messages_by_read_run",
            Which::Sensitive(_) | Which::Unjudged(..) | Which::One(_) => "messages m",
        }
    }
    fn order(self) -> &'static str {
        match self {
            Which::Unjudged(..) => "ORDER BY m.id LIMIT 512",
            Which::Sensitive(_) | Which::One(_) => "ORDER BY m.id",
            _ => "ORDER BY folder != 'INBOX', folder, position, key",
        }
    }
    fn first(self) -> Option<i64> {
        match self {
            Which::All | Which::Sensitive(_) => None,
            Which::ReadIn(run) => Some(run),
            Which::Unjudged(version, _) => Some(version),
            Which::One(id) => Some(id),
        }
    }
    fn second(self) -> Option<i64> {
        match self {
            Which::Unjudged(_, after) | Which::Sensitive(after) => Some(after),
            Which::All | Which::ReadIn(_) | Which::One(_) => None,
        }
    }
}

impl SqliteStore {
    /// The messages of `source` that `which` selects, in the order a scan
    /// reads them (by id for judging), each with its row id; findings and
    /// problems are read for the same messages only.
    pub(super) fn messages_where(
        &self,
        source: &str,
        which: Which,
        visit: &mut dyn FnMut(i64, StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(());
        };
        // Findings and problems are few beside messages: read them first,
        // then stream the messages in one ordered pass.
        let mut findings: HashMap<i64, Vec<Finding>> = HashMap::new();
        {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT f.message, f.detector, f.location, f.masked, f.fingerprint, f.confidence
                 FROM findings f JOIN messages m ON m.id = f.message
                 WHERE f.mailbox = ?1 AND {} ORDER BY f.rowid",
                which.part_condition()
            ))?;
            let mut rows = stmt.query(params![mailbox, which.first(), which.second()])?;
            while let Some(r) = rows.next()? {
                let (Some(detector), Some(location)) = (
                    DetectorId::parse(&r.get::<_, String>(1)?),
                    Location::parse(&r.get::<_, String>(2)?),
                ) else {
                    continue;
                };
                findings.entry(r.get(0)?).or_default().push(Finding {
                    detector,
                    location,
                    masked: r.get(3)?,
                    fingerprint: r.get(4)?,
                    confidence: r.get::<_, f64>(5)? as f32,
                });
            }
        }
        let mut problems: HashMap<i64, Vec<Problem>> = HashMap::new();
        {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT p.message, p.location, p.kind FROM problems p JOIN messages m ON m.id = p.message
                 WHERE p.mailbox = ?1 AND {} ORDER BY p.rowid",
                which.part_condition()
            ))?;
            let mut rows = stmt.query(params![mailbox, which.first(), which.second()])?;
            while let Some(r) = rows.next()? {
                let (Some(location), Some(kind)) = (
                    Location::parse(&r.get::<_, String>(1)?),
                    ProblemKind::parse(&r.get::<_, String>(2)?),
                ) else {
                    continue;
                };
                problems
                    .entry(r.get(0)?)
                    .or_default()
                    .push(Problem { location, kind });
            }
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT m.id, folder, key, uid_validity, uid, position, server_folder, message_id, received,
                    date_header, size, flagged, sender, sender_name, recipients, subject, signals, organisations,
                    judged, stale_rule, stale_from, unreadable
             FROM {} WHERE {} {}",
            which.table(),
            which.condition(),
            which.order()
        ))?;
        let mut rows = stmt.query(params![mailbox, which.first(), which.second()])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let uid: Option<u32> = r.get(4)?;
            let key: String = r.get(2)?;
            let received = from_ts(r.get(8)?);
            let date_header = from_ts(r.get(9)?);
            let meta = MessageMeta {
                folder: r.get(1)?,
                uid,
                uid_validity: r.get(3)?,
                server_folder: r.get(6)?,
                received,
                flagged: r.get(11)?,
                size: r.get::<_, i64>(10)?.max(0) as u64,
                origin: String::new(),
                local_key: if uid.is_none() { Some(key) } else { None },
                position: r.get::<_, i64>(5)?.max(0) as u64,
            };
            let envelope = Envelope {
                message_id: r.get(7)?,
                date_header,
                from: split_lines(&r.get::<_, String>(12)?),
                from_name: r.get(13)?,
                to: split_lines(&r.get::<_, String>(14)?),
                subject: r.get(15)?,
            };
            let report = MessageReport {
                date: received.or(date_header),
                meta,
                envelope,
                findings: findings.remove(&id).unwrap_or_default(),
                stale: None,
                problems: problems.remove(&id).unwrap_or_default(),
                signals: TextSignals::from_store(r.get(16)?, &r.get::<_, String>(17)?),
            };
            let judgement = r.get::<_, Option<i64>>(18)?.map(|version| Judgement {
                version,
                stale: r
                    .get::<_, Option<String>>(19)
                    .ok()
                    .flatten()
                    .zip(r.get::<_, Option<String>>(20).ok().flatten())
                    .and_then(|(rule, day)| Some((rule, day.parse().ok()?))),
                unreadable: r.get::<_, bool>(21).unwrap_or(false),
            });
            visit(
                id,
                StoredMessage {
                    source: source.to_string(),
                    report,
                    judgement,
                },
            )
            .map_err(|e| StoreError::Invalid(format!("writing the report: {e}")))?;
        }
        Ok(())
    }
}
