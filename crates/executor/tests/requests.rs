//! What arrives at the target: method, headers, body, defaults.

use bytes::Bytes;
use executor::{DEFAULT_USER_AGENT, HttpTransport, HttpTransportConfig, Method};

use crate::support::{fixed_server, post, transport};

#[tokio::test]
async fn headers_body_and_defaults_arrive() {
    let mut server = fixed_server(200, &[], b"").await;
    let mut request = post(server.url("/hook?x=1"));
    request.headers = vec![
        ("X-Custom".to_owned(), "one".to_owned()),
        ("X-Multi".to_owned(), "a".to_owned()),
        ("X-Multi".to_owned(), "b".to_owned()),
    ];
    transport().send_request(request).await.unwrap();
    let received = server.next_request().await;
    assert_eq!(received.method, Method::POST);
    assert_eq!(&received.body[..], b"{\"hello\":1}");
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(received.headers["user-agent"], DEFAULT_USER_AGENT);
    assert!(DEFAULT_USER_AGENT.starts_with("scheduler/"));
    assert_eq!(received.headers["content-length"], "11");
    assert_eq!(received.headers["x-custom"], "one");
    let multi: Vec<_> = received.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
}

#[tokio::test]
async fn a_request_may_name_its_own_content_type_and_user_agent() {
    let mut server = fixed_server(200, &[], b"").await;
    let transport = HttpTransport::new(HttpTransportConfig {
        user_agent: "acme-cron/2".to_owned(),
        ..HttpTransportConfig::default()
    })
    .unwrap();
    let mut request = post(server.url("/"));
    request.method = Method::PUT;
    request.headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
    request.body = Bytes::from_static(b"plain");
    transport.send_request(request.clone()).await.unwrap();
    let received = server.next_request().await;
    assert_eq!(received.method, Method::PUT);
    assert_eq!(received.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(received.headers["content-type"], "text/plain");
    assert_eq!(received.headers["user-agent"], "acme-cron/2");

    request.headers = vec![("User-Agent".to_owned(), "mine".to_owned())];
    transport.send_request(request).await.unwrap();
    assert_eq!(server.next_request().await.headers["user-agent"], "mine");
}

#[tokio::test]
async fn a_get_without_body_still_carries_the_content_type() {
    let mut server = fixed_server(200, &[], b"").await;
    let mut request = post(server.url("/"));
    request.method = Method::GET;
    request.body = Bytes::new();
    transport().send_request(request).await.unwrap();
    let received = server.next_request().await;
    assert_eq!(received.method, Method::GET);
    assert!(received.body.is_empty());
    assert_eq!(received.headers["content-type"], "application/json");
}
