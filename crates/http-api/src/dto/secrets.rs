//! Secret header values: write-only through the API.
//!
//! The values of [`ALWAYS_SECRET_HEADERS`](scheduler_core::ALWAYS_SECRET_HEADERS) and of the
//! headers a job lists in `secretHeaders` are stored and sent to the target, but every answer
//! shows them as [`REDACTED`]. A `PUT` that sends [`REDACTED`] back for such a header keeps the
//! stored value, so a client can send back what it read.
//!
//! A job's signing secrets are never shown at all (the job shows how many it has), but a
//! `signingSecret` item that is [`REDACTED`] in a `PUT` keeps the stored secret at the same
//! position, as `scheduler jobs export` writes them.
//!
//! The password of a message-queue target URL (`amqp://user:password@...`) is handled the
//! same way: `api` shows it as [`REDACTED`], and a `PUT` that sends it back keeps the stored
//! one.

use scheduler_core::{Job, JobSpec, REDACTED_PASSWORD, restore_target_password};

use crate::error::ApiError;

/// What the API shows instead of a secret header's value.
pub(crate) const REDACTED: &str = "***";

/// The value the API shows for header `name` of `spec`.
pub(crate) fn shown_value<'a>(spec: &JobSpec, name: &str, value: &'a str) -> &'a str {
    if spec.is_secret_header(name) {
        REDACTED
    } else {
        value
    }
}

/// Refuses a new job whose secret header, target URL password or signing secret is
/// [`REDACTED`]: there is no stored value to keep (such a job comes from `scheduler jobs
/// export`, which writes [`REDACTED`] for a signing secret it cannot read).
pub(crate) fn refuse_placeholders(spec: &JobSpec) -> Result<(), ApiError> {
    if has_password_placeholder(spec) {
        return Err(no_stored_password());
    }
    if let Some(name) = placeholders(spec).next() {
        return Err(no_stored_value(name));
    }
    if has_signing_secret_placeholder(spec) {
        return Err(ApiError::invalid(
            "signingSecret",
            format!(
                "{REDACTED:?} stands for a secret that is never shown: send the secret itself, \
                 or leave signingSecret out to sign with the server's secret"
            ),
        ));
    }
    Ok(())
}

/// Replaces each [`REDACTED`] secret header value of `spec` with the value `current` stores
/// for the same header (case-insensitive), if that header was secret there too.
pub(crate) fn restore_placeholders(spec: &mut JobSpec, current: &Job) -> Result<(), ApiError> {
    if has_password_placeholder(spec) {
        match restore_target_password(&spec.target_url, Some(&current.spec.target_url)) {
            Ok(Some(url)) => spec.target_url = url,
            Ok(None) => {}
            Err(()) => return Err(no_stored_password()),
        }
    }
    for (position, secret) in spec.signing_secrets.iter_mut().enumerate() {
        if secret.expose() == REDACTED {
            *secret = current
                .spec
                .signing_secrets
                .get(position)
                .cloned()
                .ok_or_else(|| no_stored_signing_secret(position))?;
        }
    }
    let names: Vec<String> = placeholders(spec).map(str::to_owned).collect();
    for name in &names {
        let stored = current
            .spec
            .headers
            .iter()
            .find(|(stored, _)| stored.eq_ignore_ascii_case(name))
            .filter(|(stored, _)| current.spec.is_secret_header(stored))
            .map(|(_, value)| value.clone())
            .ok_or_else(|| no_stored_value(name))?;
        for (header, value) in &mut spec.headers {
            if header == name && value == REDACTED {
                *value = stored.clone();
            }
        }
    }
    Ok(())
}

/// Whether `spec` has a secret header whose value is [`REDACTED`], a target URL whose
/// password is, or a signing secret that is.
pub(crate) fn has_placeholders(spec: &JobSpec) -> bool {
    has_password_placeholder(spec)
        || placeholders(spec).next().is_some()
        || has_signing_secret_placeholder(spec)
}

fn has_signing_secret_placeholder(spec: &JobSpec) -> bool {
    spec.signing_secrets
        .iter()
        .any(|secret| secret.expose() == REDACTED)
}

fn no_stored_signing_secret(position: usize) -> ApiError {
    ApiError::invalid(
        "signingSecret",
        format!(
            "{REDACTED:?} stands for the stored secret at the same position, and the job has \
             no secret {}: send the secret itself",
            position + 1
        ),
    )
}

fn has_password_placeholder(spec: &JobSpec) -> bool {
    matches!(restore_target_password(&spec.target_url, None), Err(()))
}

fn no_stored_password() -> ApiError {
    ApiError::invalid(
        "api",
        format!(
            "the password {REDACTED_PASSWORD:?} stands for a stored password, and the job has no \
             stored target URL with a password: send the password itself"
        ),
    )
}

fn placeholders(spec: &JobSpec) -> impl Iterator<Item = &str> {
    spec.headers
        .iter()
        .filter(|(name, value)| value == REDACTED && spec.is_secret_header(name))
        .map(|(name, _)| name.as_str())
}

fn no_stored_value(name: &str) -> ApiError {
    ApiError::invalid(
        format!("headers.{name}"),
        format!(
            "{REDACTED:?} stands for a stored secret value, and the job has no stored secret \
             {name} header: send the value itself"
        ),
    )
}
