//! The compliance report's printers: JSON (the schema's), Markdown, CSV
//! tables and a self-contained HTML page, each to any `io::Write`.

use super::words::{Words, words};
use super::*;
use crate::model::Lang;

/// JSON, per `schemas/compliance-report.schema.json`; the deviations are
/// written as they are read.
pub fn render_json(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    out: &mut dyn Write,
) -> io::Result<()> {
    /// The report's fields in its order, `deviations` streamed in place.
    #[derive(Serialize)]
    struct Whole<'a> {
        as_of: NaiveDate,
        period_start: NaiveDate,
        department: &'a Option<String>,
        totals: &'a Totals,
        mailboxes: &'a [MailboxRow],
        departments: &'a [DepartmentRow],
        coverage: &'a [CoverageGap],
        trend: &'a [TrendPoint],
        new_sensitive: u64,
        old_sensitive: u64,
        riskiest: &'a [RiskyMessage],
        deviations: Listed<'a>,
        notes: &'a [String],
    }
    struct Listed<'a> {
        report: &'a ComplianceReport,
        deviations: &'a dyn DeviationStream,
    }
    impl Serialize for Listed<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeSeq};
            let mut seq = serializer.serialize_seq(None)?;
            let mut failed = None;
            let read = each_listed(self.report, self.deviations, &mut |d| {
                seq.serialize_element(d).map_err(|e| {
                    let message = e.to_string();
                    failed = Some(e);
                    io::Error::other(message)
                })
            });
            if let Some(e) = failed {
                return Err(e);
            }
            read.map_err(S::Error::custom)?;
            seq.end()
        }
    }
    let whole = Whole {
        as_of: r.as_of,
        period_start: r.period_start,
        department: &r.department,
        totals: &r.totals,
        mailboxes: &r.mailboxes,
        departments: &r.departments,
        coverage: &r.coverage,
        trend: &r.trend,
        new_sensitive: r.new_sensitive,
        old_sensitive: r.old_sensitive,
        riskiest: &r.riskiest,
        deviations: Listed {
            report: r,
            deviations,
        },
        notes: &r.notes,
    };
    serde_json::to_writer_pretty(&mut *out, &whole)?;
    writeln!(out)
}

