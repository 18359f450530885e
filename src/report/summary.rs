//! The summary behind the text and Markdown reports: counts per folder, per
//! detector and per rule, the worst messages, and what could not be read.
//!
//! Memory stays bounded whatever the mailbox size: counts are per folder and
//! detector, and only the worst few messages and the first few problems are
//! kept in full.

use super::{ReportContext, detector_label};
use crate::model::{DetectorId, MessageReport};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

/// How many messages the "worst first" list keeps.
pub const WORST_KEPT: usize = 25;
/// How many unreadable parts are listed individually.
pub const PROBLEMS_KEPT: usize = 50;
/// How many stale messages are listed individually (oldest first).
pub const STALE_KEPT: usize = 25;

#[derive(Debug, Default, Clone)]
pub struct FolderStats {
    pub messages: u64,
    pub stale: u64,
    pub sensitive: u64,
    pub unreadable: u64,
}

#[derive(Debug, Default, Clone)]
pub struct DetectorStats {
    pub findings: u64,
    pub messages: u64,
    distinct: HashSet<String>,
}

impl DetectorStats {
    /// Distinct values (by fingerprint); special categories have none.
    pub fn distinct_values(&self) -> usize {
        self.distinct.len()
    }
}

/// One message as listed in a summary: masked values only.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub source: String,
    pub folder: String,
    pub date: String,
    pub message_id: String,
    pub from: String,
    pub severity: f32,
    pub findings: Vec<(String, String, String)>,
    pub age_days: i64,
    pub rule: String,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub ctx: ReportContext,
    pub messages: u64,
    pub stale: u64,
    pub sensitive: u64,
    pub unreadable: u64,
    pub per_folder: BTreeMap<(String, String), FolderStats>,
    pub per_detector: BTreeMap<DetectorId, DetectorStats>,
    /// Rule id to (messages, oldest age in days).
    pub stale_by_rule: BTreeMap<String, (u64, i64)>,
    pub worst: Vec<ListedMessage>,
    pub oldest_stale: Vec<ListedMessage>,
    pub problems: Vec<(String, String, String, String)>,
    pub failed_sources: Vec<(String, String)>,
}

impl Summary {
    pub fn new(ctx: ReportContext) -> Summary {
        Summary {
            ctx,
            messages: 0,
            stale: 0,
            sensitive: 0,
            unreadable: 0,
            per_folder: BTreeMap::new(),
            per_detector: BTreeMap::new(),
            stale_by_rule: BTreeMap::new(),
            worst: Vec::new(),
            oldest_stale: Vec::new(),
            problems: Vec::new(),
            failed_sources: Vec::new(),
        }
    }

    pub fn add(&mut self, source: &str, r: &MessageReport) {
        let findings: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.confidence >= self.ctx.min_confidence)
            .collect();
        self.messages += 1;
        let folder = self
            .per_folder
            .entry((source.to_string(), r.meta.folder.clone()))
            .or_default();
        folder.messages += 1;
        if !findings.is_empty() {
            self.sensitive += 1;
            folder.sensitive += 1;
        }
        if r.stale.is_some() {
            self.stale += 1;
            folder.stale += 1;
        }
        if !r.problems.is_empty() {
            self.unreadable += 1;
            folder.unreadable += 1;
        }
        let mut seen_detectors = HashSet::new();
        for f in &findings {
            let stats = self.per_detector.entry(f.detector.clone()).or_default();
            stats.findings += 1;
            if !f.fingerprint.is_empty() {
                stats.distinct.insert(f.fingerprint.clone());
            }
            if seen_detectors.insert(&f.detector) {
                stats.messages += 1;
            }
        }
        let listed = || ListedMessage {
            source: source.to_string(),
            folder: r.meta.folder.clone(),
            date: r
                .date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "unknown".into()),
            message_id: r.envelope.message_id.clone(),
            from: r.envelope.from.first().cloned().unwrap_or_default(),
            severity: findings
                .iter()
                .map(|f| f.detector.weight() * f.confidence)
                .fold(0.0, f32::max),
            findings: findings
                .iter()
                .map(|f| {
                    (
                        f.detector.to_string(),
                        f.masked.clone(),
                        f.location.to_string(),
                    )
                })
                .collect(),
            age_days: r.stale.as_ref().map_or(0, |s| s.age_days),
            rule: r.stale.as_ref().map(|s| s.rule.clone()).unwrap_or_default(),
        };
        if let Some(stale) = &r.stale {
            let entry = self
                .stale_by_rule
                .entry(stale.rule.clone())
                .or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(stale.age_days);
            keep_top(&mut self.oldest_stale, listed(), STALE_KEPT, |m| {
                (m.age_days as f64, 0)
            });
        }
        if !findings.is_empty() {
            keep_top(&mut self.worst, listed(), WORST_KEPT, |m| {
                (f64::from(m.severity), m.findings.len())
            });
        }
        for p in &r.problems {
            if self.problems.len() < PROBLEMS_KEPT {
                self.problems.push((
                    r.meta.folder.clone(),
                    r.envelope.message_id.clone(),
                    p.location.to_string(),
                    p.kind.describe().to_string(),
                ));
            }
        }
    }
}

