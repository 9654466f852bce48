//! Executions: one per claimed tick (or manual trigger), and their updates.

use std::str::FromStr;
use std::time::Duration;

use cron_expr::Timestamp;

use crate::error::Error;

use super::{ExecutionId, JobField, JobId};

/// Where an execution is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// Claimed, not yet sent.
    Pending,
    /// Sent at least once and not finished: an attempt is in flight or a retry is waiting.
    Running,
    /// The target answered with a 2xx status.
    Succeeded,
    /// The last attempt failed and no retry is left (or the error was permanent).
    Failed,
    /// An at-most-once execution found in flight after a crash: it may or may not have been
    /// delivered, and it is never re-sent.
    Abandoned,
    /// Not sent, on purpose: overlap policy, job paused or rescheduled.
    Skipped,
}

impl ExecutionStatus {
    /// Whether the status is an outcome of delivery: `SUCCEEDED` or `FAILED` (not pending or
    /// running, and not abandoned or skipped, which say nothing about the target).
    pub fn is_outcome(self) -> bool {
        matches!(self, ExecutionStatus::Succeeded | ExecutionStatus::Failed)
    }

    /// The spelling used in APIs and stores: `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`,
    /// `ABANDONED`, `SKIPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "PENDING",
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Abandoned => "ABANDONED",
            ExecutionStatus::Skipped => "SKIPPED",
        }
    }

    /// Whether the execution has reached its final state.
    pub fn is_finished(self) -> bool {
        !matches!(self, ExecutionStatus::Pending | ExecutionStatus::Running)
    }
}

impl FromStr for ExecutionStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "PENDING" => ExecutionStatus::Pending,
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "ABANDONED" => ExecutionStatus::Abandoned,
            "SKIPPED" => ExecutionStatus::Skipped,
            other => {
                return Err(Error::invalid(
                    JobField::ExecutionStatus,
                    format!("unknown status {other:?}"),
                ));
            }
        })
    }
}

/// Why an execution exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutionTrigger {
    /// A tick of the job's schedule.
    Schedule,
    /// A client asked to run the job now.
    Manual,
}

impl ExecutionTrigger {
    /// `SCHEDULE` or `MANUAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionTrigger::Schedule => "SCHEDULE",
            ExecutionTrigger::Manual => "MANUAL",
        }
    }
}

/// One firing of one job: there is at most one per (job, scheduled time), ever.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    /// The execution's identity; it stays the same across retries.
    pub id: ExecutionId,
    /// The job it belongs to.
    pub job_id: JobId,
    /// The instant of the tick.
    pub scheduled_at: Timestamp,
    /// Why it exists.
    pub trigger: ExecutionTrigger,
    /// The node that holds it (the lease owner): the one that claimed it, or the one that took
    /// it over. Recovery on start-up takes back its own.
    pub claimed_by: String,
    /// Until when `claimed_by` holds it; after this instant another node may take it over.
    /// `None` only for executions stored before leases existed, which count as expired.
    pub lease_expires_at: Option<Timestamp>,
    /// Its current state.
    pub status: ExecutionStatus,
    /// When the first attempt was sent.
    pub executed_at: Option<Timestamp>,
    /// When it reached its final state.
    pub finished_at: Option<Timestamp>,
    /// The HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// How long the last attempt took.
    pub duration: Option<Duration>,
    /// The last error, if the last attempt failed.
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// How many times the execution was sent again after its node stopped (crashed, or lost
    /// its lease): each such re-send carries [`HEADER_REDELIVERY`](crate::HEADER_REDELIVERY),
    /// and its attempt number follows the attempts recorded before. See
    /// docs/ARCHITECTURE.md, "Recovery", for which recovered executions count.
    pub redeliveries: u32,
}

impl Execution {
    /// A new pending execution of `job_id` for the tick at `scheduled_at`, held by
    /// `claimed_by` until `lease_expires_at`.
    pub fn pending(
        job_id: JobId,
        scheduled_at: Timestamp,
        trigger: ExecutionTrigger,
        claimed_by: &str,
        lease_expires_at: Timestamp,
    ) -> Execution {
        Execution {
            id: ExecutionId::new_time_ordered(),
            job_id,
            scheduled_at,
            trigger,
            claimed_by: claimed_by.to_owned(),
            lease_expires_at: Some(lease_expires_at),
            status: ExecutionStatus::Pending,
            executed_at: None,
            finished_at: None,
            http_status: None,
            duration: None,
            error: None,
            attempts: 0,
            redeliveries: 0,
        }
    }

    /// The mutable part of this execution, as a store update.
    pub fn to_update(&self) -> ExecutionUpdate {
        ExecutionUpdate {
            id: self.id,
            status: self.status,
            executed_at: self.executed_at,
            finished_at: self.finished_at,
            http_status: self.http_status,
            duration: self.duration,
            error: self.error.clone(),
            attempts: self.attempts,
            redeliveries: self.redeliveries,
            last_tick_of: None,
        }
    }

    /// Applies an update's fields to this execution.
    pub fn apply(&mut self, update: &ExecutionUpdate) {
        self.status = update.status;
        self.executed_at = update.executed_at;
        self.finished_at = update.finished_at;
        self.http_status = update.http_status;
        self.duration = update.duration;
        self.error.clone_from(&update.error);
        self.attempts = update.attempts;
        self.redeliveries = update.redeliveries;
    }
}

/// The new state of an execution's mutable fields; the identity, job and tick never change.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    /// Which execution.
    pub id: ExecutionId,
    /// See [`Execution::status`].
    pub status: ExecutionStatus,
    /// See [`Execution::executed_at`].
    pub executed_at: Option<Timestamp>,
    /// See [`Execution::finished_at`].
    pub finished_at: Option<Timestamp>,
    /// See [`Execution::http_status`].
    pub http_status: Option<u16>,
    /// See [`Execution::duration`].
    pub duration: Option<Duration>,
    /// See [`Execution::error`].
    pub error: Option<String>,
    /// See [`Execution::attempts`].
    pub attempts: u32,
    /// See [`Execution::redeliveries`].
    pub redeliveries: u32,
    /// Set, by the engine, on the final update of an execution of its job's last tick (the
    /// job's schedule has no tick after it): the store then marks that job done, or deletes
    /// it ([`JobSpec::delete_after_run`](crate::JobSpec::delete_after_run)), unless it has a
    /// tick again or an execution of it is still unfinished. `None` on every other update, so
    /// that results of endless jobs cost nothing more.
    pub last_tick_of: Option<JobId>,
}
