//! Jobs the claims have decoded, kept between claims, so that a job due every second is decoded
//! once per change rather than once per tick.
//!
//! Each job is kept by its row id, with the revision it was read at (`jobs.revision`, schema
//! version 6: a random number, new at every write of the job's row other than a claim's
//! watermark update). The claim reads each due job's row id and revision with its row and uses
//! a kept copy only at that same revision, so a job changed since, by this store or by another
//! process on the same file, is decoded again; so is one whose row id now names another job
//! (after a `VACUUM`, say). The cache is bounded: when full, the job kept longest makes room
//! (first in, first out), so a store whose due jobs outnumber the capacity decodes the ones that
//! do not fit as it did without a cache.
//!
//! Only a job that fires again within [`KEEP_WITHIN`] of its claim is kept: one that fires less
//! often would mostly be pushed out by others before it is due again, at a cost in memory for
//! nothing (docs/perf-log/round-09.md). Each job is boxed, so the map's free slots cost a few
//! words, not a whole job.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use scheduler_core::{Job, Timestamp};

/// How soon after its claim a job must fire again to be kept: a minute and a half, so that a
/// job due every minute is kept. Its claim comes up to the engine's look-ahead (2 s by default)
/// before its tick, so its next tick is a minute *and that look-ahead* away from the claim
/// (docs/perf-log/round-10.md).
const KEEP_WITHIN: Duration = Duration::from_secs(90);

/// Whether a job claimed at `now` whose next tick is `next` is worth keeping.
pub(crate) fn worth_keeping(next: Option<Timestamp>, now: Timestamp) -> bool {
    next.is_some_and(|next| next.duration_since(now).unsigned_abs() <= KEEP_WITHIN)
}

/// Decoded jobs by row id, each with the revision it was read at; see the module documentation.
pub(crate) struct JobCache {
    capacity: usize,
    jobs: HashMap<i64, (i64, Box<Job>)>,
    /// The row ids in `jobs`, the one kept longest first.
    order: VecDeque<i64>,
}

impl JobCache {
    /// An empty cache of at most `capacity` jobs; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> JobCache {
        JobCache {
            capacity,
            jobs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The job of row id `key` as read at `revision`, if it is kept at that revision.
    pub(crate) fn get(&self, key: i64, revision: i64) -> Option<&Job> {
        match self.jobs.get(&key) {
            Some((kept, job)) if *kept == revision => Some(&**job),
            _ => None,
        }
    }

    /// Keeps `job`, read at `revision`, in place of any older copy; when the cache is full, the
    /// job kept longest makes room.
    pub(crate) fn insert(&mut self, key: i64, revision: i64, job: Job) {
        if self.capacity == 0 {
            return;
        }
        if let Some(entry) = self.jobs.get_mut(&key) {
            *entry = (revision, Box::new(job));
            return;
        }
        if self.jobs.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.jobs.remove(&oldest);
        }
        self.order.push_back(key);
        self.jobs.insert(key, (revision, Box::new(job)));
    }

    /// Forgets every job.
    pub(crate) fn clear(&mut self) {
        self.jobs.clear();
        self.order.clear();
    }

    /// How many jobs are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }
}

impl fmt::Debug for JobCache {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("JobCache")
            .field("capacity", &self.capacity)
            .field("kept", &self.jobs.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use scheduler_core::{DeliveryType, JobId, JobSpec, Timestamp};

    use super::*;

    fn job(url: &str) -> Job {
        let id = JobId::new_random();
        let spec = JobSpec::new(
            "* * * * * *".parse().unwrap(),
            url,
            DeliveryType::AtLeastOnce,
        );
        Job {
            id,
            spec,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            next_fire_at: None,
            version: 1,
            done_at: None,
        }
    }

    #[test]
    fn a_job_is_found_only_at_the_revision_it_was_read_at() {
        let mut cache = JobCache::new(4);
        let first = job("http://127.0.0.1:9/first");
        cache.insert(3, 7, first.clone());
        assert_eq!(cache.get(3, 7), Some(&first));
        assert_eq!(cache.get(3, 8), None);
        assert_eq!(cache.get(4, 7), None);

        let second = job("http://127.0.0.1:9/second");
        cache.insert(3, 8, second.clone());
        assert_eq!(cache.get(3, 8), Some(&second));
        assert_eq!(cache.get(3, 7), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_makes_room_by_dropping_the_job_kept_longest() {
        let mut cache = JobCache::new(2);
        for key in 0..3 {
            cache.insert(key, 1, job(&format!("http://127.0.0.1:9/{key}")));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(0, 1), None);
        assert!(cache.get(1, 1).is_some());
        assert!(cache.get(2, 1).is_some());

        // A new revision of a kept job replaces it in place and drops nothing.
        cache.insert(1, 2, job("http://127.0.0.1:9/1"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(2, 1).is_some());
    }

    #[test]
    fn only_a_job_that_fires_again_within_a_minute_and_a_half_is_worth_keeping() {
        let now = Timestamp::from_second(1_767_225_600).unwrap();
        let later = |seconds: i64| Some(Timestamp::from_second(1_767_225_600 + seconds).unwrap());
        assert!(worth_keeping(later(1), now));
        // An every-minute job claimed two seconds before its tick: its next one is 62 s away.
        assert!(worth_keeping(later(62), now));
        assert!(worth_keeping(later(90), now));
        assert!(!worth_keeping(later(91), now));
        assert!(!worth_keeping(later(120), now));
        assert!(!worth_keeping(later(900), now));
        assert!(!worth_keeping(None, now));
    }

    #[test]
    fn a_cache_of_no_capacity_keeps_nothing() {
        let mut cache = JobCache::new(0);
        cache.insert(1, 1, job("http://127.0.0.1:9/"));
        assert_eq!(cache.get(1, 1), None);
        assert_eq!(cache.len(), 0);
    }
}
