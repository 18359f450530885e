use super::fixtures::{self, Builder, Subset};
use super::*;

fn limits() -> PdfLimits {
    PdfLimits {
        max_text: 1 << 20,
        max_stream: 1 << 24,
        max_total: 1 << 25,
        max_operations: 10_000_000,
    }
}

const HELVETICA: &str = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

/// One page drawn by `content` (compressed when asked) with `font` as `/F1`.
fn one_page(font: &str, content: &[u8], compress: bool) -> Vec<u8> {
    let mut b = Builder::default();
    let font = b.object(font);
    let content = b.stream("", content, compress);
    let root = fixtures::pages(&mut b, font, &[content], "");
    b.finish(root)
}

fn text(pdf: &[u8]) -> String {
    read(pdf, limits()).map(|r| r.text).unwrap_or_default()
}

#[test]
fn a_word_processors_subset_font_reads_as_its_text() {
    let pdf = fixtures::report(
        &["Ansatt Kari Nordmann, fødselsnummer 150765 00565, begynner på mandag."],
        &[],
    );
    let t = text(&pdf);
    assert!(t.starts_with("Rapport\n"), "{t:?}");
    assert!(
        t.contains("Ansatt Kari Nordmann, fødselsnummer 150765 00565, begynner på mandag."),
        "{t:?}"
    );
}

#[test]
fn a_table_drawn_cell_by_cell_reads_as_tab_separated_rows() {
    let pdf = fixtures::report(
        &["Liste over ansatte."],
        &[
            vec!["Navn", "Fødselsnummer", "Telefon"],
            vec!["Kari", "15076500565", "912 34 567"],
            vec!["Ola", "01010012356", "987 65 432"],
        ],
    );
    let t = text(&pdf);
    assert!(
        t.contains("Navn\tFødselsnummer\tTelefon\nKari\t15076500565\t912 34 567\nOla\t01010012356\t987 65 432"),
        "{t:?}"
    );
}

#[test]
fn long_documents_keep_page_order_with_a_blank_line_between_pages() {
    let paragraphs: Vec<String> = (0..60)
        .map(|i| format!("Avsnitt nummer {i} her."))
        .collect();
    let refs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
    let t = text(&fixtures::report(&refs, &[]));
    let first = t.find("Avsnitt nummer 0 her.").unwrap_or(usize::MAX);
    let last = t.find("Avsnitt nummer 59 her.").unwrap_or(0);
    assert!(first < last, "{t:?}");
    assert!(t.contains("her.\n\nAvsnitt"), "a page break: {t:?}");
}

/// A Type 1 font whose `/Differences` put the digits at codes where ASCII
/// has letters: only the glyph names say what they are.
#[test]
fn differences_name_the_glyphs() {
    let pdf = one_page(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [65 /one /five /zero /seven /six /oslash] >> >>",
        b"BT /F1 12 Tf 72 720 Td (Nr: ABCDEBCCBEB) Tj 0 -14 Td (p\\345 fF) Tj ET",
        false,
    );
    assert_eq!(text(&pdf), "Nr: 15076500565\npå fø");
}

#[test]
fn kerning_is_not_a_space_and_a_word_gap_is() {
    let pdf = one_page(
        HELVETICA,
        b"BT /F1 10 Tf 72 720 Td [(15)20(07)-30(65)] TJ [(00)-30(565)-300(neste)] TJ (!) Tj ET",
        true,
    );
    assert_eq!(text(&pdf), "15076500565 neste!");
}

#[test]
fn text_in_form_xobjects_is_read_and_self_reference_ends() {
    let mut b = Builder::default();
    let font = b.object("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>");
    let form = b.reserve();
    let form_body = b"BT /F1 9 Tf 0 0 Td (Bunntekst 15076500565) Tj ET /Fm1 Do";
    b.set(
        form,
        format!(
            "<< /Type /XObject /Subtype /Form /BBox [0 0 500 50] /Matrix [1 0 0 1 50 20] /Length {} >>\nstream\n{}\nendstream",
            form_body.len(),
            String::from_utf8_lossy(form_body)
        ),
    );
    let content = b.stream(
        "",
        b"BT /F1 12 Tf 72 720 Td (Hoveddel) Tj ET q /Fm1 Do Q",
        true,
    );
    let root = fixtures::pages(&mut b, font, &[content], &format!("/Fm1 {form} 0 R"));
    let t = text(&b.finish(root));
    assert!(t.starts_with("Hoveddel\nBunntekst 15076500565"), "{t:?}");
    // The form draws itself: read to the depth limit, not forever.
    assert_eq!(t.matches("Bunntekst").count(), content::MAX_FORM_DEPTH);
}

