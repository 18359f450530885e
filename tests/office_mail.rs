//! Detection on mail as offices write it, class by class, with documents
//! generated here (synthetic identities only): employee lists as XLSX, ODS,
//! CSV, Outlook HTML and Word tables in every column order, unlabelled
//! windows-1252 exports, written forms Word, flowed text, calendars and RTF
//! produce, and the look-alikes that must stay silent. Each case runs the
//! real binary (`check`) and asserts every identifier found, with the
//! keyword confidence where its column is headed as an ID column.

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;
use std::io::Write;

const KEY: &str = "office-mail-test-key-0123456789";

// ---------------------------------------------------------------- identities

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn mod11(digits: &[u32], weights: &[u32]) -> Option<u32> {
    let k = 11 - digits.iter().zip(weights).map(|(a, b)| a * b).sum::<u32>() % 11;
    match k {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

/// The first valid fødselsnummer for a birth date (DDMMYY) from an
/// individual number on (000–499: born in the 1900s).
fn fnr(ddmmyy: &str, from: u32) -> String {
    (from..500)
        .find_map(|i| {
            let nine = format!("{ddmmyy}{i:03}");
            let d: Vec<u32> = nine.chars().filter_map(|c| c.to_digit(10)).collect();
            let k1 = mod11(&d, &W1)?;
            let mut d10 = d.clone();
            d10.push(k1);
            let k2 = mod11(&d10, &W2)?;
            Some(format!("{nine}{k1}{k2}"))
        })
        .expect("a valid number")
}

/// A bank account number (MOD11 on ten digits) that is not a fødselsnummer.
fn account(first: u64) -> String {
    (first..)
        .find_map(|n| {
            let ten = format!("{n:010}");
            let d: Vec<u32> = ten.chars().filter_map(|c| c.to_digit(10)).collect();
            mod11(&d, &W2).map(|k| format!("{ten}{k}"))
        })
        .expect("an account")
}

struct Person {
    name: &'static str,
    fnr: String,
    department: &'static str,
    phone: &'static str,
    start: &'static str,
    account: String,
}

fn staff() -> Vec<Person> {
    let names = [
        ("Ola Nordmann", "150765", "Salg", "98765432", "01.02.2019"),
        ("Kari Nordmann", "010190", "Lager", "91234567", "15.08.2020"),
        ("Per Hansen", "230478", "Økonomi", "47112233", "03.01.2022"),
        ("Lise Berg", "311299", "HR", "93334455", "12.12.2023"),
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, (name, born, dept, phone, start))| Person {
            name,
            fnr: fnr(born, 100 + i as u32 * 37),
            department: dept,
            phone,
            start,
            account: account(1_503_000_000 + i as u64 * 7_919),
        })
        .collect()
}

/// The columns of an employee list, in some order; the ID column's header
/// varies the way offices write it.
#[derive(Clone, Copy, Debug)]
enum Column {
    Name,
    Id(&'static str),
    Department,
    Phone,
    Start,
    Account,
}

impl Column {
    fn header(self) -> &'static str {
        match self {
            Column::Name => "Navn",
            Column::Id(h) => h,
            Column::Department => "Avdeling",
            Column::Phone => "Telefon",
            Column::Start => "Startdato",
            Column::Account => "Kontonummer",
        }
    }

    fn value(self, p: &Person) -> String {
        match self {
            Column::Name => p.name.into(),
            Column::Id(_) => p.fnr.clone(),
            Column::Department => p.department.into(),
            Column::Phone => p.phone.into(),
            Column::Start => p.start.into(),
            Column::Account => p.account.clone(),
        }
    }
}

/// Column orders seen in employee lists: the ID first, between, last, and
/// after the phone and account columns whose headers used to label it.
fn layouts() -> Vec<Vec<Column>> {
    use Column::*;
    vec![
        vec![Name, Id("Fødselsnummer"), Department, Phone, Start],
        vec![Id("Fnr"), Name, Phone, Department],
        vec![Name, Department, Phone, Id("Personnummer")],
        vec![Name, Phone, Account, Id("Fødselsnr.")],
        vec![Phone, Name, Id("Personnr"), Account, Start],
        vec![Account, Id("ID-nummer"), Name],
    ]
}

fn table(columns: &[Column], people: &[Person]) -> Vec<Vec<String>> {
    let mut rows = vec![columns.iter().map(|c| c.header().to_string()).collect()];
    for p in people {
        rows.push(columns.iter().map(|c| c.value(p)).collect());
    }
    rows
}

// ----------------------------------------------------------------- containers

fn zip(files: &[(&str, String)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        zip.start_file(*name, options).expect("zip");
        zip.write_all(content.as_bytes()).expect("zip");
    }
    zip.finish().expect("zip").into_inner()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// XLSX as Excel writes it: text in shared strings, numbers as numeric
/// cells (a fødselsnummer typed into a number cell loses its leading zero).
fn xlsx(rows: &[Vec<String>]) -> Vec<u8> {
    let mut shared: Vec<String> = Vec::new();
    let mut sheet = String::from("<worksheet><sheetData>");
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for cell in row {
            if cell.bytes().all(|b| b.is_ascii_digit()) && !cell.is_empty() {
                let number: u64 = cell.parse().expect("digits");
                sheet.push_str(&format!("<c><v>{number}</v></c>"));
            } else {
                shared.push(xml_escape(cell));
                sheet.push_str(&format!("<c t=\"s\"><v>{}</v></c>", shared.len() - 1));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let sst: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    zip(&[
        ("[Content_Types].xml", "<Types/>".into()),
        (
            "xl/workbook.xml",
            "<workbook><sheets><sheet name=\"Ark1\"/></sheets></workbook>".into(),
        ),
        ("xl/sharedStrings.xml", format!("<sst>{sst}</sst>")),
        ("xl/worksheets/sheet1.xml", sheet),
    ])
}

/// ODS as LibreOffice writes it: a paragraph in every cell.
fn ods(rows: &[Vec<String>]) -> Vec<u8> {
    let mut body = String::from("<table:table table:name=\"Ark1\">");
    for row in rows {
        body.push_str("<table:table-row>");
        for cell in row {
            body.push_str(&format!(
                "<table:table-cell office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>",
                xml_escape(cell)
            ));
        }
        body.push_str(
            "<table:table-cell table:number-columns-repeated=\"1020\"/></table:table-row>",
        );
    }
    body.push_str("</table:table>");
    let content = format!(
        "<?xml version=\"1.0\"?><office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\">\
         <office:body><office:spreadsheet>{body}</office:spreadsheet></office:body>\
         </office:document-content>"
    );
    zip(&[
        (
            "mimetype",
            "application/vnd.oasis.opendocument.spreadsheet".into(),
        ),
        ("content.xml", content),
    ])
}

/// A Word table: every cell a paragraph of runs.
fn docx(rows: &[Vec<String>]) -> Vec<u8> {
    let mut body = String::from("<w:p><w:r><w:t>Ansatte per 1. desember</w:t></w:r></w:p><w:tbl>");
    for row in rows {
        body.push_str("<w:tr>");
        for cell in row {
            body.push_str(&format!(
                "<w:tc><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:tc>",
                xml_escape(cell)
            ));
        }
        body.push_str("</w:tr>");
    }
    body.push_str("</w:tbl>");
    zip(&[
        ("[Content_Types].xml", "<Types/>".into()),
        (
            "word/document.xml",
            format!(
                "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
            ),
        ),
    ])
}

/// Outlook's HTML table: a `<p class=MsoNormal>` in every cell.
fn outlook_html(rows: &[Vec<String>]) -> String {
    let mut html = String::from(
        "<html><body><p class=MsoNormal>Hei, her er listen:</p>\
         <table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0>",
    );
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            html.push_str(&format!(
                "<td width=120 valign=top style='padding:0cm 5.4pt'><p class=MsoNormal>{}<o:p></o:p></p></td>",
                xml_escape(cell)
            ));
        }
        html.push_str("</tr>\r\n");
    }
    html.push_str("</table><p class=MsoNormal>Hilsen HR</p></body></html>");
    html
}

/// The list as a word processor's PDF export draws it: cell by cell at
/// column positions, in a font subset with a ToUnicode map.
fn pdf_table(rows: &[Vec<String>]) -> Vec<u8> {
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    mailhygiene::extract::pdf::fixtures::report(&["Oversikt over ansatte per avdeling."], &rows)
}

fn csv(rows: &[Vec<String>], delimiter: char) -> String {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    if c.contains(delimiter) {
                        format!("\"{c}\"")
                    } else {
                        c.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(&delimiter.to_string())
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn with_attachment(name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "Subject: Ansatte\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe vedlegg.\r\n\
         --b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

fn html_message(html: &str) -> Vec<u8> {
    format!(
        "Subject: Ansatte\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n"
    )
    .into_bytes()
}

// ------------------------------------------------------------------- running

/// One message through `check`, logging at trace level: its findings, and
/// everything it wrote (stdout and stderr), for the no-leak checks.
fn scan_output(message: &[u8]) -> (Vec<Value>, String) {
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("MAILHYGIENE_LOG", "trace")
        .args(["check", "-", "--format", "jsonl", "--as-of", "2026-11-25"])
        .write_stdin(message.to_vec())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .filter(|r: &Value| r["type"] == "sensitive")
        .collect();
    (records, stdout + &String::from_utf8_lossy(&out.stderr))
}

/// The findings of one message.
fn findings(message: &[u8]) -> Vec<Value> {
    scan_output(message).0
}

/// No clear value in anything the scan wrote, in any common written form.
fn assert_not_leaked(value: &str, written: &str) {
    let spaced = format!("{} {}", &value[..6], &value[6..]);
    assert!(
        !written.contains(value) && !written.contains(&spaced),
        "{value} in the output"
    );
}

fn masked(value: &str, head: usize, tail: usize) -> String {
    let n = value.chars().count();
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// Every person's number found as a fødselsnummer with the keyword
/// confidence; every account number as an account, never as a person's.
fn assert_employee_list(what: &str, columns: &[Column], people: &[Person], found: &[Value]) {
    for p in people {
        let want = masked(&p.fnr, 2, 2);
        let hit = found
            .iter()
            .find(|f| f["masked"] == want.as_str())
            .unwrap_or_else(|| panic!("{what} {columns:?}: {} missed; found {found:?}", p.name));
        assert_eq!(
            hit["detector"], "no.fodselsnummer",
            "{what} {columns:?}: {hit}"
        );
        assert_eq!(
            hit["confidence"], 0.85,
            "{what} {columns:?}: the ID column's header is its label: {hit}"
        );
        if columns.iter().any(|c| matches!(c, Column::Account)) {
            let acct = masked(&p.account, 4, 2);
            assert!(
                found
                    .iter()
                    .any(|f| f["masked"] == acct.as_str() && f["detector"] == "no.bank_account"),
                "{what} {columns:?}: account of {} not an account: {found:?}",
                p.name
            );
        }
    }
    assert!(
        found
            .iter()
            .all(|f| f["detector"] == "no.fodselsnummer" || f["detector"] == "no.bank_account"),
        "{what} {columns:?}: {found:?}"
    );
}

#[test]
fn employee_lists_are_read_as_tables_in_every_container() {
    let people = staff();
    for columns in layouts() {
        let rows = table(&columns, &people);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "xlsx",
                with_attachment(
                    "ansatte.xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    &xlsx(&rows),
                ),
            ),
            (
                "ods",
                with_attachment(
                    "ansatte.ods",
                    "application/vnd.oasis.opendocument.spreadsheet",
                    &ods(&rows),
                ),
            ),
            (
                "docx",
                with_attachment(
                    "ansatte.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    &docx(&rows),
                ),
            ),
            (
                "csv;",
                with_attachment("ansatte.csv", "text/csv", csv(&rows, ';').as_bytes()),
            ),
            (
                "csv,",
                with_attachment("ansatte.csv", "text/csv", csv(&rows, ',').as_bytes()),
            ),
            ("outlook html", html_message(&outlook_html(&rows))),
            (
                "pdf",
                with_attachment("ansatte.pdf", "application/pdf", &pdf_table(&rows)),
            ),
        ];
        for (what, message) in cases {
            let (records, written) = scan_output(&message);
            for p in &people {
                assert_not_leaked(&p.fnr, &written);
                assert_not_leaked(&p.account, &written);
            }
            assert_employee_list(what, &columns, &people, &records);
        }
    }
}

fn single(content_type: &str, cte: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "Subject: Utbetaling\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\
         Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m.extend_from_slice(b"\r\n");
    m
}

fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'ø' => 0xF8,
            'å' => 0xE5,
            'æ' => 0xE6,
            'Ø' => 0xD8,
            '\u{a0}' => 0xA0,
            c if c.is_ascii() => c as u8,
            c => panic!("not in the test's table: {c}"),
        })
        .collect()
}

fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|&b| {
            if b.is_ascii_alphanumeric() || b == b' ' || b == b'\n' || b == b'\r' {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            }
        })
        .collect()
}

