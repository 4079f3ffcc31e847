//! A fake Amazon Bedrock runtime on 127.0.0.1 that speaks the real wire format.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::fake_catalog;
use super::fake_knowledge::{self, FakePassage, fake_embedding};
use super::script::{FakeError, FakeReply, Operation, RecordedRequest, ReplyKind, StreamFault};
use super::wire::{self, WireUsage};

/// The access key id the fake's clients and child processes sign with. Not a secret: the fake
/// checks only that a request is signed.
pub const FAKE_ACCESS_KEY_ID: &str = "AKIDFAKEBEDROCK";

/// The secret key that goes with [`FAKE_ACCESS_KEY_ID`].
pub const FAKE_SECRET_ACCESS_KEY: &str = "fake-bedrock-secret";

/// The model latency the fake reports in every reply's metrics, in milliseconds.
const REPORTED_LATENCY_MS: u64 = 12;

/// Chooses a reply from the request itself; see [`FakeBedrock::respond_with`].
type Responder = Arc<dyn Fn(&RecordedRequest) -> Option<FakeReply> + Send + Sync>;

#[derive(Default)]
struct State {
    responder: Option<Responder>,
    script: VecDeque<FakeReply>,
    fallback: Option<FakeReply>,
    requests: Vec<RecordedRequest>,
    /// Requests received while recording was off: counted, not kept.
    unrecorded: usize,
    served: u64,
    connections: u64,
    not_recording: bool,
    /// `InvokeModel` calls for embeddings: counted apart from Converse, never recorded.
    embeddings: usize,
    /// What the embeddings model answers instead of a vector, when set.
    embedding_error: Option<FakeError>,
    /// `CountTokens` calls, counted apart from Converse.
    token_counts: usize,
    /// What `CountTokens` answers instead of a count, when set.
    count_tokens_error: Option<FakeError>,
    /// The knowledge bases `Retrieve` searches, by id.
    knowledge_bases: std::collections::HashMap<String, Vec<FakePassage>>,
    /// Every `Retrieve`: the knowledge base's id and the body.
    retrievals: Vec<(String, Value)>,
}

/// A fake Bedrock runtime on 127.0.0.1, for tests that drive the real AWS SDK.
///
/// It answers `converse` and `converse-stream` byte for byte as Bedrock does: JSON bodies with
/// `x-amzn-requestid`, errors with `x-amzn-errortype`, and event-stream frames with valid CRCs,
/// the real header names and padded payloads. Replies are scripted in order with
/// [`push`](Self::push); when the script is empty the [`fallback`](Self::set_fallback) answers
/// (by default, a short text reply). Every request is recorded, unless
/// [`set_recording(false)`](Self::set_recording) says otherwise.
///
/// The server runs on the Tokio runtime that started it, with `TCP_NODELAY` set on each
/// connection (without it every response waits about 40 ms for a delayed ACK). It stops when the
/// `FakeBedrock` is dropped.
pub struct FakeBedrock {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeBedrock {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// The I/O error when no port on 127.0.0.1 can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// Starts the fake on `port` of 127.0.0.1 (0 for any free port), so a command line written
    /// in advance can point at it.
    ///
    /// # Errors
    ///
    /// The I/O error when the port cannot be bound (for example, it is in use).
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let _ = socket.set_nodelay(true);
                lock(&shared).connections += 1;
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    // A connection ending in error is what some scripted faults are for.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(FakeBedrock { addr, state, task })
    }

    /// The endpoint URL to give the SDK, such as `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a reply to the end of the script.
    pub fn push(&self, reply: FakeReply) -> &Self {
        self.state().script.push_back(reply);
        self
    }

    /// Adds `count` copies of a reply to the script, such as three throttles in a row.
    pub fn push_times(&self, count: usize, reply: FakeReply) -> &Self {
        let mut state = self.state();
        for _ in 0..count {
            state.script.push_back(reply.clone());
        }
        self
    }

    /// Drops the replies still scripted, for a test that moves on after a turn that did not
    /// use them all.
    pub fn clear_script(&self) -> &Self {
        self.state().script.clear();
        self
    }

