//! Folders: LIST with the special-use and not-mail rules, and EXAMINE.

use super::*;

/// A folder worth scanning, by its server name and its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub server_name: String,
    /// `/`-separated, modified UTF-7 decoded; `INBOX` for the inbox.
    pub name: String,
}

/// Folders that hold no mail on Exchange (English and Norwegian names):
/// calendars, contacts, tasks, notes, journals, conversation history, sync
/// problems, the outbox, RSS feeds, and the hidden `Files` folder (every
/// attachment again, without headers).
const NON_MAIL: &[&str] = &[
    "calendar",
    "contacts",
    "tasks",
    "notes",
    "journal",
    "conversation history",
    "sync issues",
    "outbox",
    "rss feeds",
    "rss subscriptions",
    "files",
    "kalender",
    "kontakter",
    "oppgaver",
    "notater",
    "logg",
    "samtalelogg",
    "synkroniseringsproblemer",
    "utboks",
    "rss-feeder",
    "filer",
];

/// The folders every Exchange mailbox has: when a listing holds at least
/// three of them at the top level, it is Exchange's, and its non-mail
/// folders are skipped. A user's own "Logg" or "Notes" on another server
/// is read like any folder.
const EXCHANGE_MARKERS: &[&str] = &[
    "calendar",
    "contacts",
    "tasks",
    "journal",
    "kalender",
    "kontakter",
    "oppgaver",
];

/// A folder as LIST describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    pub folder: Folder,
    pub selectable: bool,
    /// Holds no mail (Exchange's Calendar, Contacts, ... and subfolders).
    pub non_mail: bool,
    /// Marked `\Trash` (SPECIAL-USE) by the server.
    pub trash: bool,
    /// The hierarchy delimiter.
    pub delimiter: String,
}

/// Every folder LIST reports, with what it is.
pub async fn list_folders(
    session: &mut Session,
    timeout: Duration,
) -> Result<Vec<ListedFolder>, ImapError> {
    let names: Vec<_> = with_timeout(timeout, async {
        session
            .list(Some(""), Some("*"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?
    .map_err(classify)?;
    let mut out = Vec::new();
    for n in &names {
        let delimiter = n.delimiter().unwrap_or("/");
        let display: Vec<String> = n
            .name()
            .split(delimiter)
            .map(crate::source::utf7::decode)
            .collect();
        let top = display
            .first()
            .map(|s| s.to_lowercase())
            .unwrap_or_default();
        let name = if n.name().eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            display.join("/")
        };
        out.push(ListedFolder {
            folder: Folder {
                server_name: n.name().to_string(),
                name,
            },
            selectable: !n
                .attributes()
                .iter()
                .any(|a| matches!(a, NameAttribute::NoSelect)),
            non_mail: NON_MAIL.contains(&top.as_str()),
            trash: n
                .attributes()
                .iter()
                .any(|a| matches!(a, NameAttribute::Trash)),
            delimiter: delimiter.to_string(),
        });
    }
    let tops: std::collections::HashSet<String> = out
        .iter()
        .filter(|f| !f.folder.name.contains('/'))
        .map(|f| f.folder.name.to_lowercase())
        .collect();
    let exchange = EXCHANGE_MARKERS
        .iter()
        .filter(|m| tops.contains(**m))
        .count()
        >= 3;
    if !exchange {
        for f in &mut out {
            f.non_mail = false;
        }
    }
    out.sort_by(|a, b| {
        (a.folder.name != "INBOX", &a.folder.name).cmp(&(b.folder.name != "INBOX", &b.folder.name))
    });
    drain_unsolicited(session);
    Ok(out)
}

/// Lists the folders to scan: everything selectable except Exchange's
/// non-mail folders (and their subfolders), which are returned apart so
/// reports can name them.
pub async fn folders(
    session: &mut Session,
    timeout: Duration,
) -> Result<(Vec<Folder>, Vec<String>), ImapError> {
    let mut scan = Vec::new();
    let mut skipped = Vec::new();
    for f in list_folders(session, timeout).await? {
        if f.non_mail {
            skipped.push(f.folder.name);
        } else if f.selectable {
            scan.push(f.folder);
        }
    }
    Ok((scan, skipped))
}

/// One message's metadata from `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)`.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub uid: u32,
    pub flagged: bool,
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub size: u64,
    /// The `Date:` header, when it was asked for.
    pub sent: Option<chrono::DateTime<chrono::Utc>>,
}

/// What EXAMINE says about a folder.
#[derive(Debug, Clone, Copy)]
pub struct FolderStatus {
    pub uid_validity: u32,
    pub exists: u32,
    pub uid_next: Option<u32>,
}

/// Opens a folder read-only.
pub async fn examine(
    session: &mut Session,
    folder: &Folder,
    timeout: Duration,
) -> Result<FolderStatus, ImapError> {
    // The library quotes the name itself (names may hold spaces: `Sent Items`).
    let mailbox = with_timeout(timeout, session.examine(&folder.server_name))
        .await?
        .map_err(classify)?;
    Ok(FolderStatus {
        uid_validity: mailbox.uid_validity.unwrap_or(0),
        exists: mailbox.exists,
        uid_next: mailbox.uid_next,
    })
}
