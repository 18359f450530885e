//! GDPR art. 9/10 special categories (health, trade union, religion, ...),
//! found by phrase lists that live in `rules/` as data.
//!
//! Single words are weak evidence in mail ("behandling" is usually about
//! personal-data processing, "Høyre" is often just "right"), so terms come in
//! tiers: a *high* term is enough on its own, a *medium* term needs a second
//! signal (another term of the category or a person's identifier in the same
//! message), a *noisy* term only ever supports. *Traps* are longer phrases that
//! contain a term but mean something else; they consume the match.
//!
//! Term syntax: `sykmeld*` matches any word starting `sykmeld`; `*sykmeld*`
//! also inside compounds (`langtidssykmeldt`); a term with capital letters
//! (`DPS`) matches in that case only; `re:` starts a regular expression.

use super::term_search::{TermSearch, char_after, char_before, is_word_char};
use crate::model::Location;
use regex::bytes::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;

/// How much a term says on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Noisy,
    Medium,
    High,
}

/// One category as written in a phrase-list file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub high: Vec<String>,
    #[serde(default)]
    pub medium: Vec<String>,
    #[serde(default)]
    pub noisy: Vec<String>,
    #[serde(default)]
    pub traps: Vec<String>,
    /// Terms built from sources: lemmas inflected, personal frames applied
    /// (see `inflect`).
    #[serde(default)]
    pub vocabulary: Vec<super::inflect::VocabularySource>,
}

/// A phrase-list file: `[categories.<name>]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseFile {
    pub categories: BTreeMap<String, CategorySpec>,
}

/// The most term bytes one automaton takes. Well below what the automaton
/// builder can represent, so building it cannot fail once this is checked.
const MAX_TERM_BYTES: usize = 1 << 20;

/// The terms of one search, within the size its automaton can be built
/// at: so building it cannot fail once this is checked.
fn bounded(terms: Vec<(Vec<u8>, bool)>) -> Result<TermSearch, TermError> {
    let search = TermSearch::new(terms);
    match search.total_bytes() {
        bytes if bytes > MAX_TERM_BYTES => Err(TermError::TooLarge(bytes)),
        _ => Ok(search),
    }
}

/// A term compiled for matching.
#[derive(Debug, Clone)]
struct Term {
    category: usize,
    /// `None` for traps.
    tier: Option<Tier>,
    /// Index of the distinct term within its category, to count distinct terms.
    id: usize,
    open_end: bool,
    /// A vocabulary term: its source's frames (an index into
    /// `SpecialCategories::frames`) and the id its personal form counts as.
    framed: Option<(Vec<usize>, usize)>,
}

/// A vocabulary source's frames, folded: the words before and after a term
/// that make it a personal statement (high) or a routine mention (nothing).
#[derive(Debug, Clone, Default)]
struct Frames {
    personal: Vec<Frame>,
    neutral: Vec<Frame>,
}

/// The words before the term (ending in a space) and after it (starting
/// with one); either may be empty.
type Frame = (Vec<u8>, Vec<u8>);

/// All categories, compiled.
#[derive(Debug, Clone)]
pub struct SpecialCategories {
    names: Vec<String>,
    folded: TermSearch,
    folded_terms: Vec<Term>,
    exact: TermSearch,
    exact_terms: Vec<Term>,
    patterns: Vec<(Regex, Term)>,
    /// All the patterns as one alternation, asked first: it matches where
    /// any of them does, in one pass over the text with one prefilter
    /// (three passes, one per pattern, were 4% of a scan), and most texts
    /// match none. `None` when there are no patterns or the alternation
    /// is past the size limit (then each is asked).
    any_pattern: Option<Regex>,
    frames: Vec<Frames>,
}

/// Why a term could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("category name `{0}` must be lowercase letters, digits and `_`")]
    BadCategoryName(String),
    #[error("empty term")]
    Empty,
    #[error("invalid regular expression `{term}`: {reason}")]
    BadRegex { term: String, reason: String },
    #[error("`*` may only stand at the start or end of a term: `{0}`")]
    MisplacedWildcard(String),
    #[error("the terms add up to {0} bytes; at most {MAX_TERM_BYTES} are allowed")]
    TooLarge(usize),
    #[error("vocabulary: {0}")]
    Vocabulary(String),
}

