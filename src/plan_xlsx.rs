//! The offboarding plan as a spreadsheet (`offboard --plan FILE.xlsx`):
//! what a manager would rather edit than CSV. Same columns as the CSV
//! plan; the `decision` column is a drop-down of the five decisions and
//! the only cell a manager can change; private rows are locked whole. The
//! sheet is protected without a password: the lock keeps honest edits in
//! the right cells (a sort cannot move UIDs between rows), while the row
//! keys, checked on reading, are what makes a plan unable to point at the
//! wrong message.
//!
//! Written with `rust_xlsxwriter`, read with `calamine` (which also reads
//! what other programs save), both into the CSV plan's types.

use crate::offboard::{Case, Decision, EditedRow, PLAN_HEADER, PlanRow, edited_rows, plan_cells};
use calamine::Reader;
use rust_xlsxwriter::{DataValidation, Format, ProtectionOptions, Workbook, XlsxError};
use std::path::Path;

/// The plan as `.xlsx` bytes.
pub fn write(
    case: &Case,
    rows: &[PlanRow],
    lang: crate::model::Lang,
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Plan")?;
    let bold = Format::new().set_bold();
    let editable = Format::new().set_unlocked();
    for (col, name) in PLAN_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, &bold)?;
    }
    let decision_col = column("decision");
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, cell) in plan_cells(case, r, lang).iter().enumerate() {
            let col = col as u16;
            if col == decision_col && r.decision != Decision::Private {
                sheet.write_string_with_format(row, col, cell, &editable)?;
            } else {
                // Every cell as text, UIDs included: a number column
                // invites arithmetic and reformatting.
                sheet.write_string(row, col, cell)?;
            }
        }
    }
    if !rows.is_empty() {
        let choices: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        let list = DataValidation::new()
            .allow_list_strings(&choices)?
            .set_error_title("mailhygiene")?
            .set_error_message("handover, keep, delete, private or review")?;
        sheet.add_data_validation(1, decision_col, rows.len() as u32, decision_col, &list)?;
    }
    sheet.set_column_width(column("message_id"), 30)?;
    sheet.set_column_width(column("folder"), 18)?;
    sheet.set_column_width(column("from"), 28)?;
    sheet.set_column_width(column("subject"), 40)?;
    sheet.set_column_width(column("why"), 40)?;
    sheet.set_column_width(column("row"), 30)?;
    sheet.set_freeze_panes(1, 0)?;
    sheet.protect_with_options(&ProtectionOptions {
        select_locked_cells: true,
        select_unlocked_cells: true,
        format_columns: true,
        ..ProtectionOptions::default()
    });
    book.save_to_buffer()
}

fn column(name: &str) -> u16 {
    PLAN_HEADER
        .iter()
        .position(|h| *h == name)
        .map_or(0, |p| p as u16)
}

/// A plan spreadsheet is the manager's file, not mail; still, one of more
/// than this is not a plan.
const MAX_BYTES: u64 = 64 << 20;

/// Reads an edited `.xlsx` plan (its first sheet) by column name, as the
/// CSV plan is read. Line numbers are the spreadsheet's row numbers.
pub fn read(path: &Path) -> Result<Vec<EditedRow>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the plan: {e}"))?
        .len();
    if size > MAX_BYTES {
        return Err(format!(
            "{size} bytes is more than a plan spreadsheet holds ({MAX_BYTES} at most)"
        ));
    }
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(path).map_err(|e| format!("not a readable .xlsx file: {e}"))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or("the spreadsheet has no sheet")?
        .map_err(|e| format!("cannot read the plan's sheet: {e}"))?;
    let first_row = range.start().map_or(0, |(r, _)| r) as u64;
    let first_col = range.start().map_or(0, |(_, c)| c) as usize;
    let text = |cell: &calamine::Data| match cell {
        calamine::Data::Empty => String::new(),
        // Whole numbers (a UID a spreadsheet turned into one) without `.0`.
        calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
            format!("{}", *f as i64)
        }
        other => other.to_string(),
    };
    let mut rows = range.rows();
    let pad = |cells: Vec<String>| {
        let mut v = vec![String::new(); first_col];
        v.extend(cells);
        v
    };
    let header = pad(rows
        .next()
        .ok_or("the plan's sheet is empty")?
        .iter()
        .map(text)
        .collect());
    let body: Vec<(u64, Vec<String>)> = rows
        .enumerate()
        .map(|(i, cells)| {
            (
                first_row + i as u64 + 2,
                pad(cells.iter().map(text).collect()),
            )
        })
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    edited_rows(&header, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offboard::row_ref;

    fn row(uid: u32, decision: Decision) -> PlanRow {
        PlanRow {
            message_id: format!("<{uid}@x>"),
            folder: "INBOX".into(),
            uid: Some(uid),
            key: format!("7:{uid}"),
            date: "2026-10-01".into(),
            from: "a@kunde.no".into(),
            subject: "=SUM(A1)".into(),
            decision,
            why: "recent business correspondence".into(),
        }
    }

    /// Written, read back: the same rows, keys and lines; a private row
    /// shows nothing but folder, UID, decision and key.
    #[test]
    fn a_spreadsheet_plan_reads_back_as_written() {
        let c = Case::for_tests("K-9");
        let rows = vec![row(3, Decision::Handover), row(4, Decision::Private)];
        let bytes = write(&c, &rows, crate::model::Lang::En).expect("writes");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("plan.xlsx");
        std::fs::write(&path, &bytes).expect("save");
        let back = read(&path).expect("reads");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].line, 2);
        assert_eq!(back[0].message_id, "<3@x>");
        assert_eq!(back[0].uid, Some(3));
        assert_eq!(back[0].decision, Decision::Handover);
        assert_eq!(
            back[0].row_ref.as_deref(),
            Some(row_ref(&c, "INBOX", "7:3", "<3@x>").as_str())
        );
        assert_eq!(back[1].message_id, "");
        assert_eq!(back[1].decision, Decision::Private);
        // The drop-down, the protection and the one unlocked cell style
        // are in the sheet's XML.
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").expect("sheet"),
            &mut sheet,
        )
        .expect("xml");
        assert!(sheet.contains("<sheetProtection"), "{sheet}");
        assert!(sheet.contains("<dataValidation "), "{sheet}");
        assert!(
            sheet.contains("handover,keep,delete,private,review"),
            "{sheet}"
        );
        // Not a spreadsheet at all: an error, not a panic.
        std::fs::write(&path, b"message_id,folder\n").expect("save");
        assert!(read(&path).is_err());
    }
}
