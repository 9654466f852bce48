//! Changes to existing jobs (update, pause, resume, delete, trigger), one at a time.
//!
//! A change is stored, then told to the dispatcher with the number of claim passes started so
//! far, so that ticks a pass under way read before the change still get it. A rescheduled job
//! has its ticks due within the look-ahead claimed at once. The caller waits for its own write,
//! not for a claim pass.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::domain::{Execution, ExecutionTrigger, Job, JobField, JobId, JobSpec, Timing};
use crate::engine::VersionCheck;
use crate::engine::control::claims::PassOutcome;
use crate::engine::control::{JobChange, Shared};
use crate::engine::dispatch::DispatchMsg;
use crate::error::{Error, Result, error_chain};
use crate::metrics::Metrics;
use crate::store::{ClaimedTick, NextFire};
use crate::time;

/// A change to an existing job under way; it ends with the outcome of the claim pass it ran
/// for a rescheduled job, if it ran one.
pub(super) type Change = Pin<Box<dyn Future<Output = Option<PassOutcome>> + Send>>;

/// How many later milliseconds a manual trigger tries when its instant is taken.
const TRIGGER_SLOTS: u32 = 1_000;

/// Completes when the change under way does; never completes when there is none.
pub(super) async fn finish(change: &mut Option<Change>) -> Option<PassOutcome> {
    match change {
        Some(change) => change.as_mut().await,
        None => std::future::pending().await,
    }
}

impl Shared {
    /// Applies one change to an existing job and answers its caller. Returns the outcome of
    /// the claim pass it ran for a rescheduled job, if it ran one.
    pub(super) async fn change(self: Arc<Self>, change: JobChange) -> Option<PassOutcome> {
        match change {
            JobChange::Update {
                id,
                spec,
                check,
                reply,
            } => {
                let (result, pass) = self.update(id, |_| Ok(spec), check).await;
                let _ = reply.send(result);
                pass
            }
            JobChange::SetPaused {
                id,
                paused,
                check,
                reply,
            } => {
                let (result, pass) = self
                    .update(
                        id,
                        |current| {
                            Ok(JobSpec {
                                paused,
                                ..current.spec.clone()
                            })
                        },
                        check,
                    )
                    .await;
                let _ = reply.send(result);
                pass
            }
            JobChange::Delete { id, check, reply } => {
                let _ = reply.send(self.delete(id, check).await);
                None
            }
            JobChange::Trigger { id, check, reply } => {
                let _ = reply.send(self.trigger(id, check).await);
                None
            }
            JobChange::Refresh { ids, resync } => {
                self.refresh(ids, resync).await;
                None
            }
        }
    }

