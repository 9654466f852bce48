//! Fault test: the database's disk fills under 1,000 every-second jobs for 30 s, then space is
//! freed. Every tick fires on time throughout, exactly once; health says `degraded` meanwhile;
//! and once space is back every execution is recorded, once, succeeded.
//!
//! An idle server (no job) on a full disk says `degraded` too, through its heartbeat, and stays
//! live.
//!
//! The disk is a small tmpfs the test mounts itself (it needs root, or the right to mount); where
//! the machine forbids it, the test says so and skips.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{LoadSink, Server, now_ms, percentile, poll_until, wait_until};

/// Jobs firing every second.
const JOBS: usize = 1_000;
/// How long the disk stays full.
const FULL_FOR: Duration = Duration::from_secs(30);
/// How late, at most, a tick due while the disk is full may reach its target. A behaviour
/// bound, not a performance one: it holds with room to spare on a loaded two-core machine,
/// and fails if ticks wait for the disk (they would be late by up to [`FULL_FOR`]).
const ON_TIME_MS: i64 = 5_000;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); `None` where mounting is not
    /// allowed.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new()
            .prefix("scheduler-disk-full-")
            .tempdir()
            .ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "skipped: this machine does not let the test mount a tmpfs ({})",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `dir` with a file of zeros until no byte is left; the file's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // Whatever is left, byte by byte in smaller pieces.
    for size in [4096, 512, 1] {
        while file.write_all(&chunk[..size]).is_ok() {}
    }
    let _ = file.sync_all();
    path
}

fn millis_of(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .expect("an RFC 3339 time")
        .as_millisecond()
}

