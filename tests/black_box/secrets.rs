//! Secret header values through the real binary: sent to the target, shown redacted, absent
//! from the log even at trace level, and the database file private to its owner.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::{Server, Sink, db_path, temp_dir, wait_until};

#[test]
fn secret_header_values_reach_the_target_but_never_the_log_or_the_api() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let sink = Sink::start();
    let server = Server::start_with_env(&db, &[], &[("RUST_LOG", "trace")]);
    let job = json!({
        "schedule": "0 0 0 1 1 *",
        "api": sink.url("/hook"),
        "type": "ATLEAST_ONCE",
        "headers": {"Authorization": "Bearer s3cret-authz", "X-Token": "s3cret-token", "X-Plain": "visible"},
        "secretHeaders": ["x-token"],
    });
    let (status, created) = server.request("POST", "/api/jobs", Some(&job));
    assert_eq!(status, 201, "{created}");
    let id = created["jobId"].as_str().expect("a job id").to_owned();
    let (status, execution) = server.request("POST", &format!("/api/jobs/{id}/trigger"), None);
    assert_eq!(status, 202, "{execution}");
    wait_until("the target receives the trigger", || {
        !sink.received_at("/hook").is_empty()
    });
    let sent = &sink.received_at("/hook")[0];
    assert_eq!(sent.headers["authorization"], "Bearer s3cret-authz");
    assert_eq!(sent.headers["x-token"], "s3cret-token");

    let (status, read) = server.request("GET", &format!("/api/jobs/{id}"), None);
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["headers"]["Authorization"], "***");
    assert_eq!(read["headers"]["X-Token"], "***");
    assert_eq!(read["headers"]["X-Plain"], "visible");
    let execution_id = execution["executionId"].as_str().unwrap().to_owned();
    wait_until("the execution is recorded", || {
        let (_, execution) =
            server.request("GET", &format!("/api/executions/{execution_id}"), None);
        execution["status"] == "SUCCEEDED"
    });
    let log = server.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is not at trace level"
    );
    assert!(
        !log.contains("s3cret"),
        "a secret value is in the log:\n{log}"
    );

    for file in [
        db.clone(),
        db.with_extension("db-wal"),
        db.with_extension("db-shm"),
    ] {
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
}

/// The `host:port` of the broker a test environment variable names (`nats://127.0.0.1:4222`,
/// `amqp://guest:guest@127.0.0.1:5672/%2f`); `None`, with a message, when it is not set.
fn broker_address(variable: &str) -> Option<String> {
    let Ok(url) = std::env::var(variable) else {
        eprintln!("skipped: {variable} is not set (a broker on 127.0.0.1)");
        return None;
    };
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    Some(authority.rsplit('@').next().unwrap_or_default().to_owned())
}

/// Broker passwords in `nats://` and `amqp://` targets stay out of the log at trace level,
/// dependencies' trace included: the attempts reach the real brokers with a password they do
/// not know, and the password is nowhere in the log.
#[test]
fn broker_passwords_never_reach_the_log_at_trace_level() {
    let brokers: Vec<(&str, String)> = [
        ("SCHEDULER_TEST_NATS_URL", "nats"),
        ("SCHEDULER_TEST_AMQP_URL", "amqp"),
    ]
    .into_iter()
    .filter_map(|(variable, scheme)| Some((scheme, broker_address(variable)?)))
    .collect();
    if brokers.is_empty() {
        return;
    }
    let password = "pw7Broker9Hunter2Secret";
    let dir = temp_dir();
    let server = Server::start_with_env(&db_path(&dir), &[], &[("RUST_LOG", "trace")]);
    let mut executions = Vec::new();
    for (scheme, address) in &brokers {
        let api = match *scheme {
            "nats" => format!("nats://sched_user:{password}@{address}/sched.secret.test"),
            _ => format!("amqp://sched_user:{password}@{address}/%2f?routingKey=sched.secret.test"),
        };
        let job = json!({
            "schedule": "0 0 0 1 1 *",
            "api": api,
            "type": "ATMOST_ONCE",
            "timeoutMs": 5_000,
        });
        let (status, created) = server.request("POST", "/api/jobs", Some(&job));
        assert_eq!(status, 201, "{created}");
        assert!(!created.to_string().contains(password), "{created}");
        let id = created["jobId"].as_str().expect("a job id").to_owned();
        let (status, execution) = server.request("POST", &format!("/api/jobs/{id}/trigger"), None);
        assert_eq!(status, 202, "{execution}");
        let execution_id = execution["executionId"].as_str().unwrap().to_owned();
        executions.push((*scheme, execution_id));
    }
    for (scheme, execution_id) in &executions {
        wait_until(&format!("the {scheme} attempt is over"), || {
            let (_, execution) =
                server.request("GET", &format!("/api/executions/{execution_id}"), None);
            !matches!(execution["status"].as_str(), Some("PENDING" | "RUNNING"))
        });
        let (_, execution) =
            server.request("GET", &format!("/api/executions/{execution_id}"), None);
        // A broker that checks passwords refuses this one (a NATS server without
        // authorization ignores it): either way the attempt is over and the password sent.
        assert!(
            matches!(execution["status"].as_str(), Some("FAILED" | "SUCCEEDED")),
            "{scheme}: {execution}"
        );
        assert!(!execution.to_string().contains(password), "{execution}");
    }
    let log = server.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is not at trace level"
    );
    for (scheme, _) in &brokers {
        assert!(
            log.contains(&format!("{scheme}:")),
            "the log says nothing of the {scheme} attempt:\n{log}"
        );
    }
    assert!(
        !log.contains(password),
        "a broker password is in the log:\n{log}"
    );
}
