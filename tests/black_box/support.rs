//! Test infrastructure: the real binary as a server, a loopback sink that records what the
//! scheduler sends, and a tiny blocking HTTP client. Everything listens on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("the process exits")
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
            if !sent && let Some(rest) = line.split("listening on http://").nth(1) {
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
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
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
