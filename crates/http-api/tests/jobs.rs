//! The job endpoints' success paths: create, read, replace, delete, list, pause, resume.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::support::{
    Harness, JSON, app, create, get, is_millisecond_timestamp, job_body, post, put_json, send,
};

#[actix_web::test]
async fn create_returns_201_and_the_job_with_every_setting() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let reply = crate::support::post_json(
        &app,
        "/api/jobs",
        &json!({
            "schedule": "31 10-15 1 * * MON-FRI",
            "api": "https://example.com/hook",
            "type": "ATMOST_ONCE",
            "timezone": "Europe/Berlin",
            "method": "put",
            "headers": {"X-Token": "abc", "Accept": "text/plain"},
            "body": "{\"hello\":1}",
            "timeoutMs": 1500,
            "retry": {"maxAttempts": 5, "initialBackoffMs": 200, "maxBackoffMs": 9000, "multiplier": 3.0, "jitter": 0.5},
            "misfire": {"policy": "CATCH_UP", "max": 3},
            "overlap": "SKIP_WHILE_RUNNING",
            "paused": false,
            "name": "nightly report"
        }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let job = &reply.body;
    let id = job["jobId"].as_str().expect("a jobId");
    assert_eq!(job["name"], "nightly report");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/jobs/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(job["schedule"], "31 10-15 1 * * MON-FRI");
    assert_eq!(job["api"], "https://example.com/hook");
    assert_eq!(job["type"], "ATMOST_ONCE");
    assert_eq!(job["timezone"], "Europe/Berlin");
    assert_eq!(job["method"], "PUT");
    assert_eq!(
        job["headers"],
        json!({"X-Token": "abc", "Accept": "text/plain"})
    );
    assert_eq!(job["body"], "{\"hello\":1}");
    assert_eq!(job["timeoutMs"], 1500);
    assert_eq!(
        job["retry"],
        json!({"maxAttempts": 5, "initialBackoffMs": 200, "maxBackoffMs": 9000, "multiplier": 3.0, "jitter": 0.5})
    );
    assert_eq!(job["misfire"], json!({"policy": "CATCH_UP", "max": 3}));
    assert_eq!(job["overlap"], "SKIP_WHILE_RUNNING");
    assert_eq!(job["paused"], false);
    assert_eq!(job["version"], 1);
    assert_eq!(job["createdAt"], "2026-03-01T00:00:00.000Z");
    assert_eq!(job["updatedAt"], "2026-03-01T00:00:00.000Z");
    assert_eq!(job["stats"], Value::Null);
    // Monday 2026-03-02, 01:10:31 in Berlin (UTC+1) is 00:10:31 UTC.
    assert_eq!(
        job["nextFireTimes"],
        json!([
            "2026-03-02T00:10:31.000Z",
            "2026-03-02T00:11:31.000Z",
            "2026-03-02T00:12:31.000Z",
            "2026-03-02T00:13:31.000Z",
            "2026-03-02T00:14:31.000Z"
        ])
    );
    assert_eq!(harness.stored().await.0.len(), 1);
}

#[actix_web::test]
async fn create_takes_the_defaults_and_both_spellings_of_the_type() {
    let harness = Harness::start().await;
    let app = app!(harness);
    for (spelling, canonical) in [
        ("ATLEAST_ONCE", "ATLEAST_ONCE"),
        ("AT_LEAST_ONCE", "ATLEAST_ONCE"),
        ("ATMOST_ONCE", "ATMOST_ONCE"),
        ("AT_MOST_ONCE", "ATMOST_ONCE"),
    ] {
        let mut body = job_body("*/5 * * * * *");
        body["type"] = json!(spelling);
        let job = create(&app, body).await;
        assert_eq!(job["type"], canonical, "{spelling}");
        assert_eq!(job["timezone"], "UTC");
        assert_eq!(job["method"], "POST");
        assert_eq!(job["headers"], json!({}));
        assert_eq!(job["body"], Value::Null);
        assert_eq!(job["timeoutMs"], 30_000);
        assert_eq!(job["retry"]["maxAttempts"], 3);
        assert_eq!(
            job["misfire"],
            json!({"policy": "FIRE_ONCE_NOW", "max": null})
        );
        assert_eq!(job["overlap"], "ALLOW");
        assert_eq!(
            job["nextFireTimes"],
            json!([
                "2026-03-01T00:00:05.000Z",
                "2026-03-01T00:00:10.000Z",
                "2026-03-01T00:00:15.000Z",
                "2026-03-01T00:00:20.000Z",
                "2026-03-01T00:00:25.000Z"
            ])
        );
    }
}

#[actix_web::test]
async fn the_servers_job_defaults_fill_what_a_request_leaves_out() {
    let mut harness = Harness::start().await;
    harness.config.job_defaults = http_api::JobDefaults {
        attempt_timeout: std::time::Duration::from_millis(5_000),
        retry: scheduler_core::RetryPolicy {
            max_attempts: 7,
            ..scheduler_core::RetryPolicy::default()
        },
    };
    let app = app!(harness);
    let job = create(&app, job_body("*/5 * * * * *")).await;
    assert_eq!(job["timeoutMs"], 5_000);
    assert_eq!(job["retry"]["maxAttempts"], 7);
    // A partial retry object overrides only the fields it names.
    let mut body = job_body("*/5 * * * * *");
    body["retry"] = json!({"multiplier": 3.0});
    body["timeoutMs"] = json!(1_000);
    let job = create(&app, body).await;
    assert_eq!(job["timeoutMs"], 1_000);
    assert_eq!(job["retry"]["maxAttempts"], 7);
    assert_eq!(job["retry"]["multiplier"], 3.0);
}

#[actix_web::test]
async fn get_shows_the_job_with_next_fire_times_in_its_zone() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut body = job_body("0 0 9 * * *");
    body["timezone"] = json!("America/New_York");
    let created = create(&app, body).await;
    let id = created["jobId"].as_str().unwrap();

    let reply = get(&app, &format!("/api/jobs/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.body, created);
    // 09:00 in New York is 14:00 UTC before the switch to daylight time on 8 March, 13:00 after.
    assert_eq!(
        reply.body["nextFireTimes"],
        json!([
            "2026-03-01T14:00:00.000Z",
            "2026-03-02T14:00:00.000Z",
            "2026-03-03T14:00:00.000Z",
            "2026-03-04T14:00:00.000Z",
            "2026-03-05T14:00:00.000Z"
        ])
    );
    for field in ["createdAt", "updatedAt"] {
        assert!(is_millisecond_timestamp(
            reply.body[field].as_str().unwrap()
        ));
    }
}

#[actix_web::test]
async fn put_replaces_the_job_and_reschedules_at_once() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().unwrap();
    assert_eq!(created["nextFireTimes"][0], "2026-03-01T01:00:00.000Z");

    let mut body = job_body("*/10 * * * * *");
    body["type"] = json!("AT_MOST_ONCE");
    let reply = put_json(&app, &format!("/api/jobs/{id}"), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(reply.body["version"], 2);
    assert_eq!(reply.body["schedule"], "*/10 * * * * *");
    assert_eq!(reply.body["type"], "ATMOST_ONCE");
    assert_eq!(reply.body["nextFireTimes"][0], "2026-03-01T00:00:10.000Z");
    assert_eq!(reply.body["createdAt"], created["createdAt"]);

    let stored = harness
        .engine
        .get_job(id.parse().map(scheduler_core::JobId).unwrap())
        .await;
    let stored = stored.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.spec.schedule.to_string(), "*/10 * * * * *");
}

#[actix_web::test]
async fn every_overlap_policy_is_accepted_stored_and_returned() {
    let harness = Harness::start().await;
    let app = app!(harness);
    for (spelling, policy) in [
        ("ALLOW", scheduler_core::OverlapPolicy::Allow),
        (
            "SKIP_WHILE_RUNNING",
            scheduler_core::OverlapPolicy::SkipWhileRunning,
        ),
        ("BUFFER_ONE", scheduler_core::OverlapPolicy::BufferOne),
    ] {
        let mut body = job_body("0 * * * * *");
        body["overlap"] = json!(spelling);
        let created = create(&app, body).await;
        assert_eq!(created["overlap"], spelling);
        let id = created["jobId"].as_str().unwrap();
        let read = get(&app, &format!("/api/jobs/{id}")).await;
        assert_eq!(read.body["overlap"], spelling);
        let stored = harness
            .engine
            .get_job(id.parse().map(scheduler_core::JobId).unwrap())
            .await;
        assert_eq!(stored.unwrap().unwrap().spec.overlap, policy);
    }
}

#[actix_web::test]
async fn put_checks_the_version_from_if_match_or_the_body() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().unwrap();
    let uri = format!("/api/jobs/{id}");

    // If-Match: * takes any version.
    let reply = send(
        &app,
        TestRequest::put()
            .uri(&uri)
            .insert_header(("If-Match", "*"))
            .set_json(job_body("0 20 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["version"], 2);

    // If-Match with the current ETag succeeds.
    let reply = send(
        &app,
        TestRequest::put()
            .uri(&uri)
            .insert_header(("If-Match", "W/\"2\""))
            .set_json(job_body("0 30 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["version"], 3);

    // A stale If-Match conflicts and changes nothing.
    let reply = send(
        &app,
        TestRequest::put()
            .uri(&uri)
            .insert_header(("If-Match", "2"))
            .set_json(job_body("0 15 * * * *")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_field(), Some("version"));
    assert_eq!(reply.body["error"]["code"], "version_conflict");
    assert_eq!(reply.header("etag"), Some("\"3\""));

    // The job as read, sent back with a stale version in the body, conflicts as well.
    let mut read_back = get(&app, &uri).await.body;
    read_back["version"] = json!(2);
    read_back["schedule"] = json!("0 45 * * * *");
    let reply = put_json(&app, &uri, &read_back).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);

    // ... and with the current version succeeds: a GET-modify-PUT round trip.
    read_back["version"] = json!(3);
    let reply = put_json(&app, &uri, &read_back).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["schedule"], "0 45 * * * *");
    assert_eq!(reply.body["version"], 4);
}

#[actix_web::test]
async fn delete_removes_the_job() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let uri = format!("/api/jobs/{}", created["jobId"].as_str().unwrap());

    let reply = send(&app, TestRequest::delete().uri(&uri).insert_header(JSON)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null);
    assert_eq!(get(&app, &uri).await.status, StatusCode::NOT_FOUND);
    assert!(harness.stored().await.0.is_empty());
    let again = send(&app, TestRequest::delete().uri(&uri).insert_header(JSON)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn pause_and_resume() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let created = create(&app, job_body("0 0 * * * *")).await;
    let id = created["jobId"].as_str().unwrap();

    let paused = post(&app, &format!("/api/jobs/{id}/pause")).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["paused"], true);
    assert_eq!(paused.body["nextFireTimes"], json!([]));
    assert_eq!(paused.body["version"], 2);

    let resumed = post(&app, &format!("/api/jobs/{id}/resume")).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["paused"], false);
    assert_eq!(resumed.body["nextFireTimes"][0], "2026-03-01T01:00:00.000Z");
}

#[actix_web::test]
async fn list_pages_through_every_job_with_a_cursor() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create(&app, job_body("0 0 * * * *")).await["jobId"].clone());
    }
    ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));

    let mut seen = Vec::new();
    let mut uri = "/api/jobs?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let reply = get(&app, &uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        pages += 1;
        let jobs = reply.body["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2);
        seen.extend(jobs.iter().map(|job| job["jobId"].clone()));
        match reply.body["nextCursor"].as_str() {
            Some(cursor) => {
                assert_eq!(Some(&json!(cursor)), seen.last());
                uri = format!("/api/jobs?limit=2&after={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    let all = get(&app, "/api/jobs").await;
    assert_eq!(all.body["jobs"].as_array().unwrap().len(), 5);
    assert_eq!(all.body["nextCursor"], Value::Null);
}

#[actix_web::test]
async fn list_filters_by_paused_and_type() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let at_least = create(&app, job_body("0 0 * * * *")).await;
    let mut body = job_body("0 0 * * * *");
    body["type"] = json!("ATMOST_ONCE");
    body["paused"] = json!(true);
    let at_most_paused = create(&app, body).await;

    let ids = |reply: &crate::support::Reply| -> Vec<Value> {
        reply.body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["jobId"].clone())
            .collect()
    };
    let paused = get(&app, "/api/jobs?paused=true").await;
    assert_eq!(ids(&paused), vec![at_most_paused["jobId"].clone()]);
    let active = get(&app, "/api/jobs?paused=false").await;
    assert_eq!(ids(&active), vec![at_least["jobId"].clone()]);
    let at_most = get(&app, "/api/jobs?type=AT_MOST_ONCE").await;
    assert_eq!(ids(&at_most), vec![at_most_paused["jobId"].clone()]);
    let none = get(&app, "/api/jobs?type=ATLEAST_ONCE&paused=true").await;
    assert!(ids(&none).is_empty());
}

#[actix_web::test]
async fn a_signing_secret_is_write_only_kept_by_a_put_without_it_and_removed_by_null() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut body = job_body("0 0 * * * *");
    body["signingSecret"] = json!("whsec_job_1");
    let job = create(&app, body.clone()).await;
    assert_eq!(job["hasSigningSecret"], true);
    assert!(!job.to_string().contains("whsec_job_1"), "{job}");
    assert_eq!(stored_secrets(&harness).await, ["whsec_job_1"]);
    let id = job["jobId"].as_str().expect("a job id").to_owned();
    let uri = format!("/api/jobs/{id}");

    let read = get(&app, &uri).await;
    assert_eq!(read.body["hasSigningSecret"], true);
    assert!(!read.body.to_string().contains("whsec_job_1"));
    let listed = get(&app, "/api/jobs").await;
    assert!(!listed.body.to_string().contains("whsec_job_1"));

    // What GET answered, sent back as it is: the secret stays.
    let reply = put_json(&app, &uri, &read.body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["hasSigningSecret"], true);
    assert_eq!(stored_secrets(&harness).await, ["whsec_job_1"]);

    // A new one replaces it; null removes it.
    body["signingSecret"] = json!("whsec_job_2");
    put_json(&app, &uri, &body).await;
    assert_eq!(stored_secrets(&harness).await, ["whsec_job_2"]);
    body["signingSecret"] = Value::Null;
    let reply = put_json(&app, &uri, &body).await;
    assert_eq!(reply.body["hasSigningSecret"], false);
    assert_eq!(reply.body["signingSecretCount"], 0);
    assert!(stored_secrets(&harness).await.is_empty());

    for bad in [
        json!(""),
        json!(7),
        json!("x".repeat(257)),
        json!("line\nbreak"),
        json!([]),
        json!(["a", "b", "c"]),
        json!(["a", ""]),
        json!(["a", 7]),
        json!(["line\nbreak"]),
        json!({"current": "a"}),
    ] {
        body["signingSecret"] = bad.clone();
        let reply = crate::support::post_json(&app, "/api/jobs", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some("signingSecret"), "{}", reply.body);
        assert!(
            !reply.body.to_string().contains("line\\nbreak"),
            "{}",
            reply.body
        );
    }
}

