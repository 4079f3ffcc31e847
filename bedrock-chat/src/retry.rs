//! The retry policy: when and how long to wait before sending a failed request again.
//!
//! # What is retried
//!
//! Only failures that may go away by themselves ([`Error::is_retryable`]): throttling, a model
//! that is not ready, an unavailable or failing service, model timeouts, client timeouts and
//! connection failures. Validation errors, access denied, an unknown model, an exhausted quota and
//! missing credentials are returned at once: sending the same request again cannot fix them, and
//! retrying would only delay the message that tells the user what to change.
//!
//! # Streams
//!
//! A streamed reply is retried only until its first piece of text reaches the caller. After that
//! a retry would start the reply again from the beginning and the caller would see text twice, so
//! a failure becomes [`Error::StreamInterrupted`] carrying the text delivered so far, and the
//! conversation is left as it was before the turn.
//!
//! # One retry layer
//!
//! [`BedrockClient`](crate::BedrockClient) switches the AWS SDK's own retries off, so this policy
//! is the only one deciding and the two never multiply.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::future::Either;

use crate::error::{Error, Result};

/// How a failed request is retried: exponential backoff with an optional jitter and time budget.
///
/// The default reproduces the original chatbot: up to 5 retries, waiting 2, 4, 8, 16 and 32
/// seconds.
///
/// ```
/// use std::time::Duration;
/// use bedrock_chat::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_retries(3)
///     .initial_delay(Duration::from_millis(500))
///     .jitter(true);
/// assert_eq!(policy.max_retries, 3);
/// assert_eq!(
///     RetryPolicy::default().schedule(),
///     [2, 4, 8, 16, 32].map(Duration::from_secs).to_vec()
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many times a failed request is sent again.
    pub max_retries: u32,
    /// The wait before the first retry.
    pub initial_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// The factor each wait is multiplied by.
    pub factor: f32,
    /// Whether a random extra wait is added.
    pub jitter: bool,
    /// The most time spent waiting between attempts in total.
    pub total_budget: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            factor: 2.0,
            jitter: false,
            total_budget: None,
        }
    }
}

impl RetryPolicy {
    /// The default policy: 5 retries after 2, 4, 8, 16 and 32 seconds.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that never retries: every failure is returned at once.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets how many times a failed request is sent again. Default is 5.
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the wait before the first retry. Default is 2 seconds.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the longest wait between two attempts. Default is 60 seconds.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the factor each wait is multiplied by. Default is 2.
    #[must_use]
    pub fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }

    /// Adds a random extra wait of up to the computed delay, so that many clients throttled at
    /// the same moment do not all come back at the same moment. Default is off.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the most time spent waiting between attempts in total; no retry starts that would go
    /// over it. Default is no budget.
    #[must_use]
    pub fn total_budget(mut self, budget: Option<Duration>) -> Self {
        self.total_budget = budget;
        self
    }

    /// The waits before each retry, in order, without jitter.
    pub fn schedule(&self) -> Vec<Duration> {
        use backon::BackoffBuilder;
        self.clone().jitter(false).backoff().build().collect()
    }

    /// Checks that the policy makes sense: a factor of at least 1 and a first delay no longer
    /// than the maximum.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a factor below 1, or delays that are not finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Error::invalid_input(format!(
                "the retry factor must be a number of at least 1, got {}",
                self.factor
            )));
        }
        if self.initial_delay > self.max_delay {
            return Err(Error::invalid_input(format!(
                "the first retry delay ({:?}) is longer than the maximum delay ({:?})",
                self.initial_delay, self.max_delay
            )));
        }
        Ok(())
    }

    /// The policy as a `backon` builder.
    fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_retries as usize)
            .with_total_delay(self.total_budget);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }

    /// Runs `attempt` until it succeeds, fails with an error that is not retryable, or the policy
    /// is exhausted. `attempt` is called afresh each time, so every retry rebuilds its request.
    ///
    /// The first attempt is awaited here directly, and the retry machinery (the backoff, its
    /// timer, the notices) is built only after it has failed in a way worth retrying: nearly
    /// every request succeeds at once, and on that path the machinery's code and state were
    /// measurable work for nothing. The retries run in their own boxed future, so their code
    /// and state do not weigh on the first attempt's either.
    pub(crate) async fn run<'a, T, F, Fut>(
        &'a self,
        observer: Option<&'a RetryObserver>,
        mut attempt: F,
    ) -> Result<T>
    where
        T: Send + 'a,
        F: FnMut() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
    {
        match attempt().await {
            Err(error) if self.max_retries > 0 && error.is_retryable() => {
                self.retry_after(observer, error, attempt).await
            }
            done => {
                // On the turn's span, when there is one: no retries were needed. Without any
                // subscriber there is no current span, and asking for it would be work for
                // nothing on every turn.
                if tracing::dispatcher::has_been_set() {
                    tracing::Span::current().record("bedrock_chat.retries", 0);
                }
                done
            }
        }
    }

    /// The retries after a first attempt that failed with `first`, a retryable error: the same
    /// schedule, notices and limits as if `backon` had made the first attempt itself (it is
    /// handed `first` as that attempt's outcome).
    fn retry_after<'a, T, F, Fut>(
        &'a self,
        observer: Option<&'a RetryObserver>,
        first: Error,
        mut attempt: F,
    ) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>
    where
        T: Send + 'a,
        F: FnMut() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
    {
        let mut first = Some(first);
        let attempt = move || match first.take() {
            Some(error) => Either::Left(std::future::ready(Err(error))),
            None => Either::Right(attempt()),
        };
        Box::pin(async move {
            let mut retry = 0;
            let max_retries = self.max_retries;
            let result = attempt
                .retry(self.backoff())
                .sleep(tokio::time::sleep)
                .when(Error::is_retryable)
                .adjust(|error, delay| {
                    // A server's own estimate wins over ours when it asks for a longer wait.
                    delay.map(|d| error.retry_after().map_or(d, |after| after.max(d)))
                })
                .notify(|error, delay| {
                    retry += 1;
                    let notice = RetryNotice {
                        error,
                        retry,
                        max_retries,
                        delay,
                    };
                    tracing::warn!(retry, max_retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
                    if let Some(observer) = observer {
                        observer(&notice);
                    }
                })
                .await;
            // On the turn's span, when there is one: how many retries this took.
            tracing::Span::current().record("bedrock_chat.retries", retry);
            result
        })
    }
}

