//! Tables read as tables, for the identifier detectors.
//!
//! Employee lists, payroll exports and Outlook tables put a header row over
//! columns of numbers. Read in plain reading order, the last header cell
//! ("Telefon") stands right before the first data row, and the detectors'
//! rule that the nearest keyword before a number is its label then calls the
//! first row's fødselsnummer a phone number. A header labels its own column,
//! not the cells that happen to follow it. So every table (rows of
//! tab-separated cells, as the HTML, spreadsheet and CSV readers write them)
//! is rewritten for the detectors as one paragraph per cell holding a
//! number: the column's header, the row's own label (its first cell, when
//! that is words), then the cell. A blank line between paragraphs keeps any
//! label from reaching the next cell.
//!
//! Only the identifier detectors read this form; the special-category
//! phrases read the text as written. Pure: text in, text out.

use std::borrow::Cow;

/// A cell this long is prose, not a table's value: such a "table" is a
/// layout and is left as written.
const MAX_CELL_CHARS: usize = 400;

/// Text whose tab-separated blocks (two or more rows, some with two or more
/// cells) are rewritten as one labelled paragraph per number-bearing cell;
/// everything else as it was. Text without a tab is returned as it is.
pub fn as_records(text: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\t', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].contains('\t') {
            out.push_str(lines[i]);
            if i + 1 < lines.len() {
                out.push('\n');
            }
            i += 1;
            continue;
        }
        // A block: tabbed lines, with empty rows inside it (a sheet's gaps).
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < lines.len() {
            let line = lines[j].trim_end_matches('\r');
            if line.contains('\t') {
                end = j + 1;
            } else if !line.trim().is_empty() {
                break;
            }
            j += 1;
        }
        let rows: Vec<Vec<&str>> = lines[start..end]
            .iter()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .map(cells)
            .collect();
        if is_table(&rows) {
            render(&rows, &mut out);
        } else {
            for line in &lines[start..end] {
                out.push_str(line);
                out.push('\n');
            }
        }
        i = end;
    }
    Cow::Owned(out)
}

/// A row's cells, trimmed, without the empty ones a trailing tab leaves.
fn cells(line: &str) -> Vec<&str> {
    let mut cells: Vec<&str> = line.split('\t').map(str::trim).collect();
    while cells.last().is_some_and(|c| c.is_empty()) {
        cells.pop();
    }
    cells
}

fn is_table(rows: &[Vec<&str>]) -> bool {
    rows.len() >= 2
        && rows
            .iter()
            .filter(|r| r.iter().filter(|c| !c.is_empty()).count() >= 2)
            .count()
            >= 2
        && rows
            .iter()
            .flatten()
            .all(|c| c.chars().count() <= MAX_CELL_CHARS)
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Words, not a value: a header cell or a row label.
fn is_words(s: &str) -> bool {
    !s.is_empty() && s.bytes().filter(u8::is_ascii_digit).count() < 3
}

fn render(rows: &[Vec<&str>], out: &mut String) {
    // The first row heads the columns when it is all words; otherwise the
    // table has no header row (a key-value list, or data from the start).
    let header = rows[0].iter().all(|c| c.is_empty() || is_words(c));
    let (head, body): (&[&str], &[Vec<&str>]) = if header {
        (&rows[0], &rows[1..])
    } else {
        (&[], rows)
    };
    for row in body {
        let row_label = row.first().copied().filter(|c| is_words(c));
        for (k, cell) in row.iter().enumerate() {
            if !has_digit(cell) {
                continue;
            }
            if let Some(h) = head.get(k).filter(|h| !h.is_empty()) {
                out.push_str(h);
                out.push_str(": ");
            }
            if k > 0
                && let Some(label) = row_label
            {
                out.push_str(label);
                out.push_str(": ");
            }
            out.push_str(cell);
            out.push_str("\n\n");
        }
    }
}

/// A CSV file as tab-separated rows: the delimiter (`;`, `,` or tab) is the
/// one the first line uses most, double quotes group a cell (with `""` for
/// a quote), and a line break inside quotes stays in its cell as a space.
pub fn csv_to_tabbed(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let delimiter = [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b';');
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            '\t' => out.push(' '),
            c if c == char::from(delimiter) && !quoted => out.push('\t'),
            '\r' | '\n' if quoted => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_labels_its_own_column() {
        let sheet = "Navn\tFødselsnummer\tAvdeling\tTelefon\t\n\
                     Ola Nordmann\t15076500565\tSalg\t98765432\t\n\
                     Kari Nordmann\t01019012345\tLager\t91234567\t\n";
        let text = as_records(sheet);
        assert!(
            text.contains("Fødselsnummer: Ola Nordmann: 15076500565\n\n"),
            "{text}"
        );
        assert!(
            text.contains("Telefon: Ola Nordmann: 98765432\n\n"),
            "{text}"
        );
        // Nothing of one column stands before another's value on its line.
        for line in text.lines().filter(|l| l.contains("15076500565")) {
            assert!(!line.contains("Telefon"), "{line}");
        }
    }

    #[test]
    fn key_value_lists_keep_the_label_beside_the_value() {
        let list = "Fnr:\t15076500565\nTelefon:\t98765432\nNavn:\tOla\n";
        let text = as_records(list);
        assert!(text.contains("Fnr:: 15076500565\n\n"), "{text}");
        assert!(text.contains("Telefon:: 98765432\n\n"), "{text}");
    }

    #[test]
    fn text_without_a_table_is_left_alone() {
        assert!(matches!(as_records("Fnr 15076500565"), Cow::Borrowed(_)));
        // One tabbed line, or indented prose, is not a table.
        for text in [
            "fnr\t15076500565\nHilsen Kari",
            "\tinnrykk\n\tmer innrykk\n",
        ] {
            assert_eq!(as_records(text), text.to_string());
        }
        let prose = format!("a\t{}\nb\tc\n", "ord ".repeat(200));
        assert_eq!(as_records(&prose), prose);
    }

    #[test]
    fn gaps_between_rows_stay_in_the_table() {
        let sheet = "Navn\tFnr\t\n\nOla\t15076500565\t\n\n\nKari\t01019012345\t\n";
        let text = as_records(sheet);
        assert!(text.contains("Fnr: Ola: 15076500565"), "{text}");
        assert!(text.contains("Fnr: Kari: 01019012345"), "{text}");
    }

    #[test]
    fn csv_cells_split_by_the_files_own_delimiter() {
        assert_eq!(
            csv_to_tabbed("navn;fnr\n\"Nordmann; Ola\";15076500565\n"),
            "navn\tfnr\nNordmann; Ola\t15076500565\n"
        );
        assert_eq!(
            csv_to_tabbed("navn,fnr\n\"Ola \"\"O\"\"\",\"150765\n00565\"\n"),
            "navn\tfnr\nOla \"O\"\t150765 00565\n"
        );
    }
}
