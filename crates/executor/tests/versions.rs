//! HTTP/1.1 and HTTP/2, over cleartext and TLS, as the policy says.

use executor::{HttpTransport, HttpTransportConfig, HttpVersionPolicy, Version};

use crate::support::{fixed_server, https_server, post, test_pki};

fn transport(http_version: HttpVersionPolicy, extra_roots: Vec<String>) -> HttpTransport {
    HttpTransport::new(HttpTransportConfig {
        http_version,
        extra_root_certificates_pem: extra_roots,
        ..HttpTransportConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn cleartext_uses_http1_unless_http2_is_known() {
    let mut server = fixed_server(200, &[], b"").await;
    for (policy, expected) in [
        (HttpVersionPolicy::Negotiate, Version::HTTP_11),
        (HttpVersionPolicy::Http1Only, Version::HTTP_11),
        (HttpVersionPolicy::Http2Only, Version::HTTP_2),
    ] {
        let response = transport(policy, vec![])
            .send_request(post(server.url("/")))
            .await
            .unwrap();
        assert_eq!(
            (response.status, response.version),
            (200, expected),
            "{policy:?}"
        );
        assert_eq!(server.next_request().await.version, expected, "{policy:?}");
    }
}

#[tokio::test]
async fn tls_negotiates_by_alpn() {
    let pki = test_pki();
    let mut server = https_server(&pki).await;
    for (policy, expected) in [
        (HttpVersionPolicy::Negotiate, Version::HTTP_2),
        (HttpVersionPolicy::Http1Only, Version::HTTP_11),
        (HttpVersionPolicy::Http2Only, Version::HTTP_2),
    ] {
        let url = format!("https://localhost:{}/", server.addr.port());
        let response = transport(policy, vec![pki.ca_pem.clone()])
            .send_request(post(url))
            .await
            .unwrap();
        assert_eq!(
            (response.status, response.version),
            (200, expected),
            "{policy:?}"
        );
        assert_eq!(server.next_request().await.version, expected, "{policy:?}");
    }
}
