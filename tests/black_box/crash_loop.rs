//! Fault test 3, the crash loop: one `scheduler serve` on SQLite with 2,000 every-second jobs
//! (even ones at-least-once, odd ones at-most-once), killed with SIGKILL at random points ten
//! times and restarted at once each time.
//!
//! Afterwards, over a window of ticks from after the jobs were created to after the last
//! restart: every tick of every job is recorded exactly once, in a final state; every
//! at-least-once tick succeeded and was delivered at least once; no at-most-once execution was
//! delivered twice; every delivery of an execution after its first carried
//! `X-Scheduler-Redelivery: true`, and every execution sent again records its re-sends. The
//! findings are gathered, printed and asserted together at the end.
//!
//! Half the kills land in the first 150 ms of a second, in the burst of that second's ticks
//! while results wait for the writer's linger (100 ms), so that they leave sent but unrecorded
//! executions behind; the others anywhere. The jobs' misfire policy is `CATCH_UP` with the
//! largest `max`, so that the ticks due while the server was down (missed, on SQLite, however
//! short the downtime) and those recovered late all fire: this test is about re-sends,
//! misfires have tests of their own. It takes about a minute; nextest runs it alone
//! (`.config/nextest.toml`, group `heavy`). `CRASH_LOOP_SEED` repeats a run's kill points.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::support::{Delivery, LoadSink, Server, db_path, poll_until, temp_dir};

/// Every-second jobs: two thousand ticks a second.
const JOBS: usize = 2_000;
/// SIGKILLs, each followed by a restart under the same (default) node id.
const KILLS: usize = 10;
/// How long the server runs between a restart and the next kill, at random within this range of
/// milliseconds (before the kill's phase in its second is chosen).
const RUN_FOR_MS: std::ops::Range<u64> = 1_000..2_500;
/// Where in a second a burst kill lands: while that second's attempts are in flight or their
/// results wait for the writer.
const BURST_PHASE_MS: std::ops::Range<i64> = 0..150;
/// How long the server runs after the last restart before the window closes.
const AFTER_LAST_RESTART: Duration = Duration::from_secs(3);
/// How long the server gets to finish the window's ticks after it closes.
const SETTLE: Duration = Duration::from_secs(20);
/// The sink path the jobs target.
const TARGET_PATH: &str = "/crash";
/// Start-up arguments: the defaults.
const SERVE_ARGS: [&str; 0] = [];
/// The jobs' misfire policy: every missed tick fires (see the module's doc).
const CATCH_UP_MAX: u64 = 1_000;

