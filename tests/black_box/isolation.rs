//! Slow targets delay only their own jobs (fault test 2): half the jobs target a hanging
//! endpoint, and the other half's ticks are all delivered and recorded, while the hanging
//! target holds exactly its per-host limit of attempts.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{LoadSink, Server, Sink, db_path, temp_dir, wait_until};

/// Attempts in flight at once in all: fewer than the hanging target's ticks of one second, so
/// that without the per-host limit they would hold every slot within the first second.
const MAX_IN_FLIGHT: usize = 16;
const PER_HOST: usize = 8;
/// Every-second jobs on each side.
const JOBS: usize = 20;
/// The seconds whose healthy ticks are checked.
const WINDOW_SECONDS: i64 = 6;

#[test]
fn a_hanging_target_holds_its_per_host_limit_and_delays_no_other_target() {
    let hanging = Sink::start();
    hanging.set_hanging(true);
    let healthy = LoadSink::start();
    let dir = temp_dir();
    let server = Server::start(
        &db_path(&dir),
        &[
            "--max-in-flight",
            &MAX_IN_FLIGHT.to_string(),
            "--max-in-flight-per-host",
            &PER_HOST.to_string(),
        ],
    );
    // The hanging jobs first, so that they are ahead of the healthy ones in every second.
    for _ in 0..JOBS {
        create(&server, &hanging.url("/hang"));
    }
    let healthy_jobs: Vec<String> = (0..JOBS)
        .map(|_| create(&server, &healthy.url("/ok")))
        .collect();
    // A window of whole seconds that starts after every job has been claimed at least once.
    let start = jiff::Timestamp::now().as_second() + 3;
    let window = start..start + WINDOW_SECONDS;

    wait_until("every healthy tick of the window delivered", || {
        let delivered: HashSet<(String, i64)> = healthy
            .deliveries()
            .into_iter()
            .map(|delivery| (delivery.job_id, second_of(&delivery.scheduled_time)))
            .collect();
        healthy_jobs.iter().all(|job| {
            window
                .clone()
                .all(|second| delivered.contains(&(job.clone(), second)))
        })
    });
    wait_until(
        "every healthy tick of the window recorded SUCCEEDED",
        || {
            healthy_jobs.iter().all(|job| {
                let succeeded = executions(&server, job)
                    .iter()
                    .filter(|execution| {
                        window.contains(&second_of(execution["scheduledTime"].as_str().unwrap()))
                    })
                    .filter(|execution| execution["status"] == "SUCCEEDED")
                    .count();
                succeeded == WINDOW_SECONDS as usize
            })
        },
    );

    // All the while, the hanging target held its full limit and no more, its other ticks
    // waiting in its own queue.
    assert_eq!(hanging.received_at("/hang").len(), PER_HOST);
    let (status, metrics) = server.request("GET", "/api/metrics", None);
    assert_eq!(status, 200);
    let engine = &metrics["engine"];
    assert!(
        engine["inFlight"].as_u64().unwrap() >= PER_HOST as u64,
        "{engine}"
    );
    let waiting_on_host = engine["waitingOnHost"].as_u64().unwrap();
    assert!(
        waiting_on_host > (JOBS as u64) * (WINDOW_SECONDS as u64),
        "the hanging target's ticks wait on its limit: {engine}"
    );
    assert_eq!(hanging.received_at("/hang").len(), PER_HOST);
}

/// Creates an every-second at-least-once job at `url` whose attempts outlast the test.
fn create(server: &Server, url: &str) -> String {
    let body = json!({
        "schedule": "* * * * * *",
        "api": url,
        "type": "ATLEAST_ONCE",
        "timeoutMs": 120_000,
    });
    let (status, job) = server.request("POST", "/api/jobs", Some(&body));
    assert_eq!(status, 201, "{job}");
    job["jobId"].as_str().expect("a jobId").to_owned()
}

/// The job's latest executions.
fn executions(server: &Server, job: &str) -> Vec<Value> {
    let (status, body) = server.request(
        "GET",
        &format!("/api/jobs/{job}/executions?limit=100"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body["executions"]
        .as_array()
        .expect("an executions array")
        .clone()
}

/// The Unix second of an RFC 3339 instant.
fn second_of(instant: &str) -> i64 {
    instant
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|error| panic!("{instant:?}: {error}"))
        .as_second()
}
