//! The tool's own mail: the keyed id and proof a reminder carries, so a
//! rerun finds the reminder it sent and a scan knows it for the tool's own,
//! while nobody without the installation's secret can forge either.

use crate::fingerprint::Fingerprinter;

/// What identifies one mailbox's reminder for one period, whatever the
/// delivery: written into the message so a rerun can find it. Keyed by the
/// installation's secret, so nobody who can mail the INBOX can make next
/// year's id and have that reminder taken for sent.
pub fn reminder_id(secret: &Fingerprinter, source: &str, period: &str) -> String {
    secret
        .for_purpose("reminder-id-v1")
        .fingerprint(&format!("{source}\n{period}"))[..24]
        .to_string()
}

/// The proof a reminder carries that this installation sent it: a keyed
/// hash of its reminder id and Message-ID (`X-Mailhygiene-Proof`).
pub fn reminder_proof(secret: &Fingerprinter, reminder_id: &str, message_id: &str) -> String {
    secret
        .for_purpose("reminder-proof-v1")
        .fingerprint(&format!("{}\n{}", reminder_id.trim(), message_id.trim()))
}

/// Whether raw message headers carry a reminder this installation sent:
/// `X-Mailhygiene-Kind: reminder` with an id and a proof that verifies
/// against its Message-ID. A forged or copied-over header does not.
pub fn is_own_reminder(secret: &Fingerprinter, raw: &[u8]) -> bool {
    // The header block only (a reminder's headers are short), and most
    // mail has no such header: a byte search there decides it cheaply.
    let window = &raw[..raw.len().min(64 << 10)];
    let end = memchr::memmem::find(window, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(window, b"\n\n"))
        .unwrap_or(window.len());
    if !["ygiene-Proof", "ygiene-proof", "YGIENE-PROOF"]
        .iter()
        .any(|n| memchr::memmem::find(&window[..end], n.as_bytes()).is_some())
    {
        return false;
    }
    let head = String::from_utf8_lossy(&window[..end]);
    let mut fields: std::collections::HashMap<String, String> = Default::default();
    let mut last: Option<String> = None;
    for line in head.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = last.as_ref().and_then(|n| fields.get_mut(n)) {
                v.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            last = None;
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        // The first of each: a second header added later proves nothing.
        if !fields.contains_key(&name) {
            fields.insert(name.clone(), value.trim().to_string());
            last = Some(name);
        } else {
            last = None;
        }
    }
    let get = |n: &str| fields.get(n).map(String::as_str).unwrap_or_default();
    get("x-mailhygiene-kind").eq_ignore_ascii_case("reminder")
        && !get("x-mailhygiene-reminder").is_empty()
        && !get("message-id").is_empty()
        && reminder_proof(secret, get("x-mailhygiene-reminder"), get("message-id"))
            == get("x-mailhygiene-proof")
}
