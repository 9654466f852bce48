//! The scheduling engine of the job scheduler: the domain types, the traits at its boundaries,
//! and the engine that fires every tick of every job exactly once, on time.
//!
//! **What it is:** a library. It knows jobs ([`Job`], [`JobSpec`]), executions
//! ([`Execution`]), four small boundaries ([`Store`], itself the union of capability traits
//! such as [`ClaimStore`] and [`HistoryStore`]; [`Transport`]; [`AlertSink`]; [`Clock`]) and the
//! [`Engine`] that drives them. Each trait has an implementation here:
//! [`MemoryStore`], [`SystemClock`], [`LogAlertSink`], and, behind the `testing` feature, a
//! manual clock, a fake transport, a recording alert sink and the store conformance suite.
//!
//! **What it is not:** it does not know SQL, HTTP or JSON. The SQLite and PostgreSQL stores, the
//! HTTP transport, webhook alerts and the REST API live in other crates and plug in through the
//! traits. Domain types do not implement serialization; the API has its own DTOs.
//! Its only internal dependency is `cron-expr`.
//!
//! # Embedding
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use scheduler_core::{
//!     AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, DeliveryType, Engine, JobSpec,
//!     MemoryStore, Transport,
//! };
//!
//! /// Your way of reaching targets (the `executor` crate has the HTTP one).
//! struct PrintTransport;
//!
//! impl Transport for PrintTransport {
//!     fn send(&self, request: AttemptRequest) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
//!         println!("tick {} of job {}", request.scheduled_at, request.job_id());
//!         Box::pin(async { Ok(AttemptOutcome { status: 200, duration: Duration::ZERO, retry_after: None }) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), scheduler_core::Error> {
//! let engine = Engine::builder(Arc::new(MemoryStore::new()), Arc::new(PrintTransport)).start().await?;
//! let schedule = "*/5 * * * * *".parse().expect("a valid schedule");
//! let job = engine
//!     .create_job(JobSpec::new(schedule, "https://example.com/hook", DeliveryType::AtLeastOnce))
//!     .await?;
//! assert_eq!(engine.get_job(job.id).await?.map(|job| job.version), Some(1));
//! engine.shutdown(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # The engine in brief
//!
//! - The **control task** claims the ticks due within `look_ahead` every `claim_interval`,
//!   applies job changes one at a time, and creates jobs in batches (each stored with its
//!   first ticks claimed in the same write). The store's watermark (`next_fire_at`) moves only
//!   in the write that records the claimed executions, so no tick is lost or claimed twice;
//!   [`plan_claim`] is the schedule arithmetic every store shares.
//! - The **dispatcher task** holds the timer, decides every skip, retry and final state, and
//!   spawns one task per attempt, within `max_in_flight` and `max_fresh_attempts`.
//! - The **writer task** stores execution updates in batches; the **alert task** feeds the
//!   [`AlertSink`]; the **heartbeat task** records that this node is alive
//!   ([`MembershipStore`]); a **pruner task** applies the [`RetentionPolicy`] when one is set.
//! - The backlog (`max_backlog`) bounds the executions held between claim and last write, so
//!   overload shows as drift, not memory. A restart recovers its node's unfinished executions.
//!
//! The full story (claims, hot changes, backpressure, recovery, shutdown) is in
//! `docs/ARCHITECTURE.md`; the measurements behind the defaults are in `docs/PERFORMANCE.md`.
#![warn(missing_docs)]

mod alert;
mod clock;
mod domain;
mod engine;
mod error;
mod jitter;
mod memory;
mod metrics;
mod store;
mod time;
mod tokens;
mod transport;

#[cfg(feature = "testing")]
pub mod testing;

pub use alert::{Alert, AlertSink, JobAlert, JobAlertKind, JobAlertSink, LogAlertSink};
pub use clock::{Clock, SystemClock};
pub use domain::{
    ALWAYS_SECRET_HEADERS, DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger,
    ExecutionUpdate, FORBIDDEN_JOB_HEADERS, HttpMethod, Job, JobAlertSettings, JobField, JobId,
    JobSpec, MAX_ALERT_AFTER_FAILURES, MAX_JOB_SIGNING_SECRETS, MAX_NAME_CHARS,
    MAX_SIGNING_SECRET_BYTES, MisfirePolicy, OverlapPolicy, RESERVED_HEADER_PREFIX, RetryPolicy,
    Secret, Timing, is_job_header_allowed,
};
pub use domain::{
    AMQP_DEFAULT_PORT, AmqpTarget, BrokerServer, MAX_QUEUE_NAME_BYTES, NATS_DEFAULT_PORT,
    NatsTarget, QueueTarget, REDACTED_PASSWORD, SecretText, is_queue_target_url, redact_target_url,
    restore_target_password,
};
pub use engine::{
    Engine, EngineBuilder, EngineConfig, NodeStatus, ShutdownReport, StoreFailure, StoreStatus,
    VersionCheck,
};
pub use error::{Error, Result, StoreErrorKind, error_chain};
pub use jitter::{MAX_TICK_JITTER, tick_fire_instant, tick_offset};
pub use memory::MemoryStore;
pub use metrics::{
    DRIFT_BOUND_COUNT, DriftHistogram, DriftSnapshot, JobStats, Metrics, MetricsSnapshot,
};
pub use store::{
    BoxFuture, BufferedClaims, BufferedWatermark, ClaimBatch, ClaimPlan, ClaimRequest, ClaimStore,
    ClaimedTick, DueJobsQuery, ExecutionQuery, HistoryStore, JobCounts, JobNotice, JobQuery,
    JobStore, MembershipStore, NextFire, NodeHeartbeat, RecoveryStore, RetentionPolicy,
    RetentionStore, Store, TakeOverRequest, plan_claim, plan_new_job_claim,
};
pub use tokens::{MemoryTokenStore, StoredToken, TokenScope, TokenStore};
pub use transport::{
    AttemptError, AttemptOutcome, AttemptRequest, HEADER_ATTEMPT, HEADER_EXECUTION_ID,
    HEADER_JOB_ID, HEADER_REDELIVERY, HEADER_SCHEDULED_TIME, Transport,
};

/// The time types of the whole system, from cron-expr (which has them from jiff).
pub use cron_expr::{Schedule, TimeZone, Timestamp};

#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
