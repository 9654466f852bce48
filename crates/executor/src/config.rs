//! The transport's configuration.

use std::time::Duration;

use crate::policy::TargetPolicy;
use crate::signing::SigningSecret;

/// The `User-Agent` sent when the configuration does not name another one: the product and
/// its version.
pub const DEFAULT_USER_AGENT: &str = concat!("scheduler/", env!("CARGO_PKG_VERSION"));

/// The `Content-Type` sent when a request's headers name none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// How an [`HttpTransport`](crate::HttpTransport) is built. Every field is public; start from
/// [`HttpTransportConfig::default`] and override what differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTransportConfig {
    /// The `User-Agent` of every request, unless a request names its own.
    pub user_agent: String,
    /// How many bytes of a response body are read at most. A longer body is not an error:
    /// reading stops at the cap, the status is kept and the response says it was truncated
    /// (the connection is then closed rather than returned to the pool).
    pub max_response_body_bytes: usize,
    /// How long an idle pooled connection is kept before it is closed.
    pub pool_idle_timeout: Duration,
    /// How many idle connections are kept per host (scheme, host and port).
    pub pool_max_idle_per_host: usize,
    /// Root certificates trusted in addition to the bundled web PKI roots (webpki-roots), as
    /// PEM text; one entry may hold several certificates. For private CAs, and for tests.
    pub extra_root_certificates_pem: Vec<String>,
    /// Which HTTP versions are spoken.
    pub http_version: HttpVersionPolicy,
    /// The secrets that sign every attempt the engine sends (not
    /// [`send_request`](crate::HttpTransport::send_request)'s requests), the current one
    /// first; during a rotation, the old one second, and each gets its `v1=` signature. Empty
    /// (the default) signs nothing.
    pub signing_secrets: Vec<SigningSecret>,
    /// Which targets may be connected to. The default refuses link-local and cloud metadata
    /// addresses only.
    pub target_policy: TargetPolicy,
}

impl Default for HttpTransportConfig {
    fn default() -> Self {
        HttpTransportConfig {
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            max_response_body_bytes: 64 * 1024,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
            extra_root_certificates_pem: Vec::new(),
            http_version: HttpVersionPolicy::default(),
            signing_secrets: Vec::new(),
            target_policy: TargetPolicy::default(),
        }
    }
}

/// Which HTTP versions the transport speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HttpVersionPolicy {
    /// HTTP/1.1 over cleartext; over TLS, HTTP/2 or HTTP/1.1 as the server chooses by ALPN.
    /// This works with every server.
    #[default]
    Negotiate,
    /// HTTP/1.1 only, also over TLS.
    Http1Only,
    /// HTTP/2 only: with prior knowledge over cleartext (h2c), by ALPN over TLS. A server
    /// that does not speak HTTP/2 fails every request; in exchange, many requests to one host
    /// share one connection.
    Http2Only,
}
