//! The scan loop of one mailbox: folders in turn, fetches planned in
//! bounded batches, waits and reconnects after faults, resumption after
//! the last message handed on.

use super::*;

/// Scans one mailbox: every folder, metadata first, then bodies in batches,
/// handing each message to `emit` in UID order, then what became of the
/// messages read in earlier runs (flags, expunged) and which folders exist.
/// Reconnects and resumes after transient faults. Returns the folders that
/// failed for good (with why); an `Err` means the mailbox could not be
/// scanned at all.
///
/// `start` holds where earlier runs stopped, per folder: only messages with
/// a higher UID are fetched, unless the folder's UIDVALIDITY changed.
pub async fn scan_mailbox(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
    start: &Resume,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<Vec<(String, String)>, ImapError> {
    let opts = &ImapOptions {
        waits: Default::default(),
        ..opts.clone()
    };
    let result = scan_mailbox_folders(url, credentials, opts, start, emit).await;
    // Also when the mailbox failed: a mailbox given up on because the server
    // kept throttling is where the waits matter most.
    let (throttled, paced) = opts.waits.totals();
    if !throttled.is_zero() || !paced.is_zero() {
        tracing::info!(host = %url.host, user = %url.user, ?throttled, ?paced, "waited");
    }
    emit(Work::Seen(Sighting::Waited { throttled, paced }));
    result
}

async fn scan_mailbox_folders(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
    start: &Resume,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<Vec<(String, String)>, ImapError> {
    let started = std::time::Instant::now();
    // The first connection's pace holds across folders.
    let pacer = pace::Pacer::new(opts.pace);
    let pacer = pacer.as_ref();
    let mut session = connect_with_retry(url, credentials, opts).await?;
    tracing::debug!(host = %url.host, elapsed = ?started.elapsed(), "connected and authenticated");
    // Folders read before are opened before LIST: after a LIST in the same
    // session Dovecot re-reads a Maildir folder on EXAMINE (measured: 240 ms
    // instead of a few on a 20,000-message folder), which would make every
    // rescan cost as much as the mailbox is large.
    let mut known: Vec<Folder> = start
        .server_names
        .iter()
        .filter(|(name, _)| start.cursors.contains_key(*name))
        .map(|(name, server_name)| Folder {
            server_name: server_name.clone(),
            name: name.clone(),
        })
        .collect();
    known.sort_by(|a, b| (a.name != "INBOX", &a.name).cmp(&(b.name != "INBOX", &b.name)));
    let mut done = std::collections::HashSet::new();
    for folder in &known {
        let mut cursor = start.cursors.get(&folder.name).copied().unwrap_or_default();
        let stored = start.stored.get(&folder.name).copied().unwrap_or(0);
        let unread = start
            .unread
            .get(&folder.name)
            .map_or(&[][..], Vec::as_slice);
        match scan_folder_retrying(
            (&mut session, pacer),
            (url, credentials),
            folder,
            &mut cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            Ok(()) => {
                done.insert(folder.name.clone());
            }
            // Gone or renamed, or failing: LIST below says whether it still
            // exists, and it is tried again (and reported) if so.
            Err(e) if !e.is_transient() => {}
            Err(e) => return Err(e),
        }
    }
    tracing::debug!(known = done.len(), elapsed = ?started.elapsed(), "read known folders");
    let mut attempt = 0;
    let (folder_list, not_mail): (Vec<Folder>, Vec<String>) = loop {
        match folders(&mut session, opts.timeout).await {
            Ok(list) => break list,
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(host = %url.host, attempt, ?wait, "LIST failed, retrying: {e}");
                pause(opts, wait, &e).await;
                session = connect_with_retry(url, credentials, opts).await?;
            }
            Err(e) => return Err(e),
        }
    };
    tracing::debug!(folders = folder_list.len(), elapsed = ?started.elapsed(), "listed folders");
    let mut failed = Vec::new();
    let names: Vec<String> = folder_list.iter().map(|f| f.name.clone()).collect();
    for folder in folder_list {
        if done.contains(&folder.name) {
            continue;
        }
        let mut cursor = start.cursors.get(&folder.name).copied().unwrap_or_default();
        let stored = start.stored.get(&folder.name).copied().unwrap_or(0);
        let unread = start
            .unread
            .get(&folder.name)
            .map_or(&[][..], Vec::as_slice);
        if let Err(e) = scan_folder_retrying(
            (&mut session, pacer),
            (url, credentials),
            &folder,
            &mut cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            if e.is_transient() {
                return Err(e);
            }
            failed.push((folder.name.clone(), e.to_string()));
        }
    }
    if !opts.metadata_only {
        emit(Work::Seen(Sighting::Folders { names }));
        emit(Work::Seen(Sighting::NotMail { names: not_mail }));
    }
    let _ = with_timeout(Duration::from_secs(5), session.logout()).await;
    Ok(failed)
}

/// Scans one folder, reconnecting and resuming after transient faults up to
/// the retry limit; the error that ended it otherwise.
async fn scan_folder_retrying(
    (session, pacer): (&mut Session, Option<&pace::Pacer>),
    (url, credentials): (&ImapUrl, &Credentials),
    folder: &Folder,
    cursor: &mut Cursor,
    (stored, unread): (u64, &[u32]),
    opts: &ImapOptions,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<(), ImapError> {
    let mut attempt = 0;
    let mut passed = cursor.last_uid;
    loop {
        let stored = if cursor.uid_validity == 0 { 0 } else { stored };
        match scan_folder(
            (session, pacer),
            (url, credentials),
            folder,
            cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                // A big folder meets several token expiries and throttles:
                // the budget is for faults in a row, not for the folder.
                if cursor.last_uid > passed {
                    attempt = 0;
                    passed = cursor.last_uid;
                }
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(folder = %folder.name, attempt, ?wait, "IMAP fault, resuming after UID {}: {e}", cursor.last_uid);
                pause(opts, wait, &e).await;
                *session = connect_with_retry(url, credentials, opts).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps out a back-off; time the server asked for is counted as time
/// spent throttled.
async fn pause(opts: &ImapOptions, wait: Duration, err: &ImapError) {
    if matches!(err, ImapError::Throttled(_)) {
        opts.waits.add_throttled(wait);
        if let Some(shared) = &opts.shared_pause {
            shared.throttled(wait);
        }
    }
    tokio::time::sleep(wait).await;
}

pub(super) fn backoff(opts: &ImapOptions, attempt: u32, err: &ImapError) -> Duration {
    let exponential = opts.initial_backoff.saturating_mul(1 << attempt.min(10));
    match err {
        ImapError::Throttled(asked) => (*asked).max(opts.initial_backoff),
        _ => exponential.min(Duration::from_secs(120)),
    }
}

/// A server's request to wait: waited out up to [`MAX_THROTTLE_WAIT`];
/// asking for longer fails this mailbox (retried on the next run) instead
/// of putting the scan to sleep. Every throttling reply is made here.
pub(super) fn throttled(asked: Duration) -> ImapError {
    if asked > MAX_THROTTLE_WAIT {
        ImapError::ThrottledTooLong(asked)
    } else {
        ImapError::Throttled(asked)
    }
}

/// What a test can call with any error: throttling replies as [`throttled`]
/// makes them.
#[cfg(test)]
pub(super) fn capped(err: ImapError) -> ImapError {
    match err {
        ImapError::Throttled(asked) => throttled(asked),
        other => other,
    }
}

pub(crate) async fn connect_with_retry(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    let mut attempt = 0;
    let mut not_connected_seen = false;
    loop {
        // A tenant another worker was told to pause is not connected to.
        pace::shared_pause(opts.shared_pause.as_deref(), &opts.waits).await;
        match connect(url, credentials, opts).await {
            Ok(s) => return Ok(s),
            // Exchange also says this for a while after many connections:
            // once, after a pause, before it counts as a missing permission.
            Err(e @ ImapError::NotConnected { .. }) if !not_connected_seen => {
                not_connected_seen = true;
                let wait = opts.initial_backoff.saturating_mul(4);
                tracing::warn!(host = %url.host, ?wait, "{e}; trying once more after a pause");
                tokio::time::sleep(wait).await;
            }
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(host = %url.host, attempt, ?wait, "cannot connect, retrying: {e}");
                pause(opts, wait, &e).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What became of the messages up to `known_upto` read in earlier runs
/// (`stored` of them are in the inventory; `old_exist` messages other than
/// the new ones are on the server). When the counts agree nothing was
/// expunged and only the flagged UIDs are asked for (`UID SEARCH FLAGGED`:
/// a short answer); otherwise one `UID FETCH 1:n (FLAGS)` tells which are
/// still there and how they are flagged.
async fn refresh(
    session: &mut Session,
    folder: &Folder,
    uid_validity: u32,
    known_upto: u32,
    stored: u64,
    old_exist: u64,
    timeout: Duration,
) -> Result<Sighting, ImapError> {
    let state = |present: Option<Vec<u32>>, flagged: Vec<u32>| Sighting::FolderState {
        folder: folder.name.clone(),
        uid_validity,
        upto: known_upto,
        present,
        flagged,
    };
    if known_upto == 0 || old_exist == 0 {
        return Ok(state(Some(Vec::new()), Vec::new()));
    }
    if old_exist == stored {
        let flagged = with_timeout(
            timeout,
            session.uid_search(format!("UID 1:{known_upto} FLAGGED")),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(session);
        let mut flagged: Vec<u32> = flagged.into_iter().filter(|u| *u <= known_upto).collect();
        flagged.sort_unstable();
        return Ok(state(None, flagged));
    }
    let fetched = uid_fetch(session, &format!("1:{known_upto}"), "(UID FLAGS)", timeout).await?;
    drain_unsolicited(session);
    let mut present = Vec::with_capacity(fetched.len());
    let mut flagged = Vec::new();
    for f in fetched {
        // `1:n` also answers with the last message when n is below it.
        let Some(uid) = f.uid.filter(|u| *u <= known_upto) else {
            continue;
        };
        present.push(uid);
        if f.flagged {
            flagged.push(uid);
        }
    }
    Ok(state(Some(present), flagged))
}

async fn scan_folder(
    (session, pacer): (&mut Session, Option<&pace::Pacer>),
    (url, credentials): (&ImapUrl, &Credentials),
    folder: &Folder,
    cursor: &mut Cursor,
    (stored, unread): (u64, &[u32]),
    opts: &ImapOptions,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<(), ImapError> {
    let started = std::time::Instant::now();
    let status = examine(session, folder, opts.timeout).await?;
    tracing::debug!(folder = %folder.name, exists = status.exists, uid_next = ?status.uid_next, last_uid = cursor.last_uid, elapsed = ?started.elapsed(), "examined");
    let uid_validity = status.uid_validity;
    if cursor.uid_validity != uid_validity {
        // A new folder, or its UIDs were renumbered: start over.
        *cursor = Cursor {
            uid_validity,
            last_uid: 0,
        };
    }
    // Messages an earlier run could not read for a passing reason (the
    // server withheld them) are read again, as long as the UIDs still mean
    // the same messages.
    let unread: Vec<u32> = if cursor.uid_validity == uid_validity && !opts.metadata_only {
        unread
            .iter()
            .copied()
            .filter(|u| *u <= cursor.last_uid)
            .collect()
    } else {
        Vec::new()
    };
    // Nothing new since the last run: not even the metadata is fetched.
    let nothing_new = status.exists == 0
        || status
            .uid_next
            .is_some_and(|next| next <= cursor.last_uid.saturating_add(1));
    let known_upto = cursor.last_uid;
    let mut infos = if nothing_new {
        Vec::new()
    } else {
        metadata(session, cursor.last_uid, opts.header_dates, opts.timeout).await?
    };
    let new_messages = infos.len() as u64;
    if !unread.is_empty() && status.exists > 0 {
        let again = metadata_of(session, &unread, opts.timeout).await?;
        tracing::debug!(folder = %folder.name, asked = unread.len(), found = again.len(), "reading again what the server withheld before");
        infos.splice(0..0, again);
    }
    // What was read in earlier runs is not read again, but its flags may
    // have changed and some of it may be gone.
    let state = if opts.metadata_only {
        None
    } else {
        Some(
            refresh(
                session,
                folder,
                uid_validity,
                known_upto,
                stored,
                u64::from(status.exists).saturating_sub(new_messages),
                opts.timeout,
            )
            .await?,
        )
    };
    tracing::debug!(folder = %folder.name, elapsed = ?started.elapsed(), "flags refreshed");
    if infos.is_empty() {
        if let Some(state) = state {
            emit(Work::Seen(state));
        }
        return Ok(());
    }
    let meta_of = |info: &MessageInfo| MessageMeta {
        uid: Some(info.uid),
        uid_validity: Some(uid_validity),
        server_folder: Some(folder.server_name.clone()),
        received: info.internal_date,
        flagged: info.flagged,
        position: u64::from(info.uid),
        ..MessageMeta::local(
            folder.name.clone(),
            info.size,
            format!("{} UID {}", folder.name, info.uid),
        )
    };
    if opts.metadata_only {
        // The metadata was the request; the pace holds back the next one.
        let n = infos.len() as u64;
        for p in pacer.into_iter().chain(opts.total_pace.as_deref()) {
            p.wait(n, 0, &opts.waits).await;
        }
        pace::shared_pause(opts.shared_pause.as_deref(), &opts.waits).await;
        for info in &infos {
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content: Content::MetadataOnly { sent: info.sent },
            })) {
                return Ok(());
            }
            cursor.last_uid = cursor.last_uid.max(info.uid);
        }
        return Ok(());
    }
    let steps = plan(&infos, opts);
    let mut missing: Vec<&MessageInfo> = Vec::new();
    let batches = steps.iter().filter(|s| matches!(s, Step::Fetch(_))).count();
    // More connections for big folders, up to the per-mailbox cap: the
    // server reads and sends messages while we parse the previous batch.
    let wanted = opts
        .connections_per_mailbox
        .clamp(1, MAX_CONNECTIONS_PER_MAILBOX)
        .min(batches);
    // Opened together: opening a folder can cost the server as much as a
    // batch of bodies.
    let opening = (1..wanted).map(|_| async {
        let mut s = connect(url, credentials, opts).await?;
        examine(&mut s, folder, opts.timeout).await?;
        Ok::<_, ImapError>(s)
    });
    let mut extra: Vec<Session> = Vec::new();
    for opened in futures::future::join_all(opening).await {
        match opened {
            Ok(s) => extra.push(s),
            // Fewer connections is slower, not wrong.
            Err(e) => {
                tracing::warn!(folder = %folder.name, "an extra connection failed, going on with fewer: {e}")
            }
        }
    }
    let n_sessions = 1 + extra.len();
    let sessions: Vec<futures::lock::Mutex<&mut Session>> = std::iter::once(&mut *session)
        .chain(extra.iter_mut())
        .map(futures::lock::Mutex::new)
        .collect();
    // Each extra connection keeps its own pace, as the first does.
    let extra_pacers: Vec<Option<pace::Pacer>> = (1..n_sessions)
        .map(|_| pace::Pacer::new(opts.pace))
        .collect();
    let pacers: Vec<Option<&pace::Pacer>> = std::iter::once(pacer)
        .chain(extra_pacers.iter().map(Option::as_ref))
        .collect();
    let pacers = &pacers;
    let n = sessions.len();
    let timeout = opts.timeout;
    // `buffered` keeps at most n steps in flight and yields them in order,
    // so step i and i + n never use the same connection at once, and the
    // cursor only ever passes messages whose results were handed on.
    let mut results = futures::stream::iter(steps.into_iter().enumerate())
        .map(|(i, step)| {
            let cell = &sessions[i % n];
            async move {
                match step {
                    Step::TooLarge(info) => Ok((vec![info], None)),
                    Step::Fetch(batch) => {
                        let uids: Vec<u32> = batch.iter().map(|b| b.uid).collect();
                        let mut session = cell.lock().await;
                        let bytes: u64 = batch.iter().map(|b| b.size).sum();
                        for p in pacers[i % n].into_iter().chain(opts.total_pace.as_deref()) {
                            p.wait(uids.len() as u64, bytes, &opts.waits).await;
                        }
                        pace::shared_pause(opts.shared_pause.as_deref(), &opts.waits).await;
                        let mut fetched = bodies(&mut session, &uids, timeout).await?;
                        fetched.sort_by_key(|(uid, _)| *uid);
                        Ok::<_, ImapError>((batch, Some(fetched)))
                    }
                }
            }
        })
        .buffered(n);
    while let Some(result) = futures::StreamExt::next(&mut results).await {
        let (infos, mut fetched) = result?;
        for info in infos {
            let content = match fetched.as_mut() {
                // Never fetched: reported from its metadata alone.
                None => Content::Unreadable(ProblemKind::MessageTooLarge),
                Some(fetched) => match fetched.binary_search_by_key(&info.uid, |(uid, _)| *uid) {
                    // The size the server announced is its word; the body
                    // it sent is the fact.
                    Ok(pos) if fetched[pos].1.len() as u64 > opts.max_message_bytes => {
                        fetched[pos].1 = Vec::new();
                        Content::Unreadable(ProblemKind::MessageTooLarge)
                    }
                    Ok(pos) if is_conversion_stub(&fetched[pos].1) => {
                        fetched[pos].1 = Vec::new();
                        tracing::warn!(folder = %folder.name, uid = info.uid, "the server could not convert the item to MIME");
                        Content::Unreadable(ProblemKind::Unconvertible)
                    }
                    Ok(pos) => Content::Bytes(std::mem::take(&mut fetched[pos].1)),
                    // Expunged since the metadata, or withheld: found out below.
                    Err(_) => {
                        missing.push(info);
                        continue;
                    }
                },
            };
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content,
            })) {
                return Ok(());
            }
            // Messages read again lie below the cursor.
            cursor.last_uid = cursor.last_uid.max(info.uid);
        }
    }
    drop(results);
    drop(sessions);
    for mut s in extra {
        let _ = with_timeout(Duration::from_secs(5), s.logout()).await;
    }
    // A message asked for but not in the reply: gone since the metadata
    // (nothing to record), or still there and withheld, which is recorded
    // as not read, never passed over in silence.
    if !missing.is_empty() {
        let set = missing
            .iter()
            .map(|i| i.uid.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let still: std::collections::HashSet<u32> = uid_fetch(session, &set, "(UID)", opts.timeout)
            .await?
            .into_iter()
            .filter_map(|f| f.uid)
            .collect();
        drain_unsolicited(session);
        for info in missing.into_iter().filter(|i| still.contains(&i.uid)) {
            tracing::warn!(folder = %folder.name, uid = info.uid, "the server did not return the message's content");
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content: Content::Unreadable(ProblemKind::NotReturned),
            })) {
                return Ok(());
            }
        }
    }
    if let Some(state) = state {
        emit(Work::Seen(state));
    }
    Ok(())
}

/// One step of a folder's body phase, in UID order.
enum Step<'a> {
    Fetch(Vec<&'a MessageInfo>),
    TooLarge(&'a MessageInfo),
}

/// Groups messages into body batches (by count and bytes); a message over
/// the size limit is a step of its own and is never fetched.
fn plan<'a>(infos: &'a [MessageInfo], opts: &ImapOptions) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    let mut batch: Vec<&MessageInfo> = Vec::new();
    let mut bytes = 0u64;
    for info in infos {
        if info.size > opts.max_message_bytes {
            if !batch.is_empty() {
                steps.push(Step::Fetch(std::mem::take(&mut batch)));
                bytes = 0;
            }
            steps.push(Step::TooLarge(info));
            continue;
        }
        if !batch.is_empty()
            && (batch.len() >= opts.batch_messages || bytes + info.size > opts.batch_bytes)
        {
            steps.push(Step::Fetch(std::mem::take(&mut batch)));
            bytes = 0;
        }
        bytes += info.size;
        batch.push(info);
    }
    if !batch.is_empty() {
        steps.push(Step::Fetch(batch));
    }
    steps
}
