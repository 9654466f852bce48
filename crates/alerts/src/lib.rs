//! Alert sinks of the scheduler: where final failures (and recoveries) of executions go, and
//! jobs' own alerts.
//!
//! **What it is:** implementations of `scheduler-core`'s [`AlertSink`](scheduler_core::AlertSink):
//! the log sink ([`LogAlertSink`], core's own, re-exported here so a binary finds every sink in
//! one place), a [`WebhookAlertSink`] that POSTs alerts as JSON, and [`FanOutAlertSink`] to use
//! several at once. **What it is not:** it decides nothing about *when* to alert (the engine
//! does), and it is not an HTTP client: the webhook's POSTs go through the executor's
//! [`HttpTransport::send_request`](executor::HttpTransport::send_request), so TLS, pooling and
//! error chains are set up in one place.
//!
//! # The webhook sink
//!
//! [`WebhookAlertSink::start`] spawns one delivery task and returns the sink (for the engine)
//! and a [`WebhookWorker`] (for counters and shutdown).
//!
//! **Never blocking.** `deliver` turns the alert into a record, stamps it with the time it
//! arrived (`alertTime`), and `try_send`s it into a bounded queue of
//! [`queue_capacity`](WebhookConfig::queue_capacity) alerts. It never waits. When the queue is
//! full the alert is dropped and counted ([`WebhookStats::dropped_alerts`]); the drops are
//! reported in one `warn` log line at most every
//! [`drop_log_interval`](WebhookConfig::drop_log_interval) (by `deliver` itself or by the
//! delivery task after each batch; any unreported drops are logged at shutdown), and the next
//! batch carries their number as `droppedAlerts`.
//!
//! **Coalescing.** The delivery task sends one POST at a time. A batch opens with the first
//! alert taken from the queue and closes when any of these happens:
//!
//! - it holds [`max_batch_size`](WebhookConfig::max_batch_size) alerts (default 100);
//! - [`batch_window`](WebhookConfig::batch_window) (default 1 s) has passed since it opened;
//! - the sink is shutting down (then it takes only what is already queued).
//!
//! Alerts already waiting in the queue join the batch at once. Every alert is kept: nothing is
//! merged, deduplicated or summarised, and alerts keep their order. So a burst of 1,000 final
//! failures becomes 10 POSTs of 100 alerts, one after the other, and a steady trickle becomes
//! at most one POST per window. While a POST (and its retries) is in progress, new alerts wait
//! in the queue, which is what bounds memory.
//!
//! **Retries.** A POST that gets no answer within
//! [`request_timeout`](WebhookConfig::request_timeout), or a 408, 429 or 5xx, is sent again
//! with the same body after [`initial_backoff`](WebhookConfig::initial_backoff), doubling up to
//! [`max_backoff`](WebhookConfig::max_backoff), for
//! [`max_attempts`](WebhookConfig::max_attempts) POSTs in all; other statuses (a 4xx) are not
//! retried. A batch given up on is logged at `error` with its size and counted in
//! [`WebhookStats::abandoned_alerts`]. Because a retried batch is byte-for-byte the same, a
//! receiver can deduplicate on its content (or on the alerts' `executionId`).
//!
//! **The JSON.** One object per POST, `Content-Type: application/json`:
//!
//! ```json
//! {
//!   "source": "scheduler",
//!   "batchTime": "2026-11-30T01:10:33.120Z",
//!   "droppedAlerts": 0,
//!   "alerts": [
//!     {
//!       "kind": "FINAL_FAILURE",
//!       "jobId": "8f0c…",
//!       "executionId": "0193…",
//!       "scheduledTime": "2026-11-30T01:10:31.000Z",
//!       "attempts": 3,
//!       "httpStatus": 503,
//!       "errorMessage": "status 503",
//!       "alertTime": "2026-11-30T01:10:32.950Z"
//!     },
//!     { "kind": "RECOVERED", "jobId": "8f0c…", "executionId": "0193…", "scheduledTime": null,
//!       "attempts": null, "httpStatus": null, "errorMessage": null,
//!       "alertTime": "2026-11-30T01:11:00.020Z" }
//!   ]
//! }
//! ```
//!
//! Times are RFC 3339 in UTC with milliseconds. Logs name the webhook by scheme, host and port
//! only, and never show the configured headers, which may hold credentials.
//!
//! Every POST carries `"version": 1` (the payload's version; docs/ALERTS.md has the whole
//! format). There is one URL per sink.
//!
//! # Jobs' own webhooks
//!
//! [`JobWebhookAlertSink`] takes the engine's job alerts (a job's `alert` settings: failing
//! after N consecutive failures, recovered) and keeps one webhook sink per destination URL, as
//! above, started on its first alert, with a bound on the number of destinations and on each
//! one's queue. Its records have the kinds `JOB_FAILING` and `JOB_RECOVERED`, and carry
//! `consecutiveFailures` (and `jobName` for a named job).
#![warn(missing_docs)]

mod config;
mod error;
mod fan_out;
mod http;
mod job_webhook;
mod payload;
mod webhook;

pub use scheduler_core::LogAlertSink;

pub use crate::config::{JobWebhookConfig, WebhookConfig};
pub use crate::error::Error;
pub use crate::fan_out::FanOutAlertSink;
pub use crate::job_webhook::{JobWebhookAlertSink, JobWebhookStats};
pub use crate::webhook::{WebhookAlertSink, WebhookStats, WebhookWorker};
