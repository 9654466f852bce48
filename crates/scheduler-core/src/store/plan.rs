//! The schedule arithmetic of a claim, shared by every store: which ticks a claim takes for a
//! job, what its misfire policy drops, and the job's new watermark.

use cron_expr::Timestamp;

use crate::domain::{Job, MisfirePolicy, Timing};

use super::ClaimRequest;

/// The ticks one claim takes for one job, from [`plan_claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPlan {
    /// The ticks to insert, in order.
    pub ticks: Vec<Timestamp>,
    /// The job's new watermark.
    pub next_fire_at: Option<Timestamp>,
    /// Missed ticks the misfire policy dropped (counted up to a bound; see [`plan_claim`]).
    pub misfired: u64,
}

impl ClaimPlan {
    /// Whether the plan ends the job's schedule without claiming a tick (its last ticks were
    /// missed and dropped by the misfire policy): no execution's result will end the job, so
    /// the claim does, as [`ClaimStore::record_results`](super::ClaimStore::record_results)
    /// would (marks it done, or deletes it, if none of its executions is unfinished).
    pub fn ends_without_a_tick(&self) -> bool {
        self.ticks.is_empty() && self.next_fire_at.is_none()
    }
}

/// The most missed ticks [`plan_claim`] walks to count what a misfire policy dropped.
const MISFIRE_COUNT_LIMIT: u64 = 10_000;

/// Plans the claim of a job being created ([`ClaimStore::insert_job_and_claim`](super::ClaimStore::insert_job_and_claim)):
/// [`plan_claim`] up to `request.limit` ticks, or nothing for a paused job, whose watermark
/// stays as given.
pub fn plan_new_job_claim(job: &Job, request: &ClaimRequest) -> ClaimPlan {
    if job.spec.paused {
        return ClaimPlan {
            ticks: Vec::new(),
            next_fire_at: job.next_fire_at,
            misfired: 0,
        };
    }
    plan_claim(job, request, request.limit)
}

/// Plans the claim of one due job: which ticks to insert and the new `next_fire_at`.
///
/// Starting from `job.next_fire_at`, ticks before `request.missed_before` are missed:
/// [`MisfirePolicy::FireOnceNow`] keeps the most recent one, [`MisfirePolicy::CatchUp`] the
/// most recent `max`, [`MisfirePolicy::SkipToNext`] none. Then every tick up to `due_before`
/// is taken, until `budget` ticks are planned; the rest wait for the next claim. The dropped
/// count is exact up to 10,000 and saturates there, so a long outage costs bounded work.
///
/// The ticks are the job's ([`JobSpec::next_fire_after`](crate::JobSpec::next_fire_after)):
/// within its window, and a one-off job's one instant, which fires late whatever the
/// misfire policy (it has no later tick to skip to).
pub fn plan_claim(job: &Job, request: &ClaimRequest, budget: usize) -> ClaimPlan {
    let spec = &job.spec;
    let mut ticks = Vec::new();
    let mut misfired = 0;
    let Some(mut next) = job.next_fire_at else {
        return ClaimPlan {
            ticks,
            next_fire_at: None,
            misfired,
        };
    };
    let cutoff = request.missed_before;
    if next < cutoff {
        // Missed ticks: [next, first tick at or after the cutoff).
        let resume = spec.next_fire_at_or_after(cutoff);
        let keep = match spec.misfire {
            // A one-off job has no later tick to skip to: its one tick fires, late.
            _ if matches!(spec.schedule, Timing::Once(_)) => 1,
            MisfirePolicy::FireOnceNow => 1,
            MisfirePolicy::SkipToNext => 0,
            MisfirePolicy::CatchUp { max } => max as usize,
        };
        let mut kept = Vec::with_capacity(keep.min(budget));
        let mut cursor = cutoff;
        while kept.len() < keep.min(budget) {
            match spec.prev_fire_before(cursor) {
                Some(t) if t >= next => {
                    kept.push(t);
                    cursor = t;
                }
                _ => break,
            }
        }
        kept.reverse();
        // Count what was dropped, walking forward from the oldest missed tick.
        let first_kept = kept.first().copied().unwrap_or(cutoff);
        let mut t = next;
        while t < first_kept && misfired < MISFIRE_COUNT_LIMIT {
            misfired += 1;
            match spec.next_fire_after(t) {
                Some(n) => t = n,
                None => break,
            }
        }
        ticks = kept;
        match resume {
            Some(t) => next = t,
            None => {
                return ClaimPlan {
                    ticks,
                    next_fire_at: None,
                    misfired,
                };
            }
        }
    }
    while next <= request.due_before && ticks.len() < budget {
        ticks.push(next);
        match spec.next_fire_after(next) {
            Some(n) => next = n,
            None => {
                return ClaimPlan {
                    ticks,
                    next_fire_at: None,
                    misfired,
                };
            }
        }
    }
    ClaimPlan {
        ticks,
        next_fire_at: Some(next),
        misfired,
    }
}
