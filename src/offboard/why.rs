//! The plan's `why` column in the manager's language. The case records
//! each row's reason as [`super::decide`] words it (English, the store's
//! and the report's data); the plan a manager edits says it in bokmål,
//! nynorsk or English, with kinds of data by name, never by detector id.
//! Every form `decide` makes is here (a test holds the two together);
//! anything else is shown as recorded.

use crate::model::{DetectorId, Lang};

/// `why` as the manager reads it.
pub fn why_in(why: &str, lang: Lang) -> String {
    let fixed: &[(&str, &str, &str)] = &[
        ("private", "privat", "privat"),
        (
            "a personal address colleagues also do business with",
            "en privat adresse som kolleger også gjør forretninger med",
            "ei privat adresse som kollegaer også gjer forretningar med",
        ),
        (
            "a personal address, with an organisation number in the message",
            "en privat adresse, med et organisasjonsnummer i meldingen",
            "ei privat adresse, med eit organisasjonsnummer i meldinga",
        ),
        (
            "recent correspondence with colleagues",
            "nylig korrespondanse med kolleger",
            "nyleg korrespondanse med kollegaer",
        ),
        (
            "older mail: decide whether it is still needed",
            "eldre e-post: avgjør om den fortsatt trengs",
            "eldre e-post: avgjer om han framleis trengst",
        ),
    ];
    if let Some((en, nb, nn)) = fixed.iter().find(|(en, _, _)| *en == why) {
        return lang.pick(*en, *nb, *nn).to_string();
    }
    if let Some(kinds) = why.strip_prefix("sensitive data: ") {
        let named: Vec<String> = kinds
            .split(", ")
            .map(|id| match DetectorId::parse(id) {
                Some(d) => crate::report::detector_label_in(&d, lang),
                None => id.to_string(),
            })
            .collect();
        let lead = lang.pick(
            "sensitive data",
            "sensitive opplysninger",
            "sensitive opplysningar",
        );
        return format!("{lead}: {}", named.join(", "));
    }
    if let Some(rest) = why.strip_prefix("past retention: ")
        && let Some((rule, age)) = rest.rsplit_once(" (")
        && let Some(days) = age.strip_suffix(" days old)")
    {
        return match lang {
            Lang::En => why.to_string(),
            Lang::Nb => format!("over oppbevaringstiden: {rule} ({days} dager gammel)"),
            Lang::Nn => format!("over oppbevaringstida: {rule} ({days} dagar gammal)"),
        };
    }
    if let Some(rest) = why.strip_prefix("retention: ")
        && let Some((rule, period)) = rest.split_once(" (")
        && let Some(period) = period.strip_suffix(')')
    {
        return match lang {
            Lang::En => why.to_string(),
            Lang::Nb => format!("oppbevares: {rule} ({})", period_in(period, lang)),
            Lang::Nn => format!("skal takast vare på: {rule} ({})", period_in(period, lang)),
        };
    }
    if let Some(domain) = why
        .strip_prefix("recent business correspondence (")
        .and_then(|d| d.strip_suffix(')'))
    {
        return match lang {
            Lang::En => why.to_string(),
            Lang::Nb => format!("nylig forretningskorrespondanse ({domain})"),
            Lang::Nn => format!("nyleg forretningskorrespondanse ({domain})"),
        };
    }
    why.to_string()
}

/// A retention period as `rules::Retention` writes it, in `lang`.
fn period_in(period: &str, lang: Lang) -> String {
    let number = |suffix: &str| {
        period
            .strip_suffix(suffix)
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(m) = number(" months after the end of the year") {
        return lang.pick(
            period.to_string(),
            format!("{m} måneder etter årets slutt"),
            format!("{m} månader etter slutten av året"),
        );
    }
    if let Some(m) = number(" months") {
        return lang.pick(
            period.to_string(),
            format!("{m} måneder"),
            format!("{m} månader"),
        );
    }
    if let Some(d) = number(" days") {
        return lang.pick(
            period.to_string(),
            format!("{d} dager"),
            format!("{d} dagar"),
        );
    }
    period.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form `decide` writes, in both Norwegian languages, holds none
    /// of its English words; detector ids become names in every language.
    #[test]
    fn every_reason_is_said_in_the_managers_language() {
        let reasons = [
            "private".to_string(),
            "a personal address colleagues also do business with".into(),
            "a personal address, with an organisation number in the message".into(),
            format!(
                "retention: regnskap ({})",
                crate::rules::Retention::MonthsAfterYearEnd(60)
            ),
            format!("retention: skjema ({})", crate::rules::Retention::Days(60)),
            format!("retention: ordre ({})", crate::rules::Retention::Months(12)),
            "past retention: arlig-gjennomgang (400 days old)".into(),
            "sensitive data: no.fodselsnummer, payment_card, special_category.health".into(),
            "recent business correspondence (kunde.no)".into(),
            "recent correspondence with colleagues".into(),
            "older mail: decide whether it is still needed".into(),
        ];
        let english = [
            "private",
            "personal",
            "address",
            "colleagues",
            "business",
            "retention",
            "days",
            "months",
            "year",
            "sensitive data",
            "recent",
            "correspondence",
            "older",
            "decide",
            "needed",
            "no.fodselsnummer",
            "payment_card",
            "special_category",
        ];
        for why in &reasons {
            for lang in [Lang::Nb, Lang::Nn] {
                let said = why_in(why, lang);
                for word in english {
                    assert!(!said.contains(word), "{lang:?}: {why} -> {said} ({word})");
                }
            }
            let said = why_in(why, Lang::En);
            for id in ["no.fodselsnummer", "payment_card", "special_category"] {
                assert!(!said.contains(id), "{said}");
            }
        }
        assert_eq!(
            why_in("past retention: arlig-gjennomgang (400 days old)", Lang::Nb),
            "over oppbevaringstiden: arlig-gjennomgang (400 dager gammel)"
        );
        assert_eq!(why_in("something else", Lang::Nb), "something else");
    }
}
