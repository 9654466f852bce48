//! Outage mode: firing from memory while the store cannot be written.
//!
//! When a claim fails on a store of one node (SQLite: a full disk, a read-only remount), the
//! claim passes go on in memory: they read the due jobs (reads keep working in those
//! failures), plan their ticks with [`plan_claim`] from the newer of the stored watermark and
//! the one kept here, and hand the ticks to the dispatcher. Each execution claimed so is kept
//! in the journal, where the writer folds its results into it; once the store takes writes
//! again, the writer records the journal with
//! [`ClaimStore::record_buffered_claims`](crate::ClaimStore::record_buffered_claims), oldest
//! first and before any other result, and the claim passes go back to the store once the
//! whole journal is recorded.
//!
//! The journal is bounded by `EngineConfig::outage_buffer_bytes`. A tick that does not fit is
//! not fired, and the job's watermark here stays before it, so the store's watermark does too:
//! once the store is back, the tick is a missed one and follows the job's misfire policy. An
//! at-most-once tick is never fired from memory, since it needs a durable start record: it is
//! recorded SKIPPED, with the reason. A store shared by several nodes has no outage mode: a node
//! that cannot write to it fences itself (`engine/lease.rs`), since another node may own what it
//! would fire.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use cron_expr::Timestamp;
use foldhash::HashMap;

use crate::domain::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, ExecutionUpdate, Job,
    JobId,
};
use crate::metrics::Metrics;
use crate::store::{BufferedClaims, BufferedWatermark, ClaimRequest, ClaimedTick, plan_claim};

/// The error an at-most-once tick claimed in memory is recorded with.
pub(crate) const AT_MOST_ONCE_NOT_FIRED: &str = "not fired: the store could not be written, and \
     an at-most-once execution is sent only after its start is recorded";

/// What outage mode shares between the claim passes and the writer; see the module
/// documentation.
pub(crate) struct Outage {
    /// Whether claims may go on in memory: only on a store of one node.
    buffering: bool,
    /// `EngineConfig::outage_buffer_bytes`.
    budget: usize,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

/// Why the store is failing and since when, from [`StoreStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreFailure {
    /// When the first of the failures in a row happened.
    pub since: Timestamp,
    /// The latest failure, as its error chain.
    pub cause: String,
}

/// The store's health as the engine sees it, from [`Engine::store_status`](crate::Engine::store_status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Claims are failing: on a store of one node, ticks are claimed in memory.
    pub claims: Option<StoreFailure>,
    /// Writes of results are failing: they are kept and tried again.
    pub results: Option<StoreFailure>,
    /// The node's heartbeat, a small write made every
    /// [`EngineConfig::heartbeat_interval`](crate::EngineConfig::heartbeat_interval) whether or
    /// not anything is due, failed, or has not completed within two intervals: so an idle node
    /// whose store cannot be written, or whose store's writer has stopped, says so too.
    pub heartbeat: Option<StoreFailure>,
}

impl StoreStatus {
    /// The failure to report, claims first, then results, then the heartbeat: `None` when the
    /// store takes writes.
    pub fn failure(&self) -> Option<&StoreFailure> {
        self.claims
            .as_ref()
            .or(self.results.as_ref())
            .or(self.heartbeat.as_ref())
    }
}

impl StoreFailure {
    /// Records a failure at `now` with `cause` in `slot`: the latest cause, since the first.
    fn record(slot: &mut Option<StoreFailure>, now: Timestamp, cause: &str) {
        match slot {
            Some(failure) => failure.cause = cause.to_owned(),
            None => {
                *slot = Some(StoreFailure {
                    since: now,
                    cause: cause.to_owned(),
                });
            }
        }
    }
}

