//! Exact tick accounting: the ticks a window must have (from each job's schedule), against
//! those that reached the sink and those recorded in the database.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use cron_expr::Schedule;
use hdrhistogram::Histogram;

use crate::sink::Arrival;

/// The delivery type of the registered jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Delivery {
    /// Retried until it succeeds; the attempt is sent before its start is stored.
    AtLeastOnce,
    /// Never sent twice: each attempt's `RUNNING` state is stored before it is sent.
    AtMostOnce,
}

impl Delivery {
    /// The API's name for it (the `type` field of a job).
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "ATLEAST_ONCE",
            Delivery::AtMostOnce => "ATMOST_ONCE",
        }
    }

    /// The engine's value for it.
    pub(crate) fn domain(self) -> scheduler_core::DeliveryType {
        match self {
            Delivery::AtLeastOnce => scheduler_core::DeliveryType::AtLeastOnce,
            Delivery::AtMostOnce => scheduler_core::DeliveryType::AtMostOnce,
        }
    }
}

/// Which schedules the registered jobs get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ScheduleKind {
    /// `* * * * * *`: every job fires every second.
    EverySecond,
    /// Four times an hour at a per-job second and minute (`S M,M+15,M+30,M+45 * * * *`),
    /// spread evenly so that jobs/900 are due each second (1,000,000 jobs: about 1,111/s).
    Spread,
}

impl ScheduleKind {
    /// The cron expression of job number `index`.
    pub(crate) fn expression(self, index: usize) -> String {
        match self {
            ScheduleKind::EverySecond => "* * * * * *".to_owned(),
            ScheduleKind::Spread => {
                let second = index % 60;
                let minute = (index / 60) % 15;
                format!(
                    "{second} {minute},{},{},{} * * * *",
                    minute + 15,
                    minute + 30,
                    minute + 45
                )
            }
        }
    }
}

/// How one expected tick fared.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    delivered: u32,
    recorded: bool,
    /// Stored as pending or running: claimed, and not finished when the scheduler stopped.
    unfinished: bool,
}

/// The expected ticks of `[start_ms, end_ms)` and what happened to each.
pub(crate) struct Tally {
    start_ms: i64,
    end_ms: i64,
    job_index: HashMap<u128, u32>,
    ticks: HashMap<(u32, i64), Counts>,
    /// Arrivals for registered jobs inside the window at instants their schedule does not
    /// have, or for unknown jobs.
    unexpected_arrivals: u64,
    /// Arrivals before their scheduled time (never expected; recorded as zero drift).
    early_arrivals: u64,
    /// Database rows inside the window that are not expected ticks.
    unexpected_rows: u64,
    drift_us: Histogram<u64>,
    /// Drift of the ticks due in each whole second (by the second's start, in milliseconds).
    drift_by_second_us: BTreeMap<i64, Histogram<u64>>,
}

/// The counts of a finished tally.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TickSummary {
    pub(crate) expected: u64,
    /// Expected ticks that reached the sink at least once.
    pub(crate) delivered: u64,
    /// Expected ticks that never reached the sink.
    pub(crate) missed: u64,
    /// Missed ticks stored as pending or running: claimed, and still waiting for their attempt
    /// when the scheduler stopped (the next start recovers them). The rest of the missed have
    /// no row at all.
    pub(crate) missed_unfinished: u64,
    /// Extra arrivals of expected ticks (a tick that arrived three times counts two).
    pub(crate) duplicated: u64,
    pub(crate) unexpected_arrivals: u64,
    pub(crate) early_arrivals: u64,
    /// Expected ticks stored as succeeded.
    pub(crate) recorded: u64,
    /// Expected ticks that reached the sink but are not stored as succeeded.
    pub(crate) delivered_not_recorded: u64,
    /// Expected ticks stored as succeeded that never reached the sink.
    pub(crate) recorded_not_delivered: u64,
    pub(crate) unexpected_rows: u64,
}

