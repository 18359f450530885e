//! The inventory and the compliance history on PostgreSQL: the SQLite
//! store's statements in PostgreSQL's dialect, message for message the
//! same rows. A scan's writes are batched in one transaction of up to
//! [`COMMIT_EVERY`] messages, as SQLite batches them.

use super::*;
use crate::model::{
    DetectorId, Envelope, Finding, Location, MessageMeta, Problem, ProblemKind, TextSignals,
};
use crate::register::Deviation;
use crate::store::columns::{join_lines, split_lines};

/// Messages per transaction while a scan records.
const COMMIT_EVERY: usize = 8192;
/// Messages written per statement.
const BUFFER_ROWS: usize = 1024;

/// Messages recorded and not yet written, in the order recorded; a message
/// recorded twice keeps its place and its last record.
#[derive(Default)]
pub(super) struct Buffer {
    rows: Vec<Buffered>,
    index: HashMap<(i64, String, String), usize>,
    /// Each IMAP folder's UIDVALIDITY as the records so far left it.
    validity: HashMap<(String, String), i64>,
}

/// One message as its rows will be written.
struct Buffered {
    mailbox: i64,
    folder: String,
    key: String,
    uid_validity: Option<i64>,
    uid: Option<i64>,
    position: i64,
    server_folder: Option<String>,
    message_id: String,
    received: Option<i64>,
    date_header: Option<i64>,
    size: i64,
    flagged: bool,
    sender: String,
    sender_name: String,
    recipients: String,
    subject: String,
    run: i64,
    signals: i64,
    organisations: String,
    judged: Option<i64>,
    stale_rule: Option<String>,
    stale_from: Option<String>,
    unreadable: bool,
    /// detector, location, masked, fingerprint, confidence.
    findings: Vec<(String, String, String, String, f64)>,
    /// location, kind.
    problems: Vec<(String, String)>,
    /// (source, UIDVALIDITY, UID): the cursor this message moves.
    cursor: Option<(String, i64, i64)>,
}

/// Which messages [`PostgresStore::messages_where`] reads.
#[derive(Debug, Clone, Copy)]
enum Which {
    All,
    /// Read (not only seen) in this run.
    ReadIn(RunId),
    /// Holding at least one finding, with ids above this, the first few
    /// hundred by id.
    Sensitive(i64),
    /// Not judged (under the mailbox's version: others were cleared), with
    /// ids above this, the first few hundred by id.
    Unjudged(i64),
    /// The one message with this id.
    One(i64),
}

impl Which {
    /// The condition on messages `m` (`$1` the mailbox, `$2` the value).
    fn condition(self) -> &'static str {
        match self {
            Which::All => "m.mailbox = $1",
            Which::ReadIn(_) => "m.mailbox = $1 AND m.read_run = $2",
            Which::Sensitive(_) => {
                "m.mailbox = $1 AND m.id IN (SELECT DISTINCT x.message FROM findings x
                   WHERE x.mailbox = $1 AND x.message > $2 ORDER BY x.message LIMIT 512)"
            }
            Which::Unjudged(..) => "m.mailbox = $1 AND m.judged IS NULL AND m.id > $2",
            Which::One(_) => "m.mailbox = $1 AND m.id = $2",
        }
    }
    fn order(self) -> &'static str {
        match self {
            Which::Unjudged(..) => "ORDER BY m.id LIMIT 512",
            Which::Sensitive(_) | Which::One(_) => "ORDER BY m.id",
            _ => "ORDER BY (m.folder <> 'INBOX'), m.folder, m.position, m.key",
        }
    }
    fn value(self) -> Option<i64> {
        match self {
            Which::All => None,
            Which::ReadIn(run) => Some(run),
            Which::Sensitive(after) | Which::Unjudged(after) => Some(after),
            Which::One(id) => Some(id),
        }
    }
}

impl PostgresStore {
    /// The id of a mailbox already in the store.
    fn lookup(&self, source: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.ids.borrow().get(source) {
            return Ok(Some(*id));
        }
        let id: Option<i64> = self
            .db()?
            .query_opt("SELECT id FROM mailboxes WHERE source = $1", &[&source])?
            .map(|r| r.get(0));
        if let Some(id) = id {
            self.ids.borrow_mut().insert(source.to_string(), id);
        }
        Ok(id)
    }

    /// The id of a mailbox, added to the store if new.
    fn mailbox_id(&self, source: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.lookup(source)? {
            return Ok(id);
        }
        self.db()?.execute(
            "INSERT INTO mailboxes (source) VALUES ($1) ON CONFLICT (source) DO NOTHING",
            &[&source],
        )?;
        self.lookup(source)?
            .ok_or_else(|| StoreError::Invalid(format!("cannot add the mailbox {source}")))
    }

    /// Begins the scan's batch transaction unless one is open.
    fn in_transaction(&mut self) -> Result<(), StoreError> {
        if self.pending == 0 {
            self.db()?.batch_execute("BEGIN")?;
            self.batch_started = Some(std::time::Instant::now());
        }
        self.pending += 1;
        Ok(())
    }

    fn maybe_commit(&mut self) -> Result<(), StoreError> {
        let too_old = self
            .max_batch_age
            .zip(self.batch_started)
            .is_some_and(|(age, started)| started.elapsed() >= age);
        if self.pending >= COMMIT_EVERY || too_old {
            self.commit_pending()?;
        }
        Ok(())
    }

    pub(super) fn commit_pending(&mut self) -> Result<(), StoreError> {
        if self.pending > 0 {
            self.flush_buffer()?;
            self.pending = 0;
            self.session()?.batch_execute("COMMIT")?;
        }
        Ok(())
    }

