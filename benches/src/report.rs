//! The report of one run: printed for people, and appended as one JSON line for the record.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::baseline::BaselineStats;
use crate::register::CreationStats;
use crate::ticks::{DriftSummary, SecondsSummary, TickSummary};

/// Everything a run measured; absent parts were not measured.
#[derive(Debug, Default)]
pub(crate) struct Report {
    label: String,
    config: Value,
    pub(crate) jobs: usize,
    /// Scheduler processes that ran the jobs (several share one PostgreSQL database).
    pub(crate) nodes: usize,
    pub(crate) window: Option<(i64, i64)>,
    pub(crate) baseline: Option<BaselineStats>,
    /// The same baseline again after the scheduler has stopped (`harness run` only).
    pub(crate) baseline_after: Option<BaselineStats>,
    pub(crate) seeding: Option<CreationStats>,
    pub(crate) creation: Option<CreationStats>,
    /// Creations and deletions through the API, one at a time, during the window.
    pub(crate) api_probe: Option<(CreationStats, CreationStats)>,
    pub(crate) start_up_seconds: Option<f64>,
    pub(crate) ticks: Option<TickSummary>,
    pub(crate) drift: Option<DriftSummary>,
    /// The drift second by second.
    pub(crate) drift_by_second: Option<SecondsSummary>,
    pub(crate) window_cpu_seconds: Option<f64>,
    pub(crate) total_cpu_seconds: Option<f64>,
    pub(crate) sink_cpu_seconds: Option<f64>,
    /// With `--postgres`: the database server's CPU seconds and WAL bytes over the window.
    pub(crate) postgres: Option<(f64, i64)>,
    pub(crate) idle_rss_bytes: Option<u64>,
    pub(crate) peak_rss_bytes: Option<u64>,
    /// The resident set at the end, split: (anonymous, file-backed).
    pub(crate) final_rss_split: Option<(u64, u64)>,
    pub(crate) rss_growth_bytes: Option<u64>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) unparsable_requests: u64,
    /// Jobs at the slow sink (`--slow-jobs`), and the requests it received in the run.
    pub(crate) slow_target: Option<(usize, usize)>,
    /// Each node's own view (`GET /api/metrics`) at the end, in start order.
    pub(crate) engine_metrics: Vec<Value>,
    pub(crate) tcs_register_seconds: Option<f64>,
    /// CPU seconds in the window by thread name (the scheduler's process in binary mode).
    pub(crate) thread_cpu_seconds: std::collections::BTreeMap<String, f64>,
}

impl Report {
    pub(crate) fn new(label: &str) -> Report {
        Report {
            label: label.to_owned(),
            ..Report::default()
        }
    }

    /// Records the run's settings (as their `Debug` text, which names every flag).
    pub(crate) fn set_config(&mut self, args: &impl std::fmt::Debug) {
        self.config = Value::String(format!("{args:?}"));
    }

    fn window_seconds(&self) -> Option<f64> {
        self.window
            .map(|(start, end)| (end - start) as f64 / 1_000.0)
    }

    /// Completed (delivered) ticks of the window per second.
    fn executions_per_second(&self) -> Option<f64> {
        Some(self.ticks?.delivered as f64 / self.window_seconds()?)
    }

