//! The edges `clean` and `undo` act through: an IMAP mailbox (over the write
//! session) and a Maildir tree (renames). Each converts its own notions
//! (UIDs and COPYUID, file names and flags) into the [`Mover`] vocabulary.

use super::ActionError;
use crate::imap::write::{Identity, WriteSession};
use crate::imap::{Credentials, Folder, ImapOptions, ImapUrl, ListedFolder};
use crate::source::maildir;
use crate::store::JournalEntry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Runs one write-session call on the mover's runtime: `on_session!(self,
/// |session| session.flags(&uids))`.
macro_rules! on_session {
    ($mover:ident, |$session:ident| $call:expr) => {{
        let runtime = &$mover.runtime;
        let $session = $mover
            .session
            .as_mut()
            .ok_or_else(|| ActionError::Io("the IMAP session is closed".into()))?;
        crate::imap::run_guarded(runtime, $call)?
    }};
}

pub use crate::model::{TRASH_NAMES, is_trash};

/// One message to act on, as the inventory or the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub uid_validity: Option<u32>,
    /// `None` for local messages, or an IMAP move whose new UID the server
    /// did not say (found again by Message-ID).
    pub uid: Option<u32>,
    pub key: Option<String>,
    pub message_id: String,
    /// Size and INTERNALDATE as the inventory knew them: what proves a
    /// message found again by Message-ID is this one.
    pub size: Option<u64>,
    pub received: Option<chrono::DateTime<chrono::Utc>>,
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Moved(Dest),
    /// The change began but did not finish (copied, the original not
    /// removed): looked at again on the next run, before anything else.
    Unknown {
        dest: Option<Dest>,
        why: String,
    },
    /// Nothing changed for this message.
    Failed(String),
}

/// A message as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub uid: Option<u32>,
    pub key: Option<String>,
    pub flagged: bool,
}

/// What a folder holds of some items now.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub uid_validity: Option<u32>,
    /// Per item (same order): where it is, if it is there.
    pub found: Vec<Option<Found>>,
}

/// Where a moved message landed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dest {
    pub uid_validity: Option<u32>,
    pub uid: Option<u32>,
    pub key: Option<String>,
}

/// Where a journaled move stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    AtSource,
    /// At its destination, proven the same message.
    AtDest(Dest),
    /// Copied but not yet removed from the source (an interrupted COPY
    /// fallback); the copy is proven the same message, so the original may
    /// be removed.
    Both(Dest),
    /// A message with its Message-ID is at the destination but is not
    /// provably it (another size or date, or nothing to compare): the
    /// original, if still there, is left alone.
    Unsure(String),
    Gone,
}

/// What `clean` and `undo` need from a mailbox.
pub trait Mover {
    /// The deleted-items folder, if the mailbox has one.
    fn find_trash(&mut self) -> Result<Option<String>, ActionError>;
    /// The deleted-items folder, created (as `Deleted Items`) when missing.
    fn ensure_trash(&mut self) -> Result<String, ActionError>;
    /// What `folder` holds of `items` now.
    fn inspect(&mut self, folder: &str, items: &[Item]) -> Result<Inspection, ActionError>;
    /// Moves found items from `folder` to `to`: per item (same order),
    /// what happened. An error means nothing is known to have changed
    /// (when [`ActionError::outcome_unknown`], it may have).
    fn move_items(
        &mut self,
        folder: &str,
        items: &[Found],
        to: &str,
    ) -> Result<Vec<Outcome>, ActionError>;
    /// Where a journaled, unfinished move stands.
    fn locate(&mut self, entry: &JournalEntry) -> Result<Whereabouts, ActionError>;
    /// Removes the source copy of a move whose copy is already at its
    /// destination, proven by [`Mover::locate`] (`Whereabouts::Both`).
    fn remove_source(&mut self, entry: &JournalEntry) -> Result<(), ActionError>;
}

/// An IMAP mailbox, driven from synchronous code on a small runtime of its own.
pub struct ImapMover {
    runtime: tokio::runtime::Runtime,
    session: Option<WriteSession>,
    folders: Vec<ListedFolder>,
}

