//! The scan runner: the I/O edge that feeds sources through the pure engine
//! on all cores and hands results, in source order, to a printer.
//!
//! Listers produce jobs (Maildir directory entries; mbox messages split by
//! one reader; IMAP messages fetched by one thread per mailbox, several
//! mailboxes at once); a rayon pool reads, parses and detects; the calling
//! thread restores the listing order and records every message, with the
//! IMAP cursors, in the store's inventory (or, for a stale-only scan, hands
//! them to a printer). Messages already in the inventory are not read
//! again: the listers only say they are still there and how they are
//! flagged, and what is gone. Channels between the stages are bounded, so
//! memory does not grow with the mailbox.

pub mod stateful;

use crate::engine::Engine;
use crate::model::{MessageReport, ProblemKind};
use crate::report::Printer;
use crate::source::{Content, Job, SourceSpec, Work, maildir, mbox};
use crate::store::{Resume, Sighting, Store};
use crossbeam_channel::{Receiver, Sender, bounded};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Counts that decide the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// Messages read in this run.
    pub messages: u64,
    pub findings: u64,
    pub stale: u64,
    /// Messages with a part that went unscanned.
    pub incomplete_messages: u64,
    pub failed_sources: u64,
    /// Each source that could not be (fully) listed, and why.
    pub failures: Vec<(String, String)>,
}

impl RunStats {
    /// Exit status per the contract: 0 complete, 1 something went unread.
    pub fn exit_code(&self) -> i32 {
        if self.incomplete_messages > 0 || self.failed_sources > 0 {
            1
        } else {
            0
        }
    }
}

/// Observes progress (a progress bar, or nothing).
pub trait Progress: Sync {
    /// One message of `source` was scanned.
    fn message_done(&self, source: &str);
    fn source_started(&self, _source: &str) {}
    fn source_finished(&self, _source: &str) {}
}

/// No progress display.
pub struct Silent;

impl Progress for Silent {
    fn message_done(&self, _source: &str) {}
}

/// What IMAP sources need besides the engine.
#[derive(Debug, Clone, Default)]
pub struct ImapSettings {
    pub options: crate::imap::ImapOptions,
    pub credentials: Option<crate::imap::Credentials>,
    /// Ignore stored cursors and fetch every message again.
    pub full: bool,
    /// Mailboxes scanned at once (one connection each).
    pub parallel_mailboxes: usize,
}

/// Where results are kept between runs: the inventory.
pub struct StateSink<'s> {
    pub store: &'s mut dyn Store,
    pub run: crate::store::RunId,
    /// Store each message read with its judgement under this version of
    /// the engine's rules ([`crate::store::History::judgement_version`]),
    /// so the history need not read it again.
    pub judge_version: Option<i64>,
}

/// A source, the text it was given as, and (for IMAP sources from the
/// configuration file) its account's credentials.
#[derive(Debug, Clone)]
pub struct NamedSource {
    pub given: String,
    pub spec: SourceSpec,
    pub credentials: Option<crate::imap::Credentials>,
    /// Who the mailbox belongs to, when the configuration says.
    pub mailbox: Option<crate::config::MailboxEntry>,
}

const CHANNEL_DEPTH: usize = 256;

