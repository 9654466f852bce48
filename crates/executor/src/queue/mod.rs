//! Message-queue targets: an attempt of a job whose target URL is `nats://` or `amqp://` is
//! one message published to that broker (see [`QueueTarget`]).
//!
//! Every message carries the job's body and, as message headers, the job's own headers, the
//! idempotency headers of [`AttemptRequest::idempotency_headers`], `X-Scheduler-Redelivery` on
//! a re-send after a crash, and `X-Scheduler-Signature` when signing is on (the same value as
//! an HTTP request would carry: HMAC-SHA256 of `"<t>.<body>"`).
//!
//! At least once, an attempt succeeds when the broker acknowledges the message (a JetStream
//! publish acknowledgement; a RabbitMQ publisher confirm for a message that was routed); at
//! most once, when the message is handed to a connected client. Every failure is an
//! [`AttemptError`]: a broker that cannot be reached is [`AttemptError::Connect`], a message
//! the broker refused, returned or did not acknowledge is [`AttemptError::Protocol`] (both
//! retried by the engine), a target the [`TargetPolicy`] refuses is
//! [`AttemptError::InvalidRequest`] (final).
//!
//! One connection per server (host, port and credentials; for AMQP also the virtual host),
//! shared by every job that names it, made on the first attempt that needs it. A NATS client
//! reconnects by itself; an AMQP connection found closed is opened again by the next attempt.
//! The server's addresses are resolved and checked against the target policy each time a
//! connection is made.

#[cfg(feature = "amqp")]
mod amqp;
#[cfg(feature = "nats")]
mod nats;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, DeliveryType, QueueTarget, Transport,
    is_job_header_allowed, is_queue_target_url,
};

use crate::client::HttpTransport;
use crate::policy::TargetPolicy;
use crate::signing::{
    SIGNATURE_HEADER, SigningSecret, signature_header_value, signing_secrets_for,
};

/// The settings of a [`QueueTransport`]. Start from `QueueTransportConfig::default()`.
#[derive(Clone, Debug, Default)]
pub struct QueueTransportConfig {
    /// Secrets that sign every message, as
    /// [`HttpTransportConfig::signing_secrets`](crate::HttpTransportConfig::signing_secrets)
    /// sign requests; a job's own secret takes their place. Empty: messages are not signed.
    pub signing_secrets: Vec<SigningSecret>,
    /// Which broker addresses may be connected to.
    pub target_policy: TargetPolicy,
}

/// Publishes attempts to NATS and RabbitMQ: one attempt is one message.
///
/// The message carries the job's body and, as message headers, the job's headers, the
/// idempotency headers, `X-Scheduler-Redelivery` on a re-send and `X-Scheduler-Signature` with
/// signing secrets (as an HTTP request would). At least once, an attempt succeeds when the
/// broker acknowledges the message (JetStream's publish acknowledgement; a RabbitMQ publisher
/// confirm for a message that was routed); at most once, when a connected client takes it. An
/// unreachable broker is [`AttemptError::Connect`], a refused, returned or unacknowledged
/// message [`AttemptError::Protocol`] (both retried by the engine), a target the policy refuses
/// [`AttemptError::InvalidRequest`]. Every attempt is bounded by its timeout.
///
/// One connection per server (and credentials; for AMQP also the virtual host), made by the
/// first attempt that needs it, after the server's addresses were resolved and checked against
/// the target policy. Cloning is cheap; clones share the connections. A kind of broker whose cargo feature
/// (`nats`, `amqp`) is off fails its attempts as invalid requests.
#[derive(Clone, Debug)]
pub struct QueueTransport {
    inner: Arc<Inner>,
}

/// The state of one broker connection, for health checks and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConnectionStatus {
    /// `nats` or `amqp`.
    pub kind: &'static str,
    /// `host:port` (with `/vhost` for AMQP), without credentials.
    pub server: String,
    /// Whether the connection is up.
    pub state: BrokerConnectionState,
    /// The last connection error seen, if the connection is not up.
    pub last_error: Option<String>,
}

/// Whether a broker connection is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerConnectionState {
    /// Connected.
    Connected,
    /// Being made for the first time, or never made yet.
    Connecting,
    /// Lost; the client reconnects (NATS) or the next attempt does (AMQP).
    Disconnected,
}

impl BrokerConnectionState {
    /// `connected`, `connecting` or `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerConnectionState::Connected => "connected",
            BrokerConnectionState::Connecting => "connecting",
            BrokerConnectionState::Disconnected => "disconnected",
        }
    }
}

/// Sends each attempt by its target URL's scheme: `nats://` and `amqp://` to a
/// [`QueueTransport`], everything else to an [`HttpTransport`].
#[derive(Clone, Debug)]
pub struct RoutingTransport {
    http: HttpTransport,
    queue: QueueTransport,
}

impl RoutingTransport {
    /// Routes to `http` and `queue`.
    pub fn new(http: HttpTransport, queue: QueueTransport) -> RoutingTransport {
        RoutingTransport { http, queue }
    }
}

impl Transport for RoutingTransport {
    fn send(
        &self,
        request: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        if is_queue_target_url(&request.job.spec.target_url) {
            self.queue.send(request)
        } else {
            self.http.send(request)
        }
    }
}