/// What one message showed of each category.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    /// Per category: distinct term ids per tier, and where each tier was first
    /// seen.
    per_category: BTreeMap<usize, CategoryEvidence>,
}

#[derive(Debug, Default, Clone)]
struct CategoryEvidence {
    high: Vec<usize>,
    medium: Vec<usize>,
    noisy: Vec<usize>,
    first_high: Option<Location>,
    first_medium: Option<Location>,
    /// A medium term stood in a sentence about a named person ("Kari
    /// Nordmann ligg inne med lungebetennelse") or told of one by a
    /// personal pronoun: that person is the second signal.
    about_person: bool,
}

/// A category the message is judged to contain.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryFinding {
    pub category: String,
    pub location: Location,
    pub confidence: f32,
}

/// Lowercases and collapses whitespace runs to one space, so multi-word terms
/// match across line breaks and no-break spaces.
///
/// This runs over every byte of every message, so it works on bytes in
/// passes a compiler can vectorise: the ASCII letters and whitespace in
/// place; then, only where there is non-ASCII text, each such character in
/// place when its folded form is as long (the Latin-1 capitals `Æ Ø Å É`…,
/// no-break and other Unicode spaces as spaces, Greek and Cyrillic capitals);
/// then runs of spaces collapsed. A piece with a character whose folded form
/// is longer or shorter (`İ`) goes through the per-character path instead.
/// The output is valid UTF-8, kept as bytes to spare a validation pass.
fn fold_into(text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(text.as_bytes());
    for b in out.iter_mut() {
        let x = *b;
        let upper = x.wrapping_sub(b'A') < 26;
        let space = matches!(x, b'\t' | b'\n' | 0x0C | b'\r');
        *b = if upper {
            x + 32
        } else if space {
            b' '
        } else {
            x
        };
    }
    if !out.is_ascii() && !fold_non_ascii_in_place(text, out) {
        fold_chars(text, out);
        return;
    }
    collapse_spaces(out);
}

/// The first byte at or after `from` that is not ASCII, eight at a time.
fn next_non_ascii(bytes: &[u8], from: usize) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let high = u64::from_le_bytes(word) & HIGH;
        if high != 0 {
            return Some(i + high.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b >= 0x80).map(|p| i + p)
}

/// Folds the non-ASCII characters of `text` into `out` (a same-length copy),
/// in place. `false` when one of them folds to a different length.
fn fold_non_ascii_in_place(text: &str, out: &mut [u8]) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(i) = next_non_ascii(bytes, at) {
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            return false;
        };
        let len = c.len_utf8();
        at = i + len;
        if bytes[i] == 0xC3 {
            // Latin-1 letters: `À`–`Þ` (but `×`) lower by 0x20, the rest
            // (`ß`, `à`–`ÿ`, `÷`) are already as folded.
            let second = bytes[i + 1];
            if (0x80..=0x9E).contains(&second) && second != 0x97 {
                out[i + 1] = second + 0x20;
            }
        } else if c.is_whitespace() {
            out[i..at].fill(b' ');
        } else {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) if l == c => {}
                (Some(l), None) if l.len_utf8() == len => {
                    l.encode_utf8(&mut out[i..at]);
                }
                _ => return false,
            }
        }
    }
    true
}

/// Collapses every run of spaces to one, moving the text between runs down.
fn collapse_spaces(buf: &mut Vec<u8>) {
    // Built once: building a searcher per text cost more than the search.
    static PAIR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"  "));
    let Some(first) = PAIR.find(buf) else {
        return;
    };
    let mut write = first + 1;
    let mut read = first + 1;
    while read < buf.len() {
        while buf.get(read) == Some(&b' ') {
            read += 1;
        }
        // Up to and including the first space of the next run.
        let end = PAIR.find(&buf[read..]).map_or(buf.len(), |p| read + p + 1);
        buf.copy_within(read..end, write);
        write += end - read;
        read = end;
    }
    buf.truncate(write);
}

/// The per-character fold, for text [`fold_non_ascii_in_place`] cannot
/// handle.
fn fold_chars(text: &str, out: &mut Vec<u8>) {
    out.clear();
    let mut in_space = false;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_whitespace() && c != '\u{0B}' {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            for l in c.to_lowercase() {
                out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
            }
            in_space = false;
        }
    }
}

