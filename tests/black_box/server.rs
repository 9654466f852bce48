//! `scheduler serve` end to end: real binary, real SQLite file, a loopback sink as the target.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, Sink, db_path, raw_request, temp_dir, wait_until};

/// Seconds since the epoch of an RFC 3339 timestamp.
fn epoch_seconds(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>()
        .expect("an RFC 3339 timestamp")
        .as_second()
}

fn create_job(server: &Server, schedule: &str, api: &str, delivery: &str) -> String {
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({"schedule": schedule, "api": api, "type": delivery})),
    );
    assert_eq!(status, 201, "{job}");
    job["jobId"].as_str().expect("a jobId").to_owned()
}

fn executions(server: &Server, job_id: &str, query: &str) -> Vec<Value> {
    let (status, body) = server.request(
        "GET",
        &format!("/api/jobs/{job_id}/executions{query}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body["executions"]
        .as_array()
        .expect("an executions array")
        .clone()
}

#[test]
fn every_second_jobs_fire_at_their_seconds_and_are_recorded() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(&db_path(&dir), &[]);
    let job_id = create_job(&server, "* * * * * *", &sink.url("/a"), "ATLEAST_ONCE");
    let other = create_job(&server, "* * * * * *", &sink.url("/b"), "AT_LEAST_ONCE");

    wait_until("six ticks at /a and /b", || {
        sink.received_at("/a").len() >= 6 && sink.received_at("/b").len() >= 6
    });
    let received = sink.received_at("/a");
    let ticks: Vec<i64> = received
        .iter()
        .map(|request| epoch_seconds(&request.headers["x-scheduler-scheduled-time"]))
        .collect();
    assert!(
        ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "consecutive seconds: {ticks:?}"
    );
    for request in &received {
        assert_eq!(request.headers["x-scheduler-job-id"], job_id);
        assert_eq!(request.headers["x-scheduler-attempt"], "1");
        assert_eq!(request.body, "", "a job without a body sends none");
        assert!(request.headers["user-agent"].starts_with("scheduler/"));
    }
    assert!(
        sink.received_at("/b")
            .iter()
            .all(|request| request.headers["x-scheduler-job-id"] == other)
    );

    // The default page is the newest five; the finished ones match what the sink saw.
    wait_until("five finished executions", || {
        executions(&server, &job_id, "?limit=1000")
            .iter()
            .filter(|execution| execution["status"] == "SUCCEEDED")
            .count()
            >= 5
    });
    let page = executions(&server, &job_id, "");
    assert_eq!(page.len(), 5);
    let scheduled: Vec<i64> = page
        .iter()
        .map(|execution| epoch_seconds(execution["scheduledTime"].as_str().unwrap()))
        .collect();
    assert!(
        scheduled.windows(2).all(|pair| pair[0] == pair[1] + 1),
        "newest first, one per second: {scheduled:?}"
    );
    let sent: HashSet<String> = sink
        .received_at("/a")
        .iter()
        .map(|request| request.headers["x-scheduler-execution-id"].clone())
        .collect();
    for execution in executions(&server, &job_id, "?limit=1000&status=SUCCEEDED") {
        let fields: Vec<&str> = execution
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for field in [
            "executionId",
            "jobId",
            "scheduledTime",
            "executedTime",
            "status",
            "httpStatus",
            "durationMs",
            "errorMessage",
            "retryCount",
        ] {
            assert!(fields.contains(&field), "{field} missing from {execution}");
        }
        assert_eq!(execution["jobId"], job_id.as_str());
        assert_eq!(execution["httpStatus"], 200);
        assert_eq!(execution["retryCount"], 0);
        assert_eq!(execution["errorMessage"], Value::Null);
        assert!(execution["durationMs"].as_u64().is_some());
        assert!(
            execution["scheduledTime"]
                .as_str()
                .unwrap()
                .ends_with(".000Z")
        );
        let executed = execution["executedTime"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap();
        let scheduled = execution["scheduledTime"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap();
        assert!(executed >= scheduled, "sent before its tick: {execution}");
        assert!(
            sent.contains(execution["executionId"].as_str().unwrap()),
            "recorded but never sent: {execution}"
        );
    }
    let status = server.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn update_pause_resume_trigger_and_delete_behave() {
    let dir = temp_dir();
    let sink = Sink::start();
    let server = Server::start(&db_path(&dir), &[]);
    // New Year's midnight: nothing fires on its own during the test.
    let job_id = create_job(&server, "0 0 0 1 1 *", &sink.url("/c"), "ATLEAST_ONCE");

    let (status, triggered) = server.request("POST", &format!("/api/jobs/{job_id}/trigger"), None);
    assert_eq!(status, 202, "{triggered}");
    wait_until("the triggered execution", || {
        sink.received_at("/c").len() == 1
    });
    wait_until("the trigger recorded", || {
        executions(&server, &job_id, "?status=SUCCEEDED").len() == 1
    });
    assert_eq!(executions(&server, &job_id, "")[0]["trigger"], "MANUAL");

    // Replace the schedule: every second now, at once.
    let (status, job) = server.request(
        "PUT",
        &format!("/api/jobs/{job_id}"),
        Some(&json!({"schedule": "* * * * * *", "api": sink.url("/c"), "type": "ATLEAST_ONCE"})),
    );
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["version"], 2);
    wait_until("ticks of the new schedule", || {
        sink.received_at("/c").len() >= 3
    });

    // Paused: no tick after the pause is sent, also those claimed before it.
    let (status, job) = server.request("POST", &format!("/api/jobs/{job_id}/pause"), None);
    assert_eq!((status, job["paused"].clone()), (200, json!(true)));
    let paused_at = jiff::Timestamp::now().as_second();
    let paused_instant = Instant::now();
    wait_until("three seconds of pause", || {
        paused_instant.elapsed() >= Duration::from_secs(3)
    });
    let resumed_at = jiff::Timestamp::now().as_second();
    let (status, job) = server.request("POST", &format!("/api/jobs/{job_id}/resume"), None);
    assert_eq!((status, job["paused"].clone()), (200, json!(false)));
    wait_until("a tick after resuming", || {
        sink.received_at("/c").iter().any(|request| {
            epoch_seconds(&request.headers["x-scheduler-scheduled-time"]) > resumed_at
        })
    });
    let during_pause: Vec<i64> = sink
        .received_at("/c")
        .iter()
        .map(|request| epoch_seconds(&request.headers["x-scheduler-scheduled-time"]))
        .filter(|&tick| tick > paused_at && tick <= resumed_at)
        .collect();
    assert!(
        during_pause.is_empty(),
        "ticks sent while paused: {during_pause:?}"
    );

    let (status, _) = server.request("DELETE", &format!("/api/jobs/{job_id}"), None);
    assert_eq!(status, 204);
    let (status, body) = server.request("GET", &format!("/api/jobs/{job_id}"), None);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["field"], "jobId");
    let (status, _) = server.request("GET", &format!("/api/jobs/{job_id}/executions"), None);
    assert_eq!(status, 404);
}

#[test]
fn bad_input_gets_a_4xx_naming_the_field_and_changes_nothing() {
    let dir = temp_dir();
    let server = Server::start(&db_path(&dir), &[]);
    let good =
        json!({"schedule": "*/5 * * * * *", "api": "http://127.0.0.1:9/x", "type": "ATLEAST_ONCE"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            with("schedule", json!("31 10-15 1 * * MON-FRX")),
            400,
            "schedule",
            "invalid value \"FRX\" at column 20",
        ),
        (
            with("schedule", json!("0 0 0 30 2 *")),
            400,
            "schedule",
            "can never fire",
        ),
        (with("api", json!("ftp://example.com/x")), 400, "api", ""),
        (with("api", json!("http://")), 400, "api", ""),
        (with("type", json!("SOMETIMES")), 400, "type", ""),
        (
            with("timezone", json!("Mars/Olympus_Mons")),
            400,
            "timezone",
            "",
        ),
    ];
    for (body, status, field, message) in cases {
        let (got, error) = server.request("POST", "/api/jobs", Some(&body));
        assert_eq!(got, status, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{error}"
        );
    }
    let (status, body) = raw_request(
        server.address,
        "POST",
        "/api/jobs",
        "application/json",
        b"{\"schedule\": ",
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = raw_request(
        server.address,
        "POST",
        "/api/jobs",
        "text/plain",
        good.to_string().as_bytes(),
    );
    assert_eq!(status, 415, "{body}");
    let huge = json!({"schedule": "* * * * * *", "api": "http://127.0.0.1:9/x", "type": "ATLEAST_ONCE", "body": "x".repeat(100_000)});
    let (status, body) = raw_request(
        server.address,
        "POST",
        "/api/jobs",
        "application/json",
        huge.to_string().as_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    let (status, body) = server.request(
        "GET",
        "/api/jobs/9b2c5f4e-0000-4000-8000-000000000000",
        None,
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.request("GET", "/api/jobs/not-a-uuid", None);
    assert!((400..500).contains(&status), "{body}");

    let (status, listed) = server.request("GET", "/api/jobs", None);
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"], json!([]), "nothing was stored");
}

#[test]
fn after_sigkill_a_restart_recovers_every_tick_and_resends_only_at_least_once_work() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let sink = Sink::start();
    sink.set_hanging(true);
    let server = Server::start(&db, &[]);
    let steady = create_job(&server, "* * * * * *", &sink.url("/a"), "ATLEAST_ONCE");
    let at_least_once = create_job(&server, "* * * * * *", &sink.url("/hang"), "ATLEAST_ONCE");
    let at_most_once = create_job(&server, "* * * * * *", &sink.url("/hang"), "ATMOST_ONCE");

    let in_flight_of = |job_id: &str| -> HashSet<String> {
        sink.received_at("/hang")
            .iter()
            .filter(|request| request.headers["x-scheduler-job-id"] == job_id)
            .map(|request| request.headers["x-scheduler-execution-id"].clone())
            .collect()
    };
    wait_until(
        "attempts in flight for both hanging jobs and steady ticks",
        || {
            sink.received_at("/a").len() >= 3
                && in_flight_of(&at_least_once).len() >= 2
                && in_flight_of(&at_most_once).len() >= 2
        },
    );
    let before_kill_at_least_once = in_flight_of(&at_least_once);
    let before_kill_at_most_once = in_flight_of(&at_most_once);
    let first_tick =
        epoch_seconds(&sink.received_at("/a")[0].headers["x-scheduler-scheduled-time"]);
    server.kill();
    let killed_at = jiff::Timestamp::now().as_second();
    sink.set_hanging(false);

    let server = Server::start(&db, &[]);
    let (status, listed) = server.request("GET", "/api/jobs", None);
    assert_eq!(status, 200);
    assert_eq!(
        listed["jobs"].as_array().unwrap().len(),
        3,
        "the jobs survived: {listed}"
    );

    // At-least-once executions that were in flight are sent again, with the same ids.
    wait_until("the in-flight at-least-once executions re-sent", || {
        let sent = sink.received_at("/hang");
        before_kill_at_least_once.iter().all(|id| {
            sent.iter()
                .filter(|request| &request.headers["x-scheduler-execution-id"] == id)
                .count()
                >= 2
        })
    });
    // At-most-once ones are abandoned, never re-sent.
    wait_until("the at-most-once executions marked abandoned", || {
        let abandoned: HashSet<String> =
            executions(&server, &at_most_once, "?limit=1000&status=ABANDONED")
                .iter()
                .map(|execution| execution["executionId"].as_str().unwrap().to_owned())
                .collect();
        before_kill_at_most_once.is_subset(&abandoned)
    });
    let sent = sink.received_at("/hang");
    for id in &before_kill_at_most_once {
        let times = sent
            .iter()
            .filter(|request| &request.headers["x-scheduler-execution-id"] == id)
            .count();
        assert_eq!(
            times, 1,
            "at-most-once execution {id} was sent {times} times"
        );
    }

    // Every tick of the steady job from its first to past the kill is recorded exactly once.
    wait_until("steady ticks after the restart", || {
        sink.received_at("/a").iter().any(|request| {
            epoch_seconds(&request.headers["x-scheduler-scheduled-time"]) > killed_at + 1
        })
    });
    let recorded = executions(&server, &steady, "?limit=1000");
    let mut per_tick: BTreeMap<i64, usize> = BTreeMap::new();
    for execution in &recorded {
        *per_tick
            .entry(epoch_seconds(execution["scheduledTime"].as_str().unwrap()))
            .or_default() += 1;
    }
    for tick in first_tick..=killed_at {
        assert_eq!(
            per_tick.get(&tick),
            Some(&1),
            "tick {tick} recorded {:?} times: {per_tick:?}",
            per_tick.get(&tick)
        );
    }
    assert!(per_tick.values().all(|&count| count == 1), "{per_tick:?}");
}

#[test]
fn with_no_arguments_it_serves_as_the_environment_says() {
    let dir = temp_dir();
    let server = Server::start_from_environment(&db_path(&dir));
    let (status, health) = server.request("GET", "/api/health", None);
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["ready"], true);
    assert!(
        db_path(&dir).exists(),
        "the database is where SCHEDULER_DB says"
    );
    // SCHEDULER_LOG_FORMAT=json: every log line is a JSON object.
    let log = server.log();
    assert!(!log.is_empty());
    for line in log.lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            value["level"].is_string() && value["message"].is_string(),
            "{line}"
        );
    }
}
