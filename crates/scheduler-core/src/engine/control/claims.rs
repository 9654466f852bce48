//! Claim passes: the periodic claims of due ticks, on a grid half-way between whole seconds,
//! and the claim a rescheduling change runs for its job.
//!
//! Passes are numbered; a change tells the dispatcher how many had started when it was stored,
//! and each pass says when its last ticks are sent, so the dispatcher can apply the change to
//! ticks that a pass read before it. A pass claims at most the room left in the backlog.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cron_expr::Timestamp;

use crate::engine::control::{Control, Shared};
use crate::engine::dispatch::DispatchMsg;
use crate::error::error_chain;
use crate::metrics::Metrics;
use crate::store::{ClaimRequest, DueJobsQuery};
use crate::time;

/// How a claim pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PassOutcome {
    /// Every due tick was claimed.
    Complete,
    /// The backlog was full before the first claim, or after a full batch: there may be due
    /// ticks left in the store (a full batch that took the last of them cannot be told apart).
    Deferred,
    /// A claim failed; the next pass tries again.
    Failed,
    /// The node's lease had lapsed: nothing was claimed.
    Fenced,
}

/// A periodic claim pass under way.
pub(super) struct PassUnderWay {
    pass: Pin<Box<dyn Future<Output = PassOutcome> + Send>>,
    /// When it started.
    started: Timestamp,
    /// Its number, counting from 1.
    number: u64,
}

/// A periodic claim pass that has ended.
pub(super) struct FinishedPass {
    outcome: PassOutcome,
    started: Timestamp,
    number: u64,
}

/// Completes when the claim pass under way does; never completes when there is none.
pub(super) async fn finish(pass: &mut Option<PassUnderWay>) -> FinishedPass {
    match pass {
        Some(under_way) => FinishedPass {
            outcome: under_way.pass.as_mut().await,
            started: under_way.started,
            number: under_way.number,
        },
        None => std::future::pending().await,
    }
}

/// After a deferred claim pass, the next one comes after `claim_interval` divided by this.
const DEFERRED_RETRY_DIVISOR: u32 = 10;

/// Where on the claim interval's grid the periodic claim passes fall: half a second past a
/// whole second when the interval is whole seconds, else half an interval past the grid.
///
/// Cron ticks fall on whole seconds, so the dispatcher's busiest moments are just after them;
/// a claim pass, the store's largest write, goes half-way between so as not to compete with a
/// burst for the CPU. Ticks are still claimed at least `look_ahead - claim_interval` before
/// they are due, less the wait of [`quiet_wait`].
fn claim_phase(interval: Duration) -> Duration {
    if interval.subsec_nanos() == 0 {
        Duration::from_millis(500)
    } else {
        interval / 2
    }
}

/// How long a periodic claim pass may wait for the dispatcher's burst to end: a fifth of the
/// claim interval, so that a pass half-way between whole seconds still ends before the next
/// second's burst (docs/perf-log/round-07.md). The first pass and the quick retries of
/// deferred passes do not wait: nothing is claimed ahead of the first, and a deferred pass
/// left ticks in the store that are due or nearly so.
fn quiet_wait(interval: Duration) -> Duration {
    interval / 5
}

impl Control {
    /// The claim timer (or the wait for a burst to end) went off at `wake`: starts a pass, or
    /// first waits for the dispatcher's burst to end if this is a periodic pass.
    pub(super) fn claim_due(&mut self, wake: Timestamp) {
        let now = self.shared.clock.now();
        if now < wake {
            return;
        }
        if self.quiet_deadline.is_none() && self.next_on_grid && *self.busy.borrow() {
            self.quiet_deadline = Some(time::add(
                now,
                quiet_wait(self.shared.config.claim_interval),
            ));
        } else {
            self.quiet_deadline = None;
            self.start_pass(now);
        }
    }

    /// Starts periodic claim pass number `passes_started + 1` at `now`.
    pub(super) fn start_pass(&mut self, now: Timestamp) {
        let number = self.shared.passes_started.fetch_add(1, Ordering::Relaxed) + 1;
        self.pass = Some(PassUnderWay {
            pass: Box::pin(Arc::clone(&self.shared).claim_pass()),
            started: now,
            number,
        });
    }

    /// Books a finished periodic claim pass; returns when the next one is due.
    pub(super) fn pass_finished(&mut self, finished: FinishedPass) -> Timestamp {
        let FinishedPass {
            outcome,
            started,
            number,
        } = finished;
        let _ = self.shared.dispatch.send(DispatchMsg::PassDone(number));
        self.count_pass(outcome);
        let interval = self.shared.config.claim_interval;
        self.next_on_grid = outcome != PassOutcome::Deferred;
        match outcome {
            // A deferred pass left due ticks in the store: look again soon, so that room freed
            // by finished executions is used within a tenth of the interval.
            PassOutcome::Deferred => time::add(started, interval / DEFERRED_RETRY_DIVISOR),
            PassOutcome::Complete | PassOutcome::Failed | PassOutcome::Fenced => {
                time::next_on_grid(started, interval, claim_phase(interval))
            }
        }
    }

