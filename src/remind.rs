//! The yearly reminder: what one mailbox's owner reads, composed from the
//! inventory's summary and rendered from templates a company can edit
//! (`rules/templates/`), as a MIME message with a plain-text and an HTML
//! part. Pure: the summary, the date and the ids are passed in; delivery
//! is an edge ([`crate::deliver`]).

use crate::model::DetectorId;
use crate::report::summary::{ListedMessage, Summary, human_size};
use crate::report::{detector_label_in, location_in};
pub use crate::templates::{
    EMBEDDED, FindingView, FolderView, Lang, MailboxView, MessageView, NoticeContext, Reason,
    ReminderContext, Rendered, TemplateError, Templates,
};

/// How many of the oldest and largest a reminder lists.
const FEW: usize = 10;

fn kind(d: &DetectorId) -> &'static str {
    match d {
        DetectorId::PaymentCard => "card",
        DetectorId::NoBankAccount | DetectorId::Iban => "account",
        DetectorId::SpecialCategory(_) => "special_category",
        _ => "person_id",
    }
}

fn view(m: &ListedMessage, lang: Lang) -> MessageView {
    MessageView {
        date: m.date.clone(),
        folder: m.folder.clone(),
        correspondent: m.correspondent_in(lang),
        subject: m.subject.clone(),
        size: human_size(m.size),
        age_days: m.age_days,
        findings: m
            .findings
            .iter()
            .map(|f| FindingView {
                what: detector_label_in(&f.detector, lang),
                masked: f.masked.clone(),
                location: location_in(&f.location, lang),
                kind: kind(&f.detector),
            })
            .collect(),
    }
}

/// The reminder's content for one mailbox, from its summary (built with
/// every message listed), in `lang`: each rule's reason in that language
/// where `rules` say it there.
pub fn context(
    summary: &Summary,
    source: &str,
    period: &str,
    clean_command: String,
    lang: Lang,
    rules: &crate::rules::RuleSet,
) -> ReminderContext {
    let names = summary.ctx.mailboxes.get(source);
    // Mail already in Deleted Items is cleaned up as far as its owner can
    // (and `clean` never moves it): it is neither counted nor listed.
    let kept = |folder: &str| !crate::model::is_trash(folder);
    let folders = summary
        .per_folder
        .iter()
        .filter(|((s, name), f)| s == source && f.stale > 0 && kept(name))
        .map(|((_, name), f)| FolderView {
            name: name.clone(),
            messages: f.messages,
            due: f.stale,
            reasons: f
                .stale_by_rule
                .iter()
                .map(|(rule, count)| Reason {
                    rule: rule.clone(),
                    text: rules
                        .rules
                        .iter()
                        .find(|r| &r.id == rule)
                        .map(|r| r.describe(lang).to_string())
                        .unwrap_or_else(|| summary.ctx.rule_text(rule)),
                    count: *count,
                })
                .collect(),
        })
        .collect();
    let due_bytes: u64 = summary
        .per_folder
        .iter()
        .filter(|((s, name), _)| s == source && kept(name))
        .map(|(_, f)| f.stale_bytes)
        .sum();
    let due: u64 = summary
        .per_folder
        .iter()
        .filter(|((s, name), _)| s == source && kept(name))
        .map(|(_, f)| f.stale)
        .sum();
    ReminderContext {
        mailbox: MailboxView {
            name: summary.ctx.mailbox_name(source),
            address: names.and_then(|n| n.address.clone()).unwrap_or_default(),
            owner: names.and_then(|n| n.owner.clone()).unwrap_or_default(),
        },
        as_of: summary.ctx.as_of.to_string(),
        period: period.to_string(),
        messages: summary.messages,
        due,
        sensitive: summary.sensitive,
        due_size: human_size(due_bytes),
        folders,
        oldest: summary
            .oldest()
            .iter()
            .filter(|m| kept(&m.folder))
            .take(FEW)
            .map(|m| view(m, lang))
            .collect(),
        largest: summary
            .largest()
            .iter()
            .filter(|m| kept(&m.folder))
            .take(FEW)
            .map(|m| view(m, lang))
            .collect(),
        sensitive_messages: summary
            .handle_first()
            .iter()
            .map(|m| view(m, lang))
            .collect(),
        clean_command,
    }
}

pub use crate::own_mail::{is_own_reminder, reminder_id, reminder_proof};

