//! Any bytes, as a PDF attachment: the stream check, the PDF library on its
//! own thread and the time limit must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend_from_slice(data);
    common::scan_attachment("vedlegg.pdf", "application/pdf", &pdf);
});
