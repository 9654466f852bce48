//! Job creations, in batches: each new job is stored with its first ticks claimed in the same
//! write, and the inserts of a batch run concurrently so that they share the store's group
//! commit. No claim or change can concern a job before its creation is answered, so a creation
//! neither waits for a claim pass nor holds one up.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet};

use crate::domain::{Job, JobField, JobId, JobSpec, Timing};
use crate::engine::control::{Command, Control, Shared};
use crate::error::{Error, Result};

/// A creation and where its answer goes.
pub(super) struct Creation {
    pub(super) spec: JobSpec,
    pub(super) reply: oneshot::Sender<Result<Job>>,
}

/// The most creations taken from the queue together; their inserts share the store's group
/// commit instead of paying a commit each.
const CREATE_BATCH: usize = 256;

/// The most creation batches under way at once. While that many wait for the store, the
/// control task takes no more commands (claim passes go on), and the creations queued behind
/// them form the next, larger batch.
pub(super) const CREATE_BATCHES_IN_FLIGHT: usize = 4;

/// Logs a creation batch that failed. A batch task cannot panic short of a bug in the store;
/// its callers then hear that the engine is gone, and their jobs may or may not exist.
pub(super) fn log_if_failed(done: std::result::Result<(), JoinError>) {
    if let Err(error) = done {
        log::error!("a job creation task failed: {error}");
    }
}

impl Control {
    /// Takes `first` and the creations queued behind it (up to [`CREATE_BATCH`]) and starts
    /// them as one batch in a task of its own. The first queued command that is not a
    /// creation is kept in the inbox, to be handled next.
    pub(super) fn start_creations(&mut self, first: Creation) {
        let mut creations = vec![first];
        while creations.len() < CREATE_BATCH {
            match self.inbox.commands.try_recv() {
                Ok(Command::Create { spec, reply }) => creations.push(Creation { spec, reply }),
                Ok(command) => {
                    self.inbox.pending = Some(command);
                    break;
                }
                Err(_) => break,
            }
        }
        self.creating
            .spawn(Arc::clone(&self.shared).create(creations));
    }
}

