//! Turns the client's errors into [`Error`] variants by walking their source chains.

use std::error::Error as StdError;
use std::io;

use crate::error::Error;
use crate::policy::Refusal;

/// Classifies a failed request (before the response head arrived).
pub(crate) fn classify_request_error(error: &hyper_util::client::legacy::Error) -> Error {
    let message = chain_message(error);
    let facts = Facts::of(error);
    if let Some(refusal) = facts.refusal {
        // The policy's own message: the connector's "dns error" around it says nothing more.
        Error::TargetRefused(refusal)
    } else if facts.tls {
        Error::Tls(message)
    } else if facts.dns {
        Error::Dns(message)
    } else if facts.io_kind == Some(io::ErrorKind::ConnectionRefused) {
        Error::ConnectionRefused(message)
    } else if facts.is_reset() {
        Error::ConnectionReset(message)
    } else if facts.incomplete {
        Error::ConnectionClosed(message)
    } else if error.is_connect() {
        Error::Connect(message)
    } else {
        Error::Protocol(message)
    }
}

/// Classifies a failure while reading the response body.
pub(crate) fn classify_body_error(error: &hyper::Error, status: u16) -> Error {
    let message = format!(
        "reading the body of a {status} response: {}",
        chain_message(error)
    );
    let facts = Facts::of(error);
    if facts.is_reset() {
        Error::ConnectionReset(message)
    } else if facts.incomplete {
        Error::ConnectionClosed(message)
    } else {
        Error::Protocol(message)
    }
}

/// The error and its sources, joined by ": ", with repeated messages left out.
pub(crate) fn chain_message(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    visit_chain(error, &mut |e| {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    });
    parts.join(": ")
}

/// What the chain says, gathered once.
#[derive(Default)]
struct Facts {
    tls: bool,
    dns: bool,
    incomplete: bool,
    /// The target policy refused the target: its message.
    refusal: Option<String>,
    /// The kind of the innermost I/O error that has a meaningful kind.
    io_kind: Option<io::ErrorKind>,
}

impl Facts {
    fn of(error: &(dyn StdError + 'static)) -> Facts {
        let mut facts = Facts::default();
        visit_chain(error, &mut |e| {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                facts.refusal = Some(refusal.to_string());
            }
            if e.downcast_ref::<rustls::Error>().is_some() {
                facts.tls = true;
            }
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() != io::ErrorKind::Other
            {
                facts.io_kind = Some(io.kind());
            }
            if let Some(hyper_error) = e.downcast_ref::<hyper::Error>()
                && hyper_error.is_incomplete_message()
            {
                facts.incomplete = true;
            }
            // hyper-util's connector does not export its error type; its message is stable.
            if e.to_string() == "dns error" {
                facts.dns = true;
            }
        });
        facts
    }

    fn is_reset(&self) -> bool {
        matches!(
            self.io_kind,
            Some(
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            )
        )
    }
}

/// Calls `f` on `error` and each of its sources. An `io::Error` that wraps a custom error
/// does not report that error as its source (it skips to the source's source), so the
/// wrapped error is visited explicitly.
fn visit_chain(error: &(dyn StdError + 'static), f: &mut dyn FnMut(&(dyn StdError + 'static))) {
    let mut next = Some(error);
    let mut depth = 0;
    while let Some(current) = next {
        f(current);
        depth += 1;
        if depth > 32 {
            return;
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            next = Some(inner);
        } else {
            next = current.source();
        }
    }
}