/// Scans every source in turn, recording each message in `state` and/or
/// handing it to `printer` (in listing order). A failing source is counted
/// and listed in the stats, for the caller to report; the others still run.
pub fn run(
    engine: &Engine,
    sources: &[NamedSource],
    pool: &rayon::ThreadPool,
    mut printer: Option<&mut dyn Printer>,
    progress: &dyn Progress,
    imap: &ImapSettings,
    mut state: Option<StateSink<'_>>,
) -> io::Result<RunStats> {
    let mut stats = RunStats::default();
    let workers = Workers {
        engine,
        pool,
        progress,
        // A metadata-only scan of IMAP sources never reads a body.
        prepare_ahead: !imap.options.metadata_only
            || sources
                .iter()
                .any(|s| !matches!(s.spec, SourceSpec::Imap(_))),
        judge_version: state.as_ref().and_then(|s| s.judge_version),
    };
    let mut i = 0;
    while i < sources.len() {
        // Consecutive IMAP sources are scanned together, several mailboxes
        // at once; local sources one at a time (they already use every core).
        let group_end = if matches!(sources[i].spec, SourceSpec::Imap(_)) {
            i + sources[i..]
                .iter()
                .take_while(|s| matches!(s.spec, SourceSpec::Imap(_)))
                .count()
        } else {
            i + 1
        };
        let group = &sources[i..group_end];
        i = group_end;
        for s in group {
            progress.source_started(&s.given);
        }
        // What the inventory already holds of a local source: those
        // messages are not read again (unless --full).
        // A Maildir folder whose stamp matches the one stored at its last
        // complete listing is as the inventory holds it: not listed at all,
        // and its messages not loaded. A rescan of an unchanged mailbox
        // costs a stat per folder.
        let mut unchanged = std::collections::HashSet::new();
        let mut stamps = std::collections::HashMap::new();
        let known = match (&state, &group[0].spec) {
            (Some(st), SourceSpec::Maildir(path)) => {
                let now = std::time::SystemTime::now();
                let stored = st
                    .store
                    .folder_stamps(&group[0].given)
                    .map_err(io::Error::other)?;
                for folder in maildir::folders(path).unwrap_or_default() {
                    let stamp = maildir::folder_stamp(&folder, now);
                    if !imap.full && stamp.is_some() && stamp.as_ref() == stored.get(&folder.name) {
                        unchanged.insert(folder.name.clone());
                    }
                    stamps.insert(folder.name, stamp);
                }
                if imap.full {
                    Default::default()
                } else {
                    let changed: Vec<&str> = stamps
                        .keys()
                        .filter(|f| !unchanged.contains(*f))
                        .map(String::as_str)
                        .collect();
                    st.store
                        .known_local_in(&group[0].given, &changed)
                        .map_err(io::Error::other)?
                }
            }
            (Some(st), SourceSpec::Mbox(_)) if !imap.full => st
                .store
                .known_local(&group[0].given)
                .map_err(io::Error::other)?,
            _ => Default::default(),
        };
        let listing = MaildirListing {
            known: &known,
            unchanged: &unchanged,
            stamps: &stamps,
        };
        // A rescan reads few messages or none: no automatons built ahead.
        let local_workers = Workers {
            prepare_ahead: workers.prepare_ahead && known.is_empty(),
            ..workers
        };
        let results = match &group[0].spec {
            SourceSpec::Maildir(path) => scan_jobs(
                &local_workers,
                group,
                &mut printer,
                &mut stats,
                state.as_mut(),
                |sink| vec![list_maildir(path, &listing, sink(0))],
            )?,
            SourceSpec::Mbox(path) => scan_jobs(
                &local_workers,
                group,
                &mut printer,
                &mut stats,
                state.as_mut(),
                |sink| vec![list_mbox(path, engine, &known, sink(0))],
            )?,
            SourceSpec::Imap(_) => {
                let starts = group
                    .iter()
                    .map(|s| match (&state, imap.full) {
                        (Some(st), false) => st.store.resume(&s.given).map_err(io::Error::other),
                        _ => Ok(Resume::default()),
                    })
                    .collect::<io::Result<Vec<_>>>()?;
                let workers = &Workers {
                    prepare_ahead: workers.prepare_ahead
                        && starts.iter().any(|s| s.cursors.is_empty()),
                    ..workers
                };
                scan_jobs(
                    workers,
                    group,
                    &mut printer,
                    &mut stats,
                    state.as_mut(),
                    |sink| list_imap_group(group, &starts, engine, imap, sink),
                )?
            }
        };
        for s in group {
            progress.source_finished(&s.given);
        }
        for (source, result) in group.iter().zip(results) {
            if let Err(message) = result {
                tracing::error!(source = %source.given, "{message}");
                stats.failed_sources += 1;
                stats.failures.push((source.given.clone(), message));
            }
        }
    }
    if let Some(state) = state.as_mut() {
        state.store.flush().map_err(io::Error::other)?;
    }
    Ok(stats)
}

