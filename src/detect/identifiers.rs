//! Numeric and alphanumeric identifiers: the Norwegian fødselsnummer family,
//! bank accounts, IBAN, payment cards and the Nordic neighbours' national IDs.
//!
//! Every candidate must pass its check digits *and* its structure (a real,
//! past birth date; a known card issuer; the country's IBAN length). Where the
//! checksum cannot decide (a fødselsnummer is always a valid account number,
//! Swedish and Danish numbers share a written form) the written form and the
//! context label decide, and without a label we prefer silence over noise.

use super::context::{Context, Cue};
use super::tokens::{Phrase, Sep, Window, count_digits_up_to, phrases_of_at_least};
use crate::checksum;
use crate::model::DetectorId;
use chrono::{Datelike, NaiveDate};
use regex::Regex;
use std::fmt;
use std::sync::LazyLock;

/// Base confidence of a checksum-valid number with no keyword nearby, and with
/// one: Purview's 75 and 85.
pub const CONFIDENCE_ALONE: f32 = 0.75;
pub const CONFIDENCE_WITH_KEYWORD: f32 = 0.85;

/// Whether the check-digit rule for Norwegian numbers issued from 2032 applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule2032 {
    /// From the scan date: on when scanning as of 2032-01-01 or later.
    #[default]
    Auto,
    On,
    Off,
}

impl Rule2032 {
    pub fn enabled(self, as_of: NaiveDate) -> bool {
        match self {
            Rule2032::Auto => {
                as_of >= NaiveDate::from_ymd_opt(2032, 1, 1).unwrap_or(NaiveDate::MAX)
            }
            Rule2032::On => true,
            Rule2032::Off => false,
        }
    }
}

/// Settings that change what counts as a valid identifier.
#[derive(Debug, Clone, Copy)]
pub struct IdentifierSettings {
    /// The scan's "today": birth dates after it are impossible.
    pub as_of: NaiveDate,
    pub rule_2032: bool,
}

/// A validated identifier. Holds the clear canonical value only until the
/// caller fingerprints and masks it; its `Debug` never shows the value.
pub struct Hit {
    pub detector: DetectorId,
    pub canonical: String,
    pub start: usize,
    pub confidence: f32,
}

impl fmt::Debug for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hit")
            .field("detector", &self.detector)
            .field("canonical", &"<redacted>")
            .field("start", &self.start)
            .field("confidence", &self.confidence)
            .finish()
    }
}

/// Context keywords around candidates, found only when a candidate has
/// passed its checksum (most digit runs in mail fail it) and only in the few
/// hundred characters around it; the last window is reused for neighbours.
pub struct LazyContext<'t> {
    text: &'t str,
    cache: std::cell::RefCell<Option<(usize, usize, std::rc::Rc<Context>)>>,
}

impl<'t> LazyContext<'t> {
    pub fn new(text: &'t str) -> Self {
        LazyContext {
            text,
            cache: std::cell::RefCell::new(None),
        }
    }

    /// A context covering `start..end` with full reach on both sides.
    fn around(&self, start: usize, end: usize) -> std::rc::Rc<Context> {
        if let Some((lo, hi, ctx)) = &*self.cache.borrow()
            && Context::window_covers(self.text, *lo, *hi, start, end)
        {
            return ctx.clone();
        }
        let (ctx, lo, hi) = Context::find_around(self.text, start, end);
        let ctx = std::rc::Rc::new(ctx);
        *self.cache.borrow_mut() = Some((lo, hi, ctx.clone()));
        ctx
    }

    pub fn label(&self, start: usize) -> Option<Cue> {
        self.around(start, start).label(self.text, start)
    }

    pub fn supports(&self, start: usize, end: usize, cues: &[Cue]) -> bool {
        self.around(start, end)
            .supports(self.text, start, end, cues)
    }

    /// Whether the label before `start` is a bare "konto", "account" or
    /// "acct" (a login account as often as a bank's).
    pub fn label_is_generic_account(&self, start: usize) -> bool {
        self.around(start, start)
            .label_word(self.text, start)
            .is_some_and(|w| {
                ["konto", "account", "acct"]
                    .iter()
                    .any(|g| w.eq_ignore_ascii_case(g))
            })
    }
}

/// Finds every identifier in one normalised text.
/// `tabular` marks text from a spreadsheet or CSV file, where a number typed
/// as `01019012345` may have been stored as the integer `1019012345`.
pub fn find(text: &str, settings: &IdentifierSettings, tabular: bool) -> Vec<Hit> {
    let mut hits = Vec::new();
    // Nothing below can match with fewer than nine digits in the text.
    if count_digits_up_to(text.as_bytes(), 9) < 9 {
        return hits;
    }
    let ctx = LazyContext::new(text);
    let mut taken = Spans::default();

    // Letter-bearing forms first, so their digits are not reread as numbers.
    for (start, end, hit) in find_hetu(text, settings, &ctx) {
        taken.insert(start, end);
        hits.push(hit);
    }
    for (start, end, hit) in find_iban(text, &ctx) {
        taken.insert(start, end);
        hits.push(hit);
    }

    for phrase in phrases_of_at_least(text, 9) {
        classify_phrase(text, &phrase, settings, &ctx, &taken, tabular, &mut hits);
    }
    hits
}

/// Byte ranges already claimed, kept disjoint (overlapping ones merged) so
/// an overlap check is one ordered lookup, not a scan of every earlier hit
/// (a text of a hundred thousand IBANs made that quadratic).
#[derive(Debug, Default)]
struct Spans(std::collections::BTreeMap<usize, usize>);