    /// The report as JSON.
    pub(crate) fn to_json(&self) -> Value {
        let drift = |d: &DriftSummary| json!({"count": d.count, "p50Ms": d.p50_ms, "p99Ms": d.p99_ms, "p999Ms": d.p999_ms, "maxMs": d.max_ms});
        let creation = |c: &CreationStats| {
            json!({"created": c.created, "failed": c.failed, "seconds": c.seconds,
                   "perSecond": c.per_second, "latencyMs": drift(&c.latency), "firstError": c.first_error})
        };
        json!({
            "label": self.label,
            "config": self.config,
            "jobs": self.jobs,
            "nodes": self.nodes,
            "windowSeconds": self.window_seconds(),
            "executionsPerSecond": self.executions_per_second(),
            "baseline": self.baseline.as_ref().map(|b| json!({
                "requests": b.requests, "failed": b.failed, "seconds": b.seconds,
                "perSecond": b.per_second, "concurrency": b.concurrency, "latencyMs": drift(&b.latency),
            })),
            "baselineAfter": self.baseline_after.as_ref().map(|b| json!({
                "requests": b.requests, "failed": b.failed, "seconds": b.seconds,
                "perSecond": b.per_second, "concurrency": b.concurrency, "latencyMs": drift(&b.latency),
            })),
            "fractionOfBaseline": self.fraction_of_baseline(),
            "seeding": self.seeding.as_ref().map(creation),
            "creation": self.creation.as_ref().map(creation),
            "apiProbe": self.api_probe.as_ref().map(|(created, deleted)| json!({
                "creations": creation(created), "deletions": creation(deleted),
            })),
            "startUpSeconds": self.start_up_seconds,
            "ticks": self.ticks.map(|t| json!({
                "expected": t.expected, "delivered": t.delivered, "missed": t.missed,
                "duplicated": t.duplicated, "unexpectedArrivals": t.unexpected_arrivals,
                "earlyArrivals": t.early_arrivals, "recorded": t.recorded,
                "deliveredNotRecorded": t.delivered_not_recorded,
                "recordedNotDelivered": t.recorded_not_delivered, "unexpectedRows": t.unexpected_rows,
                "missedUnfinished": t.missed_unfinished,
            })),
            "driftMs": self.drift.as_ref().map(drift),
            "driftBySecond": self.drift_by_second.as_ref().map(|s| json!({
                "seconds": s.seconds, "p99LowMs": s.p99_low_ms, "p99MedianMs": s.p99_median_ms,
                "p99HighMs": s.p99_high_ms, "secondsOverOneSecond": s.late,
                "worst": s.worst.iter().map(|&(offset, p99)| json!({"offsetSeconds": offset, "p99Ms": p99})).collect::<Vec<_>>(),
            })),
            "windowCpuSeconds": self.window_cpu_seconds,
            "totalCpuSeconds": self.total_cpu_seconds,
            "sinkCpuSeconds": self.sink_cpu_seconds,
            "postgresCpuSeconds": self.postgres.map(|(cpu, _)| cpu),
            "postgresWalBytes": self.postgres.map(|(_, wal)| wal),
            "idleRssBytes": self.idle_rss_bytes,
            "peakRssBytes": self.peak_rss_bytes,
            "peakRssBytesPerJob": self.bytes_per_job(),
            "finalRssAnonBytes": self.final_rss_split.map(|split| split.0),
            "finalRssFileBytes": self.final_rss_split.map(|split| split.1),
            "rssGrowthBytes": self.rss_growth_bytes,
            "exitCode": self.exit_code,
            "unparsableRequests": self.unparsable_requests,
            "slowTarget": self.slow_target.map(|(jobs, requests)| json!({"jobs": jobs, "requests": requests})),
            "tcsRegisterSeconds": self.tcs_register_seconds,
            "threadCpuSeconds": self.thread_cpu_seconds,
            // One node's view as it always was; several nodes' as a list of their own.
            "engineMetrics": (self.engine_metrics.len() == 1).then(|| &self.engine_metrics[0]),
            "nodeMetrics": (self.engine_metrics.len() > 1).then_some(&self.engine_metrics),
        })
    }

    /// The plain client's rate the scheduler is compared with: the mean of the baselines before
    /// and after the run when both were taken.
    fn baseline_per_second(&self) -> Option<f64> {
        let before = self.baseline.as_ref()?.per_second;
        Some(match &self.baseline_after {
            Some(after) => (before + after.per_second) / 2.0,
            None => before,
        })
    }

    /// Ticks the scheduler's misfire policy dropped during the whole run, on every node (from
    /// their metrics); unknown without metrics, or when a node's do not say.
    fn misfire_dropped(&self) -> Option<u64> {
        if self.engine_metrics.is_empty() {
            return None;
        }
        self.engine_metrics
            .iter()
            .map(|metrics| metrics["engine"]["misfired"].as_u64())
            .sum()
    }

    fn fraction_of_baseline(&self) -> Option<f64> {
        let baseline = self.baseline_per_second()?;
        (baseline > 0.0).then(|| self.executions_per_second().map(|rate| rate / baseline))?
    }

    fn bytes_per_job(&self) -> Option<f64> {
        (self.jobs > 0).then(|| {
            self.peak_rss_bytes
                .map(|peak| peak as f64 / self.jobs as f64)
        })?
    }

