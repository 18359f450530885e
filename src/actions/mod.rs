//! The commands that change a mailbox: `clean` (move what the rules mark
//! due to Deleted Items) and `undo` (move a clean run's messages back).
//!
//! They share one shape: a plan made from the inventory (pure), then, with
//! `--apply`, for each batch: re-check the messages in the mailbox, journal
//! the intent, act through an edge ([`movers`]), journal the outcome. A run
//! first settles what an interrupted run left at `intent`, by looking where
//! those messages are now, so nothing is moved twice. Nothing is ever
//! deleted permanently.

pub mod chosen;
pub mod clean;
pub mod cleanup;
pub mod copiers;
pub mod movers;
pub mod runs;

/// What the cleanup tests share: old mail written into a Maildir, and a
/// Maildir recorded in a store as a scan would.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::engine::Engine;
    use crate::store::{RunId, Store};
    use std::path::Path;

    /// Writes `Message-ID: <id@t>` messages at these paths below `root`,
    /// received on 2020-01-01 (due for every yearly rule).
    pub fn write_old(root: &Path, files: &[(&str, &str)]) {
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_577_880_000);
        for (path, id) in files {
            let file = root.join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).expect("mkdir");
            }
            std::fs::write(
                &file,
                format!("Message-ID: <{id}@t>\r\nSubject: {id}\r\n\r\nhei\r\n"),
            )
            .expect("write");
            std::fs::File::options()
                .write(true)
                .open(&file)
                .expect("open")
                .set_modified(old)
                .expect("mtime");
        }
    }

    /// Records every message of the Maildir at `root` as `source`.
    pub fn record_maildir(
        store: &mut dyn Store,
        engine: &Engine,
        run: RunId,
        root: &Path,
        source: &str,
    ) {
        for folder in crate::source::maildir::folders(root).expect("folders") {
            for path in crate::source::maildir::message_files(&folder).expect("files") {
                let job = crate::source::maildir::job(&folder.name, path.clone());
                let mut meta = job.meta;
                let mut buf = Vec::new();
                crate::source::maildir::read(&path, &mut meta, 1 << 20, &mut buf).expect("read");
                store
                    .record(run, source, &engine.scan_message(meta, &buf))
                    .expect("record");
            }
        }
    }
}

use serde::Serialize;
use std::io::{self, Write};

pub use crate::action_error::ActionError;

/// One message of a `clean` or `undo`, as printed (the contract's record).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MoveRecord {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: String,
    pub folder: String,
    pub uid: Option<u32>,
    pub message_id: String,
    pub to_folder: String,
    pub rule: String,
    pub status: &'static str,
    pub run: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// For a person reading the plan: when it was received and its subject
    /// (masked).
    #[serde(skip)]
    pub date: String,
    #[serde(skip)]
    pub subject: String,
}

/// How `clean` and `undo` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActionFormat {
    /// For people: a line each, and a summary.
    Text,
    /// One JSON record each (the contract's records: `move`, `handover`, `run`, ...).
    Jsonl,
}

/// Prints move records as they come and counts them by status.
pub struct MovePrinter<'w> {
    out: Box<dyn Write + 'w>,
    format: ActionFormat,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
}

impl<'w> MovePrinter<'w> {
    pub fn new(out: Box<dyn Write + 'w>, format: ActionFormat) -> MovePrinter<'w> {
        MovePrinter {
            out,
            format,
            counts: Default::default(),
        }
    }

    pub fn record(&mut self, r: &MoveRecord) -> io::Result<()> {
        *self.counts.entry(r.status).or_default() += 1;
        match self.format {
            ActionFormat::Jsonl => {
                serde_json::to_writer(&mut self.out, r)?;
                self.out.write_all(b"\n")
            }
            ActionFormat::Text => {
                // An undo knows no subject (the journal keeps none): the
                // message is named by its Message-ID instead of `""`.
                let named = if r.subject.is_empty() {
                    r.message_id.clone()
                } else {
                    format!("\"{}\"", r.subject)
                };
                let what = crate::report::summary::one_line(
                    format!("{} {} {named}", r.date, r.folder).trim(),
                );
                let why = if r.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", crate::report::summary::one_line(&r.reason))
                };
                writeln!(
                    self.out,
                    "{:<8} {what} -> {}{why}",
                    r.status,
                    crate::report::summary::one_line(&r.to_folder)
                )
            }
        }
    }

    pub fn finish(&mut self, note: &str) -> io::Result<()> {
        if self.format == ActionFormat::Text {
            let counts: Vec<String> = self
                .counts
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            if counts.is_empty() {
                writeln!(self.out, "nothing to do")?;
            } else {
                writeln!(self.out, "{}", counts.join(", "))?;
            }
            if !note.is_empty() {
                writeln!(self.out, "{note}")?;
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod printer_tests {
    use super::*;

    fn record(date: &str, subject: &str) -> MoveRecord {
        MoveRecord {
            kind: "move",
            source: "maildir:/m".into(),
            folder: "Deleted Items".into(),
            uid: None,
            message_id: "<sak-1@firma.test>".into(),
            to_folder: "INBOX".into(),
            rule: "yearly-review".into(),
            status: "moved",
            run: 3,
            reason: String::new(),
            date: date.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn a_line_names_the_message_even_without_a_subject() {
        let mut out = Vec::new();
        {
            let mut p = MovePrinter::new(Box::new(&mut out), ActionFormat::Text);
            p.record(&record("2020-01-01", "")).expect("line");
            p.record(&record("2020-01-02", "Sak 1")).expect("line");
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains("moved    2020-01-01 Deleted Items <sak-1@firma.test> -> INBOX"),
            "{text}"
        );
        assert!(
            text.contains("2020-01-02 Deleted Items \"Sak 1\" -> INBOX"),
            "{text}"
        );
        assert!(!text.contains("\"\""), "{text}");
    }
}
