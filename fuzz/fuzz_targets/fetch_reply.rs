//! Any bytes, as a server's reply to `UID FETCH` (metadata and bodies):
//! the reply reader must return (an error is fine) without panicking, and
//! never hold on to more than the reply itself. Seed with replies such as
//! `* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 5 BODY[] {5}\r\nhello)`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // imap-proto 0.17 panics on some response texts (a slice at a byte
    // that is not a character boundary); `imap::run_guarded` turns those
    // into an error for the mailbox, which is the behaviour under test.
    // libFuzzer's hook would abort first, so panics raised inside
    // imap-proto are let through to the guard; any other panic aborts.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let fuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("imap-proto")) {
                return;
            }
            fuzzer(info);
        }));
    });
    if let Ok((uids, bodies)) = mailhygiene::imap::read_fetch_reply(data) {
        assert!(bodies.iter().all(|(_, len)| *len <= data.len()));
        assert!(uids.len() <= data.len());
    }
});
