//! Requests that get no answer, classified.

use std::time::Duration;

use executor::Error;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use crate::support::{accept_each, bind, post, read_request_head, transport};

/// The timeout for the servers that never answer: the tests wait for it, they do not measure
/// it. It is long enough for a loaded machine to connect and send the request within it.
const SHORT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let (got_request, mut request_seen) = mpsc::unbounded_channel();
    accept_each(listener, move |mut stream| {
        let got_request = got_request.clone();
        async move {
            let head = read_request_head(&mut stream).await;
            let _ = got_request.send(head);
            // Hold the connection open without answering until the client gives up.
            std::future::pending::<()>().await;
        }
    });
    let mut request = post(format!("http://{addr}/"));
    request.timeout = SHORT;
    let error = transport().send_request(request).await.unwrap_err();
    assert_eq!(error, Error::Timeout { timeout: SHORT });
    assert!(error.is_retryable());
    let head = request_seen.recv().await.unwrap();
    assert!(
        head.starts_with(b"POST / HTTP/1.1\r\n"),
        "the request reached the server"
    );
}

#[tokio::test]
async fn a_slow_body_counts_against_the_timeout() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let (release, released) = oneshot::channel::<()>();
    let released = std::sync::Mutex::new(Some(released));
    let released = std::sync::Arc::new(released);
    accept_each(listener, move |mut stream| {
        let released = released.lock().unwrap().take();
        async move {
            read_request_head(&mut stream).await;
            // The head and half the body now; the rest only after the client has given up.
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
                .await;
            if let Some(released) = released {
                let _ = released.await;
            }
            let _ = stream.write_all(b"world").await;
        }
    });
    let mut request = post(format!("http://{addr}/"));
    request.timeout = SHORT;
    let error = transport().send_request(request).await.unwrap_err();
    assert_eq!(error, Error::Timeout { timeout: SHORT });
    let _ = release.send(());
}

#[tokio::test]
async fn a_reset_connection_is_classified_as_reset() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    accept_each(listener, |mut stream| async move {
        read_request_head(&mut stream).await;
        // Linger zero makes close send a RST instead of a FIN.
        let _ = stream.set_zero_linger();
        drop(stream);
    });
    let error = transport()
        .send_request(post(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ConnectionReset(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_classified_as_closed() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    accept_each(listener, |mut stream| async move {
        read_request_head(&mut stream).await;
        let _ = stream.shutdown().await;
    });
    let error = transport()
        .send_request(post(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ConnectionClosed(_)), "{error:?}");
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = transport()
        .send_request(post(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ConnectionRefused(_)), "{error:?}");
    assert!(
        error.to_string().starts_with("connection refused: "),
        "{error}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_error() {
    // `.invalid` never resolves (RFC 6761); the generous timeout keeps a slow resolver from
    // turning this into a timeout.
    let mut request = post("http://no-such-host.invalid/".to_owned());
    request.timeout = Duration::from_secs(30);
    let error = transport().send_request(request).await.unwrap_err();
    assert!(matches!(error, Error::Dns(_)), "{error:?}");
}

#[tokio::test]
async fn invalid_requests_are_rejected_before_sending() {
    let check = |url: &str, headers: Vec<(String, String)>| {
        let mut request = post(url.to_owned());
        request.headers = headers;
        async move { transport().send_request(request).await.unwrap_err() }
    };
    for (url, headers) in [
        ("ftp://127.0.0.1/", vec![]),
        ("/relative", vec![]),
        ("http://exa mple.com/", vec![]),
        (
            "http://127.0.0.1:1/",
            vec![("bad name".to_owned(), "v".to_owned())],
        ),
        (
            "http://127.0.0.1:1/",
            vec![("X-Ok".to_owned(), "line\nbreak".to_owned())],
        ),
    ] {
        let error = check(url, headers).await;
        assert!(
            matches!(error, Error::InvalidRequest(_)),
            "{url}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
    // User info is refused, and its password not repeated.
    let error = check("http://user:hunter2@127.0.0.1:1/", vec![]).await;
    assert!(
        matches!(&error, Error::InvalidRequest(message) if message.contains("user info")),
        "{error:?}"
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
