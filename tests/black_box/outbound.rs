//! Outgoing requests end to end: signatures a target verifies on its own, and targets the
//! server refuses.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Server, Sink, db_path, temp_dir, wait_until};

/// What a target does: the hex HMAC-SHA256 of `"<t>.<body>"` with `secret`.
fn expected_signature(secret: &str, t: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn a_signed_request_carries_the_signatures_of_both_secrets_during_a_rotation() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(
        &db_path(&dir),
        &[
            "--signing-secret",
            "new-secret",
            "--signing-secret",
            "old-secret",
        ],
    );
    let body = r#"{"report":"daily","n":1}"#;
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({
            "schedule": "* * * * * *",
            "api": sink.url("/signed"),
            "type": "ATLEAST_ONCE",
            "body": body,
        })),
    );
    assert_eq!(status, 201, "{job}");
    let job_text = job.to_string();
    assert!(!job_text.contains("new-secret") && !job_text.contains("old-secret"));

    wait_until("two signed requests", || {
        sink.received_at("/signed").len() >= 2
    });
    for request in sink.received_at("/signed") {
        assert_eq!(request.body, body);
        let header = &request.headers["x-scheduler-signature"];
        let parts: Vec<&str> = header.split(',').collect();
        let [t, new, old] = parts[..] else {
            panic!("t=, v1=, v1=: {header}");
        };
        let t = t.strip_prefix("t=").expect("t= first");
        let sent_at: i64 = t.parse().expect("unix seconds");
        let scheduled = request.headers["x-scheduler-scheduled-time"]
            .parse::<jiff::Timestamp>()
            .expect("a timestamp")
            .as_second();
        // The send time, on or just after the tick.
        assert!(
            (scheduled..scheduled + 30).contains(&sent_at),
            "t={sent_at}, tick {scheduled}"
        );
        assert_eq!(
            new,
            format!("v1={}", expected_signature("new-secret", t, body))
        );
        assert_eq!(
            old,
            format!("v1={}", expected_signature("old-secret", t, body))
        );
    }

    // A job's own secrets (two: it is rotating) sign its requests in place of the server's,
    // and are never shown.
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({
            "schedule": "* * * * * *",
            "api": sink.url("/own"),
            "type": "ATLEAST_ONCE",
            "signingSecret": ["job-secret", "job-old"],
        })),
    );
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["hasSigningSecret"], true);
    assert_eq!(job["signingSecretCount"], 2);
    assert!(!job.to_string().contains("job-secret"), "{job}");
    wait_until("a request signed with the job's secret", || {
        !sink.received_at("/own").is_empty()
    });
    let request = &sink.received_at("/own")[0];
    let header = &request.headers["x-scheduler-signature"];
    let (t, signatures) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(','))
        .expect("t=...,v1=...");
    assert_eq!(
        signatures,
        format!(
            "v1={},v1={}",
            expected_signature("job-secret", t, ""),
            expected_signature("job-old", t, "")
        )
    );

    let log = server.log();
    for secret in ["new-secret", "old-secret", "job-secret", "job-old"] {
        assert!(!log.contains(secret), "{log}");
    }
}

