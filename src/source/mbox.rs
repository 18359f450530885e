//! mbox files, read as a stream: one message in memory at a time, however
//! large the file. The received date is the `From ` separator line's date;
//! `>From ` escapes (mboxrd) are undone; the flagged state comes from the
//! `X-Status` (`F`) or `X-Mozilla-Status` (0x0004) header that mail clients
//! write.

use super::{Content, Job};
use crate::model::MessageMeta;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::io::{self, BufRead, Read};

/// The mbox files below a directory, as (folder name, path), sorted by
/// folder. Dotfiles and mail clients' index files (`.msf`) are skipped.
pub fn files_in(dir: &std::path::Path) -> io::Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".msf") {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                let folder = relative
                    .components()
                    .map(|c| {
                        c.as_os_str()
                            .to_string_lossy()
                            .trim_end_matches(".sbd")
                            .to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((folder, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Splits an mbox stream into jobs.
pub struct MboxReader<R> {
    reader: R,
    folder: String,
    origin: String,
    max_message_bytes: u64,
    /// The `From ` line that starts the next message, already read.
    pending: Option<Vec<u8>>,
    index: usize,
    done: bool,
    /// Keys handed out so far, so identical messages get distinct keys.
    keys: std::collections::HashMap<String, u32>,
    /// Bytes of the last line that were skipped, not read.
    overlong: u64,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(reader: R, folder: &str, origin: &str, max_message_bytes: u64) -> Self {
        MboxReader {
            reader,
            folder: folder.to_string(),
            origin: origin.to_string(),
            max_message_bytes,
            pending: None,
            index: 0,
            done: false,
            keys: Default::default(),
            overlong: 0,
        }
    }

    /// Reads one line, but never more of it than a message may hold: a
    /// gigabyte without a line break is skipped (and counted in
    /// `overlong`), not read into memory first.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        self.overlong = 0;
        let cap = self.max_message_bytes.saturating_add(1);
        let n = (&mut self.reader).take(cap).read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(false);
        }
        if !buf.ends_with(b"\n") && buf.len() as u64 >= cap {
            loop {
                let available = self.reader.fill_buf()?;
                if available.is_empty() {
                    break;
                }
                match memchr::memchr(b'\n', available) {
                    Some(p) => {
                        self.reader.consume(p + 1);
                        self.overlong += p as u64 + 1;
                        break;
                    }
                    None => {
                        let len = available.len();
                        self.reader.consume(len);
                        self.overlong += len as u64;
                    }
                }
            }
        }
        Ok(true)
    }
}

impl<R> MboxReader<R> {
    /// What identifies a message across runs: a digest of its separator
    /// line and content (an mbox has no other stable name), made distinct
    /// for identical copies.
    fn key(&mut self, from_line: &[u8], body: &[u8], size: u64) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(from_line);
        hash.update(size.to_le_bytes());
        hash.update(body);
        let digest = hash.finalize();
        let base = hex::encode(&digest[..12]);
        let copies = self.keys.entry(base.clone()).or_insert(0);
        *copies += 1;
        if *copies == 1 {
            base
        } else {
            format!("{base}-{copies}")
        }
    }
}

fn is_separator(line: &[u8], previous_blank: bool) -> bool {
    line.starts_with(b"From ") && (previous_blank || from_line_date(line).is_some())
}

fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
}

/// The date of a `From sender Tue Jul  1 10:00:00 2025` line (asctime, as
/// written by every mbox producer, sometimes with a zone before the year).
pub fn from_line_date(line: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.split_whitespace();
    words.next()?; // "From"
    words.next()?; // sender
    let mut rest: Vec<&str> = words.collect();
    // The weekday is redundant, and producers get it wrong: ignore it.
    if rest
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()) && w.len() == 3)
        && rest
            .get(1)
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        rest.remove(0);
    }
    let joined = rest.join(" ");
    for format in ["%b %d %H:%M:%S %Y", "%b %d %H:%M %Y"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&joined, format) {
            return Some(t.and_utc());
        }
    }
    // With a zone: "Jul 1 10:00:00 +0200 2025" or "Jul 1 10:00:00 2025 +0200".
    for format in ["%b %d %H:%M:%S %z %Y", "%b %d %H:%M:%S %Y %z"] {
        if let Ok(t) = DateTime::parse_from_str(&joined, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// Whether the header section marks the message as flagged.
fn header_flagged(message: &[u8]) -> bool {
    for line in message.split(|&b| b == b'\n') {
        if is_blank(line) {
            break;
        }
        let line = String::from_utf8_lossy(line);
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("x-status:")
            && v.contains('f')
        {
            return true;
        }
        if let Some(v) = lower.strip_prefix("x-mozilla-status:")
            && u32::from_str_radix(v.trim(), 16).is_ok_and(|bits| bits & 0x0004 != 0)
        {
            return true;
        }
    }
    false
}

/// Undoes mboxrd quoting: `>From ` (any number of `>`) loses one `>`.
fn unescape_line(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = io::Result<Job>;

    fn next(&mut self) -> Option<io::Result<Job>> {
        if self.done {
            return None;
        }
        let mut line = Vec::new();
        // Find the separator that starts this message.
        let from_line = match self.pending.take() {
            Some(l) => l,
            None => loop {
                match self.read_line(&mut line) {
                    Ok(true) if line.starts_with(b"From ") => break line.clone(),
                    Ok(true) => continue, // junk before the first message
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            },
        };
        self.index += 1;
        let mut body: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let mut too_large = false;
        let mut previous_blank = false;
        loop {
            match self.read_line(&mut line) {
                Ok(true) => {
                    if is_separator(&line, previous_blank) {
                        self.pending = Some(line.clone());
                        break;
                    }
                    previous_blank = is_blank(&line);
                    size += line.len() as u64 + self.overlong;
                    if size > self.max_message_bytes {
                        too_large = true;
                        body = Vec::new();
                    } else {
                        body.extend_from_slice(unescape_line(&line));
                    }
                }
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        // The blank line before the next separator belongs to the format.
        if self.pending.is_some() {
            if body.ends_with(b"\r\n\r\n") {
                body.truncate(body.len() - 2);
            } else if body.ends_with(b"\n\n") {
                body.truncate(body.len() - 1);
            }
        }
        let key = self.key(&from_line, &body, size);
        let meta = MessageMeta {
            received: from_line_date(&from_line),
            flagged: !too_large && header_flagged(&body),
            local_key: Some(key),
            position: self.index as u64,
            ..MessageMeta::local(
                self.folder.as_str(),
                size,
                format!("{} message {}", self.origin, self.index),
            )
        };
        let content = if too_large {
            Content::Unreadable(crate::model::ProblemKind::MessageTooLarge)
        } else {
            Content::Bytes(body)
        };
        Some(Ok(Job { meta, content }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(mbox: &str) -> Vec<Job> {
        MboxReader::new(mbox.as_bytes(), "Arkiv", "test.mbox", 1 << 20)
            .collect::<io::Result<Vec<_>>>()
            .expect("reads")
    }

    fn bytes(job: &Job) -> String {
        match &job.content {
            Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    #[test]
    fn a_huge_line_is_skipped_not_read_into_memory() {
        let mut mbox = String::from("From a@b Tue Jul  1 10:00:00 2025\nSubject: big\n\n");
        mbox.push_str(&"x".repeat(5000));
        mbox.push_str("\n\nFrom c@d Wed Jul  2 11:00:00 2025\nSubject: small\n\nHei\n");
        let jobs: Vec<Job> = MboxReader::new(mbox.as_bytes(), "Arkiv", "t", 1000)
            .collect::<io::Result<Vec<_>>>()
            .expect("reads");
        assert_eq!(jobs.len(), 2);
        assert!(matches!(jobs[0].content, Content::Unreadable(_)));
        assert!(jobs[0].meta.size > 5000);
        assert_eq!(bytes(&jobs[1]), "Subject: small\n\nHei\n");
    }

    #[test]
    fn splits_messages_and_reads_dates_and_flags() {
        let mbox = "From ola@example.no Tue Jul  1 10:00:00 2025\nSubject: a\nX-Status: F\n\nHei\n>From here\n\nFrom kari@example.no Wed Jul  2 11:00:00 2025\nSubject: b\nX-Mozilla-Status: 0001\n\nDer\n";
        let jobs = read(mbox);
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            bytes(&jobs[0]),
            "Subject: a\nX-Status: F\n\nHei\nFrom here\n"
        );
        assert!(jobs[0].meta.flagged);
        assert!(!jobs[1].meta.flagged);
        assert_eq!(
            jobs[0].meta.received.map(|d| d.to_rfc3339()),
            Some("2025-07-01T10:00:00+00:00".to_string())
        );
        assert_eq!(jobs[1].meta.origin, "test.mbox message 2");
    }

    #[test]
    fn from_inside_a_body_without_a_blank_line_or_date_is_text() {
        let mbox = "From a@b Tue Jul  1 10:00:00 2025\n\nline\nFrom me to you\n";
        let jobs = read(mbox);
        assert_eq!(jobs.len(), 1);
        assert!(bytes(&jobs[0]).contains("From me to you"));
    }

    #[test]
    fn oversized_messages_are_marked_not_buffered() {
        let big = format!(
            "From a@b Tue Jul  1 10:00:00 2025\n\n{}\n",
            "x".repeat(2000)
        );
        let jobs: Vec<Job> = MboxReader::new(big.as_bytes(), "A", "t", 100)
            .collect::<io::Result<Vec<_>>>()
            .expect("reads");
        assert!(matches!(jobs[0].content, Content::Unreadable(_)));
    }

    #[test]
    fn from_line_dates_in_the_forms_producers_write() {
        for line in [
            "From a@b Tue Jul  1 10:00:00 2025",
            "From a@b Mon Jul  1 10:00:00 2025", // wrong weekday
            "From a@b Tue Jul 01 10:00:00 2025\r\n",
            "From a@b Tue Jul  1 12:00:00 +0200 2025",
            "From MAILER-DAEMON Tue Jul  1 10:00 2025",
        ] {
            let d = from_line_date(line.as_bytes()).map(|d| d.format("%Y-%m-%d %H").to_string());
            assert_eq!(d.as_deref(), Some("2025-07-01 10"), "{line}");
        }
        assert_eq!(from_line_date(b"From me to you"), None);
    }

    #[test]
    fn empty_and_junk_files_have_no_messages() {
        assert!(read("").is_empty());
        assert!(read("not an mbox\n").is_empty());
    }
}
