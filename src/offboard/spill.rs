//! A case's plan rows kept on disk while they are made, not in memory: a
//! leaver's mailbox of a million messages makes a million rows, and the
//! store, the plan file and the tests each read them again in order.
//!
//! The file is private (mode 0600, as the temporary-file crate makes it) and
//! removed when the rows are dropped: it holds what the plan holds (masked
//! subjects, senders of business mail), nothing private rows do not show.

use crate::case::{Decision, PlanRow};
use std::io::{self, BufRead, BufReader, BufWriter, Write};

/// Plan rows in the order they were made, on disk.
pub struct PlanRows {
    file: tempfile::NamedTempFile,
    writer: Option<BufWriter<std::fs::File>>,
    len: usize,
}

/// One row as a line of the file: every field, the store's key included
/// (which the plan's own serialisation leaves out).
#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    message_id: String,
    folder: String,
    uid: Option<u32>,
    key: String,
    date: String,
    from: String,
    subject: String,
    decision: String,
    why: String,
}

impl PlanRows {
    pub fn new() -> io::Result<PlanRows> {
        let file = tempfile::NamedTempFile::new()?;
        let writer = Some(BufWriter::new(file.reopen()?));
        Ok(PlanRows {
            file,
            writer,
            len: 0,
        })
    }

    pub fn push(&mut self, r: &PlanRow) -> io::Result<()> {
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the plan rows are already closed"))?;
        serde_json::to_writer(
            &mut *w,
            &Line {
                message_id: r.message_id.clone(),
                folder: r.folder.clone(),
                uid: r.uid,
                key: r.key.clone(),
                date: r.date.clone(),
                from: r.from.clone(),
                subject: r.subject.clone(),
                decision: r.decision.as_str().to_string(),
                why: r.why.clone(),
            },
        )?;
        w.write_all(b"\n")?;
        self.len += 1;
        Ok(())
    }

    /// Ends writing: the rows can be read from now on.
    pub fn close(&mut self) -> io::Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.flush()?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rows from the first, read one at a time.
    pub fn iter(&self) -> io::Result<impl Iterator<Item = io::Result<PlanRow>> + use<>> {
        if self.writer.is_some() {
            return Err(io::Error::other("the plan rows are still being written"));
        }
        let reader = BufReader::new(self.file.reopen()?);
        Ok(reader.lines().map(|line| {
            let line: Line = serde_json::from_str(&line?).map_err(io::Error::other)?;
            Ok(PlanRow {
                message_id: line.message_id,
                folder: line.folder,
                uid: line.uid,
                key: line.key,
                date: line.date,
                from: line.from,
                subject: line.subject,
                decision: Decision::parse(&line.decision)
                    .ok_or_else(|| io::Error::other("a plan row with an unknown decision"))?,
                why: line.why,
            })
        }))
    }

    /// Every row in memory (small plans, tests).
    pub fn to_vec(&self) -> io::Result<Vec<PlanRow>> {
        self.iter()?.collect()
    }
}
