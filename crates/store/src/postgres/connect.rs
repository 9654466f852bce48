//! Connecting: the pool, the server check, the schema and the migrations.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::schema::{LATEST_VERSION, MIGRATION_LOCK, MIGRATIONS, VERSION_TABLE};
use super::{PostgresConfig, PostgresStore};
use crate::StoreError;

/// The oldest server this store is meant for (PostgreSQL 12).
const MIN_SERVER_VERSION: i32 = 120_000;

impl PostgresStore {
    /// Connects, checks the server, runs the migrations (under an advisory lock), and returns
    /// the store.
    ///
    /// With [`PostgresConfig::schema`] set, the schema is created if missing and every
    /// connection uses it as its `search_path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidConfig`] for a URL that does not parse or a setting out of range,
    /// [`StoreError::PostgresConnect`] when the server cannot be reached or refuses the
    /// connection, [`StoreError::PostgresServer`] for a server too old or read-only,
    /// [`StoreError::PostgresSetup`], [`StoreError::PostgresMigration`] or
    /// [`StoreError::PostgresTooNew`] when the schema cannot be brought up to date.
    pub async fn connect(config: &PostgresConfig) -> Result<PostgresStore, StoreError> {
        check_settings(config)?;
        let mut pg_config: tokio_postgres::Config =
            config.url.parse().map_err(|error: tokio_postgres::Error| {
                StoreError::InvalidConfig {
                    setting: "url",
                    message: error.to_string(),
                }
            })?;
        let target = describe(&pg_config);
        pg_config.connect_timeout(config.connect_timeout);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("scheduler");
        }
        if let Some(schema) = &config.schema {
            let options = match pg_config.get_options() {
                Some(options) => format!("{options} -c search_path={schema}"),
                None => format!("-c search_path={schema}"),
            };
            pg_config.options(&options);
        }
        let listen_config = super::notify::listen_config(pg_config.clone());
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|error| StoreError::PostgresConnect {
                target: target.clone(),
                source: Box::new(error),
            })?;
        let mut client = pool
            .get()
            .await
            .map_err(|error| StoreError::PostgresConnect {
                target: target.clone(),
                source: match error {
                    // The client's own error says why (refused, unknown host, authentication).
                    deadpool_postgres::PoolError::Backend(error) => Box::new(error),
                    other => Box::new(other),
                },
            })?;
        check_server(&client, &target).await?;
        if let Some(schema) = &config.schema {
            create_schema(&mut client, schema, &target).await?;
        }
        migrate(&mut client, &target).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(|source| StoreError::PostgresSetup {
                target: target.clone(),
                what: "reading the current schema",
                source,
            })?
            .get(0);
        drop(client);
        Ok(PostgresStore {
            pool,
            target,
            prune_batch: config.prune_batch,
            channel: super::notify::channel_name(&schema),
            listen_config,
        })
    }
}

/// `user@host:port/database`: where the store connects, for messages, without the password.
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("{user}{host}:{port}/{database}")
}

