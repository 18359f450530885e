//! The plan as a file a manager edits: CSV written with a row key per row,
//! read back from whatever a spreadsheet saved (`,`, `;` or tab, a BOM),
//! and the rows of a table by column name (shared with the `.xlsx` plan).

use super::*;

/// The plan's columns: the contract's eight, then `row`, the key that
/// binds a row to the message its case recorded.
pub const PLAN_HEADER: [&str; 9] = [
    "message_id",
    "folder",
    "uid",
    "date",
    "from",
    "subject",
    "decision",
    "why",
    "row",
];

/// The opaque key of one plan row: `CASE/DIGEST`, where the digest covers
/// the case (its id and when it was opened), the message's folder, its
/// inventory key and its Message-ID. A row whose UID was changed, a row of
/// another case, a row of the same case reopened later: none match. It
/// shows nothing of a private row (whose other cells are blank) that the
/// case does not already know.
pub fn row_ref(case: &Case, folder: &str, key: &str, message_id: &str) -> String {
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for part in [
        "mailhygiene plan row",
        &case.id,
        &case.opened_at,
        folder,
        key,
        message_id,
    ] {
        sha2::Digest::update(&mut h, part.as_bytes());
        sha2::Digest::update(&mut h, [0u8]);
    }
    let digest = sha2::Digest::finalize(h);
    format!("{}/{}", case.id, hex::encode(&digest[..10]))
}

/// The cells of one row as written, in [`PLAN_HEADER`]'s order. A private
/// row keeps only its folder, UID, decision and key: no Message-ID, date,
/// sender or subject (the report promises a count per folder only).
/// `why` is said in `lang` ([`super::why_in`]).
pub fn plan_cells(case: &Case, r: &PlanRow, lang: crate::model::Lang) -> [String; 9] {
    let private = r.decision == Decision::Private;
    let blank_if_private = |s: &str| {
        if private {
            String::new()
        } else {
            spreadsheet_safe(s)
        }
    };
    [
        blank_if_private(&r.message_id),
        spreadsheet_safe(&r.folder),
        r.uid.map(|u| u.to_string()).unwrap_or_default(),
        if private {
            String::new()
        } else {
            r.date.clone()
        },
        blank_if_private(&r.from),
        blank_if_private(&r.subject),
        r.decision.as_str().to_string(),
        if private {
            super::why_in("private", lang)
        } else {
            spreadsheet_safe(&super::why_in(&r.why, lang))
        },
        row_ref(case, &r.folder, &r.key, &r.message_id),
    ]
}

/// Writes the plan as CSV with [`PLAN_HEADER`], a row at a time.
pub fn write_plan(
    case: &Case,
    rows: impl IntoIterator<Item = io::Result<PlanRow>>,
    lang: crate::model::Lang,
    out: impl Write,
) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(PLAN_HEADER)?;
    for r in rows {
        w.write_record(plan_cells(case, &r?, lang))?;
    }
    w.flush()
}

/// One row of an edited plan as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct EditedRow {
    /// 2 for the first row after the header: what a spreadsheet shows.
    pub line: u64,
    pub message_id: String,
    pub folder: String,
    pub uid: Option<u32>,
    pub decision: Decision,
    /// The row's key ([`row_ref`]), when the plan has the `row` column.
    pub row_ref: Option<String>,
}

/// The separator a spreadsheet saved the plan with: Excel with Norwegian
/// regional settings writes `;`, others `,` or tab. The header decides:
/// the separator that splits it into a `message_id` column.
fn plan_separator(header_line: &str) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .find(|&sep| {
            header_line
                .split(sep as char)
                .any(|h| h.trim().trim_matches('"') == "message_id")
        })
        .unwrap_or(b',')
}

/// Reads an edited plan: CSV separated by `,`, `;` or tab, with or without
/// a byte-order mark. Columns are found by their header names (a
/// spreadsheet may reorder or add columns); a bad row is an error naming
/// its line, so nothing is copied on a misread plan.
pub fn read_plan(mut input: impl io::Read) -> Result<Vec<EditedRow>, String> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the plan: {e}"))?;
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let separator = plan_separator(&String::from_utf8_lossy(first_line));
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(separator)
        .from_reader(text);
    let header = r
        .headers()
        .map_err(|e| format!("cannot read the plan's header: {e}"))?
        .clone();
    let cells: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (i, record) in r.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| format!("plan line {line}: {e}"))?;
        let values: Vec<String> = record.iter().map(str::to_string).collect();
        if values.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        rows.push((line, values));
    }
    edited_rows(&cells, rows)
}

/// Plan rows from a table of cells, by column name: shared by the CSV and
/// the spreadsheet reader.
pub fn edited_rows(
    header: &[String],
    rows: Vec<(u64, Vec<String>)>,
) -> Result<Vec<EditedRow>, String> {
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| format!("the plan has no `{name}` column"))
    };
    let (mid, folder, uid, decision) = (
        col("message_id")?,
        col("folder")?,
        col("uid")?,
        col("decision")?,
    );
    let row_col = col("row").ok();
    let unquote = |s: &str| s.strip_prefix('\'').unwrap_or(s).to_string();
    let mut out = Vec::new();
    for (line, record) in rows {
        let get = |c: usize| record.get(c).map_or("", |s| s.trim());
        let d = get(decision);
        let decision = Decision::parse(d).ok_or_else(|| {
            format!(
                "plan line {line}: `{}` is not a decision (handover, keep, delete, private, review)",
                one_line(d)
            )
        })?;
        let uid = match get(uid) {
            "" => None,
            u => Some(
                // A spreadsheet may store a UID as a number: `12.0`.
                u.strip_suffix(".0")
                    .unwrap_or(u)
                    .parse()
                    .map_err(|_| format!("plan line {line}: `{}` is not a UID", one_line(u)))?,
            ),
        };
        out.push(EditedRow {
            line,
            message_id: unquote(get(mid)),
            folder: unquote(get(folder)),
            uid,
            decision,
            row_ref: row_col
                .map(|c| get(c).to_string())
                .filter(|s| !s.is_empty()),
        });
    }
    Ok(out)
}
