//! SIGTERM under load: the server stops firing at once, drains attempts and requests in one
//! grace period (even with a keep-alive client holding a connection open, or with attempts
//! that would take longer than the grace), and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{LoadSink, Server, Sink, db_path, now_ms, temp_dir, wait_until};

/// Polls `/api/health` on one keep-alive connection until `stop` is set or the server closes
/// it, as a load balancer or a dashboard would.
fn poll_health(address: std::net::SocketAddr, stop: Arc<AtomicBool>) {
    let Ok(stream) = TcpStream::connect(address) else {
        return;
    };
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let request = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        if writer.write_all(request.as_bytes()).is_err() {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_stops_firing_at_once_and_exits_within_the_grace_period() {
    let dir = temp_dir();
    let sink = Sink::start();
    let grace = Duration::from_secs(5);
    let server = Server::start(&db_path(&dir), &["--shutdown-grace", "5s"]);
    for _ in 0..50 {
        let (status, job) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({"schedule": "* * * * * *", "api": sink.url("/tick"), "type": "ATLEAST_ONCE"})),
        );
        assert_eq!(status, 201, "{job}");
    }
    wait_until("two seconds of ticks", || {
        sink.received_at("/tick").len() >= 100
    });
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (address, stop) = (server.address, Arc::clone(&stop));
        std::thread::spawn(move || poll_health(address, stop))
    };

    wait_for_a_whole_second();
    let signalled_ms = now_ms();
    let signalled = Instant::now();
    let status = server.terminate();
    let took = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    let _ = poller.join();

    eprintln!("exit took {took:?} after SIGTERM");
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    // The attempts answer at once and the poller's connection is closed after its next answer,
    // so nothing holds the server until the grace period ends: one that waits it out (for the
    // keep-alive poller, say) exits after it and fails here.
    assert!(
        took < grace,
        "exit within the grace period ({grace:?}): took {took:?}"
    );
    let late: Vec<String> = sink
        .received_at("/tick")
        .iter()
        .map(|request| request.headers["x-scheduler-scheduled-time"].clone())
        .filter(|tick| {
            tick.parse::<jiff::Timestamp>()
                .expect("an RFC 3339 tick")
                .as_millisecond()
                > signalled_ms
        })
        .collect();
    assert!(
        late.is_empty(),
        "ticks due after the signal were sent: {late:?}"
    );
}

/// Every-second jobs at the slow target in the test below.
const SLOW_JOBS: usize = 20;
/// How long the slow target takes to answer: much longer than the grace period.
const SLOW_ANSWER: Duration = Duration::from_secs(20);

#[test]
fn sigterm_exits_within_the_grace_period_while_attempts_would_take_longer() {
    let dir = temp_dir();
    let sink = LoadSink::answering_after(SLOW_ANSWER);
    let grace = Duration::from_secs(3);
    let server = Server::start(&db_path(&dir), &["--shutdown-grace", "3s"]);
    for _ in 0..SLOW_JOBS {
        let (status, job) = server.request(
            "POST",
            "/api/jobs",
            Some(&json!({
                "schedule": "* * * * * *",
                "api": sink.url("/slow"),
                "type": "ATLEAST_ONCE",
                "timeoutMs": 60_000,
            })),
        );
        assert_eq!(status, 201, "{job}");
    }
    // Two seconds of ticks, all still waiting for their answers.
    wait_until("two seconds of ticks in flight", || {
        sink.deliveries().len() >= 2 * SLOW_JOBS
    });
    let first_sent_ms = sink
        .deliveries()
        .iter()
        .map(|delivery| delivery.received_ms)
        .min()
        .expect("a request");

    wait_for_a_whole_second();
    let signalled_ms = now_ms();
    let signalled = Instant::now();
    let status = server.terminate();
    let took = signalled.elapsed();
    let exited_ms = now_ms();
    eprintln!("exit took {took:?} after SIGTERM, with attempts in flight");

    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    // The grace period bounds the drain: the attempts in flight are cut off at its end, not
    // waited for, so the server is gone before the first target would have answered.
    assert!(
        took < grace + Duration::from_millis(1_500),
        "exit within the grace period ({grace:?}): took {took:?}"
    );
    let first_answer_ms = first_sent_ms + SLOW_ANSWER.as_millis() as i64;
    assert!(
        exited_ms < first_answer_ms,
        "exited at {exited_ms}, before the first answer was due at {first_answer_ms}"
    );
    let late: Vec<String> = sink
        .deliveries()
        .into_iter()
        .map(|delivery| delivery.scheduled_time)
        .filter(|tick| {
            tick.parse::<jiff::Timestamp>()
                .expect("an RFC 3339 tick")
                .as_millisecond()
                > signalled_ms
        })
        .collect();
    assert!(
        late.is_empty(),
        "ticks due after the signal were sent: {late:?}"
    );
}

/// Returns about 300 ms after a whole second: well after one tick's attempts have left and
/// well before the next tick, so that a signal sent now falls between two ticks.
fn wait_for_a_whole_second() {
    while now_ms().rem_euclid(1_000) > 300 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(
        300 - now_ms().rem_euclid(1_000).min(300) as u64,
    ));
}
