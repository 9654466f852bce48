//! `scheduler serve --db postgres://...`: the server on PostgreSQL, end to end. The server is
//! `SCHEDULER_TEST_POSTGRES_URL`; without it the test says it skipped, and passes. The server
//! works in a schema of the test's own (through libpq's `options`), dropped at the end.

use serde_json::{Value, json};

use crate::support::{Server, Sink, wait_until};

const URL_VARIABLE: &str = "SCHEDULER_TEST_POSTGRES_URL";

/// A schema of the test's own in the test server's database, dropped with what is in it.
pub(crate) struct Schema {
    url: String,
    /// The schema's name, to qualify tables with in [`Connection::query`].
    pub(crate) name: String,
}

/// A blocking connection to the test server, for reading what the servers stored.
pub(crate) struct Connection {
    // Dropped before the runtime that runs its connection task.
    client: tokio_postgres::Client,
    runtime: tokio::runtime::Runtime,
}

impl Connection {
    /// The rows of `statement` (no parameters: the tests format their own values in).
    pub(crate) fn query(&self, statement: &str) -> Vec<tokio_postgres::Row> {
        self.runtime
            .block_on(self.client.query(statement, &[]))
            .unwrap_or_else(|error| panic!("{statement}: {error}"))
    }
}

impl Schema {
    /// A new schema, or `None` after saying why the test skips.
    pub(crate) fn create(test: &str) -> Option<Schema> {
        let Ok(url) = std::env::var(URL_VARIABLE) else {
            eprintln!("skipped {test}: {URL_VARIABLE} is not set");
            return None;
        };
        let schema = Schema {
            name: format!("black_box_{}", uuid::Uuid::new_v4().simple()),
            url,
        };
        schema.execute(&format!("CREATE SCHEMA {}", schema.name));
        Some(schema)
    }

    /// The `--db` URL that puts the server's tables in this schema.
    pub(crate) fn db(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }

    fn execute(&self, statement: &str) {
        let Connection { runtime, client } = self.connect();
        runtime
            .block_on(client.batch_execute(statement))
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }

    /// A connection to the test server (its connection task runs while a query is waited for).
    pub(crate) fn connect(&self) -> Connection {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .expect("the test server answers");
            tokio::spawn(connection);
            client
        });
        Connection { client, runtime }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

#[test]
fn the_server_runs_on_postgresql_and_keeps_jobs_and_history_across_a_restart() {
    let Some(schema) = Schema::create("the_server_runs_on_postgresql") else {
        return;
    };
    let db = schema.db();
    let sink = Sink::start();
    let server = Server::start(std::path::Path::new(&db), &[]);
    assert!(
        server.log().contains("PostgreSQL database"),
        "{}",
        server.log()
    );
    assert!(
        !server.log().contains(&db),
        "the log names the database without its parameters: {}",
        server.log()
    );
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({"schedule": "* * * * * *", "api": sink.url("/pg"), "type": "ATLEAST_ONCE"})),
    );
    assert_eq!(status, 201, "{job}");
    let job_id = job["jobId"].as_str().expect("a jobId").to_owned();
    let succeeded = |server: &Server| -> Vec<Value> {
        let (status, body) = server.request(
            "GET",
            &format!("/api/jobs/{job_id}/executions?status=SUCCEEDED&limit=100"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["executions"].as_array().expect("executions").clone()
    };
    wait_until("three ticks delivered and recorded", || {
        sink.received_at("/pg").len() >= 3 && succeeded(&server).len() >= 3
    });
    server.kill();

    let restarted = Server::start(std::path::Path::new(&db), &[]);
    let (status, job) = restarted.request("GET", &format!("/api/jobs/{job_id}"), None);
    assert_eq!(status, 200, "the job survives the restart: {job}");
    assert!(succeeded(&restarted).len() >= 3, "and so does its history");
    let before = sink.received_at("/pg").len();
    wait_until("the restarted server fires the job again", || {
        sink.received_at("/pg").len() > before
    });
    // Every tick is sent under one execution id, whichever server sent it.
    let received = sink.received_at("/pg");
    let mut ticks: Vec<&String> = received
        .iter()
        .map(|request| &request.headers["x-scheduler-scheduled-time"])
        .collect();
    let all = ticks.len();
    ticks.sort();
    ticks.dedup();
    let redeliveries = all - ticks.len();
    assert!(
        redeliveries <= 1,
        "at most the tick in flight at the kill is sent twice: {redeliveries}"
    );
}

#[test]
fn nodes_on_one_database_see_each_other_and_never_send_a_tick_twice() {
    let Some(schema) = Schema::create("nodes_on_one_database_see_each_other") else {
        return;
    };
    let db = schema.db();
    let sink = Sink::start();
    let a = Server::start(std::path::Path::new(&db), &["--node-id", "node-a"]);
    let b = Server::start(std::path::Path::new(&db), &["--node-id", "node-b"]);
    let live_nodes = |server: &Server| -> Vec<String> {
        let (status, health) = server.request("GET", "/api/health", None);
        assert_eq!(status, 200, "{health}");
        health["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter(|node| node["live"] == true)
                    .map(|node| node["nodeId"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_until("each node sees both live", || {
        live_nodes(&a) == ["node-a", "node-b"] && live_nodes(&b) == ["node-a", "node-b"]
    });
    let (_, health) = b.request("GET", "/api/health", None);
    assert_eq!(health["nodeId"], "node-b");

    // Jobs created through one node fire once per tick, whichever node claims them.
    for _ in 0..20 {
        let (status, job) = a.request(
            "POST",
            "/api/jobs",
            Some(&json!({"schedule": "* * * * * *", "api": sink.url("/split"), "type": "ATLEAST_ONCE"})),
        );
        assert_eq!(status, 201, "{job}");
    }
    wait_until("five seconds of ticks of the twenty jobs", || {
        sink.received_at("/split").len() >= 100
    });
    let received = sink.received_at("/split");
    let mut ticks: Vec<(&String, &String)> = received
        .iter()
        .map(|request| {
            (
                &request.headers["x-scheduler-job-id"],
                &request.headers["x-scheduler-scheduled-time"],
            )
        })
        .collect();
    let all = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), all, "no tick was sent by both nodes");
}