#[actix_web::test]
async fn two_signing_secrets_rotate_and_a_placeholder_keeps_the_one_at_its_position() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut body = job_body("0 0 * * * *");
    body["signingSecret"] = json!(["whsec_old"]);
    let job = create(&app, body.clone()).await;
    assert_eq!(
        (&job["hasSigningSecret"], &job["signingSecretCount"]),
        (&json!(true), &json!(1))
    );
    let uri = format!("/api/jobs/{}", job["jobId"].as_str().expect("a job id"));

    // Rotation: the new secret first, the old one still signing.
    body["signingSecret"] = json!(["whsec_new", "whsec_old"]);
    let reply = put_json(&app, &uri, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["signingSecretCount"], 2);
    assert!(!reply.body.to_string().contains("whsec_"), "{}", reply.body);
    assert_eq!(stored_secrets(&harness).await, ["whsec_new", "whsec_old"]);

    // A PUT without the field, or with the placeholders an export writes, keeps both.
    let read = get(&app, &uri).await.body;
    let reply = put_json(&app, &uri, &read).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    body["signingSecret"] = json!(["***", "***"]);
    let reply = put_json(&app, &uri, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(stored_secrets(&harness).await, ["whsec_new", "whsec_old"]);

    // The end of the rotation: the current secret alone, kept through its placeholder.
    body["signingSecret"] = json!("***");
    let reply = put_json(&app, &uri, &body).await;
    assert_eq!(reply.body["signingSecretCount"], 1, "{}", reply.body);
    assert_eq!(stored_secrets(&harness).await, ["whsec_new"]);

    // A placeholder for a secret the job does not have is refused, naming the field.
    body["signingSecret"] = json!(["whsec_newer", "***"]);
    let reply = put_json(&app, &uri, &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_field(), Some("signingSecret"), "{}", reply.body);
    assert_eq!(stored_secrets(&harness).await, ["whsec_new"]);
    // So is a placeholder in a new job: there is nothing stored to keep.
    for placeholder in [json!("***"), json!(["whsec_a", "***"])] {
        body["signingSecret"] = placeholder;
        let reply = crate::support::post_json(&app, "/api/jobs", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.error_field(), Some("signingSecret"), "{}", reply.body);
    }
}

