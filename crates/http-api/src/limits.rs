//! Limits on what one client can hold: the time its request body may take, and the
//! connections it may have open at once.
//!
//! actix-web times out a request's head (`client_request_timeout`) but not its body, and its
//! connection limit (`max_connections`) is one for all clients. A body that never finishes is
//! ended here by a deadline on the payload stream (answered `408`); connections are counted per
//! client IP address when they are accepted (`HttpServer::on_connect`), and a connection over
//! the limit gets `429` and is closed at its first request. A connection that sends no request
//! at all is closed by actix's request-head timeout.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_core::Stream;

/// `payload`, which must arrive in full within `timeout` from now; see [`BodyDeadline`].
pub(crate) fn with_deadline(payload: Payload, timeout: Duration) -> Payload {
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(BodyDeadline::new(payload, timeout));
    Payload::from(stream)
}

/// The request body stream, ended with a [`PayloadError`] of kind `TimedOut` once its
/// deadline passes.
struct BodyDeadline {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl BodyDeadline {
    /// `payload`, which must arrive in full within `timeout` from now.
    fn new(payload: Payload, timeout: Duration) -> BodyDeadline {
        BodyDeadline {
            inner: payload,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(context) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(context) {
            Poll::Ready(()) => {
                let message = format!(
                    "the request body did not arrive in full within {} ms",
                    self.timeout.as_millis()
                );
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    message,
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The open connections of each client IP address.
#[derive(Debug, Default)]
pub(crate) struct ClientConnections {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientConnections {
    /// Counts a new connection from `ip`; the returned guard uncounts it when dropped (when the
    /// connection closes).
    pub(crate) fn open(self: &Arc<Self>, ip: IpAddr, limit: usize) -> ClientConnection {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let count = open.entry(ip).or_insert(0);
        *count += 1;
        ClientConnection {
            ip,
            over_limit: *count > limit,
            connections: Arc::clone(self),
        }
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

/// One counted connection, kept in the connection's data for as long as it is open.
#[derive(Debug)]
pub(crate) struct ClientConnection {
    ip: IpAddr,
    over_limit: bool,
    connections: Arc<ClientConnections>,
}

impl ClientConnection {
    /// Whether the client had more connections open than allowed when this one was accepted.
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// The client's address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_until_they_close() {
        let connections = Arc::new(ClientConnections::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = connections.open(a, 2);
        let second = connections.open(a, 2);
        let third = connections.open(a, 2);
        let other = connections.open(b, 2);
        assert!(!first.over_limit() && !second.over_limit());
        assert!(third.over_limit());
        assert!(!other.over_limit());
        assert_eq!(connections.count(a), 3);
        drop(third);
        drop(first);
        assert!(!connections.open(a, 2).over_limit());
        drop((second, other));
        assert_eq!(connections.count(a), 0);
        assert_eq!(connections.count(b), 0);
        assert!(connections.open.lock().unwrap().is_empty());
    }
}
