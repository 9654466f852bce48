//! The filtered reads the API needs, in one place: jobs by id order with filters, and
//! executions newest first with filters.

use scheduler_core::{DeliveryType, Engine, Execution, ExecutionStatus, Job, JobId, Result};

/// A page of jobs in id order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobFilter {
    pub(crate) after: Option<JobId>,
    pub(crate) limit: usize,
    pub(crate) paused: Option<bool>,
    pub(crate) delivery: Option<DeliveryType>,
}

/// Executions, newest tick first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExecutionFilter {
    pub(crate) job_id: Option<JobId>,
    pub(crate) status: Option<ExecutionStatus>,
    pub(crate) limit: usize,
}

/// How many jobs one scan step reads while filtering.
const SCAN_PAGE: usize = 1_000;
/// How many executions are read to filter by status.
const STATUS_SCAN: usize = 10_000;

pub(crate) async fn find_jobs(engine: &Engine, filter: JobFilter) -> Result<Vec<Job>> {
    let mut found = Vec::new();
    let mut after = filter.after;
    loop {
        let page = engine.list_jobs(after, SCAN_PAGE).await?;
        let done = page.len() < SCAN_PAGE;
        after = page.last().map(|job| job.id).or(after);
        found.extend(page.into_iter().filter(|job| {
            filter.paused.is_none_or(|paused| job.spec.paused == paused)
                && filter
                    .delivery
                    .is_none_or(|delivery| job.spec.delivery == delivery)
        }));
        if found.len() >= filter.limit || done {
            found.truncate(filter.limit);
            return Ok(found);
        }
    }
}

pub(crate) async fn find_executions(
    engine: &Engine,
    filter: ExecutionFilter,
) -> Result<Vec<Execution>> {
    let read = if filter.status.is_some() {
        STATUS_SCAN
    } else {
        filter.limit
    };
    let executions = match filter.job_id {
        Some(job_id) => engine.job_executions(job_id, read).await?,
        None => engine.recent_executions(read).await?,
    };
    Ok(executions
        .into_iter()
        .filter(|execution| {
            filter
                .status
                .is_none_or(|status| execution.status == status)
        })
        .take(filter.limit)
        .collect())
}
