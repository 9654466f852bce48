//! The scheduling engine of the job scheduler: the domain types, the traits at its boundaries,
//! and the engine that fires every tick of every job exactly once, on time.
//!
//! **What it is:** a library. It knows jobs ([`Job`], [`JobSpec`]), executions
//! ([`Execution`]), four small boundary traits ([`Store`], [`Transport`], [`AlertSink`],
//! [`Clock`]) and the [`Engine`] that drives them. Each trait has an implementation here:
//! [`MemoryStore`], [`SystemClock`], [`LogAlertSink`], and, behind the `testing` feature, a
//! manual clock, a fake transport, a recording alert sink and the store conformance suite.
//!
//! **What it is not:** it does not know SQL, HTTP or JSON. The SQLite (and later PostgreSQL)
//! store, the HTTP transport, webhook alerts and the REST API live in other crates and plug in
//! through the traits. Domain types do not implement serialization; the API has its own DTOs.
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
//! # How the engine works
//!
//! **Watermarks and claims.** The store keeps each job's `next_fire_at`: the first tick not yet
//! claimed. Every `claim_interval` (1 s) the engine *claims* the ticks due within `look_ahead`
//! (2 s): in one store transaction, for each due job, it inserts one pending execution per tick
//! (unique on job and tick) and advances `next_fire_at` with cron-expr. The work is proportional
//! to the ticks due, not to the jobs registered, so a million idle jobs cost nothing. Because the
//! watermark only moves in the same transaction that records the executions, a tick is never
//! lost (a late claim still finds it) and never claimed twice (a PostgreSQL store takes the due
//! rows `FOR UPDATE SKIP LOCKED`; the unique key backs it up). The schedule arithmetic of a claim
//! is [`plan_claim`], shared by every store.
//!
//! **Timer.** Claimed ticks wait in the dispatcher task's timer, one queue per instant (cron
//! ticks bunch on few instants), which sleeps until the earliest one on the [`Clock`] and fires
//! each at its instant, in the order they were claimed. A hot change (create, update,
//! resume) that moves a tick into the window claims at once; a claimed tick is checked against
//! the job's current spec when it comes due, so an update, pause or delete takes effect even for
//! ticks already claimed (they are recorded as skipped, with the reason).
//!
//! **Dispatch.** Each attempt is a spawned task, at most `max_in_flight` at once; the timer never
//! waits for a target. Of those, at most `max_fresh_attempts` (64 per core) may be *fresh*, started less
//! than `fresh_window` (5 ms) ago: against fast targets an attempt is CPU work until it is
//! answered, and starting more at once than the cores can run only adds cost and delay; an
//! attempt still unanswered after the window is waiting on its target and counts only against
//! `max_in_flight`, so slow targets never hold the fresh limit. Every attempt has a timeout, enforced with the engine's clock, so a target
//! that never answers occupies one slot for one timeout and delays no other job. The
//! [`AttemptRequest`] carries the job, execution id, tick and attempt number, identical across
//! retries except the attempt number, for targets to deduplicate.
//!
//! **Retries.** 2xx succeeds; 408, 429, 5xx, timeouts, connection and protocol errors are
//! retried (at-least-once jobs only) after exponential backoff with jitter, never above
//! `max_backoff`, and no sooner than a `Retry-After` asks. A retry waits in the timer like a
//! tick, holding no in-flight slot. Other answers fail at once. A final failure raises one alert;
//! the next success of that job raises a recovery alert.
//!
//! **Group commit.** Every state change of an execution goes to a writer task that writes
//! whatever has queued up in one store call (up to `result_batch_size`). While a call is in
//! progress, the writer keeps only the newest state of each execution, so under load an
//! execution's start and its result cost one row write. The hot path never waits for a write,
//! except that an at-most-once attempt waits until its start is stored, so that a crash can
//! never make it be sent twice.
//!
//! **Backpressure.** The engine counts the executions it holds, from claim (or trigger, or
//! recovery) until their last update is written: on the timer, in flight, waiting for a retry
//! or for the writer. A claim takes at most the room left under `max_backlog` (100,000), and
//! none when the engine is full; the due ticks then wait in the store and are claimed late,
//! when executions finish (those later than `misfire_threshold` by then follow their misfire
//! policy). Overload therefore shows as drift and as deferred claims in the metrics, not as
//! memory, and a shutdown never has more than `max_backlog` results to write.
//!
//! **Recovery.** On start, the engine reads the unfinished executions claimed under its
//! `node_id`. Pending ones (never sent) fire as scheduled; running at-least-once ones are sent
//! again; running at-most-once ones are marked abandoned. Together with the watermarks, no tick
//! is lost across a crash.
//!
//! **Misfires.** A tick older than `misfire_threshold` when claimed (the engine was down) follows
//! the job's [`MisfirePolicy`]: fire the latest missed tick once now (the default), skip to the
//! next, or catch up at most N. Later ticks continue on schedule.
//!
//! **Overlap.** With [`OverlapPolicy::SkipWhileRunning`], a tick that comes due while an earlier
//! execution of the same job is unfinished (in flight, or waiting for a retry) is skipped.
//!
//! **Shutdown.** [`Engine::shutdown`] stops claiming, sends nothing new, lets attempts in flight
//! finish until the grace period ends, writes all results, and leaves claimed ticks and waiting
//! retries in the store for the next start. [`Engine::abort`] (or dropping the engine) stops at
//! once, like a crash; recovery handles it the same way.
//!
//! **Metrics.** Counters, the in-flight and backlog gauges, a lock-free log-linear drift histogram (drift =
//! first send time minus tick) with p50/p90/p99/max, and per-job success rate and mean duration:
//! [`Engine::metrics`], [`Engine::job_stats`].
#![warn(missing_docs)]

mod alert;
mod clock;
mod domain;
mod engine;
mod error;
mod memory;
mod metrics;
mod store;
mod time;
mod transport;

#[cfg(feature = "testing")]
pub mod testing;

pub use alert::{Alert, AlertSink, LogAlertSink};
pub use clock::{Clock, SystemClock};
pub use domain::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, ExecutionUpdate,
    HttpMethod, Job, JobField, JobId, JobSpec, MAX_NAME_CHARS, MisfirePolicy, OverlapPolicy,
    RetryPolicy,
};
pub use engine::{Engine, EngineBuilder, EngineConfig, ShutdownReport, VersionCheck};
pub use error::{Error, Result};
pub use memory::MemoryStore;
pub use metrics::{DriftHistogram, DriftSnapshot, JobStats, Metrics, MetricsSnapshot};
pub use store::{
    BoxFuture, ClaimBatch, ClaimPlan, ClaimRequest, ClaimedTick, ExecutionQuery, ExecutionStore,
    JobCounts, JobQuery, JobStore, NextFire, RetentionPolicy, Store, plan_claim,
    plan_new_job_claim,
};
pub use transport::{
    AttemptError, AttemptOutcome, AttemptRequest, HEADER_ATTEMPT, HEADER_EXECUTION_ID,
    HEADER_JOB_ID, HEADER_SCHEDULED_TIME, Transport,
};

/// The time types of the whole system, from cron-expr (which has them from jiff).
pub use cron_expr::{Schedule, TimeZone, Timestamp};

#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
