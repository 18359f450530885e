//! Bad input is data, never a panic: the engine over mutated fixtures and
//! random bytes. (A coverage-guided fuzz target over the same entry point is
//! in fuzz/.)

use chrono::NaiveDate;
use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::MessageMeta;
use mailhygiene::rules::RuleSet;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(
            EngineSettings::new(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")),
            RuleSet::embedded().expect("rules"),
            Fingerprinter::new(b"robustness-key-0123456789").expect("key"),
        )
    })
}

fn fixtures() -> &'static Vec<Vec<u8>> {
    static FIXTURES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
        let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("corpus")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            // The big ones make mutation slow without adding shapes.
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 64 * 1024))
            .map(|p| (p.display().to_string(), std::fs::read(&p).expect("fixture")))
            .collect();
        all.sort();
        all.into_iter().map(|(_, b)| b).collect()
    })
}

fn scan(raw: &[u8]) {
    let meta = MessageMeta::local("INBOX", raw.len() as u64, "robustness");
    let report = engine().scan_message(meta, raw);
    for f in &report.findings {
        assert!(f.confidence > 0.0 && f.confidence <= 1.0);
        assert!(f.fingerprint.is_empty() || f.fingerprint.len() == 64);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..200).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 0usize..400).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"\r\n--b1\r\n".to_vec()),
                Just(b"\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n".to_vec()),
                Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
                Just(b"=?utf-8?b?".to_vec()),
                Just(b"<td>&#".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..32),
            ]
        )
            .prop_map(|(i, bytes)| Mutation::Insert(i, bytes)),
    ]
}

fn apply(mut data: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let len = data.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            if !data.is_empty() {
                let i = i % data.len();
                data[i] = *b;
            }
        }
        Mutation::Truncate(i) => data.truncate(i % len),
        Mutation::Delete(i, n) => {
            let start = i % len;
            let end = (start + n).min(data.len());
            if start < end {
                data.drain(start..end);
            }
        }
        Mutation::Duplicate(i, n) => {
            let start = i % len;
            let end = (start + n).min(data.len());
            if start < end {
                let chunk = data[start..end].to_vec();
                data.splice(end..end, chunk);
            }
        }
        Mutation::Insert(i, bytes) => {
            let at = i % (data.len() + 1);
            data.splice(at..at, bytes.iter().copied());
        }
    }
    data
}

#[test]
fn inputs_the_fuzzer_found() {
    // Each once made a dependency panic (mail-parser's debug assertions).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz regressions") {
        scan(&std::fs::read(entry.expect("entry").path()).expect("readable"));
        n += 1;
    }
    assert!(n > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures_never_panic(which in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let all = fixtures();
        let mut data = all[which % all.len()].clone();
        for m in &mutations {
            data = apply(data, m);
        }
        scan(&data);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        scan(&data);
    }
}
