//! Counters, the in-flight and backlog gauges, the drift histogram and per-job statistics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use foldhash::HashMap;

use crate::domain::JobId;

/// The engine's live metrics. Every field is cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) fired: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) misfired: AtomicU64,
    pub(crate) claimed: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) waiting_on_host: AtomicU64,
    /// The executions the engine holds; see [`MetricsSnapshot::backlog`]. The control task
    /// reads it to size its claims, so it is kept exact, not sampled.
    backlog: AtomicU64,
    pub(crate) claims_deferred: AtomicU64,
    pub(crate) alerts_dropped: AtomicU64,
    pub(crate) job_alert_checks: AtomicU64,
    pub(crate) job_alerts: AtomicU64,
    pub(crate) job_alert_checks_failed: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) taken_over: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) job_changes_received: AtomicU64,
    pub(crate) outage_claimed: AtomicU64,
    pub(crate) outage_dropped: AtomicU64,
    pub(crate) outage_withheld: AtomicU64,
    pub(crate) outage_buffered: AtomicU64,
    pub(crate) results_unwritten: AtomicU64,
    pub(crate) drift: DriftHistogram,
    pub(crate) claim_duration: DriftHistogram,
    jobs: Mutex<HashMap<JobId, JobCounters>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct JobCounters {
    succeeded: u64,
    failed: u64,
    total_duration: Duration,
    last_succeeded: bool,
}

/// A copy of the metrics at one moment.
///
/// Only the engine makes these; new metrics are added as fields, so it is `non_exhaustive`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Executions sent for the first time.
    pub fired: u64,
    /// Executions that succeeded.
    pub succeeded: u64,
    /// Executions that failed for good.
    pub failed: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Executions skipped (overlap, paused, rescheduled).
    pub skipped: u64,
    /// At-most-once executions abandoned after a crash.
    pub abandoned: u64,
    /// Missed ticks dropped by misfire policies.
    pub misfired: u64,
    /// Ticks claimed from the store (including recovered ones).
    pub claimed: u64,
    /// Attempts in flight now.
    pub in_flight: u64,
    /// Executions due now that wait for an attempt slot (`max_in_flight`, or the fresh-attempt
    /// limit). Above zero during a burst; above zero for long, the targets or the machine do
    /// not keep up, and ticks go out late. Includes [`MetricsSnapshot::waiting_on_host`].
    pub waiting: u64,
    /// Of `waiting`, the executions whose target host has
    /// [`EngineConfig::max_in_flight_per_host`](crate::EngineConfig::max_in_flight_per_host)
    /// attempts in flight already: they wait for their own host, not for a slot, and delay no
    /// other host's executions. Above zero for long, a target answers more slowly than its
    /// jobs fire.
    pub waiting_on_host: u64,
    /// Executions the engine holds now: claimed, triggered or recovered, and not yet finally
    /// written (on the timer, waiting for an in-flight slot, in flight, waiting for a retry,
    /// or with their last update queued for the store). Claims stop when it reaches
    /// [`EngineConfig::max_backlog`](crate::EngineConfig::max_backlog).
    pub backlog: u64,
    /// Claim passes that skipped claiming, or stopped after a full batch, because the backlog
    /// was full. Due ticks, if there were any left, stay in the store and a later pass claims
    /// them, late.
    pub claims_deferred: u64,
    /// Alerts dropped because the alert queue was full (job alert checks included).
    pub alerts_dropped: u64,
    /// Job alert checks completed (the history read and decided), whether they raised an
    /// alert or not.
    pub job_alert_checks: u64,
    /// Job alerts raised (failing and recovered), by jobs' own alert settings.
    pub job_alerts: u64,
    /// Job alert checks given up: the execution's result was not stored, or its job's history
    /// could not be read.
    pub job_alert_checks_failed: u64,
    /// Store calls that failed.
    pub store_errors: u64,
    /// Unfinished executions this node took over from stopped nodes (on a shared store).
    pub taken_over: u64,
    /// Executions this node held when its lease lapsed and found taken over by another node
    /// when it renewed it: dropped here, sent by the other.
    pub leases_lost: u64,
    /// Jobs read again after a notice from the store's feed of changes (made through any
    /// node, this one included), and applied to the ticks held here. Shared stores only.
    pub job_changes_received: u64,
    /// Ticks claimed in memory while the store could not be written (outage mode; a store of
    /// one node only).
    pub outage_claimed: u64,
    /// Due ticks not fired during an outage because the outage buffer was full: once the store
    /// takes writes again they follow their jobs' misfire policies.
    pub outage_dropped: u64,
    /// At-most-once ticks not fired during an outage, since no start could be recorded: they
    /// are recorded SKIPPED (and counted in `skipped` too).
    pub outage_withheld: u64,
    /// Executions claimed in memory during an outage and not yet recorded in the store.
    pub outage_buffered: u64,
    /// Results waiting for the writer: queued, or being written. They pile up while the store
    /// fails writes, and are written once it takes them.
    pub results_unwritten: u64,
    /// Drift of first sends: actual send time minus scheduled time.
    pub drift: DriftSnapshot,
    /// How long each successful claim took in the store (one `claim_due` call: a batch of up
    /// to `claim_batch_size` ticks), by the engine's clock.
    pub claim_duration: DriftSnapshot,
}

