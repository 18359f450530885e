//! IMAP's modified UTF-7 (RFC 3501 §5.1.3), in which Dovecot and Exchange
//! name non-ASCII folders (`S&APg-ppelpost` is `Søppelpost`). Pure.

/// Decodes a modified UTF-7 folder name; anything malformed is kept as it was
/// written, since a folder name is never worth failing a scan over.
pub fn decode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(dash) = after.find('-') else {
            out.push_str(&rest[amp..]);
            return out;
        };
        let encoded = &after[..dash];
        if encoded.is_empty() {
            out.push('&');
        } else {
            match decode_segment(encoded) {
                Some(s) => out.push_str(&s),
                None => out.push_str(&rest[amp..amp + 1 + dash + 1]),
            }
        }
        rest = &after[dash + 1..];
    }
    out.push_str(rest);
    out
}

fn decode_segment(encoded: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut units: Vec<u16> = Vec::new();
    for c in encoded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push(((bits >> nbits) & 0xFFFF) as u16);
        }
    }
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_folder_names() {
        assert_eq!(decode("S&APg-ppelpost"), "Søppelpost");
        assert_eq!(decode("Sendte elementer"), "Sendte elementer");
        assert_eq!(decode("R&AOU-d &- Co"), "Råd & Co");
        assert_eq!(decode("&AMYA2ADF-"), "ÆØÅ");
        assert_eq!(decode("broken&"), "broken&");
        assert_eq!(decode("bad&!!-x"), "bad&!!-x");
    }
}
