//! Response bodies are read up to the cap, never past it, and never fail for being long.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use executor::{HttpTransport, HttpTransportConfig};
use http::Response;
use http_body_util::Full;

use crate::support::{fixed_server, http_server, post};

fn capped_transport(cap: usize) -> HttpTransport {
    HttpTransport::new(HttpTransportConfig {
        max_response_body_bytes: cap,
        ..HttpTransportConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn an_oversized_body_is_truncated_and_the_status_kept() {
    // Eight megabytes, far more than the cap and than socket buffers hold.
    let big = Bytes::from(vec![b'x'; 8 * 1024 * 1024]);
    let server = http_server(Arc::new(move |_| {
        Response::builder()
            .status(502)
            .body(Full::new(big.clone()))
            .unwrap()
    }))
    .await;
    let response = capped_transport(1000)
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 502);
    assert!(response.body_truncated);
    assert_eq!(response.body.len(), 1000);
    assert!(response.body.iter().all(|&b| b == b'x'));
}

#[tokio::test]
async fn a_body_at_the_cap_is_not_truncated() {
    let server = fixed_server(200, &[], b"0123456789").await;
    let response = capped_transport(10)
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    assert_eq!(
        (&response.body[..], response.body_truncated),
        (&b"0123456789"[..], false)
    );
    let response = capped_transport(9)
        .send_request(post(server.url("/")))
        .await
        .unwrap();
    assert_eq!(
        (&response.body[..], response.body_truncated),
        (&b"012345678"[..], true)
    );
}

#[tokio::test]
async fn a_complete_body_keeps_the_connection_and_a_truncated_one_closes_it() {
    let server = fixed_server(200, &[], b"0123456789").await;
    let transport = capped_transport(1024);
    for _ in 0..3 {
        assert_eq!(
            transport
                .send_request(post(server.url("/")))
                .await
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "keep-alive: one connection for three requests"
    );

    // A body far larger than the cap and the socket buffers, so that some of it is unread.
    let big = Bytes::from(vec![b'x'; 8 * 1024 * 1024]);
    let server = http_server(Arc::new(move |_| Response::new(Full::new(big.clone())))).await;
    let transport = capped_transport(4);
    for _ in 0..2 {
        assert!(
            transport
                .send_request(post(server.url("/")))
                .await
                .unwrap()
                .body_truncated
        );
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        2,
        "a truncated body does not go back to the pool"
    );
}