impl Spans {
    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.0
            .range(..end)
            .next_back()
            .is_some_and(|(_, &e)| e > start)
    }

    fn insert(&mut self, mut start: usize, mut end: usize) {
        while let Some((&s, &e)) = self.0.range(..end).next_back().filter(|(_, e)| **e > start) {
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }
}

/// Tries windows longest-first and left to right, so `4111 1111 1111 1111` is
/// one card, not four numbers, and a window once accepted blocks those it
/// overlaps.
fn classify_phrase(
    text: &str,
    phrase: &Phrase,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
    taken: &Spans,
    tabular: bool,
    hits: &mut Vec<Hit>,
) {
    let mut windows: Vec<Window<'_>> = phrase
        .windows(5)
        .filter(|w| (9..=19).contains(&w.digit_count()) && w.is_free_standing())
        .collect();
    windows.sort_by_key(|w| (std::cmp::Reverse(w.digit_count()), w.first));
    let mut used = Spans::default();
    for w in windows {
        let (start, end) = (w.start(), w.end());
        if taken.overlaps(start, end) || used.overlaps(start, end) {
            continue;
        }
        let hit = classify_window(text, &w, settings, ctx, tabular);
        if let Some(hit) = hit {
            used.insert(start, end);
            hits.push(hit);
        }
    }
}

fn classify_window(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
    tabular: bool,
) -> Option<Hit> {
    let lens: Vec<usize> = w.lens().collect();
    let seps = w.seps();
    match (lens.as_slice(), seps) {
        // The fødselsnummer family and bank accounts: 11 digits.
        ([11], []) => norwegian_eleven(text, w, settings, ctx, false),
        ([6, 5], [sep]) if *sep != Sep::Plus => norwegian_eleven(text, w, settings, ctx, false),
        ([2, 2, 2, 5], [a, b, Sep::Space | Sep::Hyphen])
            if a == b && matches!(a, Sep::Dot | Sep::Space | Sep::Hyphen) =>
        {
            norwegian_eleven(text, w, settings, ctx, false)
        }
        ([4, 2, 5], [a, b]) if a == b && matches!(a, Sep::Dot | Sep::Space) => {
            norwegian_eleven(text, w, settings, ctx, true)
        }
        // The birth date written out with its four-digit year, then the
        // personal number: `23.04.1978 10027`.
        ([2, 2, 4, 5], [a, b, Sep::Space | Sep::Hyphen])
            if a == b && matches!(a, Sep::Dot | Sep::Hyphen) =>
        {
            dated_national_id(text, w, settings, ctx)
        }
        // Swedish, Danish: six digits, a separator, four.
        ([6, 4], [sep]) => six_four(text, w, settings, ctx, *sep),
        ([8, 4], [Sep::Hyphen]) | ([12], []) => swedish_long(text, w, settings, ctx),
        ([10], []) if tabular => {
            lost_leading_zero(text, w, settings, ctx).or_else(|| ten_plain(text, w, settings, ctx))
        }
        ([10], []) => ten_plain(text, w, settings, ctx),
        _ => payment_card(text, w, ctx, &lens),
    }
}

/// The Norwegian reading of an 11-digit number. A valid fødselsnummer is also
/// a valid account number, so the account form (`1234.56.78903`) or an
/// account label makes it an account, and everything else a person's number.
fn norwegian_eleven(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
    account_form: bool,
) -> Option<Hit> {
    let canonical = w.digits(text);
    let d: [u8; 11] = checksum::digits(canonical.as_bytes())?;
    // Every fødselsnummer is a valid account number: nothing that fails the
    // account check can be either.
    if !checksum::no_bank_account(&d) {
        return None;
    }
    let (start, end) = (w.start(), w.end());
    let label = ctx.label(start);
    if label == Some(Cue::NotPersonal) {
        return None;
    }
    let labelled_id = label == Some(Cue::NationalId);
    let mut labelled_account = matches!(label, Some(Cue::BankAccount | Cue::Iban));
    // A test identity (Tenor, Norsk helsenett, an FH-number) is a person's
    // number in form; "account" or "konto" before it is a login account far
    // more often than a bank's. Only the account's written form or a bank
    // account's own label (kontonummer, account number) make it one.
    if labelled_account
        && !account_form
        && is_test_identity(&d)
        && ctx.label_is_generic_account(start)
    {
        labelled_account = false;
    }

    if !labelled_id && (account_form || labelled_account) {
        let supported =
            labelled_account || ctx.supports(start, end, &[Cue::BankAccount, Cue::Iban]);
        let confidence = if supported {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        };
        return Some(Hit {
            detector: DetectorId::NoBankAccount,
            canonical,
            start,
            confidence,
        });
    }

    if let Some(kind) = norwegian_id_kind(&d, settings) {
        let confidence = if labelled_id || ctx.supports(start, end, &[Cue::NationalId]) {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        };
        return Some(Hit {
            detector: kind,
            canonical,
            start,
            confidence,
        });
    }

    None
}

/// A synthetic identity in the national-ID form: both check digits, and
/// the month of Skatteetaten's Tenor (+80) or Norsk helsenett (+65), or an
/// FH-number (first digit 8 or 9).
fn is_test_identity(d: &[u8; 11]) -> bool {
    let month = u32::from(d[2]) * 10 + u32::from(d[3]);
    checksum::no_national_id_classic(d)
        && (d[0] >= 8 || (66..=77).contains(&month) || (81..=92).contains(&month))
}

