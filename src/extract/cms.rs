//! The content of opaque-signed S/MIME (`application/pkcs7-mime;
//! smime-type=signed-data`, RFC 8551): the signed MIME entity sits inside a
//! CMS `SignedData` structure (RFC 5652) and is readable without any key.
//! A signature is not checked here: what was sent is scanned, whoever
//! signed it.
//!
//! A small BER reader: definite and indefinite lengths, constructed
//! OCTET STRINGs (streamed signing writes the content in chunks), nesting
//! and output bounded. Anything unexpected gives `None`.

/// `1.2.840.113549.1.7.2`, signedData.
const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const MAX_DEPTH: usize = 16;

/// One element: its tag byte and content (for an indefinite length, up to
/// the end-of-contents marker), and where the next element starts.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
    next: usize,
}

fn element(data: &[u8], at: usize, depth: usize) -> Option<Element<'_>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let tag = *data.get(at)?;
    if tag & 0x1F == 0x1F {
        return None; // high tag numbers: not in these structures
    }
    let first = *data.get(at + 1)?;
    let mut pos = at + 2;
    if first == 0x80 {
        // Indefinite: children until the end-of-contents octets.
        if tag & 0x20 == 0 {
            return None;
        }
        let start = pos;
        loop {
            if data.get(pos..pos + 2)? == [0, 0] {
                return Some(Element {
                    tag,
                    content: &data[start..pos],
                    next: pos + 2,
                });
            }
            pos = element(data, pos, depth + 1)?.next;
        }
    }
    let len = if first & 0x80 == 0 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*data.get(pos)?);
            pos += 1;
        }
        len
    };
    let end = pos.checked_add(len)?;
    Some(Element {
        tag,
        content: data.get(pos..end)?,
        next: end,
    })
}

/// The elements inside a constructed element's content.
fn children(content: &[u8], depth: usize) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < content.len() {
        let e = element(content, at, depth)?;
        at = e.next;
        out.push(e);
    }
    Some(out)
}

/// An OCTET STRING's bytes, primitive or in chunks.
fn octets(e: &Element<'_>, out: &mut Vec<u8>, max: usize, depth: usize) -> Option<()> {
    match e.tag {
        0x04 => {
            if out.len() + e.content.len() > max {
                return None;
            }
            out.extend_from_slice(e.content);
            Some(())
        }
        0x24 if depth < MAX_DEPTH => {
            for chunk in children(e.content, depth + 1)? {
                octets(&chunk, out, max, depth + 1)?;
            }
            Some(())
        }
        _ => None,
    }
}

/// The signed content of a CMS `SignedData` (BER or DER), at most `max`
/// bytes; `None` if this is not one or it holds no content (a detached
/// signature).
pub fn signed_content(data: &[u8], max: usize) -> Option<Vec<u8>> {
    let info = element(data, 0, 0)?;
    if info.tag != 0x30 {
        return None;
    }
    let parts = children(info.content, 1)?;
    let (oid, explicit) = (parts.first()?, parts.get(1)?);
    if oid.tag != 0x06 || oid.content != SIGNED_DATA || explicit.tag != 0xA0 {
        return None;
    }
    let signed = children(explicit.content, 2)?.into_iter().next()?;
    if signed.tag != 0x30 {
        return None;
    }
    // version, digestAlgorithms, encapContentInfo, ...
    let encap = children(signed.content, 3)?.into_iter().nth(2)?;
    if encap.tag != 0x30 {
        return None;
    }
    let inner = children(encap.content, 4)?;
    let wrapped = inner.get(1).filter(|e| e.tag == 0xA0)?;
    let mut out = Vec::new();
    for e in children(wrapped.content, 5)? {
        octets(&e, &mut out, max, 5)?;
    }
    Some(out)
}

/// An encoder for tests and fuzzing seeds: opaque-signed content as
/// signing software writes it. The scanner never calls this.
#[doc(hidden)]
pub mod fixtures {
    use super::SIGNED_DATA;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
            n if n < 0x10000 => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
            n => out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    fn indefinite(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![tag, 0x80];
        for p in parts {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&[0, 0]);
        out
    }

    /// An opaque-signed S/MIME body as signing software writes it: DER, or
    /// BER with indefinite lengths and the content in 1,000-byte chunks
    /// (streamed signing). The signer info is a stand-in: no key is needed
    /// to read the content, and none is checked.
    pub fn signed(content: &[u8], streamed: bool) -> Vec<u8> {
        let data_oid = tlv(
            0x06,
            &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01],
        );
        let sha256 = tlv(
            0x30,
            &tlv(
                0x06,
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            ),
        );
        let version = tlv(0x02, &[1]);
        let digests = tlv(0x31, &sha256);
        let signer_infos = tlv(
            0x31,
            &tlv(0x30, &[tlv(0x02, &[1]), sha256.clone()].concat()),
        );
        let signed_oid = tlv(0x06, SIGNED_DATA);
        if streamed {
            let chunks: Vec<Vec<u8>> = content.chunks(1000).map(|c| tlv(0x04, c)).collect();
            let econtent = indefinite(0xA0, &[indefinite(0x24, &chunks)]);
            let encap = indefinite(0x30, &[data_oid, econtent]);
            let sd = indefinite(0x30, &[version, digests, encap, signer_infos]);
            indefinite(0x30, &[signed_oid, indefinite(0xA0, &[sd])])
        } else {
            let encap = tlv(0x30, &[data_oid, tlv(0xA0, &tlv(0x04, content))].concat());
            let sd = tlv(0x30, &[version, digests, encap, signer_infos].concat());
            tlv(0x30, &[signed_oid, tlv(0xA0, &sd)].concat())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::signed;
    use super::*;

    #[test]
    fn the_content_is_read_from_der_and_streamed_ber() {
        let mime = b"Content-Type: text/plain\r\n\r\nFnr 15076500565\r\n".repeat(50);
        for streamed in [false, true] {
            assert_eq!(
                signed_content(&signed(&mime, streamed), 1 << 20),
                Some(mime.clone())
            );
        }
        assert_eq!(
            signed_content(&signed(&mime, true), 100),
            None,
            "over the limit"
        );
    }

    #[test]
    fn anything_else_is_none_never_a_panic() {
        let good = signed(b"Content-Type: text/plain\r\n\r\nhei\r\n", true);
        for cut in 0..good.len() {
            let _ = signed_content(&good[..cut], 1 << 20);
        }
        let mut bad = good.clone();
        for i in 0..bad.len() {
            bad[i] ^= 0x5A;
            let _ = signed_content(&bad, 1 << 20);
            bad[i] ^= 0x5A;
        }
        // Deep indefinite nesting stops at the depth limit.
        let deep = [[0x30u8, 0x80].repeat(100_000), vec![0; 200_000]].concat();
        assert_eq!(signed_content(&deep, 1 << 20), None);
        assert_eq!(signed_content(b"", 1), None);
    }
}