fn found(message: &[u8], value: &str) -> Option<Value> {
    let want = masked(value, 2, 2);
    let (records, written) = scan_output(message);
    assert_not_leaked(value, &written);
    records
        .into_iter()
        .find(|f| f["masked"] == want.as_str() && f["detector"] == "no.fodselsnummer")
}

/// Exports from payroll and HR systems: Windows-1252 without a charset
/// label, the digit groups separated by a no-break space (byte A0).
#[test]
fn unlabelled_windows_1252_with_no_break_spaces() {
    let people = staff();
    let nbsp = |n: &str| format!("{}\u{a0}{}", &n[..6], &n[6..]);
    let report: String = people
        .iter()
        .map(|p| {
            format!(
                "Lønnsslipp for {}; fødselsnr {}; beløp 1 250,00\r\n",
                p.name,
                nbsp(&p.fnr)
            )
        })
        .collect();
    let bytes = windows_1252(&report);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("8bit body", single("text/plain", "8bit", &bytes)),
        (
            "us-ascii body",
            single("text/plain; charset=us-ascii", "8bit", &bytes),
        ),
        (
            "quoted-printable body",
            single("text/plain", "quoted-printable", &quoted_printable(&bytes)),
        ),
        (
            "text attachment",
            with_attachment("lonn.txt", "text/plain", &bytes),
        ),
        (
            "csv attachment",
            with_attachment("lonn.csv", "text/csv", &bytes),
        ),
        (
            "octet-stream .txt",
            with_attachment("lonn.txt", "application/octet-stream", &bytes),
        ),
    ];
    for (what, message) in cases {
        for p in &people {
            assert!(
                found(&message, &p.fnr).is_some(),
                "{what}: {} missed",
                p.name
            );
        }
    }
}

