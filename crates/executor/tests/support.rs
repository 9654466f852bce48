//! Loopback servers for the tests: a hyper server that records what it receives, raw TCP
//! servers that misbehave, and a TLS server with a certificate made by a test CA.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use executor::{HttpRequest, HttpTransport, HttpTransportConfig, Method};
use http::{HeaderMap, Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What a server received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) method: http::Method,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// How a test server answers: from the request it received, built from the request's parts.
pub(crate) type Handler = Arc<dyn Fn(&Received) -> Response<Full<Bytes>> + Send + Sync>;

/// A running loopback server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) received: mpsc::UnboundedReceiver<Received>,
    /// Connections accepted so far.
    pub(crate) connections: Arc<AtomicUsize>,
}

impl TestServer {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request the server received, waiting for it at most ten seconds.
    pub(crate) async fn next_request(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("the server received no request within 10 s")
            .expect("the server stopped")
    }
}

/// A loopback server speaking HTTP/1.1 and HTTP/2 (h2c with prior knowledge).
pub(crate) async fn http_server(handler: Handler) -> TestServer {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let (sender, received) = mpsc::unbounded_channel();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_connection(stream, handler.clone(), sender.clone()));
        }
    });
    TestServer {
        addr,
        received,
        connections,
    }
}

/// A server that answers every request with `status`, `headers` and `body`.
pub(crate) async fn fixed_server(
    status: u16,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> TestServer {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    http_server(Arc::new(move |_| {
        let mut response = Response::builder().status(status);
        for (name, value) in &headers {
            response = response.header(name, value);
        }
        response.body(Full::new(Bytes::from_static(body))).unwrap()
    }))
    .await
}

pub(crate) async fn serve_connection<S>(
    stream: S,
    handler: Handler,
    sender: mpsc::UnboundedSender<Received>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        let sender = sender.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let received = Received {
                method: parts.method,
                version: parts.version,
                headers: parts.headers,
                body,
            };
            let response = handler(&received);
            let _ = sender.send(received);
            Ok::<_, Infallible>(response)
        }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

pub(crate) async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Accepts connections on `listener` and hands each to `each`, in order.
pub(crate) fn accept_each<F, Fut>(listener: TcpListener, each: F)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(each(stream));
        }
    });
}

/// Reads from `stream` until the end of a request head; returns the bytes read.
pub(crate) async fn read_request_head(stream: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    buffer
}

pub(crate) fn transport() -> HttpTransport {
    HttpTransport::new(HttpTransportConfig::default()).unwrap()
}

pub(crate) fn post(url: String) -> HttpRequest {
    HttpRequest {
        method: Method::POST,
        url,
        headers: Vec::new(),
        body: Bytes::from_static(b"{\"hello\":1}"),
        timeout: Duration::from_secs(10),
    }
}

/// A test CA and a server certificate it signed.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

/// A test CA and a server certificate for `localhost` and 127.0.0.1.
pub(crate) fn test_pki() -> TestPki {
    test_pki_for(&["localhost", "127.0.0.1"])
}

/// A test CA and a server certificate for `names`.
pub(crate) fn test_pki_for(names: &[&str]) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scheduler test ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TestPki {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(server_config),
    }
}

/// An https server on 127.0.0.1 with the test PKI's certificate, answering 200.
pub(crate) async fn https_server(pki: &TestPki) -> TestServer {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let (sender, received) = mpsc::unbounded_channel();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
    let handler: Handler = Arc::new(|_| {
        Response::builder()
            .status(200)
            .body(Full::new(Bytes::from_static(b"ok")))
            .unwrap()
    });
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                // A failed handshake (the client rejecting the certificate) ends the connection.
                if let Ok(stream) = acceptor.accept(stream).await {
                    serve_connection(stream, handler, sender).await;
                }
            });
        }
    });
    TestServer {
        addr,
        received,
        connections,
    }
}
