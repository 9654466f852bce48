//! Saturating arithmetic between [`Timestamp`] and [`std::time::Duration`].

use std::time::Duration;

use cron_expr::Timestamp;

/// `t + d`, saturating at the largest timestamp.
pub(crate) fn add(t: Timestamp, d: Duration) -> Timestamp {
    let nanos = t.as_nanosecond().saturating_add(d.as_nanos() as i128);
    Timestamp::from_nanosecond(nanos).unwrap_or(Timestamp::MAX)
}

/// `t - d`, saturating at the smallest timestamp.
pub(crate) fn sub(t: Timestamp, d: Duration) -> Timestamp {
    let nanos = t.as_nanosecond().saturating_sub(d.as_nanos() as i128);
    Timestamp::from_nanosecond(nanos).unwrap_or(Timestamp::MIN)
}

/// `later - earlier`, or zero when `later` is not later.
pub(crate) fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    let nanos = later.as_nanosecond() - earlier.as_nanosecond();
    if nanos <= 0 {
        Duration::ZERO
    } else {
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The first instant after `t` of the grid `offset + k * interval` (k any integer, counted
/// from the Unix epoch). `interval` must not be zero.
pub(crate) fn next_on_grid(t: Timestamp, interval: Duration, offset: Duration) -> Timestamp {
    let interval = interval.as_nanos().max(1) as i128;
    let offset = offset.as_nanos() as i128 % interval;
    let since_origin = t.as_nanosecond() - offset;
    let next = (since_origin.div_euclid(interval) + 1) * interval + offset;
    Timestamp::from_nanosecond(next).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(millis).expect("a valid timestamp")
    }

    #[test]
    fn next_on_grid_is_strictly_after_and_on_the_grid() {
        let second = Duration::from_secs(1);
        let half = Duration::from_millis(500);
        assert_eq!(next_on_grid(at(10_200), second, half), at(10_500));
        assert_eq!(next_on_grid(at(10_500), second, half), at(11_500));
        assert_eq!(next_on_grid(at(10_700), second, half), at(11_500));
        assert_eq!(next_on_grid(at(-300), second, half), at(500));
        assert_eq!(next_on_grid(at(-700), second, half), at(-500));
        let two = Duration::from_secs(2);
        assert_eq!(next_on_grid(at(10_600), two, half), at(12_500));
        assert_eq!(next_on_grid(at(10_400), two, half), at(10_500));
        // An offset of a whole interval or more wraps around.
        assert_eq!(
            next_on_grid(at(10_200), second, Duration::from_millis(1_500)),
            at(10_500)
        );
    }
}