fn fold(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    fold_into(text, &mut out);
    out
}

thread_local! {
    /// The folded copy of the piece being scanned, reused from piece to piece.
    static FOLDED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl SpecialCategories {
    pub fn empty() -> Self {
        SpecialCategories {
            names: Vec::new(),
            folded: TermSearch::new(Vec::new()),
            folded_terms: Vec::new(),
            exact: TermSearch::new(Vec::new()),
            exact_terms: Vec::new(),
            patterns: Vec::new(),
            any_pattern: None,
            frames: Vec::new(),
        }
    }

    pub fn compile(categories: &BTreeMap<String, CategorySpec>) -> Result<Self, TermError> {
        let mut names = Vec::new();
        let mut folded_pats: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut folded_terms: Vec<Term> = Vec::new();
        let mut exact_pats: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut exact_terms: Vec<Term> = Vec::new();
        let mut patterns = Vec::new();
        let mut frames: Vec<Frames> = Vec::new();
        let mut vocabulary_terms: std::collections::HashMap<
            (usize, bool, Vec<u8>, bool, bool),
            usize,
        > = std::collections::HashMap::new();
        // The category's listed terms (high, medium, noisy, traps): a
        // vocabulary term written the same way would be found as the
        // listed one, its frames never (refused, naming it).
        let mut listed: std::collections::HashSet<(usize, bool, Vec<u8>, bool, bool)> =
            std::collections::HashSet::new();
        for (ci, (name, spec)) in categories.iter().enumerate() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(TermError::BadCategoryName(name.clone()));
            }
            names.push(name.clone());
            let tiers = [
                (Some(Tier::High), &spec.high),
                (Some(Tier::Medium), &spec.medium),
                (Some(Tier::Noisy), &spec.noisy),
                (None, &spec.traps),
            ];
            let mut id = 0;
            let mut add = |raw: &str,
                           tier: Option<Tier>,
                           id: usize,
                           framed: Option<(Vec<usize>, usize)>|
             -> Result<(), TermError> {
                let raw = raw.trim();
                if let Some(re) = raw.strip_prefix("re:") {
                    // `\b` is an ASCII word boundary here: a Unicode one
                    // forces the regex engine off its DFA on Norwegian
                    // text, and every pattern runs over every message.
                    let re = re.replace("\\b", "(?-u:\\b)");
                    let regex = Regex::new(&re).map_err(|e| TermError::BadRegex {
                        term: raw.to_string(),
                        reason: e.to_string(),
                    })?;
                    let term = Term {
                        category: ci,
                        tier,
                        id,
                        open_end: true,
                        framed,
                    };
                    patterns.push((regex, term));
                    return Ok(());
                }
                let open_start = raw.starts_with('*');
                let open_end = raw.ends_with('*');
                let core = raw.trim_matches('*');
                if core.is_empty() {
                    return Err(TermError::Empty);
                }
                if core.contains('*') {
                    return Err(TermError::MisplacedWildcard(raw.to_string()));
                }
                let exact = core.chars().any(char::is_uppercase);
                let pattern = if exact {
                    core.as_bytes().to_vec()
                } else {
                    fold(core)
                };
                let key = (ci, exact, pattern.clone(), open_start, open_end);
                if framed.is_none() {
                    listed.insert(key.clone());
                } else if listed.contains(&key) {
                    return Err(TermError::Vocabulary(format!(
                        "`{raw}` is also listed as a term of the category (high, medium, noisy or traps): its frames would never match; keep it in one place"
                    )));
                }
                // A form in several sources (`diabetes`, Norwegian and
                // English) is one term that knows every source's frames.
                if let Some((sets, _)) = &framed {
                    if let Some(&at) = vocabulary_terms.get(&key) {
                        let existing = if exact {
                            &mut exact_terms[at]
                        } else {
                            &mut folded_terms[at]
                        };
                        if let Some((known, _)) = existing.framed.as_mut() {
                            known.extend(sets.iter().copied());
                        }
                        return Ok(());
                    }
                    let at = if exact {
                        exact_terms.len()
                    } else {
                        folded_terms.len()
                    };
                    vocabulary_terms.insert(key, at);
                }
                let term = Term {
                    category: ci,
                    tier,
                    id,
                    open_end,
                    framed,
                };
                if exact {
                    // Matched on the text as written: exact-case terms
                    // are single tokens (acronyms), not phrases.
                    exact_pats.push((pattern, open_start));
                    exact_terms.push(term);
                } else {
                    folded_pats.push((pattern, open_start));
                    folded_terms.push(term);
                }
                Ok(())
            };
            for (tier, terms) in tiers {
                for raw in terms {
                    id += 1;
                    add(raw, tier, id, None)?;
                }
            }
            // A lemma counts once however it is inflected: its bare forms
            // share one id, its framed phrases another.
            for source in &spec.vocabulary {
                let bare_tier = match source.bare.as_deref() {
                    None | Some("medium") => Tier::Medium,
                    Some("noisy") => Tier::Noisy,
                    Some(other) => {
                        return Err(TermError::Vocabulary(format!(
                            "source {}: bare = \"{other}\" (medium or noisy)",
                            source.name
                        )));
                    }
                };
                let expanded = super::inflect::expand(source).map_err(TermError::Vocabulary)?;
                let fold_all = |frames: &[String]| -> Result<Vec<Frame>, TermError> {
                    Ok(super::inflect::frame_parts(frames)
                        .map_err(TermError::Vocabulary)?
                        .iter()
                        .map(|(before, after)| (fold_side(before), fold_side(after)))
                        .collect())
                };
                frames.push(Frames {
                    personal: fold_all(&source.frames)?,
                    neutral: fold_all(&source.neutral)?,
                });
                let set = frames.len() - 1;
                for lemma in expanded {
                    id += 2;
                    for form in &lemma {
                        add(form, Some(bare_tier), id - 1, Some((vec![set], id)))?;
                    }
                }
            }
        }
        let any_pattern = match patterns.as_slice() {
            [] | [_] => None,
            several => {
                let alternation: Vec<String> = several
                    .iter()
                    .map(|(regex, _)| format!("(?:{})", regex.as_str()))
                    .collect();
                Regex::new(&alternation.join("|")).ok()
            }
        };
        Ok(SpecialCategories {
            names,
            folded: bounded(folded_pats)?,
            folded_terms,
            exact: bounded(exact_pats)?,
            exact_terms,
            patterns,
            any_pattern,
            frames,
        })
    }

    /// Builds the term automatons now rather than at the first message.
    pub fn prepare(&self) {
        self.folded.prepare();
        self.exact.prepare();
    }

    pub fn category_names(&self) -> &[String] {
        &self.names
    }

    /// Adds what one piece of text shows to the message's evidence.
    pub fn scan(&self, text: &str, location: &Location, evidence: &mut Evidence) {
        if self.names.is_empty() {
            return;
        }
        self.scan_terms(text, location, evidence);
        // A medium term with nothing beside it yet: is it said of a person?
        // Only then are the sentences read again, one by one (rare).
        let waiting = evidence.per_category.values().any(|ev| {
            !ev.medium.is_empty() && ev.high.is_empty() && ev.noisy.is_empty() && !ev.about_person
        });
        if !waiting {
            return;
        }
        for sentence in sentences(text).filter(|s| about_a_person(s)) {
            let mut here = Evidence::default();
            self.scan_terms(sentence, location, &mut here);
            for (ci, said) in here.per_category {
                if !said.medium.is_empty()
                    && let Some(ev) = evidence.per_category.get_mut(&ci)
                {
                    ev.about_person = true;
                }
            }
        }
    }

    /// The terms one piece of text holds, into the message's evidence.
    fn scan_terms(&self, text: &str, location: &Location, evidence: &mut Evidence) {
        FOLDED.with_borrow_mut(|folded| {
            fold_into(text, folded);
            self.collect(&self.folded, &self.folded_terms, folded, location, evidence);
            if self
                .any_pattern
                .as_ref()
                .is_none_or(|any| any.is_match(folded))
            {
                for (regex, term) in &self.patterns {
                    if regex.is_match(folded) {
                        record(term, location, evidence);
                    }
                }
            }
        });
        self.collect(
            &self.exact,
            &self.exact_terms,
            text.as_bytes(),
            location,
            evidence,
        );
    }

    fn collect(
        &self,
        search: &TermSearch,
        terms: &[Term],
        text: &[u8],
        location: &Location,
        evidence: &mut Evidence,
    ) {
        // Leftmost-longest, so a trap or a longer term consumes what it
        // covers ("psykisk helse" is not also "helse"); but a match rejected
        // at a word boundary must not hide a later one ("er syk" cut short in
        // "er sykmeldt" must not hide "sykmeldt"), so the search then resumes
        // one byte on instead of after it. A term that must begin a word is
        // only looked for where one begins (see `term_search`).
        let Some(mut finder) = search.finder(text) else {
            return;
        };
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = finder.find_from(pos) else {
                break;
            };
            let term = &terms[m.pattern];
            if !term.open_end && is_word_char(char_after(text, m.end)) {
                pos = m.start + 1;
                continue;
            }
            match &term.framed {
                Some((sets, personal_id)) => {
                    let before = &text[..m.start];
                    let after = &text[m.end..];
                    let framed_by = |pick: fn(&Frames) -> &Vec<Frame>| {
                        sets.iter().any(|&set| {
                            pick(&self.frames[set]).iter().any(|(pre, post)| {
                                (pre.is_empty() || stands_before(before, pre))
                                    && (post.is_empty() || stands_after(after, post))
                            })
                        })
                    };
                    if framed_by(|f| &f.neutral) {
                        // "kurs om diabetes": a routine mention.
                    } else if framed_by(|f| &f.personal) {
                        let personal = Term {
                            tier: Some(Tier::High),
                            id: *personal_id,
                            ..term.clone()
                        };
                        record(&personal, location, evidence);
                    } else {
                        record(term, location, evidence);
                    }
                }
                None => record(term, location, evidence),
            }
            pos = m.end;
        }
    }

    /// Whether the message showed any term of `category`, at any tier:
    /// weaker than a finding, for judgements where doubt must count.
    pub fn mentions(&self, evidence: &Evidence, category: &str) -> bool {
        self.names
            .iter()
            .position(|n| n == category)
            .and_then(|ci| evidence.per_category.get(&ci))
            .is_some_and(|ev| !ev.high.is_empty() || !ev.medium.is_empty() || !ev.noisy.is_empty())
    }

    /// Decides, per category, whether the message contains it.
    /// `has_person_identifier` is the second signal a medium term may lean on.
    pub fn judge(&self, evidence: &Evidence, has_person_identifier: bool) -> Vec<CategoryFinding> {
        self.judge_with(evidence, |_| has_person_identifier)
    }

    /// [`SpecialCategories::judge`], where a person's identifier supports a
    /// medium term only when `near_identifier` (the passages around the
    /// message's identifiers, scanned on their own) holds a medium term of
    /// the same category: an ID number in a form and "skadet" (damaged) in
    /// an error message three paragraphs on are not one person's health.
    pub fn judge_near(
        &self,
        evidence: &Evidence,
        near_identifier: &Evidence,
    ) -> Vec<CategoryFinding> {
        self.judge_with(evidence, |ci| {
            near_identifier
                .per_category
                .get(&ci)
                .is_some_and(|near| !near.medium.is_empty() || !near.high.is_empty())
        })
    }

    fn judge_with(
        &self,
        evidence: &Evidence,
        has_person_identifier: impl Fn(usize) -> bool,
    ) -> Vec<CategoryFinding> {
        let mut out = Vec::new();
        for (&ci, ev) in &evidence.per_category {
            let (confidence, location) = if !ev.high.is_empty() {
                let c = if ev.high.len() >= 2 || !ev.medium.is_empty() {
                    0.95
                } else {
                    0.9
                };
                (c, ev.first_high.clone())
            } else if ev.medium.len() >= 2 {
                (0.8, ev.first_medium.clone())
            } else if !ev.medium.is_empty()
                && (!ev.noisy.is_empty() || ev.about_person || has_person_identifier(ci))
            {
                (0.7, ev.first_medium.clone())
            } else {
                continue;
            };
            if let Some(location) = location {
                out.push(CategoryFinding {
                    category: self.names[ci].clone(),
                    location,
                    confidence,
                });
            }
        }
        out
    }
}