/// Scans a group of IMAP mailboxes, up to `parallel_mailboxes` at a time,
/// each from its own lister thread feeding the shared worker pool.
fn list_imap_group(
    group: &[NamedSource],
    starts: &[Resume],
    engine: &Engine,
    imap: &ImapSettings,
    sink: &(dyn Fn(usize) -> JobSink + Sync),
) -> Vec<ListResult> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<ListResult>> = group
        .iter()
        .map(|_| std::sync::Mutex::new(Ok(())))
        .collect();
    let threads = imap.parallel_mailboxes.clamp(1, group.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(source) = group.get(i) else { break };
                    let SourceSpec::Imap(url) = &source.spec else {
                        continue;
                    };
                    let credentials = source.credentials.as_ref().or(imap.credentials.as_ref());
                    let result = list_imap(url, engine, imap, credentials, &starts[i], sink(i));
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = result;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

/// Messages travel in small batches: one channel hand-off per message costs
/// more than scanning a short message.
const BATCH: usize = 32;

/// A lister's end of the job channel, batching as it goes; jobs carry the
/// index of their source within the group being scanned.
struct JobSink {
    tx: Sender<Vec<(usize, Work)>>,
    buffer: Vec<(usize, Work)>,
    source: usize,
    in_flight: std::sync::Arc<InFlight>,
}

/// Bytes of message content handed on but not yet read by a worker. The
/// queues bound how many messages wait, this bounds how many bytes: sixteen
/// batches of 150 MiB messages would otherwise all fit.
struct InFlight {
    /// Bytes held, and how many listers wait for room.
    held: std::sync::Mutex<(u64, usize)>,
    freed: std::sync::Condvar,
    limit: u64,
}

impl InFlight {
    fn new(limit: u64) -> InFlight {
        InFlight {
            held: std::sync::Mutex::new((0, 0)),
            freed: std::sync::Condvar::new(),
            limit,
        }
    }

    /// Takes room for `size` more bytes when they fit now (one message
    /// always does); false when taking it would mean waiting.
    fn try_reserve(&self, size: u64) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return true;
        };
        if held.0 > 0 && held.0 + size > self.limit {
            return false;
        }
        held.0 += size;
        true
    }

    /// Waits until `size` more bytes fit (one message always does).
    fn reserve(&self, size: u64) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        while held.0 > 0 && held.0 + size > self.limit {
            held.1 += 1;
            held = match self.freed.wait(held) {
                Ok(h) => h,
                Err(_) => return,
            };
            held.1 -= 1;
        }
        held.0 += size;
    }

    fn release(&self, size: u64) {
        if size == 0 {
            return;
        }
        let waiting = match self.held.lock() {
            Ok(mut held) => {
                held.0 = held.0.saturating_sub(size);
                held.1 > 0
            }
            Err(_) => true,
        };
        // A wake-up per message read costs a system call: only when a
        // lister waits for room.
        if waiting {
            self.freed.notify_all();
        }
    }
}

/// Bytes a job carries in memory.
fn job_bytes(work: &Work) -> u64 {
    match work {
        Work::Read(Job {
            content: Content::Bytes(b),
            ..
        }) => b.len() as u64,
        _ => 0,
    }
}

/// Bytes of content queued or being read at once, at most (or one message).
const IN_FLIGHT_BYTES: u64 = 256 << 20;

impl JobSink {
    /// Queues a message to read; false when the scan has stopped listening.
    fn push(&mut self, job: Job) -> bool {
        self.send(Work::Read(job))
    }

    /// Queues what was seen without reading.
    fn seen(&mut self, sighting: Sighting) -> bool {
        self.send(Work::Seen(sighting))
    }