/// Drift percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DriftSummary {
    pub(crate) count: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

/// How the drift spreads over the seconds of the window: the p99 within each second that had
/// arrivals, so a tail made by a few bad seconds can be told from one every burst has.
#[derive(Clone, Debug, Default)]
pub(crate) struct SecondsSummary {
    /// Seconds with at least one arrival.
    pub(crate) seconds: usize,
    /// The lowest, median and highest of the per-second p99s, in milliseconds.
    pub(crate) p99_low_ms: f64,
    pub(crate) p99_median_ms: f64,
    pub(crate) p99_high_ms: f64,
    /// The worst seconds (offset from the window's start in seconds, their p99 in
    /// milliseconds), worst first; at most [`WORST_SECONDS`].
    pub(crate) worst: Vec<(i64, f64)>,
    /// Seconds whose p99 was over [`ON_TIME_MS`]: how much of a run was late by the ceiling's
    /// measure, which the worst few alone cannot tell.
    pub(crate) late: usize,
}

/// The ceiling's bound on drift (the "on time": p99 under a second).
pub(crate) const ON_TIME_MS: f64 = 1_000.0;

/// How many of the worst seconds a [`SecondsSummary`] names.
const WORST_SECONDS: usize = 3;

impl Tally {
    /// The ticks that `jobs` (id, cron expression) must fire in `[start_ms, end_ms)`.
    pub(crate) fn new(
        jobs: &[(u128, String)],
        start_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Tally> {
        let mut per_expression: HashMap<&str, Vec<i64>> = HashMap::new();
        let mut job_index = HashMap::with_capacity(jobs.len());
        let mut ticks = HashMap::new();
        let from = jiff::Timestamp::from_millisecond(start_ms - 1)?;
        for (index, (id, expression)) in jobs.iter().enumerate() {
            let index = u32::try_from(index).context("too many jobs")?;
            job_index.insert(*id, index);
            if !per_expression.contains_key(expression.as_str()) {
                let schedule = Schedule::parse(expression)
                    .with_context(|| format!("job schedule {expression:?}"))?;
                let instants: Vec<i64> = schedule
                    .iter_after(from)
                    .map(|at| at.as_millisecond())
                    .take_while(|&at| at < end_ms)
                    .collect();
                per_expression.insert(expression.as_str(), instants);
            }
            for &at in &per_expression[expression.as_str()] {
                ticks.insert((index, at), Counts::default());
            }
        }
        Ok(Tally {
            start_ms,
            end_ms,
            job_index,
            ticks,
            unexpected_arrivals: 0,
            early_arrivals: 0,
            unexpected_rows: 0,
            drift_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)?,
            drift_by_second_us: BTreeMap::new(),
        })
    }

    fn in_window(&self, at_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }

    /// Counts the arrivals of ticks inside the window (others are ignored) and their drift.
    pub(crate) fn add_arrivals(&mut self, arrivals: &[Arrival]) {
        for arrival in arrivals {
            if !self.in_window(arrival.scheduled_ms) {
                continue;
            }
            let counts = self
                .job_index
                .get(&arrival.job)
                .and_then(|&index| self.ticks.get_mut(&(index, arrival.scheduled_ms)));
            let Some(counts) = counts else {
                self.unexpected_arrivals += 1;
                continue;
            };
            counts.delivered += 1;
            let drift_ns = arrival.arrived_ns - arrival.scheduled_ms * 1_000_000;
            if drift_ns < 0 {
                self.early_arrivals += 1;
            }
            let drift_us = (drift_ns.max(0) / 1_000).max(1) as u64;
            self.drift_us.saturating_record(drift_us);
            let second = arrival.scheduled_ms.div_euclid(1_000) * 1_000;
            self.drift_by_second_us
                .entry(second)
                .or_insert_with(|| Histogram::new_from(&self.drift_us))
                .saturating_record(drift_us);
        }
    }

