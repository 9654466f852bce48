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
