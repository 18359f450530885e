//! The yearly reminder: what one mailbox's owner reads, composed from the
//! inventory's summary and rendered from templates a company can edit
//! (`rules/templates/`), as a MIME message with a plain-text and an HTML
//! part. Pure: the summary, the date and the ids are passed in; delivery
//! is an edge ([`crate::deliver`]).

use crate::model::DetectorId;
use crate::report::detector_label;
use crate::report::summary::{ListedMessage, Summary, human_size};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::Path;

/// The shipped templates, used when a rules directory has none of its own.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "reminder.nb.txt",
        include_str!("../rules/templates/reminder.nb.txt"),
    ),
    (
        "reminder.nb.html",
        include_str!("../rules/templates/reminder.nb.html"),
    ),
    (
        "reminder.en.txt",
        include_str!("../rules/templates/reminder.en.txt"),
    ),
    (
        "notice.nb.txt",
        include_str!("../rules/templates/notice.nb.txt"),
    ),
    (
        "notice.en.txt",
        include_str!("../rules/templates/notice.en.txt"),
    ),
    (
        "reminder.en.html",
        include_str!("../rules/templates/reminder.en.html"),
    ),
];

/// The reminder's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Norwegian (bokmål).
    Nb,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }
}

/// A template that cannot be used, located for its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MailboxView {
    pub name: String,
    pub address: String,
    pub owner: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    pub rule: String,
    pub text: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderView {
    pub name: String,
    pub messages: u64,
    pub due: u64,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub what: String,
    pub masked: String,
    pub location: String,
    /// `person_id`, `card`, `account` or `special_category`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub date: String,
    pub folder: String,
    pub correspondent: String,
    pub subject: String,
    pub size: String,
    pub age_days: i64,
    pub findings: Vec<FindingView>,
}

/// Everything a template sees. No field ever holds a clear value.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderContext {
    pub mailbox: MailboxView,
    pub as_of: String,
    pub period: String,
    pub messages: u64,
    pub due: u64,
    pub sensitive: u64,
    pub due_size: String,
    pub folders: Vec<FolderView>,
    pub oldest: Vec<MessageView>,
    pub largest: Vec<MessageView>,
    pub sensitive_messages: Vec<MessageView>,
    pub clean_command: String,
}

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

fn view(m: &ListedMessage) -> MessageView {
    MessageView {
        date: m.date.clone(),
        folder: m.folder.clone(),
        correspondent: m.correspondent(),
        subject: m.subject.clone(),
        size: human_size(m.size),
        age_days: m.age_days,
        findings: m
            .findings
            .iter()
            .map(|f| FindingView {
                what: detector_label(&f.detector),
                masked: f.masked.clone(),
                location: f.location.clone(),
                kind: kind(&f.detector),
            })
            .collect(),
    }
}

/// The reminder's content for one mailbox, from its summary (built with
/// every message listed).
pub fn context(
    summary: &Summary,
    source: &str,
    period: &str,
    clean_command: String,
) -> ReminderContext {
    let names = summary.ctx.mailboxes.get(source);
    let folders = summary
        .per_folder
        .iter()
        .filter(|((s, _), f)| s == source && f.stale > 0)
        .map(|((_, name), f)| FolderView {
            name: name.clone(),
            messages: f.messages,
            due: f.stale,
            reasons: f
                .stale_by_rule
                .iter()
                .map(|(rule, count)| Reason {
                    rule: rule.clone(),
                    text: summary.ctx.rule_text(rule),
                    count: *count,
                })
                .collect(),
        })
        .collect();
    let due_bytes: u64 = summary
        .per_folder
        .iter()
        .filter(|((s, _), _)| s == source)
        .map(|(_, f)| f.stale_bytes)
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
        due: summary.stale,
        sensitive: summary.sensitive,
        due_size: human_size(due_bytes),
        folders,
        oldest: summary.oldest().iter().take(FEW).map(view).collect(),
        largest: summary.largest().iter().take(FEW).map(view).collect(),
        sensitive_messages: summary.handle_first().iter().map(view).collect(),
        clean_command,
    }
}

/// A rendered reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The reminder templates in force.
pub struct Templates {
    env: Environment<'static>,
    /// Template name to where it came from, for errors.
    origins: Vec<(String, String)>,
}

