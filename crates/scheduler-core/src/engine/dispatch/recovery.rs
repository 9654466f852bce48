//! Recovery: the unfinished executions found at start-up, or taken over from a stopped node.
//! Which are sent again (and marked as re-sends), which are abandoned, and which missed ticks
//! their job's misfire policy drops.
//!
//! **Re-sends.** A recovered execution is a *re-send* (its next attempt carries
//! `X-Scheduler-Redelivery: true` and adds one to [`Execution::redeliveries`]) when its node may
//! have sent it before stopping:
//!
//! - every running at-least-once execution (its start was recorded);
//! - every pending at-least-once execution whose tick had come (its fire instant, the job's
//!   tick jitter included) when it is recovered: the `RUNNING` state is written in batches
//!   after the send, so a crash between the send and the batch leaves a sent execution
//!   pending. One whose tick is still ahead was surely not sent.
//!
//! A pending at-most-once execution never is: its start is stored before its request leaves.
//! Nothing is written before the send to tell the cases apart; the rule is conservative, so a
//! target may see the header on an execution it never received.
//!
//! **Misfires.** Pending scheduled ticks whose fire instant (jitter included) comes before the
//! claims' cut when recovered are missed (the cut: the misfire threshold before now, or on a
//! store that is not shared the engine's start if later, as `engine::misfire` says), and
//! follow the job's policy as a claim applies it ([`crate::store::plan_claim`]): of the job's missed ticks (those recovered and those its
//! watermark still owes, which the next claim plans and are all later), the most recent ones
//! fire (one, none, or `max`); the recovered ones left out are recorded `SKIPPED` with the
//! reason and counted as misfired. Manual triggers and ticks of paused jobs are left to the
//! dispatch as usual.

use std::time::Duration;

use cron_expr::Timestamp;
use foldhash::{HashMap, HashSet};

use crate::domain::{
    DeliveryType, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger, Job, JobId,
    MisfirePolicy,
};
use crate::engine::dispatch::{Dispatcher, Stage};
use crate::jitter::tick_fire_instant;
use crate::metrics::Metrics;
use crate::store::ClaimedTick;
use crate::time;

impl Dispatcher {
    /// Takes over recovered executions: abandons, re-sends, drops missed ticks, or schedules.
    pub(super) fn recover(&mut self, ticks: Vec<ClaimedTick>) {
        let now = self.clock.now();
        Metrics::add(&self.metrics.claimed, ticks.len() as u64);
        let cutoff = self.misfire.missed_before(now);
        let dropped = misfire_drops(&ticks, cutoff, self.config.default_tick_jitter);
        let mut pending_resends = 0;
        for ClaimedTick { mut execution, job } in ticks {
            if dropped.contains(&execution.id) {
                self.drop_missed(execution, &job, now);
                continue;
            }
            let due = self.fire_at(&job, &execution);
            match (execution.status, job.spec.delivery) {
                (ExecutionStatus::Running, DeliveryType::AtMostOnce) => {
                    log::warn!(
                        "job {} execution {} was in flight when its node stopped; at-most-once: abandoned",
                        job.id,
                        execution.id
                    );
                    execution.status = ExecutionStatus::Abandoned;
                    execution.finished_at = Some(now);
                    execution.error = Some(
                        "in flight when its node stopped; at-most-once, not re-sent".to_owned(),
                    );
                    Metrics::add(&self.metrics.abandoned, 1);
                    self.write_last(&execution);
                }
                (ExecutionStatus::Running, DeliveryType::AtLeastOnce) => {
                    log::info!(
                        "job {} execution {} was in flight when its node stopped: sending it again",
                        job.id,
                        execution.id
                    );
                    self.resends.insert(execution.id);
                    self.hold(job).running += 1;
                    self.schedule(now, Stage::Continue, execution);
                }
                (_, DeliveryType::AtLeastOnce) if due <= now => {
                    log::debug!(
                        "job {} execution {} was due when its node stopped and may have been sent: \
                         sending it as a re-send",
                        job.id,
                        execution.id
                    );
                    pending_resends += 1;
                    self.resends.insert(execution.id);
                    self.hold(job);
                    self.schedule(due, Stage::Tick, execution);
                }
                _ => {
                    self.hold(job);
                    self.schedule(due, Stage::Tick, execution);
                }
            }
        }
        if pending_resends > 0 || !dropped.is_empty() {
            log::info!(
                "recovered executions: {pending_resends} pending ones whose tick had come are sent \
                 as re-sends (their node may have sent them), {} missed ticks skipped by misfire \
                 policies",
                dropped.len()
            );
        }
    }