/// `DD.MM.YYYY NNNNN`: the fødselsnummer is the date with a two-digit year
/// and the personal number, and the year's century must be the one the
/// individual number gives (one more check than the plain forms have).
fn dated_national_id(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
) -> Option<Hit> {
    let all = w.digits(text);
    let year: u32 = all.get(4..8)?.parse().ok()?;
    let canonical = format!("{}{}", all.get(..4)?, all.get(6..)?);
    let d: [u8; 11] = checksum::digits(canonical.as_bytes())?;
    let (kind, centuries) = national_id(&d, settings)?;
    if !centuries.contains(&Some(year / 100 * 100)) {
        return None;
    }
    person_hit(kind, canonical, w, ctx, &[Cue::BankAccount, Cue::Iban])
}

/// A national ID read from a form only a person's number has: reported
/// unless labelled as something else (`refused`, or not personal), with the
/// higher confidence when a national-ID keyword is near.
fn person_hit(
    kind: DetectorId,
    canonical: String,
    w: &Window<'_>,
    ctx: &LazyContext<'_>,
    refused: &[Cue],
) -> Option<Hit> {
    let (start, end) = (w.start(), w.end());
    let label = ctx.label(start);
    if label.is_some_and(|l| l == Cue::NotPersonal || refused.contains(&l)) {
        return None;
    }
    let supported = label == Some(Cue::NationalId) || ctx.supports(start, end, &[Cue::NationalId]);
    Some(Hit {
        detector: kind,
        canonical,
        start,
        confidence: if supported {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        },
    })
}

/// The century the individual number (digits 7–9) gives a two-digit year.
fn individual_century(individual: u32, yy: u32) -> Option<u32> {
    match individual {
        0..=499 => Some(1900),
        500..=749 if yy >= 54 => Some(1800),
        500..=999 if yy <= 39 => Some(2000),
        900..=999 if yy >= 40 => Some(1900),
        _ => None,
    }
}

/// A spreadsheet cell that held `01019012345` as a number shows `1019012345`:
/// read it with the zero back.
fn lost_leading_zero(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
) -> Option<Hit> {
    let canonical = format!("0{}", w.digits(text));
    let d: [u8; 11] = checksum::digits(canonical.as_bytes())?;
    let kind = norwegian_id_kind(&d, settings)?;
    person_hit(kind, canonical, w, ctx, &[Cue::BankAccount])
}

/// Which Norwegian national ID the digits are, if any: check digits, a real
/// birth date that is not in the future, and a century the individual number
/// allows. Test identities (Tenor month + 80, Norsk helsenett month + 65) and
/// FH-numbers are not a person's number and give `None`.
pub fn norwegian_id_kind(d: &[u8; 11], settings: &IdentifierSettings) -> Option<DetectorId> {
    national_id(d, settings).map(|(kind, _)| kind)
}

/// A valid national ID's kind and the centuries its birth date falls in: the
/// one the individual number gives, or under the 2032 rule whichever of the
/// 1900s and 2000s hold a real date that is not in the future.
fn national_id(
    d: &[u8; 11],
    settings: &IdentifierSettings,
) -> Option<(DetectorId, [Option<u32>; 2])> {
    let classic = checksum::no_national_id_classic(d);
    let new_rule = !classic && settings.rule_2032 && checksum::no_national_id_2032(d);
    if !classic && !new_rule {
        return None;
    }
    let two = |i: usize| u32::from(d[i]) * 10 + u32::from(d[i + 1]);
    let (mut day, mut month, yy) = (two(0), two(2), two(4));
    let individual = u32::from(d[6]) * 100 + u32::from(d[7]) * 10 + u32::from(d[8]);
    let mut kind = DetectorId::NoFodselsnummer;
    if (41..=71).contains(&day) {
        day -= 40;
        kind = DetectorId::NoDNummer;
    }
    match month {
        1..=12 => {}
        41..=52 => {
            month -= 40;
            if kind == DetectorId::NoFodselsnummer {
                kind = DetectorId::NoHNummer;
            }
        }
        // Tenor (+80) and Norsk helsenett (+65) synthetic identities.
        _ => return None,
    }
    let valid_in = |century: u32| -> bool {
        NaiveDate::from_ymd_opt((century + yy) as i32, month, day)
            .is_some_and(|date| date <= settings.as_of)
    };
    let in_century = |century: u32| valid_in(century).then_some(century);
    let centuries = if new_rule {
        // From 2032 the individual number no longer gives the century.
        [in_century(1900), in_century(2000)]
    } else {
        [in_century(individual_century(individual, yy)?), None]
    };
    centuries
        .iter()
        .any(Option::is_some)
        .then_some((kind, centuries))
}

