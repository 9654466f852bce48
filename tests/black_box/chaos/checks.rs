//! The chaos test's checks of what a run produced (the rows, the deliveries, the kills and the
//! changes), and its summary.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Change, DeliveryType, Job, Kill, Row, Window};
use crate::support::Delivery;

/// One request the sink received, its tick in milliseconds.
pub(super) struct Sent {
    job: String,
    execution: String,
    tick_ms: i64,
    /// Whether it carried `X-Scheduler-Redelivery: true`.
    redelivery: bool,
}

impl Sent {
    pub(super) fn new(delivery: Delivery) -> Sent {
        let tick_ms = delivery
            .scheduled_time
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|error| panic!("{delivery:?}: scheduled time: {error}"))
            .as_millisecond();
        Sent {
            job: delivery.job_id,
            execution: delivery.execution_id,
            tick_ms,
            redelivery: delivery.redelivery,
        }
    }
}

/// The failed checks, in words.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) failures: Vec<String>,
}

impl Findings {
    pub(super) fn check(&mut self, holds: bool, failure: impl FnOnce() -> String) {
        if !holds {
            let failure = failure();
            println!("chaos: FAILED: {failure}");
            self.failures.push(failure);
        }
    }
}

/// Everything a run produced, for the checks and the summary.
pub(super) struct Run<'a> {
    pub(super) start_ms: i64,
    pub(super) window: Window,
    pub(super) jobs: &'a [Job],
    pub(super) kills: &'a [Kill],
    pub(super) changes: &'a [Change],
    pub(super) rows: Vec<Row>,
    /// The executions kills left unfinished, as they are now: status and holder.
    pub(super) left_final: HashMap<String, (String, String)>,
    pub(super) deliveries: Vec<Sent>,
}