impl ImapMover {
    pub fn open(
        url: &ImapUrl,
        credentials: &Credentials,
        opts: &ImapOptions,
    ) -> Result<ImapMover, ActionError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ActionError::Io(format!("cannot start the IMAP runtime: {e}")))?;
        let mut session =
            crate::imap::run_guarded(&runtime, WriteSession::open(url, credentials, opts))?;
        let folders = crate::imap::run_guarded(&runtime, session.folders())?;
        Ok(ImapMover {
            runtime,
            session: Some(session),
            folders,
        })
    }

    fn folder(&self, name: &str) -> Result<Folder, ActionError> {
        self.folders
            .iter()
            .find(|f| f.folder.name == name && f.selectable)
            .map(|f| f.folder.clone())
            .ok_or_else(|| ActionError::Refused(format!("the folder {name} no longer exists")))
    }

    fn select(&mut self, name: &str) -> Result<u32, ActionError> {
        let folder = self.folder(name)?;
        Ok(on_session!(self, |session| session.select(&folder)))
    }

    /// The UIDs in `to` whose Message-ID is the entry's, newest first.
    fn find_by_message_id(&mut self, to: &str, message_id: &str) -> Result<Vec<u32>, ActionError> {
        self.select(to)?;
        let mut uids = on_session!(self, |session| session.search_message_id(message_id));
        uids.reverse();
        Ok(uids)
    }

    /// Whether the server can move without touching other messages.
    pub fn can_move(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.capabilities.moves || s.capabilities.uidplus)
    }
}

impl Drop for ImapMover {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.runtime.block_on(session.logout());
        }
    }
}

impl Mover for ImapMover {
    fn find_trash(&mut self) -> Result<Option<String>, ActionError> {
        if let Some(f) = self.folders.iter().find(|f| f.trash && f.selectable) {
            return Ok(Some(f.folder.name.clone()));
        }
        Ok(TRASH_NAMES.iter().find_map(|name| {
            self.folders
                .iter()
                .find(|f| f.selectable && f.folder.name.eq_ignore_ascii_case(name))
                .map(|f| f.folder.name.clone())
        }))
    }

    fn ensure_trash(&mut self) -> Result<String, ActionError> {
        if let Some(name) = self.find_trash()? {
            return Ok(name);
        }
        on_session!(self, |session| session.create(TRASH_NAMES[0]));
        self.folders = on_session!(self, |session| session.folders());
        self.find_trash()?
            .ok_or_else(|| ActionError::Refused("cannot create a Deleted Items folder".into()))
    }

    fn inspect(&mut self, folder: &str, items: &[Item]) -> Result<Inspection, ActionError> {
        let validity = self.select(folder)?;
        let mut uids: Vec<Option<u32>> = Vec::with_capacity(items.len());
        for item in items {
            let uid = match item.uid {
                Some(uid) if item.uid_validity.is_none_or(|v| v == validity) => Some(uid),
                Some(_) => None,
                // Moved by a server that gave no COPYUID: found by Message-ID.
                None => self
                    .find_by_message_id(folder, &item.message_id)?
                    .first()
                    .copied(),
            };
            uids.push(uid);
        }
        let wanted: Vec<u32> = uids.iter().flatten().copied().collect();
        self.select(folder)?;
        let flags = on_session!(self, |session| session.flags(&wanted));
        Ok(Inspection {
            uid_validity: Some(validity),
            found: uids
                .into_iter()
                .map(|uid| {
                    let uid = uid?;
                    flags.get(&uid).map(|flagged| Found {
                        uid: Some(uid),
                        key: None,
                        flagged: *flagged,
                    })
                })
                .collect(),
        })
    }

    fn move_items(
        &mut self,
        folder: &str,
        items: &[Found],
        to: &str,
    ) -> Result<Vec<Outcome>, ActionError> {
        let to_server = self.folder(to)?.server_name;
        self.select(folder)?;
        let uids: Vec<u32> = items.iter().filter_map(|f| f.uid).collect();
        let moves = self.session.as_ref().is_some_and(|s| s.capabilities.moves);
        let landed = if moves {
            on_session!(self, |session| session.move_uids(&uids, &to_server))
        } else {
            on_session!(self, |session| session.copy_uids(&uids, &to_server))
        };
        let dests = items.iter().map(|f| Dest {
            uid_validity: landed.uid_validity,
            uid: f.uid.and_then(|u| landed.uids.get(&u).copied()),
            key: None,
        });
        if moves {
            return Ok(dests.map(Outcome::Moved).collect());
        }
        // Copied: from here on an error leaves two copies, which the next
        // run settles (proving the copy before removing the original).
        let removed = self
            .session
            .as_mut()
            .ok_or_else(|| ActionError::Io("the IMAP session is closed".into()))
            .and_then(|session| {
                crate::imap::run_guarded(&self.runtime, session.expunge_uids(&uids))
                    .map_err(ActionError::from)
            });
        Ok(match removed {
            Ok(()) => dests.map(Outcome::Moved).collect(),
            Err(e) => dests
                .map(|d| Outcome::Unknown {
                    dest: Some(d),
                    why: format!("copied to {to}, but the original was not removed ({e})"),
                })
                .collect(),
        })
    }

