//! A small HTTPS-capable client for the webhook: one POST, bounded by a timeout.
//!
//! It is deliberately not the executor's transport: alerts depend on scheduler-core only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::WebhookConfig;
use crate::error::Error;

/// How much of a webhook's answer is read (and ignored) so the connection can be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What one POST came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PostResult {
    /// 2xx.
    Delivered,
    /// Worth another try: no answer, 408, 429 or 5xx.
    Retry(String),
    /// Not worth another try: another 4xx (or 3xx), which needs a fix at the receiver.
    Rejected(String),
}

pub(crate) struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

impl WebhookClient {
    pub(crate) fn new(config: &WebhookConfig) -> Result<WebhookClient, Error> {
        let uri: Uri = config
            .url
            .trim()
            .parse()
            .map_err(|e| Error::Config(format!("url: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Config(
                "url: expected an absolute http:// or https:// URL".to_owned(),
            ));
        }
        let mut headers = Vec::with_capacity(config.headers.len() + 2);
        headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|e| Error::Config(format!("user_agent: {e}")))?;
        headers.push((USER_AGENT, user_agent));
        for (name, value) in &config.headers {
            // Messages name the header but never show its value: it may be a secret.
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::Config(format!("headers: name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| Error::Config(format!("headers: value of {name}: {e}")))?;
            headers.push((name, value));
        }

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(&config.extra_root_certificates_pem)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(WebhookClient {
            client,
            uri,
            headers,
            timeout: config.request_timeout,
        })
    }

    pub(crate) async fn post(&self, body: Bytes) -> PostResult {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        for (name, value) in &self.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = response.status();
            // The answer is not used; reading it lets the connection go back to the pool.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => PostResult::Retry(format!("no answer within {}ms", self.timeout.as_millis())),
            Ok(Err(message)) => PostResult::Retry(message),
            Ok(Ok(status)) if status.is_success() => PostResult::Delivered,
            Ok(Ok(status))
                if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 =>
            {
                PostResult::Retry(format!("status {}", status.as_u16()))
            }
            Ok(Ok(status)) => PostResult::Rejected(format!("status {}", status.as_u16())),
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn tls_config(extra_roots_pem: &[String]) -> Result<rustls::ClientConfig, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, pem) in extra_roots_pem.iter().enumerate() {
        let mut found = 0;
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let invalid = |e: &dyn std::fmt::Display| {
                Error::Config(format!("extra_root_certificates_pem[{index}]: {e}"))
            };
            roots
                .add(certificate.map_err(|e| invalid(&e))?)
                .map_err(|e| invalid(&e))?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::Config(format!(
                "extra_root_certificates_pem[{index}]: no PEM certificate found"
            )));
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls: {e}")))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}
