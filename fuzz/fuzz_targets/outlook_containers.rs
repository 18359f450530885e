//! Any bytes through the readers of Outlook's and Exchange's formats and of
//! tables: TNEF (and the compressed RTF inside), RTF, CMS signed data,
//! calendars and the table rewriting. None may panic; each output is
//! bounded by its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailhygiene::extract::{calendar, cms, rtf, table, tnef};

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tnef::read(data, MAX) {
        if let Some(compressed) = t.rtf_compressed {
            if let Ok(raw) = tnef::decompress_rtf(&compressed, MAX) {
                assert!(raw.len() <= MAX);
                let _ = rtf::read(&raw, MAX);
            }
        }
    }
    // The compressed-RTF reader on its own, from the header on.
    if let Ok(raw) = tnef::decompress_rtf(data, MAX) {
        assert!(raw.len() <= MAX);
    }
    let read = rtf::read(data, 4096);
    assert!(read.text.len() <= 4096);
    if let Some(content) = cms::signed_content(data, MAX) {
        assert!(content.len() <= data.len());
    }
    let text = String::from_utf8_lossy(data);
    let _ = calendar::text(&text);
    let _ = table::as_records(&text);
    let _ = table::as_records(&table::csv_to_tabbed(&text));
});
