//! Any bytes, as a message: extraction and detection must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::MessageMeta;
use mailhygiene::rules::RuleSet;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // libfuzzer-sys aborts on every panic, even one the engine catches
        // on purpose (the PDF object parser panics on some PDFs; the engine turns that
        // into a "corrupt attachment" problem). Only panics that escape
        // scan_message are bugs, and those still abort at the FFI boundary.
        std::panic::set_hook(Box::new(|_| {}));
        Engine::new(
            EngineSettings::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")),
            RuleSet::embedded().expect("rules"),
            Fingerprinter::new(b"fuzz-key-0123456789").expect("key"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let meta = MessageMeta::local("INBOX", data.len() as u64, "fuzz");
    let _ = engine().scan_message(meta, data);
});
