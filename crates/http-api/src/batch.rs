//! `POST /api/jobs:batch`: many jobs created at once, all or nothing.
//!
//! The body is a JSON array of job definitions (`Content-Type: application/json`) or one
//! definition per line (`Content-Type: application/x-ndjson`; blank lines are skipped), each in
//! the shape `POST /api/jobs` takes and checked by the same code. Every item is checked before
//! anything is stored: either all are created, in one store transaction (`201` with their ids
//! in order), or none is (`400` listing every bad item by its index and field). The body may be
//! up to [`ApiConfig::max_batch_body_bytes`](crate::ApiConfig::max_batch_body_bytes) long and
//! hold up to [`MAX_BATCH_JOBS`] jobs.

use std::pin::Pin;

use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_core::Stream;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::routes::creatable_spec;
use crate::{ApiConfig, ApiState};

/// The most jobs one batch may hold.
pub const MAX_BATCH_JOBS: usize = 10_000;

/// The media type of a batch with one job per line.
const NDJSON: &str = "application/x-ndjson";

/// The answer to a batch created: how many jobs, and their ids in the order of the batch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchCreatedDto {
    created: usize,
    job_ids: Vec<String>,
}

/// How the batch is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    JsonArray,
    Ndjson,
}

/// `POST /api/jobs:batch`.
pub(crate) async fn create_jobs(
    state: web::Data<ApiState>,
    config: web::Data<ApiConfig>,
    request: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let format = format_of(&request)?;
    let limit = config.max_batch_body_bytes;
    let body = read_body(payload, limit, &request).await?;
    let items = match format {
        Format::JsonArray => json_items(&body)?,
        Format::Ndjson => ndjson_items(&body)?,
    };
    let total = items.len();
    let mut specs = Vec::with_capacity(total);
    let mut invalid = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match item.and_then(|value| creatable_spec(&value, &config)) {
            Ok(spec) => specs.push(spec),
            Err(error) => invalid.push((index, error)),
        }
    }
    if !invalid.is_empty() {
        return Err(ApiError::InvalidBatch {
            total,
            items: invalid,
        }
        .into());
    }
    let jobs = state
        .engine()
        .create_jobs(specs)
        .await
        .map_err(|error| ApiError::from_batch(error, total))?;
    Ok(HttpResponse::Created().json(BatchCreatedDto {
        created: jobs.len(),
        job_ids: jobs.iter().map(|job| job.id.to_string()).collect(),
    }))
}

/// The batch's format from its `Content-Type`: JSON or NDJSON, with or without parameters.
fn format_of(request: &HttpRequest) -> Result<Format, ApiError> {
    let found = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let media = found
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media {
        Some(media) if media.eq_ignore_ascii_case("application/json") => Ok(Format::JsonArray),
        Some(media) if media.eq_ignore_ascii_case(NDJSON) => Ok(Format::Ndjson),
        _ => Err(ApiError::UnsupportedMediaType {
            found: format!(
                "{} (a batch is application/json or {NDJSON})",
                found.unwrap_or("none")
            ),
        }),
    }
}

/// Reads the whole body, refusing it (413) as soon as it passes `limit` bytes.
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    request: &HttpRequest,
) -> actix_web::Result<Bytes> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit }.into());
    }
    let mut body = BytesMut::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) =
        std::future::poll_fn(|context| Pin::new(&mut payload).poll_next(context)).await
    {
        let chunk = chunk.map_err(|error| payload_error(error, request, limit))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit }.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A failure to read the body, as the JSON extractor reports it (`408` for a body too slow).
fn payload_error(error: PayloadError, request: &HttpRequest, limit: usize) -> actix_web::Error {
    crate::error::json_error(JsonPayloadError::Payload(error), request, limit)
}

/// The items of a JSON array. A body that is not JSON, or not an array, fails as a whole.
fn json_items(body: &[u8]) -> Result<Vec<Result<Value, ApiError>>, ApiError> {
    let crate::dto::StrictItems(items) =
        serde_json::from_slice(body).map_err(|error| ApiError::MalformedJson {
            message: error.to_string(),
        })?;
    let Some(items) = items else {
        return Err(ApiError::invalid(
            "body",
            format!(
                "expected a JSON array of jobs (or one job per line with Content-Type: {NDJSON})"
            ),
        ));
    };
    check_count(items.len())?;
    Ok(items
        .into_iter()
        .map(|item| item.map_err(duplicate_key))
        .collect())
}

/// An item that names a key twice: refused, naming the key's path as the field, because two
/// readers of the body could take different values from it.
fn duplicate_key(crate::dto::DuplicateKey(path): crate::dto::DuplicateKey) -> ApiError {
    let message = format!("duplicate key {path}: each key may appear once in an object");
    ApiError::invalid(path, message)
}

/// The items of NDJSON: one per non-blank line. A line that is not JSON is a bad item of its
/// own, so that every bad line is listed.
fn ndjson_items(body: &[u8]) -> Result<Vec<Result<Value, ApiError>>, ApiError> {
    let mut items = Vec::new();
    for (number, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        check_count(items.len() + 1)?;
        items.push(
            serde_json::from_slice::<crate::dto::StrictItem>(line)
                .map_err(|error| ApiError::MalformedJson {
                    message: format!("line {}: {error}", number + 1),
                })
                .and_then(|item| item.0.map_err(duplicate_key)),
        );
    }
    Ok(items)
}

fn check_count(count: usize) -> Result<(), ApiError> {
    if count > MAX_BATCH_JOBS {
        return Err(ApiError::invalid(
            "body",
            format!(
                "a batch holds at most {MAX_BATCH_JOBS} jobs, this one more: split it into several"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_are_items_and_blank_lines_are_skipped() {
        let items = ndjson_items(b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\nnot json\n").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap()["a"], 1);
        assert_eq!(items[1].as_ref().unwrap()["b"], 2);
        let error = items[2].as_ref().unwrap_err().to_string();
        assert!(error.contains("line 5"), "{error}");
    }

    #[test]
    fn counts_over_the_limit_are_refused() {
        assert!(check_count(MAX_BATCH_JOBS).is_ok());
        assert!(check_count(MAX_BATCH_JOBS + 1).is_err());
        let body = "{}\n".repeat(MAX_BATCH_JOBS + 1);
        assert!(ndjson_items(body.as_bytes()).is_err());
    }
}
