//! The transport boundary: how one attempt of one execution reaches its target.

use std::sync::Arc;
use std::time::Duration;

use cron_expr::Timestamp;

use crate::domain::{ExecutionId, Job, JobId};
use crate::store::BoxFuture;

/// The header carrying the job id.
pub const HEADER_JOB_ID: &str = "X-Scheduler-Job-Id";
/// The header carrying the execution id; targets deduplicate on it.
pub const HEADER_EXECUTION_ID: &str = "X-Scheduler-Execution-Id";
/// The header carrying the tick's instant (RFC 3339).
pub const HEADER_SCHEDULED_TIME: &str = "X-Scheduler-Scheduled-Time";
/// The header carrying the attempt number (1 for the first).
pub const HEADER_ATTEMPT: &str = "X-Scheduler-Attempt";
/// The header that marks a re-send after a crash, with the value `true`: the execution's node
/// stopped while it held it, and the target may already have received it (see
/// [`AttemptRequest::redelivery`]). Absent otherwise.
pub const HEADER_REDELIVERY: &str = "X-Scheduler-Redelivery";

/// Sends attempts. One call is one attempt: retries are the engine's decision, not the
/// transport's, so a transport never retries on its own.
///
/// The returned future must be `'static` (it is spawned) and should give up after
/// [`AttemptRequest::timeout`]; the engine also enforces that timeout with its clock, so a
/// transport that never completes delays nothing but its own execution.
pub trait Transport: Send + Sync + 'static {
    /// Sends one attempt and reports what happened.
    fn send(
        &self,
        request: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>>;
}

/// One attempt of one execution.
///
/// Everything but `attempt` stays the same across the retries of one tick, and a transport
/// must send [`AttemptRequest::idempotency_headers`] with every request so that a target can
/// deduplicate.
#[derive(Clone, Debug)]
pub struct AttemptRequest {
    /// The job, as it is now (a change of URL or headers applies to the next attempt).
    pub job: Arc<Job>,
    /// The execution.
    pub execution_id: ExecutionId,
    /// The tick.
    pub scheduled_at: Timestamp,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Whether the execution was sent again after its node stopped (it has
    /// [`Execution::redeliveries`](crate::Execution::redeliveries)): the target may already
    /// have received it. The re-send and every later attempt of the execution carry
    /// [`AttemptRequest::redelivery_header`].
    pub redelivery: bool,
}

impl AttemptRequest {
    /// The job id.
    pub fn job_id(&self) -> JobId {
        self.job.id
    }

    /// How long this attempt may take.
    pub fn timeout(&self) -> Duration {
        self.job.spec.attempt_timeout
    }

    /// The headers a target can deduplicate on, as (name, value) pairs.
    pub fn idempotency_headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_JOB_ID, self.job.id.to_string()),
            (HEADER_EXECUTION_ID, self.execution_id.to_string()),
            (HEADER_SCHEDULED_TIME, self.scheduled_at.to_string()),
            (HEADER_ATTEMPT, self.attempt.to_string()),
        ]
    }

    /// `X-Scheduler-Redelivery: true` for a re-send after a crash (see
    /// [`AttemptRequest::redelivery`]), `None` otherwise. A transport sends it with the
    /// idempotency headers.
    pub fn redelivery_header(&self) -> Option<(&'static str, &'static str)> {
        self.redelivery.then_some((HEADER_REDELIVERY, "true"))
    }
}

/// The target answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The HTTP status, or [`AttemptOutcome::NOT_HTTP`] for a target that is not HTTP.
    pub status: u16,
    /// From sending the request to the end of the response.
    pub duration: Duration,
    /// The `Retry-After` the target asked for, if any (seconds or an HTTP date, converted).
    pub retry_after: Option<Duration>,
}

impl AttemptOutcome {
    /// The [`status`](Self::status) of a success without HTTP: a message broker took the
    /// message (acknowledged it, or, at most once, was handed it). The execution succeeds and
    /// records no HTTP status.
    pub const NOT_HTTP: u16 = 0;

    /// A success without HTTP (see [`AttemptOutcome::NOT_HTTP`]) that took `duration`.
    pub fn delivered(duration: Duration) -> AttemptOutcome {
        AttemptOutcome {
            status: AttemptOutcome::NOT_HTTP,
            duration,
            retry_after: None,
        }
    }

    /// The HTTP status; `None` for a success without HTTP.
    pub fn http_status(&self) -> Option<u16> {
        (self.status != AttemptOutcome::NOT_HTTP).then_some(self.status)
    }
}

/// The attempt got no answer; the kind decides whether the engine retries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// No complete answer within the attempt's timeout. Retryable.
    #[error("timed out")]
    Timeout,
    /// Could not connect (DNS, refused, unreachable). Retryable.
    #[error("connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (certificate, protocol version). Not retryable: it needs a fix.
    #[error("tls: {0}")]
    Tls(String),
    /// The connection broke or the answer was malformed. Retryable.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The request could not be built (for example an invalid header). Not retryable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl AttemptError {
    /// Whether the engine retries after this error.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AttemptError::Timeout | AttemptError::Connect(_) | AttemptError::Protocol(_)
        )
    }
}
