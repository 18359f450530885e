//! `format=flowed` text (RFC 3676), as the reader sees it: a line that ends
//! in a space continues on the next, and with `delsp=yes` that space is the
//! sender's break, not the text's, so a number broken there reads whole.

/// The text with soft line breaks undone; quote depth (`>`) and space
/// stuffing are respected, and the signature separator `-- ` stays a line.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    // The quote depth of the paragraph being joined, while one is open.
    let mut open: Option<usize> = None;
    let body = text.strip_suffix('\n').unwrap_or(text);
    for raw in body.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let mut content = &line[depth..];
        // Space stuffing: a leading space protects `>`, `From ` or a space.
        if let Some(stuffed) = content.strip_prefix(' ') {
            content = stuffed;
        }
        let signature = content == "-- ";
        if open.is_some_and(|d| d != depth || signature) {
            // A change of quote depth, or the signature, ends the paragraph.
            out.push('\n');
            open = None;
        }
        if open.is_none() {
            for _ in 0..depth {
                out.push('>');
            }
            if depth > 0 {
                out.push(' ');
            }
        }
        let soft = content.ends_with(' ') && !signature;
        if soft {
            let kept = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            out.push_str(kept);
            open = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open = None;
        }
    }
    if text.ends_with('\n') {
        if !out.ends_with('\n') {
            out.push('\n');
        }
    } else if out.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_breaks_join_and_delsp_removes_the_space() {
        assert_eq!(
            unflow("Fnr 1507650 \r\n0565 til\r\nneste\r\n", true),
            "Fnr 15076500565 til\nneste\n"
        );
        assert_eq!(
            unflow("Fnr 150765 \r\n00565\r\n", false),
            "Fnr 150765 00565\n"
        );
    }

    #[test]
    fn quotes_and_signatures_keep_their_lines() {
        assert_eq!(
            unflow("> Fnr 150765\n> 00565 \n> hei\nsvar \n-- \nKari\n", true),
            "> Fnr 150765\n> 00565hei\nsvar\n-- \nKari\n"
        );
        // Different quote depths are never joined.
        assert_eq!(unflow(">> a \n> b\n", true), ">> a\n> b\n");
    }
}
