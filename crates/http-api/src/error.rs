//! The crate's one public error type, the error body every failure answers with, and the
//! handlers that turn actix's own extractor errors into that body.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use scheduler_core::{JobField, error_chain};
use serde::Serialize;

/// Everything the API answers with an error status.
///
/// Every variant becomes the same JSON body (see [`ErrorBody`]):
/// `{"error":{"code":"invalid","field":"schedule","message":"..."}}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A field of the request (body, query or header) is not acceptable: 400.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, named as the API names it (`schedule`, `retry.maxAttempts`, `limit`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Jobs of a batch (`POST /api/jobs:batch`) are not acceptable: 400, with each bad item by
    /// its index in the batch. Nothing of the batch was created.
    #[error("{} of the batch's {total} jobs are invalid, and none was created", items.len())]
    InvalidBatch {
        /// How many jobs the batch has.
        total: usize,
        /// Each bad item's index in the batch (counted from 0, in order) and what is wrong
        /// with it.
        items: Vec<(usize, ApiError)>,
    },
    /// The request body is not JSON, or not the JSON expected at the top level: 400.
    #[error("malformed JSON body: {message}")]
    MalformedJson {
        /// The parser's message.
        message: String,
    },
    /// No job has this id: 404.
    #[error("job {job_id} not found")]
    JobNotFound {
        /// The id as the client wrote it.
        job_id: String,
    },
    /// No execution has this id: 404.
    #[error("execution {execution_id} not found")]
    ExecutionNotFound {
        /// The id as the client wrote it.
        execution_id: String,
    },
    /// No route has this path: 404.
    #[error("no route for path {path}")]
    RouteNotFound {
        /// The request path.
        path: String,
    },
    /// The route exists but not with this method: 405.
    #[error("method {method} is not allowed here")]
    MethodNotAllowed {
        /// The request method.
        method: String,
    },
    /// The job is at another version than the client expected: 409.
    #[error("job {job_id} is at version {actual}, not {expected}")]
    VersionConflict {
        /// The job.
        job_id: String,
        /// The version the client sent (`If-Match` or `version`).
        expected: u64,
        /// The version stored.
        actual: u64,
    },
    /// The request conflicts with the stored state in another way: 409.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// The request has no token, or a malformed, unknown or revoked one, where one is needed:
    /// 401, with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// What was wrong with the credentials.
        message: String,
    },
    /// The token is valid but its scope does not allow the request: 403.
    #[error("forbidden: {message}")]
    Forbidden {
        /// What the scope does not allow.
        message: String,
    },
    /// The `Host` header names a host the server does not answer for: 421.
    #[error("host {host:?} is not allowed here (see --allowed-hosts)")]
    HostNotAllowed {
        /// The `Host` header sent.
        host: String,
    },
    /// The body is larger than the configured limit: 413.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in full within the server's body timeout: 408, and the
    /// connection is closed.
    #[error("the request body did not arrive in full within {timeout_ms} ms")]
    RequestTimeout {
        /// The timeout in milliseconds.
        timeout_ms: u128,
    },
    /// The client has more connections open than the server allows one client: 429, and this
    /// connection is closed.
    #[error("too many connections from {client}: at most {limit} may be open at once")]
    TooManyConnections {
        /// The client's IP address.
        client: String,
        /// The limit.
        limit: usize,
    },
    /// The body is not `application/json`: 415.
    #[error("expected content type application/json, found {found}")]
    UnsupportedMediaType {
        /// The content type sent, or `none`.
        found: String,
    },
    /// The engine or the store cannot serve the request now (shut down, the store busy or
    /// unreachable): 503, with `Retry-After: 1`.
    #[error("service unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
    },
    /// A failure that is no fault of the request: 500.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

/// The JSON body of every error response: `{"error": {...}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code: `invalid`, `malformed_json`, `not_found`,
    /// `method_not_allowed`, `version_conflict`, `conflict`, `request_timeout`,
    /// `too_many_connections`, `payload_too_large`, `unsupported_media_type`, `unauthorized`,
    /// `forbidden`, `host_not_allowed`, `unavailable` or `internal`.
    pub code: &'static str,
    /// The field at fault, as the API names it (a body field such as `retry.jitter`, a query
    /// parameter, a header such as `Content-Type`, a path parameter such as `jobId`, or
    /// `body`); `null` only for failures that are no field's fault.
    pub field: Option<String>,
    /// What was wrong, for people: lowercase, no trailing period.
    pub message: String,
    /// The bad items of a batch ([`ApiError::InvalidBatch`]), each with its index; absent
    /// (empty) for every other error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<BatchItemError>,
}