impl Shared {
    /// Creates the jobs of `creations` together: each is inserted with its ticks due within
    /// the look-ahead claimed in the same write, concurrently (so the inserts share the
    /// store's group commit); the claimed ticks go to the dispatcher, and then each caller
    /// hears its result, so that a created job's first tick is already on the timer.
    ///
    /// The claims are bounded by the backlog like any other: the room left under
    /// `max_backlog` is shared equally between the batch's jobs and reserved before the
    /// inserts (so that concurrent batches and claim passes cannot overshoot it together); a
    /// job that gets no room is claimed by a later claim pass.
    async fn create(self: Arc<Self>, creations: Vec<Creation>) {
        let now = self.clock.now();
        let mut replies = Vec::with_capacity(creations.len());
        let mut jobs = Vec::with_capacity(creations.len());
        for (index, Creation { spec, reply }) in creations.into_iter().enumerate() {
            match Self::new_job(spec, now, self.config.misfire_threshold) {
                Ok(job) => {
                    jobs.push((index, job));
                    replies.push((reply, None));
                }
                Err(error) => replies.push((reply, Some(Err(error)))),
            }
        }
        let per_job = self.claims_per_new_job(jobs.len());
        let reserved = per_job * jobs.len();
        self.metrics.hold(reserved);
        let request = self.config.claim_request(now, per_job, &self.misfire);
        let mut inserts = JoinSet::new();
        for (index, job) in jobs {
            let store = Arc::clone(&self.store);
            let request = request.clone();
            inserts.spawn(async move {
                let result = store.insert_job_and_claim(job.clone(), request).await;
                (index, result.map(|batch| (job, batch)))
            });
        }
        let mut claimed = Vec::new();
        while let Some(done) = inserts.join_next().await {
            let (index, result) = match done {
                Ok(done) => done,
                // An insert task cannot panic short of a bug in the store; its caller then
                // hears that the engine is gone, and the job may or may not exist.
                Err(error) => {
                    log::error!("a job insert task failed: {error}");
                    continue;
                }
            };
            replies[index].1 = Some(result.map(|(job, batch)| {
                log::info!(
                    "job {} created, first tick {:?}, {} ticks claimed",
                    job.id,
                    job.next_fire_at,
                    batch.ticks.len()
                );
                claimed.extend(batch.ticks);
                job
            }));
        }
        // Give back the room reserved and not used; the claimed ticks keep theirs.
        self.metrics.release(reserved.saturating_sub(claimed.len()));
        self.hand_over(claimed);
        for (reply, result) in replies {
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }

    /// Creates the jobs of `specs` in one store write, all or nothing, and sends the result to
    /// `reply`: the claimed ticks reach the dispatcher first, as with [`Shared::create`]. An
    /// invalid spec fails the batch with [`Error::InvalidBatch`] before the store is asked.
    pub(super) async fn create_batch(
        self: Arc<Self>,
        specs: Vec<JobSpec>,
        reply: oneshot::Sender<Result<Vec<Job>>>,
    ) {
        let result = self.insert_batch(specs).await;
        let _ = reply.send(result);
    }

    async fn insert_batch(&self, specs: Vec<JobSpec>) -> Result<Vec<Job>> {
        let now = self.clock.now();
        let mut jobs = Vec::with_capacity(specs.len());
        let mut invalid = Vec::new();
        for (index, spec) in specs.into_iter().enumerate() {
            match Self::new_job(spec, now, self.config.misfire_threshold) {
                Ok(job) => jobs.push(job),
                Err(error) => invalid.push((index, error)),
            }
        }
        if !invalid.is_empty() {
            return Err(Error::InvalidBatch { items: invalid });
        }
        if jobs.is_empty() {
            return Ok(jobs);
        }
        let per_job = self.claims_per_new_job(jobs.len());
        let reserved = per_job * jobs.len();
        self.metrics.hold(reserved);
        let request = self.config.claim_request(now, per_job, &self.misfire);
        match self
            .store
            .insert_jobs_and_claim(jobs.clone(), request)
            .await
        {
            Ok(batch) => {
                log::info!(
                    "{} jobs created in a batch, {} ticks claimed",
                    jobs.len(),
                    batch.ticks.len()
                );
                self.metrics
                    .release(reserved.saturating_sub(batch.ticks.len()));
                self.hand_over(batch.ticks);
                Ok(jobs)
            }
            Err(error) => {
                self.metrics.release(reserved);
                Err(error)
            }
        }
    }

    /// How many ticks each of `jobs` new jobs may claim as it is stored: the room left under
    /// `max_backlog`, shared equally, and no more than the look-ahead window holds.
    fn claims_per_new_job(&self, jobs: usize) -> usize {
        // Cron ticks are at least a second apart: no job has more in the window than this.
        let most_in_window = usize::try_from(self.config.look_ahead.as_secs())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        (self.backlog_room() / jobs.max(1))
            .min(self.config.claim_batch_size)
            .min(most_in_window)
    }

    /// The job `spec` becomes, or why it cannot be created: its first tick must be after
    /// now, or, for a one-off job, no older than `misfire_threshold` (it then fires at once,
    /// late).
    fn new_job(
        spec: JobSpec,
        now: cron_expr::Timestamp,
        misfire_threshold: std::time::Duration,
    ) -> Result<Job> {
        spec.validate()?;
        let next_fire_at = match spec.schedule {
            Timing::Once(at) => {
                if at < crate::time::sub(now, misfire_threshold) {
                    return Err(Error::invalid(
                        JobField::RunAt,
                        format!(
                            "must not be more than {} s in the past (the misfire threshold)",
                            misfire_threshold.as_secs_f64()
                        ),
                    ));
                }
                Some(at)
            }
            Timing::Cron(_) => spec.next_fire_after(now),
        };
        if next_fire_at.is_none() {
            let (field, reason) = match spec.end_at {
                Some(_) => (
                    JobField::EndAt,
                    "the schedule has no fire time between now (or startAt) and endAt",
                ),
                None => (
                    JobField::Schedule,
                    "the schedule has no fire time after now",
                ),
            };
            return Err(Error::invalid(field, reason));
        }
        Ok(Job {
            id: JobId::new_random(),
            spec,
            created_at: now,
            updated_at: now,
            next_fire_at,
            version: 1,
            done_at: None,
        })
    }
}
