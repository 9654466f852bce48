//! The [`Transport`] of `scheduler-core`: an [`AttemptRequest`] becomes one [`HttpRequest`].

use bytes::Bytes;
use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, HttpMethod, Transport,
};

use crate::client::{HttpRequest, HttpTransport};
use crate::error::Error;

impl HttpRequest {
    /// The request for one attempt: the job's method, URL, headers and body, and the
    /// idempotency headers of [`AttemptRequest::idempotency_headers`] (job id, execution id,
    /// scheduled time, attempt), which a job's own headers cannot override.
    pub fn for_attempt(attempt: &AttemptRequest) -> HttpRequest {
        let spec = &attempt.job.spec;
        let idempotency = attempt.idempotency_headers();
        let mut headers: Vec<(String, String)> = spec
            .headers
            .iter()
            .filter(|(name, _)| {
                !idempotency
                    .iter()
                    .any(|(reserved, _)| reserved.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();
        headers.extend(
            idempotency
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        HttpRequest {
            method: method(spec.method),
            url: spec.target_url.trim().to_owned(),
            headers,
            // Shares the job's allocation rather than copying the body on every attempt.
            body: spec.body.clone().map(Bytes::from_owner).unwrap_or_default(),
            timeout: attempt.timeout(),
        }
    }
}

impl Transport for HttpTransport {
    fn send(
        &self,
        attempt: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        let transport = self.clone();
        let request = HttpRequest::for_attempt(&attempt);
        Box::pin(async move {
            let response = transport
                .send_request(request)
                .await
                .map_err(AttemptError::from)?;
            if response.body_truncated {
                // The engine's outcome has no field for it, so the log says it.
                log::info!(
                    "job {} execution {} attempt {}: status {}, response body longer than {} bytes, read no further",
                    attempt.job_id(),
                    attempt.execution_id,
                    attempt.attempt,
                    response.status,
                    response.body.len(),
                );
            }
            Ok(AttemptOutcome {
                status: response.status,
                duration: response.duration,
                retry_after: response.retry_after,
            })
        })
    }
}

impl From<Error> for AttemptError {
    /// Maps the transport's classification onto the engine's coarser one; the message keeps
    /// the detail (for example `connect: dns: ...` or `protocol: connection reset: ...`).
    fn from(error: Error) -> AttemptError {
        match error {
            Error::Timeout { .. } => AttemptError::Timeout,
            Error::Dns(_) | Error::ConnectionRefused(_) => AttemptError::Connect(error.to_string()),
            Error::Connect(message) => AttemptError::Connect(message),
            Error::ConnectionReset(_) | Error::ConnectionClosed(_) => {
                AttemptError::Protocol(error.to_string())
            }
            Error::Protocol(message) => AttemptError::Protocol(message),
            Error::Tls(message) => AttemptError::Tls(message),
            Error::InvalidRequest(message) => AttemptError::InvalidRequest(message),
            Error::Config(_) => AttemptError::InvalidRequest(error.to_string()),
        }
    }
}

fn method(method: HttpMethod) -> http::Method {
    match method {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Post => http::Method::POST,
        HttpMethod::Put => http::Method::PUT,
        HttpMethod::Patch => http::Method::PATCH,
        HttpMethod::Delete => http::Method::DELETE,
    }
}
