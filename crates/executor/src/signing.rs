//! Signed requests: `X-Scheduler-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use scheduler_core::Secret;
use sha2::Sha256;

/// The header that carries the signature of a signed request.
pub const SIGNATURE_HEADER: &str = "X-Scheduler-Signature";

/// A secret that signs requests. Its `Debug` form does not show it, so that it cannot reach
/// a log through a configuration's `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SigningSecret(Arc<[u8]>);

impl SigningSecret {
    /// A secret from its bytes (any length; 32 random bytes or more is a good secret).
    pub fn new(secret: impl AsRef<[u8]>) -> SigningSecret {
        SigningSecret(Arc::from(secret.as_ref()))
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The hex HMAC-SHA256, keyed with `secret`, of `"<unix_seconds>.<body>"`.
pub fn sign(secret: &SigningSecret, unix_seconds: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length: a longer one is hashed, a shorter one padded.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose()) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The value of [`SIGNATURE_HEADER`]: `t=<unix_seconds>`, then `,v1=<signature>` for each
/// secret in order (the current secret first, then the one being rotated out). `None` with no
/// secret.
pub fn signature_header_value(
    secrets: &[SigningSecret],
    unix_seconds: u64,
    body: &[u8],
) -> Option<String> {
    if secrets.is_empty() {
        return None;
    }
    let mut value = format!("t={unix_seconds}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&sign(secret, unix_seconds, body));
    }
    Some(value)
}

/// The secrets that sign a job's request (or its alert): the job's own
/// ([`JobSpec::signing_secrets`](scheduler_core::JobSpec::signing_secrets)) when it has any,
/// else `fallback` (the transport's, or the server's).
pub fn signing_secrets_for<'a>(
    job_secrets: &[Secret],
    fallback: &'a [SigningSecret],
) -> Cow<'a, [SigningSecret]> {
    if job_secrets.is_empty() {
        Cow::Borrowed(fallback)
    } else {
        Cow::Owned(
            job_secrets
                .iter()
                .map(|secret| SigningSecret::new(secret.expose()))
                .collect(),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_secret_time_and_body_give_a_known_signature() {
        // Checked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let secret = SigningSecret::new("whsec_test");
        assert_eq!(
            sign(&secret, 1_700_000_000, br#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn two_secrets_give_two_signatures_in_order() {
        let new = SigningSecret::new("new-secret");
        let old = SigningSecret::new("old-secret");
        let value =
            signature_header_value(&[new.clone(), old.clone()], 42, b"body").expect("a value");
        assert_eq!(
            value,
            format!(
                "t=42,v1={},v1={}",
                sign(&new, 42, b"body"),
                sign(&old, 42, b"body")
            )
        );
        assert_ne!(sign(&new, 42, b"body"), sign(&old, 42, b"body"));
        assert_ne!(sign(&new, 42, b"body"), sign(&new, 43, b"body"));
        assert_ne!(sign(&new, 42, b"body"), sign(&new, 42, b"body2"));
        assert_eq!(signature_header_value(&[], 42, b"body"), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = SigningSecret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