    /// Sets the reply used when the script is empty. Default is a short text reply.
    pub fn set_fallback(&self, reply: FakeReply) -> &Self {
        self.state().fallback = Some(reply);
        self
    }

    /// Chooses replies from the requests themselves, before the script is consulted: `None`
    /// falls through to the script. For concurrent tests, where the order in which requests
    /// arrive is not known, a reply can depend on what the request says.
    pub fn respond_with(
        &self,
        responder: impl Fn(&RecordedRequest) -> Option<FakeReply> + Send + Sync + 'static,
    ) -> &Self {
        self.state().responder = Some(Arc::new(responder));
        self
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Stops or resumes recording requests. Default is recording. Benchmarks that send
    /// millions of requests turn it off so the record does not grow without bound (each
    /// recorded request keeps its parsed body, about 3 KB for a one-line question, and a heap
    /// that grows every turn would be part of what a benchmark measures). Requests received
    /// while it is off are still counted by [`request_count`](Self::request_count).
    pub fn set_recording(&self, recording: bool) -> &Self {
        self.state().not_recording = !recording;
        self
    }

    /// How many connections clients have opened, to check that they are reused.
    pub fn connection_count(&self) -> u64 {
        self.state().connections
    }

    /// How many embeddings (`InvokeModel` on an embeddings model) were asked for; they are not
    /// in [`request_count`](Self::request_count) or [`requests`](Self::requests).
    pub fn embedding_count(&self) -> usize {
        self.state().embeddings
    }

    /// Makes the embeddings model answer with `error` (Bedrock's shape and status) until
    /// called again with `None`.
    pub fn set_embedding_error(&self, error: Option<FakeError>) -> &Self {
        self.state().embedding_error = error;
        self
    }

    /// Adds (or replaces) a knowledge base that `Retrieve` searches, under `id` (10 letters
    /// and digits, as Bedrock's). An id the fake does not have is Bedrock's 404.
    pub fn add_knowledge_base(&self, id: &str, passages: Vec<FakePassage>) -> &Self {
        self.state()
            .knowledge_bases
            .insert(id.to_string(), passages);
        self
    }

    /// Every `Retrieve` received: the knowledge base's id and the request's JSON body.
    pub fn retrievals(&self) -> Vec<(String, Value)> {
        self.state().retrievals.clone()
    }

    /// How many `CountTokens` calls were received.
    pub fn token_count_requests(&self) -> usize {
        self.state().token_counts
    }

    /// Makes `CountTokens` answer with `error` until called again with `None`.
    pub fn set_count_tokens_error(&self, error: Option<FakeError>) -> &Self {
        self.state().count_tokens_error = error;
        self
    }

    /// How many requests were received (since the last [`reset`](Self::reset)), recorded or
    /// not.
    pub fn request_count(&self) -> usize {
        let state = self.state();
        state.requests.len() + state.unrecorded
    }

    /// Forgets the recorded requests and the remaining script.
    pub fn reset(&self) {
        let mut state = self.state();
        state.requests.clear();
        state.unrecorded = 0;
        state.script.clear();
    }

    /// Environment variables that point a child process using the standard AWS configuration
    /// chain (your program under test) at this server: [`isolated_aws_env`] plus
    /// the endpoint variables of the runtime, the agent runtime (knowledge bases) and the
    /// control plane (model listings), which it all serves.
    pub fn child_env(&self, home: &Path) -> Vec<(&'static str, OsString)> {
        let mut env = isolated_aws_env(home);
        for variable in [
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
            "AWS_ENDPOINT_URL_BEDROCK",
        ] {
            env.push((variable, self.endpoint_url().into()));
        }
        env
    }

    /// A client for this server through the real SDK, with test credentials and region
    /// `us-east-1`.
    ///
    /// # Errors
    ///
    /// As [`BedrockClientBuilder::build`](crate::BedrockClientBuilder::build).
    pub async fn client(&self) -> crate::Result<crate::BedrockClient> {
        self.client_builder().build().await
    }

    /// A client builder for this server, with test credentials and region `us-east-1`, to which
    /// timeouts can still be added.
    pub fn client_builder(&self) -> crate::BedrockClientBuilder {
        crate::BedrockClient::builder()
            .region("us-east-1")
            .endpoint_url(self.endpoint_url())
            .related_endpoint_url(self.endpoint_url())
            .credentials_provider(aws_credential_types::Credentials::new(
                FAKE_ACCESS_KEY_ID,
                FAKE_SECRET_ACCESS_KEY,
                None,
                None,
                "fake-bedrock",
            ))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Environment variables for a child process under test that keep the machine's own AWS set-up
/// out of it: test credentials and region `us-east-1`, `home` as its home directory, AWS config
/// and credentials files that do not exist, and the EC2 instance metadata service off (so
/// nothing waits on its timeouts).
pub fn isolated_aws_env(home: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("HOME", home.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", home.join("no-aws-config").into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials").into(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY.into()),
    ]
}

impl Drop for FakeBedrock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for FakeBedrock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeBedrock")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means another test thread panicked; the state is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Body = BoxBody<Bytes, std::io::Error>;

/// The outcome of one request: a response, or a closed connection.
type Handled = Result<Response<Body>, std::io::Error>;

async fn handle(state: Arc<Mutex<State>>, request: Request<Incoming>) -> Handled {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    // The control plane's listings (`bedrock.{region}`), on the same port.
    if request.method() == hyper::Method::GET {
        return Ok(match path.as_str() {
            "/foundation-models" => ok_json(&fake_catalog::foundation_models()),
            "/inference-profiles" => ok_json(&fake_catalog::inference_profiles(&query)),
            _ => plain(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "no such route",
            ),
        });
    }
    let access_key_id = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').next())
        .map(str::to_string);
    let authorization_scheme = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_whitespace().next())
        .map(str::to_string);
    let signed = authorization_scheme.as_deref() == Some("AWS4-HMAC-SHA256");
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    if path.starts_with("/model/") && path.ends_with("/invoke") {
        return Ok(embed(&state, &body));
    }
    if path.starts_with("/model/") && path.ends_with("/count-tokens") {
        return Ok(count_tokens(&state, &body));
    }
    if let Some(id) = path
        .strip_prefix("/knowledgebases/")
        .and_then(|rest| rest.strip_suffix("/retrieve"))
    {
        return Ok(retrieve(&state, &percent_decode(id), &body));
    }
    let Some((model_id, operation)) = parse_path(&path) else {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "no such route",
        ));
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not JSON",
        ));
    };
    let input_tokens = estimate_input_tokens(&body);
    let broken_rule = check_model_id(&model_id, &body)
        .or_else(|| check_thinking_rules(&body))
        .or_else(|| check_tool_rules(&body))
        .or_else(|| check_cache_points(&body))
        .or_else(|| check_attachments(&body));
    // Bedrock reports the tier and latency profile a request was served with.
    let serving = serde_json::json!({
        "serviceTier": body.get("serviceTier"),
        "performanceConfig": body.get("performanceConfig"),
    });
    let (reply, request_number) = {
        let mut state = lock(&state);
        let recorded = RecordedRequest {
            operation,
            model_id,
            body,
            signed,
            access_key_id,
            authorization_scheme,
        };
        let chosen = state
            .responder
            .clone()
            .and_then(|respond| respond(&recorded));
        // Chosen before the request is recorded, which moves it: the script first, then what
        // the request's own shape asks for (JSON of a schema, a forced call, cited sentences).
        let reply = broken_rule
            .map(|message| FakeReply::error(FakeError::Validation(message)))
            .or(chosen)
            .or_else(|| state.script.pop_front())
            .or_else(|| shaped_answer(&recorded.body))
            .or_else(|| state.fallback.clone())
            .unwrap_or_else(|| FakeReply::text("Hello from the fake Bedrock."));
        if state.not_recording {
            state.unrecorded += 1;
        } else {
            state.requests.push(recorded);
        }
        state.served += 1;
        (reply, state.served)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let request_id = format!("00000000-0000-4000-8000-{request_number:012x}");
    respond(reply, operation, (input_tokens, &serving), &request_id)
}