#[test]
fn inline_images_are_skipped() {
    let pdf = one_page(
        HELVETICA,
        b"q BI /W 4 /H 1 /BPC 8 /CS /G ID \x00(Tj) EI\xff EI Q BT /F1 12 Tf 72 720 Td (etter bildet) Tj ET",
        true,
    );
    assert_eq!(text(&pdf), "etter bildet");
}

#[test]
fn a_stream_that_inflates_past_the_limit_is_cut_and_said() {
    let mut big = b"BT /F1 12 Tf 72 720 Td (start) Tj ET\n".to_vec();
    big.resize(4 << 20, b' ');
    let pdf = one_page(HELVETICA, &big, true);
    let small = PdfLimits {
        max_stream: 1 << 20,
        ..limits()
    };
    let read = read(&pdf, small).map_err(|e| format!("{e:?}"));
    assert!(matches!(read, Ok(PdfRead { cut: true, .. })), "{read:?}");
}

#[test]
fn the_operation_budget_ends_a_long_document() {
    let body = "BT /F1 12 Tf 72 720 Td (x) Tj ET\n".repeat(10_000);
    let pdf = one_page(HELVETICA, body.as_bytes(), true);
    let few = PdfLimits {
        max_operations: 1_000,
        ..limits()
    };
    let read = read(&pdf, few).map_err(|e| format!("{e:?}"));
    assert!(
        matches!(&read, Ok(r) if r.cut && r.text.len() < 1_000),
        "{read:?}"
    );
}

#[test]
fn the_text_budget_cuts_the_text() {
    let paragraphs = vec!["ord ".repeat(50); 20];
    let refs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
    let pdf = fixtures::report(&refs, &[]);
    let small = PdfLimits {
        max_text: 100,
        ..limits()
    };
    let read = read(&pdf, small).map_err(|e| format!("{e:?}"));
    assert!(
        matches!(&read, Ok(r) if r.cut && r.text.len() <= 100),
        "{read:?}"
    );
}

#[test]
fn not_a_pdf_is_corrupt() {
    assert_eq!(
        read(b"%PDF-1.4\nnothing here", limits()).err(),
        Some(PdfError::Corrupt)
    );
    assert_eq!(read(b"", limits()).err(), Some(PdfError::Corrupt));
}

#[test]
fn every_truncation_and_byte_flip_of_a_report_reads_without_panic() {
    let pdf = fixtures::report(
        &["Fødselsnummer 15076500565 i teksten."],
        &[vec!["Navn", "Fnr"], vec!["Kari", "15076500565"]],
    );
    for cut in (0..pdf.len()).step_by(7) {
        let _ = read(&pdf[..cut], limits());
    }
    for i in (0..pdf.len()).step_by(3) {
        let mut bad = pdf.clone();
        bad[i] ^= 0x41;
        let _ = read(&bad, limits());
    }
}

#[test]
fn a_subset_without_tounicode_of_a_ucs2_encoding_reads_its_codes() {
    let mut b = Builder::default();
    let cid = b.object("<< /Type /Font /Subtype /CIDFontType0 /BaseFont /X /DW 1000 >>");
    let font = b.object(format!(
        "<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /UniJIS-UCS2-H /DescendantFonts [{cid} 0 R] >>"
    ));
    let content = b.stream("", b"BT /F1 12 Tf 72 720 Td <00F80031> Tj ET", true);
    let root = fixtures::pages(&mut b, font, &[content], "");
    assert_eq!(text(&b.finish(root)), "ø1");
    // Subset's own width helper is what the fixtures lay cells out by.
    assert_eq!(Subset::new(&["ab"]).width("ab", 10.0), 10.0);
}