/// The sentences of a text as written: split at sentence marks, semicolons
/// and line breaks (an abbreviation's full stop splits too: that only ever
/// makes a sentence shorter).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['.', '!', '?', ';', '\n', '\r'])
        .filter(|s| !s.trim().is_empty())
}

/// Personal pronouns that tell of one person (not "her", which is "here"
/// in Norwegian, nor "they", often a company).
const PERSON_PRONOUNS: &[&str] = &["han", "hun", "ho", "hen", "he", "she", "his", "him"];

/// Whether a sentence is about a person: a personal pronoun, or a name
/// written as one (two capitalised words, "Kari Nordmann", followed by a
/// word in lower case, as a name is followed by its verb; a run of three
/// or more capitalised words is a title, "Mental Health First Aid").
fn about_a_person(sentence: &str) -> bool {
    let words: Vec<&str> = sentence
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    if words
        .iter()
        .any(|w| PERSON_PRONOUNS.iter().any(|p| w.eq_ignore_ascii_case(p)))
    {
        return true;
    }
    let capitalised = |w: &str| {
        let mut chars = w.chars();
        chars.next().is_some_and(char::is_uppercase)
            && w.chars().count() >= 2
            && chars.all(|c| c.is_lowercase() || c == '-' || c == '\'')
    };
    let lower = |w: &str| w.chars().next().is_some_and(char::is_lowercase);
    let upper = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
    words.windows(3).enumerate().any(|(i, w)| {
        capitalised(w[0]) && capitalised(w[1]) && lower(w[2]) && (i == 0 || !upper(words[i - 1]))
    })
}

