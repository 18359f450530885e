//! The write path to an IMAP mailbox, apart from the read-only scanner: the
//! only place mailhygiene sends a command that changes a mailbox (SELECT,
//! UID MOVE, UID COPY, UID STORE, UID EXPUNGE, CREATE, APPEND).
//!
//! Its callers (`clean`, `undo`, `remind`) journal every change before they
//! ask for it. Nothing here deletes permanently: messages are moved, and the
//! COPY fallback expunges exactly the UIDs it copied (UID EXPUNGE, UIDPLUS),
//! never what the user marked deleted.

use super::{
    Credentials, Folder, ImapError, ImapOptions, ImapUrl, ListedFolder, Session, classify,
    connect_with_retry, drain_unsolicited, list_folders, uid_fetch, with_timeout,
};
use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode, Status};
use std::collections::HashMap;
use std::time::Duration;

/// What the server can do that the write path depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCapabilities {
    /// RFC 6851 MOVE.
    pub moves: bool,
    /// RFC 4315 UIDPLUS: UID EXPUNGE and COPYUID.
    pub uidplus: bool,
}

/// A session opened for changes.
pub struct WriteSession {
    session: Session,
    timeout: Duration,
    pub capabilities: WriteCapabilities,
    selected: Option<(String, u32)>,
}

/// A message as stored in a mailbox, for copying it elsewhere unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Original {
    pub uid: u32,
    pub bytes: Vec<u8>,
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub flags: Vec<&'static str>,
}

/// What tells one stored message from another with the same Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    /// The Message-ID header's value, unfolded and trimmed; empty if none.
    pub message_id: String,
    pub size: Option<u32>,
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
}

/// The Message-ID value in a `HEADER.FIELDS (MESSAGE-ID)` reply.
pub fn message_id_of(header: &[u8]) -> String {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line.trim()),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("message-id")
                {
                    value = Some(rest.trim().to_string());
                }
            }
        }
    }
    value.unwrap_or_default()
}

/// Where moved messages landed: the destination's UIDVALIDITY and, per
/// source UID, the new UID (from COPYUID, when the server says).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landed {
    pub uid_validity: Option<u32>,
    pub uids: HashMap<u32, u32>,
}

