//! The crate's one public error type.

use std::time::Duration;

/// Everything that can go wrong: building a transport, or one request.
///
/// The request variants classify failures for the engine: [`Error::is_retryable`] tells
/// which are worth another attempt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration could not be turned into a transport.
    #[error("invalid transport configuration: {0}")]
    Config(String),
    /// The request could not be built (bad URL, method or header); sending it again will not
    /// help.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No complete response (connect, TLS, headers and body) within the timeout.
    #[error("no complete response within {}ms", .timeout.as_millis())]
    Timeout {
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The host name did not resolve.
    #[error("dns: {0}")]
    Dns(String),
    /// Nobody listens on the target's port.
    #[error("connection refused: {0}")]
    ConnectionRefused(String),
    /// Connecting failed in another way (unreachable network, no route, ...).
    #[error("connect: {0}")]
    Connect(String),
    /// The peer reset the connection.
    #[error("connection reset: {0}")]
    ConnectionReset(String),
    /// The peer closed the connection before the response was complete.
    #[error("connection closed early: {0}")]
    ConnectionClosed(String),
    /// The TLS handshake failed: an untrusted or mismatched certificate, or no common
    /// protocol version. It needs a fix, not a retry.
    #[error("tls: {0}")]
    Tls(String),
    /// The target policy refuses the target's address (or every address its name resolves
    /// to). It needs a change of the job or of the policy, not a retry.
    #[error("{0}")]
    TargetRefused(String),
    /// The peer broke the HTTP protocol, or another I/O error happened mid-exchange.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether another attempt may succeed: timeouts, DNS and connection failures and
    /// protocol errors are; invalid requests, refused targets, TLS failures and configuration
    /// errors are not.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::Config(_) | Error::InvalidRequest(_) | Error::TargetRefused(_) | Error::Tls(_)
        )
    }
}
