//! The side-by-side run of `tokio-cron-scheduler` (in memory): the same job count and
//! schedules, counting fires and their drift, with no HTTP and no persistence.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::clock::{sleep_until_unix_millis, unix_millis, unix_nanos};
use crate::procstat;
use crate::sink::Arrival;
use crate::ticks::{ScheduleKind, Tally};

/// The threads of the runtime tokio-cron-scheduler runs on.
pub(crate) const TCS_THREADS: &[&str] = &["tcs"];

/// What the run measured.
pub(crate) struct TcsRun {
    pub(crate) tally: Tally,
    pub(crate) registered: usize,
    pub(crate) register_seconds: f64,
    pub(crate) window_seconds: f64,
    /// CPU seconds of its runtime's threads during the window.
    pub(crate) cpu_seconds: f64,
    /// Growth of this process's resident set from before registration to the window's end.
    pub(crate) rss_growth_bytes: u64,
}

/// Registers `jobs` jobs, starts the scheduler, waits `warmup`, then counts fires whose
/// second lies in the next `duration` (a fire is attributed to the whole second it follows,
/// so drift of a second or more would be miscounted as a missed and a duplicated tick).
pub(crate) fn run(
    kind: ScheduleKind,
    jobs: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<TcsRun> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("tcs")
        .build()?;
    let rss_before = procstat::process(std::process::id())
        .unwrap_or_default()
        .rss_bytes;
    let fires: Arc<Mutex<Vec<(u32, i64)>>> = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
    let (mut scheduler, registered, register_seconds) = runtime.block_on(async {
        // Channels sized for the job count: the default (200) drops activations under this load.
        let channel_size = (jobs * 2).max(200);
        let scheduler = JobScheduler::new_with_channel_size(channel_size)
            .await
            .context("creating the tokio-cron-scheduler")?;
        let started = Instant::now();
        let mut registered = Vec::with_capacity(jobs);
        for index in 0..jobs {
            let expression = kind.expression(index);
            let fires = Arc::clone(&fires);
            let job_index = u32::try_from(index)?;
            let job = Job::new_async(expression.as_str(), move |_id, _scheduler| {
                let fires = Arc::clone(&fires);
                Box::pin(async move {
                    let now = unix_nanos();
                    fires
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((job_index, now));
                })
            })
            .with_context(|| format!("job schedule {expression:?}"))?;
            scheduler.add(job).await.context("adding a job")?;
            registered.push((index as u128, expression));
        }
        let register_seconds = started.elapsed().as_secs_f64();
        scheduler.start().await.context("starting the scheduler")?;
        anyhow::Ok((scheduler, registered, register_seconds))
    })?;
    let start_ms = window_start(unix_millis(), warmup);
    let end_ms = start_ms + duration.as_millis() as i64;
    let mut tally = Tally::new(&registered, start_ms, end_ms)?;
    let (cpu_seconds, rss_growth_bytes) = runtime.block_on(async {
        sleep_until_unix_millis(start_ms).await;
        let cpu_start = procstat::own_threads(TCS_THREADS);
        sleep_until_unix_millis(end_ms).await;
        let cpu = procstat::own_threads(TCS_THREADS) - cpu_start;
        let rss = procstat::process(std::process::id())
            .unwrap_or_default()
            .rss_bytes;
        // Fires of the window's last second may still be on their way.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let _ = scheduler.shutdown().await;
        (cpu, rss.saturating_sub(rss_before))
    });
    runtime.shutdown_background();
    let fires = std::mem::take(&mut *fires.lock().unwrap_or_else(|p| p.into_inner()));
    let arrivals: Vec<Arrival> = fires
        .into_iter()
        .map(|(job, fired_ns)| Arrival {
            job: u128::from(job),
            scheduled_ms: fired_ns.div_euclid(1_000_000_000) * 1_000,
            arrived_ns: fired_ns,
        })
        .collect();
    tally.add_arrivals(&arrivals);
    Ok(TcsRun {
        tally,
        registered: registered.len(),
        register_seconds,
        window_seconds: duration.as_secs_f64(),
        cpu_seconds,
        rss_growth_bytes,
    })
}

/// The first whole second at least `warmup` after `now_ms`.
pub(crate) fn window_start(now_ms: i64, warmup: Duration) -> i64 {
    let earliest = now_ms + warmup.as_millis() as i64;
    (earliest + 999).div_euclid(1_000) * 1_000
}
