//! The PostgreSQL store against a real server: core's conformance suite, and what only a
//! shared database has (two nodes claiming at once, concurrent migrations, connection errors).
//!
//! The server is `SCHEDULER_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! without it each test that needs one says it skipped, and passes. Each test works in a schema
//! of its own (`test_<random>`), dropped when it ends, so tests run in parallel and leave
//! nothing behind.

use std::collections::HashSet;
use std::time::Duration;

use scheduler_core::{
    ClaimRequest, ClaimStore, Execution, ExecutionId, ExecutionStatus, ExecutionTrigger,
    HistoryStore, JobId, JobNotice, JobStore, MembershipStore, NextFire, RecoveryStore,
    RetentionPolicy, RetentionStore, TakeOverRequest, Timestamp,
};
use store::{PostgresConfig, PostgresStore, StoreError};
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::support::{base_time, job};

const URL_VARIABLE: &str = "SCHEDULER_TEST_POSTGRES_URL";

/// A current-thread runtime with I/O, which the client's sockets need.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// The test server's URL, or `None` after saying that `test` skipped and why.
fn server_url(test: &str) -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: {URL_VARIABLE} is not set");
            None
        }
    }
}

/// A schema of the test's own, dropped (with everything in it) when the value is.
struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    fn new(url: &str) -> TestSchema {
        TestSchema {
            url: url.to_owned(),
            name: format!("test_{}", Uuid::new_v4().simple()),
        }
    }

    fn config(&self) -> PostgresConfig {
        let mut config = PostgresConfig::new(&self.url);
        config.schema = Some(self.name.clone());
        config.max_connections = 4;
        config
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // A thread with a runtime of its own: the test's runtime may be gone or inside
        // `block_on` here.
        let url = self.url.clone();
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let dropped = std::thread::spawn(move || {
            block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
                let connection = tokio::spawn(connection);
                // A test's leftover lock fails the drop rather than hanging the run.
                client.batch_execute("SET lock_timeout = '30s'").await?;
                client.batch_execute(&statement).await?;
                drop(client);
                connection.await.expect("the connection task")
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("cannot drop the test schema {}: {error}", self.name),
            Err(_) => eprintln!(
                "cannot drop the test schema {}: the thread panicked",
                self.name
            ),
        }
    }
}

/// A store on a schema of its own, and the runtime its connections live on. Fields drop in
/// order: the store, then the runtime (which closes its connections, ending any transaction
/// they hold), then the schema, whose `DROP` would otherwise wait for them.
struct Fixture {
    store: PostgresStore,
    runtime: tokio::runtime::Runtime,
    _schema: TestSchema,
}

impl Fixture {
    fn new(url: &str) -> Fixture {
        Fixture::with(url, |_| {})
    }

    /// A fixture whose store's configuration `adjust` changes.
    fn with(url: &str, adjust: impl FnOnce(&mut PostgresConfig)) -> Fixture {
        let schema = TestSchema::new(url);
        let runtime = runtime();
        let mut config = schema.config();
        adjust(&mut config);
        let store = runtime
            .block_on(PostgresStore::connect(&config))
            .expect("a PostgreSQL store");
        Fixture {
            store,
            runtime,
            _schema: schema,
        }
    }
}

/// The token checks of `tokens.rs`, on a fresh schema.
#[test]
fn tokens_are_stored_found_listed_and_revoked() {
    let Some(url) = server_url("tokens_are_stored_found_listed_and_revoked") else {
        return;
    };
    let fixture = Fixture::new(&url);
    fixture
        .runtime
        .block_on(crate::tokens::check_tokens(&fixture.store));
}

mod conformance {
    use scheduler_core::testing::conformance::Check;

    use super::{Fixture, server_url};

    /// Runs one conformance check on a store in a fresh schema; skips without a server.
    fn run(name: &'static str, check: Check) {
        let Some(url) = server_url(name) else {
            return;
        };
        let fixture = Fixture::new(&url);
        fixture.runtime.block_on(check(&fixture.store));
    }

    scheduler_core::store_conformance_tests!(run_with: run);
}