#[derive(Debug)]
struct Inner {
    signing_secrets: Vec<SigningSecret>,
    policy: Arc<TargetPolicy>,
    #[cfg(feature = "nats")]
    nats: nats::NatsConnections,
    #[cfg(feature = "amqp")]
    amqp: amqp::AmqpConnections,
}

impl QueueTransport {
    /// A transport with no connection yet: each is made by the first attempt that needs it.
    pub fn new(config: QueueTransportConfig) -> QueueTransport {
        QueueTransport {
            inner: Arc::new(Inner {
                signing_secrets: config.signing_secrets,
                policy: Arc::new(config.target_policy),
                #[cfg(feature = "nats")]
                nats: nats::NatsConnections::default(),
                #[cfg(feature = "amqp")]
                amqp: amqp::AmqpConnections::default(),
            }),
        }
    }

    /// The state of every connection made so far, NATS first, each kind ordered by server.
    pub fn connections(&self) -> Vec<BrokerConnectionStatus> {
        #[allow(unused_mut)]
        let mut connections = Vec::new();
        #[cfg(feature = "nats")]
        connections.extend(self.inner.nats.statuses());
        #[cfg(feature = "amqp")]
        connections.extend(self.inner.amqp.statuses());
        connections
    }

    async fn publish(&self, attempt: AttemptRequest) -> Result<AttemptOutcome, AttemptError> {
        let url = attempt.job.spec.target_url.trim();
        let target = match QueueTarget::parse(url) {
            Some(Ok(target)) => target,
            Some(Err(reason)) => return Err(AttemptError::InvalidRequest(reason)),
            None => {
                return Err(AttemptError::InvalidRequest(
                    "not a nats:// or amqp:// target".to_owned(),
                ));
            }
        };
        let message = QueueMessage::new(&attempt, &self.inner.signing_secrets);
        let publish = Publish {
            message,
            delivery: attempt.job.spec.delivery,
            timeout: attempt.timeout(),
            policy: &self.inner.policy,
        };
        let started = Instant::now();
        let result = match target {
            #[cfg(feature = "nats")]
            QueueTarget::Nats(target) => self.inner.nats.publish(&target, publish).await,
            #[cfg(feature = "amqp")]
            QueueTarget::Amqp(target) => self.inner.amqp.publish(&target, publish).await,
            #[allow(unreachable_patterns)]
            other => Err(AttemptError::InvalidRequest(format!(
                "this build of the scheduler has no {} support",
                other.scheme()
            ))),
        };
        result.map(|()| AttemptOutcome::delivered(started.elapsed()))
    }
}

impl Transport for QueueTransport {
    fn send(
        &self,
        attempt: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        let transport = self.clone();
        Box::pin(async move {
            let timeout = attempt.timeout();
            match tokio::time::timeout(timeout, transport.publish(attempt)).await {
                Ok(result) => result,
                Err(_elapsed) => Err(AttemptError::Timeout),
            }
        })
    }
}

/// One publish: the message and how it is to be delivered.
#[cfg_attr(not(any(feature = "nats", feature = "amqp")), allow(dead_code))]
struct Publish<'a> {
    message: QueueMessage,
    delivery: DeliveryType,
    timeout: std::time::Duration,
    policy: &'a TargetPolicy,
}

/// What a message carries: the body and the headers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueMessage {
    pub(crate) body: Bytes,
    pub(crate) headers: Vec<(String, String)>,
}

impl QueueMessage {
    /// The job's headers (those a job may set), the idempotency headers, the redelivery
    /// header, and the signature with the job's secret, else the transport's.
    fn new(attempt: &AttemptRequest, transport_secrets: &[SigningSecret]) -> QueueMessage {
        let spec = &attempt.job.spec;
        let body = spec.body.clone().map(Bytes::from_owner).unwrap_or_default();
        let mut headers: Vec<(String, String)> = spec
            .headers
            .iter()
            .filter(|(name, _)| is_job_header_allowed(name))
            .cloned()
            .collect();
        headers.extend(
            attempt
                .idempotency_headers()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        if let Some((name, value)) = attempt.redelivery_header() {
            headers.push((name.to_owned(), value.to_owned()));
        }
        let secrets = signing_secrets_for(&spec.signing_secrets, transport_secrets);
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if let Some(value) = signature_header_value(&secrets, unix_seconds, &body) {
            headers.push((SIGNATURE_HEADER.to_owned(), value));
        }
        QueueMessage { body, headers }
    }

    /// The value of header `name` (case-insensitive), if the message has it.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The addresses of `host` that the policy allows, for a connection to `port`.
#[cfg_attr(not(any(feature = "nats", feature = "amqp")), allow(dead_code))]
async fn allowed_addresses(
    policy: &TargetPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, AttemptError> {
    policy
        .check_host_name(host)
        .map_err(|refusal| AttemptError::InvalidRequest(refusal.to_string()))?;
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| AttemptError::Connect(format!("dns: {host}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(AttemptError::Connect(format!("dns: {host}: no address")));
    }
    policy
        .filter(host, addresses)
        .map_err(|refusal| AttemptError::InvalidRequest(refusal.to_string()))
}

#[cfg_attr(not(any(feature = "nats", feature = "amqp")), allow(dead_code))]
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
