//! `serve`: a real HTTP server on a loopback port, reached over a socket.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::support::{Harness, within};

/// Sends one HTTP/1.1 request and reads the whole answer (the server closes the connection).
fn exchange(address: std::net::SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    // A safety net against a hung test, not a synchronisation.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[actix_web::test]
async fn serve_answers_on_its_listener_and_stops_gracefully() {
    let harness = Harness::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = http_api::serve(listener, harness.state.clone(), harness.config.clone())
        .expect("the server starts");
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);

    let health = actix_web::rt::task::spawn_blocking(move || {
        exchange(
            address,
            "GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
        )
    });
    let health = within("the health answer", health)
        .await
        .expect("the request thread");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.contains("\"ready\":true"), "{health}");

    let body = crate::support::job_body("0 0 * * * *").to_string();
    let create = actix_web::rt::task::spawn_blocking(move || {
        exchange(
            address,
            format!(
                "POST /api/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    });
    let created = within("the create answer", create)
        .await
        .expect("the request thread");
    assert!(created.starts_with("HTTP/1.1 201 Created"), "{created}");
    assert_eq!(harness.stored().await.0.len(), 1);

    within("a graceful stop", handle.stop(true)).await;
    within("the server ends", running)
        .await
        .expect("the server task")
        .expect("the server ran without error");
}

#[test]
fn serve_outside_a_runtime_is_an_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let harness = runtime.block_on(Harness::start());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let Err(error) = http_api::serve(listener, harness.state.clone(), harness.config.clone())
    else {
        panic!("serve started outside a runtime");
    };
    assert!(error.to_string().contains("runtime"), "{error}");
}

/// The binary may run on a plain tokio runtime rather than actix's: serve works there too.
#[test]
fn serve_runs_on_a_plain_tokio_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let harness = Harness::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = http_api::serve(listener, harness.state.clone(), harness.config.clone())
            .expect("the server starts");
        let handle = server.handle();
        let running = tokio::spawn(server);
        let answer = tokio::task::spawn_blocking(move || {
            exchange(
                address,
                "GET /api/jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
            )
        });
        let answer = within("the list answer", answer)
            .await
            .expect("the request thread");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("\"nextCursor\":null"), "{answer}");
        within("a graceful stop", handle.stop(true)).await;
        within("the server ends", running)
            .await
            .expect("the server task")
            .expect("the server ran without error");
    });
}

/// Reads one answer from a connection that stays open: the head, then `Content-Length` bytes.
fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).expect("read the head");
        assert_eq!(read, 1, "closed before the head ended: {received:?}");
        received.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read the body");
    head + &String::from_utf8_lossy(&body)
}

fn connect(address: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    // A safety net against a hung test, not a synchronisation.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Starts `serve` with the harness's config changed by `change`; returns the address and a
/// handle to stop it.
async fn start(
    harness: &Harness,
    change: impl FnOnce(&mut http_api::ApiConfig),
) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let mut config = harness.config.clone();
    change(&mut config);
    let server =
        http_api::serve(listener, harness.state.clone(), config).expect("the server starts");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (address, handle)
}

#[actix_web::test]
async fn a_body_that_does_not_arrive_in_full_in_time_is_answered_408_and_closed() {
    let harness = Harness::start().await;
    let (address, handle) = start(&harness, |config| {
        config.request_body_timeout = Duration::from_millis(200);
    })
    .await;
    let answer = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = connect(address);
        let body = crate::support::job_body("0 0 * * * *").to_string();
        let half = &body[..body.len() / 2];
        write!(
            stream,
            "POST /api/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{half}",
            body.len()
        )
        .expect("write the head and half the body");
        // The rest never comes: the server answers and closes.
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read until closed");
        answer
    });
    let answer = within("the 408 answer", answer).await.expect("the thread");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(harness.stored().await.0.is_empty());
    // The client saw the server close the connection; the stop only cleans up, so it does not
    // wait out the graceful shutdown's timeout on a loaded machine.
    within("the stop", handle.stop(false)).await;
}

#[actix_web::test]
async fn a_client_over_its_connection_limit_is_answered_429_until_one_closes() {
    let harness = Harness::start().await;
    let (address, handle) = start(&harness, |config| {
        config.max_connections_per_client = 2;
    })
    .await;
    let health = "GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        // Two connections, each answered, so both are open and counted.
        let mut first = connect(address);
        let mut second = connect(address);
        for stream in [&mut first, &mut second] {
            stream.write_all(health.as_bytes()).expect("write");
            let answer = read_answer(stream);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        // A third is refused and closed.
        let mut third = connect(address);
        third.write_all(health.as_bytes()).expect("write");
        let mut refused = String::new();
        third
            .read_to_string(&mut refused)
            .expect("read until closed");
        // Once one closes, a new connection is served (the server notices the close soon
        // after; the loop is bounded by the attempts, each a full exchange).
        drop(first);
        let mut served = None;
        for _ in 0..1_000 {
            let mut next = connect(address);
            next.write_all(health.as_bytes()).expect("write");
            let answer = read_answer(&mut next);
            if answer.starts_with("HTTP/1.1 200") {
                served = Some(answer);
                break;
            }
        }
        (refused, served)
    });
    let (refused, served) = within("the exchanges", outcome).await.expect("the thread");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(
        refused.contains("\"code\":\"too_many_connections\""),
        "{refused}"
    );
    assert!(
        served.is_some(),
        "no connection was served after one closed"
    );
    within("a graceful stop", handle.stop(true)).await;
}

/// A route that never reads its body (pause, trigger, a `GET`) answers at once; the body that
/// never finishes does not keep the connection: actix closes a connection whose request body
/// was left unread once the answer is sent.
#[actix_web::test]
async fn a_body_that_never_finishes_on_a_route_that_reads_none_does_not_hold_the_connection() {
    let harness = Harness::start().await;
    let job = crate::support::create(
        &actix_web::test::init_service(actix_web::App::new().configure(http_api::configure(
            harness.state.clone(),
            harness.config.clone(),
        )))
        .await,
        crate::support::job_body("0 0 * * * *"),
    )
    .await;
    let id = job["jobId"].as_str().expect("an id").to_owned();
    let (address, handle) = start(&harness, |config| {
        config.request_body_timeout = Duration::from_millis(200);
    })
    .await;
    let answers = actix_web::rt::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for (method, path) in [
            ("POST", format!("/api/jobs/{id}/pause")),
            ("POST", format!("/api/jobs/{id}/trigger")),
            ("GET", format!("/api/jobs/{id}")),
            ("GET", "/api/health".to_owned()),
        ] {
            let mut stream = connect(address);
            write!(
                stream,
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"a\":"
            )
            .expect("write the head and the start of the body");
            // The rest never comes. Reading to the end returns once the server closes.
            let mut answer = String::new();
            stream
                .read_to_string(&mut answer)
                .expect("read until closed");
            answers.push((format!("{method} {path}"), answer));
        }
        answers
    });
    let answers = within("the answers", answers).await.expect("the thread");
    // Each was answered by its route, without waiting for the body, and then closed (the
    // read above ended): the unread rest of the body cannot hold the connection.
    let statuses: Vec<&str> = answers
        .iter()
        .map(|(_, answer)| answer.split(' ').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["200", "202", "200", "200"], "{answers:#?}");
    within("the stop", handle.stop(false)).await;
}