fn claim_request(owner: &str, limit: usize) -> ClaimRequest {
    ClaimRequest {
        now: base_time(),
        due_before: Timestamp::from_second(base_time().as_second() + 2).expect("a timestamp"),
        limit,
        owner: owner.to_owned(),
        lease_until: Timestamp::from_second(base_time().as_second() + 30).expect("a timestamp"),
        missed_before: Timestamp::from_second(base_time().as_second() - 10).expect("a timestamp"),
    }
}

/// Claims until a batch comes back short; every (job, tick) claimed, with the owner.
async fn claim_all(store: &PostgresStore, owner: &str) -> Vec<(JobId, Timestamp, String)> {
    let mut claimed = Vec::new();
    loop {
        let batch = store
            .claim_due(claim_request(owner, 37))
            .await
            .expect("claim_due");
        let full = batch.ticks.len() == 37;
        claimed.extend(batch.ticks.into_iter().map(|tick| {
            (
                tick.job.id,
                tick.execution.scheduled_at,
                tick.execution.claimed_by,
            )
        }));
        if !full {
            return claimed;
        }
    }
}

#[test]
fn two_nodes_claiming_at_once_never_share_a_tick() {
    let Some(url) = server_url("two_nodes_claiming_at_once_never_share_a_tick") else {
        return;
    };
    // The schema outlives the runtime, so its drop never waits for the stores' connections.
    let schema = TestSchema::new(&url);
    runtime().block_on(async {
        let node_a = PostgresStore::connect(&schema.config())
            .await
            .expect("node a");
        let node_b = PostgresStore::connect(&schema.config())
            .await
            .expect("node b");
        let jobs = 200;
        for _ in 0..jobs {
            node_a
                .insert_job(job(Some(base_time())))
                .await
                .expect("insert_job");
        }
        let (a, b) = tokio::join!(claim_all(&node_a, "node-a"), claim_all(&node_b, "node-b"));
        // A node stops at a short batch, which the other's locks may cause: a last sweep takes
        // whatever both left, so that the total is exact.
        let rest = claim_all(&node_a, "node-a").await;
        let all: Vec<_> = a.iter().chain(&b).chain(&rest).collect();
        let distinct: HashSet<(JobId, Timestamp)> =
            all.iter().map(|(job, tick, _)| (*job, *tick)).collect();
        assert_eq!(distinct.len(), all.len(), "a tick was claimed twice");
        // Every job fires every second: ticks 0, 1 and 2 of each.
        assert_eq!(distinct.len(), jobs * 3);
        assert!(a.iter().chain(&rest).all(|(_, _, owner)| owner == "node-a"));
        assert!(b.iter().all(|(_, _, owner)| owner == "node-b"));
    });
}

/// Takes over from silent nodes until a batch comes back short; the ids taken.
async fn take_over_all(store: &PostgresStore, owner: &str) -> Vec<ExecutionId> {
    let mut taken = Vec::new();
    loop {
        let batch = store
            .take_over(TakeOverRequest {
                owner: owner.to_owned(),
                now: Timestamp::from_second(base_time().as_second() + 60).expect("a timestamp"),
                stale_before: Timestamp::from_second(base_time().as_second() + 50)
                    .expect("a timestamp"),
                lease_until: Timestamp::from_second(base_time().as_second() + 90)
                    .expect("a timestamp"),
                limit: 37,
            })
            .await
            .expect("take_over");
        let full = batch.len() == 37;
        taken.extend(batch.into_iter().map(|tick| tick.execution.id));
        if !full {
            return taken;
        }
    }
}