/// `YYMMDD-NNNC` (Swedish) and `DDMMYY-SSSS` (Danish) share a form. Context
/// decides first; without it a passing Swedish Luhn wins, then a Danish number
/// that also passes the old modulus-11 check.
fn six_four(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
    sep: Sep,
) -> Option<Hit> {
    let canonical = w.digits(text);
    let d: [u8; 10] = checksum::digits(canonical.as_bytes())?;
    let se_valid = swedish_short_valid(&d, sep == Sep::Plus, settings.as_of);
    let dk_date = danish_date_valid(&d, settings.as_of);
    if !se_valid && !dk_date {
        return None;
    }
    let (start, end) = (w.start(), w.end());
    let label = ctx.label(start);
    if label == Some(Cue::NotPersonal) {
        return None;
    }
    let dk_context = label == Some(Cue::Danish) || ctx.supports(start, end, &[Cue::Danish]);
    let se_context = label == Some(Cue::Swedish) || ctx.supports(start, end, &[Cue::Swedish]);
    let id_context = label == Some(Cue::NationalId) || ctx.supports(start, end, &[Cue::NationalId]);
    let written_as_id = matches!(sep, Sep::Hyphen | Sep::Plus);
    if !(written_as_id || dk_context || se_context || id_context) {
        return None;
    }
    let dk_mod11 = checksum::dk_cpr_mod11(&d);
    let hit = |detector, confidence| {
        Some(Hit {
            detector,
            canonical: canonical.clone(),
            start,
            confidence,
        })
    };
    if dk_context && dk_date && sep != Sep::Plus {
        return hit(DetectorId::DkCpr, CONFIDENCE_WITH_KEYWORD);
    }
    if se_valid {
        let c = if se_context || id_context {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        };
        return hit(DetectorId::SePersonnummer, c);
    }
    if dk_date && dk_mod11 && sep != Sep::Plus {
        let c = if id_context {
            CONFIDENCE_WITH_KEYWORD
        } else {
            0.7
        };
        return hit(DetectorId::DkCpr, c);
    }
    None
}

/// Ten digits with nothing to show what they are: only with a label.
fn ten_plain(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
) -> Option<Hit> {
    // Cheap first: most ten-digit runs are not a valid date either way.
    let d: [u8; 10] = checksum::digits(w.digits(text).as_bytes())?;
    if !swedish_short_valid(&d, false, settings.as_of) && !danish_date_valid(&d, settings.as_of) {
        return None;
    }
    match ctx.label(w.start()) {
        Some(Cue::Danish | Cue::Swedish | Cue::NationalId) => {
            six_four(text, w, settings, ctx, Sep::Space)
        }
        _ => None,
    }
}

fn swedish_short_valid(d: &[u8; 10], centenarian: bool, as_of: NaiveDate) -> bool {
    if !checksum::luhn(d) {
        return false;
    }
    let two = |i: usize| u32::from(d[i]) * 10 + u32::from(d[i + 1]);
    let (yy, month, mut day) = (two(0), two(2), two(4));
    if day > 60 {
        day -= 60; // samordningsnummer
    }
    // The year is the latest one ending in YY that is not in the future, or a
    // century earlier with the `+` sign.
    let this_year = as_of.year() as u32;
    let mut year = this_year - (this_year % 100) + yy;
    if year > this_year {
        year -= 100;
    }
    if centenarian {
        year -= 100;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day).is_some_and(|date| date <= as_of)
}

fn swedish_long(
    text: &str,
    w: &Window<'_>,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
) -> Option<Hit> {
    let canonical = w.digits(text);
    let d: [u8; 12] = checksum::digits(canonical.as_bytes())?;
    if !checksum::luhn(&d[2..]) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (year, month, mut day) = (num(0..4), num(4..6), num(6..8));
    if day > 60 {
        day -= 60;
    }
    if !(1850..=2100).contains(&year) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if date > settings.as_of {
        return None;
    }
    let (start, end) = (w.start(), w.end());
    let plain = w.seps().is_empty();
    let supported = ctx.supports(start, end, &[Cue::Swedish, Cue::NationalId]);
    if plain && !supported {
        // Twelve plain digits starting with a plausible date are common
        // (timestamps, order numbers): require a keyword.
        return None;
    }
    Some(Hit {
        detector: DetectorId::SePersonnummer,
        canonical,
        start,
        confidence: if supported {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        },
    })
}

fn danish_date_valid(d: &[u8; 10], as_of: NaiveDate) -> bool {
    let two = |i: usize| u32::from(d[i]) * 10 + u32::from(d[i + 1]);
    let (day, month, yy) = (two(0), two(2), two(4));
    let century = match d[6] {
        0..=3 => 1900,
        4 | 9 => {
            if yy <= 36 {
                2000
            } else {
                1900
            }
        }
        _ => {
            if yy <= 57 {
                2000
            } else {
                1800
            }
        }
    };
    NaiveDate::from_ymd_opt((century + yy) as i32, month, day).is_some_and(|date| date <= as_of)
}

/// A payment card: Luhn, a known issuer prefix with its lengths, and a written
/// form people use (plain, or groups of four with one kind of separator).
fn payment_card(text: &str, w: &Window<'_>, ctx: &LazyContext<'_>, lens: &[usize]) -> Option<Hit> {
    let total: usize = lens.iter().sum();
    if !(12..=19).contains(&total) {
        return None;
    }
    let grouped_in_fours = lens.len() > 1
        && lens[..lens.len() - 1].iter().all(|&l| l == 4)
        && (1..=4).contains(&lens[lens.len() - 1]);
    let amex_or_diners = matches!(lens, [4, 6, 5] | [4, 6, 4]);
    let form_ok = lens.len() == 1 || grouped_in_fours || amex_or_diners;
    let one_sep_kind =
        w.seps().windows(2).all(|p| p[0] == p[1]) && w.seps_all_in(&[Sep::Space, Sep::Hyphen]);
    if !form_ok || !one_sep_kind {
        return None;
    }
    let canonical = w.digits(text);
    let digits: Vec<u8> = canonical.bytes().map(|b| b - b'0').collect();
    if !checksum::luhn(&digits) || !known_card_issuer(&canonical) {
        return None;
    }
    let (start, end) = (w.start(), w.end());
    let label = ctx.label(start);
    if label == Some(Cue::NotPersonal) {
        return None;
    }
    let supported =
        label == Some(Cue::PaymentCard) || ctx.supports(start, end, &[Cue::PaymentCard]);
    Some(Hit {
        detector: DetectorId::PaymentCard,
        canonical,
        start,
        confidence: if supported {
            CONFIDENCE_WITH_KEYWORD
        } else {
            CONFIDENCE_ALONE
        },
    })
}