/// Written forms: Word's double space, a flowed soft break (delsp=yes) and
/// an iCalendar fold at every place inside the number.
#[test]
fn written_forms_offices_produce() {
    let n = staff().remove(0).fnr;
    let word = format!(
        "<p class=MsoNormal>Fnr {}<span style='mso-spacerun:yes'>&nbsp; </span>{}</p>",
        &n[..6],
        &n[6..]
    );
    assert!(found(&html_message(&word), &n).is_some(), "mso-spacerun");
    assert!(
        found(
            &single(
                "text/plain; charset=utf-8",
                "8bit",
                format!("Fnr {}  {}", &n[..6], &n[6..]).as_bytes()
            ),
            &n
        )
        .is_some(),
        "two spaces in plain text"
    );
    for cut in 1..n.len() {
        let flowed = format!(
            "Hei, her er fødselsnummeret {} \r\n{} til Ola.",
            &n[..cut],
            &n[cut..]
        );
        let message = single(
            "text/plain; charset=utf-8; format=flowed; delsp=yes",
            "8bit",
            flowed.as_bytes(),
        );
        assert!(found(&message, &n).is_some(), "flowed, cut after {cut}");
        let line = format!("DESCRIPTION:Legetime for Ola Nordmann (fnr {n})");
        let at = line.find(&n).expect("in line") + cut;
        let ics = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{}\r\n {}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            &line[..at],
            &line[at..]
        );
        let part = single(
            "text/calendar; charset=utf-8; method=REQUEST",
            "8bit",
            ics.as_bytes(),
        );
        assert!(
            found(&part, &n).is_some(),
            "calendar part, folded after {cut}"
        );
        let file = with_attachment("invitasjon.ics", "application/ics", ics.as_bytes());
        assert!(
            found(&file, &n).is_some(),
            ".ics attachment, folded after {cut}"
        );
    }
}

