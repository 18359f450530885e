//! Splitting text into *number phrases*: runs of digit groups joined by the
//! separators people type inside identifiers (`010190 12345`, `1234.56.78903`,
//! `4111-1111-1111-1111`, a line break between the halves of a number).
//!
//! Detectors then look at windows of consecutive groups instead of running a
//! regex per written form. That makes "never inside a longer digit run" hold by
//! construction: a group is always a maximal run of digits.

/// How two digit groups are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// A single space (any no-break or thin space was normalised to it).
    Space,
    /// A hyphen or dash.
    Hyphen,
    /// A full stop.
    Dot,
    /// A plus sign (the Swedish "100 years or older" marker).
    Plus,
    /// A line break, with any indentation or `>` quote markers around it.
    Newline,
}

impl Sep {
    /// Weak separators merely sit between numbers; tight ones (`.`, `-`, `+`)
    /// bind groups into one structured number, so a window must not start or
    /// end at one.
    pub fn is_tight(self) -> bool {
        matches!(self, Sep::Hyphen | Sep::Dot | Sep::Plus)
    }
}

/// A maximal run of ASCII digits, as byte offsets into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub start: usize,
    pub end: usize,
}

impl Group {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Digit groups joined by separators. `seps[i]` joins `groups[i]` and
/// `groups[i + 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub groups: Vec<Group>,
    pub seps: Vec<Sep>,
    /// Whether a letter or digit-like character touches the phrase on the left
    /// (`NO93…`, `ID0101…`) or right (`…12345kr`).
    pub glued_left: bool,
    pub glued_right: bool,
}

/// A window of consecutive groups of a phrase that a detector may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'p> {
    pub phrase: &'p Phrase,
    pub first: usize,
    pub last: usize,
}

impl<'p> Window<'p> {
    pub fn groups(&self) -> &'p [Group] {
        &self.phrase.groups[self.first..=self.last]
    }

    pub fn seps(&self) -> &'p [Sep] {
        &self.phrase.seps[self.first..self.last]
    }

    pub fn lens(&self) -> impl Iterator<Item = usize> + 'p {
        self.groups().iter().map(Group::len)
    }

    pub fn start(&self) -> usize {
        self.phrase.groups[self.first].start
    }

    pub fn end(&self) -> usize {
        self.phrase.groups[self.last].end
    }

    pub fn digit_count(&self) -> usize {
        self.lens().sum()
    }

    /// The digits only, in order: the canonical form of a numeric identifier.
    pub fn digits(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(self.digit_count());
        for g in self.groups() {
            for &b in &bytes[g.start..g.end] {
                out.push(char::from(b));
            }
        }
        out
    }

    /// Whether the window stands alone: not glued to letters, and not cut out
    /// of a larger structured number at a tight separator.
    pub fn is_free_standing(&self) -> bool {
        let p = self.phrase;
        let left_ok = if self.first == 0 {
            !p.glued_left
        } else {
            !p.seps[self.first - 1].is_tight()
        };
        let right_ok = if self.last + 1 == p.groups.len() {
            !p.glued_right
        } else {
            !p.seps[self.last].is_tight()
        };
        left_ok && right_ok
    }

    /// All separators inside the window are one of `allowed`.
    pub fn seps_all_in(&self, allowed: &[Sep]) -> bool {
        self.seps().iter().all(|s| allowed.contains(s))
    }
}

impl Phrase {
    /// All windows of up to `max_groups` consecutive groups.
    pub fn windows(&self, max_groups: usize) -> impl Iterator<Item = Window<'_>> {
        let n = self.groups.len();
        (0..n).flat_map(move |first| {
            (first..n.min(first + max_groups)).map(move |last| Window {
                phrase: self,
                first,
                last,
            })
        })
    }
}

fn is_glue(b: u8) -> bool {
    // `_` is not glue: it separates words in file names (`sykmelding_0101…`).
    b.is_ascii_alphanumeric()
}

/// Parses a separator starting at `i`, returning it and the offset of the next
/// byte, if it is followed by a digit.
fn separator_at(bytes: &[u8], i: usize) -> Option<(Sep, usize)> {
    let b = *bytes.get(i)?;
    let (sep, next) = match b {
        // Two spaces are one too: Word writes a space it must keep as a
        // no-break space and a space (`mso-spacerun`).
        b' ' if bytes.get(i + 1) == Some(&b' ')
            && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) =>
        {
            (Sep::Space, i + 2)
        }
        b' ' => {
            // A space, or indentation before a line break.
            let mut j = i;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            if j < bytes.len() && (bytes[j] == b'\n' || bytes[j] == b'\r') {
                return newline_at(bytes, j);
            }
            (Sep::Space, i + 1)
        }
        b'-' => (Sep::Hyphen, i + 1),
        b'.' => (Sep::Dot, i + 1),
        b'+' => (Sep::Plus, i + 1),
        b'\n' | b'\r' => return newline_at(bytes, i),
        _ => return None,
    };
    bytes.get(next).filter(|b| b.is_ascii_digit())?;
    Some((sep, next))
}

fn newline_at(bytes: &[u8], i: usize) -> Option<(Sep, usize)> {
    let mut j = i;
    if bytes.get(j) == Some(&b'\r') {
        j += 1;
    }
    if bytes.get(j) == Some(&b'\n') {
        j += 1;
    }
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'>') {
        j += 1;
    }
    bytes
        .get(j)
        .filter(|b| b.is_ascii_digit())
        .map(|_| (Sep::Newline, j))
}