/// Issuer identification number ranges and the lengths each brand issues.
pub fn known_card_issuer(digits: &str) -> bool {
    let len = digits.len();
    let prefix = |n: usize| {
        digits
            .get(..n)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match p1 {
        4 => matches!(len, 13 | 16 | 19),              // Visa
        5 if (51..=55).contains(&p2) => len == 16,     // Mastercard
        2 if (2221..=2720).contains(&p4) => len == 16, // Mastercard 2-series
        3 if p2 == 34 || p2 == 37 => len == 15,        // Amex
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&len), // JCB
        3 if p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p3) => {
            (14..=19).contains(&len) // Diners
        }
        6 if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) => (16..=19).contains(&len), // Discover
        6 if p2 == 62 => (16..=19).contains(&len), // UnionPay
        5 | 6
            if matches!(
                p4,
                5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
            ) =>
        {
            (12..=19).contains(&len) // Maestro
        }
        _ => false,
    }
}

/// Builds the identifier detectors' patterns now rather than at the first
/// message (where a second scanning thread would wait for the first).
pub fn prepare() {
    LazyLock::force(&HETU);
    LazyLock::force(&IBAN);
    LazyLock::force(&ORGANISATION_NUMBER);
    super::context::prepare();
}

/// A labelled organisation number: "Org.nr. 921 760 515", "Org. no.:
/// NO 921760515 MVA", "Foretaksregisteret NO 921 760 515 MVA". The label
/// or the MVA suffix is required: nine bare digits are as often a phone
/// number with a prefix or an order number.
static ORGANISATION_NUMBER: LazyLock<regex_automata::meta::Regex> = LazyLock::new(|| {
    use regex_automata::{MatchKind, meta, util::prefilter::Prefilter};
    // Spelled case by case, and searched for by the few words a match can
    // start with: left to itself the search's literal set grows past what
    // the fast prefilter takes (the first form cost a tenth of a scan).
    const STARTS: &[&str] = &[
        "Org.",
        "Org ",
        "Orgn",
        "Orga",
        "org.",
        "org ",
        "orgn",
        "orga",
        "ORG.",
        "ORG ",
        "ORGN",
        "ORGA",
        "Foretaks",
        "foretaks",
        "FORETAKS",
        "Business ",
        "business ",
        "Company ",
        "company ",
        "NO 8",
        "NO 9",
        "NO8",
        "NO9",
    ];
    let pattern = r"(?-u)(?:\b(?:(?:[Oo]rg|ORG)(?:anisasjons|anization|anisation|ANISASJONS)?\.?\s?(?:[Nn][Rr]|[Nn][Oo]|number|nummer|NUMMER)\.?|[Oo]rgnr|ORGNR|[Ff]oretaks(?:nummer|registeret)|FORETAKS(?:NUMMER|REGISTERET)|[Bb]usiness [Ii][Dd]|[Cc]ompany (?:reg(?:istration)?\.? )?(?:[Nn]o|number)\.?)\s*:?\s*(?:NO\s?)?([89][0-9]{2}[ .]?[0-9]{3}[ .]?[0-9]{3})\b|\bNO ?([89][0-9]{2}[ .]?[0-9]{3}[ .]?[0-9]{3}) ?(?:MVA|mva)\b)";
    meta::Regex::builder()
        .configure(meta::Config::new().prefilter(Prefilter::new(MatchKind::LeftmostFirst, STARTS)))
        .build(pattern)
        .unwrap_or_else(|e| panic!("built-in organisation number pattern is invalid: {e}"))
});

/// The labelled, checksum-valid Norwegian organisation numbers in `text`
/// (nine digits each): how a business signs its mail. Not findings (an
/// organisation number is public), only a signal for the offboarding
/// classification.
pub fn organisation_numbers(text: &str) -> impl Iterator<Item = String> + '_ {
    ORGANISATION_NUMBER
        .captures_iter(text)
        .filter_map(move |c| {
            let span = c.get_group(1).or_else(|| c.get_group(2))?;
            let digits: String = text[span.range()]
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let d: [u8; 9] = digits
                .bytes()
                .map(|b| b - b'0')
                .collect::<Vec<u8>>()
                .try_into()
                .ok()?;
            checksum::no_organisation_number(&d).then_some(digits)
        })
}

static HETU: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]")
        .unwrap_or_else(|e| panic!("built-in HETU pattern is invalid: {e}"))
});