/// Keeps the `n` highest-ranked items, in rank order, first come first kept
/// among equals.
fn keep_top<K: PartialOrd>(
    list: &mut Vec<ListedMessage>,
    item: ListedMessage,
    n: usize,
    key: impl Fn(&ListedMessage) -> K,
) {
    let k = key(&item);
    let pos = list.iter().position(|m| key(m) < k).unwrap_or(list.len());
    if pos < n {
        list.insert(pos, item);
        list.truncate(n);
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The terminal summary.
pub fn render_text(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "mailhygiene scan as of {}", s.ctx.as_of)?;
    writeln!(
        out,
        "{} messages: {} stale ({}), {} with sensitive data ({}), {} not fully readable",
        s.messages,
        s.stale,
        percent(s.stale, s.messages),
        s.sensitive,
        percent(s.sensitive, s.messages),
        s.unreadable
    )?;
    for (source, error) in &s.failed_sources {
        writeln!(out, "FAILED {source}: {error}")?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "\nBy folder:")?;
        writeln!(
            out,
            "  {:<40} {:>9} {:>7} {:>9} {:>10}",
            "folder", "messages", "stale", "sensitive", "unreadable"
        )?;
        for ((source, folder), f) in &s.per_folder {
            let name = if s.per_folder.keys().any(|(src, _)| src != source) {
                format!("{source} {folder}")
            } else {
                folder.clone()
            };
            writeln!(
                out,
                "  {:<40} {:>9} {:>7} {:>9} {:>10}",
                name, f.messages, f.stale, f.sensitive, f.unreadable
            )?;
        }
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "\nBy detector:")?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                format!(", {} distinct values", d.distinct_values())
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {:<32} {} messages{}",
                id.to_string(),
                d.messages,
                distinct
            )?;
        }
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "\nStale by rule:")?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(out, "  {rule:<32} {n} messages, oldest {oldest} days")?;
        }
    }
    if !s.worst.is_empty() {
        writeln!(out, "\nWorst messages first:")?;
        for m in &s.worst {
            writeln!(out, "  {} {} {} {}", m.date, m.folder, m.message_id, m.from)?;
            for (detector, masked, location) in &m.findings {
                let shown = if masked.is_empty() {
                    String::new()
                } else {
                    format!(" {masked}")
                };
                writeln!(out, "      {detector}{shown} ({location})")?;
            }
        }
    }
    if !s.problems.is_empty() {
        writeln!(out, "\nNot fully read:")?;
        for (folder, message_id, location, what) in &s.problems {
            writeln!(out, "  {folder} {message_id} {location}: {what}")?;
        }
        if s.unreadable as usize > s.problems.len() {
            writeln!(out, "  ... and more (use --format jsonl for all)")?;
        }
    }
    Ok(())
}