#[test]
fn a_full_disk_leaves_every_tick_firing_and_every_result_recorded_once_space_is_back() {
    let Some(disk) = Tmpfs::mount("128m") else {
        return;
    };
    let sink = LoadSink::start();
    let server = Server::start(&disk.path().join("scheduler.db"), &[]);
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let (status, job) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({
                "schedule": "* * * * * *",
                "api": sink.url(&format!("/job/{i}")),
                "type": "ATLEAST_ONCE",
            })),
        );
        assert_eq!(status, 201, "{job}");
        jobs.push(job["jobId"].as_str().expect("a job id").to_owned());
    }
    wait_until("ticks flowing", || sink.deliveries().len() >= 2 * JOBS);

    let filler = fill(disk.path());
    let full_from = now_ms();
    // Health says so, with the cause, while the disk is full.
    let mut degraded = None;
    poll_until(FULL_FOR, || {
        let (status, health) = server.request("GET", "/api/health", None);
        if status == 503 && health["status"] == "degraded" {
            degraded = Some(health);
        }
        degraded.is_some()
    });
    let degraded = degraded.expect("health answered degraded while the disk was full");
    let cause = degraded["checks"]["writes"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(cause.contains("full"), "the cause is named: {degraded}");
    // Live all the same: the shipped health timer (`scheduler health --live`) leaves it firing.
    assert_eq!(degraded["live"], true, "{degraded}");
    // The disk stays full for FULL_FOR, by the ticks the sink receives.
    let full_until = full_from + FULL_FOR.as_millis() as i64;
    wait_until_long("the disk was full for its time", || {
        sink.deliveries()
            .iter()
            .any(|delivery| millis_of(&delivery.scheduled_time) >= full_until)
    });
    std::fs::remove_file(&filler).expect("free the space");
    let freed = now_ms();

    wait_until_long("everything written once space is back", || {
        let (status, metrics) = server.request("GET", "/api/metrics", None);
        status == 200
            && metrics["engine"]["outageBuffered"] == 0
            && metrics["engine"]["resultsUnwritten"] == 0
            && metrics["degraded"] == false
    });
    let (_, metrics) = server.request("GET", "/api/metrics", None);
    assert!(
        metrics["engine"]["outageClaimed"].as_u64().unwrap_or(0) > 0,
        "ticks were claimed in memory: {metrics}"
    );
    assert_eq!(metrics["engine"]["outageDropped"], 0, "{metrics}");

    // Every tick of the whole window, from a second after the disk filled to a second before
    // space was freed, was delivered exactly once (one execution, one request)...
    let (from, to) = (full_from / 1_000 + 1, freed / 1_000 - 1);
    let mut delivered: BTreeMap<(String, i64), BTreeSet<String>> = BTreeMap::new();
    let mut requests: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let mut lateness = Vec::new();
    for delivery in sink.deliveries() {
        let second = millis_of(&delivery.scheduled_time) / 1_000;
        if (from..=to).contains(&second) {
            lateness.push(delivery.lateness_ms());
            let key = (delivery.job_id.clone(), second);
            delivered
                .entry(key.clone())
                .or_default()
                .insert(delivery.execution_id);
            *requests.entry(key).or_default() += 1;
        }
    }
    let window = usize::try_from(to - from + 1).expect("a window");
    assert_eq!(
        delivered.len(),
        JOBS * window,
        "every job's every tick from {from} to {to} was delivered"
    );
    assert!(
        requests.values().all(|&count| count == 1),
        "no tick was sent twice"
    );
    // ...on time, while the disk was full: fired from memory, not held until space was back.
    let (p50, p99, latest) = (
        percentile(&lateness, 50.0),
        percentile(&lateness, 99.0),
        percentile(&lateness, 100.0),
    );
    eprintln!("lateness while full: p50 {p50} ms, p99 {p99} ms, max {latest} ms");
    assert!(
        latest <= ON_TIME_MS,
        "every tick due while the disk was full arrived within {ON_TIME_MS} ms of its time: \
         p50 {p50} ms, p99 {p99} ms, max {latest} ms"
    );
    // ...and is recorded once, succeeded, under the execution id it was sent with.
    for job in &jobs {
        let (status, executions) = server.request(
            "GET",
            &format!("/api/jobs/{job}/executions?limit=200"),
            None,
        );
        assert_eq!(status, 200, "{executions}");
        let mut recorded: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
        for execution in executions["executions"].as_array().expect("a list") {
            let second = millis_of(execution["scheduledTime"].as_str().expect("a tick")) / 1_000;
            recorded.entry(second).or_default().push(execution);
        }
        for second in from..=to {
            let at_tick = recorded.get(&second).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(at_tick.len(), 1, "job {job} tick {second}: {at_tick:?}");
            let execution = at_tick[0];
            assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
            let sent = &delivered[&(job.clone(), second)];
            assert!(
                sent.contains(execution["executionId"].as_str().unwrap_or_default()),
                "recorded under the id it was sent with: {execution}"
            );
        }
    }
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_idle_server_on_a_full_disk_answers_degraded_and_live_until_space_is_back() {
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let server = Server::start(&disk.path().join("scheduler.db"), &[]);
    assert_eq!(server.request("GET", "/api/health", None).0, 200);
    // No job: nothing is claimed or recorded, and the heartbeat (every 3 s) is the only write.
    let filler = fill(disk.path());
    let mut degraded = None;
    wait_until("health answers degraded", || {
        let (status, health) = server.request("GET", "/api/health", None);
        if status == 503 && health["status"] == "degraded" {
            degraded = Some(health);
        }
        degraded.is_some()
    });
    let degraded = degraded.expect("health answered degraded");
    assert_eq!(degraded["live"], true, "{degraded}");
    let cause = degraded["checks"]["writes"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cause.contains("full") && cause.contains("heartbeat"),
        "the cause is named: {degraded}"
    );

    std::fs::remove_file(&filler).expect("space is freed");
    wait_until("health answers ok again", || {
        server.request("GET", "/api/health", None).0 == 200
    });
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

/// [`wait_until`] with room for the fault's duration.
fn wait_until_long(what: &str, condition: impl FnMut() -> bool) {
    assert!(
        poll_until(FULL_FOR + Duration::from_secs(30), condition),
        "gave up waiting for: {what}"
    );
}