/// A quoted string for a command: IMAP's quoted form, never a literal;
/// names with line breaks are refused (no server has them).
pub fn quote(s: &str) -> Result<String, ImapError> {
    if s.contains(['\r', '\n', '\0']) {
        return Err(ImapError::Protocol(
            "a folder name or search value with a line break".into(),
        ));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn expand(set: &[UidSetMember]) -> Vec<u32> {
    let mut out = Vec::new();
    for m in set {
        match m {
            UidSetMember::Uid(u) => out.push(*u),
            UidSetMember::UidRange(r) => out.extend(r.clone().take(1_000_000)),
        }
    }
    out
}

impl WriteSession {
    /// Connects and authenticates as the scanner does (with its retries).
    pub async fn open(
        url: &ImapUrl,
        credentials: &Credentials,
        opts: &ImapOptions,
    ) -> Result<WriteSession, ImapError> {
        let mut session = connect_with_retry(url, credentials, opts).await?;
        let (moves, uidplus) = super::move_capabilities(&mut session, opts.timeout).await?;
        let capabilities = WriteCapabilities { moves, uidplus };
        Ok(WriteSession {
            session,
            timeout: opts.timeout,
            capabilities,
            selected: None,
        })
    }

    pub async fn folders(&mut self) -> Result<Vec<ListedFolder>, ImapError> {
        list_folders(&mut self.session, self.timeout).await
    }

    pub async fn create(&mut self, server_name: &str) -> Result<(), ImapError> {
        self.tagged(&format!("CREATE {}", quote(server_name)?))
            .await
            .map(|_| ())
    }

    /// Opens a folder read-write; returns its UIDVALIDITY.
    pub async fn select(&mut self, folder: &Folder) -> Result<u32, ImapError> {
        if let Some((name, validity)) = &self.selected
            && name == &folder.server_name
        {
            return Ok(*validity);
        }
        let mailbox = with_timeout(self.timeout, self.session.select(&folder.server_name))
            .await?
            .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        let validity = mailbox.uid_validity.unwrap_or(0);
        self.selected = Some((folder.server_name.clone(), validity));
        Ok(validity)
    }

    /// Opens a folder read-only (EXAMINE): the leaver's side of a
    /// handover is never changed. Returns its UIDVALIDITY.
    pub async fn examine(&mut self, folder: &Folder) -> Result<u32, ImapError> {
        self.selected = None;
        let status = super::examine(&mut self.session, folder, self.timeout).await?;
        Ok(status.uid_validity)
    }

    /// `UID FETCH` of `uids` (nothing asked when there are none), read and
    /// checked by us, unsolicited replies set aside.
    async fn fetch(&mut self, uids: &[u32], items: &str) -> Result<Vec<super::Fetched>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let fetched = uid_fetch(&mut self.session, &uid_set(uids), items, self.timeout).await?;
        drain_unsolicited(&mut self.session);
        Ok(fetched)
    }

    /// The messages `uids` of the open folder as they are stored: bytes,
    /// INTERNALDATE and the flags a copy keeps (`BODY.PEEK[]`: unseen
    /// stays unseen).
    pub async fn originals(&mut self, uids: &[u32]) -> Result<Vec<Original>, ImapError> {
        let fetched = self
            .fetch(uids, "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            .await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| {
                Some(Original {
                    uid: f.uid?,
                    bytes: f.body?,
                    internal_date: f.internal_date,
                    flags: f.kept_flags,
                })
            })
            .collect())
    }

    /// UIDs in the selected folder that may be a copy of a message: the
    /// same Message-ID (a substring match: the caller compares exactly),
    /// or, for a message without one, the same INTERNALDATE day.
    pub async fn candidates(
        &mut self,
        message_id: &str,
        internal_date: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<u32>, ImapError> {
        if !message_id.is_empty() {
            return self.search_message_id(message_id).await;
        }
        let Some(date) = internal_date else {
            return Ok(Vec::new());
        };
        let query = format!("ON {}", date.format("%-d-%b-%Y"));
        let uids = with_timeout(self.timeout, self.session.uid_search(query))
            .await?
            .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        Ok(uids.into_iter().collect())
    }

    /// What the server keeps of `uids` of the selected folder: their
    /// Message-ID, sender and subject headers and INTERNALDATE.
    pub async fn kept_headers(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(Vec<u8>, Option<chrono::DateTime<chrono::Utc>>)>, ImapError> {
        let fetched = self
            .fetch(
                uids,
                "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM SUBJECT)])",
            )
            .await?;
        Ok(fetched
            .into_iter()
            .map(|f| (f.body.unwrap_or_default(), f.internal_date))
            .collect())
    }

    /// Appends a message with its original INTERNALDATE and flags.
    pub async fn append_original(
        &mut self,
        server_name: &str,
        original: &Original,
    ) -> Result<(), ImapError> {
        let flags = (!original.flags.is_empty()).then(|| format!("({})", original.flags.join(" ")));
        let date = original
            .internal_date
            .map(|d| d.format("\"%d-%b-%Y %H:%M:%S +0000\"").to_string());
        with_timeout(
            self.timeout,
            self.session.append(
                server_name,
                flags.as_deref(),
                date.as_deref(),
                &original.bytes,
            ),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        Ok(())
    }

    /// Which of `uids` are in the selected folder, and whether each is
    /// flagged.
    pub async fn flags(&mut self, uids: &[u32]) -> Result<HashMap<u32, bool>, ImapError> {
        let fetched = self.fetch(uids, "(UID FLAGS)").await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| Some((f.uid?, f.flagged)))
            .filter(|(uid, _)| uids.contains(uid))
            .collect())
    }

    /// Moves `uids` from the selected folder to `to` (a server name): UID
    /// MOVE where offered, else UID COPY, then `\Deleted` and UID EXPUNGE of
    /// exactly those UIDs. Without either MOVE or UIDPLUS it refuses: a plain
    /// EXPUNGE would also remove what the user marked deleted.
    pub async fn move_uids(&mut self, uids: &[u32], to: &str) -> Result<Landed, ImapError> {
        if uids.is_empty() {
            return Ok(Landed::default());
        }
        if !self.capabilities.moves {
            return Err(ImapError::Refused("the server does not offer MOVE".into()));
        }
        self.tagged(&format!("UID MOVE {} {}", uid_set(uids), quote(to)?))
            .await
    }

    /// Copies `uids` of the selected folder to `to` (the first half of a
    /// move without MOVE; COPY is all or nothing).
    pub async fn copy_uids(&mut self, uids: &[u32], to: &str) -> Result<Landed, ImapError> {
        if uids.is_empty() {
            return Ok(Landed::default());
        }
        if !self.capabilities.uidplus {
            return Err(ImapError::Refused(
                "the server offers neither MOVE nor UIDPLUS; moving would need a plain EXPUNGE, \
                 which would also remove messages the user marked deleted"
                    .into(),
            ));
        }
        self.tagged(&format!("UID COPY {} {}", uid_set(uids), quote(to)?))
            .await
    }

    /// What identifies `uids` of the selected folder: the exact Message-ID
    /// header, RFC822.SIZE and INTERNALDATE. A `SEARCH HEADER` match is a
    /// substring match; this is what proves a copy is the message.
    pub async fn identities(&mut self, uids: &[u32]) -> Result<Vec<Identity>, ImapError> {
        let fetched = self
            .fetch(
                uids,
                "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
            )
            .await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| {
                Some(Identity {
                    uid: f.uid?,
                    message_id: f.body.as_deref().map(message_id_of).unwrap_or_default(),
                    size: f.size,
                    internal_date: f.internal_date,
                })
            })
            .collect())
    }

    /// Marks `uids` `\Deleted` and expunges exactly them (UIDPLUS).
    pub async fn expunge_uids(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if !self.capabilities.uidplus {
            return Err(ImapError::Refused(
                "the server does not offer UIDPLUS (UID EXPUNGE)".into(),
            ));
        }
        let set = uid_set(uids);
        self.tagged(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"))
            .await?;
        self.tagged(&format!("UID EXPUNGE {set}")).await?;
        Ok(())
    }

    /// UIDs in the selected folder whose Message-ID header is `message_id`.
    pub async fn search_message_id(&mut self, message_id: &str) -> Result<Vec<u32>, ImapError> {
        if message_id.is_empty() {
            return Ok(Vec::new());
        }
        let uids = with_timeout(
            self.timeout,
            self.session
                .uid_search(format!("HEADER Message-ID {}", quote(message_id)?)),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// UIDs in the selected folder with `header` containing `value`.
    pub async fn search_header(
        &mut self,
        header: &str,
        value: &str,
    ) -> Result<Vec<u32>, ImapError> {
        let uids = with_timeout(
            self.timeout,
            self.session
                .uid_search(format!("HEADER {} {}", quote(header)?, quote(value)?)),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        Ok(uids.into_iter().collect())
    }

    /// Appends a message to a folder with the given flags (e.g. none, so it
    /// arrives unread).
    pub async fn append(
        &mut self,
        server_name: &str,
        flags: &str,
        message: &[u8],
    ) -> Result<(), ImapError> {
        let flags = (!flags.is_empty()).then(|| format!("({flags})"));
        with_timeout(
            self.timeout,
            self.session
                .append(server_name, flags.as_deref(), None, message),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(&mut self.session);
        Ok(())
    }

    pub async fn logout(mut self) {
        let _ = with_timeout(Duration::from_secs(5), self.session.logout()).await;
    }

    /// Runs a command and reads every reply to its tagged end, collecting
    /// COPYUID (sent untagged by MOVE, tagged by COPY).
    async fn tagged(&mut self, command: &str) -> Result<Landed, ImapError> {
        let tag = with_timeout(self.timeout, self.session.run_command(command))
            .await?
            .map_err(classify)?;
        let mut landed = Landed::default();
        let mut note = |code: &Option<ResponseCode<'_>>| {
            if let Some(ResponseCode::CopyUid(validity, from, to)) = code {
                landed.uid_validity = Some(*validity);
                for (a, b) in expand(from).into_iter().zip(expand(to)) {
                    landed.uids.insert(a, b);
                }
            }
        };
        loop {
            let Some(resp) = with_timeout(self.timeout, self.session.read_response())
                .await?
                .map_err(|e| classify(async_imap::error::Error::Io(e)))?
            else {
                return Err(ImapError::Unavailable(
                    "the connection closed before the server answered".into(),
                ));
            };
            match resp.parsed() {
                Response::Done {
                    tag: t,
                    status,
                    outcome,
                } if *t == tag => {
                    note(&outcome.code);
                    drain_unsolicited(&mut self.session);
                    return match status {
                        Status::Ok => Ok(landed),
                        _ => Err(classify(async_imap::error::Error::No(
                            outcome
                                .information
                                .as_deref()
                                .unwrap_or_default()
                                .to_string(),
                        ))),
                    };
                }
                Response::Data {
                    status: Status::Ok,
                    outcome,
                } => note(&outcome.code),
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(ImapError::Unavailable(format!(
                        "the server closed the connection: {}",
                        outcome.information.as_deref().unwrap_or_default()
                    )));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses_line_breaks() {
        assert_eq!(quote("Deleted Items").expect("ok"), "\"Deleted Items\"");
        assert_eq!(quote("a\"b\\c").expect("ok"), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
    }

    #[test]
    fn uid_sets_expand() {
        assert_eq!(
            expand(&[UidSetMember::Uid(3), UidSetMember::UidRange(7..=9)]),
            vec![3, 7, 8, 9]
        );
        assert_eq!(uid_set(&[1, 5]), "1,5");
    }
}