/// Outlook's own calendar properties carry long numbers that are no one's.
#[test]
fn outlook_calendar_ids_are_not_personal_numbers() {
    // Ids shaped like Danish CPR numbers (a real date, the modulus-11
    // check passing), as the ids Exchange and add-ins write can be.
    let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\n\
               BEGIN:VEVENT\r\nUID:040000008200E00074C5B7101A82E00800000000F0D1B2C3\r\n\
               X-MICROSOFT-CDO-OWNERAPPTID:-1508651234\r\nX-MICROSOFT-CDO-INSTTYPE:150765-1018\r\n\
               X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\nX-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n\
               X-MS-OLK-CONFTYPE:0\r\nX-ENTOURAGE_UUID:210190-1001\r\nSEQUENCE:150765\r\n\
               DTSTAMP:20261201T101500Z\r\nSUMMARY:Budsjettmøte\r\nLOCATION:Rom 4\r\n\
               END:VEVENT\r\nEND:VCALENDAR\r\n";
    for message in [
        single(
            "text/calendar; charset=utf-8; method=REQUEST",
            "8bit",
            ics.as_bytes(),
        ),
        with_attachment("invite.ics", "text/calendar", ics.as_bytes()),
    ] {
        let found = findings(&message);
        assert!(found.is_empty(), "{found:?}");
    }
}

