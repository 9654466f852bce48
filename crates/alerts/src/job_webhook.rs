//! Jobs' own webhooks: one coalescing [`WebhookAlertSink`] per destination URL, started on the
//! first alert to it, at most [`JobWebhookConfig::max_destinations`] of them at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use executor::{SigningSecret, signing_secrets_for};
use scheduler_core::{BoxFuture, JobAlert, JobAlertSink, Timestamp};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{JobWebhookConfig, WebhookConfig};
use crate::payload::AlertRecord;
use crate::webhook::{WebhookAlertSink, WebhookStats, WebhookWorker};

/// A [`JobAlertSink`] that POSTs each job alert to its job's webhook URL, through one
/// [`WebhookAlertSink`] per destination: alerts to one destination are coalesced into batches,
/// queued in a bounded queue, and retried, exactly as the server-wide webhook's (see the
/// [crate documentation](crate)).
///
/// **Signed.** Each POST carries `X-Scheduler-Signature`, signed with the job's own secrets
/// when it has any, else with the configuration's (the server's). A destination is a URL and
/// the secrets that sign for it, so one batch never mixes alerts of jobs with different
/// secrets.
///
/// **Bounded.** At most [`max_destinations`](JobWebhookConfig::max_destinations) sinks exist at
/// once, each holding at most its `queue_capacity` alerts, so that any number of jobs with any
/// number of webhook URLs holds a bounded amount of memory. A new URL takes the place of the
/// least recently used idle sink (nothing queued or being sent; its task ends by itself); when
/// every sink is busy, the alert is dropped and counted in
/// [`JobWebhookStats::dropped_no_room`].
///
/// Cheap to clone; every clone is the same sink. Keep one for [`JobWebhookAlertSink::shutdown`].
#[derive(Clone, Debug)]
pub struct JobWebhookAlertSink {
    inner: Arc<Inner>,
}

/// Counters of a [`JobWebhookAlertSink`], since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobWebhookStats {
    /// Destinations with a sink now.
    pub destinations: usize,
    /// Destinations whose sink was retired to make room for another.
    pub retired_destinations: u64,
    /// Alerts dropped because every destination's sink was busy and no new one could start.
    pub dropped_no_room: u64,
    /// Alerts dropped because the destination's sink could not start (its URL was refused).
    pub dropped_bad_destination: u64,
    /// The destinations' counters, summed (retired destinations included).
    pub webhooks: WebhookStats,
}

impl JobWebhookAlertSink {
    /// A sink with no destination yet; each starts on its first alert, on the Tokio runtime
    /// of the caller of [`deliver_job_alert`](JobAlertSink::deliver_job_alert).
    pub fn new(config: JobWebhookConfig) -> JobWebhookAlertSink {
        JobWebhookAlertSink {
            inner: Arc::new(Inner {
                config,
                destinations: Mutex::default(),
                dropped_no_room: AtomicU64::new(0),
                dropped_bad_destination: AtomicU64::new(0),
            }),
        }
    }

