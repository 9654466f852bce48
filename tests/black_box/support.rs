//! Test infrastructure: the real binary as a server, loopback sinks that record what the
//! scheduler sends (one thread per connection, and one on tokio for a thousand requests a
//! second), and a tiny blocking HTTP client. Everything listens on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any wait in these tests may take before it fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; fails with `what` after [`DEADLINE`].
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Polls `condition` until it holds or `limit` has passed; whether it held. For waits whose
/// running out is a finding to report rather than a failure of the test's set-up.
pub(crate) fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `scheduler serve` process.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: SocketAddr,
    /// The log lines after the one that announced the address, for diagnostics.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `scheduler serve` on a free loopback port with the database at `db`.
    pub(crate) fn start(db: &Path, extra_args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scheduler"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(["--log-level", "info"])
            .args(extra_args);
        Server::spawn(command)
    }

    /// [`Server::start`] with the environment variables `env` set for the process.
    pub(crate) fn start_with_env(db: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scheduler"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(["--log-level", "info"])
            .args(extra_args)
            .envs(env.iter().copied());
        Server::spawn(command)
    }

    /// Starts `scheduler` with no arguments at all, configured by environment variables.
    pub(crate) fn start_from_environment(db: &Path) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scheduler"));
        command
            .env("SCHEDULER_LISTEN", "127.0.0.1:0")
            .env("SCHEDULER_DB", db)
            .env("SCHEDULER_LOG_FORMAT", "json");
        Server::spawn(command)
    }

    fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the scheduler binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (address, log) = read_address(stderr);
        Server {
            child,
            address,
            log,
        }
    }

    /// The server's base URL path prefix for [`request`].
    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        request(self.address, method, path, body)
    }

    /// Kills the process with SIGKILL: no shutdown, no flush.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the process is reaped");
    }

    /// Sends SIGTERM and waits for the process to exit; kills it and fails the test if it has
    /// not exited after [`DEADLINE`].
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let signalled = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            if signalled.elapsed() >= DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server had not exited {DEADLINE:?} after SIGTERM: killed it");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's log until it says where it listens; keeps reading in the background.
fn read_address(stderr: ChildStderr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (sender, receiver) = channel();
    let background_log = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent
                && let Some(rest) = line
                    .split("listening on http://")
                    .nth(1)
                    .or_else(|| line.split("listening on https://").nth(1))
            {
                let address = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = sender.send(Ok(address));
                sent = true;
            }
            background_log.lock().unwrap().push(line);
        }
        if !sent {
            let _ = sender.send(Err(background_log.lock().unwrap().join("\n")));
        }
    });
    match receiver.recv_timeout(DEADLINE) {
        Ok(Ok(address)) => (address.parse().expect("a socket address"), log),
        Ok(Err(log)) => panic!("the server exited before listening:\n{log}"),
        Err(_) => panic!(
            "the server did not say where it listens:\n{}",
            log.lock().unwrap().join("\n")
        ),
    }
}

/// One blocking HTTP/1.1 request with `Connection: close`; returns the status and the JSON body
/// (`Value::Null` when empty).
pub(crate) fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let (status, text) = raw_request(address, method, path, "application/json", body.as_bytes());
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// One request with any content type and body; returns the status and the body as text.
pub(crate) fn raw_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let content_type = format!("Content-Type: {content_type}");
    request_with_headers(address, method, path, &[&content_type], body)
}

/// One request with these header lines (`Name: value`; `Host` is the server's address unless
/// one of them is a `Host`) and body; returns the status and the body as text.
pub(crate) fn request_with_headers(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|line| line.to_ascii_lowercase().starts_with("host:"))
    {
        head.push_str(&format!("Host: {address}\r\n"));
    }
    for line in headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    // A server may answer (413) and close before the whole body is written: keep going and
    // read whatever answer it sent.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response) {
        assert!(
            !response.is_empty(),
            "no response from {method} {path}: {error}"
        );
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("a status line");
    // The API answers with Content-Length; a chunked body would need decoding.
    (status, body.to_owned())
}

/// One request the sink received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

/// A loopback HTTP sink: answers 200 (or holds requests to `/hang` while hanging is on) and
/// records every request.
pub(crate) struct Sink {
    pub(crate) address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    hanging: Arc<AtomicBool>,
}

