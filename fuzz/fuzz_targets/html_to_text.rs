//! Any bytes, as HTML: the converter must never panic and must stay linear.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let text = mailhygiene::extract::html::to_text(&html);
    // Text is never longer than the HTML it came from, but for entities
    // (`&nbsp;` is shorter than what it stands for, never longer by much).
    assert!(text.len() <= html.len() * 4 + 16);
});
