//! The scheduler's transports: one attempt of one execution is one HTTP request, or one
//! message published to NATS or RabbitMQ.
//!
//! [`RoutingTransport`] picks by the job's target URL: `nats://` and `amqp://` go to the
//! [`QueueTransport`] (cargo features `nats` and `amqp`, on by default; see its
//! documentation), everything else to the [`HttpTransport`] described below.
//!
//! [`HttpTransport`] implements [`scheduler_core::Transport`]: the engine hands it an
//! [`AttemptRequest`](scheduler_core::AttemptRequest), it sends the job's request with the
//! idempotency headers (job id, execution id, scheduled time, attempt number; the same on every
//! retry of a tick but the attempt number) and answers with an
//! [`AttemptOutcome`](scheduler_core::AttemptOutcome) or an
//! [`AttemptError`](scheduler_core::AttemptError). Underneath, it is a pooled hyper client (hyper-util's legacy `Client`) that speaks
//! HTTP/1.1 and HTTP/2, over TCP or TLS (rustls with the ring provider, the web PKI roots of
//! webpki-roots plus any extra roots from the configuration). For each request it:
//!
//! - sends the job's method, headers and body, a `Content-Type` (the request's own, else
//!   `application/json`) and a `User-Agent` naming the product and version;
//! - bounds the whole exchange (connect, TLS handshake, response head and body) by the
//!   request's timeout;
//! - reads the response body up to a size cap; a longer body is not an error: reading stops,
//!   the status is kept and [`HttpResponse::body_truncated`] says so;
//! - reads `Retry-After` (delta-seconds or HTTP-date) on 429 and 503 answers;
//! - signs the engine's attempts when the configuration has signing secrets
//!   (`X-Scheduler-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one
//!   `v1` per secret, see [`signature_header_value`]);
//! - connects only to addresses the [`TargetPolicy`] allows, checked after DNS resolution on
//!   every new connection (and before sending, for an IP literal), and closes a connection
//!   that reached the scheduler's own API ([`TargetPolicy::own_api`]) before sending on it;
//! - classifies failures ([`Error`]): timeout, DNS, refused, reset, closed early, TLS,
//!   protocol, invalid request, target refused by the policy.
//!
//! The request-level API ([`HttpTransport::send_request`]) is public too, for callers that are
//! not the engine (the `alerts` crate's webhook sends its POSTs with it).
//!
//! Host names are resolved by the system resolver (`getaddrinfo`) on Tokio's blocking pool,
//! then filtered by the target policy; when a timeout ends an attempt during resolution, the
//! lookup itself runs on to its end.
//!
//! It is not a retry loop, a rate limiter or a scheduler: one call is one attempt, and whether
//! to try again is the engine's decision ([`Error::is_retryable`] is a hint for it).
//!
//! ```no_run
//! # async fn example() -> Result<(), executor::Error> {
//! use std::time::Duration;
//!
//! use executor::{HttpRequest, HttpTransport, HttpTransportConfig, Method};
//!
//! let transport = HttpTransport::new(HttpTransportConfig::default())?;
//! let response = transport
//!     .send_request(HttpRequest {
//!         method: Method::POST,
//!         url: "https://example.com/hook".to_owned(),
//!         headers: vec![("X-Token".to_owned(), "abc".to_owned())],
//!         body: "{}".into(),
//!         timeout: Duration::from_secs(10),
//!     })
//!     .await?;
//! println!("{} in {:?}", response.status, response.duration);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod attempt;
mod classify;
mod client;
mod config;
mod error;
mod policy;
mod queue;
mod retry_after;
mod signing;

pub use http::{Method, Version};

pub use crate::client::{HttpRequest, HttpResponse, HttpTransport};
pub use crate::config::{
    DEFAULT_CONTENT_TYPE, DEFAULT_USER_AGENT, HttpTransportConfig, HttpVersionPolicy,
};
pub use crate::error::Error;
pub use crate::policy::{AddressClass, IpNetwork, Refusal, TargetPolicy, TargetRule, classify};
pub use crate::queue::{
    BrokerConnectionState, BrokerConnectionStatus, QueueTransport, QueueTransportConfig,
    RoutingTransport,
};
pub use crate::retry_after::parse_retry_after;
pub use crate::signing::{
    SIGNATURE_HEADER, SigningSecret, sign, signature_header_value, signing_secrets_for,
};