    fn locate(&mut self, entry: &JournalEntry) -> Result<Whereabouts, ActionError> {
        // The original: at its UID (same UIDVALIDITY), or, for a message
        // whose UID the server never said, one provably it.
        let validity = self.select(&entry.folder)?;
        let source: Option<Identity> = match entry.uid {
            Some(uid) if entry.uid_validity.is_none_or(|v| v == validity) => {
                on_session!(self, |session| session.identities(&[uid]))
                    .into_iter()
                    .next()
            }
            Some(_) => None,
            None => {
                let uids = self.find_by_message_id(&entry.folder, &entry.message_id)?;
                self.select(&entry.folder)?;
                on_session!(self, |session| session.identities(&uids))
                    .into_iter()
                    .find(|i| proves(i, entry, None))
            }
        };
        // The copy: at the UID the server reported, else any message with
        // the Message-ID; either counts only when proven.
        let dest_validity = self.select(&entry.to_folder)?;
        let candidates = match entry.dest_uid {
            Some(uid) if entry.dest_uid_validity.is_none_or(|v| v == dest_validity) => vec![uid],
            _ => self.find_by_message_id(&entry.to_folder, &entry.message_id)?,
        };
        self.select(&entry.to_folder)?;
        let found = on_session!(self, |session| session.identities(&candidates));
        let lookalike = found
            .iter()
            .any(|i| !i.message_id.is_empty() && i.message_id == entry.message_id);
        let dest = found
            .iter()
            .find(|i| proves(i, entry, source.as_ref()))
            .map(|i| Dest {
                uid_validity: Some(dest_validity),
                uid: Some(i.uid),
                key: None,
            });
        Ok(match (source.is_some(), dest) {
            (true, Some(d)) => Whereabouts::Both(d),
            (false, Some(d)) => Whereabouts::AtDest(d),
            (_, None) if lookalike => Whereabouts::Unsure(format!(
                "{} holds a message with this Message-ID that is not provably it (size or date differ, or nothing to compare)",
                entry.to_folder
            )),
            (true, None) => Whereabouts::AtSource,
            (false, None) => Whereabouts::Gone,
        })
    }

    fn remove_source(&mut self, entry: &JournalEntry) -> Result<(), ActionError> {
        let Some(uid) = entry.uid else {
            return Err(ActionError::Refused(
                "cannot tell which copy to remove".into(),
            ));
        };
        self.select(&entry.folder)?;
        on_session!(self, |session| session.expunge_uids(&[uid]));
        Ok(())
    }
}

/// Whether `found` is provably the journaled message: the exact Message-ID
/// (not a substring), and the size and INTERNALDATE the journal recorded
/// (or, for an older entry without them, the original's own). Nothing to
/// compare proves nothing.
pub fn proves(found: &Identity, entry: &JournalEntry, original: Option<&Identity>) -> bool {
    if found.message_id.is_empty() || found.message_id != entry.message_id {
        return false;
    }
    let size = entry
        .size
        .or_else(|| original.and_then(|o| o.size).map(u64::from));
    let date = entry
        .received
        .or_else(|| original.and_then(|o| o.internal_date));
    if size.is_none() && date.is_none() {
        return false;
    }
    size.is_none_or(|s| found.size.map(u64::from) == Some(s))
        && date.is_none_or(|d| found.internal_date.map(|f| f.timestamp()) == Some(d.timestamp()))
}

/// A Maildir++ tree: moves are renames into the other folder's `cur/` or
/// `new/`, keeping the file name (and with it the flags and the key).
pub struct MaildirMover {
    root: PathBuf,
    folders: HashMap<String, PathBuf>,
}