    /// Reads the jobs `ids` again (with `resync`, also every job the dispatcher holds
    /// executions of) and tells the dispatcher what they are now, as for a change made here.
    async fn refresh(&self, mut ids: Vec<JobId>, resync: bool) {
        if resync {
            let (reply, held) = oneshot::channel();
            if self.dispatch.send(DispatchMsg::HeldJobs { reply }).is_ok()
                && let Ok(held) = held.await
            {
                ids.extend(held);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let read = self.store.get_job(id).await;
            if read.is_ok() {
                Metrics::add(&self.metrics.job_changes_received, 1);
            }
            match read {
                Ok(Some(job)) => {
                    let passes = self.passes_started.load(Ordering::Relaxed);
                    let _ = self.dispatch.send(DispatchMsg::JobChanged {
                        job: Arc::new(job),
                        passes,
                    });
                }
                Ok(None) => {
                    self.metrics.forget_job(id);
                    let passes = self.passes_started.load(Ordering::Relaxed);
                    let _ = self.dispatch.send(DispatchMsg::JobDeleted { id, passes });
                }
                Err(error) => {
                    Metrics::add(&self.metrics.store_errors, 1);
                    log::warn!(
                        "job {id} changed through another node, but reading it failed; its \
                         ticks held here follow the version read before: {}",
                        error_chain(&error)
                    );
                }
            }
        }
    }

    /// Stores a job's new spec (from `new_spec` of the current one) and tells the dispatcher;
    /// claims a rescheduled job's ticks due within the look-ahead at once. Returns the result
    /// and the outcome of that claim pass, if one ran.
    async fn update(
        self: &Arc<Self>,
        id: JobId,
        new_spec: impl FnOnce(&Job) -> Result<JobSpec>,
        check: VersionCheck,
    ) -> (Result<Job>, Option<PassOutcome>) {
        match self.try_update(id, new_spec, check).await {
            Ok((job, pass)) => (Ok(job), pass),
            Err(error) => (Err(error), None),
        }
    }

    async fn try_update(
        self: &Arc<Self>,
        id: JobId,
        new_spec: impl FnOnce(&Job) -> Result<JobSpec>,
        check: VersionCheck,
    ) -> Result<(Job, Option<PassOutcome>)> {
        let current = self
            .store
            .get_job(id)
            .await?
            .ok_or(Error::JobNotFound(id))?;
        let spec = new_spec(&current)?;
        spec.validate()?;
        let expected = match check {
            VersionCheck::Any => current.version,
            VersionCheck::Exactly(version) => version,
        };
        let now = self.clock.now();
        let resumed = current.spec.paused && !spec.paused;
        let reschedule = resumed || !current.spec.same_ticks_as(&spec);
        let next_fire = match spec.schedule {
            // A new instant: refused in the past as at creation. Resuming keeps the watermark,
            // so a one-off job paused past its instant fires late, and one that fired does not
            // fire again.
            Timing::Once(at) if !current.spec.same_ticks_as(&spec) => {
                if at < time::sub(now, self.config.misfire_threshold) {
                    return Err(Error::invalid(
                        JobField::RunAt,
                        format!(
                            "must not be more than {} s in the past (the misfire threshold)",
                            self.config.misfire_threshold.as_secs_f64()
                        ),
                    ));
                }
                NextFire::Set(Some(at))
            }
            Timing::Once(_) => NextFire::Keep,
            Timing::Cron(_) if reschedule => {
                let next = spec.next_fire_after(now);
                if next.is_none() && spec.end_at.is_some() && !current.spec.same_ticks_as(&spec) {
                    return Err(Error::invalid(
                        JobField::EndAt,
                        "the schedule has no fire time between now (or startAt) and endAt",
                    ));
                }
                NextFire::Set(next)
            }
            Timing::Cron(_) => NextFire::Keep,
        };
        let job = Job {
            spec,
            updated_at: now,
            ..current
        };
        let stored = self.store.update_job(job, expected, next_fire).await?;
        log::info!("job {id} updated to version {}", stored.version);
        // Claimed ticks are checked against the new spec when they come due.
        let passes = self.passes_started.load(Ordering::Relaxed);
        let _ = self.dispatch.send(DispatchMsg::JobChanged {
            job: Arc::new(stored.clone()),
            passes,
        });
        let mut pass = None;
        if reschedule && !stored.spec.paused && self.within_look_ahead(now, stored.next_fire_at) {
            pass = Some(Arc::clone(self).claim_pass().await);
        }
        Ok((stored, pass))
    }

    fn within_look_ahead(
        &self,
        now: cron_expr::Timestamp,
        next: Option<cron_expr::Timestamp>,
    ) -> bool {
        next.is_some_and(|at| at <= time::add(now, self.config.look_ahead))
    }

    /// Deletes a job and its executions, and tells the dispatcher to drop what it holds of it.
    async fn delete(&self, id: JobId, check: VersionCheck) -> Result<bool> {
        if let VersionCheck::Exactly(expected) = check {
            match self.store.get_job(id).await? {
                None => return Ok(false),
                Some(job) => check_version(&job, expected)?,
            }
        }
        let result = self.store.delete_job(id).await;
        if let Ok(true) = result {
            self.metrics.forget_job(id);
            let passes = self.passes_started.load(Ordering::Relaxed);
            let _ = self.dispatch.send(DispatchMsg::JobDeleted { id, passes });
            log::info!("job {id} deleted");
        }
        result
    }

    /// Inserts a manual execution at now (or the next free millisecond) and hands it over.
    async fn trigger(&self, id: JobId, check: VersionCheck) -> Result<Execution> {
        let job = Arc::new(
            self.store
                .get_job(id)
                .await?
                .ok_or(Error::JobNotFound(id))?,
        );
        if let VersionCheck::Exactly(expected) = check {
            check_version(&job, expected)?;
        }
        // Whole milliseconds, as the stores keep instants: an instant finer than the stored
        // one would find the execution itself among the job's executions before it (which a
        // job alert's streak is counted from).
        let now = self.clock.now();
        let mut at = cron_expr::Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
        for _ in 0..TRIGGER_SLOTS {
            let execution = Execution::pending(
                id,
                at,
                ExecutionTrigger::Manual,
                &self.config.node_id,
                self.config.lease_until(at),
            );
            match self.store.insert_execution(execution.clone()).await {
                Ok(()) => {
                    let execution_id = execution.id;
                    log::info!("job {id} triggered: execution {execution_id}");
                    self.metrics.hold(1);
                    self.hand_over(vec![ClaimedTick {
                        execution: execution.clone(),
                        job,
                    }]);
                    return Ok(execution);
                }
                // One execution per (job, instant): take the next free millisecond.
                Err(Error::DuplicateExecution { .. }) => {
                    at = time::add(at, Duration::from_millis(1))
                }
                Err(error) => return Err(error),
            }
        }
        Err(Error::DuplicateExecution {
            job_id: id,
            scheduled_at: at,
        })
    }
}

/// [`Error::VersionConflict`] unless `job` is at version `expected`.
fn check_version(job: &Job, expected: u64) -> Result<()> {
    if job.version == expected {
        Ok(())
    } else {
        Err(Error::VersionConflict {
            job_id: job.id,
            expected,
            actual: job.version,
        })
    }
}