#[test]
fn two_nodes_taking_over_at_once_never_share_an_execution() {
    let Some(url) = server_url("two_nodes_taking_over_at_once_never_share_an_execution") else {
        return;
    };
    let schema = TestSchema::new(&url);
    runtime().block_on(async {
        let node_a = PostgresStore::connect(&schema.config())
            .await
            .expect("node a");
        let node_b = PostgresStore::connect(&schema.config())
            .await
            .expect("node b");
        for _ in 0..200 {
            node_a
                .insert_job(job(Some(base_time())))
                .await
                .expect("insert_job");
        }
        let left = claim_all(&node_a, "gone").await.len();
        node_a
            .heartbeat("gone", base_time())
            .await
            .expect("heartbeat");
        for node in ["node-a", "node-b"] {
            let now = Timestamp::from_second(base_time().as_second() + 60).expect("a timestamp");
            node_a.heartbeat(node, now).await.expect("heartbeat");
        }
        let (a, b) = tokio::join!(
            take_over_all(&node_a, "node-a"),
            take_over_all(&node_b, "node-b")
        );
        let rest = take_over_all(&node_a, "node-a").await;
        let all: Vec<ExecutionId> = a.iter().chain(&b).chain(&rest).copied().collect();
        let distinct: HashSet<ExecutionId> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len(), "an execution was taken twice");
        assert_eq!(all.len(), left, "everything the silent node held was taken");
    });
}

/// The next notice of `feed`, failing after 30 s.
async fn next_notice(feed: &mut tokio::sync::mpsc::UnboundedReceiver<JobNotice>) -> JobNotice {
    tokio::time::timeout(Duration::from_secs(30), feed.recv())
        .await
        .expect("a notice within 30 s")
        .expect("the feed is open")
}

#[test]
fn changes_are_heard_by_every_store_on_the_schema_and_by_no_other() {
    let Some(url) = server_url("changes_are_heard_by_every_store_on_the_schema_and_by_no_other")
    else {
        return;
    };
    let schema = TestSchema::new(&url);
    let elsewhere = TestSchema::new(&url);
    runtime().block_on(async {
        let node_a = PostgresStore::connect(&schema.config())
            .await
            .expect("node a");
        let node_b = PostgresStore::connect(&schema.config())
            .await
            .expect("node b");
        let other = PostgresStore::connect(&elsewhere.config())
            .await
            .expect("a store on another schema");
        let mut heard_by_b = node_b.job_changes().expect("a feed");
        let mut heard_elsewhere = other.job_changes().expect("a feed");
        // Each feed says `Resync` once it listens: changes from then on are heard.
        assert_eq!(next_notice(&mut heard_by_b).await, JobNotice::Resync);
        assert_eq!(next_notice(&mut heard_elsewhere).await, JobNotice::Resync);

        let created = job(Some(base_time()));
        node_a
            .insert_job(created.clone())
            .await
            .expect("insert_job");
        let mut paused = created.clone();
        paused.spec.paused = true;
        node_a
            .update_job(paused, 1, NextFire::Keep)
            .await
            .expect("update_job");
        assert!(node_a.delete_job(created.id).await.expect("delete_job"));
        assert!(!node_a.delete_job(created.id).await.expect("delete_job"));
        assert_eq!(
            [
                next_notice(&mut heard_by_b).await,
                next_notice(&mut heard_by_b).await
            ],
            [JobNotice::Changed(created.id); 2],
            "the update and the deletion, not the creation or a deletion of nothing"
        );
        assert!(
            heard_elsewhere.try_recv().is_err(),
            "nothing from another schema"
        );
    });
}

#[test]
fn migrations_run_twice_or_at_once_are_safe() {
    let Some(url) = server_url("migrations_run_twice_or_at_once_are_safe") else {
        return;
    };
    // The schema outlives the runtime, so its drop never waits for the stores' connections.
    let schema = TestSchema::new(&url);
    runtime().block_on(async {
        let config = schema.config();
        let (a, b, c, d) = tokio::join!(
            PostgresStore::connect(&config),
            PostgresStore::connect(&config),
            PostgresStore::connect(&config),
            PostgresStore::connect(&config),
        );
        let stores = [a, b, c, d].map(|store| store.expect("a concurrent connect"));
        let again = PostgresStore::connect(&config)
            .await
            .expect("a second connect");
        let created = job(Some(base_time()));
        stores[0]
            .insert_job(created.clone())
            .await
            .expect("insert_job");
        assert_eq!(
            again.get_job(created.id).await.expect("get_job"),
            Some(created)
        );
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("a connection");
        let connection = tokio::spawn(connection);
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), max(version) FROM \"{}\".scheduler_schema_version",
                    schema.name
                ),
                &[],
            )
            .await
            .expect("the schema versions");
        let (migrations, version): (i64, i32) = (row.get(0), row.get(1));
        // Every migration recorded once, whichever of the five connects applied it.
        assert_eq!((migrations, version), (9, 9));
        // A version from a newer program is refused.
        client
            .batch_execute(&format!(
                "INSERT INTO \"{}\".scheduler_schema_version (version) VALUES (99)",
                schema.name
            ))
            .await
            .expect("a newer version");
        let error = PostgresStore::connect(&config).await.unwrap_err();
        assert!(
            matches!(error, StoreError::PostgresTooNew { found: 99, .. }),
            "{error:?}"
        );
        drop(client);
        connection.await.expect("the task").expect("the connection");
    });
}

