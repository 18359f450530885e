//! A hostile corpus: one case per way a single message could exhaust memory
//! or time or be passed over in silence, run through the real binary. Each
//! must finish (the command's timeout is the bound) and be reported: a
//! problem record and exit status 1, or read.

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const KEY: &str = "hostile-test-key-0123456789";

fn check(file: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .args(["check", "--format", "jsonl", "--as-of", "2026-11-25"])
        .args(extra)
        .arg(file)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    (out.status.code().unwrap_or(-1), records)
}

fn problems(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["problem"].as_str().map(str::to_string))
        .collect()
}

/// A message with one attachment.
fn with_attachment(name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    format!(
        "Message-ID: <{name}@hostile.test>\r\nSubject: vedlegg\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSe vedlegg.\r\n--b\r\nContent-Type: {content_type}; name={name}\r\nContent-Disposition: attachment; filename={name}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
    .into_bytes()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// ~100 KB on the wire, a terabyte of text if every reference were copied.
fn xlsx_bomb() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options: zip::write::SimpleFileOptions = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/workbook.xml", options).expect("zip");
    zip.write_all(b"<workbook/>").expect("zip");
    zip.start_file("xl/sharedStrings.xml", options)
        .expect("zip");
    zip.write_all(format!("<sst><si><t>{}</t></si></sst>", "x".repeat(1 << 20)).as_bytes())
        .expect("zip");
    zip.start_file("xl/worksheets/sheet1.xml", options)
        .expect("zip");
    zip.write_all(b"<worksheet><sheetData><row>").expect("zip");
    for _ in 0..200_000 {
        zip.write_all(b"<c t=\"s\"><v>0</v></c>").expect("zip");
    }
    zip.write_all(b"</row></sheetData></worksheet>")
        .expect("zip");
    zip.finish().expect("zip").into_inner()
}

fn lzfu_bomb() -> Vec<u8> {
    use mailhygiene::extract::tnef::fixtures;
    let mut rtf = fixtures::compress_rtf(b"{\\rtf1 x}");
    rtf[4..8].copy_from_slice(&(1u32 << 31).to_le_bytes());
    fixtures::encode(None, &[(0x0102, 0x1009, rtf)], &[])
}

fn nested_tnef(depth: usize) -> Vec<u8> {
    use mailhygiene::extract::tnef::fixtures;
    let mut inner = fixtures::encode(Some("innerst"), &[], &[]);
    for _ in 0..depth {
        inner = fixtures::encode(Some("lag"), &[], &[("winmail.dat", &inner)]);
    }
    inner
}

fn pdf_bomb() -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![b' '; 200 << 20]).expect("deflate");
    let stream = z.finish().expect("deflate");
    let mut pdf = format!(
        "%PDF-1.4\n1 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n",
        stream.len()
    )
    .into_bytes();
    pdf.extend_from_slice(&stream);
    pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
    pdf
}

/// A Norwegian account number with a valid MOD11 check digit, written as
/// accounts are (`1234.56.78903`), or `None` when the check digit would be 10.
fn account(n: u64) -> Option<String> {
    let base = format!("{:010}", 1_200_000_000 + n);
    let weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = base
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return None,
        c => c,
    };
    let digits = format!("{base}{check}");
    Some(format!(
        "{}.{}.{}",
        &digits[..4],
        &digits[4..6],
        &digits[6..]
    ))
}