#[test]
fn ten_sigkills_under_load_record_every_tick_once_and_mark_every_resend() {
    let seed = match std::env::var("CRASH_LOOP_SEED") {
        Ok(seed) => seed.parse().expect("CRASH_LOOP_SEED is a number"),
        Err(_) => now_ms().unsigned_abs(),
    };
    println!("crash loop: seed {seed} (CRASH_LOOP_SEED={seed} repeats it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = temp_dir();
    let db = db_path(&dir);
    let sink = LoadSink::start();
    let mut server = Server::start(&db, &SERVE_ARGS);
    let created = Instant::now();
    let jobs = create_jobs(&server, &sink.url(TARGET_PATH));
    println!(
        "crash loop: created {JOBS} jobs in {:.1?}",
        created.elapsed()
    );
    // Every job exists from a second after this on.
    let first_ms = whole_second_after(now_ms() + 1_000);

    let mut restarts = Vec::with_capacity(KILLS);
    for kill in 0..KILLS {
        std::thread::sleep(Duration::from_millis(rng.u64(RUN_FOR_MS)));
        let phase_ms = if kill % 2 == 0 {
            rng.i64(BURST_PHASE_MS)
        } else {
            rng.i64(0..1_000)
        };
        pace_to_phase(phase_ms);
        server.kill();
        let restarting = Instant::now();
        server = Server::start(&db, &SERVE_ARGS);
        restarts.push(restarting.elapsed());
        println!(
            "crash loop: kill {} at {phase_ms} ms into a second; listening again after {:.1?}",
            kill + 1,
            restarts[kill]
        );
    }
    std::thread::sleep(AFTER_LAST_RESTART);
    let last_ms = whole_second_after(now_ms()) - 1_000;
    let window = (first_ms, last_ms);
    let ticks = ((last_ms - first_ms) / 1_000 + 1) as usize;
    let settled = poll_until(SETTLE, || unfinished_in(&db, window) == 0);
    let status = server.terminate();
    println!("crash loop: the server exited with {status}");

    let rows = executions_in(&db, window);
    let deliveries: Vec<Delivery> = sink
        .deliveries()
        .into_iter()
        .filter(|delivery| delivery.path == TARGET_PATH)
        .collect();
    let mut findings = Vec::new();
    let mut check = |holds: bool, failure: String| {
        if !holds {
            println!("crash loop: FAILED: {failure}");
            findings.push(failure);
        }
    };
    check(
        settled,
        format!("executions of the window still unfinished {SETTLE:?} after it closed"),
    );

    // Recorded exactly once, in a final state.
    let mut per_tick: HashMap<(&str, i64), usize> = HashMap::new();
    for row in &rows {
        *per_tick.entry((row.job.as_str(), row.tick_ms)).or_default() += 1;
    }
    let duplicated = per_tick.values().filter(|&&count| count > 1).count();
    let missing = jobs.len() * ticks - per_tick.len();
    check(
        duplicated == 0,
        format!("{duplicated} ticks recorded more than once"),
    );
    check(
        missing == 0,
        format!("{missing} of {} ticks not recorded", jobs.len() * ticks),
    );

    let mut sent: HashMap<&str, Vec<&Delivery>> = HashMap::new();
    for delivery in &deliveries {
        sent.entry(delivery.execution_id.as_str())
            .or_default()
            .push(delivery);
    }
    let at_least_once: HashSet<&str> = jobs
        .iter()
        .filter(|job| job.at_least_once)
        .map(|job| job.id.as_str())
        .collect();
    let mut unsucceeded = Vec::new();
    let mut undelivered = Vec::new();
    let mut sent_twice_at_most_once = Vec::new();
    let mut uncounted = Vec::new();
    for row in &rows {
        let times = sent.get(row.id.as_str()).map_or(0, Vec::len);
        if at_least_once.contains(row.job.as_str()) {
            if row.status != "SUCCEEDED" {
                unsucceeded.push(format!("{} {}", row.id, row.status));
            }
            if times == 0 {
                undelivered.push(row.id.clone());
            }
        } else {
            if times > 1 {
                sent_twice_at_most_once.push(row.id.clone());
            }
            if row.status != "SUCCEEDED" && row.status != "ABANDONED" {
                unsucceeded.push(format!("{} {}", row.id, row.status));
            }
        }
        if times > 1 && row.redeliveries == 0 {
            uncounted.push(row.id.clone());
        }
    }
    check(
        unsucceeded.is_empty(),
        format!(
            "{} executions of the window in an unexpected state: {:?}",
            unsucceeded.len(),
            first_few(&unsucceeded)
        ),
    );
    check(
        undelivered.is_empty(),
        format!(
            "{} at-least-once executions never delivered: {:?}",
            undelivered.len(),
            first_few(&undelivered)
        ),
    );
    check(
        sent_twice_at_most_once.is_empty(),
        format!(
            "{} at-most-once executions delivered twice: {:?}",
            sent_twice_at_most_once.len(),
            first_few(&sent_twice_at_most_once)
        ),
    );
    check(
        uncounted.is_empty(),
        format!(
            "{} executions delivered more than once record no re-send: {:?}",
            uncounted.len(),
            first_few(&uncounted)
        ),
    );

    // Every delivery of an execution after its first is a marked re-send (the sink answers
    // every request at once with 200, so none is a retry).
    let mut resent = 0;
    let mut unmarked = Vec::new();
    for (execution, times) in &sent {
        if times.len() > 1 {
            resent += 1;
        }
        if times[1..].iter().any(|delivery| !delivery.redelivery) {
            unmarked.push((*execution).to_owned());
        }
    }
    check(
        unmarked.is_empty(),
        format!(
            "{} executions delivered again without the redelivery header: {:?}",
            unmarked.len(),
            first_few(&unmarked)
        ),
    );
    check(
        resent > 0,
        "no execution was delivered twice: the kills left nothing sent but unrecorded".to_owned(),
    );
    let marked = deliveries.iter().filter(|d| d.redelivery).count();
    println!(
        "crash loop: {} ticks of {} jobs in the window ({} executions), {} deliveries in all, \
         {resent} executions delivered more than once, {marked} deliveries marked as re-sends",
        ticks,
        jobs.len(),
        rows.len(),
        deliveries.len()
    );
    assert!(
        findings.is_empty(),
        "{} of the crash loop's checks failed (seed {seed}):\n- {}",
        findings.len(),
        findings.join("\n- ")
    );
}

/// A created job.
struct Job {
    id: String,
    at_least_once: bool,
}

/// Creates [`JOBS`] every-second jobs targeting `target` from four client threads.
fn create_jobs(server: &Server, target: &str) -> Vec<Job> {
    const CLIENTS: usize = 4;
    let mut created: Vec<(usize, Job)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                scope.spawn(move || {
                    (client..JOBS)
                        .step_by(CLIENTS)
                        .map(|index| (index, create_job(server, target, index)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("a creating thread"))
            .collect()
    });
    created.sort_by_key(|(index, _)| *index);
    created.into_iter().map(|(_, job)| job).collect()
}

fn create_job(server: &Server, target: &str, index: usize) -> Job {
    let at_least_once = index.is_multiple_of(2);
    let delivery = if at_least_once {
        "ATLEAST_ONCE"
    } else {
        "ATMOST_ONCE"
    };
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({
            "schedule": "* * * * * *",
            "api": target,
            "type": delivery,
            "misfire": {"policy": "CATCH_UP", "max": CATCH_UP_MAX},
        })),
    );
    assert_eq!(status, 201, "{job}");
    Job {
        id: job["jobId"].as_str().expect("a jobId").to_owned(),
        at_least_once,
    }
}

