//! Tables read as tables, for the identifier detectors.
//!
//! Employee lists, payroll exports and Outlook tables put a header row over
//! columns of numbers. Read in plain reading order, the last header cell
//! ("Telefon") stands right before the first data row, and the detectors'
//! rule that the nearest keyword before a number is its label then calls the
//! first row's fødselsnummer a phone number. A header labels its own column,
//! not the cells that happen to follow it. So every table is rewritten for
//! the detectors as one paragraph per cell holding a number: the column's
//! header, the row's own label (its first cell, when that is words), then
//! the cell. A blank line between paragraphs keeps any label from reaching
//! the next cell.
//!
//! Tables come in the forms the readers and people write: tab-separated
//! cells (the HTML, spreadsheet and CSV readers; a cell per tab), columns
//! aligned with tabs or spaces in plain-text mail (a cell is where its
//! column is, however many tabs or spaces it took to get there), and cells
//! between `;` or `|`.
//!
//! Only the identifier detectors read this form; the special-category
//! phrases read the text as written. Pure: text in, text out.

use std::borrow::Cow;

/// A cell this long is prose, not a table's value: such a "table" is a
/// layout and is left as written.
const MAX_CELL_CHARS: usize = 400;
/// Columns aligned with spaces hold short cells; longer ones are prose
/// with double spaces after its full stops.
const MAX_ALIGNED_CELL_CHARS: usize = 60;
/// A column's name is a few words ("Fødselsnummer", "Kontonr. for lønn");
/// a longer one in the top line of an aligned block is a sentence.
const MAX_HEADER_CHARS: usize = 30;
const MAX_HEADER_WORDS: usize = 4;
/// Where a tab takes the text to (as a terminal or a mail client shows it).
const TAB_STOP: usize = 8;

/// How the rows of one block split into cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// One cell per tab.
    Tab,
    /// Cells aligned in columns with tabs or runs of two spaces or more.
    Aligned,
    Semicolon,
    Pipe,
}

impl Split {
    /// How `line` would split, if it looks like a row at all.
    fn of(line: &str) -> Option<Split> {
        if line.trim().is_empty() {
            // Blank, whatever blanks (a signature's trailing tabs).
            None
        } else if line.contains('\t') {
            Some(Split::Tab)
        } else if line.matches('|').count() >= 2 {
            Some(Split::Pipe)
        } else if line.contains(';') {
            Some(Split::Semicolon)
        } else if line.trim().contains("  ") {
            Some(Split::Aligned)
        } else {
            None
        }
    }
}

/// One cell: its text (trimmed) and the columns it spans on screen.
#[derive(Debug, Clone, Copy)]
struct Cell<'t> {
    text: &'t str,
    from: usize,
    to: usize,
}

/// The cells of `line` split as `split` says; aligned cells with their
/// screen columns.
fn split_cells(line: &str, split: Split) -> Vec<Cell<'_>> {
    // Delimited cells are matched by index: no screen columns to count
    // (a sheet's rows are most of the tables mail carries).
    let delimiter = match split {
        Split::Tab => '\t',
        Split::Semicolon => ';',
        Split::Pipe => '|',
        Split::Aligned => return aligned_cells(line),
    };
    let mut cells: Vec<Cell<'_>> = line
        .split(delimiter)
        .map(|text| Cell {
            text: text.trim(),
            from: 0,
            to: 0,
        })
        .collect();
    if split == Split::Pipe && cells.first().is_some_and(|c| c.text.is_empty()) {
        // "| a | b |": the outer bars open and close the row.
        cells.remove(0);
    }
    while cells.last().is_some_and(|c| c.text.is_empty()) {
        cells.pop();
    }
    cells
}

