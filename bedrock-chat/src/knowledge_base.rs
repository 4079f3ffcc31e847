//! [`KnowledgeBase`]: passages from an Amazon Bedrock knowledge base (the agent runtime's
//! `Retrieve`), a [`Retriever`] a session grounds its turns in.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrockagentruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockagentruntime::operation::retrieve::RetrieveError;
use aws_sdk_bedrockagentruntime::types as sdk;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::bedrock::BedrockClient;
use crate::bedrock::convert::document_from_json;
use crate::citation::SearchResult;
use crate::error::{Error, Result};
use crate::retrieval::Retriever;

/// How many passages a search returns unless told otherwise.
pub const DEFAULT_KNOWLEDGE_BASE_RESULTS: u32 = 5;

/// The most passages one `Retrieve` returns.
const MAX_RESULTS: u32 = 100;

/// The longest query sent: `Retrieve` takes a query of at most 1,000 characters, and a search
/// needs the question, not a long paste around it.
const MAX_QUERY_CHARS: usize = 1000;

/// An Amazon Bedrock knowledge base: each question's passages come from its `Retrieve`, and the
/// model cites them.
///
/// ```no_run
/// use bedrock_chat::{BedrockClient, ChatSession, KnowledgeBase};
///
/// # async fn run() -> bedrock_chat::Result<()> {
/// let client = BedrockClient::from_env().await?;
/// let knowledge_base = KnowledgeBase::new("KB12345678").results(4).with_client(&client);
/// let mut session = ChatSession::builder(client).retriever(knowledge_base).build()?;
/// let reply = session.send("How long do refunds take?").await?;
/// println!("{}", reply.text());
/// for source in reply.sources().list() {
///     println!("[{}] {:?} {:?}", source.number, source.title, source.location);
/// }
/// # Ok(())
/// # }
/// ```
///
/// Cloning is cheap; clones share the connection.
#[derive(Clone)]
#[must_use]
pub struct KnowledgeBase {
    id: Arc<str>,
    results: u32,
    filter: Option<RetrievalFilter>,
    search_type: Option<SearchType>,
    /// The agent runtime client, made on first use from `config` (or the standard chain).
    client: Arc<OnceCell<aws_sdk_bedrockagentruntime::Client>>,
    config: Option<SdkConfig>,
}

/// How a knowledge base searches its vector store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchType {
    /// Meaning only.
    Semantic,
    /// Meaning and words (stores that support it).
    Hybrid,
}

impl KnowledgeBase {
    /// The knowledge base with this id (10 letters and digits, from the Bedrock console's
    /// Knowledge bases page), searched with the standard AWS configuration chain unless given a
    /// client ([`with_client`](Self::with_client)).
    pub fn new(id: impl Into<String>) -> Self {
        KnowledgeBase {
            id: Arc::from(id.into()),
            results: DEFAULT_KNOWLEDGE_BASE_RESULTS,
            filter: None,
            search_type: None,
            client: Arc::new(OnceCell::new()),
            config: None,
        }
    }

    /// Searches with the region, credentials and endpoint `client` was built with (the same
    /// AWS configuration the chat uses). Default is the standard AWS configuration chain.
    pub fn with_client(mut self, client: &BedrockClient) -> Self {
        self.config = client.sdk_config().cloned();
        self.client = Arc::new(OnceCell::new());
        self
    }

    /// Searches with a configuration the caller loaded. Default is the standard chain.
    pub fn with_sdk_config(mut self, config: &SdkConfig) -> Self {
        self.config = Some(config.clone());
        self.client = Arc::new(OnceCell::new());
        self
    }

    /// How many passages each question gets, 1 to 100. Default is 5.
    pub fn results(mut self, results: u32) -> Self {
        self.results = results;
        self
    }

    /// Only passages whose metadata pass `filter`. Default is none.
    pub fn filter(mut self, filter: RetrievalFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Overrides how the store is searched. Default is the knowledge base's own choice.
    pub fn search_type(mut self, search_type: SearchType) -> Self {
        self.search_type = Some(search_type);
        self
    }

    /// How many passages each question gets.
    pub fn result_count(&self) -> u32 {
        self.results
    }

    /// The knowledge base's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks the id and the settings, so a mistake is reported before the first question.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an id that is not 10 letters and digits, or a result count out of
    /// 1 to 100.
    pub fn validate(&self) -> Result<()> {
        if self.id.len() != 10 || !self.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let shown: String = self.id.chars().take(40).collect();
            return Err(Error::config(format!(
                "{shown:?} is not a knowledge base id: it is 10 letters and digits, such as \
                 KB12345678 (Bedrock console, Knowledge bases)"
            )));
        }
        if let Some(filter) = &self.filter
            && let Err(reason) = filter.to_sdk()
        {
            return Err(Error::config(format!(
                "the knowledge base filter is not one Retrieve takes: {reason}"
            )));
        }
        if !(1..=MAX_RESULTS).contains(&self.results) {
            return Err(Error::config(format!(
                "a knowledge base search returns 1 to {MAX_RESULTS} passages, not {}",
                self.results
            )));
        }
        Ok(())
    }