    /// Queues `alert` for its webhook without waiting; returns whether it was queued.
    pub fn enqueue(&self, alert: JobAlert) -> bool {
        let key = DestinationKey {
            url: alert.webhook_url.trim().to_owned(),
            signing_secrets: signing_secrets_for(
                &alert.signing_secrets,
                &self.inner.config.webhook.signing_secrets,
            )
            .into_owned(),
        };
        let record = AlertRecord::from_job_alert(alert, Timestamp::now());
        let mut destinations = self.inner.lock();
        if let Some(destination) = destinations.live.get_mut(&key) {
            destination.last_used = Instant::now();
            return destination.sink.enqueue_record(record);
        }
        if destinations.live.len() >= self.inner.config.max_destinations.max(1)
            && !destinations.retire_one_idle()
        {
            let dropped = self.inner.dropped_no_room.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per doubling: a storm of drops does not flood the log.
            if dropped.is_power_of_two() {
                log::warn!(
                    "job alerts: {} webhook destinations busy, no room for another; {dropped} alert(s) dropped so far",
                    destinations.live.len()
                );
            }
            return false;
        }
        let mut config: WebhookConfig = self.inner.config.webhook.clone();
        config.url = key.url.clone();
        config.signing_secrets = key.signing_secrets.clone();
        match WebhookAlertSink::start(config) {
            Ok((sink, worker)) => {
                let queued = sink.enqueue_record(record);
                destinations.live.insert(
                    key,
                    Destination {
                        sink,
                        worker,
                        last_used: Instant::now(),
                    },
                );
                queued
            }
            Err(error) => {
                self.inner
                    .dropped_bad_destination
                    .fetch_add(1, Ordering::Relaxed);
                log::error!("job alerts: cannot deliver to a job's webhook: {error}");
                false
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JobWebhookStats {
        let destinations = self.inner.lock();
        let mut webhooks = destinations.retired;
        for destination in destinations.live.values() {
            add(&mut webhooks, destination.worker.stats());
        }
        JobWebhookStats {
            destinations: destinations.live.len(),
            retired_destinations: destinations.retired_count,
            dropped_no_room: self.inner.dropped_no_room.load(Ordering::Relaxed),
            dropped_bad_destination: self.inner.dropped_bad_destination.load(Ordering::Relaxed),
            webhooks,
        }
    }

    /// Shuts every destination's sink down at once, as [`WebhookWorker::shutdown`] does with
    /// `grace`; alerts that come later start new sinks. Returns the final counters.
    pub async fn shutdown(&self, grace: Duration) -> JobWebhookStats {
        let (live, mut summed, retired_count) = {
            let mut destinations = self.inner.lock();
            let live: Vec<Destination> = destinations.live.drain().map(|(_, d)| d).collect();
            (live, destinations.retired, destinations.retired_count)
        };
        let mut shutdowns = JoinSet::new();
        for Destination { sink, worker, .. } in live {
            drop(sink);
            shutdowns.spawn(worker.shutdown(grace));
        }
        while let Some(stats) = shutdowns.join_next().await {
            if let Ok(stats) = stats {
                add(&mut summed, stats);
            }
        }
        self.inner.lock().retired = summed;
        JobWebhookStats {
            destinations: 0,
            retired_destinations: retired_count,
            dropped_no_room: self.inner.dropped_no_room.load(Ordering::Relaxed),
            dropped_bad_destination: self.inner.dropped_bad_destination.load(Ordering::Relaxed),
            webhooks: summed,
        }
    }
}

impl JobAlertSink for JobWebhookAlertSink {
    fn deliver_job_alert(&self, alert: JobAlert) -> BoxFuture<'static, ()> {
        self.enqueue(alert);
        Box::pin(std::future::ready(()))
    }
}

#[derive(Debug)]
struct Inner {
    config: JobWebhookConfig,
    destinations: Mutex<Destinations>,
    dropped_no_room: AtomicU64,
    dropped_bad_destination: AtomicU64,
}

impl Inner {
    /// The destinations; a poisoned lock is taken as is (its maps stay consistent: every
    /// change is one insert or remove).
    fn lock(&self) -> MutexGuard<'_, Destinations> {
        self.destinations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a job's alert goes: its webhook URL, and the secrets that sign for it (their `Debug`
/// form hides them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DestinationKey {
    url: String,
    signing_secrets: Vec<SigningSecret>,
}

#[derive(Debug, Default)]
struct Destinations {
    live: HashMap<DestinationKey, Destination>,
    /// The final counters of retired destinations, summed.
    retired: WebhookStats,
    retired_count: u64,
}

impl Destinations {
    /// Retires the least recently used idle destination: its sink is dropped, so its task
    /// (with nothing queued) ends by itself. `false` when none is idle.
    fn retire_one_idle(&mut self) -> bool {
        let oldest = self
            .live
            .iter()
            .filter(|(_, destination)| destination.sink.is_idle())
            .min_by_key(|(_, destination)| destination.last_used)
            .map(|(key, _)| key.clone());
        let Some(destination) = oldest.and_then(|key| self.live.remove(&key)) else {
            return false;
        };
        add(&mut self.retired, destination.worker.stats());
        self.retired_count += 1;
        true
    }
}

#[derive(Debug)]
struct Destination {
    sink: WebhookAlertSink,
    worker: WebhookWorker,
    last_used: Instant,
}

fn add(total: &mut WebhookStats, more: WebhookStats) {
    total.delivered_alerts += more.delivered_alerts;
    total.delivered_batches += more.delivered_batches;
    total.failed_posts += more.failed_posts;
    total.abandoned_alerts += more.abandoned_alerts;
    total.dropped_alerts += more.dropped_alerts;
}