/// A callback told about each retry before its wait begins, so a frontend can show
/// "throttled; retrying in 8 s (retry 2 of 5)".
pub type RetryObserver = Arc<dyn Fn(&RetryNotice<'_>) + Send + Sync>;

/// What a [`RetryObserver`] is told: the failure, which retry is coming and how long until it.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryNotice<'a> {
    /// The failure that is being retried.
    pub error: &'a Error,
    /// Which retry is about to happen, from 1.
    pub retry: u32,
    /// The most retries the policy allows.
    pub max_retries: u32,
    /// The wait before the retry.
    pub delay: Duration,
}

impl fmt::Display for RetryNotice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.error {
            e if e.is_throttling() => "throttled".to_string(),
            e if e.is_timeout() => "timed out".to_string(),
            Error::Transport { source } => match io_cause(source.as_ref()) {
                Some(cause) => format!("connection failed ({cause})"),
                None => "connection failed".to_string(),
            },
            _ => "Bedrock is unavailable".to_string(),
        };
        write!(
            f,
            "{what}; retrying in {} (retry {} of {})",
            HumanDuration(self.delay),
            self.retry,
            self.max_retries
        )
    }
}

/// What went wrong with a connection, in a few words, from the first I/O error in the chain.
fn io_cause(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use std::io::ErrorKind;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused",
                ErrorKind::ConnectionReset => "connection reset",
                ErrorKind::ConnectionAborted => "connection aborted",
                ErrorKind::BrokenPipe => "connection closed",
                ErrorKind::UnexpectedEof => "the response ended early",
                ErrorKind::TimedOut => "timed out",
                _ => return None,
            });
        }
        current = e.source();
    }
    None
}

/// Formats a delay the way a person says it: `8 s`, `250 ms`, `1.5 s`.
struct HumanDuration(Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms} ms")
        } else if ms.is_multiple_of(1000) {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::error::ServiceDetails;

    fn throttled() -> Error {
        Error::Throttled {
            details: ServiceDetails::new("Too many requests", None),
            source: "429".into(),
        }
    }

    #[test]
    fn default_schedule_is_the_original_apps() {
        assert_eq!(
            RetryPolicy::default().schedule(),
            [2, 4, 8, 16, 32].map(Duration::from_secs).to_vec()
        );
        assert!(RetryPolicy::none().schedule().is_empty());
    }

    #[test]
    fn max_delay_and_budget_cap_the_schedule() {
        let policy = RetryPolicy::default()
            .max_delay(Duration::from_secs(5))
            .max_retries(4);
        assert_eq!(
            policy.schedule(),
            [2, 4, 5, 5].map(Duration::from_secs).to_vec()
        );
        let policy = RetryPolicy::default().total_budget(Some(Duration::from_secs(14)));
        assert_eq!(
            policy.schedule(),
            [2, 4, 8].map(Duration::from_secs).to_vec()
        );
    }

    #[test]
    fn nonsense_policies_are_rejected() {
        assert!(RetryPolicy::default().factor(0.5).validate().is_err());
        assert!(RetryPolicy::default().factor(f32::NAN).validate().is_err());
        assert!(
            RetryPolicy::default()
                .initial_delay(Duration::from_secs(10))
                .max_delay(Duration::from_secs(1))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn notice_reads_like_a_status_line() {
        let err = throttled();
        let notice = RetryNotice {
            error: &err,
            retry: 2,
            max_retries: 5,
            delay: Duration::from_secs(8),
        };
        assert_eq!(
            notice.to_string(),
            "throttled; retrying in 8 s (retry 2 of 5)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_follow_the_schedule_then_give_up() {
        let attempts = Mutex::new(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let observer: RetryObserver = Arc::new(move |n: &RetryNotice<'_>| {
            log.lock().unwrap().push((n.retry, n.delay));
        });
        let start = tokio::time::Instant::now();
        let result: Result<()> = RetryPolicy::default()
            .run(Some(&observer), || async {
                *attempts.lock().unwrap() += 1;
                Err(throttled())
            })
            .await;
        assert!(result.unwrap_err().is_throttling());
        assert_eq!(*attempts.lock().unwrap(), 6);
        assert_eq!(start.elapsed(), Duration::from_secs(2 + 4 + 8 + 16 + 32));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (1, Duration::from_secs(2)),
                (2, Duration::from_secs(4)),
                (3, Duration::from_secs(8)),
                (4, Duration::from_secs(16)),
                (5, Duration::from_secs(32)),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_are_not_retryable_return_at_once() {
        let attempts = Mutex::new(0);
        let start = tokio::time::Instant::now();
        let result: Result<()> = RetryPolicy::default()
            .run(None, || async {
                *attempts.lock().unwrap() += 1;
                Err(Error::invalid_input("bad"))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(*attempts.lock().unwrap(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
