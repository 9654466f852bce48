//! A job's own alert settings: where its failure streaks (and recoveries) are reported.

/// The most consecutive failed executions [`JobAlertSettings::after_failures`] may ask for.
pub const MAX_ALERT_AFTER_FAILURES: u32 = 100;

/// A job's own alert: a webhook told when the job's executions have failed
/// `after_failures` times in a row, once per streak, and (with `on_recovery`) again when the
/// job succeeds after such a streak.
///
/// The engine decides from the stored history, not from counters in memory, so the count is
/// the same on every node and across restarts (see `docs/ALERTS.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAlertSettings {
    /// Where the alerts are POSTed (`http://` or `https://`, no user info), through the
    /// server's target policy.
    pub webhook_url: String,
    /// How many finished executions in a row must fail before the alert is raised: 1 to
    /// [`MAX_ALERT_AFTER_FAILURES`].
    pub after_failures: u32,
    /// Whether the first success after an alerted streak raises a recovery alert.
    pub on_recovery: bool,
}

impl JobAlertSettings {
    /// The consecutive failures of a spec that does not say.
    pub const DEFAULT_AFTER_FAILURES: u32 = 1;

    /// Settings for `webhook_url` with the defaults: alert after the first failure of a
    /// streak, no recovery alert.
    pub fn new(webhook_url: impl Into<String>) -> JobAlertSettings {
        JobAlertSettings {
            webhook_url: webhook_url.into(),
            after_failures: JobAlertSettings::DEFAULT_AFTER_FAILURES,
            on_recovery: false,
        }
    }
}