    /// Prints the report and appends it to `json_path` when given.
    pub(crate) fn finish(&self, json_path: Option<&Path>) -> anyhow::Result<()> {
        print!("== {} ({} jobs", self.label, self.jobs);
        if self.nodes > 1 {
            print!(", {} nodes", self.nodes);
        }
        println!(")");
        for (when, baseline) in [
            ("", &self.baseline),
            (" after the run", &self.baseline_after),
        ] {
            if let Some(b) = baseline {
                println!(
                    "baseline{when} (plain hyper, {} clients): {:.0} req/s, latency p50 {:.2} ms p99 {:.2} ms, {} failed",
                    b.concurrency, b.per_second, b.latency.p50_ms, b.latency.p99_ms, b.failed
                );
            }
        }
        for (what, stats) in [
            ("seeding (store)", &self.seeding),
            ("creation", &self.creation),
            (
                "API creations during the window",
                &self.api_probe.as_ref().map(|probe| probe.0.clone()),
            ),
            (
                "API deletions during the window",
                &self.api_probe.as_ref().map(|probe| probe.1.clone()),
            ),
        ] {
            if let Some(c) = stats {
                println!(
                    "{what}: {} in {:.1}s = {:.0}/s, latency p50 {:.2} ms p99 {:.2} ms max {:.1} ms, {} failed{}",
                    c.created,
                    c.seconds,
                    c.per_second,
                    c.latency.p50_ms,
                    c.latency.p99_ms,
                    c.latency.max_ms,
                    c.failed,
                    c.first_error
                        .as_deref()
                        .map(|error| format!(" (first: {error})"))
                        .unwrap_or_default()
                );
            }
        }
        if let Some(seconds) = self.start_up_seconds {
            println!("start-up (spawn to listening): {seconds:.2}s");
        }
        if let Some(seconds) = self.tcs_register_seconds {
            println!("registration: {seconds:.2}s");
        }
        if let (Some(rate), Some(window)) = (self.executions_per_second(), self.window_seconds()) {
            print!("executions: {rate:.0}/s over {window:.0}s");
            match (self.fraction_of_baseline(), &self.baseline_after) {
                (Some(fraction), Some(_)) => println!(
                    " = {:.0}% of the baseline (the mean of before and after: {:.0} req/s)",
                    fraction * 100.0,
                    self.baseline_per_second().unwrap_or_default()
                ),
                (Some(fraction), None) => println!(" = {:.0}% of the baseline", fraction * 100.0),
                (None, _) => println!(),
            }
        }
        if let Some(d) = &self.drift {
            println!(
                "drift (scheduled to arrival): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
                d.p50_ms, d.p99_ms, d.p999_ms, d.max_ms, d.count
            );
        }
        if let Some(s) = self.drift_by_second.as_ref().filter(|s| s.seconds > 0) {
            let worst: Vec<String> = s
                .worst
                .iter()
                .map(|(offset, p99)| format!("{p99:.0} ms at +{offset}s"))
                .collect();
            println!(
                "drift by tick second (p99 within each of {} seconds): lowest {:.0} ms, median {:.0} ms, highest {:.0} ms; over a second in {}; worst: {}",
                s.seconds,
                s.p99_low_ms,
                s.p99_median_ms,
                s.p99_high_ms,
                s.late,
                worst.join(", ")
            );
        }
        if let Some(t) = &self.ticks {
            println!(
                "ticks: expected {}, delivered {}, missed {}, duplicated {}, unexpected {}, early {}",
                t.expected,
                t.delivered,
                t.missed,
                t.duplicated,
                t.unexpected_arrivals,
                t.early_arrivals
            );
            if t.missed > 0 && self.window.is_some_and(|(start, _)| start > 0) {
                println!(
                    "  of the missed: {} claimed and still waiting when the scheduler stopped (stored as pending or running; the next start recovers them), {} with no row; the misfire policy dropped {} ticks in the whole run",
                    t.missed_unfinished,
                    t.missed - t.missed_unfinished,
                    self.misfire_dropped()
                        .map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string()),
                );
            }
            if self.window.is_some_and(|(start, _)| start > 0)
                && self.tcs_register_seconds.is_none()
            {
                println!(
                    "recorded (SUCCEEDED in the database): {}, delivered but not recorded {}, recorded but not delivered {}, unexpected rows {}",
                    t.recorded,
                    t.delivered_not_recorded,
                    t.recorded_not_delivered,
                    t.unexpected_rows
                );
            }
        }
        if let Some(cpu) = self.window_cpu_seconds {
            let window = self.window_seconds().unwrap_or(0.0);
            print!("cpu: {cpu:.1}s in the window");
            if window > 0.0 {
                print!(" ({:.0}% of one core)", cpu / window * 100.0);
            }
            if let Some(total) = self.total_cpu_seconds {
                print!(", {total:.1}s in all");
            }
            if let Some(sink) = self.sink_cpu_seconds {
                print!("; the sink used {sink:.1}s");
            }
            println!();
        }
        if let Some((cpu, wal)) = self.postgres {
            let recorded = self.ticks.as_ref().map_or(0, |t| t.recorded);
            print!(
                "postgres: {cpu:.1}s CPU, {:.1} MiB WAL in the window",
                wal as f64 / 1_048_576.0
            );
            if recorded > 0 {
                print!(
                    " = {:.0} µs CPU and {:.0} WAL bytes per recorded execution",
                    cpu / recorded as f64 * 1e6,
                    wal as f64 / recorded as f64
                );
            }
            println!();
        }
        if !self.thread_cpu_seconds.is_empty() {
            let mut threads: Vec<_> = self.thread_cpu_seconds.iter().collect();
            threads.sort_by(|a, b| b.1.total_cmp(a.1));
            let threads: Vec<String> = threads
                .iter()
                .map(|(name, seconds)| format!("{name} {seconds:.1}s"))
                .collect();
            println!("cpu by thread in the window: {}", threads.join(", "));
        }
        if let Some(peak) = self.peak_rss_bytes {
            print!("peak RSS: {:.1} MiB", peak as f64 / 1_048_576.0);
            if let Some(per_job) = self.bytes_per_job() {
                print!(" = {per_job:.0} bytes per job");
            }
            if let Some(idle) = self.idle_rss_bytes {
                print!(" (idle at start: {:.1} MiB)", idle as f64 / 1_048_576.0);
            }
            if let Some((anon, file)) = self.final_rss_split {
                print!(
                    "; at the end {:.1} MiB anonymous + {:.1} MiB file pages (the binary, and SQLite's mmap)",
                    anon as f64 / 1_048_576.0,
                    file as f64 / 1_048_576.0
                );
            }
            println!();
        }
        if let Some(growth) = self.rss_growth_bytes {
            println!(
                "RSS growth: {:.1} MiB = {:.0} bytes per job",
                growth as f64 / 1_048_576.0,
                growth as f64 / self.jobs.max(1) as f64
            );
        }
        for metrics in &self.engine_metrics {
            print_claims(metrics);
        }
        for metrics in &self.engine_metrics {
            println!("engine metrics: {metrics}");
        }
        if let Some(code) = self.exit_code {
            println!("scheduler exit code: {code}");
        }
        if self.unparsable_requests > 0 {
            println!(
                "requests with unparsable tick headers: {}",
                self.unparsable_requests
            );
        }
        if let Some((jobs, requests)) = self.slow_target {
            println!(
                "slow target (not in the ticks and drift above): {jobs} jobs, {requests} requests received"
            );
        }
        if let Some(path) = json_path {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(file, "{}", self.to_json())?;
        }
        Ok(())
    }
}

