//! Systematic vocabularies for the special categories: a lemma with its
//! inflection class expands to the forms bokmål and nynorsk write it in
//! (indefinite and definite, singular and plural), and each source's
//! *frames* ("har {}", "sjukmeld med {}") turn a form into the personal
//! statement that is evidence on its own. Terms are then built from
//! sources that can be read and counted (diagnosis names, medicine groups,
//! examinations, sick-leave process words) instead of added one sentence at
//! a time. Pure.

use serde::Deserialize;

/// One source of terms of a category, as `[[categories.<name>.vocabulary]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VocabularySource {
    /// What the terms are (reported by the quality gauge per source).
    pub name: String,
    /// Personal frames, `{}` where the term goes: a framed form is `high`.
    #[serde(default)]
    pub frames: Vec<String>,
    /// Neutral frames ("kurs om {}", "forebygging av {}"): routine mail
    /// naming the term without anyone's health in it; a trap.
    #[serde(default)]
    pub neutral: Vec<String>,
    /// `lemma:class`, class `m`, `f`, `n` (noun genders) or `x` (as
    /// written); a lemma starting with `*` is a compound head (matched
    /// inside longer words, never framed).
    pub terms: Vec<String>,
    /// The tier of the bare forms: `medium` (default) or `noisy`.
    #[serde(default)]
    pub bare: Option<String>,
}

/// A lemma's written forms, bokmål and nynorsk, without repeats.
pub fn forms(lemma: &str, class: &str) -> Result<Vec<String>, String> {
    let (stem, ends_in_e) = match lemma.strip_suffix('e') {
        Some(stem) => (stem, true),
        None => (lemma, false),
    };
    let suffixes: &[&str] = match class {
        "x" => &[""],
        // Masculine: bokmål -en -er -ene, nynorsk -ar -ane.
        "m" => &["", "en", "er", "ene", "ar", "ane"],
        // Feminine: -a or -en, -er -ene (both norms).
        "f" => &["", "a", "en", "er", "ene"],
        // Neuter: -et, plural as the lemma (or -er after -e), -ene / -a.
        "n" => &["", "et", "ene", "a", "er"],
        other => return Err(format!("`{lemma}:{other}`: the class is one of m, f, n, x")),
    };
    let mut out: Vec<String> = Vec::new();
    for suffix in suffixes {
        let form = if suffix.is_empty() {
            lemma.to_string()
        } else if ends_in_e && class != "x" {
            format!("{stem}{suffix}")
        } else if class == "n" && *suffix == "er" {
            continue;
        } else {
            format!("{lemma}{suffix}")
        };
        if !out.contains(&form) {
            out.push(form);
        }
    }
    Ok(out)
}

/// A source's frames as the words that stand before and after the term
/// (`"har {}"` is `("har ", "")`, `"{} er påvist"` is `("", " er påvist")`):
/// a frame is matched by looking around a term's match, so frames cost
/// nothing in the term automaton however many there are.
pub fn frame_parts(frames: &[String]) -> Result<Vec<(String, String)>, String> {
    frames
        .iter()
        .map(|frame| match frame.split_once("{}") {
            Some((before, after))
                if !after.contains("{}")
                    && (!before.trim().is_empty() || !after.trim().is_empty()) =>
            {
                Ok((before.to_string(), after.to_string()))
            }
            _ => Err(format!(
                "frame `{frame}`: write the words around the term with one {{}} where it goes (\"har {{}}\", \"{{}} er påvist\")"
            )),
        })
        .collect()
}

/// The bare forms of each lemma of a source (a lemma counts once however
/// it is inflected).
pub fn expand(source: &VocabularySource) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    for entry in &source.terms {
        let (lemma, class) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("`{entry}`: write lemma:class (m, f, n or x)"))?;
        let (compound, lemma) = match lemma.strip_prefix('*') {
            Some(head) => (true, head),
            None => (false, lemma),
        };
        if lemma.is_empty() || lemma.contains(['*', '{', '}']) {
            return Err(format!("`{entry}`: not a lemma"));
        }
        out.push(
            forms(lemma, class)?
                .into_iter()
                .map(|f| if compound { format!("*{f}") } else { f })
                .collect(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_inflect_in_both_norms() {
        assert_eq!(
            forms("lungebetennelse", "m").expect("m"),
            [
                "lungebetennelse",
                "lungebetennelsen",
                "lungebetennelser",
                "lungebetennelsene",
                "lungebetennelsar",
                "lungebetennelsane"
            ]
        );
        assert_eq!(
            forms("blodprøve", "f").expect("f"),
            [
                "blodprøve",
                "blodprøva",
                "blodprøven",
                "blodprøver",
                "blodprøvene"
            ]
        );
        assert_eq!(
            forms("brudd", "n").expect("n"),
            ["brudd", "bruddet", "bruddene", "brudda"]
        );
        assert_eq!(forms("ADHD", "x").expect("x"), ["ADHD"]);
        assert!(forms("x", "q").is_err());
    }

    #[test]
    fn lemmas_expand_and_frames_become_prefixes() {
        let source = VocabularySource {
            name: "diagnoser".into(),
            frames: vec!["har {}".into(), "sjukmeld med {}".into()],
            neutral: vec!["kurs om {}".into()],
            terms: vec!["leddgikt:m".into(), "*betennelse:m".into()],
            bare: None,
        };
        let expanded = expand(&source).expect("expands");
        assert_eq!(expanded[0][..2], ["leddgikt", "leddgikten"]);
        assert!(expanded[1].iter().all(|t| t.starts_with('*')));
        assert_eq!(
            frame_parts(&source.frames).expect("parts"),
            [
                ("har ".to_string(), String::new()),
                ("sjukmeld med ".to_string(), String::new())
            ]
        );
        assert_eq!(
            frame_parts(&["{} er påvist".to_string(), "har fått {} påvist".to_string()])
                .expect("parts"),
            [
                (String::new(), " er påvist".to_string()),
                ("har fått ".to_string(), " påvist".to_string())
            ]
        );
        for bad in ["har {} {}", "{}", " {} ", "har"] {
            assert!(frame_parts(&[bad.to_string()]).is_err(), "{bad}");
        }
        for bad in ["leddgikt", "a*b:m", ":m"] {
            let s = VocabularySource {
                terms: vec![bad.into()],
                ..source.clone()
            };
            assert!(expand(&s).is_err(), "{bad}");
        }
    }
}