    /// Writes the buffered messages (into the open batch transaction): a
    /// statement per table for the whole buffer, not per message.
    pub(super) fn flush_buffer(&self) -> Result<(), StoreError> {
        let rows = {
            let mut buffer = self.buffer.try_borrow_mut().map_err(|_| {
                StoreError::Invalid("the store was used again while it was being written".into())
            })?;
            buffer.index.clear();
            std::mem::take(&mut buffer.rows)
        };
        if rows.is_empty() {
            return Ok(());
        }
        let mut db = self.session()?;
        let column = |f: &dyn Fn(&Buffered) -> String| rows.iter().map(f).collect::<Vec<String>>();
        let mailboxes: Vec<i64> = rows.iter().map(|r| r.mailbox).collect();
        let folders = column(&|r| r.folder.clone());
        let keys = column(&|r| r.key.clone());
        // Read before: replaced, with its findings and problems.
        db.execute(
            "DELETE FROM messages m USING unnest($1::bigint[], $2::text[], $3::text[]) AS d(mailbox, folder, key)
             WHERE m.mailbox = d.mailbox AND m.folder = d.folder AND m.key = d.key",
            &[&mailboxes, &folders, &keys],
        )?;
        let opt =
            |f: &dyn Fn(&Buffered) -> Option<i64>| rows.iter().map(f).collect::<Vec<Option<i64>>>();
        let ints = |f: &dyn Fn(&Buffered) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let texts = |f: &dyn Fn(&Buffered) -> Option<String>| {
            rows.iter().map(f).collect::<Vec<Option<String>>>()
        };
        let bools = |f: &dyn Fn(&Buffered) -> bool| rows.iter().map(f).collect::<Vec<bool>>();
        let inserted = db.query(
            "INSERT INTO messages (mailbox, folder, key, uid_validity, uid, position, server_folder,
               message_id, received, date_header, size, flagged, sender, sender_name, recipients,
               subject, read_run, seen_run, signals, organisations, judged, stale_rule, stale_from, unreadable)
             SELECT mailbox, folder, key, uid_validity, uid, position, server_folder, message_id, received,
                    date_header, size, flagged, sender, sender_name, recipients, subject, run, run, signals,
                    organisations, judged, stale_rule, stale_from, unreadable
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                         $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::boolean[],
                         $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[],
                         $19::text[], $20::bigint[], $21::text[], $22::text[], $23::boolean[])
               AS r(mailbox, folder, key, uid_validity, uid, position, server_folder, message_id, received,
                    date_header, size, flagged, sender, sender_name, recipients, subject, run, signals,
                    organisations, judged, stale_rule, stale_from, unreadable)
             RETURNING id, mailbox, folder, key",
            &[
                &mailboxes,
                &folders,
                &keys,
                &opt(&|r| r.uid_validity),
                &opt(&|r| r.uid),
                &ints(&|r| r.position),
                &texts(&|r| r.server_folder.clone()),
                &column(&|r| r.message_id.clone()),
                &opt(&|r| r.received),
                &opt(&|r| r.date_header),
                &ints(&|r| r.size),
                &bools(&|r| r.flagged),
                &column(&|r| r.sender.clone()),
                &column(&|r| r.sender_name.clone()),
                &column(&|r| r.recipients.clone()),
                &column(&|r| r.subject.clone()),
                &ints(&|r| r.run),
                &ints(&|r| r.signals),
                &column(&|r| r.organisations.clone()),
                &opt(&|r| r.judged),
                &texts(&|r| r.stale_rule.clone()),
                &texts(&|r| r.stale_from.clone()),
                &bools(&|r| r.unreadable),
            ],
        )?;
        let ids: HashMap<(i64, String, String), i64> = inserted
            .iter()
            .map(|r| ((r.get(1), r.get(2), r.get(3)), r.get(0)))
            .collect();
        let id_of = |r: &Buffered| {
            ids.get(&(r.mailbox, r.folder.clone(), r.key.clone()))
                .copied()
                .ok_or_else(|| StoreError::Invalid("a recorded message was not stored".into()))
        };
        let (mut f_message, mut f_detector, mut f_location, mut f_masked, mut f_fingerprint) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut f_confidence, mut f_mailbox) = (Vec::new(), Vec::new());
        let (mut p_message, mut p_location, mut p_kind, mut p_mailbox) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            let id = id_of(r)?;
            for f in &r.findings {
                f_message.push(id);
                f_detector.push(f.0.clone());
                f_location.push(f.1.clone());
                f_masked.push(f.2.clone());
                f_fingerprint.push(f.3.clone());
                f_confidence.push(f.4);
                f_mailbox.push(r.mailbox);
            }
            for p in &r.problems {
                p_message.push(id);
                p_location.push(p.0.clone());
                p_kind.push(p.1.clone());
                p_mailbox.push(r.mailbox);
            }
        }
        if !f_message.is_empty() {
            db.execute(
                "INSERT INTO findings (message, detector, location, masked, fingerprint, confidence, mailbox)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                                      $6::float8[], $7::bigint[])",
                &[
                    &f_message,
                    &f_detector,
                    &f_location,
                    &f_masked,
                    &f_fingerprint,
                    &f_confidence,
                    &f_mailbox,
                ],
            )?;
        }
        if !p_message.is_empty() {
            db.execute(
                "INSERT INTO problems (message, location, kind, mailbox)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
                &[&p_message, &p_location, &p_kind, &p_mailbox],
            )?;
        }
        // Each folder's cursor past what the batch read, in the same
        // transaction as the messages.
        struct Moved<'a> {
            source: &'a str,
            folder: &'a str,
            validity: i64,
            uid: i64,
            run: i64,
            server_folder: Option<&'a str>,
        }
        let mut cursors: Vec<Moved<'_>> = Vec::new();
        for r in &rows {
            let Some((source, validity, uid)) = &r.cursor else {
                continue;
            };
            match cursors
                .iter_mut()
                .find(|c| c.source == source.as_str() && c.folder == r.folder.as_str())
            {
                Some(c) => {
                    c.validity = *validity;
                    c.uid = c.uid.max(*uid);
                    c.run = r.run;
                    if r.server_folder.is_some() {
                        c.server_folder = r.server_folder.as_deref();
                    }
                }
                None => cursors.push(Moved {
                    source,
                    folder: &r.folder,
                    validity: *validity,
                    uid: *uid,
                    run: r.run,
                    server_folder: r.server_folder.as_deref(),
                }),
            }
        }
        for c in cursors {
            db.execute(
                "INSERT INTO cursors (source, folder, uid_validity, last_uid, run, server_name)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (source, folder) DO UPDATE SET
                   last_uid = CASE WHEN cursors.uid_validity = excluded.uid_validity
                                   THEN greatest(cursors.last_uid, excluded.last_uid)
                                   ELSE excluded.last_uid END,
                   uid_validity = excluded.uid_validity, run = excluded.run,
                   server_name = coalesce(excluded.server_name, cursors.server_name)",
                &[
                    &c.source,
                    &c.folder,
                    &c.validity,
                    &c.uid,
                    &c.run,
                    &c.server_folder,
                ],
            )?;
        }
        Ok(())
    }

    /// Keeps `mailboxes.judged_with` true: a judgement of another version
    /// stored in a mailbox makes it mixed (NULL) until the history judges
    /// it again under one.
    fn note_judged(&mut self, mailbox: i64, version: i64) -> Result<(), StoreError> {
        let known = match self.judged_with.get(&mailbox) {
            Some(v) => *v,
            None => self
                .db()?
                .query_one(
                    "SELECT judged_with FROM mailboxes WHERE id = $1",
                    &[&mailbox],
                )?
                .get(0),
        };
        if known.is_some() && known != Some(version) {
            self.db()?.execute(
                "UPDATE mailboxes SET judged_with = NULL WHERE id = $1",
                &[&mailbox],
            )?;
            self.judged_with.insert(mailbox, None);
        } else {
            self.judged_with.insert(mailbox, known);
        }
        Ok(())
    }

    fn delete_folder(&self, mailbox: i64, folder: &str) -> Result<(), StoreError> {
        let mut db = self.db()?;
        db.execute(
            "DELETE FROM messages WHERE mailbox = $1 AND folder = $2",
            &[&mailbox, &folder],
        )?;
        db.execute(
            "DELETE FROM folder_stamps WHERE mailbox = $1 AND folder = $2",
            &[&mailbox, &folder],
        )?;
        Ok(())
    }

    /// The messages of `source` that `which` selects, in the order a scan
    /// reads them (by id for judging), each with its row id; findings and
    /// problems are read for the same messages first (they are few), then
    /// the messages stream in one ordered pass.
    fn messages_where(
        &self,
        source: &str,
        which: Which,
        visit: &mut dyn FnMut(i64, StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(());
        };
        let value = which.value();
        let params: Vec<&(dyn ::postgres::types::ToSql + Sync)> = match &value {
            Some(v) => vec![&mailbox, v],
            None => vec![&mailbox],
        };
        let mut db = self.db()?;
        let mut findings: HashMap<i64, Vec<Finding>> = HashMap::new();
        for r in db.query(
            &format!(
                "SELECT f.message, f.detector, f.location, f.masked, f.fingerprint, f.confidence
                 FROM findings f JOIN messages m ON m.id = f.message
                 WHERE f.mailbox = $1 AND {} ORDER BY f.message, f.seq",
                which.condition()
            ),
            &params,
        )? {
            let (Some(detector), Some(location)) = (
                DetectorId::parse(r.get::<_, &str>(1)),
                Location::parse(r.get::<_, &str>(2)),
            ) else {
                continue;
            };
            findings.entry(r.get(0)).or_default().push(Finding {
                detector,
                location,
                masked: r.get(3),
                fingerprint: r.get(4),
                confidence: r.get::<_, f64>(5) as f32,
            });
        }
        let mut problems: HashMap<i64, Vec<Problem>> = HashMap::new();
        for r in db.query(
            &format!(
                "SELECT p.message, p.location, p.kind FROM problems p JOIN messages m ON m.id = p.message
                 WHERE p.mailbox = $1 AND {} ORDER BY p.message, p.seq",
                which.condition()
            ),
            &params,
        )? {
            let (Some(location), Some(kind)) = (
                Location::parse(r.get::<_, &str>(1)),
                ProblemKind::parse(r.get::<_, &str>(2)),
            ) else {
                continue;
            };
            problems
                .entry(r.get(0))
                .or_default()
                .push(Problem { location, kind });
        }
        // Streamed: rows are taken off the connection as they are visited.
        let mut rows = db.query_raw(
            &format!(
                "SELECT m.id, m.folder, m.key, m.uid_validity, m.uid, m.position, m.server_folder,
                        m.message_id, m.received, m.date_header, m.size, m.flagged, m.sender,
                        m.sender_name, m.recipients, m.subject, m.signals, m.organisations,
                        m.judged, m.stale_rule, m.stale_from, m.unreadable
                 FROM messages m WHERE {} {}",
                which.condition(),
                which.order()
            ),
            params.iter().copied(),
        )?;
        use ::postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0);
            let uid = to_u32(r.get(4));
            let key: String = r.get(2);
            let received = from_ts(r.get(8));
            let date_header = from_ts(r.get(9));
            let meta = MessageMeta {
                folder: r.get(1),
                uid,
                uid_validity: to_u32(r.get(3)),
                server_folder: r.get(6),
                received,
                flagged: r.get(11),
                size: r.get::<_, i64>(10).max(0) as u64,
                origin: String::new(),
                local_key: if uid.is_none() { Some(key) } else { None },
                position: r.get::<_, i64>(5).max(0) as u64,
            };
            let envelope = Envelope {
                message_id: r.get(7),
                date_header,
                from: split_lines(r.get(12)),
                from_name: r.get(13),
                to: split_lines(r.get(14)),
                subject: r.get(15),
            };
            let report = MessageReport {
                date: received.or(date_header),
                meta,
                envelope,
                findings: findings.remove(&id).unwrap_or_default(),
                stale: None,
                problems: problems.remove(&id).unwrap_or_default(),
                signals: TextSignals::from_store(r.get(16), r.get(17)),
            };
            let judgement = r.get::<_, Option<i64>>(18).map(|version| Judgement {
                version,
                stale: r
                    .get::<_, Option<String>>(19)
                    .zip(r.get::<_, Option<String>>(20))
                    .and_then(|(rule, day)| Some((rule, day.parse().ok()?))),
                unreadable: r.get::<_, bool>(21),
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

impl Inventory for PostgresStore {
    fn register_mailbox(&mut self, m: &MailboxRecord) -> Result<(), StoreError> {
        self.db()?.execute(
            "INSERT INTO mailboxes (source, owner, address, department) VALUES ($1, $2, $3, $4)
             ON CONFLICT (source) DO UPDATE SET
               owner = coalesce(excluded.owner, mailboxes.owner),
               address = coalesce(excluded.address, mailboxes.address),
               department = coalesce(excluded.department, mailboxes.department)",
            &[&m.source, &m.owner, &m.address, &m.department],
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
        self.commit_pending()?;
        self.db()?.execute(
            "INSERT INTO mailboxes (source, last_scan, last_status, last_error) VALUES ($1, $2, $3, $4)
             ON CONFLICT (source) DO UPDATE SET
               last_scan = excluded.last_scan, last_status = excluded.last_status,
               last_error = excluded.last_error",
            &[&source, &at.to_rfc3339(), &status, &error],
        )?;
        Ok(())
    }
    fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT source, owner, address, last_scan, last_status, last_error, department, not_mail,
                        throttled_ms, paced_ms
                 FROM mailboxes ORDER BY source",
                &[],
            )?
            .iter()
            .map(|r| MailboxRecord {
                source: r.get(0),
                owner: r.get(1),
                address: r.get(2),
                last_scan: r.get(3),
                last_status: r.get(4),
                last_error: r.get(5),
                department: r.get(6),
                not_mail: r
                    .get::<_, Option<String>>(7)
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                waited: crate::store::Waited {
                    throttled: std::time::Duration::from_millis(r.get::<_, i64>(8).max(0) as u64),
                    paced: std::time::Duration::from_millis(r.get::<_, i64>(9).max(0) as u64),
                },
            })
            .collect())
    }
    fn resume(&self, source: &str) -> Result<Resume, StoreError> {
        let mut resume = Resume::default();
        for r in self.db()?.query(
            "SELECT folder, uid_validity, last_uid, server_name FROM cursors WHERE source = $1",
            &[&source],
        )? {
            let folder: String = r.get(0);
            if let Some(name) = r.get::<_, Option<String>>(3) {
                resume.server_names.insert(folder.clone(), name);
            }
            resume.cursors.insert(
                folder,
                Cursor {
                    uid_validity: to_u32(r.get(1)).unwrap_or_default(),
                    last_uid: to_u32(r.get(2)).unwrap_or_default(),
                },
            );
        }
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(resume);
        };
        let mut db = self.db()?;
        for r in db.query(
            "SELECT folder, count(*) FROM messages WHERE mailbox = $1 AND uid IS NOT NULL GROUP BY folder",
            &[&mailbox],
        )? {
            resume
                .stored
                .insert(r.get(0), r.get::<_, i64>(1).max(0) as u64);
        }
        let again: Vec<String> = ProblemKind::ALL
            .into_iter()
            .filter(|k| k.read_again())
            .map(|k| k.as_str().to_string())
            .collect();
        for r in db.query(
            "SELECT DISTINCT m.folder, m.uid FROM problems p JOIN messages m ON m.id = p.message
             WHERE m.mailbox = $1 AND m.uid IS NOT NULL AND p.kind = ANY($2)
             ORDER BY m.folder, m.uid",
            &[&mailbox, &again],
        )? {
            if let Some(uid) = to_u32(r.get(1)) {
                resume.unread.entry(r.get(0)).or_default().push(uid);
            }
        }
        Ok(resume)
    }
    fn known_local(&self, source: &str) -> Result<KnownLocal, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(KnownLocal::new());
        };
        let mut known = KnownLocal::new();
        let mut db = self.db()?;
        let mut rows = db.query_raw(
            "SELECT folder, key, flagged, position FROM messages WHERE mailbox = $1 AND uid IS NULL",
            [&mailbox as &(dyn ::postgres::types::ToSql + Sync)],
        )?;
        use ::postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = rows.next()? {
            let folder: String = r.get(0);
            let state = KnownMessage {
                flagged: r.get(2),
                position: r.get::<_, i64>(3).max(0) as u64,
            };
            known.entry(folder).or_default().insert(r.get(1), state);
        }
        Ok(known)
    }
    fn known_local_in(&self, source: &str, folders: &[&str]) -> Result<KnownLocal, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(KnownLocal::new());
        };
        let mut known = KnownLocal::new();
        let mut db = self.db()?;
        for folder in folders {
            let keys = known.entry(folder.to_string()).or_default();
            for r in db.query(
                "SELECT key, flagged, position FROM messages
                 WHERE mailbox = $1 AND folder = $2 AND uid IS NULL",
                &[&mailbox, folder],
            )? {
                keys.insert(
                    r.get(0),
                    KnownMessage {
                        flagged: r.get(1),
                        position: r.get::<_, i64>(2).max(0) as u64,
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
        Ok(self
            .db()?
            .query(
                "SELECT folder, stamp FROM folder_stamps WHERE mailbox = $1",
                &[&mailbox],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
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
        let cursor = match (meta.uid, meta.uid_validity) {
            (Some(uid), Some(validity)) => {
                let validity = i64::from(validity);
                let place = (source.to_string(), meta.folder.clone());
                let known = self.buffer.borrow().validity.get(&place).copied();
                let current = match known {
                    Some(v) => Some(v),
                    None => self
                        .db()?
                        .query_opt(
                            "SELECT uid_validity FROM cursors WHERE source = $1 AND folder = $2",
                            &[&source, &meta.folder],
                        )?
                        .map(|r| r.get::<_, i64>(0)),
                };
                // A new UIDVALIDITY: the folder's old messages are other
                // messages now (what is buffered is written first).
                if current.is_some_and(|v| v != validity) {
                    self.delete_folder(mailbox, &meta.folder)?;
                }
                self.buffer.borrow_mut().validity.insert(place, validity);
                Some((source.to_string(), validity, i64::from(uid)))
            }
            _ => None,
        };
        if let Some(j) = judgement {
            self.note_judged(mailbox, j.version)?;
        }
        let env = &report.envelope;
        let row = Buffered {
            mailbox,
            folder: meta.folder.clone(),
            key: meta.key(),
            uid_validity: to_i64(meta.uid_validity),
            uid: to_i64(meta.uid),
            position: meta.uid.map_or(meta.position, u64::from) as i64,
            server_folder: meta.server_folder.clone(),
            message_id: env.message_id.clone(),
            received: ts(meta.received),
            date_header: ts(env.date_header),
            size: meta.size.min(i64::MAX as u64) as i64,
            flagged: meta.flagged,
            sender: join_lines(&env.from),
            sender_name: env.from_name.clone(),
            recipients: join_lines(&env.to),
            subject: env.subject.clone(),
            run,
            signals: report.signals.flag_bits(),
            organisations: report.signals.organisations.join(" "),
            judged: judgement.map(|j| j.version),
            stale_rule: judgement.and_then(|j| j.stale.as_ref().map(|(rule, _)| rule.clone())),
            stale_from: judgement.and_then(|j| j.stale.as_ref().map(|(_, day)| day.to_string())),
            unreadable: judgement.is_some_and(|j| j.unreadable),
            findings: report
                .findings
                .iter()
                .map(|f| {
                    (
                        f.detector.to_string(),
                        f.location.to_string(),
                        f.masked.clone(),
                        f.fingerprint.clone(),
                        f64::from(f.confidence),
                    )
                })
                .collect(),
            problems: report
                .problems
                .iter()
                .map(|p| (p.location.to_string(), p.kind.as_str().to_string()))
                .collect(),
            cursor,
        };
        let full = {
            let mut buffer = self.buffer.borrow_mut();
            let at = (row.mailbox, row.folder.clone(), row.key.clone());
            match buffer.index.get(&at).copied() {
                Some(i) => buffer.rows[i] = row,
                None => {
                    let i = buffer.rows.len();
                    buffer.index.insert(at, i);
                    buffer.rows.push(row);
                }
            }
            buffer.rows.len() >= BUFFER_ROWS
        };
        if full {
            self.flush_buffer()?;
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
                self.db()?.execute(
                    "UPDATE messages SET judged = CASE WHEN flagged = $1 THEN judged END,
                       flagged = $1, position = $2, seen_run = $3
                     WHERE mailbox = $4 AND folder = $5 AND key = $6",
                    &[flagged, &(*position as i64), &run, &mailbox, folder, key],
                )?;
            }
            Sighting::NotMail { names } => {
                self.db()?.execute(
                    "UPDATE mailboxes SET not_mail = $1 WHERE id = $2",
                    &[
                        &serde_json::to_string(names).unwrap_or_else(|_| "[]".into()),
                        &mailbox,
                    ],
                )?;
            }
            Sighting::Waited { throttled, paced } => {
                let ms = |d: &std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                self.db()?.execute(
                    "UPDATE mailboxes SET throttled_ms = $1, paced_ms = $2 WHERE id = $3",
                    &[&ms(throttled), &ms(paced), &mailbox],
                )?;
            }
            Sighting::FolderListed {
                folder,
                gone,
                stamp,
            } => {
                let mut db = self.db()?;
                for key in gone {
                    db.execute(
                        "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND key = $3",
                        &[&mailbox, folder, key],
                    )?;
                }
                match stamp {
                    Some(stamp) => db.execute(
                        "INSERT INTO folder_stamps (mailbox, folder, stamp) VALUES ($1, $2, $3)
                         ON CONFLICT (mailbox, folder) DO UPDATE SET stamp = excluded.stamp",
                        &[&mailbox, folder, stamp],
                    )?,
                    None => db.execute(
                        "DELETE FROM folder_stamps WHERE mailbox = $1 AND folder = $2",
                        &[&mailbox, folder],
                    )?,
                };
            }
            Sighting::FolderState {
                folder,
                uid_validity,
                upto,
                present,
                flagged,
            } => {
                let mut db = self.db()?;
                let validity = i64::from(*uid_validity);
                let upto = i64::from(*upto);
                // Each an index range (`messages_by_uid`, which holds only
                // rows with a UID): `<>` would walk the whole folder, each
                // side alone does not.
                for other_validity in [
                    "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND uid IS NOT NULL
                     AND uid_validity < $3",
                    "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND uid IS NOT NULL
                     AND uid_validity > $3",
                ] {
                    db.execute(other_validity, &[&mailbox, folder, &validity])?;
                }
                // Above `upto` the run read every message there is (a new
                // folder, a --full scan): what it did not read is gone.
                db.execute(
                    "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND uid_validity = $3
                     AND uid > $4 AND read_run <> $5",
                    &[&mailbox, folder, &validity, &upto, &run],
                )?;
                db.execute(
                    "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND uid_validity IS NULL
                     AND uid > $3 AND read_run <> $4",
                    &[&mailbox, folder, &upto, &run],
                )?;
                let flagged: HashSet<u32> = flagged.iter().copied().collect();
                match present {
                    // Nothing gone: only flags that changed are written.
                    None => {
                        let was_flagged: Vec<(i64, Option<u32>)> = db
                            .query(
                                "SELECT id, uid FROM messages WHERE mailbox = $1 AND folder = $2
                                 AND flagged AND uid IS NOT NULL AND uid <= $3",
                                &[&mailbox, folder, &upto],
                            )?
                            .iter()
                            .map(|r| (r.get(0), to_u32(r.get(1))))
                            .collect();
                        for (id, uid) in &was_flagged {
                            if !uid.is_some_and(|u| flagged.contains(&u)) {
                                db.execute(
                                    "UPDATE messages SET flagged = FALSE, judged = NULL, seen_run = $1 WHERE id = $2",
                                    &[&run, id],
                                )?;
                            }
                        }
                        let was: HashSet<u32> =
                            was_flagged.iter().filter_map(|(_, uid)| *uid).collect();
                        for uid in flagged.iter().filter(|u| !was.contains(u)) {
                            db.execute(
                                "UPDATE messages SET flagged = TRUE, judged = NULL, seen_run = $1
                                 WHERE mailbox = $2 AND folder = $3 AND key = $4 AND NOT flagged",
                                &[&run, &mailbox, folder, &uid.to_string()],
                            )?;
                        }
                    }
                    Some(present) => {
                        let present: HashSet<u32> = present.iter().copied().collect();
                        let stored: Vec<(i64, Option<u32>, bool)> = db
                            .query(
                                "SELECT id, uid, flagged FROM messages
                                 WHERE mailbox = $1 AND folder = $2 AND uid IS NOT NULL AND uid <= $3",
                                &[&mailbox, folder, &upto],
                            )?
                            .iter()
                            .map(|r| (r.get(0), to_u32(r.get(1)), r.get(2)))
                            .collect();
                        for (id, uid, was_flagged) in stored {
                            let Some(uid) = uid else { continue };
                            if !present.contains(&uid) {
                                db.execute("DELETE FROM messages WHERE id = $1", &[&id])?;
                            } else if flagged.contains(&uid) != was_flagged {
                                db.execute(
                                    "UPDATE messages SET flagged = $1, judged = NULL, seen_run = $2 WHERE id = $3",
                                    &[&!was_flagged, &run, &id],
                                )?;
                            }
                        }
                    }
                }
            }
            Sighting::Folders { names } => {
                let names: HashSet<&str> = names.iter().map(String::as_str).collect();
                let stored: Vec<String> = self
                    .db()?
                    .query(
                        // The distinct folders by skipping from one to the
                        // next in `messages_by_key`, not by reading every
                        // message's entry.
                        "WITH RECURSIVE f(folder) AS (
                           SELECT min(folder) FROM messages WHERE mailbox = $1
                           UNION ALL
                           SELECT (SELECT min(m.folder) FROM messages m
                                   WHERE m.mailbox = $1 AND m.folder > f.folder)
                           FROM f WHERE f.folder IS NOT NULL)
                         SELECT folder FROM f WHERE folder IS NOT NULL
                         UNION SELECT folder FROM cursors WHERE source = $2
                         UNION SELECT folder FROM folder_stamps WHERE mailbox = $1",
                        &[&mailbox, &source],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                for folder in stored.iter().filter(|f| !names.contains(f.as_str())) {
                    self.delete_folder(mailbox, folder)?;
                    self.db()?.execute(
                        "DELETE FROM cursors WHERE source = $1 AND folder = $2",
                        &[&source, folder],
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
        {
            let mut db = self.db()?;
            for (folder, key) in messages {
                db.execute(
                    "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND key = $3",
                    &[&mailbox, folder, key],
                )?;
            }
        }
        self.commit_pending()
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
        let mut db = self.db()?;
        let mut count = |sql: &str| -> Result<u64, StoreError> {
            Ok(db.query_one(sql, &[&mailbox])?.get::<_, i64>(0).max(0) as u64)
        };
        Ok((
            count("SELECT count(*) FROM messages WHERE mailbox = $1")?,
            count(
                "SELECT count(*) FROM findings f JOIN messages m ON m.id = f.message WHERE m.mailbox = $1",
            )?,
            count(
                "SELECT count(*) FROM problems p JOIN messages m ON m.id = p.message WHERE m.mailbox = $1",
            )?,
        ))
    }
    fn holds_messages(&self, source: &str) -> Result<bool, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(false);
        };
        Ok(self
            .db()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox = $1)",
                &[&mailbox],
            )?
            .get(0))
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        self.commit_pending()
    }
}

/// Writes one deviation of the register (replacing one with its id).
fn insert_deviation(db: &mut Client, d: &Deviation) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO deviations (id, source, status, data, identity, first_seen, action, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, status = excluded.status,
           data = excluded.data, identity = excluded.identity, first_seen = excluded.first_seen,
           action = excluded.action, digest = excluded.digest",
        &[
            &d.id,
            &d.source,
            &d.status.as_str(),
            &serde_json::to_string(d).unwrap_or_else(|_| "{}".into()),
            &crate::register::identity(d),
            &d.first_seen.to_string(),
            &d.action,
            &crate::register::entry_digest(d),
        ],
    )?;
    Ok(())
}

impl History for PostgresStore {
    fn record_snapshot(&mut self, run: RunId, snap: &SnapshotRecord) -> Result<(), StoreError> {
        self.commit_pending()?;
        let data = serde_json::to_string(&snap.snapshot).unwrap_or_else(|_| "{}".into());
        self.db()?.execute(
            "INSERT INTO snapshots (run, source, as_of, taken_at, full_scan, status, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (run, source) DO UPDATE SET as_of = excluded.as_of, taken_at = excluded.taken_at,
               full_scan = excluded.full_scan, status = excluded.status, data = excluded.data",
            &[
                &run,
                &snap.snapshot.source,
                &snap.snapshot.as_of.to_string(),
                &snap.taken_at,
                &snap.full,
                &snap.status,
                &data,
            ],
        )?;
        Ok(())
    }
    fn snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT run, taken_at, full_scan, status, data FROM snapshots ORDER BY as_of, run",
                &[],
            )?
            .iter()
            .filter_map(|r| {
                Some(SnapshotRecord {
                    run: r.get(0),
                    taken_at: r.get(1),
                    full: r.get(2),
                    status: r.get(3),
                    snapshot: serde_json::from_str(r.get::<_, &str>(4)).ok()?,
                })
            })
            .collect())
    }
    fn prune_snapshots(&mut self, before: NaiveDate) -> Result<u64, StoreError> {
        self.commit_pending()?;
        Ok(self.db()?.execute(
            "DELETE FROM snapshots WHERE as_of < $1",
            &[&before.to_string()],
        )?)
    }
    fn each_deviation(
        &self,
        visit: &mut dyn FnMut(Deviation) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let mut db = self.db()?;
        let mut rows = db.query_raw(
            "SELECT data FROM deviations ORDER BY source, id",
            std::iter::empty::<&(dyn ::postgres::types::ToSql + Sync)>(),
        )?;
        use ::postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = rows.next()? {
            if let Ok(d) = serde_json::from_str(r.get::<_, &str>(0)) {
                visit(d).map_err(|e| StoreError::Invalid(format!("writing the report: {e}")))?;
            }
        }
        Ok(())
    }
    fn save_deviations(&mut self, source: &str, list: &[Deviation]) -> Result<(), StoreError> {
        self.commit_pending()?;
        let mut db = self.db()?;
        db.batch_execute("BEGIN")?;
        let result = (|| {
            db.execute("DELETE FROM deviations WHERE source = $1", &[&source])?;
            for d in list {
                insert_deviation(&mut db, d)?;
            }
            Ok(())
        })();
        db.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        result
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
        for r in self.db()?.query(
            "SELECT identity, id, first_seen, action, digest, status FROM deviations
             WHERE source = $1 AND identity = ANY($2) ORDER BY id",
            &[&source, &identities],
        )? {
            let first_seen: Option<String> = r.get(2);
            out.entry(r.get(0)).or_default().push(RegisterEntry {
                id: r.get(1),
                first_seen: first_seen
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(NaiveDate::MIN),
                action: r.get::<_, Option<String>>(3).unwrap_or_default(),
                digest: r.get::<_, Option<String>>(4).unwrap_or_default(),
                open: r.get::<_, &str>(5) != crate::register::DeviationStatus::Handled.as_str(),
            });
        }
        Ok(out)
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
        let mut db = self.db()?;
        let reconciled_under: Option<String> = db
            .query_one(
                "SELECT register_basis FROM mailboxes WHERE id = $1",
                &[&mailbox],
            )?
            .get(0);
        if reconciled_under.as_deref() != Some(basis) {
            return Ok(None);
        }
        let changes: Vec<ChangedCopy> = db
            .query(
                "SELECT DISTINCT message_id, folder, key FROM register_changes WHERE mailbox = $1
                 ORDER BY message_id, folder, key LIMIT $2",
                &[&mailbox, &(limit as i64 + 1)],
            )?
            .into_iter()
            .map(|r| ChangedCopy {
                message_id: r.get(0),
                folder: r.get(1),
                key: r.get(2),
            })
            .collect();
        Ok((changes.len() <= limit).then_some(changes))
    }
    fn register_reconciled(&mut self, source: &str, basis: &str) -> Result<(), StoreError> {
        self.in_transaction()?;
        let mailbox = self.mailbox_id(source)?;
        {
            let mut db = self.db()?;
            db.execute(
                "DELETE FROM register_changes WHERE mailbox = $1",
                &[&mailbox],
            )?;
            db.execute(
                "UPDATE mailboxes SET register_basis = $2 WHERE id = $1",
                &[&mailbox, &basis],
            )?;
        }
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
        // only, then those wanted read whole.
        let ids: Vec<i64> = self
            .db()?
            .query(
                "SELECT DISTINCT m.id, m.message_id, m.folder, m.key
                 FROM findings f JOIN messages m ON m.id = f.message
                 WHERE f.mailbox = $1 ORDER BY m.id",
                &[&mailbox],
            )?
            .into_iter()
            .filter(|r| touched.touches(r.get(1), r.get(2), r.get(3)))
            .map(|r| r.get(0))
            .collect();
        for id in ids {
            self.messages_where(source, Which::One(id), &mut |_, m| visit(m))?;
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
        let mut db = self.db()?;
        let mut current: Option<(i64, Option<DateTime<Utc>>)> = None;
        let mut findings: Vec<Finding> = Vec::new();
        for r in db.query(
            "SELECT f.message, m.received, m.date_header, f.detector, f.location, f.masked,
                    f.fingerprint, f.confidence
             FROM findings f JOIN messages m ON m.id = f.message
             WHERE f.mailbox = $1 ORDER BY f.message, f.seq",
            &[&mailbox],
        )? {
            let message: i64 = r.get(0);
            if let Some((m, date)) = current
                && m != message
            {
                visit(date, &findings);
                findings.clear();
            }
            if current.is_none_or(|(m, _)| m != message) {
                current = Some((message, from_ts(r.get(1)).or(from_ts(r.get(2)))));
            }
            let (Some(detector), Some(location)) = (
                DetectorId::parse(r.get::<_, &str>(3)),
                Location::parse(r.get::<_, &str>(4)),
            ) else {
                continue;
            };
            findings.push(Finding {
                detector,
                location,
                masked: r.get(5),
                fingerprint: r.get(6),
                confidence: r.get::<_, f64>(7) as f32,
            });
        }
        if let Some((_, date)) = current {
            visit(date, &findings);
        }
        Ok(())
    }
    fn put_deviation(&mut self, d: &Deviation, replacing: &[String]) -> Result<(), StoreError> {
        self.in_transaction()?;
        {
            let mut db = self.db()?;
            for id in replacing {
                db.execute("DELETE FROM deviations WHERE id = $1", &[id])?;
            }
            insert_deviation(&mut db, d)?;
        }
        self.maybe_commit()
    }
    fn each_deviation_head(
        &self,
        source: &str,
        visit: &mut dyn FnMut(&str, &str, bool),
    ) -> Result<(), StoreError> {
        for r in self.db()?.query(
            "SELECT id, identity, status FROM deviations WHERE source = $1 ORDER BY id",
            &[&source],
        )? {
            let id: &str = r.get(0);
            let identity: Option<&str> = r.get(1);
            let status: &str = r.get(2);
            let open = status != crate::register::DeviationStatus::Handled.as_str();
            visit(id, identity.unwrap_or(id), open);
        }
        Ok(())
    }
    fn handle_deviations(&mut self, ids: &[String], on: NaiveDate) -> Result<(), StoreError> {
        self.commit_pending()?;
        let mut db = self.db()?;
        let mut tx = db.transaction()?;
        for id in ids {
            let Some(d) = tx
                .query_opt("SELECT data FROM deviations WHERE id = $1", &[id])?
                .and_then(|r| serde_json::from_str::<Deviation>(r.get::<_, &str>(0)).ok())
            else {
                continue;
            };
            let handled = Deviation {
                status: crate::register::DeviationStatus::Handled,
                handled_on: Some(on),
                ..d
            };
            tx.execute(
                "UPDATE deviations SET status = $2, data = $3, digest = $4 WHERE id = $1",
                &[
                    id,
                    &handled.status.as_str(),
                    &serde_json::to_string(&handled).unwrap_or_else(|_| "{}".into()),
                    &crate::register::entry_digest(&handled),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
    fn judgement_version(&mut self, digest: &str) -> Result<i64, StoreError> {
        self.commit_pending()?;
        let mut db = self.db()?;
        db.execute(
            "INSERT INTO judgements (digest) VALUES ($1) ON CONFLICT (digest) DO NOTHING",
            &[&digest],
        )?;
        Ok(db
            .query_one("SELECT id FROM judgements WHERE digest = $1", &[&digest])?
            .get(0))
    }
    fn known_judgement_version(&self, digest: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db()?
            .query_opt("SELECT id FROM judgements WHERE digest = $1", &[&digest])?
            .map(|r| r.get(0)))
    }
    fn judge_stored(
        &mut self,
        source: &str,
        version: i64,
        judge: &mut dyn FnMut(&MessageReport) -> Judgement,
    ) -> Result<u64, StoreError> {
        self.commit_pending()?;
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(0);
        };
        // Judged under other rules (or mixed): all of it again, once.
        let judged_with: Option<i64> = self
            .db()?
            .query_one(
                "SELECT judged_with FROM mailboxes WHERE id = $1",
                &[&mailbox],
            )?
            .get(0);
        if judged_with != Some(version) {
            let mut db = self.db()?;
            let mut tx = db.transaction()?;
            tx.execute(
                "UPDATE messages SET judged = NULL
                 WHERE mailbox = $1 AND judged IS NOT NULL AND judged <> $2",
                &[&mailbox, &version],
            )?;
            tx.execute(
                "UPDATE mailboxes SET judged_with = $2 WHERE id = $1",
                &[&mailbox, &version],
            )?;
            tx.commit()?;
            drop(db);
            self.judged_with.insert(mailbox, Some(version));
        }
        let mut judged = 0u64;
        let mut after = 0i64;
        loop {
            // A batch read, then written: memory holds one batch.
            let mut batch: Vec<(i64, Judgement)> = Vec::new();
            self.messages_where(source, Which::Unjudged(after), &mut |id, m| {
                batch.push((id, judge(&m.report)));
                Ok(())
            })?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            after = last;
            let mut db = self.db()?;
            let mut tx = db.transaction()?;
            for (id, j) in &batch {
                tx.execute(
                    "UPDATE messages SET judged = $2, stale_rule = $3, stale_from = $4, unreadable = $5
                     WHERE id = $1",
                    &[
                        id,
                        &j.version,
                        &j.stale.as_ref().map(|(rule, _)| rule.as_str()),
                        &j.stale.as_ref().map(|(_, day)| day.to_string()),
                        &j.unreadable,
                    ],
                )?;
            }
            tx.commit()?;
            judged += batch.len() as u64;
        }
        Ok(judged)
    }
    fn distinct_values(&self, sources: &[String], detectors: &[String]) -> Result<u64, StoreError> {
        let count: i64 = self
            .db()?
            .query_one(
                "SELECT count(DISTINCT f.fingerprint) FROM findings f
                 JOIN messages m ON m.id = f.message
                 JOIN mailboxes b ON b.id = m.mailbox
                 WHERE b.source = ANY($1) AND f.detector = ANY($2) AND f.fingerprint <> ''",
                &[&sources, &detectors],
            )?
            .get(0);
        Ok(count.max(0) as u64)
    }
    fn stored_counts(
        &self,
        source: &str,
        version: i64,
        as_of: NaiveDate,
    ) -> Result<StoredCounts, StoreError> {
        let Some(mailbox) = self.lookup(source)? else {
            return Ok(StoredCounts::default());
        };
        let as_of = as_of.to_string();
        let mut counts = StoredCounts::default();
        for r in self.db()?.query(
            "SELECT stale_rule, count(*), count(*) FILTER (WHERE stale_from <= $2),
                    coalesce(sum(size), 0)::bigint,
                    min(coalesce(received, date_header)) FILTER (WHERE stale_from <= $2),
                    count(*) FILTER (WHERE unreadable),
                    count(*) FILTER (WHERE judged IS DISTINCT FROM $3)
             FROM messages WHERE mailbox = $1 GROUP BY stale_rule",
            &[&mailbox, &as_of, &version],
        )? {
            counts.add_group(crate::store::CountedGroup {
                rule: r.get(0),
                messages: r.get(1),
                stale: r.get(2),
                bytes: r.get(3),
                oldest_stale: r.get(4),
                unreadable: r.get(5),
                unjudged: r.get(6),
            });
        }
        Ok(counts)
    }
}