/// The cells of a row aligned with tabs (to stops of [`TAB_STOP`]) or runs
/// of two blanks or more, with the screen columns each spans.
fn aligned_cells(line: &str) -> Vec<Cell<'_>> {
    // The cell from `start` (byte, column) to the last non-blank `end`.
    fn cell(
        line: &str,
        start: Option<(usize, usize)>,
        end: (usize, usize),
        column: usize,
    ) -> Cell<'_> {
        match start {
            Some((b, c)) if end.0 > b => Cell {
                text: line[b..end.0].trim(),
                from: c,
                to: end.1,
            },
            _ => Cell {
                text: "",
                from: column,
                to: column,
            },
        }
    }
    let mut cells = Vec::new();
    let mut column = 0;
    let mut cell_start: Option<(usize, usize)> = None; // (byte, column)
    let mut last_end = (0, 0); // byte and column after the last non-blank
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary =
            c == '\t' || (c == ' ' && chars.peek().is_some_and(|&(_, n)| n == ' ' || n == '\t'));
        if boundary {
            cells.push(cell(line, cell_start.take(), last_end, column));
            // The separator is the whole run of blanks.
            let mut width = if c == '\t' {
                TAB_STOP - column % TAB_STOP
            } else {
                1
            };
            while let Some(&(_, n)) = chars.peek().filter(|&&(_, n)| n == ' ' || n == '\t') {
                width += if n == '\t' {
                    TAB_STOP - (column + width) % TAB_STOP
                } else {
                    1
                };
                chars.next();
            }
            column += width;
            continue;
        }
        if !c.is_whitespace() {
            if cell_start.is_none() {
                cell_start = Some((i, column));
            }
            last_end = (i + c.len_utf8(), column + 1);
        }
        column += 1;
    }
    cells.push(cell(line, cell_start, last_end, column));
    if cells.first().is_some_and(|c| c.text.is_empty()) {
        cells.remove(0); // indentation
    }
    while cells.last().is_some_and(|c| c.text.is_empty()) {
        cells.pop();
    }
    cells
}

/// A Markdown table's rule under its header ("|---|:--:|").
fn is_rule(cells: &[Cell<'_>]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            !c.text.is_empty() && c.text.chars().all(|ch| matches!(ch, '-' | ':' | '=' | '+'))
        })
}

/// Text whose tables (two or more rows, some with two or more cells) are
/// rewritten as one labelled paragraph per number-bearing cell; everything
/// else as it was. Text with no table is returned as it is.
pub fn as_records(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if memchr::memchr3(b'\t', b';', b'|', bytes).is_none()
        && memchr::memmem::find(bytes, b"  ").is_none()
    {
        return Cow::Borrowed(text);
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Option<String> = None;
    // Lines copied as they were, up to here (exclusive), when out is Some.
    let mut copied = 0;
    let mut i = 0;
    while i < lines.len() {
        let Some(split) = Split::of(lines[i].trim_end_matches('\r')) else {
            i += 1;
            continue;
        };
        // A block: lines that split the same way; a tab table may have
        // empty rows inside it (a sheet's gaps).
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < lines.len() {
            let line = lines[j].trim_end_matches('\r');
            if Split::of(line) == Some(split)
                || (split == Split::Aligned && Split::of(line) == Some(Split::Tab))
                || (split == Split::Tab && Split::of(line) == Some(Split::Aligned))
            {
                end = j + 1;
            } else if !(split == Split::Tab && line.trim().is_empty()) {
                break;
            } else {
                // Blank lines stay inside a sheet only when a tab row
                // follows them: a tab-indented paragraph above a blank line
                // and a table aligned with spaces are two blocks (joined,
                // the paragraph's long lines made neither a table).
                let next = lines[j..]
                    .iter()
                    .map(|l| l.trim_end_matches('\r'))
                    .find(|l| !l.trim().is_empty());
                if next.and_then(Split::of) != Some(Split::Tab) {
                    break;
                }
            }
            j += 1;
        }
        let block: Vec<&str> = lines[start..end]
            .iter()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if let Some(records) = table(&block, split) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len() + text.len() / 2));
            for line in &lines[copied..start] {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str(&records);
            copied = end;
        }
        i = end.max(i + 1);
    }
    let Some(mut out) = out else {
        return Cow::Borrowed(text);
    };
    for (k, line) in lines[copied..].iter().enumerate() {
        out.push_str(line);
        if copied + k + 1 < lines.len() {
            out.push('\n');
        }
    }
    Cow::Owned(out)
}