#[derive(Default)]
struct State {
    claims_failing: Option<StoreFailure>,
    results_failing: Option<StoreFailure>,
    heartbeat_failing: Option<StoreFailure>,
    journal: Journal,
    /// Journal entries the writer has taken out and is recording.
    flushing: usize,
    /// The watermarks of the jobs claimed in memory during this outage.
    watermarks: HashMap<JobId, Watermark>,
    /// Whether a tick was left out for lack of room during this outage (logged once).
    overflowed: bool,
    /// Whether reading the due jobs failed during this outage (logged once).
    reads_failed: bool,
    /// Ticks claimed in memory during this outage.
    claimed: u64,
}

/// A job's watermark in memory.
#[derive(Clone, Copy)]
struct Watermark {
    /// The job's version it was planned at.
    version: u64,
    /// The next tick not claimed in memory.
    next_fire_at: Option<Timestamp>,
    /// The ticks before this one that did not fit are counted already.
    counted_until: Option<Timestamp>,
}

/// The executions claimed in memory and not yet recorded, oldest first, each in its latest
/// state.
#[derive(Default)]
struct Journal {
    order: VecDeque<ExecutionId>,
    entries: HashMap<ExecutionId, Execution>,
    /// The estimated memory the entries take.
    bytes: usize,
}

/// What a journal entry costs in memory, as an estimate: the execution, its strings, and its
/// share of the map and the queue.
fn footprint(execution: &Execution) -> usize {
    const OVERHEAD: usize = 64;
    std::mem::size_of::<Execution>()
        + execution.claimed_by.len()
        + execution.error.as_ref().map_or(0, String::len)
        + OVERHEAD
}

