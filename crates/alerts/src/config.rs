//! The webhook sink's configuration.

use std::time::Duration;

use executor::{SigningSecret, TargetPolicy};

/// How a [`WebhookAlertSink`](crate::WebhookAlertSink) delivers. Every field is public; start
/// from [`WebhookConfig::new`] and override what differs.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where every batch is POSTed (`http://` or `https://`).
    pub url: String,
    /// Extra request headers, for example `Authorization`. Never logged.
    pub headers: Vec<(String, String)>,
    /// How many alerts may wait for delivery. When the queue is full, new alerts are dropped
    /// and counted.
    pub queue_capacity: usize,
    /// How long a batch stays open after its first alert, collecting the alerts that follow.
    pub batch_window: Duration,
    /// The most alerts in one POST; a full batch is sent without waiting for the window.
    pub max_batch_size: usize,
    /// POSTs of one batch in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// The delay before the first retry; it doubles after each failed POST.
    pub initial_backoff: Duration,
    /// The longest delay between two POSTs of one batch.
    pub max_backoff: Duration,
    /// How long one POST may take: connect, TLS, and the whole response.
    pub request_timeout: Duration,
    /// The shortest time between two log lines about dropped alerts.
    pub drop_log_interval: Duration,
    /// The `User-Agent` of the POSTs.
    pub user_agent: String,
    /// Root certificates trusted besides the web PKI roots, as PEM text.
    pub extra_root_certificates_pem: Vec<String>,
    /// Which addresses the POSTs may connect to; `None` allows every address (the operator
    /// chose the URL). Jobs' own webhooks, which API clients choose, go through the server's
    /// target policy.
    pub target_policy: Option<TargetPolicy>,
    /// The secrets that sign each POST with an `X-Scheduler-Signature` header, as job requests
    /// are signed (the current secret first); empty sends no signature. Never logged.
    pub signing_secrets: Vec<SigningSecret>,
}

impl std::fmt::Debug for WebhookConfig {
    /// Header values are credentials: shown as `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "***"))
            .collect();
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_window", &self.batch_window)
            .field("max_batch_size", &self.max_batch_size)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("request_timeout", &self.request_timeout)
            .field("drop_log_interval", &self.drop_log_interval)
            .field("user_agent", &self.user_agent)
            .field(
                "extra_root_certificates_pem",
                &self.extra_root_certificates_pem.len(),
            )
            .field("target_policy", &self.target_policy)
            .field("signing_secrets", &self.signing_secrets.len())
            .finish()
    }
}

impl WebhookConfig {
    /// The defaults for `url`: a queue of 10,000 alerts, batches of up to 100 alerts collected
    /// over 1 s, 5 attempts with backoff from 1 s to 30 s, 10 s per POST, at most one drop
    /// report every 10 s.
    pub fn new(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            headers: Vec::new(),
            queue_capacity: 10_000,
            batch_window: Duration::from_secs(1),
            max_batch_size: 100,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            drop_log_interval: Duration::from_secs(10),
            user_agent: concat!("scheduler/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_root_certificates_pem: Vec::new(),
            target_policy: None,
            signing_secrets: Vec::new(),
        }
    }
}

/// How a [`JobWebhookAlertSink`](crate::JobWebhookAlertSink) delivers jobs' own alerts: one
/// webhook sink per destination URL, each as [`webhook`](Self::webhook) says, and at most
/// [`max_destinations`](Self::max_destinations) of them at once. A job's alerts are signed with
/// the job's own secrets when it has any, else with [`webhook`](Self::webhook)'s
/// `signing_secrets`. Start from [`JobWebhookConfig::default`] and override what differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobWebhookConfig {
    /// The most destinations with a sink at once. A new destination takes the place of the
    /// least recently used idle one (nothing queued or being sent); when none is idle, its
    /// alert is dropped and counted.
    pub max_destinations: usize,
    /// The settings of each destination's sink; its `url` is replaced by the destination's,
    /// and its `queue_capacity` bounds what one destination may hold.
    pub webhook: WebhookConfig,
}

impl Default for JobWebhookConfig {
    /// 256 destinations, each with a queue of 100 alerts (so at most 25,600 alerts wait in
    /// all), and otherwise [`WebhookConfig::new`]'s defaults with the target policy's defaults.
    fn default() -> JobWebhookConfig {
        let mut webhook = WebhookConfig::new("");
        webhook.queue_capacity = 100;
        webhook.target_policy = Some(TargetPolicy::default());
        JobWebhookConfig {
            max_destinations: 256,
            webhook,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_never_show_in_debug_output() {
        let mut config = WebhookConfig::new("https://alerts.example/hook");
        config
            .headers
            .push(("Authorization".to_owned(), "Bearer hunter2".to_owned()));
        config.signing_secrets = vec![SigningSecret::new("whsec_hunter3")];
        let shown = format!("{config:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("hunter3"), "{shown}");
    }
}