/// Each deviation of the report's mailboxes, in the register's order.
fn each_listed(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    visit: &mut dyn FnMut(&Deviation) -> io::Result<()>,
) -> io::Result<()> {
    let included: HashSet<&str> = r.mailboxes.iter().map(|m| m.source.as_str()).collect();
    deviations.each(&mut |d| {
        if included.contains(d.source.as_str()) {
            visit(d)
        } else {
            Ok(())
        }
    })
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// A mailbox as people know it: its owner, and the address (from the
/// configuration, else the IMAP login) when that says more; a local
/// export by its path.
fn person(owner: &str, address: &str, source: &str) -> (String, String) {
    let address = if address.is_empty() {
        crate::source::imap_url::ImapUrl::parse(source)
            .ok()
            .map(|u| u.user)
            .filter(|u| u.contains('@'))
            .unwrap_or_else(|| source.to_string())
    } else {
        address.to_string()
    };
    if owner.is_empty() || owner == address {
        (address, String::new())
    } else {
        (owner.to_string(), address)
    }
}

/// The mailbox's person in one cell of Markdown: "Kari Nordmann <kari@…>".
fn person_line(owner: &str, address: &str, source: &str) -> String {
    match person(owner, address, source) {
        (name, more) if more.is_empty() => name,
        (name, more) => format!("{name} <{more}>"),
    }
}

/// The report's month (the one `as_of` is in) and the one before it with
/// history, for the change the KPI cards show.
fn this_and_previous(r: &ComplianceReport) -> (Option<&TrendPoint>, Option<&TrendPoint>) {
    let month = format!("{:04}-{:02}", r.as_of.year(), r.as_of.month());
    let now = r.trend.iter().find(|p| p.month == month);
    let before = r.trend.iter().rev().find(|p| p.month < month);
    (now, before)
}

/// Distinct values of a category, or "–" where there is no value to
/// count (special categories are counted by message).
fn distinct(w: &Words, category: &str, n: &Count) -> String {
    if category == Category::SpecialCategory.label() {
        "–".to_string()
    } else {
        w.number(n.values)
    }
}

/// Markdown, for mail or a wiki, in `lang`.
pub fn render_markdown(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    lang: Lang,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = words(lang);
    writeln!(out, "# {} {}", w.title, w.day(Some(r.as_of)))?;
    writeln!(out)?;
    if let Some(d) = &r.department {
        writeln!(out, "{}: {}", w.department, md(d))?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "{}{}{}{}{} {}",
        w.period[0],
        w.day(Some(r.period_start)),
        w.period[1],
        w.day(Some(r.as_of)),
        w.period[2],
        (w.summary)(r, w)
    )?;
    writeln!(out)?;
    for n in &r.notes {
        writeln!(out, "> {}", md(&w.note(n)))?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.by_category)?;
    writeln!(out)?;
    writeln!(
        out,
        "| {} | {} | {} |",
        w.category, w.messages, w.distinct_values
    )?;
    writeln!(out, "|---|---:|---:|")?;
    for (c, n) in &r.totals.by_category {
        writeln!(
            out,
            "| {} | {} | {} |",
            md(&w.category(c)),
            w.number(n.messages),
            distinct(w, c, n)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.departments)?;
    writeln!(out)?;
    writeln!(
        out,
        "| {} | {} | {} | {} | % | {} | {} |",
        w.department.to_lowercase(),
        w.kpi_mailboxes,
        w.messages,
        w.overdue,
        w.sensitive,
        w.open_deviations
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    for d in &r.departments {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&department_name(w, &d.department)),
            w.number(d.mailboxes),
            w.number(d.messages),
            w.number(d.stale),
            w.share(d.stale_share),
            w.number(d.sensitive_messages),
            w.number(d.deviations_open)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.mailboxes)?;
    writeln!(out)?;
    writeln!(
        out,
        "| {} | {} | {} | {} | % | {} | {} | {} | {} |",
        w.person,
        w.department.to_lowercase(),
        w.messages,
        w.overdue,
        w.oldest_overdue,
        w.sensitive,
        w.unreadable,
        w.last_scan
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---|---:|---:|---|")?;
    for m in &r.mailboxes {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} {} |",
            md(&person_line(&m.owner, &m.address, &m.source)),
            md(&m.department),
            w.number(m.messages),
            w.number(m.stale),
            w.share(m.stale_share),
            w.day(m.oldest_stale),
            w.number(m.sensitive_messages),
            w.number(m.unreadable),
            w.day(m.last_scan),
            md(&w.scan_status(&m.last_status))
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.coverage)?;
    writeln!(out)?;
    if r.coverage.is_empty() {
        writeln!(out, "{}", w.all_covered)?;
    }
    for c in &r.coverage {
        writeln!(
            out,
            "- {}: {}: {}",
            md(&person_line(&c.owner, "", &c.source)),
            w.problem(&c.problem),
            md(&coverage_detail(w, c))
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.trend)?;
    writeln!(out)?;
    if r.trend.len() < 2 {
        writeln!(out, "{}", (w.too_little)(r.trend.len()))?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "| {} | {} | {} | {} | {} |",
        w.month_column, w.kpi_mailboxes, w.messages, w.overdue, w.sensitive
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for p in &r.trend {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            w.month(&p.month),
            w.number(p.mailboxes),
            w.number(p.messages),
            w.number(p.stale),
            w.number(p.sensitive_messages)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.riskiest)?;
    writeln!(out)?;
    for m in &r.riskiest {
        writeln!(
            out,
            "- {} {} {} \"{}\": {}",
            w.day(m.date),
            md(&m.owner),
            md(&m.folder),
            md(&m.subject),
            md(&w.why(m))
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## {}", w.deviations)?;
    writeln!(out)?;
    writeln!(
        out,
        "| id | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        w.status,
        w.system,
        w.category,
        w.kinds,
        w.count,
        w.direction,
        w.external,
        w.mailbox,
        w.folder,
        w.date,
        w.subject
    )?;
    writeln!(out, "|---|---|---|---|---|---:|---|---|---|---|---|---|")?;
    let owners = owners(r);
    each_listed(r, deviations, &mut |d| {
        let (owner, address) = owners.get(d.source.as_str()).copied().unwrap_or_default();
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.id,
            w.status(d.status),
            md(&d.system),
            md(&w.category(&d.category)),
            md(&kinds(w, &d.kinds)),
            w.number(d.count),
            w.direction(&d.direction),
            w.yes_no(d.external),
            md(&person_line(owner, address, &d.source)),
            md(&d.folder),
            w.day(d.date),
            md(&d.subject)
        )
    })
}

/// Each mailbox's owner and address by source, for the deviation rows.
fn owners(r: &ComplianceReport) -> HashMap<&str, (&str, &str)> {
    r.mailboxes
        .iter()
        .map(|m| (m.source.as_str(), (m.owner.as_str(), m.address.as_str())))
        .collect()
}

/// A department's name, or the words for none.
fn department_name(w: &Words, name: &str) -> String {
    if name == "(none)" || name.is_empty() {
        w.no_department.to_string()
    } else {
        name.to_string()
    }
}

/// The kinds of data a deviation names, in the reader's words.
fn kinds(w: &Words, kinds: &[String]) -> String {
    kinds
        .iter()
        .map(|k| w.kind(k))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a coverage gap says, in the reader's words where the report made
/// the words (a date before the period, never scanned); an error from a
/// server or a queue is shown as it was given.
fn coverage_detail(w: &Words, c: &CoverageGap) -> String {
    if let Some(queued) = &c.in_progress {
        return (w.queued)(queued.run, queued.holder.as_deref());
    }
    if c.detail == SOME_UNREADABLE {
        return w.some_unreadable.to_string();
    }
    if c.problem != "not_scanned" {
        return c.detail.clone();
    }
    match c.last_scan {
        Some(d) => format!("{} {}", w.scanned_before, w.day(Some(d))),
        None => w.never_scanned.to_string(),
    }
}

/// The CSV tables but the last, by file name (one file per table); the
/// last is [`render_deviations_csv`].
pub fn render_csv(r: &ComplianceReport) -> io::Result<Vec<(&'static str, Vec<u8>)>> {
    use crate::report::spreadsheet_safe as cell;
    let mut files = Vec::new();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "source",
        "owner",
        "department",
        "messages",
        "stale",
        "stale_share",
        "oldest_stale",
        "sensitive_messages",
        "unreadable",
        "last_scan",
        "last_status",
    ])?;
    for m in &r.mailboxes {
        w.write_record([
            cell(&m.source),
            cell(&m.owner),
            cell(&m.department),
            m.messages.to_string(),
            m.stale.to_string(),
            m.stale_share.to_string(),
            date(m.oldest_stale),
            m.sensitive_messages.to_string(),
            m.unreadable.to_string(),
            date(m.last_scan),
            cell(&m.last_status),
        ])?;
    }
    files.push((
        "mailboxes.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "department",
        "mailboxes",
        "messages",
        "stale",
        "stale_share",
        "sensitive_messages",
        "deviations_open",
    ])?;
    for d in &r.departments {
        w.write_record([
            cell(&d.department),
            d.mailboxes.to_string(),
            d.messages.to_string(),
            d.stale.to_string(),
            d.stale_share.to_string(),
            d.sensitive_messages.to_string(),
            d.deviations_open.to_string(),
        ])?;
    }
    files.push((
        "departments.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["source", "category", "messages", "values"])?;
    for m in &r.mailboxes {
        for (c, n) in &m.by_category {
            w.write_record([
                cell(&m.source),
                cell(c),
                n.messages.to_string(),
                n.values.to_string(),
            ])?;
        }
    }
    files.push((
        "categories.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "month",
        "mailboxes",
        "messages",
        "stale",
        "sensitive_messages",
    ])?;
    for p in &r.trend {
        w.write_record([
            p.month.clone(),
            p.mailboxes.to_string(),
            p.messages.to_string(),
            p.stale.to_string(),
            p.sensitive_messages.to_string(),
        ])?;
    }
    files.push((
        "trend.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["source", "problem", "detail"])?;
    for c in &r.coverage {
        w.write_record([cell(&c.source), cell(&c.problem), cell(&c.detail)])?;
    }
    files.push((
        "coverage.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "source",
        "owner",
        "folder",
        "date",
        "subject",
        "identifiers",
        "categories",
        "direction",
        "external",
        "why",
    ])?;
    for m in &r.riskiest {
        w.write_record([
            cell(&m.source),
            cell(&m.owner),
            cell(&m.folder),
            date(m.date),
            cell(&m.subject),
            m.identifiers.to_string(),
            cell(&m.categories.join("; ")),
            m.direction.clone(),
            m.external.to_string(),
            cell(&m.why),
        ])?;
    }
    files.push((
        "riskiest.csv",
        w.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?,
    ));
    Ok(files)
}

/// The last CSV table, `deviations.csv` (the register can be large: it is
/// written as it is read).
pub const DEVIATIONS_CSV: &str = "deviations.csv";

/// Writes [`DEVIATIONS_CSV`].
pub fn render_deviations_csv(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    out: &mut dyn Write,
) -> io::Result<()> {
    use crate::report::spreadsheet_safe as cell;
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "status",
        "system",
        "category",
        "kinds",
        "count",
        "direction",
        "external",
        "source",
        "folder",
        "message_id",
        "date",
        "subject",
        "first_seen",
        "handled_on",
        "action",
    ])?;
    each_listed(r, deviations, &mut |d| {
        w.write_record([
            d.id.clone(),
            d.status.as_str().to_string(),
            cell(&d.system),
            cell(&d.category),
            cell(&d.kinds.join("; ")),
            d.count.to_string(),
            d.direction.clone(),
            d.external.to_string(),
            cell(&d.source),
            cell(&d.folder),
            cell(&d.message_id),
            date(d.date),
            cell(&d.subject),
            d.first_seen.to_string(),
            date(d.handled_on),
            cell(&d.action),
        ])
        .map_err(io::Error::other)
    })?;
    w.flush()
}

fn h(s: &str) -> String {
    html_escape::encode_text(&one_line(s)).into_owned()
}

/// A bar chart as inline SVG: one bar per (label, value), scaled to the
/// largest, the value printed beside it.
fn bars(
    title: &str,
    points: &[(String, u64)],
    shown: &dyn Fn(u64) -> String,
    color: &str,
) -> String {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let height = 24 * points.len().max(1) + 30;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" width=\"720\" height=\"{height}\" viewBox=\"0 0 720 {height}\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"0\" y=\"16\" class=\"t\">{}</text>",
        h(title),
        h(title)
    );
    for (i, (label, v)) in points.iter().enumerate() {
        let y = 28 + i * 24;
        let w = (*v as f64 / max as f64 * 400.0).round() as u64;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"l\">{}</text><rect x=\"240\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\" class=\"v\">{}</text>",
            y + 14,
            h(label),
            250 + w,
            y + 14,
            h(&shown(*v))
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A table's head row: `<thead>`, so a printed table repeats it on each
/// page it runs over.
fn head(columns: &[&str]) -> String {
    let mut row = String::from("<thead><tr>");
    for c in columns {
        row.push_str(&format!("<th>{}</th>", h(c)));
    }
    row.push_str("</tr></thead><tbody>");
    row
}

/// A mailbox's person in a cell: the name, the address below it.
fn person_cell(owner: &str, address: &str, source: &str) -> String {
    let (name, more) = person(owner, address, source);
    if more.is_empty() {
        format!("<td class=\"who\">{}</td>", h(&name))
    } else {
        format!(
            "<td class=\"who\">{}<br><small>{}</small></td>",
            h(&name),
            h(&more)
        )
    }
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1a1a1a;max-width:1200px}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9em;margin-bottom:1em}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}td.n{text-align:right;white-space:nowrap}td.d{white-space:nowrap}td.s{overflow-wrap:break-word;min-width:12em}
td.who small{color:#555}
.kpi{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.kpi div{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:10em}.kpi b{display:block;font-size:1.5em}
.kpi small{display:block;color:#555;margin-top:.3em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
svg.chart{max-width:100%;height:auto}svg.chart text{font-size:12px;font-family:inherit}svg.chart .t{font-weight:bold}
@page{size:A4;margin:14mm 12mm}
@media print{body{margin:0;max-width:none;font-size:9.5pt}section+section{break-before:page}
h2{break-after:avoid}table{font-size:8pt}thead{display:table-header-group}
tr,.kpi div,svg.chart,.note{break-inside:avoid}.kpi div{min-width:8em}}
";

/// One self-contained HTML page in `lang`: inline CSS and SVG, no script,
/// no external asset; printed (A4), each section begins a page and no
/// row is cut.
pub fn render_html(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    lang: Lang,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = words(lang);
    let t = &r.totals;
    let number = |n: u64| w.number(n);
    let mut page = String::new();
    page.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{} {}</title><style>{STYLE}</style></head><body>\n",
        lang.pick("en", "nb", "nn"),
        h(w.title),
        w.day(Some(r.as_of))
    ));
    page.push_str(&format!(
        "<section id=\"summary\"><h1>{} {}</h1>\n",
        h(w.title),
        w.day(Some(r.as_of))
    ));
    if let Some(d) = &r.department {
        page.push_str(&format!("<p>{}: {}</p>\n", h(w.department), h(d)));
    }
    page.push_str(&format!(
        "<p>{}{}{}{}{}</p>\n",
        w.period[0],
        w.day(Some(r.period_start)),
        w.period[1],
        w.day(Some(r.as_of)),
        w.period[2]
    ));
    // The cards, each with its change since the month before (from the
    // history), where there is one.
    let (now, before) = this_and_previous(r);
    let change = |pick: fn(&TrendPoint) -> u64| -> String {
        match (now, before) {
            (Some(n), Some(b)) => w.change(pick(n), pick(b), &b.month),
            _ => w.no_earlier.to_string(),
        }
    };
    page.push_str("<div class=\"kpi\">");
    for (id, label, value, since) in [
        ("mailboxes", w.kpi_mailboxes, number(t.mailboxes), None),
        (
            "messages",
            w.kpi_messages,
            number(t.messages),
            Some(change(|p| p.messages)),
        ),
        (
            "stale",
            w.kpi_stale,
            number(t.stale),
            Some(change(|p| p.stale)),
        ),
        (
            "stale-share",
            w.kpi_stale_share,
            w.share(t.stale_share),
            None,
        ),
        (
            "sensitive",
            w.kpi_sensitive,
            number(t.sensitive_messages),
            Some(change(|p| p.sensitive_messages)),
        ),
        (
            "deviations-open",
            w.kpi_open,
            number(t.deviations_open),
            None,
        ),
    ] {
        page.push_str(&format!(
            "<div id=\"kpi-{id}\"><b>{}</b>{}{}</div>",
            h(&value),
            h(label),
            since
                .map(|s| format!("<small>{}</small>", h(&s)))
                .unwrap_or_default()
        ));
    }
    page.push_str("</div>\n");
    page.push_str(&format!("<p>{}</p>\n", h(&(w.summary)(r, w))));
    for n in &r.notes {
        page.push_str(&format!("<p class=\"note\">{}</p>\n", h(&w.note(n))));
    }
    page.push_str(&format!("<h2>{}</h2>\n", h(w.trend)));
    if r.trend.len() < 2 {
        page.push_str(&format!(
            "<p class=\"note\" id=\"too-little-history\">{}</p>\n",
            h(&(w.too_little)(r.trend.len()))
        ));
    } else {
        let stale: Vec<(String, u64)> = r
            .trend
            .iter()
            .map(|p| (w.month(&p.month), p.stale))
            .collect();
        let sens: Vec<(String, u64)> = r
            .trend
            .iter()
            .map(|p| (w.month(&p.month), p.sensitive_messages))
            .collect();
        page.push_str(&bars(w.chart_stale, &stale, &number, "#c0504d"));
        page.push_str(&bars(w.chart_sensitive, &sens, &number, "#4f81bd"));
    }
    page.push_str(&format!(
        "<table id=\"trend\">{}",
        head(&[
            w.month_column,
            w.kpi_mailboxes,
            w.messages,
            w.overdue,
            w.sensitive
        ])
    ));
    for p in &r.trend {
        page.push_str(&format!(
            "<tr><td class=\"d\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(&w.month(&p.month)),
            number(p.mailboxes),
            number(p.messages),
            number(p.stale),
            number(p.sensitive_messages)
        ));
    }
    page.push_str("</tbody></table>\n</section>\n");

    page.push_str(&format!(
        "<section id=\"categories\"><h2>{}</h2>\n",
        h(w.by_category)
    ));
    let cats: Vec<(String, u64)> = t
        .by_category
        .iter()
        .map(|(c, n)| (w.category(c), n.messages))
        .collect();
    page.push_str(&bars(w.chart_category, &cats, &number, "#9bbb59"));
    page.push_str(&format!(
        "<table id=\"by-category\">{}",
        head(&[w.category, w.messages, w.distinct_values])
    ));
    for (c, n) in &t.by_category {
        page.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(&w.category(c)),
            number(n.messages),
            distinct(w, c, n)
        ));
    }
    page.push_str(&format!(
        "</tbody></table>\n<h2>{}</h2>\n",
        h(w.departments)
    ));
    let shares: Vec<(String, u64)> = r
        .departments
        .iter()
        .map(|d| {
            (
                department_name(w, &d.department),
                (d.stale_share * 10.0).round() as u64,
            )
        })
        .collect();
    page.push_str(&bars(
        w.chart_departments,
        &shares,
        &|tenths| w.share(tenths as f64 / 10.0),
        "#8064a2",
    ));
    let department = w.department.to_lowercase();
    page.push_str(&format!(
        "<table id=\"departments\">{}",
        head(&[
            &department,
            w.kpi_mailboxes,
            w.messages,
            w.overdue,
            "%",
            w.sensitive,
            w.open_deviations
        ])
    ));
    for d in &r.departments {
        page.push_str(&format!("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>", h(&department_name(w, &d.department)), number(d.mailboxes), number(d.messages), number(d.stale), w.share(d.stale_share), number(d.sensitive_messages), number(d.deviations_open)));
    }
    page.push_str("</tbody></table>\n</section>\n");

    page.push_str(&format!(
        "<section id=\"mailboxes-section\"><h2>{}</h2>\n<table id=\"mailboxes\">{}",
        h(w.mailboxes),
        head(&[
            w.person,
            &department,
            w.messages,
            w.overdue,
            "%",
            w.oldest_overdue,
            w.sensitive,
            w.unreadable,
            w.last_scan
        ])
    ));
    for m in &r.mailboxes {
        page.push_str(&format!("<tr>{}<td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"d\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"d\">{} {}</td></tr>", person_cell(&m.owner, &m.address, &m.source), h(&m.department), number(m.messages), number(m.stale), w.share(m.stale_share), w.day(m.oldest_stale), number(m.sensitive_messages), number(m.unreadable), w.day(m.last_scan), h(&w.scan_status(&m.last_status))));
    }
    page.push_str(&format!("</tbody></table>\n<h2>{}</h2>\n", h(w.coverage)));
    if r.coverage.is_empty() {
        page.push_str(&format!("<p>{}</p>\n", h(w.all_covered)));
    } else {
        page.push_str("<ul id=\"coverage\">");
        for c in &r.coverage {
            page.push_str(&format!(
                "<li>{}: {}: {}</li>",
                h(&person_line(&c.owner, "", &c.source)),
                h(&w.problem(&c.problem)),
                h(&coverage_detail(w, c))
            ));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</section>\n");

    page.push_str(&format!(
        "<section id=\"risk\"><h2>{}</h2>\n<p>{}{}{}{}</p><table id=\"riskiest\">{}",
        h(w.riskiest),
        number(r.new_sensitive),
        w.within_before[0],
        number(r.old_sensitive),
        w.within_before[1],
        head(&[w.date, w.owner, w.folder, w.subject, w.why])
    ));
    for m in &r.riskiest {
        page.push_str(&format!(
            "<tr><td class=\"d\">{}</td><td>{}</td><td>{}</td><td class=\"s\">{}</td><td>{}</td></tr>",
            w.day(m.date),
            h(&m.owner),
            h(&m.folder),
            h(&m.subject),
            h(&w.why(m))
        ));
    }
    page.push_str(&format!(
        "</tbody></table>\n<h2>{}</h2>\n<p>{}</p>\n<table id=\"deviations\">{}",
        h(w.deviations),
        h(w.deviations_lead),
        head(&[
            "id",
            w.status,
            w.system,
            w.category,
            w.kinds,
            w.count,
            w.direction,
            w.external,
            w.mailbox,
            w.folder,
            w.date,
            w.subject
        ])
    ));
    out.write_all(page.as_bytes())?;
    let owners = owners(r);
    each_listed(r, deviations, &mut |d| {
        let (owner, address) = owners.get(d.source.as_str()).copied().unwrap_or_default();
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td class=\"d\">{}</td><td class=\"s\">{}</td></tr>",
            h(&d.id),
            h(w.status(d.status)),
            h(&d.system),
            h(&w.category(&d.category)),
            h(&kinds(w, &d.kinds)),
            number(d.count),
            w.direction(&d.direction),
            w.yes_no(d.external),
            person_cell(owner, address, &d.source),
            h(&d.folder),
            w.day(d.date),
            h(&d.subject)
        )
    })?;
    out.write_all(b"</tbody></table>\n</section>\n</body></html>\n")
}

/// One file of the report: its name, and how to write it to a writer.
pub type RenderFile<'a> = &'a dyn Fn(&mut dyn Write) -> io::Result<()>;

/// Every file the report is in `format` (one page, or one CSV file per
/// table), each given to `put` with its name and how to write it, in order:
/// the caller decides where each goes (a file written as the register is
/// read, standard output, or a buffer for a delivery).
pub fn render_files<E: From<io::Error>>(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    format: crate::report::Format,
    lang: Lang,
    put: &mut dyn FnMut(&str, RenderFile<'_>) -> Result<(), E>,
) -> Result<(), E> {
    use crate::report::Format;
    let page = |ext: &str| format!("compliance-{}.{ext}", r.as_of);
    match format {
        Format::Csv => {
            for (name, bytes) in render_csv(r)? {
                put(name, &|out: &mut dyn Write| out.write_all(&bytes))?;
            }
            put(DEVIATIONS_CSV, &|out: &mut dyn Write| {
                render_deviations_csv(r, deviations, out)
            })
        }
        Format::Html => put(&page("html"), &|out: &mut dyn Write| {
            render_html(r, deviations, lang, out)
        }),
        Format::Json | Format::Jsonl => put(&page("json"), &|out: &mut dyn Write| {
            render_json(r, deviations, out)
        }),
        Format::Text | Format::Markdown => put(&page("md"), &|out: &mut dyn Write| {
            render_markdown(r, deviations, lang, out)
        }),
    }
}
