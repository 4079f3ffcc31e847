//! Citations: which passage of a knowledge base's search results (or of a document) a reply's
//! words come from, and the numbered list of sources a reader sees under the reply.

use serde::{Deserialize, Serialize};

/// Text of a reply that cites its sources: `{"citationsContent": {...}}` in a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CitedText {
    /// The reply's words.
    pub text: String,
    /// Where they come from, in the order the model gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
}

impl CitedText {
    /// Text citing `citations`.
    pub fn new(text: impl Into<String>, citations: Vec<Citation>) -> Self {
        CitedText {
            text: text.into(),
            citations,
        }
    }
}

/// One citation: the source a span of the reply relies on and the words it quotes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Citation {
    /// The cited source's title (a search result's title, a document's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Where the source lives (a search result's `source`: an `s3://` or `https:` location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The words of the source the reply relies on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cited_text: String,
    /// Where in the source they are.
    pub location: CitationLocation,
}

impl Citation {
    /// A citation of `location`, without title, source or quoted words.
    pub fn new(location: CitationLocation) -> Self {
        Citation {
            title: None,
            source: None,
            cited_text: String::new(),
            location,
        }
    }

    /// Sets the title. Default is none.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the source. Default is none.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the quoted words. Default is none.
    #[must_use]
    pub fn with_cited_text(mut self, text: impl Into<String>) -> Self {
        self.cited_text = text.into();
        self
    }
}

/// Where a citation points. Indexes count from 0; ranges are `start..end` as Bedrock gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CitationLocation {
    /// Content blocks `start..end` of search result `index` in the request.
    SearchResult {
        /// The search result's index among those the request carried.
        index: u32,
        /// Its first cited content block.
        start: u32,
        /// One past its last cited content block.
        end: u32,
    },
    /// Characters of an attached document.
    DocumentChars {
        /// The document's index among those the conversation carried.
        document: u32,
        /// The first character.
        start: u32,
        /// One past the last.
        end: u32,
    },
    /// Pages of an attached document.
    DocumentPages {
        /// The document's index among those the conversation carried.
        document: u32,
        /// The first page.
        start: u32,
        /// One past the last.
        end: u32,
    },
    /// Chunks of an attached document.
    DocumentChunks {
        /// The document's index among those the conversation carried.
        document: u32,
        /// The first chunk.
        start: u32,
        /// One past the last.
        end: u32,
    },
    /// A web page.
    Web {
        /// Its address.
        url: String,
        /// Its domain, when Bedrock gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
    },
    /// A kind of location this version of the crate does not know.
    Unknown,
}

/// Passages of a knowledge base's search, given to the model with the user's question:
/// `{"searchResult": {...}}` in a message. The model cites them by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchResult {
    /// Where the passage comes from (an `s3://` or `https:` location); citations repeat it.
    pub source: String,
    /// The passage's title (a document's name); citations repeat it.
    pub title: String,
    /// The passage's text, in one or more pieces.
    pub content: Vec<String>,
    /// Whether the model is asked to cite it. Default is yes.
    #[serde(default = "yes")]
    pub citations: bool,
}

fn yes() -> bool {
    true
}

impl SearchResult {
    /// A passage to cite, in one piece.
    pub fn new(
        source: impl Into<String>,
        title: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        SearchResult {
            source: source.into(),
            title: title.into(),
            content: vec![text.into()],
            citations: true,
        }
    }

    /// About how many bytes it takes in a request.
    pub(crate) fn size_bytes(&self) -> usize {
        self.source.len()
            + self.title.len()
            + self.content.iter().map(String::len).sum::<usize>()
            + 48
    }
}

/// One entry of a reply's numbered source list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Source {
    /// Its number, from 1, in the order the reply first cites it.
    pub number: usize,
    /// Its title, when the citation had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Where it lives: an `s3://` or `https:` location, a web address, or a document's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The words the reply quotes from it, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotes: Vec<String>,
}

impl Source {
    /// The location as a link a page may make, only for `https:` addresses: an `s3://` URI or
    /// anything else is shown as text, as a link to it would not open (or could be a script).
    pub fn link(&self) -> Option<&str> {
        self.location.as_deref().filter(|l| {
            l.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        })
    }
}

/// The distinct sources of some citations, numbered in order of first citation, and the number
/// each citation has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    list: Vec<Source>,
}

impl Sources {
    /// The sources cited in `citations`, in order.
    pub fn of<'a>(citations: impl IntoIterator<Item = &'a Citation>) -> Self {
        let mut sources = Sources::default();
        for citation in citations {
            sources.number(citation);
        }
        sources
    }

    /// The number of `citation`'s source, added to the list if it is new.
    pub fn number(&mut self, citation: &Citation) -> usize {
        let location = citation_location(citation);
        let same = |s: &Source| s.title == citation.title && s.location == location;
        let at = match self.list.iter().position(same) {
            Some(at) => at,
            None => {
                self.list.push(Source {
                    number: self.list.len() + 1,
                    title: citation.title.clone(),
                    location,
                    quotes: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        let quote = citation.cited_text.trim();
        let source = &mut self.list[at];
        if !quote.is_empty() && !source.quotes.iter().any(|q| q == quote) {
            source.quotes.push(quote.to_string());
        }
        source.number
    }

    /// The sources, numbered from 1.
    pub fn list(&self) -> &[Source] {
        &self.list
    }

    /// True when nothing was cited.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Where a citation's source lives, as a reader would look it up.
fn citation_location(citation: &Citation) -> Option<String> {
    if let Some(source) = citation.source.as_deref().filter(|s| !s.trim().is_empty()) {
        return Some(source.to_string());
    }
    match &citation.location {
        CitationLocation::Web { url, .. } => Some(url.clone()),
        CitationLocation::DocumentPages { start, end, .. } => Some(if end > &(start + 1) {
            format!("pages {}-{}", start + 1, end)
        } else {
            format!("page {}", start + 1)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cite(title: &str, source: &str, text: &str) -> Citation {
        Citation::new(CitationLocation::SearchResult {
            index: 0,
            start: 0,
            end: 1,
        })
        .with_title(title)
        .with_source(source)
        .with_cited_text(text)
    }

    #[test]
    fn sources_are_numbered_once_each_in_order_of_first_citation() {
        let citations = [
            cite("Refunds", "s3://kb/refunds.md", "30 days"),
            cite("Shipping", "https://example.com/ship", "2 days"),
            cite("Refunds", "s3://kb/refunds.md", "30 days"),
            cite("Refunds", "s3://kb/refunds.md", "receipt"),
        ];
        let mut sources = Sources::default();
        let numbers: Vec<usize> = citations.iter().map(|c| sources.number(c)).collect();
        assert_eq!(numbers, [1, 2, 1, 1]);
        assert_eq!(sources.list()[0].quotes, ["30 days", "receipt"]);
        assert_eq!(sources.list()[0].link(), None, "s3 is shown as text");
        assert_eq!(sources.list()[1].link(), Some("https://example.com/ship"));
    }

    #[test]
    fn only_https_locations_are_links() {
        for (location, link) in [
            ("javascript:alert(1)", false),
            ("http://plain.example", false),
            ("HTTPS://EXAMPLE.COM/x", true),
            ("s3://bucket/key", false),
            ("data:text/html,x", false),
        ] {
            let source = Source {
                number: 1,
                title: None,
                location: Some(location.to_string()),
                quotes: Vec::new(),
            };
            assert_eq!(source.link().is_some(), link, "{location}");
        }
    }
}
