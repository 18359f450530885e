//! Context words: the labels people write next to a number, which tell a
//! fødselsnummer from a bank account, an invoice number or a KID when the
//! digits alone cannot.
//!
//! Two signals come out of it, as in Purview and Presidio: the *label* (the
//! nearest keyword shortly before the number, which decides what the number
//! is) and *support* (a keyword of the right kind anywhere within a few hundred
//! characters, which raises confidence).

use std::sync::LazyLock;

/// What a context keyword says about a nearby number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// A national identity number (any country).
    NationalId,
    /// Swedish wording.
    Swedish,
    /// Danish wording.
    Danish,
    /// Finnish wording.
    Finnish,
    BankAccount,
    PaymentCard,
    Iban,
    /// A number that is not personal data: KID, invoice, order, tracking,
    /// phone, organisation number, customer or case number.
    NotPersonal,
}

/// How far before a number its label may stand (characters of text).
const LABEL_REACH: usize = 60;
/// How far a supporting keyword may stand, either side, as Purview's 300.
const SUPPORT_REACH: usize = 300;
/// Bytes searched either side of a candidate: the reach in characters of up
/// to four bytes each.
pub const WINDOW_BYTES: usize = SUPPORT_REACH * 4;

// Order matters only for readability; classes are told apart by capture group.
/// Builds the keyword search now (see [`super::identifiers::prepare`]).
pub fn prepare() {
    LazyLock::force(&KEYWORDS);
}

/// One pattern per cue, in the order the cues are tried at a position (the
/// first that matches wins, as in an alternation). A multi-pattern search
/// says which pattern matched without resolving capture groups, which cost
/// a backtracking pass per keyword and were a large share of a scan.
static KEYWORDS: LazyLock<regex_automata::meta::Regex> = LazyLock::new(|| {
    let national = r"fødselsnummer(?:et)?|fødselsnr|fødselsnummer|f\.?\s?nr|fnr|personnummer(?:et)?|personnr|pers\.?\s?nr|pnr|d-?nummer(?:et)?|d-?nr|h-?nummer|id-?nummer|identitetsnummer|personal (?:id|identity) number|national (?:id|identity|identification) (?:no|number)|national id|social security|ssn|f(?:ø|o)dt|birth number";
    let swedish = r"samordningsnummer|svensk(?:t|e)?|swedish|sverige|sweden";
    let danish = r"cpr(?:-?(?:nr|nummer|number))?|dansk(?:e)?|danish|danmark|denmark";
    let finnish = r"hetu|henkilötunnus|personbeteckning|finsk(?:e)?|finnish|suomi|finland";
    let account = r"kontonummer(?:et)?|kontonr|konto|bankkonto|kto|account(?: number| no)?|acct|betal(?:es)? til|innbetaling til|overfør(?:es)? til|til konto";
    let card = r"kortnummer(?:et)?|kredittkort(?:et)?|bankkort(?:et)?|betalingskort(?:et)?|kort|card(?: number)?|credit card|debit card|visa|mastercard|master card|amex|american express|cvc|cvv|utløpsdato|expiry|exp";
    let iban = r"iban|bic|swift";
    let not_personal = r"kid(?:-?nummer|-?nr)?|faktura(?:nummer|nr)?|fakturanr|invoice(?: number| no)?|ordre(?:nummer|nr)?|order(?: number| no| id)?|bestilling(?:snummer|snr)?|booking(?:nummer|nr)?|sporing(?:snummer|snr)?|tracking(?: number| no)?|sendingsnummer|kolli|referanse(?:nummer|nr)?|ref\.?(?:nr)?|reference|saksnummer|saksnr|sak|case(?: number| no)?|ticket|billett(?:nummer)?|kundenummer|kundenr|customer(?: number| no| id)?|medlemsnummer|medlemsnr|member(?:ship)?(?: number| no)?|avtalenummer|avtalenr|polisenummer|polise|policy(?: number| no)?|tlf|telefon(?:nummer)?|mobil(?:nummer)?|phone|tel|fax|org\.?\s?nr|orgnr|organisasjonsnummer|organisation number|foretaksnummer|mva|serienummer|serial(?: number| no)?|artikkel(?:nummer|nr)?|varenummer|varenr|sku|ean|gtin|journalnummer|løpenummer|transaksjons(?:id|nummer)|transaction(?: id)?|ordrenr|kvitteringsnummer|receipt|bilagsnummer|bilagsnr|bilag|prosjektnummer|prosjektnr|pakkenummer|pakkenr|sendingsnr|lisensnummer|lisens|serial|vår ref|deres ref|hendelsesnummer|ticket(?: id)?|sak(?:s)?id|konto(?:nummer)?\s+for\s+kid";
    // ASCII word boundaries keep the regex on its fast engines; no keyword
    // starts or ends with a non-ASCII letter.
    let patterns: Vec<String> = [
        national,
        swedish,
        danish,
        finnish,
        account,
        card,
        iban,
        not_personal,
    ]
    .iter()
    .map(|words| format!(r"(?i)(?-u:\b)(?:{words})(?-u:\b)"))
    .collect();
    regex_automata::meta::Regex::new_many(&patterns)
        .unwrap_or_else(|e| panic!("built-in keyword pattern is invalid: {e}"))
});