/// Version 3 adds the count of re-sends after a crash: an execution stored at version 2 reads
/// as re-sent never, and takes a count afterwards.
#[test]
fn a_version_2_schema_gains_the_count_of_resends() {
    let Some(url) = server_url("a_version_2_schema_gains_the_count_of_resends") else {
        return;
    };
    let schema = TestSchema::new(&url);
    runtime().block_on(async {
        let config = schema.config();
        let created = job(Some(base_time()));
        let execution = Execution::pending(
            created.id,
            base_time(),
            ExecutionTrigger::Schedule,
            "local",
            base_time(),
        );
        {
            let store = PostgresStore::connect(&config).await.expect("connect");
            store.insert_job(created.clone()).await.expect("insert_job");
            store
                .insert_execution(execution.clone())
                .await
                .expect("insert_execution");
        }
        // Back to version 2, as that version wrote it.
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("a connection");
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "ALTER TABLE \"{0}\".job_executions DROP COLUMN redeliveries; \
                 DROP TABLE \"{0}\".api_tokens; \
                 ALTER TABLE \"{0}\".jobs DROP COLUMN signing_secret, DROP COLUMN run_at, \
                 DROP COLUMN start_at, DROP COLUMN end_at, DROP COLUMN delete_after_run, \
                 DROP COLUMN done_at, DROP COLUMN tick_jitter_ms, DROP COLUMN alert, \
                 DROP COLUMN previous_signing_secret; \
                 DELETE FROM \"{0}\".scheduler_schema_version WHERE version >= 3",
                schema.name
            ))
            .await
            .expect("back to version 2");
        let store = PostgresStore::connect(&config)
            .await
            .expect("a version 2 schema migrates");
        let stored = store
            .get_execution(execution.id)
            .await
            .expect("get_execution")
            .expect("the execution survived");
        assert_eq!(stored, execution);
        let mut resent = stored.clone();
        resent.status = ExecutionStatus::Running;
        resent.attempts = 1;
        resent.redeliveries = 1;
        store
            .record_results(vec![resent.to_update()])
            .await
            .expect("record_results");
        let stored = store.get_execution(execution.id).await.unwrap().unwrap();
        assert_eq!((stored.attempts, stored.redeliveries), (1, 1));
        let version: i32 = client
            .query_one(
                &format!(
                    "SELECT max(version) FROM \"{}\".scheduler_schema_version",
                    schema.name
                ),
                &[],
            )
            .await
            .expect("the schema version")
            .get(0);
        assert_eq!(version, 9);
        drop(store);
        drop(client);
        connection.await.expect("the task").expect("the connection");
    });
}

#[test]
fn a_refused_connection_names_the_database_but_not_the_password() {
    // Port 1 refuses connections: no server is needed.
    let mut config = PostgresConfig::new("postgres://scheduler:hunter2@127.0.0.1:1/jobs");
    config.connect_timeout = Duration::from_secs(5);
    let error = block_on(PostgresStore::connect(&config)).unwrap_err();
    assert!(
        matches!(error, StoreError::PostgresConnect { .. }),
        "{error:?}"
    );
    let message = scheduler_core::error_chain(&error);
    assert!(
        message
            .starts_with("cannot connect to the PostgreSQL database scheduler@127.0.0.1:1/jobs: "),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn bad_settings_are_refused_before_connecting() {
    let mut config = PostgresConfig::new("postgres://127.0.0.1:1/jobs");
    config.schema = Some("Robert'); DROP TABLE jobs;--".to_owned());
    let error = block_on(PostgresStore::connect(&config)).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::InvalidConfig {
                setting: "schema",
                ..
            }
        ),
        "{error:?}"
    );
    let error = block_on(PostgresStore::connect(&PostgresConfig::new(
        "postgres://[bad",
    )))
    .unwrap_err();
    assert!(
        matches!(error, StoreError::InvalidConfig { setting: "url", .. }),
        "{error:?}"
    );
}