/// The start of a call the fake counts apart from Converse (an embedding, a token count):
/// `count` records it and gives the error it is scripted to answer with, if any; then the body
/// must be JSON.
fn side_call(
    state: &Arc<Mutex<State>>,
    body: &[u8],
    request_id: &str,
    count: impl FnOnce(&mut State) -> Option<FakeError>,
) -> Result<Value, Box<Response<Body>>> {
    if let Some(error) = count(&mut lock(state)) {
        return Err(Box::new(error_response(&error, request_id)));
    }
    serde_json::from_slice::<Value>(body).map_err(|_| {
        Box::new(plain(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not JSON",
        ))
    })
}

/// `CountTokens`: the count the fake's Converse would report as the input tokens of the same
/// request (`{"input": {"converse": {...}}}`).
fn count_tokens(state: &Arc<Mutex<State>>, body: &[u8]) -> Response<Body> {
    let request_id = "00000000-0000-4000-8000-counttokens0";
    let body = match side_call(state, body, request_id, |state| {
        state.token_counts += 1;
        state.count_tokens_error.clone()
    }) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let converse = &body["input"]["converse"];
    if !converse["messages"].is_array() {
        return error_response(
            &FakeError::Validation("input.converse.messages is required".to_string()),
            request_id,
        );
    }
    ok_json(&serde_json::json!({"inputTokens": estimate_input_tokens(converse)}))
}

