//! The check of a job's target when the job is created or replaced.

use std::fmt;

use actix_web::http::Uri;
use scheduler_core::{AMQP_DEFAULT_PORT, JobSpec, NATS_DEFAULT_PORT};

use crate::error::ApiError;

/// Decides, when a job is created or replaced, whether its target may be called: the server
/// plugs in its target policy (and its own address) here, so that a refused target is a
/// `400` at once rather than a failed attempt later. The transport checks every attempt
/// again, after DNS resolution; this check sees only the URL.
pub trait TargetCheck: Send + Sync + fmt::Debug {
    /// `Err` with the reason when the target at `host` (an IP literal, without brackets, or a
    /// name) and `port` is refused.
    fn check(&self, host: &str, port: u16) -> Result<(), String>;
}

/// Runs `check` on the job's target and on its alert's webhook (both validated already): an
/// API client chooses both, and both are called from the server.
pub(crate) fn check_targets(check: &dyn TargetCheck, spec: &JobSpec) -> Result<(), ApiError> {
    check_target(check, &spec.target_url, "api")?;
    if let Some(alert) = &spec.alert {
        check_target(check, &alert.webhook_url, "alert.webhookUrl")?;
    }
    Ok(())
}

/// Runs `check` on the URL `url` (already validated), naming `field`.
fn check_target(check: &dyn TargetCheck, url: &str, field: &str) -> Result<(), ApiError> {
    let Ok(uri) = url.trim().parse::<Uri>() else {
        return Ok(());
    };
    let Some(host) = uri.host() else {
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        Some("nats") => NATS_DEFAULT_PORT,
        Some("amqp") => AMQP_DEFAULT_PORT,
        _ => 80,
    });
    check
        .check(host, port)
        .map_err(|reason| ApiError::invalid(field, reason))
}
