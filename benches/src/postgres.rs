//! Runs against PostgreSQL (`harness run --postgres URL`): a schema of the run's own in the
//! given database, the scheduler pointed at it, its executions read back for the tally, and
//! what the database server spent (CPU of its processes, WAL bytes) over the window.

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

use crate::ticks::Tally;

/// A schema made for one run, dropped by [`PostgresRun::finish`].
pub(crate) struct PostgresRun {
    url: String,
    schema: String,
    client: Client,
    connection: tokio::task::JoinHandle<()>,
}

/// What the database server had spent at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerUsage {
    /// User plus system CPU seconds of every `postgres` process on this machine.
    pub(crate) cpu_seconds: f64,
    /// WAL bytes the server has written (`pg_stat_wal`, PostgreSQL 14 and later).
    pub(crate) wal_bytes: i64,
}

impl PostgresRun {
    /// Connects to `url` and makes a schema of the run's own there.
    pub(crate) async fn start(url: &str) -> anyhow::Result<PostgresRun> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .with_context(|| format!("connecting to --postgres {}", without_password(url)))?;
        let connection = tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("harness: PostgreSQL connection: {error}");
            }
        });
        let schema = format!("harness_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .with_context(|| format!("creating the schema {schema}"))?;
        Ok(PostgresRun {
            url: url.to_owned(),
            schema,
            client,
            connection,
        })
    }

    /// The `--db` that points the scheduler at the run's schema (through libpq's `options`).
    pub(crate) fn scheduler_url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.schema
        )
    }

    /// What the server has spent so far.
    pub(crate) async fn usage(&self) -> anyhow::Result<ServerUsage> {
        let wal_bytes: i64 = self
            .client
            .query_one("SELECT wal_bytes::bigint FROM pg_stat_wal", &[])
            .await
            .context("reading pg_stat_wal")?
            .get(0);
        Ok(ServerUsage {
            cpu_seconds: postgres_cpu_seconds(),
            wal_bytes,
        })
    }

    /// Adds the executions of ticks in `[start_ms, end_ms)` to `tally`.
    pub(crate) async fn read_executions(
        &self,
        start_ms: i64,
        end_ms: i64,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT job_id::text, scheduled_time, status FROM {}.job_executions \
                     WHERE scheduled_time >= $1 AND scheduled_time < $2",
                    self.schema
                ),
                &[&start_ms, &end_ms],
            )
            .await
            .context("reading the executions")?;
        for row in rows {
            let job: String = row.get(0);
            let scheduled_ms: i64 = row.get(1);
            let status: String = row.get(2);
            tally.add_row(
                uuid::Uuid::parse_str(&job)?.as_u128(),
                scheduled_ms,
                &status,
            );
        }
        Ok(())
    }

    /// Drops the run's schema, and with it everything the scheduler stored.
    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        self.client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .with_context(|| format!("dropping the schema {}", self.schema))?;
        drop(self.client);
        let _ = self.connection.await;
        Ok(())
    }
}

/// CPU seconds of every process named `postgres` (the server and its backends).
fn postgres_cpu_seconds() -> f64 {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    processes
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "postgres")
        })
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            crate::procstat::process(pid).map(|usage| usage.cpu_seconds)
        })
        .sum()
}

/// `url` with its password, if any, replaced, for messages.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if scheme + 3 < at => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_a_password() {
        assert_eq!(
            without_password("postgres://user:secret@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(
            without_password("postgres://user@host/db"),
            "postgres://user@host/db"
        );
    }
}