/// Keyword hits in one text, found once and queried per number.
#[derive(Debug, Default)]
pub struct Context {
    /// (start byte, end byte, cue), in text order.
    hits: Vec<(usize, usize, Cue)>,
}

impl Context {
    /// Keyword hits in `text[lo..hi]` only (offsets stay those of `text`):
    /// a number's context is the few hundred characters around it, and
    /// searching a whole long message per candidate would cost more than
    /// everything else.
    /// Returns the context and the byte window searched.
    pub fn find_around(text: &str, start: usize, end: usize) -> (Context, usize, usize) {
        let lo = floor_char_boundary(text, start.saturating_sub(WINDOW_BYTES));
        let hi = ceil_char_boundary(text, (end + WINDOW_BYTES).min(text.len()));
        let mut ctx = Context::find(&text[lo..hi]);
        for hit in &mut ctx.hits {
            hit.0 += lo;
            hit.1 += lo;
        }
        (ctx, lo, hi)
    }

    /// Whether a context found over `lo..hi` answers every question about
    /// `start..end` that a full-text context would.
    pub fn window_covers(text: &str, lo: usize, hi: usize, start: usize, end: usize) -> bool {
        (lo == 0 || start >= lo + WINDOW_BYTES) && (hi >= text.len() || end + WINDOW_BYTES <= hi)
    }

    pub fn find(text: &str) -> Context {
        const CUES: [Cue; 8] = [
            Cue::NationalId,
            Cue::Swedish,
            Cue::Danish,
            Cue::Finnish,
            Cue::BankAccount,
            Cue::PaymentCard,
            Cue::Iban,
            Cue::NotPersonal,
        ];
        let hits = KEYWORDS
            .find_iter(text)
            .filter_map(|m| Some((m.start(), m.end(), *CUES.get(m.pattern().as_usize())?)))
            .collect();
        Context { hits }
    }

    /// The label that speaks for the value starting at `start`, if any:
    /// a label speaks for its own value, its own cell or its own column,
    /// never for its neighbours' (see [`Context::label_hit`]).
    pub fn label(&self, text: &str, start: usize) -> Option<Cue> {
        self.label_hit(text, start).map(|(cue, _)| cue)
    }