/// Writes the fixtures as the PDF fuzzer's seeds:
/// `cargo test --lib write_pdf_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_pdf_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/pdf_reader");
    std::fs::create_dir_all(&dir).expect("seed dir");
    let report = fixtures::report(
        &["Fødselsnummer 15076500565 i teksten, kerning og ord."],
        &[
            vec!["Navn", "Fnr", "Telefon"],
            vec!["Kari", "15076500565", "912 34 567"],
        ],
    );
    let mut b = Builder::default();
    let font = b.object(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Differences [65 /one /five /zero /oslash] >> >>",
    );
    let form = b.stream(
        "/Type /XObject /Subtype /Form /BBox [0 0 9 9]",
        b"BT /F1 9 Tf (ABC) Tj ET /Fm1 Do",
        false,
    );
    let content = b.stream(
        "",
        b"q 1 0 0 1 5 5 cm BT /F1 12 Tf 72 720 Td [(AB)-20(C)-300(D)] TJ T* (x) ' 1 2 (y) \" ET BI /W 1 ID \x00 EI Q /Fm1 Do",
        true,
    );
    let root = fixtures::pages(&mut b, font, &[content], &format!("/Fm1 {form} 0 R"));
    for (name, pdf) in [
        ("report.pdf", report),
        ("forms-and-operators.pdf", b.finish(root)),
    ] {
        assert!(read(&pdf, limits()).is_ok(), "{name}");
        std::fs::write(dir.join(name), pdf).expect("seed");
    }
}

/// A PDF another program wrote (reportlab: TrueType subsets with their own
/// one-byte codes and ToUnicode maps, a table drawn with grid lines), kept
/// as the fuzzer's seed.
#[test]
fn a_pdf_written_by_reportlab_reads_as_its_text() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds/pdf_reader/reportlab-table.pdf");
    let pdf = std::fs::read(path).expect("seed");
    let t = text(&pdf);
    assert!(
        t.contains("Fødselsnummer 15076500565 står her. Kari Nordmann, Blåbærveien 3."),
        "{t:?}"
    );
    assert!(
        t.contains("Navn\tFødselsnummer\nKari\t15076500565"),
        "{t:?}"
    );
}

fn encrypted_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pdf")
        .join(name);
    std::fs::read(path).expect("fixture")
}

/// A user password keeps the text out of reach: reported, nothing read.
/// An owner password alone (empty user password, AES-256 or the older RC4)
/// restricts printing or copying, not opening: the text is read as any
/// reader would show it.
#[test]
fn encrypted_pdfs_are_read_when_anyone_may_open_them() {
    assert_eq!(
        read(&encrypted_fixture("user-locked.pdf"), limits()).err(),
        Some(PdfError::Encrypted)
    );
    for name in ["owner-only.pdf", "owner-only-rc4.pdf"] {
        let t = text(&encrypted_fixture(name));
        assert!(
            t.contains("Fødselsnummer 15076500565 i teksten"),
            "{name}: {t:?}"
        );
        assert!(t.contains("Kari\t15076500565\t912 34 567"), "{name}: {t:?}");
    }
}

/// One array of millions of numbers (a small compressed stream) is read
/// past, not held: the reader keeps a bounded part of it and goes on.
#[test]
fn a_huge_array_operand_is_read_past() {
    let mut body = b"BT /F1 12 Tf 72 720 Td [".to_vec();
    body.extend(b"1 ".repeat(4_000_000));
    body.extend(b"(etter) ] TJ ET BT /F1 12 Tf 72 700 Td (neste linje) Tj ET");
    let t = text(&one_page(HELVETICA, &body, true));
    assert!(t.contains("neste linje"), "{t:?}");
}

#[test]
fn an_array_operand_keeps_a_bounded_number_of_items() {
    let doc = lopdf::Document::new();
    let mut reader = Reader {
        doc: &doc,
        streams: Streams {
            max_stream: 1 << 20,
            left: 1 << 20,
            cut: false,
        },
        fonts: HashMap::new(),
        fallback: None,
        out: Bounded::new(1 << 10),
        pen: None,
        operations_left: 10_000_000,
    };
    let body = "1 ".repeat(200_000) + "]";
    let mut lexer = lexer::Lexer::new(body.as_bytes());
    let mut run = content::Run::new(&mut reader, None, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 0);
    let items = run.array_for_tests(&mut lexer);
    assert_eq!(items, Some(content::MAX_ARRAY_ITEMS));
}

