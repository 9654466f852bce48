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
