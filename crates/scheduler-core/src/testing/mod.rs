//! Test doubles for the boundaries, and the store conformance suite.
//!
//! With [`ManualClock`], [`FakeTransport`] and [`RecordingAlertSink`] (plus
//! [`MemoryStore`](crate::MemoryStore)) the whole engine runs with no real time, no sockets and
//! no database: time moves only when a test moves it.

pub mod conformance;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cron_expr::Timestamp;
use tokio::sync::{oneshot, watch};

use crate::alert::{Alert, AlertSink, JobAlert, JobAlertSink};
use crate::clock::Clock;
use crate::domain::{ExecutionId, JobId};
use crate::store::BoxFuture;
use crate::time;
use crate::transport::{AttemptError, AttemptOutcome, AttemptRequest, Transport};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A clock that moves only when told. Sleepers wake when the clock is moved to or past their
/// deadline; a sleep whose deadline has passed completes at once.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ClockState>,
}

#[derive(Debug)]
struct ClockState {
    now: Timestamp,
    sleepers: Vec<(Timestamp, oneshot::Sender<()>)>,
    /// Abandoned sleeps are swept when the list reaches this length.
    sweep_at: usize,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            state: Mutex::new(ClockState {
                now: start,
                sleepers: Vec::new(),
                sweep_at: 64,
            }),
        }
    }

    /// Moves the clock forward by `by` and wakes the sleepers that are due.
    pub fn advance(&self, by: Duration) {
        let mut state = lock(&self.state);
        let to = time::add(state.now, by);
        Self::move_to(&mut state, to);
    }

    /// Moves the clock to `to` (never backwards: an earlier instant leaves it where it is) and
    /// wakes the sleepers that are due.
    pub fn advance_to(&self, to: Timestamp) {
        let mut state = lock(&self.state);
        if to > state.now {
            Self::move_to(&mut state, to);
        }
    }

    /// Whether some live sleep waits for exactly `deadline`: lets a test know that a task
    /// has reached the point where it waits for that instant, before moving the clock.
    pub fn has_sleeper_at(&self, deadline: Timestamp) -> bool {
        lock(&self.state)
            .sleepers
            .iter()
            .any(|(at, wake)| *at == deadline && !wake.is_closed())
    }

    fn move_to(state: &mut ClockState, to: Timestamp) {
        state.now = to;
        let (due, waiting) = std::mem::take(&mut state.sleepers)
            .into_iter()
            .partition::<Vec<_>, _>(|(at, _)| *at <= to);
        state.sleepers = waiting;
        for (_, wake) in due {
            let _ = wake.send(());
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        lock(&self.state).now
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let mut state = lock(&self.state);
        if deadline <= state.now {
            return Box::pin(std::future::ready(()));
        }
        if state.sleepers.len() >= state.sweep_at {
            state.sleepers.retain(|(_, wake)| !wake.is_closed());
            state.sweep_at = (state.sleepers.len() * 2).max(64);
        }
        let (wake, woken) = oneshot::channel();
        state.sleepers.push((deadline, wake));
        Box::pin(async move {
            let _ = woken.await;
        })
    }
}

/// What the [`FakeTransport`] answers to one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeReply {
    /// Answer at once with this status.
    Status(u16),
    /// Answer at once with this status and a `Retry-After`.
    StatusRetryAfter(u16, Duration),
    /// Answer with this status once the clock has moved on by this much.
    Delayed(u16, Duration),
    /// Fail at once with this error.
    Error(AttemptError),
    /// Never answer.
    Hang,
}

/// One attempt the [`FakeTransport`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentAttempt {
    /// The job.
    pub job_id: JobId,
    /// The execution.
    pub execution_id: ExecutionId,
    /// The tick.
    pub scheduled_at: Timestamp,
    /// The attempt number.
    pub attempt: u32,
    /// Whether it was marked as a re-send after a crash ([`AttemptRequest::redelivery`]).
    pub redelivery: bool,
    /// The clock's time when the attempt was sent.
    pub sent_at: Timestamp,
    /// The target URL.
    pub url: String,
}

/// A transport that records every attempt and answers from a script per target URL.
///
/// A URL without a script answers `200` at once. A script is a list of replies used one per
/// attempt; its last reply repeats.
pub struct FakeTransport {
    clock: Arc<dyn Clock>,
    state: Mutex<FakeState>,
    count: watch::Sender<usize>,
}

#[derive(Default)]
struct FakeState {
    sent: Vec<SentAttempt>,
    scripts: HashMap<String, (Vec<FakeReply>, usize)>,
}

