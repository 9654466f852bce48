//! The engine's settings, their defaults (written once, here) and their validation.

use std::time::Duration;

use cron_expr::Timestamp;

use crate::engine::misfire::MisfireCut;
use crate::error::{Error, Result};
use crate::jitter::MAX_TICK_JITTER;
use crate::store::{ClaimRequest, RetentionPolicy};
use crate::time;

/// The engine's settings. Start from `EngineConfig::default()` and change fields; the
/// defaults are written only in its `Default` implementation, and everything else (the
/// binary's command-line defaults among them) derives from it.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This node's name: the lease owner written into claimed executions. A restarted node
    /// recovers the unfinished executions claimed under its name, so keep it stable.
    pub node_id: String,
    /// How long this node's heartbeat keeps what it holds its own (its lease). On a shared
    /// store, once a node's latest heartbeat is older than this, live nodes take its
    /// unfinished executions over; a node that cannot renew its heartbeat stops sending at
    /// [`EngineConfig::fence_after`], before that can happen. Each execution is also written
    /// with a lease expiry (claim time plus this), and is taken over only after it. It must be
    /// longer than `look_ahead`, so that a tick is still held when it comes due.
    pub lease: Duration,
    /// How often this node records that it is alive ([`MembershipStore::heartbeat`]) and, on
    /// a shared store, takes over what stopped nodes left. At most half the lease, so that one
    /// missed heartbeat does not stop a node.
    ///
    /// [`MembershipStore::heartbeat`]: crate::MembershipStore::heartbeat
    pub heartbeat_interval: Duration,
    /// How far ahead ticks are claimed.
    pub look_ahead: Duration,
    /// How often the store is asked for due ticks; must be shorter than `look_ahead`, so that
    /// every tick is claimed before its instant.
    pub claim_interval: Duration,
    /// The most ticks one claim takes; a claim pass repeats until fewer come back.
    pub claim_batch_size: usize,
    /// The most attempts in flight at once, across all jobs. This bounds the memory of
    /// attempts (a connection and its buffers each, tens of kilobytes) and the sockets open;
    /// [`EngineConfig::max_fresh_attempts`] bounds how many of them compete for CPU. The
    /// default, 8,192, is what a 2-core machine holds against slow targets at a few hundred
    /// megabytes (docs/PERFORMANCE.md, "Slow targets"); the process needs a file-descriptor
    /// limit above it.
    pub max_in_flight: usize,
    /// The most attempts in flight at once to one target host (the host and port of the
    /// target URL), so that a slow or hanging target holds at most this many of the
    /// `max_in_flight` slots and delays only its own jobs: its other executions wait in its
    /// own queue, holding no slot, while the dispatcher starts other hosts' executions in
    /// round robin (docs/OPERATIONS.md, "Slow targets").
    ///
    /// The default, 1,024, is an eighth of the default `max_in_flight`: seven hosts can hang at
    /// once with an eighth of the slots still free for the others. It is also as many as one
    /// target could get before the limit existed, so no single-target setup gets fewer, and
    /// well above what the fresh-attempt limit starts at once, so a fast target's throughput
    /// is not capped by it. One slow target that receives every job needs a higher value: it
    /// holds about its executions per second times its answer time. It must be at least 1.
    pub max_in_flight_per_host: usize,
    /// The most attempts in flight that started less than `fresh_window` ago.
    ///
    /// Against fast targets an attempt is CPU work until it is answered, and starting more
    /// at once than the cores can run only costs more per attempt
    /// (docs/perf-log/round-06.md). An attempt still unanswered after `fresh_window` is
    /// waiting on its target, so it counts only against `max_in_flight`: slow or hung targets
    /// never hold this limit. It must be at least 1. The default is 64 per core the machine
    /// offers ([`std::thread::available_parallelism`]).
    pub max_fresh_attempts: usize,
    /// How long an attempt counts as fresh (see [`EngineConfig::max_fresh_attempts`]); zero
    /// turns that limit off.
    pub fresh_window: Duration,
    /// The most executions the engine holds at once: claimed (or triggered, or recovered)
    /// and not yet finally written, whether on the timer, waiting for an in-flight slot, in
    /// flight, waiting for a retry, or with their last update queued for the store.
    ///
    /// A claim takes at most the room left, and none when there is none: due ticks then wait
    /// in the store, are claimed when executions finish, and fire late; those later than
    /// `misfire_threshold` by then follow their job's misfire policy. So an engine that gets
    /// more ticks than its store or its targets can handle falls behind in time (drift,
    /// [`MetricsSnapshot::claims_deferred`](crate::MetricsSnapshot::claims_deferred)) instead
    /// of growing in memory, and a shutdown never has more than this many results to write.
    /// Manual triggers and the executions recovered at start are counted but never refused,
    /// so the count can briefly exceed the limit. It must be at least 1; if it is smaller
    /// than `claim_batch_size`, it also caps each claim.
    ///
    /// It should exceed what steady operation holds: about `look_ahead` times the executions
    /// per second to sustain, plus `max_in_flight`, plus the retries waiting and the results
    /// the store lags behind. The default covers about 30,000 executions per second with the
    /// default look-ahead (~60,000 on the timer, 8,192 in flight, the rest for a writer a
    /// second behind), in roughly 100 MB by the sizes of the structures (docs/PERFORMANCE.md).
    pub max_backlog: usize,
    /// How late a tick may be claimed and still fire: a claim at `now` treats the job's ticks
    /// before `now - misfire_threshold` as missed, and applies the job's misfire policy to
    /// them (the latest once, the latest `max`, or none); later ticks all fire, late.
    ///
    /// On a store that is not shared ([`MembershipStore::is_shared`](crate::MembershipStore::is_shared)
    /// false), the ticks due before the engine started are missed too, however recently they
    /// fell due: this node is the only scheduler, so they were due while none ran. A claim
    /// then misses the ticks before the later of `now - misfire_threshold` and the engine's
    /// start, and the unfinished executions recovered at start whose tick (its jitter
    /// included) came before the start are grouped with them for the policy
    /// ([`EngineBuilder::start`](crate::EngineBuilder::start)). On a shared store the threshold
    /// alone applies: a node starting does not mean the cluster was down. Other ticks already
    /// claimed (held by a running node, or recovered or taken over and not missed by these
    /// rules) fire however late they are.
    pub misfire_threshold: Duration,
    /// The most result updates written in one store call. The writer makes one call at a
    /// time, and a call can wait behind a claim, so this caps the results written per round
    /// trip; too small a batch leaves the writer behind under load
    /// (docs/perf-log/round-02.md).
    pub result_batch_size: usize,
    /// How long a result may wait for others before the writer stores it: a store call is made
    /// once its oldest result has waited this long, or `result_batch_size` results are queued,
    /// or an at-most-once attempt waits for its `RUNNING` state to be stored (that never
    /// waits). An execution answered within the wait costs one row write instead of two, and
    /// a burst is written in fewer, larger transactions (docs/perf-log/round-06.md). Results
    /// reach the store (and the API) up to this much later; a crash loses nothing more, since
    /// an execution whose state was not stored is recovered as ever. Zero writes as soon as
    /// the previous call returns.
    pub result_linger: Duration,
    /// The memory the executions claimed in memory during a store outage may take, in bytes
    /// (an estimate: a few hundred bytes each). On a store of one node, when claims fail, the
    /// engine claims due ticks in memory and keeps their executions until the store takes
    /// writes again; a due tick that does not fit is not fired, and follows its job's misfire
    /// policy once the store is back. The default, 128 MiB, holds about 400,000 executions.
    pub outage_buffer_bytes: usize,
    /// The longest `Retry-After` honoured; longer requests are cut to this, and to the job's
    /// `max_backoff`.
    pub max_retry_after: Duration,
    /// Alerts waiting for the sink beyond this many are dropped (and counted).
    pub alert_queue_capacity: usize,
    /// History retention, applied every `prune_interval`; `None` keeps everything.
    pub retention: Option<RetentionPolicy>,
    /// How often retention is applied.
    pub prune_interval: Duration,
    /// Seed of the retry jitter; `None` seeds from entropy.
    pub jitter_seed: Option<u64>,
    /// The tick jitter of jobs that set none ([`JobSpec::tick_jitter`]), at most
    /// [`MAX_TICK_JITTER`]; zero (the default) fires their ticks at their nominal instants.
    /// It is applied when a tick is dispatched, not stored with the job, so a change reaches
    /// every such job at the next start; nodes sharing a store should agree on it, or they
    /// fire those jobs' ticks at different instants. A jittered tick is claimed at its
    /// nominal instant and waits on the timer, counted in `max_backlog`, until it fires.
    ///
    /// [`JobSpec::tick_jitter`]: crate::JobSpec::tick_jitter
    pub default_tick_jitter: Duration,
}