#[test]
fn retention_deletes_in_bounded_rounds_and_keeps_each_jobs_newest() {
    let Some(url) = server_url("retention_deletes_in_bounded_rounds_and_keeps_each_jobs_newest")
    else {
        return;
    };
    let fixture = Fixture::with(&url, |config| config.prune_batch = 3);
    fixture.runtime.block_on(async {
        let store = &fixture.store;
        let at = |seconds: i64| {
            Timestamp::from_second(base_time().as_second() + seconds).expect("a timestamp")
        };
        let jobs = [job(None), job(None)];
        for job in &jobs {
            store.insert_job(job.clone()).await.expect("insert_job");
            for second in 0..10 {
                let mut execution =
                    Execution::pending(job.id, at(second), ExecutionTrigger::Manual, "a", at(60));
                execution.status = ExecutionStatus::Succeeded;
                execution.finished_at = Some(at(second));
                store
                    .insert_execution(execution)
                    .await
                    .expect("insert_execution");
            }
            // Unfinished ones are never pruned, and do not count against the limit.
            let pending = Execution::pending(job.id, at(-5), ExecutionTrigger::Manual, "a", at(60));
            store
                .insert_execution(pending)
                .await
                .expect("insert_execution");
        }
        let by_count = RetentionPolicy {
            max_per_job: Some(2),
            max_age: None,
        };
        // Eight finished executions beyond the newest two, for each job: rounds of three.
        assert_eq!(store.prune(by_count, at(100)).await.expect("prune"), 16);
        for job in &jobs {
            let left: Vec<Timestamp> = store
                .job_executions(job.id, 100)
                .await
                .expect("job_executions")
                .iter()
                .map(|execution| execution.scheduled_at)
                .collect();
            assert_eq!(left, [at(9), at(8), at(-5)]);
        }
        let by_age = RetentionPolicy {
            max_per_job: None,
            max_age: Some(Duration::from_secs(91)),
        };
        assert_eq!(store.prune(by_age, at(100)).await.expect("prune"), 2);
        assert_eq!(
            store
                .recent_executions(100)
                .await
                .expect("recent_executions")
                .len(),
            4
        );
    });
}

#[test]
fn the_claims_read_of_due_jobs_uses_the_due_index() {
    let Some(url) = server_url("the_claims_read_of_due_jobs_uses_the_due_index") else {
        return;
    };
    let schema = TestSchema::new(&url);
    let fixture = Fixture::with(&url, |config| config.schema = Some(schema.name.clone()));
    fixture.runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("a connection");
        let connection = tokio::spawn(connection);
        // With an empty table any plan is cheap: forbid the sequential and bitmap scans (which
        // an estimate for a table of a few wider rows may prefer) to see whether the index can
        // serve the query, in order, at all.
        client
            .batch_execute(&format!(
                "SET search_path = \"{}\"; SET enable_seqscan = off; SET enable_bitmapscan = off",
                schema.name
            ))
            .await
            .expect("the settings");
        let plan: Vec<String> = client
            .query(
                "EXPLAIN SELECT id FROM jobs WHERE active AND next_fire_at IS NOT NULL \
                 AND next_fire_at <= 0 ORDER BY next_fire_at LIMIT 10 FOR NO KEY UPDATE SKIP LOCKED",
                &[],
            )
            .await
            .expect("the plan")
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert!(
            plan.iter().any(|step| step.contains("Index Scan using jobs_due")),
            "{plan:?}"
        );
        assert!(plan.iter().all(|step| !step.contains("Sort")), "{plan:?}");
        drop(client);
        connection.await.expect("the task").expect("the connection");
    });
}
