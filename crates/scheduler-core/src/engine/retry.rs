//! Classifying attempt results and computing retry delays: pure functions.

use std::time::Duration;

use crate::domain::RetryPolicy;
use crate::transport::{AttemptError, AttemptOutcome};

/// What one attempt's result means for its execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A 2xx answer, or a success without HTTP (no status).
    Success { http_status: Option<u16> },
    /// A failure; `retryable` says whether another attempt may help.
    Failure {
        retryable: bool,
        http_status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// 2xx succeeds, as does a success without HTTP ([`AttemptOutcome::NOT_HTTP`]); 408, 429, 5xx, timeouts, connect and protocol errors are retryable; every
/// other answer (other 4xx, 1xx, 3xx: redirects are not followed) and TLS or request errors are
/// final.
pub(crate) fn classify(result: &Result<AttemptOutcome, AttemptError>) -> Verdict {
    match result {
        Ok(outcome) if outcome.status == AttemptOutcome::NOT_HTTP => {
            Verdict::Success { http_status: None }
        }
        Ok(outcome) if (200..300).contains(&outcome.status) => Verdict::Success {
            http_status: Some(outcome.status),
        },
        Ok(outcome) => Verdict::Failure {
            retryable: matches!(outcome.status, 408 | 429 | 500..=599),
            http_status: Some(outcome.status),
            error: format!("http status {}", outcome.status),
            retry_after: outcome.retry_after,
        },
        Err(error) => Verdict::Failure {
            retryable: error.is_retryable(),
            http_status: None,
            error: error.to_string(),
            retry_after: None,
        },
    }
}

/// The delay after failed attempt number `failed_attempt` (1-based):
/// `initial * multiplier^(n-1)`, capped at `max_backoff`, times a random factor in
/// `[1 - jitter, 1 + jitter]`, capped again.
pub(crate) fn backoff(
    policy: &RetryPolicy,
    failed_attempt: u32,
    rng: &mut fastrand::Rng,
) -> Duration {
    let exponent = failed_attempt.saturating_sub(1).min(1_000) as i32;
    let max = policy.max_backoff.as_secs_f64();
    let base = (policy.initial_backoff.as_secs_f64() * policy.multiplier.powi(exponent)).min(max);
    let factor = 1.0 + policy.jitter * (2.0 * rng.f64() - 1.0);
    Duration::from_secs_f64((base * factor).clamp(0.0, max))
}

/// The delay before the next attempt: the [`backoff`], or longer when the target asked for
/// more with `Retry-After`, but never longer than the policy's `max_backoff` nor
/// `max_retry_after`. A target cannot hold an execution (and its backlog slot) longer than
/// the job's own policy allows.
pub(crate) fn retry_delay(
    policy: &RetryPolicy,
    failed_attempt: u32,
    retry_after: Option<Duration>,
    max_retry_after: Duration,
    rng: &mut fastrand::Rng,
) -> Duration {
    let delay = backoff(policy, failed_attempt, rng);
    match retry_after {
        Some(asked) => delay.max(asked.min(policy.max_backoff).min(max_retry_after)),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            multiplier: 3.0,
            jitter,
        }
    }

    #[test]
    fn backoff_grows_geometrically_then_caps() {
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<u128> = (1..=5)
            .map(|n| backoff(&policy(0.0), n, &mut rng).as_millis())
            .collect();
        assert_eq!(delays, [500, 1500, 4500, 5000, 5000]);
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_the_cap() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..1_000 {
            let first = backoff(&policy(0.2), 1, &mut rng);
            assert!(first >= Duration::from_millis(400) && first <= Duration::from_millis(600));
            assert!(backoff(&policy(0.2), 9, &mut rng) <= Duration::from_secs(5));
        }
    }

    #[test]
    fn retry_after_lengthens_the_delay_up_to_the_max_backoff() {
        let hour = Duration::from_secs(3_600);
        let check = |asked: Option<u64>, max_retry_after: Duration, expected_ms: u128| {
            let mut rng = fastrand::Rng::with_seed(7);
            let asked = asked.map(Duration::from_secs);
            let delay = retry_delay(&policy(0.0), 1, asked, max_retry_after, &mut rng);
            assert_eq!(delay.as_millis(), expected_ms, "{asked:?}");
        };
        check(None, hour, 500);
        check(Some(0), hour, 500);
        check(Some(2), hour, 2_000);
        check(Some(5), hour, 5_000);
        // More than the job's max backoff (5 s): cut to it.
        check(Some(60), hour, 5_000);
        check(Some(u64::MAX / 2), hour, 5_000);
        // The engine's own cap applies too.
        check(Some(60), Duration::from_secs(3), 3_000);
    }

    fn check(result: Result<AttemptOutcome, AttemptError>, success: bool, retryable: bool) {
        match classify(&result) {
            Verdict::Success { .. } => assert!(success, "{result:?} succeeded"),
            Verdict::Failure { retryable: r, .. } => {
                assert!(!success, "{result:?} failed");
                assert_eq!(r, retryable, "{result:?} retryable");
            }
        }
    }

    fn status(code: u16) -> Result<AttemptOutcome, AttemptError> {
        Ok(AttemptOutcome {
            status: code,
            duration: Duration::ZERO,
            retry_after: None,
        })
    }

    #[test]
    fn classification() {
        check(status(200), true, false);
        check(Ok(AttemptOutcome::delivered(Duration::ZERO)), true, false);
        assert_eq!(
            classify(&Ok(AttemptOutcome::delivered(Duration::ZERO))),
            Verdict::Success { http_status: None }
        );
        assert_eq!(
            classify(&status(204)),
            Verdict::Success {
                http_status: Some(204)
            }
        );
        check(status(204), true, false);
        check(status(301), false, false);
        check(status(400), false, false);
        check(status(404), false, false);
        check(status(408), false, true);
        check(status(429), false, true);
        check(status(500), false, true);
        check(status(503), false, true);
        check(Err(AttemptError::Timeout), false, true);
        check(Err(AttemptError::Connect("refused".into())), false, true);
        check(Err(AttemptError::Protocol("reset".into())), false, true);
        check(
            Err(AttemptError::Tls("bad certificate".into())),
            false,
            false,
        );
        check(
            Err(AttemptError::InvalidRequest("bad header".into())),
            false,
            false,
        );
    }
}
