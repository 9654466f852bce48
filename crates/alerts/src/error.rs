//! The crate's one public error type.

/// What can go wrong when a sink is set up. Delivery failures are not errors a caller sees:
/// the sink retries, then logs and counts them ([`WebhookStats`](crate::WebhookStats)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable; the message names the field.
    #[error("invalid webhook configuration: {0}")]
    Config(String),
    /// The sink was started outside a Tokio runtime; it needs one for its delivery task.
    #[error("the webhook alert sink must be started inside a tokio runtime")]
    NoRuntime,
}
