//! The fake's knowledge bases (the agent runtime's `Retrieve`) and the cited answers it gives to
//! questions that come with search results or documents to cite.

use serde_json::{Value, json};

/// A passage in one of the fake's knowledge bases.
#[derive(Clone, Debug, PartialEq)]
pub struct FakePassage {
    pub(super) location: String,
    pub(super) text: String,
    pub(super) metadata: Value,
}

impl FakePassage {
    /// A passage of `text` stored at `location`: an `s3://` URI, or a web address (`http...`),
    /// which `Retrieve` reports as an S3 or a web location.
    pub fn new(location: &str, text: &str) -> Self {
        FakePassage {
            location: location.to_string(),
            text: text.to_string(),
            metadata: json!({}),
        }
    }

    /// Sets its metadata, which filters match (`equals`, `notEquals`, `in`, `andAll`, `orAll`;
    /// other operators let every passage through). Default is none.
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// `Retrieve`'s answer: the passages most like the query (by the fake's embedding), as many as
/// `numberOfResults` asks (5 by default), those the filter lets through, best first.
pub(super) fn retrieve(passages: &[FakePassage], body: &Value) -> Value {
    let query = body["retrievalQuery"]["text"].as_str().unwrap_or_default();
    let search = &body["retrievalConfiguration"]["vectorSearchConfiguration"];
    let wanted = search["numberOfResults"].as_u64().unwrap_or(5) as usize;
    let query_vector = fake_embedding(query, 256);
    let mut scored: Vec<(f32, &FakePassage)> = passages
        .iter()
        .filter(|p| search.get("filter").is_none_or(|f| passes(f, &p.metadata)))
        .map(|p| {
            let vector = fake_embedding(&p.text, 256);
            let score: f32 = vector.iter().zip(&query_vector).map(|(a, b)| a * b).sum();
            (score, p)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let results: Vec<Value> = scored
        .into_iter()
        .take(wanted)
        .map(|(score, passage)| {
            let location = if passage.location.starts_with("http") {
                json!({"type": "WEB", "webLocation": {"url": passage.location}})
            } else {
                json!({"type": "S3", "s3Location": {"uri": passage.location}})
            };
            let mut metadata = passage.metadata.clone();
            if let Some(map) = metadata.as_object_mut() {
                map.insert(
                    "x-amz-bedrock-kb-source-uri".into(),
                    json!(passage.location),
                );
            }
            json!({
                "content": {"type": "TEXT", "text": passage.text},
                "location": location,
                "score": score,
                "metadata": metadata,
            })
        })
        .collect();
    json!({ "retrievalResults": results })
}

/// Whether metadata passes a `Retrieve` filter.
fn passes(filter: &Value, metadata: &Value) -> bool {
    let Some((kind, body)) = filter.as_object().and_then(|o| o.iter().next()) else {
        return true;
    };
    let value = || metadata.get(body["key"].as_str().unwrap_or_default());
    match kind.as_str() {
        "andAll" => body
            .as_array()
            .is_none_or(|all| all.iter().all(|f| passes(f, metadata))),
        "orAll" => body
            .as_array()
            .is_none_or(|any| any.iter().any(|f| passes(f, metadata))),
        "equals" => value() == Some(&body["value"]),
        "notEquals" => value() != Some(&body["value"]),
        "in" => body["value"]
            .as_array()
            .is_some_and(|list| value().is_some_and(|v| list.contains(v))),
        _ => true,
    }
}

/// The cited answer to a request whose last user message carries search results or documents
/// with citations on: an opening line, then one cited sentence per source (at most three), as
/// `(text, citations)`; `None` when there is nothing to cite.
pub(super) fn cited_answer(body: &Value) -> Option<(String, Vec<(String, Value)>)> {
    let last = body["messages"].as_array()?.last()?;
    let content = last["content"].as_array()?;
    let mut cited = Vec::new();
    let mut search_index = 0;
    let mut document_index = 0;
    for block in content {
        if let Some(result) = block.get("searchResult") {
            let index = search_index;
            search_index += 1;
            if result["citations"]["enabled"] != Value::Bool(true) {
                continue;
            }
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            let sentence = first_sentence(text);
            cited.push((
                format!("{sentence} "),
                json!({
                    "title": result["title"],
                    "source": result["source"],
                    "sourceContent": [{"text": sentence}],
                    "location": {"searchResultLocation": {
                        "searchResultIndex": index, "start": 0, "end": 1,
                    }},
                }),
            ));
        } else if let Some(document) = block.get("document") {
            let index = document_index;
            document_index += 1;
            if document["citations"]["enabled"] != Value::Bool(true) {
                continue;
            }
            let name = document["name"].as_str().unwrap_or("document");
            let location = if document["format"] == "pdf" {
                json!({"documentPage": {"documentIndex": index, "start": 1, "end": 2}})
            } else {
                let bytes = document["source"]["bytes"].as_str().unwrap_or_default();
                json!({"documentChar": {"documentIndex": index, "start": 0, "end": bytes.len().min(80)}})
            };
            cited.push((
                format!("The document {name} says so. "),
                json!({
                    "title": name,
                    "sourceContent": [{"text": format!("(from {name})")}],
                    "location": location,
                }),
            ));
        }
        if cited.len() == 3 {
            break;
        }
    }
    (!cited.is_empty()).then(|| ("According to the sources: ".to_string(), cited))
}

/// The first sentence of `text`, at most 160 characters.
fn first_sentence(text: &str) -> String {
    let end = text.find(['.', '!', '?']).map_or(text.len(), |i| i + 1);
    text[..end]
        .chars()
        .take(160)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The fake's embedding of `text`, as its `InvokeModel` answers: the text's content words
/// (lowercased, a plural `s` dropped, common words left out), each at dimensions of its own,
/// normalized.
pub fn fake_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    const COMMON: &[&str] = &[
        "a", "an", "the", "is", "are", "do", "does", "what", "whats", "your", "you", "i", "me",
        "my", "of", "to", "for", "please", "can", "how", "tell", "about", "and", "on", "in", "it",
        "be", "there", "this",
    ];
    let dimensions = dimensions.max(8);
    let mut vector = vec![0f32; dimensions];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .map(|w| w.to_lowercase())
        .filter(|w| !w.is_empty())
    {
        let word = word
            .strip_suffix('s')
            .filter(|w| w.len() > 2)
            .unwrap_or(&word);
        if COMMON.contains(&word) {
            continue;
        }
        // FNV-1a: a word's dimensions, the same in every run.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in word.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        for k in 0..4u64 {
            let index = (hash.rotate_left((k * 16) as u32) % dimensions as u64) as usize;
            vector[index] += 1.0;
        }
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}