fn find_hetu(
    text: &str,
    settings: &IdentifierSettings,
    ctx: &LazyContext<'_>,
) -> Vec<(usize, usize, Hit)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for m in HETU.find_iter(text) {
        let (start, end) = (m.start(), m.end());
        let glued = |i: Option<usize>| {
            i.and_then(|i| bytes.get(i))
                .is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if glued(start.checked_sub(1)) || glued(Some(end)) {
            continue;
        }
        let s = m.as_str().as_bytes();
        let Some(nine) = checksum::digits::<9>(&[&s[..6], &s[7..10]].concat()) else {
            continue;
        };
        if checksum::fi_hetu_check_char(&nine) != s[10] {
            continue;
        }
        let individual = u32::from(nine[6]) * 100 + u32::from(nine[7]) * 10 + u32::from(nine[8]);
        if individual < 2 {
            continue;
        }
        let century = match s[6] {
            b'+' => 1800,
            b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
            _ => 2000,
        };
        let two = |i: usize| u32::from(nine[i]) * 10 + u32::from(nine[i + 1]);
        let valid_date = NaiveDate::from_ymd_opt((century + two(4)) as i32, two(2), two(0))
            .is_some_and(|date| date <= settings.as_of);
        if !valid_date {
            continue;
        }
        // `DDMMYY-NNNN` is also the Danish and Swedish shape: where a label
        // says which, the label decides, and Swedish or Danish words nearby
        // ("svenskt personnummer: …") decide unless Finnish ones do too;
        // the Swedish and Danish readers then take the number.
        let label = ctx.label(start);
        let all_digits = s[6] == b'-' && s[10].is_ascii_digit();
        let other_nordic = || {
            ctx.supports(start, end, &[Cue::Swedish, Cue::Danish])
                && !ctx.supports(start, end, &[Cue::Finnish])
        };
        if label == Some(Cue::NotPersonal)
            || (all_digits && matches!(label, Some(Cue::Danish | Cue::Swedish)))
            || (all_digits && label != Some(Cue::Finnish) && other_nordic())
        {
            continue;
        }
        let supported = ctx.supports(start, end, &[Cue::Finnish, Cue::NationalId]);
        out.push((
            start,
            end,
            Hit {
                detector: DetectorId::FiHetu,
                canonical: m.as_str().to_string(),
                start,
                confidence: if supported {
                    CONFIDENCE_WITH_KEYWORD
                } else {
                    CONFIDENCE_ALONE
                },
            },
        ));
    }
    out
}

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){8,32}")
        .unwrap_or_else(|e| panic!("built-in IBAN pattern is invalid: {e}"))
});

