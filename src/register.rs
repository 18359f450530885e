//! What the compliance history keeps: a snapshot of each mailbox per scan
//! and the deviation register. Below the store (which keeps them) and the
//! compliance report (which computes and renders them).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Messages and distinct values for one detector or category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub messages: u64,
    pub values: u64,
}

/// One mailbox as one scan left it: what the history keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub source: String,
    pub as_of: NaiveDate,
    pub messages: u64,
    pub bytes: u64,
    pub stale: u64,
    pub stale_by_rule: BTreeMap<String, u64>,
    pub oldest_stale: Option<NaiveDate>,
    pub sensitive_messages: u64,
    pub by_detector: BTreeMap<String, Count>,
    /// By category of personal data (a message counted once per category;
    /// a special category, having no value, counts a value per message).
    #[serde(default)]
    pub by_category: BTreeMap<String, Count>,
    /// Sensitive messages received within the month before `as_of`, and before.
    #[serde(default)]
    pub new_sensitive: u64,
    #[serde(default)]
    pub old_sensitive: u64,
    pub unreadable: u64,
}

/// A draft for the deviation log (avvikslogg): one message holding data
/// the policy says must not be sent by e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// Stable across reports and moves: the mailbox and the message's
    /// identity (its Message-ID; folder and key for a message without one)
    /// hashed.
    pub id: String,
    pub source: String,
    pub folder: String,
    pub key: String,
    pub message_id: String,
    pub date: Option<NaiveDate>,
    /// The system, as the log names it.
    pub system: String,
    /// The category of personal data (the most serious in the message).
    pub category: String,
    /// The kinds of data, by detector label.
    pub kinds: Vec<String>,
    /// Distinct values (identifiers) or 1 per special category.
    pub count: u64,
    /// `sent` by the mailbox's owner, or `received`.
    pub direction: String,
    /// Whether it went to or came from outside the organisation.
    pub external: bool,
    /// Masked, as in every report.
    pub subject: String,
    /// `open`; `in_deleted_items` while the message sits in Deleted Items
    /// (the data is still in the mailbox); `handled` once it has left the
    /// mailbox.
    pub status: DeviationStatus,
    pub first_seen: NaiveDate,
    pub handled_on: Option<NaiveDate>,
    /// What was done, for the log; filled in by people.
    pub action: String,
}

/// Where a deviation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationStatus {
    /// Its message is in the mailbox.
    Open,
    /// Its message sits in Deleted Items: moved, not gone (the data is
    /// still in the mailbox).
    InDeletedItems,
    /// Its message has left the mailbox.
    Handled,
}

impl DeviationStatus {
    /// The one textual form (JSON, CSV, the store).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviationStatus::Open => "open",
            DeviationStatus::InDeletedItems => "in_deleted_items",
            DeviationStatus::Handled => "handled",
        }
    }

    /// Not handled: the data is still in the mailbox.
    pub fn is_open(self) -> bool {
        self != DeviationStatus::Handled
    }
}

/// What tells one deviation of a mailbox's register from another across
/// scans: its message's Message-ID, or (a message without one) its id.
pub fn identity(d: &Deviation) -> String {
    if d.message_id.trim().is_empty() {
        d.id.clone()
    } else {
        format!("mid:{}", d.message_id.trim())
    }
}

/// The identity ([`identity`]) of the deviation a copy of a message would
/// give: its Message-ID, or without one the deviation's id from its
/// folder and key.
pub fn copy_identity(source: &str, message_id: &str, folder: &str, key: &str) -> String {
    if message_id.trim().is_empty() {
        deviation_id(source, message_id, folder, key)
    } else {
        format!("mid:{}", message_id.trim())
    }
}

/// A digest of everything a register entry says: two entries with one
/// digest are the same entry.
pub fn entry_digest(d: &Deviation) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(d).unwrap_or_default();
    hex::encode(&sha2::Sha256::digest(&json)[..16])
}

/// A deviation's id: the mailbox and the message's identity, so a message
/// moved between folders (a cleanup to Deleted Items) stays one deviation.
/// A message without a Message-ID is known by its folder and key.
pub fn deviation_id(source: &str, message_id: &str, folder: &str, key: &str) -> String {
    use sha2::Digest;
    let identity = if message_id.trim().is_empty() {
        format!("{source}\u{1f}{folder}\u{1f}{key}")
    } else {
        format!("{source}\u{1f}{}", message_id.trim())
    };
    format!("AV-{}", &hex::encode(sha2::Sha256::digest(identity))[..12])
}
