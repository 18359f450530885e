//! Any bytes, as an office attachment (XLSX, DOCX, PPTX, ODT: chosen by the
//! first byte, the file is the rest): zip, XML and the text limits must
//! never panic. Seed with real documents behind a selector byte.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let (name, content_type) = match selector % 4 {
        0 => ("lonn.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        1 => ("brev.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        2 => ("lysark.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        _ => ("tekst.odt", "application/vnd.oasis.opendocument.text"),
    };
    common::scan_attachment(name, content_type, file);
});
