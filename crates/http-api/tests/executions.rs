//! Triggering, and the execution endpoints: per job, across jobs, by id, with filters.

use std::time::Duration;

use actix_web::http::StatusCode;
use scheduler_core::ExecutionStatus;
use scheduler_core::testing::FakeReply;
use serde_json::{Value, json};

use crate::support::{Harness, app, create, get, is_millisecond_timestamp, job_body, post, within};

#[actix_web::test]
async fn trigger_fires_once_now_and_returns_the_execution() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let id = job["jobId"].as_str().unwrap();

    let reply = post(&app, &format!("/api/jobs/{id}/trigger")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let execution_id = reply.body["executionId"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/executions/{execution_id}").as_str())
    );
    assert_eq!(reply.body["jobId"], id);
    assert_eq!(reply.body["trigger"], "MANUAL");
    assert_eq!(reply.body["scheduledTime"], "2026-03-01T00:00:00.000Z");

    within("the trigger is sent", harness.transport.wait_for_sent(1)).await;
    harness
        .execution_status(&execution_id, ExecutionStatus::Succeeded)
        .await;
    let reply = get(&app, &format!("/api/executions/{execution_id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "executionId": execution_id,
            "jobId": id,
            "scheduledTime": "2026-03-01T00:00:00.000Z",
            "executedTime": "2026-03-01T00:00:00.000Z",
            "finishedTime": "2026-03-01T00:00:00.000Z",
            "status": "SUCCEEDED",
            "trigger": "MANUAL",
            "httpStatus": 200,
            "durationMs": 0,
            "errorMessage": null,
            "attempts": 1,
            "retryCount": 0,
            "redeliveries": 0
        })
    );
    // The job now has statistics.
    let job = get(&app, &format!("/api/jobs/{id}")).await.body;
    assert_eq!(job["stats"]["successRate"], 1.0);
    assert_eq!(job["stats"]["meanDurationMs"], 0);
}