/// Escapes text for a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The cleanup report: what an employee reads in the yearly reminder, and
/// what a manager or compliance officer reads after a scan.
pub fn render_markdown(s: &Summary, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# Mailbox cleanup report, {}\n", s.ctx.as_of)?;
    writeln!(
        out,
        "Scanned **{}** messages. **{}** are due for review under the retention rules, \
         and **{}** contain what looks like sensitive personal data.\n",
        s.messages, s.stale, s.sensitive
    )?;
    writeln!(out, "## What to do\n")?;
    writeln!(
        out,
        "1. Delete messages that are no longer needed; the oldest are listed below."
    )?;
    writeln!(
        out,
        "2. Messages with national ID numbers, health information or other sensitive data \
                   should not stay in email: move what must be kept to the proper system, then delete it."
    )?;
    writeln!(
        out,
        "3. Flag (star) messages you must keep; flagged messages are not counted as due for review."
    )?;
    writeln!(
        out,
        "\nValues are masked: this report never shows a number in full.\n"
    )?;
    for (source, error) in &s.failed_sources {
        writeln!(out, "> **Could not scan {}:** {}\n", md(source), md(error))?;
    }
    if !s.per_folder.is_empty() {
        writeln!(out, "## Folders\n")?;
        writeln!(
            out,
            "| Folder | Messages | Due for review | Sensitive | Not fully read |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|")?;
        for ((_, folder), f) in &s.per_folder {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(folder),
                f.messages,
                f.stale,
                f.sensitive,
                f.unreadable
            )?;
        }
        writeln!(out)?;
    }
    if !s.per_detector.is_empty() {
        writeln!(out, "## Sensitive data found\n")?;
        writeln!(out, "| What | Messages | Distinct values |")?;
        writeln!(out, "|---|---:|---:|")?;
        for (id, d) in &s.per_detector {
            let distinct = if d.distinct_values() > 0 {
                d.distinct_values().to_string()
            } else {
                "–".into()
            };
            writeln!(
                out,
                "| {} (`{}`) | {} | {} |",
                detector_label(id),
                id,
                d.messages,
                distinct
            )?;
        }
        writeln!(out)?;
        writeln!(out, "### Messages to handle first\n")?;
        writeln!(out, "| Date | Folder | From | Found | Message-ID |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for m in &s.worst {
            let found: Vec<String> = m
                .findings
                .iter()
                .map(|(d, masked, loc)| {
                    if masked.is_empty() {
                        format!("{d} in {loc}")
                    } else {
                        format!("{d} `{masked}` in {loc}")
                    }
                })
                .collect();
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.date,
                md(&m.folder),
                md(&m.from),
                md(&found.join("; ")),
                md(&m.message_id)
            )?;
        }
        writeln!(out)?;
    }
    if !s.stale_by_rule.is_empty() {
        writeln!(out, "## Due for review\n")?;
        writeln!(out, "| Rule | Messages | Oldest (days) |")?;
        writeln!(out, "|---|---:|---:|")?;
        for (rule, (n, oldest)) in &s.stale_by_rule {
            writeln!(out, "| `{rule}` | {n} | {oldest} |")?;
        }
        writeln!(out, "\n### Oldest messages\n")?;
        writeln!(out, "| Received | Age (days) | Folder | From | Rule |")?;
        writeln!(out, "|---|---:|---|---|---|")?;
        for m in &s.oldest_stale {
            writeln!(
                out,
                "| {} | {} | {} | {} | `{}` |",
                m.date,
                m.age_days,
                md(&m.folder),
                md(&m.from),
                m.rule
            )?;
        }
        writeln!(out)?;
    }
    if !s.problems.is_empty() {
        writeln!(out, "## Not fully read\n")?;
        writeln!(
            out,
            "These parts could not be scanned; check them by hand.\n"
        )?;
        writeln!(out, "| Folder | Message-ID | Part | Why |")?;
        writeln!(out, "|---|---|---|---|")?;
        for (folder, message_id, location, what) in &s.problems {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                md(folder),
                md(message_id),
                md(location),
                what
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}
