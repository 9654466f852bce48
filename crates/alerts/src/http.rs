//! The webhook's POST, sent through the executor's HTTP client: one POST, bounded by a timeout.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use executor::{
    HttpRequest, HttpTransport, HttpTransportConfig, HttpVersionPolicy, IpNetwork, Method,
    SIGNATURE_HEADER, SigningSecret, TargetPolicy, TargetRule, signature_header_value,
};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Uri};

use crate::config::WebhookConfig;
use crate::error::Error;

/// What one POST came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PostResult {
    /// 2xx.
    Delivered,
    /// Worth another try: no answer, 408, 429 or 5xx.
    Retry(String),
    /// Not worth another try: another 4xx (or 3xx), which needs a fix at the receiver.
    Rejected(String),
}

/// The webhook's URL and headers, checked once, and the client that POSTs to it.
pub(crate) struct WebhookClient {
    transport: HttpTransport,
    url: String,
    headers: Vec<(String, String)>,
    signing_secrets: Vec<SigningSecret>,
    timeout: Duration,
}

/// How much of a webhook's answer is read (and ignored) so the connection can be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl WebhookClient {
    pub(crate) fn new(config: &WebhookConfig) -> Result<WebhookClient, Error> {
        let url = config.url.trim();
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("url: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Config(
                "url: expected an absolute http:// or https:// URL".to_owned(),
            ));
        }
        HeaderValue::from_str(&config.user_agent)
            .map_err(|e| Error::Config(format!("user_agent: {e}")))?;
        let mut headers = Vec::with_capacity(config.headers.len() + 2);
        headers.push((CONTENT_TYPE.to_string(), "application/json".to_owned()));
        headers.push((USER_AGENT.to_string(), config.user_agent.clone()));
        for (name, value) in &config.headers {
            // Messages name the header but never show its value: it may be a secret.
            let checked_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::Config(format!("headers: name {name:?}: {e}")))?;
            HeaderValue::from_str(value)
                .map_err(|e| Error::Config(format!("headers: value of {checked_name}: {e}")))?;
            headers.push((name.clone(), value.clone()));
        }

        // One connection is plenty for one POST at a time.
        let transport = HttpTransport::new(HttpTransportConfig {
            user_agent: config.user_agent.clone(),
            max_response_body_bytes: MAX_ANSWER_BYTES,
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 1,
            extra_root_certificates_pem: config.extra_root_certificates_pem.clone(),
            http_version: HttpVersionPolicy::Negotiate,
            // `send_request` does not sign: `post` does, with the webhook's own secrets.
            signing_secrets: Vec::new(),
            // Without a policy, the operator chose this URL; the target policy guards the URLs
            // of jobs (and of their own webhooks), which API clients choose.
            target_policy: match &config.target_policy {
                Some(policy) => policy.clone(),
                None => TargetPolicy {
                    allow: vec![
                        TargetRule::Network(
                            IpNetwork::from_str("0.0.0.0/0").map_err(Error::Config)?,
                        ),
                        TargetRule::Network(IpNetwork::from_str("::/0").map_err(Error::Config)?),
                    ],
                    ..TargetPolicy::default()
                },
            },
        })
        .map_err(|error| match error {
            // The executor names the field as this configuration does.
            executor::Error::Config(message) => Error::Config(message),
            other => Error::Config(other.to_string()),
        })?;
        Ok(WebhookClient {
            transport,
            url: url.to_owned(),
            headers,
            signing_secrets: config.signing_secrets.clone(),
            timeout: config.request_timeout,
        })
    }

    /// POSTs `body`, signed at the time of this POST (a retry carries a new timestamp).
    pub(crate) async fn post(&self, body: Bytes) -> PostResult {
        let mut headers = self.headers.clone();
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if let Some(value) = signature_header_value(&self.signing_secrets, unix_seconds, &body) {
            headers.push((SIGNATURE_HEADER.to_owned(), value));
        }
        let request = HttpRequest {
            method: Method::POST,
            url: self.url.clone(),
            headers,
            body,
            timeout: self.timeout,
        };
        match self.transport.send_request(request).await {
            Err(executor::Error::Timeout { .. }) => {
                PostResult::Retry(format!("no answer within {}ms", self.timeout.as_millis()))
            }
            // No answer, whatever the reason, is worth another try.
            Err(error) => PostResult::Retry(error.to_string()),
            Ok(response) => classify_status(response.status),
        }
    }
}

/// What the webhook's answer `status` means for its batch.
fn classify_status(status: u16) -> PostResult {
    match status {
        200..=299 => PostResult::Delivered,
        408 | 429 | 500..=599 => PostResult::Retry(format!("status {status}")),
        _ => PostResult::Rejected(format!("status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_delivered_retried_or_rejected() {
        let check = |status: u16, expected: PostResult| {
            assert_eq!(classify_status(status), expected, "{status}");
        };
        check(200, PostResult::Delivered);
        check(204, PostResult::Delivered);
        check(408, PostResult::Retry("status 408".to_owned()));
        check(429, PostResult::Retry("status 429".to_owned()));
        check(503, PostResult::Retry("status 503".to_owned()));
        check(400, PostResult::Rejected("status 400".to_owned()));
        check(404, PostResult::Rejected("status 404".to_owned()));
        check(301, PostResult::Rejected("status 301".to_owned()));
    }
}