/// The default of [`EngineConfig::max_fresh_attempts`] per core.
const FRESH_ATTEMPTS_PER_CORE: usize = 64;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node_id: "local".to_owned(),
            lease: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            look_ahead: Duration::from_secs(2),
            claim_interval: Duration::from_secs(1),
            claim_batch_size: 10_000,
            max_in_flight: 8_192,
            max_in_flight_per_host: 1_024,
            max_fresh_attempts: FRESH_ATTEMPTS_PER_CORE
                * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            fresh_window: Duration::from_millis(5),
            max_backlog: 100_000,
            misfire_threshold: Duration::from_secs(10),
            result_batch_size: 8_192,
            result_linger: Duration::from_millis(100),
            outage_buffer_bytes: 128 * 1024 * 1024,
            max_retry_after: Duration::from_secs(3_600),
            alert_queue_capacity: 1_024,
            retention: None,
            prune_interval: Duration::from_secs(60),
            jitter_seed: None,
            default_tick_jitter: Duration::ZERO,
        }
    }
}

impl EngineConfig {
    /// Checks what the engine relies on: a claim interval shorter than the look-ahead, a
    /// look-ahead shorter than the lease, and every count limit at least 1. [`EngineBuilder::start`](crate::EngineBuilder::start)
    /// calls it; a program may call it first to refuse a bad configuration before it opens
    /// anything.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the setting at fault.
    pub fn validate(&self) -> Result<()> {
        if self.claim_interval.is_zero() || self.claim_interval >= self.look_ahead {
            return Err(Error::invalid_config(
                "claim_interval",
                "must be greater than zero and shorter than look_ahead",
            ));
        }
        // Named after the look-ahead: the setting changed more often (tuning the claims).
        if self.look_ahead >= self.lease {
            return Err(Error::invalid_config(
                "look_ahead",
                format!("must be shorter than the lease ({:?})", self.lease),
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval > self.lease / 2 {
            return Err(Error::invalid_config(
                "heartbeat_interval",
                format!(
                    "must be greater than zero and at most half the lease ({:?})",
                    self.lease
                ),
            ));
        }
        if self.default_tick_jitter > MAX_TICK_JITTER {
            return Err(Error::invalid_config(
                "default_tick_jitter",
                format!("must be at most {MAX_TICK_JITTER:?}"),
            ));
        }
        let positive = [
            ("claim_batch_size", self.claim_batch_size),
            ("max_in_flight", self.max_in_flight),
            ("max_in_flight_per_host", self.max_in_flight_per_host),
            ("max_fresh_attempts", self.max_fresh_attempts),
            ("max_backlog", self.max_backlog),
            ("result_batch_size", self.result_batch_size),
            ("alert_queue_capacity", self.alert_queue_capacity),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::invalid_config(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

impl EngineConfig {
    /// A claim made at `now` under this configuration: ticks due within the look-ahead, held by
    /// this node for its lease, at most `limit` of them, missed ticks ending where `misfire`
    /// says.
    pub(crate) fn claim_request(
        &self,
        now: Timestamp,
        limit: usize,
        misfire: &MisfireCut,
    ) -> ClaimRequest {
        ClaimRequest {
            now,
            due_before: time::add(now, self.look_ahead),
            limit,
            owner: self.node_id.clone(),
            lease_until: self.lease_until(now),
            missed_before: misfire.missed_before(now),
        }
    }

    /// The expiry of a lease this node takes at `now`.
    pub(crate) fn lease_until(&self, now: Timestamp) -> Timestamp {
        time::add(now, self.lease)
    }

    /// How long after the start of its last successful heartbeat a node on a shared store
    /// stops sending and claiming: the lease less one heartbeat interval. Other nodes take its
    /// executions over only once the whole lease has passed, so the interval is the margin
    /// for clock skew between nodes and for a send under way.
    pub fn fence_after(&self) -> Duration {
        self.lease.saturating_sub(self.heartbeat_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_must_be_at_least_one() {
        assert!(EngineConfig::default().validate().is_ok());
        let zero_fresh = EngineConfig {
            max_fresh_attempts: 0,
            ..EngineConfig::default()
        };
        assert!(matches!(
            zero_fresh.validate(),
            Err(Error::InvalidConfig {
                setting: "max_fresh_attempts",
                ..
            })
        ));
        // A zero window is allowed: it turns the fresh limit off.
        let no_window = EngineConfig {
            fresh_window: Duration::ZERO,
            ..EngineConfig::default()
        };
        assert!(no_window.validate().is_ok());
    }

    #[test]
    fn ticks_are_claimed_for_less_than_the_lease() {
        let too_far = EngineConfig {
            look_ahead: Duration::from_secs(10),
            claim_interval: Duration::from_secs(1),
            ..EngineConfig::default()
        };
        assert!(matches!(
            too_far.validate(),
            Err(Error::InvalidConfig {
                setting: "look_ahead",
                ..
            })
        ));
        let longer_lease = EngineConfig {
            lease: Duration::from_secs(30),
            ..too_far
        };
        assert!(longer_lease.validate().is_ok());
    }
}
