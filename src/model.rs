//! The domain types every other module speaks: what a message is to us, what a
//! finding is, what could not be read.
//!
//! They live in one place so that sources (Maildir, mbox, later IMAP) convert
//! their own types into these at the boundary, and the core, the rules and the
//! printers never see a protocol type. Nothing here can hold a detected value in
//! clear text: a [`Finding`] carries only the masked rendering and the keyed
//! fingerprint.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// What a detector looks for. A closed set for the identifiers the spec names;
/// special categories are an open set whose names come from the phrase lists in
/// `rules/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorId {
    NoFodselsnummer,
    NoDNummer,
    NoHNummer,
    NoBankAccount,
    Iban,
    PaymentCard,
    SePersonnummer,
    DkCpr,
    FiHetu,
    /// `special_category.<name>`, e.g. `health`.
    SpecialCategory(String),
}

impl DetectorId {
    /// The detectors that find a value (an identifier, a card, an
    /// account): every one but the special categories.
    pub const VALUED: [DetectorId; 9] = [
        DetectorId::NoFodselsnummer,
        DetectorId::NoDNummer,
        DetectorId::NoHNummer,
        DetectorId::NoBankAccount,
        DetectorId::Iban,
        DetectorId::PaymentCard,
        DetectorId::SePersonnummer,
        DetectorId::DkCpr,
        DetectorId::FiHetu,
    ];

    /// The id as written in the spec's table and in every output.
    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            DetectorId::NoFodselsnummer => Borrowed("no.fodselsnummer"),
            DetectorId::NoDNummer => Borrowed("no.d_nummer"),
            DetectorId::NoHNummer => Borrowed("no.h_nummer"),
            DetectorId::NoBankAccount => Borrowed("no.bank_account"),
            DetectorId::Iban => Borrowed("iban"),
            DetectorId::PaymentCard => Borrowed("payment_card"),
            DetectorId::SePersonnummer => Borrowed("se.personnummer"),
            DetectorId::DkCpr => Borrowed("dk.cpr"),
            DetectorId::FiHetu => Borrowed("fi.hetu"),
            DetectorId::SpecialCategory(name) => {
                std::borrow::Cow::Owned(format!("special_category.{name}"))
            }
        }
    }

    /// Parses an id as written in outputs and rules files.
    pub fn parse(id: &str) -> Option<DetectorId> {
        Some(match id {
            "no.fodselsnummer" => DetectorId::NoFodselsnummer,
            "no.d_nummer" => DetectorId::NoDNummer,
            "no.h_nummer" => DetectorId::NoHNummer,
            "no.bank_account" => DetectorId::NoBankAccount,
            "iban" => DetectorId::Iban,
            "payment_card" => DetectorId::PaymentCard,
            "se.personnummer" => DetectorId::SePersonnummer,
            "dk.cpr" => DetectorId::DkCpr,
            "fi.hetu" => DetectorId::FiHetu,
            other => {
                let name = other.strip_prefix("special_category.")?;
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return None;
                }
                DetectorId::SpecialCategory(name.to_string())
            }
        })
    }

    /// How much a finding of this kind matters when ranking messages: a
    /// person's identity number or health data over a company's IBAN.
    pub fn weight(&self) -> f32 {
        match self {
            DetectorId::NoBankAccount | DetectorId::Iban => 0.6,
            DetectorId::PaymentCard => 0.9,
            _ => 1.0,
        }
    }

    /// National identity numbers of a person (ours and our neighbours').
    pub fn is_person_identifier(&self) -> bool {
        matches!(
            self,
            DetectorId::NoFodselsnummer
                | DetectorId::NoDNummer
                | DetectorId::NoHNummer
                | DetectorId::SePersonnummer
                | DetectorId::DkCpr
                | DetectorId::FiHetu
        )
    }
}

impl fmt::Display for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for DetectorId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

/// Where in a message a piece of text came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    Subject,
    Body,
    /// Attachment path from the outermost file name inwards, e.g.
    /// `["bilag.zip", "lønn.xlsx"]`.
    Attachment(Vec<String>),
}

impl Location {
    /// Reads a location back from its rendering (`subject`, `body`,
    /// `attachment:a.zip/b.xlsx`).
    pub fn parse(s: &str) -> Option<Location> {
        match s {
            "subject" => Some(Location::Subject),
            "body" => Some(Location::Body),
            _ => s
                .strip_prefix("attachment:")
                .map(|path| Location::Attachment(path.split('/').map(str::to_string).collect())),
        }
    }