/// The signing secrets of the one stored job.
async fn stored_secrets(harness: &Harness) -> Vec<String> {
    harness.stored().await.0[0]
        .spec
        .signing_secrets
        .iter()
        .map(|secret| secret.expose().to_owned())
        .collect()
}

#[actix_web::test]
async fn jitter_ms_round_trips_and_moves_next_fire_times() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let plain = create(&app, job_body("0 * * * * *")).await;
    assert_eq!(
        plain["jitterMs"],
        Value::Null,
        "none set: the server default"
    );
    let mut body = job_body("0 * * * * *");
    body["jitterMs"] = json!(30_000);
    let job = create(&app, body).await;
    assert_eq!(job["jitterMs"], 30_000);

    // Each shown instant is its minute's tick moved by the job's documented offset.
    let id: uuid::Uuid = job["jobId"].as_str().unwrap().parse().unwrap();
    let stored = harness
        .engine
        .get_job(scheduler_core::JobId(id))
        .await
        .unwrap()
        .expect("the job");
    let times = job["nextFireTimes"].as_array().expect("an array");
    assert_eq!(times.len(), 5);
    for (minute, shown) in (1_i64..).zip(times) {
        let tick =
            scheduler_core::Timestamp::from_second(crate::support::t0().as_second() + 60 * minute)
                .unwrap();
        let fire = scheduler_core::tick_fire_instant(
            stored.id,
            &stored.spec,
            tick,
            std::time::Duration::ZERO,
        );
        let shown: scheduler_core::Timestamp = shown.as_str().unwrap().parse().unwrap();
        assert_eq!(shown, fire, "minute {minute}");
        assert!(shown >= tick && shown.as_millisecond() < tick.as_millisecond() + 30_000);
    }

    // A PUT may turn it off; one without the field goes back to the server default.
    let uri = format!("/api/jobs/{id}");
    let mut body = job_body("0 * * * * *");
    body["jitterMs"] = json!(0);
    let replaced = put_json(&app, &uri, &body).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["jitterMs"], 0);
    assert_eq!(
        replaced.body["nextFireTimes"][0], "2026-03-01T00:01:00.000Z",
        "no jitter: the nominal tick"
    );
    let replaced = put_json(&app, &uri, &job_body("0 * * * * *")).await;
    assert_eq!(replaced.body["jitterMs"], Value::Null);
}