fn check_settings(config: &PostgresConfig) -> Result<(), StoreError> {
    let invalid = |setting, message: &str| StoreError::InvalidConfig {
        setting,
        message: message.to_owned(),
    };
    if config.max_connections == 0 {
        return Err(invalid("max_connections", "must be at least 1"));
    }
    if config.prune_batch == 0 {
        return Err(invalid("prune_batch", "must be at least 1"));
    }
    if let Some(schema) = &config.schema {
        let mut chars = schema.chars();
        let valid = schema.len() <= 63
            && chars
                .next()
                .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::InvalidConfig {
                setting: "schema",
                message: format!(
                    "{schema:?} is not a plain schema name (lowercase letters, digits and _, not starting with a digit, at most 63 bytes)"
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a server too old for the store's statements, or one that cannot take writes.
async fn check_server(client: &tokio_postgres::Client, target: &str) -> Result<(), StoreError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, pg_is_in_recovery()",
            &[],
        )
        .await
        .map_err(|source| StoreError::PostgresSetup {
            target: target.to_owned(),
            what: "checking the server",
            source,
        })?;
    let version: i32 = row.get(0);
    let in_recovery: bool = row.get(1);
    if version < MIN_SERVER_VERSION {
        return Err(StoreError::PostgresServer {
            target: target.to_owned(),
            message: format!("server version {version} is older than PostgreSQL 12"),
        });
    }
    if in_recovery {
        return Err(StoreError::PostgresServer {
            target: target.to_owned(),
            message: "it is a read-only standby; connect to the primary".to_owned(),
        });
    }
    Ok(())
}

/// Creates `schema` if missing, under the migration lock, since two `CREATE SCHEMA IF NOT
/// EXISTS` at once can still collide.
async fn create_schema(
    client: &mut tokio_postgres::Client,
    schema: &str,
    target: &str,
) -> Result<(), StoreError> {
    let setup = |source| StoreError::PostgresSetup {
        target: target.to_owned(),
        what: "creating the schema",
        source,
    };
    let transaction = client.transaction().await.map_err(setup)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(setup)?;
    // The name is checked to be a plain identifier (`check_settings`).
    transaction
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .await
        .map_err(setup)?;
    transaction.commit().await.map_err(setup)
}

/// Brings the schema to [`LATEST_VERSION`], one migration per transaction, each under the
/// advisory lock and re-reading the version, so that nodes starting at once apply each once.
async fn migrate(client: &mut tokio_postgres::Client, target: &str) -> Result<(), StoreError> {
    loop {
        let transaction =
            client
                .transaction()
                .await
                .map_err(|source| StoreError::PostgresSetup {
                    target: target.to_owned(),
                    what: "starting a migration",
                    source,
                })?;
        let found =
            current_version(&transaction)
                .await
                .map_err(|source| StoreError::PostgresSetup {
                    target: target.to_owned(),
                    what: "reading the schema version",
                    source,
                })?;
        if found > LATEST_VERSION {
            return Err(StoreError::PostgresTooNew {
                target: target.to_owned(),
                found,
                supported: LATEST_VERSION,
            });
        }
        let Some(migration) = usize::try_from(found)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            // Up to date: nothing was written, so ending the transaction cannot lose anything.
            let _ = transaction.rollback().await;
            return Ok(());
        };
        let next = found + 1;
        let failed = |source| StoreError::PostgresMigration {
            target: target.to_owned(),
            version: next,
            source,
        };
        transaction.batch_execute(migration).await.map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO scheduler_schema_version (version) VALUES ($1)",
                &[&next],
            )
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        log::info!("store: migrated the PostgreSQL database {target} to schema version {next}");
    }
}

/// Takes the migration lock, makes the version table if missing, and reads the version.
async fn current_version(
    transaction: &tokio_postgres::Transaction<'_>,
) -> Result<i32, tokio_postgres::Error> {
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    transaction.batch_execute(VERSION_TABLE).await?;
    let row = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM scheduler_schema_version",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_user_host_port_and_database_but_never_the_password() {
        let config: tokio_postgres::Config = "postgres://alice:s3cret@db.example:6543/jobs"
            .parse()
            .unwrap();
        assert_eq!(describe(&config), "alice@db.example:6543/jobs");
        let config: tokio_postgres::Config = "host=10.0.0.1 user=bob".parse().unwrap();
        assert_eq!(describe(&config), "bob@10.0.0.1:5432/bob");
    }

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        for (schema, valid) in [
            ("test_0a1b", true),
            ("_x", true),
            ("Upper", false),
            ("1abc", false),
            ("a;drop", false),
            ("a\"b", false),
            ("", false),
        ] {
            let mut config = PostgresConfig::new("postgres://localhost/db");
            config.schema = Some(schema.to_owned());
            assert_eq!(check_settings(&config).is_ok(), valid, "{schema:?}");
        }
    }
}