/// Finds every number phrase in `text`.
pub fn phrases(text: &str) -> Vec<Phrase> {
    phrases_of_at_least(text, 0)
}

/// The number phrases of `text` with at least `digits` digits in all. The
/// shorter ones (dates, amounts, phone extensions: most of them) are never
/// built.
pub fn phrases_of_at_least(text: &str, digits: usize) -> Vec<Phrase> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut groups = Vec::new();
    let mut seps = Vec::new();
    let mut i = 0;
    loop {
        i = next_digit(bytes, i);
        if i == bytes.len() {
            break;
        }
        let glued_left = i > 0 && is_glue(bytes[i - 1]);
        groups.clear();
        seps.clear();
        let mut count = 0;
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            count += i - start;
            groups.push(Group { start, end: i });
            match separator_at(bytes, i) {
                Some((sep, next)) => {
                    seps.push(sep);
                    i = next;
                }
                None => break,
            }
        }
        if count < digits {
            continue;
        }
        let glued_right = i < bytes.len() && is_glue(bytes[i]);
        out.push(Phrase {
            groups: groups.clone(),
            seps: seps.clone(),
            glued_left,
            glued_right,
        });
    }
    out
}

/// The first ASCII digit at or after `from`, or the end.
fn next_digit(bytes: &[u8], from: usize) -> usize {
    crate::extract::predecode::first_byte_where(bytes, from, |b| b.is_ascii_digit())
}

/// How many ASCII digits `bytes` has, counting only until there are
/// `enough` (in steps of 64 bytes, which the compiler vectorises).
pub fn count_digits_up_to(bytes: &[u8], enough: usize) -> usize {
    let mut count = 0;
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        // Counted in a byte (at most 64): the compiler keeps the whole
        // chunk in vector registers, where a `usize` count made it widen
        // every lane.
        let digits: u8 = chunk.iter().map(|&b| u8::from(b.is_ascii_digit())).sum();
        count += usize::from(digits);
        if count >= enough {
            return count;
        }
    }
    count
        + chunks
            .remainder()
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(p: &Phrase) -> Vec<usize> {
        p.groups.iter().map(Group::len).collect()
    }

    #[test]
    fn digits_are_found_wherever_they_are() {
        for len in 0..70 {
            for at in 0..=len {
                let mut text = "x".repeat(len);
                if at < len {
                    text.replace_range(at..at + 1, "7");
                }
                let want = if at < len { at } else { len };
                assert_eq!(next_digit(text.as_bytes(), 0), want, "{len} {at}");
                assert_eq!(next_digit(text.as_bytes(), at.min(len)), want);
                let digits = usize::from(at < len);
                assert_eq!(count_digits_up_to(text.as_bytes(), 9), digits);
            }
        }
        let digits = "1a".repeat(200);
        assert_eq!(count_digits_up_to(digits.as_bytes(), 9), 32);
        assert_eq!(count_digits_up_to(digits.as_bytes(), 1000), 200);
    }

    #[test]
    fn short_phrases_are_left_out_on_request() {
        let text = "12 kr, 34 567 i fjor; fnr 01019012345 og rom 9";
        assert_eq!(phrases(text).len(), 4);
        let long = phrases_of_at_least(text, 5);
        assert_eq!(
            long.iter().map(lens).collect::<Vec<_>>(),
            vec![vec![2, 3], vec![11]]
        );
        assert_eq!(phrases_of_at_least(text, 12), vec![]);
    }

    #[test]
    fn splits_written_forms() {
        let text = "fnr 010190 12345, konto 1234.56.78903\nkort 4111-1111-1111-1111.";
        let ps = phrases(text);
        assert_eq!(ps.len(), 3);
        assert_eq!(lens(&ps[0]), vec![6, 5]);
        assert_eq!(ps[0].seps, vec![Sep::Space]);
        assert_eq!(lens(&ps[1]), vec![4, 2, 5]);
        assert_eq!(ps[1].seps, vec![Sep::Dot, Sep::Dot]);
        assert_eq!(lens(&ps[2]), vec![4, 4, 4, 4]);
        assert!(!ps[2].glued_right);
    }

    #[test]
    fn joins_across_line_breaks_and_quote_markers() {
        let ps = phrases("nummer 010190  \r\n> > 12345 ok");
        assert_eq!(ps.len(), 1);
        assert_eq!(lens(&ps[0]), vec![6, 5]);
        assert_eq!(ps[0].seps, vec![Sep::Newline]);
    }

    #[test]
    fn glue_is_recorded() {
        let ps = phrases("NO9386011117947 and 12345kr");
        assert!(ps[0].glued_left);
        assert!(ps[1].glued_right);
    }

    #[test]
    fn windows_at_tight_separators_are_not_free_standing() {
        let ps = phrases("12.010190 12345");
        let w = ps[0]
            .windows(3)
            .find(|w| w.lens().eq([6, 5]))
            .expect("window exists");
        assert!(!w.is_free_standing());
        let ps = phrases("tlf 22 33 01019012345");
        let w = ps[0]
            .windows(3)
            .find(|w| w.lens().eq([11]))
            .expect("window exists");
        assert!(w.is_free_standing());
        assert_eq!(w.digits("tlf 22 33 01019012345"), "01019012345");
    }

    #[test]
    fn a_trailing_full_stop_ends_the_phrase() {
        let ps = phrases("Fnr 01019012345. Neste");
        assert_eq!(ps.len(), 1);
        assert!(!ps[0].glued_right);
    }
}
