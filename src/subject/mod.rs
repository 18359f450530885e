//! Data-subject requests: every message in the store that concerns a
//! person, found by address, whole name or an identifier's fingerprint,
//! with the mail an offboarding case classified private left out unless
//! asked for. Reads the store one message at a time and keeps only hits.

mod export;

pub use self::export::{ExportError, export};

use crate::store::{Store, StoreError, StoredMessage};
use std::collections::HashSet;

/// What a request searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Messages sent by or to this address (lower case).
    Address(String),
    /// Messages from a sender whose name holds these words, whole and in
    /// order (see [`whole_name`]).
    Name(Vec<String>),
    /// Messages holding a value with one of these fingerprints.
    Fingerprints(HashSet<String>),
}

impl Query {
    /// How the audit trail names the search: by what, and the fingerprints
    /// it can be matched with (never the value searched for).
    pub fn audited(
        &self,
        fingerprinter: &crate::fingerprint::Fingerprinter,
    ) -> (&'static str, Vec<String>) {
        match self {
            Query::Address(a) => ("address", vec![fingerprinter.fingerprint(a)]),
            Query::Name(n) => ("name", vec![fingerprinter.fingerprint(&n.join(" "))]),
            Query::Fingerprints(f) => {
                let mut f: Vec<String> = f.iter().cloned().collect();
                f.sort();
                ("identifier", f)
            }
        }
    }
}

/// A request as the audit trail records it.
pub struct Recorded<'a> {
    pub query: &'a Query,
    pub found: &'a Found,
    /// `--include-private`'s reason, when private mail was included.
    pub include_private: Option<&'a str>,
    /// Where a copy was exported, and how many messages could not be read.
    pub export: Option<(&'a str, u64)>,
}

/// Records a search (`subject`) or an export (`export`) in the audit trail:
/// that it was made, for whom as fingerprints, and how much it found.
pub fn record(
    store: &mut dyn Store,
    fingerprinter: &crate::fingerprint::Fingerprinter,
    request: &Recorded<'_>,
) -> Result<(), StoreError> {
    let (by, searched) = request.query.audited(fingerprinter);
    store.audit(
        if request.export.is_some() {
            "export"
        } else {
            "subject"
        },
        None,
        serde_json::json!({
            "by": by,
            "fingerprints": searched,
            "messages": request.found.hits.len(),
            "private_left_out": request.found.left_out,
            "include_private": request.include_private,
            "export": request.export.map(|(dir, _)| dir),
            "failed": request.export.map_or(0, |(_, failed)| failed),
        }),
    )?;
    Ok(())
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    pub hits: Vec<StoredMessage>,
    /// Hits an offboarding case classified private, left out.
    pub left_out: u64,
}