/// Milliseconds since the epoch, as the store keeps instants.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The first whole second at or after `ms`.
fn whole_second_after(ms: i64) -> i64 {
    (ms + 999).div_euclid(1_000) * 1_000
}

/// Waits until the clock is `phase_ms` into a second: the kills are paced by the clock (where
/// they land), never synchronised by it.
fn pace_to_phase(phase_ms: i64) {
    let wait = (phase_ms - now_ms().rem_euclid(1_000)).rem_euclid(1_000);
    std::thread::sleep(Duration::from_millis(wait as u64));
}

/// The first few of `items`, for a failure message.
fn first_few(items: &[String]) -> &[String] {
    &items[..items.len().min(5)]
}

/// A read-only connection to the server's database (WAL mode: it reads beside the writer).
fn open(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the database opens read-only")
}

/// How many executions of the window's ticks are unfinished.
fn unfinished_in(db: &Path, (first_ms, last_ms): (i64, i64)) -> i64 {
    open(db)
        .query_row(
            "SELECT count(*) FROM job_executions WHERE scheduled_time BETWEEN ?1 AND ?2 \
             AND status IN ('PENDING', 'RUNNING')",
            [first_ms, last_ms],
            |row| row.get(0),
        )
        .expect("count the unfinished executions")
}

/// One stored execution.
struct Row {
    id: String,
    job: String,
    tick_ms: i64,
    status: String,
    redeliveries: i64,
}

/// Every execution of the window's ticks.
fn executions_in(db: &Path, (first_ms, last_ms): (i64, i64)) -> Vec<Row> {
    let connection = open(db);
    let mut statement = connection
        .prepare(
            "SELECT id, job_id, scheduled_time, status, redeliveries FROM job_executions \
             WHERE scheduled_time BETWEEN ?1 AND ?2",
        )
        .expect("the query");
    statement
        .query_map([first_ms, last_ms], |row| {
            Ok(Row {
                id: row.get(0)?,
                job: row.get(1)?,
                tick_ms: row.get(2)?,
                status: row.get(3)?,
                redeliveries: row.get(4)?,
            })
        })
        .and_then(Iterator::collect)
        .expect("the executions")
}
