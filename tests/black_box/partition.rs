//! A node cut off from PostgreSQL, end to end: two `scheduler serve` nodes on one database, one
//! of them reaching it through a loopback proxy the test can cut. The cut node stops sending
//! (fenced), the other takes its work over, and when the proxy is healed the cut node drops
//! what was taken and carries on. Every tick is recorded once; no at-most-once execution is
//! delivered twice. Skips without `SCHEDULER_TEST_POSTGRES_URL`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::postgres::{Connection, Schema};
use crate::support::{Server, Sink, wait_until};

/// A TCP proxy on 127.0.0.1 to one upstream address. While cut, it closes every connection it
/// carries and every new one at once, as a database that cannot be reached.
struct Proxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_cut, accept_open) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if accept_cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let streams = [&client, &server].map(|s| s.try_clone().expect("clone a stream"));
                accept_open
                    .lock()
                    .expect("the proxy's list")
                    .extend(streams);
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Proxy { address, cut, open }
    }

    /// Closes every connection and refuses new ones until [`Proxy::heal`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().expect("the proxy's list").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (mut from, mut to) = (
        from.try_clone().expect("clone a stream"),
        to.try_clone().expect("clone a stream"),
    );
    std::thread::spawn(move || {
        let mut buffer = [0; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// `url` with its host and port replaced by `address`.
fn through(url: &str, address: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{address}/{path}")
}

/// The host and port of `url`, resolved.
fn upstream_of(url: &str) -> SocketAddr {
    let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .expect("the server's address resolves")
        .next()
        .expect("an address")
}

/// `/api/health` of `server`: its status code and whether it says it is fenced.
fn fenced(server: &Server) -> (u16, bool) {
    let (status, health) = server.request("GET", "/api/health", None);
    (status, health["fenced"] == true)
}

fn engine_metric(server: &Server, name: &str) -> u64 {
    let (status, metrics) = server.request("GET", "/api/metrics", None);
    assert_eq!(status, 200, "{metrics}");
    metrics["engine"][name].as_u64().unwrap_or_default()
}

/// The second of the minute two seconds from now: a job created now at `S * * * * *` has its
/// first tick within the look-ahead, claimed by the node that creates it.
fn second_after_next() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    (now.as_secs() + 2) % 60
}

/// Creates a job through `server` and returns its id.
fn create(server: &Server, job: &Value) -> String {
    let (status, body) = server.request("POST", "/api/jobs", Some(job));
    assert_eq!(status, 201, "{body}");
    body["jobId"].as_str().expect("a jobId").to_owned()
}

/// The job's executions as the database holds them: (execution id, status, attempts, owner).
fn executions_of(db: &Connection, schema: &str, job: &str) -> Vec<(String, String, i64, String)> {
    db.query(&format!(
        "SELECT id::text, status, attempts, claimed_by FROM {schema}.job_executions \
         WHERE job_id = '{job}' ORDER BY scheduled_time"
    ))
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
    .collect()
}

#[test]
fn a_node_cut_off_from_postgresql_stops_sending_and_another_takes_over() {
    let Some(schema) = Schema::create("a_node_cut_off_from_postgresql") else {
        return;
    };
    let db = schema.connect();
    let direct = schema.db();
    let proxy = Proxy::start(upstream_of(&direct));
    let proxied = through(&direct, proxy.address);
    let sink = Sink::start();
    sink.set_hanging(true);
    let a = Server::start(std::path::Path::new(&proxied), &["--node-id", "node-a"]);
    let b = Server::start(std::path::Path::new(&direct), &["--node-id", "node-b"]);

    // Background: ten every-second jobs of each delivery type, through either node.
    let mut background: Vec<(String, &str)> = Vec::new();
    for (n, delivery) in ["ATLEAST_ONCE", "ATMOST_ONCE"]
        .iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        let through = if n % 2 == 0 { &a } else { &b };
        let job = json!({"schedule": "* * * * * *", "api": sink.url("/tick"), "type": delivery});
        background.push((create(through, &job), delivery));
    }
    // Three jobs whose next tick node A claims as it creates them: two whose requests hang
    // (in flight when A is cut off), and one whose target refuses, so that A holds its retry.
    let second = second_after_next();
    let schedule = format!("{second} * * * * *");
    let hanging = |delivery| {
        json!({"schedule": schedule, "api": sink.url("/hang"), "type": delivery,
               "timeoutMs": 120_000})
    };
    let hang_at_least_once = create(&a, &hanging("ATLEAST_ONCE"));
    let hang_at_most_once = create(&a, &hanging("ATMOST_ONCE"));
    let retrying = create(
        &a,
        &json!({"schedule": schedule, "api": "http://127.0.0.1:9/refused", "type": "ATLEAST_ONCE",
                "retry": {"maxAttempts": 5, "initialBackoffMs": 60_000, "maxBackoffMs": 60_000,
                          "jitter": 0.0}}),
    );
    wait_until("both hanging requests arrived and the retry waits", || {
        let attempted = |job: &str| {
            executions_of(&db, &schema.name, job).first().is_some_and(
                |(_, status, attempts, owner)| {
                    status == "RUNNING" && *attempts == 1 && owner == "node-a"
                },
            )
        };
        sink.received_at("/hang").len() == 2
            && [&hang_at_least_once, &hang_at_most_once, &retrying]
                .iter()
                .all(|job| attempted(job))
    });

    proxy.cut();
    wait_until("node A says it is fenced", || fenced(&a) == (503, true));
    wait_until("node B took over what node A held", || {
        [&hang_at_least_once, &hang_at_most_once, &retrying]
            .iter()
            .all(|job| executions_of(&db, &schema.name, job)[0].3 == "node-b")
    });
    wait_until("node B counted its takeovers", || {
        engine_metric(&b, "takenOver") >= 3
    });
    // Taken over: the at-least-once request is sent again under its id, the at-most-once one
    // is abandoned, and the refused one is tried again at once rather than after its backoff.
    wait_until(
        "node B sent the hanging at-least-once request again",
        || sink.received_at("/hang").len() == 3,
    );
    let hangs = sink.received_at("/hang");
    assert_eq!(
        hangs[2].headers["x-scheduler-execution-id"],
        executions_of(&db, &schema.name, &hang_at_least_once)[0].0,
        "the same execution, sent again"
    );
    wait_until(
        "node B marked the hanging at-most-once execution abandoned",
        || executions_of(&db, &schema.name, &hang_at_most_once)[0].1 == "ABANDONED",
    );
    wait_until("node B tried the refused target again", || {
        executions_of(&db, &schema.name, &retrying)[0].2 == 2
    });
    let delivered_while_cut = sink.received_at("/tick").len();
    wait_until("ticks go on through node B", || {
        sink.received_at("/tick").len() >= delivered_while_cut + 40
    });

    proxy.heal();
    wait_until("node A is back", || fenced(&a) == (200, false));
    // A still held the refused job's retry: B holds it now, so A drops it.
    wait_until("node A dropped the retry node B took over", || {
        engine_metric(&a, "leasesLost") >= 1
    });
    let healed = sink.received_at("/tick").len();
    wait_until("both nodes fire", || {
        sink.received_at("/tick").len() >= healed + 60
    });
    wait_until("node A logged the failure and the recovery", || {
        let log = a.log();
        log.contains("heartbeat failed") && log.contains("heartbeats succeed again")
    });
    assert_eq!(
        sink.received_at("/hang").len(),
        3,
        "nothing of A's was sent again after it came back"
    );

    // Every recorded execution is of a distinct tick (the store's key), and no at-most-once
    // execution reached the target twice. An at-least-once execution may have: one whose
    // result A could not write while cut off was sent again by B.
    let received = sink.received_at("/tick");
    let mut deliveries: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        *deliveries
            .entry(request.headers["x-scheduler-execution-id"].as_str())
            .or_default() += 1;
    }
    let mut redelivered = 0;
    for (job, delivery) in &background {
        for (id, status, ..) in executions_of(&db, &schema.name, job) {
            let sent = deliveries.get(id.as_str()).copied().unwrap_or_default();
            if *delivery == "ATMOST_ONCE" {
                assert!(
                    sent <= 1,
                    "job {job} execution {id} ({status}): delivered {sent} times"
                );
            } else {
                redelivered += sent.saturating_sub(1);
            }
        }
    }
    let ticks = db.query(&format!(
        "SELECT count(*), count(DISTINCT (job_id, scheduled_time)) FROM {}.job_executions",
        schema.name
    ));
    let (rows, distinct): (i64, i64) = (ticks[0].get(0), ticks[0].get(1));
    assert_eq!(rows, distinct, "a tick recorded twice");
    eprintln!(
        "{} deliveries of every-second jobs; {redelivered} at-least-once executions sent again",
        received.len()
    );
    sink.set_hanging(false);
}
