//! `Retry-After` (RFC 9110, section 10.2.3): delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` value into a delay from `now`.
///
/// Accepts delta-seconds (`120`) and the three HTTP-date forms (IMF-fixdate, RFC 850 and
/// asctime). A date in the past means "now" (zero). Anything else is `None`: a malformed hint
/// is ignored rather than failing the attempt.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Values too large for u64 are clamped: the engine caps the delay anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: Option<u64>) {
        // 2015-10-21T07:28:00Z, the example of RFC 9110.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(value, now),
            expected.map(Duration::from_secs),
            "{value:?}"
        );
    }

    #[test]
    fn parses_delta_seconds_and_dates() {
        check("120", Some(120));
        check(" 0 ", Some(0));
        check("007", Some(7));
        check("99999999999999999999999", Some(u64::MAX));
        check("Wed, 21 Oct 2015 07:28:00 GMT", Some(0));
        check("Wed, 21 Oct 2015 07:30:00 GMT", Some(120));
        check("Wednesday, 21-Oct-15 07:29:00 GMT", Some(60));
        check("Wed Oct 21 07:28:30 2015", Some(30));
        check("Wed, 21 Oct 2015 07:00:00 GMT", Some(0));
        check("", None);
        check("-5", None);
        check("1.5", None);
        check("soon", None);
        check("Wed, 21 Oct 2015 07:28:00 CET", None);
    }
}