    /// Counts a claim pass's outcome and logs when claims start or stop being deferred.
    pub(super) fn count_pass(&mut self, outcome: PassOutcome) {
        let metrics = &self.shared.metrics;
        match outcome {
            PassOutcome::Complete => {
                if self.deferred_passes > 0 {
                    log::info!(
                        "claims caught up after {} deferred passes; {} executions held",
                        self.deferred_passes,
                        metrics.backlog()
                    );
                    self.deferred_passes = 0;
                }
            }
            PassOutcome::Deferred => {
                Metrics::add(&metrics.claims_deferred, 1);
                if self.deferred_passes == 0 {
                    let config = &self.shared.config;
                    log::warn!(
                        "claims deferred: the engine holds {} executions, its backlog limit is {}; \
                         due ticks wait in the store and fire late (those later than {:?} follow \
                         their job's misfire policy)",
                        metrics.backlog(),
                        config.max_backlog,
                        config.misfire_threshold
                    );
                }
                self.deferred_passes += 1;
            }
            PassOutcome::Failed | PassOutcome::Fenced => {}
        }
    }
}

impl Shared {
    /// Claims the ticks due within the look-ahead window, batch after batch, as far as the
    /// backlog has room.
    pub(super) async fn claim_pass(self: Arc<Self>) -> PassOutcome {
        let now = self.clock.now();
        if !self.lease.holds(now) {
            return PassOutcome::Fenced;
        }
        let mut request =
            self.config
                .claim_request(now, self.config.claim_batch_size, &self.misfire);
        if self.outage.claims_in_memory() {
            return self.claim_in_memory(request).await;
        }
        loop {
            let room = self.backlog_room();
            if room == 0 {
                return PassOutcome::Deferred;
            }
            request.limit = room.min(self.config.claim_batch_size);
            // Reserved before the claim, as creations do, so that claims running at the same
            // time (a rescheduling update's beside the periodic pass) cannot overshoot the
            // limit together; what the claim does not take is given back.
            self.metrics.hold(request.limit);
            let started = self.clock.now();
            match self.store.claim_due(request.clone()).await {
                Ok(batch) => {
                    self.metrics
                        .claim_duration
                        .record(time::since(self.clock.now(), started));
                    let claimed = batch.ticks.len();
                    self.metrics.release(request.limit.saturating_sub(claimed));
                    if batch.misfired > 0 {
                        Metrics::add(&self.metrics.misfired, batch.misfired);
                        log::warn!(
                            "{} missed ticks dropped by misfire policies",
                            batch.misfired
                        );
                    }
                    self.hand_over(batch.ticks);
                    self.outage.claims_succeeded(self.clock.now());
                    if claimed < request.limit {
                        return PassOutcome::Complete;
                    }
                }
                Err(error) => {
                    self.metrics.release(request.limit);
                    Metrics::add(&self.metrics.store_errors, 1);
                    let error_text = error_chain(&error);
                    self.outage.claims_failed(self.clock.now(), &error_text);
                    if self.outage.buffers() {
                        return self.claim_in_memory(request).await;
                    }
                    return PassOutcome::Failed;
                }
            }
        }
    }

    /// Claims the ticks due under `request` in memory, while the store cannot be written (see
    /// `engine/outage.rs`): reads the due jobs page by page, as far as the backlog has room.
    async fn claim_in_memory(&self, request: ClaimRequest) -> PassOutcome {
        /// Due jobs read per store call.
        const PAGE: usize = 1_000;
        let mut after = None;
        loop {
            let room = self.backlog_room();
            if room == 0 {
                return PassOutcome::Deferred;
            }
            let page = match self
                .store
                .due_jobs(DueJobsQuery {
                    due_before: request.due_before,
                    after,
                    limit: PAGE,
                })
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    Metrics::add(&self.metrics.store_errors, 1);
                    self.outage.reads_failed(&error_chain(&error));
                    return PassOutcome::Failed;
                }
            };
            let full = page.len() == PAGE;
            after = page
                .last()
                .and_then(|job| job.next_fire_at.map(|at| (at, job.id)));
            let mut room = room;
            let mut ticks = Vec::new();
            let mut misfired = 0;
            for job in page {
                if room == 0 {
                    break;
                }
                let (claimed, dropped) = self.outage.claim(job, &request, room);
                room -= claimed.len();
                misfired += dropped;
                ticks.extend(claimed);
            }
            if misfired > 0 {
                Metrics::add(&self.metrics.misfired, misfired);
            }
            self.metrics.hold(ticks.len());
            self.hand_over(ticks);
            if room == 0 {
                return PassOutcome::Deferred;
            }
            if !full {
                return PassOutcome::Complete;
            }
        }
    }
}