/// Per-job results since the engine started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobStats {
    /// Executions that succeeded.
    pub succeeded: u64,
    /// Executions that failed for good.
    pub failed: u64,
    /// `succeeded / (succeeded + failed)`.
    pub success_rate: f64,
    /// The mean duration of the last attempt of finished executions.
    pub mean_duration: Duration,
    /// Whether the execution that finished last succeeded.
    pub last_succeeded: bool,
}

impl Metrics {
    /// A copy of every counter and the histogram summary.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            fired: get(&self.fired),
            succeeded: get(&self.succeeded),
            failed: get(&self.failed),
            retried: get(&self.retried),
            skipped: get(&self.skipped),
            abandoned: get(&self.abandoned),
            misfired: get(&self.misfired),
            claimed: get(&self.claimed),
            in_flight: get(&self.in_flight),
            waiting: get(&self.waiting),
            waiting_on_host: get(&self.waiting_on_host),
            backlog: get(&self.backlog),
            claims_deferred: get(&self.claims_deferred),
            alerts_dropped: get(&self.alerts_dropped),
            job_alert_checks: get(&self.job_alert_checks),
            job_alerts: get(&self.job_alerts),
            job_alert_checks_failed: get(&self.job_alert_checks_failed),
            store_errors: get(&self.store_errors),
            taken_over: get(&self.taken_over),
            leases_lost: get(&self.leases_lost),
            job_changes_received: get(&self.job_changes_received),
            outage_claimed: get(&self.outage_claimed),
            outage_dropped: get(&self.outage_dropped),
            outage_withheld: get(&self.outage_withheld),
            outage_buffered: get(&self.outage_buffered),
            results_unwritten: get(&self.results_unwritten),
            drift: self.drift.snapshot(),
            claim_duration: self.claim_duration.snapshot(),
        }
    }

    /// The job's results since the engine started, if it finished any execution.
    pub fn job_stats(&self, job_id: JobId) -> Option<JobStats> {
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let counters = jobs.get(&job_id)?;
        let total = counters.succeeded + counters.failed;
        Some(JobStats {
            succeeded: counters.succeeded,
            failed: counters.failed,
            success_rate: if total == 0 {
                0.0
            } else {
                counters.succeeded as f64 / total as f64
            },
            mean_duration: if total == 0 {
                Duration::ZERO
            } else {
                counters.total_duration / u32::try_from(total).unwrap_or(u32::MAX)
            },
            last_succeeded: counters.last_succeeded,
        })
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The executions the engine holds now.
    pub(crate) fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Counts `n` executions that entered the engine (claimed, triggered or recovered).
    pub(crate) fn hold(&self, n: usize) {
        self.backlog.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` executions that left the engine: their last update was written (or given
    /// up), or they were dropped. Never goes below zero: a release without its hold would be
    /// a bug in the engine's bookkeeping, and is logged instead of wrapping around (which
    /// would stop every claim).
    pub(crate) fn release(&self, n: usize) {
        let n = n as u64;
        // The closure always returns `Some`, so this never fails.
        let held = self
            .backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(n))
            })
            .unwrap_or_else(|held| held);
        if held < n {
            log::error!("backlog accounting: {n} executions released while {held} were held");
        }
    }

    pub(crate) fn record_finish(&self, job_id: JobId, succeeded: bool, duration: Duration) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let counters = jobs.entry(job_id).or_default();
        if succeeded {
            counters.succeeded += 1;
        } else {
            counters.failed += 1;
        }
        counters.total_duration += duration;
        counters.last_succeeded = succeeded;
    }

    pub(crate) fn forget_job(&self, job_id: JobId) {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&job_id);
    }
}

/// Sub-buckets per power of two: 16 gives a relative error below 1/16 (6.25 %).
const SUB_BITS: u32 = 4;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Values below this are counted exactly, one bucket each.
const LINEAR_LIMIT: u64 = 2 * SUB_COUNT as u64;
const BUCKETS: usize = LINEAR_LIMIT as usize + (64 - (SUB_BITS as usize + 1)) * SUB_COUNT;

/// A log-linear histogram of durations in microseconds, in the spirit of HdrHistogram: exact
/// below 32 µs, then 16 buckets per power of two, so any value is known within 6.25 %. Recording
/// is a few relaxed atomic additions, so many tasks can record at once without a lock.
#[derive(Debug)]
pub struct DriftHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

/// A summary of a [`DriftHistogram`]. Percentiles are bucket upper bounds (never above `max`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriftSnapshot {
    /// Values recorded.
    pub count: u64,
    /// The sum of the values recorded.
    pub sum: Duration,
    /// How many values are at or below each of [`DriftSnapshot::BOUNDS`], in order (cumulative,
    /// as the buckets of a Prometheus histogram, so that histograms from several nodes add up).
    /// A value counts from the first bound at or above its histogram bucket's upper bound, so
    /// it may count one bound late when it lies within 6.25 % below a bound.
    pub at_or_below: [u64; DRIFT_BOUND_COUNT],
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest value.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

/// How many bounds [`DriftSnapshot::BOUNDS`] has.
pub const DRIFT_BOUND_COUNT: usize = 16;

impl DriftSnapshot {
    /// The fixed bounds of [`DriftSnapshot::at_or_below`], from a millisecond to a minute: the
    /// same on every node, so that counts from several nodes can be added.
    pub const BOUNDS: [Duration; DRIFT_BOUND_COUNT] = [
        Duration::from_millis(1),
        Duration::from_micros(2_500),
        Duration::from_millis(5),
        Duration::from_millis(10),
        Duration::from_millis(25),
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(250),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_micros(2_500_000),
        Duration::from_secs(5),
        Duration::from_secs(10),
        Duration::from_secs(20),
        Duration::from_secs(30),
        Duration::from_secs(60),
    ];
}

impl Default for DriftHistogram {
    fn default() -> Self {
        DriftHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < LINEAR_LIMIT {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros(); // >= SUB_BITS + 1
    let sub = (micros >> (exponent - SUB_BITS)) as usize & (SUB_COUNT - 1);
    LINEAR_LIMIT as usize + (exponent - SUB_BITS - 1) as usize * SUB_COUNT + sub
}

/// The largest value that falls in `bucket`.
fn bucket_upper_bound(bucket: usize) -> u64 {
    if bucket < LINEAR_LIMIT as usize {
        return bucket as u64;
    }
    let offset = bucket - LINEAR_LIMIT as usize;
    let exponent = (offset / SUB_COUNT) as u32 + SUB_BITS + 1;
    let sub = (offset % SUB_COUNT) as u64;
    let width = 1u64 << (exponent - SUB_BITS);
    let lower = (1u64 << exponent) + sub * width;
    lower.saturating_add(width - 1)
}

impl DriftHistogram {
    /// Records one value.
    pub fn record(&self, value: Duration) {
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// The current summary.
    pub fn snapshot(&self) -> DriftSnapshot {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max = self.max_micros.load(Ordering::Relaxed);
        if count == 0 {
            return DriftSnapshot::default();
        }
        let percentile = |p: f64| {
            let rank = ((p * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (bucket, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_micros(bucket_upper_bound(bucket).min(max));
                }
            }
            Duration::from_micros(max)
        };
        let mut at_or_below = [0; DRIFT_BOUND_COUNT];
        let mut bound = 0;
        let mut seen = 0;
        for (bucket, n) in counts.iter().enumerate() {
            let upper = Duration::from_micros(bucket_upper_bound(bucket));
            while bound < DRIFT_BOUND_COUNT && DriftSnapshot::BOUNDS[bound] < upper {
                at_or_below[bound] = seen;
                bound += 1;
            }
            seen += n;
        }
        for slot in &mut at_or_below[bound..] {
            *slot = seen;
        }
        let sum_micros = self.sum_micros.load(Ordering::Relaxed);
        DriftSnapshot {
            count,
            sum: Duration::from_micros(sum_micros),
            at_or_below,
            p50: percentile(0.50),
            p90: percentile(0.90),
            p99: percentile(0.99),
            max: Duration::from_micros(max),
            mean: Duration::from_micros(sum_micros / count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_gauge_counts_holds_and_releases_and_never_wraps() {
        let metrics = Metrics::default();
        metrics.hold(3);
        metrics.release(1);
        assert_eq!(metrics.snapshot().backlog, 2);
        // A release without its hold (a bookkeeping bug) stops at zero instead of wrapping to
        // a huge count, which would stop every claim.
        metrics.release(5);
        assert_eq!(metrics.backlog(), 0);
        metrics.hold(1);
        assert_eq!(metrics.snapshot().backlog, 1);
    }

    #[test]
    fn buckets_are_contiguous_and_bound_their_values() {
        let mut previous_upper = None;
        for bucket in 0..BUCKETS {
            let upper = bucket_upper_bound(bucket);
            assert_eq!(bucket_of(upper), bucket, "upper bound of bucket {bucket}");
            if let Some(previous) = previous_upper {
                assert_eq!(
                    bucket_of(previous + 1),
                    bucket,
                    "first value of bucket {bucket}"
                );
            }
            previous_upper = Some(upper);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_is_below_one_sixteenth() {
        for value in [33u64, 100, 999, 12_345, 1_000_000, 987_654_321] {
            let upper = bucket_upper_bound(bucket_of(value));
            assert!(upper >= value);
            assert!(
                (upper - value) as f64 <= value as f64 / 16.0,
                "{value} -> {upper}"
            );
        }
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let histogram = DriftHistogram::default();
        for ms in 1..=100 {
            histogram.record(Duration::from_millis(ms));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 100);
        assert_eq!(snapshot.max, Duration::from_millis(100));
        let close = |actual: Duration, expected_ms: u64| {
            let expected = Duration::from_millis(expected_ms);
            assert!(
                actual >= expected && actual <= expected + expected / 16,
                "{actual:?} vs {expected:?}"
            );
        };
        close(snapshot.p50, 50);
        close(snapshot.p90, 90);
        close(snapshot.p99, 99);
        assert_eq!(snapshot.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn cumulative_counts_follow_the_fixed_bounds() {
        let histogram = DriftHistogram::default();
        for millis in [0, 1, 3, 7, 40, 400, 4_000, 70_000] {
            histogram.record(Duration::from_millis(millis));
        }
        let snapshot = histogram.snapshot();
        // Bounds: 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 20, 30, 60 s. The 1 ms
        // value's bucket reaches 1.023 ms, so it counts from the 2.5 ms bound.
        assert_eq!(
            snapshot.at_or_below,
            [1, 2, 3, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7]
        );
        assert_eq!(
            snapshot.count, 8,
            "the value past the last bound counts only in the total"
        );
        assert_eq!(snapshot.sum, Duration::from_millis(74_451));
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        assert_eq!(
            DriftHistogram::default().snapshot(),
            DriftSnapshot::default()
        );
    }

    #[test]
    fn zero_drift_is_exact() {
        let histogram = DriftHistogram::default();
        histogram.record(Duration::ZERO);
        let snapshot = histogram.snapshot();
        assert_eq!(
            (snapshot.p50, snapshot.p99, snapshot.max),
            (Duration::ZERO, Duration::ZERO, Duration::ZERO)
        );
    }
}