fn find_iban(text: &str, ctx: &LazyContext<'_>) -> Vec<(usize, usize, Hit)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for m in IBAN.find_iter(text) {
        let start = m.start();
        if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let Some(want) = checksum::iban_length(&m.as_str()[..2]) else {
            continue;
        };
        // Take exactly the country's length of characters, skipping spaces.
        let mut compact = String::with_capacity(want);
        let mut end = start;
        for (i, c) in m.as_str().char_indices() {
            if compact.len() == want {
                break;
            }
            if c != ' ' {
                compact.push(c);
            }
            end = start + i + c.len_utf8();
        }
        if compact.len() != want || bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if !checksum::iban(&compact) {
            continue;
        }
        let supported = ctx.supports(start, end, &[Cue::Iban, Cue::BankAccount]);
        out.push((
            start,
            end,
            Hit {
                detector: DetectorId::Iban,
                canonical: compact,
                start,
                confidence: if supported {
                    0.95
                } else {
                    CONFIDENCE_WITH_KEYWORD
                },
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers_in_signatures() {
        for (text, named) in [
            ("Snekker Ola Nordmann\nOrg.nr. 921 760 515", true),
            ("Org. nr: 921760515 MVA", true),
            ("orgnr 974760673", true),
            ("Organisasjonsnummer: 974 760 673", true),
            ("Foretaksregisteret NO 921 760 515 MVA", true),
            ("NO 974760673 MVA", true),
            ("Company reg. no. 974.760.673", true),
            // A wrong check digit, a bare number, a phone number.
            ("Org.nr. 921 760 516", false),
            ("Ring meg på 921 760 515", false),
            ("Tlf. 974 76 067", false),
            ("Org.nr. 123 456 785", false),
            ("", false),
        ] {
            if named {
                let found: Vec<String> = organisation_numbers(text).collect();
                assert!(
                    found == ["921760515"] || found == ["974760673"],
                    "{text}: {found:?}"
                );
            }
            assert_eq!(organisation_numbers(text).next().is_some(), named, "{text}");
        }
    }

    #[test]
    fn spans_merge_and_answer_overlaps() {
        let mut s = Spans::default();
        s.insert(10, 20);
        s.insert(30, 40);
        assert!(s.overlaps(15, 16) && s.overlaps(5, 11) && s.overlaps(39, 50));
        assert!(!s.overlaps(20, 30) && !s.overlaps(0, 10) && !s.overlaps(40, 41));
        s.insert(18, 32);
        assert_eq!(s.0.len(), 1);
        assert!(s.overlaps(25, 26));
    }

    fn settings() -> IdentifierSettings {
        IdentifierSettings {
            as_of: NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
            rule_2032: false,
        }
    }

    fn detect(text: &str) -> Vec<(String, String)> {
        find(text, &settings(), false)
            .into_iter()
            .map(|h| (h.detector.to_string(), h.canonical))
            .collect()
    }

    fn one(text: &str) -> Option<(String, String)> {
        let mut all = detect(text);
        assert!(all.len() <= 1, "{text}: more than one hit");
        all.pop()
    }

    fn d11(s: &str) -> [u8; 11] {
        checksum::digits(s.as_bytes()).expect("11 digits")
    }

    #[test]
    fn written_forms_of_a_fodselsnummer() {
        for text in [
            "15076500565",
            "fnr 150765 00565",
            "150765-00565",
            "15.07.65 00565",
            "15.07.65-00565",
            "15 07 65 00565",
            "nummer 150765\n00565 ok",
            "nummer 150765\r\n> 00565 ok",
            "(15076500565)",
            "15.07.1965 00565",
            "15-07-1965 00565",
            "født 15.07.1965-00565",
        ] {
            assert_eq!(
                one(text),
                Some(("no.fodselsnummer".into(), "15076500565".into())),
                "{text}"
            );
        }
    }

    #[test]
    fn a_four_digit_year_must_be_the_century_the_number_gives() {
        // Individual number 005 gives the 1900s.
        for text in ["15.07.2065 00565", "15.07.1865 00565", "15.07.1965 00566"] {
            assert_eq!(one(text), None, "{text}");
        }
        // Individual number 500+ with year 03 gives the 2000s.
        let n = (500..1000)
            .find_map(|i| complete(&format!("020603{i}")))
            .expect("valid 2003 number");
        let dated = format!("02.06.2003 {}", &n[6..]);
        assert_eq!(one(&dated).map(|h| h.1), Some(n.clone()));
        assert_eq!(one(&format!("02.06.1903 {}", &n[6..])), None);
    }

    #[test]
    fn d_and_h_numbers() {
        assert_eq!(one("41018036736").map(|h| h.0), Some("no.d_nummer".into()));
        // Build an H-number: 15 + (07+40) + 65 + individual 005, checked.
        let h = complete("154765005").expect("valid H-number exists");
        assert_eq!(one(&h).map(|h| h.0), Some("no.h_nummer".into()));
    }

    fn complete(first9: &str) -> Option<String> {
        // Brute-force the two check digits: simplest correct oracle.
        (0..100)
            .map(|k| format!("{first9}{k:02}"))
            .find(|c| checksum::no_national_id_classic(&d11(c)))
    }

    #[test]
    fn test_identities_and_impossible_dates_are_not_people() {
        // Tenor: month + 80; Norsk helsenett: month + 65.
        for first9 in ["158765005", "157265005"] {
            if let Some(n) = complete(first9) {
                assert_eq!(norwegian_id_kind(&d11(&n), &settings()), None, "{n}");
            }
        }
        // 31 February, and a birth date after the scan date (2027).
        for first9 in ["310265005", "010127500"] {
            if let Some(n) = complete(first9) {
                assert_eq!(norwegian_id_kind(&d11(&n), &settings()), None, "{n}");
            }
        }
    }

    #[test]
    fn century_follows_the_individual_number() {
        // 500-749 with YY >= 54 is the 1800s: 1865 exists.
        let n = complete("150765500").expect("exists");
        assert!(norwegian_id_kind(&d11(&n), &settings()).is_some());
        // 500-749 with YY 40..53 is not issued.
        if let Some(n) = complete("150745500") {
            assert_eq!(norwegian_id_kind(&d11(&n), &settings()), None);
        }
        // 750-899 with YY >= 40 is not issued either.
        if let Some(n) = complete("150765800") {
            assert_eq!(norwegian_id_kind(&d11(&n), &settings()), None);
        }
    }

    #[test]
    fn rule_2032_is_a_setting() {
        // A number valid only under the 2032 rule.
        let candidate = (0..1000)
            .map(|i| format!("150720{i:03}"))
            .flat_map(|p| (0..100).map(move |k| format!("{p}{k:02}")))
            .find(|c| {
                let d = d11(c);
                checksum::no_national_id_2032(&d) && !checksum::no_national_id_classic(&d)
            })
            .expect("some exist");
        let d = d11(&candidate);
        assert_eq!(norwegian_id_kind(&d, &settings()), None);
        let on = IdentifierSettings {
            rule_2032: true,
            ..settings()
        };
        assert_eq!(
            norwegian_id_kind(&d, &on),
            Some(DetectorId::NoFodselsnummer)
        );
        assert!(!Rule2032::Auto.enabled(settings().as_of));
        assert!(Rule2032::Auto.enabled(NaiveDate::from_ymd_opt(2032, 1, 1).expect("date")));
    }

    #[test]
    fn accounts_by_written_form_and_label() {
        // 15076500565 passes both checks: its form or label decides.
        assert_eq!(
            one("1507.65.00565").map(|h| h.0),
            Some("no.bank_account".into())
        );
        assert_eq!(
            one("1507 65 00565").map(|h| h.0),
            Some("no.bank_account".into())
        );
        assert_eq!(
            one("Kontonr: 15076500565").map(|h| h.0),
            Some("no.bank_account".into())
        );
        assert_eq!(
            one("Fnr: 1507.65.00565").map(|h| h.0),
            Some("no.fodselsnummer".into())
        );
        // A plain account that is not a valid fødselsnummer: needs a label.
        assert_eq!(one("86011117947"), None);
        assert_eq!(
            one("konto 86011117947").map(|h| h.0),
            Some("no.bank_account".into())
        );
    }

    #[test]
    fn look_alikes_are_not_reported() {
        for text in [
            "KID: 15076500565",
            "Fakturanr. 15076500565",
            "sporingsnummer 15076500565",
            "Org.nr 921 760 515",
            "NO 921760515 MVA",
            "tlf 912 34 567",
            "+47 51 21 19 00",
            "150765005651", // inside a longer run
            "2150765005651",
            "12.15076500565",
            "15076500565.5",
            "1507650056",     // too short
            "20261125153000", // timestamp
            "15076500566",    // bad check digit
            "ID15076500565",  // glued to letters
        ] {
            assert_eq!(one(text), None, "{text}");
        }
    }

    /// `DDMMYY-NNNC` with a digit for the Finnish check character is also
    /// a Swedish number's shape: Swedish words decide (issue 27).
    #[test]
    fn swedish_words_make_a_shared_shape_swedish() {
        // 120312-0025-like numbers pass both: find one.
        let chars = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
        let both = (2..1000)
            .map(|z| format!("120312{z:03}"))
            .find_map(|nine| {
                let c = chars[(nine.parse::<u64>().ok()? % 31) as usize];
                let d: [u8; 10] = checksum::digits(format!("{nine}{}", c as char).as_bytes())?;
                (c.is_ascii_digit() && checksum::luhn(&d))
                    .then(|| format!("{}-{}{}", &nine[..6], &nine[6..], c as char))
            })
            .expect("some number passes both");
        let detectors = |text: &str| -> Vec<String> {
            find(text, &settings(), false)
                .into_iter()
                .map(|h| h.detector.to_string())
                .collect()
        };
        assert_eq!(
            detectors(&format!("Svenskt personnummer: {both}")),
            ["se.personnummer"]
        );
        assert_eq!(
            detectors(&format!("Our Swedish colleague, personal number {both}")),
            ["se.personnummer"]
        );
        assert_eq!(detectors(&format!("Finsk HETU {both}")), ["fi.hetu"]);
        assert_eq!(
            detectors(&format!("Svensk-finsk kollega, henkilötunnus {both}")),
            ["fi.hetu"]
        );
    }

    #[test]
    fn keyword_raises_confidence() {
        let alone = find("15076500565", &settings(), false);
        let labelled = find("Fødselsnummer: 15076500565", &settings(), false);
        assert_eq!(alone[0].confidence, CONFIDENCE_ALONE);
        assert_eq!(labelled[0].confidence, CONFIDENCE_WITH_KEYWORD);
    }

    #[test]
    fn spreadsheet_numbers_that_lost_their_leading_zero() {
        // 02060350186 stored as a number: 2060350186.
        let tabular = |t: &str| {
            find(t, &settings(), true)
                .into_iter()
                .map(|h| h.canonical)
                .collect::<Vec<_>>()
        };
        assert_eq!(tabular("Per;2060350186;"), vec!["02060350186".to_string()]);
        assert!(find("Per;2060350186;", &settings(), false).is_empty());
        assert!(tabular("KID;2060350186").is_empty());
    }

    #[test]
    fn payment_cards() {
        assert_eq!(
            one("4111 1111 1111 1111").map(|h| h.1),
            Some("4111111111111111".into())
        );
        assert_eq!(
            one("kort 5555-5555-5555-4444").map(|h| h.0),
            Some("payment_card".into())
        );
        assert_eq!(
            one("3782 822463 10005").map(|h| h.0),
            Some("payment_card".into())
        );
        assert_eq!(one("4111 1111 1111 1112"), None); // Luhn
        assert_eq!(one("9111 1111 1111 1119"), None); // no issuer
        assert_eq!(one("4111 1111-1111 1111"), None); // mixed separators
        assert_eq!(one("ordre 4111111111111111"), None);
    }

    #[test]
    fn ibans() {
        assert_eq!(
            one("IBAN: NO93 8601 1117 947"),
            Some(("iban".into(), "NO9386011117947".into()))
        );
        assert_eq!(
            one("NO9386011117947 BIC DNBANOKK").map(|h| h.0),
            Some("iban".into())
        );
        assert_eq!(
            one("GB82 WEST 1234 5698 7654 32").map(|h| h.0),
            Some("iban".into())
        );
        assert_eq!(one("NO9386011117948"), None);
    }

    #[test]
    fn nordic_neighbours() {
        // Swedish: 811218-9876 is Skatteverket's classic example (Luhn valid).
        assert_eq!(
            one("811218-9876").map(|h| h.0),
            Some("se.personnummer".into())
        );
        assert_eq!(
            one("personnummer 19811218-9876").map(|h| h.0),
            Some("se.personnummer".into())
        );
        assert_eq!(one("198112189876"), None); // plain 12 digits need a keyword
        // 070761-4285 is valid in both forms (Swedish day 61 = samordningsnummer):
        // a CPR label makes it Danish, without one the Swedish reading wins.
        assert_eq!(
            one("CPR-nr. 070761-4285").map(|h| h.0),
            Some("dk.cpr".into())
        );
        assert_eq!(
            one("070761-4285").map(|h| h.0),
            Some("se.personnummer".into())
        );
        // Fails Luhn, passes the Danish modulus 11: Danish.
        assert_eq!(one("150372-1003").map(|h| h.0), Some("dk.cpr".into()));
        // Finnish.
        assert_eq!(
            one("HETU 131052-308T"),
            Some(("fi.hetu".into(), "131052-308T".into()))
        );
        assert_eq!(one("131052-308U"), None);
        // Ten plain digits: only with a label.
        assert_eq!(one("0707614285"), None);
        assert_eq!(one("CPR 0707614285").map(|h| h.0), Some("dk.cpr".into()));
    }
}
