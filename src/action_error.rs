//! What goes wrong changing a mailbox or copying into one: the one error
//! type of every mailbox-changing edge (the movers of `clean` and `undo`,
//! the origins and targets of a handover). Below both, so neither imports
//! the other for it.

use crate::imap::ImapError;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The mailbox could not be reached or the connection broke: what was
    /// journaled as intended is settled by the next run.
    #[error("{0}")]
    Imap(#[from] ImapError),
    #[error("{0}")]
    Io(String),
    /// Refused before anything changed.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

impl ActionError {
    /// Whether the change may have happened without our knowing (so its
    /// intent must stay open for the next run to settle).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ActionError::Imap(e) if e.is_transient() || matches!(e, ImapError::Protocol(_)))
            || matches!(self, ActionError::Io(_))
    }
}