/// Every stored message matching `query`, mailbox by mailbox. Mail an
/// offboarding case classified private is the employee's own: left out
/// (and counted) unless `include_private`.
pub fn search(
    store: &dyn Store,
    query: &Query,
    include_private: bool,
) -> Result<Found, StoreError> {
    let private = store.private_case_messages()?;
    let mut found = Found::default();
    for mailbox in store.mailboxes()? {
        store.each_message(&mailbox.source, None, &mut |m| {
            let e = &m.report.envelope;
            let hit = match query {
                Query::Address(a) => e.from.iter().chain(&e.to).any(|x| x == a),
                Query::Name(n) => name_matches(&e.from_name, n),
                Query::Fingerprints(f) => {
                    m.report.findings.iter().any(|x| f.contains(&x.fingerprint))
                }
            };
            if !hit {
                return Ok(());
            }
            let at = (
                m.source.clone(),
                m.report.meta.folder.clone(),
                crate::model::message_key(&m.report),
            );
            if !include_private && private.contains(&at) {
                found.left_out += 1;
            } else {
                found.hits.push(m);
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// One hit as the `subject_message` record (also the export's index):
/// metadata and masked findings, never a value.
pub fn index_record(m: &StoredMessage) -> serde_json::Value {
    let r = &m.report;
    serde_json::json!({
        "type": "subject_message",
        "source": m.source,
        "folder": r.meta.folder,
        "uid": r.meta.uid,
        "message_id": r.envelope.message_id,
        "key": crate::model::message_key(r),
        "date": r.date.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "from": r.envelope.from,
        "to": r.envelope.to,
        "subject": r.envelope.subject,
        "findings": r.findings.iter().map(|f| serde_json::json!({
            "detector": f.detector.to_string(), "masked": f.masked, "fingerprint": f.fingerprint,
        })).collect::<Vec<_>>(),
    })
}

/// The canonical values an identifier typed by a person stands for, each
/// passing its checksum: what the detectors would have fingerprinted. An
/// identifier that passes none is a typo, and searching for it would
/// answer "0 messages" as if the person were not there.
pub fn valid_identifiers(raw: &str, as_of: chrono::NaiveDate) -> Vec<String> {
    use crate::checksum;
    use crate::detect::identifiers::{self, IdentifierSettings, Rule2032};
    let settings = IdentifierSettings {
        as_of,
        rule_2032: Rule2032::Auto.enabled(as_of),
    };
    let text = crate::detect::normalise(raw);
    let mut out: Vec<String> = identifiers::find(&text, &settings, false)
        .into_iter()
        .map(|h| h.canonical)
        .collect();
    // A bare account number: the detector wants a label next to one (most
    // 11-digit runs in mail are not accounts); typed here, the request is
    // the label.
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if out.is_empty()
        && let Some(d) = checksum::digits::<11>(digits.as_bytes())
        && checksum::no_bank_account(&d)
    {
        out.push(digits);
    }
    out.sort();
    out.dedup();
    out
}

/// A name search must name a person: two words at least, or the whole
/// name of a mailbox's owner. `--name a` would match nearly everyone.
pub fn whole_name(name: &str, owners: &[String]) -> bool {
    let words = crate::offboard::words(name).count();
    words >= 2
        || (words == 1
            && owners
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(name.trim())))
}

/// Whether a sender's name holds these words, in order and whole.
pub fn name_matches(from_name: &str, wanted: &[String]) -> bool {
    let words: Vec<String> = crate::offboard::words(from_name).collect();
    !wanted.is_empty() && words.windows(wanted.len()).any(|w| w == wanted)
}

/// An erasure request as the store can act on it: the records of a
/// `subject --format jsonl` list for one mailbox, each checked against the
/// message the store holds at its folder and key now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    /// (folder, inventory key) of every message to move.
    pub chosen: HashSet<(String, String)>,
    /// Records refused: (line, folder, Message-ID) of a message the store no
    /// longer holds there (an edited line, a list from before the mailbox
    /// changed): never taken for whatever sits at that key now.
    pub refused: Vec<(usize, String, String)>,
}

/// Why an erasure list cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("line {line}: {why}")]
    BadLine { line: usize, why: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Reads an erasure list (`subject --format jsonl` records) for `source`:
/// records of other mailboxes are passed over, each of this one's must
/// still name the message the store holds there.
pub fn erasure(store: &dyn Store, source: &str, list: &str) -> Result<Erasure, ErasureError> {
    // (folder, key) -> (line, Message-ID) as the record names them.
    let mut listed: std::collections::BTreeMap<(String, String), (usize, String)> =
        Default::default();
    for (i, line) in list
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| ErasureError::BadLine {
                line: i + 1,
                why: e.to_string(),
            })?;
        if v["source"].as_str() != Some(source) {
            continue;
        }
        let (Some(folder), Some(key), Some(message_id)) = (
            v["folder"].as_str(),
            v["key"].as_str(),
            v["message_id"].as_str(),
        ) else {
            return Err(ErasureError::BadLine {
                line: i + 1,
                why: "a record without folder, key and message_id (use `subject --format jsonl`)"
                    .into(),
            });
        };
        listed
            .entry((folder.to_string(), key.to_string()))
            .or_insert((i + 1, message_id.to_string()));
    }
    let mut stored: std::collections::HashMap<(String, String), String> = Default::default();
    store.each_message(source, None, &mut |m| {
        let at = (
            m.report.meta.folder.clone(),
            crate::model::message_key(&m.report),
        );
        if listed.contains_key(&at) {
            stored.insert(at, m.report.envelope.message_id.clone());
        }
        Ok(())
    })?;
    let mut out = Erasure::default();
    for (at, (line, message_id)) in listed {
        if stored.get(&at) == Some(&message_id) {
            out.chosen.insert(at);
        } else {
            out.refused.push((line, at.0, message_id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Envelope, Finding, Location, MessageMeta, MessageReport};
    use crate::store::RunKind;

    fn message(uid: u32, from: &str, name: &str, fingerprint: &str) -> MessageReport {
        MessageReport {
            meta: MessageMeta {
                uid: Some(uid),
                uid_validity: Some(1),
                ..MessageMeta::local("INBOX", 10, "")
            },
            envelope: Envelope {
                message_id: format!("<{uid}@t>"),
                from: vec![from.into()],
                from_name: name.into(),
                to: vec!["kari@firma.no".into()],
                ..Envelope::default()
            },
            date: None,
            findings: vec![Finding {
                detector: crate::model::DetectorId::NoFodselsnummer,
                location: Location::Body,
                masked: "15*******65".into(),
                fingerprint: fingerprint.into(),
                confidence: 0.9,
            }],
            stale: None,
            problems: Vec::new(),
            signals: Default::default(),
        }
    }

    /// By address, by whole name (not a part of one), by fingerprint,
    /// through the library alone.
    #[test]
    fn a_request_finds_the_persons_messages_and_no_others() {
        let mut store = crate::store::for_tests();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        for m in [
            message(1, "ola@kunde.no", "Ola Nordmann", "aa"),
            message(2, "per@kunde.no", "Per Olavsen", "bb"),
        ] {
            store.record(run, "src", &m).expect("record");
        }
        let ids = |q: Query| -> Vec<String> {
            search(store.as_ref(), &q, false)
                .expect("search")
                .hits
                .into_iter()
                .map(|m| m.report.envelope.message_id)
                .collect()
        };
        assert_eq!(ids(Query::Address("ola@kunde.no".into())), ["<1@t>"]);
        assert_eq!(ids(Query::Address("kari@firma.no".into())).len(), 2);
        assert_eq!(
            ids(Query::Name(vec!["ola".into(), "nordmann".into()])),
            ["<1@t>"]
        );
        // "ola" is in "Olavsen" only as a part: no whole-word match.
        assert_eq!(ids(Query::Name(vec!["ola".into()])), ["<1@t>"]);
        assert_eq!(
            ids(Query::Fingerprints(HashSet::from(["bb".to_string()]))),
            ["<2@t>"]
        );
        assert!(!whole_name("ola", &[]));
        assert!(whole_name("Ola Nordmann", &[]));
        assert!(whole_name("Kari", &["Kari".to_string()]));
        assert_eq!(valid_identifiers("150765 00565", as_of), ["15076500565"]);
        assert!(valid_identifiers("150765 00566", as_of).is_empty());
        // An erasure list: the search's own record is taken, an edited one
        // refused by its line, another mailbox's passed over.
        let found = search(
            store.as_ref(),
            &Query::Address("ola@kunde.no".into()),
            false,
        )
        .expect("search");
        let mut list = index_record(&found.hits[0]).to_string() + "\n";
        list += &index_record(&found.hits[0])
            .to_string()
            .replace("<1@t>", "<9@t>")
            .replace("\"key\":\"1:1\"", "\"key\":\"1:2\"");
        list += "\n{\"source\":\"other\",\"folder\":\"INBOX\",\"key\":\"1:1\",\"message_id\":\"<1@t>\"}\n";
        let e = erasure(store.as_ref(), "src", &list).expect("reads");
        assert_eq!(
            e.chosen,
            HashSet::from([("INBOX".to_string(), "1:1".to_string())])
        );
        assert_eq!(e.refused, [(2, "INBOX".to_string(), "<9@t>".to_string())]);
        assert!(matches!(
            erasure(store.as_ref(), "src", "not json\n"),
            Err(ErasureError::BadLine { line: 1, .. })
        ));
    }
}