#[actix_web::test]
async fn a_jobs_alert_is_stored_shown_with_its_defaults_and_removed_by_a_put_without_it() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let mut body = job_body("0 * * * * *");
    body["alert"] = json!({"webhookUrl": " https://hooks.example.com/T0?token=x "});
    let created = create(&app, body.clone()).await;
    assert_eq!(
        created["alert"],
        json!({"webhookUrl": "https://hooks.example.com/T0?token=x", "afterFailures": 1, "onRecovery": false})
    );
    let id = created["jobId"].as_str().unwrap().to_owned();
    let job_id = scheduler_core::JobId(id.parse().unwrap());
    let stored = harness.engine.get_job(job_id).await.unwrap().unwrap();
    assert_eq!(
        stored.spec.alert,
        Some(scheduler_core::JobAlertSettings::new(
            "https://hooks.example.com/T0?token=x"
        ))
    );

    body["alert"] =
        json!({"webhookUrl": "http://hooks.test/b", "afterFailures": 5, "onRecovery": true});
    let replaced = send(
        &app,
        TestRequest::put()
            .uri(&format!("/api/jobs/{id}"))
            .set_json(body.clone()),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let read = get(&app, &format!("/api/jobs/{id}")).await;
    assert_eq!(
        read.body["alert"],
        json!({"webhookUrl": "http://hooks.test/b", "afterFailures": 5, "onRecovery": true})
    );

    body.as_object_mut().unwrap().remove("alert");
    let replaced = send(
        &app,
        TestRequest::put()
            .uri(&format!("/api/jobs/{id}"))
            .set_json(body),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["alert"], Value::Null);
}
