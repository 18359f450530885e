//! The compliance report's printers: JSON (the schema's), Markdown, CSV
//! tables and a self-contained HTML page, each to any `io::Write`.

use super::*;

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

/// A deviation's status as a person reads it.
fn status_words(status: DeviationStatus) -> &'static str {
    match status {
        DeviationStatus::InDeletedItems => "moved to Deleted Items",
        other => other.as_str(),
    }
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// Markdown, for mail or a wiki.
pub fn render_markdown(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "# Compliance report {}", r.as_of)?;
    writeln!(out)?;
    if let Some(d) = &r.department {
        writeln!(out, "Department: {}", md(d))?;
        writeln!(out)?;
    }
    let t = &r.totals;
    writeln!(
        out,
        "Period {} to {}. {} mailboxes, {} messages; {} overdue for cleanup ({} %); {} with sensitive personal data ({} received in the period, {} before); deviations: {} open ({} of them moved to Deleted Items, still in the mailbox), {} handled.",
        r.period_start,
        r.as_of,
        t.mailboxes,
        t.messages,
        t.stale,
        t.stale_share,
        t.sensitive_messages,
        r.new_sensitive,
        r.old_sensitive,
        t.deviations_open,
        t.deviations_in_deleted_items,
        t.deviations_handled
    )?;
    writeln!(out)?;
    for n in &r.notes {
        writeln!(out, "> {}", md(n))?;
    }
    writeln!(out)?;
    writeln!(out, "## Sensitive personal data by category")?;
    writeln!(out)?;
    writeln!(out, "| category | messages | distinct values |")?;
    writeln!(out, "|---|---:|---:|")?;
    for (c, n) in &t.by_category {
        writeln!(out, "| {} | {} | {} |", md(c), n.messages, n.values)?;
    }
    writeln!(out)?;
    writeln!(out, "## Departments")?;
    writeln!(out)?;
    writeln!(
        out,
        "| department | mailboxes | messages | overdue | % | sensitive | open deviations |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    for d in &r.departments {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&d.department),
            d.mailboxes,
            d.messages,
            d.stale,
            d.stale_share,
            d.sensitive_messages,
            d.deviations_open
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Mailboxes")?;
    writeln!(out)?;
    writeln!(
        out,
        "| mailbox | owner | department | messages | overdue | % | oldest overdue | sensitive | unreadable | last scan |"
    )?;
    writeln!(out, "|---|---|---|---:|---:|---:|---|---:|---:|---|")?;
    for m in &r.mailboxes {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} {} |",
            md(&m.source),
            md(&m.owner),
            md(&m.department),
            m.messages,
            m.stale,
            m.stale_share,
            date(m.oldest_stale),
            m.sensitive_messages,
            m.unreadable,
            date(m.last_scan),
            md(&m.last_status)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Coverage")?;
    writeln!(out)?;
    if r.coverage.is_empty() {
        writeln!(
            out,
            "Every mailbox was scanned completely within the period."
        )?;
    }
    for c in &r.coverage {
        writeln!(
            out,
            "- {} ({}): {}: {}",
            md(&c.source),
            md(&c.owner),
            c.problem,
            md(&c.detail)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Trend")?;
    writeln!(out)?;
    writeln!(
        out,
        "| month | mailboxes | messages | overdue | sensitive |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for p in &r.trend {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.month, p.mailboxes, p.messages, p.stale, p.sensitive_messages
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Riskiest messages")?;
    writeln!(out)?;
    for m in &r.riskiest {
        writeln!(
            out,
            "- {} {} {} \"{}\": {}",
            date(m.date),
            md(&m.owner),
            md(&m.folder),
            md(&m.subject),
            md(&m.why)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "## Deviation drafts")?;
    writeln!(out)?;
    writeln!(
        out,
        "| id | status | system | category | kinds | count | direction | external | mailbox | folder | date |"
    )?;
    writeln!(out, "|---|---|---|---|---|---:|---|---|---|---|---|")?;
    each_listed(r, deviations, &mut |d| {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.id,
            d.status.as_str(),
            md(&d.system),
            md(&d.category),
            md(&d.kinds.join(", ")),
            d.count,
            d.direction,
            if d.external { "yes" } else { "no" },
            md(&d.source),
            md(&d.folder),
            date(d.date)
        )
    })
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
fn bars(title: &str, points: &[(String, u64)], color: &str) -> String {
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
            "<text x=\"0\" y=\"{}\" class=\"l\">{}</text><rect x=\"240\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\" class=\"v\">{v}</text>",
            y + 14,
            h(label),
            250 + w,
            y + 14
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// One self-contained HTML page: inline CSS and SVG, no script, no
/// external asset, readable when printed to PDF.
pub fn render_html(
    r: &ComplianceReport,
    deviations: &dyn DeviationStream,
    out: &mut dyn Write,
) -> io::Result<()> {
    let t = &r.totals;
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Compliance report ");
    page.push_str(&r.as_of.to_string());
    page.push_str("</title><style>
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1a1a1a;max-width:1100px}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left}
td.n{text-align:right}th{background:#f3f3f3}.kpi{display:flex;gap:1em;flex-wrap:wrap}
.kpi div{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:9em}.kpi b{display:block;font-size:1.5em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
svg.chart text{font-size:12px;font-family:inherit}svg.chart .t{font-weight:bold}
@media print{body{margin:0}h2{page-break-after:avoid}table{page-break-inside:auto}tr{page-break-inside:avoid}}
</style></head><body>\n");
    page.push_str(&format!("<h1>Compliance report {}</h1>\n", r.as_of));
    if let Some(d) = &r.department {
        page.push_str(&format!("<p>Department: {}</p>\n", h(d)));
    }
    page.push_str(&format!(
        "<p>Period {} to {}.</p>\n",
        r.period_start, r.as_of
    ));
    page.push_str("<div class=\"kpi\">");
    for (id, label, value) in [
        ("mailboxes", "mailboxes", t.mailboxes.to_string()),
        ("messages", "messages", t.messages.to_string()),
        ("stale", "overdue for cleanup", t.stale.to_string()),
        ("stale-share", "% overdue", t.stale_share.to_string()),
        (
            "sensitive",
            "messages with sensitive data",
            t.sensitive_messages.to_string(),
        ),
        (
            "deviations-open",
            "open deviations",
            t.deviations_open.to_string(),
        ),
    ] {
        page.push_str(&format!("<div id=\"kpi-{id}\"><b>{value}</b>{label}</div>"));
    }
    page.push_str("</div>\n");
    for n in &r.notes {
        page.push_str(&format!("<p class=\"note\">{}</p>\n", h(n)));
    }
    page.push_str("<h2>Trend</h2>\n");
    let stale: Vec<(String, u64)> = r.trend.iter().map(|p| (p.month.clone(), p.stale)).collect();
    let sens: Vec<(String, u64)> = r
        .trend
        .iter()
        .map(|p| (p.month.clone(), p.sensitive_messages))
        .collect();
    page.push_str(&bars("Overdue for cleanup, by month", &stale, "#c0504d"));
    page.push_str(&bars(
        "Messages with sensitive data, by month",
        &sens,
        "#4f81bd",
    ));
    page.push_str("<h2>Sensitive personal data by category</h2>\n");
    let cats: Vec<(String, u64)> = t
        .by_category
        .iter()
        .map(|(c, n)| (c.clone(), n.messages))
        .collect();
    page.push_str(&bars("Messages by category", &cats, "#9bbb59"));
    page.push_str("<table><tr><th>category</th><th>messages</th><th>distinct values</th></tr>");
    for (c, n) in &t.by_category {
        page.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(c),
            n.messages,
            n.values
        ));
    }
    page.push_str("</table>\n<h2>Departments</h2>\n<table id=\"departments\"><tr><th>department</th><th>mailboxes</th><th>messages</th><th>overdue</th><th>%</th><th>sensitive</th><th>open deviations</th></tr>");
    for d in &r.departments {
        page.push_str(&format!("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>", h(&d.department), d.mailboxes, d.messages, d.stale, d.stale_share, d.sensitive_messages, d.deviations_open));
    }
    page.push_str("</table>\n<h2>Mailboxes</h2>\n<table id=\"mailboxes\"><tr><th>mailbox</th><th>owner</th><th>department</th><th>messages</th><th>overdue</th><th>%</th><th>oldest overdue</th><th>sensitive</th><th>unreadable</th><th>last scan</th></tr>");
    for m in &r.mailboxes {
        page.push_str(&format!("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{} {}</td></tr>", h(&m.source), h(&m.owner), h(&m.department), m.messages, m.stale, m.stale_share, date(m.oldest_stale), m.sensitive_messages, m.unreadable, date(m.last_scan), h(&m.last_status)));
    }
    page.push_str("</table>\n<h2>Coverage</h2>\n");
    if r.coverage.is_empty() {
        page.push_str("<p>Every mailbox was scanned completely within the period.</p>\n");
    } else {
        page.push_str("<ul>");
        for c in &r.coverage {
            page.push_str(&format!(
                "<li>{} ({}): {}: {}</li>",
                h(&c.source),
                h(&c.owner),
                h(&c.problem),
                h(&c.detail)
            ));
        }
        page.push_str("</ul>\n");
    }
    page.push_str(&format!("<h2>Riskiest messages</h2>\n<p>{} received within the period, {} before it.</p><table><tr><th>date</th><th>owner</th><th>folder</th><th>subject</th><th>why</th></tr>", r.new_sensitive, r.old_sensitive));
    for m in &r.riskiest {
        page.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            date(m.date),
            h(&m.owner),
            h(&m.folder),
            h(&m.subject),
            h(&m.why)
        ));
    }
    page.push_str("</table>\n<h2>Deviation drafts</h2>\n<table id=\"deviations\"><tr><th>id</th><th>status</th><th>system</th><th>category</th><th>kinds</th><th>count</th><th>direction</th><th>external</th><th>mailbox</th><th>date</th></tr>");
    out.write_all(page.as_bytes())?;
    each_listed(r, deviations, &mut |d| {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.id,
            h(status_words(d.status)),
            h(&d.system),
            h(&d.category),
            h(&d.kinds.join(", ")),
            d.count,
            d.direction,
            if d.external { "yes" } else { "no" },
            h(&d.source),
            date(d.date)
        )
    })?;
    out.write_all(b"</table>\n</body></html>\n")
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
            render_html(r, deviations, out)
        }),
        Format::Json | Format::Jsonl => put(&page("json"), &|out: &mut dyn Write| {
            render_json(r, deviations, out)
        }),
        Format::Text | Format::Markdown => put(&page("md"), &|out: &mut dyn Write| {
            render_markdown(r, deviations, out)
        }),
    }
}