    /// The label's own words (as `label` finds it).
    pub fn label_word<'t>(&self, text: &'t str, start: usize) -> Option<&'t str> {
        self.label_hit(text, start).map(|(_, word)| word)
    }

    /// Where a value's label is, in the order people write them:
    /// 1. before it on its own line, with no value of its own between
    ///    ("Tlf. 22 33 44 55, 15076500565": the phone label has its
    ///    number), not across a sentence ("phone me … the number is") and
    ///    not from another cell unless alone in the cell just before;
    /// 2. alone at the end of the line above, as a form writes a label and
    ///    its value below ("Fødselsnummer:" then the number); a label that
    ///    has its own value there does not carry to the next line.
    ///
    /// Plain-text tables reach here as one paragraph per cell, its column's
    /// header first (`extract::table::as_records`), so a header speaks for
    /// its own column only.
    fn label_hit<'t>(&self, text: &'t str, start: usize) -> Option<(Cue, &'t str)> {
        let idx = self.hits.partition_point(|&(_, end, _)| end <= start);
        let &(s, e, cue) = self.hits.get(idx.checked_sub(1)?)?;
        // Only the text from the label to the value is read: a value's line
        // may be megabytes long, and a scan asks this of every candidate.
        let Some(last_break) = text[s..start].rfind('\n').map(|i| s + i) else {
            // The line's own label, or another value's.
            return speaks_for(&text[e..start]).then(|| (cue, &text[s..e]));
        };
        // A value earlier on the line takes the line above's label.
        if value_like(&text[last_break + 1..start]) {
            return None;
        }
        // The label must stand on the line just above, alone at its end.
        let above = &text[s..last_break];
        if above.contains('\n') {
            return None;
        }
        let above_end = s + above.trim_end_matches('\r').len();
        if e > above_end {
            return None;
        }
        text[e..above_end]
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, ':' | '.' | '-' | '#' | ')' | '('))
            .then(|| (cue, &text[s..e]))
    }

    /// Whether a keyword with one of `cues` stands within the support reach of
    /// the span `start..end`.
    pub fn supports(&self, text: &str, start: usize, end: usize, cues: &[Cue]) -> bool {
        let lo = floor_char_boundary(text, start.saturating_sub(SUPPORT_REACH * 2));
        let hi = ceil_char_boundary(text, (end + SUPPORT_REACH * 2).min(text.len()));
        self.hits.iter().any(|&(s, e, cue)| {
            cues.contains(&cue)
                && s >= lo
                && e <= hi
                && if e <= start {
                    text[e..start].chars().count() <= SUPPORT_REACH
                } else if s >= end {
                    text[end..s].chars().count() <= SUPPORT_REACH
                } else {
                    true
                }
        })
    }
}

/// Whether text between a label and a value leaves the label speaking for
/// the value: short, no value of its own, no sentence break, and within
/// one cell (or the label alone in the cell just before).
fn speaks_for(between: &str) -> bool {
    if between.chars().count() > LABEL_REACH || value_like(between) {
        return false;
    }
    let words = between
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .count();
    if words > MAX_WORDS_BETWEEN {
        return false;
    }
    // "I'll phone you. My number …": a label does not cross a sentence.
    let mut chars = between.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '.' | '!' | '?') {
            let mut spaced = false;
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
                spaced = true;
            }
            if spaced && chars.peek().is_some_and(|c| c.is_alphabetic()) {
                return false;
            }
        }
    }
    // A label in another cell (tab, `;`, `|` or columns of spaces between)
    // speaks only from the cell right before the value's, alone there
    // ("Fødselsnummer:\t15076500565", "Kontonr.    1234.56.78903").
    let other_cell = ["\t", "  ", ";", "|"]
        .iter()
        .any(|sep| between.contains(sep));
    !other_cell || words == 0
}

/// Words a label may stand from its value ("kontonummer for innbetaling
/// er 1234.56.78903"); a sentence that mentions a phone and, later, a
/// number is not a label.
const MAX_WORDS_BETWEEN: usize = 5;