    /// Counts one database row (job id, scheduled time, its status as stored).
    pub(crate) fn add_row(&mut self, job: u128, scheduled_ms: i64, status: &str) {
        if !self.in_window(scheduled_ms) {
            return;
        }
        let counts = self
            .job_index
            .get(&job)
            .and_then(|&index| self.ticks.get_mut(&(index, scheduled_ms)));
        match counts {
            Some(counts) => {
                counts.recorded |= status == "SUCCEEDED";
                counts.unfinished |= matches!(status, "PENDING" | "RUNNING");
            }
            None => self.unexpected_rows += 1,
        }
    }

    pub(crate) fn ticks(&self) -> TickSummary {
        let mut summary = TickSummary {
            expected: self.ticks.len() as u64,
            unexpected_arrivals: self.unexpected_arrivals,
            early_arrivals: self.early_arrivals,
            unexpected_rows: self.unexpected_rows,
            ..TickSummary::default()
        };
        for counts in self.ticks.values() {
            let delivered = counts.delivered > 0;
            if delivered {
                summary.delivered += 1;
                summary.duplicated += u64::from(counts.delivered - 1);
            } else {
                summary.missed += 1;
                summary.missed_unfinished += u64::from(counts.unfinished);
            }
            if counts.recorded {
                summary.recorded += 1;
            }
            match (delivered, counts.recorded) {
                (true, false) => summary.delivered_not_recorded += 1,
                (false, true) => summary.recorded_not_delivered += 1,
                _ => {}
            }
        }
        summary
    }

    pub(crate) fn drift(&self) -> DriftSummary {
        drift_summary(&self.drift_us)
    }

    /// The drift second by second.
    pub(crate) fn seconds(&self) -> SecondsSummary {
        let mut p99s: Vec<(i64, f64)> = self
            .drift_by_second_us
            .iter()
            .map(|(&second, histogram)| {
                let offset = (second - self.start_ms).div_euclid(1_000);
                (offset, drift_summary(histogram).p99_ms)
            })
            .collect();
        if p99s.is_empty() {
            return SecondsSummary::default();
        }
        p99s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let late = p99s.iter().filter(|&&(_, p99)| p99 > ON_TIME_MS).count();
        SecondsSummary {
            seconds: p99s.len(),
            p99_low_ms: p99s[p99s.len() - 1].1,
            p99_median_ms: p99s[p99s.len() / 2].1,
            p99_high_ms: p99s[0].1,
            worst: p99s.into_iter().take(WORST_SECONDS).collect(),
            late,
        }
    }
}

