//! The [`Transport`] of `scheduler-core`: an [`AttemptRequest`] becomes one HTTP request.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;
use scheduler_core::{
    AttemptError, AttemptOutcome, AttemptRequest, BoxFuture, HttpMethod, Transport,
    is_job_header_allowed,
};

use crate::client::{HttpTransport, header_name, header_value, parse_url};
use crate::error::Error;
use crate::signing::{signature_header_value, signing_secrets_for};

/// The idempotency headers' names, in the order of [`AttemptRequest::idempotency_headers`]
/// (lower case, as HTTP/1.1 sends them and HTTP/2 requires).
fn idempotency_names() -> [HeaderName; 4] {
    [
        HeaderName::from_static("x-scheduler-job-id"),
        HeaderName::from_static("x-scheduler-execution-id"),
        HeaderName::from_static("x-scheduler-scheduled-time"),
        HeaderName::from_static("x-scheduler-attempt"),
    ]
}

/// The name of [`AttemptRequest::redelivery_header`] (lower case, as the others).
const REDELIVERY: HeaderName = HeaderName::from_static("x-scheduler-redelivery");

/// The name of [`SIGNATURE_HEADER`](crate::SIGNATURE_HEADER) (lower case, as the others).
const SIGNATURE: HeaderName = HeaderName::from_static("x-scheduler-signature");

impl HttpTransport {
    /// The request an attempt becomes: the job's method, URL, headers and body, then the
    /// idempotency headers of [`AttemptRequest::idempotency_headers`] (job id, execution id,
    /// scheduled time, attempt), on a re-send after a crash `X-Scheduler-Redelivery: true`, and
    /// with signing secrets (the job's own, else the transport's) `X-Scheduler-Signature`
    /// (signed now, with the body), none of which a job's own headers can override or fake (nor `Host`,
    /// `Content-Length` and the other headers that frame the request), then the default
    /// `Content-Type` and `User-Agent` where the job sets none. This is what
    /// [`Transport::send`] sends.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when the job's URL is not an absolute `http://` or
    /// `https://` URL, or one of its headers is not a valid name or value.
    pub fn attempt_request(
        &self,
        attempt: &AttemptRequest,
    ) -> Result<http::Request<Full<Bytes>>, Error> {
        let spec = &attempt.job.spec;
        let uri = parse_url(spec.target_url.trim())?;
        let names = idempotency_names();
        let mut headers = HeaderMap::with_capacity(spec.headers.len() + names.len() + 2);
        for (name, value) in &spec.headers {
            // Validation refuses these; a job stored before it did still cannot set them.
            if !is_job_header_allowed(name) {
                continue;
            }
            let name = header_name(name)?;
            let value = header_value(&name, value)?;
            headers.append(name, value);
        }
        for (name, (_, value)) in names.into_iter().zip(attempt.idempotency_headers()) {
            // Ids, an RFC 3339 instant and a number: always a valid value, taken without a copy.
            let value = HeaderValue::try_from(value)
                .map_err(|e| Error::InvalidRequest(format!("value of header {name}: {e}")))?;
            headers.append(name, value);
        }
        if let Some((_, value)) = attempt.redelivery_header() {
            headers.append(REDELIVERY, HeaderValue::from_static(value));
        }
        // Shares the job's allocation rather than copying the body on every attempt.
        let body = spec.body.clone().map(Bytes::from_owner).unwrap_or_default();
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        // A job's own secrets sign its requests in place of the transport's.
        let secrets = signing_secrets_for(&spec.signing_secrets, &self.shared.signing_secrets);
        if let Some(value) = signature_header_value(&secrets, unix_seconds, &body) {
            // Hex digits, digits, `t=`, `v1=` and commas: always a valid value.
            let value = HeaderValue::try_from(value)
                .map_err(|e| Error::InvalidRequest(format!("value of header {SIGNATURE}: {e}")))?;
            headers.append(SIGNATURE, value);
        }
        self.finish(method(spec.method), uri, headers, body)
    }
}

impl Transport for HttpTransport {
    fn send(
        &self,
        attempt: AttemptRequest,
    ) -> BoxFuture<'static, Result<AttemptOutcome, AttemptError>> {
        let transport = self.clone();
        let request = self.attempt_request(&attempt);
        Box::pin(async move {
            let response = transport
                .send_built(request?, attempt.timeout())
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
            // Final, as an invalid request is: only a change of the job or the policy helps.
            Error::TargetRefused(message) => AttemptError::InvalidRequest(message),
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

#[cfg(test)]
mod tests {
    use scheduler_core::{
        HEADER_ATTEMPT, HEADER_EXECUTION_ID, HEADER_JOB_ID, HEADER_REDELIVERY,
        HEADER_SCHEDULED_TIME,
    };

    use super::*;

    #[test]
    fn the_idempotency_names_are_the_engines_in_its_order() {
        // The order of `AttemptRequest::idempotency_headers`; tests/attempts.rs checks each
        // header's value on the wire, which a different order would mix up.
        let engine = [
            HEADER_JOB_ID,
            HEADER_EXECUTION_ID,
            HEADER_SCHEDULED_TIME,
            HEADER_ATTEMPT,
        ]
        .map(str::to_ascii_lowercase);
        let names = idempotency_names();
        assert_eq!(engine, names.each_ref().map(HeaderName::as_str));
        assert_eq!(REDELIVERY.as_str(), HEADER_REDELIVERY.to_ascii_lowercase());
        assert_eq!(
            SIGNATURE.as_str(),
            crate::SIGNATURE_HEADER.to_ascii_lowercase()
        );
    }
}