/// A page showing `(ABC)` in a simple font whose ToUnicode map (made by
/// `map`) reads `A` as `X`.
fn mapped_page(map: impl FnOnce(&mut Builder, &[u8]) -> usize) -> Vec<u8> {
    let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
        1 begincodespacerange <00> <FF> endcodespacerange\n\
        1 beginbfchar <41> <0058> endbfchar\n\
        endcmap CMapName currentdict /CMap defineresource pop end end";
    let mut b = Builder::default();
    let to_unicode = map(&mut b, cmap);
    let font = b.object(format!(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode {to_unicode} 0 R >>"
    ));
    let content = b.stream("", b"BT /F1 12 Tf 72 700 Td (ABC) Tj ET", true);
    let root = fixtures::pages(&mut b, font, &[content], "");
    b.finish(root)
}

/// Each PDF read in turn on a fresh thread, whose kept font maps start
/// empty.
fn read_in_turn(pdfs: Vec<(Vec<u8>, PdfLimits)>) -> Vec<Result<(String, bool), PdfError>> {
    std::thread::spawn(move || {
        pdfs.iter()
            .map(|(pdf, limits)| read(pdf, *limits).map(|r| (r.text, r.cut)))
            .collect()
    })
    .join()
    .unwrap_or_default()
}

#[test]
fn a_font_map_kept_from_an_earlier_document_reads_as_it_would_alone() {
    let pdf = mapped_page(|b, cmap| b.stream("", cmap, true));
    assert_eq!(text(&pdf).trim(), "XBC");
    // Every total budget from nothing to plenty: the map's decoded size is
    // charged to the second document as decoding it would be.
    for max_total in (0..400).step_by(7) {
        let tight = PdfLimits {
            max_total,
            ..limits()
        };
        let alone = read_in_turn(vec![(pdf.clone(), tight)]);
        let after = read_in_turn(vec![(pdf.clone(), limits()), (pdf.clone(), tight)]);
        assert_eq!(after.get(1), alone.first(), "max_total {max_total}");
    }
}

#[test]
fn a_font_map_is_kept_for_the_same_bytes_read_the_same_way_only() {
    let compressed = mapped_page(|b, cmap| b.stream("", cmap, true));
    // The same compressed bytes, but no filter named: not a map at all.
    let unnamed = mapped_page(|b, cmap| {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = std::io::Write::write_all(&mut z, cmap);
        b.stream("", &z.finish().unwrap_or_default(), false)
    });
    let read = read_in_turn(vec![(compressed, limits()), (unnamed.clone(), limits())]);
    let alone = read_in_turn(vec![(unnamed, limits())]);
    assert_eq!(read.get(1), alone.first());
    assert_eq!(
        alone
            .first()
            .map(|r| r.as_ref().map(|(t, _)| t.trim().to_string())),
        Some(Ok("ABC".to_string()))
    );
}

#[test]
fn a_font_map_through_two_filters_reads_as_it_would_alone() {
    // Inflated, the stream is hex text twice the map's size; the hex then
    // halves it. A per-stream limit between the two sizes stops decoding
    // at the first filter, so a kept map must not stand in for it.
    let pdf = mapped_page(|b, cmap| {
        let hex: String = cmap.iter().map(|b| format!("{b:02X}")).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = std::io::Write::write_all(&mut z, hex.as_bytes());
        let zipped = z.finish().unwrap_or_default();
        b.stream("/Filter [/FlateDecode /ASCIIHexDecode]", &zipped, false)
    });
    assert_eq!(text(&pdf).trim(), "XBC");
    let tight = PdfLimits {
        max_stream: 300,
        ..limits()
    };
    let alone = read_in_turn(vec![(pdf.clone(), tight)]);
    let after = read_in_turn(vec![(pdf.clone(), limits()), (pdf, tight)]);
    assert_eq!(after.get(1), alone.first());
}