/// The block's records, when it is a table.
fn table(block: &[&str], split: Split) -> Option<String> {
    // One line is no table (most lines with two spaces in them are prose).
    if block.len() < 2 {
        return None;
    }
    // A tab block whose rows have as many cells as its first is a sheet
    // (one cell per tab, empty cells kept); otherwise its tabs align
    // columns on screen, as spaces do.
    let split = match split {
        Split::Tab => {
            let tabs = |l: &str| l.trim_end_matches('\t').matches('\t').count();
            let first = tabs(block.first()?);
            if first > 0 && block.iter().all(|l| tabs(l) == first) {
                Split::Tab
            } else {
                Split::Aligned
            }
        }
        other => other,
    };
    let mut rows: Vec<Vec<Cell<'_>>> = block.iter().map(|l| split_cells(l, split)).collect();
    if split == Split::Pipe {
        rows.retain(|r| !is_rule(r));
    }
    let limit = if split == Split::Aligned {
        MAX_ALIGNED_CELL_CHARS
    } else {
        MAX_CELL_CHARS
    };
    let is_table = rows.len() >= 2
        && rows
            .iter()
            .filter(|r| r.iter().filter(|c| !c.text.is_empty()).count() >= 2)
            .count()
            >= 2
        && rows
            .iter()
            .flatten()
            .all(|c| c.text.chars().count() <= limit);
    if !is_table {
        return None;
    }
    // The first row heads the columns when it is all words; otherwise the
    // table has no header row (a key-value list, or data from the start).
    let header = rows[0]
        .iter()
        .all(|c| c.text.is_empty() || is_words(c.text));
    let (head, body): (&[Cell<'_>], &[Vec<Cell<'_>>]) = if header {
        (&rows[0], &rows[1..])
    } else {
        (&[], &rows[..])
    };
    if split == Split::Aligned {
        // Columns of spaces are a table only under a header they line up
        // with: most cells after the first start or end where a header
        // cell does. Prose with double spaces does not.
        let near = |a: usize, b: usize| a.abs_diff(b) <= 2;
        let cells: Vec<&Cell<'_>> = body.iter().flat_map(|r| r.iter().skip(1)).collect();
        let aligned = cells
            .iter()
            .filter(|c| {
                head.iter()
                    .any(|h| near(c.from, h.from) || near(c.to, h.to))
            })
            .count();
        let names = head.iter().all(|h| {
            h.text.chars().count() <= MAX_HEADER_CHARS
                && h.text.split_whitespace().count() <= MAX_HEADER_WORDS
        });
        if head.len() < 2 || !names || cells.is_empty() || aligned * 2 < cells.len() {
            return None;
        }
    }
    let mut out = String::new();
    for row in body {
        let row_label = row.first().map(|c| c.text).filter(|c| is_words(c));
        for (k, cell) in row.iter().enumerate() {
            if !has_digit(cell.text) {
                continue;
            }
            let column = if split == Split::Aligned {
                column_of(head, cell)
            } else {
                head.get(k)
            };
            if let Some(h) = column.filter(|h| !h.text.is_empty()) {
                out.push_str(h.text);
                out.push_str(": ");
            }
            if k > 0
                && let Some(label) = row_label
            {
                out.push_str(label);
                out.push_str(": ");
            }
            out.push_str(cell.text);
            out.push_str("\n\n");
        }
    }
    Some(out)
}

