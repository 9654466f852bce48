//! Secret text: what a job holds that must not be shown or logged.

use std::fmt;
use std::sync::Arc;

/// A secret text: its `Debug` form does not show it, so that a job logged with `{:?}` leaks
/// nothing. Compare and store it as any string; show it to no one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<Arc<str>>) -> Secret {
        Secret(text.into())
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