#[test]
fn refused_targets_are_400_at_creation() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(&db_path(&dir), &["--deny-private-targets"]);
    let own_api = format!("http://{}/api/jobs", server.address);
    let localhost = format!("http://localhost:{}/x", sink.address.port());
    for (api, in_message) in [
        (
            sink.url("/x"),
            "loopback address and private targets are denied",
        ),
        (localhost, "loopback address"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local or cloud metadata",
        ),
        ("http://10.0.0.1/x".to_owned(), "private address"),
        (own_api.clone(), "loopback"),
    ] {
        let (status, body) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({"schedule": "* * * * * *", "api": api, "type": "ATLEAST_ONCE"})),
        );
        assert_eq!(status, 400, "{api}: {body}");
        assert_eq!(body["error"]["field"], "api", "{body}");
        let message = body["error"]["message"].as_str().expect("a message");
        assert!(message.contains(in_message), "{api}: {message}");
    }

    // With the defaults, loopback targets work, but not the server's own API.
    let dir = temp_dir();
    let server = Server::start(&db_path(&dir), &[]);
    let own_api = format!("http://{}/api/jobs", server.address);
    let (status, body) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({"schedule": "* * * * * *", "api": own_api, "type": "ATLEAST_ONCE"})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("own API")),
        "{body}"
    );
    let (status, body) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({"schedule": "* * * * * *", "api": sink.url("/x"), "type": "ATLEAST_ONCE"})),
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn a_job_that_reaches_the_own_api_by_another_name_is_refused_at_each_attempt() {
    let dir = temp_dir();
    let server = Server::start(&db_path(&dir), &[]);
    let port = server.address.port();
    // What the job would post to its own API: a job that calls the API in turn.
    let payload =
        json!({"schedule": "0 0 * * * *", "api": "http://127.1/", "type": "ATLEAST_ONCE"});
    // `127.1` is a name to the URL check at creation; the resolver makes it 127.0.0.1.
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({
            "schedule": "* * * * * *",
            "api": format!("http://127.1:{port}/api/jobs"),
            "type": "ATLEAST_ONCE",
            "body": payload.to_string(),
        })),
    );
    assert_eq!(status, 201, "{job}");
    let job_id = job["jobId"].as_str().expect("a job id").to_owned();
    let refused = || {
        let (status, body) = server.request(
            "GET",
            &format!("/api/jobs/{job_id}/executions?limit=20"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["executions"]
            .as_array()
            .expect("executions")
            .iter()
            .filter(|execution| execution["status"] == "FAILED")
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_until("two refused executions", || refused().len() >= 2);
    for execution in refused() {
        let message = execution["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("target 127.1 refused by the target policy")
                && message.contains(&format!(
                    "127.0.0.1:{port} is this scheduler's own API (listening on 127.0.0.1:{port})"
                )),
            "{execution}"
        );
        assert_eq!(execution["retryCount"], 0, "not retried: {execution}");
    }
    let (status, jobs) = server.request("GET", "/api/jobs", None);
    assert_eq!(status, 200, "{jobs}");
    assert_eq!(
        jobs["jobs"].as_array().map(Vec::len),
        Some(1),
        "no job was created by a job: {jobs}"
    );
}

#[test]
fn a_stored_job_whose_target_the_policy_now_refuses_fails_each_tick_without_retries() {
    let dir = temp_dir();
    let sink = Sink::start();
    let db = db_path(&dir);
    let job_id = {
        let server = Server::start(&db, &[]);
        let (status, job) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({
                "schedule": "* * * * * *",
                "api": sink.url("/inside"),
                "type": "ATLEAST_ONCE",
                "retry": {"maxAttempts": 3, "initialBackoffMs": 100, "maxBackoffMs": 100},
            })),
        );
        assert_eq!(status, 201, "{job}");
        assert!(server.terminate().success());
        job["jobId"].as_str().expect("a job id").to_owned()
    };
    // The same database under a policy that refuses loopback targets.
    let server = Server::start(&db, &["--deny-private-targets"]);
    let before = sink.received_at("/inside").len();
    let failed = || {
        let (status, body) = server.request(
            "GET",
            &format!("/api/jobs/{job_id}/executions?limit=20"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["executions"]
            .as_array()
            .expect("executions")
            .iter()
            .filter(|execution| {
                execution["status"] == "FAILED"
                    && execution["errorMessage"]
                        .as_str()
                        .is_some_and(|m| m.contains("refused by the target policy"))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_until("two executions refused by the policy", || {
        failed().len() >= 2
    });
    for execution in failed() {
        assert_eq!(execution["retryCount"], 0, "not retried: {execution}");
        assert_eq!(execution["httpStatus"], serde_json::Value::Null);
        let message = execution["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("127.0.0.1 is a loopback address and private targets are denied"),
            "{message}"
        );
    }
    assert_eq!(
        sink.received_at("/inside").len(),
        before,
        "nothing reached the target"
    );
}

/// The secrets whose signature a POST carries, checked as a webhook receiver would.
fn signed_by<'a>(request: &crate::support::Received, secrets: &[&'a str]) -> Vec<&'a str> {
    let header = &request.headers["x-scheduler-signature"];
    let mut fields = header.split(',');
    let t = fields
        .next()
        .and_then(|field| field.strip_prefix("t="))
        .expect("t= first");
    let signatures: Vec<&str> = fields.filter_map(|f| f.strip_prefix("v1=")).collect();
    secrets
        .iter()
        .copied()
        .filter(|secret| {
            signatures.contains(&expected_signature(secret, t, &request.body).as_str())
        })
        .collect()
}

#[test]
fn alert_webhooks_are_signed_with_the_jobs_secrets_else_the_servers() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(
        &db_path(&dir),
        &[
            "--signing-secret",
            "server-secret",
            "--alert-webhook-url",
            &sink.url("/global"),
        ],
    );
    // Two jobs that fail at once (nothing listens on port 9), each with its own alert.
    let mut ids = Vec::new();
    for (path, secrets) in [
        ("/own", json!(["job-new", "job-old"])),
        ("/plain", Value::Null),
    ] {
        let (status, job) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({
                "schedule": "0 0 0 1 1 *",
                "api": "http://127.0.0.1:9/down",
                "type": "ATMOST_ONCE",
                "signingSecret": secrets,
                "alert": {"webhookUrl": sink.url(path)},
            })),
        );
        assert_eq!(status, 201, "{job}");
        ids.push(job["jobId"].as_str().expect("a job id").to_owned());
    }
    for id in &ids {
        let (status, execution) = server.request("POST", &format!("/api/jobs/{id}/trigger"), None);
        assert_eq!(status, 202, "{execution}");
    }
    wait_until("the three webhooks' POSTs", || {
        ["/own", "/plain"]
            .iter()
            .all(|path| !sink.received_at(path).is_empty())
            && sink
                .received_at("/global")
                .iter()
                .map(|post| post.body.matches("FINAL_FAILURE").count())
                .sum::<usize>()
                >= 2
    });
    let secrets = ["server-secret", "job-new", "job-old"];
    for post in sink.received_at("/own") {
        assert!(post.body.contains("JOB_FAILING"), "{}", post.body);
        assert_eq!(signed_by(&post, &secrets), ["job-new", "job-old"]);
    }
    for path in ["/plain", "/global"] {
        for post in sink.received_at(path) {
            assert_eq!(signed_by(&post, &secrets), ["server-secret"], "{path}");
        }
    }
}