    async fn client(&self) -> &aws_sdk_bedrockagentruntime::Client {
        self.client
            .get_or_init(|| async {
                let config = match &self.config {
                    Some(config) => config.clone(),
                    None => aws_config::defaults(BehaviorVersion::latest()).load().await,
                };
                aws_sdk_bedrockagentruntime::Client::new(&config)
            })
            .await
    }

    fn error(
        &self,
        message: impl Into<String>,
        retryable: bool,
        source: Option<crate::BoxError>,
    ) -> Error {
        Error::KnowledgeBase {
            knowledge_base_id: Box::from(&*self.id),
            message: message.into(),
            retryable,
            source,
        }
    }

    fn sdk_error(&self, error: SdkError<RetrieveError>) -> Error {
        let region = self
            .config
            .as_ref()
            .and_then(|c| c.region())
            .map_or_else(|| "its region".to_string(), |r| r.to_string());
        let (message, retryable) = match &error {
            SdkError::ServiceError(service) => {
                let said = service.err().message().unwrap_or("no message").to_string();
                match service.err() {
                    RetrieveError::ResourceNotFoundException(_) => (
                        format!(
                            "not found in {region} ({said}); check the id and the region it was \
                             made in"
                        ),
                        false,
                    ),
                    RetrieveError::AccessDeniedException(_) => (
                        format!(
                            "access denied ({said}); allow bedrock:Retrieve on the knowledge \
                             base for this identity"
                        ),
                        false,
                    ),
                    RetrieveError::ThrottlingException(_) => (
                        format!("searches are throttled ({said}); try again shortly"),
                        true,
                    ),
                    RetrieveError::ValidationException(_) => {
                        (format!("the search was refused: {said}"), false)
                    }
                    RetrieveError::InternalServerException(_)
                    | RetrieveError::BadGatewayException(_)
                    | RetrieveError::DependencyFailedException(_) => (
                        format!("the search failed on Bedrock's side ({said}); try again"),
                        true,
                    ),
                    _ => (format!("the search failed: {said}"), false),
                }
            }
            SdkError::TimeoutError(_) => ("the search timed out; try again".to_string(), true),
            SdkError::DispatchFailure(_) => (
                "could not reach the Bedrock agent runtime; check the network (or \
                 AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME)"
                    .to_string(),
                true,
            ),
            _ => ("the search's response could not be read".to_string(), true),
        };
        self.error(message, retryable, Some(Box::new(error)))
    }
}

