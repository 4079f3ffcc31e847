//! A cited reply as the REPL shows it: the source's number after each cited passage, and the
//! numbered sources under the reply.

use std::io::{self, Write};

use bedrock_chat::{Message, Sources};

use crate::terminal::visible;

/// The reply's text with `[n]` after each passage that cites source `n`, numbering into
/// `sources`.
pub(crate) fn with_markers(message: &Message, sources: &mut Sources) -> String {
    let mut text = String::new();
    for block in message.content() {
        let Some(words) = block.as_text() else {
            continue;
        };
        // The markers go after the words, before the space that ends them.
        let cited = markers(block.citations().iter().map(|c| sources.number(c)));
        let trimmed = words.trim_end();
        text.push_str(trimmed);
        text.push_str(&cited);
        text.push_str(&words[trimmed.len()..]);
    }
    text
}

/// `[1][2]` for source numbers, each once, in order.
pub(crate) fn markers(numbers: impl IntoIterator<Item = usize>) -> String {
    let mut seen: Vec<usize> = Vec::new();
    for number in numbers {
        if !seen.contains(&number) {
            seen.push(number);
        }
    }
    seen.iter().map(|n| format!("[{n}]")).collect()
}

/// The numbered sources under a reply (nothing when it cites none): title, then where it lives,
/// then the words quoted. On a terminal what came from the model is neutralised.
pub(crate) fn write_sources(
    out: &mut dyn Write,
    sources: &Sources,
    terminal: bool,
) -> io::Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    let shown = |text: &str| {
        if terminal {
            visible(text).into_owned()
        } else {
            text.to_string()
        }
    };
    writeln!(out, "\nSources:")?;
    for source in sources.list() {
        let title = source.title.as_deref().unwrap_or("(untitled)");
        let mut line = format!("  [{}] {}", source.number, shown(title));
        if let Some(location) = &source.location {
            line.push_str(&format!(" — {}", shown(location)));
        }
        writeln!(out, "{line}")?;
        if let Some(quote) = source.quotes.first() {
            let quote: String = quote.chars().take(160).collect();
            writeln!(out, "      “{}”", shown(&quote))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bedrock_chat::{Citation, CitationLocation, CitedText, ContentBlock, Role};

    use super::*;

    #[test]
    fn a_cited_reply_has_markers_and_a_numbered_list() {
        let cite = |source: &str| {
            Citation::new(CitationLocation::SearchResult {
                index: 0,
                start: 0,
                end: 1,
            })
            .with_title(source.rsplit('/').next().unwrap_or(source))
            .with_source(source)
            .with_cited_text("quoted \u{1b}[31mwords")
        };
        let message = Message::new(
            Role::Assistant,
            vec![
                ContentBlock::Text("Answer: ".into()),
                ContentBlock::CitationsContent(CitedText::new(
                    "refunds take 14 days. ",
                    vec![cite("s3://kb/refunds.md"), cite("s3://kb/refunds.md")],
                )),
                ContentBlock::CitationsContent(CitedText::new(
                    "Shipping takes 2.",
                    vec![cite("https://x.example/ship")],
                )),
            ],
        );
        let mut sources = Sources::default();
        assert_eq!(
            with_markers(&message, &mut sources),
            "Answer: refunds take 14 days.[1] Shipping takes 2.[2]"
        );
        let mut out = Vec::new();
        write_sources(&mut out, &sources, true).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("[1] refunds.md — s3://kb/refunds.md"), "{out}");
        assert!(out.contains("[2] ship — https://x.example/ship"), "{out}");
        assert!(
            !out.contains('\u{1b}'),
            "escapes from a source are neutralised: {out:?}"
        );
    }
}