/// Whether `text` holds a value of its own: five digits or more.
fn value_like(text: &str) -> bool {
    text.bytes().filter(u8::is_ascii_digit).count() >= 5
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_before(text: &str, needle: &str) -> Option<Cue> {
        let at = text.find(needle).expect("needle in text");
        Context::find(text).label(text, at)
    }

    #[test]
    fn labels_table() {
        let cases = [
            ("Fnr: 15076500565", Some(Cue::NationalId)),
            ("fødselsnr. 15076500565", Some(Cue::NationalId)),
            ("Personnr 15076500565", Some(Cue::NationalId)),
            ("D-nummer: 15076500565", Some(Cue::NationalId)),
            ("Kontonummer: 15076500565", Some(Cue::BankAccount)),
            ("betales til 15076500565", Some(Cue::BankAccount)),
            ("KID: 15076500565", Some(Cue::NotPersonal)),
            ("Fakturanr. 15076500565", Some(Cue::NotPersonal)),
            ("Sporingsnummer 15076500565", Some(Cue::NotPersonal)),
            ("CPR-nr. 15076500565", Some(Cue::Danish)),
            ("Ring meg på 15076500565", None),
        ];
        for (text, want) in cases {
            assert_eq!(label_before(text, "1507"), want, "{text}");
        }
    }

    #[test]
    fn the_nearest_label_wins() {
        let text = "Fnr er ikke nødvendig, bare kontonr 15076500565";
        assert_eq!(label_before(text, "1507"), Some(Cue::BankAccount));
    }

    #[test]
    fn labels_do_not_reach_across_paragraphs_or_far() {
        assert_eq!(label_before("Fnr:\n\nHei 15076500565", "1507"), None);
        let far = format!("Fnr {} 15076500565", "x".repeat(80));
        assert_eq!(label_before(&far, "1507"), None);
    }

    /// A label speaks for its own value (issue 27's "labels that reach too
    /// far"): each case was labelled by its neighbour's word before.
    #[test]
    fn a_label_speaks_for_its_own_value_only() {
        let cases = [
            // A signature's phone line does not label the next line.
            ("Mvh Kari\nTlf. 22 33 44 55\n15076500565", None),
            ("Tlf: 22334455\n4111111111111111", None),
            // Nor does an account label with its own account.
            ("Kontonummer: 1234.56.78903\n15076500565", None),
            ("IBAN NO93 8601 1117 947\n15076500565", None),
            // A phone label with its number, then another value on the line.
            ("Tlf. 22 33 44 55, 15076500565", None),
            // "phone" in a sentence, and a number later in it or the next.
            (
                "Please phone me when you have checked the papers, the one I mean is 15076500565",
                None,
            ),
            ("Ring meg på mobil. Nummeret er 15076500565", None),
            // What stays a label: alone above its value, a few words before
            // it, or alone in the cell just before.
            ("Fødselsnummer:\n15076500565", Some(Cue::NationalId)),
            ("Kontonummer:\r\n15076500565", Some(Cue::BankAccount)),
            (
                "kontonummer for innbetaling er 15076500565",
                Some(Cue::BankAccount),
            ),
            ("Fødselsnummer:\t15076500565", Some(Cue::NationalId)),
            ("Kontonr.        15076500565", Some(Cue::BankAccount)),
            ("Tlf. 22 33 44 55", Some(Cue::NotPersonal)),
        ];
        for (text, want) in cases {
            let at = text
                .rfind(|c: char| !c.is_ascii_digit() && c != ' ' && c != '.')
                .map_or(0, |i| i + 1);
            let at = at + text[at..].find(|c: char| c.is_ascii_digit()).unwrap_or(0);
            assert_eq!(Context::find(text).label(text, at), want, "{text:?}");
        }
    }

    #[test]
    fn support_reaches_either_side() {
        let text = format!("15076500565 {} fødselsnummer", "y".repeat(200));
        let ctx = Context::find(&text);
        assert!(ctx.supports(&text, 0, 11, &[Cue::NationalId]));
        assert!(!ctx.supports(&text, 0, 11, &[Cue::BankAccount]));
        let text = format!("15076500565 {} fødselsnummer", "y".repeat(400));
        assert!(!Context::find(&text).supports(&text, 0, 11, &[Cue::NationalId]));
    }

    #[test]
    fn words_that_merely_contain_a_keyword_do_not_count() {
        // "sak" inside "saken", "kort" inside "kortere", "tel" inside "hotel".
        assert_eq!(label_before("Saken 15076500565", "1507"), None);
        assert_eq!(label_before("kortere 15076500565", "1507"), None);
        assert_eq!(label_before("hotel 15076500565", "1507"), None);
    }
}