impl Templates {
    /// The shipped templates, replaced by any of the same name in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, Vec<TemplateError>> {
        let mut files: Vec<(String, String, String)> = EMBEDDED
            .iter()
            .map(|(name, text)| {
                (
                    name.to_string(),
                    format!("(built-in) rules/templates/{name}"),
                    text.to_string(),
                )
            })
            .collect();
        if let Some(dir) = dir {
            for (name, origin, text) in files.iter_mut() {
                let path = dir.join(name.as_str());
                match std::fs::read_to_string(&path) {
                    Ok(own) => {
                        *origin = path.display().to_string();
                        *text = own;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(vec![TemplateError {
                            file: path.display().to_string(),
                            line: None,
                            message: e.to_string(),
                        }]);
                    }
                }
            }
        }
        Templates::from_files(files)
    }

    /// Compiles (name, origin, text) triples, and renders each with sample
    /// data so a misspelt variable is found now, not in a delivery.
    pub fn from_files(
        files: Vec<(String, String, String)>,
    ) -> Result<Templates, Vec<TemplateError>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let mut errors = Vec::new();
        let mut origins = Vec::new();
        for (name, origin, text) in files {
            if let Err(e) = env.add_template_owned(name.clone(), text) {
                errors.push(TemplateError {
                    file: origin.clone(),
                    line: e.line(),
                    message: e.detail().unwrap_or(&e.to_string()).to_string(),
                });
            }
            origins.push((name, origin));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let templates = Templates { env, origins };
        let sample = sample_context();
        for lang in [Lang::Nb, Lang::En] {
            if let Err(e) = templates.render(lang, &sample) {
                errors.push(e);
            }
            if let Err(e) = templates.render_notice(lang, &NoticeContext::sample()) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(templates)
        } else {
            Err(errors)
        }
    }

    fn origin(&self, name: &str) -> String {
        self.origins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| name.to_string())
    }

    fn render_one(&self, name: &str, ctx: &impl serde::Serialize) -> Result<String, TemplateError> {
        let error = |e: minijinja::Error| TemplateError {
            file: self.origin(name),
            line: e.line(),
            message: e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
        };
        self.env
            .get_template(name)
            .map_err(error)?
            .render(minijinja::value::Serde(ctx))
            .map_err(error)
    }

    /// Renders the reminder in `lang`.
    pub fn render(&self, lang: Lang, ctx: &ReminderContext) -> Result<Rendered, TemplateError> {
        let text_name = format!("reminder.{}.txt", lang.code());
        let text = self.render_one(&text_name, ctx)?;
        let (first, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let Some(subject) = first.strip_prefix("Subject:") else {
            return Err(TemplateError {
                file: self.origin(&text_name),
                line: Some(1),
                message: "the first line must be `Subject: ...`".into(),
            });
        };
        let html = self.render_one(&format!("reminder.{}.html", lang.code()), ctx)?;
        Ok(Rendered {
            subject: subject.trim().to_string(),
            text: body.trim_start_matches(['\r', '\n']).to_string(),
            html,
        })
    }
}

/// What the notice letter to a leaving employee may use (all text; no
/// detected value is ever among it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeContext {
    pub case_id: String,
    pub employee: String,
    pub mailbox: String,
    pub reason: String,
    pub legal_basis: String,
    pub successor: String,
    pub leaving: String,
    /// The last day to comment.
    pub comment_by: String,
    /// When the mailbox is deleted at the latest.
    pub delete_by: String,
    /// Who sends the notice.
    pub sender: String,
}

impl NoticeContext {
    fn sample() -> NoticeContext {
        NoticeContext {
            case_id: "K-1".into(),
            employee: "Ola Nordmann".into(),
            mailbox: "ola@example.test".into(),
            reason: "Videre drift".into(),
            legal_basis: "e-postforskriften § 2".into(),
            successor: "kari@example.test".into(),
            leaving: "2026-11-30".into(),
            comment_by: "2026-11-20".into(),
            delete_by: "2027-05-30".into(),
            sender: "Leder".into(),
        }
    }
}

impl Templates {
    /// Renders the notice letter in `lang`: (subject, text).
    pub fn render_notice(
        &self,
        lang: Lang,
        ctx: &NoticeContext,
    ) -> Result<(String, String), TemplateError> {
        let name = format!("notice.{}.txt", lang.code());
        let text = self.render_one(&name, ctx)?;
        let (first, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let Some(subject) = first.strip_prefix("Subject:") else {
            return Err(TemplateError {
                file: self.origin(&name),
                line: Some(1),
                message: "the first line must be `Subject: ...`".into(),
            });
        };
        Ok((
            subject.trim().to_string(),
            body.trim_start_matches(['\r', '\n']).to_string(),
        ))
    }
}

/// Sample data with every list filled, for checking templates.
fn sample_context() -> ReminderContext {
    let message = MessageView {
        date: "2020-01-01".into(),
        folder: "INBOX".into(),
        correspondent: "Kari <kari@example.test>".into(),
        subject: "Sak".into(),
        size: "12 KB".into(),
        age_days: 400,
        findings: vec![FindingView {
            what: "Norwegian national ID (fødselsnummer)".into(),
            masked: "01*******45".into(),
            location: "body".into(),
            kind: "person_id",
        }],
    };
    ReminderContext {
        mailbox: MailboxView {
            name: "Ola <ola@example.test>".into(),
            address: "ola@example.test".into(),
            owner: "Ola".into(),
        },
        as_of: "2026-11-25".into(),
        period: "2026".into(),
        messages: 2,
        due: 1,
        sensitive: 1,
        due_size: "12 KB".into(),
        folders: vec![FolderView {
            name: "INBOX".into(),
            messages: 2,
            due: 1,
            reasons: vec![Reason {
                rule: "yearly-review".into(),
                text: "Older than a year".into(),
                count: 1,
            }],
        }],
        oldest: vec![message.clone()],
        largest: vec![message.clone()],
        sensitive_messages: vec![message],
        clean_command: "mailhygiene clean maildir:x --apply".into(),
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
}
