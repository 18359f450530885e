//! FETCH, read ourselves: metadata, bodies and the replies a throttling
//! or withholding server gives.

use super::*;

/// One message as a FETCH response describes it.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub(crate) uid: Option<u32>,
    pub(crate) flagged: bool,
    pub(crate) internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) size: Option<u32>,
    pub(crate) body: Option<Vec<u8>>,
    /// The system flags a copy keeps (`\Seen`, `\Answered`, `\Flagged`,
    /// `\Draft`); `\Deleted` and `\Recent` are not carried over.
    pub(crate) kept_flags: Vec<&'static str>,
}

/// Runs a `UID FETCH` and reads its responses ourselves. The library's fetch
/// stream ends quietly at the tagged reply whatever its status, so a
/// `NO Request is throttled` (Exchange) would look like an empty result and
/// messages would be lost; here every reply is checked.
pub(crate) async fn uid_fetch(
    session: &mut Session,
    set: &str,
    items: &str,
    timeout: Duration,
) -> Result<Vec<Fetched>, ImapError> {
    use async_imap::imap_proto::{AttributeValue, Response, Status};
    let tag = with_timeout(
        timeout,
        session.run_command(format!("UID FETCH {set} {items}")),
    )
    .await?
    .map_err(classify)?;
    let mut out = Vec::new();
    let mut bye: Option<String> = None;
    loop {
        let Some(resp) = with_timeout(timeout, session.read_response())
            .await?
            .map_err(|e| classify(async_imap::error::Error::Io(e)))?
        else {
            let said = bye.unwrap_or_default();
            return Err(throttle_wait(&said).map_or_else(
                || {
                    ImapError::Unavailable(
                        format!("connection closed during FETCH {said}")
                            .trim_end()
                            .to_string(),
                    )
                },
                throttled,
            ));
        };
        match resp.parsed() {
            Response::Fetch(_, attrs) => {
                let mut f = Fetched::default();
                for a in attrs {
                    match a {
                        AttributeValue::Uid(u) => f.uid = Some(*u),
                        AttributeValue::Flags(flags) => {
                            for flag in flags {
                                if let Some(kept) = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft"]
                                    .into_iter()
                                    .find(|k| flag.eq_ignore_ascii_case(k))
                                {
                                    f.kept_flags.push(kept);
                                }
                            }
                            f.flagged = f.kept_flags.contains(&"\\Flagged");
                        }
                        AttributeValue::InternalDate(d) => f.internal_date = internal_date(d),
                        AttributeValue::Rfc822Size(n) => f.size = Some(*n),
                        // `BODY[] NIL` is no body, not an empty one.
                        AttributeValue::BodySection { data, .. } => {
                            f.body = data.as_deref().map(<[u8]>::to_vec)
                        }
                        AttributeValue::Rfc822(data) => {
                            f.body = data.as_deref().map(<[u8]>::to_vec)
                        }
                        _ => {}
                    }
                }
                out.push(f);
            }
            Response::Done {
                tag: t,
                status,
                outcome,
            } if *t == tag => {
                let text = outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_string();
                return match status {
                    Status::Ok => Ok(out),
                    _ => Err(classify(async_imap::error::Error::No(text))),
                };
            }
            Response::Data {
                status: Status::Bye,
                outcome,
                ..
            } => {
                bye = Some(
                    outcome
                        .information
                        .as_deref()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            _ => {}
        }
    }
}

/// Parses an INTERNALDATE (`17-Jul-1996 02:44:25 -0700`, the day possibly
/// space-padded) by hand: it runs once per message of a 100,000-message
/// stale scan, where a format-string parser shows in the profile.
pub fn internal_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    let b = s.as_bytes();
    let dash = s.find('-')?;
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.trim().parse().ok() };
    let day = num(0..dash)?;
    let month = match s.get(dash + 1..dash + 4)?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let rest = dash + 5; // "yyyy hh:mm:ss +zzzz"
    let year = num(rest..rest + 4)? as i32;
    let (hour, minute, second) = (
        num(rest + 5..rest + 7)?,
        num(rest + 8..rest + 10)?,
        num(rest + 11..rest + 13)?,
    );
    let zone = s.get(rest + 14..rest + 19)?;
    let sign = match b.get(rest + 14)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i32 = zone.get(1..3)?.parse().ok()?;
    let zm: i32 = zone.get(3..5)?.parse().ok()?;
    let offset = chrono::FixedOffset::east_opt(sign * (zh * 3600 + zm * 60))?;
    let naive =
        chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    naive
        .and_local_timezone(offset)
        .single()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// The metadata of every message with a UID above `after`, in UID order.
pub async fn metadata(
    session: &mut Session,
    after: u32,
    header_dates: bool,
    timeout: Duration,
) -> Result<Vec<MessageInfo>, ImapError> {
    // No UID lies above the largest there can be.
    let Some(first) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let range = format!("{first}:*");
    let items = if header_dates {
        "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE)])"
    } else {
        "(UID FLAGS INTERNALDATE RFC822.SIZE)"
    };
    let fetched = uid_fetch(session, &range, items, timeout).await?;
    drain_unsolicited(session);
    let mut infos: Vec<MessageInfo> = fetched
        .iter()
        .filter_map(|f| {
            Some(MessageInfo {
                uid: f.uid?,
                flagged: f.flagged,
                internal_date: f.internal_date,
                size: u64::from(f.size.unwrap_or(0)),
                sent: f.body.as_deref().and_then(header_date),
            })
        })
        // `n:*` also returns the last message when n is past it.
        .filter(|i| i.uid > after)
        .collect();
    infos.sort_by_key(|i| i.uid);
    infos.dedup_by_key(|i| i.uid);
    Ok(infos)
}

/// Whether a fetched body is Exchange's stand-in for an item it cannot
/// convert to MIME (a short message whose body says "Retrieval using the
/// IMAP4 protocol failed for the following message"): scanning it would
/// report the item clean.
pub fn is_conversion_stub(body: &[u8]) -> bool {
    const SAYS: &[u8] = b"Retrieval using the IMAP4 protocol failed for the following message";
    body.len() < 64 * 1024 && memchr::memmem::find(body, SAYS).is_some()
}

/// The metadata of the messages `uids` that still exist, in UID order.
pub(super) async fn metadata_of(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<Vec<MessageInfo>, ImapError> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched = uid_fetch(
        session,
        &set,
        "(UID FLAGS INTERNALDATE RFC822.SIZE)",
        timeout,
    )
    .await?;
    drain_unsolicited(session);
    let asked: std::collections::HashSet<u32> = uids.iter().copied().collect();
    let mut infos: Vec<MessageInfo> = fetched
        .iter()
        .filter_map(|f| {
            Some(MessageInfo {
                uid: f.uid.filter(|u| asked.contains(u))?,
                flagged: f.flagged,
                internal_date: f.internal_date,
                size: u64::from(f.size.unwrap_or(0)),
                sent: None,
            })
        })
        .collect();
    infos.sort_by_key(|i| i.uid);
    infos.dedup_by_key(|i| i.uid);
    Ok(infos)
}

/// The date in a fetched `Date:` header field (`Date: ...\r\n\r\n`).
fn header_date(field: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let parsed = mail_parser::MessageParser::new().parse_headers(field)?;
    let d = parsed.date()?;
    chrono::DateTime::from_timestamp(d.to_timestamp(), 0)
}

/// Fetches the bodies of `uids` with `BODY.PEEK[]`, which never sets `\Seen`.
pub async fn bodies(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched = uid_fetch(session, &set, "(UID BODY.PEEK[])", timeout).await?;
    drain_unsolicited(session);
    Ok(fetched
        .into_iter()
        .filter_map(|f| Some((f.uid?, f.body?)))
        .collect())
}

/// The library queues untagged responses it does not consume in a bounded
/// channel; an unread one would eventually stall the connection.
pub(crate) fn drain_unsolicited(session: &mut Session) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// UIDs the metadata reader returned, and (UID, body length) pairs the
/// body reader returned.
#[doc(hidden)]
pub type FetchReading = (Vec<u32>, Vec<(u32, usize)>);

/// The FETCH reply reader fed with any server bytes, for the fuzz target
/// and the tests: a session over an in-memory stream whose "server" answers
/// the login, then each `UID FETCH` with `reply` and a tagged `OK`. Returns
/// what the metadata and the body readers made of it (UIDs, body lengths),
/// or the error kind they ended with. It must return, without panicking
/// and without holding more than the reply's own size, for every input.
#[doc(hidden)]
pub fn read_fetch_reply(reply: &[u8]) -> Result<FetchReading, ImapError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| ImapError::Unavailable(e.to_string()))?;
    run_guarded(&runtime, async move {
        let limit = Duration::from_secs(10);
        let mut session = answering(reply, limit).await?;
        let infos = metadata(&mut session, 0, true, limit).await;
        let mut session = answering(reply, limit).await?;
        let bodies = bodies(&mut session, &[1, 2, 3], limit).await;
        Ok((
            infos?.into_iter().map(|i| i.uid).collect(),
            bodies?.into_iter().map(|(uid, b)| (uid, b.len())).collect(),
        ))
    })
}

/// A session over an in-memory stream whose far end accepts the login,
/// answers the first `UID FETCH` with `reply` and a tagged `OK`, then
/// hangs up (so a reply that promises more than it holds ends at once).
async fn answering(reply: &[u8], limit: Duration) -> Result<Session, ImapError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let reply = reply.to_vec();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(theirs);
        let mut lines = tokio::io::BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            let fetch = line.contains(" FETCH ");
            if fetch {
                let _ = write.write_all(&reply).await;
                let _ = write.write_all(b"\r\n").await;
            }
            let _ = write
                .write_all(format!("{tag} OK done\r\n").as_bytes())
                .await;
            if fetch {
                let _ = write.shutdown().await;
                break;
            }
        }
    });
    let stream: Box<dyn Transport> = Box::new(ours);
    with_timeout(limit, Client::new(stream).login("fuzz", "fuzz"))
        .await?
        .map_err(|(e, _)| classify(e))
}

pub use crate::store::{Cursor, Resume};
