//! Calendar text (RFC 5545: `text/calendar` parts and `.ics` files), as a
//! reader of the invitation sees it.
//!
//! Lines longer than 75 octets are folded (a line break and one space or
//! tab), anywhere, also inside a number; the reader sees them unfolded.
//! Outlook fills an invitation with its own identifiers (`UID`,
//! `X-MICROSOFT-CDO-OWNERAPPTID`, conference and sequence numbers) that are
//! long digit runs and no one's personal number: only the properties a
//! person writes or reads (summary, description, location, comments, names
//! of attendees) are kept, with their escapes undone.

/// Properties whose values people write.
const TEXT_PROPERTIES: &[&str] = &[
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "COMMENT",
    "CONTACT",
    "RESOURCES",
    "CATEGORIES",
    "X-ALT-DESC",
];

/// The readable text of a calendar: one line per kept property value.
pub fn text(calendar: &str) -> String {
    let mut out = String::with_capacity(calendar.len() / 2);
    for line in unfold(calendar).lines() {
        let Some((name_and_params, value)) = split_property(line) else {
            continue;
        };
        let mut parts = name_and_params.split(';');
        let name = parts.next().unwrap_or_default().to_ascii_uppercase();
        if TEXT_PROPERTIES.contains(&name.as_str()) {
            let value = unescape(value);
            if name == "X-ALT-DESC" {
                out.push_str(&super::html::to_text(&value));
            } else {
                out.push_str(&value);
            }
            out.push('\n');
        } else if matches!(name.as_str(), "ATTENDEE" | "ORGANIZER") {
            // The person's name (CN=...), not the address.
            for param in parts {
                if let Some(cn) = param
                    .split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("CN"))
                    .map(|(_, v)| v.trim_matches('"'))
                {
                    out.push_str(cn);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Undoes line folding: a line break followed by one space or tab.
pub fn unfold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\n') {
        let (line, after) = rest.split_at(at);
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(line);
        let after = &after[1..];
        match after.as_bytes().first() {
            Some(b' ' | b'\t') => rest = &after[1..],
            _ => {
                out.push('\n');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `NAME;PARAM=...:VALUE`: the colon that ends the name and parameters is
/// the first one outside a quoted parameter value.
fn split_property(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A TEXT value's escapes: `\n`, `\,`, `\;`, `\\`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_undone_even_inside_a_number() {
        let ics = "BEGIN:VEVENT\r\nDESCRIPTION:Time for Ola (fnr 1507650\r\n 0565)\\, rom 3\r\nEND:VEVENT\r\n";
        assert_eq!(text(ics), "Time for Ola (fnr 15076500565), rom 3\n");
    }

    #[test]
    fn outlooks_own_identifiers_are_left_out() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n\
                   UID:040000008200E00074C5B7101A82E0080000000010B1C5B3\r\n\
                   X-MICROSOFT-CDO-OWNERAPPTID:-2118675427\r\n\
                   X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\nSEQUENCE:2\r\n\
                   DTSTAMP:20261201T101500Z\r\n\
                   ORGANIZER;CN=\"Nordmann, Kari\":mailto:kari@example.test\r\n\
                   SUMMARY;LANGUAGE=nb-NO:Medarbeidersamtale\r\n\
                   LOCATION:Møterom 1501200\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            text(ics),
            "Nordmann, Kari\nMedarbeidersamtale\nMøterom 1501200\n"
        );
    }

    #[test]
    fn the_html_description_is_read_as_text() {
        let ics = "X-ALT-DESC;FMTTYPE=text/html:<p>Fnr 150765&nbsp\\;00565</p>\r\n";
        assert_eq!(text(ics).trim(), "Fnr 150765\u{a0}00565");
    }
}
