//! The pooled HTTP client and one request/response exchange.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::classify::{classify_body_error, classify_request_error};
use crate::config::{DEFAULT_CONTENT_TYPE, HttpTransportConfig, HttpVersionPolicy};
use crate::error::Error;
use crate::policy::{OwnApiGuard, PolicyResolver, TargetPolicy};
use crate::retry_after::parse_retry_after;
use crate::signing::SigningSecret;

/// One request to send: what the engine's attempt becomes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute `http://` or `https://` URL.
    pub url: String,
    /// Header fields, sent in this order. When none is named `Content-Type`,
    /// `application/json` is added; when none is named `User-Agent`, the configured one is.
    pub headers: Vec<(String, String)>,
    /// The body; empty sends `Content-Length: 0` (or nothing for methods without a body).
    pub body: Bytes,
    /// The time the whole exchange may take: connect, TLS handshake, response head and body.
    pub timeout: Duration,
}

/// The response to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The HTTP version the exchange used.
    pub version: Version,
    /// From the start of the send to the end of the body (or the end of the capped read).
    pub duration: Duration,
    /// The delay the target asked for with `Retry-After`, read on 429 and 503 answers only.
    pub retry_after: Option<Duration>,
    /// The start of the body, at most
    /// [`max_response_body_bytes`](HttpTransportConfig::max_response_body_bytes) long.
    pub body: Bytes,
    /// The body was longer than the cap and was not read to its end.
    pub body_truncated: bool,
}

/// A pooled HTTP/1.1 and HTTP/2 client, over TCP or TLS (rustls with the ring provider),
/// that sends one [`HttpRequest`] at a time and never retries on its own.
///
/// Cloning is cheap and clones share the connection pool. The transport needs a Tokio
/// runtime (with the I/O and time drivers) when it sends, not when it is built.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    client: Client<HttpsConnector<OwnApiGuard<HttpConnector<PolicyResolver>>>, Full<Bytes>>,
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    user_agent: HeaderValue,
    max_response_body_bytes: usize,
    pub(crate) signing_secrets: Vec<SigningSecret>,
    policy: Arc<TargetPolicy>,
}

impl HttpTransport {
    /// Builds a transport from `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the user agent is not a valid header value, an extra root
    /// certificate cannot be parsed or is rejected, or TLS cannot be set up.
    pub fn new(config: HttpTransportConfig) -> Result<HttpTransport, Error> {
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|e| Error::Config(format!("user agent {:?}: {e}", config.user_agent)))?;
        let tls = tls_config(&config.extra_root_certificates_pem)?;

        let policy = Arc::new(config.target_policy);
        let mut http = HttpConnector::new_with_resolver(PolicyResolver {
            policy: Arc::clone(&policy),
        });
        // The HTTPS connector wraps this one and needs it to accept https:// URLs.
        http.enforce_http(false);
        http.set_nodelay(true);
        let http = OwnApiGuard {
            inner: http,
            policy: Arc::clone(&policy),
        };

        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = match config.http_version {
            HttpVersionPolicy::Negotiate => {
                builder.enable_http1().enable_http2().wrap_connector(http)
            }
            HttpVersionPolicy::Http1Only => builder.enable_http1().wrap_connector(http),
            HttpVersionPolicy::Http2Only => builder.enable_http2().wrap_connector(http),
        };

        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .http2_only(config.http_version == HttpVersionPolicy::Http2Only)
            .build(connector);