/// `Retrieve` on one of the fake's knowledge bases; an unknown id is Bedrock's 404.
fn retrieve(state: &Arc<Mutex<State>>, id: &str, body: &[u8]) -> Response<Body> {
    let request_id = "00000000-0000-4000-8000-retrieve0000";
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not JSON",
        );
    };
    let passages = {
        let mut state = lock(state);
        state.retrievals.push((id.to_string(), body.clone()));
        state.knowledge_bases.get(id).cloned()
    };
    let Some(passages) = passages else {
        return plain(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Knowledge base with id {id} does not exist"),
        );
    };
    if body["retrievalQuery"]["text"].as_str().is_none() {
        return error_response(
            &FakeError::Validation("retrievalQuery.text is required".to_string()),
            request_id,
        );
    }
    ok_json(&fake_knowledge::retrieve(&passages, &body))
}

/// The reply a request's own shape asks for when nothing is scripted: JSON of its
/// `outputConfig` schema, a call of the tool its `toolChoice` forces with input of that tool's
/// schema, or sentences citing the search results and documents of its last message.
fn shaped_answer(body: &Value) -> Option<FakeReply> {
    let json_schema = &body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"];
    if let Some(schema) = json_schema
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        let answer =
            crate::structured::example_of(&schema, &crate::structured::definitions(&schema));
        return Some(FakeReply::chunks(
            thirds(&answer.to_string()).into_iter().map(str::to_string),
        ));
    }
    if let Some(forced) = body["toolConfig"]["toolChoice"]["tool"]["name"].as_str() {
        let schema = body["toolConfig"]["tools"]
            .as_array()?
            .iter()
            .find(|t| t["toolSpec"]["name"] == forced)?["toolSpec"]["inputSchema"]["json"]
            .clone();
        let input =
            crate::structured::example_of(&schema, &crate::structured::definitions(&schema));
        return Some(FakeReply::tool_use(
            "tooluse_fake_structured",
            forced,
            input,
        ));
    }
    let (opening, cited) = fake_knowledge::cited_answer(body)?;
    let mut reply = FakeReply::text(&opening);
    for (text, citation) in cited {
        reply = reply.cited(&text, citation);
    }
    Some(reply)
}

/// Bedrock's refusals by model: a model that runs only through an inference profile called by
/// its bare id (with Bedrock's own message), and `outputConfig` for a model without structured
/// output (Claude before 4.5).
fn check_model_id(model_id: &str, body: &Value) -> Option<String> {
    if fake_catalog::profile_only(model_id) {
        return Some(format!(
            "Invocation of model ID {model_id} with on-demand throughput isn't supported. Retry \
             your request with the ID or ARN of an inference profile that contains this model."
        ));
    }
    if body.get("outputConfig").is_some() && !crate::structured::supports_output_config(model_id) {
        return Some(format!(
            "The model {model_id} does not support structured output: remove outputConfig."
        ));
    }
    None
}

fn ok_json(body: &Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        Bytes::from(body.to_string()),
        "00000000-0000-4000-8000-controlplane",
    )
}

