//! Our plain-PDF object loader (`extract::pdf::objects::load`) against
//! lopdf's, in CI: over the fuzzer's seeds, PDFs generated here and
//! thousands of deterministic mutations of each (truncations, byte flips,
//! spliced cross-reference offsets), wherever ours answers, lopdf must load
//! the same document, object for object. lopdf is pinned to an exact version
//! in Cargo.toml: an upgrade changes what our loader must mirror, so it is a
//! deliberate step this test checks.

use mailhygiene::extract::pdf::objects::load;

/// A small PDF with a classic cross-reference table: `objects` are the
/// bodies of objects 1..n; object 1 is the catalogue.
fn pdf(objects: &[&str]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn generated() -> Vec<Vec<u8>> {
    let content = "BT /F1 12 Tf 72 720 Td (Fnr 150765 00565) Tj ET";
    let stream = format!(
        "<< /Length {} >>\nstream\n{content}\nendstream",
        content.len()
    );
    vec![
        pdf(&[
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            &stream,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]),
        pdf(&[
            "<< /Type /Catalog /Pages 2 0 R /Names [(a) (b) <414243>] >>",
            "<< /Type /Pages /Kids [] /Count 0 /Nums [1 -2 +3 4.5 -.5 true false null] >>",
            "[/Name#20With#23Escapes (nested (parens) and \\) escapes \\101) <<>> [[]]]",
        ]),
        pdf(&[
            "<< /Type /Catalog >>",
            "(a string\r\nwith line ends\\\nand a continued line)",
        ]),
    ]
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/pdf_reader");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("the fuzzer's PDF seeds")
        .flatten()
        .map(|e| std::fs::read(e.path()).expect("seed"))
        .collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out.extend(generated());
    out
}

/// Deterministic variants of one file: cut at many lengths, single bytes
/// changed to the characters a PDF parser branches on, digits nudged.
fn mutations(pdf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![pdf.to_vec()];
    let step = (pdf.len() / 150).max(1);
    for cut in (0..pdf.len()).step_by(step) {
        out.push(pdf[..cut].to_vec());
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ pdf.len() as u64;
    for _ in 0..400 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state as usize) % pdf.len().max(1);
        let mut m = pdf.to_vec();
        if m.is_empty() {
            break;
        }
        const BYTES: &[u8] = b"0123456789 \n\r<>[]()/%RobjendstreamxrefR";
        let b = BYTES[(state >> 32) as usize % BYTES.len()];
        m[at] = b;
        out.push(m);
    }
    out
}

#[test]
fn wherever_our_loader_answers_lopdf_loads_the_same_document() {
    let mut answered = 0;
    let mut checked = 0;
    for seed in seeds() {
        for data in mutations(&seed) {
            checked += 1;
            let Some(ours) = load(&data) else {
                continue;
            };
            answered += 1;
            let theirs = lopdf::Document::load_mem(&data)
                .unwrap_or_else(|e| panic!("lopdf fails ({e}) where our loader answers"));
            assert!(ours.trailer == theirs.trailer, "trailers differ");
            assert_eq!(ours.max_id, theirs.max_id);
            assert_eq!(ours.version, theirs.version);
            assert_eq!(
                ours.objects.keys().collect::<Vec<_>>(),
                theirs.objects.keys().collect::<Vec<_>>()
            );
            for (id, object) in &ours.objects {
                assert!(
                    Some(object) == theirs.objects.get(id),
                    "object {id:?} differs"
                );
            }
        }
    }
    // The comparison ran on real answers, not only on refusals.
    assert!(answered > 50, "our loader answered {answered} of {checked}");
}