/// The reminder as a MIME message: plain text and HTML alternatives,
/// `Auto-Submitted: auto-generated` and `X-Mailhygiene-Kind: reminder`.
pub fn message(
    rendered: &Rendered,
    from: &str,
    to: &str,
    date: std::time::SystemTime,
    message_id: &str,
    reminder_id: &str,
    proof: &str,
) -> Result<Vec<u8>, String> {
    use lettre::message::header::{HeaderName, HeaderValue};
    use lettre::message::{Message, MultiPart};
    let mut msg = Message::builder()
        .from(from.parse().map_err(|e| format!("sender {from}: {e}"))?)
        .to(to.parse().map_err(|e| format!("recipient {to}: {e}"))?)
        .subject(rendered.subject.clone())
        .date(date)
        .message_id(Some(message_id.to_string()))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .map_err(|e| e.to_string())?;
    for (name, value) in [
        ("Auto-Submitted", "auto-generated"),
        ("X-Mailhygiene-Kind", "reminder"),
        ("X-Mailhygiene-Reminder", reminder_id),
        ("X-Mailhygiene-Proof", proof),
    ] {
        msg.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.to_string(),
        ));
    }
    Ok(msg.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprinter;
    use crate::templates::sample_context;

    #[test]
    fn the_shipped_templates_render_in_both_languages() {
        let t = Templates::load(None).expect("shipped templates are valid");
        let ctx = sample_context();
        let nb = t.render(Lang::Nb, &ctx).expect("nb");
        assert!(
            nb.subject.starts_with("Årlig gjennomgang"),
            "{}",
            nb.subject
        );
        assert!(nb.text.contains("Kari <kari@example.test>"), "{}", nb.text);
        assert!(
            nb.html.contains("Kari &lt;kari@example.test&gt;"),
            "{}",
            nb.html
        );
        let en = t.render(Lang::En, &ctx).expect("en");
        assert!(en.subject.starts_with("Yearly review"));
        // The lists say how much of what is due they show.
        let mut many = sample_context();
        many.due = 158;
        let nb_many = t.render(Lang::Nb, &many).expect("nb");
        assert!(
            nb_many.text.contains("De eldste (1 av 158 som bør ryddes)")
                && nb_many.html.contains("De største (1 av 158)"),
            "{}",
            nb_many.text
        );
        let en_many = t.render(Lang::En, &many).expect("en");
        assert!(
            en_many.text.contains("The oldest (1 of 158 due)")
                && en_many.html.contains("The largest (1 of 158)"),
            "{}",
            en_many.text
        );
        let secret = Fingerprinter::new(b"reminder-test-key-0123").expect("key");
        let id = reminder_id(&secret, "src", "2026");
        let raw = message(
            &en,
            "mailhygiene <noreply@example.test>",
            "ola@example.test",
            std::time::SystemTime::UNIX_EPOCH,
            "<r1@mailhygiene.invalid>",
            &id,
            &reminder_proof(&secret, &id, "<r1@mailhygiene.invalid>"),
        )
        .expect("builds");
        // Ours under our key; not under another's, and not with the proof
        // moved onto another message.
        assert!(is_own_reminder(&secret, &raw));
        let other = Fingerprinter::new(b"another-installation-key").expect("key");
        assert!(!is_own_reminder(&other, &raw));
        assert_ne!(reminder_id(&other, "src", "2026"), id);
        let moved =
            String::from_utf8_lossy(&raw).replace("<r1@mailhygiene.invalid>", "<x@evil.test>");
        assert!(!is_own_reminder(&secret, moved.as_bytes()));
        // Plain mail is not a reminder.
        assert!(!is_own_reminder(&secret, b"Subject: hei\r\n\r\nhei\r\n"));
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("X-Mailhygiene-Kind: reminder"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .expect("parses");
        assert_eq!(parsed.subject(), Some(en.subject.as_str()));
    }

    #[test]
    fn a_broken_template_is_named_with_its_line() {
        let mut files: Vec<(String, String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| (n.to_string(), n.to_string(), t.to_string()))
            .collect();
        files[0].2 = "Subject: x\n\nline two\n{% if %}\n".into();
        let errors = Templates::from_files(files.clone()).err().expect("refused");
        assert_eq!(errors[0].file, "reminder.nb.txt");
        assert_eq!(errors[0].line, Some(4));
        // A variable that does not exist is an error too.
        files[0].2 = "Subject: x\n\n{{ mailbox.nmae }}\n".into();
        let errors = Templates::from_files(files).err().expect("refused");
        assert!(
            errors[0].to_string().starts_with("reminder.nb.txt:3"),
            "{}",
            errors[0]
        );
    }

    /// With `nb` or `nn`, no reason, detector name or place in a message is
    /// left in English (every shipped rule, every detector, every kind of
    /// place, sent and received mail); with `en`, they are the English.
    #[test]
    fn a_reminder_in_norwegian_has_no_english_reason_detector_or_place() {
        use crate::model::{
            DetectorId, Envelope, Finding, Location, MessageMeta, MessageReport, Staleness,
        };
        use crate::report::{ReportContext, detector_label};
        let rules = crate::rules::RuleSet::embedded().expect("rules");
        let detectors: Vec<DetectorId> = DetectorId::VALUED
            .into_iter()
            .chain(
                ["health", "trade_union", "criminal_offence"]
                    .map(|c| DetectorId::SpecialCategory(c.into())),
            )
            .collect();
        let places = [
            Location::Subject,
            Location::Body,
            Location::Attachment(vec!["a.zip".into(), "b.xlsx".into()]),
        ];
        let mut summary = Summary::new(ReportContext {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 12, 7).expect("date"),
            list_all: true,
            ..ReportContext::default()
        });
        let mut n = 0;
        for rule in &rules.rules {
            for d in &detectors {
                n += 1;
                summary.add(
                    "src",
                    &MessageReport {
                        meta: MessageMeta::local(
                            if n % 2 == 0 { "Sent Items" } else { "INBOX" },
                            1000 + n,
                            "",
                        ),
                        envelope: Envelope {
                            message_id: format!("<{n}@t>"),
                            from: vec!["kari@example.test".into()],
                            from_name: "Kari".into(),
                            to: vec!["ola@example.test".into()],
                            subject: format!("Sak {n}"),
                            ..Envelope::default()
                        },
                        date: chrono::DateTime::from_timestamp(1_700_000_000, 0),
                        findings: vec![Finding {
                            detector: d.clone(),
                            location: places[n as usize % 3].clone(),
                            masked: "15*******65".into(),
                            fingerprint: format!("{n:064}"),
                            confidence: 0.9,
                        }],
                        stale: Some(Staleness {
                            rule: rule.id.clone(),
                            age_days: 400,
                        }),
                        problems: Vec::new(),
                        signals: Default::default(),
                    },
                );
            }
        }
        let templates = Templates::load(None).expect("templates");
        let read = |lang: Lang| {
            let ctx = context(
                &summary,
                "src",
                "2026",
                "mailhygiene clean".into(),
                lang,
                &rules,
            );
            let r = templates.render(lang, &ctx).expect("renders");
            format!("{}\n{}\n{}", r.subject, r.text, r.html)
        };
        for lang in [Lang::Nb, Lang::Nn] {
            let all = read(lang);
            for rule in &rules.rules {
                assert!(
                    !all.contains(&rule.description),
                    "{lang:?}: {}",
                    rule.description
                );
                let said = rule
                    .description_in(lang)
                    .expect("every shipped rule speaks it");
                assert!(all.contains(said), "{lang:?}: {said}");
            }
            for d in &detectors {
                let english = detector_label(d);
                if english != detector_label_in(d, lang) {
                    assert!(!all.contains(&english), "{lang:?}: {english}");
                }
            }
            for english in [
                "attachment:",
                "(body)",
                "(subject)",
                "Special category",
                " to ola@",
            ] {
                assert!(!all.contains(english), "{lang:?}: {english}");
            }
            assert!(all.contains("fødselsnummer 15*******65"), "{all}");
            assert!(all.contains("til ola@example.test"), "{all}");
        }
        // Bokmål and nynorsk are not the same text.
        assert!(read(Lang::Nn).contains("Årleg gjennomgang"));
        assert!(read(Lang::Nb).contains("Årlig gjennomgang"));
        let en = read(Lang::En);
        for rule in &rules.rules {
            assert!(en.contains(&rule.description), "{}", rule.description);
        }
        assert!(en.contains("Norwegian national ID (fødselsnummer)"));
    }

    /// Mail already in Deleted Items is not "to be cleaned": neither
    /// counted, sized nor listed (clean never moves it).
    #[test]
    fn deleted_items_are_not_counted_as_due() {
        use crate::model::{Envelope, MessageMeta, MessageReport, Staleness};
        use crate::report::ReportContext;
        let mut summary = Summary::new(ReportContext {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 12, 7).expect("date"),
            list_all: true,
            ..ReportContext::default()
        });
        for (n, folder) in [
            "INBOX",
            "INBOX",
            "Arkiv",
            "Deleted Items",
            "Slettede elementer",
        ]
        .into_iter()
        .enumerate()
        {
            summary.add(
                "src",
                &MessageReport {
                    meta: MessageMeta::local(folder, 1000, ""),
                    envelope: Envelope {
                        message_id: format!("<{n}@t>"),
                        subject: format!("Sak {n}"),
                        ..Envelope::default()
                    },
                    date: chrono::DateTime::from_timestamp(1_600_000_000 + n as i64, 0),
                    findings: vec![],
                    stale: Some(Staleness {
                        rule: "yearly-review".into(),
                        age_days: 400,
                    }),
                    problems: vec![],
                    signals: Default::default(),
                },
            );
        }
        let rules = crate::rules::RuleSet::embedded().expect("rules");
        let ctx = context(&summary, "src", "2026", String::new(), Lang::Nb, &rules);
        assert_eq!(ctx.due, 3);
        assert_eq!(ctx.due_size, human_size(3000));
        let folders: Vec<&str> = ctx.folders.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(folders, ["Arkiv", "INBOX"]);
        assert!(
            ctx.oldest
                .iter()
                .chain(&ctx.largest)
                .all(|m| m.folder != "Deleted Items" && m.folder != "Slettede elementer"),
            "{:?}",
            ctx.oldest
        );
        assert_eq!(ctx.oldest.len(), 3);
    }
}