/// `InvokeModel` on an embeddings model, in Amazon Titan Text Embeddings V2's shape: a
/// deterministic vector made from the text's content words (lowercased, plural `s` dropped, a
/// few common words left out), each word at dimensions of its own, normalized. Paraphrases with
/// the same content words land on the same vector; a question sharing half its words lands at
/// a cosine of about 0.5; unrelated questions near 0.
fn embed(state: &Arc<Mutex<State>>, body: &[u8]) -> Response<Body> {
    let request_id = "00000000-0000-4000-8000-embedding000";
    let body = match side_call(state, body, request_id, |state| {
        state.embeddings += 1;
        state.embedding_error.clone()
    }) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let Some(text) = body["inputText"].as_str() else {
        return error_response(
            &FakeError::Validation("inputText is required".to_string()),
            request_id,
        );
    };
    let dimensions = body["dimensions"].as_u64().unwrap_or(1024) as usize;
    let vector = fake_embedding(text, dimensions);
    let answer = serde_json::json!({
        "embedding": vector,
        "embeddingsByType": {"float": vector},
        "inputTextTokenCount": text.split_whitespace().count(),
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .body(full(Bytes::from(answer.to_string())))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

fn respond(
    reply: FakeReply,
    operation: Operation,
    (input_tokens, serving): (u64, &Value),
    request_id: &str,
) -> Handled {
    let chunk_delay = reply.chunk_delay;
    let pause = reply.pause;
    match reply.kind {
        ReplyKind::DropConnection => Err(dropped()),
        ReplyKind::Error(error) => {
            let mut response = error_response(&error, request_id);
            if let Some(seconds) = reply.retry_after
                && let Ok(value) = seconds.to_string().parse()
            {
                response.headers_mut().insert("retry-after", value);
            }
            Ok(response)
        }
        ReplyKind::Text {
            chunks,
            stop_reason,
            usage,
            fault,
            tool_calls,
            interleave,
            trace,
            thinking,
            cited,
        } => {
            let calls: Vec<(&str, &str, &str)> = tool_calls
                .iter()
                .map(|c| (c.id.as_str(), c.name.as_str(), c.input.as_str()))
                .collect();
            let usage = usage.unwrap_or(WireUsage {
                input: input_tokens,
                output: chunks.len() as u64,
                cache_read: None,
                cache_write: None,
            });
            match operation {
                Operation::Converse => match fault {
                    Some((_, StreamFault::Exception(error))) => {
                        Ok(error_response(&error, request_id))
                    }
                    Some((_, StreamFault::DropConnection)) => Err(dropped()),
                    Some((_, StreamFault::CorruptFrame | StreamFault::Truncate)) => {
                        let body = wire::converse_body(
                            (thinking.as_deref(), &chunks.concat(), &cited),
                            &calls,
                            &stop_reason,
                            (usage, trace.as_ref(), serving),
                            REPORTED_LATENCY_MS,
                        );
                        let cut = body.slice(..body.len() / 2);
                        Ok(json_response(StatusCode::OK, cut, request_id))
                    }
                    None => {
                        let body = wire::converse_body(
                            (thinking.as_deref(), &chunks.concat(), &cited),
                            &calls,
                            &stop_reason,
                            (usage, trace.as_ref(), serving),
                            REPORTED_LATENCY_MS,
                        );
                        Ok(json_response(StatusCode::OK, body, request_id))
                    }
                },
                Operation::ConverseStream => Ok(stream_response(
                    (thinking.as_deref(), chunks, &cited),
                    (&calls, interleave),
                    &stop_reason,
                    (usage, trace.as_ref(), serving),
                    fault,
                    (chunk_delay, pause),
                    request_id,
                )),
            }
        }
    }
}

fn stream_response(
    (thinking, chunks, cited): (Option<&str>, Vec<String>, &[(String, Value)]),
    (tool_calls, interleave): (&[(&str, &str, &str)], bool),
    stop_reason: &str,
    (usage, trace, serving): (WireUsage, Option<&Value>, &Value),
    fault: Option<(usize, StreamFault)>,
    (chunk_delay, pause): (Duration, Option<(usize, Duration)>),
    request_id: &str,
) -> Response<Body> {
    let mut frames: Vec<Result<Bytes, std::io::Error>> = vec![Ok(wire::message_start())];
    // With reasoning first, every other block's index moves up by one.
    let text_index = usize::from(thinking.is_some());
    if let Some(thinking) = thinking {
        frames.extend(wire::reasoning_frames(0, thinking).into_iter().map(Ok));
    }
    let break_at = fault.as_ref().map(|(after, _)| *after);
    let mut broken = false;
    for (index, chunk) in chunks.iter().enumerate() {
        if Some(index) == break_at {
            broken = true;
            break;
        }
        frames.push(Ok(wire::text_delta_at(text_index, chunk, index + 1)));
    }
    if !broken && break_at.is_some_and(|after| after >= chunks.len()) {
        broken = true;
    }
    match fault.filter(|_| broken) {
        Some((_, StreamFault::Exception(error))) => {
            frames.push(Ok(wire::exception(
                error.stream_exception_type(),
                &error.message(),
            )));
        }
        Some((_, StreamFault::CorruptFrame)) => {
            frames.push(Ok(wire::corrupt(wire::text_delta("garbled", 9))));
        }
        Some((_, StreamFault::DropConnection)) => frames.push(Err(dropped())),
        Some((_, StreamFault::Truncate)) => {}
        None => {
            let has_text = chunks.iter().any(|c| !c.is_empty());
            if has_text || (tool_calls.is_empty() && cited.is_empty()) {
                frames.push(Ok(wire::content_block_stop(text_index)));
            }
            // Cited blocks follow the text, each its words, its citation and its stop.
            let mut next = text_index + usize::from(has_text);
            for (words, citation) in cited {
                frames.push(Ok(wire::text_delta_at(next, words, next)));
                frames.push(Ok(wire::citation_delta(next, citation, next)));
                frames.push(Ok(wire::content_block_stop(next)));
                next += 1;
            }
            // Tool blocks follow the reasoning and text blocks.
            let first = next;
            frames.extend(
                tool_call_frames(tool_calls, first, interleave)
                    .into_iter()
                    .map(Ok),
            );
            frames.push(Ok(wire::message_stop(stop_reason)));
            frames.push(Ok(wire::metadata(
                (usage, trace, serving),
                REPORTED_LATENCY_MS,
            )));
        }
    }
    // Frame 0 is `messageStart`, so a pause after `n` chunks comes before frame `n + 1`.
    let paused_frame = pause.map(|(chunks, pause)| (chunks + 1, pause));
    let body = futures::stream::iter(frames.into_iter().enumerate()).then(
        move |(index, frame)| async move {
            if !chunk_delay.is_zero() {
                tokio::time::sleep(chunk_delay).await;
            }
            if let Some((at, pause)) = paused_frame
                && at == index
            {
                tokio::time::sleep(pause).await;
            }
            if frame.is_err() {
                // hyper flushes its write buffer when the body is not ready; without this pause the
                // frames before a dropped connection would be discarded unsent, which is not what a
                // connection dropped mid-reply looks like.
                tokio::task::yield_now().await;
            }
            frame.map(Frame::data)
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", request_id)
        .body(BodyExt::boxed(StreamBody::new(body)))
        .unwrap_or_else(|_| Response::new(empty()))
}

/// The frames of a reply's tool calls, from block index `first` on: each call's start, its
/// input in three pieces (one empty piece for no input), its stop; one call after another, or
/// with `interleave` all started first, their pieces in turn, then all stopped.
fn tool_call_frames(calls: &[(&str, &str, &str)], first: usize, interleave: bool) -> Vec<Bytes> {
    let pieces: Vec<Vec<&str>> = calls.iter().map(|(_, _, input)| thirds(input)).collect();
    let mut frames = Vec::new();
    if interleave {
        for (i, (id, name, _)) in calls.iter().enumerate() {
            frames.push(wire::tool_use_start(first + i, id, name));
        }
        let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
        for piece in 0..longest {
            for (i, parts) in pieces.iter().enumerate() {
                if let Some(part) = parts.get(piece) {
                    frames.push(wire::tool_use_delta(first + i, part));
                }
            }
        }
        for i in 0..calls.len() {
            frames.push(wire::content_block_stop(first + i));
        }
    } else {
        for (i, ((id, name, _), parts)) in calls.iter().zip(&pieces).enumerate() {
            frames.push(wire::tool_use_start(first + i, id, name));
            for part in parts {
                frames.push(wire::tool_use_delta(first + i, part));
            }
            frames.push(wire::content_block_stop(first + i));
        }
    }
    frames
}

/// Text in three pieces split at character boundaries, or one empty piece for empty text.
fn thirds(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return vec![""];
    }
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let at = |k: usize| {
        bounds
            .get(bounds.len() * k / 3)
            .copied()
            .unwrap_or(text.len())
    };
    let (a, b) = (at(1), at(2));
    [&text[..a], &text[a..b], &text[b..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

/// The rules Bedrock enforces on tool blocks, with its own messages: a `toolConfig` whenever
/// the conversation holds tool blocks, every call answered in the very next user message and
/// nothing else answered there, no blank text, valid and unique tool names.
fn check_tool_rules(body: &Value) -> Option<String> {
    let messages = body["messages"].as_array()?;
    let blocks = |m: &Value| m["content"].as_array().cloned().unwrap_or_default();
    let ids = |m: &Value, kind: &str, key: &str| -> Vec<String> {
        let mut ids: Vec<String> = blocks(m)
            .iter()
            .filter_map(|b| b[kind][key].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let has_tool_blocks = messages.iter().any(|m| {
        blocks(m)
            .iter()
            .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some())
    });
    if has_tool_blocks && body.get("toolConfig").is_none() {
        return Some(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                .into(),
        );
    }
    for (n, message) in messages.iter().enumerate() {
        for (k, block) in blocks(message).iter().enumerate() {
            if block["text"].as_str().is_some_and(|t| t.trim().is_empty()) {
                return Some(format!(
                    "The text field in the ContentBlock object at messages.{n}.content.{k} is blank. \
                     Add text to the text field, and try again."
                ));
            }
        }
        let results = ids(message, "toolResult", "toolUseId");
        let calls_before = match n.checked_sub(1) {
            Some(previous) => ids(&messages[previous], "toolUse", "toolUseId"),
            None => Vec::new(),
        };
        if results.len() > calls_before.len() {
            return Some(format!(
                "The number of toolResult blocks at messages.{n}.content exceeds the number of \
                 toolUse blocks of previous turn."
            ));
        }
        let calls = ids(message, "toolUse", "toolUseId");
        if !calls.is_empty() {
            let answers = messages
                .get(n + 1)
                .map(|m| ids(m, "toolResult", "toolUseId"));
            if answers.is_some_and(|answers| answers != calls) {
                return Some(format!(
                    "Expected toolResult blocks at messages.{}.content for the following Ids: {}",
                    n + 1,
                    calls.join(", ")
                ));
            }
        }
    }
    let mut names = Vec::new();
    let specs = body["toolConfig"]["tools"].as_array().into_iter().flatten();
    for tool in specs.filter(|t| t.get("cachePoint").is_none()) {
        let name = tool["toolSpec"]["name"].as_str().unwrap_or_default();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid || names.contains(&name) {
            return Some(format!(
                "1 validation error detected: Value '{name}' at 'toolConfig.tools.member.toolSpec.name' \
                 failed to satisfy constraint"
            ));
        }
        names.push(name);
    }
    None
}

/// Bedrock's rules for images and documents: bytes that decode, a document name of letters,
/// digits, single spaces, hyphens, parentheses and brackets, text alongside a document.
fn check_attachments(body: &Value) -> Option<String> {
    use base64::Engine;
    let decodes = |block: &Value| {
        block["source"]["bytes"]
            .as_str()
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_ok())
    };
    for (n, message) in body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let blocks = message["content"].as_array().cloned().unwrap_or_default();
        let has_text = blocks.iter().any(|b| b.get("text").is_some());
        for (k, block) in blocks.iter().enumerate() {
            if let Some(image) = block.get("image")
                && !decodes(image)
            {
                return Some(format!(
                    "messages.{n}.content.{k}.image.source.bytes is not valid base64"
                ));
            }
            if let Some(document) = block.get("document") {
                let name = document["name"].as_str().unwrap_or_default();
                let valid_name = !name.is_empty()
                    && !name.contains("  ")
                    && name.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']')
                    });
                if !valid_name {
                    return Some(format!(
                        "The document file name can only contain alphanumeric characters, whitespace \
                         characters, hyphens, parentheses, and square brackets. The name can't contain \
                         more than one consecutive whitespace character. (messages.{n}.content.{k})"
                    ));
                }
                if !has_text || !decodes(document) {
                    return Some(format!(
                        "messages.{n}.content.{k}: a document needs valid bytes and a text block in the same message"
                    ));
                }
            }
        }
    }
    None
}

/// With extended thinking on, the assistant message that called the tools now being answered
/// must start with its reasoning, signed, as the model wrote it.
fn check_thinking_rules(body: &Value) -> Option<String> {
    if body["additionalModelRequestFields"]["thinking"]["type"] != "enabled" {
        return None;
    }
    let messages = body["messages"].as_array()?;
    let last_assistant = messages.iter().rev().find(|m| m["role"] == "assistant")?;
    let blocks = last_assistant["content"].as_array()?;
    let calls_tools = blocks.iter().any(|b| b.get("toolUse").is_some());
    let first = blocks.first()?;
    let signed = first["reasoningContent"]["reasoningText"]["signature"] == wire::SIGNATURE
        || first["reasoningContent"].get("redactedContent").is_some();
    if calls_tools && !signed {
        return Some(
            "messages: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When \
             `thinking` is enabled, a final `assistant` message must start with a thinking block."
                .into(),
        );
    }
    None
}

/// Bedrock's rules for cache points: at most four, and never one with nothing before it.
fn check_cache_points(body: &Value) -> Option<String> {
    let is_point = |block: &Value| block.get("cachePoint").is_some();
    let system: Vec<Value> = body["system"].as_array().cloned().unwrap_or_default();
    let tools: Vec<Value> = body["toolConfig"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let messages: Vec<Value> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .collect();
    let count = [&tools, &system, &messages]
        .iter()
        .flat_map(|blocks| blocks.iter())
        .filter(|b| is_point(b))
        .count();
    if count > 4 {
        return Some(format!(
            "A maximum of 4 blocks with cache_control may be provided. Found {count}."
        ));
    }
    let first = tools.first().or(system.first()).or(messages.first());
    if first.is_some_and(is_point) {
        return Some("There is nothing available to cache.".into());
    }
    None
}

fn error_response(error: &FakeError, request_id: &str) -> Response<Body> {
    Response::builder()
        .status(error.status())
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .header("x-amzn-errortype", wire::error_type_header(error.code()))
        .body(full(wire::error_body(&error.message())))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn json_response(status: StatusCode, body: Bytes, request_id: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id)
        .body(full(body))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn plain(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", wire::error_type_header(code))
        .body(full(wire::error_body(message)))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}

fn dropped() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "fake Bedrock dropped the connection",
    )
}

/// `/model/{id}/converse` or `/model/{id}/converse-stream`, with the id percent-decoded.
fn parse_path(path: &str) -> Option<(String, Operation)> {
    let rest = path.strip_prefix("/model/")?;
    let (id, operation) = rest.rsplit_once('/')?;
    let operation = match operation {
        "converse" => Operation::Converse,
        "converse-stream" => Operation::ConverseStream,
        _ => return None,
    };
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some((percent_decode(id), operation))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Roughly what Bedrock would count: a token per 4 bytes of message and system text.
fn estimate_input_tokens(body: &Value) -> u64 {
    fn text_len(value: &Value) -> usize {
        match value {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(text_len).sum(),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "messages" | "content" | "text" | "system"))
                .map(|(_, v)| text_len(v))
                .sum(),
            _ => 0,
        }
    }
    (text_len(body) as u64).div_ceil(4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_and_decoded() {
        assert_eq!(
            parse_path("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"),
            Some((
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_string(),
                Operation::Converse
            ))
        );
        assert_eq!(
            parse_path("/model/m/converse-stream").map(|p| p.1),
            Some(Operation::ConverseStream)
        );
        assert_eq!(parse_path("/model//converse"), None);
        assert_eq!(parse_path("/other"), None);
    }
}