/// Whether `words` (folded, ending in a space) end `before` as whole words
/// (case-insensitively for ASCII: the exact-case matcher reads the text as
/// written).
fn stands_before(before: &[u8], words: &[u8]) -> bool {
    before.len() >= words.len()
        && before[before.len() - words.len()..].eq_ignore_ascii_case(words)
        && !is_word_char(char_before(before, before.len() - words.len()))
}

/// Whether `words` (folded, starting with a space) begin `after` as whole
/// words.
fn stands_after(after: &[u8], words: &[u8]) -> bool {
    after.len() >= words.len()
        && after[..words.len()].eq_ignore_ascii_case(words)
        && !is_word_char(char_after(after, words.len()))
}

/// One side of a frame as the folded text has it, keeping the space that
/// joins it to the term (folding would trim it).
fn fold_side(words: &str) -> Vec<u8> {
    if words.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if words.starts_with(char::is_whitespace) {
        out.push(b' ');
    }
    out.extend(fold(words.trim()));
    if words.ends_with(char::is_whitespace) {
        out.push(b' ');
    }
    out
}

fn record(term: &Term, location: &Location, evidence: &mut Evidence) {
    let Some(tier) = term.tier else {
        return; // a trap: it consumed the match and says nothing
    };
    let ev = evidence.per_category.entry(term.category).or_default();
    let (ids, first) = match tier {
        Tier::High => (&mut ev.high, Some(&mut ev.first_high)),
        Tier::Medium => (&mut ev.medium, Some(&mut ev.first_medium)),
        Tier::Noisy => (&mut ev.noisy, None),
    };
    if !ids.contains(&term.id) {
        ids.push(term.id);
    }
    if let Some(first) = first
        && first.is_none()
    {
        *first = Some(location.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Categories compiled from a phrase file written in the test.
    fn compiled(toml: &str) -> SpecialCategories {
        let file: PhraseFile = toml::from_str(toml).expect("valid test phrases");
        SpecialCategories::compile(&file.categories).expect("compiles")
    }

    fn health() -> SpecialCategories {
        compiled(
            r#"
            [categories.health]
            high = ["*sykmeld*", "legeerklæring*", "diagnosed with", "DPS", "re:(?i)\\bdiagnose\\w*:? [A-TV-Z][0-9]{2}"]
            medium = ["fastlege*", "tilrettelegging*", "innlagt"]
            noisy = ["behandling", "syk", "NAV"]
            traps = ["behandling av personopplysninger"]
        "#,
        )
    }

    fn judge(text: &str, has_id: bool) -> Option<f32> {
        let cats = health();
        let mut ev = Evidence::default();
        cats.scan(text, &Location::Body, &mut ev);
        cats.judge(&ev, has_id).first().map(|f| f.confidence)
    }

    #[test]
    fn tiers_table() {
        assert_eq!(judge("Hun er sykmeldt ut uka.", false), Some(0.9));
        assert_eq!(judge("Han er langtidssykmeldt.", false), Some(0.9));
        assert_eq!(judge("Vedlagt LEGEERKLÆRING.", false), Some(0.9));
        assert_eq!(judge("Henvist til DPS i går", false), Some(0.9));
        assert_eq!(judge("Diagnose: F32 ble satt", false), Some(0.9));
        assert_eq!(judge("Snakket med fastlegen", false), None);
        assert_eq!(
            judge("Snakket med fastlegen om tilrettelegging", false),
            Some(0.8)
        );
        assert_eq!(judge("Ring fastlegen", true), Some(0.7));
        assert_eq!(judge("Fastlegen sier han er syk", false), Some(0.7));
        assert_eq!(judge("syk", false), None);
    }

    /// A medium term said of a named person or by a personal pronoun, in
    /// one sentence, is that person's: the person is its second signal. A
    /// name in another sentence, a title in capitals, a capitalised first
    /// word, or Norwegian "her" (here) are no person.
    #[test]
    fn a_medium_term_said_of_a_person_is_theirs() {
        for (text, expected) in [
            ("Kari Nordmann ligg inne med fastlegen sin.", Some(0.7)),
            ("Etter samtalen er Per Hansen innlagt igjen.", Some(0.7)),
            ("Hun er innlagt siden mandag.", Some(0.7)),
            ("She needs tilrettelegging at her desk.", Some(0.7)),
            ("Kari Nordmann sendte referatet. Innlagt: budsjettet.", None),
            ("Mental Health First Aid: tilrettelegging for alle", None),
            ("Markedet trenger tilrettelegging.", None),
            ("Her er skjemaet for tilrettelegging.", None),
            ("tilrettelegging", None),
        ] {
            assert_eq!(judge(text, false), expected, "{text}");
        }
        assert!(about_a_person("Ingrid Berg har ein kronisk sjukdom"));
        assert!(!about_a_person("Universitetet I Oslo Tilbyr kurs"));
        assert!(!about_a_person("Kreftforeningen takker for gaven din"));
    }

    /// Several patterns are asked through their alternation first: each is
    /// still found on its own, in its own category, and none where none is.
    #[test]
    fn each_pattern_is_found_through_the_alternation() {
        let toml = r#"
            [categories.health]
            high = ["re:\\bdiagnose\\w*:? [a-z][0-9]{2}"]
            [categories.trade_union]
            high = ["re:\\bmedlem (av|i) [a-zæøå]+forbundet\\b"]
            [categories.political_opinion]
            high = ["re:\\bstemte på (rødt|sv)\\b"]
        "#;
        let cats = compiled(toml);
        assert!(cats.any_pattern.is_some());
        let found = |text: &str| {
            let mut ev = Evidence::default();
            cats.scan(text, &Location::Body, &mut ev);
            let mut names: Vec<String> = cats
                .judge(&ev, false)
                .into_iter()
                .map(|f| f.category)
                .collect();
            names.sort();
            names
        };
        assert_eq!(found("Diagnose: F32 ble satt i mai"), ["health"]);
        assert_eq!(found("Jeg er medlem av Fagforbundet."), ["trade_union"]);
        assert_eq!(found("Hun stemte på Rødt i fjor"), ["political_opinion"]);
        assert_eq!(
            found("medlem i Fagforbundet, og stemte på SV"),
            ["political_opinion", "trade_union"]
        );
        assert!(found("Diagnosen er ikke klar; medlem av styret; stemte over").is_empty());
    }

    #[test]
    fn traps_and_case_rules() {
        assert_eq!(
            judge("behandling av personopplysninger og innlagt", false),
            None
        );
        assert_eq!(judge("dps-leveranse", false), None);
        assert_eq!(judge("sykkel", false), None);
    }

    #[test]
    fn an_earlier_shorter_term_does_not_hide_a_longer_one() {
        // "er syk" starts first but is cut by a letter; "*sykmeld*" must count.
        let cats = compiled(
            "[categories.health]\nhigh = [\"er syk\", \"*sykmeld*\"]\nnoisy = [\"helse\"]\nmedium = [\"psykisk helse\"]",
        );
        let mut ev = Evidence::default();
        cats.scan("Jeg er sykmeldt.", &Location::Body, &mut ev);
        assert_eq!(cats.judge(&ev, false).len(), 1);
        let mut ev = Evidence::default();
        cats.scan("Om psykisk helse.", &Location::Body, &mut ev);
        assert!(
            cats.judge(&ev, false).is_empty(),
            "one medium term, not medium plus noisy"
        );
    }

    #[test]
    fn fold_lowers_latin_letters_and_collapses_whitespace() {
        let folded = |s: &str| String::from_utf8(fold(s)).expect("fold keeps UTF-8");
        assert_eq!(
            folded("LEGEERKLÆRING  Ø\r\nÅ\u{a0}É×"),
            "legeerklæring ø å é×"
        );
        assert_eq!(folded("ΣΊΣΥΦΟΣ straße"), "σίσυφοσ straße");
        assert_eq!(folded(""), "");
    }

    /// The obvious, slow fold: per character, Unicode lowercasing except the
    /// final-sigma context rule (`fold` lowers each character on its own).
    fn reference_fold(text: &str) -> String {
        let mut out = String::new();
        let mut in_space = false;
        for c in text.chars() {
            if c.is_whitespace() && c != '\u{0B}' {
                if !in_space {
                    out.push(' ');
                }
                in_space = true;
            } else {
                out.extend(c.to_lowercase());
                in_space = false;
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn fold_matches_the_reference(text in "(?s)[a-zA-Z0-9 \t\r\n\u{0B}\u{A0}\u{2009}æøåÆØÅÉ×ßΣİ.,-]{0,64}|\\PC{0,32}") {
            let folded = String::from_utf8(fold(&text)).expect("fold keeps UTF-8");
            proptest::prop_assert_eq!(folded, reference_fold(&text));
        }
    }

    #[test]
    fn multi_word_terms_match_across_line_breaks() {
        assert_eq!(judge("She was diagnosed\r\n  with flu", false), Some(0.9));
    }

    #[test]
    fn bad_terms_are_errors() {
        let mut cats = BTreeMap::new();
        cats.insert(
            "health".to_string(),
            CategorySpec {
                description: String::new(),
                high: vec!["sy*k".into()],
                medium: vec![],
                noisy: vec![],
                traps: vec![],
                vocabulary: vec![],
            },
        );
        assert!(matches!(
            SpecialCategories::compile(&cats),
            Err(TermError::MisplacedWildcard(_))
        ));
    }

    /// A vocabulary term also listed in a tier would be found as the listed
    /// term and its frames never ("has burnout" missed while `burnout` was
    /// a medium term too): refused, naming it.
    #[test]
    fn a_vocabulary_term_listed_in_a_tier_too_is_refused() {
        let spec = |medium: Vec<String>| {
            let mut cats = BTreeMap::new();
            cats.insert(
                "health".to_string(),
                CategorySpec {
                    description: String::new(),
                    high: vec![],
                    medium,
                    noisy: vec![],
                    traps: vec![],
                    vocabulary: vec![super::super::inflect::VocabularySource {
                        name: "conditions".into(),
                        frames: vec!["has {}".into()],
                        neutral: vec![],
                        terms: vec!["burnout:x".into()],
                        bare: None,
                    }],
                },
            );
            cats
        };
        match SpecialCategories::compile(&spec(vec!["burnout".into()])) {
            Err(TermError::Vocabulary(why)) => assert!(why.contains("burnout"), "{why}"),
            other => panic!("accepted: {:?}", other.map(|_| ())),
        }
        let alone = SpecialCategories::compile(&spec(vec!["anxiety".into()])).expect("compiles");
        let mut ev = Evidence::default();
        alone.scan(
            "Kari has burnout and works from home.",
            &Location::Body,
            &mut ev,
        );
        assert!(
            !alone.judge(&ev, false).is_empty(),
            "the framed form is found"
        );
    }
}
