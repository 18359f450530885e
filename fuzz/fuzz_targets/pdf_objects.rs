//! Our loader of plain PDF files (`extract::pdf::objects::load`) against
//! lopdf's: any bytes; wherever ours answers, lopdf must load the same
//! document (the loader's promise, so that a PDF reads the same whichever
//! loader opened it). Seeds: `fuzz/seeds/pdf_reader`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailhygiene::extract::pdf::objects::load;

fuzz_target!(|data: &[u8]| {
    let Some(ours) = load(data) else {
        return;
    };
    let theirs = match lopdf::Document::load_mem(data) {
        Ok(doc) => doc,
        Err(e) => panic!("lopdf fails ({e}) where our loader answers"),
    };
    assert!(ours.trailer == theirs.trailer, "trailers differ");
    assert_eq!(ours.max_id, theirs.max_id);
    assert_eq!(ours.version, theirs.version);
    assert_eq!(
        ours.objects.keys().collect::<Vec<_>>(),
        theirs.objects.keys().collect::<Vec<_>>()
    );
    for (id, object) in &ours.objects {
        assert!(
            Some(object) == theirs.objects.get(id),
            "object {id:?} differs"
        );
    }
});
