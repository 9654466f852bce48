//! The sink: a loopback HTTP server that records when each request arrived and which tick it
//! carries, and answers after a configurable delay.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::unix_nanos;

/// One request that carried the scheduler's tick headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    /// `X-Scheduler-Job-Id`, as a number.
    pub(crate) job: u128,
    /// `X-Scheduler-Scheduled-Time`, in Unix milliseconds.
    pub(crate) scheduled_ms: i64,
    /// When the request head was read, in Unix nanoseconds (wall clock, as the scheduler's).
    pub(crate) arrived_ns: i64,
}

/// A running sink. Dropping it stops accepting; connections end with the runtime.
pub(crate) struct Sink {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

struct Shared {
    delay: Duration,
    arrivals: Mutex<Vec<Arrival>>,
    /// Requests without tick headers (the baseline client's), and unparsable ones.
    untracked: AtomicU64,
    unparsable: AtomicU64,
}

impl Sink {
    /// Binds 127.0.0.1:`port` (0: any free port) and serves on the current runtime.
    pub(crate) async fn start(delay: Duration, port: u16) -> anyhow::Result<Sink> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            delay,
            arrivals: Mutex::new(Vec::with_capacity(1 << 20)),
            untracked: AtomicU64::new(0),
            unparsable: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Sink {
            address,
            shared,
            stop,
        })
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL jobs target.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Takes the arrivals recorded so far, leaving the record empty.
    pub(crate) fn take_arrivals(&self) -> Vec<Arrival> {
        std::mem::take(&mut *lock(&self.shared.arrivals))
    }

    /// How many requests arrived without tick headers (and resets the count).
    pub(crate) fn take_untracked(&self) -> u64 {
        self.shared.untracked.swap(0, Ordering::Relaxed)
    }

    /// How many requests carried tick headers that did not parse.
    pub(crate) fn unparsable(&self) -> u64 {
        self.shared.unparsable.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, most likely: back off a little rather than spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let arrived_ns = unix_nanos();
    let headers = request.headers();
    let job = headers
        .get(scheduler_core::HEADER_JOB_ID)
        .and_then(|value| value.to_str().ok());
    let scheduled = headers
        .get(scheduler_core::HEADER_SCHEDULED_TIME)
        .and_then(|value| value.to_str().ok());
    match (job, scheduled) {
        (Some(job), Some(scheduled)) => match parse_tick(job, scheduled) {
            Some((job, scheduled_ms)) => lock(&shared.arrivals).push(Arrival {
                job,
                scheduled_ms,
                arrived_ns,
            }),
            None => {
                shared.unparsable.fetch_add(1, Ordering::Relaxed);
            }
        },
        _ => {
            shared.untracked.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Read the body to its end so the connection can be reused.
    let _ = request.into_body().collect().await;
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    Ok(Response::new(Empty::new()))
}

fn parse_tick(job: &str, scheduled: &str) -> Option<(u128, i64)> {
    let job = uuid::Uuid::parse_str(job).ok()?.as_u128();
    let scheduled: jiff::Timestamp = scheduled.parse().ok()?;
    Some((job, scheduled.as_millisecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_headers_parse() {
        let (job, at) = parse_tick(
            "06300e84-65b3-4003-b81d-7fed0de4e345",
            "2026-11-29T13:17:16Z",
        )
        .unwrap();
        assert_eq!(job, 0x06300e84_65b3_4003_b81d_7fed0de4e345);
        assert_eq!(at, 1_795_958_236_000);
        assert!(parse_tick("nope", "2026-11-29T13:17:16Z").is_none());
        assert!(parse_tick("06300e84-65b3-4003-b81d-7fed0de4e345", "later").is_none());
    }
}