impl Journal {
    fn push(&mut self, execution: Execution) {
        self.bytes += footprint(&execution);
        self.order.push_back(execution.id);
        self.entries.insert(execution.id, execution);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Outage {
    pub(crate) fn new(buffering: bool, budget: usize, metrics: Arc<Metrics>) -> Outage {
        Outage {
            buffering,
            budget,
            metrics,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store's health as the engine sees it.
    pub(crate) fn status(&self) -> StoreStatus {
        let state = self.lock();
        StoreStatus {
            claims: state.claims_failing.clone(),
            results: state.results_failing.clone(),
            heartbeat: state.heartbeat_failing.clone(),
        }
    }

    /// Whether claims may go on in memory when the store fails them.
    pub(crate) fn buffers(&self) -> bool {
        self.buffering
    }

    /// Whether the claim passes must claim in memory: claims failed, and what was claimed in
    /// memory is not all recorded yet (the store's watermarks are behind until it is).
    pub(crate) fn claims_in_memory(&self) -> bool {
        let state = self.lock();
        state.claims_failing.is_some() && (state.journal.len() > 0 || state.flushing > 0)
    }

    /// A claim failed at `now` with `cause`.
    pub(crate) fn claims_failed(&self, now: Timestamp, cause: &str) {
        let mut state = self.lock();
        match &mut state.claims_failing {
            Some(failure) => failure.cause = cause.to_owned(),
            None => {
                if self.buffering {
                    log::error!(
                        "the store cannot be written ({cause}): outage mode, due ticks are claimed \
                         in memory and their executions kept (up to {} bytes) until the store \
                         takes writes again",
                        self.budget
                    );
                } else {
                    log::error!("claiming due ticks failed: {cause}");
                }
                state.claims_failing = Some(StoreFailure {
                    since: now,
                    cause: cause.to_owned(),
                });
            }
        }
    }

    /// A claim in the store succeeded: the outage, if there was one, is over for claims.
    pub(crate) fn claims_succeeded(&self, now: Timestamp) {
        let mut state = self.lock();
        if let Some(failure) = state.claims_failing.take() {
            let lasted = crate::time::since(now, failure.since);
            if self.buffering {
                log::info!(
                    "claims reach the store again, after {lasted:?}; {} ticks were claimed in \
                     memory meanwhile",
                    state.claimed
                );
            } else {
                log::info!("claims reach the store again, after {lasted:?}");
            }
            state.claimed = 0;
            state.watermarks.clear();
            state.overflowed = false;
            state.reads_failed = false;
        }
    }

    /// A write of results failed at `now` with `cause`.
    pub(crate) fn results_failed(&self, now: Timestamp, cause: &str) {
        StoreFailure::record(&mut self.lock().results_failing, now, cause);
    }

    /// A write of results succeeded; the time results were failing, if they were.
    pub(crate) fn results_succeeded(&self, now: Timestamp) -> Option<std::time::Duration> {
        self.lock()
            .results_failing
            .take()
            .map(|failure| crate::time::since(now, failure.since))
    }

    /// A heartbeat failed (or has not completed) at `now`, with `cause`.
    pub(crate) fn heartbeat_failed(&self, now: Timestamp, cause: &str) {
        StoreFailure::record(&mut self.lock().heartbeat_failing, now, cause);
    }

    /// A heartbeat was written.
    pub(crate) fn heartbeat_succeeded(&self) {
        self.lock().heartbeat_failing = None;
    }

    /// Plans `job`'s ticks under `request` in memory, at most `budget` of them: the ticks to
    /// fire (at-least-once), each journaled; at-most-once ticks are journaled SKIPPED. Returns
    /// the ticks to hand to the dispatcher and the missed ticks the misfire policy dropped.
    pub(crate) fn claim(
        &self,
        job: Job,
        request: &ClaimRequest,
        budget: usize,
    ) -> (Vec<ClaimedTick>, u64) {
        let mut state = self.lock();
        let kept = state
            .watermarks
            .get(&job.id)
            .copied()
            .filter(|kept| kept.version == job.version);
        let mut job = job;
        if let Some(kept) = kept {
            job.next_fire_at = match (job.next_fire_at, kept.next_fire_at) {
                (Some(stored), Some(memory)) => Some(stored.max(memory)),
                _ => None,
            };
        }
        let Some(first) = job.next_fire_at else {
            return (Vec::new(), 0);
        };
        if first > request.due_before {
            return (Vec::new(), 0);
        }
        let plan = plan_claim(&job, request, budget);
        let job = Arc::new(job);
        let mut ticks = Vec::with_capacity(plan.ticks.len());
        let mut watermark = plan.next_fire_at;
        let mut misfired = plan.misfired;
        let mut left_out = 0u64;
        let counted_until = kept.and_then(|kept| kept.counted_until);
        for (index, &tick) in plan.ticks.iter().enumerate() {
            let mut execution = Execution::pending(
                job.id,
                tick,
                ExecutionTrigger::Schedule,
                &request.owner,
                request.lease_until,
            );
            if state.journal.bytes + footprint(&execution) > self.budget {
                // No room: this tick and the rest wait in the store, behind its watermark. If
                // none fitted, the watermark stays where it was, before the missed ticks too:
                // the misfire policy applies to them once the store is back.
                if index == 0 {
                    watermark = job.next_fire_at;
                    misfired = 0;
                } else {
                    watermark = Some(tick);
                }
                left_out = plan.ticks[index..]
                    .iter()
                    .filter(|&&t| counted_until.is_none_or(|until| t >= until))
                    .count() as u64;
                break;
            }
            match job.spec.delivery {
                DeliveryType::AtLeastOnce => {
                    state.journal.push(execution.clone());
                    ticks.push(ClaimedTick {
                        execution,
                        job: Arc::clone(&job),
                    });
                }
                DeliveryType::AtMostOnce => {
                    execution.status = ExecutionStatus::Skipped;
                    execution.finished_at = Some(request.now);
                    execution.error = Some(AT_MOST_ONCE_NOT_FIRED.to_owned());
                    state.journal.push(execution);
                    Metrics::add(&self.metrics.skipped, 1);
                    Metrics::add(&self.metrics.outage_withheld, 1);
                }
            }
        }
        let counted_until = if left_out > 0 {
            plan.ticks
                .last()
                .map(|&last| crate::time::add(last, std::time::Duration::from_millis(1)))
        } else {
            counted_until
        };
        state.watermarks.insert(
            job.id,
            Watermark {
                version: job.version,
                next_fire_at: watermark,
                counted_until,
            },
        );
        if left_out > 0 {
            Metrics::add(&self.metrics.outage_dropped, left_out);
            if !state.overflowed {
                state.overflowed = true;
                log::error!(
                    "the outage buffer is full ({} executions, {} bytes): due ticks are no longer \
                     fired until the store takes writes again; they then follow their jobs' \
                     misfire policies",
                    state.journal.len(),
                    state.journal.bytes
                );
            }
        }
        state.claimed += ticks.len() as u64;
        Metrics::add(&self.metrics.outage_claimed, ticks.len() as u64);
        self.publish(&state);
        (ticks, misfired)
    }

    /// Reading the due jobs failed too, with `cause`: nothing fires until the store answers.
    /// Logged once per outage.
    pub(crate) fn reads_failed(&self, cause: &str) {
        let mut state = self.lock();
        if !state.reads_failed {
            state.reads_failed = true;
            log::error!(
                "reading due jobs failed as well, so no tick is claimed in memory until the \
                 store answers: {cause}"
            );
        }
    }

    /// Folds `update` into its journaled execution, if it is journaled; whether it was.
    pub(crate) fn absorb(&self, update: &ExecutionUpdate) -> bool {
        // The common case, outside an outage, without the lock: an execution is journaled (and
        // this count raised) before the dispatcher hears of it, so before any of its updates.
        if self
            .metrics
            .outage_buffered
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            return false;
        }
        let mut state = self.lock();
        let Some(execution) = state.journal.entries.get_mut(&update.id) else {
            return false;
        };
        let before = footprint(execution);
        execution.apply(update);
        let after = footprint(execution);
        state.journal.bytes = state.journal.bytes + after - before;
        true
    }

    /// Takes up to `max` journaled executions, oldest first, with the watermarks of their jobs,
    /// for the writer to record; `None` when the journal is empty. Answer with
    /// [`Outage::recorded`] or [`Outage::not_recorded`].
    pub(crate) fn take(&self, max: usize) -> Option<BufferedClaims> {
        let mut state = self.lock();
        let count = max.min(state.journal.order.len());
        if count == 0 {
            return None;
        }
        let ids: Vec<ExecutionId> = state.journal.order.drain(..count).collect();
        let mut executions = Vec::with_capacity(count);
        for id in ids {
            if let Some(execution) = state.journal.entries.remove(&id) {
                state.journal.bytes -= footprint(&execution);
                executions.push(execution);
            }
        }
        let mut jobs: Vec<JobId> = executions.iter().map(|e| e.job_id).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let watermarks = jobs
            .into_iter()
            .filter_map(|job_id| {
                state.watermarks.get(&job_id).map(|kept| BufferedWatermark {
                    job_id,
                    version: kept.version,
                    next_fire_at: kept.next_fire_at,
                })
            })
            .collect();
        state.flushing += executions.len();
        self.publish(&state);
        Some(BufferedClaims {
            executions,
            watermarks,
        })
    }

    /// The claims from [`Outage::take`] were recorded.
    pub(crate) fn recorded(&self, claims: &BufferedClaims) {
        let mut state = self.lock();
        state.flushing -= claims.executions.len();
        self.publish(&state);
    }

    /// The claims from [`Outage::take`] were not recorded: they go back to the front of the
    /// journal, to be tried again.
    pub(crate) fn not_recorded(&self, claims: BufferedClaims) {
        let mut state = self.lock();
        state.flushing -= claims.executions.len();
        for execution in claims.executions.into_iter().rev() {
            state.journal.bytes += footprint(&execution);
            state.journal.order.push_front(execution.id);
            state.journal.entries.insert(execution.id, execution);
        }
        self.publish(&state);
    }

    /// How many executions are journaled, those being recorded included.
    pub(crate) fn buffered(&self) -> usize {
        let state = self.lock();
        state.journal.len() + state.flushing
    }

    fn publish(&self, state: &State) {
        self.metrics.outage_buffered.store(
            (state.journal.len() + state.flushing) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}