#[test]
fn every_hostile_case_finishes_and_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    // MH_HOSTILE_DIR keeps the cases, for measuring them (see the README).
    let kept = std::env::var_os("MH_HOSTILE_DIR").map(std::path::PathBuf::from);
    let d = kept.as_deref().unwrap_or(dir.path());

    let (code, records) = check(
        &write(
            d,
            "xlsx.eml",
            &with_attachment(
                "lonn.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &xlsx_bomb(),
            ),
        ),
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        problems(&records).contains(&"work_limit".to_string()),
        "{records:?}"
    );

    let (code, records) = check(
        &write(
            d,
            "pdf.eml",
            &with_attachment("bombe.pdf", "application/pdf", &pdf_bomb()),
        ),
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        problems(&records).contains(&"decompression_limit".to_string()),
        "{records:?}"
    );

    // `<p<p<p…`: quadratic in the HTML converter before; read, not stuck.
    let html = format!(
        "Message-ID: <html@hostile.test>\r\nContent-Type: text/html\r\n\r\n{}",
        "<p".repeat(2_500_000)
    );
    let file = write(d, "html.eml", html.as_bytes());
    let (code, _) = check(&file, &[]);
    assert_eq!(code, 0);
    // Its own bounds, as a process: a debug build reads it in about 1.5 s
    // and 60 MB; the quadratic converter took minutes. Generous for noisy
    // machines, far below what a regression costs.
    let rss_file = d.join("html.rss");
    let started = std::time::Instant::now();
    let status = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_mailhygiene"))
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .args(["check", "--format", "jsonl"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("GNU time (Debian's `time`, which .ci/run installs)");
    let elapsed = started.elapsed();
    assert!(status.success());
    let peak_kb: u64 = std::fs::read_to_string(&rss_file)
        .expect("time wrote the peak")
        .trim()
        .parse()
        .expect("kilobytes");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert!(peak_kb < 256 * 1024, "peak RSS {peak_kb} KB");

    // Thousands of distinct values, each twice: every repeat once searched
    // the list of findings.
    let mut body = String::from("Message-ID: <many@hostile.test>\r\n\r\nKontonummer:\r\n");
    let accounts: Vec<String> = (0..30_000).filter_map(account).collect();
    for a in accounts.iter().chain(accounts.iter()) {
        body.push_str(a);
        body.push('\n');
    }
    let (code, records) = check(&write(d, "many.eml", body.as_bytes()), &[]);
    assert_eq!(code, 0);
    assert_eq!(
        records.iter().filter(|r| r["type"] == "sensitive").count(),
        accounts.len()
    );

    // Past the size limit: reported, not read.
    let (code, records) = check(
        &write(
            d,
            "big.eml",
            format!("Subject: x\r\n\r\n{}", "y".repeat(3 << 20)).as_bytes(),
        ),
        &["--max-message-size", "1048576"],
    );
    assert_eq!(code, 1);
    assert!(problems(&records).contains(&"message_too_large".to_string()));

    // Encrypted and unreadable containers.
    for (name, content_type, bytes, kind) in [
        (
            "smime.p7m",
            "application/pkcs7-mime; smime-type=enveloped-data",
            b"0\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x03".to_vec(),
            "encrypted",
        ),
        (
            "melding.asc",
            "application/octet-stream",
            b"-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n".to_vec(),
            "encrypted",
        ),
        (
            "winmail.dat",
            "application/ms-tnef",
            b"\x78\x9f\x3e\x22\x01\x00".to_vec(),
            "corrupt",
        ),
        // A compressed RTF body that claims 2 GiB: refused before inflating.
        (
            "winmail.dat",
            "application/ms-tnef",
            lzfu_bomb(),
            "decompression_limit",
        ),
        // TNEF in TNEF in TNEF...: the depth limit, not the stack.
        (
            "winmail.dat",
            "application/ms-tnef",
            nested_tnef(200),
            "too_deep",
        ),
    ] {
        let (code, records) = check(
            &write(
                d,
                &format!("{name}.eml"),
                &with_attachment(name, content_type, &bytes),
            ),
            &[],
        );
        assert_eq!(code, 1, "{name}");
        assert!(
            problems(&records).contains(&kind.to_string()),
            "{name}: {records:?}"
        );
    }
}

/// An mbox line of many megabytes is skipped, not read into memory, and the
/// next message is still read.
#[test]
fn an_mbox_with_a_huge_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mbox = dir.path().join("huge.mbox");
    let mut f = std::fs::File::create(&mbox).expect("create");
    f.write_all(b"From a@b Tue Jul  1 10:00:00 2025\nSubject: huge\n\n")
        .expect("write");
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..64 {
        f.write_all(&chunk).expect("write");
    }
    f.write_all(b"\n\nFrom c@d Wed Jul  2 11:00:00 2025\nMessage-ID: <small@x>\nSubject: small\n\nFnr 150765 00565\n")
        .expect("write");
    drop(f);
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .args([
            "scan",
            "--no-state",
            "--format",
            "jsonl",
            "--max-message-size",
            "1048576",
        ])
        .arg(format!("mbox:{}", mbox.display()))
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("message_too_large"), "{text}");
    assert!(
        text.contains("<small@x>") && text.contains("no.fodselsnummer"),
        "{text}"
    );
}