/// One node's claims as its metrics tell them: how long each took in the store (a claim near a
/// second means the database is the limit), and what the node claimed and fired.
fn print_claims(metrics: &Value) {
    let claims = &metrics["claimDuration"];
    let number = |value: &Value| value.as_f64().unwrap_or(f64::NAN);
    println!(
        "node {}: claims p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} claims); claimed {}, fired {}, misfired {}",
        metrics["nodeId"].as_str().unwrap_or("?"),
        number(&claims["p50Ms"]),
        number(&claims["p99Ms"]),
        number(&claims["maxMs"]),
        claims["count"],
        metrics["engine"]["claimed"],
        metrics["engine"]["fired"],
        metrics["engine"]["misfired"],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(per_second: f64) -> BaselineStats {
        BaselineStats {
            per_second,
            ..BaselineStats::default()
        }
    }

    #[test]
    fn the_fraction_of_the_baseline_reads_against_the_mean_of_before_and_after() {
        let mut report = Report::new("fraction");
        report.window = Some((0, 10_000));
        report.ticks = Some(TickSummary {
            delivered: 400_000,
            ..TickSummary::default()
        });
        report.baseline = Some(baseline(100_000.0));
        assert_eq!(report.fraction_of_baseline(), Some(0.4));
        report.baseline_after = Some(baseline(60_000.0));
        assert_eq!(report.baseline_per_second(), Some(80_000.0));
        assert_eq!(report.fraction_of_baseline(), Some(0.5));
        let json = report.to_json();
        assert_eq!(json["baselineAfter"]["perSecond"], 60_000.0);
        assert_eq!(json["fractionOfBaseline"], 0.5);
    }

    #[test]
    fn the_ticks_the_misfire_policy_dropped_come_from_the_engine_metrics() {
        let mut report = Report::new("misfires");
        assert_eq!(report.misfire_dropped(), None);
        report.engine_metrics = vec![json!({"engine": {"misfired": 7_599}})];
        assert_eq!(report.misfire_dropped(), Some(7_599));
        assert_eq!(
            report.to_json()["engineMetrics"]["engine"]["misfired"],
            7_599
        );
        report
            .engine_metrics
            .push(json!({"engine": {"misfired": 1}}));
        assert_eq!(report.misfire_dropped(), Some(7_600));
        assert_eq!(report.to_json()["engineMetrics"], Value::Null);
        assert_eq!(report.to_json()["nodeMetrics"][1]["engine"]["misfired"], 1);
        report.engine_metrics.push(json!({"engine": {}}));
        assert_eq!(
            report.misfire_dropped(),
            None,
            "unknown when one node does not say"
        );
    }
}