/// Percentiles of a histogram of microseconds, in milliseconds.
pub(crate) fn drift_summary(histogram: &Histogram<u64>) -> DriftSummary {
    let ms = |us: u64| us as f64 / 1_000.0;
    DriftSummary {
        count: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(job: u128, scheduled_ms: i64, late_ms: i64) -> Arrival {
        Arrival {
            job,
            scheduled_ms,
            arrived_ns: (scheduled_ms + late_ms) * 1_000_000,
        }
    }

    #[test]
    fn missed_and_duplicated_ticks_are_counted_exactly() {
        let start = 1_795_958_236_000;
        let jobs = vec![(1, "* * * * * *".to_owned()), (2, "* * * * * *".to_owned())];
        let mut tally = Tally::new(&jobs, start, start + 3_000).unwrap();
        tally.add_arrivals(&[
            arrival(1, start, 2),
            arrival(1, start + 1_000, 3),
            arrival(1, start + 1_000, 900),
            arrival(1, start + 2_000, 4),
            arrival(2, start, 5),
            // Outside the window: ignored. Unknown job: unexpected.
            arrival(2, start + 3_000, 1),
            arrival(3, start, 1),
        ]);
        tally.add_row(1, start, "SUCCEEDED");
        tally.add_row(1, start + 1_000, "SUCCEEDED");
        tally.add_row(2, start + 2_000, "SUCCEEDED");
        tally.add_row(2, start + 1_000, "FAILED");
        let ticks = tally.ticks();
        assert_eq!(ticks.expected, 6);
        assert_eq!(ticks.delivered, 4);
        assert_eq!(ticks.missed, 2);
        assert_eq!(ticks.duplicated, 1);
        assert_eq!(ticks.unexpected_arrivals, 1);
        assert_eq!(ticks.recorded, 3);
        assert_eq!(ticks.delivered_not_recorded, 2);
        assert_eq!(ticks.recorded_not_delivered, 1);
        assert_eq!(ticks.missed_unfinished, 0, "a failed row is finished");
        let drift = tally.drift();
        assert_eq!(drift.count, 5);
        assert!((drift.max_ms - 900.0).abs() < 1.0);
    }

    #[test]
    fn missed_ticks_still_pending_at_the_stop_are_told_apart_from_those_never_claimed() {
        let start = 1_795_958_236_000;
        let jobs = vec![(1, "* * * * * *".to_owned())];
        let mut tally = Tally::new(&jobs, start, start + 4_000).unwrap();
        tally.add_arrivals(&[arrival(1, start, 2)]);
        tally.add_row(1, start, "SUCCEEDED");
        tally.add_row(1, start + 1_000, "PENDING");
        tally.add_row(1, start + 2_000, "RUNNING");
        let ticks = tally.ticks();
        assert_eq!(ticks.missed, 3);
        assert_eq!(ticks.missed_unfinished, 2, "the tick at +3 s has no row");
    }

    #[test]
    fn the_drift_of_each_second_is_summarised_and_the_worst_seconds_named() {
        let start = 1_795_958_236_000;
        let jobs = vec![(1, "* * * * * *".to_owned()), (2, "* * * * * *".to_owned())];
        let mut tally = Tally::new(&jobs, start, start + 3_000).unwrap();
        assert_eq!(tally.seconds().seconds, 0);
        tally.add_arrivals(&[
            arrival(1, start, 2),
            arrival(2, start, 5),
            arrival(1, start + 1_000, 3),
            arrival(2, start + 1_000, 900),
            arrival(1, start + 2_000, 4),
        ]);
        let seconds = tally.seconds();
        let close = |ms: f64, expected: f64| (ms - expected).abs() < expected / 100.0;
        assert_eq!(seconds.seconds, 3);
        assert!(close(seconds.p99_high_ms, 900.0), "{seconds:?}");
        assert!(close(seconds.p99_median_ms, 5.0), "{seconds:?}");
        assert!(close(seconds.p99_low_ms, 4.0), "{seconds:?}");
        let offsets: Vec<i64> = seconds.worst.iter().map(|&(offset, _)| offset).collect();
        assert_eq!(offsets, [1, 0, 2]);
        assert_eq!(seconds.late, 0, "900 ms is on time");

        tally.add_arrivals(&[arrival(2, start + 2_000, 1_500)]);
        assert_eq!(tally.seconds().late, 1, "{:?}", tally.seconds());
    }

    #[test]
    fn spread_schedules_cover_each_second_evenly() {
        let start = 1_795_958_400_000; // a whole hour
        let jobs: Vec<(u128, String)> = (0..9_000)
            .map(|index| (index as u128, ScheduleKind::Spread.expression(index)))
            .collect();
        let tally = Tally::new(&jobs, start, start + 3_600_000).unwrap();
        // 9,000 jobs firing four times an hour.
        assert_eq!(tally.ticks().expected, 36_000);
        let mut per_second: HashMap<i64, u32> = HashMap::new();
        for (_, at) in tally.ticks.keys() {
            *per_second.entry(*at).or_default() += 1;
        }
        assert_eq!(per_second.len(), 3_600);
        assert!(per_second.values().all(|&n| n == 10));
    }
}
