//! Spreading ticks: the deterministic offset by which a job's tick jitter
//! ([`JobSpec::tick_jitter`]) moves each of its scheduled ticks ([`tick_offset`]).
//!
//! The offset is a pure function of the job id, the tick's nominal instant, the jitter in force
//! and the job's next tick, so every node, every restart and every release computes the same
//! instant. docs/API.md ("jitterMs") gives the same recipe for clients.

use std::time::Duration;

use cron_expr::Timestamp;
use sha2::{Digest, Sha256};

use crate::domain::{JobId, JobSpec};
use crate::time;

/// The largest tick jitter a job or the server default may set: one hour.
pub const MAX_TICK_JITTER: Duration = Duration::from_secs(3_600);

/// The offset of the tick `tick` of job `job_id` under a jitter of `jitter`, where `next_tick`
/// is the job's next tick after it (`None` when the schedule has none):
///
/// 1. `span` is the jitter in whole milliseconds, capped at the milliseconds from the tick to
///    `next_tick` (when there is one). The cap keeps a job's ticks in their nominal order:
///    each fires before the next one's nominal instant.
/// 2. `hash` is the first 8 bytes, read big-endian as an unsigned 64-bit integer, of the
///    SHA-256 of the job id's 16 bytes (RFC 9562 order) followed by the tick's milliseconds
///    since the Unix epoch as a big-endian signed 64-bit integer.
/// 3. The offset is `hash mod span` milliseconds, in `[0, span)`; zero when `span` is zero.
pub fn tick_offset(
    job_id: JobId,
    tick: Timestamp,
    jitter: Duration,
    next_tick: Option<Timestamp>,
) -> Duration {
    let mut span = millis(jitter);
    if let Some(next) = next_tick {
        span = span.min(millis(time::since(next, tick)));
    }
    if span == 0 {
        return Duration::ZERO;
    }
    let mut hasher = Sha256::new();
    hasher.update(job_id.0.as_bytes());
    hasher.update(tick.as_millisecond().to_be_bytes());
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    Duration::from_millis(u64::from_be_bytes(first) % span)
}

/// The instant the scheduled tick `tick` of the job `job_id` with spec `spec` fires: the tick
/// moved by its [`tick_offset`] under the job's jitter, or `default_jitter` when the job sets
/// none. With no jitter it is `tick` itself, and costs no hashing.
pub fn tick_fire_instant(
    job_id: JobId,
    spec: &JobSpec,
    tick: Timestamp,
    default_jitter: Duration,
) -> Timestamp {
    let jitter = spec.tick_jitter.unwrap_or(default_jitter);
    if jitter.is_zero() {
        return tick;
    }
    let offset = tick_offset(job_id, tick, jitter, spec.next_fire_after(tick));
    time::add(tick, offset)
}

/// A duration in whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn job(n: u128) -> JobId {
        JobId(Uuid::from_u128(n))
    }

    fn instant(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(millis).expect("a timestamp")
    }

    /// A fixed case, so that a change of the function (which would move every jittered tick
    /// of every deployed job) fails here. Computed independently as
    /// `sha256(bytes.fromhex("000102030405060708090a0b0c0d0e0f") + (1800000000000).to_bytes(8, "big"))`,
    /// first 8 bytes big-endian, mod 60000.
    #[test]
    fn the_function_is_the_documented_one() {
        let id = JobId(Uuid::from_bytes([
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ]));
        let tick = instant(1_800_000_000_000);
        let offset = tick_offset(id, tick, Duration::from_secs(60), None);
        assert_eq!(offset, Duration::from_millis(EXPECTED_OFFSET_MS));
    }

    const EXPECTED_OFFSET_MS: u64 = 42_198;

    #[test]
    fn no_jitter_means_no_offset() {
        let tick = instant(1_800_000_000_000);
        assert_eq!(
            tick_offset(job(7), tick, Duration::ZERO, None),
            Duration::ZERO
        );
        assert_eq!(
            tick_offset(job(7), tick, Duration::from_micros(999), None),
            Duration::ZERO,
            "a jitter under a millisecond spreads nothing"
        );
    }

    #[test]
    fn the_offset_stays_before_the_next_tick() {
        let tick = instant(1_800_000_000_000);
        let next = instant(1_800_000_001_000);
        for n in 0..200 {
            let offset = tick_offset(job(n), tick, Duration::from_secs(3_600), Some(next));
            assert!(offset < Duration::from_secs(1), "{offset:?}");
        }
    }

    #[test]
    fn the_spread_is_roughly_uniform() {
        // 4,000 ticks into 4 quarters of the span: each quarter expects 1,000. A quarter
        // outside 800..1200 is more than 7 standard deviations off for a uniform spread, and
        // the inputs are fixed, so the test cannot flake.
        let jitter = Duration::from_secs(60);
        let mut quarters = [0_u32; 4];
        for n in 0..4_000_i64 {
            let tick = instant(1_800_000_000_000 + n * 60_000);
            let offset = tick_offset(job(42), tick, jitter, None);
            quarters[(offset.as_millis() * 4 / jitter.as_millis()) as usize] += 1;
        }
        for count in quarters {
            assert!((800..1_200).contains(&count), "{quarters:?}");
        }
    }

    proptest! {
        #[test]
        fn offsets_are_in_range_and_deterministic(
            id in any::<u128>(),
            tick_second in 0_i64..4_000_000_000,
            jitter_ms in 1_u64..=3_600_000,
            gap_s in proptest::option::of(1_i64..100_000),
        ) {
            let tick = instant(tick_second * 1_000);
            let next = gap_s.map(|gap| instant((tick_second + gap) * 1_000));
            let jitter = Duration::from_millis(jitter_ms);
            let offset = tick_offset(job(id), tick, jitter, next);
            prop_assert!(offset < jitter);
            if let Some(next) = next {
                prop_assert!(time::add(tick, offset) < next);
            }
            prop_assert_eq!(offset.subsec_nanos() % 1_000_000, 0, "whole milliseconds");
            prop_assert_eq!(offset, tick_offset(job(id), tick, jitter, next));
        }
    }
}
