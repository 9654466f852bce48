//! Where the policy meets the connector: the resolver that drops refused addresses, and the
//! guard that refuses a connection that reached the scheduler's own API.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::TargetPolicy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The transport's resolver: the system resolver (`getaddrinfo`, on Tokio's blocking pool),
/// then the policy's filter. hyper-util's connector does not call it for IP literals; those
/// are checked before the request is sent.
#[derive(Clone, Debug)]
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<TargetPolicy>,
}

impl tower_service::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<std::vec::IntoIter<SocketAddr>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str();
            policy.check_host_name(host)?;
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            Ok(policy.filter(host, addresses)?.into_iter())
        })
    }
}

/// A TCP connector that checks where each new connection arrived: a connection to the
/// scheduler's own API ([`TargetPolicy::own_api`]) is closed before a byte is sent, and fails
/// with the policy's [`Refusal`](super::Refusal).
///
/// The check is on the connected socket's peer address, not on the URL or the resolved
/// names: the resolver does not know the port, and only the peer address is what was really
/// reached, however the host was spelt (`127.1`, a name that resolves to loopback, the
/// machine's own address).
#[derive(Clone, Debug)]
pub(crate) struct OwnApiGuard<C> {
    pub(crate) inner: C,
    pub(crate) policy: Arc<TargetPolicy>,
}

impl<C> tower_service::Service<Uri> for OwnApiGuard<C>
where
    C: tower_service::Service<Uri, Response = TokioIo<TcpStream>> + Send,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<TokioIo<TcpStream>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        let host = destination.host().unwrap_or_default().to_owned();
        let connecting = self.inner.call(destination);
        Box::pin(async move {
            let stream = connecting.await.map_err(Into::into)?;
            if !policy.own_api.is_empty() {
                let peer = stream.inner().peer_addr()?;
                policy.check_connection(&host, peer)?;
            }
            Ok(stream)
        })
    }
}
