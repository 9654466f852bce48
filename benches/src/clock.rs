//! Wall-clock helpers: the scheduler stamps ticks with the wall clock, so drift is measured on it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix nanoseconds.
pub(crate) fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
        })
}

/// Now, in Unix milliseconds.
pub(crate) fn unix_millis() -> i64 {
    unix_nanos() / 1_000_000
}

/// Sleeps until the wall clock reads `at_ms` (Unix milliseconds); at once if it has passed.
pub(crate) async fn sleep_until_unix_millis(at_ms: i64) {
    let wait = at_ms - unix_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// Durations like `60s`, `2s`, `50ms`, `1m 30s`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 60s, 50ms, 2m)"))?;
    Duration::try_from(signed).map_err(|_| format!("{text:?} must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert!(parse_duration("soon").is_err());
    }
}
