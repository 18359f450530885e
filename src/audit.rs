//! The audit trail: every scan, case, preview, handover, deletion,
//! reminder, undo and export, as an append-only keyed hash chain.
//!
//! The threat: someone who can edit the store (the database file, or a
//! database account) rewrites what was done. Each entry's hash is an
//! HMAC-SHA256, under a key derived from the installation's secret (kept
//! outside the store, like the fingerprint key), over its own fields and
//! the previous entry's hash: without the key nobody can change, insert or
//! recompute an entry. Each entry's hash is also written outside the
//! database, to an append-only anchor log (and syslog where present): cutting
//! entries off the end, or putting back an older copy of the store, leaves
//! the anchor naming entries the store no longer has. What it cannot show:
//! an edit by someone who holds both the key and the anchor log.
//!
//! Entries from before the chain was keyed (plain SHA-256) are accepted
//! only up to the number the anchor log recorded when keying began.
//! Pure: the store keeps the entries, the caller passes time and key in.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded of one action. `detail` holds what was done and why,
/// with counts; never a detected value, a subject or a body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... in the order the entries were made.
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    /// Who ran the command (the operating-system user).
    pub actor: String,
    /// `scan`, `case`, `preview`, `handover`, `clean`, `undo`, `remind`, `export`, `subject`.
    pub action: String,
    /// The offboarding case it belongs to, if any.
    #[serde(rename = "case")]
    pub case_id: Option<String>,
    /// A JSON object: what, why, counts.
    pub detail: serde_json::Value,
    pub prev: String,
    pub hash: String,
}

/// An entry before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub case_id: Option<String>,
    pub detail: serde_json::Value,
}

impl NewEntry {
    /// An entry made now by the user running this process.
    pub fn new(
        at: chrono::DateTime<chrono::Utc>,
        action: &str,
        case_id: Option<&str>,
        detail: serde_json::Value,
    ) -> NewEntry {
        NewEntry {
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            actor: actor(),
            action: action.to_string(),
            case_id: case_id.map(str::to_string),
            detail,
        }
    }
}

