//! The compliance report as a message to the compliance officer.

use super::*;

/// The report as an e-mail: a short text and the rendered files attached
/// (`Auto-Submitted`, `X-Mailhygiene-Kind: compliance-report`), in `lang`.
pub fn mail(
    from: &str,
    to: &str,
    as_of: NaiveDate,
    lang: crate::model::Lang,
    files: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    use lettre::message::header::{ContentType, HeaderName, HeaderValue};
    use lettre::message::{Attachment, Message, MultiPart, SinglePart};
    let w = super::words::words(lang);
    let names = files
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let day = w.day(Some(as_of));
    let text = lang.pick(
        format!(
            "The compliance report as of {day} is attached ({names}).\n\nNo detected value appears in clear text in it.\n"
        ),
        format!(
            "Etterlevelsesrapporten per {day} er vedlagt ({names}).\n\nIngen funnet verdi står i klartekst i den.\n"
        ),
        format!(
            "Etterlevingsrapporten per {day} er lagd ved ({names}).\n\nIngen funnen verdi står i klartekst i han.\n"
        ),
    );
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for (name, bytes) in files {
        let kind = if name.ends_with(".html") {
            "text/html; charset=utf-8"
        } else if name.ends_with(".json") {
            "application/json"
        } else if name.ends_with(".csv") {
            "text/csv; charset=utf-8"
        } else {
            "text/markdown; charset=utf-8"
        };
        let kind = ContentType::parse(kind).map_err(|e| e.to_string())?;
        parts = parts.singlepart(Attachment::new(name.clone()).body(bytes.clone(), kind));
    }
    let mut msg = Message::builder()
        .from(from.parse().map_err(|e| format!("sender {from}: {e}"))?)
        .to(to.parse().map_err(|e| format!("recipient {to}: {e}"))?)
        .subject(format!("{} {day}", w.title))
        .multipart(parts)
        .map_err(|e| e.to_string())?;
    for (name, value) in [
        ("Auto-Submitted", "auto-generated"),
        ("X-Mailhygiene-Kind", "compliance-report"),
    ] {
        msg.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.to_string(),
        ));
    }
    Ok(msg.formatted())
}