    /// Records a recovered tick that its job's misfire policy drops as skipped, with why.
    fn drop_missed(&mut self, mut execution: Execution, job: &Job, now: Timestamp) {
        let late = time::since(now, execution.scheduled_at);
        let reason = format!(
            "missed: recovered {}s after its tick, when its node had stopped; misfire policy {}",
            late.as_secs(),
            policy_rule(job.spec.misfire)
        );
        log::debug!(
            "job {} execution {} skipped: {reason}",
            job.id,
            execution.id
        );
        execution.status = ExecutionStatus::Skipped;
        execution.finished_at = Some(now);
        execution.error = Some(reason);
        Metrics::add(&self.metrics.misfired, 1);
        Metrics::add(&self.metrics.skipped, 1);
        self.write_last(&execution);
    }

    /// Forgets that `id` was to be sent as a re-send: it leaves the dispatcher unsent.
    pub(super) fn forget_resend(&mut self, id: ExecutionId) {
        if !self.resends.is_empty() {
            self.resends.remove(&id);
        }
    }
}

/// What a misfire policy keeps, in words, for the reason of a dropped tick.
fn policy_rule(policy: MisfirePolicy) -> String {
    match policy {
        MisfirePolicy::FireOnceNow => "FIRE_ONCE_NOW fires only the latest missed tick".to_owned(),
        MisfirePolicy::SkipToNext => "SKIP_TO_NEXT fires no missed tick".to_owned(),
        MisfirePolicy::CatchUp { max } => {
            format!("CATCH_UP fires only the latest {max} missed ticks")
        }
    }
}

/// The recovered executions that their jobs' misfire policies drop: pending scheduled ticks
/// due (their tick moved by its jitter, `default_jitter` for jobs that set none) before
/// `cutoff`, beyond the most recent ones the policy keeps among the job's missed ticks (the
/// watermark's owed ticks first, as they are all later).
fn misfire_drops(
    ticks: &[ClaimedTick],
    cutoff: Timestamp,
    default_jitter: Duration,
) -> HashSet<ExecutionId> {
    let mut missed: HashMap<JobId, Vec<(Timestamp, ExecutionId)>> = HashMap::default();
    let mut jobs: HashMap<JobId, &Job> = HashMap::default();
    for ClaimedTick { execution, job } in ticks {
        let is_missed = execution.status == ExecutionStatus::Pending
            && execution.trigger == ExecutionTrigger::Schedule
            && tick_fire_instant(job.id, &job.spec, execution.scheduled_at, default_jitter)
                < cutoff
            && !job.spec.paused;
        if is_missed {
            missed
                .entry(job.id)
                .or_default()
                .push((execution.scheduled_at, execution.id));
            jobs.entry(job.id).or_insert(job);
        }
    }
    let mut dropped = HashSet::default();
    for (job_id, mut ticks) in missed {
        let job = jobs[&job_id];
        let keep = match job.spec.misfire {
            MisfirePolicy::FireOnceNow => 1,
            MisfirePolicy::SkipToNext => 0,
            MisfirePolicy::CatchUp { max } => max as usize,
        };
        let keep = keep.saturating_sub(owed_missed_ticks(job, cutoff, keep));
        ticks.sort_unstable();
        let drop = ticks.len().saturating_sub(keep);
        dropped.extend(ticks[..drop].iter().map(|(_, id)| *id));
    }
    dropped
}

/// How many ticks before `cutoff` the job's watermark still owes (the next claim's missed
/// ticks), counted up to `limit`.
fn owed_missed_ticks(job: &Job, cutoff: Timestamp, limit: usize) -> usize {
    let mut owed = 0;
    let mut next = job.next_fire_at;
    while let Some(tick) = next
        && tick < cutoff
        && owed < limit
    {
        owed += 1;
        next = job.spec.next_fire_after(tick);
    }
    owed
}
