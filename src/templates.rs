//! The templates a company can edit (`rules/templates/`): the yearly
//! reminder and the offboarding notice letter, in each language, with the
//! variables each may use and sample data to check them with. Rendering
//! only: what goes into a reminder is `remind`'s, into a notice the
//! offboarding command's.

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
    (
        "reminder.nn.txt",
        include_str!("../rules/templates/reminder.nn.txt"),
    ),
    (
        "reminder.nn.html",
        include_str!("../rules/templates/reminder.nn.html"),
    ),
    (
        "notice.nn.txt",
        include_str!("../rules/templates/notice.nn.txt"),
    ),
];

pub use crate::model::Lang;

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
        for lang in Lang::ALL {
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
pub(crate) fn sample_context() -> ReminderContext {
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
