//! What the attachment targets share: one engine, and a message around the
//! fuzzed bytes.

use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::extract::Limits;
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::MessageMeta;
use mailhygiene::rules::RuleSet;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // Panics the engine catches on purpose (in third-party parsers) are
        // not bugs; libfuzzer-sys would abort on them with the default hook.
        std::panic::set_hook(Box::new(|_| {}));
        let mut settings =
            EngineSettings::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"));
        // Small limits: the fuzzer finds the edges sooner.
        settings.limits = Limits {
            max_file_bytes: 4 << 20,
            max_total_decompressed: 16 << 20,
            max_text_bytes: 2 << 20,
            pdf_time: std::time::Duration::from_secs(10),
            ..Limits::default()
        };
        Engine::new(
            settings,
            RuleSet::embedded().expect("rules"),
            Fingerprinter::new(b"fuzz-key-0123456789").expect("key"),
        )
    })
}

pub fn scan_attachment(name: &str, content_type: &str, bytes: &[u8]) {
    use std::fmt::Write;
    let mut raw = format!(
        "Message-ID: <fuzz@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: {content_type}; name={name}\r\nContent-Disposition: attachment; filename={name}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                raw.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                raw.push('=');
            }
        }
    }
    let _ = write!(raw, "\r\n--b--\r\n");
    let meta = MessageMeta::local("INBOX", raw.len() as u64, "fuzz");
    let _ = engine().scan_message(meta, raw.as_bytes());
}