#[async_trait]
impl Retriever for KnowledgeBase {
    async fn retrieve(&self, query: &str) -> Result<Vec<SearchResult>> {
        self.validate()?;
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let filter = self
            .filter
            .as_ref()
            .map(RetrievalFilter::to_sdk)
            .transpose()
            .map_err(|e| self.error(format!("its filter is not valid: {e}"), false, None))?;
        let search = sdk::KnowledgeBaseVectorSearchConfiguration::builder()
            .number_of_results(i32::try_from(self.results).unwrap_or(i32::MAX))
            .set_filter(filter)
            .set_override_search_type(self.search_type.map(|t| match t {
                SearchType::Semantic => sdk::SearchType::Semantic,
                SearchType::Hybrid => sdk::SearchType::Hybrid,
            }))
            .build();
        let output = self
            .client()
            .await
            .retrieve()
            .knowledge_base_id(&*self.id)
            .retrieval_query(sdk::KnowledgeBaseQuery::builder().text(query).build())
            .retrieval_configuration(
                sdk::KnowledgeBaseRetrievalConfiguration::builder()
                    .vector_search_configuration(search)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        Ok(output
            .retrieval_results
            .into_iter()
            .enumerate()
            .filter_map(|(i, result)| passage(i, result))
            .collect())
    }
}

/// A search result as the model gets it: its text, where it lives, and a title.
fn passage(index: usize, result: sdk::KnowledgeBaseRetrievalResult) -> Option<SearchResult> {
    let text = result.content?.text;
    if text.trim().is_empty() {
        return None;
    }
    let source = result
        .location
        .as_ref()
        .and_then(location)
        .unwrap_or_default();
    let title = result
        .metadata
        .as_ref()
        .and_then(|m| {
            ["title", "x-amz-bedrock-kb-title"]
                .iter()
                .find_map(|key| m.get(*key).and_then(|d| d.as_string()).map(str::to_string))
        })
        .or_else(|| {
            source
                .rsplit(['/', '#'])
                .find(|part| !part.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("Passage {}", index + 1));
    Some(SearchResult::new(
        if source.is_empty() {
            format!("passage-{}", index + 1)
        } else {
            source
        },
        title,
        text,
    ))
}

/// Where a passage lives, whatever the kind of store.
fn location(location: &sdk::RetrievalResultLocation) -> Option<String> {
    location
        .s3_location
        .as_ref()
        .and_then(|l| l.uri.clone())
        .or_else(|| location.web_location.as_ref().and_then(|l| l.url.clone()))
        .or_else(|| {
            location
                .confluence_location
                .as_ref()
                .and_then(|l| l.url.clone())
        })
        .or_else(|| {
            location
                .salesforce_location
                .as_ref()
                .and_then(|l| l.url.clone())
        })
        .or_else(|| {
            location
                .share_point_location
                .as_ref()
                .and_then(|l| l.url.clone())
        })
        .or_else(|| {
            location
                .kendra_document_location
                .as_ref()
                .and_then(|l| l.uri.clone())
        })
        .or_else(|| {
            location
                .custom_document_location
                .as_ref()
                .and_then(|l| l.id.clone())
        })
        .or_else(|| location.sql_location.as_ref().and_then(|l| l.query.clone()))
}

impl fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("id", &self.id)
            .field("results", &self.results)
            .field("filter", &self.filter)
            .field("search_type", &self.search_type)
            .finish_non_exhaustive()
    }
}

/// Which passages a search may return, by their metadata: `Retrieve`'s filter.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RetrievalFilter {
    /// The attribute `key` equals the value.
    Equals(String, Value),
    /// It does not equal the value.
    NotEquals(String, Value),
    /// It is greater than the number.
    GreaterThan(String, Value),
    /// It is at least the number.
    GreaterThanOrEquals(String, Value),
    /// It is less than the number.
    LessThan(String, Value),
    /// It is at most the number.
    LessThanOrEquals(String, Value),
    /// It is one of the list's values.
    In(String, Value),
    /// It is none of the list's values.
    NotIn(String, Value),
    /// It starts with the string.
    StartsWith(String, Value),
    /// The list attribute holds the value.
    ListContains(String, Value),
    /// The string attribute contains the string.
    StringContains(String, Value),
    /// Every filter passes.
    AndAll(Vec<RetrievalFilter>),
    /// Any filter passes.
    OrAll(Vec<RetrievalFilter>),
}