/// The operating-system user running this process.
pub fn actor() -> String {
    ["MAILHYGIENE_ACTOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The secret the chain is keyed with, derived from the installation's
/// key ([`crate::fingerprint::Fingerprinter::derive`]). Never printed.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    pub fn new(bytes: [u8; 32]) -> AuditKey {
        AuditKey(bytes)
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

/// The fields of an entry as hashed, joined with a separator no field can
/// hold unescaped (`detail` is JSON, the rest are printable), so two
/// different entries never hash alike by shifting text from one field into
/// the next.
fn hashed_fields<'a>(
    seq: &'a str,
    entry: &'a NewEntry,
    prev: &'a str,
    detail: &'a str,
) -> [&'a str; 7] {
    [
        prev,
        seq,
        &entry.at,
        &entry.actor,
        &entry.action,
        entry.case_id.as_deref().unwrap_or("\u{0}"),
        detail,
    ]
}

/// The keyed hash of an entry's fields chained to `prev`.
pub fn keyed_hash(key: &AuditKey, seq: i64, entry: &NewEntry, prev: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    let (seq, detail) = (seq.to_string(), entry.detail.to_string());
    for part in hashed_fields(&seq, entry, prev, &detail) {
        mac.update(part.as_bytes());
        mac.update(&[0x1f]);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The unkeyed hash entries had before the chain was keyed: only for
/// checking those old entries.
pub fn hash(seq: i64, entry: &NewEntry, prev: &str) -> String {
    let mut h = Sha256::new();
    let (seq, detail) = (seq.to_string(), entry.detail.to_string());
    for part in hashed_fields(&seq, entry, prev, &detail) {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Chains `entry` after the entry `(seq, hash)` (or [`GENESIS`] at 0).
pub fn chain(last: Option<(i64, &str)>, entry: NewEntry, key: &AuditKey) -> AuditEntry {
    let (last_seq, prev) = last.unwrap_or((0, GENESIS));
    let seq = last_seq + 1;
    let hash = keyed_hash(key, seq, &entry, prev);
    AuditEntry {
        seq,
        at: entry.at,
        actor: entry.actor,
        action: entry.action,
        case_id: entry.case_id,
        detail: entry.detail,
        prev: prev.to_string(),
        hash,
    }
}

/// What the anchor log outside the database says about one store's chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    /// Entries up to this number were made before the chain was keyed.
    pub legacy_until: Option<i64>,
    /// Each anchored entry's hash by number.
    pub hashes: BTreeMap<i64, String>,
}

impl Anchor {
    /// The line that starts a store's anchor: how far the unkeyed entries
    /// went when keying began.
    pub fn header(store: &str, legacy_until: i64) -> String {
        serde_json::json!({"store": store, "legacy_until": legacy_until}).to_string()
    }

    /// One entry's line: its number, hash, time and action (never its
    /// detail).
    pub fn line(store: &str, e: &AuditEntry) -> String {
        serde_json::json!({"store": store, "seq": e.seq, "hash": e.hash, "at": e.at, "action": e.action})
            .to_string()
    }

    /// Reads what an anchor log holds for `store` (other stores' lines,
    /// and lines that are not ours, are passed over); `None` when the log
    /// has nothing for it.
    pub fn parse(text: &str, store: &str) -> Option<Anchor> {
        let mut anchor = Anchor::default();
        let mut any = false;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["store"].as_str() != Some(store) {
                continue;
            }
            any = true;
            if let Some(n) = v["legacy_until"].as_i64() {
                anchor.legacy_until.get_or_insert(n);
            }
            if let (Some(seq), Some(hash)) = (v["seq"].as_i64(), v["hash"].as_str()) {
                anchor.hashes.insert(seq, hash.to_string());
            }
        }
        any.then_some(anchor)
    }
}

/// How a chain that verified was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified {
    pub entries: usize,
    /// Entries from before the chain was keyed.
    pub legacy: usize,
    /// Keyed entries the anchor log does not name (a crash between the
    /// two writes): intact, since nobody without the key can make one.
    pub unanchored: usize,
    /// Entries of a shared store anchored on other hosts (each host's log
    /// names the entries it wrote): intact by the chain; their anchors are
    /// checked by verifying there.
    pub elsewhere: usize,
}

/// The detail field naming the host whose anchor log holds an entry of a
/// shared store (see [`verify`]).
pub const ANCHORED_BY: &str = "anchored_by";

/// A host's name in the anchor lines' sense: a digest of the machine's id
/// (or host name) given, stable across runs, revealing neither.
pub fn anchor_host(machine: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mailhygiene anchor host\0");
    h.update(machine.trim().as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("entry {seq} was changed (its hash does not match its contents)")]
    Changed { seq: i64 },
    #[error(
        "the entry before {seq} was removed or the entries were reordered (expected entry {expected})"
    )]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq} does not follow the one before it (removed, inserted or reordered)")]
    Unlinked { seq: i64 },
    #[error(
        "the chain ends at entry {last} but {head} entries were recorded: the last ones were removed"
    )]
    Truncated { last: i64, head: i64 },
    #[error("the anchor log names entry {seq}, which the store no longer has: it was removed")]
    Missing { seq: i64 },
    #[error(
        "the chain is keyed but its anchor log has nothing for this store: the log was removed or replaced"
    )]
    AnchorMissing,
}

