//! `scheduler jobs ...` and `scheduler executions ...` against a running server.

use serde_json::Value;

use crate::support::{Server, Sink, db_path, temp_dir, wait_until};
use crate::{scheduler, stderr, stdout};

/// Runs a client command against `server` and parses its JSON output.
fn client(server: &Server, args: &[&str]) -> Value {
    let url = format!("http://{}", server.address);
    let mut all = args.to_vec();
    all.extend(["--server", &url]);
    let output = scheduler(&all);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    let text = stdout(&output);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON output")
    }
}

#[test]
fn the_client_manages_jobs_on_a_running_server() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(&db_path(&dir), &[]);
    let api = sink.url("/client");
    let created = client(
        &server,
        &[
            "jobs",
            "create",
            "--schedule",
            "0 0 0 1 1 *",
            "--api",
            &api,
            "--type",
            "AT_MOST_ONCE",
            "--settings",
            r#"{"timeoutMs": 2000}"#,
        ],
    );
    let job_id = created["jobId"].as_str().expect("a jobId").to_owned();
    assert_eq!(created["type"], "ATMOST_ONCE");
    assert_eq!(created["timeoutMs"], 2000);

    assert_eq!(
        client(&server, &["jobs", "get", &job_id])["jobId"],
        job_id.as_str()
    );
    assert_eq!(
        client(&server, &["jobs", "list", "--paused", "false"])["jobs"][0]["jobId"],
        job_id.as_str()
    );
    assert_eq!(client(&server, &["jobs", "pause", &job_id])["paused"], true);
    assert_eq!(
        client(&server, &["jobs", "list", "--paused", "false"])["jobs"],
        serde_json::json!([])
    );
    assert_eq!(
        client(&server, &["jobs", "resume", &job_id])["paused"],
        false
    );

    client(&server, &["jobs", "trigger", &job_id]);
    wait_until("the triggered request", || {
        sink.received_at("/client").len() == 1
    });
    wait_until("the execution recorded", || {
        client(&server, &["executions", &job_id, "--status", "SUCCEEDED"])["executions"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    });

    client(&server, &["jobs", "delete", &job_id]);
    let url = format!("http://{}", server.address);
    let output = scheduler(&["jobs", "get", &job_id, "--server", &url]);
    assert!(!output.status.success(), "a deleted job is not found");
    assert!(stderr(&output).contains("HTTP 404"), "{}", stderr(&output));
}

#[test]
fn the_client_creates_a_one_off_job_that_fires_once_and_is_done() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(&db_path(&dir), &[]);
    let api = sink.url("/once");
    let run_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let run_at = format!("{run_at:.3}");
    let created = client(
        &server,
        &["jobs", "create", "--run-at", &run_at, "--api", &api],
    );
    let job_id = created["jobId"].as_str().expect("a jobId").to_owned();
    assert_eq!(created["schedule"], Value::Null);
    assert_eq!(created["runAt"], run_at.as_str());
    assert_eq!(created["done"], false);
    wait_until("the one-off job is done", || {
        client(&server, &["jobs", "get", &job_id])["done"] == true
    });
    assert_eq!(sink.received_at("/once").len(), 1);
    let executions = client(&server, &["executions", &job_id]);
    assert_eq!(executions["executions"].as_array().map(Vec::len), Some(1));

    // Both a schedule and an instant: refused by the client, before any request.
    let url = format!("http://{}", server.address);
    let output = scheduler(&[
        "jobs",
        "create",
        "--run-at",
        &run_at,
        "--schedule",
        "* * * * * *",
        "--api",
        &api,
        "--server",
        &url,
    ]);
    assert!(!output.status.success());
}

#[test]
fn the_client_reports_an_unreachable_server() {
    // Port 9 on loopback: nothing listens there.
    let output = scheduler(&["jobs", "list", "--server", "http://127.0.0.1:9"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).starts_with("error: GET http://127.0.0.1:9/api/jobs"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn health_answers_zero_for_a_healthy_server_and_fails_for_a_missing_one() {
    let dir = temp_dir();
    let server = Server::start(&db_path(&dir), &[]);
    let health = client(&server, &["health", "--wait", "10s"]);
    assert_eq!(health["status"], "ok", "{health}");
    let health = client(&server, &["health", "--live"]);
    assert_eq!(health["live"], true, "{health}");

    // Nothing listens on the port of a server that has stopped: the command says so and
    // fails, once its wait is over.
    let address = server.address;
    server.kill();
    let url = format!("http://{address}");
    for live in [&[][..], &["--live"][..]] {
        let mut args = vec!["health", "--server", &url, "--wait", "1s"];
        args.extend(live);
        let output = scheduler(&args);
        assert!(!output.status.success(), "{args:?}: {}", stdout(&output));
        assert!(
            stderr(&output).contains(&format!("GET {url}/api/health")),
            "{}",
            stderr(&output)
        );
    }
}
