//! Ticks due while a server on SQLite was down: after a SIGKILL and about four seconds down
//! (less than `--misfire-threshold`), the restart fires what each job's misfire policy keeps of
//! them, not every one at once; every tick after the restart fires.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, Sink, db_path, temp_dir, wait_until};

/// How long the server stays down: pacing (the downtime itself), not synchronisation.
const DOWN_FOR: Duration = Duration::from_secs(4);

/// The whole seconds of the ticks `path` received (each once, re-sends folded together).
fn ticks_received(sink: &Sink, path: &str) -> BTreeSet<i64> {
    sink.received_at(path)
        .iter()
        .map(|request| {
            request.headers["x-scheduler-scheduled-time"]
                .parse::<jiff::Timestamp>()
                .expect("an RFC 3339 timestamp")
                .as_second()
        })
        .collect()
}

fn create_every_second(server: &Server, api: &str, misfire: Value) {
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({
            "schedule": "* * * * * *",
            "api": api,
            "type": "ATLEAST_ONCE",
            "misfire": misfire,
        })),
    );
    assert_eq!(status, 201, "{job}");
}

#[test]
fn after_seconds_down_on_sqlite_each_job_fires_what_its_misfire_policy_keeps() {
    let dir = temp_dir();
    let db = db_path(&dir);
    let sink = Sink::start();
    let server = Server::start(&db, &[]);
    let paths = ["/once", "/catch-up", "/skip"];
    create_every_second(
        &server,
        &sink.url(paths[0]),
        json!({"policy": "FIRE_ONCE_NOW"}),
    );
    create_every_second(
        &server,
        &sink.url(paths[1]),
        json!({"policy": "CATCH_UP", "max": 2}),
    );
    create_every_second(
        &server,
        &sink.url(paths[2]),
        json!({"policy": "SKIP_TO_NEXT"}),
    );
    wait_until("every job fired before the kill", || {
        paths
            .iter()
            .all(|path| !ticks_received(&sink, path).is_empty())
    });
    server.kill();
    let killed_ms = jiff::Timestamp::now().as_millisecond();
    std::thread::sleep(DOWN_FOR);
    let relaunched_ms = jiff::Timestamp::now().as_millisecond();
    let server = Server::start(&db, &[]);
    let listening = jiff::Timestamp::now().as_second();

    wait_until("every job fires on schedule after the restart", || {
        paths.iter().all(|path| {
            ticks_received(&sink, path)
                .iter()
                .any(|&tick| tick >= listening + 3)
        })
    });
    // Due after the kill and before the server was launched again: surely while it was down.
    let down: Vec<i64> = (killed_ms / 1_000 + 1..)
        .take_while(|tick| tick * 1_000 < relaunched_ms)
        .collect();
    assert!(down.len() >= 3, "{down:?}");
    let fired_of_down = |path: &str| -> Vec<i64> {
        ticks_received(&sink, path)
            .into_iter()
            .filter(|tick| down.contains(tick))
            .collect()
    };
    // The latest missed tick once, the latest two, none: the latest missed tick may also be
    // due after the relaunch, while the server was starting, hence "at most".
    let (once, catch_up, skip) = (
        fired_of_down(paths[0]),
        fired_of_down(paths[1]),
        fired_of_down(paths[2]),
    );
    assert!(once.len() <= 1, "FIRE_ONCE_NOW fired {once:?} of {down:?}");
    assert!(
        catch_up.len() <= 2,
        "CATCH_UP max 2 fired {catch_up:?} of {down:?}"
    );
    assert!(skip.is_empty(), "SKIP_TO_NEXT fired {skip:?} of {down:?}");
    // Every tick once the server listened again fired, for every policy.
    for path in paths {
        let received = ticks_received(&sink, path);
        for tick in listening + 1..=listening + 3 {
            assert!(received.contains(&tick), "{path}: tick {tick} not fired");
        }
    }
    let (status, metrics) = server.request("GET", "/api/metrics", None);
    assert_eq!(status, 200, "{metrics}");
    // Of at least three ticks down: at least 2, 1 and 3 dropped.
    let misfired = metrics["engine"]["misfired"].as_u64().unwrap_or(0);
    assert!(misfired >= 2 + 1 + 3, "misfired {misfired}: {metrics}");
}