impl Run<'_> {
    pub(super) fn check(&self, findings: &mut Findings) {
        self.check_every_tick_recorded_once(findings);
        self.check_final_states(findings);
        self.check_successes_delivered(findings);
        self.check_repeated_deliveries(findings);
        self.check_delivered_ticks_match_rows(findings);
        self.check_changes(findings);
    }

    /// The jobs whose every tick is checked: all but the paused and the deleted one.
    fn checked_jobs(&self) -> HashMap<&str, DeliveryType> {
        let changed: HashSet<&str> = self.changes.iter().map(|c| c.job.as_str()).collect();
        self.jobs
            .iter()
            .filter(|job| !changed.contains(job.id.as_str()))
            .map(|job| (job.id.as_str(), job.delivery))
            .collect()
    }

    fn checked_rows(&self) -> impl Iterator<Item = &Row> {
        let jobs = self.checked_jobs();
        self.rows
            .iter()
            .filter(move |row| jobs.contains_key(row.job.as_str()))
    }

    /// Every execution any kill left unfinished.
    fn left_by_kills(&self) -> HashSet<&str> {
        self.kills
            .iter()
            .flat_map(|kill| kill.left.keys().map(String::as_str))
            .collect()
    }

    fn delivery_type(&self, job: &str) -> Option<DeliveryType> {
        self.jobs
            .iter()
            .find(|candidate| candidate.id == job)
            .map(|job| job.delivery)
    }

    fn check_every_tick_recorded_once(&self, findings: &mut Findings) {
        let mut recorded: HashMap<(&str, i64), usize> = HashMap::new();
        for row in self.checked_rows() {
            *recorded.entry((row.job.as_str(), row.tick_ms)).or_default() += 1;
        }
        let jobs = self.checked_jobs();
        let mut missing = Vec::new();
        for job in jobs.keys() {
            for tick in self.window.ticks() {
                if !recorded.contains_key(&(*job, tick)) {
                    missing.push((*job, tick - self.start_ms));
                }
            }
        }
        let expected = jobs.len() * self.window.ticks().count();
        missing.sort();
        findings.check(missing.is_empty(), || {
            format!(
                "{} of {expected} ticks of the window have no execution (first, job and ms after the start: {:?})",
                missing.len(),
                &missing[..missing.len().min(5)]
            )
        });
        let twice = recorded.values().filter(|&&count| count > 1).count();
        findings.check(twice == 0, || {
            format!("{twice} ticks have more than one execution")
        });
        let off_window = recorded
            .keys()
            .filter(|(_, tick)| tick % 1_000 != 0)
            .count();
        findings.check(off_window == 0, || {
            format!("{off_window} executions of an every-second job are not on a whole second")
        });
    }

    fn check_final_states(&self, findings: &mut Findings) {
        let jobs = self.checked_jobs();
        let left = self.left_by_kills();
        let mut wrong: BTreeMap<(String, &str), usize> = BTreeMap::new();
        let mut abandoned_without_kill = 0;
        for row in self.checked_rows() {
            let delivery = jobs[row.job.as_str()];
            let allowed = row.status == "SUCCEEDED"
                || (row.status == "ABANDONED" && delivery == DeliveryType::AtMostOnce);
            if !allowed {
                *wrong
                    .entry((format!("{} {delivery:?}", row.status), &row.claimed_by))
                    .or_default() += 1;
            }
            if row.status == "ABANDONED" && !left.contains(row.id.as_str()) {
                abandoned_without_kill += 1;
            }
        }
        findings.check(wrong.is_empty(), || {
            format!(
                "{} executions of the window are not SUCCEEDED (nor an at-most-once ABANDONED), by status, type and holder: {wrong:?}",
                wrong.values().sum::<usize>()
            )
        });
        findings.check(abandoned_without_kill == 0, || {
            format!(
                "{abandoned_without_kill} executions were abandoned that no kill left unfinished"
            )
        });
    }

    fn check_successes_delivered(&self, findings: &mut Findings) {
        let delivered: HashSet<&str> = self
            .deliveries
            .iter()
            .map(|sent| sent.execution.as_str())
            .collect();
        let undelivered: Vec<&str> = self
            .checked_rows()
            .filter(|row| row.status == "SUCCEEDED" && !delivered.contains(row.id.as_str()))
            .map(|row| row.id.as_str())
            .collect();
        findings.check(undelivered.is_empty(), || {
            format!(
                "{} SUCCEEDED executions never reached the target (first: {:?})",
                undelivered.len(),
                &undelivered[..undelivered.len().min(5)]
            )
        });
    }

    /// Execution id to how often it was delivered, of those delivered more than once.
    fn repeated(&self) -> HashMap<&str, (usize, &str)> {
        let mut counts: HashMap<&str, (usize, &str)> = HashMap::new();
        for sent in &self.deliveries {
            counts
                .entry(sent.execution.as_str())
                .or_insert((0, sent.job.as_str()))
                .0 += 1;
        }
        counts.retain(|_, (count, _)| *count > 1);
        counts
    }

    fn check_repeated_deliveries(&self, findings: &mut Findings) {
        let left = self.left_by_kills();
        let repeated = self.repeated();
        let at_most_once = repeated
            .values()
            .filter(|(_, job)| self.delivery_type(job) == Some(DeliveryType::AtMostOnce))
            .count();
        findings.check(at_most_once == 0, || {
            format!("{at_most_once} at-most-once executions were delivered more than once")
        });
        let unexplained: Vec<&str> = repeated
            .keys()
            .filter(|execution| !left.contains(**execution))
            .copied()
            .collect();
        findings.check(unexplained.is_empty(), || {
            format!(
                "{} executions were delivered more than once that no kill left unfinished (first: {:?})",
                unexplained.len(),
                &unexplained[..unexplained.len().min(5)]
            )
        });
        // Whichever node sends an execution again (the killed one restarted, or one that took
        // its work over), the second delivery and later ones are marked as re-sends.
        let mut seen: HashSet<&str> = HashSet::new();
        let unmarked: HashSet<&str> = self
            .deliveries
            .iter()
            .filter(|sent| !seen.insert(sent.execution.as_str()) && !sent.redelivery)
            .map(|sent| sent.execution.as_str())
            .collect();
        findings.check(unmarked.is_empty(), || {
            format!(
                "{} executions were delivered again without X-Scheduler-Redelivery (first: {:?})",
                unmarked.len(),
                unmarked.iter().take(5).collect::<Vec<_>>()
            )
        });
    }

    fn check_delivered_ticks_match_rows(&self, findings: &mut Findings) {
        let jobs = self.checked_jobs();
        let recorded: HashMap<(&str, i64), &str> = self
            .checked_rows()
            .map(|row| ((row.job.as_str(), row.tick_ms), row.id.as_str()))
            .collect();
        let mut ids: HashMap<(&str, i64), HashSet<&str>> = HashMap::new();
        for sent in &self.deliveries {
            ids.entry((sent.job.as_str(), sent.tick_ms))
                .or_default()
                .insert(sent.execution.as_str());
        }
        let two_ids = ids.values().filter(|ids| ids.len() > 1).count();
        findings.check(two_ids == 0, || {
            format!("{two_ids} ticks were delivered under more than one execution id")
        });
        let unrecorded = ids
            .iter()
            .filter(|((job, tick), _)| jobs.contains_key(job) && self.window.contains(*tick))
            .filter(|(key, sent)| !recorded.get(key).is_some_and(|id| sent.contains(id)))
            .count();
        findings.check(unrecorded == 0, || {
            format!("{unrecorded} delivered ticks of the window have no execution of that id")
        });
    }

    /// The ticks of each changed job delivered though later than a second after the change.
    fn late_after_changes(&self) -> Vec<(&Change, Vec<i64>)> {
        self.changes
            .iter()
            .map(|change| {
                let mut late: Vec<i64> = self
                    .deliveries
                    .iter()
                    .filter(|sent| sent.job == change.job)
                    .map(|sent| sent.tick_ms)
                    .filter(|&tick| tick > change.answered_ms + 1_000)
                    .collect();
                late.sort_unstable();
                late.dedup();
                (change, late)
            })
            .collect()
    }

    fn check_changes(&self, findings: &mut Findings) {
        for (change, late) in self.late_after_changes() {
            findings.check(late.is_empty(), || {
                format!(
                    "the {} of job {} through {} (its newest tick claimed by {}) answered at +{} ms; \
                     ticks more than 1 s later were still delivered: {:?} ms after the start",
                    change.kind.name(),
                    change.job,
                    change.through,
                    change.claimed_by,
                    change.answered_ms - self.start_ms,
                    late.iter()
                        .map(|tick| tick - self.start_ms)
                        .collect::<Vec<_>>()
                )
            });
        }
    }

    pub(super) fn print_summary(&self, seed: u64) {
        let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
        for row in self.checked_rows() {
            *statuses.entry(row.status.as_str()).or_default() += 1;
        }
        let seconds = self.window.ticks().count();
        println!("chaos summary (seed {seed}):");
        println!(
            "  window: ticks +{} ms to +{} ms after the start, {seconds} seconds x {} jobs = {} ticks; executions by status: {statuses:?}",
            self.window.first_ms - self.start_ms,
            self.window.last_ms - self.start_ms,
            self.checked_jobs().len(),
            seconds * self.checked_jobs().len()
        );
        let repeated = self.repeated();
        println!(
            "  deliveries: {} in all; executions delivered more than once: {} (extra deliveries {}), at-most-once among them {}",
            self.deliveries.len(),
            repeated.len(),
            repeated.values().map(|(count, _)| count - 1).sum::<usize>(),
            repeated
                .values()
                .filter(|(_, job)| self.delivery_type(job) == Some(DeliveryType::AtMostOnce))
                .count()
        );
        let mut takeovers = 0;
        for kill in self.kills {
            takeovers += self.print_kill(kill);
        }
        println!(
            "  takeovers in all: {takeovers} of {} executions left unfinished by {} kills",
            self.left_by_kills().len(),
            self.kills.len()
        );
        for (change, late) in self.late_after_changes() {
            println!(
                "  {} of job {} through {} at +{} ms (newest tick claimed by {}): {} ticks later than 1 s after it delivered",
                change.kind.name(),
                change.job,
                change.through,
                change.answered_ms - self.start_ms,
                change.claimed_by,
                late.len()
            );
        }
    }

    /// A kill, and how what it left unfinished ended: finished by the restarted node itself,
    /// taken over by another node, still unfinished, or deleted with its job. Returns the
    /// takeovers.
    fn print_kill(&self, kill: &Kill) -> usize {
        let mut ends: BTreeMap<String, usize> = BTreeMap::new();
        for (id, before) in &kill.left {
            let end = match self.left_final.get(id) {
                None => "deleted".to_owned(),
                Some((status, holder)) if holder == kill.node => {
                    format!("{before}->{status} by itself")
                }
                Some((status, holder)) => format!("{before}->{status} taken over by {holder}"),
            };
            *ends.entry(end).or_default() += 1;
        }
        let takeovers: usize = ends
            .iter()
            .filter(|(end, _)| end.contains("taken over"))
            .map(|(_, count)| count)
            .sum();
        let restart = match kill.restart {
            Some(restart) => format!("restarted in {restart:.1?}"),
            None => format!("down for {:?}", super::DEAD_FOR),
        };
        println!(
            "  kill of {} at +{} ms: left {} unfinished, {restart}; takeovers {takeovers}; {ends:?}",
            kill.node,
            kill.at_ms - self.start_ms,
            kill.left.len(),
        );
        takeovers
    }
}
