//! https with a certificate from a test CA that only the configuration trusts.

use executor::{Error, HttpTransport, HttpTransportConfig, Version};

use crate::support::{https_server, post, test_pki, test_pki_for, transport};

#[tokio::test]
async fn https_works_with_the_test_ca_as_an_extra_root() {
    let pki = test_pki();
    let mut server = https_server(&pki).await;
    let transport = HttpTransport::new(HttpTransportConfig {
        extra_root_certificates_pem: vec![pki.ca_pem.clone()],
        ..HttpTransportConfig::default()
    })
    .unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", server.addr.port());
        let response = transport.send_request(post(url)).await.unwrap();
        assert_eq!(response.status, 200);
        // The server offers h2 by ALPN and the default policy takes it.
        assert_eq!(response.version, Version::HTTP_2);
        assert_eq!(&server.next_request().await.body[..], b"{\"hello\":1}");
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let pki = test_pki();
    let server = https_server(&pki).await;
    let url = format!("https://localhost:{}/", server.addr.port());
    let error = transport().send_request(post(url)).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_tls_error() {
    let pki = test_pki_for(&["other.example"]);
    let server = https_server(&pki).await;
    let transport = HttpTransport::new(HttpTransportConfig {
        extra_root_certificates_pem: vec![pki.ca_pem.clone()],
        ..HttpTransportConfig::default()
    })
    .unwrap();
    let url = format!("https://localhost:{}/", server.addr.port());
    let error = transport.send_request(post(url)).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[test]
fn a_malformed_extra_root_is_a_config_error() {
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let error = HttpTransport::new(HttpTransportConfig {
            extra_root_certificates_pem: vec![pem.to_owned()],
            ..HttpTransportConfig::default()
        })
        .unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{pem:?}: {error:?}");
    }
}
