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

/// Encodes a folder name in modified UTF-7, for commands that name a
/// folder mailhygiene makes up (`Overført fra ...`).
pub fn encode(name: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let (mut bits, mut nbits) = (0u32, 0);
        for unit in pending.drain(..) {
            bits = (bits << 16) | u32::from(unit);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
        }
        out.push('-');
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_servers_do() {
        assert_eq!(encode("Søppelpost"), "S&APg-ppelpost");
        assert_eq!(encode("Overført fra Kari"), "Overf&APg-rt fra Kari");
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(encode("台北"), "&U,BTFw-");
        for name in [
            "Søppelpost",
            "Æ Ø Å æøå",
            "😀 emoji",
            "plain",
            "&&",
            "Überfällig",
        ] {
            assert_eq!(decode(&encode(name)), name);
        }
    }

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
