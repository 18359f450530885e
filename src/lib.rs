//! mailhygiene: finds stale mail and sensitive personal data in mailboxes,
//! without ever showing what it finds.
//!
//! The crate is a pure core (extraction, detectors, rules, reports: bytes and
//! time in, findings out) with thin edges that do I/O (Maildir and mbox
//! readers, the IMAP client, OAuth2, the SQLite state, the configuration
//! file, the parallel scan runner), workflows over the store (one module per
//! job: see `ARCHITECTURE.md`), and the CLI in `main.rs` and `src/cli/`.
//!
//! # Glossary
//! - **source**: what to scan, as named on the command line (`maildir:PATH`,
//!   `mbox:PATH`, `imaps://USER@HOST`).
//! - **folder**: a mailbox folder, `/`-separated, `INBOX` for the inbox.
//! - **piece**: one readable text extracted from a message (the subject, a
//!   body, an attachment's text), tagged with its **location**.
//! - **detector**: recognises one kind of sensitive value; its id is fixed by
//!   the interface contract (`no.fodselsnummer`, `special_category.health`).
//! - **canonical value**: the normalised form of a detected value (digits only
//!   for numbers); it exists only inside the detectors.
//! - **term**: a special-category phrase from the rules (high, medium or
//!   noisy evidence, or a trap that consumes a match); it begins a word
//!   unless written `*term` (**open-start**, found inside compounds).
//! - **masked**: a rendering of the value that hides most of it.
//! - **fingerprint**: HMAC-SHA256 of the canonical value with the
//!   installation's secret key; how one value is tracked across messages.
//! - **finding**: one distinct value (or one special category) in one message.
//! - **problem**: a part of a message that could not be (fully) read, and why.
//! - **retention rule**: decides when a message is **stale** (due for the
//!   yearly cleanup); `yearly-review` is the default.
//! - **as-of date**: the scan's "today", passed in; the core never reads a
//!   clock.
//! - **account**: a mail server (or Office 365 tenant) in the configuration
//!   file, with how to authenticate and which mailboxes to scan.
//! - **cursor**: per IMAP folder, its UIDVALIDITY and the highest UID whose
//!   results are stored; a rescan fetches only what lies beyond it.
//! - **stale-only scan**: staleness judged from IMAP metadata alone (flags,
//!   dates, sizes), no message read.
//! - **case**: an offboarding case: the documented reason, legal basis and
//!   notice that make opening a leaver's mailbox lawful.
//! - **plan**: one row per message of a case with a **decision**
//!   (`handover`, `keep`, `delete`, `private`, `review`); the manager edits
//!   it, but a message classified `private` is never handed over.
//! - **handover**: copying a case's `handover` rows into the successor's
//!   mailbox (or an export), once each.
//! - **job**: one mailbox of a scan run queued in a shared PostgreSQL
//!   store (or the run's ending), taken by a **worker** under a **lease**
//!   (renewed while it works) with a **fencing token**: the database refuses
//!   a worker's writes once its lease ended.
//! - **tenant**: the account whose connection budget a job draws on (caps on
//!   live leases, a throttling pause every worker honours).
//! - **audit chain**: every action recorded in order, each entry hashing the
//!   one before, so a changed, removed or reordered entry is detected.

pub mod action_error;
pub mod actions;
pub mod audit;
pub mod case;
pub mod checksum;
pub mod cloud;
pub mod compliance;
pub mod config;
pub mod deliver;
pub mod detect;
pub mod engine;
pub mod extract;
pub mod fingerprint;
pub mod handover;
pub mod history;
pub mod imap;
pub mod inventory;
pub mod model;
pub mod oauth;
pub mod offboard;
pub mod own_mail;
pub mod plan_xlsx;
pub mod preview;
pub mod register;
pub mod remind;
pub mod reminders;
pub mod report;
pub mod rules;
pub mod scan;
pub mod source;
pub mod store;
pub mod subject;
pub mod templates;
pub mod workers;