    /// A location one level deeper inside this one (an archive member, a part
    /// of a forwarded message).
    pub fn child(&self, name: &str) -> Location {
        match self {
            Location::Attachment(path) => {
                let mut path = path.clone();
                path.push(name.to_string());
                Location::Attachment(path)
            }
            Location::Subject | Location::Body => Location::Attachment(vec![name.to_string()]),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Subject => f.write_str("subject"),
            Location::Body => f.write_str("body"),
            Location::Attachment(path) => write!(f, "attachment:{}", path.join("/")),
        }
    }
}

impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One distinct value (or, for special categories, one category) found in one
/// message. Holds no clear value by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: DetectorId,
    pub location: Location,
    /// Safe to show a manager: never the whole value.
    pub masked: String,
    /// Lowercase hex HMAC-SHA256 of the canonical value; empty for special
    /// categories, which have no single value.
    pub fingerprint: String,
    pub confidence: f32,
}

/// Why some part of a message could not be scanned. A closed set so that
/// reports can group them and no error text from a third-party parser (which
/// might quote content) ever reaches an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The message could not be parsed as MIME at all.
    Unparseable,
    /// The message is larger than the configured size limit.
    MessageTooLarge,
    /// Nesting (forwarded messages, archives in archives) past the depth limit.
    TooDeep,
    /// An archive or document would decompress past the size limit.
    DecompressionLimit,
    /// The per-message work budget was used up before this part.
    WorkLimit,
    /// The attachment is damaged (bad zip, bad PDF, bad XML).
    Corrupt,
    /// The attachment is encrypted or password protected.
    Encrypted,
    /// A part's transfer encoding or charset was broken; what could be decoded
    /// was scanned.
    EncodingProblem,
    /// A format whose text we cannot read (legacy binary Office, Outlook .msg).
    UnsupportedFormat,
    /// The file could not be read from disk.
    Io,
    /// Reading this message hit an internal error; it was reported and the
    /// run went on.
    InternalError,
    /// The server listed the message but did not return its content.
    NotReturned,
    /// Exchange could not convert the item to MIME and sent a stand-in
    /// ("Retrieval using the IMAP4 protocol failed ...") instead of it.
    Unconvertible,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 13] = [
        ProblemKind::Unparseable,
        ProblemKind::MessageTooLarge,
        ProblemKind::TooDeep,
        ProblemKind::DecompressionLimit,
        ProblemKind::WorkLimit,
        ProblemKind::Corrupt,
        ProblemKind::Encrypted,
        ProblemKind::EncodingProblem,
        ProblemKind::UnsupportedFormat,
        ProblemKind::Io,
        ProblemKind::InternalError,
        ProblemKind::NotReturned,
        ProblemKind::Unconvertible,
    ];

    /// The kind as written in records (`message_too_large`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Unparseable => "unparseable",
            ProblemKind::MessageTooLarge => "message_too_large",
            ProblemKind::TooDeep => "too_deep",
            ProblemKind::DecompressionLimit => "decompression_limit",
            ProblemKind::WorkLimit => "work_limit",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Encrypted => "encrypted",
            ProblemKind::EncodingProblem => "encoding_problem",
            ProblemKind::UnsupportedFormat => "unsupported_format",
            ProblemKind::Io => "io",
            ProblemKind::InternalError => "internal_error",
            ProblemKind::NotReturned => "not_returned",
            ProblemKind::Unconvertible => "unconvertible",
        }
    }

    pub fn parse(s: &str) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn describe(self) -> &'static str {
        match self {
            ProblemKind::Unparseable => "the message could not be parsed as MIME",
            ProblemKind::MessageTooLarge => "the message is larger than the size limit",
            ProblemKind::TooDeep => "nested deeper than the depth limit",
            ProblemKind::DecompressionLimit => "would decompress past the size limit",
            ProblemKind::WorkLimit => "the per-message work limit was reached first",
            ProblemKind::Corrupt => "the file is damaged and could not be read",
            ProblemKind::Encrypted => "the file is encrypted",
            ProblemKind::EncodingProblem => {
                "broken transfer encoding or charset; what could be decoded was scanned"
            }
            ProblemKind::UnsupportedFormat => "a file format whose text cannot be read",
            ProblemKind::Io => "the message could not be read from storage",
            ProblemKind::InternalError => {
                "an internal error while reading this message (the run went on)"
            }
            ProblemKind::NotReturned => "the server did not return the message's content",
            ProblemKind::Unconvertible => {
                "the server could not convert this item to MIME and sent a stand-in; it is tried again next run"
            }
        }
    }

    /// [`ProblemKind::describe`] for a reader of `lang`.
    pub fn describe_in(self, lang: Lang) -> &'static str {
        let (nb, nn) = match self {
            ProblemKind::Unparseable => (
                "meldingen kunne ikke leses som MIME",
                "meldinga kunne ikkje lesast som MIME",
            ),
            ProblemKind::MessageTooLarge => (
                "meldingen er større enn størrelsesgrensen",
                "meldinga er større enn storleiksgrensa",
            ),
            ProblemKind::TooDeep => (
                "nøstet dypere enn dybdegrensen",
                "nøsta djupare enn djupnegrensa",
            ),
            ProblemKind::DecompressionLimit => (
                "ville bli større enn størrelsesgrensen når den pakkes ut",
                "ville bli større enn storleiksgrensa når han blir pakka ut",
            ),
            ProblemKind::WorkLimit => (
                "arbeidsgrensen per melding ble nådd først",
                "arbeidsgrensa per melding vart nådd først",
            ),
            ProblemKind::Corrupt => (
                "filen er skadet og kunne ikke leses",
                "fila er skadd og kunne ikkje lesast",
            ),
            ProblemKind::Encrypted => ("filen er kryptert", "fila er kryptert"),
            ProblemKind::EncodingProblem => (
                "ødelagt koding eller tegnsett; det som kunne dekodes, ble skannet",
                "øydelagd koding eller teiknsett; det som kunne dekodast, vart skanna",
            ),
            ProblemKind::UnsupportedFormat => (
                "et filformat der teksten ikke kan leses",
                "eit filformat der teksten ikkje kan lesast",
            ),
            ProblemKind::Io => (
                "meldingen kunne ikke leses fra lagringen",
                "meldinga kunne ikkje lesast frå lagringa",
            ),
            ProblemKind::InternalError => (
                "en intern feil da meldingen ble lest (kjøringen fortsatte)",
                "ein intern feil då meldinga vart lesen (køyringa heldt fram)",
            ),
            ProblemKind::NotReturned => (
                "serveren sendte ikke innholdet i meldingen",
                "serveren sende ikkje innhaldet i meldinga",
            ),
            ProblemKind::Unconvertible => (
                "serveren kunne ikke gjøre elementet om til MIME og sendte en erstatning; det prøves igjen neste gang",
                "serveren kunne ikkje gjere elementet om til MIME og sende ein erstatning; det blir prøvd igjen neste gong",
            ),
        };
        lang.pick(self.describe(), nb, nn)
    }

    /// Whether the server may well give the content next time: such a
    /// message stays in the next run's work instead of counting as read.
    pub fn read_again(self) -> bool {
        matches!(self, ProblemKind::NotReturned | ProblemKind::Unconvertible)
    }

    /// Whether content went unscanned (as opposed to scanned with a caveat).
    pub fn content_skipped(self) -> bool {
        !matches!(self, ProblemKind::EncodingProblem)
    }
}