        Ok(HttpTransport {
            client,
            shared: Arc::new(Shared {
                user_agent,
                max_response_body_bytes: config.max_response_body_bytes,
                signing_secrets: config.signing_secrets,
                policy,
            }),
        })
    }

    /// Sends one request and reads its response, within `request.timeout`.
    ///
    /// # Errors
    ///
    /// The failure, classified: [`Error::InvalidRequest`], [`Error::Timeout`],
    /// [`Error::TargetRefused`], [`Error::Dns`], [`Error::ConnectionRefused`], [`Error::Connect`],
    /// [`Error::ConnectionReset`], [`Error::ConnectionClosed`], [`Error::Tls`] or
    /// [`Error::Protocol`]. A status of 4xx or 5xx is a response, not an error.
    pub async fn send_request(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let timeout = request.timeout;
        let request = self.build(request)?;
        self.send_built(request, timeout).await
    }

    /// Sends a request already built (and checked), within `timeout`.
    pub(crate) async fn send_built(
        &self,
        request: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<HttpResponse, Error> {
        // hyper-util's connector resolves names through the policy's resolver, but connects to
        // an IP literal directly: that one is checked here (the connector's guard checks the
        // own API again on the connected socket, for every host).
        let uri = request.uri();
        if let Some(host) = uri.host()
            && let Ok(address) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
        {
            let default_port = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            let peer = std::net::SocketAddr::new(address, uri.port_u16().unwrap_or(default_port));
            self.shared
                .policy
                .check_address(host, address)
                .and_then(|()| self.shared.policy.check_connection(host, peer))
                .map_err(|refusal| Error::TargetRefused(refusal.to_string()))?;
        }
        let started = Instant::now();
        match tokio::time::timeout(timeout, self.exchange(request, started)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Error::Timeout { timeout }),
        }
    }

    fn build(&self, request: HttpRequest) -> Result<http::Request<Full<Bytes>>, Error> {
        let uri = parse_url(&request.url)?;
        let mut headers = HeaderMap::with_capacity(request.headers.len() + 2);
        for (name, value) in &request.headers {
            let name = header_name(name)?;
            let value = header_value(&name, value)?;
            headers.append(name, value);
        }
        self.finish(request.method, uri, headers, request.body)
    }

    /// The request with `headers`, plus the default `Content-Type` and `User-Agent` where
    /// `headers` has none.
    pub(crate) fn finish(
        &self,
        method: Method,
        uri: http::Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, Error> {
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.shared.user_agent.clone());
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
        started: Instant,
    ) -> Result<HttpResponse, Error> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify_request_error(&e))?;
        let status = response.status();
        let version = response.version();
        let retry_after = if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
        } else {
            None
        };
        let (body, body_truncated) = read_capped(
            response.into_body(),
            self.shared.max_response_body_bytes,
            status.as_u16(),
        )
        .await?;
        Ok(HttpResponse {
            status: status.as_u16(),
            version,
            duration: started.elapsed(),
            retry_after,
            body,
            body_truncated,
        })
    }
}

/// An absolute `http://` or `https://` URL with a host, and without user info (which hyper
/// would carry into its traces; credentials go in headers).
pub(crate) fn parse_url(url: &str) -> Result<http::Uri, Error> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("url {url:?}: {e}")))?;
    if let Some(authority) = uri.authority()
        && let Some((_, host)) = authority.as_str().rsplit_once('@')
    {
        // The message leaves the user info out: it may hold a password.
        return Err(Error::InvalidRequest(format!(
            "url with user info (\"...@{host}\"): send credentials in a header"
        )));
    }
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(Error::InvalidRequest(format!(
            "url {url:?}: expected an absolute http:// or https:// URL"
        ))),
    }
}

/// A header name, checked.
pub(crate) fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| Error::InvalidRequest(format!("header name {name:?}: {e}")))
}

/// The value of header `name`, checked.
pub(crate) fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value)
        .map_err(|e| Error::InvalidRequest(format!("value of header {name}: {e}")))
}

/// Reads at most `cap` bytes of `body`. When the body is longer, stops there: dropping the
/// rest closes the connection instead of draining an unbounded body into the pool.
async fn read_capped(
    mut body: hyper::body::Incoming,
    cap: usize,
    status: u16,
) -> Result<(Bytes, bool), Error> {
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify_body_error(&e, status))?;
        let Ok(data) = frame.into_data() else {
            // Trailers carry nothing the scheduler keeps.
            continue;
        };
        let room = cap - collected.len();
        if data.len() > room {
            collected.extend_from_slice(&data[..room]);
            return Ok((collected.freeze(), true));
        }
        collected.extend_from_slice(&data);
    }
    Ok((collected.freeze(), false))
}

/// The rustls client configuration: ring, TLS 1.2 and 1.3, web PKI roots plus the extra ones.
fn tls_config(extra_roots_pem: &[String]) -> Result<rustls::ClientConfig, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, pem) in extra_roots_pem.iter().enumerate() {
        let mut found = 0;
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            // Named as the configuration field is, so that callers can pass the message on.
            let invalid = |e: &dyn std::fmt::Display| {
                Error::Config(format!("extra_root_certificates_pem[{index}]: {e}"))
            };
            let certificate = certificate.map_err(|e| invalid(&e))?;
            roots.add(certificate).map_err(|e| invalid(&e))?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::Config(format!(
                "extra_root_certificates_pem[{index}]: no PEM certificate found"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
