//! Any bytes as a PDF for our text reader (`extract::pdf::read`) directly,
//! without the engine or the reader thread around it, so that many more
//! documents a second reach the lexer, the CMap parser, the fonts and the
//! content interpreter. Small limits: a limit reached must end the read
//! with what it has, never a panic, a hang or a large allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailhygiene::extract::pdf::{PdfLimits, read};

fuzz_target!(|data: &[u8]| {
    let limits = PdfLimits {
        max_text: 1 << 20,
        max_stream: 4 << 20,
        max_total: 8 << 20,
        max_operations: 2_000_000,
    };
    let _ = read(data, limits);
});