/// Checks a whole chain, in stored order, against its head `(seq, hash)`
/// of the last entry appended (kept apart from the entries), the key, and
/// the anchor log's record of it.
///
/// A shared store's entries name the host that anchored them
/// ([`ANCHORED_BY`], inside what the hash covers); `host` is the verifying
/// host's name. Entries anchored elsewhere are counted, not held against
/// this host's log; entries this host anchored must be in its log, and a
/// log that is gone while the store names entries of this host is
/// [`Broken::AnchorMissing`].
pub fn verify(
    entries: &[AuditEntry],
    head: Option<(i64, &str)>,
    key: &AuditKey,
    anchor: Option<&Anchor>,
    host: Option<&str>,
) -> Result<Verified, Broken> {
    let mut ours_keyed = false;
    let mut prev = GENESIS.to_string();
    let mut expected = 1;
    let mut keyed_seen = false;
    let mut done = Verified::default();
    // Unkeyed entries: only before the first keyed one, and only as far as
    // the anchor said when keying began (or anywhere, with no anchor and
    // no keyed entry: a store from before keying).
    let legacy_allowed = |seq: i64| anchor.is_none_or(|a| a.legacy_until.is_some_and(|n| seq <= n));
    for e in entries {
        if e.seq != expected {
            return Err(Broken::Gap {
                seq: e.seq,
                expected,
            });
        }
        if e.prev != prev {
            return Err(Broken::Unlinked { seq: e.seq });
        }
        let fields = NewEntry {
            at: e.at.clone(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            case_id: e.case_id.clone(),
            detail: e.detail.clone(),
        };
        if keyed_hash(key, e.seq, &fields, &prev) == e.hash {
            keyed_seen = true;
            let ours = match e.detail.get(ANCHORED_BY).and_then(|v| v.as_str()) {
                None => true,
                Some(by) => host == Some(by),
            };
            if !ours {
                done.elsewhere += 1;
            } else {
                ours_keyed = true;
                if anchor.is_some_and(|a| !a.hashes.contains_key(&e.seq)) {
                    done.unanchored += 1;
                }
            }
        } else if !keyed_seen && legacy_allowed(e.seq) && hash(e.seq, &fields, &prev) == e.hash {
            done.legacy += 1;
        } else {
            return Err(Broken::Changed { seq: e.seq });
        }
        prev = e.hash.clone();
        expected += 1;
        done.entries += 1;
    }
    let last = expected - 1;
    if let Some((head_seq, head_hash)) = head {
        if head_seq != last {
            return Err(Broken::Truncated {
                last,
                head: head_seq,
            });
        }
        if head_hash != prev {
            return Err(Broken::Changed { seq: last });
        }
    }
    match anchor {
        None if ours_keyed => return Err(Broken::AnchorMissing),
        None => {}
        Some(a) => {
            for (seq, hash) in &a.hashes {
                match entries.get(usize::try_from(*seq - 1).unwrap_or(usize::MAX)) {
                    Some(e) if e.seq == *seq && e.hash == *hash => {}
                    Some(_) => return Err(Broken::Changed { seq: *seq }),
                    None => return Err(Broken::Missing { seq: *seq }),
                }
            }
        }
    }
    Ok(done)
}

/// The head kept apart from the entries, as a store keeps it
/// (`SEQ:HASH`).
pub fn head_value(e: &AuditEntry) -> String {
    format!("{}:{}", e.seq, e.hash)
}

/// The head [`head_value`] kept.
pub fn parse_head(v: &str) -> Option<(i64, String)> {
    let (seq, hash) = v.split_once(':')?;
    Some((seq.parse().ok()?, hash.to_string()))
}

/// The link a new entry follows: the last entry stored, or the head kept
/// apart when it is further along (the longer memory: entries cut off the
/// end must not be re-used as free numbers).
pub fn link_after(
    last: Option<(i64, String)>,
    head: Option<(i64, String)>,
) -> Option<(i64, String)> {
    match (last, head) {
        (Some(l), Some(h)) if h.0 > l.0 => Some(h),
        (None, Some(h)) => Some(h),
        (l, _) => l,
    }
}

/// What an anchor log at `path` holds for `store`; `None` when there is no
/// log yet.
pub fn read_anchor(path: &std::path::Path, store: &str) -> Result<Option<Anchor>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Anchor::parse(&text, store)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "cannot read the audit anchor log {}: {e}",
            path.display()
        )),
    }
}

/// The anchor lines for an entry just appended: a header first when the
/// log has nothing of this store yet.
pub fn anchor_lines_for(store: &str, e: &AuditEntry, anchored: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if !anchored {
        lines.push(Anchor::header(store, e.seq - 1));
    }
    lines.push(Anchor::line(store, e));
    lines
}

