//! Where a claim's missed ticks end ([`ClaimRequest::missed_before`]).
//!
//! A tick claimed later than [`EngineConfig::misfire_threshold`] is missed, and its job's
//! misfire policy decides whether it still fires. On a store of one node there is a second
//! rule: a tick due before the engine started was due while no scheduler ran (this node is the
//! only one), so it is missed however recently it fell due, and a restart after a few seconds
//! of downtime fires what the policies keep, not every tick of the downtime at once. On a
//! shared store the threshold alone applies: one node starting says nothing of the others,
//! which may have fired those ticks or merely be behind.
//!
//! [`ClaimRequest::missed_before`]: crate::ClaimRequest::missed_before

use std::time::Duration;

use cron_expr::Timestamp;

use crate::engine::EngineConfig;
use crate::time;

/// The rule for where missed ticks end, fixed when the engine starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MisfireCut {
    /// [`EngineConfig::misfire_threshold`].
    threshold: Duration,
    /// On a store that is not shared, the instant the engine started; `None` on a shared
    /// store.
    down_until: Option<Timestamp>,
}

impl MisfireCut {
    /// The rule of an engine under `config` that started at `started`, on a store that is
    /// `shared` or not.
    pub(crate) fn new(config: &EngineConfig, started: Timestamp, shared: bool) -> MisfireCut {
        MisfireCut {
            threshold: config.misfire_threshold,
            down_until: (!shared).then_some(started),
        }
    }

    /// The instant before which a job's ticks are missed for a claim (or a recovery) at
    /// `now`: `now - threshold`, or the engine's start if that is later (a store of one node),
    /// and never after `now`.
    pub(crate) fn missed_before(&self, now: Timestamp) -> Timestamp {
        let by_threshold = time::sub(now, self.threshold);
        match self.down_until {
            Some(started) => by_threshold.max(started.min(now)),
            None => by_threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + seconds).expect("a valid timestamp")
    }

    fn cut(started: i64, shared: bool) -> MisfireCut {
        let config = EngineConfig {
            misfire_threshold: Duration::from_secs(10),
            ..EngineConfig::default()
        };
        MisfireCut::new(&config, at(started), shared)
    }

    #[test]
    fn the_later_of_the_threshold_and_the_start_on_a_store_of_one_node() {
        let single = cut(100, false);
        assert_eq!(single.missed_before(at(100)), at(100));
        assert_eq!(single.missed_before(at(105)), at(100));
        assert_eq!(single.missed_before(at(110)), at(100));
        assert_eq!(single.missed_before(at(125)), at(115));
        // A clock set back before the start never moves the cut past `now`.
        assert_eq!(single.missed_before(at(95)), at(95));
    }

    #[test]
    fn the_threshold_alone_on_a_shared_store() {
        let shared = cut(100, true);
        assert_eq!(shared.missed_before(at(100)), at(90));
        assert_eq!(shared.missed_before(at(125)), at(115));
    }
}