/// Something in a message that we could not fully read, and where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    pub location: Location,
    pub kind: ProblemKind,
}

/// What a source knows about a message before its content is read: enough for
/// the retention rules, and for locating the message in reports.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageMeta {
    /// Folder with `/` as separator; `INBOX` for the inbox.
    pub folder: String,
    /// IMAP UID; `None` for local sources.
    pub uid: Option<u32>,
    /// The folder's UIDVALIDITY, without which a UID means nothing.
    pub uid_validity: Option<u32>,
    /// The folder's name as the IMAP server spells it (delimiter, modified
    /// UTF-7), kept so a rescan can ask about it before listing folders.
    pub server_folder: Option<String>,
    /// When the message was received (INTERNALDATE, Maildir mtime, mbox `From `
    /// line), if the source knows it.
    pub received: Option<DateTime<Utc>>,
    pub flagged: bool,
    /// Size in bytes as stored.
    pub size: u64,
    /// A name for the message within its source, for error messages (a file
    /// name, an mbox offset). Never part of JSONL output.
    pub origin: String,
    /// What identifies a local message across runs (the unique part of a
    /// Maildir file name, a digest of an mbox message); `None` for IMAP,
    /// where the UID does.
    pub local_key: Option<String>,
    /// Where the message stands in its folder's listing (the UID for IMAP),
    /// so reports list messages in the order a scan reads them.
    pub position: u64,
}

impl MessageMeta {
    /// A message from a local source (no UID), of `size` bytes, not yet
    /// known to be flagged or when it was received.
    pub fn local(folder: impl Into<String>, size: u64, origin: impl Into<String>) -> MessageMeta {
        MessageMeta {
            folder: folder.into(),
            uid: None,
            uid_validity: None,
            server_folder: None,
            received: None,
            flagged: false,
            size,
            origin: origin.into(),
            local_key: None,
            position: 0,
        }
    }