impl Sink {
    pub(crate) fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let hanging = Arc::new(AtomicBool::new(false));
        let (accepted_received, accepted_hanging) = (Arc::clone(&received), Arc::clone(&hanging));
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let received = Arc::clone(&accepted_received);
                let hanging = Arc::clone(&accepted_hanging);
                std::thread::spawn(move || serve_connection(stream, &received, &hanging));
            }
        });
        Sink {
            address,
            received,
            hanging,
        }
    }

    /// The URL of `path` on this sink.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every request so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests to `path` so far.
    pub(crate) fn received_at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// While on, requests to `/hang` get no answer (until it is turned off).
    pub(crate) fn set_hanging(&self, on: bool) {
        self.hanging.store(on, Ordering::SeqCst);
    }
}

/// Serves one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, received: &Mutex<Vec<Received>>, hanging: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length = headers
            .get("content-length")
            .and_then(|length| length.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let hang = path == "/hang" && hanging.load(Ordering::SeqCst);
        received.lock().unwrap().push(Received {
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        if hang {
            // Hold the request (the scheduler sees it in flight) until the connection dies.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
            return;
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// What [`LoadSink`] keeps of one request: its path and the idempotency headers the scheduler
/// sends (crates/executor).
#[derive(Clone, Debug, Default)]
pub(crate) struct Delivery {
    pub(crate) path: String,
    /// `X-Scheduler-Job-Id`.
    pub(crate) job_id: String,
    /// `X-Scheduler-Execution-Id`: the same on every attempt and re-send of one execution.
    pub(crate) execution_id: String,
    /// `X-Scheduler-Scheduled-Time`, RFC 3339.
    pub(crate) scheduled_time: String,
    /// `X-Scheduler-Attempt`.
    pub(crate) attempt: String,
    /// Whether it carried `X-Scheduler-Redelivery: true` (a re-send after a crash).
    pub(crate) redelivery: bool,
    /// When the whole request had arrived, in milliseconds since the Unix epoch (the system
    /// clock, the one the scheduler's ticks are on).
    pub(crate) received_ms: i64,
}

impl Delivery {
    /// How late it arrived: milliseconds from `X-Scheduler-Scheduled-Time` to its arrival.
    pub(crate) fn lateness_ms(&self) -> i64 {
        let scheduled = self
            .scheduled_time
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|error| panic!("{:?}: {error}", self.scheduled_time))
            .as_millisecond();
        self.received_ms - scheduled
    }
}

/// The `p`-th percentile (0 to 100) of `values`, nearest rank; 0 when there are none.
pub(crate) fn percentile(values: &[i64], p: f64) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch now, on the system clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// A loopback sink for load: answers every request 200 (at once, or after a set delay) and
/// records it as it arrives. [`Sink`] serves each connection on a thread of its own and keeps
/// every header; this one serves keep-alive connections as tasks on one tokio worker and keeps
/// only the scheduler's headers, so that a burst of a thousand requests from several nodes, or
/// thousands of requests held open, cost little CPU. It reads `Content-Length` bodies only (the
/// scheduler never sends chunked ones).
pub(crate) struct LoadSink {
    pub(crate) address: SocketAddr,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LoadSink {
    /// A sink that answers every request at once.
    pub(crate) fn start() -> LoadSink {
        LoadSink::answering_after(Duration::ZERO)
    }

    /// A slow target: a sink that answers each request `delay` after it arrived.
    pub(crate) fn answering_after(delay: Duration) -> LoadSink {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("load-sink")
            .enable_io()
            .enable_time()
            .build()
            .expect("a tokio runtime for the sink");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the sink");
        let address = listener.local_addr().unwrap();
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::clone(&deliveries);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_load_connection(stream, Arc::clone(&accepted), delay));
            }
        });
        LoadSink {
            address,
            deliveries,
            runtime: Some(runtime),
        }
    }

    /// The URL of `path` on this sink.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every request so far, in arrival order.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl Drop for LoadSink {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The answer to every request: empty, and the connection kept open.
const LOAD_SINK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// Serves one keep-alive connection until the client closes it, answering requests in order.
async fn serve_load_connection(
    mut stream: tokio::net::TcpStream,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    delay: Duration,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0; 4096];
    loop {
        while let Some((mut delivery, length)) = parse_delivery(&buffer) {
            buffer.drain(..length);
            delivery.received_ms = now_ms();
            deliveries.lock().unwrap().push(delivery);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if stream.write_all(LOAD_SINK_RESPONSE).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// The first request in `buffer` and its length in bytes, once it is all there.
fn parse_delivery(buffer: &[u8]) -> Option<(Delivery, usize)> {
    let head_length = buffer.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buffer[..head_length]);
    let mut lines = head.split("\r\n");
    let mut delivery = Delivery {
        path: lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_owned(),
        ..Delivery::default()
    };
    let mut body_length = 0;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => body_length = value.parse().unwrap_or(0),
            "x-scheduler-job-id" => delivery.job_id = value,
            "x-scheduler-execution-id" => delivery.execution_id = value,
            "x-scheduler-scheduled-time" => delivery.scheduled_time = value,
            "x-scheduler-attempt" => delivery.attempt = value,
            "x-scheduler-redelivery" => delivery.redelivery = value == "true",
            _ => {}
        }
    }
    let length = head_length + body_length;
    (buffer.len() >= length).then_some((delivery, length))
}