/// The header cell above an aligned cell: the one it overlaps most on
/// screen, else the last one starting before it.
fn column_of<'h, 't>(head: &'h [Cell<'t>], cell: &Cell<'_>) -> Option<&'h Cell<'t>> {
    let overlap = |h: &Cell<'_>| h.to.min(cell.to).saturating_sub(h.from.max(cell.from));
    match head
        .iter()
        .max_by_key(|h| (overlap(h), std::cmp::Reverse(h.from)))
    {
        Some(h) if overlap(h) > 0 => Some(h),
        _ => head.iter().rev().find(|h| h.from <= cell.from),
    }
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Words, not a value: a header cell or a row label.
fn is_words(s: &str) -> bool {
    !s.is_empty() && s.bytes().filter(u8::is_ascii_digit).count() < 3
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

    /// Plain-text tables in mail, each way people make columns: a header
    /// labels its own column only (issue 27).
    #[test]
    fn plain_text_columns_are_read_by_their_headers() {
        let tables = [
            // Spaces.
            "Navn             Telefon      Merknad\n\
             Kari Nordmann    91234567     15076500565\n\
             Ola Nordmann     92345678     01019012345\n",
            // Tabs to tab stops: a row's tab count is not its cell index.
            "Navn\t\tTelefon\t\tMerknad\nKari Nordmann\t91234567\t15076500565\n\
             Ola Nordmann\t92345678\t01019012345\n",
            // Semicolons.
            "Navn;Telefon;Merknad\nKari Nordmann;91234567;15076500565\nOla Nordmann;92345678;01019012345\n",
            // Bars, with a Markdown rule under the header.
            "| Navn | Telefon | Merknad |\n|---|---|---|\n| Kari Nordmann | 91234567 | 15076500565 |\n\
             | Ola Nordmann | 92345678 | 01019012345 |\n",
        ];
        for table in tables {
            let text = as_records(table);
            assert!(
                text.contains("Merknad: Kari Nordmann: 15076500565\n\n"),
                "{table}\n=> {text}"
            );
            assert!(
                text.contains("Telefon: Ola Nordmann: 92345678\n\n"),
                "{table}\n=> {text}"
            );
            for line in text.lines().filter(|l| l.contains("15076500565")) {
                assert!(!line.contains("Telefon"), "{line}");
            }
        }
    }

    #[test]
    fn right_aligned_values_find_their_column() {
        let table = "Navn              Kontonummer   Beløp\n\
                     Kari Nordmann     15076500565   1 200\n\
                     Ola             1234.56.78903     900\n";
        let text = as_records(table);
        assert!(
            text.contains("Kontonummer: Kari Nordmann: 15076500565"),
            "{text}"
        );
        assert!(text.contains("Kontonummer: Ola: 1234.56.78903"), "{text}");
        assert!(text.contains("Beløp: Ola: 900"), "{text}");
    }

    #[test]
    fn blanks_with_tabs_above_a_table_do_not_hide_it() {
        // A mail client's signature left a line of spaces and tabs.
        let text = " \t\t \t   \t\t  \n\nNavn             Kontonummer\nPer Olsen        15076500565\n\
                    Ola Hansen       01019012345\n";
        let records = as_records(text);
        assert!(
            records.contains("Kontonummer: Per Olsen: 15076500565"),
            "{records}"
        );
    }

    #[test]
    fn a_tab_indented_paragraph_above_a_table_does_not_hide_it() {
        // Advertising mail indents its selling points with a tab.
        let text = "\tWith 120+ aircraft to master, from the 1903 Wright Flyer to the latest jets.\n\
                    \t20,000+ real airports with changeable weather and NASA flight models.\n\n\
                    Navn             Kontonummer    Beløp\n\
                    Anne Lie         25110399254    1131\n\
                    Per Olsen        15129409778    4710\n";
        let records = as_records(text);
        assert!(
            records.contains("Kontonummer: Anne Lie: 25110399254")
                && records.contains("Kontonummer: Per Olsen: 15129409778"),
            "{records}"
        );
    }

    #[test]
    fn prose_is_not_a_table() {
        for text in [
            // Double spaces after full stops.
            "Hei.  Her er det du ba om.\nFnr 15076500565.  Mvh Kari\n",
            // A semicolon in a sentence, a lone line with bars.
            "Vi møtes i morgen; ta med skjema 15076500565\n",
            "a | b | c\n",
            // Spaces under a header they do not line up with.
            "Navn  Merknad\nHer er noe lengre tekst     15076500565 og mer\n",
        ] {
            assert_eq!(as_records(text), text, "{text}");
        }
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