    fn send(&mut self, work: Work) -> bool {
        let size = job_bytes(&work);
        if size > 0 && !self.in_flight.try_reserve(size) {
            // What this lister holds unsent must be on its way before it
            // waits for room, or it would wait for itself. (Flushing
            // before every message read made each its own hand-off: a
            // wake-up per message over IMAP.)
            if !self.flush() {
                return false;
            }
            self.in_flight.reserve(size);
        }
        self.buffer.push((self.source, work));
        if self.buffer.len() >= BATCH {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        if self.buffer.is_empty() {
            return true;
        }
        self.tx
            .send(std::mem::replace(
                &mut self.buffer,
                Vec::with_capacity(BATCH),
            ))
            .is_ok()
    }
}

impl Drop for JobSink {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What a lister reports when the source itself cannot be read.
type ListResult = Result<(), String>;

/// Local messages already in the inventory: keys by folder, so a listed
/// file is looked up without building a (folder, key) pair for it.
type Known = crate::store::KnownLocal;

/// A folder's listing compared with what the inventory holds of it: which
/// known messages were seen, so the rest can be named gone at its end.
struct FolderCheck<'k> {
    known: Option<&'k std::collections::HashMap<String, crate::store::KnownMessage>>,
    seen: std::collections::HashSet<&'k str>,
}

impl<'k> FolderCheck<'k> {
    fn new(known: &'k Known, folder: &str) -> FolderCheck<'k> {
        FolderCheck {
            known: known.get(folder),
            seen: std::collections::HashSet::new(),
        }
    }

    /// `None`: not in the inventory (read it). `Some(None)`: held as it is
    /// now (nothing to say). `Some(Some(..))`: held with another flag or
    /// place (say so).
    fn check(&mut self, key: &str, flagged: bool, position: u64) -> Option<bool> {
        let (stored_key, state) = self.known?.get_key_value(key)?;
        self.seen.insert(stored_key.as_str());
        Some(state.flagged != flagged || state.position != position)
    }

    /// The known keys not seen in the listing.
    fn gone(&self) -> Vec<String> {
        self.known
            .into_iter()
            .flat_map(|keys| keys.keys())
            .filter(|k| !self.seen.contains(k.as_str()))
            .cloned()
            .collect()
    }
}

/// What a Maildir listing compares with: the inventory's messages of the
/// folders to list, the folders to pass over, and each folder's stamp
/// taken before listing.
struct MaildirListing<'a> {
    known: &'a Known,
    unchanged: &'a std::collections::HashSet<String>,
    stamps: &'a std::collections::HashMap<String, Option<String>>,
}

fn list_maildir(root: &Path, listing: &MaildirListing<'_>, mut tx: JobSink) -> ListResult {
    let known = listing.known;
    let (folders, skipped) = maildir::folders_and_skipped(root)
        .map_err(|e| format!("cannot read Maildir {}: {e}", root.display()))?;
    let mut failed = skipped;
    for folder in &folders {
        if listing.unchanged.contains(&folder.name) {
            continue;
        }
        let files = match maildir::message_files(folder) {
            Ok(f) => f,
            Err(e) => {
                // Its messages stay in the inventory as they were; the
                // source is reported as not fully read.
                tracing::warn!(folder = %folder.name, "cannot list folder: {e}");
                failed.push(format!("cannot list folder {}: {e}", folder.name));
                continue;
            }
        };
        // Only what differs from the inventory is sent: a rescan of an
        // unchanged folder writes nothing.
        let mut check = FolderCheck::new(known, &folder.name);
        for (position, path) in files.into_iter().enumerate() {
            let mut job = maildir::job(&folder.name, path);
            let key = job.meta.local_key.clone().unwrap_or_default();
            let sent = match check.check(&key, job.meta.flagged, position as u64) {
                Some(false) => true,
                Some(true) => tx.seen(Sighting::Present {
                    folder: folder.name.clone(),
                    key,
                    flagged: job.meta.flagged,
                    position: position as u64,
                }),
                None => {
                    job.meta.position = position as u64;
                    tx.push(job)
                }
            };
            if !sent {
                return Ok(()); // the consumer stopped (output closed)
            }
        }
        tx.seen(Sighting::FolderListed {
            folder: folder.name.clone(),
            gone: check.gone(),
            stamp: listing.stamps.get(&folder.name).cloned().flatten(),
        });
    }
    tx.seen(Sighting::Folders {
        names: folders.iter().map(|f| f.name.clone()).collect(),
    });
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// An IMAP mailbox, fetched by this (lister) thread on its own small async
/// runtime; the bodies go to the same worker pool as local messages.
fn list_imap(
    url: &crate::imap::ImapUrl,
    engine: &Engine,
    imap: &ImapSettings,
    credentials: Option<&crate::imap::Credentials>,
    start: &crate::imap::Resume,
    mut tx: JobSink,
) -> ListResult {
    let credentials = credentials
        .cloned()
        .ok_or_else(|| crate::imap::ImapError::NoCredentials.to_string())?;
    let mut options = imap.options.clone();
    options.max_message_bytes = options.max_message_bytes.min(engine.max_message_bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the IMAP runtime: {e}"))?;
    let failed = crate::imap::run_guarded(
        &runtime,
        crate::imap::scan_mailbox(url, &credentials, &options, start, &mut |work| {
            tx.send(work)
        }),
    )
    .map_err(|e| e.to_string())?;
    if failed.is_empty() {
        Ok(())
    } else {
        let listed: Vec<String> = failed
            .iter()
            .map(|(folder, why)| format!("folder {folder}: {why}"))
            .collect();
        Err(listed.join("; "))
    }
}

/// An mbox file, or a directory of them (Thunderbird's and mutt's layout):
/// each file is one folder, named by its path below the directory.
fn list_mbox(path: &Path, engine: &Engine, known: &Known, mut tx: JobSink) -> ListResult {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot open mbox {}: {e}", path.display()))?;
    if !meta.is_dir() {
        let folder = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mbox".into());
        let result = list_mbox_file(path, &folder, engine, known, &mut tx);
        if result.is_ok() {
            tx.seen(Sighting::Folders {
                names: vec![folder],
            });
        }
        return result;
    }
    let mut files = mbox::files_in(path)
        .map_err(|e| format!("cannot list mbox directory {}: {e}", path.display()))?;
    // INBOX first, as every source lists it (and the inventory orders it).
    files.sort_by(|a, b| (a.0 != "INBOX", &a.0).cmp(&(b.0 != "INBOX", &b.0)));
    if files.is_empty() {
        return Err(format!("no mbox files in {}", path.display()));
    }
    // One unreadable file is one folder lost, not the whole source: read the
    // rest, then report what failed.
    let failed: Vec<String> = files
        .iter()
        .filter_map(|(folder, file)| list_mbox_file(file, folder, engine, known, &mut tx).err())
        .collect();
    tx.seen(Sighting::Folders {
        names: files.iter().map(|(folder, _)| folder.clone()).collect(),
    });
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

fn list_mbox_file(
    path: &Path,
    folder: &str,
    engine: &Engine,
    known: &Known,
    tx: &mut JobSink,
) -> ListResult {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open mbox {}: {e}", path.display()))?;
    let reader = mbox::MboxReader::new(
        io::BufReader::with_capacity(1 << 16, file),
        folder,
        &path.display().to_string(),
        engine.max_message_bytes,
    );
    let mut any = false;
    let mut check = FolderCheck::new(known, folder);
    for job in reader {
        let job = job.map_err(|e| format!("error reading mbox {}: {e}", path.display()))?;
        any = true;
        let key = job.meta.local_key.clone().unwrap_or_default();
        let sent = match check.check(&key, job.meta.flagged, job.meta.position) {
            Some(false) => true,
            Some(true) => tx.seen(Sighting::Present {
                folder: folder.to_string(),
                key,
                flagged: job.meta.flagged,
                position: job.meta.position,
            }),
            None => tx.push(job),
        };
        if !sent {
            return Ok(());
        }
    }
    if !any {
        return not_an_mbox(path);
    }
    tx.seen(Sighting::FolderListed {
        folder: folder.to_string(),
        gone: check.gone(),
        stamp: None,
    });
    Ok(())
}

/// A file with content but no `From ` separator holds no mbox messages:
/// saying "0 messages" would pass it over in silence. An empty file is an
/// empty mbox.
fn not_an_mbox(path: &Path) -> ListResult {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    if n == 0 {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    let looks_like_mail = [
        "received:",
        "return-path:",
        "message-id:",
        "from:",
        "date:",
        "mime-version:",
        "subject:",
    ]
    .iter()
    .any(|h| head.starts_with(h) || head.contains(&format!("\n{h}")));
    Err(if looks_like_mail {
        format!(
            "{} is not an mbox file (no `From ` line): it looks like a single message; read it with `mailhygiene check`",
            path.display()
        )
    } else {
        format!(
            "{} is not an mbox file (no `From ` line starts a message)",
            path.display()
        )
    })
}

/// Scans one job. A panic anywhere in reading one message becomes a problem
/// on that message: one bad message never aborts a run.
pub fn process(engine: &Engine, job: Job) -> MessageReport {
    let meta = job.meta.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process_job(engine, job)))
        .unwrap_or_else(|_| engine.unreadable(meta, ProblemKind::InternalError))
}

fn process_job(engine: &Engine, job: Job) -> MessageReport {
    thread_local! {
        // One read buffer per worker, reused for every message it reads.
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Job { mut meta, content } = job;
    match content {
        Content::Bytes(bytes) => engine.scan_message(meta, &bytes),
        Content::File(path) => BUFFER.with_borrow_mut(|buffer| {
            match maildir::read(&path, &mut meta, engine.max_message_bytes, buffer) {
                Ok(true) => {
                    let report = engine.scan_message(meta, buffer);
                    if buffer.capacity() > 4 << 20 {
                        // Don't let one huge message pin its memory.
                        *buffer = Vec::new();
                    }
                    report
                }
                Ok(false) => engine.unreadable(meta, ProblemKind::MessageTooLarge),
                Err(e) => {
                    tracing::warn!(file = %path.display(), "cannot read message: {e}");
                    engine.unreadable(meta, ProblemKind::Io)
                }
            }
        }),
        Content::Unreadable(kind) => engine.unreadable(meta, kind),
        Content::MetadataOnly { sent } => engine.metadata_only(meta, sent),
    }
}

/// What reads and judges messages: the engine on a pool of threads.
#[derive(Clone, Copy)]
struct Workers<'a> {
    engine: &'a Engine,
    pool: &'a rayon::ThreadPool,
    progress: &'a dyn Progress,
    /// Build the term automatons while the sources are listed: when bodies
    /// will be read (a first scan). A rescan reads few or none, and a
    /// worker builds them on first use.
    prepare_ahead: bool,
    /// Judge each message read for every date at once, under this
    /// judgement version, for the store (see [`crate::store::Judgement`]):
    /// done here, on the pool, not on the in-order stage.
    judge_version: Option<i64>,
}

/// Runs a group of sources through the pipeline, printing in listing
/// order; returns each source's listing result.
fn scan_jobs(
    workers: &Workers<'_>,
    sources: &[NamedSource],
    printer: &mut Option<&mut dyn Printer>,
    stats: &mut RunStats,
    state: Option<&mut StateSink<'_>>,
    list: impl FnOnce(&(dyn Fn(usize) -> JobSink + Sync)) -> Vec<ListResult> + Send,
) -> io::Result<Vec<ListResult>> {
    let Workers {
        engine,
        pool,
        progress,
        prepare_ahead,
        judge_version,
    } = *workers;
    let names: Vec<&str> = sources.iter().map(|s| s.given.as_str()).collect();
    let names = &names;
    let (job_tx, job_rx) = bounded::<Vec<(usize, Work)>>(CHANNEL_DEPTH / BATCH);
    // Deeper than the job queue: reports are small, and the workers should
    // not wait while the in-order stage writes to the store.
    let (result_tx, result_rx) = bounded::<(u64, Vec<(usize, Done)>)>(4 * CHANNEL_DEPTH / BATCH);
    let in_flight = std::sync::Arc::new(InFlight::new(IN_FLIGHT_BYTES));
    let in_flight_for_listers = in_flight.clone();
    let in_flight = &*in_flight;
    std::thread::scope(|scope| {
        // Overlaps building the term automatons and the identifier
        // patterns with listing the folders.
        if prepare_ahead {
            scope.spawn(|| engine.detectors.special.prepare());
            scope.spawn(crate::detect::identifiers::prepare);
        }
        let lister = scope.spawn(move || {
            let sink = move |source: usize| JobSink {
                tx: job_tx.clone(),
                buffer: Vec::with_capacity(BATCH),
                source,
                in_flight: in_flight_for_listers.clone(),
            };
            list(&sink)
        });
        scope.spawn(move || {
            let numbered = NumberedJobs {
                rx: job_rx,
                next: 0,
            };
            pool.install(|| {
                numbered
                    .par_bridge()
                    .for_each_with(result_tx, |tx, (seq, jobs)| {
                        let reports: Vec<(usize, Done)> = jobs
                            .into_iter()
                            .map(|(source, work)| {
                                let size = job_bytes(&work);
                                let done = match work {
                                    Work::Read(job) => {
                                        let report = process(engine, job);
                                        let judged = judge_version.map(|v| {
                                            crate::inventory::judgement(&engine.rules, v, &report)
                                        });
                                        Done::Read(Box::new(report), judged)
                                    }
                                    Work::Seen(sighting) => Done::Seen(sighting),
                                };
                                in_flight.release(size);
                                progress
                                    .message_done(names.get(source).copied().unwrap_or_default());
                                (source, done)
                            })
                            .collect();
                        // A closed channel means the printer failed; stop quietly.
                        let _ = tx.send((seq, reports));
                    });
            });
        });
        let printed = print_in_order(&result_rx, names, printer, stats, state);
        // Drop the receiver so the workers and listers can finish even after an error.
        drop(result_rx);
        let listed = lister.join().unwrap_or_else(|_| {
            sources
                .iter()
                .map(|_| Err("the source lister crashed".to_string()))
                .collect()
        });
        printed.map(|()| listed)
    })
}

/// What the workers hand back, in listing order.
enum Done {
    Read(Box<MessageReport>, Option<crate::store::Judgement>),
    Seen(Sighting),
}

struct NumberedJobs {
    rx: Receiver<Vec<(usize, Work)>>,
    next: u64,
}

impl Iterator for NumberedJobs {
    type Item = (u64, Vec<(usize, Work)>);
    fn next(&mut self) -> Option<(u64, Vec<(usize, Work)>)> {
        let job = self.rx.recv().ok()?;
        let seq = self.next;
        self.next += 1;
        Some((seq, job))
    }
}

fn print_in_order(
    rx: &Receiver<(u64, Vec<(usize, Done)>)>,
    names: &[&str],
    printer: &mut Option<&mut dyn Printer>,
    stats: &mut RunStats,
    mut state: Option<&mut StateSink<'_>>,
) -> io::Result<()> {
    let mut waiting: BTreeMap<u64, Vec<(usize, Done)>> = BTreeMap::new();
    let mut next = 0u64;
    for (seq, reports) in rx.iter() {
        waiting.insert(seq, reports);
        while let Some(reports) = waiting.remove(&next) {
            next += 1;
            for (index, done) in reports {
                let source = names.get(index).copied().unwrap_or_default();
                let (report, judged) = match done {
                    Done::Seen(sighting) => {
                        if let Some(state) = state.as_deref_mut() {
                            state
                                .store
                                .sighting(state.run, source, &sighting)
                                .map_err(io::Error::other)?;
                        }
                        continue;
                    }
                    Done::Read(report, judged) => (report, judged),
                };
                stats.messages += 1;
                stats.findings += report.findings.len() as u64;
                stats.stale += u64::from(report.stale.is_some());
                if report.problems.iter().any(|p| p.kind.content_skipped()) {
                    stats.incomplete_messages += 1;
                }
                if let Some(p) = printer {
                    p.message(source, &report)?;
                }
                // The cursor passes a message only once its results are stored.
                if let Some(state) = state.as_deref_mut() {
                    state
                        .store
                        .record_judged(state.run, source, &report, judged.as_ref())
                        .map_err(io::Error::other)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_in_flight_is_bounded_but_one_message_always_passes() {
        let gate = std::sync::Arc::new(InFlight::new(256));
        gate.reserve(1000); // larger than the limit: alone, it passes
        gate.release(1000);
        gate.reserve(200);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.reserve(100); // 300 > 256: waits for the release below
                gate.release(100);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "reserved past the limit");
        assert!(!gate.try_reserve(100), "no room without waiting");
        gate.release(200);
        waiter.join().expect("went on once there was room");
        assert_eq!(gate.held.lock().expect("lock").0, 0);
        assert!(gate.try_reserve(100) && gate.try_reserve(100));
        assert!(!gate.try_reserve(100), "300 > 256");
    }
}
