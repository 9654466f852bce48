//! One-off jobs (`runAt`) and windows (`startAt`, `endAt`) through the API: their fields,
//! their 400s, `nextFireTimes`, and `done` once the last execution finished.

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Harness, app, create, get, post_json, t0};

/// `t0()` plus `seconds`, as the API writes instants.
fn instant(seconds: i64) -> String {
    let t = scheduler_core::Timestamp::from_second(t0().as_second() + seconds).expect("an instant");
    format!("{t:.3}")
}

fn one_off(run_at: &str) -> Value {
    json!({"runAt": run_at, "api": "https://example.com/hook", "type": "ATLEAST_ONCE"})
}

#[actix_web::test]
async fn a_one_off_job_shows_its_instant_and_is_done_after_it_fired() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let job = create(&app, one_off(&instant(60))).await;
    assert_eq!(job["schedule"], Value::Null);
    assert_eq!(job["runAt"], json!(instant(60)));
    assert_eq!(job["nextFireTimes"], json!([instant(60)]));
    assert_eq!(
        (&job["done"], &job["doneAt"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(job["deleteAfterRun"], json!(false));
    let uri = format!("/api/jobs/{}", job["jobId"].as_str().expect("an id"));

    harness
        .clock
        .advance_to(scheduler_core::Timestamp::from_second(t0().as_second() + 60).expect("60 s"));
    harness.finished_executions(1).await;
    let done = crate::support::within("the job shows done", async {
        loop {
            let job = get(&app, &uri).await.body;
            if job["done"] == json!(true) {
                return job;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(done["doneAt"], json!(instant(60)));
    assert_eq!(done["nextFireTimes"], json!([]));
    let executions = get(&app, &format!("{uri}/executions")).await.body;
    assert_eq!(executions["executions"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn next_fire_times_stay_within_the_window() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let body = json!({
        "schedule": "0 * * * * *", "api": "https://example.com/hook", "type": "ATLEAST_ONCE",
        "startAt": instant(3_600), "endAt": instant(3_780),
    });
    let job = create(&app, body).await;
    assert_eq!(
        job["nextFireTimes"],
        json!([
            instant(3_600),
            instant(3_660),
            instant(3_720),
            instant(3_780)
        ])
    );
    assert_eq!(
        (&job["startAt"], &job["endAt"]),
        (&json!(instant(3_600)), &json!(instant(3_780)))
    );
}

#[actix_web::test]
async fn bad_one_off_and_window_fields_are_400_naming_the_field() {
    let harness = Harness::start().await;
    let app = app!(harness);
    let hook = "https://example.com/hook";
    let cases = [
        (one_off("tomorrow"), "runAt"),
        (one_off(&instant(-3_600)), "runAt"),
        (
            json!({"runAt": 5, "api": hook, "type": "ATLEAST_ONCE"}),
            "runAt",
        ),
        (
            json!({"schedule": "0 * * * * *", "runAt": instant(60), "api": hook, "type": "ATLEAST_ONCE"}),
            "runAt",
        ),
        (json!({"api": hook, "type": "ATLEAST_ONCE"}), "schedule"),
        (
            json!({"runAt": instant(60), "startAt": instant(0), "api": hook, "type": "ATLEAST_ONCE"}),
            "startAt",
        ),
        (
            json!({"schedule": "0 * * * * *", "endAt": instant(-60), "api": hook, "type": "ATLEAST_ONCE"}),
            "endAt",
        ),
        (
            json!({"schedule": "0 * * * * *", "startAt": instant(600), "endAt": instant(300), "api": hook, "type": "ATLEAST_ONCE"}),
            "endAt",
        ),
        (
            json!({"schedule": "0 * * * * *", "startAt": "2026-13-01T00:00:00Z", "api": hook, "type": "ATLEAST_ONCE"}),
            "startAt",
        ),
        (
            json!({"runAt": instant(60), "deleteAfterRun": "yes", "api": hook, "type": "ATLEAST_ONCE"}),
            "deleteAfterRun",
        ),
    ];
    for (body, field) in cases {
        let reply = post_json(&app, "/api/jobs", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.error_field(), Some(field), "{body}: {}", reply.body);
    }
    assert!(harness.stored().await.0.is_empty());
    // Within the misfire threshold (10 s) a past instant is accepted and fires at once.
    let late = create(&app, one_off(&instant(-5))).await;
    assert_eq!(late["runAt"], json!(instant(-5)));
}
