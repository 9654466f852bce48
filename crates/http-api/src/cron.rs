//! `GET /api/cron/explain`: a cron expression in plain English and its next fire times, or
//! where and why it is wrong, so that a form can explain an expression as it is typed.

use actix_web::{HttpResponse, web};
use scheduler_core::{Schedule, TimeZone, Timestamp};
use serde::Serialize;

use crate::dto::{format_timestamp, parse_time_zone};
use crate::error::ApiError;
use crate::routes::Query;

/// Default and largest number of fire times (the OpenAPI document states them from here).
pub(crate) const DEFAULT_FIRE_TIMES: usize = 5;
pub(crate) const MAX_FIRE_TIMES: usize = 50;
/// The longest expression read; a longer one is refused before it is parsed.
pub(crate) const MAX_SCHEDULE_CHARS: usize = 1_024;

/// The answer of `GET /api/cron/explain`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExplanationDto {
    schedule: String,
    timezone: String,
    explanation: String,
    next_fire_times: Vec<String>,
}

/// Explains `schedule` (required) in `timezone` (default UTC) and lists its next `limit` fire
/// times from now; a bad expression is a 400 naming `schedule`, with the field, token and
/// column in its message.
pub(crate) async fn explain(
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = Query::new(query.into_inner(), &["schedule", "timezone", "limit"])?;
    let text = query
        .get("schedule")
        .ok_or_else(|| ApiError::invalid("schedule", "required"))?;
    if text.chars().count() > MAX_SCHEDULE_CHARS {
        return Err(ApiError::invalid(
            "schedule",
            format!("longer than {MAX_SCHEDULE_CHARS} characters"),
        ));
    }
    let schedule =
        Schedule::parse(text).map_err(|error| ApiError::invalid("schedule", error.to_string()))?;
    let zone = match query.get("timezone") {
        Some(name) => parse_time_zone(name, "timezone")?,
        None => TimeZone::UTC,
    };
    let limit = query.limit(DEFAULT_FIRE_TIMES, MAX_FIRE_TIMES)?;
    let next_fire_times = schedule
        .iter_after_in(Timestamp::now(), &zone)
        .take(limit)
        .map(format_timestamp)
        .collect();
    Ok(HttpResponse::Ok().json(ExplanationDto {
        schedule: text.to_owned(),
        timezone: zone.iana_name().unwrap_or("UTC").to_owned(),
        explanation: schedule.explain(),
        next_fire_times,
    }))
}
