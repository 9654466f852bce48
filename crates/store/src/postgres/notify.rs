//! Job changes between nodes: `NOTIFY` on every update and delete, and one `LISTEN`ing
//! connection per store that turns the notifications into [`JobNotice`]s.
//!
//! The channel is named after the schema the tables live in, so that schedulers on different
//! schemas of one database do not hear each other. A notification is sent in the transaction
//! of its change and delivered when it commits. The listening connection has TCP keepalives of
//! a few seconds, so a connection lost without a word (a partition) is noticed; it reconnects
//! every second until it succeeds, and after each connection it says [`JobNotice::Resync`]:
//! what was changed while it was not listening is read again.

use std::time::Duration;

use scheduler_core::{JobId, JobNotice};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use super::PostgresStore;

/// The prefix of the channel's name; the schema's name follows.
const CHANNEL_PREFIX: &str = "scheduler_jobs_";

/// PostgreSQL's longest identifier, in bytes: a longer channel name is refused.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// How long the listener waits before it connects again after losing its connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The channel of the tables in `schema`: its name, cut to an identifier's length.
pub(super) fn channel_name(schema: &str) -> String {
    let mut name = format!("{CHANNEL_PREFIX}{schema}");
    while name.len() > MAX_IDENTIFIER_BYTES {
        name.pop();
    }
    name
}

/// The keepalives of the listening connection: an idle connection whose server went silent is
/// given up after about 10 + 3 × 5 seconds.
pub(super) fn listen_config(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    config
}

impl PostgresStore {
    /// Starts the listener (on the caller's runtime) and returns its notices.
    pub(super) fn listen_for_job_changes(&self) -> mpsc::UnboundedReceiver<JobNotice> {
        let (notices, feed) = mpsc::unbounded_channel();
        tokio::spawn(listen(
            self.listen_config.clone(),
            self.channel.clone(),
            self.target.clone(),
            notices,
        ));
        feed
    }
}

/// Listens until nobody reads the notices, connecting again whenever the connection is lost.
/// A failure is logged once, until a connection listens again.
async fn listen(
    config: tokio_postgres::Config,
    channel: String,
    target: String,
    notices: mpsc::UnboundedSender<JobNotice>,
) {
    let mut reported = false;
    loop {
        let outcome = listen_once(&config, &channel, &notices, &mut reported).await;
        if notices.is_closed() {
            return;
        }
        if !reported {
            match outcome {
                Ok(()) => log::warn!(
                    "listening for job changes on {target}: the connection closed; connecting again"
                ),
                Err(error) => log::warn!(
                    "listening for job changes on {target} failed, trying again every \
                     {RECONNECT_DELAY:?}; meanwhile changes made through other nodes reach this \
                     one only through its next claims: {error}"
                ),
            }
            reported = true;
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// One connection: `LISTEN`, a resync, then every notification until the connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    notices: &mpsc::UnboundedSender<JobNotice>,
    reported: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let forward = notices.clone();
    // The connection does its work (the `LISTEN` below among it) only while polled.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    let Ok(id) = Uuid::parse_str(notification.payload()) else {
                        log::warn!(
                            "a job change notice that is not a job id: {:?}",
                            notification.payload()
                        );
                        continue;
                    };
                    if forward.send(JobNotice::Changed(JobId(id))).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN \"{channel}\"")).await;
    if let Err(error) = listening {
        driver.abort();
        return Err(error);
    }
    if std::mem::take(reported) {
        log::info!("listening for job changes again");
    }
    let _ = notices.send(JobNotice::Resync);
    let ended = driver.await;
    drop(client);
    match ended {
        Ok(result) => result,
        // Aborted or panicked: nothing more to hear on this connection.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_named_after_its_schema_and_never_longer_than_an_identifier() {
        assert_eq!(channel_name("public"), "scheduler_jobs_public");
        let long = "s".repeat(80);
        let name = channel_name(&long);
        assert_eq!(name.len(), MAX_IDENTIFIER_BYTES);
        assert!(name.starts_with(CHANNEL_PREFIX));
    }
}