    /// The message's identity within its folder: the UID, or the local key.
    pub fn key(&self) -> String {
        match (self.uid, &self.local_key) {
            (Some(uid), _) => uid.to_string(),
            (None, Some(key)) => key.clone(),
            (None, None) => format!("#{}", self.position),
        }
    }
}

/// The header facts the retention rules match on and a person needs to find
/// a message again, read from the message itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// The Message-ID header exactly as in the message, angle brackets included.
    pub message_id: String,
    pub date_header: Option<DateTime<Utc>>,
    /// Sender addresses, lower-cased.
    pub from: Vec<String>,
    /// The first sender's display name, if the message gives one.
    pub from_name: String,
    /// To and Cc addresses, lower-cased.
    pub to: Vec<String>,
    /// The subject. Straight from the parser it may hold a detected value;
    /// the engine masks it ([`crate::engine::Engine::scan_message`]) before
    /// anything sees it, so a stored or printed subject never does.
    pub subject: String,
}

/// The verdict of the retention rules on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staleness {
    pub rule: String,
    pub age_days: i64,
}

/// The language people read: reminders, notice letters, reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Norwegian, bokmål.
    Nb,
    /// Norwegian, nynorsk.
    Nn,
    /// English (what a choice that names none falls back to).
    #[default]
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Nb, Lang::Nn, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::Nn => "nn",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The language a POSIX locale names (`nb_NO.UTF-8`, `nn_NO`, `no_NO`,
    /// `en_GB`), if it is one of ours; `C` and `POSIX` name none.
    pub fn from_locale(locale: &str) -> Option<Lang> {
        let code = locale
            .split(['_', '.', '@', '-'])
            .next()
            .unwrap_or_default();
        match code.to_ascii_lowercase().as_str() {
            "nb" | "no" => Some(Lang::Nb),
            "nn" => Some(Lang::Nn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The one of three that is in this language: a words table, a phrase.
    pub fn pick<T>(self, en: T, nb: T, nn: T) -> T {
        match self {
            Lang::En => en,
            Lang::Nb => nb,
            Lang::Nn => nn,
        }
    }

    /// The language to write in: the one asked for, else the
    /// configuration's, else the locale's (`LC_ALL`, `LC_MESSAGES`,
    /// `LANG`, as given), else English.
    pub fn choose(
        asked: Option<Lang>,
        configured: Option<Lang>,
        locale: &[Option<String>],
    ) -> Lang {
        asked
            .or(configured)
            .or_else(|| {
                locale
                    .iter()
                    .flatten()
                    .find(|v| !v.is_empty())
                    .and_then(|v| Lang::from_locale(v))
            })
            .unwrap_or(Lang::En)
    }
}

/// Names of the folder deleted mail goes to, in the order they are looked
/// for (Exchange in English and Norwegian, then common others).
pub const TRASH_NAMES: &[&str] = &[
    "Deleted Items",
    "Slettede elementer",
    "Trash",
    "Deleted Messages",
    "Papirkurv",
];

/// Whether a folder is where deleted mail goes (never cleaned itself).
pub fn is_trash(folder: &str) -> bool {
    TRASH_NAMES.iter().any(|t| t.eq_ignore_ascii_case(folder))
}

/// The key a case and the deviation register file a message under: the
/// folder's UIDVALIDITY and the UID, or the local key.
pub fn message_key(r: &MessageReport) -> String {
    match (r.meta.uid_validity, r.meta.uid) {
        (Some(v), Some(u)) => format!("{v}:{u}"),
        _ => r.meta.local_key.clone().unwrap_or_default(),
    }
}

/// Everything we learnt about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReport {
    pub meta: MessageMeta,
    pub envelope: Envelope,
    /// The time used as the message's age: received, else the Date header.
    pub date: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
    pub stale: Option<Staleness>,
    pub problems: Vec<Problem>,
    /// What the text showed beyond findings, for the offboarding judgement.
    pub signals: TextSignals,
}

/// Facts about a message's text that are not findings (nothing is masked
/// or reported) but that the offboarding classification weighs: whether a
/// personal address writes like a business, whether a representative's
/// mail touches union matters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextSignals {
    /// The text was read for these signals. False for a message stored
    /// before they existed, read for metadata only, or unreadable: then
    /// nothing is known and [`TextSignals::may_mention_union`] says yes.
    pub read: bool,
    /// Keyed fingerprints of the labelled, checksum-valid Norwegian
    /// organisation numbers in the text ("Org.nr", "NO … MVA"), at most
    /// [`TextSignals::MAX_ORGANISATIONS`]: a business's signature. Kept as
    /// fingerprints so the company's own number (in every quoted
    /// signature) can be told from a supplier's without storing either.
    pub organisations: Vec<String>,
    /// Any trade-union term at any tier, even one too weak for a finding.
    pub union_terms: bool,
    /// The message is this installation's own reminder (its keyed proof
    /// verified): recorded, but not scanned for findings, since it repeats
    /// the subjects it reminds about.
    pub own_reminder: bool,
}

impl TextSignals {
    pub const MAX_ORGANISATIONS: usize = 4;

    /// Doubt stays private: unknown text may mention the union.
    pub fn may_mention_union(&self) -> bool {
        !self.read || self.union_terms
    }

    /// The store's compact form of the flags: one bit each.
    pub fn flag_bits(&self) -> i64 {
        i64::from(self.read)
            | (i64::from(self.union_terms) << 1)
            | (i64::from(self.own_reminder) << 2)
    }

    pub fn from_store(bits: i64, organisations: &str) -> TextSignals {
        TextSignals {
            read: bits & 1 != 0,
            union_terms: bits & 2 != 0,
            own_reminder: bits & 4 != 0,
            organisations: organisations
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }
    }
}

impl MessageReport {
    /// How the printers order "worst first": the weightiest finding, by
    /// detector weight times confidence.
    pub fn severity(&self) -> f32 {
        self.findings
            .iter()
            .map(|f| f.detector.weight() * f.confidence)
            .fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_language_is_the_one_asked_for_else_configured_else_the_locales() {
        let locale = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        let none: Vec<Option<String>> = vec![None, None, None];
        assert_eq!(
            Lang::choose(Some(Lang::Nn), Some(Lang::En), &locale(&["nb_NO.UTF-8"])),
            Lang::Nn
        );
        assert_eq!(
            Lang::choose(None, Some(Lang::Nn), &locale(&["en_GB.UTF-8"])),
            Lang::Nn
        );
        assert_eq!(
            Lang::choose(None, None, &locale(&["nb_NO.UTF-8"])),
            Lang::Nb
        );
        assert_eq!(Lang::choose(None, None, &locale(&["no_NO"])), Lang::Nb);
        assert_eq!(
            Lang::choose(None, None, &locale(&["nn_NO.UTF-8@euro"])),
            Lang::Nn
        );
        // LC_ALL first; an empty one is not set; C names no language.
        assert_eq!(
            Lang::choose(None, None, &locale(&["", "", "nn_NO"])),
            Lang::Nn
        );
        assert_eq!(
            Lang::choose(None, None, &locale(&["C.UTF-8", "", "nb_NO"])),
            Lang::En
        );
        assert_eq!(
            Lang::choose(None, None, &locale(&["sv_SE.UTF-8"])),
            Lang::En
        );
        assert_eq!(Lang::choose(None, None, &none), Lang::En);
        assert_eq!(Lang::parse(" NN "), Some(Lang::Nn));
        assert_eq!(Lang::parse("no"), None);
    }

    use super::*;

    #[test]
    fn detector_ids_round_trip() {
        for id in [
            "no.fodselsnummer",
            "no.d_nummer",
            "no.h_nummer",
            "no.bank_account",
            "iban",
            "payment_card",
            "se.personnummer",
            "dk.cpr",
            "fi.hetu",
            "special_category.health",
        ] {
            let parsed = DetectorId::parse(id).expect(id);
            assert_eq!(parsed.as_str(), id);
        }
        assert_eq!(DetectorId::parse("special_category."), None);
        assert_eq!(DetectorId::parse("special_category.Health"), None);
        assert_eq!(DetectorId::parse("no.fnr"), None);
    }

    #[test]
    fn problem_kinds_and_locations_read_back() {
        for kind in ProblemKind::ALL {
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json.as_str(), Some(kind.as_str()));
            assert_eq!(ProblemKind::parse(kind.as_str()), Some(kind));
        }
        for loc in [
            "subject",
            "body",
            "attachment:a.zip/b.xlsx",
            "attachment:x.pdf",
        ] {
            assert_eq!(Location::parse(loc).expect(loc).to_string(), loc);
        }
        assert_eq!(Location::parse("elsewhere"), None);
    }

    #[test]
    fn locations_render_per_spec() {
        assert_eq!(Location::Subject.to_string(), "subject");
        assert_eq!(Location::Body.to_string(), "body");
        let outer = Location::Body.child("bilag.zip");
        assert_eq!(outer.to_string(), "attachment:bilag.zip");
        assert_eq!(
            outer.child("lønn.xlsx").to_string(),
            "attachment:bilag.zip/lønn.xlsx"
        );
    }
}