/// Appends lines to an anchor log: created private, opened for appending
/// only, never through a symbolic link, synced; syslog gets the same lines
/// where `/dev/log` exists. What every store backend writes its anchor with.
pub fn append_anchor_lines(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    #[cfg(unix)]
    for l in lines {
        if let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = socket.send_to(
                format!("<110>mailhygiene[{}]: audit {l}", std::process::id()).as_bytes(),
                "/dev/log",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new([7; 32])
    }

    fn new_entry(i: usize) -> NewEntry {
        NewEntry {
            at: format!("2026-12-0{}T10:00:00Z", i + 1),
            actor: "ola".into(),
            action: "handover".into(),
            case_id: Some("K-1".into()),
            detail: serde_json::json!({"copied": i}),
        }
    }

    fn entries(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let last = out.last().map(|e| (e.seq, e.hash.as_str()));
            out.push(chain(last, new_entry(i), &key()));
        }
        out
    }

    fn anchor_of(e: &[AuditEntry], legacy_until: i64) -> Anchor {
        let mut text = Anchor::header("s1", legacy_until) + "\n";
        for x in e {
            text += &(Anchor::line("s1", x) + "\n");
        }
        if let Some(first) = e.first() {
            text += &(Anchor::line("s2", first).replace(&first.hash, "ff") + "\n");
        }
        Anchor::parse(&text, "s1").expect("anchor")
    }

    fn head(e: &[AuditEntry]) -> Option<(i64, &str)> {
        e.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let e = entries(5);
        let a = anchor_of(&e, 0);
        let done = verify(&e, head(&e), &key(), Some(&a), None).expect("intact");
        assert_eq!((done.entries, done.legacy, done.unanchored), (5, 0, 0));
        assert_eq!(
            verify(&[], None, &key(), None, None),
            Ok(Verified::default())
        );
        // Another store's lines in a shared log are not this one's.
        assert_eq!(a.hashes.len(), 5);
    }

    #[test]
    fn changes_removals_and_reorderings_are_named() {
        let e = entries(5);
        let a = anchor_of(&e, 0);
        let h = head(&e).map(|(s, h)| (s, h.to_string()));
        let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));
        let v = |x: &[AuditEntry], h: Option<(i64, &str)>| verify(x, h, &key(), Some(&a), None);
        let mut changed = e.clone();
        changed[2].detail = serde_json::json!({"copied": 99});
        assert_eq!(v(&changed, h), Err(Broken::Changed { seq: 3 }));
        let mut actor = e.clone();
        actor[1].actor = "kari".into();
        assert_eq!(v(&actor, h), Err(Broken::Changed { seq: 2 }));
        let mut removed = e.clone();
        removed.remove(1);
        assert_eq!(
            v(&removed, h),
            Err(Broken::Gap {
                seq: 3,
                expected: 2
            })
        );
        let mut swapped = e.clone();
        swapped.swap(1, 2);
        assert!(v(&swapped, h).is_err());
        let mut renumbered = e.clone();
        renumbered.remove(1);
        for (i, x) in renumbered.iter_mut().enumerate() {
            x.seq = i as i64 + 1;
        }
        assert_eq!(v(&renumbered, None), Err(Broken::Unlinked { seq: 2 }));
        // The last entries cut off and the head set back to match: the
        // anchor outside the store still names them.
        let cut = &e[..3];
        assert_eq!(v(cut, head(cut)), Err(Broken::Missing { seq: 4 }));
        assert_eq!(v(cut, h), Err(Broken::Truncated { last: 3, head: 5 }));
    }

    /// What a script holding only the store can do: rewrite an entry and
    /// recompute every hash after it and the head, keyed with a guess or
    /// as the old unkeyed chain. Neither passes.
    #[test]
    fn a_recomputed_chain_is_found_without_the_key() {
        let e = entries(4);
        let a = anchor_of(&e, 0);
        for forged_with in [Some(AuditKey::new([8; 32])), None] {
            let mut forged: Vec<AuditEntry> = Vec::new();
            for (i, x) in e.iter().enumerate() {
                let mut entry = new_entry(i);
                if i == 1 {
                    entry.detail = serde_json::json!({"copied": 12});
                }
                let last = forged.last().map(|f| (f.seq, f.hash.as_str()));
                let mut f = chain(last, entry, &key());
                let fields = NewEntry {
                    at: f.at.clone(),
                    actor: f.actor.clone(),
                    action: f.action.clone(),
                    case_id: f.case_id.clone(),
                    detail: f.detail.clone(),
                };
                f.hash = match &forged_with {
                    Some(k) => keyed_hash(k, f.seq, &fields, &f.prev),
                    None => hash(f.seq, &fields, &f.prev),
                };
                assert_eq!(f.seq, x.seq);
                forged.push(f);
            }
            // Links recomputed too (each prev is the forged hash before).
            for i in 1..forged.len() {
                forged[i].prev = forged[i - 1].hash.clone();
                let fields = NewEntry {
                    at: forged[i].at.clone(),
                    actor: forged[i].actor.clone(),
                    action: forged[i].action.clone(),
                    case_id: forged[i].case_id.clone(),
                    detail: forged[i].detail.clone(),
                };
                forged[i].hash = match &forged_with {
                    Some(k) => keyed_hash(k, forged[i].seq, &fields, &forged[i].prev),
                    None => hash(forged[i].seq, &fields, &forged[i].prev),
                };
            }
            let h = head(&forged).map(|(s, h)| (s, h.to_string()));
            let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));
            assert_eq!(
                verify(&forged, h, &key(), Some(&a), None),
                Err(Broken::Changed { seq: 1 })
            );
            // Even with the anchor log gone, the keyed first entry is
            // what fails; an unkeyed forgery needs the log gone as well.
            if forged_with.is_some() {
                assert!(verify(&forged, h, &key(), None, None).is_err());
            }
        }
    }

    #[test]
    fn entries_from_before_keying_count_only_up_to_the_anchored_number() {
        // Two unkeyed entries, as an older version made them.
        let mut old: Vec<AuditEntry> = Vec::new();
        for i in 0..2 {
            let (seq, prev) = old
                .last()
                .map_or((1, GENESIS.to_string()), |e: &AuditEntry| {
                    (e.seq + 1, e.hash.clone())
                });
            let entry = new_entry(i);
            let hash = hash(seq, &entry, &prev);
            old.push(AuditEntry {
                seq,
                at: entry.at,
                actor: entry.actor,
                action: entry.action,
                case_id: entry.case_id,
                detail: entry.detail,
                prev,
                hash,
            });
        }
        // Without an anchor and without keyed entries: a store from before.
        assert_eq!(
            verify(&old, head(&old), &key(), None, None).map(|d| d.legacy),
            Ok(2)
        );
        // Keying begins at 3; the anchor says the old ones end at 2.
        let mut all = old.clone();
        let last = all.last().map(|e| (e.seq, e.hash.clone()));
        all.push(chain(
            last.as_ref().map(|(s, h)| (*s, h.as_str())),
            new_entry(2),
            &key(),
        ));
        let a = anchor_of(&all[2..], 2);
        let done = verify(&all, head(&all), &key(), Some(&a), None).expect("intact");
        assert_eq!((done.legacy, done.entries), (2, 3));
        // Keyed entries with no anchor at all: the log was removed.
        assert_eq!(
            verify(&all, head(&all), &key(), None, None),
            Err(Broken::AnchorMissing)
        );
        // An anchor that began keying at 1 does not accept unkeyed entries.
        let strict = anchor_of(&all[2..], 0);
        assert_eq!(
            verify(&all, head(&all), &key(), Some(&strict), None),
            Err(Broken::Changed { seq: 1 })
        );
        // An entry the anchor names but the store lacks was removed;
        // one the store has but the anchor lacks is merely unanchored.
        let partial = anchor_of(&all[2..2], 2);
        assert_eq!(
            verify(&all, head(&all), &key(), Some(&partial), None).map(|d| d.unanchored),
            Ok(1)
        );
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = NewEntry {
            at: "x".into(),
            actor: "ab".into(),
            action: "c".into(),
            case_id: None,
            detail: serde_json::json!({}),
        };
        let b = NewEntry {
            actor: "a".into(),
            action: "bc".into(),
            ..a.clone()
        };
        assert_ne!(
            keyed_hash(&key(), 1, &a, GENESIS),
            keyed_hash(&key(), 1, &b, GENESIS)
        );
        let c = NewEntry {
            case_id: Some(String::new()),
            ..a.clone()
        };
        assert_ne!(
            keyed_hash(&key(), 1, &a, GENESIS),
            keyed_hash(&key(), 1, &c, GENESIS)
        );
        assert_ne!(keyed_hash(&key(), 1, &a, GENESIS), hash(1, &a, GENESIS));
    }
}