impl std::fmt::Debug for FakeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTransport")
            .field("sent", &lock(&self.state).sent.len())
            .finish()
    }
}

impl FakeTransport {
    /// A transport that timestamps attempts with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> FakeTransport {
        FakeTransport {
            clock,
            state: Mutex::default(),
            count: watch::Sender::new(0),
        }
    }

    /// Sets the replies for `url` (an empty list means the default, `200`).
    pub fn script(&self, url: &str, replies: Vec<FakeReply>) {
        lock(&self.state)
            .scripts
            .insert(url.to_owned(), (replies, 0));
    }

    /// Every attempt received so far, in order.
    pub fn sent(&self) -> Vec<SentAttempt> {
        lock(&self.state).sent.clone()
    }

    /// How many attempts were received.
    pub fn sent_count(&self) -> usize {
        *self.count.borrow()
    }

    /// Completes once at least `n` attempts were received.
    pub async fn wait_for_sent(&self, n: usize) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|&sent| sent >= n).await;
    }
}

impl Transport for FakeTransport {
    fn send(
        &self,
        request: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        let now = self.clock.now();
        let url = request.job.spec.target_url.clone();
        let reply = {
            let mut state = lock(&self.state);
            state.sent.push(SentAttempt {
                job_id: request.job.id,
                execution_id: request.execution_id,
                scheduled_at: request.scheduled_at,
                attempt: request.attempt,
                redelivery: request.redelivery,
                sent_at: now,
                url: url.clone(),
            });
            match state.scripts.get_mut(&url) {
                Some((replies, next)) if !replies.is_empty() => {
                    let reply = replies[(*next).min(replies.len() - 1)].clone();
                    *next += 1;
                    reply
                }
                _ => FakeReply::Status(200),
            }
        };
        self.count.send_modify(|count| *count += 1);
        let answer = |status, retry_after| {
            Ok(AttemptOutcome {
                status,
                duration: Duration::ZERO,
                retry_after,
            })
        };
        match reply {
            FakeReply::Status(status) => Box::pin(std::future::ready(answer(status, None))),
            FakeReply::StatusRetryAfter(status, after) => {
                Box::pin(std::future::ready(answer(status, Some(after))))
            }
            FakeReply::Error(error) => Box::pin(std::future::ready(Err(error))),
            FakeReply::Hang => Box::pin(std::future::pending()),
            FakeReply::Delayed(status, after) => {
                let wait = self.clock.sleep_until(time::add(now, after));
                Box::pin(async move {
                    wait.await;
                    Ok(AttemptOutcome {
                        status,
                        duration: after,
                        retry_after: None,
                    })
                })
            }
        }
    }
}

/// An alert sink that keeps every alert, and every job alert (apart).
#[derive(Debug)]
pub struct RecordingAlertSink {
    alerts: Mutex<Vec<Alert>>,
    count: watch::Sender<usize>,
    job_alerts: Mutex<Vec<JobAlert>>,
    job_alert_count: watch::Sender<usize>,
}

impl Default for RecordingAlertSink {
    fn default() -> Self {
        RecordingAlertSink {
            alerts: Mutex::default(),
            count: watch::Sender::new(0),
            job_alerts: Mutex::default(),
            job_alert_count: watch::Sender::new(0),
        }
    }
}

impl RecordingAlertSink {
    /// Every alert delivered so far, in order.
    pub fn alerts(&self) -> Vec<Alert> {
        lock(&self.alerts).clone()
    }

    /// Completes once at least `n` alerts were delivered.
    pub async fn wait_for(&self, n: usize) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|&delivered| delivered >= n).await;
    }

    /// Every job alert delivered so far, in order.
    pub fn job_alerts(&self) -> Vec<JobAlert> {
        lock(&self.job_alerts).clone()
    }

    /// Completes once at least `n` job alerts were delivered.
    pub async fn wait_for_job_alerts(&self, n: usize) {
        let mut count = self.job_alert_count.subscribe();
        let _ = count.wait_for(|&delivered| delivered >= n).await;
    }
}

impl JobAlertSink for RecordingAlertSink {
    fn deliver_job_alert(&self, alert: JobAlert) -> BoxFuture<'static, ()> {
        lock(&self.job_alerts).push(alert);
        self.job_alert_count.send_modify(|count| *count += 1);
        Box::pin(std::future::ready(()))
    }
}

impl AlertSink for RecordingAlertSink {
    fn deliver(&self, alert: Alert) -> BoxFuture<'static, ()> {
        lock(&self.alerts).push(alert);
        self.count.send_modify(|count| *count += 1);
        Box::pin(std::future::ready(()))
    }
}