/// One bad item of a batch, in [`ErrorDetail::items`].
#[derive(Debug, Serialize)]
pub struct BatchItemError {
    /// The item's index in the batch, counted from 0 (for NDJSON: among the non-blank lines).
    pub index: usize,
    /// As [`ErrorDetail::code`].
    pub code: &'static str,
    /// As [`ErrorDetail::field`]: the item's field at fault (`schedule`, `retry.maxAttempts`).
    pub field: Option<String>,
    /// As [`ErrorDetail::message`].
    pub message: String,
}

impl ApiError {
    /// An [`ApiError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A failure of [`Engine::create_jobs`](scheduler_core::Engine::create_jobs) for a batch of
    /// `total` jobs: core's [`InvalidBatch`](scheduler_core::Error::InvalidBatch) becomes
    /// [`ApiError::InvalidBatch`], every other error converts as usual.
    pub fn from_batch(error: scheduler_core::Error, total: usize) -> ApiError {
        match error {
            scheduler_core::Error::InvalidBatch { items } => ApiError::InvalidBatch {
                total,
                items: items
                    .into_iter()
                    .map(|(index, error)| (index, ApiError::from(error)))
                    .collect(),
            },
            other => ApiError::from(other),
        }
    }

    /// The code, field and message of the error body.
    pub fn detail(&self) -> ErrorDetail {
        let (code, field, message) = match self {
            ApiError::Invalid { field, message } => {
                ("invalid", Some(field.clone()), message.clone())
            }
            ApiError::InvalidBatch { items, .. } => {
                let first = items
                    .first()
                    .map(|(index, error)| {
                        let detail = error.detail();
                        format!(
                            " (the first, item {index}: {}: {})",
                            detail.field.as_deref().unwrap_or("body"),
                            detail.message
                        )
                    })
                    .unwrap_or_default();
                ("invalid", Some("body".to_owned()), format!("{self}{first}"))
            }
            ApiError::MalformedJson { message } => (
                "malformed_json",
                Some("body".to_owned()),
                format!("malformed JSON: {message}"),
            ),
            ApiError::JobNotFound { .. } => {
                ("not_found", Some("jobId".to_owned()), self.to_string())
            }
            ApiError::ExecutionNotFound { .. } => (
                "not_found",
                Some("executionId".to_owned()),
                self.to_string(),
            ),
            ApiError::RouteNotFound { .. } => {
                ("not_found", Some("path".to_owned()), self.to_string())
            }
            ApiError::MethodNotAllowed { .. } => (
                "method_not_allowed",
                Some("method".to_owned()),
                self.to_string(),
            ),
            ApiError::VersionConflict { .. } => (
                "version_conflict",
                Some("version".to_owned()),
                self.to_string(),
            ),
            ApiError::Conflict { message } => ("conflict", None, message.clone()),
            ApiError::PayloadTooLarge { .. } => (
                "payload_too_large",
                Some("body".to_owned()),
                self.to_string(),
            ),
            ApiError::RequestTimeout { .. } => {
                ("request_timeout", Some("body".to_owned()), self.to_string())
            }
            ApiError::TooManyConnections { .. } => ("too_many_connections", None, self.to_string()),
            ApiError::UnsupportedMediaType { .. } => (
                "unsupported_media_type",
                Some("Content-Type".to_owned()),
                self.to_string(),
            ),
            ApiError::Unauthorized { message } => (
                "unauthorized",
                Some("Authorization".to_owned()),
                message.clone(),
            ),
            ApiError::Forbidden { message } => (
                "forbidden",
                Some("Authorization".to_owned()),
                message.clone(),
            ),
            ApiError::HostNotAllowed { .. } => (
                "host_not_allowed",
                Some("Host".to_owned()),
                self.to_string(),
            ),
            ApiError::Unavailable { .. } => ("unavailable", None, self.to_string()),
            ApiError::Internal { .. } => ("internal", None, self.to_string()),
        };
        let items = match self {
            ApiError::InvalidBatch { items, .. } => items
                .iter()
                .map(|(index, error)| {
                    let detail = error.detail();
                    BatchItemError {
                        index: *index,
                        code: detail.code,
                        field: detail.field,
                        message: detail.message,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        ErrorDetail {
            code,
            field,
            message,
            items,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. }
            | ApiError::InvalidBatch { .. }
            | ApiError::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            ApiError::JobNotFound { .. }
            | ApiError::ExecutionNotFound { .. }
            | ApiError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::VersionConflict { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::HostNotAllowed { .. } => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log::error!("request failed with {status}: {self}");
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::VersionConflict { actual, .. } = self
            && let Ok(etag) = HeaderValue::from_str(&format!("\"{actual}\""))
        {
            response.insert_header((header::ETAG, etag));
        }
        if let ApiError::Unauthorized { .. } = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scheduler\""),
            ));
        }
        if let ApiError::Unavailable { .. } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if let ApiError::RequestTimeout { .. } | ApiError::TooManyConnections { .. } = self {
            response.force_close();
        }
        response.json(ErrorBody {
            error: self.detail(),
        })
    }
}

impl From<scheduler_core::Error> for ApiError {
    fn from(error: scheduler_core::Error) -> ApiError {
        use scheduler_core::Error as Core;
        match error {
            Core::Invalid { field, reason } => ApiError::Invalid {
                field: json_field_name(&field),
                message: reason,
            },
            Core::JobNotFound(id) => ApiError::JobNotFound {
                job_id: id.to_string(),
            },
            Core::VersionConflict {
                job_id,
                expected,
                actual,
            } => ApiError::VersionConflict {
                job_id: job_id.to_string(),
                expected,
                actual,
            },
            Core::JobExists(_) | Core::DuplicateExecution { .. } => ApiError::Conflict {
                message: error.to_string(),
            },
            // A store that is busy or unreachable may answer the same request in a moment; a
            // corrupt store or a bug will not.
            Core::Store { kind, .. } if !kind.is_transient() => ApiError::Internal {
                message: error_chain(&error),
            },
            Core::Store { .. } | Core::ShutDown => ApiError::Unavailable {
                message: error_chain(&error),
            },
            other => ApiError::Internal {
                message: error_chain(&other),
            },
        }
    }
}

/// The JSON name of the request field that holds a part of a job.
fn json_field_name(field: &JobField) -> String {
    let name = match field {
        JobField::Schedule => "schedule",
        JobField::RunAt => "runAt",
        JobField::StartAt => "startAt",
        JobField::EndAt => "endAt",
        JobField::TimeZone => "timezone",
        JobField::TargetUrl => "api",
        JobField::Delivery => "type",
        JobField::Method => "method",
        JobField::Header(name) => return format!("headers.{name}"),
        JobField::SecretHeader(_) => "secretHeaders",
        JobField::Body => "body",
        JobField::AttemptTimeout => "timeoutMs",
        JobField::RetryMaxAttempts => "retry.maxAttempts",
        JobField::RetryInitialBackoff => "retry.initialBackoffMs",
        JobField::RetryMaxBackoff => "retry.maxBackoffMs",
        JobField::RetryMultiplier => "retry.multiplier",
        JobField::RetryJitter => "retry.jitter",
        JobField::Misfire => "misfire",
        JobField::Overlap => "overlap",
        JobField::Name => "name",
        JobField::SigningSecret => "signingSecret",
        JobField::TickJitter => "jitterMs",
        JobField::ExecutionStatus => "status",
        JobField::AlertWebhookUrl => "alert.webhookUrl",
        JobField::AlertAfterFailures => "alert.afterFailures",
    };
    name.to_owned()
}

/// actix's JSON extractor errors, as [`ApiError`]s (used by the `JsonConfig` of [`configure`](crate::configure)).
pub(crate) fn json_error(
    error: JsonPayloadError,
    request: &HttpRequest,
    limit: usize,
) -> actix_web::Error {
    let api_error = match &error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType {
            found: request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("none")
                .to_owned(),
        },
        JsonPayloadError::Payload(PayloadError::Io(io))
            if io.kind() == std::io::ErrorKind::TimedOut =>
        {
            ApiError::RequestTimeout {
                timeout_ms: request
                    .app_data::<web::Data<crate::ApiConfig>>()
                    .map_or(0, |config| config.request_body_timeout.as_millis()),
            }
        }
        JsonPayloadError::Deserialize(inner) => ApiError::MalformedJson {
            message: inner.to_string(),
        },
        other => ApiError::MalformedJson {
            message: other.to_string(),
        },
    };
    api_error.into()
}

/// actix's query-string errors, as [`ApiError`]s.
pub(crate) fn query_error(error: QueryPayloadError, _request: &HttpRequest) -> actix_web::Error {
    ApiError::invalid("query", format!("malformed query string: {error}")).into()
}

/// actix's path errors, as [`ApiError`]s (paths here take strings, so this is a safety net).
pub(crate) fn path_error(error: PathError, request: &HttpRequest) -> actix_web::Error {
    ApiError::RouteNotFound {
        path: format!("{} ({error})", request.path()),
    }
    .into()
}