impl RetrievalFilter {
    /// A filter from `Retrieve`'s JSON: `{"equals": {"key": "team", "value": "billing"}}`,
    /// `{"andAll": [...]}`, and so on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is not a filter.
    pub fn from_json(value: &Value) -> Result<Self> {
        let bad = |what: &str| {
            Error::invalid_input(format!(
                "{what} is not a knowledge base filter; use the Retrieve API's form, such as \
                 {{\"equals\": {{\"key\": \"team\", \"value\": \"billing\"}}}}"
            ))
        };
        let object = value
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| bad(&value.to_string()))?;
        let (kind, body) = object.iter().next().ok_or_else(|| bad("{}"))?;
        let list = |body: &Value| -> Result<Vec<RetrievalFilter>> {
            body.as_array()
                .ok_or_else(|| bad(&body.to_string()))?
                .iter()
                .map(RetrievalFilter::from_json)
                .collect()
        };
        let attribute = || -> Result<(String, Value)> {
            let key = body
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&body.to_string()))?;
            let value = body
                .get("value")
                .cloned()
                .ok_or_else(|| bad(&body.to_string()))?;
            Ok((key.to_string(), value))
        };
        Ok(match kind.as_str() {
            "andAll" => RetrievalFilter::AndAll(list(body)?),
            "orAll" => RetrievalFilter::OrAll(list(body)?),
            "equals" => attribute().map(|(k, v)| RetrievalFilter::Equals(k, v))?,
            "notEquals" => attribute().map(|(k, v)| RetrievalFilter::NotEquals(k, v))?,
            "greaterThan" => attribute().map(|(k, v)| RetrievalFilter::GreaterThan(k, v))?,
            "greaterThanOrEquals" => {
                attribute().map(|(k, v)| RetrievalFilter::GreaterThanOrEquals(k, v))?
            }
            "lessThan" => attribute().map(|(k, v)| RetrievalFilter::LessThan(k, v))?,
            "lessThanOrEquals" => {
                attribute().map(|(k, v)| RetrievalFilter::LessThanOrEquals(k, v))?
            }
            "in" => attribute().map(|(k, v)| RetrievalFilter::In(k, v))?,
            "notIn" => attribute().map(|(k, v)| RetrievalFilter::NotIn(k, v))?,
            "startsWith" => attribute().map(|(k, v)| RetrievalFilter::StartsWith(k, v))?,
            "listContains" => attribute().map(|(k, v)| RetrievalFilter::ListContains(k, v))?,
            "stringContains" => attribute().map(|(k, v)| RetrievalFilter::StringContains(k, v))?,
            other => return Err(bad(&format!("{other:?}"))),
        })
    }

    fn to_sdk(&self) -> std::result::Result<sdk::RetrievalFilter, String> {
        let attribute = |key: &str, value: &Value| {
            sdk::FilterAttribute::builder()
                .key(key)
                .value(document_from_json(value))
                .build()
                .map_err(|e| e.to_string())
        };
        let all = |filters: &[RetrievalFilter]| {
            if filters.len() < 2 {
                return Err("andAll and orAll take at least two filters".to_string());
            }
            filters
                .iter()
                .map(RetrievalFilter::to_sdk)
                .collect::<std::result::Result<Vec<_>, _>>()
        };
        Ok(match self {
            RetrievalFilter::Equals(k, v) => sdk::RetrievalFilter::Equals(attribute(k, v)?),
            RetrievalFilter::NotEquals(k, v) => sdk::RetrievalFilter::NotEquals(attribute(k, v)?),
            RetrievalFilter::GreaterThan(k, v) => {
                sdk::RetrievalFilter::GreaterThan(attribute(k, v)?)
            }
            RetrievalFilter::GreaterThanOrEquals(k, v) => {
                sdk::RetrievalFilter::GreaterThanOrEquals(attribute(k, v)?)
            }
            RetrievalFilter::LessThan(k, v) => sdk::RetrievalFilter::LessThan(attribute(k, v)?),
            RetrievalFilter::LessThanOrEquals(k, v) => {
                sdk::RetrievalFilter::LessThanOrEquals(attribute(k, v)?)
            }
            RetrievalFilter::In(k, v) => sdk::RetrievalFilter::In(attribute(k, v)?),
            RetrievalFilter::NotIn(k, v) => sdk::RetrievalFilter::NotIn(attribute(k, v)?),
            RetrievalFilter::StartsWith(k, v) => sdk::RetrievalFilter::StartsWith(attribute(k, v)?),
            RetrievalFilter::ListContains(k, v) => {
                sdk::RetrievalFilter::ListContains(attribute(k, v)?)
            }
            RetrievalFilter::StringContains(k, v) => {
                sdk::RetrievalFilter::StringContains(attribute(k, v)?)
            }
            RetrievalFilter::AndAll(filters) => sdk::RetrievalFilter::AndAll(all(filters)?),
            RetrievalFilter::OrAll(filters) => sdk::RetrievalFilter::OrAll(all(filters)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_result_counts_are_checked_before_any_search() {
        assert!(KnowledgeBase::new("KB12345678").validate().is_ok());
        for id in ["", "KB123", "KB12345678X", "kb-1234567", "KB1234567/"] {
            let err = KnowledgeBase::new(id).validate().unwrap_err().to_string();
            assert!(err.contains("10 letters and digits"), "{id}: {err}");
        }
        assert!(
            KnowledgeBase::new("KB12345678")
                .results(0)
                .validate()
                .is_err()
        );
        assert!(
            KnowledgeBase::new("KB12345678")
                .results(101)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn filters_read_from_the_apis_json_and_refuse_anything_else() {
        let filter = RetrievalFilter::from_json(&serde_json::json!({"andAll": [
            {"equals": {"key": "team", "value": "billing"}},
            {"greaterThan": {"key": "year", "value": 2023}}
        ]}))
        .unwrap();
        assert!(filter.to_sdk().is_ok());
        for bad in [
            serde_json::json!({"equals": {"key": "team"}}),
            serde_json::json!({"sortOf": {"key": "a", "value": 1}}),
            serde_json::json!([]),
            serde_json::json!({"equals": {"key": "a", "value": 1}, "in": {}}),
        ] {
            assert!(RetrievalFilter::from_json(&bad).is_err(), "{bad}");
        }
        let one = RetrievalFilter::AndAll(vec![RetrievalFilter::Equals("a".into(), 1.into())]);
        assert!(one.to_sdk().is_err(), "andAll of one is refused by Bedrock");
    }
}