/// Test identities (Skatteetaten's Tenor: month + 80; Norsk helsenett:
/// month + 65; FH-numbers: first digit 8 or 9) in IT mail about test users
/// are neither a person's number nor a bank account; a real account label
/// or the account's written form still makes one an account.
#[test]
fn test_identities_are_not_bank_accounts() {
    let mut numbers = Vec::new();
    for (day, month) in [("15", 7), ("01", 1), ("28", 12), ("55", 3)] {
        for offset in [80, 65] {
            numbers.push(fnr(&format!("{day}{:02}90", month + offset), 100));
        }
    }
    numbers.push(fnr("850765", 100));
    numbers.push(fnr("900101", 100));
    let contexts = [
        "Test account for Tenor: {n}",
        "Testbruker i Tenor, account {n}, passord i Vault",
        "Konto: {n} (syntetisk testperson)",
        "Logg inn med testkonto. Konto {n}",
        "NHN testmiljø: acct {n}",
        "FH-nummer {n} brukes i testmiljøet",
    ];
    for n in &numbers {
        for context in contexts {
            let body = context.replace("{n}", n);
            let found = findings(&single(
                "text/plain; charset=utf-8",
                "8bit",
                body.as_bytes(),
            ));
            assert!(found.is_empty(), "{body}: {found:?}");
        }
        let labelled = format!("Kontonummer: {n}");
        let found = findings(&single(
            "text/plain; charset=utf-8",
            "8bit",
            labelled.as_bytes(),
        ));
        assert_eq!(found.len(), 1, "{labelled}: {found:?}");
        assert_eq!(found[0]["detector"], "no.bank_account", "{labelled}");
    }
}

/// `DDMMYY-NNNN` is a Danish CPR number and can also be a valid Finnish
/// HETU (when its last digit is the HETU check character): the label
/// decides.
#[test]
fn a_labelled_cpr_number_is_danish_not_finnish() {
    const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let both: Vec<String> = ["150765", "010190", "230478", "311299"]
        .iter()
        .flat_map(|date| {
            (100..999u32).filter_map(move |n| {
                let value: u64 = format!("{date}{n}").parse().ok()?;
                let check = CHECK[(value % 31) as usize];
                check
                    .is_ascii_digit()
                    .then(|| format!("{date}-{n}{}", check as char))
            })
        })
        .step_by(7)
        .take(12)
        .collect();
    assert_eq!(both.len(), 12);
    for cpr in &both {
        for context in [
            "CPR-nr.: {n}",
            "Dansk medarbejder, CPR {n}",
            "cpr-nummer {n}",
        ] {
            let body = context.replace("{n}", cpr);
            let found = findings(&single(
                "text/plain; charset=utf-8",
                "8bit",
                body.as_bytes(),
            ));
            assert_eq!(found.len(), 1, "{body}: {found:?}");
            assert_eq!(found[0]["detector"], "dk.cpr", "{body}");
        }
        let finnish = format!("HETU {cpr}");
        let found = findings(&single(
            "text/plain; charset=utf-8",
            "8bit",
            finnish.as_bytes(),
        ));
        assert_eq!(found[0]["detector"], "fi.hetu", "{finnish}");
    }
}