/// A fresh directory for a database, removed when dropped.
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("scheduler-black-box-")
        .tempdir()
        .expect("a temporary directory")
}

/// The database path inside `dir`.
pub(crate) fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("scheduler.db")
}

#[test]
fn the_load_sink_answers_pipelined_and_split_requests_on_one_connection() {
    let sink = LoadSink::start();
    let before = now_ms();
    let mut stream = TcpStream::connect(sink.address).expect("connect to the sink");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let request = |execution: &str, body: &str| {
        format!(
            "POST /load HTTP/1.1\r\nHost: x\r\nX-Scheduler-Job-Id: job\r\n\
             x-scheduler-execution-id: {execution}\r\nX-Scheduler-Scheduled-Time: \
             2026-01-01T00:00:01.000Z\r\nX-Scheduler-Attempt: 1\r\n{}Content-Length: {}\r\n\r\n{body}",
            if execution == "e2" {
                "X-Scheduler-Redelivery: true\r\n"
            } else {
                ""
            },
            body.len()
        )
    };
    // Two requests in one write, then one split inside its body.
    let pipelined = request("e1", "") + &request("e2", "{}");
    stream.write_all(pipelined.as_bytes()).unwrap();
    let split = request("e3", "hello");
    let (first, second) = split.split_at(split.len() - 2);
    stream.write_all(first.as_bytes()).unwrap();
    stream.flush().unwrap();
    wait_until("the first two requests", || sink.deliveries().len() == 2);
    stream.write_all(second.as_bytes()).unwrap();
    let mut answers = vec![0; LOAD_SINK_RESPONSE.len() * 3];
    stream.read_exact(&mut answers).expect("three answers");
    assert_eq!(answers, LOAD_SINK_RESPONSE.repeat(3));
    let deliveries = sink.deliveries();
    let executions: Vec<&str> = deliveries
        .iter()
        .map(|delivery| delivery.execution_id.as_str())
        .collect();
    assert_eq!(executions, ["e1", "e2", "e3"]);
    assert!(deliveries.iter().all(|delivery| delivery.path == "/load"
        && delivery.job_id == "job"
        && delivery.scheduled_time == "2026-01-01T00:00:01.000Z"
        && delivery.attempt == "1"));
    let marked: Vec<bool> = deliveries
        .iter()
        .map(|delivery| delivery.redelivery)
        .collect();
    assert_eq!(marked, [false, true, false]);
    let after = now_ms();
    assert!(
        deliveries
            .iter()
            .all(|delivery| (before..=after).contains(&delivery.received_ms)),
        "arrival times between {before} and {after}: {deliveries:?}"
    );
}

#[test]
fn percentiles_take_the_nearest_rank() {
    let values: Vec<i64> = (1..=200).rev().collect();
    assert_eq!(percentile(&values, 99.0), 198);
    assert_eq!(percentile(&values, 50.0), 100);
    assert_eq!(percentile(&values, 100.0), 200);
    assert_eq!(percentile(&[7], 99.0), 7);
    assert_eq!(percentile(&[], 99.0), 0);
}
