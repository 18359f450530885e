//! The audit trail: every scan, case, preview, handover, deletion,
//! reminder, undo and export, as an append-only hash chain.
//!
//! Why a chain: the store is a file an administrator can edit. Each entry's
//! hash covers its own fields and the previous entry's hash, so changing,
//! removing or reordering any entry breaks every hash after it, and the
//! chain's head (kept beside it) tells when entries were cut off the end.
//! Pure: the store keeps the entries, the caller passes the time in.

use serde::Serialize;
use sha2::{Digest, Sha256};

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

/// The hash of an entry's fields chained to `prev`. Fields are joined with
/// a separator no field can hold unescaped (`detail` is JSON, the rest are
/// printable), so two different entries never hash alike by shifting text
/// from one field into the next.
pub fn hash(seq: i64, entry: &NewEntry, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &entry.at,
        &entry.actor,
        &entry.action,
        entry.case_id.as_deref().unwrap_or("\u{0}"),
        &entry.detail.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Chains `entry` after the entry `(seq, hash)` (or [`GENESIS`] at 0).
pub fn chain(last: Option<(i64, &str)>, entry: NewEntry) -> AuditEntry {
    let (last_seq, prev) = last.unwrap_or((0, GENESIS));
    let seq = last_seq + 1;
    let hash = hash(seq, &entry, prev);
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
}

/// Checks a whole chain, in stored order, against its head `(seq, hash)`
/// of the last entry appended (kept apart from the entries).
pub fn verify(entries: &[AuditEntry], head: Option<(i64, &str)>) -> Result<(), Broken> {
    let mut prev = GENESIS.to_string();
    let mut expected = 1;
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
        if hash(e.seq, &fields, &prev) != e.hash {
            return Err(Broken::Changed { seq: e.seq });
        }
        prev = e.hash.clone();
        expected += 1;
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let last = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = chain(
                last,
                NewEntry {
                    at: format!("2026-12-0{}T10:00:00Z", i + 1),
                    actor: "ola".into(),
                    action: "handover".into(),
                    case_id: Some("K-1".into()),
                    detail: serde_json::json!({"copied": i}),
                },
            );
            out.push(e);
        }
        out
    }

    fn head(e: &[AuditEntry]) -> Option<(i64, &str)> {
        e.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let e = entries(5);
        assert_eq!(verify(&e, head(&e)), Ok(()));
        assert_eq!(verify(&[], None), Ok(()));
    }

    #[test]
    fn changes_removals_and_reorderings_are_named() {
        let e = entries(5);
        let h = head(&e).map(|(s, h)| (s, h.to_string()));
        let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));
        let mut changed = e.clone();
        changed[2].detail = serde_json::json!({"copied": 99});
        assert_eq!(verify(&changed, h), Err(Broken::Changed { seq: 3 }));
        let mut actor = e.clone();
        actor[1].actor = "kari".into();
        assert_eq!(verify(&actor, h), Err(Broken::Changed { seq: 2 }));
        let mut removed = e.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, h),
            Err(Broken::Gap {
                seq: 3,
                expected: 2
            })
        );
        let mut swapped = e.clone();
        swapped.swap(1, 2);
        assert!(verify(&swapped, h).is_err());
        // Renumbered after a removal: the links give it away.
        let mut renumbered = e.clone();
        renumbered.remove(1);
        for (i, x) in renumbered.iter_mut().enumerate() {
            x.seq = i as i64 + 1;
        }
        assert_eq!(verify(&renumbered, None), Err(Broken::Unlinked { seq: 2 }));
        // The last entries cut off: only the head tells.
        let cut = &e[..3];
        assert_eq!(verify(cut, None), Ok(()));
        assert_eq!(verify(cut, h), Err(Broken::Truncated { last: 3, head: 5 }));
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
        assert_ne!(hash(1, &a, GENESIS), hash(1, &b, GENESIS));
        let c = NewEntry {
            case_id: Some(String::new()),
            ..a.clone()
        };
        assert_ne!(hash(1, &a, GENESIS), hash(1, &c, GENESIS));
    }
}