/// An inner message (a multipart with a text body and an XLSX list) in
/// every container Outlook and Exchange wrap mail in: TNEF with an RTF,
/// HTML or plain body and attached files; opaque-signed S/MIME (DER and
/// streamed BER, and one signed by openssl); RTF files and `text/rtf`
/// bodies with the number split across runs and control words.
#[test]
fn outlooks_and_exchanges_containers_are_read() {
    use mailhygiene::extract::{cms, tnef};
    let people = staff();
    let (ola, kari, per) = (&people[0].fnr, &people[1].fnr, &people[2].fnr);
    // A no-break space as a code-page byte, and runs cutting the number.
    let split = |n: &str| format!(r"{}\'a0{{\b {}}}\cf1 {}", &n[..6], &n[6..9], &n[9..]);
    let rtf = format!(
        "{{\\rtf1\\ansi\\ansicpg1252\\deff0{{\\fonttbl{{\\f0 Calibri;}}}}\\pard F\\'f8dselsnummer {}\\par\\pard Hilsen {{\\i HR}}\\par}}",
        split(ola)
    );
    let list = xlsx(&table(
        &[Column::Name, Column::Id("Fnr"), Column::Phone],
        &people[1..2],
    ));
    let csv = format!("navn;fnr\r\nPer;{per}\r\n");

    // TNEF: one with a compressed RTF body, one with an HTML body, one with
    // only the plain body; each with the files.
    let files: [(&str, &[u8]); 2] = [("liste.xlsx", &list), ("per.csv", csv.as_bytes())];
    let bodies = [
        (
            None,
            vec![(
                0x0102u16,
                0x1009u16,
                tnef::fixtures::compress_rtf(rtf.as_bytes()),
            )],
        ),
        (
            None,
            vec![(
                0x0102,
                0x1013,
                format!("<p>Fnr {}&nbsp;{}</p>", &ola[..6], &ola[6..]).into_bytes(),
            )],
        ),
        (Some(format!("Fnr {ola}")), vec![]),
    ];
    for (body, mapi) in bodies {
        let stream = tnef::fixtures::encode(body.as_deref(), &mapi, &files);
        for (name, ct) in [
            ("winmail.dat", "application/ms-tnef"),
            ("winmail.dat", "application/octet-stream"),
        ] {
            let message = with_attachment(name, ct, &stream);
            for n in [ola, kari, per] {
                assert!(
                    found(&message, n).is_some(),
                    "TNEF ({ct}): {n} missed: {:?}",
                    findings(&message)
                );
            }
        }
    }

    // Opaque-signed S/MIME: the whole message is the signed data.
    let inner = String::from_utf8(with_attachment(
        "liste.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &list,
    ))
    .expect("ascii")
    .replace("Se vedlegg.", &format!("Fnr {ola}"));
    let inner = inner
        .split_once("\r\n\r\n")
        .map(|(_, b)| format!("Content-Type: multipart/mixed; boundary=b\r\n\r\n{b}"))
        .expect("body");
    for streamed in [false, true] {
        let der = cms::fixtures::signed(inner.as_bytes(), streamed);
        let message = format!(
            "Subject: Signert\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n\
             Content-Disposition: attachment; filename=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        for n in [ola, kari] {
            assert!(
                found(message.as_bytes(), n).is_some(),
                "S/MIME (streamed {streamed}): {n} missed"
            );
        }
    }
    // openssl is a test dependency (.ci/run installs it).
    let openssl_signed = openssl_sign(inner.as_bytes()).expect("openssl signs");
    for n in [ola, kari] {
        assert!(
            found(&openssl_signed, n).is_some(),
            "S/MIME by openssl: {n} missed"
        );
    }

    // RTF as a file, and as a body part.
    let file = with_attachment("brev.rtf", "application/rtf", rtf.as_bytes());
    let body = single("text/rtf", "7bit", rtf.as_bytes());
    for message in [file, body] {
        assert!(
            found(&message, ola).is_some(),
            "RTF: {:?}",
            findings(&message)
        );
    }
}

/// An opaque-signed message made by openssl (`cms -sign -nodetach`), with
/// a self-signed key made for the test.
fn openssl_sign(content: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Kari Nordmann",
    ])?;
    std::fs::write(dir.path().join("in.eml"), content).expect("write");
    run(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-in",
        "in.eml",
        "-signer",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-out",
        "out.eml",
    ])?;
    let signed = std::fs::read(dir.path().join("out.eml")).expect("read");
    let mut message = b"Subject: Signert av openssl\r\n".to_vec();
    message.extend_from_slice(&signed);
    Some(message)
}
