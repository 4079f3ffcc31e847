//! Finding a visitor's conversation by the words in it.

use bedrock_chat::SavedConversation;

/// Characters of text shown before the word found, and after it.
const BEFORE: usize = 40;
const AFTER: usize = 80;

/// Whether every one of `words` (lowercase) is in the title or the text of the conversation,
/// in any case: `None` when one is missing, else the text around the first word found in a
/// message (`Some(None)` when every word was in the title).
pub(crate) fn find(
    words: &[String],
    title: &str,
    conversation: &SavedConversation,
) -> Option<Option<String>> {
    let title = title.to_lowercase();
    let texts: Vec<String> = conversation.messages().iter().map(|m| m.text()).collect();
    let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
    let mut snippet = None;
    for word in words {
        let in_text = lowered
            .iter()
            .enumerate()
            .find_map(|(i, text)| text.find(word.as_str()).map(|at| (i, at)));
        match in_text {
            Some((message, at)) => {
                if snippet.is_none() {
                    snippet = Some(around(&texts[message], &lowered[message], at, word));
                }
            }
            None if title.contains(word.as_str()) => {}
            None => return None,
        }
    }
    Some(snippet)
}

/// The text around the byte `at` of `lowered` (the lowercase of `text`), on one line.
fn around(text: &str, lowered: &str, at: usize, word: &str) -> String {
    // Lowercasing may change lengths in bytes (and, rarely, in characters): count characters,
    // which stay close enough for a snippet, and clamp.
    let start = lowered[..at].chars().count();
    let length = word.chars().count();
    let chars: Vec<char> = text.chars().collect();
    let from = start.saturating_sub(BEFORE).min(chars.len());
    let to = (start + length + AFTER).min(chars.len());
    let mut snippet: String = chars[from..to]
        .iter()
        .map(|&c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    snippet = snippet
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if from > 0 {
        snippet.insert(0, '…');
    }
    if to < chars.len() {
        snippet.push('…');
    }
    snippet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(pairs: &[(&str, &str)]) -> SavedConversation {
        let mut json = serde_json::json!({
            "format": "bedrock-chat/conversation", "version": 1, "modelId": "m", "messages": []
        });
        for (user, reply) in pairs {
            let messages = json["messages"].as_array_mut().unwrap();
            messages.push(serde_json::json!({"role": "user", "content": [{"text": user}]}));
            messages.push(serde_json::json!({"role": "assistant", "content": [{"text": reply}]}));
        }
        SavedConversation::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn words(q: &str) -> Vec<String> {
        q.split_whitespace().map(str::to_lowercase).collect()
    }

    #[test]
    fn every_word_must_be_found_in_the_title_or_the_text() {
        let c = conversation(&[("Opening hours?", "We open at NINE on weekdays.")]);
        assert_eq!(
            find(&words("nine"), "Hours", &c),
            Some(Some("We open at NINE on weekdays.".into()))
        );
        assert!(find(&words("hours sunday"), "Hours", &c).is_none());
        assert_eq!(find(&words("trip"), "Trip planning", &c), Some(None));
        assert!(find(&words("zzz"), "Trip", &c).is_none());
    }

    #[test]
    fn a_snippet_is_the_text_around_the_word_on_one_line() {
        let long = format!(
            "{}\n\nthe answer is ÉTÉ here{}",
            "a ".repeat(100),
            " b".repeat(100)
        );
        let c = conversation(&[("q", &long)]);
        let snippet = find(&words("été"), "t", &c).unwrap().unwrap();
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(snippet.contains("the answer is ÉTÉ here"), "{snippet}");
        assert!(
            !snippet.contains('\n') && !snippet.contains("  "),
            "{snippet}"
        );
    }
}