impl MaildirMover {
    pub fn open(root: &Path) -> Result<MaildirMover, ActionError> {
        let folders = maildir::folders(root)
            .map_err(|e| ActionError::Io(format!("cannot read Maildir {}: {e}", root.display())))?
            .into_iter()
            .map(|f| (f.name, f.dir))
            .collect();
        Ok(MaildirMover {
            root: root.to_path_buf(),
            folders,
        })
    }

    fn dir(&self, folder: &str) -> Result<&PathBuf, ActionError> {
        self.folders
            .get(folder)
            .ok_or_else(|| ActionError::Refused(format!("the folder {folder} no longer exists")))
    }

    /// The files of a folder by key.
    fn files(&self, folder: &str) -> Result<HashMap<String, PathBuf>, ActionError> {
        maildir::files_by_key(self.dir(folder)?).map_err(|e| ActionError::Io(e.to_string()))
    }
}

fn flagged_path(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(maildir::flagged)
}

impl Mover for MaildirMover {
    fn find_trash(&mut self) -> Result<Option<String>, ActionError> {
        Ok(TRASH_NAMES.iter().find_map(|name| {
            self.folders
                .keys()
                .find(|f| f.eq_ignore_ascii_case(name))
                .cloned()
        }))
    }

    fn ensure_trash(&mut self) -> Result<String, ActionError> {
        if let Some(name) = self.find_trash()? {
            return Ok(name);
        }
        let name = TRASH_NAMES[0];
        let dir = self.root.join(format!(".{name}"));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| ActionError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        self.folders.insert(name.to_string(), dir);
        Ok(name.to_string())
    }

    fn inspect(&mut self, folder: &str, items: &[Item]) -> Result<Inspection, ActionError> {
        let files = self.files(folder)?;
        Ok(Inspection {
            uid_validity: None,
            found: items
                .iter()
                .map(|item| {
                    let key = item.key.as_ref()?;
                    files.get(key).map(|path| Found {
                        uid: None,
                        key: Some(key.clone()),
                        flagged: flagged_path(path),
                    })
                })
                .collect(),
        })
    }

    fn move_items(
        &mut self,
        folder: &str,
        items: &[Found],
        to: &str,
    ) -> Result<Vec<Outcome>, ActionError> {
        let files = self.files(folder)?;
        let to_dir = self.dir(to)?.clone();
        // Each rename stands alone: one refused file is that file's
        // failure, and every file moved before or after it is recorded.
        Ok(items
            .iter()
            .map(|item| {
                let key = item.key.clone().unwrap_or_default();
                let Some(path) = files.get(&key) else {
                    return Outcome::Failed(format!("{key} is no longer in {folder}"));
                };
                let sub = path
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_os_string())
                    .unwrap_or_else(|| "cur".into());
                let target = to_dir.join(sub).join(path.file_name().unwrap_or_default());
                if target.exists() {
                    return Outcome::Failed(format!(
                        "{} already exists; not overwritten",
                        target.display()
                    ));
                }
                match std::fs::rename(path, &target) {
                    Ok(()) => Outcome::Moved(Dest {
                        uid_validity: None,
                        uid: None,
                        key: Some(key),
                    }),
                    Err(e) => Outcome::Failed(format!("cannot move {}: {e}", path.display())),
                }
            })
            .collect())
    }

    fn locate(&mut self, entry: &JournalEntry) -> Result<Whereabouts, ActionError> {
        let key = entry.local_key.clone().unwrap_or_default();
        let at_source = self.files(&entry.folder)?.contains_key(&key);
        let at_dest = self.files(&entry.to_folder)?.contains_key(&key);
        let dest = Dest {
            uid_validity: None,
            uid: None,
            key: Some(key),
        };
        Ok(match (at_source, at_dest) {
            (true, false) => Whereabouts::AtSource,
            (true, true) => Whereabouts::Both(dest),
            (false, true) => Whereabouts::AtDest(dest),
            (false, false) => Whereabouts::Gone,
        })
    }

    fn remove_source(&mut self, _entry: &JournalEntry) -> Result<(), ActionError> {
        // A rename never leaves two copies: two files with one key were made
        // by someone else, and neither is ours to remove.
        Err(ActionError::Refused(
            "the message is in both folders; left as it is".into(),
        ))
    }
}