#[actix_web::test]
async fn job_executions_are_newest_first_default_five_and_limited() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, job_body("0 0 * * * *")).await;
    let id = job["jobId"].as_str().unwrap();
    for _ in 0..7 {
        let reply = post(&app, &format!("/api/jobs/{id}/trigger")).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    // Triggers at one instant take the next free milliseconds, which fire when the clock
    // reaches them.
    harness.clock.advance(Duration::from_millis(10));
    harness.finished_executions(7).await;

    let reply = get(&app, &format!("/api/jobs/{id}/executions")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["jobId"], id);
    let executions = reply.body["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 5);
    let times: Vec<&str> = executions
        .iter()
        .map(|e| e["scheduledTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    // Triggers at one instant take the next free millisecond: 6 ms is the newest of 7.
    assert_eq!(times[0], "2026-03-01T00:00:00.006Z");
    for execution in executions {
        assert!(is_millisecond_timestamp(
            execution["scheduledTime"].as_str().unwrap()
        ));
        assert_eq!(execution["retryCount"], 0);
    }

    let reply = get(&app, &format!("/api/jobs/{id}/executions?limit=7")).await;
    assert_eq!(reply.body["executions"].as_array().unwrap().len(), 7);
    let reply = get(&app, &format!("/api/jobs/{id}/executions?limit=1000")).await;
    assert_eq!(reply.body["executions"].as_array().unwrap().len(), 7);
}

#[actix_web::test]
async fn scheduled_ticks_and_failures_show_with_status_filters() {
    let harness = Harness::start().await;
    let app = app!(harness);
    harness
        .transport
        .script("https://failing.example.com/", vec![FakeReply::Status(404)]);
    let good = create(&app, job_body("*/5 * * * * *")).await;
    let mut body = job_body("*/5 * * * * *");
    body["api"] = json!("https://failing.example.com/");
    body["type"] = json!("ATMOST_ONCE");
    let bad = create(&app, body).await;

    // Two ticks of each job: at 5 s and 10 s.
    harness
        .clock
        .advance_to(crate::support::t0() + Duration::from_secs(5));
    within("first ticks", harness.transport.wait_for_sent(2)).await;
    harness
        .clock
        .advance_to(crate::support::t0() + Duration::from_secs(10));
    within("second ticks", harness.transport.wait_for_sent(4)).await;
    harness.finished_executions(4).await;

    let bad_id = bad["jobId"].as_str().unwrap();
    let failed = get(
        &app,
        &format!("/api/jobs/{bad_id}/executions?status=FAILED"),
    )
    .await;
    let failed = failed.body["executions"].as_array().unwrap().clone();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["scheduledTime"], "2026-03-01T00:00:10.000Z");
    assert_eq!(failed[0]["status"], "FAILED");
    assert_eq!(failed[0]["httpStatus"], 404);
    assert_eq!(failed[0]["trigger"], "SCHEDULE");
    assert!(failed[0]["errorMessage"].is_string());

    let succeeded = get(
        &app,
        &format!("/api/jobs/{bad_id}/executions?status=succeeded"),
    )
    .await;
    assert_eq!(succeeded.body["executions"], json!([]));

    // Across jobs: all four, newest first; filtered by status and by job.
    let recent = get(&app, "/api/executions?limit=10").await;
    assert_eq!(recent.status, StatusCode::OK, "{}", recent.body);
    assert_eq!(
        recent.body.as_object().unwrap().len(),
        1,
        "no jobId across jobs"
    );
    let recent = recent.body["executions"].as_array().unwrap().clone();
    assert_eq!(recent.len(), 4);
    assert_eq!(recent[0]["scheduledTime"], "2026-03-01T00:00:10.000Z");
    assert_eq!(recent[3]["scheduledTime"], "2026-03-01T00:00:05.000Z");

    let default = get(&app, "/api/executions").await;
    assert_eq!(default.body["executions"].as_array().unwrap().len(), 4);
    let succeeded = get(&app, "/api/executions?status=SUCCEEDED").await;
    let succeeded = succeeded.body["executions"].as_array().unwrap().clone();
    assert_eq!(succeeded.len(), 2);
    assert!(succeeded.iter().all(|e| e["jobId"] == good["jobId"]));
    let of_bad = get(&app, &format!("/api/executions?jobId={bad_id}&limit=1")).await;
    let of_bad = of_bad.body["executions"].as_array().unwrap().clone();
    assert_eq!(of_bad.len(), 1);
    assert_eq!(of_bad[0]["jobId"], bad_id);
    assert_eq!(of_bad[0]["status"], "FAILED");
}

#[actix_web::test]
async fn retry_count_is_attempts_minus_one() {
    let harness = Harness::start().await;
    let app = app!(harness);
    harness.transport.script(
        "https://flaky.example.com/",
        vec![FakeReply::Status(503), FakeReply::Status(200)],
    );
    let mut body = job_body("0 0 * * * *");
    body["api"] = json!("https://flaky.example.com/");
    body["retry"] =
        json!({"maxAttempts": 3, "initialBackoffMs": 1000, "maxBackoffMs": 1000, "jitter": 0.0});
    let job = create(&app, body).await;
    let id = job["jobId"].as_str().unwrap();
    let execution_id = post(&app, &format!("/api/jobs/{id}/trigger")).await.body["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    within("first attempt", harness.transport.wait_for_sent(1)).await;
    // The retry waits one second on the manual clock.
    let retry_at = crate::support::t0() + Duration::from_secs(1);
    crate::support::eventually("the retry is scheduled", || {
        harness.clock.has_sleeper_at(retry_at)
    })
    .await;
    harness.clock.advance_to(retry_at);
    within("second attempt", harness.transport.wait_for_sent(2)).await;
    harness
        .execution_status(&execution_id, ExecutionStatus::Succeeded)
        .await;
    let reply = get(&app, &format!("/api/executions/{execution_id}")).await;
    assert_eq!(reply.body["attempts"], 2);
    assert_eq!(reply.body["retryCount"], 1);
    assert_eq!(reply.body["httpStatus"], 200);
    assert_eq!(reply.body["errorMessage"], Value::Null);
}
