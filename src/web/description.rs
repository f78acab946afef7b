//! Catalog descriptions are Markdown written by destination authors. The page shows them as
//! plain text with working links, never as HTML: `[text](https://…)` becomes a link (http and
//! https only), `` `code` `` becomes code, emphasis markers are dropped, and everything else is
//! text that the template escapes.

/// One piece of a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Code(String),
    Link { text: String, url: String },
}

impl Part {
    /// What the template shows for this part (escaped on output).
    pub fn text(&self) -> &str {
        match self {
            Part::Text(text) | Part::Code(text) | Part::Link { text, .. } => text,
        }
    }

    pub fn url(&self) -> Option<&str> {
        match self {
            Part::Link { url, .. } => Some(url),
            _ => None,
        }
    }

    pub fn is_code(&self) -> bool {
        matches!(self, Part::Code(_))
    }
}

/// Splits a description into parts.
pub fn parse(markdown: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = markdown;
    while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some((label, url, after)) = link(rest)
        {
            flush(&mut parts, &mut text);
            parts.push(Part::Link {
                text: strip_emphasis(label),
                url: url.to_owned(),
            });
            rest = after;
            continue;
        }
        if c == '`'
            && let Some(end) = rest[1..].find('`')
        {
            flush(&mut parts, &mut text);
            parts.push(Part::Code(rest[1..1 + end].to_owned()));
            rest = &rest[end + 2..];
            continue;
        }
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut parts, &mut text);
    parts
}

/// `[label](url)` at the start of `input`, with a safe URL: the label, the URL and what follows.
fn link(input: &str) -> Option<(&str, &str, &str)> {
    let close = input.find("](")?;
    let label = &input[1..close];
    if label.contains('[') || label.contains('\n') {
        return None;
    }
    let after_paren = &input[close + 2..];
    let end = after_paren.find(')')?;
    let url = after_paren[..end].trim();
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
        && !url.contains(['"', '<', '>']);
    safe.then(|| (label, url, &after_paren[end + 1..]))
}

fn flush(parts: &mut Vec<Part>, text: &mut String) {
    if !text.is_empty() {
        parts.push(Part::Text(strip_emphasis(text)));
        text.clear();
    }
}

fn strip_emphasis(text: &str) -> String {
    text.replace("**", "").replace("__", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_code_and_text() {
        let parts = parse(
            "Read the [support docs](https://support.google.com/x?a=1&b=2). Set `none` **now**.",
        );
        assert_eq!(
            parts,
            [
                Part::Text("Read the ".into()),
                Part::Link {
                    text: "support docs".into(),
                    url: "https://support.google.com/x?a=1&b=2".into()
                },
                Part::Text(". Set ".into()),
                Part::Code("none".into()),
                Part::Text(" now.".into()),
            ]
        );
    }

    #[test]
    fn unsafe_links_stay_text() {
        for evil in [
            "[click](javascript:alert(1))",
            "[x](data:text/html,<script>)",
            "[x](https://a.example/\"onmouseover=\"x)",
        ] {
            let parts = parse(evil);
            assert!(parts.iter().all(|p| p.url().is_none()), "{evil}: {parts:?}");
        }
    }

    #[test]
    fn unbalanced_markup_is_kept_as_text() {
        assert_eq!(parse("a [b c ` d"), [Part::Text("a [b c ` d".into())]);
        assert_eq!(parse(""), []);
        assert_eq!(parse("é[ü](https://x.example)ö").len(), 3);
    }
}
