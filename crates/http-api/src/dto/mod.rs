//! The JSON of the API: requests read into core's types, and the response DTOs core's types
//! are shown as (core's domain types do not serialize).

mod requests;
mod responses;
mod secrets;
mod strict;

pub use requests::JOB_READ_ONLY_FIELDS;
pub(crate) use requests::{
    JobRequestKind, MAX_ATTEMPTS, MAX_CATCH_UP, MAX_TIMEOUT_MS, MAX_URL_LENGTH, parse_delivery,
    parse_job_request, parse_status, parse_time_zone,
};
pub(crate) use responses::{
    ExecutionDto, ExecutionListDto, JobDto, JobPageDto, NEXT_FIRE_TIMES, format_timestamp, millis,
};
pub(crate) use secrets::{REDACTED, has_placeholders, refuse_placeholders, restore_placeholders};
pub(crate) use strict::{DuplicateKey, StrictItem, StrictItems, StrictJson};
